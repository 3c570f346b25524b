"""Behavioral and transactional features per customer, as of a snapshot date.

One DuckDB query turns the canonical event table (see :mod:`segmentkit.sources`) into one
row per customer. Definitions (all "as of" the snapshot date; events on or after it are
left out and counted):

====================  =========================================================================
feature               definition
====================  =========================================================================
recency_days          days from the last purchase to the snapshot; never bought: the whole window
orders                distinct orders (``order_id``; without it, every purchase row is an order)
monetary              purchase amounts minus returned amounts (net revenue); a return is a
                      ``return`` event or a line with a negative amount or quantity
avg_order_value       purchase amount per order (0 without orders)
basket_size           quantity per order
tenure_days           days from the first event of any type to the snapshot
gap_mean_days         mean days between consecutive orders (needs 2+ orders)
gap_cv                coefficient of variation of those gaps (regularity; needs 3+ orders)
spend_trend           (spend in recent half − spend in earlier half) / total, halves of the
                      window (needs 2+ orders)
active_months         distinct calendar months with an order
peak_quarter_share    share of spend in the customer's busiest quarter of the year
                      (seasonality; needs 2+ orders)
discount_share        share of orders that used a discount
return_rate           returned amount / purchased amount (counts without amounts)
views_per_order       product views per order (browse-to-buy; orders floored at 1)
cart_abandonment      share of cart events not followed by as many orders
cat_share__<level>    share of spend per category (the levels bought by the most customers, never
                      a fee such as postage; the rest as ``other``)
channel_share__<lvl>  share of orders per channel
====================  =========================================================================

Gaps, regularity, trend and seasonality do not exist for a customer with too few orders:
they are missing (NULL), not 0 or the tenure — one order is not "99 % of spend in the peak
quarter". Preparation fills them with the column's median (a neutral position, counted in
``data_quality.imputed``) and profiles describe segments by the customers who have them.

Without an ``amount`` column, spend-based features use order counts; features whose input
columns are absent are left out and listed in :attr:`FeatureTable.skipped` with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Sequence

import duckdb
import numpy as np
import pandas as pd

from segmentkit.errors import InputError
from segmentkit.sources import repeated_values
from segmentkit.sqltext import exact_sum, literal, sums_fit_doubles

__all__ = ["DuckDBEngine", "FeatureQuery", "FeatureSpec", "FeatureTable", "SqlEngine", "customer_features",
           "feature_query", "fetch_features", "roles_needed"]


@dataclass(frozen=True)
class FeatureSpec:
    """What one feature is, for preparation, profiling and plain-language sentences.

    Attributes
    ----------
    name : str
        Column name, e.g. ``"recency_days"`` or ``"cat_share__electronics"``.
    kind : str
        One of ``"count"``, ``"amount"``, ``"days"``, ``"share"`` (0..1), ``"ratio"``
        (unbounded, e.g. views per order), ``"trend"`` (-1..1), ``"custom"`` (a customer
        column used as it is). Preparation log-transforms heavy-tailed counts and amounts.
    label : str
        Plain words for sentences: "days since last purchase", "share of spend on electronics".
    source : str
        The input columns it needs, e.g. ``"category"``; used to explain left-out features.
    evidence : str or None
        For a share or trend: the count feature it is measured over (``"orders"``). A share
        from one order is 0 or 1 whatever the customer's habit; preparation shrinks such
        values toward the overall mean in proportion to the evidence behind them.
    """

    name: str
    kind: str
    label: str
    source: str = "events"
    evidence: str | None = None


#: name, kind, label, roles needed (all of them), fallback description
_BASE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("recency_days", "days", "days since last purchase", ()),
    ("orders", "count", "orders", ()),
    ("monetary", "amount", "net spend", ("amount",)),
    ("avg_order_value", "amount", "spend per order", ("amount",)),
    ("basket_size", "count", "items per order", ("quantity",)),
    ("tenure_days", "days", "days since first seen", ()),
    ("gap_mean_days", "days", "days between orders", ()),
    ("gap_cv", "ratio", "irregularity of order gaps", ()),
    ("spend_trend", "trend", "spend trend (recent vs earlier half)", ()),
    ("active_months", "count", "active months", ()),
    ("peak_quarter_share", "share", "share of spend in the peak quarter", ()),
    ("discount_share", "share", "share of orders with a discount", ("discount",)),
    ("return_rate", "share", "share of spend returned", ()),
    ("views_per_order", "ratio", "product views per order", ("event_type",)),
    ("cart_abandonment", "share", "share of carts abandoned", ("event_type",)),
)


#: features measured over a customer's orders (their evidence is the order count)
_PER_ORDER = frozenset({"spend_trend", "peak_quarter_share", "discount_share", "return_rate"})


@dataclass(frozen=True)
class FeatureTable:
    """Features per customer, with what they mean and what was left out.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per customer with events, indexed by ``customer_id`` (text, sorted); float columns.
    specs : tuple of FeatureSpec
        One per column of ``frame``, same order.
    skipped : dict
        Feature (or family) → reason it was left out.
    snapshot_date : datetime.date
    value : pandas.Series
        Net revenue per customer (order count without amounts), aligned with ``frame``.
    levels : dict
        ``{"category": (...), "channel": (...)}``: the levels turned into share columns, kept
        so new customers get the same columns.
    category_levels : dict or None
        How the category levels were chosen: levels found, those kept with their buying
        customers and share of spend, fee levels left out, how many fold into ``other``.
    data_quality : dict
        Counts of what was dropped, excluded or odd, and what was done with it.
    sql : str
        The SELECT that computed ``frame`` from the events table (for ``segments.sql``).
    """

    frame: pd.DataFrame
    specs: tuple[FeatureSpec, ...]
    skipped: dict[str, str]
    snapshot_date: dt.date
    value: pd.Series
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    data_quality: dict[str, Any] = field(default_factory=dict)
    category_levels: dict[str, Any] | None = None
    sql: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, in column order."""
        return tuple(s.name for s in self.specs)


