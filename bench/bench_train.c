/*
 * bench_train: the training hot paths of the papers' MLP and CNN beside the
 * machine's limits, measured in the same run.
 *
 * Limits: the sgemm rate on a large square product (the better of the
 * tiled pool, gemm.h, and OpenBLAS's own threading, every thread), and the
 * memory bandwidth of a 5-stream update (SGD momentum: read p, g, buf;
 * write buf, p) over a model-sized array. Then: sgemm at the exact shapes
 * of the MLP's layers at batch 32; the fused linear layer kernels (bias and
 * ReLU in the product's epilogue, the optimizer applied to each block of
 * the weight gradient); one MLP epoch as the authors train it (60,000
 * MNIST-shaped samples, batch 32, SGD momentum; synthetic data); the CNN's
 * convolutions forward and backward at batch 128; one CNN epoch (batch
 * 128, Adam); and the forward pass dumpacts makes over 60,000 samples.
 * Epochs are extrapolated from a timed subset unless MEMPROBE_BENCH_FULL=1.
 * Each line: seconds, GFLOP/s, and the fraction of the limit achieved,
 * limit = max(FLOPs / sgemm rate, bytes that must move / bandwidth). On a
 * busy machine wall-clock rates measure the other processes too, so the
 * limits and the epochs are also given per CPU-second (CPU time spread
 * over the threads): what an idle machine would show.
 * A benchmark, not a test.
 *
 *   build/bench/bench_train [THREADS [mlp|cnn|infer ...]]
 *
 * THREADS defaults to all CPUs; sections default to all.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gemm.h"
#include "model.h"
#include "nn.h"
#include "optim.h"
#include "par.h"
#include "rng.h"
#include "train.h"
#include "util.h"

static struct rng R;

static float *rnd(size_t n)
{
	float *a = xaligned_calloc(n ? n : 1, sizeof *a);
	for (size_t i = 0; i < n; i++)
		a[i] = rng_float(&R) - 0.5f;
	return a;
}


static double peak_gflops, bw_gbs;       /* wall clock */
static double peak_cpu, bw_cpu;          /* per CPU second, times threads */

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best seconds of a statement, over at least 3 runs and `budget` seconds:
 * wall clock into `best`, and CPU time over the threads into best_cpu. */
static double best_cpu;
#define BEST_OF(best, budget, ...) do { \
	double t_end_ = mp_now() + (budget); int n_ = 0; (best) = 1e30; best_cpu = 1e30; \
	do { double t0_ = mp_now(), c0_ = cpu_now(); __VA_ARGS__; \
	     double t_ = mp_now() - t0_, c_ = (cpu_now() - c0_) / par_threads(); \
	     (best) = t_ < (best) ? t_ : (best); best_cpu = c_ < best_cpu ? c_ : best_cpu; \
	     n_++; } while (n_ < 3 || mp_now() < t_end_); \
} while (0)


static void limits(void)
{
	int n = 2048;
	float *a = rnd((size_t)n * n), *b = rnd((size_t)n * n), *c = rnd((size_t)n * n);
	double t1, t2;
	BEST_OF(t1, 1.5, gemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n));
	openblas_set_num_threads(par_threads());
	BEST_OF(t2, 1.5, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
				     1.0f, a, n, b, n, 0.0f, c, n));
	openblas_set_num_threads(1);
	double g1 = 2.0 * n * n * n / t1 / 1e9, g2 = 2.0 * n * n * n / t2 / 1e9;
	peak_gflops = g1 > g2 ? g1 : g2;
	double c0 = cpu_now();
	for (int r = 0; r < 3; r++)
		gemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
	peak_cpu = 3 * 2.0 * n * n * n / ((cpu_now() - c0) / par_threads()) / 1e9;
	printf("sgemm %dx%dx%d: %.1f GFLOP/s tiled on the pool, %.1f GFLOP/s OpenBLAS "
	       "threads (%s, %d threads); %.1f GFLOP/s per CPU-second x threads\n",
	       n, n, n, g1, g2, par_blas_core(), par_threads(), peak_cpu);
	free(a);
	free(b);
	free(c);

	size_t np = 5433994;
	float *p = rnd(np), *g = rnd(np);
	struct optim o;
	optim_init(&o, OPTIM_SGD, 1e-9, np, p, g);
	optim_step(&o);
	double t;
	BEST_OF(t, 1.0, optim_step(&o));
	bw_gbs = 20.0 * np / t / 1e9;
	double c0b = cpu_now();
	for (int r = 0; r < 20; r++)
		optim_step(&o);
	bw_cpu = 20 * 20.0 * np / ((cpu_now() - c0b) / par_threads()) / 1e9;
	printf("bandwidth: %.1f GB/s (5-stream SGD-momentum update over %zu floats, "
	       "%.2f ms); %.1f GB/s per CPU-second x threads\n", bw_gbs, np, t * 1e3, bw_cpu);
	optim_release(&o);
	free(p);
	free(g);
}

