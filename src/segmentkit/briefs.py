"""A campaign brief per segment, written from the profile numbers only.

:func:`build_briefs` reads the segment entries of a run (size, value, and the mean and
median of every feature from :mod:`segmentkit.profiles`) and writes, per segment, one
sentence for each of these topics:

* **who** -- size, share, value share and a lifecycle state (new, active, at risk, lapsed)
  read from the segment's median days since the last purchase against its own median days
  between orders (and its median days since first seen);
* **what** -- the categories they spend on, items and spend per order;
* **where** -- the channel mix of their orders;
* **when** -- days between orders, orders and active months, share of spend in the peak
  quarter (seasonality);
* **price** -- the share of their orders with a discount against the overall share;
* **risk** -- days since the last purchase against their own usual gap, and the spend trend;
* **objective** -- retain, grow, win back, reactivate or convert browsers, with the rule and
  the numbers that fired it;
* **move_up** -- the next segment up in net spend per customer and the two or three
  behavioural features that separate the two most (in overall standard deviations).

The lifecycle groups of a layered run (:mod:`segmentkit.lifecycle`) are set by rule, so
their brief states the rule's own numbers instead of reading a state from medians: one-time
buyers the days since their only purchase, lapsed repeat buyers the days since their last
purchase against their own usual gap, new customers the days since first seen, browsers that
they never ordered; and the objective follows from the group (one-time: a second purchase;
new: onboard; lapsed: win back, or reactivate below the average value; browsers: convert).

Every sentence is stored next to the numbers it cites (``numbers``), in the features' own
units, so a reader or a test can check each sentence against the profile. A sentence whose
features the run does not have (no category column, say) is left out, never guessed.

Users replace any sentence in the same TOML file as the segment names::

    [briefs.2]
    objective = "Grow basket size with bundles; keep discounts as they are."
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmentkit.export import json_float
from segmentkit.features import FeatureSpec
from segmentkit.lifecycle import ACTIVE_BASE, AT_RISK_GAPS, LAPSED_GAPS, NEW_TENURE_DAYS
from segmentkit.profiles.wording import spec_for
from segmentkit.wording import format_value

__all__ = [
    "LIFECYCLE_STATES",
    "OBJECTIVES",
    "TOPICS",
    "TOPIC_TITLES",
    "UNITS",
    "Brief",
    "BriefSentence",
    "apply_brief_overrides",
    "build_briefs",
    "lifecycle_state",
    "usual_gap",
    "load_brief_overrides",
    "parse_brief_overrides",
]

#: Sentence topics, in display order.
TOPICS = ("who", "what", "where", "when", "price", "risk", "objective", "move_up")
#: Topic → heading shown in the report and summary.md.
TOPIC_TITLES = {
    "who": "Who", "what": "What they buy", "where": "Where to reach them", "when": "When",
    "price": "Price sensitivity", "risk": "Risk", "objective": "Objective", "move_up": "Move-up levers",
}
LIFECYCLE_STATES = ("new", "active", "at risk", "lapsed", "one-time", "browsers")
OBJECTIVES = ("retain", "grow", "win back", "reactivate", "convert browsers", "second purchase", "onboard")
#: How a brief calls each lifecycle group (:data:`segmentkit.lifecycle.GROUPS`) and its rule.
_GROUP_WORDS = {"new": "new customers", "one-time": "one-time buyers (one order)",
                "browsers": "browsers (no order)", "lapsed": "lapsed repeat buyers"}

# NEW_TENURE_DAYS, AT_RISK_GAPS and LAPSED_GAPS (segmentkit.lifecycle) read a segment's medians here
#: Browsers: product views per order at least this index (1.5× the average) ...
BROWSER_VIEWS_INDEX = 150.0
#: ... and orders at most this index (half the average).
BROWSER_ORDERS_INDEX = 50.0
#: A value index of 100 is the average customer's net spend: above it a segment is worth keeping.
VALUE_INDEX_AVERAGE = 100.0
#: Discount use at least 1.5× (or at most 2/3 of) the overall share reads as price-(in)sensitive.
PRICE_SENSITIVE_INDEX = 150.0
PRICE_INSENSITIVE_INDEX = 100.0 / 1.5
#: Peak-quarter share index above / below which spend is called more / less seasonal.
SEASONAL_INDEX_HIGH = 110.0
SEASONAL_INDEX_LOW = 90.0
#: How many behavioural differences a move-up lever lists.
N_LEVERS = 3
#: Below this median order count a segment's own gap describes a minority (see usual_gap).
MIN_ORDERS_FOR_GAP = 2.0
#: Features that are the value itself or not behaviour a campaign can change.
_NOT_LEVERS = frozenset({"monetary", "tenure_days"})
_MAX_TEXT = 600


@dataclass(frozen=True)
class BriefSentence:
    """One sentence of a brief and the numbers it cites.

    Attributes
    ----------
    topic : str
        One of :data:`TOPICS`.
    text : str
        The sentence (the user's when ``overridden``).
    numbers : dict
        Every number the generated sentence cites, by name, in its own units (shares 0..1);
        names ending in ``_sd`` are not written in the sentence but ranked its levers
        (``cited`` false in :meth:`to_dict`).
    overridden : bool
        The text comes from the user's TOML file.
    labels, units : dict
        Per number: plain words, and its unit (one of :data:`UNITS`) for display.
    """

    topic: str
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)
    overridden: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary; ``numbers`` is a list of ``{name, label, value, unit}``."""
        return {"topic": self.topic, "title": TOPIC_TITLES[self.topic], "text": self.text,
                "numbers": [{"name": k, "label": self.labels.get(k, k.replace("_", " ")),
                             "value": _clean(v), "unit": self.units.get(k, "number"),
                             "cited": not k.endswith(_BASIS_SUFFIX)}
                            for k, v in self.numbers.items()],
                "overridden": self.overridden}


@dataclass(frozen=True)
class Brief:
    """The brief of one segment.

    Attributes
    ----------
    segment_id : int
    lifecycle : str or None
        One of :data:`LIFECYCLE_STATES` (``None`` without recency numbers).
    objective : str
        One of :data:`OBJECTIVES`.
    objective_rule : str
        The rule that chose the objective, in words.
    move_up_to : int or None
        Id of the next segment up in net spend per customer (``None`` for the top one).
    sentences : tuple of BriefSentence
        In :data:`TOPICS` order; topics the data cannot support are left out.
    """

    segment_id: int
    lifecycle: str | None
    objective: str
    objective_rule: str
    move_up_to: int | None
    sentences: tuple[BriefSentence, ...]

    def sentence(self, topic: str) -> BriefSentence | None:
        """The sentence of ``topic``, if the brief has one."""
        return next((s for s in self.sentences if s.topic == topic), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (``segments[].brief`` in ``summary.json``)."""
        return {"lifecycle": self.lifecycle, "objective": self.objective,
                "objective_rule": self.objective_rule, "move_up_to": self.move_up_to,
                "sentences": [s.to_dict() for s in self.sentences]}


#: Units of brief numbers: how the report formats them.
UNITS = ("share", "days", "count", "amount", "index", "ratio", "trend", "segment", "number")

#: Brief numbers that are not features: name → (label, unit).
_OWN_NUMBERS = {
    "size": ("customers", "count"),
    "share": ("share of customers", "share"),
    "value_share": ("share of net revenue", "share"),
    "value_index": ("value index (100 = average)", "index"),
    "value_mean": ("net spend per customer", "amount"),
    "target_value_mean": ("net spend per customer, next segment up", "amount"),
    "target_id": ("next segment up (id)", "segment"),
    "median_recency_days": ("days since last purchase (median)", "days"),
    "median_tenure_days": ("days since first seen (median)", "days"),
    "usual_gap_days": ("usual days between orders (median)", "days"),
    "gaps_since_last_order": ("usual gaps since the last purchase", "ratio"),
}
#: How a layered run's behavioural briefs name what their "vs" figures are over (their
#: profiles are within the active base; see segmentkit.pipeline).
ACTIVE_BASE_WORDS = f"in {ACTIVE_BASE}"
#: Numbers behind a sentence's choices rather than written in it (the spread ranking levers).
_BASIS_SUFFIX = "_sd"
_SUFFIXES = (("_overall", "overall"), ("_target", "next segment up"), (_BASIS_SUFFIX, "spread (sd), {over}"),
             ("_index", "index (100 = average)"))
#: Whom the move-up spread is over when not the active base's.
ALL_CUSTOMERS_WORDS = "all customers"


def _describe_number(name: str, specs: Mapping[str, FeatureSpec], over: str = ALL_CUSTOMERS_WORDS) -> tuple[str, str]:
    """Label and unit of a cited number; ``over``: whom the move-up spread is over."""
    if name in _OWN_NUMBERS:
        return _OWN_NUMBERS[name]
    base, note = name, ""
    for suffix, words in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in specs:
            base, note = name[: -len(suffix)], words.format(over=over)
            break
    spec = spec_for(base, specs)
    unit = {"share": "share", "days": "days", "count": "count", "amount": "amount",
            "trend": "trend", "ratio": "ratio"}.get(spec.kind, "number")
    if note.startswith("index"):
        unit = "index"
    return (f"{spec.label}, {note}" if note else spec.label), unit


def _with_units(sentence: BriefSentence, specs: Mapping[str, FeatureSpec],
                over: str = ALL_CUSTOMERS_WORDS) -> BriefSentence:
    described = {k: _describe_number(k, specs, over) for k in sentence.numbers}
    return BriefSentence(sentence.topic, sentence.text, sentence.numbers, sentence.overridden,
                         {k: v[0] for k, v in described.items()}, {k: v[1] for k, v in described.items()})


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return json_float(v)
    if isinstance(v, Mapping):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


# ---------------------------------------------------------------------------------------
# Reading the profile
# ---------------------------------------------------------------------------------------


class _Seg:
    """Typed access to one segment entry of the summary."""

    def __init__(self, seg: Mapping[str, Any]) -> None:
        self.id = int(seg["id"])
        self.name = str(seg.get("name") or f"Segment {self.id}")
        self.size = int(seg.get("size") or 0)
        self.share = float(seg.get("share") or 0.0)
        self.value_share = seg.get("value_share")
        self.value_index = seg.get("value_index")
        self.value_mean = seg.get("value_mean")
        self.features: Mapping[str, Mapping[str, Any]] = (seg.get("profile") or {}).get("features") or {}

    def stat(self, name: str, key: str = "mean") -> float | None:
        v = (self.features.get(name) or {}).get(key)
        return None if v is None else float(v)

    def has(self, name: str) -> bool:
        return self.stat(name) is not None


def _fmt(value: float | None, spec: FeatureSpec) -> str:
    return format_value(value, spec.kind)


def _level(name: str) -> str:
    return name.split("__", 1)[1].replace("_", " ") if "__" in name else name


def usual_gap(seg: Mapping[str, Any] | _Seg) -> float | None:
    """A segment's usual days between orders: its median, or everyone's for one-time buyers.

    The gap is only measured on customers with two orders or more; when the segment's median
    customer has fewer than :data:`MIN_ORDERS_FOR_GAP` orders, its own median gap describes a
    minority, so the median over all customers is used.
    """
    s = seg if isinstance(seg, _Seg) else _Seg(seg)
    orders = s.stat("orders", "median")
    if orders is not None and orders < MIN_ORDERS_FOR_GAP:
        return s.stat("gap_mean_days", "overall_median")
    return s.stat("gap_mean_days", "median")


def lifecycle_state(recency: float | None, gap: float | None, tenure: float | None) -> str | None:
    """New, active, at risk or lapsed, from a segment's medians.

    Parameters
    ----------
    recency, gap, tenure : float or None
        Median days since the last purchase, between orders, since first seen.

    Returns
    -------
    str or None
        ``"new"`` when first seen at most :data:`NEW_TENURE_DAYS` ago; else ``"lapsed"`` when
        the last purchase is at least :data:`LAPSED_GAPS` usual gaps ago, ``"at risk"`` at
        least :data:`AT_RISK_GAPS`, otherwise ``"active"``. ``None`` without recency.
    """
    if recency is None:
        return None
    if tenure is not None and tenure <= NEW_TENURE_DAYS:
        return "new"
    if gap is None or gap <= 0:
        return "active"
    ratio = recency / gap
    if ratio >= LAPSED_GAPS:
        return "lapsed"
    if ratio >= AT_RISK_GAPS:
        return "at risk"
    return "active"


# ---------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------


def _who(s: _Seg, lifecycle: str | None, gap: float | None, recency: float | None) -> BriefSentence:
    text = (f"{s.size:,} customers ({format_value(s.share, 'share')} of all) bringing {format_value(s.value_share, 'share')} of net revenue "
            f"(value index {format_value(s.value_index, 'count')})")
    numbers: dict[str, Any] = {"size": s.size, "share": s.share, "value_share": s.value_share,
                               "value_index": s.value_index}
    if lifecycle is not None:
        why = []
        tenure = s.stat("tenure_days", "median")
        if tenure is not None:
            why.append(f"first seen a median {format_value(tenure, 'days')} days ago")
            numbers["median_tenure_days"] = tenure
        if lifecycle != "new" and recency is not None and gap:
            why.append(f"last purchase {format_value(recency / gap, 'ratio')} usual gaps ago")
            numbers["gaps_since_last_order"] = recency / gap
        text += f"; lifecycle: {lifecycle}" + (f" ({', '.join(why)})" if why else "")
    return BriefSentence("who", text + ".", numbers)


def _what(s: _Seg, specs: Mapping[str, FeatureSpec], among: str = "overall") -> BriefSentence | None:
    cats = sorted(((n, s.stat(n), s.stat(n, "overall_mean")) for n in s.features
                   if n.startswith("cat_share__") and s.has(n)), key=lambda t: (-t[1], t[0]))
    parts: list[str] = []
    numbers: dict[str, Any] = {}
    if cats:
        top = [c for c in cats[:2] if c[1] > 0]
        parts.append("spend goes mostly to " + " and ".join(
            f"{_level(n)} ({format_value(m, 'share')} vs {format_value(o, 'share')} {among})" for n, m, o in top))
        numbers.update({n: m for n, m, _ in top})
        numbers.update({f"{n}_overall": o for n, _, o in top})
    per_order = []
    for name in ("basket_size", "avg_order_value"):
        if s.has(name):
            per_order.append(f"{_fmt(s.stat(name), spec_for(name, specs))} {spec_for(name, specs).label}")
            numbers[name] = s.stat(name)
    if per_order:
        parts.append("a typical order: " + ", ".join(per_order) + " (means)")
    if not parts:
        return None
    text = "; ".join(parts)
    return BriefSentence("what", text[0].upper() + text[1:] + ".", numbers)


def _where(s: _Seg, among: str = "overall") -> BriefSentence | None:
    chans = sorted(((n, s.stat(n), s.stat(n, "overall_mean")) for n in s.features
                    if n.startswith("channel_share__") and s.has(n)), key=lambda t: (-t[1], t[0]))
    if not chans:
        return None
    text = "Orders come via " + ", ".join(f"{_level(n)} {format_value(m, 'share')}" for n, m, _ in chans)
    text += f" ({among}: " + ", ".join(f"{_level(n)} {format_value(o, 'share')}" for n, _, o in chans) + ")."
    numbers = {n: m for n, m, _ in chans}
    numbers.update({f"{n}_overall": o for n, _, o in chans})
    return BriefSentence("where", text, numbers)


def _counted(number: str, noun: str) -> str:
    """``"1 order"``, ``"2.5 orders"``: the noun in the plural unless the number reads 1."""
    return f"{number} {noun}" if number == "1" else f"{number} {noun}s"


def _when(s: _Seg, gap: float | None, among: str = "overall") -> BriefSentence | None:
    parts: list[str] = []
    numbers: dict[str, Any] = {}
    if gap is not None:
        parts.append(f"a usual {format_value(gap, 'days')} days between orders (median)")
        numbers["usual_gap_days"] = gap
    if s.has("orders"):
        text = _counted(format_value(s.stat('orders'), 'count'), "order")
        numbers["orders"] = s.stat("orders")
        if s.has("active_months"):
            text += f" over {_counted(format_value(s.stat('active_months'), 'count'), 'active month')}"
            numbers["active_months"] = s.stat("active_months")
        parts.append(text + " on average")
    if s.has("peak_quarter_share"):
        m, o = s.stat("peak_quarter_share"), s.stat("peak_quarter_share", "overall_mean")
        idx = s.stat("peak_quarter_share", "index")
        how = ("more seasonal than average" if idx is not None and idx >= SEASONAL_INDEX_HIGH else
               "less seasonal than average" if idx is not None and idx <= SEASONAL_INDEX_LOW else
               "about as seasonal as average")
        parts.append(f"{format_value(m, 'share')} of their spend falls in their peak quarter vs {format_value(o, 'share')} {among} ({how})")
        numbers.update({"peak_quarter_share": m, "peak_quarter_share_overall": o})
    if not parts:
        return None
    text = "; ".join(parts)
    return BriefSentence("when", text[0].upper() + text[1:] + ".", numbers)


def _price(s: _Seg, among: str = "overall") -> BriefSentence | None:
    if not s.has("discount_share"):
        return None
    m, o = s.stat("discount_share"), s.stat("discount_share", "overall_mean")
    idx = s.stat("discount_share", "index")
    how = ("price-sensitive: lead with the offer" if idx is not None and idx >= PRICE_SENSITIVE_INDEX else
           "rarely buy on discount: lead with the product, not the price"
           if idx is not None and idx <= PRICE_INSENSITIVE_INDEX else "average discount use")
    return BriefSentence("price", f"{format_value(m, 'share')} of their orders use a discount vs {format_value(o, 'share')} {among} "
                                  f"(index {format_value(idx, 'count')}): {how}.",
                         {"discount_share": m, "discount_share_overall": o, "discount_share_index": idx})


def _risk(s: _Seg, recency: float | None, gap: float | None, lifecycle: str | None) -> BriefSentence | None:
    if recency is None:
        return None
    numbers: dict[str, Any] = {"median_recency_days": recency}
    text = f"Last purchase a median {format_value(recency, 'days')} days ago"
    if gap is not None and gap > 0:
        numbers.update({"usual_gap_days": gap, "gaps_since_last_order": recency / gap})
        text += (f", {format_value(recency / gap, 'ratio')}× their usual {format_value(gap, 'days')} days "
                 f"between orders")
    if lifecycle is not None:
        text += f" ({lifecycle})"
    if s.has("spend_trend"):
        numbers["spend_trend"] = s.stat("spend_trend")
        text += f"; spend trend {format_value(s.stat('spend_trend'), 'trend')} (−1 all early, +1 all recent)"
    return BriefSentence("risk", text + ".", numbers)


def _objective(s: _Seg, lifecycle: str | None, recency: float | None,
               gap: float | None, average: str = "the average customer") -> tuple[str, str, BriefSentence]:
    vi = s.value_index
    views_idx, orders_idx = s.stat("views_per_order", "index"), s.stat("orders", "index")
    ratio = recency / gap if recency is not None and gap else None
    if (views_idx is not None and orders_idx is not None and views_idx >= BROWSER_VIEWS_INDEX
            and orders_idx <= BROWSER_ORDERS_INDEX):
        rule = (f"product views per order index ≥ {BROWSER_VIEWS_INDEX:.0f} and orders index ≤ "
                f"{BROWSER_ORDERS_INDEX:.0f}")
        why = (f"they view {format_value(s.stat('views_per_order'), 'ratio')} products per order "
               f"(index {views_idx:.0f}) yet place few orders (index {orders_idx:.0f})")
        numbers = {"views_per_order": s.stat("views_per_order"), "views_per_order_index": views_idx,
                   "orders_index": orders_idx}
        objective = "convert browsers"
    elif lifecycle == "lapsed":
        worth = vi is not None and vi >= VALUE_INDEX_AVERAGE
        objective = "win back" if worth else "reactivate"
        rule = (f"last purchase ≥ {LAPSED_GAPS:g} usual gaps ago and value index "
                f"{'≥' if worth else '<'} {VALUE_INDEX_AVERAGE:.0f}")
        why = (f"their last purchase was {format_value(ratio, 'ratio')} usual gaps ago and their value "
               f"index is {format_value(vi, 'count')}")
        numbers = {"gaps_since_last_order": ratio, "value_index": vi}
    elif lifecycle == "at risk":
        objective = "retain"
        rule = f"last purchase between {AT_RISK_GAPS:g} and {LAPSED_GAPS:g} usual gaps ago"
        why = f"their last purchase was {format_value(ratio, 'ratio')} usual gaps ago: they are slipping"
        numbers = {"gaps_since_last_order": ratio}
    elif vi is not None and vi >= VALUE_INDEX_AVERAGE and lifecycle != "new":
        objective = "retain"
        rule = f"buying on their usual rhythm and value index ≥ {VALUE_INDEX_AVERAGE:.0f}"
        why = (f"they still buy on their usual rhythm (last purchase {format_value(ratio, 'ratio')} usual gaps "
               f"ago) with a value index of {format_value(vi, 'count')} (100 = {average})")
        numbers = {"gaps_since_last_order": ratio, "value_index": vi}
    else:
        objective = "grow"
        rule = ("first seen recently (new)" if lifecycle == "new" else
                f"buying on their usual rhythm and value index < {VALUE_INDEX_AVERAGE:.0f}")
        why = (f"they are new (first seen a median {format_value(s.stat('tenure_days', 'median'), 'days')} "
               "days ago)" if lifecycle == "new" else
               f"they still buy on their usual rhythm (last purchase {format_value(ratio, 'ratio')} usual gaps "
               f"ago) but with a value index of only {format_value(vi, 'count')} (100 = {average})")
        numbers = {"gaps_since_last_order": ratio, "value_index": vi}
        if lifecycle == "new":
            numbers = {"median_tenure_days": s.stat("tenure_days", "median")}
    return objective, rule, BriefSentence("objective", f"Suggested objective: {objective}, because {why}.",
                                          numbers)


def _move_up(s: _Seg, segs: Sequence[_Seg], specs: Mapping[str, FeatureSpec],
             scale: Mapping[str, float]) -> tuple[int | None, BriefSentence | None]:
    if s.value_mean is None:
        return None, None
    higher = [t for t in segs if t.value_mean is not None and float(t.value_mean) > float(s.value_mean)]
    if not higher:
        return None, BriefSentence(
            "move_up", f"Already the segment with the highest net spend per customer "
                       f"({format_value(s.value_mean, 'amount')}): keep it there.",
            {"value_mean": s.value_mean})
    up = min(higher, key=lambda t: (float(t.value_mean), t.id))
    diffs = []
    for name in s.features:
        sd = scale.get(name)
        a, b = s.stat(name), up.stat(name)
        if name in _NOT_LEVERS or a is None or b is None or not sd or sd <= 0:
            continue
        diffs.append((abs(b - a) / sd, name, a, b, sd))
    diffs.sort(key=lambda d: (-d[0], d[1]))
    levers = []
    numbers: dict[str, Any] = {"value_mean": s.value_mean, "target_value_mean": up.value_mean,
                               "target_id": up.id}
    for _, name, a, b, sd in diffs[:N_LEVERS]:
        spec = spec_for(name, specs)
        if spec.kind == "share":
            levers.append(f"{spec.label} {format_value(b, 'share')} vs {format_value(a, 'share')}")
        else:
            delta = b - a
            shown = (format_value(delta, "trend") if spec.kind == "trend"
                     else ("+" if delta >= 0 else "−") + _fmt(abs(delta), spec))
            levers.append(f"{shown} {spec.label} ({_fmt(b, spec)} vs {_fmt(a, spec)})")
        numbers[name] = a
        numbers[f"{name}_target"] = b
        numbers[f"{name}_sd"] = sd
    text = (f"Next step up: \u2018{up.name}\u2019 ({format_value(up.value_mean, 'amount')} net spend per customer "
            f"vs {format_value(s.value_mean, 'amount')}); they differ most in " + "; ".join(levers) + ".")
    return up.id, BriefSentence("move_up", text, numbers)


def _group_who(s: _Seg, group: str, recency: float | None, gap: float | None) -> BriefSentence:
    """The who of a lifecycle group: its rule and the rule's own numbers."""
    text = (f"{s.size:,} customers ({format_value(s.share, 'share')} of all) bringing "
            f"{format_value(s.value_share, 'share')} of net revenue "
            f"(value index {format_value(s.value_index, 'count')})"
            f"; lifecycle group, by rule: {_GROUP_WORDS[group]}")
    numbers: dict[str, Any] = {"size": s.size, "share": s.share, "value_share": s.value_share,
                               "value_index": s.value_index}
    tenure = s.stat("tenure_days", "median")
    if group in ("new", "browsers") and tenure is not None:
        text += f", first seen a median {format_value(tenure, 'days')} days ago"
        numbers["median_tenure_days"] = tenure
    elif group == "one-time" and recency is not None:
        text += f", their only purchase a median {format_value(recency, 'days')} days ago"
        numbers["median_recency_days"] = recency
    elif group == "lapsed" and recency is not None:
        text += f", last purchase a median {format_value(recency, 'days')} days ago"
        numbers["median_recency_days"] = recency
        if gap:
            text += (f", {format_value(recency / gap, 'ratio')}× their usual {format_value(gap, 'days')} days "
                     "between orders")
            numbers.update({"usual_gap_days": gap, "gaps_since_last_order": recency / gap})
    return BriefSentence("who", text + ".", numbers)


def _group_risk(s: _Seg, group: str, recency: float | None, gap: float | None) -> BriefSentence | None:
    """The risk of a lifecycle group: when they last bought (never, for browsers)."""
    if group == "browsers" or recency is None:
        return None
    if group == "lapsed":
        return _risk(s, recency, gap, "lapsed")
    text = (f"Their only purchase was a median {format_value(recency, 'days')} days ago" if group == "one-time"
            else f"Last purchase a median {format_value(recency, 'days')} days ago")
    return BriefSentence("risk", text + ".", {"median_recency_days": recency})


def _group_objective(s: _Seg, group: str, recency: float | None, gap: float | None) -> tuple[str, str, BriefSentence]:
    """The objective a lifecycle group's rule calls for, with the numbers behind it."""
    vi = s.value_index
    tenure = s.stat("tenure_days", "median")
    rule = f"lifecycle group {_GROUP_WORDS[group]}"
    if group == "one-time":
        objective = "second purchase"
        why = f"they bought once, a median {format_value(recency, 'days')} days ago, and never again"
        numbers: dict[str, Any] = {"median_recency_days": recency}
    elif group == "new":
        objective, rule = "onboard", f"{rule} (first seen at most {NEW_TENURE_DAYS:g} days ago)"
        why = (f"they are new (first seen a median {format_value(tenure, 'days')} days ago): "
               "turn a first order into a habit")
        numbers = {"median_tenure_days": tenure}
    elif group == "browsers":
        objective = "convert browsers"
        why = f"they were first seen a median {format_value(tenure, 'days')} days ago and have never ordered"
        numbers = {"median_tenure_days": tenure}
    else:
        worth = vi is not None and vi >= VALUE_INDEX_AVERAGE
        objective = "win back" if worth else "reactivate"
        rule += f" and value index {'≥' if worth else '<'} {VALUE_INDEX_AVERAGE:.0f}"
        why = f"they stopped buying (last purchase a median {format_value(recency, 'days')} days ago"
        numbers = {"median_recency_days": recency, "value_index": vi}
        if recency is not None and gap:
            why += f", {format_value(recency / gap, 'ratio')}× their usual gap"
            numbers["gaps_since_last_order"] = recency / gap
        why += f") and their value index is {format_value(vi, 'count')}"
    return objective, rule, BriefSentence("objective", f"Suggested objective: {objective}, because {why}.", numbers)


def build_briefs(
    segments: Sequence[Mapping[str, Any]],
    specs: Mapping[str, FeatureSpec],
    feature_scale: Mapping[str, float],
    groups: Mapping[int, str] | None = None,
    active_scale: Mapping[str, float] | None = None,
) -> dict[int, Brief]:
    """Write a brief for every segment (noise has none).

    Parameters
    ----------
    segments : sequence of mapping
        Segment entries of the summary: ``id``, ``name``, ``size``, ``share``, ``value_share``,
        ``value_index``, ``value_mean``, ``is_noise`` and ``profile.features`` (mean, median,
        overall mean and index per feature).
    specs : mapping of str to FeatureSpec
        Feature kinds and labels.
    feature_scale : mapping of str to float
        Overall standard deviation of each feature (over all customers), to rank move-up
        differences.
    groups : mapping of int to str, optional
        The lifecycle groups of a layered run, segment id → group: their lifecycle is the
        group and their brief states its rule (module docstring); they are never the next
        segment up. With it, the other (behavioural) segments' profiles are taken to be
        within the active base, and their "vs" figures say so.
    active_scale : mapping of str to float, optional
        With ``groups``: each feature's standard deviation within the active base, to rank
        the behavioural segments' move-up differences (the groups' use ``feature_scale``);
        their spread numbers are labelled as over the active base.

    Returns
    -------
    dict of int to Brief
        By segment id.
    """
    segs = [_Seg(x) for x in segments if not x.get("is_noise") and int(x["id"]) >= 0]
    # a step up leads to a behavioural segment: nobody is meant to move into a lifecycle group
    targets = [t for t in segs if t.id not in (groups or {})]
    out: dict[int, Brief] = {}
    for s in segs:
        recency = s.stat("recency_days", "median")
        group = (groups or {}).get(s.id)
        # a layered run's behavioural segments were profiled within the active base: compared
        # with it, and their move-up differences ranked by its spread
        within = groups is not None and group is None
        among = ACTIVE_BASE_WORDS if within else "overall"
        over = ACTIVE_BASE_WORDS if within and active_scale is not None else ALL_CUSTOMERS_WORDS
        up_id, up_sentence = _move_up(s, targets, specs, active_scale if over == ACTIVE_BASE_WORDS else feature_scale)
        if group is None:
            gap = usual_gap(s)
            life = lifecycle_state(recency, gap, s.stat("tenure_days", "median"))
            objective, rule, obj_sentence = _objective(s, life, recency, gap, "the average customer" if groups is None
                                                       else "the average active customer")
            who, risk = _who(s, life, gap, recency), _risk(s, recency, gap, life)
        else:
            # the group's own median gap (none for one-time buyers: no everyone's fallback)
            gap = s.stat("gap_mean_days", "median") if group == "lapsed" else None
            life = group
            objective, rule, obj_sentence = _group_objective(s, group, recency, gap)
            who, risk = _group_who(s, group, recency, gap), _group_risk(s, group, recency, gap)
        sentences = [who, _what(s, specs, among), _where(s, among), _when(s, gap, among), _price(s, among), risk,
                     obj_sentence, up_sentence]
        out[s.id] = Brief(s.id, life, objective, rule, up_id,
                          tuple(_with_units(x, specs, over) for x in sentences if x is not None))
    return out


# ---------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------


def parse_brief_overrides(table: Any, source: str = "<string>") -> dict[int, dict[str, str]]:
    """Check the ``[briefs]`` table of ``segment_names.toml``.

    Parameters
    ----------
    table : Any
        The parsed ``briefs`` value: segment id → {topic → text}.
    source : str
        Shown in error messages (the file name).

    Raises
    ------
    ValueError
        A key that is not a segment id, an unknown topic, or a text that is not a non-empty
        string of at most 600 characters; the message names the source and the key.
    """
    if not isinstance(table, dict):
        raise ValueError(f"{source}: 'briefs' must be a table ([briefs.0]), got {type(table).__name__}")
    out: dict[int, dict[str, str]] = {}
    for key, topics in table.items():
        if not re.fullmatch(r"\s*\d+\s*", key):
            raise ValueError(f"{source}: [briefs] key {key!r} is not a segment id (an integer such as 0)")
        if not isinstance(topics, dict):
            raise ValueError(f"{source}: [briefs.{key}] must be a table of topic = \"text\"")
        texts: dict[str, str] = {}
        for topic, text in topics.items():
            if topic not in TOPICS:
                raise ValueError(f"{source}: [briefs.{key}] unknown topic {topic!r}; topics are {', '.join(TOPICS)}")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{source}: [briefs.{key}] {topic} must be a non-empty string")
            if len(text) > _MAX_TEXT:
                raise ValueError(f"{source}: [briefs.{key}] {topic} is longer than {_MAX_TEXT} characters")
            texts[topic] = " ".join(text.split())
        out[int(key)] = texts
    return dict(sorted(out.items()))


def load_brief_overrides(path: str | Path) -> dict[int, dict[str, str]]:
    """Read the ``[briefs]`` table of a ``segment_names.toml`` file (empty when absent)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"segment name overrides file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not valid TOML: {exc}") from None
    return parse_brief_overrides(data["briefs"], str(p)) if "briefs" in data else {}


def apply_brief_overrides(briefs: Mapping[int, Brief], overrides: Mapping[int, Mapping[str, str]]) -> dict[int, Brief]:
    """Replace generated sentences by the user's; the cited numbers stay beside them.

    A topic the generated brief lacks is added with no numbers; overrides for segments not
    in ``briefs`` are ignored (as name overrides are).
    """
    out = dict(briefs)
    for sid, texts in overrides.items():
        brief = out.get(int(sid))
        if brief is None:
            continue
        by_topic = {s.topic: s for s in brief.sentences}
        for topic, text in texts.items():
            old = by_topic.get(topic)
            by_topic[topic] = (BriefSentence(topic, text, dict(old.numbers), True, dict(old.labels), dict(old.units))
                               if old else BriefSentence(topic, text, {}, True))
        sentences = tuple(by_topic[t] for t in TOPICS if t in by_topic)
        out[int(sid)] = Brief(brief.segment_id, brief.lifecycle, brief.objective, brief.objective_rule,
                              brief.move_up_to, sentences)
    return out
