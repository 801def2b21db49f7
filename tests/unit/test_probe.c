/*
 * test_probe.c: the probe library against naive references: the k rule,
 * the partial eigensolver (every path) against LAPACK's full dsyevd, the
 * scatter accumulator against plain loops (and bit-identical whatever the
 * thread count), primal vs dual fits, MASC scores (float32 GEMM with
 * double refinement) against double precision, zero rows and ties, the
 * VeLPIC sign rule, and transplant on a small checkpoint.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gram.h"
#include "npz.h"
#include "par.h"
#include "probe.h"
#include "tap.h"
#include "model.h"
#include "transplant.h"
#include "util.h"
#include "validate.h"

static char tmpdir[] = "/tmp/test_probe.XXXXXX";

/* A small deterministic generator (the tests need no particular one). */
static uint64_t rs = 88172645463325252ULL;
static double urand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (double)(rs >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
	double u = urand() + 1e-300, v = urand();
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Frobenius distance between the projectors onto the row spaces of the
 * orthonormal a (k, n) and b (k, n). */
static double proj_dist(const double *a, const double *b, size_t k, size_t n)
{
	double *pa = xcalloc(n * n, sizeof *pa), *pb = xcalloc(n * n, sizeof *pb);
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)k, 1.0,
		    a, (int)n, a, (int)n, 0.0, pa, (int)n);
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)k, 1.0,
		    b, (int)n, b, (int)n, 0.0, pb, (int)n);
	double s = 0;
	for (size_t i = 0; i < n * n; i++)
		s += (pa[i] - pb[i]) * (pa[i] - pb[i]);
	free(pa);
	free(pb);
	return sqrt(s);
}

/* X (m, n) with a decaying spectrum. */
static double *random_rows(size_t m, size_t n)
{
	double *x = xmalloc(m * n * sizeof *x);
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++)
			x[i * n + j] = nrand() / (1.0 + 0.3 * (double)j);
	return x;
}

TEST(k_rule)
{
	double w[] = { 4, 2, 1, 1 };        /* ratios .5 .25 .125 .125, exact */
	double r;
	CHECK(eig_count_var(w, 4, 0.75, &r) == 3);
	CHECK(r == 0.875);
	CHECK(eig_count_var(w, 4, 0.7499, NULL) == 2);
	CHECK(eig_count_var(w, 4, 0.0, NULL) == 1);
	CHECK(eig_count_var(w, 4, 0.5, NULL) == 2);
	CHECK(eig_count_var(w, 4, 0.99, NULL) == 4);
	CHECK(eig_ratio(w, 4, 2) == 0.75);
	double z[] = { 0, 0, 0 };
	CHECK(eig_count_var(z, 3, 0.5, &r) == 0);
	CHECK(r == 0);
	double v[] = { 1, 1e-20, 0, -1e-18 };
	CHECK(eig_rank(v, 4) == 1);
	CHECK(eig_rank(z, 3) == 0);
}

/* Every eigenvector path against dsyevd on the same matrix. */
TEST(eigensolver_paths)
{
	size_t n = 120, m = 400, k = 17;
	double *x = random_rows(m, n);
	double *s = xcalloc(n * n, sizeof *s), *full = xmalloc(n * n * sizeof *full);
	double *wf = xmalloc(n * sizeof *wf), *top = xmalloc(k * n * sizeof *top);
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)m, 1.0, x, (int)n,
		    0.0, s, (int)n);
	memcpy(full, s, n * n * sizeof *full);
	/* Row-major upper is column-major lower. */
	CHECK(LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', (int)n, full, (int)n, wf) == 0);
	for (size_t j = 0; j < k; j++)          /* columns of full, ascending */
		memcpy(top + j * n, full + (n - 1 - j) * n, n * sizeof *top);
	int paths[] = { EIG_PATH_AUTO, EIG_PATH_MRRR, EIG_PATH_DC, EIG_PATH_STEIN };
	for (size_t p = 0; p < 4; p++) {
		double *a = xmalloc(n * n * sizeof *a), *v = xmalloc(k * n * sizeof *v);
		struct eig e;
		memcpy(a, s, n * n * sizeof *a);
		eig_path = paths[p];
		CHECK(eig_reduce(&e, a, n) == 0);
		for (size_t j = 0; j < n; j++)
			CHECK_NEAR(e.w[j], wf[n - 1 - j], 1e-10 * wf[n - 1]);
		CHECK(eig_vectors(&e, k, v) == 0);
		CHECK(proj_dist(v, top, k, n) < 1e-9);
		for (size_t j = 0; j < k; j++) {     /* each vector, up to sign */
			double d = cblas_ddot((int)n, v + j * n, 1, top + j * n, 1);
			CHECK_NEAR(fabs(d), 1.0, 1e-9);
		}
		eig_release(&e);
		free(a);
		free(v);
	}
	eig_path = EIG_PATH_AUTO;
	free(x);
	free(s);
	free(full);
	free(wf);
	free(top);
}

