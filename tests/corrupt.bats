#!/usr/bin/env bats
# tests/corrupt.bats: corrupt on data streams written by NumPy: the labels
# and truth it writes, the three modes, NumPy bit-compatibility of
# --rng numpy, determinism, and every error case.
load helpers

# Fixtures: write() and small_images() of tests/fixtures.py (npy).

# d.npz: N=5000 labels in 0..9 (int64, as NumPy writes them), x (N,1,2,3).
mkdata5000() {
	npy "
y, x = small_images(5000)
write('d.npz', 'data.name=test\ndata.classes=10\ndata.n=5000\n', [('y', y), ('x', x)])"
}

@test "corrupt: --help prints usage and options on stdout" {
	run --separate-stderr corrupt --help
	assert_success
	assert_line --index 0 --partial "usage: corrupt -p P [--mode uniform|shuffle|other]"
	assert_output --partial "--rng"
	assert_output --partial "--classes"
	assert_equal "$stderr" ""
}

@test "corrupt: usage errors exit 2 with nothing on stdout" {
	for args in "" "-p" "-p 1.5" "-p -0.1" "-p abc" "-p 0.5 --mode bogus" \
		"-p 0.5 --rng bogus" "-p 0.5 --seed -1" "-p 0.5 --seed x" \
		"-p 0.5 --rng numpy --seed 4294967296" "-p 0.5 --classes 0" \
		"-p 0.5 --compress 10" "-p 0.5 a b" "-p 0.5 --bogus"; do
		fails_usage "usage: corrupt" corrupt $args
	done
}

@test "corrupt: y_true is the original, flipped is y != y_true, x unchanged" {
	need_numpy
	mkdata5000
	corrupt -p 0.5 d.npz -o c.npz
	npy "
d = np.load('d.npz'); c = np.load('c.npz')
assert c.files == ['meta.txt', 'y', 'y_true', 'flipped', 'x'], c.files
assert c['y'].dtype == np.int32 and c['y_true'].dtype == np.int32
assert c['flipped'].dtype == np.uint8
assert (c['y_true'] == d['y']).all()
assert (c['flipped'] == (c['y'] != c['y_true'])).all()
assert c['x'].dtype == d['x'].dtype and c['x'].shape == d['x'].shape
assert c['x'].tobytes() == d['x'].tobytes()
assert ((c['y'] >= 0) & (c['y'] < 10)).all()
f = c['flipped'].mean(); assert 0.40 < f < 0.50, f   # 0.5 * 9/10
"
}

@test "corrupt: meta.txt keeps the input keys and records corrupt.*" {
	need_numpy
	mkdata5000
	corrupt -p 0.25 --mode other --seed 7 d.npz -o c.npz
	npy "
import zipfile
m = dict(l.split('=', 1) for l in zipfile.ZipFile('c.npz').read('meta.txt').decode().splitlines())
c = np.load('c.npz')
assert m['data.name'] == 'test' and m['data.n'] == '5000', m
assert m['corrupt.p'] == '0.25' and m['corrupt.mode'] == 'other', m
assert m['corrupt.seed'] == '7' and m['corrupt.rng'] == 'native', m
assert m['corrupt.classes'] == '10', m
assert int(m['corrupt.flipped']) == int(c['flipped'].sum()), m
"
}

@test "corrupt: p=0 changes nothing in every mode" {
	need_numpy
	mkdata5000
	for mode in uniform shuffle other; do
		corrupt -p 0 --mode "$mode" d.npz -o "c_$mode.npz"
	done
	npy "
d = np.load('d.npz')
for m in ['uniform', 'shuffle', 'other']:
    c = np.load('c_%s.npz' % m)
    assert (c['y'] == d['y']).all(), m
    assert c['flipped'].sum() == 0, m
"
}

@test "corrupt: p=1 uniform flips about (C-1)/C of the labels" {
	need_numpy
	mkdata5000
	corrupt -p 1 d.npz -o c.npz
	npy "
c = np.load('c.npz'); f = c['flipped'].mean()
assert 0.87 < f < 0.93, f
assert set(np.unique(c['y'])) == set(range(10))
"
}

