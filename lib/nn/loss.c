/*
 * loss.c: softmax cross-entropy over a batch (PyTorch's CrossEntropyLoss
 * with mean reduction), numerically stable: the row maximum is subtracted
 * before exponentiating, and the loss uses log-sum-exp in double.
 */
#include "nn.h"

#include <math.h>

double softmax_xent_forward(float *prob, const float *logits, const int32_t *y,
			    int B, int C)
{
	double total = 0;
	for (int r = 0; r < B; r++) {
		const float *l = logits + (size_t)r * C;
		float *p = prob + (size_t)r * C;
		float m = l[0];
		for (int c = 1; c < C; c++)
			if (l[c] > m)
				m = l[c];
		double s = 0;
		for (int c = 0; c < C; c++)
			s += exp((double)l[c] - m);
		for (int c = 0; c < C; c++)
			p[c] = (float)(exp((double)l[c] - m) / s);
		total += log(s) - ((double)l[y[r]] - m);
	}
	return B > 0 ? total / B : 0.0;
}

void softmax_xent_backward(float *dlogits, const float *prob, const int32_t *y,
			   int B, int C)
{
	float inv = 1.0f / (float)B;
	for (int r = 0; r < B; r++) {
		const float *p = prob + (size_t)r * C;
		float *d = dlogits + (size_t)r * C;
		for (int c = 0; c < C; c++)
			d[c] = (p[c] - (c == y[r] ? 1.0f : 0.0f)) * inv;
	}
}
