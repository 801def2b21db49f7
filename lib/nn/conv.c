/*
 * conv.c: 2-D convolution as a matrix product, two ways.
 *
 * im2col + sgemm (any stride): the input patches of a group of samples
 * are copied out as columns (C*KH*KW rows) and multiplied by the weights.
 *
 * Implicit (stride 1, where padding adds little): the group's input is
 * copied once into a zero-padded layout (C, G*Hp*Wp) in which the patch
 * element (c, kh, kw) of every output position is the same shift,
 * c*stride + kh*Wp + kw, so the C*KH*KW rows of the product are pointers
 * into one buffer (gemm_nn_rows) and nothing is copied 9 times. Outputs
 * are computed on the padded grid and the valid ones copied out. The
 * input gradient is the same construction on the output gradient, laid
 * out with a margin of the largest shift on both sides.
 *
 * The batch is cut into groups of `group` samples (a function of the
 * layer's shape), one task per group, each using its thread's slice of the
 * scratch space. The weight gradient is summed over groups in a fixed
 * order, so it does not depend on the thread count either.
 *
 * Scratch layout: [threads x per_thread] [groups x (dW partial (OC*CKK) +
 * db partial (OC))], per_thread = col (CKK, G*OHW) + tmp (OC, G*OHW) for
 * im2col, or padded input + padded output gradient + padded input
 * gradient + transposed weights for the implicit path.
 */
#include "nn.h"

#include <stdlib.h>
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
				   (int)oh, (int)ow, 1, 0 };
	size_t plane = ((size_t)H + 2 * pad) * ((size_t)W + 2 * pad);
	/* Implicit when there are channels enough for the product to be
	 * deep and the padded grid is not much bigger than the output (its
	 * shifted rows also cost unaligned loads; measured on the CNN's
	 * shapes: 28x28 with 16 channels gains, 14x14 loses). */
	d->implicit = stride == 1 && C >= 8 && plane * 10 <= (size_t)oh * ow * 12;
	size_t per = d->implicit ? ((size_t)C + OC) * plane
		   : (size_t)C * KH * KW * (size_t)(oh * ow);
	size_t g = CONV_GROUP_FLOATS / (per ? per : 1);
	d->group = g < 1 ? 1 : g > (size_t)B ? B : (int)g;
	return 0;
}

/* The implicit path's geometry for a block of nb samples. */
struct geom {
	size_t Wp, plane;       /* padded row, padded image */
	size_t reach;           /* the largest shift: (KH-1)*Wp + KW-1 */
	size_t nin;             /* padded input positions: nb*plane */
	size_t nout;            /* output grid positions computed */
	size_t in_stride;       /* per channel of the padded input */
	size_t ext_stride;      /* per channel of the padded output (gradient) */
};

