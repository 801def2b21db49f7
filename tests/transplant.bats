#!/usr/bin/env bats
# tests/transplant.bats: transplant on checkpoints written by NumPy (MLP-
# like with a final bias, CNN-like without), the probe from a file or a
# pipe, --bias zero|keep, the errors; and, with train and dumpacts, the
# paper's claim: the edited model predicts exactly what VeLPIC predicts.
load helpers

W='import io, zipfile
def write(path, meta, arrays, compress=False):
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode) as z:
        if meta is not None:
            z.writestr("meta.txt", meta)
        for k, v in arrays:
            b = io.BytesIO(); np.lib.format.write_array(b, np.asarray(v)); z.writestr(k + ".npy", b.getvalue())
def meta(path):
    return dict(l.split("=", 1) for l in zipfile.ZipFile(path).read("meta.txt").decode().splitlines() if l)
rs = np.random.RandomState(0)
P = [("fc1.weight", rs.randn(4, 6).astype(np.float32)), ("fc1.bias", rs.randn(4).astype(np.float32)),
     ("fc2.weight", rs.randn(3, 4).astype(np.float32)), ("fc2.bias", rs.randn(3).astype(np.float32)),
     ("opt.fc2.weight.momentum_buffer", rs.randn(3, 4).astype(np.float32)),
     ("rng.state", np.arange(4, dtype=np.int64))]
V = rs.randn(3, 4).astype(np.float32)
'

# ck.npz: final layer fc2 (3, 4) with bias; cnn.npz: final fc2 without bias;
# v.npz: a velpic probe (3, 4) fitted on fc1.
mkfixtures() {
	npy "$W
write('ck.npz', 'model.arch=mlp\nmodel.classes=3\nmodel.final=fc2\nmodel.layers=input fc1\ntrain.epoch=7\n', P)
write('cnn.npz', 'model.arch=cnn\nmodel.classes=3\nmodel.final=fc2\nmodel.layers=input fc1\n', [p for p in P if p[0] != 'fc2.bias'])
write('nofinal.npz', 'model.arch=mlp\n', P)
write('v.npz', 'probe=velpic\nprobe.layer=fc1\nvelpic.labels=y\n', [('w', V)])
write('v64.npz', 'probe=velpic\nprobe.layer=fc1\n', [('w', V.astype(np.float64))])
write('vfc0.npz', 'probe=velpic\nprobe.layer=input\n', [('w', V)])
write('v5.npz', 'probe=velpic\n', [('w', np.zeros((3, 5), np.float32))])
write('c4.npz', 'probe=velpic\n', [('w', np.zeros((4, 4), np.float32))])
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
		run --separate-stderr transplant $args
		assert_usage_error
		assert_regex "$stderr" "usage: transplant"
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
assert (o['fc2.weight'] == V).all() and (o['fc2.bias'] == 0).all()
for k, v in P:
    if not k.startswith('fc2.'):
        assert (o[k] == v).all() and o[k].dtype == v.dtype, k
m = meta('out.npz')
assert m['transplant.layer'] == 'fc2' and m['transplant.bias'] == 'zero'
assert m['transplant.probe.layer'] == 'fc1' and m['train.epoch'] == '7' and 'transplant.argv' in m"
}

@test "transplant: --bias keep, probe on stdin, float64 probe" {
	need_numpy
	mkfixtures
	transplant -m ck.npz --bias keep < v.npz > out.npz
	transplant -m ck.npz -p v64.npz -o out64.npz
	npy "$W
o = np.load('out.npz')
assert (o['fc2.weight'] == V).all() and (o['fc2.bias'] == P[3][1]).all()
assert meta('out.npz')['transplant.bias'] == 'keep'
assert (np.load('out64.npz')['fc2.weight'] == V).all()"
}

@test "transplant: a final layer without bias (CNN): zero and keep are the same edit" {
	need_numpy
	mkfixtures
	transplant -m cnn.npz -p v.npz --bias zero > a.npz
	transplant -m cnn.npz -p v.npz --bias keep > b.npz
	npy "$W
a, b = np.load('a.npz'), np.load('b.npz')
assert a.files == b.files and 'fc2.bias' not in a.files
for k in a.files[1:]:
    assert (a[k] == b[k]).all()
assert (a['fc2.weight'] == V).all() and meta('a.npz')['transplant.bias'] == 'none'"
}

@test "transplant: --layer names the final layer when meta.txt does not" {
	need_numpy
	mkfixtures
	run --separate-stderr transplant -m nofinal.npz -p v.npz -o out.npz
	assert_runtime_error
	assert_regex "$stderr" "no 'model.final' in meta.txt: name the final layer with --layer"
	transplant -m nofinal.npz -p v.npz --layer fc2 -o out.npz
	npy "$W
assert (np.load('out.npz')['fc2.weight'] == V).all()"
}

@test "transplant: a probe from another layer than the final layer's input is warned about" {
	need_numpy
	mkfixtures
	run --separate-stderr transplant -m ck.npz -p vfc0.npz -o out.npz
	assert_success
	assert_regex "$stderr" "fitted on layer 'input', but 'fc2' is fed by 'fc1'"
}

@test "transplant: runtime errors exit 1 and leave no output file" {
	need_numpy
	mkfixtures
	check() {
		run --separate-stderr transplant "$@" -o out.npz
		assert_runtime_error
		assert_regex "$stderr" "^transplant: "
		[ ! -e out.npz ] || fail "out.npz left behind"
		[ -z "$(ls | grep tmp)" ] || fail "temporary left behind"
	}
	check -m ck.npz -p v5.npz; assert_regex "$stderr" "D=5 values but 'fc2.weight' takes 4 inputs"
	check -m ck.npz -p c4.npz; assert_regex "$stderr" "4 classes but 'fc2.weight' has 3 outputs"
	check -m ck.npz -p m.npz; assert_regex "$stderr" "'masc' probe; transplant takes a velpic probe"
	check -m ck.npz -p v.npz --layer fc9; assert_regex "$stderr" "no member 'fc9.weight'"
	check -m ck.npz -p ck.npz; assert_regex "$stderr" "no 'w' member"
	check -m missing.npz -p v.npz
	check -m ck.npz -p missing.npz
	head -c 300 ck.npz > trunc.npz
	check -m trunc.npz -p v.npz
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
