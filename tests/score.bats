#!/usr/bin/env bats
# tests/score.bats: score on prediction streams written by NumPy with
# known accuracies: the exact TSV, tags, several inputs, NA cases, errors.
load helpers

# p.npz: 10 samples, 4 classes; against y 5/10, against y_true 8/10;
# flipped = 3 samples (all right), kept = 7 samples (5 right).
# q.npz: no y_true/flipped, 3 of 4 right. Labels int64 as NumPy writes them.
mkpreds() {
	npy "
y  = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
yt = np.array([0, 1, 2, 3, 0, 1, 0, 0, 0, 0])
pred = np.array([0, 1, 2, 0, 0, 0, 0, 0, 0, 0], np.int32)
write('p.npz', 'data.classes=4\n', [('y', y), ('y_true', yt), ('flipped', (y != yt).astype(np.uint8)),
      ('pred', pred), ('score', np.zeros((10, 4), np.float32))])
write('q.npz', None, [('y', np.array([1, 1, 0, 2])), ('pred', np.array([1, 1, 0, 0])),
      ('score', np.zeros((4, 3), np.float32))])"
}

@test "score: --help prints usage and columns on stdout" {
	run --separate-stderr score --help
	assert_success
	assert_line --index 0 "usage: score [--tag KEY=VALUE ...] [--no-header] [-o FILE] [FILE ...]"
	assert_output --partial "acc_flipped"
	assert_equal "$stderr" ""
}

@test "score: usage errors exit 2 with nothing on stdout" {
	for args in "--tag" "--tag novalue" "--tag =v" "--tag file=x" "--tag acc=1" \
		"--tag a=1 --tag a=2" "--bogus" "-o"; do
		fails_usage "usage: score" score $args
	done
	run --separate-stderr score --tag "$(printf 'a=x\ty')"
	assert_usage_error
}

@test "score: exact TSV for known predictions" {
	need_numpy
	mkpreds
	run --separate-stderr score p.npz
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$output" "$(printf '%s\n' \
		"file	n	acc	acc_y	acc_y_true	acc_flipped	acc_kept	n_flipped" \
		"p.npz	10	0.800000	0.500000	0.800000	1.000000	0.714286	3")"
}

@test "score: tags lead in the order given, one row per file" {
	need_numpy
	mkpreds
	run --separate-stderr score --tag p=0.8 -t layer=fc1 -t empty= p.npz q.npz
	assert_success
	assert_equal "$output" "$(printf '%s\n' \
		"p	layer	empty	file	n	acc	acc_y	acc_y_true	acc_flipped	acc_kept	n_flipped" \
		"0.8	fc1		p.npz	10	0.800000	0.500000	0.800000	1.000000	0.714286	3" \
		"0.8	fc1		q.npz	4	0.750000	0.750000	NA	NA	NA	NA")"
}

@test "score: reads standard input, with no operand or '-'" {
	need_numpy
	mkpreds
	run --separate-stderr score <q.npz
	assert_success
	assert_line --index 1 "-	4	0.750000	0.750000	NA	NA	NA	NA"
	run --separate-stderr score p.npz - <q.npz
	assert_success
	assert_line --index 2 "-	4	0.750000	0.750000	NA	NA	NA	NA"
}

@test "score: --no-header prints only rows, -o writes the same text" {
	need_numpy
	mkpreds
	run --separate-stderr score -H p.npz
	assert_success
	assert_equal "$output" "p.npz	10	0.800000	0.500000	0.800000	1.000000	0.714286	3"
	score -t k=v p.npz q.npz >a.tsv
	score -t k=v p.npz q.npz -o b.tsv
	cmp a.tsv b.tsv
	[ "$(wc -l <b.tsv)" -eq 3 ]
}

@test "score: NA for empty subsets, y_true alone, and n = 0" {
	need_numpy
	npy "
write('noflip.npz', None, [('y', np.array([0, 1])), ('y_true', np.array([0, 1])),
      ('flipped', np.zeros(2, np.uint8)), ('pred', np.array([0, 0]))])
write('ytonly.npz', None, [('y_true', np.array([0, 1, 1])), ('pred', np.array([0, 1, 0]))])
write('empty.npz', None, [('y', np.zeros(0, np.int64)), ('pred', np.zeros(0, np.int32))])"
	run --separate-stderr score -H noflip.npz ytonly.npz empty.npz
	assert_success
	assert_equal "$output" "$(printf '%s\n' \
		"noflip.npz	2	0.500000	0.500000	0.500000	NA	0.500000	0" \
		"ytonly.npz	3	0.666667	NA	0.666667	NA	NA	NA" \
		"empty.npz	0	NA	NA	NA	NA	NA	NA")"
}

