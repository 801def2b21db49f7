/*
 * npzcat: a test-only driver of the stream library (lib/stream/npy.c, lib/stream/npz.c,
 * lib/stream/meta.c), so that tests/stream.bats can exercise it from the shell:
 * list members with checksums, print values, copy streams member by member,
 * write streams of chosen dtypes, shapes and levels (and fail on purpose).
 * Built by `make units` into build/tests/tools/npzcat; never installed.
 *
 * Checksums are zlib's crc32 of a member's data bytes (after the .npy
 * header), so a test can compare with Python's zlib.crc32(a.tobytes()).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "meta.h"
#include "npy.h"
#include "npz.h"
#include "util.h"

static const char usage[] =
	"npzcat list [-b BYTES] [FILE] | values [FILE] NAME | meta [FILE] | "
	"rows [-r ROWS] [-8] [FILE] NAME | copy [-z N] [-b BYTES] IN OUT | "
	"bundle [-z N] IN OUT | write [-z N] [-o OUT] [-m K=V] [-c BYTES] "
	"[-f K] [-F] SPEC...";

struct npzcat_opts {
	size_t bufsize;          /* read / write piece size */
	size_t rows;             /* rows per read_rows call */
	int f64;                 /* rows: convert to float64 */
	int level;
	const char *output;      /* NULL: stdout */
	int fail_after;          /* write: abort after this many members (-1: never) */
	int fail_late;           /* write: abort after the last member instead */
	struct meta meta;        /* write: meta.txt (written if non-empty) */
};

static void help(void)
{
	printf("usage: %s\n\n"
	       "Test driver of the stream library (not installed).\n\n"
	       "  list      each member: NAME DTYPE SHAPE CRC32 (text members:\n"
	       "            NAME text LENGTH CRC32), tab-separated\n"
	       "  values    the elements of member NAME, one per line\n"
	       "  meta      the meta.txt member as parsed and formatted again\n"
	       "  rows      member NAME read ROWS rows at a time as float32 (-8:\n"
	       "            float64); prints the crc32 of the converted bytes\n"
	       "  copy      copy IN to OUT member by member (arrays with\n"
	       "            npz_writer_copy, text members as text)\n"
	       "  bundle    npz_bundle_load IN, npz_bundle_save OUT\n"
	       "  write     write members given as NAME:DTYPE:SHAPE[:FILL], DTYPE\n"
	       "            f4 f8 i4 i8 u1, SHAPE like 3x4 ('' for a scalar),\n"
	       "            FILL seq (default), zero, mnist (pixels like\n"
	       "            normalised MNIST) or rand (activations)\n\n"
	       "  -b, --bufsize BYTES   read or write in pieces of BYTES\n"
	       "  -r, --rows ROWS       rows per call (rows; default 7)\n"
	       "  -8, --f64             rows: convert to float64\n"
	       "  -z, --compress N      deflate level 0..9 (0 = store)\n"
	       "  -o, --output FILE     write: output file (default stdout)\n"
	       "  -m, --meta K=V        write: a meta.txt line (repeatable)\n"
	       "  -c, --chunk BYTES     write: stream members in pieces\n"
	       "  -f, --fail-after K    write: abort after K members, exit 1\n"
	       "  -F, --fail-late       write: abort instead of closing, exit 1\n"
	       "  -h, --help            this help\n", usage);
}

/* ---- reading ---- */

static int cmd_list(const char *path, const struct npzcat_opts *o)
{
	struct npz_reader *r = npz_reader_open(path);
	unsigned char *buf = xmalloc(o->bufsize);
	int rc;
	if (!r)
		die_lib();
	while ((rc = npz_reader_next(r)) > 0) {
		uLong crc = crc32(0, NULL, 0);
		ssize_t n;
		size_t total = 0;
		while ((n = npz_reader_read(r, buf, o->bufsize)) > 0) {
			crc = crc32(crc, buf, (uInt)n);
			total += (size_t)n;
		}
		if (n < 0)
			die_lib();
		if (npz_reader_is_array(r)) {
			char shape[160];
			const struct npy_header *h = npz_reader_header(r);
			printf("%s\t%s\t%s\t%08lx\n", npz_reader_name(r),
			       npy_dtype_str(h->dtype),
			       npy_shape_str(h, shape, sizeof shape), crc);
		} else {
			printf("%s\ttext\t%zu\t%08lx\n", npz_reader_name(r), total, crc);
		}
	}
	if (rc < 0)
		die_lib();
	npz_reader_free(r);
	free(buf);
	return 0;
}

/* Advance r to member `name`, skipping others; dies if absent. */
static void seek_member(struct npz_reader *r, const char *name)
{
	int rc;
	while ((rc = npz_reader_next(r)) > 0)
		if (!strcmp(npz_reader_name(r), name))
			return;
	if (rc < 0)
		die_lib();
	die("%s: no member '%s'", npz_reader_path(r), name);
}

