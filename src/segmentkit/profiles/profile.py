"""One profile per segment: :func:`profile_segments` checks its inputs, then puts together
the statistics (:mod:`.statistics`), the rules (:mod:`.rules`), the exemplars
(:mod:`.exemplars`) and the segment's size and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from segmentkit.contract import Typed
from segmentkit.export import json_float
from segmentkit.features import FeatureSpec
from segmentkit.profiles.exemplars import Exemplar, segment_exemplars
from segmentkit.profiles.rules import Rule, RuleData, segment_rules, surrogate_accuracy
from segmentkit.profiles.statistics import (
    CategoricalStat,
    NumericStat,
    SegmentStats,
    Trait,
    attribute_stats,
    feature_stats,
    top_traits,
)
from segmentkit.profiles.wording import spec_for
from segmentkit.sampling import DESCRIPTIVE_SAMPLE, StratifiedSample, stratified_sample

__all__ = ["NOISE", "SegmentProfile", "SegmentProfiles", "profile_segments"]

NOISE = -1
"""Label of customers the clustering left unassigned."""

#: A total value within this fraction of the summed absolute values (at least 1) counts as
#: zero: shares of a ~0 total are noise, so no value share or index is given.
_ZERO_VALUE = 1e-9


class SegmentProfile(Typed):
    """Everything known about one segment (``id`` −1: the customers left as noise).

    ``share`` is ``size`` over all customers; ``value_share`` the segment's share of total
    net revenue (``None`` without ``value`` or when the total is about zero),
    ``value_index`` ``100 * mean value in segment / overall mean value`` and ``value_mean``
    the mean net revenue per customer. ``top_features`` are the distinguishing features,
    largest absolute effect size first; ``rules`` the readable rules, best first (F1 of
    precision and coverage); ``exemplars`` the most typical customers; ``profile`` every
    feature and profile-only attribute.
    """

    id: int
    size: int
    share: float
    value_share: float | None
    value_index: float | None
    value_mean: float | None
    is_noise: bool
    top_features: list[Trait]
    rules: list[Rule]
    exemplars: list[Exemplar]
    profile: SegmentStats

    @property
    def features(self) -> tuple[NumericStat, ...]:
        """Every feature's statistics, in column order."""
        return tuple(self.profile.features.values())

    @property
    def attributes(self) -> tuple[NumericStat | CategoricalStat, ...]:
        """Every profile-only attribute's statistics, in column order."""
        return tuple(self.profile.attributes.values())

    def feature(self, name: str) -> NumericStat:
        """The profile of feature ``name``."""
        return self.profile.features[name]

    def attribute(self, name: str) -> NumericStat | CategoricalStat:
        """The profile of attribute ``name``."""
        return self.profile.attributes[name]


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
    medians : dict of str to float
        Each feature's median over the customers profiled (none for a feature without a
        value), which the rules read in place of a missing value.
    """

    segments: tuple[SegmentProfile, ...]
    surrogate_accuracy: float
    n_customers: int = 0
    alpha: float = 0.05
    sample: StratifiedSample | None = None
    medians: Mapping[str, float] = field(default_factory=dict)

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
            "surrogate_accuracy": json_float(self.surrogate_accuracy),
        }


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


@dataclass(frozen=True)
class _Inputs:
    """The checked inputs of :func:`profile_segments`."""

    feats: pd.DataFrame
    labels: np.ndarray
    X: np.ndarray
    value: np.ndarray | None
    attributes: pd.DataFrame | None
    confidence: np.ndarray | None
    #: each feature's median over every customer (NaN for a column with no value), found
    #: once for the statistics and the rules (a million customers: 0.35 s each time)
    medians: np.ndarray


def _checked(features: pd.DataFrame, labels: np.ndarray, X: np.ndarray, value: pd.Series | None,
             attributes: pd.DataFrame | None, confidence: np.ndarray | None, n_exemplars: int) -> _Inputs:
    if not isinstance(features, pd.DataFrame):
        raise TypeError("features must be a pandas DataFrame")
    n = len(features)
    if n == 0:
        raise ValueError("features is empty")
    if n_exemplars < 0:
        raise ValueError("n_exemplars must be >= 0")
    feats = _numeric_frame(features, "features")
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
    return _Inputs(feats, labels_arr, X_arr, value_arr, attrs, conf_arr, feats.median().to_numpy(dtype=float))


def _segment_codes(labels: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Segment ids in profile order (noise last) and each row's position in that order."""
    present = np.unique(labels)
    seg_ids = [int(s) for s in present if s != NOISE] + ([NOISE] if (present == NOISE).any() else [])
    code_of_present = np.array([seg_ids.index(int(s)) for s in present])
    return seg_ids, code_of_present[np.searchsorted(present, labels)]


def _value_figures(value: np.ndarray | None, codes: np.ndarray, sizes: np.ndarray,
                   ) -> list[tuple[float | None, float | None, float | None]]:
    """Per segment code: share of total value, mean value, value index (``None`` without
    ``value``; share and index ``None`` when the total or the mean is about zero)."""
    if value is None:
        return [(None, None, None)] * len(sizes)
    n = len(value)
    v_seg = np.bincount(codes, weights=value, minlength=len(sizes))
    v_total = float(value.sum())
    v_mean_all = v_total / n
    v_scale = float(np.abs(value).sum())
    out = []
    for code, size in enumerate(sizes):
        share = float(v_seg[code] / v_total) if abs(v_total) > _ZERO_VALUE * max(v_scale, 1.0) else None
        mean = float(v_seg[code] / size)
        index = 100.0 * mean / v_mean_all if v_mean_all > _ZERO_VALUE * max(v_scale / n, 1.0) else None
        out.append((share, mean, index))
    return out


