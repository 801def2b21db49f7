/*
 * nn.h: neural-network layer kernels with explicit forward and backward
 * passes (llm.c style), float32, NCHW, batch first.
 *
 *   X_forward(out, in, weight, bias, dims)
 *   X_backward(din, dweight, dbias, dout, in, weight, dims)
 *
 * Conventions:
 * - Every pointer carries its shape in a comment; a sample's activations
 *   are contiguous (C,H,W) and a batch is (B, ...).
 * - Backward passes overwrite din, dweight and dbias (they never
 *   accumulate); din may be NULL when nobody needs it (the first layer).
 * - Weight layouts are PyTorch's: linear (O,I), conv2d (OC,C,KH,KW).
 * - `relu` fuses a ReLU into a linear or convolution layer: `out` holds
 *   max(0, x W^T + b) and the backward pass masks dout with out > 0 (it
 *   overwrites dout in doing so).
 * - A backward pass calls hook->fn(ctx, grad, n) as soon as n elements of a
 *   weight or bias gradient are final, possibly from several threads at
 *   once for disjoint ranges, so an optimizer can update parameters while
 *   their gradient block is still in cache. The weights themselves are not
 *   read again by the layer after the hook for their rows was called. The
 *   linear layer hands its weight gradient over with hook->fn_vals when
 *   set, tile by tile, and never writes it to dweight.
 * - Work is spread over the thread pool (par.h) in shape-determined tasks:
 *   results do not depend on the thread count.
 * - *_naive functions are plain reference loops, for tests only.
 */
#ifndef MEMPROBE_NN_H
#define MEMPROBE_NN_H

#include <stddef.h>
#include <stdint.h>

struct nn_hook {
	/* grad[0, n) of the gradient block is final. */
	void (*fn)(void *ctx, float *grad, size_t n);
	void *ctx;
	/* Optional: the gradient of the n parameters whose gradient lives at
	 * `at` in the gradient block is g[0, n), held elsewhere (a layer's
	 * scratch tile still in cache): the gradient block itself is not
	 * written. A layer may use this instead of fn when it is set. */
	void (*fn_vals)(void *ctx, float *at, const float *g, size_t n);
};

/* ---- linear: out = in W^T + b ---- */

void linear_forward(float *out /* (B,O) */, const float *in /* (B,I) */,
		    const float *w /* (O,I) */, const float *b /* (O) or NULL */,
		    int B, int Din, int Dout, int relu);
void linear_backward(float *din /* (B,I) or NULL */, float *dw /* (O,I) */,
		     float *db /* (O) or NULL */, float *dout /* (B,O) */,
		     const float *in /* (B,I) */, const float *w /* (O,I) */,
		     const float *out /* (B,O), read when relu */,
		     int B, int Din, int Dout, int relu, const struct nn_hook *hook);
void linear_forward_naive(float *out, const float *in, const float *w,
			  const float *b, int B, int Din, int Dout, int relu);

/* ---- conv2d: any kernel, stride, zero padding; as a matrix product over
 * im2col columns, or (stride 1) over shifted views of a padded copy ---- */

struct conv2d_dims {
	int B, C, H, W;         /* input */
	int OC, KH, KW, stride, pad;
	int OH, OW;             /* output, from the above */
	int group;              /* samples per block (from the shape) */
	int implicit;           /* stride 1: shifted views of a padded copy
				 * instead of im2col (from the shape) */
};

/* Fill d; -1 with a message when the output would be empty or sizes
 * overflow. */
int conv2d_dims_init(struct conv2d_dims *d, int B, int C, int H, int W,
		     int OC, int KH, int KW, int stride, int pad);
/* Scratch floats the forward and backward passes need, for `threads`
 * threads. */
size_t conv2d_scratch_floats(const struct conv2d_dims *d, int threads);

void conv2d_forward(float *out /* (B,OC,OH,OW) */, const float *in /* (B,C,H,W) */,
		    const float *w /* (OC,C,KH,KW) */, const float *b /* (OC) or NULL */,
		    float *scratch, const struct conv2d_dims *d, int relu);
void conv2d_backward(float *din /* (B,C,H,W) or NULL */, float *dw /* (OC,C,KH,KW) */,
		     float *db /* (OC) or NULL */, float *dout /* (B,OC,OH,OW) */,
		     const float *in, const float *w, const float *out,
		     float *scratch, const struct conv2d_dims *d, int relu,
		     const struct nn_hook *hook);
void conv2d_forward_naive(float *out, const float *in, const float *w,
			  const float *b, const struct conv2d_dims *d, int relu);

/* The same convolutions as one product over the whole batch (conv_wide.c),
 * for shapes where that beats conv.c's per-group products: small maps with
 * many channels, where conv2d_wide_fits() is true. conv2d_forward and
 * conv2d_backward switch to these by themselves; the scratch they need
 * fits in conv2d_scratch_floats(). */
int conv2d_wide_fits(const struct conv2d_dims *d);
void conv2d_forward_wide(float *out, const float *in, const float *w, const float *b,
			 float *scratch, const struct conv2d_dims *d, int relu);
void conv2d_backward_wide(float *din, float *dw, float *db, float *dout,
			  const float *in, const float *w, const float *out,
			  float *scratch, const struct conv2d_dims *d, int relu,
			  const struct nn_hook *hook);

/* ---- ReLU ---- */

void relu_forward(float *out /* (n) */, const float *in /* (n) */, size_t n);
/* din = dout where out > 0, else 0 (din may equal dout). */
void relu_backward(float *din /* (n) */, const float *dout /* (n) */,
		   const float *out /* (n) */, size_t n);

