"""DBSCAN (scikit-learn): dense regions become segments, sparse rows are noise (``-1``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors

from segmentkit.algorithms._base import AlgorithmSpec, Capabilities, Fitted, knee_index
from segmentkit.algorithms._density import (
    MAX_FIT_ROWS,
    MAX_REFERENCE_ROWS,
    SIZE_VALUES,
    check_share,
    finish,
    fit_rows,
    predict,
)

__all__ = ["SPEC", "fit", "auto_eps"]


def auto_eps(X: np.ndarray, min_samples: int) -> float:
    """``eps`` at the knee of the sorted distances to the ``min_samples``-th neighbour.

    Rows inside dense regions have small neighbour distances; the knee is where the sorted
    curve turns up into the sparse tail.
    """
    nn = NearestNeighbors(n_neighbors=min(min_samples, X.shape[0])).fit(X)
    kdist = np.sort(nn.kneighbors(X)[0][:, -1])
    return float(kdist[knee_index(kdist)]) or float(np.quantile(kdist, 0.9))


def fit(
    X: np.ndarray,
    *,
    k: int | None = None,
    random_state: int,
    min_cluster_share: float = 0.03,
    eps: float | None = None,
    assign_noise: bool = False,
    max_fit_rows: int = MAX_FIT_ROWS,
    max_reference_rows: int = MAX_REFERENCE_ROWS,
    **_: Any,
) -> Fitted:
    """Fit DBSCAN.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
        Prepared (scaled) features.
    k : ignored
        DBSCAN finds the number of segments itself.
    random_state : int
        Seed for the fitting sample and the reference rows.
    min_cluster_share : float, default 0.03
        Smallest segment as a share of customers: ``min_samples`` is this share of the
        fitted rows (at least 5), so no segment is much smaller.
    eps : float, optional
        Neighbourhood radius; by default the knee of the neighbour-distance curve.
    assign_noise : bool, default False
        Give noise rows the segment of the nearest core row instead of ``-1``.
    max_fit_rows : int, default 10000
        Fit on a seeded sample of this many rows; assign the others.
    max_reference_rows : int, default 2000
        Core rows stored to assign new customers.
    """
    share = check_share(min_cluster_share)
    X = np.asarray(X, dtype=float)
    idx = fit_rows(X.shape[0], max_fit_rows, random_state)
    S = X if idx is None else X[idx]
    min_samples = max(5, math.ceil(share * S.shape[0]))
    if eps is None:
        eps = auto_eps(S, min_samples)
    elif isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    model = DBSCAN(eps=float(eps), min_samples=min_samples).fit(S)
    core = np.zeros(S.shape[0], dtype=bool)
    core[model.core_sample_indices_] = True
    labels, confidence, state, details = finish(
        X,
        idx,
        model.labels_,
        core.astype(float),
        core,
        float(eps),
        assign_noise=assign_noise,
        max_reference_rows=max_reference_rows,
        random_state=random_state,
    )
    details.update({"eps": float(eps), "min_samples": int(min_samples), "min_cluster_share": share})
    return Fitted(labels=labels, state=state, confidence=confidence, details=details)


SPEC = AlgorithmSpec(
    name="dbscan",
    description="DBSCAN: dense regions of any shape; sparse customers are noise (-1)",
    capabilities=Capabilities(
        needs_k=False,
        predicts=False,
        noise=True,
        soft=False,
        size_parameter="min_cluster_share",
        size_values=SIZE_VALUES,
    ),
    fit=fit,
    predict=predict,
)
