/*
 * meta.c: meta.txt, the provenance member: ordered key=value lines.
 */
#include "meta.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void meta_init(struct meta *m)
{
	memset(m, 0, sizeof *m);
}

void meta_release(struct meta *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->vals[i]);
	}
	free(m->keys);
	free(m->vals);
	meta_init(m);
}

static void set_owned(struct meta *m, const char *key, char *val)
{
	for (char *c = val; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->keys[i], key)) {
			free(m->vals[i]);
			m->vals[i] = val;
			return;
		}
	if (m->n == m->alloc) {
		m->alloc = m->alloc ? 2 * m->alloc : 16;
		m->keys = xreallocarray(m->keys, m->alloc, sizeof *m->keys);
		m->vals = xreallocarray(m->vals, m->alloc, sizeof *m->vals);
	}
	m->keys[m->n] = xstrdup(key);
	m->vals[m->n] = val;
	m->n++;
}

void meta_set(struct meta *m, const char *key, const char *fmt, ...)
{
	va_list ap;
	/* Also tells GCC so: with -fsanitize=undefined it otherwise warns
	 * "null format string" below, which breaks SANITIZE + DEVELOPER. */
	MP_ASSERT(fmt);
	va_start(ap, fmt);
	char *v = xvasprintf(fmt, ap);
	va_end(ap);
	set_owned(m, key, v);
}

const char *meta_get(const struct meta *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->keys[i], key))
			return m->vals[i];
	return NULL;
}

void meta_merge(struct meta *dst, const struct meta *src)
{
	for (size_t i = 0; i < src->n; i++)
		set_owned(dst, src->keys[i], xstrdup(src->vals[i]));
}

int meta_parse(struct meta *m, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	size_t lineno = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		lineno++;
		const char *q = le;
		if (q > p && q[-1] == '\r')
			q--;
		if (q > p && *p != '#') {
			const char *eq = memchr(p, '=', (size_t)(q - p));
			if (!eq || eq == p)
				return mp_error("member 'meta.txt': line %zu is not key=value",
						lineno);
			if (memchr(p, '\0', (size_t)(q - p)))
				return mp_error("member 'meta.txt': NUL byte on line %zu",
						lineno);
			char *key = xmalloc((size_t)(eq - p) + 1);
			memcpy(key, p, (size_t)(eq - p));
			key[eq - p] = '\0';
			char *val = xmalloc((size_t)(q - eq));
			memcpy(val, eq + 1, (size_t)(q - eq - 1));
			val[q - eq - 1] = '\0';
			set_owned(m, key, val);
			free(key);
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

char *meta_format(const struct meta *m, size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += strlen(m->keys[i]) + strlen(m->vals[i]) + 2;
	char *s = xmalloc(n + 1), *o = s;
	for (size_t i = 0; i < m->n; i++) {
		size_t kl = strlen(m->keys[i]), vl = strlen(m->vals[i]);
		memcpy(o, m->keys[i], kl); o += kl;
		*o++ = '=';
		memcpy(o, m->vals[i], vl); o += vl;
		*o++ = '\n';
	}
	*o = '\0';
	*len = n;
	return s;
}

void meta_set_argv(struct meta *m, const char *tool, int argc, char **argv)
{
	size_t n = 1;
	for (int i = 1; i < argc; i++)
		n += strlen(argv[i]) + 1;
	char *s = xmalloc(n), *o = s;
	*o = '\0';
	for (int i = 1; i < argc; i++) {
		size_t l = strlen(argv[i]);
		if (i > 1)
			*o++ = ' ';
		memcpy(o, argv[i], l);
		o += l;
		*o = '\0';
	}
	char *key = xasprintf("%s.argv", tool);
	set_owned(m, key, s);
	free(key);
}
