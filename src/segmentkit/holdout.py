"""Control groups per segment: how many to hold out, who, and the lift read back after.

Planning (:func:`plan_holdout`). For each segment, the base rates come from the history the
segmentation saw: the **repeat-purchase rate** (share of the segment with two orders or
more) and the **spend per customer** (mean and standard deviation of net spend). The
campaign should lift either by ``min_lift`` (relative, 10 % by default). With ``N`` customers
of whom a share ``h`` is held out, a two-sided test at significance ``alpha`` has power
``1 - beta`` when

    var_h / (h N) + var_t / ((1 - h) N) <= delta**2 / (z_{1-alpha/2} + z_{1-beta})**2

(the textbook sample-size formula, ``n = (z_{1-a/2} + z_{1-b})**2 (p1 q1 + p2 q2) / (p1 - p2)**2``
per group for proportions and ``n = 2 (z_{1-a/2} + z_{1-b})**2 sigma**2 / delta**2`` for means,
written for unequal groups). The smallest such ``h`` up to :data:`MAX_HOLDOUT_SHARE` is the
plan; a segment that would need more is **too small to test** and is not held out.

Assignment (:func:`holdout_groups`). A customer is held out when a uniform number drawn from
the MD5 of ``"{seed}:{customer_id}"`` is below the segment's share: deterministic, the same
for the same id and seed in every refresh (so customers who stay in their segment keep their
group), and independent of row order.

Readout (:func:`read_out`). After the campaign, per segment, target against holdout: spend per
customer (Welch confidence interval) and the share buying again (Wald interval), each as a
difference and as a relative lift (delta-method interval).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from segmentkit.contract import Typed
from segmentkit.errors import InputError
from segmentkit.export import json_safe, read_assignments
from segmentkit.sqltext import exact_sum

__all__ = [
    "ALPHA",
    "BASE_WINDOW_DAYS",
    "MAX_HOLDOUT_SHARE",
    "POWER",
    "HoldoutMetric",
    "HoldoutPlan",
    "HoldoutSegment",
    "MetricPlan",
    "SegmentPlan",
    "compare_groups",
    "holdout_groups",
    "plan_holdout",
    "read_out",
    "readout_run",
    "required_n_two_means",
    "required_n_two_proportions",
    "smallest_holdout_share",
    "uniform_from_ids",
    "window_outcomes",
]

#: Two-sided significance and power of the planned test (the usual 5 % and 80 %).
ALPHA = 0.05
POWER = 0.80
#: Holding out more than half would withhold the campaign from most of the segment.
MAX_HOLDOUT_SHARE = 0.5
#: The base rates are measured over this many days before the snapshot: a quarter, the usual
#: window in which a campaign's effect is read.
BASE_WINDOW_DAYS = 91
#: Confidence level of the readout's intervals (matches ALPHA).
CONFIDENCE = 0.95
_HASH_DIGITS = 13  # 52 bits of the MD5: exact in a float64
#: How a customer's group is decided (written into the plan, so the summary says it).
ASSIGNMENT_RULE = ("holdout when the MD5 of '{seed}:{customer_id}' (first 52 bits, as a fraction) "
                   "is below the segment's holdout share")


def _z_sum(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def required_n_two_proportions(p1: float, p2: float, *, alpha: float = ALPHA, power: float = POWER) -> int:
    """Customers per group (equal groups) to tell rate ``p1`` from ``p2``.

    ``n = (z_{1-alpha/2} + z_{1-beta})**2 * (p1 (1 - p1) + p2 (1 - p2)) / (p1 - p2)**2``,
    rounded up.
    """
    if p1 == p2:
        raise ValueError("p1 and p2 must differ")
    return math.ceil(_z_sum(alpha, power) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2)


def required_n_two_means(sd: float, delta: float, *, alpha: float = ALPHA, power: float = POWER) -> int:
    """Customers per group (equal groups, common ``sd``) to detect a mean difference ``delta``.

    ``n = 2 (z_{1-alpha/2} + z_{1-beta})**2 * sd**2 / delta**2``, rounded up.
    """
    if delta == 0:
        raise ValueError("delta must not be 0")
    return math.ceil(2 * _z_sum(alpha, power) ** 2 * sd**2 / delta**2)


def smallest_holdout_share(n: int, var_holdout: float, var_target: float, delta: float, *,
                           alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest share ``h`` of ``n`` customers to hold out for the test to have ``power``.

    Solves ``var_h / (h n) + var_t / ((1 - h) n) = delta**2 / z**2`` (``z = z_{1-alpha/2} +
    z_{1-beta}``), i.e. ``c h**2 + (var_t - var_h - c) h + var_h = 0`` with
    ``c = n delta**2 / z**2``, for its smaller root.

    Returns
    -------
    float or None
        ``None`` when no share up to :data:`MAX_HOLDOUT_SHARE` is enough.
    """
    if n <= 1 or delta == 0 or var_holdout <= 0 or var_target < 0:
        return None
    c = n * delta**2 / _z_sum(alpha, power) ** 2
    b = var_target - var_holdout - c
    disc = b * b - 4 * c * var_holdout
    if disc < 0:
        return None
    h = (-b - math.sqrt(disc)) / (2 * c)
    return h if 0 < h <= MAX_HOLDOUT_SHARE else None


