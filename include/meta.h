/*
 * meta.h: the `meta.txt` member of every stream: UTF-8 `key=value` lines
 * carrying provenance. Each tool copies the keys it received and adds its
 * own, prefixed by its name (`corrupt.p=0.8`, `train.epoch=20`).
 */
#ifndef MEMPROBE_META_H
#define MEMPROBE_META_H

#include <stddef.h>
#include "util.h"

struct meta {
	char **keys;
	char **vals;
	size_t n, alloc;
};

#define META_INIT { NULL, NULL, 0, 0 }

void meta_init(struct meta *m);
void meta_release(struct meta *m);
/* Parse text (lines "key=value"; blank lines and lines starting with '#'
 * ignored; a line without '=' is an error). Appends to m. */
int meta_parse(struct meta *m, const char *text, size_t len);
/* Set key to a printf-formatted value: replaces an existing key in place,
 * otherwise appends. Newlines in the value are replaced by spaces. */
void meta_set(struct meta *m, const char *key, const char *fmt, ...) MP_PRINTF(3, 4);
/* The value or NULL. */
const char *meta_get(const struct meta *m, const char *key);
/* Copy all entries of src into dst (meta_set semantics). */
void meta_merge(struct meta *dst, const struct meta *src);
/* The text: "key=value\n" lines in order; malloc'd, *len set. */
char *meta_format(const struct meta *m, size_t *len);
/* Record the invocation: sets "TOOL.argv" to the arguments joined by spaces. */
void meta_set_argv(struct meta *m, const char *tool, int argc, char **argv);

#endif
