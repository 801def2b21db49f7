#!/usr/bin/env bats
# README.md's own tool block (the first ``` block under "## The tools"),
# run as it stands in README.md, in a scratch folder, with the tools on
# PATH and MEMPROBE_DATA set as the block says (helpers.bash does both):
# every command must succeed and both score tables must be printed. The
# block is read from README.md itself: an edit that breaks it breaks this.
load helpers

tools_block() {
	awk '/^## The tools$/ { s = 1; next }
	     s && /^## / { exit }
	     s && /^```/ { if (b) exit; b = 1; next }
	     b' "$TOP/README.md"
}

@test "README: the tool block says how the tools and the data are found" {
	run tools_block
	assert_success
	[ "${#lines[@]}" -ge 5 ] || fail "no block under '## The tools'"
	assert_line --regexp '^#.*export PATH=\$PWD/bin:\$PATH'
	assert_line --regexp '^#.*MEMPROBE_DATA='
	assert_line --regexp '^#.*make install'
	# a subset, so that it runs in minutes
	assert_line --regexp '^mkdata mnist --split train --limit [0-9]+ '
	assert_line --regexp '^mkdata mnist --split test --limit [0-9]+ '
}

@test "README: the tool block runs as written" {
	need_mnist
	tools_block > block.sh
	[ -s block.sh ]
	run --separate-stderr bash -e -o pipefail block.sh
	[ "$status" -eq 0 ] || fail "the block failed ($status): $stderr"
	# masc predict | score, then the edited model's predictions | score
	[ "${#lines[@]}" -eq 4 ] || fail "output: $output"
	assert_line --index 0 --regexp $'^file\tn\tacc\t'
	assert_line --index 1 --regexp $'^-\t1000\t0\\.[0-9]+\t'
	assert_line --index 2 --regexp $'^model\tfile\tn\tacc\t'
	assert_line --index 3 --regexp $'^edited\t-\t1000\t0\\.[0-9]+\t'
	# what the commands between wrote
	for f in train.npz test.npz masc.npz edited.npz acts/train/fc3.npz acts/test/fc4.npz; do
		[ -s "$f" ] || fail "no $f"
	done
}
