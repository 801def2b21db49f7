/*
 * test_scatter.c: scatter streams (lib/probe/scatter.c). Rows of 4 classes in
 * three shards, each accumulated with gram_acc and saved; the merge of
 * the three must equal one accumulation of all rows (up to the order of
 * the additions), with the counts, column sums and meta summed; lying or
 * mismatched streams are refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gram.h"
#include "npy.h"
#include "npz.h"
#include "par.h"
#include "scatter.h"
#include "tap.h"
#include "util.h"

#define C 4
#define D 37
#define N 2000

static char dir[] = "/tmp/test_scatter.XXXXXX";
static double x[N * D];
static int lab[N];

static char *path(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* Rows [lo, hi) summed into a scatter (s->s borrowed from g). */
static void accumulate(struct scatter *s, struct gram_acc *g, size_t lo, size_t hi)
{
	memset(s, 0, sizeof *s);
	meta_init(&s->meta);
	meta_set(&s->meta, "dumpacts.layer", "fc3");
	s->classes = C;
	s->dim = D;
	snprintf(s->member, sizeof s->member, "act");
	s->count = xcalloc(C, sizeof *s->count);
	s->colsum = xcalloc(D, sizeof *s->colsum);
	gram_acc_init(g, C, D);
	for (size_t i = lo; i < hi; i++) {
		gram_acc_add(g, lab[i], x + i * D);
		s->count[lab[i]]++;
		for (size_t j = 0; j < D; j++)
			s->colsum[j] += x[i * D + j];
	}
	gram_acc_finish(g);
	s->rows = hi - lo;
	s->s = xcalloc(C, sizeof *s->s);
	for (int c = 0; c < C; c++)
		s->s[c] = gram_acc_scatter(g, c);
}

static void drop(struct scatter *s, struct gram_acc *g)
{
	free(s->s);             /* the matrices are g's */
	s->s = NULL;
	scatter_release(s);
	gram_acc_release(g);
}

TEST(shards_merge_to_the_whole)
{
	struct scatter all, part, got;
	struct gram_acc ga, gp;
	size_t cut[4] = { 0, 700, 701, N };  /* one shard of one row */
	char *in[3];
	accumulate(&all, &ga, 0, N);
	for (int k = 0; k < 3; k++) {
		char name[16];
		snprintf(name, sizeof name, "part%d.npz", k);
		in[k] = path(name);
		accumulate(&part, &gp, cut[k], cut[k + 1]);
		CHECK(scatter_save(&part, in[k], k) == 0);   /* stored and deflated */
		drop(&part, &gp);
	}
	char *out = path("all.npz");
	CHECK(scatter_merge((const char *const *)in, 3, out, 0) == 0);
	CHECK(scatter_load(&got, out) == 0);
	CHECK(got.classes == C && got.dim == D && got.rows == N);
	CHECK(!strcmp(got.member, "act"));
	CHECK(meta_get(&got.meta, "dumpacts.layer") &&
	      !strcmp(meta_get(&got.meta, "dumpacts.layer"), "fc3"));
	double err = 0, scale = 0;
	for (int c = 0; c < C; c++) {
		CHECK(got.count[c] == all.count[c]);
		for (size_t i = 0; i < D; i++)
			for (size_t j = 0; j < D; j++) {
				double a = all.s[c][i * D + j], b = got.s[c][i * D + j];
				err = fmax(err, fabs(a - b));
				scale = fmax(scale, fabs(a));
				if (j < i)
					CHECK(b == 0);
			}
	}
	CHECK(scale > 0 && err <= 1e-13 * scale);
	for (size_t j = 0; j < D; j++)
		CHECK_NEAR(got.colsum[j], all.colsum[j], 1e-12 * N);
	scatter_release(&got);
	drop(&all, &ga);
	for (int k = 0; k < 3; k++)
		free(in[k]);
	free(out);
}

TEST(mismatches_and_lies_are_refused)
{
	struct scatter a, b, got;
	struct gram_acc ga, gb;
	accumulate(&a, &ga, 0, 100);
	char *pa = path("a.npz"), *pb = path("b.npz"), *po = path("o.npz");
	CHECK(scatter_save(&a, pa, 0) == 0);
	/* another member */
	accumulate(&b, &gb, 0, 100);
	snprintf(b.member, sizeof b.member, "x");
	CHECK(scatter_save(&b, pb, 0) == 0);
	const char *two[2] = { pa, pb };
	CHECK(scatter_merge(two, 2, po, 0) == -1);
	CHECK(strstr(mp_errmsg(), "'x'") != NULL);
	CHECK(access(po, F_OK) != 0);            /* nothing left behind */
	/* counts that do not sum to scatter.rows */
	b.rows = 99;
	snprintf(b.member, sizeof b.member, "act");
	CHECK(scatter_save(&b, pb, 0) == 0);
	CHECK(scatter_load(&got, pb) == -1);
	CHECK(strstr(mp_errmsg(), "scatter.rows") != NULL);
	/* a non-finite value */
	b.rows = 100;
	b.s[2][5] = NAN;
	CHECK(scatter_save(&b, pb, 0) == 0);
	CHECK(scatter_load(&got, pb) == -1);
	CHECK(strstr(mp_errmsg(), "non-finite") != NULL);
	/* not a scatter stream at all */
	struct npz_writer *w = npz_writer_open(pb, 0);
	struct meta m;
	meta_init(&m);
	CHECK(w && npz_writer_add_meta(w, &m) == 0 && npz_writer_close(w) == 0);
	CHECK(scatter_load(&got, pb) == -1);
	CHECK(strstr(mp_errmsg(), "not a scatter stream") != NULL);
	meta_release(&m);
	drop(&a, &ga);
	drop(&b, &gb);
	free(pa);
	free(pb);
	free(po);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	par_init(2);
	srand(7);
	for (size_t i = 0; i < N; i++) {
		lab[i] = rand() % C;
		for (size_t j = 0; j < D; j++)    /* float32 values, as activations */
			x[i * D + j] = (float)((double)rand() / RAND_MAX - 0.3 * lab[i]);
	}
	RUN(shards_merge_to_the_whole);
	RUN(mismatches_and_lies_are_refused);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return tap_done();
}
