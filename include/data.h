/*
 * data.h: the real data sets, read from their original distribution files
 * (MNIST and Fashion-MNIST IDX files, the CIFAR binary version, scikit-
 * learn's digits CSV, Tiny ImageNet's zip of JPEGs) and written as data
 * streams (DESIGN.md: meta.txt, `y` int32 (N), `x` float32 (N,C,H,W)).
 *
 * A loaded set holds its labels and its raw pixel values (0..maxval, one
 * byte each); the float32 `x` is only made a chunk at a time while writing,
 * so a set never exists twice in memory. Tiny ImageNet keeps its JPEGs
 * compressed and decodes them a chunk at a time, in output order.
 *
 *   struct data_opts o = DATA_OPTS_INIT;
 *   struct data_set d;
 *   o.name = "mnist";
 *   if (data_load(&d, &o)) die_lib();
 *   if (data_write(&d, w, DATA_NORM_AUTHORS, &meta)) die_lib();
 *   data_release(&d);
 *
 * Where files are looked for: `o.dir` (a directory, or for the sets that
 * come as one file, that file), else $MEMPROBE_DATA/NAME (MEMPROBE_DATA
 * defaults to `data` in the working directory), plus a system location
 * where Debian installs a set (Fashion-MNIST, scikit-learn's digits).
 *
 * The sets are a table (data_table, in data.c), the one place that knows
 * what sets there are and, for each, its loader, where its files are, its
 * shape, classes and normalisation, and the accuracy the authors trained
 * it to; mkdata's NAME, its --help and errors, train's --until default
 * and (checked by tests/manlists.bats) the man pages come from it.
 */
#ifndef MEMPROBE_DATA_H
#define MEMPROBE_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "meta.h"
#include "npz.h"

enum data_split { DATA_TRAIN, DATA_TEST };
enum data_norm { DATA_NORM_AUTHORS, DATA_NORM_NONE };

struct data_opts {
	const char *name;       /* a name in data_table */
	enum data_split split;
	size_t limit;           /* keep the first `limit` samples; 0: all */
	const char *dir;        /* --data-dir, or NULL for the default places */
	int coarse;             /* cifar100: the 20 superclasses as labels */
};

#define DATA_OPTS_INIT { NULL, DATA_TRAIN, 0, NULL, 0 }

struct data_set {
	const struct data_info *info;   /* its entry in data_table */
	enum data_split split;
	size_t n;               /* samples */
	/* The table's, unless the files say otherwise (MNIST's image size,
	 * Tiny ImageNet's wnids, CIFAR-100's --coarse labels): */
	int c, h, w;            /* one sample's shape */
	int classes;
	int maxval;             /* raw values are 0..maxval: 255, 16 for digits */
	int centered;           /* authors' normalisation: 1: 2v/max-1, 0: v/max */
	int32_t *y;             /* (n) */
	uint8_t *pix;           /* (n, c, h, w) raw values, or NULL when rows() makes them */
	/* Raw values of samples first..first+count-1 into out (count, c, h, w);
	 * NULL when pix holds them. */
	int (*rows)(struct data_set *d, size_t first, size_t count, uint8_t *out);
	void *priv;
	void (*priv_free)(void *priv);
	struct meta meta;       /* keys the loader adds (data.source, ...) */
};

/* A data set mkdata knows: what is known of it before a file is read. */
struct data_info {
	const char *name;       /* mkdata NAME, data.name; its folder
				 * $MEMPROBE_DATA/NAME */
	const char *summary;    /* one line for --help: the files it reads */
	/* The format's loader (below): fills n, y, pix or rows, data.source,
	 * and what the files decide of the shape and classes. */
	int (*load)(struct data_set *d, const struct data_opts *o);
	const char *system;     /* a second folder, where Debian installs it,
				 * or NULL */
	int c, h, w;            /* one sample's shape */
	int classes;
	int maxval, centered;   /* as in struct data_set */
	double until;           /* the authors' stopping accuracy (percent),
				 * or 0 where they had none */
};

/* The table, in --help's order; the entry after the last has no name. */
extern const struct data_info data_table[];

