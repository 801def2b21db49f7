/*
 * cnn.c: the papers' CNN (PAPER.md): six 3x3 convolutions with padding 1
 * and ReLU, of 16, 16, 32, 32, 64 and 64 channels, a 2x2 max-pool after
 * the second, fourth and sixth; flatten (576 for 28x28 input, 1024 for
 * 32x32); linear layers to 250, 250 and 250 units with ReLU, and a final
 * linear layer to C units without bias; no dropout. Parameters
 * conv1..conv6 and fc1..fc4; probes the input, flat and fc1..fc3
 * (post-ReLU).
 */
#include <stdio.h>

#include "arch.h"
#include "model.h"
#include "util.h"

int cnn_build(struct model *m)
{
	static const int ch[] = { 16, 16, 32, 32, 64, 64 };
	model_add_probe(m, "input", 0);
	int s = 0;
	char name[8];
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "conv%d", i + 1);
		if ((s = model_add_conv2d(m, s, name, ch[i], 3, 1, 1, 1, 1)) < 0)
			return -1;
		if (i % 2 == 1 && (s = model_add_maxpool2d(m, s, 2, 2, 0)) < 0)
			return mp_error_prefix("%s needs at least 8x8 input, not %dx%d",
					       m->arch, m->input.h, m->input.w);
	}
	static const int widths[] = { 250, 250, 250 };
	return model_add_classifier(m, s, "flat", widths, 3, 0) < 0 ? -1 : 0;
}
