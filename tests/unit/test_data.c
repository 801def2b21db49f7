/*
 * test_data.c: the data module's pure parts: the authors' normalisation
 * (bit-exact float32 as torchvision computes it), names and paths, the IDX
 * reader on raw and gzip files it writes itself, and data_load's limit.
 * The formats end to end are in tests/mkdata.bats.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/test_data.XXXXXX";

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* An IDX file of n images r x c (ndim 3) or n labels (ndim 1); pixel or
 * label i = (i * 7) % mod. cut bytes dropped from the end. */
static char *write_idx(const char *name, int ndim, uint32_t n, uint32_t r,
		       uint32_t c, int mod, int gz, size_t cut)
{
	size_t count = ndim == 3 ? (size_t)n * r * c : n;
	size_t len = 4 + 4 * (size_t)ndim + count;
	unsigned char *b = xmalloc(len);
	be32(b, 0x800u | (uint32_t)ndim);
	be32(b + 4, n);
	if (ndim == 3) {
		be32(b + 8, r);
		be32(b + 12, c);
	}
	for (size_t i = 0; i < count; i++)
		b[4 + 4 * (size_t)ndim + i] = (unsigned char)((i * 7) % (size_t)mod);
	char *path = xasprintf("%s/%s%s", tmpdir, name, gz ? ".gz" : "");
	if (gz) {
		gzFile f = gzopen(path, "wb");
		gzwrite(f, b, (unsigned)(len - cut));
		gzclose(f);
	} else {
		FILE *fp = fopen(path, "wb");
		fwrite(b, 1, len - cut, fp);
		fclose(fp);
	}
	free(b);
	return path;
}

TEST(normalize_authors_is_torchvision_float32)
{
	struct data_set d;
	memset(&d, 0, sizeof d);
	d.maxval = 255;
	d.centered = 1;
	uint8_t v[256];
	float x[256];
	for (int i = 0; i < 256; i++)
		v[i] = (uint8_t)i;
	data_normalize(x, v, 256, &d, DATA_NORM_AUTHORS);
	CHECK(x[0] == -1.0f && x[255] == 1.0f);
	for (int i = 0; i < 256; i++) {
		float t = (float)i / 255.0f;
		CHECK(x[i] == (t - 0.5f) / 0.5f);
		CHECK_NEAR(x[i], 2.0 * i / 255.0 - 1.0, 1e-6);
		if (i)
			CHECK(x[i] > x[i - 1]);
	}
	d.centered = 0;
	data_normalize(x, v, 256, &d, DATA_NORM_AUTHORS);
	for (int i = 0; i < 256; i++)
		CHECK(x[i] == (float)i / 255.0f);
	data_normalize(x, v, 256, &d, DATA_NORM_NONE);
	for (int i = 0; i < 256; i++)
		CHECK(x[i] == (float)i);
	d.maxval = 16;
	d.centered = 1;
	data_normalize(x, v, 17, &d, DATA_NORM_AUTHORS);
	for (int i = 0; i <= 16; i++)
		CHECK(x[i] == 2.0f * (float)i / 16.0f - 1.0f);
	char buf[32];
	CHECK(!strcmp(data_norm_formula(&d, DATA_NORM_AUTHORS, buf, sizeof buf), "2*v/16-1"));
	CHECK(!strcmp(data_norm_formula(&d, DATA_NORM_NONE, buf, sizeof buf), "v"));
	d.centered = 0;
	d.maxval = 255;
	CHECK(!strcmp(data_norm_formula(&d, DATA_NORM_AUTHORS, buf, sizeof buf), "v/255"));
}

