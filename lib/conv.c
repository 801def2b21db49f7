/*
 * conv.c: 2-D convolution as im2col + sgemm.
 *
 * The batch is cut into groups of `group` samples (a function of the
 * layer's shape, about 1 MB of im2col columns), one task per group: the
 * columns of a whole group are multiplied at once, so the products are wide
 * even where the feature maps are small (7x7). Each task uses its thread's
 * slice of the scratch space. The weight gradient is summed over groups in
 * a fixed order, so it does not depend on the thread count either.
 *
 * Scratch layout: [threads x (col (CKK, G*OHW) + tmp (OC, G*OHW))]
 * [groups x (dW partial (OC*CKK) + db partial (OC))].
 */
#include "nn.h"

#include <string.h>

#include "gemm.h"
#include "par.h"
#include "util.h"

#define CONV_GROUP_FLOATS ((size_t)1 << 18)

int conv2d_dims_init(struct conv2d_dims *d, int B, int C, int H, int W,
		     int OC, int KH, int KW, int stride, int pad)
{
	memset(d, 0, sizeof *d);
	if (B < 1 || C < 1 || H < 1 || W < 1 || OC < 1 || KH < 1 || KW < 1
	    || stride < 1 || pad < 0)
		return mp_error("invalid convolution dimensions");
	long oh = ((long)H + 2L * pad - KH) / stride + 1;
	long ow = ((long)W + 2L * pad - KW) / stride + 1;
	if ((long)H + 2L * pad < KH || (long)W + 2L * pad < KW || oh < 1 || ow < 1)
		return mp_error("input %dx%d is too small for a %dx%d convolution",
				H, W, KH, KW);
	*d = (struct conv2d_dims){ B, C, H, W, OC, KH, KW, stride, pad,
				   (int)oh, (int)ow, 1 };
	size_t per = (size_t)C * KH * KW * (size_t)(oh * ow);
	size_t g = CONV_GROUP_FLOATS / (per ? per : 1);
	d->group = g < 1 ? 1 : g > (size_t)B ? B : (int)g;
	return 0;
}

static size_t ngroups(const struct conv2d_dims *d)
{
	return ((size_t)d->B + d->group - 1) / d->group;
}

static size_t ckk(const struct conv2d_dims *d)
{
	return (size_t)d->C * d->KH * d->KW;
}

static size_t per_thread(const struct conv2d_dims *d)
{
	size_t cols = (size_t)d->group * d->OH * d->OW;
	return (ckk(d) + (size_t)d->OC) * cols;
}

size_t conv2d_scratch_floats(const struct conv2d_dims *d, int threads)
{
	size_t part = ngroups(d) > 1 ? ngroups(d) * ((size_t)d->OC * ckk(d) + d->OC) : 0;
	return (size_t)(threads < 1 ? 1 : threads) * per_thread(d) + part;
}

/* The output columns [*lo, *hi) whose input column ow*stride - pad + kw
 * lies inside the image; the others read padding. */
static void valid_cols(const struct conv2d_dims *d, int kw, int *lo, int *hi)
{
	int a = d->pad - kw, b = d->W - 1 + d->pad - kw;     /* ow*stride in [a, b] */
	int l = a <= 0 ? 0 : (a + d->stride - 1) / d->stride;
	int h = b < 0 ? 0 : b / d->stride + 1;
	*lo = l < d->OW ? l : d->OW;
	*hi = h < d->OW ? h : d->OW;
	if (*hi < *lo)
		*hi = *lo;
}

/* col (CKK, nb*OHW) from samples in (nb, C, H, W). */
static void im2col(float *col, const float *in, int nb, const struct conv2d_dims *d)
{
	size_t ohw = (size_t)d->OH * d->OW, ncols = (size_t)nb * ohw;
	size_t row = 0;
	for (int c = 0; c < d->C; c++)
		for (int kh = 0; kh < d->KH; kh++)
			for (int kw = 0; kw < d->KW; kw++, row++) {
				float *dst = col + row * ncols;
				int lo, hi;
				valid_cols(d, kw, &lo, &hi);
				for (int g = 0; g < nb; g++) {
					const float *src = in + ((size_t)g * d->C + c) * d->H * d->W;
					for (int oh = 0; oh < d->OH; oh++) {
						float *o = dst + g * ohw + (size_t)oh * d->OW;
						int ih = oh * d->stride - d->pad + kh;
						if (ih < 0 || ih >= d->H) {
							memset(o, 0, (size_t)d->OW * sizeof *o);
							continue;
						}
						const float *s = src + (size_t)ih * d->W - d->pad + kw;
						memset(o, 0, (size_t)lo * sizeof *o);
						if (d->stride == 1)
							memcpy(o + lo, s + lo, (size_t)(hi - lo) * sizeof *o);
						else
							for (int ow = lo; ow < hi; ow++)
								o[ow] = s[ow * d->stride];
						memset(o + hi, 0, (size_t)(d->OW - hi) * sizeof *o);
					}
				}
			}
}

