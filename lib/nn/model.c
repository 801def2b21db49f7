/*
 * model.c: networks as layer lists over activation slots, the building
 * blocks the architectures' builders use (lib/nn/arch.c and the presets sit
 * above this file: it knows no architecture), forward and backward
 * dispatch, PyTorch default initialisation, the tensors of a checkpoint.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"
#include "util.h"

size_t shape_size(struct shape s)
{
	return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

/* ---- building ---- */

void model_begin(struct model *m, const char *arch, struct shape input, int classes)
{
	memset(m, 0, sizeof *m);
	snprintf(m->arch, sizeof m->arch, "%s", arch);
	m->input = input;
	m->classes = classes;
	m->slots = xmalloc(sizeof *m->slots);
	m->alias = xmalloc(sizeof *m->alias);
	m->readers = xcalloc(1, sizeof *m->readers);
	m->slots[0] = input;
	m->alias[0] = -1;
	m->nslots = 1;
}

static int add_slot(struct model *m, struct shape s, int alias)
{
	int i = m->nslots++;
	m->slots = xreallocarray(m->slots, (size_t)m->nslots, sizeof *m->slots);
	m->alias = xreallocarray(m->alias, (size_t)m->nslots, sizeof *m->alias);
	m->readers = xreallocarray(m->readers, (size_t)m->nslots, sizeof *m->readers);
	m->slots[i] = s;
	m->alias[i] = alias;
	m->readers[i] = 0;
	return i;
}

static struct layer *add_layer(struct model *m, enum layer_kind kind, int in,
			       const char *name)
{
	MP_ASSERT(in >= 0 && in < m->nslots);
	m->layers = xreallocarray(m->layers, (size_t)m->nlayers + 1, sizeof *m->layers);
	struct layer *l = &m->layers[m->nlayers++];
	memset(l, 0, sizeof *l);
	l->kind = kind;
	l->in = in;
	l->weight = l->bias = -1;
	l->in2 = l->stats = -1;
	snprintf(l->name, sizeof l->name, "%s", name ? name : "");
	m->readers[in]++;
	return l;
}

static int add_tensor_in(struct model *m, const char *layer, const char *what,
			 int ndim, const int64_t *shape, int buffer,
			 enum npy_dtype dtype)
{
	m->tensors = xreallocarray(m->tensors, (size_t)m->ntensors + 1, sizeof *m->tensors);
	struct model_tensor *t = &m->tensors[m->ntensors];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s.%s", layer, what);
	t->ndim = ndim;
	t->count = 1;
	for (int i = 0; i < ndim; i++) {
		t->shape[i] = shape[i];
		t->count *= (size_t)shape[i];
	}
	t->buffer = buffer;
	t->dtype = dtype;
	if (buffer) {
		t->off = m->nbuffers;
		/* An int64 counter takes the room of two floats. */
		m->nbuffers += dtype == NPY_I8 ? 2 * t->count : t->count;
	} else {
		t->off = m->nparams;
		m->nparams += t->count;
	}
	return m->ntensors++;
}

static int add_tensor(struct model *m, const char *layer, const char *what,
		      int ndim, const int64_t *shape)
{
	return add_tensor_in(m, layer, what, ndim, shape, 0, NPY_F4);
}

int model_add_linear(struct model *m, int in, const char *name, int units,
		     int bias, int relu)
{
	size_t I = shape_size(m->slots[in]);
	if (units < 1 || I > INT32_MAX)
		return mp_error("layer '%s': invalid size", name);
	struct layer *l = add_layer(m, LAYER_LINEAR, in, name);
	l->units = units;
	l->relu = relu;
	int64_t ws[2] = { units, (int64_t)I }, bs[1] = { units };
	l->weight = add_tensor(m, name, "weight", 2, ws);
	if (bias)
		l->bias = add_tensor(m, name, "bias", 1, bs);
	l->out = add_slot(m, (struct shape){ units, 1, 1 }, -1);
	return l->out;
}

