/*
 * train.h: the training loop of `train`: load a data stream, build or
 * resume a model, run epochs of mini-batch training with softmax
 * cross-entropy, log each epoch, save checkpoints on a schedule, stop at a
 * target training accuracy.
 *
 * A checkpoint (DIR/epoch-NNN.npz) holds meta.txt (the training data's
 * keys, model.* and train.* keys), the model's tensors in state_dict order,
 * the optimizer state as opt.<param>.<slot> and the RNG state as
 * `rng.state` (int64 (4), xoshiro256** words), so that a resumed run is
 * byte-identical to an uninterrupted one. Nothing in a checkpoint depends
 * on paths, thread counts, or stopping options.
 */
#ifndef MEMPROBE_TRAIN_H
#define MEMPROBE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "optim.h"

/* A training or --eval data stream held in memory: labels and x, the
 * whole set (not data.h's struct data_set, a real data set read from
 * its distribution files). */
struct train_data {
	struct meta meta;
	size_t n;
	struct shape shape;     /* one sample */
	int32_t *y;             /* (n) */
	int32_t *y_true;        /* (n) or NULL */
	uint8_t *flipped;       /* (n) or NULL */
	float *x;               /* (n, c, h, w) */
	int max_label;          /* over y and y_true */
	int classes_meta;       /* data.classes, or 0 */
};

/* Load a data stream (NULL or "-": stdin). Needs `y` and `x`. */
int train_data_load(struct train_data *d, const char *path);
void train_data_release(struct train_data *d);

/* Checkpoint schedule: SAVE_ALL, SAVE_DYNAMICS, or a list. */
struct save_schedule {
	int all, dynamics;
	long *epochs;           /* sorted list when neither */
	size_t n;
};

/* "all", "dynamics" (0, 1, 2, 4, 6, ..., 20, then every 5), or a comma
 * list of epochs and ranges "0,5,10-20". */
int save_schedule_parse(struct save_schedule *s, const char *text);
/* Is epoch e scheduled? (The last epoch is saved whatever this says.) */
int save_schedule_has(const struct save_schedule *s, long e);
void save_schedule_release(struct save_schedule *s);

struct train_opts {
	const char *arch;               /* NULL: from --resume's checkpoint */
	const char *train_path;         /* NULL or "-": stdin */
	const char *ckpt_dir;           /* NULL: no checkpoints */
	const char *eval_path;          /* NULL: no test accuracy */
	const char *log_path;           /* NULL: no TSV log */
	const char *resume;             /* checkpoint to continue from */
	const char *save;               /* schedule text, NULL: dynamics */
	int opt_set;                    /* 1: opt given */
	enum optim_kind opt;
	double lr, momentum;            /* < 0: default */
	int batch;                      /* 0: default */
	long max_epochs;                /* total epochs, counted from 0 */
	double until;                   /* percent; < 0: default for the data */
	int seed_set;
	uint64_t seed;
	int shuffle;                    /* -1: default (off, or the checkpoint's) */
	int classes;                    /* 0: from the data */
	int fresh_optimizer;
	int compress;                   /* deflate level of checkpoints */
	int eval_batch;                 /* 0: default */
	int quiet;                      /* 1: nothing on stderr but errors */
};

#define TRAIN_OPTS_INIT { .lr = -1, .momentum = -1, .max_epochs = 500, \
	.until = -1, .shuffle = -1, .compress = 1 }

/* The default stopping accuracy (percent) for a data set: the authors'
 * for its data.name (data.h's table), else 99.9 for 1x28x28 input and
 * 100 otherwise. */
double train_default_until(const struct meta *data_meta, struct shape s);

/* One training step on a batch: forward, softmax cross-entropy on y,
 * backward with the optimizer applied to each block of parameters as soon
 * as its gradient is final. Returns the batch's mean loss (not finite:
 * nothing was updated); pred (B) gets the predicted classes if not NULL.
 * The model's mode (batch norm) is the caller's. */
double train_step(struct model *m, struct optim *o, const float *x /* (B, C, H, W) */,
		  const int32_t *y /* (B) */, int B, int32_t *pred /* (B) or NULL */);

/* Run training as the options say. Returns 0 when training ended
 * normally (target reached or max epochs), -1 on failure or interruption
 * (the message says which). */
int train_run(const struct train_opts *o);

#endif