/* din (nb, C, H, W) = the sum of col's entries back at their pixels. */
static void col2im(float *din, const float *col, int nb, const struct conv2d_dims *d)
{
	size_t ohw = (size_t)d->OH * d->OW, ncols = (size_t)nb * ohw;
	memset(din, 0, (size_t)nb * d->C * d->H * d->W * sizeof *din);
	size_t row = 0;
	for (int c = 0; c < d->C; c++)
		for (int kh = 0; kh < d->KH; kh++)
			for (int kw = 0; kw < d->KW; kw++, row++) {
				const float *src = col + row * ncols;
				int lo, hi;
				valid_cols(d, kw, &lo, &hi);
				for (int g = 0; g < nb; g++) {
					float *dst = din + ((size_t)g * d->C + c) * d->H * d->W;
					for (int oh = 0; oh < d->OH; oh++) {
						int ih = oh * d->stride - d->pad + kh;
						if (ih < 0 || ih >= d->H)
							continue;
						const float *s = src + g * ohw + (size_t)oh * d->OW;
						float *o = dst + (size_t)ih * d->W - d->pad + kw;
						if (d->stride == 1)
							vec_add(o + lo, s + lo, (size_t)(hi - lo));
						else
							for (int ow = lo; ow < hi; ow++)
								o[ow * d->stride] += s[ow];
					}
				}
			}
}

struct conv_job {
	const struct conv2d_dims *d;
	float *out, *din, *dw, *db, *dout, *scratch;
	const float *in, *w, *b, *outv;
	int relu;
	size_t n;                       /* tasks (reduction phase) */
	const struct nn_hook *hook;
};

static float *thread_col(const struct conv_job *j)
{
	return j->scratch + (size_t)par_self() * per_thread(j->d);
}

static void fwd_task(void *ctx, size_t g)
{
	const struct conv_job *j = ctx;
	const struct conv2d_dims *d = j->d;
	int b0 = (int)g * d->group, nb = d->B - b0 < d->group ? d->B - b0 : d->group;
	size_t ohw = (size_t)d->OH * d->OW, ncols = (size_t)nb * ohw;
	size_t chw = (size_t)d->C * d->H * d->W;
	float *col = thread_col(j), *tmp = col + ckk(d) * (size_t)d->group * ohw;
	im2col(col, j->in + (size_t)b0 * chw, nb, d);
	gemm_nn(d->OC, (int)ncols, (int)ckk(d), j->w, ckk(d), 1, col, ncols,
		tmp, ncols, 0);
	for (int s = 0; s < nb; s++)
		for (int oc = 0; oc < d->OC; oc++)
			bias_relu_copy(j->out + ((size_t)(b0 + s) * d->OC + oc) * ohw,
				       tmp + (size_t)oc * ncols + s * ohw, ohw,
				       j->b ? j->b[oc] : 0.0f, j->relu);
}

void conv2d_forward(float *out, const float *in, const float *w, const float *b,
		    float *scratch, const struct conv2d_dims *d, int relu)
{
	struct conv_job j = { .d = d, .out = out, .in = in, .w = w, .b = b,
			      .scratch = scratch, .relu = relu };
	par_for(ngroups(d), fwd_task, &j);
}

