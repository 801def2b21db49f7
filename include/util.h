/*
 * util.h: errors, checked allocation, checked number parsing, temporary
 * output files. Every other module builds on these.
 *
 * Error convention (libarchive, git): library functions return 0 on success
 * and -1 on failure after recording a message with mp_error(); only cmd/
 * decides to die. Messages are lowercase, no trailing period, subjects in
 * 'single quotes': "member 'x' is truncated".
 */
#ifndef MEMPROBE_UTIL_H
#define MEMPROBE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>

#if defined(__GNUC__)
#define MP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MP_PRINTF(f, a)
#endif

/* The running tool's name, for messages ("corrupt"); set by mp_init(). */
extern const char *mp_progname;

/* Call first in every main: sets mp_progname from argv[0], installs the
 * SIGINT/SIGTERM/SIGHUP/SIGPIPE handlers that remove registered temporary
 * files, and makes exit() leave (after the
 * program's own atexit handlers and a flush of every stream) without
 * running the shared libraries' destructors. */
void mp_init(int argc, char **argv);

/* Record an error message (printf-style) for the caller; returns -1 so that
 * library code can write `return mp_error("...", ...);`. A later call
 * replaces the message. Thread-local. */
int mp_error(const char *fmt, ...) MP_PRINTF(1, 2);
/* Prefix the recorded message: "CONTEXT: old message". Returns -1. */
int mp_error_prefix(const char *fmt, ...) MP_PRINTF(1, 2);
/* The last recorded message ("unknown error" if none). */
const char *mp_errmsg(void);

/* "TOOL: message\n" on stderr, remove temporary files, exit(1). */
noreturn void die(const char *fmt, ...) MP_PRINTF(1, 2);
/* die("%s", mp_errmsg()) */
noreturn void die_lib(void);
/* "TOOL: message\n" on stderr, continue. */
void warn(const char *fmt, ...) MP_PRINTF(1, 2);
/* Usage error: "TOOL: message\n" (if fmt) then the usage line, exit(2). */
noreturn void die_usage(const char *usage, const char *fmt, ...) MP_PRINTF(2, 3);

