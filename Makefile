# memprobe: build, test, benchmark, install.
#
#   make                      build the tools into bin/
#   make check                bootstrap what is missing, run every test
#   make bench                benchmarks (bench/), ratios to the machine's limits
#   make demo                 a short end-to-end experiment (pipelines/demo.mk)
#   make install              PREFIX=/usr/local DESTDIR=
#   make DEVELOPER=1          strict warnings as errors
#   make SANITIZE=address,undefined
#   make PAR=openmp           par_for through libgomp (for bench/bench_par.sh)
#   make check-asan           the suite under ASan+UBSan, zero reports (build/san-*)
#   make check-tsan           threaded runs under ThreadSanitizer, zero reports
#   make fuzz                 libFuzzer harnesses (clang), FUZZ_SECONDS=60 each

PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
PKG_CONFIG ?= pkg-config

CC      ?= cc
CFLAGS  ?= -O2 -g
# What the code needs is added even to a CFLAGS given on the command line.
override CFLAGS += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -pthread
CPPFLAGS += -Iinclude
PKGS     = openblas lapacke libarchive zlib libturbojpeg
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CPPFLAGS += $(PKG_CFLAGS)
LDLIBS   += $(or $(PKG_LIBS),-lopenblas -llapacke -larchive -lz -lturbojpeg) -lm -pthread

ifeq ($(DEVELOPER),1)
override CFLAGS += -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
          -Wvla -Wshadow -Wno-unused-parameter
endif
# par_for through libgomp instead of the pool, for bench/bench_par.sh.
ifeq ($(PAR),openmp)
override CFLAGS  += -fopenmp -DMEMPROBE_OPENMP
override LDFLAGS += -fopenmp
endif
ifneq ($(SANITIZE),)
override CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=$(SANITIZE)
endif

