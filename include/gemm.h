/*
 * gemm.h: single-precision matrix products for the layers, tiled over the
 * thread pool (par.h), each tile one single-threaded OpenBLAS call.
 *
 * The tiling depends on the shape only, so a product is bit-identical
 * whatever the thread count.
 */
#ifndef MEMPROBE_GEMM_H
#define MEMPROBE_GEMM_H

#include <stddef.h>

/* C (M,N) = alpha * op(A) (M,K) op(B) (K,N) + beta * C, row-major;
 * op(X) = X^T when tX is nonzero. */
void gemm(int ta, int tb, int M, int N, int K, float alpha,
	  const float *A, int lda, const float *B, int ldb,
	  float beta, float *C, int ldc);

/* One call in the calling thread (for code that already runs in a task). */
void gemm1(int ta, int tb, int M, int N, int K, float alpha,
	   const float *A, int lda, const float *B, int ldb,
	   float beta, float *C, int ldc);

/* Reference: plain loops with float accumulation, for tests. */
void gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
		const float *A, int lda, const float *B, int ldb,
		float beta, float *C, int ldc);

#endif
