#!/usr/bin/env bats
# tests/cli.bats: the command-line conventions every tool shares (lib/cli/cli.c):
# --version, one message for an unknown option, one bound per option
# meaning, and no NPZ stream written to a terminal unless -o - or --force
# says so (tried on a real pseudo-terminal).
load helpers

TOOLS="corrupt dumpacts masc mkdata score train transplant velpic"

# pty_run LOG OUT CMD...: run CMD on a new pseudo-terminal (its standard
# input and error, and its standard output too when OUT is "tty", else the
# file OUT); what the terminal showed goes to LOG; the status is CMD's.
pty_run() {
	python3 - "$@" <<'EOF'
import os, pty, sys
log, out, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    if out != "tty":
        os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
    os.execvp(argv[0], argv)
data = b""
while True:
    try:
        b = os.read(fd, 65536)
    except OSError:          # EIO: the child closed the terminal
        break
    if not b:
        break
    data += b
_, st = os.waitpid(pid, 0)
open(log, "wb").write(data)
sys.exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))
EOF
}

# What the terminal showed, without the carriage returns it adds.
tty_text() { tr -d '\r' <tty.log; }

need_pty() {
	python3 -c 'import pty' 2>/dev/null || skip "python3 with pty is not installed"
}

# d.npz: a data stream of 30 MNIST-format 8x8 images (tests/fixtures.py),
# no NumPy needed.
mkstream() {
	PYTHONPATH="$TOP/tests" python3 -c 'from fixtures import *; mnist("d", n=30)'
	mkdata mnist --data-dir d -o d.npz
}

@test "cli: every tool answers --version with one line, the same version for all" {
	v=
	for t in $TOOLS; do
		run --separate-stderr "$t" --version
		assert_success
		assert_equal "$stderr" ""
		assert_equal "${#lines[@]}" 1
		assert_regex "$output" "^$t \(memprobe\) [^ ]+$"
		[ -z "$v" ] || assert_equal "${output#"$t "}" "$v"
		v=${output#"$t "}
	done
	# after a probe tool's command too
	run --separate-stderr masc fit --version
	assert_success
	assert_equal "$output" "masc $v"
}

@test "cli: the version is git describe's when built from a checkout" {
	git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"
	[ -e "$TOP/.git" ] || skip "not a git checkout"
	run --separate-stderr train --version
	assert_success
	desc=$(git -C "$TOP" describe --always --tags)
	assert_regex "$output" "^train \(memprobe\) $desc(-dirty)?$"
}

@test "cli: every tool refuses an unknown option with the same message, exit 2" {
	for t in $TOOLS masc-fit velpic-predict; do
		case $t in
		masc-fit) cmd=(masc fit) t=masc ;;
		velpic-predict) cmd=(velpic predict -m p.npz) t=velpic ;;
		*) cmd=("$t") ;;
		esac
		run --separate-stderr "${cmd[@]}" --bogus=1
		assert_usage_error
		assert_equal "${stderr_lines[0]}" "$t: unknown option '--bogus'"
		assert_regex "${stderr_lines[1]}" "^usage: $t "
		run --separate-stderr "${cmd[@]}" -Y
		assert_usage_error
		assert_equal "${stderr_lines[0]}" "$t: unknown option '-Y'"
		run --separate-stderr "${cmd[@]}" --help=x
		assert_usage_error
		assert_equal "${stderr_lines[0]}" "$t: option '--help' takes no argument"
	done
	# the same before a probe tool's command
	run --separate-stderr masc --bogus
	assert_usage_error
	assert_equal "${stderr_lines[0]}" "masc: unknown option '--bogus'"
	run --separate-stderr velpic -q fit
	assert_usage_error
	assert_equal "${stderr_lines[0]}" "velpic: the command comes first (fit or predict)"
}

@test "cli: a missing argument and a bad --compress, the same message in every tool" {
	for t in corrupt dumpacts masc mkdata train transplant velpic; do
		case $t in masc | velpic) cmd=("$t" fit) ;; *) cmd=("$t") ;; esac
		run --separate-stderr "${cmd[@]}" --compress
		assert_usage_error
		assert_equal "${stderr_lines[0]}" "$t: option '--compress' needs an argument"
		run --separate-stderr "${cmd[@]}" -z 10
		assert_usage_error
		assert_equal "${stderr_lines[0]}" "$t: invalid --compress: compression level '10' is not 0 (store) to 9"
	done
	for t in corrupt dumpacts masc mkdata score transplant velpic; do
		case $t in masc | velpic) cmd=("$t" fit) ;; *) cmd=("$t") ;; esac
		run --separate-stderr "${cmd[@]}" -o
		assert_usage_error
		assert_equal "${stderr_lines[0]}" "$t: option '-o' needs an argument"
	done
}

