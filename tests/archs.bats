#!/usr/bin/env bats
# tests/archs.bats: the larger architectures end to end: resnet18,
# alexnet-cifar and alexnet trained a few steps on fixtures in the
# original CIFAR-100 and Tiny ImageNet formats (read by mkdata); their
# checkpoints' names, shapes and dtypes (torchvision's state_dict order for
# ResNet-18); a NumPy forward from the checkpoint arrays against dumpacts
# (running and batch statistics); masc (dual) and velpic on the probed
# layers; transplant into resnet18's fc; resume bit for bit.
load helpers

# The fixtures (tests/fixtures.py, standard library only, through fx): a
# CIFAR-100 binary tarball and a miniature Tiny ImageNet zip of baseline
# JPEGs (every 8x8 block one flat colour), with pseudo-random content so
# that training has something to fit.

# NumPy forward passes from checkpoint arrays (float64): convolution by
# shifted slices and tensordot, max-pool with -inf padding, batch norm with
# running or batch statistics; returns every probed layer, flattened.
NPF='import sys, zipfile
def conv(x, P, n, s, p, bias=True):
    w = P[n + ".weight"].astype(np.float64); N, C, H, W = x.shape; O, _, K, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = (H + 2 * p - K) // s + 1, (W + 2 * p - K) // s + 1
    cols = np.empty((N, C, K, K, OH, OW))
    for i in range(K):
        for j in range(K): cols[:, :, i, j] = xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s]
    out = np.tensordot(cols, w, axes=([1, 2, 3], [1, 2, 3])).transpose(0, 3, 1, 2)
    return out + P[n + ".bias"][None, :, None, None] if bias else out
def maxpool(x, k, s, p):
    N, C, H, W = x.shape; xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    out = np.full((N, C, OH, OW), -np.inf)
    for i in range(k):
        for j in range(k): out = np.maximum(out, xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s])
    return out
def bn(x, P, n, batch):
    if batch: m, v = x.mean((0, 2, 3)), x.var((0, 2, 3))
    else: m, v = P[n + ".running_mean"], P[n + ".running_var"]
    e = lambda a: np.asarray(a, np.float64)[None, :, None, None]
    return (x - e(m)) / np.sqrt(e(v) + 1e-5) * e(P[n + ".weight"]) + e(P[n + ".bias"])
relu = lambda a: np.maximum(a, 0)
def resnet18(P, x, batch=False):
    o = {}; h = maxpool(relu(bn(conv(x, P, "conv1", 1, 1, False), P, "bn1", batch)), 3, 2, 1); o["l0"] = h
    for g, planes in enumerate((64, 128, 256, 512)):
        for b in range(2):
            pre = "layer%d.%d" % (g + 1, b); s = 2 if g and not b else 1
            t = relu(bn(conv(h, P, pre + ".conv1", s, 1, False), P, pre + ".bn1", batch))
            if g == 0: o["l0_1" if b == 0 else "l0_3"] = t
            t = bn(conv(t, P, pre + ".conv2", 1, 1, False), P, pre + ".bn2", batch)
            sc = h
            if pre + ".downsample.0.weight" in P:
                sc = bn(conv(h, P, pre + ".downsample.0", s, 0, False), P, pre + ".downsample.1", batch)
            h = relu(t + sc)
            if b == 1: o["l%d" % (g + 1)] = h
            elif g == 0: o["l0_2"] = h
    o["bf_last"] = h.mean((2, 3)); o["logits"] = o["bf_last"] @ P["fc.weight"].T + P["fc.bias"]
    return {k: v.reshape(len(x), -1) for k, v in o.items()}
def alexnet(P, x, cifar):
    k = [(3, 2, 1), (3, 1, 1)] if cifar else [(11, 4, 2), (5, 1, 2)]
    k += [(3, 1, 1)] * 3; h = x
    for i, (kk, s, p) in enumerate(k):
        h = relu(conv(h, P, "conv%d" % (i + 1), s, p))
        if i in (0, 1, 4): h = maxpool(h, 3, 2, 0)
    o = {"flat": h.reshape(len(x), -1)}
    o["fc1"] = relu(o["flat"] @ P["fc1.weight"].T + P["fc1.bias"])
    o["fc2"] = relu(o["fc1"] @ P["fc2.weight"].T + P["fc2.bias"])
    o["logits"] = o["fc2"] @ P["fc3.weight"].T + P["fc3.bias"]
    return o
