/*
 * cli.c: the command-line layer every tool shares (cli.h): getopt over a
 * tool's options plus the shared ones, the one policy for unknown options
 * and bad numbers, --help and --version, the refusal to write a binary
 * stream to a terminal, and the scaffolding of the probe tools.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npz.h"
#include "probes.h"
#include "util.h"
#include "validate.h"

/* From the Makefile, for this file only: a new version rebuilds nothing
 * else. A build without it (the fuzzing build) says so. */
#ifndef MEMPROBE_VERSION
#define MEMPROBE_VERSION "unknown"
#endif

/* Long-only shared options, above any tool's own values. */
enum { CLI_OPT_VERSION = 0x10000, CLI_OPT_FORCE, CLI_OPT_METHOD };

static const struct option shared_longopts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "compress", required_argument, NULL, 'z' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "force", no_argument, NULL, CLI_OPT_FORCE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
};

/* Which flag each shared option needs (0: every tool). */
static unsigned shared_flag(int val)
{
	switch (val) {
	case 'o': return CLI_OUTPUT;
	case 'z': return CLI_COMPRESS;
	case 'q': return CLI_QUIET;
	case CLI_OPT_FORCE: return CLI_NPZ;
	default: return 0;
	}
}

static const struct option *find_val(const struct cli *c, int val)
{
	for (const struct option *o = c->longopts; o->name; o++)
		if (o->val == val)
			return o;
	return NULL;
}

/* Append options to getopt's tables; the leading ':' of shortopts makes a
 * missing argument return ':' rather than '?'. */
static void table_add(struct cli *c, const char *shortopts, const struct option *longopts)
{
	size_t ns = strlen(c->shortopts), nl = 0;
	if (!ns)
		c->shortopts[ns++] = ':';
	for (const char *s = shortopts ? shortopts : ""; *s; s++) {
		MP_ASSERT(*s == ':' || !strchr(c->shortopts + 1, *s));
		MP_ASSERT(ns + 1 < sizeof c->shortopts);
		c->shortopts[ns++] = *s;
	}
	c->shortopts[ns] = '\0';
	while (c->longopts[nl].name)
		nl++;
	for (const struct option *o = longopts; o && o->name; o++) {
		for (size_t i = 0; i < nl; i++)
			MP_ASSERT(strcmp(c->longopts[i].name, o->name) && c->longopts[i].val != o->val);
		MP_ASSERT(nl + 1 < CLI_MAX_OPTS);
		c->longopts[nl++] = *o;
	}
	c->longopts[nl] = (struct option){ 0 };
}

static void table_add_shared(struct cli *c)
{
	struct option l[sizeof shared_longopts / sizeof shared_longopts[0] + 1];
	char s[16], *p = s;
	size_t n = 0;
	for (size_t i = 0; i < sizeof shared_longopts / sizeof shared_longopts[0]; i++) {
		const struct option *o = &shared_longopts[i];
		unsigned need = shared_flag(o->val);
		if (need && !(c->flags & need))
			continue;
		l[n++] = *o;
		if (o->val < 256) {
			*p++ = (char)o->val;
			if (o->has_arg == required_argument)
				*p++ = ':';
		}
	}
	*p = '\0';
	l[n] = (struct option){ 0 };
	table_add(c, s, l);
}

/* The name of the option getopt returned, for messages: its long name
 * when it has one. */
static void set_optname(struct cli *c, int val)
{
	const struct option *o = find_val(c, val);
	if (o)
		snprintf(c->optbuf, sizeof c->optbuf, "--%s", o->name);
	else
		snprintf(c->optbuf, sizeof c->optbuf, "-%c", val);
	c->optname = c->optbuf;
}

/* '?' from getopt_long: an unknown or ambiguous option, or an argument
 * given to one that takes none. */
static noreturn void bad_option(const struct cli *c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (optopt) {
		const struct option *o = find_val(c, optopt);
		if (o && !strncmp(arg, "--", 2))
			cli_usage(c, "option '--%s' takes no argument", o->name);
		cli_usage(c, "unknown option '-%c'", optopt);
	}
	size_t len = strcspn(arg, "=");
	int matches = 0;
	for (const struct option *o = c->longopts; o->name; o++)
		matches += len > 2 && !strncmp(o->name, arg + 2, len - 2);
	cli_usage(c, "%s option '%.*s'", matches > 1 ? "ambiguous" : "unknown",
		  (int)len, arg);
}

/* ':' from getopt_long: the option as typed when it was long. */
static noreturn void missing_arg(const struct cli *c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (!strncmp(arg, "--", 2))
		cli_usage(c, "option '%s' needs an argument", arg);
	cli_usage(c, "option '-%c' needs an argument", optopt);
}

