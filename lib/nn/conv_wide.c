/*
 * conv_wide.c: convolution as one product over the whole batch, for layers
 * whose weights outweigh their activations (ResNet-18's layer3 and layer4
 * on CIFAR-sized input: 2x2 to 4x4 maps, 256 to 512 channels).
 *
 * conv.c's per-group scheme multiplies a few samples' columns at a time;
 * on small maps that makes the weight-gradient products thin (K = a few
 * dozen columns) and leaves one full-size weight-gradient partial per
 * group to write and sum. Here the columns of all B samples are laid side
 * by side (CKK, B*OH*OW) and each of the three products is a single
 * gemm() (tiled over the thread pool by rows and columns of the result),
 * so the weight gradient is written once. Per-sample work (im2col, the
 * layout changes, col2im) runs one task per sample range. Everything
 * depends on the shape alone, so results do not depend on the thread
 * count.
 *
 * Scratch: col (CKK, B*OHW), then the output or its gradient laid out as
 * (OC, B*OHW). conv2d_wide_fits() accepts a shape only when that fits in
 * the space conv2d_scratch_floats() reserves for conv.c's weight-gradient
 * partials, so the callers' scratch is always large enough.
 */
#include "nn.h"

#include <string.h>

#include "gemm.h"
#include "par.h"

static size_t ckk(const struct conv2d_dims *d)
{
	return (size_t)d->C * d->KH * d->KW;
}

static size_t ohw(const struct conv2d_dims *d)
{
	return (size_t)d->OH * d->OW;
}

int conv2d_wide_fits(const struct conv2d_dims *d)
{
	size_t groups = ((size_t)d->B + d->group - 1) / d->group;
	size_t need = (ckk(d) + (size_t)d->OC) * (size_t)d->B * ohw(d);
	return groups > 1 && need <= groups * ((size_t)d->OC * ckk(d) + d->OC);
}

struct wide_job {
	const struct conv2d_dims *d;
	float *col, *res;               /* (CKK, N), (OC, N); N = B*OHW */
	float *out, *din, *db;
	const float *in, *b, *dout, *outv;
	int relu;
	size_t ntasks;
};

/* The output columns ow whose input column iw = ow*stride - pad + kw lies
 * inside [0, W): [*lo, *hi). */
static void valid_cols(const struct conv2d_dims *d, int kw, int *lo, int *hi)
{
	int a = d->pad - kw, b = d->W + d->pad - kw;    /* ow*stride in [a, b) */
	*lo = a <= 0 ? 0 : (a + d->stride - 1) / d->stride;
	*hi = b <= 0 ? 0 : (b + d->stride - 1) / d->stride;
	*hi = *hi > d->OW ? d->OW : *hi;
	*lo = *lo > *hi ? *hi : *lo;
}

/* Columns of sample s in every row of col (CKK, N). */
static void im2col_one(float *col, const float *in, int s, const struct conv2d_dims *d)
{
	size_t n = (size_t)d->B * ohw(d), row = 0;
	const float *x = in + (size_t)s * d->C * d->H * d->W;
	for (int c = 0; c < d->C; c++)
		for (int kh = 0; kh < d->KH; kh++)
			for (int kw = 0; kw < d->KW; kw++, row++) {
				float *dst = col + row * n + (size_t)s * ohw(d);
				const float *plane = x + (size_t)c * d->H * d->W;
				int lo, hi;
				valid_cols(d, kw, &lo, &hi);
				for (int oh = 0; oh < d->OH; oh++) {
					int ih = oh * d->stride - d->pad + kh;
					float *o = dst + (size_t)oh * d->OW;
					if (ih < 0 || ih >= d->H) {
						memset(o, 0, (size_t)d->OW * sizeof *o);
						continue;
					}
					const float *src = plane + (size_t)ih * d->W;
					int off = kw - d->pad;
					for (int ow = 0; ow < lo; ow++)
						o[ow] = 0.0f;
					for (int ow = lo; ow < hi; ow++)
						o[ow] = src[ow * d->stride + off];
					for (int ow = hi; ow < d->OW; ow++)
						o[ow] = 0.0f;
				}
			}
}

/* din of sample s from its columns of col. */
static void col2im_one(float *din, const float *col, int s, const struct conv2d_dims *d)
{
	size_t n = (size_t)d->B * ohw(d), row = 0;
	float *x = din + (size_t)s * d->C * d->H * d->W;
	memset(x, 0, (size_t)d->C * d->H * d->W * sizeof *x);
	for (int c = 0; c < d->C; c++)
		for (int kh = 0; kh < d->KH; kh++)
			for (int kw = 0; kw < d->KW; kw++, row++) {
				const float *src = col + row * n + (size_t)s * ohw(d);
				float *plane = x + (size_t)c * d->H * d->W;
				int lo, hi;
				valid_cols(d, kw, &lo, &hi);
				for (int oh = 0; oh < d->OH; oh++) {
					int ih = oh * d->stride - d->pad + kh;
					if (ih < 0 || ih >= d->H)
						continue;
					const float *g = src + (size_t)oh * d->OW;
					float *o = plane + (size_t)ih * d->W;
					int off = kw - d->pad;
					for (int ow = lo; ow < hi; ow++)
						o[ow * d->stride + off] += g[ow];
				}
			}
}

static void samples(const struct wide_job *j, size_t t, int *s0, int *s1)
{
	size_t lo, hi;
	par_range((size_t)j->d->B, j->ntasks, t, &lo, &hi);
	*s0 = (int)lo;
	*s1 = (int)hi;
}