/* gram_acc against plain loops, and the same bits on 1 and 2 threads:
 * classes in parallel (6 classes), and tiles in parallel (3 classes). */
static void check_accumulation(int C, size_t d, size_t n)
{
	double *x = random_rows(n, d);
	int *lab = xmalloc(n * sizeof *lab);
	for (size_t i = 0; i < n; i++)
		lab[i] = (int)(urand() * C);
	double *ref = xcalloc((size_t)C * d * d, sizeof *ref);
	for (size_t i = 0; i < n; i++)
		for (size_t a = 0; a < d; a++)
			for (size_t b = a; b < d; b++)
				ref[((size_t)lab[i] * d + a) * d + b] += x[i * d + a] * x[i * d + b];
	double *s1 = NULL;
	for (int t = 1; t <= 2; t++) {
		struct gram_acc g;
		par_init(t);
		gram_acc_init(&g, C, d);
		for (size_t i = 0; i < n; i++)
			gram_acc_add(&g, lab[i], x + i * d);
		gram_acc_finish(&g);
		double err = 0, scale = 0;
		for (int c = 0; c < C; c++) {
			const double *s = gram_acc_scatter(&g, c);
			for (size_t a = 0; a < d; a++)
				for (size_t b = a; b < d; b++) {
					size_t i = (size_t)c * d * d + a * d + b;
					err = fmax(err, fabs(s[a * d + b] - ref[i]));
					scale = fmax(scale, fabs(ref[i]));
				}
		}
		CHECK(err <= 1e-12 * scale);
		CHECK((C < GRAM_TILED_BELOW) == (g.tile > 0));
		if (t == 1)
			s1 = xmalloc((size_t)C * d * d * sizeof *s1);
		for (int c = 0; c < C; c++) {
			const double *s = gram_acc_scatter(&g, c);
			if (t == 1)
				memcpy(s1 + (size_t)c * d * d, s, d * d * sizeof *s1);
			else
				CHECK(memcmp(s1 + (size_t)c * d * d, s, d * d * sizeof *s1) == 0);
		}
		gram_acc_release(&g);
	}
	par_init(2);
	free(s1);
	free(x);
	free(lab);
	free(ref);
}

TEST(scatter_accumulation)
{
	check_accumulation(6, 150, 5000);      /* queued, several flushes */
	check_accumulation(3, 600, 1400);      /* tiled: 2 x 2 blocks */
}

/* A stream with meta.txt, y (int64, as NumPy writes labels) and act. */
static char *write_stream(const char *name, const char *meta, const float *x,
			  const int64_t *y, size_t n, size_t d)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	struct npz_writer *w = npz_writer_open(path, 0);
	struct npy_header hy, hx;
	MP_ASSERT(w);
	npy_header_1d(&hy, NPY_I8, (int64_t)n);
	npy_header_2d(&hx, NPY_F4, (int64_t)n, (int64_t)d);
	MP_ASSERT(!npz_writer_add_text(w, "meta.txt", meta, strlen(meta)));
	MP_ASSERT(!npz_writer_add(w, "y", &hy, y));
	MP_ASSERT(!npz_writer_add(w, "act", &hx, x));
	MP_ASSERT(!npz_writer_close(w));
	return path;
}

/* n rows of d values in C classes, each class with its own direction,
 * written with data.classes=C to tmpdir/name: the path and the arrays. */
struct class_stream {
	char *path;
	int64_t *y;             /* (n) */
	float *x;               /* (n, d) */
};

static struct class_stream class_stream(const char *name, size_t n, size_t d, int C)
{
	struct class_stream s;
	s.x = xmalloc(n * d * sizeof *s.x);
	s.y = xmalloc(n * sizeof *s.y);
	for (size_t i = 0; i < n; i++) {
		s.y[i] = (int64_t)(i % (size_t)C);
		for (size_t j = 0; j < d; j++)
			s.x[i * d + j] = (float)(nrand() / (1.0 + 0.5 * (double)j) +
						 (j % (size_t)C == (size_t)s.y[i] ? 1.5 : 0.0));
	}
	char *meta = xasprintf("data.classes=%d\n", C);
	s.path = write_stream(name, meta, s.x, s.y, n, d);
	free(meta);
	return s;
}

