/*
 * rng.h: the random number generators of memprobe.
 *
 * Two generators live here, for two different jobs:
 *
 * 1. The native generator, used for everything memprobe decides for itself
 *    (weight initialisation, shuffling batches, label corruption with
 *    `--rng native`): xoshiro256** 1.0 (Blackman and Vigna, 2018), 256 bits
 *    of state, period 2^256 - 1, seeded from a 64-bit seed by expanding it
 *    with splitmix64 into the four state words (the seeding the authors
 *    recommend). Derived draws:
 *      rng_double  (x >> 11) * 2^-53            uniform in [0, 1), 53 bits
 *      rng_float   (x >> 40) * 2^-24            uniform in [0, 1), 24 bits
 *      rng_below   Lemire's multiply-shift with rejection (2019): unbiased
 *      rng_normal  Marsaglia's polar method, one value per call (the spare
 *                  is discarded so that the state stays four words)
 *      rng_shuffle_i32  Fisher-Yates from the last element down, j =
 *                  rng_below(i + 1)
 *    The whole state is four uint64 (rng_get_state / rng_set_state), which
 *    train saves in checkpoints so a resumed run continues bit for bit.
 *
 * 2. A NumPy-compatible generator: MT19937 exactly as NumPy's legacy
 *    `numpy.random.RandomState` (and so `np.random.seed(...)` plus the
 *    module-level functions) drives it, so that `corrupt --rng numpy`
 *    reproduces labels corrupted by Python code bit for bit:
 *      np_rng_seed       RandomState(seed) for an integer seed in
 *                        [0, 2^32): Matsumoto and Nishimura's init_genrand
 *      np_rand_double    random_sample()/rand(): two 32-bit draws a, b,
 *                        ((a >> 5) * 67108864.0 + (b >> 6)) / 2^53
 *      np_randint        randint(low, high) with the default int64 dtype,
 *                        one value: masked rejection sampling over
 *                        range = high - 1 - low: mask = the smallest
 *                        2^k - 1 >= range; draw a 32-bit word (a 64-bit
 *                        one, high word first, when range > 2^32 - 1), AND
 *                        with the mask, reject while > range. randint(low,
 *                        high, size=n) and choice(C, n) (replace=True,
 *                        p=None) are n successive calls.
 *
 * Neither generator allocates or fails; they are not thread-safe (give
 * each thread its own state, e.g. with rng_jump).
 */
#ifndef MEMPROBE_RNG_H
#define MEMPROBE_RNG_H

#include <stddef.h>
#include <stdint.h>

/* ---- native: xoshiro256** ---- */

#define RNG_STATE_WORDS 4

struct rng {
	uint64_t s[RNG_STATE_WORDS];
};

/* Seed from a 64-bit value (splitmix64 expansion; never all zero). */
void rng_seed(struct rng *r, uint64_t seed);
/* The next 64 random bits. */
uint64_t rng_next(struct rng *r);
/* Uniform in [0, 1), 53 bits. */
double rng_double(struct rng *r);
/* Uniform in [0, 1), 24 bits. */
float rng_float(struct rng *r);
/* Uniform integer in [0, n), unbiased; n must be > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Standard normal (mean 0, variance 1). */
double rng_normal(struct rng *r);
/* Uniformly random permutation of a[0..n-1] in place (Fisher-Yates). */
void rng_shuffle_i32(struct rng *r, int32_t *a /* (n) */, size_t n);
/* Advance by 2^128 draws: call k times on a copy to get the k-th of
 * non-overlapping sub-streams. */
void rng_jump(struct rng *r);

/* The full state, for checkpoints: RNG_STATE_WORDS words. set returns -1
 * (with a message) for the all-zero state, which xoshiro cannot leave. */
void rng_get_state(const struct rng *r, uint64_t *out /* (RNG_STATE_WORDS) */);
int rng_set_state(struct rng *r, const uint64_t *in /* (RNG_STATE_WORDS) */);

/* ---- NumPy legacy RandomState: MT19937 ---- */

#define NP_RNG_N 624

struct np_rng {
	uint32_t key[NP_RNG_N];
	int pos;
};

/* RandomState(seed) for an integer seed (NumPy requires 0 <= seed < 2^32). */
void np_rng_seed(struct np_rng *r, uint32_t seed);
/* One tempered MT19937 output. */
uint32_t np_rng_next32(struct np_rng *r);
/* Two outputs, the first in the high word (NumPy's next_uint64). */
uint64_t np_rng_next64(struct np_rng *r);
/* random_sample(): uniform in [0, 1), 53 bits from two draws. */
double np_rand_double(struct np_rng *r);
/* Legacy masked bounded draw: uniform in [0, range] (inclusive). */
uint64_t np_rng_bounded(struct np_rng *r, uint64_t range);
/* randint(low, high) with dtype int64: uniform in [low, high); high > low. */
int64_t np_randint(struct np_rng *r, int64_t low, int64_t high);

#endif