class SqlEngine(Protocol):
    """Where the feature SQL runs: DuckDB here, Spark in :mod:`segmentkit.spark`.

    The feature definitions are one set of SQL statements; an engine runs them and spells
    the few expressions that differ between SQL dialects.
    """

    def rows(self, sql: str) -> list[tuple]:
        """Run a query; all rows as tuples."""
        ...

    def numbers(self, sql: str, names: Sequence[str]) -> tuple[pd.Index, np.ndarray]:
        """Run a query of one row per customer; its ``customer_id`` column as an object
        index of Python text, and the ``names`` columns as one float64 matrix (NULL as NaN)."""
        ...

    def seconds(self, later: str, earlier: str) -> str:
        """SQL for the seconds between two timestamps."""
        ...

    def micros(self, later: str, earlier: str) -> str:
        """SQL for the whole microseconds between two timestamps (an integer)."""
        ...

    def hash64(self, args: str) -> str:
        """SQL for a 64-bit hash of the comma-separated expressions ``args``."""
        ...

    def months(self, t: str, first_month: int, n_months: int) -> str:
        """SQL aggregate: distinct calendar months of ``t`` (``first_month`` = year*12+month
        of the window start, ``n_months`` its length)."""
        ...

    def repeats(self, sql: str) -> bool:
        """Whether the one column (``k``) of a query's rows holds some value twice."""
        ...

    def enum_size(self, table: str, column: str) -> int | None:
        """How many values a column's ``ENUM`` type has (a value's 0-based place among
        them is ``enum_code(column)``); ``None`` when the column is no ``ENUM`` (or the
        engine has none)."""
        ...

    cte_hint: str
    text_type: str


class DuckDBEngine:
    """The feature SQL on a DuckDB connection."""

    cte_hint = "NOT MATERIALIZED "
    text_type = "VARCHAR"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def numbers(self, sql: str, names: Sequence[str]) -> tuple[pd.Index, np.ndarray]:
        # column by column through numpy into one matrix, each column freed once copied: one
        # copy of the numbers (DuckDB's own DataFrame conversion, .df(), took 0.6 s against
        # 0.35 s at a million customers, 3.3 s where numpy's arrays ask for huge pages);
        # column-major, as pandas holds a frame's columns (each one contiguous)
        columns = self.con.execute(sql).fetchnumpy()
        ids = pd.Index(np.ma.getdata(columns.pop("customer_id")), dtype=object)
        matrix = np.empty((len(ids), len(names)), order="F")
        for j, name in enumerate(names):
            values = columns.pop(name)
            matrix[:, j] = np.ma.filled(values.astype("float64"), np.nan) if np.ma.isMaskedArray(values) else values
        return ids, matrix

    def seconds(self, later: str, earlier: str) -> str:
        return f"epoch({later} - {earlier})"

    def micros(self, later: str, earlier: str) -> str:
        return f"(epoch_us({later}) - epoch_us({earlier}))"

    def hash64(self, args: str) -> str:
        return f"hash({args})"

    def months(self, t: str, first_month: int, n_months: int) -> str:
        if n_months < 126:
            # distinct months as bits of a 126-bit mask: one aggregate, no DISTINCT pass
            return f"bit_count(bit_or((1::HUGEINT) << (year({t}) * 12 + month({t}) - {first_month})::HUGEINT))"
        return f"count(DISTINCT date_trunc('month', {t}))"

    def repeats(self, sql: str) -> bool:
        # sorted in numpy, not grouped by DuckDB (see segmentkit.sources.repeated_values)
        return bool(repeated_values(self.con, sql).size)

    def enum_size(self, table: str, column: str) -> int | None:
        kind = self.con.execute(f"SELECT typeof({column}) FROM {table} LIMIT 1").fetchall()
        if not kind or not str(kind[0][0]).startswith("ENUM("):
            return None
        size = self.con.execute(f"SELECT len(enum_range({column})) FROM {table} WHERE {column} IS NOT NULL LIMIT 1")
        rows = size.fetchall()
        return int(rows[0][0]) if rows else 0


#: The event types the features know; others are left out and counted.
_KNOWN_TYPE = "event_type IN ('purchase', 'view', 'cart', 'return')"

#: An event the features can place at all: it has a customer and a time.
_USABLE = "customer_id IS NOT NULL AND event_time IS NOT NULL"


def _one(engine: SqlEngine, sql: str) -> Any:
    return engine.rows(sql)[0][0]


@dataclass(frozen=True)
class _EventScan:
    """What one pass of counts over the event table found."""

    quality: dict[str, Any]
    n_usable: int
    window_start: Any
    order_lines_unique: bool
    sums_fit_doubles: bool = False


def _scan_events(engine: SqlEngine, events: str, roles: Sequence[str], usable: str,
                 in_window: str, snap: str, is_return: str, is_purchase: str) -> _EventScan:
    """Counts over the event table, in one pass: what was dropped, excluded or odd, and how
    many events the features see and from when. Then whether every purchase row is an
    order of its own (no order id on two rows), so orders need no grouping of lines.

    The last is decided on 64-bit hashes of the order ids: a collision can only make it
    answer "no", which takes the slower, still exact, grouping path.
    """
    others = [r for r in roles if r not in ("customer_id", "event_time")]
    # count(*) - count(col) is answered from validity masks, far cheaper than a FILTER
    miss = "".join(f", count(*) - count({r})" for r in others)
    unknown = (f"count(*) FILTER (WHERE {usable} AND (event_type IS NULL OR NOT {_KNOWN_TYPE}))"
               if "event_type" in roles else "0")
    # what every sum of the features may add up to at most (see sqltext.sums_fit_doubles):
    # over every row, a bound on the window's (a FILTER would cost a tenth of a second at L)
    sizes = [r for r in ("amount", "quantity") if r in roles]
    magnitude = ("greatest(" + ", ".join(f"coalesce(sum(abs({r})), 0)" for r in sizes) + ", 1.0)") if sizes else "1.0"
    row = engine.rows(
        f"SELECT count(*), count(*) - count(customer_id), count(*) - count(event_time), "
        f"count(*) FILTER (WHERE {usable} AND event_time >= {snap}), "
        f"count(*) FILTER (WHERE {usable} AND event_time < {snap} AND {is_return}), "
        f"count(*) FILTER (WHERE {in_window}), min(event_time) FILTER (WHERE {in_window}), "
        f"{unknown}, {magnitude}{miss} FROM {events}"
    )[0]
    n_usable, window_start, n_unknown = int(row[5] or 0), row[6], int(row[7] or 0)
    # the largest total is of amounts, of quantities, or of ones (spend without amounts)
    fit = sums_fit_doubles(max(float(row[8]), int(row[0])), int(row[0]))
    # a DISTINCT aggregate beside the others would make the whole pass several times slower
    lines_unique = "order_id" not in roles or n_usable == 0 or not engine.repeats(
        f"SELECT {engine.hash64('order_id')} AS k FROM {events} WHERE {in_window} AND {is_purchase} "
        f"AND order_id IS NOT NULL")
    vals = [int(v or 0) for v in row[:5] + row[9:]]
    quality: dict[str, Any] = {
        "events_distinct_rows": vals[0],
        "events_missing_customer_id": vals[1],
        "events_missing_time": vals[2],
        "events_after_snapshot": vals[3],
        "returns": vals[4],
        "missing_values": dict(zip(others, vals[5:])),
        "unknown_event_types": {},
    }
    if n_unknown:
        detail = engine.rows(
            f"SELECT coalesce(CAST(event_type AS {engine.text_type}), '(empty)'), count(*) FROM {events} "
            f"WHERE {usable} AND (event_type IS NULL OR NOT {_KNOWN_TYPE}) GROUP BY 1 ORDER BY 1"
        )
        quality["unknown_event_types"] = {str(k): int(v) for k, v in detail}
    return _EventScan(quality, n_usable, window_start, lines_unique, fit)


