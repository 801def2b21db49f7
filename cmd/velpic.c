/*
 * velpic: the linear probe VeLPIC.
 *   velpic fit      per class the unit top eigenvector of S_c = X_c^T X_c,
 *                   sign-fixed by the mean over all training rows
 *   velpic predict  argmax_c v_c . x for every row of a stream
 * lib/probe/probe.c and lib/probe/velpic.c do the work; lib/cli/cli.c the command line
 * velpic shares with masc.
 */
#include <stdio.h>

#include "cli.h"
#include "par.h"
#include "probe.h"
#include "util.h"

static const char usage[] =
	"velpic fit [--labels y|y_true] [--method auto|primal|dual] "
	"[--compress N] [-q] [-o FILE] [STREAM]\n"
	"       velpic predict -m PROBE [--compress N] [-o FILE] [STREAM]";

static void help(void)
{
	printf("fit: per class c (by the labels y, or y_true), the unit top eigenvector\n"
	       "v_c of S_c = X_c^T X_c over the rows of 'act' (an activation stream) or\n"
	       "'x' flattened (a data stream), negated if the mean of x . v_c over all\n"
	       "training rows is negative; written as 'w' float32 (C, D).\n"
	       "predict: argmax_c v_c . x for every row (ties: the lowest class).\n\n"
	       "  -l, --labels NAME    y (default) or y_true (fit)\n"
	       "      --method M       auto (default), primal or dual, as masc (fit)\n"
	       "  -m, --probe PROBE    the probe written by velpic fit (predict)\n");
}

int main(int argc, char **argv)
{
	static const char *const commands[] = { "fit", "predict", NULL };
	struct cli_probe p = {
		.cli = { .usage = usage, .help = help,
			 .quiet_help = "no progress, no summary on standard error (fit)" },
		.name = "velpic", .commands = commands, .fit = PROBE_FIT_OPTS_INIT,
	};

	par_blas_reexec(argv);
	mp_init(argc, argv);
	cli_probe_parse(&p, argc, argv, NULL, NULL);
	par_init(0);
	cli_probe_run(&p, argc, argv);
	mp_close_stdout();
	return 0;
}
