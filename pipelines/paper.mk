# pipelines/paper.mk: the papers' grid, its final table and its figures.
#
#   make -f pipelines/paper.mk [PAIRS="mlp-mnist cnn-mnist"] [PS="0.8"] [RUNS="1 2 3"] [-j2]
#
# For every (model, data) pair and corruption degree P: one run of
# pipelines/dynamics.mk per RUN (activations streamed, KEEP_ACTS=0, so the
# whole grid fits on an ordinary disk), then
#   $(RESULTS)/paper/final.tsv, final.md   final epoch: model test accuracy,
#       best-layer MASC, best-layer VeLPIC, transplant (zero bias); mean over runs
#   $(RESULTS)/paper/PAIR-*.png, .svg      the dynamics figures, a panel per P
# Pairs whose data are absent (CIFAR, Tiny ImageNet) are skipped with a note
# saying which files to put where.
# `make -f pipelines/paper.mk cells-list CELLS_OUT=FILE` writes the grid's
# cells (those whose data are here), a line each: NAME, a tab, the
# dynamics.mk variables that make it; pipelines/slurm.mk submits them.
# The make holds $(RESULTS)/paper/.lock while it works, and each run's
# dynamics.mk its own folder's (pipelines/lock.mk): a second paper.mk, or a
# dynamics.mk on a run this one is making, fails at once, naming the
# process that holds it.

HERE := $(dir $(lastword $(MAKEFILE_LIST)))
include $(HERE)grid.mk
TOP  := $(abspath $(HERE)..)
export PATH := $(TOP)/bin:$(PATH)
# The tools look for data in $MEMPROBE_DATA (default ./data): make it the
# tree's own data/ wherever make runs.
export MEMPROBE_DATA ?= $(TOP)/data
SHELL := /bin/bash
PAPER := $(RESULTS)/paper

# cells-list only reads: it holds nothing (a grid may run meanwhile).
LOCK_DIRS := $(if $(filter cells-list,$(MAKECMDGOALS)),,$(PAPER))
include $(HERE)lock.mk
ifeq ($(LOCKED),yes)

# pair → arch and data: the architecture is the first word, the data the rest.
arch = $(firstword $(subst -, ,$(1)))
data = $(patsubst $(call arch,$(1))-%,%,$(1))
# alexnet-cifar is an architecture of its own (CIFAR-100 variant).
fixarch = $(if $(filter alexnet-cifar-%,$(1)),alexnet-cifar,$(call arch,$(1)))
fixdata = $(if $(filter alexnet-cifar-%,$(1)),$(patsubst alexnet-cifar-%,%,$(1)),$(call data,$(1)))

# Which pairs have their data here (mkdata says where it looked otherwise).
# By its path, and with MEMPROBE_DATA given: $(shell) does not see what
# this file exports (make < 4.4).
have = $(shell MEMPROBE_DATA='$(MEMPROBE_DATA)' $(TOP)/bin/mkdata $(call fixdata,$(1)) --split test --limit 1 >/dev/null 2>$(PAPER)/.why-$(1) && echo yes)

all: $(PAPER)/final.tsv figures

$(PAPER):
	mkdir -p $@

# The dynamics.mk variables of cell (pair, p, run): the one place a cell
# is mapped to its run, for the rule below and for cells-list.
cellvars = ARCH=$(call fixarch,$(1)) DATA=$(call fixdata,$(1)) P=$(2) RUN=$(3) \
	KEEP_ACTS=$(KEEP_ACTS) RESULTS=$(RESULTS) OUT=$(RESULTS)/$(1)-p$(2)-run$(3) $(DYN_OPTS)
tab := $(shell printf '\t')
define nl


endef

CELLS :=
CELL_LINES :=
define cell
$(PAPER)/cells/$(1)-p$(2)-run$(3): | $(PAPER)
	$$(MAKE) -f $(HERE)dynamics.mk $(call cellvars,$(1),$(2),$(3))
	@mkdir -p $$(@D)
	ln -sf ../../$(1)-p$(2)-run$(3)/dynamics.tsv $$@
CELLS += $(PAPER)/cells/$(1)-p$(2)-run$(3)
CELL_LINES := $$(CELL_LINES)$(1)-p$(2)-run$(3)$$(tab)$(strip $(call cellvars,$(1),$(2),$(3)))$$(nl)
endef

ifneq ($(MAKECMDGOALS),clean)
$(shell mkdir -p $(PAPER))
PRESENT := $(foreach p,$(PAIRS),$(if $(call have,$(p)),$(p)))
ABSENT  := $(filter-out $(PRESENT),$(PAIRS))
endif
$(foreach p,$(PRESENT),$(foreach x,$(PS),$(foreach r,$(RUNS),$(eval $(call cell,$(p),$(x),$(r))))))

$(PAPER)/final.tsv: $(CELLS)
	@for p in $(ABSENT); do echo "paper.mk: skipping $$p: $$(head -n 1 $(PAPER)/.why-$$p)"; done
	$(HERE)final-table $(CELLS) > $@.tmp && mv $@.tmp $@
	$(HERE)final-table --markdown $(CELLS) > $(PAPER)/final.md
	@cat $(PAPER)/final.md

cells-list:
	$(if $(CELLS_OUT),,$(error cells-list: CELLS_OUT=FILE is needed))
	$(file >$(CELLS_OUT),$(CELL_LINES))
	@for p in $(ABSENT); do echo "paper.mk: skipping $$p: $$(head -n 1 $(PAPER)/.why-$$p)" >&2; done

figures: $(CELLS)
	@for p in $(PRESENT); do \
		args=""; for x in $(PS); do args="$$args p=$$x=$(PAPER)/cells/$$p-p$$x-run$(firstword $(RUNS))"; done; \
		$(HERE)plot $(PAPER)/$$p $$args >/dev/null; \
	done

.PHONY: all figures cells-list
endif
