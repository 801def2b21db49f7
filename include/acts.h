/*
 * acts.h: what `dumpacts` does: run a checkpoint over a data stream a
 * batch at a time and write the outputs of named layers (one activation
 * stream per layer, all from one forward pass) or the model's own
 * predictions.
 *
 * Activation stream: meta.txt (the data's keys, the checkpoint's model.*
 * and train.* keys, dumpacts.layer, dumpacts.dim), `y`, `y_true` and
 * `flipped` as the data had them, then `act` float32 (N, D), each row one
 * sample's layer output flattened in C,H,W order. Prediction stream: the
 * same labels, `pred` int32 (N) and `score` float32 (N, classes) (logits).
 *
 * Memory is one batch of the model's activations (plus, for predictions,
 * N x (classes + 1) numbers): x is read with npz_reader_read_rows_f32 and
 * each batch's rows are appended to every open `act` member.
 */
#ifndef MEMPROBE_ACTS_H
#define MEMPROBE_ACTS_H

#include "model.h"

struct acts_opts {
	const char *data_path;          /* NULL or "-": stdin */
	const char *const *layers;      /* (nlayers) probe names */
	int nlayers;
	const char *outdir;             /* DIR/NAME.npz per layer, or NULL */
	const char *output;             /* the one stream: FILE, or NULL for stdout */
	int predict;                    /* write predictions instead */
	int batch;
	int level;                      /* deflate level */
	const char *model_path;         /* for meta.txt */
	const char *bn_mode;            /* NULL, or dumpacts.bn_mode in meta.txt */
	int quiet;                      /* 1: no progress on a terminal */
};

/* Run `m` (loaded from a checkpoint whose meta is ck_meta) over the data. */
int acts_run(struct model *m, const struct meta *ck_meta, const struct acts_opts *o);

#endif
