/*
 * test_optim.c: SGD-momentum and Adam steps against values worked out by
 * hand from PyTorch's rules, and the fast (vector, threaded, range-split)
 * update against the plain loop, bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "par.h"
#include "rng.h"
#include "tap.h"
#include "util.h"

TEST(sgd_momentum_by_hand)
{
	float p[1] = { 1.0f }, g[1] = { 0.5f };
	struct optim o;
	optim_init(&o, OPTIM_SGD, 0.1, 1, p, g);
	optim_step(&o);                 /* buf = g = 0.5; p = 1 - 0.05 */
	CHECK_NEAR(o.slot[0][0], 0.5, 1e-7);
	CHECK_NEAR(p[0], 0.95, 1e-7);
	g[0] = -0.2f;
	optim_step(&o);                 /* buf = 0.45 - 0.2; p = 0.95 - 0.025 */
	CHECK_NEAR(o.slot[0][0], 0.25, 1e-7);
	CHECK_NEAR(p[0], 0.925, 1e-7);
	CHECK(o.step == 2);
	/* A fresh optimizer starts again with buf = g. */
	optim_reset(&o);
	g[0] = 1.0f;
	optim_step(&o);
	CHECK_NEAR(o.slot[0][0], 1.0, 0);
	CHECK_NEAR(p[0], 0.825, 1e-7);
	optim_release(&o);
}

TEST(sgd_no_momentum)
{
	float p[2] = { 1.0f, -2.0f }, g[2] = { 0.5f, 0.25f };
	struct optim o;
	optim_init(&o, OPTIM_SGD, 0.1, 2, p, g);
	o.momentum = 0;
	optim_reset(&o);
	CHECK(optim_nslots(&o) == 0 && o.state == NULL);
	optim_step(&o);
	optim_step(&o);
	CHECK_NEAR(p[0], 0.9, 1e-7);
	CHECK_NEAR(p[1], -2.05, 3e-7);
	optim_release(&o);
}

TEST(adam_by_hand)
{
	float p[1] = { 1.0f }, g[1] = { 0.5f };
	struct optim o;
	optim_init(&o, OPTIM_ADAM, 0.01, 1, p, g);
	CHECK(optim_nslots(&o) == 2);
	CHECK(!strcmp(optim_slot_name(&o, 0), "exp_avg"));
	CHECK(!strcmp(optim_slot_name(&o, 1), "exp_avg_sq"));
	/* t = 1: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25: p -= 0.01 * 0.5/0.5 */
	optim_step(&o);
	CHECK_NEAR(o.slot[0][0], 0.05, 1e-8);
	CHECK_NEAR(o.slot[1][0], 0.00025, 1e-10);
	CHECK_NEAR(p[0], 0.99, 1e-7);
	/* t = 2 with g = -0.2, worked in double. */
	g[0] = -0.2f;
	optim_step(&o);
	double m = 0.9 * 0.05 + 0.1 * -0.2, v = 0.999 * 0.00025 + 0.001 * 0.04;
	double den = sqrt(v) / sqrt(1 - 0.999 * 0.999) + 1e-8;
	double want = 0.99 - 0.01 / (1 - 0.9 * 0.9) * (m / den);
	CHECK_NEAR(o.slot[0][0], m, 1e-8);
	CHECK_NEAR(o.slot[1][0], v, 1e-10);
	CHECK_NEAR(p[0], want, 2e-7);
	optim_release(&o);
}

TEST(adam_eps_matters)
{
	/* A zero gradient from the start: exp_avg stays 0, so nothing moves
	 * (0 / (0 + eps)); without eps this would be NaN. */
	float p[1] = { 3.0f }, g[1] = { 0.0f };
	struct optim o;
	optim_init(&o, OPTIM_ADAM, 0.1, 1, p, g);
	optim_step(&o);
	CHECK(p[0] == 3.0f);
	optim_release(&o);
}

/* Run `steps` steps of kind k over n random elements, either with the fast
 * path (threads, ranges of odd sizes) or the naive loop. */
static void run(enum optim_kind k, int fast, int threads, float *p, size_t n)
{
	struct rng r;
	rng_seed(&r, 7);
	float *g = xmalloc(n * sizeof *g);
	for (size_t i = 0; i < n; i++)
		p[i] = rng_float(&r) - 0.5f;
	struct optim o;
	optim_init(&o, k, 1e-3, n, p, g);
	par_init(threads);
	for (int s = 0; s < 5; s++) {
		for (size_t i = 0; i < n; i++)
			g[i] = (rng_float(&r) - 0.5f) * 0.1f;
		optim_begin_step(&o);
		if (fast) {
			size_t cut = n / 3 + 5;
			optim_update(&o, 0, cut);
			optim_update(&o, cut, n - cut);
		} else {
			optim_update_naive(&o, 0, n);
		}
	}
	optim_release(&o);
	free(g);
}

TEST(fast_equals_naive)
{
	size_t n = 200003;
	float *a = xmalloc(n * 4), *b = xmalloc(n * 4), *c = xmalloc(n * 4);
	for (int k = 0; k < 2; k++) {
		enum optim_kind kind = k ? OPTIM_ADAM : OPTIM_SGD;
		run(kind, 0, 1, a, n);
		run(kind, 1, 1, b, n);
		run(kind, 1, 3, c, n);
		CHECK(memcmp(a, b, n * 4) == 0);
		CHECK(memcmp(a, c, n * 4) == 0);
	}
	par_init(2);
	free(a);
	free(b);
	free(c);
}

TEST(hook_updates_range)
{
	float p[40], g[40];
	for (int i = 0; i < 40; i++)
		p[i] = 1, g[i] = 1;
	struct optim o;
	optim_init(&o, OPTIM_SGD, 0.5, 40, p, g);
	struct nn_hook h = optim_hook(&o);
	optim_begin_step(&o);
	h.fn(h.ctx, g + 10, 20);
	CHECK(p[9] == 1 && p[10] == 0.5f && p[29] == 0.5f && p[30] == 1);
	optim_release(&o);
}

TEST(parse)
{
	enum optim_kind k;
	CHECK(optim_kind_parse("adam", &k) == 0 && k == OPTIM_ADAM);
	CHECK(optim_kind_parse("sgd", &k) == 0 && k == OPTIM_SGD);
	CHECK(optim_kind_parse("rmsprop", &k) == -1);
}

int main(void)
{
	par_init(2);
	RUN(sgd_momentum_by_hand);
	RUN(sgd_no_momentum);
	RUN(adam_by_hand);
	RUN(adam_eps_matters);
	RUN(fast_equals_naive);
	RUN(hook_updates_range);
	RUN(parse);
	return tap_done();
}
