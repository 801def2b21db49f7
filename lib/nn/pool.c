/*
 * pool.c: 2-D max and average pooling (square windows), PyTorch semantics:
 * floor mode, padding that never wins a max (max) or counts as zeros in
 * the divisor (average, count_include_pad). One task per channel plane
 * range.
 */
#include "nn.h"

#include <math.h>
#include <string.h>

#include "par.h"
#include "util.h"

int pool2d_dims_init(struct pool2d_dims *d, int B, int C, int H, int W,
		     int K, int stride, int pad)
{
	memset(d, 0, sizeof *d);
	if (B < 1 || C < 1 || H < 1 || W < 1 || K < 1 || stride < 1 || pad < 0
	    || pad > K / 2)
		return mp_error("invalid pooling dimensions");
	long oh = ((long)H + 2L * pad - K) / stride + 1;
	long ow = ((long)W + 2L * pad - K) / stride + 1;
	if ((long)H + 2L * pad < K || (long)W + 2L * pad < K || oh < 1 || ow < 1)
		return mp_error("input %dx%d is too small for %dx%d pooling", H, W, K, K);
	*d = (struct pool2d_dims){ B, C, H, W, K, stride, pad, (int)oh, (int)ow };
	return 0;
}

struct pool_job {
	const struct pool2d_dims *d;
	float *out, *din;
	const float *in, *dout;
	int32_t *arg;
	const int32_t *carg;
	size_t n;
};

static size_t planes(const struct pool2d_dims *d)
{
	return (size_t)d->B * d->C;
}

static size_t pool_tasks(const struct pool2d_dims *d)
{
	size_t work = planes(d) * d->H * d->W;
	return work < 65536 ? 1 : par_ntasks(planes(d), 16);
}

static void max_fwd_task(void *ctx, size_t t)
{
	const struct pool_job *j = ctx;
	const struct pool2d_dims *d = j->d;
	size_t p0, p1;
	par_range(planes(d), j->n, t, &p0, &p1);
	for (size_t p = p0; p < p1; p++) {
		const float *in = j->in + p * d->H * d->W;
		float *out = j->out + p * d->OH * d->OW;
		int32_t *arg = j->arg + p * d->OH * d->OW;
		if (d->K == 2 && d->stride == 2 && d->pad == 0) {
			/* The CNN's pooling: four loads and three selects. */
			for (int oh = 0; oh < d->OH; oh++)
				for (int ow = 0; ow < d->OW; ow++) {
					int i0 = 2 * oh * d->W + 2 * ow, i2 = i0 + d->W;
					float m = in[i0], v;
					int best = i0, take;
#define MAXPOOL_TAKE(idx) v = in[idx]; take = (v > m) | (v != v); \
					m = take ? v : m; best = take ? (idx) : best;
					MAXPOOL_TAKE(i0 + 1)
					MAXPOOL_TAKE(i2)
					MAXPOOL_TAKE(i2 + 1)
#undef MAXPOOL_TAKE
					out[oh * d->OW + ow] = m;
					arg[oh * d->OW + ow] = best;
				}
			continue;
		}
		for (int oh = 0; oh < d->OH; oh++)
			for (int ow = 0; ow < d->OW; ow++) {
				int h0 = oh * d->stride - d->pad, w0 = ow * d->stride - d->pad;
				int h1 = h0 + d->K, w1 = w0 + d->K;
				h0 = h0 < 0 ? 0 : h0;
				w0 = w0 < 0 ? 0 : w0;
				h1 = h1 > d->H ? d->H : h1;
				w1 = w1 > d->W ? d->W : w1;
				/* Selects, not branches (the maximum's position is
				 * unpredictable): the first maximum wins, a NaN
				 * wins over numbers (the last NaN, as PyTorch). */
				int best = h0 * d->W + w0;
				float m = -INFINITY;
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++) {
						float v = in[h * d->W + w];
						int take = (v > m) | (v != v);
						m = take ? v : m;
						best = take ? h * d->W + w : best;
					}
				out[oh * d->OW + ow] = in[best];
				arg[oh * d->OW + ow] = best;
			}
	}
}

void maxpool2d_forward(float *out, int32_t *arg, const float *in,
		       const struct pool2d_dims *d)
{
	struct pool_job j = { .d = d, .out = out, .in = in, .arg = arg };
	j.n = pool_tasks(d);
	par_for(j.n, max_fwd_task, &j);
}

