/*
 * bench_probe.c: MASC fit + predict against the machine's own limits and
 * against the authors' method in NumPy, measured in the same run.
 *
 * Data: the MNIST input layer (60,000 x 784 train, 10,000 test; synthetic
 * Gaussian classes when MNIST is absent) and a 60,000 x 2048 activation
 * stream: ReLU random features relu(x W^T) of those inputs (W ~ N(0, 1/784),
 * fixed seed), standing in for the MLP's fc3/fc4. Streams are written
 * uncompressed to a temporary directory by a child process, so that the
 * memory figures below are not inflated by this process's own arrays.
 *
 * Prints: OpenBLAS's dsyrk and sgemm rates and LAPACK's dsyevd/dsytrd time
 * on a 2048^2 matrix; for each data set, memprobe's fit (reading,
 * accumulation as a rate and as a share of dsyrk, eigensolvers) and predict
 * on the test and training rows, the authors' method (bench_probe_numpy.py:
 * negation appended, np.cov, eigh, one sample at a time), the speedups; and
 * the peak RSS of `masc fit` (primal) on 6,000 vs 60,000 rows. Run from the
 * top of the tree (bench/run does).
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data.h"
#include "npz.h"
#include "par.h"
#include "probe.h"
#include "score.h"
#include "util.h"

#define NTRAIN 60000
#define NTEST 10000
#define D0 784
#define D1 2048
#define MEM_ROWS 6000
/* Rows of the authors' one-at-a-time prediction on the training set that
 * are timed; the loop is linear in the rows, the rest is extrapolated. */
#define NUMPY_TRAIN_TIMED 10000

static char dir[] = "/tmp/bench_probe.XXXXXX";

static uint64_t rs = 0x9E3779B97F4A7C15ULL;
static double nrand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	double u = ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	double v = (double)(rs >> 11) / 9007199254740992.0;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static char *path(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void write_stream(const char *name, const char *meta, const int32_t *y,
			 const float *x, size_t n, size_t d, const char *member)
{
	char *p = path(name);
	struct npz_writer *w = npz_writer_open(p, 0);
	struct npy_header hy, hx;
	if (!w || npy_header_1d(&hy, NPY_I4, (int64_t)n) ||
	    npy_header_2d(&hx, NPY_F4, (int64_t)n, (int64_t)d) ||
	    npz_writer_add_text(w, "meta.txt", meta, strlen(meta)) ||
	    npz_writer_add(w, "y", &hy, y) || npz_writer_add(w, member, &hx, x) ||
	    npz_writer_close(w))
		die_lib();
	free(p);
}

/* x (n, 784) and y (n) of MNIST's split, or 0 when it is not there. */
static int load_mnist(enum data_split split, float **x, int32_t **y, size_t *n)
{
	struct data_opts o = DATA_OPTS_INIT;
	struct data_set d;
	o.name = "mnist";
	o.split = split;
	if (data_load(&d, &o))
		return 0;
	uint8_t *raw = xmalloc(d.n * D0);
	if (data_rows(&d, 0, d.n, raw))
		die_lib();
	*x = xmalloc(d.n * D0 * sizeof **x);
	data_normalize(*x, raw, d.n * D0, &d, DATA_NORM_AUTHORS);
	*y = xmalloc(d.n * sizeof **y);
	memcpy(*y, d.y, d.n * sizeof **y);
	*n = d.n;
	free(raw);
	data_release(&d);
	return 1;
}

/* Ten Gaussian classes around random means, for want of MNIST. */
static void synthetic(size_t n, float **x, int32_t **y)
{
	static float *mean;
	if (!mean) {
		mean = xmalloc(10 * D0 * sizeof *mean);
		for (size_t i = 0; i < 10 * D0; i++)
			mean[i] = (float)nrand();
	}
	*x = xmalloc(n * D0 * sizeof **x);
	*y = xmalloc(n * sizeof **y);
	for (size_t i = 0; i < n; i++) {
		(*y)[i] = (int32_t)(i % 10);
		for (size_t j = 0; j < D0; j++)
			(*x)[i * D0 + j] = mean[(i % 10) * D0 + j] +
					   (float)(nrand() / (1 + 0.05 * (double)j));
	}
}

/* relu(x W^T), (n, 2048). */
static float *features(const float *x, size_t n, const float *w)
{
	float *h = xmalloc(n * D1 * sizeof *h);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, D1, D0, 1.0f, x,
		    D0, w, D0, 0.0f, h, D1);
	for (size_t i = 0; i < n * D1; i++)
		if (!(h[i] > 0))
			h[i] = 0;
	return h;
}

