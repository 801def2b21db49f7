/*
 * test_nn.c: every layer's forward against a double-precision reference,
 * and every backward pass against central finite differences of that
 * reference (loss L = sum(out * R) for a random R, so dout = R). Also: the
 * tiled sgemm against plain loops, and bit-identical results with 1 and 3
 * threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm.h"
#include "nn.h"
#include "nn_ref.h"
#include "par.h"
#include "rng.h"
#include "tap.h"
#include "util.h"

/* ---- double-precision references (the layers' are in nn_ref.h) ---- */

static double xent_ref(const double *l, const int32_t *y, int B, int C)
{
	double t = 0;
	for (int r = 0; r < B; r++) {
		double m = l[r * C], s = 0;
		for (int c = 1; c < C; c++)
			m = l[r * C + c] > m ? l[r * C + c] : m;
		for (int c = 0; c < C; c++)
			s += exp(l[r * C + c] - m);
		t += log(s) + m - l[r * C + y[r]];
	}
	return t / B;
}

/* ---- linear ---- */

struct lin_case { const char *name; int B, I, O, relu, bias; };

struct lin_ctx { const struct lin_case *c; double *in, *w, *b; };

static void lin_f(double *out, void *ctx)
{
	struct lin_ctx *x = ctx;
	lin_ref(out, x->in, x->w, x->b, x->c->B, x->c->I, x->c->O, x->c->relu);
}

static void check_linear(const struct lin_case *c)
{
	size_t nin = (size_t)c->B * c->I, nw = (size_t)c->O * c->I, nout = (size_t)c->B * c->O;
	float *in = xmalloc(nin * 4), *w = xmalloc(nw * 4), *b = xmalloc(c->O * 4);
	float *out = xmalloc(nout * 4), *out2 = xmalloc(nout * 4), *r = xmalloc(nout * 4);
	float *din = xmalloc(nin * 4), *dw = xmalloc(nw * 4), *db = xmalloc(c->O * 4);
	fill(in, nin, -1, 1);
	fill(w, nw, -0.5f, 0.5f);
	fill(b, c->O, -0.5f, 0.5f);
	fill(r, nout, -1, 1);
	struct lin_ctx x = { c, to_d(in, nin), to_d(w, nw), c->bias ? to_d(b, c->O) : NULL };
	double *ref = xmalloc(nout * 8);
	lin_f(ref, &x);
	linear_forward(out, in, w, c->bias ? b : NULL, c->B, c->I, c->O, c->relu);
	CHECK(close_to(out, ref, nout, 1e-5));
	linear_forward_naive(out2, in, w, c->bias ? b : NULL, c->B, c->I, c->O, c->relu);
	CHECK(close_to(out2, ref, nout, 1e-5));
	float *dout = xmalloc(nout * 4);
	memcpy(dout, r, nout * 4);
	linear_backward(din, dw, c->bias ? db : NULL, dout, in, w, out, c->B, c->I,
			c->O, c->relu, NULL);
	CHECK(gradcheck("din", din, x.in, nin, lin_f, &x, ref, r, nout));
	CHECK(gradcheck("dw", dw, x.w, nw, lin_f, &x, ref, r, nout));
	if (c->bias)
		CHECK(gradcheck("db", db, x.b, c->O, lin_f, &x, ref, r, nout));
	free(in); free(w); free(b); free(out); free(out2); free(r); free(din);
	free(dw); free(db); free(dout); free(ref); free(x.in); free(x.w); free(x.b);
}

static const struct lin_case linear_cases[] = {
	{ "linear_small", 3, 5, 4, 0, 1 },
	{ "linear_relu", 7, 33, 19, 1, 1 },
	/* Big enough to be split into several tasks. */
	{ "linear_nobias_big", 32, 300, 260, 1, 0 },
};

/* ---- conv2d ---- */

struct conv_ctx { const struct conv2d_dims *d; int relu; double *in, *w, *b; };

static void conv_f(double *out, void *ctx)
{
	struct conv_ctx *x = ctx;
	conv_ref(out, x->in, x->w, x->b, x->d, x->relu);
}

/* A K x K convolution; path: as conv2d_dims_init chooses, or forced (the
 * implicit one needs stride 1); group > 0 overrides the samples per block. */
enum conv_path { PATH_CHOSEN, PATH_IM2COL, PATH_IMPLICIT };
struct conv_case {
	const char *name;
	int B, C, H, W, OC, K, stride, pad, relu, bias;
	enum conv_path path;
	int group;
};

