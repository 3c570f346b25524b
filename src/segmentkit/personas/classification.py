"""What each persona and segment is: over-represented, claimed or new, split, merge,
matched, dissolved (definitions in :mod:`segmentkit.personas`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from segmentkit.personas.shares import Shares
from segmentkit.personas.types import PersonaMatch, PersonaMerge

__all__ = ["SLACK", "Classes", "Matching", "classify", "match", "merges", "persona_kinds", "segment_kinds"]

#: Shares are compared with their thresholds with this slack, so a share exactly at a
#: threshold (1 of 5 customers against 20 %) counts despite float rounding.
SLACK = 1e-12


@dataclass(frozen=True)
class Classes:
    """Persona × segment and per-segment masks of the classification."""

    over: np.ndarray  # persona over-represented in the segment
    claimed: np.ndarray  # segment dominated by its over-represented personas
    is_new: np.ndarray  # segment with known members, not claimed
    target: np.ndarray  # a main destination of the persona (over, claimed, >= split_share)
    is_split: np.ndarray  # persona with two or more targets
    merge_part: np.ndarray  # target that also makes up >= merge_share of the segment
    is_merge: np.ndarray  # segment with two or more merge parts
    behavioural: np.ndarray  # segment found by the clustering (not a lifecycle group set by rule)


def classify(sh: Shares, *, lift: float, dominance: float, split_share: float, merge_share: float,
             behavioural: np.ndarray | None = None) -> Classes:
    """Over-representation, claimed and new segments, split personas and merge segments.

    ``behavioural`` marks the segments found by the clustering (default: all); the others,
    a layered run's lifecycle groups, are neither claimed nor new, so never a target."""
    beh = np.ones(len(sh.seg_ids), dtype=bool) if behavioural is None else np.asarray(behavioural, dtype=bool)
    threshold = np.minimum(lift * sh.base, (1.0 + sh.base) / 2.0)
    over = (sh.c >= threshold[:, None] - SLACK) & (sh.N > 0)
    has_known = (sh.s_size > 0) & beh
    claimed = has_known & (np.where(over, sh.c, 0.0).sum(axis=0) >= dominance - SLACK)
    target = over & claimed[None, :] & (sh.r >= split_share - SLACK)
    merge_part = target & (sh.c >= merge_share - SLACK)
    return Classes(over=over, claimed=claimed, is_new=has_known & ~claimed, target=target,
                   is_split=target.sum(axis=1) >= 2, merge_part=merge_part,
                   is_merge=merge_part.sum(axis=0) >= 2, behavioural=beh)


@dataclass(frozen=True)
class Matching:
    """The Hungarian matching, its mutually dominant pairs, and who is matched."""

    pairs: tuple[PersonaMatch, ...]
    matches: tuple[PersonaMatch, ...]
    matched_p: np.ndarray
    matched_s: np.ndarray


def match(sh: Shares, cl: Classes, names: Mapping[int, str], *, dominance: float) -> Matching:
    """One-to-one matching on Jaccard overlap; a pair is a match when both shares reach
    ``dominance``, the persona is not split and the segment neither a merge nor new."""
    n_p, n_s = len(sh.persona_names), len(sh.seg_ids)
    pairs: list[PersonaMatch] = []
    matches: list[PersonaMatch] = []
    matched_p, matched_s = np.zeros(n_p, dtype=bool), np.zeros(n_s, dtype=bool)
    if not (n_p and n_s):
        return Matching(tuple(pairs), tuple(matches), matched_p, matched_s)
    union = sh.p_size[:, None] + sh.s_size[None, :] - sh.N
    jac = np.divide(sh.N, union, out=np.zeros_like(sh.N), where=union > 0)
    among = np.flatnonzero(cl.behavioural)  # a lifecycle group is never matched
    rows, cols = linear_sum_assignment(-jac[:, among])
    for i, j in sorted(zip(rows.tolist(), among[cols].tolist())):
        if sh.N[i, j] <= 0:
            continue
        m = PersonaMatch(persona=sh.persona_names[i], segment=sh.seg_ids[j], name=names[sh.seg_ids[j]],
                         persona_share=float(sh.r[i, j]), segment_share=float(sh.c[i, j]),
                         jaccard=float(jac[i, j]))
        pairs.append(m)
        if (sh.r[i, j] >= dominance - SLACK and sh.c[i, j] >= dominance - SLACK
                and not cl.is_split[i] and not cl.is_merge[j] and not cl.is_new[j]):
            matches.append(m)
            matched_p[i] = matched_s[j] = True
    return Matching(tuple(pairs), tuple(matches), matched_p, matched_s)


def persona_kinds(sh: Shares, cl: Classes, matching: Matching, *, split_share: float) -> dict[str, str]:
    """Each persona's kind: ``split > merge > match > partial > dissolved`` (partial: it
    leads a segment of its own, is over-represented there and sends ``split_share`` to it)."""
    in_merge = (cl.merge_part & cl.is_merge[None, :]).any(axis=1)
    leader = np.zeros_like(cl.over)
    if len(sh.persona_names) and sh.seg_ids:
        top = np.argmax(sh.N, axis=0)
        leader[top, np.arange(len(sh.seg_ids))] = sh.s_size > 0
    own = cl.behavioural & ~cl.is_new  # a lifecycle group is nobody's own segment
    owns = (leader & cl.over & (sh.r >= split_share - SLACK) & own[None, :]).any(axis=1)
    kinds = np.select([cl.is_split, in_merge, matching.matched_p, owns], ["split", "merge", "match", "partial"],
                      "dissolved")
    return dict(zip(sh.persona_names, kinds.tolist()))


def segment_kinds(sh: Shares, cl: Classes, matching: Matching) -> dict[int, str]:
    """Each non-noise segment's kind: ``merge > new > split > match > other``; ``unknown``
    without any member of known persona."""
    split_part = (cl.target & cl.is_split[:, None]).any(axis=0)
    kinds = np.select([~(sh.s_size > 0), cl.is_merge, cl.is_new, split_part, matching.matched_s],
                      ["unknown", "merge", "new", "split", "match"], "other")
    return dict(zip(sh.seg_ids, kinds.tolist()))


def merges(sh: Shares, cl: Classes, names: Mapping[int, str]) -> tuple[PersonaMerge, ...]:
    """The merge segments by id, with the personas that behave alike in each."""
    out = []
    for j in np.flatnonzero(cl.is_merge):
        who = [i for i in range(len(sh.persona_names)) if cl.merge_part[i, j]]
        out.append(PersonaMerge(
            segment=sh.seg_ids[j],
            name=names[sh.seg_ids[j]],
            personas=tuple(sh.persona_names[i] for i in who),
            shares={sh.persona_names[i]: float(sh.c[i, j]) for i in who},
            persona_shares={sh.persona_names[i]: float(sh.r[i, j]) for i in who},
        ))
    return tuple(out)
