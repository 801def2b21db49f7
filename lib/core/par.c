/*
 * par.c: the worker pool behind par_for, CPU feature detection, and the
 * OpenBLAS core fix-up.
 *
 * The pool is built for many short parallel regions (a training step runs
 * a few dozen) on machines that may be busy with other work. Threads claim
 * tasks with compare-and-swap on one 64-bit word, generation << 32 | next
 * task, so a worker that wakes late finds the job gone and claims nothing,
 * and the caller, which takes tasks too, waits only for the tasks to be
 * done, never for a descheduled worker to notice the job. Workers spin
 * briefly before sleeping.
 *
 * Why a job can never run with another job's context. Job g is published
 * as an immutable descriptor (fn, ctx, ntasks, done) in slot[g & 1],
 * written before the generation word is set to g << 32 with release order;
 * nothing in a slot changes while its generation is the current one.
 *
 *   1. A worker loads the word, v = (g, i), and reads ntasks from slot[g & 1]
 *      (an atomic read: the slot may be being rewritten for g + 2, see 3).
 *   2. It claims task i with CAS(word, v, v + 1). The CAS succeeds only if
 *      the word still holds generation g, so the claim is made against job
 *      g, and i < ntasks was checked against job g's ntasks unless the slot
 *      held job g + 2's by then, which needs the word at g + 1 or later and
 *      fails the CAS.
 *   3. Job g cannot end before task i is done (its caller waits for the
 *      slot's done == ntasks), so slot[g & 1] is not rewritten (for job
 *      g + 2, after job g's par_for returned) while the worker reads fn and
 *      ctx from it and runs the task: they are job g's.
 *   4. done counts tasks of job g only (each slot has its own counter, reset
 *      before the slot is published again), so par_for returns exactly when
 *      all of its tasks, and none of another job's, are complete.
 * A worker would have to sleep between its load and its CAS for 2^32 jobs
 * (the generation wraps) to break step 2.
 *
 * Why not OpenMP (GCC's libgomp, make PAR=openmp builds par_for on it,
 * par_for_omp below): it gives the same results, since tasks and their
 * order of reduction are the callers'. The pool is kept for two reasons.
 * libgomp is not built with ThreadSanitizer, so the zero-report TSan pass
 * (make check-tsan) would need every report inside it suppressed, and with
 * them any real race that passes through it; this pool is checked whole.
 * And a par_for here costs one CAS to publish and claims that a late
 * worker skips, where libgomp's team barrier waits for every thread,
 * descheduled or not, on a busy machine. bench/bench_par.sh measures both
 * on MLP and CNN epochs. On 12,000 MNIST images, 2-core AVX2 machine, a
 * nice-19 process busy on one core (seconds per epoch, pool / libgomp):
 * MLP 14.9 / 14.3 at 1 thread, 14.6 / 61.9 at 2, 15.7 / 14.1 at 4;
 * CNN 25.0 / 28.1, 28.4 / 56.3, 29.5 / 29.9. Even otherwise, libgomp's
 * barrier costs 2-4x at 2 threads as soon as one core is shared. On the
 * same machine quiet: MLP 10.46 / 10.36, 5.74 / 5.61 (a first run gave
 * 7.18 / 5.59), 5.80 / 5.68; CNN 19.97 / 25.04, 10.86 / 9.96, 12.53 /
 * 11.86: libgomp 2-8% ahead at 2 threads (its workers spin before they
 * sleep, ours sleep at once), not enough to give up the rest. A short
 * spin before sleeping is the way to close that gap.
 */
#define _GNU_SOURCE          /* sched_getaffinity, CPU_COUNT */
#include "par.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MEMPROBE_OPENMP
#include <omp.h>
#endif

#include "util.h"

/* About 50-100 microseconds of pause instructions. */
#define SPIN_ITERS 1000

struct job {
	void (*fn)(void *, size_t);
	void *ctx;
	atomic_size_t ntasks;
	atomic_size_t done;             /* tasks of this job done */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t wake;
	int nthreads;                   /* including the caller */
	pthread_t *tids;
	struct job slot[2];             /* job g in slot[g & 1] */
	_Atomic uint64_t claim;         /* generation << 32 | next task */
	atomic_int sleepers;
	atomic_int quit;
} pool = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
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

static uint32_t gen_of(uint64_t v)
{
	return (uint32_t)(v >> 32);
}

/* Claim and run tasks of generation g until none is left. */
static void take_tasks(uint32_t g)
{
	struct job *j = &pool.slot[g & 1];
	in_task = 1;
	for (;;) {
		uint64_t v = atomic_load_explicit(&pool.claim, memory_order_acquire);
		if (gen_of(v) != g)
			break;
		size_t i = (uint32_t)v;
		if (i >= atomic_load_explicit(&j->ntasks, memory_order_relaxed))
			break;
		if (!atomic_compare_exchange_weak_explicit(&pool.claim, &v, v + 1,
				memory_order_acq_rel, memory_order_relaxed))
			continue;
		/* Claimed against generation g: job g cannot end before this
		 * task is done, so fn and ctx are job g's (the proof above). */
		j->fn(j->ctx, i);
		atomic_fetch_add_explicit(&j->done, 1, memory_order_release);
	}
	in_task = 0;
}

struct worker_arg {
	uint32_t gen;
	int id;
};

