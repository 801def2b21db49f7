/*
 * scratch.h: files and processes for the C unit tests that write them: a
 * scratch folder per test binary, removed with all it holds by tap_done
 * (not at exit: mp_init's exit handler leaves before the others), and
 * children that write into a pipe.
 *
 *   scratch_init("test_npz");               first thing in main
 *   const char *p = scratch_path("a.npz");  one of 8 rotating buffers
 *   CHECK(!exists(p) && scratch_count(".tmp.") == 0);
 *   pid_t pid = spawn_writer(&fd, fn, arg); fn(write end, arg) in a child
 */
#ifndef MEMPROBE_SCRATCH_H
#define MEMPROBE_SCRATCH_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "tap.h"

static char scratch_dir[64];

static inline void scratch_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", scratch_dir);
}

/* Make /tmp/NAME.XXXXXX, removed by tap_done; a failure ends the binary
 * with TAP's "Bail out!". */
static inline void scratch_init(const char *name)
{
	snprintf(scratch_dir, sizeof scratch_dir, "/tmp/%s.XXXXXX", name);
	if (!mkdtemp(scratch_dir)) {
		printf("Bail out! cannot create %s\n", scratch_dir);
		exit(1);
	}
	tap_cleanup = scratch_remove;
}

/* scratch_dir/name, valid until 8 more calls. */
static inline char *scratch_path(const char *name)
{
	static char p[8][512];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof p[k], "%s/%s", scratch_dir, name);
	return p[k];
}

static inline int exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* Entries of the scratch folder whose names contain part ("": all). */
static inline int scratch_count(const char *part)
{
	DIR *d = opendir(scratch_dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, part);
	closedir(d);
	return n;
}

/* Run fn(fd, arg) in a child, fd the write end of a pipe; the child ends
 * with _exit(0) if fn returns. The child's pid, the read end in *rfd; -1
 * if there is no pipe or no child. */
static inline pid_t spawn_writer(int *rfd, void (*fn)(int fd, int arg), int arg)
{
	int p[2];
	if (pipe(p))
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		fn(p[1], arg);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0)
		close(p[0]);
	*rfd = p[0];
	return pid;
}

#endif
