"""The comparison in plain words: one paragraph, a sentence per finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from segmentkit.personas.types import PersonaMatch, PersonaMerge, PersonaSplit
from segmentkit.wording import percent

if TYPE_CHECKING:  # pragma: no cover
    from segmentkit.opportunities import Opportunities

__all__ = ["CLEAN_SHARE", "WEAK_AGREEMENT", "LifecycleShares", "merge_groups", "narrative", "quoted", "split_groups",
           "split_verb"]

#: Agreement (adjusted Rand index) below which the personas "explain little" of behaviour:
#: the narrative says so once and then tells only the splits, merges and new groups.
WEAK_AGREEMENT = 0.2
#: A persona "maps cleanly" onto a segment only when at least this share of the persona is
#: in it and this share of the segment is the persona; below, the shares are given instead.
CLEAN_SHARE = 0.8
#: Adjusted Rand index from which agreement reads "strong", then "moderate"; below
#: :data:`WEAK_AGREEMENT` it reads "very weak".
_STRONG, _MODERATE = 0.8, 0.5
#: Sub-segments named when a dissolved persona's members are spread over segments.
_SPREAD_SHOWN = 3
#: How the narrative calls the members of each lifecycle group (by its rule, whatever its
#: display name), see :data:`segmentkit.lifecycle.GROUPS`.
_GROUP_WORDS = {"new": "new", "one-time": "one-time buyers", "browsers": "never bought", "lapsed": "lapsed"}


@dataclass(frozen=True)
class LifecycleShares:
    """The lifecycle groups of a layered run against the personas.

    ``r`` is personas × ``groups``: the share of each persona's members in each group;
    ``known`` counts the customers with a persona in any segment or group.
    """

    groups: tuple[str, ...]
    persona_names: tuple[str, ...]
    r: np.ndarray
    known: float

    def sentence(self) -> str:
        """Said once: the groups are set by rule, and which share of each persona they hold."""
        words = [_GROUP_WORDS.get(g, g) for g in self.groups]
        per_persona = [f"{quoted(p)} {_join([f'{percent(x)} {w}' for x, w in zip(self.r[i], words)])}"
                       for i, p in enumerate(self.persona_names)]
        return ("The lifecycle groups are set by rule, not found by the clustering, so the splits, merges and new "
                f"groups below are among the behavioural segments; by persona: {'; '.join(per_persona)}.")


def quoted(name: str) -> str:
    """A persona or segment name as the narrative quotes it."""
    return f"'{name}'"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _ari_words(ari: float | None) -> str:
    if ari is None:
        return "cannot be measured"
    if ari >= _STRONG:
        return "strong"
    if ari >= _MODERATE:
        return "moderate"
    if ari >= WEAK_AGREEMENT:
        return "weak"
    return "very weak"


def _opening(column: str, n_personas: int, n_segments: int, ari: float | None, n_dissolved: int,
             n_groups: int = 0) -> str:
    ari_txt = "" if ari is None else f" (adjusted Rand index {ari:.2f})"
    segments = f"{n_segments} behavioral segments" + (f" and {n_groups} lifecycle groups" if n_groups else "")
    if ari is not None and ari < WEAK_AGREEMENT:
        return (
            f"The client's {n_personas} personas in '{column}' explain little of how customers "
            f"behave: agreement with the {segments} is {_ari_words(ari)}{ari_txt}"
            + (f", and {n_dissolved} of the {n_personas} personas have no segment of their own"
               if n_dissolved else "") + "."
        )
    return (f"The client's {n_personas} personas in '{column}' map onto {segments}; "
            f"agreement is {_ari_words(ari)}{ari_txt}.")


def split_groups(splits: Sequence[PersonaSplit]) -> list[list[PersonaSplit]]:
    """The splits that tell one finding: personas split into the same segments, with the
    same demographic verdict (lookalike, differing, or not measured), in order of first
    appearance."""
    groups: dict[tuple[frozenset[int], bool | None], list[PersonaSplit]] = {}
    for sp in splits:
        verdict = None if sp.demographic_similarity is None else sp.lookalike
        groups.setdefault((frozenset(sp.segments), verdict), []).append(sp)
    return list(groups.values())


def merge_groups(merges: Sequence[PersonaMerge]) -> list[list[PersonaMerge]]:
    """The merges that tell one finding: segments in which the same personas behave alike,
    in order of first appearance."""
    groups: dict[tuple[str, ...], list[PersonaMerge]] = {}
    for mg in merges:
        groups.setdefault(tuple(mg.personas), []).append(mg)
    return list(groups.values())


def _shares_words(shares: Sequence[float | None]) -> str:
    """One share when every persona's reads the same, else each persona's in turn."""
    words = [percent(x or 0.0) for x in shares]
    return words[0] if len(set(words)) == 1 else _join(words)


def _split_difference(group: Sequence[PersonaSplit]) -> str:
    """How the sub-segments differ behaviorally: the top features' sentences for one
    persona (or several that read the same), their labels when the personas' numbers differ."""
    sp = group[0]
    if not sp.separating_features:
        return ""
    if len(sp.segments) == 2 and all([f.sentence for f in g.separating_features[:2]]
                                     == [f.sentence for f in sp.separating_features[:2]] for g in group):
        return _join([f.sentence for f in sp.separating_features[:2]])
    labels = list(dict.fromkeys(f.label for g in group for f in g.separating_features[:2]))
    return "they differ most in " + _join(labels[:2])


