/*
 * test_rng.c: the generators against published reference values (NumPy's
 * RandomState(42), the xoshiro256** and splitmix64 reference code), state
 * save/restore, the ranges of bounded draws, and shuffles being
 * permutations.
 */
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "tap.h"
#include "util.h"

TEST(numpy_rand_seed42)
{
	struct np_rng r;
	np_rng_seed(&r, 42);
	/* np.random.RandomState(42).rand(3), printed with repr(): exact. */
	CHECK(np_rand_double(&r) == 0.3745401188473625);
	CHECK(np_rand_double(&r) == 0.9507143064099162);
	CHECK(np_rand_double(&r) == 0.7319939418114051);
}

TEST(numpy_raw_seed42)
{
	struct np_rng r;
	np_rng_seed(&r, 42);
	/* RandomState(42).randint(0, 2**32) twice: the raw outputs. */
	CHECK(np_rng_next32(&r) == 1608637542U);
	CHECK(np_rng_next32(&r) == 3421126067U);
}

TEST(numpy_randint_seed42)
{
	static const int64_t want[] = { 6, 3, 7, 4, 6 };
	struct np_rng r;
	np_rng_seed(&r, 42);
	for (int i = 0; i < 5; i++)
		CHECK(np_randint(&r, 0, 10) == want[i]);
}

TEST(numpy_randint_64bit_range)
{
	/* RandomState(42).randint(0, 2**40, 3): 64-bit words, high word
	 * drawn first. */
	static const int64_t want[] = { 441507790259LL, 395924837646LL,
					458615280711LL };
	struct np_rng r;
	np_rng_seed(&r, 42);
	for (int i = 0; i < 3; i++)
		CHECK(np_randint(&r, 0, (int64_t)1 << 40) == want[i]);
}

TEST(numpy_randint_degenerate)
{
	struct np_rng r, r0;
	np_rng_seed(&r, 7);
	r0 = r;
	/* A range of one value draws nothing (NumPy: rng == 0). */
	CHECK(np_randint(&r, 5, 6) == 5);
	CHECK(np_rng_next32(&r) == np_rng_next32(&r0));
	CHECK(np_randint(&r, -3, -2) == -3);
}

TEST(numpy_randint_range)
{
	struct np_rng r;
	np_rng_seed(&r, 1);
	int seen[7] = { 0 };
	int bad = 0;
	for (int i = 0; i < 7000; i++) {
		int64_t v = np_randint(&r, -2, 5);
		if (v < -2 || v >= 5)
			bad++;
		else
			seen[v + 2]++;
	}
	CHECK(bad == 0);
	for (int i = 0; i < 7; i++)
		CHECK(seen[i] > 800 && seen[i] < 1200);
}

TEST(numpy_mt_many_draws)
{
	/* Crossing the 624-word refill several times; the 10000th output of
	 * the reference mt19937ar.c seeded with init_genrand(5489) is
	 * 4123659995 (the C++11 std::mt19937 check value). */
	struct np_rng r;
	np_rng_seed(&r, 5489);
	uint32_t v = 0;
	for (int i = 0; i < 10000; i++)
		v = np_rng_next32(&r);
	CHECK(v == 4123659995U);
}

TEST(splitmix_seeding)
{
	/* splitmix64 from 0: first two outputs of the reference code. */
	struct rng r;
	rng_seed(&r, 0);
	CHECK(r.s[0] == 0xe220a8397b1dcdafULL);
	CHECK(r.s[1] == 0x6e789e6aa1b965f4ULL);
}

TEST(xoshiro_reference)
{
	static const uint64_t s[4] = { 1, 2, 3, 4 };
	struct rng r;
	CHECK(rng_set_state(&r, s) == 0);
	CHECK(rng_next(&r) == 11520ULL);
	CHECK(rng_next(&r) == 0ULL);
	CHECK(rng_next(&r) == 1509978240ULL);
	CHECK(rng_next(&r) == 1215971899390074240ULL);
}

TEST(state_roundtrip)
{
	struct rng a, b;
	uint64_t st[RNG_STATE_WORDS];
	rng_seed(&a, 12345);
	for (int i = 0; i < 100; i++)
		rng_next(&a);
	rng_get_state(&a, st);
	memset(&b, 0, sizeof b);
	CHECK(rng_set_state(&b, st) == 0);
	int same = 1;
	for (int i = 0; i < 1000; i++)
		if (rng_next(&a) != rng_next(&b))
			same = 0;
	CHECK(same);
	CHECK(rng_double(&a) == rng_double(&b));
	CHECK(rng_normal(&a) == rng_normal(&b));
}

TEST(state_zero_rejected)
{
	static const uint64_t z[4] = { 0, 0, 0, 0 };
	struct rng r;
	rng_seed(&r, 1);
	CHECK(rng_set_state(&r, z) == -1);
	CHECK(strstr(mp_errmsg(), "zero") != NULL);
	CHECK(r.s[0] | r.s[1] | r.s[2] | r.s[3]);
}

