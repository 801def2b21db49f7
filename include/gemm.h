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

/*
 * Single-threaded kernels for the layers' own shapes (lib/core/gemm512.c):
 * AVX-512 register-blocked loops where the CPU has it (OpenBLAS
 * otherwise), with no packing, so that a product of 32 rows costs no more
 * than its arithmetic. Callers split their work into tasks themselves.
 *
 * gemm_nn: C (M,N) = A (M,K) B (K,N), plus C when acc; A(m,k) is
 *          A[m*rsa + k*csa] (either stride may be 1), B is row-major.
 * gemm_nt: C (M,N) = A (M,K) B (N,K)^T, rows of A and B contiguous in K:
 *          each element a dot product.
 */
void gemm_nn(int M, int N, int K, const float *A, size_t rsa, size_t csa,
	     const float *B, size_t ldb, float *C, size_t ldc, int acc);
void gemm_nt(int M, int N, int K, const float *A, size_t lda,
	     const float *B, size_t ldb, float *C, size_t ldc);
/* The same with the rows of B given as pointers (B(k, n) = brow[k][n] for
 * gemm_nn_rows, B(n, k) = brow[n][k] for gemm_nt_rows): an implicit
 * matrix, e.g. shifted views of a padded image for a convolution. */
void gemm_nn_rows(int M, int N, int K, const float *A, size_t rsa, size_t csa,
		  const float *const *brow, float *C, size_t ldc, int acc);
void gemm_nt_rows(int M, int N, int K, const float *A, size_t lda,
		  const float *const *brow, float *C, size_t ldc);
/* gemm_nn_rows that also prefetches the same columns of rows pfrow[k]
 * (K of them, e.g. the next block of a matrix streamed from memory) while
 * it first reads brow[k]. */
void gemm_nn_rows_pf(int M, int N, int K, const float *A, size_t rsa, size_t csa,
		     const float *const *brow, const float *const *pfrow,
		     float *C, size_t ldc, int acc);
/* 1 when the AVX-512 kernels are in use. */
int gemm_has_avx512(void);

/* Reference: plain loops with float accumulation, for tests. */
void gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
		const float *A, int lda, const float *B, int ldb,
		float beta, float *C, int ldc);

#endif
