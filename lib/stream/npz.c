/*
 * npz.c: NPZ streams over libarchive, strictly sequential (no seeks), so
 * every tool reads and writes pipes as well as files.
 *
 * Reader: libarchive's streamable zip reader behind our own read callback.
 * The callback sees every byte of the input, which lets us insist on what
 * libarchive's streaming reader does not check: that the stream really ends
 * with a zip end-of-central-directory record (a stream cut between two
 * members is truncated, not short) and that the directory lists as many
 * members as we read.
 *
 * Writer: libarchive's zip writer behind our own write callback, which holds
 * the first NPZ_STDOUT_HOLD bytes of a stdout stream in memory so that an
 * early failure writes nothing at all.
 */
#include "npz.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define READ_CHUNK ((size_t)1 << 20)
/* The end-of-central-directory record: 22 bytes plus a comment of at most
 * 65535 bytes, so the record starts within the last 65557 bytes. */
#define TAIL_CAP (22 + 65535)

/* Member names met so far. Two members of one name make a stream
 * ambiguous (np.load takes the last, a streaming reader meets the first),
 * so the reader rejects such a stream and the writer refuses to make one. */
struct names {
	char **v;                /* in order */
	size_t n;
	size_t *slot;            /* hash table of index + 1 (0: empty) */
	size_t cap;              /* a power of two, > 2n */
};

static size_t names_hash(const char *s)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
	return h;
}

/* -1 if name was there already. */
static int names_add(struct names *s, const char *name)
{
	if (2 * (s->n + 1) >= s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		free(s->slot);
		s->slot = xcalloc(cap, sizeof *s->slot);
		s->cap = cap;
		for (size_t i = 0; i < s->n; i++) {
			size_t j = names_hash(s->v[i]) & (cap - 1);
			while (s->slot[j])
				j = (j + 1) & (cap - 1);
			s->slot[j] = i + 1;
		}
	}
	size_t j = names_hash(name) & (s->cap - 1);
	for (; s->slot[j]; j = (j + 1) & (s->cap - 1))
		if (!strcmp(s->v[s->slot[j] - 1], name))
			return -1;
	s->v = xreallocarray(s->v, s->n + 1, sizeof *s->v);
	s->v[s->n++] = xstrdup(name);
	s->slot[j] = s->n;
	return 0;
}

static void names_release(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->slot);
	memset(s, 0, sizeof *s);
}

/* Member names are plain: "meta.txt" or "NAME.npy", as np.savez writes
 * them. A stream is untrusted and its names end up in messages, in the
 * streams a tool writes, and in the files unzip(1) makes of them, so the
 * reader refuses, and the writer will not write, a name that is empty,
 * longer than NPZ_NAME_MAX bytes, a path (a '/' or '\'), holds '..' or a
 * control character, or is neither of the two forms. Returns why, or NULL
 * for a good name. */
static const char *name_problem(const char *name)
{
	size_t n = strlen(name);
	if (!n)
		return "is empty";
	if (n > NPZ_NAME_MAX)
		return "is too long";
	if (strchr(name, '/') || strchr(name, '\\'))
		return "is a path (member names hold no '/' or '\\')";
	if (strstr(name, ".."))
		return "holds '..'";
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "holds a control character";
	if (!strcmp(name, "meta.txt") ||
	    (n > 4 && !strcmp(name + n - 4, ".npy")))
		return NULL;
	return "is neither NAME.npy nor meta.txt";
}

/* name quoted for a message: at most 80 bytes of it, control characters
 * and bytes beyond ASCII as \xNN. */
