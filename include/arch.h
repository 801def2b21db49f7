/*
 * arch.h: the architecture table, the one place that knows what
 * architectures there are: for each its name, its builder, the authors'
 * training defaults (PAPER.md), the layers dumpacts probes, the final
 * layer and a line of description. model_build and model_load (model.h)
 * build by name through it; train takes its defaults from it; --help,
 * the "unknown architecture" errors and (checked by tests/manlists.bats)
 * the man pages and README list what it holds.
 *
 *   const struct arch *a = arch_find("cnn");        // NULL: unknown
 *   int batch = arch_batch(a, (struct shape){ 3, 32, 32 });   // 32
 *
 * The table sits above model.c: each builder (lib/nn/mlp.c, cnn.c,
 * alexnet.c, resnet.c) adds layers with model.h's building blocks, and
 * model.c knows no architecture.
 */
#ifndef MEMPROBE_ARCH_H
#define MEMPROBE_ARCH_H

#include <stdio.h>

#include "model.h"
#include "optim.h"

struct arch {
	const char *name;               /* --arch, model.arch */
	const char *summary;            /* one line for --help */
	/* Add the layers to a model begun (model_begin) for an input shape
	 * and class count, naming the last one m->final (set from `final`);
	 * -1 with a message when the input does not fit. */
	int (*build)(struct model *m);
	enum optim_kind opt;            /* the authors' optimizer ... */
	double lr;                      /* ... learning rate ... */
	int batch;                      /* ... and batch size, or 0 when ... */
	int (*batch_for)(struct shape in);      /* ... it depends on the input */
	const char *batch_help;         /* batch_for in words, for --help */
	const char *layers;             /* the probed layers, in model order */
	const char *final;              /* the final (linear) layer */
};

/* The table, in --help's order; the entry after the last has no name. */
extern const struct arch arch_table[];

/* The entry for a name, or NULL with a message naming the known ones:
 * "unknown architecture 'NAME' (mlp, cnn, ... or resnet18)". */
const struct arch *arch_find(const char *name);
/* The authors' batch size for samples of shape `in`. */
int arch_batch(const struct arch *a, struct shape in);
/* "mlp, cnn, alexnet, alexnet-cifar or resnet18", malloc'd. */
char *arch_names(void);
/* --help's lists, one architecture a line (or two) after `indent`
 * spaces: the summary and the training defaults (train), the probed
 * layers (dumpacts). */
void arch_help_defaults(FILE *f, int indent);
void arch_help_layers(FILE *f, int indent);

/* The builders, one file each. */
int mlp_build(struct model *m);                 /* lib/nn/mlp.c */
int cnn_build(struct model *m);                 /* lib/nn/cnn.c */
int alexnet_build(struct model *m);             /* lib/nn/alexnet.c */
int alexnet_cifar_build(struct model *m);
int resnet18_build(struct model *m);            /* lib/nn/resnet.c */

#endif
