/*
 * test_arch.c: the architecture table (arch.h). Every entry is complete
 * (a forgotten default would otherwise be a zero learning rate or batch)
 * and builds with the probes and final layer the table promises, and the
 * lookups, batch rules and lists say what --help and the errors show.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "par.h"
#include "tap.h"
#include "util.h"

TEST(entries_complete)
{
	for (const struct arch *a = arch_table; a->name; a++) {
		CHECK(*a->name && a->summary && *a->summary && a->build);
		CHECK(a->opt == OPTIM_SGD || a->opt == OPTIM_ADAM);
		CHECK(a->lr > 0 && a->lr < 1);
		/* A batch size, or a rule with its words; not both. */
		CHECK((a->batch > 0) != (a->batch_for != NULL));
		CHECK(!a->batch_for || (a->batch_help && *a->batch_help));
		CHECK(a->layers && *a->layers && a->final && *a->final);
		CHECK(arch_find(a->name) == a);
	}
}

/* Each architecture, on an input every one takes: it builds, and its
 * probes and final layer are the table's. */
TEST(builds_as_the_table_says)
{
	for (const struct arch *a = arch_table; a->name; a++) {
		struct model m;
		if (model_build(&m, a->name, (struct shape){ 3, 64, 64 }, 7)) {
			CHECK(!"model_build");
			printf("#   %s: %s\n", a->name, mp_errmsg());
			continue;
		}
		char *p = model_probe_list(&m);
		CHECK(!strcmp(p, a->layers));
		CHECK(!strcmp(m.final, a->final) && !strcmp(m.arch, a->name));
		char w[48];
		snprintf(w, sizeof w, "%s.weight", a->final);
		const struct model_tensor *t = model_tensor_find(&m, w);
		CHECK(t && t->ndim == 2 && t->shape[0] == 7);
		free(p);
		model_release(&m);
	}
}

TEST(defaults_and_lists)
{
	const struct arch *a = arch_find("cnn");
	CHECK(a && a->opt == OPTIM_ADAM && a->lr == 2e-4);
	CHECK(arch_batch(a, (struct shape){ 1, 28, 28 }) == 128);
	CHECK(arch_batch(a, (struct shape){ 3, 32, 32 }) == 32);
	a = arch_find("alexnet-cifar");
	CHECK(arch_batch(a, (struct shape){ 3, 32, 32 }) == 128);
	CHECK(arch_batch(a, (struct shape){ 3, 64, 64 }) == 500);
	a = arch_find("mlp");
	CHECK(a->opt == OPTIM_SGD && a->lr == 1e-3);
	CHECK(arch_batch(a, (struct shape){ 3, 64, 64 }) == 32);
	char *s = arch_names();
	CHECK(!strcmp(s, "mlp, cnn, alexnet, alexnet-cifar or resnet18"));
	free(s);
	CHECK(arch_find("resnet19") == NULL);
	CHECK(!strcmp(mp_errmsg(), "unknown architecture 'resnet19' (mlp, cnn, "
		      "alexnet, alexnet-cifar or resnet18)"));
	struct model m;
	CHECK(model_build(&m, "MLP", (struct shape){ 1, 28, 28 }, 10) == -1);
	CHECK(strstr(mp_errmsg(), "unknown architecture 'MLP'") != NULL);
}

int main(void)
{
	par_init(1);
	RUN(entries_complete);
	RUN(builds_as_the_table_says);
	RUN(defaults_and_lists);
	return tap_done();
}
