/*
 * probes.h: the registry of probes (lib/probe/probes.c), the one list of them:
 * each probe's name, what it writes, and its fit and predict behind one
 * interface, so that a driver (`masc fit`, `velpic predict`, or a future
 * `probe fit NAME`) needs to know no probe by name:
 *
 *   const struct probe_kind *k = probe_find(name);   // NULL: unknown
 *   struct probe_run r = PROBE_RUN_INIT;
 *   r.in = input; r.out = output; r.level = level; r.add = &argv_keys;
 *   if (!k || k->fit(&r)) die_lib();                 // or probe_kind_predict(k, &r)
 *
 * A probe's own code (fit on a training stream through probe_io.h, its
 * scorer, its probe stream) lives in its file; the registry holds a
 * pointer to its struct probe_kind.
 */
#ifndef MEMPROBE_PROBES_H
#define MEMPROBE_PROBES_H

#include "meta.h"
#include "probe.h"

/* What a probe command was asked. */
struct probe_run {
	const char *in;            /* the stream read (NULL or "-": stdin) */
	const char *out;           /* what is written (NULL or "-": stdout) */
	int level;                 /* deflate level of the output */
	const char *probe;         /* predict: the probe stream (-m) */
	struct probe_fit_opts fit; /* fit: labels, method, k rule, progress */
	int quiet;                 /* fit: no summary on standard error */
	const struct meta *add;    /* keys added to the output (the command
				      line, meta_set_argv); may be NULL */
};

#define PROBE_RUN_INIT { NULL, NULL, 1, NULL, PROBE_FIT_OPTS_INIT, 0, NULL }

/* What sets a probe's options apart. */
enum {
	PROBE_KIND_K_RULE = 1,     /* fit takes --var T / --components K */
};

struct probe_kind {
	const char *name;          /* "masc": the command, probe=NAME and the
				      NAME.* keys of its streams */
	const char *title;         /* "MASC": in tables and figures */
	const char *summary;       /* one line, for listings */
	const char *stream;        /* its probe stream's members, as
				      memprobe-stream(5) lists them */
	unsigned flags;            /* PROBE_KIND_* */
	/* Fit on the training stream r->in and write the probe stream to
	 * r->out (meta.txt: the stream's keys, the probe's, then r->add);
	 * warnings and, unless r->quiet, a summary on standard error. */
	int (*fit)(const struct probe_run *r);
	/* Load a probe stream into a scorer for probe_predict (sc->ctx and
	 * sc->probe_meta are the kind's own until unload). */
	int (*load)(struct probe_scorer *sc, const char *path);
	void (*unload)(struct probe_scorer *sc);
};

/* Every probe, in the order listings show them; NULL-terminated. */
extern const struct probe_kind *const probe_kinds[];

/* The probe called `name`; NULL with the message "unknown probe 'NAME'
 * (masc or velpic)" if there is none. */
const struct probe_kind *probe_find(const char *name);

/* Predict with probe k: load the probe stream r->probe, then stream r->in
 * through it to r->out (probe_predict), meta.txt getting the probe's own
 * keys (probe, probe.*, NAME.*) and then r->add. */
int probe_kind_predict(const struct probe_kind *k, const struct probe_run *r);

/* The probe's own keys in src (probe, probe.*, NAME.*) set in dst: what
 * is made from a probe carries them. */
void probe_kind_keys(struct meta *dst, const struct meta *src, const char *name);

/* For a subspace probe's fit (MASC, VeLPIC): probe_fit with options o,
 * its warnings and (unless r->quiet) its summary, with the k list when
 * with_k, then write(fit, o, r->out, r->level, r->add). */
int probe_fit_run(const struct probe_run *r, const struct probe_fit_opts *o, int with_k,
		  int (*write)(const struct probe_fit *f, const struct probe_fit_opts *o,
			       const char *out, int level, const struct meta *add));

#endif
