/*
 * alexnet.c: the AlexNet presets (PAPER.md), with biases and ReLUs
 * everywhere and no dropout:
 *
 *   alexnet (Tiny ImageNet, 64x64):
 *     conv1 11x11/4 pad 2 (64), max-pool 3/2, conv2 5x5 pad 2 (192),
 *     max-pool 3/2, conv3 3x3 pad 1 (384), conv4 (256), conv5 (256),
 *     max-pool 3/2, flatten (256 for 64x64), fc1 4096, fc2 4096, fc3 C
 *   alexnet-cifar (CIFAR-100, 32x32): conv1 3x3/2 pad 1, conv2 3x3 pad 1,
 *     the rest the same (flatten 256 for 32x32)
 *
 * Parameters conv1..conv5 and fc1..fc3 ("conv1.weight" (64, C, 11, 11)),
 * the final layer fc3; probes flat, fc1, fc2 (post-ReLU).
 */
#include <stdio.h>

#include "arch.h"
#include "model.h"
#include "util.h"

static int build(struct model *m, int cifar)
{
	static const int ch[5] = { 64, 192, 384, 256, 256 };
	int k[5] = { 11, 5, 3, 3, 3 }, stride[5] = { 4, 1, 1, 1, 1 };
	int pad[5] = { 2, 2, 1, 1, 1 };
	if (cifar) {
		k[0] = 3, stride[0] = 2, pad[0] = 1;
		k[1] = 3, pad[1] = 1;
	}
	int s = 0;
	char name[8];
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "conv%d", i + 1);
		if ((s = model_add_conv2d(m, s, name, ch[i], k[i], stride[i], pad[i], 1, 1)) < 0)
			return mp_error_prefix("%s", m->arch);
		if ((i <= 1 || i == 4) && (s = model_add_maxpool2d(m, s, 3, 2, 0)) < 0)
			return mp_error_prefix("%s: input %dx%d is too small", m->arch,
					       m->input.h, m->input.w);
	}
	static const int widths[] = { 4096, 4096 };
	return model_add_classifier(m, s, "flat", widths, 2, 1) < 0 ? -1 : 0;
}

int alexnet_build(struct model *m)
{
	return build(m, 0);
}

int alexnet_cifar_build(struct model *m)
{
	return build(m, 1);
}
