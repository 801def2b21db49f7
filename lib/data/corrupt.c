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
#include "samples.h"
#include "util.h"
#include "validate.h"

/* Indexed by enum corrupt_mode and enum corrupt_rng. */
static const char *const mode_names[] = { "uniform", "shuffle", "other" };
static const char *const rng_names[] = { "native", "numpy" };

int corrupt_mode_parse(const char *s, enum corrupt_mode *out)
{
	int i = mp_parse_choice(s, mode_names, 3, "unknown mode");
	*out = i < 0 ? *out : (enum corrupt_mode)i;
	return i < 0 ? -1 : 0;
}

int corrupt_rng_parse(const char *s, enum corrupt_rng *out)
{
	int i = mp_parse_choice(s, rng_names, 2, "unknown generator");
	*out = i < 0 ? *out : (enum corrupt_rng)i;
	return i < 0 ? -1 : 0;
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
 * down to 1, swap a[i] with a[j], j uniform in [0, i]. The elements of a
 * (n) are `size` bytes each (at most 8): the draws do not depend on it. */
static void gen_shuffle(struct gen *g, void *a, size_t n, size_t size)
{
	unsigned char *b = a, t[8];
	MP_ASSERT(size <= sizeof t);
	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)gen_below(g, (uint64_t)i + 1);
		memcpy(t, b + i * size, size);
		memcpy(b + i * size, b + j * size, size);
		memcpy(b + j * size, t, size);
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
	gen_shuffle(g, idx, n, sizeof *idx);
	for (size_t t = 0; t < k; t++)
		vals[t] = y[idx[t]];
	gen_shuffle(g, vals, k, sizeof *vals);
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

/* The number of classes: `given` (--classes), which may not exceed what
 * meta.txt states (the labels would leave the data's classes); else the
 * stream's own (samples_classes: meta.txt, else the largest label + 1). */
static int corrupt_classes(const struct meta *m, const struct samples_labels *l,
			   const char *path, int given, int *classes)
{
	int stated;
	if (given <= 0)
		return samples_classes(m, l, path, classes);
	if (samples_classes_given(m, path, 0, NULL, &stated))
		return -1;
	if (stated && given > stated)
		return mp_error("%s: --classes %d is more than the %d classes of the data "
				"(meta.txt)", path, given, stated);
	*classes = given;
	return samples_labels_check(l, given, path);
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
		} else if (samples_is_label(name)) {
			return mp_error("%s: member '%s' comes after 'x': labels must "
					"come before the images", path, name);
		} else if (npz_writer_copy(w, r, NULL)) {
			return -1;
		}
	}
	return rc < 0 ? -1 : 0;
}

/* What comes before x: meta.txt, the labels, the members held. */
struct head {
	struct meta m;
	struct samples_labels l;   /* y and y_true; flipped is recomputed */
	struct held *held;
	size_t nheld;
	int have_x;                /* the reader stands on x */
};

static int hold(struct head *hd, struct npz_reader *r, int arr)
{
	hd->held = xreallocarray(hd->held, hd->nheld + 1, sizeof *hd->held);
	struct held *h = &hd->held[hd->nheld++];
	memset(h, 0, sizeof *h);
	h->name = xstrdup(npz_reader_name(r));
	h->is_array = arr;
	if (arr) {
		h->h = *npz_reader_header(r);
		h->data = npz_reader_load(r);
	} else {
		h->data = npz_reader_load_text(r, &h->len);
	}
	return h->data ? 0 : -1;
}

static int read_head(struct head *hd, struct npz_reader *r)
{
	int rc;
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		int arr = npz_reader_is_array(r), e;
		if (!arr && !strcmp(name, "meta.txt"))
			e = npz_reader_load_meta(r, &hd->m);
		else if (arr && !strcmp(name, "flipped"))
			e = npz_reader_skip(r);
		else if (arr && samples_is_label(name))
			e = samples_labels_take(&hd->l, r);
		else if (arr && !strcmp(name, "x"))
			return hd->have_x = 1;
		else
			e = hold(hd, r, arr);
		if (e)
			return -1;
	}
	return rc < 0 ? -1 : 0;
}

