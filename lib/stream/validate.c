/*
 * validate.c: the checks every consumer of a stream makes on what it reads
 * (validate.h): float features, labels against the class count, flipped
 * flags, and the class count of meta.txt.
 */
#include "validate.h"

#include "util.h"

int validate_float(const struct npy_header *h, const char *src, const char *member)
{
	if (h->dtype != NPY_F4 && h->dtype != NPY_F8)
		return mp_error("%s: member '%s' has dtype '%s': features must be "
				"float32 or float64 ('<f4' or '<f8')", src, member,
				npy_dtype_str(h->dtype));
	return 0;
}

int validate_meta_classes(const struct meta *m, const char *src, int *classes)
{
	static const char *const keys[] = { "data.classes", "model.classes" };
	long c[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		const char *s = meta_get(m, keys[i]);
		if (s && parse_long(s, 1, VALIDATE_MAX_CLASSES, &c[i]))
			return mp_error("%s: meta.txt: invalid %s '%s' (an integer in "
					"[1, %d])", src, keys[i], s, VALIDATE_MAX_CLASSES);
	}
	if (c[0] && c[1] && c[0] != c[1])
		return mp_error("%s: meta.txt: data.classes=%ld but model.classes=%ld",
				src, c[0], c[1]);
	*classes = (int)(c[0] ? c[0] : c[1]);
	return 0;
}

int validate_labels(const int32_t *y, size_t n, int classes, const char *src,
		    const char *member)
{
	for (size_t i = 0; i < n; i++) {
		if (y[i] < 0)
			return mp_error("%s: label %ld at index %zu of '%s' is negative",
					src, (long)y[i], i, member);
		if (classes > 0 && y[i] >= classes)
			return mp_error("%s: label %ld at index %zu of '%s' is outside 0..%d",
					src, (long)y[i], i, member, classes - 1);
	}
	return 0;
}

int validate_flipped(const int32_t *f, size_t n, const char *src)
{
	for (size_t i = 0; i < n; i++)
		if (f[i] != 0 && f[i] != 1)
			return mp_error("%s: member 'flipped' has value %ld at index %zu, "
					"expected 0 or 1", src, (long)f[i], i);
	return 0;
}
