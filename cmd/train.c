/*
 * train: train one of the papers' architectures (arch.h's table) on a data
 * stream, exactly as the authors did by default (PAPER.md), saving
 * checkpoints on a schedule and stopping at a target training accuracy;
 * resume bit for bit. The loop is lib/nn/train.c; this file parses options.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "arch.h"
#include "data.h"
#include "model.h"
#include "optim.h"
#include "par.h"
#include "train.h"
#include "util.h"

static const char usage[] =
	"train --arch NAME [--ckpt-dir DIR] [--eval TEST_STREAM] [--opt sgd|adam] "
	"[--lr X] [--momentum X] [--batch N] [--max-epochs N] [--until ACC] "
	"[--seed N] [--shuffle] [--threads N] [--save SCHEDULE] [--log FILE] "
	"[--resume CKPT] [--fresh-optimizer] [--classes N] [--compress N] "
	"[TRAIN_STREAM]";

struct train_cmd_opts {
	struct cli cli;         /* -z */
	struct train_opts t;
	int threads;
};

static void help(void)
{
	char *archs = arch_names();
	printf("Train an architecture on a data stream (stdin when no TRAIN_STREAM),\n"
	       "with the authors' settings unless told otherwise.\n\n"
	       "  -a, --arch NAME        %s\n"
	       "                         (may be omitted with --resume)\n"
	       "  -d, --ckpt-dir DIR     write checkpoints DIR/epoch-NNN.npz\n"
	       "  -e, --eval FILE        data stream for test accuracy after each epoch\n"
	       "      --opt sgd|adam     optimizer (the architecture's, below)\n"
	       "      --lr X             learning rate (the architecture's, below)\n"
	       "      --momentum X       SGD momentum (0.9)\n"
	       "  -b, --batch N          batch size (the architecture's, below)\n"
	       "      --max-epochs N     stop after epoch N (500)\n"
	       "      --until ACC        stop when an epoch's training accuracy on y\n"
	       "                         reaches ACC percent (the data set's, below);\n"
	       "                         `never`: train until --max-epochs\n"
	       "      --seed N           seed of the native RNG (0)\n"
	       "      --shuffle          shuffle the training set every epoch (off)\n"
	       "  -j, --threads N        threads (0: every CPU it may use)\n"
	       "      --save SCHEDULE    dynamics (0,1,2,4,...,20, then every 5), all,\n"
	       "                         or epochs like 0,5,10-20; the last epoch always\n"
	       "      --log FILE         per-epoch TSV log\n"
	       "      --resume CKPT      continue from a checkpoint\n"
	       "      --fresh-optimizer  with --resume: start a new optimizer state\n"
	       "      --classes N        number of classes (data.classes, else max label + 1)\n",
	       archs);
	free(archs);
}

/* After the shared options: the tables the defaults come from. */
static void epilog(void)
{
	printf("\nArchitectures, with the authors' optimizer, learning rate and batch size:\n");
	arch_help_defaults(stdout, 2);
	printf("\nThe authors' stopping accuracy (--until) by the data's data.name:\n");
	data_help_until(stdout, 2);
	printf("  %-14s 99.9 for 1x28x28 samples, else 100\n", "other data");
}

enum {
	OPT_OPT = 256, OPT_LR, OPT_MOMENTUM, OPT_MAX_EPOCHS, OPT_UNTIL, OPT_SEED,
	OPT_SHUFFLE, OPT_SAVE, OPT_LOG, OPT_RESUME, OPT_FRESH, OPT_CLASSES,
};

