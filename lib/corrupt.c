/*
 * corrupt.c: label corruption (corrupt.h documents the three modes as the
 * NumPy code they reproduce) and the data-stream filter around it, which
 * holds the small members, rewrites the labels and streams `x` through
 * without decoding it.
 */
#include "corrupt.h"

#include <stdlib.h>
#include <string.h>

#include "meta.h"
#include "npz.h"
#include "rng.h"
#include "util.h"
#include "validate.h"

/* Indexed by enum corrupt_mode and enum corrupt_rng. */
static const char *const mode_names[] = { "uniform", "shuffle", "other" };
static const char *const rng_names[] = { "native", "numpy" };

int corrupt_mode_parse(const char *s, enum corrupt_mode *out)
{
	int i;
	if (mp_parse_choice(s, mode_names, 3, "unknown mode", &i))
		return -1;
	*out = (enum corrupt_mode)i;
	return 0;
}

int corrupt_rng_parse(const char *s, enum corrupt_rng *out)
{
	int i;
	if (mp_parse_choice(s, rng_names, 2, "unknown generator", &i))
		return -1;
	*out = (enum corrupt_rng)i;
	return 0;
}

const char *corrupt_mode_name(enum corrupt_mode m)
{
	MP_ASSERT((unsigned)m < 3);
	return mode_names[m];
}

const char *corrupt_rng_name(enum corrupt_rng r)
{
	return rng_names[r == CORRUPT_RNG_NUMPY];
}

/* Either generator behind the three primitives the modes need. */
struct gen {
	int numpy;
	struct rng nat;
	struct np_rng np;
};

static void gen_seed(struct gen *g, const struct corrupt_params *cp)
{
	g->numpy = cp->rng == CORRUPT_RNG_NUMPY;
	if (g->numpy)
		np_rng_seed(&g->np, (uint32_t)cp->seed);
	else
		rng_seed(&g->nat, cp->seed);
}

/* One draw of the mask: rs.rand() <= p (NumPy), rng_double() < p (native). */
static int gen_pick(struct gen *g, double p)
{
	if (g->numpy)
		return np_rand_double(&g->np) <= p;
	return rng_double(&g->nat) < p;
}

/* Uniform in [0, n), n >= 1: randint(0, n) / rng_below(n). */
static uint64_t gen_below(struct gen *g, uint64_t n)
{
	if (g->numpy)
		return np_rng_bounded(&g->np, n - 1);
	return rng_below(&g->nat, n);
}

/* Fisher-Yates exactly as NumPy's shuffle of a 1-d array: for i from n-1
 * down to 1, swap a[i] with a[j], j uniform in [0, i]. */
static void gen_shuffle_size(struct gen *g, size_t *a /* (n) */, size_t n)
{
	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)gen_below(g, (uint64_t)i + 1);
		size_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

static void gen_shuffle_i32(struct gen *g, int32_t *a /* (n) */, size_t n)
{
	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)gen_below(g, (uint64_t)i + 1);
		int32_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

/* uniform and other: the whole mask first (N draws), then one draw per
 * selected sample in index order, as the NumPy code does. */
static void corrupt_masked(struct gen *g, int32_t *y, size_t n, int classes,
			   const struct corrupt_params *cp)
{
	unsigned char *mask = xmalloc(n);  /* (n) */
	for (size_t i = 0; i < n; i++)
		mask[i] = (unsigned char)gen_pick(g, cp->p);
	for (size_t i = 0; i < n; i++) {
		if (!mask[i])
			continue;
		if (cp->mode == CORRUPT_UNIFORM) {
			y[i] = (int32_t)gen_below(g, (uint64_t)classes);
		} else {
			int32_t r = (int32_t)gen_below(g, (uint64_t)classes - 1);
			y[i] = r + (r >= y[i]);
		}
	}
	free(mask);
}

static void corrupt_shuffle(struct gen *g, int32_t *y, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.5);
	if (k > n)
		k = n;
	size_t *idx = xmallocarray(n, sizeof *idx);   /* (n) */
	int32_t *vals = xmallocarray(k, sizeof *vals); /* (k) */
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	gen_shuffle_size(g, idx, n);
	for (size_t t = 0; t < k; t++)
		vals[t] = y[idx[t]];
	gen_shuffle_i32(g, vals, k);
	for (size_t t = 0; t < k; t++)
		y[idx[t]] = vals[t];
	free(vals);
	free(idx);
}

static int check_labels(const int32_t *y, size_t n, int classes,
			const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (y[i] < 0 || y[i] >= classes)
			return mp_error("label %ld at index %zu of '%s' is outside 0..%d",
					(long)y[i], i, what, classes - 1);
	return 0;
}

