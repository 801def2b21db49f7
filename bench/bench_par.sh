#!/bin/sh
# bench/bench_par.sh: the worker pool (lib/core/par.c) against OpenMP (GCC's
# libgomp, the same par_for contract built with make PAR=openmp) on what
# the pool is for: whole training epochs of the papers' MLP (batch 32, SGD)
# and CNN (batch 128, Adam) on MNIST, timed as the train process itself,
# at 1 and 2 threads (and 4: more threads than cores). Prints seconds per
# epoch and the ratio OpenMP / pool (above 1: the pool is faster).
#
#   BENCH_N=60000 (images)   BENCH_ARCHS="mlp cnn"   BENCH_THREADS="1 2 4"
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
n=${BENCH_N:-60000}
archs=${BENCH_ARCHS:-mlp cnn}
threads=${BENCH_THREADS:-1 2 4}
data=${MEMPROBE_DATA:-$top/data}
omp="$top/build/omp/tree"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

[ -f "$data/mnist/train-images-idx3-ubyte" ] || { echo "no MNIST in $data (scripts/bootstrap)"; exit 1; }

# The OpenMP build, in a copy of the tree (bin/ stays the pool's).
mkdir -p "$omp"
cmp -s "$top/Makefile" "$omp/Makefile" || rm -rf "$omp/build" "$omp/bin"
(cd "$top" && cp -au Makefile cmd lib include "$omp"/) || exit 1
make --no-print-directory -C "$omp" -j2 PAR=openmp all >"$tmp/build.log" 2>&1 ||
	{ tail "$tmp/build.log"; exit 1; }

"$top/bin/mkdata" mnist --split train --limit "$n" -o "$tmp/d.npz" 2>/dev/null ||
	{ echo "mkdata failed"; exit 1; }

# One epoch, no checkpoint: wall seconds of the whole process.
epoch() { # BIN ARCH THREADS
	s=$(date +%s.%N)
	"$1/train" --arch "$2" --max-epochs 1 --until never --threads "$3" "$tmp/d.npz" 2>/dev/null ||
		{ echo "train failed" >&2; echo 0; return; }
	e=$(date +%s.%N)
	echo "$s $e" | awk '{ printf "%.2f", $2 - $1 }'
}

echo "epochs of $n MNIST images, wall seconds of the train process"
printf '%-5s %8s %9s %9s %14s\n' arch threads pool openmp openmp/pool
for a in $archs; do
	for t in $threads; do
		p=$(epoch "$top/bin" "$a" "$t")
		o=$(epoch "$omp/bin" "$a" "$t")
		printf '%-5s %8s %9s %9s %14s\n' "$a" "$t" "$p" "$o" \
			"$(echo "$p $o" | awk '{ if ($1 > 0) printf "%.2f", $2 / $1; else print "NA" }')"
	done
done
