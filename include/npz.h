/*
 * npz.h: NPZ tensor streams (a zip of .npy members) over libarchive, read
 * and written strictly sequentially, so every tool works on pipes.
 *
 * Reading: members come in archive order. For a member named "x.npy",
 * npz_reader_name() is "x" and its .npy header has already been parsed when
 * npz_reader_next() returns 1; "meta.txt" has is_array 0. Any other name,
 * and any name that is empty, longer than NPZ_NAME_MAX, a path ('/' or
 * '\'), or holds '..' or a control character, is an error: the writer
 * refuses to write such a member too.
 * Every failure (truncated archive, bad CRC, corrupt deflate data, a header
 * that lies about its size, an unsupported dtype) is an error whose message
 * names the member. A stream that ends without its zip central directory is
 * truncated, even when it ends exactly between two members. Two members
 * of the same name are an error, and member names must agree with the zip
 * central directory; both are checked when the end of the stream is read,
 * so a tool must read its input to the end before it finishes its output.
 *
 *   struct npz_reader *r = npz_reader_open(path);   // "-" or NULL: stdin
 *   while ((rc = npz_reader_next(r)) > 0) {
 *           if (!strcmp(npz_reader_name(r), "y")) npz_reader_load_i32(r, &y);
 *           else npz_reader_skip(r);
 *   }
 *   if (rc < 0) die_lib();
 *   npz_reader_free(r);
 *
 * Writing: members are added in order, whole or streamed in pieces; the
 * archive is byte-identical for identical contents (no mtime, no padding).
 * A writer on a FILE writes FILE.tmp.XXXXXX and renames it on
 * npz_writer_close() (a FILE that is a device or a FIFO, such as /dev/null,
 * is written directly); npz_writer_abort() (and die(), and a fatal signal)
 * removes it. A writer on stdout holds the first NPZ_STDOUT_HOLD bytes in
 * memory, so that a tool which fails early writes nothing at all to stdout;
 * a failure after that leaves a stream without its central directory, which
 * every reader rejects as truncated.
 */
#ifndef MEMPROBE_NPZ_H
#define MEMPROBE_NPZ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "meta.h"
#include "npy.h"

/* Deflate level used when a tool is not told otherwise (0 = store). Level 1
 * keeps writing fast (float data barely compress at higher levels, which
 * cost several times the time); MEMPROBE_COMPRESS in the environment
 * overrides it, and tools' --compress overrides both. */
#define NPZ_LEVEL_DEFAULT 1
#define NPZ_STDOUT_HOLD ((size_t)64 << 20)
/* The longest member name, in bytes, ".npy" included. */
#define NPZ_NAME_MAX 255

struct npz_reader;
struct npz_writer;

/* ---- reading ---- */

/* Open a file, or stdin for NULL or "-". NULL on failure (message set). */
struct npz_reader *npz_reader_open(const char *path);
/* The name used in messages: the path, or "standard input". */
const char *npz_reader_path(const struct npz_reader *r);
/* Advance to the next member (the rest of the current one is read and
 * checked first). 1: a member is ready; 0: end of a complete archive;
 * -1: error. */
int npz_reader_next(struct npz_reader *r);
/* Current member's name, ".npy" stripped. */
const char *npz_reader_name(const struct npz_reader *r);
int npz_reader_is_array(const struct npz_reader *r);
/* The parsed header of the current array member. */
const struct npy_header *npz_reader_header(const struct npz_reader *r);
/* Up to n bytes of the current member's data (array data after the .npy
 * header, or the text of a non-array member). Returns the count (> 0), 0
 * once the member's data are complete, -1 on error. An array member whose
 * data are shorter or longer than its header says is an error. */
ssize_t npz_reader_read(struct npz_reader *r, void *buf, size_t n);
/* Exactly n bytes or an error. */
int npz_reader_read_exact(struct npz_reader *r, void *buf, size_t n);
/* Discard the rest of the current member (still checked). */
int npz_reader_skip(struct npz_reader *r);
/* The whole array data in a new 64-byte-aligned buffer (free()). The
 * buffer grows as the data arrive (see load_grow in npz.c): a header that
 * claims more than the member holds fails as truncated, having cost memory
 * in proportion to the data only. */
void *npz_reader_load(struct npz_reader *r);
/* A non-array member as a NUL-terminated string (free()). */
char *npz_reader_load_text(struct npz_reader *r, size_t *len);
/* Parse the current non-array member as meta.txt into m (appends). */
int npz_reader_load_meta(struct npz_reader *r, struct meta *m);

