/*
 * util.c: error recording, checked allocation and parsing, temporary output
 * files that never survive a failure, and signal handling around them.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *mp_progname = "memprobe";
volatile int mp_interrupted;

static _Thread_local char errbuf[1024];
static _Thread_local int errset;

int mp_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	errset = 1;
	return -1;
}

int mp_error_prefix(const char *fmt, ...)
{
	char prefix[512], old[sizeof errbuf];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	snprintf(old, sizeof old, "%s", errset ? errbuf : "unknown error");
	size_t pl = strlen(prefix);
	if (pl > sizeof errbuf - 3)
		pl = sizeof errbuf - 3;
	memcpy(errbuf, prefix, pl);
	memcpy(errbuf + pl, ": ", 2);
	size_t ol = strlen(old), room = sizeof errbuf - pl - 3;
	if (ol > room)
		ol = room;
	memcpy(errbuf + pl + 2, old, ol);
	errbuf[pl + 2 + ol] = '\0';
	errset = 1;
	return -1;
}

const char *mp_errmsg(void)
{
	return errset ? errbuf : "unknown error";
}

/* Registered temporaries. A fixed table keeps the signal handler
 * async-signal-safe: it only reads paths and calls unlink(). */
#define MAX_TMP 64
static char *tmp_paths[MAX_TMP];

static void tmp_unlink_all(void)
{
	for (int i = 0; i < MAX_TMP; i++)
		if (tmp_paths[i])
			unlink(tmp_paths[i]);
}

static volatile int deferring;

static void on_signal(int sig)
{
	if (deferring && (sig == SIGINT || sig == SIGTERM)) {
		mp_interrupted = 1;
		return;
	}
	tmp_unlink_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void mp_defer_signals(int on)
{
	deferring = on;
}

/* The last thing exit() runs before the library destructors: flush, and
 * leave. OpenBLAS's destructor joins its server threads, and a thread
 * whose buffer mmap failed (a tight ulimit -v) retries for ever, so a
 * tool that had done its work hung in exit(). The tools have nothing for
 * a library destructor to save. Sanitizer builds keep the full exit: their
 * leak and race reports come from the destructors. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
static void leave(int status, void *arg)
{
	(void)arg;
	fflush(NULL);
	_exit(status);
}
#endif

void mp_init(int argc, char **argv)
{
	(void)argc;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	on_exit(leave, NULL);
#endif
	if (argv && argv[0]) {
		const char *s = strrchr(argv[0], '/');
		mp_progname = s ? s + 1 : argv[0];
		/* getopt's own messages name argv[0]: make them "TOOL: ..." too. */
		argv[0] = (char *)mp_progname;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

static void vmsg(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", mp_progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	tmp_unlink_all();
	/* _exit, not exit: the library destructors have nothing to save,
	 * and OpenBLAS's joins its server thread, which never ends if its
	 * buffer mmap failed under a tight ulimit -v (the tool then hung for
	 * ever after its error). stdout was flushed by vmsg. */
	fflush(NULL);
	_exit(1);
}

void die_lib(void)
{
	die("%s", mp_errmsg());
}

void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void die_usage(const char *usage, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vmsg(fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "usage: %s\n", usage);
	tmp_unlink_all();
	exit(2);
}

void mp_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "%s: internal error: assertion '%s' failed at %s:%d\n",
		mp_progname, expr, file, line);
	tmp_unlink_all();
	abort();
}

static void *oom(void)
{
	die("out of memory");
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	return p ? p : oom();
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	return p ? p : oom();
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	return q ? q : oom();
}

int mp_mul_size(size_t a, size_t b, size_t *out)
{
	if (b && a > SIZE_MAX / b)
		return -1;
	*out = a * b;
	return 0;
}

void *xmallocarray(size_t nmemb, size_t size)
{
	size_t n;
	if (mp_mul_size(nmemb, size, &n))
		die("allocation size overflows (%zu x %zu)", nmemb, size);
	return xmalloc(n);
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;
	if (mp_mul_size(nmemb, size, &n))
		die("allocation size overflows (%zu x %zu)", nmemb, size);
	return xrealloc(p, n);
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	MP_ASSERT(n >= 0);
	char *s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void *xaligned_calloc(size_t nmemb, size_t size)
{
	size_t n;
	void *p;
	if (mp_mul_size(nmemb, size, &n))
		die("allocation size overflows (%zu x %zu)", nmemb, size);
	n = (n + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, n ? n : 64))
		return oom();
	memset(p, 0, n);
	return p;
}

