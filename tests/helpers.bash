# tests/helpers.bash: loaded by every bats file.
bats_require_minimum_version 1.5.0
#   load helpers
# Gives: bats-support and bats-assert, PATH with bin/, a scratch $T per test,
# $PY (a python3 with NumPy, or empty), Python snippets run with the fixture
# writers of tests/fixtures.py (npy, fx), and the assertions every tool's
# tests make.
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
# Assert: no FILE, and no temporary (a name with "tmp") beside it.
assert_no_output() {
	[ ! -e "$1" ] || fail "'$1' was left behind"
	[ -z "$(ls -A "$(dirname "$1")" | grep tmp)" ] || fail "a temporary beside '$1' was left behind"
}
# REGEX CMD...: run CMD, a runtime error whose message matches REGEX.
fails_with() {
	local re=$1
	shift
	run --separate-stderr "$@"
	assert_runtime_error
	assert_regex "$stderr" "$re"
}
# REGEX CMD...: run CMD, a usage error whose message matches REGEX.
fails_usage() {
	local re=$1
	shift
	run --separate-stderr "$@"
	assert_usage_error
	assert_regex "$stderr" "$re"
}
# CMD...: run CMD -o out.npz, a runtime error that leaves no out.npz and
# no temporary.
fails_leaving_nothing() {
	run --separate-stderr "$@" -o out.npz
	assert_runtime_error
	assert_no_output out.npz
}
# Python snippets, given as the argument, after `from fixtures import *`
# (tests/fixtures.py): npy with NumPy (as np; call need_numpy first), fx
# with the standard library only (the data sets' writers).
FIXTURES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
npy() {
	PYTHONPATH="$FIXTURES_DIR" PYTHONDONTWRITEBYTECODE=1 "$PY" -c "import numpy as np, sys
from fixtures import *
$1"
}
fx() {
	PYTHONPATH="$FIXTURES_DIR" PYTHONDONTWRITEBYTECODE=1 "${PY:-python3}" -c "from fixtures import *
$1"
}
# A stream's meta.txt, with the standard library only.
meta_of() { "${PY:-python3}" -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read("meta.txt").decode())' "$1"; }

# FILE N C H W [SEED]: a data stream of N samples C,H,W in [-1, 1), labels
# 0..9 shuffled (fixtures.py images()).
mkdata_np() { npy "images('$1', $2, $3, $4, $5, seed=${6:-1})"; }
