"""Holdout groups: sizes against the textbook power calculation, deterministic hash
assignment, and the lift read back (planted +15 % found, A/A split finds nothing)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit import Segmentation
from segmentkit.cli import app
from segmentkit.datasets import make_demo, write_demo
from segmentkit.holdout import (
    MAX_HOLDOUT_SHARE,
    compare_groups,
    holdout_groups,
    plan_holdout,
    read_out,
    required_n_two_means,
    required_n_two_proportions,
    smallest_holdout_share,
    uniform_from_ids,
)

# z_{1-alpha/2} for alpha = 0.05 and z_{1-beta} for power 0.80, from the normal table
Z_975 = 1.959964
Z_80 = 0.841621
Z2 = (Z_975 + Z_80) ** 2  # 2.801585**2 = 7.848879


# ---------------------------------------------------------------------------------------
# Sample sizes: golden numbers computed by hand from the textbook formulas
# ---------------------------------------------------------------------------------------


def test_two_proportions_textbook_sample_size():
    # p1 = 0.30 (base), p2 = 0.33 (+10 %):
    # n = (1.959964 + 0.841621)^2 * (0.30*0.70 + 0.33*0.67) / (0.33 - 0.30)^2
    #   = 7.848879 * (0.21 + 0.2211) / 0.0009 = 7.848879 * 0.4311 / 0.0009 = 3759.6 -> 3760 per group
    assert Z2 == pytest.approx(7.848879, abs=1e-6)
    assert Z2 * 0.4311 / 0.0009 == pytest.approx(3759.6, abs=0.1)
    assert required_n_two_proportions(0.30, 0.33) == 3760


def test_two_means_textbook_sample_size():
    # sd = 50, mean 100, +10 % -> delta = 10:
    # n = 2 * 7.848879 * 50^2 / 10^2 = 2 * 7.848879 * 25 = 392.44 -> 393 per group
    assert 2 * Z2 * 2500 / 100 == pytest.approx(392.44, abs=0.01)
    assert required_n_two_means(50, 10) == 393


def test_holdout_share_for_unequal_groups_by_hand():
    # proportions, N = 20,000: solve 0.21/(hN) + 0.2211/((1-h)N) = 0.0009/7.848879
    # c = N delta^2 / z^2 = 20000 * 0.0009 / 7.848879 = 2.293317
    # c h^2 + (0.2211 - 0.21 - c) h + 0.21 = 0 -> 2.293317 h^2 - 2.282217 h + 0.21 = 0
    # disc = 2.282217^2 - 4 * 2.293317 * 0.21 = 5.208514 - 1.926386 = 3.282128, sqrt 1.811664
    # h = (2.282217 - 1.811664) / (2 * 2.293317) = 0.470553 / 4.586634 = 0.102592
    assert smallest_holdout_share(20_000, 0.21, 0.2211, 0.03) == pytest.approx(0.102592, abs=2e-6)
    # check: 0.21/(0.102592*20000) + 0.2211/(0.897408*20000) = 1.02347e-4 + 1.23186e-5 = 1.14666e-4
    #        = 0.0009 / 7.848879 = 1.146666e-4
    assert 0.21 / (0.102592 * 20000) + 0.2211 / (0.897408 * 20000) == pytest.approx(0.0009 / Z2, rel=1e-4)
    # equal groups of the textbook n (2 x 3760) suffice with at most half held out ...
    assert 0.48 < smallest_holdout_share(7520, 0.21, 0.2211, 0.03) <= MAX_HOLDOUT_SHARE
    # ... and 2 x 3750 do not: too small to test
    assert smallest_holdout_share(7500, 0.21, 0.2211, 0.03) is None

    # means, N = 2,000, sd 50, delta 10: c = 2000 * 100 / 7.848879 = 25481.3
    # c h^2 - c h + 2500 = 0 -> h = (1 - sqrt(1 - 4 * 2500 / 25481.3)) / 2
    #   = (1 - sqrt(0.607557)) / 2 = (1 - 0.779459) / 2 = 0.110270
    assert smallest_holdout_share(2000, 2500, 2500, 10) == pytest.approx(0.110270, abs=2e-6)
    assert smallest_holdout_share(786, 2500, 2500, 10) <= MAX_HOLDOUT_SHARE  # 2 x 393
    assert smallest_holdout_share(784, 2500, 2500, 10) is None  # 2 x 392


def test_plan_uses_the_segments_base_rates():
    # segment 0: 20,000 customers, 30 % bought in the base window; spend 0 or 100
    # segment 1: 300 customers: too small for a 10 % lift
    n0, n1 = 20_000, 300
    labels = np.r_[np.zeros(n0, int), np.ones(n1, int), [-1]]
    bought = np.r_[np.arange(n0) % 10 < 3, np.arange(n1) % 10 < 3, [True]]
    spend = np.where(bought, 100.0, 0.0)
    plan = plan_holdout(labels, bought, spend, min_lift=0.10, seed=7)
    seg0, seg1 = plan.segments
    assert [s.segment_id for s in plan.segments] == [0, 1]  # noise is never held out
    rate = next(m for m in seg0.metrics if m.metric == "repeat_rate")
    assert rate.base == pytest.approx(0.30) and rate.holdout_share == pytest.approx(0.102592, abs=2e-6)
    # spend: mean 30, sd = 100 * sqrt(0.3 * 0.7 * n/(n-1)) = 45.8269; delta 3 ->
    # c = 20000 * 9 / 7.848879 = 22933.2; 4 * 2100.105 / 22933.2 = 0.366300
    # h = (1 - sqrt(1 - 0.366300)) / 2 = (1 - 0.796053) / 2 = 0.101974
    spend_plan = next(m for m in seg0.metrics if m.metric == "spend")
    assert spend_plan.spread == pytest.approx(45.8269, abs=1e-3)
    assert spend_plan.holdout_share == pytest.approx(0.101974, abs=5e-6)
    # both metrics powered: the larger share (the repeat rate's) is held out
    assert seg0.testable and seg0.holdout_share == rate.holdout_share
    assert not seg1.testable and seg1.holdout_share == 0 and seg1.reason.startswith("too small to test")
    assert plan.share_of(-1) == 0


# ---------------------------------------------------------------------------------------
# Assignment
# ---------------------------------------------------------------------------------------


def _md5_uniform(seed: int, cid: str) -> float:
    return int(hashlib.md5(f"{seed}:{cid}".encode()).hexdigest()[:13], 16) / 16**13


def test_uniform_is_md5_of_seed_and_id():
    ids = pd.Series(["a", "0042", "Ü-7", "x" * 40])
    got = uniform_from_ids(ids, 3)
    assert got.tolist() == pytest.approx([_md5_uniform(3, c) for c in ids], abs=0)


def test_groups_are_deterministic_stable_and_sized():
    n = 40_000
    ids = [f"C{i:06d}" for i in range(n)]
    seg = np.arange(n) % 2
    a = pd.DataFrame({"customer_id": ids, "segment_id": seg, "status": "segmented"})
    a.loc[:9, ["segment_id", "status"]] = [-1, "no_events"]
    labels = a["segment_id"].to_numpy()
    plan = plan_holdout(labels, np.arange(n) % 10 < 3, None, min_lift=0.10, seed=5)
    groups = holdout_groups(a, plan)
    assert set(groups[:10]) == {""}  # not segmented: no group
    for sp in plan.segments:
        share = (groups[a["segment_id"] == sp.segment_id] == "holdout").mean()
        assert share == pytest.approx(sp.holdout_share, abs=0.01)
    # row order and other customers do not change anyone's group (same seed, same segment)
    shuffled = a.sample(frac=1.0, random_state=1)
    again = holdout_groups(shuffled, plan)
    assert (again.reindex(a.index) == groups).all()
    refreshed = pd.concat([a.iloc[::3], pd.DataFrame({"customer_id": ["NEW1", "NEW2"], "segment_id": [0, 1],
                                                       "status": "segmented"})], ignore_index=True)
    kept = holdout_groups(refreshed, plan)
    assert kept.iloc[:-2].tolist() == groups.iloc[::3].tolist()
    # another seed, other groups
    other = holdout_groups(a, plan_holdout(labels, np.arange(n) % 10 < 3, None, min_lift=0.10, seed=6))
    assert (other != groups).mean() > 0.05


# ---------------------------------------------------------------------------------------
# Readout
# ---------------------------------------------------------------------------------------


def _campaign(n: int, holdout_share: float, lift: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assignments of one segment and its campaign events: holdout customers buy with
    probability 0.30 (spend per buyer ~ gamma, mean 80), target ones with 0.30 * (1 + lift)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"K{i:06d}" for i in range(n)])
    group = np.where(rng.random(n) < holdout_share, "holdout", "target")
    p = np.where(group == "target", 0.30 * (1 + lift), 0.30)
    buys = rng.random(n) < p
    amount = rng.gamma(2.0, 40.0, n)
    start = pd.Timestamp("2026-03-01")
    events = pd.DataFrame({
        "customer_id": ids[buys],
        "event_time": start + pd.to_timedelta(rng.integers(0, 28 * 24, buys.sum()), unit="h"),
        "event_type": "purchase",
        "amount": amount[buys].round(2),
    })
    # a purchase outside the window must not count
    events = pd.concat([events, pd.DataFrame({"customer_id": ids[:50], "event_time": pd.Timestamp("2026-02-20"),
                                               "event_type": "purchase", "amount": 1000.0})])
    assignments = pd.DataFrame({"customer_id": ids, "segment_id": 3, "status": "segmented", "group": group})
    return assignments, events


def _read(assignments: pd.DataFrame, events: pd.DataFrame) -> dict:
    con = duckdb.connect()
    try:
        con.register("ev", events)
        return read_out("ev", con, assignments, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 29),
                        has_amount=True, has_type=True, names={3: "Planted"})
    finally:
        con.close()


def test_planted_15_percent_lift_is_read_back_within_its_interval():
    assignments, events = _campaign(60_000, 0.5, 0.15, seed=11)
    seg = _read(assignments, events)["segments"][0]
    assert seg["segment_id"] == 3 and seg["n_target"] + seg["n_holdout"] == 60_000
    for metric in ("share_buying", "spend_per_customer"):
        m = seg[metric]
        lo, hi = m["lift_ci"]
        assert lo <= 0.15 <= hi, (metric, m)
        assert lo > 0  # found: the interval excludes no lift
    # by hand on the customers: share buying in each group, from the events
    bought = set(events.loc[events["event_time"] >= "2026-03-01", "customer_id"])
    t = assignments[assignments["group"] == "target"]["customer_id"].isin(bought).mean()
    h = assignments[assignments["group"] == "holdout"]["customer_id"].isin(bought).mean()
    assert seg["share_buying"]["target"] == pytest.approx(t) and seg["share_buying"]["holdout"] == pytest.approx(h)
    assert "a real lift" in seg["verdict"]


def test_aa_split_finds_no_lift():
    assignments, events = _campaign(60_000, 0.5, 0.0, seed=12)
    seg = _read(assignments, events)["segments"][0]
    for metric in ("share_buying", "spend_per_customer"):
        lo, hi = seg[metric]["lift_ci"]
        assert lo < 0 < hi, (metric, seg[metric])
        dlo, dhi = seg[metric]["difference_ci"]
        assert dlo < 0 < dhi
    assert "no clear difference" in seg["verdict"]


def test_aa_intervals_cover_zero_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = {"spend_per_customer": 0, "share_buying": 0}
    runs = 400
    for _ in range(runs):
        n = 2000
        bought = rng.random(n) < 0.3
        spend = np.where(bought, rng.gamma(2.0, 40.0, n), 0.0)
        group = np.where(rng.random(n) < 0.3, "holdout", "target")
        cmp = compare_groups(spend, bought, group)
        for k in covered:
            lo, hi = cmp[k]["difference_ci"]
            covered[k] += lo <= 0 <= hi
    for k, c in covered.items():
        assert 0.92 <= c / runs <= 0.98, (k, c / runs)


# ---------------------------------------------------------------------------------------
# End to end: run --holdout, campaign, readout
# ---------------------------------------------------------------------------------------


def test_run_with_holdout_then_readout_cli(tmp_path: Path):
    data = make_demo(1500, seed=0)
    paths = write_demo(tmp_path / "data", data)
    names = tmp_path / "names.toml"
    names.write_text('[names]\n0 = "<script>alert(1)</script>"\n', encoding="utf-8")
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", "--events", str(paths["events"]), "--customers", str(paths["customers"]),
                                 "--seed", "0", "--holdout", "--min-lift", "0.5", "--names", str(names),
                                 "--out", str(run)])
    assert r.exit_code == 0, r.output
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    plan = summary["holdout"]
    assert plan["min_lift"] == 0.5 and plan["power"] == 0.8 and plan["alpha"] == 0.05
    a = pd.read_parquet(run / "assignments.parquet")
    csv = pd.read_csv(run / "assignments.csv", dtype=str, keep_default_na=False)
    assert list(csv.columns)[-1] == "group" and (csv["group"].to_numpy() == a["group"].to_numpy()).all()
    assert set(a.loc[a["status"] != "segmented", "group"]) <= {""}
    tested = [s for s in plan["segments"] if s["testable"]]
    assert tested, plan
    report = (run / "report.html").read_text(encoding="utf-8")
    assert report.count("data-holdout") == len(plan["segments"])
    assert tested[0]["reason"] in report.replace("&#39;", "'")
    for s in plan["segments"]:
        got = (a.loc[a["segment_id"] == s["segment_id"], "group"] == "holdout").mean()
        assert got == pytest.approx(s["holdout_share"], abs=0.06)
    # the same run again: the same groups, byte for byte
    run2 = tmp_path / "run2"
    r2 = CliRunner().invoke(app, ["run", "--events", str(paths["events"]), "--customers", str(paths["customers"]),
                                  "--seed", "0", "--holdout", "--min-lift", "0.5", "--out", str(run2)])
    assert r2.exit_code == 0
    assert (pd.read_parquet(run2 / "assignments.parquet")["group"] == a["group"]).all()

    # the campaign: a month of purchases after the snapshot, +30 % buying in the target group
    rng = np.random.default_rng(3)
    seg = a[a["group"].isin(["target", "holdout"])]
    p = np.where(seg["group"] == "target", 0.39, 0.30)
    buyers = seg.loc[rng.random(len(seg)) < p, "customer_id"]
    snap = pd.Timestamp(summary["snapshot_date"])
    campaign = pd.DataFrame({"customer_id": buyers.to_numpy(), "event_time": snap + pd.Timedelta(days=3),
                             "event_type": "purchase", "amount": 50.0})
    ev = tmp_path / "campaign.csv"
    campaign.to_csv(ev, index=False)
    out = tmp_path / "readout"
    r = CliRunner().invoke(app, ["readout", str(run), "--events", str(ev), "--out", str(out)])
    assert r.exit_code == 0, r.output
    readout = json.loads((out / "readout.json").read_text(encoding="utf-8"))
    assert readout["window"]["from"] == summary["snapshot_date"]
    ids = {s["segment_id"] for s in readout["segments"]}
    assert ids == {s["segment_id"] for s in plan["segments"]}
    html = (out / "readout.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for cid in a["customer_id"].head(200):  # no customer id anywhere
        assert not re.search(rf"\b{re.escape(cid)}\b", html + json.dumps(readout))
    assert "http" not in html.replace("http-equiv", "")

    # user errors: exit 2 with one line
    bad = CliRunner().invoke(app, ["readout", str(run), "--events", str(ev), "--from", "2026-13-01", "--out", str(out)])
    assert bad.exit_code == 2 and "--from must be YYYY-MM-DD" in bad.output
    nogroup = CliRunner().invoke(app, ["readout", str(run2.parent / "nothing"), "--events", str(ev), "--out", str(out)])
    assert nogroup.exit_code == 2 and "not found" in nogroup.output
    no_holdout = tmp_path / "plain"
    CliRunner().invoke(app, ["run", "--events", str(paths["events"]), "--seed", "0", "--k", "3", "--out", str(no_holdout)])
    r = CliRunner().invoke(app, ["readout", str(no_holdout), "--events", str(ev), "--out", str(out)])
    assert r.exit_code == 2 and "--holdout" in r.output
    r = CliRunner().invoke(app, ["run", "--events", str(paths["events"]), "--min-lift", "0.2", "--out", str(out)])
    assert r.exit_code == 2 and "--min-lift needs --holdout" in r.output
