/*
 * scatter.c: scatter streams (scatter.h): the primal fit's per-class sums
 * written, read back, and merged by addition, a class at a time.
 *
 * Reading never sizes memory by a header alone: count and colsum grow as
 * they arrive (npz_reader_load), and a class's D x D matrix grows a row at
 * a time, so a header that claims more than the stream holds fails as
 * truncated having cost memory in proportion to the data.
 */
#include "scatter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "npz.h"
#include "util.h"
#include "validate.h"

void scatter_release(struct scatter *s)
{
	if (s->s)
		for (int c = 0; c < s->classes; c++)
			free(s->s[c]);
	free(s->s);
	free(s->count);
	free(s->colsum);
	meta_release(&s->meta);
	memset(s, 0, sizeof *s);
}

static int write_head(struct npz_writer *w, const struct scatter *s)
{
	struct npy_header h;
	struct meta m;
	meta_init(&m);
	meta_merge(&m, &s->meta);
	meta_set(&m, "scatter.member", "%s", s->member);
	meta_set(&m, "scatter.rows", "%zu", s->rows);
	int rc = npz_writer_add_meta(w, &m);
	meta_release(&m);
	if (rc || npy_header_1d(&h, NPY_I8, s->classes) ||
	    npz_writer_add(w, "count", &h, s->count) ||
	    npy_header_1d(&h, NPY_F8, (int64_t)s->dim) ||
	    npz_writer_add(w, "colsum", &h, s->colsum))
		return -1;
	int64_t shape[3] = { s->classes, (int64_t)s->dim, (int64_t)s->dim };
	if (npy_header_init(&h, NPY_F8, 3, shape))
		return -1;
	return npz_writer_begin(w, "scatter", &h);
}

int scatter_save(const struct scatter *s, const char *path, int level)
{
	struct npz_writer *w = npz_writer_open(path, level);
	if (!w)
		return -1;
	size_t dd = s->dim * s->dim;
	double *zero = NULL;
	if (write_head(w, s))
		goto fail;
	for (int c = 0; c < s->classes; c++) {
		const double *m = s->s[c];
		if (!m)
			m = zero ? zero : (zero = xcalloc(dd ? dd : 1, sizeof *zero));
		if (npz_writer_write(w, m, dd * sizeof *m))
			goto fail;
	}
	free(zero);
	if (npz_writer_end(w))
		goto fail_w;
	return npz_writer_close(w);
fail:
	free(zero);
fail_w:
	npz_writer_abort(w);
	return -1;
}

/* The next member must be `name` of dtype t and 1-D: loaded (grown as it
 * arrives) into *out, its length into *n. */
static int load_1d(struct npz_reader *r, const char *src, const char *name,
		   enum npy_dtype t, void **out, size_t *n)
{
	int rc = npz_reader_next(r);
	if (rc < 0)
		return -1;
	if (!rc)
		return mp_error("%s: member '%s' expected, found the end of the stream",
				src, name);
	if (strcmp(npz_reader_name(r), name))
		return mp_error("%s: member '%s' expected, found '%s'", src, name,
				npz_reader_name(r));
	const struct npy_header *h = npz_reader_header(r);
	if (h->dtype != t || h->ndim != 1)
		return mp_error("%s: member '%s' must be 1-D %s, not %d-D %s", src, name,
				npy_dtype_str(t), h->ndim, npy_dtype_str(h->dtype));
	*n = h->count;
	*out = npz_reader_load(r);
	return *out ? 0 : -1;
}

/* Open src and read up to the start of the scatter member's data. */
static struct npz_reader *open_scatter(struct scatter *s, const char *src)
{
	struct npz_reader *r = npz_reader_open(src);
	size_t nc, nd;
	void *p;
	memset(s, 0, sizeof *s);
	meta_init(&s->meta);
	if (!r)
		return NULL;
	int rc = npz_reader_next(r);
	if (rc <= 0 || strcmp(npz_reader_name(r), "meta.txt")) {
		if (rc >= 0)
			mp_error("%s: not a scatter stream (no meta.txt first)", src);
		goto fail;
	}
	if (npz_reader_load_meta(r, &s->meta))
		goto fail;
	const char *member = meta_get(&s->meta, "scatter.member");
	const char *rows = meta_get(&s->meta, "scatter.rows");
	unsigned long long nr;
	char *end;
	if (!member || (strcmp(member, "act") && strcmp(member, "x")) || !rows) {
		mp_error("%s: not a scatter stream (meta scatter.member and scatter.rows)", src);
		goto fail;
	}
	nr = strtoull(rows, &end, 10);
	if (*end || end == rows) {
		mp_error("%s: scatter.rows '%s' is not a count", src, rows);
		goto fail;
	}
	snprintf(s->member, sizeof s->member, "%s", member);
	s->rows = (size_t)nr;
	if (load_1d(r, src, "count", NPY_I8, &p, &nc))
		goto fail;
	s->count = p;
	if (nc < 1 || nc > VALIDATE_MAX_CLASSES) {
		mp_error("%s: %zu classes (1 to %d)", src, nc, VALIDATE_MAX_CLASSES);
		goto fail;
	}
	s->classes = (int)nc;
	uint64_t sum = 0;
	for (size_t c = 0; c < nc; c++) {
		if (s->count[c] < 0) {
			mp_error("%s: class %zu has a negative row count", src, c);
			goto fail;
		}
		sum += (uint64_t)s->count[c];
	}
	if (sum != (uint64_t)s->rows) {
		mp_error("%s: the class counts sum to %llu, not scatter.rows %zu", src,
			 (unsigned long long)sum, s->rows);
		goto fail;
	}
	if (load_1d(r, src, "colsum", NPY_F8, &p, &nd))
		goto fail;
	s->colsum = p;
	s->dim = nd;
	if ((rc = npz_reader_next(r)) <= 0 || strcmp(npz_reader_name(r), "scatter")) {
		if (rc >= 0)
			mp_error("%s: member 'scatter' expected after 'colsum'", src);
		goto fail;
	}
	const struct npy_header *h = npz_reader_header(r);
	if (h->dtype != NPY_F8 || h->ndim != 3 || h->shape[0] != s->classes ||
	    (size_t)h->shape[1] != nd || (size_t)h->shape[2] != nd) {
		mp_error("%s: member 'scatter' must be <f8 (%d, %zu, %zu)", src, s->classes, nd, nd);
		goto fail;
	}
	return r;
fail:
	npz_reader_free(r);
	scatter_release(s);
	return NULL;
}

