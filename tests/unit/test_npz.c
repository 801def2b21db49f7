/*
 * test_npz.c: NPZ streams (lib/stream/npz.c) end to end in C: round trips of
 * every dtype and shape at every level, determinism, streamed and copied
 * members, bundles, the conversions on load, the writer's temporary file
 * and stdout hold, pipes, and the reader's verdict on damaged input:
 * crafted .npy members (format 2.0 and 3.0 headers, lying headers, bad
 * magic), a stream cut at every byte, and every byte flipped.
 * tests/stream.bats covers the same ground from the shell and NumPy.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "meta.h"
#include "npy.h"
#include "npz.h"
#include "scratch.h"
#include "tap.h"
#include "util.h"

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	unsigned char *b = xmalloc(cap);
	if (!f) {
		*len = 0;
		return b;
	}
	for (;;) {
		if (n == cap)
			b = xrealloc(b, cap *= 2);
		size_t k = fread(b + n, 1, cap - n, f);
		if (!k)
			break;
		n += k;
	}
	fclose(f);
	*len = n;
	return b;
}

static void spit(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n)
		abort();
	fclose(f);
}

/* The last message holds a (and b, unless NULL). */
static int msg_has(const char *a, const char *b)
{
	const char *m = mp_errmsg();
	int ok = strstr(m, a) && (!b || strstr(m, b));
	if (!ok)
		printf("#   message: %s\n", m);
	return ok;
}

/* Deterministic contents for an array: distinct per element and member. */
static void *make_data(const struct npy_header *h, unsigned seed)
{
	void *p = xaligned_calloc(h->nbytes ? h->nbytes : 1, 1);
	for (size_t i = 0; i < h->count; i++) {
		double v = (double)(i * 2654435761u % 1000003u) * 0.25 - 1000 + seed;
		switch (h->dtype) {
		case NPY_F4: ((float *)p)[i] = (float)v; break;
		case NPY_F8: ((double *)p)[i] = v / 3; break;
		case NPY_I4: ((int32_t *)p)[i] = (int32_t)v; break;
		case NPY_I8: ((int64_t *)p)[i] = (int64_t)v * 4294967311LL; break;
		case NPY_U1: ((uint8_t *)p)[i] = (uint8_t)(i * 31 + seed); break;
		}
	}
	return p;
}

/* The members of the test stream. */
struct want {
	const char *name;
	enum npy_dtype t;
	int ndim;
	int64_t shape[4];
};

static const struct want members[] = {
	{ "y", NPY_I4, 1, { 1000 } },
	{ "y_true", NPY_I8, 1, { 1000 } },
	{ "flipped", NPY_U1, 1, { 1000 } },
	{ "scalar", NPY_F8, 0, { 0 } },
	{ "empty", NPY_F4, 2, { 0, 3 } },
	{ "empty1", NPY_U1, 1, { 0 } },
	{ "cube", NPY_I8, 3, { 2, 3, 4 } },
	{ "x", NPY_F4, 4, { 300, 1, 28, 28 } },      /* ~940 KB: many blocks */
};
#define NMEMBERS (sizeof members / sizeof members[0])

static void header_of(const struct want *m, struct npy_header *h)
{
	if (npy_header_init(h, m->t, m->ndim, m->shape))
		abort();
}

static void set_meta(struct meta *m)
{
	meta_init(m);
	meta_set(m, "data.name", "test");
	meta_set(m, "data.n", "%d", 1000);
}

/* Write the test stream to path (NULL: stdout) at level, whole members,
 * or streamed in pieces of `piece` bytes. */
static int write_test_stream(const char *path, int level, size_t piece)
{
	struct meta m;
	struct npz_writer *w = npz_writer_open(path, level);
	if (!w)
		return -1;
	set_meta(&m);
	int rc = npz_writer_add_meta(w, &m);
	meta_release(&m);
	for (size_t i = 0; i < NMEMBERS && !rc; i++) {
		struct npy_header h;
		header_of(&members[i], &h);
		unsigned char *d = make_data(&h, (unsigned)i);
		if (!piece) {
			rc = npz_writer_add(w, members[i].name, &h, d);
		} else {
			rc = npz_writer_begin(w, members[i].name, &h);
			for (size_t o = 0; o < h.nbytes && !rc; o += piece)
				rc = npz_writer_write(w, d + o, h.nbytes - o < piece ?
						      h.nbytes - o : piece);
			if (!rc)
				rc = npz_writer_end(w);
		}
		free(d);
	}
	if (rc) {
		npz_writer_abort(w);
		return -1;
	}
	return npz_writer_close(w);
}

/* Read a stream and check it is exactly the test stream; reads array data
 * in pieces of `piece` bytes (0: npz_reader_load). */
static int check_test_stream(const char *path, size_t piece)
{
	struct npz_reader *r = npz_reader_open(path);
	int ok = 1;
	if (!r) {
		printf("#   open: %s\n", mp_errmsg());
		return 0;
	}
	if (npz_reader_next(r) != 1 || npz_reader_is_array(r) ||
	    strcmp(npz_reader_name(r), "meta.txt")) {
		printf("#   no meta.txt first: %s\n", mp_errmsg());
		npz_reader_free(r);
		return 0;
	}
	struct meta m = META_INIT;
	ok &= npz_reader_load_meta(r, &m) == 0;
	ok &= m.n == 2 && meta_get(&m, "data.n") && !strcmp(meta_get(&m, "data.n"), "1000");
	meta_release(&m);
	for (size_t i = 0; i < NMEMBERS && ok; i++) {
		struct npy_header want;
		header_of(&members[i], &want);
		if (npz_reader_next(r) != 1) {
			printf("#   member %zu: %s\n", i, mp_errmsg());
			ok = 0;
			break;
		}
		const struct npy_header *h = npz_reader_header(r);
		ok &= npz_reader_is_array(r) && !strcmp(npz_reader_name(r), members[i].name);
		ok &= h->dtype == want.dtype && h->ndim == want.ndim &&
		      h->count == want.count && h->nbytes == want.nbytes;
		for (int d = 0; d < want.ndim; d++)
			ok &= h->shape[d] == want.shape[d];
		unsigned char *d = make_data(&want, (unsigned)i), *got;
		if (!piece) {
			got = npz_reader_load(r);
		} else {
			got = xmalloc(want.nbytes + 1);
			size_t n = 0;
			ssize_t k;
			while ((k = npz_reader_read(r, got + n, piece)) > 0)
				n += (size_t)k;
			ok &= k == 0 && n == want.nbytes;
		}
		ok &= got && !memcmp(got, d, want.nbytes);
		free(got);
		free(d);
	}
	int rc = npz_reader_next(r);
	if (rc != 0)
		printf("#   end: %d %s\n", rc, mp_errmsg());
	ok &= rc == 0;
	ok &= npz_reader_next(r) == 0;               /* stays at the end */
	npz_reader_free(r);
	return ok;
}

/* ---- round trips ---- */

TEST(roundtrip_every_level)
{
	for (int level = 0; level <= 9; level++) {
		char *p = scratch_path("rt.npz");
		CHECK(write_test_stream(p, level, 0) == 0);
		int ok = check_test_stream(p, 0);
		CHECK(ok);
		if (!ok)
			printf("#   level %d\n", level);
	}
	CHECK(scratch_count(".tmp.") == 0);
}

TEST(roundtrip_pieces)
{
	/* Written in odd pieces, read in odd pieces: same arrays. */
	static const size_t pieces[] = { 1, 3, 4093, 65536, (size_t)1 << 22 };
	for (size_t i = 0; i < 5; i++) {
		char *p = scratch_path("pc.npz");
		CHECK(write_test_stream(p, i % 2, pieces[i] == 1 ? 7 : pieces[i]) == 0);
		CHECK(check_test_stream(p, pieces[i]));
	}
}

