"""k-prototypes for mixed numeric and categorical features (the ``kmodes`` package).

Why ``kmodes`` rather than a Gower-distance method: k-prototypes is linear in the number of
customers and has centres (means for numeric columns, modes for categorical ones), so new
customers are assigned from a small JSON state. Gower-based clustering (PAM or
hierarchical on Gower distances) needs the full ``n x n`` distance matrix, which rules out
hundreds of thousands of customers.

Categorical columns are given by index (``categorical=[...]``) and hold integer codes in
``X``; the other columns are numeric (scaled). The cost of a row is the squared Euclidean
distance on the numeric columns plus ``gamma`` times the number of categorical mismatches.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from kmodes.kprototypes import KPrototypes

from segmentkit.algorithms._base import AlgorithmSpec, Capabilities, Fitted

__all__ = ["SPEC", "fit", "predict", "metric_matrix"]

#: Fit on at most this many rows (k-prototypes is pure Python); assign the rest.
MAX_FIT_ROWS = 20_000


def _columns(categorical: Any, d: int) -> tuple[list[int], list[int]]:
    if categorical is None or isinstance(categorical, (str, bytes)) or len(categorical) == 0:
        raise ValueError(
            "kprototypes needs categorical columns: pass categorical=[column indices], got "
            f"{categorical!r}"
        )
    cat = sorted({int(c) for c in categorical})
    if cat[0] < 0 or cat[-1] >= d:
        raise ValueError(f"categorical must be column indices in 0..{d - 1}, got {list(categorical)!r}")
    num = [j for j in range(d) if j not in set(cat)]
    if not num:
        raise ValueError("kprototypes needs at least one numeric column besides categorical")
    return num, cat


def _cost(state: Mapping[str, Any], X: np.ndarray) -> np.ndarray:
    num = state["numeric_columns"]
    cat = state["categorical_columns"]
    centres = np.asarray(state["numeric_centres"], dtype=float)
    modes = np.asarray(state["categorical_modes"], dtype=float)
    Xn = X[:, num]
    d2 = (Xn * Xn).sum(axis=1)[:, None] - 2.0 * Xn @ centres.T + (centres * centres).sum(axis=1)[None, :]
    np.maximum(d2, 0.0, out=d2)
    mismatch = (X[:, cat][:, None, :] != modes[None, :, :]).sum(axis=2)
    return d2 + float(state["gamma"]) * mismatch


def predict(state: Mapping[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Assign rows to the prototype of lowest cost; confidence ``1 - c1 / c2``."""
    cost = _cost(state, np.asarray(X, dtype=float))
    labels = cost.argmin(axis=1)
    part = np.partition(cost, 1, axis=1)[:, :2]
    with np.errstate(divide="ignore", invalid="ignore"):
        conf = np.where(part[:, 1] > 0, 1.0 - part[:, 0] / part[:, 1], 0.0)
    return labels.astype(int), conf


def metric_matrix(X: np.ndarray, categorical: Sequence[int], gamma: float) -> np.ndarray:
    """Numeric columns plus one-hot categorical columns scaled by ``sqrt(gamma / 2)``.

    Squared Euclidean distance in this matrix equals the k-prototypes cost, so the usual
    metrics (silhouette, Davies-Bouldin, ...) can be computed on it.
    """
    X = np.asarray(X, dtype=float)
    num, cat = _columns(categorical, X.shape[1])
    blocks = [X[:, num]]
    scale = np.sqrt(gamma / 2.0)
    for j in cat:
        values = np.unique(X[:, j])
        blocks.append((X[:, [j]] == values[None, :]) * scale)
    return np.hstack(blocks)


def fit(
    X: np.ndarray,
    *,
    k: int,
    random_state: int,
    categorical: Sequence[int] | None = None,
    gamma: float | None = None,
    n_init: int = 4,
    max_iter: int = 50,
    max_fit_rows: int = MAX_FIT_ROWS,
    **_: Any,
) -> Fitted:
    """Fit k-prototypes with ``k`` segments.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
        Scaled numeric columns and integer-coded categorical columns.
    k : int
        Number of segments.
    random_state : int
        Seed for the initialisation and the fitting sample.
    categorical : sequence of int
        Indices of the categorical columns (required).
    gamma : float, optional
        Weight of one categorical mismatch against squared numeric distance; default
        (kmodes) half the mean standard deviation of the numeric columns.
    n_init : int, default 4
        Restarts; the lowest cost wins.
    max_iter : int, default 50
    max_fit_rows : int, default 20000
        Fit on a seeded sample of this many rows; the others get the lowest-cost prototype.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    X = np.asarray(X, dtype=float)
    num, cat = _columns(categorical, X.shape[1])
    if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0):
        raise ValueError(f"gamma must be a number >= 0, got {gamma!r}")
    n = X.shape[0]
    if n > max_fit_rows:
        rng = np.random.default_rng(random_state)
        S = X[np.sort(rng.choice(n, size=int(max_fit_rows), replace=False))]
    else:
        S = X
    Xcat = S[:, cat]
    if not np.array_equal(Xcat, np.round(Xcat)):
        raise ValueError("categorical columns must hold integer codes")
    ordered = np.hstack([S[:, num], Xcat])
    model = KPrototypes(
        n_clusters=int(k),
        init="Huang",
        n_init=int(n_init),
        max_iter=int(max_iter),
        gamma=gamma,
        random_state=random_state,
        n_jobs=1,
    ).fit(ordered, categorical=list(range(len(num), len(num) + len(cat))))
    centroids = np.asarray(model.cluster_centroids_, dtype=float)
    state = {
        "numeric_columns": num,
        "categorical_columns": cat,
        "numeric_centres": centroids[:, : len(num)].tolist(),
        "categorical_modes": centroids[:, len(num) :].tolist(),
        "gamma": float(model.gamma),
    }
    labels, confidence = predict(state, X)
    cost = _cost(state, X)
    return Fitted(
        labels=labels,
        state=state,
        confidence=confidence,
        details={
            "cost": float(cost[np.arange(n), labels].sum()),
            "gamma": float(model.gamma),
            "n_fit_rows": int(S.shape[0]),
            "variant": "exact" if S is X else "sampled",
        },
    )


SPEC = AlgorithmSpec(
    name="kprototypes",
    description="k-prototypes: mixed numeric and categorical features (means and modes)",
    capabilities=Capabilities(needs_k=True, predicts=True, noise=False, soft=False, categorical=True),
    fit=fit,
    predict=predict,
)
