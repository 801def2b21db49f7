/*
 * transplant.c: edit a checkpoint's final linear layer so that the network
 * computes VeLPIC's scores: weight <- w (one sign-fixed unit vector per
 * class), bias <- 0 or kept. Everything else in the checkpoint (the other
 * parameters, optimizer state, RNG state, member order) is left as it was;
 * training from the edited model with a fresh optimizer is the authors'
 * protocol (train --resume EDITED --fresh-optimizer).
 */
#include "transplant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "util.h"
#include "validate.h"

int transplant_bias_parse(const char *s, enum transplant_bias *b)
{
	/* Indexed by enum transplant_bias. */
	static const char *const names[] = { "zero", "keep" };
	int i = mp_parse_choice(s, names, 2, "unknown bias mode");
	*b = i < 0 ? *b : (enum transplant_bias)i;
	return i < 0 ? -1 : 0;
}

static int is_float(enum npy_dtype t)
{
	return t == NPY_F4 || t == NPY_F8;
}

/* The last word of a space-separated list (into buf), or NULL. */
static const char *last_word(const char *s, char *buf, size_t cap)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		n--;
	size_t b = n;
	while (b && s[b - 1] != ' ')
		b--;
	if (b == n || n - b >= cap)
		return NULL;
	memcpy(buf, s + b, n - b);
	buf[n - b] = '\0';
	return buf;
}

/* The checkpoint must load exactly as dumpacts (and train --resume) load
 * it: its architecture built from meta.txt, every tensor present with its
 * shape and a float dtype. An edit of anything else would be written and
 * then refused by every tool. *final gets the architecture's final layer. */
static int check_model(const struct npz_bundle *ck, const char *ck_name,
		       char *final, size_t cap)
{
	struct model m;
	if (model_load(&m, ck))
		return mp_error_prefix("%s", ck_name);
	snprintf(final, cap, "%s", m.final);
	model_release(&m);
	return 0;
}

/* Every value of the probe's w finite: a NaN or an infinity in a weight
 * makes every prediction of the edited model meaningless. */
static int check_finite(const struct npz_array *w, const char *probe_name)
{
	size_t D = (size_t)w->h.shape[1];
	for (size_t i = 0; i < w->h.count; i++) {
		double v = w->h.dtype == NPY_F4 ? ((const float *)w->data)[i]
						: ((const double *)w->data)[i];
		if (!isfinite(v))
			return mp_error("%s: 'w' has a non-finite value (%g) in row %zu",
					probe_name, v, i / D);
	}
	return 0;
}

int transplant_apply(struct npz_bundle *ck, const struct npz_bundle *probe,
		     const struct transplant_opts *o, const char *ck_name,
		     const char *probe_name)
{
	const char *kind = meta_get(&probe->meta, "probe");
	char name[256], feed[128], arch_final[64];

	if (kind && strcmp(kind, "velpic"))
		return mp_error("%s: this is a '%s' probe; transplant takes a velpic probe",
				probe_name, kind);
	if (check_model(ck, ck_name, arch_final, sizeof arch_final))
		return -1;
	const char *final = o->layer ? o->layer : arch_final;
	if (strlen(final) > 200)
		return mp_error("%s: final layer name '%s' is too long", ck_name, final);

	const struct npz_array *w = npz_bundle_get(probe, "w");
	if (!w)
		return mp_error("%s: not a velpic probe (no 'w' member)", probe_name);
	if (validate_float(&w->h, probe_name, "w"))
		return -1;
	if (w->h.ndim != 2)
		return mp_error("%s: member 'w' must be a 2-D float array (C, D)", probe_name);

	snprintf(name, sizeof name, "%s.weight", final);
	struct npz_array *W = npz_bundle_get(ck, name);
	if (!W)
		return mp_error("%s: no member '%s' (the final layer '%s')", ck_name, name, final);
	if (W->h.ndim != 2 || !is_float(W->h.dtype))
		return mp_error("%s: member '%s' must be a 2-D float array (C, D)", ck_name, name);

	int64_t C = W->h.shape[0], D = W->h.shape[1];
	if (w->h.shape[1] != D)
		return mp_error("the probe's vectors have D=%lld values but '%s' takes %lld inputs: "
				"fit the probe on the layer that feeds '%s'",
				(long long)w->h.shape[1], name, (long long)D, final);
	if (w->h.shape[0] != C)
		return mp_error("the probe has %lld classes but '%s' has %lld outputs",
				(long long)w->h.shape[0], name, (long long)C);

	if (check_finite(w, probe_name))
		return -1;

	const char *pl = meta_get(&probe->meta, "probe.layer");
	const char *fl = last_word(meta_get(&ck->meta, "model.layers"), feed, sizeof feed);
	if (pl && fl && strcmp(pl, fl))
		warn("the probe was fitted on layer '%s', but '%s' is fed by '%s'", pl, final, fl);

	for (size_t i = 0; i < W->h.count; i++) {
		double v = w->h.dtype == NPY_F4 ? ((const float *)w->data)[i]
						: ((const double *)w->data)[i];
		if (W->h.dtype == NPY_F4)
			((float *)W->data)[i] = (float)v;
		else
			((double *)W->data)[i] = v;
	}

	const char *bias_mode = "none";
	snprintf(name, sizeof name, "%s.bias", final);
	struct npz_array *b = npz_bundle_get(ck, name);
	if (b) {
		if (o->bias == TRANSPLANT_BIAS_ZERO) {
			memset(b->data, 0, b->h.nbytes);
			bias_mode = "zero";
		} else {
			bias_mode = "keep";
		}
	}

	meta_set(&ck->meta, "transplant.layer", "%s", final);
	meta_set(&ck->meta, "transplant.bias", "%s", bias_mode);
	static const char *const carried[][2] = {
		{ "probe.layer", "transplant.probe.layer" },
		{ "velpic.labels", "transplant.probe.labels" },
		{ "velpic.n", "transplant.probe.n" },
		{ "train.epoch", "transplant.probe.epoch" },
		{ "data.split", "transplant.probe.split" },
	};
	for (size_t i = 0; i < sizeof carried / sizeof carried[0]; i++) {
		const char *v = meta_get(&probe->meta, carried[i][0]);
		if (v)
			meta_set(&ck->meta, carried[i][1], "%s", v);
	}
	return 0;
}
