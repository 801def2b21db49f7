/*
 * cifar.c: CIFAR-10 and CIFAR-100 from the original "binary version",
 * streamed straight out of cifar-10-binary.tar.gz / cifar-100-binary.tar.gz
 * through libarchive (never extracted to disk), or read from the extracted
 * folder. Records: CIFAR-10 one label byte, CIFAR-100 a coarse then a fine
 * label byte; then 3072 pixel bytes, the R, G and B planes of 32x32 each,
 * row-major: exactly the (C, H, W) layout of `x`.
 *
 * The tarball is gunzipped by zlib and the tar read by libarchive from
 * that: libarchive stops at the tar's end marker, and zlib then reads the
 * rest, so that a cut or corrupt gzip trailer (CRC, length) is an error too.
 */
#include "data.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

#define CIFAR_PIX 3072

struct cifar_fmt {
	const char *archive;     /* the distribution's file name */
	const char *folder;      /* its top folder */
	const char *train[5];    /* members of the training split, in order */
	int ntrain;
	const char *test;
	int hundred;
};

static const struct cifar_fmt fmt10 = {
	"cifar-10-binary.tar.gz", "cifar-10-batches-bin",
	{ "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
	  "data_batch_4.bin", "data_batch_5.bin" }, 5, "test_batch.bin", 0,
};
static const struct cifar_fmt fmt100 = {
	"cifar-100-binary.tar.gz", "cifar-100-binary",
	{ "train.bin" }, 1, "test.bin", 1,
};

/* One member's records. */
struct part {
	int32_t *y;        /* (n) */
	uint8_t *pix;      /* (n, 3, 32, 32) */
	size_t n, alloc;
	int seen;
};

typedef ssize_t (*read_fn)(void *ctx, void *buf, size_t n);

