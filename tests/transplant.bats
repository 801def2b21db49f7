#!/usr/bin/env bats
# tests/transplant.bats: transplant on checkpoints written by NumPy (an
# MLP with a final bias, a CNN without), the probe from a file or a pipe,
# --bias zero|keep, the errors (checkpoints dumpacts would refuse, probes
# with NaN or infinity); and, with train and dumpacts, the paper's claim:
# the edited model predicts exactly what VeLPIC predicts.
load helpers

# Python prelude: the checkpoints' and probes' arrays (write() and meta()
# are tests/fixtures.py's).
W='
def linear(name, o, i, bias=True):
    r = [(name + ".weight", (rs.randn(o, i) / np.sqrt(i)).astype(np.float32))]
    return r + ([(name + ".bias", rs.randn(o).astype(np.float32))] if bias else [])
rs = np.random.RandomState(0)
# An MLP on 1x2x2 input with 3 classes (final fc5 (3, 2048) with bias), and
# a CNN on 1x8x8 (final fc4 (3, 250) without): checkpoints that dumpacts loads.
P = sum([linear("fc%d" % (k + 1), o, i) for k, (o, i) in
         enumerate([(128, 4), (512, 128), (2048, 512), (2048, 2048), (3, 2048)])], [])
P += [("opt.fc5.weight.momentum_buffer", rs.randn(3, 2048).astype(np.float32)),
      ("rng.state", np.arange(4, dtype=np.int64))]
CH = [(16, 1), (16, 16), (32, 16), (32, 32), (64, 32), (64, 64)]
PC = sum([[("conv%d.weight" % (k + 1), rs.randn(o, i, 3, 3).astype(np.float32)),
           ("conv%d.bias" % (k + 1), rs.randn(o).astype(np.float32))] for k, (o, i) in enumerate(CH)], [])
PC += linear("fc1", 250, 64) + linear("fc2", 250, 250) + linear("fc3", 250, 250) + linear("fc4", 3, 250, False)
MLP = "model.arch=mlp\nmodel.input=1x2x2\nmodel.classes=3\nmodel.final=fc5\nmodel.layers=input fc1 fc2 fc3 fc4\n"
CNN = "model.arch=cnn\nmodel.input=1x8x8\nmodel.classes=3\nmodel.final=fc4\nmodel.layers=input flat fc1 fc2 fc3\n"
V = rs.randn(3, 2048).astype(np.float32)
VC = rs.randn(3, 250).astype(np.float32)
'

# ck.npz: an MLP whose final layer fc5 (3, 2048) has a bias; cnn.npz: a
# CNN whose final fc4 (3, 250) has none; v.npz / vc.npz: velpic probes
# (3, 2048) fitted on fc4 and (3, 250) fitted on fc3.
mkfixtures() {
	npy "$W
write('ck.npz', MLP + 'train.epoch=7\n', P)
write('cnn.npz', CNN, PC)
write('nofinal.npz', MLP.replace('model.final=fc5\n', ''), P)
write('v.npz', 'probe=velpic\nprobe.layer=fc4\nvelpic.labels=y\n', [('w', V)])
write('vc.npz', 'probe=velpic\nprobe.layer=fc3\n', [('w', VC)])
write('v64.npz', 'probe=velpic\nprobe.layer=fc4\n', [('w', V.astype(np.float64))])
write('vfc0.npz', 'probe=velpic\nprobe.layer=input\n', [('w', V)])
write('v5.npz', 'probe=velpic\n', [('w', np.zeros((3, 5), np.float32))])
write('c4.npz', 'probe=velpic\n', [('w', np.zeros((4, 2048), np.float32))])
write('m.npz', 'probe=masc\n', [('k', np.array([1, 1, 1], np.int32)), ('basis', np.eye(3, 4))])"
}

@test "transplant: --help prints usage and options on stdout" {
	run --separate-stderr transplant --help
	assert_success
	assert_line --index 0 "usage: transplant -m CKPT [-p PROBE] [--bias zero|keep] [--layer NAME] [--compress N] [-o FILE]"
	assert_output --partial "--bias"
	assert_equal "$stderr" ""
}

@test "transplant: usage errors exit 2 with nothing on stdout" {
	for args in "" "-p v.npz" "-m ck.npz --bias none" "-m ck.npz extra" "-m -" \
		"-m - -p -" "-m ck.npz --compress 11" "-m ck.npz --bogus"; do
		fails_usage "usage: transplant" transplant $args
	done
	run --separate-stderr transplant -m ck.npz --layer ""
	assert_usage_error
}