int model_add_conv2d(struct model *m, int in, const char *name, int channels,
		     int k, int stride, int pad, int bias, int relu)
{
	struct shape s = m->slots[in];
	struct conv2d_dims d;
	if (conv2d_dims_init(&d, 1, s.c, s.h, s.w, channels, k, k, stride, pad))
		return mp_error_prefix("layer '%s'", name);
	struct layer *l = add_layer(m, LAYER_CONV2D, in, name);
	l->units = channels;
	l->k = k;
	l->stride = stride;
	l->pad = pad;
	l->relu = relu;
	int64_t ws[4] = { channels, s.c, k, k }, bs[1] = { channels };
	l->weight = add_tensor(m, name, "weight", 4, ws);
	if (bias)
		l->bias = add_tensor(m, name, "bias", 1, bs);
	l->out = add_slot(m, (struct shape){ channels, d.OH, d.OW }, -1);
	return l->out;
}

int model_add_maxpool2d(struct model *m, int in, int k, int stride, int pad)
{
	struct shape s = m->slots[in];
	struct pool2d_dims d;
	if (pool2d_dims_init(&d, 1, s.c, s.h, s.w, k, stride, pad))
		return mp_error_prefix("pooling after %dx%dx%d", s.c, s.h, s.w);
	struct layer *l = add_layer(m, LAYER_MAXPOOL2D, in, NULL);
	l->k = k;
	l->stride = stride;
	l->pad = pad;
	l->out = add_slot(m, (struct shape){ s.c, d.OH, d.OW }, -1);
	return l->out;
}

int model_add_flatten(struct model *m, int in)
{
	struct layer *l = add_layer(m, LAYER_FLATTEN, in, NULL);
	struct shape s = { (int)shape_size(m->slots[in]), 1, 1 };
	l->out = add_slot(m, s, m->alias[in] >= 0 ? m->alias[in] : in);
	return l->out;
}

int model_add_batchnorm2d(struct model *m, int in, const char *name, int relu)
{
	struct shape s = m->slots[in];
	struct layer *l = add_layer(m, LAYER_BATCHNORM2D, in, name);
	int64_t cs[1] = { s.c };
	l->units = s.c;
	l->relu = relu;
	l->weight = add_tensor(m, name, "weight", 1, cs);
	l->bias = add_tensor(m, name, "bias", 1, cs);
	l->stats = add_tensor_in(m, name, "running_mean", 1, cs, 1, NPY_F4);
	add_tensor_in(m, name, "running_var", 1, cs, 1, NPY_F4);
	add_tensor_in(m, name, "num_batches_tracked", 0, NULL, 1, NPY_I8);
	l->out = add_slot(m, s, -1);
	return l->out;
}

int model_add_add(struct model *m, int a, int b, int relu)
{
	struct shape sa = m->slots[a], sb = m->slots[b];
	if (sa.c != sb.c || sa.h != sb.h || sa.w != sb.w)
		return mp_error("cannot add %dx%dx%d and %dx%dx%d", sa.c, sa.h, sa.w,
				sb.c, sb.h, sb.w);
	struct layer *l = add_layer(m, LAYER_ADD, a, NULL);
	l->in2 = b;
	l->relu = relu;
	m->readers[b]++;
	l->out = add_slot(m, sa, -1);
	return l->out;
}

int model_add_global_avgpool(struct model *m, int in)
{
	struct shape s = m->slots[in];
	struct layer *l = add_layer(m, LAYER_GLOBAL_AVGPOOL, in, NULL);
	l->out = add_slot(m, (struct shape){ s.c, 1, 1 }, -1);
	return l->out;
}

void model_add_probe(struct model *m, const char *name, int slot)
{
	m->probes = xreallocarray(m->probes, (size_t)m->nprobes + 1, sizeof *m->probes);
	struct model_probe *p = &m->probes[m->nprobes++];
	snprintf(p->name, sizeof p->name, "%s", name);
	p->slot = slot;
}

int model_add_classifier(struct model *m, int in, const char *flat,
			 const int *widths, int n, int bias)
{
	int s = model_add_flatten(m, in);
	char name[16];
	model_add_probe(m, flat, s);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof name, "fc%d", i + 1);
		if ((s = model_add_linear(m, s, name, widths[i], 1, 1)) < 0)
			return -1;
		model_add_probe(m, name, s);
	}
	return model_add_linear(m, s, m->final, m->classes, bias, 0);
}

