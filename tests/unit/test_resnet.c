/*
 * test_resnet.c: batch norm and residual networks. BatchNorm2d's forward
 * (batch and running statistics, the running-statistics update) against a
 * double-precision reference, its backward against central finite
 * differences in double; whole models (a stem and two residual blocks, one
 * with a 1x1 conv + BN shortcut) through a double-precision interpreter of
 * the model's layer list, every parameter's gradient checked the same way;
 * the presets' tensor names, shapes and probe sizes; bit-identical results
 * with 1 and 3 threads; the whole-batch convolution (conv_wide.c) that
 * ResNet-18's small maps use, against double-precision loops.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "nn.h"
#include "nn_ref.h"
#include "par.h"
#include "rng.h"
#include "tap.h"
#include "util.h"

/* ---- batch norm ---- */

/* y = BN(x) with batch statistics (train) or given running ones. */
static void bn_ref(double *out, const double *in, const double *g, const double *b,
		   const double *rm, const double *rv, int B, int C, int HW,
		   int train, int relu)
{
	double N = (double)B * HW;
	for (int c = 0; c < C; c++) {
		double mean = 0, var = 0;
		if (train) {
			for (int n = 0; n < B; n++)
				for (int p = 0; p < HW; p++)
					mean += in[((size_t)n * C + c) * HW + p];
			mean /= N;
			for (int n = 0; n < B; n++)
				for (int p = 0; p < HW; p++) {
					double d = in[((size_t)n * C + c) * HW + p] - mean;
					var += d * d;
				}
			var /= N;
		} else {
			mean = rm[c];
			var = rv[c];
		}
		for (int n = 0; n < B; n++)
			for (int p = 0; p < HW; p++) {
				size_t at = ((size_t)n * C + c) * HW + p;
				double y = (in[at] - mean) / sqrt(var + BN_EPS) * g[c] + b[c];
				out[at] = relu && y < 0 ? 0 : y;
			}
	}
}

struct bn_case { const char *name; int B, C, HW, relu, train; };

struct bn_ctx { const struct bn_case *c; double *in, *g, *b, *rm, *rv; };

static void bn_f(double *out, void *ctx)
{
	struct bn_ctx *x = ctx;
	bn_ref(out, x->in, x->g, x->b, x->rm, x->rv, x->c->B, x->c->C, x->c->HW,
	       x->c->train, x->c->relu);
}

