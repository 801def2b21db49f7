# pipelines/demo.mk: `make demo`, a reduced but real experiment.
#
# The MLP of the papers on a subset of MNIST whose training labels were 80%
# corrupted (the authors' labels: corrupt --rng numpy --seed 42), trained as
# the authors did (SGD, momentum 0.9, batch 32) until it memorizes, probed at
# a few checkpoints. It prints the table (epoch, the running training
# accuracy train logged and the checkpoint's own accuracy on the corrupted
# labels, the model's test accuracy, best-layer MASC and VeLPIC, the
# transplanted model) and writes the figures to results/demo/. The learning
# rate is ten times the authors' so that memorization shows within minutes;
# 12,000 images (2,400 clean labels) keep the probes' signal clear.
# Everything is cached: a second `make demo` only prints the table again.
# The make holds results/demo/.lock while it works (pipelines/lock.mk): a
# second `make demo` fails at once, naming the process that holds it.
DEMO_LIMIT  ?= 12000
DEMO_TEST   ?= 2000
DEMO_EPOCHS ?= 40
DEMO_SAVE   ?= 0,2,5,10,20,40
DEMO_OPTS   ?= --lr 0.01
RESULTS     ?= results
DEMO        := $(RESULTS)/demo

HERE := $(dir $(lastword $(MAKEFILE_LIST)))
TOP  := $(abspath $(HERE)..)
export PATH := $(TOP)/bin:$(PATH)
# The tools look for data in $MEMPROBE_DATA (default ./data): make it the
# tree's own data/ wherever make runs.
export MEMPROBE_DATA ?= $(TOP)/data

LOCK_DIRS := $(DEMO)
include $(HERE)lock.mk
ifeq ($(LOCKED),yes)
demo:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -f $(HERE)dynamics.mk DATA=mnist ARCH=mlp P=0.8 \
		LIMIT=$(DEMO_LIMIT) TEST_LIMIT=$(DEMO_TEST) MAX_EPOCHS=$(DEMO_EPOCHS) \
		SAVE=$(DEMO_SAVE) UNTIL=never TRAIN_OPTS="$(DEMO_OPTS)" OUT=$(DEMO) && \
	$(HERE)plot $(DEMO)/fig "MLP, MNIST ($(DEMO_LIMIT) train), p = 0.8=$(DEMO)/dynamics.tsv" >/dev/null && \
	$(HERE)summarize --markdown --log $(DEMO)/train.tsv $(DEMO)/dynamics.tsv > $(DEMO)/table.md && \
	echo && echo "MLP on $(DEMO_LIMIT) MNIST training images, 80% of labels corrupted; test accuracy on $(DEMO_TEST) test images:" && \
	echo && cat $(DEMO)/table.md && echo && \
	echo "table: $(DEMO)/table.md, all rows: $(DEMO)/dynamics.tsv, figures: $(DEMO)/fig-*.png ($$(( $$(date +%s) - start )) s)"

.PHONY: demo
endif
