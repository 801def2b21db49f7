/*
 * probe_io.c: the scaffolding every probe stands on (probe_io.h): the
 * double-buffered row reader, the training stream up to its rows (labels
 * and classes through samples.h), the keys of a fitted probe, and the
 * prediction loop that copies labels through and writes `pred` and
 * `score`.
 */
#include "probe_io.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "validate.h"

/* ---------------------------------------------------------------- rows */

/* The reader thread fills one buffer while the caller consumes the other. */
struct rowpipe {
	struct npz_reader *r;
	size_t n, d, rb;           /* rows, width, rows per block */
	int f64;                   /* blocks of double, else float */
	void *buf[2];
	size_t cap[2];             /* elements each buffer holds so far */
	size_t first[2], rows[2];
	int full[2];
	int failed, stop;
	char *msg;                 /* the reader's message when it failed */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* m rows into buffer b, grown in steps of GROW_VALUES as the values
 * arrive: memory follows the data, never the header's claim alone. */
#define GROW_VALUES ((size_t)1 << 18)

static int read_block(struct rowpipe *p, int b, size_t m)
{
	size_t n = m * p->d, esz = p->f64 ? sizeof(double) : sizeof(float);
	for (size_t done = 0; done < n; ) {
		size_t k = n - done < GROW_VALUES ? n - done : GROW_VALUES;
		if (p->cap[b] < done + k) {
			size_t want = p->cap[b] * 2 > done + k ? p->cap[b] * 2 : done + k;
			if (want > n)
				want = n;
			p->buf[b] = xreallocarray(p->buf[b], want, esz);
			p->cap[b] = want;
		}
		char *at = (char *)p->buf[b] + done * esz;
		int rc = p->f64 ? npz_reader_read_values_f64(p->r, (double *)at, k)
				: npz_reader_read_values_f32(p->r, (float *)at, k);
		if (rc)
			return rc;
		done += k;
	}
	return 0;
}

static void *rowpipe_reader(void *arg)
{
	struct rowpipe *p = arg;
	for (size_t row = 0, b = 0; row < p->n; b ^= 1) {
		size_t m = p->n - row < p->rb ? p->n - row : p->rb;
		pthread_mutex_lock(&p->mu);
		while (p->full[b] && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		int rc = read_block(p, (int)b, m);
		pthread_mutex_lock(&p->mu);
		if (rc) {
			p->failed = 1;
			p->msg = xstrdup(mp_errmsg());
		} else {
			p->first[b] = row;
			p->rows[b] = m;
			p->full[b] = 1;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc)
			break;
		row += m;
	}
	return NULL;
}

int probe_read_rows(struct npz_reader *r, size_t n, size_t d, int f64, size_t bytes,
		    probe_consume_fn consume, void *ctx)
{
	struct rowpipe p;
	size_t esz = f64 ? sizeof(double) : sizeof(float);
	pthread_t tid;
	int ret = 0;

	memset(&p, 0, sizeof p);
	p.r = r;
	p.n = n;
	p.d = d;
	p.f64 = f64;
	p.rb = bytes / (d * esz);
	if (p.rb < 1)
		p.rb = 1;
	if (p.rb > n)
		p.rb = n;
	if (!n)
		return 0;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (pthread_create(&tid, NULL, rowpipe_reader, &p)) {
		pthread_mutex_destroy(&p.mu);
		pthread_cond_destroy(&p.cv);
		return mp_error("cannot start a thread");
	}
	for (size_t row = 0, b = 0; row < n && !ret; b ^= 1) {
		pthread_mutex_lock(&p.mu);
		while (!p.full[b] && !p.failed)
			pthread_cond_wait(&p.cv, &p.mu);
		int full = p.full[b];
		pthread_mutex_unlock(&p.mu);
		if (!full) {
			mp_error("%s", p.msg);
			ret = -1;
			break;
		}
		ret = consume(ctx, p.buf[b], p.first[b], p.rows[b]);
		row += p.rows[b];
		pthread_mutex_lock(&p.mu);
		p.full[b] = 0;
		if (ret)
			p.stop = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_join(tid, NULL);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	free(p.buf[0]);
	free(p.buf[1]);
	free(p.msg);
	return ret;
}

int probe_rows_finite(const void *block, int f64, size_t m, size_t d, size_t first,
		      const char *src, const char *member)
{
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < d; j++) {
			double v = f64 ? ((const double *)block)[i * d + j]
				       : ((const float *)block)[i * d + j];
			if (!isfinite(v))
				return mp_error("%s: row %zu of '%s' is not finite (%g in column %zu)",
						src, first + i, member, v, j);
		}
	return 0;
}

const char *probe_layer(const struct meta *m, const char *member)
{
	const char *l = meta_get(m, "dumpacts.layer");
	if (l)
		return l;
	return member && !strcmp(member, "x") ? "input" : "unknown";
}

/* ---------------------------------------------------------------- fit */

/* Up to the rows: meta.txt and the labels, then the rows' header. */
static int train_head(struct probe_train *t)
{
	int rc;
	while ((rc = npz_reader_next(t->r)) > 0) {
		const char *name = npz_reader_name(t->r);
		if (!npz_reader_is_array(t->r)) {
			if (!strcmp(name, "meta.txt") && npz_reader_load_meta(t->r, &t->meta))
				return -1;
		} else if (samples_is_label(name)) {
			if (samples_labels_take(&t->l, t->r))
				return -1;
		} else if (!strcmp(name, "act") || !strcmp(name, "x")) {
			snprintf(t->member, sizeof t->member, "%s", name);
			return 0;
		}
	}
	if (rc < 0)
		return -1;
	return mp_error("%s: no 'act' or 'x' member to fit on", t->src);
}

int probe_train_open(struct probe_train *t, const char *path, const char *labels,
		     int progress)
{
	memset(t, 0, sizeof *t);
	meta_init(&t->meta);
	t->labels = labels;
	t->progress = progress;
	if (!(t->r = npz_reader_open(path)))
		return -1;
	t->src = npz_reader_path(t->r);
	if (train_head(t))
		goto fail;
	t->lab = !strcmp(labels, "y_true") ? t->l.y_true : t->l.y;
	if (!t->lab) {
		mp_error("%s: no '%s' member before '%s' (labels must come first)",
			 t->src, labels, t->member);
		goto fail;
	}
	if (samples_rows(npz_reader_header(t->r), t->src, t->member, &t->rows, &t->dim) ||
	    samples_labels_rows(&t->l, t->rows, t->src, t->member))
		goto fail;
	if (!t->rows || !t->dim) {
		mp_error("%s: member '%s' is empty", t->src, t->member);
		goto fail;
	}
	if (samples_classes(&t->meta, &t->l, t->src, &t->classes))
		goto fail;
	t->count = xcalloc((size_t)t->classes, sizeof *t->count);
	for (size_t i = 0; i < t->rows; i++)
		t->count[t->lab[i]]++;
	for (int c = 0; c < t->classes; c++)
		if (t->count[c] > t->max_count)
			t->max_count = t->count[c];
	return 0;
fail:
	probe_train_release(t);
	return -1;
}

struct train_read {
	struct probe_train *t;
	int f64;
	struct mp_progress pg;
	probe_consume_fn consume;
	void *ctx;
};

/* Each block checked, then consumed, then counted on the progress line. */
static int train_block(void *ctx, const void *block, size_t first, size_t m)
{
	struct train_read *tr = ctx;
	struct probe_train *t = tr->t;
	if (probe_rows_finite(block, tr->f64, m, t->dim, first, t->src, t->member) ||
	    tr->consume(tr->ctx, block, first, m))
		return -1;
	if (first + m < t->rows)
		mp_progress_show(&tr->pg, "reading %zu/%zu rows", first + m, t->rows);
	else
		mp_progress_end(&tr->pg);
	return 0;
}

int probe_train_read(struct probe_train *t, int f64, probe_consume_fn consume, void *ctx)
{
	struct train_read tr = { t, f64, { 0, 0, 0, 0 }, consume, ctx };
	mp_progress_start(&tr.pg, t->progress, 0, 60);
	if (probe_read_rows(t->r, t->rows, t->dim, f64, PROBE_READ_BYTES, train_block, &tr))
		return -1;
	/* The rest of the stream must be sound too. */
	return npz_reader_drain(t->r);
}

void probe_train_release(struct probe_train *t)
{
	npz_reader_free(t->r);
	meta_release(&t->meta);
	samples_labels_release(&t->l);
	free(t->count);
	memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- meta */

void probe_meta_set(struct meta *m, const char *prefix, const char *name,
		    const char *fmt, ...)
{
	char *key = xasprintf("%s.%s", prefix, name);
	va_list ap;
	va_start(ap, fmt);
	char *v = xvasprintf(fmt, ap);
	va_end(ap);
	meta_set(m, key, "%s", v);
	free(v);
	free(key);
}

void probe_meta_source(struct meta *m, const char *prefix, const char *member,
		       const struct meta *train_meta, const char *labels)
{
	meta_set(m, "probe", "%s", prefix);
	meta_set(m, "probe.layer", "%s", probe_layer(train_meta, member));
	meta_set(m, "probe.member", "%s", member);
	probe_meta_set(m, prefix, "labels", "%s", labels);
}

void probe_meta_counts(struct meta *m, const char *prefix, int classes, size_t dim,
		       size_t rows, const size_t *count)
{
	struct mp_buf cnt = MP_BUF_INIT;
	for (int c = 0; c < classes; c++)
		mp_buf_printf(&cnt, "%s%zu", c ? " " : "", count[c]);
	probe_meta_set(m, prefix, "classes", "%d", classes);
	probe_meta_set(m, prefix, "dim", "%zu", dim);
	probe_meta_set(m, prefix, "n", "%zu", rows);
	probe_meta_set(m, prefix, "count", "%s", cnt.s ? cnt.s : "");
	mp_buf_release(&cnt);
}

/* ---------------------------------------------------------------- probe streams */

int probe_stream_write(const char *out, int level, const struct meta *m,
		       const struct probe_member *mem, int n)
{
	struct npz_writer *w = npz_writer_open(out, level);
	int bad;
	if (!w)
		return -1;
	bad = npz_writer_add_meta(w, m);
	for (int i = 0; i < n && !bad; i++)
		bad = npz_writer_add(w, mem[i].name, &mem[i].h, mem[i].data);
	if (!bad)
		return npz_writer_close(w);
	npz_writer_abort(w);
	return -1;
}

int probe_stream_load(struct npz_bundle *b, const char *path, const char *kind,
		      const char *const *members, int n, const char **src)
{
	*src = path && strcmp(path, "-") ? path : "standard input";
	if (npz_bundle_load(b, path))
		return -1;
	const char *k = meta_get(&b->meta, "probe");
	if (k && strcmp(k, kind)) {
		mp_error("%s: this is a '%s' probe, not a %s probe", *src, k, kind);
		goto fail;
	}
	for (int i = 0; i < n; i++)
		if (!npz_bundle_get(b, members[i])) {
			mp_error("%s: not a %s probe (no '%s' member)", *src, kind, members[i]);
			goto fail;
		}
	return 0;
fail:
	npz_bundle_release(b);
	return -1;
}

int probe_stream_f64(const struct npz_bundle *b, const char *name, const char *src,
		     size_t dim, double *out)
{
	const struct npz_array *a = npz_bundle_get(b, name);
	MP_ASSERT(a && (a->h.dtype == NPY_F4 || a->h.dtype == NPY_F8));
	for (size_t i = 0; i < a->h.count; i++) {
		out[i] = a->h.dtype == NPY_F8 ? ((const double *)a->data)[i]
					      : ((const float *)a->data)[i];
		if (!isfinite(out[i]))
			return mp_error("%s: '%s' has a non-finite value in row %zu",
					src, name, i / dim);
	}
	return 0;
}

/* ---------------------------------------------------------------- predict */

struct predict {
	struct npz_reader *r;
	struct npz_writer *w;
	const char *src;
	const struct probe_scorer *sc;
	const struct meta *add;
	struct meta m;             /* the input's meta.txt */
	int meta_done;             /* written (before the first array) */
	struct samples_labels l;   /* the label members copied through */
	char member[8];            /* "act" or "x": the rows scored */
	size_t n;                  /* their number */
	float *score;              /* (cap, C) */
	int32_t *pred;             /* (cap) */
	size_t cap_score, cap_pred; /* elements allocated */
};

/* Before the first array: meta.txt out, the input's keys then `add`. A
 * stream that states another class count is not the one the probe was
 * fitted for. */
static int predict_meta(struct predict *p)
{
	int c;
	if (samples_classes_given(&p->m, p->src, p->sc->classes, "the probe", &c))
		return -1;
	if (p->add)
		meta_merge(&p->m, p->add);
	p->meta_done = 1;
	return npz_writer_add_meta(p->w, &p->m);
}

/* A label member, checked against the probe's classes, copied through:
 * y and y_true as int32, flipped as uint8. */
static int predict_label(struct predict *p)
{
	const char *name = npz_reader_name(p->r);
	struct samples_labels *l = &p->l;
	struct npy_header h;
	if (samples_labels_take(l, p->r))
		return -1;
	if (!strcmp(name, "flipped"))
		return npy_header_1d(&h, NPY_U1, (int64_t)l->n_flipped) ||
		       npz_writer_add(p->w, name, &h, l->flipped);
	int yt = !strcmp(name, "y_true");
	const int32_t *v = yt ? l->y_true : l->y;
	size_t n = yt ? l->n_y_true : l->n_y;
	return validate_labels(v, n, p->sc->classes, p->src, name) ||
	       npy_header_1d(&h, NPY_I4, (int64_t)n) || npz_writer_add(p->w, name, &h, v);
}

/* Scores a block of rows into pred and score, which grow as the rows
 * arrive: a header that claims 2^31 rows costs nothing until they come. */
static int predict_block(void *ctx, const void *block, size_t first, size_t m)
{
	struct predict *p = ctx;
	const struct probe_scorer *sc = p->sc;
	size_t C = (size_t)sc->classes, end = first + m, need;
	if (probe_rows_finite(block, 0, m, sc->dim, first, p->src, p->member))
		return -1;
	if (mp_mul_size(end, C, &need) ||
	    mp_grow((void **)&p->score, &p->cap_score, need, sizeof *p->score) ||
	    mp_grow((void **)&p->pred, &p->cap_pred, end, sizeof *p->pred))
		return mp_error("%s: %zu rows of %zu scores are too many", p->src, end, C);
	if (sc->score(sc->ctx, block, m, p->score + first * C, p->pred + first))
		return mp_error_prefix("%s", p->src);
	return 0;
}

/* The rows: `act` or `x`, of the probe's width. */
static int predict_rows(struct predict *p)
{
	const char *name = npz_reader_name(p->r);
	size_t d;
	snprintf(p->member, sizeof p->member, "%s", name);
	if (samples_rows(npz_reader_header(p->r), p->src, name, &p->n, &d))
		return -1;
	if (d != p->sc->dim)
		return mp_error("%s: rows of '%s' have %zu values but the probe has D=%zu",
				p->src, name, d, p->sc->dim);
	if (p->sc->probe_meta) {
		const char *pl = meta_get(p->sc->probe_meta, "probe.layer");
		const char *il = probe_layer(&p->m, name);
		if (pl && strcmp(pl, il))
			warn("the probe was fitted on layer '%s', these rows are from '%s'",
			     pl, il);
	}
	return probe_read_rows(p->r, p->n, d, 0, PROBE_PREDICT_BYTES, predict_block, p);
}

/* Every member in order; the rows of the first `act` or `x` scored. */
static int predict_members(struct predict *p)
{
	int rc;
	while ((rc = npz_reader_next(p->r)) > 0) {
		const char *name = npz_reader_name(p->r);
		if (!npz_reader_is_array(p->r)) {
			if (!strcmp(name, "meta.txt") && !p->meta_done &&
			    npz_reader_load_meta(p->r, &p->m))
				return -1;
			continue;
		}
		if (!p->meta_done && predict_meta(p))
			return -1;
		if (samples_is_label(name)) {
			if (predict_label(p))
				return -1;
		} else if (!p->member[0] && (!strcmp(name, "act") || !strcmp(name, "x"))) {
			if (predict_rows(p))
				return -1;
		}
	}
	return rc < 0 ? -1 : 0;
}

/* pred and score after the members; every label member as long as the
 * rows. No rows: empty members (the buffers are never NULL for the
 * writer). */
static int predict_finish(struct predict *p)
{
	struct npy_header hp, hs;
	if (!p->member[0])
		return mp_error("%s: no 'act' or 'x' member to predict", p->src);
	if (samples_labels_rows(&p->l, p->n, p->src, p->member))
		return -1;
	if (mp_grow((void **)&p->score, &p->cap_score, 1, sizeof *p->score) ||
	    mp_grow((void **)&p->pred, &p->cap_pred, 1, sizeof *p->pred))
		return -1;
	return npy_header_1d(&hp, NPY_I4, (int64_t)p->n) ||
	       npy_header_2d(&hs, NPY_F4, (int64_t)p->n, (int64_t)p->sc->classes) ||
	       npz_writer_add(p->w, "pred", &hp, p->pred) ||
	       npz_writer_add(p->w, "score", &hs, p->score);
}

int probe_predict(const char *in, const char *out, int level,
		  const struct probe_scorer *sc, const struct meta *add)
{
	struct predict p;
	int ret = -1;

	memset(&p, 0, sizeof p);
	meta_init(&p.m);
	p.sc = sc;
	p.add = add;
	if (!(p.r = npz_reader_open(in)))
		return -1;
	p.src = npz_reader_path(p.r);
	if (!(p.w = npz_writer_open(out, level)) || predict_members(&p) ||
	    predict_finish(&p))
		goto out;
	ret = npz_writer_close(p.w);
	p.w = NULL;
out:
	if (p.w)
		npz_writer_abort(p.w);
	npz_reader_free(p.r);
	meta_release(&p.m);
	samples_labels_release(&p.l);
	free(p.pred);
	free(p.score);
	return ret;
}
