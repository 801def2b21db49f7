#!/usr/bin/env bats
# The refactoring of issue 11 ("one owner for every fact") promised no
# change of behaviour. This keeps it: the tree as it was before (BASE, from
# this checkout's git history) is built beside the current one, and the
# same miniature dynamics pipeline runs with each. Every array member of
# every stream (checkpoints, activations, probes, predictions) and every
# table must be identical. meta.txt may differ: it records argv and the
# version. Skipped outside a git checkout that holds BASE.
load helpers

BASE=635326a
MINI="DATA=mnist ARCH=mlp P=0.8 LIMIT=300 TEST_LIMIT=150 MAX_EPOCHS=1 SAVE=0,1 TRAIN_OPTS=--lr=0.05"

setup_file() {
	export B="$BATS_FILE_TMPDIR/base" R0="$BATS_FILE_TMPDIR/r0" R1="$BATS_FILE_TMPDIR/r1"
	git -C "$BATS_TEST_DIRNAME/.." cat-file -e "$BASE^{commit}" 2>/dev/null || return 0
	[ -f "${MEMPROBE_DATA:-$BATS_TEST_DIRNAME/../data}/mnist/train-images-idx3-ubyte" ] || return 0
	mkdir -p "$B"
	git -C "$BATS_TEST_DIRNAME/.." archive "$BASE" | tar -x -C "$B"
	# the base tree's own Makefile and flags, the current environment's CC
	make -s -C "$B" -j2 all >"$BATS_FILE_TMPDIR/build.log" 2>&1 || return 0
	make -s -f "$B/pipelines/dynamics.mk" $MINI RESULTS="$R0" >"$BATS_FILE_TMPDIR/r0.log" 2>&1
	make -s -f "$BATS_TEST_DIRNAME/../pipelines/dynamics.mk" $MINI RESULTS="$R1" \
		>"$BATS_FILE_TMPDIR/r1.log" 2>&1
	true
}

need_base() {
	git -C "$TOP" cat-file -e "$BASE^{commit}" 2>/dev/null ||
		skip "not a git checkout with $BASE (the tree before the refactoring)"
	need_mnist
	[ -x "$B/bin/train" ] || { cat "$BATS_FILE_TMPDIR/build.log"; fail "the base tree did not build"; }
}

# Every member of an NPZ but meta.txt: name, dtype, shape, crc32.
members() { "$TOP/build/tests/tools/npzcat" list "$1" | grep -v '^meta\.txt	'; }

@test "identity: the miniature pipeline's streams and tables are those of the tree before the refactoring" {
	need_base
	[ -d "$R0" ] && [ -d "$R1" ] || fail "a pipeline made no results folder"
	(cd "$R0" && find . -type f \( -name '*.npz' -o -name '*.tsv' \) | sort) >f0
	(cd "$R1" && find . -type f \( -name '*.npz' -o -name '*.tsv' \) | sort) >f1
	[ -s f0 ] || { cat "$BATS_FILE_TMPDIR/r0.log"; fail "the base pipeline wrote nothing"; }
	run diff f0 f1
	assert_success
	n=0
	while read -r f; do
		case $f in
		*.npz) diff <(members "$R0/$f") <(members "$R1/$f") || fail "$f differs" ;;
		*.tsv) cmp "$R0/$f" "$R1/$f" || fail "$f differs" ;;
		esac
		n=$((n + 1))
	done <f0
	# checkpoints, activations of 5 layers, probes, predictions, tables
	[ "$n" -ge 20 ] || fail "only $n files compared"
}
