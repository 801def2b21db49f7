/*
 * corrupt: replace a fraction of a data stream's labels, keeping the truth.
 * Reads a data stream (meta.txt, y, [y_true, flipped], x), writes it back
 * with corrupted y, the original labels as y_true, flipped = (y != y_true),
 * and x streamed through unchanged. lib/data/corrupt.c does the work.
 */
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "corrupt.h"
#include "util.h"

static const char usage[] =
	"corrupt -p P [--mode uniform|shuffle|other] [--seed N] "
	"[--rng native|numpy] [--classes C] [--compress N] [-o FILE] [STREAM]";

struct corrupt_opts {
	struct cli cli;          /* -z, -o, --force */
	struct corrupt_params cp;
	int have_p;
	int have_rng;
	int classes;             /* 0: from the stream */
	const char *input;       /* NULL: stdin */
};

static void help(void)
{
	printf("Replace each label with probability P (mode uniform, other) or\n"
	       "permute the labels of a P-fraction of samples (shuffle); write\n"
	       "the corrupted y, the original labels as y_true, and flipped.\n\n"
	       "  -p, --probability P  fraction of labels to corrupt, 0..1 (required)\n"
	       "  -m, --mode MODE      uniform (default: new class uniform over all C,\n"
	       "                       as the authors), other (never the true class),\n"
	       "                       shuffle (permute among a random P-fraction)\n"
	       "  -s, --seed N         generator seed (default 42)\n"
	       "  -r, --rng GEN        numpy (NumPy's legacy RandomState, bit for bit)\n"
	       "                       or native (xoshiro256**); default numpy for\n"
	       "                       uniform, native for shuffle and other\n"
	       "  -c, --classes C      number of classes (default: meta data.classes,\n"
	       "                       else the largest label + 1)\n");
}

static void parse_args(int argc, char **argv, struct corrupt_opts *o)
{
	static const struct option longopts[] = {
		{ "probability", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "rng", required_argument, NULL, 'r' },
		{ "classes", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli *cli = &o->cli;
	int c;

	o->cp.mode = CORRUPT_UNIFORM;
	o->cp.seed = 42;
	while ((c = cli_getopt(cli, argc, argv, "p:m:s:r:c:", longopts)) != -1) {
		switch (c) {
		case 'p':
			o->cp.p = cli_double(cli, optarg, 0.0, 1.0);
			o->have_p = 1;
			break;
		case 'm':
			if (corrupt_mode_parse(optarg, &o->cp.mode))
				cli_usage(cli, "%s", mp_errmsg());
			break;
		case 's':
			o->cp.seed = cli_seed(cli, optarg);
			break;
		case 'r':
			if (corrupt_rng_parse(optarg, &o->cp.rng))
				cli_usage(cli, "%s", mp_errmsg());
			o->have_rng = 1;
			break;
		case 'c':
			o->classes = cli_classes(cli, optarg);
			break;
		}
	}
	if (!o->have_p)
		cli_usage(cli, "the probability -p P is required");
	if (argc - optind > 1)
		cli_usage(cli, "at most one input stream");
	if (optind < argc)
		o->input = argv[optind];
	if (!o->have_rng)
		o->cp.rng = o->cp.mode == CORRUPT_UNIFORM ? CORRUPT_RNG_NUMPY
							  : CORRUPT_RNG_NATIVE;
	if (o->cp.rng == CORRUPT_RNG_NUMPY && o->cp.seed > UINT32_MAX)
		cli_usage(cli, "invalid --seed: the numpy generator takes 0..%lu",
			  (unsigned long)UINT32_MAX);
	cli_done(cli);
}

int main(int argc, char **argv)
{
	struct corrupt_opts o = {
		.cli = { .usage = usage, .help = help,
			 .flags = CLI_OUTPUT | CLI_COMPRESS | CLI_NPZ },
	};

	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	if (corrupt_stream(o.input, o.cli.output, o.cli.level, o.classes, &o.cp))
		die_lib();
	mp_close_stdout();
	return 0;
}