static void check_conv(const struct conv_case *k)
{
	int B = k->B, C = k->C, H = k->H, W = k->W, OC = k->OC, K = k->K;
	int relu = k->relu, bias = k->bias;
	struct conv2d_dims d;
	CHECK(conv2d_dims_init(&d, B, C, H, W, OC, K, K, k->stride, k->pad) == 0);
	if (k->path != PATH_CHOSEN)
		d.implicit = k->path == PATH_IMPLICIT;
	if (k->group > 0)
		d.group = k->group;
	size_t nin = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K;
	size_t nout = (size_t)B * OC * d.OH * d.OW;
	float *in = xmalloc(nin * 4), *w = xmalloc(nw * 4), *b = xmalloc(OC * 4);
	float *out = xmalloc(nout * 4), *r = xmalloc(nout * 4), *dout = xmalloc(nout * 4);
	float *din = xmalloc(nin * 4), *dw = xmalloc(nw * 4), *db = xmalloc(OC * 4);
	float *scratch = xmalloc(conv2d_scratch_floats(&d, par_threads()) * 4);
	fill(in, nin, -1, 1);
	fill(w, nw, -0.5f, 0.5f);
	fill(b, OC, -0.5f, 0.5f);
	fill(r, nout, -1, 1);
	struct conv_ctx x = { &d, relu, to_d(in, nin), to_d(w, nw), bias ? to_d(b, OC) : NULL };
	double *ref = xmalloc(nout * 8);
	conv_f(ref, &x);
	conv2d_forward(out, in, w, bias ? b : NULL, scratch, &d, relu);
	CHECK(close_to(out, ref, nout, 1e-5));
	conv2d_forward_naive(dout, in, w, bias ? b : NULL, &d, relu);
	CHECK(close_to(dout, ref, nout, 1e-5));
	memcpy(dout, r, nout * 4);
	conv2d_backward(din, dw, bias ? db : NULL, dout, in, w, out, scratch, &d,
			relu, NULL);
	CHECK(gradcheck("din", din, x.in, nin, conv_f, &x, ref, r, nout));
	CHECK(gradcheck("dw", dw, x.w, nw, conv_f, &x, ref, r, nout));
	if (bias)
		CHECK(gradcheck("db", db, x.b, OC, conv_f, &x, ref, r, nout));
	free(in); free(w); free(b); free(out); free(r); free(dout); free(din);
	free(dw); free(db); free(scratch); free(ref); free(x.in); free(x.w); free(x.b);
}