def split_verb(personas: int) -> str:
    """How a split reads for that many personas split the same way: "splits into", "both
    split into", "all split into"."""
    return "splits into" if personas == 1 else ("both split into" if personas == 2 else "all split into")


def _split_sentence(group: Sequence[PersonaSplit], layered: bool = False) -> str:
    """One sentence for personas split the same way (:func:`split_groups`), the shares in
    the first persona's order of its segments."""
    sp = group[0]
    parts = [f"{quoted(nm)} ({_shares_words([g.shares[s] for g in group])})" for s, nm in zip(sp.segments, sp.names)]
    text = f"{_join([quoted(g.persona) for g in group])} {split_verb(len(group))} {_join(parts)}"
    if layered:
        text += f" of {'its' if len(group) == 1 else 'their'} members in the behavioural segments"
    diff = _split_difference(group)
    if sp.demographic_similarity is None:
        text += f"; {diff}" if diff else ""
    elif sp.lookalike:
        text += ", which look alike demographically"
        text += f" but behave differently: {diff}" if diff else ""
    else:
        worst = {min(g.demographic_by_column.items(), key=lambda kv: (kv[1], kv[0]))[0].replace("_", " ")
                 for g in group}
        text += ", which also differ demographically" + (f" (most in {worst.pop()})" if len(worst) == 1 else "")
        text += f"; behaviorally, {diff}" if diff else ""
    return text + "."


def _merge_sentence(group: Sequence[PersonaMerge]) -> str:
    """One sentence for the segments in which the same personas behave alike
    (:func:`merge_groups`), with each persona's share in each."""
    mg = group[0]
    ps = [quoted(p) for p in mg.personas]
    total = [sum(m.persona_shares[p] or 0.0 for m in group) for p in mg.personas]
    verb = "mostly fall" if min(total) >= 0.5 else "largely fall"
    both = "both" if len(ps) == 2 else "all"
    into = [f"{quoted(m.name)} ({_join([percent(m.persona_shares[p] or 0.0) for p in m.personas])}"
            + (" of their members)" if k == 0 else ")") for k, m in enumerate(group)]
    return f"{_join(ps)} behave alike: {both} {verb} into {_join(into)}."


def _new_segment_sentence(name: str, share: float, opportunities: Opportunities | None, sid: int) -> str:
    entry = opportunities.get(sid) if opportunities is not None else None
    phrase = entry.phrase() if entry is not None else ""
    if phrase:
        return f"{quoted(name)} is a new group no persona captures, drawn from across the personas; {phrase}."
    return (f"{quoted(name)} is a new group no persona captures ({percent(share)} of "
            "customers, drawn from across the personas).")


