/*
 * velpic.c: VeLPIC, the linear probe: per class the unit top eigenvector
 * v_c of S_c (the one-component fit of probe.c), its sign chosen so that
 * the mean of x . v_c over ALL training rows is non-negative, and the
 * prediction argmax_c v_c . x (no bias, no normalisation).
 *
 * The sign rule uses the column sums of all training rows gathered during
 * the fit: mean_i x_i . v_c >= 0  <=>  (sum_i x_i) . v_c >= 0 (an exact
 * zero keeps LAPACK's sign). Scores are float32 dot products computed by
 * sgemm, the same arithmetic as a network's final linear layer carrying
 * these vectors (see transplant).
 */
#include "probe.h"
#include "probes.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "npz.h"
#include "util.h"
#include "validate.h"

void velpic_vectors(const struct probe_fit *f, float *w)
{
	size_t D = f->dim, at = 0;
	for (int c = 0; c < f->classes; c++) {
		float *wc = w + (size_t)c * D;
		size_t k = (size_t)f->k[c];
		if (!k) {
			memset(wc, 0, D * sizeof *wc);
			continue;
		}
		const double *v = f->basis + at * D;
		double s = 0;
		for (size_t j = 0; j < D; j++)
			s += v[j] * f->colsum[j];
		double sign = s < 0 ? -1.0 : 1.0;
		for (size_t j = 0; j < D; j++)
			wc[j] = (float)(sign * v[j]);
		at += k;
	}
}

int velpic_write(const struct probe_fit *f, const struct probe_fit_opts *o,
		 const char *out, int level, const struct meta *add)
{
	struct meta m = META_INIT;
	float *v = xaligned_calloc((size_t)f->classes * f->dim, sizeof *v);
	struct probe_member w = { "w", { 0 }, v };
	int ret = -1;

	velpic_vectors(f, v);
	meta_merge(&m, &f->meta);
	probe_meta_fit(&m, f, o, "velpic");
	if (add)
		meta_merge(&m, add);
	if (!npy_header_2d(&w.h, NPY_F4, f->classes, (int64_t)f->dim))
		ret = probe_stream_write(out, level, &m, &w, 1);
	free(v);
	meta_release(&m);
	return ret;
}

void velpic_probe_release(struct velpic_probe *p)
{
	free(p->w);
	meta_release(&p->meta);
	memset(p, 0, sizeof *p);
}

int velpic_probe_load(struct velpic_probe *p, const char *path)
{
	static const char *const members[] = { "w" };
	struct npz_bundle b;
	const char *src;
	double *w = NULL;
	memset(p, 0, sizeof *p);
	if (probe_stream_load(&b, path, "velpic", members, 1, &src))
		return -1;
	const struct npz_array *a = npz_bundle_get(&b, "w");
	if (validate_float(&a->h, src, "w"))
		goto fail;
	if (a->h.ndim != 2 || a->h.shape[0] < 1 || a->h.shape[1] < 1 || a->h.shape[0] > (1 << 20)) {
		mp_error("%s: member 'w' must be a non-empty 2-D float array (C, D)", src);
		goto fail;
	}
	p->classes = (int)a->h.shape[0];
	p->dim = (size_t)a->h.shape[1];
	w = xmallocarray(a->h.count, sizeof *w);
	if (probe_stream_f64(&b, "w", src, p->dim, w))
		goto fail;
	p->w = xaligned_calloc(a->h.count, sizeof *p->w);
	for (size_t i = 0; i < a->h.count; i++)
		if (!isfinite(p->w[i] = (float)w[i])) {   /* float64 beyond float32 */
			mp_error("%s: 'w' has a non-finite value in row %zu", src, i / p->dim);
			goto fail;
		}
	free(w);
	p->meta = b.meta;
	memset(&b.meta, 0, sizeof b.meta);
	npz_bundle_release(&b);
	return 0;
fail:
	free(w);
	npz_bundle_release(&b);
	velpic_probe_release(p);
	return -1;
}

int velpic_score(void *ctx, const float *x, size_t n, float *score, int32_t *pred)
{
	const struct velpic_probe *p = ctx;
	size_t C = (size_t)p->classes, D = p->dim;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)C, (int)D,
		    1.0f, x, (int)D, p->w, (int)D, 0.0f, score, (int)C);
	for (size_t i = 0; i < n; i++)
		pred[i] = nn_argmax(score + i * C, (int)C);
	return 0;
}

/* ---------------------------------------------------------------- registry */

/* One component per class, whatever the k rule asked. */
static int velpic_fit_run(const struct probe_run *r)
{
	struct probe_fit_opts o = r->fit;
	o.components = 1;
	return probe_fit_run(r, &o, 0, velpic_write);
}

static int velpic_load(struct probe_scorer *sc, const char *path)
{
	struct velpic_probe *p = xmalloc(sizeof *p);
	if (velpic_probe_load(p, path)) {
		free(p);
		return -1;
	}
	*sc = (struct probe_scorer){ p->classes, p->dim, velpic_score, p, &p->meta };
	return 0;
}

static void velpic_unload(struct probe_scorer *sc)
{
	velpic_probe_release(sc->ctx);
	free(sc->ctx);
}

const struct probe_kind probe_velpic = {
	"velpic", "VeLPIC",
	"the class whose sign-fixed top eigenvector has the largest dot product with the row",
	"w float32 (C, D)",
	0, velpic_fit_run, velpic_load, velpic_unload,
};