static void class_stream_release(struct class_stream *s)
{
	free(s->path);
	free(s->x);
	free(s->y);
}

/* The same fit of path by the primal method (a) and the dual one (b). */
static void fit_primal_dual(struct probe_fit *a, struct probe_fit *b, const char *path,
			    struct probe_fit_opts *o)
{
	o->method = PROBE_PRIMAL;
	CHECK(probe_fit(a, path, o) == 0);
	o->method = PROBE_DUAL;
	CHECK(probe_fit(b, path, o) == 0);
}

TEST(primal_and_dual_agree)
{
	size_t d = 40;
	int C = 3;
	struct class_stream s = class_stream("pd.npz", 300, d, C);
	for (int mode = 0; mode < 2; mode++) {
		struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
		struct probe_fit a, b;
		if (mode)
			o.components = 6;
		else
			o.threshold = 0.9;
		fit_primal_dual(&a, &b, s.path, &o);
		CHECK(a.method == PROBE_PRIMAL && b.method == PROBE_DUAL);
		CHECK(a.ktotal == b.ktotal);
		for (int c = 0; c < C; c++)
			CHECK(a.k[c] == b.k[c]);
		if (mode)
			CHECK(a.ktotal == 18);
		for (size_t i = 0, at = 0; i < (size_t)C && a.ktotal == b.ktotal; i++) {
			size_t k = (size_t)a.k[i];
			CHECK(proj_dist(a.basis + at * d, b.basis + at * d, k, d) < 1e-9);
			for (size_t j = 0; j < k; j++)
				CHECK_NEAR(a.eigval[at + j], b.eigval[at + j], 1e-9 * a.eigval[at]);
			at += k;
		}
		for (size_t j = 0; j < d; j++)
			CHECK(a.colsum[j] == b.colsum[j]);
		probe_fit_release(&a);
		probe_fit_release(&b);
	}
	class_stream_release(&s);
}

/* Columns that are zero for a whole class (dead ReLU units) are dropped
 * from its eigenproblem: the same subspaces as the dual method, which
 * sees no such columns, and as with them. */
TEST(dead_columns)
{
	size_t n = 200, d = 30;
	struct class_stream s = class_stream("dead0.npz", n, d, 2);
	for (size_t i = 0; i < n; i++)
		if (s.y[i] == 0)
			s.x[i * d + 3] = s.x[i * d + 7] = s.x[i * d + 20] = 0;
	char *path = write_stream("dead.npz", "data.classes=2\n", s.x, s.y, n, d);
	for (int mode = 0; mode < 2; mode++) {
		struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
		struct probe_fit a, b;
		if (mode)
			o.components = 12;
		fit_primal_dual(&a, &b, path, &o);
		CHECK(a.ktotal == b.ktotal && a.k[0] == b.k[0]);
		for (size_t j = 0; j < (size_t)a.k[0] && a.ktotal == b.ktotal; j++) {
			CHECK(a.basis[j * d + 3] == 0 && a.basis[j * d + 7] == 0 &&
			      a.basis[j * d + 20] == 0);
			CHECK_NEAR(a.eigval[j], b.eigval[j], 1e-9 * a.eigval[0]);
		}
		for (size_t c = 0, at = 0; c < 2 && a.ktotal == b.ktotal; c++) {
			CHECK(proj_dist(a.basis + at * d, b.basis + at * d, (size_t)a.k[c], d) < 1e-9);
			at += (size_t)a.k[c];
		}
		CHECK_NEAR(a.explained[0], b.explained[0], 1e-12);
		probe_fit_release(&a);
		probe_fit_release(&b);
	}
	class_stream_release(&s);
	free(path);
}