static int cpu_limits;   /* report against the CPU-time limits */

/* A duration in the unit that shows it: a batch-32 layer takes microseconds,
 * an epoch seconds. Four significant digits, 10 columns wide. */
static const char *dur(char buf[32], double s)
{
	static const struct { double scale; const char *unit; } u[] = {
		{ 1, "s" }, { 1e3, "ms" }, { 1e6, "us" },
	};
	size_t i = 0;
	while (i + 1 < sizeof u / sizeof *u && s * u[i].scale < 1)
		i++;
	snprintf(buf, 32, "%#7.4g %-2s", s * u[i].scale, u[i].unit);
	return buf;
}

static void report(const char *what, double secs, double flops, double bytes)
{
	double pk = cpu_limits ? peak_cpu : peak_gflops, bw = cpu_limits ? bw_cpu : bw_gbs;
	double lim_f = flops / (pk * 1e9), lim_b = bytes / (bw * 1e9);
	double lim = lim_f > lim_b ? lim_f : lim_b;
	char a[32], b[32];
	printf("%-34s %s %7.1f GFLOP/s  %5.1f%% of limit (%s, %s-bound)\n",
	       what, dur(a, secs), flops / secs / 1e9, 100 * lim / secs, dur(b, lim),
	       lim_f >= lim_b ? "compute" : "memory");
}

/* A layer's figures by CPU time (best_cpu, from the last BEST_OF) against
 * the CPU-time limits; the wall-clock best in brackets. */
static void report_cpu(const char *what, double wall, double flops, double bytes)
{
	char name[96];
	snprintf(name, sizeof name, "%s", what);
	cpu_limits = 1;
	report(name, best_cpu, flops, bytes);
	cpu_limits = 0;
	char w[32];
	printf("%-34s %s wall\n", "", dur(w, wall));
}

/* ---- the MLP's shapes ---- */

static void mlp_shapes(void)
{
	static const int dims[] = { 784, 128, 512, 2048, 2048, 10 };
	const int B = 32;
	printf("\nMLP layers at batch %d (sgemm through gemm.h, then the fused kernels;\n"
	       "by CPU time over the threads, against the CPU-time limits)\n", B);
	for (int l = 0; l < 5; l++) {
		int Din = dims[l], Dout = dims[l + 1];
		float *x = rnd((size_t)B * Din), *w = rnd((size_t)Dout * Din), *b = rnd((size_t)Dout);
		float *y = rnd((size_t)B * Dout), *dy = rnd((size_t)B * Dout), *dx = rnd((size_t)B * Din);
		float *dw = rnd((size_t)Dout * Din), *db = rnd((size_t)Dout), *buf = rnd((size_t)Dout * Din);
		double f = 2.0 * B * Din * Dout, t;
		char name[64];
		BEST_OF(t, 0.3, gemm(0, 1, B, Dout, Din, 1.0f, x, Din, w, Din, 0.0f, y, Dout));
		snprintf(name, sizeof name, "fc%d %4dx%-4d sgemm fwd", l + 1, Dout, Din);
		report_cpu(name, t, f, 4.0 * Dout * Din);
		BEST_OF(t, 0.3, gemm(0, 0, B, Din, Dout, 1.0f, dy, Dout, w, Din, 0.0f, dx, Din));
		snprintf(name, sizeof name, "fc%d %4dx%-4d sgemm dX", l + 1, Dout, Din);
		report_cpu(name, t, f, 4.0 * Dout * Din);
		BEST_OF(t, 0.3, gemm(1, 0, Dout, Din, B, 1.0f, dy, Dout, x, Din, 0.0f, dw, Din));
		snprintf(name, sizeof name, "fc%d %4dx%-4d sgemm dW", l + 1, Dout, Din);
		report_cpu(name, t, f, 4.0 * Dout * Din);
		BEST_OF(t, 0.3, linear_forward(y, x, w, b, B, Din, Dout, l < 4));
		snprintf(name, sizeof name, "fc%d linear_forward (+bias+ReLU)", l + 1);
		report_cpu(name, t, f, 4.0 * Dout * Din);
		/* Backward with the SGD update fused, as in training. */
		struct optim o;
		float *params = w;
		optim_init(&o, OPTIM_SGD, 1e-9, (size_t)Dout * Din, params, dw);
		o.slot[0] = buf;
		o.step = 1;
		struct nn_hook h = optim_hook(&o);
		optim_begin_step(&o);
		BEST_OF(t, 0.3, linear_backward(l ? dx : NULL, dw, NULL, dy, x, w, y, B, Din,
						Dout, 0, &h));
		o.slot[0] = o.state;
		optim_release(&o);
		snprintf(name, sizeof name, "fc%d linear_backward + SGD", l + 1);
		report_cpu(name, t, (l ? 2 : 1) * f, 4.0 * Dout * Din * (l ? 5 : 4));
		free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db);
		free(buf);
	}
}

