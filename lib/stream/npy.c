/*
 * npy.c: the .npy header: parse NumPy's header dict robustly and format one
 * that NumPy (and this parser) reads back.
 */
#include "npy.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const struct {
	const char *str;
	size_t size;
} dtypes[] = {
	[NPY_F4] = { "<f4", 4 },
	[NPY_F8] = { "<f8", 8 },
	[NPY_I4] = { "<i4", 4 },
	[NPY_I8] = { "<i8", 8 },
	[NPY_U1] = { "|u1", 1 },
};

size_t npy_dtype_size(enum npy_dtype t)
{
	return dtypes[t].size;
}

const char *npy_dtype_str(enum npy_dtype t)
{
	return dtypes[t].str;
}

/* NumPy's own rule (PyArray_NewFromDescr): the product of the nonzero
 * dimensions times the item size must fit a signed 64-bit size. A zero
 * dimension makes the count 0 but does not excuse the others, so every
 * partial product of a shape (the count, the byte size, the row width of
 * npy_row_count() and its bytes) fits too, whatever order a consumer
 * multiplies them in: (0, 2^62) of float32 is refused, as NumPy refuses to
 * make it. */
int npy_header_init(struct npy_header *h, enum npy_dtype t, int ndim,
		    const int64_t *shape)
{
	size_t bytes = dtypes[t].size;
	int zero = 0;
	MP_ASSERT(ndim >= 0 && ndim <= NPY_MAXDIM);
	memset(h, 0, sizeof *h);
	h->dtype = t;
	h->ndim = ndim;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return mp_error("negative dimension %lld in shape",
					(long long)shape[i]);
		h->shape[i] = shape[i];
	}
	for (int i = 0; i < ndim; i++) {
		if (!shape[i]) {
			zero = 1;
			continue;
		}
		if (mp_mul_size(bytes, (size_t)shape[i], &bytes) ||
		    bytes > (size_t)INT64_MAX) {
			char buf[NPY_MAXDIM * 24 + 8];
			return mp_error("shape %s of '%s' overflows: its nonzero "
					"dimensions make more than 2^63 - 1 bytes",
					npy_shape_str(h, buf, sizeof buf), dtypes[t].str);
		}
	}
	h->count = zero ? 0 : bytes / dtypes[t].size;
	h->nbytes = zero ? 0 : bytes;
	return 0;
}

int npy_header_1d(struct npy_header *h, enum npy_dtype t, int64_t n)
{
	return npy_header_init(h, t, 1, &n);
}

int npy_header_2d(struct npy_header *h, enum npy_dtype t, int64_t n, int64_t d)
{
	int64_t s[2] = { n, d };
	return npy_header_init(h, t, 2, s);
}

size_t npy_row_count(const struct npy_header *h)
{
	size_t n = 1;
	/* Cannot overflow for a header made by npy_header_init(). */
	for (int i = 1; i < h->ndim; i++) {
		int overflow = mp_mul_size(n, (size_t)h->shape[i], &n);
		MP_ASSERT(!overflow);
	}
	return n;
}

const char *npy_shape_str(const struct npy_header *h, char *buf, size_t cap)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, cap - o, "(");
	for (int i = 0; i < h->ndim && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "",
				      (long long)h->shape[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, h->ndim == 1 ? ",)" : ")");
	return buf;
}

/* ---- a small parser for the Python-literal dict NumPy writes ---- */

struct lex {
	const char *p, *end;
	const char *name;
};

static void skip_ws(struct lex *lx)
{
	while (lx->p < lx->end && isspace((unsigned char)*lx->p))
		lx->p++;
}

static int expect(struct lex *lx, char c)
{
	skip_ws(lx);
	if (lx->p >= lx->end || *lx->p != c)
		return mp_error("member '%s': malformed .npy header (expected '%c')",
				lx->name, c);
	lx->p++;
	return 0;
}

static int peek(struct lex *lx, char c)
{
	skip_ws(lx);
	return lx->p < lx->end && *lx->p == c;
}

/* A quoted Python string, no escapes needed for what NumPy writes. */
static int parse_str(struct lex *lx, char *out, size_t cap)
{
	skip_ws(lx);
	if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"'))
		return mp_error("member '%s': malformed .npy header (expected a string)",
				lx->name);
	char q = *lx->p++;
	size_t n = 0;
	while (lx->p < lx->end && *lx->p != q) {
		if (n + 1 >= cap)
			return mp_error("member '%s': .npy header string too long",
					lx->name);
		out[n++] = *lx->p++;
	}
	if (lx->p >= lx->end)
		return mp_error("member '%s': malformed .npy header (unterminated string)",
				lx->name);
	lx->p++;
	out[n] = '\0';
	return 0;
}

static int parse_word(struct lex *lx, char *out, size_t cap)
{
	size_t n = 0;
	skip_ws(lx);
	while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '_')) {
		if (n + 1 >= cap)
			return mp_error("member '%s': malformed .npy header", lx->name);
		out[n++] = *lx->p++;
	}
	out[n] = '\0';
	if (!n)
		return mp_error("member '%s': malformed .npy header", lx->name);
	return 0;
}

