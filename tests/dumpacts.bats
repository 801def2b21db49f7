#!/usr/bin/env bats
# dumpacts: activations of every layer against a NumPy forward pass from
# the checkpoint's arrays (PyTorch layouts), labels copied through,
# predictions, batching, output modes, bad input.

load helpers

export MEMPROBE_COMPRESS=0

# Data stream: N samples C,H,W; y in order, and y_true/flipped as corrupt
# writes them (helpers.bash's, with truth).
mkdata_np() { # FILE N C H W [SEED]
	npy "images('$1', $2, $3, $4, $5, seed=${6:-1}, truth=True)"
}

# A checkpoint one epoch into training (weights away from their init).
mkmodel() { # ARCH DATA DIR
	train --arch "$1" --max-epochs 1 --save 1 --ckpt-dir "$3" "$2" 2>/dev/null
}

# NumPy forward pass of a checkpoint over a data stream; compares every
# layer with DIR/NAME.npz and the logits with DIR/pred.npz if present.
check_numpy() { # CKPT DATA DIR
	npy "
import os
c = np.load('$1'); d = np.load('$2')
meta = dict(l.split('=', 1) for l in c['meta.txt'].decode().splitlines())
x = d['x'].astype(np.float64); n = len(x)
W = lambda k: c[k].astype(np.float64)
relu = lambda v: np.maximum(v, 0)
out = {'input': x.reshape(n, -1)}
if meta['model.arch'] == 'mlp':
    h = x.reshape(n, -1)
    for i in range(1, 5):
        h = relu(h @ W('fc%d.weight' % i).T + W('fc%d.bias' % i)); out['fc%d' % i] = h
    logits = h @ W('fc5.weight').T + W('fc5.bias')
else:
    h = x
    for i in range(1, 7):
        w, b = W('conv%d.weight' % i), W('conv%d.bias' % i)
        p = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
        H, Wd = h.shape[2], h.shape[3]
        o = np.zeros((n, w.shape[0], H, Wd))
        for kh in range(3):
            for kw in range(3):
                o += np.einsum('nchw,oc->nohw', p[:, :, kh:kh + H, kw:kw + Wd], w[:, :, kh, kw])
        h = relu(o + b[None, :, None, None])
        if i % 2 == 0:
            H2, W2 = H // 2, Wd // 2
            h = h[:, :, :2 * H2, :2 * W2].reshape(n, -1, H2, 2, W2, 2).max(axis=(3, 5))
    h = h.reshape(n, -1); out['flat'] = h
    for i in range(1, 4):
        h = relu(h @ W('fc%d.weight' % i).T + W('fc%d.bias' % i)); out['fc%d' % i] = h
    logits = h @ W('fc4.weight').T
seen = 0
for name, ref in out.items():
    f = '$3/%s.npz' % name
    if not os.path.exists(f):
        continue
    a = np.load(f)
    act = a['act']
    assert act.dtype == np.float32 and act.shape == ref.shape, (name, act.shape, ref.shape)
    err = np.abs(act - ref).max() / (1 + np.abs(ref).max())
    assert err < 1e-5, (name, err)
    assert (a['y'] == d['y']).all() and (a['y_true'] == d['y_true']).all()
    assert (a['flipped'] == d['flipped']).all() and a['flipped'].dtype == np.uint8
    assert a['y'].dtype == np.int32
    m = dict(l.split('=', 1) for l in a['meta.txt'].decode().splitlines())
    assert m['dumpacts.layer'] == name and m['dumpacts.dim'] == str(ref.shape[1])
    assert m['model.arch'] == meta['model.arch'] and m['train.epoch'] == meta['train.epoch']
    seen += 1
if os.path.exists('$3/pred.npz'):
    p = np.load('$3/pred.npz')
    assert np.abs(p['score'] - logits).max() < 1e-4 * (1 + np.abs(logits).max())
    assert (p['pred'] == p['score'].argmax(1)).all() and p['pred'].dtype == np.int32
    assert (p['y'] == d['y']).all()
    seen += 1
print(seen)
"
}
# CKPT DATA DIR N: check_numpy succeeds, having compared N streams.
assert_numpy_agrees() {
	run check_numpy "$1" "$2" "$3"
	assert_success
	assert_output "$4"
}

@test "dumpacts --help prints usage on stdout and exits 0" {
	run --separate-stderr dumpacts --help
	assert_success
	assert_line --index 0 --partial "usage: dumpacts -m CKPT"
	assert_equal "$stderr" ""
}

@test "mlp: every layer matches a NumPy forward pass" {
	need_numpy
	mkdata_np d.npz 50 1 28 28
	mkmodel mlp d.npz ck
	run dumpacts -m ck/epoch-001.npz --layers all --outdir a d.npz
	assert_success
	[ "$(ls a | tr '\n' ' ')" = "fc1.npz fc2.npz fc3.npz fc4.npz input.npz " ]
	dumpacts -m ck/epoch-001.npz --predict -o a/pred.npz d.npz
	assert_numpy_agrees ck/epoch-001.npz d.npz a 6
}

