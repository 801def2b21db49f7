#!/usr/bin/env bats
# tests/mkdata.bats: mkdata on fixtures the tests write in each set's real
# distribution format (IDX raw and .gz, the CIFAR binary tarballs and their
# extracted folders, scikit-learn's digits CSV, a miniature Tiny ImageNet
# zip of JPEGs), on the real MNIST and Fashion-MNIST when present, and
# every error case.
load helpers

# Fixture writers need only Python's standard library (fx, meta_of:
# helpers.bash); value checks use NumPy and are skipped without it.
fxnp() { need_numpy; npy "$1"; }
# Member names and sizes: "name size" lines.
members_of() { "${PY:-python3}" -c 'import sys, zipfile
for i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.file_size)' "$1"; }

# ---- the command line -----------------------------------------------------

@test "mkdata: --help prints usage and options on stdout" {
	run --separate-stderr mkdata --help
	assert_success
	assert_line --index 0 "usage: mkdata NAME [--split train|test] [--limit N] [--data-dir DIR] [--normalize authors|none] [--coarse] [--compress N] [-q] [-o FILE]"
	for o in --split --limit --data-dir --normalize --coarse --compress --output; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "tiny-imagenet"
	assert_equal "$stderr" ""
}

@test "mkdata: the man page's SYNOPSIS is the usage line" {
	command -v man >/dev/null || skip "man is not installed"
	syn=$(MANWIDTH=400 man -l "$TOP/man/mkdata.1" 2>/dev/null | sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')
	run --separate-stderr mkdata --help
	assert_equal "usage: $syn" "${lines[0]}"
}

@test "mkdata: usage errors exit 2 with the usage and nothing on stdout" {
	fx 'mnist("d")'
	for args in "" "bogus" "mnist extra" "mnist --split val" "mnist --limit 0" \
		"mnist --limit -3" "mnist --limit 12x" "mnist --limit" \
		"mnist --normalize zscore" "mnist --compress 10" "mnist --compress x" \
		"mnist --coarse" "cifar10 --coarse" "mnist --bogus" "mnist -x" \
		"mnist --data-dir="; do
		fails_usage "usage: mkdata NAME" mkdata $args --data-dir d -o out.npz
		assert_no_output out.npz
	done
}

# ---- MNIST-format IDX files ----------------------------------------------

@test "mkdata mnist: IDX fixture: members, meta, sizes (no NumPy needed)" {
	fx 'mnist("d")'
	run --separate-stderr mkdata mnist --data-dir d -o out.npz
	assert_success
	assert_equal "$output" ""
	run members_of out.npz
	# y: 128-byte header + 4*4; x: 128 + 4*64*4.
	assert_output "meta.txt $(meta_of out.npz | wc -c)
y.npy 144
x.npy 1152"
	run meta_of out.npz
	assert_line "data.name=mnist"
	assert_line "data.split=train"
	assert_line "data.n=4"
	assert_line "data.classes=10"
	assert_line "data.shape=1x8x8"
	assert_line "data.normalize=authors"
	assert_line "data.transform=2*v/255-1"
	assert_line "data.source=d/train-images-idx3-ubyte d/train-labels-idx1-ubyte"
	assert_line "mkdata.argv=mnist --data-dir d -o out.npz"
}

@test "mkdata mnist: x = 2v/255-1 exactly as torchvision computes it, y int32" {
	fx 'mnist("d")'
	mkdata mnist --data-dir d -o out.npz
	fxnp '
z = np.load("out.npz")
assert z.files == ["meta.txt", "y", "x"], z.files
x, y = z["x"], z["y"]
assert x.dtype == np.float32 and x.shape == (4, 1, 8, 8), (x.dtype, x.shape)
assert y.dtype == np.int32 and y.tolist() == idx_lab(4), y
v = np.array(idx_pix(4, 8, 8), dtype=np.uint8).reshape(4, 1, 8, 8)
assert sorted(set(v.ravel().tolist())) == list(range(256))
# torchvision: ToTensor (v/255 in float32), Normalize((0.5,), (0.5,))
t = v.astype(np.float32) / np.float32(255)
assert np.array_equal(x, (t - np.float32(0.5)) / np.float32(0.5))
assert np.abs(x - (2 * v.astype(np.float64) / 255 - 1)).max() < 1e-6
assert x.min() == -1 and x.max() == 1
'
}

@test "mkdata mnist: gzip-compressed IDX files give the same arrays" {
	fx 'mnist("raw"); mnist("gz", gz=True)'
	[ -f gz/train-images-idx3-ubyte.gz ]
	mkdata mnist --data-dir raw -o a.npz
	mkdata mnist --data-dir gz -o b.npz
	run meta_of b.npz
	assert_line "data.source=gz/train-images-idx3-ubyte.gz gz/train-labels-idx1-ubyte.gz"
	# Same member sizes without NumPy, same values with it.
	assert_equal "$(members_of a.npz | grep -v meta)" "$(members_of b.npz | grep -v meta)"
	fxnp '
a, b = np.load("a.npz"), np.load("b.npz")
assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["y"], b["y"])
'
}