#: Share of events at each end of time that may be odd before the rest decide the plausible
#: range, and how many years beyond the years of the rest an event may lie (at least; more
#: when the rest span more years). An event dated 2099 or 1900 in a log of 2023–2025 would
#: otherwise move the snapshot (and every recency) by decades.
TIME_TAIL = 0.01
TIME_MARGIN_YEARS = 5


def _time_range(engine: SqlEngine, events: str, usable: str) -> tuple[int, str]:
    """Events dated far from all the others: how many, and the SQL condition keeping the rest.

    Decided on a histogram of years (a few rows, the same SQL in every dialect): the years
    holding all but :data:`TIME_TAIL` of the events at either end, widened by their span
    or :data:`TIME_MARGIN_YEARS`, whichever is more.
    """
    years = sorted((int(y), int(n)) for y, n in engine.rows(
        f"SELECT year(event_time), count(*) FROM {events} WHERE {usable} GROUP BY 1") if y is not None)
    if not years:
        return 0, ""
    total = sum(n for _, n in years)
    cum = np.cumsum([n for _, n in years])
    low = years[int(np.searchsorted(cum, TIME_TAIL * total, side="right"))][0]
    high = years[min(int(np.searchsorted(cum, (1 - TIME_TAIL) * total, side="left")), len(years) - 1)][0]
    margin = max(TIME_MARGIN_YEARS, high - low)
    first, last = low - margin, high + margin
    outside = sum(n for y, n in years if y < first or y > last)
    if not outside:
        return 0, ""
    cond = ""
    if first > years[0][0]:
        cond += f" AND event_time >= TIMESTAMP '{first:04d}-01-01 00:00:00'"
    if last < years[-1][0]:
        cond += f" AND event_time < TIMESTAMP '{last + 1:04d}-01-01 00:00:00'"
    return outside, cond


def _why_no_usable_events(engine: SqlEngine, events: str, usable: str, snap: str, typed: bool,
                          snapshot_date: dt.date) -> InputError:
    """The error when no event is left for the features, with the actual reason: blank
    event types, only unknown ones, or none before the snapshot date."""
    if typed:
        n_before, n_typed = engine.rows(
            f"SELECT count(*), count(event_type) FROM {events} WHERE {usable} AND event_time < {snap}")[0]
        if n_before and not n_typed:
            return InputError("every event type is blank", column="event_type")
        if n_before:
            found = [str(r[0]) for r in engine.rows(
                f"SELECT CAST(event_type AS {engine.text_type}) AS t, count(*) AS n FROM {events} "
                f"WHERE {usable} AND event_type IS NOT NULL GROUP BY 1 ORDER BY n DESC, t LIMIT 5")]
            return InputError(f"no event of a known type (purchase, view, cart, return, or a synonym such as "
                              f"order or refund); found: {', '.join(found)}", column="event_type")
    return InputError(f"no usable events before the snapshot date {snapshot_date.isoformat()}")


def roles_needed(feature_names: Sequence[str]) -> dict[str, list[str]]:
    """The event columns (roles) these features are computed from: role → features."""
    needs = {name: roles for name, _, _, roles in _BASE}
    out: dict[str, list[str]] = {}
    for f in feature_names:
        prefix = f.split("__", 1)[0]
        roles = needs.get(f, ("category",) if prefix == "cat_share" else ("channel",) if prefix == "channel_share" else ())
        for r in roles:
            out.setdefault(r, []).append(f)
    return out


#: Rows :func:`_round_significant` rounds at a time: its temporary is one block's (16 MB for 16
#: features), not one the size of the matrix (a million customers' features: 200 MB).
ROUND_BLOCK_ROWS = 131_072
#: Blocks rounded at once, each on a thread of its own (numpy releases the GIL in each step).
#: Every value is rounded on its own, so the bits do not depend on it; two use a laptop's two
#: cores (at a million customers the rounding took 0.5 s on one).
ROUND_THREADS = 2


def _round_significant(x: np.ndarray, digits: int = 9, out: np.ndarray | None = None) -> np.ndarray:
    """Round to ``digits`` significant digits (vectorized; NaN and 0 kept).

    Blocks of :data:`ROUND_BLOCK_ROWS` rows, :data:`ROUND_THREADS` at a time, each in
    place in ``out`` with one temporary of the block's size (``out=x`` rounds ``x`` itself,
    float64).
    """
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x) if out is None else out
    starts = range(0, max(len(x), 1), ROUND_BLOCK_ROWS)

    def block(start: int) -> None:
        _round_block(x[start:start + ROUND_BLOCK_ROWS], digits, out[start:start + ROUND_BLOCK_ROWS])

    if len(starts) < 2:
        block(0)
    else:
        with ThreadPoolExecutor(max_workers=ROUND_THREADS) as pool:
            list(pool.map(block, starts))  # list(): a block's error is raised here
    return out


def _round_block(x: np.ndarray, digits: int, out: np.ndarray) -> None:
    """:func:`_round_significant` of one block, into ``out`` (which may be ``x``)."""
    scale = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log10(scale, out=scale)
    np.floor(scale, out=scale)
    scale[~(np.isfinite(x) & (x != 0))] = 0.0  # the magnitude; 0 for NaN, infinite and 0
    np.subtract(digits - 1, scale, out=scale)
    np.power(10.0, scale, out=scale)
    np.multiply(x, scale, out=out)
    np.round(out, out=out)
    out /= scale


