/*
 * train: train one of the papers' architectures (arch.h's table) on a data
 * stream, exactly as the authors did by default (PAPER.md), saving
 * checkpoints on a schedule and stopping at a target training accuracy;
 * resume bit for bit. The loop is lib/train.c; this file parses options.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "data.h"
#include "model.h"
#include "npz.h"
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
	struct train_opts t;
	int threads;
};

static void help(void)
{
	char *archs = arch_names();
	printf("usage: %s\n\n"
	       "Train an architecture on a data stream (stdin when no TRAIN_STREAM),\n"
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
	       "  -j, --threads N        threads (0: all CPUs)\n"
	       "      --save SCHEDULE    dynamics (0,1,2,4,...,20, then every 5), all,\n"
	       "                         or epochs like 0,5,10-20; the last epoch always\n"
	       "      --log FILE         per-epoch TSV log\n"
	       "      --resume CKPT      continue from a checkpoint\n"
	       "      --fresh-optimizer  with --resume: start a new optimizer state\n"
	       "      --classes N        number of classes (data.classes, else max label + 1)\n"
	       "      --compress N       deflate level of checkpoints, 0-9 (%d)\n"
	       "  -h, --help             this help\n\n"
	       "Architectures, with the authors' optimizer, learning rate and batch size:\n",
	       usage, archs, npz_level_default());
	arch_help_defaults(stdout, 2);
	printf("\nThe authors' stopping accuracy (--until) by the data's data.name:\n");
	data_help_until(stdout, 2);
	printf("  %-14s 99.9 for 1x28x28 samples, else 100\n", "other data");
	free(archs);
}

enum {
	OPT_OPT = 256, OPT_LR, OPT_MOMENTUM, OPT_MAX_EPOCHS, OPT_UNTIL, OPT_SEED,
	OPT_SHUFFLE, OPT_SAVE, OPT_LOG, OPT_RESUME, OPT_FRESH, OPT_CLASSES,
	OPT_COMPRESS,
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
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct train_opts *t = &o->t;
	long v;
	double d;
	int c;
	while ((c = getopt_long(argc, argv, "a:d:e:b:j:h", longopts, NULL)) != -1) {
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
				die_usage(usage, "%s", mp_errmsg());
			t->opt_set = 1;
			break;
		case OPT_LR:
			if (parse_double(optarg, 0, 1e6, &d) || d <= 0)
				die_usage(usage, "invalid --lr '%s'", optarg);
			t->lr = d;
			break;
		case OPT_MOMENTUM:
			if (parse_double(optarg, 0, 1, &d) || d >= 1)
				die_usage(usage, "invalid --momentum '%s' (0 <= m < 1)", optarg);
			t->momentum = d;
			break;
		case 'b':
			if (parse_long(optarg, 1, 1 << 20, &v))
				die_usage(usage, "invalid --batch: %s", mp_errmsg());
			t->batch = (int)v;
			break;
		case OPT_MAX_EPOCHS:
			if (parse_long(optarg, 0, 10000000, &v))
				die_usage(usage, "invalid --max-epochs: %s", mp_errmsg());
			t->max_epochs = v;
			break;
		case OPT_UNTIL:
			if (!strcmp(optarg, "never")) {
				t->until = INFINITY;
				break;
			}
			if (parse_double(optarg, 0, 100, &d))
				die_usage(usage, "invalid --until: %s (a percentage)", mp_errmsg());
			t->until = d;
			break;
		case OPT_SEED:
			if (parse_long(optarg, 0, INT64_MAX, &v))
				die_usage(usage, "invalid --seed: %s", mp_errmsg());
			t->seed = (uint64_t)v;
			t->seed_set = 1;
			break;
		case OPT_SHUFFLE:
			t->shuffle = 1;
			break;
		case 'j':
			if (parse_long(optarg, 0, 256, &v))
				die_usage(usage, "invalid --threads: %s", mp_errmsg());
			o->threads = (int)v;
			break;
		case OPT_SAVE: {
			struct save_schedule s;
			if (save_schedule_parse(&s, optarg))
				die_usage(usage, "%s", mp_errmsg());
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
			if (parse_long(optarg, 2, 1000000, &v))
				die_usage(usage, "invalid --classes: %s", mp_errmsg());
			t->classes = (int)v;
			break;
		case OPT_COMPRESS:
			if (npz_level_parse(optarg, &t->compress))
				die_usage(usage, "invalid --compress: %s", mp_errmsg());
			break;
		case 'h':
			help();
			mp_close_stdout();
			exit(0);
		default:
			die_usage(usage, NULL);
		}
	}
	if (argc - optind > 1)
		die_usage(usage, "too many operands");
	t->train_path = optind < argc ? argv[optind] : NULL;
	if (!t->arch && !t->resume)
		die_usage(usage, "no --arch given");
	if (t->arch && !arch_find(t->arch))
		die_usage(usage, "%s", mp_errmsg());
	if (t->fresh_optimizer && !t->resume)
		die_usage(usage, "--fresh-optimizer needs --resume");
	if (t->train_path && t->eval_path && !strcmp(t->train_path, "-")
	    && !strcmp(t->eval_path, "-"))
		die_usage(usage, "the training and test data cannot both be stdin");
}

int main(int argc, char **argv)
{
	struct train_cmd_opts o = { .t = TRAIN_OPTS_INIT };

	par_blas_reexec(argv);
	mp_init(argc, argv);
	o.t.compress = npz_level_default();
	parse_args(argc, argv, &o);
	par_init(o.threads);
	mp_defer_signals(1);
	if (train_run(&o.t))
		die_lib();
	mp_close_stdout();
	return 0;
}
