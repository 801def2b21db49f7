/*
 * gemm512.c: the layers' matrix products as AVX-512 register-blocked
 * kernels, without packing (the operands of a batch-32 layer are too small
 * for packing to pay for itself; OpenBLAS packs anyway).
 *
 * gemm_nn: an 8x48 tile of C in 24 registers; each step of k broadcasts 8
 *   elements of A and loads 48 of one row of B. Rows of A past M repeat a
 *   valid row and are not stored; columns past N are masked.
 * gemm_nt: a 4x6 tile of dot products, each a register of 16 partial sums
 *   along k, reduced at the end; rows past M or N repeat a valid row.
 *
 * Both are deterministic: the order of operations depends on the shapes
 * only. Without AVX-512 they call OpenBLAS.
 */
#include "gemm.h"

#include <cblas.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"
#include "util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

#define NN_MR 8
#define NN_NV 3                 /* vectors of 16 */
#define NN_NR (16 * NN_NV)
#define NT_MR 4
#define NT_NR 6
/* gemm_nt works through A in chunks of this many rows (L2). */
#define NT_MC 64
/* gemm_nn keeps B whole in L2 up to this size. */
#define NN_B_L2 ((size_t)512 << 10)

int gemm_has_avx512(void)
{
#ifdef GEMM_X86
	return par_cpu_avx512();
#else
	return 0;
#endif
}

#ifdef GEMM_X86
static inline __mmask16 tail_mask(int n)
{
	return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

__attribute__((target("avx512f")))
static void nn_tile(int K, const float *const *ar, size_t csa,
		    const float *const *brow, const float *const *pf, size_t n0,
		    float *C, size_t ldc, int mr, int nr, int acc)
{
	__m512 c[NN_MR][NN_NV];
	__mmask16 mk[NN_NV];
#pragma GCC unroll 3
	for (int j = 0; j < NN_NV; j++)
		mk[j] = tail_mask(nr - 16 * j);
#pragma GCC unroll 8
	for (int r = 0; r < NN_MR; r++)
#pragma GCC unroll 3
		for (int j = 0; j < NN_NV; j++)
			c[r][j] = _mm512_setzero_ps();
	const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3];
	const float *a4 = ar[4], *a5 = ar[5], *a6 = ar[6], *a7 = ar[7];
	if (nr == NN_NR && pf) {
		/* Also bring in the same columns of the next rows of B. */
		for (int k = 0; k < K; k++) {
			const float *b = brow[k] + n0, *q = pf[k] + n0;
			size_t o = (size_t)k * csa;
			_mm_prefetch((const char *)q, _MM_HINT_T0);
			_mm_prefetch((const char *)(q + 16), _MM_HINT_T0);
			_mm_prefetch((const char *)(q + 32), _MM_HINT_T0);
			__m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
			__m512 b2 = _mm512_loadu_ps(b + 32), a;
#define NN_ROW(r, p) a = _mm512_set1_ps(p[o]); \
			c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]); \
			c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]); \
			c[r][2] = _mm512_fmadd_ps(a, b2, c[r][2]);
			NN_ROW(0, a0) NN_ROW(1, a1) NN_ROW(2, a2) NN_ROW(3, a3)
			NN_ROW(4, a4) NN_ROW(5, a5) NN_ROW(6, a6) NN_ROW(7, a7)
		}
	} else if (nr == NN_NR) {
		for (int k = 0; k < K; k++) {
			const float *b = brow[k] + n0;
			size_t o = (size_t)k * csa;
			__m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
			__m512 b2 = _mm512_loadu_ps(b + 32), a;
			NN_ROW(0, a0) NN_ROW(1, a1) NN_ROW(2, a2) NN_ROW(3, a3)
			NN_ROW(4, a4) NN_ROW(5, a5) NN_ROW(6, a6) NN_ROW(7, a7)
		}
	} else {
		for (int k = 0; k < K; k++) {
			const float *b = brow[k] + n0;
			size_t o = (size_t)k * csa;
			__m512 b0 = _mm512_maskz_loadu_ps(mk[0], b);
			__m512 b1 = _mm512_maskz_loadu_ps(mk[1], b + 16);
			__m512 b2 = _mm512_maskz_loadu_ps(mk[2], b + 32), a;
			NN_ROW(0, a0) NN_ROW(1, a1) NN_ROW(2, a2) NN_ROW(3, a3)
			NN_ROW(4, a4) NN_ROW(5, a5) NN_ROW(6, a6) NN_ROW(7, a7)
#undef NN_ROW
		}
	}
