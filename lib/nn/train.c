/*
 * train.c: the training loop behind `train`: data in memory, mini-batches
 * in order (or shuffled by the native RNG), forward, softmax cross-entropy,
 * backward with the optimizer applied block by block, per-epoch log and
 * evaluation, checkpoints with everything needed to resume bit for bit.
 */
#include "train.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch.h"
#include "data.h"
#include "par.h"
#include "samples.h"
#include "util.h"
#include "validate.h"

/* ---- data ---- */

/* x, the reader's current member, whole into d: its sample shape first. */
static int load_x(struct train_data *d, struct npz_reader *r, size_t *n)
{
	const struct npy_header *h = npz_reader_header(r);
	const char *src = npz_reader_path(r);
	int chw[3];
	if (validate_float(h, src, "x") || samples_shape(h, src, chw))
		return -1;
	d->shape = (struct shape){ chw[0], chw[1], chw[2] };
	*n = (size_t)h->shape[0];
	return npz_reader_load_f32(r, &d->x, NULL);
}

int train_data_load(struct train_data *d, const char *path)
{
	struct samples_labels l = SAMPLES_LABELS_INIT;
	size_t nx = 0;
	int rc;
	memset(d, 0, sizeof *d);
	meta_init(&d->meta);
	struct npz_reader *r = npz_reader_open(path);
	if (!r)
		return -1;
	const char *src = npz_reader_path(r);
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		if (!npz_reader_is_array(r))
			rc = !strcmp(name, "meta.txt") ? npz_reader_load_meta(r, &d->meta)
						       : npz_reader_skip(r);
		else if (samples_is_label(name))
			rc = samples_labels_take(&l, r);
		else if (!strcmp(name, "x") && !d->x)
			rc = load_x(d, r, &nx);
		else
			rc = npz_reader_skip(r);
		if (rc < 0)
			break;
	}
	if (rc >= 0 && !l.y)
		rc = mp_error("%s: the data has no labels 'y'", src);
	if (rc >= 0 && !d->x)
		rc = mp_error("%s: the data has no 'x'", src);
	if (rc >= 0)
		rc = samples_labels_rows(&l, nx, src, "x");
	if (rc >= 0 && nx == 0)
		rc = mp_error("%s: the data has no samples", src);
	int32_t top = -1;
	if (rc >= 0)
		rc = samples_labels_max(&l, src, &top);
	d->max_label = top;
	if (rc >= 0)
		rc = validate_meta_classes(&d->meta, src, &d->classes_meta);
	npz_reader_free(r);
	d->n = nx;
	d->y = l.y;
	d->y_true = l.y_true;
	d->flipped = l.flipped;
	if (rc < 0) {
		train_data_release(d);
		return -1;
	}
	return 0;
}

void train_data_release(struct train_data *d)
{
	meta_release(&d->meta);
	free(d->y);
	free(d->y_true);
	free(d->flipped);
	free(d->x);
	memset(d, 0, sizeof *d);
}

/* ---- schedule ---- */

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int save_schedule_parse(struct save_schedule *s, const char *text)
{
	memset(s, 0, sizeof *s);
	if (!text || !strcmp(text, "dynamics")) {
		s->dynamics = 1;
		return 0;
	}
	if (!strcmp(text, "all")) {
		s->all = 1;
		return 0;
	}
	char *copy = xstrdup(text), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long a, b;
		char *dash = strchr(tok, '-');
		if (dash)
			*dash = '\0';
		if (parse_long(tok, 0, 1000000, &a)
		    || (dash && parse_long(dash + 1, 0, 1000000, &b))) {
			free(copy);
			save_schedule_release(s);
			return mp_error("invalid --save '%s' (all, dynamics, or epochs "
					"like 0,5,10-20)", text);
		}
		if (!dash)
			b = a;
		if (b < a || b - a > 1000000) {
			free(copy);
			save_schedule_release(s);
			return mp_error("invalid --save range in '%s'", text);
		}
		for (long e = a; e <= b; e++) {
			s->epochs = xreallocarray(s->epochs, s->n + 1, sizeof *s->epochs);
			s->epochs[s->n++] = e;
		}
	}
	free(copy);
	if (s->n == 0)
		return mp_error("invalid --save '%s'", text);
	qsort(s->epochs, s->n, sizeof *s->epochs, cmp_long);
	return 0;
}