TEST(determinism)
{
	size_t n1, n2, n3, n4;
	CHECK(write_test_stream(scratch_path("d1.npz"), 1, 0) == 0);
	CHECK(write_test_stream(scratch_path("d2.npz"), 1, 0) == 0);
	CHECK(write_test_stream(scratch_path("d3.npz"), 1, 999) == 0);
	CHECK(write_test_stream(scratch_path("d4.npz"), 0, 0) == 0);
	unsigned char *a = slurp(scratch_path("d1.npz"), &n1), *b = slurp(scratch_path("d2.npz"), &n2);
	unsigned char *c = slurp(scratch_path("d3.npz"), &n3), *d = slurp(scratch_path("d4.npz"), &n4);
	CHECK(n1 > 0 && n1 == n2 && !memcmp(a, b, n1));
	/* Streaming in pieces makes the same bytes. */
	CHECK(n1 == n3 && !memcmp(a, c, n1));
	/* A stored stream differs and is larger than the sum of the data. */
	CHECK(n4 != n1);
	CHECK(n4 > 300 * 784 * 4 + 1000 * 13);
	/* No 10 KiB padding: the stream ends with its end record. */
	CHECK(n1 >= 22 && !memcmp(a + n1 - 22, "PK\005\006", 4));
	CHECK(n4 >= 22 && !memcmp(d + n4 - 22, "PK\005\006", 4));
	free(a);
	free(b);
	free(c);
	free(d);
}

TEST(level_parse_and_default)
{
	int lv = -1;
	for (int i = 0; i <= 9; i++) {
		char s[4];
		snprintf(s, sizeof s, "%d", i);
		CHECK(npz_level_parse(s, &lv) == 0 && lv == i);
	}
	lv = 5;
	CHECK(npz_level_parse("10", &lv) == -1 && lv == 5);
	CHECK(npz_level_parse("-1", &lv) == -1);
	CHECK(npz_level_parse("fast", &lv) == -1);
	CHECK(npz_level_parse("", &lv) == -1);
	CHECK(strstr(mp_errmsg(), "compression level") != NULL);
	unsetenv("MEMPROBE_COMPRESS");
	CHECK(npz_level_default() == NPZ_LEVEL_DEFAULT);
	setenv("MEMPROBE_COMPRESS", "0", 1);
	CHECK(npz_level_default() == 0);
	setenv("MEMPROBE_COMPRESS", "9", 1);
	CHECK(npz_level_default() == 9);
	setenv("MEMPROBE_COMPRESS", "junk", 1);
	CHECK(npz_level_default() == NPZ_LEVEL_DEFAULT);
	unsetenv("MEMPROBE_COMPRESS");
}

/* ---- reading partially, skipping ---- */

TEST(skip_and_partial_reads)
{
	char *p = scratch_path("sk.npz");
	CHECK(write_test_stream(p, 1, 0) == 0);
	struct npz_reader *r = npz_reader_open(p);
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(!strcmp(npz_reader_path(r), p));
	int rc, n = 0;
	while ((rc = npz_reader_next(r)) > 0) {
		n++;
		/* Read a little of some members, nothing of others. */
		if (npz_reader_is_array(r) && n % 2) {
			char b[5];
			CHECK(npz_reader_read(r, b, sizeof b) >= 0);
		}
	}
	CHECK(rc == 0);
	CHECK(n == (int)NMEMBERS + 1);
	npz_reader_free(r);

	r = npz_reader_open(p);
	while ((rc = npz_reader_next(r)) > 0)
		CHECK(npz_reader_skip(r) == 0);
	CHECK(rc == 0);
	npz_reader_free(r);
}

TEST(open_errors)
{
	CHECK(npz_reader_open(scratch_path("does-not-exist.npz")) == NULL);
	CHECK(strstr(mp_errmsg(), "does-not-exist.npz") != NULL);
	CHECK(npz_writer_open(scratch_path("no/such/dir/out.npz"), 1) == NULL);
	CHECK(strstr(mp_errmsg(), "out.npz") != NULL);
}

/* ---- conversions ---- */

static void write_arrays(const char *path, int n, const char **names,
			 struct npy_header *hs, void **data)
{
	struct npz_writer *w = npz_writer_open(path, 1);
	for (int i = 0; i < n; i++)
		if (npz_writer_add(w, names[i], &hs[i], data[i]))
			abort();
	if (npz_writer_close(w))
		abort();
}

TEST(load_conversions)
{
	int64_t i8[4] = { -3, 0, 7, 2147483647 };
	uint8_t u1[4] = { 0, 1, 200, 255 };
	int32_t i4[4] = { -2147483647 - 1, -1, 16777217, 5 };
	double f8[4] = { 0.1, -1e-50, 3.4e38, 1.0 / 3 };
	float f4[4] = { 0.5f, -1.0f, 1e-8f, 3.0f };
	int64_t big[2] = { 1, 2147483648LL };
	const char *names[] = { "i8", "u1", "i4", "f8", "f4", "big" };
	struct npy_header hs[6];
	void *data[6] = { i8, u1, i4, f8, f4, big };
	npy_header_1d(&hs[0], NPY_I8, 4);
	npy_header_1d(&hs[1], NPY_U1, 4);
	npy_header_1d(&hs[2], NPY_I4, 4);
	npy_header_1d(&hs[3], NPY_F8, 4);
	npy_header_1d(&hs[4], NPY_F4, 4);
	npy_header_1d(&hs[5], NPY_I8, 2);
	char *p = scratch_path("conv.npz");
	write_arrays(p, 6, names, hs, data);

	struct npz_reader *r = npz_reader_open(p);
	int32_t *v;
	float *f;
	size_t n;
	/* int64 labels (NumPy's default) load as int32. */
	CHECK(npz_reader_next(r) == 1);
	CHECK(npz_reader_load_i32(r, &v, &n) == 0 && n == 4);
	CHECK(v[0] == -3 && v[1] == 0 && v[2] == 7 && v[3] == 2147483647);
	free(v);
	CHECK(npz_reader_next(r) == 1);
	CHECK(npz_reader_load_i32(r, &v, &n) == 0);
	CHECK(v[2] == 200 && v[3] == 255);
	free(v);
	CHECK(npz_reader_next(r) == 1);
	CHECK(npz_reader_load_i32(r, &v, NULL) == 0);
	CHECK(v[0] == INT32_MIN && v[2] == 16777217);
	free(v);
	/* Floats are not labels. */
	CHECK(npz_reader_next(r) == 1);
	CHECK(npz_reader_load_i32(r, &v, &n) == -1);
	CHECK(strstr(mp_errmsg(), "'f8'") != NULL);
	npz_reader_free(r);

	/* Integers are not features (memprobe-stream(5): float members are
	 * float32 or float64): no loader or row reader makes floats of them,
	 * whatever their dtype. */
	r = npz_reader_open(p);
	for (int i = 0; i < 3; i++) {
		static const char *dt[] = { "'<i8'", "'|u1'", "'<i4'" };
		float row[4];
		double row8[4];
		f = NULL;
		CHECK(npz_reader_next(r) == 1);
		CHECK(npz_reader_require_float(r) == -1);
		CHECK(msg_has(names[i], "expected float32 or float64"));
		CHECK(npz_reader_load_f32(r, &f, &n) == -1 && f == NULL);
		CHECK(msg_has(dt[i], "expected float32 or float64"));
		CHECK(strstr(mp_errmsg(), "conv.npz: member '") != NULL);
		if (f) {                           /* loaded: nothing left to read */
			free(f);
			continue;
		}
		CHECK(npz_reader_read_rows_f32(r, row, 1) == -1);
		CHECK(msg_has(dt[i], "expected float32 or float64"));
		CHECK(npz_reader_read_rows_f64(r, row8, 1) == -1);
		CHECK(msg_has(dt[i], "expected float32 or float64"));
	}
	CHECK(npz_reader_next(r) == 1);            /* f8 -> f32, rounded */
	f = NULL;
	CHECK(npz_reader_load_f32(r, &f, NULL) == 0);
	CHECK(f && f[0] == 0.1f && f[1] == -0.0f && f[2] == 3.4e38f && f[3] == (float)(1.0 / 3));
	free(f);
	CHECK(npz_reader_next(r) == 1);            /* f4 -> f64 by rows */
	CHECK(npz_reader_require_float(r) == 0);
	double d[4];
	CHECK(npz_reader_read_rows_f64(r, d, 3) == 0);
	CHECK(npz_reader_read_rows_f64(r, d + 3, 1) == 0);
	CHECK(d[0] == 0.5 && d[2] == (double)1e-8f && d[3] == 3.0);
	/* An int64 beyond int32 is an error naming member and index. */
	CHECK(npz_reader_next(r) == 1);
	CHECK(npz_reader_load_i32(r, &v, &n) == -1);
	CHECK(strstr(mp_errmsg(), "'big'") != NULL);
	CHECK(strstr(mp_errmsg(), "2147483648") != NULL);
	CHECK(strstr(mp_errmsg(), "index 1") != NULL);
	npz_reader_free(r);
}

