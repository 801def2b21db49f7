#!/usr/bin/env bats
# lib/ is in layers (doc/HACKING.md): core, stream, data, nn, probe, cli,
# each using only those before it. A header belongs to the layer of the
# .c file of the same name (nn.h and gemm.h have none: their kernels'
# layers); a file may include only headers of its own layer or earlier.
load helpers

@test "layout: no lib/ file includes a header of a later layer" {
	cd "$TOP"
	run awk '
	BEGIN { n = split("core stream data nn probe cli", order, " ")
		for (i = 1; i <= n; i++) rank[order[i]] = i
		layer["nn.h"] = "nn"; layer["gemm.h"] = "core" }
	FNR == 1 { split(FILENAME, p, "/"); L = p[2]; base = p[3]; sub(/\.c$/, ".h", base)
		   if (!(base in layer)) layer[base] = L; file[FILENAME] = L }
	/^#include "/ { h = $2; gsub(/"/, "", h); incs[FILENAME] = incs[FILENAME] " " h }
	END { bad = 0
	      for (f in incs) { m = split(incs[f], hs, " ")
		for (i = 1; i <= m; i++) { h = hs[i]
			if (!(h in layer)) { print f ": unknown header " h; bad = 1; continue }
			if (rank[layer[h]] > rank[file[f]]) { print f " (" file[f] ") includes " h " (" layer[h] ")"; bad = 1 } } }
	      exit bad }' lib/*/*.c
	assert_success
	assert_output ""
	# and every file is in a layer
	run find lib -maxdepth 1 -name '*.c'
	assert_output ""
}
