"""The event stage on Apache Spark (local mode): the same canonical events, features, data
quality and segments as the DuckDB path, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit.cli import app
from segmentkit.config import ColumnMapping
from segmentkit.datasets import make_demo, write_demo
from segmentkit.errors import InputError
from segmentkit.features import customer_features
from segmentkit.pipeline import Segmentation
from segmentkit.sources import load_events
from segmentkit.spark import SparkEvents
from segmentkit.spark.events import load_events_spark, spark_event_stage

#: needs Spark (local mode, Java 17); CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = make_demo(700, seed=6)
    folder = tmp_path_factory.mktemp("spark-demo")
    return write_demo(folder / "csv", data), write_demo(folder / "parquet", data, fmt="parquet")


def _duckdb_features(path):
    con = duckdb.connect()
    t = load_events(con, path)
    return t, customer_features(con, t.table, t.roles)


@pytest.mark.parametrize("fmt", [0, 1], ids=["csv", "parquet"])
def test_spark_features_equal_duckdb_features(spark, demo, fmt):
    path = demo[fmt]["events"]
    stage, ours = spark_event_stage(SparkEvents(str(path), spark=spark), ColumnMapping(), None)
    table, ref = _duckdb_features(path)
    assert stage.loaded.rows_read == table.rows_read and stage.loaded.duplicates == table.duplicates > 0
    assert list(ours.frame.columns) == list(ref.frame.columns)
    assert ours.frame.index.tolist() == ref.frame.index.tolist()
    assert np.allclose(ours.frame.to_numpy(), ref.frame.to_numpy(), rtol=1e-8, atol=1e-6, equal_nan=True)
    assert ours.data_quality == ref.data_quality and ours.levels == ref.levels
    assert ours.snapshot_date == ref.snapshot_date


def test_segments_with_spark_events_equal_those_without(spark, demo):
    files = demo[0]
    kwargs = dict(persona_column="persona", attention_column="marketing_touches", random_state=0, k=4)
    a = Segmentation(**kwargs).fit(customers=files["customers"], events=SparkEvents(str(files["events"]), spark=spark))
    b = Segmentation(**kwargs).fit(customers=files["customers"], events=files["events"])
    assert a.assignments["segment_id"].tolist() == b.assignments["segment_id"].tolist()
    assert a.summary.data_quality.orphan_events == b.summary.data_quality.orphan_events > 0
    assert [s.name for s in a.summary.segments] == [s.name for s in b.summary.segments]


def _hostile_events(path):
    """Twelve ordinary customers with 20 events each, then one row per kind of trouble the loaders count."""
    rows = ["customer_id,event_time,event_type,amount,quantity,category"]
    for c in range(12):
        for e in range(20):
            rows.append(f"{c:03d},2024-{1 + e % 12:02d}-{10 + c} 1{e % 10}:00:00,{'purchase' if e % 2 else 'view'},"
                        f"{5 + 7 * c + e}.5,{1 + e % 2},{'home' if c % 3 else 'toys'}")
    rows += [" 001 ,2024-05-01 10:00:00,purchase,12,1,home",      # id with blanks: trimmed, counted
             "1,2024-05-02 10:00:00,purchase,3,1,home",           # '1' is not '001': another customer
             "002,2024-05-03T10:00:00+02:00,purchase,4,1,toys",   # an offset: converted to UTC
             "003,2024-05-04 10:00:00,purchase,NaN,1,home",       # non-finite amounts
             "004,2024-05-04 10:00:00,purchase,inf,1,home",
             "005,2024-05-04 10:00:00,purchase,1e13,1,home",
             "006,2024-05-04 10:00:00,purchase,2,NaN,home",
             "007,2099-01-01 10:00:00,purchase,9,1,home",         # far future: left out
             "ZZ,2099-01-01 10:00:00,purchase,9,1,home",          # ... and its only event
             "008,2024-05-05 10:00:00,purchase,6.25,1,home", "008,2024-05-05 10:00:00,purchase,6.25,1,home",
             "009,2024-05-06 10:00:00,purchase,,1,home", "009,2024-05-06 10:00:00,purchase,,1,home"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_every_data_quality_count_equals_duckdb_on_troublesome_input(spark, fit_both, tmp_path):
    """Hand-counted: 1 id with blanks, 4 non-finite numbers, 2 events in 2099, 2 duplicates
    carrying 6.25; ids as written ('1' and '001' differ); the +02:00 time read as 08:00 UTC."""
    path = _hostile_events(tmp_path / "hostile.csv")
    a, b, qb = fit_both(path, random_state=0, k=2, validate=False)
    assert (qb["ids_trimmed"], qb["non_finite_amounts"], qb["events_outside_time_range"]) == (1, 4, 2)
    assert (qb["duplicate_events_dropped"], qb["duplicate_events_amount"]) == (2, 6.25)
    assert qb["customers_without_usable_events"] == 1 and qb["events_rows_read"] == 240 + 13
    pd.testing.assert_frame_equal(a.assignments, b.assignments, check_exact=False, atol=1e-9)
    status = a.assignments.set_index("customer_id")["status"]
    assert {"1", "001"} <= set(status.index) and status["ZZ"] == "no_usable_events"
    stage = load_events_spark(SparkEvents(str(path), spark=spark), view="hostile")
    (t,) = spark.sql("SELECT CAST(event_time AS STRING) FROM hostile WHERE customer_id = '002' "
                     "AND dayofmonth(event_time) = 3").collect()[0]
    assert t == "2024-05-03 08:00:00" and stage.loaded.ids_trimmed == 1
    kept = load_events_spark(SparkEvents(str(path), spark=spark), view="hostile_kept", keep_duplicates=True).loaded
    con = duckdb.connect()
    ref = load_events(con, path, keep_duplicates=True)
    assert (kept.duplicates, kept.duplicates_amount, kept.duplicates_kept) == (2, 6.25, True) == (
        ref.duplicates, ref.duplicates_amount, ref.duplicates_kept)
    assert spark.sql("SELECT count(*) FROM hostile_kept").collect()[0][0] == 253


def test_a_mapped_column_that_is_not_there_is_an_error(spark, tmp_path):
    path = _hostile_events(tmp_path / "hostile.csv")
    with pytest.raises(InputError, match=r"^hostile.csv \(Spark\): missing column 'dept' \(the category\); found: "):
        load_events_spark(SparkEvents(str(path), spark=spark), ColumnMapping(category="dept"), view="nodept")


def test_messy_input_is_made_canonical_as_duckdb_does(spark, tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("CustNo;When;Kind;Revenue;Promo\n"
                 " 7 ;31/01/2024 10:00;Order;10.5;yes\n7;31/01/2024 10:00;purchase;10.5;Yes\n"
                 "8;01/02/2024 09:30;page_view;;no\n8;03/02/2024 12:00;REFUND;-4;0\n9;04/02/2024 08:00;wishlist;;\n",
                 encoding="utf-8")
    cols = ColumnMapping(customer_id="CustNo", event_time="When", event_type="Kind", amount="Revenue",
                         discount="Promo")
    stage = load_events_spark(SparkEvents(str(p), spark=spark), cols, view="messy")
    rows = sorted(tuple(r) for r in spark.sql("SELECT customer_id, CAST(event_time AS STRING), event_type, "
                                              "amount, discount FROM messy").collect())
    con = duckdb.connect()
    t = load_events(con, p, cols)
    ref = sorted(con.execute(f"SELECT customer_id, strftime(event_time, '%Y-%m-%d %H:%M:%S'), "
                             f"event_type::VARCHAR, amount, discount FROM {t.table}").fetchall())
    assert rows == ref and stage.loaded.duplicates == t.duplicates == 1
    assert any("%d/%m/%Y %H:%M" in n for n in stage.loaded.notes)


def test_bad_values_and_missing_columns_are_named(spark, tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("customer_id,event_time,amount\n1,2024-01-01,10\n2,2024-01-02,abc\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv \(Spark\): column 'amount': 'abc' is not a number \(1 such rows\)"):
        load_events_spark(SparkEvents(str(p), spark=spark), view="bad")
    with pytest.raises(InputError, match=r"missing column 'ts' \(the event time\); found: customer_id, event_time, amount"):
        load_events_spark(SparkEvents(str(p), spark=spark), ColumnMapping(event_time="ts"), view="bad2")


def _cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def _ari(a, b):
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b)


_COMMON = ("--persona-column", "persona", "--k", 4, "--seed", 0)


@pytest.fixture(scope="module")
def duckdb_run(demo, tmp_path_factory):
    """The demo data run on DuckDB at k = 4: the reference of the Spark runs."""
    out = tmp_path_factory.mktemp("duckdb-run")
    _cli("run", "--events", demo[0]["events"], "--customers", demo[0]["customers"], *_COMMON, "--out", out)
    return out


def test_cli_run_with_the_spark_engine_gives_the_duckdb_partition(spark, demo, duckdb_run, tmp_path):
    files = demo[0]
    settings = tmp_path / "settings.toml"  # the test session is active: getOrCreate() reuses it
    settings.write_text('[spark]\napp_name = "segmentkit-tests"\n[spark.config]\nspark.sql.shuffle.partitions = 4\n')
    _cli("run", settings, "--engine", "spark", "--events", files["events"], "--customers", files["customers"],
         *_COMMON, "--out", tmp_path / "s")
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    d = json.loads((duckdb_run / "summary.json").read_text())
    assert s["run"]["inputs"]["events"]["name"] == "events.csv (Spark)"
    s_notes = [n.replace("events.csv (Spark)", "events.csv") for n in s["data_quality"].pop("notes")]
    assert s_notes == d["data_quality"].pop("notes")
    assert s["data_quality"] == d["data_quality"] and d["data_quality"]["duplicate_events_dropped"] > 0
    assert d["data_quality"]["duplicate_events_amount"] > 0
    assert s["fit_scope"]["fitted_on"] == "all_customers" and d["fit_scope"] is None
    a = pd.read_csv(tmp_path / "s" / "assignments.csv", dtype={"customer_id": str})
    b = pd.read_csv(duckdb_run / "assignments.csv", dtype={"customer_id": str})
    assert a["customer_id"].tolist() == b["customer_id"].tolist() and len(a) == 700 + s["data_quality"]["orphan_customers"]
    assert _ari(a["segment_id"], b["segment_id"]) >= 0.99


def test_beyond_the_driver_threshold_a_sample_is_fitted_and_spark_assigns_everyone(spark, demo, duckdb_run,
                                                                                    tmp_path):
    files = demo[0]
    _cli("run", "--engine", "spark", "--driver-customers", 300, "--events", files["events"],
         "--customers", files["customers"], *_COMMON, "--out", tmp_path / "s")
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    d = json.loads((duckdb_run / "summary.json").read_text())
    scope = s["fit_scope"]
    assert (scope["fitted_on"], scope["assigned_by"], scope["driver_customers"]) == (
        "stratified_sample", "spark_nearest_centre", 300)
    assert scope["customers"] == d["data_quality"]["customers_with_events"] and 300 <= scope["customers_fitted"] < 320
    # the counts are over every customer, as in the full run
    for key in ("orphan_customers", "orphan_events", "customers_without_events", "duplicate_events_dropped"):
        assert s["data_quality"][key] == d["data_quality"][key], key
    a = pd.read_parquet(tmp_path / "s" / "assignments.parquet").sort_values("customer_id")  # Spark's part files
    b = pd.read_csv(duckdb_run / "assignments.csv", dtype={"customer_id": str})
    assert a["customer_id"].tolist() == b["customer_id"].tolist()  # everyone, once
    assert a["status"].tolist() == b["status"].tolist()
    assert _ari(a["segment_id"], b["segment_id"]) >= 0.9
    # later commands read the run's folders of part files as they read a DuckDB run's files
    contacts = tmp_path / "contacts.csv"
    pd.DataFrame({"customer_id": a["customer_id"], "email": [f"c{i}@example.org" for i in range(len(a))]}).to_csv(
        contacts, index=False)
    _cli("export-audiences", tmp_path / "s", "--customers", contacts, "--platform", "meta", "--out", tmp_path / "aud")
    pre = json.loads((tmp_path / "aud" / "audiences.json").read_text())
    sizes = a.loc[a["status"] == "segmented", "segment_id"].value_counts()
    assert {seg["id"]: seg["customers"] for seg in pre["segments"]} == {int(k): int(v) for k, v in sizes.items()}
    res = CliRunner().invoke(app, ["readout", str(tmp_path / "s"), "--events", str(files["events"]),
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "run it with --holdout" in res.output


def test_remote_customers_are_fetched_by_spark_byte_for_byte(spark, demo):
    files = demo[0]
    from segmentkit.spark.customers import SparkCustomers, driver_copy

    with driver_copy(SparkCustomers(files["customers"].as_uri(), spark=spark)) as local:
        assert local.name == "customers.csv" and local.read_bytes() == files["customers"].read_bytes()
    with pytest.raises(InputError, match=r"^nope.csv: cannot be read \("):
        with driver_copy(SparkCustomers(files["customers"].with_name("nope.csv").as_uri(), spark=spark)):
            pass


def test_without_pyspark_one_line_names_the_extra(tmp_path):
    # pyspark made unimportable in a fresh interpreter (None in sys.modules stops an import)
    code = ("import sys; sys.modules['pyspark'] = None; from segmentkit.cli import main; "
            f"sys.argv = ['segmentkit', 'run', '--engine', 'spark', '--events', {str(tmp_path / 'e.csv')!r}]; main()")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 2
    assert res.stderr.strip() == "error: the Spark engine needs pyspark: pip install segmentkit[spark] (and Java 17+)"


def test_the_command_silences_pysparks_pandas_3_warning_and_only_that(monkeypatch):
    from pyspark.sql.pandas.utils import require_minimum_pandas_version

    from segmentkit.cli import main

    with warnings.catch_warnings(record=True) as before:
        warnings.simplefilter("always")
        require_minimum_pandas_version()  # what Spark calls on every pandas conversion
    assert [str(w.message) for w in before if w.category is FutureWarning], "pyspark no longer warns: drop the filter"
    monkeypatch.setattr(sys, "argv", ["segmentkit", "--help"])
    with warnings.catch_warnings(record=True) as after:
        warnings.simplefilter("always")
        with pytest.raises(SystemExit):
            main()
        require_minimum_pandas_version()
        warnings.warn("another FutureWarning", FutureWarning)
    assert [str(w.message) for w in after] == ["another FutureWarning"]


def test_assign_with_the_spark_engine_matches_duckdb_customer_for_customer(spark, demo, tmp_path):
    files = demo[0]
    _cli("run", "--events", files["events"], "--customers", files["customers"], "--k", 4, "--out", tmp_path / "run")
    events = pd.read_csv(files["events"], dtype={"customer_id": str})
    new = events[events["customer_id"].isin(sorted(events["customer_id"].unique())[::3])].copy()
    risky = new[new["customer_id"] == new["customer_id"].iloc[0]].assign(customer_id="=HYPERLINK(1)")
    timeless = new.iloc[:1].assign(customer_id="NO-TIME", event_time="")  # an event row, none usable
    pd.concat([new, risky, timeless]).to_csv(tmp_path / "new.csv", index=False)
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str}).iloc[100:300]
    customers.to_csv(tmp_path / "cust.csv", index=False)
    args = ["--events", tmp_path / "new.csv", "--customers", tmp_path / "cust.csv"]
    _cli("assign", tmp_path / "run", *args, "--out", tmp_path / "d")
    _cli("assign", tmp_path / "run", "--engine", "spark", *args, "--out", (tmp_path / "s").as_uri())  # a URL
    d = pd.read_parquet(tmp_path / "d" / "assignments.parquet")
    s = pd.read_parquet(tmp_path / "s" / "assignments.parquet")  # Spark's folder of part files
    assert len(s) == len(d) > len(new["customer_id"].unique()) and s["status"].eq("no_events").any()
    assert s.loc[s["customer_id"] == "NO-TIME", "status"].tolist() == ["no_usable_events"]
    pd.testing.assert_frame_equal(s.drop(columns="confidence"), d.drop(columns="confidence"))
    assert np.allclose(s["confidence"], d["confidence"], atol=1e-6, equal_nan=True)
    assert (json.loads((tmp_path / "s" / "drift.json").read_text())
            == json.loads((tmp_path / "d" / "drift.json").read_text()))
    parts = sorted((tmp_path / "s" / "assignments.csv").glob("part-*.csv"))
    csv = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts], ignore_index=True)
    ref = pd.read_csv(tmp_path / "d" / "assignments.csv", dtype=str, keep_default_na=False)
    text = ["customer_id", "segment_id", "segment_name", "status"]
    pd.testing.assert_frame_equal(csv[text], ref[text])
    assert "'=HYPERLINK(1)" in csv["customer_id"].tolist()


def test_assign_with_spark_refuses_a_rule_it_cannot_write(spark, demo, tmp_path):
    from dataclasses import replace

    from segmentkit.pipeline import load_model
    from segmentkit.spark.assign import score_spark

    files = demo[0]
    _cli("run", "--events", files["events"], "--k", 3, "--out", tmp_path / "run")
    model = replace(load_model(tmp_path / "run"), algorithm="gmm")
    with pytest.raises(InputError, match="this model is gmm: use --engine duckdb"):
        score_spark(model, SparkEvents(str(files["events"]), spark=spark), str(tmp_path / "out"))


def test_assign_with_spark_applies_the_lifecycle_rules_as_duckdb_does(spark, demo, tmp_path):
    files = demo[0]
    _cli("run", "--events", files["events"], "--layers", "lifecycle", "--k", 3, "--no-validate",
         "--out", tmp_path / "run")
    group_ids = json.loads((tmp_path / "run" / "model" / "model.json").read_text())["lifecycle"]["group_ids"]
    events = pd.read_csv(files["events"], dtype={"customer_id": str})
    new = events[events["customer_id"].isin(sorted(events["customer_id"].unique())[1::3])]
    new.to_csv(tmp_path / "new.csv", index=False)
    # a month before the last event: some customers are new then, others lapsed, one-time or browsing
    args = ["--events", tmp_path / "new.csv", "--snapshot-date", "2026-06-01"]
    _cli("assign", tmp_path / "run", *args, "--out", tmp_path / "d")
    _cli("assign", tmp_path / "run", "--engine", "spark", *args, "--out", tmp_path / "s")
    d = pd.read_parquet(tmp_path / "d" / "assignments.parquet")
    s = pd.read_parquet(tmp_path / "s" / "assignments.parquet")
    assert set(group_ids.values()) <= set(d["segment_id"])  # every group of the run is met
    assert (d["layer"] == "behaviour").sum() > 0
    pd.testing.assert_frame_equal(s.drop(columns="confidence"), d.drop(columns="confidence"))
    assert np.allclose(s["confidence"], d["confidence"], atol=1e-6, equal_nan=True)
    assert (json.loads((tmp_path / "s" / "drift.json").read_text())
            == json.loads((tmp_path / "d" / "drift.json").read_text()))


def test_a_sample_fit_is_layered_and_spark_puts_everyone_where_duckdb_assign_does(spark, demo, tmp_path):
    files = demo[0]
    res = _cli("run", "--engine", "spark", "--driver-customers", 300, "--layers", "lifecycle", "--k", 3,
               "--no-validate", "--events", files["events"], "--out", tmp_path / "s")
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert s["fit_scope"]["fitted_on"] == "stratified_sample" and s["layers"]["mode"] == "lifecycle"
    assert "(the lifecycle rules' lapsed threshold too, when the run is layered)" in " ".join(s["data_quality"]["notes"])
    model = json.loads((tmp_path / "s" / "model" / "model.json").read_text())
    rules, group_ids = model["lifecycle"]["rules"], model["lifecycle"]["group_ids"]
    # everyone as the saved model puts them on DuckDB (its rules, then the nearest centre)
    _cli("assign", tmp_path / "s", "--events", files["events"], "--out", tmp_path / "d")
    a = pd.read_parquet(tmp_path / "s" / "assignments.parquet").sort_values("customer_id").reset_index(drop=True)
    d = pd.read_parquet(tmp_path / "d" / "assignments.parquet").sort_values("customer_id").reset_index(drop=True)
    assert len(a) == s["fit_scope"]["customers"] > s["fit_scope"]["customers_fitted"]
    cols = ["customer_id", "segment_id", "status", "layer"]
    pd.testing.assert_frame_equal(a[cols], d[cols])
    # the groups by the rules themselves, read off every customer's features (first rule wins)
    _, feats = _duckdb_features(files["events"])
    f = feats.frame.reindex(a["customer_id"])
    horizon = np.minimum(np.fmax(rules["lapsed_gaps"] * f["gap_mean_days"], rules["lapsed_days"]),
                         rules["lapsed_max_days"])
    want = np.select([f["tenure_days"] <= rules["new_tenure_days"], f["orders"] == 1, f["orders"] < 1,
                      f["recency_days"] >= horizon], ["new", "one-time", "browsers", "lapsed"], "")
    by_id = {v: k for k, v in group_ids.items()}
    got = a["segment_id"].map(by_id).fillna("").to_numpy()
    assert (got == want).all() and set(want) - {""} == set(group_ids)