TEST(read_rows)
{
	/* (N, 3, 5) float64 read in row batches as float32 and float64. */
	int64_t s[3] = { 1001, 3, 5 };
	struct npy_header h;
	npy_header_init(&h, NPY_F8, 3, s);
	double *src = make_data(&h, 3);
	const char *names[] = { "act" };
	void *data[] = { src };
	char *p = scratch_path("rows.npz");
	write_arrays(p, 1, names, &h, data);
	for (int f64 = 0; f64 < 2; f64++) {
		struct npz_reader *r = npz_reader_open(p);
		CHECK(npz_reader_next(r) == 1);
		CHECK(npy_row_count(npz_reader_header(r)) == 15);
		float *f = xmalloc(1001 * 15 * sizeof *f);
		double *d = xmalloc(1001 * 15 * sizeof *d);
		size_t done = 0, rows = 1;
		while (done < 1001) {
			size_t k = 1001 - done < rows ? 1001 - done : rows;
			int rc = f64 ? npz_reader_read_rows_f64(r, d + done * 15, k)
				     : npz_reader_read_rows_f32(r, f + done * 15, k);
			CHECK(rc == 0);
			done += k;
			rows = rows * 3 + 1;
		}
		int same = 1;
		for (size_t i = 0; i < 1001 * 15; i++)
			same &= f64 ? d[i] == src[i] : f[i] == (float)src[i];
		CHECK(same);
		/* Asking for rows beyond the end is an error. */
		CHECK(npz_reader_read_rows_f32(r, f, 1) == -1);
		free(f);
		free(d);
		npz_reader_free(r);
	}
	free(src);
}

/* ---- writer ---- */

TEST(writer_count_errors)
{
	struct npy_header h;
	float x[10] = { 0 };
	npy_header_1d(&h, NPY_F4, 4);
	char *p = scratch_path("wc.npz");

	/* More bytes than the header says. */
	struct npz_writer *w = npz_writer_open(p, 1);
	CHECK(npz_writer_begin(w, "x", &h) == 0);
	CHECK(npz_writer_write(w, x, 12) == 0);
	CHECK(npz_writer_write(w, x, 8) == -1);
	CHECK(strstr(mp_errmsg(), "'x'") != NULL);
	/* Once failed, everything fails, and close leaves nothing. */
	CHECK(npz_writer_close(w) == -1);
	CHECK(!exists(p));
	CHECK(scratch_count(".tmp.") == 0);

	/* Fewer bytes than the header says. */
	w = npz_writer_open(p, 0);
	CHECK(npz_writer_begin(w, "y", &h) == 0);
	CHECK(npz_writer_write(w, x, 12) == 0);
	CHECK(npz_writer_end(w) == -1);
	CHECK(strstr(mp_errmsg(), "'y'") != NULL);
	CHECK(npz_writer_add(w, "z", &h, x) == -1);
	CHECK(npz_writer_close(w) == -1);
	CHECK(!exists(p));
	CHECK(scratch_count(".tmp.") == 0);

	/* Two members of one name. */
	w = npz_writer_open(p, 1);
	CHECK(npz_writer_add(w, "x", &h, x) == 0);
	CHECK(npz_writer_add(w, "x", &h, x) == -1);
	CHECK(strstr(mp_errmsg(), "'x.npy'") != NULL);
	CHECK(npz_writer_close(w) == -1);
	CHECK(!exists(p));
	CHECK(scratch_count(".tmp.") == 0);
}

TEST(writer_abort_keeps_old_file)
{
	char *p = scratch_path("keep.npz");
	spit(p, "old contents", 12);
	struct npz_writer *w = npz_writer_open(p, 1);
	CHECK(w != NULL);
	CHECK(scratch_count(".tmp.") == 1);                 /* the temporary */
	struct npy_header h;
	npy_header_1d(&h, NPY_U1, 3);
	CHECK(npz_writer_add(w, "x", &h, "abc") == 0);
	npz_writer_abort(w);
	size_t n;
	unsigned char *b = slurp(p, &n);
	CHECK(n == 12 && !memcmp(b, "old contents", 12));
	free(b);
	CHECK(scratch_count(".tmp.") == 0);
	/* A successful writer replaces it, and leaves no temporary either. */
	w = npz_writer_open(p, 1);
	CHECK(npz_writer_add(w, "x", &h, "abc") == 0);
	CHECK(npz_writer_close(w) == 0);
	b = slurp(p, &n);
	CHECK(n > 12 && !memcmp(b, "PK\003\004", 4));
	free(b);
	CHECK(scratch_count(".tmp.") == 0);
	unlink(p);
}

/* Run fn in a child whose stdout is the file `out`; returns its status. */
static int with_stdout(const char *out, void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(99);
		close(fd);
		freopen("/dev/null", "w", stderr);
		fn();
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	return st;
}

static void early_abort(void)
{
	struct npz_writer *w = npz_writer_open(NULL, 1);
	struct npy_header h;
	npy_header_1d(&h, NPY_U1, 3);
	if (npz_writer_add(w, "x", &h, "abc"))
		_exit(2);
	npz_writer_abort(w);
	_exit(1);
}

static void early_die(void)
{
	char *argv[] = { "test_npz", NULL };
	mp_init(1, argv);
	struct npz_writer *w = npz_writer_open(NULL, 0);
	struct npy_header h;
	npy_header_1d(&h, NPY_U1, 3);
	if (npz_writer_add(w, "x", &h, "abc"))
		_exit(2);
	die("failing on purpose");
}

static void late_abort(void)
{
	/* More than the hold: the start of the stream is out already. */
	struct npz_writer *w = npz_writer_open(NULL, 0);
	struct npy_header h;
	size_t n = NPZ_STDOUT_HOLD + (1 << 20);
	npy_header_1d(&h, NPY_U1, (int64_t)n);
	unsigned char *d = xcalloc(n, 1);
	if (npz_writer_add(w, "x", &h, d))
		_exit(2);
	npz_writer_abort(w);
	_exit(1);
}

static void full_stream(void)
{
	if (write_test_stream(NULL, 1, 0))
		_exit(2);
	_exit(0);
}