/* Answer a shared option; 0 if opt is the tool's own. */
static int shared_option(struct cli *c, int opt, const char *arg)
{
	if (opt == 'h')
		cli_help(c);
	if (opt == CLI_OPT_VERSION)
		cli_version();
	if (opt == 'q' || opt == CLI_OPT_FORCE) {
		*(opt == 'q' ? &c->quiet : &c->force) = 1;
	} else if (opt == 'z') {
		if (npz_level_parse(arg, &c->level))
			cli_usage(c, "invalid --compress: %s", mp_errmsg());
		c->level_set = 1;
	} else if (opt == 'o') {
		if (!*arg)
			cli_usage(c, "invalid --output: empty path");
		c->output = strcmp(arg, "-") ? arg : NULL;
		c->output_set = 1;
	} else {
		return 0;
	}
	return 1;
}

int cli_getopt(struct cli *c, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	int opt;
	if (!c->built) {
		table_add(c, shortopts, longopts);
		table_add_shared(c);
		c->built = 1;
		opterr = 0;
	}
	while ((opt = getopt_long(argc, argv, c->shortopts, c->longopts, NULL)) != -1) {
		if (opt == '?')
			bad_option(c, argv);
		if (opt == ':')
			missing_arg(c, argv);
		set_optname(c, opt);
		if (!shared_option(c, opt, optarg))
			return opt;
	}
	return -1;
}

void cli_done(struct cli *c)
{
	if ((c->flags & CLI_COMPRESS) && !c->level_set)
		c->level = (c->flags & CLI_STORE) && !getenv("MEMPROBE_COMPRESS")
			   ? 0 : npz_level_default();
	if ((c->flags & CLI_NPZ) && !c->output && !c->output_set && !c->force &&
	    isatty(STDOUT_FILENO))
		cli_usage(c, "refusing to write an NPZ stream to a terminal (use -o FILE, "
			  "or -o - or --force to write it anyway)");
}

long cli_long(const struct cli *c, const char *arg, long min, long max)
{
	long v;
	if (parse_long(arg, min, max, &v))
		cli_usage(c, "invalid %s: %s", c->optname, mp_errmsg());
	return v;
}

double cli_double(const struct cli *c, const char *arg, double min, double max)
{
	double v;
	if (parse_double(arg, min, max, &v))
		cli_usage(c, "invalid %s: %s", c->optname, mp_errmsg());
	return v;
}

int cli_classes(const struct cli *c, const char *arg)
{
	return (int)cli_long(c, arg, 1, VALIDATE_MAX_CLASSES);
}

int cli_threads(const struct cli *c, const char *arg)
{
	return (int)cli_long(c, arg, 0, 256);
}

int cli_batch(const struct cli *c, const char *arg)
{
	return (int)cli_long(c, arg, 1, 1L << 20);
}

uint64_t cli_seed(const struct cli *c, const char *arg)
{
	return (uint64_t)cli_long(c, arg, 0, INT64_MAX);
}

void cli_usage(const struct cli *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	die_usage(c->usage, "%s", msg);
}

/* One option of --help: the option, then its text from column `width`;
 * a '\n' in the text continues at that column. */
static void help_opt(int width, const char *opt, const char *fmt, ...) MP_PRINTF(3, 4);
static void help_opt(int width, const char *opt, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	int pad = width - 2 - (int)strlen(opt);
	printf("  %s%*s", opt, pad > 1 ? pad : 1, "");
	for (const char *s = text; *s; s++) {
		putchar(*s);
		if (*s == '\n')
			printf("%*s", width, "");
	}
	putchar('\n');
}

void cli_help(const struct cli *c)
{
	int w = c->help_width ? c->help_width : 23;
	printf("usage: %s\n\n", c->usage);
	if (c->help)
		c->help();
	if (c->flags & CLI_QUIET)
		help_opt(w, "-q, --quiet", "%s",
			 c->quiet_help ? c->quiet_help : "no progress on standard error");
	if (c->flags & CLI_COMPRESS)
		help_opt(w, "-z, --compress N", "deflate level 0..9 of the output (0 = store;\n"
			 "default %d, or MEMPROBE_COMPRESS)",
			 c->flags & CLI_STORE ? 0 : NPZ_LEVEL_DEFAULT);
	if (c->flags & CLI_OUTPUT)
		help_opt(w, "-o, --output FILE", "write FILE instead of standard output\n"
			 "(-: standard output)");
	if (c->flags & CLI_NPZ)
		help_opt(w, "    --force", "write the stream even to a terminal");
	help_opt(w, "-h, --help", "this help");
	help_opt(w, "    --version", "the version of memprobe");
	if (c->epilog)
		c->epilog();
	mp_close_stdout();
	exit(0);
}

const char *cli_version_string(void)
{
	return MEMPROBE_VERSION;
}

void cli_version(void)
{
	printf("%s (memprobe) %s\n", mp_progname, cli_version_string());
	mp_close_stdout();
	exit(0);
}

/* ---- the probe tools ---- */

static const struct option probe_longopts[] = {
	{ "labels", required_argument, NULL, 'l' },
	{ "method", required_argument, NULL, CLI_OPT_METHOD },
	{ "probe", required_argument, NULL, 'm' },
	{ NULL, 0, NULL, 0 },
};

