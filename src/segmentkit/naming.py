"""Names that describe segments and stick across refreshes.

* :func:`generate_names` -- a short name ("Frequent discount-driven app shoppers") and a
  one-sentence description per segment, from its most distinguishing *behavioral* traits.
  Names never use demographic or protected attributes (only ``profile.features`` are read,
  and feature names or labels mentioning age, gender, region, income, persona, ... are
  skipped), and they are unique within a run.
* :func:`load_name_overrides` / :func:`parse_name_overrides` / :func:`apply_overrides` --
  user names from ``segment_names.toml``::

      [names]
      0 = "Loyal weekly shoppers"
      -1 = "Outliers"

* :func:`match_segments`, :func:`relabel`, :func:`segment_overlap`, :func:`migration_table`
  -- keep ids (and so names and overrides) across refreshes: current segments are matched
  one-to-one to the previous run's by optimal assignment on an overlap matrix.

A refresh, end to end::

    overlap = segment_overlap(previous_model_labels_on_new_data, new_labels)
    mapping = match_segments(previous_ids, new_ids, overlap)
    labels = relabel(new_labels, mapping)
    profiles = profile_segments(features, labels, ...)
    names = generate_names(profiles, specs, previous=previous_names)
    names = apply_overrides(names, load_name_overrides("segment_names.toml"))
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from segmentkit.features import FeatureSpec
from segmentkit.profiles import NOISE, SegmentProfile, SegmentProfiles, format_value

__all__ = [
    "PROTECTED_TERMS",
    "SegmentName",
    "apply_overrides",
    "format_name_overrides",
    "generate_names",
    "load_name_overrides",
    "match_segments",
    "migration_records",
    "migration_table",
    "parse_name_overrides",
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


# ---------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------


def _check_name(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    name = value.strip()
    if not name:
        raise ValueError(f"{where} is empty")
    if "\n" in name or "\r" in name:
        raise ValueError(f"{where} must be one line")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{where} is longer than {MAX_NAME_LENGTH} characters")
    return name


def parse_name_overrides(text: str, source: str = "<string>") -> dict[int, str]:
    """Parse ``segment_names.toml`` content.

    Parameters
    ----------
    text : str
        TOML with one ``[names]`` table mapping segment ids to names.
    source : str
        Shown in error messages (the file name).

    Returns
    -------
    dict of int to str
        Names by segment id, sorted by id.

    Raises
    ------
    ValueError
        Invalid TOML, unknown top-level keys, a missing ``[names]`` table, a key that is not
        an integer segment id, the same id twice, a name that is not a non-empty one-line
        string of at most 80 characters, or two segments with the same name. The message
        names the source and the key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"names", "briefs"})
    if unknown:
        raise ValueError(
            f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            "expected a [names] table and [briefs.ID] tables"
        )
    if "names" not in data and "briefs" in data:  # brief texts only (segmentkit.briefs reads them)
        return {}
    if "names" not in data:
        raise ValueError(f'{source}: missing [names] table, e.g.\n[names]\n0 = "Loyal weekly shoppers"')
    table = data["names"]
    if not isinstance(table, dict):
        raise ValueError(f"{source}: 'names' must be a table ([names]), got {type(table).__name__}")
    out: dict[int, str] = {}
    seen_names: dict[str, int] = {}
    for key, value in table.items():
        if not re.fullmatch(r"\s*-?\d+\s*", key):
            raise ValueError(
                f"{source}: [names] key {key!r} is not a segment id (an integer such as 0, or -1 for noise)"
            )
        sid = int(key)
        if sid < NOISE:
            raise ValueError(f"{source}: [names] key {key!r}: segment ids are >= -1")
        if sid in out:
            raise ValueError(f"{source}: [names] segment {sid} is given twice")
        name = _check_name(value, f"{source}: [names] {key}")
        if name.casefold() in seen_names:
            raise ValueError(
                f"{source}: [names] {key}: name {name!r} is already used by segment "
                f"{seen_names[name.casefold()]}"
            )
        seen_names[name.casefold()] = sid
        out[sid] = name
    return dict(sorted(out.items()))


