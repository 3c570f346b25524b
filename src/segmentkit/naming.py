"""Names that describe segments and stick across refreshes.

* :func:`generate_names` -- a short name ("Frequent discount-driven app shoppers") and a
  one-sentence description per segment, from its most distinguishing *behavioral* traits.
  Names never use demographic or protected attributes (only ``profile.features`` are read,
  and feature names or labels mentioning age, gender, region, income, persona, ... are
  skipped), and they are unique within a run.
* user names (``segment_names.toml``) replace generated ones in
  :mod:`segmentkit.name_overrides`.
* ``generate_names(..., previous=...)`` carries the previous run's names over to the
  segments :mod:`segmentkit.refresh` matched to them (ids, matching and migration live
  there; ``match_segments`` & co. stay importable from here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


from segmentkit.features import FeatureSpec
from segmentkit.profiles import NOISE, SegmentProfile, SegmentProfiles
# identity across refreshes lives in segmentkit.refresh; importable from here as before
from segmentkit.refresh import match_segments, migration_records, migration_table, relabel, segment_overlap
from segmentkit.wording import format_value

__all__ = [
    "PROTECTED_TERMS",
    "SegmentName",
    "generate_names",
    "match_segments",
    "migration_records",
    "migration_table",
    "relabel",
    "segment_overlap",
    "trait_lines",
    "trait_phrase",
]

PROTECTED_TERMS: frozenset[str] = frozenset(
    {
        "age",
        "ages",
        "gender",
        "sex",
        "region",
        "regions",
        "income",
        "persona",
        "ethnicity",
        "ethnic",
        "race",
        "religion",
        "religious",
        "nationality",
        "citizenship",
        "marital",
        "disability",
        "health",
        "pregnancy",
        "orientation",
        "zip",
        "zipcode",
        "postcode",
        "postal",
        "birth",
        "birthday",
        "dob",
        "demographic",
        "demographics",
    }
)
"""Name/label tokens that keep a feature out of generated names."""

NOISE_NAME = "Unassigned customers"
FALLBACK_NAME = "Mainstream customers"
MAX_NAME_LENGTH = 80

_MIN_TRAIT_EFFECT = 0.3  # any trait (also those added only to tell names apart)
_MIN_EXTRA_TRAIT_EFFECT = 0.5  # second and later traits of a name


@dataclass(frozen=True)
class SegmentName:
    """A segment's name and one-sentence description.

    Attributes
    ----------
    name : str
        Shown everywhere ("Lapsed one-time buyers").
    description : str
        One sentence: size, what sets the segment apart, value.
    overridden : bool
        The name comes from the user (file or API) rather than being generated.
    generated_name : str or None
        The generated name an override replaced (``None`` when not overridden). Pass the
        previous run's names as ``previous`` to :func:`generate_names`: generated names are
        carried, overrides are re-applied from the file each run.
    """

    name: str
    description: str
    overridden: bool = False
    generated_name: str | None = None

    @property
    def auto_name(self) -> str:
        """The generated name (the name itself when not overridden)."""
        return self.generated_name if self.generated_name is not None else self.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "name": self.name,
            "description": self.description,
            "overridden": bool(self.overridden),
            "generated_name": self.auto_name,
        }


# ---------------------------------------------------------------------------------------
# Traits
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trait:
    phrase: str
    slot: str  # "adjective", "category", "channel", "suffix"
    order: int  # position among adjectives (recency, tenure, frequency, value, ...)
    effect: float = 0.0  # |Cohen's d| of the feature behind it


# feature name -> (phrase when higher, phrase when lower, order); None = no phrase
_VOCABULARY: dict[str, tuple[str | None, str | None, int]] = {
    "recency_days": ("lapsed", "recent", 0),
    "tenure_days": ("long-standing", "new", 1),
    "orders": ("frequent", "occasional", 2),
    "gap_mean_days": ("infrequent", "frequent", 2),
    "gap_cv": ("irregular", "regular", 2),
    "active_months": ("year-round", "short-lived", 2),
    "monetary": ("high-value", "low-spend", 3),
    "avg_order_value": ("high-value", "budget", 3),
    "basket_size": ("bulk", "single-item", 3),
    "spend_trend": ("growing", "declining", 4),
    "peak_quarter_share": ("seasonal", "year-round", 5),
    "discount_share": ("discount-driven", "full-price", 6),
    "return_rate": ("return-prone", None, 6),
    "views_per_order": ("browsing", "decisive", 6),
    "browse_to_buy": ("browsing", "decisive", 6),
    "cart_abandonment": ("cart-abandoning", None, 6),
}
_SHOPPER_PHRASES = {"browsing", "cart-abandoning", "decisive"}


def _tokens(text: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", text.lower())) - {""}


def _is_protected(name: str, spec: FeatureSpec | None) -> bool:
    words = _tokens(name) | (_tokens(spec.label) if spec is not None else set())
    return bool(words & PROTECTED_TERMS)


def _pretty_level(name: str) -> str:
    return name.replace("_and_", " & ").replace("_", " ").strip()


def trait_phrase(
    feature: str, spec: FeatureSpec | None, direction: str, segment_mean: float | None = None
) -> str | None:
    """The naming phrase of one trait, or ``None`` when it makes no good name.

    Parameters
    ----------
    feature : str
        Feature name, e.g. ``"discount_share"`` or ``"cat_share__electronics"``.
    spec : FeatureSpec or None
        Its metadata (the label is used for custom columns).
    direction : str
        ``"higher"`` or ``"lower"`` than the rest of the customers.
    segment_mean : float, optional
        The segment's mean (few orders on average reads "one-time" rather than "occasional").

    Returns
    -------
    str or None
        ``"discount-driven"``, ``"lapsed"``, ``"electronics"``, ``"app"``, ``"high <label>"``...
        Demographic or protected features always give ``None``.
    """
    trait = _trait(feature, spec, direction, segment_mean)
    return None if trait is None else trait.phrase


def _trait(
    feature: str, spec: FeatureSpec | None, direction: str, segment_mean: float | None
) -> _Trait | None:
    if _is_protected(feature, spec):
        return None
    high = direction == "higher"
    if feature in _VOCABULARY:
        up, down, order = _VOCABULARY[feature]
        phrase = up if high else down
        if feature == "orders" and not high and segment_mean is not None and segment_mean <= 1.5:
            phrase = "one-time"
        return None if phrase is None else _Trait(phrase, "adjective", order)
    if "__" in feature:
        prefix, level = feature.split("__", 1)
        if prefix.startswith("cat"):
            return _Trait(_pretty_level(level), "category", 0) if high else None
        if prefix.startswith("channel"):
            return _Trait(_pretty_level(level), "channel", 0) if high else None
    label = spec.label if spec is not None else feature.replace("_", " ")
    return _Trait(f"{'high' if high else 'low'} {label}", "suffix", 9)


def _compose(traits: Sequence[_Trait]) -> str:
    if not traits:
        return FALLBACK_NAME
    adjectives = sorted((t for t in traits if t.slot == "adjective"), key=lambda t: t.order)
    categories = [t.phrase for t in traits if t.slot == "category"]
    channels = [t.phrase for t in traits if t.slot == "channel"]
    suffixes = [t.phrase for t in traits if t.slot == "suffix"]
    shoppers = bool(channels) or any(t.phrase in _SHOPPER_PHRASES for t in adjectives)
    words = [t.phrase for t in adjectives]
    if categories:
        words.append(" & ".join(categories))
    if channels:
        words.append(" & ".join(channels))
    if words:
        words.append("shoppers" if shoppers else "buyers")
        text = " ".join(words)
        if suffixes:
            text += " with " + " and ".join(suffixes)
    else:
        text = "Customers with " + " and ".join(suffixes)
    return text[:1].upper() + text[1:]


def _candidates(seg: SegmentProfile, specs: Mapping[str, FeatureSpec]) -> list[_Trait]:
    """Distinct naming traits of a segment, most distinguishing first."""
    stats_ = [
        s
        for s in seg.features
        if s.significant and abs(s.effect_size) >= _MIN_TRAIT_EFFECT and s.mean is not None
    ]
    stats_.sort(key=lambda s: (-round(abs(s.effect_size), 9), s.name))
    out: list[_Trait] = []
    seen: set[str] = set()
    for s in stats_:
        trait = _trait(s.name, specs.get(s.name), "higher" if s.effect_size > 0 else "lower", s.mean)
        if trait is None or trait.phrase in seen:
            continue
        # "frequent" and "occasional" from two features would contradict each other.
        if trait.slot == "adjective" and any(
            t.slot == "adjective" and t.order == trait.order and trait.order in (0, 1, 2) for t in out
        ):
            continue
        seen.add(trait.phrase)
        out.append(_Trait(trait.phrase, trait.slot, trait.order, abs(s.effect_size)))
    return out


def _describe(seg: SegmentProfile) -> str:
    size = f"{seg.size:,} customer{'s' if seg.size != 1 else ''} ({format_value(seg.share, 'share')})"
    if seg.is_noise:
        text = f"{size} the clustering left unassigned; they are kept and profiled apart"
    elif seg.top_features:
        bits = []
        for t in seg.top_features[:2]:
            seg_text = format_value(t.segment_mean, t.kind)
            overall = format_value(t.overall_mean, t.kind)
            bits.append(f"{t.label} ({seg_text} vs {overall} overall)")
        text = f"{size} who stand out by {' and '.join(bits)}"
    else:
        text = f"{size} close to the average customer on every feature"
    if seg.value_share is not None:
        text += f"; they bring {format_value(seg.value_share, 'share')} of net revenue"
    return text + "."


def generate_names(
    profiles: SegmentProfiles,
    specs: Mapping[str, FeatureSpec],
    *,
    max_traits: int = 2,
    previous: Mapping[int, SegmentName | str] | None = None,
) -> dict[int, SegmentName]:
    """Generate a unique name and a one-sentence description for every segment.

    Parameters
    ----------
    profiles : SegmentProfiles
        From :func:`segmentkit.profiles.profile_segments`.
    specs : mapping of str to FeatureSpec
        Feature metadata (labels for custom columns; protected-term screening).
    max_traits : int, default 2
        Traits in a name (one more may be added to tell two segments apart).
    previous : mapping of int to SegmentName or str, optional
        Names of the previous run, by (matched) segment id. Segments whose id is in it keep
        its *generated* name (overrides are not carried: re-apply them with
        :func:`apply_overrides`); other segments get new names unique against those.

    Returns
    -------
    dict of int to SegmentName
        In profile order (segment id, noise last).

    Notes
    -----
    Traits are the segment's significant features with ``|d| >= 0.3`` (``>= 0.5`` for the
    second and later ones, unless needed to tell two names apart), most distinguishing
    first, each mapped to a phrase by kind and direction ("discount-driven", "lapsed",
    "one-time", "high-value", "electronics", "app", "seasonal", "browsing", or
    "high <label>" for custom columns). Ties in names are broken deterministically by adding
    the next trait, then by a ``(segment <id>)`` suffix.
    """
    if max_traits < 1:
        raise ValueError("max_traits must be >= 1")
    kept: dict[int, str] = {}
    for sid, prev in (previous or {}).items():
        if int(sid) in profiles.ids:
            kept[int(sid)] = prev.auto_name if isinstance(prev, SegmentName) else str(prev)
    segs = [s for s in profiles.segments if s.id not in kept]
    cands = {s.id: _candidates(s, specs) for s in segs if not s.is_noise}

    def initial(c: list[_Trait]) -> int:
        k = min(1, len(c))
        while k < min(max_traits, len(c)) and c[k].effect >= _MIN_EXTRA_TRAIT_EFFECT:
            k += 1
        return k

    n_traits = {sid: initial(c) for sid, c in cands.items()}

    def build() -> dict[int, str]:
        out: dict[int, str] = {}
        for s in segs:
            if s.is_noise:
                out[s.id] = NOISE_NAME
            else:
                out[s.id] = _compose(cands[s.id][: n_traits[s.id]])
        return out

    names = build()
    taken = {v.casefold() for v in kept.values()}
    for _ in range(max_traits + 2):
        counts: dict[str, int] = {}
        for v in names.values():
            counts[v.casefold()] = counts.get(v.casefold(), 0) + 1
        clashing = [sid for sid, v in names.items() if counts[v.casefold()] > 1 or v.casefold() in taken]
        grown = False
        for sid in clashing:
            if sid in n_traits and n_traits[sid] < min(len(cands[sid]), max_traits + 1):
                n_traits[sid] += 1
                grown = True
        if not grown:
            break
        names = build()
    final: dict[int, str] = dict(kept)
    used = set(taken)
    for s in segs:  # id order, noise last: the first keeps the plain name
        name = names[s.id]
        if name.casefold() in used:
            name = f"{name} (segment {s.id})"
        used.add(name.casefold())
        final[s.id] = name
    return {s.id: SegmentName(name=final[s.id], description=_describe(s)) for s in profiles.segments}


def trait_lines(
    profiles: SegmentProfiles, names: Mapping[int, SegmentName], *, n_traits: int = 3
) -> list[str]:
    """Plain lines for the CLI: each segment's name, size and top traits.

    Example: ``"[1] Lapsed one-time buyers: 150 customers (22 %); Days since last purchase:
    3.2× the average (299 vs 93.3); ..."``.
    """
    lines = []
    for seg in profiles.segments:
        traits = "; ".join(t.sentence for t in seg.top_features[:n_traits]) or "no distinguishing traits"
        share = format_value(seg.share, "share")
        lines.append(f"[{seg.id}] {names[seg.id].name}: {seg.size:,} customers ({share}); {traits}")
    return lines
