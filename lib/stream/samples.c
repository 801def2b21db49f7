/*
 * samples.c: the labels, class count and sample shape of a stream
 * (samples.h), read and checked the same way by every tool.
 */
#include "samples.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- labels ---- */

int samples_is_label(const char *name)
{
	return !strcmp(name, "y") || !strcmp(name, "y_true") || !strcmp(name, "flipped");
}

int samples_load_ints(struct npz_reader *r, int32_t **out, size_t *n)
{
	const struct npy_header *h = npz_reader_header(r);
	if (h->ndim != 1) {
		char buf[160];
		return mp_error("%s: member '%s' has shape %s, expected (N,)",
				npz_reader_path(r), npz_reader_name(r),
				npy_shape_str(h, buf, sizeof buf));
	}
	return npz_reader_load_i32(r, out, n);
}

static int take_flipped(struct samples_labels *l, struct npz_reader *r)
{
	int32_t *f;
	size_t n;
	if (samples_load_ints(r, &f, &n))
		return -1;
	if (validate_flipped(f, n, npz_reader_path(r))) {
		free(f);
		return -1;
	}
	l->flipped = xmalloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		l->flipped[i] = (uint8_t)f[i];
	l->n_flipped = n;
	free(f);
	return 0;
}

int samples_labels_take(struct samples_labels *l, struct npz_reader *r)
{
	const char *name = npz_reader_name(r);
	/* The reader refuses a member that comes twice. */
	if (!strcmp(name, "y"))
		return samples_load_ints(r, &l->y, &l->n_y);
	if (!strcmp(name, "y_true"))
		return samples_load_ints(r, &l->y_true, &l->n_y_true);
	MP_ASSERT(!strcmp(name, "flipped"));
	return take_flipped(l, r);
}

int samples_labels_rows(const struct samples_labels *l, size_t n, const char *src,
			const char *what)
{
	const struct {
		const char *name;
		const void *v;
		size_t n;
	} m[3] = {
		{ "y", l->y, l->n_y },
		{ "y_true", l->y_true, l->n_y_true },
		{ "flipped", l->flipped, l->n_flipped },
	};
	for (int i = 0; i < 3; i++)
		if (m[i].v && m[i].n != n)
			return mp_error("%s: member '%s' has %zu values but '%s' has %zu",
					src, m[i].name, m[i].n, what, n);
	return 0;
}

int samples_labels_check(const struct samples_labels *l, int classes, const char *src)
{
	if (l->y && validate_labels(l->y, l->n_y, classes, src, "y"))
		return -1;
	if (l->y_true && validate_labels(l->y_true, l->n_y_true, classes, src, "y_true"))
		return -1;
	return 0;
}

int samples_labels_max(const struct samples_labels *l, const char *src, int32_t *max)
{
	const int32_t *v[2] = { l->y, l->y_true };
	const size_t n[2] = { l->n_y, l->n_y_true };
	const char *name[2] = { "y", "y_true" };
	int32_t top = -1;
	for (int k = 0; k < 2; k++) {
		if (!v[k])
			continue;
		if (validate_labels(v[k], n[k], 0, src, name[k]))
			return -1;
		for (size_t i = 0; i < n[k]; i++)
			if (v[k][i] > top)
				top = v[k][i];
		if (top >= VALIDATE_MAX_CLASSES)
			return mp_error("%s: label %ld of '%s' is too large (more than %d classes)",
					src, (long)top, name[k], VALIDATE_MAX_CLASSES);
	}
	*max = top;
	return 0;
}

void samples_labels_release(struct samples_labels *l)
{
	free(l->y);
	free(l->y_true);
	free(l->flipped);
	memset(l, 0, sizeof *l);
}

/* ---- classes ---- */

int samples_classes_given(const struct meta *m, const char *src, int have,
			  const char *what, int *classes)
{
	int stated;
	if (validate_meta_classes(m, src, &stated))
		return -1;
	if (have > 0 && stated && have != stated)
		return mp_error("%s: the stream has %d classes (meta.txt) but %s has %d",
				src, stated, what, have);
	*classes = have > 0 ? have : stated;
	return 0;
}

int samples_classes(const struct meta *m, const struct samples_labels *l,
		    const char *src, int *classes)
{
	int c;
	int32_t top;
	if (samples_classes_given(m, src, 0, NULL, &c))
		return -1;
	if (!c) {
		if (samples_labels_max(l, src, &top))
			return -1;
		c = top + 1;
	}
	if (samples_labels_check(l, c, src))
		return -1;
	*classes = c;
	return 0;
}

/* ---- shapes ---- */

int samples_shape(const struct npy_header *h, const char *src, int chw[3])
{
	if (h->ndim < 2 || h->ndim > 4)
		return mp_error("%s: 'x' has %d dimensions (want (N, C, H, W))", src, h->ndim);
	for (int k = 1; k < h->ndim; k++)
		if (h->shape[k] < 1 || h->shape[k] > INT32_MAX)
			return mp_error("%s: 'x' has an empty or huge sample shape", src);
	/* The dimensions a sample lacks are 1, the leading ones. */
	chw[0] = chw[1] = chw[2] = 1;
	if (h->ndim == 2)
		chw[0] = (int)h->shape[1];
	for (int k = 1; h->ndim > 2 && k < h->ndim; k++)
		chw[3 - h->ndim + k] = (int)h->shape[k];
	return 0;
}

int samples_rows(const struct npy_header *h, const char *src, const char *member,
		 size_t *rows, size_t *dim)
{
	if (validate_float(h, src, member))
		return -1;
	if (h->ndim < 2)
		return mp_error("%s: member '%s' must have a row per sample, (N, D), not %d-D",
				src, member, h->ndim);
	*rows = (size_t)h->shape[0];
	*dim = npy_row_count(h);
	return 0;
}
