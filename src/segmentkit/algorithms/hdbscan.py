"""HDBSCAN (scikit-learn): density segments at varying densities, sparse rows are noise."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import HDBSCAN

from segmentkit.algorithms._base import AlgorithmSpec, Capabilities, Fitted
from segmentkit.algorithms._density import (
    MAX_FIT_ROWS,
    MAX_REFERENCE_ROWS,
    SIZE_VALUES,
    check_share,
    finish,
    fit_rows,
    predict,
)

__all__ = ["SPEC", "fit"]


def fit(
    X: np.ndarray,
    *,
    k: int | None = None,
    random_state: int,
    min_cluster_share: float = 0.03,
    min_samples: int | None = None,
    assign_noise: bool = False,
    max_fit_rows: int = MAX_FIT_ROWS,
    max_reference_rows: int = MAX_REFERENCE_ROWS,
    **_: Any,
) -> Fitted:
    """Fit HDBSCAN.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
        Prepared (scaled) features.
    k : ignored
        HDBSCAN finds the number of segments itself.
    random_state : int
        Seed for the fitting sample and the reference rows.
    min_cluster_share : float, default 0.03
        ``min_cluster_size`` as a share of the fitted rows (at least 5).
    min_samples : int, optional
        Neighbours for the core distance; default ``min(min_cluster_size, 20)``.
    assign_noise : bool, default False
        Give noise rows the segment of the nearest clustered row instead of ``-1``.
    max_fit_rows : int, default 10000
        Fit on a seeded sample of this many rows; assign the others.
    max_reference_rows : int, default 2000
        Clustered rows stored to assign new customers.

    Returns
    -------
    Fitted
        ``confidence`` is HDBSCAN's membership strength (0 for noise).
    """
    share = check_share(min_cluster_share)
    X = np.asarray(X, dtype=float)
    idx = fit_rows(X.shape[0], max_fit_rows, random_state)
    S = X if idx is None else X[idx]
    min_cluster_size = max(5, int(round(share * S.shape[0])))
    if min_samples is None:
        min_samples = min(min_cluster_size, 20)
    elif isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        raise ValueError(f"min_samples must be an integer >= 1, got {min_samples!r}")
    model = HDBSCAN(
        min_cluster_size=min_cluster_size, min_samples=int(min_samples), copy=True
    ).fit(S)
    labels, confidence, state, details = finish(
        X,
        idx,
        model.labels_,
        np.asarray(model.probabilities_, dtype=float),
        np.ones(S.shape[0], dtype=bool),
        None,
        assign_noise=assign_noise,
        max_reference_rows=max_reference_rows,
        random_state=random_state,
    )
    details.update(
        {
            "min_cluster_size": int(min_cluster_size),
            "min_samples": int(min_samples),
            "min_cluster_share": share,
        }
    )
    return Fitted(labels=labels, state=state, confidence=confidence, details=details)


SPEC = AlgorithmSpec(
    name="hdbscan",
    description="HDBSCAN: density segments of any shape and varying density; noise is -1",
    capabilities=Capabilities(
        needs_k=False,
        predicts=False,
        noise=True,
        soft=True,
        size_parameter="min_cluster_share",
        size_values=SIZE_VALUES,
    ),
    fit=fit,
    predict=predict,
)
