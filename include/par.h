/*
 * par.h: a small pool of worker threads for the numeric kernels (layers,
 * optimizers, tiled GEMM), and the BLAS set-up that goes with it.
 *
 * Work is split into tasks whose boundaries depend only on the problem's
 * shape, never on the number of threads, and every task writes its own part
 * of the output: results are bit-identical whatever the thread count. The
 * BLAS itself runs single-threaded inside each task (par_init sets
 * openblas_set_num_threads(1)), so two thread pools never fight over the
 * two cores.
 *
 *   par_init(0);                          // once, in main: 0 = usable CPUs
 *   par_for(ntasks, fn, ctx);             // fn(ctx, i) for i in [0, ntasks)
 *
 * A par_for called from inside a task runs its tasks inline (no nesting).
 */
#ifndef MEMPROBE_PAR_H
#define MEMPROBE_PAR_H

#include <stddef.h>

/* Start n - 1 workers (the caller is the n-th thread); n <= 0: the number
 * of CPUs the process's affinity mask allows (taskset, a Slurm task's
 * binding), else of online CPUs. May be called again to change the count. */
void par_init(int n);
/* The current thread count (1 before par_init). */
int par_threads(void);
/* The calling thread's index in [0, par_threads()): 0 outside tasks and
 * in the thread that called par_for. For per-thread scratch space. */
int par_self(void);
/* Run fn(ctx, i) for every i in [0, ntasks) and wait for all of them.
 * Tasks are handed out dynamically; their results must not depend on
 * which thread runs them. */
void par_for(size_t ntasks, void (*fn)(void *ctx, size_t i), void *ctx);

/* 1 if the CPU has AVX-512F. Detected once (par_init does it before any
 * worker starts), so the kernels' checks are plain reads, race-free. */
int par_cpu_avx512(void);

/* Thread-local scratch that is freed when its thread ends: *slot (a
 * _Thread_local pointer) grown to at least `bytes` (64-byte aligned, not
 * preserved), *cap its size. Returns *slot. */
void *par_tls_grow(void **slot, size_t *cap, size_t bytes);

/* Tasks of about `grain` items over n items: the count of tasks, and the
 * range [*lo, *hi) of task i. A function of n and grain only. */
size_t par_ntasks(size_t n, size_t grain);
void par_range(size_t n, size_t ntasks, size_t i, size_t *lo, size_t *hi);

/*
 * OpenBLAS 0.3.21 (Debian 12) does not recognise recent Intel cores and
 * falls back to its slowest x86-64 kernels ("Prescott"), several times
 * slower than its AVX-512 ones. OPENBLAS_CORETYPE picks the kernels, but
 * only when the library loads. par_blas_reexec() checks, at the top of
 * main, whether OpenBLAS chose the generic core while the CPU has AVX-512
 * (or AVX2), and if so re-executes the program once with OPENBLAS_CORETYPE
 * set (SkylakeX or Haswell). A user's own OPENBLAS_CORETYPE is respected.
 * Returns only when no re-execution was needed (or it failed).
 */
void par_blas_reexec(char **argv);
/* OpenBLAS's core name ("SkylakeX"). */
const char *par_blas_core(void);

#endif