/* full_stream with fd as stdout (spawn_writer). */
static void full_stream_to(int fd, int unused)
{
	dup2(fd, 1);
	close(fd);
	full_stream();
}

TEST(stdout_hold)
{
	char *out = scratch_path("stdout.npz");
	size_t n;
	unsigned char *b;

	int st = with_stdout(out, early_abort);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	b = slurp(out, &n);
	CHECK(n == 0);
	free(b);

	st = with_stdout(out, early_die);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	b = slurp(out, &n);
	CHECK(n == 0);
	free(b);

	st = with_stdout(out, late_abort);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	b = slurp(out, &n);
	CHECK(n >= NPZ_STDOUT_HOLD);
	free(b);
	/* What went out is no valid stream: the reader calls it truncated. */
	struct npz_reader *r = npz_reader_open(out);
	int rc;
	CHECK(r != NULL);
	while (r && (rc = npz_reader_next(r)) > 0)
		;
	CHECK(r && rc == -1);
	CHECK(strstr(mp_errmsg(), "truncated") != NULL);
	npz_reader_free(r);

	st = with_stdout(out, full_stream);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(check_test_stream(out, 0));
	/* The same bytes as written to a file. */
	size_t n2;
	CHECK(write_test_stream(scratch_path("file.npz"), 1, 0) == 0);
	b = slurp(out, &n);
	unsigned char *b2 = slurp(scratch_path("file.npz"), &n2);
	CHECK(n == n2 && !memcmp(b, b2, n));
	free(b);
	free(b2);
	unlink(out);
}