@test "cnn: every layer matches a NumPy forward pass (28x28 and 32x32x3)" {
	need_numpy
	mkdata_np d.npz 20 1 28 28
	mkdata_np e.npz 12 3 32 32
	mkmodel cnn d.npz ck
	mkmodel cnn e.npz ce
	run dumpacts -m ck/epoch-001.npz --outdir a --batch 7 d.npz
	assert_success
	dumpacts -m ck/epoch-001.npz --predict > a/pred.npz < d.npz
	assert_numpy_agrees ck/epoch-001.npz d.npz a 6
	dumpacts -m ce/epoch-001.npz --outdir b --layers flat,fc3 e.npz
	[ "$(ls b | tr '\n' ' ')" = "fc3.npz flat.npz " ]
	assert_numpy_agrees ce/epoch-001.npz e.npz b 2
}

@test "batching changes nothing beyond rounding" {
	need_numpy
	mkdata_np d.npz 45 1 12 12
	mkmodel cnn d.npz ck
	dumpacts -m ck/epoch-001.npz --layers fc2 --batch 1 -o b1.npz d.npz
	dumpacts -m ck/epoch-001.npz --layers fc2 --batch 16 -o b16.npz d.npz
	dumpacts -m ck/epoch-001.npz --layers fc2 -o ball.npz d.npz
	npy "
a, b, c = (np.load(f)['act'] for f in ('b1.npz', 'b16.npz', 'ball.npz'))
assert a.shape == (45, 250)
assert np.allclose(a, b, rtol=1e-5, atol=1e-6) and np.allclose(a, c, rtol=1e-5, atol=1e-6)"
}

@test "one layer to stdout; predictions scored by score" {
	need_numpy
	mkdata_np d.npz 30 1 8 8
	mkmodel mlp d.npz ck
	dumpacts -m ck/epoch-001.npz --layers fc4 < d.npz > fc4.npz
	npy "a = np.load('fc4.npz'); assert a['act'].shape == (30, 2048)"
	dumpacts -m ck/epoch-001.npz --predict < d.npz > p.npz
	run score p.npz
	assert_success
	npy "
p = np.load('p.npz'); d = np.load('d.npz')
print('%.6f' % (p['pred'] == d['y_true']).mean())" > want
	[ "$(echo "$output" | sed -n 2p | cut -f3)" = "$(cat want)" ]
}

@test "a PyTorch-style state_dict in float64 written by Python is a valid checkpoint" {
	need_numpy
	mkdata_np d.npz 10 1 8 8
	npy "mlp_state_dict('sd.npz', np.float64)"
	run dumpacts -m sd.npz --layers input,fc1,fc2,fc3,fc4 --outdir a d.npz
	assert_success
	dumpacts -m sd.npz --predict -o a/pred.npz d.npz
	npy "
c = np.load('sd.npz'); d = np.load('d.npz'); x = d['x'].reshape(10, -1)
h = x
for i in range(1, 5):
    h = np.maximum(h @ c['fc%d.weight' % i].T + c['fc%d.bias' % i], 0)
    assert np.abs(np.load('a/fc%d.npz' % i)['act'] - h).max() < 1e-5
l = h @ c['fc5.weight'].T + c['fc5.bias']
assert np.abs(np.load('a/pred.npz')['score'] - l).max() < 1e-4"
}

@test "usage errors exit 2 with nothing on stdout" {
	need_numpy
	mkdata_np d.npz 10 1 8 8
	mkmodel mlp d.npz ck
	run --separate-stderr dumpacts d.npz
	assert_usage_error
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc9 d.npz
	assert_usage_error
	[[ "$stderr" == *"unknown layer 'fc9'"* ]]
	[[ "$stderr" == *"input fc1 fc2 fc3 fc4"* ]]
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers flat d.npz
	assert_usage_error
	run --separate-stderr dumpacts -m ck/epoch-001.npz d.npz
	assert_usage_error
	[[ "$stderr" == *"--outdir"* ]]
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc1,fc1 --outdir a d.npz
	assert_usage_error
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc1 --batch 0 d.npz
	assert_usage_error
	run --separate-stderr dumpacts -m ck/epoch-001.npz --outdir a -o x.npz d.npz
	assert_usage_error
	run --separate-stderr dumpacts -m ck/epoch-001.npz --predict --layers fc1 d.npz
	assert_usage_error
	[ ! -e a ]
}