int save_schedule_has(const struct save_schedule *s, long e)
{
	if (s->all)
		return 1;
	if (s->dynamics)
		return e <= 2 || (e <= 20 && e % 2 == 0) || (e > 20 && e % 5 == 0);
	return bsearch(&e, s->epochs, s->n, sizeof *s->epochs, cmp_long) != NULL;
}

void save_schedule_release(struct save_schedule *s)
{
	free(s->epochs);
	memset(s, 0, sizeof *s);
}

double train_default_until(const struct meta *dm, struct shape s)
{
	const char *name = meta_get(dm, "data.name");
	/* A name the table lacks is no error here (its message is dropped). */
	const struct data_info *set = name ? data_find(name) : NULL;
	if (set && set->until > 0)
		return set->until;
	return s.c == 1 && s.h == 28 && s.w == 28 ? 99.9 : 100.0;
}

/* ---- the trainer ---- */

struct stats {
	double loss;            /* mean over samples */
	double acc, acc_true;   /* fractions; acc_true < 0: no y_true */
	double test;            /* < 0: no eval set */
};

struct trainer {
	const struct train_opts *o;
	struct train_data data, test;
	int have_test;
	struct model m;
	struct optim opt;
	struct rng rng;
	struct meta base;       /* keys every checkpoint starts from */
	struct save_schedule sched;
	int batch, eval_batch, shuffle;
	uint64_t seed;
	double until;
	long epoch;             /* epochs done */
	float *xb;              /* (batch, sample) for shuffled batches */
	int32_t *yb, *ytb;      /* (batch) */
	int32_t *pred;          /* (batch) */
	int32_t *perm;          /* (n) */
	int log_fd;             /* -1: no log */
	off_t log_len;          /* bytes of complete rows */
	int log_regular;        /* a regular file (cut back on a failed row) */
	int lock_fd;            /* the checkpoint folder's lock, or -1 */
	int level;
};

/* A checkpoint's train.* keys: written in the shortest exact form, read
 * back with an error that names the key. */
static void ckpt_set_double(struct meta *m, const char *key, double v)
{
	char buf[MP_DOUBLE_CHARS];
	meta_set(m, key, "%s", mp_fmt_double(buf, v));
}

static int ckpt_double(const struct meta *m, const char *key, double *v)
{
	const char *s = meta_get(m, key);
	if (!s)
		return 0;
	if (parse_double(s, -1e300, 1e300, v))
		return mp_error_prefix("checkpoint's '%s'", key);
	return 1;
}

static int ckpt_long(const struct meta *m, const char *key, long *v)
{
	const char *s = meta_get(m, key);
	if (!s)
		return 0;
	if (parse_long(s, 0, LONG_MAX, v))
		return mp_error_prefix("checkpoint's '%s'", key);
	return 1;
}