TEST(pipe_roundtrip)
{
	/* A child writes the stream to a pipe, we read it on stdin. */
	int fd;
	pid_t pid = spawn_writer(&fd, full_stream_to, 0);
	if (pid < 0)
		return;
	int saved = dup(0);
	dup2(fd, 0);
	close(fd);
	CHECK(check_test_stream("-", 4096));
	dup2(saved, 0);
	close(saved);
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- copy and bundle ---- */

TEST(copy_keeps_bytes)
{
	char *a = scratch_path("ca.npz"), *b = scratch_path("cb.npz"), *c = scratch_path("cc.npz");
	CHECK(write_test_stream(a, 1, 0) == 0);
	for (int pass = 0; pass < 2; pass++) {
		struct npz_reader *r = npz_reader_open(a);
		struct npz_writer *w = npz_writer_open(pass ? c : b, pass ? 0 : 1);
		int rc;
		while ((rc = npz_reader_next(r)) > 0) {
			if (!npz_reader_is_array(r)) {
				struct meta m = META_INIT;
				CHECK(npz_reader_load_meta(r, &m) == 0);
				CHECK(npz_writer_add_meta(w, &m) == 0);
				meta_release(&m);
			} else {
				CHECK(npz_writer_copy(w, r, NULL) == 0);
			}
		}
		CHECK(rc == 0);
		npz_reader_free(r);
		CHECK(npz_writer_close(w) == 0);
	}
	/* At the same level, the copy is the same file, byte for byte. */
	size_t na, nb;
	unsigned char *ba = slurp(a, &na), *bb = slurp(b, &nb);
	CHECK(na == nb && !memcmp(ba, bb, na));
	free(ba);
	free(bb);
	/* At another level, the same arrays. */
	CHECK(check_test_stream(c, 0));

	/* Renaming while copying. */
	struct npz_reader *r = npz_reader_open(a);
	struct npz_writer *w = npz_writer_open(b, 1);
	int rc;
	while ((rc = npz_reader_next(r)) > 0)
		if (npz_reader_is_array(r) && !strcmp(npz_reader_name(r), "x"))
			CHECK(npz_writer_copy(w, r, "x_copy") == 0);
	CHECK(rc == 0);
	npz_reader_free(r);
	CHECK(npz_writer_close(w) == 0);
	struct npz_bundle bu;
	CHECK(npz_bundle_load(&bu, b) == 0);
	CHECK(bu.n == 1 && !strcmp(bu.a[0].name, "x_copy"));
	CHECK(bu.a[0].h.count == 300 * 784);
	npz_bundle_release(&bu);
}

TEST(copy_of_damaged_member_fails)
{
	/* A stored member whose data were flipped: the copy must fail and
	 * leave no output. */
	char *a = scratch_path("cd.npz"), *b = scratch_path("cd_out.npz");
	CHECK(write_test_stream(a, 0, 0) == 0);
	size_t n;
	unsigned char *buf = slurp(a, &n);
	/* Flip a byte in the middle of x (the last and largest member). */
	buf[n - 500000] ^= 0x55;
	spit(a, buf, n);
	free(buf);
	struct npz_reader *r = npz_reader_open(a);
	struct npz_writer *w = npz_writer_open(b, 1);
	int rc, failed = 0;
	while (!failed && (rc = npz_reader_next(r)) > 0) {
		if (npz_reader_is_array(r) && npz_writer_copy(w, r, NULL))
			failed = 1;
	}
	if (!failed && rc < 0)
		failed = 1;
	CHECK(failed);
	CHECK(strstr(mp_errmsg(), "'x'") != NULL);
	npz_reader_free(r);
	npz_writer_abort(w);
	CHECK(!exists(b));
	CHECK(scratch_count(".tmp.") == 0);
}

TEST(bundle)
{
	struct npz_bundle b = { 0 };
	struct npy_header h1, h2;
	float w1[6] = { 1, 2, 3, 4, 5, 6 };
	double w2[2] = { -1, 1 };
	meta_init(&b.meta);
	meta_set(&b.meta, "model.arch", "mlp");
	npy_header_2d(&h1, NPY_F4, 2, 3);
	npy_header_1d(&h2, NPY_F8, 2);
	CHECK(npz_bundle_put(&b, "fc1.weight", &h1, w1) != NULL);
	CHECK(npz_bundle_put(&b, "fc1.bias", &h2, w2) != NULL);
	w1[0] = 99;                                /* put copies */
	CHECK(((float *)npz_bundle_get(&b, "fc1.weight")->data)[0] == 1);
	CHECK(npz_bundle_get(&b, "fc2.weight") == NULL);
	/* Replacing keeps the position. */
	CHECK(npz_bundle_put(&b, "fc1.weight", &h1, w1) == &b.a[0]);
	CHECK(b.n == 2);
	CHECK(((float *)b.a[0].data)[0] == 99);
	char *p = scratch_path("bundle.npz");
	CHECK(npz_bundle_save(&b, p, 1) == 0);
	npz_bundle_release(&b);
	CHECK(b.n == 0 && b.a == NULL);

	CHECK(npz_bundle_load(&b, p) == 0);
	CHECK(b.n == 2);
	CHECK(!strcmp(meta_get(&b.meta, "model.arch"), "mlp"));
	struct npz_array *a = npz_bundle_get(&b, "fc1.weight");
	CHECK(a && a->h.dtype == NPY_F4 && a->h.ndim == 2 && a->h.shape[1] == 3);
	CHECK(a && !memcmp(a->data, w1, sizeof w1));
	a = npz_bundle_get(&b, "fc1.bias");
	CHECK(a && a->h.dtype == NPY_F8 && !memcmp(a->data, w2, sizeof w2));
	CHECK(((uintptr_t)b.a[0].data & 63) == 0);
	/* Save again: byte-identical. */
	char *p2 = scratch_path("bundle2.npz");
	CHECK(npz_bundle_save(&b, p2, 1) == 0);
	size_t n1, n2;
	unsigned char *x1 = slurp(p, &n1), *x2 = slurp(p2, &n2);
	CHECK(n1 == n2 && !memcmp(x1, x2, n1));
	free(x1);
	free(x2);
	npz_bundle_release(&b);

	/* Loading a damaged stream fails and leaves an empty bundle. */
	CHECK(npz_bundle_load(&b, scratch_path("nonexistent.npz")) == -1);
	CHECK(b.n == 0);
}

/* ---- crafted members ---- */

/* A raw .npy member: magic, version, header length (2 or 4 bytes), the
 * dict padded with spaces to `pad` total (0: 64), newline, data. */
static size_t npy_raw(unsigned char *out, int major, const char *dict,
		      size_t pad, const void *data, size_t n)
{
	size_t lenbytes = major == 1 ? 2 : 4, pre = 8 + lenbytes;
	size_t dl = strlen(dict);
	size_t total = pad ? pad : (pre + dl + 1 + 63) / 64 * 64;
	size_t hlen = total - pre;
	memcpy(out, "\x93NUMPY", 6);
	out[6] = (unsigned char)major;
	out[7] = 0;
	for (size_t i = 0; i < lenbytes; i++)
		out[8 + i] = (unsigned char)(hlen >> (8 * i));
	memcpy(out + pre, dict, dl);
	memset(out + pre + dl, ' ', hlen - dl - 1);
	out[total - 1] = '\n';
	memcpy(out + total, data, n);
	return total + n;
}

/* Write a stream holding one raw member `name` (as a text member, so its
 * bytes go in unchecked) after a valid 'y', and a valid 'z' after it. */
static void write_raw(const char *path, int level, const char *name,
		      const void *raw, size_t n)
{
	struct npz_writer *w = npz_writer_open(path, level);
	struct npy_header h;
	npy_header_1d(&h, NPY_I4, 2);
	int32_t y[2] = { 4, 5 };
	if (npz_writer_add(w, "y", &h, y) ||
	    npz_writer_add_text(w, name, raw, n) ||
	    npz_writer_add(w, "z", &h, y) || npz_writer_close(w))
		abort();
}

/* Read the whole stream; return 0 if it read cleanly, else -1 with the
 * message in mp_errmsg(). Loads each array with npz_reader_load. */
static int read_all(const char *path)
{
	struct npz_reader *r = npz_reader_open(path);
	int rc;
	if (!r)
		return -1;
	while ((rc = npz_reader_next(r)) > 0) {
		if (npz_reader_is_array(r)) {
			void *p = npz_reader_load(r);
			if (!p) {
				rc = -1;
				break;
			}
			free(p);
		}
	}
	npz_reader_free(r);
	return rc < 0 ? -1 : 0;
}

TEST(npy_versions)
{
	unsigned char raw[4096];
	float x[3] = { 1.5f, -2, 3 };
	const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
	for (int major = 1; major <= 3; major++) {
		for (int level = 0; level <= 1; level++) {
			/* Default padding, and a long padded header. */
			for (size_t pad = 0; pad <= 1024; pad += 1024) {
				size_t n = npy_raw(raw, major, d, pad, x, sizeof x);
				char *p = scratch_path("ver.npz");
				write_raw(p, level, "x.npy", raw, n);
				struct npz_reader *r = npz_reader_open(p);
				CHECK(npz_reader_next(r) == 1);
				CHECK(npz_reader_next(r) == 1);
				CHECK(!strcmp(npz_reader_name(r), "x") && npz_reader_is_array(r));
				CHECK(npz_reader_header(r)->count == 3);
				float got[3] = { 0 };
				CHECK(npz_reader_read_exact(r, got, sizeof got) == 0);
				CHECK(!memcmp(got, x, sizeof x));
				CHECK(npz_reader_next(r) == 1);
				CHECK(npz_reader_next(r) == 0);
				npz_reader_free(r);
			}
		}
	}
	/* Version 4 does not exist (yet). */
	size_t n = npy_raw(raw, 4, d, 0, x, sizeof x);
	write_raw(scratch_path("v4.npz"), 1, "x.npy", raw, n);
	CHECK(read_all(scratch_path("v4.npz")) == -1);
	CHECK(msg_has("'x'", "version 4"));
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Bytes of address space in use (0 if unknown). */
static size_t vm_size(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Load member 'x' of path (after 'y') in every way that holds it whole:
 * 0 raw, 1 float32, 2 int32, 3 as part of a bundle. 0 if that failed as
 * truncated, as it must; else 1, with the message printed. */
static int lying_load(const char *path, int how)
{
	int rc = -1;
	if (how == 3) {
		struct npz_bundle b;
		rc = npz_bundle_load(&b, path);
		if (!rc)
			npz_bundle_release(&b);
	} else {
		struct npz_reader *r = npz_reader_open(path);
		if (r && npz_reader_next(r) == 1 && npz_reader_next(r) == 1) {
			void *p = NULL;
			float *f = NULL;
			int32_t *v = NULL;
			if (how == 0)
				rc = (p = npz_reader_load(r)) ? 0 : -1;
			else if (how == 1)
				rc = npz_reader_load_f32(r, &f, NULL);
			else
				rc = npz_reader_load_i32(r, &v, NULL);
			if (!rc) {
				free(p);
				free(f);
				free(v);
			}
		}
		npz_reader_free(r);
	}
	if (rc == -1 && strstr(mp_errmsg(), "member 'x' is truncated"))
		return 0;
	printf("#   load %d of %s: rc %d, %s\n", how, path, rc, mp_errmsg());
	return 1;
}

TEST(lying_header_costs_nothing)
{
	/* A stream of less than 1 KB whose member 'x' claims 100 GB (or 400
	 * GB as int32): every loader that holds a member whole fails with
	 * "truncated", having allocated memory for the 16 bytes that arrived,
	 * not for the claim. The loads run in a child whose address space is
	 * capped 256 MiB above what it uses, so that a buffer sized by the
	 * header fails there as out of memory whatever the machine's
	 * overcommit policy (not under AddressSanitizer, whose own mappings
	 * would hit the cap). */
	static const struct { const char *dict; int ways[3]; } claims[] = {
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (25000000000,), }", { 0, 1, 3 } },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 250000), }", { 0, 1, 3 } },
		{ "{'descr': '<f8', 'fortran_order': False, 'shape': (12500000000,), }", { 0, 1, 3 } },
		{ "{'descr': '<i8', 'fortran_order': False, 'shape': (12500000000,), }", { 0, 2, 3 } },
		{ "{'descr': '|u1', 'fortran_order': False, 'shape': (100000000000,), }", { 0, 2, 3 } },
	};
	unsigned char raw[512];
	float x[4] = { 1, 2, 3, 4 };
	char *p = scratch_path("claim.npz");
	for (int level = 0; level <= 1; level++) {
		for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
			size_t n = npy_raw(raw, 1, claims[i].dict, 0, x, sizeof x);
			write_raw(p, level, "x.npy", raw, n);
			struct stat st;
			CHECK(stat(p, &st) == 0 && st.st_size < 1024);
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
#ifndef UNDER_ASAN
				struct rlimit rl;
				rl.rlim_cur = rl.rlim_max = vm_size() + ((size_t)256 << 20);
				if (vm_size() == 0 || setrlimit(RLIMIT_AS, &rl))
					_exit(99);
#endif
				int bad = 0;
				for (int k = 0; k < 3; k++)
					bad += lying_load(p, claims[i].ways[k]);
				fflush(stdout);
				_exit(bad);
			}
			int status;
			waitpid(pid, &status, 0);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				printf("#   level %d, %s: status %d\n", level, claims[i].dict, status);
		}
	}
}