/* Batch norm's initial buffers: mean 0, variance 1, no batches seen. */
static void reset_buffers(struct model *m)
{
	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		if (l->kind != LAYER_BATCHNORM2D)
			continue;
		const struct model_tensor *t = &m->tensors[l->stats];
		float *mean = m->buffers + t->off, *var = m->buffers + t[1].off;
		for (size_t k = 0; k < t->count; k++) {
			mean[k] = 0.0f;
			var[k] = 1.0f;
		}
		model_tensor_set_i64(m, &t[2], 0);
	}
}

int model_finish(struct model *m)
{
	MP_ASSERT(m->nlayers > 0);
	struct shape out = m->slots[m->layers[m->nlayers - 1].out];
	if (shape_size(out) != (size_t)m->classes)
		return mp_error("model ends with %zu outputs, not %d classes",
				shape_size(out), m->classes);
	m->params = xaligned_calloc(m->nparams ? m->nparams : 1, sizeof(float));
	m->grads = xaligned_calloc(m->nparams ? m->nparams : 1, sizeof(float));
	if (m->nbuffers)
		m->buffers = xaligned_calloc(m->nbuffers, sizeof(float));
	reset_buffers(m);
	return 0;
}

static void free_workspace(struct model *m)
{
	for (int s = 1; s < m->nslots; s++)
		if (m->alias[s] < 0) {
			if (m->act)
				free(m->act[s]);
			if (m->dact)
				free(m->dact[s]);
		}
	if (m->aux)
		for (int l = 0; l < m->nlayers; l++)
			free(m->aux[l]);
	free(m->act);
	free(m->dact);
	free(m->aux);
	free(m->gtmp);
	free(m->scratch);
	free(m->prob);
	free(m->written);
	m->act = m->dact = NULL;
	m->aux = NULL;
	m->gtmp = m->scratch = m->prob = NULL;
	m->written = NULL;
	m->cap = 0;
}

void model_release(struct model *m)
{
	free_workspace(m);
	free(m->layers);
	free(m->slots);
	free(m->alias);
	free(m->readers);
	free(m->tensors);
	free(m->probes);
	free(m->params);
	free(m->grads);
	free(m->buffers);
	memset(m, 0, sizeof *m);
}

/* ---- initialisation ---- */

static int fan_in(const struct model *m, const struct layer *l)
{
	struct shape s = m->slots[l->in];
	if (l->kind == LAYER_CONV2D)
		return s.c * l->k * l->k;
	return (int)shape_size(s);
}

void model_init_params(struct model *m, struct rng *r)
{
	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		if (l->kind == LAYER_BATCHNORM2D) {
			/* Weight 1, bias 0; no random draws (as PyTorch). */
			float *w = m->params + m->tensors[l->weight].off;
			float *b = m->params + m->tensors[l->bias].off;
			for (int k = 0; k < l->units; k++) {
				w[k] = 1.0f;
				b[k] = 0.0f;
			}
			continue;
		}
		if (l->kind != LAYER_LINEAR && l->kind != LAYER_CONV2D)
			continue;
		double bound = 1.0 / sqrt((double)fan_in(m, l));
		int ts[2] = { l->weight, l->bias };
		for (int k = 0; k < 2; k++) {
			if (ts[k] < 0)
				continue;
			const struct model_tensor *t = &m->tensors[ts[k]];
			float *p = m->params + t->off;
			for (size_t j = 0; j < t->count; j++)
				p[j] = (float)(-bound + 2.0 * bound * rng_double(r));
		}
	}
	if (m->buffers)
		reset_buffers(m);
}

/* ---- workspace ---- */

static int root(const struct model *m, int s)
{
	return m->alias[s] >= 0 ? m->alias[s] : s;
}

static size_t layer_scratch(const struct model *m, const struct layer *l, int B,
			    int threads)
{
	if (l->kind != LAYER_CONV2D)
		return 0;
	struct shape s = m->slots[l->in];
	struct conv2d_dims d;
	if (conv2d_dims_init(&d, B, s.c, s.h, s.w, l->units, l->k, l->k, l->stride, l->pad))
		MP_ASSERT(!"conv dims checked at build");
	return conv2d_scratch_floats(&d, threads);
}

