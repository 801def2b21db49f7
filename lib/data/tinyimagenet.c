/*
 * tinyimagenet.c: Tiny ImageNet (200 classes of 64x64 colour JPEGs) read
 * directly from tiny-imagenet-200.zip through libarchive, or from the
 * extracted tiny-imagenet-200/ folder, with no rearranging of folders:
 *
 *   train  train/<wnid>/images/<file>.JPEG, in torchvision ImageFolder order:
 *          by class, then by file name
 *   test   val/images/<file>.JPEG, labelled by val/val_annotations.txt (tab-
 *          separated: file name, wnid, box), in file name order
 *
 * The class of a wnid is its position in the sorted list of wnids.txt
 * (ImageFolder's sorted folder names). JPEGs are held compressed (zip
 * members arrive in archive order, the output wants another) and decoded
 * a chunk at a time while `x` is written, with libjpeg-turbo's TurboJPEG
 * API: accurate integer IDCT and fancy upsampling, libjpeg's defaults, as
 * PIL decodes them; grayscale JPEGs are expanded to RGB (R = G = B).
 */
#include "data.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <turbojpeg.h>

#include "util.h"

#define TIN_ROOT "tiny-imagenet-200"
#define TIN_SIDE 64
#define TIN_PIX (3 * TIN_SIDE * TIN_SIDE)

struct tin_item {
	char *key;          /* path below the root: sort key and name in messages */
	char *wnid;         /* train: the class folder; test: from the annotations */
	int label;
	uint8_t *jpeg;      /* the compressed bytes (zip), or NULL: read `file` */
	size_t len;
	char *file;         /* folder variant: the path to read */
};

struct tin {
	struct tin_item *it;
	size_t n, alloc;
	char *src;          /* the zip or the root folder, for messages */
	int is_zip;
	tjhandle tj;
	uint8_t *rgb;       /* (64, 64, 3) one decoded image */
};

static void tin_free(void *p)
{
	struct tin *t = p;
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->it[i].key);
		free(t->it[i].wnid);
		free(t->it[i].jpeg);
		free(t->it[i].file);
	}
	free(t->it);
	free(t->src);
	if (t->tj)
		tjDestroy(t->tj);
	free(t->rgb);
	free(t);
}

static int is_image_name(const char *name)
{
	static const char *const ext[] = { ".jpeg", ".jpg" };
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t k = strlen(ext[i]);
		if (n > k && !strcasecmp(name + n - k, ext[i]))
			return 1;
	}
	return 0;
}

static struct tin_item *tin_add(struct tin *t, const char *key, const char *wnid,
				size_t wlen)
{
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? 2 * t->alloc : 1024;
		t->it = xreallocarray(t->it, t->alloc, sizeof *t->it);
	}
	struct tin_item *it = &t->it[t->n++];
	memset(it, 0, sizeof *it);
	it->key = xstrdup(key);
	if (wnid) {
		it->wnid = xmalloc(wlen + 1);
		memcpy(it->wnid, wnid, wlen);
		it->wnid[wlen] = '\0';
	}
	return it;
}

/* Does the path below the root name an image of the split? For train,
 * wnid and wlen get the class folder. */
static int match_image(const char *rel, enum data_split split, const char **wnid,
		       size_t *wlen)
{
	if (split == DATA_TEST) {
		const char *pre = "val/images/";
		size_t k = strlen(pre);
		return !strncmp(rel, pre, k) && !strchr(rel + k, '/') &&
		       is_image_name(rel + k);
	}
	if (strncmp(rel, "train/", 6))
		return 0;
	const char *w = rel + 6, *slash = strchr(w, '/');
	if (!slash || slash == w || strncmp(slash, "/images/", 8))
		return 0;
	const char *file = slash + 8;
	if (strchr(file, '/') || !is_image_name(file))
		return 0;
	*wnid = w;
	*wlen = (size_t)(slash - w);
	return 1;
}

