/*
 * bench_npz: NPZ stream throughput (lib/stream/npz.c) for one 200 MB float32
 * member, written and read stored and deflated (level 1, the default, and
 * 6), beside the machine's limits measured in the same run on the same
 * bytes: memcpy, write(2) and read(2) of the bytes to and from a tmpfs
 * file, zlib's CRC-32 (every zip member carries one), and zlib's own raw
 * deflate / inflate at the same level (what libarchive's zip writer and
 * reader call). Prints
 * MB/s (of uncompressed data) and the ratios npz time / zlib time and
 * npz time / memcpy time. Two kinds of data: MNIST pixels normalised as
 * the tools do (2v/255 - 1: mostly -1.0; the real training images when
 * they are in the data cache, tiled to 200 MB, else a synthetic
 * stand-in), and ReLU-like activations (half zeros, random mantissas).
 * Files go to a tmpfs (/dev/shm, or $TMPDIR) so that disk speed does not
 * dominate. A benchmark, not a test: it asserts nothing about time.
 *
 *   build/bench/bench_npz [REPEATS] [MB]      (default 3 repeats, 200 MB)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "npy.h"
#include "npz.h"
#include "util.h"

static int reps = 3;
static char dir[256];

/* ---- data ---- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* MNIST training images, normalised, tiled to n floats; 0 if absent. */
static int mnist_real(float *x, size_t n)
{
	const char *d = getenv("MEMPROBE_DATA");
	char *path = xasprintf("%s/mnist/train-images-idx3-ubyte", d && *d ? d : "data");
	FILE *f = fopen(path, "rb");
	free(path);
	if (!f)
		return 0;
	unsigned char hdr[16];
	size_t len = 60000 * 784;
	unsigned char *pix = xmalloc(len);
	int ok = fread(hdr, 1, 16, f) == 16 && !memcmp(hdr, "\0\0\x08\x03", 4) &&
		 fread(pix, 1, len, f) == len;
	fclose(f);
	if (ok)
		for (size_t i = 0; i < n; i++)
			x[i] = 2.0f * (float)pix[i % len] / 255.0f - 1.0f;
	free(pix);
	return ok;
}

/* A stand-in: 28x28 images, background -1 outside a 20x20 box, inside it
 * a third of the pixels ink (half of them saturated, as MNIST strokes). */
static void mnist_synthetic(float *x, size_t n)
{
	uint64_t s = 42;
	for (size_t i = 0; i < n; i++) {
		size_t p = i % 784, r = p / 28, c = p % 28;
		float v = -1.0f;
		if (r >= 4 && r < 24 && c >= 4 && c < 24) {
			uint64_t z = splitmix(&s);
			if (z % 3 == 0)
				v = (z >> 8) & 1 ? 1.0f : 2.0f * (float)((z >> 16) % 256) / 255.0f - 1.0f;
		}
		x[i] = v;
	}
}

/* ReLU activations: half exact zeros, half positive with random bits. */
static void activations(float *x, size_t n)
{
	uint64_t s = 7;
	for (size_t i = 0; i < n; i++) {
		uint64_t z = splitmix(&s);
		x[i] = z & 1 ? 0.0f : (float)((double)(z >> 11) * 0x1.0p-53 * 3.0);
	}
}

/* ---- timing ---- */

/* Best of `reps` runs; a run over 2 s is not repeated (its noise is small,
 * and deflating activations at level 6 takes a quarter of a minute). */
static double best_of(double (*fn)(void *), void *arg)
{
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t = fn(arg);
		if (t < best)
			best = t;
		if (t > 2.0)
			break;
	}
	return best;
}

struct job {
	const float *x;          /* (n) */
	float *out;              /* (n) */
	size_t n, bytes;
	int level;
	unsigned char *z;        /* compressed bytes (zlib jobs) */
	size_t zcap, zlen;
	char path[300];
	off_t file_size;
};

static double t_memcpy(void *a)
{
	struct job *j = a;
	double t0 = mp_now();
	memcpy(j->out, j->x, j->bytes);
	return mp_now() - t0;
}

static double t_write_file(void *a)
{
	struct job *j = a;
	char *p = xasprintf("%s/raw.bin", dir);
	double t0 = mp_now();
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("cannot create '%s': %s", p, strerror(errno));
	for (size_t o = 0; o < j->bytes; ) {
		ssize_t k = write(fd, (const char *)j->x + o, j->bytes - o);
		if (k <= 0)
			die("write error: %s", strerror(errno));
		o += (size_t)k;
	}
	close(fd);
	double t = mp_now() - t0;
	free(p);
	return t;
}