void model_reserve(struct model *m, int B)
{
	MP_ASSERT(B > 0);
	int threads = par_threads();
	if (B <= m->cap && threads <= m->scratch_threads)
		return;
	free_workspace(m);
	m->cap = B;
	m->scratch_threads = threads;
	m->act = xcalloc((size_t)m->nslots, sizeof *m->act);
	for (int s = 1; s < m->nslots; s++)
		if (m->alias[s] < 0)
			m->act[s] = xaligned_calloc((size_t)B * shape_size(m->slots[s]),
						    sizeof(float));
	m->aux = xcalloc((size_t)m->nlayers, sizeof *m->aux);
	m->nscratch = 0;
	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		size_t sc = layer_scratch(m, l, B, threads);
		m->nscratch = sc > m->nscratch ? sc : m->nscratch;
		if (l->kind == LAYER_MAXPOOL2D)
			m->aux[i] = xaligned_calloc((size_t)B * shape_size(m->slots[l->out]),
						    sizeof(int32_t));
		/* Batch norm keeps (mean, 1/std) per channel: floats. */
		if (l->kind == LAYER_BATCHNORM2D)
			m->aux[i] = xaligned_calloc(2 * (size_t)l->units, sizeof(float));
	}
	m->scratch = xaligned_calloc(m->nscratch ? m->nscratch : 1, sizeof(float));
	m->prob = xaligned_calloc((size_t)B * m->classes, sizeof(float));
}

/* Gradient slots, on first need. */
static void reserve_grads(struct model *m)
{
	MP_ASSERT(m->cap > 0);
	if (m->dact)
		return;
	size_t biggest = 1;
	m->dact = xcalloc((size_t)m->nslots, sizeof *m->dact);
	m->written = xcalloc((size_t)m->nslots, sizeof *m->written);
	for (int s = 1; s < m->nslots; s++) {
		size_t n = shape_size(m->slots[s]);
		biggest = n > biggest ? n : biggest;
		if (m->alias[s] < 0)
			m->dact[s] = xaligned_calloc((size_t)m->cap * n, sizeof(float));
	}
	for (int s = 1; s < m->nslots; s++)
		if (m->alias[s] >= 0)
			m->dact[s] = m->dact[m->alias[s]];
	m->gtmp = xaligned_calloc((size_t)m->cap * biggest, sizeof(float));
}

/* ---- forward and backward ---- */

static float *lw(const struct model *m, const struct layer *l)
{
	return m->params + m->tensors[l->weight].off;
}

static float *lb(const struct model *m, const struct layer *l)
{
	return l->bias >= 0 ? m->params + m->tensors[l->bias].off : NULL;
}

static void bn_forward(struct model *m, int i, float *out, const float *in, int B)
{
	const struct layer *l = &m->layers[i];
	struct shape s = m->slots[l->in];
	const struct model_tensor *t = &m->tensors[l->stats];
	float *mean = m->buffers + t->off, *var = m->buffers + t[1].off;
	float *save = (float *)m->aux[i];
	if (m->mode == MODEL_EVAL) {
		batchnorm2d_forward_eval(out, save, in, lw(m, l), lb(m, l), mean, var,
					 B, s.c, s.h * s.w, l->relu);
	} else if (m->mode == MODEL_TRAIN) {
		batchnorm2d_forward_batch(out, save, in, lw(m, l), lb(m, l), mean, var,
					  B, s.c, s.h * s.w, l->relu);
		model_tensor_set_i64(m, &t[2], model_tensor_i64(m, &t[2]) + 1);
	} else {
		batchnorm2d_forward_batch(out, save, in, lw(m, l), lb(m, l), NULL, NULL,
					  B, s.c, s.h * s.w, l->relu);
	}
}

/* A residual sum's gradient goes to both inputs unchanged (after the
 * ReLU's mask): the first writer of a slot copies, later ones add. */
