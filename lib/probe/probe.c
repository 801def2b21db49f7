/*
 * probe.c: the fit MASC and VeLPIC share: per-class principal subspaces
 * from one pass over a training stream, by the primal or the dual method.
 * The stream, its labels and rows, and the prediction loop are
 * probe_io.c's; this file is the subspace arithmetic.
 *
 * Fit, primal: each block of float64 rows goes to the scatter accumulator
 * (gram.c); then one eigensolver task per class runs on the par_for pool
 * (LAPACK itself single-threaded in each), so classes are solved two at a
 * time on two cores, each exactly as it would be alone.
 *
 * Fit, dual: the rows are stored by class as float32, each class's block
 * growing as its rows arrive up to its count (known from the labels), so
 * a header that claims more rows than arrive costs nothing; each class task
 * forms G_c = X_c X_c^T from float64 column panels, takes the top k_c
 * eigenvectors U_c of G_c (whose non-zero eigenvalues are those of S_c),
 * recovers V_c = Sigma^-1 U_c^T X_c a panel at a time and re-orthonormalises
 * it (Cholesky QR), which leaves its span unchanged.
 *
 * Both accumulate the column sums of all rows on the way (VeLPIC's sign).
 */
#include "probe.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gram.h"
#include "par.h"
#include "util.h"

/* Column panels of the dual method. */
#define DUAL_PANEL 256
/* Largest class the dual method can solve: its Gram matrix is (n_c, n_c). */
#define DUAL_MAX_ROWS EIG_MAX_N

/* Indexed by enum probe_method. */
static const char *const method_names[] = { "auto", "primal", "dual" };

int probe_method_parse(const char *s, enum probe_method *m)
{
	int i = mp_parse_choice(s, method_names, 3, "unknown method");
	*m = i < 0 ? *m : (enum probe_method)i;
	return i < 0 ? -1 : 0;
}

const char *probe_method_str(enum probe_method m)
{
	return method_names[m == PROBE_PRIMAL || m == PROBE_DUAL ? m : PROBE_AUTO];
}

int probe_method_bytes(enum probe_method m, int classes, size_t dim, size_t rows,
		       size_t max_count, int threads, size_t *bytes)
{
	if (m == PROBE_PRIMAL)
		return gram_acc_bytes(classes, dim, bytes);
	size_t a, g, p;
	if (mp_mul_size(rows, dim, &a) || mp_mul_size(a, sizeof(float), &a) ||
	    mp_mul_size(max_count, max_count + DUAL_PANEL, &g) ||
	    mp_mul_size(g, sizeof(double) * (size_t)(threads > 0 ? threads : 1), &g) ||
	    a + g < a)
		return -1;
	p = a + g;
	*bytes = p;
	return 0;
}

void probe_fit_release(struct probe_fit *f)
{
	meta_release(&f->meta);
	free(f->count);
	free(f->k);
	free(f->asked);
	free(f->rank);
	free(f->notes);
	free(f->basis);
	free(f->eigval);
	free(f->explained);
	free(f->colsum);
	memset(f, 0, sizeof *f);
}

struct fit_ctx {
	struct probe_fit *f;
	const struct probe_fit_opts *o;
	struct gram_acc g;         /* primal */
	float **rows;              /* dual: (C) per class (n_c, D) */
	double **v;                /* (C) per class (k_c, D) */
	double **w;                /* (C) per class (k_c) eigenvalues */
	char **err;                /* (C) per class message, or NULL */
};

/* k_c for the eigenvalues w (n, descending) of class c: the rule's count,
 * capped at the number of directions its rows really span (never more
 * than D, even where a Gram matrix's rounding noise would say so). */
static size_t choose_k(struct fit_ctx *x, int c, const double *w, size_t n)
{
	struct probe_fit *f = x->f;
	size_t r = eig_rank(w, n), want;
	if (r > f->dim)
		r = f->dim;
	if (x->o->components > 0)
		want = (size_t)x->o->components;
	else
		want = eig_count_var(w, n, x->o->threshold, NULL);
	f->rank[c] = r;
	f->asked[c] = want;
	size_t k = want < r ? want : r;
	if (k < want)
		f->notes[c] |= PROBE_CLASS_CAPPED;
	f->explained[c] = eig_ratio(w, n, k);
	f->k[c] = (int32_t)k;
	return k;
}

