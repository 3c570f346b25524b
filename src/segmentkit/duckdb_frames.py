"""DuckDB query results as pandas DataFrames, with DuckDB's own dtypes, faster.

DuckDB's ``.df()`` turns a text column into pandas text by way of one Python object per
value: at a million customers, a customer table of five text columns took 0.8 to 1.9 s.
Through Arrow the same text columns take about 0.1 s and arrive with the same pandas
dtype. Arrow's conversion of other types differs from ``.df()`` (nullable integers become
floats, dates Python objects, decimals ``Decimal``s), so only the text columns go that way.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from segmentkit.sqltext import identifier

__all__ = ["frame"]


def frame(con: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame:
    """All rows of the table or view ``relation``, in its order, as ``.df()`` would give them.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    relation : str
        A table or view name (not a query: it is read twice, once for the text columns
        and once for the others, and a table's scan keeps its rows' order).

    Returns
    -------
    pandas.DataFrame
        The columns in the relation's order, with ``.df()``'s dtypes.
    """
    described = con.execute(f"DESCRIBE {relation}").fetchall()
    names = [row[0] for row in described]
    if not names:
        return pd.DataFrame()
    text = [row[0] for row in described if row[1] == "VARCHAR"]
    other = [row[0] for row in described if row[1] != "VARCHAR"]
    columns: dict[str, pd.Series] = {}
    if text:
        table = con.sql(f"SELECT {', '.join(map(identifier, text))} FROM {relation}").to_arrow_table()
        columns.update(table.to_pandas().items())
    if other:
        columns.update(con.execute(f"SELECT {', '.join(map(identifier, other))} FROM {relation}").df().items())
    return pd.DataFrame({name: columns[name] for name in names}, copy=False)
