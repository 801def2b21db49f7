/*
 * acts.c: dumpacts' work: stream a data set through a model a batch at a
 * time, appending each requested layer's rows to its own activation
 * stream (the streams are written side by side, one `act` member open in
 * each), or collecting the model's predictions.
 */
#include "acts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "par.h"
#include "samples.h"
#include "util.h"
#include "validate.h"

struct acts_out {
	const char *layer;      /* NULL for predictions */
	int slot;
	size_t dim;
	char *path;             /* NULL: stdout */
	struct npz_writer *w;
	char *err;              /* a write task's message (mp_error is per thread) */
};

static void out_meta(struct meta *dst, const struct meta *data,
		     const struct meta *ck, const struct acts_opts *o,
		     const struct acts_out *out)
{
	meta_init(dst);
	meta_merge(dst, data);
	for (size_t i = 0; i < ck->n; i++)
		if (!strncmp(ck->keys[i], "model.", 6) || !strncmp(ck->keys[i], "train.", 6))
			meta_set(dst, ck->keys[i], "%s", ck->vals[i]);
	if (o->model_path)
		meta_set(dst, "dumpacts.model", "%s", o->model_path);
	if (o->bn_mode)
		meta_set(dst, "dumpacts.bn_mode", "%s", o->bn_mode);
	if (out->layer) {
		meta_set(dst, "dumpacts.layer", "%s", out->layer);
		meta_set(dst, "dumpacts.dim", "%zu", out->dim);
	} else {
		meta_set(dst, "dumpacts.predict", "1");
	}
}

static int add_labels(struct npz_writer *w, const struct samples_labels *lb, size_t n)
{
	struct npy_header h;
	if (npy_header_1d(&h, NPY_I4, (int64_t)n) || npz_writer_add(w, "y", &h, lb->y))
		return -1;
	if (lb->y_true && (npy_header_1d(&h, NPY_I4, (int64_t)n)
			   || npz_writer_add(w, "y_true", &h, lb->y_true)))
		return -1;
	if (lb->flipped && (npy_header_1d(&h, NPY_U1, (int64_t)n)
			    || npz_writer_add(w, "flipped", &h, lb->flipped)))
		return -1;
	return 0;
}

struct write_job {
	struct acts_out *outs;
	const struct model *m;
	size_t rows;
};

static void write_task(void *ctx, size_t i)
{
	struct write_job *j = ctx;
	struct acts_out *o = &j->outs[i];
	const float *a = model_act(j->m, o->slot);
	/* The writer's message names the file; this may be a worker thread. */
	if (npz_writer_write(o->w, a, j->rows * o->dim * sizeof(float)))
		o->err = xstrdup(mp_errmsg());
}

/* x, the reader's current member, as the model's input: its samples of
 * the shape the model takes (or flat, of its size), labels for each. */
static int check_x(struct npz_reader *r, const struct model *m, const struct meta *dmeta,
		   const struct samples_labels *lb, size_t *n)
{
	const struct npy_header *h = npz_reader_header(r);
	const char *src = npz_reader_path(r);
	int chw[3], mc;
	if (validate_float(h, src, "x"))
		return -1;
	int ok = !samples_shape(h, src, chw);
	if (ok) {
		struct shape s = { chw[0], chw[1], chw[2] };
		/* A flat (N, D) x is any model's input of that size. */
		ok = model_accepts(m, s) ||
		     (h->ndim == 2 && shape_size(s) == shape_size(m->input));
	}
	if (!ok) {
		char buf[160];
		return mp_error("%s: 'x' has shape %s but the model takes samples of %dx%dx%d",
				src, npy_shape_str(h, buf, sizeof buf), m->input.c,
				m->input.h, m->input.w);
	}
	*n = (size_t)h->shape[0];
	if (!lb->y)
		return mp_error("%s: the data has no labels 'y' before 'x'", src);
	/* The labels must name the model's classes, and a data set that says
	 * it has another number of classes is not one for this model. */
	if (samples_labels_rows(lb, *n, src, "x") ||
	    samples_classes_given(dmeta, src, m->classes, "the model", &mc) ||
	    samples_labels_check(lb, m->classes, src))
		return -1;
	return 0;
}

