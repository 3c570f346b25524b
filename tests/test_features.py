"""Features of a 12-customer event log, computed by hand (snapshot 2024-07-01).

The window starts at the first event (2024-01-01 00:00), so its midpoint is 2024-04-01.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmentkit.features import DuckDBEngine, customer_features, feature_query
from segmentkit.sources import load_events

SNAP = dt.date(2024, 7, 1)

ROWS = [
    # customer, time, type, order, amount, qty, category, channel, discount
    ("c01", "2024-01-01 00:00:00", "purchase", "o1", 100.0, 1, "a", "web", 0),
    ("c01", "2024-03-01 00:00:00", "purchase", "o2", 50.0, 2, "b", "app", 1),
    ("c01", "2024-06-01 00:00:00", "purchase", "o3", 50.0, 1, "a", "web", 0),
    ("c01", "2024-05-01 00:00:00", "view", None, None, None, "a", "web", 0),
    ("c01", "2024-05-02 00:00:00", "view", None, None, None, "a", "web", 0),
    ("c01", "2024-05-03 00:00:00", "view", None, None, None, "b", "web", 0),
    ("c02", "2024-06-21 00:00:00", "purchase", "o4", 30.0, 1, "b", "app", 1),
    ("c02", "2024-06-25 00:00:00", "return", "o4", -30.0, 1, "b", "app", 0),
    ("c03", "2024-02-10 00:00:00", "view", None, None, None, "c", "web", 0),
    ("c03", "2024-02-10 00:05:00", "view", None, None, None, "c", "web", 0),
    ("c03", "2024-02-10 00:10:00", "cart", None, None, None, "c", "web", 0),
    ("c04", "2024-05-01 00:00:00", "purchase", "o5", 80.0, 1, "a", "web", 0),
    ("c04", "2024-05-01 00:00:00", "purchase", "o5", 80.0, 1, "a", "web", 0),  # exact duplicate
    ("c04", "2024-07-05 00:00:00", "purchase", "o9", 99.0, 1, "a", "web", 0),  # after snapshot
    ("c05", "2024-04-10 00:00:00", "purchase", "o6", 20.0, 1, "a", "store", 0),
    ("c05", "2024-04-10 00:00:00", "purchase", "o6", 40.0, 3, "c", "store", 0),  # 2nd line, same order
] + [
    (f"c{i:02d}", f"2024-06-{i + 4:02d} 00:00:00", "purchase", f"p{i}", 10.0 * i, 1, "a", "web", 0)
    for i in range(6, 13)
]

COLUMNS = ["customer_id", "event_time", "event_type", "order_id", "amount", "quantity",
           "category", "channel", "discount_used"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("ev") / "events.csv"
    pd.DataFrame(ROWS, columns=COLUMNS).to_csv(path, index=False)
    con = duckdb.connect()
    loaded = load_events(con, path)
    table = customer_features(con, loaded.table, loaded.roles, snapshot_date=SNAP)
    table.data_quality.update(rows_read=loaded.rows_read, duplicates=loaded.duplicates)
    yield table
    con.close()


def test_twelve_customers_one_row_each(table):
    assert list(table.frame.index) == [f"c{i:02d}" for i in range(1, 13)]


def test_regular_buyer_by_hand(table):
    r = table.frame.loc["c01"]
    assert r.recency_days == pytest.approx(30)
    assert r.orders == 3
    assert r.monetary == pytest.approx(200)
    assert r.avg_order_value == pytest.approx(200 / 3)
    assert r.basket_size == pytest.approx(4 / 3)
    assert r.tenure_days == pytest.approx(182)
    assert r.gap_mean_days == pytest.approx(76)  # gaps 60 and 92 days
    assert r.gap_cv == pytest.approx(math.sqrt(512) / 76)
    assert r.spend_trend == pytest.approx((50 - 150) / 200)
    assert r.active_months == 3
    assert r.peak_quarter_share == pytest.approx(150 / 200)
    assert r.discount_share == pytest.approx(1 / 3)
    assert r.return_rate == 0
    assert r.views_per_order == pytest.approx(1.0)
    assert r.cart_abandonment == 0
    assert r["cat_share__a"] == pytest.approx(0.75)
    assert r["cat_share__b"] == pytest.approx(0.25)
    assert r["channel_share__web"] == pytest.approx(2 / 3)
    assert r["channel_share__app"] == pytest.approx(1 / 3)


def test_returned_order_nets_to_zero(table):
    r = table.frame.loc["c02"]
    assert r.orders == 1
    assert r.monetary == pytest.approx(0)
    assert r.return_rate == pytest.approx(1.0)
    assert r.recency_days == pytest.approx(10)
    # one order: no gap, regularity, trend or seasonality exists (missing, not extreme)
    assert math.isnan(r.gap_mean_days)
    assert math.isnan(r.gap_cv)
    assert math.isnan(r.spend_trend)
    assert math.isnan(r.peak_quarter_share)
    assert r.discount_share == 1.0
    assert table.value.loc["c02"] == pytest.approx(0)


def test_browser_without_orders(table):
    r = table.frame.loc["c03"]
    assert r.orders == 0
    assert r.recency_days == pytest.approx(182)  # never bought: the whole window
    assert r.monetary == 0 and r.avg_order_value == 0
    assert r.views_per_order == 2
    assert r.cart_abandonment == 1.0
    assert r.tenure_days == pytest.approx(142)


def test_duplicates_and_events_after_snapshot(table):
    r = table.frame.loc["c04"]
    assert r.orders == 1 and r.monetary == pytest.approx(80)
    assert r.recency_days == pytest.approx(61)
    assert table.data_quality["duplicates"] == 1
    assert table.data_quality["events_after_snapshot"] == 1
    assert table.data_quality["returns"] == 1
    assert table.data_quality["rows_read"] == len(ROWS)


def test_order_lines_make_one_order(table):
    r = table.frame.loc["c05"]
    assert r.orders == 1
    assert r.avg_order_value == pytest.approx(60)
    assert r.basket_size == pytest.approx(4)
    assert r["cat_share__a"] == pytest.approx(1 / 3)
    assert r["cat_share__c"] == pytest.approx(2 / 3)
    assert r["channel_share__store"] == 1.0


def test_single_buyers_recency(table):
    for i in range(6, 13):
        assert table.frame.loc[f"c{i:02d}", "recency_days"] == pytest.approx(30 - (i + 4) + 1)
        assert table.frame.loc[f"c{i:02d}", "monetary"] == pytest.approx(10 * i)


def test_default_snapshot_is_day_after_last_event(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame(ROWS, columns=COLUMNS).to_csv(path, index=False)
    con = duckdb.connect()
    loaded = load_events(con, path)
    ft = customer_features(con, loaded.table, loaded.roles)
    assert ft.snapshot_date == dt.date(2024, 7, 6)


def test_missing_columns_leave_features_out(tmp_path):
    """Without type, category, channel, discount, quantity: every row is a purchase."""
    path = tmp_path / "e.csv"
    pd.DataFrame(ROWS, columns=COLUMNS)[["customer_id", "event_time", "amount"]].to_csv(path, index=False)
    con = duckdb.connect()
    loaded = load_events(con, path)
    ft = customer_features(con, loaded.table, loaded.roles, snapshot_date=SNAP)
    for name in ("discount_share", "views_per_order", "cart_abandonment", "basket_size",
                 "cat_share__*", "channel_share__*"):
        assert name in ft.skipped
        assert name not in ft.frame.columns
    # views now count as purchases of amount 0 (no type column): c03 has 3 orders
    assert ft.frame.loc["c03", "orders"] == 3
    # the negative amount is still a return
    assert ft.frame.loc["c02", "monetary"] == pytest.approx(0)


def test_purchases_without_order_id_are_orders_of_their_own(tmp_path):
    # multi-line orders (so lines are grouped into orders) beside purchases with no order id:
    # each of those is an order of its own, not one shared "missing id" order
    p = tmp_path / "e.csv"
    p.write_text("customer_id,event_time,order_id,amount\n"
                 "1,2024-01-01 10:00,o1,10\n1,2024-01-01 10:00,o1,5\n"
                 "1,2024-02-01 10:00,,7\n1,2024-03-01 10:00,,8\n1,2024-04-01 10:00,,9\n", encoding="utf-8")
    con = duckdb.connect()
    t = load_events(con, p)
    f = customer_features(con, t.table, t.roles, snapshot_date=dt.date(2024, 5, 1)).frame
    assert f.loc["1", "orders"] == 4
    assert f.loc["1", "avg_order_value"] == pytest.approx(39 / 4)


def test_category_levels_by_distinct_buyers_and_channel_levels_by_spend():
    # by hand: x buys a three times, y buys a once and b twice, z buys b and an item of no
    # category, w only an item of no category. Buyers: a {x, y} = 2, b {y, z} = 2 (the tie
    # goes to b, the larger spend 140 against 35); all buyers {x, y, z, w} = 4; total spend
    # 226. Channels go by spend: app 150 (one customer) before web 76 (three).
    rows = [("x", "a", "web", 10.0), ("x", "a", "web", 10.0), ("x", "a", "web", 10.0),
            ("y", "a", "web", 5.0), ("y", "b", "web", 20.0), ("y", "b", "web", 20.0),
            ("z", "b", "app", 100.0), ("z", None, "app", 50.0), ("w", None, "web", 1.0)]
    frame = pd.DataFrame(rows, columns=["customer_id", "category", "channel", "amount"])
    frame.insert(1, "event_time", [f"2024-01-{d:02d}" for d in range(1, len(rows) + 1)])
    con = duckdb.connect()
    t = load_events(con, frame)
    ft = customer_features(con, t.table, t.roles, snapshot_date=dt.date(2024, 2, 1), max_levels=1)
    assert ft.levels == {"category": ("b",), "channel": ("app",)}
    choice = ft.category_levels
    assert (choice["levels_found"], choice["folded_into_other"]) == (2, 1)
    assert choice["kept"] == [{"level": "b", "customers": 2, "customer_share": 0.5,
                               "spend_share": round(140 / 226, 6)}]
    assert list(ft.frame.columns[-4:]) == ["cat_share__b", "cat_share__other", "channel_share__app",
                                           "channel_share__other"]


@pytest.mark.parametrize("receipt", [False, True], ids=["one-line-orders", "receipt-lines"])
def test_category_shares_of_purchase_spend_by_hand(receipt):
    # by hand, levels a and b given (so c and no category are "other"): x spends 60 on
    # purchases (a 30, b 10, none 20); its view of b and its return of a are not spend.
    # y spends 20 (b 5, c 15), as two orders, or as two lines of one receipt; z only views.
    rows = [("x", "2024-01-05", "purchase", "o1", 30.0, "a"), ("x", "2024-02-05", "purchase", "o2", 10.0, "b"),
            ("x", "2024-03-05", "purchase", "o3", 20.0, None), ("x", "2024-03-06", "view", None, None, "b"),
            ("x", "2024-03-07", "return", "o1", -30.0, "a"), ("y", "2024-04-01", "purchase", "o4", 5.0, "b"),
            ("y", "2024-04-01", "purchase", "o4" if receipt else "o5", 15.0, "c"),
            ("z", "2024-04-02", "view", None, None, "a")]
    frame = pd.DataFrame(rows, columns=["customer_id", "event_time", "event_type", "order_id", "amount", "category"])
    con = duckdb.connect()
    t = load_events(con, frame)
    query = feature_query(DuckDBEngine(con), t.table, t.roles, snapshot_date=dt.date(2024, 5, 1),
                          levels={"category": ("a", "b")})
    # one-line orders sum the shares over the orders, receipts over the events (both paths)
    order_aggregates = query.sql[query.sql.index("ord AS ("):query.sql.index("act AS (")]
    assert ("AS cat_share__a" in order_aggregates) is not receipt
    f = customer_features(con, t.table, t.roles, snapshot_date=dt.date(2024, 5, 1),
                          levels={"category": ("a", "b")}).frame
    shares = f[["cat_share__a", "cat_share__b", "cat_share__other"]]
    expected = pd.DataFrame([[30 / 60, 10 / 60, 20 / 60], [0, 5 / 20, 15 / 20], [0, 0, 0]],
                            index=pd.Index(["x", "y", "z"], dtype=object), columns=shares.columns)
    pd.testing.assert_frame_equal(shares, expected, check_names=False, rtol=1e-12)
    assert f.loc["y", "orders"] == (1 if receipt else 2)


def test_sums_do_not_depend_on_the_order_rows_are_added_in():
    """Spend 53 on a, 1,995 on b (in four lines): a's share is 53/2048 = 0.02587890625,
    which sits on a nine-digit rounding boundary (half to even: 0.0258789062). Added as
    floating-point numbers in file order, the lines total 2048 plus one unit in the last
    place, and the share rounded the other way; read in reverse it did not. Gaps of 7, 7, 14
    and 7 days: mean 8.75, spread sqrt(3·1.75² + 5.25²)/√3 = 3.5, so irregularity 0.4."""
    lines = [(53.0, "a"), (829.66, "b"), (751.75, "b"), (350.08, "b"), (63.51, "b")]
    days = [0, 7, 14, 28, 35]

    def features(order: list[int]) -> pd.Series:
        ev = pd.DataFrame({"customer_id": "c1",
                           "event_time": [pd.Timestamp("2024-01-01") + pd.Timedelta(days=days[i]) for i in order],
                           "amount": [lines[i][0] for i in order], "category": [lines[i][1] for i in order]})
        con = duckdb.connect()
        t = load_events(con, ev)
        return customer_features(con, t.table, t.roles).frame.loc["c1"]

    forward, backward = features([0, 1, 2, 3, 4]), features([4, 3, 2, 1, 0])
    pd.testing.assert_series_equal(forward, backward)
    assert forward["cat_share__a"] == 0.0258789062
    assert forward["monetary"] == 2048.0
    assert forward["gap_mean_days"] == 8.75 and forward["gap_cv"] == 0.4


def test_the_feature_frame_holds_each_feature_contiguously_with_nulls_as_nan():
    """The features come back column by column into one matrix (not DuckDB's DataFrame
    conversion): a customer without a second order has no gap (NULL in SQL, NaN here), the
    ids are Python text, and each column is contiguous, as in a frame pandas builds (a
    row-major matrix made every later column read strided: a run at L took 9% longer)."""
    ev = pd.DataFrame({"customer_id": ["b", "a", "a"],
                       "event_time": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-11"]),
                       "amount": [5.0, 10.0, 30.0]})
    con = duckdb.connect()
    t = load_events(con, ev)
    f = customer_features(con, t.table, t.roles).frame
    assert list(f.index) == ["a", "b"] and all(type(i) is str for i in f.index)
    assert f.loc["a", "gap_mean_days"] == 10.0 and math.isnan(f.loc["b", "gap_mean_days"])
    assert f.loc["a", "monetary"] == 40.0 and f.loc["b", "monetary"] == 5.0
    assert all(f[c].to_numpy().flags.c_contiguous for c in f.columns)


def _raw(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """A feature query's rows as computed, before the features' rounding."""
    return con.execute(sql + " ORDER BY customer_id").df().set_index("customer_id")


def test_sums_add_as_doubles_when_the_totals_allow_and_agree_to_the_bit_with_decimals():
    """On the demo's events (amounts of a few hundred), every total fits: the query adds in
    DOUBLEs and keeps the decimal spelling for ``segments.sql``. Both spellings, run on the
    same table, give the same numbers to the last bit, before any rounding."""
    from segmentkit.datasets import make_demo
    from segmentkit.features import DuckDBEngine, feature_query

    con = duckdb.connect()
    t = load_events(con, make_demo(400, seed=3).events)
    query = feature_query(DuckDBEngine(con), t.table, t.roles)
    assert query.portable_sql and "DECIMAL(38, 0)" in query.portable_sql
    assert "DECIMAL(38, 0)" not in query.sql.replace("CAST(g AS DECIMAL(38, 0))", "")
    fast, portable = _raw(con, query.sql), _raw(con, query.portable_sql)
    assert len(fast) > 300
    pd.testing.assert_frame_equal(fast, portable, check_exact=True)
    ft = customer_features(con, t.table, t.roles)
    assert "DECIMAL(38, 0)" in ft.sql and ft.sql.rstrip().endswith("ORDER BY customer_id")


def test_sums_too_large_for_doubles_add_as_decimals_exactly():
    """Two lines of 5e9, then three of one millionth: 10,000,000,000,000,003 millionths,
    more than a DOUBLE holds exactly (2**53 is about 9.007e15), so the query adds decimals.
    Exact, the total is the DOUBLE nearest 1e16 + 3 (1e16 + 4), divided by a million. Added
    as DOUBLEs in time order, each millionth after the large lines is lost (1e16 + 1 rounds
    to 1e16): 1e10 (checked: that is what the DOUBLE spelling returns here)."""
    from segmentkit.features import DuckDBEngine, feature_query

    ev = pd.DataFrame({"customer_id": "c1", "amount": [5e9, 5e9, 1e-6, 1e-6, 1e-6],
                       "event_time": [pd.Timestamp("2024-01-01") + pd.Timedelta(days=i) for i in range(5)]})
    con = duckdb.connect()
    t = load_events(con, ev)
    query = feature_query(DuckDBEngine(con), t.table, t.roles)
    assert query.portable_sql == "" and "DECIMAL(38, 0)" in query.sql
    assert _raw(con, query.sql).loc["c1", "monetary"] == float(10**16 + 3) / 1e6 != 1e10


@pytest.mark.parametrize("categories", [["toys", "books", None, "food"], [f"c{i:02d}" for i in range(70)]])
def test_category_buyers_from_bits_agree_with_the_pairs_of_customer_and_category(categories):
    """A few ENUM categories: each buyer's categories are the bits of one integer. Counted
    the other way (one row per customer and category, as for text or many categories) the
    levels, buyers and spend shares are the same; 70 categories are too many bits, and
    take the pairs themselves."""
    from segmentkit.features import DuckDBEngine, _event_conditions, _levels

    rng = np.random.default_rng(5)
    n = 3000
    ev = pd.DataFrame({"customer_id": [f"u{i}" for i in rng.integers(0, 400, n)],
                       "event_time": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
                       "event_type": rng.choice(["purchase", "view"], n, p=[0.7, 0.3]),
                       "amount": rng.gamma(2.0, 20.0, n).round(2),
                       "category": rng.choice(np.array(categories, dtype=object), n)})
    con = duckdb.connect()
    t = load_events(con, ev)
    engine = DuckDBEngine(con)
    assert engine.enum_size(t.table, "category") == len([c for c in categories if c is not None])
    cond = _event_conditions(engine, t.table, set(t.roles), "customer_id IS NOT NULL", dt.date(2025, 1, 1))

    class Pairs(DuckDBEngine):
        def enum_size(self, table: str, column: str) -> None:
            return None

    bits = _levels(engine, t.table, cond, ["category"], 3)["category"]
    pairs = _levels(Pairs(con), t.table, cond, ["category"], 3)["category"]
    assert bits == pairs and len(bits.chosen) == 3
    # by hand, on the frame: the most buying customers first
    bought = ev[ev.event_type.eq("purchase") & ev.category.notna()]
    top = bought.groupby("category").customer_id.nunique().sort_values(ascending=False)
    assert [k["level"] for k in bits.choice["kept"]] == list(top.index[:3])
    assert [k["customers"] for k in bits.choice["kept"]] == list(top.iloc[:3])
