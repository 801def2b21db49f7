/*
 * transplant.h: write a VeLPIC probe into a checkpoint's final linear layer
 * (PAPER.md, "Transplant"): the weight (C, D) becomes the probe's w, one
 * unit vector per class; the bias is zeroed (the default) or kept. With a
 * zero bias the edited model predicts exactly what VeLPIC predicts on the
 * layer that feeds the final one.
 *
 *   struct npz_bundle ck, pr;
 *   npz_bundle_load(&ck, "model.npz"); npz_bundle_load(&pr, "probe.npz");
 *   if (transplant_apply(&ck, &pr, &opts, "model.npz", "probe.npz")) die_lib();
 *   npz_bundle_save(&ck, out, level);
 */
#ifndef MEMPROBE_TRANSPLANT_H
#define MEMPROBE_TRANSPLANT_H

#include "npz.h"

enum transplant_bias { TRANSPLANT_BIAS_ZERO, TRANSPLANT_BIAS_KEEP };

struct transplant_opts {
	enum transplant_bias bias;
	const char *layer;       /* the final layer; NULL: meta model.final */
};

/* "zero" or "keep"; -1 with a message otherwise. */
int transplant_bias_parse(const char *s, enum transplant_bias *b);

/* Overwrite `<layer>.weight` (C, D) of the checkpoint ck with the probe's
 * `w` (C, D), converted to the weight's dtype; zero `<layer>.bias` when
 * asked and when the layer has one (the CNN's final layer has none: then
 * both choices leave the model as it is). Records transplant.layer,
 * transplant.bias (zero, keep or none) and the probe's provenance
 * (transplant.probe.*) in ck's meta. The layer is o->layer, else the
 * architecture's final layer. Errors: a checkpoint that does not load as
 * dumpacts loads it (model_load: its architecture, every tensor with its
 * shape and a float dtype), the weight missing or not 2-D float, a probe
 * that is not VeLPIC's, a `w` that is not float or holds a NaN or an
 * infinity, or shapes that differ (the messages give both). The names
 * are for messages. Member order is kept. */
int transplant_apply(struct npz_bundle *ck, const struct npz_bundle *probe,
		     const struct transplant_opts *o, const char *ck_name,
		     const char *probe_name);

#endif