# ---------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------


class HoldoutMetric(Typed):
    """What one metric needs for a segment's control group.

    ``metric`` is ``"repeat_rate"`` (share of customers buying again) or ``"spend"`` (per
    customer); ``base`` the segment's historical value (a share, or mean net spend),
    ``expected`` the value after the minimal lift, ``spread`` the standard deviation per
    customer at the base (``sqrt(p (1 - p))`` for a share). ``holdout_share`` is the smallest
    share to hold out (``None``: not detectable with at most half held out, ``reason`` says
    why); ``detectable_lift_at_max_share`` the smallest relative lift detectable with
    :data:`MAX_HOLDOUT_SHARE` held out, to help choose ``min_lift``.
    """

    metric: Literal["repeat_rate", "spend"]
    base: float | None
    expected: float | None
    spread: float | None
    holdout_share: float | None
    detectable_lift_at_max_share: float | None = None
    reason: str = ""


class HoldoutSegment(Typed):
    """The control group planned for one segment (``holdout_share`` 0 when too small to
    test; ``reason`` in one plain sentence)."""

    segment_id: int
    size: int
    holdout_share: float
    expected_holdout: int
    testable: bool
    metrics: list[HoldoutMetric]
    reason: str


class HoldoutPlan(Typed):
    """Control groups per segment (``--holdout``; ``summary.json`` → ``holdout``)."""

    min_lift: float
    alpha: float
    power: float
    seed: int
    assignment: str = ASSIGNMENT_RULE
    segments: list[HoldoutSegment]

    def share_of(self, segment_id: int) -> float:
        """Share to hold out of a segment (0 for unknown segments and noise)."""
        return next((s.holdout_share for s in self.segments if s.segment_id == segment_id), 0.0)


#: The library's earlier names of :class:`HoldoutMetric` and :class:`HoldoutSegment`.
MetricPlan, SegmentPlan = HoldoutMetric, HoldoutSegment


def _detectable_lift(n: int, base: float, sd: float, alpha: float, power: float) -> float | None:
    h = MAX_HOLDOUT_SHARE
    if n < 2 or base <= 0 or sd <= 0:
        return None
    return _z_sum(alpha, power) * sd * math.sqrt(1 / (h * n) + 1 / ((1 - h) * n)) / base


def _about(mde: float | None) -> str:
    return "" if mde is None else f"; with half held out it detects about {mde:.0%}"