static void check_bn(const struct bn_case *c)
{
	size_t n = (size_t)c->B * c->C * c->HW, C = (size_t)c->C;
	float *in = xmalloc(n * 4), *out = xmalloc(n * 4), *r = xmalloc(n * 4);
	float *dout = xmalloc(n * 4), *din = xmalloc(n * 4);
	float *g = xmalloc(C * 4), *b = xmalloc(C * 4), *rm = xmalloc(C * 4);
	float *rv = xmalloc(C * 4), *save = xmalloc(2 * C * 4);
	float *dg = xmalloc(C * 4), *db = xmalloc(C * 4);
	/* Offsets and scales per channel, so the statistics matter. */
	fill(in, n, -1, 1);
	for (size_t i = 0; i < n; i++)
		in[i] = in[i] * (1 + (float)((i / c->HW) % C)) + 0.5f * (float)((i / c->HW) % C);
	fill(g, C, 0.5f, 1.5f);
	fill(b, C, -0.5f, 0.5f);
	fill(rm, C, -0.5f, 0.5f);
	fill(rv, C, 0.5f, 2.0f);
	fill(r, n, -1, 1);
	struct bn_ctx x = { c, to_d(in, n), to_d(g, C), to_d(b, C), to_d(rm, C), to_d(rv, C) };
	double *ref = xmalloc(n * 8);
	bn_f(ref, &x);
	if (c->train) {
		batchnorm2d_forward_batch(out, save, in, g, b, rm, rv, c->B, c->C, c->HW,
					  c->relu);
		/* The running statistics moved by 0.1 towards the batch's,
		 * with the unbiased variance. */
		double N = (double)c->B * c->HW;
		for (size_t k = 0; k < C; k++) {
			double mean = 0, ss = 0;
			for (int s = 0; s < c->B; s++)
				for (int p = 0; p < c->HW; p++)
					mean += x.in[((size_t)s * C + k) * c->HW + p];
			mean /= N;
			for (int s = 0; s < c->B; s++)
				for (int p = 0; p < c->HW; p++) {
					double d = x.in[((size_t)s * C + k) * c->HW + p] - mean;
					ss += d * d;
				}
			CHECK_NEAR(rm[k], 0.9 * x.rm[k] + 0.1 * mean, 1e-6);
			CHECK_NEAR(rv[k], 0.9 * x.rv[k] + 0.1 * ss / (N - 1), 1e-5 * (1 + rv[k]));
			CHECK_NEAR(save[k], mean, 1e-5 * (1 + fabs(mean)));
			CHECK_NEAR(save[C + k], 1 / sqrt(ss / N + BN_EPS), 1e-5 * save[C + k]);
		}
	} else {
		batchnorm2d_forward_eval(out, save, in, g, b, rm, rv, c->B, c->C, c->HW,
					 c->relu);
		CHECK(!memcmp(save, rm, C * 4));
	}
	CHECK(close_to(out, ref, n, 1e-5));
	memcpy(dout, r, n * 4);
	batchnorm2d_backward(din, dg, db, dout, in, g, out, save, c->B, c->C, c->HW,
			     c->train, c->relu, NULL);
	CHECK(gradcheck("din", din, x.in, n, bn_f, &x, ref, r, n));
	CHECK(gradcheck("dgamma", dg, x.g, C, bn_f, &x, ref, r, n));
	CHECK(gradcheck("dbeta", db, x.b, C, bn_f, &x, ref, r, n));
	/* Without din (the first layer), the same parameter gradients. */
	float *dg2 = xmalloc(C * 4), *db2 = xmalloc(C * 4);
	memcpy(dout, r, n * 4);
	batchnorm2d_backward(NULL, dg2, db2, dout, in, g, out, save, c->B, c->C, c->HW,
			     c->train, c->relu, NULL);
	CHECK(!memcmp(dg, dg2, C * 4) && !memcmp(db, db2, C * 4));
	free(in); free(out); free(r); free(dout); free(din); free(g); free(b);
	free(rm); free(rv); free(save); free(dg); free(db); free(dg2); free(db2);
	free(ref); free(x.in); free(x.g); free(x.b); free(x.rm); free(x.rv);
}

/*       name                      B   C   HW relu train */
static const struct bn_case bn_cases[] = {
	{ "bn_train",                 4,  3,   5,  0,  1 },
	{ "bn_train_relu",            3,  5,   9,  1,  1 },
	{ "bn_train_1x1_spatial",     6,  4,   1,  0,  1 },
	/* Several tasks' channel ranges. */
	{ "bn_train_many_channels",   2, 70, 600,  0,  1 },
	{ "bn_eval",                  3,  4,   6,  0,  0 },
	{ "bn_eval_relu",             2,  3,   8,  1,  0 },
};

TEST(bn_no_update)
{
	/* Batch statistics without running buffers leave nothing behind. */
	float in[12], out[12], save[4], g[2] = { 1, 1 }, b[2] = { 0, 0 };
	fill(in, 12, -2, 2);
	batchnorm2d_forward_batch(out, save, in, g, b, NULL, NULL, 2, 2, 3, 0);
	double s = 0, ss = 0;
	for (int n = 0; n < 2; n++)
		for (int p = 0; p < 3; p++) {
			s += out[n * 6 + p];
			ss += (double)out[n * 6 + p] * out[n * 6 + p];
		}
	CHECK_NEAR(s / 6, 0, 1e-6);
	CHECK_NEAR(ss / 6, 1, 1e-3);
}

TEST(add_and_global_pool)
{
	float a[6] = { 1, -2, 3, -4, 5, -6 }, b[6] = { 1, 1, 1, 1, 1, 1 }, o[6];
	add_forward(o, a, b, 6, 0);
	CHECK(o[0] == 2 && o[1] == -1 && o[5] == -5);
	add_forward(o, a, b, 6, 1);
	CHECK(o[0] == 2 && o[1] == 0 && o[4] == 6 && o[5] == 0);
	float p[2], d[6], g[2] = { 3, -6 };
	global_avgpool_forward(p, a, 2, 3);
	CHECK_NEAR(p[0], 2.0 / 3, 1e-7);
	CHECK_NEAR(p[1], -5.0 / 3, 1e-7);
	global_avgpool_backward(d, g, 2, 3);
	CHECK(d[0] == 1 && d[2] == 1 && d[3] == -2 && d[5] == -2);
}

