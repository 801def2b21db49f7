"""tests/fixtures.py: the fixture writers of every bats file.

First, with the standard library only: each data set in its real
distribution format (IDX raw and .gz, the CIFAR binary tarballs and
folders, scikit-learn's digits CSV, a miniature Tiny ImageNet of baseline
JPEGs), and the values they hold so that NumPy checks can recompute them.
tests/mkdata.bats uses the patterned writers, tests/archs.bats the random
ones (content for training to fit).

Then, with NumPy: NPZ streams as the tools exchange them (write() puts
meta.txt first and the members in the order given, which np.savez cannot),
hostile .npy members (headers that claim more than follows, headers that
lie), and the arrays the tool tests feed them.

tests/helpers.bash runs every snippet after `from fixtures import *` with
this folder on PYTHONPATH: `fx` (standard library) and `npy` (NumPy). The
star import also brings the modules imported here (io, zipfile, zlib ...)
and NumPy as np.
"""
import gzip, io, os, random, struct, tarfile, zipfile, zlib
try:
    import numpy as np
except ImportError:             # fx: the writers above need only the standard library
    np = None

def idx_bytes(dims, data):
    return struct.pack(">I", 0x800 | len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)

def put(path, b, gz=False):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if gz:
        with gzip.GzipFile(path, "wb", mtime=0) as f: f.write(b)
    else:
        with open(path, "wb") as f: f.write(b)

# IDX: n images of r x c; image i pixel k = (i*r*c + k) % 256 (n=4, 8x8:
# every value 0..255 once); labels (7 + 3i) % 10.
def idx_pix(n, r, c): return [(i * r * c + k) % 256 for i in range(n) for k in range(r * c)]
def idx_lab(n): return [(7 + 3 * i) % 10 for i in range(n)]
def mnist(d, n=4, r=8, c=8, gz=False, pre="train"):
    s = ".gz" if gz else ""
    put(f"{d}/{pre}-images-idx3-ubyte{s}", idx_bytes([n, r, c], idx_pix(n, r, c)), gz)
    put(f"{d}/{pre}-labels-idx1-ubyte{s}", idx_bytes([n], idx_lab(n)), gz)

# CIFAR: record j of member m: label(s) and pixel k = (31m + 7j + k) % 256.
def cifar_pix(m, j): return bytes((31 * m + 7 * j + k) % 256 for k in range(3072))
def c10_label(m, j): return (3 * m + j) % 10
def c100_labels(m, j): return (m + 5 * j) % 20, (11 * m + 13 * j) % 100
def cifar_member(hundred, m, n):
    b = b""
    for j in range(n):
        lab = bytes(c100_labels(m, j)) if hundred else bytes([c10_label(m, j)])
        b += lab + cifar_pix(m, j)
    return b
# CIFAR-10: data_batch_1..5 (m = 1..5) with m records each, test_batch (m = 0) 3.
C10 = [("data_batch_%d.bin" % m, m, m) for m in range(1, 6)] + [("test_batch.bin", 0, 3)]
C100 = [("train.bin", 1, 4), ("test.bin", 0, 2)]
def cifar_files(hundred):
    return {name: cifar_member(hundred, m, n) for name, m, n in (C100 if hundred else C10)}
def cifar_tar(path, hundred, drop=None, cut=None, mangle=None, flip=None, files=None):
    top = "cifar-100-binary" if hundred else "cifar-10-batches-bin"
    files = dict(files or cifar_files(hundred))
    files["readme.html"] = b"<html></html>"
    if mangle: files[mangle[0]] = mangle[1]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name in sorted(files, reverse=True):     # not in batch order
            if name == drop: continue
            ti = tarfile.TarInfo(f"{top}/{name}"); ti.size = len(files[name]); ti.mtime = 0
            t.addfile(ti, io.BytesIO(files[name]))
    b = bytearray(buf.getvalue())
    if flip: b[flip] ^= 0xff
    put(path, bytes(b[:cut] if cut else b))
def cifar_dir(d, hundred):
    for name, b in cifar_files(hundred).items(): put(f"{d}/{name}", b)

# Digits: n rows of 64 values 0..16 and a label, written as floats as
# sklearn ships them. Row i pixel k = (i + k) % 17, label i % 10.
def digits_rows(n): return [[(i + k) % 17 for k in range(64)] + [i % 10] for i in range(n)]
def digits(path, n=10, gz=True, bad=None):
    lines = [",".join("%.18e" % v for v in row) for row in digits_rows(n)]
    if bad is not None: lines[bad] = ",".join(["1"] * 64)
    put(path, ("\n".join(lines) + "\n").encode(), gz)

