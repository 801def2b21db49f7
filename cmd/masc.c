/*
 * masc: the Minimum Angle Subspace Classifier.
 *   masc fit        per-class principal subspaces of a training stream
 *   masc predict    the class of smallest angle for every row of a stream
 *   masc quadratic  the matrices Q_c = V_c^T V_c of the equivalent
 *                   quadratic classifier argmax_c x^T Q_c x
 * lib/probe.c and lib/masc.c do the work.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npz.h"
#include "par.h"
#include "probe.h"
#include "util.h"

static const char usage[] =
	"masc fit [--var T | --components K] [--labels y|y_true] "
	"[--method auto|primal|dual] [--compress N] [-q] [-o FILE] [STREAM]\n"
	"       masc predict -m PROBE [--compress N] [-o FILE] [STREAM]\n"
	"       masc quadratic -m PROBE [--compress N] [-o FILE]";

enum masc_cmd { MASC_FIT, MASC_PREDICT, MASC_QUADRATIC };

struct masc_opts {
	enum masc_cmd cmd;
	struct probe_fit_opts fit;
	int have_var, have_components, have_labels, have_method;
	int quiet;
	int level;
	const char *probe;       /* -m */
	const char *output;      /* NULL: stdout */
	const char *input;       /* NULL: stdin */
};

static void help(void)
{
	printf("usage: %s\n\n"
	       "fit: per class c (by the labels y, or y_true), the top k_c eigenvectors\n"
	       "of S_c = X_c^T X_c over the rows of 'act' (an activation stream) or\n"
	       "'x' flattened (a data stream: the input layer); k_c is the smallest k\n"
	       "whose cumulative explained-variance ratio is strictly above T.\n"
	       "predict: cos(theta_c) = |V_c x| / |x| for every row; the class of the\n"
	       "largest cosine (ties: the lowest class; a zero row: 0 for all).\n"
	       "quadratic: Q_c = V_c^T V_c as 'q' float64 (C, D, D).\n\n"
	       "  -t, --var T          explained-variance threshold, 0 <= T < 1\n"
	       "                       (fit; default 0.99)\n"
	       "  -k, --components K   keep exactly K components per class instead (fit)\n"
	       "  -l, --labels NAME    y (default) or y_true (fit)\n"
	       "      --method M       auto (default: the one needing less memory),\n"
	       "                       primal (C scatter matrices of D x D doubles) or\n"
	       "                       dual (the rows held, Gram matrices per class) (fit)\n"
	       "  -q, --quiet          no summary of k_c on standard error (fit)\n"
	       "  -m, --probe PROBE    the probe written by masc fit (predict, quadratic)\n"
	       "  -z, --compress N     deflate level 0..9 of the output (0 = store;\n"
	       "                       default %d, or MEMPROBE_COMPRESS)\n"
	       "  -o, --output FILE    write FILE instead of standard output\n"
	       "  -h, --help           this help\n",
	       usage, NPZ_LEVEL_DEFAULT);
}

