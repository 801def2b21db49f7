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

struct labels {
	int32_t *y, *y_true;    /* (n) */
	uint8_t *flipped;       /* (n) */
	size_t ny, nyt, nfl;
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

static int add_labels(struct npz_writer *w, const struct labels *lb, size_t n)
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

/* x is the reader's current member: run everything. */
static int process_x(struct npz_reader *r, struct model *m, const struct meta *ck,
		     const struct meta *dmeta, const struct labels *lb,
		     const struct acts_opts *o, struct acts_out *outs, int nout)
{
	const struct npy_header *h = npz_reader_header(r);
	const char *src = npz_reader_path(r);
	size_t in_size = shape_size(m->input);
	if (validate_float(h, src, "x"))
		return -1;
	int ok = h->ndim >= 2 && h->ndim <= 4;
	for (int k = 1; ok && k < h->ndim; k++)
		ok = h->shape[k] >= 1 && h->shape[k] <= INT32_MAX;
	if (ok) {
		struct shape s = { 1, 1, 1 };
		if (h->ndim == 4)
			s = (struct shape){ (int)h->shape[1], (int)h->shape[2], (int)h->shape[3] };
		else if (h->ndim == 3)
			s = (struct shape){ 1, (int)h->shape[1], (int)h->shape[2] };
		else
			s = (struct shape){ (int)h->shape[1], 1, 1 };
		/* A flat (N, D) x is any model's input of that size. */
		ok = model_accepts(m, s) || (h->ndim == 2 && shape_size(s) == in_size);
	}
	if (!ok) {
		char buf[160];
		return mp_error("%s: 'x' has shape %s but the model takes samples of %dx%dx%d",
				src, npy_shape_str(h, buf, sizeof buf), m->input.c,
				m->input.h, m->input.w);
	}
	size_t n = (size_t)h->shape[0];
	if (!lb->y)
		return mp_error("%s: the data has no labels 'y' before 'x'", src);
	if (lb->ny != n || (lb->y_true && lb->nyt != n) || (lb->flipped && lb->nfl != n))
		return mp_error("%s: the labels have %zu entries but 'x' has %zu samples",
				src, lb->ny != n ? lb->ny : lb->y_true && lb->nyt != n
				? lb->nyt : lb->nfl, n);

	/* The labels must name the model's classes, and a data set that says
	 * it has another number of classes is not one for this model. */
	int C = m->classes, upto = 0, rc = -1, mc;
	if (validate_meta_classes(dmeta, src, &mc))
		return -1;
	if (mc && mc != C)
		return mp_error("%s: the data has %d classes (meta.txt) but the model has %d",
				src, mc, C);
	if (validate_labels(lb->y, n, C, src, "y") ||
	    (lb->y_true && validate_labels(lb->y_true, n, C, src, "y_true")))
		return -1;
	for (int i = 0; i < nout; i++) {
		int l = outs[i].layer ? model_slot_layer(m, outs[i].slot) : m->nlayers - 1;
		upto = l + 1 > upto ? l + 1 : upto;
	}
	/* Predictions grow with the batches that arrive, never sized by the
	 * row count x's header claims. */
	int32_t *pred = NULL;
	float *score = NULL;
	size_t cap_pred = 0, cap_score = 0;
	/* The folder (and its parents, like mkdir -p) only once the data
	 * proved good: bad input leaves nothing behind. */
	if (o->outdir && mp_mkdir_p(o->outdir))
		return -1;
	for (int i = 0; i < nout; i++) {
		struct acts_out *out = &outs[i];
		struct meta mm;
		out_meta(&mm, dmeta, ck, o, out);
		out->w = npz_writer_open(out->path, o->level);
		int bad = !out->w || npz_writer_add_meta(out->w, &mm) || add_labels(out->w, lb, n);
		meta_release(&mm);
		if (bad)
			goto out;
		if (out->layer) {
			struct npy_header ah;
			if (npy_header_2d(&ah, NPY_F4, (int64_t)n, (int64_t)out->dim)
			    || npz_writer_begin(out->w, "act", &ah))
				goto out;
		}
	}
	int B = o->batch;
	float *xb = xaligned_calloc((size_t)B * in_size, sizeof(float));
	struct mp_progress pg;
	mp_progress_start(&pg, 1, 0.2, 60);
	for (size_t i = 0; i < n; i += (size_t)B) {
		int rows = (int)(n - i < (size_t)B ? n - i : (size_t)B);
		if (npz_reader_read_rows_f32(r, xb, (size_t)rows)) {
			free(xb);
			goto out;
		}
		model_forward_layers(m, xb, rows, upto);
		if (o->predict) {
			const float *l = model_output(m);
			size_t need;
			if (mp_mul_size(i + (size_t)rows, (size_t)C, &need) ||
			    mp_grow((void **)&score, &cap_score, need, sizeof *score) ||
			    mp_grow((void **)&pred, &cap_pred, i + (size_t)rows, sizeof *pred)) {
				free(xb);
				mp_error("%s: %zu samples of %d scores are too many", src,
					 i + (size_t)rows, C);
				goto out;
			}
			memcpy(score + i * C, l, (size_t)rows * C * sizeof(float));
			for (int k = 0; k < rows; k++)
				pred[i + k] = nn_argmax(l + (size_t)k * C, C);
		} else {
			struct write_job j = { outs, m, (size_t)rows };
			par_for((size_t)nout, write_task, &j);
			int failed = 0;
			for (int k = 0; k < nout && !failed; k++)
				if (outs[k].err)
					failed = mp_error("%s", outs[k].err);
			if (failed) {
				free(xb);
				goto out;
			}
		}
		if (mp_interrupted) {
			free(xb);
			mp_error("interrupted");
			goto out;
		}
		mp_progress_show(&pg, "%zu/%zu samples", i + rows, n);
	}
	mp_progress_end(&pg);
	free(xb);
	for (int i = 0; i < nout; i++) {
		struct acts_out *out = &outs[i];
		if (out->layer) {
			if (npz_writer_end(out->w))
				goto out;
		} else {
			struct npy_header ph, sh;
			if (mp_grow((void **)&score, &cap_score, 1, sizeof *score) ||
			    mp_grow((void **)&pred, &cap_pred, 1, sizeof *pred))
				goto out;
			if (npy_header_1d(&ph, NPY_I4, (int64_t)n)
			    || npz_writer_add(out->w, "pred", &ph, pred)
			    || npy_header_2d(&sh, NPY_F4, (int64_t)n, C)
			    || npz_writer_add(out->w, "score", &sh, score))
				goto out;
		}
	}
	rc = 0;
out:
	free(pred);
	free(score);
	return rc;
}

int acts_run(struct model *m, const struct meta *ck, const struct acts_opts *o)
{
	int nout = o->predict ? 1 : o->nlayers;
	struct acts_out *outs = xcalloc((size_t)nout, sizeof *outs);
	struct labels lb = { 0 };
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
		int is_label = !strcmp(name, "y") || !strcmp(name, "y_true")
			       || !strcmp(name, "flipped");
		if (!npz_reader_is_array(r)) {
			k = !strcmp(name, "meta.txt") && !seen_x
			    ? npz_reader_load_meta(r, &dmeta) : npz_reader_skip(r);
		} else if (is_label && seen_x) {
			k = mp_error("%s: '%s' comes after 'x' (labels must come first "
				     "for streaming)", src, name);
		} else if (!strcmp(name, "y") && !lb.y) {
			k = npz_reader_load_i32(r, &lb.y, &lb.ny);
		} else if (!strcmp(name, "y_true") && !lb.y_true) {
			k = npz_reader_load_i32(r, &lb.y_true, &lb.nyt);
		} else if (!strcmp(name, "flipped") && !lb.flipped) {
			int32_t *f = NULL;
			k = npz_reader_load_i32(r, &f, &lb.nfl);
			if (k == 0)
				k = validate_flipped(f, lb.nfl, src);
			if (k == 0) {
				lb.flipped = xmalloc(lb.nfl ? lb.nfl : 1);
				for (size_t i = 0; i < lb.nfl; i++)
					lb.flipped[i] = f[i] != 0;
			}
			free(f);
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
	free(lb.y);
	free(lb.y_true);
	free(lb.flipped);
	meta_release(&dmeta);
	return rc;
}