def _slug(text: str) -> str:
    s = re.sub(r"\W+", "_", str(text).lower()).strip("_")
    return s or "blank"


#: Words that mark a category level as a fee rather than goods (whole words, any case): postage,
#: carriage and bank-charge lines are bought by many customers but say nothing about taste, so
#: they never become a category feature (their spend counts under ``other``).
FEE_WORDS = ("postage", "carriage", "shipping", "delivery", "freight", "fee", "fees", "charge", "charges",
             "surcharge", "handling", "deposit")
_FEE = re.compile(r"\b(" + "|".join(FEE_WORDS) + r")\b", re.IGNORECASE)

#: Candidate levels fetched per role: enough that fee levels never crowd out the goods.
_LEVEL_CANDIDATES = 200


@dataclass(frozen=True)
class _Levels:
    """The levels of one role turned into share columns, how many there are, and (for
    categories) why each was kept."""

    chosen: tuple[str, ...]
    n_all: int
    choice: dict[str, Any] | None = None


#: The most ``ENUM`` categories whose buyers :func:`_levels` counts as the bits of one
#: 64-bit integer per customer.
_MASK_BITS = 64


def _levels(engine: SqlEngine, events: str, cond: _EventConditions, roles: Sequence[str], max_levels: int,
            never: Sequence[str] = ()) -> dict[str, _Levels]:
    """The levels of each role that become share columns, in one query.

    Channels: the ``max_levels`` largest by spend. Categories describe what customers buy,
    so the levels bought by the most customers are kept (ties: the larger share of spend),
    never a fee level (:data:`FEE_WORDS`) nor one of ``never`` (e.g. the catalogue's
    ``unknown``); the rest fold into ``other``. The choice and its reasons are returned.

    A category's buyers are counted on the spend per customer and category (one row per
    pair, so a count of rows), and all buyers as the distinct customers of those rows:
    about half the cost of ``count(DISTINCT customer_id)`` per grouping set over the
    events. When the categories are an ``ENUM`` of at most :data:`_MASK_BITS` values (a
    loaded table's few tidy ones), each buyer's categories are instead the bits of one
    integer per customer, and the spend is grouped by category alone: a million groups of
    one integer rather than 2.6 million pairs with a sum (at L 0.4 + 0.1 s against 0.85 s).
    Channels need no buyer count.
    """
    if not roles:
        return {}
    ev_cte, weight, purchase = cond.ev_cte, cond.weight, cond.is_purchase
    text = engine.text_type
    parts, spend = [], ""  # spend: the CTEs the category parts read
    n_codes = (engine.enum_size(events, "category") or 0) if "category" in roles else 0  # 0: no ENUM
    if 0 < n_codes <= _MASK_BITS:
        # per customer, the categories bought as bits; per category, its buyers' bit set
        bits = ", ".join(f"count(*) FILTER (WHERE mask & {1 << i} <> 0)" for i in range(n_codes))
        spend = (f", m AS (SELECT coalesce(bit_or(1::UBIGINT << enum_code(category)), 0) AS mask FROM ev "
                 f"WHERE {purchase} GROUP BY customer_id), b AS (SELECT count(*) AS n, [{bits}] AS by_code FROM m), "
                 f"cs AS (SELECT category, {cond.sum(weight)} AS w FROM ev WHERE {purchase} GROUP BY category)")
        parts += [f"SELECT 'category' AS role, CAST(category AS {text}) AS level, w, "
                  f"CASE WHEN category IS NOT NULL THEN b.by_code[enum_code(category) + 1] END AS buyers FROM cs, b",
                  f"SELECT 'all' AS role, CAST(NULL AS {text}) AS level, {cond.sum('w')} AS w, "
                  f"any_value(b.n) AS buyers FROM cs, b"]
    elif "category" in roles:
        spend = (f", cc AS (SELECT customer_id, category, {cond.sum(weight)} AS w FROM ev WHERE {purchase} "
                 f"GROUP BY customer_id, category)")
        parts += [f"SELECT 'category' AS role, CAST(category AS {text}) AS level, {cond.sum('w')} AS w, count(*) AS buyers "
                  f"FROM cc GROUP BY category",
                  f"SELECT 'all' AS role, CAST(NULL AS {text}) AS level, {cond.sum('w')} AS w, "
                  f"count(DISTINCT customer_id) AS buyers FROM cc"]
    if "channel" in roles:
        parts.append(f"SELECT 'channel' AS role, CAST(channel AS {text}) AS level, {cond.sum(weight)} AS w, "
                     f"CAST(0 AS BIGINT) AS buyers FROM ev WHERE {purchase} GROUP BY channel")
    rank = "CASE WHEN role = 'category' THEN buyers ELSE 0 END DESC, w DESC, level"
    rows = engine.rows(
        f"WITH {ev_cte}{spend}, g AS ({' UNION ALL '.join(parts)}) "
        f"SELECT role, level, w, buyers, n FROM (SELECT role, level, w, buyers, "
        f"count(*) OVER (PARTITION BY role) AS n, row_number() OVER (PARTITION BY role ORDER BY {rank}) AS rn "
        f"FROM g WHERE level IS NOT NULL OR role = 'all') AS r WHERE rn <= {_LEVEL_CANDIDATES}"
    )
    everyone = [row for row in rows if row[0] == "all"]
    total_w, total_buyers = (float(everyone[0][2] or 0), int(everyone[0][3] or 0)) if everyone else (0.0, 0)
    out: dict[str, _Levels] = {}
    for r in roles:
        mine = [row for row in rows if row[0] == r]
        n_all = int(mine[0][4]) if mine else 0
        if r != "category":
            out[r] = _Levels(tuple(sorted(str(row[1]) for row in mine[:max_levels])), n_all)
            continue
        fees = [str(row[1]) for row in mine if _FEE.search(str(row[1]))]
        goods = [row for row in mine if str(row[1]) not in fees and str(row[1]) not in never]
        kept = goods[:max_levels]
        why = "all levels kept" if n_all <= max_levels and not fees else (
            f"the {len(kept)} levels bought by the most customers (ties: the larger share of spend)")
        choice = {
            "levels_found": n_all,
            "rule": why,
            "kept": [{"level": str(row[1]), "customers": int(row[3]),
                      "customer_share": round(int(row[3]) / total_buyers, 6) if total_buyers else 0.0,
                      "spend_share": round(float(row[2] or 0) / total_w, 6) if total_w else 0.0}
                     for row in kept],
            "left_out_as_fees": sorted(fees),
            "folded_into_other": n_all - len(kept),
        }
        out[r] = _Levels(tuple(sorted(str(row[1]) for row in kept)), n_all, choice)
    return out


