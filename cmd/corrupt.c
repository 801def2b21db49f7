/*
 * corrupt: replace a fraction of a data stream's labels, keeping the truth.
 * Reads a data stream (meta.txt, y, [y_true, flipped], x), writes it back
 * with corrupted y, the original labels as y_true, flipped = (y != y_true),
 * and x streamed through unchanged. lib/corrupt.c does the work.
 */
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "corrupt.h"
#include "npz.h"
#include "util.h"
#include "validate.h"

static const char usage[] =
	"corrupt -p P [--mode uniform|shuffle|other] [--seed N] "
	"[--rng native|numpy] [--classes C] [--compress N] [-o FILE] [STREAM]";

struct corrupt_opts {
	struct corrupt_params cp;
	int have_p;
	int have_rng;
	int classes;             /* 0: from the stream */
	int level;
	const char *output;      /* NULL: stdout */
	const char *input;       /* NULL: stdin */
};

static void help(void)
{
	printf("usage: %s\n\n"
	       "Replace each label with probability P (mode uniform, other) or\n"
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
	       "                       else the largest label + 1)\n"
	       "  -z, --compress N     deflate level 0..9 of the output (0 = store;\n"
	       "                       default %d, or MEMPROBE_COMPRESS)\n"
	       "  -o, --output FILE    write FILE instead of standard output\n"
	       "  -h, --help           this help\n",
	       usage, NPZ_LEVEL_DEFAULT);
}

static void parse_args(int argc, char **argv, struct corrupt_opts *o)
{
	static const struct option longopts[] = {
		{ "probability", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "rng", required_argument, NULL, 'r' },
		{ "classes", required_argument, NULL, 'c' },
		{ "compress", required_argument, NULL, 'z' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	o->cp.mode = CORRUPT_UNIFORM;
	o->cp.seed = 42;
	o->level = -1;
	while ((c = getopt_long(argc, argv, "p:m:s:r:c:z:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_double(optarg, 0.0, 1.0, &o->cp.p))
				die_usage(usage, "invalid probability: %s", mp_errmsg());
			o->have_p = 1;
			break;
		case 'm':
			if (corrupt_mode_parse(optarg, &o->cp.mode))
				die_usage(usage, "%s", mp_errmsg());
			break;
		case 's':
			if (parse_long(optarg, 0, LONG_MAX, &v))
				die_usage(usage, "invalid seed: %s", mp_errmsg());
			o->cp.seed = (uint64_t)v;
			break;
		case 'r':
			if (corrupt_rng_parse(optarg, &o->cp.rng))
				die_usage(usage, "%s", mp_errmsg());
			o->have_rng = 1;
			break;
		case 'c':
			if (parse_long(optarg, 1, VALIDATE_MAX_CLASSES, &v))
				die_usage(usage, "invalid number of classes: %s", mp_errmsg());
			o->classes = (int)v;
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
			die_usage(usage, NULL);
		}
	}
	if (!o->have_p)
		die_usage(usage, "the probability -p P is required");
	if (argc - optind > 1)
		die_usage(usage, "at most one input stream");
	if (optind < argc)
		o->input = argv[optind];
	if (!o->have_rng)
		o->cp.rng = o->cp.mode == CORRUPT_UNIFORM ? CORRUPT_RNG_NUMPY
							  : CORRUPT_RNG_NATIVE;
	if (o->cp.rng == CORRUPT_RNG_NUMPY && o->cp.seed > UINT32_MAX)
		die_usage(usage, "invalid seed: the numpy generator takes 0..%lu",
			  (unsigned long)UINT32_MAX);
	if (o->level < 0)
		o->level = npz_level_default();
}

int main(int argc, char **argv)
{
	struct corrupt_opts o = { 0 };

	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	if (corrupt_stream(o.input, o.output, o.level, o.classes, &o.cp))
		die_lib();
	mp_close_stdout();
	return 0;
}