static void add_backward(struct model *m, const struct layer *l, int B)
{
	size_t n = (size_t)B * shape_size(m->slots[l->out]);
	float *dout = m->dact[l->out];
	if (l->relu)
		relu_backward(dout, dout, m->act[l->out], n);
	int src[2] = { root(m, l->in), root(m, l->in2) };
	for (int k = 0; k < 2; k++) {
		int r = src[k];
		if (r == 0)
			continue;
		float *dst = m->dact[r];
		if (m->written[r]) {
			for (size_t q = 0; q < n; q++)
				dst[q] += dout[q];
		} else {
			memcpy(dst, dout, n * sizeof *dst);
			m->written[r] = 1;
		}
	}
}

void model_forward(struct model *m, const float *x, int B)
{
	model_forward_layers(m, x, B, m->nlayers);
}

int model_slot_layer(const struct model *m, int slot)
{
	for (int i = 0; i < m->nlayers; i++)
		if (m->layers[i].out == slot)
			return i;
	return -1;
}

void model_forward_layers(struct model *m, const float *x, int B, int nlayers)
{
	model_reserve(m, B);
	m->act[0] = (float *)x;
	for (int s = 1; s < m->nslots; s++)
		if (m->alias[s] >= 0)
			m->act[s] = m->act[m->alias[s]];
	for (int i = 0; i < nlayers && i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		struct shape s = m->slots[l->in];
		float *out = m->act[l->out];
		const float *in = m->act[l->in];
		switch (l->kind) {
		case LAYER_LINEAR:
			linear_forward(out, in, lw(m, l), lb(m, l), B, (int)shape_size(s),
				       l->units, l->relu);
			break;
		case LAYER_CONV2D: {
			struct conv2d_dims d;
			conv2d_dims_init(&d, B, s.c, s.h, s.w, l->units, l->k, l->k,
					 l->stride, l->pad);
			conv2d_forward(out, in, lw(m, l), lb(m, l), m->scratch, &d, l->relu);
			break;
		}
		case LAYER_MAXPOOL2D: {
			struct pool2d_dims d;
			pool2d_dims_init(&d, B, s.c, s.h, s.w, l->k, l->stride, l->pad);
			maxpool2d_forward(out, m->aux[i], in, &d);
			break;
		}
		case LAYER_FLATTEN:
			break;
		case LAYER_BATCHNORM2D:
			bn_forward(m, i, out, in, B);
			break;
		case LAYER_ADD:
			add_forward(out, in, m->act[l->in2], (size_t)B * shape_size(s), l->relu);
			break;
		case LAYER_GLOBAL_AVGPOOL:
			global_avgpool_forward(out, in, (size_t)B * s.c, s.h * s.w);
			break;
		}
	}
}

const float *model_output(const struct model *m)
{
	return m->act[m->layers[m->nlayers - 1].out];
}

float *model_doutput(struct model *m)
{
	reserve_grads(m);
	return m->dact[m->layers[m->nlayers - 1].out];
}

const float *model_act(const struct model *m, int slot)
{
	return m->act[slot];
}

