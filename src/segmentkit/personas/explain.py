"""What a split means: the behavioural features that separate a persona's sub-segments,
and whether the sub-segments look alike demographically."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Mapping

import numpy as np
import pandas as pd

from segmentkit.features import FeatureSpec
from segmentkit.personas.classification import SLACK, Classes
from segmentkit.personas.narrative import quoted
from segmentkit.personas.shares import Shares
from segmentkit.personas.types import PersonaSplit, SeparatingFeature
from segmentkit.wording import format_compact

__all__ = ["demographic_distances", "separating_features", "splits"]

#: Feature kinds whose effect sizes are computed on ``sign(x) * log1p(|x|)`` (heavy tails).
_LOG_KINDS = frozenset({"count", "amount", "ratio"})
#: Demographic categories rarer than this (within the compared customers) are pooled.
_RARE_CATEGORY = 0.02
#: A standard deviation at or below this is zero (a constant column, up to rounding).
_ZERO_SD = 1e-12
#: The same for a pooled variance.
_ZERO_VARIANCE = 1e-24


def separating_features(
    frame: pd.DataFrame,
    groups: np.ndarray,
    order: tuple[int, ...],
    names: Mapping[int, str],
    specs: Mapping[str, FeatureSpec],
    min_effect: float,
    n_features: int,
) -> tuple[SeparatingFeature, ...]:
    """Top features by standardised range of means between the groups (vectorised)."""
    if frame.shape[1] == 0 or len(order) < 2:
        return ()
    raw = frame
    logged = [c for c in raw.columns if c in specs and specs[c].kind in _LOG_KINDS]
    scaled = raw.copy() if logged else raw
    if logged:
        scaled[logged] = np.sign(raw[logged]) * np.log1p(np.abs(raw[logged]))
    key = pd.Series(groups, index=raw.index)
    means_raw = raw.groupby(key).mean().reindex(list(order))
    g = scaled.groupby(key)
    means = g.mean().reindex(list(order))
    var = g.var(ddof=1).reindex(list(order))
    cnt = g.count().reindex(list(order))
    dof = (cnt - 1).clip(lower=0)
    pooled_num = (var.fillna(0.0) * dof).sum(axis=0)
    pooled_den = dof.sum(axis=0)  # sum of (n_g - 1)
    pooled_sd = np.sqrt(pooled_num / pooled_den.where(pooled_den > 0))
    overall_sd = scaled.std(ddof=1)
    sd = pooled_sd.where(pooled_sd > _ZERO_SD, overall_sd)
    spread = means.max(axis=0) - means.min(axis=0)
    effect = (spread / sd.where(sd > _ZERO_SD)).fillna(0.0)
    # every group needs at least one value for the feature to count
    effect = effect.where(cnt.min(axis=0) > 0, 0.0)
    ranked = sorted(
        ((float(e), c) for c, e in effect.items() if float(e) >= min_effect), key=lambda t: (-t[0], t[1])
    )[:n_features]
    out = []
    for e, col in ranked:
        spec = specs.get(col)
        label = spec.label if spec is not None else col.replace("__", " ").replace("_", " ")
        vals = {sid: float(means_raw.at[sid, col]) for sid in order}
        hi = max(order, key=lambda s: (means.at[s, col], -s))
        lo = min(order, key=lambda s: (means.at[s, col], s))
        hi_n, lo_n = quoted(names.get(hi, f"Segment {hi}")), quoted(names.get(lo, f"Segment {lo}"))
        kind = spec.kind if spec is not None else None
        hv, lv = format_compact(vals[hi], kind), format_compact(vals[lo], kind)
        if len(order) == 2:
            sentence = f"{label} is higher in {hi_n} ({hv}) than in {lo_n} ({lv})"
        else:
            sentence = f"{label} is highest in {hi_n} ({hv}) and lowest in {lo_n} ({lv})"
        out.append(SeparatingFeature(feature=col, label=label, values=vals, effect_size=e, sentence=sentence))
    return tuple(out)


def demographic_distances(
    frame: pd.DataFrame, groups: np.ndarray, order: tuple[int, ...]
) -> dict[str, float]:
    """Largest pairwise distance between groups per demographic column, in [0, 1].

    Categorical columns: total-variation distance between the category mixes (missing
    is a category of its own; categories rarer than 2 % are pooled). Numeric columns: the
    total-variation distance between two equal-variance normals whose means differ by
    the standardised mean difference ``d``, ``erf(d / (2 sqrt 2))`` (d = 0.5 gives 0.20),
    so both kinds are on the same scale. Both are corrected for small-sample bias: the
    squared difference of each category share (of the standardised means) has the
    expected sampling variance subtracted before the root is taken, so two samples of the
    same population score close to 0 rather than ~0.1.
    """
    out: dict[str, float] = {}
    key = pd.Series(groups, index=frame.index)
    pairs = list(combinations(order, 2))
    for col in frame.columns:
        x = frame[col]
        if pd.api.types.is_numeric_dtype(x.dtype) and not pd.api.types.is_bool_dtype(x.dtype):
            xf = x.astype(float)
            g = xf.groupby(key)
            m, v, c = g.mean(), g.var(ddof=1), g.count()
            worst = None
            for a, b in pairs:
                na, nb = float(c.get(a, 0)), float(c.get(b, 0))
                if na < 2 or nb < 2:
                    continue
                pooled = ((na - 1) * v[a] + (nb - 1) * v[b]) / (na + nb - 2)
                if not pooled > _ZERO_VARIANCE:
                    dist = 0.0 if m[a] == m[b] else 1.0
                else:
                    d2 = (m[a] - m[b]) ** 2 / pooled - (1.0 / na + 1.0 / nb)
                    dist = math.erf(math.sqrt(max(d2, 0.0)) / (2.0 * math.sqrt(2.0)))
                worst = dist if worst is None else max(worst, dist)
            if worst is not None:
                out[str(col)] = worst
        else:
            cat = x.astype(object).where(x.notna(), "(missing)").astype(str)
            freq = cat.value_counts(normalize=True)
            rare = freq.index[freq < _RARE_CATEGORY]
            if len(rare):
                cat = cat.where(~cat.isin(rare), "(other)")
            tab = pd.crosstab(key, cat).reindex(list(order), fill_value=0)
            counts = tab.to_numpy(dtype=float)
            if counts.shape[1] < 2:
                out[str(col)] = 0.0
                continue
            pooled_p = counts.sum(axis=0) / counts.sum()
            worst = None
            for a, b in pairs:
                ia, ib = order.index(a), order.index(b)
                na, nb = counts[ia].sum(), counts[ib].sum()
                if na < 1 or nb < 1:
                    continue
                diff2 = (counts[ia] / na - counts[ib] / nb) ** 2
                diff2 -= pooled_p * (1.0 - pooled_p) * (1.0 / na + 1.0 / nb)
                dist = min(1.0, 0.5 * float(np.sqrt(np.clip(diff2, 0.0, None)).sum()))
                worst = dist if worst is None else max(worst, dist)
            if worst is not None:
                out[str(col)] = worst
    return dict(sorted(out.items()))


def splits(sh: Shares, cl: Classes, lab: np.ndarray, pcode: np.ndarray, names: Mapping[int, str], *,
           specs: Mapping[str, FeatureSpec], features: pd.DataFrame | None, demographics: pd.DataFrame | None,
           min_effect: float, n_features: int, lookalike: float) -> tuple[PersonaSplit, ...]:
    """Every split persona with its sub-segments (largest share first), what separates
    them behaviourally and how alike they are demographically."""
    feat_num = None
    if features is not None:
        feat_num = features.select_dtypes(include=["number", "bool"]).astype(float).reset_index(drop=True)
    demo = demographics.reset_index(drop=True) if demographics is not None else None
    out = []
    for i in np.flatnonzero(cl.is_split):
        js = sorted(np.flatnonzero(cl.target[i]).tolist(), key=lambda j: (-sh.r[i, j], sh.seg_ids[j]))
        order = tuple(sh.seg_ids[j] for j in js)
        idx = np.flatnonzero((pcode == i) & np.isin(lab, np.asarray(order)))
        groups = lab[idx]
        sep: tuple[SeparatingFeature, ...] = ()
        if feat_num is not None:
            sep = separating_features(feat_num.iloc[idx].reset_index(drop=True), groups, order, names, specs,
                                      min_effect, n_features)
        by_col: dict[str, float] = {}
        similarity = None
        if demo is not None and demo.shape[1]:
            dist = demographic_distances(demo.iloc[idx].reset_index(drop=True), groups, order)
            by_col = {k: 1.0 - v for k, v in dist.items()}
            similarity = 1.0 - max(dist.values()) if dist else None
        out.append(PersonaSplit(
            persona=sh.persona_names[i],
            segments=order,
            names=tuple(names[s] for s in order),
            shares={sh.seg_ids[j]: float(sh.r[i, j]) for j in js},
            separating_features=sep,
            demographic_similarity=similarity,
            demographic_by_column=by_col,
            lookalike=similarity is not None and similarity >= lookalike - SLACK,
        ))
    return tuple(out)