/* ---- whole models in double precision ---- */

struct mref {
	const struct model *m;
	double *p;              /* (nparams) */
	const double *x;        /* (B, input) */
	int B;
	double **act;           /* (nslots) each (B, slot size) */
};

static const double *rw(const struct mref *r, const struct layer *l)
{
	return r->p + r->m->tensors[l->weight].off;
}

static void ref_forward(double *logits, void *ctx)
{
	struct mref *r = ctx;
	const struct model *m = r->m;
	int B = r->B;
	memcpy(r->act[0], r->x, (size_t)B * shape_size(m->input) * sizeof(double));
	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		struct shape s = m->slots[l->in], so = m->slots[l->out];
		const double *in = r->act[l->in];
		double *out = r->act[l->out];
		size_t nin = shape_size(s), nout = shape_size(so);
		const double *bias = l->bias >= 0 ? r->p + m->tensors[l->bias].off : NULL;
		switch (l->kind) {
		case LAYER_LINEAR:
			lin_ref(out, in, rw(r, l), bias, B, (int)nin, (int)nout, l->relu);
			break;
		case LAYER_CONV2D: {
			struct conv2d_dims d;
			MP_ASSERT(!conv2d_dims_init(&d, B, s.c, s.h, s.w, so.c, l->k, l->k,
						    l->stride, l->pad));
			conv_ref(out, in, rw(r, l), bias, &d, l->relu);
			break;
		}
		case LAYER_MAXPOOL2D: {
			struct pool2d_dims d;
			MP_ASSERT(!pool2d_dims_init(&d, B, s.c, s.h, s.w, l->k, l->stride, l->pad));
			pool_ref(out, in, &d, 1);
			break;
		}
		case LAYER_FLATTEN:
			memcpy(out, in, (size_t)B * nin * sizeof *out);
			break;
		case LAYER_BATCHNORM2D:
			bn_ref(out, in, rw(r, l), bias, NULL, NULL, B, s.c, s.h * s.w, 1, l->relu);
			break;
		case LAYER_ADD:
			for (size_t k = 0; k < B * nin; k++) {
				double v = in[k] + r->act[l->in2][k];
				out[k] = l->relu && v < 0 ? 0 : v;
			}
			break;
		case LAYER_GLOBAL_AVGPOOL:
			for (int pl = 0; pl < B * s.c; pl++) {
				double v = 0;
				for (int k = 0; k < s.h * s.w; k++)
					v += in[pl * s.h * s.w + k];
				out[pl] = v / (s.h * s.w);
			}
			break;
		default:
			MP_ASSERT(!"layer kind without a reference");
		}
	}
	memcpy(logits, r->act[m->layers[m->nlayers - 1].out],
	       (size_t)B * m->classes * sizeof *logits);
}

/* Forward in training mode, backward of L = logits . R, and every
 * parameter tensor's gradient against the double interpreter. */
static void check_model_grads(struct model *m, int B)
{
	size_t nx = (size_t)B * shape_size(m->input), nl = (size_t)B * m->classes;
	float *x = xmalloc(nx * 4), *r = xmalloc(nl * 4);
	fill(x, nx, -1, 1);
	fill(r, nl, -1, 1);
	struct rng init;
	rng_seed(&init, 7);
	model_init_params(m, &init);
	/* Batch norm's affine parameters away from 1 and 0. */
	for (int i = 0; i < m->nlayers; i++)
		if (m->layers[i].kind == LAYER_BATCHNORM2D) {
			fill(m->params + m->tensors[m->layers[i].weight].off, (size_t)m->layers[i].units, 0.5f, 1.5f);
			fill(m->params + m->tensors[m->layers[i].bias].off, (size_t)m->layers[i].units, -0.3f, 0.3f);
		}
	m->mode = MODEL_TRAIN;
	model_forward(m, x, B);
	struct mref ref = { m, to_d(m->params, m->nparams), NULL, B, NULL };
	double *xd = to_d(x, nx), *logits = xmalloc(nl * 8);
	ref.x = xd;
	ref.act = xcalloc((size_t)m->nslots, sizeof *ref.act);
	for (int s = 0; s < m->nslots; s++)
		ref.act[s] = xmalloc((size_t)B * shape_size(m->slots[s]) * sizeof(double));
	ref_forward(logits, &ref);
	CHECK(close_to(model_output(m), logits, nl, 1e-4));
	memcpy(model_doutput(m), r, nl * 4);
	model_backward(m, B, NULL);
	for (int t = 0; t < m->ntensors; t++) {
		const struct model_tensor *mt = &m->tensors[t];
		if (mt->buffer)
			continue;
		CHECK(gradcheck(mt->name, m->grads + mt->off, ref.p + mt->off, mt->count,
				ref_forward, &ref, logits, r, nl));
	}
	for (int s = 0; s < m->nslots; s++)
		free(ref.act[s]);
	free(ref.act);
	free(ref.p);
	free(xd);
	free(logits);
	free(x);
	free(r);
}

