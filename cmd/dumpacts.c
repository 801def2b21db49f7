/*
 * dumpacts: run a checkpoint over a data stream and write the outputs of
 * named layers (one activation stream per layer, from one forward pass),
 * or the model's own predictions. The work is lib/acts.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acts.h"
#include "arch.h"
#include "model.h"
#include "npz.h"
#include "par.h"
#include "util.h"

static const char usage[] =
	"dumpacts -m CKPT [--layers LIST|all] [--outdir DIR | -o FILE] [--predict] "
	"[--batch N] [--bn-mode eval|batch] [--threads N] [--compress N] [DATA_STREAM]";

struct dumpacts_opts {
	const char *model;
	const char *layers;             /* NULL: all */
	const char *outdir, *output;
	int predict, batch, threads, level;
	int bn_batch;                   /* --bn-mode batch */
	const char *data;
};

/* Activations are float data deflate can do little with (level 1 keeps
 * ~55% of the bytes at ~35 MB/s, 25 times slower than storing), so they
 * are stored unless MEMPROBE_COMPRESS or --compress says otherwise. */
static int acts_level_default(void)
{
	return getenv("MEMPROBE_COMPRESS") ? npz_level_default() : 0;
}

static void help(void)
{
	printf("usage: %s\n\n"
	       "Write the activations of a model's layers over a data stream (stdin\n"
	       "when no DATA_STREAM), one stream per layer, or its predictions.\n\n"
	       "  -m, --model CKPT     checkpoint written by train (or transplant)\n"
	       "  -l, --layers LIST    comma-separated layer names, or all (default):\n",
	       usage);
	arch_help_layers(stdout, 23);
	printf("  -d, --outdir DIR     write DIR/NAME.npz for each layer\n"
	       "  -o, --output FILE    write the one stream to FILE (default: stdout)\n"
	       "  -p, --predict        write predictions (pred, and logits as score)\n"
	       "  -b, --batch N        samples per forward pass (256)\n"
	       "      --bn-mode MODE   batch norm with running statistics (eval, default)\n"
	       "                       or each batch's own (batch, as the authors; the\n"
	       "                       results then depend on --batch and the order)\n"
	       "  -j, --threads N      threads (0: all CPUs)\n"
	       "      --compress N     deflate level, 0-9 (%d: activations barely\n"
	       "                       compress, and deflate is 25x slower than store)\n"
	       "  -h, --help           this help\n",
	       acts_level_default());
}

enum { OPT_COMPRESS = 256, OPT_BN_MODE };

static void parse_args(int argc, char **argv, struct dumpacts_opts *o)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "layers", required_argument, NULL, 'l' },
		{ "outdir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "predict", no_argument, NULL, 'p' },
		{ "batch", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 'j' },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "bn-mode", required_argument, NULL, OPT_BN_MODE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;
	while ((c = getopt_long(argc, argv, "m:l:d:o:pb:j:h", longopts, NULL)) != -1) {
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
		case 'o':
			o->output = optarg;
			break;
		case 'p':
			o->predict = 1;
			break;
		case 'b':
			if (parse_long(optarg, 1, 1 << 20, &v))
				die_usage(usage, "invalid --batch: %s", mp_errmsg());
			o->batch = (int)v;
			break;
		case 'j':
			if (parse_long(optarg, 0, 256, &v))
				die_usage(usage, "invalid --threads: %s", mp_errmsg());
			o->threads = (int)v;
			break;
		case OPT_COMPRESS:
			if (npz_level_parse(optarg, &o->level))
				die_usage(usage, "invalid --compress: %s", mp_errmsg());
			break;
		case OPT_BN_MODE:
			if (strcmp(optarg, "eval") && strcmp(optarg, "batch"))
				die_usage(usage, "invalid --bn-mode '%s' (eval or batch)", optarg);
			o->bn_batch = !strcmp(optarg, "batch");
			break;
		case 'h':
			help();
			mp_close_stdout();
			exit(0);
		default:
			die_usage(usage, NULL);
		}
	}
	if (argc - optind > 1)
		die_usage(usage, "too many operands");
	o->data = optind < argc ? argv[optind] : NULL;
	if (!o->model)
		die_usage(usage, "no checkpoint given (-m CKPT)");
	if (o->outdir && o->output)
		die_usage(usage, "--outdir and --output exclude each other");
	if (o->predict && (o->layers || o->outdir))
		die_usage(usage, "--predict writes one prediction stream: no --layers or --outdir");
	if (o->data && o->model && !strcmp(o->model, "-") && !strcmp(o->data, "-"))
		die_usage(usage, "the checkpoint and the data cannot both be stdin");
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
			die_usage(usage, "unknown layer '%s' (a %s model has: %s)", t,
				  m->arch, names);
		}
		for (int i = 0; i < *n; i++)
			if (!strcmp(v[i], p->name))
				die_usage(usage, "layer '%s' given twice", t);
		v[(*n)++] = p->name;
	}
	free(copy);
	if (*n == 0)
		die_usage(usage, "no layers in '%s'", o->layers);
	return v;
}

int main(int argc, char **argv)
{
	struct dumpacts_opts o = { .batch = 256 };
	struct npz_bundle ck;
	struct model m;

	par_blas_reexec(argv);
	mp_init(argc, argv);
	o.level = acts_level_default();
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
		die_usage(usage, "%d layers need --outdir DIR (or one --layers NAME)", nlayers);

	struct acts_opts ao = {
		.data_path = o.data, .layers = layers, .nlayers = nlayers,
		.outdir = o.outdir, .output = o.output, .predict = o.predict,
		.batch = o.batch, .level = o.level, .model_path = o.model,
		.bn_mode = has_bn || o.bn_batch ? (o.bn_batch ? "batch" : "eval") : NULL,
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