def _level_columns(prefix: str, levels: Sequence[str]) -> list[tuple[str, str]]:
    """(column name, level) pairs with unique slugs."""
    seen: dict[str, int] = {}
    out = []
    for level in levels:
        slug = _slug(level)
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}_{seen[slug]}"
        else:
            seen[slug] = 1
        out.append((f"{prefix}__{slug}", level))
    return out


@dataclass(frozen=True)
class FeatureQuery:
    """The feature SQL for one event table, and what is known before it runs.

    Attributes
    ----------
    sql : str
        One ``SELECT``: ``customer_id`` and a column per spec, one row per customer with
        events, unordered and unrounded.
    specs, skipped, snapshot_date, levels
        As in :class:`FeatureTable`.
    data_quality : dict
        As in :class:`FeatureTable`, without ``customers_with_events`` (known once it ran).
    value_column : str
        The feature that is a customer's value (``monetary``, or ``orders`` without amounts).
    category_levels : dict or None
        As :attr:`FeatureTable.category_levels`.
    portable_sql : str
        The same ``SELECT`` for any other event table (``segments.sql``): its sums hold any
        total (``sql``'s may add in DOUBLEs, which these events' totals allow; see
        :func:`segmentkit.sqltext.exact_sum`). Empty: ``sql`` is portable.
    """

    sql: str
    specs: tuple[FeatureSpec, ...]
    skipped: dict[str, str]
    snapshot_date: dt.date
    levels: dict[str, tuple[str, ...]]
    data_quality: dict[str, Any]
    value_column: str
    category_levels: dict[str, Any] | None = None
    portable_sql: str = ""


def customer_features(
    con: duckdb.DuckDBPyConnection | SqlEngine,
    events: str,
    roles: Sequence[str],
    *,
    snapshot_date: dt.date | None = None,
    levels: dict[str, Sequence[str]] | None = None,
    max_levels: int = 8,
    never_levels: Sequence[str] = (),
) -> FeatureTable:
    """Engineer behavioral features per customer from a canonical event table.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection or SqlEngine
        Where the events are (a DuckDB connection, or e.g. :class:`segmentkit.spark.SparkEngine`).
    events : str
        Name of a table with canonical columns (as made by :func:`segmentkit.sources.load_events`).
    roles : sequence of str
        Canonical columns present in ``events``.
    snapshot_date : datetime.date, optional
        Features are computed as of this day (events on or after it are left out). Default:
        the day after the last event.
    levels : dict, optional
        Category/channel levels to use (from a fitted model); default: the ``max_levels``
        largest by spend in these events, the rest pooled as ``other``.
    max_levels : int
        Maximum number of category and channel share columns each.
    never_levels : sequence of str
        Category levels never made a column of their own (e.g. the catalogue's ``unknown``).

    Returns
    -------
    FeatureTable
    """
    engine: SqlEngine = DuckDBEngine(con) if isinstance(con, duckdb.DuckDBPyConnection) else con
    query = feature_query(engine, events, roles, snapshot_date=snapshot_date, levels=levels,
                          max_levels=max_levels, never_levels=never_levels)
    return fetch_features(engine, query)


def fetch_features(engine: SqlEngine, query: FeatureQuery, *, select: str | None = None,
                   customers: int | None = None) -> FeatureTable:
    """Run a :class:`FeatureQuery` and bring its rows back as a :class:`FeatureTable`.

    Parameters
    ----------
    engine : SqlEngine
    query : FeatureQuery
    select : str, optional
        A ``SELECT`` of some of the query's rows, with its columns (e.g. a sample of its
        customers from a table holding its result); default: the query itself.
    customers : int, optional
        Customers with events in all of the query's rows (``data_quality``), when ``select``
        brings back only some of them.
    """
    sql = (query.sql if select is None else select) + "    ORDER BY customer_id\n"
    # what segments.sql repeats: the query as it would run over any events
    shown = sql if select is not None or not query.portable_sql else query.portable_sql + "    ORDER BY customer_id\n"
    names = [s.name for s in query.specs]
    # ids as Python text objects (the engines' customer_id is text): pandas looks them up
    # (reindex, get_indexer) three to five times faster than its Arrow-backed text dtype,
    # and a run looks a million of them up often
    ids, matrix = engine.numbers(sql, names)
    index = ids.rename("customer_id")
    # DuckDB adds in parallel, in whatever order threads finish, so sums can differ in the
    # last bit between runs; rounding to 9 significant digits makes the features (and so
    # everything after them) identical run to run.
    frame = pd.DataFrame(_round_significant(matrix, out=matrix), index=index, columns=names, copy=False)
    quality = dict(query.data_quality, customers_with_events=int(len(frame) if customers is None else customers))
    return FeatureTable(
        frame=frame,
        specs=query.specs,
        skipped=query.skipped,
        snapshot_date=query.snapshot_date,
        value=frame[query.value_column].rename("value"),
        levels=query.levels,
        data_quality=quality,
        category_levels=query.category_levels,
        sql="\n".join(line[4:] if line.startswith("    ") else line for line in shown.strip("\n").splitlines()),
    )


@dataclass(frozen=True)
class _EventConditions:
    """The SQL conditions over the event table that every feature shares.

    Attributes
    ----------
    usable : str
        Customer id and time present, time within the plausible range.
    snap : str
        The snapshot date as a SQL timestamp.
    in_window : str
        Usable, before the snapshot and of a known type: the events the features see.
    is_purchase, is_return : str
        What a row of ``ev`` (the window, always with an event type) is.
    raw_purchase, raw_return : str
        The same on the event table itself, which may have no event type column.
    weight : str
        What a row counts for in spend: its amount, or 1 without amounts.
    ev_cte : str
        The ``ev`` CTE: the events in the window, with an event type.
    bounded : bool
        The sums over these events may add in DOUBLEs (:func:`segmentkit.sqltext.exact_sum`);
        set once the events' totals are known.
    """

    usable: str
    snap: str
    in_window: str
    is_purchase: str
    is_return: str
    raw_purchase: str
    raw_return: str
    weight: str
    ev_cte: str
    bounded: bool = False

    def sum(self, expr: str, where: str = "") -> str:
        """SQL: :func:`segmentkit.sqltext.exact_sum` of ``expr`` over these events."""
        return exact_sum(expr, where, bounded=self.bounded)