/* In a child: every stream the benchmark reads. Returns 1 for MNIST. */
static int make_data(void)
{
	float *xtr, *xte, *w;
	int32_t *ytr, *yte;
	size_t ntr = NTRAIN, nte = NTEST;
	int mnist = load_mnist(DATA_TRAIN, &xtr, &ytr, &ntr) &&
		    load_mnist(DATA_TEST, &xte, &yte, &nte);
	if (!mnist) {
		synthetic(NTRAIN, &xtr, &ytr);
		synthetic(NTEST, &xte, &yte);
		ntr = NTRAIN;
		nte = NTEST;
	}
	const char *m0 = "data.classes=10\n";
	write_stream("train784.npz", m0, ytr, xtr, ntr, D0, "x");
	write_stream("test784.npz", m0, yte, xte, nte, D0, "x");
	write_stream("mem6000.npz", m0, ytr, xtr, MEM_ROWS, D0, "x");
	w = xmalloc((size_t)D1 * D0 * sizeof *w);
	for (size_t i = 0; i < (size_t)D1 * D0; i++)
		w[i] = (float)(nrand() / sqrt((double)D0));
	const char *m1 = "data.classes=10\ndumpacts.layer=relu2048\n";
	float *h = features(xtr, ntr, w);
	write_stream("train2048.npz", m1, ytr, h, ntr, D1, "act");
	free(h);
	h = features(xte, nte, w);
	write_stream("test2048.npz", m1, yte, h, nte, D1, "act");
	free(h);
	return mnist;
}

/* Run argv, wait; its peak RSS in MB (-1 on failure). */
static double spawn_maxrss(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return (double)ru.ru_maxrss / 1024.0;
}

static double rate_dsyrk(int n, int k)
{
	double *a = xmalloc((size_t)n * k * sizeof *a), *s = xcalloc((size_t)n * n, sizeof *s);
	for (size_t i = 0; i < (size_t)n * k; i++)
		a[i] = nrand();
	double best = 0;
	for (int r = 0; r < 3; r++) {
		double t = mp_now();
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, a, n, 1.0, s, n);
		t = mp_now() - t;
		best = fmax(best, (double)n * n * k / t / 1e9);
	}
	free(a);
	free(s);
	return best;
}

static double rate_sgemm(int n)
{
	float *a = xmalloc((size_t)n * n * sizeof *a), *c = xmalloc((size_t)n * n * sizeof *c);
	for (size_t i = 0; i < (size_t)n * n; i++)
		a[i] = (float)nrand();
	double best = 0;
	for (int r = 0; r < 3; r++) {
		double t = mp_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, a,
			    n, 0.0f, c, n);
		t = mp_now() - t;
		best = fmax(best, 2.0 * n * n * n / t / 1e9);
	}
	free(a);
	free(c);
	return best;
}

/* Seconds of dsyevd ('V') and dsytrd on a random 2048^2 scatter matrix. */
static void time_eigen(double *t_evd, double *t_trd)
{
	int n = D1, k = 3000;
	double *x = xmalloc((size_t)n * k * sizeof *x), *s = xcalloc((size_t)n * n, sizeof *s);
	double *a = xmalloc((size_t)n * n * sizeof *a), *w = xmalloc(n * sizeof *w);
	double *e = xmalloc(n * sizeof *e), *tau = xmalloc(n * sizeof *tau);
	for (size_t i = 0; i < (size_t)n * k; i++)
		x[i] = nrand() / (1 + 0.01 * (double)(i % (size_t)n));
	cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, n, k, 1.0, x, n, 0.0, s, n);
	memcpy(a, s, (size_t)n * n * sizeof *a);
	double t = mp_now();
	if (LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a, n, w))
		die("dsyevd failed");
	*t_evd = mp_now() - t;
	memcpy(a, s, (size_t)n * n * sizeof *a);
	t = mp_now();
	if (LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', n, a, n, w, e, tau))
		die("dsytrd failed");
	*t_trd = mp_now() - t;
	free(x);
	free(s);
	free(a);
	free(w);
	free(e);
	free(tau);
}