/* Every output open: meta.txt, the labels, and `act` begun. The folder
 * (and its parents, like mkdir -p) only now that the data proved good:
 * bad input leaves nothing behind. */
static int open_outs(struct acts_out *outs, int nout, const struct meta *dmeta,
		     const struct meta *ck, const struct acts_opts *o,
		     const struct samples_labels *lb, size_t n)
{
	if (o->outdir && mp_mkdir_p(o->outdir))
		return -1;
	for (int i = 0; i < nout; i++) {
		struct acts_out *out = &outs[i];
		struct meta mm;
		struct npy_header ah;
		out_meta(&mm, dmeta, ck, o, out);
		out->w = npz_writer_open(out->path, o->level);
		int bad = !out->w || npz_writer_add_meta(out->w, &mm) || add_labels(out->w, lb, n);
		meta_release(&mm);
		if (bad || (out->layer && (npy_header_2d(&ah, NPY_F4, (int64_t)n, (int64_t)out->dim)
					   || npz_writer_begin(out->w, "act", &ah))))
			return -1;
	}
	return 0;
}

/* Predictions grow with the batches that arrive, never sized by the row
 * count x's header claims. */
struct predictions {
	int32_t *pred;          /* (cap_pred) */
	float *score;           /* (cap_score / C, C) */
	size_t cap_pred, cap_score;
};

/* The model's outputs for rows i..i+rows-1 and their argmax. */
static int keep_predictions(struct predictions *p, const struct model *m, size_t i,
			    int rows, const char *src)
{
	const float *l = model_output(m);
	size_t C = (size_t)m->classes, end = i + (size_t)rows, need;
	if (mp_mul_size(end, C, &need) ||
	    mp_grow((void **)&p->score, &p->cap_score, need, sizeof *p->score) ||
	    mp_grow((void **)&p->pred, &p->cap_pred, end, sizeof *p->pred))
		return mp_error("%s: %zu samples of %zu scores are too many", src, end, C);
	memcpy(p->score + i * C, l, (size_t)rows * C * sizeof(float));
	for (int k = 0; k < rows; k++)
		p->pred[i + (size_t)k] = nn_argmax(l + (size_t)k * C, (int)C);
	return 0;
}

/* Each requested layer's rows of the batch to its stream, in parallel. */
static int write_acts(struct acts_out *outs, int nout, const struct model *m, int rows)
{
	struct write_job j = { outs, m, (size_t)rows };
	par_for((size_t)nout, write_task, &j);
	for (int k = 0; k < nout; k++)
		if (outs[k].err)
			return mp_error("%s", outs[k].err);
	return 0;
}

/* `act` ended, or pred and score written. */
static int close_outs(struct acts_out *outs, int nout, struct predictions *p, size_t n,
		      int C)
{
	for (int i = 0; i < nout; i++) {
		struct acts_out *out = &outs[i];
		struct npy_header ph, sh;
		if (out->layer) {
			if (npz_writer_end(out->w))
				return -1;
			continue;
		}
		if (mp_grow((void **)&p->score, &p->cap_score, 1, sizeof *p->score) ||
		    mp_grow((void **)&p->pred, &p->cap_pred, 1, sizeof *p->pred) ||
		    npy_header_1d(&ph, NPY_I4, (int64_t)n) ||
		    npz_writer_add(out->w, "pred", &ph, p->pred) ||
		    npy_header_2d(&sh, NPY_F4, (int64_t)n, C) ||
		    npz_writer_add(out->w, "score", &sh, p->score))
			return -1;
	}
	return 0;
}

