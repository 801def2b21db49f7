/*
 * cli.h: the command-line conventions every tool shares, in one place so
 * that the eight mains stay thin and agree: the shared options (-o/--output,
 * -z/--compress, -q/--quiet, --force, -h/--help, --version), one message
 * for an unknown option, one bound per numeric option meaning, and the
 * refusal to write an NPZ stream to a terminal (as gzip does).
 *
 * A tool describes itself in a struct cli and reads its own options with
 * cli_getopt(), which answers the shared ones itself and returns only the
 * tool's:
 *
 *   static struct cli cli = { .usage = usage, .help = help,
 *                             .flags = CLI_OUTPUT | CLI_COMPRESS | CLI_NPZ };
 *   while ((c = cli_getopt(&cli, argc, argv, "p:", longopts)) != -1)
 *           switch (c) {
 *           case 'p': o->p = cli_double(&cli, optarg, 0, 1); break;
 *           }
 *   ... operands ...
 *   cli_done(&cli);          (the --compress default, the terminal check)
 *   ... cli.output, cli.level, cli.quiet ...
 *
 * Usage errors go through die_usage() (util.h): "TOOL: message", the usage
 * line, exit 2, nothing on standard output. The messages:
 *
 *   TOOL: unknown option '--bogus'
 *   TOOL: ambiguous option '--c'
 *   TOOL: option '--classes' needs an argument
 *   TOOL: option '--quiet' takes no argument
 *   TOOL: invalid --classes: '0' is out of range [1, 1000000]
 *   TOOL: refusing to write an NPZ stream to a terminal (use -o FILE, or
 *         -o - or --force to write it anyway)
 *
 * The probe tools (masc, velpic) share more: the commands fit and predict,
 * their options and their meta.txt keys (struct cli_probe, below).
 */
#ifndef MEMPROBE_CLI_H
#define MEMPROBE_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "meta.h"
#include "probe.h"
#include "util.h"

/* The shared options a tool takes (struct cli.flags). -h/--help and
 * --version every tool takes. */
enum {
	CLI_OUTPUT = 1 << 0,    /* -o, --output FILE ("-": standard output) */
	CLI_COMPRESS = 1 << 1,  /* -z, --compress N (default NPZ_LEVEL_DEFAULT) */
	CLI_STORE = 1 << 2,     /* with CLI_COMPRESS: the default is 0 (store)
				   unless MEMPROBE_COMPRESS says otherwise */
	CLI_QUIET = 1 << 3,     /* -q, --quiet */
	CLI_NPZ = 1 << 4,       /* the output is an NPZ stream: --force, and
				   cli_done() refuses a terminal */
};

/* getopt's tables: the tool's options and the shared ones. */
#define CLI_MAX_OPTS 40

struct cli {
	/* Set by the tool. */
	const char *usage;      /* the usage line(s), the man page's SYNOPSIS */
	void (*help)(void);     /* --help's text between the usage line and
				   the shared options (printf to stdout) */
	unsigned flags;         /* CLI_* */
	const char *quiet_help; /* -q's line in --help; NULL: "no progress on
				   standard error" */
	int help_width;         /* column of the help's descriptions; 0: 23 */
	void (*epilog)(void);   /* --help's text after the shared options
	                         * (tables of names and defaults), or NULL */

	/* The shared options, once cli_getopt() returned -1 and cli_done()
	 * ran. */
	const char *output;     /* -o FILE; NULL: standard output (-o - too) */
	int level;              /* -z N, else the default */
	int quiet;              /* -q */
	int force;              /* --force */

	/* Private. */
	int built, level_set, output_set;
	const char *optname;    /* the option being parsed: "--classes" */
	char optbuf[64];
	struct option longopts[CLI_MAX_OPTS];
	char shortopts[2 * CLI_MAX_OPTS];
};

/* getopt_long(3) over the tool's options `shortopts` and `longopts` (which
 * must not hold the shared ones) plus the shared options c->flags asks
 * for. Returns the tool's next option (its short letter or long value,
 * optarg as getopt sets it), or -1 after the last option (optind is the
 * first operand). The shared options are answered here: -h and --version
 * print and exit 0; an unknown option, a missing argument or a bad -z is
 * a usage error. */
