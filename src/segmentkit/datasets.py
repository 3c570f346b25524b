"""A synthetic retail CRM with planted behavioral segments that cut across personas.

:func:`make_demo` builds three tables: ``customers`` (demographics, one row per
customer), ``events`` (views, carts, purchases and returns) and ``truth`` (the planted
behavioral segment of every customer). It is the data of ``segmentkit demo`` and the
ground truth of many tests, so the structure is clear, but the data look real: per
customer noise on every rate and mix, overlap at the edges of segments, heavy-tailed
order values and a few odd rows.

Planted segments
----------------
Behavior depends **only** on the segment; demographics depend **only** on the persona.

== ======================= =================================================================
#  segment                 behavior (default activity, ``years=2``)
== ======================= =================================================================
0  Weekly regulars         an order every ~9 days over the whole window (~80 orders in 2
                           years), moderate order value (~40), grocery/home, app, ~8 %
                           discounted orders, few views per order (~0.15)
1  Discount hunters        an order every ~25 days, ~80 % of orders discounted (the others
                           ~10-20 %), fashion/beauty, web
2  Window shoppers         1-3 purchases in total, ~35 views and ~10 carts, so cart
                           abandonment is high (~85 %); web/app
3  Seasonal gift buyers    1 + Poisson(0.7) orders in every Nov-Dec, few others (Q4 ~95 %),
                           toys/electronics, store + web
4  Lapsed occasional       1-4 orders, all in the first third of the window (~8 months
                           when ``years=2``) and fading out, nothing since; mixed everyday
                           categories, web/app
5  High-value connoisseurs an order every ~19 days, order value ~5x the others,
                           electronics/home; drawn from every persona alike and given ~0.3x
                           the persona's usual ``marketing_touches`` (under-served)
== ======================= =================================================================

Persona x segment design
------------------------
Shares of each persona (rows sum to 1; the last column is the persona's share of all
customers). The high-value segment takes 11 % of every persona, so its make-up follows
the persona sizes (no persona above 25 % of it).

=================== ======= ======= ======= ======= ======= ======= ========
persona             0 WR    1 DH    2 WS    3 SG    4 LO    5 HV    persona%
=================== ======= ======= ======= ======= ======= ======= ========
Urban Millennials   0.02    0.45    0.36    0.03    0.03    0.11    0.25
Suburban Families   0.40    0.02    0.02    0.42    0.03    0.11    0.22
Young Professionals 0.75    0.04    0.04    0.03    0.03    0.11    0.10
Empty Nesters       0.03    0.03    0.03    0.05    0.75    0.11    0.22
Retirees            0.03    0.02    0.02    0.06    0.76    0.11    0.21
segment share       0.181   0.132   0.109   0.127   0.342   0.110
=================== ======= ======= ======= ======= ======= ======= ========

* **Splits** (exactly two): Urban Millennials -> Discount hunters + Window shoppers;
  Suburban Families -> Weekly regulars + Seasonal gift buyers (each part >= 30 % of the
  persona; every other persona has one segment above 70 % and nothing else above 11 %).
* **Merges**: Lapsed occasional draws ~48 % from Empty Nesters and ~47 % from Retirees;
  Weekly regulars draws ~49 % from Suburban Families and ~41 % from Young Professionals.
* **Not dominated**: High-value connoisseurs, spread over all five personas.

Personas set age, gender, region, income band and the usual ``marketing_touches``
(Poisson: 14, 12, 11, 9, 8 a year for the rows above), so two segments inside one
persona are demographic lookalikes.

Realism
-------
* ~1.5 % of customers have no events at all (``truth.has_events`` is False for them;
  they keep the segment they were drawn with, but nothing of it shows).
* ~0.2 % of event rows are exact duplicates of another row (a double-logged event).
* ~0.1 % of event rows belong to a handful of customer ids that are not in
  ``customers`` (orphans; their purchases have order ids of their own).
* Order values are log-normal per order and per customer, with ~0.05 % of orders
  8-20x larger (bulk orders). Returns are full or partial, 2-30 days after the order,
  with the same ``order_id`` and a negative amount.
* Everything lies in the ``years`` years ending on 2026-06-30 (inclusive), whatever
  today's date is; ``snapshot_date`` is the day after the last event.

Size
----
With ``events_per_customer=None`` the activity is the one above: ~49 event rows per
customer on average (the weekly regulars alone make ~20 of them: ~80 orders each).
Give ``events_per_customer`` to rescale: the order frequencies of segments 0, 1, 5 are
multiplied by a factor ``s`` solved from the expected counts, and the views and carts
that do not follow an order by ``sqrt(s)`` (so window shoppers stay browsers).
``len(events) / n_customers`` then lands within ~1 % of the request for targets of 10
or more (~10 % at 5; the tests allow 10 %). The purchase counts of segments 2, 3, 4 do
not scale (they define those segments), so requests below ~6 rows per customer are not
met (the floor is ~5.5). Scaling down blurs the segments (at 20 rows per customer the
weekly regulars order every ~3 weeks): k-means on simple per-customer features recovers
the planted segments with ARI ~0.95 at the default, ~0.93 at 20 and ~0.84 at 10.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "DemoData",
    "END_DATE",
    "EVENT_TYPES",
    "PERSONAS",
    "PERSONA_SEGMENT_SHARES",
    "PERSONA_SHARES",
    "PLANTED_SEGMENTS",
    "REGIONS",
    "make_demo",
    "write_demo",
]

PLANTED_SEGMENTS: tuple[str, ...] = (
    "Weekly regulars",
    "Discount hunters",
    "Window shoppers",
    "Seasonal gift buyers",
    "Lapsed occasional",
    "High-value connoisseurs",
)
PERSONAS: tuple[str, ...] = (
    "Urban Millennials",
    "Suburban Families",
    "Young Professionals",
    "Empty Nesters",
    "Retirees",
)
CATEGORIES: tuple[str, ...] = ("grocery", "home", "electronics", "fashion", "beauty", "toys")
CHANNELS: tuple[str, ...] = ("web", "app", "store")
EVENT_TYPES: tuple[str, ...] = ("view", "cart", "purchase", "return")
REGIONS: tuple[str, ...] = ("Capital", "North", "South", "East", "West")
END_DATE: datetime.date = datetime.date(2026, 6, 30)

#: Share of each planted segment (columns, in PLANTED_SEGMENTS order) within each persona
#: (rows, in PERSONAS order); the design table of the module docstring.
PERSONA_SEGMENT_SHARES: tuple[tuple[float, ...], ...] = (
    (0.02, 0.45, 0.36, 0.03, 0.03, 0.11),
    (0.40, 0.02, 0.02, 0.42, 0.03, 0.11),
    (0.75, 0.04, 0.04, 0.03, 0.03, 0.11),
    (0.03, 0.03, 0.03, 0.05, 0.75, 0.11),
    (0.03, 0.02, 0.02, 0.06, 0.76, 0.11),
)
#: Share of each persona (PERSONAS order) among all customers.
PERSONA_SHARES: tuple[float, ...] = (0.25, 0.22, 0.10, 0.22, 0.21)

# --- persona demographics: age mean, sd, min, max; gender F/M/X; region; income; touches
_AGE = ((29, 4.0, 19, 42), (41, 6.0, 28, 60), (32, 4.5, 23, 48), (59, 5.0, 48, 70),
        (72, 5.5, 64, 94))
_GENDERS = ("F", "M", "X")
_GENDER_P = ((0.49, 0.45, 0.06), (0.52, 0.46, 0.02), (0.47, 0.49, 0.04),
             (0.53, 0.46, 0.01), (0.56, 0.43, 0.01))
_REGION_P = ((0.55, 0.12, 0.11, 0.11, 0.11), (0.12, 0.24, 0.22, 0.20, 0.22),
             (0.50, 0.14, 0.12, 0.12, 0.12), (0.15, 0.22, 0.20, 0.23, 0.20),
             (0.10, 0.18, 0.34, 0.18, 0.20))
_INCOMES = ("low", "middle", "high")
_INCOME_P = ((0.45, 0.45, 0.10), (0.20, 0.60, 0.20), (0.08, 0.42, 0.50),
             (0.20, 0.45, 0.35), (0.35, 0.50, 0.15))
_TOUCHES = (14.0, 12.0, 11.0, 9.0, 8.0)
_HV_TOUCH_FACTOR = 0.3

# --- segment behavior, one entry per planted segment (PLANTED_SEGMENTS order)
# interval: mean days between orders for steady buyers (nan: count-based segment)
_INTERVAL = (8.5, 24.0, np.nan, np.nan, np.nan, 19.0)
_JITTER = (0.2, 0.35, 0.0, 0.0, 0.0, 0.3)  # sd of order time around its slot, x interval
_SKIP = (0.08, 0.10, 0.0, 0.0, 0.0, 0.08)  # share of slots without an order
_AOV = (40.0, 52.0, 58.0, 70.0, 50.0, 230.0)  # median order value before category factor
_DISC_AB = ((1.0, 12.0), (9.0, 2.2), (1.5, 10.0), (2.0, 10.0), (1.0, 9.0), (1.2, 10.0))
_CAT_P = (
    (0.55, 0.25, 0.04, 0.06, 0.07, 0.03),
    (0.05, 0.07, 0.05, 0.45, 0.33, 0.05),
    (0.10, 0.20, 0.20, 0.25, 0.15, 0.10),
    (0.03, 0.08, 0.40, 0.03, 0.03, 0.43),
    (0.28, 0.27, 0.04, 0.24, 0.13, 0.04),
    (0.05, 0.38, 0.45, 0.05, 0.04, 0.03),
)
_CHAN_P = (
    (0.20, 0.70, 0.10),
    (0.72, 0.20, 0.08),
    (0.55, 0.42, 0.03),
    (0.40, 0.05, 0.55),
    (0.50, 0.42, 0.08),
    (0.45, 0.25, 0.30),
)
_VIEWS_PER_ORDER = (0.15, 0.8, 0.0, 1.5, 1.5, 0.5)
_VIEWS_BASE = (1.0, 4.0, 35.0, 3.0, 1.5, 3.0)  # views not tied to the number of orders
_P_CART = (0.25, 0.6, 0.7, 0.4, 0.5, 0.5)  # an online order has a cart event before it
_ABANDON_PER_ORDER = (0.03, 0.2, 0.0, 0.2, 0.3, 0.1)
_CART_BASE = (0.5, 1.5, 10.0, 0.5, 0.3, 1.0)
_RETURN_P = (0.02, 0.08, 0.05, 0.06, 0.05, 0.04)
_WS_ORDERS_P = (0.5, 0.35, 0.15)  # 1, 2, 3 purchases
_LO_ORDERS_P = (0.15, 0.30, 0.30, 0.25)  # 1..4 purchases
_SG_PER_SEASON = 1.7
_SG_OFF_PER_YEAR = 0.12
# --- category effects
_CAT_PRICE = (0.75, 1.1, 1.5, 1.0, 0.8, 0.9)
_CAT_QTY = (2.5, 0.4, 0.1, 0.5, 0.6, 0.4)  # quantity = 1 + Poisson(this)
_CAT_RETURN = (0.3, 0.8, 1.0, 1.8, 0.9, 0.8)  # relative return propensity

_NO_EVENTS_SHARE = 0.015
_DUPLICATE_SHARE = 0.002
_ORPHAN_SHARE = 0.001
_BULK_SHARE = 0.0005
_STEADY = (0, 1, 5)
_DAY = 86_400
#: Floor of a Dirichlet row's gamma draws.
_MIN_GAMMA = 1e-12
#: The activity scale solves for its square root within this range (scale 0.01 to 64).
_SCALE_ROOT_RANGE = (0.1, 8.0)
#: No signup before this day.
_EARLIEST_SIGNUP = "2012-01-01"


@dataclass(frozen=True)
class DemoData:
    """The demo CRM: what :func:`make_demo` returns.

    Attributes
    ----------
    customers : pandas.DataFrame
        One row per customer: ``customer_id``, ``age``, ``gender``, ``region``,
        ``income_band``, ``persona``, ``marketing_touches``, ``signup_date``.
    events : pandas.DataFrame
        One row per event: ``customer_id``, ``event_time``, ``event_type``, ``order_id``,
        ``amount``, ``quantity``, ``category``, ``channel``, ``discount_used``; sorted by
        time. Contains duplicates and orphans on purpose (see the module docstring).
    truth : pandas.DataFrame
        ``customer_id``, ``segment`` (0..5), ``segment_name``, ``persona``, ``has_events``,
        one row per customer, in the order of ``customers``.
    snapshot_date : datetime.date
        The day after the last event.
    """

    customers: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    snapshot_date: datetime.date


def _pick(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category index per entry of ``rows`` from ``probs[rows]`` (vectorized)."""
    cum = np.cumsum(probs, axis=1)[rows, :-1]
    u = rng.random(len(rows))
    return (u[:, None] >= cum).sum(axis=1)