static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	uint32_t seen = wa->gen;
	self_id = wa->id;
	free(wa);
	for (;;) {
		uint32_t g;
		int spins = 0;
		while ((g = gen_of(atomic_load_explicit(&pool.claim, memory_order_acquire))) == seen
		       && spins < SPIN_ITERS && !atomic_load(&pool.quit)) {
			cpu_relax();
			spins++;
		}
		if (g == seen) {
			/* Sleepers, then the generation (both sequentially
			 * consistent, as par_for's generation, then sleepers):
			 * either par_for sees this sleeper and wakes it, or
			 * this thread sees the new generation. */
			pthread_mutex_lock(&pool.mu);
			atomic_fetch_add(&pool.sleepers, 1);
			while ((g = gen_of(atomic_load(&pool.claim))) == seen
			       && !atomic_load(&pool.quit))
				pthread_cond_wait(&pool.wake, &pool.mu);
			atomic_fetch_sub(&pool.sleepers, 1);
			pthread_mutex_unlock(&pool.mu);
		}
		if (atomic_load(&pool.quit))
			return NULL;
		seen = g;
		take_tasks(g);
	}
}

static void pool_stop(void)
{
	if (pool.nthreads <= 1) {
		free(pool.tids);
		pool.tids = NULL;
		return;
	}
	pthread_mutex_lock(&pool.mu);
	atomic_store(&pool.quit, 1);
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.nthreads - 1; i++)
		pthread_join(pool.tids[i], NULL);
	free(pool.tids);
	pool.tids = NULL;
	atomic_store(&pool.quit, 0);
	pool.nthreads = 1;
}

/* The CPUs this process may run on: its affinity mask, which taskset,
 * numactl and a Slurm task's cgroup or binding narrow, else every CPU. */
static int usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long c = sysconf(_SC_NPROCESSORS_ONLN);
	return c > 0 ? (int)c : 1;
}

void par_init(int n)
{
	if (n <= 0)
		n = usable_cpus();
	if (n > 256)
		n = 256;
	openblas_set_num_threads(1);
	/* Detect CPU features before any worker can ask. */
	(void)par_cpu_avx512();
	if (n == pool.nthreads)
		return;
	pool_stop();
#ifdef MEMPROBE_OPENMP
	pool.nthreads = n;
	return;
#endif
	pool.tids = xcalloc((size_t)n, sizeof *pool.tids);
	uint32_t g = gen_of(atomic_load(&pool.claim));
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

#ifdef MEMPROBE_OPENMP
/* The same contract through libgomp, for comparison (make PAR=openmp).
 * Dynamic schedule, one task at a time, like the pool. */
static void par_for_omp(size_t ntasks, void (*fn)(void *, size_t), void *ctx)
{
	#pragma omp parallel num_threads(pool.nthreads)
	{
		self_id = omp_get_thread_num();
		in_task = 1;
		#pragma omp for schedule(dynamic, 1)
		for (size_t i = 0; i < ntasks; i++)
			fn(ctx, i);
		in_task = 0;
	}
	self_id = 0;
}
#endif

void par_for(size_t ntasks, void (*fn)(void *ctx, size_t i), void *ctx)
{
	if (ntasks == 0)
		return;
	if (pool.nthreads <= 1 || ntasks == 1 || in_task) {
		for (size_t i = 0; i < ntasks; i++)
			fn(ctx, i);
		return;
	}
#ifdef MEMPROBE_OPENMP
	par_for_omp(ntasks, fn, ctx);
	return;
#endif
	MP_ASSERT(ntasks < UINT32_MAX);
	uint32_t g = gen_of(atomic_load(&pool.claim)) + 1;
	/* Nobody reads this slot: its last job (g - 2) is complete, and a
	 * late reader of it fails its claim (the proof above). */
	struct job *j = &pool.slot[g & 1];
	j->fn = fn;
	j->ctx = ctx;
	atomic_store_explicit(&j->ntasks, ntasks, memory_order_relaxed);
	atomic_store_explicit(&j->done, 0, memory_order_relaxed);
	atomic_store(&pool.claim, (uint64_t)g << 32);
	if (atomic_load(&pool.sleepers) > 0) {
		pthread_mutex_lock(&pool.mu);
		pthread_cond_broadcast(&pool.wake);
		pthread_mutex_unlock(&pool.mu);
	}
	take_tasks(g);
	/* Tasks still running on other threads: spin, then let them have
	 * the CPU if the machine is busy. */
	for (int spins = 0; atomic_load_explicit(&j->done, memory_order_acquire) < ntasks;
	     spins++) {
		if (spins < SPIN_ITERS)
			cpu_relax();
		else
			sched_yield();
	}
}

static int cpu_avx512;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	cpu_avx512 = __builtin_cpu_supports("avx512f") != 0;
#endif
}

int par_cpu_avx512(void)
{
	pthread_once(&cpu_once, cpu_detect);
	return cpu_avx512;
}

/* Thread-local scratch: freed when its thread ends (workers end when the
 * pool is resized), through one key whose value lists the blocks. */
struct tls_block {
	void **slot;
	struct tls_block *next;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
	for (struct tls_block *b = p, *n; b; b = n) {
		n = b->next;
		free(*b->slot);
		*b->slot = NULL;
		free(b);
	}
}

static void tls_init(void)
{
	pthread_key_create(&tls_key, tls_free);
}

void *par_tls_grow(void **slot, size_t *cap, size_t bytes)
{
	if (bytes <= *cap)
		return *slot;
	pthread_once(&tls_once, tls_init);
	if (!*slot) {
		struct tls_block *b = xmalloc(sizeof *b);
		b->slot = slot;
		b->next = pthread_getspecific(tls_key);
		pthread_setspecific(tls_key, b);
	}
	free(*slot);
	*slot = xaligned_calloc(bytes, 1);
	*cap = bytes;
	return *slot;
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