@test "corrupt: shuffle keeps the label multiset and permutes a P-fraction" {
	need_numpy
	mkdata5000
	corrupt -p 0.4 --mode shuffle d.npz -o c.npz
	npy "
d = np.load('d.npz'); c = np.load('c.npz')
assert (np.sort(c['y']) == np.sort(d['y'])).all()
assert (np.bincount(c['y'], minlength=10) == np.bincount(d['y'], minlength=10)).all()
f = c['flipped'].sum()
assert f <= 2000, f              # at most the 2000 permuted samples
assert 1600 < f < 1900, f        # 2000 * 9/10 expected
"
}

@test "corrupt: other never keeps the true class" {
	need_numpy
	mkdata5000
	corrupt -p 0.3 --mode other d.npz -o c.npz
	npy "
c = np.load('c.npz'); f = c['flipped'].mean()
assert 0.27 < f < 0.33, f
assert ((c['y'] >= 0) & (c['y'] < 10)).all()
"
	# p=1: every label changes
	corrupt -p 1 --mode other d.npz -o c1.npz
	npy "c = np.load('c1.npz'); assert c['flipped'].all()"
}

@test "corrupt: same seed gives identical bytes, another seed differs" {
	need_numpy
	mkdata5000
	for mode in uniform shuffle other; do
		corrupt -p 0.5 --mode "$mode" --seed 3 d.npz -o a.npz
		corrupt -p 0.5 --mode "$mode" --seed 3 d.npz -o b.npz
		corrupt -p 0.5 --mode "$mode" --seed 4 d.npz -o c.npz
		cmp a.npz b.npz
		run cmp -s a.npz c.npz
		assert_failure
	done
}

@test "corrupt: --rng numpy --seed 42 uniform equals NumPy's own corruption" {
	need_numpy
	mkdata5000
	corrupt -p 0.8 --rng numpy --seed 42 --mode uniform d.npz -o c.npz
	npy "
d = np.load('d.npz'); c = np.load('c.npz')
y = d['y'].copy()
np.random.seed(42)
m = np.random.rand(len(y)) <= 0.8
y[m] = np.random.choice(10, m.sum())
assert (c['y'] == y).all(), (c['y'] != y).sum()
"
}

@test "corrupt: the default for uniform is NumPy's generator with seed 42" {
	need_numpy
	mkdata5000
	corrupt -p 0.8 d.npz -o a.npz
	corrupt -p 0.8 --rng numpy --seed 42 --mode uniform d.npz -o b.npz
	# Only the meta text could differ; it records the same parameters.
	cmp a.npz b.npz
}

@test "corrupt: --rng numpy shuffle and other equal their NumPy code" {
	need_numpy
	mkdata5000
	corrupt -p 0.3 --mode shuffle --rng numpy --seed 11 d.npz -o s.npz
	corrupt -p 0.3 --mode other --rng numpy --seed 11 d.npz -o o.npz
	npy "
d = np.load('d.npz'); y0 = d['y']; N = len(y0); C = 10; p = 0.3
rs = np.random.RandomState(11); y = y0.copy()
k = int(p * N + 0.5); i = rs.permutation(N)[:k]; y[i] = rs.permutation(y[i])
assert (np.load('s.npz')['y'] == y).all()
rs = np.random.RandomState(11); y = y0.copy()
m = rs.rand(N) <= p; r = rs.randint(0, C - 1, m.sum()); y[m] = r + (r >= y[m])
assert (np.load('o.npz')['y'] == y).all()
"
}

@test "corrupt: an input y_true is kept and flipped is recomputed against it" {
	need_numpy
	mkdata5000
	corrupt -p 0.5 --seed 1 d.npz -o c1.npz
	corrupt -p 0.5 --seed 2 c1.npz -o c2.npz
	npy "
d = np.load('d.npz'); c1 = np.load('c1.npz'); c2 = np.load('c2.npz')
assert (c2['y_true'] == d['y']).all()
assert (c2['flipped'] == (c2['y'] != d['y'])).all()
assert not (c2['y'] == c1['y']).all()
assert c2['x'].tobytes() == d['x'].tobytes()
"
}