int cli_getopt(struct cli *c, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* After the options and operands: the --compress default (MEMPROBE_COMPRESS,
 * else NPZ_LEVEL_DEFAULT, or 0 with CLI_STORE) and, with CLI_NPZ, the
 * refusal (exit 2) to write a stream to standard output when it is a
 * terminal, unless -o - or --force said so. */
void cli_done(struct cli *c);

/* Checked numbers for the tool's options: the whole of arg, in [min, max];
 * else a usage error "invalid --NAME: ..." naming the option being parsed. */
long cli_long(const struct cli *c, const char *arg, long min, long max);
double cli_double(const struct cli *c, const char *arg, double min, double max);

/* The options that mean the same in every tool, with one bound each: */
/* a number of classes, [1, VALIDATE_MAX_CLASSES] (what the stream readers
 * accept in data.classes and model.classes) */
int cli_classes(const struct cli *c, const char *arg);
/* threads, [0, 256] (0: all CPUs) */
int cli_threads(const struct cli *c, const char *arg);
/* samples per batch, [1, 2^20] */
int cli_batch(const struct cli *c, const char *arg);
/* a generator's seed, [0, 2^63 - 1] */
uint64_t cli_seed(const struct cli *c, const char *arg);

/* die_usage(c->usage, ...): "TOOL: message", the usage, exit 2. */
noreturn void cli_usage(const struct cli *c, const char *fmt, ...) MP_PRINTF(2, 3);

/* --help: the usage, c->help(), the shared options; exit 0. */
noreturn void cli_help(const struct cli *c);
/* --version: "TOOL (memprobe) VERSION" (git describe at build time, else
 * the Makefile's VERSION); exit 0. */
noreturn void cli_version(void);
/* The version alone ("0.3.0-12-gabcdef0"). */
const char *cli_version_string(void);

/* ---- the probe tools ---- */

/* `TOOL fit [OPTIONS] [STREAM]`, `TOOL predict -m PROBE [OPTIONS] [STREAM]`
 * and the tool's own commands that read a probe (`masc quadratic`).
 * Shared: -l/--labels y|y_true, --method, -q (fit), -m/--probe (the other
 * commands), -z, -o, --force, -h, --version. */
enum { CLI_PROBE_FIT, CLI_PROBE_PREDICT };

struct cli_probe {
	/* Set by the tool. */
	struct cli cli;                 /* usage, help, quiet_help */
	const char *name;               /* "masc": meta keys masc.argv, ... */
	const char *const *commands;    /* "fit", "predict", then the tool's
					   own; NULL-terminated */
	unsigned streamless;            /* bit i: command i reads no STREAM */
	struct probe_fit_opts fit;      /* fit's defaults */
	/* The tool's options of its own (NULL: none): return 1 if the option
	 * is for fit only, 0 if not; a usage error dies in it. */
	int (*own)(struct cli_probe *p, int opt, const char *arg);

	/* The command line, once cli_probe_parse() returned. */
	int cmd;                        /* index in commands: CLI_PROBE_FIT, ... */
	const char *probe;              /* -m PROBE (not fit) */
	const char *input;              /* STREAM; NULL: standard input */
	char fit_only[64];              /* the first fit option given, or "" */
};

/* Parse `TOOL COMMAND [OPTIONS] [OPERANDS]` (argv[1] is the command; -h
 * and --version also stand there). The tool's own options are shortopts
 * and longopts, handed to p->own. Checks what every probe tool checks:
 * fit options only with fit, -m with every other command, at most one
 * STREAM (none for a streamless command), not the probe and the stream
 * both from standard input; then cli_done(). Fit shows its progress
 * unless -q (p->fit.progress). */
void cli_probe_parse(struct cli_probe *p, int argc, char **argv, const char *shortopts,
		     const struct option *longopts);

/* Run p->cmd, fit or predict, through the probe registry (probes.h):
 * the probe called p->name fits p->input (its warnings, unless -q its
 * summary, the key NAME.argv added) or predicts it with the probe -m
 * (the probe's keys and NAME.predict.argv added); dies on failure. */
void cli_probe_run(const struct cli_probe *p, int argc, char **argv);

/* The meta.txt keys added to what is made from a probe (predictions, masc's
 * quadratic matrices): the probe's own keys (probe, probe.*, NAME.*),
 * then NAME.COMMAND.argv. */
void cli_probe_meta(const struct cli_probe *p, struct meta *add,
		    const struct meta *probe_meta, int argc, char **argv);

#endif
