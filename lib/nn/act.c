/*
 * act.c: elementwise activations (ReLU), and the argmax used for
 * predictions.
 */
#include "nn.h"

#include <math.h>
#include <string.h>

#include "par.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ACT_X86 1

static int have_512(void)
{
	return par_cpu_avx512();
}

/* The vector loops do what the scalar ones do, NaN and -0 included:
 * max(0, x) returns x when x is NaN; the mask out > 0 is false for NaN.
 * (The scalar loops would compile to branches, which mispredict on the
 * random signs of activations.) */
__attribute__((target("avx512f")))
static size_t relu_fwd_512(float *out, const float *in, size_t n)
{
	size_t i = 0;
	__m512 z = _mm512_setzero_ps();
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(out + i, _mm512_max_ps(z, _mm512_loadu_ps(in + i)));
	if (i < n) {
		__mmask16 t = (__mmask16)((1u << (n - i)) - 1);
		_mm512_mask_storeu_ps(out + i, t, _mm512_max_ps(z, _mm512_maskz_loadu_ps(t, in + i)));
		i = n;
	}
	return i;
}

__attribute__((target("avx512f")))
static size_t relu_bwd_512(float *din, const float *dout, const float *out, size_t n)
{
	size_t i = 0;
	__m512 z = _mm512_setzero_ps();
	for (; i + 16 <= n; i += 16) {
		__mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(out + i), z, _CMP_GT_OQ);
		_mm512_storeu_ps(din + i, _mm512_maskz_mov_ps(m, _mm512_loadu_ps(dout + i)));
	}
	if (i < n) {
		__mmask16 t = (__mmask16)((1u << (n - i)) - 1);
		__mmask16 m = _mm512_mask_cmp_ps_mask(t, _mm512_maskz_loadu_ps(t, out + i), z,
						      _CMP_GT_OQ);
		_mm512_mask_storeu_ps(din + i, t,
				      _mm512_maskz_mov_ps(m, _mm512_maskz_loadu_ps(t, dout + i)));
		i = n;
	}
	return i;
}

__attribute__((target("avx512f")))
static size_t bias_relu_512(float *o, const float *b, size_t n, int relu)
{
	size_t i = 0;
	__m512 z = _mm512_setzero_ps();
	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_loadu_ps(o + i);
		if (b)
			v = _mm512_add_ps(v, _mm512_loadu_ps(b + i));
		if (relu)
			v = _mm512_max_ps(z, v);
		_mm512_storeu_ps(o + i, v);
	}
	return i;
}

__attribute__((target("avx512f")))
static size_t copy_br_512(float *dst, const float *src, size_t n, float bias, int relu)
{
	size_t i = 0;
	__m512 z = _mm512_setzero_ps(), b = _mm512_set1_ps(bias);
	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_add_ps(_mm512_loadu_ps(src + i), b);
		if (relu)
			v = _mm512_max_ps(z, v);
		_mm512_storeu_ps(dst + i, v);
	}
	if (i < n) {
		__mmask16 t = (__mmask16)((1u << (n - i)) - 1);
		__m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(t, src + i), b);
		if (relu)
			v = _mm512_max_ps(z, v);
		_mm512_mask_storeu_ps(dst + i, t, v);
		i = n;
	}
	return i;
}

__attribute__((target("avx512f")))
static float sum_512(const float *v, size_t n)
{
	__m512 acc = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		acc = _mm512_add_ps(acc, _mm512_loadu_ps(v + i));
	if (i < n)
		acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1),
							       v + i));
	return _mm512_reduce_add_ps(acc);
}

__attribute__((target("avx512f")))
static void copy_512(float *dst, const float *src, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
	if (i < n) {
		__mmask16 t = (__mmask16)((1u << (n - i)) - 1);
		_mm512_mask_storeu_ps(dst + i, t, _mm512_maskz_loadu_ps(t, src + i));
	}
}

__attribute__((target("avx512f")))
static size_t add_512(float *dst, const float *src, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i),
							_mm512_loadu_ps(src + i)));
	if (i < n) {
		__mmask16 t = (__mmask16)((1u << (n - i)) - 1);
		_mm512_mask_storeu_ps(dst + i, t, _mm512_add_ps(_mm512_maskz_loadu_ps(t, dst + i),
								 _mm512_maskz_loadu_ps(t, src + i)));
		i = n;
	}
	return i;
}
#endif

void relu_forward(float *out, const float *in, size_t n)
{
	size_t i = 0;
#ifdef ACT_X86
	if (have_512())
		i = relu_fwd_512(out, in, n);
#endif
	for (; i < n; i++)
		out[i] = in[i] < 0.0f ? 0.0f : in[i];
}

void relu_backward(float *din, const float *dout, const float *out, size_t n)
{
	size_t i = 0;
#ifdef ACT_X86
	if (have_512())
		i = relu_bwd_512(din, dout, out, n);
#endif
	for (; i < n; i++)
		din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void bias_relu_rows(float *out, const float *b, int rows, size_t n, size_t ld,
		    int relu)
{
	for (int r = 0; r < rows; r++) {
		float *o = out + (size_t)r * ld;
		size_t i = 0;
#ifdef ACT_X86
		if (have_512())
			i = bias_relu_512(o, b, n, relu);
#endif
		for (; i < n; i++) {
			float v = b ? o[i] + b[i] : o[i];
			o[i] = relu && v < 0.0f ? 0.0f : v;
		}
	}
}

void bias_relu_copy(float *dst, const float *src, size_t n, float bias, int relu)
{
	size_t i = 0;
#ifdef ACT_X86
	if (have_512())
		i = copy_br_512(dst, src, n, bias, relu);
#endif
	for (; i < n; i++) {
		float v = src[i] + bias;
		dst[i] = relu && v < 0.0f ? 0.0f : v;
	}
}

float vec_sum(const float *v, size_t n)
{
#ifdef ACT_X86
	if (have_512())
		return sum_512(v, n);
#endif
	/* The same order as the vector version: 16 lanes, then a tree. */
	float lane[16] = { 0 };
	for (size_t i = 0; i < n; i++)
		lane[i % 16] += v[i];
	for (int w = 8; w >= 1; w /= 2)
		for (int k = 0; k < w; k++)
			lane[k] += lane[k + w];
	return lane[0];
}

void vec_copy(float *dst, const float *src, size_t n)
{
#ifdef ACT_X86
	if (have_512()) {
		copy_512(dst, src, n);
		return;
	}
#endif
	memcpy(dst, src, n * sizeof *dst);
}

void vec_add(float *dst, const float *src, size_t n)
{
	size_t i = 0;
#ifdef ACT_X86
	if (have_512())
		i = add_512(dst, src, n);
#endif
	for (; i < n; i++)
		dst[i] += src[i];
}

int nn_argmax(const float *v, int n)
{
	int best = 0;
	for (int i = 0; i < n; i++) {
		if (isnan(v[i]))
			return i;
		if (v[i] > v[best])
			best = i;
	}
	return best;
}
