/*
 * optim.c: SGD with momentum and Adam, PyTorch's update rules, elementwise
 * over ranges of one flat block. The loops have an AVX-512 version (chosen
 * at run time) doing exactly the scalar version's float32 operations in
 * the same order, so both give the same bits.
 */
#include "optim.h"

#include <math.h>
#include <string.h>

#include "par.h"
#include "util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define OPTIM_X86 1
#endif

int optim_kind_parse(const char *s, enum optim_kind *k)
{
	if (!strcmp(s, "sgd"))
		*k = OPTIM_SGD;
	else if (!strcmp(s, "adam"))
		*k = OPTIM_ADAM;
	else
		return mp_error("unknown optimizer '%s' (sgd or adam)", s);
	return 0;
}

const char *optim_kind_name(enum optim_kind k)
{
	return k == OPTIM_ADAM ? "adam" : "sgd";
}

int optim_nslots(const struct optim *o)
{
	if (o->kind == OPTIM_ADAM)
		return 2;
	return o->momentum != 0 ? 1 : 0;
}

const char *optim_slot_name(const struct optim *o, int i)
{
	if (o->kind == OPTIM_ADAM)
		return i == 0 ? "exp_avg" : "exp_avg_sq";
	return "momentum_buffer";
}

void optim_reset(struct optim *o)
{
	free(o->state);
	o->state = NULL;
	memset(o->slot, 0, sizeof o->slot);
	int k = optim_nslots(o);
	if (k > 0) {
		o->state = xaligned_calloc((size_t)k * o->n, sizeof(float));
		for (int i = 0; i < k; i++)
			o->slot[i] = o->state + (size_t)i * o->n;
	}
	o->step = 0;
}

void optim_init(struct optim *o, enum optim_kind k, double lr, size_t n,
		float *params, float *grads)
{
	memset(o, 0, sizeof *o);
	o->kind = k;
	o->lr = lr;
	o->momentum = 0.9;
	o->beta1 = 0.9;
	o->beta2 = 0.999;
	o->eps = 1e-8;
	o->n = n;
	o->params = params;
	o->grads = grads;
	optim_reset(o);
}

void optim_release(struct optim *o)
{
	free(o->state);
	memset(o, 0, sizeof *o);
}

void optim_begin_step(struct optim *o)
{
	o->first = o->step == 0;
	o->step++;
	o->c_lr = (float)o->lr;
	o->c_m = (float)o->momentum;
	if (o->kind == OPTIM_ADAM) {
		double t = (double)o->step;
		double bc1 = 1.0 - pow(o->beta1, t);
		double bc2 = 1.0 - pow(o->beta2, t);
		o->c_b1 = (float)o->beta1;
		o->c_1mb1 = (float)(1.0 - o->beta1);
		o->c_b2 = (float)o->beta2;
		o->c_1mb2 = (float)(1.0 - o->beta2);
		o->c_eps = (float)o->eps;
		o->c_step = (float)(o->lr / bc1);
		o->c_bc2 = (float)sqrt(bc2);
	}
}

/* ---- scalar kernels (also the tails of the vector ones) ---- */

static void sgd_plain(float *p, const float *g, size_t n, float lr)
{
	for (size_t i = 0; i < n; i++) {
		float t = lr * g[i];
		p[i] = p[i] - t;
	}
}

static void sgd_mom(float *p, const float *g, float *buf, size_t n, float lr,
		    float m, int first)
{
	for (size_t i = 0; i < n; i++) {
		float b;
		if (first) {
			b = g[i];
		} else {
			b = m * buf[i];
			b = b + g[i];
		}
		buf[i] = b;
		float t = lr * b;
		p[i] = p[i] - t;
	}
}

static void adam(float *p, const float *g, float *ea, float *eb, size_t n,
		 const struct optim *o)
{
	for (size_t i = 0; i < n; i++) {
		float a = o->c_b1 * ea[i];
		float ga = o->c_1mb1 * g[i];
		a = a + ga;
		ea[i] = a;
		float b = o->c_b2 * eb[i];
		float gb = o->c_1mb2 * g[i];
		gb = gb * g[i];
		b = b + gb;
		eb[i] = b;
		float den = sqrtf(b) / o->c_bc2;
		den = den + o->c_eps;
		float q = a / den;
		q = o->c_step * q;
		p[i] = p[i] - q;
	}
}

#ifdef OPTIM_X86
__attribute__((target("avx512f")))
static size_t sgd_mom_512(float *p, const float *g, float *buf, size_t n,
			  float lr, float m, int first)
{
	__m512 vlr = _mm512_set1_ps(lr), vm = _mm512_set1_ps(m);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 b = _mm512_loadu_ps(g + i);
		if (!first)
			b = _mm512_add_ps(_mm512_mul_ps(vm, _mm512_loadu_ps(buf + i)), b);
		_mm512_storeu_ps(buf + i, b);
		__m512 t = _mm512_mul_ps(vlr, b);
		_mm512_storeu_ps(p + i, _mm512_sub_ps(_mm512_loadu_ps(p + i), t));
	}
	return i;
}