/* The fit against a direct eigendecomposition of each class's scatter. */
TEST(fit_matches_direct_eigh)
{
	size_t n = 240, d = 24;
	int C = 4;
	struct class_stream cs = class_stream("direct.npz", n, d, C);
	const int64_t *y = cs.y;
	const float *x = cs.x;
	struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
	struct probe_fit f;
	o.threshold = 0.8;
	CHECK(probe_fit(&f, cs.path, &o) == 0);
	for (int c = 0, at = 0; c < C; c++) {
		double *s = xcalloc(d * d, sizeof *s), *w = xmalloc(d * sizeof *w);
		for (size_t i = 0; i < n; i++)
			if (y[i] == c)
				for (size_t a = 0; a < d; a++)
					for (size_t b = 0; b < d; b++)
						s[a * d + b] += (double)x[i * d + a] * x[i * d + b];
		CHECK(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (int)d, s, (int)d, w) == 0);
		double tot = 0, cum = 0;
		for (size_t j = 0; j < d; j++)
			tot += w[j];
		size_t k = 0;
		while (k < d && (cum += w[d - 1 - k] / tot) <= 0.8)
			k++;
		k++;
		CHECK((size_t)f.k[c] == k);
		double *v = xmalloc(k * d * sizeof *v);
		for (size_t j = 0; j < k; j++)       /* column d-1-j of s */
			for (size_t i = 0; i < d; i++)
				v[j * d + i] = s[i * d + (d - 1 - j)];
		if ((size_t)f.k[c] == k)
			CHECK(proj_dist(v, f.basis + (size_t)at * d, k, d) < 1e-9);
		at += f.k[c];
		free(v);
		free(s);
		free(w);
	}
	probe_fit_release(&f);
	class_stream_release(&cs);
}

/* A MASC probe from explicit bases. */
static void make_probe(struct masc_probe *p, int C, size_t d, const int32_t *k,
		       const double *basis)
{
	memset(p, 0, sizeof *p);
	p->classes = C;
	p->dim = d;
	p->k = xmalloc((size_t)C * sizeof *p->k);
	p->off = xcalloc((size_t)C + 1, sizeof *p->off);
	for (int c = 0; c < C; c++) {
		p->k[c] = k[c];
		p->off[c + 1] = p->off[c] + (size_t)k[c];
	}
	size_t K = p->off[C];
	p->basis = xmalloc((K * d + 1) * sizeof *p->basis);
	p->basis32 = xmalloc((K * d + 1) * sizeof *p->basis32);
	for (size_t i = 0; i < K * d; i++) {
		p->basis[i] = basis[i];
		p->basis32[i] = (float)basis[i];
	}
}

TEST(masc_scores_match_double)
{
	size_t n = 300, d = 64;
	int C = 3;
	struct class_stream cs = class_stream("score.npz", n, d, C);
	struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
	struct probe_fit f;
	struct masc_probe p;
	CHECK(probe_fit(&f, cs.path, &o) == 0);
	make_probe(&p, C, d, f.k, f.basis);
	/* Rows on the boundary between classes 0 and 1: x(a) = a p + (1 - a) q
	 * for p, q the first basis vectors of classes 0 and 1, with a found
	 * by bisection where their cosines (in double) are equal, then moved
	 * by steps far below float32 resolution: the best two cosines are
	 * closer than the float32 GEMM's error, and only the refinement in
	 * double can get every argmax right. Half the rows are training rows. */
	size_t m = 400;
	float *t = xmalloc(m * d * sizeof *t);
	double *td = xmalloc(m * d * sizeof *td), *sd = xmalloc(m * (size_t)C * sizeof *sd);
	float *s = xmalloc(m * (size_t)C * sizeof *s);
	int32_t *pr = xmalloc(m * sizeof *pr), *pd = xmalloc(m * sizeof *pd);
	const double *bp = p.basis, *bq = p.basis + p.off[1] * d;
	double lo = 0, hi = 1, one[3];
	int32_t pone;
	for (int it = 0; it < 80; it++) {
		double a = (lo + hi) / 2;
		for (size_t j = 0; j < d; j++)
			td[j] = (float)(a * bp[j] + (1 - a) * bq[j]);
		masc_score_exact(&p, td, 1, one, &pone);
		if (one[0] > one[1])
			hi = a;
		else
			lo = a;
	}
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < d; j++) {
			double a = lo + ((double)i - (double)m / 4) * 1e-9;
			t[i * d + j] = i < m / 2 ? (float)(a * bp[j] + (1 - a) * bq[j])
						 : cs.x[(i % n) * d + j];
			td[i * d + j] = t[i * d + j];
		}
	CHECK(masc_score(&p, t, m, s, pr) == 0);
	CHECK(masc_score_exact(&p, td, m, sd, pd) == 0);
	size_t same = 0;
	for (size_t i = 0; i < m; i++) {
		same += pr[i] == pd[i];
		for (int c = 0; c < C; c++)
			CHECK_NEAR(s[i * (size_t)C + (size_t)c], sd[i * (size_t)C + (size_t)c], 1e-5);
	}
	CHECK(same == m);
	masc_probe_release(&p);
	probe_fit_release(&f);
	free(t);
	free(td);
	free(sd);
	free(s);
	free(pr);
	free(pd);
	class_stream_release(&cs);
}

