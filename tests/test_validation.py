"""Out-of-time validation: η² by hand, a planted history whose future is known, skipping,
and the sample measured above the bound."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmentkit import Segmentation
import segmentkit.validation as validation
from segmentkit.validation import eta_squared, horizon_days, rfm_groups, sample_customers, validate

START = dt.date(2024, 1, 1)


def _history(days: int = 365, noisy: bool = False) -> tuple[pd.DataFrame, dict[str, int]]:
    """60 weekly buyers who keep buying (30 at 10 per order, 30 at 30) and 60 who bought
    weekly for the first half of the history and stopped. ``noisy``: amounts vary ±20 %
    and first orders by up to 4 days (so customers are not copies of each other)."""
    rng = np.random.default_rng(0)
    rows, group = [], {}
    for i in range(120):
        cid = f"c{i:03d}"
        stays = i < 60
        group[cid] = 0 if stays else 1
        amount = (10.0 if i % 2 else 30.0) if stays else 20.0
        last = days if stays else days // 2
        first = i % 5 if noisy else 0
        for d in range(first, last, 7):
            paid = amount * rng.uniform(0.8, 1.2) if noisy else amount
            rows.append((cid, pd.Timestamp(START) + pd.Timedelta(days=d, hours=12), paid))
    return pd.DataFrame(rows, columns=["customer_id", "event_time", "amount"]), group


def test_eta_squared_by_hand():
    # groups {1, 3} and {5, 7, 9}: grand mean 5, total SS 16+4+0+4+16 = 40,
    # between 2·(2-5)² + 3·(7-5)² = 30 → 0.75
    assert eta_squared(np.array([1, 3, 5, 7, 9.0]), np.array([0, 0, 1, 1, 1])) == pytest.approx(0.75)
    assert eta_squared(np.ones(5), np.array([0, 0, 1, 1, 1])) is None  # nothing to explain
    assert eta_squared(np.arange(5.0), np.zeros(5)) is None  # one group


def test_horizon_is_the_last_quarter_at_most_90_days():
    assert horizon_days(START, START + dt.timedelta(days=200)) == (50, None)
    assert horizon_days(START, START + dt.timedelta(days=730)) == (90, None)
    days, reason = horizon_days(START, START + dt.timedelta(days=100))
    assert days is None and "100 days" in reason


def test_rfm_groups_rank_recent_frequent_big_spenders_highest():
    rec = np.array([5, 5, 300, 300.0] * 25)
    orders = np.array([20, 20, 1, 1.0] * 25)
    money = np.array([900, 900, 10, 10.0] * 25)
    g = rfm_groups(rec, orders, money, 2)
    assert set(g[rec == 5]) == {1} and set(g[rec == 300]) == {0}


def test_planted_history_known_future():
    events, group = _history()
    snapshot = START + dt.timedelta(days=365)
    con = duckdb.connect()
    con.register("ev_df", events)
    con.execute("CREATE TABLE ev AS SELECT *, 'purchase' AS event_type FROM ev_df")

    def past_fit(cutoff):
        ids = sorted(group)
        frame = pd.DataFrame({"recency_days": [1.0] * 60 + [200.0] * 60, "orders": [40.0] * 60 + [26.0] * 60,
                              "monetary": [800.0] * 120}, index=ids)
        return pd.Series([group[c] for c in ids], index=ids), frame

    v = validate(con, "ev", ["customer_id", "event_time", "amount", "event_type"],
                 first_event=START, snapshot=snapshot, past_fit=past_fit)
    assert v["status"] == "done" and v["horizon_days"] == 90
    assert v["cutoff"] == "2024-10-02"  # day 365 - 90 = day 275 after 2024-01-01 (a leap year)
    # the future (days 275..364): weekly orders on days 280, 287, ..., 364 = 13 orders;
    # stayers spend 13 × 10 = 130 or 13 × 30 = 390, the others nothing
    a, b = math.log1p(130), math.log1p(390)
    g = (a + b) / 4  # grand mean of 60 zeros, 30 a, 30 b
    total = 60 * g**2 + 30 * (a - g) ** 2 + 30 * (b - g) ** 2
    between = 60 * g**2 + 60 * ((a + b) / 2 - g) ** 2
    assert v["segments"]["spend_eta2"] == pytest.approx(between / total, abs=1e-6)
    assert v["segments"]["buy_again_eta2"] == pytest.approx(1.0)
    assert v["buyers_share"] == pytest.approx(0.5)
    assert v["rfm"]["groups"] == 2
    assert "the segments explain" in v["sentence"]


@pytest.mark.filterwarnings("ignore:constant feature")  # weekly orders: gaps do not vary
def test_pipeline_reports_validation_and_skips_short_history(tmp_path):
    events, group = _history(noisy=True)
    # three planted groups (stayers at 10 and at 30 per order, leavers at 20): k = 3 separates
    # them whatever the feature families weigh (with k = 2 the split would depend on whether
    # engagement or value leads)
    result = Segmentation(k=3, n_bootstrap=0).fit(events=events)
    v = result.summary.validation
    assert v.status == "done" and v.horizon_days == 90 and v.n_customers == 120
    # the past fit separates stayers from leavers: their future is all but explained
    assert v.segments.buy_again_eta2 == pytest.approx(1.0)
    assert v.segments.spend_eta2 > 0.9
    paths = result.write(tmp_path / "out")  # the report's headline says it
    assert "the segments explain" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert paths
    short = events[events["event_time"] < pd.Timestamp(START) + pd.Timedelta(days=100)]
    skipped = Segmentation(k=2, n_bootstrap=0).fit(events=short).summary.validation
    assert skipped.status == "skipped" and "needs at least 120" in skipped.reason
    off = Segmentation(k=2, n_bootstrap=0, validate=False).fit(events=events).summary.validation
    assert off.status == "skipped"


def test_sample_customers_is_a_seeded_subset_of_the_bound():
    ordered = pd.Index([f"id{i}" for i in range(1000)])
    ids, sample = sample_customers(ordered, size=100, random_state=3)
    assert len(ids) == 100 and ids.is_unique and ids.isin(ordered).all()
    assert sample == {"size": 100, "of": 1000, "method": "simple random sample, seeded"}
    # drawn by position, kept in the given order: the same draw whatever the ids are called
    assert list(ordered.get_indexer(ids)) == sorted(ordered.get_indexer(ids))
    again, _ = sample_customers(pd.Index([f"other{i}" for i in range(1000)]), size=100, random_state=3)
    assert [int(x[5:]) for x in again] == [int(x[2:]) for x in ids]
    assert not sample_customers(ordered, size=100, random_state=4)[0].equals(ids)
    whole, none = sample_customers(ordered, size=1000)
    assert whole.equals(ordered) and none is None


@pytest.mark.filterwarnings("ignore:constant feature")  # weekly orders: gaps do not vary
def test_pipeline_measures_a_sample_above_the_bound(monkeypatch):
    """Above the bound the validation measures a sample of the customers and says so; the
    planted future is still explained, and neither row order nor the ids' spelling moves it."""
    events, _ = _history(noisy=True)
    monkeypatch.setattr(validation, "VALIDATION_SAMPLE", 60)
    v = Segmentation(k=3, n_bootstrap=0).fit(events=events).summary.validation
    assert v.status == "done" and v.n_customers == 60
    assert v.sample.model_dump() == {"size": 60, "of": 120, "method": "simple random sample, seeded"}
    assert "random sample of 60 of the 120 customers" in v.sentence
    assert v.segments.buy_again_eta2 == pytest.approx(1.0)  # stayers from leavers, as on everyone
    renamed = events.assign(customer_id="zz-" + events["customer_id"].str[::-1]).sample(frac=1.0, random_state=1)
    assert Segmentation(k=3, n_bootstrap=0).fit(events=renamed).summary.validation == v
