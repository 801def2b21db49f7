#!/usr/bin/python3
"""tests/fuzz/seeds.py: write the fuzz harnesses' seed corpora into
tests/fuzz/corpus/NAME/, small files in the real formats: .npy files and
header dicts as NumPy writes them, NPZ streams from NumPy, Python's zipfile
and our own tools, meta.txt as the tools write it, IDX, CIFAR and Tiny
ImageNet files as tests/fixtures.py writes them for the tool tests, and
checkpoints of the CNN and the MLP as `train` writes them (described with
zero padding, fuzz.h's "NAME+PAD" sections, so a whole model fits in a few
hundred bytes). The files are committed; rerun after a format changes:

    /usr/bin/python3 tests/fuzz/seeds.py      (from the top, after make)

Debian's python3 has NumPy; the tool-made seeds need bin/ (make).
"""
import gzip, io, os, shutil, struct, subprocess, sys, tarfile, tempfile, zipfile
import numpy as np

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests"))
import fixtures as fx                                   # noqa: E402

OUT = os.path.join(TOP, "tests", "fuzz", "corpus")
SEP = b"#~#~"
ZDATE = (1980, 1, 1, 0, 0, 0)


def put(harness, name, b):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(b)


def npy(a, version=None):
    f = io.BytesIO()
    if version:
        np.lib.format.write_array(f, np.asarray(a), version=version, allow_pickle=False)
    else:
        np.save(f, a, allow_pickle=False)
    return f.getvalue()


