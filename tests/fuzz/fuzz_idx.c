/*
 * fuzz_idx.c: MNIST's IDX files (lib/data/idx.c), raw or gzip-compressed.
 *
 * Input: a mode byte, then
 *   0..3       one IDX file for idx_read with 1..4 dimensions;
 *   'S'        two sections (fuzz.h), the images and the labels file of a
 *              training split, loaded as a data set (mkdata's path) and
 *              every sample's raw values read.
 * Oracles: what idx_read accepts holds exactly the product of its
 * dimensions; a loaded set's labels are within its classes.
 */
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "fuzz.h"
#include "util.h"

static void one_file(int ndim, const uint8_t *data, size_t size)
{
	uint32_t dims[4];
	uint8_t *pix;
	size_t len, n = 1;
	if (idx_read(fuzz_memfd_path(data, size), ndim, dims, &pix, &len))
		return;
	for (int i = 0; i < ndim; i++)
		n *= dims[i];
	if (n != len)
		fuzz_fail("idx_read: %zu bytes for dimensions of %zu", len, n);
	free(pix);
}

static void a_set(const uint8_t *data, size_t size)
{
	struct fuzz_section s[2];
	const char *dir = fuzz_scratch();
	struct data_opts o = DATA_OPTS_INIT;
	struct data_set d;
	if (fuzz_split(data, size, s, 2) != 2)
		return;
	fuzz_scratch_clear();
	if (fuzz_put(dir, "train-images-idx3-ubyte", s[0].p, s[0].n) ||
	    fuzz_put(dir, "train-labels-idx1-ubyte", s[1].p, s[1].n))
		return;
	o.name = "mnist";
	o.dir = dir;
	if (data_load(&d, &o))
		return;
	size_t row = (size_t)d.c * (size_t)d.h * (size_t)d.w;
	uint8_t *out = malloc(row ? row : 1);
	for (size_t i = 0; i < d.n; i++) {
		if (d.y[i] < 0 || d.y[i] >= d.classes)
			fuzz_fail("sample %zu has label %d of %d classes", i, d.y[i], d.classes);
		if (data_rows(&d, i, 1, out))
			break;
	}
	free(out);
	data_release(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] < 4)
		one_file(data[0] + 1, data + 1, size - 1);
	else if (data[0] == 'S')
		a_set(data + 1, size - 1);
	return 0;
}
