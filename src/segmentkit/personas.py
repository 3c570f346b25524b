"""Behavioral segments against the client's existing personas.

Given the segment of every customer and the persona the client has assigned to them,
:func:`compare_personas` computes the crosstab (counts and shares both ways), agreement
scores (ARI, AMI, NMI, V-measure), an optimal one-to-one matching, and classifies every
persona and segment:

Notation: ``n[P, S]`` customers of persona ``P`` in segment ``S``; ``r[P, S] = n[P, S] /
|P|`` the share of the persona's members in ``S`` (``|P|`` counts all its members, noise
included, so a persona's row of shares sums to 1 with the ``"-1"`` column); ``c[P, S] =
n[P, S] / |S|`` the share of the segment drawn from ``P`` (``|S|`` counts the segment's
members with a known persona); ``base[P] = |P| / N`` the persona's share of all customers
with a known persona.

over-represented
    ``P`` is over-represented in ``S`` when ``c[P, S] >= min(lift * base[P], (1 + base[P])
    / 2)`` (default ``lift`` 1.5): the persona's share of the segment is at least 1.5
    times its share of the base, or, for a persona holding more than half of all
    customers (for which 1.5x is impossible or nearly so), at least halfway between its
    base share and 100 %. This is what "the segment is (partly) this persona's" means;
    a segment that draws from every persona in proportion has no over-represented
    persona, however large its biggest contributor is.
split
    ``P`` is split when at least two claimed segments each hold ``r[P, S] >=
    split_share`` (default 20 %) of it *and* ``P`` is over-represented in each. Without
    these conditions a large cross-persona segment (which takes, say, 25 % of every
    persona) would make every persona look split.
merge
    ``S`` is a merge when at least two personas each contribute ``c[P, S] >= merge_share``
    (default 25 %) of it, are over-represented in it, and send ``r[P, S] >= split_share``
    of their own members to it: "two personas behave alike" means a substantial part of
    *each* persona lands in the same segment and the segment is characteristic of them.
claimed / new
    ``S`` is *claimed* when the personas over-represented in it together make up at least
    ``dominance`` (default 50 %) of it, and *new* otherwise: no persona or group of
    personas dominates it, so it is spread across the personas (drawn in proportion, or
    even in equal numbers from personas of unequal size, in which case a small persona is
    over-represented but still a minority of the segment). Only claimed segments can be
    split targets, merges or matches, so a large cross-persona group never makes the
    personas it draws from look split.
match
    The Hungarian (one-to-one) matching maximising the Jaccard overlap ``n / (|P| + |S| -
    n)``; a matched pair is reported as a *match* when it is mutually dominant (``r[P, S]
    >= dominance`` and ``c[P, S] >= dominance``, default 50 %), the persona is not split
    and the segment is neither a merge nor new.
dissolved
    ``P`` is dissolved when it is not split, not part of a merge, not matched and has no
    segment of its own, i.e. no segment of which it is the largest source, in which it
    is over-represented and which holds at least ``split_share`` of it.

Every persona gets one kind (precedence ``split > merge > match > partial >
dissolved``; *partial* is a persona that leads a segment of its own without a clean
match), every non-noise segment one kind (``merge > new > split > match > other``;
``"unknown"`` for a segment without any customer of known persona). Customers with a
missing persona are left out of the crosstab and the scores; noise customers (label
``-1``) stay in the crosstab as segment ``"-1"`` but are never a split target, merge or
new segment, and are left out of the agreement scores.

For each split the module reports what separates the sub-segments behaviourally (the
features with the largest standardised difference between the persona's members in each
sub-segment) and whether the sub-segments are **demographic lookalikes** (see
:func:`compare_personas`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics

from segmentkit.export import json_float as _r
from segmentkit.features import FeatureSpec

if TYPE_CHECKING:  # pragma: no cover
    from segmentkit.opportunities import Opportunities

__all__ = [
    "SeparatingFeature",
    "PersonaSplit",
    "PersonaMerge",
    "PersonaMatch",
    "PersonaComparison",
    "compare_personas",
]

NOISE = -1
#: Agreement (adjusted Rand index) below which the personas "explain little" of behaviour:
#: the narrative says so once and then tells only the splits, merges and new groups.
WEAK_AGREEMENT = 0.2
#: A persona "maps cleanly" onto a segment only when at least this share of the persona is
#: in it and this share of the segment is the persona; below, the shares are given instead.
CLEAN_SHARE = 0.8
#: Feature kinds whose effect sizes are computed on ``sign(x) * log1p(|x|)`` (heavy tails).
_LOG_KINDS = frozenset({"count", "amount", "ratio"})
#: Demographic categories rarer than this (within the compared customers) are pooled.
_RARE_CATEGORY = 0.02


def _pct(share: float) -> str:
    return f"{100.0 * share:.0f} %"


def _q(name: str) -> str:
    return f"'{name}'"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SeparatingFeature:
    """One behavioral feature that differs between the sub-segments of a split.

    Attributes
    ----------
    feature : str
        Column name.
    label : str
        Plain words (from the :class:`~segmentkit.features.FeatureSpec`, else the name).
    values : dict of int to float
        Mean of the feature among the persona's members in each sub-segment.
    effect_size : float
        ``(max mean - min mean) / pooled within-sub-segment SD`` (Cohen's d for two
        sub-segments), on ``sign(x) log1p(|x|)`` for counts, amounts and ratios.
    sentence : str
        E.g. "share of spend on electronics is higher in 'A' (42 %) than in 'B' (11 %)".
    """

    feature: str
    label: str
    values: dict[int, float]
    effect_size: float
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "feature": self.feature,
            "label": self.label,
            "values": {str(k): _r(v) for k, v in self.values.items()},
            "effect_size": _r(self.effect_size),
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class PersonaSplit:
    """A persona whose members fall into two or more of its own segments.

    Attributes
    ----------
    persona : str
    segments : tuple of int
        The sub-segments, by decreasing share of the persona.
    names : tuple of str
        Their names.
    shares : dict of int to float
        Share of the persona's members in each sub-segment.
    separating_features : tuple of SeparatingFeature
        Top differing behavioral features, largest effect first.
    demographic_similarity : float or None
        ``1 -`` the largest demographic distance between any two sub-segments over all
        demographic columns; ``None`` without demographics.
    demographic_by_column : dict of str to float
        The same per demographic column.
    lookalike : bool
        ``demographic_similarity >= lookalike threshold``.
    """

    persona: str
    segments: tuple[int, ...]
    names: tuple[str, ...]
    shares: dict[int, float]
    separating_features: tuple[SeparatingFeature, ...]
    demographic_similarity: float | None
    demographic_by_column: dict[str, float]
    lookalike: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "persona": self.persona,
            "segments": [int(s) for s in self.segments],
            "names": list(self.names),
            "shares": {str(k): _r(v) for k, v in self.shares.items()},
            "separating_features": [f.to_dict() for f in self.separating_features],
            "demographic_similarity": _r(self.demographic_similarity),
            "demographic_by_column": {k: _r(v) for k, v in self.demographic_by_column.items()},
            "lookalike": bool(self.lookalike),
        }


@dataclass(frozen=True)
class PersonaMerge:
    """A segment in which two or more personas behave alike.

    Attributes
    ----------
    segment : int
    name : str
    personas : tuple of str
        By name.
    shares : dict of str to float
        Share of the segment drawn from each persona.
    persona_shares : dict of str to float
        Share of each persona's members that fall into the segment.
    """

    segment: int
    name: str
    personas: tuple[str, ...]
    shares: dict[str, float]
    persona_shares: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "segment": int(self.segment),
            "name": self.name,
            "personas": list(self.personas),
            "shares": {k: _r(v) for k, v in self.shares.items()},
            "persona_shares": {k: _r(v) for k, v in self.persona_shares.items()},
        }


@dataclass(frozen=True)
class PersonaMatch:
    """A pair of the one-to-one matching.

    Attributes
    ----------
    persona : str
    segment : int
    name : str
    persona_share : float
        Share of the persona's members in the segment.
    segment_share : float
        Share of the segment drawn from the persona.
    jaccard : float
        ``n / (|P| + |S| - n)``.
    """

    persona: str
    segment: int
    name: str
    persona_share: float
    segment_share: float
    jaccard: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "persona": self.persona,
            "segment": int(self.segment),
            "name": self.name,
            "persona_share": _r(self.persona_share),
            "segment_share": _r(self.segment_share),
            "jaccard": _r(self.jaccard),
        }


@dataclass(frozen=True)
class PersonaComparison:
    """Segments against personas; see the module docstring for the definitions.

    Attributes
    ----------
    column : str
        The persona column.
    ari, ami, nmi, v_measure : float or None
        Agreement over customers with a known persona and a segment (noise excluded);
        ``None`` with fewer than two such customers.
    personas : tuple of str
        Persona names, sorted.
    segments : tuple of int
        Segment ids in the crosstab, sorted (``-1`` first when present).
    crosstab : pandas.DataFrame
        Counts, personas x segments.
    matching : tuple of PersonaMatch
        The full Hungarian matching, by persona.
    matches : tuple of PersonaMatch
        The mutually dominant pairs of the matching, by persona.
    splits : tuple of PersonaSplit
        By persona.
    merges : tuple of PersonaMerge
        By segment id.
    new_segments : tuple of int
    dissolved : tuple of str
    persona_kinds : dict of str to str
    segment_kinds : dict of int to str
    segment_names : dict of int to str
    n_customers, n_missing_persona, n_noise : int
    narrative : str
        A plain-language paragraph.
    """

    column: str
    ari: float | None
    ami: float | None
    nmi: float | None
    v_measure: float | None
    personas: tuple[str, ...]
    segments: tuple[int, ...]
    crosstab: pd.DataFrame = field(repr=False, compare=False)
    matching: tuple[PersonaMatch, ...]
    matches: tuple[PersonaMatch, ...]
    splits: tuple[PersonaSplit, ...]
    merges: tuple[PersonaMerge, ...]
    new_segments: tuple[int, ...]
    dissolved: tuple[str, ...]
    persona_kinds: dict[str, str]
    segment_kinds: dict[int, str]
    segment_names: dict[int, str]
    n_customers: int
    n_missing_persona: int
    n_noise: int
    narrative: str

    def crosstab_shares(self) -> dict[str, dict[str, dict[str, float]]]:
        """Shares both ways.

        Returns
        -------
        dict
            ``{"by_persona": {persona: {segment: share of the persona's members}},
            "by_segment": {segment: {persona: share of the segment's members}}}``; segment
            keys are strings, ``"-1"`` for noise.
        """
        counts = self.crosstab.to_numpy(dtype=float)
        rows = counts.sum(axis=1, keepdims=True)
        cols = counts.sum(axis=0, keepdims=True)
        by_p = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        by_s = np.divide(counts, cols, out=np.zeros_like(counts), where=cols > 0)
        return {
            "by_persona": {
                p: {str(s): _r(by_p[i, j]) for j, s in enumerate(self.segments)}
                for i, p in enumerate(self.personas)
            },
            "by_segment": {
                str(s): {p: _r(by_s[i, j]) for i, p in enumerate(self.personas)}
                for j, s in enumerate(self.segments)
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``personas`` block of ``summary.json`` (JSON-safe, deterministic order)."""
        counts = self.crosstab.to_numpy()
        return {
            "column": self.column,
            "ari": _r(self.ari),
            "ami": _r(self.ami),
            "nmi": _r(self.nmi),
            "v_measure": _r(self.v_measure),
            "n_customers": int(self.n_customers),
            "n_missing_persona": int(self.n_missing_persona),
            "n_noise": int(self.n_noise),
            "personas": list(self.personas),
            "segment_names": {str(k): v for k, v in self.segment_names.items()},
            "crosstab": {
                p: {str(s): int(counts[i, j]) for j, s in enumerate(self.segments)}
                for i, p in enumerate(self.personas)
            },
            "crosstab_shares": self.crosstab_shares(),
            "matching": [m.to_dict() for m in self.matching],
            "matches": [m.to_dict() for m in self.matches],
            "splits": [s.to_dict() for s in self.splits],
            "merges": [m.to_dict() for m in self.merges],
            "new_segments": [int(s) for s in self.new_segments],
            "dissolved": list(self.dissolved),
            "persona_kinds": dict(self.persona_kinds),
            "segment_kinds": {str(k): v for k, v in self.segment_kinds.items()},
            "narrative": self.narrative,
        }


# --------------------------------------------------------------------------- helpers


def _persona_strings(personas: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Persona label per customer as ``str`` (object array) and a missing mask."""
    s = personas if isinstance(personas, pd.Series) else pd.Series(personas)
    if len(s) != n:
        raise ValueError(f"personas has {len(s)} rows, labels have {n}")
    s = s.reset_index(drop=True)
    missing = s.isna().to_numpy(dtype=bool)
    known = s[~missing]
    if pd.api.types.is_float_dtype(known.dtype) and len(known) and np.all(np.mod(known.to_numpy(), 1) == 0):
        known = known.astype(np.int64)
    text = known.astype(str).str.strip()
    out = np.full(n, None, dtype=object)
    out[~missing] = text.to_numpy(dtype=object)
    blank = np.zeros(n, dtype=bool)
    blank[~missing] = (text == "").to_numpy(dtype=bool)
    missing = missing | blank
    out[missing] = None
    return out, missing


def _int_labels(lab: np.ndarray) -> np.ndarray:
    """Labels as int64; integral floats are accepted, anything else is an error."""
    if lab.dtype.kind in "iu":
        return lab.astype(np.int64)
    if lab.dtype.kind == "f" and np.all(np.isfinite(lab)) and np.all(np.mod(lab, 1) == 0):
        return lab.astype(np.int64)
    raise ValueError("labels must be integers (-1 for noise), without missing values")


def _segment_name(names: Mapping[int, str], sid: int) -> str:
    return str(names.get(sid, f"Segment {sid}"))


def _fmt_value(v: float, spec: FeatureSpec | None) -> str:
    kind = spec.kind if spec is not None else None
    if not math.isfinite(v):
        return "n/a"
    if kind == "share":
        return _pct(v)
    if kind == "days":
        return f"{v:.0f} days"
    if kind == "amount":
        return f"{v:,.2f}"
    if kind == "count":
        return f"{v:.1f}"
    if kind == "trend":
        return f"{v:+.2f}"
    return f"{v:.3g}"


def _separating_features(
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
    sd = pooled_sd.where(pooled_sd > 1e-12, overall_sd)
    spread = means.max(axis=0) - means.min(axis=0)
    effect = (spread / sd.where(sd > 1e-12)).fillna(0.0)
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
        hi_n, lo_n = _q(_segment_name(names, hi)), _q(_segment_name(names, lo))
        hv, lv = _fmt_value(vals[hi], spec), _fmt_value(vals[lo], spec)
        if len(order) == 2:
            sentence = f"{label} is higher in {hi_n} ({hv}) than in {lo_n} ({lv})"
        else:
            sentence = f"{label} is highest in {hi_n} ({hv}) and lowest in {lo_n} ({lv})"
        out.append(SeparatingFeature(feature=col, label=label, values=vals, effect_size=e, sentence=sentence))
    return tuple(out)


def _demographic_distances(
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
                if not pooled > 1e-24:
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


def _ari_words(ari: float | None) -> str:
    if ari is None:
        return "cannot be measured"
    if ari >= 0.8:
        return "strong"
    if ari >= 0.5:
        return "moderate"
    if ari >= 0.2:
        return "weak"
    return "very weak"


# --------------------------------------------------------------------------- main


def compare_personas(
    labels: np.ndarray,
    personas: pd.Series,
    *,
    column: str,
    features: pd.DataFrame | None = None,
    demographics: pd.DataFrame | None = None,
    segment_names: Mapping[int, str] | None = None,
    specs: Mapping[str, FeatureSpec] | None = None,
    split_share: float = 0.20,
    merge_share: float = 0.25,
    dominance: float = 0.50,
    lift: float = 1.5,
    lookalike: float = 0.80,
    min_effect: float = 0.5,
    n_features: int = 3,
    opportunities: Opportunities | None = None,
) -> PersonaComparison:
    """Compare behavioral segments with the client's personas.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Segment per customer, ``-1`` for noise.
    personas : pandas.Series
        The client's persona per customer, aligned by position; missing or blank values
        are left out. Integral floats (``1.0``) are shown as ``"1"``.
    column : str
        Name of the persona column (for the summary and the narrative).
    features : pandas.DataFrame, optional
        Behavioral features per customer, aligned by position; numeric and boolean
        columns are used to explain splits.
    demographics : pandas.DataFrame, optional
        Profile-only columns (numeric or categorical), aligned by position, for the
        lookalike check.
    segment_names : mapping of int to str, optional
        Display names; ``"Segment <id>"`` otherwise.
    specs : mapping of str to FeatureSpec, optional
        Feature metadata: labels for sentences, kinds for formatting and for computing
        effect sizes of counts/amounts/ratios on a log scale.
    split_share : float, default 0.20
        Share of a persona a segment must hold to be one of its main destinations.
    merge_share : float, default 0.25
        Share of a segment a persona must contribute to take part in a merge.
    dominance : float, default 0.50
        Share of a segment its over-represented personas must make up for the segment
        to be claimed (not new); also both shares a matched pair needs to be a match.
    lift : float, default 1.5
        Over-representation factor against the persona's base share (module docstring).
    lookalike : float, default 0.80
        Sub-segments of a split are demographic lookalikes when the *largest* distance
        between any two of them on *any* demographic column is at most ``1 - lookalike``
        (default 0.2: category mixes differ by at most 20 points of total variation,
        numeric means by at most half a standard deviation, a "medium" effect). The
        maximum, not the mean, is used because targeting on any single attribute would
        otherwise tell the sub-segments apart; the distances are bias-corrected so the
        check stays stable for sub-segments of ~50 customers.
    min_effect : float, default 0.5
        Smallest effect size (standardised difference) for a separating feature.
    n_features : int, default 3
        Separating features reported per split.
    opportunities : Opportunities, optional
        When given, the narrative adds value and attention to the sentences about new
        segments.

    Returns
    -------
    PersonaComparison

    Notes
    -----
    Inputs are aligned by position and never modified. Results are invariant to the row
    order and equivariant to a renaming of the segment ids (except for exact ties).
    """
    if not 0 < split_share <= 0.5:
        raise ValueError("split_share must be in (0, 0.5]")
    if not 0 < merge_share <= 0.5:
        raise ValueError("merge_share must be in (0, 0.5]")
    if not 0.5 <= dominance <= 1:
        raise ValueError("dominance must be in [0.5, 1]")
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError("labels must be one-dimensional")
    lab = _int_labels(lab)
    n = lab.shape[0]
    names = {int(k): str(v) for k, v in (segment_names or {}).items()}
    specs = dict(specs or {})
    pers, missing = _persona_strings(personas, n)
    for what, frame in (("features", features), ("demographics", demographics)):
        if frame is not None and len(frame) != n:
            raise ValueError(f"{what} has {len(frame)} rows, labels have {n}")

    known = ~missing
    persona_names = tuple(sorted(set(pers[known].tolist())))
    p_index = {p: i for i, p in enumerate(persona_names)}
    pcode = np.full(n, -1, dtype=np.int64)
    if known.any():
        pcode[known] = pd.Series(pers[known]).map(p_index).to_numpy(dtype=np.int64)
    seg_all = tuple(int(s) for s in np.unique(lab))
    seg_ids = tuple(s for s in seg_all if s != NOISE)
    for sid in seg_ids:
        names.setdefault(sid, f"Segment {sid}")
    # crosstab over known personas, all segments (noise column when present)
    s_index = {s: j for j, s in enumerate(seg_all)}
    scode = np.searchsorted(np.asarray(seg_all), lab)
    nP, nS = len(persona_names), len(seg_all)
    flat = np.bincount(pcode[known] * nS + scode[known], minlength=nP * nS) if nP else np.zeros(0, int)
    counts = flat.reshape(nP, nS) if nP else np.zeros((0, nS), dtype=np.int64)
    crosstab = pd.DataFrame(counts, index=list(persona_names), columns=list(seg_all))

    # agreement scores over known persona and non-noise label
    scored = known & (lab != NOISE)
    if scored.sum() >= 2:
        yt, yp = pcode[scored], lab[scored]
        ari = float(metrics.adjusted_rand_score(yt, yp))
        ami = float(metrics.adjusted_mutual_info_score(yt, yp))
        nmi = float(metrics.normalized_mutual_info_score(yt, yp))
        vm = float(metrics.v_measure_score(yt, yp))
    else:
        ari = ami = nmi = vm = None

    # shares
    cols = [s_index[s] for s in seg_ids]
    N = counts[:, cols].astype(float)  # persona x non-noise segment
    p_size = counts.sum(axis=1).astype(float)  # all members incl. noise
    s_size = N.sum(axis=0)  # known members per segment
    total_known = p_size.sum()
    r = np.divide(N, p_size[:, None], out=np.zeros_like(N), where=p_size[:, None] > 0)
    c = np.divide(N, s_size[None, :], out=np.zeros_like(N), where=s_size[None, :] > 0)
    base = p_size / total_known if total_known > 0 else np.zeros(nP)
    threshold = np.minimum(lift * base, (1.0 + base) / 2.0)
    over = (c >= threshold[:, None] - 1e-12) & (N > 0)

    has_known = s_size > 0
    claimed = has_known & (np.where(over, c, 0.0).sum(axis=0) >= dominance - 1e-12)
    is_new = has_known & ~claimed
    target = over & claimed[None, :] & (r >= split_share - 1e-12)
    is_split = target.sum(axis=1) >= 2
    merge_part = target & (c >= merge_share - 1e-12)
    is_merge = merge_part.sum(axis=0) >= 2

    # Hungarian matching on Jaccard overlap
    matching: list[PersonaMatch] = []
    matches: list[PersonaMatch] = []
    matched_p = np.zeros(nP, dtype=bool)
    matched_s = np.zeros(len(seg_ids), dtype=bool)
    if nP and seg_ids:
        union = p_size[:, None] + s_size[None, :] - N
        jac = np.divide(N, union, out=np.zeros_like(N), where=union > 0)
        rows, cols_ = linear_sum_assignment(-jac)
        for i, j in sorted(zip(rows.tolist(), cols_.tolist())):
            if N[i, j] <= 0:
                continue
            m = PersonaMatch(
                persona=persona_names[i],
                segment=seg_ids[j],
                name=names[seg_ids[j]],
                persona_share=float(r[i, j]),
                segment_share=float(c[i, j]),
                jaccard=float(jac[i, j]),
            )
            matching.append(m)
            if (
                r[i, j] >= dominance - 1e-12
                and c[i, j] >= dominance - 1e-12
                and not is_split[i]
                and not is_merge[j]
                and not is_new[j]
            ):
                matches.append(m)
                matched_p[i] = True
                matched_s[j] = True

    # own segment: P leads it, is over-represented and sends >= split_share to it
    in_merge = (merge_part & is_merge[None, :]).any(axis=1)
    leader = np.zeros_like(over)
    if nP and seg_ids:
        top = np.argmax(N, axis=0)
        leader[top, np.arange(len(seg_ids))] = has_known
    owns = (leader & over & (r >= split_share - 1e-12) & ~is_new[None, :]).any(axis=1)
    persona_kinds: dict[str, str] = {}
    for i, p in enumerate(persona_names):
        if is_split[i]:
            kind = "split"
        elif in_merge[i]:
            kind = "merge"
        elif matched_p[i]:
            kind = "match"
        elif owns[i]:
            kind = "partial"
        else:
            kind = "dissolved"
        persona_kinds[p] = kind
    dissolved = tuple(p for p in persona_names if persona_kinds[p] == "dissolved")

    split_part = (target & is_split[:, None]).any(axis=0)
    segment_kinds: dict[int, str] = {}
    for j, sid in enumerate(seg_ids):
        if not has_known[j]:
            kind = "unknown"
        elif is_merge[j]:
            kind = "merge"
        elif is_new[j]:
            kind = "new"
        elif split_part[j]:
            kind = "split"
        elif matched_s[j]:
            kind = "match"
        else:
            kind = "other"
        segment_kinds[sid] = kind
    new_segments = tuple(sid for j, sid in enumerate(seg_ids) if is_new[j])

    # merges
    merges = []
    for j in np.flatnonzero(is_merge):
        who = [i for i in range(nP) if merge_part[i, j]]
        merges.append(
            PersonaMerge(
                segment=seg_ids[j],
                name=names[seg_ids[j]],
                personas=tuple(persona_names[i] for i in who),
                shares={persona_names[i]: float(c[i, j]) for i in who},
                persona_shares={persona_names[i]: float(r[i, j]) for i in who},
            )
        )

    # splits, with separating features and the lookalike check
    feat_num = None
    if features is not None:
        feat_num = features.select_dtypes(include=["number", "bool"]).astype(float)
        feat_num = feat_num.reset_index(drop=True)
    demo = demographics.reset_index(drop=True) if demographics is not None else None
    splits = []
    for i in np.flatnonzero(is_split):
        js = sorted(np.flatnonzero(target[i]).tolist(), key=lambda j: (-r[i, j], seg_ids[j]))
        order = tuple(seg_ids[j] for j in js)
        rows_mask = (pcode == i) & np.isin(lab, np.asarray(order))
        idx = np.flatnonzero(rows_mask)
        groups = lab[idx]
        sep: tuple[SeparatingFeature, ...] = ()
        if feat_num is not None:
            sep = _separating_features(
                feat_num.iloc[idx].reset_index(drop=True), groups, order, names, specs, min_effect, n_features
            )
        by_col: dict[str, float] = {}
        similarity = None
        if demo is not None and demo.shape[1]:
            dist = _demographic_distances(demo.iloc[idx].reset_index(drop=True), groups, order)
            by_col = {k: 1.0 - v for k, v in dist.items()}
            similarity = 1.0 - max(dist.values()) if dist else None
        splits.append(
            PersonaSplit(
                persona=persona_names[i],
                segments=order,
                names=tuple(names[s] for s in order),
                shares={seg_ids[j]: float(r[i, j]) for j in js},
                separating_features=sep,
                demographic_similarity=similarity,
                demographic_by_column=by_col,
                lookalike=similarity is not None and similarity >= lookalike - 1e-12,
            )
        )

    result_names = {sid: names[sid] for sid in seg_ids}
    narrative = _narrative(
        column=column,
        persona_names=persona_names,
        seg_ids=seg_ids,
        names=result_names,
        ari=ari,
        splits=splits,
        merges=merges,
        new_segments=new_segments,
        matches=matches,
        dissolved=dissolved,
        r=r,
        s_size=s_size,
        total=float(s_size.sum()),
        n_missing=int(missing.sum()),
        opportunities=opportunities,
    )
    return PersonaComparison(
        column=column,
        ari=ari,
        ami=ami,
        nmi=nmi,
        v_measure=vm,
        personas=persona_names,
        segments=seg_all,
        crosstab=crosstab,
        matching=tuple(matching),
        matches=tuple(matches),
        splits=tuple(splits),
        merges=tuple(merges),
        new_segments=new_segments,
        dissolved=dissolved,
        persona_kinds=persona_kinds,
        segment_kinds=segment_kinds,
        segment_names=result_names,
        n_customers=n,
        n_missing_persona=int(missing.sum()),
        n_noise=int((lab == NOISE).sum()),
        narrative=narrative,
    )


def _narrative(
    *,
    column: str,
    persona_names: tuple[str, ...],
    seg_ids: tuple[int, ...],
    names: Mapping[int, str],
    ari: float | None,
    splits: list[PersonaSplit],
    merges: list[PersonaMerge],
    new_segments: tuple[int, ...],
    matches: list[PersonaMatch],
    dissolved: tuple[str, ...],
    r: np.ndarray,
    s_size: np.ndarray,
    total: float,
    n_missing: int,
    opportunities: Opportunities | None,
) -> str:
    if not persona_names or not seg_ids:
        return f"No customer has both a '{column}' persona and a segment, so the personas cannot be compared."
    ari_txt = "" if ari is None else f" (adjusted Rand index {ari:.2f})"
    weak = ari is not None and ari < WEAK_AGREEMENT
    if weak:
        out = [
            f"The client's {len(persona_names)} personas in '{column}' explain little of how customers "
            f"behave: agreement with the {len(seg_ids)} behavioral segments is {_ari_words(ari)}{ari_txt}"
            + (f", and {len(dissolved)} of the {len(persona_names)} personas have no segment of their own"
               if dissolved else "") + "."
        ]
    else:
        out = [
            f"The client's {len(persona_names)} personas in '{column}' map onto {len(seg_ids)} behavioral "
            f"segments; agreement is {_ari_words(ari)}{ari_txt}."
        ]
    for sp in splits:
        parts = [f"{_q(nm)} ({_pct(sp.shares[s])})" for s, nm in zip(sp.segments, sp.names)]
        text = f"{_q(sp.persona)} splits into {_join(parts)}"
        diff = ""
        if sp.separating_features:
            if len(sp.segments) == 2:
                diff = _join([f.sentence for f in sp.separating_features[:2]])
            else:
                diff = "they differ most in " + _join([f.label for f in sp.separating_features[:2]])
        if sp.demographic_similarity is None:
            text += f"; {diff}" if diff else ""
        elif sp.lookalike:
            text += f", which look alike demographically"
            text += f" but behave differently: {diff}" if diff else ""
        else:
            worst = min(sp.demographic_by_column.items(), key=lambda kv: (kv[1], kv[0]))[0].replace("_", " ")
            text += f", which also differ demographically (most in {worst})"
            text += f"; behaviorally, {diff}" if diff else ""
        out.append(text + ".")
    pos = {p: i for i, p in enumerate(persona_names)}
    seg_pos = {s: j for j, s in enumerate(seg_ids)}
    for mg in merges:
        ps = [_q(p) for p in mg.personas]
        shares = [mg.persona_shares[p] for p in mg.personas]
        verb = "mostly fall" if min(shares) >= 0.5 else "largely fall"
        both = "both" if len(ps) == 2 else "all"
        out.append(
            f"{_join(ps)} behave alike: {both} {verb} into {_q(mg.name)} "
            f"({_join([_pct(s) for s in shares])} of their members)."
        )
    for sid in new_segments:
        j = seg_pos[sid]
        entry = opportunities.get(sid) if opportunities is not None else None
        phrase = entry.phrase() if entry is not None else ""
        if phrase:
            text = f"{_q(names[sid])} is a new group no persona captures, drawn from across the personas; {phrase}"
        else:
            text = (
                f"{_q(names[sid])} is a new group no persona captures ({_pct(s_size[j] / total)} of "
                f"customers, drawn from across the personas)"
            )
        out.append(text + ".")
    if weak:  # said once above; matches and scattered personas are not worth a brief
        matches, dissolved = [], ()
    clean = [m for m in matches if m.persona_share >= CLEAN_SHARE and m.segment_share >= CLEAN_SHARE]
    loose = [m for m in matches if m not in clean]
    if clean:
        first = f"{_q(clean[0].persona)} maps cleanly onto {_q(clean[0].name)}"
        rest = [f"{_q(m.persona)} onto {_q(m.name)}" for m in clean[1:]]
        out.append(_join([first, *rest]) + f" (at least {_pct(CLEAN_SHARE)} each way).")
    for m in loose:
        out.append(f"{_q(m.persona)} corresponds to {_q(m.name)}: {_pct(m.persona_share)} of the persona "
                   f"is in it, and the persona makes up {_pct(m.segment_share)} of it.")
    if len(dissolved) == 1:
        i = pos[dissolved[0]]
        ranked = [j for j in sorted(range(len(seg_ids)), key=lambda j: (-r[i, j], seg_ids[j])) if r[i, j] > 0]
        spread = [f"{_q(names[seg_ids[j]])} ({_pct(r[i, j])})" for j in ranked[:3]]
        if len(ranked) > 3:
            spread.append("others")
        out.append(f"{_q(dissolved[0])} has no segment of its own: its members are spread over {_join(spread)}.")
    elif dissolved:
        out.append(f"{_join([_q(p) for p in dissolved])} have no segment of their own: their members are "
                   "spread over several segments.")
    if not (splits or merges or new_segments or dissolved) and matches:
        out.append("The segments reproduce the personas.")
    if n_missing:
        out.append(f"{n_missing} customers without a persona are left out of this comparison.")
    return " ".join(out)