# A baseline JPEG writer: every 8x8 block one flat colour (DC only,
# quantiser 8), so a decoder gives back exactly 128 + dc in each block.
def huff(bits, vals):
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length); code += 1; k += 1
        code <<= 1
    return codes
DCB = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]; DCV = list(range(12))
ACB = [0, 2] + [0] * 14; ACV = [0x00, 0xF0]
DCH, ACH = huff(DCB, DCV), huff(ACB, ACV)
class Bits:
    def __init__(s): s.out, s.acc, s.n = bytearray(), 0, 0
    def put(s, v, n):
        for i in range(n - 1, -1, -1):
            s.acc = (s.acc << 1) | ((v >> i) & 1); s.n += 1
            if s.n == 8:
                s.out.append(s.acc)
                if s.acc == 0xFF: s.out.append(0)
                s.acc, s.n = 0, 0
    def flush(s):
        while s.n: s.put(1, 1)
        return bytes(s.out)
def seg(m, p): return struct.pack(">BBH", 0xFF, m, len(p) + 2) + p
def jpeg(w, h, nc, f):
    out = b"\xff\xd8" + seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += seg(0xDB, b"\x00" + bytes([8] * 64))
    out += seg(0xC0, struct.pack(">BHHB", 8, h, w, nc) + b"".join(bytes([c + 1, 0x11, 0]) for c in range(nc)))
    out += seg(0xC4, b"\x00" + bytes(DCB) + bytes(DCV)) + seg(0xC4, b"\x10" + bytes(ACB) + bytes(ACV))
    out += seg(0xDA, bytes([nc]) + b"".join(bytes([c + 1, 0]) for c in range(nc)) + b"\x00\x3f\x00")
    b, pred = Bits(), [0] * nc
    for by in range((h + 7) // 8):
        for bx in range((w + 7) // 8):
            for c in range(nc):
                dc = f(c, by, bx) - 128; diff = dc - pred[c]; pred[c] = dc
                s = abs(diff).bit_length(); b.put(*DCH[s])
                if s: b.put(diff if diff >= 0 else diff + (1 << s) - 1, s)
                b.put(*ACH[0])
    return out + b.flush() + b"\xff\xd9"

# Tiny ImageNet: 3 classes (wnids.txt unsorted), 3 training images each
# (_0 _1 _10), 4 val images (val_0 val_1 val_10 val_2). Image `tag` has Y
# block (by, bx) = base + 3*by + bx; n01000001_1 carries colour (Cb 90,
# Cr 200), n02000002_10 is grayscale, the rest have neutral chroma.
WNIDS = ["n03000003", "n01000001", "n02000002"]
TRAIN = [f"{w}_{k}" for w in sorted(WNIDS) for k in ("0", "1", "10")]
VAL = {"val_0": "n02000002", "val_1": "n03000003", "val_10": "n01000001", "val_2": "n02000002"}
def tag_base(tag): return 10 + 9 * (sorted(TRAIN + list(VAL)).index(tag))
def tag_ncomp(tag): return 1 if tag == "n02000002_10" else 3
def tag_f(tag):
    base = tag_base(tag)
    chroma = (90, 200) if tag == "n01000001_1" else (128, 128)
    return lambda c, by, bx: base + 3 * by + bx if c == 0 else chroma[c - 1]
def tag_rgb(tag):
    # The expected (3, 64, 64) RGB as JFIF converts YCbCr (libjpeg rounds
    # the same way, within 1).
    f = tag_f(tag); out = [[[0] * 64 for _ in range(64)] for _ in range(3)]
    for y in range(64):
        for x in range(64):
            Y = f(0, y // 8, x // 8); cb = f(1, 0, 0) - 128; cr = f(2, 0, 0) - 128
            rgb = (Y + 1.402 * cr, Y - 0.344136 * cb - 0.714136 * cr, Y + 1.772 * cb)
            for c in range(3): out[c][y][x] = min(255, max(0, int(rgb[c] + 0.5)))
    return out
def tag_jpeg(tag, size): return jpeg(size, size, tag_ncomp(tag), tag_f(tag))
# train: image tags "wnid_k"; val: tag -> wnid; image(tag, size): its JPEG.
def tiny_files(size=64, drop_annot=None, bad=None, extra_class=None, train=TRAIN, val=VAL, image=tag_jpeg):
    r = "tiny-imagenet-200/"
    files = {r + "wnids.txt": ("\n".join(WNIDS) + "\n").encode(), r + "words.txt": b"n01000001\tthing\n"}
    for tag in train:
        w = tag.split("_")[0]
        files[f"{r}train/{w}/images/{tag}.JPEG"] = image(tag, size)
        files[f"{r}train/{w}/{w}_boxes.txt"] = f"{tag}.JPEG\t0\t0\t63\t63\n".encode()
    for tag in val: files[f"{r}val/images/{tag}.JPEG"] = image(tag, size)
    files[r + "val/val_annotations.txt"] = "".join(f"{t}.JPEG\t{w}\t0\t0\t63\t63\n" for t, w in val.items() if t != drop_annot).encode()
    files[r + "test/images/test_0.JPEG"] = jpeg(size, size, 3, lambda c, by, bx: 128)
    if bad: files[r + bad] = files[r + bad][:200]
    if extra_class:
        files[f"{r}train/{extra_class}/images/{extra_class}_0.JPEG"] = jpeg(64, 64, 1, lambda c, by, bx: 50)
    return files
def tiny_zip(path, **kw):
    files = tiny_files(**kw)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files, reverse=True):       # images before wnids.txt
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), files[name])
def tiny_dir(d, **kw):
    for name, b in tiny_files(**kw).items(): put(f"{d}/{name}", b)

