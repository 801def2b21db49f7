/*
 * scatter.h: the primal fit's accumulation as a stream, so that a fit too
 * large for one process runs as row shards whose partial sums are merged
 * by addition, and the eigen step runs on the merged stream.
 *
 * A scatter stream (memprobe-stream(5)) holds, for C classes of width D:
 *   meta.txt   the source's meta, plus scatter.member (act or x) and
 *              scatter.rows (N, the rows summed)
 *   count      int64 (C)        rows per class
 *   colsum     float64 (D)      the sum of all N rows (VeLPIC's sign rule)
 *   scatter    float64 (C, D, D) S_c = X_c^T X_c, the upper triangle
 *              (i <= j) meaningful, the rest zero
 *
 *   struct scatter s;
 *   scatter_load(&s, "part.npz");   // or fill it from a gram_acc
 *   scatter_save(&s, "all.npz", 0);
 *   scatter_release(&s);
 *   scatter_merge(paths, n, "all.npz", 0);   // sums, in the order given
 *
 * Merging adds the partial S_c in the order of the inputs: the result
 * equals a single pass over all rows up to the order of the double-
 * precision additions (relative 1e-15 or so), not bit for bit. Memory:
 * a merge holds two D x D matrices, a load all C of them.
 */
#ifndef MEMPROBE_SCATTER_H
#define MEMPROBE_SCATTER_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

struct scatter {
	int classes;             /* C */
	size_t dim;              /* D */
	size_t rows;             /* N = sum of count */
	char member[8];          /* "act" or "x": what was summed */
	struct meta meta;
	int64_t *count;          /* (C) */
	double *colsum;          /* (D) */
	double **s;              /* (C) D x D upper triangles, NULL: zero */
};

/* Write s to path (NULL or "-": stdout) at deflate level (0: store). */
int scatter_save(const struct scatter *s, const char *path, int level);
/* Read a scatter stream whole; every count >= 0 and summing to
 * scatter.rows, every value finite. */
int scatter_load(struct scatter *s, const char *path);
void scatter_release(struct scatter *s);
/* Sum n scatter streams of the same C, D and member into out. The
 * output's meta is the first input's, with scatter.rows the total. */
int scatter_merge(const char *const *paths, int n, const char *out, int level);

#endif
