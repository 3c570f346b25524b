"""Write a run's assignments back into the CRM's database, in one transaction.

The table gets one row per customer: ``customer_id, segment_id, segment_name, status,
confidence, run_id, snapshot_date``. PostgreSQL is written through ADBC's libpq driver
(the one :mod:`segmentkit.database` reads with), SQLite through ADBC's SQLite driver.

``replace`` builds the new table beside the old one (``<table>__segmentkit_new``), then
drops the old table and renames the new one, all in one transaction: a failure at any
point rolls back and leaves the old table as it was. ``append`` adds the rows in one
transaction (all or none). Passwords never appear in messages: the URL is shown with
its password replaced by ``***``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa

from segmentkit.database import safe_url
from segmentkit.errors import InputError, first_line

__all__ = ["MODES", "DatabaseTarget", "run_id", "write_table", "write_assignments_db"]

MODES = ("replace", "append")
_POSTGRES = ("postgresql", "postgres")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: suffix of the table built beside the old one during a replace
_STAGING = "__segmentkit_new"


@dataclass(frozen=True)
class DatabaseTarget:
    """Where assignments are written.

    Attributes
    ----------
    url : str
        ``postgresql://user[:password]@host[:port]/database``, ``sqlite:///relative.db`` or
        ``sqlite:////absolute/path.db``.
    table : str
        ``schema.table`` or ``table`` (SQLite: ``table``).
    mode : {"replace", "append"}
    """

    url: str
    table: str
    mode: str = "replace"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--write-mode must be replace or append, got {self.mode!r}")
        if self.kind not in ("postgresql", "sqlite"):
            raise InputError(f"--write-db must be a postgresql:// or sqlite:/// URL, got {self.name!r}")
        parts = self.table.split(".")
        if not (1 <= len(parts) <= (2 if self.kind == "postgresql" else 1)) or not all(_NAME.match(p) for p in parts):
            form = "schema.table or table" if self.kind == "postgresql" else "a table name"
            raise InputError(f"--write-table must be {form} (letters, digits, _), got {self.table!r}")

    @property
    def kind(self) -> str:
        """``postgresql`` or ``sqlite`` (or the unsupported scheme)."""
        scheme = urlsplit(self.url).scheme.lower()
        return "postgresql" if scheme in _POSTGRES else scheme

    @property
    def name(self) -> str:
        """The target as named in messages: no password."""
        return f"{safe_url(self.url)} ({self.table})"

    @property
    def sqlite_path(self) -> str:
        """The database file of a ``sqlite:///path`` URL: ``sqlite:///crm.db`` is ``crm.db``,
        ``sqlite:////data/crm.db`` is ``/data/crm.db`` (SQLAlchemy's convention)."""
        rest = self.url.split(":", 1)[1]
        if not rest.startswith("///"):
            raise InputError(f"--write-db: write a SQLite file as sqlite:///path.db, got {self.url!r}")
        return rest[3:]


def run_id(assignments: pd.DataFrame, snapshot_date: dt.date | None) -> str:
    """A run's id: 16 hex digits of the SHA-256 of its assignments and snapshot date, so
    the same result always carries the same id and different results different ones."""
    data = assignments.to_csv(index=False, lineterminator="\n") + f"|{snapshot_date}"
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


def _quoted(parts: list[str]) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def _connect(target: DatabaseTarget):  # noqa: ANN202 - an ADBC DB-API connection
    import adbc_driver_manager

    try:
        if target.kind == "postgresql":
            import adbc_driver_postgresql.dbapi as pg

            return pg.connect(target.url)
        import adbc_driver_sqlite.dbapi as sqlite

        return sqlite.connect(target.sqlite_path)
    except adbc_driver_manager.Error as exc:
        raise InputError(f"cannot connect ({first_line(exc)})", source=target.name) from None


def write_table(target: DatabaseTarget, data: pa.RecordBatchReader) -> int:
    """Write ``data`` to ``target`` in one transaction (see the module's description).

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    InputError
        No connection, or a failure while writing (then nothing was changed).
    """
    import adbc_driver_manager

    parts = target.table.split(".")
    schema, table = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    conn = _connect(target)
    try:
        cur = conn.cursor()
        try:
            if target.mode == "append":
                rows = cur.adbc_ingest(table, data, mode="create_append", db_schema_name=schema)
            else:
                staging = table + _STAGING
                staged = _quoted(([schema] if schema else []) + [staging])
                cur.execute(f"DROP TABLE IF EXISTS {staged}")
                rows = cur.adbc_ingest(staging, data, mode="create", db_schema_name=schema)
                cur.execute(f"DROP TABLE IF EXISTS {_quoted(([schema] if schema else []) + [table])}")
                cur.execute(f"ALTER TABLE {staged} RENAME TO {_quoted([table])}")
            conn.commit()
        except (adbc_driver_manager.Error, pa.ArrowException, OSError, ValueError) as exc:
            conn.rollback()
            raise InputError(f"writing failed, nothing was changed ({first_line(exc)})",
                             source=target.name) from None
        finally:
            cur.close()
    finally:
        conn.close()
    return int(rows)


def write_assignments_db(assignments: pd.DataFrame, target: DatabaseTarget, *,
                         snapshot_date: dt.date | str | None) -> int:
    """Write assignments with ``run_id`` and ``snapshot_date`` columns to ``target``.

    Parameters
    ----------
    assignments : pandas.DataFrame
        ``customer_id, segment_id, segment_name, status, confidence``.
    target : DatabaseTarget
    snapshot_date : date or ISO text, optional
        The day the features describe.

    Returns
    -------
    int
        Rows written.
    """
    snap = dt.date.fromisoformat(snapshot_date) if isinstance(snapshot_date, str) else snapshot_date
    frame = assignments[["customer_id", "segment_id", "segment_name", "status", "confidence"]].copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["run_id"] = run_id(assignments, snap)
    frame["snapshot_date"] = snap
    schema = pa.schema([
        ("customer_id", pa.string()), ("segment_id", pa.int64()), ("segment_name", pa.string()),
        ("status", pa.string()), ("confidence", pa.float64()), ("run_id", pa.string()),
        ("snapshot_date", pa.date32()),
    ])
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return write_table(target, table.to_reader())
