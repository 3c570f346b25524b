"""Fitted preprocessing from features to the matrix the clustering sees.

Per feature column, in order:

1. **impute** missing values with the median (counted, reported);
   **shrink** shares measured over few orders toward the overall mean: a share from ``n``
   orders becomes ``(n·x + m·μ) / (n + m)`` with a prior worth ``m = 2`` orders, so a
   one-order customer's 0-or-1 category share does not look like a strong habit (additive
   smoothing; the features themselves, used for profiles, are left as they are);
2. **log-transform** heavy-tailed counts, amounts, day spans and ratios (skewness above
   ``skew_threshold``) with a signed ``log1p``, so a few big spenders do not own a segment;
3. **robust scaling**: subtract the median, divide by the inter-quartile range (the standard
   deviation when the IQR is 0, as for mostly-zero shares);
4. **drop** constant columns, with a warning.

Everything fitted is plain numbers, so a :class:`Preparation` round-trips through JSON and
new customers are transformed exactly like the ones it was fitted on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from segmentkit.errors import InputError
from segmentkit.features import FeatureSpec

__all__ = ["ColumnTransform", "Preparation", "fit_preparation"]

#: scaled values are clipped to ±CLIP (winsorising), so a handful of extreme customers
#: cannot pull a centre of their own
CLIP = 5.0

_LOG_KINDS = frozenset({"count", "amount", "days", "ratio", "custom"})


@dataclass(frozen=True)
class ColumnTransform:
    """How one column is transformed."""

    name: str
    impute: float
    log: bool
    center: float
    scale: float
    evidence: str | None = None
    prior: float = 0.0
    prior_weight: float = 0.0


@dataclass(frozen=True)
class Preparation:
    """A fitted preprocessing.

    Attributes
    ----------
    columns : tuple of ColumnTransform
        Kept columns, in matrix order.
    dropped_constant : tuple of str
        Columns left out because they do not vary.
    imputed : dict
        Column → number of values imputed when fitting.
    """

    columns: tuple[ColumnTransform, ...]
    dropped_constant: tuple[str, ...] = ()
    imputed: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the matrix columns."""
        return tuple(c.name for c in self.columns)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Turn a feature frame into the clustering matrix.

        Columns the frame lacks (a category absent from new data) are taken as 0 before
        imputation, which is what a share or count of nothing is.
        """
        raw = frame.reindex(columns=list(self.names)).to_numpy(dtype=float, copy=True)
        missing_cols = [i for i, c in enumerate(self.names) if c not in frame.columns]
        raw[:, missing_cols] = 0.0
        impute = np.array([c.impute for c in self.columns])
        logs = np.array([c.log for c in self.columns])
        centre = np.array([c.center for c in self.columns])
        scale = np.array([c.scale for c in self.columns])
        raw = np.where(np.isnan(raw), impute, raw)
        for j, c in enumerate(self.columns):
            if c.evidence is not None and c.evidence in frame.columns:
                n = np.nan_to_num(frame[c.evidence].to_numpy(dtype=float), nan=0.0)
                raw[:, j] = (n * raw[:, j] + c.prior_weight * c.prior) / (n + c.prior_weight)
        raw[:, logs] = np.sign(raw[:, logs]) * np.log1p(np.abs(raw[:, logs]))
        return np.clip((raw - centre) / scale, -CLIP, CLIP)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for the saved model)."""
        return {
            "columns": [c.__dict__.copy() for c in self.columns],
            "dropped_constant": list(self.dropped_constant),
            "imputed": dict(self.imputed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Preparation":
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            columns=tuple(ColumnTransform(**{k: (bool(v) if k == "log" else v) for k, v in c.items()})
                          for c in data["columns"]),
            dropped_constant=tuple(data.get("dropped_constant", ())),
            imputed={str(k): int(v) for k, v in data.get("imputed", {}).items()},
        )


def fit_preparation(
    frame: pd.DataFrame,
    specs: Mapping[str, FeatureSpec],
    *,
    skew_threshold: float = 1.0,
    prior_weight: float = 2.0,
) -> Preparation:
    """Fit the preprocessing on a feature frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Numeric features, one row per customer.
    specs : mapping
        Feature name → :class:`~segmentkit.features.FeatureSpec` (its ``kind`` decides
        whether a log transform may apply).
    skew_threshold : float
        Skewness above which a count/amount/days/ratio column is log-transformed.
    prior_weight : float
        How many orders the overall mean is worth when shrinking per-order shares.

    Returns
    -------
    Preparation

    Warns
    -----
    UserWarning
        When constant columns are dropped (named in the message).
    """
    values = frame.to_numpy(dtype=float)
    columns: list[ColumnTransform] = []
    dropped: list[str] = []
    imputed: dict[str, int] = {}
    for j, name in enumerate(frame.columns):
        x = values[:, j]
        finite = ~np.isnan(x)
        n_missing = int((~finite).sum())
        if n_missing:
            imputed[str(name)] = n_missing
        if not finite.any():
            dropped.append(str(name))
            continue
        med = float(np.median(x[finite]))
        x = np.where(finite, x, med)
        kind = specs[name].kind if name in specs else "custom"
        evidence = specs[name].evidence if name in specs else None
        prior = 0.0
        if evidence is not None and evidence in frame.columns:
            n_ev = np.nan_to_num(frame[evidence].to_numpy(dtype=float), nan=0.0)
            prior = float((n_ev * x).sum() / n_ev.sum()) if n_ev.sum() > 0 else float(x.mean())
            x = (n_ev * x + prior_weight * prior) / (n_ev + prior_weight)
        else:
            evidence = None
        log = False
        if kind in _LOG_KINDS and x.std() > 0:
            skew = float(((x - x.mean()) ** 3).mean() / x.std() ** 3)
            log = skew > skew_threshold
        if log:
            x = np.sign(x) * np.log1p(np.abs(x))
        centre = float(np.median(x))
        q75, q25 = np.percentile(x, [75, 25])
        scale = max(float(q75 - q25) / 1.349, float(x.std()))
        if not scale > 1e-12:
            dropped.append(str(name))
            continue
        columns.append(ColumnTransform(str(name), med, log, centre, scale, evidence, prior,
                                       prior_weight if evidence else 0.0))
    if dropped:
        warnings.warn(
            f"constant feature(s) left out of the clustering: {', '.join(dropped)}",
            UserWarning,
            stacklevel=2,
        )
    if not columns:
        raise InputError("no feature varies between customers; nothing to segment on")
    return Preparation(columns=tuple(columns), dropped_constant=tuple(dropped), imputed=imputed)
