/*
 * eig.c: symmetric eigenproblems for the probes, through LAPACKE.
 *
 * A probe needs every eigenvalue of S_c (the k rule looks at the whole
 * spectrum) but only the k_c leading eigenvectors. A full solver (dsyevd)
 * would compute all D of them and spend most of its time doing it; here the
 * matrix is reduced to tridiagonal form once (dsytrd), the eigenvalues come
 * from that form (dsterf, O(n^2)), and only the k wanted eigenvectors are
 * computed (dstemr with an index range, O(nk)) and carried back to the
 * original basis (dormtr, O(n^2 k)).
 */
#include "gram.h"

#include <float.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int eig_path;

int eig_reduce(struct eig *e, double *a, size_t n)
{
	memset(e, 0, sizeof *e);
	if (n > EIG_MAX_N)
		return mp_error("eigenproblem of size %zu is too large for LAPACK (at most %d)",
				n, EIG_MAX_N);
	e->n = n;
	e->a = a;
	e->d = xmallocarray(n + 1, sizeof *e->d);
	e->e = xcalloc(n + 1, sizeof *e->e);
	e->tau = xcalloc(n + 1, sizeof *e->tau);
	e->w = xmallocarray(n + 1, sizeof *e->w);
	if (n == 0)
		return 0;
	lapack_int info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', (lapack_int)n, a,
					 (lapack_int)n, e->d, e->e, e->tau);
	if (info)
		return mp_error("dsytrd failed (info %d)", (int)info);
	double *d = xmallocarray(n, sizeof *d), *off = xcalloc(n, sizeof *off);
	memcpy(d, e->d, n * sizeof *d);
	memcpy(off, e->e, (n - 1) * sizeof *off);
	info = LAPACKE_dsterf((lapack_int)n, d, off);
	if (!info)
		for (size_t i = 0; i < n; i++)
			e->w[i] = d[n - 1 - i];
	free(d);
	free(off);
	if (info)
		return mp_error("dsterf failed to converge (info %d)", (int)info);
	return 0;
}

/* Eigenvectors il..iu (1-based, ascending) of the tridiagonal form into z
 * (n, m) column-major, eigenvalues ascending in wv. MRRR first. */
static int tri_vectors_mrrr(const struct eig *e, lapack_int il, lapack_int iu,
			    double *z, double *wv)
{
	size_t n = e->n, m = (size_t)(iu - il + 1);
	double *d = xmallocarray(n, sizeof *d), *off = xcalloc(n, sizeof *off);
	lapack_int *supp = xmallocarray(2 * m, sizeof *supp);
	lapack_int got = 0;
	lapack_logical tryrac = 1;
	memcpy(d, e->d, n * sizeof *d);
	memcpy(off, e->e, (n - 1) * sizeof *off);
	lapack_int info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', (lapack_int)n,
					 d, off, 0.0, 0.0, il, iu, &got, wv, z,
					 (lapack_int)n, (lapack_int)m, supp, &tryrac);
	free(d);
	free(off);
	free(supp);
	return info || (size_t)got != m ? -1 : 0;
}

/* Divide and conquer for every eigenvector of the tridiagonal form, keeping
 * the top m: O(n^3) but in BLAS3, and cheaper than MRRR's O(nm) bisection
 * and twisted factorisations once m is a sizeable fraction of n. */
static int tri_vectors_dc(const struct eig *e, size_t m, double *z, double *wv)
{
	size_t n = e->n;
	double *d = xmallocarray(n, sizeof *d), *off = xcalloc(n, sizeof *off);
	double *all = xmallocarray(n * n, sizeof *all);
	memcpy(d, e->d, n * sizeof *d);
	memcpy(off, e->e, (n - 1) * sizeof *off);
	lapack_int info = LAPACKE_dstedc(LAPACK_COL_MAJOR, 'I', (lapack_int)n, d, off,
					 all, (lapack_int)n);
	if (!info) {
		memcpy(z, all + (n - m) * n, m * n * sizeof *z);
		memcpy(wv, d + (n - m), m * sizeof *wv);
	}
	free(d);
	free(off);
	free(all);
	return info ? -1 : 0;
}

/* Bisection + inverse iteration: slower, but it does not give up where
 * MRRR occasionally does. The result is sorted ascending like dstemr's. */
