"""Exports: Excel-safe CSV, deterministic JSON."""

from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd

from segmentkit.export import excel_safe, to_json, write_assignments


def test_formula_cells_are_neutralised_numbers_kept(tmp_path):
    df = pd.DataFrame({"customer_id": ["=HYPERLINK(\"x\")", "+1+2", "@SUM(A1)", "-3.5", "plain", "\tx"],
                       "segment_id": [0, 1, 2, 3, 4, 5]})
    write_assignments(df, tmp_path)
    text = (tmp_path / "assignments.csv").read_text()
    assert "'=HYPERLINK" in text and "'+1+2" in text and "'@SUM" in text
    assert "\n-3.5," in text  # a plain negative number stays a number
    back = pd.read_parquet(tmp_path / "assignments.parquet")
    assert back["customer_id"].tolist() == df["customer_id"].tolist()  # parquet keeps values


def test_assignments_csv_reads_back_cell_for_cell_with_pythons_csv_module(tmp_path):
    # hostile text: a delimiter, quotes, line breaks, blanks, non-ASCII, an empty name
    # (a customer without a segment) and a missing confidence; read with the standard
    # library's reader, not the writer's own
    names = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "", " padded ", "Ünïcødé ✓", "#tag"]
    df = pd.DataFrame({"customer_id": [f"C{i}" for i in range(len(names))], "segment_id": range(len(names)),
                       "segment_name": names, "confidence": [0.5, 1.0, 1e-05, 0.123457, 2 / 3, np.nan, 0.0, 1.5e16, 7.0]})
    write_assignments(df, tmp_path)
    raw = (tmp_path / "assignments.csv").read_bytes()
    assert b"\r\n" not in raw and raw.endswith(b"\n")
    with open(tmp_path / "assignments.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["customer_id", "segment_id", "segment_name", "confidence"]
    assert [r[2] for r in rows[1:]] == names
    assert [r[1] for r in rows[1:]] == [str(i) for i in range(len(names))]
    # numbers as Python prints them; a missing one as an empty cell
    assert [r[3] for r in rows[1:]] == ["0.5", "1.0", "1e-05", "0.123457", repr(2 / 3), "", "0.0", "1.5e+16", "7.0"]


def test_excel_safe_leaves_plain_text():
    s = excel_safe(pd.Series(["abc", "12", None]))
    assert s.tolist()[:2] == ["abc", "12"]


def test_json_is_deterministic_and_nan_free():
    d = {"a": np.float64(1.23456789), "b": [math.nan, np.int64(3)], "c": (1, 2), "d": -0.0000001}
    assert to_json(d) == to_json(dict(d))
    assert '"a": 1.234568' in to_json(d) and "NaN" not in to_json(d)
    assert '"d": 0.0' in to_json(d)
