"""The answer does not depend on row order, on how ids are spelled, or on the process time
zone (property tests with Hypothesis; few examples each, every example is a whole run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from segmentkit.datasets import make_demo
from segmentkit.pipeline import Segmentation, _value_order

RUNS = settings(max_examples=2, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@lru_cache(maxsize=1)
def _events() -> pd.DataFrame:
    return make_demo(150, seed=5).events


@lru_cache(maxsize=1)
def _reference() -> tuple[dict, pd.DataFrame]:
    return _fit(_events())


def _fit(events: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """The summary and the assignments (indexed by id) of a run with k chosen by the selection."""
    res = Segmentation(random_state=0, n_bootstrap=4, k_max=6).fit(events=events)
    return res.summary, res.assignments.set_index("customer_id")


@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
@RUNS
def test_row_order_changes_nothing(seed):
    ref_summary, ref = _reference()
    shuffled = _events().sample(frac=1.0, random_state=np.random.RandomState(seed)).reset_index(drop=True)
    summary, got = _fit(shuffled)
    assert summary == ref_summary
    pd.testing.assert_frame_equal(got.sort_index(), ref.sort_index())


@given(names=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄÖ0123456789-_.", min_size=1, max_size=12),
                      min_size=200, max_size=200, unique=True))
@RUNS
def test_consistent_renaming_of_ids_changes_nothing(names):
    """The same customers under other names: the same k, the same segment for each customer,
    the same summary (it holds no ids)."""
    ref_summary, ref = _reference()
    events = _events()
    old = sorted(events["customer_id"].unique())
    rename = dict(zip(old, (n.strip() or "x" for n in names)))
    assert len(rename) == len(old)
    if len(set(rename.values())) < len(rename):  # stripping made two names alike
        return
    renamed = events.assign(customer_id=events["customer_id"].map(rename))
    summary, got = _fit(renamed)
    assert summary.k == ref_summary.k
    assert summary == ref_summary
    back = got.rename(index={v: k for k, v in rename.items()}).sort_index()
    pd.testing.assert_frame_equal(back, ref.sort_index(), check_names=False)


def test_value_order_sorts_by_every_column_in_turn():
    """By hand: the first column, ties by the second, then the third; missing last, -0.0
    equal to 0.0, rows equal in every column in their order."""
    frame = pd.DataFrame({"a": [1.0, 0.0, np.nan, 1.0, -0.0, 1.0, 0.0],
                          "b": [2.0, np.nan, 5.0, 1.0, 3.0, 2.0, 3.0],
                          "c": [9.0, 1.0, 0.0, 7.0, 4.0, 8.0, 2.0]},
                         index=["p", "q", "r", "s", "t", "u", "v"])
    assert list(_value_order(frame).index) == ["v", "t", "q", "s", "u", "p", "r"]


@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
@settings(max_examples=25, deadline=None, derandomize=True)
def test_value_order_is_numpys_lexicographic_order(seed):
    """Many ties (few distinct values per column), missing values and signed zeros: the order
    is ``np.lexsort`` of the columns, first column as the primary key."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 3000)), int(rng.integers(1, 8))
    values = rng.integers(-2, 3, size=(n, m)).astype(float)
    values[rng.random((n, m)) < 0.2] = np.nan
    values[values == 0] = np.where(rng.random(int((values == 0).sum())) < 0.5, 0.0, -0.0)
    frame = pd.DataFrame(values, index=[f"c{i}" for i in range(n)], columns=[f"f{j}" for j in range(m)])
    expected = frame.index[np.lexsort(values.T[::-1])]
    pd.testing.assert_frame_equal(_value_order(frame), frame.loc[expected])


def _run_in_zone(tmp_path, zone: str, events_csv) -> bytes:
    out = tmp_path / zone.replace("/", "_")
    env = {**os.environ, "TZ": zone}
    res = subprocess.run([sys.executable, "-m", "segmentkit.cli", "run", "--events", str(events_csv), "--k", "3",
                          "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    return (out / "summary.json").read_bytes()


@given(zone=st.sampled_from(["America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham", "Europe/Berlin"]))
@settings(max_examples=2, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_process_time_zone_changes_nothing(tmp_path_factory, zone):
    """Times written with an offset (+02:00) mean the same instant in every process time zone."""
    tmp = tmp_path_factory.mktemp("tz")
    ev = make_demo(60, seed=2).events
    ev["event_time"] = ev["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"
    path = tmp / "events.csv"
    ev.to_csv(path, index=False)
    utc = _run_in_zone(tmp, "UTC", path)
    other = _run_in_zone(tmp, zone, path)
    assert json.loads(other)["snapshot_date"] == json.loads(utc)["snapshot_date"]
    assert other == utc