@test "mkdata mnist: --split test reads the t10k files" {
	fx 'mnist("d", n=3, r=2, c=5, pre="t10k"); mnist("d", n=5)'
	mkdata mnist --split test --data-dir d -o out.npz
	run meta_of out.npz
	assert_line "data.split=test"
	assert_line "data.n=3"
	assert_line "data.shape=1x2x5"
	assert_line "data.source=d/t10k-images-idx3-ubyte d/t10k-labels-idx1-ubyte"
}

@test "mkdata mnist: --normalize none keeps the raw values as float" {
	fx 'mnist("d")'
	mkdata mnist --normalize none --data-dir d -o out.npz
	run meta_of out.npz
	assert_line "data.normalize=none"
	assert_line "data.transform=v"
	fxnp '
x = np.load("out.npz")["x"]
assert x.dtype == np.float32
assert np.array_equal(x.ravel(), np.array(idx_pix(4, 8, 8), dtype=np.float32))
'
}

@test "mkdata mnist: --limit keeps the first N samples; more than N keeps all" {
	fx 'mnist("d")'
	mkdata mnist --limit 2 --data-dir d -o two.npz
	mkdata mnist --limit 100 --data-dir d -o all.npz
	run meta_of two.npz
	assert_line "data.n=2"
	run meta_of all.npz
	assert_line "data.n=4"
	run members_of two.npz
	assert_line "x.npy $((128 + 2 * 64 * 4))"
	fxnp '
a, t = np.load("all.npz"), np.load("two.npz")
assert np.array_equal(t["x"], a["x"][:2]) and np.array_equal(t["y"], a["y"][:2])
'
}

@test "mkdata mnist: deterministic, to a file and to stdout; --compress 0 and 9" {
	fx 'mnist("d", n=50, r=28, c=28)'
	mkdata mnist --data-dir d -o a.npz
	mv a.npz a1.npz
	mkdata mnist --data-dir d -o a.npz
	cmp a.npz a1.npz
	mkdata mnist --data-dir d >c1.npz
	mkdata mnist --data-dir d >c2.npz
	cmp c1.npz c2.npz
	mkdata mnist --data-dir d --compress 0 -o s.npz
	mkdata mnist --data-dir d --compress 9 -o z.npz
	# Stored: the x member's bytes are all there; deflated: smaller.
	[ "$(stat -c %s s.npz)" -gt $((50 * 784 * 4)) ]
	[ "$(stat -c %s z.npz)" -lt "$(stat -c %s s.npz)" ]
	fxnp '
xs = [np.load(f)["x"] for f in ("a.npz", "c1.npz", "s.npz", "z.npz")]
assert all(np.array_equal(xs[0], x) for x in xs)
assert xs[0].shape == (50, 1, 28, 28)
'
}