static int save_checkpoint(struct trainer *t, const struct stats *st)
{
	const struct train_opts *o = t->o;
	char *path = xasprintf("%s/epoch-%03ld.npz", o->ckpt_dir, t->epoch);
	struct meta meta;
	meta_init(&meta);
	meta_merge(&meta, &t->base);
	model_set_meta(&t->m, &meta);
	meta_set(&meta, "train.epoch", "%ld", t->epoch);
	meta_set(&meta, "train.optimizer", "%s", optim_kind_name(t->opt.kind));
	ckpt_set_double(&meta, "train.lr", t->opt.lr);
	if (t->opt.kind == OPTIM_SGD) {
		ckpt_set_double(&meta, "train.momentum", t->opt.momentum);
	} else {
		ckpt_set_double(&meta, "train.beta1", t->opt.beta1);
		ckpt_set_double(&meta, "train.beta2", t->opt.beta2);
		ckpt_set_double(&meta, "train.eps", t->opt.eps);
	}
	meta_set(&meta, "train.batch", "%d", t->batch);
	meta_set(&meta, "train.shuffle", "%d", t->shuffle);
	meta_set(&meta, "train.seed", "%llu", (unsigned long long)t->seed);
	meta_set(&meta, "train.step", "%lld", (long long)t->opt.step);
	if (st) {
		meta_set(&meta, "train.loss", "%.6f", st->loss);
		meta_set(&meta, "train.acc", "%.6f", st->acc);
		if (st->acc_true >= 0)
			meta_set(&meta, "train.acc_true", "%.6f", st->acc_true);
	}
	if (st ? st->test >= 0 : 0)
		meta_set(&meta, "train.test_acc", "%.6f", st->test);

	int rc = -1;
	struct npz_writer *w = npz_writer_open(path, t->level);
	if (!w)
		goto out;
	if (npz_writer_add_meta(w, &meta) || model_write(&t->m, w))
		goto fail;
	for (int i = 0; i < t->m.ntensors; i++) {
		const struct model_tensor *mt = &t->m.tensors[i];
		if (mt->buffer)
			continue;
		for (int k = 0; k < optim_nslots(&t->opt); k++) {
			struct npy_header h;
			char name[128];
			snprintf(name, sizeof name, "opt.%s.%s", mt->name,
				 optim_slot_name(&t->opt, k));
			if (npy_header_init(&h, NPY_F4, mt->ndim, mt->shape)
			    || npz_writer_add(w, name, &h, t->opt.slot[k] + mt->off))
				goto fail;
		}
	}
	uint64_t st4[RNG_STATE_WORDS];
	int64_t sv[RNG_STATE_WORDS];
	rng_get_state(&t->rng, st4);
	for (int i = 0; i < RNG_STATE_WORDS; i++)
		memcpy(&sv[i], &st4[i], sizeof sv[i]);
	struct npy_header h;
	if (npy_header_1d(&h, NPY_I8, RNG_STATE_WORDS) || npz_writer_add(w, "rng.state", &h, sv))
		goto fail;
	/* The stream writer's messages name the file already. */
	rc = npz_writer_close(w);
	w = NULL;
	goto out;
fail:
	npz_writer_abort(w);
out:
	meta_release(&meta);
	free(path);
	return rc;
}

/* Restore optimizer state and step from a checkpoint. */
static int load_opt_state(struct trainer *t, const struct npz_bundle *b)
{
	for (int i = 0; i < t->m.ntensors; i++) {
		const struct model_tensor *mt = &t->m.tensors[i];
		if (mt->buffer)
			continue;
		for (int k = 0; k < optim_nslots(&t->opt); k++) {
			char name[128];
			snprintf(name, sizeof name, "opt.%s.%s", mt->name,
				 optim_slot_name(&t->opt, k));
			const struct npz_array *a = npz_bundle_get(b, name);
			if (!a)
				return mp_error("checkpoint has no optimizer state '%s' "
						"(--fresh-optimizer starts a new one)", name);
			if (a->h.dtype != NPY_F4 || a->h.count != mt->count)
				return mp_error("checkpoint's '%s' is not float32 of %zu elements",
						name, mt->count);
			memcpy(t->opt.slot[k] + mt->off, a->data, mt->count * sizeof(float));
		}
	}
	long step = 0;
	if (ckpt_long(&b->meta, "train.step", &step) < 0)
		return -1;
	t->opt.step = step;
	return 0;
}

static int check_labels(const struct train_data *d, int classes, const char *what)
{
	if (d->max_label >= classes)
		return mp_error("%s has label %d but the model has %d classes",
				what, d->max_label, classes);
	if (d->classes_meta && d->classes_meta != classes)
		return mp_error("%s has %d classes (meta.txt) but the model has %d",
				what, d->classes_meta, classes);
	return 0;
}

/* The training and --eval data; the base meta every checkpoint starts
 * from. */
static int load_data(struct trainer *t)
{
	const struct train_opts *o = t->o;
	if (train_data_load(&t->data, o->train_path))
		return -1;
	if (o->eval_path) {
		if (train_data_load(&t->test, o->eval_path))
			return mp_error_prefix("--eval");
		t->have_test = 1;
	}
	meta_init(&t->base);
	meta_merge(&t->base, &t->data.meta);
	return 0;
}

/* A new model: --arch for the data's sample shape and class count. */
static int new_model(struct trainer *t)
{
	const struct train_opts *o = t->o;
	int classes = o->classes ? o->classes
		    : t->data.classes_meta ? t->data.classes_meta
		    : t->data.max_label + 1;
	if (!o->arch)
		return mp_error("no --arch given");
	return model_build(&t->m, o->arch, t->data.shape, classes);
}

/* The model of --resume's checkpoint ck, which must be what --arch and
 * --classes say if given. */