def load_name_overrides(path: str | Path) -> dict[int, str]:
    """Read user names from a ``segment_names.toml`` file.

    Parameters
    ----------
    path : str or Path
        The file, e.g.::

            [names]
            0 = "Loyal weekly shoppers"

    Returns
    -------
    dict of int to str
        Names by segment id.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        See :func:`parse_name_overrides`; the message starts with the file path.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"segment name overrides file not found: {p}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not UTF-8 text: {exc}") from None
    return parse_name_overrides(text, str(p))


def format_name_overrides(names: Mapping[int, SegmentName | str]) -> str:
    """A ``segment_names.toml`` with the given names, for users to edit."""
    lines = ["# Segment names; edit and keep the ids. Ids stay the same across refreshes.", "[names]"]
    for sid in sorted(names, key=lambda i: (int(i) == NOISE, int(i))):
        value = names[sid]
        name = value.name if isinstance(value, SegmentName) else str(value)
        lines.append(f"{int(sid)} = {json.dumps(name, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def apply_overrides(
    names: Mapping[int, SegmentName], overrides: Mapping[int, str], *, strict: bool = False
) -> dict[int, SegmentName]:
    """Replace generated names by user names.

    Parameters
    ----------
    names : mapping of int to SegmentName
        From :func:`generate_names`. Not modified.
    overrides : mapping of int to str
        User names by segment id (from :func:`load_name_overrides` or the API).
    strict : bool, default False
        Raise for overrides of segments that do not exist (by default they are ignored, as
        a segment may vanish in a refresh).

    Returns
    -------
    dict of int to SegmentName
        Same ids and order. An overridden entry keeps its description and remembers the
        generated name. A generated name equal to an override gets a ``(segment <id>)``
        suffix so names stay unique.

    Raises
    ------
    KeyError
        ``strict`` and an override names an unknown segment.
    ValueError
        An override is not a valid name, or two segments would get the same user name.
    """
    clean: dict[int, str] = {}
    for sid, value in overrides.items():
        sid = int(sid)
        name = _check_name(value, f"the name for segment {sid}")
        if sid not in names:
            if strict:
                raise KeyError(f"override for unknown segment {sid}; segments are {sorted(names)}")
            continue
        clean[sid] = name
    by_name: dict[str, int] = {}
    for sid, name in sorted(clean.items()):
        if name.casefold() in by_name:
            raise ValueError(f"segments {by_name[name.casefold()]} and {sid} would both be called {name!r}")
        by_name[name.casefold()] = sid
    out: dict[int, SegmentName] = {}
    for sid, current in names.items():
        if sid in clean:
            out[sid] = SegmentName(
                clean[sid], current.description, overridden=True, generated_name=current.auto_name
            )
        elif current.name.casefold() in by_name:
            out[sid] = SegmentName(
                f"{current.name} (segment {sid})",
                current.description,
                current.overridden,
                current.generated_name,
            )
        else:
            out[sid] = current
    return out


# ---------------------------------------------------------------------------------------
# Refreshes: matching, relabelling, migration
# ---------------------------------------------------------------------------------------


def _unique_ints(ids: Sequence[int] | np.ndarray | pd.Index, what: str) -> list[int]:
    out = [int(i) for i in ids]
    if len(set(out)) != len(out):
        raise ValueError(f"{what} has duplicate ids")
    return out


def _axis_says(name: object, word: str) -> bool:
    return isinstance(name, str) and name.strip().lower().startswith(word)


def _previous_on_rows(frame: pd.DataFrame) -> bool:
    """The frame's axis names say rows are previous segments (or columns current ones)."""
    rows_prev = _axis_says(frame.index.name, "prev") or _axis_says(frame.columns.name, "cur")
    rows_cur = _axis_says(frame.index.name, "cur") or _axis_says(frame.columns.name, "prev")
    if rows_prev and rows_cur:
        raise ValueError(
            f"overlap axis names are contradictory: index {frame.index.name!r}, "
            f"columns {frame.columns.name!r}"
        )
    return rows_prev