/* Rows (rows, n) at stride ld: add b (n) if not NULL, then ReLU if relu. */
void bias_relu_rows(float *out, const float *b, int rows, size_t n, size_t ld,
		    int relu);
/* dst = src + bias, then ReLU if relu. */
void bias_relu_copy(float *dst /* (n) */, const float *src /* (n) */, size_t n,
		    float bias, int relu);
/* Sum in a fixed order (16 interleaved partial sums). */
float vec_sum(const float *v /* (n) */, size_t n);
/* memcpy for short rows (no library call per row). */
void vec_copy(float *dst /* (n) */, const float *src /* (n) */, size_t n);
/* dst[i] += src[i] */
void vec_add(float *dst /* (n) */, const float *src /* (n) */, size_t n);

/* ---- 2-D pooling (square windows, zero-free padding as PyTorch) ---- */

struct pool2d_dims {
	int B, C, H, W;
	int K, stride, pad;
	int OH, OW;
};

/* PyTorch's floor mode; pad <= K/2 as PyTorch requires. */
int pool2d_dims_init(struct pool2d_dims *d, int B, int C, int H, int W,
		     int K, int stride, int pad);

/* Max pooling; arg (B,C,OH,OW) records each output's input index within
 * its plane (first maximum wins, NaN propagates, as PyTorch). */
void maxpool2d_forward(float *out /* (B,C,OH,OW) */, int32_t *arg /* (B,C,OH,OW) */,
		       const float *in /* (B,C,H,W) */, const struct pool2d_dims *d);
void maxpool2d_backward(float *din /* (B,C,H,W) */, const float *dout /* (B,C,OH,OW) */,
			const int32_t *arg, const struct pool2d_dims *d);
/* Average pooling, padding counted in the divisor (count_include_pad). */
void avgpool2d_forward(float *out /* (B,C,OH,OW) */, const float *in /* (B,C,H,W) */,
		       const struct pool2d_dims *d);
void avgpool2d_backward(float *din /* (B,C,H,W) */, const float *dout /* (B,C,OH,OW) */,
			const struct pool2d_dims *d);

/* ---- batch normalisation (BatchNorm2d), PyTorch semantics ---- */

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

/*
 * Per channel c over the B*HW values of the batch: with batch statistics,
 * y = (x - mean) / sqrt(var + eps) * gamma + beta where var is the biased
 * (divide by N = B*HW) variance; running_mean and running_var (when not
 * NULL) move by momentum 0.1 towards the batch mean and the unbiased
 * (N - 1) variance, as torch.nn.BatchNorm2d in training mode. `save` keeps
 * (mean, 1/sqrt(var + eps)) per channel for the backward pass. Statistics
 * are summed in double, one task per channel range (thread-count
 * independent). `relu` fuses a ReLU on the output.
 */
void batchnorm2d_forward_batch(float *out /* (B,C,HW) */, float *save /* (2,C) */,
			       const float *in /* (B,C,HW) */, const float *gamma /* (C) */,
			       const float *beta /* (C) */, float *running_mean /* (C) or NULL */,
			       float *running_var /* (C) or NULL */, int B, int C, int HW,
			       int relu);
/* Evaluation mode: the running statistics instead of the batch's; save
 * gets (running_mean, 1/sqrt(running_var + eps)). */
void batchnorm2d_forward_eval(float *out /* (B,C,HW) */, float *save /* (2,C) */,
			      const float *in /* (B,C,HW) */, const float *gamma /* (C) */,
			      const float *beta /* (C) */, const float *running_mean /* (C) */,
			      const float *running_var /* (C) */, int B, int C, int HW,
			      int relu);
/* Backward through either forward (batch_stats says which): the full
 * gradient through the batch mean and variance when batch_stats, else a
 * per-channel scale. With relu, dout is masked in place by out > 0. */
void batchnorm2d_backward(float *din /* (B,C,HW) or NULL */, float *dgamma /* (C) */,
			  float *dbeta /* (C) */, float *dout /* (B,C,HW) */,
			  const float *in /* (B,C,HW) */, const float *gamma /* (C) */,
			  const float *out /* (B,C,HW), read when relu */,
			  const float *save /* (2,C) */, int B, int C, int HW,
			  int batch_stats, int relu, const struct nn_hook *hook);

/* ---- residual connections and global pooling ---- */

/* out = a + b (elementwise), with an optional fused ReLU. */
void add_forward(float *out /* (n) */, const float *a /* (n) */, const float *b /* (n) */,
		 size_t n, int relu);
/* Adaptive average pooling to 1x1: out[p] = mean of plane p. */
void global_avgpool_forward(float *out /* (P) */, const float *in /* (P,HW) */,
			    size_t planes, int HW);
void global_avgpool_backward(float *din /* (P,HW) */, const float *dout /* (P) */,
			     size_t planes, int HW);

/* ---- softmax cross-entropy, mean over the batch ---- */

/* prob = softmax(logits) row by row (max subtracted); returns the mean of
 * -log prob[y] (computed with log-sum-exp, in double). Labels must be in
 * [0, C). */
double softmax_xent_forward(float *prob /* (B,C) */, const float *logits /* (B,C) */,
			    const int32_t *y /* (B) */, int B, int C);
/* dlogits = (prob - onehot(y)) / B. */
void softmax_xent_backward(float *dlogits /* (B,C) */, const float *prob /* (B,C) */,
			   const int32_t *y /* (B) */, int B, int C);

/* Index of the largest value (the first of equal ones; NaN counts as
 * largest, as torch.argmax). */
int nn_argmax(const float *v /* (n) */, int n);

#endif