/* stem conv + BN + ReLU, a block with an identity shortcut, a block with a
 * 1x1 conv + BN shortcut (stride 2, more channels), global average pool,
 * fc: the stem's slot and the first block's output are each read twice. */
static int build_tiny_resnet(struct model *m, struct shape in, int classes)
{
	model_begin(m, "tiny", in, classes);
	int s = model_add_conv2d(m, 0, "conv1", 4, 3, 1, 1, 0, 0);
	s = model_add_batchnorm2d(m, s, "bn1", 1);
	int x = s;
	s = model_add_conv2d(m, x, "b1.conv1", 4, 3, 1, 1, 0, 0);
	s = model_add_batchnorm2d(m, s, "b1.bn1", 1);
	s = model_add_conv2d(m, s, "b1.conv2", 4, 3, 1, 1, 0, 0);
	s = model_add_batchnorm2d(m, s, "b1.bn2", 0);
	x = model_add_add(m, s, x, 1);
	s = model_add_conv2d(m, x, "b2.conv1", 6, 3, 2, 1, 0, 0);
	s = model_add_batchnorm2d(m, s, "b2.bn1", 1);
	s = model_add_conv2d(m, s, "b2.conv2", 6, 3, 1, 1, 0, 0);
	s = model_add_batchnorm2d(m, s, "b2.bn2", 0);
	int sc = model_add_conv2d(m, x, "b2.downsample.0", 6, 1, 2, 0, 0, 0);
	sc = model_add_batchnorm2d(m, sc, "b2.downsample.1", 0);
	s = model_add_add(m, s, sc, 1);
	s = model_add_global_avgpool(m, s);
	s = model_add_linear(m, s, "fc", classes, 1, 0);
	if (s < 0)
		return -1;
	return model_finish(m);
}

TEST(residual_blocks_gradcheck)
{
	struct model m;
	CHECK(build_tiny_resnet(&m, (struct shape){ 3, 6, 6 }, 3) == 0);
	check_model_grads(&m, 3);
	model_release(&m);
}

TEST(residual_blocks_odd_size_gradcheck)
{
	struct model m;
	CHECK(build_tiny_resnet(&m, (struct shape){ 2, 5, 7 }, 4) == 0);
	check_model_grads(&m, 2);
	model_release(&m);
}

TEST(alexnet_cifar_gradcheck_small)
{
	/* The real preset is big; check its layer kinds on a shrunken copy
	 * through the same interpreter: conv, max-pool 3/2, flatten, fc. */
	struct model m;
	model_begin(&m, "tiny-alex", (struct shape){ 3, 12, 12 }, 3);
	int s = model_add_conv2d(&m, 0, "conv1", 4, 3, 2, 1, 1, 1);
	s = model_add_maxpool2d(&m, s, 3, 2, 0);
	s = model_add_conv2d(&m, s, "conv2", 5, 3, 1, 1, 1, 1);
	s = model_add_flatten(&m, s);
	s = model_add_linear(&m, s, "fc1", 7, 1, 1);
	s = model_add_linear(&m, s, "fc2", 3, 1, 0);
	CHECK(s >= 0 && model_finish(&m) == 0);
	check_model_grads(&m, 3);
	model_release(&m);
}