def _metric_plans(n: int, bought: np.ndarray, spend: np.ndarray | None, min_lift: float,
                  alpha: float, power: float) -> list[HoldoutMetric]:
    plans = []
    too_many = f"more than {MAX_HOLDOUT_SHARE:.0%} would have to be held out"
    p = float(np.mean(bought)) if len(bought) else 0.0
    p2 = p * (1 + min_lift)
    if p <= 0 or p2 >= 1:
        why = ("no customer of the segment bought in the base window" if p <= 0 else
               f"{p:.1%} already buy in the base window: no room for a {min_lift:.0%} lift")
        plans.append(HoldoutMetric(metric="repeat_rate", base=p, expected=min(p2, 1.0), spread=math.sqrt(p * (1 - p)),
                                   holdout_share=None, reason=why))
    else:
        h = smallest_holdout_share(n, p * (1 - p), p2 * (1 - p2), p2 - p, alpha=alpha, power=power)
        sd = math.sqrt(p * (1 - p))
        mde = _detectable_lift(n, p, sd, alpha, power)
        plans.append(HoldoutMetric(metric="repeat_rate", base=p, expected=p2, spread=sd, holdout_share=h,
                                   detectable_lift_at_max_share=mde,
                                   reason="" if h is not None else too_many + _about(mde)))
    if spend is not None:
        mean = float(np.mean(spend)) if len(spend) else 0.0
        sd = float(np.std(spend, ddof=1)) if len(spend) > 1 else 0.0
        if mean <= 0 or sd <= 0:
            plans.append(HoldoutMetric(metric="spend", base=mean, expected=mean * (1 + min_lift), spread=sd,
                                       holdout_share=None, reason="no positive, varied spend in the base window"))
        else:
            h = smallest_holdout_share(n, sd**2, sd**2, mean * min_lift, alpha=alpha, power=power)
            mde = _detectable_lift(n, mean, sd, alpha, power)
            plans.append(HoldoutMetric(metric="spend", base=mean, expected=mean * (1 + min_lift), spread=sd,
                                       holdout_share=h, detectable_lift_at_max_share=mde,
                                       reason="" if h is not None else too_many + _about(mde)))
    return plans


_METRIC_WORDS = {"repeat_rate": "share buying again", "spend": "spend per customer"}


def plan_holdout(labels: np.ndarray, bought: np.ndarray, spend: np.ndarray | None, *, min_lift: float = 0.10,
                 seed: int = 0, alpha: float = ALPHA, power: float = POWER) -> HoldoutPlan:
    """Plan a control group per segment from the history.

    Parameters
    ----------
    labels : numpy.ndarray
        Segment per customer (``-1`` noise: never held out).
    bought : numpy.ndarray of bool
        Per customer: bought in the base window (the last :data:`BASE_WINDOW_DAYS` of history).
    spend : numpy.ndarray or None
        Per customer: net spend in the base window (``None`` without amounts).
    min_lift : float
        Smallest relative lift worth detecting (0.10 = +10 %).
    seed : int
        Seed of the assignment hash.
    alpha, power : float
        Two-sided significance and power.

    Returns
    -------
    HoldoutPlan
        Per segment: the smallest share that detects ``min_lift`` in every metric that can
        be powered (share buying, spend per customer); ``0`` and a reason otherwise.
    """
    if not 0 < min_lift <= 10:
        raise InputError(f"min_lift must be in (0, 10], got {min_lift!r}")
    labels = np.asarray(labels, dtype=int)
    bought = np.asarray(bought, dtype=bool)
    out = []
    for sid in sorted(int(x) for x in np.unique(labels) if x >= 0):
        mask = labels == sid
        n = int(mask.sum())
        metrics = tuple(_metric_plans(n, bought[mask], np.asarray(spend, float)[mask] if spend is not None else None,
                                      min_lift, alpha, power))
        powered = [m for m in metrics if m.holdout_share is not None]
        if powered:
            share = max(float(m.holdout_share) for m in powered if m.holdout_share is not None)
            which = " and ".join(_METRIC_WORDS[m.metric] for m in powered)
            reason = (f"hold out {share:.1%} (about {round(share * n):,} of {n:,}) to detect a {min_lift:.0%} lift "
                      f"in {which} at {power:.0%} power, {alpha:.0%} significance")
            missed = [m for m in metrics if m.holdout_share is None]
            if missed:
                reason += "; not in " + ", ".join(f"{_METRIC_WORDS[m.metric]} ({m.reason})" for m in missed)
            out.append(HoldoutSegment(segment_id=sid, size=n, holdout_share=share, expected_holdout=round(share * n),
                                      testable=True, metrics=metrics, reason=reason))
        else:
            reason = (f"too small to test: {n:,} customers cannot show a {min_lift:.0%} lift at {power:.0%} power ("
                      + "; ".join(f"{_METRIC_WORDS[m.metric]}: {m.reason}" for m in metrics) + ")")
            out.append(HoldoutSegment(segment_id=sid, size=n, holdout_share=0.0, expected_holdout=0, testable=False,
                                      metrics=metrics, reason=reason))
    return HoldoutPlan(min_lift=float(min_lift), alpha=alpha, power=power, seed=int(seed), segments=out)