static int resume_model(struct trainer *t, struct npz_bundle *ck)
{
	const struct train_opts *o = t->o;
	if (npz_bundle_load(ck, o->resume))
		return mp_error_prefix("--resume");
	if (model_load(&t->m, ck))
		return mp_error_prefix("%s", o->resume);
	if (o->arch && strcmp(o->arch, t->m.arch))
		return mp_error("%s is a '%s' model, not '%s'", o->resume, t->m.arch, o->arch);
	if (o->classes && o->classes != t->m.classes)
		return mp_error("%s has %d classes, not %d", o->resume, t->m.classes, o->classes);
	/* Provenance the checkpoint carries beyond its data (e.g.
	 * transplant.*) stays with the model. */
	for (size_t i = 0; i < ck->meta.n; i++)
		if (strncmp(ck->meta.keys[i], "train.", 6)
		    && strncmp(ck->meta.keys[i], "model.", 6))
			meta_set(&t->base, ck->meta.keys[i], "%s", ck->meta.vals[i]);
	return 0;
}

static int check_data(const struct trainer *t)
{
	const struct model *m = &t->m;
	if (!model_accepts(m, t->data.shape))
		return mp_error("the data's samples are %dx%dx%d but the model takes %dx%dx%d",
				t->data.shape.c, t->data.shape.h, t->data.shape.w,
				m->input.c, m->input.h, m->input.w);
	if (check_labels(&t->data, m->classes, "the training data"))
		return -1;
	if (!t->have_test)
		return 0;
	if (!model_accepts(m, t->test.shape))
		return mp_error("--eval data's samples are %dx%dx%d but the model takes %dx%dx%d",
				t->test.shape.c, t->test.shape.h, t->test.shape.w,
				m->input.c, m->input.h, m->input.w);
	return check_labels(&t->test, m->classes, "the --eval data");
}

/* What a run is made of, in three layers: the architecture's defaults
 * (arch.h's table), over them a resumed checkpoint's train.* keys, over
 * those the command line. */
struct run_params {
	enum optim_kind opt;
	double lr, momentum;
	int batch, shuffle;
	uint64_t seed;
};

static void params_defaults(struct run_params *p, const struct model *m)
{
	const struct arch *a = arch_find(m->arch);
	MP_ASSERT(a);           /* the model was built from the table */
	p->opt = a->opt;
	p->lr = a->lr;
	p->momentum = 0.9;
	p->batch = arch_batch(a, m->input);
	p->shuffle = 0;
	p->seed = 0;
}

/* The checkpoint's keys where it has them, and its epoch (0 if none). */
static int params_resume(struct run_params *p, const struct train_opts *o,
			 const struct meta *ck, long *epoch)
{
	const char *k = meta_get(ck, "train.optimizer");
	long batch = p->batch, shuffle = p->shuffle, seed = (long)p->seed;
	if (k && optim_kind_parse(k, &p->opt))
		return -1;
	if (o->opt_set && o->opt != p->opt && !o->fresh_optimizer)
		return mp_error("%s was trained with %s: changing the optimizer needs "
				"--fresh-optimizer", o->resume, optim_kind_name(p->opt));
	*epoch = 0;
	if (ckpt_double(ck, "train.lr", &p->lr) < 0
	    || ckpt_double(ck, "train.momentum", &p->momentum) < 0
	    || ckpt_long(ck, "train.batch", &batch) < 0
	    || ckpt_long(ck, "train.shuffle", &shuffle) < 0
	    || ckpt_long(ck, "train.seed", &seed) < 0
	    || ckpt_long(ck, "train.epoch", epoch) < 0)
		return -1;
	if (batch >= 1 && batch <= INT32_MAX)
		p->batch = (int)batch;
	p->shuffle = shuffle != 0;
	p->seed = (uint64_t)seed;
	return 0;
}

static void params_options(struct run_params *p, const struct train_opts *o)
{
	if (o->opt_set)
		p->opt = o->opt;
	if (o->lr >= 0)
		p->lr = o->lr;
	if (o->momentum >= 0)
		p->momentum = o->momentum;
	if (o->batch > 0)
		p->batch = o->batch;
	if (o->shuffle >= 0)
		p->shuffle = o->shuffle;
	if (o->seed_set)
		p->seed = o->seed;
}

