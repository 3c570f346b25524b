"""DuckDB results as DataFrames: the same frame as DuckDB's own ``.df()``, every type."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmentkit.duckdb_frames import frame

#: a column of each type a customer table may hold, its value, and (for the text) values
#: that test the conversion: empty, non-ASCII, long
TYPES = {
    "flag": ("BOOLEAN", "true"), "tiny": ("TINYINT", "1"), "count": ("INTEGER", "7"), "big": ("BIGINT", "-3"),
    "huge": ("HUGEINT", "12"), "ratio": ("DOUBLE", "1.5"), "price": ("DECIMAL(10,2)", "1.25"),
    "born": ("DATE", "DATE '1990-01-02'"), "seen": ("TIMESTAMP", "TIMESTAMP '2024-01-02 03:04:05'"),
    "at": ("TIME", "TIME '03:04:05'"), "span": ("INTERVAL", "INTERVAL 3 DAY"), "tier": ("ENUM('a', 'b')", "'b'"),
    "name": ("VARCHAR", "'Zoë \"Z\" Ünal'"), "note": ("VARCHAR", "''"), "id": ("VARCHAR", "repeat('x', 40)"),
}


@pytest.mark.parametrize("with_nulls", [False, True])
def test_frame_equals_duckdbs_own_conversion(with_nulls):
    con = duckdb.connect()
    row = ", ".join(f"CAST({value} AS {kind}) AS {name}" for name, (kind, value) in TYPES.items())
    nulls = ", ".join(f"CAST(NULL AS {kind})" for kind, _ in TYPES.values())
    con.execute(f"CREATE TABLE t AS SELECT {row} FROM range(5)"
                + (f" UNION ALL SELECT {nulls} UNION ALL SELECT {row}" if with_nulls else ""))
    expected = con.execute("SELECT * FROM t").df()
    got = frame(con, "t")
    assert list(got.columns) == list(TYPES)
    assert got.dtypes.astype(str).tolist() == expected.dtypes.astype(str).tolist()
    pd.testing.assert_frame_equal(got, expected)


def test_rows_keep_the_tables_order():
    # several row groups (DuckDB scans them in parallel): the text and the other columns,
    # read apart, still pair up row by row, in the table's order
    con = duckdb.connect()
    n = 300_000
    con.execute(f"CREATE TABLE t AS SELECT (i * 7919) % {n} AS n, 'c' || ((i * 7919) % {n}) AS id "
                f"FROM range({n}) AS r(i)")
    got = frame(con, "t")
    assert (got["n"].to_numpy() == (np.arange(n) * 7919) % n).all()
    assert (got["id"] == "c" + got["n"].astype(str)).all()