def match_segments(
    previous_ids: Sequence[int] | np.ndarray,
    current_ids: Sequence[int] | np.ndarray,
    overlap: np.ndarray | pd.DataFrame,
    *,
    min_overlap: float = 0.0,
    next_id: int | None = None,
) -> dict[int, int]:
    """Match current segments one-to-one to previous ones, so ids stick across refreshes.

    Parameters
    ----------
    previous_ids : sequence of int
        Segment ids of the previous run.
    current_ids : sequence of int
        Segment ids of the current run.
    overlap : numpy.ndarray or pandas.DataFrame
        Similarity of each current segment (rows) to each previous segment (columns), higher
        = more alike: customer counts as from ``pd.crosstab(current, previous)``, Jaccard
        overlaps from :func:`segment_overlap`, or negative centre distances. A DataFrame is
        aligned by its index (current ids) and columns (previous ids), missing pairs = 0 --
        unless its axis names say otherwise: an index named ``"previous..."`` or columns
        named ``"current..."`` (as from ``pd.crosstab(pd.Series(prev, name="previous"),
        pd.Series(cur, name="current"))``) mean previous ids are the rows, and the frame is
        transposed. An array must have shape ``(len(current_ids), len(previous_ids))``.
    min_overlap : float, default 0.0
        Pairs need a similarity above this to be matched (with counts or Jaccard, 0 means
        "share at least one customer").
    next_id : int, optional
        Lowest id for new segments (e.g. one above every id ever used); by default one
        above the largest previous id.

    Returns
    -------
    dict of int to int
        Every current id mapped to its stable id: the matched previous id, or a fresh id
        above the previous maximum for segments without a match (in increasing current-id
        order). Noise (``-1``) always maps to ``-1`` and is never matched to a segment.

    Notes
    -----
    The assignment maximizes total similarity (:func:`scipy.optimize.linear_sum_assignment`).
    Exact ties prefer keeping the same id, then follow the id order, so the result is
    deterministic. Previous segments left unmatched have vanished.
    """
    prev = _unique_ints(previous_ids, "previous_ids")
    cur = _unique_ints(current_ids, "current_ids")
    if isinstance(overlap, pd.DataFrame):
        if _previous_on_rows(overlap):
            overlap = overlap.T
        idx = [int(i) for i in overlap.index]
        cols = [int(c) for c in overlap.columns]
        extra_rows = sorted(set(idx) - set(cur))
        extra_cols = sorted(set(cols) - set(prev))
        if extra_rows or extra_cols:
            raise ValueError(
                "overlap rows must be current ids and columns previous ids "
                f"(unknown rows {extra_rows}, unknown columns {extra_cols}); transposed?"
            )
        frame = overlap.copy()
        frame.index, frame.columns = idx, cols
        sim = frame.reindex(index=cur, columns=prev, fill_value=0).to_numpy(dtype=float)
    else:
        sim = np.asarray(overlap, dtype=float)
        if sim.ndim != 2 or sim.shape != (len(cur), len(prev)):
            raise ValueError(
                "overlap must have shape (len(current_ids), len(previous_ids)) = "
                f"{(len(cur), len(prev))}; got {sim.shape}"
            )
    if not np.all(np.isfinite(sim)):
        raise ValueError("overlap has missing or infinite values")

    rows = sorted((i for i, c in enumerate(cur) if c != NOISE), key=lambda i: cur[i])
    cols = sorted((j for j, p in enumerate(prev) if p != NOISE), key=lambda j: prev[j])
    mapping: dict[int, int] = {}
    if rows and cols:
        sub = sim[np.ix_(rows, cols)]
        same = np.array([[cur[i] == prev[j] for j in cols] for i in rows])
        span = float(np.abs(sub).max()) if sub.size else 0.0
        bonus = 1e-9 * (span + 1.0) / (len(rows) + len(cols))
        r, c = linear_sum_assignment(sub + bonus * same, maximize=True)
        for a, b in zip(r, c):
            if sub[a, b] > min_overlap:
                mapping[cur[rows[a]]] = prev[cols[b]]
    start = max([p for p in prev if p != NOISE], default=-1) + 1
    if next_id is not None:
        start = max(start, int(next_id))
    for cid in sorted(c for c in cur if c != NOISE):
        if cid not in mapping:
            mapping[cid] = start
            start += 1
    if NOISE in cur:
        mapping[NOISE] = NOISE
    return {cid: mapping[cid] for cid in sorted(cur, key=lambda i: (i == NOISE, i))}


def relabel(labels: np.ndarray | pd.Series, mapping: Mapping[int, int]) -> np.ndarray | pd.Series:
    """Apply a :func:`match_segments` mapping to labels (a Series keeps its index).

    Raises
    ------
    KeyError
        A label has no entry in ``mapping``.
    """
    arr = np.asarray(labels).astype(np.int64)
    uniq, inverse = np.unique(arr, return_inverse=True)
    missing = [int(u) for u in uniq if int(u) not in mapping]
    if missing:
        raise KeyError(f"labels {missing} are not in the mapping")
    out = np.array([int(mapping[int(u)]) for u in uniq], dtype=np.int64)[inverse.reshape(-1)]
    if isinstance(labels, pd.Series):
        return pd.Series(out, index=labels.index, name=labels.name)
    return out


