"""Excel input: the same features as from CSV, sheet row numbers in errors, ids kept as text."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest

from segmentkit.datasets import make_demo, write_demo
from segmentkit.errors import InputError
from segmentkit.features import customer_features
from segmentkit.sources import load_customers, load_events


def _sheet(path, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Export"
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


@pytest.mark.slow
def test_features_from_excel_equal_those_from_csv(tmp_path):
    data = make_demo(250, seed=5)
    files = write_demo(tmp_path, data)
    xlsx = tmp_path / "events.xlsx"
    events = pd.read_csv(files["events"], dtype={"customer_id": str, "order_id": str})
    events["event_time"] = pd.to_datetime(events["event_time"])  # real Excel date cells
    events.to_excel(xlsx, index=False, sheet_name="Events")
    con = duckdb.connect()
    from_xlsx = load_events(con, xlsx, table="ev_xlsx")
    from_csv = load_events(con, files["events"], table="ev_csv")
    assert from_xlsx.rows_read == from_csv.rows_read and from_xlsx.duplicates == from_csv.duplicates
    assert any("sheet 'Events'" in n for n in from_xlsx.notes)
    a = customer_features(con, from_xlsx.table, from_xlsx.roles)
    b = customer_features(con, from_csv.table, from_csv.roles)
    assert a.frame.index.tolist() == b.frame.index.tolist()
    assert np.allclose(a.frame.to_numpy(), b.frame.to_numpy(), rtol=1e-9, equal_nan=True)


def test_errors_give_the_sheet_row(tmp_path):
    path = _sheet(tmp_path / "e.xlsx", [
        ["customer_id", "event_time", "amount"],
        ["C1", dt.datetime(2024, 1, 5, 10, 0), 10],
        [None, None, None],  # an empty row: left out, but Excel's numbering goes on
        ["C2", dt.date(2024, 1, 6), "12,5 EUR"],
    ])
    with pytest.raises(InputError, match=r"^e\.xlsx: column 'amount' row 4: '12,5 EUR' is not a number$"):
        load_events(duckdb.connect(), path)


def test_customer_sheet_keeps_numeric_ids_as_text_and_finds_duplicates(tmp_path):
    path = _sheet(tmp_path / "c.xlsx", [["customer_id", "age"], [12345, 40], [678, 31], [None, None]])
    table, frame = load_customers(duckdb.connect(), path)
    assert frame.index.tolist() == ["12345", "678"] and frame.loc["12345", "age"] == 40
    assert table.rows_read == 2 and table.sha256 is not None
    dup = _sheet(tmp_path / "d.xlsx", [["customer_id"], ["A"], ["B"], ["A"]])
    with pytest.raises(InputError, match="d.xlsx: column 'customer_id' row 4: duplicate customer id 'A'"):
        load_customers(duckdb.connect(), dup)


def test_not_a_workbook(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match="x.xlsx: cannot be read as a workbook"):
        load_events(duckdb.connect(), path)