/* A reader of path at member name (an array, if array); dies if it cannot. */
static struct npz_reader *open_member(const char *path, const char *name, int array)
{
	struct npz_reader *r = npz_reader_open(path);
	if (!r)
		die_lib();
	seek_member(r, name);
	if (array && !npz_reader_is_array(r))
		die("member '%s' is not an array", name);
	return r;
}

/* Read r to its end, so that a damaged tail is still an error. */
static void drain(struct npz_reader *r)
{
	int rc;
	while ((rc = npz_reader_next(r)) > 0)
		;
	if (rc < 0)
		die_lib();
}

static int cmd_values(const char *path, const char *name)
{
	struct npz_reader *r = open_member(path, name, 1);
	const struct npy_header *h = npz_reader_header(r);
	enum npy_dtype t = h->dtype;
	size_t count = h->count;
	void *p = npz_reader_load(r);
	if (!p)
		die_lib();
	for (size_t i = 0; i < count; i++) {
		switch (t) {
		case NPY_F4: printf("%.9g\n", (double)((float *)p)[i]); break;
		case NPY_F8: printf("%.17g\n", ((double *)p)[i]); break;
		case NPY_I4: printf("%" PRId32 "\n", ((int32_t *)p)[i]); break;
		case NPY_I8: printf("%" PRId64 "\n", ((int64_t *)p)[i]); break;
		case NPY_U1: printf("%u\n", ((uint8_t *)p)[i]); break;
		}
	}
	free(p);
	drain(r);
	npz_reader_free(r);
	return 0;
}

static int cmd_meta(const char *path)
{
	struct npz_reader *r = open_member(path, "meta.txt", 0);
	struct meta m = META_INIT;
	size_t len;
	if (npz_reader_load_meta(r, &m))
		die_lib();
	drain(r);
	char *t = meta_format(&m, &len);
	fwrite(t, 1, len, stdout);
	free(t);
	meta_release(&m);
	npz_reader_free(r);
	return 0;
}

static int cmd_rows(const char *path, const char *name, const struct npzcat_opts *o)
{
	struct npz_reader *r = open_member(path, name, 1);
	const struct npy_header *h = npz_reader_header(r);
	size_t nrows = h->ndim ? (size_t)h->shape[0] : 1;
	size_t width = npy_row_count(h), isz = o->f64 ? 8 : 4;
	unsigned char *buf = xmallocarray(o->rows * (width ? width : 1), isz);
	uLong crc = crc32(0, NULL, 0);
	for (size_t done = 0; done < nrows; ) {
		size_t k = nrows - done < o->rows ? nrows - done : o->rows;
		int rc = o->f64 ? npz_reader_read_rows_f64(r, (double *)buf, k)
				: npz_reader_read_rows_f32(r, (float *)buf, k);
		if (rc)
			die_lib();
		crc = crc32(crc, buf, (uInt)(k * width * isz));
		done += k;
	}
	drain(r);
	printf("%08lx\n", crc);
	free(buf);
	npz_reader_free(r);
	return 0;
}

/* ---- copying ---- */

/* Abort w (its output goes) and die with the library's message. */
static noreturn void abort_and_die(struct npz_writer *w)
{
	npz_writer_abort(w);
	die_lib();
}

static int cmd_copy(const char *in, const char *out, const struct npzcat_opts *o)
{
	struct npz_reader *r = npz_reader_open(in);
	struct npz_writer *w;
	int rc;
	if (!r)
		die_lib();
	w = npz_writer_open(out, o->level);
	if (!w)
		die_lib();
	while ((rc = npz_reader_next(r)) > 0) {
		if (npz_reader_is_array(r)) {
			if (npz_writer_copy(w, r, NULL))
				abort_and_die(w);
		} else {
			size_t len;
			char *t = npz_reader_load_text(r, &len);
			int bad = !t || npz_writer_add_text(w, npz_reader_name(r), t, len);
			free(t);
			if (bad)
				abort_and_die(w);
		}
	}
	if (rc < 0)
		abort_and_die(w);
	npz_reader_free(r);
	if (npz_writer_close(w))
		die_lib();
	return 0;
}

static int cmd_bundle(const char *in, const char *out, const struct npzcat_opts *o)
{
	struct npz_bundle b;
	if (npz_bundle_load(&b, in))
		die_lib();
	if (npz_bundle_save(&b, out, o->level))
		die_lib();
	npz_bundle_release(&b);
	return 0;
}

/* ---- writing ---- */

struct spec {
	char name[128];
	struct npy_header h;
	char fill[16];
};

