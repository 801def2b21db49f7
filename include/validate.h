/*
 * validate.h: what a tool checks in a stream before it trusts it (DESIGN.md,
 * "Hostile input"), at the place where it reads the members: features are
 * float, labels lie in [0, C), `flipped` holds 0 or 1, and the number of
 * classes a stream's meta.txt states is sane and consistent.
 *
 * Every function returns 0, or -1 with a message that names the stream
 * (`src`, as npz_reader_path() gives it), the member and the offending
 * value:
 *
 *   if (validate_float(npz_reader_header(r), src, "act")) goto fail;
 *   if (validate_meta_classes(&meta, src, &C)) goto fail;
 *   if (validate_labels(y, n, C ? C : probe_classes, src, "y")) goto fail;
 */
#ifndef MEMPROBE_VALIDATE_H
#define MEMPROBE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "npy.h"

/* The largest number of classes any tool takes (model_build's bound too):
 * a data.classes or model.classes above it is an error, not an allocation. */
#define VALIDATE_MAX_CLASSES 1000000

/* A feature member (x, act, w, basis) must be float32 or float64: an
 * integer member is an error naming the member and its dtype. */
int validate_float(const struct npy_header *h, const char *src, const char *member);

/* The number of classes meta.txt states: data.classes and model.classes,
 * each an integer in [1, VALIDATE_MAX_CLASSES]; when both are present
 * they must be equal (a model run on data of another class count).
 * *classes is 0 when neither key is present. */
int validate_meta_classes(const struct meta *m, const char *src, int *classes);

/* Every label y[i] (n of them, member `member`) in [0, classes). classes
 * <= 0: only that none is negative. */
int validate_labels(const int32_t *y, size_t n, int classes, const char *src,
		    const char *member);

/* Every value of `flipped` is 0 or 1. */
int validate_flipped(const int32_t *f, size_t n, const char *src);

#endif