/* The optimizer and RNG state --resume's checkpoint holds. */
static int resume_state(struct trainer *t, const struct npz_bundle *ck)
{
	const struct train_opts *o = t->o;
	if (!o->fresh_optimizer && load_opt_state(t, ck))
		return -1;
	const struct npz_array *a = npz_bundle_get(ck, "rng.state");
	if (!a)
		return 0;
	uint64_t s[RNG_STATE_WORDS];
	if (a->h.dtype != NPY_I8 || a->h.count != RNG_STATE_WORDS)
		return mp_error("%s: 'rng.state' is not int64 (%d)", o->resume,
				RNG_STATE_WORDS);
	memcpy(s, a->data, sizeof s);
	return rng_set_state(&t->rng, s);
}

static int setup(struct trainer *t)
{
	const struct train_opts *o = t->o;
	struct npz_bundle ck = { 0 };
	struct run_params p;
	int rc = -1;

	if (load_data(t))
		return -1;
	if (o->resume ? resume_model(t, &ck) : new_model(t))
		goto out;
	if (check_data(t))
		goto out;
	params_defaults(&p, &t->m);
	if (o->resume && params_resume(&p, o, &ck.meta, &t->epoch))
		goto out;
	params_options(&p, o);
	t->batch = p.batch;
	t->shuffle = p.shuffle;
	t->seed = p.seed;
	t->eval_batch = o->eval_batch > 0 ? o->eval_batch : p.batch > 256 ? p.batch : 256;
	t->until = o->until >= 0 ? o->until : train_default_until(&t->data.meta, t->data.shape);

	optim_init(&t->opt, p.opt, p.lr, t->m.nparams, t->m.params, t->m.grads);
	if (p.opt == OPTIM_SGD) {
		t->opt.momentum = p.momentum;
		optim_reset(&t->opt);
	}
	rng_seed(&t->rng, t->seed);
	if (o->resume) {
		if (resume_state(t, &ck))
			goto out;
	} else {
		model_init_params(&t->m, &t->rng);
	}
	rc = 0;
out:
	npz_bundle_release(&ck);
	return rc;
}

static double evaluate(struct trainer *t)
{
	const struct train_data *d = &t->test;
	size_t sz = shape_size(d->shape), correct = 0;
	int C = t->m.classes;
	t->m.mode = MODEL_EVAL;
	for (size_t i = 0; i < d->n; i += (size_t)t->eval_batch) {
		int B = (int)(d->n - i < (size_t)t->eval_batch ? d->n - i : (size_t)t->eval_batch);
		model_forward(&t->m, d->x + i * sz, B);
		const float *l = model_output(&t->m);
		const int32_t *truth = d->y_true ? d->y_true : d->y;
		for (int r = 0; r < B; r++)
			correct += nn_argmax(l + (size_t)r * C, C) == truth[i + r];
	}
	return (double)correct / (double)d->n;
}

static void progress(struct mp_progress *p, const struct trainer *t, size_t done,
		     size_t total, double loss)
{
	int width = 30, fill = (int)((double)width * done / total);
	mp_progress_show(p, "epoch %ld [%.*s%*s] %3d%% loss %.4f", t->epoch + 1, fill,
			 "==============================", width - fill, "",
			 (int)(100.0 * done / total), loss);
}

/* One epoch; -1 on interruption or a diverged loss. */
double train_step(struct model *m, struct optim *o, const float *x,
		  const int32_t *y, int B, int32_t *pred)
{
	int C = m->classes;
	model_forward(m, x, B);
	const float *l = model_output(m);
	double loss = softmax_xent_forward(m->prob, l, y, B, C);
	if (!isfinite(loss))
		return loss;
	if (pred)
		for (int r = 0; r < B; r++)
			pred[r] = nn_argmax(l + (size_t)r * C, C);
	softmax_xent_backward(model_doutput(m), m->prob, y, B, C);
	optim_begin_step(o);
	struct nn_hook hook = optim_hook(o);
	model_backward(m, B, &hook);
	return loss;
}