static const char *name_quote(const char *name, char *buf, size_t cap)
{
	size_t o = 0, i;
	for (i = 0; name[i] && i < 80 && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	if (name[i] && o + 4 < cap)
		memcpy(buf + o, "...", 4);
	return buf;
}

struct npz_reader {
	struct archive *a;
	char *path;              /* for messages */
	int fd, own_fd;

	/* read callback state */
	unsigned char *buf;      /* READ_CHUNK */
	size_t first_len;        /* bytes of the first chunk not yet handed over */
	int eof;
	unsigned char *tail;     /* last bytes of the input, TAIL_CAP */
	size_t tail_len;
	uint64_t total;          /* bytes of input read so far */
	int io_errno;

	/* current member */
	char name[NPZ_NAME_MAX + 1];
	int have_member, is_array;
	struct npy_header h;
	uint64_t remaining;      /* array bytes still to deliver */
	const unsigned char *blk;/* current libarchive data block */
	size_t blk_len;
	int data_eof;            /* libarchive said the entry's data ended */
	size_t members;
	struct names seen;
	int failed, done;
};

static void tail_push(struct npz_reader *r, const unsigned char *p, size_t n)
{
	r->total += n;
	if (n >= TAIL_CAP) {
		memcpy(r->tail, p + n - TAIL_CAP, TAIL_CAP);
		r->tail_len = TAIL_CAP;
		return;
	}
	if (r->tail_len + n > TAIL_CAP) {
		size_t drop = r->tail_len + n - TAIL_CAP;
		memmove(r->tail, r->tail + drop, r->tail_len - drop);
		r->tail_len -= drop;
	}
	memcpy(r->tail + r->tail_len, p, n);
	r->tail_len += n;
}

static ssize_t fill(struct npz_reader *r)
{
	ssize_t n;
	do
		n = read(r->fd, r->buf, READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->io_errno = errno;
		return -1;
	}
	if (n == 0)
		r->eof = 1;
	tail_push(r, r->buf, (size_t)n);
	return n;
}

static ssize_t read_cb(struct archive *a, void *data, const void **out)
{
	struct npz_reader *r = data;
	(void)a;
	*out = r->buf;
	if (r->first_len) {
		ssize_t n = (ssize_t)r->first_len;
		r->first_len = 0;
		return n;
	}
	if (r->eof)
		return 0;
	ssize_t n = fill(r);
	if (n < 0) {
		archive_set_error(a, r->io_errno, "read error: %s",
				  strerror(r->io_errno));
		return -1;
	}
	return n;
}

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* The end-of-central-directory record among the last bytes read, or NULL. */
static const unsigned char *find_end(const struct npz_reader *r)
{
	for (size_t back = 22; back <= r->tail_len; back++) {
		const unsigned char *p = r->tail + r->tail_len - back;
		if (!memcmp(p, "PK\005\006", 4) && 22 + le16(p + 20) == back)
			return p;
	}
	return NULL;
}

/* Pointer to the byte at stream offset off if it is among the last bytes
 * kept (and at least need bytes follow it), else NULL. */
static const unsigned char *tail_at(const struct npz_reader *r, uint64_t off,
				    size_t need)
{
	uint64_t start = r->total - r->tail_len;
	if (off < start || off > r->total || r->total - off < need)
		return NULL;
	return r->tail + (off - start);
}

/* No CRC covers a member's name in its local header, so a damaged name
 * would silently rename a member (y_true -> y_trud). The central directory
 * repeats every name: compare them, in order. Done when the directory is
 * among the last TAIL_CAP bytes read, i.e. for all but streams of
 * thousands of members. */
static int check_names(struct npz_reader *r, const unsigned char *eocd)
{
	uint64_t cd_off = le32(eocd + 16), cd_size = le32(eocd + 12);
	const unsigned char *loc = eocd - r->tail >= 20 ? eocd - 20 : NULL;
	if (loc && !memcmp(loc, "PK\006\007", 4)) {
		/* zip64: the locator gives the zip64 end record's offset. */
		const unsigned char *z = tail_at(r, le64(loc + 8), 56);
		if (!z || memcmp(z, "PK\006\006", 4))
			return 0;
		cd_size = le64(z + 40);
		cd_off = le64(z + 48);
	}
	const unsigned char *q = tail_at(r, cd_off, 0), *end;
	if (!q || cd_size > (uint64_t)(r->tail + r->tail_len - q))
		return 0;
	end = q + cd_size;
	for (size_t i = 0; q < end; i++) {
		size_t nl, len;
		if (end - q < 46 || memcmp(q, "PK\001\002", 4))
			return mp_error("%s: the zip directory is damaged", r->path);
		nl = le16(q + 28);
		len = 46 + nl + le16(q + 30) + le16(q + 32);
		if (len > (size_t)(end - q))
			return mp_error("%s: the zip directory is damaged", r->path);
		if (i >= r->seen.n || strlen(r->seen.v[i]) != nl ||
		    memcmp(r->seen.v[i], q + 46, nl))
			return mp_error("%s: member %zu is '%s' but the zip directory "
					"calls it '%.*s' (damaged stream)", r->path, i + 1,
					i < r->seen.n ? r->seen.v[i] : "", (int)nl, q + 46);
		q += len;
	}
	return 0;
}

/* After libarchive reported the end: drain the input and check that it
 * ends with an end-of-central-directory record. */
static int check_end(struct npz_reader *r)
{
	while (!r->eof)
		if (fill(r) < 0)
			return mp_error("%s: read error: %s", r->path, strerror(r->io_errno));
	const unsigned char *p = find_end(r);
	if (!p)
		return mp_error("%s: stream is truncated (no zip end record after member %zu)",
				r->path, r->members);
	uint32_t listed = le16(p + 10);
	if (listed != 0xffff && listed != r->members)
		return mp_error("%s: the zip directory lists %u members but %zu were read",
				r->path, listed, r->members);
	return check_names(r, p);
}

static int arch_error(struct npz_reader *r, const char *what)
{
	const char *m = archive_error_string(r->a);
	char msg[512];
	size_t n;
	r->failed = 1;
	/* libarchive ends some messages with a newline. */
	snprintf(msg, sizeof msg, "%s", m ? m : what);
	for (n = strlen(msg); n && (msg[n - 1] == '\n' || msg[n - 1] == ' '); n--)
		msg[n - 1] = '\0';
	/* libarchive words an early end in several ways ("Truncated ZIP file
	 * data", "ZIP decompression failed (-5)"): when the input did end
	 * without its zip end record, say so plainly. */
	int cut = r->eof && !find_end(r);
	if (r->have_member)
		return mp_error("%s: member '%s'%s: %s", r->path, r->name,
				cut ? " is truncated (the stream ends early)" : "", msg);
	if (cut && r->members)
		return mp_error("%s: stream is truncated after member '%s': %s",
				r->path, r->name, msg);
	if (cut)
		return mp_error("%s: stream is truncated: %s", r->path, msg);
	return mp_error("%s: %s", r->path, msg);
}

struct npz_reader *npz_reader_open(const char *path)
{
	struct npz_reader *r = xcalloc(1, sizeof *r);
	int stdin_ = !path || !strcmp(path, "-");

	r->path = xstrdup(stdin_ ? "standard input" : path);
	if (stdin_) {
		r->fd = STDIN_FILENO;
	} else {
		r->fd = open(path, O_RDONLY);
		if (r->fd < 0) {
			mp_error("cannot open '%s': %s", path, strerror(errno));
			goto fail;
		}
		r->own_fd = 1;
	}
	r->buf = xmalloc(READ_CHUNK);
	r->tail = xmalloc(TAIL_CAP);

	/* Look at the first bytes ourselves: libarchive's "unrecognized
	 * archive format" says too little about an empty or text input. */
	size_t got = 0;
	while (got < 4 && !r->eof) {
		ssize_t n;
		do
			n = read(r->fd, r->buf + got, READ_CHUNK - got);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			mp_error("%s: read error: %s", r->path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			r->eof = 1;
		tail_push(r, r->buf + got, (size_t)n);
		got += (size_t)n;
	}
	if (got == 0) {
		mp_error("%s: empty input, not an NPZ stream", r->path);
		goto fail;
	}
	if (got < 4 || memcmp(r->buf, "PK", 2) ||
	    (memcmp(r->buf + 2, "\003\004", 2) && memcmp(r->buf + 2, "\005\006", 2))) {
		mp_error("%s: not an NPZ stream (no zip signature)", r->path);
		goto fail;
	}
	r->first_len = got;

	r->a = archive_read_new();
	archive_read_support_format_zip_streamable(r->a);
	if (archive_read_open(r->a, r, NULL, read_cb, NULL) != ARCHIVE_OK) {
		arch_error(r, "cannot read archive");
		goto fail;
	}
	return r;
fail:
	npz_reader_free(r);
	return NULL;
}

const char *npz_reader_path(const struct npz_reader *r)
{
	return r->path;
}

/* Next block of the current entry's data; 0 at its end. */
static int next_block(struct npz_reader *r)
{
	const void *b;
	size_t len;
	la_int64_t off;
	if (r->data_eof)
		return 0;
	int rc = archive_read_data_block(r->a, &b, &len, &off);
	if (rc == ARCHIVE_EOF) {
		r->data_eof = 1;
		r->blk_len = 0;
		return 0;
	}
	/* A bad CRC comes back as a warning: any non-OK is an error here. */
	if (rc != ARCHIVE_OK)
		return arch_error(r, "corrupt data");
	r->blk = b;
	r->blk_len = len;
	return 1;
}

/* Raw bytes of the current entry, as many as are available up to n. */
static ssize_t raw_read(struct npz_reader *r, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		if (!r->blk_len) {
			int rc = next_block(r);
			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
			continue;
		}
		size_t k = n - got < r->blk_len ? n - got : r->blk_len;
		memcpy((char *)buf + got, r->blk, k);
		r->blk += k;
		r->blk_len -= k;
		got += k;
	}
	return (ssize_t)got;
}

static int read_npy_header(struct npz_reader *r)
{
	unsigned char pre[12];
	ssize_t n = raw_read(r, pre, 10);
	if (n < 0)
		return -1;
	if (n < 10 || memcmp(pre, "\x93NUMPY", 6))
		return mp_error("%s: member '%s': not a .npy array (bad magic)",
				r->path, r->name);
	size_t hlen;
	if (pre[6] == 1) {
		hlen = le16(pre + 8);
	} else if (pre[6] == 2 || pre[6] == 3) {
		if (raw_read(r, pre + 10, 2) != 2)
			return mp_error("%s: member '%s': truncated .npy header",
					r->path, r->name);
		hlen = le16(pre + 8) | (size_t)le16(pre + 10) << 16;
		if (hlen > (1u << 20))
			return mp_error("%s: member '%s': .npy header of %zu bytes is too long",
					r->path, r->name, hlen);
	} else {
		return mp_error("%s: member '%s': unsupported .npy version %d.%d",
				r->path, r->name, pre[6], pre[7]);
	}
	char *dict = xmalloc(hlen + 1);
	n = raw_read(r, dict, hlen);
	if (n != (ssize_t)hlen) {
		free(dict);
		return n < 0 ? -1 : mp_error("%s: member '%s': truncated .npy header",
					     r->path, r->name);
	}
	dict[hlen] = '\0';
	int rc = npy_header_parse(dict, hlen, &r->h, r->name);
	free(dict);
	if (rc)
		return mp_error_prefix("%s", r->path);
	r->remaining = r->h.nbytes;
	return 0;
}

/* The current member must end exactly where its header says. */
static int finish_member(struct npz_reader *r)
{
	unsigned char junk[4096];
	if (!r->have_member)
		return 0;
	if (r->is_array) {
		while (r->remaining) {
			size_t k = r->remaining < sizeof junk ? (size_t)r->remaining : sizeof junk;
			ssize_t n = raw_read(r, junk, k);
			if (n < 0)
				return -1;
			if ((size_t)n < k)
				return mp_error("%s: member '%s' is truncated: %llu bytes missing",
						r->path, r->name,
						(unsigned long long)(r->remaining - (uint64_t)n));
			r->remaining -= (uint64_t)n;
		}
		ssize_t n = raw_read(r, junk, 4);
		if (n < 0)
			return -1;
		/* libarchive's streaming reader finds the end of a stored member
		 * that has a data descriptor (libarchive's writer always writes
		 * one, Python's zipfile on a pipe too) by the descriptor's
		 * signature followed by the CRC of the data it read. A
		 * descriptor right where the .npy header says the data end, yet
		 * handed over as data, holds another CRC: the data are corrupt. */
		if (n == 4 && !memcmp(junk, "PK\007\010", 4))
			return mp_error("%s: member '%s' fails its CRC check (corrupt data)",
					r->path, r->name);
		if (n > 0)
			return mp_error("%s: member '%s' holds more data than its .npy header "
					"says (a lying header, or corrupt data)", r->path, r->name);
	} else {
		while (raw_read(r, junk, sizeof junk) > 0)
			;
		if (!r->data_eof)
			return -1;
	}
	r->have_member = 0;
	return 0;
}

int npz_reader_next(struct npz_reader *r)
{
	struct archive_entry *e;
	if (r->failed)
		return -1;
	if (r->done)
		return 0;
	if (finish_member(r))
		goto fail;
	int rc = archive_read_next_header(r->a, &e);
	if (rc == ARCHIVE_EOF) {
		if (check_end(r))
			goto fail;
		r->done = 1;
		return 0;
	}
	if (rc != ARCHIVE_OK) {
		arch_error(r, "cannot read member header");
		goto fail;
	}
	const char *name = archive_entry_pathname(e), *why;
	if (!name) {
		mp_error("%s: member %zu has a name that cannot be read", r->path,
			 r->members + 1);
		goto fail;
	}
	if (!*name) {
		mp_error("%s: member %zu has an empty name", r->path, r->members + 1);
		goto fail;
	}
	if ((why = name_problem(name))) {
		char q[400];
		mp_error("%s: member '%s' %s", r->path,
			 name_quote(name, q, sizeof q), why);
		goto fail;
	}
	if (names_add(&r->seen, name)) {
		mp_error("%s: member '%s' appears twice in the stream", r->path, name);
		goto fail;
	}
	r->members++;
	size_t nl = strlen(name);
	r->is_array = nl > 4 && !strcmp(name + nl - 4, ".npy");
	memcpy(r->name, name, nl + 1);
	if (r->is_array)
		r->name[nl - 4] = '\0';
	r->have_member = 1;
	r->blk_len = 0;
	r->data_eof = 0;
	if (r->is_array && read_npy_header(r))
		goto fail;
	return 1;
fail:
	r->failed = 1;
	return -1;
}

const char *npz_reader_name(const struct npz_reader *r)
{
	return r->name;
}

int npz_reader_is_array(const struct npz_reader *r)
{
	return r->is_array;
}

const struct npy_header *npz_reader_header(const struct npz_reader *r)
{
	MP_ASSERT(r->have_member && r->is_array);
	return &r->h;
}

ssize_t npz_reader_read(struct npz_reader *r, void *buf, size_t n)
{
	MP_ASSERT(r->have_member);
	if (r->failed)
		return -1;
	if (r->is_array) {
		if (n > r->remaining)
			n = (size_t)r->remaining;
		if (!n)
			return 0;
		ssize_t got = raw_read(r, buf, n);
		if (got < 0)
			goto fail;
		if (got == 0) {
			mp_error("%s: member '%s' is truncated: %llu bytes missing",
				 r->path, r->name, (unsigned long long)r->remaining);
			goto fail;
		}
		r->remaining -= (uint64_t)got;
		return got;
	}
	ssize_t got = raw_read(r, buf, n);
	if (got < 0)
		goto fail;
	return got;
fail:
	r->failed = 1;
	return -1;
}

int npz_reader_read_exact(struct npz_reader *r, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = npz_reader_read(r, (char *)buf + got, n - got);
		if (k < 0)
			return -1;
		if (k == 0) {
			r->failed = 1;
			return mp_error("%s: member '%s' is shorter than expected",
					r->path, r->name);
		}
		got += (size_t)k;
	}
	return 0;
}