@test "score: scores large streams against the truth exactly" {
	need_numpy
	npy "
rs = np.random.RandomState(1); n = 20000; C = 10
yt = rs.randint(0, C, n); y = yt.copy(); m = rs.rand(n) < 0.5; y[m] = rs.randint(0, C, m.sum())
pred = np.where(rs.rand(n) < 0.7, yt, rs.randint(0, C, n)).astype(np.int32)
f = (y != yt)
write('big.npz', 'data.classes=10\n', [('y', y), ('y_true', yt), ('flipped', f.astype(np.uint8)),
      ('pred', pred), ('score', rs.rand(n, C).astype(np.float32))])
open('want.tsv', 'w').write('big.npz\t%d\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t%d\n' % (n, (pred == yt).mean(),
      (pred == y).mean(), (pred == yt).mean(), (pred == yt)[f].mean(), (pred == yt)[~f].mean(), f.sum()))"
	score -H big.npz >got.tsv
	cmp want.tsv got.tsv
}

@test "score: a stream without pred is an error" {
	need_numpy
	npy "
write('d.npz', None, [('y', np.array([0, 1])), ('x', np.zeros((2, 1), np.float32))])"
	fails_with "^score: d.npz: no member 'pred'" score d.npz
}

@test "score: length mismatches name the file and member" {
	need_numpy
	npy "
write('a.npz', None, [('y', np.array([0, 1, 2])), ('pred', np.array([0, 1]))])
write('b.npz', None, [('y', np.array([0, 1])), ('y_true', np.array([0, 1])), ('flipped', np.zeros(3, np.uint8)), ('pred', np.array([0, 1]))])"
	fails_with "^score: a.npz: member 'y' has 3 values but 'pred' has 2$" score a.npz
	fails_with "^score: b.npz: member 'flipped' has 3 values but 'pred' has 2$" score b.npz
}

@test "score: predictions out of range are errors" {
	need_numpy
	npy "
write('w.npz', None, [('y', np.array([0, 1])), ('pred', np.array([0, 4])), ('score', np.zeros((2, 4), np.float32))])
write('m.npz', 'model.classes=3\n', [('y', np.array([0, 1])), ('pred', np.array([3, 0]))])
write('n.npz', None, [('y', np.array([0, 1])), ('pred', np.array([0, -2]))])"
	fails_with "^score: w.npz: prediction 4 at index 1 is outside 0..3$" score w.npz
	fails_with "^score: m.npz: prediction 3 at index 0 is outside 0..2$" score m.npz
	fails_with "prediction -2 at index 1 is negative" score n.npz
}

@test "score: bad flipped values, missing labels and float predictions are errors" {
	need_numpy
	npy "
write('f.npz', None, [('y', np.array([0, 1])), ('y_true', np.array([0, 1])), ('flipped', np.array([0, 2], np.uint8)), ('pred', np.array([0, 1]))])
write('l.npz', None, [('pred', np.array([0, 1]))])
write('p.npz', None, [('y', np.array([0, 1])), ('pred', np.array([0.0, 1.0]))])"
	fails_with "member 'flipped' has value 2 at index 1, expected 0 or 1" score f.npz
	fails_with "^score: l.npz: no labels" score l.npz
	fails_with "'pred'.*integers" score p.npz
}

@test "score: one bad input prints nothing and writes no file" {
	need_numpy
	mkpreds
	echo "not a stream" >text
	head -c 300 p.npz >cut
	for bad in text cut missing.npz; do
		fails_with "$bad" score p.npz "$bad" q.npz
		run --separate-stderr score p.npz "$bad" -o out.tsv
		assert_runtime_error
		[ ! -e out.tsv ]
	done
	run ls
	refute_output --partial ".tmp."
}