static int run_epoch(struct trainer *t, struct stats *st)
{
	const struct train_data *d = &t->data;
	size_t sz = shape_size(d->shape), n = d->n;
	size_t correct = 0, correct_true = 0;
	double loss_sum = 0;
	struct mp_progress pg;
	mp_progress_start(&pg, !t->o->quiet, 0.2, 72);
	if (t->shuffle) {
		for (size_t i = 0; i < n; i++)
			t->perm[i] = (int32_t)i;
		rng_shuffle_i32(&t->rng, t->perm, n);
	}
	t->m.mode = MODEL_TRAIN;        /* batch norm: batch statistics */
	for (size_t i = 0; i < n; i += (size_t)t->batch) {
		int B = (int)(n - i < (size_t)t->batch ? n - i : (size_t)t->batch);
		const float *x;
		const int32_t *y, *yt;
		if (t->shuffle) {
			for (int r = 0; r < B; r++) {
				size_t j = (size_t)t->perm[i + r];
				memcpy(t->xb + (size_t)r * sz, d->x + j * sz, sz * sizeof(float));
				t->yb[r] = d->y[j];
				if (d->y_true)
					t->ytb[r] = d->y_true[j];
			}
			x = t->xb;
			y = t->yb;
			yt = d->y_true ? t->ytb : NULL;
		} else {
			x = d->x + i * sz;
			y = d->y + i;
			yt = d->y_true ? d->y_true + i : NULL;
		}
		int32_t *pred = t->pred;
		double loss = train_step(&t->m, &t->opt, x, y, B, pred);
		if (!isfinite(loss))
			return mp_error("the loss is %g at epoch %ld (learning rate too high?)",
					loss, t->epoch + 1);
		loss_sum += loss * B;
		for (int r = 0; r < B; r++) {
			correct += pred[r] == y[r];
			if (yt)
				correct_true += pred[r] == yt[r];
		}
		if (mp_interrupted)
			return mp_error("interrupted in epoch %ld; the last checkpoint "
					"stays as it was", t->epoch + 1);
		progress(&pg, t, i + (size_t)B, n, loss_sum / (double)(i + (size_t)B));
	}
	mp_progress_end(&pg);
	st->loss = loss_sum / (double)n;
	st->acc = (double)correct / (double)n;
	st->acc_true = d->y_true ? (double)correct_true / (double)n : -1;
	st->test = t->have_test ? evaluate(t) : -1;
	return 0;
}

/* Write all of buf; -1 with errno set on failure. */
static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t k = write(fd, buf, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = ENOSPC;
			return -1;
		}
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Append one complete row to the log. A row that could not be written
 * whole is cut off again, so the log only ever holds complete rows. */
static int log_append(struct trainer *t, const char *row)
{
	size_t n = strlen(row);
	if (write_all(t->log_fd, row, n)) {
		int e = errno;
		if (t->log_regular && ftruncate(t->log_fd, t->log_len) == 0)
			lseek(t->log_fd, t->log_len, SEEK_SET);
		return mp_error("cannot write '%s': %s", t->o->log_path, strerror(e));
	}
	t->log_len += (off_t)n;
	return 0;
}

static int log_row(struct trainer *t, const struct stats *st, double secs)
{
	char a[32] = "NA", b[32] = "NA", c[32] = "NA", e[32] = "NA";
	if (st->loss >= 0) {
		snprintf(a, sizeof a, "%.6f", st->loss);
		snprintf(b, sizeof b, "%.6f", st->acc);
	}
	if (st->acc_true >= 0)
		snprintf(c, sizeof c, "%.6f", st->acc_true);
	if (st->test >= 0)
		snprintf(e, sizeof e, "%.6f", st->test);
	if (t->log_fd >= 0) {
		char row[256];
		snprintf(row, sizeof row, "%ld\t%s\t%s\t%s\t%s\n", t->epoch, a, b, c, e);
		if (log_append(t, row))
			return -1;
	}
	if (t->o->quiet)
		return 0;
	if (st->loss < 0) {
		if (st->test >= 0)
			fprintf(stderr, "%s: epoch %ld: test %.2f%%\n", mp_progname,
				t->epoch, 100 * st->test);
		return 0;
	}
	fprintf(stderr, "%s: epoch %ld: loss %.4f, train %.2f%%", mp_progname,
		t->epoch, st->loss, 100 * st->acc);
	if (st->acc_true >= 0)
		fprintf(stderr, " (true labels %.2f%%)", 100 * st->acc_true);
	if (st->test >= 0)
		fprintf(stderr, ", test %.2f%%", 100 * st->test);
	fprintf(stderr, ", %.1f s\n", secs);
	return 0;
}