@test "bad input: another input shape, no y, labels after x, broken checkpoint" {
	need_numpy
	mkdata_np d.npz 10 1 8 8
	mkdata_np e.npz 10 3 8 8
	mkmodel mlp d.npz ck
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc1 e.npz
	assert_runtime_error
	[[ "$stderr" == *"1x8x8"* ]]
	npy "np.savez('noy.npz', x=np.zeros((3, 1, 8, 8), np.float32))"
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc1 noy.npz
	assert_runtime_error
	[[ "$stderr" == *"no labels 'y'"* ]]
	npy "np.savez('late.npz', x=np.zeros((3, 1, 8, 8), np.float32), y=np.zeros(3, int))"
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc1 -o out.npz late.npz
	assert_runtime_error
	[ ! -e out.npz ]
	head -c 100000 ck/epoch-001.npz > cut.npz
	run --separate-stderr dumpacts -m cut.npz --layers fc1 d.npz
	assert_runtime_error
	run --separate-stderr dumpacts -m d.npz --layers fc1 d.npz
	assert_runtime_error
	[[ "$stderr" == *"not a model checkpoint"* ]]
	# A truncated data stream fails and leaves no output behind.
	head -c 2000 d.npz > dcut.npz
	run --separate-stderr dumpacts -m ck/epoch-001.npz --outdir o dcut.npz
	assert_runtime_error
	[ -z "$(ls o 2>/dev/null)" ]
}

@test "a checkpoint whose arrays do not fit its architecture is refused" {
	need_numpy
	mkdata_np d.npz 10 1 8 8
	mkmodel mlp d.npz ck
	npy "
import zipfile
src = zipfile.ZipFile('ck/epoch-001.npz')
z = zipfile.ZipFile('bad.npz', 'w')
for n in src.namelist():
    data = src.read(n)
    if n == 'meta.txt':
        data = data.replace(b'model.input=1x8x8', b'model.input=1x9x9')
    z.writestr(n, data)
z.close()"
	run --separate-stderr dumpacts -m bad.npz --layers fc1 d.npz
	assert_runtime_error
	[[ "$stderr" == *"'fc1.weight' has shape (128, 64), but mlp on 1x9x9 input"* ]]
}

# ---- hostile data streams (issue 10): claimed sizes, dtypes, labels ----

# sd.npz: an MLP on 1x8x8 with 10 classes, written by NumPy (no training).
mksd() {
	npy "mlp_state_dict('sd.npz', np.float32)"
}