/* x is the reader's current member: run everything. */
static int process_x(struct npz_reader *r, struct model *m, const struct meta *ck,
		     const struct meta *dmeta, const struct samples_labels *lb,
		     const struct acts_opts *o, struct acts_out *outs, int nout)
{
	const char *src = npz_reader_path(r);
	struct predictions p = { NULL, NULL, 0, 0 };
	struct mp_progress pg;
	float *xb = NULL;          /* (B, sample) */
	size_t n = 0;
	int B = o->batch, upto = 0, rc = -1;
	if (check_x(r, m, dmeta, lb, &n))
		return -1;
	for (int i = 0; i < nout; i++) {
		int l = outs[i].layer ? model_slot_layer(m, outs[i].slot) : m->nlayers - 1;
		upto = l + 1 > upto ? l + 1 : upto;
	}
	if (open_outs(outs, nout, dmeta, ck, o, lb, n))
		return -1;
	xb = xaligned_calloc((size_t)B * shape_size(m->input), sizeof(float));
	mp_progress_start(&pg, !o->quiet, 0.2, 60);
	for (size_t i = 0; i < n; i += (size_t)B) {
		int rows = (int)(n - i < (size_t)B ? n - i : (size_t)B);
		if (npz_reader_read_rows_f32(r, xb, (size_t)rows))
			goto out;
		model_forward_layers(m, xb, rows, upto);
		if (o->predict ? keep_predictions(&p, m, i, rows, src)
			       : write_acts(outs, nout, m, rows))
			goto out;
		if (mp_interrupted) {
			mp_error("interrupted");
			goto out;
		}
		mp_progress_show(&pg, "%zu/%zu samples", i + rows, n);
	}
	mp_progress_end(&pg);
	rc = close_outs(outs, nout, &p, n, m->classes);
out:
	free(xb);
	free(p.pred);
	free(p.score);
	return rc;
}

int acts_run(struct model *m, const struct meta *ck, const struct acts_opts *o)
{
	int nout = o->predict ? 1 : o->nlayers;
	struct acts_out *outs = xcalloc((size_t)nout, sizeof *outs);
	struct samples_labels lb = SAMPLES_LABELS_INIT;
	struct meta dmeta;
	int rc = -1, seen_x = 0;
	meta_init(&dmeta);
	for (int i = 0; i < nout; i++) {
		struct acts_out *out = &outs[i];
		if (o->predict) {
			out->path = o->output ? xstrdup(o->output) : NULL;
			continue;
		}
		const struct model_probe *p = model_probe_find(m, o->layers[i]);
		MP_ASSERT(p);
		out->layer = p->name;
		out->slot = p->slot;
		out->dim = shape_size(m->slots[p->slot]);
		out->path = o->outdir ? xasprintf("%s/%s.npz", o->outdir, p->name)
			  : o->output ? xstrdup(o->output) : NULL;
	}
	struct npz_reader *r = npz_reader_open(o->data_path);
	if (!r)
		goto out;
	const char *src = npz_reader_path(r);
	int k;
	while ((k = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		int is_label = samples_is_label(name);
		if (!npz_reader_is_array(r)) {
			k = !strcmp(name, "meta.txt") && !seen_x
			    ? npz_reader_load_meta(r, &dmeta) : npz_reader_skip(r);
		} else if (is_label && seen_x) {
			k = mp_error("%s: '%s' comes after 'x' (labels must come first "
				     "for streaming)", src, name);
		} else if (is_label) {
			k = samples_labels_take(&lb, r);
		} else if (!strcmp(name, "x") && !seen_x) {
			seen_x = 1;
			k = process_x(r, m, ck, &dmeta, &lb, o, outs, nout);
		} else {
			k = npz_reader_skip(r);
		}
		if (k < 0)
			break;
	}
	if (k == 0 && !seen_x)
		k = mp_error("%s: the data has no 'x'", src);
	npz_reader_free(r);
	if (k < 0)
		goto out;
	for (int i = 0; i < nout; i++) {
		struct npz_writer *w = outs[i].w;
		outs[i].w = NULL;
		if (npz_writer_close(w))
			goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < nout; i++) {
		if (outs[i].w)
			npz_writer_abort(outs[i].w);
		free(outs[i].path);
		free(outs[i].err);
	}
	free(outs);
	samples_labels_release(&lb);
	meta_release(&dmeta);
	return rc;
}
