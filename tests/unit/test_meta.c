/*
 * test_meta.c: meta.txt (lib/stream/meta.c: parse, format, set, get, merge,
 * argv) and the utilities the stream layer stands on (lib/core/util.c: checked
 * number parsing, error messages, size arithmetic, aligned allocation,
 * temporary output files and their removal by die() and by signals).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "meta.h"
#include "scratch.h"
#include "tap.h"
#include "util.h"

/* ---- meta ---- */

TEST(meta_parse_basic)
{
	struct meta m = META_INIT;
	const char *t = "data.name=mnist\n"
			"\n"
			"# a comment=not a key\n"
			"data.n=60000\r\n"
			"expr=a=b=c\n"
			"empty=\n"
			"last=no newline";
	CHECK(meta_parse(&m, t, strlen(t)) == 0);
	CHECK(m.n == 5);
	CHECK(!strcmp(meta_get(&m, "data.name"), "mnist"));
	CHECK(!strcmp(meta_get(&m, "data.n"), "60000"));    /* CR dropped */
	CHECK(!strcmp(meta_get(&m, "expr"), "a=b=c"));      /* first '=' splits */
	CHECK(!strcmp(meta_get(&m, "empty"), ""));
	CHECK(!strcmp(meta_get(&m, "last"), "no newline"));
	CHECK(meta_get(&m, "# a comment") == NULL);
	CHECK(meta_get(&m, "missing") == NULL);
	/* Keys keep their order. */
	CHECK(!strcmp(m.keys[0], "data.name") && !strcmp(m.keys[4], "last"));
	meta_release(&m);
	CHECK(m.n == 0 && m.keys == NULL);
}

TEST(meta_parse_errors)
{
	struct meta m = META_INIT;
	const char *t = "a=1\nno equals sign\nb=2\n";
	CHECK(meta_parse(&m, t, strlen(t)) == -1);
	CHECK(strstr(mp_errmsg(), "line 2") != NULL);
	CHECK(strstr(mp_errmsg(), "meta.txt") != NULL);
	meta_release(&m);

	const char *t2 = "=value\n";
	CHECK(meta_parse(&m, t2, strlen(t2)) == -1);
	CHECK(strstr(mp_errmsg(), "line 1") != NULL);
	meta_release(&m);

	const char t3[] = "a=1\nb=x\0y\n";
	CHECK(meta_parse(&m, t3, sizeof t3 - 1) == -1);
	CHECK(strstr(mp_errmsg(), "NUL") != NULL);
	meta_release(&m);

	/* Length is honoured: text beyond len is not parsed. */
	const char *t4 = "a=1\ngarbage";
	CHECK(meta_parse(&m, t4, 4) == 0);
	CHECK(m.n == 1);
	meta_release(&m);

	/* Empty text is an empty meta. */
	CHECK(meta_parse(&m, "", 0) == 0);
	CHECK(m.n == 0);
	meta_release(&m);
}

TEST(meta_duplicate_keys)
{
	/* A key given twice: the last value wins, at the first position. */
	struct meta m = META_INIT;
	const char *t = "a=1\nb=2\na=3\n";
	CHECK(meta_parse(&m, t, strlen(t)) == 0);
	CHECK(m.n == 2);
	CHECK(!strcmp(m.keys[0], "a") && !strcmp(m.vals[0], "3"));
	meta_release(&m);
}

TEST(meta_set_get)
{
	struct meta m;
	meta_init(&m);
	meta_set(&m, "corrupt.p", "%g", 0.8);
	meta_set(&m, "train.epoch", "%d", 20);
	meta_set(&m, "corrupt.p", "%s", "0.5");      /* replaced in place */
	meta_set(&m, "note", "two\nlines\r");        /* newlines become spaces */
	CHECK(m.n == 3);
	CHECK(!strcmp(m.keys[0], "corrupt.p"));
	CHECK(!strcmp(meta_get(&m, "corrupt.p"), "0.5"));
	CHECK(!strcmp(meta_get(&m, "train.epoch"), "20"));
	CHECK(!strcmp(meta_get(&m, "note"), "two lines "));
	/* Many keys (growth of the arrays). */
	for (int i = 0; i < 100; i++)
		meta_set(&m, "k", "%d", i);
	for (int i = 0; i < 100; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", i);
		meta_set(&m, k, "%d", i * i);
	}
	CHECK(m.n == 104);
	CHECK(!strcmp(meta_get(&m, "k"), "99"));
	CHECK(!strcmp(meta_get(&m, "k99"), "9801"));
	meta_release(&m);
}