/* ---- whole models ---- */

/* Training FLOPs of one sample, and bytes that must move per step. */
static void model_cost(const struct model *m, double *flops, double *bytes)
{
	*flops = 0;
	for (int i = 0; i < m->nlayers; i++) {
		const struct layer *l = &m->layers[i];
		struct shape in = m->slots[l->in], out = m->slots[l->out];
		double f = 0;
		if (l->kind == LAYER_LINEAR)
			f = 2.0 * shape_size(in) * l->units;
		else if (l->kind == LAYER_CONV2D)
			f = 2.0 * shape_size(out) * in.c * l->k * l->k;
		int first = (m->alias[l->in] >= 0 ? m->alias[l->in] : l->in) == 0;
		*flops += f * (first ? 2 : 3);
	}
	/* Parameters: read forward, read backward, updated in place with the
	 * optimizer's slots (read and written). */
	int slots = 1;
	*bytes = 4.0 * m->nparams * (3 + 2 * slots);
}

static double last_cpu_epoch;   /* the last epoch's CPU-time estimate */

static double epoch(const char *arch, struct shape s, int B, enum optim_kind k,
		    double lr, size_t nsub, int full)
{
	struct model m;
	if (model_build(&m, arch, s, 10))
		die_lib();
	model_init_params(&m, &R);
	m.mode = MODEL_TRAIN;
	struct optim o;
	optim_init(&o, k, lr, m.nparams, m.params, m.grads);
	size_t n = full ? 60000 : nsub, sz = shape_size(s);
	float *x = rnd(n * sz);
	int32_t *y = xmalloc(n * sizeof *y), *pred = xmalloc((size_t)B * sizeof *pred);
	for (size_t i = 0; i < n; i++)
		y[i] = (int32_t)rng_below(&R, 10);
	train_step(&m, &o, x, y, B, pred);      /* warm up */
	double t0 = mp_now(), c0 = cpu_now();
	for (size_t i = 0; i < n; i += (size_t)B) {
		int b = (int)(n - i < (size_t)B ? n - i : (size_t)B);
		train_step(&m, &o, x + i * sz, y + i, b, pred);
	}
	double t = (mp_now() - t0) * 60000.0 / (double)n;
	double c = (cpu_now() - c0) * 60000.0 / (double)n;
	double f, bytes;
	model_cost(&m, &f, &bytes);
	if (k == OPTIM_ADAM)
		bytes += 4.0 * m.nparams * 2;
	char name[96];
	snprintf(name, sizeof name, "%s epoch, batch %d, %s%s", arch, B, optim_kind_name(k),
		 full ? "" : " (extrap.)");
	report(name, t, f * 60000, bytes * (60000.0 / B));
	/* On a busy machine wall time measures the other processes too: the
	 * CPU time spread over the threads is what an idle machine gives. */
	snprintf(name, sizeof name, "  same, CPU time / %d threads", par_threads());
	cpu_limits = 1;
	report(name, c / par_threads(), f * 60000, bytes * (60000.0 / B));
	cpu_limits = 0;
	last_cpu_epoch = c / par_threads();
	optim_release(&o);
	model_release(&m);
	free(x);
	free(y);
	free(pred);
	return t;
}

static void cnn_convs(void)
{
	struct { int C, HW, OC; } cs[] = {
		{ 1, 28, 16 }, { 16, 28, 16 }, { 16, 14, 32 }, { 32, 14, 32 },
		{ 32, 7, 64 }, { 64, 7, 64 },
	};
	const int B = 128;
	printf("\nCNN convolutions at batch %d, 3x3 pad 1 (by CPU time over the threads,\n"
	       "against the CPU-time limits)\n", B);
	for (int i = 0; i < 6; i++) {
		struct conv2d_dims d;
		conv2d_dims_init(&d, B, cs[i].C, cs[i].HW, cs[i].HW, cs[i].OC, 3, 3, 1, 1);
		size_t nin = (size_t)B * cs[i].C * cs[i].HW * cs[i].HW;
		size_t nout = (size_t)B * cs[i].OC * d.OH * d.OW, nw = (size_t)cs[i].OC * cs[i].C * 9;
		float *in = rnd(nin), *w = rnd(nw), *b = rnd((size_t)cs[i].OC), *out = rnd(nout);
		float *dout = rnd(nout), *din = rnd(nin), *dw = rnd(nw), *db = rnd((size_t)cs[i].OC);
		float *scr = xaligned_calloc(conv2d_scratch_floats(&d, par_threads()), sizeof(float));
		double f = 2.0 * nout * cs[i].C * 9, t;
		char name[64];
		BEST_OF(t, 0.3, conv2d_forward(out, in, w, b, scr, &d, 1));
		snprintf(name, sizeof name, "conv%d %2d->%2d %2dx%-2d forward", i + 1,
			 cs[i].C, cs[i].OC, cs[i].HW, cs[i].HW);
		report_cpu(name, t, f, 4.0 * (nin + nout));
		BEST_OF(t, 0.3, conv2d_backward(i ? din : NULL, dw, db, dout, in, w, out, scr,
						&d, 1, NULL));
		snprintf(name, sizeof name, "conv%d backward (dW%s)", i + 1, i ? " + dX" : "");
		report_cpu(name, t, (i ? 2 : 1) * f, 4.0 * (2 * nin + 2 * nout));
		free(in); free(w); free(b); free(out); free(dout); free(din); free(dw);
		free(db); free(scr);
	}
}

