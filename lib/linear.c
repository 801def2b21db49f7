/*
 * linear.c: the fully connected layer, forward and backward, with bias and
 * ReLU fused into the product's epilogue and the weight gradient handed to
 * the optimizer block by block while it is still in cache.
 */
#include "nn.h"

#include <string.h>

#include "gemm.h"
#include "par.h"

/* Output columns per task (forward, and dW rows per task in backward). */
#define LIN_TILE 128
/* Below this many multiply-adds a layer runs as one task. */
#define LIN_SERIAL (1u << 18)

struct lin_job {
	float *out;
	const float *in, *w, *b;
	float *din, *dw, *db, *dout;
	const float *outv;
	int B, I, O, relu;
	size_t ntasks;
	const struct nn_hook *hook;
};

static size_t lin_tasks(size_t n, size_t work)
{
	if (work < LIN_SERIAL)
		return 1;
	return par_ntasks(n, LIN_TILE);
}

static void fwd_task(void *ctx, size_t t)
{
	const struct lin_job *j = ctx;
	size_t o0, o1;
	par_range((size_t)j->O, j->ntasks, t, &o0, &o1);
	int n = (int)(o1 - o0);
	gemm1(0, 1, j->B, n, j->I, 1.0f, j->in, j->I, j->w + o0 * (size_t)j->I,
	      j->I, 0.0f, j->out + o0, j->O);
	for (int r = 0; r < j->B; r++) {
		float *o = j->out + (size_t)r * j->O + o0;
		if (j->b) {
			const float *b = j->b + o0;
			for (int k = 0; k < n; k++)
				o[k] += b[k];
		}
		if (j->relu)
			for (int k = 0; k < n; k++)
				o[k] = o[k] < 0.0f ? 0.0f : o[k];
	}
}

void linear_forward(float *out, const float *in, const float *w,
		    const float *b, int B, int I, int O, int relu)
{
	struct lin_job j = { .out = out, .in = in, .w = w, .b = b,
			     .B = B, .I = I, .O = O, .relu = relu };
	j.ntasks = lin_tasks((size_t)O, (size_t)B * I * O);
	par_for(j.ntasks, fwd_task, &j);
}

static void mask_task(void *ctx, size_t t)
{
	const struct lin_job *j = ctx;
	size_t r0, r1;
	par_range((size_t)j->B, j->ntasks, t, &r0, &r1);
	size_t n = (r1 - r0) * (size_t)j->O;
	relu_backward(j->dout + r0 * j->O, j->dout + r0 * j->O,
		      j->outv + r0 * j->O, n);
}

static void din_task(void *ctx, size_t t)
{
	const struct lin_job *j = ctx;
	size_t i0, i1;
	par_range((size_t)j->I, j->ntasks, t, &i0, &i1);
	gemm1(0, 0, j->B, (int)(i1 - i0), j->O, 1.0f, j->dout, j->O, j->w + i0,
	      j->I, 0.0f, j->din + i0, j->I);
}

static void dw_task(void *ctx, size_t t)
{
	const struct lin_job *j = ctx;
	size_t o0, o1;
	par_range((size_t)j->O, j->ntasks, t, &o0, &o1);
	int n = (int)(o1 - o0);
	float *dw = j->dw + o0 * (size_t)j->I;
	gemm1(1, 0, n, j->I, j->B, 1.0f, j->dout + o0, j->O, j->in, j->I,
	      0.0f, dw, j->I);
	if (j->db) {
		float *db = j->db + o0;
		memset(db, 0, (size_t)n * sizeof *db);
		for (int r = 0; r < j->B; r++) {
			const float *d = j->dout + (size_t)r * j->O + o0;
			for (int k = 0; k < n; k++)
				db[k] += d[k];
		}
	}
	if (j->hook) {
		j->hook->fn(j->hook->ctx, dw, (size_t)n * j->I);
		if (j->db)
			j->hook->fn(j->hook->ctx, j->db + o0, (size_t)n);
	}
}

void linear_backward(float *din, float *dw, float *db, float *dout,
		     const float *in, const float *w, const float *out,
		     int B, int I, int O, int relu, const struct nn_hook *hook)
{
	struct lin_job j = { .in = in, .w = w, .din = din, .dw = dw, .db = db,
			     .dout = dout, .outv = out, .B = B, .I = I, .O = O,
			     .relu = relu, .hook = hook };
	size_t work = (size_t)B * I * O;
	if (relu) {
		j.ntasks = (size_t)B * O < LIN_SERIAL / 8 ? 1 : par_ntasks((size_t)B, 4);
		par_for(j.ntasks, mask_task, &j);
	}
	/* din first: the hook may update w. */
	if (din) {
		j.ntasks = lin_tasks((size_t)I, work);
		par_for(j.ntasks, din_task, &j);
	}
	j.ntasks = lin_tasks((size_t)O, work);
	par_for(j.ntasks, dw_task, &j);
}

void linear_forward_naive(float *out, const float *in, const float *w,
			  const float *b, int B, int I, int O, int relu)
{
	for (int r = 0; r < B; r++)
		for (int o = 0; o < O; o++) {
			float s = 0;
			for (int i = 0; i < I; i++)
				s += in[(size_t)r * I + i] * w[(size_t)o * I + i];
			if (b)
				s += b[o];
			if (relu && s < 0)
				s = 0;
			out[(size_t)r * O + o] = s;
		}
}