TEST(meta_format_roundtrip)
{
	struct meta m = META_INIT, back = META_INIT;
	size_t len;
	char *t = meta_format(&m, &len);
	CHECK(len == 0 && !strcmp(t, ""));
	free(t);

	meta_set(&m, "data.name", "mnist");
	meta_set(&m, "expr", "a=b");
	meta_set(&m, "empty", "%s", "");
	meta_set(&m, "utf8", "%s", "\xce\xb8=\xcf\x80/2");
	t = meta_format(&m, &len);
	const char *want = "data.name=mnist\nexpr=a=b\nempty=\nutf8=\xce\xb8=\xcf\x80/2\n";
	CHECK(len == strlen(want));
	CHECK(!strcmp(t, want));
	CHECK(meta_parse(&back, t, len) == 0);
	CHECK(back.n == m.n);
	for (size_t i = 0; i < m.n && i < back.n; i++) {
		CHECK(!strcmp(back.keys[i], m.keys[i]));
		CHECK(!strcmp(back.vals[i], m.vals[i]));
	}
	char *t2 = meta_format(&back, &len);
	CHECK(!strcmp(t2, t));
	free(t);
	free(t2);
	meta_release(&m);
	meta_release(&back);
}

TEST(meta_merge_and_argv)
{
	struct meta a = META_INIT, b = META_INIT;
	meta_set(&a, "data.name", "mnist");
	meta_set(&a, "data.n", "100");
	meta_set(&b, "data.n", "50");
	meta_set(&b, "corrupt.p", "0.8");
	meta_merge(&a, &b);
	CHECK(a.n == 3);
	CHECK(!strcmp(a.keys[1], "data.n") && !strcmp(a.vals[1], "50"));
	CHECK(!strcmp(a.keys[2], "corrupt.p"));
	CHECK(b.n == 2);                      /* src untouched */
	/* The copy is deep: changing b does not change a. */
	meta_set(&b, "corrupt.p", "0.1");
	CHECK(!strcmp(meta_get(&a, "corrupt.p"), "0.8"));

	char *argv[] = { "corrupt", "-p", "0.8", "--seed", "42", NULL };
	meta_set_argv(&a, "corrupt", 5, argv);
	CHECK(!strcmp(meta_get(&a, "corrupt.argv"), "-p 0.8 --seed 42"));
	char *argv1[] = { "score", NULL };
	meta_set_argv(&a, "score", 1, argv1);
	CHECK(!strcmp(meta_get(&a, "score.argv"), ""));
	meta_release(&a);
	meta_release(&b);
}

/* ---- util ---- */

TEST(parse_long_checks)
{
	long v = 7;
	CHECK(parse_long("42", 0, 100, &v) == 0 && v == 42);
	CHECK(parse_long("-5", -10, 10, &v) == 0 && v == -5);
	CHECK(parse_long("0", 0, 0, &v) == 0 && v == 0);
	CHECK(parse_long(LONG_MAX == 9223372036854775807L ? "9223372036854775807" : "2147483647",
			 0, LONG_MAX, &v) == 0 && v == LONG_MAX);
	static const char *junk[] = {
		"", "abc", "12abc", "12 ", " 12", "1.5", "1e3", "0x10", "--1", "- 1",
		"99999999999999999999", "-99999999999999999999", "12\n",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		v = 7;
		int rc = parse_long(junk[i], LONG_MIN, LONG_MAX, &v);
		CHECK(rc == -1);
		CHECK(v == 7);                  /* untouched on failure */
		if (rc != -1)
			printf("#   accepted '%s'\n", junk[i]);
	}
	CHECK(parse_long("101", 0, 100, &v) == -1);
	CHECK(strstr(mp_errmsg(), "101") != NULL);
	CHECK(parse_long("-1", 0, 100, &v) == -1);
	CHECK(strstr(mp_errmsg(), "-1") != NULL);
}

