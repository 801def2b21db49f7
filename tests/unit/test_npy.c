/*
 * test_npy.c: the .npy header dict parser and formatter (lib/stream/npy.c): the
 * dicts NumPy writes and the variations a robust parser must accept (key
 * order, spaces, trailing commas, Python 2 long suffixes, every rank), the
 * ones it must reject with a message naming the member and the problem
 * (Fortran order, big-endian, object, half, structured, too many dims,
 * overflowing shapes, zero dimensions included), and format -> parse round
 * trips of the preamble.
 * Format 2.0/3.0 preambles are read by lib/stream/npz.c: see test_npz.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "tap.h"
#include "util.h"

static struct npy_header h;

/* Parse a C string as a header dict of member "m". */
static int parse(const char *dict)
{
	memset(&h, 0x5a, sizeof h);
	return npy_header_parse(dict, strlen(dict), &h, "m");
}

/* The last error mentions `what` (and the member). */
static int said(const char *what)
{
	const char *m = mp_errmsg();
	int ok = strstr(m, what) != NULL && strstr(m, "'m'") != NULL;
	if (!ok)
		printf("#   message was: %s (wanted '%s')\n", m, what);
	return ok;
}

/* parse(dict) fails, and the message says `what` (NULL: any message). */
static int refused(const char *dict, const char *what)
{
	return parse(dict) == -1 && (!what || said(what));
}

TEST(parse_numpy_dict)
{
	/* Exactly what np.save writes, padding and newline included. */
	const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
			"                    \n";
	CHECK(parse(d) == 0);
	CHECK(h.dtype == NPY_F4);
	CHECK(h.ndim == 2);
	CHECK(h.shape[0] == 3 && h.shape[1] == 4);
	CHECK(h.count == 12);
	CHECK(h.nbytes == 48);
}

TEST(parse_every_dtype)
{
	static const struct { const char *s; enum npy_dtype t; size_t size; } c[] = {
		{ "<f4", NPY_F4, 4 }, { "<f8", NPY_F8, 8 }, { "<i4", NPY_I4, 4 },
		{ "<i8", NPY_I8, 8 }, { "|u1", NPY_U1, 1 }, { "<u1", NPY_U1, 1 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char d[128];
		snprintf(d, sizeof d, "{'descr': '%s', 'fortran_order': False, 'shape': (5,), }",
			 c[i].s);
		CHECK(parse(d) == 0);
		CHECK(h.dtype == c[i].t);
		CHECK(h.nbytes == 5 * c[i].size);
		CHECK(npy_dtype_size(c[i].t) == c[i].size);
	}
	CHECK(!strcmp(npy_dtype_str(NPY_F4), "<f4"));
	CHECK(!strcmp(npy_dtype_str(NPY_F8), "<f8"));
	CHECK(!strcmp(npy_dtype_str(NPY_I4), "<i4"));
	CHECK(!strcmp(npy_dtype_str(NPY_I8), "<i8"));
	CHECK(!strcmp(npy_dtype_str(NPY_U1), "|u1"));
}

TEST(parse_any_key_order)
{
	static const char *d[] = {
		"{'shape': (2, 3), 'fortran_order': False, 'descr': '<i8'}",
		"{'fortran_order': False, 'descr': '<i8', 'shape': (2, 3)}",
		"{'shape': (2, 3), 'descr': '<i8', 'fortran_order': False, }",
	};
	for (size_t i = 0; i < 3; i++) {
		CHECK(parse(d[i]) == 0);
		CHECK(h.dtype == NPY_I8);
		CHECK(h.ndim == 2 && h.shape[0] == 2 && h.shape[1] == 3);
		CHECK(h.nbytes == 48);
	}
}

TEST(parse_spaces_and_commas)
{
	/* No spaces at all, no trailing comma. */
	CHECK(parse("{'descr':'<f8','fortran_order':False,'shape':(7,)}") == 0);
	CHECK(h.dtype == NPY_F8 && h.ndim == 1 && h.shape[0] == 7);
	/* Spaces, tabs and newlines everywhere, trailing commas in the
	 * tuple and the dict. */
	CHECK(parse("  {\t'descr' :\n '<i4' ,  'fortran_order' :False ,"
		    "'shape' : ( 2 , 3 , ) , }  ") == 0);
	CHECK(h.dtype == NPY_I4 && h.ndim == 2 && h.shape[0] == 2 && h.shape[1] == 3);
	/* Double quotes. */
	CHECK(parse("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (4,)}") == 0);
	CHECK(h.dtype == NPY_F4 && h.shape[0] == 4);
}

TEST(parse_shapes)
{
	CHECK(parse("{'descr': '<f8', 'fortran_order': False, 'shape': (), }") == 0);
	CHECK(h.ndim == 0 && h.count == 1 && h.nbytes == 8);

	CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (9,), }") == 0);
	CHECK(h.ndim == 1 && h.shape[0] == 9 && h.count == 9);

	CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }") == 0);
	CHECK(h.ndim == 3 && h.count == 24 && h.nbytes == 96);
	CHECK(npy_row_count(&h) == 12);

	CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }") == 0);
	CHECK(h.ndim == 2 && h.shape[0] == 0 && h.shape[1] == 3);
	CHECK(h.count == 0 && h.nbytes == 0);
	CHECK(npy_row_count(&h) == 3);

	CHECK(parse("{'descr': '|u1', 'fortran_order': False, 'shape': (0,), }") == 0);
	CHECK(h.ndim == 1 && h.count == 0 && h.nbytes == 0);

	CHECK(parse("{'descr': '|u1', 'fortran_order': False, "
		    "'shape': (1, 2, 1, 2, 1, 2, 1, 2), }") == 0);
	CHECK(h.ndim == 8 && h.count == 16);
	CHECK(h.shape[7] == 2);
}