def _match_sentences(matches: Sequence[PersonaMatch]) -> list[str]:
    clean = [m for m in matches if m.persona_share >= CLEAN_SHARE and m.segment_share >= CLEAN_SHARE]
    out = []
    if clean:
        first = f"{quoted(clean[0].persona)} maps cleanly onto {quoted(clean[0].name)}"
        rest = [f"{quoted(m.persona)} onto {quoted(m.name)}" for m in clean[1:]]
        out.append(_join([first, *rest]) + f" (at least {percent(CLEAN_SHARE)} each way).")
    for m in matches:
        if m not in clean:
            out.append(f"{quoted(m.persona)} corresponds to {quoted(m.name)}: {percent(m.persona_share)} of the "
                       f"persona is in it, and the persona makes up {percent(m.segment_share)} of it.")
    return out


def _dissolved_sentences(dissolved: Sequence[str], persona_names: Sequence[str], seg_ids: Sequence[int],
                         names: Mapping[int, str], r: np.ndarray, lifecycle: LifecycleShares | None) -> list[str]:
    """Personas without a segment of their own; in a layered run, without a behavioural one,
    and "mostly in the lifecycle groups" for those of which the groups hold most."""
    own = "segment" if lifecycle is None else "behavioural segment"
    in_groups = set() if lifecycle is None else {
        p for p, x in zip(lifecycle.persona_names, lifecycle.r.sum(axis=1)) if x > 0.5}
    if len(dissolved) == 1 and dissolved[0] in in_groups:
        return [f"{quoted(dissolved[0])} has no {own} of its own: most of its members are in the lifecycle groups."]
    if len(dissolved) == 1:
        i = list(persona_names).index(dissolved[0])
        ranked = [j for j in sorted(range(len(seg_ids)), key=lambda j: (-r[i, j], seg_ids[j])) if r[i, j] > 0]
        spread = [f"{quoted(names[seg_ids[j]])} ({percent(r[i, j])})" for j in ranked[:_SPREAD_SHOWN]]
        if len(ranked) > _SPREAD_SHOWN:
            spread.append("others")
        return [f"{quoted(dissolved[0])} has no {own} of its own: its members are spread over {_join(spread)}."]
    if dissolved:
        where = ("most of their members are in the lifecycle groups" if set(dissolved) <= in_groups
                 else "their members are spread over several segments")
        return [f"{_join([quoted(p) for p in dissolved])} have no {own} of their own: {where}."]
    return []


def narrative(
    *,
    column: str,
    persona_names: tuple[str, ...],
    seg_ids: tuple[int, ...],
    names: Mapping[int, str],
    ari: float | None,
    splits: Sequence[PersonaSplit],
    merges: Sequence[PersonaMerge],
    new_segments: tuple[int, ...],
    matches: Sequence[PersonaMatch],
    dissolved: tuple[str, ...],
    r: np.ndarray,
    s_size: np.ndarray,
    n_missing: int,
    opportunities: Opportunities | None,
    lifecycle: LifecycleShares | None = None,
) -> str:
    """The paragraph: agreement, then splits, merges, new groups, matches, dissolved
    personas and the customers left out (matches and dissolved personas only when the
    agreement is not weak: said once at the start). With ``lifecycle`` (a layered run;
    ``seg_ids``, ``r`` and ``s_size`` then cover the behavioural segments only), the
    groups' shares of each persona come once after the agreement."""
    if not persona_names or not (seg_ids or lifecycle):
        return f"No customer has both a '{column}' persona and a segment, so the personas cannot be compared."
    out = [_opening(column, len(persona_names), len(seg_ids), ari, len(dissolved),
                    len(lifecycle.groups) if lifecycle else 0)]
    found = [_split_sentence(group, lifecycle is not None) for group in split_groups(splits)]
    found += [_merge_sentence(group) for group in merge_groups(merges)]
    total = float(lifecycle.known if lifecycle is not None else s_size.sum())
    found += [_new_segment_sentence(names[sid], s_size[seg_ids.index(sid)] / total, opportunities, sid)
              for sid in new_segments]
    if ari is not None and ari < WEAK_AGREEMENT:
        matches, dissolved = [], ()
    found += _match_sentences(matches)
    found += _dissolved_sentences(dissolved, persona_names, seg_ids, names, r, lifecycle)
    if not (splits or merges or new_segments or dissolved) and matches:
        found.append("The segments reproduce the personas.")
    if lifecycle is not None:
        out.append(lifecycle.sentence())
    out += found
    if n_missing:
        out.append(f"{n_missing} customers without a persona are left out of this comparison.")
    return " ".join(out)
