/*
 * fuzz.h: what the libFuzzer harnesses (tests/fuzz/fuzz_NAME.c) share:
 * handing bytes to library code that only opens paths, a scratch folder,
 * NPZ streams built in memory, and inputs cut into named sections.
 *
 * Each harness defines LLVMFuzzerTestOneInput. `make fuzz` links it with
 * libFuzzer (clang); `make units` compiles it again with the normal CC,
 * the entry point renamed fuzz_one_NAME, into build/tests/test_fuzz_replay
 * (tests/fuzz/replay.c), which runs every committed input.
 *
 * Harnesses never die and never write outside their scratch folder: a
 * library error is a normal outcome (the bytes are hostile); a crash, a
 * sanitizer report, a hang or a huge allocation is a finding. An oracle
 * that finds a broken property calls fuzz_fail(), which aborts.
 */
#ifndef MEMPROBE_FUZZ_H
#define MEMPROBE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as a file: a memfd, rewritten on each call, opened again
 * through "/proc/self/fd/N" (a fresh offset each open). The path stays
 * valid until the next call. */
const char *fuzz_memfd_path(const uint8_t *data, size_t size);

/* A private scratch folder ($TMPDIR or /tmp), made on first use and
 * removed at exit; fuzz_scratch_clear() empties it. */
const char *fuzz_scratch(void);
void fuzz_scratch_clear(void);
/* Write size bytes to DIR/rel, making the folders on the way. A rel that
 * could leave DIR (absolute, a ".." part, empty parts) is refused: -1. */
int fuzz_put(const char *dir, const char *rel, const void *data, size_t size);

/* Sections: the input cut at FUZZ_SEP. A section may start with a name
 * line ("NAME\n" then the bytes); NAME may end in "+N": N zero bytes are
 * appended to the section (at most FUZZ_PAD_MAX in all), so a small input
 * can describe a stream with big members (a checkpoint). */
#define FUZZ_SEP "#~#~"
#define FUZZ_MAX_SECTIONS 64
#define FUZZ_PAD_MAX ((size_t)2 << 20)
struct fuzz_section {
	const uint8_t *p;
	size_t n;
};
size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_section *out,
		  size_t max);
/* A section's name line: name (NUL-terminated, at most cap-1 bytes, "+N"
 * removed) and *pad; returns the body. With no newline in the section the
 * whole section is the name and the body is empty. */
struct fuzz_section fuzz_named(struct fuzz_section s, char *name, size_t cap,
			       size_t *pad);

/* A zip built in memory with libarchive's writer (as NumPy or our writer
 * would make it): store (level 0) or deflate. */
struct fuzz_zip;
struct fuzz_zip *fuzz_zip_new(int level);
/* A member of size bytes then pad zeros; -1 if libarchive refused it
 * (e.g. its name), and then the archive holds no such member. */
int fuzz_zip_add(struct fuzz_zip *z, const char *name, const void *data,
		 size_t size, size_t pad);
/* Finish: the archive bytes (owned by z until fuzz_zip_free). */
const uint8_t *fuzz_zip_bytes(struct fuzz_zip *z, size_t *size);
void fuzz_zip_free(struct fuzz_zip *z);

/* Sections named "NAME+PAD" as zip members; the total of pads is capped. */
struct fuzz_zip *fuzz_zip_sections(const uint8_t *data, size_t size, int level,
				   const char *prefix);

/* An oracle failed: message on stderr, abort(). */
void fuzz_fail(const char *fmt, ...) __attribute__((__noreturn__, format(printf, 1, 2)));

#endif