static ssize_t read_full(read_fn rd, void *ctx, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = rd(ctx, (char *)buf + got, n - got);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Parse one member's records into p. `what` names it in messages; the
 * reader's own failure has already recorded a message. */
static int parse_member(struct part *p, const struct cifar_fmt *f, int coarse,
			read_fn rd, void *ctx, const char *what, int64_t size)
{
	size_t nlab = f->hundred ? 2 : 1, rec = nlab + CIFAR_PIX, claimed = 0;
	unsigned char buf[2 + CIFAR_PIX];
	if (size > 0) {
		if (size > ((int64_t)1 << 34))
			return mp_error("'%s' claims %lld bytes, which is absurd", what,
					(long long)size);
		if ((uint64_t)size % rec)
			return mp_error("'%s' is not a whole number of %zu-byte records "
					"(%lld bytes)", what, rec, (long long)size);
		claimed = (size_t)((uint64_t)size / rec);
	}
	for (;;) {
		ssize_t r = read_full(rd, ctx, buf, rec);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		if ((size_t)r < rec)
			return mp_error("'%s' is truncated: it ends inside record %zu "
					"(records are %zu bytes)", what, p->n + 1, rec);
		if (p->n == p->alloc) {
			/* Grow as records arrive, never beyond what the member
			 * claims: a claim alone costs nothing, and a real member
			 * ends up in a buffer of exactly its size. */
			p->alloc = p->alloc ? 2 * p->alloc : 1024;
			if (claimed > p->n && p->alloc > claimed)
				p->alloc = claimed;
			p->y = xreallocarray(p->y, p->alloc, sizeof *p->y);
			p->pix = xreallocarray(p->pix, p->alloc, CIFAR_PIX);
		}
		int lab = f->hundred ? buf[coarse ? 0 : 1] : buf[0];
		int nclass = f->hundred ? (coarse ? 20 : 100) : 10;
		if (lab >= nclass)
			return mp_error("'%s': record %zu has %slabel %d, outside 0..%d",
					what, p->n + 1, f->hundred ? (coarse ? "coarse " : "fine ") : "",
					lab, nclass - 1);
		if (f->hundred && buf[coarse ? 1 : 0] >= (coarse ? 100 : 20))
			return mp_error("'%s': record %zu has %s label %d, outside 0..%d",
					what, p->n + 1, coarse ? "fine" : "coarse",
					buf[coarse ? 1 : 0], coarse ? 99 : 19);
		p->y[p->n] = lab;
		memcpy(p->pix + p->n * CIFAR_PIX, buf + nlab, CIFAR_PIX);
		p->n++;
	}
	if (p->n == 0)
		return mp_error("'%s' holds no records", what);
	return 0;
}

struct arc_ctx {
	struct archive *a;
	const char *path;
	const char *member;
};

static ssize_t arc_read(void *vctx, void *buf, size_t n)
{
	struct arc_ctx *c = vctx;
	la_ssize_t r = archive_read_data(c->a, buf, n);
	if (r < 0)
		return mp_error("'%s': member '%s': %s", c->path, c->member,
				archive_error_string(c->a));
	return r;
}

struct file_ctx {
	FILE *fp;
	const char *path;
};

static ssize_t file_read(void *vctx, void *buf, size_t n)
{
	struct file_ctx *c = vctx;
	size_t r = fread(buf, 1, n, c->fp);
	if (r < n && ferror(c->fp))
		return mp_error("cannot read '%s': %s", c->path, strerror(errno));
	return (ssize_t)r;
}

/* libarchive's read callback over zlib. */
struct gz_src {
	gzFile f;
	const char *path;
	int failed;          /* zlib failed: mp_errmsg() says how */
	char buf[1 << 16];
};

static la_ssize_t gz_src_read(struct archive *a, void *ctx, const void **out)
{
	struct gz_src *s = ctx;
	int r = gzread(s->f, s->buf, sizeof s->buf);
	if (r <= 0 && data_gz_check(s->f, s->path)) {
		s->failed = 1;
		archive_set_error(a, EIO, "%s", mp_errmsg());
		return -1;
	}
	*out = s->buf;
	return r < 0 ? 0 : r;
}

static int load_archive(struct part *parts, const char **want, int nwant,
			const struct cifar_fmt *f, int coarse, const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct gz_src *src = xmalloc(sizeof *src);
	int r, ret = -1;
	char *member = NULL;

	src->path = path;
	src->failed = 0;
	if (!(src->f = gzopen(path, "rb"))) {
		mp_error("cannot open '%s': %s", path, errno ? strerror(errno) : "out of memory");
		goto out;
	}
	gzbuffer(src->f, 1u << 18);
	archive_read_support_format_tar(a);
	if (archive_read_open(a, src, NULL, gz_src_read, NULL) != ARCHIVE_OK) {
		if (!src->failed)
			mp_error("cannot read '%s': %s", path, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		if (!name || archive_entry_filetype(e) != AE_IFREG)
			continue;
		while (name[0] == '.' && name[1] == '/')
			name += 2;
		size_t fl = strlen(f->folder);
		if (strncmp(name, f->folder, fl) || name[fl] != '/')
			continue;
		for (int k = 0; k < nwant; k++) {
			if (strcmp(name + fl + 1, want[k]))
				continue;
			if (parts[k].seen) {
				mp_error("'%s' holds member '%s' twice", path, name);
				goto out;
			}
			parts[k].seen = 1;
			free(member);
			member = xasprintf("%s: %s", path, name);
			struct arc_ctx c = { a, path, name };
			int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
			if (parse_member(&parts[k], f, coarse, arc_read, &c, member, size))
				goto out;
		}
	}
	if (r != ARCHIVE_EOF) {
		/* A zlib failure has its own message already. */
		if (!src->failed)
			mp_error("'%s': %s", path, archive_error_string(a));
		goto out;
	}
	/* The rest: tar padding, then the gzip trailer, checked by zlib. */
	while ((r = gzread(src->f, src->buf, sizeof src->buf)) > 0)
		;
	if (data_gz_check(src->f, path))
		goto out;
	for (int k = 0; k < nwant; k++)
		if (!parts[k].seen) {
			mp_error("'%s' has no member '%s/%s'", path, f->folder, want[k]);
			goto out;
		}
	ret = 0;
out:
	free(member);
	archive_read_free(a);
	if (src->f)
		gzclose(src->f);
	free(src);
	return ret;
}

static int load_folder(struct data_set *d, struct part *parts, const char **want,
		       int nwant, const struct cifar_fmt *f, int coarse,
		       const char *dir)
{
	for (int k = 0; k < nwant; k++) {
		char *path = data_path(dir, want[k]);
		FILE *fp = fopen(path, "rb");
		if (!fp) {
			int e = errno;
			mp_error("cannot open '%s': %s", path, strerror(e));
			free(path);
			return -1;
		}
		struct file_ctx c = { fp, path };
		int rc = parse_member(&parts[k], f, coarse, file_read, &c, path, -1);
		fclose(fp);
		if (!rc)
			data_add_source(d, path);
		free(path);
		if (rc)
			return -1;
	}
	return 0;
}

int cifar_load_set(struct data_set *d, const struct data_opts *o)
{
	const struct cifar_fmt *f = !strcmp(d->info->name, "cifar100") ? &fmt100 : &fmt10;
	const char *want[5];
	int nwant;
	struct part parts[5];
	char *dirs[2], *arc = NULL, *folder = NULL;
	size_t nd = data_dirs(o, d->info, dirs);
	int ret = -1;

	memset(parts, 0, sizeof parts);
	if (o->split == DATA_TEST) {
		want[0] = f->test;
		nwant = 1;
	} else {
		nwant = f->ntrain;
		for (int k = 0; k < nwant; k++)
			want[k] = f->train[k];
	}

	/* The archive, the extracted folder, or the member files themselves. */
	if (o->dir && data_is_file(o->dir)) {
		arc = xstrdup(o->dir);
	} else {
		arc = data_path(dirs[0], f->archive);
		if (!data_is_file(arc)) {
			free(arc);
			arc = NULL;
			folder = data_path(dirs[0], f->folder);
			char *first = data_path(dirs[0], want[0]);
			if (!data_is_dir(folder) && data_is_file(first)) {
				free(folder);
				folder = xstrdup(dirs[0]);
			}
			free(first);
			if (!data_is_dir(folder)) {
				mp_error("no '%s' or '%s/' in '%s': put the %s binary version "
					 "there (%s, as distributed at "
					 "https://www.cs.toronto.edu/~kriz/cifar.html)%s",
					 f->archive, f->folder, dirs[0],
					 f->hundred ? "CIFAR-100" : "CIFAR-10", f->archive,
					 o->dir ? "" : ", or give --data-dir DIR");
				goto out;
			}
		}
	}
	if (arc) {
		if (load_archive(parts, want, nwant, f, o->coarse, arc))
			goto out;
		data_add_source(d, arc);
	} else if (load_folder(d, parts, want, nwant, f, o->coarse, folder)) {
		goto out;
	}

	size_t n = 0;
	for (int k = 0; k < nwant; k++)
		n += parts[k].n;
	if (o->limit && o->limit < n)
		n = o->limit;
	d->n = n;
	if (f->hundred && o->coarse)
		d->classes = 20;
	if (nwant == 1) {
		/* One member: keep its buffers rather than copy them. */
		d->y = parts[0].y;
		d->pix = parts[0].pix;
		parts[0].y = NULL;
		parts[0].pix = NULL;
	} else {
		d->y = xmallocarray(n, sizeof *d->y);
		d->pix = xmallocarray(n, CIFAR_PIX);
		size_t at = 0;
		for (int k = 0; k < nwant && at < n; k++) {
			size_t m = parts[k].n < n - at ? parts[k].n : n - at;
			memcpy(d->y + at, parts[k].y, m * sizeof *d->y);
			memcpy(d->pix + at * CIFAR_PIX, parts[k].pix, m * CIFAR_PIX);
			at += m;
			free(parts[k].pix);
			parts[k].pix = NULL;
		}
	}
	if (f->hundred)
		meta_set(&d->meta, "data.labels", "%s", o->coarse ? "coarse" : "fine");
	ret = 0;
out:
	for (int k = 0; k < 5; k++) {
		free(parts[k].y);
		free(parts[k].pix);
	}
	free(folder);
	free(arc);
	data_dirs_free(dirs, nd);
	return ret;
}
