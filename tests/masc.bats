#!/usr/bin/env bats
# tests/masc.bats: masc fit/predict/quadratic: the authors' reference
# numbers on MNIST, agreement with NumPy's eigh, the k rule, --components,
# primal vs dual, the quadratic form, labels copied through, zero rows,
# determinism, and every error case.
load helpers

# Python prelude: the reference MASC in NumPy (eigh of each class's X^T X);
# write(), meta() and probe_rows() (C classes with distinct directions)
# are tests/fixtures.py's.
W='
def masc(x, y, C, T=0.99, K=None):
    B = []
    for c in range(C):
        X = x[y == c].astype(np.float64)
        w, v = np.linalg.eigh(X.T @ X)
        w, v = w[::-1], v[:, ::-1]
        k = K if K else int(np.sum(np.cumsum(w / w.sum()) <= T)) + 1
        B.append(v[:, :k])
    return B
def cosines(B, x):
    x = x.astype(np.float64).reshape(len(x), -1)
    return np.stack([np.linalg.norm(x @ b, axis=1) for b in B], 1) / np.linalg.norm(x, axis=1)[:, None]
def bases(p):
    k = p["k"]; o = np.concatenate([[0], np.cumsum(k)])
    return [p["basis"][o[c]:o[c + 1]].T for c in range(len(k))]
def proj(b):
    return b @ b.T
'

# train.npz / test.npz: activation streams, 3 classes, D=20, int64 labels.
mkfixtures() {
	npy "act_stream('train.npz', 'data.classes=3\ndumpacts.layer=fc9\n', 600, seed=1)
act_stream('test.npz', 'data.classes=3\ndumpacts.layer=fc9\ndata.split=test\n', 300, seed=2, truth=1, flipped=True)"
}

# The fixtures and p.npz, a probe fitted on train.npz.
mkprobe() {
	mkfixtures
	masc fit -q train.npz -o p.npz
}

@test "masc: --help prints usage and options on stdout" {
	run --separate-stderr masc --help
	assert_success
	assert_line --index 0 "usage: masc fit [--var T | --components K] [--labels y|y_true] [--method auto|primal|dual] [--compress N] [-q] [-o FILE] [STREAM]"
	assert_line --index 1 "       masc predict -m PROBE [--compress N] [-o FILE] [STREAM]"
	assert_line --index 2 "       masc quadratic -m PROBE [--compress N] [-o FILE]"
	assert_output --partial "--components"
	assert_output --partial "--method"
	assert_equal "$stderr" ""
	run --separate-stderr masc fit --help
	assert_success
	assert_output --partial "usage: masc fit"
}

@test "masc: usage errors exit 2 with nothing on stdout" {
	for args in "" "bogus" "fit --var 1" "fit --var 1.5" "fit --var -0.1" "fit --var abc" \
		"fit --components 0" "fit --components x" "fit --var 0.9 --components 3" \
		"fit --labels z" "fit --method svd" "fit --compress 10" "fit a b" \
		"fit -m p.npz" "fit --bogus" "predict" "predict -m p.npz --var 0.9" \
		"predict -m p.npz --labels y" "predict -m p.npz a b" "predict -m -" \
		"quadratic" "quadratic -m p.npz extra" "quadratic -m p.npz -q"; do
		fails_usage "usage: masc fit" masc $args
	done
}

@test "masc: MNIST input layer, true labels, 0.99: 1365 components, test accuracy 0.8234" {
	need_mnist
	mkdata mnist --split train --compress 0 -o train.npz
	mkdata mnist --split test --compress 0 -o test.npz
	run --separate-stderr masc fit --labels y_true train.npz -o none.npz
	assert_runtime_error
	assert_regex "$stderr" "no 'y_true' member"
	run --separate-stderr masc fit train.npz -o probe.npz
	assert_success
	assert_regex "$stderr" "k = 148 45 178 160 147 157 129 124 160 117 \(total 1365\)"
	masc predict -m probe.npz test.npz -o pred.npz
	run score pred.npz
	assert_success
	assert_line --index 1 --regexp "^pred.npz	10000	0.823400	"
	# The same probe from the true labels of a corrupted stream.
	corrupt -p 0.8 train.npz -o corrupted.npz
	masc fit -q --labels y_true corrupted.npz -o probe2.npz
	if [ -n "$PY" ]; then
		npy "$W
a, b = np.load('probe.npz'), np.load('probe2.npz')
assert (a['k'] == b['k']).all() and (a['basis'] == b['basis']).all()
assert meta('probe2.npz')['masc.labels'] == 'y_true'"
	fi
}

