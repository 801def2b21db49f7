/*
 * masc.c: the Minimum Angle Subspace Classifier: writing a fitted probe,
 * loading it, scoring rows by their angle to each class subspace, and the
 * equivalent quadratic form Q_c = V_c^T V_c.
 *
 * Scoring: cos(theta_c) = |V_c x| / |x|. The projections of a block of rows
 * on every basis vector are float32 GEMMs (n, D) x (D, sum k), about three
 * times faster than the same in double, in tasks of up to 256 rows that
 * the par_for pool runs in parallel. Each projection then carries
 * an error of at most e = (D + 2) u |x| / (1 - (D + 2) u), u = 2^-24 (the
 * float32 dot product of D terms, plus the rounding of the basis to
 * float32), so each cosine is within sqrt(k_c) e / |x| of its exact value.
 * A row whose best cosine is not ahead of another class's by the sum of
 * their bounds is recomputed in double for those classes: the argmax is
 * always the one a double-precision computation gives.
 */
#include "probe.h"
#include "probes.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npz.h"
#include "par.h"
#include "util.h"
#include "validate.h"

/* Projections are computed by tasks of at most SCORE_ROWS rows, and at
 * most PROJ_BYTES of projections each. */
#define PROJ_BYTES ((size_t)4 << 20)
#define SCORE_ROWS 256

int masc_write(const struct probe_fit *f, const struct probe_fit_opts *o,
	       const char *out, int level, const struct meta *add)
{
	struct meta m = META_INIT;
	struct probe_member mem[2] = { { "k", { 0 }, f->k }, { "basis", { 0 }, f->basis } };
	int ret = -1;

	meta_merge(&m, &f->meta);
	probe_meta_fit(&m, f, o, "masc");
	if (add)
		meta_merge(&m, add);
	if (!npy_header_1d(&mem[0].h, NPY_I4, f->classes) &&
	    !npy_header_2d(&mem[1].h, NPY_F8, (int64_t)f->ktotal, (int64_t)f->dim))
		ret = probe_stream_write(out, level, &m, mem, 2);
	meta_release(&m);
	return ret;
}

void masc_probe_release(struct masc_probe *p)
{
	free(p->k);
	free(p->off);
	free(p->basis);
	free(p->basis32);
	meta_release(&p->meta);
	memset(p, 0, sizeof *p);
}

static int is_int(enum npy_dtype t)
{
	return t == NPY_I4 || t == NPY_I8 || t == NPY_U1;
}

static int64_t int_at(const struct npz_array *a, size_t i)
{
	switch (a->h.dtype) {
	case NPY_I4: return ((const int32_t *)a->data)[i];
	case NPY_I8: return ((const int64_t *)a->data)[i];
	case NPY_U1: return ((const uint8_t *)a->data)[i];
	default: MP_ASSERT(0);
	}
	return 0;
}

/* k (C) into p->k and the offsets p->off (C + 1) of each class's rows
 * of a basis of K rows. */
static int load_k(struct masc_probe *p, const struct npz_array *k, int64_t K,
		  const char *src)
{
	size_t C = (size_t)p->classes, at = 0;
	p->k = xcalloc(C, sizeof *p->k);
	p->off = xcalloc(C + 1, sizeof *p->off);
	for (size_t c = 0; c < C; c++) {
		int64_t kc = int_at(k, c);
		if (kc < 0 || (uint64_t)kc > (uint64_t)K)
			return mp_error("%s: k[%zu] = %lld is out of range", src, c, (long long)kc);
		p->k[c] = (int32_t)kc;
		p->off[c] = at;
		at += (size_t)kc;
	}
	p->off[C] = at;
	if (at != (size_t)K)
		return mp_error("%s: 'basis' has %lld rows but 'k' adds up to %zu",
				src, (long long)K, at);
	return 0;
}

int masc_probe_load(struct masc_probe *p, const char *path)
{
	static const char *const members[] = { "k", "basis" };
	struct npz_bundle b;
	const char *src;
	memset(p, 0, sizeof *p);
	if (probe_stream_load(&b, path, "masc", members, 2, &src))
		return -1;
	const struct npz_array *k = npz_bundle_get(&b, "k");
	const struct npz_array *v = npz_bundle_get(&b, "basis");
	if (k->h.ndim != 1 || !is_int(k->h.dtype) || k->h.shape[0] < 1) {
		mp_error("%s: member 'k' must be a non-empty 1-D integer array", src);
		goto fail;
	}
	if (validate_float(&v->h, src, "basis"))
		goto fail;
	if (v->h.ndim != 2 || v->h.shape[1] < 1) {
		mp_error("%s: member 'basis' must be a 2-D float array (sum k, D)", src);
		goto fail;
	}
	if (k->h.shape[0] > (1 << 20)) {
		mp_error("%s: member 'k' has too many classes (%lld)", src,
			 (long long)k->h.shape[0]);
		goto fail;
	}
	p->classes = (int)k->h.shape[0];
	p->dim = (size_t)v->h.shape[1];
	if (load_k(p, k, v->h.shape[0], src))
		goto fail;
	size_t KD = p->off[p->classes] * p->dim;
	p->basis = xaligned_calloc(KD > 0 ? KD : 1, sizeof *p->basis);
	p->basis32 = xaligned_calloc(KD > 0 ? KD : 1, sizeof *p->basis32);
	if (probe_stream_f64(&b, "basis", src, p->dim, p->basis))
		goto fail;
	for (size_t i = 0; i < KD; i++)
		p->basis32[i] = (float)p->basis[i];
	p->meta = b.meta;
	memset(&b.meta, 0, sizeof b.meta);
	npz_bundle_release(&b);
	return 0;
fail:
	npz_bundle_release(&b);
	masc_probe_release(p);
	return -1;
}

