/*
 * mkdata: load a real data set from its original distribution files and
 * write it as a data stream (meta.txt, `y` int32, `x` float32 (N,C,H,W))
 * normalised as the authors did. The loaders live in lib/ (data.h).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "data.h"
#include "meta.h"
#include "npz.h"
#include "util.h"

static const char usage[] =
	"mkdata NAME [--split train|test] [--limit N] [--data-dir DIR] "
	"[--normalize authors|none] [--coarse] [--compress N] [-q] [-o FILE]";

struct mkdata_opts {
	struct cli cli;         /* -z, -q, -o, --force */
	struct data_opts data;
	enum data_norm norm;
};

static void help(void)
{
	printf("Write a data set as a data stream: meta.txt, y int32 (N),\n"
	       "x float32 (N,C,H,W), read from the set's original files.\n\n"
	       "NAME is one of (x as the authors normalised the raw values v):\n");
	data_help_sets(stdout, 2);
	printf("\n"
	       "  --split train|test        which split (default train)\n"
	       "  --limit N                 keep the first N samples\n"
	       "  --data-dir DIR            where the files are (default\n"
	       "                            $MEMPROBE_DATA/NAME, MEMPROBE_DATA=data);\n"
	       "                            may name the archive or CSV file itself\n"
	       "  --normalize authors|none  x as above (default authors), or the raw\n"
	       "                            values v\n"
	       "  --coarse                  cifar100: the 20 superclasses as labels\n\n"
	       "See mkdata(1) for where each set's files are looked for.\n");
}

static void parse_args(struct mkdata_opts *o, int argc, char **argv)
{
	enum { OPT_SPLIT = 256, OPT_LIMIT, OPT_DIR, OPT_NORM, OPT_COARSE };
	static const struct option longopts[] = {
		{ "split", required_argument, NULL, OPT_SPLIT },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "data-dir", required_argument, NULL, OPT_DIR },
		{ "normalize", required_argument, NULL, OPT_NORM },
		{ "coarse", no_argument, NULL, OPT_COARSE },
		{ NULL, 0, NULL, 0 },
	};
	struct cli *cli = &o->cli;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", longopts)) != -1) {
		switch (c) {
		case OPT_SPLIT:
			if (data_split_parse(optarg, &o->data.split))
				cli_usage(cli, "%s", mp_errmsg());
			break;
		case OPT_LIMIT:
			o->data.limit = (size_t)cli_long(cli, optarg, 1, LONG_MAX);
			break;
		case OPT_DIR:
			if (!*optarg)
				cli_usage(cli, "invalid --data-dir: empty path");
			o->data.dir = optarg;
			break;
		case OPT_NORM:
			if (data_norm_parse(optarg, &o->norm))
				cli_usage(cli, "%s", mp_errmsg());
			break;
		case OPT_COARSE:
			o->data.coarse = 1;
			break;
		}
	}
	if (optind == argc)
		cli_usage(cli, "which data set?");
	if (argc - optind > 1)
		cli_usage(cli, "one data set at a time ('%s' is extra)", argv[optind + 1]);
	const struct data_info *set = data_find(argv[optind]);
	if (!set)
		cli_usage(cli, "%s", mp_errmsg());
	o->data.name = set->name;
	if (o->data.coarse && strcmp(o->data.name, "cifar100"))
		cli_usage(cli, "--coarse applies to cifar100 only");
	cli_done(cli);
}

int main(int argc, char **argv)
{
	struct mkdata_opts o = {
		.cli = { .usage = usage, .help = help, .help_width = 28,
			 .flags = CLI_OUTPUT | CLI_COMPRESS | CLI_QUIET | CLI_NPZ },
		.data = DATA_OPTS_INIT, .norm = DATA_NORM_AUTHORS,
	};
	struct meta m = META_INIT;
	struct data_set d;

	mp_init(argc, argv);
	/* Before getopt_long permutes argv. */
	meta_set_argv(&m, "mkdata", argc, argv);
	parse_args(&o, argc, argv);

	if (data_load(&d, &o.data))
		die_lib();
	struct npz_writer *w = npz_writer_open(o.cli.output, o.cli.level);
	if (!w)
		die_lib();
	if (data_write(&d, w, o.norm, &m, !o.cli.quiet && mp_stderr_is_tty())) {
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
