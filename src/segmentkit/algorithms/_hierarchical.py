"""Agglomerative (hierarchical) clustering shared by ``ward``, ``average`` and ``complete``.

The tree is exact (SciPy's ``linkage``) when the number of rows fits in memory: the
condensed distance matrix takes ``8 * n * (n - 1) / 2`` bytes. Above ``max_exact_rows`` the
tree is built on a random sample and every other row is assigned to the nearest segment
centre; ``details["variant"] == "sampled"`` and ``details["note"]`` say so. One tree gives
every ``k``, so :func:`fit_path` cuts it once per ``k``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from scipy.cluster.hierarchy import dendrogram, fcluster, linkage

from segmentkit.algorithms._base import (
    AlgorithmSpec,
    Capabilities,
    Fitted,
    nearest_centre,
    relabel_by_size,
    segment_centres,
)

__all__ = ["MAX_EXACT_ROWS", "DENDROGRAM_LEAVES", "make_spec"]

#: Above this many rows the tree is built on a sample (about 256 MB of distances).
MAX_EXACT_ROWS = 8_000

#: Leaves kept in the truncated dendrogram for the report.
DENDROGRAM_LEAVES = 30


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if k > n:
        raise ValueError(f"k must be at most the number of rows ({n}), got {k}")
    return int(k)


def _dendrogram_data(Z: np.ndarray) -> dict[str, Any]:
    """Truncated dendrogram (the last merges) as JSON-safe lists."""
    p = min(DENDROGRAM_LEAVES, Z.shape[0] + 1)
    d = dendrogram(Z, p=p, truncate_mode="lastp", no_plot=True)
    return {
        "icoord": [[round(float(v), 6) for v in row] for row in d["icoord"]],
        "dcoord": [[round(float(v), 6) for v in row] for row in d["dcoord"]],
        "leaves": [str(v) for v in d["ivl"]],
        "merge_heights": [round(float(v), 6) for v in Z[-(p - 1) :, 2]] if p > 1 else [],
    }


def _fit_path(
    method: str,
    X: np.ndarray,
    *,
    k_values: Sequence[int],
    random_state: int,
    max_exact_rows: int = MAX_EXACT_ROWS,
    **_: Any,
) -> dict[int, Fitted]:
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    ks = [_check_k(k, n) for k in k_values]
    if isinstance(max_exact_rows, bool) or not isinstance(max_exact_rows, (int, np.integer)) or max_exact_rows < 2:
        raise ValueError(f"max_exact_rows must be an integer >= 2, got {max_exact_rows!r}")
    if n > max_exact_rows:
        rng = np.random.default_rng(random_state)
        idx = np.sort(rng.choice(n, size=int(max_exact_rows), replace=False))
        S = X[idx]
    else:
        idx = None
        S = X
    Z = linkage(S, method=method, metric="euclidean")
    tree = _dendrogram_data(Z)
    out: dict[int, Fitted] = {}
    for k in ks:
        tree_labels = relabel_by_size(fcluster(Z, t=k, criterion="maxclust") - 1)
        n_found = int(tree_labels.max()) + 1
        centres = segment_centres(S, tree_labels, n_found)
        if idx is None:
            labels = tree_labels
            _, confidence = nearest_centre(centres, X)
            variant, note = "exact", f"exact {method} tree on all {n} rows"
        else:
            labels, confidence = nearest_centre(centres, X)
            labels[idx] = tree_labels
            variant = "sampled"
            note = (
                f"{method} tree built on {idx.size} sampled rows; the other {n - idx.size} "
                "rows were assigned to the nearest segment centre"
            )
        diff = X - centres[labels]
        out[k] = Fitted(
            labels=labels.astype(int),
            state={"centres": centres.tolist()},
            confidence=confidence,
            details={
                "inertia": float(np.einsum("ij,ij->", diff, diff)),
                "variant": variant,
                "note": note,
                "n_fit_rows": int(S.shape[0]),
                "n_segments_found": n_found,
                "dendrogram": tree,
            },
        )
    return out


def _predict(state: Mapping[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Assign new rows to the nearest segment centre."""
    return nearest_centre(np.asarray(state["centres"], dtype=float), X)


def make_spec(method: str, description: str) -> AlgorithmSpec:
    """Build the :class:`AlgorithmSpec` of one linkage ``method``.

    Parameters
    ----------
    method : {"ward", "average", "complete"}
        SciPy linkage method (Euclidean distances).
    description : str
        One line for ``--help``.
    """
    if method not in ("ward", "average", "complete"):
        raise ValueError(f"method must be one of ward, average, complete; got {method!r}")

    def fit_path(
        X: np.ndarray, *, k_values: Sequence[int], random_state: int, **options: Any
    ) -> dict[int, Fitted]:
        return _fit_path(method, X, k_values=k_values, random_state=random_state, **options)

    def fit(X: np.ndarray, *, k: int, random_state: int, **options: Any) -> Fitted:
        k = _check_k(k, np.asarray(X).shape[0])
        return fit_path(X, k_values=[k], random_state=random_state, **options)[k]

    fit.__doc__ = (
        f"Fit {method}-linkage hierarchical clustering with ``k`` segments.\n\n"
        "Options: ``max_exact_rows`` (default 8000): above it the tree is built on a sample."
    )
    return AlgorithmSpec(
        name=method,
        description=description,
        capabilities=Capabilities(needs_k=True, predicts=False, noise=False, soft=False),
        fit=fit,
        predict=_predict,
        fit_path=fit_path,
    )
