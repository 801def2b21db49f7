/*
 * gram.c: per-class scatter matrices S_c = X_c^T X_c, accumulated in
 * double precision from rows that arrive one at a time in any class order.
 *
 * Rows wait in a per-class buffer of GRAM_BLOCK rows; a full buffer P is
 * folded in with one rank-GRAM_BLOCK update S_c += P^T P, split into tiles
 * of the upper triangle (dsyrk on the diagonal tiles, dgemm off it) that the
 * par_for pool runs in parallel. The float32 rows are converted to double
 * before the products: every product of two float32 values is exact in
 * double, so the only rounding is in the sums, as in a plain dsyrk on the
 * whole class. Memory: C*D^2 doubles for the matrices plus C*GRAM_BLOCK*D
 * for the buffers, whatever the number of rows.
 */
#include "gram.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"
#include "util.h"

/* Tiles of about this side: big enough for dgemm to run near its peak,
 * small enough to give two threads ten or more tasks at D = 784. */
#define GRAM_TILE 256

int gram_acc_bytes(int classes, size_t dim, size_t *bytes)
{
	size_t a, b;
	if (mp_mul_size(dim, dim, &a) || mp_mul_size(a, (size_t)classes, &a) ||
	    mp_mul_size(dim, (size_t)classes * GRAM_BLOCK, &b) ||
	    a + b < a || mp_mul_size(a + b, sizeof(double), bytes))
		return -1;
	return 0;
}

void gram_acc_init(struct gram_acc *g, int classes, size_t dim)
{
	size_t n;
	memset(g, 0, sizeof *g);
	g->classes = classes;
	g->dim = dim;
	if (gram_acc_bytes(classes, dim, &n))
		die("scatter matrices of %d classes x %zu^2 overflow memory sizes", classes, dim);
	g->s = xaligned_calloc((size_t)classes * dim * dim, sizeof *g->s);
	g->pend = xaligned_calloc((size_t)classes * GRAM_BLOCK * dim, sizeof *g->pend);
	g->npend = xcalloc((size_t)classes, sizeof *g->npend);
	if (dim > GRAM_TILE) {
		size_t nb = (dim + GRAM_TILE - 1) / GRAM_TILE;
		g->tile = (dim + nb - 1) / nb;
	}
}

double *gram_acc_scatter(const struct gram_acc *g, int c)
{
	return g->s + (size_t)c * g->dim * g->dim;
}

static void fold(struct gram_acc *g, int c)
{
	if (!g->npend[c])
		return;
	gram_syrk_update(gram_acc_scatter(g, c),
			 g->pend + (size_t)c * GRAM_BLOCK * g->dim,
			 g->npend[c], g->dim, g->tile);
	g->npend[c] = 0;
}

void gram_acc_add(struct gram_acc *g, int c, const double *x)
{
	MP_ASSERT(c >= 0 && c < g->classes);
	double *dst = g->pend + ((size_t)c * GRAM_BLOCK + g->npend[c]) * g->dim;
	memcpy(dst, x, g->dim * sizeof *dst);
	if (++g->npend[c] == GRAM_BLOCK)
		fold(g, c);
}

void gram_acc_finish(struct gram_acc *g)
{
	for (int c = 0; c < g->classes; c++)
		fold(g, c);
}

void gram_acc_release(struct gram_acc *g)
{
	free(g->s);
	free(g->pend);
	free(g->npend);
	memset(g, 0, sizeof *g);
}

struct syrk_job {
	double *s;               /* (D, D) */
	const double *p;         /* (b, D) */
	size_t b, dim, tile, nt;
};

/* Task t is tile (bi, bj), bi <= bj, numbered column by column. */
static void syrk_tile(void *ctx, size_t t)
{
	const struct syrk_job *j = ctx;
	size_t bj = 0;
	while ((bj + 1) * (bj + 2) / 2 <= t)
		bj++;
	size_t bi = t - bj * (bj + 1) / 2;
	size_t i0 = bi * j->tile, j0 = bj * j->tile, d = j->dim;
	size_t ib = d - i0 < j->tile ? d - i0 : j->tile;
	size_t jb = d - j0 < j->tile ? d - j0 : j->tile;
	if (bi == bj)
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)jb, (int)j->b,
			    1.0, j->p + j0, (int)d, 1.0, j->s + j0 * d + j0, (int)d);
	else
		cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ib, (int)jb,
			    (int)j->b, 1.0, j->p + i0, (int)d, j->p + j0, (int)d,
			    1.0, j->s + i0 * d + j0, (int)d);
}

void gram_syrk_update(double *s, const double *p, size_t b, size_t dim,
		      size_t tile)
{
	if (!b || !dim)
		return;
	if (!tile || tile >= dim) {
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dim, (int)b,
			    1.0, p, (int)dim, 1.0, s, (int)dim);
		return;
	}
	struct syrk_job j = { s, p, b, dim, tile, (dim + tile - 1) / tile };
	par_for(j.nt * (j.nt + 1) / 2, syrk_tile, &j);
}
