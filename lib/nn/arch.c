/*
 * arch.c: the architecture table (arch.h) and what is done by an
 * architecture's name: building a model, loading a checkpoint, the
 * authors' defaults, the lists --help prints. A new architecture is a
 * builder in a file of its own and an entry here.
 */
#include "arch.h"

#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "util.h"

static int cnn_batch(struct shape in)
{
	/* The authors: 128 for MNIST and Fashion-MNIST, 32 for CIFAR-10. */
	return in.c == 3 ? 32 : 128;
}

static int alexnet_batch(struct shape in)
{
	/* The authors: 500 for Tiny ImageNet (64x64), 128 for CIFAR-100. */
	return in.h >= 64 ? 500 : 128;
}

/* PAPER.md, "Architectures" and "Training as the authors did it". */
const struct arch arch_table[] = {
	{
		.name = "mlp",
		.summary = "flatten, linear 128-512-2048-2048, ReLU",
		.build = mlp_build,
		.opt = OPTIM_SGD, .lr = 1e-3, .batch = 32,
		.layers = "input fc1 fc2 fc3 fc4", .final = "fc5",
	},
	{
		.name = "cnn",
		.summary = "six 3x3 convolutions, 3 max-pools, linear 250-250-250",
		.build = cnn_build,
		.opt = OPTIM_ADAM, .lr = 2e-4,
		.batch_for = cnn_batch, .batch_help = "128, or 32 for 3 channels",
		.layers = "input flat fc1 fc2 fc3", .final = "fc4",
	},
	{
		.name = "alexnet",
		.summary = "AlexNet for Tiny ImageNet's 64x64 images",
		.build = alexnet_build,
		.opt = OPTIM_ADAM, .lr = 1e-4,
		.batch_for = alexnet_batch, .batch_help = "500 for 64x64 input, else 128",
		.layers = "flat fc1 fc2", .final = "fc3",
	},
	{
		.name = "alexnet-cifar",
		.summary = "AlexNet's CIFAR-100 variant (3x3 first convolutions)",
		.build = alexnet_cifar_build,
		.opt = OPTIM_ADAM, .lr = 1e-4,
		.batch_for = alexnet_batch, .batch_help = "500 for 64x64 input, else 128",
		.layers = "flat fc1 fc2", .final = "fc3",
	},
	{
		.name = "resnet18",
		.summary = "ResNet-18 with a 3x3 stride-1 stem (torchvision's names)",
		.build = resnet18_build,
		.opt = OPTIM_SGD, .lr = 1e-3, .batch = 32,
		.layers = "l0 l0_1 l0_2 l0_3 l1 l2 l3 l4 bf_last", .final = "fc",
	},
	{ .name = NULL },
};

char *arch_names(void)
{
	return table_names(arch_table, sizeof *arch_table);
}

const struct arch *arch_find(const char *name)
{
	return table_find(arch_table, sizeof *arch_table, "architecture", name);
}

int arch_batch(const struct arch *a, struct shape in)
{
	return a->batch_for ? a->batch_for(in) : a->batch;
}

void arch_help_defaults(FILE *f, int indent)
{
	for (const struct arch *a = arch_table; a->name; a++) {
		fprintf(f, "%*s%-14s %s\n", indent, "", a->name, a->summary);
		fprintf(f, "%*s%-14s %s, lr %g, batch ", indent, "", "",
			optim_kind_name(a->opt), a->lr);
		if (a->batch_for)
			fprintf(f, "%s\n", a->batch_help);
		else
			fprintf(f, "%d\n", a->batch);
	}
}

void arch_help_layers(FILE *f, int indent)
{
	for (const struct arch *a = arch_table; a->name; a++)
		fprintf(f, "%*s%-14s %s\n", indent, "", a->name, a->layers);
}

/* The layers and tensors of an architecture, no parameter memory yet. */
static int layout(struct model *m, const char *name, struct shape input, int classes)
{
	if (input.c < 1 || input.h < 1 || input.w < 1 || shape_size(input) > INT32_MAX)
		return mp_error("invalid input shape %dx%dx%d", input.c, input.h, input.w);
	if (classes < 2 || classes > 1000000)
		return mp_error("invalid number of classes %d", classes);
	const struct arch *a = arch_find(name);
	if (!a)
		return -1;
	model_begin(m, a->name, input, classes);
	snprintf(m->final, sizeof m->final, "%s", a->final);
	if (a->build(m)) {
		model_release(m);
		return -1;
	}
	/* The table's list is what --help and the docs promise. */
	char *probes = model_probe_list(m);
	MP_ASSERT(!strcmp(probes, a->layers));
	free(probes);
	return 0;
}

int model_build(struct model *m, const char *arch, struct shape input, int classes)
{
	if (layout(m, arch, input, classes))
		return -1;
	if (model_finish(m)) {
		model_release(m);
		return -1;
	}
	return 0;
}

int model_load(struct model *m, const struct npz_bundle *b)
{
	const char *arch = meta_get(&b->meta, "model.arch");
	const char *in = meta_get(&b->meta, "model.input");
	const char *cl = meta_get(&b->meta, "model.classes");
	struct shape s;
	long classes;
	if (!arch || !in || !cl)
		return mp_error("not a model checkpoint (meta.txt has no '%s')",
				!arch ? "model.arch" : !in ? "model.input" : "model.classes");
	if (shape_parse(in, &s))
		return mp_error_prefix("model.input");
	if (parse_long(cl, 2, 1000000, &classes))
		return mp_error_prefix("model.classes");
	if (layout(m, arch, s, (int)classes))
		return -1;
	return model_load_tensors(m, b);
}