static int dtype_parse(const char *s, enum npy_dtype *t)
{
	static const char *names[] = { [NPY_F4] = "f4", [NPY_F8] = "f8",
		[NPY_I4] = "i4", [NPY_I8] = "i8", [NPY_U1] = "u1" };
	for (int i = 0; i <= NPY_U1; i++)
		if (!strcmp(s, names[i])) {
			*t = (enum npy_dtype)i;
			return 0;
		}
	return mp_error("unknown dtype '%s'", s);
}

/* NAME:DTYPE:SHAPE[:FILL] */
static int spec_parse(const char *arg, struct spec *sp)
{
	char *s = xstrdup(arg);
	char *fields[4] = { 0 };
	int nf = 0, ret = -1;
	for (char *p = s, *q; nf < 4; p = q + 1) {
		q = strchr(p, ':');
		fields[nf++] = p;
		if (!q)
			break;
		*q = '\0';
	}
	if (nf < 3) {
		mp_error("bad member spec '%s' (NAME:DTYPE:SHAPE[:FILL])", arg);
		goto out;
	}
	enum npy_dtype t = NPY_F4;
	int64_t shape[NPY_MAXDIM];
	int nd = 0;
	snprintf(sp->name, sizeof sp->name, "%s", fields[0]);
	snprintf(sp->fill, sizeof sp->fill, "%s", nf > 3 ? fields[3] : "seq");
	if (dtype_parse(fields[1], &t))
		goto out;
	for (char *p = fields[2], *q; *p; p = q + 1) {
		long v;
		q = strchr(p, 'x');
		if (q)
			*q = '\0';
		if (nd == NPY_MAXDIM) {
			mp_error("too many dimensions in '%s'", arg);
			goto out;
		}
		if (parse_long(p, 0, LONG_MAX, &v))
			goto out;
		shape[nd++] = v;
		if (!q)
			break;
	}
	if (npy_header_init(&sp->h, t, nd, shape))
		goto out;
	if (strcmp(sp->fill, "seq") && strcmp(sp->fill, "zero") &&
	    strcmp(sp->fill, "mnist") && strcmp(sp->fill, "rand")) {
		mp_error("unknown fill '%s'", sp->fill);
		goto out;
	}
	ret = 0;
out:
	free(s);
	return ret;
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Element i of a member. seq is simple enough for NumPy to reproduce:
 * f4/f8: i*0.5 - 3; i4: i*7 - 100; i8: i*2^33 - 5; u1: i*37 mod 256. */
static double value(const struct spec *sp, size_t i, uint64_t *rng)
{
	if (!strcmp(sp->fill, "zero"))
		return 0;
	if (!strcmp(sp->fill, "mnist")) {
		/* About 80% background (-1), the rest a stroke of 256 levels. */
		uint64_t z = splitmix(rng);
		if (z % 5)
			return -1.0;
		return 2.0 * (double)((z >> 8) % 256) / 255.0 - 1.0;
	}
	if (!strcmp(sp->fill, "rand")) {
		/* ReLU-like activations: half zeros, half positive noise. */
		uint64_t z = splitmix(rng);
		if (z & 1)
			return 0;
		return (double)(z >> 11) * 0x1.0p-53 * 4.0;
	}
	switch (sp->h.dtype) {
	case NPY_F4: case NPY_F8: return (double)i * 0.5 - 3;
	case NPY_I4: return (double)i * 7 - 100;
	case NPY_I8: return (double)i * 8589934592.0 - 5;
	case NPY_U1: return (double)((i * 37) % 256);
	}
	return 0;
}

static void fill(const struct spec *sp, void *buf, size_t first, size_t n,
		 uint64_t *rng)
{
	for (size_t k = 0; k < n; k++) {
		double v = value(sp, first + k, rng);
		switch (sp->h.dtype) {
		case NPY_F4: ((float *)buf)[k] = (float)v; break;
		case NPY_F8: ((double *)buf)[k] = v; break;
		case NPY_I4: ((int32_t *)buf)[k] = (int32_t)v; break;
		case NPY_I8: ((int64_t *)buf)[k] = (int64_t)v; break;
		case NPY_U1: ((uint8_t *)buf)[k] = (uint8_t)v; break;
		}
	}
}

static int write_member(struct npz_writer *w, const struct spec *sp,
			size_t chunk)
{
	size_t isz = npy_dtype_size(sp->h.dtype);
	size_t per = chunk ? (chunk / isz ? chunk / isz : 1) : sp->h.count;
	uint64_t rng = 0;
	for (const char *c = sp->name; *c; c++)
		rng = rng * 131 + (unsigned char)*c;
	void *buf = xmallocarray(per ? per : 1, isz);
	if (npz_writer_begin(w, sp->name, &sp->h))
		goto fail;
	for (size_t i = 0; i < sp->h.count; i += per) {
		size_t k = sp->h.count - i < per ? sp->h.count - i : per;
		fill(sp, buf, i, k, &rng);
		if (npz_writer_write(w, buf, k * isz))
			goto fail;
	}
	if (npz_writer_end(w))
		goto fail;
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

static int cmd_write(int nspec, char **specs, const struct npzcat_opts *o,
		     size_t chunk)
{
	struct spec *sp = xcalloc((size_t)nspec + 1, sizeof *sp);
	for (int i = 0; i < nspec; i++)
		if (spec_parse(specs[i], &sp[i]))
			die_usage(usage, "%s", mp_errmsg());
	struct npz_writer *w = npz_writer_open(o->output, o->level);
	if (!w)
		die_lib();
	if (o->meta.n && npz_writer_add_meta(w, &o->meta))
		abort_and_die(w);
	for (int i = 0; i < nspec; i++) {
		if (o->fail_after == i) {
			npz_writer_abort(w);
			die("failing on purpose after %d members", i);
		}
		if (write_member(w, &sp[i], chunk))
			abort_and_die(w);
	}
	if (o->fail_late || o->fail_after == nspec) {
		npz_writer_abort(w);
		die("failing on purpose after %d members", nspec);
	}
	free(sp);
	if (npz_writer_close(w))
		die_lib();
	return 0;
}

/* optarg as a count in [1, 2^30]; what names it in the usage error. */
static size_t opt_count(const char *what)
{
	long v;
	if (parse_long(optarg, 1, 1L << 30, &v))
		die_usage(usage, "invalid %s: %s", what, mp_errmsg());
	return (size_t)v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bufsize", required_argument, NULL, 'b' },
		{ "rows", required_argument, NULL, 'r' },
		{ "f64", no_argument, NULL, '8' },
		{ "compress", required_argument, NULL, 'z' },
		{ "output", required_argument, NULL, 'o' },
		{ "meta", required_argument, NULL, 'm' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "fail-after", required_argument, NULL, 'f' },
		{ "fail-late", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct npzcat_opts o = { .bufsize = 65536, .rows = 7, .level = -1,
				 .fail_after = -1 };
	size_t chunk = 0;
	long v;
	int c;

	mp_init(argc, argv);
	meta_init(&o.meta);
	if (argc < 2)
		die_usage(usage, NULL);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		help();
		mp_close_stdout();
		return 0;
	}
	const char *sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "b:r:8z:o:m:c:f:Fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.bufsize = opt_count("size");
			break;
		case 'r':
			o.rows = opt_count("rows");
			break;
		case '8':
			o.f64 = 1;
			break;
		case 'z':
			if (npz_level_parse(optarg, &o.level))
				die_usage(usage, "%s", mp_errmsg());
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'm': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				die_usage(usage, "--meta wants KEY=VALUE");
			char *k = xstrdup(optarg);
			k[eq - optarg] = '\0';
			meta_set(&o.meta, k, "%s", eq + 1);
			free(k);
			break;
		}
		case 'c':
			chunk = opt_count("chunk");
			break;
		case 'f':
			if (parse_long(optarg, 0, INT_MAX, &v))
				die_usage(usage, "invalid count: %s", mp_errmsg());
			o.fail_after = (int)v;
			break;
		case 'F':
			o.fail_late = 1;
			break;
		case 'h':
			help();
			mp_close_stdout();
			return 0;
		default:
			die_usage(usage, NULL);
		}
	}
	if (o.level < 0)
		o.level = npz_level_default();
	int nargs = argc - optind;
	char **args = argv + optind;

	if (!strcmp(sub, "list") && nargs <= 1)
		cmd_list(nargs ? args[0] : NULL, &o);
	else if (!strcmp(sub, "values") && (nargs == 1 || nargs == 2))
		cmd_values(nargs == 2 ? args[0] : NULL, args[nargs - 1]);
	else if (!strcmp(sub, "meta") && nargs <= 1)
		cmd_meta(nargs ? args[0] : NULL);
	else if (!strcmp(sub, "rows") && (nargs == 1 || nargs == 2))
		cmd_rows(nargs == 2 ? args[0] : NULL, args[nargs - 1], &o);
	else if (!strcmp(sub, "copy") && nargs == 2)
		cmd_copy(args[0], args[1], &o);
	else if (!strcmp(sub, "bundle") && nargs == 2)
		cmd_bundle(args[0], args[1], &o);
	else if (!strcmp(sub, "write"))
		cmd_write(nargs, args, &o, chunk);
	else
		die_usage(usage, "bad command or arguments");
	meta_release(&o.meta);
	mp_close_stdout();
	return 0;
}
