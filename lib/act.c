/*
 * act.c: elementwise activations (ReLU), and the argmax used for
 * predictions.
 */
#include "nn.h"

#include <math.h>

void relu_forward(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] < 0.0f ? 0.0f : in[i];
}

void relu_backward(float *din, const float *dout, const float *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
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
