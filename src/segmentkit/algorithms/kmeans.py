"""k-means (Lloyd); on many rows the restarts run on a sample and seed one full Lloyd fit,
whose iterations are the compiled passes of :mod:`segmentkit.algorithms._lloyd`."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from sklearn.cluster import KMeans

from segmentkit.algorithms._base import (FIT_OPENMP_THREADS, AlgorithmSpec, Capabilities, Fitted, distance_confidence,
                                         nearest_centre)
from segmentkit.algorithms._lloyd import lloyd

__all__ = ["INIT_SAMPLE", "SAMPLE_INIT_THRESHOLD", "SPEC", "fit", "predict"]

#: Above this many rows the ``n_init`` restarts run on a sample, not on every row.
SAMPLE_INIT_THRESHOLD = 100_000
#: Rows of that sample: enough that its best centres sit within a few Lloyd steps of the
#: full data's optimum, few enough that ten restarts cost less than one pass over a million.
INIT_SAMPLE = 50_000


def fit(
    X: np.ndarray,
    *,
    k: int,
    random_state: int,
    n_init: int = 10,
    sample_init_threshold: int = SAMPLE_INIT_THRESHOLD,
    init_sample: int = INIT_SAMPLE,
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
        Seed for the initialisation (and the sample).
    n_init : int, default 10
        Restarts; the best inertia wins. Few restarts make the result depend on row order.
    sample_init_threshold : int
        Above this many rows the restarts run on a seeded sample of ``init_sample`` rows and
        their best centres start one Lloyd fit on all rows (full k-means, not mini-batch:
        as good as ``KMeans`` on all rows). That fit is :func:`~segmentkit.algorithms._lloyd.lloyd`:
        scikit-learn's iterations and rules, each iteration one compiled pass over the rows.
    init_sample : int
        Rows of that sample.
    """
    n = X.shape[0]
    if n > sample_init_threshold:
        rows = np.sort(np.random.default_rng(random_state).choice(n, size=min(n, init_sample), replace=False))
        start = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X[rows]).cluster_centers_
        full = lloyd(X, start, threads=FIT_OPENMP_THREADS)
        centres, inertia, n_iter = full.centres, full.inertia, full.n_iter
        labels, confidence = full.final.labels, distance_confidence(full.final.nearest, full.final.second)
        variant = "lloyd (restarts on a sample)"
    else:
        model = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X)
        centres, inertia, n_iter = model.cluster_centers_, float(model.inertia_), int(model.n_iter_)
        labels, confidence = nearest_centre(centres, X)
        variant = "lloyd"
    return Fitted(
        labels=labels.astype(int),
        state={"centres": centres.tolist()},
        confidence=confidence,
        details={"inertia": inertia, "variant": variant, "n_iter": n_iter},
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
