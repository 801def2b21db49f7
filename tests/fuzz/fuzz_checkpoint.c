/*
 * fuzz_checkpoint.c: checkpoint validation, as dumpacts and train
 * --resume do it: the stream held whole (npz_bundle_load), the model its
 * meta.txt describes built and its tensors checked and loaded
 * (model_load, lib/nn/model.c), the RNG state taken, and one forward pass.
 *
 * Input: the raw stream ("PK..."), or 'S' (store) / 'D' (deflate) and
 * sections (fuzz.h) "NAME+PAD\n" + bytes that become the members; "+PAD"
 * zero bytes let a small input describe a whole CNN or MLP checkpoint.
 * Oracles for a model that loads: every tensor the model registers was in
 * the stream with its exact shape, and float32 tensors load bit for bit.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "model.h"
#include "npz.h"
#include "par.h"
#include "rng.h"
#include "util.h"

static void check_loaded(const struct model *m, const struct npz_bundle *b)
{
	for (int i = 0; i < m->ntensors; i++) {
		const struct model_tensor *t = &m->tensors[i];
		const struct npz_array *a = npz_bundle_get(b, t->name);
		if (!a)
			fuzz_fail("'%s' loaded without being in the checkpoint", t->name);
		if (a->h.ndim != t->ndim || a->h.count != t->count)
			fuzz_fail("'%s' loaded from a member of another shape", t->name);
		for (int k = 0; k < t->ndim; k++)
			if (a->h.shape[k] != t->shape[k])
				fuzz_fail("'%s' loaded from a member of another shape", t->name);
		if (t->dtype == NPY_F4 && a->h.dtype == NPY_F4 &&
		    memcmp(model_tensor_data(m, t), a->data, t->count * sizeof(float)))
			fuzz_fail("'%s' does not load bit for bit", t->name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int started;
	struct fuzz_zip *z = NULL;
	struct npz_bundle b;
	struct model m;
	const char *path;

	if (!started) {
		par_init(1);
		started = 1;
	}
	if (size && (data[0] == 'S' || data[0] == 'D')) {
		size_t len;
		z = fuzz_zip_sections(data + 1, size - 1, data[0] == 'S' ? 0 : 1, NULL);
		const uint8_t *zip = fuzz_zip_bytes(z, &len);
		path = fuzz_memfd_path(zip, len);
	} else {
		path = fuzz_memfd_path(data, size);
	}
	if (npz_bundle_load(&b, path))
		goto out;
	if (model_load(&m, &b))
		goto release;
	check_loaded(&m, &b);

	/* train --resume: the RNG state, when there is one. */
	const struct npz_array *a = npz_bundle_get(&b, "rng.state");
	if (a && a->h.dtype == NPY_I8 && a->h.count == RNG_STATE_WORDS) {
		struct rng r;
		uint64_t s[RNG_STATE_WORDS];
		memcpy(s, a->data, sizeof s);
		rng_set_state(&r, s);
	}
	/* dumpacts: one sample through the network. */
	float *x = calloc(shape_size(m.input), sizeof *x);
	if (x) {
		model_forward(&m, x, 1);
		free(x);
	}
	model_release(&m);
release:
	npz_bundle_release(&b);
out:
	fuzz_zip_free(z);
	return 0;
}