TEST(masc_zero_rows_and_ties)
{
	/* Classes 0 and 2 share a subspace, class 1 is empty. */
	size_t d = 3;
	int32_t k[] = { 1, 0, 1 };
	double basis[] = { 0, 1, 0, 0, 1, 0 };
	struct masc_probe p;
	make_probe(&p, 3, d, k, basis);
	float x[] = { 0, 0, 0, 0, 2, 0, 1, 0, 0 };
	float s[9];
	int32_t pred[3];
	CHECK(masc_score(&p, x, 3, s, pred) == 0);
	CHECK(pred[0] == 0 && s[0] == 0 && s[1] == 0 && s[2] == 0);   /* zero row */
	CHECK(pred[1] == 0 && s[3] == 1 && s[4] == 0 && s[5] == 1);   /* tie: lowest */
	CHECK(pred[2] == 0 && s[6] == 0 && s[7] == 0 && s[8] == 0);   /* orthogonal */
	masc_probe_release(&p);
}

/* The sign uses ALL training rows: class 0's own rows point to -e1, but
 * the mean over all rows of x . e1 is positive, so v_0 = +e1. */
TEST(velpic_sign_rule)
{
	size_t n = 20, d = 2;
	float x[40];
	int64_t y[20];
	for (size_t i = 0; i < n; i++) {
		y[i] = i < 10 ? 0 : 1;
		x[2 * i] = i < 10 ? -1.0f : 5.0f;
		x[2 * i + 1] = i < 10 ? 0.0f : 1.0f;
	}
	char *path = write_stream("sign.npz", "data.classes=2\n", x, y, n, d);
	struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
	struct probe_fit f;
	float w[4];
	o.components = 1;
	CHECK(probe_fit(&f, path, &o) == 0);
	velpic_vectors(&f, w);
	CHECK_NEAR(w[0], 1.0, 1e-6);
	CHECK_NEAR(w[1], 0.0, 1e-6);
	double n1 = sqrt(26.0);
	CHECK_NEAR(w[2], 5 / n1, 1e-6);
	CHECK_NEAR(w[3], 1 / n1, 1e-6);
	probe_fit_release(&f);
	/* Flip everything: now both vectors must flip too. */
	for (size_t i = 0; i < 2 * n; i++)
		x[i] = -x[i];
	free(path);
	path = write_stream("sign2.npz", "data.classes=2\n", x, y, n, d);
	CHECK(probe_fit(&f, path, &o) == 0);
	velpic_vectors(&f, w);
	CHECK_NEAR(w[0], -1.0, 1e-6);
	CHECK_NEAR(w[2], -5 / n1, 1e-6);
	probe_fit_release(&f);
	free(path);
}

/* Empty classes and classes with fewer rows than components. */
TEST(degenerate_classes)
{
	size_t n = 12, d = 5;
	float x[60];
	int64_t y[12];
	for (size_t i = 0; i < n; i++) {
		y[i] = i < 2 ? 0 : 2;               /* class 1: no rows */
		for (size_t j = 0; j < d; j++)
			x[i * d + j] = (float)nrand();
	}
	char *path = write_stream("degen.npz", "data.classes=3\n", x, y, n, d);
	struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
	struct probe_fit f;
	o.components = 4;
	CHECK(probe_fit(&f, path, &o) == 0);
	CHECK(f.k[0] == 2 && (f.notes[0] & PROBE_CLASS_CAPPED));
	CHECK(f.k[1] == 0 && (f.notes[1] & PROBE_CLASS_EMPTY));
	CHECK(f.k[2] == 4 && !f.notes[2]);
	CHECK(f.ktotal == 6);
	probe_fit_release(&f);
	o.method = PROBE_DUAL;
	CHECK(probe_fit(&f, path, &o) == 0);
	CHECK(f.k[0] == 2 && f.k[1] == 0 && f.k[2] == 4);
	probe_fit_release(&f);
	free(path);
}