def segment_overlap(
    previous_labels: np.ndarray | pd.Series,
    current_labels: np.ndarray | pd.Series,
    *,
    normalize: str = "jaccard",
) -> pd.DataFrame:
    """Overlap of current segments (rows) with previous segments (columns).

    Parameters
    ----------
    previous_labels, current_labels : array-like
        Two labelings of the *same* customers (e.g. the previous model's predictions for
        today's customers, and today's clustering).
    normalize : {"jaccard", "count", "current"}, default "jaccard"
        Jaccard index of the two customer sets, raw counts, or the share of each current
        segment falling in each previous one.

    Returns
    -------
    pandas.DataFrame
        Index: current ids, columns: previous ids (sorted, noise last), ready for
        :func:`match_segments`.
    """
    prev = np.asarray(previous_labels).astype(np.int64)
    cur = np.asarray(current_labels).astype(np.int64)
    if prev.shape != cur.shape or prev.ndim != 1:
        raise ValueError(f"labels must be 1-D and the same length; got {prev.shape} and {cur.shape}")
    p_ids = sorted(np.unique(prev).tolist(), key=lambda i: (i == NOISE, i))
    c_ids = sorted(np.unique(cur).tolist(), key=lambda i: (i == NOISE, i))
    p_code = np.searchsorted(np.array(sorted(p_ids)), prev)
    c_code = np.searchsorted(np.array(sorted(c_ids)), cur)
    counts = np.bincount(c_code * len(p_ids) + p_code, minlength=len(c_ids) * len(p_ids)).reshape(
        len(c_ids), len(p_ids)
    )
    table = pd.DataFrame(counts, index=sorted(c_ids), columns=sorted(p_ids)).reindex(
        index=c_ids, columns=p_ids
    )
    if normalize == "count":
        out = table.astype(float)
    elif normalize == "current":
        out = table.div(table.sum(axis=1), axis=0)
    elif normalize == "jaccard":
        rows = table.sum(axis=1).to_numpy()[:, None]
        cols = table.sum(axis=0).to_numpy()[None, :]
        inter = table.to_numpy(dtype=float)
        out = pd.DataFrame(inter / (rows + cols - inter), index=table.index, columns=table.columns)
    else:
        raise ValueError(f"normalize must be 'jaccard', 'count' or 'current'; got {normalize!r}")
    out.index.name, out.columns.name = "current_segment", "previous_segment"
    return out


def migration_table(previous_labels: pd.Series, current_labels: pd.Series) -> pd.DataFrame:
    """Customers moving between segments from one run to the next.

    Parameters
    ----------
    previous_labels, current_labels : pandas.Series
        Segment per customer (index ``customer_id``, unique) in the previous and the current
        run, with current ids already matched (see :func:`match_segments`).

    Returns
    -------
    pandas.DataFrame
        Customer counts, rows ``from_segment`` = previous segment ids then ``"new"``
        (customers only in the current run), columns ``to_segment`` = current segment ids
        then ``"gone"`` (customers only in the previous run). Labels are strings (``"0"``,
        ``"-1"`` for noise, last among segments) so the table serializes as it is.
    """
    for what, s in (("previous_labels", previous_labels), ("current_labels", current_labels)):
        if not isinstance(s, pd.Series):
            raise TypeError(f"{what} must be a pandas Series indexed by customer")
        if not s.index.is_unique:
            raise ValueError(f"{what} has duplicate customers")
    prev = previous_labels.astype(np.int64)
    cur = current_labels.astype(np.int64)
    joined = pd.concat([prev.rename("from"), cur.rename("to")], axis=1, join="outer")
    p_ids = sorted(pd.unique(prev).tolist(), key=lambda i: (i == NOISE, i))
    c_ids = sorted(pd.unique(cur).tolist(), key=lambda i: (i == NOISE, i))
    row_labels = [str(i) for i in p_ids] + ["new"]
    col_labels = [str(i) for i in c_ids] + ["gone"]
    from_code = np.full(len(joined), len(p_ids), dtype=np.int64)
    to_code = np.full(len(joined), len(c_ids), dtype=np.int64)
    has_from = joined["from"].notna().to_numpy()
    has_to = joined["to"].notna().to_numpy()
    if p_ids:
        from_code[has_from] = pd.Index(p_ids).get_indexer(
            joined["from"].to_numpy()[has_from].astype(np.int64)
        )
    if c_ids:
        to_code[has_to] = pd.Index(c_ids).get_indexer(joined["to"].to_numpy()[has_to].astype(np.int64))
    n_rows, n_cols = len(row_labels), len(col_labels)
    counts = np.bincount(from_code * n_cols + to_code, minlength=n_rows * n_cols).reshape(n_rows, n_cols)
    table = pd.DataFrame(
        counts,
        index=pd.Index(row_labels, name="from_segment"),
        columns=pd.Index(col_labels, name="to_segment"),
    )
    return table


def migration_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The non-zero cells of a :func:`migration_table`, JSON-safe, in table order.

    Returns
    -------
    list of dict
        ``{"from_segment": "0", "to_segment": "2", "customers": 31, "share_of_from": 0.12}``;
        ``share_of_from`` is the share of the row's customers (``None`` for the ``"new"`` row).
    """
    counts = table.to_numpy(dtype=np.int64)
    totals = counts.sum(axis=1)
    out: list[dict[str, Any]] = []
    for i, src in enumerate(table.index):
        for j, dst in enumerate(table.columns):
            if counts[i, j]:
                share = None if src == "new" else round(float(counts[i, j] / totals[i]), 6)
                out.append(
                    {
                        "from_segment": str(src),
                        "to_segment": str(dst),
                        "customers": int(counts[i, j]),
                        "share_of_from": share,
                    }
                )
    return out
