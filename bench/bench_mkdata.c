/*
 * bench_mkdata: `mkdata mnist` end to end (seconds, MB/s of x written),
 * stored and deflated, beside the machine's limits measured in the same
 * run on the same bytes: memcpy, zlib's CRC-32 (every zip member carries
 * one), writing the bytes to a file beside the output (the limit of a
 * stored stream), and zlib's raw deflate at the same level (what
 * libarchive's zip writer calls). A benchmark, not a test.
 *
 *   build/bench/bench_mkdata [REPEATS]     (mkdata from PATH or bin/, MNIST
 *                                            from $MEMPROBE_DATA/mnist or data/mnist)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <zlib.h>

#include "data.h"
#include "util.h"

/* Best of `reps` runs of `mkdata mnist --compress LEVEL -o out`. */
static double run_mkdata(int level, int reps, const char *out, off_t *size)
{
	double best = 1e30;
	char lv[8];
	snprintf(lv, sizeof lv, "%d", level);
	for (int r = 0; r < reps; r++) {
		double t0 = mp_now();
		pid_t pid = fork();
		if (pid < 0)
			die("fork failed");
		if (pid == 0) {
			execlp("mkdata", "mkdata", "mnist", "--compress", lv, "-o", out,
			       (char *)NULL);
			execl("bin/mkdata", "mkdata", "mnist", "--compress", lv, "-o", out,
			      (char *)NULL);
			_exit(127);
		}
		int st;
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			die("mkdata mnist --compress %d failed (status %d)", level, st);
		double t = mp_now() - t0;
		if (t < best)
			best = t;
	}
	struct stat sb;
	*size = stat(out, &sb) ? 0 : sb.st_size;
	return best;
}

/* Raw deflate of buf at `level`, as libarchive's zip writer sets it up;
 * best of reps; *outlen gets the compressed size. */
static double time_deflate(const void *buf, size_t n, int level, int reps,
			   size_t *outlen)
{
	static unsigned char out[1 << 20];
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		z_stream z;
		memset(&z, 0, sizeof z);
		if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			die("deflateInit2 failed");
		double t0 = mp_now();
		size_t total = 0, at = 0;
		int rc;
		do {
			size_t k = n - at > (1u << 20) ? (1u << 20) : n - at;
			z.next_in = (unsigned char *)buf + at;
			z.avail_in = (unsigned)k;
			at += k;
			int flush = at == n ? Z_FINISH : Z_NO_FLUSH;
			do {
				z.next_out = out;
				z.avail_out = sizeof out;
				rc = deflate(&z, flush);
				total += sizeof out - z.avail_out;
			} while (z.avail_out == 0);
		} while (rc != Z_STREAM_END);
		double t = mp_now() - t0;
		deflateEnd(&z);
		if (t < best)
			best = t;
		*outlen = total;
	}
	return best;
}

static double time_memcpy(void *dst, const void *src, size_t n, int reps)
{
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = mp_now();
		memcpy(dst, src, n);
		double t = mp_now() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

static double time_crc(const void *buf, size_t n, int reps)
{
	double best = 1e30;
	volatile uLong sink = 0;
	for (int r = 0; r < reps; r++) {
		double t0 = mp_now();
		uLong c = crc32(0L, Z_NULL, 0);
		for (size_t at = 0; at < n; at += 1u << 20)
			c = crc32(c, (const Bytef *)buf + at,
				  (uInt)(n - at < (1u << 20) ? n - at : 1u << 20));
		double t = mp_now() - t0;
		sink += c;
		if (t < best)
			best = t;
	}
	return best;
}

/* write() of buf to a new file at path, in 1 MiB pieces, then unlink. */
static double time_write(const void *buf, size_t n, const char *path, int reps)
{
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = mp_now();
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			die("cannot create '%s'", path);
		for (size_t at = 0; at < n;) {
			ssize_t k = write(fd, (const char *)buf + at,
					  n - at < (1u << 20) ? n - at : 1u << 20);
			if (k <= 0)
				die("write error on '%s'", path);
			at += (size_t)k;
		}
		close(fd);
		double t = mp_now() - t0;
		unlink(path);
		if (t < best)
			best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	struct data_opts o = DATA_OPTS_INIT;
	struct data_set d;
	long reps = 3;

	mp_init(argc, argv);
	if (argc > 1 && parse_long(argv[1], 1, 100, &reps))
		die_usage("bench_mkdata [REPEATS]", "%s", mp_errmsg());
	o.name = "mnist";
	if (data_load(&d, &o)) {
		printf("mkdata: skipped (%s)\n", mp_errmsg());
		return 0;
	}

	/* The bytes mkdata writes as x, made here once to measure the limits. */
	size_t count = d.n * (size_t)d.c * d.h * d.w, bytes = count * sizeof(float);
	float *x = xmallocarray(count, sizeof *x);
	float *copy = xmallocarray(count, sizeof *copy);
	data_normalize(x, d.pix, count, &d, DATA_NORM_AUTHORS);
	memset(copy, 0, bytes);
	double mb = (double)bytes / 1e6;

	char dir[] = "/tmp/bench_mkdata.XXXXXX";
	if (!mkdtemp(dir))
		die("cannot create a temporary folder");
	char *out = xasprintf("%s/mnist.npz", dir);

	double tm = time_memcpy(copy, x, bytes, (int)reps);
	double tc = time_crc(x, bytes, (int)reps);
	double tw = time_write(x, bytes, out, (int)reps);
	size_t zlen = 0;
	double tz = time_deflate(x, bytes, 1, (int)reps, &zlen);
	off_t s0, s1;
	double t0 = run_mkdata(0, (int)reps, out, &s0);
	double t1 = run_mkdata(1, (int)reps, out, &s1);
	unlink(out);
	rmdir(dir);

	printf("mkdata mnist (train): x %zu x %dx%dx%d float32 = %.1f MB, best of %ld\n",
	       d.n, d.c, d.h, d.w, mb, reps);
	printf("  memcpy of x               %7.3f s  %8.0f MB/s\n", tm, mb / tm);
	printf("  zlib crc32 of x           %7.3f s  %8.0f MB/s\n", tc, mb / tc);
	printf("  write(2) of x to a file   %7.3f s  %8.0f MB/s\n", tw, mb / tw);
	printf("  zlib deflate -1 of x      %7.3f s  %8.0f MB/s  -> %.1f MB\n", tz,
	       mb / tz, (double)zlen / 1e6);
	printf("  mkdata --compress 0       %7.3f s  %8.0f MB/s  -> %.1f MB  "
	       "(%.2fx crc32 + write, %.0fx memcpy)\n", t0, mb / t0, (double)s0 / 1e6,
	       t0 / (tc + tw), t0 / tm);
	printf("  mkdata --compress 1       %7.3f s  %8.0f MB/s  -> %.1f MB  "
	       "(%.2fx deflate, %.2fx deflate + crc32)\n", t1, mb / t1,
	       (double)s1 / 1e6, t1 / tz, t1 / (tz + tc));
	printf("  (mkdata's times include reading and checking the IDX files, process start)\n");

	free(out);
	free(copy);
	free(x);
	data_release(&d);
	return 0;
}
