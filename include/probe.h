/*
 * probe.h: the probes of memprobe, decoding the generalization a network
 * keeps in its layer-wise activations (PAPER.md):
 *
 *   MASC    per class c the top k_c eigenvectors V_c of the scatter matrix
 *           S_c = X_c^T X_c (no centring: subspaces through the origin);
 *           predicts argmax_c cos(theta_c) = |V_c x| / |x|.
 *   VeLPIC  per class the unit top eigenvector v_c of S_c, its sign chosen
 *           so that the mean over ALL training rows of x . v_c is >= 0;
 *           predicts argmax_c v_c . x.
 *
 * Both are fitted by probe_fit(), one pass over a training stream (an
 * activation stream's `act`, or a data stream's `x` flattened: the
 * model-free "input layer"), grouped by the labels (`y` or `y_true`) that
 * precede it. Two methods give the same subspaces:
 *
 *   primal  accumulate S_c (D, D) a block at a time (gram.h), then an
 *           eigensolver per class: memory C*D^2 doubles, whatever N.
 *   dual    hold the rows (N*D float32), form each class's Gram matrix
 *           G_c = X_c X_c^T (n_c, n_c), take its top eigenvectors U_c and
 *           recover V_c = Sigma^-1 U_c^T X_c: memory N*D*4 bytes plus one
 *           n_c^2 double matrix per thread. For wide layers (D >> n_c).
 *   auto    the one whose main allocations are smaller (probe_method_bytes).
 *
 * Predictions (probe_predict, probe_io.h) stream any data or activation
 * stream in blocks of rows, copy its labels through, and write `pred`
 * int32 (N) and `score` float32 (N, C).
 */
#ifndef MEMPROBE_PROBE_H
#define MEMPROBE_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "probe_io.h"

enum probe_method { PROBE_AUTO, PROBE_PRIMAL, PROBE_DUAL };

/* "auto" "primal" "dual"; -1 with a message otherwise. */
int probe_method_parse(const char *s, enum probe_method *m);
const char *probe_method_str(enum probe_method m);

struct probe_fit_opts {
	const char *labels;        /* member with the classes: "y" or "y_true" */
	enum probe_method method;
	double threshold;          /* k_c: cumulative explained-variance ratio
				      strictly above this (MASC --var) */
	long components;           /* > 0: exactly this many per class instead */
	int progress;              /* rows read, on stderr (when it is a tty) */
};

#define PROBE_FIT_OPTS_INIT { "y", PROBE_AUTO, 0.99, 0, 0 }

/* Per-class notes for the caller's warnings. */
enum {
	PROBE_CLASS_EMPTY = 1,     /* no training rows */
	PROBE_CLASS_CAPPED = 2,    /* fewer directions than the rule asked */
};

struct probe_fit {
	int classes;               /* C */
	size_t dim;                /* D */
	size_t rows;               /* N */
	char member[8];            /* "act" or "x" */
	enum probe_method method;  /* the one used */
	struct meta meta;          /* the training stream's meta.txt */
	size_t *count;             /* (C) training rows per class */
	int32_t *k;                /* (C) components kept */
	size_t *asked;             /* (C) components the rule asked for */
	size_t *rank;              /* (C) numerical rank of S_c (eig_rank) */
	int *notes;                /* (C) PROBE_CLASS_* bits */
	size_t ktotal;             /* sum of k */
	double *basis;             /* (ktotal, D) class c's rows after c-1's */
	double *eigval;            /* (ktotal) their eigenvalues of S_c */
	double *explained;         /* (C) cumulative ratio of the kept ones */
	double *colsum;            /* (D) sum of all N rows (VeLPIC's sign) */
	double seconds_read;       /* reading + accumulating */
	double seconds_solve;      /* eigensolvers */
};

