#!/usr/bin/env bats
# tests/velpic.bats: velpic fit/predict against NumPy (top eigenvector of
# each class's X^T X, sign by the mean over ALL training rows, argmax of
# dot products), labels copied through, determinism, and the errors.
load helpers

# Python prelude: the reference VeLPIC in NumPy; write(), meta() and
# probe_rows() are tests/fixtures.py's (here with the second direction
# pulled back 3 times as far: nudge=-3).
W='
def velpic(x, y, C):
    x = x.astype(np.float64).reshape(len(x), -1)
    W = []
    for c in range(C):
        X = x[y == c]
        w, v = np.linalg.eigh(X.T @ X)
        v = v[:, -1]
        if (x @ v).mean() < 0:
            v = -v
        W.append(v)
    return np.array(W)
'

mkfixtures() {
	npy "act_stream('train.npz', 'data.classes=3\ndumpacts.layer=fc4\n', 600, seed=1, truth=1, nudge=-3)
act_stream('test.npz', 'data.classes=3\ndumpacts.layer=fc4\n', 300, seed=2, truth=2, flipped=True, nudge=-3)"
}

# The fixtures and v.npz, a probe fitted on train.npz.
mkprobe() {
	mkfixtures
	velpic fit -q train.npz -o v.npz
}

@test "velpic: --help prints usage and options on stdout" {
	run --separate-stderr velpic --help
	assert_success
	assert_line --index 0 "usage: velpic fit [--labels y|y_true] [--method auto|primal|dual] [--compress N] [-q] [-o FILE] [STREAM]"
	assert_line --index 1 "       velpic predict -m PROBE [--compress N] [-o FILE] [STREAM]"
	assert_output --partial "--labels"
	assert_equal "$stderr" ""
}

@test "velpic: usage errors exit 2 with nothing on stdout" {
	for args in "" "bogus" "fit --labels z" "fit --method x" "fit --var 0.9" "fit a b" \
		"fit -m p.npz" "fit --compress -1" "predict" "predict -m p.npz -q" \
		"predict -m p.npz --labels y" "predict -m -" "predict -m p.npz a b"; do
		fails_usage "usage: velpic fit" velpic $args
	done
}

@test "velpic: vectors, signs and predictions agree with NumPy" {
	need_numpy
	mkfixtures
	for lab in y y_true; do
		velpic fit -q --labels $lab train.npz -o v.npz
		velpic predict -m v.npz test.npz -o p.npz
		npy "$W
tr, te = np.load('train.npz'), np.load('test.npz')
ref = velpic(tr['act'], tr['$lab'], 3)
w = np.load('v.npz')['w']
assert w.dtype == np.float32 and w.shape == (3, 20)
assert np.abs(w - ref).max() < 1e-6, np.abs(w - ref).max()
s = te['act'] @ w.T
r = np.load('p.npz')
assert r.files == ['meta.txt', 'y', 'y_true', 'flipped', 'pred', 'score'], r.files
assert (r['pred'] == s.argmax(1)).all() and np.allclose(r['score'], s, atol=1e-5)
m = meta('v.npz')
assert m['probe'] == 'velpic' and m['velpic.labels'] == '$lab' and m['probe.layer'] == 'fc4'
open('acc', 'w').write('%.6f' % (s.argmax(1) == te['y_true']).mean())"
		run score --no-header p.npz
		assert_success
		assert_output --regexp "^p.npz	300	$(cat acc)	"
	done
}

@test "velpic: the sign follows the mean over ALL training rows, not the class's own" {
	need_numpy
	# Class 0's rows point to -e1, but the mean of x . e1 over all rows is
	# positive: v_0 = +e1. Negating the data flips every vector.
	npy "$W
x = np.array([[-1, 0]] * 10 + [[5, 1]] * 10, np.float32); y = np.repeat([0, 1], 10)
write('s.npz', '', [('y', y), ('act', x)])
write('n.npz', '', [('y', y), ('act', -x)])"
	velpic fit -q s.npz -o a.npz
	velpic fit -q n.npz -o b.npz
	npy "$W
a, b = np.load('a.npz')['w'], np.load('b.npz')['w']
assert np.allclose(a[0], [1, 0]) and np.allclose(a[1], np.array([5, 1]) / np.sqrt(26)), a
assert np.allclose(b, -a)"
}

@test "velpic: dual method gives the same vectors" {
	need_numpy
	mkfixtures
	velpic fit -q --method primal train.npz -o a.npz
	velpic fit -q --method dual train.npz -o b.npz
	npy "$W
a, b = np.load('a.npz')['w'], np.load('b.npz')['w']
assert np.abs(a - b).max() < 1e-6"
}

@test "velpic: outputs are byte-identical run to run" {
	need_numpy
	mkfixtures
	velpic fit -q train.npz > a.npz
	velpic fit -q train.npz > b.npz
	cmp a.npz b.npz
	velpic predict -m a.npz < test.npz > p1.npz
	velpic predict -m a.npz < test.npz > p2.npz
	cmp p1.npz p2.npz
}