static void keep_values(struct fit_ctx *x, int c, const double *w, size_t k)
{
	x->w[c] = xmallocarray(k ? k : 1, sizeof **x->w);
	memcpy(x->w[c], w, k * sizeof *w);
}

static void solve_primal(void *ctx, size_t i)
{
	struct fit_ctx *x = ctx;
	struct probe_fit *f = x->f;
	int c = (int)i;
	size_t d = f->dim, k, m = 0, p;
	double *s = gram_acc_scatter(&x->g, c), *w = NULL, *v = NULL;
	size_t *live = NULL;
	struct eig e;
	memset(&e, 0, sizeof e);
	if (!f->count[c]) {
		f->notes[c] |= PROBE_CLASS_EMPTY;
		return;
	}
	/* A column that is zero in every row of the class (a ReLU unit dead
	 * for it) is a zero row and column of S_c: an eigenvector e_j of
	 * eigenvalue 0, never kept. The eigenproblem is solved on the m live
	 * columns only, compressed in place (each element moves to a lower
	 * index, read before anything is written there). */
	live = xmallocarray(d, sizeof *live);
	for (size_t j = 0; j < d; j++)
		if (s[j * d + j] > 0)
			live[m++] = j;
	if (m < d)
		for (size_t a = 0; a < m; a++)
			for (size_t b = a; b < m; b++)
				s[a * m + b] = s[live[a] * d + live[b]];
	if (eig_reduce(&e, s, m))
		goto fail;
	/* The spectrum of S_c: the live one with d - m zeros in their place. */
	w = xcalloc(d, sizeof *w);
	for (p = 0; p < m && e.w[p] >= 0; p++)
		w[p] = e.w[p];
	for (size_t j = p; j < m; j++)
		w[j + d - m] = e.w[j];
	k = choose_k(x, c, w, d);
	keep_values(x, c, w, k);
	v = xaligned_calloc(k ? k * m : 1, sizeof *v);
	if (eig_vectors(&e, k, v))
		goto fail;
	x->v[c] = xaligned_calloc(k ? k * d : 1, sizeof **x->v);
	for (size_t j = 0; j < k; j++)
		for (size_t a = 0; a < m; a++)
			x->v[c][j * d + live[a]] = v[j * m + a];
	goto out;
fail:
	x->err[c] = xasprintf("class %d: %s", c, mp_errmsg());
out:
	eig_release(&e);
	free(live);
	free(w);
	free(v);
}

/* Columns j0..j0+jb of the class rows X (n, D) as float64 (n, jb). */
static void panel(double *p, const float *x, size_t n, size_t d, size_t j0, size_t jb)
{
	for (size_t i = 0; i < n; i++) {
		const float *src = x + i * d + j0;
		double *dst = p + i * jb;
		for (size_t j = 0; j < jb; j++)
			dst[j] = src[j];
	}
}

/* Rows of v (k, d) made orthonormal by Cholesky QR: v <- L^-1 v where
 * v v^T = L L^T. Row j stays in the span of rows 0..j, so every leading
 * subspace is kept. Left as is if v v^T is not positive definite. */
static void orthonormalize(double *v, size_t k, size_t d)
{
	if (k == 1) {
		double s = cblas_dnrm2((int)d, v, 1);
		if (s > 0)
			cblas_dscal((int)d, 1.0 / s, v, 1);
		return;
	}
	double *m = xcalloc(k * k, sizeof *m);
	cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)k, (int)d, 1.0,
		    v, (int)d, 0.0, m, (int)k);
	if (!LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)k, m, (lapack_int)k))
		cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans,
			    CblasNonUnit, (int)k, (int)d, 1.0, m, (int)k, v, (int)d);
	free(m);
}

