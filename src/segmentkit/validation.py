"""Out-of-time validation: do segments found on the past explain what customers do next?

The run's settings are fitted again on the history up to ``snapshot − horizon`` (the
*cutoff*); each customer known at the cutoff then gets their behaviour in the horizon
(cutoff up to the snapshot):

* **spend**: net spend (purchases minus returns), measured as ``log(1 + spend)``;
* **buy again**: 1 when the customer buys at all in the horizon, else 0;
* **category mix**: shares of horizon spend per category, among those who buy (when the
  events have categories).

For each grouping — the segments of the past fit, a plain **RFM score** (recency,
frequency and monetary quintiles summed) cut into as many groups, and the client's
**personas** when given — the share of the outcome's variance explained by the groups is
reported (η², the between-group sum of squares over the total; for the category mix the
sums run over all category shares). η² = 0.31 reads "the groups explain 31 % of the
differences in next-quarter spend".

The horizon is the last quarter of the history, at most :data:`MAX_HORIZON_DAYS`; with
less history than :data:`MIN_HISTORY_DAYS` the validation is skipped, with the reason.

The validation describes the run; it does not decide it. Above :data:`VALIDATION_SAMPLE`
customers it is measured on a seeded simple random sample of that many of them
(:func:`sample_customers`), so its cost (a second feature pass and a second fit) does not
grow with the customer count; ``summary.json`` and the sentence say so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import duckdb
import numpy as np
import pandas as pd

from segmentkit.sqltext import exact_sum

__all__ = [
    "MAX_HORIZON_DAYS",
    "MIN_HISTORY_DAYS",
    "VALIDATION_SAMPLE",
    "eta_squared",
    "horizon_days",
    "next_period",
    "rfm_groups",
    "sample_customers",
    "sentence",
    "validate",
]

#: The future measured is at most a quarter: longer, and the segments of the past would be
#: judged on behaviour they could not have seen coming.
MAX_HORIZON_DAYS = 90
#: The future is this share of the history (the past keeps three quarters of it).
HORIZON_SHARE = 0.25
#: Less history than this and the future (a quarter of it) would be under a month: too
#: short for spend or repeat purchase to mean anything.
MIN_HISTORY_DAYS = 120
#: Fewer customers known at the cutoff than this and the past fit is not worth reporting.
MIN_CUSTOMERS = 50
#: RFM scores each of recency, frequency and monetary value in this many quantile steps.
RFM_STEPS = 5
#: Customers the validation measures at most (a seeded simple random sample above it). Over
#: 50,000 customers an η² near 0.2 has a standard error of about 0.003 (2η(1 − η²)/√n), a
#: third of the rounding the sentence shows, and the past fit sees every segment of 1 % or
#: more with 500 customers or more.
VALIDATION_SAMPLE = 50_000
#: A total sum of squares at or below this means the outcome does not vary (η² undefined).
_NO_VARIANCE = 1e-12


def horizon_days(first_event: dt.date, snapshot: dt.date) -> tuple[int | None, str | None]:
    """The horizon for a history from ``first_event`` to ``snapshot``.

    Returns
    -------
    days : int or None
        ``min(MAX_HORIZON_DAYS, history / 4)``; ``None`` when the history is too short.
    reason : str or None
        Why it was skipped.
    """
    span = (snapshot - first_event).days
    if span < MIN_HISTORY_DAYS:
        return None, (f"the history spans {span} days; out-of-time validation needs at least "
                      f"{MIN_HISTORY_DAYS} (the last quarter is kept back as the future)")
    return min(MAX_HORIZON_DAYS, int(span * HORIZON_SHARE)), None


def sample_customers(ordered: pd.Index, *, size: int | None = None,
                     random_state: int = 0) -> tuple[pd.Index, dict[str, Any] | None]:
    """The customers the validation measures: all of them up to ``size``, else a seeded
    simple random sample of ``size``.

    Parameters
    ----------
    ordered : pandas.Index
        The run's customers, in an order that does not follow their ids (the run's value
        order): drawn by position, the sample is then the same whatever the ids' spelling.
    size : int, optional
        Most customers measured (default :data:`VALIDATION_SAMPLE`).
    random_state : int
        Seed of the draw.

    Returns
    -------
    ids : pandas.Index
        The customers measured, in ``ordered``'s order.
    sample : dict or None
        ``{"size", "of", "method"}`` for ``summary.json`` (``None`` when all are measured).
    """
    n = len(ordered)
    size = VALIDATION_SAMPLE if size is None else size
    if n <= size:
        return ordered, None
    rows = np.sort(np.random.default_rng(random_state).choice(n, size=size, replace=False))
    return ordered[rows], {"size": int(size), "of": int(n), "method": "simple random sample, seeded"}


def eta_squared(y: np.ndarray, groups: np.ndarray) -> float | None:
    """Share of the variance of ``y`` explained by ``groups`` (η², 0..1).

    ``y`` may be 2-d (one column per outcome): the sums of squares are added over columns.
    ``None`` when ``y`` does not vary or there is one group only.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    if codes.max(initial=0) < 1:
        return None
    total = float(((y - y.mean(axis=0)) ** 2).sum())
    if not total > _NO_VARIANCE:
        return None
    counts = np.bincount(codes).astype(float)
    means = np.vstack([np.bincount(codes, weights=y[:, j]) for j in range(y.shape[1])]).T / counts[:, None]
    between = float((counts[:, None] * (means - y.mean(axis=0)) ** 2).sum())
    return min(1.0, max(0.0, between / total))


