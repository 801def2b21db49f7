/*
 * masc: the Minimum Angle Subspace Classifier.
 *   masc fit        per-class principal subspaces of a training stream
 *   masc predict    the class of smallest angle for every row of a stream
 *   masc quadratic  the matrices Q_c = V_c^T V_c of the equivalent
 *                   quadratic classifier argmax_c x^T Q_c x
 * lib/probe/probe.c and lib/probe/masc.c do the work; lib/cli/cli.c the command line
 * masc shares with velpic.
 */
#include <stdio.h>

#include "cli.h"
#include "par.h"
#include "probe.h"
#include "util.h"

static const char usage[] =
	"masc fit [--var T | --components K] [--labels y|y_true] "
	"[--method auto|primal|dual] [--compress N] [-q] [-o FILE] [STREAM]\n"
	"       masc predict -m PROBE [--compress N] [-o FILE] [STREAM]\n"
	"       masc quadratic -m PROBE [--compress N] [-o FILE]";

enum { MASC_QUADRATIC = CLI_PROBE_PREDICT + 1 };

static void help(void)
{
	printf("fit: per class c (by the labels y, or y_true), the top k_c eigenvectors\n"
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
	       "  -m, --probe PROBE    the probe written by masc fit (predict, quadratic)\n");
}

/* --var and --components: fit's rule for k_c, one or the other. */
static int masc_option(struct cli_probe *p, int opt, const char *arg)
{
	static int have_var;
	if (opt == 't') {
		if (parse_double(arg, 0.0, 1.0, &p->fit.threshold) || p->fit.threshold >= 1.0)
			cli_usage(&p->cli, "invalid threshold '%s': 0 <= T < 1", arg);
		have_var = 1;
	} else {
		p->fit.components = cli_long(&p->cli, arg, 1, 1L << 30);
	}
	if (have_var && p->fit.components)
		cli_usage(&p->cli, "--var and --components exclude each other");
	return 1;
}

int main(int argc, char **argv)
{
	static const char *const commands[] = { "fit", "predict", "quadratic", NULL };
	static const struct option longopts[] = {
		{ "var", required_argument, NULL, 't' },
		{ "components", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_probe p = {
		.cli = { .usage = usage, .help = help,
			 .quiet_help = "no progress, no summary of k_c on standard error (fit)" },
		.name = "masc", .commands = commands, .streamless = 1u << MASC_QUADRATIC,
		.fit = PROBE_FIT_OPTS_INIT, .own = masc_option,
	};
	struct meta add = META_INIT;

	par_blas_reexec(argv);
	mp_init(argc, argv);
	cli_probe_parse(&p, argc, argv, "t:k:", longopts);
	par_init(0);
	if (p.cmd != MASC_QUADRATIC) {
		cli_probe_run(&p, argc, argv);
	} else {
		struct masc_probe m;
		if (masc_probe_load(&m, p.probe))
			die_lib();
		cli_probe_meta(&p, &add, &m.meta, argc, argv);
		if (masc_quadratic_write(&m, p.cli.output, p.cli.level, &add))
			die_lib();
		meta_release(&add);
		masc_probe_release(&m);
	}
	mp_close_stdout();
	return 0;
}
