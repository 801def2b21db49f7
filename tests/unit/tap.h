/*
 * tap.h: a minimal TAP producer for the C unit tests. Each test binary
 * prints "ok N - name" / "not ok N - name" lines and a plan at the end;
 * tests/run counts them with the bats results.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-6); }
 *   int main(void) { RUN(name); return tap_done(); }
 *
 * A table of cases checked by one function reports each case as a test of
 * its own: RUN_CASES(check_case, cases), every element with a .name.
 */
#ifndef MEMPROBE_TAP_H
#define MEMPROBE_TAP_H

#include <math.h>
#include <stdio.h>

static int tap_n, tap_failed, tap_cur_failed;

#define TEST(name) static void name(void)
#define CHECK(cond) \
	do { if (!(cond)) { tap_cur_failed = 1; \
		printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_NEAR(a, b, tol) \
	do { double a_ = (a), b_ = (b); \
		if (!(fabs(a_ - b_) <= (tol))) { tap_cur_failed = 1; \
		printf("#   %s:%d: %s = %.17g, %s = %.17g, |diff| > %g\n", __FILE__, \
			__LINE__, #a, a_, #b, b_, (double)(tol)); } } while (0)
/* The test that `call` makes, reported as `label`. */
#define RUN_AS(label, call) \
	do { tap_cur_failed = 0; call; tap_n++; \
		if (tap_cur_failed) tap_failed++; \
		printf("%s %d - %s\n", tap_cur_failed ? "not ok" : "ok", tap_n, label); \
		fflush(stdout); } while (0)
#define RUN(name) RUN_AS(#name, name())
#define RUN_CASES(fn, cases) \
	for (size_t case_ = 0; case_ < sizeof(cases) / sizeof((cases)[0]); case_++) \
		RUN_AS((cases)[case_].name, fn(&(cases)[case_]))

/* What tap_done runs first, if set (scratch.h: removing its folder). */
static void (*tap_cleanup)(void);

static inline int tap_done(void)
{
	if (tap_cleanup)
		tap_cleanup();
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

#endif
