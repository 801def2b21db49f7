/*
 * mkdata: load a real data set from its original distribution files and
 * write it as a data stream (meta.txt, `y` int32, `x` float32 (N,C,H,W))
 * normalised as the authors did. The loaders live in lib/ (data.h).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "meta.h"
#include "npz.h"
#include "util.h"

static const char usage[] =
	"mkdata NAME [--split train|test] [--limit N] [--data-dir DIR] "
	"[--normalize authors|none] [--coarse] [--compress N] [-o FILE]";

struct mkdata_opts {
	struct data_opts data;
	enum data_norm norm;
	int level;
	const char *output;     /* NULL: stdout */
};

static void help(void)
{
	printf("usage: %s\n\n"
	       "Write a data set as a data stream: meta.txt, y int32 (N),\n"
	       "x float32 (N,C,H,W), read from the set's original files.\n\n"
	       "NAME is one of (x as the authors normalised the raw values v):\n",
	       usage);
	data_help_sets(stdout, 2);
	printf("\n"
	       "  --split train|test        which split (default train)\n"
	       "  --limit N                 keep the first N samples\n"
	       "  --data-dir DIR            where the files are (default\n"
	       "                            $MEMPROBE_DATA/NAME, MEMPROBE_DATA=data);\n"
	       "                            may name the archive or CSV file itself\n"
	       "  --normalize authors|none  x as above (default authors), or the raw\n"
	       "                            values v\n"
	       "  --coarse                  cifar100: the 20 superclasses as labels\n"
	       "  --compress N              0 store, 1..9 deflate level (default %d)\n"
	       "  -o, --output FILE         write FILE instead of standard output\n"
	       "  -h, --help                this help\n\n"
	       "See mkdata(1) for where each set's files are looked for.\n",
	       npz_level_default());
}

static void parse_args(struct mkdata_opts *o, int argc, char **argv)
{
	enum { OPT_SPLIT = 256, OPT_LIMIT, OPT_DIR, OPT_NORM, OPT_COARSE, OPT_COMPRESS };
	static const struct option longopts[] = {
		{ "split", required_argument, NULL, OPT_SPLIT },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "data-dir", required_argument, NULL, OPT_DIR },
		{ "normalize", required_argument, NULL, OPT_NORM },
		{ "coarse", no_argument, NULL, OPT_COARSE },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	o->level = npz_level_default();
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SPLIT:
			if (data_split_parse(optarg, &o->data.split))
				die_usage(usage, "%s", mp_errmsg());
			break;
		case OPT_LIMIT:
			if (parse_long(optarg, 1, LONG_MAX, &v))
				die_usage(usage, "--limit: %s", mp_errmsg());
			o->data.limit = (size_t)v;
			break;
		case OPT_DIR:
			if (!*optarg)
				die_usage(usage, "--data-dir: empty path");
			o->data.dir = optarg;
			break;
		case OPT_NORM:
			if (data_norm_parse(optarg, &o->norm))
				die_usage(usage, "%s", mp_errmsg());
			break;
		case OPT_COARSE:
			o->data.coarse = 1;
			break;
		case OPT_COMPRESS:
			if (npz_level_parse(optarg, &o->level))
				die_usage(usage, "--compress: %s", mp_errmsg());
			break;
		case 'o':
			if (!*optarg)
				die_usage(usage, "-o: empty path");
			o->output = strcmp(optarg, "-") ? optarg : NULL;
			break;
		case 'h':
			help();
			mp_close_stdout();
			exit(0);
		case ':':
			die_usage(usage, "option '%s' needs an argument", argv[optind - 1]);
		default:
			die_usage(usage, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		die_usage(usage, "which data set?");
	if (argc - optind > 1)
		die_usage(usage, "one data set at a time ('%s' is extra)", argv[optind + 1]);
	const struct data_info *set = data_find(argv[optind]);
	if (!set)
		die_usage(usage, "%s", mp_errmsg());
	o->data.name = set->name;
	if (o->data.coarse && strcmp(o->data.name, "cifar100"))
		die_usage(usage, "--coarse applies to cifar100 only");
}

int main(int argc, char **argv)
{
	struct mkdata_opts o = { DATA_OPTS_INIT, DATA_NORM_AUTHORS, 0, NULL };
	struct meta m = META_INIT;
	struct data_set d;

	mp_init(argc, argv);
	/* Before getopt_long permutes argv. */
	meta_set_argv(&m, "mkdata", argc, argv);
	parse_args(&o, argc, argv);

	if (data_load(&d, &o.data))
		die_lib();
	struct npz_writer *w = npz_writer_open(o.output, o.level);
	if (!w)
		die_lib();
	if (data_write(&d, w, o.norm, &m, mp_stderr_is_tty())) {
		npz_writer_abort(w);
		die_lib();
	}
	if (npz_writer_close(w))
		die_lib();
	data_release(&d);
	meta_release(&m);
	mp_close_stdout();
	return 0;
}