TEST(fit_errors)
{
	float x[6] = { 1, 2, 3, NAN, 5, 6 };
	int64_t y[3] = { 0, 1, 0 };
	struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
	struct probe_fit f;
	char *path = write_stream("nan.npz", "", x, y, 3, 2);
	CHECK(probe_fit(&f, path, &o) == -1);
	CHECK(strstr(mp_errmsg(), "row 1 of 'act' is not finite") != NULL);
	free(path);
	x[3] = 4;
	y[2] = 7;
	path = write_stream("range.npz", "data.classes=3\n", x, y, 3, 2);
	CHECK(probe_fit(&f, path, &o) == -1);
	CHECK(strstr(mp_errmsg(), "label 7") != NULL);
	o.labels = "y_true";
	CHECK(probe_fit(&f, path, &o) == -1);
	CHECK(strstr(mp_errmsg(), "no 'y_true' member") != NULL);
	free(path);
}

TEST(quadratic_form)
{
	size_t d = 4;
	int32_t k[] = { 2, 1 };
	double r = 1 / sqrt(2.0);
	double basis[] = { 1, 0, 0, 0, 0, r, r, 0, 0, 0, 0, 1 };
	struct masc_probe p;
	make_probe(&p, 2, d, k, basis);
	char *path = xasprintf("%s/q.npz", tmpdir);
	CHECK(masc_quadratic_write(&p, path, 0, NULL) == 0);
	struct npz_bundle b;
	CHECK(npz_bundle_load(&b, path) == 0);
	struct npz_array *q = npz_bundle_get(&b, "q");
	CHECK(q && q->h.ndim == 3 && q->h.shape[0] == 2 && q->h.shape[1] == 4 &&
	      q->h.dtype == NPY_F8);
	if (q) {
		const double *Q = q->data;
		double x[] = { 1, 2, 3, 4 }, xx = 30;
		float xf[] = { 1, 2, 3, 4 }, s[2];
		int32_t pred;
		masc_score(&p, xf, 1, s, &pred);
		for (int c = 0; c < 2; c++) {
			double v = 0;
			for (size_t i = 0; i < d; i++)
				for (size_t j = 0; j < d; j++)
					v += x[i] * Q[(size_t)c * d * d + i * d + j] * x[j];
			CHECK_NEAR(v, (double)s[c] * s[c] * xx, 1e-5);
		}
		CHECK_NEAR(Q[1 * d + 2], 0.5, 1e-15);       /* symmetric, both halves */
		CHECK_NEAR(Q[2 * d + 1], 0.5, 1e-15);
	}
	npz_bundle_release(&b);
	masc_probe_release(&p);
	free(path);
}

static void put(struct npz_bundle *b, const char *name, enum npy_dtype t, int nd,
		const int64_t *shape, const void *data)
{
	struct npy_header h;
	MP_ASSERT(!npy_header_init(&h, t, nd, shape));
	npz_bundle_put(b, name, &h, data);
}

/* A checkpoint dumpacts loads: every tensor model_build registers for
 * `arch` on input `in` with C classes, each filled with a ramp; meta.txt
 * as train writes it (model.arch, .input, .classes, .final, .layers). */
static void mk_checkpoint(struct npz_bundle *b, const char *arch, struct shape in, int C)
{
	struct model m;
	MP_ASSERT(!model_build(&m, arch, in, C));
	memset(b, 0, sizeof *b);
	meta_init(&b->meta);
	model_set_meta(&m, &b->meta);
	for (int i = 0; i < m.ntensors; i++) {
		const struct model_tensor *t = &m.tensors[i];
		if (t->dtype == NPY_I8) {
			int64_t zero = 0;
			put(b, t->name, NPY_I8, t->ndim, t->shape, &zero);
			continue;
		}
		float *v = xmallocarray(t->count, sizeof *v);
		for (size_t k = 0; k < t->count; k++)
			v[k] = (float)((double)(k % 97) / 97.0 - 0.5);
		put(b, t->name, NPY_F4, t->ndim, t->shape, v);
		free(v);
	}
	model_release(&m);
}

