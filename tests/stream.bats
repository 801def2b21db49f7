#!/usr/bin/env bats
# tests/stream.bats: the stream layer (lib/stream/npy.c, lib/stream/npz.c, lib/stream/meta.c)
# from the shell, through the test driver build/tests/tools/npzcat: pipes,
# determinism, writers that fail, interop with NumPy both ways (files and
# pipes, stored and deflated, np.savez and np.savez_compressed, a member
# large enough for many blocks), what "byte-identical" means (array
# members, and meta.txt but for its .argv keys), and the bad-input
# catalogue: empty and text input, streams cut at every 1 KiB, lying and
# unsupported .npy headers, headers that claim 100 GB (refused as truncated
# in bounded memory), integer members read as floats, member names that are
# paths or not NAME.npy / meta.txt, corrupt deflate data, bad CRCs,
# duplicate members.
load helpers

NPZCAT=${NPZCAT:-$TOP/build/tests/tools/npzcat}
npzcat() { "$NPZCAT" "$@"; }

# Python snippets (npy) use tests/fixtures.py: seq() rebuilds the arrays
# `npzcat write` makes with fill 'seq', listing() prints what `npzcat
# list` should print for a stream NumPy reads, zwrite() and rawzip() write
# zips of raw members in order, lie() a lying .npy header.

# The members every round trip uses: all five dtypes, 0-d, empty, 8 dims.
SPECS="y:i4:1000 y_true:i8:1000 flipped:u1:1000 s:f8: e:f4:0x3 e1:u1:0 \
cube:i8:2x3x4 d8:u1:1x2x1x2x1x2x1x2 x:f4:50x1x28x28"

# flip IN OFFSET OUT: OUT is IN with the byte at OFFSET xor 0x5a.
flip() {
	local b
	cp "$1" "$3"
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x5a)))" |
		dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}

# A failing run: exit 1, nothing on stdout, a message on stderr that
# contains $1 (when given). Use after `run --separate-stderr`.
fails_with() {
	assert_runtime_error
	[ -z "${1-}" ] || assert_regex "$stderr" "$1"
}

@test "stream: npzcat is built (make units)" {
	[ -x "$NPZCAT" ] || fail "build/tests/tools/npzcat is missing: run make units"
	run --separate-stderr npzcat --help
	assert_success
	assert_line --index 0 --partial "usage: npzcat list"
	run --separate-stderr npzcat
	assert_usage_error
	run --separate-stderr npzcat bogus
	assert_usage_error
	run --separate-stderr npzcat write -z 10 y:i4:3
	assert_usage_error
	run --separate-stderr npzcat write y:q4:3
	assert_usage_error
}

@test "stream: a round trip through a pipe equals one through a file" {
	npzcat write -m data.name=test $SPECS -o f.npz
	run --separate-stderr npzcat list f.npz
	assert_success
	file_list=$output
	assert_line --index 0 --regexp $'^meta.txt\ttext\t15\t'
	assert_line --index 1 --regexp $'^y\t<i4\t\\(1000,\\)\t[0-9a-f]{8}$'
	assert_line --index 4 --regexp $'^s\t<f8\t\\(\\)\t'
	assert_line --index 5 --regexp $'^e\t<f4\t\\(0, 3\\)\t00000000$'
	assert_line --index 8 --regexp $'^d8\t\\|u1\t\\(1, 2, 1, 2, 1, 2, 1, 2\\)\t'
	npzcat write -m data.name=test $SPECS | npzcat list > p.txt
	assert_equal "$(cat p.txt)" "$file_list"
	npzcat write -m data.name=test $SPECS | npzcat list - > p2.txt
	assert_equal "$(cat p2.txt)" "$file_list"
	# Read in pieces of 1, 7 and 4096 bytes: the same checksums.
	for b in 1 7 4096; do
		run npzcat list -b $b f.npz
		assert_output "$file_list"
	done
}

@test "stream: the same content gives byte-identical streams, at every level" {
	for z in 0 1 2 3 4 5 6 7 8 9; do
		npzcat write -z $z -m a=1 $SPECS -o a.npz
		npzcat write -z $z -m a=1 $SPECS > b.npz
		npzcat write -z $z -m a=1 -c 1000 $SPECS -o c.npz
		cmp a.npz b.npz
		cmp a.npz c.npz
		cp a.npz level$z.npz
	done
	# Different levels do differ, and store is the largest.
	! cmp -s level0.npz level1.npz
	! cmp -s level1.npz level9.npz
	[ "$(stat -c %s level0.npz)" -gt "$(stat -c %s level1.npz)" ]
	# No padding: the stream ends with the 22-byte end record.
	run bash -c "tail -c 22 level1.npz | head -c 4 | od -An -c | tr -d ' '"
	assert_output 'PK005006'
}

