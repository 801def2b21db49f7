/*
 * transplant: write a VeLPIC probe's vectors into a checkpoint's final
 * linear layer (bias zeroed or kept) and write the edited checkpoint.
 * lib/probe/transplant.c does the work.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "npz.h"
#include "transplant.h"
#include "util.h"

static const char usage[] =
	"transplant -m CKPT [-p PROBE] [--bias zero|keep] [--layer NAME] "
	"[--compress N] [-o FILE]";

struct transplant_cmd_opts {
	struct cli cli;          /* -z, -o, --force */
	struct transplant_opts t;
	const char *model;       /* -m */
	const char *probe;       /* -p; "-": stdin */
};

static void help(void)
{
	printf("Overwrite the final linear layer of the checkpoint CKPT (meta\n"
	       "model.final: fc5 for the MLP, fc4 for the CNN) with the vectors w\n"
	       "(C, D) of a velpic probe, read from PROBE or standard input, and\n"
	       "zero its bias (or keep it); write the edited checkpoint.\n\n"
	       "  -m, --model CKPT     the checkpoint to edit (required)\n"
	       "  -p, --probe PROBE    the velpic probe (default: standard input)\n"
	       "  -b, --bias MODE      zero (default) or keep the final layer's bias;\n"
	       "                       a layer without bias (the CNN's) is unchanged\n"
	       "  -l, --layer NAME     the layer to overwrite (default: model.final)\n");
}

static void parse_args(int argc, char **argv, struct transplant_cmd_opts *o)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "probe", required_argument, NULL, 'p' },
		{ "bias", required_argument, NULL, 'b' },
		{ "layer", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli *cli = &o->cli;
	int c;

	o->probe = "-";
	o->t.bias = TRANSPLANT_BIAS_ZERO;
	while ((c = cli_getopt(cli, argc, argv, "m:p:b:l:", longopts)) != -1) {
		switch (c) {
		case 'm':
			o->model = optarg;
			break;
		case 'p':
			o->probe = optarg;
			break;
		case 'b':
			if (transplant_bias_parse(optarg, &o->t.bias))
				cli_usage(cli, "%s", mp_errmsg());
			break;
		case 'l':
			if (!*optarg)
				cli_usage(cli, "empty layer name");
			o->t.layer = optarg;
			break;
		}
	}
	if (!o->model)
		cli_usage(cli, "the checkpoint -m CKPT is required");
	if (optind < argc)
		cli_usage(cli, "no operands: the probe is -p PROBE or standard input");
	if (!strcmp(o->model, "-") && !strcmp(o->probe, "-"))
		cli_usage(cli, "the checkpoint and the probe cannot both be standard input");
	cli_done(cli);
}

int main(int argc, char **argv)
{
	struct transplant_cmd_opts o = {
		.cli = { .usage = usage, .help = help,
			 .flags = CLI_OUTPUT | CLI_COMPRESS | CLI_NPZ },
	};
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
	if (npz_bundle_save(&ck, o.cli.output, o.cli.level))
		die_lib();
	npz_bundle_release(&ck);
	npz_bundle_release(&pr);
	mp_close_stdout();
	return 0;
}