static void solve_dual(void *ctx, size_t i)
{
	struct fit_ctx *x = ctx;
	struct probe_fit *f = x->f;
	int c = (int)i;
	size_t d = f->dim, n = f->count[c], k;
	const float *rows = x->rows[c];
	double *g = NULL, *p = NULL, *u = NULL;
	struct eig e;
	memset(&e, 0, sizeof e);
	if (!n) {
		f->notes[c] |= PROBE_CLASS_EMPTY;
		return;
	}
	if (n > DUAL_MAX_ROWS) {
		mp_error("%zu rows are too many for the dual method (at most %d per class)",
			 n, DUAL_MAX_ROWS);
		goto fail;
	}
	g = xaligned_calloc(n * n, sizeof *g);
	p = xaligned_calloc(n * DUAL_PANEL, sizeof *p);
	for (size_t j0 = 0; j0 < d; j0 += DUAL_PANEL) {
		size_t jb = d - j0 < DUAL_PANEL ? d - j0 : DUAL_PANEL;
		panel(p, rows, n, d, j0, jb);
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)jb,
			    1.0, p, (int)jb, 1.0, g, (int)n);
	}
	if (eig_reduce(&e, g, n))
		goto fail;
	k = choose_k(x, c, e.w, n);
	keep_values(x, c, e.w, k);
	u = xaligned_calloc(k ? k * n : 1, sizeof *u);
	if (eig_vectors(&e, k, u))
		goto fail;
	double *v = x->v[c] = xaligned_calloc(k ? k * d : 1, sizeof *v);
	for (size_t j0 = 0; j0 < d && k; j0 += DUAL_PANEL) {
		size_t jb = d - j0 < DUAL_PANEL ? d - j0 : DUAL_PANEL;
		panel(p, rows, n, d, j0, jb);
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)jb,
			    (int)n, 1.0, u, (int)n, p, (int)jb, 0.0, v + j0, (int)d);
	}
	for (size_t j = 0; j < k; j++)
		cblas_dscal((int)d, 1.0 / sqrt(e.w[j]), v + j * d, 1);
	if (k)
		orthonormalize(v, k, d);
	goto out;
fail:
	x->err[c] = xasprintf("class %d: %s", c, mp_errmsg());
out:
	eig_release(&e);
	free(g);
	free(p);
	free(u);
}

/* ---------------------------------------------------------------- reading */

struct fit_read {
	struct probe_fit *f;
	struct gram_acc *g;        /* primal */
	float **rows;              /* dual: (C) per class (cap_c, D) */
	size_t *cap;               /* dual: (C) rows each block holds */
	size_t *fill;              /* dual: (C) rows placed per class */
	const int32_t *lab;        /* (N) */
	const char *src;
};

/* The column sums, allocated with the first row, not the header. */
static double *colsum(struct probe_fit *f)
{
	if (!f->colsum)
		f->colsum = xcalloc(f->dim, sizeof *f->colsum);
	return f->colsum;
}

/* A block of rows into the scatter accumulator. */
static int consume_primal(void *ctx, const void *block, size_t first, size_t m)
{
	struct fit_read *fr = ctx;
	size_t d = fr->f->dim;
	double *s = colsum(fr->f);
	for (size_t i = 0; i < m; i++) {
		const double *x = (const double *)block + i * d;
		for (size_t j = 0; j < d; j++)
			s[j] += x[j];
		gram_acc_add(fr->g, fr->lab[first + i], x);
	}
	return 0;
}

/* A block of rows appended to their classes' rows, float32. A class's
 * block doubles as its rows arrive, never beyond the class's count: the
 * memory follows the rows that came, not what the header claims. */
static int consume_dual(void *ctx, const void *block, size_t first, size_t m)
{
	struct fit_read *fr = ctx;
	struct probe_fit *f = fr->f;
	size_t d = f->dim;
	double *s = colsum(f);
	for (size_t i = 0; i < m; i++) {
		const float *x = (const float *)block + i * d;
		int c = fr->lab[first + i];
		for (size_t j = 0; j < d; j++)
			s[j] += x[j];
		if (fr->fill[c] == fr->cap[c]) {
			size_t want = fr->cap[c] ? fr->cap[c] * 2 : 64, bytes;
			if (want > f->count[c])
				want = f->count[c];
			if (mp_mul_size(want, d * sizeof *x, &bytes))
				return mp_error("%s: %zu rows of %zu values are too many",
						fr->src, want, d);
			fr->rows[c] = xrealloc(fr->rows[c], bytes);
			fr->cap[c] = want;
		}
		memcpy(fr->rows[c] + fr->fill[c]++ * d, x, d * sizeof *x);
	}
	return 0;
}