/* Seconds to read every row of the big member as float64. */
static double time_read(const char *file)
{
	struct npz_reader *r = npz_reader_open(file);
	double t = mp_now();
	int rc;
	if (!r)
		die_lib();
	while ((rc = npz_reader_next(r)) > 0) {
		const char *nm = npz_reader_name(r);
		if (strcmp(nm, "x") && strcmp(nm, "act"))
			continue;
		const struct npy_header *h = npz_reader_header(r);
		size_t n = (size_t)h->shape[0], d = npy_row_count(h), rb = 1024;
		double *buf = xmalloc(rb * d * sizeof *buf);
		for (size_t i = 0; i < n; i += rb)
			if (npz_reader_read_rows_f64(r, buf, n - i < rb ? n - i : rb))
				die_lib();
		free(buf);
	}
	if (rc < 0)
		die_lib();
	npz_reader_free(r);
	return mp_now() - t;
}

struct numpy_result {
	int ok;
	double fit, cov, eigh, predict_test, predict_train, acc;
	long k_total, timed;
};

static struct numpy_result run_numpy(const char *train, const char *test)
{
	struct numpy_result nr = { 0 };
	if (access("bench/bench_probe_numpy.py", R_OK) || access("/usr/bin/python3", X_OK))
		return nr;
	char *cmd = xasprintf("/usr/bin/python3 -c 'import numpy' 2>/dev/null && "
			      "/usr/bin/python3 bench/bench_probe_numpy.py %s %s 0.99 %d",
			      train, test, NUMPY_TRAIN_TIMED);
	FILE *p = popen(cmd, "r");
	char key[64];
	double v;
	int got = 0;
	while (p && fscanf(p, "%63s %lf", key, &v) == 2) {
		got++;
		if (!strcmp(key, "fit")) nr.fit = v;
		else if (!strcmp(key, "cov")) nr.cov = v;
		else if (!strcmp(key, "eigh")) nr.eigh = v;
		else if (!strcmp(key, "k_total")) nr.k_total = (long)v;
		else if (!strcmp(key, "predict_test")) nr.predict_test = v;
		else if (!strcmp(key, "acc_test")) nr.acc = v;
		else if (!strcmp(key, "predict_train")) nr.predict_train = v;
		else if (!strcmp(key, "train_rows_timed")) nr.timed = (long)v;
	}
	nr.ok = p && pclose(p) == 0 && got >= 8;
	free(cmd);
	return nr;
}

static double accuracy(const char *pred)
{
	struct score_result s;
	if (score_stream(pred, &s) || !s.n)
		return NAN;
	return (double)s.correct / (double)s.n;
}

static void bench_set(const char *what, const char *trn, const char *tst, size_t d,
		      double syrk)
{
	char *train = path(trn), *test = path(tst), *probe = path("probe.npz");
	char *pte = path("pred-test.npz"), *ptr = path("pred-train.npz");
	struct probe_fit_opts o = PROBE_FIT_OPTS_INIT;
	struct probe_fit f;
	struct masc_probe p;

	printf("D=%zu: %s, %d train / %d test rows\n", d, what, NTRAIN, NTEST);
	fflush(stdout);
	struct numpy_result nr = run_numpy(train, test);

	double t_read = time_read(train);
	double t0 = mp_now();
	if (probe_fit(&f, train, &o) || masc_write(&f, &o, probe, 0, NULL))
		die_lib();
	double t_fit = mp_now() - t0;
	double acc_s = f.seconds_read - t_read;
	double flops = (double)f.rows * (double)d * (double)d;
	t0 = mp_now();
	if (masc_probe_load(&p, probe))
		die_lib();
	struct probe_scorer sc = { p.classes, p.dim, masc_score, &p, NULL };
	if (probe_predict(test, pte, 0, &sc, NULL))
		die_lib();
	double t_te = mp_now() - t0;
	t0 = mp_now();
	if (probe_predict(train, ptr, 0, &sc, NULL))
		die_lib();
	double t_tr = mp_now() - t0;
	double acc = accuracy(pte);

	printf("  memprobe  fit %.2f s: read %.2f s, accumulate %.2f s (%.1f GFLOP/s, %.0f%% of dsyrk),"
	       " eigen %.2f s, write %.2f s; %s; k_total %zu\n",
	       t_fit, t_read, acc_s, flops / acc_s / 1e9, 100 * flops / acc_s / 1e9 / syrk,
	       f.seconds_solve, t_fit - f.seconds_read - f.seconds_solve,
	       probe_method_str(f.method), f.ktotal);
	printf("            predict test %.2f s, train %.2f s; test accuracy %.4f\n",
	       t_te, t_tr, acc);
	if (nr.ok) {
		printf("  authors   fit %.2f s (cov %.2f s, eigh %.2f s); k_total %ld;"
		       " predict test %.2f s, train %.2f s (extrapolated from %ld rows);"
		       " test accuracy %.4f\n",
		       nr.fit, nr.cov, nr.eigh, nr.k_total, nr.predict_test, nr.predict_train,
		       nr.timed, nr.acc);
		printf("  speedup   fit %.1fx; fit + predict test %.1fx;"
		       " fit + predict test and train %.1fx\n",
		       nr.fit / t_fit, (nr.fit + nr.predict_test) / (t_fit + t_te),
		       (nr.fit + nr.predict_test + nr.predict_train) / (t_fit + t_te + t_tr));
	} else {
		printf("  authors   (not measured: no /usr/bin/python3 with NumPy, or it failed)\n");
	}
	fflush(stdout);
	masc_probe_release(&p);
	probe_fit_release(&f);
	unlink(probe);
	unlink(pte);
	unlink(ptr);
	free(train);
	free(test);
	free(probe);
	free(pte);
	free(ptr);
}