TEST(train_mode_updates_running_stats)
{
	struct model m;
	CHECK(build_tiny_resnet(&m, (struct shape){ 3, 6, 6 }, 3) == 0);
	struct rng init;
	rng_seed(&init, 1);
	model_init_params(&m, &init);
	const struct model_tensor *rm = model_tensor_find(&m, "bn1.running_mean");
	const struct model_tensor *rv = model_tensor_find(&m, "bn1.running_var");
	const struct model_tensor *nb = model_tensor_find(&m, "bn1.num_batches_tracked");
	CHECK(rm && rv && nb && nb->dtype == NPY_I8 && nb->ndim == 0 && nb->buffer);
	CHECK(model_tensor_data(&m, rv)[0] == 1.0f && model_tensor_data(&m, rm)[0] == 0.0f);
	float x[2 * 3 * 36], out1[6], out2[6];
	fill(x, sizeof x / 4, 0, 2);
	/* Evaluation leaves the buffers alone. */
	model_forward(&m, x, 2);
	CHECK(model_tensor_i64(&m, nb) == 0 && model_tensor_data(&m, rv)[0] == 1.0f);
	memcpy(out1, model_output(&m), sizeof out1);
	m.mode = MODEL_BATCH_STATS;
	model_forward(&m, x, 2);
	CHECK(model_tensor_i64(&m, nb) == 0 && model_tensor_data(&m, rm)[0] == 0.0f);
	memcpy(out2, model_output(&m), sizeof out2);
	CHECK(memcmp(out1, out2, sizeof out1) != 0);
	m.mode = MODEL_TRAIN;
	model_forward(&m, x, 2);
	model_forward(&m, x, 2);
	CHECK(model_tensor_i64(&m, nb) == 2);
	CHECK(model_tensor_data(&m, rm)[0] != 0.0f);
	/* Batch statistics give the same output whether or not the running
	 * ones move. */
	CHECK(memcmp(out2, model_output(&m), sizeof out2) == 0);
	model_init_params(&m, &init);
	CHECK(model_tensor_i64(&m, nb) == 0 && model_tensor_data(&m, rv)[0] == 1.0f);
	model_release(&m);
}

/* ---- presets ---- */

static int has_tensor(const struct model *m, const char *name, int ndim,
		      int64_t a, int64_t b, int64_t c, int64_t d)
{
	const struct model_tensor *t = model_tensor_find(m, name);
	int64_t want[4] = { a, b, c, d };
	if (!t || t->ndim != ndim) {
		printf("#   %s: missing or ndim %d\n", name, t ? t->ndim : -1);
		return 0;
	}
	for (int k = 0; k < ndim; k++)
		if (t->shape[k] != want[k]) {
			printf("#   %s: dim %d is %lld\n", name, k, (long long)t->shape[k]);
			return 0;
		}
	return 1;
}

static size_t probe_dim(const struct model *m, const char *name)
{
	const struct model_probe *p = model_probe_find(m, name);
	return p ? shape_size(m->slots[p->slot]) : 0;
}