/* 1 if the n elements at p equal (as double) those of want. */
static int same_values(const void *p, enum npy_dtype pt, const void *want,
		       enum npy_dtype wt, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double a, b;
		const void *s[2] = { p, want };
		enum npy_dtype t[2] = { pt, wt };
		double *o[2] = { &a, &b };
		for (int k = 0; k < 2; k++) {
			switch (t[k]) {
			case NPY_F4: *o[k] = ((const float *)s[k])[i]; break;
			case NPY_F8: *o[k] = (float)((const double *)s[k])[i]; break;
			case NPY_I4: *o[k] = ((const int32_t *)s[k])[i]; break;
			case NPY_I8: *o[k] = (double)((const int64_t *)s[k])[i]; break;
			case NPY_U1: *o[k] = ((const uint8_t *)s[k])[i]; break;
			}
		}
		if (a != b) {
			printf("#   element %zu: %g, want %g\n", i, a, b);
			return 0;
		}
	}
	return 1;
}

TEST(loads_grow_as_data_arrive)
{
	/* Whole loads grow their buffer as the data arrive (64 KiB, doubling,
	 * then the declared size): sizes on every side of those steps and of
	 * the conversions' 65536-element chunks load exactly, aligned, with
	 * the padding up to 64 bytes zeroed. */
	static const struct { enum npy_dtype t; int64_t n; int how; } c[] = {
		{ NPY_F4, 0, 0 }, { NPY_F4, 1, 0 }, { NPY_F4, 16383, 0 },
		{ NPY_F4, 16384, 0 }, { NPY_F4, 16385, 0 }, { NPY_U1, 65537, 0 },
		{ NPY_F4, 131073, 0 }, { NPY_F8, 300001, 0 },
		{ NPY_F4, 16385, 1 }, { NPY_F4, 300001, 1 }, { NPY_F8, 65535, 1 },
		{ NPY_F8, 65537, 1 }, { NPY_F8, 200001, 1 },
		{ NPY_I4, 300001, 2 }, { NPY_I8, 65536, 2 }, { NPY_I8, 200001, 2 },
		{ NPY_U1, 300001, 2 },
	};
	char *p = scratch_path("grow.npz");
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		struct npy_header h;
		npy_header_1d(&h, c[i].t, c[i].n);
		void *want = make_data(&h, (unsigned)i);
		if (c[i].t == NPY_I8)                  /* within int32 */
			for (int64_t k = 0; k < c[i].n; k++)
				((int64_t *)want)[k] /= 4294967311LL;
		const char *names[] = { "x" };
		void *data[] = { want };
		write_arrays(p, 1, names, &h, data);
		struct npz_reader *r = npz_reader_open(p);
		CHECK(npz_reader_next(r) == 1);
		void *got = NULL;
		enum npy_dtype gt = c[i].how == 0 ? c[i].t : c[i].how == 1 ? NPY_F4 : NPY_I4;
		int rc = c[i].how == 0 ? ((got = npz_reader_load(r)) ? 0 : -1)
		       : c[i].how == 1 ? npz_reader_load_f32(r, (float **)&got, NULL)
				       : npz_reader_load_i32(r, (int32_t **)&got, NULL);
		CHECK(rc == 0);
		CHECK(npz_reader_next(r) == 0);
		npz_reader_free(r);
		if (rc) {
			free(want);
			continue;
		}
		int ok = same_values(got, gt, want, c[i].t, (size_t)c[i].n);
		size_t bytes = (size_t)c[i].n * npy_dtype_size(gt);
		CHECK(((uintptr_t)got & 63) == 0);
		for (size_t k = bytes; k < (bytes + 63) / 64 * 64; k++)
			ok &= ((unsigned char *)got)[k] == 0;
		CHECK(ok);
		if (!ok)
			printf("#   case %zu\n", i);
		free(got);
		free(want);
	}

	/* An int64 out of int32's range in a late chunk: its index is right. */
	struct npy_header h;
	npy_header_1d(&h, NPY_I8, 200001);
	int64_t *v = xcalloc(200001, sizeof *v);
	v[150001] = (int64_t)1 << 40;
	const char *names[] = { "y" };
	void *data[] = { v };
	write_arrays(p, 1, names, &h, data);
	struct npz_reader *r = npz_reader_open(p);
	int32_t *y;
	CHECK(npz_reader_next(r) == 1);
	CHECK(npz_reader_load_i32(r, &y, NULL) == -1);
	CHECK(msg_has("'y'", "value 1099511627776 at index 150001 is out of range"));
	npz_reader_free(r);
	free(v);
}

/* .npy members that lie or break the format: a header (npy_raw, format
 * major.0) over 4 floats, then cut to `keep` bytes (-1: all of it) or one
 * byte poked; reading fails with a message naming the member. */
struct crafted {
	const char *name;
	int major;
	const char *dict;
	long keep;
	int at;                 /* poke raw[at] = byte (at > 0) */
	unsigned char byte;
	const char *want, *want2;
};

#define F4_SHAPE(s) "{'descr': '<f4', 'fortran_order': False, 'shape': " s ", }"

static const struct crafted crafted_members[] = {
	/* The header declares more elements than the data hold... */
	{ "more.npy", 1, F4_SHAPE("(5,)"), -1, 0, 0, "'more'", "truncated" },
	/* ...or fewer. */
	{ "fewer.npy", 1, F4_SHAPE("(3,)"), -1, 0, 0, "'fewer'", "more data" },
	{ "magic.npy", 1, F4_SHAPE("(4,)"), -1, 1, 'X', "'magic'", "magic" },
	/* An empty .npy member, and ones cut inside their preamble. */
	{ "void.npy", 1, F4_SHAPE("(4,)"), 0, 0, 0, "'void'", NULL },
	{ "short.npy", 1, F4_SHAPE("(4,)"), 30, 0, 0, "'short'", "truncated" },
	{ "short2.npy", 1, F4_SHAPE("(4,)"), 9, 0, 0, "'short2'", NULL },
	{ "short3.npy", 2, F4_SHAPE("(4,)"), 11, 0, 0, "'short3'", "truncated" },
	/* A 2.0 header claiming 4 GiB of dict. */
	{ "huge.npy", 2, F4_SHAPE("(4,)"), -1, 11, 0xff, "'huge'", "too long" },
	/* Unsupported dtype, Fortran order, overflowing shape. */
	{ "be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", -1, 0, 0,
	  "'be'", "'>f4'" },
	{ "fo.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", -1, 0, 0,
	  "'fo'", "Fortran" },
	{ "ovf.npy", 1, F4_SHAPE("(4611686018427387904, 4611686018427387904)"), -1, 0, 0,
	  "'ovf'", "overflows" },
	/* Shapes that fit size_t but are far more than the data: loading
	 * fails without touching 4 TB (or 12 GB). */
	{ "lie.npy", 1, F4_SHAPE("(1000000000000,)"), -1, 0, 0, "'lie'", NULL },
	{ "lie2.npy", 1, F4_SHAPE("(3000000000,)"), -1, 0, 0, "'lie2'", NULL },
};

TEST(crafted_bad_members)
{
	unsigned char raw[4096];
	float x[4] = { 1, 2, 3, 4 };
	char *p = scratch_path("bad.npz");
	size_t ncrafted = sizeof crafted_members / sizeof crafted_members[0];
	for (int level = 0; level <= 1; level++) {
		for (size_t i = 0; i < ncrafted; i++) {
			const struct crafted *c = &crafted_members[i];
			size_t n = npy_raw(raw, c->major, c->dict, 0, x, sizeof x);
			if (c->at > 0)
				raw[c->at] = c->byte;
			write_raw(p, level, c->name, raw, c->keep >= 0 ? (size_t)c->keep : n);
			CHECK(read_all(p) == -1);
			CHECK(msg_has(c->want, c->want2));
		}
		/* The last one (lie2), read in pieces, fails as truncated. */
		struct npz_reader *r = npz_reader_open(p);
		CHECK(npz_reader_next(r) == 1 && npz_reader_next(r) == 1);
		char b[64];
		ssize_t k;
		while ((k = npz_reader_read(r, b, sizeof b)) > 0)
			;
		CHECK(k == -1);
		CHECK(msg_has("'lie2'", "truncated"));
		npz_reader_free(r);
	}
}