def _snapshot(engine: SqlEngine, events: str, usable: str) -> dt.date:
    """The default snapshot date: the day after the last usable event."""
    last = _one(engine, f"SELECT max(event_time) FROM {events} WHERE {usable}")
    if last is None:
        raise InputError("no event has both a customer id and a time")
    return (pd.Timestamp(last).normalize() + pd.Timedelta(days=1)).date()


def _event_conditions(engine: SqlEngine, events: str, has: set[str], usable: str,
                      snapshot_date: dt.date) -> _EventConditions:
    """Which events the features see, and which of them are purchases and returns."""
    snap = f"TIMESTAMP '{snapshot_date.isoformat()} 00:00:00'"
    signed = [r for r in ("amount", "quantity") if r in has]
    # a line with a negative amount or a negative quantity (a cancellation) is a return
    negative = [f"{r} < 0" for r in signed]
    not_negative = [f"coalesce({r}, 0) >= 0" for r in signed]
    is_return = "(" + " OR ".join(["event_type = 'return'"] + negative) + ")"
    is_purchase = "(" + " AND ".join(["event_type = 'purchase'"] + not_negative) + ")"
    typed = "event_type" in has
    type_col = "" if typed else ", 'purchase' AS event_type"
    # the events the features see: usable, before the snapshot, of a known type
    in_window = f"{usable} AND event_time < {snap}"
    if typed:
        in_window += f" AND {_KNOWN_TYPE}"
    return _EventConditions(
        usable=usable,
        snap=snap,
        in_window=in_window,
        is_purchase=is_purchase,
        is_return=is_return,
        raw_purchase=is_purchase if typed else (" AND ".join(not_negative) or "true"),
        raw_return=is_return if typed else ("(" + " OR ".join(negative) + ")" if negative else "false"),
        weight="coalesce(amount, 0)" if "amount" in has else "1.0",
        ev_cte=f"ev AS {engine.cte_hint}(SELECT *{type_col} FROM {events} WHERE {in_window})",
    )


def _base_specs(has: set[str]) -> tuple[list[FeatureSpec], dict[str, str]]:
    """The :data:`_BASE` features these columns allow, and the reason for each left out."""
    specs: list[FeatureSpec] = []
    skipped: dict[str, str] = {}
    for name, kind, label, needs in _BASE:
        missing = [r for r in needs if r not in has]
        if missing:
            skipped[name] = f"no {', '.join(missing)} column in the events"
        else:
            evidence = "orders" if name in _PER_ORDER else None
            specs.append(FeatureSpec(name, kind, label, ",".join(needs) or "events", evidence))
    return specs, skipped


#: role, column prefix, what the share is of (category: spend; channel: orders)
_SHARE_ROLES = (("category", "cat_share", "spend"), ("channel", "channel_share", "orders"))


@dataclass(frozen=True)
class _ShareColumns:
    """The category and channel share columns.

    Attributes
    ----------
    columns : dict
        Role → ``(column, level)`` pairs; level ``None`` is the ``other`` column.
    levels : dict
        Role → the levels turned into columns (as :attr:`FeatureTable.levels`).
    specs : list of FeatureSpec
        One per column.
    skipped : dict
        Family (``cat_share__*``) → why it has no columns.
    category_choice : dict or None
        How the category levels were chosen (as :attr:`FeatureTable.category_levels`).
    """

    columns: dict[str, list[tuple[str, str | None]]]
    levels: dict[str, tuple[str, ...]]
    specs: list[FeatureSpec]
    skipped: dict[str, str]
    category_choice: dict[str, Any] | None


def _share_columns(engine: SqlEngine, events: str, cond: _EventConditions, has: set[str],
                   levels: dict[str, Sequence[str]] | None, max_levels: int,
                   never_levels: Sequence[str]) -> _ShareColumns:
    """The share columns per category and channel: the given levels (from a fitted model,
    always with ``other``), or those :func:`_levels` chooses from these events."""
    given = levels or {}
    found = _levels(engine, events, cond, [r for r in ("category", "channel") if r in has and r not in given],
                    max_levels, never=never_levels)
    columns: dict[str, list[tuple[str, str | None]]] = {}
    chosen_levels: dict[str, tuple[str, ...]] = {}
    specs: list[FeatureSpec] = []
    skipped: dict[str, str] = {}
    for role, prefix, what in _SHARE_ROLES:
        if role not in has:
            skipped[f"{prefix}__*"] = f"no {role} column in the events"
            continue
        chosen, n_all = (tuple(given[role]), 0) if role in given else (found[role].chosen, found[role].n_all)
        if not chosen:
            skipped[f"{prefix}__*"] = f"the {role} column is empty"
            continue
        chosen_levels[role] = chosen
        cols: list[tuple[str, str | None]] = list(_level_columns(prefix, chosen))
        if n_all > len(chosen) or role in given:
            cols.append((f"{prefix}__other", None))
        columns[role] = cols
        for col, level in cols:
            shown = "other" if level is None else level
            specs.append(FeatureSpec(col, "share", f"share of {what} on {shown}" if role == "category"
                                     else f"share of orders via {shown}", role, "orders"))
    category_choice = found["category"].choice if "category" in found else None
    return _ShareColumns(columns, chosen_levels, specs, skipped, category_choice)


def _level_condition(role: str, level: str | None, columns: Sequence[tuple[str, str | None]]) -> str:
    """SQL: the event belongs to this share column's level (``None``: to none of the named)."""
    if level is not None:
        return f"{role} = {literal(level)}"
    named = [lvl for _, lvl in columns if lvl is not None]
    return f"({role} IS NULL OR {role} NOT IN ({', '.join(literal(x) for x in named)}))"