TEST(parse_long_suffix)
{
	/* Python 2 wrote shape entries as longs. */
	CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }") == 0);
	CHECK(h.ndim == 1 && h.shape[0] == 3);
	CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }") == 0);
	CHECK(h.ndim == 2 && h.shape[0] == 3 && h.shape[1] == 4 && h.count == 12);
	/* But a lone 'L' or other junk is no dimension. */
	CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (L,), }") == -1);
	CHECK(refused("{'descr': '<f4', 'fortran_order': False, 'shape': (3x,), }", "3x"));
}

TEST(reject_nine_dims)
{
	CHECK(refused("{'descr': '|u1', 'fortran_order': False, "
		      "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", "more than 8 dimensions"));
}

TEST(reject_fortran_order)
{
	CHECK(refused("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "Fortran"));
	CHECK(refused("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }", "Maybe"));
}

TEST(reject_dtypes)
{
	CHECK(refused("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "'>f4'"));
	CHECK(said("big-endian"));
	/* Each named in the message. */
	static const char *other[] = { ">i8", "|O", "<f2", "<U3", "<c8", "<u4" };
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		char d[128], q[16];
		snprintf(d, sizeof d, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }",
			 other[i]);
		snprintf(q, sizeof q, "'%s'", other[i]);
		CHECK(refused(d, q));
	}
	/* A native-order '=f4' is not little-endian everywhere: rejected. */
	CHECK(parse("{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }") == -1);
}

TEST(reject_structured)
{
	CHECK(refused("{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, "
		      "'shape': (3,), }", "structured"));
	CHECK(said("('a', '<i4')"));
	/* Nested lists (sub-arrays) are skipped as a whole. */
	CHECK(refused("{'descr': [('a', [('x', '<i4')])], 'fortran_order': False, "
		      "'shape': (3,), }", "('x', '<i4')"));
}

TEST(reject_overflow)
{
	/* 2^62 * 4 elements: the count overflows size_t. */
	CHECK(refused("{'descr': '|u1', 'fortran_order': False, "
		      "'shape': (4611686018427387904, 4), }", "overflows"));
	/* 2^62 elements of 8 bytes: the count fits, the bytes do not. */
	CHECK(refused("{'descr': '<f8', 'fortran_order': False, "
		      "'shape': (4611686018427387904,), }", "overflows"));
	/* 2^61 + 1 float32: 2^63 + 4 bytes fits size_t but not an int64
	 * (zip sizes and file offsets are signed 64-bit). */
	CHECK(refused("{'descr': '<f4', 'fortran_order': False, "
		      "'shape': (2305843009213693953,), }", "overflows"));
	/* A dimension beyond int64. */
	CHECK(refused("{'descr': '<f4', 'fortran_order': False, "
		      "'shape': (99999999999999999999,), }", "99999999999999999999"));
	/* Many small dimensions whose product overflows. */
	CHECK(refused("{'descr': '|u1', 'fortran_order': False, "
		      "'shape': (65536, 65536, 65536, 65536, 2), }", "overflows"));
	/* Even when a later one is 0 (NumPy refuses to make that array). */
	CHECK(parse("{'descr': '|u1', 'fortran_order': False, "
		    "'shape': (65536, 65536, 65536, 65536, 0), }") == -1);
	/* ...or an earlier one: a 0 anywhere does not excuse the others. */
	CHECK(refused("{'descr': '|u1', 'fortran_order': False, "
		      "'shape': (0, 65536, 65536, 65536, 65536), }", "overflows"));
}

TEST(zero_dims_do_not_excuse_overflow)
{
	/* (0, 2^62) float32 has no elements, but its rows are 2^64 bytes:
	 * a consumer computing the row width, or batch * width * 4, would
	 * overflow. NumPy refuses to make it; so do we. */
	CHECK(refused("{'descr': '<f4', 'fortran_order': False, "
		      "'shape': (0, 4611686018427387904), }", "overflows"));
	CHECK(said("(0, 4611686018427387904)"));
	CHECK(said("'<f4'"));
	/* A 0 in the middle, the overflow after it. */
	CHECK(refused("{'descr': '|u1', 'fortran_order': False, "
		      "'shape': (5, 0, 4611686018427387904, 4), }", "overflows"));
	/* 2^61 rows of float32 with no columns: the rows' count alone. */
	CHECK(parse("{'descr': '<f4', 'fortran_order': False, "
		    "'shape': (2305843009213693952, 0), }") == -1);
	/* The same at the limit is fine: 2^62 bytes per row of uint8, 2^60
	 * of float32 (2^62 bytes), and the row width times the item size
	 * fits an int64. */
	CHECK(parse("{'descr': '|u1', 'fortran_order': False, "
		    "'shape': (0, 4611686018427387904), }") == 0);
	CHECK(h.count == 0 && h.nbytes == 0);
	CHECK(npy_row_count(&h) == (size_t)1 << 62);
	CHECK(parse("{'descr': '<f4', 'fortran_order': False, "
		    "'shape': (0, 1152921504606846976), }") == 0);
	CHECK(npy_row_count(&h) * 4 == (size_t)1 << 62);
	/* npy_header_init applies the same rule. */
	int64_t s3[3] = { 0, INT64_MAX, 2 };
	CHECK(npy_header_init(&h, NPY_U1, 3, s3) == -1);
	CHECK(strstr(mp_errmsg(), "overflows") != NULL);
	CHECK(npy_header_2d(&h, NPY_F8, 0, INT64_MAX / 8) == 0);
	CHECK(npy_header_2d(&h, NPY_F8, 0, INT64_MAX / 8 + 1) == -1);
	CHECK(npy_header_2d(&h, NPY_F8, INT64_MAX / 8 + 1, 0) == -1);
}

TEST(reject_malformed)
{
	static const char *bad[] = {
		"",
		"descr",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",  /* no } */
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2,}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': 2}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}",
		"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
		"{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
		"{descr: '<f4', fortran_order: False, shape: (2,)}",
		"{'descr': <f4, 'fortran_order': False, 'shape': (2,)}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse(bad[i]);
		CHECK(rc == -1);
		if (rc != -1)
			printf("#   accepted: %s\n", bad[i]);
		CHECK(strstr(mp_errmsg(), "'m'") != NULL);
	}
}

TEST(reject_missing_or_unknown_keys)
{
	CHECK(refused("{'fortran_order': False, 'shape': (2,)}", "descr"));
	CHECK(refused("{'descr': '<f4', 'shape': (2,)}", "fortran_order"));
	CHECK(refused("{'descr': '<f4', 'fortran_order': False}", "shape"));
	CHECK(refused("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
		      "'extra': 1}", "extra"));
}

TEST(header_init)
{
	int64_t s3[3] = { 4, 5, 6 };
	CHECK(npy_header_init(&h, NPY_F8, 3, s3) == 0);
	CHECK(h.count == 120 && h.nbytes == 960 && npy_row_count(&h) == 30);
	CHECK(npy_header_1d(&h, NPY_I4, 10) == 0);
	CHECK(h.ndim == 1 && h.nbytes == 40 && npy_row_count(&h) == 1);
	CHECK(npy_header_2d(&h, NPY_U1, 3, 7) == 0);
	CHECK(h.ndim == 2 && h.nbytes == 21 && npy_row_count(&h) == 7);
	CHECK(npy_header_init(&h, NPY_F4, 0, NULL) == 0);
	CHECK(h.count == 1 && h.nbytes == 4);
	CHECK(npy_header_1d(&h, NPY_F4, -1) == -1);
	CHECK(strstr(mp_errmsg(), "negative") != NULL);
	CHECK(npy_header_2d(&h, NPY_F8, INT64_MAX, INT64_MAX) == -1);
	CHECK(npy_header_1d(&h, NPY_F8, INT64_MAX / 4) == -1);
}

TEST(shape_str)
{
	char b[160];
	int64_t s3[3] = { 60000, 1, 28 };
	npy_header_init(&h, NPY_F4, 0, NULL);
	CHECK(!strcmp(npy_shape_str(&h, b, sizeof b), "()"));
	npy_header_1d(&h, NPY_F4, 3);
	CHECK(!strcmp(npy_shape_str(&h, b, sizeof b), "(3,)"));
	npy_header_init(&h, NPY_F4, 3, s3);
	CHECK(!strcmp(npy_shape_str(&h, b, sizeof b), "(60000, 1, 28)"));
	/* A short buffer truncates, never overflows. */
	char small[6];
	memset(small, 'z', sizeof small);
	npy_shape_str(&h, small, 5);
	CHECK(small[5] == 'z');
	CHECK(strlen(small) < 5);
}

/* Format a preamble, check its layout, parse its dict back. */
static void roundtrip(enum npy_dtype t, int ndim, const int64_t *shape)
{
	struct npy_header a, b;
	char buf[1024];
	CHECK(npy_header_init(&a, t, ndim, shape) == 0);
	size_t n = npy_preamble_format(&a, buf);
	CHECK(n == npy_preamble_size(&a));
	CHECK(n % 64 == 0);
	CHECK(!memcmp(buf, "\x93NUMPY\x01\x00", 8));
	size_t hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
	CHECK(hlen + 10 == n);
	CHECK(buf[n - 1] == '\n');
	CHECK(npy_header_parse(buf + 10, hlen, &b, "rt") == 0);
	CHECK(b.dtype == a.dtype && b.ndim == a.ndim);
	CHECK(b.count == a.count && b.nbytes == a.nbytes);
	for (int i = 0; i < ndim; i++)
		CHECK(b.shape[i] == a.shape[i]);
}

TEST(preamble_roundtrip)
{
	int64_t big[8] = { 2, 3, 5, 7, 11, 13, 17, 19 };
	int64_t wide[8] = { 1000000000000LL, 1, 1, 1, 1, 1, 1, 1 };
	int64_t s2[2] = { 60000, 784 };
	for (int t = NPY_F4; t <= NPY_U1; t++) {
		roundtrip((enum npy_dtype)t, 0, NULL);
		roundtrip((enum npy_dtype)t, 1, s2);
		roundtrip((enum npy_dtype)t, 2, s2);
		roundtrip((enum npy_dtype)t, 8, big);
		roundtrip((enum npy_dtype)t, 8, wide);
	}
	int64_t zero[2] = { 0, 3 };
	roundtrip(NPY_F4, 2, zero);
	/* Longest dims still fit in a short 1.0 header. */
	struct npy_header a;
	int64_t huge[8] = { 1, 1, 1, 1, 1, 1, 1, INT64_MAX / 8 };
	CHECK(npy_header_init(&a, NPY_U1, 8, huge) == 0);
	CHECK(npy_preamble_size(&a) <= 256);
}

int main(void)
{
	RUN(parse_numpy_dict);
	RUN(parse_every_dtype);
	RUN(parse_any_key_order);
	RUN(parse_spaces_and_commas);
	RUN(parse_shapes);
	RUN(parse_long_suffix);
	RUN(reject_nine_dims);
	RUN(reject_fortran_order);
	RUN(reject_dtypes);
	RUN(reject_structured);
	RUN(reject_overflow);
	RUN(zero_dims_do_not_excuse_overflow);
	RUN(reject_malformed);
	RUN(reject_missing_or_unknown_keys);
	RUN(header_init);
	RUN(shape_str);
	RUN(preamble_roundtrip);
	return tap_done();
}