struct score_job {
	const struct masc_probe *p;
	const float *x;          /* (n, D) */
	size_t n, sb;            /* rows, rows per task */
	float *score;            /* (n, C) */
	int32_t *pred;           /* (n) */
	const double *err;       /* (C) bound on each cosine's float32 error */
	size_t kmax;
};

/* Rows [t*sb, t*sb + sb) of a score_job: one task of the par_for pool.
 * First every cosine from the float32 projections; then, for the rows
 * where another class comes within the error bounds of the best, the
 * cosines of those candidate classes again in double, class by class with
 * one dgemm over the rows that need it (the basis is read once per task,
 * not once per row). */
static void score_rows(void *ctx, size_t t)
{
	const struct score_job *j = ctx;
	const struct masc_probe *p = j->p;
	size_t C = (size_t)p->classes, D = p->dim, K = p->off[C];
	size_t r0 = t * j->sb, m = j->n - r0 < j->sb ? j->n - r0 : j->sb;
	const double *err = j->err;
	float *proj = xaligned_calloc(m * K > 0 ? m * K : 1, sizeof *proj);
	double *cs = xcalloc(m * C, sizeof *cs), *norm = xcalloc(m, sizeof *norm);
	unsigned char *cand = xcalloc(m * C, 1);
	size_t *rows = xcalloc(m, sizeof *rows), nref = 0;

	if (K)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)K, (int)D,
			    1.0f, j->x + r0 * D, (int)D, p->basis32, (int)D, 0.0f, proj,
			    (int)K);
	for (size_t i = 0; i < m; i++) {
		const float *xi = j->x + (r0 + i) * D;
		double nn = 0, *ci = cs + i * C;
		for (size_t k = 0; k < D; k++)
			nn += (double)xi[k] * xi[k];
		norm[i] = sqrt(nn);
		if (nn == 0 || !K)
			continue;                /* cosines 0, class 0 */
		const float *pi = proj + i * K;
		size_t best = 0;
		for (size_t c = 0; c < C; c++) {
			double ss = 0;
			for (size_t k = p->off[c]; k < p->off[c + 1]; k++)
				ss += (double)pi[k] * pi[k];
			ci[c] = sqrt(ss) / norm[i];
			if (ci[c] > ci[best])
				best = c;
		}
		double lo = ci[best] - err[best];
		int close = 0;
		for (size_t c = 0; c < C; c++)
			if (c != best && ci[c] + err[c] >= lo)
				close = cand[i * C + c] = 1;
		if (close) {
			cand[i * C + best] = 1;
			rows[nref++] = i;
		}
	}
	if (nref) {
		double *xd = xaligned_calloc(nref * D, sizeof *xd);
		double *pr = xaligned_calloc(nref * (j->kmax ? j->kmax : 1), sizeof *pr);
		size_t *sel = xcalloc(nref, sizeof *sel);
		for (size_t c = 0; c < C; c++) {
			size_t ns = 0, k = (size_t)p->k[c];
			for (size_t r = 0; r < nref; r++)
				if (cand[rows[r] * C + c]) {
					const float *xi = j->x + (r0 + rows[r]) * D;
					for (size_t q = 0; q < D; q++)
						xd[ns * D + q] = xi[q];
					sel[ns++] = rows[r];
				}
			if (!ns)
				continue;
			if (k)
				cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, (int)k,
					    (int)D, 1.0, xd, (int)D, p->basis + p->off[c] * D,
					    (int)D, 0.0, pr, (int)k);
			for (size_t r = 0; r < ns; r++) {
				double ss = 0;
				for (size_t q = 0; q < k; q++)
					ss += pr[r * k + q] * pr[r * k + q];
				cs[sel[r] * C + c] = sqrt(ss) / norm[sel[r]];
			}
		}
		free(xd);
		free(pr);
		free(sel);
	}
	/* Non-candidates cannot beat the best candidate's exact cosine, so
	 * the argmax over all is the double-precision one. */
	for (size_t i = 0; i < m; i++) {
		const double *ci = cs + i * C;
		float *si = j->score + (r0 + i) * C;
		size_t best = 0;
		for (size_t c = 0; c < C; c++) {
			si[c] = (float)ci[c];
			if (ci[c] > ci[best])
				best = c;
		}
		j->pred[r0 + i] = (int32_t)best;
	}
	free(proj);
	free(cs);
	free(norm);
	free(cand);
	free(rows);
}

