/*
 * resnet.c: the ResNet-18 preset (PAPER.md): torchvision's resnet18 with a
 * 3x3 stride-1 first convolution, as the authors trained it on CIFAR-10.
 *
 *   conv1 3x3/1 (64, no bias), bn1, ReLU, max-pool 3/2 pad 1
 *   layer1..layer4: two BasicBlocks each at 64, 128, 256, 512 channels,
 *       the first block of layer2..4 with stride 2
 *   global average pool -> fc (512 -> classes)
 *
 * A BasicBlock: conv1 3x3/s (no bias), bn1, ReLU, conv2 3x3/1 (no bias),
 * bn2, plus the shortcut (the block's input, or downsample.0 = 1x1/s conv
 * without bias and downsample.1 = batch norm when the stride or the channel
 * count changes), then ReLU. Names follow torchvision's state_dict
 * ("layer2.0.downsample.1.running_var"), so a checkpoint loads into
 * torchvision.models.resnet18(num_classes=C) after replacing its conv1
 * with nn.Conv2d(C_in, 64, 3, 1, 1, bias=False).
 *
 * Probes (each a ReLU's output, as hooks on torchvision's modules see
 * them; a block's single ReLU module fires twice):
 *   l0       after the max-pool
 *   l0_1     layer1.0 after bn1's ReLU
 *   l0_2     layer1.0's output
 *   l0_3     layer1.1 after bn1's ReLU
 *   l1       layer1.1's output = layer1's
 *   l2 l3 l4 the outputs of layer2, layer3, layer4
 *   bf_last  the global average pool (512), the input of fc
 */
#include <stdio.h>

#include "arch.h"
#include "model.h"
#include "util.h"

/* One BasicBlock reading slot `in`; its output slot, or -1. p_inner and
 * p_out (or NULL) name the inner ReLU's and the block's output as probes. */
static int basic_block(struct model *m, int in, const char *prefix, int planes,
		       int stride, const char *p_inner, const char *p_out)
{
	char name[48];
	int s;
	snprintf(name, sizeof name, "%s.conv1", prefix);
	if ((s = model_add_conv2d(m, in, name, planes, 3, stride, 1, 0, 0)) < 0)
		return -1;
	snprintf(name, sizeof name, "%s.bn1", prefix);
	s = model_add_batchnorm2d(m, s, name, 1);
	if (p_inner)
		model_add_probe(m, p_inner, s);
	snprintf(name, sizeof name, "%s.conv2", prefix);
	if ((s = model_add_conv2d(m, s, name, planes, 3, 1, 1, 0, 0)) < 0)
		return -1;
	snprintf(name, sizeof name, "%s.bn2", prefix);
	s = model_add_batchnorm2d(m, s, name, 0);
	int shortcut = in;
	if (stride != 1 || m->slots[in].c != planes) {
		snprintf(name, sizeof name, "%s.downsample.0", prefix);
		if ((shortcut = model_add_conv2d(m, in, name, planes, 1, stride, 0, 0, 0)) < 0)
			return -1;
		snprintf(name, sizeof name, "%s.downsample.1", prefix);
		shortcut = model_add_batchnorm2d(m, shortcut, name, 0);
	}
	if ((s = model_add_add(m, s, shortcut, 1)) < 0)
		return -1;
	if (p_out)
		model_add_probe(m, p_out, s);
	return s;
}

int resnet18_build(struct model *m)
{
	static const int planes[4] = { 64, 128, 256, 512 };
	static const char *const inner[2] = { "l0_1", "l0_3" };
	static const char *const outs[2][4] = {
		{ "l0_2", NULL, NULL, NULL },
		{ "l1", "l2", "l3", "l4" },
	};
	int s = model_add_conv2d(m, 0, "conv1", 64, 3, 1, 1, 0, 0);
	if (s < 0)
		return mp_error_prefix("%s", m->arch);
	s = model_add_batchnorm2d(m, s, "bn1", 1);
	if ((s = model_add_maxpool2d(m, s, 3, 2, 1)) < 0)
		return mp_error_prefix("%s", m->arch);
	model_add_probe(m, "l0", s);
	for (int g = 0; g < 4; g++)
		for (int b = 0; b < 2; b++) {
			char prefix[16];
			snprintf(prefix, sizeof prefix, "layer%d.%d", g + 1, b);
			int stride = g > 0 && b == 0 ? 2 : 1;
			s = basic_block(m, s, prefix, planes[g], stride,
					g == 0 ? inner[b] : NULL, outs[b][g]);
			if (s < 0)
				return mp_error_prefix("%s", m->arch);
		}
	s = model_add_global_avgpool(m, s);
	model_add_probe(m, "bf_last", s);
	if (model_add_linear(m, s, m->final, m->classes, 1, 0) < 0)
		return -1;
	return 0;
}
