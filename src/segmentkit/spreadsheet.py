"""Read the first sheet of an Excel (or OpenDocument) workbook into DuckDB, as text.

Cells are read as text (``fastexcel``, a Rust reader that hands over Arrow columns; no
Python loop over rows): numbers as written (``12345``, not ``12345.0``), dates as ISO
``YYYY-MM-DD HH:MM:SS``. A column is then typed only when every value fits the type (whole
numbers, numbers, dates), as CSV reading does; a column that mixes numbers and words stays
text, so a mapped amount column fails with the row that breaks it, not with a guess.

The first row holds the column names. Rows with no value at all are left out (and
counted); row numbers in messages are the sheet's own, as Excel shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmentkit.errors import InputError, first_line
from segmentkit.sqltext import identifier

__all__ = ["SPREADSHEET_SUFFIXES", "Sheet", "read_sheet"]

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


@dataclass(frozen=True)
class Sheet:
    """A sheet read into a DuckDB table.

    Attributes
    ----------
    name : str
        The sheet's name.
    sheet_rows : numpy.ndarray
        Sheet row number (1 = header) of each table row, in order.
    empty_rows : int
        Rows with no value, left out.
    """

    name: str
    sheet_rows: np.ndarray
    empty_rows: int


def read_sheet(con: duckdb.DuckDBPyConnection, path: Path, table: str, display: str) -> Sheet:
    """Store the first sheet of the workbook at ``path`` as the DuckDB table ``table``.

    Every column is text (VARCHAR). ``display`` names the file in messages.

    Raises
    ------
    InputError
        Unreadable workbook, no sheet, or a sheet without a header row.
    """
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        names = reader.sheet_names
        if not names:
            raise InputError("the workbook has no sheet", source=display)
        data = reader.load_sheet(0, dtypes="string").to_arrow()
    except InputError:
        raise
    except Exception as exc:  # fastexcel raises its own error classes for every bad workbook
        raise InputError(f"cannot be read as a workbook ({first_line(exc)})", source=display) from None
    if data.num_columns == 0:
        raise InputError(f"sheet {names[0]!r} has no header row", source=display)
    data = pa.table({f: data.column(f).cast(pa.string()) for f in data.column_names})
    empty = None
    for col in data.columns:
        blank = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), ""))
        empty = blank if empty is None else pc.and_(empty, blank)
    keep = pc.invert(pc.fill_null(empty, True))
    rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False)) + 2  # 1 is the header
    data = data.filter(keep)
    view = f"__{table}_arrow"
    con.register(view, data)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {_typed_columns(con, view, data.column_names)} "
                    f"FROM {view}")
    finally:
        con.unregister(view)
    return Sheet(name=names[0], sheet_rows=rows, empty_rows=int(len(keep) - len(rows)))


def _typed_columns(con: duckdb.DuckDBPyConnection, view: str, columns: list[str]) -> str:
    """Select list that types each text column as CSV reading would: a column whose every
    value is a whole number becomes BIGINT, a number DOUBLE, a date or time TIMESTAMP;
    anything else (and numbers with leading zeros, which are codes: ``00123``) stays text.
    One pass over the sheet."""
    checks = []
    for c in columns:
        q = identifier(c)
        checks += [f"count({q})", f"count(try_cast({q} AS DOUBLE))",
                   f"count(*) FILTER (WHERE regexp_full_match({q}, '\\s*[-+]?[0-9]{{1,18}}\\s*'))",
                   f"count(try_cast({q} AS TIMESTAMP))",
                   f"count(*) FILTER (WHERE regexp_matches({q}, '^\\s*[-+]?0[0-9]'))"]
    counts = con.execute(f"SELECT {', '.join(checks)} FROM {view}").fetchall()[0]
    out = []
    for i, c in enumerate(columns):
        # (whole numbers by their digits: a cast to BIGINT would round '12.5')
        n, as_double, as_int, as_time, zeros = counts[5 * i: 5 * i + 5]
        q = identifier(c)
        if n == 0 or zeros:
            out.append(q)
        elif as_int == n:
            out.append(f"CAST({q} AS BIGINT) AS {q}")
        elif as_double == n:
            out.append(f"CAST({q} AS DOUBLE) AS {q}")
        elif as_time == n:
            out.append(f"CAST({q} AS TIMESTAMP) AS {q}")
        else:
            out.append(q)
    return ", ".join(out)

