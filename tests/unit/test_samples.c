/*
 * test_samples.c: the stream layer of lib/stream/samples.c (the class count's one
 * rule and its messages, label checks, the sample shape of x) and the
 * probe registry of lib/probe/probes.c.
 */
#include <stdlib.h>
#include <string.h>

#include "probes.h"
#include "samples.h"
#include "tap.h"
#include "util.h"

static struct meta meta_of(const char *text)
{
	struct meta m = META_INIT;
	if (text && meta_parse(&m, text, strlen(text)))
		abort();
	return m;
}

TEST(classes_rule)
{
	int32_t y[] = { 0, 2, 1 }, yt[] = { 0, 4, 1 };
	struct samples_labels l = { y, NULL, NULL, 3, 0, 0 };
	struct meta none = meta_of(NULL), ten = meta_of("data.classes=10\n");
	struct meta both = meta_of("data.classes=10\nmodel.classes=10\n");
	struct meta mix = meta_of("data.classes=10\nmodel.classes=4\n");
	struct meta bad = meta_of("model.classes=0\n");
	int c = -1;
	/* stated, else the largest label + 1 over y and y_true */
	CHECK(samples_classes(&ten, &l, "s", &c) == 0 && c == 10);
	CHECK(samples_classes(&both, &l, "s", &c) == 0 && c == 10);
	CHECK(samples_classes(&none, &l, "s", &c) == 0 && c == 3);
	l.y_true = yt;
	l.n_y_true = 3;
	CHECK(samples_classes(&none, &l, "s", &c) == 0 && c == 5);
	/* a bad or disagreeing statement is an error, never ignored */
	CHECK(samples_classes(&mix, &l, "s", &c) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: meta.txt: data.classes=10 but model.classes=4"));
	CHECK(samples_classes(&bad, &l, "s", &c) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: meta.txt: invalid model.classes '0' (an integer in [1, 1000000])"));
	/* a tool's own count must be the stated one */
	CHECK(samples_classes_given(&ten, "s", 10, "the model", &c) == 0 && c == 10);
	CHECK(samples_classes_given(&none, "s", 7, "the model", &c) == 0 && c == 7);
	CHECK(samples_classes_given(&none, "s", 0, "the model", &c) == 0 && c == 0);
	CHECK(samples_classes_given(&ten, "s", 3, "the probe", &c) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: the stream has 10 classes (meta.txt) but the probe has 3"));
	meta_release(&ten);
	meta_release(&both);
	meta_release(&mix);
	meta_release(&bad);
}

TEST(labels_checked)
{
	int32_t y[] = { 0, 1, 2 }, neg[] = { 0, -3 }, big[] = { 1, 1000000 };
	struct samples_labels l = { y, NULL, NULL, 3, 0, 0 };
	struct meta none = META_INIT, two = meta_of("data.classes=2\n");
	int32_t top;
	int c;
	CHECK(samples_labels_max(&l, "s", &top) == 0 && top == 2);
	CHECK(samples_classes(&two, &l, "s", &c) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: label 2 at index 2 of 'y' is outside 0..1"));
	l.y_true = neg;
	l.n_y_true = 2;
	CHECK(samples_classes(&none, &l, "s", &c) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: label -3 at index 1 of 'y_true' is negative"));
	l.y_true = big;
	CHECK(samples_labels_max(&l, "s", &top) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: label 1000000 of 'y_true' is too large (more than 1000000 classes)"));
	CHECK(samples_labels_rows(&l, 3, "s", "x") == -1);
	CHECK(!strcmp(mp_errmsg(), "s: member 'y_true' has 2 values but 'x' has 3"));
	l.n_y_true = 3;
	CHECK(samples_labels_rows(&l, 3, "s", "x") == 0);
	CHECK(samples_is_label("y") && samples_is_label("flipped") && !samples_is_label("x"));
	meta_release(&two);
}

TEST(sample_shape)
{
	struct npy_header h;
	int64_t s4[] = { 5, 3, 8, 9 }, s3[] = { 5, 8, 9 }, s2[] = { 5, 72 }, s1[] = { 5 };
	int64_t s0[] = { 5, 0, 2 };
	int chw[3];
	size_t n, d;
	CHECK(!npy_header_init(&h, NPY_F4, 4, s4) && !samples_shape(&h, "s", chw));
	CHECK(chw[0] == 3 && chw[1] == 8 && chw[2] == 9);
	CHECK(!npy_header_init(&h, NPY_F4, 3, s3) && !samples_shape(&h, "s", chw));
	CHECK(chw[0] == 1 && chw[1] == 8 && chw[2] == 9);
	CHECK(!npy_header_init(&h, NPY_F8, 2, s2) && !samples_shape(&h, "s", chw));
	CHECK(chw[0] == 72 && chw[1] == 1 && chw[2] == 1);
	CHECK(!samples_rows(&h, "s", "act", &n, &d) && n == 5 && d == 72);
	CHECK(!npy_header_init(&h, NPY_F4, 1, s1) && samples_shape(&h, "s", chw) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: 'x' has 1 dimensions (want (N, C, H, W))"));
	CHECK(samples_rows(&h, "s", "act", &n, &d) == -1);
	CHECK(!npy_header_init(&h, NPY_F4, 3, s0) && samples_shape(&h, "s", chw) == -1);
	CHECK(!strcmp(mp_errmsg(), "s: 'x' has an empty or huge sample shape"));
}

TEST(registry)
{
	const struct probe_kind *masc = probe_find("masc"), *velpic = probe_find("velpic");
	CHECK(masc && !strcmp(masc->name, "masc") && !strcmp(masc->title, "MASC"));
	CHECK(velpic && !strcmp(velpic->name, "velpic") && !strcmp(velpic->title, "VeLPIC"));
	CHECK(probe_find("lda") == NULL);
	CHECK(!strcmp(mp_errmsg(), "unknown probe 'lda' (masc or velpic)"));
	for (int i = 0; probe_kinds[i]; i++) {
		const struct probe_kind *k = probe_kinds[i];
		CHECK(k->name && k->title && k->summary && k->stream);
		CHECK(k->fit && k->load && k->unload);
		CHECK(probe_find(k->name) == k);
	}
	CHECK(masc && (masc->flags & PROBE_KIND_K_RULE));
	CHECK(velpic && !(velpic->flags & PROBE_KIND_K_RULE));
}

int main(void)
{
	RUN(classes_rule);
	RUN(labels_checked);
	RUN(sample_shape);
	RUN(registry);
	return tap_done();
}