def _quantile_steps(x: np.ndarray, steps: int) -> np.ndarray:
    """1..steps by quantile of ``x``; equal values share a step."""
    edges = np.quantile(x, np.linspace(0.0, 1.0, steps + 1)[1:-1])
    return np.searchsorted(edges, x, side="right") + 1


def rfm_groups(recency_days: np.ndarray, orders: np.ndarray, monetary: np.ndarray, k: int) -> np.ndarray:
    """A plain RFM score cut into ``k`` groups (0 lowest).

    The score is the sum of the recency (recent = high), frequency and monetary quintile
    steps (3..15); the groups are its quantiles, customers with equal scores together.
    """
    score = (_quantile_steps(-np.asarray(recency_days, float), RFM_STEPS)
             + _quantile_steps(np.asarray(orders, float), RFM_STEPS)
             + _quantile_steps(np.asarray(monetary, float), RFM_STEPS))
    return _quantile_steps(score.astype(float), k) - 1


def next_period(con: duckdb.DuckDBPyConnection, table: str, roles: Sequence[str],
                start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per customer with a purchase or return in ``[start, end)``: net spend and, when the
    events have categories, spend per category (``cat__<level>`` columns)."""
    has = set(roles)
    amount = "coalesce(amount, 0)" if "amount" in has else "1.0"
    is_return = ("(event_type = 'return'" if "event_type" in has else "(false") + (
        " OR amount < 0)" if "amount" in has else ")")
    is_purchase = "(NOT " + is_return + (" AND event_type = 'purchase')" if "event_type" in has else ")")
    where = (f"customer_id IS NOT NULL AND event_time >= TIMESTAMP '{start.isoformat()}' "
             f"AND event_time < TIMESTAMP '{end.isoformat()}'")
    spend = con.execute(
        f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
        f"{exact_sum(f'CASE WHEN {is_purchase} THEN {amount} WHEN {is_return} THEN -abs({amount}) ELSE 0 END')} AS spend, "
        f"count(*) FILTER (WHERE {is_purchase}) AS purchases "
        f"FROM {table} WHERE {where} GROUP BY 1").df().set_index("customer_id")
    if "category" in has:
        cats = con.execute(
            f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
            f"coalesce(CAST(category AS VARCHAR), '(none)') AS category, {exact_sum(amount)} AS s "
            f"FROM {table} WHERE {where} AND {is_purchase} GROUP BY 1, 2").df()
        if len(cats):
            # one row per customer and category already: placed, not pivoted (a pivot of a
            # million customers' rows holds several copies of them); 0 for a category a
            # buyer did not buy, missing for a customer without purchases
            levels, column = np.unique(cats["category"].to_numpy(dtype=object), return_inverse=True)
            row = spend.index.get_indexer(cats["customer_id"])  # each buyer has a spend row
            wide = np.full((len(spend), len(levels)), np.nan)
            wide[np.unique(row)] = 0.0
            wide[row, column.ravel()] = cats["s"].to_numpy(dtype=float) + 0.0  # + 0.0: no -0.0, as a sum gives
            spend = spend.join(pd.DataFrame(wide, index=spend.index, columns=[f"cat__{c}" for c in levels]))
    return spend.sort_index()


@dataclass(frozen=True)
class _Outcomes:
    log_spend: np.ndarray
    buys: np.ndarray
    mix: np.ndarray | None
    buyer: np.ndarray


def _outcomes(ids: pd.Index, future: pd.DataFrame) -> _Outcomes:
    fut = future.reindex(ids)
    spend = np.clip(fut["spend"].fillna(0.0).to_numpy(float), 0.0, None)
    buys = (fut["purchases"].fillna(0).to_numpy(float) > 0).astype(float)
    cat_cols = [c for c in fut.columns if c.startswith("cat__")]
    mix = None
    if len(cat_cols) >= 2:
        amounts = fut[cat_cols].fillna(0.0).to_numpy(float)
        tot = amounts.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            mix = np.where(tot > 0, amounts / tot, 0.0)
    return _Outcomes(np.log1p(spend), buys, mix, buys > 0)


def _measures(out: _Outcomes, groups: np.ndarray) -> dict[str, Any]:
    res: dict[str, Any] = {
        "groups": int(np.unique(groups).size),
        "spend_eta2": eta_squared(out.log_spend, groups),
        "buy_again_eta2": eta_squared(out.buys, groups),
        "category_mix_eta2": None,
    }
    if out.mix is not None and out.buyer.sum() >= MIN_CUSTOMERS:
        res["category_mix_eta2"] = eta_squared(out.mix[out.buyer], groups[out.buyer])
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in res.items()}


def validate(
    con: duckdb.DuckDBPyConnection,
    table: str,
    roles: Sequence[str],
    *,
    first_event: dt.date,
    snapshot: dt.date,
    past_fit: Callable[[dt.date], tuple[pd.Series, pd.DataFrame]],
    personas: pd.Series | None = None,
    future: pd.DataFrame | None = None,
    sample: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit on the past, measure on the future; the ``validation`` block of ``summary.json``.

    Parameters
    ----------
    con, table, roles
        The loaded event table (see :func:`segmentkit.sources.load_events`).
    first_event, snapshot : datetime.date
        The history the run saw.
    past_fit : callable
        ``past_fit(cutoff)`` → (segment per customer known at the cutoff, indexed by id;
        their features at the cutoff, with ``recency_days``, ``orders`` and ``monetary`` or
        ``orders`` for the RFM score). It fits the run's own settings.
    personas : pandas.Series, optional
        Persona per customer id.
    future : pandas.DataFrame, optional
        :func:`next_period` from the cutoff to ``snapshot``, when already read.
    sample : dict, optional
        When ``table`` holds a sample of the customers (:func:`sample_customers`): what
        it is, for the result and its sentence.

    Returns
    -------
    dict
        ``{"status": "done" | "skipped", "reason", "horizon_days", "cutoff", "n_customers",
        "sample", "buyers_share", "segments", "rfm", "personas"}``; each grouping holds ``groups``,
        ``spend_eta2``, ``buy_again_eta2``, ``category_mix_eta2`` (``None`` where not
        measurable).
    """
    days, reason = horizon_days(first_event, snapshot)
    if days is None:
        return {"status": "skipped", "reason": reason}
    cutoff = snapshot - dt.timedelta(days=days)
    labels, feats = past_fit(cutoff)
    feats = feats[[c for c in ("recency_days", "orders", "monetary") if c in feats.columns]]  # all the RFM uses
    keep = labels[labels >= 0]
    if len(keep) < MIN_CUSTOMERS:
        return {"status": "skipped", "reason": f"only {len(keep)} customers were segmented at the "
                f"cutoff {cutoff.isoformat()}; the validation needs at least {MIN_CUSTOMERS}"}
    ids = keep.index
    out = _outcomes(ids, future if future is not None else next_period(con, table, roles, cutoff, snapshot))
    seg = keep.to_numpy(int)
    k = int(np.unique(seg).size)
    f = feats.reindex(ids)
    money = f["monetary"] if "monetary" in f.columns else f["orders"]
    rfm = rfm_groups(f["recency_days"].to_numpy(float), f["orders"].to_numpy(float), money.to_numpy(float), k)
    result: dict[str, Any] = {
        "status": "done",
        "reason": None,
        "horizon_days": int(days),
        "cutoff": cutoff.isoformat(),
        "n_customers": int(len(ids)),
        "sample": sample,
        "buyers_share": round(float(out.buys.mean()), 6),
        "segments": _measures(out, seg),
        "rfm": _measures(out, rfm),
        "personas": None,
    }
    if personas is not None:
        p = personas.reindex(ids)
        known = p.notna().to_numpy()
        if known.sum() >= MIN_CUSTOMERS and p[known].nunique() >= 2:
            sub = _Outcomes(out.log_spend[known], out.buys[known],
                            None if out.mix is None else out.mix[known], out.buyer[known])
            result["personas"] = _measures(sub, p[known].astype(str).to_numpy())
    result["sentence"] = sentence(result)
    return result


def _share(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f} %"


def sentence(v: dict[str, Any]) -> str:
    """The validation in one plain sentence (the report's headline uses it)."""
    if v.get("status") != "done":
        return f"Out-of-time validation skipped: {v.get('reason')}."
    seg, rfm, per = v["segments"], v["rfm"], v.get("personas")
    drawn = v.get("sample")
    among = (f" (measured on a random sample of {drawn['size']:,} of the {drawn['of']:,} customers)"
             if drawn else "")
    text = (f"Fitted on the history up to {v['cutoff']}{among}, the segments explain "
            f"{_share(seg['spend_eta2'])} of the differences in the next {v['horizon_days']} days' spend "
            f"(log scale; a plain RFM score in as many groups: {_share(rfm['spend_eta2'])}")
    if per is not None:
        text += f"; the personas: {_share(per['spend_eta2'])}"
    text += (f") and {_share(seg['buy_again_eta2'])} of who buys again "
             f"(RFM {_share(rfm['buy_again_eta2'])}")
    if per is not None:
        text += f", personas {_share(per['buy_again_eta2'])}"
    return text + ")."
