#!/usr/bin/env bats
# tests/manlists.bats: the man pages and the README list exactly what the
# architecture and data-set tables (lib/nn/arch.c, lib/data/data.c) hold, in the
# tables' order, with the same defaults, probed layers, final layers,
# shapes and stopping accuracies. --help is printed from the tables, so it
# cannot disagree; the docs are written by hand, so a new architecture or
# data set fails here until they say so too. The tables come from
# build/tests/tools/tables (tab-separated, see tests/tools/tables.c).
load helpers

TABLES=${TABLES:-$TOP/build/tests/tools/tables}
table() { "$TABLES" | awk -F '\t' -v k="$1" '$1 == k' | cut -f "$2" --output-delimiter="	"; }
# The items of one .It line: ".It Cm a , Cm b" -> "a b".
items() { sed -e 's/^\.It //' -e 's/\<Cm\>//g' -e 's/ ,//g' -e 's/  */ /g' -e 's/^ //' -e 's/ $//'; }

@test "manlists: train(1) describes every architecture, in the table's order" {
	want=$(table arch 2)
	got=$(sed -n '/^\.Ss Architectures/,/^\.Ss /p' "$TOP/man/train.1" |
		grep '^\.It Cm ' | items)
	assert_equal "$got" "$want"
}

@test "manlists: train(1) --arch names every architecture" {
	want=$(table arch 2 | paste -sd ' ')
	got=$(sed -n '/^\.It Fl a , Fl -arch/,/^\.It /p' "$TOP/man/train.1" |
		sed -n 's/^\.Cm \([^ ]*\).*/\1/p' | paste -sd ' ')
	assert_equal "$got" "$want"
}

@test "manlists: train(1)'s defaults are the table's (optimizer, lr, batch)" {
	want=$(table arch 2-5)
	# ".It cnn Ta Adam, betas ... Ta 2e-4 Ta 128, or 32 for 3 channels"
	got=$(sed -n '/^\.Ss Defaults/,/^\.El/p' "$TOP/man/train.1" |
		sed -n 's/^\.It \([a-z0-9-]*\) Ta \([A-Za-z]*\)[^T]* Ta \([^ ]*\) Ta \(.*\)/\1\t\2\t\3\t\4/p' |
		sed 's/\\(mu/x/g' |
		awk -F '\t' -v OFS='\t' '{ print $1, tolower($2), $3 + 0, $4 }')
	assert_equal "$got" "$want"
}

@test "manlists: train(1)'s probed and final layers are some architecture's" {
	pairs=$(table arch 6-7)
	got=$(awk '/^Probe-able layers/ { p = 1; next }
		p == 1 && /^\.Cm / { sub(/^\.Cm /, ""); sub(/ ;$/, ""); l = $0; p = 2; next }
		p == 2 && /^\.Cm / { sub(/^\.Cm /, ""); sub(/ \.$/, ""); print l "\t" $0; p = 0 }' \
		"$TOP/man/train.1")
	[ -n "$got" ] || fail "no 'Probe-able layers' in train.1"
	while IFS= read -r line; do
		grep -qxF "$line" <<<"$pairs" || fail "train.1: '$line' is no architecture's layers and final layer"
	done <<<"$got"
}

@test "manlists: train(1)'s stopping accuracies are the data sets' (--until)" {
	want=$(table data 2,5 | awk -F '\t' '$2 > 0' | sort)
	got=$(sed -n '/^The stopping accuracy/,/^\.Ss /p' "$TOP/man/train.1" |
		awk -v OFS='\t' '/^[0-9.]+ for$/ { v = $1 } /^\.Cm / && v != "" { print $2, v }' | sort)
	assert_equal "$got" "$want"
}

@test "manlists: dumpacts(1) lists every architecture's layers" {
	want=$(table arch 2,6)
	got=$(sed -n '/^Layer names are those of/,/^Each sample/p' "$TOP/man/dumpacts.1" |
		awk '/^\.It Cm / { n = $0; next }
		n != "" && /^\.Cm / { sub(/^\.Cm /, ""); sub(/ :$/, "");
			sub(/^\.It /, "", n); gsub(/Cm |,/, "", n); k = split(n, a, / +/);
			for (i = 1; i <= k; i++) if (a[i] != "") print a[i] "\t" $0 }
		{ n = "" }')
	assert_equal "$got" "$want"
}

@test "manlists: mkdata(1) describes every data set and its shape, in the table's order" {
	want=$(table data 2,3)
	# ".It Cm mnist , Cm fashion-mnist" ... "x is" / ".Pq N, 1, 28, 28 ."
	got=$(sed -n '/^\.Ar NAME$/,/^\.Ss /p' "$TOP/man/mkdata.1" |
		awk '/^\.It Cm / { sub(/^\.It /, ""); gsub(/Cm |,/, ""); names = $0; x = 0; next }
		/^x is$/ { x = 1; next }
		x && /^\.Pq N, / { sub(/^\.Pq N, /, ""); sub(/ \.$/, ""); gsub(/, /, "x");
			k = split(names, a, / +/);
			for (i = 1; i <= k; i++) if (a[i] != "") print a[i] "\t" $0; x = 0 }')
	assert_equal "$got" "$want"
	# and where their files are looked for
	for d in $(table data 2); do
		grep -qx "\.Pa data/$d[ .,]*" "$TOP/man/mkdata.1" || fail "mkdata.1 has no data/$d"
	done
}

@test "manlists: README's architecture table is the table's (name, probed layers, final layer)" {
	want=$(table arch 2,6,7)
	got=$(sed -n '/^## Architectures and probed layers/,/^## /p' "$TOP/README.md" |
		awk -F '|' -v OFS='\t' 'NF > 4 && $2 ~ /`[a-z0-9]/ {
			for (i = 2; i <= 5; i++) { gsub(/^ +| +$/, "", $i) }
			split($5, f, /`/); gsub(/`/, "", $2); gsub(/`/, "", $4); print $2, $4, f[2] }')
	assert_equal "$got" "$want"
}

@test "manlists: --help lists every architecture and data set" {
	run --separate-stderr train --help
	for a in $(table arch 2); do assert_output --partial "  $a "; done
	run --separate-stderr dumpacts --help
	while IFS= read -r l; do assert_output --partial "$l"; done < <(table arch 6)
	run --separate-stderr mkdata --help
	for d in $(table data 2); do assert_output --partial "  $d "; done
}
