/*
 * fuzz_meta.c: meta.txt (lib/stream/meta.c) and the parsers the tools apply to
 * its values (numbers, the model's input shape).
 *
 * Oracles: what meta_parse accepts, meta_format writes back as text that
 * parses to the same keys and values in the same order (and formats to
 * the same bytes); meta_get finds every key; a merge into a copy changes
 * nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meta.h"
#include "model.h"
#include "util.h"

static void same(const struct meta *a, const struct meta *b, const char *what)
{
	if (a->n != b->n)
		fuzz_fail("%s: %zu entries, then %zu", what, a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->keys[i], b->keys[i]) || strcmp(a->vals[i], b->vals[i]))
			fuzz_fail("%s: entry %zu '%s=%s' became '%s=%s'", what, i,
				  a->keys[i], a->vals[i], b->keys[i], b->vals[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta m = META_INIT, back = META_INIT, copy = META_INIT;
	if (meta_parse(&m, (const char *)data, size)) {
		meta_release(&m);
		return 0;
	}
	size_t len, len2;
	char *text = meta_format(&m, &len);
	if (strlen(text) != len)
		fuzz_fail("formatted text has a NUL or a wrong length");
	if (meta_parse(&back, text, len))
		fuzz_fail("formatted meta.txt does not parse: %s", mp_errmsg());
	same(&m, &back, "format then parse");
	char *text2 = meta_format(&back, &len2);
	if (len2 != len || memcmp(text, text2, len))
		fuzz_fail("formatting is not stable");
	free(text2);
	free(text);

	meta_merge(&copy, &m);
	meta_merge(&copy, &m);
	same(&m, &copy, "merge");
	for (size_t i = 0; i < m.n; i++) {
		const char *v = meta_get(&m, m.keys[i]);
		if (v != m.vals[i])
			fuzz_fail("meta_get('%s') misses its entry", m.keys[i]);
		/* What the tools do with values; errors are fine. */
		long l;
		double d;
		struct shape s;
		parse_long(v, 0, 1000000, &l);
		parse_double(v, 0, 1e9, &d);
		shape_parse(v, &s);
		meta_set(&copy, m.keys[i], "%s.", v);
	}
	meta_release(&copy);
	meta_release(&back);
	meta_release(&m);
	return 0;
}
