# memprobe: build, test, benchmark, install.
#
#   make                      build the tools into bin/
#   make check                bootstrap what is missing, run every test
#   make bench                benchmarks (bench/), ratios to the machine's limits
#   make demo                 a short end-to-end experiment (pipelines/demo.mk)
#   make install              PREFIX=/usr/local DESTDIR=
#   make DEVELOPER=1          strict warnings as errors
#   make SANITIZE=address,undefined

PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
PKG_CONFIG ?= pkg-config

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -pthread
CPPFLAGS += -Iinclude
PKGS     = openblas lapacke libarchive zlib libturbojpeg
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CPPFLAGS += $(PKG_CFLAGS)
LDLIBS   += $(or $(PKG_LIBS),-lopenblas -llapacke -larchive -lz -lturbojpeg) -lm -pthread

ifeq ($(DEVELOPER),1)
CFLAGS += -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
          -Wvla -Wshadow -Wno-unused-parameter
endif
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif

TOOLS    = $(patsubst cmd/%.c,%,$(wildcard cmd/*.c))
BINS     = $(addprefix bin/,$(TOOLS))
LIB_SRC  = $(wildcard lib/*.c)
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

build/lib/%.o: lib/%.c $(wildcard include/*.h) | build/lib
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

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

# check bootstraps first (packages and data), then builds and runs every
# unit test and bats file; tests/run prints the closing 'N passed, N failed'.
check:
	@scripts/bootstrap --check
	@$(MAKE) --no-print-directory -j2 all units
	@tests/run

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

.PHONY: all check bench demo install uninstall clean units benches
.SECONDARY: $(LIB_OBJ)
