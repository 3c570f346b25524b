"""The numbers of a profile: per segment and column, means, medians, an index against the
overall average, an effect size and a Benjamini-Hochberg corrected significance; level
shares and Cramér's V for categories; the traits that set a segment apart.

Everything is vectorized over customers, segments and columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import stats

from segmentkit.contract import Typed
from segmentkit.features import FeatureSpec
from segmentkit.profiles.wording import spec_for, trait_sentence

__all__ = [
    "CategoricalStat", "NumericStat", "SegmentStats", "Trait", "attribute_stats", "feature_stats", "top_traits",
]

MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
#: Relative size under which a standard deviation, standard error or difference counts as
#: zero: sums of squares of equal values leave rounding noise of about this size.
_TOL = 1e-12
#: An index needs an overall mean clearly above zero: above this absolute floor...
_INDEX_FLOOR = 1e-9
#: ... and above this fraction of the column's spread (else the ratio is noise over ~0).
_INDEX_REL = 1e-6
#: Effect sizes are ranked after rounding to this many decimals, so float noise between
#: platforms never reorders two equal traits.
_RANK_DECIMALS = 9


class NumericStat(Typed):
    """A numeric feature or attribute within a segment against all customers.

    ``mean``/``median`` are within the segment (``None`` when every value is missing),
    ``overall_*`` over all customers, noise included. ``index`` is ``100 * mean /
    overall_mean`` (``None`` when the overall mean is about zero or negative, or for signed
    ``trend`` features). ``effect_size`` is Cohen's d of the segment against all other
    customers; ``p_value`` a Welch t-test of segment vs. rest and ``p_adjusted`` its
    Benjamini-Hochberg adjustment; ``significant`` is ``p_adjusted <= alpha``.
    """

    name: str = Field("", exclude=True)  # the column; summary.json holds it as the key
    type: Literal["numeric"] = "numeric"
    mean: float | None
    median: float | None
    overall_mean: float | None
    overall_median: float | None
    index: float | None
    effect_size: float | None
    p_value: float | None
    p_adjusted: float | None
    significant: bool


class CategoricalStat(Typed):
    """A categorical attribute: level shares within the segment and overall.

    Levels are in display order (sorted; ``"(other)"`` and ``"(missing)"`` last); ``lift``
    is ``share / overall_share`` per level (1 = as common as overall); ``cramers_v`` is
    Cramér's V of (in segment vs. not) x level, ``p_value`` the chi-square test of that table
    and ``p_adjusted`` its Benjamini-Hochberg adjustment.
    """

    name: str = Field("", exclude=True)  # the column; summary.json holds it as the key
    type: Literal["categorical"] = "categorical"
    shares: dict[str, float | None]
    overall_shares: dict[str, float | None]
    lift: dict[str, float | None]
    cramers_v: float | None
    p_value: float | None
    p_adjusted: float | None
    significant: bool

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels in display order."""
        return tuple(self.shares)


class SegmentStats(Typed):
    """Every feature and every profile-only attribute of a segment."""

    features: dict[str, NumericStat]
    attributes: dict[str, NumericStat | CategoricalStat]


class Trait(Typed):
    """A feature that sets a segment apart (``top_features``), with its sentence."""

    feature: str
    label: str
    kind: str = Field("custom", exclude=True)  # the FeatureSpec kind, to format the means
    segment_mean: float | None
    overall_mean: float | None
    index: float | None
    effect_size: float | None
    direction: Literal["higher", "lower"]
    sentence: str


# ------------------------------------------------------------------------------- tables


#: A feature describes a segment (is "significant" for it, hence a trait or a top feature)
#: only when at least this share of its members have a value: gaps, regularity, trend and
#: seasonality do not exist for one-order customers, and a segment of mostly one-order
#: customers must not be named by the few who have them.
MIN_DESCRIBED_SHARE = 0.5

@dataclass(frozen=True)
class _NumericTable:
    """Per segment (rows) x column statistics."""

    mean: np.ndarray
    median: np.ndarray
    overall_mean: np.ndarray
    overall_median: np.ndarray
    effect: np.ndarray
    p: np.ndarray
    observed: np.ndarray  # share of each segment's members with a value


