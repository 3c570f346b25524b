"""Read a table or a query's result from a SQL database into DuckDB.

A :class:`SqlQuery` stands wherever a file can (``load_events``, ``load_customers``,
``Segmentation.fit``, ``assign``). PostgreSQL (and servers that speak its protocol) is read
through ADBC's libpq driver, which hands over Arrow record batches: the result streams into
a DuckDB table batch by batch and never passes through pandas.

Credentials: put them in the URL, or leave the password out and let libpq find it
(``PGPASSWORD``, ``~/.pgpass``, a service file). Passwords never appear in messages: the
URL is shown with its password replaced by ``***``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from segmentkit.errors import InputError, first_line

__all__ = ["SqlQuery", "read_query", "safe_url"]

_SCHEMES = ("postgresql", "postgres")
_TABLE_NAME = re.compile(r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*){0,2}$")


def safe_url(url: str) -> str:
    """``url`` as shown in messages and records: its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


@dataclass(frozen=True)
class SqlQuery:
    """A table or query in a SQL database, used as an input.

    Attributes
    ----------
    url : str
        ``postgresql://user[:password]@host[:port]/database[?options]``.
    query : str
        A table name (``events``, ``crm.events``) or a ``SELECT`` statement.
    """

    url: str
    query: str

    @property
    def name(self) -> str:
        """How the input is named in messages and in the run's record: no password."""
        what = self.query.strip() if _TABLE_NAME.match(self.query.strip()) else "query"
        return f"{safe_url(self.url)} ({what})"

    @property
    def select(self) -> str:
        """The statement to run: ``SELECT * FROM name`` for a table name."""
        q = self.query.strip().rstrip(";")
        return f"SELECT * FROM {q}" if _TABLE_NAME.match(q) else q


def _plain_batches(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """The same batches with types DuckDB reads as they are.

    Driver-specific extension types (PostgreSQL ``numeric`` arrives as text in an opaque
    extension type) become their storage type, and timestamps with a time zone become
    plain UTC timestamps, so a run does not depend on the machine's time zone.
    """
    def plain(t: pa.DataType) -> pa.DataType:
        if isinstance(t, pa.ExtensionType):
            return plain(t.storage_type)
        if pa.types.is_timestamp(t) and t.tz is not None:
            return pa.timestamp(t.unit)
        return t

    schema = pa.schema([pa.field(f.name, plain(f.type)) for f in reader.schema])
    if schema.equals(reader.schema, check_metadata=False):
        return reader

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            cols = []
            for col, field in zip(batch.columns, schema):
                if isinstance(col.type, pa.ExtensionType):
                    col = col.storage
                cols.append(col.cast(field.type) if col.type != field.type else col)
            yield pa.RecordBatch.from_arrays(cols, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def read_query(con: duckdb.DuckDBPyConnection, source: SqlQuery, table: str) -> int:
    """Run ``source`` on its database and store the result as the DuckDB table ``table``.

    Returns
    -------
    int
        Rows read.

    Raises
    ------
    InputError
        Unsupported database, no connection, or a failing query (the database's message).
    """
    scheme = urlsplit(source.url).scheme.lower()
    if scheme not in _SCHEMES:
        raise InputError(
            f"unsupported database {scheme or source.url!r}: give a postgresql:// URL, "
            "or export the table to CSV or Parquet", source=source.name)
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as pg

    try:
        conn = pg.connect(source.url)
    except adbc_driver_manager.Error as exc:
        raise InputError(f"cannot connect ({first_line(exc)})", source=source.name) from None
    try:
        cur = conn.cursor()
        try:
            cur.execute(source.select)
            reader = _plain_batches(cur.fetch_record_batch())
        except adbc_driver_manager.Error as exc:
            raise InputError(f"the query failed ({first_line(exc)})", source=source.name) from None
        view = f"__{table}_arrow"
        con.register(view, reader)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {view}")
        finally:
            con.unregister(view)
        cur.close()
    finally:
        conn.close()
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
