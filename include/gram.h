/*
 * gram.h: the linear algebra under the probes: per-class scatter matrices
 * accumulated from a stream of rows (gram.c), and a symmetric eigensolver
 * that computes every eigenvalue but only the eigenvectors kept (eig.c).
 *
 * Scatter (primal): S_c = X_c^T X_c (D, D), summed in double precision
 * GRAM_BLOCK rows at a time. Each class fills a buffer of rows; a full
 * buffer waits in a queue, and the queue is folded in (one dsyrk per
 * buffer) by the par_for pool, the classes in parallel. With fewer than
 * GRAM_TILED_BELOW classes, a full buffer is folded in at once instead,
 * its update split into tiles of the triangle run in parallel. Either
 * way each S_c receives its rows in stream order, in updates whose shapes
 * depend only on the data, C and D: S_c is bit-identical whatever the
 * thread count.
 *
 * Matrices are row-major with the upper triangle (i <= j) meaningful; to
 * LAPACK (column-major) that is the lower triangle, uplo 'L'.
 *
 *   struct gram_acc g;
 *   if (gram_acc_init(&g, C, D)) fail;
 *   for each row x of class c: gram_acc_add(&g, c, x);
 *   gram_acc_finish(&g);              // S_c in gram_acc_scatter(&g, c)
 *   ...
 *   gram_acc_release(&g);
 *
 *   struct eig e;
 *   eig_reduce(&e, S, D);             // all eigenvalues in e.w, descending
 *   k = eig_count_var(e.w, D, 0.99, &reached);
 *   eig_vectors(&e, k, V);            // (k, D): the top k eigenvectors
 *   eig_release(&e);
 */
#ifndef MEMPROBE_GRAM_H
#define MEMPROBE_GRAM_H

#include <stddef.h>
#include <stdint.h>

/* Rows per buffer; buffers queued before the queue is folded in; below
 * this many classes, tiles instead of classes run in parallel. */
#define GRAM_BLOCK 512
#define GRAM_QUEUE 4
#define GRAM_TILED_BELOW 4

struct gram_fold {
	int c;                   /* class */
	int b;                   /* buffer */
	size_t rows;
};

struct gram_acc {
	int classes;             /* C */
	size_t dim;              /* D */
	double **s;              /* (C) upper triangle of S_c (D, D), or NULL
	                          * until class c's first row */
	double **buf;            /* (nbuf) (GRAM_BLOCK, D) rows not yet folded
	                          * in, or NULL until first used */
	int nbuf;
	int *cur;                /* (C) the buffer each class fills, or -1 */
	size_t *fill;            /* (C) rows in it */
	int *freebuf, nfree;     /* (nbuf) buffers not in use */
	struct gram_fold *queue; /* (nbuf) full buffers, in order */
	int nq;
	size_t tile;             /* > 0: tiled mode, tiles of this side */
};

/* Bytes gram_acc_init allocates for C classes of width D (for the choice
 * between the primal and dual methods); -1 on overflow. */
int gram_acc_bytes(int classes, size_t dim, size_t *bytes);
/* Set up for C classes of width D; the matrices and buffers are
 * allocated as rows arrive (out of memory is fatal). -1 with a message
 * when their sizes overflow (gram_acc_bytes); g is then empty. */
int gram_acc_init(struct gram_acc *g, int classes, size_t dim);
/* Add one row (D) to class c. */
void gram_acc_add(struct gram_acc *g, int c, const double *x);
/* Fold every buffered row in. */
void gram_acc_finish(struct gram_acc *g);
/* S_c (D, D), upper triangle; NULL for a class that had no row. */
double *gram_acc_scatter(const struct gram_acc *g, int c);
void gram_acc_release(struct gram_acc *g);

/* S += P^T P for P (b, D) row-major: the upper triangle of S (D, D) only,
 * in tiles of side `tile` run through par_for (tile 0: one dsyrk). */
void gram_syrk_update(double *s, const double *p, size_t b, size_t dim,
		      size_t tile);

/* ---- symmetric eigenproblems ---- */

/* The largest n of an (n, n) problem: LAPACK's 32-bit indices need n^2
 * below 2^31. */
#define EIG_MAX_N 46340

struct eig {
	size_t n;
	double *a;               /* (n, n) borrowed: the matrix, then the
				    Householder reflectors of its reduction */
	double *d, *e, *tau;     /* (n), (n), (n): the tridiagonal form */
	double *w;               /* (n) every eigenvalue, descending */
};

/* Reduce the symmetric matrix a (n, n), row-major upper triangle (it is
 * overwritten), to tridiagonal form (dsytrd) and compute all its
 * eigenvalues (dsterf) into e->w, largest first. -1 with a message if
 * LAPACK fails. */
int eig_reduce(struct eig *e, double *a, size_t n);
/* The unit eigenvectors of the k largest eigenvalues as the rows of v
 * (k, n), largest first: eigenvectors of the tridiagonal form for that
 * index range only (dstemr; or dstedc for all of them when k > n^2/8000,
 * which is then cheaper; dstebz + dstein if either fails), carried back
 * by dormtr. */
int eig_vectors(struct eig *e, size_t k, double *v);
void eig_release(struct eig *e);
/* For tests: which tridiagonal eigenvector path eig_vectors takes. */
enum { EIG_PATH_AUTO, EIG_PATH_MRRR, EIG_PATH_DC, EIG_PATH_STEIN };
extern int eig_path;

/* Eigenvalues above the noise of a double-precision eigensolver:
 * #{j : w_j > w_0 * n * DBL_EPSILON} for w (n) descending; 0 if w_0 <= 0. */
size_t eig_rank(const double *w, size_t n);
/* The k rule of MASC: the smallest k whose cumulative explained-variance
 * ratio sum_{j<k} w_j / sum_j w_j is strictly greater than t (n when none
 * is, 0 when the sum is not positive). *reached (may be NULL) gets the
 * ratio at k. */
size_t eig_count_var(const double *w, size_t n, double t, double *reached);
/* sum_{j<k} w_j / sum_j w_j (0 when the sum is not positive). */
double eig_ratio(const double *w, size_t n, size_t k);

#endif