#pragma GCC unroll 8
	for (int r = 0; r < NN_MR; r++) {
		if (r >= mr)
			break;
		float *cr = C + (size_t)r * ldc;
#pragma GCC unroll 3
		for (int j = 0; j < NN_NV; j++) {
			__m512 v = c[r][j];
			if (acc)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk[j], cr + 16 * j));
			_mm512_mask_storeu_ps(cr + 16 * j, mk[j], v);
		}
	}
}

__attribute__((target("avx512f")))
static void nt_tile(int K, const float *const *ar, const float *const *br,
		    const float *const *pf, float *C, size_t ldc, int mr, int nr)
{
	__m512 c[NT_MR][NT_NR];
#pragma GCC unroll 4
	for (int r = 0; r < NT_MR; r++)
#pragma GCC unroll 6
		for (int j = 0; j < NT_NR; j++)
			c[r][j] = _mm512_setzero_ps();
	const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3];
	const float *b0 = br[0], *b1 = br[1], *b2 = br[2], *b3 = br[3];
	const float *b4 = br[4], *b5 = br[5];
	int k = 0;
#define NT_STEP(LOAD) do { \
		__m512 va0 = LOAD(a0), va1 = LOAD(a1), va2 = LOAD(a2), va3 = LOAD(a3), vb; \
		vb = LOAD(b0); c[0][0] = _mm512_fmadd_ps(va0, vb, c[0][0]); \
		c[1][0] = _mm512_fmadd_ps(va1, vb, c[1][0]); c[2][0] = _mm512_fmadd_ps(va2, vb, c[2][0]); \
		c[3][0] = _mm512_fmadd_ps(va3, vb, c[3][0]); \
		vb = LOAD(b1); c[0][1] = _mm512_fmadd_ps(va0, vb, c[0][1]); \
		c[1][1] = _mm512_fmadd_ps(va1, vb, c[1][1]); c[2][1] = _mm512_fmadd_ps(va2, vb, c[2][1]); \
		c[3][1] = _mm512_fmadd_ps(va3, vb, c[3][1]); \
		vb = LOAD(b2); c[0][2] = _mm512_fmadd_ps(va0, vb, c[0][2]); \
		c[1][2] = _mm512_fmadd_ps(va1, vb, c[1][2]); c[2][2] = _mm512_fmadd_ps(va2, vb, c[2][2]); \
		c[3][2] = _mm512_fmadd_ps(va3, vb, c[3][2]); \
		vb = LOAD(b3); c[0][3] = _mm512_fmadd_ps(va0, vb, c[0][3]); \
		c[1][3] = _mm512_fmadd_ps(va1, vb, c[1][3]); c[2][3] = _mm512_fmadd_ps(va2, vb, c[2][3]); \
		c[3][3] = _mm512_fmadd_ps(va3, vb, c[3][3]); \
		vb = LOAD(b4); c[0][4] = _mm512_fmadd_ps(va0, vb, c[0][4]); \
		c[1][4] = _mm512_fmadd_ps(va1, vb, c[1][4]); c[2][4] = _mm512_fmadd_ps(va2, vb, c[2][4]); \
		c[3][4] = _mm512_fmadd_ps(va3, vb, c[3][4]); \
		vb = LOAD(b5); c[0][5] = _mm512_fmadd_ps(va0, vb, c[0][5]); \
		c[1][5] = _mm512_fmadd_ps(va1, vb, c[1][5]); c[2][5] = _mm512_fmadd_ps(va2, vb, c[2][5]); \
		c[3][5] = _mm512_fmadd_ps(va3, vb, c[3][5]); \
	} while (0)
