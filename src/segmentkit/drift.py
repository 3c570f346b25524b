"""Drift between a run and the customers assigned to its segments later.

A saved model keeps a *baseline*: for every feature, the decile edges of its values in the
run and the share of customers between them, and the share of each segment. When new
customers are assigned, their features fall into the same bins; the population stability
index (PSI) per feature and the change of each segment's share say whether the segments
still describe the customers, or whether it is time for a new run.

PSI = Σ (new − old) · ln(new / old) over the bins (shares floored at 0.0001). Reading, as
in credit scoring where it comes from: below 0.1 stable, 0.1–0.25 a moderate shift, above
0.25 a major shift.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["MODERATE", "MAJOR", "baseline", "drift_from_shares", "drift_report", "psi"]

MODERATE = 0.1
MAJOR = 0.25
_FLOOR = 1e-4
_BINS = 10


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the bins ``(-inf, e1], (e1, e2], ..., (ek, inf)``; missing
    values in a bin of their own at the end."""
    missing = np.isnan(values)
    idx = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return counts / max(len(values), 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, float), _FLOOR)
    a = np.maximum(np.asarray(actual, float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def baseline(frame: pd.DataFrame, segment_ids: np.ndarray) -> dict[str, Any]:
    """The baseline of a run: per feature, decile edges and shares; per segment, its share.

    Parameters
    ----------
    frame : pandas.DataFrame
        Features of the run's customers (before preparation), one column per feature.
    segment_ids : numpy.ndarray
        Segment id per row of ``frame`` (−1 for noise).
    """
    features = {}
    for col in frame.columns:
        values = frame[col].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, _BINS + 1)[1:-1])) if len(finite) else np.array([])
        features[col] = {"edges": [float(x) for x in edges],
                         "shares": [round(float(x), 6) for x in _shares(values, edges)]}
    ids, counts = np.unique(np.asarray(segment_ids, int), return_counts=True)
    return {"features": features,
            "segments": {str(int(i)): round(float(c) / len(segment_ids), 6) for i, c in zip(ids, counts)}}


def drift_report(base: Mapping[str, Any], frame: pd.DataFrame, segment_ids: np.ndarray,
                 labels: Mapping[str, str] | None = None, names: Mapping[int, str] | None = None) -> dict[str, Any]:
    """How far new customers have moved from the run's baseline.

    Parameters
    ----------
    base : mapping
        :func:`baseline` of the run (kept in the model).
    frame : pandas.DataFrame
        Features of the new customers (same columns, before preparation).
    segment_ids : numpy.ndarray
        Their segment ids (−1 for noise).
    labels, names : mapping, optional
        Plain words per feature and names per segment, for the verdict.

    Returns
    -------
    dict
        ``features`` (``{feature, psi, level}``, largest first), ``segments``
        (``{id, name, run_share, new_share, change}``), ``max_psi``, ``verdict``.
    """
    shares = {col: _shares(frame[col].to_numpy(dtype=float), np.asarray(b["edges"], float))
              for col, b in base.get("features", {}).items() if col in frame.columns}
    ids, counts = np.unique(np.asarray(segment_ids, int), return_counts=True)
    return drift_from_shares(base, shares, dict(zip(ids.tolist(), counts.tolist())), labels, names)


def drift_from_shares(base: Mapping[str, Any], shares: Mapping[str, np.ndarray], segment_counts: Mapping[int, int],
                      labels: Mapping[str, str] | None = None, names: Mapping[int, str] | None = None) -> dict[str, Any]:
    """:func:`drift_report` from the new customers' shares per bin and counts per segment,
    counted elsewhere (by Spark, in :mod:`segmentkit.spark.assign`).

    Parameters
    ----------
    shares : mapping
        Feature → shares of the new customers in the baseline's bins (``len(edges) + 1``
        bins, then the missing values), as :func:`baseline` counts them.
    segment_counts : mapping
        Segment id → number of new customers (−1 for noise).
    """
    labels, names = labels or {}, names or {}
    rows = []
    for col, new in shares.items():
        value = psi(np.asarray(base["features"][col]["shares"]), np.asarray(new, float))
        level = "major" if value >= MAJOR else "moderate" if value >= MODERATE else "stable"
        rows.append({"feature": col, "psi": round(value, 4), "level": level})
    rows.sort(key=lambda r: (-r["psi"], r["feature"]))
    total = sum(segment_counts.values())
    new_share = {int(i): float(c) / max(total, 1) for i, c in segment_counts.items()}
    run_share = {int(k): float(v) for k, v in base.get("segments", {}).items()}
    segments = [{"id": sid, "name": names.get(sid, ""), "run_share": round(run_share.get(sid, 0.0), 4),
                 "new_share": round(new_share.get(sid, 0.0), 4),
                 "change": round(new_share.get(sid, 0.0) - run_share.get(sid, 0.0), 4)}
                for sid in sorted(set(run_share) | set(new_share))]
    max_psi = rows[0]["psi"] if rows else 0.0
    shifted = [r for r in rows if r["level"] != "stable"]
    if not shifted:
        verdict = "No feature has shifted (every PSI below 0.1): the segments still describe these customers."
    else:
        worst = ", ".join(f"{labels.get(r['feature'], r['feature'])} (PSI {r['psi']:.2f})" for r in shifted[:3])
        verdict = (f"{len(shifted)} feature(s) shifted, most {worst}; "
                   + ("a major shift: run the segmentation again before acting on these segments."
                      if max_psi >= MAJOR else "a moderate shift: watch it, and refresh soon."))
    return {"features": rows, "segments": segments, "max_psi": round(max_psi, 4), "verdict": verdict}
