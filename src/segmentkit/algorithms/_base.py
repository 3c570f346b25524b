"""The contract every clustering algorithm fulfils.

An algorithm is one module in :mod:`segmentkit.algorithms` that defines a module-level
constant ``SPEC`` of type :class:`AlgorithmSpec`. The registry discovers these modules, so
adding an algorithm is a one-file change.

Fitted state is a JSON-safe ``dict`` (lists, numbers, strings) so a saved model can be
loaded without ``pickle``: :attr:`AlgorithmSpec.predict` rebuilds whatever it needs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from segmentkit.algorithms._lloyd import PASS_BLOCK_ROWS, assign_pass

__all__ = [
    "Capabilities",
    "Fitted",
    "AlgorithmSpec",
    "assign_noise",
    "nearest_centre",
    "distance_confidence",
    "relabel_by_size",
    "segment_centres",
    "knee_index",
    "FIT_OPENMP_THREADS",
    "fit_threads",
]

NOISE = -1

#: OpenMP threads for every fit. scikit-learn's Lloyd iterations (k-means) sum each OpenMP
#: thread's share of the rows into zeroed centres in whichever order the threads finish: two
#: shares give the same bits in either order (``0 + a + b == 0 + b + a``), three need not
#: (addition is commutative but not associative). Two threads keep a fit byte-identical run to
#: run and use both cores of a laptop; scikit-learn uses fewer where the machine has fewer.
FIT_OPENMP_THREADS = 2


def fit_threads() -> threadpool_limits:
    """The thread limits every fit runs under: BLAS on one thread, OpenMP on
    :data:`FIT_OPENMP_THREADS`.

    BLAS stays on one thread: a product's idle OpenBLAS threads spin after it and slow
    k-means' own OpenMP threads several-fold. Use one context around a whole sweep, not one
    per fit: each costs about a millisecond (it scans the process's loaded libraries), and
    a selection makes hundreds of fits.
    """
    return threadpool_limits(limits={"blas": 1, "openmp": FIT_OPENMP_THREADS})


@dataclass(frozen=True)
class Capabilities:
    """What an algorithm can do; the pipeline adapts to it.

    Attributes
    ----------
    needs_k : bool
        The number of segments is a parameter (k-means, Ward, GMM, k-prototypes).
    predicts : bool
        It assigns new points natively (otherwise the pipeline uses the nearest centre).
    noise : bool
        It may leave points unassigned, labelled ``-1``.
    soft : bool
        It gives a membership probability per point (used as ``confidence``).
    categorical : bool
        It uses categorical columns directly.
    size_parameter : str or None
        For density-based algorithms (``needs_k=False``): the option swept by the
        selection instead of ``k``, e.g. ``"min_cluster_share"``.
    size_values : tuple of float
        The default sweep of ``size_parameter``.
    """

    needs_k: bool
    predicts: bool
    noise: bool
    soft: bool
    categorical: bool = False
    size_parameter: str | None = None
    size_values: tuple[float, ...] = ()


@dataclass(frozen=True)
class Fitted:
    """The outcome of fitting one algorithm on one matrix.

    Attributes
    ----------
    labels : numpy.ndarray
        Integer label per row, ``-1`` for noise; labels are ``0..k-1`` otherwise.
    state : dict
        JSON-safe parameters from which :attr:`AlgorithmSpec.predict` assigns new rows.
    confidence : numpy.ndarray or None
        Membership probability (or a distance-based confidence) per row.
    details : dict
        JSON-safe extras for diagnostics and the report (inertia, BIC, dendrogram, ...).
    """

    labels: np.ndarray
    state: dict[str, Any]
    confidence: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)


FitFunction = Callable[..., Fitted]
FitPathFunction = Callable[..., dict[int, Fitted]]
PredictFunction = Callable[[Mapping[str, Any], np.ndarray], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class AlgorithmSpec:
    """A clustering algorithm as the registry knows it.

    Attributes
    ----------
    name : str
        Registry key, as given to ``--algorithm``.
    description : str
        One line for ``--help`` and the report.
    capabilities : Capabilities
        What it can do.
    fit : callable
        ``fit(X, *, k, random_state, **options) -> Fitted``. ``k`` is ``None`` for
        algorithms that do not need it.
    predict : callable
        ``predict(state, X) -> (labels, confidence or None)`` for new rows.
    fit_path : callable or None
        Optional ``fit_path(X, *, k_values, random_state, **options) -> {k: Fitted}``
        that fits several ``k`` at once (hierarchical methods cut one tree). The
        selection uses it when present; results equal ``fit`` for each ``k``.
    """

    name: str
    description: str
    capabilities: Capabilities
    fit: FitFunction
    predict: PredictFunction
    fit_path: FitPathFunction | None = None


def nearest_centre(centres: np.ndarray, X: np.ndarray, *, block: int = PASS_BLOCK_ROWS,
                   threads: int = FIT_OPENMP_THREADS) -> tuple[np.ndarray, np.ndarray]:
    """Assign rows to their nearest centre (one compiled pass, :func:`~segmentkit.algorithms._lloyd.assign_pass`:
    the same arithmetic as the k-means fit's, so a fitted row is assigned again to its segment).

    Parameters
    ----------
    centres : numpy.ndarray of shape (k, d)
    X : numpy.ndarray of shape (n, d)
    block : int, default PASS_BLOCK_ROWS
        Rows handled at a time (each row's answer is its own: the blocks change nothing).
    threads : int, default FIT_OPENMP_THREADS
        Blocks handled at once, each by one thread (the GIL released); each row's answer is
        still its own, so the answer does not depend on it.

    Returns
    -------
    labels : numpy.ndarray of shape (n,)
        Index of the nearest centre (the first of equally near ones).
    confidence : numpy.ndarray of shape (n,)
        :func:`distance_confidence`: 0 on a boundary, close to 1 deep inside a segment.
    """
    X = np.asarray(X, dtype=float)
    if X.shape[0] == 0:
        return np.empty(0, dtype=np.intp), np.empty(0)
    found = assign_pass(X, centres, threads=threads, second=True, block=block)
    return found.labels.astype(np.intp), distance_confidence(found.nearest, found.second)


def distance_confidence(nearest: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``1 - d1 / d2`` from the squared distances to the nearest and the second nearest
    centre (``d1``, ``d2`` their square roots): 0 on a boundary (and where both are 0), close
    to 1 deep inside a segment, 1 with a single centre (``second`` infinite). Overwrites
    both arrays."""
    np.sqrt(nearest, out=nearest)
    np.sqrt(second, out=second)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(nearest, second, out=nearest)
    np.subtract(1.0, nearest, out=nearest)
    nearest[~(second > 0)] = 0.0
    return nearest


def assign_noise(labels: np.ndarray, X: np.ndarray, centres: Mapping[int, Sequence[float]]) -> np.ndarray:
    """Labels with every noise row (``-1``) moved to the segment of its nearest centre.

    Parameters
    ----------
    labels : numpy.ndarray of shape (n,)
        Segment ids, ``-1`` for noise.
    X : numpy.ndarray of shape (n, d)
        The rows, in the space of the centres.
    centres : mapping of int to array-like of shape (d,)
        Segment id → centre. Without noise or without centres the labels come back as they are.
    """
    if not ((labels < 0).any() and centres):
        return labels
    ids = np.array(sorted(centres))
    fill, _ = nearest_centre(np.array([centres[i] for i in ids]), X[labels < 0])
    labels = labels.copy()
    labels[labels < 0] = ids[fill]
    return labels


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber segments ``0..k-1`` by decreasing size; noise (``-1``) stays ``-1``.

    Ties are broken by the first row of each segment, so the result depends only on the
    partition, not on the arbitrary numbering an algorithm produced.
    """
    labels = np.asarray(labels, dtype=int)
    out = np.full(labels.shape, NOISE, dtype=int)
    valid = labels != NOISE
    if not valid.any():
        return out
    uniq, first, counts = np.unique(labels[valid], return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(uniq.size, dtype=int)
    mapping[order] = np.arange(uniq.size)
    out[valid] = mapping[np.searchsorted(uniq, labels[valid])]
    return out


def segment_centres(X: np.ndarray, labels: np.ndarray, k: int | None = None) -> np.ndarray:
    """Mean of each segment ``0..k-1`` (noise rows are ignored).

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
    labels : numpy.ndarray of shape (n,)
    k : int, optional
        Number of segments; defaults to ``labels.max() + 1``.

    Returns
    -------
    numpy.ndarray of shape (k, d)
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels, dtype=int)
    if k is None:
        k = int(labels.max()) + 1 if labels.size else 0
    valid = labels >= 0
    lab = labels[valid]
    counts = np.bincount(lab, minlength=k).astype(float)
    sums = np.column_stack(
        [np.bincount(lab, weights=X[valid, j], minlength=k) for j in range(X.shape[1])]
    ).reshape(k, X.shape[1])
    return sums / np.maximum(counts, 1.0)[:, None]


def knee_index(y: np.ndarray) -> int:
    """Index of the knee of a monotone curve (Kneedle: farthest point from the chord).

    Both axes are scaled to ``[0, 1]``; the knee is the point with the largest distance
    to the straight line joining the first and the last point. Returns 0 for fewer than
    three points or a flat curve.
    """
    y = np.asarray(y, dtype=float)
    if y.size < 3 or not np.isfinite(y).all() or np.ptp(y) == 0:
        return 0
    x = np.linspace(0.0, 1.0, y.size)
    yn = (y - y.min()) / np.ptp(y)
    chord = yn[0] + (yn[-1] - yn[0]) * x
    return int(np.argmax(np.abs(yn - chord)))
