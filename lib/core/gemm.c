/*
 * gemm.c: tiled sgemm over the worker pool. Tiles split C by rows and
 * columns only (never the inner dimension K), so every element of C is one
 * BLAS dot product whatever the number of threads.
 */
#include "gemm.h"

#include <cblas.h>

#include "par.h"

/* Below this many flops a product runs as one call. */
#define GEMM_SERIAL_FLOPS (1u << 21)

struct gemm_job {
	int ta, tb, M, N, K;
	float alpha, beta;
	const float *A, *B;
	float *C;
	int lda, ldb, ldc;
	size_t tm, tn;          /* tiles along M and N */
};

void gemm1(int ta, int tb, int M, int N, int K, float alpha,
	   const float *A, int lda, const float *B, int ldb,
	   float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
		    tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
		    B, ldb, beta, C, ldc);
}

static void gemm_task(void *ctx, size_t t)
{
	const struct gemm_job *j = ctx;
	size_t im = t / j->tn, in = t % j->tn;
	size_t m0, m1, n0, n1;
	par_range((size_t)j->M, j->tm, im, &m0, &m1);
	par_range((size_t)j->N, j->tn, in, &n0, &n1);
	const float *A = j->ta ? j->A + m0 : j->A + m0 * (size_t)j->lda;
	const float *B = j->tb ? j->B + n0 * (size_t)j->ldb : j->B + n0;
	gemm1(j->ta, j->tb, (int)(m1 - m0), (int)(n1 - n0), j->K, j->alpha,
	      A, j->lda, B, j->ldb, j->beta, j->C + m0 * (size_t)j->ldc + n0, j->ldc);
}

static size_t clampz(size_t v, size_t lo, size_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void gemm(int ta, int tb, int M, int N, int K, float alpha,
	  const float *A, int lda, const float *B, int ldb,
	  float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	double flops = 2.0 * M * N * (K > 0 ? K : 1);
	if (flops < GEMM_SERIAL_FLOPS) {
		gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	struct gemm_job j = { ta, tb, M, N, K, alpha, beta, A, B, C,
			      lda, ldb, ldc, 1, 1 };
	/* Column tiles of >= 128, row tiles of >= 256, at most 64 tiles and
	 * about 4 MFLOP each at least: a function of the shape alone. */
	j.tn = clampz((size_t)N / 128, 1, 8);
	j.tm = clampz((size_t)M / 256, 1, 8);
	while (j.tm * j.tn > 1 && flops / (double)(j.tm * j.tn) < 4e6) {
		if (j.tm >= j.tn)
			j.tm--;
		else
			j.tn--;
	}
	par_for(j.tm * j.tn, gemm_task, &j);
}

void gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
		const float *A, int lda, const float *B, int ldb,
		float beta, float *C, int ldc)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			float s = 0;
			for (int k = 0; k < K; k++) {
				float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
				float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
				s += a * b;
			}
			float *c = &C[(size_t)i * ldc + j];
			*c = alpha * s + (beta == 0 ? 0 : beta * *c);
		}
}
