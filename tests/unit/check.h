/*
 * check.h: numeric helpers for the C unit tests that compare layers with
 * double-precision references (test_nn.c, test_resnet.c): random inputs
 * from one generator R (seeded in main), float to double copies, closeness
 * to a reference, and gradient checks by central finite differences of
 * L = f(v) . R, so that dout = R.
 *
 *   fill(x, n, -1, 1);
 *   CHECK(close_to(out, ref, n, 1e-5));
 *   CHECK(gradcheck("dw", dw, wd, nw, my_forward, &ctx, ref, r, nout));
 */
#ifndef MEMPROBE_CHECK_H
#define MEMPROBE_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"
#include "util.h"

static struct rng R;

static inline void fill(float *a, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		a[i] = lo + (hi - lo) * rng_float(&R);
}

/* A double copy of a (n), to free. */
static inline double *to_d(const float *a, size_t n)
{
	double *d = xmallocarray(n ? n : 1, sizeof *d);
	for (size_t i = 0; i < n; i++)
		d[i] = a[i];
	return d;
}

/* Worst |a - b| / (atol + |b|) style: max |a-b| - tol*(1+|b|) <= 0. */
static inline int close_to(const float *a, const double *b, size_t n, double tol)
{
	for (size_t i = 0; i < n; i++)
		if (!(fabs(a[i] - b[i]) <= tol * (1 + fabs(b[i])))) {
			printf("#   element %zu: %.9g vs %.9g\n", i, a[i], b[i]);
			return 0;
		}
	return 1;
}

static inline double dot(const double *a, const float *r, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * r[i];
	return s;
}

/* The double-precision reference: out from the inputs ctx points to. */
typedef void (*fwd_fn)(double *out, void *ctx);

/* Central difference of L(v) = f(v) . R with respect to v[i]. */
static inline double numgrad(double *v, size_t i, fwd_fn f, void *ctx, double *out,
			     const float *r, size_t nout)
{
	const double h = 1e-4;
	double keep = v[i];
	v[i] = keep + h;
	f(out, ctx);
	double lp = dot(out, r, nout);
	v[i] = keep - h;
	f(out, ctx);
	double lm = dot(out, r, nout);
	v[i] = keep;
	return (lp - lm) / (2 * h);
}

/* Analytic gradient g (n) of L = f(v) . R against central differences,
 * on evenly spaced elements (every one when n <= 120). */
static inline int gradcheck(const char *what, const float *g, double *v, size_t n,
			    fwd_fn f, void *ctx, double *out, const float *r, size_t nout)
{
	size_t step = n > 120 ? n / 120 : 1;
	for (size_t i = 0; i < n; i += step) {
		double num = numgrad(v, i, f, ctx, out, r, nout);
		if (!(fabs(g[i] - num) <= 2e-3 * (1 + fabs(num)))) {
			printf("#   %s[%zu]: analytic %.9g, numeric %.9g\n", what, i, g[i], num);
			return 0;
		}
	}
	return 1;
}

#endif
