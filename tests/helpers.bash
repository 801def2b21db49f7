# tests/helpers.bash: loaded by every bats file.
bats_require_minimum_version 1.5.0
#   load helpers
# Gives: bats-support and bats-assert, PATH with bin/, a scratch $T per test,
# $PY (a python3 with NumPy, or empty), and small fixtures writers.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

TOP=${MEMPROBE_TOP:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
PATH="$TOP/bin:$PATH"
DATA=${MEMPROBE_DATA:-$TOP/data}
export MEMPROBE_DATA=$DATA

# Debian's python3 has python3-numpy; a python3 earlier on PATH may not.
PY=""
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then PY=$p; break; fi
done

setup() {
	T="$BATS_TEST_TMPDIR"
	cd "$T" || return 1
}

need_numpy() { [ -n "$PY" ] || skip "python3-numpy is not installed"; }
need_mnist() { [ -f "$DATA/mnist/train-images-idx3-ubyte" ] || skip "MNIST is not in $DATA (scripts/bootstrap)"; }

# Assert: the last `run` was a runtime failure (exit 1) that printed nothing
# on stdout and said something on stderr. Use with `run --separate-stderr`.
assert_runtime_error() {
	assert_equal "$status" 1
	assert_equal "$output" ""
	[ -n "$stderr" ] || fail "no message on stderr"
}
# Assert: usage error, exit 2, nothing on stdout.
assert_usage_error() {
	assert_equal "$status" 2
	assert_equal "$output" ""
}
# Run python with NumPy on a script given as the argument.
npy() { "$PY" -c "import numpy as np, sys; $1"; }
