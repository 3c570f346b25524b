"""What each segment is: profiles, distinguishing features, rules and exemplars.

:func:`profile_segments` turns a clustering (one label per customer, ``-1`` for noise) into
the material strategists read:

* **size and value** -- customers, share, share of net revenue and a value index;
* **a full profile** -- mean and median of every feature and every profile-only attribute,
  each with an *index* against the overall average (100 = average, the marketing
  convention), an *effect size* (Cohen's d of segment vs. rest for numbers; Cramér's V and
  per-level share lift for categories) and a Benjamini-Hochberg corrected significance;
* **top distinguishing features** ranked by effect size, each with a plain sentence
  ("Share of orders with a discount: 62 % vs 18 % overall");
* **rules** -- a shallow one-vs-rest decision tree per segment on the *raw* features, turned
  into readable thresholds in the feature's own units, with precision and coverage, plus the
  accuracy of one surrogate tree that reproduces the whole segmentation;
* **exemplars** -- the most typical customers (closest to the segment centre in the
  clustering matrix, or highest membership confidence), shown by feature values only.

Noise (label ``-1``) is kept and profiled like any segment, flagged ``is_noise``.
Everything in :meth:`SegmentProfiles.to_dict` is JSON-safe and deterministic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.tree import DecisionTreeClassifier

from segmentkit.export import json_float as _num
from segmentkit.features import FeatureSpec
from segmentkit.sampling import DESCRIPTIVE_SAMPLE, StratifiedSample, stratified_sample

__all__ = [
    "NOISE",
    "CategoricalStat",
    "Condition",
    "Exemplar",
    "NumericStat",
    "Rule",
    "SegmentProfile",
    "SegmentProfiles",
    "TopFeature",
    "format_value",
    "profile_segments",
]

NOISE = -1
"""Label of customers the clustering left unassigned."""

_MISSING_LEVEL = "(missing)"
_OTHER_LEVEL = "(other)"
_TOL = 1e-12


# ---------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericStat:
    """Profile of one numeric feature or attribute within one segment.

    Attributes
    ----------
    name : str
        Column name.
    mean, median : float or None
        Within the segment (``None`` when every value is missing).
    overall_mean, overall_median : float or None
        Over all customers, noise included.
    index : float or None
        ``100 * mean / overall_mean``; ``None`` when the overall mean is about zero or
        negative, or for signed ``trend`` features (read the effect size instead).
    effect_size : float
        Cohen's d of the segment against all other customers (pooled standard deviation).
    p_value, p_adjusted : float
        Welch t-test of segment vs. rest, and its Benjamini-Hochberg adjustment.
    significant : bool
        ``p_adjusted <= alpha``.
    """

    name: str
    mean: float | None
    median: float | None
    overall_mean: float | None
    overall_median: float | None
    index: float | None
    effect_size: float
    p_value: float
    p_adjusted: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "type": "numeric",
            "mean": _num(self.mean),
            "median": _num(self.median),
            "overall_mean": _num(self.overall_mean),
            "overall_median": _num(self.overall_median),
            "index": _num(self.index),
            "effect_size": _num(self.effect_size),
            "p_value": _num(self.p_value),
            "p_adjusted": _num(self.p_adjusted),
            "significant": bool(self.significant),
        }


@dataclass(frozen=True)
class CategoricalStat:
    """Profile of one categorical attribute within one segment.

    Attributes
    ----------
    name : str
        Column name.
    levels : tuple of str
        Levels in display order (sorted; ``"(other)"`` and ``"(missing)"`` last).
    shares, overall_shares : tuple of float
        Share of each level within the segment and over all customers.
    lift : tuple of float
        ``share / overall_share`` per level (1 = as common as overall).
    cramers_v : float
        Cramér's V of (in segment vs. not) x level.
    p_value, p_adjusted : float
        Chi-square test of that table and its Benjamini-Hochberg adjustment.
    significant : bool
        ``p_adjusted <= alpha``.
    """

    name: str
    levels: tuple[str, ...]
    shares: tuple[float, ...]
    overall_shares: tuple[float, ...]
    lift: tuple[float | None, ...]
    cramers_v: float
    p_value: float
    p_adjusted: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "type": "categorical",
            "shares": {lv: _num(s) for lv, s in zip(self.levels, self.shares)},
            "overall_shares": {lv: _num(s) for lv, s in zip(self.levels, self.overall_shares)},
            "lift": {lv: _num(s) for lv, s in zip(self.levels, self.lift)},
            "cramers_v": _num(self.cramers_v),
            "p_value": _num(self.p_value),
            "p_adjusted": _num(self.p_adjusted),
            "significant": bool(self.significant),
        }


@dataclass(frozen=True)
class TopFeature:
    """One feature that sets a segment apart, with a plain-language sentence."""

    feature: str
    label: str
    kind: str
    segment_mean: float
    overall_mean: float
    index: float | None
    effect_size: float
    sentence: str

    @property
    def direction(self) -> str:
        """``"higher"`` or ``"lower"`` than the rest of the customers."""
        return "higher" if self.effect_size > 0 else "lower"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "feature": self.feature,
            "label": self.label,
            "segment_mean": _num(self.segment_mean),
            "overall_mean": _num(self.overall_mean),
            "index": _num(self.index),
            "effect_size": _num(self.effect_size),
            "direction": self.direction,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class Condition:
    """One threshold of a rule: ``feature op threshold`` with op in ``<=``, ``>``, ``>=``."""

    feature: str
    op: str
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {"feature": self.feature, "op": self.op, "threshold": _num(self.threshold)}


@dataclass(frozen=True)
class Rule:
    """A readable rule describing (part of) a segment.

    Attributes
    ----------
    text : str
        E.g. ``"days since last purchase ≤ 30 and number of orders ≥ 12"``.
    conditions : tuple of Condition
        The same rule, machine-readable (all must hold).
    precision : float
        Share of customers matching the rule who are in the segment.
    coverage : float
        Share of the segment's customers who match the rule.
    support : int
        Customers matching the rule.
    """

    text: str
    conditions: tuple[Condition, ...]
    precision: float
    coverage: float
    support: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "text": self.text,
            "precision": _num(self.precision),
            "coverage": _num(self.coverage),
            "support": int(self.support),
            "conditions": [c.to_dict() for c in self.conditions],
        }


@dataclass(frozen=True)
class Exemplar:
    """A customer typical of a segment, shown by feature values only (no identifiers).

    Attributes
    ----------
    rank : int
        1 = most typical.
    features : tuple of (str, float or None)
        Raw feature values, in feature order.
    distance : float
        Euclidean distance to the segment centre in the clustering matrix.
    confidence : float or None
        Membership confidence, when the algorithm gives one (then exemplars are ranked by it).
    """

    rank: int
    features: tuple[tuple[str, float | None], ...]
    distance: float
    confidence: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "rank": int(self.rank),
            "features": {k: _num(v) for k, v in self.features},
            "distance": _num(self.distance),
            "confidence": _num(self.confidence),
        }


@dataclass(frozen=True)
class SegmentProfile:
    """Everything known about one segment.

    Attributes
    ----------
    id : int
        Segment label (``-1`` = noise).
    size : int
        Customers in the segment.
    share : float
        ``size`` over all customers.
    value_share : float or None
        The segment's share of total net revenue (``None`` without ``value`` or when the
        total is about zero).
    value_index : float or None
        ``100 * mean value in segment / overall mean value``.
    value_mean : float or None
        Mean net revenue per customer in the segment.
    is_noise : bool
        The unassigned customers.
    top_features : tuple of TopFeature
        Distinguishing features, largest absolute effect size first.
    rules : tuple of Rule
        Readable rules, best first (F1 of precision and coverage).
    exemplars : tuple of Exemplar
        Most typical customers.
    features : tuple of NumericStat
        Every feature, in column order.
    attributes : tuple of NumericStat or CategoricalStat
        Every profile-only attribute, in column order.
    """

    id: int
    size: int
    share: float
    value_share: float | None
    value_index: float | None
    value_mean: float | None
    is_noise: bool
    top_features: tuple[TopFeature, ...]
    rules: tuple[Rule, ...]
    exemplars: tuple[Exemplar, ...]
    features: tuple[NumericStat, ...]
    attributes: tuple[NumericStat | CategoricalStat, ...]

    def feature(self, name: str) -> NumericStat:
        """The profile of feature ``name``."""
        for stat in self.features:
            if stat.name == name:
                return stat
        raise KeyError(name)

    def attribute(self, name: str) -> NumericStat | CategoricalStat:
        """The profile of attribute ``name``."""
        for stat in self.attributes:
            if stat.name == name:
                return stat
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (the ``summary.json`` ``segments[*]`` entry)."""
        return {
            "id": int(self.id),
            "size": int(self.size),
            "share": _num(self.share),
            "value_share": _num(self.value_share),
            "value_index": _num(self.value_index),
            "value_mean": _num(self.value_mean),
            "is_noise": bool(self.is_noise),
            "top_features": [t.to_dict() for t in self.top_features],
            "rules": [r.to_dict() for r in self.rules],
            "exemplars": [e.to_dict() for e in self.exemplars],
            "profile": {
                "features": {s.name: s.to_dict() for s in self.features},
                "attributes": {s.name: s.to_dict() for s in self.attributes},
            },
        }


