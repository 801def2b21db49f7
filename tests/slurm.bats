#!/usr/bin/env bats
# The grid on Slurm, on a real one-node cluster (scripts/slurm-cluster:
# munged, slurmctld and slurmd in a folder of their own, stopped when the
# file ends, however it ends). A miniature grid (MNIST subset, 1 epoch,
# p = 0 and 0.8, runs 1 and 2) is run by pipelines/slurm.mk as array tasks
# and by pipelines/paper.mk locally; the gathered tables must be the same
# bytes. Then one cell's output is removed and a resubmission must redo
# that cell and nothing else.
load helpers

GRID=(PAIRS=mlp-mnist "PS=0 0.8" "RUNS=1 2" "DYN_OPTS=LIMIT=200 TEST_LIMIT=100 MAX_EPOCHS=1 SAVE=1")

setup_file() {
	export C="$BATS_FILE_TMPDIR/cluster" W="$BATS_FILE_TMPDIR/w"
	mkdir -p "$W"
	[ "$(id -u)" = 0 ] && command -v slurmctld >/dev/null || return 0
	# stopped by teardown_file, or by the watchdog if bats itself is killed
	"$BATS_TEST_DIRNAME/../scripts/slurm-cluster" start "$C" $$ >"$BATS_FILE_TMPDIR/start.log" 2>&1 || true
}

teardown_file() {
	"$BATS_TEST_DIRNAME/../scripts/slurm-cluster" stop "$C" >/dev/null 2>&1 || true
}

need_cluster() {
	[ "$(id -u)" = 0 ] || skip "the throw-away cluster's daemons run as root"
	command -v slurmctld >/dev/null || skip "slurm-wlm is not installed (scripts/bootstrap)"
	need_mnist
	[ -s "$C/slurmctld.pid" ] || { cat "$BATS_FILE_TMPDIR/start.log" "$C"/log/*.log 2>/dev/null; fail "the cluster did not start"; }
	eval "$("$TOP/scripts/slurm-cluster" env "$C")"
	cd "$W"
}

slurm_grid() {
	make -s -f "$TOP/pipelines/slurm.mk" "${GRID[@]}" RESULTS="$W/slurm" CPUS=1 MEM=1G TIME=20 WAIT=1
}

@test "slurm: the cluster answers, and its files stay in its folder" {
	need_cluster
	run srun hostname
	assert_success
	assert_output "$(hostname -s)"
	grep -q "^StateSaveLocation=$C/state$" "$C/slurm.conf"
	grep -q "^AuthInfo=socket=$C/munge/munge.sock$" "$C/slurm.conf"
}

@test "slurm: a cluster whose owner dies is stopped by its watchdog" {
	need_cluster
	sleep 300 &
	owner=$!
	"$TOP/scripts/slurm-cluster" start "$T/c2" $owner
	[ -s "$T/c2/slurmctld.pid" ]
	pids="$(cat "$T/c2/slurmctld.pid" "$T/c2/slurmd.pid" "$T/c2/munged.pid")"
	kill -9 $owner
	for i in $(seq 30); do
		[ -e "$T/c2/munged.pid" ] || break
		sleep 1
	done
	# gone, or a zombie waiting for an init that does not reap
	for p in $pids; do
		[ ! -e /proc/$p ] || [ "$(awk '{ print $3 }' /proc/$p/stat)" = Z ] || fail "daemon $p still runs"
	done
}

@test "slurm: the grid as array tasks gathers the same table as a local make" {
	need_cluster
	run slurm_grid
	assert_success
	assert_line --regexp "batch-1: 4 of 4 cells submitted as array job [0-9]+"
	make -s -f "$TOP/pipelines/paper.mk" "${GRID[@]}" RESULTS="$W/local" >/dev/null
	[ -s "$W/local/paper/final.tsv" ]
	cmp "$W/local/paper/final.tsv" "$W/slurm/paper/final.tsv"
	cmp "$W/local/paper/final.md" "$W/slurm/paper/final.md"
	# every array member of every cell's activations-free outputs too
	for c in mlp-mnist-p0-run1 mlp-mnist-p0.8-run2; do
		cmp "$W/local/$c/dynamics.tsv" "$W/slurm/$c/dynamics.tsv"
	done
	# a log per task, each naming its cell
	run bash -c "head -qn 1 '$W'/slurm/slurm/batch-1/cell-*.log | sort"
	assert_line --index 0 --partial "slurm-cell: mlp-mnist-p0-run1 "
	assert_line --index 3 --partial "slurm-cell: mlp-mnist-p0.8-run2 "
}

@test "slurm: a resubmission redoes the cell whose output is gone, and only it" {
	need_cluster
	[ -s "$W/slurm/paper/final.tsv" ] || skip "needs the grid of the test before"
	cp "$W/slurm/paper/final.tsv" before.tsv
	ls -l --time-style=+%s.%N "$W"/slurm/mlp-mnist-*/dynamics.tsv >mtimes
	rm -r "$W/slurm/mlp-mnist-p0.8-run1/ckpt"
	run slurm_grid
	assert_success
	assert_line --regexp "batch-2: 1 of 4 cells submitted"
	run cut -f1 "$W/slurm/slurm/batch-2/cells"
	assert_output "mlp-mnist-p0.8-run1"
	ls -l --time-style=+%s.%N "$W"/slurm/mlp-mnist-*/dynamics.tsv >mtimes2
	run diff mtimes mtimes2
	assert_failure
	# only that cell's table was remade
	[ "$(diff mtimes mtimes2 | grep -c '^>')" -eq 1 ]
	diff mtimes mtimes2 | grep '^>' | grep -q 'mlp-mnist-p0.8-run1/dynamics.tsv'
	cmp before.tsv "$W/slurm/paper/final.tsv"
	# and with nothing to redo, only the gather job goes
	run slurm_grid
	assert_success
	assert_line --partial "batch-3: every cell is up to date"
}
