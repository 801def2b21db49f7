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
#include "samples.h"
#include "util.h"

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

/* What a prediction stream holds for scoring. */
struct preds {
	struct meta meta;
	struct samples_labels l;
	int32_t *pred;           /* (n) */
	size_t n;
	long width;              /* columns of `score`, 0 without it */
};

/* The members score needs: meta.txt, the labels, pred, and the width of
 * `score` from its header (its rows are skipped). */
static int preds_read(struct preds *s, struct npz_reader *r)
{
	int rc;
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		if (!npz_reader_is_array(r)) {
			if (!strcmp(name, "meta.txt") && npz_reader_load_meta(r, &s->meta))
				return -1;
		} else if (samples_is_label(name)) {
			if (samples_labels_take(&s->l, r))
				return -1;
		} else if (!strcmp(name, "pred")) {
			if (samples_load_ints(r, &s->pred, &s->n))
				return -1;
		} else if (!strcmp(name, "score")) {
			const struct npy_header *h = npz_reader_header(r);
			if (h->ndim == 2)
				s->width = (long)h->shape[1];
		}
	}
	return rc < 0 ? -1 : 0;
}

/* Predictions and labels against each other and the number of classes:
 * the width of `score`, which meta.txt's count must agree with. */
static int preds_check(const struct preds *s, const char *p)
{
	int classes;
	if (!s->pred)
		return mp_error("%s: no member 'pred' (not a prediction stream)", p);
	if (!s->l.y && !s->l.y_true)
		return mp_error("%s: no labels (member 'y' or 'y_true')", p);
	if (samples_labels_rows(&s->l, s->n, p, "pred"))
		return -1;
	if (s->width > VALIDATE_MAX_CLASSES)
		return mp_error("%s: member 'score' has %ld columns (at most %d classes)",
				p, s->width, VALIDATE_MAX_CLASSES);
	if (samples_classes_given(&s->meta, p, (int)s->width, "'score'", &classes))
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		long v = s->pred[i];
		if (v < 0)
			return mp_error("%s: prediction %ld at index %zu is negative", p, v, i);
		if (classes && v >= classes)
			return mp_error("%s: prediction %ld at index %zu is outside 0..%d",
					p, v, i, classes - 1);
	}
	return samples_labels_check(&s->l, classes, p);
}

static void count(const struct preds *s, struct score_result *res)
{
	const int32_t *y = s->l.y, *yt = s->l.y_true, *pred = s->pred;
	const uint8_t *fl = s->l.flipped;
	const int32_t *truth = yt ? yt : y;
	res->n = s->n;
	res->have_y = y != NULL;
	res->have_y_true = yt != NULL;
	res->have_flipped = fl != NULL;
	for (size_t i = 0; i < s->n; i++) {
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
}

int score_stream(const char *path, struct score_result *res)
{
	struct npz_reader *r;
	struct preds s = { META_INIT, SAMPLES_LABELS_INIT, NULL, 0, 0 };
	int ret = -1;

	memset(res, 0, sizeof *res);
	if (!(r = npz_reader_open(path)))
		return -1;
	if (!preds_read(&s, r) && !preds_check(&s, npz_reader_path(r))) {
		count(&s, res);
		ret = 0;
	}
	samples_labels_release(&s.l);
	free(s.pred);
	meta_release(&s.meta);
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