@test "score: a stream cut at every 1 KiB boundary is an error" {
	need_numpy
	npy "
rs = np.random.RandomState(2)
write('p.npz', 'data.classes=10\n', [('y', rs.randint(0, 10, 500)), ('pred', rs.randint(0, 10, 500)),
      ('score', rs.rand(500, 10).astype(np.float32))])"
	size=$(wc -c <p.npz)
	for ((k = 1024; k < size; k += 1024)); do
		head -c "$k" p.npz >cut
		run --separate-stderr score cut
		assert_runtime_error
	done
	[ "$size" -gt 3072 ]
}

@test "score: labels outside the classes and absurd class counts are errors" {
	need_numpy
	npy "
y = np.array([0, 1, 2, 3]); pred = np.array([0, 1, 2, 3], np.int32); s = np.zeros((4, 4), np.float32)
write('neg.npz', 'data.classes=4\n', [('y', np.array([0, -1, 2, 3])), ('pred', pred), ('score', s)])
write('ten.npz', None, [('y', y), ('y_true', np.array([0, 1, 10, 3])), ('pred', pred), ('score', s)])
write('max.npz', 'model.classes=4\n', [('y', np.array([0, 1, 2, 2**31 - 1])), ('pred', pred)])
write('nocl.npz', None, [('y', np.array([0, -5, 2, 3])), ('pred', pred)])
write('huge.npz', 'data.classes=2147483647\n', [('y', y), ('pred', pred), ('score', s)])
write('width.npz', 'data.classes=10\n', [('y', y), ('pred', pred), ('score', s)])
write('mix.npz', 'data.classes=10\nmodel.classes=4\n', [('y', y), ('pred', pred)])
write('ok.npz', 'data.classes=4\nmodel.classes=4\n', [('y', y), ('pred', pred), ('score', s)])"
	check() { fails_with "$2" score "$1"; }
	check neg.npz "^score: neg.npz: label -1 at index 1 of 'y' is negative$"
	check ten.npz "^score: ten.npz: label 10 at index 2 of 'y_true' is outside 0..3$"
	check max.npz "^score: max.npz: label 2147483647 at index 3 of 'y' is outside 0..3$"
	check nocl.npz "^score: nocl.npz: label -5 at index 1 of 'y' is negative$"
	check huge.npz "^score: huge.npz: meta.txt: invalid data.classes '2147483647'"
	check width.npz "^score: width.npz: the stream has 10 classes \(meta.txt\) but 'score' has 4$"
	check mix.npz "^score: mix.npz: meta.txt: data.classes=10 but model.classes=4$"
	run --separate-stderr score -H ok.npz
	assert_success
	assert_output "ok.npz	4	1.000000	1.000000	NA	NA	NA	NA"
}

# Device nodes made in the scratch folder (mknod needs root): the same
# devices as /dev/full and /dev/null, so that a regression replaces a copy,
# never the machine's own.
mkdev() { # NAME MINOR
	[ "$(id -u)" = 0 ] || skip "mknod needs root"
	mknod "$1" c 1 "$2" 2>/dev/null || skip "cannot create device nodes here"
	[ -c "$1" ] || skip "no device node"
}

@test "score: -o to a device like /dev/full fails and the device stays a device" {
	need_numpy
	mkpreds
	mkdev full 7
	fails_with "^score: cannot write 'full': No space left on device$" score -o full p.npz
	[ -c full ] || fail "the device was replaced by a regular file"
	run ls
	refute_output --partial ".tmp."
}

@test "score: -o to a device like /dev/null succeeds and the device stays a device" {
	need_numpy
	mkpreds
	mkdev null 3
	run --separate-stderr score -o null p.npz q.npz
	assert_success
	assert_output ""
	[ -c null ] || fail "the device was replaced by a regular file"
	run ls
	refute_output --partial ".tmp."
}

@test "score: -o naming a FIFO writes the TSV into it and leaves it a FIFO" {
	need_numpy
	mkpreds
	score p.npz q.npz > want.tsv
	mkfifo f
	# (bounded: a score that renamed a file over f would leave cat waiting)
	timeout 20 cat f > got.tsv &
	run --separate-stderr score -o f p.npz q.npz
	wait
	assert_success
	[ -p f ] || fail "the FIFO was replaced"
	cmp want.tsv got.tsv
}