TEST(names_splits_paths)
{
	enum data_split s;
	enum data_norm n;
	CHECK(data_find("cifar100") && !strcmp(data_find("cifar100")->name, "cifar100"));
	CHECK(data_find("tiny-imagenet") != NULL);
	CHECK(data_find("imagenet") == NULL);
	CHECK(!strcmp(mp_errmsg(), "unknown data set 'imagenet' (mnist, fashion-mnist, "
		      "cifar10, cifar100, digits or tiny-imagenet)"));
	CHECK(data_find("MNIST") == NULL);
	CHECK(!data_split_parse("test", &s) && s == DATA_TEST);
	CHECK(!data_split_parse("train", &s) && s == DATA_TRAIN);
	CHECK(data_split_parse("val", &s) == -1 && strstr(mp_errmsg(), "'val'"));
	CHECK(!data_norm_parse("none", &n) && n == DATA_NORM_NONE);
	CHECK(data_norm_parse("", &n) == -1);
	char *p;
	CHECK(!strcmp(p = data_path("a", "b"), "a/b"));
	free(p);
	CHECK(!strcmp(p = data_path("a/", "b"), "a/b"));
	free(p);
	CHECK(!strcmp(p = data_path(".", "b"), "b"));
	free(p);
	CHECK(!strcmp(p = data_path("", "b"), "b"));
	free(p);
}

TEST(idx_read_raw_gz_and_broken)
{
	uint32_t dims[3];
	uint8_t *data;
	size_t len;
	for (int gz = 0; gz < 2; gz++) {
		char *p = write_idx("img", 3, 3, 4, 5, 251, gz, 0);
		CHECK(idx_read(p, 3, dims, &data, &len) == 0);
		CHECK(dims[0] == 3 && dims[1] == 4 && dims[2] == 5 && len == 60);
		int ok = 1;
		for (size_t i = 0; i < 60; i++)
			ok &= data[i] == (i * 7) % 251;
		CHECK(ok);
		free(data);
		/* The wrong number of dimensions is a wrong magic. */
		CHECK(idx_read(p, 1, dims, &data, &len) == -1);
		CHECK(strstr(mp_errmsg(), "magic 0x00000803, expected 0x00000801") != NULL);
		CHECK(data == NULL);
		unlink(p);
		free(p);
		p = write_idx("img", 3, 3, 4, 5, 251, gz, 1);
		CHECK(idx_read(p, 3, dims, &data, &len) == -1);
		CHECK(strstr(mp_errmsg(), "is truncated (59 of 60 bytes of data)") != NULL);
		CHECK(strstr(mp_errmsg(), p) != NULL);
		unlink(p);
		free(p);
	}
	char *missing = xasprintf("%s/nothing", tmpdir);
	CHECK(idx_read(missing, 1, dims, &data, &len) == -1);
	CHECK(strstr(mp_errmsg(), "cannot open") != NULL);
	free(missing);
}

TEST(load_with_limit_and_labels)
{
	char *a = write_idx("train-images-idx3-ubyte", 3, 6, 2, 3, 256, 0, 0);
	char *b = write_idx("train-labels-idx1-ubyte", 1, 6, 0, 0, 10, 1, 0);
	struct data_opts o = DATA_OPTS_INIT;
	struct data_set d;
	uint8_t raw[2 * 6];
	o.name = "mnist";
	o.dir = tmpdir;
	o.limit = 4;
	CHECK(data_load(&d, &o) == 0);
	CHECK(d.n == 4 && d.c == 1 && d.h == 2 && d.w == 3 && d.classes == 10);
	CHECK(d.y[0] == 0 && d.y[1] == 7 && d.y[2] == 4 && d.y[3] == 1);
	CHECK(data_rows(&d, 1, 2, raw) == 0);
	CHECK(raw[0] == (6 * 7) % 256 && raw[11] == (17 * 7) % 256);
	CHECK(strstr(meta_get(&d.meta, "data.source"), "train-labels-idx1-ubyte.gz") != NULL);
	data_release(&d);
	o.split = DATA_TEST;
	CHECK(data_load(&d, &o) == -1);
	CHECK(strstr(mp_errmsg(), "no 't10k-images-idx3-ubyte' (or 't10k-images-idx3-ubyte.gz') in") != NULL);
	o.name = "svhn";
	CHECK(data_load(&d, &o) == -1);
	unlink(a);
	unlink(b);
	free(a);
	free(b);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! cannot create %s\n", tmpdir);
		return 1;
	}
	RUN(normalize_authors_is_torchvision_float32);
	RUN(names_splits_paths);
	RUN(idx_read_raw_gz_and_broken);
	RUN(load_with_limit_and_labels);
	rmdir(tmpdir);
	return tap_done();
}
