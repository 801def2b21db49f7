/*
 * dumpacts: run a checkpoint over a data stream and write the outputs of
 * named layers (one activation stream per layer, from one forward pass),
 * or the model's own predictions. The work is lib/nn/acts.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acts.h"
#include "cli.h"
#include "arch.h"
#include "model.h"
#include "par.h"
#include "util.h"

static const char usage[] =
	"dumpacts -m CKPT [--layers LIST|all] [--outdir DIR | -o FILE] [--predict] "
	"[--batch N] [--bn-mode eval|batch] [--threads N] [--compress N] [DATA_STREAM]";

struct dumpacts_opts {
	struct cli cli;                 /* -z, -o, --force */
	const char *model;
	const char *layers;             /* NULL: all */
	const char *outdir;
	int predict, batch, threads;
	int bn_batch;                   /* --bn-mode batch */
	const char *data;
};

static void help(void)
{
	printf("Write the activations of a model's layers over a data stream (stdin\n"
	       "when no DATA_STREAM), one stream per layer, or its predictions.\n"
	       "They are stored (--compress 0) unless MEMPROBE_COMPRESS or --compress\n"
	       "says otherwise: activations barely compress, and deflate is 25x slower.\n\n"
	       "  -m, --model CKPT     checkpoint written by train (or transplant)\n"
	       "  -l, --layers LIST    comma-separated layer names, or all (default):\n");
	arch_help_layers(stdout, 23);
	printf("  -d, --outdir DIR     write DIR/NAME.npz for each layer\n"
	       "  -p, --predict        write predictions (pred, and logits as score)\n"
	       "  -b, --batch N        samples per forward pass (256)\n"
	       "      --bn-mode MODE   batch norm with running statistics (eval, default)\n"
	       "                       or each batch's own (batch, as the authors; the\n"
	       "                       results then depend on --batch and the order)\n"
	       "  -j, --threads N      threads (0: every CPU it may use)\n");
}

enum { OPT_BN_MODE = 256 };

static void parse_args(int argc, char **argv, struct dumpacts_opts *o)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "layers", required_argument, NULL, 'l' },
		{ "outdir", required_argument, NULL, 'd' },
		{ "predict", no_argument, NULL, 'p' },
		{ "batch", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 'j' },
		{ "bn-mode", required_argument, NULL, OPT_BN_MODE },
		{ NULL, 0, NULL, 0 },
	};
	struct cli *cli = &o->cli;
	int c;
	while ((c = cli_getopt(cli, argc, argv, "m:l:d:pb:j:", longopts)) != -1) {
		switch (c) {
		case 'm':
			o->model = optarg;
			break;
		case 'l':
			o->layers = optarg;
			break;
		case 'd':
			o->outdir = optarg;
			break;
		case 'p':
			o->predict = 1;
			break;
		case 'b':
			o->batch = cli_batch(cli, optarg);
			break;
		case 'j':
			o->threads = cli_threads(cli, optarg);
			break;
		case OPT_BN_MODE:
			if (strcmp(optarg, "eval") && strcmp(optarg, "batch"))
				cli_usage(cli, "invalid --bn-mode '%s' (eval or batch)", optarg);
			o->bn_batch = !strcmp(optarg, "batch");
			break;
		}
	}
	if (argc - optind > 1)
		cli_usage(cli, "too many operands");
	o->data = optind < argc ? argv[optind] : NULL;
	if (!o->model)
		cli_usage(cli, "no checkpoint given (-m CKPT)");
	if (o->outdir && cli->output_set)
		cli_usage(cli, "--outdir and --output exclude each other");
	if (o->predict && (o->layers || o->outdir))
		cli_usage(cli, "--predict writes one prediction stream: no --layers or --outdir");
	if (o->data && o->model && !strcmp(o->model, "-") && !strcmp(o->data, "-"))
		cli_usage(cli, "the checkpoint and the data cannot both be stdin");
	/* With --outdir nothing goes to standard output. */
	if (o->outdir)
		cli->flags &= ~CLI_NPZ;
	cli_done(cli);
}

/* The requested layer names, checked against the model. */
static const char **resolve_layers(const struct dumpacts_opts *o,
				   const struct model *m, int *n)
{
	const char **v = xcalloc((size_t)m->nprobes + 1, sizeof *v);
	*n = 0;
	if (!o->layers || !strcmp(o->layers, "all")) {
		for (int i = 0; i < m->nprobes; i++)
			v[(*n)++] = m->probes[i].name;
		return v;
	}
	char *copy = xstrdup(o->layers), *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		const struct model_probe *p = model_probe_find(m, t);
		if (!p) {
			char *names = model_probe_list(m);
			cli_usage(&o->cli, "unknown layer '%s' (a %s model has: %s)", t,
				  m->arch, names);
		}
		for (int i = 0; i < *n; i++)
			if (!strcmp(v[i], p->name))
				cli_usage(&o->cli, "layer '%s' given twice", t);
		v[(*n)++] = p->name;
	}
	free(copy);
	if (*n == 0)
		cli_usage(&o->cli, "no layers in '%s'", o->layers);
	return v;
}

int main(int argc, char **argv)
{
	struct dumpacts_opts o = {
		.cli = { .usage = usage, .help = help,
			 .flags = CLI_OUTPUT | CLI_COMPRESS | CLI_STORE | CLI_QUIET | CLI_NPZ },
		.batch = 256,
	};
	struct npz_bundle ck;
	struct model m;

	par_blas_reexec(argv);
	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	par_init(o.threads);

	if (npz_bundle_load(&ck, o.model))
		die_lib();
	if (model_load(&m, &ck))
		die("%s: %s", o.model, mp_errmsg());
	int nlayers, has_bn = 0;
	const char **layers = resolve_layers(&o, &m, &nlayers);
	for (int i = 0; i < m.nlayers; i++)
		has_bn |= m.layers[i].kind == LAYER_BATCHNORM2D;
	m.mode = o.bn_batch ? MODEL_BATCH_STATS : MODEL_EVAL;
	if (!o.predict && nlayers > 1 && !o.outdir)
		cli_usage(&o.cli, "%d layers need --outdir DIR (or one --layers NAME)", nlayers);

	struct acts_opts ao = {
		.data_path = o.data, .layers = layers, .nlayers = nlayers,
		.outdir = o.outdir, .output = o.cli.output, .predict = o.predict,
		.batch = o.batch, .level = o.cli.level, .model_path = o.model,
		.bn_mode = has_bn || o.bn_batch ? (o.bn_batch ? "batch" : "eval") : NULL,
		.quiet = o.cli.quiet,
	};
	mp_defer_signals(1);
	if (acts_run(&m, &ck.meta, &ao))
		die_lib();
	free(layers);
	model_release(&m);
	npz_bundle_release(&ck);
	mp_close_stdout();
	return 0;
}