#define LD_FULL(p) _mm512_loadu_ps((p) + k)
	if (pf) {
		/* Bring the next rows of B in, a line of each per step, while
		 * these are multiplied: one stream per row, all in flight. */
		const float *p0 = pf[0], *p1 = pf[1], *p2 = pf[2];
		const float *p3 = pf[3], *p4 = pf[4], *p5 = pf[5];
		for (; k + 16 <= K; k += 16) {
			_mm_prefetch((const char *)(p0 + k), _MM_HINT_T0);
			_mm_prefetch((const char *)(p1 + k), _MM_HINT_T0);
			_mm_prefetch((const char *)(p2 + k), _MM_HINT_T0);
			_mm_prefetch((const char *)(p3 + k), _MM_HINT_T0);
			_mm_prefetch((const char *)(p4 + k), _MM_HINT_T0);
			_mm_prefetch((const char *)(p5 + k), _MM_HINT_T0);
			NT_STEP(LD_FULL);
		}
	}
	for (; k + 16 <= K; k += 16)
		NT_STEP(LD_FULL);
	if (k < K) {
		__mmask16 m = tail_mask(K - k);
#define LD_TAIL(p) _mm512_maskz_loadu_ps(m, (p) + k)
		NT_STEP(LD_TAIL);
#undef LD_TAIL
	}
#undef LD_FULL
#undef NT_STEP
#pragma GCC unroll 4
	for (int r = 0; r < NT_MR; r++) {
		if (r >= mr)
			break;
#pragma GCC unroll 6
		for (int j = 0; j < NT_NR; j++)
			if (j < nr)
				C[(size_t)r * ldc + j] = _mm512_reduce_add_ps(c[r][j]);
	}
}
#endif

/* A thread's table of row pointers for gemm_nn's B. */
static _Thread_local void *rowtab;
static _Thread_local size_t rowtab_cap;

static const float **row_table(size_t n)
{
	size_t bytes;
	if (mp_mul_size(n, sizeof(float *), &bytes))
		MP_ASSERT(!"row table size overflows");
	return par_tls_grow(&rowtab, &rowtab_cap, bytes);
}

/* Without AVX-512: the n rows of width w given as pointers, as one matrix
 * for OpenBLAS: the rows themselves when they are equally spaced (rows of
 * a matrix, as in the linear layers), else a copy in the thread's scratch
 * (shifted views of an image, as in the convolutions). *ld: its stride. */
static _Thread_local void *packed;
static _Thread_local size_t packed_cap;

static const float *rows_matrix(const float *const *rows, int n, int w, size_t *ld)
{
	uintptr_t r0 = (uintptr_t)rows[0];
	uintptr_t step = n > 1 ? (uintptr_t)rows[1] - r0 : (uintptr_t)w * sizeof(float);
	int strided = step % sizeof(float) == 0 && step / sizeof(float) >= (uintptr_t)w
		      && step / sizeof(float) <= INT_MAX;
	for (int k = 2; strided && k < n; k++)
		strided = (uintptr_t)rows[k] - (uintptr_t)rows[k - 1] == step;
	if (strided) {
		*ld = step / sizeof(float);
		return rows[0];
	}
	size_t count, bytes;
	if (mp_mul_size((size_t)n, (size_t)w, &count) || mp_mul_size(count, sizeof(float), &bytes))
		MP_ASSERT(!"packed rows size overflows");
	float *buf = par_tls_grow(&packed, &packed_cap, bytes);
	for (int k = 0; k < n; k++)
		memcpy(buf + (size_t)k * w, rows[k], (size_t)w * sizeof(float));
	*ld = (size_t)w;
	return buf;
}

void gemm_nn_rows_pf(int M, int N, int K, const float *A, size_t rsa, size_t csa,
		     const float *const *brow, const float *const *pfrow,
		     float *C, size_t ldc, int acc)
{
	if (M <= 0 || N <= 0)
		return;
#ifdef GEMM_X86
	if (gemm_has_avx512()) {
		const float *ar[NN_MR];
		/* Rows of C outermost while all of B stays in L2 (C's tiles
		 * are then written row block by row block); else columns
		 * outermost, so that a column block of B is reused from L2. */
		int rows_out = (size_t)K * N * sizeof(float) <= NN_B_L2;
		int nm = (M + NN_MR - 1) / NN_MR, nn = (N + NN_NR - 1) / NN_NR;
		for (int t = 0; t < nm * nn; t++) {
			int m0 = (rows_out ? t / nn : t % nm) * NN_MR;
			int n0 = (rows_out ? t % nn : t / nm) * NN_NR;
			int nr = N - n0 < NN_NR ? N - n0 : NN_NR;
			int mr = M - m0 < NN_MR ? M - m0 : NN_MR;
			for (int r = 0; r < NN_MR; r++)
				ar[r] = A + (size_t)(m0 + (r < mr ? r : mr - 1)) * rsa;
			nn_tile(K, ar, csa, brow, m0 == 0 ? pfrow : NULL, (size_t)n0,
				C + (size_t)m0 * ldc + n0, ldc, mr, nr, acc);
		}
		return;
	}
#endif
	(void)pfrow;
	if (K <= 0) {
		for (int m = 0; !acc && m < M; m++)
			memset(C + (size_t)m * ldc, 0, (size_t)N * sizeof *C);
		return;
	}
	size_t ldb;
	const float *B = rows_matrix(brow, K, N, &ldb);
	int ta = csa != 1;
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, M, N, K,
		    1.0f, A, (int)(ta ? csa : rsa), B, (int)ldb, acc ? 1.0f : 0.0f,
		    C, (int)ldc);
}