static void inference(void)
{
	struct model m;
	struct shape s = { 1, 28, 28 };
	if (model_build(&m, "mlp", s, 10))
		die_lib();
	model_init_params(&m, &R);
	size_t n = 12800, B = 256, sz = shape_size(s);
	float *x = rnd(n * sz);
	model_forward(&m, x, (int)B);
	double t0 = mp_now(), c0 = cpu_now();
	for (size_t i = 0; i < n; i += B)
		model_forward(&m, x + i * sz, (int)B);
	double t = (mp_now() - t0) * 60000.0 / (double)n;
	double c = (cpu_now() - c0) * 60000.0 / (double)n / par_threads();
	double f = 0, acts = 0;
	for (int i = 0; i < m.nlayers; i++)
		if (m.layers[i].kind == LAYER_LINEAR)
			f += 2.0 * shape_size(m.slots[m.layers[i].in]) * m.layers[i].units;
	for (int i = 0; i < m.nprobes; i++)
		acts += 4.0 * shape_size(m.slots[m.probes[i].slot]);
	printf("\ndumpacts' work, MLP over 60,000 samples (batch 256, extrap.)\n");
	report("forward pass, all layers", t, f * 60000, 4.0 * m.nparams * (60000.0 / B));
	cpu_limits = 1;
	report("  same, CPU time / threads", c, f * 60000, 4.0 * m.nparams * (60000.0 / B));
	cpu_limits = 0;
	printf("%-34s %9.2f GB to write (%.2f s at the update bandwidth)\n",
	       "activations of the 5 probed layers", acts * 60000 / 1e9,
	       acts * 60000 / (bw_gbs * 1e9));
	model_release(&m);
	free(x);
}

/* Sections named after THREADS on the command line, or all. */
static int want(int argc, char **argv, const char *name)
{
	if (argc <= 2)
		return 1;
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	long threads = 0;
	par_blas_reexec(argv);
	mp_init(argc, argv);
	if (argc > 1 && parse_long(argv[1], 0, 256, &threads))
		die("usage: bench_train [THREADS [mlp|cnn|infer ...]]");
	par_init((int)threads);
	rng_seed(&R, 1);
	const char *e = getenv("MEMPROBE_BENCH_FULL");
	int full = e && !strcmp(e, "1");

	FILE *la = fopen("/proc/loadavg", "r");
	char load[64] = "?";
	if (la) {
		if (!fgets(load, sizeof load, la))
			snprintf(load, sizeof load, "?");
		fclose(la);
		load[strcspn(load, " ")] = '\0';
	}
	printf("load average at start: %s on %ld CPUs (limits measured now; a busy "
	       "machine lowers them)\n", load, sysconf(_SC_NPROCESSORS_ONLN));
	limits();
	if (want(argc, argv, "mlp")) {
		mlp_shapes();
		printf("\nMLP epoch (60,000 samples%s)\n",
		       full ? "" : ", extrapolated from a timed subset");
		double tm = epoch("mlp", (struct shape){ 1, 28, 28 }, 32, OPTIM_SGD, 1e-3,
				  9600, full);
		printf("%-34s targets: <= 12 s (stretch <= 8 s); now %.1f s wall, "
		       "%.1f s by CPU time\n", "", tm, last_cpu_epoch);
	}
	if (want(argc, argv, "cnn")) {
		cnn_convs();
		printf("\n");
		epoch("cnn", (struct shape){ 1, 28, 28 }, 128, OPTIM_ADAM, 2e-4, 2560, full);
	}
	if (want(argc, argv, "infer"))
		inference();
	mp_close_stdout();
	return 0;
}