static int tri_vectors_stein(const struct eig *e, lapack_int il, lapack_int iu,
			     double *z, double *wv)
{
	size_t n = e->n, m = (size_t)(iu - il + 1);
	lapack_int got = 0, nsplit = 0;
	lapack_int *iblock = xmallocarray(n, sizeof *iblock);
	lapack_int *isplit = xmallocarray(n, sizeof *isplit);
	lapack_int *ifail = xmallocarray(m, sizeof *ifail);
	double *wall = xmallocarray(n, sizeof *wall);
	int ret = -1;
	lapack_int info = LAPACKE_dstebz('I', 'B', (lapack_int)n, 0.0, 0.0, il, iu,
					 0.0, e->d, e->e, &got, &nsplit, wall,
					 iblock, isplit);
	if (info || (size_t)got != m)
		goto out;
	double *zt = xmallocarray(n * m, sizeof *zt);
	info = LAPACKE_dstein(LAPACK_COL_MAJOR, (lapack_int)n, e->d, e->e, got, wall,
			      iblock, isplit, zt, (lapack_int)n, ifail);
	if (!info) {
		/* 'B' orders by split block: sort the pairs ascending. */
		size_t *idx = xmallocarray(m, sizeof *idx);
		for (size_t j = 0; j < m; j++) {
			size_t i = j;
			for (; i > 0 && wall[idx[i - 1]] > wall[j]; i--)
				idx[i] = idx[i - 1];
			idx[i] = j;
		}
		for (size_t j = 0; j < m; j++) {
			wv[j] = wall[idx[j]];
			memcpy(z + j * n, zt + idx[j] * n, n * sizeof *z);
		}
		free(idx);
		ret = 0;
	}
	free(zt);
out:
	free(iblock);
	free(isplit);
	free(ifail);
	free(wall);
	return ret;
}

int eig_vectors(struct eig *e, size_t k, double *v)
{
	size_t n = e->n;
	MP_ASSERT(k <= n);
	if (k == 0)
		return 0;
	lapack_int il = (lapack_int)(n - k + 1), iu = (lapack_int)n;
	double *z = xmallocarray(n * k, sizeof *z), *wv = xmallocarray(n, sizeof *wv);
	int ret = -1;
	int rc = -1;
	/* Measured on a 2048^2 scatter matrix: divide and conquer for all
	 * vectors costs about what MRRR costs for n^2/8000 of them. */
	int dc = n <= 4096 && (double)k * 8000.0 > (double)n * (double)n;
	if (eig_path == EIG_PATH_DC || (eig_path == EIG_PATH_AUTO && dc))
		rc = tri_vectors_dc(e, k, z, wv);
	if (rc && (eig_path == EIG_PATH_AUTO || eig_path == EIG_PATH_MRRR))
		rc = tri_vectors_mrrr(e, il, iu, z, wv);
	if (rc)
		rc = tri_vectors_stein(e, il, iu, z, wv);
	if (rc) {
		mp_error("no eigenvectors for the %zu largest eigenvalues of a %zu x %zu matrix",
			 k, n, n);
		goto out;
	}
	lapack_int info = LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', (lapack_int)n,
					 (lapack_int)k, e->a, (lapack_int)n, e->tau,
					 z, (lapack_int)n);
	if (info) {
		mp_error("dormtr failed (info %d)", (int)info);
		goto out;
	}
	/* Column j of z (ascending) is row k-1-j of v (descending). */
	for (size_t j = 0; j < k; j++)
		memcpy(v + (k - 1 - j) * n, z + j * n, n * sizeof *v);
	ret = 0;
out:
	free(z);
	free(wv);
	return ret;
}

void eig_release(struct eig *e)
{
	free(e->d);
	free(e->e);
	free(e->tau);
	free(e->w);
	memset(e, 0, sizeof *e);
}

size_t eig_rank(const double *w, size_t n)
{
	if (n == 0 || !(w[0] > 0))
		return 0;
	double tol = w[0] * (double)n * DBL_EPSILON;
	size_t r = 0;
	while (r < n && w[r] > tol)
		r++;
	return r;
}

/* The sum of all eigenvalues, smallest first (the most accurate order). */
static double eig_total(const double *w, size_t n)
{
	double t = 0;
	for (size_t i = n; i-- > 0; )
		t += w[i];
	return t;
}

size_t eig_count_var(const double *w, size_t n, double t, double *reached)
{
	double total = eig_total(w, n), cum = 0;
	if (reached)
		*reached = 0;
	if (!(total > 0))
		return 0;
	/* Ratios first, then their running sum, as np.cumsum(w / w.sum()). */
	for (size_t j = 0; j < n; j++) {
		cum += w[j] / total;
		if (cum > t) {
			if (reached)
				*reached = cum;
			return j + 1;
		}
	}
	if (reached)
		*reached = cum;
	return n;
}

double eig_ratio(const double *w, size_t n, size_t k)
{
	double total = eig_total(w, n), cum = 0;
	if (!(total > 0))
		return 0;
	for (size_t j = 0; j < k && j < n; j++)
		cum += w[j] / total;
	return cum;
}
