/*
 * bench_resnet: ResNet-18's hot paths beside the machine's limit measured
 * in the same run. The limit is the tiled sgemm (gemm.h, every thread) on
 * a square product; each of ResNet-18's convolution shapes at batch 32 on
 * CIFAR-sized (32x32) input is timed forward and backward (weight and
 * input gradients), as GFLOP/s and as a fraction of that rate. Then whole
 * training steps (forward, loss, backward with the SGD update fused, as
 * train runs them): seconds per 50,000-image epoch extrapolated from the
 * timed steps, and the peak memory of a training process at batch 32
 * (getrusage maxrss of a child that only builds the model and trains).
 * Other processes on the machine slow every figure alike; the CPU-time
 * columns (GFLOP per CPU-second of this process, times the thread count,
 * against the sgemm rate measured the same way) are the steadier ones on a
 * busy machine. A benchmark, not a test.
 *
 *   build/bench/bench_resnet [STEPS] [THREADS]    (defaults 6, all CPUs)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gemm.h"
#include "model.h"
#include "nn.h"
#include "optim.h"
#include "par.h"
#include "rng.h"
#include "util.h"

static struct rng R;

static float *rnd(size_t n)
{
	float *a = xaligned_calloc(n, sizeof *a);
	for (size_t i = 0; i < n; i++)
		a[i] = rng_float(&R) - 0.5f;
	return a;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best wall-clock seconds of a statement over runs lasting about `budget`
 * seconds in all (at least 3) into `best`; the best CPU seconds divided by
 * the thread count into best_cpu. */
static double best_cpu;
#define BEST_OF(best, budget, ...) do { \
	double t_end_ = mp_now() + (budget); int n_ = 0; (best) = 1e30; best_cpu = 1e30; \
	do { double t0_ = mp_now(), c0_ = cpu_now(); __VA_ARGS__; \
	     double t_ = mp_now() - t0_, c_ = (cpu_now() - c0_) / par_threads(); \
	     (best) = t_ < (best) ? t_ : (best); best_cpu = c_ < best_cpu ? c_ : best_cpu; \
	     n_++; } while (n_ < 3 || mp_now() < t_end_); \
} while (0)

static double peak_cpu;         /* sgemm GFLOP/s by CPU time */

static double sgemm_rate(int n)
{
	float *a = rnd((size_t)n * n), *b = rnd((size_t)n * n), *c = rnd((size_t)n * n);
	double best;
	BEST_OF(best, 1.0, gemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n));
	peak_cpu = 2.0 * n * n * n / best_cpu / 1e9;
	free(a);
	free(b);
	free(c);
	return 2.0 * n * n * n / best / 1e9;
}

struct conv_shape { const char *name; int C, HW, OC, k, stride, count, first; };

/* ResNet-18 on 32x32 input: the stem at 32x32, layer1 at 16x16 (after the
 * max-pool), then 8x8, 4x4, 2x2; `count` is how many layers have the
 * shape. */
static const struct conv_shape shapes[] = {
	{ "conv1 3->64 32x32", 3, 32, 64, 3, 1, 1, 1 },
	{ "layer1 64->64 16x16", 64, 16, 64, 3, 1, 4, 0 },
	{ "layer2.0.conv1 64->128 /2", 64, 16, 128, 3, 2, 1, 0 },
	{ "layer2 128->128 8x8", 128, 8, 128, 3, 1, 3, 0 },
	{ "layer2 downsample 1x1 /2", 64, 16, 128, 1, 2, 1, 0 },
	{ "layer3.0.conv1 128->256 /2", 128, 8, 256, 3, 2, 1, 0 },
	{ "layer3 256->256 4x4", 256, 4, 256, 3, 1, 3, 0 },
	{ "layer3 downsample 1x1 /2", 128, 8, 256, 1, 2, 1, 0 },
	{ "layer4.0.conv1 256->512 /2", 256, 4, 512, 3, 2, 1, 0 },
	{ "layer4 512->512 2x2", 512, 2, 512, 3, 1, 3, 0 },
	{ "layer4 downsample 1x1 /2", 256, 4, 512, 1, 2, 1, 0 },
};

