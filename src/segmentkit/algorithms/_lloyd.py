"""Lloyd's k-means over every row, one compiled pass per iteration.

A pass (:func:`assign_pass`) reads each row once: it finds the row's nearest centre (and
the squared distances to the nearest and the second nearest) and adds the row to that
centre's sum, in C (``_lloyd_kernel.c``) on fixed blocks of rows, several at a time on
threads of their own (the GIL released). The blocks' sums are added in block order, so
the result is the same bits whatever the number of threads.

:func:`lloyd` iterates it as scikit-learn's ``KMeans(algorithm="lloyd")`` does from given
centres (its convergence rules, its relocation of empty clusters), without scikit-learn's
set-up on every row: a checked C-ordered copy of the matrix, a centred copy and a
variance with a temporary the matrix's size (0.4-1.4 s at a million rows on this
project's 2-core VM, against 0.013 s per pass); the variance comes from the first pass.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from segmentkit.algorithms import _lloyd_kernel

__all__ = ["PASS_BLOCK_ROWS", "Pass", "LloydFit", "assign_pass", "mean_variance", "lloyd"]

#: Rows per block of a pass: each block's sums are added in order, then the blocks' in
#: block order, so the block size (not the thread count) fixes the sums' bits. 65,536 rows
#: of 24 features are 12 MB: enough work per call to hide its overhead, small enough that
#: two threads share a million rows evenly (16 blocks).
PASS_BLOCK_ROWS = 65_536


@dataclass(frozen=True)
class Pass:
    """One pass over every row.

    Attributes
    ----------
    labels : numpy.ndarray of int32, shape (n,)
        Each row's nearest centre (the first of equally near ones).
    nearest : numpy.ndarray of float64, shape (n,)
        Squared distance to the nearest centre.
    second : numpy.ndarray of float64, shape (n,), or None
        Squared distance to the second nearest centre (``inf`` with one centre); ``None``
        unless asked for.
    sums : numpy.ndarray of shape (k, d)
        Each centre's sum of its rows.
    counts : numpy.ndarray of int64, shape (k,)
        Each centre's number of rows.
    spread : float
        The rows' sum of squared distances to the first centre (the features' variance
        from it: :func:`mean_variance`).
    """

    labels: np.ndarray
    nearest: np.ndarray
    second: np.ndarray | None
    sums: np.ndarray
    counts: np.ndarray
    spread: float


def assign_pass(X: np.ndarray, centres: np.ndarray, *, threads: int, second: bool = False,
                block: int = PASS_BLOCK_ROWS) -> Pass:
    """Assign every row of ``X`` to its nearest centre and sum the rows per centre.

    Parameters
    ----------
    X : numpy.ndarray of float64, shape (n, d)
        Rows, in either memory order (column-major, as the prepared matrix is, is read
        in place; other layouts are copied a tile at a time).
    centres : numpy.ndarray of shape (k, d)
    threads : int
        Blocks handled at once, each on a thread of its own; the result does not depend on it.
    second : bool
        Return the squared distances to the second nearest centre too.
    block : int
        Rows per block (fixes the bits of the sums; see :data:`PASS_BLOCK_ROWS`).
    """
    X = np.require(X, dtype=np.float64, requirements=["A"])  # native, aligned (e.g. not a record's field)
    centres = np.ascontiguousarray(centres, dtype=np.float64)
    n, d = X.shape
    k = centres.shape[0]
    if centres.ndim != 2 or centres.shape[1] != d or k < 1:
        raise ValueError(f"centres of shape {centres.shape} for rows of {d} features")
    labels = np.empty(n, dtype=np.int32)
    d1 = np.empty(n)
    d2 = np.empty(n) if second else None
    starts = range(0, n, block)
    sums = np.zeros((max(len(starts), 1), k, d))
    counts = np.zeros((max(len(starts), 1), k), dtype=np.int64)
    spreads = [0.0] * max(len(starts), 1)

    def run(i: int) -> None:
        a, b = starts[i], min(n, starts[i] + block)
        spreads[i] = _lloyd_kernel.block_pass(X, centres, a, b, labels[a:b], d1[a:b],
                                              None if d2 is None else d2[a:b], sums[i], counts[i])

    if threads < 2 or len(starts) < 2:
        for i in range(len(starts)):
            run(i)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(run, range(len(starts))))  # list(): a block's error is raised here
    total = sums[0].copy()
    for part in sums[1:]:  # in block order
        total += part
    spread = 0.0
    for part in spreads:  # in block order
        spread += part
    return Pass(labels, d1, d2, total, counts.sum(axis=0), spread)


def mean_variance(found: Pass, centres: np.ndarray) -> float:
    """The mean of the features' variances over the rows of a pass with ``centres``: from
    the rows' sum of squared distances to the first centre, less the squared distance of
    their mean to it (the first centre is a point among the rows, so the difference does
    not lose the variance to rounding as ``E[x²] - E[x]²`` about 0 would)."""
    n = int(found.counts.sum())
    if n == 0:
        return 0.0
    offset = found.sums.sum(axis=0) / n - centres[0]
    return max(found.spread / n - float(offset @ offset), 0.0) / centres.shape[1]


@dataclass(frozen=True)
class LloydFit:
    """The outcome of :func:`lloyd`.

    Attributes
    ----------
    centres : numpy.ndarray of shape (k, d)
    final : Pass
        The pass of every row over ``centres``: labels, both distances, each segment's sum.
    inertia : float
        The sum of the squared distances of the rows to their centres.
    n_iter : int
        Lloyd iterations run (as scikit-learn counts them).
    """

    centres: np.ndarray
    final: Pass
    inertia: float
    n_iter: int


def lloyd(X: np.ndarray, centres: np.ndarray, *, threads: int, max_iter: int = 300,
          tol: float = 1e-4) -> LloydFit:
    """Lloyd's iterations from ``centres`` until the labels stop changing, the centres move
    less than ``tol`` times the mean variance of the features, or ``max_iter``.

    The rules are scikit-learn's ``_kmeans_single_lloyd`` (1.5-1.9): each iteration assigns
    every row to the current centres and moves each centre to its rows' mean; the same
    labels twice end it ("strict convergence"); otherwise a total squared shift of the
    centres within the tolerance ends it. A last pass assigns every row to the final
    centres (after strict convergence to the same labels), with the second distances for
    the confidence. A centre left without rows takes the row farthest from its own centre (the
    farthest first), as scikit-learn relocates empty clusters; where there is none to take
    (more centres than distinct rows) it goes to the largest centre's mean, as scikit-learn
    places it.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
    centres : numpy.ndarray of shape (k, d)
        Where to start (e.g. the best of restarts on a sample).
    threads : int
        Threads of each pass (the result does not depend on it).
    max_iter : int
    tol : float
        Relative tolerance (scikit-learn's ``tol``).
    """
    X = np.require(X, dtype=np.float64, requirements=["A"])
    centres = np.array(centres, dtype=np.float64, order="C")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, not {max_iter}")
    if not np.isfinite(centres).all():
        raise ValueError("Input contains NaN or infinity: k-means needs finite centres")
    limit: float | None = None
    previous: np.ndarray | None = None
    for i in range(max_iter):
        step = assign_pass(X, centres, threads=threads)
        if limit is None:
            # as scikit-learn checks its input: a NaN or infinite value in any row makes its
            # centre's sum NaN or infinite (and would make every distance NaN next)
            if not (np.isfinite(step.sums).all() and np.isfinite(step.spread)):
                raise ValueError("Input contains NaN or infinity: k-means needs finite values")
            limit = mean_variance(step, centres) * tol  # scikit-learn's _tolerance, from this pass
        moved = _means(X, step)
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        if previous is not None and np.array_equal(step.labels, previous):
            break  # strict convergence (the centres are these rows' means already)
        previous = step.labels
        if shift <= limit:
            break
    # every row assigned to the final centres, with both distances for the confidence
    final = assign_pass(X, centres, threads=threads, second=True)
    return LloydFit(centres=centres, final=final, inertia=float(final.nearest.sum()), n_iter=i + 1)


def _means(X: np.ndarray, p: Pass) -> np.ndarray:
    """Each centre's rows' mean; an empty centre takes the farthest row (scikit-learn's
    ``_relocate_empty_clusters_dense``: that row's value leaves its own centre's sum)."""
    sums, counts = p.sums.copy(), p.counts.astype(np.float64)
    empty = np.flatnonzero(counts == 0)
    taken = min(empty.size, p.nearest.size)
    if taken and p.nearest.max() > 0:
        far = np.argpartition(p.nearest, -taken)[:-taken - 1:-1]
        for new, row in zip(empty, far):
            old = p.labels[row]
            sums[old] -= X[row]
            sums[new] = X[row]
            counts[new], counts[old] = 1.0, counts[old] - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    empty = counts == 0  # still no row (more centres than distinct rows): the largest centre's mean
    means[empty] = means[int(np.argmax(counts))]
    return means