/* read(2) of the file t_write_file leaves behind. */
static double t_read_file(void *a)
{
	struct job *j = a;
	char *p = xasprintf("%s/raw.bin", dir);
	double t0 = mp_now();
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		die("cannot open '%s': %s", p, strerror(errno));
	for (size_t o = 0; o < j->bytes; ) {
		ssize_t k = read(fd, (char *)j->out + o, j->bytes - o);
		if (k <= 0)
			die("read error: %s", k ? strerror(errno) : "short file");
		o += (size_t)k;
	}
	close(fd);
	double t = mp_now() - t0;
	free(p);
	return t;
}

static double t_crc(void *a)
{
	struct job *j = a;
	double t0 = mp_now();
	uLong c = crc32(0, NULL, 0);
	for (size_t o = 0; o < j->bytes; o += 1 << 30) {
		size_t k = j->bytes - o < (1u << 30) ? j->bytes - o : (1u << 30);
		c = crc32(c, (const Bytef *)j->x + o, (uInt)k);
	}
	double t = mp_now() - t0;
	if (c == 0x12345678)
		printf("#\n");          /* keep the loop */
	return t;
}

/* Raw deflate (no zlib header), as libarchive's zip writer sets it up. */
static double t_deflate(void *a)
{
	struct job *j = a;
	z_stream z;
	memset(&z, 0, sizeof z);
	double t0 = mp_now();
	if (deflateInit2(&z, j->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2 failed");
	z.next_in = (Bytef *)j->x;
	z.next_out = j->z;
	size_t in_left = j->bytes, out_left = j->zcap;
	int rc;
	do {
		uInt ki = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
		uInt ko = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
		z.avail_in = ki;
		z.avail_out = ko;
		rc = deflate(&z, in_left == ki ? Z_FINISH : Z_NO_FLUSH);
		in_left -= ki - z.avail_in;
		out_left -= ko - z.avail_out;
	} while (rc == Z_OK);
	if (rc != Z_STREAM_END)
		die("deflate failed: %d", rc);
	j->zlen = j->zcap - out_left;
	deflateEnd(&z);
	return mp_now() - t0;
}

static double t_inflate(void *a)
{
	struct job *j = a;
	z_stream z;
	memset(&z, 0, sizeof z);
	double t0 = mp_now();
	if (inflateInit2(&z, -15) != Z_OK)
		die("inflateInit2 failed");
	z.next_in = j->z;
	z.next_out = (Bytef *)j->out;
	size_t in_left = j->zlen, out_left = j->bytes;
	int rc;
	do {
		uInt ki = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
		uInt ko = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
		z.avail_in = ki;
		z.avail_out = ko;
		rc = inflate(&z, Z_NO_FLUSH);
		in_left -= ki - z.avail_in;
		out_left -= ko - z.avail_out;
	} while (rc == Z_OK);
	if (rc != Z_STREAM_END || out_left)
		die("inflate failed: %d", rc);
	inflateEnd(&z);
	return mp_now() - t0;
}

static double t_npz_write(void *a)
{
	struct job *j = a;
	struct npy_header h;
	int64_t shape[2] = { (int64_t)(j->n / 784), 784 };
	if (npy_header_init(&h, NPY_F4, 2, shape))
		die_lib();
	double t0 = mp_now();
	struct npz_writer *w = npz_writer_open(j->path, j->level);
	if (!w || npz_writer_add(w, "x", &h, j->x) || npz_writer_close(w))
		die_lib();
	double t = mp_now() - t0;
	struct stat st;
	j->file_size = stat(j->path, &st) ? 0 : st.st_size;
	return t;
}

static double t_npz_read(void *a)
{
	struct job *j = a;
	double t0 = mp_now();
	struct npz_reader *r = npz_reader_open(j->path);
	int rc;
	if (!r)
		die_lib();
	while ((rc = npz_reader_next(r)) > 0)
		if (npz_reader_is_array(r) &&
		    npz_reader_read_exact(r, j->out, npz_reader_header(r)->nbytes))
			die_lib();
	if (rc < 0)
		die_lib();
	npz_reader_free(r);
	return mp_now() - t0;
}

/* ---- report ---- */

static void row(const char *data, const char *what, double t, size_t bytes,
		const char *vs, double t_ref, const char *extra)
{
	printf("%-6s %-26s %8.1f MB/s", data, what, (double)bytes / t / 1e6);
	if (vs)
		printf("   %5.2fx %s", t / t_ref, vs);
	if (extra)
		printf("   %s", extra);
	printf("\n");
}

static void bench_data(const char *name, float *x, size_t n)
{
	struct job j = { 0 };
	j.x = x;
	j.n = n;
	j.bytes = n * sizeof *x;
	j.out = xaligned_calloc(n, sizeof *x);
	j.zcap = compressBound((uLong)j.bytes);
	j.z = xmalloc(j.zcap);
	memset(j.z, 0, j.zcap);
	snprintf(j.path, sizeof j.path, "%s/bench.npz", dir);

	double t_cpy = best_of(t_memcpy, &j);
	double t_wr = best_of(t_write_file, &j);
	double t_rd = best_of(t_read_file, &j);
	char *raw = xasprintf("%s/raw.bin", dir);
	unlink(raw);
	free(raw);
	double t_crc32 = best_of(t_crc, &j);
	row(name, "memcpy", t_cpy, j.bytes, NULL, 0, NULL);
	row(name, "write(2) to tmpfs", t_wr, j.bytes, "memcpy", t_cpy, NULL);
	row(name, "read(2) from tmpfs", t_rd, j.bytes, "memcpy", t_cpy, NULL);
	row(name, "zlib crc32", t_crc32, j.bytes, "memcpy", t_cpy, NULL);

	/* Stored. */
	j.level = 0;
	double tw = best_of(t_npz_write, &j);
	memset(j.out, 0, j.bytes);
	double tr = best_of(t_npz_read, &j);
	if (memcmp(j.out, j.x, j.bytes))
		die("%s: stored stream read back different data", name);
	/* A stored member still needs its CRC-32 and the file I/O: those
	 * are the floor, beside memcpy. */
	char extra[96];
	snprintf(extra, sizeof extra, "(%.2fx write(2)+crc32)", tw / (t_wr + t_crc32));
	row(name, "npz write stored", tw, j.bytes, "memcpy", t_cpy, extra);
	snprintf(extra, sizeof extra, "(%.2fx read(2)+crc32)", tr / (t_rd + t_crc32));
	row(name, "npz read stored", tr, j.bytes, "memcpy", t_cpy, extra);

	static const int levels[] = { 1, 6 };
	for (int li = 0; li < 2; li++) {
		char what[64];
		j.level = levels[li];
		double td = best_of(t_deflate, &j);
		double ti = best_of(t_inflate, &j);
		if (memcmp(j.out, j.x, j.bytes))
			die("%s: zlib round trip differs", name);
		snprintf(extra, sizeof extra, "(%.1f%% of the size)",
			 100.0 * (double)j.zlen / (double)j.bytes);
		snprintf(what, sizeof what, "zlib deflate -%d", j.level);
		row(name, what, td, j.bytes, NULL, 0, extra);
		snprintf(what, sizeof what, "zlib inflate -%d", j.level);
		row(name, what, ti, j.bytes, NULL, 0, NULL);

		tw = best_of(t_npz_write, &j);
		memset(j.out, 0, j.bytes);
		tr = best_of(t_npz_read, &j);
		if (memcmp(j.out, j.x, j.bytes))
			die("%s: level %d stream read back different data", name, j.level);
		snprintf(extra, sizeof extra, "(%.1f%% of the size; %.2fx deflate+crc32)",
			 100.0 * (double)j.file_size / (double)j.bytes,
			 tw / (td + t_crc32));
		snprintf(what, sizeof what, "npz write -z %d", j.level);
		row(name, what, tw, j.bytes, "zlib deflate", td, extra);
		snprintf(extra, sizeof extra, "(%.2fx inflate+crc32)", tr / (ti + t_crc32));
		snprintf(what, sizeof what, "npz read -z %d", j.level);
		row(name, what, tr, j.bytes, "zlib inflate", ti, extra);
	}
	unlink(j.path);
	free(j.out);
	free(j.z);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long v, mb = 200;
	mp_init(argc, argv);
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: bench_npz [REPEATS] [MB]\n");
		return 0;
	}
	if (argc > 1) {
		if (parse_long(argv[1], 1, 100, &v))
			die_usage("bench_npz [REPEATS] [MB]", "%s", mp_errmsg());
		reps = (int)v;
	}
	if (argc > 2) {
		if (parse_long(argv[2], 1, 4096, &mb))
			die_usage("bench_npz [REPEATS] [MB]", "%s", mp_errmsg());
	}
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
			   getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, sizeof dir, "%s/bench_npz.XXXXXX", base);
	if (!mkdtemp(dir))
		die("cannot create a directory in '%s': %s", base, strerror(errno));

	/* A whole number of 784-float rows, about mb * 10^6 bytes. */
	size_t n = (size_t)mb * 1000000 / 4 / 784 * 784;
	float *x = xaligned_calloc(n, sizeof *x);
	int real = mnist_real(x, n);
	if (!real)
		mnist_synthetic(x, n);
	printf("npz stream throughput: one float32 member of %.1f MB, best of %d; "
	       "files in %s; MB/s of uncompressed data\n", (double)n * 4 / 1e6, reps, base);
	printf("mnist: %s; act: ReLU-like activations (half zeros, random mantissas)\n",
	       real ? "the real MNIST training images, normalised 2v/255-1, tiled"
		    : "synthetic MNIST-like pixels (no MNIST in the data cache)");
	printf("ratios: time / time of the named reference (lower is better; 1.00x = as fast)\n");
	bench_data("mnist", x, n);
	activations(x, n);
	bench_data("act", x, n);
	free(x);
	rmdir(dir);
	mp_close_stdout();
	return 0;
}