def _numeric_table(values: pd.DataFrame, codes: np.ndarray, n_seg: int,
                   overall_median: np.ndarray | None = None) -> _NumericTable:
    """Means, medians, Cohen's d and Welch p-values of each segment against the rest
    (``overall_median``: the columns' medians, when known).

    The customers x columns work happens in one buffer the size of ``values``: the values
    with zeros for the missing ones, then their deviations from the column means, then the
    squares. Every fresh array of that size costs its first touch of memory (a million
    customers: 200-400 MB, seconds where the machine has to find the pages), and five
    of them used to be made here.
    """
    arr = values.to_numpy(dtype=float)
    valid = ~np.isnan(arr)
    n_tot = valid.sum(axis=0).astype(float)
    work = np.zeros_like(arr)
    np.copyto(work, arr, where=valid)  # the values, missing ones 0
    with np.errstate(invalid="ignore", divide="ignore"):
        overall_mean = np.where(n_tot > 0, work.sum(axis=0) / n_tot, np.nan)
    np.subtract(arr, overall_mean, out=work, where=valid)  # centred (missing ones stay 0)

    grouper = pd.Index(codes)

    def per_segment(part: np.ndarray) -> np.ndarray:
        return (pd.DataFrame(part, copy=False).groupby(grouper).sum()
                .reindex(range(n_seg), fill_value=0).to_numpy(dtype=float))

    n_seg_obs = per_segment(valid)  # counts: booleans add up as integers
    s_seg = per_segment(work)
    s_tot = work.sum(axis=0)
    np.square(work, out=work)  # now the squares
    ss_seg = per_segment(work)
    ss_tot = work.sum(axis=0)
    del work

    n1, n2 = n_seg_obs, n_tot[None, :] - n_seg_obs
    s2, ss2 = s_tot[None, :] - s_seg, ss_tot[None, :] - ss_seg
    with np.errstate(invalid="ignore", divide="ignore"):
        m1c = np.where(n1 > 0, s_seg / n1, np.nan)
        m2c = np.where(n2 > 0, s2 / n2, np.nan)
        v1 = np.where(n1 > 1, np.maximum(ss_seg - n1 * m1c**2, 0.0) / (n1 - 1), 0.0)
        v2 = np.where(n2 > 1, np.maximum(ss2 - n2 * np.nan_to_num(m2c) ** 2, 0.0) / (n2 - 1), 0.0)
        overall_var = np.where(n_tot > 1, ss_tot / (n_tot - 1), 0.0)
    overall_sd = np.sqrt(np.maximum(overall_var, 0.0))
    # fmax and fmin pass over missing values (NaN for a column with none: constant too)
    col_max = np.fmax.reduce(arr, axis=0) if len(arr) else np.zeros(arr.shape[1])
    col_min = np.fmin.reduce(arr, axis=0) if len(arr) else np.zeros(arr.shape[1])
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
    if overall_median is None:
        overall_median = values.median().to_numpy(dtype=float)
    return _NumericTable(
        mean=mean,
        median=median,
        overall_mean=overall_mean,
        overall_median=overall_median,
        effect=effect,
        p=np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0),
        observed=n_seg_obs / np.maximum(np.bincount(codes, minlength=n_seg).astype(float), 1.0)[:, None],
    )


def _index(
    mean: np.ndarray, overall_mean: np.ndarray, overall_sd_like: np.ndarray, signed: np.ndarray
) -> np.ndarray:
    """``100 * mean / overall_mean``, NaN where the overall mean is ~0, negative or signed."""
    guard = np.maximum(_INDEX_FLOOR, _INDEX_REL * overall_sd_like)
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
    text = column.astype(object).where(~missing, MISSING_LEVEL).astype(str)
    level_codes, uniques = pd.factorize(text, sort=True)
    uniques = np.asarray(uniques, dtype=object)
    totals = np.bincount(level_codes, minlength=len(uniques))
    # Keep the most frequent levels (ties by name), pool the rest; missing shows last.
    real = [i for i, lv in enumerate(uniques) if lv != MISSING_LEVEL]
    keep = set(sorted(real, key=lambda i: (-totals[i], str(uniques[i])))[:max_levels])
    display = [str(lv) if lv == MISSING_LEVEL or i in keep else OTHER_LEVEL for i, lv in enumerate(uniques)]
    special = (OTHER_LEVEL, MISSING_LEVEL)
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


# ------------------------------------------------------------------------- per segment


def _numeric_stat(name: str, tab: _NumericTable, index: np.ndarray, code: int, j: int, p_adjusted: float,
                  alpha: float) -> NumericStat:
    return NumericStat(
        name=name,
        mean=tab.mean[code, j],
        median=tab.median[code, j],
        overall_mean=tab.overall_mean[j],
        overall_median=tab.overall_median[j],
        index=None if np.isnan(index[code, j]) else float(index[code, j]),
        effect_size=float(tab.effect[code, j]),
        p_value=float(tab.p[code, j]),
        p_adjusted=float(p_adjusted),
        # a feature most members lack (gaps of one-order customers) does not describe them
        significant=bool(p_adjusted <= alpha and tab.observed[code, j] >= MIN_DESCRIBED_SHARE),
    )