@dataclass(frozen=True)
class _SegmentStatistics:
    """What every customer says about the segments (no sampling).

    ``seg_ids`` in profile order (noise last), ``codes`` each customer's position in that
    order, ``sizes`` the members per code, ``values`` the (share, mean, index) of value per
    code, ``features`` and ``attributes`` the statistics per code.
    """

    seg_ids: list[int]
    codes: np.ndarray
    sizes: np.ndarray
    values: list[tuple[float | None, float | None, float | None]]
    features: list[tuple[NumericStat, ...]]
    attributes: list[tuple[NumericStat | CategoricalStat, ...]]


def _segment_statistics(inputs: _Inputs, specs: Mapping[str, FeatureSpec], *, alpha: float,
                        max_levels: int) -> _SegmentStatistics:
    """Sizes, value figures and feature and attribute statistics of every segment."""
    seg_ids, codes = _segment_codes(inputs.labels)
    n_seg = len(seg_ids)
    sizes = np.bincount(codes, minlength=n_seg)
    kinds = [spec_for(c, specs).kind for c in inputs.feats.columns]
    return _SegmentStatistics(
        seg_ids=seg_ids,
        codes=codes,
        sizes=sizes,
        values=_value_figures(inputs.value, codes, sizes),
        features=feature_stats(inputs.feats, codes, n_seg, kinds, alpha, medians=inputs.medians),
        attributes=attribute_stats(inputs.attributes, codes, n_seg, max_levels, alpha),
    )


@dataclass(frozen=True)
class _SampleFits:
    """What is fitted on the descriptive sample: rules and exemplars per segment code, and
    the weighted accuracy of one surrogate tree over the whole segmentation."""

    sample: StratifiedSample
    rules: list[tuple[Rule, ...]]
    exemplars: list[tuple[Exemplar, ...]]
    surrogate_accuracy: float


def _sample_fits(inputs: _Inputs, codes: np.ndarray, n_seg: int, specs: Mapping[str, FeatureSpec], *,
                 rule_depth: int, max_rules: int, min_rule_precision: float, surrogate_depth: int,
                 n_exemplars: int, sample_size: int, random_state: int) -> _SampleFits:
    """Draw the segment-stratified sample, then fit the rules, exemplars and surrogate tree on it."""
    feats = inputs.feats
    columns = list(feats.columns)
    raw = feats.to_numpy(dtype=float)
    sample = stratified_sample(codes, size=sample_size, random_state=random_state)
    data = RuleData(raw, np.nan_to_num(inputs.medians), sample.rows, sample.weights, codes)
    return _SampleFits(
        sample=sample,
        rules=[segment_rules(data, code, columns, specs, depth=rule_depth, max_rules=max_rules,
                             min_precision=min_rule_precision, random_state=random_state) for code in range(n_seg)],
        exemplars=[segment_exemplars(inputs.X, raw, columns, codes == code,
                                     sample.rows[data.codes == code],  # exemplars come from the sample
                                     inputs.confidence, n_exemplars) for code in range(n_seg)],
        surrogate_accuracy=surrogate_accuracy(data, n_seg, depth=surrogate_depth, random_state=random_state),
    )


def _segment_profile(code: int, stats: _SegmentStatistics, fits: _SampleFits, specs: Mapping[str, FeatureSpec], *,
                     n_top: int, min_effect_size: float, baseline: str | None = None) -> SegmentProfile:
    """The profile of the segment at position ``code``, from what was measured and fitted."""
    sid = stats.seg_ids[code]
    value_share, value_mean, value_index = stats.values[code]
    return SegmentProfile(
        id=sid,
        size=int(stats.sizes[code]),
        share=float(stats.sizes[code] / len(stats.codes)),
        value_share=value_share,
        value_index=value_index,
        value_mean=value_mean,
        is_noise=sid == NOISE,
        top_features=top_traits(stats.features[code], specs, n_top=n_top, min_effect_size=min_effect_size,
                                baseline=baseline),
        rules=fits.rules[code],
        exemplars=fits.exemplars[code],
        profile=SegmentStats(features={s.name: s for s in stats.features[code]},
                             attributes={s.name: s for s in stats.attributes[code]}),
    )


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
    baseline: str | None = None,
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
    baseline : str, optional
        Who the customers of ``features`` are when not everyone, as the traits' sentences
        name them ("vs 18 % in the active base"; default: "overall", "the average").

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
    inputs = _checked(features, labels, X, value, attributes, confidence, n_exemplars)
    stats = _segment_statistics(inputs, specs, alpha=alpha, max_levels=max_levels)
    n_seg = len(stats.seg_ids)
    fits = _sample_fits(inputs, stats.codes, n_seg, specs, rule_depth=rule_depth, max_rules=max_rules,
                        min_rule_precision=min_rule_precision, surrogate_depth=surrogate_depth,
                        n_exemplars=n_exemplars, sample_size=sample_size, random_state=random_state)
    segments = tuple(_segment_profile(code, stats, fits, specs, n_top=n_top, min_effect_size=min_effect_size,
                                      baseline=baseline) for code in range(n_seg))
    return SegmentProfiles(segments=segments, surrogate_accuracy=fits.surrogate_accuracy,
                           n_customers=len(inputs.feats), alpha=alpha, sample=fits.sample,
                           medians={str(c): float(m) for c, m in zip(inputs.feats.columns, inputs.medians)
                                    if not np.isnan(m)})