int npz_reader_skip(struct npz_reader *r)
{
	if (finish_member(r)) {
		r->failed = 1;
		return -1;
	}
	return 0;
}

char *npz_reader_load_text(struct npz_reader *r, size_t *len)
{
	size_t n = 0, cap = 4096;
	char *s = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= ((size_t)64 << 20)) {
				free(s);
				r->failed = 1;
				mp_error("%s: member '%s' is too long for text", r->path, r->name);
				return NULL;
			}
			cap *= 2;
			s = xrealloc(s, cap);
		}
		ssize_t k = npz_reader_read(r, s + n, cap - n - 1);
		if (k < 0) {
			free(s);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

int npz_reader_load_meta(struct npz_reader *r, struct meta *m)
{
	size_t len;
	char *t = npz_reader_load_text(r, &len);
	if (!t)
		return -1;
	int rc = meta_parse(m, t, len);
	free(t);
	return rc ? mp_error_prefix("%s", r->path) : 0;
}

/* ---- whole members, believed only as far as their data arrive ---- */

/* A header may claim up to 2^63 bytes whatever the stream holds. So a
 * whole-member buffer starts at LOAD_FIRST bytes and doubles as the data
 * arrive, and takes the declared size only once that is at most LOAD_TRUST
 * times what has arrived: a 1 KB stream that claims 100 GB fails as
 * truncated having allocated 64 KiB, no buffer is ever more than
 * LOAD_TRUST times the data read into it (or LOAD_FIRST), and a member
 * that is what it claims costs less than 1 + 2 / LOAD_TRUST times its size
 * during the last copy, and copies of less than half its size in all. */
#define LOAD_FIRST ((size_t)64 << 10)
#define LOAD_TRUST 8
/* Elements converted per step when loading changes the dtype. */
#define LOAD_CHUNK ((size_t)65536)

/* *buf, 64-byte aligned, holds `used` bytes and has room for *cap (== used,
 * or 0 before the first call) of a member of `total` bytes: make it bigger
 * as above. The padding up to a multiple of 64 of the full buffer is
 * zeroed; the rest is not touched before data fill it. */
static int load_grow(struct npz_reader *r, unsigned char **buf, size_t *cap,
		     size_t used, size_t total)
{
	size_t c;
	void *p;
	if (!*cap)
		c = total < LOAD_FIRST ? total : LOAD_FIRST;
	else
		c = *cap >= total / LOAD_TRUST ? total : 2 * *cap;
	size_t padded = (c + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, padded)) {
		r->failed = 1;
		return mp_error("%s: member '%s' needs %zu bytes: out of memory",
				r->path, r->name, c);
	}
	if (used)
		memcpy(p, *buf, used);
	free(*buf);
	if (c == total)
		memset((unsigned char *)p + c, 0, padded - c);
	*buf = p;
	*cap = c;
	return 0;
}