# Random content for training to fit (tests/archs.bats): one generator, so
# the data depend on the order of the calls (CIFAR-100, then Tiny ImageNet).
R = random.Random(5)
def random_cifar100(path, ntrain=8, ntest=4):
    def recs(n): return b"".join(bytes([R.randrange(20), R.randrange(100)]) + bytes(R.randrange(256) for _ in range(3072)) for _ in range(n))
    cifar_tar(path, True, files={"train.bin": recs(ntrain), "test.bin": recs(ntest)})
def random_jpeg(tag, size):
    t = [[[R.randrange(40, 216) for _ in range(size // 8)] for _ in range(size // 8)] for _ in range(3)]
    return jpeg(size, size, 3, lambda c, by, bx: t[c][by][bx])
def random_tiny(path, per=3, nval=4):
    tiny_zip(path, train=[f"{w}_{k}" for w in WNIDS for k in range(per)],
             val={f"val_{k}": WNIDS[k % 3] for k in range(nval)}, image=random_jpeg)


# ---- NPZ streams (NumPy) ----------------------------------------------------

def npy_bytes(a, version=None):
    """An array's .npy member, as np.save writes it (version: force (1, 0),
    (2, 0) or (3, 0))."""
    b = io.BytesIO(); np.lib.format.write_array(b, np.asarray(a), version=version); return b.getvalue()

def write(path, meta, arrays, compress=False):
    """A stream: meta.txt (text, or None for none) first, then the (name,
    array) members in the order given; stored, or deflated. A member given
    as bytes (npyraw(), lie()) is written as it is."""
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode) as z:
        if meta is not None:
            z.writestr("meta.txt", meta)
        for k, v in arrays:
            z.writestr(k + ".npy", v if isinstance(v, bytes) else npy_bytes(v))

def npyraw(shape, descr="<f4", nbytes=40000):
    """A .npy header that claims `shape`, followed by only `nbytes` of data."""
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, dict(descr=descr, fortran_order=False, shape=tuple(shape)))
    return b.getvalue() + bytes(nbytes)

def lie(descr, shape, data):
    """A .npy member whose header claims `shape` (a string) but holds `data`."""
    d = ("{%r: %r, %r: False, %r: %s, }" % ("descr", descr, "fortran_order", "shape", shape)).encode()
    n = (10 + len(d) + 1 + 63) // 64 * 64 - 10
    return b"\x93NUMPY\x01\x00" + n.to_bytes(2, "little") + d + b" " * (n - len(d) - 1) + b"\n" + data

def zwrite(path, members, deflate=False):
    """A zip of (file name, bytes) members in order, nothing added."""
    mode = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode) as z:
        for k, v in members:
            z.writestr(k, v)

def rawzip(path, members):
    """A stored zip built byte by byte, for (bytes name, bytes) members
    whose names zipfile will not write."""
    out, cd = b"", b""
    for name, data in members:
        crc = zlib.crc32(data)
        cd += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc,
                          len(data), len(data), len(name), 0, 0, 0, 0, 0, len(out)) + name
        out += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc,
                           len(data), len(data), len(name), 0) + name + data
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(cd), len(out), 0)
    open(path, "wb").write(out + cd + end)

