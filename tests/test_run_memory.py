"""What keeps a run's memory bounded: DuckDB's budget on the run's connection, and the
per-segment statistics and rounding computed without extra copies (same numbers)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from segmentkit import Segmentation, features
from segmentkit.features import _round_significant
from segmentkit.pipeline import DUCKDB_MEMORY_BUDGET, run_connection
from segmentkit.profiles.statistics import _numeric_table


def test_run_connection_has_the_budget_and_removes_its_spill_folder():
    assert DUCKDB_MEMORY_BUDGET == "1792MB"
    with run_connection() as con:
        limit, folder = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()[0]
        assert Path(folder).is_dir()
    assert limit == "1.6 GiB"  # 1792 MB = 1.792 × 10^9 bytes (DuckDB's docs: "MB" is decimal) = 1.67 GiB
    assert not Path(folder).exists()


def test_a_run_spills_into_its_own_folder_and_removes_it(demo_files, tmp_path, monkeypatch):
    _, paths = demo_files
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where TemporaryDirectory makes folders
    seen: list[list[str]] = []
    Segmentation(k=3, n_bootstrap=2, validate=False,
                 progress=lambda stage, _: seen.append(sorted(p.name for p in tmp_path.iterdir()))).fit(
        customers=paths["customers"], events=paths["events"])
    assert seen and all(any(n.startswith("segmentkit-duckdb-") for n in names) for names in seen)
    assert not any(p.name.startswith("segmentkit-duckdb-") for p in tmp_path.iterdir())


def test_round_significant_by_hand():
    x = np.array([[123456789.123, -0.000123456789123], [0.0, np.nan], [np.inf, 987654321987.0]])
    out = _round_significant(x)
    assert out[0, 0] == 123456789.0 and out[0, 1] == -0.000123456789
    assert out[1, 0] == 0.0 and np.isnan(out[1, 1])
    assert out[2, 0] == np.inf  # infinite stays infinite
    assert out[2, 1] == 987654322000.0


def test_round_significant_in_threaded_blocks_gives_each_value_its_own_rounding(monkeypatch):
    """Blocks of rows on two threads: every row is rounded (none skipped at a block's edge),
    each value exactly as it is alone, in place or into a new array."""
    rng = np.random.default_rng(3)
    x = rng.lognormal(0.0, 6.0, size=(103, 3)) * rng.choice([-1.0, 1.0], size=(103, 3))
    x[5, 0], x[50, 1], x[102, 2] = 0.0, np.nan, -np.inf
    x[101] = [123456789.123, -0.000123456789123, 987654321987.0]  # in the last block (by hand)
    alone = np.array([[_round_significant(np.array([[v]]))[0, 0] for v in row] for row in x])
    monkeypatch.setattr(features, "ROUND_BLOCK_ROWS", 10)  # 11 blocks, the last of 3 rows
    into_new = _round_significant(x)
    in_place = x.copy(order="F")
    assert _round_significant(in_place, out=in_place) is in_place
    for got in (into_new, in_place):
        assert np.array_equal(got.view(np.int64), alone.view(np.int64))
    assert list(into_new[101]) == [123456789.0, -0.000123456789, 987654322000.0]
    assert into_new[5, 0] == 0.0 and np.isnan(into_new[50, 1]) and into_new[102, 2] == -np.inf
    assert not np.array_equal(into_new[~np.isnan(x)], x[~np.isnan(x)])  # it did round


def test_numeric_table_by_hand():
    # segment 0: x = 1, 3 (mean 2); segment 1: x = 5, 7, NaN (mean 6); overall mean 4
    values = pd.DataFrame({"x": [1.0, 5.0, 3.0, 7.0, np.nan], "y": [1.0, 1.0, 1.0, 1.0, 2.0]})
    tab = _numeric_table(values, np.array([0, 1, 0, 1, 1]), 2)
    assert np.allclose(tab.mean[:, 0], [2.0, 6.0]) and tab.overall_mean[0] == 4.0
    assert np.allclose(tab.observed[:, 0], [1.0, 2 / 3])
    # Cohen's d of segment 0 vs the rest: (2 - 6) / pooled sd, pooled variance (2 + 2) / 2 = 2
    assert np.isclose(tab.effect[0, 0], -4 / np.sqrt(2))
    assert np.allclose(tab.median[:, 1], [1.0, 1.0]) and tab.overall_median[1] == 1.0


def test_numeric_table_leaves_missing_and_constant_columns_untested():
    """A column with no value and a column of one value say nothing about any segment:
    effect 0 and p 1 for both (no mean for the first), beside a column that differs."""
    values = pd.DataFrame({"none": [np.nan] * 6, "same": [3.0] * 6, "x": [1.0, 1.1, 0.9, 9.0, 9.1, 8.9]})
    tab = _numeric_table(values, np.array([0, 0, 0, 1, 1, 1]), 2)
    assert np.isnan(tab.overall_mean[0]) and np.isnan(tab.mean[:, 0]).all()
    assert tab.overall_mean[1] == 3.0 and np.allclose(tab.mean[:, 1], [3.0, 3.0])
    assert (tab.effect[:, :2] == 0.0).all() and (tab.p[:, :2] == 1.0).all()
    assert np.allclose(tab.observed[:, 0], [0.0, 0.0]) and np.allclose(tab.observed[:, 1], [1.0, 1.0])
    assert (tab.p[:, 2] < 0.001).all() and tab.effect[0, 2] < -10 < 10 < tab.effect[1, 2]