TOOLS    = $(patsubst cmd/%.c,%,$(wildcard cmd/*.c))
BINS     = $(addprefix bin/,$(TOOLS))
# lib/ in layers, each using only those before it: core (util, par,
# gemm, ...), stream (npy, npz, meta, samples), data (loaders, corrupt),
# nn (layers, models, train, acts), probe (gram, eig, the probes), cli.
LIB_SRC  = $(wildcard lib/*/*.c)
LIB_OBJ  = $(patsubst lib/%.c,build/lib/%.o,$(LIB_SRC))
LIB      = build/libmemprobe.a
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNITS    = $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))
TOOLS_SRC = $(wildcard tests/tools/*.c)
TEST_TOOLS = $(patsubst tests/tools/%.c,build/tests/tools/%,$(TOOLS_SRC))
BENCH_SRC = $(wildcard bench/*.c)
BENCHES  = $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))
MAN1     = $(wildcard man/*.1)
MAN5     = $(wildcard man/*.5)

all: $(BINS)

build/lib/%.o: lib/%.c $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# --version (lib/cli/cli.c): `git describe` of this checkout, else VERSION (a
# tree without its git history). Only cli.o sees it, and it is rebuilt
# when build/VERSION, rewritten only on a change, is newer.
VERSION ?= 0.0
MEMPROBE_VERSION := $(shell test -e .git && git describe --always --dirty --tags 2>/dev/null || echo '$(VERSION)')

build/VERSION: FORCE | build/lib
	@echo '$(MEMPROBE_VERSION)' | cmp -s - $@ || echo '$(MEMPROBE_VERSION)' >$@

build/lib/cli/cli.o: lib/cli/cli.c build/VERSION $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) '-DMEMPROBE_VERSION="$(MEMPROBE_VERSION)"' $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

bin/%: cmd/%.c $(LIB) $(wildcard include/*.h) | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

build/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB) | build/tests
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

build/tests/tools/%: tests/tools/%.c $(LIB) | build/tests/tools
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

build/bench/%: bench/%.c $(LIB) | build/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bin build/lib build/tests build/tests/tools build/bench:
	mkdir -p $@

units: $(UNITS) $(TEST_TOOLS)
benches: $(BENCHES)

# Fuzzing (tests/fuzz/, doc/HACKING.md): libFuzzer harnesses fuzz_NAME.c,
# built with clang and ASan+UBSan into build/fuzz/ and run by `make fuzz`
# one after another, FUZZ_SECONDS each, on the seeds in tests/fuzz/corpus/NAME
# (what they find goes to build/fuzz/corpus/NAME; a crash, hang or huge
# allocation to tests/fuzz/crashes/NAME/). FUZZ=npz limits the run to some.
# `make units` builds the same harnesses with CC into test_fuzz_replay,
# which `make check` runs over both committed folders.
FUZZ_SRC     = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   = $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ        ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_CC     ?= clang
FUZZ_CFLAGS  = $(filter-out -Werror -fsanitize=%,$(CFLAGS)) -O1 -g \
	       -fno-omit-frame-pointer -fsanitize=address,undefined \
	       -fno-sanitize-recover=all
FUZZ_OPTS    = -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	       -malloc_limit_mb=256 -timeout=10 -print_final_stats=1
FUZZ_LIB     = build/fuzz/libmemprobe.a
FUZZ_REPLAY_OBJ = $(patsubst tests/fuzz/%.c,build/tests/fuzz/%.o,$(FUZZ_SRC) tests/fuzz/fuzz.c)

build/fuzz/lib/%.o: lib/%.c $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(patsubst lib/%.c,build/fuzz/lib/%.o,$(LIB_SRC))
	rm -f $@
	$(AR) rcs $@ $^

build/fuzz/fuzz.o: tests/fuzz/fuzz.c tests/fuzz/fuzz.h | build/fuzz/lib
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build/fuzz/fuzz.o $(FUZZ_LIB)
	$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		build/fuzz/fuzz.o $(FUZZ_LIB) $(LDLIBS)

build/tests/fuzz/%.o: tests/fuzz/%.c tests/fuzz/fuzz.h $(wildcard include/*.h) | build/tests/fuzz
	$(CC) $(CPPFLAGS) -Itests/fuzz $(CFLAGS) -DLLVMFuzzerTestOneInput=fuzz_one_$(*:fuzz_%=%) -c -o $@ $<

build/tests/test_fuzz_replay: tests/fuzz/replay.c $(FUZZ_REPLAY_OBJ) $(LIB) | build/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) '-DFUZZ_HARNESSES=$(foreach n,$(FUZZ_NAMES),X($(n)))' \
		-o $@ $< $(FUZZ_REPLAY_OBJ) $(LIB) $(LDLIBS)

build/fuzz/lib build/tests/fuzz:
	mkdir -p $@

units: build/tests/test_fuzz_replay

# Each harness in turn; a finding stops that harness (libFuzzer's way) but
# not the others, and fails the target at the end.
fuzz: $(addprefix build/fuzz/fuzz_,$(FUZZ))
	@fail=0; for n in $(FUZZ); do \
		mkdir -p build/fuzz/corpus/$$n tests/fuzz/crashes/$$n; \
		dict=; test -f tests/fuzz/$$n.dict && dict=-dict=tests/fuzz/$$n.dict; \
		echo "fuzz $$n: $(FUZZ_SECONDS) s, log in build/fuzz/$$n.log"; \
		if OPENBLAS_NUM_THREADS=1 build/fuzz/fuzz_$$n $(FUZZ_OPTS) $$dict \
			-artifact_prefix=tests/fuzz/crashes/$$n/ \
			build/fuzz/corpus/$$n tests/fuzz/corpus/$$n >build/fuzz/$$n.log 2>&1; \
		then grep -E '^#[0-9]+.* cov: ' build/fuzz/$$n.log | tail -n 1; \
			grep -E '^Done ' build/fuzz/$$n.log; \
		else fail=1; grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' \
			build/fuzz/$$n.log; \
		fi; \
	done; exit $$fail

.PHONY: fuzz

# check bootstraps first (packages and data), then builds and runs every
# unit test and bats file; tests/run prints the closing 'N passed, N failed'.
check:
	@scripts/bootstrap --check
	@$(MAKE) --no-print-directory -j2 all units
	@tests/run

# The sanitizer passes build a copy of the tree under build/san-KIND and
# fail on any report (tests/sanitize says how); TESTS= picks a subset.
check-asan:
	@scripts/bootstrap --check
	@tests/sanitize address,undefined $(TESTS)

check-tsan:
	@scripts/bootstrap --check
	@tests/sanitize thread $(TESTS)

bench: all benches
	@scripts/bootstrap --check
	@bench/run

demo:
	@scripts/bootstrap --check
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -f pipelines/demo.mk

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1)
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))

clean:
	rm -rf bin build

.PHONY: all check check-asan check-tsan bench demo install uninstall clean units benches FORCE
.SECONDARY: $(LIB_OBJ)