/* A zip written with libarchive directly, members given as raw bytes:
 * what our writer would refuse to make. */
static void write_zip(const char *path, int n, const char **names,
		      const void **data, const size_t *len)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		abort();
	for (int i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)len[i]);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, data[i], len[i]) != (la_ssize_t)len[i])
			abort();
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

/* The last message holds what a stream member called `name` (as it is
 * quoted) and `why`. */
static int name_refused(const char *name, const char *why)
{
	char q[64];
	snprintf(q, sizeof q, "member '%s' ", name ? name : "");
	return msg_has(name ? q : "member '", why);
}

TEST(member_names)
{
	/* Names are plain, as np.savez writes them: NAME.npy or meta.txt. The
	 * writer refuses any other (and leaves nothing behind); the reader
	 * rejects a stream that has one, naming the member. */
	static const struct { const char *name, *shown, *why; } bad[] = {
		{ "../../../x.npy", "../../../x.npy", "is a path" },
		{ "/abs.npy", "/abs.npy", "is a path" },
		{ "meta.txt/", "meta.txt/", "is a path" },
		{ "dir/y.npy", "dir/y.npy", "is a path" },
		{ "a\\b.npy", "a\\b.npy", "is a path" },
		{ "..npy", "..npy", "holds '..'" },
		{ "x..npy", "x..npy", "holds '..'" },
		{ "notes.txt", "notes.txt", "is neither NAME.npy nor meta.txt" },
		{ "raw", "raw", "is neither" },
		{ "y", "y", "is neither" },
		{ ".npy", ".npy", "is neither" },
		{ "META.TXT", "META.TXT", "is neither" },
		{ "x.npy.bak", "x.npy.bak", "is neither" },
		{ "a\nb.npy", "a\\x0ab.npy", "holds a control character" },
		{ "t\x7f.npy", "t\\x7f.npy", "holds a control character" },
	};
	unsigned char raw[256];
	float x[2] = { 1, 2 };
	size_t n = npy_raw(raw, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
			   0, x, sizeof x);
	struct npy_header h;
	npy_header_1d(&h, NPY_F4, 2);
	char *p = scratch_path("names.npz");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unlink(p);
		struct npz_writer *w = npz_writer_open(p, 1);
		CHECK(npz_writer_add_text(w, bad[i].name, (char *)raw, n) == -1);
		CHECK(msg_has("names.npz", NULL));
		CHECK(name_refused(bad[i].shown, bad[i].why));
		/* The writer has failed: nothing more, nothing left. */
		CHECK(npz_writer_add(w, "x", &h, x) == -1);
		CHECK(npz_writer_close(w) == -1);
		CHECK(!exists(p));
		CHECK(scratch_count(".tmp.") == 0);

		const char *names[] = { "y.npy", bad[i].name, "z.npy" };
		const void *data[] = { raw, raw, raw };
		size_t len[] = { n, n, n };
		write_zip(p, 3, names, data, len);
		CHECK(read_all(p) == -1);
		CHECK(msg_has("names.npz: ", NULL));
		/* libarchive reads '\\' in a zip name as '/'. */
		const char *shown = strchr(bad[i].name, '\\') ? NULL : bad[i].shown;
		CHECK(name_refused(shown, bad[i].why));
		struct npz_bundle b;
		CHECK(npz_bundle_load(&b, p) == -1);
		CHECK(name_refused(shown, bad[i].why));
	}

	/* Array names get ".npy" appended and the same rule. */
	struct npz_writer *w = npz_writer_open(p, 1);
	CHECK(npz_writer_add(w, "a/b", &h, x) == -1);
	CHECK(name_refused("a/b.npy", "is a path"));
	npz_writer_abort(w);
	w = npz_writer_open(p, 1);
	CHECK(npz_writer_add(w, "", &h, x) == -1);
	CHECK(name_refused(".npy", "is neither"));
	npz_writer_abort(w);
	/* NPZ_NAME_MAX bytes with ".npy" is the longest name. */
	char longest[NPZ_NAME_MAX + 2];
	memset(longest, 'n', sizeof longest);
	longest[NPZ_NAME_MAX - 4] = '\0';
	w = npz_writer_open(p, 1);
	CHECK(npz_writer_add(w, longest, &h, x) == 0);
	CHECK(npz_writer_close(w) == 0);
	CHECK(read_all(p) == 0);
	longest[NPZ_NAME_MAX - 4] = 'n';
	longest[NPZ_NAME_MAX - 3] = '\0';
	w = npz_writer_open(p, 1);
	CHECK(npz_writer_add(w, longest, &h, x) == -1);
	CHECK(msg_has("is too long", NULL));
	npz_writer_abort(w);
	/* Copying under a new name checks it too. */
	const char *ok[] = { "meta.txt", "x.npy" };
	const void *okd[] = { "a=1\n", raw };
	size_t okl[] = { 4, n };
	write_zip(p, 2, ok, okd, okl);
	struct npz_reader *r = npz_reader_open(p);
	w = npz_writer_open(scratch_path("names2.npz"), 1);
	CHECK(npz_reader_next(r) == 1 && npz_reader_next(r) == 1);
	CHECK(npz_writer_copy(w, r, "../x") == -1);
	CHECK(name_refused("../x.npy", "is a path"));
	npz_writer_abort(w);
	npz_reader_free(r);
	CHECK(!exists(scratch_path("names2.npz")));

	/* A name the reader cannot hold is refused, shortened in the
	 * message. */
	char name300[301];
	memset(name300, 'q', 296);
	memcpy(name300 + 296, ".npy", 5);
	const char *ln[] = { name300 };
	const void *ld[] = { raw };
	write_zip(p, 1, ln, ld, &n);
	CHECK(read_all(p) == -1);
	CHECK(msg_has("is too long", "qqq..."));
	CHECK(strlen(mp_errmsg()) < 200);

	/* Controls: what np.savez writes, meta.txt, dotted state_dict names
	 * and a name that is not UTF-8, all read fine; and a name without
	 * .npy is never an array. */
	const char *good[] = { "meta.txt", "fc1.weight.npy", "opt.fc1.weight.m.npy",
			       "\xff\xfe.npy", "x.npy" };
	const void *gd[] = { "a=1\n", raw, raw, raw, raw };
	size_t gl[] = { 4, n, n, n, n };
	write_zip(p, 5, good, gd, gl);
	CHECK(read_all(p) == 0);
	struct npz_bundle b;
	CHECK(npz_bundle_load(&b, p) == 0);
	CHECK(b.n == 4 && !strcmp(b.a[0].name, "fc1.weight") &&
	      !strcmp(b.a[1].name, "opt.fc1.weight.m"));
	CHECK(b.meta.n == 1);
	npz_bundle_release(&b);

	/* A meta.txt that is not key=value lines is an error. */
	w = npz_writer_open(p, 1);
	CHECK(npz_writer_add_text(w, "meta.txt", "a=1\nbroken\n", 11) == 0);
	CHECK(npz_writer_close(w) == 0);
	CHECK(npz_bundle_load(&b, p) == -1);
	CHECK(msg_has("meta.txt", "line 2"));
}

