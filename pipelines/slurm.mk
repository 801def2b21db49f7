# pipelines/slurm.mk: the papers' grid (pipelines/paper.mk) on a Slurm
# cluster: one array task per cell, then a gather job.
#
#   make -f pipelines/slurm.mk [PAIRS=...] [PS=...] [RUNS=...] [DYN_OPTS=...] \
#       [PARTITION=p] [ACCOUNT=a] [TIME=24:00:00] [CPUS=4] [MEM=8G] \
#       [SBATCH_OPTS='--qos=...'] [WAIT=1]
#
# Run it on a login node, in a folder every node sees (RESULTS and the
# memprobe tree on a shared filesystem; MEMPROBE_DATA too). It asks
# paper.mk for the grid's cells (pair x P x run, those whose data are
# here), asks each cell's own dynamics.mk whether it is up to date (make -q:
# make's check is the only judge), and submits
#   - an array job, a task per cell that is not (pipelines/slurm-cell runs
#     the same dynamics.mk make would run locally), and
#   - a gather job, after every task succeeded (--dependency=afterok), that
#     runs paper.mk itself: the final table and the figures, exactly as a
#     local `make -f pipelines/paper.mk` with the same variables.
# Submitting again redoes only the cells that failed or whose files are
# gone; with every cell up to date, only the gather job is submitted.
# Each submission is a folder $(RESULTS)/slurm/batch-N: the cells it
# submitted (cells), the job ids (jobs), a log per task (cell-J_I.log,
# whose first line names the cell) and the gather log (gather-J.log).
# WAIT=1 waits for the gather job and fails if it did (sbatch --wait);
# when a cell fails, the gather job can never start: clusters with
# DependencyParameters=kill_invalid_depend cancel it (scripts/slurm-cluster
# sets it), others leave it pending (scancel it, fix, submit again).
# Memory per task: what one cell's training and probing need: for the MLP
# on MNIST about 1 GB; more for the wide layers of AlexNet and ResNet.
# sbatch settings (empty: the cluster's default).
PARTITION ?=
ACCOUNT   ?=
TIME      ?= 24:00:00
CPUS      ?= 4
MEM       ?= 8G
SBATCH_OPTS ?=
WAIT      ?= 0

HERE := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
include $(HERE)/grid.mk
SHELL := /bin/bash
# What paper.mk is told, here and in the gather job: the same grid.
GRID := PAIRS='$(PAIRS)' PS='$(PS)' RUNS='$(RUNS)' KEEP_ACTS='$(KEEP_ACTS)' \
	RESULTS='$(abspath $(RESULTS))' DYN_OPTS='$(DYN_OPTS)'
SBATCH := sbatch --parsable $(if $(PARTITION),--partition=$(PARTITION)) \
	$(if $(ACCOUNT),--account=$(ACCOUNT)) $(if $(TIME),--time=$(TIME)) \
	$(if $(MEM),--mem=$(MEM)) $(SBATCH_OPTS)

submit:
	@command -v sbatch >/dev/null || { echo "slurm.mk: no sbatch here (a Slurm client is needed)" >&2; exit 1; }
	@set -eu -o pipefail; \
	top='$(abspath $(RESULTS))/slurm'; mkdir -p "$$top"; \
	n=1; while [ -e "$$top/batch-$$n" ]; do n=$$((n + 1)); done; \
	b="$$top/batch-$$n"; mkdir "$$b"; \
	$(MAKE) -s --no-print-directory -f $(HERE)/paper.mk cells-list CELLS_OUT="$$b/all" $(GRID); \
	while IFS=$$'\t' read -r name vars; do \
		[ -n "$$name" ] || continue; \
		eval "make -q -s -f $(HERE)/dynamics.mk $$vars" >/dev/null 2>&1 && continue; \
		printf '%s\t%s\n' "$$name" "$$vars"; \
	done <"$$b/all" >"$$b/cells"; \
	todo=$$(wc -l <"$$b/cells"); dep=""; \
	if [ "$$todo" -gt 0 ]; then \
		cj=$$($(SBATCH) --job-name=memprobe-cells --cpus-per-task=$(CPUS) \
			--array=0-$$((todo - 1)) --output="$$b/cell-%A_%a.log" \
			$(HERE)/slurm-cell $(HERE)/dynamics.mk "$$b/cells"); \
		echo "cells $$cj" >>"$$b/jobs"; dep="--dependency=afterok:$$cj"; \
		echo "slurm.mk: batch-$$n: $$todo of $$(grep -c . "$$b/all") cells submitted as array job $$cj"; \
	else \
		echo "slurm.mk: batch-$$n: every cell is up to date"; \
	fi; \
	gj=$$($(SBATCH) --job-name=memprobe-gather --cpus-per-task=1 $$dep \
		$(if $(filter 1,$(WAIT)),--wait) --output="$$b/gather-%j.log" \
		--wrap="make -s -f $(HERE)/paper.mk $(GRID)"); \
	echo "gather $$gj" >>"$$b/jobs"; \
	echo "slurm.mk: batch-$$n: gather job $$gj (logs in $$b)"

.PHONY: submit