/* "a or b", "a, b or c": the commands from index `from` on. */
static char *commands_list(const struct cli_probe *p, int from)
{
	char *s = xstrdup("");
	for (int i = from; p->commands[i]; i++) {
		const char *sep = i == from ? "" : p->commands[i + 1] ? ", " : " or ";
		char *t = xasprintf("%s%s%s", s, sep, p->commands[i]);
		free(s);
		s = t;
	}
	return s;
}

static void probe_command(struct cli_probe *p, int argc, char **argv)
{
	struct cli *c = &p->cli;
	if (argc < 2)
		die_usage(c->usage, NULL);
	for (p->cmd = 0; p->commands[p->cmd]; p->cmd++)
		if (!strcmp(argv[1], p->commands[p->cmd]))
			return;
	/* An option before the command: -h, --version, or an error that
	 * names it as any tool would. */
	if (argv[1][0] == '-' && argv[1][1]) {
		while (cli_getopt(c, 2, argv, NULL, NULL) != -1)
			;
		cli_usage(c, "the command comes first (%s)", commands_list(p, 0));
	}
	cli_usage(c, "unknown command '%s' (%s)", argv[1], commands_list(p, 0));
}

static void probe_option(struct cli_probe *p, int opt, const char *arg)
{
	struct cli *c = &p->cli;
	int fit_only = 1;
	switch (opt) {
	case 'l':
		if (strcmp(arg, "y") && strcmp(arg, "y_true"))
			cli_usage(c, "invalid labels '%s' (y or y_true)", arg);
		p->fit.labels = arg;
		break;
	case CLI_OPT_METHOD:
		if (probe_method_parse(arg, &p->fit.method))
			cli_usage(c, "%s", mp_errmsg());
		break;
	case 'm':
		p->probe = arg;
		fit_only = 0;
		break;
	default:
		fit_only = p->own(p, opt, arg);
	}
	if (fit_only && !*p->fit_only)
		snprintf(p->fit_only, sizeof p->fit_only, "%s", c->optname);
}

void cli_probe_parse(struct cli_probe *p, int argc, char **argv, const char *shortopts,
		     const struct option *longopts)
{
	struct cli *c = &p->cli;
	int opt;

	c->flags |= CLI_OUTPUT | CLI_COMPRESS | CLI_QUIET | CLI_NPZ;
	table_add(c, "l:m:", probe_longopts);
	table_add(c, shortopts, longopts);
	probe_command(p, argc, argv);
	/* The command is argv[0] of the options. */
	argc--;
	argv++;
	while ((opt = cli_getopt(c, argc, argv, NULL, NULL)) != -1)
		probe_option(p, opt, optarg);
	if (c->quiet && !*p->fit_only)
		snprintf(p->fit_only, sizeof p->fit_only, "-q");
	if (p->cmd != CLI_PROBE_FIT) {
		if (*p->fit_only)
			cli_usage(c, "%s is for fit", p->fit_only);
		if (!p->probe)
			cli_usage(c, "the probe -m PROBE is required");
	} else if (p->probe) {
		cli_usage(c, "-m is for %s", commands_list(p, CLI_PROBE_PREDICT));
	}
	int streamless = (p->streamless >> p->cmd) & 1;
	if (streamless && optind < argc)
		cli_usage(c, "%s reads no stream", p->commands[p->cmd]);
	if (argc - optind > 1)
		cli_usage(c, "at most one input stream");
	if (optind < argc)
		p->input = argv[optind];
	if (p->cmd != CLI_PROBE_FIT && !streamless && !strcmp(p->probe, "-") &&
	    (!p->input || !strcmp(p->input, "-")))
		cli_usage(c, "the probe and the stream cannot both be standard input");
	p->fit.progress = !c->quiet;
	cli_done(c);
}

void cli_probe_run(const struct cli_probe *p, int argc, char **argv)
{
	const struct probe_kind *k = probe_find(p->name);
	struct meta add = META_INIT;
	if (!k)
		die_lib();
	struct probe_run r = { p->input, p->cli.output, p->cli.level, p->probe, p->fit,
			       p->cli.quiet, &add };
	int rc;
	if (p->cmd == CLI_PROBE_FIT) {
		meta_set_argv(&add, p->name, argc, argv);
		rc = k->fit(&r);
	} else {
		char *tool = xasprintf("%s.%s", p->name, p->commands[p->cmd]);
		meta_set_argv(&add, tool, argc, argv);
		free(tool);
		rc = probe_kind_predict(k, &r);
	}
	if (rc)
		die_lib();
	meta_release(&add);
}

void cli_probe_meta(const struct cli_probe *p, struct meta *add,
		    const struct meta *probe_meta, int argc, char **argv)
{
	probe_kind_keys(add, probe_meta, p->name);
	char *tool = xasprintf("%s.%s", p->name, p->commands[p->cmd]);
	meta_set_argv(add, tool, argc, argv);
	free(tool);
}
