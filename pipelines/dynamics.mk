# pipelines/dynamics.mk: one training run probed at every checkpoint.
#
#   make -f pipelines/dynamics.mk DATA=mnist ARCH=mlp P=0.8 RUN=1
#
# data → corrupt (the authors' labels: --rng numpy --seed 42) → train with
# the `dynamics` checkpoint schedule until the stopping rule → at every
# checkpoint, every probed layer: activations of train and test → MASC and
# VeLPIC (or $(PROBES)) fitted on the corrupted labels → scored on test (true labels) and
# train (corrupted and true labels) → VeLPIC of the last hidden layer
# transplanted into the final layer (bias zeroed, bias kept) → scored.
# Everything lands in $(OUT); the table is $(OUT)/dynamics.tsv:
#   epoch layer probe split labels accuracy
# A second `make` does nothing; deleting a file, or changing a variable,
# redoes only what depends on it (each stage's variables are kept in
# $(OUT)/.params-STAGE, rewritten only when they change).
# The make holds $(OUT)/.lock (pipelines/lock.mk) while it works: a second
# make on the same OUT fails at once, naming the process that holds it.
#
# Variables (defaults after ?=):
DATA       ?= mnist
ARCH       ?= mlp
P          ?= 0.8
RUN        ?= 1
# LIMIT / TEST_LIMIT: use only the first N train / test samples.
LIMIT      ?=
TEST_LIMIT ?=
MAX_EPOCHS ?= 500
SAVE       ?= dynamics
# UNTIL: stopping accuracy (empty: train's per-data default, the authors').
UNTIL      ?=
TRAIN_OPTS ?=
# KEEP_ACTS=1 caches activations under $(OUT)/acts; 0 streams them.
KEEP_ACTS  ?= 1
VAR        ?= 0.99
# PROBES: the probes fitted at every checkpoint (empty: those of
# pipelines/probes.sh, masc velpic).
PROBES     ?=
export PROBES
RESULTS    ?= results
OUT        ?= $(RESULTS)/$(DATA)-$(ARCH)-p$(P)-run$(RUN)$(if $(LIMIT),-n$(LIMIT))

HERE := $(dir $(lastword $(MAKEFILE_LIST)))
TOP  := $(abspath $(HERE)..)
export PATH := $(TOP)/bin:$(PATH)
# The tools look for data in $MEMPROBE_DATA (default ./data): make it the
# tree's own data/ wherever make runs.
export MEMPROBE_DATA ?= $(TOP)/data
SHELL := /bin/bash

ifeq ($(strip $(OUT)),)
$(error dynamics.mk: OUT is empty)
endif
LOCK_DIRS := $(OUT)
include $(HERE)lock.mk
ifeq ($(LOCKED),yes)

# stamp STAGE,VALUE: $(OUT)/.params-STAGE holds VALUE, and is rewritten (a
# new mtime, so what depends on it is redone) only when VALUE changed.
same  = $(and $(findstring x$(1),x$(2)),$(findstring x$(2),x$(1)))
stamp = $(if $(call same,$(2),$(file <$(OUT)/.params-$(1))),,$(file >$(OUT)/.params-$(1),$(2)))
$(shell mkdir -p $(OUT))
$(call stamp,data-train,$(DATA) $(P) $(LIMIT))
$(call stamp,data-test,$(DATA) $(TEST_LIMIT))
$(call stamp,train,$(ARCH) $(RUN) $(MAX_EPOCHS) $(SAVE) $(UNTIL) $(TRAIN_OPTS))
$(call stamp,probe,$(VAR)$(if $(PROBES), $(PROBES)))

all: $(OUT)/dynamics.tsv

$(OUT)/data/train.npz: $(OUT)/.params-data-train
	@mkdir -p $(@D)
	set -o pipefail; mkdata $(DATA) --split train $(if $(LIMIT),--limit $(LIMIT)) | \
		corrupt -p $(P) --rng numpy --seed 42 -o $@

$(OUT)/data/test.npz: $(OUT)/.params-data-test
	@mkdir -p $(@D)
	mkdata $(DATA) --split test $(if $(TEST_LIMIT),--limit $(TEST_LIMIT)) -o $@

# Training writes its checkpoints and log; the stamp says it finished. A new
# run first drops everything made from an earlier one.
$(OUT)/ckpt/done: $(OUT)/data/train.npz $(OUT)/data/test.npz $(OUT)/.params-train
	rm -rf $(OUT)/ckpt $(OUT)/rows $(OUT)/probes $(OUT)/acts $(OUT)/train.tsv
	@mkdir -p $(@D)
	train --arch $(ARCH) --ckpt-dir $(@D) --eval $(OUT)/data/test.npz \
		--seed $(RUN) --save $(SAVE) --max-epochs $(MAX_EPOCHS) \
		$(if $(UNTIL),--until $(UNTIL)) --log $(OUT)/train.tsv $(TRAIN_OPTS) \
		< $(OUT)/data/train.npz
	touch $@

# The checkpoints exist only once training stopped: a second make pass
# (probe-rows) sees them.
$(OUT)/dynamics.tsv: $(OUT)/ckpt/done $(OUT)/data/train.npz $(OUT)/data/test.npz $(OUT)/.params-probe
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) probe-rows OUT=$(OUT) KEEP_ACTS=$(KEEP_ACTS) VAR=$(VAR)
	{ printf 'epoch\tlayer\tprobe\tsplit\tlabels\taccuracy\n'; \
	  cat $(OUT)/rows/epoch-*.tsv | sort -s -t$$'\t' -k1,1n; } > $@.tmp
	mv $@.tmp $@

CKPTS := $(wildcard $(OUT)/ckpt/epoch-*.npz)
ROWS  := $(patsubst $(OUT)/ckpt/%.npz,$(OUT)/rows/%.tsv,$(CKPTS))

probe-rows: $(ROWS)

$(OUT)/rows/epoch-%.tsv: $(OUT)/ckpt/epoch-%.npz $(OUT)/data/train.npz $(OUT)/data/test.npz $(OUT)/.params-probe
	@mkdir -p $(@D)
	$(HERE)probe-epoch $(OUT) $* $(KEEP_ACTS) $(VAR) > $@.tmp
	mv $@.tmp $@

.PHONY: all probe-rows
.DELETE_ON_ERROR:
endif
