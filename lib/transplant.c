/*
 * transplant.c: edit a checkpoint's final linear layer so that the network
 * computes VeLPIC's scores: weight <- w (one sign-fixed unit vector per
 * class), bias <- 0 or kept. Everything else in the checkpoint (the other
 * parameters, optimizer state, RNG state, member order) is left as it was;
 * training from the edited model with a fresh optimizer is the authors'
 * protocol (train --resume EDITED --fresh-optimizer).
 */
#include "transplant.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

int transplant_bias_parse(const char *s, enum transplant_bias *b)
{
	if (!strcmp(s, "zero"))
		*b = TRANSPLANT_BIAS_ZERO;
	else if (!strcmp(s, "keep"))
		*b = TRANSPLANT_BIAS_KEEP;
	else
		return mp_error("unknown bias mode '%s' (zero or keep)", s);
	return 0;
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

int transplant_apply(struct npz_bundle *ck, const struct npz_bundle *probe,
		     const struct transplant_opts *o, const char *ck_name,
		     const char *probe_name)
{
	const char *final = o->layer ? o->layer : meta_get(&ck->meta, "model.final");
	const char *kind = meta_get(&probe->meta, "probe");
	char name[256], feed[128];

	if (kind && strcmp(kind, "velpic"))
		return mp_error("%s: this is a '%s' probe; transplant takes a velpic probe",
				probe_name, kind);
	if (!final)
		return mp_error("%s: no 'model.final' in meta.txt: name the final layer with --layer",
				ck_name);
	if (strlen(final) > 200)
		return mp_error("%s: final layer name '%s' is too long", ck_name, final);

	const struct npz_array *w = npz_bundle_get(probe, "w");
	if (!w)
		return mp_error("%s: not a velpic probe (no 'w' member)", probe_name);
	if (w->h.ndim != 2 || !is_float(w->h.dtype))
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
