/*
 * transplant: write a VeLPIC probe's vectors into a checkpoint's final
 * linear layer (bias zeroed or kept) and write the edited checkpoint.
 * lib/transplant.c does the work.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npz.h"
#include "transplant.h"
#include "util.h"

static const char usage[] =
	"transplant -m CKPT [-p PROBE] [--bias zero|keep] [--layer NAME] "
	"[--compress N] [-o FILE]";

struct transplant_cmd_opts {
	struct transplant_opts t;
	const char *model;       /* -m */
	const char *probe;       /* -p; "-": stdin */
	int level;
	const char *output;      /* NULL: stdout */
};

static void help(void)
{
	printf("usage: %s\n\n"
	       "Overwrite the final linear layer of the checkpoint CKPT (meta\n"
	       "model.final: fc5 for the MLP, fc4 for the CNN) with the vectors w\n"
	       "(C, D) of a velpic probe, read from PROBE or standard input, and\n"
	       "zero its bias (or keep it); write the edited checkpoint.\n\n"
	       "  -m, --model CKPT     the checkpoint to edit (required)\n"
	       "  -p, --probe PROBE    the velpic probe (default: standard input)\n"
	       "  -b, --bias MODE      zero (default) or keep the final layer's bias;\n"
	       "                       a layer without bias (the CNN's) is unchanged\n"
	       "  -l, --layer NAME     the layer to overwrite (default: model.final)\n"
	       "  -z, --compress N     deflate level 0..9 of the output (0 = store;\n"
	       "                       default %d, or MEMPROBE_COMPRESS)\n"
	       "  -o, --output FILE    write FILE instead of standard output\n"
	       "  -h, --help           this help\n",
	       usage, NPZ_LEVEL_DEFAULT);
}

static void parse_args(int argc, char **argv, struct transplant_cmd_opts *o)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "probe", required_argument, NULL, 'p' },
		{ "bias", required_argument, NULL, 'b' },
		{ "layer", required_argument, NULL, 'l' },
		{ "compress", required_argument, NULL, 'z' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->level = -1;
	o->probe = "-";
	o->t.bias = TRANSPLANT_BIAS_ZERO;
	while ((c = getopt_long(argc, argv, "m:p:b:l:z:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->model = optarg;
			break;
		case 'p':
			o->probe = optarg;
			break;
		case 'b':
			if (transplant_bias_parse(optarg, &o->t.bias))
				die_usage(usage, "%s", mp_errmsg());
			break;
		case 'l':
			if (!*optarg)
				die_usage(usage, "empty layer name");
			o->t.layer = optarg;
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
	if (!o->model)
		die_usage(usage, "the checkpoint -m CKPT is required");
	if (optind < argc)
		die_usage(usage, "no operands: the probe is -p PROBE or standard input");
	if (!strcmp(o->model, "-") && !strcmp(o->probe, "-"))
		die_usage(usage, "the checkpoint and the probe cannot both be standard input");
	if (o->level < 0)
		o->level = npz_level_default();
}

int main(int argc, char **argv)
{
	struct transplant_cmd_opts o = { 0 };
	struct npz_bundle ck, pr;

	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	const char *mname = strcmp(o.model, "-") ? o.model : "standard input";
	const char *pname = strcmp(o.probe, "-") ? o.probe : "standard input";
	if (npz_bundle_load(&pr, o.probe))
		die_lib();
	if (npz_bundle_load(&ck, o.model))
		die_lib();
	if (transplant_apply(&ck, &pr, &o.t, mname, pname))
		die_lib();
	meta_set_argv(&ck.meta, "transplant", argc, argv);
	if (npz_bundle_save(&ck, o.output, o.level))
		die_lib();
	npz_bundle_release(&ck);
	npz_bundle_release(&pr);
	mp_close_stdout();
	return 0;
}