def _category_shares(columns: Sequence[tuple[str, str | None]], cond: _EventConditions, *,
                     over_orders: bool) -> str:
    """Aggregates of share of spend per category column (``""`` without any).

    ``over_orders``: in ``ord``, over the orders, when each is one purchase line with its
    own category (:func:`_orders_select`); else in ``act``, over every event. The orders
    are a third of the events or less: at 20 million events, summing over them saves a
    quarter of the feature query. Grouping several lines' spend per category into their
    order first costs more than it saves (measured), so receipts keep the events' path.
    The sums are exact (:func:`segmentkit.sqltext.exact_sum`): both give the same shares.
    """
    # orders are purchases already; events are purchases when they say so
    amount, purchases = ("amt", "") if over_orders else (cond.weight, cond.is_purchase)
    spend = cond.sum(amount, purchases)
    parts = [f"{cond.sum(amount, ' AND '.join(filter(None, [purchases, _level_condition('category', lvl, columns)])))}"
             f" / nullif({spend}, 0) AS {col}" for col, lvl in columns]
    return ", " + ", ".join(parts) if parts else ""


def _channel_shares(columns: Sequence[tuple[str, str | None]]) -> str:
    """The ``ord`` aggregates: share of orders per channel column (``""`` without any)."""
    parts = [f"CAST(count(*) FILTER (WHERE {_level_condition('channel', lvl, columns)}) AS DOUBLE) / count(*) AS {col}"
             for col, lvl in columns]
    return ", " + ", ".join(parts) if parts else ""


def _order_key(engine: SqlEngine, has: set[str]) -> str:
    """SQL: a 64-bit key per order, from the order id or, without one, the purchase row."""
    # a purchase row without an order id is an order of its own; rows are distinct after
    # loading, so a hash of the row is a key (no row_number(): it would serialise the scan)
    row_cols = ", ".join(["event_time"] + [r for r in ("amount", "quantity", "category", "channel",
                                                        "discount", "product_id") if r in has])
    # keys are 64-bit hashes: cheaper to group and sort than text (collisions ~ 1e-8 here)
    row_key = engine.hash64(f"{row_cols}, 'row'")
    # (not coalesce(hash(order_id), ...): DuckDB's hash(NULL) is a value, not NULL)
    return (f"CASE WHEN order_id IS NOT NULL THEN {engine.hash64('order_id')} ELSE {row_key} END"
            if "order_id" in has else row_key)


def _orders_select(has: set[str], lines_unique: bool, cond: _EventConditions) -> str:
    """The ``orders`` CTE's SELECT: one row per order from the purchase ``lines``."""
    # an export with one row per order (the usual case) needs no grouping of lines
    if lines_unique:
        return ("SELECT customer_id, oid, event_time AS t, amt, coalesce(quantity, 0) AS qty, "
                "coalesce(discount, 0) AS disc, channel, category FROM lines")
    qty = cond.sum("coalesce(quantity, 0)") if "quantity" in has else "0"
    disc = "max(coalesce(discount, 0))" if "discount" in has else "0"
    chan = "min(channel)" if "channel" in has else "NULL"
    return (f"SELECT customer_id, oid, min(event_time) AS t, {cond.sum('amt')} AS amt, {qty} AS qty, "
            f"{disc} AS disc, {chan} AS channel FROM lines GROUP BY customer_id, oid")


def _days(engine: SqlEngine, later: str, earlier: str) -> str:
    """SQL: the days between two timestamps, with fractions."""
    return f"({engine.seconds(later, earlier)} / 86400.0)"


def _lines_cte(engine: SqlEngine, has: set[str], cond: _EventConditions) -> str:
    """The ``lines`` CTE: purchase rows with their order key and amount."""
    return f"""    lines AS (
        SELECT customer_id, {_order_key(engine, has)} AS oid, event_time, {cond.weight} AS amt,
               {"quantity" if "quantity" in has else "NULL"} AS quantity,
               {"discount" if "discount" in has else "NULL"} AS discount,
               {"channel" if "channel" in has else "NULL"} AS channel,
               {"category" if "category" in has else "NULL"} AS category
        FROM ev WHERE {cond.is_purchase}
    )"""


def _order_features_cte(engine: SqlEngine, cond: _EventConditions, window_start: Any, snapshot_date: dt.date,
                        channel_columns: Sequence[tuple[str, str | None]],
                        category_columns: Sequence[tuple[str, str | None]]) -> str:
    """The ``ord`` CTE: per customer, what their orders show (count, spend, gaps, months,
    trend between the window's halves, peak quarter, channel shares, and the given
    category shares of spend)."""
    start = pd.Timestamp(window_start)
    mid = f"TIMESTAMP '{(start + (pd.Timestamp(snapshot_date) - start) / 2).isoformat(sep=' ')}'"  # the window's middle
    first_month = start.year * 12 + start.month
    months = engine.months("t", first_month, snapshot_date.year * 12 + snapshot_date.month - first_month)
    # gaps in whole microseconds (integers): their sums, and so the mean and the spread, are
    # exact in any order of the rows (see segmentkit.sqltext.exact_sum); the spread from
    # n·Σg² − (Σg)², which the 38 digits hold (Σg is at most the history's span)
    big = "CAST(g AS DECIMAL(38, 0))"
    day = 86_400_000_000
    return f"""    ord AS (
        SELECT customer_id, count(*) AS n_orders, max(t) AS last_t, {cond.sum("amt")} AS gross,
               {cond.sum("qty")} AS qty, avg(disc) AS disc,
               CAST(sum({big}) AS DOUBLE) / count(g) / {day} AS gap_mean,
               CASE WHEN count(g) > 1 THEN sqrt(greatest(CAST(count(g) * sum({big} * g) - sum({big}) * sum({big})
                    AS DOUBLE), 0) / (count(g) * (count(g) - 1.0))) / {day} END AS gap_sd,
               {months} AS active_months,
               coalesce({cond.sum("amt", f"t >= {mid}")}, 0) AS recent,
               coalesce({cond.sum("amt", f"t < {mid}")}, 0) AS earlier,
               greatest(coalesce({cond.sum("amt", "quarter(t) = 1")}, 0),
                        coalesce({cond.sum("amt", "quarter(t) = 2")}, 0),
                        coalesce({cond.sum("amt", "quarter(t) = 3")}, 0),
                        coalesce({cond.sum("amt", "quarter(t) = 4")}, 0)) AS peak
               {_channel_shares(channel_columns)}
               {_category_shares(category_columns, cond, over_orders=True)}
        FROM (SELECT *, {engine.micros("t", "lag(t) OVER (PARTITION BY customer_id ORDER BY t)")} AS g
              FROM orders) AS o GROUP BY customer_id
    )"""


