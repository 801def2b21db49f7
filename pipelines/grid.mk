# pipelines/grid.mk: the papers' grid, the one place its defaults are
# written; included by paper.mk (local) and slurm.mk (on a cluster).
#   PAIRS      model-data pairs (an architecture of arch.h, a data set)
#   PS         corruption degrees
#   RUNS       runs per cell (each its own seed)
#   KEEP_ACTS  0: activations streamed (the grid fits on a disk)
#   DYN_OPTS   more dynamics.mk variables for every cell
PAIRS   ?= mlp-mnist cnn-mnist mlp-fashion-mnist cnn-fashion-mnist \
           mlp-cifar10 cnn-cifar10 resnet18-cifar10 alexnet-tiny-imagenet \
           alexnet-cifar-cifar100
PS      ?= 0 0.2 0.4 0.6 0.8 1
RUNS    ?= 1 2 3
KEEP_ACTS ?= 0
RESULTS ?= results
DYN_OPTS ?=