static void max_bwd_task(void *ctx, size_t t)
{
	const struct pool_job *j = ctx;
	const struct pool2d_dims *d = j->d;
	size_t p0, p1;
	par_range(planes(d), j->n, t, &p0, &p1);
	for (size_t p = p0; p < p1; p++) {
		float *din = j->din + p * d->H * d->W;
		const float *dout = j->dout + p * d->OH * d->OW;
		const int32_t *arg = j->carg + p * d->OH * d->OW;
		memset(din, 0, (size_t)d->H * d->W * sizeof *din);
		for (int i = 0; i < d->OH * d->OW; i++)
			din[arg[i]] += dout[i];
	}
}

void maxpool2d_backward(float *din, const float *dout, const int32_t *arg,
			const struct pool2d_dims *d)
{
	struct pool_job j = { .d = d, .din = din, .dout = dout, .carg = arg };
	j.n = pool_tasks(d);
	par_for(j.n, max_bwd_task, &j);
}

static void avg_fwd_task(void *ctx, size_t t)
{
	const struct pool_job *j = ctx;
	const struct pool2d_dims *d = j->d;
	size_t p0, p1;
	par_range(planes(d), j->n, t, &p0, &p1);
	for (size_t p = p0; p < p1; p++) {
		const float *in = j->in + p * d->H * d->W;
		float *out = j->out + p * d->OH * d->OW;
		for (int oh = 0; oh < d->OH; oh++)
			for (int ow = 0; ow < d->OW; ow++) {
				int h0 = oh * d->stride - d->pad, w0 = ow * d->stride - d->pad;
				int h1 = h0 + d->K, w1 = w0 + d->K;
				/* The divisor counts padding but not what lies
				 * beyond it (PyTorch's pool_size). */
				int hp = (h1 < d->H + d->pad ? h1 : d->H + d->pad) - h0;
				int wp = (w1 < d->W + d->pad ? w1 : d->W + d->pad) - w0;
				h0 = h0 < 0 ? 0 : h0;
				w0 = w0 < 0 ? 0 : w0;
				h1 = h1 > d->H ? d->H : h1;
				w1 = w1 > d->W ? d->W : w1;
				float s = 0;
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++)
						s += in[h * d->W + w];
				out[oh * d->OW + ow] = s / (float)(hp * wp);
			}
	}
}

void avgpool2d_forward(float *out, const float *in, const struct pool2d_dims *d)
{
	struct pool_job j = { .d = d, .out = out, .in = in };
	j.n = pool_tasks(d);
	par_for(j.n, avg_fwd_task, &j);
}

static void avg_bwd_task(void *ctx, size_t t)
{
	const struct pool_job *j = ctx;
	const struct pool2d_dims *d = j->d;
	size_t p0, p1;
	par_range(planes(d), j->n, t, &p0, &p1);
	for (size_t p = p0; p < p1; p++) {
		float *din = j->din + p * d->H * d->W;
		const float *dout = j->dout + p * d->OH * d->OW;
		memset(din, 0, (size_t)d->H * d->W * sizeof *din);
		for (int oh = 0; oh < d->OH; oh++)
			for (int ow = 0; ow < d->OW; ow++) {
				int h0 = oh * d->stride - d->pad, w0 = ow * d->stride - d->pad;
				int h1 = h0 + d->K, w1 = w0 + d->K;
				int hp = (h1 < d->H + d->pad ? h1 : d->H + d->pad) - h0;
				int wp = (w1 < d->W + d->pad ? w1 : d->W + d->pad) - w0;
				h0 = h0 < 0 ? 0 : h0;
				w0 = w0 < 0 ? 0 : w0;
				h1 = h1 > d->H ? d->H : h1;
				w1 = w1 > d->W ? d->W : w1;
				float g = dout[oh * d->OW + ow] / (float)(hp * wp);
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++)
						din[h * d->W + w] += g;
			}
	}
}

void avgpool2d_backward(float *din, const float *dout, const struct pool2d_dims *d)
{
	struct pool_job j = { .d = d, .din = din, .dout = dout };
	j.n = pool_tasks(d);
	par_for(j.n, avg_bwd_task, &j);
}
