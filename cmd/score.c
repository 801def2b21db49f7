/*
 * score: accuracy of prediction streams as TSV, one row per input, with
 * user tags as leading columns so that rows from many runs can be
 * concatenated and read by header name. Every input is scored before
 * anything is printed: a failure prints nothing on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "score.h"
#include "util.h"

static const char usage[] =
	"score [--tag KEY=VALUE ...] [--no-header] [-o FILE] [FILE ...]";

struct score_opts {
	struct cli cli;          /* -o */
	char **tag_keys;         /* (ntags) */
	char **tag_vals;         /* (ntags) */
	size_t ntags;
	int no_header;
	char **inputs;           /* (ninputs); none: stdin */
	int ninputs;
};

static void help(void)
{
	printf("Print the accuracy of each prediction stream (stdin when no FILE)\n"
	       "as a TSV row: the tags, then file, n, acc (against y_true, else y),\n"
	       "acc_y, acc_y_true, acc_flipped, acc_kept, n_flipped (NA where\n"
	       "undefined).\n\n"
	       "  -t, --tag KEY=VALUE  add a leading column KEY with VALUE on every row\n"
	       "                       (repeatable; columns in the order given)\n"
	       "  -H, --no-header      omit the header line (for appending rows)\n");
}

static int has_bad_char(const char *s)
{
	return strpbrk(s, "\t\n\r") != NULL;
}

static void add_tag(struct score_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		cli_usage(&o->cli, "invalid tag '%s': expected KEY=VALUE", arg);
	char *key = xstrdup(arg);
	key[eq - arg] = '\0';
	if (has_bad_char(arg))
		cli_usage(&o->cli, "invalid tag '%s': tabs and newlines are not allowed", key);
	if (score_is_column(key))
		cli_usage(&o->cli, "invalid tag '%s': a column of that name exists", key);
	for (size_t i = 0; i < o->ntags; i++)
		if (!strcmp(o->tag_keys[i], key))
			cli_usage(&o->cli, "tag '%s' given twice", key);
	o->tag_keys = xreallocarray(o->tag_keys, o->ntags + 1, sizeof *o->tag_keys);
	o->tag_vals = xreallocarray(o->tag_vals, o->ntags + 1, sizeof *o->tag_vals);
	o->tag_keys[o->ntags] = key;
	o->tag_vals[o->ntags] = xstrdup(eq + 1);
	o->ntags++;
}

static void parse_args(int argc, char **argv, struct score_opts *o)
{
	static const struct option longopts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "no-header", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = cli_getopt(&o->cli, argc, argv, "t:H", longopts)) != -1) {
		if (c == 't')
			add_tag(o, optarg);
		else
			o->no_header = 1;
	}
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	cli_done(&o->cli);
}

/* Append s to the growing text *buf (length *len). */
static void append(char **buf, size_t *len, const char *s)
{
	size_t k = strlen(s);
	*buf = xrealloc(*buf, *len + k + 1);
	memcpy(*buf + *len, s, k + 1);
	*len += k;
}

/* The file column: the operand with tabs and newlines made spaces. */
static char *file_field(const char *name)
{
	char *s = xstrdup(name);
	for (char *q = s; *q; q++)
		if (*q == '\t' || *q == '\n' || *q == '\r')
			*q = ' ';
	return s;
}

/* FILE through mp_out: a device or FIFO (/dev/null, a named pipe) is
 * written as it is, any other FILE through a temporary renamed over it. */
static void write_output(const char *path, const char *text, size_t len)
{
	if (!path) {
		fwrite(text, 1, len, stdout);
		return;
	}
	struct mp_out *out = mp_out_open(path);
	if (!out)
		die_lib();
	if (mp_out_write(out, text, len)) {
		mp_out_abort(out);
		die_lib();
	}
	if (mp_out_close(out))
		die_lib();
}

int main(int argc, char **argv)
{
	struct score_opts o = { .cli = { .usage = usage, .help = help, .flags = CLI_OUTPUT } };
	char *text = NULL;
	size_t len = 0;
	static char *stdin_only[] = { "-" };

	mp_init(argc, argv);
	parse_args(argc, argv, &o);
	if (o.ninputs == 0) {
		o.inputs = stdin_only;
		o.ninputs = 1;
	}

	append(&text, &len, "");
	if (!o.no_header) {
		for (size_t i = 0; i < o.ntags; i++) {
			append(&text, &len, o.tag_keys[i]);
			append(&text, &len, "\t");
		}
		append(&text, &len, "file\t");
		append(&text, &len, score_columns);
		append(&text, &len, "\n");
	}
	for (int k = 0; k < o.ninputs; k++) {
		struct score_result res;
		if (score_stream(o.inputs[k], &res))
			die_lib();
		for (size_t i = 0; i < o.ntags; i++) {
			append(&text, &len, o.tag_vals[i]);
			append(&text, &len, "\t");
		}
		char *f = file_field(o.inputs[k]);
		char *row = score_format(&res);
		append(&text, &len, f);
		append(&text, &len, "\t");
		append(&text, &len, row);
		append(&text, &len, "\n");
		free(row);
		free(f);
	}
	write_output(o.cli.output, text, len);
	free(text);
	for (size_t i = 0; i < o.ntags; i++) {
		free(o.tag_keys[i]);
		free(o.tag_vals[i]);
	}
	free(o.tag_keys);
	free(o.tag_vals);
	mp_close_stdout();
	return 0;
}