@test "masc: fit agrees with NumPy eigh: k, subspaces, cosines, predictions" {
	need_numpy
	mkfixtures
	for t in 0.5 0.9 0.99; do
		masc fit -q --var $t train.npz -o p.npz
		masc predict -m p.npz test.npz -o pred.npz
		npy "$W
tr, te = np.load('train.npz'), np.load('test.npz')
B = masc(tr['act'], tr['y'], 3, T=$t)
p = np.load('p.npz')
assert p['k'].dtype == np.int32 and p['basis'].dtype == np.float64
assert list(p['k']) == [b.shape[1] for b in B], (p['k'], [b.shape[1] for b in B])
for b, q in zip(B, bases(p)):
    assert np.abs(proj(b) - proj(q)).max() < 1e-9
    assert np.allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-12)
cs = cosines(B, te['act'])
r = np.load('pred.npz')
assert r['pred'].dtype == np.int32 and r['score'].dtype == np.float32
assert np.abs(r['score'] - cs).max() < 1e-5
assert (r['pred'] == cs.argmax(1)).all()
m = meta('p.npz')
assert m['masc.threshold'] == '$t' and m['probe'] == 'masc' and m['probe.layer'] == 'fc9'
assert m['masc.k'] == ' '.join(str(k) for k in p['k'])
assert m['masc.k_total'] == str(p['k'].sum()) and m['masc.n'] == '600' and m['masc.dim'] == '20'
open('acc', 'w').write('%.6f %.6f\n' % ((cs.argmax(1) == te['y_true']).mean(), (cs.argmax(1) == te['y']).mean()))"
		# score's accuracies are the ones NumPy's own predictions get.
		run score --no-header pred.npz
		assert_success
		read -r acc_true acc_y < acc
		assert_output --regexp "^pred.npz	300	$acc_true	$acc_y	$acc_true	"
	done
}

@test "masc: --components K; one component keeps VeLPIC's direction" {
	need_numpy
	mkfixtures
	masc fit -q --components 4 train.npz -o p4.npz
	masc fit -q -k 1 train.npz -o p1.npz
	velpic fit -q train.npz -o v.npz
	npy "$W
tr = np.load('train.npz')
B = masc(tr['act'], tr['y'], 3, K=4)
p = np.load('p4.npz')
assert list(p['k']) == [4, 4, 4]
for b, q in zip(B, bases(p)):
    assert np.abs(proj(b) - proj(q)).max() < 1e-9
assert meta('p4.npz')['masc.components'] == '4'
one, w = np.load('p1.npz')['basis'], np.load('v.npz')['w']
assert np.allclose(np.abs((one * w).sum(1)), 1, atol=1e-6)"
}

@test "masc: the quadratic form reproduces predict" {
	need_numpy
	mkfixtures
	masc fit -q --var 0.9 train.npz -o p.npz
	masc predict -m p.npz test.npz -o pred.npz
	masc quadratic -m p.npz -o q.npz
	npy "$W
q, x = np.load('q.npz')['q'], np.load('test.npz')['act'].astype(np.float64)
assert q.dtype == np.float64 and q.shape == (3, 20, 20)
assert np.allclose(q, q.transpose(0, 2, 1))
v = np.einsum('nd,cde,ne->nc', x, q, x)
r = np.load('pred.npz')
assert (v.argmax(1) == r['pred']).all()
assert np.allclose(np.sqrt(v / (x * x).sum(1)[:, None]), r['score'], atol=1e-5)
assert meta('q.npz')['probe'] == 'masc'"
}

@test "masc: primal and dual agree" {
	need_numpy
	mkfixtures
	masc fit -q --method primal train.npz -o a.npz
	run --separate-stderr masc fit --method dual train.npz -o b.npz
	assert_success
	assert_regex "$stderr" ", dual: k ="
	masc fit -q --method auto train.npz -o c.npz
	npy "$W
a, b = np.load('a.npz'), np.load('b.npz')
assert (a['k'] == b['k']).all()
for p, q in zip(bases(a), bases(b)):
    assert np.abs(proj(p) - proj(q)).max() < 1e-9
assert meta('a.npz')['masc.method'] == 'primal' and meta('b.npz')['masc.method'] == 'dual'
assert meta('c.npz')['masc.method'] == 'primal'"
}