void model_backward(struct model *m, int B, const struct nn_hook *hook)
{
	MP_ASSERT(B <= m->cap);
	reserve_grads(m);
	memset(m->written, 0, (size_t)m->nslots * sizeof *m->written);
	m->written[root(m, m->layers[m->nlayers - 1].out)] = 1;
	for (int i = m->nlayers - 1; i >= 0; i--) {
		const struct layer *l = &m->layers[i];
		struct shape s = m->slots[l->in];
		size_t nin = (size_t)B * shape_size(s);
		if (l->kind == LAYER_FLATTEN)
			continue;
		/* Where this layer's input gradient goes: nowhere for the
		 * model's input, the slot's gradient the first time, else a
		 * temporary that is added to it. */
		int r = root(m, l->in);
		float *din = r == 0 ? NULL : m->written[r] ? m->gtmp : m->dact[r];
		float *dout = m->dact[l->out];
		const float *in = m->act[l->in], *out = m->act[l->out];
		float *gw = l->weight >= 0 ? m->grads + m->tensors[l->weight].off : NULL;
		float *gb = l->bias >= 0 ? m->grads + m->tensors[l->bias].off : NULL;
		switch (l->kind) {
		case LAYER_LINEAR:
			linear_backward(din, gw, gb, dout, in, lw(m, l), out, B,
					(int)shape_size(s), l->units, l->relu, hook);
			break;
		case LAYER_CONV2D: {
			struct conv2d_dims d;
			conv2d_dims_init(&d, B, s.c, s.h, s.w, l->units, l->k, l->k,
					 l->stride, l->pad);
			conv2d_backward(din, gw, gb, dout, in, lw(m, l), out, m->scratch,
					&d, l->relu, hook);
			break;
		}
		case LAYER_MAXPOOL2D: {
			struct pool2d_dims d;
			if (!din)
				break;
			pool2d_dims_init(&d, B, s.c, s.h, s.w, l->k, l->stride, l->pad);
			maxpool2d_backward(din, dout, m->aux[i], &d);
			break;
		}
		case LAYER_FLATTEN:
			break;
		case LAYER_BATCHNORM2D:
			batchnorm2d_backward(din, gw, gb, dout, in, lw(m, l), out,
					     (const float *)m->aux[i], B, s.c, s.h * s.w,
					     m->mode != MODEL_EVAL, l->relu, hook);
			break;
		case LAYER_ADD:
			add_backward(m, l, B);
			continue;
		case LAYER_GLOBAL_AVGPOOL:
			if (din)
				global_avgpool_backward(din, dout, (size_t)B * s.c, s.h * s.w);
			break;
		}
		if (din && din == m->gtmp) {
			float *dst = m->dact[r];
			for (size_t k = 0; k < nin; k++)
				dst[k] += din[k];
		}
		if (r)
			m->written[r] = 1;
	}
}

/* ---- lookup ---- */

int model_accepts(const struct model *m, struct shape s)
{
	if (s.c == m->input.c && s.h == m->input.h && s.w == m->input.w)
		return 1;
	return m->nlayers > 0 && m->layers[0].kind == LAYER_FLATTEN
	       && m->layers[0].in == 0 && shape_size(s) == shape_size(m->input);
}

const struct model_probe *model_probe_find(const struct model *m, const char *name)
{
	for (int i = 0; i < m->nprobes; i++)
		if (!strcmp(m->probes[i].name, name))
			return &m->probes[i];
	return NULL;
}

char *model_probe_list(const struct model *m)
{
	size_t n = 1;
	for (int i = 0; i < m->nprobes; i++)
		n += strlen(m->probes[i].name) + 1;
	char *s = xmalloc(n), *p = s;
	*p = '\0';
	for (int i = 0; i < m->nprobes; i++)
		p += sprintf(p, "%s%s", i ? " " : "", m->probes[i].name);
	return s;
}

const struct model_tensor *model_tensor_find(const struct model *m, const char *name)
{
	for (int i = 0; i < m->ntensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return &m->tensors[i];
	return NULL;
}

float *model_tensor_data(const struct model *m, const struct model_tensor *t)
{
	return (t->buffer ? m->buffers : m->params) + t->off;
}

int64_t model_tensor_i64(const struct model *m, const struct model_tensor *t)
{
	int64_t v;
	MP_ASSERT(t->dtype == NPY_I8 && t->buffer);
	memcpy(&v, m->buffers + t->off, sizeof v);
	return v;
}

void model_tensor_set_i64(const struct model *m, const struct model_tensor *t,
			  int64_t v)
{
	MP_ASSERT(t->dtype == NPY_I8 && t->buffer);
	memcpy(m->buffers + t->off, &v, sizeof v);
}

/* ---- checkpoints ---- */

int shape_parse(const char *s, struct shape *out)
{
	int c, h, w, n = 0;
	if (sscanf(s, "%dx%dx%d%n", &c, &h, &w, &n) != 3 || s[n] != '\0'
	    || c < 1 || h < 1 || w < 1)
		return mp_error("invalid input shape '%s' (want CxHxW)", s);
	*out = (struct shape){ c, h, w };
	return 0;
}

void model_set_meta(const struct model *m, struct meta *meta)
{
	meta_set(meta, "model.arch", "%s", m->arch);
	meta_set(meta, "model.input", "%dx%dx%d", m->input.c, m->input.h, m->input.w);
	meta_set(meta, "model.classes", "%d", m->classes);
	meta_set(meta, "model.final", "%s", m->final);
	char *p = model_probe_list(m);
	meta_set(meta, "model.layers", "%s", p);
	free(p);
}

int model_write(const struct model *m, struct npz_writer *w)
{
	for (int i = 0; i < m->ntensors; i++) {
		const struct model_tensor *t = &m->tensors[i];
		struct npy_header h;
		int64_t v = t->dtype == NPY_I8 ? model_tensor_i64(m, t) : 0;
		const void *data = t->dtype == NPY_I8 ? (const void *)&v
				 : model_tensor_data(m, t);
		if (npy_header_init(&h, t->dtype, t->ndim, t->shape)
		    || npz_writer_add(w, t->name, &h, data))
			return -1;
	}
	return 0;
}

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t cap)
{
	struct npy_header h;
	if (npy_header_init(&h, NPY_F4, ndim, shape))
		return "?";
	return npy_shape_str(&h, buf, cap);
}

