/*
 * idx.c: MNIST and Fashion-MNIST from their IDX files (LeCun's format:
 * big-endian magic 0x0000080N for unsigned bytes in N dimensions, N
 * big-endian uint32 sizes, then the bytes), raw or gzip-compressed; zlib's
 * gzread reads both. Every file is read to its end and checked: a short
 * file is truncated, a longer one is not an IDX file of that shape.
 */
#include "data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

/* The first read's buffer; it doubles as more data arrive. */
#define IDX_FIRST_READ ((size_t)1 << 20)

/* gzread takes an unsigned count: read big buffers in pieces. */
static int64_t gz_read_full(gzFile f, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t k = n - got > (1u << 30) ? (1u << 30) : n - got;
		int r = gzread(f, (char *)buf + got, (unsigned)k);
		int zerr;
		if (r < 0)
			return -1;
		/* A gzip stream cut short, even in its trailer, is an error. */
		if ((size_t)r < k && (gzerror(f, &zerr), zerr != Z_OK))
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (int64_t)got;
}

int idx_read(const char *path, int ndim, uint32_t *dims, uint8_t **data,
	     size_t *len)
{
	unsigned char hdr[4 + 4 * 4];
	uint8_t *buf = NULL;
	size_t n = 1;
	int ret = -1;
	int64_t got;
	char extra;

	MP_ASSERT(ndim >= 1 && ndim <= 4);
	*data = NULL;
	gzFile f = gzopen(path, "rb");
	if (!f)
		return mp_error("cannot open '%s': %s", path,
				errno ? strerror(errno) : "out of memory");
	gzbuffer(f, 1u << 18);

	size_t hlen = 4 + 4 * (size_t)ndim;
	got = gz_read_full(f, hdr, hlen);
	if (got < 0) {
		if (!data_gz_check(f, path))
			mp_error("cannot read '%s'", path);
		goto out;
	}
	if ((size_t)got < hlen) {
		mp_error("'%s' is truncated (%lld bytes, too short for an IDX header)",
			 path, (long long)got);
		goto out;
	}
	uint32_t magic = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
			 (uint32_t)hdr[2] << 8 | hdr[3];
	if (magic != (0x800u | (uint32_t)ndim)) {
		mp_error("'%s' is not an IDX file of unsigned bytes in %d dimension%s "
			 "(magic 0x%08x, expected 0x%08x)", path, ndim,
			 ndim > 1 ? "s" : "", (unsigned)magic, 0x800u | (unsigned)ndim);
		goto out;
	}
	for (int i = 0; i < ndim; i++) {
		const unsigned char *p = hdr + 4 + 4 * i;
		dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			  (uint32_t)p[2] << 8 | p[3];
		if (dims[i] == 0 || mp_mul_size(n, dims[i], &n)) {
			mp_error("'%s' has an invalid size %u in its header", path,
				 (unsigned)dims[i]);
			goto out;
		}
	}
	if (n > ((size_t)1 << 34)) {
		mp_error("'%s' claims %zu bytes of data, which is absurd", path, n);
		goto out;
	}
	/* The header's size is a claim: the buffer grows as the bytes arrive
	 * (doubling), so a short file never costs what its header says. */
	size_t have = 0, cap = n < IDX_FIRST_READ ? n : IDX_FIRST_READ;
	buf = xmalloc(cap);
	for (;;) {
		got = gz_read_full(f, buf + have, cap - have);
		if (got < 0) {
			if (!data_gz_check(f, path))
				mp_error("cannot read '%s'", path);
			goto out;
		}
		have += (size_t)got;
		if (have < cap || cap == n)
			break;
		cap = cap > n / 2 ? n : 2 * cap;
		buf = xrealloc(buf, cap);
	}
	if (have < n) {
		mp_error("'%s' is truncated (%zu of %zu bytes of data)", path, have, n);
		goto out;
	}
	got = gz_read_full(f, &extra, 1);
	if (got < 0) {
		if (!data_gz_check(f, path))
			mp_error("cannot read '%s'", path);
		goto out;
	}
	if (got > 0) {
		mp_error("'%s' holds more data than its header says (%zu bytes)", path, n);
		goto out;
	}
	*data = buf;
	*len = n;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	int zr = gzclose(f);
	if (!ret && zr != Z_OK) {
		free(*data);
		*data = NULL;
		return mp_error("cannot read '%s': error at close", path);
	}
	return ret;
}