void gemm_nn_rows(int M, int N, int K, const float *A, size_t rsa, size_t csa,
		  const float *const *brow, float *C, size_t ldc, int acc)
{
	gemm_nn_rows_pf(M, N, K, A, rsa, csa, brow, NULL, C, ldc, acc);
}

void gemm_nn(int M, int N, int K, const float *A, size_t rsa, size_t csa,
	     const float *B, size_t ldb, float *C, size_t ldc, int acc)
{
	if (M <= 0 || N <= 0)
		return;
#ifdef GEMM_X86
	if (gemm_has_avx512()) {
		const float **brow = row_table((size_t)(K > 0 ? K : 1));
		for (int k = 0; k < K; k++)
			brow[k] = B + (size_t)k * ldb;
		gemm_nn_rows(M, N, K, A, rsa, csa, brow, C, ldc, acc);
		return;
	}
#endif
	/* One of the strides of A is 1: it is row-major or transposed. */
	int ta = csa != 1;
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, M, N, K,
		    1.0f, A, (int)(ta ? csa : rsa), B, (int)ldb, acc ? 1.0f : 0.0f,
		    C, (int)ldc);
}

void gemm_nt_rows(int M, int N, int K, const float *A, size_t lda,
		  const float *const *brow, float *C, size_t ldc)
{
	if (M <= 0 || N <= 0)
		return;
#ifdef GEMM_X86
	if (gemm_has_avx512()) {
		const float *ar[NT_MR], *br[NT_NR], *pf[NT_NR];
		for (int mc = 0; mc < M; mc += NT_MC) {
			int mce = M - mc < NT_MC ? M : mc + NT_MC;
			for (int n0 = 0; n0 < N; n0 += NT_NR) {
				int nr = N - n0 < NT_NR ? N - n0 : NT_NR;
				for (int j = 0; j < NT_NR; j++)
					br[j] = brow[n0 + (j < nr ? j : nr - 1)];
				/* The first row block also prefetches the next
				 * rows of B (streamed once from memory, then
				 * reused by the other row blocks from cache). */
				int next = n0 + NT_NR < N;
				for (int j = 0; next && j < NT_NR; j++) {
					int nj = n0 + NT_NR + j;
					pf[j] = brow[nj < N ? nj : N - 1];
				}
				for (int m0 = mc; m0 < mce; m0 += NT_MR) {
					int mr = mce - m0 < NT_MR ? mce - m0 : NT_MR;
					for (int r = 0; r < NT_MR; r++)
						ar[r] = A + (size_t)(m0 + (r < mr ? r : mr - 1)) * lda;
					nt_tile(K, ar, br, next && m0 == mc ? pf : NULL,
						C + (size_t)m0 * ldc + n0, ldc, mr, nr);
				}
			}
		}
		return;
	}
#endif
	if (K <= 0) {
		for (int m = 0; m < M; m++)
			memset(C + (size_t)m * ldc, 0, (size_t)N * sizeof *C);
		return;
	}
	size_t ldb;
	const float *B = rows_matrix(brow, N, K, &ldb);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, (int)lda,
		    B, (int)ldb, 0.0f, C, (int)ldc);
}

void gemm_nt(int M, int N, int K, const float *A, size_t lda,
	     const float *B, size_t ldb, float *C, size_t ldc)
{
	if (M <= 0 || N <= 0)
		return;
#ifdef GEMM_X86
	if (gemm_has_avx512()) {
		const float **brow = row_table((size_t)N);
		for (int n = 0; n < N; n++)
			brow[n] = B + (size_t)n * ldb;
		gemm_nt_rows(M, N, K, A, lda, brow, C, ldc);
		return;
	}
#endif
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, (int)lda,
		    B, (int)ldb, 0.0f, C, (int)ldc);
}