/* Every row of the stream, the primal way (float64 rows into the scatter
 * matrices) or the dual way (float32 rows kept by class). */
static int fit_read(struct fit_ctx *x, struct probe_train *t)
{
	struct probe_fit *f = x->f;
	size_t C = (size_t)f->classes;
	if (f->method == PROBE_PRIMAL) {
		struct fit_read fr = { f, &x->g, NULL, NULL, NULL, t->lab, t->src };
		if (gram_acc_init(&x->g, f->classes, f->dim) ||
		    probe_train_read(t, 1, consume_primal, &fr))
			return -1;
		gram_acc_finish(&x->g);
		return 0;
	}
	x->rows = xcalloc(C, sizeof *x->rows);
	struct fit_read fr = { f, NULL, x->rows, xcalloc(C, sizeof(size_t)),
			       xcalloc(C, sizeof(size_t)), t->lab, t->src };
	int bad = probe_train_read(t, 0, consume_dual, &fr);
	free(fr.cap);
	free(fr.fill);
	return bad;
}

/* ---------------------------------------------------------------- fit */

/* The stream's facts into f: sizes, its meta.txt and class counts (taken
 * over from t), and the per-class arrays. */
static void fit_init(struct probe_fit *f, struct probe_train *t)
{
	size_t C = (size_t)t->classes;
	f->classes = t->classes;
	f->dim = t->dim;
	f->rows = t->rows;
	snprintf(f->member, sizeof f->member, "%s", t->member);
	meta_release(&f->meta);
	f->meta = t->meta;
	meta_init(&t->meta);
	f->count = t->count;
	t->count = NULL;
	f->k = xcalloc(C, sizeof *f->k);
	f->asked = xcalloc(C, sizeof *f->asked);
	f->rank = xcalloc(C, sizeof *f->rank);
	f->notes = xcalloc(C, sizeof *f->notes);
	f->explained = xcalloc(C, sizeof *f->explained);
}

/* The method asked, or for auto the one whose allocations are smaller. */
static int fit_method(struct probe_fit *f, enum probe_method asked, size_t max_count,
		      const char *src)
{
	size_t bp = SIZE_MAX, bd = SIZE_MAX;
	if (probe_method_bytes(PROBE_PRIMAL, f->classes, f->dim, f->rows, max_count,
			       par_threads(), &bp))
		bp = SIZE_MAX;
	if (probe_method_bytes(PROBE_DUAL, f->classes, f->dim, f->rows, max_count,
			       par_threads(), &bd))
		bd = SIZE_MAX;
	f->method = asked;
	if (f->method == PROBE_AUTO)
		f->method = bp <= bd ? PROBE_PRIMAL : PROBE_DUAL;
	if ((f->method == PROBE_PRIMAL ? bp : bd) == SIZE_MAX)
		return mp_error("%s: %zu rows of %zu values in %d classes are too large for the %s method",
				src, f->rows, f->dim, f->classes, probe_method_str(f->method));
	return 0;
}

/* One eigenproblem per class on the pool, then the classes' vectors and
 * eigenvalues one after another into f->basis and f->eigval. */
static int fit_solve(struct fit_ctx *x, const char *src)
{
	struct probe_fit *f = x->f;
	size_t C = (size_t)f->classes;
	x->v = xcalloc(C, sizeof *x->v);
	x->w = xcalloc(C, sizeof *x->w);
	x->err = xcalloc(C, sizeof *x->err);
	par_for(C, f->method == PROBE_PRIMAL ? solve_primal : solve_dual, x);
	for (size_t c = 0; c < C; c++)
		if (x->err[c])
			return mp_error("%s: %s", src, x->err[c]);
	for (size_t c = 0; c < C; c++)
		f->ktotal += (size_t)f->k[c];
	f->basis = xaligned_calloc(f->ktotal ? f->ktotal * f->dim : 1, sizeof *f->basis);
	f->eigval = xcalloc(f->ktotal ? f->ktotal : 1, sizeof *f->eigval);
	for (size_t c = 0, at = 0; c < C; c++) {
		size_t k = (size_t)f->k[c];
		if (!k)
			continue;
		memcpy(f->basis + at * f->dim, x->v[c], k * f->dim * sizeof *f->basis);
		memcpy(f->eigval + at, x->w[c], k * sizeof *f->eigval);
		at += k;
	}
	return 0;
}

