/*
 * rng.c: xoshiro256** (the native generator) and MT19937 as NumPy's legacy
 * RandomState uses it. rng.h documents both algorithms; the references are
 * Blackman and Vigna's xoshiro256starstar.c and splitmix64.c, Matsumoto and
 * Nishimura's mt19937ar.c, and NumPy's numpy/random/src (mt19937.c,
 * distributions.c: random_bounded_uint64_fill with use_masked).
 */
#include "rng.h"

#include <math.h>

#include "util.h"

/* ---- xoshiro256** ---- */

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < RNG_STATE_WORDS; i++)
		r->s[i] = splitmix64(&x);
	/* splitmix64 is a bijection of a counter: four consecutive outputs
	 * cannot all be zero, but keep the invariant explicit. */
	MP_ASSERT(r->s[0] | r->s[1] | r->s[2] | r->s[3]);
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double rng_double(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

float rng_float(struct rng *r)
{
	return (float)(rng_next(r) >> 40) * 0x1.0p-24f;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
	MP_ASSERT(n > 0);
	/* Lemire: the high word of x*n is uniform in [0, n) once the low
	 * word's values below 2^64 mod n are rejected. */
	unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t thresh = (0 - n) % n;
		while (lo < thresh) {
			m = (unsigned __int128)rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

double rng_normal(struct rng *r)
{
	double u, v, s;
	do {
		u = 2.0 * rng_double(r) - 1.0;
		v = 2.0 * rng_double(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	return u * sqrt(-2.0 * log(s) / s);
}

void rng_shuffle_i32(struct rng *r, int32_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)rng_below(r, i);
		int32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

void rng_jump(struct rng *r)
{
	static const uint64_t jump[] = {
		0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
		0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL,
	};
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 64; b++) {
			if (jump[i] & (UINT64_C(1) << b)) {
				s0 ^= r->s[0];
				s1 ^= r->s[1];
				s2 ^= r->s[2];
				s3 ^= r->s[3];
			}
			rng_next(r);
		}
	r->s[0] = s0;
	r->s[1] = s1;
	r->s[2] = s2;
	r->s[3] = s3;
}

void rng_get_state(const struct rng *r, uint64_t *out)
{
	for (int i = 0; i < RNG_STATE_WORDS; i++)
		out[i] = r->s[i];
}

int rng_set_state(struct rng *r, const uint64_t *in)
{
	if (!(in[0] | in[1] | in[2] | in[3]))
		return mp_error("invalid generator state: all words are zero");
	for (int i = 0; i < RNG_STATE_WORDS; i++)
		r->s[i] = in[i];
	return 0;
}

/* ---- MT19937, NumPy legacy ---- */

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfU
#define MT_UPPER 0x80000000U
#define MT_LOWER 0x7fffffffU

void np_rng_seed(struct np_rng *r, uint32_t seed)
{
	r->key[0] = seed;
	for (int i = 1; i < NP_RNG_N; i++)
		r->key[i] = 1812433253U * (r->key[i - 1] ^ (r->key[i - 1] >> 30))
			    + (uint32_t)i;
	r->pos = NP_RNG_N;
}

static void mt_generate(struct np_rng *r)
{
	uint32_t *k = r->key, y;
	int i;
	for (i = 0; i < NP_RNG_N - MT_M; i++) {
		y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
		k[i] = k[i + MT_M] ^ (y >> 1) ^ (-(y & 1) & MT_MATRIX_A);
	}
	for (; i < NP_RNG_N - 1; i++) {
		y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
		k[i] = k[i + MT_M - NP_RNG_N] ^ (y >> 1) ^ (-(y & 1) & MT_MATRIX_A);
	}
	y = (k[NP_RNG_N - 1] & MT_UPPER) | (k[0] & MT_LOWER);
	k[NP_RNG_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ (-(y & 1) & MT_MATRIX_A);
	r->pos = 0;
}

uint32_t np_rng_next32(struct np_rng *r)
{
	if (r->pos >= NP_RNG_N)
		mt_generate(r);
	uint32_t y = r->key[r->pos++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680U;
	y ^= (y << 15) & 0xefc60000U;
	y ^= y >> 18;
	return y;
}

uint64_t np_rng_next64(struct np_rng *r)
{
	uint64_t hi = np_rng_next32(r);
	return hi << 32 | np_rng_next32(r);
}

double np_rand_double(struct np_rng *r)
{
	int32_t a = (int32_t)(np_rng_next32(r) >> 5);
	int32_t b = (int32_t)(np_rng_next32(r) >> 6);
	return (a * 67108864.0 + b) / 9007199254740992.0;
}

uint64_t np_rng_bounded(struct np_rng *r, uint64_t range)
{
	if (range == 0)
		return 0;
	if (range == 0xffffffffU)
		return np_rng_next32(r);
	if (range == UINT64_MAX)
		return np_rng_next64(r);
	uint64_t mask = range;
	mask |= mask >> 1;
	mask |= mask >> 2;
	mask |= mask >> 4;
	mask |= mask >> 8;
	mask |= mask >> 16;
	mask |= mask >> 32;
	uint64_t v;
	if (range < 0xffffffffU) {
		while ((v = (np_rng_next32(r) & mask)) > range)
			;
	} else {
		while ((v = (np_rng_next64(r) & mask)) > range)
			;
	}
	return v;
}

int64_t np_randint(struct np_rng *r, int64_t low, int64_t high)
{
	MP_ASSERT(high > low);
	uint64_t range = (uint64_t)high - (uint64_t)low - 1;
	return (int64_t)((uint64_t)low + np_rng_bounded(r, range));
}