def window_outcomes(con: duckdb.DuckDBPyConnection, events_table: str, *, start: dt.date, end: dt.date,
                    has_amount: bool, has_type: bool) -> pd.DataFrame:
    """Per customer with events in ``[start, end)``: net spend and whether they bought.

    Net spend is purchases minus returns (as the ``monetary`` feature); without amounts it is
    the number of purchases. Customers without events in the window are not in the result
    (their spend is 0 and they did not buy).
    """
    is_purchase = "(event_type = 'purchase')" if has_type else "true"
    is_return = "(event_type = 'return')" if has_type else "false"
    if has_amount:
        is_purchase = f"({is_purchase} AND coalesce(amount, 0) >= 0)"
        is_return = f"({is_return} OR amount < 0)"
        net = (f"coalesce({exact_sum('coalesce(amount, 0)', is_purchase)}, 0) - "
               f"coalesce({exact_sum('abs(coalesce(amount, 0))', is_return)}, 0)")
    else:
        net = f"count(*) FILTER (WHERE {is_purchase})"
    window = (f"event_time >= TIMESTAMP '{start.isoformat()} 00:00:00' AND "
              f"event_time < TIMESTAMP '{end.isoformat()} 00:00:00'")
    return con.execute(f"""
        SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST({net} AS DOUBLE) AS spend,
               count(*) FILTER (WHERE {is_purchase}) > 0 AS bought
        FROM {events_table} WHERE customer_id IS NOT NULL AND {window}
        GROUP BY 1 ORDER BY 1
    """).df().set_index("customer_id")


def uniform_from_ids(ids: pd.Series | pd.Index, seed: int) -> np.ndarray:
    """A number in [0, 1) per customer id: the first 52 bits of MD5(``"{seed}:{id}"``).

    Computed in DuckDB (vectorised); the same id and seed give the same number everywhere.
    """
    frame = pd.DataFrame({"customer_id": pd.Series(ids, dtype="string").astype(object).to_numpy()})
    con = duckdb.connect()
    try:
        con.register("ids", frame)
        got = con.execute(
            f"SELECT ('0x' || substr(md5(? || ':' || customer_id), 1, {_HASH_DIGITS}))::BIGINT FROM ids",
            [str(int(seed))],
        ).fetchnumpy()
    finally:
        con.close()
    return next(iter(got.values())).astype(float) / float(16**_HASH_DIGITS)


def holdout_groups(assignments: pd.DataFrame, plan: HoldoutPlan) -> pd.Series:
    """``"target"`` / ``"holdout"`` per row of ``assignments``; ``""`` outside segments.

    Segments too small to test are all ``"target"``.
    """
    seg = assignments["segment_id"].to_numpy(dtype=int)
    segmented = (assignments["status"] == "segmented").to_numpy() & (seg >= 0)
    share = pd.Series(seg).map({s.segment_id: s.holdout_share for s in plan.segments}).fillna(0.0).to_numpy()
    u = uniform_from_ids(assignments["customer_id"], plan.seed)
    group = np.where(segmented, np.where(u < share, "holdout", "target"), "")
    return pd.Series(group, index=assignments.index, name="group")


# ---------------------------------------------------------------------------------------
# Readout
# ---------------------------------------------------------------------------------------


def _relative_lift(mt: float, mh: float, vt: float, vh: float, z: float) -> dict[str, Any]:
    """``mt / mh - 1`` and its delta-method interval (``vt``, ``vh``: variances of the means)."""
    if mh <= 0:
        return {"lift": None, "lift_ci": [None, None]}
    lift = mt / mh - 1
    se = math.sqrt(vt / mh**2 + mt**2 * vh / mh**4)
    return {"lift": lift, "lift_ci": [lift - z * se, lift + z * se]}