/* Fit per-class subspaces from the stream at path (NULL or "-": stdin),
 * read by probe_train_open/probe_train_read (probe_io.h). Errors: theirs
 * (no `act`/`x` member, labels missing or after it or not N of them,
 * labels outside the classes of samples.h, a non-finite value), a method
 * too large for the data, LAPACK failures. */
int probe_fit(struct probe_fit *f, const char *path, const struct probe_fit_opts *o);
void probe_fit_release(struct probe_fit *f);

/* Add the keys every fitted probe records to m: probe=PREFIX, probe.layer,
 * probe.member, PREFIX.labels, .threshold or .components, .method,
 * .classes, .dim, .n, .count, .k, .k_total, .explained (per-class lists
 * are space-separated). */
void probe_meta_fit(struct meta *m, const struct probe_fit *f,
		    const struct probe_fit_opts *o, const char *prefix);
/* warn() about empty classes and classes with fewer directions than asked. */
void probe_fit_warnings(const struct probe_fit *f);
/* One line on standard error: "TOOL: layer L, N rows of D values, C
 * classes, METHOD", with ": k = k_0 k_1 ... (total K)" when with_k. */
void probe_fit_summary(const struct probe_fit *f, int with_k);

/* Bytes of the main allocations of each method, for the auto rule. */
int probe_method_bytes(enum probe_method m, int classes, size_t dim, size_t rows,
		       size_t max_count, int threads, size_t *bytes);

/* ---- MASC ---- */

struct masc_probe {
	int classes;               /* C */
	size_t dim;                /* D */
	int32_t *k;                /* (C) */
	size_t *off;               /* (C + 1) first basis row of each class */
	double *basis;             /* (off[C], D) */
	float *basis32;            /* (off[C], D) the same, rounded */
	struct meta meta;
};

/* Write a fitted MASC probe: meta.txt (the stream's keys plus probe=masc,
 * probe.layer, masc.*), k int32 (C), basis float64 (sum k, D). */
int masc_write(const struct probe_fit *f, const struct probe_fit_opts *o,
	       const char *out, int level, const struct meta *add);
/* Load and check a MASC probe stream. */
int masc_probe_load(struct masc_probe *p, const char *path);
void masc_probe_release(struct masc_probe *p);
/* probe_scorer.score for a struct masc_probe: cosines from a float32 GEMM;
 * a row whose two best cosines are closer than that GEMM's error bound is
 * recomputed in double precision, so the argmax is the double-precision
 * one. A zero row scores 0 for every class. Ties go to the lowest class. */
int masc_score(void *ctx, const float *x, size_t n, float *score, int32_t *pred);
/* The same in double precision throughout (reference for tests). */
int masc_score_exact(const struct masc_probe *p, const double *x, size_t n,
		     double *score, int32_t *pred);
/* Write Q_c = V_c^T V_c as `q` float64 (C, D, D), one class at a time,
 * after meta.txt (the probe's keys plus `add`). */
int masc_quadratic_write(const struct masc_probe *p, const char *out, int level,
			 const struct meta *add);

/* ---- VeLPIC ---- */

struct velpic_probe {
	int classes;               /* C */
	size_t dim;                /* D */
	float *w;                  /* (C, D) */
	struct meta meta;
};

/* The sign-fixed unit vectors of a fit with one component per class into
 * w (C, D) float32; a class without a direction gets a zero row. */
void velpic_vectors(const struct probe_fit *f, float *w);
/* Write meta.txt (the stream's keys plus probe=velpic, probe.layer,
 * velpic.*) and w float32 (C, D). */
int velpic_write(const struct probe_fit *f, const struct probe_fit_opts *o,
		 const char *out, int level, const struct meta *add);
int velpic_probe_load(struct velpic_probe *p, const char *path);
void velpic_probe_release(struct velpic_probe *p);
/* probe_scorer.score: x w^T by sgemm (float32, as the network's own final
 * layer computes it), argmax, ties to the lowest class. */
int velpic_score(void *ctx, const float *x, size_t n, float *score, int32_t *pred);

#endif