int main(int argc, char **argv)
{
	par_blas_reexec(argv);
	mp_init(argc, argv);
	if (!mkdtemp(dir))
		die("cannot make a temporary directory");

	/* The data, written by a child: this process stays small while the
	 * memory of `masc fit` is measured. */
	pid_t pid = fork();
	if (pid < 0)
		die("fork failed");
	if (!pid) {
		par_init(0);
		_exit(make_data() ? 0 : 3);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3))
		die("could not write the benchmark's data in %s", dir);
	int mnist = WEXITSTATUS(st) == 0;

	char *m6 = path("mem6000.npz"), *m60 = path("train784.npz");
	char *masc = access("bin/masc", X_OK) ? "masc" : "bin/masc";
	char *a6[] = { masc, "fit", "-q", "--method", "primal", m6, NULL };
	char *a60[] = { masc, "fit", "-q", "--method", "primal", m60, NULL };
	double r6 = spawn_maxrss(a6), r60 = spawn_maxrss(a60);

	par_init(0);
	openblas_set_num_threads(par_threads());
	printf("machine: OpenBLAS %s, %d threads\n", par_blas_core(), par_threads());
	double s784 = rate_dsyrk(D0, 6000), s2048 = rate_dsyrk(D1, 6000);
	double sg = rate_sgemm(D1), t_evd, t_trd;
	time_eigen(&t_evd, &t_trd);
	printf("  dsyrk n=784 k=6000   %6.1f GFLOP/s\n", s784);
	printf("  dsyrk n=2048 k=6000  %6.1f GFLOP/s\n", s2048);
	printf("  sgemm 2048^3         %6.1f GFLOP/s\n", sg);
	printf("  dsyevd 2048x2048     %6.2f s (dsytrd alone %.2f s)\n", t_evd, t_trd);
	fflush(stdout);
	par_init(0);                 /* back to single-threaded BLAS in tasks */

	bench_set(mnist ? "MNIST input layer" : "synthetic Gaussian classes (no MNIST)",
		  "train784.npz", "test784.npz", D0, s784);
	bench_set(mnist ? "relu(x W^T) random features of the MNIST inputs"
			: "relu(x W^T) random features of the synthetic inputs",
		  "train2048.npz", "test2048.npz", D1, s2048);
	if (r6 > 0 && r60 > 0)
		printf("memory: masc fit --method primal, D=784, peak RSS: %d rows %.0f MB,"
		       " %d rows %.0f MB\n", MEM_ROWS, r6, NTRAIN, r60);
	else
		printf("memory: not measured (bin/masc not on PATH?)\n");

	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd))
		warn("could not remove %s", dir);
	free(cmd);
	free(m6);
	free(m60);
	mp_close_stdout();
	return 0;
}