def _activity_cte(cond: _EventConditions, category_columns: Sequence[tuple[str, str | None]]) -> str:
    """The ``act`` CTE: per customer, all their events (first seen, views, carts, returns,
    and the given category shares of spend)."""
    return f"""    act AS (
        SELECT customer_id, min(event_time) AS first_t,
               count(*) FILTER (WHERE event_type = 'view') AS n_views,
               count(*) FILTER (WHERE event_type = 'cart') AS n_carts,
               coalesce({cond.sum(f"abs({cond.weight})", cond.is_return)}, 0) AS ret_amt,
               count(*) FILTER (WHERE {cond.is_return}) AS ret_n
               {_category_shares(category_columns, cond, over_orders=False)}
        FROM ev GROUP BY customer_id
    )"""


def _features_select(engine: SqlEngine, cond: _EventConditions, window_start: Any, has_amount: bool,
                     columns: dict[str, list[tuple[str, str | None]]], shares_from: str) -> str:
    """The final SELECT: the features of :data:`_BASE` and the share columns from ``act``
    and ``ord`` (the category shares from ``shares_from``, see :func:`_category_shares`),
    one row per customer with events."""
    snap = cond.snap
    ws = f"TIMESTAMP '{pd.Timestamp(window_start).isoformat(sep=' ')}'"
    return f"""    SELECT act.customer_id AS customer_id,
        coalesce({_days(engine, snap, "ord.last_t")}, {_days(engine, snap, ws)}) AS recency_days,
        CAST(coalesce(ord.n_orders, 0) AS DOUBLE) AS orders,
        coalesce(ord.gross, 0) - act.ret_amt AS monetary,
        coalesce(ord.gross / nullif(ord.n_orders, 0), 0) AS avg_order_value,
        CAST(coalesce(ord.qty / nullif(ord.n_orders, 0), 0) AS DOUBLE) AS basket_size,
        {_days(engine, snap, "act.first_t")} AS tenure_days,
        ord.gap_mean AS gap_mean_days,
        CASE WHEN ord.n_orders >= 3 THEN coalesce(ord.gap_sd / nullif(ord.gap_mean, 0), 0) END AS gap_cv,
        CASE WHEN ord.n_orders >= 2 THEN coalesce((ord.recent - ord.earlier) / nullif(ord.recent + ord.earlier, 0), 0) END AS spend_trend,
        CAST(coalesce(ord.active_months, 0) AS DOUBLE) AS active_months,
        CASE WHEN ord.n_orders >= 2 THEN coalesce(ord.peak / nullif(ord.gross, 0), 0) END AS peak_quarter_share,
        CAST(coalesce(ord.disc, 0) AS DOUBLE) AS discount_share,
        coalesce({"act.ret_amt / nullif(ord.gross, 0)" if has_amount else "act.ret_n / nullif(ord.n_orders, 0)"}, 0) AS return_rate,
        act.n_views / CAST(greatest(coalesce(ord.n_orders, 0), 1) AS DOUBLE) AS views_per_order,
        CASE WHEN act.n_carts > 0
             THEN CAST(greatest(act.n_carts - coalesce(ord.n_orders, 0), 0) AS DOUBLE) / act.n_carts
             ELSE 0 END AS cart_abandonment
        {"".join(f", coalesce({shares_from}.{c}, 0) AS {c}" for c, _ in columns.get("category", []))}
        {"".join(f", coalesce(ord.{c}, 0) AS {c}" for c, _ in columns.get("channel", []))}
    FROM act LEFT JOIN ord USING (customer_id)"""


def feature_query(
    engine: SqlEngine,
    events: str,
    roles: Sequence[str],
    *,
    snapshot_date: dt.date | None = None,
    levels: dict[str, Sequence[str]] | None = None,
    max_levels: int = 8,
    never_levels: Sequence[str] = (),
) -> FeatureQuery:
    """The feature SQL of :func:`customer_features` (same parameters), not yet run: the
    counts over the events and the levels are taken, the per-customer rows are not. For an
    engine whose result stays where it is (Spark, in :mod:`segmentkit.spark.assign`)."""
    roles = tuple(roles)
    has = set(roles)
    outside, in_range = _time_range(engine, events, _USABLE)
    usable = _USABLE + in_range
    if snapshot_date is None:
        snapshot_date = _snapshot(engine, events, usable)
    cond = _event_conditions(engine, events, has, usable, snapshot_date)
    scan = _scan_events(engine, events, roles, usable, cond.in_window, cond.snap, cond.raw_return,
                        cond.raw_purchase)
    quality = scan.quality
    quality["events_outside_time_range"] = outside
    if scan.n_usable == 0:
        raise _why_no_usable_events(engine, events, usable, cond.snap, "event_type" in has, snapshot_date)
    specs, skipped = _base_specs(has)
    cond = replace(cond, bounded=scan.sums_fit_doubles)
    shares = _share_columns(engine, events, cond, has, levels, max_levels, never_levels)
    # the category shares of spend: over the orders when each is one line (_category_shares)
    categories, over_orders = shares.columns.get("category", []), scan.order_lines_unique

    def select(c: _EventConditions) -> str:
        return "\n".join([
            f"\n    WITH {c.ev_cte},",
            _lines_cte(engine, has, c) + ",",
            f"    orders AS ({_orders_select(has, scan.order_lines_unique, c)}),",
            _order_features_cte(engine, c, scan.window_start, snapshot_date, shares.columns.get("channel", []),
                                categories if over_orders else []) + ",",
            _activity_cte(c, [] if over_orders else categories),
            _features_select(engine, c, scan.window_start, "amount" in has, shares.columns,
                             "ord" if over_orders else "act"),
            "    ",
        ])

    return FeatureQuery(sql=select(cond), specs=tuple(specs + shares.specs), skipped={**skipped, **shares.skipped},
                        snapshot_date=snapshot_date, levels=shares.levels, data_quality=quality,
                        value_column="monetary" if "amount" in has else "orders",
                        category_levels=shares.category_choice,
                        portable_sql=select(replace(cond, bounded=False)) if cond.bounded else "")