int npz_reader_require_float(struct npz_reader *r)
{
	const struct npy_header *h = npz_reader_header(r);
	if (h->dtype == NPY_F4 || h->dtype == NPY_F8)
		return 0;
	return mp_error("%s: member '%s' has dtype '%s', expected float32 or float64",
			r->path, r->name, npy_dtype_str(h->dtype));
}

/* Convert n elements of type t at src to float / double / int32. */
static void to_f32(float *dst, const void *src, enum npy_dtype t, size_t n)
{
	MP_ASSERT(t == NPY_F4 || t == NPY_F8);
	if (t == NPY_F4)
		memcpy(dst, src, n * 4);
	else
		for (size_t i = 0; i < n; i++)
			dst[i] = (float)((const double *)src)[i];
}

static void to_f64(double *dst, const void *src, enum npy_dtype t, size_t n)
{
	MP_ASSERT(t == NPY_F4 || t == NPY_F8);
	if (t == NPY_F8)
		memcpy(dst, src, n * 8);
	else
		for (size_t i = 0; i < n; i++)
			dst[i] = ((const float *)src)[i];
}

/* Elements first .. first + n - 1 of the member. */
static int to_i32(struct npz_reader *r, int32_t *dst, const void *src,
		  size_t n, size_t first)
{
	enum npy_dtype t = r->h.dtype;
	for (size_t i = 0; i < n; i++) {
		int64_t x = t == NPY_I4 ? ((const int32_t *)src)[i]
			  : t == NPY_I8 ? ((const int64_t *)src)[i]
			  : ((const uint8_t *)src)[i];
		if (x < INT32_MIN || x > INT32_MAX)
			return mp_error("%s: member '%s': value %lld at index %zu is out of range",
					r->path, r->name, (long long)x, first + i);
		dst[i] = (int32_t)x;
	}
	return 0;
}