TEST(transplant_edits_final_layer)
{
	struct npz_bundle ck, pr = { 0 };
	enum { D = 2048 };
	static float w[3 * D], wbad[3 * D];
	float h[4] = { 1, 1, 1, 1 };
	int64_t s2[2] = { 3, D }, s22[2] = { 2, 2 }, s23[2] = { 2, D };
	struct transplant_opts o = { TRANSPLANT_BIAS_ZERO, NULL };
	for (size_t k = 0; k < 3 * D; k++)
		w[k] = (float)k / (3 * D);
	/* an MLP on 1x2x2 with 3 classes: fc5 (3, 2048) with a bias */
	mk_checkpoint(&ck, "mlp", (struct shape){ 1, 2, 2 }, 3);
	float bias[3];
	memcpy(bias, npz_bundle_get(&ck, "fc5.bias")->data, sizeof bias);
	float *fc1 = xmalloc(npz_bundle_get(&ck, "fc1.weight")->h.nbytes);
	memcpy(fc1, npz_bundle_get(&ck, "fc1.weight")->data, npz_bundle_get(&ck, "fc1.weight")->h.nbytes);
	meta_init(&pr.meta);
	put(&pr, "w", NPY_F4, 2, s2, w);
	meta_set(&pr.meta, "probe", "velpic");
	meta_set(&pr.meta, "probe.layer", "fc4");
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == 0);
	CHECK(!memcmp(npz_bundle_get(&ck, "fc5.weight")->data, w, sizeof w));
	const float *b = npz_bundle_get(&ck, "fc5.bias")->data;
	CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0);
	CHECK(!memcmp(npz_bundle_get(&ck, "fc1.weight")->data, fc1,
		      npz_bundle_get(&ck, "fc1.weight")->h.nbytes));
	CHECK(!strcmp(ck.a[0].name, "fc1.weight") && !strcmp(ck.a[ck.n - 1].name, "fc5.bias"));
	CHECK(!strcmp(meta_get(&ck.meta, "transplant.layer"), "fc5"));
	CHECK(!strcmp(meta_get(&ck.meta, "transplant.bias"), "zero"));
	CHECK(!strcmp(meta_get(&ck.meta, "transplant.probe.layer"), "fc4"));
	/* keep */
	int64_t s1[1] = { 3 };
	put(&ck, "fc5.bias", NPY_F4, 1, s1, bias);
	o.bias = TRANSPLANT_BIAS_KEEP;
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == 0);
	b = npz_bundle_get(&ck, "fc5.bias")->data;
	CHECK(b[0] == bias[0] && b[2] == bias[2]);
	/* wrong classes, wrong width, non-finite, wrong probe */
	put(&pr, "w", NPY_F4, 2, s23, w);
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == -1);
	CHECK(strstr(mp_errmsg(), "2 classes") != NULL);
	put(&pr, "w", NPY_F4, 2, s22, h);
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == -1);
	CHECK(strstr(mp_errmsg(), "D=2") != NULL);
	memcpy(wbad, w, sizeof w);
	wbad[D + 5] = INFINITY;
	put(&pr, "w", NPY_F4, 2, s2, wbad);
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == -1);
	CHECK(!strcmp(mp_errmsg(), "pr: 'w' has a non-finite value (inf) in row 1"));
	put(&pr, "w", NPY_F4, 2, s2, w);
	meta_set(&pr.meta, "probe", "masc");
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == -1);
	CHECK(strstr(mp_errmsg(), "'masc' probe") != NULL);
	meta_set(&pr.meta, "probe", "velpic");
	/* no model.final in meta.txt: the architecture's final layer */
	struct meta keep = META_INIT;
	meta_merge(&keep, &ck.meta);
	meta_release(&ck.meta);
	meta_init(&ck.meta);
	meta_set(&ck.meta, "model.arch", "%s", meta_get(&keep, "model.arch"));
	meta_set(&ck.meta, "model.input", "%s", meta_get(&keep, "model.input"));
	meta_set(&ck.meta, "model.classes", "%s", meta_get(&keep, "model.classes"));
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == 0);
	CHECK(!strcmp(meta_get(&ck.meta, "transplant.layer"), "fc5"));
	/* a checkpoint dumpacts would refuse: a tensor missing, a scalar */
	meta_release(&ck.meta);
	ck.meta = keep;
	struct npz_array *fc3 = npz_bundle_get(&ck, "fc3.bias");
	free(fc3->name);
	fc3->name = xstrdup("fc3.bias_gone");
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == -1);
	CHECK(!strcmp(mp_errmsg(), "ck: checkpoint has no 'fc3.bias' (a mlp model needs it)"));
	float one = 1;
	put(&ck, "fc3.bias", NPY_F4, 0, NULL, &one);
	CHECK(transplant_apply(&ck, &pr, &o, "ck", "pr") == -1);
	CHECK(strstr(mp_errmsg(), "'fc3.bias' has shape ()") != NULL);
	free(fc1);
	npz_bundle_release(&ck);
	npz_bundle_release(&pr);
}

