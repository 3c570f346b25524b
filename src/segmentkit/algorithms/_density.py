"""What DBSCAN and HDBSCAN share: size as a share of customers, sampling, noise, predict.

Both leave low-density rows unassigned: they are segment ``-1`` (status ``noise``) and are
never dropped. ``assign_noise=True`` moves them to the segment of the nearest clustered row.

Both are fitted on at most ``max_fit_rows`` rows (a seeded sample); the other rows are
assigned like new customers. New customers are assigned from stored *reference rows* (a
seeded, per-segment sample of clustered rows, at most ``max_reference_rows``): a row joins
the segment of its nearest reference row if it lies within ``radius`` of it, otherwise it
is noise. For DBSCAN the reference rows are core rows and the radius is ``eps``, which is
DBSCAN's own rule for border points.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from sklearn.neighbors import NearestNeighbors

from segmentkit.algorithms._base import NOISE, relabel_by_size

__all__ = [
    "MAX_FIT_ROWS",
    "MAX_REFERENCE_ROWS",
    "SIZE_VALUES",
    "check_share",
    "fit_rows",
    "nearest_reference",
    "reference_rows",
    "finish",
    "predict",
]

#: Density algorithms are fitted on at most this many rows.
MAX_FIT_ROWS = 10_000
#: Reference rows kept in the state for assigning new customers.
MAX_REFERENCE_ROWS = 2_000
#: Default sweep of ``min_cluster_share`` in the selection.
SIZE_VALUES = (0.01, 0.02, 0.03, 0.05, 0.08, 0.12)


def check_share(value: Any, name: str = "min_cluster_share") -> float:
    """Validate a share in (0, 0.5]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (
        0.0 < float(value) <= 0.5
    ):
        raise ValueError(f"{name} must be a number in (0, 0.5], got {value!r}")
    return float(value)


def fit_rows(n: int, max_fit_rows: int, random_state: int) -> np.ndarray | None:
    """Sorted indices of the rows to fit on, or ``None`` for all rows."""
    if isinstance(max_fit_rows, bool) or not isinstance(max_fit_rows, (int, np.integer)) or max_fit_rows < 10:
        raise ValueError(f"max_fit_rows must be an integer >= 10, got {max_fit_rows!r}")
    if n <= max_fit_rows:
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=int(max_fit_rows), replace=False))


def reference_rows(labels: np.ndarray, candidates: np.ndarray, limit: int, random_state: int) -> np.ndarray:
    """Up to ``limit`` indices among ``candidates``, sampled per segment (each keeps >= 1)."""
    candidates = np.asarray(candidates, dtype=int)
    if candidates.size <= limit:
        return np.sort(candidates)
    rng = np.random.default_rng(random_state)
    keep = []
    cand_labels = labels[candidates]
    for seg in np.unique(cand_labels):
        members = candidates[cand_labels == seg]
        quota = max(1, int(round(limit * members.size / candidates.size)))
        keep.append(rng.choice(members, size=min(quota, members.size), replace=False))
    return np.sort(np.concatenate(keep))


def nearest_reference(reference: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest reference row for each row of ``X``."""
    nn = NearestNeighbors(n_neighbors=1).fit(reference)
    dist, ind = nn.kneighbors(X)
    return ind[:, 0], dist[:, 0]


def predict(state: Mapping[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Assign rows to the segment of the nearest reference row within ``radius``.

    Rows farther than ``radius`` are noise (``-1``) unless the state says
    ``assign_noise``. Confidence is ``1 - distance / radius`` clipped to ``[0, 1]``.
    """
    X = np.asarray(X, dtype=float)
    ref_labels = np.asarray(state["reference_labels"], dtype=int)
    if ref_labels.size == 0:
        return np.full(X.shape[0], NOISE, dtype=int), np.zeros(X.shape[0])
    reference = np.asarray(state["reference"], dtype=float)
    radius = float(state["radius"])
    ind, dist = nearest_reference(reference, X)
    labels = ref_labels[ind].copy()
    if not state.get("assign_noise", False):
        labels[dist > radius] = NOISE
    confidence = np.clip(1.0 - dist / radius, 0.0, 1.0) if radius > 0 else np.zeros(X.shape[0])
    return labels.astype(int), confidence


def finish(
    X: np.ndarray,
    idx: np.ndarray | None,
    fit_labels: np.ndarray,
    fit_confidence: np.ndarray,
    reference_mask: np.ndarray,
    radius: float | None,
    *,
    assign_noise: bool,
    max_reference_rows: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], dict[str, Any]]:
    """Labels for every row of ``X``, the state and the shared details.

    Parameters
    ----------
    X : all rows; idx : the fitted rows (``None`` = all); fit_labels / fit_confidence :
    the algorithm's result on the fitted rows; reference_mask : which fitted rows may serve
    as reference rows; radius : assignment radius (``None``: derived from the data).
    """
    S = X if idx is None else X[idx]
    fit_labels = relabel_by_size(fit_labels)
    clustered = np.flatnonzero((fit_labels != NOISE) & reference_mask)
    ref = reference_rows(fit_labels, clustered, max_reference_rows, random_state)
    reference = S[ref]
    reference_labels = fit_labels[ref]
    if radius is None:
        # the radius that covers 99 % of the clustered rows (reference rows measured to
        # their nearest *other* reference row)
        members = np.flatnonzero(fit_labels != NOISE)
        if ref.size >= 2 and members.size:
            nn = NearestNeighbors(n_neighbors=2).fit(reference)
            dist, _ = nn.kneighbors(S[members])
            is_ref = np.isin(members, ref)
            d = np.where(is_ref, dist[:, 1], dist[:, 0])
            radius = float(np.quantile(d, 0.99))
        else:
            radius = 0.0
    state = {
        "reference": reference.tolist(),
        "reference_labels": reference_labels.astype(int).tolist(),
        "radius": float(radius),
        "assign_noise": bool(assign_noise),
    }
    labels = np.full(X.shape[0], NOISE, dtype=int)
    confidence = np.zeros(X.shape[0])
    if idx is None:
        labels[:] = fit_labels
        confidence[:] = fit_confidence
    else:
        rest = np.setdiff1d(np.arange(X.shape[0]), idx)
        labels[idx] = fit_labels
        confidence[idx] = fit_confidence
        if rest.size:
            lab_rest, conf_rest = predict({**state, "assign_noise": False}, X[rest])
            labels[rest] = lab_rest
            confidence[rest] = conf_rest
    n_noise = int((labels == NOISE).sum())
    if assign_noise and n_noise and reference_labels.size:
        noise = np.flatnonzero(labels == NOISE)
        ind, _ = nearest_reference(reference, X[noise])
        labels[noise] = reference_labels[ind]
        confidence[noise] = 0.0
    n_fit = X.shape[0] if idx is None else int(idx.size)
    details = {
        "n_noise": n_noise,
        "noise_share": n_noise / max(X.shape[0], 1),
        "noise_assigned": bool(assign_noise and n_noise > 0),
        "n_segments_found": int(reference_labels.max()) + 1 if reference_labels.size else 0,
        "n_fit_rows": n_fit,
        "variant": "exact" if idx is None else "sampled",
        "note": (
            f"fitted on all {n_fit} rows"
            if idx is None
            else f"fitted on {n_fit} sampled rows; the other {X.shape[0] - n_fit} rows were "
            "assigned to the segment of the nearest reference row (noise beyond the radius)"
        ),
    }
    return labels, confidence, state, details