@test "mkdata mnist: MEMPROBE_DATA is where the files are looked for" {
	fx 'mnist("store/mnist")'
	MEMPROBE_DATA=$T/store mkdata mnist -o out.npz
	run meta_of out.npz
	assert_line "data.source=$T/store/mnist/train-images-idx3-ubyte $T/store/mnist/train-labels-idx1-ubyte"
}

@test "mkdata mnist: missing files: which file, where, and how to get it" {
	mkdir empty
	MEMPROBE_DATA=$T/empty run --separate-stderr mkdata mnist -o out.npz
	assert_runtime_error
	assert_regex "$stderr" "^mkdata: no 'train-images-idx3-ubyte' \(or 'train-images-idx3-ubyte.gz'\) in '$T/empty/mnist'"
	assert_regex "$stderr" "scripts/bootstrap"
	assert_no_output out.npz
	fx 'mnist("d")'
	rm d/train-labels-idx1-ubyte
	run --separate-stderr mkdata mnist --data-dir d -o out.npz
	assert_runtime_error
	assert_regex "$stderr" "no 'train-labels-idx1-ubyte' \(or 'train-labels-idx1-ubyte.gz'\) in 'd'"
	run --separate-stderr mkdata mnist --data-dir nowhere
	assert_runtime_error
	assert_regex "$stderr" "'nowhere' is not a directory"
}