enum load_as { LOAD_RAW, LOAD_I32, LOAD_F32 };

/* The whole current array member in a new 64-byte-aligned buffer, as its
 * own dtype or converted; NULL with a message. */
static void *load_member(struct npz_reader *r, enum load_as as)
{
	const struct npy_header *h = npz_reader_header(r);
	size_t isz = npy_dtype_size(h->dtype), osz = as == LOAD_RAW ? isz : 4;
	int same = as == LOAD_RAW || (as == LOAD_I32 && h->dtype == NPY_I4) ||
		   (as == LOAD_F32 && h->dtype == NPY_F4);
	size_t total, cap = 0, done = 0;
	unsigned char *buf = NULL, *tmp = NULL;

	if (mp_mul_size(h->count, osz, &total) || total > SIZE_MAX - 64) {
		r->failed = 1;
		mp_error("%s: member '%s' of %zu elements is too large to load",
			 r->path, r->name, h->count);
		return NULL;
	}
	if (!total)
		return xaligned_calloc(1, 64);
	if (!same)
		tmp = xmallocarray(LOAD_CHUNK, isz);
	while (done < h->count) {
		if (done * osz == cap && load_grow(r, &buf, &cap, done * osz, total))
			goto fail;
		size_t k = (cap - done * osz) / osz;
		if (same) {
			if (npz_reader_read_exact(r, buf + done * osz, k * osz))
				goto fail;
		} else {
			if (k > LOAD_CHUNK)
				k = LOAD_CHUNK;
			if (npz_reader_read_exact(r, tmp, k * isz))
				goto fail;
			if (as == LOAD_F32)
				to_f32((float *)(void *)buf + done, tmp, h->dtype, k);
			else if (to_i32(r, (int32_t *)(void *)buf + done, tmp, k, done))
				goto fail;
		}
		done += k;
	}
	free(tmp);
	return buf;
fail:
	free(tmp);
	free(buf);
	return NULL;
}

void *npz_reader_load(struct npz_reader *r)
{
	return load_member(r, LOAD_RAW);
}

int npz_reader_load_i32(struct npz_reader *r, int32_t **out, size_t *count)
{
	const struct npy_header *h = npz_reader_header(r);
	if (h->dtype == NPY_F4 || h->dtype == NPY_F8)
		return mp_error("%s: member '%s' has dtype '%s' where integers are expected",
				r->path, r->name, npy_dtype_str(h->dtype));
	int32_t *v = load_member(r, LOAD_I32);
	if (!v)
		return -1;
	*out = v;
	if (count)
		*count = h->count;
	return 0;
}