static void fwd_in_task(void *ctx, size_t t)
{
	const struct wide_job *j = ctx;
	int s0, s1;
	samples(j, t, &s0, &s1);
	for (int s = s0; s < s1; s++)
		im2col_one(j->col, j->in, s, j->d);
}

/* out (B, OC, OHW) <- res (OC, N) + bias, ReLU. */
static void fwd_out_task(void *ctx, size_t t)
{
	const struct wide_job *j = ctx;
	const struct conv2d_dims *d = j->d;
	size_t n = (size_t)d->B * ohw(d), hw = ohw(d);
	int s0, s1;
	samples(j, t, &s0, &s1);
	for (int s = s0; s < s1; s++)
		for (int oc = 0; oc < d->OC; oc++) {
			const float *r = j->res + (size_t)oc * n + (size_t)s * hw;
			float *o = j->out + ((size_t)s * d->OC + oc) * hw;
			float bias = j->b ? j->b[oc] : 0.0f;
			for (size_t p = 0; p < hw; p++) {
				float v = r[p] + bias;
				o[p] = j->relu && v < 0.0f ? 0.0f : v;
			}
		}
}

void conv2d_forward_wide(float *out, const float *in, const float *w, const float *b,
			 float *scratch, const struct conv2d_dims *d, int relu)
{
	size_t n = (size_t)d->B * ohw(d);
	struct wide_job j = { .d = d, .col = scratch, .res = scratch + ckk(d) * n,
			      .out = out, .in = in, .b = b, .relu = relu };
	j.ntasks = par_ntasks((size_t)d->B, 1);
	par_for(j.ntasks, fwd_in_task, &j);
	gemm(0, 0, d->OC, (int)n, (int)ckk(d), 1.0f, w, (int)ckk(d), j.col, (int)n,
	     0.0f, j.res, (int)n);
	par_for(j.ntasks, fwd_out_task, &j);
}

/* res (OC, N) <- dout (B, OC, OHW) masked by out > 0 with relu; im2col. */
static void bwd_in_task(void *ctx, size_t t)
{
	const struct wide_job *j = ctx;
	const struct conv2d_dims *d = j->d;
	size_t n = (size_t)d->B * ohw(d), hw = ohw(d);
	int s0, s1;
	samples(j, t, &s0, &s1);
	for (int s = s0; s < s1; s++) {
		for (int oc = 0; oc < d->OC; oc++) {
			size_t at = ((size_t)s * d->OC + oc) * hw;
			const float *g = j->dout + at, *o = j->outv + at;
			float *r = j->res + (size_t)oc * n + (size_t)s * hw;
			if (j->relu)
				for (size_t p = 0; p < hw; p++)
					r[p] = o[p] > 0.0f ? g[p] : 0.0f;
			else
				memcpy(r, g, hw * sizeof *r);
		}
		im2col_one(j->col, j->in, s, d);
	}
}

static void bwd_db_task(void *ctx, size_t t)
{
	const struct wide_job *j = ctx;
	const struct conv2d_dims *d = j->d;
	size_t n = (size_t)d->B * ohw(d), lo, hi;
	par_range((size_t)d->OC, j->ntasks, t, &lo, &hi);
	for (size_t oc = lo; oc < hi; oc++) {
		const float *r = j->res + oc * n;
		float s = 0;
		for (size_t p = 0; p < n; p++)
			s += r[p];
		j->db[oc] = s;
	}
}

static void bwd_out_task(void *ctx, size_t t)
{
	const struct wide_job *j = ctx;
	int s0, s1;
	samples(j, t, &s0, &s1);
	for (int s = s0; s < s1; s++)
		col2im_one(j->din, j->col, s, j->d);
}

void conv2d_backward_wide(float *din, float *dw, float *db, float *dout,
			  const float *in, const float *w, const float *out,
			  float *scratch, const struct conv2d_dims *d, int relu,
			  const struct nn_hook *hook)
{
	size_t n = (size_t)d->B * ohw(d), K = ckk(d);
	struct wide_job j = { .d = d, .col = scratch, .res = scratch + K * n,
			      .din = din, .db = db, .in = in, .dout = dout,
			      .outv = out, .relu = relu };
	j.ntasks = par_ntasks((size_t)d->B, 1);
	par_for(j.ntasks, bwd_in_task, &j);
	/* dW (OC, CKK) = res col^T; db = row sums of res. */
	gemm(0, 1, d->OC, (int)K, (int)n, 1.0f, j.res, (int)n, j.col, (int)n,
	     0.0f, dw, (int)K);
	if (db) {
		size_t keep = j.ntasks;
		j.ntasks = par_ntasks((size_t)d->OC, 64);
		par_for(j.ntasks, bwd_db_task, &j);
		j.ntasks = keep;
	}
	/* dcol (CKK, N) = W^T res, over col (no longer needed), before the
	 * hook lets the optimizer change W. */
	if (din)
		gemm(1, 0, (int)K, (int)n, d->OC, 1.0f, w, (int)K, j.res, (int)n,
		     0.0f, j.col, (int)n);
	if (hook) {
		hook->fn(hook->ctx, dw, (size_t)d->OC * K);
		if (db)
			hook->fn(hook->ctx, db, (size_t)d->OC);
	}
	if (din)
		par_for(j.ntasks, bwd_out_task, &j);
}
