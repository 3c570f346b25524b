"""Every customer once: the universe of ids of the customers table, the features and the
events, the counts of those on one side only, and each customer's status (hand-checked)."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd

from segmentkit.pipeline import _at_rows, _id_codes, _release_events, _status, _universe


def test_id_codes_sort_ids_as_text_once_each():
    """Each id once, in Python's order of text (code points: digits, capitals, small
    letters, then beyond ASCII), and each table's ids found in it."""
    customers = pd.Index(["b", "Z", "10", "ä"], dtype="str")
    events = pd.Index(["b", "2", "a", "10"], dtype=object)
    ids, codes = _id_codes({"customers": customers, "events": events})
    assert list(ids) == ["10", "2", "Z", "a", "b", "ä"]
    assert ids.name == "customer_id"
    assert [ids[c] for c in codes["customers"]] == ["b", "Z", "10", "ä"]
    assert [ids[c] for c in codes["events"]] == ["b", "2", "a", "10"]


def test_id_codes_merge_sorted_and_unsorted_parts_alike():
    """Three parts, sorted, out of order, overlapping, one empty, one the same index as
    another, one repeating an id (hashed instead of merged): the ids once each, sorted as
    text, each part's rows found at their ids (by hand)."""
    a = pd.Index(["c01", "c03", "c05"], dtype=object)
    b = pd.Index(["c04", "c02", "c03", "c10"], dtype=object)  # not sorted
    c = pd.Index(["c00", "c05"], dtype="str")
    empty = pd.Index([], dtype=object)
    expected = ["c00", "c01", "c02", "c03", "c04", "c05", "c10"]
    for parts in ({"a": a, "b": b, "c": c, "e": empty, "a2": a},
                  {"a": a, "b": b.append(pd.Index(["c04"], dtype=object)), "c": c, "e": empty, "a2": a}):
        ids, codes = _id_codes(parts)
        assert list(ids) == expected
        for name, part in parts.items():
            assert [ids[i] for i in codes[name]] == list(part)
            assert codes[name].dtype == np.intp


def test_universe_counts_each_side():
    """Customers c1..c4; events of c2, c3, x1 (3 rows) and x2 (1 row); usable features for
    c2 and x1 only. By hand: 6 customers; c3 and x2 have events but no usable ones; x1 has
    features without a customer row (an orphan, with 3 orphan events, and x2's 1 more);
    c1, c3, c4 have no features."""
    con = duckdb.connect()
    con.execute("CREATE TABLE ev AS SELECT * FROM (VALUES ('c2'), ('c3'), ('x1'), ('x1'), ('x1'), ('x2'), "
                "(NULL)) t(customer_id)")
    con.execute("CREATE TABLE customers_raw AS SELECT * FROM (VALUES ('c1'), ('c2'), ('c3'), ('c4')) t(customer_id)")
    cust = pd.DataFrame({"age": [30, 40, 50, 60]}, index=pd.Index(["c1", "c2", "c3", "c4"], name="customer_id"))
    feats = SimpleNamespace(frame=pd.DataFrame({"orders": [1.0, 2.0]}, index=pd.Index(["c2", "x1"])))
    event_ids = pd.Index(["c2", "c3", "x1", "x2"], dtype=object)
    quality: dict = {}
    event_rows = _release_events(con, SimpleNamespace(table="ev"), count_rows=True, keep=False)
    universe, kept = _universe(con, cust, feats, event_rows, event_ids, None, quality)
    assert list(universe.ids) == ["c1", "c2", "c3", "c4", "x1", "x2"]
    # the customers table's row of x1, c2 and c4 (positions 4, 1, 3): none, 1 and 3
    assert list(universe.rows("customers", np.array([4, 1, 3]))) == [-1, 1, 3]
    assert list(universe.rows("features", np.array([4, 1, 3]))) == [1, 0, -1]
    assert kept is cust
    assert quality == {"customers_without_usable_events": 2, "orphan_customers": 1, "orphan_events": 4,
                       "customers_without_events": 3}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def test_events_let_go_unless_kept_and_rows_counted_only_when_asked():
    """After the features, the events are dropped (not spilled under the lower budget)
    unless a later stage reads them (``keep``: --holdout); each customer's rows are counted
    (c2: 1, x1: 3; the row without a customer id in none) only when a customers table is
    coming to count orphan events against."""
    def events() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("CREATE TABLE ev AS SELECT * FROM (VALUES ('c2'), ('x1'), ('x1'), ('x1'), (NULL)) t(customer_id)")
        return con

    con = events()
    assert _release_events(con, SimpleNamespace(table="ev"), count_rows=False, keep=False) is None
    assert "ev" not in _tables(con)
    con = events()
    counted = _release_events(con, SimpleNamespace(table="ev"), count_rows=True, keep=True)
    assert "ev" in _tables(con)
    assert sorted(con.execute(f"SELECT customer_id, rows FROM {counted}").fetchall()) == [("c2", 1), ("x1", 3)]
    assert _release_events(con, None, count_rows=True, keep=False) is None  # Spark's events: nothing to do


def test_status_of_customers_without_a_segment():
    """Segmented, noise (−1), events but none usable, and no events at all."""
    segment = pd.Series([0.0, -1.0, np.nan, np.nan, 2.0], index=pd.Index(["a", "b", "c", "d", "e"], dtype="str"))
    status = _status(segment, pd.Index(["a", "c", "e"], dtype=object), "no_events")
    assert list(status) == ["segmented", "noise", "no_usable_events", "no_events", "segmented"]


def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [31, 45, 27], "spend": [1.5, np.nan, 3.0], "vip": [True, False, True],
        "city": pd.array(["Lyon", None, "Oslo"], dtype="string"), "note": ["x", None, "z"],
        "tier": pd.Categorical(["gold", "silver", "gold"]), "since": pd.to_datetime(["2020-01-01", None, "2021-05-02"]),
        "visits": pd.array([1, None, 3], dtype="Int64"), "opt_in": pd.array([True, None, False], dtype="boolean"),
    }, index=pd.Index(["a1", "a2", "a3"], name="customer_id"))


def test_at_rows_is_reindex_by_positions():
    """Rows known by position give what pandas' reindex by id gives, values and types, with
    customers the table lacks (missing, ints turned float, as reindex does) and without."""
    cust = _customers()
    for ids, rows in ((["a3", "zz", "a1"], [2, -1, 0]), (["a2", "a3"], [1, 2]), (["y", "z"], [-1, -1])):
        index = pd.Index(ids, name="customer_id")
        pd.testing.assert_frame_equal(_at_rows(cust, np.array(rows), index), cust.reindex(index))
        for column in cust.columns:
            pd.testing.assert_series_equal(_at_rows(cust[column], np.array(rows), index), cust[column].reindex(index))
    empty, index = cust.iloc[:0], pd.Index(["y"], name="customer_id")
    pd.testing.assert_frame_equal(_at_rows(empty, np.array([-1]), index), empty.reindex(index))