def _mean_comparison(t: np.ndarray, h: np.ndarray, z: float) -> dict[str, Any]:
    """Difference and relative lift of means, Welch and delta-method intervals."""
    nt, nh = len(t), len(h)
    mt, mh = float(t.mean()), float(h.mean())
    vt = float(t.var(ddof=1)) / nt if nt > 1 else math.nan
    vh = float(h.var(ddof=1)) / nh if nh > 1 else math.nan
    se = math.sqrt(vt + vh)
    if se > 0 and nt > 1 and nh > 1:
        df = (vt + vh) ** 2 / ((vt**2 / (nt - 1) if vt else 0) + (vh**2 / (nh - 1) if vh else 0))
        crit = float(stats.t.ppf((1 + CONFIDENCE) / 2, df))
        p_value = float(2 * stats.t.sf(abs(mt - mh) / se, df))
    else:
        crit, p_value = z, math.nan
    diff = mt - mh
    out = {"target": mt, "holdout": mh, "difference": diff,
           "difference_ci": [diff - crit * se, diff + crit * se], "p_value": p_value}
    return {**out, **_relative_lift(mt, mh, vt, vh, z)}


def _share_comparison(t: np.ndarray, h: np.ndarray, z: float) -> dict[str, Any]:
    """Difference (Wald interval) and relative lift (delta method) of two shares."""
    nt, nh = len(t), len(h)
    pt, ph = float(t.mean()), float(h.mean())
    vt, vh = pt * (1 - pt) / nt, ph * (1 - ph) / nh
    se = math.sqrt(vt + vh)
    diff = pt - ph
    pooled = (t.sum() + h.sum()) / (nt + nh)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nh))
    out = {"target": pt, "holdout": ph, "difference": diff, "difference_ci": [diff - z * se, diff + z * se],
           "p_value": float(2 * stats.norm.sf(abs(diff) / se0)) if se0 > 0 else math.nan}
    return {**out, **_relative_lift(pt, ph, vt, vh, z)}


def compare_groups(spend: np.ndarray, bought: np.ndarray, group: np.ndarray) -> dict[str, Any]:
    """Target against holdout for one segment: spend per customer and share buying again.

    Parameters
    ----------
    spend : numpy.ndarray
        Net spend per customer in the window (0 without purchases).
    bought : numpy.ndarray of bool
        Bought at least once in the window.
    group : numpy.ndarray of str
        ``"target"`` or ``"holdout"``.
    """
    z = float(stats.norm.ppf((1 + CONFIDENCE) / 2))
    t, h = group == "target", group == "holdout"
    out: dict[str, Any] = {"n_target": int(t.sum()), "n_holdout": int(h.sum())}
    if t.sum() < 2 or h.sum() < 2:
        out["spend_per_customer"] = out["share_buying"] = None
        return out
    out["spend_per_customer"] = _mean_comparison(spend[t].astype(float), spend[h].astype(float), z)
    out["share_buying"] = _share_comparison(bought[t].astype(float), bought[h].astype(float), z)
    return out


def _verdict(name: str, cmp: Mapping[str, Any]) -> str:
    if cmp.get("spend_per_customer") is None:
        return f"{name}: no holdout to compare with (fewer than two customers in a group)."
    parts = []
    for key, words in (("spend_per_customer", "spend per customer"), ("share_buying", "share buying again")):
        m = cmp[key]
        lo, hi = m["lift_ci"]
        if m["lift"] is None:
            parts.append(f"{words}: the holdout's is zero, no relative lift")
            continue
        sig = "a real lift" if lo > 0 else ("a real drop" if hi < 0 else "no clear difference")
        parts.append(f"{words} {m['lift']:+.1%} (95 % interval {lo:+.1%} to {hi:+.1%}): {sig}")
    return f"{name}: " + "; ".join(parts) + "."