TEST(conv_implicit_paths)
{
	/* The same shapes through both constructions, one and several
	 * blocks of samples, odd kernels, padding 0 to 2, not square. */
	static const struct conv_case cases[] = {
		{ NULL, 3, 2, 9, 7, 3, 3, 1, 1, 1, 1, PATH_IMPLICIT, 2 },
		{ NULL, 3, 2, 9, 7, 3, 3, 1, 1, 1, 1, PATH_IM2COL, 2 },
		{ NULL, 4, 3, 11, 8, 5, 5, 1, 2, 0, 1, PATH_IMPLICIT, 3 },
		{ NULL, 2, 4, 6, 6, 2, 3, 1, 0, 1, 0, PATH_IMPLICIT, 1 },
		{ NULL, 5, 1, 7, 7, 4, 1, 1, 0, 0, 1, PATH_IMPLICIT, 2 },
		{ NULL, 2, 3, 5, 9, 2, 5, 1, 1, 1, 1, PATH_IMPLICIT, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_conv(&cases[i]);
}

/*       name                      B   C   H   W  OC   K  str pad relu bias path */
static const struct conv_case conv_cases[] = {
	{ "conv_3x3_pad1",            2,  3,  6,  5,  4,  3,  1,  1,  0,  1, PATH_CHOSEN, 0 },
	/* 1 MB of columns per group: 12 samples of 16x14x14 with 3x3 make
	 * several groups, so the weight gradient is reduced over groups. */
	{ "conv_relu_many_groups",   12, 16, 14, 14,  6,  3,  1,  1,  1,  1, PATH_CHOSEN, 0 },
	{ "conv_stride2_5x5_nobias",  3,  2,  9,  9,  3,  5,  2,  2,  0,  0, PATH_CHOSEN, 0 },
	{ "conv_11x11_stride4",       2,  3, 23, 23,  2, 11,  4,  2,  1,  1, PATH_CHOSEN, 0 },
	{ "conv_1x1",                 2,  5,  4,  4,  3,  1,  2,  0,  0,  1, PATH_CHOSEN, 0 },
};

TEST(conv_bad_dims)
{
	struct conv2d_dims d;
	CHECK(conv2d_dims_init(&d, 1, 1, 2, 2, 1, 5, 5, 1, 0) == -1);
	CHECK(conv2d_dims_init(&d, 1, 1, 2, 2, 1, 3, 3, 0, 0) == -1);
}

/* ---- pooling ---- */

struct pool_ctx { const struct pool2d_dims *d; int max; double *in; };

static void pool_f(double *out, void *ctx)
{
	struct pool_ctx *x = ctx;
	pool_ref(out, x->in, x->d, x->max);
}

struct pool_case { const char *name; int max, B, C, H, W, K, stride, pad; };

static void check_pool(const struct pool_case *k)
{
	int max = k->max, B = k->B, C = k->C, H = k->H, W = k->W;
	struct pool2d_dims d;
	CHECK(pool2d_dims_init(&d, B, C, H, W, k->K, k->stride, k->pad) == 0);
	size_t nin = (size_t)B * C * H * W, nout = (size_t)B * C * d.OH * d.OW;
	float *in = xmalloc(nin * 4), *out = xmalloc(nout * 4), *r = xmalloc(nout * 4);
	float *din = xmalloc(nin * 4);
	int32_t *arg = xmalloc(nout * 4);
	/* Distinct values far apart, so that a finite step never changes
	 * which input is the maximum. */
	for (size_t i = 0; i < nin; i++)
		in[i] = (float)((i * 7919) % nin) * 0.01f - 1.0f;
	fill(r, nout, -1, 1);
	struct pool_ctx x = { &d, max, to_d(in, nin) };
	double *ref = xmalloc(nout * 8);
	pool_f(ref, &x);
	if (max) {
		maxpool2d_forward(out, arg, in, &d);
		maxpool2d_backward(din, r, arg, &d);
	} else {
		avgpool2d_forward(out, in, &d);
		avgpool2d_backward(din, r, &d);
	}
	CHECK(close_to(out, ref, nout, 1e-6));
	CHECK(gradcheck("din", din, x.in, nin, pool_f, &x, ref, r, nout));
	free(in); free(out); free(r); free(din); free(arg); free(ref); free(x.in);
}

/*       name                max  B  C  H  W  K str pad */
static const struct pool_case pool_cases[] = {
	{ "maxpool_2x2",          1,  2, 3, 8, 6, 2, 2, 0 },
	/* 7x7 -> 3x3 (floor), as the CNN's last pool on 28x28 input. */
	{ "maxpool_odd_floor",    1,  2, 2, 7, 7, 2, 2, 0 },
	{ "maxpool_3x3_s2_p1",    1,  2, 2, 9, 8, 3, 2, 1 },
	{ "avgpool_2x2",          0,  2, 3, 6, 6, 2, 2, 0 },
	{ "avgpool_global",       0,  3, 4, 4, 4, 4, 1, 0 },
};

TEST(maxpool_ties_first_wins)
{
	struct pool2d_dims d;
	float in[4] = { 1, 3, 3, 2 }, out[1];
	int32_t arg[1];
	CHECK(pool2d_dims_init(&d, 1, 1, 2, 2, 2, 2, 0) == 0);
	maxpool2d_forward(out, arg, in, &d);
	CHECK(out[0] == 3 && arg[0] == 1);
}

/* ---- ReLU ---- */

TEST(relu)
{
	float in[6] = { -2, -0.5f, 0, 0.25f, 3, -1e-30f }, out[6], d[6];
	float g[6] = { 1, 2, 3, 4, 5, 6 };
	relu_forward(out, in, 6);
	CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == 0.25f
	      && out[4] == 3 && out[5] == 0);
	relu_backward(d, g, out, 6);
	CHECK(d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 4 && d[4] == 5 && d[5] == 0);
	float nan_in = NAN, nan_out;
	relu_forward(&nan_out, &nan_in, 1);
	CHECK(isnan(nan_out));
}

/* ---- loss ---- */

TEST(xent)
{
	enum { B = 5, C = 7 };
	float l[B * C], p[B * C], g[B * C];
	int32_t y[B] = { 0, 6, 3, 3, 1 };
	fill(l, B * C, -4, 4);
	double *ld = to_d(l, B * C);
	double loss = softmax_xent_forward(p, l, y, B, C);
	CHECK_NEAR(loss, xent_ref(ld, y, B, C), 1e-6);
	for (int r = 0; r < B; r++) {
		double s = 0;
		for (int c = 0; c < C; c++)
			s += p[r * C + c];
		CHECK_NEAR(s, 1.0, 1e-6);
	}
	softmax_xent_backward(g, p, y, B, C);
	for (int i = 0; i < B * C; i++) {
		double keep = ld[i], h = 1e-5;
		ld[i] = keep + h;
		double lp = xent_ref(ld, y, B, C);
		ld[i] = keep - h;
		double lm = xent_ref(ld, y, B, C);
		ld[i] = keep;
		CHECK_NEAR(g[i], (lp - lm) / (2 * h), 1e-5);
	}
	free(ld);
}

TEST(xent_stable)
{
	/* Huge logits: no overflow, the loss of a confident right answer is
	 * ~0 and of a confident wrong one is the margin. */
	float l[4] = { 1000, -1000, -1000, 1000 }, p[4];
	int32_t y[2] = { 0, 0 };
	double loss = softmax_xent_forward(p, l, y, 2, 2);
	CHECK(isfinite(loss));
	CHECK_NEAR(loss, 1000.0, 1e-6);
	CHECK(p[0] == 1 && p[1] == 0 && p[2] == 0 && p[3] == 1);
}

TEST(argmax)
{
	float v[5] = { 1, 4, 4, -2, 3 };
	CHECK(nn_argmax(v, 5) == 1);
	v[3] = NAN;
	CHECK(nn_argmax(v, 5) == 3);
}

/* ---- gemm ---- */

TEST(gemm_tiled_vs_naive)
{
	int shapes[][3] = { { 32, 2048, 300 }, { 700, 530, 40 }, { 5, 3, 2 } };
	for (int s = 0; s < 3; s++)
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) {
				int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
				float *A = xmalloc((size_t)M * K * 4), *B = xmalloc((size_t)K * N * 4);
				float *C = xmalloc((size_t)M * N * 4), *C2 = xmalloc((size_t)M * N * 4);
				fill(A, (size_t)M * K, -1, 1);
				fill(B, (size_t)K * N, -1, 1);
				fill(C, (size_t)M * N, -1, 1);
				memcpy(C2, C, (size_t)M * N * 4);
				gemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 0.25f, C, N);
				gemm_naive(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 0.25f, C2, N);
				double *c2 = to_d(C2, (size_t)M * N);
				CHECK(close_to(C, c2, (size_t)M * N, 1e-4));
				free(A); free(B); free(C); free(C2); free(c2);
			}
}