@test "masc: data streams are flattened; labels of any integer dtype" {
	need_numpy
	npy "$W
y, x = probe_rows(400, d=24, seed=3)
write('d.npz', 'data.classes=3\n', [('y', y.astype(np.uint8)), ('x', x.reshape(400, 2, 3, 4))])
write('a.npz', 'data.classes=3\n', [('y', y.astype(np.int32)), ('act', x)])"
	masc fit -q d.npz -o p.npz
	masc fit -q a.npz -o q.npz
	masc predict -m p.npz d.npz -o r.npz
	npy "$W
p, q = np.load('p.npz'), np.load('q.npz')
assert (p['k'] == q['k']).all() and (p['basis'] == q['basis']).all()
assert meta('p.npz')['probe.layer'] == 'input' and meta('q.npz')['probe.layer'] == 'unknown'
assert np.load('r.npz')['pred'].shape == (400,)"
}

@test "masc: predict copies y, y_true, flipped and writes pred, score" {
	need_numpy
	mkprobe
	masc predict -m p.npz < test.npz > pred.npz
	npy "$W
r, t = np.load('pred.npz'), np.load('test.npz')
assert r.files == ['meta.txt', 'y', 'y_true', 'flipped', 'pred', 'score'], r.files
assert r['y'].dtype == np.int32 and (r['y'] == t['y']).all()
assert (r['y_true'] == t['y_true']).all() and r['flipped'].dtype == np.uint8
assert r['score'].shape == (300, 3)
m = meta('pred.npz')
assert m['data.split'] == 'test' and m['probe'] == 'masc' and 'masc.predict.argv' in m
assert m['masc.k_total'] == meta('p.npz')['masc.k_total']"
	run score pred.npz
	assert_success
}

@test "masc: zero rows score 0 and go to class 0; ties to the lowest class" {
	need_numpy
	# Classes 1 and 2 have the same rows: identical subspaces, a tie.
	npy "$W
rs = np.random.RandomState(0)
a, b = rs.randn(50, 4), rs.randn(50, 4)
a[:, 1:] = 0
b[:, 0] = 0
x = np.concatenate([a, b, b]).astype(np.float32); y = np.repeat([0, 1, 2], 50)
write('t.npz', 'data.classes=3\n', [('y', y), ('act', x)])
z = np.zeros((3, 4), np.float32); z[1] = b[0]; z[2] = b[1]
write('z.npz', '', [('act', z)])"
	masc fit -q --components 2 t.npz -o p.npz 2>/dev/null
	masc predict -m p.npz z.npz -o r.npz
	npy "$W
r = np.load('r.npz')
assert (r['score'][0] == 0).all() and r['pred'][0] == 0
assert (r['pred'][1:] == 1).all(), r['pred']
assert (r['score'][1:, 1] == r['score'][1:, 2]).all()"
}

@test "masc: outputs are byte-identical run to run" {
	need_numpy
	mkfixtures
	# (to stdout: -o FILE would be recorded in masc.argv)
	masc fit -q train.npz > a.npz
	masc fit -q train.npz > b.npz
	cmp a.npz b.npz
	masc fit -q --method dual train.npz > c.npz
	masc fit -q --method dual train.npz > d.npz
	cmp c.npz d.npz
	masc predict -m a.npz test.npz > p1.npz
	masc predict -m a.npz test.npz > p2.npz
	cmp p1.npz p2.npz
	masc quadratic -m a.npz > q1.npz
	masc quadratic -m a.npz > q2.npz
	cmp q1.npz q2.npz
}

@test "masc: a class without samples, or with fewer samples than components: warned" {
	need_numpy
	npy "$W
rs = np.random.RandomState(0)
x = rs.randn(12, 5).astype(np.float32); y = np.array([0, 0] + [2] * 10)
write('e.npz', 'data.classes=3\n', [('y', y), ('act', x)])"
	run --separate-stderr masc fit --components 4 e.npz -o p.npz
	assert_success
	assert_regex "$stderr" "class 1 has no training rows"
	assert_regex "$stderr" "class 0: 4 components asked but its 2 rows span only 2 directions: keeping 2"
	npy "$W
p = np.load('p.npz')
assert list(p['k']) == [2, 0, 4]"
	masc predict -m p.npz e.npz -o r.npz
	npy "$W
r = np.load('r.npz'); assert (r['score'][:, 1] == 0).all()"
}

@test "masc: summary on stderr; -q silences it" {
	need_numpy
	mkfixtures
	run --separate-stderr masc fit train.npz -o p.npz
	assert_success
	assert_regex "$stderr" "^masc: layer fc9, 600 rows of 20 values, 3 classes, primal: k = [0-9]+ [0-9]+ [0-9]+ \(total [0-9]+\)$"
	run --separate-stderr masc fit -q train.npz -o p.npz
	assert_success
	assert_equal "$stderr" ""
}