def load(path): z = np.load(path); return {k: z[k] for k in z.files if k != "meta.txt"}
# Worst |a - b| relative to the largest |b| of a layer.
def rel(a, b): return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
'

npf() { need_numpy; npy "$NPF
$1"; }

# Shared fixtures, made once: the data streams and a resnet18 trained two
# epochs on the CIFAR-100 fixture (batch 4: two steps an epoch).
setup_file() {
	F="$BATS_FILE_TMPDIR"
	export F
	cd "$F" || return 1
	fx 'random_cifar100("cifar-100-binary.tar.gz"); random_tiny("tiny-imagenet-200.zip")'
	mkdata cifar100 --data-dir . -o c100.npz
	mkdata cifar100 --split test --data-dir . -o c100t.npz
	mkdata tiny-imagenet --data-dir . -o tin.npz
	mkdata tiny-imagenet --split test --data-dir . -o tint.npz
	train --arch resnet18 --batch 4 --max-epochs 2 --save 0,2 --compress 0 \
		-d rn -e c100t.npz --log rn.log c100.npz 2>rn.err
}

@test "archs: train --help and unknown architectures name the new presets" {
	run --separate-stderr train --help
	assert_success
	assert_output --partial "resnet18"
	assert_output --partial "alexnet-cifar"
	run --separate-stderr train --arch resnet19 "$F/c100.npz"
	assert_usage_error
	assert_regex "$stderr" "unknown architecture 'resnet19' \(mlp, cnn, alexnet, alexnet-cifar or resnet18\)"
}

@test "archs: resnet18 checkpoint = torchvision's state_dict (names, order, shapes, dtypes), then optimizer state" {
	need_numpy
	run meta_of "$F/rn/epoch-002.npz"
	assert_line "model.arch=resnet18"
	assert_line "model.input=3x32x32"
	assert_line "model.classes=100"
	assert_line "model.final=fc"
	assert_line "model.layers=l0 l0_1 l0_2 l0_3 l1 l2 l3 l4 bf_last"
	assert_line "train.optimizer=sgd"
	assert_line "train.lr=0.001"
	assert_line "train.momentum=0.9"
	assert_line "train.batch=4"
	assert_line "data.name=cifar100"
	npy "
import zipfile
def bn(n, c): return [(n + s, (c,)) for s in ('.weight', '.bias', '.running_mean', '.running_var')] + [(n + '.num_batches_tracked', ())]
K = [('conv1.weight', (64, 3, 3, 3))] + bn('bn1', 64); inp = 64
for g, pl in enumerate((64, 128, 256, 512)):
    for b in range(2):
        p = 'layer%d.%d' % (g + 1, b); s = 2 if g and not b else 1
        K += [(p + '.conv1.weight', (pl, inp, 3, 3))] + bn(p + '.bn1', pl) + [(p + '.conv2.weight', (pl, pl, 3, 3))] + bn(p + '.bn2', pl)
        if s != 1 or inp != pl: K += [(p + '.downsample.0.weight', (pl, inp, 1, 1))] + bn(p + '.downsample.1', pl)
        inp = pl
K += [('fc.weight', (100, 512)), ('fc.bias', (100,))]
assert len(K) == 122, len(K)
z = np.load('$F/rn/epoch-002.npz')
names = [n[:-4] if n.endswith('.npy') else n for n in zipfile.ZipFile('$F/rn/epoch-002.npz').namelist()]
assert names[0] == 'meta.txt', names[0]
assert names[1:123] == [k for k, _ in K], [a for a, b in zip(names[1:], K) if a != b[0]][:3]
for k, s in K:
    assert z[k].shape == s, (k, z[k].shape, s)
    want = np.int64 if k.endswith('num_batches_tracked') else np.float32
    assert z[k].dtype == want, (k, z[k].dtype)
# Two epochs of two steps: four batches tracked in every batch norm.
assert all(int(z[k]) == 4 for k, _ in K if k.endswith('num_batches_tracked'))
# The running statistics moved away from (0, 1); the affine ones trained.
assert np.abs(z['bn1.running_mean']).max() > 0 and np.abs(z['layer4.1.bn2.running_var'] - 1).max() > 1e-3
assert np.abs(z['layer1.0.bn1.weight'] - 1).max() > 0
z0 = np.load('$F/rn/epoch-000.npz')
assert all(int(z0[k]) == 0 for k, _ in K if k.endswith('num_batches_tracked'))
assert (z0['bn1.running_var'] == 1).all() and (z0['bn1.running_mean'] == 0).all() and (z0['bn1.weight'] == 1).all()
# Optimizer state for the 62 parameters only, then the RNG.
opt = [n for n in names if n.startswith('opt.')]
params = [k for k, _ in K if not (k.endswith('running_mean') or k.endswith('running_var') or k.endswith('num_batches_tracked'))]
assert opt == ['opt.%s.momentum_buffer' % k for k in params], opt[:3]
assert names[-1] == 'rng.state'
"
}

@test "archs: NumPy's ResNet-18 forward from the checkpoint equals dumpacts on every probed layer (running statistics)" {
	need_numpy
	dumpacts -m "$F/rn/epoch-002.npz" -d acts "$F/c100t.npz"
	dumpacts -m "$F/rn/epoch-002.npz" --predict -o pred.npz "$F/c100t.npz"
	run meta_of acts/l0.npz
	assert_line "dumpacts.bn_mode=eval"
	assert_line "dumpacts.dim=16384"
	npf "
P = load('$F/rn/epoch-002.npz')
x = np.load('$F/c100t.npz')['x'].astype(np.float64)
o = resnet18(P, x)
for n in 'l0 l0_1 l0_2 l0_3 l1 l2 l3 l4 bf_last'.split():
    a = np.load('acts/%s.npz' % n)
    assert a['act'].dtype == np.float32 and a['act'].shape == o[n].shape, (n, a['act'].shape)
    assert (a['y'] == np.load('$F/c100t.npz')['y']).all()
    assert rel(a['act'], o[n]) < 1e-4, (n, rel(a['act'], o[n]))
s = np.load('pred.npz')['score']
assert rel(s, o['logits']) < 1e-4, rel(s, o['logits'])
"
}

@test "archs: a state_dict written by NumPy (any BN statistics) loads, and --bn-mode batch uses each batch's statistics" {
	need_numpy
	# Random affine and running statistics, num_batches_tracked int64, as
	# np.savez would write a PyTorch state_dict (plus meta.txt).
	npf "
import io
P = load('$F/rn/epoch-002.npz'); r = np.random.RandomState(3)
isbn = lambda k: k.split('.')[-2].startswith('bn') or 'downsample.1.' in k
for k in list(P):
    if not isbn(k): continue
    last = k.split('.')[-1]
    if last in ('bias', 'running_mean'): P[k] = r.uniform(-0.5, 0.5, P[k].shape).astype(np.float32)
    if last in ('weight', 'running_var'): P[k] = r.uniform(0.5, 2, P[k].shape).astype(np.float32)
    if last == 'num_batches_tracked': P[k] = np.array(7, np.int64)
meta = zipfile.ZipFile('$F/rn/epoch-002.npz').read('meta.txt')
with zipfile.ZipFile('sd.npz', 'w') as z:
    z.writestr('meta.txt', meta)
    for k, v in P.items():
        if not k.startswith('opt.') and k != 'rng.state':
            b = io.BytesIO(); np.save(b, v); z.writestr(k + '.npy', b.getvalue())
"
	dumpacts -m sd.npz -l l1,l3,bf_last -d ev "$F/c100t.npz"
	dumpacts -m sd.npz -l l1,l3,bf_last --bn-mode batch --batch 4 -d bt "$F/c100t.npz"
	dumpacts -m sd.npz -l l3 --bn-mode batch --batch 2 -o bt2.npz "$F/c100t.npz"
	run meta_of bt/l3.npz
	assert_line "dumpacts.bn_mode=batch"
	npf "
P = load('sd.npz'); x = np.load('$F/c100t.npz')['x'].astype(np.float64)
ev, bt = resnet18(P, x), resnet18(P, x, batch=True)
for n in ('l1', 'l3', 'bf_last'):
    a, b = np.load('ev/%s.npz' % n)['act'], np.load('bt/%s.npz' % n)['act']
    assert rel(a, ev[n]) < 1e-4, (n, rel(a, ev[n]))
    assert rel(b, bt[n]) < 1e-4, (n, rel(b, bt[n]))
    assert rel(a, b) > 1e-2, n
# Batch statistics depend on the batch: two batches of two differ.
h = np.concatenate([resnet18(P, x[:2], True)['l3'], resnet18(P, x[2:], True)['l3']])
b2 = np.load('bt2.npz')['act']
assert rel(b2, h) < 1e-4, rel(b2, h)
assert rel(b2, bt['l3']) > 1e-2
"
	run --separate-stderr dumpacts -m sd.npz --bn-mode train "$F/c100t.npz"
	assert_usage_error
	assert_regex "$stderr" "invalid --bn-mode 'train' \(eval or batch\)"
}

@test "archs: resnet18 resumes bit for bit (running statistics and counters included)" {
	train --arch resnet18 --batch 4 --max-epochs 1 --save 1 --compress 0 -d a \
		-e "$F/c100t.npz" "$F/c100.npz" 2>/dev/null
	train --resume a/epoch-001.npz --max-epochs 2 --save 2 --compress 0 -d a \
		-e "$F/c100t.npz" "$F/c100.npz" 2>/dev/null
	cmp a/epoch-002.npz "$F/rn/epoch-002.npz"
}

@test "archs: masc (dual) and velpic on 16,384-wide resnet18 layers, transplant into fc equals velpic" {
	dumpacts -m "$F/rn/epoch-002.npz" -l l0,bf_last -d tr "$F/c100.npz"
	dumpacts -m "$F/rn/epoch-002.npz" -l l0,bf_last -d te "$F/c100t.npz"
	masc fit --method dual -q -o m.npz tr/l0.npz
	masc predict -m m.npz -o mp.npz te/l0.npz
	velpic fit --method dual -q -o v0.npz tr/l0.npz
	velpic predict -m v0.npz -o vp0.npz te/l0.npz
	run score --no-header mp.npz vp0.npz
	assert_success
	assert_equal "${#lines[@]}" 2
	run meta_of m.npz
	assert_line "probe=masc"
	velpic fit -q -o v.npz tr/bf_last.npz
	velpic predict -m v.npz -o vp.npz te/bf_last.npz
	transplant -m "$F/rn/epoch-002.npz" -p v.npz -o ed.npz
	dumpacts -m ed.npz --predict -o ep.npz "$F/c100t.npz"
	if [ -n "$PY" ]; then
		npy "
a, b = np.load('vp.npz'), np.load('ep.npz')
assert (a['pred'] == b['pred']).all(), (a['pred'], b['pred'])
assert np.abs(a['score'] - b['score']).max() <= 1e-5 * max(1, np.abs(a['score']).max())
w, e = np.load('v.npz')['w'], np.load('ed.npz')
assert (e['fc.weight'] == w).all() and (e['fc.bias'] == 0).all()
assert np.load('m.npz')['basis'].shape[1] == 16384
"
	fi
}

@test "archs: alexnet-cifar on CIFAR-100: Adam 1e-4, batch 128, torch-style names, probes flat fc1 fc2, NumPy forward" {
	train --arch alexnet-cifar --max-epochs 1 --save 1 --compress 0 -d ax "$F/c100.npz" 2>/dev/null
	run meta_of ax/epoch-001.npz
	assert_line "model.final=fc3"
	assert_line "model.layers=flat fc1 fc2"
	assert_line "train.optimizer=adam"
	assert_line "train.lr=0.0001"
	assert_line "train.batch=128"
	dumpacts -m ax/epoch-001.npz -d acts "$F/c100t.npz"
	[ -f acts/flat.npz ] && [ -f acts/fc1.npz ] && [ -f acts/fc2.npz ]
	npf "
P = load('ax/epoch-001.npz')
shapes = {'conv1.weight': (64, 3, 3, 3), 'conv2.weight': (192, 64, 3, 3), 'conv3.weight': (384, 192, 3, 3),
          'conv4.weight': (256, 384, 3, 3), 'conv5.weight': (256, 256, 3, 3), 'fc1.weight': (4096, 256),
          'fc2.weight': (4096, 4096), 'fc3.weight': (100, 4096), 'fc3.bias': (100,)}
for k, s in shapes.items(): assert P[k].shape == s, (k, P[k].shape)
assert 'opt.fc2.weight.exp_avg_sq' in P
x = np.load('$F/c100t.npz')['x'].astype(np.float64); o = alexnet(P, x, True)
for n in ('flat', 'fc1', 'fc2'):
    a = np.load('acts/%s.npz' % n)['act']
    assert rel(a, o[n]) < 1e-4, (n, rel(a, o[n]))
"
}

@test "archs: alexnet on Tiny ImageNet: batch 500, 11x11 first conv, NumPy forward, masc dual and velpic on fc1" {
	train --arch alexnet --max-epochs 1 --save 1 --compress 0 -d ax -e "$F/tint.npz" "$F/tin.npz" 2>/dev/null
	run meta_of ax/epoch-001.npz
	assert_line "model.input=3x64x64"
	assert_line "model.classes=3"
	assert_line "train.batch=500"
	assert_line "data.name=tiny-imagenet"
	dumpacts -m ax/epoch-001.npz -d tr "$F/tin.npz"
	dumpacts -m ax/epoch-001.npz -d te "$F/tint.npz"
	masc fit --method dual -q -o m.npz tr/fc1.npz
	masc predict -m m.npz -o mp.npz te/fc1.npz
	velpic fit -q -o v.npz tr/fc2.npz
	transplant -m ax/epoch-001.npz -p v.npz -o ed.npz
	run score --no-header mp.npz
	assert_success
	npf "
P = load('ax/epoch-001.npz')
assert P['conv1.weight'].shape == (64, 3, 11, 11) and P['conv2.weight'].shape == (192, 64, 5, 5)
assert P['fc1.weight'].shape == (4096, 256) and P['fc3.weight'].shape == (3, 4096)
x = np.load('$F/tint.npz')['x'].astype(np.float64); o = alexnet(P, x, False)
for n in ('flat', 'fc1', 'fc2'):
    a = np.load('te/%s.npz' % n)['act']
    assert a.shape == o[n].shape and rel(a, o[n]) < 1e-4, (n, a.shape, rel(a, o[n]))
assert np.load('m.npz')['basis'].shape[1] == 4096
assert (np.load('ed.npz')['fc3.weight'] == np.load('v.npz')['w']).all()
"
}

@test "archs: resnet18 takes any input shape (1x28x28, 3x64x64)" {
	need_numpy
	npy "
r = np.random.RandomState(0)
np.savez('g.npz', y=np.arange(6) % 3, x=r.uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32))"
	train --arch resnet18 --max-epochs 1 --save 1 --compress 0 -d g g.npz 2>/dev/null
	run meta_of g/epoch-001.npz
	assert_line "model.input=1x28x28"
	dumpacts -m g/epoch-001.npz -l l0,l4 -d acts g.npz
	npy "
assert np.load('acts/l0.npz')['act'].shape == (6, 64 * 14 * 14)
assert np.load('acts/l4.npz')['act'].shape == (6, 512 * 2 * 2)
assert np.load('g/epoch-001.npz')['conv1.weight'].shape == (64, 1, 3, 3)"
	train --arch resnet18 --batch 9 --max-epochs 1 --save 1 --compress 0 -d t "$F/tin.npz" 2>/dev/null
	run meta_of t/epoch-001.npz
	assert_line "model.input=3x64x64"
}
