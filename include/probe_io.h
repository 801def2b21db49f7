/*
 * probe_io.h: what every probe shares, whatever it computes (probe_io.c):
 * reading a training stream (its labels, classes and rows), the streaming
 * prediction loop, and the meta.txt keys of a fitted probe. A probe
 * (probe.c's subspaces for MASC and VeLPIC; a baseline) supplies only its
 * fit on the rows and its scores.
 *
 * Fit: the labels come first, then the rows of `act` (an activation
 * stream) or `x` flattened (a data stream: the input layer):
 *
 *   struct probe_train t;
 *   if (probe_train_open(&t, path, "y", 1)) fail;    // meta, labels, N, D, C
 *   if (probe_train_read(&t, 0, consume, ctx)) fail; // every row once
 *   ... t.classes, t.count, t.meta ...
 *   probe_train_release(&t);
 *
 * Predict: a scorer maps rows to scores and classes; probe_predict()
 * streams any data or activation stream through it.
 */
#ifndef MEMPROBE_PROBE_IO_H
#define MEMPROBE_PROBE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "npz.h"
#include "samples.h"
#include "util.h"

/* Rows are read a few MB at a time: a training stream in blocks of
 * PROBE_READ_BYTES, a stream to predict in PROBE_PREDICT_BYTES (enough
 * rows per block for a scorer's tasks to keep every thread busy). */
#define PROBE_READ_BYTES ((size_t)4 << 20)
#define PROBE_PREDICT_BYTES ((size_t)16 << 20)

/* A block of m rows (m, D), float64 or float32, the first being row
 * `first` of the member. 0, or -1 with a message to stop. */
typedef int (*probe_consume_fn)(void *ctx, const void *block, size_t first, size_t m);

/* The n rows of width d of the reader's current member, in blocks of
 * about `bytes` read by a second thread while consume() works on the
 * previous block (decompression and conversion overlap the arithmetic).
 * Blocks arrive in order; their memory grows as values arrive, never by
 * what the header claims alone. */
int probe_read_rows(struct npz_reader *r, size_t n, size_t d, int f64, size_t bytes,
		    probe_consume_fn consume, void *ctx);

/* m rows (m, d) of float64 (f64) or float32 are finite; else an error
 * naming the row (first + i), the member and the column. */
int probe_rows_finite(const void *block, int f64, size_t m, size_t d, size_t first,
		      const char *src, const char *member);

/* The layer a stream's rows come from: dumpacts.layer, else "input" for
 * `x`, else "unknown". */
const char *probe_layer(const struct meta *m, const char *member);

/* ---- fit: the training stream ---- */

struct probe_train {
	struct npz_reader *r;
	const char *src;           /* the stream's name in messages */
	struct meta meta;          /* its meta.txt */
	struct samples_labels l;   /* every label member */
	const char *labels;        /* the one fitted on: "y" or "y_true" */
	const int32_t *lab;        /* (rows) its values, in l */
	char member[8];            /* "act" or "x" */
	size_t rows, dim;          /* N, D */
	int classes;               /* C (samples_classes) */
	size_t *count;             /* (C) rows per class */
	size_t max_count;          /* the largest count */
	int progress;              /* "reading i/N rows" on a terminal */
};

/* Open the stream at path (NULL or "-": stdin) and read it up to its rows:
 * meta.txt and the labels first, then the header of `act` or `x`. Errors:
 * no such member, the label member `labels` missing or after it, label
 * counts that differ from N, no rows or no columns, labels outside the
 * classes (samples.h). */
int probe_train_open(struct probe_train *t, const char *path, const char *labels,
		     int progress);
/* Every row once, float64 (f64) or float32, each checked finite, to
 * consume(); then the rest of the stream, which must be sound too. */
int probe_train_read(struct probe_train *t, int f64, probe_consume_fn consume, void *ctx);
void probe_train_release(struct probe_train *t);

/* ---- fit: meta.txt of a fitted probe ---- */

/* meta_set(m, "PREFIX.NAME", fmt, ...) */
void probe_meta_set(struct meta *m, const char *prefix, const char *name,
		    const char *fmt, ...) MP_PRINTF(4, 5);
/* The keys every probe states first: probe=PREFIX, probe.layer,
 * probe.member, PREFIX.labels. */
void probe_meta_source(struct meta *m, const char *prefix, const char *member,
		       const struct meta *train_meta, const char *labels);
/* Then its training set: PREFIX.classes, .dim, .n, .count (rows per
 * class, space-separated). */
void probe_meta_counts(struct meta *m, const char *prefix, int classes, size_t dim,
		       size_t rows, const size_t *count);

/* ---- the probe stream a fit writes and predict loads ---- */

/* A member of a probe stream to write. */
struct probe_member {
	const char *name;
	struct npy_header h;
	const void *data;
};

/* Write a probe stream to `out` (NULL or "-": stdout): meta.txt m, then
 * the n members in order. */
int probe_stream_write(const char *out, int level, const struct meta *m,
		       const struct probe_member *mem, int n);

/* Load the probe stream at path (NULL or "-": stdin) whole into b as a
 * probe of `kind` ("masc"): its meta.txt may not name another (probe=),
 * and each of the n members must be there. *src gets its name for
 * messages. On failure b holds nothing. */
int probe_stream_load(struct npz_bundle *b, const char *path, const char *kind,
		      const char *const *members, int n, const char **src);

/* The values of the float member `name` of b (float32 or float64, rows of
 * `dim` values) as double into out, each finite: else an error naming the
 * row. */
int probe_stream_f64(const struct npz_bundle *b, const char *name, const char *src,
		     size_t dim, double *out);

/* ---- predict ---- */

struct probe_scorer {
	int classes;               /* C */
	size_t dim;                /* D */
	/* Scores of n rows x (n, D) into score (n, C) and the predicted class
	 * of each row into pred (n). 0 or -1 with a message. */
	int (*score)(void *ctx, const float *x, size_t n, float *score,
		     int32_t *pred);
	void *ctx;
	const struct meta *probe_meta; /* for a layer mismatch warning; may be NULL */
};

/* Read the stream `in` (NULL or "-": stdin) and write a prediction stream
 * to `out` (NULL or "-": stdout): meta.txt (the input's keys, then the
 * keys of `add`), y and y_true as int32 and flipped as uint8 copied
 * through (checked against the probe's classes), pred int32 (N), score
 * float32 (N, C). */
int probe_predict(const char *in, const char *out, int level,
		  const struct probe_scorer *sc, const struct meta *add);

#endif