static void parse_args(int argc, char **argv, struct masc_opts *o)
{
	static const struct option longopts[] = {
		{ "var", required_argument, NULL, 't' },
		{ "components", required_argument, NULL, 'k' },
		{ "labels", required_argument, NULL, 'l' },
		{ "method", required_argument, NULL, 'M' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "probe", required_argument, NULL, 'm' },
		{ "compress", required_argument, NULL, 'z' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct probe_fit_opts init = PROBE_FIT_OPTS_INIT;
	long v;
	int c;

	o->fit = init;
	o->fit.progress = 1;
	o->level = -1;
	if (argc < 2)
		die_usage(usage, NULL);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		help();
		mp_close_stdout();
		exit(0);
	}
	if (!strcmp(argv[1], "fit"))
		o->cmd = MASC_FIT;
	else if (!strcmp(argv[1], "predict"))
		o->cmd = MASC_PREDICT;
	else if (!strcmp(argv[1], "quadratic"))
		o->cmd = MASC_QUADRATIC;
	else
		die_usage(usage, "unknown command '%s' (fit, predict or quadratic)", argv[1]);
	argc--;
	argv++;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:k:l:qm:z:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_double(optarg, 0.0, 1.0, &o->fit.threshold) ||
			    o->fit.threshold >= 1.0)
				die_usage(usage, "invalid threshold '%s': 0 <= T < 1", optarg);
			o->have_var = 1;
			break;
		case 'k':
			if (parse_long(optarg, 1, 1L << 30, &v))
				die_usage(usage, "invalid number of components: %s", mp_errmsg());
			o->fit.components = v;
			o->have_components = 1;
			break;
		case 'l':
			if (strcmp(optarg, "y") && strcmp(optarg, "y_true"))
				die_usage(usage, "invalid labels '%s' (y or y_true)", optarg);
			o->fit.labels = optarg;
			o->have_labels = 1;
			break;
		case 'M':
			if (probe_method_parse(optarg, &o->fit.method))
				die_usage(usage, "%s", mp_errmsg());
			o->have_method = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'm':
			o->probe = optarg;
			break;
		case 'z':
			if (npz_level_parse(optarg, &o->level))
				die_usage(usage, "invalid compression level: %s", mp_errmsg());
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'h':
			help();
			mp_close_stdout();
			exit(0);
		default:
			die_usage(usage, "invalid option or missing argument '%s'",
				  argv[optind - 1]);
		}
	}
	if (o->have_var && o->have_components)
		die_usage(usage, "--var and --components exclude each other");
	if (o->cmd != MASC_FIT) {
		if (o->have_var || o->have_components || o->have_labels ||
		    o->have_method || o->quiet)
			die_usage(usage, "--var, --components, --labels, --method and -q are for fit");
		if (!o->probe)
			die_usage(usage, "the probe -m PROBE is required");
	} else if (o->probe) {
		die_usage(usage, "-m is for predict and quadratic");
	}
	if (argc - optind > (o->cmd == MASC_QUADRATIC ? 0 : 1))
		die_usage(usage, o->cmd == MASC_QUADRATIC ? "quadratic reads no stream"
							   : "at most one input stream");
	if (optind < argc)
		o->input = argv[optind];
	if (o->cmd == MASC_PREDICT && (!o->input || !strcmp(o->input, "-")) &&
	    !strcmp(o->probe, "-"))
		die_usage(usage, "the probe and the stream cannot both be standard input");
	if (o->level < 0)
		o->level = npz_level_default();
}

static void summary(const struct probe_fit *f)
{
	fprintf(stderr, "%s: layer %s, %zu rows of %zu values, %d classes, %s: k =",
		mp_progname, probe_layer(&f->meta, f->member), f->rows, f->dim,
		f->classes, probe_method_str(f->method));
	for (int c = 0; c < f->classes; c++)
		fprintf(stderr, " %d", (int)f->k[c]);
	fprintf(stderr, " (total %zu)\n", f->ktotal);
}

/* The probe's own keys, carried into what is made from it. */
static void probe_keys(struct meta *dst, const struct meta *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const char *k = src->keys[i];
		if (!strcmp(k, "probe") || !strncmp(k, "probe.", 6) || !strncmp(k, "masc.", 5))
			meta_set(dst, k, "%s", src->vals[i]);
	}
}

int main(int argc, char **argv)
{
	struct masc_opts o = { 0 };
	struct meta add = META_INIT;

	par_blas_reexec(argv);
	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	par_init(0);
	if (o.cmd == MASC_FIT) {
		struct probe_fit f;
		if (probe_fit(&f, o.input, &o.fit))
			die_lib();
		probe_fit_warnings(&f);
		if (!o.quiet)
			summary(&f);
		meta_set_argv(&add, "masc", argc, argv);
		if (masc_write(&f, &o.fit, o.output, o.level, &add))
			die_lib();
		probe_fit_release(&f);
	} else {
		struct masc_probe p;
		if (masc_probe_load(&p, o.probe))
			die_lib();
		probe_keys(&add, &p.meta);
		if (o.cmd == MASC_PREDICT) {
			struct probe_scorer sc = { p.classes, p.dim, masc_score, &p, &p.meta };
			meta_set_argv(&add, "masc.predict", argc, argv);
			if (probe_predict(o.input, o.output, o.level, &sc, &add))
				die_lib();
		} else {
			meta_set_argv(&add, "masc.quadratic", argc, argv);
			if (masc_quadratic_write(&p, o.output, o.level, &add))
				die_lib();
		}
		masc_probe_release(&p);
	}
	meta_release(&add);
	mp_close_stdout();
	return 0;
}
