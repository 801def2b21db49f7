/*
 * samples.h: what a stream says about its samples, one layer above npz
 * (memprobe-stream(5)): their labels (`y`, `y_true`, `flipped`), their
 * number of classes, and the shape of a sample of `x` or a row of a
 * feature member. Every tool that reads labels, counts classes or shapes
 * its input does it here, so that each fact has one rule and one message.
 *
 * The number of classes, the one rule:
 *   - meta.txt states it: data.classes and model.classes, each an integer
 *     in [1, VALIDATE_MAX_CLASSES], equal when both are present; a bad
 *     value is an error, never ignored (validate_meta_classes);
 *   - a tool's own count (the model's outputs, the probe's classes, the
 *     columns of `score`) must equal the stated one (samples_classes_given);
 *   - a tool without one takes the stated count, else the largest label
 *     of `y` and `y_true` plus one (samples_classes);
 *   - every label then lies in [0, C) (samples_labels_check).
 *
 *   struct samples_labels l = SAMPLES_LABELS_INIT;
 *   while (npz_reader_next(r) > 0)
 *       if (samples_is_label(npz_reader_name(r)) && samples_labels_take(&l, r))
 *           goto fail;
 *   if (samples_labels_rows(&l, n, src, "x") ||
 *       samples_classes(&meta, &l, src, &C)) goto fail;
 *   samples_labels_release(&l);
 *
 * Functions return 0, or -1 with a message naming the stream (`src`, as
 * npz_reader_path() gives it), the member and the offending value.
 */
#ifndef MEMPROBE_SAMPLES_H
#define MEMPROBE_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "npy.h"
#include "npz.h"
#include "validate.h"

/* ---- labels ---- */

struct samples_labels {
	int32_t *y;                /* (n_y), or NULL when absent */
	int32_t *y_true;           /* (n_y_true), or NULL */
	uint8_t *flipped;          /* (n_flipped) 0 or 1, or NULL */
	size_t n_y, n_y_true, n_flipped;
};

#define SAMPLES_LABELS_INIT { NULL, NULL, NULL, 0, 0, 0 }

/* 1 if `name` is a label member: y, y_true or flipped. */
int samples_is_label(const char *name);

/* The reader's current member as int32 (N): 1-D, any integer dtype whose
 * values fit (labels, `pred`). *out is malloc'd. */
int samples_load_ints(struct npz_reader *r, int32_t **out, size_t *n);

/* The reader's current member, a label member (samples_is_label), into l
 * (samples_load_ints; `flipped` must hold 0 or 1 and is kept as uint8). */
int samples_labels_take(struct samples_labels *l, struct npz_reader *r);

/* Every label member present has n entries, as the member `what` ("x",
 * "act", "pred") has n rows. */
int samples_labels_rows(const struct samples_labels *l, size_t n, const char *src,
			const char *what);

/* Every label of y and y_true in [0, classes) (classes <= 0: only that
 * none is negative). */
int samples_labels_check(const struct samples_labels *l, int classes, const char *src);

/* The largest label of y and y_true (-1 when there are none); a negative
 * one, or one that would make more than VALIDATE_MAX_CLASSES classes, is
 * an error. */
int samples_labels_max(const struct samples_labels *l, const char *src, int32_t *max);

void samples_labels_release(struct samples_labels *l);

/* ---- classes ---- */

/* The classes of a tool that has `have` of its own (> 0: the model's
 * outputs, the probe's classes, the columns of `score`, called `what`):
 * they must be the number meta.txt states, if it states one. *classes is
 * `have` if > 0, else the stated number, else 0. */
int samples_classes_given(const struct meta *m, const char *src, int have,
			  const char *what, int *classes);

/* The classes of a stream for a tool that has no count of its own: the
 * stated number, else the largest label of y and y_true plus one; every
 * label is checked against it. */
int samples_classes(const struct meta *m, const struct samples_labels *l,
		    const char *src, int *classes);

/* ---- shapes ---- */

/* The shape of one sample of `x` (N, ...) as channels, height, width:
 * (N, D) is (D, 1, 1), (N, H, W) is (1, H, W), (N, C, H, W) itself; each
 * dimension in [1, INT32_MAX]. The dtype is checked apart (validate_float). */
int samples_shape(const struct npy_header *h, const char *src, int chw[3]);

/* The rows of a feature member (`act`, or `x` flattened): float32 or
 * float64 with a row per sample, (N, D...): *rows = N, *dim = the values
 * of one row. */
int samples_rows(const struct npy_header *h, const char *src, const char *member,
		 size_t *rows, size_t *dim);

#endif