@test "cli: --classes, --threads and --batch have one bound in every tool" {
	for v in 0 1000001 x; do
		run --separate-stderr corrupt -p 0.5 --classes "$v" d.npz
		assert_usage_error
		c=${stderr_lines[0]#corrupt: }
		run --separate-stderr train --arch mlp --classes "$v" d.npz
		assert_usage_error
		assert_equal "${stderr_lines[0]#train: }" "$c"
		assert_regex "$c" "^invalid --classes: '$v' is (out of range \[1, 1000000\]|not an integer)$"
	done
	for o in "--threads 257" "--threads -1" "--batch 0" "--batch 1048577"; do
		run --separate-stderr dumpacts -m ck.npz $o d.npz
		assert_usage_error
		d=${stderr_lines[0]#dumpacts: }
		run --separate-stderr train --arch mlp $o d.npz
		assert_usage_error
		assert_equal "${stderr_lines[0]#train: }" "$d"
		assert_regex "$d" "^invalid ${o% *}: "
	done
}

@test "cli: the bounds of --classes admit 1000000 (an error of the data, not of usage)" {
	mkstream
	run --separate-stderr corrupt -p 0.5 --classes 1000000 d.npz -o c.npz
	assert_runtime_error
	assert_regex "$stderr" "--classes 1000000 is more than the 10 classes of the data"
}

@test "cli: NPZ writers refuse a terminal; -o - and --force write there anyway" {
	need_pty
	mkstream
	masc fit -q d.npz -o p.npz
	velpic fit -q d.npz -o v0.npz
	refuse() {
		run pty_run tty.log tty "$@"
		assert_equal "$status" 2
		run tty_text
		assert_line --index 0 "$1: refusing to write an NPZ stream to a terminal (use -o FILE, or -o - or --force to write it anyway)"
		assert_line --index 1 --regexp "^usage: $1 "
	}
	writes() {
		run pty_run tty.log tty "$@"
		assert_success
		# the stream itself reached the terminal: a zip's local header
		grep -qa $'PK\003\004' tty.log || { od -c tty.log | head; fail "$* wrote no stream"; }
	}
	for cmd in "corrupt -p 0.5 d.npz" "mkdata mnist --data-dir d" "masc fit d.npz" \
		"masc predict -m p.npz d.npz" "masc quadratic -m p.npz" "velpic fit d.npz" \
		"velpic predict -m v0.npz d.npz"; do
		refuse $cmd
		writes $cmd -o -
		writes $cmd --force
	done
	# train writes no stream on standard output: a terminal is fine
	run pty_run tty.log tty train --arch mlp --max-epochs 0 -d ck d.npz
	assert_success
	[ -f ck/epoch-000.npz ]
	for cmd in "dumpacts -m ck/epoch-000.npz --layers fc4 d.npz" \
		"dumpacts -m ck/epoch-000.npz --predict d.npz"; do
		refuse $cmd
		writes $cmd -o -
		writes $cmd --force
	done
	dumpacts -m ck/epoch-000.npz --layers fc4 -o a.npz d.npz
	velpic fit -q a.npz -o v.npz
	refuse transplant -m ck/epoch-000.npz -p v.npz
	writes transplant -m ck/epoch-000.npz -p v.npz -o -
	writes transplant -m ck/epoch-000.npz -p v.npz --force
	# --outdir writes nothing on standard output
	run pty_run tty.log tty dumpacts -m ck/epoch-000.npz --layers fc3,fc4 --outdir acts d.npz
	assert_success
	[ -f acts/fc3.npz ] && [ -f acts/fc4.npz ]
}

@test "cli: a terminal on standard error only is no reason to refuse" {
	need_pty
	mkstream
	run pty_run tty.log out.npz corrupt -p 0.5 d.npz
	assert_success
	head -c 4 out.npz | grep -q '^PK'
	run tty_text
	assert_output ""
}

@test "cli: score writes text, to a terminal too; its -o - is standard output" {
	need_pty
	mkstream
	masc fit -q d.npz -o p.npz
	masc predict -m p.npz d.npz -o pr.npz
	run pty_run tty.log tty score pr.npz
	assert_success
	run tty_text
	assert_line --index 0 --partial "file	n	acc"
	run --separate-stderr score -o - pr.npz
	assert_success
	assert_line --index 1 --partial "pr.npz	30	"
	[ ! -e ./- ]
}

@test "cli: -q silences the progress shown on a terminal, and train's epoch lines" {
	need_pty
	mkstream
	run pty_run tty.log out.npz mkdata mnist --data-dir d
	assert_success
	grep -q "mkdata: 30/30 samples" tty.log
	run pty_run tty.log out.npz mkdata -q mnist --data-dir d
	assert_success
	run tty_text
	assert_output ""
	run pty_run tty.log out.npz masc fit -q d.npz
	assert_success
	run tty_text
	assert_output ""
	# train -q: no banner, no line per epoch, the same checkpoint
	train --arch mlp --max-epochs 1 --until never --save 1 -d ck d.npz 2>train.err
	grep -q "^train: epoch 1: loss" train.err
	run --separate-stderr train -q --arch mlp --max-epochs 1 --until never --save 1 -d ck2 d.npz
	assert_success
	assert_equal "$stderr" ""
	cmp <("$TOP/build/tests/tools/npzcat" list ck/epoch-001.npz | grep -v '^meta') \
	    <("$TOP/build/tests/tools/npzcat" list ck2/epoch-001.npz | grep -v '^meta')
	# dumpacts -q: no progress on a terminal
	run pty_run tty.log a.npz dumpacts -m ck/epoch-001.npz -l fc1 d.npz
	assert_success
	# (30 samples go by too fast to show a count: the line it cleared)
	grep -q $'\r' tty.log
	run pty_run tty.log a.npz dumpacts -q -m ck/epoch-001.npz -l fc1 d.npz
	assert_success
	run tty_text
	assert_output ""
}
