/*
 * test_par.c: the worker pool under stress. Many tiny jobs of varying
 * size, back to back, at 2 to 8 threads (more threads than cores, so
 * workers are descheduled mid-claim), each task checking that it runs
 * with its own job's context. Counted and required to be zero:
 *   duplicate runs  a task index run twice in one job
 *   missed runs     a task index never run
 *   foreign runs    a task run with another job's context
 *   late runs       a task still running, or starting, after par_for returned
 * Also: nested par_for runs inline, resizing the pool between jobs, and
 * par_range/par_ntasks depending on the shape only.
 */
#define _GNU_SOURCE          /* sched_setaffinity, CPU_SET */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"
#include "tap.h"

#define MAXT 64

struct job_ctx {
	atomic_int id;                  /* the job this context belongs to */
	atomic_int closed;              /* par_for has returned */
	atomic_int running;
	atomic_int count[MAXT];
	int spin;
};

static atomic_long foreign, late;

static void task(void *p, size_t i)
{
	struct job_ctx *c = p;
	int id = atomic_load(&c->id);
	if (atomic_load(&c->closed))
		atomic_fetch_add(&late, 1);
	atomic_fetch_add(&c->running, 1);
	atomic_fetch_add(&c->count[i], 1);
	/* A little work, varied by task, so that claims interleave. */
	volatile int sink = 0;
	for (int k = 0; k < c->spin * (int)(i % 3 + 1); k++)
		sink += k;
	if (c->spin > 60 && i % 7 == 3)
		sched_yield();
	if (atomic_load(&c->id) != id)
		atomic_fetch_add(&foreign, 1);
	atomic_fetch_sub(&c->running, 1);
	if (atomic_load(&c->closed))
		atomic_fetch_add(&late, 1);
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/* Run `jobs` jobs at `threads` threads; returns the number of bad events. */
static long stress(int threads, int jobs, uint32_t seed)
{
	long dup = 0, missed = 0;
	/* A context of its own for every job, never reused: a task that runs
	 * late finds its job closed, whenever it runs. */
	struct job_ctx *ctxs = calloc((size_t)jobs, sizeof *ctxs);
	if (!ctxs)
		return 1;
	atomic_store(&foreign, 0);
	atomic_store(&late, 0);
	par_init(threads);
	for (int j = 0; j < jobs; j++) {
		struct job_ctx *c = &ctxs[j];
		size_t n = 2 + lcg(&seed) % (MAXT - 1);
		atomic_store(&c->id, j);
		atomic_store(&c->closed, 0);
		atomic_store(&c->running, 0);
		for (int i = 0; i < MAXT; i++)
			atomic_store(&c->count[i], 0);
		/* Mostly empty tasks: the window between one job's end and the
		 * next one's start is where a pool goes wrong. */
		uint32_t r = lcg(&seed) % 256;
		c->spin = r < 192 ? 0 : (int)(r - 192);
		par_for(n, task, c);
		if (atomic_load(&c->running) != 0)
			atomic_fetch_add(&late, 1);
		atomic_store(&c->closed, 1);
		for (size_t i = 0; i < MAXT; i++) {
			int k = atomic_load(&c->count[i]);
			if (i < n && k == 0)
				missed++;
			if (k > 1 || (i >= n && k > 0))
				dup++;
		}
	}
	/* Let a task that is still running (a bug) be counted. */
	par_init(1);
	free(ctxs);
	long bad = dup + missed + atomic_load(&foreign) + atomic_load(&late);
	if (bad)
		printf("#   %d threads: %ld duplicate, %ld missed, %ld foreign, %ld late in %d jobs\n",
		       threads, dup, missed, atomic_load(&foreign), atomic_load(&late), jobs);
	return bad;
}

static int jobs_per_run(void)
{
	const char *s = getenv("MEMPROBE_PAR_JOBS");
	int n = s ? atoi(s) : 0;
	return n > 0 ? n : 20000;
}

TEST(stress_2_threads) { CHECK(stress(2, jobs_per_run(), 1) == 0); }
TEST(stress_3_threads) { CHECK(stress(3, jobs_per_run(), 2) == 0); }
TEST(stress_4_threads) { CHECK(stress(4, jobs_per_run(), 3) == 0); }
TEST(stress_8_threads) { CHECK(stress(8, jobs_per_run(), 4) == 0); }

/* Resize between jobs: workers of the old pool must be gone and the new
 * ones must start at the current generation. */
TEST(stress_resizing)
{
	long bad = 0;
	for (int r = 0; r < 40; r++)
		bad += stress(2 + r % 5, 200, 100 + (uint32_t)r);
	CHECK(bad == 0);
}

static atomic_int inner_runs;

static void inner(void *p, size_t i)
{
	(void)p;
	(void)i;
	atomic_fetch_add(&inner_runs, 1);
}

static void outer(void *p, size_t i)
{
	(void)i;
	int *ok = p;
	int before = par_self();
	par_for(5, inner, NULL);
	/* Inline: the nested tasks ran on this thread. */
	if (par_self() != before)
		*ok = 0;
}

TEST(nested_runs_inline)
{
	int ok = 1;
	par_init(4);
	atomic_store(&inner_runs, 0);
	par_for(8, outer, &ok);
	CHECK(ok);
	CHECK(atomic_load(&inner_runs) == 40);
}

TEST(ranges_tile_exactly)
{
	for (size_t n = 0; n < 200; n += 7)
		for (size_t g = 1; g < 40; g += 3) {
			size_t t = par_ntasks(n, g), prev = 0;
			CHECK(t >= 1);
			for (size_t i = 0; i < t; i++) {
				size_t lo, hi;
				par_range(n, t, i, &lo, &hi);
				CHECK(lo == prev && hi >= lo);
				prev = hi;
			}
			CHECK(prev == n);
		}
}

TEST(cpu_detection_is_stable)
{
	int a = par_cpu_avx512();
	CHECK(a == 0 || a == 1);
	CHECK(par_cpu_avx512() == a);
}

/* The default thread count follows the affinity mask (taskset, a Slurm
 * task's binding), not the machine's CPU count. */
TEST(default_follows_affinity)
{
	cpu_set_t old, one;
	CHECK(sched_getaffinity(0, sizeof old, &old) == 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &old)) {
			CPU_SET(c, &one);
			break;
		}
	CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
	par_init(0);
	CHECK(par_threads() == 1);
	CHECK(sched_setaffinity(0, sizeof old, &old) == 0);
	par_init(0);
	CHECK(par_threads() == CPU_COUNT(&old));
}

int main(void)
{
	RUN(stress_2_threads);
	RUN(stress_3_threads);
	RUN(stress_4_threads);
	RUN(stress_8_threads);
	RUN(stress_resizing);
	RUN(nested_runs_inline);
	RUN(ranges_tile_exactly);
	RUN(cpu_detection_is_stable);
	RUN(default_follows_affinity);
	par_init(1);
	return tap_done();
}