/* 0 if the current array member is float32 or float64, else -1 with
 * "FILE: member 'x' has dtype '<i4', expected float32 or float64". Float
 * members (x, act, ...) are floats only (memprobe-stream(5)): the f32/f64
 * loaders and row readers below check it themselves; a caller that copies
 * a float member through without loading it calls this. */
int npz_reader_require_float(struct npz_reader *r);
/* Conversions while loading, growing as whole loads do. Members of any
 * supported integer dtype load as int32 (values outside int32 are an
 * error; float dtypes too); float32 and float64 members load as float32
 * (float64 rounds to nearest; integer dtypes are an error). *out is
 * malloc'd (aligned); *count (may be NULL) gets the element count. */
int npz_reader_load_i32(struct npz_reader *r, int32_t **out, size_t *count);
int npz_reader_load_f32(struct npz_reader *r, float **out, size_t *count);
/* Streaming: the next `rows` rows (a row = npy_row_count() elements of an
 * (N, ...) array) of a float32 or float64 member, converted to float32
 * into buf. More rows than are left, or an integer dtype, is an error. */
int npz_reader_read_rows_f32(struct npz_reader *r, float *buf, size_t rows);
/* Same, converted to float64. */
int npz_reader_read_rows_f64(struct npz_reader *r, double *buf, size_t rows);
/* The next n elements, rows or not: for a reader that grows its buffer
 * as a row arrives rather than sizing it from the header's width. */
int npz_reader_read_values_f32(struct npz_reader *r, float *buf, size_t n);
int npz_reader_read_values_f64(struct npz_reader *r, double *buf, size_t n);

/* Read past every member left, each checked as it goes by (sizes, CRC):
 * 0 when the stream is sound to its end, for readers that stop early. */
int npz_reader_drain(struct npz_reader *r);
void npz_reader_free(struct npz_reader *r);

/* ---- writing ---- */

/* Create a writer on FILE (through a temporary) or on stdout (NULL or "-").
 * level: 0 = store, 1..9 = deflate. NULL on failure. */
struct npz_writer *npz_writer_open(const char *path, int level);
/* A non-array member: "meta.txt" (or, for tests, raw bytes as "NAME.npy"). */
int npz_writer_add_text(struct npz_writer *w, const char *name,
			const char *text, size_t len);
int npz_writer_add_meta(struct npz_writer *w, const struct meta *m);
/* A whole array member `name` (".npy" is appended). */
int npz_writer_add(struct npz_writer *w, const char *name,
		   const struct npy_header *h, const void *data);
/* A member streamed in pieces: begin, write h->nbytes bytes in any number
 * of calls, end (an error if the count differs). */
int npz_writer_begin(struct npz_writer *w, const char *name,
		     const struct npy_header *h);
int npz_writer_write(struct npz_writer *w, const void *data, size_t n);
int npz_writer_end(struct npz_writer *w);
/* Copy the reader's current array member through, streaming its bytes
 * without converting them; newname NULL keeps the name. */
int npz_writer_copy(struct npz_writer *w, struct npz_reader *r,
		    const char *newname);
/* Finish the archive, flush, and rename the temporary over FILE. Frees w.
 * On failure nothing is left behind. */
int npz_writer_close(struct npz_writer *w);
/* Give up: remove the temporary, free w. */
void npz_writer_abort(struct npz_writer *w);

/* The level to use when no option was given: MEMPROBE_COMPRESS or the
 * default. parse: "0".."9". */
int npz_level_default(void);
int npz_level_parse(const char *s, int *level);

/* ---- small streams held whole (checkpoints, probes) ---- */

struct npz_array {
	char *name;              /* without ".npy" */
	struct npy_header h;
	void *data;              /* h.nbytes, aligned */
};

struct npz_bundle {
	struct meta meta;        /* from meta.txt, empty if absent */
	struct npz_array *a;     /* in archive order */
	size_t n;
};

/* Load every member of a stream (NULL/"-": stdin), each growing as its
 * data arrive (npz_reader_load). */
int npz_bundle_load(struct npz_bundle *b, const char *path);
/* NULL if absent. */
struct npz_array *npz_bundle_get(const struct npz_bundle *b, const char *name);
/* Add (or replace) an array; copies data. */
struct npz_array *npz_bundle_put(struct npz_bundle *b, const char *name,
				 const struct npy_header *h, const void *data);
/* Write meta.txt then the arrays in order. */
int npz_bundle_save(const struct npz_bundle *b, const char *path, int level);
void npz_bundle_release(struct npz_bundle *b);

#endif
