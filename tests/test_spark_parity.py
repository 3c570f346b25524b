"""The Spark engine (local mode) against the DuckDB engine where they once differed: a unit
price made the line amount and a product catalogue looked up by Spark give the same
features, data quality and segments; duplicate rows are judged alike; exclude rules are
applied by Spark's assign and after a fit on a sample as on DuckDB."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmentkit.config import ColumnMapping
from segmentkit.datasets import make_demo, write_demo
from segmentkit.export import read_assignments
from segmentkit.pipeline import load_model, score
from segmentkit.spark import SparkEvents
from segmentkit.spark.assign import score_spark

#: needs Spark (local mode, Java 17); CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.integration

LINES = ColumnMapping(customer_id="card", event_time="time", order_id="basket", product_id="sku",
                      price="unit_price", quantity="qty")

#: product → department; "mystery" is sold but not listed
CATALOGUE = {"milk": "dairy", "cheese": "dairy", "bread": "bakery", "cake": "bakery", "soap": "household"}


def _receipts(path):
    """40 customers, 3 baskets each of 2 lines (products by a fixed rule), then by hand: one
    line of a product the catalogue lacks (c00, 2 × 4.00) and the same line twice (c01)."""
    rows = ["basket,card,time,sku,unit_price,qty,till"]
    products = list(CATALOGUE)
    for c in range(40):
        for b in range(3):
            for j in range(2):
                sku = products[(c * (b + 1) + 2 * j) % len(products)]
                rows.append(f"{c}-{b},c{c:02d},2024-0{1 + b}-{1 + c % 27} 1{j}:00,{sku},{1 + (c + j) % 4}.50,"
                            f"{1 + (b + j + c) % 3},{c % 3}")
    rows += ["x-1,c00,2024-04-02 10:00,mystery,4.00,2,1",
             "x-2,c01,2024-04-03 10:00,soap,2.00,1,1", "x-2,c01,2024-04-03 10:00,soap,2.00,1,1"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _catalogue(path):
    path.write_text("sku,category\n" + "".join(f"{p},{c}\n" for p, c in CATALOGUE.items()), encoding="utf-8")
    return path


def test_price_and_catalogue_on_spark_give_the_duckdb_features_and_segments(spark, fit_both, tmp_path):
    events, products = _receipts(tmp_path / "lines.csv"), _catalogue(tmp_path / "products.csv")
    a, b, qb = fit_both(events, columns=LINES, products=str(products), random_state=0, k=3, validate=False)
    # by hand: 5 products listed, 1 line of 1 product not listed, 1 duplicate line of 2.00
    assert (qb["catalogue_products"], qb["catalogue_lines_unknown_product"], qb["catalogue_unknown_products"]) == (
        5, 1, 1)
    assert (qb["duplicate_events_dropped"], qb["duplicate_events_amount"]) == (1, 2.0)
    fa, fb = a.features.frame, b.features.frame
    assert list(fa.columns) == list(fb.columns) and {"cat_share__dairy", "cat_share__bakery"} <= set(fa.columns)
    assert not any(c.endswith("__unknown") for c in fa.columns)
    assert fa.index.tolist() == fb.index.tolist()
    assert np.allclose(fa.to_numpy(), fb.to_numpy(), rtol=1e-8, atol=1e-9, equal_nan=True)
    # c00 by hand: its 6 catalogue lines plus the mystery line of 2 × 4.00
    lines = pd.read_csv(events).query("card == 'c00'")
    assert fa.loc["c00", "monetary"] == pytest.approx((lines["unit_price"] * lines["qty"]).sum())
    pd.testing.assert_frame_equal(a.assignments, b.assignments, check_exact=False, atol=1e-9)
    assert a.summary.run.inputs["products"] == b.summary.run.inputs["products"]
    # assign on Spark with the catalogue: customer for customer as on DuckDB
    b.write(tmp_path / "run")
    d = score(tmp_path / "run", events=events, products=str(products)).assignments
    score_spark(load_model(tmp_path / "run"), SparkEvents(str(events), spark=spark), str(tmp_path / "s"),
                products=str(products))
    s = read_assignments(tmp_path / "s")
    pd.testing.assert_frame_equal(s.drop(columns="confidence"), d.drop(columns="confidence"))
    assert np.allclose(s["confidence"], d["confidence"], atol=1e-6)


def test_duplicates_are_judged_alike_on_both_engines(fit_both, tmp_path):
    """A mapped column compares as typed (6.25 is 6.250), a column no role reads as written
    ("1" and "1.0" in the till column may be two tills): hand-counted, 1 duplicate of 6.25."""
    rows = ["customer_id,event_time,amount,till"]
    for c in range(12):
        rows += [f"{c:03d},2024-{1 + e % 12:02d}-{10 + c} 1{e % 10}:00:00,{5 + 7 * c + e}.5,{e % 3}"
                 for e in range(20)]
    rows += ["100,2024-05-05 10:00:00,6.25,1", "100,2024-05-05 10:00:00,6.250,1",
             "101,2024-05-06 10:00:00,3,1", "101,2024-05-06 10:00:00,3,1.0"]
    path = tmp_path / "e.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    a, b, qb = fit_both(path, random_state=0, k=2, validate=False)
    assert (qb["duplicate_events_dropped"], qb["duplicate_events_amount"]) == (1, 6.25)
    pd.testing.assert_frame_equal(a.assignments, b.assignments, check_exact=False, atol=1e-9)


def test_exclude_rules_on_spark_as_on_duckdb(spark, cli, tmp_path):
    files = write_demo(tmp_path / "data", make_demo(400, seed=3))
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str})
    # by hand: every 25th customer is staff, spelled three ways (the rules fold case and blanks)
    staff = customers.index % 25 == 0
    customers["account_type"] = np.where(staff, np.resize(["staff", " Staff", "STAFF"], len(customers)), "customer")
    customers.to_csv(tmp_path / "cust.csv", index=False)
    n_staff = int(staff.sum())
    args = ["--events", files["events"], "--customers", tmp_path / "cust.csv", "--exclude", "account_type=staff",
            "--k", 3, "--seed", 0]
    cli("run", *args, "--out", tmp_path / "run")
    ref = read_assignments(tmp_path / "run")
    assert (ref["status"] == "excluded").sum() == n_staff
    # assign: the model's rules, applied to the customers table by Spark's assign as by DuckDB's
    assigned = ["--events", files["events"], "--customers", tmp_path / "cust.csv"]
    cli("assign", tmp_path / "run", *assigned, "--out", tmp_path / "d")
    res = cli("assign", tmp_path / "run", "--engine", "spark", *assigned, "--out", tmp_path / "s")
    assert f"{n_staff:,} customer(s) left out by the exclude rules" in res.output
    d, s = read_assignments(tmp_path / "d"), read_assignments(tmp_path / "s")
    assert (s["status"] == "excluded").sum() == n_staff and set(s.loc[s["status"] == "excluded", "reason"]) == {
        "account_type = staff"}
    pd.testing.assert_frame_equal(s.drop(columns="confidence"), d.drop(columns="confidence"))
    assert np.allclose(s["confidence"], d["confidence"], atol=1e-6, equal_nan=True)
    assert (json.loads((tmp_path / "s" / "drift.json").read_text())
            == json.loads((tmp_path / "d" / "drift.json").read_text()))
    # beyond the driver threshold: fitted on a sample, Spark marks the excluded customers
    cli("run", "--engine", "spark", "--driver-customers", 200, *args, "--out", tmp_path / "sample")
    summary = json.loads((tmp_path / "sample" / "summary.json").read_text())
    assert summary["fit_scope"]["fitted_on"] == "stratified_sample"
    assert summary["data_quality"]["customers_excluded"] == n_staff
    sampled = read_assignments(tmp_path / "sample")
    assert sampled["customer_id"].tolist() == ref["customer_id"].tolist()
    assert sampled["reason"].tolist() == ref["reason"].tolist()
    assert sampled["status"].tolist() == ref["status"].tolist()