@test "masc: runtime errors exit 1, name the problem, leave no output file" {
	need_numpy
	mkfixtures
	npy "$W
y, x = probe_rows(50, seed=4)
x[17, 3] = np.nan
write('nan.npz', '', [('y', y), ('act', x)])
x[17, 3] = 0
write('late.npz', '', [('act', x), ('y', y)])
write('nolab.npz', '', [('act', x)])
write('count.npz', '', [('y', y[:49]), ('act', x)])
write('range.npz', 'data.classes=2\n', [('y', y), ('act', x)])
write('neg.npz', '', [('y', -y - 1), ('act', x)])
write('flat.npz', '', [('y', y), ('act', x[:, 0])])
write('wide.npz', '', [('y', y), ('act', np.zeros((50, 7), np.float32))])
write('inf.npz', '', [('y', y), ('act', np.full((50, 20), np.inf, np.float32))])"
	masc fit -q train.npz -o p.npz
	velpic fit -q train.npz -o v.npz
	head -c 5000 train.npz > trunc.npz
	check() { fails_leaving_nothing masc "$@"; assert_regex "$stderr" "^masc: "; }
	check fit nan.npz; assert_regex "$stderr" "row 17 of 'act' is not finite"
	check fit late.npz; assert_regex "$stderr" "no 'y' member before 'act'"
	check fit nolab.npz; assert_regex "$stderr" "no 'y' member"
	check fit count.npz; assert_regex "$stderr" "member 'y' has 49 values but 'act' has 50"
	check fit range.npz; assert_regex "$stderr" "label 2 at index [0-9]+ of 'y' is outside 0..1"
	check fit neg.npz; assert_regex "$stderr" "is negative"
	check fit flat.npz; assert_regex "$stderr" "row per sample"
	check fit missing.npz
	check fit trunc.npz
	check predict -m p.npz nan.npz; assert_regex "$stderr" "row 17 of 'act' is not finite"
	check predict -m p.npz wide.npz; assert_regex "$stderr" "7 values but the probe has D=20"
	check predict -m p.npz count.npz; assert_regex "$stderr" "member 'y' has 49 values but 'act' has 50"
	check predict -m v.npz test.npz; assert_regex "$stderr" "'velpic' probe, not a masc probe"
	check predict -m train.npz test.npz; assert_regex "$stderr" "not a masc probe"
	check predict -m p.npz trunc.npz
	check quadratic -m v.npz
	run --separate-stderr masc fit inf.npz
	assert_runtime_error
	run --separate-stderr masc fit < /dev/null
	assert_runtime_error
}

@test "masc: -o naming a FIFO writes into it and leaves it a FIFO" {
	need_numpy
	mkfixtures
	mkfifo f
	cat f > out.npz &
	masc fit -q train.npz -o f
	wait
	[ -p f ] || fail "the FIFO was replaced"
	npy "import numpy as np; assert np.load('out.npz')['k'].shape == (3,)"
}

# Hostile streams: an .npy header that claims far more than arrives
# (fixtures.py npyraw()), wrong dtypes, labels outside the classes.

# REGEX ARGS...: masc ARGS, run under a 2 GB address-space limit (and a
# time limit), is a runtime error whose message matches REGEX.
limited() {
	local re=$1
	shift
	fails_with "$re" timeout 120 "$TOP/tests/memlimit" 1953 masc "$@"
}

@test "masc: a header claiming 2^28 or 2^31 rows fails on truncation, within 2 GB" {
	need_numpy
	mkprobe
	npy "$W
y, x = probe_rows(600, seed=1)
write('rows28.npz', 'data.classes=3\ndumpacts.layer=fc9\n', [('act', npyraw((2**28, 20)))])
write('rows31.npz', 'data.classes=3\ndumpacts.layer=fc9\n', [('y', y[:3]), ('act', npyraw((2**31, 20)))])
write('wide.npz', 'data.classes=3\n', [('y', y), ('act', npyraw((600, 2**24)))])"
	[ "$(wc -c < rows28.npz)" -lt 50000 ]
	limited "^masc: rows28.npz: member 'act' is truncated" predict -m p.npz rows28.npz
	limited "^masc: rows31.npz: .*'act'" predict -m p.npz rows31.npz -o out.npz
	[ ! -e out.npz ]
	# 600 rows of 2^24 values: the dual method's rows are not allocated
	# before they arrive
	limited "^masc: wide.npz: member 'act' is truncated" fit wide.npz
}