static void bench_convs(int B, double peak, double *tf_all, double *tb_all, double *fl_all,
			double *cf_all, double *cb_all)
{
	printf("%-28s %7s %9s %6s %9s %6s %7s %7s\n", "conv (batch 32)", "MFLOP",
	       "fwd GF/s", "fwd %", "bwd GF/s", "bwd %", "fwd cpu", "bwd cpu");
	*tf_all = *tb_all = *fl_all = *cf_all = *cb_all = 0;
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		const struct conv_shape *s = &shapes[i];
		struct conv2d_dims d;
		if (conv2d_dims_init(&d, B, s->C, s->HW, s->HW, s->OC, s->k, s->k,
				     s->stride, s->k / 2))
			die_lib();
		size_t nin = (size_t)B * s->C * s->HW * s->HW;
		size_t nout = (size_t)B * s->OC * d.OH * d.OW;
		size_t nw = (size_t)s->OC * s->C * s->k * s->k;
		float *in = rnd(nin), *w = rnd(nw), *out = rnd(nout), *dout = rnd(nout);
		float *din = rnd(nin), *dw = rnd(nw);
		float *scratch = xaligned_calloc(conv2d_scratch_floats(&d, par_threads()), 4);
		double flops = 2.0 * nout * s->C * s->k * s->k, tf, tb, cf, cb;
		BEST_OF(tf, 0.5, conv2d_forward(out, in, w, NULL, scratch, &d, 0));
		cf = best_cpu;
		/* The stem needs no input gradient (its input is the data). */
		BEST_OF(tb, 0.5, conv2d_backward(s->first ? NULL : din, dw, NULL, dout, in,
						 w, out, scratch, &d, 0, NULL));
		cb = best_cpu;
		double bflops = flops * (s->first ? 1 : 2);
		printf("%-28s %7.1f %9.1f %5.0f%% %9.1f %5.0f%% %6.0f%% %6.0f%%\n", s->name,
		       flops / 1e6, flops / tf / 1e9, 100 * flops / tf / 1e9 / peak,
		       bflops / tb / 1e9, 100 * bflops / tb / 1e9 / peak,
		       100 * flops / cf / 1e9 / peak_cpu, 100 * bflops / cb / 1e9 / peak_cpu);
		*tf_all += s->count * tf;
		*tb_all += s->count * tb;
		*cf_all += s->count * cf;
		*cb_all += s->count * cb;
		*fl_all += s->count * flops;
		free(in); free(w); free(out); free(dout); free(din); free(dw); free(scratch);
	}
}

struct stepper {
	struct model m;
	struct optim opt;
	float *x;
	int32_t *y;
	int B;
};

static void stepper_init(struct stepper *s, struct shape in, int classes, int B)
{
	if (model_build(&s->m, "resnet18", in, classes))
		die_lib();
	model_init_params(&s->m, &R);
	optim_init(&s->opt, OPTIM_SGD, 1e-3, s->m.nparams, s->m.params, s->m.grads);
	s->opt.momentum = 0.9;
	optim_reset(&s->opt);
	s->B = B;
	s->x = rnd((size_t)B * shape_size(in));
	s->y = xcalloc((size_t)B, sizeof *s->y);
	for (int i = 0; i < B; i++)
		s->y[i] = i % classes;
}

/* One training step as lib/nn/train.c runs it. */
static void step(struct stepper *s)
{
	s->m.mode = MODEL_TRAIN;
	model_forward(&s->m, s->x, s->B);
	softmax_xent_forward(s->m.prob, model_output(&s->m), s->y, s->B, s->m.classes);
	softmax_xent_backward(model_doutput(&s->m), s->m.prob, s->y, s->B, s->m.classes);
	optim_begin_step(&s->opt);
	struct nn_hook hook = optim_hook(&s->opt);
	model_backward(&s->m, s->B, &hook);
}

static void stepper_release(struct stepper *s)
{
	optim_release(&s->opt);
	model_release(&s->m);
	free(s->x);
	free(s->y);
}

