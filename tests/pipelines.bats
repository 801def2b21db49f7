#!/usr/bin/env bats
# Miniatures of every pipeline, end to end: a tiny MNIST subset, two epochs,
# two checkpoints. The TSVs must have their columns and every expected row,
# a second make must do nothing, and streaming activations (KEEP_ACTS=0)
# must give the same numbers as caching them.
load helpers

MINI="DATA=mnist ARCH=mlp P=0.8 LIMIT=400 TEST_LIMIT=200 MAX_EPOCHS=2 SAVE=0,2 TRAIN_OPTS=--lr=0.05"

setup_file() {
	[ -f "${MEMPROBE_DATA:-$BATS_TEST_DIRNAME/../data}/mnist/train-images-idx3-ubyte" ] || return 0
	export R="$BATS_FILE_TMPDIR/results"
	make -s -f "$BATS_TEST_DIRNAME/../pipelines/dynamics.mk" $MINI RESULTS="$R" \
		>"$BATS_FILE_TMPDIR/dyn.log" 2>&1 || true
}

dyn() { echo "$R/mnist-mlp-p0.8-run1-n400"; }

@test "dynamics.mk: the table has its columns and every row" {
	need_mnist
	f=$(dyn)/dynamics.tsv
	[ -f "$f" ] || { cat "$BATS_FILE_TMPDIR/dyn.log"; false; }
	run head -n 1 "$f"
	assert_output "$(printf 'epoch\tlayer\tprobe\tsplit\tlabels\taccuracy')"
	# per epoch: model 3 rows; masc and velpic on 5 layers x 3; transplant 2 x 3
	for e in 0 2; do
		run awk -F'\t' -v e=$e '$1 == e' "$f"
		[ "${#lines[@]}" -eq 39 ] || fail "epoch $e has ${#lines[@]} rows"
	done
	for l in input fc1 fc2 fc3 fc4; do
		for p in masc velpic; do
			run awk -F'\t' -v l=$l -v p=$p '$2 == l && $3 == p && $4 == "train" && $5 == "corrupted"' "$f"
			[ "${#lines[@]}" -eq 2 ] || fail "no $p $l train rows"
		done
	done
	# accuracies are numbers in [0, 1]
	run awk -F'\t' 'NR > 1 && !($6 >= 0 && $6 <= 1)' "$f"
	assert_output ""
}

@test "dynamics.mk: probes on 80% corrupted labels beat chance" {
	need_mnist
	f=$(dyn)/dynamics.tsv
	# VeLPIC on the input layer needs no training: well above the 0.1 of chance
	run awk -F'\t' '$1 == 2 && $2 == "input" && $3 == "velpic" && $4 == "test" { print ($6 > 0.3) }' "$f"
	assert_output 1
	# and the probes fit the corrupted labels they were given
	run awk -F'\t' '$1 == 2 && $2 == "input" && $3 == "masc" && $4 == "train" && $5 == "corrupted" { print ($6 > 0.9) }' "$f"
	assert_output 1
}

@test "dynamics.mk: a second make does nothing" {
	need_mnist
	run make -q -f "$TOP/pipelines/dynamics.mk" $MINI RESULTS="$R"
	assert_success
	before=$(stat -c %Y "$(dyn)/dynamics.tsv")
	run make -f "$TOP/pipelines/dynamics.mk" $MINI RESULTS="$R"
	assert_success
	assert_output --partial "Nothing to be done"
	[ "$(stat -c %Y "$(dyn)/dynamics.tsv")" = "$before" ]
}

@test "dynamics.mk: KEEP_ACTS=0 streams and gives the same table" {
	need_mnist
	o="$BATS_FILE_TMPDIR/stream"
	mkdir -p "$o"
	# the run's stages (with their times) but no activations and no rows
	cp -a "$(dyn)"/.params-* "$(dyn)/data" "$(dyn)/ckpt" "$(dyn)/train.tsv" "$o/"
	run make -s -f "$TOP/pipelines/dynamics.mk" $MINI OUT="$o" KEEP_ACTS=0
	assert_success
	[ ! -d "$o/acts" ] || fail "KEEP_ACTS=0 cached activations"
	run cmp "$o/dynamics.tsv" "$(dyn)/dynamics.tsv"
	assert_success
}

