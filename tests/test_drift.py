"""Drift between a run and later customers: none for the same customers, a major shift
flagged on exactly the features that were changed, and segment shares that move."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit.cli import app
from segmentkit.drift import MAJOR, MODERATE, baseline, drift_report, psi
from segmentkit.pipeline import Segmentation, score

#: slow: runs and scores a segmentation; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow


def test_psi_by_hand():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.4 * np.log(0.9 / 0.5) + (-0.4) * np.log(0.1 / 0.5))


def test_baseline_and_report_on_planted_shift():
    rng = np.random.default_rng(1)
    run = pd.DataFrame({"spend": rng.lognormal(3, 1, 5000), "visits": rng.poisson(4, 5000).astype(float)})
    base = baseline(run, np.repeat([0, 1], 2500))
    same = drift_report(base, run, np.repeat([0, 1], 2500))
    assert same["max_psi"] < 1e-6 and "No feature has shifted" in same["verdict"]
    later = pd.DataFrame({"spend": rng.lognormal(3, 1, 3000) * 2.0, "visits": rng.poisson(4, 3000).astype(float)})
    moved = drift_report(base, later, np.repeat([0, 1], [2400, 600]), labels={"spend": "net spend"},
                         names={0: "A", 1: "B"})
    by = {r["feature"]: r for r in moved["features"]}
    assert by["spend"]["psi"] >= MAJOR and by["visits"]["psi"] < MODERATE
    assert moved["features"][0]["feature"] == "spend" and "net spend" in moved["verdict"]
    assert {s["id"]: s["change"] for s in moved["segments"]} == {0: pytest.approx(0.3), 1: pytest.approx(-0.3)}


def test_assigning_the_run_again_shows_no_drift_and_inflated_amounts_do(demo_files, tmp_path):
    _, paths = demo_files
    run = Segmentation(k=6, n_bootstrap=2).fit(customers=paths["customers"], events=paths["events"])
    run.write(tmp_path / "run")
    same = score(tmp_path / "run", customers=paths["customers"], events=paths["events"])
    assert same.drift["max_psi"] < 0.01
    assert all(abs(s["change"]) < 1e-9 for s in same.drift["segments"])
    events = pd.read_csv(paths["events"], dtype={"customer_id": str, "order_id": str})
    events["amount"] = events["amount"] * 3  # prices tripled: spend features move, habits do not
    inflated = tmp_path / "inflated.csv"
    events.to_csv(inflated, index=False)
    res = CliRunner().invoke(app, ["assign", str(tmp_path / "run"), "--events", str(inflated),
                                   "--customers", str(paths["customers"]), "--out", str(tmp_path / "new")])
    assert res.exit_code == 0, res.output
    drift = json.loads((tmp_path / "new" / "drift.json").read_text())
    by = {r["feature"]: r for r in drift["features"]}
    assert by["monetary"]["level"] == "major" and by["avg_order_value"]["level"] == "major"
    assert by["orders"]["psi"] < 0.01 and by["recency_days"]["psi"] < 0.01
    assert "major shift" in drift["verdict"] and "Drift:" in res.output