/* The entry for a name, or NULL with a message naming the known ones:
 * "unknown data set 'NAME' (mnist, ... or tiny-imagenet)". */
const struct data_info *data_find(const char *name);
/* "mnist, fashion-mnist, cifar10, cifar100, digits or tiny-imagenet",
 * malloc'd. */
char *data_names(void);
/* --help's lists, one set a line (or two) after `indent` spaces: the
 * shape, classes, normalisation and files (mkdata); the stopping
 * accuracy of the sets that have one (train). */
void data_help_sets(FILE *f, int indent);
void data_help_until(FILE *f, int indent);
/* Parse "train"/"test", "authors"/"none". -1 with a message otherwise. */
int data_split_parse(const char *s, enum data_split *out);
int data_norm_parse(const char *s, enum data_norm *out);
const char *data_split_str(enum data_split s);

/* Load a set. On failure d is released and the message says which file
 * was looked for where, or which file is broken and how. */
int data_load(struct data_set *d, const struct data_opts *o);
/* Raw values of samples first..first+count-1: (count, c, h, w). */
int data_rows(struct data_set *d, size_t first, size_t count, uint8_t *out);
/* Convert raw values to x as the network sees it. Authors: x = 2v/max - 1
 * for centred sets, computed in float32 as torchvision does it
 * ((v/max - 0.5)/0.5), else v/max; none: x = v. */
void data_normalize(float *out, const uint8_t *in, size_t n,
		    const struct data_set *d, enum data_norm norm);
/* The formula recorded in meta.txt ("2*v/255-1", "v/255", "v"). */
const char *data_norm_formula(const struct data_set *d, enum data_norm norm,
			      char *buf, size_t cap);
/* Write the data stream: meta.txt (the data.* keys, then `extra`'s),
 * `y` int32 (n), `x` float32 (n, c, h, w) streamed a chunk at a time.
 * progress: report on stderr while writing. */
int data_write(struct data_set *d, struct npz_writer *w, enum data_norm norm,
	       const struct meta *extra, int progress);
void data_release(struct data_set *d);

/* ---- for the loaders (lib/data/idx.c, cifar.c, digits.c, tinyimagenet.c) ---- */

/* The directories to search for a set: o->dir alone when given, else
 * $MEMPROBE_DATA/NAME (or data/NAME) then the set's system folder if it
 * has one. Returns the count; dirs[] are malloc'd (free with
 * data_dirs_free). */
size_t data_dirs(const struct data_opts *o, const struct data_info *info,
		 char *dirs[2]);
void data_dirs_free(char *dirs[2], size_t n);
/* "DIR/NAME" (malloc'd); NAME alone when DIR is "" or ".". */
char *data_path(const char *dir, const char *name);
int data_is_file(const char *path);
int data_is_dir(const char *path);
/* After a short or failed gzread/gzgets: 0 if zlib reports no error,
 * else -1 with a message naming path (truncated, corrupt, or I/O). */
struct gzFile_s;
int data_gz_check(struct gzFile_s *f, const char *path);
/* Append a file to the set's data.source list. */
void data_add_source(struct data_set *d, const char *path);
/* Keep the first `limit` samples of a held set (pix and y). */
void data_truncate(struct data_set *d, size_t limit);

/* The formats, called by data_load with d's info, split, shape, classes,
 * maxval and centered set from the table. Each fills n, y, and pix or
 * rows (and what its files decide of the rest), or returns -1 with a
 * message. */
int idx_load_set(struct data_set *d, const struct data_opts *o);      /* mnist, fashion-mnist */
int cifar_load_set(struct data_set *d, const struct data_opts *o);    /* cifar10, cifar100 */
int digits_load_set(struct data_set *d, const struct data_opts *o);   /* digits */
int tinyimagenet_load_set(struct data_set *d, const struct data_opts *o);

/* One IDX file (unsigned byte data), raw or gzip-compressed: checks the
 * magic (0x0000080N for N dimensions, N = ndim), reads the dimensions and
 * exactly their product of bytes (a short file is truncated, a longer one
 * an error too). dims[] gets the sizes; *data is malloc'd. */
int idx_read(const char *path, int ndim, uint32_t *dims, uint8_t **data,
	     size_t *len);

#endif
