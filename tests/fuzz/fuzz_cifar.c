/*
 * fuzz_cifar.c: CIFAR-10 and CIFAR-100 in their binary version
 * (lib/data/cifar.c).
 *
 * Input: a mode byte, then the file:
 *   bit 0      0: CIFAR-10, 1: CIFAR-100
 *   bit 1      0: the distribution's tarball (tar.gz, or a plain tar,
 *              which zlib reads through), 1: one extracted member file
 *              (test_batch.bin / test.bin)
 *   bit 2      split: 0 train, 1 test (the tarball only)
 *   bit 3      CIFAR-100's coarse labels
 *   bits 4-7   a --limit of that many samples (0: all)
 * Oracles: a loaded set holds whole 3x32x32 samples, its labels are within
 * its classes, and --limit is obeyed.
 */
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct data_opts o = DATA_OPTS_INIT;
	struct data_set d;
	if (!size)
		return 0;
	int mode = data[0], hundred = mode & 1;
	data++;
	size--;
	o.name = hundred ? "cifar100" : "cifar10";
	o.coarse = (mode >> 3) & 1;
	o.limit = (size_t)(mode >> 4);
	if (mode & 2) {
		const char *dir = fuzz_scratch();
		fuzz_scratch_clear();
		if (fuzz_put(dir, hundred ? "test.bin" : "test_batch.bin", data, size))
			return 0;
		o.dir = dir;
		o.split = DATA_TEST;
	} else {
		o.dir = fuzz_memfd_path(data, size);
		o.split = mode & 4 ? DATA_TEST : DATA_TRAIN;
	}
	if (data_load(&d, &o))
		return 0;
	if (d.c != 3 || d.h != 32 || d.w != 32 || !d.pix || d.n == 0)
		fuzz_fail("a loaded set of %zu samples of %dx%dx%d", d.n, d.c, d.h, d.w);
	if (o.limit && d.n > o.limit)
		fuzz_fail("--limit %zu gave %zu samples", o.limit, d.n);
	int classes = hundred ? (o.coarse ? 20 : 100) : 10;
	if (d.classes != classes)
		fuzz_fail("%d classes, not %d", d.classes, classes);
	uint8_t *out = malloc(3 * 32 * 32);
	for (size_t i = 0; i < d.n; i++) {
		if (d.y[i] < 0 || d.y[i] >= d.classes)
			fuzz_fail("sample %zu has label %d of %d classes", i, d.y[i], d.classes);
		data_rows(&d, i, 1, out);
	}
	free(out);
	data_release(&d);
	return 0;
}