@test "stream: MEMPROBE_COMPRESS sets the default level, -z overrides it" {
	need_numpy
	MEMPROBE_COMPRESS=0 npzcat write y:f4:100x100:rand -o s.npz
	npzcat write y:f4:100x100:rand -o d.npz
	MEMPROBE_COMPRESS=0 npzcat write -z 6 y:f4:100x100:rand -o z.npz
	MEMPROBE_COMPRESS=junk npzcat write y:f4:100x100:rand -o j.npz
	npy "
m = lambda p: [i.compress_type for i in zipfile.ZipFile(p).infolist()]
assert m('s.npz') == [zipfile.ZIP_STORED], m('s.npz')
assert m('d.npz') == [zipfile.ZIP_DEFLATED]
assert m('z.npz') == [zipfile.ZIP_DEFLATED]
assert m('j.npz') == [zipfile.ZIP_DEFLATED]
"
	cmp d.npz j.npz
	! cmp -s d.npz z.npz
}

@test "stream: NumPy loads our streams with exact dtypes, shapes and values" {
	need_numpy
	for z in 0 1 9; do
		npzcat write -z $z -m data.name=test -m data.n=1000 $SPECS -o s$z.npz
		npzcat write -z $z -m data.name=test -m data.n=1000 $SPECS > p$z.npz
	done
	npy "
specs = '''$SPECS'''.split()
for path in ['s0.npz', 's1.npz', 's9.npz', 'p0.npz', 'p1.npz', 'p9.npz']:
    z = np.load(path)
    assert z.files == ['meta.txt'] + [s.split(':')[0] for s in specs], z.files
    assert z['meta.txt'] == b'data.name=test\ndata.n=1000\n', z['meta.txt']
    for s in specs:
        name, dt, shape = s.split(':')
        shape = tuple(int(d) for d in shape.split('x')) if shape else ()
        want = seq(dt, shape)
        got = z[name]
        assert got.dtype == want.dtype, (path, name, got.dtype)
        assert got.shape == want.shape, (path, name, got.shape)
        assert np.array_equal(got, want), (path, name)
        assert got.flags.c_contiguous
    # zipfile agrees the stream is sound (CRCs, directory).
    assert zipfile.ZipFile(path).testzip() is None
"
}