static void fit_ctx_release(struct fit_ctx *x, size_t classes)
{
	for (size_t c = 0; c < classes; c++) {
		if (x->v) {
			free(x->v[c]);
			free(x->w[c]);
			free(x->err[c]);
		}
		if (x->rows)
			free(x->rows[c]);
	}
	free(x->v);
	free(x->w);
	free(x->err);
	free(x->rows);
	gram_acc_release(&x->g);
}

int probe_fit(struct probe_fit *f, const char *path, const struct probe_fit_opts *o)
{
	struct probe_train t;
	struct fit_ctx x;
	int ret = -1;

	memset(f, 0, sizeof *f);
	memset(&x, 0, sizeof x);
	meta_init(&f->meta);
	x.f = f;
	x.o = o;
	double t0 = mp_now();
	if (probe_train_open(&t, path, o->labels, o->progress))
		return -1;
	fit_init(f, &t);
	if (fit_method(f, o->method, t.max_count, t.src) || fit_read(&x, &t))
		goto out;
	double t1 = mp_now();
	if (fit_solve(&x, t.src))
		goto out;
	f->seconds_read = t1 - t0;
	f->seconds_solve = mp_now() - t1;
	ret = 0;
out:
	fit_ctx_release(&x, (size_t)f->classes);
	probe_train_release(&t);
	if (ret)
		probe_fit_release(f);
	return ret;
}

/* ---------------------------------------------------------------- meta */

void probe_meta_fit(struct meta *m, const struct probe_fit *f,
		    const struct probe_fit_opts *o, const char *prefix)
{
	struct mp_buf k = MP_BUF_INIT, ex = MP_BUF_INIT;
	for (int c = 0; c < f->classes; c++) {
		mp_buf_printf(&k, "%s%d", c ? " " : "", (int)f->k[c]);
		mp_buf_printf(&ex, "%s%.6f", c ? " " : "", f->explained[c]);
	}
	probe_meta_source(m, prefix, f->member, &f->meta, o->labels);
	if (o->components > 0)
		probe_meta_set(m, prefix, "components", "%ld", o->components);
	else
		probe_meta_set(m, prefix, "threshold", "%.15g", o->threshold);
	probe_meta_set(m, prefix, "method", "%s", probe_method_str(f->method));
	probe_meta_counts(m, prefix, f->classes, f->dim, f->rows, f->count);
	probe_meta_set(m, prefix, "k", "%s", k.s);
	probe_meta_set(m, prefix, "k_total", "%zu", f->ktotal);
	probe_meta_set(m, prefix, "explained", "%s", ex.s);
	mp_buf_release(&k);
	mp_buf_release(&ex);
}

void probe_fit_warnings(const struct probe_fit *f)
{
	for (int c = 0; c < f->classes; c++) {
		if (f->notes[c] & PROBE_CLASS_EMPTY)
			warn("class %d has no training rows: it has no subspace and scores 0 for every input", c);
		else if (f->notes[c] & PROBE_CLASS_CAPPED)
			warn("class %d: %zu components asked but its %zu rows span only %zu directions: keeping %d",
			     c, f->asked[c], f->count[c], f->rank[c], (int)f->k[c]);
	}
}


void probe_fit_summary(const struct probe_fit *f, int with_k)
{
	fprintf(stderr, "%s: layer %s, %zu rows of %zu values, %d classes, %s",
		mp_progname, probe_layer(&f->meta, f->member), f->rows, f->dim,
		f->classes, probe_method_str(f->method));
	if (with_k) {
		fprintf(stderr, ": k =");
		for (int c = 0; c < f->classes; c++)
			fprintf(stderr, " %d", (int)f->k[c]);
		fprintf(stderr, " (total %zu)", f->ktotal);
	}
	fputc('\n', stderr);
}
