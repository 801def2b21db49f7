#!/usr/bin/env bats
# tests/san/tsan.bats: short threaded runs for the ThreadSanitizer pass
# (tests/sanitize thread, make check-tsan), which copies this file into its
# sanitized tree and counts the reports. Each run uses more threads than
# the machine has cores; the assertions here are only that the tools
# succeed: the reports are the test.
load helpers

export MEMPROBE_COMPRESS=0

@test "tsan: train mlp at 2 and 4 threads, then dumpacts, masc, velpic" {
	need_numpy
	mkdata_np d.npz 64 1 28 28 4
	for t in 2 4; do
		run train --arch mlp --max-epochs 1 --save 1 --threads "$t" --ckpt-dir "ck$t" --eval d.npz d.npz
		assert_success
	done
	run dumpacts -m ck2/epoch-001.npz --layers all --threads 3 --outdir acts d.npz
	assert_success
	run masc fit -q -o m.npz acts/fc2.npz
	assert_success
	run masc fit -q --method dual -o md.npz acts/fc2.npz
	assert_success
	run masc predict -m m.npz -o p.npz acts/fc2.npz
	assert_success
	run velpic fit -q -o v.npz acts/fc2.npz
	assert_success
	run velpic predict -m v.npz -o q.npz acts/fc2.npz
	assert_success
}

@test "tsan: train cnn at 3 threads, resume, dumpacts --predict" {
	need_numpy
	mkdata_np d.npz 32 1 28 28 4
	run train --arch cnn --batch 8 --max-epochs 1 --save all --threads 3 --ckpt-dir ck d.npz
	assert_success
	run train --resume ck/epoch-001.npz --max-epochs 2 --threads 2 --ckpt-dir ck d.npz
	assert_success
	run dumpacts -m ck/epoch-002.npz --predict --threads 4 -o p.npz d.npz
	assert_success
}

@test "tsan: train resnet18 and alexnet-cifar at 2 threads on 32x32 colour images" {
	need_numpy
	mkdata_np d.npz 8 3 32 32 4
	run train --arch resnet18 --batch 4 --max-epochs 1 --save 1 --threads 2 --ckpt-dir r d.npz
	assert_success
	run dumpacts -m r/epoch-001.npz --layers l4,bf_last --bn-mode batch --threads 3 --outdir ra d.npz
	assert_success
	run train --arch alexnet-cifar --batch 4 --max-epochs 1 --save 1 --threads 2 --ckpt-dir a --classes 10 d.npz
	assert_success
}
