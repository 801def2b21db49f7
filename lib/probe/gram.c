/*
 * gram.c: per-class scatter matrices S_c = X_c^T X_c, accumulated in
 * double precision from rows that arrive one at a time in any class order.
 *
 * Rows are copied into a buffer of GRAM_BLOCK rows of their class. A full
 * buffer goes to a queue; when no buffer is free, the queue is flushed:
 * one task per class present, each folding its buffers in order with one
 * single-threaded dsyrk per buffer (S_c += P^T P), the classes in parallel
 * on the par_for pool. With fewer than GRAM_TILED_BELOW classes there is
 * too little to share that way, and a full buffer is folded at once, its
 * update split into tiles of the upper triangle (dsyrk on the diagonal,
 * dgemm off it) run in parallel. The float32 rows were converted to double
 * before: every product of two float32 values is exact in double, so the
 * only rounding is in the sums, as in a plain dsyrk on the whole class.
 * Memory: C*D^2 doubles for the matrices plus (C + GRAM_QUEUE) buffers of
 * GRAM_BLOCK*D doubles, whatever the number of rows. Nothing of that is
 * allocated before a row needs it: a class's matrix comes with its first
 * row, a buffer with the first row put in it, so a stream whose header
 * claims a width it never delivers costs nothing.
 */
#include "gram.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"
#include "util.h"

/* Tiles of about this side: big enough for dgemm to run near its peak,
 * and for D = 784 two blocks: three tasks of equal work for two threads. */
#define GRAM_TILE 512

static int tiled(int classes, size_t dim)
{
	return classes < GRAM_TILED_BELOW && dim > GRAM_TILE;
}

/* Tiled: one buffer per class, folded in as soon as it is full. Queued:
 * GRAM_QUEUE more, so that full buffers can wait for the next flush. */
static int nbuffers(int classes, size_t dim)
{
	return tiled(classes, dim) ? classes : classes + GRAM_QUEUE;
}

int gram_acc_bytes(int classes, size_t dim, size_t *bytes)
{
	size_t a, b;
	if (mp_mul_size(dim, dim, &a) || mp_mul_size(a, (size_t)classes, &a) ||
	    mp_mul_size(dim, (size_t)nbuffers(classes, dim) * GRAM_BLOCK, &b) ||
	    a + b < a || mp_mul_size(a + b, sizeof(double), bytes))
		return -1;
	return 0;
}

int gram_acc_init(struct gram_acc *g, int classes, size_t dim)
{
	size_t n;
	memset(g, 0, sizeof *g);
	if (gram_acc_bytes(classes, dim, &n))
		return mp_error("scatter matrices of %d classes x %zu^2 overflow memory sizes",
				classes, dim);
	g->classes = classes;
	g->dim = dim;
	g->s = xcalloc((size_t)classes, sizeof *g->s);
	g->nbuf = nbuffers(classes, dim);
	g->buf = xcalloc((size_t)g->nbuf, sizeof *g->buf);
	g->cur = xmallocarray((size_t)classes, sizeof *g->cur);
	g->fill = xcalloc((size_t)classes, sizeof *g->fill);
	g->freebuf = xmallocarray((size_t)g->nbuf, sizeof *g->freebuf);
	g->queue = xcalloc((size_t)g->nbuf, sizeof *g->queue);
	for (int c = 0; c < classes; c++)
		g->cur[c] = -1;
	for (int b = g->nbuf - 1; b >= 0; b--)
		g->freebuf[g->nfree++] = b;
	if (tiled(classes, dim)) {
		size_t nb = (dim + GRAM_TILE - 1) / GRAM_TILE;
		g->tile = (dim + nb - 1) / nb;
	}
	return 0;
}

double *gram_acc_scatter(const struct gram_acc *g, int c)
{
	return g->s[c];
}

static double *buffer(const struct gram_acc *g, int b)
{
	return g->buf[b];
}

/* One task of a flush: every queued buffer of the task's class, in order,
 * folded in with a single-threaded dsyrk each. */
struct flush_job {
	struct gram_acc *g;
	int *cls;                /* the distinct classes of the queue */
};

static void flush_class(void *ctx, size_t i)
{
	struct flush_job *j = ctx;
	struct gram_acc *g = j->g;
	int c = j->cls[i];
	for (int q = 0; q < g->nq; q++)
		if (g->queue[q].c == c)
			gram_syrk_update(gram_acc_scatter(g, c), buffer(g, g->queue[q].b),
					 g->queue[q].rows, g->dim, 0);
}

static void flush(struct gram_acc *g)
{
	if (!g->nq)
		return;
	int *cls = xmallocarray((size_t)g->nq, sizeof *cls), n = 0;
	for (int q = 0; q < g->nq; q++) {
		int seen = 0;
		for (int i = 0; i < n; i++)
			seen |= cls[i] == g->queue[q].c;
		if (!seen)
			cls[n++] = g->queue[q].c;
	}
	struct flush_job j = { g, cls };
	par_for((size_t)n, flush_class, &j);
	for (int q = 0; q < g->nq; q++)
		g->freebuf[g->nfree++] = g->queue[q].b;
	g->nq = 0;
	free(cls);
}

/* Class c's buffer is full (or the stream ended): fold it in. */
static void done(struct gram_acc *g, int c)
{
	int b = g->cur[c];
	if (b < 0 || !g->fill[c])
		return;
	if (g->tile) {
		gram_syrk_update(gram_acc_scatter(g, c), buffer(g, b), g->fill[c], g->dim,
				 g->tile);
	} else {
		g->queue[g->nq].c = c;
		g->queue[g->nq].b = b;
		g->queue[g->nq].rows = g->fill[c];
		g->nq++;
		g->cur[c] = -1;
	}
	g->fill[c] = 0;
}

void gram_acc_add(struct gram_acc *g, int c, const double *x)
{
	MP_ASSERT(c >= 0 && c < g->classes);
	if (g->cur[c] < 0) {
		if (!g->nfree)
			flush(g);
		MP_ASSERT(g->nfree > 0);
		int b = g->cur[c] = g->freebuf[--g->nfree];
		if (!g->buf[b])
			g->buf[b] = xaligned_calloc(GRAM_BLOCK * g->dim, sizeof **g->buf);
		if (!g->s[c])
			g->s[c] = xaligned_calloc(g->dim * g->dim, sizeof **g->s);
	}
	double *dst = buffer(g, g->cur[c]) + g->fill[c] * g->dim;
	memcpy(dst, x, g->dim * sizeof *dst);
	if (++g->fill[c] == GRAM_BLOCK)
		done(g, c);
}

void gram_acc_finish(struct gram_acc *g)
{
	for (int c = 0; c < g->classes; c++)
		done(g, c);
	flush(g);
}

void gram_acc_release(struct gram_acc *g)
{
	for (int c = 0; g->s && c < g->classes; c++)
		free(g->s[c]);
	for (int b = 0; g->buf && b < g->nbuf; b++)
		free(g->buf[b]);
	free(g->s);
	free(g->buf);
	free(g->cur);
	free(g->fill);
	free(g->freebuf);
	free(g->queue);
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