def preamble(dtype, shape):
    """The .npy preamble NumPy writes for an array, without the data."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        f, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": tuple(shape)})
    return f.getvalue()


def dict_of(b):
    """The header dict of a .npy file (version 1: 2-byte length)."""
    n = struct.unpack("<H", b[8:10])[0]
    return b[10:10 + n]


def zip_bytes(members, method=zipfile.ZIP_STORED, stream=False):
    buf = io.BytesIO()

    class Pipe(io.RawIOBase):       # not seekable: data descriptors, like a pipe
        def writable(self): return True
        def write(self, b): buf.write(b); return len(b)

    with zipfile.ZipFile(Pipe() if stream else buf, "w", method) as z:
        for name, b in members:
            z.writestr(zipfile.ZipInfo(name, ZDATE), b, compress_type=method)
    return buf.getvalue()


def sections(lead, parts):
    return lead + SEP.join(parts)


def npy_seeds():
    arrays = {
        "f4_2x3": np.arange(6, dtype="<f4").reshape(2, 3),
        "f8_scalar": np.array(1.5, dtype="<f8"),
        "i4_5": np.arange(5, dtype="<i4"),
        "i8_2x2x2": np.arange(8, dtype="<i8").reshape(2, 2, 2),
        "u1_3": np.array([1, 2, 3], dtype="u1"),
        "bool_2": np.array([True, False]),
        "f4_0x5": np.zeros((0, 5), dtype="<f4"),
        "f4_8dims": np.zeros((1,) * 8, dtype="<f4"),
        "f4_be": np.zeros(2, dtype=">f4"),
        "f4_fortran": np.asfortranarray(np.zeros((2, 3), dtype="<f4")),
        "u2_unsupported": np.zeros(2, dtype="<u2"),
        "struct": np.zeros(1, dtype=[("a", "<f4"), ("b", "<i4")]),
        "unicode": np.array(["ab"]),
    }
    for name, a in arrays.items():
        b = npy(a)
        put("npy", name + ".npy", b)
        put("npy", name + ".dict", dict_of(b))
    put("npy", "f4_v2.npy", npy(np.ones((2, 2), dtype="<f4"), (2, 0)))
    put("npy", "f4_v3.npy", npy(np.ones(3, dtype="<f4"), (3, 0)))
    put("npy", "short_data.npy", npy(np.ones(4, dtype="<f4"))[:-3])
    put("npy", "long_data.npy", npy(np.ones(4, dtype="<f4")) + b"\0\0\0\0")
    put("npy", "py2_long.dict", b"{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }")
    put("npy", "reordered.dict", b"{ 'shape' : ( 2 , ) , 'descr':\"<i8\",'fortran_order':False}")
    put("npy", "9dims.dict", b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }")
    put("npy", "huge.dict", b"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }")
    put("npy", "zero_huge.dict", b"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 8), }")


def data_stream(n=4, c=1, h=2, w=2, compressed=False, stream=False):
    meta = b"data.name=fuzz\ndata.classes=3\n"
    y = np.arange(n, dtype="<i4") % 3
    x = (np.arange(n * c * h * w, dtype="<f4") / 7).reshape(n, c, h, w)
    return zip_bytes([("meta.txt", meta), ("y.npy", npy(y)), ("x.npy", npy(x))],
                     zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED, stream)


def tool(*args, stdin=None):
    exe = os.path.join(TOP, "bin", args[0])
    if not os.access(exe, os.X_OK):
        return None
    r = subprocess.run([exe] + list(args[1:]), input=stdin, capture_output=True)
    return r.stdout if r.returncode == 0 else None


def npz_seeds():
    put("npz", "numpy_store.npz", data_stream())
    put("npz", "numpy_deflate.npz", data_stream(compressed=True))
    put("npz", "pipe_descriptors.npz", data_stream(stream=True))
    f = io.BytesIO()
    np.savez(f, act=np.ones((3, 4), dtype="<f4"), y=np.array([0, 1, 2], dtype="<i8"),
             flipped=np.array([0, 1, 0], dtype="u1"), k=np.array([2], dtype="<i4"),
             basis=np.eye(2, dtype="<f8"))
    put("npz", "savez_kinds.npz", f.getvalue())
    put("npz", "truncated.npz", data_stream()[:-30])
    bad = bytearray(data_stream())
    bad[bad.find(b"x.npy") + 5 + 130] ^= 1
    put("npz", "bad_crc.npz", bytes(bad))
    put("npz", "empty_zip.npz", zip_bytes([]))
    out = tool("corrupt", "-p", "0.5", "--seed", "1", "--compress", "0", stdin=data_stream())
    if out:
        put("npz", "corrupt_store.npz", out)
    out = tool("corrupt", "-p", "0.5", "--seed", "1", stdin=data_stream())
    if out:
        put("npz", "corrupt_deflate.npz", out)
    # Built by the harness from sections: store and deflate.
    meta = b"meta.txt\ndata.name=fuzz\n"
    y = b"y.npy\n" + npy(np.array([0, 1, 2], dtype="<i4"))
    x = b"x.npy\n" + npy(np.ones((3, 1, 2, 2), dtype="<f4"))
    put("npz", "sections_store", sections(b"S", [meta, y, x]))
    put("npz", "sections_deflate", sections(b"D", [meta, y, x]))
    put("npz", "sections_padded", sections(b"S", [meta, b"act.npy+4096\n" + preamble("<f4", (2, 512))]))
    put("npz", "sections_f8_i8", sections(b"D", [
        b"w.npy\n" + npy(np.ones((2, 3), dtype="<f8")),
        b"y.npy\n" + npy(np.array([1, 2], dtype="<i8")),
        b"notes.txt\nfree text\n"]))


META = (b"data.name=mnist\ndata.split=train\ndata.classes=10\n"
        b"corrupt.p=0.8\ncorrupt.seed=42\ncorrupt.argv=-p 0.8 --seed 42\n"
        b"model.arch=cnn\nmodel.input=1x28x28\nmodel.classes=10\n"
        b"train.epoch=20\ntrain.lr=0.0002\n")


def meta_seeds():
    put("meta", "tools.txt", META)
    put("meta", "comments_crlf.txt", b"# made by hand\r\n\r\na=1\r\nb = two words \r\n#x\n")
    put("meta", "equals_in_value.txt", b"k=a=b=c\nempty=\nk=again\n")
    put("meta", "no_equals.txt", b"key=value\nnot a pair\n")
    put("meta", "nul.txt", b"a=1\nb=\x00\n")
    put("meta", "no_newline.txt", b"model.input=3x64x64")
    put("meta", "utf8.txt", "name=Ünïcödé ✓\n".encode())


def idx_seeds():
    lab = fx.idx_bytes([4], fx.idx_lab(4))
    img = fx.idx_bytes([4, 8, 8], fx.idx_pix(4, 8, 8))
    put("idx", "labels_1d", b"\x00" + lab)
    put("idx", "images_3d", b"\x02" + img)
    put("idx", "labels_1d_gz", b"\x00" + gzip.compress(lab, mtime=0))
    put("idx", "images_3d_gz", b"\x02" + gzip.compress(img, mtime=0))
    put("idx", "matrix_2d", b"\x01" + fx.idx_bytes([3, 2], range(6)))
    put("idx", "tensor_4d", b"\x03" + fx.idx_bytes([1, 2, 2, 2], range(8)))
    put("idx", "short", b"\x00" + lab[:-1])
    put("idx", "set", b"S" + img + SEP + lab)
    put("idx", "set_gz", b"S" + gzip.compress(img, mtime=0) + SEP + gzip.compress(lab, mtime=0))
    put("idx", "set_label_10", b"S" + fx.idx_bytes([1, 2, 2], range(4)) + SEP + fx.idx_bytes([1], [10]))


def tar_bytes(files, top, gz):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.USTAR_FORMAT) as t:
        for name in sorted(files):
            ti = tarfile.TarInfo(f"{top}/{name}")
            ti.size = len(files[name])
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(files[name]))
    b = buf.getvalue()
    if gz:      # tarfile's gzip header carries the time: pin it
        b = gzip.compress(gzip.decompress(b), mtime=0)
    return b


def cifar_seeds():
    c10 = {f"data_batch_{m}.bin": fx.cifar_member(False, m, 1) for m in range(1, 6)}
    c10["test_batch.bin"] = fx.cifar_member(False, 0, 1)
    c100 = {"train.bin": fx.cifar_member(True, 1, 1), "test.bin": fx.cifar_member(True, 0, 1)}
    put("cifar", "c10_train_tgz", b"\x00" + tar_bytes(c10, "cifar-10-batches-bin", True))
    put("cifar", "c10_test_tar", b"\x04" + tar_bytes({"test_batch.bin": c10["test_batch.bin"]},
                                                     "cifar-10-batches-bin", False))
    put("cifar", "c100_train_tgz_coarse", b"\x09" + tar_bytes(c100, "cifar-100-binary", True))
    put("cifar", "c100_test_tar", b"\x05" + tar_bytes({"test.bin": c100["test.bin"]},
                                                      "cifar-100-binary", False))
    put("cifar", "c10_member_limit1", b"\x12" + fx.cifar_member(False, 0, 2))
    put("cifar", "c100_member_fine", b"\x03" + fx.cifar_member(True, 0, 1))
    put("cifar", "c10_member_partial", b"\x02" + fx.cifar_member(False, 0, 1)[:-5])
    put("cifar", "c10_member_label_10", b"\x02" + b"\x0a" + bytes(3072))


def jpeg64(tag):
    return fx.tag_jpeg(tag, 64)


def tiny_seeds():
    w = b"wnids.txt\n" + ("\n".join(fx.WNIDS) + "\n").encode()
    tr = [f"train/n01000001/images/n01000001_1.JPEG\n".encode() + jpeg64("n01000001_1"),
          f"train/n02000002/images/n02000002_10.JPEG\n".encode() + jpeg64("n02000002_10")]
    ann = b"val/val_annotations.txt\nval_0.JPEG\tn02000002\t0\t0\t63\t63\nval_1.JPEG\tn03000003\t0\t0\t63\t63\n"
    va = [b"val/images/val_0.JPEG\n" + jpeg64("val_0"), b"val/images/val_1.JPEG\n" + jpeg64("val_1")]
    put("tinyimagenet", "train_folder", sections(b"\x00", [w] + tr))
    put("tinyimagenet", "test_folder", sections(b"\x01", [w, ann] + va))
    put("tinyimagenet", "train_zip_sections", sections(b"\x02", [w] + tr))
    put("tinyimagenet", "test_zip_sections_limit1", sections(b"\x0b", [w, ann] + va))
    small = fx.jpeg(32, 32, 3, lambda c, by, bx: 100)
    put("tinyimagenet", "wrong_size", sections(b"\x00", [w, b"train/n01000001/images/s.JPEG\n" + small]))
    put("tinyimagenet", "cut_jpeg", sections(b"\x00", [w, tr[0][:300]]))
    with tempfile.TemporaryDirectory() as d:
        fx.tiny_zip(os.path.join(d, "t.zip"), train=["n01000001_0", "n03000003_1"],
                    val={"val_0": "n02000002"})
        with open(os.path.join(d, "t.zip"), "rb") as f:
            z = f.read()
    put("tinyimagenet", "train_zip", b"\x04" + z)
    put("tinyimagenet", "test_zip", b"\x05" + z)


def checkpoint_seeds():
    if not os.access(os.path.join(TOP, "bin", "train"), os.X_OK):
        print("seeds.py: no bin/train (run make): checkpoint seeds skipped", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as d:
        made = {}
        for arch, shape in (("cnn", (1, 8, 8)), ("mlp", (1, 2, 2))):
            data = os.path.join(d, arch + ".npz")
            with open(data, "wb") as f:
                f.write(data_stream(n=4, c=shape[0], h=shape[1], w=shape[2]))
            ck = os.path.join(d, arch)
            subprocess.run([os.path.join(TOP, "bin", "train"), "--arch", arch, "--max-epochs", "0",
                            "--until", "never", "--ckpt-dir", ck, data], check=True,
                           capture_output=True)
            with zipfile.ZipFile(os.path.join(ck, "epoch-000.npz")) as z:
                made[arch] = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    for arch, members in made.items():
        parts = []
        zeros = []
        for name, b in members:
            if not name.endswith(".npy"):
                parts.append(name.encode() + b"\n" + b)
                zeros.append((name, b))
                continue
            hl = 10 + struct.unpack("<H", b[8:10])[0]
            body = b[:hl]
            if name == "rng.state.npy":     # keep the RNG state itself
                parts.append(name.encode() + b"\n" + b)
            else:
                parts.append(f"{name}+{len(b) - hl}\n".encode() + body)
            zeros.append((name, body + bytes(len(b) - hl)))
        if arch == "mlp":   # a whole MLP is 21 MB: too slow to fuzz; its start
            put("checkpoint", "mlp_partial", sections(b"S", parts[:4]))
            continue
        put("checkpoint", f"{arch}_sections_store", sections(b"S", parts))
        if arch == "cnn":
            put("checkpoint", "cnn_sections_deflate", sections(b"D", parts))
            # Without the optimizer: what dumpacts needs.
            put("checkpoint", "cnn_no_opt", sections(b"S", [p for p in parts if not p.startswith(b"opt.")]))
            put("checkpoint", "cnn_zeros.npz", zip_bytes(zeros, zipfile.ZIP_DEFLATED))
    put("checkpoint", "no_meta.npz", zip_bytes([("fc1.weight.npy", npy(np.zeros((2, 2), "<f4")))]))
    put("checkpoint", "resnet_meta_only", sections(b"S", [
        b"meta.txt\nmodel.arch=resnet18\nmodel.input=3x32x32\nmodel.classes=10\n"]))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    npy_seeds()
    npz_seeds()
    meta_seeds()
    idx_seeds()
    cifar_seeds()
    tiny_seeds()
    checkpoint_seeds()
    for h in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, h))
        size = sum(os.path.getsize(os.path.join(OUT, h, f)) for f in files)
        print(f"{h}: {len(files)} seeds, {size} bytes")


main()