TEST(parse_double_checks)
{
	double v = 7;
	CHECK(parse_double("0.8", 0, 1, &v) == 0 && v == 0.8);
	CHECK(parse_double("1", 0, 1, &v) == 0 && v == 1);
	CHECK(parse_double("-2.5e-3", -1, 1, &v) == 0 && v == -2.5e-3);
	CHECK(parse_double("1e3", 0, 1e4, &v) == 0 && v == 1000);
	static const char *junk[] = {
		"", "abc", "0.5x", "0.5 ", " 0.5", "nan", "NaN", "inf", "-inf",
		"1e400", "0.5\n", "1,5", "..5",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		v = 7;
		int rc = parse_double(junk[i], -1e300, 1e300, &v);
		CHECK(rc == -1);
		CHECK(v == 7);
		if (rc != -1)
			printf("#   accepted '%s'\n", junk[i]);
	}
	CHECK(parse_double("1.0000001", 0, 1, &v) == -1);
	CHECK(parse_double("-0.1", 0, 1, &v) == -1);
	CHECK(strstr(mp_errmsg(), "-0.1") != NULL);
}

TEST(errors)
{
	CHECK(mp_error("member '%s' is %s", "x", "bad") == -1);
	CHECK(!strcmp(mp_errmsg(), "member 'x' is bad"));
	CHECK(mp_error_prefix("%s", "f.npz") == -1);
	CHECK(!strcmp(mp_errmsg(), "f.npz: member 'x' is bad"));
	/* Long messages are cut, not overflowed. */
	char big[4000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	mp_error("%s", big);
	CHECK(strlen(mp_errmsg()) < sizeof big - 1);
	mp_error_prefix("%s", big);
	CHECK(strlen(mp_errmsg()) < sizeof big - 1);
	mp_error("short");
	CHECK(!strcmp(mp_errmsg(), "short"));
}

TEST(sizes_and_alloc)
{
	size_t n = 0;
	CHECK(mp_mul_size(3, 5, &n) == 0 && n == 15);
	CHECK(mp_mul_size(0, SIZE_MAX, &n) == 0 && n == 0);
	CHECK(mp_mul_size(SIZE_MAX, 0, &n) == 0 && n == 0);
	CHECK(mp_mul_size(SIZE_MAX, 1, &n) == 0 && n == SIZE_MAX);
	CHECK(mp_mul_size(SIZE_MAX / 2 + 1, 2, &n) == -1);
	CHECK(mp_mul_size((size_t)1 << 32, (size_t)1 << 32, &n) == -1);

	for (size_t k = 1; k < 300; k += 37) {
		unsigned char *p = xaligned_calloc(k, 3);
		CHECK(((uintptr_t)p & 63) == 0);
		int zero = 1;
		for (size_t i = 0; i < 3 * k; i++)
			zero &= p[i] == 0;
		CHECK(zero);
		free(p);
	}
	char *s = xasprintf("%s=%d", "k", 5);
	CHECK(!strcmp(s, "k=5"));
	free(s);
	s = xstrdup("");
	CHECK(!strcmp(s, ""));
	free(s);
}

TEST(tmp_commit)
{
	char path[256], *tmp = NULL;
	snprintf(path, sizeof path, "%s/out.npz", scratch_dir);
	int fd = mp_tmp_create(path, &tmp);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(!strncmp(tmp, path, strlen(path)));
	CHECK(strstr(tmp, ".tmp.") != NULL);
	CHECK(exists(tmp) && !exists(path));
	CHECK(write(fd, "hello", 5) == 5);
	CHECK(close(fd) == 0);
	/* Permissions are the usual 0666 & ~umask, not mkstemp's 0600. */
	mode_t um = umask(022);
	umask(um);
	struct stat st;
	CHECK(stat(tmp, &st) == 0 && (st.st_mode & 0777) == (0666 & ~um));
	CHECK(mp_tmp_commit(tmp, path) == 0);
	CHECK(!exists(tmp) && exists(path));
	CHECK(stat(path, &st) == 0 && st.st_size == 5);
	free(tmp);
	/* Commit over an existing file replaces it. */
	fd = mp_tmp_create(path, &tmp);
	CHECK(fd >= 0);
	CHECK(write(fd, "hi", 2) == 2);
	close(fd);
	CHECK(mp_tmp_commit(tmp, path) == 0);
	CHECK(stat(path, &st) == 0 && st.st_size == 2);
	free(tmp);
	unlink(path);
	CHECK(scratch_count("") == 0);
}

TEST(tmp_discard_and_errors)
{
	char path[256], *tmp = NULL;
	snprintf(path, sizeof path, "%s/gone.npz", scratch_dir);
	int fd = mp_tmp_create(path, &tmp);
	CHECK(fd >= 0);
	close(fd);
	mp_tmp_discard(tmp);
	CHECK(!exists(tmp) && !exists(path));
	free(tmp);
	CHECK(scratch_count("") == 0);

	/* A directory that does not exist: an error naming the path. */
	snprintf(path, sizeof path, "%s/no/such/dir/out.npz", scratch_dir);
	tmp = NULL;
	CHECK(mp_tmp_create(path, &tmp) == -1);
	CHECK(tmp == NULL);
	CHECK(strstr(mp_errmsg(), "out.npz") != NULL);

	/* Commit to where a rename cannot go: the temporary is removed. */
	snprintf(path, sizeof path, "%s/x", scratch_dir);
	fd = mp_tmp_create(path, &tmp);
	CHECK(fd >= 0);
	close(fd);
	char bad[300];
	snprintf(bad, sizeof bad, "%s/missing/x", scratch_dir);
	CHECK(mp_tmp_commit(tmp, bad) == -1);
	CHECK(strstr(mp_errmsg(), "missing/x") != NULL);
	CHECK(!exists(tmp));
	free(tmp);
	CHECK(scratch_count("") == 0);
}

/* In a child: create a temporary, report its name on fd `out`, then
 * end as `how` says. */
static void child(int out, int how)
{
	char path[256], *tmp;
	char *argv[] = { "test_meta", NULL };
	mp_init(1, argv);
	freopen("/dev/null", "w", stderr);
	snprintf(path, sizeof path, "%s/sig.npz", scratch_dir);
	int fd = mp_tmp_create(path, &tmp);
	if (fd < 0)
		_exit(3);
	if (write(out, tmp, strlen(tmp) + 1) < 0)
		_exit(3);
	close(out);
	if (how == 0)
		die("dying on purpose");
	if (how == 1)
		raise(SIGTERM);
	if (how == 2)
		raise(SIGINT);
	if (how == 3)
		raise(SIGPIPE);
	if (how == 4)
		die_usage("test_meta", "bad usage");
	_exit(4);
}

TEST(tmp_removed_on_death)
{
	static const struct { int how, sig, code; } c[] = {
		{ 0, 0, 1 }, { 1, SIGTERM, 0 }, { 2, SIGINT, 0 }, { 3, SIGPIPE, 0 },
		{ 4, 0, 2 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int fd;
		char name[300] = "";
		pid_t pid = spawn_writer(&fd, child, c[i].how);
		if (pid < 0)
			return;
		ssize_t n = read(fd, name, sizeof name - 1);
		close(fd);
		int st;
		waitpid(pid, &st, 0);
		CHECK(n > 0);
		CHECK(strstr(name, "sig.npz.tmp.") != NULL);
		if (c[i].sig)
			CHECK(WIFSIGNALED(st) && WTERMSIG(st) == c[i].sig);
		else
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == c[i].code);
		CHECK(!exists(name));
		CHECK(scratch_count("") == 0);
	}
}

TEST(deferred_signals)
{
	/* With signals deferred, SIGINT only sets the flag. */
	char *argv[] = { "test_meta", NULL };
	mp_init(1, argv);
	mp_interrupted = 0;
	mp_defer_signals(1);
	raise(SIGINT);
	CHECK(mp_interrupted == 1);
	mp_defer_signals(0);
	mp_interrupted = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	double t0 = mp_now(), t1 = mp_now();
	CHECK(t1 >= t0);
}

int main(void)
{
	scratch_init("test_meta");
	RUN(meta_parse_basic);
	RUN(meta_parse_errors);
	RUN(meta_duplicate_keys);
	RUN(meta_set_get);
	RUN(meta_format_roundtrip);
	RUN(meta_merge_and_argv);
	RUN(parse_long_checks);
	RUN(parse_double_checks);
	RUN(errors);
	RUN(sizes_and_alloc);
	RUN(tmp_commit);
	RUN(tmp_discard_and_errors);
	RUN(tmp_removed_on_death);
	RUN(deferred_signals);
	return tap_done();
}