int npz_reader_load_f32(struct npz_reader *r, float **out, size_t *count)
{
	const struct npy_header *h = npz_reader_header(r);
	if (npz_reader_require_float(r))
		return -1;
	float *v = load_member(r, LOAD_F32);
	if (!v)
		return -1;
	*out = v;
	if (count)
		*count = h->count;
	return 0;
}

static int read_values(struct npz_reader *r, void *dst, size_t n, int f64)
{
	const struct npy_header *h = npz_reader_header(r);
	if (npz_reader_require_float(r))
		return -1;
	size_t isz = npy_dtype_size(h->dtype), nbytes;
	if (mp_mul_size(n, isz, &nbytes) || nbytes > r->remaining) {
		r->failed = 1;
		return mp_error("%s: member '%s' has fewer values left than the %zu asked for",
				r->path, r->name, n);
	}
	if (!f64 && h->dtype == NPY_F4)
		return npz_reader_read_exact(r, dst, nbytes);
	if (f64 && h->dtype == NPY_F8)
		return npz_reader_read_exact(r, dst, nbytes);
	unsigned char *tmp = xmallocarray(LOAD_CHUNK, isz);
	for (size_t done = 0; done < n; ) {
		size_t k = n - done < LOAD_CHUNK ? n - done : LOAD_CHUNK;
		if (npz_reader_read_exact(r, tmp, k * isz)) {
			free(tmp);
			return -1;
		}
		if (f64)
			to_f64((double *)dst + done, tmp, h->dtype, k);
		else
			to_f32((float *)dst + done, tmp, h->dtype, k);
		done += k;
	}
	free(tmp);
	return 0;
}

static int read_rows(struct npz_reader *r, void *dst, size_t rows, int f64)
{
	const struct npy_header *h = npz_reader_header(r);
	if (npz_reader_require_float(r))
		return -1;
	size_t n, nbytes;
	if (mp_mul_size(rows, npy_row_count(h), &n) ||
	    mp_mul_size(n, npy_dtype_size(h->dtype), &nbytes) || nbytes > r->remaining) {
		r->failed = 1;
		return mp_error("%s: member '%s' has fewer rows left than the %zu asked for",
				r->path, r->name, rows);
	}
	return read_values(r, dst, n, f64);
}

int npz_reader_read_rows_f32(struct npz_reader *r, float *buf, size_t rows)
{
	return read_rows(r, buf, rows, 0);
}

int npz_reader_read_rows_f64(struct npz_reader *r, double *buf, size_t rows)
{
	return read_rows(r, buf, rows, 1);
}

int npz_reader_read_values_f32(struct npz_reader *r, float *buf, size_t n)
{
	return read_values(r, buf, n, 0);
}

int npz_reader_read_values_f64(struct npz_reader *r, double *buf, size_t n)
{
	return read_values(r, buf, n, 1);
}

int npz_reader_drain(struct npz_reader *r)
{
	int rc;
	while ((rc = npz_reader_next(r)) > 0)
		;
	return rc < 0 ? -1 : 0;
}

void npz_reader_free(struct npz_reader *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	if (r->own_fd)
		close(r->fd);
	free(r->buf);
	free(r->tail);
	free(r->path);
	names_release(&r->seen);
	free(r);
}

/* ---------------------------------------------------------------- writer */

struct npz_writer {
	struct archive *a;
	char *path;              /* NULL for stdout */
	char *tmp;
	int fd;
	int level;
	/* stdout hold */
	unsigned char *hold;
	size_t hold_len;
	int holding;
	int io_errno;
	int discard;             /* aborting: swallow whatever libarchive flushes */
	int own_fd;              /* fd opened on a device or FIFO, no temporary */
	/* current member */
	int in_member;
	char name[NPZ_NAME_MAX + 1];
	uint64_t expect, written;
	size_t members;
	struct names seen;
	int failed;
};

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p = (const char *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

static int release_hold(struct npz_writer *w)
{
	if (!w->holding)
		return 0;
	w->holding = 0;
	int rc = write_all(w->fd, w->hold, w->hold_len);
	free(w->hold);
	w->hold = NULL;
	w->hold_len = 0;
	return rc;
}

static ssize_t write_cb(struct archive *a, void *data, const void *buf, size_t n)
{
	struct npz_writer *w = data;
	if (w->discard)
		return (ssize_t)n;
	if (w->holding) {
		if (w->hold_len + n <= NPZ_STDOUT_HOLD) {
			memcpy(w->hold + w->hold_len, buf, n);
			w->hold_len += n;
			return (ssize_t)n;
		}
		if (release_hold(w))
			goto fail;
	}
	if (write_all(w->fd, buf, n))
		goto fail;
	return (ssize_t)n;
fail:
	w->io_errno = errno;
	archive_set_error(a, errno, "write error: %s", strerror(errno));
	return -1;
}

static int wr_error(struct npz_writer *w, const char *what)
{
	const char *msg = archive_error_string(w->a);
	w->failed = 1;
	return mp_error("%s%s%s%s: %s", w->path ? w->path : "standard output",
			w->in_member ? ": member '" : "", w->in_member ? w->name : "",
			w->in_member ? "'" : "", msg ? msg : what);
}

int npz_level_parse(const char *s, int *level)
{
	long v;
	if (parse_long(s, 0, 9, &v))
		return mp_error("compression level '%s' is not 0 (store) to 9", s);
	*level = (int)v;
	return 0;
}

int npz_level_default(void)
{
	const char *s = getenv("MEMPROBE_COMPRESS");
	int level = NPZ_LEVEL_DEFAULT;
	if (s && *s && !npz_level_parse(s, &level))
		return level;
	return NPZ_LEVEL_DEFAULT;
}

struct npz_writer *npz_writer_open(const char *path, int level)
{
	struct npz_writer *w = xcalloc(1, sizeof *w);
	w->level = level;
	if (!path || !strcmp(path, "-")) {
		w->fd = STDOUT_FILENO;
		w->hold = xmalloc(NPZ_STDOUT_HOLD);
		w->holding = 1;
	} else {
		struct stat st;
		w->path = xstrdup(path);
		if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
			/* A device or FIFO (/dev/null, a named pipe): write to it
			 * as it is; renaming a temporary over it would replace it. */
			w->fd = open(path, O_WRONLY);
			w->own_fd = 1;
		} else {
			w->fd = mp_tmp_create(path, &w->tmp);
		}
		if (w->fd < 0) {
			if (w->own_fd)
				mp_error("cannot open '%s': %s", path, strerror(errno));
			free(w->path);
			free(w);
			return NULL;
		}
	}
	w->a = archive_write_new();
	archive_write_set_format_zip(w->a);
	if (level == 0) {
		archive_write_zip_set_compression_store(w->a);
	} else {
		char lv[4];
		snprintf(lv, sizeof lv, "%d", level);
		archive_write_zip_set_compression_deflate(w->a);
		archive_write_set_format_option(w->a, "zip", "compression-level", lv);
	}
	archive_write_set_bytes_per_block(w->a, 1 << 18);
	archive_write_set_bytes_in_last_block(w->a, 1);
	if (archive_write_open(w->a, w, NULL, write_cb, NULL) != ARCHIVE_OK) {
		wr_error(w, "cannot start archive");
		npz_writer_abort(w);
		return NULL;
	}
	return w;
}

