/*
 * fuzz_npz.c: the NPZ stream reader (lib/stream/npz.c) as the tools use it.
 *
 * Input: either the raw bytes of a stream ("PK..."), or 'S' (store) / 'D'
 * (deflate) followed by sections (fuzz.h: "NAME+PAD\n" then the member's
 * bytes) that libarchive's writer turns into a well-formed zip, so that
 * mutations reach the .npy headers and meta.txt behind zip's CRCs.
 *
 * Two passes over every stream, as the tools read:
 *   - streaming: meta.txt parsed, text members loaded, arrays loaded as
 *     int32 or float32, read in rows as float32 or float64, or copied
 *     through a writer (to /dev/null), each member a different way;
 *   - held whole: npz_bundle_load (checkpoints, probes).
 * Oracles for a built zip whose members libarchive all took: the reader
 * meets the members in the order written, under their names, and a text
 * member reads back byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meta.h"
#include "npz.h"
#include "util.h"

struct expect {
	char name[512];
	const uint8_t *p;
	size_t n, pad;
};

static struct expect want[FUZZ_MAX_SECTIONS];
static size_t nwant;
static int trusted;             /* every section became a member */

static void read_rows(struct npz_reader *r, int f64)
{
	const struct npy_header *h = npz_reader_header(r);
	size_t width = npy_row_count(h);
	size_t rows = h->ndim ? (size_t)h->shape[0] : 1;
	/* A tool sizes a batch by the row width; an absurd width is the
	 * tool's to refuse, so read such a member raw here. */
	if (width > ((size_t)1 << 16) || (width && h->count / width != rows)) {
		npz_reader_skip(r);
		return;
	}
	size_t batch = 7;
	void *buf = malloc((batch * width + 1) * 8);
	for (size_t done = 0; done < rows;) {
		size_t k = rows - done < batch ? rows - done : batch;
		int rc = f64 ? npz_reader_read_rows_f64(r, buf, k)
			     : npz_reader_read_rows_f32(r, buf, k);
		if (rc)
			break;
		done += k;
	}
	free(buf);
}

static void check_text(size_t i, const char *name, const char *t, size_t len)
{
	if (!trusted || i >= nwant)
		return;
	const struct expect *e = &want[i];
	if (strcmp(e->name, name))
		fuzz_fail("member %zu read as '%s', written as '%s'", i, name, e->name);
	if (len != e->n + e->pad || memcmp(t, e->p, e->n))
		fuzz_fail("member '%s' reads back %zu bytes, not the %zu written", name,
			  len, e->n + e->pad);
	for (size_t k = e->n; k < len; k++)
		if (t[k])
			fuzz_fail("member '%s': padding reads back non-zero", name);
}

static void check_array_name(size_t i, const char *name)
{
	if (!trusted || i >= nwant)
		return;
	size_t l = strlen(want[i].name);
	if (l < 4 || strcmp(want[i].name + l - 4, ".npy") ||
	    strncmp(want[i].name, name, l - 4) || name[l - 4])
		fuzz_fail("member %zu read as array '%s', written as '%s'", i, name,
			  want[i].name);
}

static void stream_pass(const char *path)
{
	struct npz_reader *r = npz_reader_open(path);
	struct npz_writer *w = NULL;
	size_t i = 0;
	int rc;
	if (!r)
		return;
	while ((rc = npz_reader_next(r)) > 0) {
		const char *name = npz_reader_name(r);
		if (!npz_reader_is_array(r)) {
			struct meta m = META_INIT;
			size_t len;
			char *t;
			if (!strcmp(name, "meta.txt") && i % 2 == 0) {
				npz_reader_load_meta(r, &m);
				meta_release(&m);
			} else if ((t = npz_reader_load_text(r, &len))) {
				check_text(i, name, t, len);
				free(t);
			}
			i++;
			continue;
		}
		check_array_name(i, name);
		const struct npy_header *h = npz_reader_header(r);
		int is_float = h->dtype == NPY_F4 || h->dtype == NPY_F8;
		switch (i++ % 4) {
		case 0:
			if (is_float) {
				float *v;
				if (!npz_reader_load_f32(r, &v, NULL))
					free(v);
			} else {
				int32_t *v;
				if (!npz_reader_load_i32(r, &v, NULL))
					free(v);
			}
			break;
		case 1:
			read_rows(r, 0);
			break;
		case 2:
			read_rows(r, 1);
			break;
		default:
			if (!w)
				w = npz_writer_open("/dev/null", i % 8 == 3 ? 1 : 0);
			if (w && npz_writer_copy(w, r, NULL)) {
				npz_writer_abort(w);
				w = NULL;
			}
			break;
		}
	}
	if (w) {
		if (rc == 0)
			npz_writer_close(w);
		else
			npz_writer_abort(w);
	}
	npz_reader_free(r);
}

static void bundle_pass(const char *path)
{
	struct npz_bundle b;
	if (npz_bundle_load(&b, path))
		return;
	for (size_t i = 0; i < b.n; i++)
		if (!b.a[i].data || npz_bundle_get(&b, b.a[i].name) == NULL)
			fuzz_fail("bundle array %zu is incomplete", i);
	npz_bundle_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	struct fuzz_zip *z = NULL;
	nwant = 0;
	trusted = 0;
	if (size && (data[0] == 'S' || data[0] == 'D')) {
		struct fuzz_section s[FUZZ_MAX_SECTIONS];
		size_t n = fuzz_split(data + 1, size - 1, s, FUZZ_MAX_SECTIONS), padded = 0;
		z = fuzz_zip_new(data[0] == 'S' ? 0 : 1);
		trusted = 1;
		for (size_t i = 0; i < n; i++) {
			struct expect *e = &want[nwant];
			struct fuzz_section b = fuzz_named(s[i], e->name, sizeof e->name, &e->pad);
			if (e->pad > FUZZ_PAD_MAX - padded)
				e->pad = FUZZ_PAD_MAX - padded;
			padded += e->pad;
			e->p = b.p;
			e->n = b.n;
			if (fuzz_zip_add(z, e->name, b.p, b.n, e->pad))
				trusted = 0;
			else
				nwant++;
		}
		size_t len;
		const uint8_t *zip = fuzz_zip_bytes(z, &len);
		path = fuzz_memfd_path(zip, len);
	} else {
		path = fuzz_memfd_path(data, size);
	}
	stream_pass(path);
	bundle_pass(path);
	fuzz_zip_free(z);
	return 0;
}
