/*
 * table.h: the registries (arch.h's architectures, data.h's data sets)
 * are arrays of structs whose first member is `const char *name`, ended
 * by an entry whose name is NULL. These look an entry up by name, with
 * the error every tool prints for an unknown one, and list the names.
 *
 *   const struct arch *a = table_find(arch_table, sizeof *arch_table,
 *                                     "architecture", name);
 */
#ifndef MEMPROBE_TABLE_H
#define MEMPROBE_TABLE_H

#include <stddef.h>

/* The entry named `name`, or NULL with the message "unknown WHAT 'NAME'
 * (a, b or c)". */
const void *table_find(const void *table, size_t stride, const char *what,
		       const char *name);
/* "a, b or c", malloc'd. */
char *table_names(const void *table, size_t stride);

#endif
