/*
 * batchnorm.c: BatchNorm2d with PyTorch's semantics, forward with batch
 * statistics (training) or running statistics (evaluation), and the full
 * backward pass through the batch mean and variance.
 *
 * A channel's values are strided across the batch ((B, C, HW) layout), so
 * work is split by channel ranges: every channel is reduced by one task in
 * a fixed order, in double precision, and results do not depend on the
 * thread count.
 */
#include "nn.h"

#include <math.h>
#include <string.h>

#include "par.h"
#include "util.h"

struct bn_job {
	float *out, *din, *dgamma, *dbeta, *dout, *save, *rmean, *rvar;
	const float *in, *gamma, *beta, *outv, *crmean, *crvar, *csave;
	int B, C, HW, relu, batch_stats;
	size_t ntasks;
};

static size_t bn_tasks(int B, int C, int HW)
{
	/* About 64k values per task; a channel is never split. */
	size_t per = (size_t)B * HW, grain = per >= 65536 ? 1 : 65536 / per;
	return par_ntasks((size_t)C, grain);
}

/* Sums in double with four accumulators (the order is fixed: results
 * depend on n only), so that the loops are not one long dependency chain. */
static double sum_d(const float *restrict x, size_t n)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t p = 0;
	for (; p + 4 <= n; p += 4) {
		s0 += x[p];
		s1 += x[p + 1];
		s2 += x[p + 2];
		s3 += x[p + 3];
	}
	for (; p < n; p++)
		s0 += x[p];
	return (s0 + s1) + (s2 + s3);
}

static double sumsq_d(const float *restrict x, size_t n, double mean)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0, d0, d1, d2, d3;
	size_t p = 0;
	for (; p + 4 <= n; p += 4) {
		d0 = x[p] - mean;
		d1 = x[p + 1] - mean;
		d2 = x[p + 2] - mean;
		d3 = x[p + 3] - mean;
		s0 += d0 * d0;
		s1 += d1 * d1;
		s2 += d2 * d2;
		s3 += d3 * d3;
	}
	for (; p < n; p++) {
		d0 = x[p] - mean;
		s0 += d0 * d0;
	}
	return (s0 + s1) + (s2 + s3);
}

/* sum dy and sum dy*(x - mean), in double. */
static void sums_dy(const float *restrict dy, const float *restrict x, size_t n,
		    double mean, double *sdy, double *sdyx)
{
	double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
	size_t p = 0;
	for (; p + 2 <= n; p += 2) {
		a0 += dy[p];
		a1 += dy[p + 1];
		b0 += dy[p] * (x[p] - mean);
		b1 += dy[p + 1] * (x[p + 1] - mean);
	}
	for (; p < n; p++) {
		a0 += dy[p];
		b0 += dy[p] * (x[p] - mean);
	}
	*sdy += a0 + a1;
	*sdyx += b0 + b1;
}

/* Blocks of 16 with a constant trip count, so that -O2's cautious
 * vectoriser (no epilogues) takes them; the rest one by one. */
#define BN_BLOCK 16

static void affine(float *restrict y, const float *restrict x, size_t n,
		   float scale, float shift, int relu)
{
	size_t p = 0;
	if (relu) {
		for (; p + BN_BLOCK <= n; p += BN_BLOCK)
			for (int k = 0; k < BN_BLOCK; k++) {
				float v = x[p + k] * scale + shift;
				y[p + k] = v < 0.0f ? 0.0f : v;
			}
		for (; p < n; p++) {
			float v = x[p] * scale + shift;
			y[p] = v < 0.0f ? 0.0f : v;
		}
	} else {
		for (; p + BN_BLOCK <= n; p += BN_BLOCK)
			for (int k = 0; k < BN_BLOCK; k++)
				y[p + k] = x[p + k] * scale + shift;
		for (; p < n; p++)
			y[p] = x[p] * scale + shift;
	}
}

/* dy = 0 where the ReLU's output is not positive. */
static void mask(float *restrict dy, const float *restrict o, size_t n)
{
	size_t p = 0;
	for (; p + BN_BLOCK <= n; p += BN_BLOCK)
		for (int k = 0; k < BN_BLOCK; k++)
			dy[p + k] = o[p + k] > 0.0f ? dy[p + k] : 0.0f;
	for (; p < n; p++)
		dy[p] = o[p] > 0.0f ? dy[p] : 0.0f;
}

/* dx = (dy - mdy) k - ((x - mean) invstd) km. */
static void input_grad(float *restrict dx, const float *restrict dy,
		       const float *restrict x, size_t n, float mdy, float k,
		       float mean, float invstd, float km)
{
	size_t p = 0;
	for (; p + BN_BLOCK <= n; p += BN_BLOCK)
		for (int q = 0; q < BN_BLOCK; q++)
			dx[p + q] = (dy[p + q] - mdy) * k - ((x[p + q] - mean) * invstd) * km;
	for (; p < n; p++)
		dx[p] = (dy[p] - mdy) * k - ((x[p] - mean) * invstd) * km;
}

/* y = x * scale + shift over channel c of every sample. */
static void bn_apply(const struct bn_job *j, int c, float scale, float shift)
{
	size_t HW = (size_t)j->HW;
	for (int b = 0; b < j->B; b++) {
		size_t at = ((size_t)b * j->C + c) * HW;
		affine(j->out + at, j->in + at, HW, scale, shift, j->relu);
	}
}

