"""Exclude rules (staff, test accounts): who is left out, how they are reported, settings and flag."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit import Segmentation
from segmentkit.cli import app
from segmentkit.config import Settings, format_settings, load_settings
from segmentkit.datasets import make_demo, write_demo
from segmentkit.errors import InputError
from segmentkit.exclusions import excluded_customers, exclusion_rules
from segmentkit.model import load_model
from segmentkit.pipeline import score

runner = CliRunner()


def test_cells_match_as_trimmed_case_folded_text_and_the_first_rule_names_the_reason():
    customers = pd.DataFrame({
        "kind": [" Staff", "retail", "TEST", None, "staff"],
        "flag": [1.0, np.nan, 1.0, 1.0, 0.0],  # a 0/1 column read as numbers
        "vip": [True, False, False, True, False],
    }, index=["a", "b", "c", "d", "e"])
    reason = excluded_customers(customers, exclusion_rules({"kind": ["staff", "Test"], "flag": 1}), "crm.csv")
    assert reason.to_dict() == {"a": "kind = staff", "c": "kind = Test", "d": "flag = 1", "e": "kind = staff"}
    assert excluded_customers(customers, {"vip": ("true",)}, "crm.csv").index.tolist() == ["a", "d"]
    with pytest.raises(InputError, match="missing column 'staff_flag' \\(an exclude rule\\)") as exc:
        excluded_customers(customers, {"staff_flag": ("1",)}, "crm.csv")
    assert exc.value.source == "crm.csv"


@pytest.mark.parametrize("bad", [["staff"], {"kind": []}, {"kind": [True]}, {"kind": 1.5}, {"": "x"},
                                 {"kind": [" "]}])
def test_bad_rules_are_refused_naming_the_setting(bad):
    with pytest.raises(InputError, match=r"\[data\] exclude"):
        exclusion_rules(bad)


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crm")
    files = write_demo(folder, make_demo(400, seed=3))
    customers = pd.read_csv(files["customers"])
    customers["account_type"] = np.where(np.arange(len(customers)) % 20 == 0, "Staff", "retail")
    customers.loc[customers.index % 33 == 1, "account_type"] = "test"
    customers.to_csv(folder / "crm.csv", index=False)
    return files["events"], folder / "crm.csv", customers


def test_excluded_customers_stay_in_the_assignments_marked_with_the_reason(crm):
    events, path, customers = crm
    staff = set(customers.loc[customers["account_type"] == "Staff", "customer_id"])
    test = set(customers.loc[customers["account_type"] == "test", "customer_id"])
    # rows 0, 20, ..., 380 (20) are staff but row 100, one of the 13 rows 1, 34, ..., 397: test
    assert len(staff) == 19 and len(test) == 13
    result = Segmentation(k=3, n_bootstrap=0, validate=False, exclude={"account_type": ["staff", "TEST"]}).fit(
        customers=path, events=events)
    a = result.assignments
    assert a["customer_id"].is_unique
    out = a.loc[a["status"] == "excluded"]
    assert set(out["customer_id"]) == staff | test
    assert set(out.loc[out["customer_id"].isin(staff), "reason"]) == {"account_type = staff"}
    assert set(out.loc[out["customer_id"].isin(test), "reason"]) == {"account_type = TEST"}
    assert (a.loc[a["status"] != "excluded", "reason"] == "").all() and (out["segment_id"] == -1).all()
    s = result.summary
    assert s.status_counts["excluded"] == 32 and s.data_quality.customers_excluded == 32
    assert sum(seg.size for seg in s.segments) == s.status_counts["segmented"]
    assert any("32 customer(s) left out by the exclude rules (account_type = staff or TEST)" in n
               for n in s.data_quality.notes)
    assert s.run.parameters["exclude"] == {"account_type": ["staff", "TEST"]}


def test_the_rules_round_trip_through_the_settings_file_and_the_flag(crm, tmp_path):
    events, path, _ = crm
    settings = Settings(exclude={"account_type": ("staff", "test")})
    (tmp_path / "s.toml").write_text(format_settings(settings), encoding="utf-8")
    assert load_settings(tmp_path / "s.toml").exclude == {"account_type": ("staff", "test")}
    # a flag's column replaces the file's rule for it
    assert load_settings(tmp_path / "s.toml", exclude={"account_type": ["x"]}).exclude == {"account_type": ("x",)}
    res = runner.invoke(app, ["run", "--events", str(events), "--customers", str(path), "--k", "3",
                              "--no-validate", "--exclude", "account_type=staff", "--exclude", "account_type=test",
                              "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    written = pd.read_csv(tmp_path / "out" / "assignments.csv", keep_default_na=False)
    assert (written["status"] == "excluded").sum() == 32
    res = runner.invoke(app, ["run", "--events", str(events), "--customers", str(path), "--exclude", "staff",
                              "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "--exclude must be COLUMN=VALUE" in res.output
    res = runner.invoke(app, ["run", "--events", str(events), "--exclude", "account_type=staff",
                              "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "--exclude needs a customers table" in res.output


@pytest.fixture(scope="module")
def excluding_run(crm, tmp_path_factory):
    """A run that left out staff and test accounts, and 20 later customers (3 of them staff,
    spelled three ways) with their events."""
    events, path, customers = crm
    out = tmp_path_factory.mktemp("excluding") / "out"
    Segmentation(k=3, n_bootstrap=0, validate=False, exclude={"account_type": ["staff", "test"]}).fit(
        customers=path, events=events).write(out)
    later = customers.iloc[40:60].copy()
    later["account_type"] = "retail"
    later.iloc[[2, 7, 11], later.columns.get_loc("account_type")] = [" Staff", "staff", "STAFF"]
    later.to_csv(out.parent / "later.csv", index=False)
    ev = pd.read_csv(events)
    ev[ev["customer_id"].isin(later["customer_id"])].to_csv(out.parent / "later_events.csv", index=False)
    staff = set(later["customer_id"].iloc[[2, 7, 11]])
    return out, out.parent / "later.csv", out.parent / "later_events.csv", staff


def test_the_saved_model_keeps_the_rules_and_a_model_without_them_still_loads(excluding_run, tmp_path):
    out = excluding_run[0]
    assert load_model(out).exclude == {"account_type": ("staff", "test")}
    old = json.loads((out / "model" / "model.json").read_text(encoding="utf-8"))
    del old["exclude"]  # a model written before the rules were kept
    (tmp_path / "model.json").write_text(json.dumps(old), encoding="utf-8")
    assert load_model(tmp_path).exclude == {}


def test_assign_applies_the_models_rules_to_the_customers_table(excluding_run, tmp_path):
    out, later, later_events, staff = excluding_run
    res = runner.invoke(app, ["assign", str(out), "--customers", str(later), "--events", str(later_events),
                              "--out", str(tmp_path / "assigned")])
    assert res.exit_code == 0, res.output
    a = pd.read_csv(tmp_path / "assigned" / "assignments.csv", keep_default_na=False)
    # 20 customers, every one with events: 3 staff left out, 17 segmented
    assert len(a) == 20 and a["customer_id"].is_unique
    assert set(a.loc[a["status"] == "excluded", "customer_id"]) == staff
    assert set(a.loc[a["status"] == "excluded", "reason"]) == {"account_type = staff"}
    assert (a.loc[a["status"] == "excluded", "segment_id"] == -1).all()
    assert (a.loc[a["status"] != "excluded", "reason"] == "").all() and (a["status"] == "segmented").sum() == 17
    assert "excluded 3" in res.output
    note = "later.csv: 3 customer(s) left out by the exclude rules (account_type = staff or test)"
    assert note in " ".join(res.output.split())
    drift = json.loads((tmp_path / "assigned" / "drift.json").read_text(encoding="utf-8"))
    assert any(note in n for n in drift["notes"])
    # the new segment shares are over the 17 customers left in (shares rounded to 4 places)
    counts = [s["new_share"] * 17 for s in drift["segments"]]
    assert np.allclose(counts, np.round(counts), atol=0.01) and round(sum(counts)) == 17
    # without the rules the same three would have been segmented
    plain = score(replace(load_model(out), exclude={}), customers=later, events=later_events).assignments
    assert set(plain.loc[plain["customer_id"].isin(staff), "status"]) == {"segmented"}
    kept = a["status"] != "excluded"
    assert plain.set_index("customer_id").loc[a.loc[kept, "customer_id"], "segment_id"].tolist() == \
        a.loc[kept, "segment_id"].tolist()


def test_assign_refuses_a_model_with_rules_without_customers(excluding_run, tmp_path):
    out, _, later_events, _ = excluding_run
    for engine in ("duckdb", "spark"):  # on Spark, before Spark starts
        res = runner.invoke(app, ["assign", str(out), "--engine", engine, "--events", str(later_events),
                                  "--out", str(tmp_path / engine)])
        assert res.exit_code == 2
        assert "exclude rules (account_type = staff or test)" in res.output and "give --customers" in res.output


def test_when_the_rules_leave_nobody_no_drift_is_measured(excluding_run, tmp_path):
    out, later, later_events, _ = excluding_run
    everyone = pd.read_csv(later).assign(account_type="test")
    everyone.to_csv(tmp_path / "all_test.csv", index=False)
    scored = score(out, customers=tmp_path / "all_test.csv", events=later_events)
    assert (scored.assignments["status"] == "excluded").sum() == 20 and scored.drift == {}
    assert any("no drift measured" in n for n in scored.notes)