__attribute__((target("avx512f")))
static size_t adam_512(float *p, const float *g, float *ea, float *eb, size_t n,
		       const struct optim *o)
{
	__m512 b1 = _mm512_set1_ps(o->c_b1), omb1 = _mm512_set1_ps(o->c_1mb1);
	__m512 b2 = _mm512_set1_ps(o->c_b2), omb2 = _mm512_set1_ps(o->c_1mb2);
	__m512 eps = _mm512_set1_ps(o->c_eps), bc2 = _mm512_set1_ps(o->c_bc2);
	__m512 ss = _mm512_set1_ps(o->c_step);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 vg = _mm512_loadu_ps(g + i);
		__m512 a = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(ea + i)),
					 _mm512_mul_ps(omb1, vg));
		_mm512_storeu_ps(ea + i, a);
		__m512 gb = _mm512_mul_ps(_mm512_mul_ps(omb2, vg), vg);
		__m512 b = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(eb + i)), gb);
		_mm512_storeu_ps(eb + i, b);
		__m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(b), bc2), eps);
		__m512 q = _mm512_mul_ps(ss, _mm512_div_ps(a, den));
		_mm512_storeu_ps(p + i, _mm512_sub_ps(_mm512_loadu_ps(p + i), q));
	}
	return i;
}

static int have_512(void)
{
	return par_cpu_avx512();
}
#endif

static void update_serial(struct optim *o, size_t off, const float *g, size_t n)
{
	float *p = o->params + off;
	size_t done = 0;
	if (o->kind == OPTIM_SGD && optim_nslots(o) == 0) {
		sgd_plain(p, g, n, o->c_lr);
	} else if (o->kind == OPTIM_SGD) {
		float *buf = o->slot[0] + off;
#ifdef OPTIM_X86
		if (have_512())
			done = sgd_mom_512(p, g, buf, n, o->c_lr, o->c_m, o->first);
#endif
		sgd_mom(p + done, g + done, buf + done, n - done, o->c_lr, o->c_m,
			o->first);
	} else {
		float *ea = o->slot[0] + off, *eb = o->slot[1] + off;
#ifdef OPTIM_X86
		if (have_512())
			done = adam_512(p, g, ea, eb, n, o);
#endif
		adam(p + done, g + done, ea + done, eb + done, n - done, o);
	}
}

struct upd_job {
	struct optim *o;
	size_t off, n, ntasks;
	const float *g;
};

static void upd_task(void *ctx, size_t t)
{
	const struct upd_job *j = ctx;
	size_t lo, hi;
	par_range(j->n, j->ntasks, t, &lo, &hi);
	update_serial(j->o, j->off + lo, j->g + lo, hi - lo);
}

void optim_update_vals(struct optim *o, size_t off, const float *g, size_t n)
{
	MP_ASSERT(off <= o->n && n <= o->n - off);
	if (n < 65536) {
		update_serial(o, off, g, n);
		return;
	}
	struct upd_job j = { o, off, n, par_ntasks(n, 32768), g };
	par_for(j.ntasks, upd_task, &j);
}

void optim_update(struct optim *o, size_t off, size_t n)
{
	optim_update_vals(o, off, o->grads + off, n);
}

void optim_step(struct optim *o)
{
	optim_begin_step(o);
	optim_update(o, 0, o->n);
}

static void hook_fn(void *ctx, float *grad, size_t n)
{
	struct optim *o = ctx;
	MP_ASSERT(grad >= o->grads && grad <= o->grads + o->n);
	optim_update(o, (size_t)(grad - o->grads), n);
}

static void hook_vals(void *ctx, float *at, const float *g, size_t n)
{
	struct optim *o = ctx;
	MP_ASSERT(at >= o->grads && at <= o->grads + o->n);
	optim_update_vals(o, (size_t)(at - o->grads), g, n);
}

struct nn_hook optim_hook(struct optim *o)
{
	return (struct nn_hook){ hook_fn, o, hook_vals };
}

void optim_update_naive(struct optim *o, size_t off, size_t n)
{
	for (size_t i = off; i < off + n; i++) {
		if (o->kind == OPTIM_SGD && optim_nslots(o) == 0)
			sgd_plain(o->params + i, o->grads + i, 1, o->c_lr);
		else if (o->kind == OPTIM_SGD)
			sgd_mom(o->params + i, o->grads + i, o->slot[0] + i, 1,
				o->c_lr, o->c_m, o->first);
		else
			adam(o->params + i, o->grads + i, o->slot[0] + i,
			     o->slot[1] + i, 1, o);
	}
}
