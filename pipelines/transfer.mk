# pipelines/transfer.mk: edit a model with its own latent generalization,
# then train on.
#
#   make -f pipelines/transfer.mk DATA=mnist ARCH=cnn P=0.8 EDIT=40
#
# From the run of pipelines/dynamics.mk with the same DATA ARCH P RUN
# (trained first if needed): fit VeLPIC on the last hidden layer of the
# checkpoint at epoch EDIT (0 = the initialisation) on the corrupted labels,
# write its vectors into the final layer (BIAS=zero|keep), then continue
# standard training on the corrupted labels with a fresh optimizer of the
# same kind until epoch TO. Every epoch is scored: test, corrupted-train,
# true-train, and train accuracy on flipped and on kept samples, in
#   $(TOUT)/transfer.tsv: epoch split labels accuracy
# (split train has labels corrupted, true, flipped, kept).
# The make holds the locks of $(OUT) (whose run it reads, and may train)
# and $(TOUT) while it works (pipelines/lock.mk): a second make on either
# fails at once, naming the process that holds it.
DATA       ?= mnist
ARCH       ?= mlp
P          ?= 0.8
RUN        ?= 1
LIMIT      ?=
TEST_LIMIT ?=
EDIT       ?= 40
TO         ?= 100
BIAS       ?= zero
TRAIN_OPTS ?=
RESULTS    ?= results
OUT        ?= $(RESULTS)/$(DATA)-$(ARCH)-p$(P)-run$(RUN)$(if $(LIMIT),-n$(LIMIT))
TOUT       ?= $(OUT)/transfer-e$(EDIT)-$(BIAS)

HERE := $(dir $(lastword $(MAKEFILE_LIST)))
TOP  := $(abspath $(HERE)..)
export PATH := $(TOP)/bin:$(PATH)
# The tools look for data in $MEMPROBE_DATA (default ./data): make it the
# tree's own data/ wherever make runs.
export MEMPROBE_DATA ?= $(TOP)/data
SHELL := /bin/bash
E3   := $(shell printf '%03d' $(EDIT))

LOCK_DIRS := $(OUT) $(TOUT)
include $(HERE)lock.mk
ifeq ($(LOCKED),yes)

all: $(TOUT)/transfer.tsv

# The source run (only its data and training are needed).
$(OUT)/ckpt/done:
	$(MAKE) -f $(HERE)dynamics.mk $@ DATA=$(DATA) ARCH=$(ARCH) P=$(P) RUN=$(RUN) \
		LIMIT=$(LIMIT) TEST_LIMIT=$(TEST_LIMIT) OUT=$(OUT)

$(OUT)/ckpt/epoch-$(E3).npz: | $(OUT)/ckpt/done
	@test -f $@ || { echo "transfer.mk: no checkpoint at epoch $(EDIT) in $(OUT)/ckpt (see its SAVE schedule)" >&2; exit 1; }

$(TOUT)/edited.npz: $(OUT)/ckpt/epoch-$(E3).npz
	@mkdir -p $(@D)
	set -o pipefail; layer=$$(unzip -p $< meta.txt | sed -n 's/^model.layers=.* //p'); \
	dumpacts -m $< --layers $$layer < $(OUT)/data/train.npz | velpic fit -q | \
		transplant -m $< --bias $(BIAS) -o $@

# The edited model itself is the first point of the curve.
$(TOUT)/ckpt/done: $(TOUT)/edited.npz
	@mkdir -p $(@D)
	cp $< $(@D)/epoch-$(E3).npz
	train --resume $< --fresh-optimizer --ckpt-dir $(@D) --save all \
		--max-epochs $(TO) --until never --eval $(OUT)/data/test.npz \
		--log $(TOUT)/train.tsv $(TRAIN_OPTS) < $(OUT)/data/train.npz
	touch $@

$(TOUT)/transfer.tsv: $(TOUT)/ckpt/done
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) transfer-rows TOUT=$(TOUT) OUT=$(OUT)
	{ printf 'epoch\tsplit\tlabels\taccuracy\n'; \
	  cat $(TOUT)/rows/epoch-*.tsv | sort -s -t$$'\t' -k1,1n; } > $@.tmp
	mv $@.tmp $@

CKPTS := $(wildcard $(TOUT)/ckpt/epoch-*.npz)
ROWS  := $(patsubst $(TOUT)/ckpt/%.npz,$(TOUT)/rows/%.tsv,$(CKPTS))
transfer-rows: $(ROWS)

$(TOUT)/rows/epoch-%.tsv: $(TOUT)/ckpt/epoch-%.npz
	@mkdir -p $(@D)
	set -o pipefail; e=$$((10#$*)); \
	{ dumpacts -m $< --predict < $(OUT)/data/test.npz | score --tag epoch=$$e | \
		awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)c[$$i]=i;next}{print $$c["epoch"] "\ttest\ttrue\t" $$c["acc"]}'; \
	  dumpacts -m $< --predict < $(OUT)/data/train.npz | score --tag epoch=$$e | \
		awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)c[$$i]=i;next}{e=$$c["epoch"]; \
			print e "\ttrain\tcorrupted\t" $$c["acc_y"]; print e "\ttrain\ttrue\t" $$c["acc"]; \
			print e "\ttrain\tflipped\t" $$c["acc_flipped"]; print e "\ttrain\tkept\t" $$c["acc_kept"]}'; \
	} > $@.tmp
	mv $@.tmp $@

.PHONY: all transfer-rows
.DELETE_ON_ERROR:
endif