@test "dynamics.mk: a changed variable redoes what depends on it, and only that" {
	need_mnist
	o="$BATS_FILE_TMPDIR/vary"
	cp -a "$(dyn)" "$o"
	ck=$(stat -c %y "$o/ckpt/epoch-002.npz")
	data=$(stat -c %y "$o/data/train.npz")
	# another MASC threshold: probes again, no training
	run make -s -f "$TOP/pipelines/dynamics.mk" $MINI OUT="$o" VAR=0.9
	assert_success
	[ "$(stat -c %y "$o/ckpt/epoch-002.npz")" = "$ck" ] || fail "VAR retrained"
	[ "$(stat -c %y "$o/data/train.npz")" = "$data" ] || fail "VAR remade the data"
	run diff <(awk -F'\t' '$3 != "masc"' "$o/dynamics.tsv") <(awk -F'\t' '$3 != "masc"' "$(dyn)/dynamics.tsv")
	assert_success
	run cmp -s <(awk -F'\t' '$3 == "masc"' "$o/dynamics.tsv") <(awk -F'\t' '$3 == "masc"' "$(dyn)/dynamics.tsv")
	assert_failure
	run make -q -f "$TOP/pipelines/dynamics.mk" $MINI OUT="$o" VAR=0.9
	assert_success
	# back to the default: probes again; the same table as the first run
	run make -s -f "$TOP/pipelines/dynamics.mk" $MINI OUT="$o"
	assert_success
	run cmp "$o/dynamics.tsv" "$(dyn)/dynamics.tsv"
	assert_success
	# another learning rate: trains anew, earlier checkpoints and rows dropped
	touch "$o/ckpt/epoch-099.npz"
	run make -s -f "$TOP/pipelines/dynamics.mk" ${MINI/--lr=0.05/--lr=0.02} OUT="$o"
	assert_success
	[ "$(stat -c %y "$o/ckpt/epoch-002.npz")" != "$ck" ] || fail "TRAIN_OPTS did not retrain"
	[ "$(stat -c %y "$o/data/train.npz")" = "$data" ] || fail "TRAIN_OPTS remade the data"
	[ ! -e "$o/ckpt/epoch-099.npz" ] || fail "a checkpoint of the earlier run survived"
	run awk -F'\t' 'NR > 1 { print $1 }' "$o/dynamics.tsv"
	[ "$(printf '%s\n' "${lines[@]}" | sort -u | tr '\n' ' ')" = "0 2 " ] || fail "epochs: ${lines[*]}"
	run cmp -s "$o/train.tsv" "$(dyn)/train.tsv"
	assert_failure
}

@test "summarize and plot: the table and the figures" {
	need_mnist
	run "$TOP/pipelines/summarize" "$(dyn)/dynamics.tsv"
	assert_success
	assert_line --index 0 --partial "epoch"
	[ "${#lines[@]}" -eq 3 ]
	command -v gnuplot >/dev/null || skip "gnuplot is not installed"
	run "$TOP/pipelines/plot" "$T/fig" "p=0.8=$(dyn)/dynamics.tsv"
	assert_success
	for k in probes difference transplant; do
		[ -s "$T/fig-$k.png" ] && [ -s "$T/fig-$k.svg" ] || fail "no $k figure"
	done
}

@test "summarize --log: the running training accuracy of each epoch beside the checkpoint's" {
	need_mnist
	run "$TOP/pipelines/summarize" --log "$(dyn)/train.tsv" "$(dyn)/dynamics.tsv"
	assert_success
	assert_line --index 0 --partial "$(printf 'epoch\ttrain_acc_running\ttrain_acc_corrupted\t')"
	# epoch 0 has no training yet; epoch 2's figure is the log's, to 4 places
	assert_line --index 1 --regexp $'^0\tNA\t'
	want=$(awk -F'\t' '$1 == 2 { printf "%.4f", $3 }' "$(dyn)/train.tsv")
	assert_line --index 2 --regexp $'^2\t'"$want"$'\t'
	run "$TOP/pipelines/summarize" --markdown --log "$(dyn)/train.tsv" "$(dyn)/dynamics.tsv"
	assert_success
	assert_line --index 0 --partial "| train acc, running (log) |"
	run "$TOP/pipelines/summarize" --log "$T/absent.tsv" "$(dyn)/dynamics.tsv"
	assert_failure 1
	assert_output --partial "absent.tsv"
	run "$TOP/pipelines/summarize" --log
	assert_failure 2
}

@test "transfer.mk: edit at initialisation, train on, every epoch scored" {
	need_mnist
	run make -s -f "$TOP/pipelines/transfer.mk" $MINI RESULTS="$R" EDIT=0 TO=2
	assert_success
	f=$(dyn)/transfer-e0-zero/transfer.tsv
	run head -n 1 "$f"
	assert_output "$(printf 'epoch\tsplit\tlabels\taccuracy')"
	for e in 0 1 2; do
		run awk -F'\t' -v e=$e '$1 == e' "$f"
		[ "${#lines[@]}" -eq 5 ] || fail "epoch $e has ${#lines[@]} rows"
	done
	run make -q -f "$TOP/pipelines/transfer.mk" $MINI RESULTS="$R" EDIT=0 TO=2
	assert_success
}

