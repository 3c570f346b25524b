"""The entry point: :func:`compare_personas` checks its inputs and runs the steps in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd

from segmentkit.features import FeatureSpec
from segmentkit.personas.classification import (Classes, Matching, classify, match, merges, persona_kinds,
                                                segment_kinds)
from segmentkit.personas.explain import splits
from segmentkit.personas.narrative import LifecycleShares, narrative
from segmentkit.personas.shares import NOISE, Shares, agreement, int_labels, persona_codes, shares
from segmentkit.personas.types import PersonaComparison, PersonaSplit

if TYPE_CHECKING:  # pragma: no cover
    from segmentkit.opportunities import Opportunities

__all__ = ["compare_personas"]


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
    lifecycle: Mapping[int, str] | None = None,
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
    lifecycle : mapping of int to str, optional
        The lifecycle groups of a layered run: segment id → group (one of
        :data:`segmentkit.lifecycle.GROUPS`). They are set by rule, not found by the
        clustering, so they are never split targets, merges, matches, new groups or a
        persona's own segment (their kind is ``"lifecycle"``): the narrative says once which
        share of each persona each group holds, then the splits, merges and new groups among
        the behavioural segments, a split's shares being of the persona's members in the
        behavioural segments (its members in the groups are counted in that sentence).
        The crosstab and agreement still cover every customer.

    Returns
    -------
    PersonaComparison

    Notes
    -----
    Inputs are aligned by position and never modified. Results are invariant to the row
    order and equivariant to a renaming of the segment ids (except for exact ties).
    """
    _check_thresholds(split_share=split_share, merge_share=merge_share, dominance=dominance)
    lab, persona_names, pcode, missing = _encoded_inputs(labels, personas, features, demographics)
    sh = shares(lab, pcode, persona_names)
    names = _display_names(segment_names, sh.seg_ids)
    groups = {sid: str(lifecycle[sid]) for sid in sh.seg_ids if lifecycle and sid in lifecycle}
    behavioural = np.array([sid not in groups for sid in sh.seg_ids], dtype=bool)
    cl = classify(sh, lift=lift, dominance=dominance, split_share=split_share, merge_share=merge_share,
                  behavioural=behavioural)
    matching = match(sh, cl, names, dominance=dominance)
    split = splits(sh, cl, lab, pcode, names, specs=dict(specs or {}), features=features,
                   demographics=demographics, min_effect=min_effect, n_features=n_features, lookalike=lookalike)
    if groups:
        split = _among_behaviour(split, sh, behavioural)
    return _comparison(column, lab, pcode, missing, sh, cl, matching, split, names, groups,
                       split_share=split_share, opportunities=opportunities)


def _among_behaviour(split: tuple[PersonaSplit, ...], sh: Shares, behavioural: np.ndarray
                     ) -> tuple[PersonaSplit, ...]:
    """The splits with each share of the persona's members in the behavioural segments
    (a layered run: its members in the lifecycle groups are left out, so the shares of a
    split into every behavioural segment add up to 1)."""
    out = []
    for sp in split:
        i = sh.persona_names.index(sp.persona)
        members = float(sh.N[i, behavioural].sum())
        out.append(sp.model_copy(update={"shares": {
            s: float(sh.N[i, sh.seg_ids.index(s)]) / members for s in sp.segments}}))
    return tuple(out)


def _check_thresholds(*, split_share: float, merge_share: float, dominance: float) -> None:
    """Raise ``ValueError`` for a share threshold outside the range where it means what it says."""
    if not 0 < split_share <= 0.5:
        raise ValueError("split_share must be in (0, 0.5]")
    if not 0 < merge_share <= 0.5:
        raise ValueError("merge_share must be in (0, 0.5]")
    if not 0.5 <= dominance <= 1:
        raise ValueError("dominance must be in [0.5, 1]")


def _encoded_inputs(labels: np.ndarray, personas: pd.Series, features: pd.DataFrame | None,
                    demographics: pd.DataFrame | None) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, np.ndarray]:
    """Segments as int labels and personas as codes: labels, persona names, persona code
    per customer, whether each customer's persona is missing. Raises ``ValueError`` when
    the inputs are not aligned by position."""
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError("labels must be one-dimensional")
    lab = int_labels(lab)
    n = lab.shape[0]
    persona_names, pcode, missing = persona_codes(personas, n)
    for what, frame in (("features", features), ("demographics", demographics)):
        if frame is not None and len(frame) != n:
            raise ValueError(f"{what} has {len(frame)} rows, labels have {n}")
    return lab, persona_names, pcode, missing


def _display_names(segment_names: Mapping[int, str] | None, seg_ids: tuple[int, ...]) -> dict[int, str]:
    """The given segment names, ``"Segment <id>"`` for the others."""
    names = {int(k): str(v) for k, v in (segment_names or {}).items()}
    for sid in seg_ids:
        names.setdefault(sid, f"Segment {sid}")
    return names


def _comparison(column: str, lab: np.ndarray, pcode: np.ndarray, missing: np.ndarray, sh: Shares, cl: Classes,
                matching: Matching, split: tuple[PersonaSplit, ...], names: dict[int, str],
                groups: Mapping[int, str], *, split_share: float,
                opportunities: Opportunities | None) -> PersonaComparison:
    """The result: agreement, what each persona and segment became, and the narrative
    (``groups``: the lifecycle groups by segment id, told apart from the behavioural segments)."""
    ari, ami, nmi, vm = agreement(lab, pcode)
    p_kinds = persona_kinds(sh, cl, matching, split_share=split_share)
    dissolved = tuple(p for p in sh.persona_names if p_kinds[p] == "dissolved")
    new_segments = tuple(sid for j, sid in enumerate(sh.seg_ids) if cl.is_new[j])
    merged = merges(sh, cl, names)
    result_names = {sid: names[sid] for sid in sh.seg_ids}
    return PersonaComparison(
        column=column,
        ari=ari,
        ami=ami,
        nmi=nmi,
        v_measure=vm,
        n_customers=lab.shape[0],
        n_missing_persona=int(missing.sum()),
        n_noise=int((lab == NOISE).sum()),
        personas=sh.persona_names,
        segment_names=result_names,
        crosstab=sh.crosstab(),
        crosstab_shares=sh.both_ways(),
        matching=matching.pairs,
        matches=matching.matches,
        splits=split,
        merges=merged,
        new_segments=new_segments,
        dissolved=dissolved,
        persona_kinds=p_kinds,
        segment_kinds={**segment_kinds(sh, cl, matching), **{sid: "lifecycle" for sid in groups}},
        narrative=narrative(
            column=column, persona_names=sh.persona_names, seg_ids=tuple(s for s in sh.seg_ids if s not in groups),
            names=result_names, ari=ari, splits=split, merges=merged, new_segments=new_segments,
            matches=matching.matches, dissolved=dissolved, r=sh.r[:, cl.behavioural],
            s_size=sh.s_size[cl.behavioural], n_missing=int(missing.sum()), opportunities=opportunities,
            lifecycle=_lifecycle_shares(sh, groups),
        ),
    )


def _lifecycle_shares(sh: Shares, groups: Mapping[int, str]) -> LifecycleShares | None:
    """Each lifecycle group's share of each persona, ``None`` without groups (a flat run)."""
    if not groups:
        return None
    cols = [sh.seg_ids.index(sid) for sid in groups]
    return LifecycleShares(groups=tuple(groups.values()), persona_names=sh.persona_names, r=sh.r[:, cols],
                           known=float(sh.s_size.sum()))