@dataclass(frozen=True)
class SegmentProfiles:
    """Profiles of every segment of one clustering.

    Attributes
    ----------
    segments : tuple of SegmentProfile
        Ordered by segment id, noise (``-1``) last.
    surrogate_accuracy : float
        Share of customers whose segment a single shallow decision tree on the raw features
        reproduces (how well simple rules explain the whole segmentation).
    n_customers : int
        Customers profiled.
    alpha : float
        Significance level used with the Benjamini-Hochberg adjusted p-values.
    sample : StratifiedSample or None
        The rows rules, the surrogate tree and exemplars were fitted on (statistics use
        every customer).
    """

    segments: tuple[SegmentProfile, ...]
    surrogate_accuracy: float
    n_customers: int = 0
    alpha: float = 0.05
    sample: StratifiedSample | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        """Segment ids in profile order."""
        return tuple(s.id for s in self.segments)

    def get(self, segment_id: int) -> SegmentProfile:
        """The profile of segment ``segment_id``."""
        for seg in self.segments:
            if seg.id == segment_id:
                return seg
        raise KeyError(segment_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary: ``{"segments": [...], "surrogate_accuracy": ...}``."""
        return {
            "segments": [s.to_dict() for s in self.segments],
            "surrogate_accuracy": _num(self.surrogate_accuracy),
        }


# ---------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------


def _strip_zeros(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _fmt_number(x: float, decimals: int = 1) -> str:
    ax = abs(x)
    if ax >= 100:
        text = f"{x:,.0f}"
    elif ax >= 10:
        text = _strip_zeros(f"{x:,.1f}")
    elif ax >= 1:
        text = _strip_zeros(f"{x:.{decimals}f}")
    elif ax == 0:
        text = "0"
    else:
        text = f"{x:.2g}"
        if "e" in text:
            text = _strip_zeros(f"{x:.6f}")
    return "0" if text in ("-0", "") else text


def format_value(value: float | None, kind: str) -> str:
    """Format a feature value for people.

    Parameters
    ----------
    value : float or None
        The value, in the feature's own units.
    kind : str
        The :class:`~segmentkit.features.FeatureSpec` kind: shares become percentages
        (``"62 %"``), trends are signed (``"+0.42"``), other kinds are rounded to about three
        significant digits with thousands separators.

    Returns
    -------
    str
        ``"n/a"`` for a missing value.
    """
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    value = float(value)
    if kind == "share":
        pct = value * 100
        text = f"{pct:.0f}" if abs(pct) >= 10 or pct == round(pct) else _strip_zeros(f"{pct:.1f}")
        return f"{'0' if text == '-0' else text} %"
    if kind == "trend":
        text = f"{value:+.2f}"
        return "0.00" if text in ("+0.00", "-0.00") else text
    return _fmt_number(value, 2 if kind in ("amount", "ratio", "custom") else 1)


def _spec_for(name: str, specs: Mapping[str, FeatureSpec]) -> FeatureSpec:
    spec = specs.get(name)
    if spec is None:
        return FeatureSpec(name=name, kind="custom", label=name.replace("__", " ").replace("_", " "))
    return spec


def _with_unit(value: float, spec: FeatureSpec) -> str:
    text = format_value(value, spec.kind)
    if spec.kind == "days" and not re.search(r"\bdays?\b", spec.label.lower()):
        text += " days"
    return text


def _sentence(spec: FeatureSpec, seg_mean: float, overall_mean: float, index: float | None) -> str:
    """One plain sentence comparing a segment mean with the overall mean."""
    label = spec.label[:1].upper() + spec.label[1:]
    seg = _with_unit(seg_mean, spec)
    overall = format_value(overall_mean, spec.kind)
    if spec.kind in ("share", "trend") or index is None or index <= 0:
        return f"{label}: {seg} vs {overall} overall"
    ratio = index / 100.0
    if ratio >= 1.5:
        return f"{label}: {ratio:.1f}× the average ({seg} vs {overall})"
    if ratio > 1:
        return f"{label}: {ratio * 100 - 100:.0f} % above average ({seg} vs {overall})"
    if ratio <= 1 / 1.5:
        return f"{label}: {ratio * 100:.0f} % of the average ({seg} vs {overall})"
    return f"{label}: {100 - ratio * 100:.0f} % below average ({seg} vs {overall})"


# ---------------------------------------------------------------------------------------
# Statistics (vectorized over customers, segments and columns)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NumericTable:
    """Per segment (rows) x column statistics."""

    mean: np.ndarray
    median: np.ndarray
    overall_mean: np.ndarray
    overall_median: np.ndarray
    effect: np.ndarray
    p: np.ndarray


def _numeric_table(values: pd.DataFrame, codes: np.ndarray, n_seg: int) -> _NumericTable:
    """Means, medians, Cohen's d and Welch p-values of each segment against the rest."""
    arr = values.to_numpy(dtype=float)
    valid = ~np.isnan(arr)
    n_tot = valid.sum(axis=0).astype(float)
    filled = np.where(valid, arr, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall_mean = np.where(n_tot > 0, filled.sum(axis=0) / n_tot, np.nan)
    centred = np.where(valid, arr - overall_mean, 0.0)

    frame_c = pd.DataFrame(centred)
    frame_v = pd.DataFrame(valid.astype(float))
    frame_sq = pd.DataFrame(centred**2)
    grouper = pd.Index(codes)
    n_seg_obs = frame_v.groupby(grouper).sum().reindex(range(n_seg), fill_value=0.0).to_numpy()
    s_seg = frame_c.groupby(grouper).sum().reindex(range(n_seg), fill_value=0.0).to_numpy()
    ss_seg = frame_sq.groupby(grouper).sum().reindex(range(n_seg), fill_value=0.0).to_numpy()
    s_tot = centred.sum(axis=0)
    ss_tot = (centred**2).sum(axis=0)

    n1, n2 = n_seg_obs, n_tot[None, :] - n_seg_obs
    s2, ss2 = s_tot[None, :] - s_seg, ss_tot[None, :] - ss_seg
    with np.errstate(invalid="ignore", divide="ignore"):
        m1c = np.where(n1 > 0, s_seg / n1, np.nan)
        m2c = np.where(n2 > 0, s2 / n2, np.nan)
        v1 = np.where(n1 > 1, np.maximum(ss_seg - n1 * m1c**2, 0.0) / (n1 - 1), 0.0)
        v2 = np.where(n2 > 1, np.maximum(ss2 - n2 * np.nan_to_num(m2c) ** 2, 0.0) / (n2 - 1), 0.0)
        overall_var = np.where(n_tot > 1, ss_tot / (n_tot - 1), 0.0)
    overall_sd = np.sqrt(np.maximum(overall_var, 0.0))
    col_max = np.where(valid, arr, -np.inf).max(axis=0) if len(arr) else np.zeros(arr.shape[1])
    col_min = np.where(valid, arr, np.inf).min(axis=0) if len(arr) else np.zeros(arr.shape[1])
    constant = ~(col_max > col_min)
    scale = np.maximum(overall_sd, np.abs(np.nan_to_num(overall_mean))) + 1.0
    tol = _TOL * scale[None, :]

    diff = np.nan_to_num(m1c) - np.nan_to_num(m2c)
    pooled_df = n1 + n2 - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.sqrt(
            np.where(pooled_df > 0, ((n1 - 1).clip(0) * v1 + (n2 - 1).clip(0) * v2) / pooled_df, 0.0)
        )
        sd = np.where(pooled > tol, pooled, np.broadcast_to(overall_sd, pooled.shape))
        effect = np.where(sd > tol, diff / sd, 0.0)
        a, b = v1 / np.where(n1 > 0, n1, 1), v2 / np.where(n2 > 0, n2, 1)
        se = np.sqrt(a + b)
        t = np.where(se > tol, diff / se, 0.0)
        denom = np.where(n1 > 1, a**2 / (n1 - 1).clip(1), 0.0) + np.where(
            n2 > 1, b**2 / (n2 - 1).clip(1), 0.0
        )
        dof = np.where(denom > 0, (a + b) ** 2 / np.where(denom > 0, denom, 1.0), 1.0)
    p = 2.0 * stats.t.sf(np.abs(t), np.maximum(dof, 1.0))
    # Both groups constant but different: a sure difference; no usable test otherwise.
    p = np.where((se <= tol) & (np.abs(diff) > tol), 0.0, p)
    p = np.where((se <= tol) & (np.abs(diff) <= tol), 1.0, p)
    testable = (n1 >= 2) & (n2 >= 2) & ~constant[None, :]
    p = np.where(testable, p, 1.0)
    effect = np.where((n1 > 0) & (n2 > 0) & ~constant[None, :], effect, 0.0)

    mean = np.where(n1 > 0, m1c + overall_mean[None, :], np.nan)
    median = values.groupby(grouper).median().reindex(range(n_seg)).to_numpy(dtype=float)
    overall_median = values.median().to_numpy(dtype=float)
    return _NumericTable(
        mean=mean,
        median=median,
        overall_mean=overall_mean,
        overall_median=overall_median,
        effect=effect,
        p=np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0),
    )


def _index(
    mean: np.ndarray, overall_mean: np.ndarray, overall_sd_like: np.ndarray, signed: np.ndarray
) -> np.ndarray:
    """``100 * mean / overall_mean``, NaN where the overall mean is ~0, negative or signed."""
    guard = np.maximum(1e-9, 1e-6 * overall_sd_like)
    ok = (np.nan_to_num(overall_mean) > guard) & ~signed
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok[None, :], 100.0 * mean / np.where(ok, overall_mean, 1.0)[None, :], np.nan)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values over every entry of ``p``."""
    if p.size == 0:
        return p.copy()
    return stats.false_discovery_control(p.ravel(), method="bh").reshape(p.shape)


@dataclass(frozen=True)
class _CategoricalTable:
    levels: tuple[str, ...]
    shares: np.ndarray  # segments x levels
    overall: np.ndarray  # levels
    cramers_v: np.ndarray  # segments
    p: np.ndarray  # segments


def _categorical_table(
    column: pd.Series, codes: np.ndarray, n_seg: int, max_levels: int
) -> _CategoricalTable:
    """Shares per level, Cramér's V and chi-square p of (segment vs rest) x level."""
    missing = column.isna().to_numpy()
    text = column.astype(object).where(~missing, _MISSING_LEVEL).astype(str)
    level_codes, uniques = pd.factorize(text, sort=True)
    uniques = np.asarray(uniques, dtype=object)
    totals = np.bincount(level_codes, minlength=len(uniques))
    # Keep the most frequent levels (ties by name), pool the rest; missing shows last.
    real = [i for i, lv in enumerate(uniques) if lv != _MISSING_LEVEL]
    keep = set(sorted(real, key=lambda i: (-totals[i], str(uniques[i])))[:max_levels])
    display = [str(lv) if lv == _MISSING_LEVEL or i in keep else _OTHER_LEVEL for i, lv in enumerate(uniques)]
    special = (_OTHER_LEVEL, _MISSING_LEVEL)
    levels = sorted({d for d in display if d not in special}) + [d for d in special if d in display]
    pos = {lv: j for j, lv in enumerate(levels)}
    level_codes = np.array([pos[d] for d in display], dtype=np.int64)[level_codes]
    uniques = np.asarray(levels, dtype=object)
    n_lv = len(uniques)
    counts = (
        np.bincount(codes * n_lv + level_codes, minlength=n_seg * n_lv).reshape(n_seg, n_lv).astype(float)
    )
    total = counts.sum(axis=0)
    n = total.sum()
    n_in = counts.sum(axis=1)
    n_out = n - n_in
    out = total[None, :] - counts
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(n_in[:, None] > 0, counts / n_in[:, None], 0.0)
        overall = total / n if n > 0 else np.zeros(n_lv)
        e_in = n_in[:, None] * overall[None, :]
        e_out = n_out[:, None] * overall[None, :]
        chi2 = np.where(e_in > 0, (counts - e_in) ** 2 / np.where(e_in > 0, e_in, 1), 0.0).sum(axis=1)
        chi2 += np.where(e_out > 0, (out - e_out) ** 2 / np.where(e_out > 0, e_out, 1), 0.0).sum(axis=1)
    usable = (n_lv > 1) & (n_in > 0) & (n_out > 0)
    chi2 = np.where(usable, chi2, 0.0)
    v = np.sqrt(np.clip(chi2 / max(n, 1.0), 0.0, 1.0))
    p = np.where(usable, stats.chi2.sf(chi2, max(n_lv - 1, 1)), 1.0)
    return _CategoricalTable(
        levels=tuple(str(u) for u in uniques),
        shares=shares,
        overall=overall,
        cramers_v=v,
        p=np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0),
    )