def _dirichlet_rows(rng: np.random.Generator, mean: np.ndarray, concentration: float
                    ) -> np.ndarray:
    """One Dirichlet draw per row of ``mean`` (rows sum to 1)."""
    g = rng.gamma(mean * concentration)
    g = np.maximum(g, _MIN_GAMMA)  # a zero draw in every column would divide 0 by 0
    return g / g.sum(axis=1, keepdims=True)


def _group_arange(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for every count c, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fraction of a day, peaking at lunch time and in the evening."""
    hours = np.where(rng.random(size) < 0.45, rng.normal(12.5, 2.5, size),
                     rng.normal(20.0, 2.0, size))
    return np.mod(hours, 24.0) / 24.0


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids, e.g. ``C000123``, as an Arrow array."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)),
                                  pa.large_string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix, pa.large_string()), digits,
                                       pa.scalar("", pa.large_string()))


def _strings(labels: pa.Array | tuple[str, ...], codes: np.ndarray,
             missing: np.ndarray | None = None) -> pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as a pandas ``str`` array (missing where ``missing``)."""
    dictionary = (labels.cast(pa.large_string()) if isinstance(labels, pa.Array)
                  else pa.array(labels, type=pa.large_string()))
    taken = dictionary.take(pa.array(np.asarray(codes, dtype=np.int64), mask=missing))
    return pd.array(taken, dtype="str")


def _seasons(start: np.datetime64, n_days: int) -> list[tuple[float, float]]:
    """Nov 1 - Dec 31 periods fully inside the window, as day offsets from ``start``."""
    first = int(str(start)[:4])
    last = first + n_days // 365 + 1
    out = []
    for year in range(first, last + 1):
        lo = (np.datetime64(f"{year}-11-01") - start).astype(int)
        hi = (np.datetime64(f"{year + 1}-01-01") - start).astype(int)
        if lo >= 0 and hi <= n_days:
            out.append((float(lo), float(hi)))
    return out


def make_demo(n_customers: int = 5000, *, seed: int = 0, years: int = 2,
              events_per_customer: float | None = None) -> DemoData:
    """Generate the demo CRM with six planted behavioral segments.

    Parameters
    ----------
    n_customers : int, default 5000
        Customers in ``customers`` (orphan events add a few ids that are not there).
    seed : int, default 0
        Seed of the one :class:`numpy.random.Generator` behind every random step; the
        same arguments give identical frames.
    years : int, default 2
        Length of the window, ending on :data:`END_DATE` (2026-06-30, inclusive).
    events_per_customer : float, optional
        Target ``len(events) / n_customers``. ``None`` keeps the natural activity
        (~49 rows per customer). Reached within a few percent for targets >= ~6; see
        the module docstring for what is rescaled.

    Returns
    -------
    DemoData
        ``customers``, ``events``, ``truth`` and ``snapshot_date``.

    Examples
    --------
    >>> data = make_demo(500, seed=1)
    >>> sorted(data.truth["segment"].unique().tolist())
    [0, 1, 2, 3, 4, 5]
    """
    n = int(n_customers)
    if n < 1:
        raise ValueError(f"n_customers must be >= 1, got {n_customers}")
    if int(years) != years or years < 1:
        raise ValueError(f"years must be a positive integer, got {years}")
    if events_per_customer is not None and not events_per_customer > 0:
        raise ValueError(f"events_per_customer must be > 0, got {events_per_customer}")
    years = int(years)
    rng = np.random.default_rng(seed)  # one generator: every step below draws from it in turn

    end = np.datetime64(END_DATE, "D") + 1  # exclusive
    start = np.datetime64(f"{END_DATE.year - years}-{END_DATE.month:02d}-{END_DATE.day:02d}",
                          "D") + 1
    span = float((end - start).astype(int))  # window length in days

    people = _people(rng, n)
    b = _behaviour(rng, people.segment, people.has_events, _seasons(start, int(span)))
    scale = 1.0 if events_per_customer is None else _activity_scale(
        b, people.has_events, span, years, events_per_customer * n)
    o_cust, o_t = _order_times(rng, b, people.has_events, span, scale, years)
    orders = _order_attributes(rng, b, o_cust, o_t, n)
    browsing = _browsing(rng, b, people.has_events, orders, span, scale)
    returns = _returns(rng, b, orders, span)
    events, ev_cust, ev_days, cust_ids = _event_table(rng, orders, browsing, returns, n, start, span)
    customers, truth = _customer_tables(rng, people, ev_cust, ev_days, cust_ids, start, span)
    last = events["event_time"].max() if len(events) else pd.Timestamp(start)
    snapshot = (last.normalize() + pd.Timedelta(days=1)).date()
    return DemoData(customers=customers, events=events, truth=truth, snapshot_date=snapshot)


@dataclass(frozen=True)
class _People:
    """Who the customers are: persona, planted segment, whether they have events, and
    their demographics and marketing touches."""

    persona: np.ndarray
    segment: np.ndarray
    has_events: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    region: np.ndarray
    income: np.ndarray
    touches: np.ndarray


def _people(rng: np.random.Generator, n: int) -> _People:
    persona = _pick(rng, np.array([PERSONA_SHARES]), np.zeros(n, dtype=int))
    segment = _pick(rng, np.array(PERSONA_SEGMENT_SHARES), persona)
    has_events = np.ones(n, dtype=bool)
    n_empty = int(round(_NO_EVENTS_SHARE * n))
    has_events[rng.choice(n, size=n_empty, replace=False)] = False

    age_p = np.array(_AGE)[persona]
    age = np.clip(np.rint(rng.normal(age_p[:, 0], age_p[:, 1])), age_p[:, 2], age_p[:, 3])
    gender = _pick(rng, np.array(_GENDER_P), persona)
    region = _pick(rng, np.array(_REGION_P), persona)
    income = _pick(rng, np.array(_INCOME_P), persona)
    touch_rate = np.array(_TOUCHES)[persona] * np.where(segment == 5, _HV_TOUCH_FACTOR, 1.0)
    touches = rng.poisson(touch_rate)
    return _People(persona, segment, has_events, age, gender, region, income, touches)


@dataclass(frozen=True)
class _Behaviour:
    """Each customer's habits, drawn around their planted segment's."""

    segment: np.ndarray
    interval: np.ndarray  # days between orders of steady buyers
    aov: np.ndarray  # median order value
    disc_p: np.ndarray  # probability an order uses a discount
    cat_p: np.ndarray  # category mix, customers x categories
    chan_p: np.ndarray  # channel mix, customers x channels
    views_base: np.ndarray  # views not tied to orders
    cart_base: np.ndarray  # abandoned carts not tied to orders
    vpo: np.ndarray  # views per order
    p_cart: np.ndarray  # an online order has a cart event before it
    apo: np.ndarray  # abandoned carts per order
    ret_p: np.ndarray  # return probability before the category factor
    steady: np.ndarray  # buys on a rhythm (segments in _STEADY)
    seasons: list[tuple[float, float]]

    def of_segment(self, values: tuple[float, ...]) -> np.ndarray:
        """A per-segment parameter, per customer."""
        return np.asarray(values, dtype=float)[self.segment]


def _behaviour(rng: np.random.Generator, segment: np.ndarray, has_events: np.ndarray,
               seasons: list[tuple[float, float]]) -> _Behaviour:
    n = len(segment)

    def seg_f(values: tuple[float, ...]) -> np.ndarray:
        return np.asarray(values, dtype=float)[segment]

    interval = seg_f(_INTERVAL) * np.exp(rng.normal(0.0, 0.15, n))
    aov = seg_f(_AOV) * np.exp(rng.normal(0.0, 0.25, n))
    disc_ab = np.array(_DISC_AB)[segment]
    disc_p = rng.beta(disc_ab[:, 0], disc_ab[:, 1])
    cat_p = _dirichlet_rows(rng, np.array(_CAT_P)[segment], 25.0)
    chan_p = _dirichlet_rows(rng, np.array(_CHAN_P)[segment], 15.0)
    view_spread = np.exp(rng.normal(0.0, 0.35, n))
    return _Behaviour(
        segment=segment, interval=interval, aov=aov, disc_p=disc_p, cat_p=cat_p, chan_p=chan_p,
        views_base=seg_f(_VIEWS_BASE) * view_spread, cart_base=seg_f(_CART_BASE) * view_spread,
        vpo=seg_f(_VIEWS_PER_ORDER), p_cart=seg_f(_P_CART), apo=seg_f(_ABANDON_PER_ORDER),
        ret_p=seg_f(_RETURN_P), steady=np.isin(segment, _STEADY) & has_events, seasons=seasons,
    )


def _activity_scale(b: _Behaviour, has_events: np.ndarray, span: float, years: int, target_rows: float) -> float:
    """The factor on order rates that brings the expected rows to ``target_rows``."""
    segment = b.segment
    online = 1.0 - b.chan_p[:, 2]
    ret_e = b.ret_p * (b.cat_p @ np.array(_CAT_RETURN))
    per_order = 1.0 + b.vpo + b.p_cart * online + b.apo + ret_e
    fixed_orders = np.select(
        [segment == 2, segment == 3, segment == 4],
        [np.dot(_WS_ORDERS_P, [1, 2, 3]),
         len(b.seasons) * _SG_PER_SEASON + _SG_OFF_PER_YEAR * years,
         np.dot(_LO_ORDERS_P, [1, 2, 3, 4])], 0.0)
    steady_orders = np.where(b.steady, span * (1.0 - b.of_segment(_SKIP)) / b.interval, 0.0)
    live = has_events.astype(float)
    # expected rows: a + b1 * scale + b2 * sqrt(scale); solve for x = sqrt(scale)
    a = np.sum(live * fixed_orders * per_order)
    b1 = np.sum(live * steady_orders * per_order)
    b2 = np.sum(live * (b.views_base + b.cart_base))
    c = a - target_rows / (1.0 + _DUPLICATE_SHARE + _ORPHAN_SHARE)
    if b1 > 0:
        x = (-b2 + np.sqrt(max(b2 * b2 - 4.0 * b1 * c, 0.0))) / (2.0 * b1)
    else:
        x = -c / b2 if b2 > 0 else 1.0
    return float(np.clip(x, *_SCALE_ROOT_RANGE)) ** 2


def _order_times(rng: np.random.Generator, b: _Behaviour, has_events: np.ndarray, span: float, scale: float,
                 years: int) -> tuple[np.ndarray, np.ndarray]:
    """Customer and time (days into the window) of every order, by each segment's rhythm."""
    segment, seg_f = b.segment, b.of_segment
    # steady buyers: one slot every `interval` days, jittered, some slots skipped
    idx = np.flatnonzero(b.steady)
    d = b.interval[idx] / scale
    phase = rng.random(len(idx)) * d
    slots = np.floor((span - phase) / d).astype(int) + 1
    o_cust = np.repeat(idx, slots)
    k = _group_arange(slots)
    rep_d = np.repeat(d, slots)
    o_t = (np.repeat(phase, slots) + k * rep_d
           + rng.normal(0.0, 1.0, len(k)) * seg_f(_JITTER)[o_cust] * rep_d)
    keep = (rng.random(len(k)) >= seg_f(_SKIP)[o_cust]) & (o_t >= 0) & (o_t < span)
    parts_c, parts_t = [o_cust[keep]], [np.floor(o_t[keep])]

    # window shoppers: 1-3 purchases anywhere in the window
    idx = np.flatnonzero((segment == 2) & has_events)
    cnt = 1 + _pick(rng, np.array([_WS_ORDERS_P]), np.zeros(len(idx), dtype=int))
    parts_c.append(np.repeat(idx, cnt))
    parts_t.append(np.floor(rng.random(int(cnt.sum())) * span))

    # seasonal gift buyers: 1 + Poisson(0.7) orders in every Nov-Dec, skewed towards
    # December, and a few orders at other times
    idx = np.flatnonzero((segment == 3) & has_events)
    for lo, hi in b.seasons:
        cnt = 1 + rng.poisson(_SG_PER_SEASON - 1.0, len(idx))
        parts_c.append(np.repeat(idx, cnt))
        parts_t.append(np.floor(lo + rng.beta(2.2, 1.4, int(cnt.sum())) * (hi - lo - 6)))
    cnt = rng.poisson(_SG_OFF_PER_YEAR * years, len(idx))
    parts_c.append(np.repeat(idx, cnt))
    parts_t.append(np.floor(rng.random(int(cnt.sum())) * span))

    # lapsed: 1-4 orders in the first third of the window, fading out, nothing since
    idx = np.flatnonzero((segment == 4) & has_events)
    cnt = 1 + _pick(rng, np.array([_LO_ORDERS_P]), np.zeros(len(idx), dtype=int))
    parts_c.append(np.repeat(idx, cnt))
    parts_t.append(np.floor(rng.beta(1.0, 1.6, int(cnt.sum())) * _lapse_end(span)))

    o_cust = np.concatenate(parts_c)
    o_t = np.concatenate(parts_t)
    return o_cust, o_t + _time_of_day(rng, len(o_t))


def _lapse_end(span: float) -> float:
    """Lapsed customers buy only in the first third of the window."""
    return float(np.floor(span / 3.0))


@dataclass(frozen=True)
class _Orders:
    cust: np.ndarray
    t: np.ndarray
    n_per_customer: np.ndarray
    cat: np.ndarray
    chan: np.ndarray
    disc: np.ndarray
    qty: np.ndarray
    amt: np.ndarray


def _order_attributes(rng: np.random.Generator, b: _Behaviour, o_cust: np.ndarray, o_t: np.ndarray,
                      n: int) -> _Orders:
    """Category, channel, discount, quantity and amount of every order (a few bulk orders)."""
    o_cat = _pick(rng, b.cat_p, o_cust)
    o_chan = _pick(rng, b.chan_p, o_cust)
    o_disc = rng.random(len(o_cust)) < b.disc_p[o_cust]
    o_qty = 1 + rng.poisson(np.array(_CAT_QTY)[o_cat])
    o_amt = (b.aov[o_cust] * np.array(_CAT_PRICE)[o_cat]
             * np.exp(rng.normal(0.0, 0.55, len(o_cust))))
    o_amt = o_amt * np.where(o_disc, 1.0 - rng.uniform(0.10, 0.35, len(o_cust)), 1.0)
    bulk = rng.random(len(o_cust)) < _BULK_SHARE
    o_amt = np.where(bulk, o_amt * rng.uniform(8.0, 20.0, len(o_cust)), o_amt)
    o_qty = np.where(bulk, o_qty * rng.integers(5, 20, len(o_cust)), o_qty)
    o_amt = np.round(np.maximum(o_amt, 0.99), 2)
    return _Orders(cust=o_cust, t=o_t, n_per_customer=np.bincount(o_cust, minlength=n), cat=o_cat,
                   chan=o_chan, disc=o_disc, qty=o_qty, amt=o_amt)


def _browsing(rng: np.random.Generator, b: _Behaviour, live: np.ndarray, o: _Orders, span: float,
              scale: float) -> dict[str, list[np.ndarray]]:
    """Views, abandoned carts and the cart event before an online order, as event columns
    (parts in the order views, abandoned carts, pre-order carts)."""
    n = len(live)
    # views and carts that do not follow orders scale more gently than order rates, so
    # window shoppers keep browsing a lot when activity is scaled down
    browse_scale = scale ** 0.5
    n_views = rng.poisson(np.where(live, b.vpo * o.n_per_customer + browse_scale * b.views_base, 0.0))
    online_order = o.chan != 2
    pre_cart = online_order & (rng.random(len(o.cust)) < b.p_cart[o.cust])
    n_aband = rng.poisson(np.where(live, b.apo * o.n_per_customer + browse_scale * b.cart_base, 0.0))

    # free-standing views and abandoned carts: 70 % shortly before one of the customer's
    # orders (same category), the rest anywhere in the customer's active window
    order_rank = np.argsort(o.cust, kind="stable")
    first_order = np.cumsum(o.n_per_customer) - o.n_per_customer
    active_hi = np.where(b.segment == 4, _lapse_end(span), span)

    def browse(counts: np.ndarray, lag_hours: float) -> tuple[np.ndarray, ...]:
        cust = np.repeat(np.arange(n), counts)
        m = len(cust)
        has_o = o.n_per_customer[cust] > 0
        near = has_o & (rng.random(m) < 0.7)
        slot = first_order[cust] + np.floor(rng.random(m) * o.n_per_customer[cust]).astype(int)
        pick = order_rank[np.where(has_o, slot, 0)] if len(o.t) else np.zeros(m, int)
        t_near = (o.t[pick] if len(o.t) else np.zeros(m)) - rng.exponential(
            lag_hours / 24.0, m)
        t_free = np.floor(rng.random(m) * active_hi[cust]) + _time_of_day(rng, m)
        t = np.where(near, t_near, t_free)
        cat = np.where(near, o.cat[pick] if len(o.t) else 0, _pick(rng, b.cat_p, cust))
        web = b.chan_p[:, 0] / (b.chan_p[:, 0] + b.chan_p[:, 1])
        chan = np.where(rng.random(m) < web[cust], 0, 1)
        return cust, t, cat, chan

    v_cust, v_t, v_cat, v_chan = browse(n_views, 6.0)
    a_cust, a_t, a_cat, a_chan = browse(n_aband, 3.0)
    a_qty = 1 + rng.poisson(0.3, len(a_cust))
    # the cart event just before an online order
    before = np.flatnonzero(pre_cart)
    c_t = o.t[before] - rng.exponential(0.25 / 24.0, len(before))
    nv, na, nc = len(v_cust), len(a_cust), len(before)
    return {
        "cust": [v_cust, a_cust, o.cust[before]],
        "t": [v_t, a_t, c_t],
        "type": [np.full(nv, 0), np.full(na, 1), np.full(nc, 1)],
        "order": [np.zeros(nv, np.int64), np.zeros(na, np.int64), np.zeros(nc, np.int64)],
        "amount": [np.full(nv, np.nan), np.full(na, np.nan), np.full(nc, np.nan)],
        "qty": [np.ones(nv, np.int64), a_qty, o.qty[before]],
        "cat": [v_cat, a_cat, o.cat[before]],
        "chan": [v_chan, a_chan, o.chan[before]],
        "disc": [np.zeros(nv, bool), np.zeros(na, bool), np.zeros(nc, bool)],
    }


def _returns(rng: np.random.Generator, b: _Behaviour, o: _Orders, span: float) -> dict[str, np.ndarray]:
    """Returns of part of an order, 2-30 days after it, inside the window; ``rows`` are
    the returned orders."""
    r_p = b.ret_p[o.cust] * np.array(_CAT_RETURN)[o.cat]
    r_t = o.t + rng.uniform(2.0, 30.0, len(o.cust))
    is_ret = (rng.random(len(o.cust)) < r_p) & (r_t < span)
    ri = np.flatnonzero(is_ret)
    r_qty = 1 + np.floor(rng.random(len(ri)) * o.qty[ri]).astype(int)
    return {"rows": ri, "t": r_t[ri], "qty": r_qty, "amt": -np.round(o.amt[ri] * r_qty / o.qty[ri], 2),
            "chan": np.where(rng.random(len(ri)) < 0.3, 2, o.chan[ri])}


def _event_table(rng: np.random.Generator, o: _Orders, browsing: dict[str, list[np.ndarray]],
                 r: dict[str, np.ndarray], n: int, start: np.datetime64, span: float,
                 ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pa.Array]:
    """The events as an export shows them: in time order, with a few exact duplicates and
    orphan ids; also each kept event's customer and day (for signup dates) and the id labels."""
    # order ids in time order
    order_no = np.empty(len(o.t), dtype=np.int64)
    order_no[np.lexsort((o.cust, o.t))] = np.arange(1, len(o.t) + 1)
    ri = r["rows"]
    own = {
        "cust": [o.cust, o.cust[ri]],
        "t": [o.t, r["t"]],
        "type": [np.full(len(o.cust), 2), np.full(len(ri), 3)],
        "order": [order_no, order_no[ri]],
        "amount": [o.amt, r["amt"]],
        "qty": [o.qty, r["qty"]],
        "cat": [o.cat, o.cat[ri]],
        "chan": [o.chan, r["chan"]],
        "disc": [o.disc, o.disc[ri]],
    }
    ev = {key: np.concatenate(browsing[key] + own[key]) for key in own}
    secs = np.floor(ev["t"] * _DAY).astype(np.int64)
    inside = (secs >= 0) & (secs < int(span) * _DAY)
    ev = {key: val[inside] for key, val in ev.items()}
    ev["t"] = secs[inside]
    n_rows = len(ev["t"])

    # exact duplicates (a double-logged event)
    dup = rng.choice(n_rows, size=int(round(_DUPLICATE_SHARE * n_rows)), replace=False)
    # orphans: views, carts and purchases of a few ids that are not in `customers`
    n_orph_ids = int(np.clip(n // 500, 3, 12))
    orph_ids = np.sort(rng.choice(np.arange(n + 1, n + 1 + 50 * n_orph_ids), n_orph_ids,
                                  replace=False))
    candidates = np.flatnonzero(ev["type"] != 3)
    orph = np.sort(rng.choice(candidates, size=min(len(candidates), max(
        n_orph_ids, int(round(_ORPHAN_SHARE * n_rows)))), replace=False))
    orph_cust = rng.integers(0, n_orph_ids, len(orph))
    orph_order = np.where(ev["type"][orph] == 2,
                          len(o.t) + 1 + np.arange(len(orph)), 0)

    width = max(6, len(str(n + 50 * n_orph_ids)))
    cust_ids = _ids("C", np.concatenate([np.arange(1, n + 1), orph_ids]), width)
    ev_cust = np.concatenate([ev["cust"], ev["cust"][dup], n + orph_cust])
    take = np.concatenate([np.arange(n_rows), dup, orph])
    ev_order = np.concatenate([ev["order"], ev["order"][dup], orph_order])

    # sort by time (then customer, type) like an export
    order = np.lexsort((ev["type"][take], ev_cust, ev["t"][take]))
    take, ev_cust, ev_order = take[order], ev_cust[order], ev_order[order]
    ow = max(7, len(str(int(ev_order.max()) if len(ev_order) else 0)))
    order_labels = _ids("O", np.arange(1, int(ev_order.max(initial=0)) + 1), ow)

    t0 = start.astype("datetime64[s]").astype(np.int64)
    events = pd.DataFrame({
        "customer_id": _strings(cust_ids, ev_cust),
        "event_time": pd.to_datetime(t0 + ev["t"][take], unit="s").as_unit("us"),
        "event_type": _strings(EVENT_TYPES, ev["type"][take]),
        "order_id": _strings(order_labels, np.maximum(ev_order - 1, 0), ev_order == 0),
        "amount": ev["amount"][take],
        "quantity": ev["qty"][take].astype(np.int64),
        "category": _strings(CATEGORIES, ev["cat"][take]),
        "channel": _strings(CHANNELS, ev["chan"][take]),
        "discount_used": ev["disc"][take].astype(np.int8),
    })
    return events, ev["cust"], np.floor(ev["t"] / _DAY), cust_ids


def _customer_tables(rng: np.random.Generator, people: _People, ev_cust: np.ndarray, ev_days: np.ndarray,
                     cust_ids: pa.Array, start: np.datetime64, span: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customer table (with signup dates before each customer's first event) and the
    planted truth."""
    n = len(people.segment)
    first_day = np.full(n, span)
    if len(ev_cust):
        np.minimum.at(first_day, ev_cust, ev_days)
    tenure = rng.gamma(1.6, 320.0, n)
    signup = np.where(people.has_events, np.minimum(first_day, 0.0) - np.floor(tenure),
                      np.floor(rng.random(n) * span))
    signup = np.maximum(signup, -float((start - np.datetime64(_EARLIEST_SIGNUP)).astype(int)))
    signup_date = (start + signup.astype(np.int64).astype("timedelta64[D]"))

    customer_id = _strings(cust_ids, np.arange(n))
    customers = pd.DataFrame({
        "customer_id": customer_id,
        "age": people.age.astype(np.int64),
        "gender": _strings(_GENDERS, people.gender),
        "region": _strings(REGIONS, people.region),
        "income_band": _strings(_INCOMES, people.income),
        "persona": _strings(PERSONAS, people.persona),
        "marketing_touches": people.touches.astype(np.int64),
        "signup_date": pd.to_datetime(signup_date.astype("datetime64[s]")).as_unit("us"),
    })
    truth = pd.DataFrame({
        "customer_id": customer_id,
        "segment": people.segment.astype(np.int64),
        "segment_name": _strings(PLANTED_SEGMENTS, people.segment),
        "persona": customers["persona"].copy(),
        "has_events": people.has_events,
    })
    return customers, truth


def write_demo(directory: str | Path, data: DemoData, *, fmt: str = "csv",
               truth: bool = False) -> dict[str, Path]:
    """Write the demo tables as files a user would get from a CRM export.

    Parameters
    ----------
    directory : str or Path
        Target folder, created if needed; existing files of the same names are replaced.
    data : DemoData
        What :func:`make_demo` returned.
    fmt : {"csv", "parquet"}, default "csv"
        CSV has ISO times (``2025-03-04T18:22:05``), ISO dates and empty cells for
        missing values; Parquet keeps the types (``signup_date`` as a date).
    truth : bool, default False
        Also write ``truth.<fmt>``. Off by default, so the planted answer does not sit
        next to the data a user segments.

    Returns
    -------
    dict of str to Path
        ``{"customers": ..., "events": ...}`` (and ``"truth"`` when asked).
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"customers": data.customers, "events": data.events}
    if truth:
        tables["truth"] = data.truth
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            out = frame.copy()
            if "event_time" in out:
                out["event_time"] = out["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
            if "signup_date" in out:
                out["signup_date"] = out["signup_date"].dt.strftime("%Y-%m-%d")
            out.to_csv(path, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if "signup_date" in frame:
                i = table.schema.get_field_index("signup_date")
                table = table.set_column(i, "signup_date",
                                         table.column(i).cast(pa.date32()))
            pq.write_table(table, path)
        paths[name] = path
    return paths
