"""k-means (Lloyd), with MiniBatch k-means above a size threshold."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from segmentkit.algorithms._base import AlgorithmSpec, Capabilities, Fitted, nearest_centre

__all__ = ["MINIBATCH_THRESHOLD", "SPEC", "fit", "predict"]

#: Above this many rows MiniBatchKMeans is used; the results contract is the same.
MINIBATCH_THRESHOLD = 100_000


def fit(
    X: np.ndarray,
    *,
    k: int,
    random_state: int,
    n_init: int = 10,
    minibatch_threshold: int = MINIBATCH_THRESHOLD,
    **_: Any,
) -> Fitted:
    """Fit k-means with ``k`` segments.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
        Prepared (scaled) features.
    k : int
        Number of segments.
    random_state : int
        Seed for the initialisation.
    n_init : int, default 10
        Restarts; the best inertia wins. Few restarts make the result depend on row order.
    minibatch_threshold : int
        Row count above which MiniBatchKMeans is used.
    """
    if X.shape[0] > minibatch_threshold:
        model = MiniBatchKMeans(
            n_clusters=k, n_init=n_init, random_state=random_state, batch_size=4096
        ).fit(X)
        variant = "minibatch"
    else:
        model = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X)
        variant = "lloyd"
    centres = model.cluster_centers_
    labels, confidence = nearest_centre(centres, X)
    return Fitted(
        labels=labels.astype(int),
        state={"centres": centres.tolist()},
        confidence=confidence,
        details={"inertia": float(model.inertia_), "variant": variant},
    )


def predict(state: Mapping[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Assign new rows to the nearest centre."""
    return nearest_centre(np.asarray(state["centres"]), X)


SPEC = AlgorithmSpec(
    name="kmeans",
    description="k-means: compact, similar-sized segments around centres",
    capabilities=Capabilities(needs_k=True, predicts=True, noise=False, soft=False),
    fit=fit,
    predict=predict,
)