/* The rest of the current archive member, whole. */
static int arc_slurp(struct archive *a, struct archive_entry *e, const char *src,
		     const char *name, uint8_t **out, size_t *len)
{
	/* The size in the zip is a claim: trusted up to 1 MiB (a JPEG is a
	 * few KiB), beyond that the buffer grows as the bytes arrive. */
	la_int64_t claim = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	size_t n = 0, cap = claim <= 0 ? 4096 : claim < ((la_int64_t)1 << 20) ?
		(size_t)claim + 1 : (size_t)1 << 20;
	uint8_t *buf = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		la_ssize_t r = archive_read_data(a, buf + n, cap - n);
		if (r < 0) {
			free(buf);
			return mp_error("'%s': member '%s': %s", src, name,
					archive_error_string(a));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int file_slurp(const char *path, uint8_t **out, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return mp_error("cannot open '%s': %s", path, strerror(errno));
	size_t n = 0, cap = 16384;
	uint8_t *buf = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t r = fread(buf + n, 1, cap - n, fp);
		n += r;
		if (r == 0)
			break;
	}
	int bad = ferror(fp);
	fclose(fp);
	if (bad) {
		free(buf);
		return mp_error("cannot read '%s': %s", path, strerror(errno));
	}
	*out = buf;
	*len = n;
	return 0;
}

static int text_slurp(const char *path, char **out)
{
	uint8_t *buf;
	size_t len;
	if (file_slurp(path, &buf, &len))
		return -1;
	buf = xrealloc(buf, len + 1);
	buf[len] = '\0';
	*out = (char *)buf;
	return 0;
}

/* Walk the zip: hold the split's JPEGs, wnids.txt and the annotations. */
static int scan_zip(struct tin *t, enum data_split split, char **wnids,
		    char **annot)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r, ret = -1;

	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, t->src, (size_t)1 << 16) != ARCHIVE_OK) {
		mp_error("cannot read '%s': %s", t->src, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e), *rel, *wnid = NULL;
		size_t wlen = 0, len = 0;
		uint8_t *data = NULL;
		char **text = NULL;
		if (!name || archive_entry_filetype(e) != AE_IFREG)
			continue;
		rel = name;
		if (!strncmp(rel, TIN_ROOT "/", sizeof TIN_ROOT))
			rel += sizeof TIN_ROOT;
		if (!strcmp(rel, "wnids.txt"))
			text = wnids;
		else if (split == DATA_TEST && !strcmp(rel, "val/val_annotations.txt"))
			text = annot;
		else if (!match_image(rel, split, &wnid, &wlen))
			continue;
		if (arc_slurp(a, e, t->src, name, &data, &len))
			goto out;
		if (text) {
			if (*text) {
				free(data);
				mp_error("'%s' holds '%s' twice", t->src, name);
				goto out;
			}
			data[len] = '\0';    /* arc_slurp leaves room: cap > len */
			*text = (char *)data;
			continue;
		}
		struct tin_item *it = tin_add(t, rel, wnid, wlen);
		it->jpeg = data;
		it->len = len;
	}
	if (r != ARCHIVE_EOF) {
		mp_error("'%s': %s", t->src, archive_error_string(a));
		goto out;
	}
	ret = 0;
out:
	archive_read_free(a);
	return ret;
}

static int list_images(struct tin *t, const char *dir, const char *relpre,
		       const char *wnid)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	if (!dp)
		return mp_error("cannot read folder '%s': %s", dir, strerror(errno));
	while ((de = readdir(dp))) {
		if (!is_image_name(de->d_name))
			continue;
		char *path = data_path(dir, de->d_name);
		if (data_is_file(path)) {
			char *key = xasprintf("%s%s", relpre, de->d_name);
			struct tin_item *it = tin_add(t, key, wnid, wnid ? strlen(wnid) : 0);
			it->file = path;
			free(key);
		} else {
			free(path);
		}
	}
	closedir(dp);
	return 0;
}

/* Walk the extracted folder: list the split's JPEGs (read later). */
static int scan_folder(struct tin *t, enum data_split split, char **wnids,
		       char **annot)
{
	int ret = -1;
	char *p = data_path(t->src, "wnids.txt");
	if (text_slurp(p, wnids))
		goto out;
	free(p);
	p = NULL;
	if (split == DATA_TEST) {
		p = data_path(t->src, "val/val_annotations.txt");
		if (text_slurp(p, annot))
			goto out;
		free(p);
		p = data_path(t->src, "val/images");
		ret = list_images(t, p, "val/images/", NULL);
		goto out;
	}
	p = data_path(t->src, "train");
	DIR *dp = opendir(p);
	struct dirent *de;
	if (!dp) {
		mp_error("cannot read folder '%s': %s", p, strerror(errno));
		goto out;
	}
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.')
			continue;
		char *sub = xasprintf("%s/%s/images", p, de->d_name);
		char *pre = xasprintf("train/%s/images/", de->d_name);
		int rc = data_is_dir(sub) ? list_images(t, sub, pre, de->d_name) : 0;
		free(pre);
		free(sub);
		if (rc) {
			closedir(dp);
			goto out;
		}
	}
	closedir(dp);
	ret = 0;