/* The next class's D x D matrix, grown a row at a time as it arrives. */
static double *read_class(struct npz_reader *r, size_t d, const char *src, int c)
{
	double *m = NULL;
	size_t cap = 0;
	for (size_t i = 0; i < d; i++) {
		if ((i + 1) * d > cap) {
			cap = (i + 1) * d * 2 < d * d ? (i + 1) * d * 2 : d * d;
			m = xreallocarray(m, cap, sizeof *m);
		}
		if (npz_reader_read_values_f64(r, m + i * d, d))
			goto fail;
		for (size_t j = 0; j < d; j++)
			if (!isfinite(m[i * d + j])) {
				mp_error("%s: class %d's scatter matrix holds a non-finite value", src, c);
				goto fail;
			}
	}
	return m ? m : xcalloc(1, sizeof *m);
fail:
	free(m);
	return NULL;
}

int scatter_load(struct scatter *s, const char *path)
{
	const char *src = path && strcmp(path, "-") ? path : "standard input";
	struct npz_reader *r = open_scatter(s, path);
	if (!r)
		return -1;
	s->s = xcalloc((size_t)s->classes, sizeof *s->s);
	for (int c = 0; c < s->classes; c++)
		if (!(s->s[c] = read_class(r, s->dim, src, c)))
			goto fail;
	if (npz_reader_drain(r))
		goto fail;
	npz_reader_free(r);
	return 0;
fail:
	npz_reader_free(r);
	scatter_release(s);
	return -1;
}

int scatter_merge(const char *const *paths, int n, const char *out, int level)
{
	struct npz_reader **r = xcalloc((size_t)n, sizeof *r);
	struct scatter *in = xcalloc((size_t)n, sizeof *in), sum;
	struct npz_writer *w = NULL;
	double *acc = NULL;
	int ret = -1;
	memset(&sum, 0, sizeof sum);
	for (int i = 0; i < n; i++) {
		if (!(r[i] = open_scatter(&in[i], paths[i])))
			goto out;
		if (i && (in[i].classes != in[0].classes || in[i].dim != in[0].dim ||
			  strcmp(in[i].member, in[0].member))) {
			mp_error("%s: %d classes of %zu '%s' values, where %s has %d of %zu '%s'",
				 paths[i], in[i].classes, in[i].dim, in[i].member, paths[0],
				 in[0].classes, in[0].dim, in[0].member);
			goto out;
		}
	}
	sum.classes = in[0].classes;
	sum.dim = in[0].dim;
	memcpy(sum.member, in[0].member, sizeof sum.member);
	sum.meta = in[0].meta;     /* borrowed, not released below */
	sum.count = xcalloc((size_t)sum.classes, sizeof *sum.count);
	sum.colsum = xcalloc(sum.dim ? sum.dim : 1, sizeof *sum.colsum);
	for (int i = 0; i < n; i++) {
		sum.rows += in[i].rows;
		for (int c = 0; c < sum.classes; c++)
			sum.count[c] += in[i].count[c];
		for (size_t j = 0; j < sum.dim; j++)
			sum.colsum[j] += in[i].colsum[j];
	}
	if (!(w = npz_writer_open(out, level)) || write_head(w, &sum))
		goto out;
	size_t dd = sum.dim * sum.dim;
	acc = xcalloc(dd ? dd : 1, sizeof *acc);
	for (int c = 0; c < sum.classes; c++) {
		memset(acc, 0, dd * sizeof *acc);
		for (int i = 0; i < n; i++) {
			double *m = read_class(r[i], sum.dim, paths[i], c);
			if (!m)
				goto out;
			for (size_t k = 0; k < dd; k++)
				acc[k] += m[k];
			free(m);
		}
		if (npz_writer_write(w, acc, dd * sizeof *acc))
			goto out;
	}
	for (int i = 0; i < n; i++)     /* the rest of each input must be sound */
		if (npz_reader_drain(r[i]))
			goto out;
	if (npz_writer_end(w))
		goto out;
	ret = npz_writer_close(w);
	w = NULL;
out:
	if (w)
		npz_writer_abort(w);
	free(acc);
	free(sum.count);
	free(sum.colsum);
	for (int i = 0; i < n; i++) {
		npz_reader_free(r[i]);
		scatter_release(&in[i]);
	}
	free(r);
	free(in);
	return ret;
}