static void fwd_batch_task(void *ctx, size_t t)
{
	const struct bn_job *j = ctx;
	size_t c0, c1, HW = (size_t)j->HW;
	double N = (double)j->B * (double)j->HW;
	par_range((size_t)j->C, j->ntasks, t, &c0, &c1);
	for (size_t c = c0; c < c1; c++) {
		double s = 0, v = 0;
		for (int b = 0; b < j->B; b++)
			s += sum_d(j->in + ((size_t)b * j->C + c) * HW, HW);
		double mean = s / N;
		for (int b = 0; b < j->B; b++)
			v += sumsq_d(j->in + ((size_t)b * j->C + c) * HW, HW, mean);
		double var = v / N, invstd = 1.0 / sqrt(var + BN_EPS);
		j->save[c] = (float)mean;
		j->save[j->C + c] = (float)invstd;
		if (j->rmean) {
			/* PyTorch raises an error for a single value per
			 * channel; here its variance just counts as biased. */
			double unbiased = N > 1 ? v / (N - 1) : var;
			j->rmean[c] = (float)((1 - BN_MOMENTUM) * j->rmean[c] + BN_MOMENTUM * mean);
			j->rvar[c] = (float)((1 - BN_MOMENTUM) * j->rvar[c] + BN_MOMENTUM * unbiased);
		}
		double scale = j->gamma[c] * invstd;
		bn_apply(j, (int)c, (float)scale, (float)(j->beta[c] - mean * scale));
	}
}

void batchnorm2d_forward_batch(float *out, float *save, const float *in,
			       const float *gamma, const float *beta,
			       float *running_mean, float *running_var,
			       int B, int C, int HW, int relu)
{
	MP_ASSERT(!running_mean == !running_var);
	struct bn_job j = { .out = out, .save = save, .in = in, .gamma = gamma,
			    .beta = beta, .rmean = running_mean, .rvar = running_var,
			    .B = B, .C = C, .HW = HW, .relu = relu };
	j.ntasks = bn_tasks(B, C, HW);
	par_for(j.ntasks, fwd_batch_task, &j);
}

static void fwd_eval_task(void *ctx, size_t t)
{
	const struct bn_job *j = ctx;
	size_t c0, c1;
	par_range((size_t)j->C, j->ntasks, t, &c0, &c1);
	for (size_t c = c0; c < c1; c++) {
		double invstd = 1.0 / sqrt((double)j->crvar[c] + BN_EPS);
		double scale = j->gamma[c] * invstd;
		j->save[c] = j->crmean[c];
		j->save[j->C + c] = (float)invstd;
		bn_apply(j, (int)c, (float)scale, (float)(j->beta[c] - j->crmean[c] * scale));
	}
}

void batchnorm2d_forward_eval(float *out, float *save, const float *in,
			      const float *gamma, const float *beta,
			      const float *running_mean, const float *running_var,
			      int B, int C, int HW, int relu)
{
	struct bn_job j = { .out = out, .save = save, .in = in, .gamma = gamma,
			    .beta = beta, .crmean = running_mean, .crvar = running_var,
			    .B = B, .C = C, .HW = HW, .relu = relu };
	j.ntasks = bn_tasks(B, C, HW);
	par_for(j.ntasks, fwd_eval_task, &j);
}

static void bwd_task(void *ctx, size_t t)
{
	const struct bn_job *j = ctx;
	size_t c0, c1, HW = (size_t)j->HW;
	double N = (double)j->B * (double)j->HW;
	par_range((size_t)j->C, j->ntasks, t, &c0, &c1);
	for (size_t c = c0; c < c1; c++) {
		double mean = j->csave[c], invstd = j->csave[j->C + c];
		double sdy = 0, sdyx = 0;
		for (int b = 0; b < j->B; b++) {
			size_t at = ((size_t)b * j->C + c) * HW;
			float *restrict dy = j->dout + at;
			const float *restrict o = j->outv + at;
			if (j->relu)
				mask(dy, o, HW);
			sums_dy(dy, j->in + at, HW, mean, &sdy, &sdyx);
		}
		sdyx *= invstd;         /* sum dy * xhat */
		j->dgamma[c] = (float)sdyx;
		j->dbeta[c] = (float)sdy;
		if (!j->din)
			continue;
		double k = j->gamma[c] * invstd;
		/* din = k (dy - mean(dy) - xhat mean(dy xhat)) with batch
		 * statistics, k dy with fixed ones. */
		float fk = (float)k, fmean = (float)mean, finv = (float)invstd;
		float fmdy = j->batch_stats ? (float)(sdy / N) : 0.0f;
		float fkm = j->batch_stats ? (float)(k * sdyx / N) : 0.0f;
		for (int b = 0; b < j->B; b++) {
			size_t at = ((size_t)b * j->C + c) * HW;
			const float *restrict x = j->in + at, *restrict dy = j->dout + at;
			float *restrict dx = j->din + at;
			input_grad(dx, dy, x, HW, fmdy, fk, fmean, finv, fkm);
		}
	}
}

void batchnorm2d_backward(float *din, float *dgamma, float *dbeta, float *dout,
			  const float *in, const float *gamma, const float *out,
			  const float *save, int B, int C, int HW, int batch_stats,
			  int relu, const struct nn_hook *hook)
{
	struct bn_job j = { .din = din, .dgamma = dgamma, .dbeta = dbeta,
			    .dout = dout, .in = in, .gamma = gamma, .outv = out,
			    .csave = save, .B = B, .C = C, .HW = HW, .relu = relu,
			    .batch_stats = batch_stats };
	j.ntasks = bn_tasks(B, C, HW);
	par_for(j.ntasks, bwd_task, &j);
	if (hook) {
		hook->fn(hook->ctx, dgamma, (size_t)C);
		hook->fn(hook->ctx, dbeta, (size_t)C);
	}
}