static const char log_header[] = "epoch\tloss\ttrain_acc\ttrain_acc_true\ttest_acc\n";

/*
 * Open the per-epoch log. A resumed run continues the log it finds: the
 * rows up to the checkpoint's epoch stay and later ones go (a run stopped
 * between checkpoints logged epochs it will now train again), so the log
 * ends as an uninterrupted run's would. A file there that is not a train
 * log is left alone: an error.
 *
 * Nothing is ever half written: the first contents (the header, or the
 * rows a resumed run keeps) go to a temporary beside the log, renamed over
 * it only when complete (a full disk leaves the old log, or none, never an
 * empty one), and each row is then appended whole (log_append). A device
 * or FIFO is written directly, never replaced.
 */
static int open_log(struct trainer *t, const char *path)
{
	char *line = NULL, *tmp = NULL;
	struct mp_buf keep = MP_BUF_INIT;      /* the rows a resumed run keeps */
	size_t cap = 0;
	int ret = -1, fd = -1;
	FILE *in = NULL;
	struct stat sb;
	int exists = stat(path, &sb) == 0;
	int special = exists && !S_ISREG(sb.st_mode);

	if (t->o->resume && exists && !special) {
		in = fopen(path, "r");
		if (!in) {
			mp_error("cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		ssize_t len;
		for (long lineno = 1; (len = getline(&line, &cap, in)) > 0; lineno++) {
			if (line[len - 1] != '\n')
				break;          /* a row cut short by a kill */
			if (lineno == 1) {
				if (strcmp(line, log_header)) {
					mp_error("'%s' is not a train log (its first line is "
						 "not the header); not overwriting it", path);
					goto out;
				}
			} else {
				char *end;
				errno = 0;
				long e = strtol(line, &end, 10);
				if (end == line || *end != '\t' || errno) {
					mp_error("'%s', line %ld: not a train log row", path, lineno);
					goto out;
				}
				if (e > t->epoch)
					break;
			}
			mp_buf_addstr(&keep, line);
		}
		if (ferror(in)) {
			mp_error("cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
	}
	const char *text = keep.len ? keep.s : log_header;
	size_t len = keep.len ? keep.len : strlen(log_header);
	if (special) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			mp_error("cannot write '%s': %s", path, strerror(errno));
			goto out;
		}
	} else if ((fd = mp_tmp_create(path, &tmp)) < 0) {
		goto out;
	}
	if (write_all(fd, text, len)) {
		mp_error("cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	if (tmp) {
		int bad = mp_tmp_commit(tmp, path);     /* discards it on failure */
		free(tmp);
		tmp = NULL;
		if (bad)
			goto out;
	}
	t->log_fd = fd;
	fd = -1;
	t->log_len = (off_t)len;
	t->log_regular = !special;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		mp_tmp_discard(tmp);
		free(tmp);
	}
	if (in)
		fclose(in);
	mp_buf_release(&keep);
	free(line);
	return ret;
}

/*
 * A run killed while it wrote a checkpoint leaves the stream writer's
 * temporary, DIR/epoch-NNN.npz.tmp.XXXXXX (mp_tmp_create), behind. Only
 * names of exactly that form go, and only while this run holds the
 * folder's lock: no other train can be writing one.
 */
static int is_stale_tmp(const char *name)
{
	if (strncmp(name, "epoch-", 6))
		return 0;
	const char *p = name + 6, *q = p;
	while (*q >= '0' && *q <= '9')
		q++;
	if (q - p < 3 || strncmp(q, ".npz.tmp.", 9))
		return 0;
	q += 9;
	int n = 0;
	for (; *q; q++, n++)
		if (!(*q >= '0' && *q <= '9') && !(*q >= 'a' && *q <= 'z')
		    && !(*q >= 'A' && *q <= 'Z'))
			return 0;
	return n == 6;
}

static int remove_stale_tmps(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return mp_error("cannot read '%s': %s", dir, strerror(errno));
	struct dirent *e;
	int rc = 0;
	errno = 0;
	while ((e = readdir(d))) {
		if (!is_stale_tmp(e->d_name))
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		if (unlink(path) && errno != ENOENT)
			rc = mp_error("cannot remove '%s': %s", path, strerror(errno));
		else
			warn("removed '%s', left by a run that was killed", path);
		free(path);
		if (rc)
			break;
		errno = 0;
	}
	if (!e && errno && !rc)
		rc = mp_error("cannot read '%s': %s", dir, strerror(errno));
	closedir(d);
	return rc;
}

int train_run(const struct train_opts *o)
{
	struct trainer t;
	memset(&t, 0, sizeof t);
	t.o = o;
	t.level = o->compress;
	t.log_fd = t.lock_fd = -1;
	int rc = -1;
	if (save_schedule_parse(&t.sched, o->save))
		return -1;
	/* The folder only once the input proved good; then ours alone. */
	if (setup(&t))
		goto out;
	if (o->ckpt_dir && (mp_mkdir_p(o->ckpt_dir)
			    || (t.lock_fd = mp_dir_lock(o->ckpt_dir)) < 0
			    || remove_stale_tmps(o->ckpt_dir)))
		goto out;
	size_t sz = shape_size(t.data.shape);
	t.xb = xaligned_calloc((size_t)t.batch * sz, sizeof(float));
	t.yb = xcalloc((size_t)t.batch, sizeof *t.yb);
	t.ytb = xcalloc((size_t)t.batch, sizeof *t.ytb);
	t.pred = xcalloc((size_t)t.batch, sizeof *t.pred);
	t.perm = xcalloc(t.data.n, sizeof *t.perm);
	if (o->log_path && open_log(&t, o->log_path))
		goto out;
	char until[64];
	if (isinf(t.until))
		snprintf(until, sizeof until, "epoch %ld", o->max_epochs);
	else
		snprintf(until, sizeof until, "%g%% (or epoch %ld)", t.until, o->max_epochs);
	if (!o->quiet)
		fprintf(stderr, "%s: %s, %zu parameters, %s lr %g, batch %d, %zu samples "
		"%dx%dx%d, %d classes, until %s, %d threads\n", mp_progname,
		t.m.arch, t.m.nparams, optim_kind_name(t.opt.kind), t.opt.lr, t.batch,
		t.data.n, t.m.input.c, t.m.input.h, t.m.input.w, t.m.classes,
		until, par_threads());

	if (!o->resume) {
		struct stats st0 = { -1, -1, -1, t.have_test ? evaluate(&t) : -1 };
		if (log_row(&t, &st0, 0))
			goto out;
		if (o->ckpt_dir && (save_schedule_has(&t.sched, 0) || o->max_epochs == 0)
		    && save_checkpoint(&t, t.have_test ? &st0 : NULL))
			goto out;
	} else if (t.epoch >= o->max_epochs) {
		warn("%s is at epoch %ld already (--max-epochs %ld): nothing to do",
		     o->resume, t.epoch, o->max_epochs);
	}
	while (t.epoch < o->max_epochs) {
		struct stats st;
		double t0 = mp_now();
		if (run_epoch(&t, &st))
			goto out;
		t.epoch++;
		if (log_row(&t, &st, mp_now() - t0))
			goto out;
		int done = t.epoch >= o->max_epochs || 100.0 * st.acc >= t.until;
		if (o->ckpt_dir && (done || save_schedule_has(&t.sched, t.epoch))
		    && save_checkpoint(&t, &st))
			goto out;
		if (mp_interrupted) {
			mp_error("interrupted after epoch %ld (its checkpoint is complete)",
				 t.epoch);
			goto out;
		}
		if (done) {
			if (100.0 * st.acc >= t.until && !o->quiet)
				fprintf(stderr, "%s: training accuracy %.2f%% reached %g%% "
					"at epoch %ld\n", mp_progname, 100 * st.acc, t.until,
					t.epoch);
			break;
		}
	}
	rc = 0;
out:
	if (t.log_fd >= 0 && close(t.log_fd) && rc == 0)
		rc = mp_error("cannot write '%s': %s", o->log_path, strerror(errno));
	if (t.lock_fd >= 0)
		close(t.lock_fd);
	free(t.xb);
	free(t.yb);
	free(t.ytb);
	free(t.pred);
	free(t.perm);
	optim_release(&t.opt);
	if (t.m.layers)
		model_release(&t.m);
	meta_release(&t.base);
	train_data_release(&t.data);
	if (t.have_test)
		train_data_release(&t.test);
	save_schedule_release(&t.sched);
	return rc;
}
