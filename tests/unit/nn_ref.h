/*
 * nn_ref.h: the layers in double precision, straight from their
 * definitions, for the C unit tests that check the library against them
 * (test_nn.c layer by layer, test_resnet.c through a whole-model
 * interpreter). Written once, so that both files hold the library to the
 * same definition; slow and obvious on purpose.
 *
 *   lin_ref(out, in, w, b, B, I, O, relu);
 *   conv_ref(out, in, w, b, &conv_dims, relu);
 *   conv_taps(&conv_dims, fn, ctx);      the multiplies of each output
 *   pool_ref(out, in, &pool_dims, max);
 */
#ifndef MEMPROBE_NN_REF_H
#define MEMPROBE_NN_REF_H

#include <math.h>
#include <stddef.h>

#include "nn.h"
#include "util.h"

/* out (B, O) = in (B, I) . w (O, I)^T + b (O, or NULL), then ReLU. */
static inline void lin_ref(double *out, const double *in, const double *w, const double *b,
			   int B, int I, int O, int relu)
{
	for (int r = 0; r < B; r++)
		for (int o = 0; o < O; o++) {
			double s = b ? b[o] : 0;
			for (int i = 0; i < I; i++)
				s += in[(size_t)r * I + i] * w[(size_t)o * I + i];
			out[(size_t)r * O + o] = relu && s < 0 ? 0 : s;
		}
}

/* The input row (or column) that kernel offset k of output row o reads, in
 * an input of `size` rows: -1 in the padding. */
static inline int tap_at(int o, int k, int stride, int pad, int size)
{
	int i = o * stride - pad + k;
	return i >= 0 && i < size ? i : -1;
}

/* The multiplies of a convolution that make output element o (B, OC, OH,
 * OW): input element xi[t] (B, C, H, W) times weight wi[t] (OC, C, KH,
 * KW) for t < n, in (C, KH, KW) order, padding skipped. */
typedef void (*conv_taps_fn)(void *ctx, size_t o, const size_t *xi, const size_t *wi, size_t n);

/* fn for every output element of the convolution d, in order. */
static inline void conv_taps(const struct conv2d_dims *d, conv_taps_fn fn, void *ctx)
{
	size_t most = (size_t)d->C * d->KH * d->KW, o = 0;
	size_t *xi = xmallocarray(most, sizeof *xi), *wi = xmallocarray(most, sizeof *wi);
	for (int n = 0; n < d->B; n++)
		for (int oc = 0; oc < d->OC; oc++)
			for (int oh = 0; oh < d->OH; oh++)
				for (int ow = 0; ow < d->OW; ow++, o++) {
					size_t t = 0;
					for (int c = 0; c < d->C; c++)
						for (int kh = 0; kh < d->KH; kh++)
							for (int kw = 0; kw < d->KW; kw++) {
								int ih = tap_at(oh, kh, d->stride, d->pad, d->H);
								int iw = tap_at(ow, kw, d->stride, d->pad, d->W);
								if (ih < 0 || iw < 0)
									continue;
								xi[t] = (((size_t)n * d->C + c) * d->H + ih) * d->W + iw;
								wi[t++] = (((size_t)oc * d->C + c) * d->KH + kh) * d->KW + kw;
							}
					fn(ctx, o, xi, wi, t);
				}
	free(xi);
	free(wi);
}

/* The output channel of output element o. */
static inline int conv_channel(const struct conv2d_dims *d, size_t o)
{
	return (int)(o / ((size_t)d->OH * d->OW) % (size_t)d->OC);
}

struct conv_ref_ctx { const struct conv2d_dims *d; double *out; const double *in, *w, *b; int relu; };

static inline void conv_ref_taps(void *ctx, size_t o, const size_t *xi, const size_t *wi, size_t n)
{
	struct conv_ref_ctx *c = ctx;
	double s = c->b ? c->b[conv_channel(c->d, o)] : 0;
	for (size_t t = 0; t < n; t++)
		s += c->in[xi[t]] * c->w[wi[t]];
	c->out[o] = c->relu && s < 0 ? 0 : s;
}

/* out (B, OC, OH, OW) = conv(in (B, C, H, W), w (OC, C, KH, KW)) + b (OC,
 * or NULL), then ReLU. */
static inline void conv_ref(double *out, const double *in, const double *w, const double *b,
			    const struct conv2d_dims *d, int relu)
{
	struct conv_ref_ctx c = { d, out, in, w, b, relu };
	conv_taps(d, conv_ref_taps, &c);
}

struct pool_ref_ctx { double *out; const double *in; int max, K; };

static inline void pool_ref_taps(void *ctx, size_t o, const size_t *xi, const size_t *wi, size_t n)
{
	struct pool_ref_ctx *c = ctx;
	double m = -INFINITY, s = 0;
	for (size_t t = 0; t < n; t++) {
		double v = c->in[xi[t]];
		m = v > m ? v : m;
		s += v;
	}
	c->out[o] = c->max ? m : s / (c->K * c->K);
}

/* Max (max != 0) or average pooling of in (B, C, H, W) into out (B, C, OH,
 * OW); padding never wins a max and counts as zeros in an average. A
 * window is what a one-channel convolution of each plane multiplies. */
static inline void pool_ref(double *out, const double *in, const struct pool2d_dims *d, int max)
{
	struct conv2d_dims planes = {
		.B = d->B * d->C, .C = 1, .H = d->H, .W = d->W, .OC = 1, .KH = d->K, .KW = d->K,
		.stride = d->stride, .pad = d->pad, .OH = d->OH, .OW = d->OW,
	};
	struct pool_ref_ctx c = { out, in, max, d->K };
	conv_taps(&planes, pool_ref_taps, &c);
}

#endif