@test "corrupt: classes from data.classes, else max(y)+1, --classes overrides" {
	need_numpy
	# labels only 0..3 but meta says 10 classes
	npy "
y = np.arange(2000) % 4
write('d.npz', 'data.classes=10\n', [('y', y), ('x', np.zeros((2000, 1, 1, 1), np.float32))])
write('n.npz', None, [('y', y), ('x', np.zeros((2000, 1, 1, 1), np.float32))])"
	corrupt -p 1 d.npz -o a.npz
	corrupt -p 1 n.npz -o b.npz
	corrupt -p 1 --classes 6 d.npz -o c.npz
	npy "
a, b, c = (np.load(f)['y'] for f in ['a.npz', 'b.npz', 'c.npz'])
assert a.max() == 9 and a.min() == 0
assert b.max() == 3 and b.min() == 0
assert c.max() == 5 and c.min() == 0
"
	fails_with "^corrupt: d.npz: label 3 at index 3 of 'y' is outside 0..2$" corrupt -p 0.5 --classes 3 d.npz
}

@test "corrupt: other members are copied through in order" {
	need_numpy
	npy "
y, x = small_images(100)
write('d.npz', 'data.classes=10\n', [('idx', np.arange(100)), ('y', y), ('note', np.float64(3.5)), ('x', x), ('after', np.arange(6, dtype=np.uint8).reshape(2, 3))])"
	corrupt -p 0.5 d.npz -o c.npz
	npy "
d = np.load('d.npz'); c = np.load('c.npz')
assert c.files == ['meta.txt', 'y', 'y_true', 'flipped', 'idx', 'note', 'x', 'after'], c.files
for k in ['idx', 'note', 'x', 'after']:
    assert c[k].dtype == d[k].dtype and c[k].shape == d[k].shape and (c[k] == d[k]).all(), k
"
}

@test "corrupt: reads np.savez_compressed output, from a file and from a pipe" {
	need_numpy
	npy "
rs = np.random.RandomState(5)
np.savez_compressed('z.npz', y=rs.randint(0, 10, 3000), x=rs.rand(3000, 1, 4, 4).astype(np.float32))"
	corrupt -p 0.5 --seed 9 z.npz -o file.npz
	corrupt -p 0.5 --seed 9 <z.npz >pipe.npz
	cat z.npz | corrupt -p 0.5 --seed 9 - >dash.npz
	cmp file.npz pipe.npz
	cmp file.npz dash.npz
	npy "
z = np.load('z.npz'); c = np.load('file.npz')
assert (c['y_true'] == z['y']).all() and (c['x'] == z['x']).all()
assert c['flipped'].sum() > 0
"
}

@test "corrupt: --compress 0 stores, and every level gives the same arrays" {
	need_numpy
	mkdata5000
	corrupt -p 0.5 --compress 0 d.npz -o s.npz
	corrupt -p 0.5 --compress 6 d.npz -o z.npz
	npy "
import zipfile
assert all(i.compress_type == zipfile.ZIP_STORED for i in zipfile.ZipFile('s.npz').infolist())
assert any(i.compress_type == zipfile.ZIP_DEFLATED for i in zipfile.ZipFile('z.npz').infolist())
s = np.load('s.npz'); z = np.load('z.npz')
for k in ['y', 'y_true', 'flipped', 'x']:
    assert (s[k] == z[k]).all(), k
"
}

@test "corrupt: a stream without y is an error" {
	need_numpy
	npy "
write('d.npz', 'data.classes=10\n', [('x', np.zeros((3, 1, 1, 1), np.float32))])"
	fails_with "^corrupt: d.npz: no member 'y'" corrupt -p 0.5 d.npz
}

