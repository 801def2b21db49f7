/*
 * fuzz.c: the harnesses' shared plumbing (fuzz.h).
 */
#define _GNU_SOURCE             /* memfd_create */
#include "fuzz.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	fputs("fuzz oracle: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
		exit(2);
	}
}

/* ---- the input as a file ---- */

static int memfd = -1;
static char memfd_name[64];

const char *fuzz_memfd_path(const uint8_t *data, size_t size)
{
	if (memfd < 0) {
		memfd = memfd_create("fuzz-input", MFD_CLOEXEC);
		must(memfd >= 0, "memfd_create");
		snprintf(memfd_name, sizeof memfd_name, "/proc/self/fd/%d", memfd);
	}
	must(ftruncate(memfd, 0) == 0, "ftruncate");
	size_t done = 0;
	while (done < size) {
		ssize_t k = pwrite(memfd, data + done, size - done, (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		must(k > 0, "pwrite");
		done += (size_t)k;
	}
	return memfd_name;
}

/* ---- scratch folder ---- */

static char scratch[4096];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag;
	if (f->level > 0)
		remove(path);
	return 0;
}

void fuzz_scratch_clear(void)
{
	if (scratch[0])
		nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void scratch_remove(void)
{
	fuzz_scratch_clear();
	rmdir(scratch);
}

const char *fuzz_scratch(void)
{
	if (!scratch[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(scratch, sizeof scratch, "%s/memprobe-fuzz.XXXXXX",
			 t && *t ? t : "/tmp");
		must(mkdtemp(scratch) != NULL, "mkdtemp");
		atexit(scratch_remove);
	}
	return scratch;
}

int fuzz_put(const char *dir, const char *rel, const void *data, size_t size)
{
	char path[4096];
	size_t dl = strlen(dir), rl = strlen(rel);
	if (!rl || rel[0] == '/' || dl + 1 + rl >= sizeof path)
		return -1;
	/* Every part plain: no "", ".", "..". */
	for (const char *p = rel; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && !memcmp(p, "..", 2)))
			return -1;
		p += n + (e ? 1 : 0);
		if (e && !*p)
			return -1;
	}
	memcpy(path, dir, dl);
	path[dl] = '/';
	memcpy(path + dl + 1, rel, rl + 1);
	for (char *s = path + dl + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		int rc = mkdir(path, 0755);
		*s = '/';
		if (rc && errno != EEXIST)
			return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	const char *p = data;
	while (size) {
		ssize_t k = write(fd, p, size);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			close(fd);
			return -1;
		}
		p += k;
		size -= (size_t)k;
	}
	return close(fd);
}

/* ---- sections ---- */

size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_section *out,
		  size_t max)
{
	const size_t sl = sizeof FUZZ_SEP - 1;
	size_t n = 0;
	const uint8_t *p = data, *end = data + size;
	while (n < max) {
		const uint8_t *q = p;
		while (q + sl <= end && memcmp(q, FUZZ_SEP, sl))
			q++;
		if (q + sl > end) {
			out[n].p = p;
			out[n].n = (size_t)(end - p);
			n++;
			break;
		}
		out[n].p = p;
		out[n].n = (size_t)(q - p);
		n++;
		p = q + sl;
	}
	return n;
}

struct fuzz_section fuzz_named(struct fuzz_section s, char *name, size_t cap,
			       size_t *pad)
{
	const uint8_t *nl = memchr(s.p, '\n', s.n);
	size_t nlen = nl ? (size_t)(nl - s.p) : s.n;
	struct fuzz_section body = { nl ? nl + 1 : s.p + s.n, nl ? s.n - nlen - 1 : 0 };
	if (nlen >= cap)
		nlen = cap - 1;
	memcpy(name, s.p, nlen);
	name[nlen] = '\0';
	*pad = 0;
	char *plus = strrchr(name, '+');
	if (plus && plus[1]) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(plus + 1, &end, 10);
		if (!*end && !errno && plus[1] >= '0' && plus[1] <= '9') {
			*pad = v > FUZZ_PAD_MAX ? FUZZ_PAD_MAX : (size_t)v;
			*plus = '\0';
		}
	}
	return body;
}

/* ---- zips in memory ---- */

struct fuzz_zip {
	struct archive *a;
	uint8_t *buf;
	size_t len, cap;
	int closed;
};

static la_ssize_t zip_write(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct fuzz_zip *z = ctx;
	(void)a;
	if (z->len + n > z->cap) {
		size_t cap = z->cap ? z->cap : 4096;
		while (cap < z->len + n)
			cap *= 2;
		z->buf = realloc(z->buf, cap);
		must(z->buf != NULL, "realloc");
		z->cap = cap;
	}
	memcpy(z->buf + z->len, p, n);
	z->len += n;
	return (la_ssize_t)n;
}

struct fuzz_zip *fuzz_zip_new(int level)
{
	struct fuzz_zip *z = calloc(1, sizeof *z);
	must(z != NULL, "calloc");
	z->a = archive_write_new();
	archive_write_set_format_zip(z->a);
	if (level == 0) {
		archive_write_zip_set_compression_store(z->a);
	} else {
		char lv[4];
		snprintf(lv, sizeof lv, "%d", level);
		archive_write_zip_set_compression_deflate(z->a);
		archive_write_set_format_option(z->a, "zip", "compression-level", lv);
	}
	archive_write_set_bytes_in_last_block(z->a, 1);
	must(archive_write_open(z->a, z, NULL, zip_write, NULL) == ARCHIVE_OK,
	     "archive_write_open");
	return z;
}

int fuzz_zip_add(struct fuzz_zip *z, const char *name, const void *data,
		 size_t size, size_t pad)
{
	static const char zeros[65536];
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)(size + pad));
	int rc = archive_write_header(z->a, e);
	archive_entry_free(e);
	if (rc < ARCHIVE_WARN)
		return -1;      /* a name libarchive will not write: no member */
	int bad = rc != ARCHIVE_OK;     /* written, but not as asked */
	bad |= size && archive_write_data(z->a, data, size) != (la_ssize_t)size;
	while (pad) {
		size_t k = pad < sizeof zeros ? pad : sizeof zeros;
		bad |= archive_write_data(z->a, zeros, k) != (la_ssize_t)k;
		pad -= k;
	}
	bad |= archive_write_finish_entry(z->a) != ARCHIVE_OK;
	return bad ? -1 : 0;
}

const uint8_t *fuzz_zip_bytes(struct fuzz_zip *z, size_t *size)
{
	if (!z->closed) {
		archive_write_close(z->a);
		z->closed = 1;
	}
	*size = z->len;
	return z->buf;
}

void fuzz_zip_free(struct fuzz_zip *z)
{
	if (!z)
		return;
	archive_write_free(z->a);
	free(z->buf);
	free(z);
}

struct fuzz_zip *fuzz_zip_sections(const uint8_t *data, size_t size, int level,
				   const char *prefix)
{
	struct fuzz_section s[FUZZ_MAX_SECTIONS];
	size_t n = fuzz_split(data, size, s, FUZZ_MAX_SECTIONS), padded = 0;
	struct fuzz_zip *z = fuzz_zip_new(level);
	for (size_t i = 0; i < n; i++) {
		char name[512], full[600];
		size_t pad;
		struct fuzz_section b = fuzz_named(s[i], name, sizeof name, &pad);
		if (pad > FUZZ_PAD_MAX - padded)
			pad = FUZZ_PAD_MAX - padded;
		padded += pad;
		snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
		fuzz_zip_add(z, full, b.p, b.n, pad);
	}
	return z;
}