def feature_stats(feats: pd.DataFrame, codes: np.ndarray, n_seg: int, kinds: Sequence[str],
                  alpha: float, *, medians: np.ndarray | None = None) -> list[tuple[NumericStat, ...]]:
    """Per segment code, the statistics of every feature (one Benjamini-Hochberg family);
    ``medians``: the features' medians, when known."""
    tab = _numeric_table(feats, codes, n_seg, medians)
    sd = np.sqrt(np.maximum(feats.var(ddof=0).to_numpy(dtype=float), 0.0))
    index = _index(tab.mean, tab.overall_mean, np.nan_to_num(sd), np.array([k == "trend" for k in kinds]))
    p_adj = _bh(tab.p)
    return [tuple(_numeric_stat(str(c), tab, index, code, j, p_adj[code, j], alpha)
                  for j, c in enumerate(feats.columns)) for code in range(n_seg)]


def attribute_stats(attrs: pd.DataFrame | None, codes: np.ndarray, n_seg: int, max_levels: int,
                    alpha: float) -> list[tuple[NumericStat | CategoricalStat, ...]]:
    """Per segment code, the statistics of every profile-only attribute in column order
    (numbers and categories together form one Benjamini-Hochberg family)."""
    if attrs is None or attrs.shape[1] == 0:
        return [() for _ in range(n_seg)]
    numeric: dict[str, tuple[_NumericTable, np.ndarray]] = {}
    categorical: dict[str, _CategoricalTable] = {}
    for col in attrs.columns:
        series = attrs[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            frame = series.astype(float).to_frame(str(col))
            tab = _numeric_table(frame, codes, n_seg)
            sd = np.sqrt(np.maximum(np.nan_to_num(frame.var(ddof=0).to_numpy(dtype=float)), 0.0))
            numeric[str(col)] = (tab, _index(tab.mean, tab.overall_mean, sd, np.array([False])))
        else:
            categorical[str(col)] = _categorical_table(series, codes, n_seg, max_levels)
    # the family's columns: numeric attributes first, then categorical ones
    p_adj = _bh(np.concatenate([tab.p for tab, _ in numeric.values()]
                               + [ct.p[:, None] for ct in categorical.values()], axis=1))
    column_of = {name: j for j, name in enumerate([*numeric, *categorical])}
    out = []
    for code in range(n_seg):
        row: list[NumericStat | CategoricalStat] = []
        for col in attrs.columns:
            name = str(col)
            padj = float(p_adj[code, column_of[name]])
            if name in numeric:
                tab, index = numeric[name]
                row.append(_numeric_stat(name, tab, index, code, 0, padj, alpha))
                continue
            ct = categorical[name]
            row.append(CategoricalStat(
                name=name,
                shares=dict(zip(ct.levels, (float(s) for s in ct.shares[code]))),
                overall_shares=dict(zip(ct.levels, (float(s) for s in ct.overall))),
                lift=dict(zip(ct.levels, (float(s / o) if o > 0 else None
                                          for s, o in zip(ct.shares[code], ct.overall)))),
                cramers_v=float(ct.cramers_v[code]),
                p_value=float(ct.p[code]),
                p_adjusted=padj,
                significant=padj <= alpha,
            ))
        out.append(tuple(row))
    return out


def top_traits(fstats: Sequence[NumericStat], specs: Mapping[str, FeatureSpec], *, n_top: int,
               min_effect_size: float, baseline: str | None = None) -> tuple[Trait, ...]:
    """The significant features with the largest absolute effect (at least
    ``min_effect_size``), largest first, each with its sentence (``baseline``: who the
    overall means are of, when not everyone; see :func:`trait_sentence`)."""
    candidates = [s for s in fstats
                  if s.significant and abs(s.effect_size) >= min_effect_size and s.mean is not None]
    candidates.sort(key=lambda s: (-round(abs(s.effect_size), _RANK_DECIMALS), s.name))
    traits = []
    for s in candidates[:n_top]:
        spec = spec_for(s.name, specs)
        traits.append(Trait(
            feature=s.name,
            label=spec.label,
            kind=spec.kind,
            segment_mean=float(s.mean),
            overall_mean=float(s.overall_mean),
            index=s.index,
            effect_size=s.effect_size,
            direction="higher" if s.effect_size > 0 else "lower",
            sentence=trait_sentence(spec, float(s.mean), float(s.overall_mean), s.index, baseline),
        ))
    return tuple(traits)