@test "velpic: a class without samples gets a zero vector and a warning" {
	need_numpy
	npy "$W
y, x = probe_rows(100, seed=5, nudge=-3)
write('e.npz', 'data.classes=4\n', [('y', y), ('act', x)])"
	run --separate-stderr velpic fit e.npz -o v.npz
	assert_success
	assert_regex "$stderr" "class 3 has no training rows"
	npy "$W
w = np.load('v.npz')['w']; assert w.shape == (4, 20) and (w[3] == 0).all()"
}

@test "velpic: runtime errors exit 1 and leave no output file" {
	need_numpy
	mkfixtures
	npy "$W
y, x = probe_rows(50, seed=4, nudge=-3)
x[9, 0] = np.inf
write('inf.npz', '', [('y', y), ('act', x)])
write('wide.npz', '', [('y', y), ('act', np.zeros((50, 5), np.float32))])
write('float.npz', '', [('y', y.astype(np.float32)), ('act', x)])
write('w3.npz', 'probe=velpic\n', [('w', np.zeros((3,), np.float32))])"
	masc fit -q train.npz -o m.npz
	velpic fit -q train.npz -o v.npz
	check() { fails_leaving_nothing velpic "$@"; assert_regex "$stderr" "^velpic: "; }
	check fit inf.npz; assert_regex "$stderr" "row 9 of 'act' is not finite"
	check fit float.npz; assert_regex "$stderr" "where integers are expected"
	check fit nothing.npz
	check predict -m m.npz test.npz; assert_regex "$stderr" "'masc' probe, not a velpic probe"
	check predict -m w3.npz test.npz; assert_regex "$stderr" "2-D float array"
	check predict -m v.npz wide.npz; assert_regex "$stderr" "5 values but the probe has D=20"
	check predict -m v.npz inf.npz; assert_regex "$stderr" "not finite"
}

@test "velpic: a header claiming 2^28 rows fails on truncation, within 2 GB" {
	need_numpy
	mkprobe
	npy "write('rows28.npz', 'data.classes=3\ndumpacts.layer=fc4\n', [('act', npyraw((2**28, 20)))])"
	run --separate-stderr timeout 120 "$TOP/tests/memlimit" 1953 velpic predict -m v.npz rows28.npz
	assert_runtime_error
	assert_regex "$stderr" "^velpic: rows28.npz: member 'act' is truncated"
	# and a fit of 3 rows declared 2^28 wide allocates nothing for them
	npy "write('wide28.npz', 'data.classes=3\n', [('y', np.arange(3, dtype=np.int32)), ('act', npyraw((3, 2**28)))])"
	run --separate-stderr timeout 120 "$TOP/tests/memlimit" 1953 velpic fit wide28.npz -o f.npz
	assert_runtime_error
	assert_regex "$stderr" "^velpic: wide28.npz: member 'act' is truncated"
	[ ! -e f.npz ]
}

@test "velpic: integer features, integer or non-finite w, bad labels are errors" {
	need_numpy
	mkprobe
	npy "$W
y, x = probe_rows(50, seed=4, nudge=-3)
write('i4.npz', 'data.classes=3\n', [('y', y), ('act', x.astype(np.int32))])
write('wi.npz', 'probe=velpic\n', [('w', np.ones((3, 20), np.int32))])
w = np.load('v.npz')['w']; w[1, 2] = np.nan
write('wnan.npz', 'probe=velpic\n', [('w', w)])
write('ten.npz', 'data.classes=3\n', [('y', np.where(np.arange(50) == 4, 10, y)), ('act', x)])
write('flip.npz', 'data.classes=3\n', [('y', y), ('flipped', np.full(50, 7, np.uint8)), ('act', x)])"
	check() { fails_leaving_nothing velpic "$@"; }
	check fit i4.npz; assert_regex "$stderr" "^velpic: i4.npz: member 'act' has dtype '<i4': features must be float32 or float64"
	check predict -m v.npz i4.npz; assert_regex "$stderr" "^velpic: i4.npz: member 'act' has dtype '<i4'"
	check predict -m wi.npz test.npz; assert_regex "$stderr" "^velpic: wi.npz: member 'w' has dtype '<i4'"
	check predict -m wnan.npz test.npz; assert_regex "$stderr" "^velpic: wnan.npz: 'w' has a non-finite value in row 1$"
	check predict -m v.npz ten.npz; assert_regex "$stderr" "^velpic: ten.npz: label 10 at index 4 of 'y' is outside 0..2$"
	check predict -m v.npz flip.npz; assert_regex "$stderr" "^velpic: flip.npz: member 'flipped' has value 7 at index 0, expected 0 or 1$"
	check fit ten.npz; assert_regex "$stderr" "^velpic: ten.npz: label 10 at index 4 of 'y' is outside 0..2$"
}
