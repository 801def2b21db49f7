/*
 * data.c: what every data set loader shares: the table of sets, where their
 * files are looked for, the authors' normalisation, and writing a loaded set
 * as a data stream with `x` converted to float32 one chunk at a time.
 */
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <zlib.h>

#include "table.h"
#include "util.h"

#define DIGITS_SKLEARN "/usr/lib/python3/dist-packages/sklearn/datasets/data"

/* PAPER.md for the normalisations and stopping accuracies. */
const struct data_info data_table[] = {
	{
		.name = "mnist", .summary = "MNIST's four IDX files",
		.load = idx_load_set,
		.c = 1, .h = 28, .w = 28, .classes = 10, .maxval = 255, .centered = 1,
		.until = 99.9,
	},
	{
		.name = "fashion-mnist", .summary = "Fashion-MNIST's four IDX files",
		.load = idx_load_set, .system = "/usr/share/datasets/fashion-mnist",
		.c = 1, .h = 28, .w = 28, .classes = 10, .maxval = 255, .centered = 1,
		.until = 99.1,
	},
	{
		.name = "cifar10", .summary = "cifar-10-binary.tar.gz, or its folder",
		.load = cifar_load_set,
		.c = 3, .h = 32, .w = 32, .classes = 10, .maxval = 255, .centered = 1,
		.until = 100,
	},
	{
		.name = "cifar100", .summary = "cifar-100-binary.tar.gz, or its folder",
		.load = cifar_load_set,
		.c = 3, .h = 32, .w = 32, .classes = 100, .maxval = 255, .centered = 1,
		.until = 99.1,
	},
	{
		.name = "digits", .summary = "scikit-learn's digits.csv.gz",
		.load = digits_load_set, .system = DIGITS_SKLEARN,
		.c = 1, .h = 8, .w = 8, .classes = 10, .maxval = 16, .centered = 1,
	},
	{
		.name = "tiny-imagenet", .summary = "tiny-imagenet-200.zip, or its folder",
		.load = tinyimagenet_load_set,
		.c = 3, .h = 64, .w = 64, .classes = 200, .maxval = 255, .centered = 0,
		.until = 99.9,
	},
	{ .name = NULL },
};

char *data_names(void)
{
	return table_names(data_table, sizeof *data_table);
}

const struct data_info *data_find(const char *name)
{
	return table_find(data_table, sizeof *data_table, "data set", name);
}

static const char *formula(char *buf, size_t cap, int maxval, int centered)
{
	if (centered)
		snprintf(buf, cap, "2*v/%d-1", maxval);
	else
		snprintf(buf, cap, "v/%d", maxval);
	return buf;
}

void data_help_sets(FILE *f, int indent)
{
	char buf[32];
	for (const struct data_info *i = data_table; i->name; i++) {
		fprintf(f, "%*s%-14s %dx%dx%d, %d classes, x = %s\n", indent, "", i->name,
			i->c, i->h, i->w, i->classes,
			formula(buf, sizeof buf, i->maxval, i->centered));
		fprintf(f, "%*s%-14s %s\n", indent, "", "", i->summary);
	}
}

void data_help_until(FILE *f, int indent)
{
	for (const struct data_info *i = data_table; i->name; i++)
		if (i->until > 0)
			fprintf(f, "%*s%-14s %g\n", indent, "", i->name, i->until);
}

int data_split_parse(const char *s, enum data_split *out)
{
	if (!strcmp(s, "train"))
		*out = DATA_TRAIN;
	else if (!strcmp(s, "test"))
		*out = DATA_TEST;
	else
		return mp_error("invalid split '%s' (train or test)", s);
	return 0;
}

int data_norm_parse(const char *s, enum data_norm *out)
{
	if (!strcmp(s, "authors"))
		*out = DATA_NORM_AUTHORS;
	else if (!strcmp(s, "none"))
		*out = DATA_NORM_NONE;
	else
		return mp_error("invalid normalisation '%s' (authors or none)", s);
	return 0;
}

const char *data_split_str(enum data_split s)
{
	return s == DATA_TEST ? "test" : "train";
}

size_t data_dirs(const struct data_opts *o, const struct data_info *info,
		 char *dirs[2])
{
	if (o->dir) {
		dirs[0] = xstrdup(o->dir);
		return 1;
	}
	const char *base = getenv("MEMPROBE_DATA");
	if (!base || !*base)
		base = "data";
	dirs[0] = data_path(base, info->name);
	if (!info->system)
		return 1;
	dirs[1] = xstrdup(info->system);
	return 2;
}

