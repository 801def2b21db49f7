# pipelines/lock.mk: a pipeline's make holds the lock of the results
# folders it works in, so that two makes never work in one folder (one
# would `rm -rf` what the other is writing).
#
#   LOCK_DIRS := $(OUT)
#   include $(HERE)lock.mk
#   ifeq ($(LOCKED),yes)
#   ... everything that reads variables into files, and every rule ...
#   endif
#
# A make that does not hold its folders yet runs itself again, with the
# same goals and variables, under pipelines/lock: an exclusive flock(1) on
# each DIR/.lock, or a failure at once whose message names the process
# that holds it. The folders held are listed (absolute) in
# $MEMPROBE_LOCKED, which every make started under the lock inherits: a
# nested make on a folder already held does not lock it again (that would
# wait for itself), one on another folder locks that one (paper.mk locks
# results/paper, each dynamics.mk it starts its own OUT). make -n and -q
# run no recipe: they lock nothing.
lock_here := $(dir $(lastword $(MAKEFILE_LIST)))
lock_mk   := $(firstword $(MAKEFILE_LIST))
lock_need := $(filter-out $(MEMPROBE_LOCKED),$(abspath $(LOCK_DIRS)))
lock_dry  := $(or $(findstring n,$(firstword -$(MAKEFLAGS))),$(findstring q,$(firstword -$(MAKEFLAGS))))

ifneq ($(and $(lock_need),$(if $(lock_dry),,yes)),)
LOCKED := no
lock_goals := $(or $(MAKECMDGOALS),lock-default-goal)
.PHONY: $(lock_goals) lock-run
$(lock_goals): lock-run ; @:
lock-run:
	@MEMPROBE_LOCKED="$(strip $(MEMPROBE_LOCKED) $(lock_need))" \
	$(lock_here)lock $(notdir $(lock_mk)) $(lock_need) -- \
		$(MAKE) --no-print-directory -f $(lock_mk) $(MAKECMDGOALS)
else
LOCKED := yes
endif
