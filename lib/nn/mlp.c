/*
 * mlp.c: the papers' MLP (PAPER.md): flatten, then linear layers to 128,
 * 512, 2048, 2048 and C units, ReLU after each hidden layer, biases
 * everywhere. Parameters fc1..fc5 ("fc1.weight" (128, C*H*W)); probes
 * the input and fc1..fc4 (post-ReLU).
 */
#include "arch.h"
#include "model.h"

int mlp_build(struct model *m)
{
	static const int widths[] = { 128, 512, 2048, 2048 };
	return model_add_classifier(m, 0, "input", widths, 4, 1) < 0 ? -1 : 0;
}
