#!/usr/bin/env bats
# tests/threads.bats: results do not depend on the thread count or on the
# load of the machine (DESIGN.md, Threads). The MLP and the CNN are trained
# a few steps at --threads 1, 2 and 4 (4 is more threads than this
# project's machines have cores), three times at each threaded count, while
# a competing CPU load runs; every array member of every checkpoint must be identical.
# meta.txt differs by design (it records argv, and train's argv names the
# thread count), so members are compared by name, dtype, shape and CRC of
# their bytes (npzcat list). dumpacts is held to the same.
load helpers

export MEMPROBE_COMPRESS=0
NPZCAT="$TOP/build/tests/tools/npzcat"

# A competing load: one busy process per CPU, stopped by teardown.
load_pids=()
start_load() {
	local i n
	n=$(nproc)
	for ((i = 0; i < n; i++)); do
		(while :; do :; done) &
		load_pids+=($!)
	done
}
teardown() {
	[ ${#load_pids[@]} -eq 0 ] || kill "${load_pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}

# The array members of a stream, one line each: name, dtype, shape, CRC.
arrays() { "$NPZCAT" list "$1" | grep -v '^meta\.txt'; }

# train ARCH once at 1 thread, three times each at 2 and 4; every
# checkpoint's arrays equal the 1-thread run's.
same_at_every_thread_count() { # ARCH DATA EPOCHS [OPTS...]
	local arch=$1 data=$2 epochs=$3 t r e ref
	shift 3
	start_load
	for t in 1 2 4; do
		for r in 1 2 3; do
			[ "$t" = 1 ] && [ "$r" -gt 1 ] && continue
			train --arch "$arch" --seed 5 --shuffle --max-epochs "$epochs" --save all \
				--threads "$t" --ckpt-dir "ck-$t-$r" "$@" "$data" 2>/dev/null ||
				fail "train --threads $t (run $r) failed"
			for ((e = 0; e <= epochs; e++)); do
				f=$(printf 'ck-%s-%s/epoch-%03d.npz' "$t" "$r" "$e")
				arrays "$f" >"$f.list" || fail "cannot list $f"
				ref=$(printf 'ck-1-1/epoch-%03d.npz.list' "$e")
				[ "$(wc -l <"$f.list")" -gt 2 ] || fail "$f has no arrays"
				cmp -s "$ref" "$f.list" ||
					fail "$f differs from the 1-thread run: $(diff "$ref" "$f.list" | head -4)"
				rm -f "$f"
			done
		done
	done
}

@test "threads: the MLP's checkpoints are identical at 1, 2 and 4 threads under load" {
	need_numpy
	mkdata_np d.npz 64 1 28 28 3
	same_at_every_thread_count mlp d.npz 2
}

@test "threads: the CNN's checkpoints are identical at 1, 2 and 4 threads under load" {
	need_numpy
	mkdata_np d.npz 64 1 28 28 3
	same_at_every_thread_count cnn d.npz 2 --batch 16
}

@test "threads: dumpacts and the probes are identical at 1, 2 and 4 threads under load" {
	need_numpy
	mkdata_np d.npz 80 1 28 28 3
	train --arch cnn --max-epochs 1 --save 1 --ckpt-dir ck d.npz 2>/dev/null
	start_load
	for t in 1 2 4; do
		for r in 1 2; do
			run dumpacts -m ck/epoch-001.npz --layers all --threads "$t" --outdir "a-$t-$r" d.npz
			assert_success
			for l in input flat fc1 fc2 fc3; do
				arrays "a-$t-$r/$l.npz" >"a-$t-$r/$l.list"
				cmp "a-1-1/$l.list" "a-$t-$r/$l.list" || fail "layer $l differs at $t threads"
			done
		done
	done
	# masc and velpic use every CPU: run them twice under the load.
	for r in 1 2; do
		masc fit -q -o "m$r.npz" a-1-1/fc1.npz
		velpic fit -q -o "v$r.npz" a-1-1/fc1.npz
		masc predict -m "m$r.npz" -o "p$r.npz" a-1-1/fc1.npz
	done
	for f in m v p; do
		cmp <(arrays "${f}1.npz") <(arrays "${f}2.npz") || fail "$f differs run to run"
	done
}

# OpenBLAS's pthread build starts a server thread when it loads; under a
# tight ulimit -v its buffer mmap fails and it retries for ever, and
# exit() joined it: a tool hung after its error (seen for an hour). die()
# leaves with _exit. (ASan cannot run under ulimit -v.)
@test "threads: a tool that fails under a tight ulimit -v exits instead of hanging" {
	case ${MEMPROBE_SANITIZE:-} in *address*) skip "ulimit -v and ASan do not go together" ;; esac
	echo garbage >g.npz
	run --separate-stderr timeout 60 bash -c 'ulimit -v 102400 && exec masc fit g.npz'
	assert_runtime_error
	run --separate-stderr timeout 60 bash -c 'ulimit -v 102400 && exec train --arch mlp g.npz'
	assert_runtime_error
}

# A tool that succeeds under the same limit exits too: exit() leaves
# before the library destructors (mp_init in lib/core/util.c).
@test "threads: a tool that succeeds under a tight ulimit -v exits" {
	case ${MEMPROBE_SANITIZE:-} in *address*) skip "ulimit -v and ASan do not go together" ;; esac
	for t in masc velpic train score; do
		run --separate-stderr timeout 60 bash -c "ulimit -v 102400 && unset OPENBLAS_NUM_THREADS && exec $t --help"
		assert_success
	done
}