/* Seconds per step: the mean of `steps` after one warm-up step. */
static double time_steps(struct shape in, int B, int steps, double *fwd)
{
	struct stepper s;
	stepper_init(&s, in, 10, B);
	step(&s);
	double t0 = mp_now();
	for (int i = 0; i < steps; i++)
		step(&s);
	double t = (mp_now() - t0) / steps;
	double tf;
	s.m.mode = MODEL_EVAL;
	BEST_OF(tf, 0.5, model_forward(&s.m, s.x, B));
	*fwd = tf;
	stepper_release(&s);
	return t;
}

/* Peak resident memory (MB) of a child that trains two steps at batch B. */
static double step_maxrss(struct shape in, int B, int threads, size_t *nparams)
{
	int fd[2];
	if (pipe(fd))
		die("pipe failed");
	pid_t pid = fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		close(fd[0]);
		par_init(threads);
		struct stepper s;
		stepper_init(&s, in, 10, B);
		step(&s);
		step(&s);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		double v[2] = { ru.ru_maxrss / 1024.0, (double)s.m.nparams };
		if (write(fd[1], v, sizeof v) != (ssize_t)sizeof v)
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	double v[2] = { 0, 0 };
	ssize_t n = read(fd[0], v, sizeof v);
	close(fd[0]);
	int st;
	waitpid(pid, &st, 0);
	if (n != (ssize_t)sizeof v || !WIFEXITED(st) || WEXITSTATUS(st))
		die("the memory child failed");
	*nparams = (size_t)v[1];
	return v[0];
}

int main(int argc, char **argv)
{
	long steps = 6, threads = 0;
	par_blas_reexec(argv);
	mp_init(argc, argv);
	if ((argc > 1 && parse_long(argv[1], 1, 1000, &steps))
	    || (argc > 2 && parse_long(argv[2], 0, 256, &threads)))
		die("usage: bench_resnet [STEPS] [THREADS]");
	rng_seed(&R, 1);
	/* Memory first, in a child forked before the thread pool exists. */
	size_t np = 0;
	struct shape cifar = { 3, 32, 32 }, fmnist = { 1, 28, 28 };
	double rss = step_maxrss(cifar, 32, (int)threads, &np);
	par_init((int)threads);
	printf("threads %d, OpenBLAS core %s\n", par_threads(), par_blas_core());
	double peak = sgemm_rate(1024);
	printf("sgemm 1024^3 (tiled, all threads): %.1f GFLOP/s; %.1f GFLOP per CPU-second "
	       "x threads\n\n", peak, peak_cpu);

	double tf, tb, fl, cf, cb;
	bench_convs(32, peak, &tf, &tb, &fl, &cf, &cb);
	/* The stem's backward has no input gradient: 2*fl counts it twice,
	 * a small overestimate of the backward rate. */
	printf("all 20 convolutions: forward %.1f ms (%.0f%% of sgemm; by CPU time %.0f%%), "
	       "backward %.1f ms (%.0f%%; by CPU time %.0f%%)\n\n", 1e3 * tf,
	       100 * fl / tf / 1e9 / peak, 100 * fl / cf / 1e9 / peak_cpu, 1e3 * tb,
	       100 * (2 * fl) / tb / 1e9 / peak, 100 * (2 * fl) / cb / 1e9 / peak_cpu);

	double fwd, t = time_steps(cifar, 32, (int)steps, &fwd);
	printf("resnet18 3x32x32, batch 32: training step %.3f s (forward alone, eval: "
	       "%.3f s)\n", t, fwd);
	printf("  epoch of 50,000 images: %.0f s (%.1f min), extrapolated from %ld steps\n",
	       t * 50000 / 32, t * 50000 / 32 / 60, steps);
	t = time_steps(fmnist, 32, (int)steps, &fwd);
	printf("resnet18 1x28x28, batch 32: training step %.3f s; epoch of 60,000 "
	       "images: %.0f s (%.1f min)\n", t, t * 60000 / 32, t * 60000 / 32 / 60);
	printf("\nmemory of a training process, resnet18 3x32x32 batch 32: maxrss %.0f MB "
	       "(parameters, gradients and momentum: %.0f MB)\n", rss,
	       3.0 * np * 4 / 1048576.0);
	return 0;
}
