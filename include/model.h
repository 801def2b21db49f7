/*
 * model.h: a network as a list of layer descriptors over numbered
 * activation slots, with every parameter in one contiguous block (and its
 * gradient in another), named and shaped as PyTorch's state_dict names
 * them; checkpoint arrays. The papers' architectures are built from
 * these blocks by the builders of the table in arch.h.
 *
 *   struct model m;
 *   if (model_build(&m, "mlp", (struct shape){1, 28, 28}, 10)) die_lib();
 *   model_init_params(&m, &rng);               // PyTorch's default init
 *   model_forward(&m, x, B);                   // x (B, 1, 28, 28)
 *   const float *logits = model_output(&m);    // (B, 10)
 *   ... dlogits into model_doutput(&m) ...
 *   model_backward(&m, B, &hook);              // grads in m.grads
 *   model_release(&m);
 *
 * Slots: slot 0 is the input (the caller's memory, never written), each
 * layer reads slot `in` and writes a new slot `out`; a flatten layer's
 * output shares its input's memory. Backward passes add into a slot's
 * gradient when several layers read the slot (a residual connection), so
 * new layer kinds (batch norm, an elementwise add, adaptive pooling) only
 * need a forward, a backward, and a case in model.c's dispatch.
 *
 * Parameters (trained, in m->params) and buffers (not trained, e.g. batch
 * norm's running statistics, in m->buffers) are registered in state_dict
 * order as layers are added; checkpoint I/O and the optimizer are flat
 * loops over them.
 *
 * Batch norm layers follow m->mode (PyTorch's train()/eval()): running
 * statistics in MODEL_EVAL (the default), batch statistics that also move
 * the running ones in MODEL_TRAIN, batch statistics alone in
 * MODEL_BATCH_STATS (dumpacts --bn-mode batch).
 */
#ifndef MEMPROBE_MODEL_H
#define MEMPROBE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "nn.h"
#include "npz.h"
#include "rng.h"

/* One sample's activation shape; a vector of d features is (d, 1, 1). */
struct shape {
	int c, h, w;
};

size_t shape_size(struct shape s);

enum layer_kind {
	LAYER_LINEAR,           /* weight (O, I), bias (O) */
	LAYER_CONV2D,           /* weight (OC, C, K, K), bias (OC) */
	LAYER_MAXPOOL2D,
	LAYER_FLATTEN,          /* (C, H, W) -> (C*H*W, 1, 1), shares memory */
	LAYER_BATCHNORM2D,      /* weight, bias (C); buffers running_mean,
				 * running_var (C), num_batches_tracked () */
	LAYER_ADD,              /* out = in + in2, same shapes (a residual sum) */
	LAYER_GLOBAL_AVGPOOL,   /* (C, H, W) -> (C, 1, 1), AdaptiveAvgPool2d(1) */
};

enum model_mode { MODEL_EVAL, MODEL_TRAIN, MODEL_BATCH_STATS };

struct layer {
	enum layer_kind kind;
	char name[32];          /* module name ("fc1"); parameters "fc1.weight" */
	int in, out;            /* activation slots */
	int units;              /* output features / channels */
	int k, stride, pad;     /* conv and pooling windows */
	int relu;               /* ReLU fused on the output */
	int weight, bias;       /* tensor indices, or -1 */
	int in2;                /* LAYER_ADD's second input slot */
	int stats;              /* batch norm: tensor index of running_mean;
				 * running_var and num_batches_tracked follow */
};

struct model_tensor {
	char name[48];          /* "fc1.weight" */
	int ndim;
	int64_t shape[4];
	size_t off, count;      /* into params, or buffers when `buffer` */
	int buffer;
	enum npy_dtype dtype;   /* in checkpoints: NPY_F4, or NPY_I8 for a
				 * counter (num_batches_tracked), held as
				 * int64 bits in two floats of buffers */
};

struct model_probe {
	char name[16];          /* "fc1" */
	int slot;
};

struct model {
	char arch[32];
	struct shape input;
	int classes;
	char final[32];         /* the final linear layer ("fc5") */
	enum model_mode mode;   /* batch norm's statistics; MODEL_EVAL */

	struct layer *layers;
	int nlayers;
	struct shape *slots;    /* (nslots) per-sample shapes */
	int *alias;             /* (nslots) slot whose memory it shares, or -1 */
	int *readers;           /* (nslots) layers reading each slot */
	int nslots;
	struct model_tensor *tensors;
	int ntensors;
	struct model_probe *probes;
	int nprobes;

	size_t nparams, nbuffers;
	float *params;          /* (nparams) */
	float *grads;           /* (nparams) */
	float *buffers;         /* (nbuffers) or NULL */

	/* Workspace for batches of up to `cap` samples (model_reserve). */
	int cap, scratch_threads;
	float **act, **dact;    /* (nslots) each (cap, slot size) */
	int32_t **aux;          /* (nlayers) per-layer ints (max-pool argmax) */
	float *gtmp;            /* (cap, largest slot) for adding gradients */
	float *scratch;
	size_t nscratch;
	float *prob;            /* (cap, classes) */
	int *written;           /* (nslots) backward bookkeeping */
};

/* Build an architecture of the table (arch.h) for one sample's input
 * shape and a class count; parameters are zero until model_init_params
 * or model_load. -1 with a message for an unknown name or an input the
 * architecture cannot take. Defined in lib/nn/arch.c, above the builders:
 * model.c itself knows no architecture. */