TEST(resnet18_preset)
{
	struct model m;
	CHECK(model_build(&m, "resnet18", (struct shape){ 3, 32, 32 }, 10) == 0);
	CHECK(m.nparams == 11173962);   /* torchvision's, with a 3x3 conv1 */
	CHECK(!strcmp(m.final, "fc"));
	char *p = model_probe_list(&m);
	CHECK(!strcmp(p, "l0 l0_1 l0_2 l0_3 l1 l2 l3 l4 bf_last"));
	free(p);
	CHECK(has_tensor(&m, "conv1.weight", 4, 64, 3, 3, 3));
	CHECK(model_tensor_find(&m, "conv1.bias") == NULL);
	CHECK(has_tensor(&m, "bn1.running_var", 1, 64, 0, 0, 0));
	CHECK(has_tensor(&m, "bn1.num_batches_tracked", 0, 0, 0, 0, 0));
	CHECK(has_tensor(&m, "layer1.1.conv2.weight", 4, 64, 64, 3, 3));
	CHECK(model_tensor_find(&m, "layer1.0.downsample.0.weight") == NULL);
	CHECK(has_tensor(&m, "layer2.0.conv1.weight", 4, 128, 64, 3, 3));
	CHECK(has_tensor(&m, "layer2.0.downsample.0.weight", 4, 128, 64, 1, 1));
	CHECK(has_tensor(&m, "layer2.0.downsample.1.running_mean", 1, 128, 0, 0, 0));
	CHECK(model_tensor_find(&m, "layer2.1.downsample.0.weight") == NULL);
	CHECK(has_tensor(&m, "layer4.1.bn2.bias", 1, 512, 0, 0, 0));
	CHECK(has_tensor(&m, "fc.weight", 2, 10, 512, 0, 0));
	CHECK(has_tensor(&m, "fc.bias", 1, 10, 0, 0, 0));
	/* 62 parameters and 60 buffers, as torchvision's state_dict. */
	int np = 0, nb = 0;
	for (int i = 0; i < m.ntensors; i++)
		m.tensors[i].buffer ? nb++ : np++;
	CHECK(np == 62 && nb == 60);
	CHECK(probe_dim(&m, "l0") == 16384 && probe_dim(&m, "l0_1") == 16384);
	CHECK(probe_dim(&m, "l1") == 16384 && probe_dim(&m, "l2") == 8192);
	CHECK(probe_dim(&m, "l3") == 4096 && probe_dim(&m, "l4") == 2048);
	CHECK(probe_dim(&m, "bf_last") == 512);
	model_release(&m);
	/* Any input: Fashion-MNIST's 1x28x28 (28 -> 14 -> 7 -> 4 -> 2). */
	CHECK(model_build(&m, "resnet18", (struct shape){ 1, 28, 28 }, 10) == 0);
	CHECK(has_tensor(&m, "conv1.weight", 4, 64, 1, 3, 3));
	CHECK(probe_dim(&m, "l0") == 64 * 14 * 14 && probe_dim(&m, "l4") == 512 * 2 * 2);
	model_release(&m);
}

TEST(alexnet_presets)
{
	struct model m;
	CHECK(model_build(&m, "alexnet", (struct shape){ 3, 64, 64 }, 200) == 0);
	CHECK(has_tensor(&m, "conv1.weight", 4, 64, 3, 11, 11));
	CHECK(has_tensor(&m, "conv2.weight", 4, 192, 64, 5, 5));
	CHECK(has_tensor(&m, "conv5.bias", 1, 256, 0, 0, 0));
	CHECK(has_tensor(&m, "fc1.weight", 2, 4096, 256, 0, 0));
	CHECK(has_tensor(&m, "fc3.weight", 2, 200, 4096, 0, 0));
	CHECK(!strcmp(m.final, "fc3"));
	char *p = model_probe_list(&m);
	CHECK(!strcmp(p, "flat fc1 fc2"));
	free(p);
	model_release(&m);
	CHECK(model_build(&m, "alexnet-cifar", (struct shape){ 3, 32, 32 }, 100) == 0);
	CHECK(has_tensor(&m, "conv1.weight", 4, 64, 3, 3, 3));
	CHECK(has_tensor(&m, "conv2.weight", 4, 192, 64, 3, 3));
	CHECK(has_tensor(&m, "fc1.weight", 2, 4096, 256, 0, 0));
	CHECK(probe_dim(&m, "flat") == 256 && probe_dim(&m, "fc2") == 4096);
	model_release(&m);
	/* Too small an input is an error that names the architecture. */
	CHECK(model_build(&m, "alexnet", (struct shape){ 3, 16, 16 }, 10) == -1);
	CHECK(strstr(mp_errmsg(), "alexnet") != NULL);
}

/* ---- whole-batch convolutions ---- */

struct conv_all_ctx {
	const struct conv2d_dims *d;
	double *out, *dw, *db, *din;
	const double *in, *w, *b;
	const float *r;
};

static void conv_all_taps(void *ctx, size_t o, const size_t *xi, const size_t *wi, size_t n)
{
	struct conv_all_ctx *c = ctx;
	int oc = conv_channel(c->d, o);
	double s = c->b[oc], g = c->r[o];
	c->db[oc] += g;
	for (size_t t = 0; t < n; t++) {
		s += c->in[xi[t]] * c->w[wi[t]];
		c->dw[wi[t]] += g * c->in[xi[t]];
		c->din[xi[t]] += g * c->w[wi[t]];
	}
	c->out[o] = s;
}