@test "masc: a fit allocates nothing for a row width its header claims but never delivers" {
	need_numpy
	# 3 labels, then 'act' declared (3, 2^28): a row of 1 GiB as float32,
	# 2 GiB as float64, and C*D^2 doubles for the primal scatter matrices
	npy "$W
y, x = probe_rows(600, seed=1)
write('wide28.npz', 'data.classes=3\n', [('y', y[:3]), ('act', npyraw((3, 2**28)))])"
	[ "$(wc -c < wide28.npz)" -lt 50000 ]
	for m in auto primal dual; do
		limited "^masc: wide28.npz: member 'act' is truncated" fit --method $m wide28.npz -o p.npz
		[ ! -e p.npz ]
	done
}

@test "masc: features must be float: integer act or x is refused, naming member and dtype" {
	need_numpy
	mkprobe
	npy "$W
y, x = probe_rows(60, seed=3)
write('i4.npz', 'data.classes=3\n', [('y', y), ('act', (x * 10).astype('<i4'))])
write('i8.npz', 'data.classes=3\n', [('y', y), ('x', (x * 10).astype('<i8').reshape(60, 4, 5))])
write('u1.npz', 'data.classes=3\n', [('y', y), ('act', np.zeros((60, 20), np.uint8))])
write('f8.npz', 'data.classes=3\n', [('y', y), ('act', x.astype(np.float64))])"
	for f in i4 i8 u1; do
		run --separate-stderr masc fit -q $f.npz -o out.npz
		assert_runtime_error
		[ ! -e out.npz ]
		run --separate-stderr masc predict -m p.npz $f.npz
		assert_runtime_error
	done
	assert_regex "$stderr" "^masc: u1.npz: member 'act' has dtype '\|u1': features must be float32 or float64"
	run --separate-stderr masc fit -q i4.npz
	assert_regex "$stderr" "^masc: i4.npz: member 'act' has dtype '<i4'"
	run --separate-stderr masc predict -m p.npz i8.npz
	assert_regex "$stderr" "^masc: i8.npz: member 'x' has dtype '<i8'"
	# float64 is a float
	masc fit -q f8.npz -o f8p.npz
	masc predict -m f8p.npz f8.npz -o f8r.npz
}

@test "masc: labels outside the classes and flipped other than 0/1 are errors in fit and predict" {
	need_numpy
	mkprobe
	npy "$W
y, x = probe_rows(60, seed=3)
def lab(name, meta, **m):
    a = dict(y=y.astype(np.int32), y_true=y.astype(np.int32), flipped=np.zeros(60, np.uint8))
    for k, (i, v) in m.items():
        a[k] = a[k].astype(np.int64 if k != 'flipped' else np.uint8); a[k][i] = v
    write(name, meta, [(k, a[k]) for k in ['y', 'y_true', 'flipped']] + [('act', x)])
lab('neg.npz', 'data.classes=3\n', y=(5, -1))
lab('ten.npz', 'data.classes=3\n', y=(6, 3))
lab('max.npz', '', y_true=(7, 2**31 - 1))
lab('flip.npz', 'data.classes=3\n', flipped=(8, 7))
lab('ok.npz', 'data.classes=3\n')
lab('huge.npz', 'data.classes=2147483647\n')
lab('four.npz', 'data.classes=4\n')
lab('disagree.npz', 'data.classes=3\nmodel.classes=4\n')"
	check() { fails_leaving_nothing masc "$@"; }
	check predict -m p.npz neg.npz; assert_regex "$stderr" "^masc: neg.npz: label -1 at index 5 of 'y' is negative$"
	check predict -m p.npz ten.npz; assert_regex "$stderr" "^masc: ten.npz: label 3 at index 6 of 'y' is outside 0..2$"
	check predict -m p.npz max.npz; assert_regex "$stderr" "^masc: max.npz: label 2147483647 at index 7 of 'y_true' is outside 0..2$"
	check predict -m p.npz flip.npz; assert_regex "$stderr" "^masc: flip.npz: member 'flipped' has value 7 at index 8, expected 0 or 1$"
	check predict -m p.npz huge.npz; assert_regex "$stderr" "^masc: huge.npz: meta.txt: invalid data.classes '2147483647'"
	check predict -m p.npz four.npz; assert_regex "$stderr" "^masc: four.npz: the stream has 4 classes \(meta.txt\) but the probe has 3$"
	check fit huge.npz; assert_regex "$stderr" "invalid data.classes '2147483647'"
	check fit disagree.npz; assert_regex "$stderr" "^masc: disagree.npz: meta.txt: data.classes=3 but model.classes=4$"
	check fit neg.npz; assert_regex "$stderr" "is negative"
	masc predict -m p.npz ok.npz -o ok-out.npz
}
