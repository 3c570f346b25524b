"""Fitted preprocessing from features to the matrix the clustering sees.

Per feature column, in order:

1. **impute** missing values with the median (counted, reported);
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

from segmentkit.features import FeatureSpec

__all__ = ["ColumnTransform", "Preparation", "fit_preparation"]

_LOG_KINDS = frozenset({"count", "amount", "days", "ratio", "custom"})


@dataclass(frozen=True)
class ColumnTransform:
    """How one column is transformed."""

    name: str
    impute: float
    log: bool
    center: float
    scale: float


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
        raw[:, logs] = np.sign(raw[:, logs]) * np.log1p(np.abs(raw[:, logs]))
        return (raw - centre) / scale

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
        log = False
        if kind in _LOG_KINDS and x.std() > 0:
            skew = float(((x - x.mean()) ** 3).mean() / x.std() ** 3)
            log = skew > skew_threshold
        if log:
            x = np.sign(x) * np.log1p(np.abs(x))
        centre = float(np.median(x))
        q75, q25 = np.percentile(x, [75, 25])
        scale = float(q75 - q25)
        if not scale > 1e-12:
            scale = float(x.std())
        if not scale > 1e-12:
            dropped.append(str(name))
            continue
        columns.append(ColumnTransform(str(name), med, log, centre, scale))
    if dropped:
        warnings.warn(
            f"constant feature(s) left out of the clustering: {', '.join(dropped)}",
            UserWarning,
            stacklevel=2,
        )
    if not columns:
        from segmentkit.errors import InputError

        raise InputError("no feature varies between customers; nothing to segment on")
    return Preparation(columns=tuple(columns), dropped_constant=tuple(dropped), imputed=imputed)