@test "paper.mk: the final table, and absent data skipped with a note" {
	need_mnist
	run make -s -f "$TOP/pipelines/paper.mk" PAIRS="mlp-mnist mlp-cifar10" PS=0.8 RUNS=1 \
		RESULTS="$R" DYN_OPTS="LIMIT=400 TEST_LIMIT=200 MAX_EPOCHS=2 SAVE=0,2"
	assert_success
	assert_output --partial "skipping mlp-cifar10"
	run cat "$R/paper/final.tsv"
	assert_line --index 0 "$(printf 'pair\tp\tmodel_test\tmasc_best\tvelpic_best\ttransplant\truns')"
	assert_line --index 1 --regexp "^mlp-mnist	0.8	0\.[0-9]{4}	"
	[ -s "$R/paper/final.md" ]
}

@test "two makes on one OUT: the second fails at once naming the holder; the first finishes" {
	need_mnist
	o="$BATS_FILE_TMPDIR/twice"
	make -s -f "$TOP/pipelines/dynamics.mk" $MINI OUT="$o" KEEP_ACTS=0 >"$T/first.log" 2>&1 &
	pid=$!
	# the stamps are written under the lock: once they are there, it is held
	for i in $(seq 600); do [ -s "$o/.lock" ] && [ -e "$o/.params-train" ] && break; sleep 0.1; done
	run timeout 60 make -s -f "$TOP/pipelines/dynamics.mk" $MINI OUT="$o" KEEP_ACTS=0
	rc=0
	wait "$pid" || rc=$?
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "second make: status $status: $output"
	assert_output --partial "dynamics.mk: '$o' is in use by process "
	holder=$(sed -n "s/.* is in use by process \([0-9]*\) .*/\1/p" <<< "$output")
	[ -n "$holder" ]
	[ "$rc" -eq 0 ] || { cat "$T/first.log"; fail "the first make failed"; }
	# the holder was the first make (the one that runs the rules under the lock)
	grep -q "^$holder\$" "$o/.lock"
	run cmp "$o/dynamics.tsv" "$(dyn)/dynamics.tsv"
	assert_success
	# the lock goes with its holder
	run make -s -f "$TOP/pipelines/dynamics.mk" $MINI OUT="$o" KEEP_ACTS=0
	assert_success
}

@test "every pipeline fails at once on a folder another process holds, and makes nothing" {
	need_mnist
	r="$T/r"
	mkdir -p "$r/mnist-mlp-p0.8-run1-n400" "$r/paper" "$r/demo"
	for d in mnist-mlp-p0.8-run1-n400 paper demo; do
		(exec 9>>"$r/$d/.lock"; flock 9; echo $BASHPID > "$r/$d/.lock"; exec sleep 120) &
	done
	for i in $(seq 100); do [ -s "$r/demo/.lock" ] && [ -s "$r/paper/.lock" ] && [ -s "$r/mnist-mlp-p0.8-run1-n400/.lock" ] && break; sleep 0.1; done
	run timeout 60 make -s -f "$TOP/pipelines/dynamics.mk" $MINI RESULTS="$r"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "dynamics.mk: $status: $output"
	assert_output --partial "is in use by process $(cat "$r/mnist-mlp-p0.8-run1-n400/.lock")"
	run timeout 60 make -s -f "$TOP/pipelines/transfer.mk" $MINI RESULTS="$r" EDIT=0 TO=2
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "transfer.mk: $status: $output"
	assert_output --partial "transfer.mk: '$r/mnist-mlp-p0.8-run1-n400' is in use by process"
	run timeout 60 make -s -f "$TOP/pipelines/paper.mk" PAIRS=mlp-mnist PS=0.8 RUNS=1 RESULTS="$r"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "paper.mk: $status: $output"
	assert_output --partial "paper.mk: '$r/paper' is in use by process"
	run timeout 60 make -s -f "$TOP/pipelines/demo.mk" RESULTS="$r"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "demo.mk: $status: $output"
	assert_output --partial "demo.mk: '$r/demo' is in use by process"
	kill $(jobs -p) 2>/dev/null || true
	wait || true
	# nothing was made in any of them
	[ -z "$(cd "$r" && find . -type f ! -name .lock)" ] || fail "made: $(cd "$r" && find . -type f)"
}