def read_out(
    events_table: str,
    con: duckdb.DuckDBPyConnection,
    assignments: pd.DataFrame,
    *,
    start: dt.date,
    end: dt.date,
    has_amount: bool,
    has_type: bool,
    names: Mapping[int, str],
    min_lift: float | None = None,
) -> dict[str, Any]:
    """Compare target and holdout per segment over ``[start, end)``.

    Parameters
    ----------
    events_table : str
        DuckDB table of canonical events (from :func:`segmentkit.sources.load_events`).
    con : duckdb.DuckDBPyConnection
    assignments : pandas.DataFrame
        The run's ``customer_id, segment_id, status, group``.
    start, end : datetime.date
        The campaign window (end exclusive).
    has_amount, has_type : bool
        Whether the events have amounts and event types.
    names : mapping of int to str
        Segment names by id.

    Returns
    -------
    dict
        The readout (JSON-safe): window, per segment the group sizes, spend per customer and
        share buying again in both groups, differences and relative lifts with 95 % intervals.
    """
    if "group" not in assignments.columns:
        raise InputError("this run has no holdout groups: run it with --holdout")
    if end <= start:
        raise InputError(f"--to ({end.isoformat()}) must be after --from ({start.isoformat()})")
    members = assignments.loc[assignments["group"].isin(["target", "holdout"]),
                              ["customer_id", "segment_id", "group"]].copy()
    members["customer_id"] = members["customer_id"].astype(str)
    outcome = window_outcomes(con, events_table, start=start, end=end, has_amount=has_amount, has_type=has_type)
    joined = outcome.reindex(members["customer_id"])
    members["spend"] = joined["spend"].fillna(0.0).to_numpy(float)
    members["bought"] = joined["bought"].astype("boolean").fillna(False).to_numpy(bool)
    per_customer = members.sort_values(["segment_id", "customer_id"], kind="stable")
    segments = []
    for sid, part in per_customer.groupby("segment_id", sort=True):
        cmp = compare_groups(part["spend"].to_numpy(float), part["bought"].to_numpy(bool),
                             part["group"].to_numpy(str))
        name = names.get(int(sid), f"Segment {int(sid)}")
        segments.append({"segment_id": int(sid), "name": name, **cmp, "verdict": _verdict(name, cmp)})
    return {
        "window": {"from": start.isoformat(), "to": end.isoformat(), "end_exclusive": True},
        "confidence": CONFIDENCE,
        "spend_unit": "net spend" if has_amount else "purchases",
        "min_lift": min_lift,
        "segments": segments,
    }


def readout_run(run_dir: str | Path, events: Any, *, start: dt.date | None = None,
                end: dt.date | None = None) -> dict[str, Any]:
    """The lift readout of a run made with ``--holdout``, on events after the campaign.

    Parameters
    ----------
    run_dir : str or Path
        The run's output folder (``assignments.parquet``, ``summary.json``, ``model/``).
    events : path, DataFrame or SqlQuery
        Events of the campaign period, in the run's column mapping.
    start : datetime.date, optional
        First day of the campaign window (default: the run's snapshot date).
    end : datetime.date, optional
        Day after the window (default: the day after the last event).

    Returns
    -------
    dict
        See :func:`read_out`; no customer identifier is in it.
    """
    from segmentkit.config import ColumnMapping
    from segmentkit.model import SegmentationModel
    from segmentkit.sources import load_events

    run = Path(run_dir)
    summary_path = run / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{summary_path.name} not found: is {run} the output folder of a run?")
    assignments = read_assignments(run)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    model = SegmentationModel.load(run / "model")
    if start is None:
        if not summary.get("snapshot_date"):
            raise InputError("the run has no snapshot date: give --from")
        start = dt.date.fromisoformat(summary["snapshot_date"])
    con = duckdb.connect()
    try:
        loaded = load_events(con, events, ColumnMapping(**model.columns))
        if end is None:
            last = con.execute(f"SELECT max(event_time) FROM {loaded.table}").fetchone()[0]
            if last is None:
                raise InputError("the events have no times", source=loaded.source)
            end = (pd.Timestamp(last).normalize() + pd.Timedelta(days=1)).date()
        names = {int(s["id"]): str(s["name"]) for s in summary.get("segments", [])}
        result = read_out(loaded.table, con, assignments, start=start, end=end,
                          has_amount="amount" in loaded.roles, has_type="event_type" in loaded.roles,
                          names=names, min_lift=(summary.get("holdout") or {}).get("min_lift"))
    finally:
        con.close()
    result["run"] = {"snapshot_date": summary.get("snapshot_date"), "seed": summary.get("seed"),
                     "events": loaded.source}
    return json_safe(result)
