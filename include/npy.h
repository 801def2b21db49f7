/*
 * npy.h: NumPy .npy array headers (format 1.0, 2.0 and 3.0 on read; 1.0 on
 * write, since the headers written here are always short).
 *
 * Supported dtypes: '<f4' '<f8' '<i4' '<i8' '|u1' (also '<u1'), C order.
 * Anything else (big-endian, object, Fortran order, other kinds) is rejected
 * with a message that names it.
 */
#ifndef MEMPROBE_NPY_H
#define MEMPROBE_NPY_H

#include <stddef.h>
#include <stdint.h>

enum npy_dtype { NPY_F4, NPY_F8, NPY_I4, NPY_I8, NPY_U1 };

#define NPY_MAXDIM 8

struct npy_header {
	enum npy_dtype dtype;
	int ndim;                   /* 0 for a scalar () */
	int64_t shape[NPY_MAXDIM];
	size_t count;               /* product of shape (1 for a scalar) */
	size_t nbytes;              /* count * itemsize, checked for overflow */
};

/* Bytes per element. */
size_t npy_dtype_size(enum npy_dtype t);
/* The descr string: "<f4" ... */
const char *npy_dtype_str(enum npy_dtype t);

/* Fill h from dtype and shape; computes count and nbytes. Returns -1 with a
 * message if a dimension is negative, or if the product of the nonzero
 * dimensions times the item size passes INT64_MAX (NumPy's rule): then no
 * partial product of the shape (count, nbytes, row width, row bytes)
 * overflows, even when a dimension is 0 and the count is 0. */
int npy_header_init(struct npy_header *h, enum npy_dtype t, int ndim,
		    const int64_t *shape);
/* Convenience for 1-D and 2-D. */
int npy_header_1d(struct npy_header *h, enum npy_dtype t, int64_t n);
int npy_header_2d(struct npy_header *h, enum npy_dtype t, int64_t n, int64_t d);

/* Parse the header dict text ("{'descr': '<f4', 'fortran_order': False,
 * 'shape': (3, 4), }" plus padding), any key order, spaces, trailing commas.
 * `name` is only used in messages. */
int npy_header_parse(const char *dict, size_t len, struct npy_header *h,
		     const char *name);

/* The size of the preamble (magic, version, length, dict, padding) for h:
 * a multiple of 64. */
size_t npy_preamble_size(const struct npy_header *h);
/* Write the preamble into buf (at least npy_preamble_size(h) bytes);
 * returns its length. */
size_t npy_preamble_format(const struct npy_header *h, char *buf);

/* Product of rows beyond the first axis: shape[1]*shape[2]*... (1 for ndim
 * <= 1). The "row width" of an (N, ...) array; times the item size it fits
 * an int64 for any header made by npy_header_init() or npy_header_parse(),
 * even when shape[0] is 0. */
size_t npy_row_count(const struct npy_header *h);

/* Format a shape as "(60000, 1, 28, 28)" into buf (cap >= 160). */
const char *npy_shape_str(const struct npy_header *h, char *buf, size_t cap);

#endif