int model_build(struct model *m, const char *arch, struct shape input,
		int classes);
void model_release(struct model *m);

/* PyTorch's defaults: every weight and bias of a layer with fan-in F
 * (inputs of a linear layer, C*K*K of a convolution) uniform in
 * [-1/sqrt(F), 1/sqrt(F)], drawn layer by layer, weight then bias, in
 * element order, as float(-b + 2b*u) with u = rng_double(). */
void model_init_params(struct model *m, struct rng *r);

/* Size the workspace for batches of up to B samples (and the current
 * thread count); done by model_forward when needed. Gradient space is
 * only allocated by the first backward pass (inference needs none). */
void model_reserve(struct model *m, int B);
/* Forward pass of B samples x (B, C, H, W) = slot 0. Keeps every slot's
 * activations for the backward pass and for probes. */
void model_forward(struct model *m, const float *x, int B);
/* Only the first `nlayers` layers (enough for the slots a probe needs). */
void model_forward_layers(struct model *m, const float *x, int B, int nlayers);
/* The index of the layer that writes `slot` (-1 for the input; a flatten
 * layer's slot counts as written by the flatten layer). */
int model_slot_layer(const struct model *m, int slot);
/* Logits (B, classes) of the last forward pass, and the place for their
 * gradient. */
const float *model_output(const struct model *m);
float *model_doutput(struct model *m);
/* Backward pass from model_doutput(); every parameter's gradient is
 * handed to hook (may be NULL) as soon as it is final. */
void model_backward(struct model *m, int B, const struct nn_hook *hook);
/* One sample's activations of a slot: act(slot) + i * shape_size. */
const float *model_act(const struct model *m, int slot);

/* Does the model take samples of shape s? The same (C, H, W), or for a
 * model that starts by flattening its input (the MLP), the same size. */
int model_accepts(const struct model *m, struct shape s);
/* A probe-able layer by name ("fc2"), or NULL. */
const struct model_probe *model_probe_find(const struct model *m, const char *name);
/* The space-separated probe names ("input fc1 fc2 fc3 fc4"), malloc'd. */
char *model_probe_list(const struct model *m);
const struct model_tensor *model_tensor_find(const struct model *m, const char *name);
/* Pointer to a tensor's data (params or buffers). */
float *model_tensor_data(const struct model *m, const struct model_tensor *t);

/* ---- checkpoints ---- */

/* "1x28x28" <-> shape. */
int shape_parse(const char *s, struct shape *out);
/* Set model.arch, model.input, model.classes, model.final, model.layers. */
void model_set_meta(const struct model *m, struct meta *meta);
/* Write every tensor (parameters and buffers, in order) as an array. */
int model_write(const struct model *m, struct npz_writer *w);
/* Build the model a checkpoint's meta describes and load its tensors
 * (float32 or float64 arrays of exactly the registered shapes; every one
 * must be present). Other members are ignored. In lib/nn/arch.c, as
 * model_build. */
int model_load(struct model *m, const struct npz_bundle *b);
/* model_load's second half: fill a model laid out for the checkpoint
 * (model_begin and a builder, not yet model_finish) from its arrays,
 * every one checked before any parameter memory is allocated. On failure
 * m is released. */
int model_load_tensors(struct model *m, const struct npz_bundle *b);

/* ---- building blocks for the architectures' builders (arch.h) ---- */

/* Start an empty model on an input shape. */
void model_begin(struct model *m, const char *arch, struct shape input, int classes);
/* Each adds a layer reading slot `in` and returns its output slot, or -1
 * with a message when the shape does not fit. */
int model_add_linear(struct model *m, int in, const char *name, int units,
		     int bias, int relu);
int model_add_conv2d(struct model *m, int in, const char *name, int channels,
		     int k, int stride, int pad, int bias, int relu);
int model_add_maxpool2d(struct model *m, int in, int k, int stride, int pad);
int model_add_flatten(struct model *m, int in);
/* BatchNorm2d over the channels of slot `in` (parameters NAME.weight,
 * NAME.bias; buffers NAME.running_mean, NAME.running_var,
 * NAME.num_batches_tracked), with an optional fused ReLU. */
int model_add_batchnorm2d(struct model *m, int in, const char *name, int relu);
/* The elementwise sum of slots a and b (same shape), optional ReLU. */
int model_add_add(struct model *m, int a, int b, int relu);
/* Adaptive average pooling to (C, 1, 1). */
int model_add_global_avgpool(struct model *m, int in);
/* Name a slot as probe-able. */
void model_add_probe(struct model *m, const char *name, int slot);
/* The papers' classifier: flatten slot `in` (probed as `flat`), linear
 * layers fc1..fcN of widths[] units with ReLU, each probed, then the final
 * linear layer m->final to m->classes units, with or without a bias. The
 * logits' slot, or -1 with a message. */
int model_add_classifier(struct model *m, int in, const char *flat,
			 const int *widths, int n, int bias);
/* Allocate the parameter, gradient and buffer blocks; the last layer's
 * output must be (classes, 1, 1). */
int model_finish(struct model *m);

/* The value of a tensor with dtype NPY_I8 (num_batches_tracked). */
int64_t model_tensor_i64(const struct model *m, const struct model_tensor *t);
void model_tensor_set_i64(const struct model *m, const struct model_tensor *t,
			  int64_t v);

#endif
