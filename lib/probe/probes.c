/*
 * probes.c: the registry of probes (probes.h): the list every driver and
 * listing walks, lookup by name, and the predict path every probe shares
 * (load its stream, carry its keys, stream the rows through its scorer).
 */
#include "probes.h"

#include <string.h>

#include "util.h"

/* Each probe's entry, defined in its own file (lib/NAME.c). */
extern const struct probe_kind probe_masc, probe_velpic;

const struct probe_kind *const probe_kinds[] = {
	&probe_masc,
	&probe_velpic,
	NULL,
};

const struct probe_kind *probe_find(const char *name)
{
	const char *names[16];
	int n = 0;
	for (; probe_kinds[n]; n++) {
		MP_ASSERT(n < 16);
		names[n] = probe_kinds[n]->name;
	}
	int i = mp_parse_choice(name, names, n, "unknown probe");
	return i < 0 ? NULL : probe_kinds[i];
}

int probe_fit_run(const struct probe_run *r, const struct probe_fit_opts *o, int with_k,
		  int (*write)(const struct probe_fit *f, const struct probe_fit_opts *o,
			       const char *out, int level, const struct meta *add))
{
	struct probe_fit f;
	int ret;
	if (probe_fit(&f, r->in, o))
		return -1;
	probe_fit_warnings(&f);
	if (!r->quiet)
		probe_fit_summary(&f, with_k);
	ret = write(&f, o, r->out, r->level, r->add);
	probe_fit_release(&f);
	return ret;
}

void probe_kind_keys(struct meta *dst, const struct meta *src, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < src->n; i++) {
		const char *k = src->keys[i];
		if (!strcmp(k, "probe") || !strncmp(k, "probe.", 6) ||
		    (!strncmp(k, name, len) && k[len] == '.'))
			meta_set(dst, k, "%s", src->vals[i]);
	}
}

int probe_kind_predict(const struct probe_kind *k, const struct probe_run *r)
{
	struct probe_scorer sc;
	struct meta add = META_INIT;
	int ret;
	if (k->load(&sc, r->probe))
		return -1;
	probe_kind_keys(&add, sc.probe_meta, k->name);
	if (r->add)
		meta_merge(&add, r->add);
	ret = probe_predict(r->in, r->out, r->level, &sc, &add);
	meta_release(&add);
	k->unload(&sc);
	return ret;
}
