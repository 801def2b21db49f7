/*
 * score.c: count correct predictions of a prediction stream against y,
 * y_true, and the flipped / kept subsets (score.h defines the columns).
 * Only the label members and pred are loaded; `score` (N, C) is skipped
 * after its header gave the number of classes.
 */
#include "score.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"
#include "npz.h"
#include "util.h"
#include "validate.h"

const char score_columns[] =
	"n\tacc\tacc_y\tacc_y_true\tacc_flipped\tacc_kept\tn_flipped";

int score_is_column(const char *name)
{
	static const char *const cols[] = {
		"file", "n", "acc", "acc_y", "acc_y_true", "acc_flipped",
		"acc_kept", "n_flipped",
	};
	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
		if (!strcmp(name, cols[i]))
			return 1;
	return 0;
}

/* Load a 1-D integer member. */
static int load_vec(struct npz_reader *r, int32_t **out, size_t *n)
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

int score_stream(const char *path, struct score_result *res)
{
	struct npz_reader *r = NULL;
	struct meta m = META_INIT;
	/* vec[0..3]: y, y_true, flipped, pred; each (len[i]) */
	static const char *const names[] = { "y", "y_true", "flipped", "pred" };
	int32_t *vec[4] = { NULL, NULL, NULL, NULL };
	size_t len[4] = { 0, 0, 0, 0 };
	long classes = 0;
	int ret = -1, rc;

	memset(res, 0, sizeof *res);
	if (!(r = npz_reader_open(path)))
		goto out;
	const char *p = npz_reader_path(r);
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		int k = -1;
		if (!npz_reader_is_array(r)) {
			if (!strcmp(name, "meta.txt") && npz_reader_load_meta(r, &m))
				goto out;
			continue;
		}
		for (int i = 0; i < 4; i++)
			if (!strcmp(name, names[i]))
				k = i;
		if (k >= 0) {
			if (vec[k]) {
				mp_error("%s: member '%s' appears twice", p, name);
				goto out;
			}
			if (load_vec(r, &vec[k], &len[k]))
				goto out;
		} else if (!strcmp(name, "score")) {
			const struct npy_header *h = npz_reader_header(r);
			if (h->ndim == 2)
				classes = (long)h->shape[1];
		}
	}
	if (rc < 0)
		goto out;

	int32_t *y = vec[0], *yt = vec[1], *fl = vec[2], *pred = vec[3];
	if (!pred) {
		mp_error("%s: no member 'pred' (not a prediction stream)", p);
		goto out;
	}
	if (!y && !yt) {
		mp_error("%s: no labels (member 'y' or 'y_true')", p);
		goto out;
	}
	size_t n = len[3];
	for (int i = 0; i < 3; i++)
		if (vec[i] && len[i] != n) {
			mp_error("%s: member '%s' has %zu values but 'pred' has %zu",
				 p, names[i], len[i], n);
			goto out;
		}
	/* The number of classes: the width of `score`, and meta.txt's
	 * data.classes or model.classes, which must agree with it. */
	int mc;
	if (validate_meta_classes(&m, p, &mc))
		goto out;
	if (classes > VALIDATE_MAX_CLASSES) {
		mp_error("%s: member 'score' has %ld columns (at most %d classes)",
			 p, classes, VALIDATE_MAX_CLASSES);
		goto out;
	}
	if (classes && mc && classes != mc) {
		mp_error("%s: member 'score' has %ld columns but meta.txt says %d classes",
			 p, classes, mc);
		goto out;
	}
	if (!classes)
		classes = mc;
	for (size_t i = 0; i < n; i++)
		if (pred[i] < 0 || (classes && pred[i] >= classes)) {
			if (classes)
				mp_error("%s: prediction %ld at index %zu is outside 0..%ld",
					 p, (long)pred[i], i, classes - 1);
			else
				mp_error("%s: prediction %ld at index %zu is negative",
					 p, (long)pred[i], i);
			goto out;
		}
	if ((fl && validate_flipped(fl, n, p)) ||
	    (y && validate_labels(y, n, (int)classes, p, "y")) ||
	    (yt && validate_labels(yt, n, (int)classes, p, "y_true")))
		goto out;

	const int32_t *truth = yt ? yt : y;
	res->n = n;
	res->have_y = y != NULL;
	res->have_y_true = yt != NULL;
	res->have_flipped = fl != NULL;
	for (size_t i = 0; i < n; i++) {
		int ok = pred[i] == truth[i];
		res->correct += ok;
		if (y)
			res->correct_y += pred[i] == y[i];
		if (yt)
			res->correct_y_true += pred[i] == yt[i];
		if (fl && fl[i]) {
			res->n_flipped++;
			res->correct_flipped += ok;
		} else if (fl) {
			res->correct_kept += ok;
		}
	}
	ret = 0;
out:
	for (int i = 0; i < 4; i++)
		free(vec[i]);
	meta_release(&m);
	if (r)
		npz_reader_free(r);
	return ret;
}

/* "0.123456" or "NA" into buf (cap >= 32). */
static const char *ratio(char *buf, size_t cap, int defined, size_t num,
			 size_t den)
{
	if (!defined || den == 0)
		return "NA";
	snprintf(buf, cap, "%.6f", (double)num / (double)den);
	return buf;
}

char *score_format(const struct score_result *s)
{
	char a[5][32], nf[32];
	size_t nk = s->n - s->n_flipped;
	if (s->have_flipped)
		snprintf(nf, sizeof nf, "%zu", s->n_flipped);
	else
		strcpy(nf, "NA");
	return xasprintf("%zu\t%s\t%s\t%s\t%s\t%s\t%s", s->n,
			 ratio(a[0], 32, 1, s->correct, s->n),
			 ratio(a[1], 32, s->have_y, s->correct_y, s->n),
			 ratio(a[2], 32, s->have_y_true, s->correct_y_true, s->n),
			 ratio(a[3], 32, s->have_flipped, s->correct_flipped, s->n_flipped),
			 ratio(a[4], 32, s->have_flipped, s->correct_kept, nk),
			 nf);
}