static void geom(const struct conv2d_dims *d, int nb, struct geom *g)
{
	size_t Hp = (size_t)d->H + 2 * d->pad;
	g->Wp = (size_t)d->W + 2 * d->pad;
	g->plane = Hp * g->Wp;
	g->reach = (size_t)(d->KH - 1) * g->Wp + (size_t)(d->KW - 1);
	g->nin = (size_t)nb * g->plane;
	g->nout = (size_t)(nb - 1) * g->plane + (size_t)d->OH * g->Wp;
	g->in_stride = g->nin + g->reach;
	g->ext_stride = g->nin + 2 * g->reach;
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
	if (d->implicit) {
		struct geom g;
		geom(d, d->group, &g);
		return (size_t)d->C * g.in_stride + (size_t)d->OC * g.ext_stride
		       + (size_t)d->C * g.nin + ckk(d) * d->OC;
	}
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
						for (int ow = 0; ow < lo; ow++)
							o[ow] = 0.0f;
						if (d->stride == 1)
							vec_copy(o + lo, s + lo, (size_t)(hi - lo));
						else
							for (int ow = lo; ow < hi; ow++)
								o[ow] = s[ow * d->stride];
						for (int ow = hi; ow < d->OW; ow++)
							o[ow] = 0.0f;
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

/* ---- the implicit path ---- */

/* Row-pointer tables of a thread. */
static _Thread_local void *ptab;
static _Thread_local size_t ptab_cap;

static const float **ptr_table(size_t n)
{
	size_t bytes;
	if (mp_mul_size(n, sizeof(float *), &bytes))
		MP_ASSERT(!"pointer table size overflows");
	return par_tls_grow(&ptab, &ptab_cap, bytes);
}

/* pad (C, in_stride): nb samples of in (nb, C, H, W) on the zero-padded
 * grid. */
static void pad_input(float *pad, const float *in, int nb, const struct conv2d_dims *d,
		      const struct geom *g)
{
	memset(pad, 0, (size_t)d->C * g->in_stride * sizeof *pad);
	for (int s = 0; s < nb; s++)
		for (int c = 0; c < d->C; c++) {
			const float *src = in + ((size_t)s * d->C + c) * d->H * d->W;
			float *dst = pad + (size_t)c * g->in_stride + (size_t)s * g->plane
				     + (size_t)d->pad * g->Wp + (size_t)d->pad;
			for (int y = 0; y < d->H; y++)
				memcpy(dst + (size_t)y * g->Wp, src + (size_t)y * d->W,
				       (size_t)d->W * sizeof *dst);
		}
}

/* The rows (c, kh, kw) of the implicit patch matrix. */
static const float **patch_rows(const float *pad, const struct conv2d_dims *d,
				const struct geom *g)
{
	const float **rows = ptr_table(ckk(d));
	size_t k = 0;
	for (int c = 0; c < d->C; c++)
		for (int kh = 0; kh < d->KH; kh++)
			for (int kw = 0; kw < d->KW; kw++)
				rows[k++] = pad + (size_t)c * g->in_stride
					    + (size_t)kh * g->Wp + (size_t)kw;
	return rows;
}

struct conv_job;
static void fwd_implicit(const struct conv_job *j, int b0, int nb);
static void bwd_implicit(const struct conv_job *j, int b0, int nb, float *dw, float *db);

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

static void fwd_implicit(const struct conv_job *j, int b0, int nb)
{
	const struct conv2d_dims *d = j->d;
	struct geom g;
	geom(d, nb, &g);
	struct geom gmax;
	geom(d, d->group, &gmax);
	float *pad = thread_col(j), *ext = pad + (size_t)d->C * gmax.in_stride;
	size_t chw = (size_t)d->C * d->H * d->W, ohw = (size_t)d->OH * d->OW;
	pad_input(pad, j->in + (size_t)b0 * chw, nb, d, &g);
	const float **rows = patch_rows(pad, d, &g);
	gemm_nn_rows(d->OC, (int)g.nout, (int)ckk(d), j->w, ckk(d), 1, rows, ext,
		     g.ext_stride, 0);
	for (int s = 0; s < nb; s++)
		for (int oc = 0; oc < d->OC; oc++) {
			float *o = j->out + ((size_t)(b0 + s) * d->OC + oc) * ohw;
			const float *t = ext + (size_t)oc * g.ext_stride + (size_t)s * g.plane;
			float bias = j->b ? j->b[oc] : 0.0f;
			for (int y = 0; y < d->OH; y++)
				bias_relu_copy(o + (size_t)y * d->OW, t + (size_t)y * g.Wp,
					       (size_t)d->OW, bias, j->relu);
		}
}

static void bwd_implicit(const struct conv_job *j, int b0, int nb, float *dw, float *db)
{
	const struct conv2d_dims *d = j->d;
	struct geom g, gmax;
	geom(d, nb, &g);
	geom(d, d->group, &gmax);
	float *pad = thread_col(j), *ext = pad + (size_t)d->C * gmax.in_stride;
	float *dpad = ext + (size_t)d->OC * gmax.ext_stride;
	float *wt = dpad + (size_t)d->C * gmax.nin;
	size_t chw = (size_t)d->C * d->H * d->W, ohw = (size_t)d->OH * d->OW;
	size_t K = ckk(d), KK = (size_t)d->KH * d->KW;
	/* The output gradient on the padded grid, masked by the ReLU, zero
	 * elsewhere, with `reach` zeros before and after. */
	memset(ext, 0, (size_t)d->OC * g.ext_stride * sizeof *ext);
	for (int s = 0; s < nb; s++)
		for (int oc = 0; oc < d->OC; oc++) {
			size_t at = ((size_t)(b0 + s) * d->OC + oc) * ohw;
			float *t = ext + (size_t)oc * g.ext_stride + g.reach + (size_t)s * g.plane;
			for (int y = 0; y < d->OH; y++) {
				const float *go = j->dout + at + (size_t)y * d->OW;
				float *dst = t + (size_t)y * g.Wp;
				if (j->relu)
					relu_backward(dst, go, j->outv + at + (size_t)y * d->OW,
						      (size_t)d->OW);
				else
					memcpy(dst, go, (size_t)d->OW * sizeof *dst);
			}
		}
	pad_input(pad, j->in + (size_t)b0 * chw, nb, d, &g);
	const float **rows = patch_rows(pad, d, &g);
	/* dw (OC, CKK): dot products over the output grid. */
	gemm_nt_rows(d->OC, (int)K, (int)g.nout, ext + g.reach, g.ext_stride, rows, dw, K);
	if (db)
		for (int oc = 0; oc < d->OC; oc++)
			db[oc] = vec_sum(ext + (size_t)oc * g.ext_stride + g.reach, g.nout);
	if (!j->din)
		return;
	/* din on the padded grid: dpad (C, nin) = sum over (tap, oc) of
	 * w[oc][c][tap] times the output gradient shifted back by the tap. */
	for (int c = 0; c < d->C; c++)
		for (size_t t = 0; t < KK; t++)
			for (int oc = 0; oc < d->OC; oc++)
				wt[((size_t)c * KK + t) * d->OC + oc] =
					j->w[((size_t)oc * d->C + c) * KK + t];
	const float **grows = ptr_table(KK * d->OC);
	for (int kh = 0; kh < d->KH; kh++)
		for (int kw = 0; kw < d->KW; kw++)
			for (int oc = 0; oc < d->OC; oc++)
				grows[((size_t)kh * d->KW + kw) * d->OC + oc] =
					ext + (size_t)oc * g.ext_stride + g.reach
					- ((size_t)kh * g.Wp + (size_t)kw);
	gemm_nn_rows(d->C, (int)g.nin, (int)(KK * d->OC), wt, KK * d->OC, 1, grows,
		     dpad, g.nin, 0);
	for (int s = 0; s < nb; s++)
		for (int c = 0; c < d->C; c++) {
			float *dst = j->din + ((size_t)(b0 + s) * d->C + c) * d->H * d->W;
			const float *src = dpad + (size_t)c * g.nin + (size_t)s * g.plane
					   + (size_t)d->pad * g.Wp + (size_t)d->pad;
			for (int y = 0; y < d->H; y++)
				memcpy(dst + (size_t)y * d->W, src + (size_t)y * g.Wp,
				       (size_t)d->W * sizeof *dst);
		}
}

static void fwd_task(void *ctx, size_t g)
{
	const struct conv_job *j = ctx;
	const struct conv2d_dims *d = j->d;
	int b0 = (int)g * d->group, nb = d->B - b0 < d->group ? d->B - b0 : d->group;
	if (d->implicit) {
		fwd_implicit(j, b0, nb);
		return;
	}
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
	if (conv2d_wide_fits(d)) {      /* small maps, many channels */
		conv2d_forward_wide(out, in, w, b, scratch, d, relu);
		return;
	}
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
	if (d->implicit) {
		bwd_implicit(j, b0, nb, dw, j->db || ngroups(d) > 1 ? db : NULL);
		return;
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
	if (conv2d_wide_fits(d)) {
		conv2d_backward_wide(din, dw, db, dout, in, w, out, scratch, d, relu, hook);
		return;
	}
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