static void parse_args(int argc, char **argv, struct train_cmd_opts *o)
{
	static const struct option longopts[] = {
		{ "arch", required_argument, NULL, 'a' },
		{ "ckpt-dir", required_argument, NULL, 'd' },
		{ "eval", required_argument, NULL, 'e' },
		{ "opt", required_argument, NULL, OPT_OPT },
		{ "lr", required_argument, NULL, OPT_LR },
		{ "momentum", required_argument, NULL, OPT_MOMENTUM },
		{ "batch", required_argument, NULL, 'b' },
		{ "max-epochs", required_argument, NULL, OPT_MAX_EPOCHS },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "shuffle", no_argument, NULL, OPT_SHUFFLE },
		{ "threads", required_argument, NULL, 'j' },
		{ "save", required_argument, NULL, OPT_SAVE },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "resume", required_argument, NULL, OPT_RESUME },
		{ "fresh-optimizer", no_argument, NULL, OPT_FRESH },
		{ "classes", required_argument, NULL, OPT_CLASSES },
		{ NULL, 0, NULL, 0 },
	};
	struct cli *cli = &o->cli;
	struct train_opts *t = &o->t;
	double d;
	int c;
	while ((c = cli_getopt(cli, argc, argv, "a:d:e:b:j:", longopts)) != -1) {
		switch (c) {
		case 'a':
			t->arch = optarg;
			break;
		case 'd':
			t->ckpt_dir = optarg;
			break;
		case 'e':
			t->eval_path = optarg;
			break;
		case OPT_OPT:
			if (optim_kind_parse(optarg, &t->opt))
				cli_usage(cli, "%s", mp_errmsg());
			t->opt_set = 1;
			break;
		case OPT_LR:
			if ((d = cli_double(cli, optarg, 0, 1e6)) <= 0)
				cli_usage(cli, "invalid --lr: '%s' is not above 0", optarg);
			t->lr = d;
			break;
		case OPT_MOMENTUM:
			if ((d = cli_double(cli, optarg, 0, 1)) >= 1)
				cli_usage(cli, "invalid --momentum: '%s' is not below 1", optarg);
			t->momentum = d;
			break;
		case 'b':
			t->batch = cli_batch(cli, optarg);
			break;
		case OPT_MAX_EPOCHS:
			t->max_epochs = cli_long(cli, optarg, 0, 10000000);
			break;
		case OPT_UNTIL:
			if (!strcmp(optarg, "never")) {
				t->until = INFINITY;
				break;
			}
			t->until = cli_double(cli, optarg, 0, 100);
			break;
		case OPT_SEED:
			t->seed = cli_seed(cli, optarg);
			t->seed_set = 1;
			break;
		case OPT_SHUFFLE:
			t->shuffle = 1;
			break;
		case 'j':
			o->threads = cli_threads(cli, optarg);
			break;
		case OPT_SAVE: {
			struct save_schedule s;
			if (save_schedule_parse(&s, optarg))
				cli_usage(cli, "%s", mp_errmsg());
			save_schedule_release(&s);
			t->save = optarg;
			break;
		}
		case OPT_LOG:
			t->log_path = optarg;
			break;
		case OPT_RESUME:
			t->resume = optarg;
			break;
		case OPT_FRESH:
			t->fresh_optimizer = 1;
			break;
		case OPT_CLASSES:
			t->classes = cli_classes(cli, optarg);
			break;
		}
	}
	if (argc - optind > 1)
		cli_usage(cli, "too many operands");
	t->train_path = optind < argc ? argv[optind] : NULL;
	if (!t->arch && !t->resume)
		cli_usage(cli, "no --arch given");
	if (t->arch && !arch_find(t->arch))
		cli_usage(cli, "%s", mp_errmsg());
	if (t->fresh_optimizer && !t->resume)
		cli_usage(cli, "--fresh-optimizer needs --resume");
	if (t->train_path && t->eval_path && !strcmp(t->train_path, "-")
	    && !strcmp(t->eval_path, "-"))
		cli_usage(cli, "the training and test data cannot both be stdin");
	cli_done(cli);
	t->compress = cli->level;
}

int main(int argc, char **argv)
{
	struct train_cmd_opts o = {
		.cli = { .usage = usage, .help = help, .epilog = epilog, .help_width = 25,
			 .flags = CLI_COMPRESS | CLI_QUIET,
			 .quiet_help = "nothing on standard error but errors (no progress,\n"
				       "no line per epoch)" },
		.t = TRAIN_OPTS_INIT,
	};

	par_blas_reexec(argv);
	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	o.t.quiet = o.cli.quiet;
	par_init(o.threads);
	mp_defer_signals(1);
	if (train_run(&o.t))
		die_lib();
	mp_close_stdout();
	return 0;
}