static void head_release(struct head *hd)
{
	for (size_t i = 0; i < hd->nheld; i++) {
		free(hd->held[i].name);
		free(hd->held[i].data);
	}
	free(hd->held);
	samples_labels_release(&hd->l);
	meta_release(&hd->m);
}

/* The corrupted labels into l: y corrupted, y_true the truth (the input's
 * y_true, or its y), flipped where they differ; their keys into m. */
static int corrupt_head(struct head *hd, const char *path, int classes,
			const struct corrupt_params *cp)
{
	struct samples_labels *l = &hd->l;
	size_t n = l->n_y, nflip = 0;
	char ps[MP_DOUBLE_CHARS];
	if (samples_labels_rows(l, n, path, "y") ||
	    corrupt_classes(&hd->m, l, path, classes, &classes))
		return -1;
	if (!l->y_true) {
		l->y_true = xmallocarray(n ? n : 1, sizeof *l->y_true);
		memcpy(l->y_true, l->y, n * sizeof *l->y);
		l->n_y_true = n;
	}
	if (corrupt_labels(l->y, n, classes, cp))
		return mp_error_prefix("%s", path);
	l->flipped = xmalloc(n ? n : 1);
	l->n_flipped = n;
	for (size_t i = 0; i < n; i++)
		nflip += l->flipped[i] = l->y[i] != l->y_true[i];
	meta_set(&hd->m, "corrupt.p", "%s", mp_fmt_double(ps, cp->p));
	meta_set(&hd->m, "corrupt.mode", "%s", corrupt_mode_name(cp->mode));
	meta_set(&hd->m, "corrupt.rng", "%s", corrupt_rng_name(cp->rng));
	meta_set(&hd->m, "corrupt.seed", "%llu", (unsigned long long)cp->seed);
	meta_set(&hd->m, "corrupt.classes", "%d", classes);
	meta_set(&hd->m, "corrupt.flipped", "%zu", nflip);
	return 0;
}

static int write_head(struct npz_writer *w, const struct head *hd)
{
	const struct samples_labels *l = &hd->l;
	struct npy_header hi, hu;
	if (npy_header_1d(&hi, NPY_I4, (int64_t)l->n_y) ||
	    npy_header_1d(&hu, NPY_U1, (int64_t)l->n_y) ||
	    npz_writer_add_meta(w, &hd->m) ||
	    npz_writer_add(w, "y", &hi, l->y) ||
	    npz_writer_add(w, "y_true", &hi, l->y_true) ||
	    npz_writer_add(w, "flipped", &hu, l->flipped))
		return -1;
	for (size_t i = 0; i < hd->nheld; i++)
		if (write_held(w, &hd->held[i]))
			return -1;
	return 0;
}

int corrupt_stream(const char *in, const char *out, int level, int classes,
		   const struct corrupt_params *cp)
{
	struct npz_reader *r;
	struct npz_writer *w;
	struct head hd;
	int ret = -1;

	memset(&hd, 0, sizeof hd);
	meta_init(&hd.m);
	if (!(r = npz_reader_open(in)))
		return -1;
	const char *path = npz_reader_path(r);
	if (read_head(&hd, r) < 0)
		goto out;
	if (!hd.l.y) {
		if (hd.have_x)
			missing_y(r, "x");
		else
			mp_error("%s: no member 'y' (the labels)", path);
		goto out;
	}
	if (corrupt_head(&hd, path, classes, cp))
		goto out;
	if (!(w = npz_writer_open(out, level)))
		goto out;
	if (write_head(w, &hd) || (hd.have_x && copy_rest(r, w, hd.l.n_y)))
		npz_writer_abort(w);
	else
		ret = npz_writer_close(w);
out:
	head_release(&hd);
	npz_reader_free(r);
	return ret;
}
