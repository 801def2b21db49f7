/*
 * table.c: lookups in the registries (table.h). An entry's name is its
 * struct's first member, so a pointer to the entry is a pointer to it.
 */
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *name_at(const void *table, size_t stride, size_t i)
{
	return *(const char *const *)(const void *)((const char *)table + i * stride);
}

char *table_names(const void *table, size_t stride)
{
	size_t n = 0, len = 1;
	while (name_at(table, stride, n))
		len += strlen(name_at(table, stride, n++)) + 4;
	char *s = xmalloc(len), *p = s;
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " or ",
			     name_at(table, stride, i));
	return s;
}

const void *table_find(const void *table, size_t stride, const char *what,
		       const char *name)
{
	for (size_t i = 0; name_at(table, stride, i); i++)
		if (!strcmp(name_at(table, stride, i), name))
			return (const char *)table + i * stride;
	char *names = table_names(table, stride);
	mp_error("unknown %s '%s' (%s)", what, name, names);
	free(names);
	return NULL;
}
