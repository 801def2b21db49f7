/*
 * probe.c: what MASC and VeLPIC share: the one-pass fit of per-class
 * principal subspaces from a training stream (primal or dual method), and
 * the streaming prediction loop that copies labels through and writes
 * `pred` and `score`.
 *
 * Rows are read in blocks by a second thread (decompression and conversion
 * overlap the arithmetic), checked for NaN and infinity, and summed into
 * the column sums.
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
 */
#include "probe.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gram.h"
#include "npz.h"
#include "par.h"
#include "util.h"
#include "validate.h"

/* Rows are read a few MB at a time (predict: enough rows per block for
 * the scorer's tasks to keep every thread busy). */
#define READ_BYTES ((size_t)4 << 20)
#define PREDICT_BYTES ((size_t)16 << 20)
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

const char *probe_layer(const struct meta *m, const char *member)
{
	const char *l = meta_get(m, "dumpacts.layer");
	if (l)
		return l;
	return member && !strcmp(member, "x") ? "input" : "unknown";
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

/* The number of classes: meta data.classes or model.classes (they must
 * agree), else the largest label + 1; every label must be in [0, C). */
static int count_classes(const struct meta *m, const int32_t *y, size_t n,
			 const char *path, const char *lab, int *out)
{
	int mc;
	if (validate_meta_classes(m, path, &mc))
		return -1;
	const char *key = !mc ? NULL : meta_get(m, "data.classes") ? "data.classes"
			  : "model.classes";
	int32_t top = -1;
	for (size_t i = 0; i < n; i++) {
		if (y[i] < 0)
			return mp_error("%s: label %d of '%s' at row %zu is negative",
					path, (int)y[i], lab, i);
		if (key && y[i] >= mc)
			return mp_error("%s: label %d of '%s' at row %zu is not below %s=%d",
					path, (int)y[i], lab, i, key, mc);
		if (y[i] > top)
			top = y[i];
	}
	if (!key) {
		if (top >= VALIDATE_MAX_CLASSES)
			return mp_error("%s: label %d of '%s' is too large (more than %d classes)",
					path, (int)top, lab, VALIDATE_MAX_CLASSES);
		mc = top + 1;
	}
	*out = mc;
	return 0;
}

static int check_row_f64(const double *x, size_t d, size_t row, const char *path,
			 const char *member)
{
	for (size_t j = 0; j < d; j++)
		if (!isfinite(x[j]))
			return mp_error("%s: row %zu of '%s' is not finite (%g in column %zu)",
					path, row, member, x[j], j);
	return 0;
}

static int check_row_f32(const float *x, size_t d, size_t row, const char *path,
			 const char *member)
{
	for (size_t j = 0; j < d; j++)
		if (!isfinite(x[j]))
			return mp_error("%s: row %zu of '%s' is not finite (%g in column %zu)",
					path, row, member, (double)x[j], j);
	return 0;
}

static void progress(const char *what, size_t done, size_t total, int on)
{
	if (!on)
		return;
	if (done < total)
		fprintf(stderr, "\r%s: %s %zu/%zu rows", mp_progname, what, done, total);
	else
		fprintf(stderr, "\r%*s\r", 60, "");
}

struct fit_ctx {
	struct probe_fit *f;
	const struct probe_fit_opts *o;
	struct gram_acc *g;        /* primal */
	float *const *rows;        /* dual: (C) per class (n_c, D) */
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
	double *s = gram_acc_scatter(x->g, c), *w = NULL, *v = NULL;
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

/*
 * The rows of the current member, read a block at a time by a second
 * thread while the caller works on the previous block: decompressing and
 * converting the stream overlaps the accumulation (or the scoring).
 * consume(ctx, block, first_row, rows) sees the blocks in order; it
 * returns 0, or -1 with a message to stop.
 */
struct rowpipe {
	struct npz_reader *r;
	size_t n, d, rb;           /* rows, width, rows per block */
	int f64;                   /* blocks of double, else float */
	void *buf[2];
	size_t cap[2];             /* elements each buffer holds so far */
	size_t first[2], rows[2];
	int full[2];
	int failed, stop;
	char *msg;                 /* the reader's message when it failed */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* m rows into buffer b, grown in steps of GROW_VALUES as the values
 * arrive: memory follows the data, never the header's claim alone. */
#define GROW_VALUES ((size_t)1 << 18)

static int read_block(struct rowpipe *p, int b, size_t m)
{
	size_t n = m * p->d, esz = p->f64 ? sizeof(double) : sizeof(float);
	for (size_t done = 0; done < n; ) {
		size_t k = n - done < GROW_VALUES ? n - done : GROW_VALUES;
		if (p->cap[b] < done + k) {
			size_t want = p->cap[b] * 2 > done + k ? p->cap[b] * 2 : done + k;
			if (want > n)
				want = n;
			p->buf[b] = xreallocarray(p->buf[b], want, esz);
			p->cap[b] = want;
		}
		char *at = (char *)p->buf[b] + done * esz;
		int rc = p->f64 ? npz_reader_read_values_f64(p->r, (double *)at, k)
				: npz_reader_read_values_f32(p->r, (float *)at, k);
		if (rc)
			return rc;
		done += k;
	}
	return 0;
}

static void *rowpipe_reader(void *arg)
{
	struct rowpipe *p = arg;
	for (size_t row = 0, b = 0; row < p->n; b ^= 1) {
		size_t m = p->n - row < p->rb ? p->n - row : p->rb;
		pthread_mutex_lock(&p->mu);
		while (p->full[b] && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		int rc = read_block(p, (int)b, m);
		pthread_mutex_lock(&p->mu);
		if (rc) {
			p->failed = 1;
			p->msg = xstrdup(mp_errmsg());
		} else {
			p->first[b] = row;
			p->rows[b] = m;
			p->full[b] = 1;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc)
			break;
		row += m;
	}
	return NULL;
}

static int read_blocks(struct npz_reader *r, size_t n, size_t d, int f64, size_t bytes,
		       int (*consume)(void *ctx, const void *block, size_t first, size_t m),
		       void *ctx)
{
	struct rowpipe p;
	size_t esz = f64 ? sizeof(double) : sizeof(float);
	pthread_t tid;
	int ret = 0;

	memset(&p, 0, sizeof p);
	p.r = r;
	p.n = n;
	p.d = d;
	p.f64 = f64;
	p.rb = bytes / (d * esz);
	if (p.rb < 1)
		p.rb = 1;
	if (p.rb > n)
		p.rb = n;
	if (!n)
		return 0;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (pthread_create(&tid, NULL, rowpipe_reader, &p)) {
		pthread_mutex_destroy(&p.mu);
		pthread_cond_destroy(&p.cv);
		return mp_error("cannot start a thread");
	}
	for (size_t row = 0, b = 0; row < n && !ret; b ^= 1) {
		pthread_mutex_lock(&p.mu);
		while (!p.full[b] && !p.failed)
			pthread_cond_wait(&p.cv, &p.mu);
		int full = p.full[b];
		pthread_mutex_unlock(&p.mu);
		if (!full) {
			mp_error("%s", p.msg);
			ret = -1;
			break;
		}
		ret = consume(ctx, p.buf[b], p.first[b], p.rows[b]);
		row += p.rows[b];
		pthread_mutex_lock(&p.mu);
		p.full[b] = 0;
		if (ret)
			p.stop = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_join(tid, NULL);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	free(p.buf[0]);
	free(p.buf[1]);
	free(p.msg);
	return ret;
}

struct fit_read {
	struct probe_fit *f;
	struct gram_acc *g;        /* primal */
	float **rows;              /* dual: (C) per class (cap_c, D) */
	size_t *cap;               /* dual: (C) rows each block holds */
	size_t *fill;              /* dual: (C) rows placed per class */
	const int32_t *lab;
	const char *path;
	int show;
};

/* A block of rows into the scatter accumulator. */
static int consume_primal(void *ctx, const void *block, size_t first, size_t m)
{
	struct fit_read *fr = ctx;
	struct probe_fit *f = fr->f;
	size_t d = f->dim;
	if (!f->colsum)            /* with the first row, not the header */
		f->colsum = xcalloc(d, sizeof *f->colsum);
	for (size_t i = 0; i < m; i++) {
		const double *x = (const double *)block + i * d;
		if (check_row_f64(x, d, first + i, fr->path, f->member))
			return -1;
		for (size_t j = 0; j < d; j++)
			f->colsum[j] += x[j];
		gram_acc_add(fr->g, fr->lab[first + i], x);
	}
	progress("reading", first + m, f->rows, fr->show);
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
	if (!f->colsum)            /* with the first row, not the header */
		f->colsum = xcalloc(d, sizeof *f->colsum);
	for (size_t i = 0; i < m; i++) {
		const float *x = (const float *)block + i * d;
		int c = fr->lab[first + i];
		if (check_row_f32(x, d, first + i, fr->path, f->member))
			return -1;
		for (size_t j = 0; j < d; j++)
			f->colsum[j] += x[j];
		if (fr->fill[c] == fr->cap[c]) {
			size_t want = fr->cap[c] ? fr->cap[c] * 2 : 64, bytes;
			if (want > f->count[c])
				want = f->count[c];
			if (mp_mul_size(want, d * sizeof *x, &bytes))
				return mp_error("%s: %zu rows of %zu values are too many",
						fr->path, want, d);
			fr->rows[c] = xrealloc(fr->rows[c], bytes);
			fr->cap[c] = want;
		}
		memcpy(fr->rows[c] + fr->fill[c]++ * d, x, d * sizeof *x);
	}
	progress("reading", first + m, f->rows, fr->show);
	return 0;
}

int probe_fit(struct probe_fit *f, const char *path, const struct probe_fit_opts *o)
{
	struct npz_reader *r;
	struct gram_acc g;
	struct fit_ctx x;
	int32_t *lab = NULL;
	size_t nlab = 0;
	float **rows = NULL;       /* dual: (C) per class */
	int rc, ret = -1, have = 0, show = o->progress && mp_stderr_is_tty();
	const char *src;

	memset(f, 0, sizeof *f);
	memset(&g, 0, sizeof g);
	memset(&x, 0, sizeof x);
	meta_init(&f->meta);
	if (!(r = npz_reader_open(path)))
		return -1;
	src = npz_reader_path(r);
	double t0 = mp_now();
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		if (!npz_reader_is_array(r)) {
			if (!strcmp(name, "meta.txt") && npz_reader_load_meta(r, &f->meta))
				goto out;
			continue;
		}
		if (!strcmp(name, o->labels) && !lab) {
			if (npz_reader_load_i32(r, &lab, &nlab))
				goto out;
		} else if (!strcmp(name, "act") || !strcmp(name, "x")) {
			snprintf(f->member, sizeof f->member, "%s", name);
			have = 1;
			break;
		}
	}
	if (rc < 0)
		goto out;
	if (!have) {
		mp_error("%s: no 'act' or 'x' member to fit on", src);
		goto out;
	}
	if (!lab) {
		mp_error("%s: no '%s' member before '%s' (labels must come first)",
			 src, o->labels, f->member);
		goto out;
	}
	const struct npy_header *h = npz_reader_header(r);
	if (validate_float(h, src, f->member))
		goto out;
	if (h->ndim < 2) {
		mp_error("%s: member '%s' must have a row per sample, (N, D), not %d-D",
			 src, f->member, h->ndim);
		goto out;
	}
	f->rows = (size_t)h->shape[0];
	f->dim = npy_row_count(h);
	if (f->rows != nlab) {
		mp_error("%s: '%s' has %zu rows but '%s' has %zu labels",
			 src, f->member, f->rows, o->labels, nlab);
		goto out;
	}
	if (!f->rows || !f->dim) {
		mp_error("%s: member '%s' is empty", src, f->member);
		goto out;
	}
	if (count_classes(&f->meta, lab, nlab, src, o->labels, &f->classes))
		goto out;

	size_t C = (size_t)f->classes, maxc = 0;
	f->count = xcalloc(C, sizeof *f->count);
	f->k = xcalloc(C, sizeof *f->k);
	f->asked = xcalloc(C, sizeof *f->asked);
	f->rank = xcalloc(C, sizeof *f->rank);
	f->notes = xcalloc(C, sizeof *f->notes);
	f->explained = xcalloc(C, sizeof *f->explained);
	for (size_t i = 0; i < nlab; i++)
		f->count[lab[i]]++;
	for (size_t c = 0; c < C; c++)
		if (f->count[c] > maxc)
			maxc = f->count[c];

	size_t bp = SIZE_MAX, bd = SIZE_MAX;
	if (probe_method_bytes(PROBE_PRIMAL, f->classes, f->dim, f->rows, maxc,
			       par_threads(), &bp))
		bp = SIZE_MAX;
	if (probe_method_bytes(PROBE_DUAL, f->classes, f->dim, f->rows, maxc,
			       par_threads(), &bd))
		bd = SIZE_MAX;
	f->method = o->method;
	if (f->method == PROBE_AUTO)
		f->method = bp <= bd ? PROBE_PRIMAL : PROBE_DUAL;
	if ((f->method == PROBE_PRIMAL ? bp : bd) == SIZE_MAX) {
		mp_error("%s: %zu rows of %zu values in %d classes are too large for the %s method",
			 src, f->rows, f->dim, f->classes, probe_method_str(f->method));
		goto out;
	}

	x.f = f;
	x.o = o;
	if (f->method == PROBE_PRIMAL) {
		struct fit_read fr = { f, &g, NULL, NULL, NULL, lab, src, show };
		if (gram_acc_init(&g, f->classes, f->dim))
			goto out;
		x.g = &g;
		if (read_blocks(r, f->rows, f->dim, 1, READ_BYTES, consume_primal, &fr))
			goto out;
		gram_acc_finish(&g);
	} else {
		rows = xcalloc(C, sizeof *rows);
		x.rows = rows;
		struct fit_read fr = { f, NULL, rows, xcalloc(C, sizeof(size_t)),
				       xcalloc(C, sizeof(size_t)), lab, src, show };
		int bad = read_blocks(r, f->rows, f->dim, 0, READ_BYTES, consume_dual, &fr);
		free(fr.cap);
		free(fr.fill);
		if (bad)
			goto out;
	}
	/* The rest of the stream must be sound too. */
	while ((rc = npz_reader_next(r)) > 0)
		;
	if (rc < 0)
		goto out;
	double t1 = mp_now();

	x.v = xcalloc(C, sizeof *x.v);
	x.w = xcalloc(C, sizeof *x.w);
	x.err = xcalloc(C, sizeof *x.err);
	par_for(C, f->method == PROBE_PRIMAL ? solve_primal : solve_dual, &x);
	for (size_t c = 0; c < C; c++)
		if (x.err[c]) {
			mp_error("%s: %s", src, x.err[c]);
			goto out;
		}
	for (size_t c = 0; c < C; c++)
		f->ktotal += (size_t)f->k[c];
	f->basis = xaligned_calloc(f->ktotal ? f->ktotal * f->dim : 1, sizeof *f->basis);
	f->eigval = xcalloc(f->ktotal ? f->ktotal : 1, sizeof *f->eigval);
	for (size_t c = 0, at = 0; c < C; c++) {
		size_t k = (size_t)f->k[c];
		if (!k)
			continue;
		memcpy(f->basis + at * f->dim, x.v[c], k * f->dim * sizeof *f->basis);
		memcpy(f->eigval + at, x.w[c], k * sizeof *f->eigval);
		at += k;
	}
	f->seconds_read = t1 - t0;
	f->seconds_solve = mp_now() - t1;
	ret = 0;
out:
	if (x.v)
		for (size_t c = 0; c < (size_t)f->classes; c++) {
			free(x.v[c]);
			free(x.w[c]);
			free(x.err[c]);
		}
	free(x.v);
	free(x.w);
	free(x.err);
	gram_acc_release(&g);
	if (rows)
		for (size_t c = 0; c < (size_t)f->classes; c++)
			free(rows[c]);
	free(rows);
	free(lab);
	npz_reader_free(r);
	if (ret)
		probe_fit_release(f);
	return ret;
}

/* ---------------------------------------------------------------- meta */

/* meta_set(m, "PREFIX.NAME", fmt, ...) */
static void set_key(struct meta *m, const char *prefix, const char *name,
		    const char *fmt, ...) MP_PRINTF(4, 5);
static void set_key(struct meta *m, const char *prefix, const char *name,
		    const char *fmt, ...)
{
	char *key = xasprintf("%s.%s", prefix, name);
	va_list ap;
	va_start(ap, fmt);
	char *v = xvasprintf(fmt, ap);
	va_end(ap);
	meta_set(m, key, "%s", v);
	free(v);
	free(key);
}

void probe_meta_fit(struct meta *m, const struct probe_fit *f,
		    const struct probe_fit_opts *o, const char *prefix)
{
	struct mp_buf cnt = MP_BUF_INIT, k = MP_BUF_INIT, ex = MP_BUF_INIT;
	for (int c = 0; c < f->classes; c++) {
		mp_buf_printf(&cnt, "%s%zu", c ? " " : "", f->count[c]);
		mp_buf_printf(&k, "%s%d", c ? " " : "", (int)f->k[c]);
		mp_buf_printf(&ex, "%s%.6f", c ? " " : "", f->explained[c]);
	}
	meta_set(m, "probe", "%s", prefix);
	meta_set(m, "probe.layer", "%s", probe_layer(&f->meta, f->member));
	meta_set(m, "probe.member", "%s", f->member);
	set_key(m, prefix, "labels", "%s", o->labels);
	if (o->components > 0)
		set_key(m, prefix, "components", "%ld", o->components);
	else
		set_key(m, prefix, "threshold", "%.15g", o->threshold);
	set_key(m, prefix, "method", "%s", probe_method_str(f->method));
	set_key(m, prefix, "classes", "%d", f->classes);
	set_key(m, prefix, "dim", "%zu", f->dim);
	set_key(m, prefix, "n", "%zu", f->rows);
	set_key(m, prefix, "count", "%s", cnt.s);
	set_key(m, prefix, "k", "%s", k.s);
	set_key(m, prefix, "k_total", "%zu", f->ktotal);
	set_key(m, prefix, "explained", "%s", ex.s);
	mp_buf_release(&cnt);
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

/* ---------------------------------------------------------------- predict */

struct predict_read {
	const struct probe_scorer *sc;
	float *score;              /* (cap, C) */
	int32_t *pred;             /* (cap) */
	size_t cap_score, cap_pred; /* elements allocated */
	const char *path, *member;
};

/* Scores a block of rows into pred and score, which grow as the rows
 * arrive: a header that claims 2^31 rows costs nothing until they come. */
static int consume_predict(void *ctx, const void *block, size_t first, size_t m)
{
	struct predict_read *pr = ctx;
	const struct probe_scorer *sc = pr->sc;
	const float *x = block;
	size_t C = (size_t)sc->classes, end = first + m, need;
	for (size_t i = 0; i < m; i++)
		if (check_row_f32(x + i * sc->dim, sc->dim, first + i, pr->path, pr->member))
			return -1;
	if (mp_mul_size(end, C, &need) ||
	    mp_grow((void **)&pr->score, &pr->cap_score, need, sizeof *pr->score) ||
	    mp_grow((void **)&pr->pred, &pr->cap_pred, end, sizeof *pr->pred))
		return mp_error("%s: %zu rows of %zu scores are too many", pr->path, end, C);
	if (sc->score(sc->ctx, x, m, pr->score + first * C, pr->pred + first))
		return mp_error_prefix("%s", pr->path);
	return 0;
}

struct label_count {
	const char *name;
	size_t n;
	int seen;
};

int probe_predict(const char *in, const char *out, int level,
		  const struct probe_scorer *sc, const struct meta *add)
{
	struct npz_reader *r = npz_reader_open(in);
	struct npz_writer *w = NULL;
	struct meta m = META_INIT;
	struct label_count lc[3] = { { "y", 0, 0 }, { "y_true", 0, 0 }, { "flipped", 0, 0 } };
	struct predict_read pr = { sc, NULL, NULL, 0, 0, NULL, NULL };
	size_t n = 0, C = (size_t)sc->classes;
	int rc, ret = -1, have = 0, meta_done = 0;
	char member[8] = "";

	if (!r)
		return -1;
	const char *src = npz_reader_path(r);
	if (!(w = npz_writer_open(out, level)))
		goto out;
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		if (!npz_reader_is_array(r)) {
			if (!strcmp(name, "meta.txt") && !meta_done &&
			    npz_reader_load_meta(r, &m))
				goto out;
			continue;
		}
		if (!meta_done) {
			/* The labels are checked against the probe's classes;
			 * a stream that states another class count is not
			 * the one the probe was fitted for. */
			int mc;
			if (validate_meta_classes(&m, src, &mc))
				goto out;
			if (mc && (size_t)mc != C) {
				mp_error("%s: the stream has %d classes (meta.txt) but the "
					 "probe has %zu", src, mc, C);
				goto out;
			}
			if (add)
				meta_merge(&m, add);
			if (npz_writer_add_meta(w, &m))
				goto out;
			meta_done = 1;
		}
		const struct npy_header *h = npz_reader_header(r);
		struct label_count *l = NULL;
		for (size_t i = 0; i < 3; i++)
			if (!strcmp(name, lc[i].name) && !lc[i].seen)
				l = &lc[i];
		if (l) {
			if (h->ndim != 1) {
				mp_error("%s: member '%s' must be 1-D", src, name);
				goto out;
			}
			l->n = (size_t)h->shape[0];
			l->seen = 1;
			int32_t *v;
			size_t cnt;
			struct npy_header o;
			int fl = l == &lc[2];
			if (npz_reader_load_i32(r, &v, &cnt))
				goto out;
			int bad = fl ? validate_flipped(v, cnt, src)
				     : validate_labels(v, cnt, (int)C, src, name);
			if (!bad && fl) {
				/* flipped as DESIGN.md has it: uint8 */
				uint8_t *u = xmalloc(cnt ? cnt : 1);
				for (size_t i = 0; i < cnt; i++)
					u[i] = (uint8_t)v[i];
				bad = npy_header_1d(&o, NPY_U1, (int64_t)cnt) ||
				      npz_writer_add(w, name, &o, u);
				free(u);
			} else if (!bad) {
				bad = npy_header_1d(&o, NPY_I4, (int64_t)cnt) ||
				      npz_writer_add(w, name, &o, v);
			}
			free(v);
			if (bad)
				goto out;
			continue;
		}
		if (have || (strcmp(name, "act") && strcmp(name, "x")))
			continue;
		have = 1;
		snprintf(member, sizeof member, "%s", name);
		if (validate_float(h, src, name))
			goto out;
		if (h->ndim < 2) {
			mp_error("%s: member '%s' must have a row per sample, (N, D), not %d-D",
				 src, name, h->ndim);
			goto out;
		}
		size_t d = npy_row_count(h);
		n = (size_t)h->shape[0];
		if (d != sc->dim) {
			mp_error("%s: rows of '%s' have %zu values but the probe has D=%zu",
				 src, name, d, sc->dim);
			goto out;
		}
		if (sc->probe_meta) {
			const char *pl = meta_get(sc->probe_meta, "probe.layer");
			const char *il = probe_layer(&m, name);
			if (pl && strcmp(pl, il))
				warn("the probe was fitted on layer '%s', these rows are from '%s'",
				     pl, il);
		}
		pr.path = src;
		pr.member = name;
		if (read_blocks(r, n, d, 0, PREDICT_BYTES, consume_predict, &pr))
			goto out;
	}
	if (rc < 0)
		goto out;
	if (!have) {
		mp_error("%s: no 'act' or 'x' member to predict", src);
		goto out;
	}
	for (size_t i = 0; i < 3; i++)
		if (lc[i].seen && lc[i].n != n) {
			mp_error("%s: '%s' has %zu entries but '%s' has %zu rows",
				 src, lc[i].name, lc[i].n, member, n);
			goto out;
		}
	/* No rows: empty members (the buffers are never NULL for the writer). */
	if (mp_grow((void **)&pr.score, &pr.cap_score, 1, sizeof *pr.score) ||
	    mp_grow((void **)&pr.pred, &pr.cap_pred, 1, sizeof *pr.pred))
		goto out;
	struct npy_header hp, hs;
	if (npy_header_1d(&hp, NPY_I4, (int64_t)n) ||
	    npy_header_2d(&hs, NPY_F4, (int64_t)n, (int64_t)C) ||
	    npz_writer_add(w, "pred", &hp, pr.pred) ||
	    npz_writer_add(w, "score", &hs, pr.score))
		goto out;
	ret = npz_writer_close(w);
	w = NULL;
out:
	if (w)
		npz_writer_abort(w);
	npz_reader_free(r);
	meta_release(&m);
	free(pr.pred);
	free(pr.score);
	return ret;
}
