"""segments.sql: run in DuckDB over the feature table, each rule matches the customers its
stated precision, coverage and support say; the feature SQL in it rebuilds the feature table
from the events."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmentkit.datasets import make_demo, write_demo
from segmentkit.pipeline import Segmentation
from segmentkit.segment_sql import segments_sql
from segmentkit.sources import load_events

#: slow: fits a segmentation; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    data = make_demo(800, seed=5)
    paths = write_demo(tmp_path_factory.mktemp("sql"), data)
    out = tmp_path_factory.mktemp("out")
    result = Segmentation(k=4, random_state=0, n_bootstrap=2).fit(events=paths["events"])
    result.write(out)
    return result, paths, out


def _statements(text: str) -> tuple[str, str]:
    """The feature-table statement, and the rest (the two views)."""
    head, rest = text.split("-- 2. One column per rule", 1)
    return head, "-- 2. One column per rule" + rest


def test_rules_reproduce_their_stated_coverage(fitted):
    result, _, out = fitted
    text = (out / "segments.sql").read_text(encoding="utf-8")
    assert text == result.segments_sql and "CASE" in text
    con = duckdb.connect()
    feats = result.features.frame.reset_index()
    con.register("feats_df", feats)
    con.execute("CREATE TABLE customer_features AS SELECT * FROM feats_df")
    a = result.assignments[["customer_id", "segment_id"]]
    con.register("assigned", a)
    con.execute(_statements(text)[1])
    n_rules = 0
    for seg in result.summary.segments:
        sid = seg.id
        if sid < 0:
            continue
        size = con.execute("SELECT count(*) FROM customer_features JOIN assigned USING (customer_id) "
                           f"WHERE segment_id = {sid}").fetchone()[0]
        for n, rule in enumerate(seg.rules, start=1):
            col = f"segment_{sid}_rule_{n}"
            assert f"precision {rule.precision}, coverage {rule.coverage}" in text
            support, hits = con.execute(
                f"SELECT count(*) FILTER (WHERE {col}), count(*) FILTER (WHERE {col} AND segment_id = {sid}) "
                "FROM segment_rules JOIN assigned USING (customer_id)").fetchone()
            assert support == rule.support
            assert hits / size == pytest.approx(rule.coverage, abs=1e-6)
            assert hits / support == pytest.approx(rule.precision, abs=1e-6)
            n_rules += 1
    assert n_rules >= 4
    # the CASE puts each customer matching a rule into a segment, named as in the run
    got = con.execute("SELECT segment_id, segment_name, count(*) FROM customer_segments "
                      "GROUP BY ALL ORDER BY segment_id NULLS LAST").fetchall()
    names = result.summary.segment_names
    assert all(sid is None or names[sid] == name for sid, name, _ in got)
    agree = con.execute("SELECT avg(CAST(c.segment_id = a.segment_id AS DOUBLE)) FROM customer_segments c "
                        "JOIN assigned a USING (customer_id) WHERE c.segment_id IS NOT NULL").fetchone()[0]
    assert agree > 0.5  # most customers a rule places are in that segment


def test_feature_sql_rebuilds_the_feature_table(fitted):
    result, paths, out = fitted
    con = duckdb.connect()
    load_events(con, paths["events"])
    con.execute(_statements(result.segments_sql)[0])
    rebuilt = con.execute("SELECT * FROM customer_features ORDER BY customer_id").df().set_index("customer_id")
    want = result.features.frame
    assert list(rebuilt.columns) == list(want.columns)
    assert rebuilt.index.astype(str).tolist() == want.index.tolist()
    np.testing.assert_allclose(rebuilt.to_numpy(float), want.to_numpy(float), rtol=1e-8, equal_nan=True)


def test_missing_values_read_as_the_median_and_names_are_quoted():
    summary = {"segments": [{"id": 0, "name": "O'Neil's \"best\"", "rules": [{
        "text": "gap ≤ 30", "precision": 0.9, "coverage": 0.5, "support": 2,
        "conditions": [{"feature": "gap cv", "op": "<=", "threshold": 30.0}]}]}]}
    text = segments_sql(summary, {"gap cv": 12.5}, None)
    con = duckdb.connect()
    con.execute('CREATE TABLE customer_features AS SELECT * FROM (VALUES (\'a\', 40.0), (\'b\', NULL), '
                '(\'c\', 3.0)) AS t(customer_id, "gap cv")')
    con.execute(_statements(text)[1])
    got = dict(con.execute("SELECT customer_id, segment_name FROM customer_segments").fetchall())
    assert got == {"a": None, "b": "O'Neil's \"best\"", "c": "O'Neil's \"best\""}
    # no rules at all: still valid SQL
    con.execute(_statements(segments_sql({"segments": [{"id": 0, "name": "x", "rules": []}]}, {}, None))[1])
    assert con.execute("SELECT count(*) FROM customer_segments WHERE segment_id IS NULL").fetchone()[0] == 3