/* "DIR/NAME" or "DIR/NAME.gz", whichever exists (raw first), or NULL. */
static char *find_idx(const char *dir, const char *name)
{
	char *p = data_path(dir, name);
	if (data_is_file(p))
		return p;
	free(p);
	char *gz = xasprintf("%s.gz", name);
	p = data_path(dir, gz);
	free(gz);
	if (data_is_file(p))
		return p;
	free(p);
	return NULL;
}

int idx_load_set(struct data_set *d, const struct data_opts *o)
{
	int fashion = !strcmp(d->info->name, "fashion-mnist");
	const char *pre = o->split == DATA_TEST ? "t10k" : "train";
	char *iname = xasprintf("%s-images-idx3-ubyte", pre);
	char *lname = xasprintf("%s-labels-idx1-ubyte", pre);
	char *dirs[2];
	size_t nd = data_dirs(o, d->info, dirs);
	char *ipath = NULL, *lpath = NULL;
	uint8_t *img = NULL, *lab = NULL;
	uint32_t idims[3], ldims[1];
	size_t ilen, llen;
	int ret = -1;

	if (o->dir && !data_is_dir(o->dir)) {
		mp_error("'%s' is not a directory (--data-dir for %s names the folder "
			 "of the four IDX files)", o->dir, d->info->name);
		goto out;
	}
	for (size_t i = 0; i < nd && !ipath; i++)
		if ((ipath = find_idx(dirs[i], iname)))
			lpath = find_idx(dirs[i], lname);
	if (!ipath || !lpath) {
		const char *missing = ipath ? lname : iname;
		const char *hint = o->dir ? "" : fashion ?
			": install Fashion-MNIST with 'apt-get install dataset-fashion-mnist' "
			"(or scripts/bootstrap), or give --data-dir DIR" :
			": run scripts/bootstrap, which fetches MNIST into $MEMPROBE_DATA/mnist "
			"(default data/mnist), or give --data-dir DIR";
		if (nd == 2)
			mp_error("no '%s' (or '%s.gz') in '%s' or '%s'%s", missing, missing,
				 dirs[0], dirs[1], hint);
		else
			mp_error("no '%s' (or '%s.gz') in '%s'%s", missing, missing, dirs[0], hint);
		goto out;
	}
	if (idx_read(ipath, 3, idims, &img, &ilen) ||
	    idx_read(lpath, 1, ldims, &lab, &llen))
		goto out;
	if (ldims[0] != idims[0]) {
		mp_error("'%s' has %u labels but '%s' has %u images", lpath,
			 (unsigned)ldims[0], ipath, (unsigned)idims[0]);
		goto out;
	}
	if (idims[1] > 4096 || idims[2] > 4096) {
		mp_error("'%s' has images of %ux%u pixels, which is absurd", ipath,
			 (unsigned)idims[1], (unsigned)idims[2]);
		goto out;
	}
	d->n = idims[0];
	d->h = (int)idims[1];
	d->w = (int)idims[2];
	d->y = xmallocarray(d->n, sizeof *d->y);
	for (size_t i = 0; i < d->n; i++) {
		if (lab[i] >= 10) {
			mp_error("'%s': label %u of sample %zu is outside 0..9", lpath,
				 lab[i], i);
			goto out;
		}
		d->y[i] = lab[i];
	}
	d->pix = img;
	img = NULL;
	data_add_source(d, ipath);
	data_add_source(d, lpath);
	ret = 0;
out:
	free(lab);
	free(img);
	free(lpath);
	free(ipath);
	data_dirs_free(dirs, nd);
	free(lname);
	free(iname);
	return ret;
}