@test "stream: NumPy reads our stream from a pipe" {
	need_numpy
	run bash -c "'$NPZCAT' write y:i8:5 x:f4:2x3 | '$PY' -c '
import sys, io, numpy as np
z = np.load(io.BytesIO(sys.stdin.buffer.read()))
print(z[\"y\"].tolist(), z[\"x\"].dtype, z[\"x\"].shape)'"
	assert_success
	assert_output "[-5, 8589934587, 17179869179, 25769803771, 34359738363] float32 (2, 3)"
}

@test "stream: we read np.savez and np.savez_compressed, from a file and a pipe" {
	need_numpy
	npy "
rs = np.random.RandomState(1)
arrays = dict(y=rs.randint(0, 10, 1000),                 # int64, NumPy's default
              y32=rs.randint(0, 10, 1000).astype(np.int32),
              flipped=(rs.rand(1000) < 0.5).astype(np.uint8),
              x=rs.rand(100, 1, 4, 4).astype(np.float32),
              w=rs.randn(7, 5),                          # float64
              scalar=np.float64(2.5), iscalar=np.int64(-7),
              empty=np.zeros((0, 3), np.float32), empty1=np.zeros(0, np.int64))
for i in range(200):
    arrays['m%03d' % i] = np.arange(i, dtype=np.int32)
np.savez('n.npz', **arrays)
np.savez_compressed('nc.npz', **arrays)
# Written to a pipe, zipfile uses data descriptors (sizes after the data).
import subprocess
for c, f in (('savez', 'np.npz'), ('savez_compressed', 'npc.npz')):
    p = subprocess.run([sys.executable, '-c', 'import numpy as np, sys\n'
        'np.%s(sys.stdout.buffer, a=np.arange(1000), b=np.ones((3, 4), np.float32))' % c],
        stdout=subprocess.PIPE, check=True)
    open(f, 'wb').write(p.stdout)
for f in ('n.npz', 'nc.npz', 'np.npz', 'npc.npz'):
    open(f + '.want', 'w').write(listing(zipfile.ZipFile(f)) + '\n')
"
	for f in n nc np npc; do
		npzcat list $f.npz > $f.got
		diff -u $f.npz.want $f.got
		cat $f.npz | npzcat list - > $f.pgot
		diff -u $f.npz.want $f.pgot
		cat $f.npz | npzcat list > $f.pgot2
		diff -u $f.npz.want $f.pgot2
	done
	# Values, not only checksums: int64 labels and float64 print exactly.
	run npzcat values n.npz iscalar
	assert_output "-7"
	npzcat values n.npz w > w.txt
	npzcat values n.npz y > y.txt
	npy "
z = np.load('n.npz')
assert np.array_equal(np.loadtxt('w.txt'), z['w'].ravel())
assert np.array_equal(np.loadtxt('y.txt', dtype=np.int64), z['y'])
"
}

@test "stream: .npy format 2.0 and 3.0 headers, and long padded 1.0 ones" {
	need_numpy
	npy "
a = np.arange(12, dtype=np.float32).reshape(3, 4)
# np.save picks 2.0 only for huge headers: force each version.
m = [('v1.npy', npy_bytes(a, (1, 0))), ('v2.npy', npy_bytes(a, (2, 0))),
     ('v3.npy', npy_bytes(a, (3, 0)))]
# A structured dtype with many fields makes NumPy write a long header
# on its own; ours are plain, so pad a 1.0 header by hand to 4 KiB.
h = npy_bytes(a, (1, 0))
hl = int.from_bytes(h[8:10], 'little')
d = h[10:10 + hl].rstrip(b'\n ') + b' ' * (4096 - 10 - len(h[10:10 + hl].rstrip(b'\n ')) - 1) + b'\n'
m.append(('long.npy', h[:8] + (len(d)).to_bytes(2, 'little') + d + h[10 + hl:]))
zwrite('v.npz', m)
zwrite('vd.npz', m, deflate=True)
assert np.array_equal(np.load('v.npz')['long'], a)
"
	for f in v vd; do
		run --separate-stderr npzcat list $f.npz
		assert_success
		assert_equal "${#lines[@]}" 4
		crc=$(npy "print('%08x' % zlib.crc32(np.arange(12, dtype=np.float32).tobytes()))")
		for n in v1 v2 v3 long; do
			assert_line "$n"$'\t<f4\t(3, 4)\t'"$crc"
		done
	done
}

@test "stream: a 50 MB member (many libarchive blocks), stored and deflated, file and pipe" {
	need_numpy
	npy "
rs = np.random.RandomState(3)
x = rs.rand(50 * 1024 * 1024 // 4).astype(np.float32)
x[::3] = -1.0
np.savez('big.npz', y=np.arange(10), x=x)
np.savez_compressed('bigc.npz', y=np.arange(10), x=x)
open('big.want', 'w').write(listing(zipfile.ZipFile('big.npz')) + '\n')
"
	for f in big bigc; do
		npzcat list $f.npz > $f.got
		diff -u big.want $f.got
		cat $f.npz | npzcat list - > $f.pgot
		diff -u big.want $f.pgot
	done
	# Copied through us (deflate 1 and store), NumPy sees the same x.
	npzcat copy big.npz c1.npz
	npzcat copy -z 0 bigc.npz - > c0.npz
	npy "
a = np.load('big.npz')['x']
for f in ('c1.npz', 'c0.npz'):
    assert np.array_equal(np.load(f)['x'], a), f
"
}

@test "stream: rows convert float32 and float64 to either; integer members are not features" {
	need_numpy
	npy "
rs = np.random.RandomState(4)
np.savez('r.npz', d=rs.randn(101, 3, 5), i=rs.randint(-1000, 1000, (37, 4)),
         u=rs.randint(0, 256, (9, 2)).astype(np.uint8), f=rs.rand(11, 2).astype(np.float32),
         j=rs.randint(-1000, 1000, (5, 3)).astype(np.int32))
z = np.load('r.npz')
for k in 'df':
    open(k + '.f4', 'w').write('%08x\n' % zlib.crc32(z[k].astype('<f4').tobytes()))
    open(k + '.f8', 'w').write('%08x\n' % zlib.crc32(z[k].astype('<f8').tobytes()))
"
	for k in d f; do
		for r in 1 4 1000; do
			run npzcat rows -r $r r.npz $k
			assert_output "$(cat $k.f4)"
			run npzcat rows -8 -r $r r.npz $k
			assert_output "$(cat $k.f8)"
		done
	done
	# memprobe-stream(5): float members are float32 or float64. Integers
	# read as features would be used as features: refused, by name.
	for k in 'i <i8' 'u |u1' 'j <i4'; do
		for f8 in "" -8; do
			run --separate-stderr npzcat rows $f8 r.npz ${k% *}
			assert_runtime_error
			assert_equal "$stderr" "npzcat: r.npz: member '${k% *}' has dtype '${k#* }', expected float32 or float64"
		done
	done
}

@test "stream: copy keeps the bytes; bundle round trips" {
	npzcat write -m data.name=t $SPECS -o a.npz
	npzcat copy a.npz b.npz
	cmp a.npz b.npz
	npzcat copy a.npz - > c.npz
	cmp a.npz c.npz
	cat a.npz | npzcat copy - - > d.npz
	cmp a.npz d.npz
	npzcat copy -z 0 a.npz s.npz
	! cmp -s a.npz s.npz
	run npzcat list s.npz
	assert_output "$(npzcat list a.npz)"
	npzcat bundle a.npz e.npz
	cmp a.npz e.npz
	cat a.npz | npzcat bundle - - > f.npz
	cmp a.npz f.npz
	run npzcat meta a.npz
	assert_output "data.name=t"
}

@test "stream: a writer that fails leaves no file, no temporary, nothing on stdout" {
	mkdir w && cd w
	echo "old" > out.npz
	for args in "-f 0" "-f 1" "-f 2" "-F"; do
		run --separate-stderr npzcat write $args -m a=1 y:i4:10 x:f4:100x100 -o out.npz
		fails_with "failing on purpose"
		assert_equal "$(cat out.npz)" "old"
		run --separate-stderr npzcat write $args -m a=1 y:i4:10 x:f4:100x100
		fails_with "failing on purpose"
		run --separate-stderr npzcat write $args -m a=1 y:i4:10 x:f4:100x100 -o new.npz
		fails_with "failing on purpose"
		[ ! -e new.npz ]
	done
	run ls -A
	assert_output "out.npz"
	# A write error (no such directory) names the file.
	run --separate-stderr npzcat write y:i4:3 -o no/such/dir/o.npz
	fails_with "o.npz"
	# A duplicate member name is refused.
	run --separate-stderr npzcat write y:i4:3 y:f4:2 -o dup.npz
	fails_with "'y.npy' is written twice"
	[ ! -e dup.npz ]
	run ls -A
	assert_output "out.npz"
}

@test "stream: -o naming a FIFO writes into it and leaves it a FIFO" {
	mkfifo ff
	cat ff > got.npz &
	npzcat write -m data.name=test y:i4:3 x:f4:2x3 -o ff
	wait $!
	[ -p ff ] || fail "the FIFO was replaced"
	npzcat write -m data.name=test y:i4:3 x:f4:2x3 -o want.npz
	cmp got.npz want.npz
	run bash -c "ls ff.tmp.* 2>/dev/null"
	assert_output ""
}

@test "stream: a closed pipe on stdout is an error, not a silent success" {
	# The writer holds 64 MiB before it writes: use more than that.
	run bash -c "'$NPZCAT' write -z 0 x:f4:20000000 | head -c 10 > /dev/null; echo \${PIPESTATUS[0]}"
	# Killed by SIGPIPE (141) or exit 1 after EPIPE: never 0.
	[ "$output" != 0 ]
}

# ---- the bad-input catalogue ----

@test "stream: empty input and a text file are errors" {
	: > empty.npz
	run --separate-stderr npzcat list empty.npz
	fails_with "empty.npz: empty input"
	run --separate-stderr npzcat list < /dev/null
	fails_with "standard input: empty input"
	echo "hello, world" > t.npz
	run --separate-stderr npzcat list t.npz
	fails_with "not an NPZ stream"
	run --separate-stderr npzcat copy t.npz -
	fails_with "not an NPZ stream"
	run --separate-stderr npzcat list no-such-file.npz
	fails_with "no-such-file.npz"
	printf 'PK' > pk.npz
	run --separate-stderr npzcat list pk.npz
	fails_with "pk.npz"
}

# Check that a damaged stream $1 fails everywhere: listing from the file
# and from a pipe, and copying to stdout and to a file (nothing written).
# $2: a regex the message must match.
all_fail() {
	run --separate-stderr npzcat list "$1"
	[ "$status" -eq 1 ] || { echo "list $1: status $status"; return 1; }
	[[ $stderr =~ $2 ]] || { echo "list $1: message '$stderr'"; return 1; }
	run --separate-stderr bash -c "cat '$1' | '$NPZCAT' list - >/dev/null"
	[ "$status" -eq 1 ] || { echo "list - < $1: status $status"; return 1; }
	[[ $stderr =~ $2 ]] || { echo "list - < $1: message '$stderr'"; return 1; }
	run --separate-stderr npzcat copy "$1" -
	[ "$status" -eq 1 ] && [ -z "$output" ] || { echo "copy $1 -: status $status, ${#output} bytes out"; return 1; }
	[[ $stderr =~ $2 ]] || { echo "copy $1 -: message '$stderr'"; return 1; }
	run --separate-stderr npzcat copy "$1" out.npz
	[ "$status" -eq 1 ] || { echo "copy $1 out.npz: status $status"; return 1; }
	[ ! -e out.npz ] && [ -z "$(ls -A | grep '\.tmp\.')" ] || { echo "copy $1 out.npz left a file"; return 1; }
}

@test "stream: member names are NAME.npy or meta.txt; paths, '..' and other names are errors" {
	need_numpy
	npy "
y = npy_bytes(np.arange(3))
bad = ['../../../x.npy', '/abs.npy', 'meta.txt/', 'data/notes.txt', 'a..npy', 'README',
       'y', 'notes.txt', '.npy', 'x\ty.npy']
for i, n in enumerate(bad):
    zwrite('bad%d.npz' % i, [('meta.txt', b'a=1\n'), ('y.npy', y), (n, y)], deflate=i % 2 == 1)
rawzip('empty.npz', [(b'y.npy', y), (b'', y)])
rawzip('ctl.npz', [(b'y\x1b[2J.npy', y)])
"
	all_fail bad0.npz "member '\.\./\.\./\.\./x\.npy' is a path"
	all_fail bad1.npz "member '/abs\.npy' is a path"
	all_fail bad2.npz "member 'meta\.txt/' is a path"
	all_fail bad3.npz "member 'data/notes\.txt' is a path"
	all_fail bad4.npz "member 'a\.\.npy' holds '\.\.'"
	for i in 5 6 7 8; do
		all_fail bad$i.npz "member '[^']*' is neither NAME\.npy nor meta\.txt"
	done
	all_fail bad9.npz "member 'x.x09y\.npy' holds a control character"
	all_fail empty.npz "member 2 has an empty name"
	# A name is never printed raw: no escape sequence reaches a terminal.
	all_fail ctl.npz "member 'y.x1b\[2J\.npy' holds a control character"
	run --separate-stderr npzcat list ctl.npz
	[[ $stderr == *"y\x1b[2J.npy"* && $stderr != *$'\e'* ]]
	# Controls: np.savez's names, dotted state_dict names included.
	npy "np.savez('ok.npz', **{'fc1.weight': np.ones((2, 3), np.float32), 'y': np.arange(3)})"
	run --separate-stderr npzcat list ok.npz
	assert_success
	assert_line --index 0 --regexp $'^fc1\\.weight\t<f4\t\\(2, 3\\)\t'
	assert_line --index 1 --regexp $'^y\t<i8\t\\(3,\\)\t'
}

@test "stream: corrupt refuses a member named like a path instead of copying it" {
	need_numpy
	npy "
y = npy_bytes((np.arange(4) % 3).astype(np.int32))
x = npy_bytes(np.zeros((4, 2), np.float32))
for i, n in enumerate(['../../../x.npy', '/abs.npy', 'meta.txt/']):
    zwrite('d%d.npz' % i, [('meta.txt', b'data.classes=3\n'), ('y.npy', y), (n, x), ('x.npy', x)])
zwrite('ok.npz', [('meta.txt', b'data.classes=3\n'), ('y.npy', y), ('x.npy', x)])
"
	names=('\.\./\.\./\.\./x\.npy' '/abs\.npy' 'meta\.txt/')
	for k in 0 1 2; do
		run --separate-stderr corrupt -p 0.5 d$k.npz -o c.npz
		assert_runtime_error
		assert_regex "$stderr" "^corrupt: d$k\.npz: member '${names[k]}' is a path"
		[ ! -e c.npz ]
		run --separate-stderr corrupt -p 0.5 d$k.npz
		assert_runtime_error
	done
	# No output and no temporary left behind.
	[ -z "$(ls -A | grep -e '\.tmp\.' -e '^c\.npz$')" ]
	# The same stream without that member goes through.
	corrupt -p 0.5 ok.npz -o c.npz
	npy "assert zipfile.ZipFile('c.npz').namelist() == ['meta.txt', 'y.npy', 'y_true.npy', 'flipped.npy', 'x.npy']"
}

@test "stream: a 1 KB stream that claims a 100 GB member fails as truncated, in bounded memory" {
	need_numpy
	# A whole-member buffer grows as the data arrive: under a 256 MiB
	# address space, loading a member whose header claims 100 GB (and
	# holds 16 bytes) fails as truncated, not as out of memory.
	{ "$TOP/tests/memlimit" 256 "$NPZCAT" --help && "$TOP/tests/memlimit" 256 corrupt --help; } >/dev/null 2>&1 ||
		skip "the tools do not start within tests/memlimit 256"
	npy "
y = npy_bytes((np.arange(4) % 3).astype(np.int32))
x = npy_bytes(np.zeros((4, 1), np.float32))
m = ('meta.txt', b'data.classes=3\n')
for dfl in (False, True):
    s = '_d' if dfl else ''
    zwrite('x%s.npz' % s, [m, ('y.npy', y), ('x.npy', lie('<f4', '(25000000000, 1)', bytes(16)))], dfl)
    zwrite('y%s.npz' % s, [m, ('y.npy', lie('<i8', '(12500000000,)', bytes(16))), ('x.npy', x)], dfl)
    zwrite('u%s.npz' % s, [m, ('y.npy', lie('|u1', '(100000000000,)', bytes(16))), ('x.npy', x)], dfl)
"
	for s in "" _d; do
		for f in x y u; do
			[ "$(stat -c %s $f$s.npz)" -lt 1024 ]
		done
		# npz_reader_load, npz_bundle_load, npz_reader_load_i32 (in corrupt)
		run --separate-stderr "$TOP/tests/memlimit" 256 "$NPZCAT" values x$s.npz x
		fails_with "^npzcat: x$s\.npz: member 'x' is truncated"
		run --separate-stderr "$TOP/tests/memlimit" 256 "$NPZCAT" bundle x$s.npz out.npz
		fails_with "^npzcat: x$s\.npz: member 'x' is truncated"
		[ ! -e out.npz ]
		for f in y u; do
			run --separate-stderr "$TOP/tests/memlimit" 256 corrupt -p 0.5 $f$s.npz
			fails_with "^corrupt: $f$s\.npz: member 'y' is truncated"
		done
		# npz_reader_load_f32 (in train): whatever train checks first, it
		# is never memory that runs out.
		run --separate-stderr "$TOP/tests/memlimit" 256 train --arch mlp --max-epochs 0 --ckpt-dir ck x$s.npz
		assert_runtime_error
		[[ $stderr != *"out of memory"* ]] || fail "$stderr"
	done
}

@test "stream: byte-identical means every array member, and meta.txt but for its .argv keys" {
	need_numpy
	npy "
rs = np.random.RandomState(6)
zwrite('a.npz', [('meta.txt', b'data.classes=3\n'),
                 ('y.npy', npy_bytes((np.arange(90) % 3).astype(np.int32))),
                 ('act.npy', npy_bytes(rs.randn(90, 12).astype(np.float32)))])"
	masc fit -q -o F.npz a.npz
	mv F.npz F1.npz
	masc fit -q -o F.npz a.npz
	masc fit -q a.npz > G.npz
	masc fit -q < a.npz > H.npz
	# The same command twice: the same bytes.
	cmp F.npz F1.npz
	# Spelled otherwise, the streams differ...
	! cmp -s F.npz G.npz
	! cmp -s F.npz H.npz
	# ...in meta.txt's masc.argv line only: every array member is the
	# same, in the same order, .npy header and data byte for byte.
	npy "
def parts(path):
    z = zipfile.ZipFile(path)
    return (z.namelist(), [(n, z.read(n)) for n in z.namelist() if n.endswith('.npy')],
            z.read('meta.txt').decode().splitlines())
names, arrays, meta = parts('F.npz')
assert names == ['meta.txt', 'k.npy', 'basis.npy'], names
assert 'masc.argv=fit -q -o F.npz a.npz' in meta, meta
for other, argv in (('G.npz', 'fit -q a.npz'), ('H.npz', 'fit -q')):
    n, a, m = parts(other)
    assert n == names, (other, n)
    assert a == arrays, other
    assert len(m) == len(meta), (other, m)
    diff = [(x, y) for x, y in zip(meta, m) if x != y]
    assert diff == [('masc.argv=fit -q -o F.npz a.npz', 'masc.argv=' + argv)], (other, diff)
"
	# npzcat agrees: the same arrays (name, dtype, shape, checksum).
	npzcat list F.npz | sed 1d > f.txt
	npzcat list G.npz | sed 1d > g.txt
	assert_equal "$(wc -l < f.txt)" 2
	cmp f.txt g.txt
}

@test "stream: a stream cut at every 1 KiB boundary is an error" {
	need_numpy
	npzcat write -z 1 -m data.name=t y:i4:1000 flipped:u1:1000 x:f4:10x784:mnist -o ours1.npz
	npzcat write -z 0 -m data.name=t y:i4:1000 flipped:u1:1000 x:f4:10x784 -o ours0.npz
	npy "
rs = np.random.RandomState(5)
a = dict(y=rs.randint(0, 10, 1000), x=rs.rand(10, 784).astype(np.float32))
np.savez('np.npz', **a)
np.savez_compressed('npc.npz', **a)
"
	bad=0
	for f in ours1 ours0 np npc; do
		size=$(stat -c %s $f.npz)
		for ((cut = 0; cut < size; cut += 1024)); do
			head -c $cut $f.npz > cut.npz
			if [ $cut -eq 0 ]; then re="empty input"; else re="truncated"; fi
			all_fail cut.npz "$re" || { echo "$f.npz cut at $cut"; bad=$((bad + 1)); }
		done
		# The end record alone missing (the last 22 bytes).
		head -c $((size - 22)) $f.npz > cut.npz
		all_fail cut.npz "truncated" || { echo "$f.npz without its end record"; bad=$((bad + 1)); }
		# And a control: the whole stream is fine.
		npzcat list $f.npz > /dev/null
	done
	[ "$bad" -eq 0 ]
}

@test "stream: a stream cut between two members is truncated, not short" {
	npzcat write -z 1 y:i4:100 x:f4:100 -o s.npz
	# Find where the second local header starts, cut there.
	off=$(grep -obUaP 'PK\x03\x04' s.npz | sed -n 2p | cut -d: -f1)
	[ -n "$off" ]
	head -c "$off" s.npz > cut.npz
	all_fail cut.npz "truncated"
}

@test "stream: wrong .npy magic, a lying header, an overflowing shape" {
	need_numpy
	npy "
a = np.arange(10, dtype=np.float32)
b = npy_bytes(a)
for dfl in (False, True):
    s = '_d' if dfl else ''
    zwrite('magic%s.npz' % s, [('y.npy', npy_bytes(np.arange(3))), ('x.npy', b'\x93NUMPX' + b[6:])], dfl)
    more = b.replace(b'(10,)', b'(11,)')             # declares more than the data
    zwrite('more%s.npz' % s, [('x.npy', more)], dfl)
    fewer = b.replace(b'(10,)', b'(9,) ')            # declares fewer
    zwrite('fewer%s.npz' % s, [('x.npy', fewer)], dfl)
    h = b[:10] + b[10:].split(b'}')[0].replace(b'(10,)', b'(4611686018427387904, 8)') + b'}'
    hl = len(h) - 10
    pad = (64 - (len(h) + 1) % 64) % 64
    h = h[:8] + (hl + pad + 1).to_bytes(2, 'little') + h[10:] + b' ' * pad + b'\n'
    zwrite('ovf%s.npz' % s, [('x.npy', h + a.tobytes())], dfl)
    zwrite('short%s.npz' % s, [('x.npy', b[:9])], dfl)
"
	for s in "" _d; do
		all_fail magic$s.npz "member 'x'.*bad magic"
		all_fail more$s.npz "member 'x' is truncated"
		all_fail fewer$s.npz "member 'x' holds more data"
		all_fail ovf$s.npz "member 'x'.*overflows"
		all_fail short$s.npz "member 'x'"
	done
}

@test "stream: unsupported dtypes and Fortran order are errors naming member and dtype" {
	need_numpy
	npy "
zwrite('be.npz', [('y.npy', npy_bytes(np.arange(3, dtype='>f4')))])
zwrite('obj.npz', [('o.npy', npy_bytes(np.array([1, 'a'], dtype=object)))])
zwrite('half.npz', [('h.npy', npy_bytes(np.zeros(3, '<f2')))])
zwrite('str.npz', [('s.npy', npy_bytes(np.zeros(3, 'U3')))])
zwrite('u4.npz', [('u.npy', npy_bytes(np.zeros(3, '<u4')))])
zwrite('rec.npz', [('r.npy', npy_bytes(np.zeros(3, [('a', '<i4'), ('b', '<f8')])))])
zwrite('fo.npz', [('f.npy', npy_bytes(np.asfortranarray(np.zeros((2, 3)))))])
"
	all_fail be.npz "member 'y': big-endian dtype '>f4'"
	all_fail obj.npz "member 'o': object dtype '\\|O'"
	all_fail half.npz "member 'h': dtype '<f2'"
	all_fail str.npz "member 's': dtype '<U3'"
	all_fail u4.npz "member 'u': dtype '<u4'"
	all_fail rec.npz "member 'r': structured dtype \\[\\('a', '<i4'\\), \\('b', '<f8'\\)\\]"
	all_fail fo.npz "member 'f': Fortran-order"
}

@test "stream: corrupt deflate data and bad CRCs are errors naming the member" {
	need_numpy
	npzcat write -z 1 y:i4:1000 x:f4:20x784:mnist -o d.npz
	npzcat write -z 0 y:i4:1000 x:f4:20x784 -o s.npz
	npy "np.savez('n.npz', y=np.arange(1000), x=np.random.RandomState(0).rand(20, 784).astype(np.float32))
np.savez_compressed('nc.npz', y=np.arange(1000), x=np.random.RandomState(0).rand(20, 784).astype(np.float32))
import subprocess
p = subprocess.run([sys.executable, '-c', 'import numpy as np, sys\n'
    'np.savez(sys.stdout.buffer, y=np.arange(1000), x=np.random.RandomState(0).rand(20, 784).astype(np.float32))'],
    stdout=subprocess.PIPE, check=True)
open('np.npz', 'wb').write(p.stdout)
# Offsets of each member's data in each file, to flip bytes inside them.
for f in ('d.npz', 's.npz', 'n.npz', 'nc.npz', 'np.npz'):
    z = zipfile.ZipFile(f)
    with open(f + '.off', 'w') as o:
        for i in z.infolist():
            raw = open(f, 'rb').read()
            start = i.header_offset + 30 + len(i.filename) + int.from_bytes(raw[i.header_offset + 28:i.header_offset + 30], 'little')
            o.write('%s %d %d\n' % (i.filename[:-4], start, i.compress_size))
"
	bad=0
	for f in d s n nc np; do
		while read -r name start size; do
			for k in 1 3 7; do
				off=$((start + size * k / 8 + 1))
				flip $f.npz $off flip.npz
				all_fail flip.npz "member '$name'" ||
					{ echo "$f.npz: flip at $off in '$name'"; bad=$((bad + 1)); }
			done
		done < $f.npz.off
	done
	[ "$bad" -eq 0 ]
	# Stored members flipped inside their data say what happened.
	read -r name start size < <(sed -n 2p s.npz.off)
	flip s.npz $((start + 200)) flip.npz
	all_fail flip.npz "member 'x' fails its CRC check"
}

@test "stream: a damaged member name is caught by the zip directory" {
	need_numpy
	npzcat write -m a=1 y:i4:10 y_true:i4:10 -o s.npz
	npy "
b = bytearray(open('s.npz', 'rb').read())
i = b.index(b'y_true.npy')            # the first occurrence: the local header
b[i + 5] = ord('d')
open('bad.npz', 'wb').write(b)
"
	all_fail bad.npz "'y_trud.npy' but the zip directory calls it 'y_true.npy'"
}

@test "stream: duplicate member names are an error" {
	need_numpy
	npy "
import warnings
warnings.simplefilter('ignore')
zwrite('dup.npz', [('y.npy', npy_bytes(np.arange(3))), ('y.npy', npy_bytes(np.arange(4)))])
zwrite('dupm.npz', [('meta.txt', b'a=1\n'), ('x.npy', npy_bytes(np.arange(3))), ('meta.txt', b'a=2\n')], True)
assert list(np.load('dup.npz')['y']) == [0, 1, 2, 3]   # NumPy takes the last
"
	all_fail dup.npz "member 'y.npy' appears twice"
	all_fail dupm.npz "member 'meta.txt' appears twice"
}

@test "stream: a broken meta.txt is an error naming its line" {
	need_numpy
	npy "zwrite('m.npz', [('meta.txt', b'a=1\nno equals\n'), ('y.npy', npy_bytes(np.arange(3)))])"
	run --separate-stderr npzcat meta m.npz
	fails_with "meta.txt.*line 2"
	run --separate-stderr npzcat bundle m.npz out.npz
	fails_with "line 2"
	[ ! -e out.npz ]
}