@test "mkdata mnist: broken IDX files are errors naming the file" {
	# name | python making d/ broken | expected message
	while IFS='|' read -r what code msg; do
		rm -rf d; fx "mnist('d'); $code"
		run --separate-stderr mkdata mnist --data-dir d -o out.npz
		assert_runtime_error
		assert_regex "$stderr" "^mkdata: .*$msg" || fail "case: $what"
		assert_no_output out.npz
		run --separate-stderr mkdata mnist --data-dir d
		assert_runtime_error
	done <<'EOF'
truncated images|p="d/train-images-idx3-ubyte"; b=open(p,"rb").read(); open(p,"wb").write(b[:-1])|'d/train-images-idx3-ubyte' is truncated \(255 of 256 bytes
truncated header|open("d/train-labels-idx1-ubyte","wb").write(b"\0\0\x08")|'d/train-labels-idx1-ubyte' is truncated
trailing data|open("d/train-images-idx3-ubyte","ab").write(b"x")|'d/train-images-idx3-ubyte' holds more data than its header says
images magic|put("d/train-images-idx3-ubyte", idx_bytes([4, 64], idx_pix(4, 8, 8)))|'d/train-images-idx3-ubyte' is not an IDX file .*magic 0x00000802, expected 0x00000803
labels magic|put("d/train-labels-idx1-ubyte", idx_bytes([4, 1], [1, 2, 3, 4]))|'d/train-labels-idx1-ubyte' is not an IDX file
counts|put("d/train-labels-idx1-ubyte", idx_bytes([3], [1, 2, 3]))|'d/train-labels-idx1-ubyte' has 3 labels but 'd/train-images-idx3-ubyte' has 4 images
label range|put("d/train-labels-idx1-ubyte", idx_bytes([4], [1, 2, 10, 4]))|'d/train-labels-idx1-ubyte': label 10 of sample 2 is outside 0..9
zero count|put("d/train-labels-idx1-ubyte", idx_bytes([0], []))|'d/train-labels-idx1-ubyte' has an invalid size 0
text file|open("d/train-images-idx3-ubyte","w").write("hello, world\n" * 20)|is not an IDX file
EOF
}

@test "mkdata mnist: broken gzip files are errors naming the file" {
	# python breaking d/F (b: its bytes) | F | expected message
	while IFS='|' read -r code f msg; do
		rm -rf d; fx "mnist('d', gz=True)
p = 'd/$f'; b = bytearray(open(p, 'rb').read())
$code
open(p, 'wb').write(b)"
		run --separate-stderr mkdata mnist --data-dir d -o out.npz
		assert_runtime_error
		assert_regex "$stderr" "^mkdata: .*$msg" || fail "case: $code"
		assert_no_output out.npz
	done <<'EOF'
b = b[:len(b) // 2]|train-images-idx3-ubyte.gz|'d/train-images-idx3-ubyte.gz' is truncated
b = b[:-4]|train-images-idx3-ubyte.gz|'d/train-images-idx3-ubyte.gz' is truncated \(the gzip data end early\)
b = b[:-1]|train-labels-idx1-ubyte.gz|'d/train-labels-idx1-ubyte.gz' is truncated \(the gzip data end early\)
b[-8] ^= 0xff|train-labels-idx1-ubyte.gz|'d/train-labels-idx1-ubyte.gz': corrupt gzip data: incorrect data check
b[-60] ^= 0xff; b[-61] ^= 0x0f|train-images-idx3-ubyte.gz|'d/train-images-idx3-ubyte.gz'
EOF
}

@test "mkdata mnist: the real MNIST, train and test" {
	need_mnist
	mkdata mnist -o train.npz
	mkdata mnist --split test -o test.npz
	run meta_of train.npz
	assert_line "data.n=60000"
	assert_line "data.shape=1x28x28"
	run meta_of test.npz
	assert_line "data.n=10000"
	run members_of train.npz
	assert_line "x.npy $((128 + 60000 * 784 * 4))"
	assert_line "y.npy $((128 + 60000 * 4))"
	fxnp '
tr, te = np.load("train.npz"), np.load("test.npz")
assert tr["x"].shape == (60000, 1, 28, 28) and tr["x"].dtype == np.float32
assert te["x"].shape == (10000, 1, 28, 28)
for z in (tr, te):
    assert z["x"].min() == -1.0 and z["x"].max() == 1.0
    assert sorted(set(z["y"].tolist())) == list(range(10))
assert tr["y"][0] == 5 and te["y"][0] == 7, (tr["y"][:3], te["y"][:3])
assert tr["y"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
'
}

@test "mkdata fashion-mnist: from /usr/share/datasets (dataset-fashion-mnist)" {
	[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] ||
		skip "dataset-fashion-mnist is not installed"
	mkdir empty
	MEMPROBE_DATA=$T/empty mkdata fashion-mnist --split test -o out.npz
	run meta_of out.npz
	assert_line "data.name=fashion-mnist"
	assert_line "data.n=10000"
	assert_line "data.source=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
	fxnp '
z = np.load("out.npz")
assert z["x"].shape == (10000, 1, 28, 28) and z["x"].min() == -1 and z["x"].max() == 1
# Fashion-MNIST test: ankle boot, pullover, trouser, trouser, shirt
assert z["y"][:5].tolist() == [9, 2, 1, 1, 6], z["y"][:5]
assert np.bincount(z["y"]).tolist() == [1000] * 10
'
}

@test "mkdata fashion-mnist: \$MEMPROBE_DATA/fashion-mnist comes first" {
	fx 'mnist("store/fashion-mnist", n=2, gz=True)'
	MEMPROBE_DATA=$T/store mkdata fashion-mnist -o out.npz
	run meta_of out.npz
	assert_line "data.n=2"
	assert_line "data.source=$T/store/fashion-mnist/train-images-idx3-ubyte.gz $T/store/fashion-mnist/train-labels-idx1-ubyte.gz"
}

# ---- CIFAR ------------------------------------------------------------------

@test "mkdata cifar10: from the tarball, batches in order, x (N,3,32,32)" {
	fx 'cifar_tar("cifar-10-binary.tar.gz", False)'
	mkdata cifar10 --data-dir . -o train.npz
	mkdata cifar10 --split test --data-dir . -o test.npz
	run meta_of train.npz
	assert_line "data.name=cifar10"
	assert_line "data.n=15"
	assert_line "data.classes=10"
	assert_line "data.shape=3x32x32"
	assert_line "data.source=cifar-10-binary.tar.gz"
	run meta_of test.npz
	assert_line "data.n=3"
	fxnp '
for f, mem in (("train.npz", [(m, m) for m in range(1, 6)]), ("test.npz", [(0, 3)])):
    z = np.load(f)
    ys = [c10_label(m, j) for m, n in mem for j in range(n)]
    v = np.frombuffer(b"".join(cifar_pix(m, j) for m, n in mem for j in range(n)), np.uint8)
    v = v.reshape(-1, 3, 32, 32)
    assert z["y"].dtype == np.int32 and z["y"].tolist() == ys, (z["y"], ys)
    assert z["x"].dtype == np.float32 and z["x"].shape == v.shape
    t = v.astype(np.float32) / np.float32(255)
    assert np.array_equal(z["x"], (t - np.float32(0.5)) / np.float32(0.5))
'
}

@test "mkdata cifar10: the extracted folder gives the same stream data" {
	fx 'cifar_tar("arc/cifar-10-binary.tar.gz", False); cifar_dir("ext/cifar-10-batches-bin", False); cifar_dir("flat", False)'
	mkdata cifar10 --data-dir arc -o a.npz
	mkdata cifar10 --data-dir ext -o b.npz
	mkdata cifar10 --data-dir flat -o c.npz
	mkdata cifar10 --data-dir arc/cifar-10-binary.tar.gz -o d.npz
	run meta_of b.npz
	assert_line "data.source=ext/cifar-10-batches-bin/data_batch_1.bin ext/cifar-10-batches-bin/data_batch_2.bin ext/cifar-10-batches-bin/data_batch_3.bin ext/cifar-10-batches-bin/data_batch_4.bin ext/cifar-10-batches-bin/data_batch_5.bin"
	# Everything but meta.txt is byte-identical.
	for f in b c d; do
		fx "import zipfile
a, b = zipfile.ZipFile('a.npz'), zipfile.ZipFile('$f.npz')
assert a.read('y.npy') == b.read('y.npy') and a.read('x.npy') == b.read('x.npy')"
	done
	mkdir -p store && mv ext store/cifar10
	MEMPROBE_DATA=$T/store mkdata cifar10 --split test --limit 2 -o e.npz
	run meta_of e.npz
	assert_line "data.n=2"
}

@test "mkdata cifar100: fine labels by default, --coarse the superclasses" {
	fx 'cifar_tar("cifar-100-binary.tar.gz", True)'
	mkdata cifar100 --data-dir . -o fine.npz
	mkdata cifar100 --coarse --data-dir . -o coarse.npz
	mkdata cifar100 --coarse --split test --data-dir . -o test.npz
	run meta_of fine.npz
	assert_line "data.classes=100"
	assert_line "data.labels=fine"
	assert_line "data.n=4"
	run meta_of coarse.npz
	assert_line "data.classes=20"
	assert_line "data.labels=coarse"
	fxnp '
f, c, t = np.load("fine.npz"), np.load("coarse.npz"), np.load("test.npz")
assert f["y"].tolist() == [c100_labels(1, j)[1] for j in range(4)], f["y"]
assert c["y"].tolist() == [c100_labels(1, j)[0] for j in range(4)], c["y"]
assert t["y"].tolist() == [c100_labels(0, j)[0] for j in range(2)], t["y"]
assert np.array_equal(f["x"], c["x"]) and f["x"].shape == (4, 3, 32, 32)
v = np.frombuffer(b"".join(cifar_pix(1, j) for j in range(4)), np.uint8).reshape(4, 3, 32, 32)
assert np.array_equal(f["x"], (v.astype(np.float32) / np.float32(255) - np.float32(0.5)) / np.float32(0.5))
'
	fx 'cifar_dir("cifar-100-binary", True)'
	rm cifar-100-binary.tar.gz
	mkdata cifar100 --coarse --data-dir . -o folder.npz
	fx "import zipfile
a, b = zipfile.ZipFile('coarse.npz'), zipfile.ZipFile('folder.npz')
assert a.read('y.npy') == b.read('y.npy') and a.read('x.npy') == b.read('x.npy')"
}

@test "mkdata cifar: broken or incomplete archives and files are errors" {
	# python making the data | name | --data-dir | expected message
	while IFS='|' read -r code name dir msg; do
		rm -rf w; mkdir w; (cd w && fx "$code")
		run --separate-stderr mkdata $name --data-dir "w/$dir" -o out.npz
		assert_runtime_error
		assert_regex "$stderr" "^mkdata: .*$msg" || fail "case: $code"
		assert_no_output out.npz
	done <<'EOF'
cifar_tar("c.tar.gz", False, drop="data_batch_4.bin")|cifar10|c.tar.gz|'w/c.tar.gz' has no member 'cifar-10-batches-bin/data_batch_4.bin'
cifar_tar("c.tar.gz", False, cut=-400)|cifar10|c.tar.gz|'w/c.tar.gz' is truncated
cifar_tar("c.tar.gz", False, cut=-4)|cifar10|c.tar.gz|'w/c.tar.gz' is truncated \(the gzip data end early\)
cifar_tar("c.tar.gz", False, flip=-8)|cifar10|c.tar.gz|'w/c.tar.gz': corrupt gzip data: incorrect data check
cifar_tar("c.tar.gz", False, flip=-200)|cifar10|c.tar.gz|'w/c.tar.gz'
cifar_tar("c.tar.gz", False, mangle=("data_batch_2.bin", b"\0" * 3074))|cifar10|c.tar.gz|'w/c.tar.gz: cifar-10-batches-bin/data_batch_2.bin' is not a whole number of 3073-byte records
cifar_tar("c.tar.gz", False, mangle=("test_batch.bin", b"\x0a" + bytes(3072)))|cifar10 --split test|c.tar.gz|record 1 has label 10, outside 0..9
cifar_tar("c.tar.gz", True, mangle=("train.bin", b"\x01\x64" + bytes(3072)))|cifar100|c.tar.gz|record 1 has fine label 100, outside 0..99
cifar_tar("c.tar.gz", True, mangle=("train.bin", b"\x14\x01" + bytes(3072)))|cifar100|c.tar.gz|record 1 has coarse label 20
cifar_dir("x", False); open("x/data_batch_3.bin", "ab").write(b"\1\2")|cifar10|x|'w/x/data_batch_3.bin' is truncated: it ends inside record 4
cifar_dir("x", False); os.remove("x/data_batch_5.bin")|cifar10|x|cannot open 'w/x/data_batch_5.bin'
open("c.tar.gz", "w").write("not a tarball\n")|cifar10|c.tar.gz|'w/c.tar.gz'
put("c.tar.gz", b"")|cifar10|c.tar.gz|'w/c.tar.gz'
os.mkdir("e")|cifar100|e|no 'cifar-100-binary.tar.gz' or 'cifar-100-binary/' in 'w/e': put the CIFAR-100 binary version there
EOF
	mkdir empty
	MEMPROBE_DATA=$T/empty run --separate-stderr mkdata cifar10
	assert_runtime_error
	assert_regex "$stderr" "no 'cifar-10-binary.tar.gz' or 'cifar-10-batches-bin/' in '$T/empty/cifar10'.*or give --data-dir DIR"
}

# ---- digits -------------------------------------------------------------------

@test "mkdata digits: the CSV, x = 2v/16-1, train the first 8 of 10 rows, test the last 2" {
	fx 'digits("digits.csv.gz")'
	mkdata digits --data-dir . -o train.npz
	mkdata digits --split test --data-dir digits.csv.gz -o test.npz
	run meta_of train.npz
	assert_line "data.n=8"
	assert_line "data.shape=1x8x8"
	assert_line "data.transform=2*v/16-1"
	assert_line "data.source=digits.csv.gz"
	run meta_of test.npz
	assert_line "data.n=2"
	fxnp '
rows = np.array(digits_rows(10))
for f, sl in (("train.npz", slice(0, 8)), ("test.npz", slice(8, 10))):
    z = np.load(f)
    assert z["y"].tolist() == rows[sl, 64].tolist()
    assert z["x"].shape == (len(rows[sl]), 1, 8, 8) and z["x"].dtype == np.float32
    assert np.array_equal(z["x"].reshape(-1, 64), (2 * rows[sl, :64] / 16 - 1).astype(np.float32))
'
	fx 'digits("plain/digits.csv", gz=False)'
	mkdata digits --data-dir plain --normalize none -o raw.npz
	fxnp '
z = np.load("raw.npz")
assert np.array_equal(z["x"].reshape(-1, 64), np.array(digits_rows(10))[:8, :64])
'
}

@test "mkdata digits: bad rows and a missing file are errors" {
	fx 'digits("digits.csv.gz", bad=3)'
	run --separate-stderr mkdata digits --data-dir digits.csv.gz -o out.npz
	assert_runtime_error
	assert_regex "$stderr" "'digits.csv.gz' line 4: field 64 is 1, not a label 0..9|'digits.csv.gz' line 4: 64 fields, expected 65"
	assert_no_output out.npz
	fx 'put("d.csv", b"0,1,2\n")'
	run --separate-stderr mkdata digits --data-dir d.csv
	assert_runtime_error
	assert_regex "$stderr" "'d.csv' line 1: 3 fields, expected 65"
	fx 'put("d.csv", (",".join(["17"] * 64) + ",1\n").encode())'
	run --separate-stderr mkdata digits --data-dir d.csv
	assert_runtime_error
	assert_regex "$stderr" "'d.csv' line 1: field 1 is 17, not a pixel value 0..16"
	mkdir empty
	run --separate-stderr mkdata digits --data-dir empty
	assert_runtime_error
	assert_regex "$stderr" "no 'digits.csv.gz' \(or 'digits.csv'\) in 'empty'"
}

# ---- Tiny ImageNet -------------------------------------------------------------

@test "mkdata tiny-imagenet: the zip: ImageFolder order, sorted-wnid labels, x = v/255" {
	fx 'tiny_zip("tiny-imagenet-200.zip")'
	mkdata tiny-imagenet --data-dir . -o train.npz
	mkdata tiny-imagenet --split test --data-dir . -o test.npz
	run meta_of train.npz
	assert_line "data.name=tiny-imagenet"
	assert_line "data.n=9"
	assert_line "data.classes=3"
	assert_line "data.shape=3x64x64"
	assert_line "data.transform=v/255"
	assert_line "data.source=tiny-imagenet-200.zip"
	run meta_of test.npz
	assert_line "data.n=4"
	fxnp '
W = sorted(WNIDS)
for f, tags, labels in (("train.npz", TRAIN, [W.index(t.split("_")[0]) for t in TRAIN]),
                        ("test.npz", ["val_0", "val_1", "val_10", "val_2"],
                         [W.index(VAL[t]) for t in ["val_0", "val_1", "val_10", "val_2"]])):
    z = np.load(f)
    x, y = z["x"], z["y"]
    assert y.dtype == np.int32 and y.tolist() == labels, (f, y, labels)
    assert x.dtype == np.float32 and x.shape == (len(tags), 3, 64, 64)
    for i, tag in enumerate(tags):
        v = np.array(tag_rgb(tag), dtype=np.float32)
        d = np.abs(x[i] * 255 - v).max()
        assert d <= 1.001, (f, tag, d)
        if tag != "n01000001_1":     # neutral chroma: exactly Y in R, G and B
            assert np.array_equal(x[i], v / np.float32(255)), (f, tag)
assert (np.load("train.npz")["y"] == [0, 0, 0, 1, 1, 1, 2, 2, 2]).all()
'
}

@test "mkdata tiny-imagenet: the extracted folder gives the same arrays" {
	fx 'tiny_zip("z/tiny-imagenet-200.zip"); tiny_dir("ext")'
	for s in train test; do
		mkdata tiny-imagenet --split $s --data-dir z -o a.npz
		mkdata tiny-imagenet --split $s --data-dir ext -o b.npz
		mkdata tiny-imagenet --split $s --data-dir ext/tiny-imagenet-200 -o c.npz
		mkdata tiny-imagenet --split $s --data-dir z/tiny-imagenet-200.zip -o d.npz
		for f in b c d; do
			fx "import zipfile
a, b = zipfile.ZipFile('a.npz'), zipfile.ZipFile('$f.npz')
assert a.read('y.npy') == b.read('y.npy') and a.read('x.npy') == b.read('x.npy'), '$s $f'"
		done
	done
	run meta_of c.npz
	assert_line "data.source=ext/tiny-imagenet-200"
	mkdata tiny-imagenet --limit 4 --data-dir z >l.npz
	mkdata tiny-imagenet --limit 4 --data-dir z >l2.npz
	cmp l.npz l2.npz
	run members_of l.npz
	assert_line "x.npy $((128 + 4 * 3 * 64 * 64 * 4))"
	assert_line "y.npy $((128 + 4 * 4))"
	mkdata tiny-imagenet --normalize none --data-dir z --limit 1 -o n.npz
	fxnp '
x = np.load("n.npz")["x"]
assert x[0, 0, 0, 0] == tag_base("n01000001_0") and x[0, 0, 63, 63] == tag_base("n01000001_0") + 28 and x[0, 0, 8, 0] == tag_base("n01000001_0") + 3
'
}

@test "mkdata tiny-imagenet: broken archives, images and annotations are errors" {
	# python writing w/ | --split | expected message
	while IFS='|' read -r code split msg; do
		rm -rf w; mkdir w; (cd w && fx "$code")
		run --separate-stderr mkdata tiny-imagenet --split $split --data-dir w -o out.npz
		assert_runtime_error
		assert_regex "$stderr" "^mkdata: .*$msg" || fail "case: $code"
		assert_no_output out.npz
	done <<'EOF'
tiny_zip("tiny-imagenet-200.zip", drop_annot="val_10")|test|'val/images/val_10.JPEG' has no line in val_annotations.txt|val_annotations.txt lists 3 images but val/images holds 4
tiny_zip("tiny-imagenet-200.zip", size=32)|train|'w/tiny-imagenet-200.zip: train/n01000001/images/n01000001_0.JPEG' is 32x32 pixels, not 64x64
tiny_zip("tiny-imagenet-200.zip", bad="train/n02000002/images/n02000002_1.JPEG")|train|'w/tiny-imagenet-200.zip: train/n02000002/images/n02000002_1.JPEG': cannot decode the JPEG
tiny_zip("tiny-imagenet-200.zip", extra_class="n09999999")|train|the class 'n09999999' of 'train/n09999999/images/n09999999_0.JPEG' is not in wnids.txt
tiny_dir(".", bad="val/images/val_2.JPEG")|test|'w/tiny-imagenet-200/val/images/val_2.JPEG': cannot decode the JPEG
tiny_dir("."); os.remove("tiny-imagenet-200/wnids.txt")|train|cannot open 'w/tiny-imagenet-200/wnids.txt'
tiny_zip("t.zip"); b = open("t.zip", "rb").read(); open("tiny-imagenet-200.zip", "wb").write(b[:len(b) // 2])|train|'w/tiny-imagenet-200.zip'
open("tiny-imagenet-200.zip", "w").write("not a zip\n")|train|'w/tiny-imagenet-200.zip'
os.mkdir("tiny-imagenet-200")|train|cannot open 'w/tiny-imagenet-200/wnids.txt'
EOF
	mkdir empty
	MEMPROBE_DATA=$T/empty run --separate-stderr mkdata tiny-imagenet
	assert_runtime_error
	assert_regex "$stderr" "no 'tiny-imagenet-200.zip' or 'tiny-imagenet-200/' in '$T/empty/tiny-imagenet': put Tiny ImageNet there"
}