TEST(duplicate_members)
{
	unsigned char raw[256];
	int32_t y[2] = { 1, 2 };
	size_t n = npy_raw(raw, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
			   0, y, sizeof y);
	char *p = scratch_path("dup.npz");

	/* The writer refuses a second member of a name. */
	struct npz_writer *w = npz_writer_open(p, 1);
	struct npy_header h;
	npy_header_1d(&h, NPY_I4, 2);
	CHECK(npz_writer_add(w, "y", &h, y) == 0);
	CHECK(npz_writer_add_text(w, "y.npy", (char *)raw, n) == -1);
	CHECK(msg_has("'y.npy'", "twice"));
	npz_writer_abort(w);
	CHECK(!exists(p));
	CHECK(scratch_count(".tmp.") == 0);

	/* The reader rejects a stream that has one (np.load would take the
	 * last, a streaming reader meets the first). */
	const char *names[] = { "y.npy", "x.npy", "y.npy" };
	const void *data[] = { raw, raw, raw };
	size_t len[] = { n, n, n };
	write_zip(p, 3, names, data, len);
	CHECK(read_all(p) == -1);
	CHECK(msg_has("'y.npy'", "twice"));
	/* Same for two meta.txt. */
	const char *names2[] = { "meta.txt", "meta.txt" };
	const void *data2[] = { "a=1\n", "a=2\n" };
	size_t len2[] = { 4, 4 };
	write_zip(p, 2, names2, data2, len2);
	CHECK(read_all(p) == -1);
	CHECK(msg_has("'meta.txt'", "twice"));
	/* Control: distinct names read fine. */
	const char *names3[] = { "y.npy", "x.npy", "meta.txt" };
	write_zip(p, 3, names3, data, len);
	CHECK(read_all(p) == 0);
}

/* ---- damaged streams ---- */

/* A small stream of a few members: meta, y, x. */
static size_t small_stream(int level, unsigned char **out)
{
	char *p = scratch_path("small.npz");
	struct npz_writer *w = npz_writer_open(p, level);
	struct meta m;
	set_meta(&m);
	struct npy_header hy, hx;
	npy_header_1d(&hy, NPY_I4, 300);
	npy_header_2d(&hx, NPY_F4, 10, 50);
	void *y = make_data(&hy, 1), *x = make_data(&hx, 2);
	if (npz_writer_add_meta(w, &m) || npz_writer_add(w, "y", &hy, y) ||
	    npz_writer_add(w, "x", &hx, x) || npz_writer_close(w))
		abort();
	meta_release(&m);
	free(y);
	free(x);
	size_t n;
	*out = slurp(p, &n);
	return n;
}

/* Read everything; 1 if clean and every array equals the original small
 * stream's under its original name. */
static int read_small(const char *path, int *clean)
{
	struct npz_reader *r = npz_reader_open(path);
	int rc, same = 1;
	*clean = 0;
	if (!r)
		return 0;
	while ((rc = npz_reader_next(r)) > 0) {
		if (!npz_reader_is_array(r))
			continue;
		const struct npy_header *h = npz_reader_header(r);
		void *d = npz_reader_load(r);
		if (!d) {
			rc = -1;
			break;
		}
		struct npy_header want;
		const char *nm = npz_reader_name(r);
		if (!strcmp(nm, "y"))
			npy_header_1d(&want, NPY_I4, 300);
		else if (!strcmp(nm, "x"))
			npy_header_2d(&want, NPY_F4, 10, 50);
		else {
			same = 0;
			free(d);
			continue;
		}
		void *o = make_data(&want, !strcmp(nm, "y") ? 1 : 2);
		same &= h->nbytes == want.nbytes && h->dtype == want.dtype &&
			!memcmp(d, o, want.nbytes);
		free(o);
		free(d);
	}
	npz_reader_free(r);
	*clean = rc == 0;
	return same;
}

/* The small stream at `level` damaged at each of its n bytes k in turn,
 * cut at k or with byte k flipped, and read back: how many reads were
 * clean with the original arrays, clean with others (said on stdout),
 * rejected, and rejected without naming the file. */
struct damage { size_t n; int same, changed, rejected, unnamed; };

static struct damage damage_every_byte(int level, int flip)
{
	unsigned char *b;
	struct damage d = { small_stream(level, &b), 0, 0, 0, 0 };
	const char *name = flip ? "flip.npz" : "cut.npz", *p = scratch_path(name);
	for (size_t k = 0; k < d.n; k++) {
		if (flip)
			b[k] ^= 0x41;
		spit(p, b, flip ? d.n : k);
		if (flip)
			b[k] ^= 0x41;
		int clean, same = read_small(p, &clean);
		if (!clean) {
			d.rejected++;
			d.unnamed += !strstr(mp_errmsg(), name);
		} else if (flip && same) {
			d.same++;
		} else {
			d.changed += !same;
			d.same += same;
			printf("#   level %d: %s at %zu of %zu %s\n", level, flip ? "flip" : "cut", k,
			       d.n, flip ? "changed the data silently" : "read cleanly");
		}
	}
	free(b);
	return d;
}

TEST(truncated_at_every_byte)
{
	for (int level = 0; level <= 1; level++) {
		struct damage d = damage_every_byte(level, 0);
		CHECK(d.same + d.changed == 0);
		CHECK(d.unnamed == 0);
		/* The whole stream reads cleanly, of course. */
		int clean;
		CHECK(read_small(scratch_path("small.npz"), &clean) && clean);
	}
}

TEST(every_byte_flipped)
{
	/* No flipped byte may change the data silently: the stream is either
	 * rejected or reads the very same arrays (a flip in a field nobody
	 * checks, like a time stamp or the central directory's copy of a
	 * name). */
	for (int level = 0; level <= 1; level++) {
		struct damage d = damage_every_byte(level, 1);
		printf("#   level %d: %d of %zu flips rejected\n", level, d.rejected, d.n);
		CHECK(d.changed == 0);
		CHECK(d.rejected > (int)d.n / 2);
	}
}

TEST(garbage_inputs)
{
	char *p = scratch_path("g.npz");
	spit(p, "", 0);
	CHECK(read_all(p) == -1);
	CHECK(msg_has("empty", "g.npz"));
	spit(p, "hello, world\n", 13);
	CHECK(read_all(p) == -1);
	CHECK(msg_has("not an NPZ stream", "g.npz"));
	spit(p, "PK", 2);
	CHECK(read_all(p) == -1);
	CHECK(msg_has("g.npz", NULL));
	/* An empty zip (only an end record) is an empty stream: fine. */
	spit(p, "PK\005\006\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22);
	CHECK(read_all(p) == 0);
	/* A gzip file. */
	spit(p, "\x1f\x8b\x08\0\0\0\0\0\0\x03", 10);
	CHECK(read_all(p) == -1);
	CHECK(msg_has("not an NPZ stream", NULL));
}

int main(void)
{
	scratch_init("test_npz");
	RUN(roundtrip_every_level);
	RUN(roundtrip_pieces);
	RUN(determinism);
	RUN(level_parse_and_default);
	RUN(skip_and_partial_reads);
	RUN(open_errors);
	RUN(load_conversions);
	RUN(read_rows);
	RUN(writer_count_errors);
	RUN(writer_abort_keeps_old_file);
	RUN(stdout_hold);
	RUN(pipe_roundtrip);
	RUN(copy_keeps_bytes);
	RUN(copy_of_damaged_member_fails);
	RUN(bundle);
	RUN(npy_versions);
	RUN(lying_header_costs_nothing);
	RUN(loads_grow_as_data_arrive);
	RUN(crafted_bad_members);
	RUN(member_names);
	RUN(duplicate_members);
	RUN(truncated_at_every_byte);
	RUN(every_byte_flipped);
	RUN(garbage_inputs);
	return tap_done();
}
