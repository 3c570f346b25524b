"""Gaussian mixture: elliptical segments of different sizes, soft membership, BIC per k."""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from segmentkit.algorithms._base import AlgorithmSpec, Capabilities, Fitted

__all__ = ["SPEC", "fit", "predict"]

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def fit(
    X: np.ndarray,
    *,
    k: int,
    random_state: int,
    covariance_type: str = "full",
    n_init: int = 3,
    max_iter: int = 300,
    reg_covar: float = 1e-6,
    **_: Any,
) -> Fitted:
    """Fit a Gaussian mixture with ``k`` components.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
        Prepared (scaled) features.
    k : int
        Number of segments (components).
    random_state : int
        Seed for the k-means initialisation of EM.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    n_init : int, default 3
        EM restarts; the best likelihood wins.
    max_iter : int, default 300
    reg_covar : float, default 1e-6
        Added to the covariance diagonals (keeps them invertible on constant columns).

    Returns
    -------
    Fitted
        ``confidence`` is the membership probability of the assigned segment;
        ``details`` holds ``bic``, ``aic``, ``log_likelihood`` and ``converged``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if covariance_type not in _COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {', '.join(_COVARIANCE_TYPES)}; got {covariance_type!r}"
        )
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1, got {n_init!r}")
    X = np.asarray(X, dtype=float)
    model = GaussianMixture(
        n_components=int(k),
        covariance_type=covariance_type,
        n_init=int(n_init),
        max_iter=int(max_iter),
        reg_covar=float(reg_covar),
        random_state=random_state,
    )
    # Non-convergence is an outcome we report (details["converged"]), not an error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        model.fit(X)
    proba = model.predict_proba(X)
    labels = proba.argmax(axis=1)
    return Fitted(
        labels=labels.astype(int),
        state={
            "covariance_type": covariance_type,
            "weights": model.weights_.tolist(),
            "means": model.means_.tolist(),
            "covariances": model.covariances_.tolist(),
            "precisions_cholesky": model.precisions_cholesky_.tolist(),
        },
        confidence=proba.max(axis=1),
        details={
            "bic": float(model.bic(X)),
            "aic": float(model.aic(X)),
            "log_likelihood": float(model.score(X) * X.shape[0]),
            "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_),
        },
    )


def _model(state: Mapping[str, Any]) -> GaussianMixture:
    weights = np.asarray(state["weights"], dtype=float)
    model = GaussianMixture(n_components=weights.size, covariance_type=state["covariance_type"])
    model.weights_ = weights
    model.means_ = np.asarray(state["means"], dtype=float)
    model.covariances_ = np.asarray(state["covariances"], dtype=float)
    model.precisions_cholesky_ = np.asarray(state["precisions_cholesky"], dtype=float)
    return model


def predict(state: Mapping[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Assign new rows to the most probable component; confidence is that probability."""
    proba = _model(state).predict_proba(np.asarray(X, dtype=float))
    return proba.argmax(axis=1).astype(int), proba.max(axis=1)


SPEC = AlgorithmSpec(
    name="gmm",
    description="Gaussian mixture: elliptical segments of different sizes, soft membership",
    capabilities=Capabilities(needs_k=True, predicts=True, noise=False, soft=True),
    fit=fit,
    predict=predict,
)
