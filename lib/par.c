/*
 * par.c: the worker pool behind par_for, and the OpenBLAS core fix-up.
 *
 * The pool is built for many short parallel regions (a training step runs
 * a few dozen): workers spin briefly on a generation counter before
 * sleeping on a condition variable, and the caller takes tasks too.
 */
#include "par.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define SPIN_ITERS 20000

static struct {
	pthread_mutex_t mu;
	pthread_cond_t start, done;
	int nthreads;                   /* including the caller */
	pthread_t *tids;
	void (*fn)(void *, size_t);
	void *ctx;
	size_t ntasks;
	atomic_size_t next;
	atomic_int pending;             /* workers not yet finished this job */
	atomic_uint gen;
	int quit;
} pool = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.start = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
	.nthreads = 1,
};

static _Thread_local int in_task;
static _Thread_local int self_id;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void take_tasks(void)
{
	size_t i;
	in_task = 1;
	while ((i = atomic_fetch_add_explicit(&pool.next, 1,
			memory_order_relaxed)) < pool.ntasks)
		pool.fn(pool.ctx, i);
	in_task = 0;
}

struct worker_arg {
	unsigned gen;
	int id;
};

static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	unsigned seen = wa->gen;
	self_id = wa->id;
	free(wa);
	for (;;) {
		unsigned g;
		int spins = 0;
		while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen
		       && spins < SPIN_ITERS) {
			cpu_relax();
			spins++;
		}
		if (g == seen) {
			pthread_mutex_lock(&pool.mu);
			while ((g = atomic_load(&pool.gen)) == seen && !pool.quit)
				pthread_cond_wait(&pool.start, &pool.mu);
			pthread_mutex_unlock(&pool.mu);
		}
		if (pool.quit)
			return NULL;
		seen = g;
		take_tasks();
		if (atomic_fetch_sub_explicit(&pool.pending, 1,
				memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&pool.mu);
			pthread_cond_signal(&pool.done);
			pthread_mutex_unlock(&pool.mu);
		}
	}
}

static void pool_stop(void)
{
	if (pool.nthreads <= 1)
		return;
	pthread_mutex_lock(&pool.mu);
	pool.quit = 1;
	atomic_fetch_add(&pool.gen, 1);
	pthread_cond_broadcast(&pool.start);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.nthreads - 1; i++)
		pthread_join(pool.tids[i], NULL);
	free(pool.tids);
	pool.tids = NULL;
	pool.quit = 0;
	pool.nthreads = 1;
}

void par_init(int n)
{
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	if (n > 256)
		n = 256;
	openblas_set_num_threads(1);
	if (n == pool.nthreads)
		return;
	pool_stop();
	pool.tids = xcalloc((size_t)n, sizeof *pool.tids);
	unsigned g = atomic_load(&pool.gen);
	for (int i = 0; i < n - 1; i++) {
		struct worker_arg *wa = xmalloc(sizeof *wa);
		wa->gen = g;
		wa->id = i + 1;
		if (pthread_create(&pool.tids[i], NULL, worker, wa)) {
			free(wa);
			n = i + 1;
			break;
		}
	}
	pool.nthreads = n;
}

int par_threads(void)
{
	return pool.nthreads;
}

int par_self(void)
{
	return self_id;
}

void par_for(size_t ntasks, void (*fn)(void *ctx, size_t i), void *ctx)
{
	if (ntasks == 0)
		return;
	if (pool.nthreads <= 1 || ntasks == 1 || in_task) {
		for (size_t i = 0; i < ntasks; i++)
			fn(ctx, i);
		return;
	}
	pool.fn = fn;
	pool.ctx = ctx;
	pool.ntasks = ntasks;
	atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
	atomic_store_explicit(&pool.pending, pool.nthreads - 1, memory_order_relaxed);
	pthread_mutex_lock(&pool.mu);
	atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
	pthread_cond_broadcast(&pool.start);
	pthread_mutex_unlock(&pool.mu);
	take_tasks();
	int spins = 0;
	while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0
	       && spins < SPIN_ITERS) {
		cpu_relax();
		spins++;
	}
	if (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) {
		pthread_mutex_lock(&pool.mu);
		while (atomic_load(&pool.pending) > 0)
			pthread_cond_wait(&pool.done, &pool.mu);
		pthread_mutex_unlock(&pool.mu);
	}
}

size_t par_ntasks(size_t n, size_t grain)
{
	if (grain == 0)
		grain = 1;
	size_t t = (n + grain - 1) / grain;
	return t ? t : 1;
}

void par_range(size_t n, size_t ntasks, size_t i, size_t *lo, size_t *hi)
{
	size_t q = n / ntasks, r = n % ntasks;
	*lo = i * q + (i < r ? i : r);
	*hi = *lo + q + (i < r);
}

const char *par_blas_core(void)
{
	const char *s = openblas_get_corename();
	return s ? s : "unknown";
}

void par_blas_reexec(char **argv)
{
	if (getenv("OPENBLAS_CORETYPE") || !argv)
		return;
	const char *core = par_blas_core();
	if (strcmp(core, "Prescott") && strcmp(core, "prescott"))
		return;
	const char *want = NULL;
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
	    && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
		want = "SkylakeX";
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		want = "Haswell";
#endif
	if (!want)
		return;
	/* The real path, so that the process keeps its name (ps, top). */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0 || (size_t)n >= sizeof self - 1)
		return;
	self[n] = '\0';
	if (setenv("OPENBLAS_CORETYPE", want, 1))
		return;
	fflush(NULL);
	execv(self, argv);
	/* Not fatal: carry on with the slow kernels. */
	unsetenv("OPENBLAS_CORETYPE");
}
