/*
 * linear.c: the fully connected layer, forward and backward, shaped for
 * small batches (the authors train the MLP at batch 32, where a weight
 * matrix is read far more than it is computed with).
 *
 * Forward: tasks over blocks of outputs; each block is a set of dot
 * products (gemm_nt) followed by bias and ReLU while the block is in cache.
 * Backward: up to 8 tasks over ranges of weight rows, walked 32 rows at a
 * time (contiguous memory): the rows' part of the input gradient is added
 * to the task's partial sum before they change, their weight gradient is
 * computed into a tile in cache, and the optimizer updates the rows from
 * that tile at once (hook->fn_vals), so the weight gradient never goes to
 * memory and the weights and optimizer state are each read and written
 * once per step. The partial input gradients are then added in task
 * order. Task boundaries depend on the shape only, never on the thread
 * count, so results do not either.
 */
#include "nn.h"

#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "par.h"
#include "util.h"

/* Outputs per forward task. */
#define FWD_TILE 96
/* Weight rows per block of the backward pass. */
#define ROWS 32
/* Below this many multiply-adds a layer runs as one task. */
#define LIN_SERIAL (1u << 17)

struct lin_job {
	float *out;
	const float *in, *w, *b;
	float *din, *dw, *dout;
	const float *outv;
	int B, I, O, relu;
	size_t ntasks, nsum;
	float *part, *tiles;    /* backward scratch */
	const struct nn_hook *hook;
};

static void fwd_task(void *ctx, size_t t)
{
	const struct lin_job *j = ctx;
	size_t o0, o1;
	par_range((size_t)j->O, j->ntasks, t, &o0, &o1);
	int n = (int)(o1 - o0);
	gemm_nt(j->B, n, j->I, j->in, (size_t)j->I, j->w + o0 * (size_t)j->I,
		(size_t)j->I, j->out + o0, (size_t)j->O);
	if (j->b || j->relu)
		bias_relu_rows(j->out + o0, j->b ? j->b + o0 : NULL, j->B, (size_t)n,
			       (size_t)j->O, j->relu);
}

void linear_forward(float *out, const float *in, const float *w,
		    const float *b, int B, int I, int O, int relu)
{
	struct lin_job j = { .out = out, .in = in, .w = w, .b = b,
			     .B = B, .I = I, .O = O, .relu = relu };
	size_t work = (size_t)B * I * O;
	j.ntasks = work < LIN_SERIAL ? 1 : par_ntasks((size_t)O, FWD_TILE);
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

/* Scratch of the backward pass: per-task partial input gradients and
 * per-thread weight-gradient tiles. Grown, never shrunk; layers run one at
 * a time. */
static float *scratch;
static size_t scratch_cap;

static float *get_scratch(size_t n)
{
	if (n > scratch_cap) {
		free(scratch);
		scratch = xaligned_calloc(n, sizeof *scratch);
		scratch_cap = n;
	}
	return scratch;
}

/* Task t owns weight rows [o0, o1): walks them in blocks of ROWS rows,
 * each block read once from memory. */
static void bwd_task(void *ctx, size_t t)
{
	const struct lin_job *j = ctx;
	size_t lo, hi;
	par_range((size_t)j->O, j->ntasks, t, &lo, &hi);
	int B = j->B, I = j->I, O = j->O;
	int vals = j->hook && j->hook->fn_vals;
	float *dxp = j->din ? j->part + t * (size_t)B * I : NULL;
	float *g = vals ? j->tiles + (size_t)par_self() * ROWS * I : NULL;
	for (int o0 = (int)lo; o0 < (int)hi; o0 += ROWS) {
		int rows = (int)hi - o0 < ROWS ? (int)hi - o0 : ROWS;
		const float *w = j->w + (size_t)o0 * I;
		/* This task's part of din: dout[:, rows] w[rows, :], added up
		 * before the rows change; the next block of rows is fetched
		 * meanwhile. */
		if (dxp) {
			const float *wr[ROWS], *pr[ROWS];
			int next = (int)hi - o0 - rows > 0;
			for (int r = 0; r < rows; r++) {
				wr[r] = w + (size_t)r * I;
				int q = o0 + rows + r < (int)hi ? o0 + rows + r : (int)hi - 1;
				pr[r] = j->w + (size_t)q * I;
			}
			gemm_nn_rows_pf(B, I, rows, j->dout + o0, (size_t)O, 1, wr,
					next ? pr : NULL, dxp, (size_t)I, o0 > (int)lo);
		}
		/* dw[rows, :] = dout[:, rows]^T in */
		float *dst = vals ? g : j->dw + (size_t)o0 * I;
		gemm_nn(rows, I, B, j->dout + o0, 1, (size_t)O, j->in, (size_t)I,
			dst, (size_t)I, 0);
		if (!j->hook)
			continue;
		float *at = j->dw + (size_t)o0 * I;
		if (vals)
			j->hook->fn_vals(j->hook->ctx, at, g, (size_t)rows * I);
		else
			j->hook->fn(j->hook->ctx, at, (size_t)rows * I);
	}
}

/* din = the sum of the tasks' parts, in task order, by column ranges. */
static void sum_task(void *ctx, size_t t)
{
	const struct lin_job *j = ctx;
	size_t n = (size_t)j->B * j->I, lo, hi;
	par_range(n, j->nsum, t, &lo, &hi);
	memcpy(j->din + lo, j->part + lo, (hi - lo) * sizeof(float));
	for (size_t p = 1; p < j->ntasks; p++)
		vec_add(j->din + lo, j->part + p * n + lo, hi - lo);
}

void linear_backward(float *din, float *dw, float *db, float *dout,
		     const float *in, const float *w, const float *out,
		     int B, int I, int O, int relu, const struct nn_hook *hook)
{
	struct lin_job j = { .in = in, .w = w, .din = din, .dw = dw,
			     .dout = dout, .outv = out, .B = B, .I = I, .O = O,
			     .relu = relu, .hook = hook };
	size_t work = (size_t)B * I * O;
	if (relu) {
		j.ntasks = (size_t)B * O < LIN_SERIAL / 8 ? 1 : par_ntasks((size_t)B, 4);
		par_for(j.ntasks, mask_task, &j);
	}
	if (db) {
		memset(db, 0, (size_t)O * sizeof *db);
		for (int r = 0; r < B; r++)
			vec_add(db, dout + (size_t)r * O, (size_t)O);
		if (hook)
			hook->fn(hook->ctx, db, (size_t)O);
	}
	/* Up to 8 tasks of whole blocks of rows: a function of the shape. */
	size_t blocks = ((size_t)O + ROWS - 1) / ROWS;
	j.ntasks = work < LIN_SERIAL ? 1 : blocks < 8 ? blocks : 8;
	size_t parts = din ? j.ntasks * (size_t)B * I : 0;
	size_t tiles = (size_t)par_threads() * ROWS * I;
	float *s = get_scratch(parts + tiles);
	j.part = s;
	j.tiles = s + parts;
	if (j.ntasks == 1 && din)
		j.part = din;
	par_for(j.ntasks, bwd_task, &j);
	if (din && j.ntasks > 1) {
		size_t n = (size_t)B * I;
		j.nsum = n < 65536 ? 1 : par_ntasks(n, 16384);
		par_for(j.nsum, sum_task, &j);
	}
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