int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	/* strtol skips leading white space: reject it like trailing junk. */
	if (!*s || isspace((unsigned char)*s) || *end || errno == ERANGE)
		return mp_error("'%s' is not an integer", s);
	if (v < min || v > max)
		return mp_error("'%s' is out of range [%ld, %ld]", s, min, max);
	*out = v;
	return 0;
}

int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || isspace((unsigned char)*s) || *end || errno == ERANGE || isnan(v))
		return mp_error("'%s' is not a number", s);
	if (v < min || v > max)
		return mp_error("'%s' is out of range [%g, %g]", s, min, max);
	*out = v;
	return 0;
}

int mp_parse_choice(const char *s, const char *const *names, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	struct mp_buf list = MP_BUF_INIT;
	for (int i = 0; i < n; i++)
		mp_buf_printf(&list, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
			      names[i]);
	mp_error("%s '%s' (%s)", what, s, list.s ? list.s : "");
	mp_buf_release(&list);
	return -1;
}

char *mp_fmt_double(char buf[MP_DOUBLE_CHARS], double v)
{
	for (int p = 6; p <= 17; p++) {
		snprintf(buf, MP_DOUBLE_CHARS, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

/* ---- growing strings ---- */

static void buf_reserve(struct mp_buf *b, size_t more)
{
	if (b->cap - b->len > more)
		return;
	if (b->len + more + 1 < b->len)
		oom();
	size_t want = (b->len + more + 1) * 2;
	b->s = xrealloc(b->s, want);
	b->cap = want;
}

void mp_buf_add(struct mp_buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void mp_buf_addstr(struct mp_buf *b, const char *s)
{
	mp_buf_add(b, s, strlen(s));
}

void mp_buf_printf(struct mp_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	MP_ASSERT(n >= 0);
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void mp_buf_release(struct mp_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

static void tmp_register(char *path)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < MAX_TMP; i++)
		if (!tmp_paths[i]) {
			tmp_paths[i] = path;
			sigprocmask(SIG_SETMASK, &old, NULL);
			return;
		}
	sigprocmask(SIG_SETMASK, &old, NULL);
	die("too many temporary files");
}

static void tmp_unregister(const char *path)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < MAX_TMP; i++)
		if (tmp_paths[i] && !strcmp(tmp_paths[i], path)) {
			char *p = tmp_paths[i];
			tmp_paths[i] = NULL;
			free(p);
			break;
		}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int mp_tmp_create(const char *path, char **tmp_out)
{
	char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		free(tmp);
		return mp_error("cannot create '%s': %s", path, strerror(e));
	}
	/* Output files get the usual 0666 & ~umask, not mkstemp's 0600. */
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	tmp_register(xstrdup(tmp));
	*tmp_out = tmp;
	return fd;
}

int mp_tmp_commit(const char *tmp, const char *path)
{
	if (rename(tmp, path)) {
		int e = errno;
		mp_tmp_discard(tmp);
		return mp_error("cannot rename to '%s': %s", path, strerror(e));
	}
	tmp_unregister(tmp);
	return 0;
}

void mp_tmp_discard(const char *tmp)
{
	unlink(tmp);
	tmp_unregister(tmp);
}

int mp_mkdir_p(const char *dir)
{
	if (!*dir)
		return mp_error("cannot create '': no such folder");
	char *p = xstrdup(dir);
	int rc = 0;
	/* Every prefix that ends before a '/', then the whole path. */
	for (char *s = p + 1; rc == 0; s++) {
		int last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0777) && errno != EEXIST)
			rc = mp_error("cannot create '%s': %s", dir, strerror(errno));
		*s = c;
		if (last)
			break;
	}
	free(p);
	struct stat sb;
	if (rc == 0 && stat(dir, &sb))
		rc = mp_error("cannot create '%s': %s", dir, strerror(errno));
	else if (rc == 0 && !S_ISDIR(sb.st_mode))
		rc = mp_error("'%s' is not a directory", dir);
	return rc;
}