@test "corrupt: y after x is an error" {
	need_numpy
	npy "
write('d.npz', 'data.classes=10\n', [('x', np.zeros((3, 1, 1, 1), np.float32)), ('y', np.array([1, 2, 3]))])"
	fails_with "^corrupt: d.npz: member 'y' comes after 'x'" corrupt -p 0.5 d.npz
}

@test "corrupt: labels outside 0..C-1 are errors" {
	need_numpy
	npy "
write('neg.npz', 'data.classes=10\n', [('y', np.array([1, -1, 3])), ('x', np.zeros((3, 1, 1, 1), np.float32))])
write('big.npz', 'data.classes=10\n', [('y', np.array([1, 10, 3])), ('x', np.zeros((3, 1, 1, 1), np.float32))])
write('yt.npz', 'data.classes=10\n', [('y', np.array([1, 2, 3])), ('y_true', np.array([1, 12, 3])), ('x', np.zeros((3, 1, 1, 1), np.float32))])"
	fails_with "label -1 at index 1 of 'y' is negative" corrupt -p 0.5 neg.npz
	fails_with "label 10 at index 1 of 'y' is outside 0..9" corrupt -p 0.5 big.npz
	fails_with "label 12 at index 1 of 'y_true' is outside 0..9" corrupt -p 0.5 yt.npz
}

@test "corrupt: inconsistent lengths and shapes are errors" {
	need_numpy
	npy "
write('yt.npz', None, [('y', np.array([1, 2, 3])), ('y_true', np.array([1, 2])), ('x', np.zeros((3, 1), np.float32))])
write('x.npz', None, [('y', np.array([1, 2, 3])), ('x', np.zeros((4, 1), np.float32))])
write('y2.npz', None, [('y', np.array([[1, 2, 3]])), ('x', np.zeros((3, 1), np.float32))])
write('yf.npz', None, [('y', np.array([1.0, 2.0, 3.0])), ('x', np.zeros((3, 1), np.float32))])"
	fails_with "member 'y_true' has 2 values but 'y' has 3" corrupt -p 0.5 yt.npz
	fails_with "member 'x' has shape \(4, 1\) but 'y' has 3 labels" corrupt -p 0.5 x.npz -o out.npz
	[ ! -e out.npz ]
	fails_with "member 'y' has shape \(1, 3\)" corrupt -p 0.5 y2.npz
	fails_with "'y'.*integers" corrupt -p 0.5 yf.npz
}

@test "corrupt: mode other needs two classes" {
	need_numpy
	npy "
write('d.npz', 'data.classes=1\n', [('y', np.zeros(5, np.int32)), ('x', np.zeros((5, 1), np.float32))])"
	fails_with "mode 'other' needs at least 2 classes" corrupt -p 0.5 --mode other d.npz
}

@test "corrupt: bad inputs fail with exit 1, no stdout, no file left behind" {
	need_numpy
	mkdata5000
	: >empty
	echo "hello, world" >text
	head -c 20000 d.npz >cut
	for f in empty text cut missing.npz; do
		run --separate-stderr corrupt -p 0.5 "$f"
		assert_runtime_error
		run --separate-stderr corrupt -p 0.5 "$f" -o out.npz
		assert_runtime_error
		[ ! -e out.npz ]
		run ls
		refute_output --partial ".tmp."
	done
	run --separate-stderr corrupt -p 0.5 -o out.npz <cut
	assert_runtime_error
	[ ! -e out.npz ]
}

@test "corrupt: -o writes the same bytes as stdout" {
	need_numpy
	mkdata5000
	corrupt -p 0.5 d.npz -o a.npz
	corrupt -p 0.5 d.npz >b.npz
	cmp a.npz b.npz
}

@test "corrupt: empty label set is a valid stream" {
	need_numpy
	npy "
write('d.npz', 'data.classes=10\n', [('y', np.zeros(0, np.int64)), ('x', np.zeros((0, 1, 2, 2), np.float32))])"
	corrupt -p 0.5 d.npz -o c.npz
	npy "
c = np.load('c.npz')
assert c['y'].shape == (0,) and c['flipped'].shape == (0,) and c['x'].shape == (0, 1, 2, 2)"
}