static int begin_entry(struct npz_writer *w, const char *fullname, uint64_t size)
{
	/* A failed writer may still be inside a member: fail, don't assert. */
	if (w->failed)
		return -1;
	MP_ASSERT(!w->in_member);
	const char *why = name_problem(fullname);
	if (why) {
		char q[400];
		w->failed = 1;
		return mp_error("%s: member '%s' %s",
				w->path ? w->path : "standard output",
				name_quote(fullname, q, sizeof q), why);
	}
	if (names_add(&w->seen, fullname)) {
		w->failed = 1;
		return mp_error("%s: member '%s' is written twice",
				w->path ? w->path : "standard output", fullname);
	}
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, fullname);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	int rc = archive_write_header(w->a, e);
	archive_entry_free(e);
	snprintf(w->name, sizeof w->name, "%s", fullname);
	if (rc != ARCHIVE_OK)
		return wr_error(w, "cannot write member header");
	w->in_member = 1;
	w->members++;
	return 0;
}

static int put(struct npz_writer *w, const void *p, size_t n)
{
	while (n) {
		/* libarchive takes at most SSIZE_MAX-ish per call; keep calls
		 * moderate so the deflate buffers stay in cache. */
		size_t k = n < ((size_t)1 << 24) ? n : ((size_t)1 << 24);
		la_ssize_t got = archive_write_data(w->a, p, k);
		if (got < 0 || (size_t)got != k)
			return wr_error(w, "write failed");
		p = (const char *)p + k;
		n -= k;
	}
	return 0;
}

static int end_entry(struct npz_writer *w)
{
	if (archive_write_finish_entry(w->a) != ARCHIVE_OK)
		return wr_error(w, "cannot finish member");
	w->in_member = 0;
	return 0;
}

int npz_writer_add_text(struct npz_writer *w, const char *name,
			const char *text, size_t len)
{
	if (begin_entry(w, name, len) || put(w, text, len) || end_entry(w))
		return -1;
	return 0;
}

int npz_writer_add_meta(struct npz_writer *w, const struct meta *m)
{
	size_t len;
	char *t = meta_format(m, &len);
	int rc = npz_writer_add_text(w, "meta.txt", t, len);
	free(t);
	return rc;
}

int npz_writer_begin(struct npz_writer *w, const char *name,
		     const struct npy_header *h)
{
	char pre[1024];
	size_t plen = npy_preamble_format(h, pre);
	char *full = xasprintf("%s.npy", name);
	int rc = begin_entry(w, full, plen + h->nbytes);
	free(full);
	if (rc || put(w, pre, plen))
		return -1;
	snprintf(w->name, sizeof w->name, "%s", name);
	w->expect = h->nbytes;
	w->written = 0;
	return 0;
}

int npz_writer_write(struct npz_writer *w, const void *data, size_t n)
{
	MP_ASSERT(w->in_member);
	if (w->failed)
		return -1;
	if (w->written + n > w->expect) {
		w->failed = 1;
		return mp_error("member '%s': %llu bytes written where its header says %llu",
				w->name, (unsigned long long)(w->written + n),
				(unsigned long long)w->expect);
	}
	w->written += n;
	return put(w, data, n);
}

int npz_writer_end(struct npz_writer *w)
{
	MP_ASSERT(w->in_member);
	if (w->failed)
		return -1;
	if (w->written != w->expect) {
		w->failed = 1;
		return mp_error("member '%s': only %llu of %llu bytes were written",
				w->name, (unsigned long long)w->written,
				(unsigned long long)w->expect);
	}
	return end_entry(w);
}