/* conv2d_forward (bias b, no ReLU) and conv2d_backward for dout = r in
 * double: out, dw, db, din. */
static void conv_ref_all(double *out, double *dw, double *db, double *din,
			 const float *in, const float *w, const float *b, const float *r,
			 const struct conv2d_dims *d)
{
	size_t nin = (size_t)d->B * d->C * d->H * d->W, nw = (size_t)d->OC * d->C * d->KH * d->KW;
	double *ind = to_d(in, nin), *wd = to_d(w, nw), *bd = to_d(b, (size_t)d->OC);
	memset(dw, 0, nw * sizeof *dw);
	memset(db, 0, (size_t)d->OC * sizeof *db);
	memset(din, 0, nin * sizeof *din);
	struct conv_all_ctx c = { d, out, dw, db, din, ind, wd, bd, r };
	conv_taps(d, conv_all_taps, &c);
	free(ind);
	free(wd);
	free(bd);
}

static int hook_calls;
static size_t hook_elems;

static void count_hook(void *ctx, float *g, size_t n)
{
	hook_calls++;
	hook_elems += n;
}

static void check_conv_wide(int B, int C, int HW, int OC, int k, int stride)
{
	struct conv2d_dims d;
	CHECK(conv2d_dims_init(&d, B, C, HW, HW, OC, k, k, stride, k / 2) == 0);
	CHECK(conv2d_wide_fits(&d));
	size_t nin = (size_t)B * C * HW * HW, nout = (size_t)B * OC * d.OH * d.OW;
	size_t nw = (size_t)OC * C * k * k;
	float *in = xmalloc(nin * 4), *w = xmalloc(nw * 4), *b = xmalloc(OC * 4);
	float *r = xmalloc(nout * 4), *out = xmalloc(nout * 4), *dout = xmalloc(nout * 4);
	float *dw = xmalloc(nw * 4), *db = xmalloc(OC * 4), *din = xmalloc(nin * 4);
	fill(in, nin, -1, 1);
	fill(w, nw, -0.1f, 0.1f);
	fill(b, OC, -0.5f, 0.5f);
	fill(r, nout, -1, 1);
	double *rout = xmalloc(nout * 8), *rdw = xmalloc(nw * 8), *rdb = xmalloc(OC * 8);
	double *rdin = xmalloc(nin * 8);
	conv_ref_all(rout, rdw, rdb, rdin, in, w, b, r, &d);
	float *scratch = xaligned_calloc(conv2d_scratch_floats(&d, par_threads()), 4);
	conv2d_forward(out, in, w, b, scratch, &d, 0);
	CHECK(close_to(out, rout, nout, 1e-4));
	memcpy(dout, r, nout * 4);
	struct nn_hook hook = { .fn = count_hook };
	hook_calls = 0;
	hook_elems = 0;
	conv2d_backward(din, dw, db, dout, in, w, out, scratch, &d, 0, &hook);
	CHECK(close_to(dw, rdw, nw, 1e-4));
	CHECK(close_to(db, rdb, OC, 1e-4));
	CHECK(close_to(din, rdin, nin, 1e-4));
	CHECK(hook_calls == 2 && hook_elems == nw + OC);
	/* With a fused ReLU: the output clipped, the gradient masked. */
	float *out2 = xmalloc(nout * 4), *dw2 = xmalloc(nw * 4), *db2 = xmalloc(OC * 4);
	conv2d_forward(out2, in, w, b, scratch, &d, 1);
	int ok = 1;
	for (size_t i = 0; i < nout; i++) {
		ok &= out2[i] == (out[i] < 0 ? 0.0f : out[i]);
		dout[i] = out2[i] > 0 ? r[i] : 0.0f;
	}
	CHECK(ok);
	conv2d_backward(NULL, dw, db, dout, in, w, out2, scratch, &d, 0, NULL);
	memcpy(dout, r, nout * 4);
	conv2d_backward(NULL, dw2, db2, dout, in, w, out2, scratch, &d, 1, NULL);
	CHECK(!memcmp(dw, dw2, nw * 4) && !memcmp(db, db2, OC * 4));
	/* The thread count changes nothing. */
	float *dw3 = xmalloc(nw * 4), *din3 = xmalloc(nin * 4), *out3 = xmalloc(nout * 4);
	par_init(1);
	memcpy(dout, r, nout * 4);
	conv2d_forward(out3, in, w, b, scratch, &d, 0);
	conv2d_backward(din3, dw3, db2, dout, in, w, out3, scratch, &d, 0, NULL);
	par_init(3);
	float *scratch3 = xaligned_calloc(conv2d_scratch_floats(&d, par_threads()), 4);
	memcpy(dout, r, nout * 4);
	conv2d_forward(out2, in, w, b, scratch3, &d, 0);
	conv2d_backward(din, dw, db, dout, in, w, out2, scratch3, &d, 0, NULL);
	par_init(2);
	CHECK(!memcmp(out2, out3, nout * 4) && !memcmp(dw, dw3, nw * 4));
	CHECK(!memcmp(din, din3, nin * 4) && !memcmp(db, db2, OC * 4));
	free(in); free(w); free(b); free(r); free(out); free(dout); free(dw); free(db);
	free(din); free(rout); free(rdw); free(rdb); free(rdin); free(scratch);
	free(scratch3); free(out2); free(dw2); free(db2); free(dw3); free(din3); free(out3);
}