@test "corrupt: mkdata mnist | corrupt gives the authors' MNIST labels" {
	need_numpy
	need_mnist
	mkdata mnist --split train | corrupt -p 0.8 --rng numpy --seed 42 -o t.npz
	npy "
d = np.load('t.npz')
assert d.files == ['meta.txt', 'y', 'y_true', 'flipped', 'x'], d.files
x = d['x']; assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32
assert x.min() >= -1 and x.max() <= 1
y = d['y_true'].copy()
np.random.seed(42); m = np.random.rand(len(y)) <= 0.8
y[m] = np.random.choice(10, m.sum())
assert (d['y'] == y).all()
assert (d['flipped'] == (d['y'] != d['y_true'])).all()
"
}

@test "corrupt: a stream cut at every 1 KiB boundary is an error" {
	need_numpy
	npy "
y, x = small_images(300)
write('d.npz', 'data.classes=10\n', [('y', y), ('x', x)], compress=True)"
	size=$(wc -c <d.npz)
	for ((k = 1024; k < size; k += 1024)); do
		head -c "$k" d.npz >cut
		run --separate-stderr corrupt -p 0.5 cut
		assert_runtime_error
		run --separate-stderr corrupt -p 0.5 -o out.npz <cut
		assert_runtime_error
		[ ! -e out.npz ]
	done
	[ "$size" -gt 3072 ]
}

@test "corrupt: an absurd or inconsistent class count is an error, not a label range" {
	need_numpy
	npy "
y, x = small_images(100)
write('huge.npz', 'data.classes=2147483647\n', [('y', y), ('x', x)])
write('zero.npz', 'data.classes=0\n', [('y', y), ('x', x)])
write('mix.npz', 'data.classes=10\nmodel.classes=12\n', [('y', y), ('x', x)])
write('max.npz', None, [('y', np.where(np.arange(100) == 3, 2**31 - 1, y)), ('x', x)])
write('d.npz', 'data.classes=10\n', [('y', y), ('x', x)])"
	check() { fails_leaving_nothing corrupt -p 0.5 "$@"; }
	check huge.npz; assert_regex "$stderr" "^corrupt: huge.npz: meta.txt: invalid data.classes '2147483647' \(an integer in \[1, 1000000\]\)$"
	check zero.npz; assert_regex "$stderr" "invalid data.classes '0'"
	check mix.npz; assert_regex "$stderr" "^corrupt: mix.npz: meta.txt: data.classes=10 but model.classes=12$"
	check max.npz; assert_regex "$stderr" "^corrupt: max.npz: label 2147483647 of 'y' is too large \(more than 1000000 classes\)$"
	check --classes 12 d.npz; assert_regex "$stderr" "^corrupt: d.npz: --classes 12 is more than the 10 classes of the data \(meta.txt\)$"
	run --separate-stderr corrupt -p 0.5 --classes 2147483647 d.npz
	assert_usage_error
}

@test "corrupt: x must be float: an integer x is refused, naming member and dtype" {
	need_numpy
	npy "
y, x = small_images(100)
write('i4.npz', 'data.classes=10\n', [('y', y), ('x', (x * 255).astype('<i4'))])
write('u1.npz', 'data.classes=10\n', [('y', y), ('x', (x * 255).astype(np.uint8))])
write('f8.npz', 'data.classes=10\n', [('y', y), ('x', x.astype(np.float64))])"
	fails_with "^corrupt: i4.npz: member 'x' has dtype '<i4': features must be float32 or float64" corrupt -p 0.5 i4.npz -o out.npz
	[ ! -e out.npz ]
	fails_with "member 'x' has dtype '\|u1'" corrupt -p 0.5 u1.npz
	corrupt -p 0.5 f8.npz -o f8c.npz
}