@test "transplant: final weight <- w, bias zeroed, everything else kept in order" {
	need_numpy
	mkfixtures
	transplant -m ck.npz -p v.npz -o out.npz
	npy "$W
o = np.load('out.npz')
assert o.files == ['meta.txt'] + [p[0] for p in P], o.files
assert (o['fc5.weight'] == V).all() and (o['fc5.bias'] == 0).all()
for k, v in P:
    if not k.startswith('fc5.'):
        assert (o[k] == v).all() and o[k].dtype == v.dtype, k
m = meta('out.npz')
assert m['transplant.layer'] == 'fc5' and m['transplant.bias'] == 'zero'
assert m['transplant.probe.layer'] == 'fc4' and m['train.epoch'] == '7' and 'transplant.argv' in m"
}

@test "transplant: --bias keep, probe on stdin, float64 probe" {
	need_numpy
	mkfixtures
	transplant -m ck.npz --bias keep < v.npz > out.npz
	transplant -m ck.npz -p v64.npz -o out64.npz
	npy "$W
o = np.load('out.npz')
assert (o['fc5.weight'] == V).all() and (o['fc5.bias'] == dict(P)['fc5.bias']).all()
assert meta('out.npz')['transplant.bias'] == 'keep'
assert (np.load('out64.npz')['fc5.weight'] == V).all()"
}

@test "transplant: a final layer without bias (CNN): zero and keep are the same edit" {
	need_numpy
	mkfixtures
	transplant -m cnn.npz -p vc.npz --bias zero > a.npz
	transplant -m cnn.npz -p vc.npz --bias keep > b.npz
	npy "$W
a, b = np.load('a.npz'), np.load('b.npz')
assert a.files == b.files and 'fc4.bias' not in a.files
for k in a.files[1:]:
    assert (a[k] == b[k]).all()
assert (a['fc4.weight'] == VC).all() and meta('a.npz')['transplant.bias'] == 'none'"
}

@test "transplant: the architecture's final layer when meta.txt names none; --layer names another" {
	need_numpy
	mkfixtures
	transplant -m nofinal.npz -p v.npz -o out.npz
	npy "$W
o = np.load('out.npz')
assert (o['fc5.weight'] == V).all() and meta('out.npz')['transplant.layer'] == 'fc5'"
	npy "$W
write('v1.npz', 'probe=velpic\n', [('w', np.ones((128, 4), np.float32))])"
	transplant -m ck.npz -p v1.npz --layer fc1 -o out1.npz
	npy "$W
o = np.load('out1.npz')
assert (o['fc1.weight'] == 1).all() and (o['fc1.bias'] == 0).all()
assert (o['fc5.weight'] == dict(P)['fc5.weight']).all() and meta('out1.npz')['transplant.layer'] == 'fc1'"
}

@test "transplant: a probe from another layer than the final layer's input is warned about" {
	need_numpy
	mkfixtures
	run --separate-stderr transplant -m ck.npz -p vfc0.npz -o out.npz
	assert_success
	assert_regex "$stderr" "fitted on layer 'input', but 'fc5' is fed by 'fc4'"
}

# Each runtime error: exit 1, a message, no output file, no temporary.
check() { fails_leaving_nothing transplant "$@"; assert_regex "$stderr" "^transplant: "; }

@test "transplant: runtime errors exit 1 and leave no output file" {
	need_numpy
	mkfixtures
	check -m ck.npz -p v5.npz; assert_regex "$stderr" "D=5 values but 'fc5.weight' takes 2048 inputs"
	check -m ck.npz -p c4.npz; assert_regex "$stderr" "4 classes but 'fc5.weight' has 3 outputs"
	check -m ck.npz -p m.npz; assert_regex "$stderr" "'masc' probe; transplant takes a velpic probe"
	check -m ck.npz -p v.npz --layer fc9; assert_regex "$stderr" "no member 'fc9.weight'"
	check -m ck.npz -p ck.npz; assert_regex "$stderr" "no 'w' member"
	check -m missing.npz -p v.npz
	check -m ck.npz -p missing.npz
	head -c 300 ck.npz > trunc.npz
	check -m trunc.npz -p v.npz
}