static int parse_shape(struct lex *lx, struct npy_header *h)
{
	int64_t shape[NPY_MAXDIM];
	int nd = 0;
	if (expect(lx, '('))
		return -1;
	while (!peek(lx, ')')) {
		char w[32];
		long v;
		if (nd == NPY_MAXDIM)
			return mp_error("member '%s': more than %d dimensions",
					lx->name, NPY_MAXDIM);
		if (parse_word(lx, w, sizeof w))
			return -1;
		/* Python 2 era headers wrote longs as "3L". */
		size_t wl = strlen(w);
		if (wl > 1 && (w[wl - 1] == 'L' || w[wl - 1] == 'l'))
			w[wl - 1] = '\0';
		if (parse_long(w, 0, INT64_MAX > LONG_MAX ? LONG_MAX : (long)INT64_MAX, &v))
			return mp_error("member '%s': bad dimension '%s' in .npy shape",
					lx->name, w);
		shape[nd++] = v;
		if (peek(lx, ','))
			lx->p++;
		else if (!peek(lx, ')'))
			return mp_error("member '%s': malformed .npy shape", lx->name);
	}
	lx->p++;
	if (npy_header_init(h, h->dtype, nd, shape))
		return mp_error_prefix("member '%s'", lx->name);
	return 0;
}

int npy_header_parse(const char *dict, size_t len, struct npy_header *h,
		     const char *name)
{
	struct lex lx = { dict, dict + len, name };
	int have_descr = 0, have_order = 0, have_shape = 0;
	char descr[64] = "";
	struct lex shape_at = { 0 };

	memset(h, 0, sizeof *h);
	if (expect(&lx, '{'))
		return -1;
	while (!peek(&lx, '}')) {
		char key[32];
		if (parse_str(&lx, key, sizeof key) || expect(&lx, ':'))
			return -1;
		if (!strcmp(key, "descr")) {
			if (peek(&lx, '[')) {
				/* Name the dtype: its list up to the matching ']'. */
				const char *b = lx.p;
				int depth = 0;
				do {
					depth += *lx.p == '[' ? 1 : *lx.p == ']' ? -1 : 0;
					lx.p++;
				} while (lx.p < lx.end && depth > 0);
				int dl = (int)(lx.p - b);
				return mp_error("member '%s': structured dtype %.*s%s is not supported",
						name, dl > 80 ? 80 : dl, b, dl > 80 ? "..." : "");
			}
			if (parse_str(&lx, descr, sizeof descr))
				return -1;
			have_descr = 1;
		} else if (!strcmp(key, "fortran_order")) {
			char w[16];
			if (parse_word(&lx, w, sizeof w))
				return -1;
			if (!strcmp(w, "True"))
				return mp_error("member '%s': Fortran-order arrays are not supported",
						name);
			if (strcmp(w, "False"))
				return mp_error("member '%s': bad fortran_order '%s'", name, w);
			have_order = 1;
		} else if (!strcmp(key, "shape")) {
			/* Parsed after descr is known; remember where. */
			shape_at = lx;
			skip_ws(&lx);
			while (lx.p < lx.end && *lx.p != ')')
				lx.p++;
			if (lx.p >= lx.end)
				return mp_error("member '%s': malformed .npy shape", name);
			lx.p++;
			have_shape = 1;
		} else {
			return mp_error("member '%s': unknown key '%s' in .npy header",
					name, key);
		}
		if (peek(&lx, ','))
			lx.p++;
		else if (!peek(&lx, '}'))
			return mp_error("member '%s': malformed .npy header", name);
	}
	if (!have_descr || !have_order || !have_shape)
		return mp_error("member '%s': .npy header lacks '%s'", name,
				!have_descr ? "descr" : !have_order ? "fortran_order" : "shape");

	static const struct { const char *s; enum npy_dtype t; } known[] = {
		{ "<f4", NPY_F4 }, { "<f8", NPY_F8 }, { "<i4", NPY_I4 },
		{ "<i8", NPY_I8 }, { "|u1", NPY_U1 }, { "<u1", NPY_U1 },
		{ "u1", NPY_U1 }, { "|b1", NPY_U1 },
	};
	size_t i;
	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(descr, known[i].s))
			break;
	if (i == sizeof known / sizeof known[0]) {
		if (descr[0] == '>')
			return mp_error("member '%s': big-endian dtype '%s' is not supported",
					name, descr);
		if (descr[0] == '|' && descr[1] == 'O')
			return mp_error("member '%s': object dtype '%s' is not supported",
					name, descr);
		return mp_error("member '%s': dtype '%s' is not supported "
				"(use <f4 <f8 <i4 <i8 |u1)", name, descr);
	}
	h->dtype = known[i].t;
	shape_at.name = name;
	return parse_shape(&shape_at, h);
}

static size_t dict_format(const struct npy_header *h, char *buf, size_t cap)
{
	char shape[NPY_MAXDIM * 24 + 8];
	npy_shape_str(h, shape, sizeof shape);
	return (size_t)snprintf(buf, cap,
		"{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
		npy_dtype_str(h->dtype), shape);
}

size_t npy_preamble_size(const struct npy_header *h)
{
	char d[512];
	/* Our dicts are short (at most 8 dimensions), so format 1.0 always
	 * suffices: magic, version, 2-byte length, dict, '\n', padded to 64. */
	size_t n = dict_format(h, d, sizeof d) + 1;
	return (10 + n + 63) / 64 * 64;
}

size_t npy_preamble_format(const struct npy_header *h, char *buf)
{
	char d[512];
	size_t n = dict_format(h, d, sizeof d);
	size_t total = npy_preamble_size(h);
	size_t hlen = total - 10;

	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)(hlen & 0xff);
	buf[9] = (char)(hlen >> 8);
	memcpy(buf + 10, d, n);
	memset(buf + 10 + n, ' ', hlen - n - 1);
	buf[total - 1] = '\n';
	return total;
}
