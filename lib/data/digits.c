/*
 * digits.c: scikit-learn's handwritten digits (sklearn/datasets/data/
 * digits.csv.gz): one sample a line, 64 pixel values 0..16 (an 8x8 image,
 * row-major) then the label 0..9, comma-separated, written as integers or
 * as floats with integral values. Raw or gzip-compressed (zlib's gzread
 * reads both). The file has no split of its own: train is the first
 * N - floor(N/5) rows, test the last floor(N/5) (1438 and 359 of 1797).
 */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

#define DIGITS_PIX 64

/* One line: 64 pixels and a label. */
static int parse_line(char *s, const char *path, size_t lineno, uint8_t *pix,
		      int32_t *label)
{
	for (int i = 0; i <= DIGITS_PIX; i++) {
		char *end;
		errno = 0;
		double v = strtod(s, &end);
		int max = i < DIGITS_PIX ? 16 : 9;
		if (end == s || errno == ERANGE)
			return mp_error("'%s' line %zu: field %d is not a number", path,
					lineno, i + 1);
		if (!(v >= 0 && v <= max) || v != floor(v))
			return mp_error("'%s' line %zu: field %d is %g, not %s 0..%d", path,
					lineno, i + 1, v, i < DIGITS_PIX ? "a pixel value" :
					"a label", max);
		if (i < DIGITS_PIX)
			pix[i] = (uint8_t)v;
		else
			*label = (int32_t)v;
		s = end;
		while (*s == ' ' || *s == '\t')
			s++;
		if (i < DIGITS_PIX) {
			if (*s != ',')
				return mp_error("'%s' line %zu: %d fields, expected 65", path,
						lineno, i + 1);
			s++;
		}
	}
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (*s)
		return mp_error("'%s' line %zu: more than 65 fields", path, lineno);
	return 0;
}

static int read_csv(struct data_set *d, const char *path)
{
	char line[8192];
	size_t n = 0, alloc = 0, lineno = 0;
	int ret = -1;

	gzFile f = gzopen(path, "rb");
	if (!f)
		return mp_error("cannot open '%s': %s", path,
				errno ? strerror(errno) : "out of memory");
	for (;;) {
		if (!gzgets(f, line, sizeof line)) {
			if (data_gz_check(f, path))
				goto out;
			break;
		}
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			mp_error("'%s' line %zu is too long", path, lineno);
			goto out;
		}
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\n' || *s == '\r' || *s == '\0' || *s == '#')
			continue;
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 2048;
			d->y = xreallocarray(d->y, alloc, sizeof *d->y);
			d->pix = xreallocarray(d->pix, alloc, DIGITS_PIX);
		}
		if (parse_line(s, path, lineno, d->pix + n * DIGITS_PIX, &d->y[n]))
			goto out;
		n++;
	}
	if (n < 5) {
		mp_error("'%s' holds %zu samples, too few to split", path, n);
		goto out;
	}
	d->n = n;
	ret = 0;
out:
	gzclose(f);
	return ret;
}

int digits_load_set(struct data_set *d, const struct data_opts *o)
{
	static const char *const files[] = { "digits.csv.gz", "digits.csv" };
	char *dirs[2], *path = NULL;
	size_t nd = data_dirs(o, d->info, dirs);
	int ret = -1;

	if (o->dir && data_is_file(o->dir))
		path = xstrdup(o->dir);
	for (size_t i = 0; i < nd && !path; i++)
		for (size_t k = 0; k < 2 && !path; k++) {
			char *p = data_path(dirs[i], files[k]);
			if (data_is_file(p))
				path = p;
			else
				free(p);
		}
	if (!path) {
		if (nd == 2)
			mp_error("no 'digits.csv.gz' in '%s' or '%s': copy scikit-learn's "
				 "sklearn/datasets/data/digits.csv.gz there (Debian: "
				 "python3-sklearn), or give --data-dir FILE|DIR",
				 dirs[0], dirs[1]);
		else
			mp_error("no 'digits.csv.gz' (or 'digits.csv') in '%s': copy "
				 "scikit-learn's sklearn/datasets/data/digits.csv.gz there",
				 dirs[0]);
		goto out;
	}
	if (read_csv(d, path))
		goto out;

	size_t ntest = d->n / 5, first = 0;
	if (o->split == DATA_TEST) {
		first = d->n - ntest;
		memmove(d->y, d->y + first, ntest * sizeof *d->y);
		memmove(d->pix, d->pix + first * DIGITS_PIX, ntest * DIGITS_PIX);
		d->n = ntest;
	} else {
		d->n -= ntest;
	}
	data_add_source(d, path);
	ret = 0;
out:
	free(path);
	data_dirs_free(dirs, nd);
	return ret;
}