def meta(path):
    """A stream's meta.txt as a dict."""
    return dict(l.split("=", 1) for l in zipfile.ZipFile(path).read("meta.txt").decode().splitlines() if l)

def listing(z):
    """What `npzcat list` prints for the zipfile.ZipFile z NumPy reads:
    name, dtype, shape and CRC of the array bytes (text: its length)."""
    out = []
    for name in z.namelist():
        raw = z.read(name)
        if name.endswith(".npy"):
            a = np.lib.format.read_array(io.BytesIO(raw))
            out.append("%s\t%s\t%r\t%08x" % (name[:-4], a.dtype.str, a.shape, zlib.crc32(a.tobytes())))
        else:
            out.append("%s\ttext\t%d\t%08x" % (name, len(raw), zlib.crc32(raw)))
    return "\n".join(out)

def seq(dt, shape):
    """The array `npzcat write NAME:DT:SHAPE` makes with fill 'seq'."""
    n = int(np.prod(shape, dtype=np.int64))
    i = np.arange(n, dtype=np.int64)
    v = {"f4": i * 0.5 - 3, "f8": i * 0.5 - 3, "i4": i * 7 - 100,
         "i8": i * 2**33 - 5, "u1": (i * 37) % 256}[dt]
    return v.astype({"f4": "<f4", "f8": "<f8", "i4": "<i4", "i8": "<i8", "u1": "|u1"}[dt]).reshape(shape)

# ---- the arrays the tool tests feed them (NumPy) -----------------------------

def images(path, n, c, h, w, seed=1, truth=False):
    """A data stream of n samples (c, h, w) uniform in [-1, 1), labels
    0..9 (every class present when n >= 10), written by np.savez (labels
    int64). Shuffled labels; or, with truth, labels in order with y_true
    and flipped as corrupt writes them (every third sample's y_true moved
    by 4)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    if truth:
        yt = y.copy(); yt[::3] = (yt[::3] + 4) % 10
        x = rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)
        np.savez(path, y=y, y_true=yt, flipped=(y != yt).astype(np.uint8), x=x)
    else:
        rng.shuffle(y)
        np.savez(path, y=y, x=rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32))

def small_images(n, c=10, seed=0):
    """y (n) in 0..c-1 and x (n, 1, 2, 3) float32 in [0, 1) (tests/corrupt.bats)."""
    rs = np.random.RandomState(seed)
    return rs.randint(0, c, n), rs.rand(n, 1, 2, 3).astype(np.float32)

def probe_rows(n, d=20, c=3, seed=0, nudge=1.0):
    """Activation rows of c classes with distinct directions for the
    probes: y (n) and x (n, d) float32, class k pushed along axis k and,
    by nudge times a uniform value, along axis k + 1 (masc: 1; velpic: -3,
    against the sign rule)."""
    rs = np.random.RandomState(seed)
    y = rs.randint(0, c, n)
    x = rs.randn(n, d) / (1 + 0.3 * np.arange(d))
    x[np.arange(n), y] += 2.0
    x[np.arange(n), (y + 1) % d] += nudge * rs.rand(n)
    return y, x.astype(np.float32)

def act_stream(path, meta, n, seed, truth=None, flipped=False, nudge=1.0):
    """An activation stream as dumpacts writes it, of probe_rows(n, seed=,
    nudge=): y, then y_true = (y + truth) % 3 if truth, flipped (all ones)
    if flipped, then act."""
    y, x = probe_rows(n, seed=seed, nudge=nudge)
    write(path, meta, [("y", y)] + ([("y_true", (y + truth) % 3)] if truth else [])
          + ([("flipped", np.ones(n, np.uint8))] if flipped else []) + [("act", x)])

def mlp_state_dict(path, dtype):
    """A PyTorch-style state_dict of the MLP on 1x8x8 with 10 classes, written
    by NumPy without training: weights and biases N(0, 0.05) (seed 0) as dtype."""
    rng = np.random.default_rng(0)
    sizes = [64, 128, 512, 2048, 2048, 10]
    arrays = []
    for i in range(5):
        for k, s in (("weight", (sizes[i + 1], sizes[i])), ("bias", (sizes[i + 1],))):
            arrays.append(("fc%d.%s" % (i + 1, k), (rng.normal(size=s) * 0.05).astype(dtype)))
    write(path, "model.arch=mlp\nmodel.input=1x8x8\nmodel.classes=10\n", arrays)