int corrupt_labels(int32_t *y, size_t n, int classes,
		   const struct corrupt_params *cp)
{
	if (!(cp->p >= 0.0 && cp->p <= 1.0))
		return mp_error("probability %g is outside [0, 1]", cp->p);
	if (cp->rng == CORRUPT_RNG_NUMPY && cp->seed > UINT32_MAX)
		return mp_error("seed %llu is too large for the numpy generator (at most %lu)",
				(unsigned long long)cp->seed, (unsigned long)UINT32_MAX);
	if (classes < 1 && n > 0)
		return mp_error("the number of classes must be at least 1");
	if (check_labels(y, n, classes, "y"))
		return -1;
	if (cp->mode == CORRUPT_OTHER && classes < 2 && n > 0)
		return mp_error("mode 'other' needs at least 2 classes, not %d", classes);

	struct gen *g = xmalloc(sizeof *g);
	gen_seed(g, cp);
	if (cp->mode == CORRUPT_SHUFFLE)
		corrupt_shuffle(g, y, n, cp->p);
	else
		corrupt_masked(g, y, n, classes, cp);
	free(g);
	return 0;
}

/* ---- the stream filter ---- */

/* A small member held until the labels are written. */
struct held {
	char *name;
	int is_array;
	struct npy_header h;
	void *data;              /* array data, or text */
	size_t len;              /* text length */
};

static int is_label_name(const char *name)
{
	return !strcmp(name, "y") || !strcmp(name, "y_true") ||
	       !strcmp(name, "flipped");
}

/* Load a label member as int32 (any integer dtype), checking it is 1-D. */
static int load_labels(struct npz_reader *r, int32_t **out, size_t *n)
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

/* The number of classes: `given` (--classes), which may not exceed what
 * meta.txt states (the labels would leave the data's classes); else
 * meta.txt's data.classes (or model.classes); else max(y) + 1. */
static int infer_classes(const struct meta *m, const int32_t *y, size_t n,
			 const char *path, int given, int *classes)
{
	int mc;
	if (validate_meta_classes(m, path, &mc))
		return -1;
	if (given > 0 && mc && given > mc)
		return mp_error("%s: --classes %d is more than the %d classes of the data "
				"(meta.txt)", path, given, mc);
	if (given > 0 || mc) {
		*classes = given > 0 ? given : mc;
		return 0;
	}
	int32_t mx = -1;
	for (size_t i = 0; i < n; i++)
		if (y[i] > mx)
			mx = y[i];
	if (mx >= VALIDATE_MAX_CLASSES)
		return mp_error("%s: label %ld of 'y' is too large (more than %d classes)",
				path, (long)mx, VALIDATE_MAX_CLASSES);
	*classes = (int)mx + 1;
	return 0;
}

/* Reached x without y: say whether y comes later or not at all. */
static int missing_y(struct npz_reader *r, const char *xname)
{
	const char *path = npz_reader_path(r);
	int rc;
	while ((rc = npz_reader_next(r)) > 0) {
		if (!strcmp(npz_reader_name(r), "y"))
			return mp_error("%s: member 'y' comes after '%s': labels must "
					"come before the images", path, xname);
		if (npz_reader_skip(r))
			return -1;
	}
	if (rc < 0)
		return -1;
	return mp_error("%s: no member 'y' (the labels)", path);
}

static int write_held(struct npz_writer *w, const struct held *hd)
{
	if (hd->is_array)
		return npz_writer_add(w, hd->name, &hd->h, hd->data);
	return npz_writer_add_text(w, hd->name, hd->data, hd->len);
}

/* Copy x and whatever follows it. */
static int copy_rest(struct npz_reader *r, struct npz_writer *w, size_t n)
{
	const char *path = npz_reader_path(r);
	const struct npy_header *h = npz_reader_header(r);
	if (validate_float(h, path, "x"))
		return -1;
	if (h->ndim < 1 || (uint64_t)h->shape[0] != (uint64_t)n) {
		char buf[160];
		return mp_error("%s: member 'x' has shape %s but 'y' has %zu labels",
				path, npy_shape_str(h, buf, sizeof buf), n);
	}
	if (npz_writer_copy(w, r, NULL))
		return -1;
	int rc;
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		if (!npz_reader_is_array(r)) {
			if (!strcmp(name, "meta.txt"))
				return mp_error("%s: member 'meta.txt' comes after 'x': it must come first", path);
			size_t len;
			char *t = npz_reader_load_text(r, &len);
			if (!t)
				return -1;
			int e = npz_writer_add_text(w, name, t, len);
			free(t);
			if (e)
				return -1;
		} else if (is_label_name(name)) {
			return mp_error("%s: member '%s' comes after 'x': labels must "
					"come before the images", path, name);
		} else if (npz_writer_copy(w, r, NULL)) {
			return -1;
		}
	}
	return rc < 0 ? -1 : 0;
}