int npz_writer_add(struct npz_writer *w, const char *name,
		   const struct npy_header *h, const void *data)
{
	if (npz_writer_begin(w, name, h) || npz_writer_write(w, data, h->nbytes) ||
	    npz_writer_end(w))
		return -1;
	return 0;
}

int npz_writer_copy(struct npz_writer *w, struct npz_reader *r,
		    const char *newname)
{
	const struct npy_header *h = npz_reader_header(r);
	MP_ASSERT(r->remaining == h->nbytes); /* nothing consumed yet */
	if (npz_writer_begin(w, newname ? newname : r->name, h))
		return -1;
	while (r->remaining) {
		if (!r->blk_len) {
			int rc = next_block(r);
			if (rc < 0)
				return -1;
			if (rc == 0)
				return mp_error("%s: member '%s' is truncated: %llu bytes missing",
						r->path, r->name,
						(unsigned long long)r->remaining);
		}
		size_t k = r->blk_len < r->remaining ? r->blk_len : (size_t)r->remaining;
		if (npz_writer_write(w, r->blk, k))
			return -1;
		r->blk += k;
		r->blk_len -= k;
		r->remaining -= k;
	}
	return npz_writer_end(w);
}

static void writer_free(struct npz_writer *w)
{
	names_release(&w->seen);
	free(w->hold);
	free(w->path);
	free(w->tmp);
	free(w);
}

int npz_writer_close(struct npz_writer *w)
{
	int rc = 0;
	MP_ASSERT(!w->in_member || w->failed);
	if (w->failed) {
		npz_writer_abort(w);
		return -1;
	}
	if (archive_write_close(w->a) != ARCHIVE_OK) {
		wr_error(w, "cannot finish archive");
		npz_writer_abort(w);
		return -1;
	}
	archive_write_free(w->a);
	w->a = NULL;
	if (release_hold(w)) {
		mp_error("standard output: write error: %s", strerror(errno));
		rc = -1;
	}
	if (w->tmp) {
		if (close(w->fd)) {
			rc = mp_error("'%s': %s", w->path, strerror(errno));
			mp_tmp_discard(w->tmp);
		} else if (mp_tmp_commit(w->tmp, w->path)) {
			rc = -1;
		}
	} else if (w->own_fd && close(w->fd)) {
		rc = mp_error("'%s': %s", w->path, strerror(errno));
	}
	writer_free(w);
	return rc;
}

void npz_writer_abort(struct npz_writer *w)
{
	if (!w)
		return;
	if (w->a) {
		/* Close rather than archive_write_fail(): only close releases
		 * libarchive's block buffer and the member's deflate stream.
		 * Whatever it flushes, write_cb now swallows. */
		w->discard = 1;
		archive_write_close(w->a);
		archive_write_free(w->a);
	}
	if (w->tmp) {
		close(w->fd);
		mp_tmp_discard(w->tmp);
	} else if (w->own_fd) {
		close(w->fd);
	}
	writer_free(w);
}

/* ---------------------------------------------------------------- bundle */

int npz_bundle_load(struct npz_bundle *b, const char *path)
{
	memset(b, 0, sizeof *b);
	struct npz_reader *r = npz_reader_open(path);
	int rc;
	if (!r)
		return -1;
	while ((rc = npz_reader_next(r)) > 0) {
		if (!npz_reader_is_array(r)) {
			if (!strcmp(npz_reader_name(r), "meta.txt") &&
			    npz_reader_load_meta(r, &b->meta))
				goto fail;
			continue;
		}
		void *data = npz_reader_load(r);
		if (!data)
			goto fail;
		b->a = xreallocarray(b->a, b->n + 1, sizeof *b->a);
		b->a[b->n].name = xstrdup(npz_reader_name(r));
		b->a[b->n].h = *npz_reader_header(r);
		b->a[b->n].data = data;
		b->n++;
	}
	if (rc < 0)
		goto fail;
	npz_reader_free(r);
	return 0;
fail:
	npz_reader_free(r);
	npz_bundle_release(b);
	return -1;
}

struct npz_array *npz_bundle_get(const struct npz_bundle *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->a[i].name, name))
			return &b->a[i];
	return NULL;
}

struct npz_array *npz_bundle_put(struct npz_bundle *b, const char *name,
				 const struct npy_header *h, const void *data)
{
	struct npz_array *a = npz_bundle_get(b, name);
	if (!a) {
		b->a = xreallocarray(b->a, b->n + 1, sizeof *b->a);
		a = &b->a[b->n++];
		a->name = xstrdup(name);
	} else {
		free(a->data);
	}
	a->h = *h;
	a->data = xaligned_calloc(h->nbytes ? h->nbytes : 1, 1);
	memcpy(a->data, data, h->nbytes);
	return a;
}

int npz_bundle_save(const struct npz_bundle *b, const char *path, int level)
{
	struct npz_writer *w = npz_writer_open(path, level);
	if (!w)
		return -1;
	if (npz_writer_add_meta(w, &b->meta))
		goto fail;
	for (size_t i = 0; i < b->n; i++)
		if (npz_writer_add(w, b->a[i].name, &b->a[i].h, b->a[i].data))
			goto fail;
	return npz_writer_close(w);
fail:
	npz_writer_abort(w);
	return -1;
}

void npz_bundle_release(struct npz_bundle *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->a[i].name);
		free(b->a[i].data);
	}
	free(b->a);
	meta_release(&b->meta);
	memset(b, 0, sizeof *b);
}