TEST(conv_wide_3x3_2x2_maps)
{
	check_conv_wide(16, 512, 2, 64, 3, 1);      /* layer4-like */
}

TEST(conv_wide_3x3_stride2)
{
	check_conv_wide(32, 256, 4, 128, 3, 2);     /* layer4.0.conv1-like */
}

TEST(conv_wide_odd_maps)
{
	check_conv_wide(16, 512, 3, 64, 3, 1);      /* 3x3 maps, uneven groups */
	check_conv_wide(16, 256, 4, 128, 3, 1);     /* layer3-like */
}

/* ---- threads ---- */

static void run_steps(struct model *m, const float *x, int B, float *grads_out,
		      float *bufs_out)
{
	struct rng init;
	rng_seed(&init, 3);
	model_init_params(m, &init);
	m->mode = MODEL_TRAIN;
	model_forward(m, x, B);
	float *d = model_doutput(m);
	for (int i = 0; i < B * m->classes; i++)
		d[i] = (float)((i % 7) - 3) / 7.0f;
	model_backward(m, B, NULL);
	memcpy(grads_out, m->grads, m->nparams * 4);
	memcpy(bufs_out, m->buffers, m->nbuffers * 4);
}

TEST(threads_bit_identical)
{
	struct model m;
	int B = 5;
	CHECK(model_build(&m, "resnet18", (struct shape){ 3, 16, 16 }, 7) == 0);
	size_t nx = (size_t)B * shape_size(m.input);
	float *x = xmalloc(nx * 4);
	fill(x, nx, -1, 1);
	float *g1 = xmalloc(m.nparams * 4), *g3 = xmalloc(m.nparams * 4);
	float *b1 = xmalloc(m.nbuffers * 4), *b3 = xmalloc(m.nbuffers * 4);
	par_init(1);
	run_steps(&m, x, B, g1, b1);
	model_release(&m);
	par_init(3);
	CHECK(model_build(&m, "resnet18", (struct shape){ 3, 16, 16 }, 7) == 0);
	run_steps(&m, x, B, g3, b3);
	CHECK(memcmp(g1, g3, m.nparams * 4) == 0);
	CHECK(memcmp(b1, b3, m.nbuffers * 4) == 0);
	par_init(2);
	model_release(&m);
	free(x); free(g1); free(g3); free(b1); free(b3);
}

int main(void)
{
	rng_seed(&R, 12345);
	par_init(2);
	RUN_CASES(check_bn, bn_cases);
	RUN(bn_no_update);
	RUN(add_and_global_pool);
	RUN(residual_blocks_gradcheck);
	RUN(residual_blocks_odd_size_gradcheck);
	RUN(alexnet_cifar_gradcheck_small);
	RUN(train_mode_updates_running_stats);
	RUN(resnet18_preset);
	RUN(alexnet_presets);
	RUN(threads_bit_identical);
	RUN(conv_wide_3x3_2x2_maps);
	RUN(conv_wide_3x3_stride2);
	RUN(conv_wide_odd_maps);
	return tap_done();
}