void data_dirs_free(char *dirs[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
}

char *data_path(const char *dir, const char *name)
{
	if (!*dir || !strcmp(dir, "."))
		return xstrdup(name);
	size_t n = strlen(dir);
	return xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

int data_is_file(const char *path)
{
	struct stat st;
	return !stat(path, &st) && S_ISREG(st.st_mode);
}

int data_is_dir(const char *path)
{
	struct stat st;
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int data_gz_check(gzFile f, const char *path)
{
	int zerr;
	const char *msg = gzerror(f, &zerr);
	if (zerr == Z_OK)
		return 0;
	if (zerr == Z_BUF_ERROR)
		return mp_error("'%s' is truncated (the gzip data end early)", path);
	if (zerr == Z_ERRNO)
		return mp_error("cannot read '%s': %s", path, strerror(errno));
	/* zlib's message is "PATH: what"; keep the what. */
	size_t n = strlen(path);
	if (!strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2))
		msg += n + 2;
	return mp_error("'%s': corrupt gzip data: %s", path, msg);
}

void data_add_source(struct data_set *d, const char *path)
{
	const char *old = meta_get(&d->meta, "data.source");
	if (old && *old) {
		char *s = xasprintf("%s %s", old, path);
		meta_set(&d->meta, "data.source", "%s", s);
		free(s);
	} else {
		meta_set(&d->meta, "data.source", "%s", path);
	}
}

void data_truncate(struct data_set *d, size_t limit)
{
	if (limit && limit < d->n)
		d->n = limit;
}

int data_load(struct data_set *d, const struct data_opts *o)
{
	memset(d, 0, sizeof *d);
	meta_init(&d->meta);
	d->info = data_find(o->name ? o->name : "");
	d->split = o->split;
	if (!d->info)
		return -1;
	d->c = d->info->c;
	d->h = d->info->h;
	d->w = d->info->w;
	d->classes = d->info->classes;
	d->maxval = d->info->maxval;
	d->centered = d->info->centered;
	if (d->info->load(d, o)) {
		data_release(d);
		return -1;
	}
	MP_ASSERT(d->y && (d->pix || d->rows) && d->c > 0 && d->h > 0 && d->w > 0);
	data_truncate(d, o->limit);
	return 0;
}

int data_rows(struct data_set *d, size_t first, size_t count, uint8_t *out)
{
	MP_ASSERT(first + count <= d->n);
	if (d->rows)
		return d->rows(d, first, count, out);
	size_t row = (size_t)d->c * d->h * d->w;
	memcpy(out, d->pix + first * row, count * row);
	return 0;
}

void data_normalize(float *out, const uint8_t *in, size_t n,
		    const struct data_set *d, enum data_norm norm)
{
	/* A table per value: the same float32 arithmetic as torchvision's
	 * ToTensor (v/255 in float32) then Normalize((0.5,), (0.5,)), so the
	 * inputs equal the authors' bit for bit. */
	float lut[256];
	for (int v = 0; v < 256; v++) {
		if (norm == DATA_NORM_NONE) {
			lut[v] = (float)v;
		} else {
			float t = (float)v / (float)d->maxval;
			lut[v] = d->centered ? (t - 0.5f) / 0.5f : t;
		}
	}
	for (size_t i = 0; i < n; i++)
		out[i] = lut[in[i]];
}

const char *data_norm_formula(const struct data_set *d, enum data_norm norm,
			      char *buf, size_t cap)
{
	if (norm == DATA_NORM_NONE) {
		snprintf(buf, cap, "v");
		return buf;
	}
	return formula(buf, cap, d->maxval, d->centered);
}

int data_write(struct data_set *d, struct npz_writer *w, enum data_norm norm,
	       const struct meta *extra, int progress)
{
	struct meta m = META_INIT;
	struct npy_header h;
	char buf[64];
	uint8_t *raw = NULL;   /* (chunk, c, h, w) */
	float *x = NULL;       /* (chunk, c, h, w) */
	int ret = -1;

	meta_set(&m, "data.name", "%s", d->info->name);
	meta_set(&m, "data.split", "%s", data_split_str(d->split));
	meta_set(&m, "data.n", "%zu", d->n);
	meta_set(&m, "data.classes", "%d", d->classes);
	meta_set(&m, "data.shape", "%dx%dx%d", d->c, d->h, d->w);
	meta_set(&m, "data.normalize", "%s", norm == DATA_NORM_NONE ? "none" : "authors");
	meta_set(&m, "data.transform", "%s", data_norm_formula(d, norm, buf, sizeof buf));
	meta_merge(&m, &d->meta);
	if (extra)
		meta_merge(&m, extra);
	if (npz_writer_add_meta(w, &m))
		goto out;

	if (npy_header_1d(&h, NPY_I4, (int64_t)d->n) ||
	    npz_writer_add(w, "y", &h, d->y))
		goto out;

	int64_t shape[4] = { (int64_t)d->n, d->c, d->h, d->w };
	if (npy_header_init(&h, NPY_F4, 4, shape) || npz_writer_begin(w, "x", &h))
		goto out;
	size_t row = (size_t)d->c * d->h * d->w;
	size_t chunk = ((size_t)4 << 20) / row;   /* ~16 MB of float32 a chunk */
	if (chunk < 1)
		chunk = 1;
	raw = xmallocarray(chunk, row);
	x = xmallocarray(chunk * row, sizeof *x);
	for (size_t i = 0; i < d->n; i += chunk) {
		size_t k = d->n - i < chunk ? d->n - i : chunk;
		if (data_rows(d, i, k, raw))
			goto out;
		data_normalize(x, raw, k * row, d, norm);
		if (npz_writer_write(w, x, k * row * sizeof *x))
			goto out;
		if (progress) {
			fprintf(stderr, "\r%s: %zu/%zu samples", mp_progname, i + k, d->n);
			fflush(stderr);
		}
	}
	if (progress && d->n)
		fputc('\n', stderr);
	if (npz_writer_end(w))
		goto out;
	ret = 0;
out:
	free(x);
	free(raw);
	meta_release(&m);
	return ret;
}

void data_release(struct data_set *d)
{
	free(d->y);
	free(d->pix);
	if (d->priv_free)
		d->priv_free(d->priv);
	meta_release(&d->meta);
	memset(d, 0, sizeof *d);
}