int masc_score(void *ctx, const float *x, size_t n, float *score, int32_t *pred)
{
	const struct masc_probe *p = ctx;
	size_t C = (size_t)p->classes, D = p->dim, K = p->off[C];
	struct score_job j = { p, x, n, 0, score, pred, NULL, 0 };
	double *err = xcalloc(C, sizeof *err);
	double u = ldexp(1.0, -24), g = (double)(D + 2) * u;
	/* Beyond this the bound means nothing: decide every row in double. */
	double e1 = g < 0.5 ? 1.01 * g / (1 - g) : INFINITY;
	for (size_t c = 0; c < C; c++) {
		err[c] = e1 * sqrt((double)p->k[c]);
		if ((size_t)p->k[c] > j.kmax)
			j.kmax = (size_t)p->k[c];
	}
	j.err = err;
	/* Tasks of a fixed number of rows (never a function of the thread
	 * count): each row's result is the same however they are shared. */
	j.sb = K ? PROJ_BYTES / (K * sizeof(float)) : SCORE_ROWS;
	if (j.sb > SCORE_ROWS)
		j.sb = SCORE_ROWS;
	if (j.sb < 1)
		j.sb = 1;
	if (n)
		par_for((n + j.sb - 1) / j.sb, score_rows, &j);
	free(err);
	return 0;
}

int masc_score_exact(const struct masc_probe *p, const double *x, size_t n,
		     double *score, int32_t *pred)
{
	size_t C = (size_t)p->classes, D = p->dim, K = p->off[C];
	double *proj = xaligned_calloc(K ? K : 1, sizeof *proj);
	for (size_t i = 0; i < n; i++) {
		const double *xi = x + i * D;
		double *si = score + i * C, nn = 0;
		for (size_t j = 0; j < D; j++)
			nn += xi[j] * xi[j];
		size_t best = 0;
		if (K)
			cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)K, (int)D, 1.0,
				    p->basis, (int)D, xi, 1, 0.0, proj, 1);
		for (size_t c = 0; c < C; c++) {
			double ss = 0;
			for (size_t j = p->off[c]; j < p->off[c + 1]; j++)
				ss += proj[j] * proj[j];
			si[c] = nn > 0 ? sqrt(ss) / sqrt(nn) : 0;
			if (si[c] > si[best])
				best = c;
		}
		pred[i] = (int32_t)best;
	}
	free(proj);
	return 0;
}

int masc_quadratic_write(const struct masc_probe *p, const char *out, int level,
			 const struct meta *add)
{
	size_t C = (size_t)p->classes, D = p->dim;
	int64_t shape[3] = { (int64_t)C, (int64_t)D, (int64_t)D };
	struct npy_header h;
	struct meta m = META_INIT;
	struct npz_writer *w = NULL;
	double *q = NULL;
	int ret = -1;

	if (npy_header_init(&h, NPY_F8, 3, shape))
		return -1;
	meta_merge(&m, &p->meta);
	if (add)
		meta_merge(&m, add);
	if (!(w = npz_writer_open(out, level)))
		goto out;
	q = xaligned_calloc(D * D, sizeof *q);
	if (npz_writer_add_meta(w, &m) || npz_writer_begin(w, "q", &h))
		goto out;
	for (size_t c = 0; c < C; c++) {
		size_t k = (size_t)p->k[c];
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)D, (int)k, 1.0,
			    p->basis + p->off[c] * D, (int)D, 0.0, q, (int)D);
		if (!k)
			memset(q, 0, D * D * sizeof *q);
		for (size_t i = 0; i < D; i++)
			for (size_t j = 0; j < i; j++)
				q[i * D + j] = q[j * D + i];
		if (npz_writer_write(w, q, D * D * sizeof *q))
			goto out;
	}
	if (npz_writer_end(w))
		goto out;
	ret = npz_writer_close(w);
	w = NULL;
out:
	if (w)
		npz_writer_abort(w);
	free(q);
	meta_release(&m);
	return ret;
}

/* ---------------------------------------------------------------- registry */

static int masc_fit_run(const struct probe_run *r)
{
	return probe_fit_run(r, &r->fit, 1, masc_write);
}

static int masc_load(struct probe_scorer *sc, const char *path)
{
	struct masc_probe *p = xmalloc(sizeof *p);
	if (masc_probe_load(p, path)) {
		free(p);
		return -1;
	}
	*sc = (struct probe_scorer){ p->classes, p->dim, masc_score, p, &p->meta };
	return 0;
}

static void masc_unload(struct probe_scorer *sc)
{
	masc_probe_release(sc->ctx);
	free(sc->ctx);
}

const struct probe_kind probe_masc = {
	"masc", "MASC",
	"the class whose principal subspace is at the smallest angle to the row",
	"k int32 (C), basis float64 (sum k, D)",
	PROBE_KIND_K_RULE, masc_fit_run, masc_load, masc_unload,
};