int mp_dir_lock(const char *dir)
{
	char *path = xasprintf("%s/.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		mp_error("cannot lock '%s': '%s': %s", dir, path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		char buf[32];
		ssize_t k = e == EWOULDBLOCK ? pread(fd, buf, sizeof buf - 1, 0) : -1;
		long pid = 0;
		char *nl = k > 0 ? memchr(buf, '\n', (size_t)k) : NULL;
		if (nl) {       /* a whole line: not a pid cut short */
			*nl = '\0';
			if (parse_long(buf, 1, LONG_MAX, &pid))
				pid = 0;
		}
		if (e != EWOULDBLOCK)
			mp_error("cannot lock '%s': '%s': %s", dir, path, strerror(e));
		else if (pid)
			mp_error("'%s' is in use by process %ld (it holds '%s')", dir, pid, path);
		else
			mp_error("'%s' is in use by another process (it holds '%s')", dir, path);
		close(fd);
		free(path);
		return -1;
	}
	/* The lock is ours. The pid is only for the message of a process that
	 * finds it taken: when it cannot be written (a full disk), the lock
	 * holds all the same and that message says "another process". */
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)pwrite(fd, pid, (size_t)n, 0);
	free(path);
	return fd;
}

void mp_close_stdout(void)
{
	int bad = ferror(stdout);
	if (fclose(stdout) || bad) {
		if (errno == EPIPE)
			die("write error: broken pipe");
		die("write error on standard output: %s", strerror(errno ? errno : EIO));
	}
}

int mp_stderr_is_tty(void)
{
	return isatty(STDERR_FILENO);
}

void mp_progress_start(struct mp_progress *p, int want, double every, int width)
{
	p->on = want && mp_stderr_is_tty();
	p->every = every;
	p->width = width;
	p->last = mp_now();
}

void mp_progress_show(struct mp_progress *p, const char *fmt, ...)
{
	va_list ap;
	if (!p->on)
		return;
	double now = mp_now();
	if (p->every > 0 && !(now - p->last > p->every))
		return;
	fprintf(stderr, "\r%s: ", mp_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
	p->last = now;
}

void mp_progress_end(struct mp_progress *p)
{
	if (p->on)
		fprintf(stderr, "\r%*s\r", p->width, "");
}

double mp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int mp_grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n, bytes;
	if (need <= *cap)
		return 0;
	n = *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
	if (n < need)
		n = need;
	/* Doubling may overflow where `need` itself does not: fall back to it. */
	if (mp_mul_size(n, size, &bytes)) {
		n = need;
		if (mp_mul_size(n, size, &bytes))
			return -1;
	}
	*p = xrealloc(*p, bytes);
	*cap = n;
	return 0;
}

/* ---- output files ---- */

struct mp_out {
	char *path;
	char *tmp;               /* the temporary, or NULL: path written directly */
	int fd;
};

struct mp_out *mp_out_open(const char *path)
{
	struct mp_out *o = xcalloc(1, sizeof *o);
	struct stat st;
	o->path = xstrdup(path);
	if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
		/* A device or FIFO (/dev/null, a named pipe): write to it as it
		 * is; renaming a temporary over it would replace it. */
		o->fd = open(path, O_WRONLY);
		if (o->fd < 0)
			mp_error("cannot open '%s': %s", path, strerror(errno));
	} else {
		o->fd = mp_tmp_create(path, &o->tmp);
	}
	if (o->fd < 0) {
		free(o->path);
		free(o);
		return NULL;
	}
	return o;
}

int mp_out_write(struct mp_out *o, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t k = write(o->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return mp_error("cannot write '%s': %s", o->path, strerror(errno));
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void out_free(struct mp_out *o)
{
	free(o->tmp);
	free(o->path);
	free(o);
}

int mp_out_close(struct mp_out *o)
{
	int rc = 0;
	if (close(o->fd))
		rc = mp_error("cannot write '%s': %s", o->path, strerror(errno));
	if (o->tmp) {
		if (rc)
			mp_tmp_discard(o->tmp);
		else
			rc = mp_tmp_commit(o->tmp, o->path);
	}
	out_free(o);
	return rc;
}

void mp_out_abort(struct mp_out *o)
{
	if (!o)
		return;
	close(o->fd);
	if (o->tmp)
		mp_tmp_discard(o->tmp);
	out_free(o);
}
