/*
 * fuzz_npy.c: the .npy header (lib/stream/npy.c), two ways in.
 *
 *   - bytes that start with "\x93NUMPY": a whole .npy file, put in a zip
 *     as the one member "a.npy" and read through the stream reader, which
 *     parses the preamble (magic, version 1/2/3, header length) and the
 *     dict, then delivers exactly the data the header promises;
 *   - anything else: the header dict itself, for npy_header_parse.
 *
 * Oracles on every header that parses: count and nbytes are the products
 * they claim to be, a row (npy_row_count) does not overflow, and the
 * preamble formatted from it is well formed (64-byte multiple, length
 * field, newline) and parses back to the same header.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "npy.h"
#include "npz.h"
#include "util.h"

static void check_header(const struct npy_header *h)
{
	size_t count = 1, width = 1, nbytes;
	if (h->ndim < 0 || h->ndim > NPY_MAXDIM)
		fuzz_fail("ndim %d", h->ndim);
	for (int i = 0; i < h->ndim; i++) {
		if (h->shape[i] < 0)
			fuzz_fail("negative dimension %lld", (long long)h->shape[i]);
		if (mp_mul_size(count, (size_t)h->shape[i], &count))
			fuzz_fail("element count overflows but the header was accepted");
		if (i > 0 && mp_mul_size(width, (size_t)h->shape[i], &width))
			fuzz_fail("row width overflows but the header was accepted");
	}
	if (count != h->count)
		fuzz_fail("count %zu, shape says %zu", h->count, count);
	if (mp_mul_size(count, npy_dtype_size(h->dtype), &nbytes) || nbytes != h->nbytes)
		fuzz_fail("nbytes %zu is not count x itemsize", h->nbytes);
	if (npy_row_count(h) != width)
		fuzz_fail("npy_row_count %zu, shape says %zu", npy_row_count(h), width);

	char shape[160];
	npy_shape_str(h, shape, sizeof shape);
	if (strlen(shape) >= sizeof shape)
		fuzz_fail("shape string overflows");

	char pre[1024];
	size_t size = npy_preamble_size(h);
	if (size > sizeof pre || size % 64)
		fuzz_fail("preamble size %zu", size);
	if (npy_preamble_format(h, pre) != size)
		fuzz_fail("preamble length differs from npy_preamble_size");
	size_t hlen = (size_t)(unsigned char)pre[8] | (size_t)(unsigned char)pre[9] << 8;
	if (memcmp(pre, "\x93NUMPY\x01\x00", 8) || hlen != size - 10 || pre[size - 1] != '\n')
		fuzz_fail("malformed preamble for %s", shape);
	struct npy_header back;
	if (npy_header_parse(pre + 10, hlen, &back, "fuzz"))
		fuzz_fail("own preamble does not parse: %s", mp_errmsg());
	if (back.dtype != h->dtype || back.ndim != h->ndim || back.count != h->count ||
	    back.nbytes != h->nbytes ||
	    memcmp(back.shape, h->shape, sizeof h->shape[0] * (size_t)h->ndim))
		fuzz_fail("preamble of %s parses back differently", shape);
}

static void via_reader(const uint8_t *data, size_t size)
{
	struct fuzz_zip *z = fuzz_zip_new(0);
	size_t len;
	fuzz_zip_add(z, "a.npy", data, size, 0);
	const uint8_t *zip = fuzz_zip_bytes(z, &len);
	struct npz_reader *r = npz_reader_open(fuzz_memfd_path(zip, len));
	fuzz_zip_free(z);
	if (!r)
		return;
	if (npz_reader_next(r) > 0 && npz_reader_is_array(r)) {
		const struct npy_header *h = npz_reader_header(r);
		char buf[4096];
		ssize_t k;
		uint64_t got = 0;
		check_header(h);
		while ((k = npz_reader_read(r, buf, sizeof buf)) > 0)
			got += (uint64_t)k;
		if (k == 0 && got != h->nbytes)
			fuzz_fail("member ended after %llu of %zu bytes without an error",
				  (unsigned long long)got, h->nbytes);
	}
	npz_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct npy_header h;
	if (size >= 6 && !memcmp(data, "\x93NUMPY", 6)) {
		via_reader(data, size);
		return 0;
	}
	if (!npy_header_parse((const char *)data, size, &h, "fuzz"))
		check_header(&h);
	return 0;
}
