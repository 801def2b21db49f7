/*
 * replay.c: build/tests/test_fuzz_replay, the fuzz harnesses without
 * libFuzzer. Built by `make units` with the normal compiler (each
 * tests/fuzz/fuzz_NAME.c compiled with its entry point renamed
 * fuzz_one_NAME; the Makefile passes the list as FUZZ_HARNESSES), so
 * `make check` replays, for every harness, every committed input:
 * tests/fuzz/corpus/NAME/ (the seeds) and tests/fuzz/crashes/NAME/ (every
 * input that ever crashed, hung or blew memory). Each input runs in a
 * child process of its own with a time limit, so a crash names its file.
 * One TAP line per harness.
 *
 *   build/tests/test_fuzz_replay               everything (from the top)
 *   build/tests/test_fuzz_replay npz F...      harness npz on files or dirs
 */
#define _XOPEN_SOURCE 700       /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define X(n) int fuzz_one_##n(const uint8_t *data, size_t size);
FUZZ_HARNESSES
#undef X

static const struct harness {
	const char *name;
	int (*one)(const uint8_t *data, size_t size);
} harnesses[] = {
#define X(n) { #n, fuzz_one_##n },
	FUZZ_HARNESSES
#undef X
};

#define NHARNESS (sizeof harnesses / sizeof harnesses[0])
#define TIME_LIMIT 120          /* seconds per input, sanitizers included */

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 4096;
	uint8_t *buf = malloc(cap);
	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return -1;
	}
	for (;;) {
		if (n == cap) {
			uint8_t *b = realloc(buf, cap *= 2);
			if (!b) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = b;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Run one input in a child; 0 if it returned normally. */
static int run_one(const struct harness *h, const char *path)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		printf("#   %s: cannot fork: %s\n", path, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		uint8_t *data;
		size_t len;
		alarm(TIME_LIMIT);
		if (read_file(path, &data, &len)) {
			fprintf(stderr, "cannot read '%s': %s\n", path, strerror(errno));
			_exit(3);
		}
		h->one(data, len);
		free(data);
		exit(0);        /* atexit: the harness's scratch folder */
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			printf("#   %s: waitpid: %s\n", path, strerror(errno));
			return -1;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		printf("#   %s: %s (signal %d)\n", path,
		       WTERMSIG(st) == SIGALRM ? "hung" : "crashed", WTERMSIG(st));
	else
		printf("#   %s: exit status %d\n", path, WEXITSTATUS(st));
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in dir (sorted), or path itself if it is a file.
 * Counts runs and failures. A missing dir holds nothing. */
static void run_path(const struct harness *h, const char *path, size_t *runs,
		     size_t *fails)
{
	struct stat st;
	if (stat(path, &st))
		return;
	if (!S_ISDIR(st.st_mode)) {
		++*runs;
		*fails += run_one(h, path) != 0;
		return;
	}
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char **v = realloc(names, (n + 1) * sizeof *names);
		if (!v)
			break;
		names = v;
		size_t l = strlen(path) + strlen(de->d_name) + 2;
		names[n] = malloc(l);
		if (!names[n])
			break;
		snprintf(names[n], l, "%s/%s", path, de->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (!stat(names[i], &st) && S_ISREG(st.st_mode)) {
			++*runs;
			*fails += run_one(h, names[i]) != 0;
		}
		free(names[i]);
	}
	free(names);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	remove(path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *top = getenv("MEMPROBE_TOP");
	char tmp[] = "/tmp/test_fuzz_replay.XXXXXX";
	int n = 0, failed = 0;

	/* The harnesses' scratch folders go below one of our own. */
	if (!mkdtemp(tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	setenv("TMPDIR", tmp, 1);
	if (argc > 1) {
		size_t i, runs = 0, fails = 0;
		for (i = 0; i < NHARNESS && strcmp(harnesses[i].name, argv[1]); i++)
			;
		if (i == NHARNESS) {
			fprintf(stderr, "usage: %s [HARNESS FILE|DIR...] (no harness '%s')\n",
				argv[0], argv[1]);
			rmdir(tmp);
			return 2;
		}
		for (int k = 2; k < argc; k++)
			run_path(&harnesses[i], argv[k], &runs, &fails);
		printf("%s 1 - fuzz %s: %zu inputs, %zu failed\n1..1\n",
		       fails ? "not ok" : "ok", argv[1], runs, fails);
		failed = fails != 0;
	} else {
		for (size_t i = 0; i < NHARNESS; i++) {
			const struct harness *h = &harnesses[i];
			char dir[4096];
			size_t runs = 0, fails = 0;
			snprintf(dir, sizeof dir, "%s%stests/fuzz/corpus/%s",
				 top ? top : "", top ? "/" : "", h->name);
			run_path(h, dir, &runs, &fails);
			snprintf(dir, sizeof dir, "%s%stests/fuzz/crashes/%s",
				 top ? top : "", top ? "/" : "", h->name);
			run_path(h, dir, &runs, &fails);
			/* No inputs at all: the corpus went missing. */
			int bad = fails || runs == 0;
			printf("%s %d - fuzz replay %s: %zu inputs%s\n", bad ? "not ok" : "ok",
			       ++n, h->name, runs, runs ? "" : " (no corpus found)");
			failed |= bad;
		}
		printf("1..%d\n", n);
	}
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed;
}
