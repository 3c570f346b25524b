"""Every customer once: the universe of ids of the customers table, the features and the
events, the counts of those on one side only, and each customer's status (hand-checked)."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd

from segmentkit.pipeline import _id_codes, _status, _universe


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
    ids, kept = _universe(con, cust, feats, SimpleNamespace(table="ev"), event_ids, None, quality)
    assert list(ids) == ["c1", "c2", "c3", "c4", "x1", "x2"]
    assert kept is cust
    assert quality == {"customers_without_usable_events": 2, "orphan_customers": 1, "orphan_events": 4,
                       "customers_without_events": 3}


def test_status_of_customers_without_a_segment():
    """Segmented, noise (−1), events but none usable, and no events at all."""
    segment = pd.Series([0.0, -1.0, np.nan, np.nan, 2.0], index=pd.Index(["a", "b", "c", "d", "e"], dtype="str"))
    status = _status(segment, pd.Index(["a", "c", "e"], dtype=object), "no_events")
    assert list(status) == ["segmented", "noise", "no_usable_events", "no_events", "segmented"]
