"""Value per segment against the marketing attention it receives: who is under-served.

For every non-noise segment this module computes a **value index** (net revenue per
customer relative to the average customer, x100) and, when an attention measure is given
(marketing touches, contacts or spend per customer), an **attention index** on the same
scale. A segment is

* **under-served** when its value index is at least ``high`` (default 130: it brings at
  least 30 % more than the average customer) *and* its attention index is at most ``low``
  (default 80: it gets at least 20 % less attention than the average customer);
* **over-served** in the reverse case: attention index >= ``high`` and value index <= ``low``;
* **balanced** otherwise, and always when there is no attention measure.

Why two absolute thresholds rather than a ratio rule (attention / value <= 0.5)? A ratio
flags a very valuable segment that already gets above-average attention (value 400,
attention 150) and, in CRM data where every customer gets the same e-mail blast, it
flags every valuable segment; neither is what a strategist means by "gets almost no
marketing". The absolute rule demands both halves of the claim: *high* value and *low*
attention. Low-value, low-attention segments are never flagged (their value index is
below ``high``). The asymmetric defaults (130 / 80) are roughly symmetric on a log scale
(1.3 ~ 1 / 0.77), so "30 % above" and "20 % below" are comparable deviations. Segments
smaller than ``min_size`` are never flagged: per-customer means of heavy-tailed revenue
over a handful of customers are dominated by single orders.

The average customer is taken over *all* customers, noise (label ``-1``) included,
because the indices compare a segment with the client's customer base. Missing values
of ``value`` or ``attention`` count as 0 (no recorded revenue / no recorded touch).

The lifecycle groups of a layered run (new, one-time, lapsed, ...; see
:mod:`segmentkit.lifecycle`) get their indices but are never flagged: revenue and
marketing touches accumulate over a customer's history, and a group's rule fixes that
history (a quarter at most for new customers, one order for one-time buyers), so its
value against its attention says what the rule is, not that a group was overlooked.
Their brief says what to do with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np
import pandas as pd

from segmentkit.contract import Typed
from segmentkit.wording import percent

__all__ = ["Opportunities", "Opportunity", "SegmentOpportunity", "find_opportunities"]

NOISE = -1


def _times(index: float) -> str:
    """``250.0`` -> ``"2.5×"``."""
    return f"{index / 100.0:.1f}×"


class Opportunity(Typed):
    """A segment's value against the marketing attention it gets.

    ``share`` is the segment's share of all customers (noise included);
    ``value_per_customer`` its mean net revenue; ``value_index`` ``100 *
    value_per_customer / average value`` (``None`` when the average value is not positive:
    an index against a non-positive base is meaningless); ``value_share`` its share of total
    net revenue (``None`` when the total is not positive). ``attention_*`` are the same for
    the attention measure and ``clv_*`` for an optional customer-lifetime-value estimate
    (reported, not used for the flags); ``None`` without one. ``gap`` is ``value_index -
    attention_index`` in index points (positive: less attention than its value).
    ``attention_to_parity`` is the total attention (in the attention column's units) the
    segment would need to gain (positive) or could give up (negative) to receive attention
    in proportion to its value. ``reason`` explains ``kind`` in one plain sentence.
    """

    segment: int
    name: str
    size: int
    share: float | None
    value_per_customer: float | None
    value_index: float | None
    value_share: float | None
    attention_per_customer: float | None
    attention_index: float | None
    attention_share: float | None
    clv_per_customer: float | None
    clv_index: float | None
    kind: Literal["under-served", "over-served", "balanced"]
    gap: float | None
    attention_to_parity: float | None
    reason: str

    def phrase(self) -> str:
        """A short clause for other narratives, e.g. ``"it holds 31 % of revenue ..."``.

        Empty when there is no value index.
        """
        if self.value_index is None:
            return ""
        if self.value_share is not None:
            text = (
                f"it holds {percent(self.value_share)} of revenue with {percent(self.share)} of "
                f"customers (value index {self.value_index:.0f})"
            )
        else:
            text = f"its value index is {self.value_index:.0f}"
        if self.attention_index is not None:
            joiner = " yet" if self.kind == "under-served" else " and"
            text += f"{joiner} gets {_times(self.attention_index)} the average marketing attention"
        return text


#: The library's earlier name of :class:`Opportunity`.
SegmentOpportunity = Opportunity


@dataclass(frozen=True)
class Opportunities:
    """Value and attention for every non-noise segment, ordered by segment id.

    Attributes
    ----------
    segments : tuple of SegmentOpportunity
        One entry per non-noise segment, ordered by id.
    has_attention : bool
        Whether an attention measure was given.
    average_value : float
        Mean net revenue per customer over all customers.
    average_attention : float or None
        Mean attention per customer over all customers.
    high, low : float
        Thresholds used for the flags.
    narrative : str
        Plain-language sentences about the flagged segments.
    """

    segments: tuple[SegmentOpportunity, ...]
    has_attention: bool
    average_value: float
    average_attention: float | None
    high: float
    low: float
    narrative: str

    @property
    def under_served(self) -> tuple[SegmentOpportunity, ...]:
        """Segments flagged under-served, ordered by id."""
        return tuple(s for s in self.segments if s.kind == "under-served")

    @property
    def over_served(self) -> tuple[SegmentOpportunity, ...]:
        """Segments flagged over-served, ordered by id."""
        return tuple(s for s in self.segments if s.kind == "over-served")

    @property
    def flagged(self) -> tuple[SegmentOpportunity, ...]:
        """Under- and over-served segments, ordered by id."""
        return tuple(s for s in self.segments if s.kind != "balanced")

    def get(self, segment: int) -> SegmentOpportunity | None:
        """The entry of one segment, or ``None``."""
        for s in self.segments:
            if s.segment == segment:
                return s
        return None

    def to_dict(self) -> list[dict[str, Any]]:
        """The ``opportunities`` list of ``summary.json``: one dict per segment, by id."""
        return [s.to_dict() for s in self.segments]


def _numeric(values: Any, n: int, what: str) -> np.ndarray:
    arr = pd.Series(values).to_numpy() if not isinstance(values, pd.Series) else values.to_numpy()
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{what} has {arr.shape[0] if arr.ndim == 1 else arr.shape} rows, labels have {n}")
    out = pd.to_numeric(pd.Series(arr), errors="raise").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(out), out, 0.0)


def _reason(name: str, kind: str, v_idx: float | None, a_idx: float | None, size: int,
            min_size: int, high: float, low: float, group: str | None = None) -> str:
    q = f"'{name}'"
    if v_idx is None:
        return f"{q}: the average net revenue is not positive, so no value index can be computed."
    value_part = f"brings {_times(v_idx)} the average net revenue per customer (value index {v_idx:.0f})"
    if group is not None:
        att = "" if a_idx is None else (f" and receives {_times(a_idx)} the average marketing attention "
                                        f"(attention index {a_idx:.0f})")
        return (f"{q} {value_part}{att}; it is a lifecycle group, set by rule, whose value and "
                "attention follow from the length of its customers' history, so it is not flagged.")
    if a_idx is None:
        return f"{q} {value_part}; no attention measure was given to compare it with."
    att_part = f"{_times(a_idx)} the average marketing attention (attention index {a_idx:.0f})"
    if kind == "under-served":
        return f"{q} {value_part} but receives only {att_part}: a gap of {v_idx - a_idx:.0f} index points."
    if kind == "over-served":
        return (
            f"{q} receives {att_part} but brings only {_times(v_idx)} the average net revenue "
            f"per customer (value index {v_idx:.0f}): a gap of {a_idx - v_idx:.0f} index points."
        )
    flagged = (v_idx >= high and a_idx <= low) or (a_idx >= high and v_idx <= low)
    if flagged and size < min_size:
        return (
            f"{q} {value_part} and receives {att_part}, but with {size} customers it is too small "
            f"(< {min_size}) to flag."
        )
    if v_idx < 100 and a_idx < 100:
        return f"{q} {value_part} and receives {att_part}: low value with low attention is consistent."
    return f"{q} {value_part} and receives {att_part}: attention is broadly in line with value."


def _int_labels(labels: np.ndarray) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError("labels must be one-dimensional")
    if not (lab.dtype.kind in "iu" or (lab.dtype.kind == "f" and np.all(np.isfinite(lab))
                                        and np.all(np.mod(lab, 1) == 0))):
        raise ValueError("labels must be integers (-1 for noise), without missing values")
    if lab.shape[0] == 0:
        raise ValueError("no customers")
    return lab.astype(np.int64)


@dataclass(frozen=True)
class _Measure:
    """One measure (value, attention or CLV) per segment: its mean, the average over all
    customers, the index against it and the share of the total (``None`` where the average
    or the total is not positive: an index against a non-positive base is meaningless)."""

    mean: np.ndarray
    average: float
    index: np.ndarray | None
    share: np.ndarray | None

    @classmethod
    def of(cls, x: np.ndarray, inverse: np.ndarray, sizes: np.ndarray) -> _Measure:
        mean = np.bincount(inverse, weights=x, minlength=sizes.size) / sizes
        average, total = float(x.mean()), float(x.sum())
        return cls(mean=mean, average=average,
                   index=100.0 * mean / average if average > 0 else None,
                   share=mean * sizes / total if total > 0 else None)

    def index_of(self, j: int) -> float | None:
        return None if self.index is None else float(self.index[j])

    def share_of(self, j: int) -> float | None:
        return None if self.share is None else float(self.share[j])


def _kind(vi: float | None, ai: float | None, big_enough: bool, high: float, low: float) -> str:
    """``under-served`` (value high, attention low), ``over-served`` (the reverse) or
    ``balanced`` (also without both indices, or for a segment too small to flag)."""
    if vi is None or ai is None or not big_enough:
        return "balanced"
    if vi >= high and ai <= low:
        return "under-served"
    if ai >= high and vi <= low:
        return "over-served"
    return "balanced"


def _entry(j: int, sid: int, size: int, n: int, names: Mapping[int, str], v: _Measure, a: _Measure | None,
           c: _Measure | None, *, min_size: int, high: float, low: float, group: str | None) -> SegmentOpportunity:
    """The entry of segment ``sid``: position ``j`` of the value (``v``), attention (``a``)
    and CLV (``c``) measures, ``size`` of ``n`` customers; ``group``: the lifecycle group it
    is (never flagged), ``None`` for a behavioural segment."""
    name = str(names.get(sid, f"Segment {sid}"))
    vi, ai = v.index_of(j), (None if a is None else a.index_of(j))
    kind = _kind(vi, ai, size >= min_size and group is None, high, low)
    return SegmentOpportunity(
        segment=sid,
        name=name,
        size=size,
        share=size / n,
        value_per_customer=float(v.mean[j]),
        value_index=vi,
        value_share=v.share_of(j),
        attention_per_customer=None if a is None else float(a.mean[j]),
        attention_index=ai,
        attention_share=None if a is None else a.share_of(j),
        clv_per_customer=None if c is None else float(c.mean[j]),
        clv_index=None if c is None else c.index_of(j),
        kind=kind,
        gap=None if (vi is None or ai is None) else vi - ai,
        attention_to_parity=None if (vi is None or a is None) else size * (vi / 100.0 * a.average - float(a.mean[j])),
        reason=_reason(name, kind, vi, ai, size, min_size, high, low, group),
    )


def find_opportunities(
    labels: np.ndarray,
    value: pd.Series,
    attention: pd.Series | None = None,
    *,
    segment_names: Mapping[int, str] | None = None,
    high: float = 130.0,
    low: float = 80.0,
    min_size: int = 30,
    clv: pd.Series | None = None,
    lifecycle: Mapping[int, str] | None = None,
) -> Opportunities:
    """Value and attention indices per segment, with under- and over-served flags.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Segment per customer, ``-1`` for noise (left out of the entries but counted in the
        averages).
    value : pandas.Series
        Net revenue per customer, aligned by position with ``labels``.
    attention : pandas.Series, optional
        Marketing touches, contacts or spend per customer, aligned by position. Without it
        every attention field is ``None`` and every segment is ``"balanced"``.
    segment_names : mapping of int to str, optional
        Display names; ``"Segment <id>"`` otherwise.
    high : float, default 130
        Index at or above which value (attention) counts as high.
    low : float, default 80
        Index at or below which attention (value) counts as low.
    min_size : int, default 30
        Segments smaller than this are never flagged.
    clv : pandas.Series, optional
        A customer-lifetime-value estimate per customer; reported as ``clv_index``.
    lifecycle : mapping of int to str, optional
        The lifecycle groups of a layered run, segment id → group: never flagged (module
        docstring), and left out of the narrative's "brings the most".

    Returns
    -------
    Opportunities

    Notes
    -----
    Under-served: ``value_index >= high and attention_index <= low``; over-served:
    ``attention_index >= high and value_index <= low`` (see the module docstring for why).
    Inputs are not modified.
    """
    if not low <= 100.0 <= high:
        raise ValueError(f"need low <= 100 <= high, got low={low}, high={high}")
    lab = _int_labels(labels)
    n = lab.shape[0]
    names = dict(segment_names or {})
    val = _numeric(value, n, "value")
    att = None if attention is None else _numeric(attention, n, "attention")
    clv_v = None if clv is None else _numeric(clv, n, "clv")
    ids, inverse = np.unique(lab, return_inverse=True)
    sizes = np.bincount(inverse, minlength=ids.size)
    v = _Measure.of(val, inverse, sizes)
    a = None if att is None else _Measure.of(att, inverse, sizes)
    c = None if clv_v is None else _Measure.of(clv_v, inverse, sizes)

    groups = {int(sid): str(g) for sid, g in (lifecycle or {}).items()}
    entries = [_entry(j, int(ids[j]), int(sizes[j]), n, names, v, a, c, min_size=min_size, high=high, low=low,
                      group=groups.get(int(ids[j])))
               for j in np.flatnonzero(ids != NOISE)]
    return Opportunities(
        segments=tuple(entries),
        has_attention=att is not None,
        average_value=v.average,
        average_attention=None if a is None else a.average,
        high=float(high),
        low=float(low),
        narrative=_narrative([e for e in entries if e.segment not in groups] or entries, att is not None,
                             v.average),
    )


def _narrative(entries: list[SegmentOpportunity], has_attention: bool, v_avg: float) -> str:
    if not entries:
        return "There are no segments to compare."
    if v_avg <= 0:
        return "The average net revenue per customer is not positive, so segments cannot be ranked by value."
    if not has_attention:
        best = max(entries, key=lambda s: (s.value_index or 0.0, -s.segment))
        return (
            f"Without an attention measure only value can be compared: '{best.name}' brings the most, "
            f"{_times(best.value_index or 0.0)} the average net revenue per customer."
        )
    sentences = []
    for s in entries:
        if s.kind == "under-served":
            share = f"it holds {percent(s.value_share)} of revenue" if s.value_share is not None else "it is valuable"
            sentences.append(
                f"'{s.name}' is under-served: {share} (value index {s.value_index:.0f}) yet gets "
                f"{_times(s.attention_index or 0.0)} the average marketing attention."
            )
        elif s.kind == "over-served":
            sentences.append(
                f"'{s.name}' is over-served: it gets {_times(s.attention_index or 0.0)} the average marketing "
                f"attention but brings {_times(s.value_index or 0.0)} the average net revenue per customer."
            )
    if not sentences:
        return "No segment is clearly under- or over-served: marketing attention is broadly in line with value."
    return " ".join(sentences)