/* Is checkpoint array a (or NULL) fit for tensor t? 0, or -1 with a
 * message. */
static int check_tensor(const struct model *m, const struct model_tensor *t,
			const struct npz_array *a, const char *in)
{
	char want[160], got[160];
	if (!a)
		return mp_error("checkpoint has no '%s' (a %s model needs it)",
				t->name, m->arch);
	int same = a->h.ndim == t->ndim;
	for (int k = 0; same && k < t->ndim; k++)
		same = a->h.shape[k] == t->shape[k];
	if (!same) {
		shape_str(t->ndim, t->shape, want, sizeof want);
		npy_shape_str(&a->h, got, sizeof got);
		return mp_error("'%s' has shape %s, but %s on %s input with "
				"%d classes needs %s", t->name, got, m->arch, in,
				m->classes, want);
	}
	if (t->dtype == NPY_I8) {
		/* A counter: any integer dtype (PyTorch writes int64). */
		if (a->h.dtype != NPY_I8 && a->h.dtype != NPY_I4)
			return mp_error("'%s' has dtype %s, not an integer",
					t->name, npy_dtype_str(a->h.dtype));
	} else if (a->h.dtype != NPY_F4 && a->h.dtype != NPY_F8) {
		return mp_error("'%s' has dtype %s, not a float", t->name,
				npy_dtype_str(a->h.dtype));
	}
	return 0;
}

static void copy_tensor(struct model *m, const struct model_tensor *t,
			const struct npz_array *a)
{
	float *dst = model_tensor_data(m, t);
	if (t->dtype == NPY_I8) {
		int64_t v;
		if (a->h.dtype == NPY_I8) {
			memcpy(&v, a->data, sizeof v);
		} else {
			int32_t v4;
			memcpy(&v4, a->data, sizeof v4);
			v = v4;
		}
		model_tensor_set_i64(m, t, v);
	} else if (a->h.dtype == NPY_F4) {
		memcpy(dst, a->data, t->count * sizeof(float));
	} else {
		const double *src = a->data;
		for (size_t k = 0; k < t->count; k++)
			dst[k] = (float)src[k];
	}
}

int model_load_tensors(struct model *m, const struct npz_bundle *b)
{
	/* Every tensor is checked against the checkpoint before the model's
	 * memory is allocated: the size meta.txt claims costs nothing unless
	 * the checkpoint holds the arrays to fill it. */
	const char *in = meta_get(&b->meta, "model.input");
	for (int i = 0; i < m->ntensors; i++) {
		const struct model_tensor *t = &m->tensors[i];
		if (check_tensor(m, t, npz_bundle_get(b, t->name), in)) {
			/* After the message: it names the tensor, which this frees. */
			model_release(m);
			return -1;
		}
	}
	if (model_finish(m)) {
		model_release(m);
		return -1;
	}
	for (int i = 0; i < m->ntensors; i++)
		copy_tensor(m, &m->tensors[i], npz_bundle_get(b, m->tensors[i].name));
	return 0;
}
