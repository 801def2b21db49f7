#!/usr/bin/python3
# bench/bench_probe_numpy.py: the authors' MASC in NumPy, timed, for
# bench_probe to compare against: per class, append every row's negation,
# np.cov, np.linalg.eigh, sort descending, k from the cumulative explained
# variance ratio; predict one sample at a time (the angle to each class
# subspace, argmax). Run by build/bench/bench_probe with Debian's python3.
#
#   bench_probe_numpy.py TRAIN.npz TEST.npz [THRESHOLD] [TRAIN_ROWS_TIMED]
#
# Prints "key value" lines: fit, cov, eigh, k_total, predict_test,
# acc_test, predict_train (seconds for all training rows, extrapolated
# from the first TRAIN_ROWS_TIMED rows: the per-sample loop is linear in
# the rows), train_rows_timed.
import sys
import time

import numpy as np


def load(path):
    d = np.load(path)
    x = d["act"] if "act" in d.files else d["x"]
    return x.reshape(len(x), -1), d["y"]


def fit(x, y, classes, threshold):
    bases, t_cov, t_eigh = [], 0.0, 0.0
    for c in range(classes):
        xc = x[y == c]
        a = np.concatenate([xc, -xc])
        t = time.perf_counter()
        cov = np.cov(a, rowvar=False)
        t_cov += time.perf_counter() - t
        t = time.perf_counter()
        w, v = np.linalg.eigh(cov)
        t_eigh += time.perf_counter() - t
        order = np.argsort(w)[::-1]
        w, v = w[order], v[:, order]
        ratio = np.cumsum(w / np.sum(w))
        k = int(np.sum(ratio <= threshold)) + 1
        bases.append(v[:, :k])
    return bases, t_cov, t_eigh


def predict(bases, x):
    pred = np.empty(len(x), np.int64)
    for i in range(len(x)):
        s = x[i]
        n = np.linalg.norm(s)
        pred[i] = np.argmax([np.linalg.norm(b.T @ s) / n for b in bases])
    return pred


def main():
    xtr, ytr = load(sys.argv[1])
    xte, yte = load(sys.argv[2])
    threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.99
    timed = int(sys.argv[4]) if len(sys.argv) > 4 else len(xtr)
    timed = min(timed, len(xtr))
    classes = int(max(ytr.max(), yte.max())) + 1
    t = time.perf_counter()
    bases, t_cov, t_eigh = fit(xtr, ytr, classes, threshold)
    print("fit %.3f" % (time.perf_counter() - t))
    print("cov %.3f" % t_cov)
    print("eigh %.3f" % t_eigh)
    print("k_total %d" % sum(b.shape[1] for b in bases))
    t = time.perf_counter()
    p = predict(bases, xte)
    print("predict_test %.3f" % (time.perf_counter() - t))
    print("acc_test %.4f" % np.mean(p == yte))
    t = time.perf_counter()
    predict(bases, xtr[:timed])
    print("predict_train %.3f" % ((time.perf_counter() - t) * len(xtr) / timed))
    print("train_rows_timed %d" % timed)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