/* A broken internal invariant is a bug: abort loudly. */
#define MP_ASSERT(x) \
	do { if (!(x)) mp_assert_fail(#x, __FILE__, __LINE__); } while (0)
noreturn void mp_assert_fail(const char *expr, const char *file, int line);

/* Checked allocation: out of memory is fatal ("TOOL: out of memory"). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* nmemb * size, dying on overflow (an overflowing request is a bug or an
 * absurd input that a caller should have rejected with mp_mul_size). */
void *xmallocarray(size_t nmemb, size_t size);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* printf into a fresh string. */
char *xasprintf(const char *fmt, ...) MP_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) MP_PRINTF(1, 0);
/* 64-byte aligned allocation (free with free()); zeroed. */
void *xaligned_calloc(size_t nmemb, size_t size);

/* *out = a * b; returns -1 (no message) on overflow of size_t. */
int mp_mul_size(size_t a, size_t b, size_t *out);

/* Checked parsing: the whole string must be a number in [min, max];
 * on failure records "invalid NAME 'S'" style message and returns -1. */
int parse_long(const char *s, long min, long max, long *out);
int parse_double(const char *s, double min, double max, double *out);
/* One of n names: the i where names[i] is s; otherwise -1 with the
 * message "WHAT 'S' (A, B or C)", e.g. what = "unknown mode". */
int mp_parse_choice(const char *s, const char *const *names, int n, const char *what);

/* The shortest decimal that reads back as v: "%.*g" with the smallest
 * precision from 6 to 17 that round-trips (6 at least, so that 100 stays
 * "100" rather than "1e+02"), into buf, which is returned. */
#define MP_DOUBLE_CHARS 32
char *mp_fmt_double(char buf[MP_DOUBLE_CHARS], double v);

/* A growing string (git's strbuf). Appending cannot fail (out of memory
 * is fatal); s is NUL-terminated once anything was added, NULL before.
 *
 *   struct mp_buf b = MP_BUF_INIT;
 *   mp_buf_printf(&b, "%s%d", sep, v);      // b.s, b.len
 *   mp_buf_release(&b);
 */
struct mp_buf {
	char *s;
	size_t len, cap;
};
#define MP_BUF_INIT { NULL, 0, 0 }
void mp_buf_add(struct mp_buf *b, const void *data, size_t n);
void mp_buf_addstr(struct mp_buf *b, const char *s);
void mp_buf_printf(struct mp_buf *b, const char *fmt, ...) MP_PRINTF(2, 3);
void mp_buf_release(struct mp_buf *b);

/* Temporary output files: an output FILE is written as FILE.tmp.XXXXXX in
 * the same directory and renamed over FILE only when complete. Registered
 * temporaries are unlinked by die() and by the signal handlers. */
/* Create and open a temporary beside `path`; returns fd, *tmp_out gets a
 * malloc'd name. */
int mp_tmp_create(const char *path, char **tmp_out);
/* fsync-free rename of tmp over path, then unregister; -1 on failure. */
int mp_tmp_commit(const char *tmp, const char *path);
/* Unlink and unregister. */
void mp_tmp_discard(const char *tmp);

/* mkdir -p: create DIR and its missing parents (0777 & ~umask). An
 * existing directory is fine; a path component that is not one is an
 * error naming DIR. */
int mp_mkdir_p(const char *dir);

/* Lock the folder DIR for this process: an exclusive flock(2) on
 * DIR/.lock (created if absent, left in place: removing it would let two
 * processes lock two different files), held until the returned fd is
 * closed or the process ends, even by kill -9. The file holds the
 * holder's pid, so that a second locker fails at once with "'DIR' is in
 * use by process N". Returns the fd, or -1 with a message. */
int mp_dir_lock(const char *dir);

/* Close stdout checking for errors (a full disk or a closed pipe must show
 * in the exit status); dies on failure. Call at the end of main. */
void mp_close_stdout(void);

/* Set when SIGINT/SIGTERM arrived while a handler is deferred by
 * mp_defer_signals(1): long loops poll it and stop cleanly. */
extern volatile int mp_interrupted;
/* 1: SIGINT/SIGTERM only set mp_interrupted (the tool must check it);
 * 0 (default): they remove temporaries and kill the process. */
void mp_defer_signals(int on);

/* Progress on stderr, only when stderr is a terminal. */
int mp_stderr_is_tty(void);

/* A progress line on stderr, redrawn in place ("\rTOOL: TEXT"): shown
 * only when the caller wants it and stderr is a terminal, at most once
 * every `every` seconds (counted from the start; 0: at every call), and
 * erased at the end by `width` blanks.
 *
 *   struct mp_progress p;
 *   mp_progress_start(&p, !quiet, 0.2, 60);
 *   for (...) mp_progress_show(&p, "%zu/%zu samples", done, n);
 *   mp_progress_end(&p);
 */
struct mp_progress {
	int on;
	double every, last;
	int width;
};
void mp_progress_start(struct mp_progress *p, int want, double every, int width);
void mp_progress_show(struct mp_progress *p, const char *fmt, ...) MP_PRINTF(2, 3);
void mp_progress_end(struct mp_progress *p);

/* Monotonic seconds. */
double mp_now(void);

/* Grow an array *p of *cap elements of `size` bytes so that it holds at
 * least `need` (capacity doubles, so n appends cost O(n)); the contents
 * are kept, *p and *cap updated. For buffers that grow as rows arrive
 * instead of being sized by what a header claims. -1 (no message) when
 * need * size overflows size_t; out of memory is fatal. */
int mp_grow(void **p, size_t *cap, size_t need, size_t size);

/* An output file written the way every tool writes one (the stream
 * writer, npz_writer_open, does the same for streams): a FILE that is a
 * device or a FIFO (/dev/null, /dev/full, a named pipe) is opened and
 * written as it is; any other FILE through a temporary FILE.tmp.XXXXXX
 * renamed over it by mp_out_close(), so a failed run leaves nothing.
 *
 *   struct mp_out *o = mp_out_open(path);
 *   if (!o || mp_out_write(o, text, len) || mp_out_close(o)) die_lib();
 *
 * (on a write error, call mp_out_abort(o) instead of mp_out_close). */
struct mp_out;
/* NULL with a message naming the file on failure. */
struct mp_out *mp_out_open(const char *path);
/* All n bytes, or -1 with a message naming the file. */
int mp_out_write(struct mp_out *o, const void *buf, size_t n);
/* Close (checked: a full disk shows here) and rename the temporary over
 * FILE; frees o. -1 with a message, and then no temporary is left. */
int mp_out_close(struct mp_out *o);
/* Give up: close, remove the temporary, free o (NULL: nothing). */
void mp_out_abort(struct mp_out *o);

#endif
