/*
 * velpic: the linear probe VeLPIC.
 *   velpic fit      per class the unit top eigenvector of S_c = X_c^T X_c,
 *                   sign-fixed by the mean over all training rows
 *   velpic predict  argmax_c v_c . x for every row of a stream
 * lib/probe.c and lib/velpic.c do the work.
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
	"velpic fit [--labels y|y_true] [--method auto|primal|dual] "
	"[--compress N] [-q] [-o FILE] [STREAM]\n"
	"       velpic predict -m PROBE [--compress N] [-o FILE] [STREAM]";

enum velpic_cmd { VELPIC_FIT, VELPIC_PREDICT };

struct velpic_opts {
	enum velpic_cmd cmd;
	struct probe_fit_opts fit;
	int have_labels, have_method;
	int quiet;
	int level;
	const char *probe;       /* -m */
	const char *output;      /* NULL: stdout */
	const char *input;       /* NULL: stdin */
};

static void help(void)
{
	printf("usage: %s\n\n"
	       "fit: per class c (by the labels y, or y_true), the unit top eigenvector\n"
	       "v_c of S_c = X_c^T X_c over the rows of 'act' (an activation stream) or\n"
	       "'x' flattened (a data stream), negated if the mean of x . v_c over all\n"
	       "training rows is negative; written as 'w' float32 (C, D).\n"
	       "predict: argmax_c v_c . x for every row (ties: the lowest class).\n\n"
	       "  -l, --labels NAME    y (default) or y_true (fit)\n"
	       "      --method M       auto (default), primal or dual, as masc (fit)\n"
	       "  -q, --quiet          no summary on standard error (fit)\n"
	       "  -m, --probe PROBE    the probe written by velpic fit (predict)\n"
	       "  -z, --compress N     deflate level 0..9 of the output (0 = store;\n"
	       "                       default %d, or MEMPROBE_COMPRESS)\n"
	       "  -o, --output FILE    write FILE instead of standard output\n"
	       "  -h, --help           this help\n",
	       usage, NPZ_LEVEL_DEFAULT);
}

static void parse_args(int argc, char **argv, struct velpic_opts *o)
{
	static const struct option longopts[] = {
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
	int c;

	o->fit = init;
	o->fit.components = 1;
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
		o->cmd = VELPIC_FIT;
	else if (!strcmp(argv[1], "predict"))
		o->cmd = VELPIC_PREDICT;
	else
		die_usage(usage, "unknown command '%s' (fit or predict)", argv[1]);
	argc--;
	argv++;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "l:qm:z:o:h", longopts, NULL)) != -1) {
		switch (c) {
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
	if (o->cmd == VELPIC_PREDICT) {
		if (o->have_labels || o->have_method || o->quiet)
			die_usage(usage, "--labels, --method and -q are for fit");
		if (!o->probe)
			die_usage(usage, "the probe -m PROBE is required");
	} else if (o->probe) {
		die_usage(usage, "-m is for predict");
	}
	if (argc - optind > 1)
		die_usage(usage, "at most one input stream");
	if (optind < argc)
		o->input = argv[optind];
	if (o->cmd == VELPIC_PREDICT && (!o->input || !strcmp(o->input, "-")) &&
	    !strcmp(o->probe, "-"))
		die_usage(usage, "the probe and the stream cannot both be standard input");
	if (o->level < 0)
		o->level = npz_level_default();
}

/* The probe's own keys, carried into its predictions. */
static void probe_keys(struct meta *dst, const struct meta *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const char *k = src->keys[i];
		if (!strcmp(k, "probe") || !strncmp(k, "probe.", 6) || !strncmp(k, "velpic.", 7))
			meta_set(dst, k, "%s", src->vals[i]);
	}
}

int main(int argc, char **argv)
{
	struct velpic_opts o = { 0 };
	struct meta add = META_INIT;

	par_blas_reexec(argv);
	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	par_init(0);
	if (o.cmd == VELPIC_FIT) {
		struct probe_fit f;
		if (probe_fit(&f, o.input, &o.fit))
			die_lib();
		probe_fit_warnings(&f);
		if (!o.quiet)
			fprintf(stderr, "%s: layer %s, %zu rows of %zu values, %d classes, %s\n",
				mp_progname, probe_layer(&f.meta, f.member), f.rows, f.dim,
				f.classes, probe_method_str(f.method));
		meta_set_argv(&add, "velpic", argc, argv);
		if (velpic_write(&f, &o.fit, o.output, o.level, &add))
			die_lib();
		probe_fit_release(&f);
	} else {
		struct velpic_probe p;
		if (velpic_probe_load(&p, o.probe))
			die_lib();
		probe_keys(&add, &p.meta);
		meta_set_argv(&add, "velpic.predict", argc, argv);
		struct probe_scorer sc = { p.classes, p.dim, velpic_score, &p, &p.meta };
		if (probe_predict(o.input, o.output, o.level, &sc, &add))
			die_lib();
		velpic_probe_release(&p);
	}
	meta_release(&add);
	mp_close_stdout();
	return 0;
}