static void bwd_task(void *ctx, size_t g)
{
	const struct conv_job *j = ctx;
	const struct conv2d_dims *d = j->d;
	int b0 = (int)g * d->group, nb = d->B - b0 < d->group ? d->B - b0 : d->group;
	size_t ohw = (size_t)d->OH * d->OW, ncols = (size_t)nb * ohw;
	size_t chw = (size_t)d->C * d->H * d->W, K = ckk(d);
	float *col = thread_col(j), *tmp = col + K * (size_t)d->group * ohw;
	float *dw = j->dw, *db = j->db;
	if (ngroups(d) > 1) {
		float *part = j->scratch + (size_t)par_threads() * per_thread(d);
		dw = part + g * ((size_t)d->OC * K + d->OC);
		db = dw + (size_t)d->OC * K;
	}
	for (int s = 0; s < nb; s++)
		for (int oc = 0; oc < d->OC; oc++) {
			size_t at = ((size_t)(b0 + s) * d->OC + oc) * ohw;
			const float *go = j->dout + at, *o = j->outv + at;
			float *t = tmp + (size_t)oc * ncols + s * ohw;
			if (j->relu)
				relu_backward(t, go, o, ohw);
			else
				memcpy(t, go, ohw * sizeof *t);
		}
	im2col(col, j->in + (size_t)b0 * chw, nb, d);
	gemm_nt(d->OC, (int)K, (int)ncols, tmp, ncols, col, ncols, dw, K);
	if (j->db || ngroups(d) > 1)
		for (int oc = 0; oc < d->OC; oc++)
			db[oc] = vec_sum(tmp + (size_t)oc * ncols, ncols);
	if (j->din) {
		gemm_nn((int)K, (int)ncols, d->OC, j->w, 1, K, tmp, ncols, col,
			ncols, 0);
		col2im(j->din + (size_t)b0 * chw, col, nb, d);
	}
}

/* Sum the per-group partials in group order into dw and db, by slices. */
static void reduce_task(void *ctx, size_t t)
{
	const struct conv_job *j = ctx;
	const struct conv2d_dims *d = j->d;
	size_t K = ckk(d), stride = (size_t)d->OC * K + d->OC;
	size_t total = j->db ? stride : (size_t)d->OC * K, lo, hi;
	const float *part = j->scratch + (size_t)par_threads() * per_thread(d);
	par_range(total, j->n, t, &lo, &hi);
	size_t G = ngroups(d);
	for (size_t i = lo; i < hi; i++) {
		float s = 0;
		for (size_t g = 0; g < G; g++)
			s += part[g * stride + i];
		if (i < (size_t)d->OC * K)
			j->dw[i] = s;
		else
			j->db[i - (size_t)d->OC * K] = s;
	}
}

void conv2d_backward(float *din, float *dw, float *db, float *dout,
		     const float *in, const float *w, const float *out,
		     float *scratch, const struct conv2d_dims *d, int relu,
		     const struct nn_hook *hook)
{
	struct conv_job j = { .d = d, .din = din, .dw = dw, .db = db,
			      .dout = dout, .in = in, .w = w, .outv = out,
			      .scratch = scratch, .relu = relu, .hook = hook };
	par_for(ngroups(d), bwd_task, &j);
	if (ngroups(d) > 1) {
		size_t total = (size_t)d->OC * ckk(d) + (db ? d->OC : 0);
		j.n = par_ntasks(total, 16384);
		par_for(j.n, reduce_task, &j);
	}
	if (hook) {
		hook->fn(hook->ctx, dw, (size_t)d->OC * ckk(d));
		if (db)
			hook->fn(hook->ctx, db, (size_t)d->OC);
	}
}

void conv2d_forward_naive(float *out, const float *in, const float *w,
			  const float *b, const struct conv2d_dims *d, int relu)
{
	for (int n = 0; n < d->B; n++)
		for (int oc = 0; oc < d->OC; oc++)
			for (int oh = 0; oh < d->OH; oh++)
				for (int ow = 0; ow < d->OW; ow++) {
					float s = 0;
					for (int c = 0; c < d->C; c++)
						for (int kh = 0; kh < d->KH; kh++)
							for (int kw = 0; kw < d->KW; kw++) {
								int ih = oh * d->stride - d->pad + kh;
								int iw = ow * d->stride - d->pad + kw;
								if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W)
									continue;
								s += in[(((size_t)n * d->C + c) * d->H + ih) * d->W + iw]
								     * w[(((size_t)oc * d->C + c) * d->KH + kh) * d->KW + kw];
							}
					if (b)
						s += b[oc];
					if (relu && s < 0)
						s = 0;
					out[(((size_t)n * d->OC + oc) * d->OH + oh) * d->OW + ow] = s;
				}
}