int corrupt_stream(const char *in, const char *out, int level, int classes,
		   const struct corrupt_params *cp)
{
	struct npz_reader *r = NULL;
	struct npz_writer *w = NULL;
	struct meta m = META_INIT;
	int32_t *y = NULL, *y_true = NULL;  /* (n) */
	uint8_t *flipped = NULL;            /* (n) */
	struct held *held = NULL;
	size_t n = 0, n_true = 0, nheld = 0;
	int ret = -1, rc, have_x = 0;

	if (!(r = npz_reader_open(in)))
		goto out;
	const char *path = npz_reader_path(r);
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		int arr = npz_reader_is_array(r);
		if (!arr && !strcmp(name, "meta.txt")) {
			if (npz_reader_load_meta(r, &m))
				goto out;
		} else if (arr && !strcmp(name, "y")) {
			if (y) {
				mp_error("%s: member 'y' appears twice", path);
				goto out;
			}
			if (load_labels(r, &y, &n))
				goto out;
		} else if (arr && !strcmp(name, "y_true")) {
			free(y_true);
			y_true = NULL;
			if (load_labels(r, &y_true, &n_true))
				goto out;
		} else if (arr && !strcmp(name, "flipped")) {
			/* recomputed from y and y_true */
			if (npz_reader_skip(r))
				goto out;
		} else if (arr && !strcmp(name, "x")) {
			have_x = 1;
			break;
		} else {
			held = xreallocarray(held, nheld + 1, sizeof *held);
			struct held *hd = &held[nheld];
			memset(hd, 0, sizeof *hd);
			hd->name = xstrdup(name);
			hd->is_array = arr;
			if (arr) {
				hd->h = *npz_reader_header(r);
				hd->data = npz_reader_load(r);
			} else {
				hd->data = npz_reader_load_text(r, &hd->len);
			}
			nheld++;
			if (!hd->data)
				goto out;
		}
	}
	if (rc < 0)
		goto out;
	if (!y) {
		if (have_x)
			missing_y(r, "x");
		else
			mp_error("%s: no member 'y' (the labels)", path);
		goto out;
	}
	if (y_true && n_true != n) {
		mp_error("%s: member 'y_true' has %zu labels but 'y' has %zu",
			 path, n_true, n);
		goto out;
	}
	if (infer_classes(&m, y, n, path, classes, &classes))
		goto out;
	if (y_true && check_labels(y_true, n, classes, "y_true")) {
		mp_error_prefix("%s", path);
		goto out;
	}
	if (!y_true) {
		y_true = xmallocarray(n ? n : 1, sizeof *y_true);
		memcpy(y_true, y, n * sizeof *y);
	}
	if (corrupt_labels(y, n, classes, cp)) {
		mp_error_prefix("%s", path);
		goto out;
	}
	flipped = xmalloc(n ? n : 1);
	size_t nflip = 0;
	for (size_t i = 0; i < n; i++)
		nflip += flipped[i] = y[i] != y_true[i];

	char ps[MP_DOUBLE_CHARS];
	meta_set(&m, "corrupt.p", "%s", mp_fmt_double(ps, cp->p));
	meta_set(&m, "corrupt.mode", "%s", corrupt_mode_name(cp->mode));
	meta_set(&m, "corrupt.rng", "%s", corrupt_rng_name(cp->rng));
	meta_set(&m, "corrupt.seed", "%llu", (unsigned long long)cp->seed);
	meta_set(&m, "corrupt.classes", "%d", classes);
	meta_set(&m, "corrupt.flipped", "%zu", nflip);

	struct npy_header hi, hu;
	if (npy_header_1d(&hi, NPY_I4, (int64_t)n) ||
	    npy_header_1d(&hu, NPY_U1, (int64_t)n))
		goto out;
	if (!(w = npz_writer_open(out, level)))
		goto out;
	if (npz_writer_add_meta(w, &m) ||
	    npz_writer_add(w, "y", &hi, y) ||
	    npz_writer_add(w, "y_true", &hi, y_true) ||
	    npz_writer_add(w, "flipped", &hu, flipped))
		goto out;
	for (size_t i = 0; i < nheld; i++)
		if (write_held(w, &held[i]))
			goto out;
	if (have_x && copy_rest(r, w, n))
		goto out;
	rc = npz_writer_close(w);
	w = NULL;
	if (rc)
		goto out;
	ret = 0;
out:
	if (w)
		npz_writer_abort(w);
	for (size_t i = 0; i < nheld; i++) {
		free(held[i].name);
		free(held[i].data);
	}
	free(held);
	free(flipped);
	free(y_true);
	free(y);
	meta_release(&m);
	if (r)
		npz_reader_free(r);
	return ret;
}
