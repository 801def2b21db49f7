/*
 * corrupt.h: label corruption, the engine of the `corrupt` tool.
 *
 * Three modes, each reproducible with either generator of rng.h. Written as
 * the NumPy code that the `numpy` generator reproduces bit for bit
 * (rs = np.random.RandomState(seed), y the labels, N = len(y), C classes):
 *
 *   uniform  m = rs.rand(N) <= p
 *            y[m] = rs.choice(C, m.sum())
 *            (the authors' corruption: the new class may equal the old one)
 *   other    m = rs.rand(N) <= p
 *            r = rs.randint(0, C - 1, m.sum())
 *            y[m] = r + (r >= y[m])
 *            (the new class is uniform among the C - 1 others)
 *   shuffle  k = int(p * N + 0.5)
 *            i = rs.permutation(N)[:k]
 *            y[i] = rs.permutation(y[i])
 *            (Zhang et al. 2017: the labels of a random k-subset are
 *            permuted among themselves; the label counts are unchanged)
 *
 * The native generator (xoshiro256**) runs the same steps with
 * rng_double() for rand, rng_below() for choice/randint/the Fisher-Yates
 * draws, except that its mask is rand < p (so p = 0 never changes a label
 * and p = 1 selects every sample).
 */
#ifndef MEMPROBE_CORRUPT_H
#define MEMPROBE_CORRUPT_H

#include <stddef.h>
#include <stdint.h>

enum corrupt_mode { CORRUPT_UNIFORM, CORRUPT_SHUFFLE, CORRUPT_OTHER };
enum corrupt_rng { CORRUPT_RNG_NATIVE, CORRUPT_RNG_NUMPY };

struct corrupt_params {
	double p;                /* in [0, 1] */
	enum corrupt_mode mode;
	enum corrupt_rng rng;
	uint64_t seed;           /* < 2^32 for the numpy generator */
};

/* Names <-> values ("uniform", "numpy", ...). parse: -1 (message set) on an
 * unknown name. */
int corrupt_mode_parse(const char *s, enum corrupt_mode *out);
int corrupt_rng_parse(const char *s, enum corrupt_rng *out);
const char *corrupt_mode_name(enum corrupt_mode m);
const char *corrupt_rng_name(enum corrupt_rng r);

/* Corrupt y[0..n-1] (labels in 0..classes-1, checked) in place. -1 with a
 * message on a label out of range, bad parameters, or mode 'other' with
 * fewer than 2 classes. */
int corrupt_labels(int32_t *y /* (n) */, size_t n, int classes,
		   const struct corrupt_params *cp);

/* The whole filter: read the data stream `in` (NULL or "-": stdin), write
 * the corrupted stream to `out` (NULL or "-": stdout) with deflate level
 * `level`. classes <= 0: from meta `data.classes` (or `model.classes`;
 * each at most VALIDATE_MAX_CLASSES, and equal when both are there), else
 * max(y) + 1; classes > 0 may not exceed what meta.txt states. `x` must
 * be float32 or float64.
 * Output members: meta.txt (input keys plus corrupt.p, corrupt.mode,
 * corrupt.rng, corrupt.seed, corrupt.classes, corrupt.flipped), y (int32),
 * y_true (int32: the input's y_true if it had one, else its y), flipped
 * (uint8: y != y_true), the input's other members that came before x, then
 * x and everything after it copied through unchanged. */
int corrupt_stream(const char *in, const char *out, int level, int classes,
		   const struct corrupt_params *cp);

#endif