out:
	free(p);
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_train(const void *a, const void *b)
{
	const struct tin_item *x = a, *y = b;
	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int cmp_key(const void *a, const void *b)
{
	const struct tin_item *x = a, *y = b;
	return strcmp(x->key, y->key);
}

/* Split text into trimmed, non-empty lines (pointers into text). */
static size_t split_lines(char *text, char ***out)
{
	size_t n = 0, alloc = 0;
	char **v = NULL;
	for (char *s = text; s && *s;) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		char *end = s + strlen(s);
		while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s) {
			if (n == alloc) {
				alloc = alloc ? 2 * alloc : 256;
				v = xreallocarray(v, alloc, sizeof *v);
			}
			v[n++] = s;
		}
		s = nl ? nl + 1 : NULL;
	}
	*out = v;
	return n;
}

/* Labels from the sorted wnids; for test, wnids from the annotations. */
static int assign_labels(struct tin *t, enum data_split split, char *wnids,
			 char *annot, int *classes)
{
	char **w = NULL, **ann = NULL;
	size_t nw = split_lines(wnids, &w), na = 0;
	int ret = -1;

	if (nw == 0) {
		mp_error("'%s': wnids.txt lists no classes", t->src);
		goto out;
	}
	if (nw > 1)                /* qsort's base may not be NULL, even for 0 */
		qsort(w, nw, sizeof *w, cmp_str);
	for (size_t i = 1; i < nw; i++)
		if (!strcmp(w[i], w[i - 1])) {
			mp_error("'%s': wnids.txt lists '%s' twice", t->src, w[i]);
			goto out;
		}
	*classes = (int)nw;
	if (split == DATA_TEST) {
		/* Each line: file name, TAB, wnid, TAB, box; cut after the wnid. */
		na = split_lines(annot, &ann);
		for (size_t i = 0; i < na; i++) {
			char *tab = strchr(ann[i], '\t');
			if (!tab) {
				mp_error("'%s': val_annotations.txt line '%s' has no wnid",
					 t->src, ann[i]);
				goto out;
			}
			*tab = '\0';
			char *tab2 = strchr(tab + 1, '\t');
			if (tab2)
				*tab2 = '\0';
		}
		if (na > 1)
			qsort(ann, na, sizeof *ann, cmp_str);
		for (size_t i = 1; i < na; i++)
			if (!strcmp(ann[i], ann[i - 1])) {
				mp_error("'%s': val_annotations.txt lists '%s' twice",
					 t->src, ann[i]);
				goto out;
			}
		if (na != t->n) {
			mp_error("'%s': val_annotations.txt lists %zu images but "
				 "val/images holds %zu", t->src, na, t->n);
			goto out;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		struct tin_item *it = &t->it[i];
		if (split == DATA_TEST) {
			const char *file = it->key + strlen("val/images/");
			char **hit = bsearch(&file, ann, na, sizeof *ann, cmp_str);
			if (!hit) {
				mp_error("'%s': '%s' has no line in val_annotations.txt",
					 t->src, it->key);
				goto out;
			}
			const char *wn = *hit + strlen(*hit) + 1;
			it->wnid = xstrdup(wn);
		}
		char **hit = bsearch(&it->wnid, w, nw, sizeof *w, cmp_str);
		if (!hit) {
			mp_error("'%s': the class '%s' of '%s' is not in wnids.txt",
				 t->src, it->wnid, it->key);
			goto out;
		}
		it->label = (int)(hit - w);
	}
	if (t->n > 1)
		qsort(t->it, t->n, sizeof *t->it, split == DATA_TEST ? cmp_key : cmp_train);
	ret = 0;
out:
	free(ann);
	free(w);
	return ret;
}

static int tin_rows(struct data_set *d, size_t first, size_t count, uint8_t *out)
{
	struct tin *t = d->priv;
	for (size_t i = 0; i < count; i++) {
		struct tin_item *it = &t->it[first + i];
		uint8_t *buf = it->jpeg, *o = out + i * TIN_PIX;
		size_t len = it->len;
		char where[4096];
		int w, h, sub, cs;
		snprintf(where, sizeof where, "%s%s%s", t->is_zip ? t->src : "",
			 t->is_zip ? ": " : "", t->is_zip ? it->key : it->file);
		if (!buf && file_slurp(it->file, &buf, &len))
			return -1;
		int bad = tjDecompressHeader3(t->tj, buf, (unsigned long)len, &w, &h,
					      &sub, &cs);
		if (!bad && (w != TIN_SIDE || h != TIN_SIDE)) {
			if (buf != it->jpeg)
				free(buf);
			return mp_error("'%s' is %dx%d pixels, not %dx%d", where, w, h,
					TIN_SIDE, TIN_SIDE);
		}
		if (!bad)
			bad = tjDecompress2(t->tj, buf, (unsigned long)len, t->rgb, TIN_SIDE,
					    0, TIN_SIDE, TJPF_RGB, 0);
		if (buf != it->jpeg)
			free(buf);
		if (bad)
			return mp_error("'%s': cannot decode the JPEG: %s", where,
					tjGetErrorStr2(t->tj));
		/* (H, W, 3) to (3, H, W) */
		for (int c = 0; c < 3; c++)
			for (int p = 0; p < TIN_SIDE * TIN_SIDE; p++)
				o[c * TIN_SIDE * TIN_SIDE + p] = t->rgb[3 * p + c];
	}
	return 0;
}

int tinyimagenet_load_set(struct data_set *d, const struct data_opts *o)
{
	char *dirs[2], *wnids = NULL, *annot = NULL;
	size_t nd = data_dirs(o, d->info, dirs);
	struct tin *t = xcalloc(1, sizeof *t);
	int classes = 0, ret = -1;

	d->priv = t;
	d->priv_free = tin_free;
	if (o->dir && data_is_file(o->dir)) {
		t->src = xstrdup(o->dir);
		t->is_zip = 1;
	} else {
		char *zip = data_path(dirs[0], TIN_ROOT ".zip");
		char *root = data_path(dirs[0], TIN_ROOT);
		char *w0 = data_path(dirs[0], "wnids.txt");
		if (data_is_file(zip)) {
			t->src = zip;
			t->is_zip = 1;
			zip = NULL;
		} else if (data_is_dir(root)) {
			t->src = root;
			root = NULL;
		} else if (data_is_file(w0)) {
			t->src = xstrdup(dirs[0]);
		}
		free(w0);
		free(root);
		free(zip);
		if (!t->src) {
			mp_error("no '" TIN_ROOT ".zip' or '" TIN_ROOT "/' in '%s': put "
				 "Tiny ImageNet there (" TIN_ROOT ".zip, as distributed at "
				 "http://cs231n.stanford.edu/" TIN_ROOT ".zip)%s", dirs[0],
				 o->dir ? "" : ", or give --data-dir DIR");
			goto out;
		}
	}
	if ((t->is_zip ? scan_zip : scan_folder)(t, o->split, &wnids, &annot))
		goto out;
	if (!wnids) {
		mp_error("'%s' has no '" TIN_ROOT "/wnids.txt'", t->src);
		goto out;
	}
	if (o->split == DATA_TEST && !annot) {
		mp_error("'%s' has no '" TIN_ROOT "/val/val_annotations.txt'", t->src);
		goto out;
	}
	if (t->n == 0) {
		mp_error("'%s' holds no images under '%s'", t->src,
			 o->split == DATA_TEST ? "val/images/" : "train/<wnid>/images/");
		goto out;
	}
	if (assign_labels(t, o->split, wnids, annot, &classes))
		goto out;
	if (!(t->tj = tjInitDecompress())) {
		mp_error("cannot start the JPEG decoder: %s", tjGetErrorStr2(NULL));
		goto out;
	}
	t->rgb = xmalloc(TIN_PIX);
	d->n = t->n;
	d->classes = classes;
	d->y = xmallocarray(t->n, sizeof *d->y);
	for (size_t i = 0; i < t->n; i++)
		d->y[i] = t->it[i].label;
	d->rows = tin_rows;
	data_add_source(d, t->src);
	ret = 0;
out:
	free(annot);
	free(wnids);
	data_dirs_free(dirs, nd);
	return ret;
}