# ---------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------


def _nice(x: float) -> float:
    """Round a threshold to two significant digits."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.2g}")


def _bound_text(spec: FeatureSpec, lower: tuple[str, float] | None, upper: tuple[str, float] | None) -> str:
    label = spec.label
    if lower is not None and upper is not None:
        return f"{label} between {_with_unit(lower[1], spec)} and {_with_unit(upper[1], spec)}"
    if lower is not None:
        sign = "≥" if lower[0] == ">=" else ">"
        return f"{label} {sign} {_with_unit(lower[1], spec)}"
    assert upper is not None
    return f"{label} ≤ {_with_unit(upper[1], spec)}"


def _leaf_paths(tree: DecisionTreeClassifier) -> dict[int, list[tuple[int, str, float]]]:
    """Conditions (feature index, op, threshold) leading to every leaf."""
    t = tree.tree_
    paths: dict[int, list[tuple[int, str, float]]] = {}
    stack: list[tuple[int, list[tuple[int, str, float]]]] = [(0, [])]
    while stack:
        node, conds = stack.pop()
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left == right:  # leaf
            paths[node] = conds
            continue
        f, thr = int(t.feature[node]), float(t.threshold[node])
        stack.append((right, [*conds, (f, ">", thr)]))
        stack.append((left, [*conds, (f, "<=", thr)]))
    return paths


def _make_rule(
    conds: list[tuple[int, str, float]],
    columns: list[str],
    specs: Mapping[str, FeatureSpec],
    integer_cols: np.ndarray,
    matrix: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    tolerance: float = 0.01,
) -> tuple[Rule, np.ndarray] | None:
    """Merge a leaf path into one readable rule with rounded thresholds and re-measure it.

    Per feature the tightest bounds are kept; thresholds are rounded; then conditions that
    do not pay for themselves (dropping them costs at most ``tolerance`` precision) are
    removed, most harmless first, so rules stay short. Rows count with their sampling
    ``weights``, so support and coverage estimate counts over all customers.
    """
    bounds: dict[int, dict[str, float]] = {}
    for f, op, thr in conds:
        b = bounds.setdefault(f, {})
        if op == "<=":
            b["upper"] = min(b.get("upper", math.inf), thr)
        else:
            b["lower"] = max(b.get("lower", -math.inf), thr)
    items: list[Condition] = []
    masks: list[np.ndarray] = []
    for f in sorted(bounds):
        b, col = bounds[f], matrix[:, f]
        if "lower" in b:
            if integer_cols[f]:
                thr = float(math.floor(b["lower"]) + 1)
                items.append(Condition(columns[f], ">=", thr))
                masks.append(col >= thr)
            else:
                thr = _nice(b["lower"])
                items.append(Condition(columns[f], ">", thr))
                masks.append(col > thr)
        if "upper" in b:
            thr = float(math.floor(b["upper"])) if integer_cols[f] else _nice(b["upper"])
            items.append(Condition(columns[f], "<=", thr))
            masks.append(col <= thr)
    if not items:
        return None

    def matches(active: list[int]) -> np.ndarray:
        return np.logical_and.reduce([masks[k] for k in active]) if active else np.ones(len(y), bool)

    wy = weights * y  # (weighted sums by masking: a dot product with a bool mask is far slower)

    def measure(active: list[int]) -> tuple[float, float, float]:
        mask = matches(active)
        support = float(weights[mask].sum())
        hits = float(wy[mask].sum())
        return (hits / support if support else 0.0), hits, support

    active = list(range(len(items)))
    full_precision = measure(active)[0]
    while len(active) > 1:
        best: tuple[float, int, int] | None = None
        best_k = -1
        for k in active:
            cand = measure([j for j in active if j != k])
            if cand[0] >= full_precision - tolerance and (
                best is None or (cand[0], cand[1]) > (best[0], best[1])
            ):
                best, best_k = cand, k
        if best is None:
            break
        active.remove(best_k)
    precision, hits, support = measure(active)
    if support == 0:
        return None
    kept = [items[k] for k in active]
    parts: list[str] = []
    for feature in dict.fromkeys(c.feature for c in kept):
        spec = _spec_for(feature, specs)
        lower = next(((c.op, c.threshold) for c in kept if c.feature == feature and c.op != "<="), None)
        upper = next(((c.op, c.threshold) for c in kept if c.feature == feature and c.op == "<="), None)
        parts.append(_bound_text(spec, lower, upper))
    rule = Rule(
        text=" and ".join(parts),
        conditions=tuple(kept),
        precision=precision,
        coverage=hits / max(float(wy.sum()), 1.0),
        support=int(round(support)),
    )
    return rule, matches(active) & y


def _segment_rules(
    matrix: np.ndarray,
    y: np.ndarray,
    columns: list[str],
    specs: Mapping[str, FeatureSpec],
    integer_cols: np.ndarray,
    weights: np.ndarray,
    *,
    depth: int,
    min_leaf: int,
    max_rules: int,
    min_precision: float,
    random_state: int,
) -> tuple[Rule, ...]:
    """Rules from a shallow one-vs-rest tree: positive leaves, re-measured after rounding."""
    n_pos = float(weights[y].sum())
    if not y.any() or y.all() or not columns:
        return ()
    tree = DecisionTreeClassifier(
        max_depth=depth, min_samples_leaf=min_leaf, class_weight="balanced", random_state=random_state
    )
    tree.fit(matrix, y, sample_weight=weights)
    positive_class = list(tree.classes_).index(True)
    weighted = tree.tree_.value[:, 0, :]
    found: dict[str, tuple[Rule, np.ndarray]] = {}
    for leaf, conds in sorted(_leaf_paths(tree).items()):
        if int(np.argmax(weighted[leaf])) != positive_class or not conds:
            continue
        made = _make_rule(conds, columns, specs, integer_cols, matrix, y, weights)
        if made is not None and made[0].text not in found:
            found[made[0].text] = made

    def f1(r: Rule) -> float:
        return 2 * r.precision * r.coverage / (r.precision + r.coverage) if r.precision + r.coverage else 0.0

    ranked = sorted(
        found.values(), key=lambda rm: (-round(f1(rm[0]), 12), -round(rm[0].precision, 12), rm[0].text)
    )
    good = [rm for rm in ranked if rm[0].precision >= min_precision]
    if not good and ranked:
        good = [max(ranked, key=lambda rm: (round(rm[0].precision, 12), rm[0].coverage, rm[0].text))]
    # A rule set: each kept rule must reach segment members the earlier ones miss.
    covered = np.zeros(len(y), dtype=bool)
    min_new = max(1, int(math.ceil(0.01 * n_pos)))
    kept: list[Rule] = []
    for rule, hits in good:
        if len(kept) >= max_rules:
            break
        if float(weights[hits & ~covered].sum()) >= min_new:
            kept.append(rule)
            covered |= hits
    return tuple(kept)


# ---------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------


def _aligned(obj: pd.Series | pd.DataFrame | np.ndarray, index: pd.Index, what: str) -> Any:
    """``obj`` aligned to the customers of ``features`` (by index when it has one)."""
    if isinstance(obj, (pd.Series, pd.DataFrame)):
        if obj.index.equals(index):
            return obj
        if not obj.index.is_unique:
            raise ValueError(f"{what} has duplicate index values")
        missing = ~index.isin(obj.index)
        if missing.any():
            raise ValueError(
                f"{what} is missing {int(missing.sum())} of {len(index)} customers of features "
                f"(first: {index[np.flatnonzero(missing)[0]]!r}); align it on the features index"
            )
        return obj.reindex(index)
    arr = np.asarray(obj)
    if len(arr) != len(index):
        raise ValueError(f"{what} has {len(arr)} rows, features has {len(index)}")
    return arr


def _check_labels(labels: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"labels must be 1-D with one label per customer ({n}); got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("labels must be integers (-1 for noise)")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers (-1 for noise); got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if n and arr.min() < NOISE:
        raise ValueError(f"labels must be >= -1 (-1 = noise); got {int(arr.min())}")
    return arr


def _numeric_frame(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    bad = [
        c
        for c in frame.columns
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    if bad:
        raise TypeError(f"{what} columns must be numeric; not numeric: {', '.join(map(str, bad))}")
    out = frame.astype(float)
    out.columns = [str(c) for c in frame.columns]
    return out


# ---------------------------------------------------------------------------------------
# Main entry point
# ---------------------------------------------------------------------------------------


def profile_segments(
    features: pd.DataFrame,
    labels: np.ndarray,
    *,
    X: np.ndarray,
    specs: Mapping[str, FeatureSpec],
    value: pd.Series | None = None,
    attributes: pd.DataFrame | None = None,
    confidence: np.ndarray | None = None,
    n_exemplars: int = 3,
    random_state: int = 0,
    n_top: int = 5,
    min_effect_size: float = 0.2,
    alpha: float = 0.05,
    rule_depth: int = 3,
    max_rules: int = 3,
    min_rule_precision: float = 0.5,
    surrogate_depth: int = 4,
    max_levels: int = 20,
    sample_size: int = DESCRIPTIVE_SAMPLE,
) -> SegmentProfiles:
    """Profile every segment of a clustering, noise included.

    Parameters
    ----------
    features : pandas.DataFrame
        Raw (unscaled) behavioral features, one row per customer (index ``customer_id``),
        numeric columns. Not modified.
    labels : numpy.ndarray
        Segment per row of ``features``; ``-1`` is noise.
    X : numpy.ndarray
        The prepared matrix the clustering used (same rows); exemplars are the rows closest
        to their segment's centre in it.
    specs : mapping of str to FeatureSpec
        Feature metadata by column name; columns without a spec are treated as ``custom``.
    value : pandas.Series, optional
        Net revenue per customer (aligned on the features index if it is a Series).
    attributes : pandas.DataFrame, optional
        Profile-only columns (demographics, persona, region, ...), aligned on the features
        index. Numeric columns get numeric statistics; others (strings, categoricals,
        booleans) get level shares, lift and Cramér's V. Missing levels show as
        ``"(missing)"``; beyond ``max_levels`` levels the rarest pool into ``"(other)"``.
    confidence : numpy.ndarray, optional
        Membership confidence per row; when given, exemplars are the most confident members.
    n_exemplars : int, default 3
        Exemplars per segment.
    random_state : int, default 0
        Seed of the decision trees.
    n_top : int, default 5
        Top distinguishing features kept per segment.
    min_effect_size : float, default 0.2
        Smallest absolute Cohen's d for a top feature (which must also be significant).
    alpha : float, default 0.05
        Level for the Benjamini-Hochberg adjusted p-values. Features form one family
        (all features x segments); attributes form another.
    rule_depth : int, default 3
        Depth of the one-vs-rest rule trees.
    max_rules : int, default 3
        Rules kept per segment.
    min_rule_precision : float, default 0.5
        Rules below this precision are dropped (the single most precise one is kept if
        none reach it).
    surrogate_depth : int, default 4
        Depth of the surrogate tree explaining the whole segmentation.
    max_levels : int, default 20
        Levels shown per categorical attribute.
    sample_size : int, default 20000
        Rules, the surrogate tree and exemplars are fitted on a segment-stratified sample
        of about this many customers (all of them when fewer), drawn with ``random_state``;
        support and coverage are weighted back to all customers. Statistics, sizes and
        values always use every customer.

    Returns
    -------
    SegmentProfiles
        One profile per segment, ordered by id with noise last.

    Notes
    -----
    Trees are fitted on the raw features with missing values replaced by the column
    median, so rule thresholds read in the features' own units (days, counts, %, money).
    Thresholds are rounded for reading (whole numbers for integer-valued columns, two
    significant digits otherwise) and precision and coverage are measured *after* rounding.
    Fitting the trees on a bounded sample keeps their cost flat as customers grow.
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError("features must be a pandas DataFrame")
    n = len(features)
    if n == 0:
        raise ValueError("features is empty")
    if n_exemplars < 0:
        raise ValueError("n_exemplars must be >= 0")
    feats = _numeric_frame(features, "features")
    columns = list(feats.columns)
    labels_arr = _check_labels(labels, n)
    X_arr = np.asarray(X, dtype=float)
    if X_arr.ndim != 2 or X_arr.shape[0] != n:
        raise ValueError(f"X must be 2-D with {n} rows; got shape {X_arr.shape}")
    if not np.all(np.isfinite(X_arr)):
        raise ValueError("X has missing or infinite values")

    value_arr: np.ndarray | None = None
    if value is not None:
        value_arr = np.asarray(_aligned(value, features.index, "value"), dtype=float).reshape(-1)
        if np.isnan(value_arr).any():
            raise ValueError("value has missing values (use 0 for customers without revenue)")
    attrs: pd.DataFrame | None = None
    if attributes is not None:
        if not isinstance(attributes, pd.DataFrame):
            raise TypeError("attributes must be a pandas DataFrame")
        attrs = _aligned(attributes, features.index, "attributes")
    conf_arr: np.ndarray | None = None
    if confidence is not None:
        conf_arr = np.asarray(confidence, dtype=float).reshape(-1)
        if len(conf_arr) != n:
            raise ValueError(f"confidence has {len(conf_arr)} values, features has {n} rows")
        conf_arr = np.nan_to_num(conf_arr, nan=-np.inf)

    present = np.unique(labels_arr)
    seg_ids = [int(s) for s in present if s != NOISE] + ([NOISE] if (present == NOISE).any() else [])
    n_seg = len(seg_ids)
    lookup = np.searchsorted(present, labels_arr)
    code_of_present = np.array([seg_ids.index(int(s)) for s in present])
    codes = code_of_present[lookup]
    sizes = np.bincount(codes, minlength=n_seg)

    # --- features ---------------------------------------------------------------------
    kinds = [_spec_for(c, specs).kind for c in columns]
    ftab = _numeric_table(feats, codes, n_seg)
    f_sd = np.sqrt(np.maximum(feats.var(ddof=0).to_numpy(dtype=float), 0.0)) if n else np.zeros(len(columns))
    f_index = _index(
        ftab.mean, ftab.overall_mean, np.nan_to_num(f_sd), np.array([k == "trend" for k in kinds])
    )
    f_padj = _bh(ftab.p)

    # --- attributes -------------------------------------------------------------------
    attr_num: dict[str, tuple[int, _NumericTable, np.ndarray]] = {}
    attr_cat: dict[str, _CategoricalTable] = {}
    attr_order: list[str] = []
    if attrs is not None:
        for col in attrs.columns:
            name = str(col)
            series = attrs[col]
            attr_order.append(name)
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                frame = series.astype(float).to_frame(name)
                tab = _numeric_table(frame, codes, n_seg)
                sd = np.sqrt(np.maximum(np.nan_to_num(frame.var(ddof=0).to_numpy(dtype=float)), 0.0))
                attr_num[name] = (
                    len(attr_num),
                    tab,
                    _index(tab.mean, tab.overall_mean, sd, np.array([False])),
                )
            else:
                attr_cat[name] = _categorical_table(series, codes, n_seg, max_levels)
    attr_p = (
        np.concatenate(
            [attr_num[a][1].p for a in attr_order if a in attr_num]
            + [attr_cat[a].p[:, None] for a in attr_order if a in attr_cat],
            axis=1,
        )
        if attr_order
        else np.zeros((n_seg, 0))
    )
    attr_padj = _bh(attr_p)
    attr_col = {
        a: j
        for j, a in enumerate(
            [a for a in attr_order if a in attr_num] + [a for a in attr_order if a in attr_cat]
        )
    }

    # --- rules and surrogate (on the stratified sample) -----------------------------------
    medians = np.nan_to_num(feats.median().to_numpy(dtype=float))
    raw = feats.to_numpy(dtype=float)
    filled = (np.where(np.isnan(raw[:, j]), medians[j], raw[:, j]) for j in range(raw.shape[1]))
    integer_cols = np.array([bool(np.all(col == np.round(col))) for col in filled], dtype=bool)
    sample = stratified_sample(codes, size=sample_size, random_state=random_state)
    rows, weights = sample.rows, sample.weights
    matrix = np.where(np.isnan(raw[rows]), medians[None, :], raw[rows])
    s_codes = codes[rows]
    min_leaf = max(5, int(math.ceil(0.01 * len(rows))))
    if n_seg > 1 and columns:
        surrogate = DecisionTreeClassifier(
            max_depth=surrogate_depth, min_samples_leaf=min_leaf, random_state=random_state
        )
        surrogate.fit(matrix, s_codes, sample_weight=weights)
        surrogate_accuracy = float(weights[surrogate.predict(matrix) == s_codes].sum() / weights.sum())
    else:
        surrogate_accuracy = 1.0

    # --- value --------------------------------------------------------------------------
    if value_arr is not None:
        v_seg = np.bincount(codes, weights=value_arr, minlength=n_seg)
        v_total = float(value_arr.sum())
        v_mean_all = v_total / n
        v_scale = float(np.abs(value_arr).sum())
    # --- assemble -----------------------------------------------------------------------
    segments: list[SegmentProfile] = []
    for code, sid in enumerate(seg_ids):
        fstats = tuple(
            NumericStat(
                name=c,
                mean=ftab.mean[code, j],
                median=ftab.median[code, j],
                overall_mean=ftab.overall_mean[j],
                overall_median=ftab.overall_median[j],
                index=None if np.isnan(f_index[code, j]) else float(f_index[code, j]),
                effect_size=float(ftab.effect[code, j]),
                p_value=float(ftab.p[code, j]),
                p_adjusted=float(f_padj[code, j]),
                significant=bool(f_padj[code, j] <= alpha),
            )
            for j, c in enumerate(columns)
        )
        astats: list[NumericStat | CategoricalStat] = []
        for a in attr_order:
            padj = float(attr_padj[code, attr_col[a]])
            if a in attr_num:
                _, tab, idx = attr_num[a]
                astats.append(
                    NumericStat(
                        name=a,
                        mean=tab.mean[code, 0],
                        median=tab.median[code, 0],
                        overall_mean=tab.overall_mean[0],
                        overall_median=tab.overall_median[0],
                        index=None if np.isnan(idx[code, 0]) else float(idx[code, 0]),
                        effect_size=float(tab.effect[code, 0]),
                        p_value=float(tab.p[code, 0]),
                        p_adjusted=padj,
                        significant=padj <= alpha,
                    )
                )
            else:
                ct = attr_cat[a]
                astats.append(
                    CategoricalStat(
                        name=a,
                        levels=ct.levels,
                        shares=tuple(float(s) for s in ct.shares[code]),
                        overall_shares=tuple(float(s) for s in ct.overall),
                        lift=tuple(
                            float(s / o) if o > 0 else None for s, o in zip(ct.shares[code], ct.overall)
                        ),
                        cramers_v=float(ct.cramers_v[code]),
                        p_value=float(ct.p[code]),
                        p_adjusted=padj,
                        significant=padj <= alpha,
                    )
                )

        candidates = [
            s
            for s in fstats
            if s.significant and abs(s.effect_size) >= min_effect_size and s.mean is not None
        ]
        candidates.sort(key=lambda s: (-round(abs(s.effect_size), 9), s.name))
        top = []
        for s in candidates[:n_top]:
            spec = _spec_for(s.name, specs)
            top.append(
                TopFeature(
                    feature=s.name,
                    label=spec.label,
                    kind=spec.kind,
                    segment_mean=float(s.mean),  # type: ignore[arg-type]
                    overall_mean=float(s.overall_mean),  # type: ignore[arg-type]
                    index=s.index,
                    effect_size=s.effect_size,
                    sentence=_sentence(spec, float(s.mean), float(s.overall_mean), s.index),  # type: ignore[arg-type]
                )
            )

        y = s_codes == code
        rules = _segment_rules(
            matrix,
            y,
            columns,
            specs,
            integer_cols,
            weights,
            depth=rule_depth,
            min_leaf=min_leaf,
            max_rules=max_rules,
            min_precision=min_rule_precision,
            random_state=random_state,
        )

        centre = X_arr[codes == code].mean(axis=0)
        members = rows[y]  # exemplars come from the sample
        dist = np.sqrt(((X_arr[members] - centre) ** 2).sum(axis=1))
        if conf_arr is not None:
            order = np.lexsort((members, dist, -conf_arr[members]))
        else:
            order = np.lexsort((members, dist))
        exemplars = tuple(
            Exemplar(
                rank=r + 1,
                features=tuple(
                    (c, None if np.isnan(raw[members[i], j]) else float(raw[members[i], j]))
                    for j, c in enumerate(columns)
                ),
                distance=float(dist[i]),
                confidence=None if conf_arr is None else float(conf_arr[members[i]]),
            )
            for r, i in enumerate(order[:n_exemplars])
        )

        if value_arr is not None:
            value_share = float(v_seg[code] / v_total) if abs(v_total) > 1e-9 * max(v_scale, 1.0) else None
            value_mean = float(v_seg[code] / sizes[code])
            value_index = (
                100.0 * value_mean / v_mean_all if v_mean_all > 1e-9 * max(v_scale / n, 1.0) else None
            )
        else:
            value_share = value_index = value_mean = None

        segments.append(
            SegmentProfile(
                id=sid,
                size=int(sizes[code]),
                share=float(sizes[code] / n),
                value_share=value_share,
                value_index=value_index,
                value_mean=value_mean,
                is_noise=sid == NOISE,
                top_features=tuple(top),
                rules=rules,
                exemplars=exemplars,
                features=fstats,
                attributes=tuple(astats),
            )
        )
    return SegmentProfiles(
        segments=tuple(segments), surrogate_accuracy=surrogate_accuracy, n_customers=n, alpha=alpha,
        sample=sample,
    )