/* The consumer checks of validate.h. */
TEST(validate_checks)
{
	struct npy_header h;
	int32_t y[4] = { 0, 2, 1, 2 }, f[3] = { 0, 1, 0 };
	int c = -1;
	struct meta m = META_INIT;
	CHECK(!npy_header_1d(&h, NPY_F4, 3) && validate_float(&h, "s", "x") == 0);
	CHECK(!npy_header_1d(&h, NPY_F8, 3) && validate_float(&h, "s", "x") == 0);
	CHECK(!npy_header_1d(&h, NPY_I4, 3) && validate_float(&h, "s", "act") == -1);
	CHECK(!strcmp(mp_errmsg(), "s: member 'act' has dtype '<i4': features must be "
		      "float32 or float64 ('<f4' or '<f8')"));
	CHECK(!npy_header_1d(&h, NPY_U1, 3) && validate_float(&h, "s", "x") == -1);
	CHECK(validate_labels(y, 4, 3, "s", "y") == 0);
	CHECK(validate_labels(y, 4, 0, "s", "y") == 0);
	CHECK(validate_labels(y, 4, 2, "s", "y_true") == -1);
	CHECK(!strcmp(mp_errmsg(), "s: label 2 at index 1 of 'y_true' is outside 0..1"));
	y[3] = -1;
	CHECK(validate_labels(y, 4, 0, "s", "y") == -1);
	CHECK(!strcmp(mp_errmsg(), "s: label -1 at index 3 of 'y' is negative"));
	y[3] = INT32_MAX;
	CHECK(validate_labels(y, 4, VALIDATE_MAX_CLASSES, "s", "y") == -1);
	CHECK(validate_flipped(f, 3, "s") == 0);
	f[2] = 7;
	CHECK(validate_flipped(f, 3, "s") == -1);
	CHECK(!strcmp(mp_errmsg(), "s: member 'flipped' has value 7 at index 2, expected 0 or 1"));
	CHECK(validate_meta_classes(&m, "s", &c) == 0 && c == 0);
	meta_set(&m, "model.classes", "10");
	CHECK(validate_meta_classes(&m, "s", &c) == 0 && c == 10);
	meta_set(&m, "data.classes", "10");
	CHECK(validate_meta_classes(&m, "s", &c) == 0 && c == 10);
	meta_set(&m, "data.classes", "12");
	CHECK(validate_meta_classes(&m, "s", &c) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: meta.txt: data.classes=12 but model.classes=10"));
	meta_set(&m, "data.classes", "2147483647");
	CHECK(validate_meta_classes(&m, "s", &c) == -1);
	CHECK(strstr(mp_errmsg(), "invalid data.classes '2147483647'") != NULL);
	meta_set(&m, "data.classes", "1000000");
	meta_set(&m, "model.classes", "1000000");
	CHECK(validate_meta_classes(&m, "s", &c) == 0 && c == 1000000);
	meta_set(&m, "model.classes", "0");
	CHECK(validate_meta_classes(&m, "s", &c) == -1);
	meta_release(&m);
}

/* mp_grow: capacity doubles, contents kept, an overflowing request refused. */
TEST(grow)
{
	int32_t *v = NULL;
	size_t cap = 0;
	for (size_t n = 1; n <= 1000; n++) {
		if (mp_grow((void **)&v, &cap, n, sizeof *v) || cap < n)
			break;
		v[n - 1] = (int32_t)n;
	}
	CHECK(cap < 2048);
	int ok = 1;
	for (size_t n = 1; n <= 1000; n++)
		ok &= v[n - 1] == (int32_t)n;
	CHECK(ok);
	CHECK(mp_grow((void **)&v, &cap, SIZE_MAX / 2, sizeof *v) == -1);
	CHECK(cap < 2048);
	free(v);
}

int main(void)
{
	MP_ASSERT(mkdtemp(tmpdir));
	par_init(2);
	RUN(k_rule);
	RUN(eigensolver_paths);
	RUN(scatter_accumulation);
	RUN(primal_and_dual_agree);
	RUN(fit_matches_direct_eigh);
	RUN(dead_columns);
	RUN(masc_scores_match_double);
	RUN(masc_zero_rows_and_ties);
	RUN(velpic_sign_rule);
	RUN(degenerate_classes);
	RUN(fit_errors);
	RUN(quadratic_form);
	RUN(transplant_edits_final_layer);
	RUN(validate_checks);
	RUN(grow);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(cmd);
	return tap_done();
}