/* ---- thread-count independence ---- */

static void run_layers(int threads, float *res, size_t *nres)
{
	par_init(threads);
	struct rng keep = R;
	rng_seed(&R, 99);
	struct conv2d_dims d;
	conv2d_dims_init(&d, 16, 4, 12, 12, 8, 3, 3, 1, 1);
	size_t nin = 16 * 4 * 144, nw = 8 * 4 * 9, nout = 16 * 8 * 144;
	float *in = xmalloc(nin * 4), *w = xmalloc(nw * 4), *out = xmalloc(nout * 4);
	float *dout = xmalloc(nout * 4), *scratch = xmalloc(conv2d_scratch_floats(&d, threads) * 4);
	fill(in, nin, -1, 1);
	fill(w, nw, -1, 1);
	fill(dout, nout, -1, 1);
	conv2d_forward(out, in, w, NULL, scratch, &d, 1);
	size_t k = 0;
	memcpy(res + k, out, nout * 4), k += nout;
	conv2d_backward(res + k, res + k + nin, NULL, dout, in, w, out, scratch, &d, 1, NULL);
	k += nin + nw;
	float *x = xmalloc(32 * 1000 * 4), *lw = xmalloc(600 * 1000 * 4), *lb = xmalloc(600 * 4);
	float *y = xmalloc(32 * 600 * 4), *dy = xmalloc(32 * 600 * 4);
	fill(x, 32 * 1000, -1, 1);
	fill(lw, 600 * 1000, -0.1f, 0.1f);
	fill(lb, 600, -0.1f, 0.1f);
	fill(dy, 32 * 600, -1, 1);
	linear_forward(y, x, lw, lb, 32, 1000, 600, 1);
	memcpy(res + k, y, 32 * 600 * 4), k += 32 * 600;
	linear_backward(res + k, res + k + 32000, res + k + 32000 + 600000, dy, x, lw, y,
			32, 1000, 600, 1, NULL);
	k += 32000 + 600000 + 600;
	*nres = k;
	free(in); free(w); free(out); free(dout); free(scratch);
	free(x); free(lw); free(lb); free(y); free(dy);
	R = keep;
}

TEST(threads_bit_identical)
{
	size_t cap = 3000000, n1, n3;
	float *a = xmalloc(cap * 4), *b = xmalloc(cap * 4);
	run_layers(1, a, &n1);
	run_layers(3, b, &n3);
	CHECK(n1 == n3 && n1 < cap);
	CHECK(memcmp(a, b, n1 * 4) == 0);
	par_init(2);
	free(a);
	free(b);
}

int main(void)
{
	rng_seed(&R, 12345);
	par_init(2);
	RUN_CASES(check_linear, linear_cases);
	RUN_CASES(check_conv, conv_cases);
	RUN(conv_bad_dims);
	RUN(conv_implicit_paths);
	RUN_CASES(check_pool, pool_cases);
	RUN(maxpool_ties_first_wins);
	RUN(relu);
	RUN(xent);
	RUN(xent_stable);
	RUN(argmax);
	RUN(gemm_tiled_vs_naive);
	RUN(threads_bit_identical);
	return tap_done();
}
