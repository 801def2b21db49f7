/*
 * fuzz_tinyimagenet.c: Tiny ImageNet (lib/data/tinyimagenet.c): the folder
 * walk, wnids.txt and val_annotations.txt, and every JPEG's decode.
 *
 * Input: a mode byte, then
 *   bit 0      split: 0 train, 1 test (val)
 *   bits 1-2   0: sections (fuzz.h) "PATH\n" + bytes written as the files
 *              of an extracted tiny-imagenet-200/ folder; 1: the same
 *              sections as the members of tiny-imagenet-200.zip (deflate);
 *              2: the rest of the input is the zip itself
 *   bits 3-7   a --limit of that many samples (0: all)
 * Every sample of a set that loads is decoded (data_rows), one at a time.
 * Oracles: labels within the classes, and --limit obeyed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "fuzz.h"
#include "util.h"

#define ROOT "tiny-imagenet-200"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct data_opts o = DATA_OPTS_INIT;
	struct data_set d;
	struct fuzz_zip *z = NULL;
	if (!size)
		return 0;
	int mode = data[0], how = (mode >> 1) & 3;
	data++;
	size--;
	o.name = "tiny-imagenet";
	o.split = mode & 1 ? DATA_TEST : DATA_TRAIN;
	o.limit = (size_t)(mode >> 3);
	if (how == 0) {
		struct fuzz_section s[FUZZ_MAX_SECTIONS];
		size_t n = fuzz_split(data, size, s, FUZZ_MAX_SECTIONS);
		const char *dir = fuzz_scratch();
		fuzz_scratch_clear();
		for (size_t i = 0; i < n; i++) {
			char name[512], path[600];
			size_t pad;
			struct fuzz_section b = fuzz_named(s[i], name, sizeof name, &pad);
			snprintf(path, sizeof path, ROOT "/%s", name);
			fuzz_put(dir, path, b.p, b.n);     /* a refused path: no file */
		}
		o.dir = dir;
	} else if (how == 1) {
		size_t len;
		z = fuzz_zip_sections(data, size, 1, ROOT "/");
		const uint8_t *zip = fuzz_zip_bytes(z, &len);
		o.dir = fuzz_memfd_path(zip, len);
	} else {
		o.dir = fuzz_memfd_path(data, size);
	}
	if (!data_load(&d, &o)) {
		if (o.limit && d.n > o.limit)
			fuzz_fail("--limit %zu gave %zu samples", o.limit, d.n);
		if (d.c != 3 || d.h != 64 || d.w != 64)
			fuzz_fail("samples of %dx%dx%d", d.c, d.h, d.w);
		uint8_t *out = malloc(3 * 64 * 64);
		for (size_t i = 0; i < d.n; i++) {
			if (d.y[i] < 0 || d.y[i] >= d.classes)
				fuzz_fail("sample %zu has label %d of %d classes", i,
					  d.y[i], d.classes);
			if (data_rows(&d, i, 1, out))
				break;
		}
		free(out);
		data_release(&d);
	}
	fuzz_zip_free(z);
	return 0;
}
