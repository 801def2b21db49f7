/*
 * residual.c: the small layers residual networks need beside convolution
 * and batch norm: the elementwise sum of a block's two paths (with the
 * ReLU that follows it fused), and adaptive average pooling to 1x1.
 */
#include "nn.h"

#include "par.h"

struct add_job {
	float *out;
	const float *a, *b;
	size_t n, ntasks;
	int relu;
};

static void add_task(void *ctx, size_t t)
{
	const struct add_job *j = ctx;
	size_t lo, hi;
	par_range(j->n, j->ntasks, t, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		float v = j->a[i] + j->b[i];
		j->out[i] = j->relu && v < 0.0f ? 0.0f : v;
	}
}

void add_forward(float *out, const float *a, const float *b, size_t n, int relu)
{
	struct add_job j = { out, a, b, n, par_ntasks(n, 1 << 16), relu };
	par_for(j.ntasks, add_task, &j);
}

void global_avgpool_forward(float *out, const float *in, size_t planes, int HW)
{
	for (size_t p = 0; p < planes; p++) {
		const float *x = in + p * (size_t)HW;
		double s = 0;
		for (int i = 0; i < HW; i++)
			s += x[i];
		out[p] = (float)(s / HW);
	}
}

void global_avgpool_backward(float *din, const float *dout, size_t planes, int HW)
{
	for (size_t p = 0; p < planes; p++) {
		float g = dout[p] / (float)HW, *d = din + p * (size_t)HW;
		for (int i = 0; i < HW; i++)
			d[i] = g;
	}
}