@test "--predict: x claiming 2^27 samples fails on truncation, within 3 GB" {
	need_numpy
	mksd
	# 2^27 real labels (deflated zeros, 128 KB), then an x header claiming
	# as many samples followed by 40 KB
	npy "
import io, zipfile
b = io.BytesIO(); np.lib.format.write_array_header_1_0(b, dict(descr='<f4', fortran_order=False, shape=(2**27, 1, 8, 8)))
with zipfile.ZipFile('rows.npz', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('meta.txt', 'data.classes=10\n')
    y = io.BytesIO(); np.save(y, np.zeros(2**27, np.uint8)); z.writestr('y.npy', y.getvalue())
    z.writestr('x.npy', b.getvalue() + bytes(40000))"
	[ "$(wc -c < rows.npz)" -lt 200000 ]
	run --separate-stderr timeout 120 "$TOP/tests/memlimit" 2930 dumpacts -m sd.npz --predict -o out.npz rows.npz
	assert_runtime_error
	assert_regex "$stderr" "^dumpacts: rows.npz: member 'x' is truncated"
	[ ! -e out.npz ]
}

@test "integer x, labels outside the classes, flipped other than 0/1, absurd data.classes: errors" {
	need_numpy
	mksd
	npy "
rs = np.random.RandomState(0)
y = np.arange(12) % 10; x = rs.rand(12, 1, 8, 8).astype(np.float32)
def at(i, v):
    a = y.astype(np.int64).copy(); a[i] = v; return a
write('i4.npz', 'data.classes=10\n', [('y', y), ('x', (x * 100).astype('<i4'))])
write('neg.npz', 'data.classes=10\n', [('y', at(3, -1)), ('x', x)])
write('ten.npz', 'data.classes=10\n', [('y', y), ('y_true', at(4, 10)), ('x', x)])
write('max.npz', '', [('y', at(5, 2**31 - 1)), ('x', x)])
write('flip.npz', 'data.classes=10\n', [('y', y), ('flipped', np.full(12, 7, np.uint8)), ('x', x)])
write('huge.npz', 'data.classes=2147483647\n', [('y', y), ('x', x)])
write('twelve.npz', 'data.classes=12\n', [('y', y), ('x', x)])
write('ok.npz', 'data.classes=10\n', [('y', y), ('y_true', y), ('flipped', np.zeros(12, np.uint8)), ('x', x)])"
	check() { # FILE REGEX: --predict and --layers both fail, leave nothing
		for mode in "--predict" "--layers fc1"; do
			run --separate-stderr dumpacts -m sd.npz $mode -o out.npz "$1"
			assert_runtime_error
			assert_regex "$stderr" "$2"
			[ ! -e out.npz ] || fail "out.npz left behind"
		done
	}
	check i4.npz "^dumpacts: i4.npz: member 'x' has dtype '<i4': features must be float32 or float64"
	check neg.npz "^dumpacts: neg.npz: label -1 at index 3 of 'y' is negative$"
	check ten.npz "^dumpacts: ten.npz: label 10 at index 4 of 'y_true' is outside 0..9$"
	check max.npz "^dumpacts: max.npz: label 2147483647 at index 5 of 'y' is outside 0..9$"
	check flip.npz "^dumpacts: flip.npz: member 'flipped' has value 7 at index 0, expected 0 or 1$"
	check huge.npz "^dumpacts: huge.npz: meta.txt: invalid data.classes '2147483647'"
	check twelve.npz "^dumpacts: twelve.npz: the stream has 12 classes \(meta.txt\) but the model has 10$"
	dumpacts -m sd.npz --predict -o ok-p.npz ok.npz
	dumpacts -m sd.npz --layers fc1 -o ok-a.npz ok.npz
}

@test "the MLP takes samples of its input size in any layout" {
	need_numpy
	mkdata_np d.npz 10 1 8 8
	npy "d = np.load('d.npz'); np.savez('flat.npz', y=d['y'], x=d['x'].reshape(10, 64))"
	# Trained on flat (N, 64) samples, run on (N, 1, 8, 8) ones, and back.
	train --arch mlp --max-epochs 0 --ckpt-dir ck flat.npz 2>/dev/null
	run dumpacts -m ck/epoch-000.npz --layers fc2 -o a.npz d.npz
	assert_success
	run dumpacts -m ck/epoch-000.npz --layers fc2 -o b.npz flat.npz
	assert_success
	npy "assert (np.load('a.npz')['act'] == np.load('b.npz')['act']).all()"
	# The CNN's convolutions need the shape itself.
	train --arch cnn --max-epochs 0 --ckpt-dir cc d.npz 2>/dev/null
	npy "d = np.load('d.npz'); np.savez('wide.npz', y=d['y'], x=d['x'].reshape(10, 1, 4, 16))"
	run --separate-stderr dumpacts -m cc/epoch-000.npz --layers fc1 wide.npz
	assert_runtime_error
}

# ---- --outdir like mkdir -p; nothing left behind (issue 10) ----

@test "--outdir creates missing parents; bad input leaves no folder" {
	need_numpy
	mkdata_np d.npz 20 1 8 8
	mkmodel mlp d.npz ck
	run dumpacts -m ck/epoch-001.npz --layers fc1,fc2 --outdir acts/train < d.npz
	assert_success
	[ -s acts/train/fc1.npz ] && [ -s acts/train/fc2.npz ]
	npy "assert np.load('acts/train/fc2.npz')['act'].shape == (20, 512)"
	# an existing folder is fine
	run dumpacts -m ck/epoch-001.npz --layers fc1,fc2 --outdir acts/train < d.npz
	assert_success
	# bad data: no folder made
	echo "not a zip" > junk.npz
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc1,fc2 --outdir new/acts < junk.npz
	assert_runtime_error
	[ ! -e new ]
	# a file in the way is an error that names the folder
	touch afile
	run --separate-stderr dumpacts -m ck/epoch-001.npz --layers fc1,fc2 --outdir afile/acts < d.npz
	assert_runtime_error
	[[ "$stderr" == *"'afile/acts'"* ]] || fail "$stderr"
}

@test "a write error names the file once, from any thread" {
	need_numpy
	mkdata_np d.npz 200 1 8 8
	mkmodel mlp d.npz ck
	mkdir mnt
	mount -t tmpfs -o size=64k tmpfs mnt 2>/dev/null || skip "cannot mount a tmpfs here"
	for i in 1 2 3; do
		run --separate-stderr dumpacts -j 4 -m ck/epoch-001.npz --layers all --outdir mnt/acts < d.npz
		rm -rf mnt/acts
		[ "$status" -eq 1 ] || break
		[[ "$stderr" == "dumpacts: mnt/acts/"*".npz: member 'act': "*"No space left on device" ]] || break
		[ "$(grep -o 'mnt/acts/[a-z0-9]*\.npz' <<< "$stderr" | wc -l)" -eq 1 ] || break
	done
	umount mnt
	assert_runtime_error
	[[ "$stderr" == "dumpacts: mnt/acts/"*".npz: member 'act': "*"No space left on device" ]] || fail "$stderr"
	[ "$(grep -o 'mnt/acts/[a-z0-9]*\.npz' <<< "$stderr" | wc -l)" -eq 1 ] || fail "$stderr"
}
