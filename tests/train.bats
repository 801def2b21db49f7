#!/usr/bin/env bats
# train: options, checkpoints (names, shapes, init), the training step
# against NumPy, determinism, resume, schedules, stopping, bad input.

load helpers

# Checkpoints of the MLP are 40 MB: store them, deflate costs seconds.
export MEMPROBE_COMPRESS=0

# Train parameters after one epoch recomputed in NumPy from epoch 0
# (MLP, batch 32, in order), for sgd or adam; prints the worst difference.
np_epoch() { # CK0 CK1 DATA OPT LR
	npy "
c0 = np.load('$1'); c1 = np.load('$2'); d = np.load('$3')
opt, lr = '$4', np.float32($5)
x = d['x'].reshape(len(d['y']), -1); y = d['y']
names = ['fc1', 'fc2', 'fc3', 'fc4', 'fc5']
P = {k: c0[k] for k in c0.files if k.startswith('fc')}
S1, S2, t = {}, {}, 0
for b0 in range(0, len(y), 32):
    xb, yb = x[b0:b0+32], y[b0:b0+32]; B = len(yb); t += 1
    acts = [xb]; h = xb
    for i, n in enumerate(names):
        h = h @ P[n + '.weight'].T + P[n + '.bias']
        if i < 4: h = np.maximum(h, 0)
        acts.append(h)
    p = np.exp(h - h.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    g = p; g[np.arange(B), yb] -= 1; g /= B
    G = {}
    for i in reversed(range(5)):
        n = names[i]
        G[n + '.weight'] = g.T @ acts[i]; G[n + '.bias'] = g.sum(0)
        g = (g @ P[n + '.weight']) * (acts[i] > 0)
    for k, gk in G.items():
        gk = gk.astype(np.float32)
        if opt == 'sgd':
            S1[k] = gk if k not in S1 else np.float32(0.9) * S1[k] + gk
            P[k] = P[k] - lr * S1[k]
        else:
            S1[k] = np.float32(0.9) * S1.get(k, 0) + np.float32(0.1) * gk
            S2[k] = np.float32(0.999) * S2.get(k, 0) + np.float32(0.001) * gk * gk
            den = np.sqrt(S2[k]) / np.float32(np.sqrt(1 - 0.999 ** t)) + np.float32(1e-8)
            P[k] = P[k] - np.float32(lr / (1 - 0.9 ** t)) * (S1[k] / den)
worst = max(float(np.abs(c1[k] - P[k]).max()) for k in P)
moved = min(float(np.abs(c1[k] - c0[k]).max()) for k in P)
slot = 'momentum_buffer' if opt == 'sgd' else 'exp_avg'
worst_s = max(float(np.abs(c1['opt.' + k + '.' + slot] - S1[k]).max()) for k in P)
# Adam divides by sqrt(v) + eps: where a gradient is the rounding noise of
# a cancelling sum, float32 rounding moves the step by a fraction of lr.
off = sum(int((np.abs(c1[k] - P[k]) > 1e-6).sum()) for k in P) / sum(P[k].size for k in P)
print(worst, moved, worst_s, off)
assert moved > 1e-6 and worst_s < 1e-6, (moved, worst_s)
assert worst < (1e-6 if opt == 'sgd' else 0.1 * lr) and off < 1e-3, (worst, off)
"
}

@test "train --help prints usage on stdout and exits 0" {
	run --separate-stderr train --help
	assert_success
	assert_line --index 0 --partial "usage: train --arch NAME"
	assert_output --partial "--fresh-optimizer"
	assert_equal "$stderr" ""
}

@test "usage errors exit 2 with nothing on stdout" {
	need_numpy
	mkdata_np d.npz 20 1 8 8
	run --separate-stderr train --arch resnet99 d.npz
	assert_usage_error
	[[ "$stderr" == *"unknown architecture 'resnet99'"* ]]
	run --separate-stderr train --arch mlp --batch 0 d.npz
	assert_usage_error
	run --separate-stderr train d.npz
	assert_usage_error
	run --separate-stderr train --arch mlp --fresh-optimizer d.npz
	assert_usage_error
	run --separate-stderr train --arch mlp --save 5-2 d.npz
	assert_usage_error
	run --separate-stderr train --arch mlp --until 101 d.npz
	assert_usage_error
	run --separate-stderr train --arch mlp --opt rmsprop d.npz
	assert_usage_error
	run --separate-stderr train --arch mlp --lr 0 d.npz
	assert_usage_error
	run --separate-stderr train --arch mlp d.npz d.npz
	assert_usage_error
}

@test "bad data: no y, no x, labels beyond --classes, garbage" {
	need_numpy
	npy "np.savez('noy.npz', x=np.zeros((4, 1, 8, 8), np.float32))"
	run --separate-stderr train --arch mlp --max-epochs 1 noy.npz
	assert_runtime_error
	[[ "$stderr" == *"no labels 'y'"* ]]
	npy "np.savez('nox.npz', y=np.zeros(4, np.int32))"
	run --separate-stderr train --arch mlp --max-epochs 1 nox.npz
	assert_runtime_error
	mkdata_np d.npz 20 1 8 8
	run --separate-stderr train --arch mlp --classes 5 --max-epochs 1 d.npz
	assert_runtime_error
	[[ "$stderr" == *"label 9"* ]]
	echo "not a zip" > junk.npz
	run --separate-stderr train --arch mlp --max-epochs 1 junk.npz
	assert_runtime_error
	run --separate-stderr train --arch cnn --max-epochs 1 --ckpt-dir ck nox.npz
	assert_runtime_error
	[ ! -e ck/epoch-000.npz ]
}

@test "bad data: integer x, flipped other than 0/1, absurd or disagreeing data.classes" {
	need_numpy
	npy "
rng = np.random.default_rng(1)
y = np.arange(20) % 10; x = rng.uniform(-1, 1, (20, 1, 8, 8)).astype(np.float32)
write('i4.npz', 'data.classes=10\n', [('y', y), ('x', (x * 100).astype('<i4'))])
write('flip.npz', 'data.classes=10\n', [('y', y), ('flipped', np.full(20, 7, np.uint8)), ('x', x)])
write('huge.npz', 'data.classes=2147483647\n', [('y', y), ('x', x)])
write('max.npz', '', [('y', np.where(np.arange(20) == 3, 2**31 - 1, y)), ('x', x)])
write('d.npz', 'data.classes=10\n', [('y', y), ('x', x)])
write('e12.npz', 'data.classes=12\n', [('y', y), ('x', x)])"
	check() {
		run --separate-stderr train --arch mlp --max-epochs 1 --ckpt-dir ck "$@"
		assert_runtime_error
		[ ! -e ck/epoch-001.npz ] || fail "a checkpoint was written"
	}
	check i4.npz; assert_regex "$stderr" "i4.npz: member 'x' has dtype '<i4': features must be float32 or float64"
	check flip.npz; assert_regex "$stderr" "flip.npz: member 'flipped' has value 7 at index 0, expected 0 or 1"
	check huge.npz; assert_regex "$stderr" "huge.npz: meta.txt: invalid data.classes '2147483647'"
	check max.npz; assert_regex "$stderr" "max.npz: label 2147483647 of 'y' is too large"
	check --classes 12 d.npz; assert_regex "$stderr" "the training data has 10 classes \(meta.txt\) but the model has 12"
	check --eval e12.npz d.npz; assert_regex "$stderr" "the --eval data has 12 classes \(meta.txt\) but the model has 10"
}

@test "cnn rejects input too small for three poolings" {
	need_numpy
	mkdata_np d.npz 20 1 6 6
	run --separate-stderr train --arch cnn --max-epochs 0 d.npz
	assert_runtime_error
	[[ "$stderr" == *"8x8"* ]]
}

@test "mlp checkpoint: state_dict names, shapes, meta, PyTorch init bounds" {
	need_numpy
	mkdata_np d.npz 40 1 28 28
	run train --arch mlp --max-epochs 0 --ckpt-dir ck d.npz
	assert_success
	npy "
c = np.load('ck/epoch-000.npz')
want = {'fc1.weight': (128, 784), 'fc1.bias': (128,), 'fc2.weight': (512, 128),
        'fc2.bias': (512,), 'fc3.weight': (2048, 512), 'fc3.bias': (2048,),
        'fc4.weight': (2048, 2048), 'fc4.bias': (2048,), 'fc5.weight': (10, 2048),
        'fc5.bias': (10,)}
for k, s in want.items():
    assert c[k].shape == s and c[k].dtype == np.float32, k
    b = 1 / np.sqrt(s[1] if len(s) == 2 else want[k[:-4] + 'weight'][1])
    a = c[k]
    assert np.abs(a).max() <= b, (k, np.abs(a).max(), b)
    if a.size > 1000:
        assert np.abs(a).max() > 0.99 * b and abs(a.mean()) < 0.05 * b, k
        assert abs((np.abs(a) < b / 2).mean() - 0.5) < 0.05, k
for k in want:
    if k.endswith('weight'):
        assert c['opt.' + k + '.momentum_buffer'].shape == want[k]
assert c['rng.state'].dtype == np.int64 and c['rng.state'].shape == (4,)
m = dict(l.split('=', 1) for l in c['meta.txt'].decode().splitlines())
assert m['model.arch'] == 'mlp' and m['model.input'] == '1x28x28'
assert m['model.classes'] == '10' and m['model.final'] == 'fc5'
assert m['model.layers'] == 'input fc1 fc2 fc3 fc4'
assert m['train.epoch'] == '0' and m['train.optimizer'] == 'sgd'
assert m['train.lr'] == '0.001' and m['train.momentum'] == '0.9' and m['train.batch'] == '32'
"
}

@test "cnn checkpoint: names and shapes for 1x28x28 and 3x32x32, fc4 without bias" {
	need_numpy
	mkdata_np a.npz 20 1 28 28
	mkdata_np b.npz 20 3 32 32
	run train --arch cnn --max-epochs 0 --ckpt-dir cka a.npz
	assert_success
	run train --arch cnn --max-epochs 0 --ckpt-dir ckb b.npz
	assert_success
	npy "
for f, c_in, flat in (('cka', 1, 576), ('ckb', 3, 1024)):
    c = np.load(f + '/epoch-000.npz')
    ch = [c_in, 16, 16, 32, 32, 64, 64]
    for i in range(1, 7):
        assert c['conv%d.weight' % i].shape == (ch[i], ch[i-1], 3, 3)
        assert c['conv%d.bias' % i].shape == (ch[i],)
    assert c['fc1.weight'].shape == (250, flat)
    assert c['fc2.weight'].shape == (250, 250) and c['fc3.bias'].shape == (250,)
    assert c['fc4.weight'].shape == (10, 250) and 'fc4.bias' not in c.files
    assert 'opt.conv1.weight.exp_avg' in c.files and 'opt.fc4.weight.exp_avg_sq' in c.files
    m = dict(l.split('=', 1) for l in c['meta.txt'].decode().splitlines())
    assert m['model.final'] == 'fc4' and m['model.layers'] == 'input flat fc1 fc2 fc3'
    assert m['train.optimizer'] == 'adam' and m['train.lr'] == '0.0002'
    assert m['train.batch'] == ('128' if c_in == 1 else '32')
    b = 1 / np.sqrt(c_in * 9)
    assert np.abs(c['conv1.weight']).max() <= b
"
}

@test "one epoch of SGD momentum equals NumPy's computation" {
	need_numpy
	mkdata_np d.npz 100 1 28 28
	run train --arch mlp --max-epochs 1 --save all --ckpt-dir ck d.npz
	assert_success
	np_epoch ck/epoch-000.npz ck/epoch-001.npz d.npz sgd 0.001
}

@test "one epoch of Adam equals NumPy's computation" {
	need_numpy
	mkdata_np d.npz 70 1 6 6
	run train --arch mlp --opt adam --lr 0.001 --max-epochs 1 --save all --ckpt-dir ck d.npz
	assert_success
	np_epoch ck/epoch-000.npz ck/epoch-001.npz d.npz adam 0.001
}

@test "same seed twice: byte-identical; another seed or thread count" {
	need_numpy
	mkdata_np d.npz 64 1 8 8
	train --arch cnn --shuffle --seed 7 --max-epochs 2 --save 2 --ckpt-dir a d.npz 2>/dev/null
	train --arch cnn --shuffle --seed 7 --max-epochs 2 --save 2 --ckpt-dir b --threads 1 d.npz 2>/dev/null
	train --arch cnn --shuffle --seed 8 --max-epochs 2 --save 2 --ckpt-dir c d.npz 2>/dev/null
	cmp a/epoch-002.npz b/epoch-002.npz
	! cmp -s a/epoch-002.npz c/epoch-002.npz
}

@test "resume: 4 epochs equal 2 + 2, byte for byte (SGD, in order)" {
	need_numpy
	mkdata_np d.npz 100 1 10 10
	train --arch mlp --max-epochs 4 --save all --ckpt-dir a d.npz 2>/dev/null
	train --arch mlp --max-epochs 2 --save all --ckpt-dir b d.npz 2>/dev/null
	run train --resume b/epoch-002.npz --max-epochs 4 --save all --ckpt-dir c d.npz
	assert_success
	cmp a/epoch-004.npz c/epoch-004.npz
	cmp a/epoch-003.npz c/epoch-003.npz
	[ ! -e c/epoch-002.npz ]
}

@test "resume --log: the log continues; rows past the checkpoint go; a foreign file is kept" {
	need_numpy
	mkdata_np d.npz 100 1 10 10
	mkdata_np t.npz 40 1 10 10
	train --arch mlp --max-epochs 4 --save all --ckpt-dir a --eval t.npz --log a.tsv d.npz 2>/dev/null
	# a run stopped after logging epoch 3 whose last checkpoint is epoch 2
	train --arch mlp --max-epochs 3 --save 2 --ckpt-dir b --eval t.npz --log b.tsv d.npz 2>/dev/null
	[ "$(tail -n 1 b.tsv | cut -f1)" = 3 ]
	rm b/epoch-003.npz
	run train --resume b/epoch-002.npz --max-epochs 4 --save all --ckpt-dir b --eval t.npz --log b.tsv d.npz
	assert_success
	cmp a.tsv b.tsv
	# a log that does not exist yet starts with the header
	run train --resume b/epoch-002.npz --max-epochs 3 --ckpt-dir c --log new.tsv d.npz
	assert_success
	[ "$(head -n 1 new.tsv)" = "$(head -n 1 a.tsv)" ]
	[ "$(sed -n 2p new.tsv | cut -f1)" = 3 ] && [ "$(wc -l < new.tsv)" -eq 2 ]
	# not a train log: an error, and the file as it was
	printf 'precious\n' > notes.txt
	run train --resume b/epoch-002.npz --max-epochs 3 --ckpt-dir c --log notes.txt d.npz
	assert_failure 1
	assert_output --partial "'notes.txt' is not a train log"
	[ "$(cat notes.txt)" = precious ]
}

@test "resume: Adam with shuffling continues the RNG and optimizer exactly" {
	need_numpy
	mkdata_np d.npz 48 1 8 8
	train --arch cnn --batch 16 --shuffle --seed 3 --max-epochs 3 --save all --ckpt-dir a d.npz 2>/dev/null
	train --arch cnn --batch 16 --shuffle --seed 3 --max-epochs 1 --save all --ckpt-dir b d.npz 2>/dev/null
	run train --arch cnn --resume b/epoch-001.npz --max-epochs 3 --save all --ckpt-dir b d.npz
	assert_success
	cmp a/epoch-003.npz b/epoch-003.npz
}

@test "resume with --fresh-optimizer restarts the optimizer state" {
	need_numpy
	mkdata_np d.npz 64 1 8 8
	train --arch mlp --max-epochs 1 --save all --ckpt-dir a d.npz 2>/dev/null
	run train --resume a/epoch-001.npz --fresh-optimizer --opt adam --lr 0.01 --max-epochs 2 --ckpt-dir b d.npz
	assert_success
	npy "
c = np.load('b/epoch-002.npz')
m = dict(l.split('=', 1) for l in c['meta.txt'].decode().splitlines())
assert m['train.step'] == '2' and m['train.optimizer'] == 'adam' and m['train.epoch'] == '2'
assert 'opt.fc1.weight.exp_avg' in c.files and 'opt.fc1.weight.momentum_buffer' not in c.files
"
	# Switching optimizers without it is refused.
	run --separate-stderr train --resume a/epoch-001.npz --opt adam --max-epochs 2 d.npz
	assert_runtime_error
	[[ "$stderr" == *"--fresh-optimizer"* ]]
}

@test "resume refuses another architecture or input shape" {
	need_numpy
	mkdata_np d.npz 20 1 8 8
	mkdata_np e.npz 20 3 8 8
	train --arch mlp --max-epochs 0 --ckpt-dir a d.npz 2>/dev/null
	run --separate-stderr train --arch cnn --resume a/epoch-000.npz --max-epochs 1 d.npz
	assert_runtime_error
	[[ "$stderr" == *"'mlp' model, not 'cnn'"* ]]
	run --separate-stderr train --resume a/epoch-000.npz --max-epochs 1 e.npz
	assert_runtime_error
	[[ "$stderr" == *"3x8x8"* ]]
}

@test "a tiny network memorizes random labels to 100% and stops there" {
	need_numpy
	npy "
rng = np.random.default_rng(5)
np.savez('r.npz', y=rng.integers(0, 10, 64), x=rng.normal(size=(64, 1, 5, 5)).astype(np.float32))"
	run train --arch mlp --opt adam --lr 0.001 --until 100 --max-epochs 300 --save 0 --ckpt-dir ck --log log.tsv r.npz
	assert_success
	[[ "$output" == *"reached 100%"* ]]
	last=$(tail -n 1 log.tsv | cut -f1)
	[ "$(tail -n 1 log.tsv | cut -f3)" = "1.000000" ]
	[ "$last" -lt 300 ]
	# The schedule asked for epoch 0 only; the last epoch is saved anyway.
	[ -f "ck/epoch-$(printf %03d "$last").npz" ]
	[ "$(ls ck | wc -l)" -eq 2 ]
}

@test "--save dynamics and lists; --log columns" {
	need_numpy
	mkdata_np d.npz 32 1 8 8
	mkdata_np t.npz 20 1 8 8 9
	run train --arch mlp --max-epochs 7 --until 100 --ckpt-dir a --eval t.npz --log log.tsv d.npz
	assert_success
	[ "$(ls a | tr '\n' ' ')" = "epoch-000.npz epoch-001.npz epoch-002.npz epoch-004.npz epoch-006.npz epoch-007.npz " ]
	[ "$(head -n 1 log.tsv)" = "$(printf 'epoch\tloss\ttrain_acc\ttrain_acc_true\ttest_acc')" ]
	[ "$(wc -l < log.tsv)" -eq 9 ]
	[ "$(sed -n 2p log.tsv | cut -f1-4)" = "$(printf '0\tNA\tNA\tNA')" ]
	# Test accuracy on every row, no true-label column without y_true.
	! sed -n '2,$p' log.tsv | cut -f5 | grep -qx NA
	! sed -n '2,$p' log.tsv | cut -f4 | grep -qvx NA
	run train --arch mlp --max-epochs 5 --until 100 --save 0,3 --ckpt-dir b d.npz
	assert_success
	[ "$(ls b | tr '\n' ' ')" = "epoch-000.npz epoch-003.npz epoch-005.npz " ]
}

@test "true-label accuracy is logged when the data has y_true" {
	need_numpy
	npy "
rng = np.random.default_rng(2)
y = np.arange(40) % 10; yt = y.copy(); yt[:8] = (yt[:8] + 1) % 10
np.savez('c.npz', y=y, y_true=yt, flipped=(y != yt).astype(np.uint8),
         x=rng.normal(size=(40, 1, 8, 8)).astype(np.float32))"
	run train --arch mlp --max-epochs 2 --log log.tsv c.npz
	assert_success
	[[ "$output" == *"true labels"* ]]
	! sed -n '3,$p' log.tsv | cut -f4 | grep -qx NA
}

@test "an MLP learns MNIST: 2000 images give over 80% on 1000 test images" {
	need_mnist
	need_numpy
	mkdata mnist --split train --limit 2000 -o tr.npz
	mkdata mnist --split test --limit 1000 -o te.npz
	run train --arch mlp --opt adam --lr 1e-4 --shuffle --max-epochs 3 --eval te.npz --log log.tsv tr.npz
	assert_success
	acc=$(tail -n 1 log.tsv | cut -f5)
	echo "test accuracy $acc"
	npy "assert $acc > 0.80, $acc"
}

@test "SIGINT stops training without leaving a partial checkpoint" {
	need_numpy
	mkdata_np d.npz 2000 1 12 12
	train --arch mlp --max-epochs 100000 --save all --ckpt-dir ck d.npz 2>err &
	pid=$!
	for i in $(seq 600); do [ -e ck/epoch-002.npz ] && break; sleep 0.1; done
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -ne 0 ]
	[ "$rc" -lt 128 ]
	grep -q interrupted err
	[ -z "$(ls ck | grep -v '^epoch-[0-9]*\.npz$')" ]
	for f in ck/*.npz; do npy "np.load('$f')['fc5.bias']"; done
}

# ---- nothing left behind (issue 10) ----

@test "kill -9 mid-checkpoint: the next run removes the temporary; --resume stays byte-identical" {
	need_numpy
	mkdata_np d.npz 64 1 12 12
	# Deflated checkpoints take long enough to write that the kill lands in one.
	train --arch mlp --compress 1 --max-epochs 1000000 --save all --ckpt-dir ck d.npz 2>err &
	pid=$!
	for i in $(seq 1200); do
		[ -e ck/epoch-001.npz ] && compgen -G 'ck/epoch-*.npz.tmp.*' >/dev/null && break
		sleep 0.05
	done
	kill -9 "$pid"
	wait "$pid" || true
	left=$(cd ck && ls | grep -E '^epoch-[0-9]+\.npz\.tmp\.' || true)
	[ -n "$left" ] || fail "the kill left no temporary: $(ls ck)"
	last=$(cd ck && ls | grep -E '^epoch-[0-9]+\.npz$' | tail -n 1)
	e=$((10#$(echo "$last" | tr -dc 0-9)))
	# names that are not a checkpoint's temporary are not ours to remove
	touch ck/notes.tmp.abcdef ck/epoch-001.npz.tmp
	run train --resume "ck/$last" --compress 1 --max-epochs $((e + 2)) --save all --ckpt-dir ck d.npz
	assert_success
	assert_output --partial "removed 'ck/$left'"
	[ -z "$(cd ck && ls | grep -E '\.npz\.tmp\.[A-Za-z0-9]{6}$')" ] || fail "left: $(ls ck)"
	[ -e ck/notes.tmp.abcdef ] && [ -e ck/epoch-001.npz.tmp ]
	train --arch mlp --compress 1 --max-epochs $((e + 2)) --save all --ckpt-dir ref d.npz 2>/dev/null
	for k in $((e + 1)) $((e + 2)); do
		f=epoch-$(printf %03d $k).npz
		cmp "ref/$f" "ck/$f"
	done
	# a fresh run on the folder cleans up too
	touch ck/epoch-007.npz.tmp.Xy12Zw
	run train --arch mlp --max-epochs 0 --ckpt-dir ck d.npz
	assert_success
	[ ! -e ck/epoch-007.npz.tmp.Xy12Zw ]
}

@test "a second train on the same --ckpt-dir fails at once, naming the holder; it removes nothing" {
	need_numpy
	mkdata_np d.npz 64 1 12 12
	train --arch mlp --max-epochs 1000000 --save 0 --ckpt-dir ck d.npz 2>err &
	pid=$!
	for i in $(seq 600); do [ -e ck/epoch-000.npz ] && break; sleep 0.1; done
	[ -e ck/epoch-000.npz ]
	# as if the running train were writing it
	touch ck/epoch-005.npz.tmp.AbCd12
	run --separate-stderr timeout 60 train --arch mlp --max-epochs 1 --save all --ckpt-dir ck d.npz
	kill -INT "$pid"
	wait "$pid" || true
	assert_runtime_error
	[[ "$stderr" == *"'ck' is in use by process $pid"* ]] || fail "$stderr"
	[ -e ck/epoch-005.npz.tmp.AbCd12 ]
	[ ! -e ck/epoch-001.npz ]
	# once the holder is gone, the folder is free again
	run train --arch mlp --max-epochs 0 --ckpt-dir ck d.npz
	assert_success
}

@test "bad input leaves no --ckpt-dir behind; missing parents are made" {
	need_numpy
	npy "np.savez('nox.npz', y=np.zeros(4, np.int32))"
	run --separate-stderr train --arch mlp --max-epochs 1 --ckpt-dir ck nox.npz
	assert_runtime_error
	[ ! -e ck ]
	mkdata_np d.npz 20 1 8 8
	run --separate-stderr train --arch mlp --max-epochs 1 --ckpt-dir ck --eval nox.npz d.npz
	assert_runtime_error
	[ ! -e ck ]
	run --separate-stderr train --arch mlp --classes 5 --max-epochs 1 --ckpt-dir ck d.npz
	assert_runtime_error
	[ ! -e ck ]
	run --separate-stderr train --resume absent.npz --max-epochs 1 --ckpt-dir ck d.npz
	assert_runtime_error
	[ ! -e ck ]
	run train --arch mlp --max-epochs 0 --ckpt-dir runs/a/ck d.npz
	assert_success
	[ -f runs/a/ck/epoch-000.npz ]
}

# A tmpfs of 64 KiB mounted in the test's folder (root only), unmounted on exit.
mount_small() { # DIR
	mkdir -p "$1"
	mount -t tmpfs -o size=64k tmpfs "$1" 2>/dev/null || skip "cannot mount a tmpfs here"
	MOUNTED=$1
}
teardown() {
	if [ -n "${MOUNTED:-}" ]; then umount "$MOUNTED" 2>/dev/null || true; fi
}

@test "full disk: the log is never empty or cut, the error names the file once" {
	need_numpy
	mount_small mnt
	npy "
rng = np.random.default_rng(1)
np.savez('s.npz', y=np.arange(10) % 10, x=rng.uniform(-1, 1, (10, 1, 2, 2)).astype(np.float32))"
	train --arch mlp --max-epochs 0 --ckpt-dir ck s.npz 2>/dev/null
	# a disk with no room at all: no log, no temporary, not an empty one
	head -c 65536 /dev/zero > mnt/fill 2>/dev/null || true
	run --separate-stderr train --arch mlp --max-epochs 1 --log mnt/log.tsv s.npz
	assert_runtime_error
	[[ "$stderr" == *"'mnt/log.tsv'"* ]] || fail "$stderr"
	[ "$(ls -A mnt)" = fill ] || fail "left: $(ls -A mnt)"
	# a resumed log that fills its last page: the row that does not fit is
	# not left half written (the hard link keeps the old pages in use)
	rm mnt/fill
	{ printf 'epoch\tloss\ttrain_acc\ttrain_acc_true\ttest_acc\n'
	  for i in $(seq 288); do printf '0\tNA\tNA\tNA\tNA\n'; done; } > mnt/log.tsv
	ln mnt/log.tsv mnt/old.tsv
	cp mnt/log.tsv want.tsv
	head -c $((14 * 4096)) /dev/zero > mnt/fill
	run --separate-stderr train --resume ck/epoch-000.npz --max-epochs 3 --log mnt/log.tsv s.npz
	assert_runtime_error
	[[ "$stderr" == *"cannot write 'mnt/log.tsv': No space left on device"* ]] || fail "$stderr"
	cmp mnt/log.tsv want.tsv
	cmp mnt/old.tsv want.tsv
	# checkpoints on a full disk: the path once
	run --separate-stderr train --arch mlp --max-epochs 0 --ckpt-dir mnt/ck s.npz
	assert_runtime_error
	[[ "$stderr" == *"train: mnt/ck/epoch-000.npz: member '"*"No space left on device"* ]] || fail "$stderr"
	[ "$(grep -o 'mnt/ck/epoch-000.npz' <<< "$stderr" | wc -l)" -eq 1 ] || fail "$stderr"
	[ -z "$(ls mnt/ck)" ]
}

@test "--log to a device is written, never replaced" {
	need_numpy
	mkdata_np d.npz 20 1 8 8
	run --separate-stderr train --arch mlp --max-epochs 1 --log /dev/full d.npz
	assert_runtime_error
	[[ "$stderr" == *"cannot write '/dev/full'"* ]] || fail "$stderr"
	[ -c /dev/full ]
	run train --arch mlp --max-epochs 1 --log /dev/null d.npz
	assert_success
	[ -c /dev/null ]
}