@test "transplant: a checkpoint dumpacts would refuse is refused (missing, scalar, empty tensors)" {
	need_numpy
	mkfixtures
	npy "$W
write('nobias.npz', MLP, [p for p in P if p[0] != 'fc3.bias'])
write('noarch.npz', MLP.replace('model.arch=mlp\n', ''), P)
write('scalar.npz', CNN, [(k, np.float32(1) if k == 'conv1.weight' else v) for k, v in PC])
write('empty.npz', CNN, [(k, np.zeros((0, 1, 3, 3), np.float32) if k == 'conv1.weight' else v) for k, v in PC])
write('intw.npz', CNN, [(k, v.astype(np.int32) if k == 'fc2.weight' else v) for k, v in PC])"
	for ck in nobias noarch scalar empty intw; do
		# what dumpacts says of it
		run --separate-stderr dumpacts -m $ck.npz --predict /dev/null
		assert_failure
		[ -n "$stderr" ]
	done
	check -m nobias.npz -p v.npz; assert_regex "$stderr" "^transplant: nobias.npz: checkpoint has no 'fc3.bias' \\(a mlp model needs it\\)$"
	check -m noarch.npz -p v.npz; assert_regex "$stderr" "^transplant: noarch.npz: not a model checkpoint \\(meta.txt has no 'model.arch'\\)$"
	check -m scalar.npz -p vc.npz; assert_regex "$stderr" "^transplant: scalar.npz: 'conv1.weight' has shape \\(\\), but cnn on 1x8x8 input with 3 classes needs \\(16, 1, 3, 3\\)$"
	check -m empty.npz -p vc.npz; assert_regex "$stderr" "^transplant: empty.npz: 'conv1.weight' has shape \\(0, 1, 3, 3\\)"
	check -m intw.npz -p vc.npz; assert_regex "$stderr" "^transplant: intw.npz: 'fc2.weight' has dtype <i4, not a float$"
}

@test "transplant: a probe with NaN, infinity or integer vectors is refused" {
	need_numpy
	mkfixtures
	npy "$W
for name, bad in [('nan', np.nan), ('inf', np.inf), ('ninf', -np.inf)]:
    w = V.copy(); w[2, 7] = bad
    write(name + '.npz', 'probe=velpic\n', [('w', w)])
w = VC.astype(np.float64); w[1, 0] = np.nan
write('nan64.npz', 'probe=velpic\n', [('w', w)])
write('int.npz', 'probe=velpic\n', [('w', np.ones((3, 2048), np.int32))])"
	check -m ck.npz -p nan.npz; assert_regex "$stderr" "^transplant: nan.npz: 'w' has a non-finite value \\(nan\\) in row 2$"
	check -m ck.npz -p inf.npz; assert_regex "$stderr" "^transplant: inf.npz: 'w' has a non-finite value \\(inf\\) in row 2$"
	check -m ck.npz -p ninf.npz; assert_regex "$stderr" "non-finite value \\(-inf\\) in row 2"
	check -m cnn.npz -p nan64.npz; assert_regex "$stderr" "^transplant: nan64.npz: 'w' has a non-finite value \\(nan\\) in row 1$"
	check -m ck.npz -p int.npz; assert_regex "$stderr" "^transplant: int.npz: member 'w' has dtype '<i4': features must be float32 or float64"
}

@test "transplant: the edited model predicts exactly what VeLPIC predicts; it trains on" {
	need_numpy
	[ -x "$TOP/bin/train" ] && [ -x "$TOP/bin/dumpacts" ] || skip "train and dumpacts are not built"
	npy "$W
rs = np.random.RandomState(0); n = 300
y = rs.randint(0, 10, n); x = (rs.rand(n, 1, 28, 28) * 2 - 1).astype(np.float32)
x[np.arange(n), 0, y, y] += 3
write('d.npz', 'data.name=fixture\ndata.classes=10\n', [('y', y), ('x', x)])
y = rs.randint(0, 10, 200); x = (rs.rand(200, 1, 28, 28) * 2 - 1).astype(np.float32)
x[np.arange(200), 0, y, y] += 3
write('t.npz', 'data.name=fixture\ndata.classes=10\ndata.split=test\n', [('y', y), ('x', x)])"
	train --arch mlp --max-epochs 1 --ckpt-dir ck --compress 0 d.npz 2>/dev/null
	ck=ck/epoch-001.npz
	[ -f "$ck" ]
	dumpacts -m "$ck" --layers fc4 d.npz | velpic fit -q | transplant -m "$ck" -o ed.npz
	dumpacts -m ed.npz --predict t.npz -o model.npz
	dumpacts -m "$ck" --layers fc4 t.npz | velpic predict -m <(dumpacts -m "$ck" --layers fc4 d.npz | velpic fit -q) -o probe.npz
	npy "$W
a, b = np.load('model.npz'), np.load('probe.npz')
assert (a['pred'] == b['pred']).all(), (a['pred'] != b['pred']).sum()
assert np.abs(a['score'] - b['score']).max() <= 1e-5 * np.abs(b['score']).max()"
	train --resume ed.npz --fresh-optimizer --max-epochs 2 --ckpt-dir ck2 --compress 0 d.npz 2>/dev/null
	[ -f ck2/epoch-002.npz ]
}
