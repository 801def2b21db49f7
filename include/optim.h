/*
 * optim.h: optimizers with PyTorch's exact update rules, over one flat
 * parameter block and its gradient block (the model's), with their state
 * ("slots") in one more contiguous allocation.
 *
 * SGD with momentum m (torch.optim.SGD, dampening 0, no Nesterov):
 *     first step: buf = g;  later: buf = m*buf + g;   p = p - lr*buf
 *     (m = 0: p = p - lr*g, and no state)
 * Adam (torch.optim.Adam, amsgrad off), t = the step count from 1:
 *     exp_avg    = b1*exp_avg + (1-b1)*g
 *     exp_avg_sq = b2*exp_avg_sq + ((1-b2)*g)*g
 *     denom      = sqrt(exp_avg_sq) / sqrt(1 - b2^t) + eps
 *     p          = p - (lr / (1 - b1^t)) * (exp_avg / denom)
 * Bias corrections and step sizes are computed in double as Python does,
 * then used as float32 scalars; every elementwise operation rounds to
 * float32 (no fused multiply-add), so an update does not depend on how
 * the block is cut into ranges or on the thread count.
 *
 * A step is optim_begin_step() followed by optim_update() over every
 * parameter exactly once, in any ranges (a layer's backward pass calls it
 * block by block through an nn_hook, see model.h), or optim_step() for the
 * whole block at once.
 */
#ifndef MEMPROBE_OPTIM_H
#define MEMPROBE_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

enum optim_kind { OPTIM_SGD, OPTIM_ADAM };

#define OPTIM_MAX_SLOTS 2

struct optim {
	enum optim_kind kind;
	double lr;
	double momentum;                /* SGD */
	double beta1, beta2, eps;       /* Adam */
	size_t n;                       /* parameters */
	float *params, *grads;          /* (n) each, not owned */
	float *state;                   /* (nslots, n), owned; NULL if none */
	float *slot[OPTIM_MAX_SLOTS];   /* views into state */
	int64_t step;                   /* steps taken; 0: no state yet */
	/* For the step in progress (set by optim_begin_step). */
	float c_lr, c_m, c_b1, c_1mb1, c_b2, c_1mb2, c_eps, c_step, c_bc2;
	int first;
};

/* Parse "sgd" / "adam". -1 with a message otherwise. */
int optim_kind_parse(const char *s, enum optim_kind *k);
const char *optim_kind_name(enum optim_kind k);

/* Defaults: SGD momentum 0.9, Adam betas (0.9, 0.999), eps 1e-8; lr is
 * the caller's. The state is zero and step 0. */
void optim_init(struct optim *o, enum optim_kind k, double lr, size_t n,
		float *params /* (n) */, float *grads /* (n) */);
/* Re-create the state after changing hyper-parameters (momentum 0 has no
 * state); also what --fresh-optimizer does. */
void optim_reset(struct optim *o);
void optim_release(struct optim *o);

/* Number of slots and their PyTorch names: "momentum_buffer"; "exp_avg",
 * "exp_avg_sq". */
int optim_nslots(const struct optim *o);
const char *optim_slot_name(const struct optim *o, int i);

void optim_begin_step(struct optim *o);
/* Update params[off, off+n) from grads[off, off+n). Thread-safe for
 * disjoint ranges. */
void optim_update(struct optim *o, size_t off, size_t n);
/* The same with the gradient values taken from g (n) instead of
 * grads[off, off+n). */
void optim_update_vals(struct optim *o, size_t off, const float *g, size_t n);
/* begin + update of everything. */
void optim_step(struct optim *o);

/* An nn_hook that calls optim_update (fn) or optim_update_vals (fn_vals)
 * for the gradient range it is given (found from the pointer's offset in
 * o->grads). */
struct nn_hook optim_hook(struct optim *o);

/* Plain-loop reference of one element's update, for tests. */
void optim_update_naive(struct optim *o, size_t off, size_t n);

#endif
