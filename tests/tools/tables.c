/*
 * tables: print the architecture and data-set tables (arch.h, data.h) as
 * tab-separated lines, so that tests/manlists.bats can check that the man
 * pages and README list exactly what the tables hold. Built by
 * `make units` into build/tests/tools/tables; never installed.
 *
 *   arch NAME OPTIMIZER LR BATCH LAYERS FINAL
 *   data NAME CxHxW CLASSES UNTIL
 *
 * BATCH is the batch size, or the words of a rule that depends on the
 * input; UNTIL is 0 for a set without the authors' stopping accuracy.
 */
#include <stdio.h>

#include "arch.h"
#include "data.h"
#include "util.h"

int main(int argc, char **argv)
{
	mp_init(argc, argv);
	for (const struct arch *a = arch_table; a->name; a++) {
		printf("arch\t%s\t%s\t%g\t", a->name, optim_kind_name(a->opt), a->lr);
		if (a->batch_for)
			printf("%s", a->batch_help);
		else
			printf("%d", a->batch);
		printf("\t%s\t%s\n", a->layers, a->final);
	}
	for (const struct data_info *d = data_table; d->name; d++)
		printf("data\t%s\t%dx%dx%d\t%d\t%g\n", d->name, d->c, d->h, d->w,
		       d->classes, d->until);
	mp_close_stdout();
	return 0;
}