TEST(seeds_differ)
{
	struct rng a, b;
	rng_seed(&a, 1);
	rng_seed(&b, 2);
	CHECK(rng_next(&a) != rng_next(&b));
	rng_seed(&a, 1);
	rng_seed(&b, 1);
	CHECK(rng_next(&a) == rng_next(&b));
}

TEST(uniform_ranges)
{
	struct rng r;
	rng_seed(&r, 3);
	int bad = 0;
	double sum = 0;
	for (int i = 0; i < 100000; i++) {
		double d = rng_double(&r);
		float f = rng_float(&r);
		if (!(d >= 0.0 && d < 1.0) || !(f >= 0.0f && f < 1.0f))
			bad++;
		sum += d;
	}
	CHECK(bad == 0);
	CHECK_NEAR(sum / 100000, 0.5, 0.01);
}

TEST(below_range_and_balance)
{
	struct rng r;
	rng_seed(&r, 4);
	CHECK(rng_below(&r, 1) == 0);
	int counts[3] = { 0 }, bad = 0;
	for (int i = 0; i < 30000; i++) {
		uint64_t v = rng_below(&r, 3);
		if (v >= 3)
			bad++;
		else
			counts[v]++;
	}
	CHECK(bad == 0);
	for (int i = 0; i < 3; i++)
		CHECK(counts[i] > 9400 && counts[i] < 10600);
	/* A bound just above 2^63: half of all 64-bit words are rejected
	 * by a biased modulo; the result must still be in range and hit
	 * both halves. */
	uint64_t n = (UINT64_C(1) << 63) + 12345;
	int hi = 0;
	for (int i = 0; i < 2000; i++) {
		uint64_t v = rng_below(&r, n);
		if (v >= n)
			bad++;
		hi += v >= n / 2;
	}
	CHECK(bad == 0);
	CHECK(hi > 850 && hi < 1150);
}

TEST(normal_moments)
{
	struct rng r;
	rng_seed(&r, 5);
	double s = 0, s2 = 0;
	int n = 200000;
	for (int i = 0; i < n; i++) {
		double x = rng_normal(&r);
		s += x;
		s2 += x * x;
	}
	CHECK_NEAR(s / n, 0.0, 0.01);
	CHECK_NEAR(s2 / n, 1.0, 0.02);
}

TEST(shuffle_is_permutation)
{
	enum { N = 1000 };
	int32_t a[N];
	int seen[N] = { 0 };
	struct rng r;
	rng_seed(&r, 6);
	for (int i = 0; i < N; i++)
		a[i] = i;
	rng_shuffle_i32(&r, a, N);
	int bad = 0, fixed = 0;
	for (int i = 0; i < N; i++) {
		if (a[i] < 0 || a[i] >= N || seen[a[i]]++)
			bad++;
		fixed += a[i] == i;
	}
	CHECK(bad == 0);
	/* A random permutation has ~1 fixed point; the identity has N. */
	CHECK(fixed < 10);
	/* Empty and single-element arrays are fine. */
	rng_shuffle_i32(&r, a, 0);
	rng_shuffle_i32(&r, a, 1);
}

TEST(shuffle_uniform_small)
{
	/* All 6 permutations of 3 elements appear about equally often. */
	struct rng r;
	rng_seed(&r, 8);
	int counts[27] = { 0 };
	for (int t = 0; t < 60000; t++) {
		int32_t a[3] = { 0, 1, 2 };
		rng_shuffle_i32(&r, a, 3);
		counts[a[0] * 9 + a[1] * 3 + a[2]]++;
	}
	int perms = 0;
	for (int i = 0; i < 27; i++)
		if (counts[i]) {
			perms++;
			CHECK(counts[i] > 9400 && counts[i] < 10600);
		}
	CHECK(perms == 6);
}

TEST(jump_changes_stream)
{
	struct rng a, b;
	rng_seed(&a, 9);
	b = a;
	rng_jump(&b);
	CHECK(rng_next(&a) != rng_next(&b));
	/* Deterministic: the same jump from the same state agrees. */
	struct rng c;
	rng_seed(&c, 9);
	rng_jump(&c);
	rng_next(&c);
	CHECK(rng_next(&c) == rng_next(&b));
}

int main(void)
{
	RUN(numpy_rand_seed42);
	RUN(numpy_raw_seed42);
	RUN(numpy_randint_seed42);
	RUN(numpy_randint_64bit_range);
	RUN(numpy_randint_degenerate);
	RUN(numpy_randint_range);
	RUN(numpy_mt_many_draws);
	RUN(splitmix_seeding);
	RUN(xoshiro_reference);
	RUN(state_roundtrip);
	RUN(state_zero_rejected);
	RUN(seeds_differ);
	RUN(uniform_ranges);
	RUN(below_range_and_balance);
	RUN(normal_moments);
	RUN(shuffle_is_permutation);
	RUN(shuffle_uniform_small);
	RUN(jump_changes_stream);
	return tap_done();
}
