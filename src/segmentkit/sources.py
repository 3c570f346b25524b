"""Read customers and events into DuckDB, with a column mapping and clear errors.

Files are read by DuckDB itself (the event log never passes through pandas). Each table
ends as a DuckDB table with *canonical* column names (the roles of
:class:`~segmentkit.config.ColumnMapping`) and types:

==============  =========  ==========================================================
role            type       notes
==============  =========  ==========================================================
customer_id     VARCHAR    trimmed; ids are compared as text in every table
event_time      TIMESTAMP  ISO or a common date format, detected per column
event_type      VARCHAR    lower-cased; synonyms (order, refund, page_view, ...) mapped
amount          DOUBLE     negative amounts are returns
quantity        DOUBLE
category        VARCHAR
channel         VARCHAR
discount        DOUBLE     0/1 from booleans, 0/1, yes/no, true/false, or amount > 0
order_id        VARCHAR
==============  =========  ==========================================================

The happy path is one strict, typed pass over the file. When that pass fails, the file is
read again as text to find the first offending row, so the error names file, column and row.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import duckdb
import pandas as pd

from segmentkit.config import ColumnMapping
from segmentkit.errors import InputError

__all__ = ["LoadedTable", "Source", "load_events", "load_customers", "detect_encoding"]

Source = str | Path | pd.DataFrame

#: Event-type spellings mapped to the four types the features know.
EVENT_TYPE_SYNONYMS: dict[str, str] = {
    "purchase": "purchase", "order": "purchase", "buy": "purchase", "sale": "purchase",
    "transaction": "purchase", "checkout": "purchase",
    "view": "view", "page_view": "view", "pageview": "view", "browse": "view",
    "product_view": "view", "visit": "view",
    "cart": "cart", "add_to_cart": "cart", "addtocart": "cart", "basket": "cart",
    "return": "return", "refund": "return", "returned": "return",
}

#: Date formats tried, in order, for a time column that DuckDB did not type itself.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d-%m-%Y", "%Y%m%d",
    "%d %b %Y", "%b %d, %Y", "%d %B %Y", "%B %d, %Y",
)

_TRUE = ("1", "true", "yes", "y", "t")
_FALSE = ("0", "false", "no", "n", "f", "")

_NUMERIC_TYPES = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|REAL|DECIMAL.*)$")


@dataclass(frozen=True)
class LoadedTable:
    """A table read into DuckDB.

    Attributes
    ----------
    table : str
        Name of the DuckDB table with canonical columns.
    source : str
        Display name of the input (file name, or ``"<DataFrame>"``).
    rows_read : int
        Rows in the input.
    roles : tuple of str
        Canonical roles present (``"amount"``, ``"category"``, ...).
    sha256 : str or None
        Hash of the input file's bytes (``None`` for a DataFrame).
    extra_columns : tuple of str
        Input columns that are not mapped to a role (kept for customers only).
    notes : tuple of str
        What was detected or assumed (encoding, date format, ...).
    duplicates : int
        Exact duplicate rows removed (events only).
    """

    table: str
    source: str
    rows_read: int
    roles: tuple[str, ...]
    sha256: str | None
    extra_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    duplicates: int = 0


def detect_encoding(path: Path, chunk_size: int = 1 << 22) -> tuple[str, str]:
    """Return the encoding of a text file and the SHA-256 of its bytes, in one pass.

    The encoding is ``"utf-8-sig"``, ``"utf-8"`` or ``"cp1252"``: the whole file is checked
    with an incremental UTF-8 decoder (C speed); a file that is not valid UTF-8 is taken as
    cp1252, the usual encoding of Excel exports on Windows.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()
    valid = True
    with path.open("rb") as fh:
        first = True
        bom = False
        while chunk := fh.read(chunk_size):
            if first:
                bom = chunk.startswith(codecs.BOM_UTF8)
                first = False
            digest.update(chunk)
            if valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
        if valid:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                valid = False
    encoding = ("utf-8-sig" if bom else "utf-8") if valid else "cp1252"
    return encoding, digest.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Input:
    """An input resolved to a DuckDB ``FROM`` expression (and its text-only twin)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: Source, label: str, workdir: Path):
        self.con = con
        self.notes: list[str] = []
        self.sha256: str | None = None
        if isinstance(source, pd.DataFrame):
            view = f"__input_{label}"
            con.register(view, source)
            self.name = f"<{label} DataFrame>"
            self.from_sql = view
            self.text_sql = view
            return
        path = Path(source)
        self.name = path.name
        if not path.is_file():
            raise InputError("file not found", source=str(source))
        if path.stat().st_size == 0:
            raise InputError("the file is empty", source=self.name)
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            self.sha256 = _sha256(path)
            self.from_sql = f"read_parquet({_literal(str(path))})"
            self.text_sql = self.from_sql
        elif suffix in (".csv", ".txt", ".tsv"):
            encoding, self.sha256 = detect_encoding(path)
            if encoding == "cp1252":
                converted = workdir / f"{label}.utf8.csv"
                with path.open("r", encoding="cp1252", errors="replace", newline="") as src, \
                        converted.open("w", encoding="utf-8", newline="") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                self.notes.append(f"{self.name}: read as cp1252 (not valid UTF-8)")
                path = converted
            elif encoding == "utf-8-sig":
                self.notes.append(f"{self.name}: UTF-8 with byte-order mark")
            p = _literal(str(path))
            self.from_sql = f"read_csv({p}, header=true, auto_detect=true)"
            self.text_sql = f"read_csv({p}, header=true, auto_detect=true, all_varchar=true)"
        else:
            raise InputError(
                f"unsupported file type {suffix!r}; use .csv, .tsv, .txt or .parquet",
                source=self.name,
            )
        try:
            self.schema = self._describe(self.from_sql)
        except duckdb.Error as exc:
            self.from_sql = self.text_sql
            try:
                self.schema = self._describe(self.text_sql)
            except duckdb.Error:
                raise InputError(f"cannot be read as a table ({_first_line(exc)})", source=self.name) from None
        return

    def _describe(self, sql: str) -> dict[str, str]:
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
        return {r[0]: r[1] for r in rows}

    @property
    def columns(self) -> dict[str, str]:
        if not hasattr(self, "schema"):
            self.schema = self._describe(self.from_sql)
        return self.schema


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300]


def _resolve(inp: _Input, mapping: ColumnMapping, roles: tuple[str, ...], required: tuple[str, ...]) -> dict[str, str]:
    """Map roles to input column names (exact, then case-insensitive)."""
    lower = {c.lower(): c for c in inp.columns}
    found: dict[str, str] = {}
    for role in roles:
        wanted = getattr(mapping, role)
        if wanted in inp.columns:
            found[role] = wanted
        elif wanted.lower() in lower:
            found[role] = lower[wanted.lower()]
        elif role in required:
            raise InputError(
                f"missing column {wanted!r} (the {role.replace('_', ' ')}); "
                f"found: {', '.join(inp.columns)}",
                source=inp.name,
            )
    return found


def _time_format(inp: _Input, column: str) -> str | None:
    """Pick the date format under which every sampled value parses (None: ISO cast)."""
    q = _quote(column)
    sample = [
        r[0]
        for r in inp.con.execute(
            f"SELECT DISTINCT trim({q}::VARCHAR) FROM (SELECT {q} FROM {inp.text_sql} LIMIT 20000) "
            f"WHERE {q} IS NOT NULL AND trim({q}::VARCHAR) <> '' LIMIT 2000"
        ).fetchall()
    ]
    if not sample:
        return None
    values = pd.DataFrame({"v": sample})
    inp.con.register("__time_sample", values)
    try:
        ok_iso = inp.con.execute(
            "SELECT count(*) FILTER (WHERE try_cast(v AS TIMESTAMP) IS NOT NULL) FROM __time_sample"
        ).fetchall()[0][0]
        if ok_iso == len(sample):
            return None
        best, best_ok = None, ok_iso
        for fmt in DATE_FORMATS:
            ok = inp.con.execute(
                f"SELECT count(*) FILTER (WHERE try_strptime(v, {_literal(fmt)}) IS NOT NULL) FROM __time_sample"
            ).fetchall()[0][0]
            if ok > best_ok:
                best, best_ok = fmt, ok
            if ok == len(sample):
                break
    finally:
        inp.con.unregister("__time_sample")
    return best


def _typed_expressions(
    inp: _Input, found: dict[str, str], schema: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Strict and tolerant (``try_``) SQL expressions per role, plus notes.

    ``schema`` gives the input types (all VARCHAR for the text-only re-read).
    """
    strict: dict[str, str] = {}
    tolerant: dict[str, str] = {}
    notes: list[str] = []
    for role, column in found.items():
        q = _quote(column)
        typ = schema[column].upper()
        text = f"NULLIF(trim({q}::VARCHAR), '')"
        if role in _TEXT_ROLES:
            # text is taken as it is here and tidied afterwards by _normalise_text, which
            # touches only the rows that need it (most files need none)
            strict[role] = tolerant[role] = q if typ == "VARCHAR" else f"CAST({q} AS VARCHAR)"
        elif role == "event_time":
            if typ.startswith("TIMESTAMP") or typ == "DATE":
                # "+ 0 days" keeps the cast out of DuckDB's CSV reader: a bare CAST is pushed
                # into it, and it then ignores the date format it sniffed (seen with DuckDB 2.0)
                strict[role] = tolerant[role] = f"(CAST({q} AS TIMESTAMP) + INTERVAL 0 DAY)"
            else:
                fmt = _time_format(inp, column)
                if fmt is None:
                    strict[role] = f"CAST({text} AS TIMESTAMP)"
                    tolerant[role] = f"try_cast({text} AS TIMESTAMP)"
                else:
                    notes.append(f"{inp.name}: column {column!r} read with date format {fmt}")
                    strict[role] = f"strptime({text}, {_literal(fmt)})"
                    tolerant[role] = f"try_strptime({text}, {_literal(fmt)})"
        elif role in ("amount", "quantity"):
            if _NUMERIC_TYPES.match(typ):
                strict[role] = tolerant[role] = f"CAST({q} AS DOUBLE)"
            else:
                strict[role] = f"CAST({text} AS DOUBLE)"
                tolerant[role] = f"try_cast({text} AS DOUBLE)"
        elif role == "discount":
            if typ == "BOOLEAN":
                strict[role] = tolerant[role] = f"CAST({q} AS DOUBLE)"
            elif _NUMERIC_TYPES.match(typ):
                strict[role] = tolerant[role] = f"CAST({q} > 0 AS DOUBLE)"
            else:
                low = f"lower(trim({q}::VARCHAR))"
                t = ", ".join(_literal(v) for v in _TRUE)
                f = ", ".join(_literal(v) for v in _FALSE)
                strict[role] = (
                    f"CASE WHEN {q} IS NULL THEN NULL WHEN {low} IN ({t}) THEN 1.0 WHEN {low} IN ({f}) THEN 0.0 "
                    f"ELSE CAST(CAST({low} AS DOUBLE) > 0 AS DOUBLE) END"
                )
                tolerant[role] = (
                    f"CASE WHEN {q} IS NULL THEN NULL WHEN {low} IN ({t}) THEN 1.0 WHEN {low} IN ({f}) THEN 0.0 "
                    f"ELSE CAST(try_cast({low} AS DOUBLE) > 0 AS DOUBLE) END"
                )
    return strict, tolerant, notes


_TEXT_ROLES = ("customer_id", "order_id", "category", "channel", "product_id", "event_type")


def _normalise_text(con: duckdb.DuckDBPyConnection, table: str, roles: Sequence[str]) -> None:
    """Trim text, turn empty text into NULL and map event-type synonyms, in place.

    One filtered pass: rows already tidy (the usual case) are not rewritten.
    """
    cols = [r for r in roles if r in _TEXT_ROLES]
    if not cols:
        return
    sets, dirty = [], []
    for c in cols:
        if c == "event_type":
            cases = " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}" for k, v in EVENT_TYPE_SYNONYMS.items())
            low = "lower(trim(event_type))"
            sets.append(f"event_type = CASE {low} {cases} ELSE NULLIF({low}, '') END")
            dirty.append("event_type NOT IN ('purchase', 'view', 'cart', 'return')")
        else:
            sets.append(f"{c} = NULLIF(trim({c}), '')")
            # (LIKE is about twice as fast as comparing with trim(); trim() strips spaces only)
            dirty.append(f"({c} = '' OR {c} LIKE ' %' OR {c} LIKE '% ')")
    con.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {' OR '.join(dirty)}")


_WHAT = {
    "event_time": "is not a date or time",
    "amount": "is not a number",
    "quantity": "is not a number",
    "discount": "is not a yes/no or number",
}


def _locate_bad_value(inp: _Input, found: dict[str, str]) -> InputError | None:
    """Find the first row whose value fails its strict conversion."""
    checks = [r for r in found if r in _WHAT]
    if not checks:
        return None
    text_exprs = {r: _quote(found[r]) for r in checks}
    text_schema = {c: "VARCHAR" for c in inp.columns} if inp.text_sql != inp.from_sql else inp.columns
    _, tolerant_text, _ = _typed_expressions(inp, {r: found[r] for r in checks}, text_schema)
    conditions = " OR ".join(
        f"({text_exprs[r]} IS NOT NULL AND trim({text_exprs[r]}::VARCHAR) <> '' AND ({tolerant_text[r]}) IS NULL)"
        for r in checks
    )
    select = ", ".join(f"{text_exprs[r]}::VARCHAR AS {_quote('v_' + r)}, ({tolerant_text[r]}) IS NULL AS {_quote('bad_' + r)}" for r in checks)
    row = inp.con.execute(
        f"SELECT __row, {', '.join(_quote('v_' + r) for r in checks)}, {', '.join(_quote('bad_' + r) for r in checks)} "
        f"FROM (SELECT row_number() OVER () AS __row, {select}, ({conditions}) AS __bad FROM {inp.text_sql}) "
        f"WHERE __bad ORDER BY __row LIMIT 1"
    ).fetchall()
    if not row:
        return None
    row = row[0]
    n = len(checks)
    for i, role in enumerate(checks):
        value, bad = row[1 + i], row[1 + n + i]
        if bad and value is not None and value.strip() != "":
            return InputError(f"{value!r} {_WHAT[role]}", source=inp.name, column=found[role], row=int(row[0]))
    return None


def _materialize(
    inp: _Input, table: str, found: dict[str, str], extra: list[str], *, collapse: bool = False
) -> tuple[list[str], int, int]:
    """Create ``table`` with typed canonical columns in one strict pass over the input.

    With ``collapse``, exact duplicate rows are then removed: rows whose 64-bit hash is
    shared are the only candidates, and among them rows equal in every column are
    deleted but the first, so the result is exact while the full table is hashed only once.

    Returns
    -------
    notes, rows read, duplicate rows removed
    """
    strict, _, notes = _typed_expressions(inp, found, inp.columns)
    select = ", ".join([f"{expr} AS {role}" for role, expr in strict.items()] + [_quote(c) for c in extra])
    try:
        rows = inp.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM {inp.from_sql}").fetchall()
    except duckdb.Error as exc:
        located = _locate_bad_value(inp, found)
        if located is not None:
            raise located from None
        raise InputError(f"cannot be read ({_first_line(exc)})", source=inp.name) from None
    n_rows = int(rows[0][0]) if rows and rows[0] and rows[0][0] is not None else int(
        inp.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    _normalise_text(inp.con, table, list(strict))
    removed = 0
    if collapse and n_rows:
        cols = ", ".join(list(strict))
        dup = inp.con.execute(
            f"CREATE OR REPLACE TEMP TABLE __dup_hash AS SELECT hash({cols}) AS h FROM {table} "
            f"GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        if int(dup[0][0] if dup and dup[0] else 1):
            removed = inp.con.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM ("
                f"SELECT rowid, row_number() OVER (PARTITION BY {cols} ORDER BY rowid) AS rn FROM {table} "
                f"WHERE hash({cols}) IN (SELECT h FROM __dup_hash)) WHERE rn > 1)"
            ).fetchall()[0][0]
        inp.con.execute("DROP TABLE __dup_hash")
    return notes, n_rows, int(removed or 0)


_EVENT_ROLES = ("customer_id", "event_time", "event_type", "amount", "quantity", "category",
                "channel", "discount", "order_id")


def load_events(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    columns: ColumnMapping = ColumnMapping(),
    *,
    table: str = "events_raw",
    workdir: Path | None = None,
) -> LoadedTable:
    """Read an event log into the DuckDB table ``table`` with canonical columns.

    Exact duplicate rows are removed while reading (counted in :attr:`LoadedTable.duplicates`).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    source : path or DataFrame
        CSV (delimiter and UTF-8 / UTF-8-BOM / cp1252 detected) or Parquet file.
    columns : ColumnMapping
        Input column names per role. ``customer_id`` and ``event_time`` are required.
    table : str
        Name of the table to create.
    workdir : Path, optional
        Where a transcoded copy of a cp1252 file may be written (a temporary folder by default).

    Raises
    ------
    InputError
        Missing column, unparseable value (with its row), empty or unreadable file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        inp = _Input(con, source, "events", Path(workdir or tmp))
        found = _resolve(inp, columns, _EVENT_ROLES, required=("customer_id", "event_time"))
        notes, rows, duplicates = _materialize(inp, table, found, [], collapse=True)
        notes = inp.notes + notes
    if rows == 0:
        raise InputError("the file has a header but no rows", source=inp.name)
    return LoadedTable(table=table, source=inp.name, rows_read=rows, roles=tuple(found),
                       sha256=inp.sha256, notes=tuple(notes), duplicates=duplicates)


def load_customers(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    columns: ColumnMapping = ColumnMapping(),
    *,
    table: str = "customers_raw",
    workdir: Path | None = None,
) -> tuple[LoadedTable, pd.DataFrame]:
    """Read a customer table (one row per customer) and return it as a DataFrame too.

    The customer table is small (one row per customer), so it is handed to pandas for
    profiling; every column other than the id is kept as it is.

    Returns
    -------
    LoadedTable, pandas.DataFrame
        The DataFrame is indexed by ``customer_id`` (text).

    Raises
    ------
    InputError
        Missing id column, empty file, empty or duplicate customer ids (with the row).
    """
    with tempfile.TemporaryDirectory() as tmp:
        inp = _Input(con, source, "customers", Path(workdir or tmp))
        found = _resolve(inp, columns, ("customer_id",), required=("customer_id",))
        extra = [c for c in inp.columns if c != found["customer_id"]]
        notes, rows, _ = _materialize(inp, table, found, extra)
        notes = inp.notes + notes
    if rows == 0:
        raise InputError("the file has a header but no rows", source=inp.name)
    id_col = found["customer_id"]
    bad = con.execute(
        f"SELECT rn FROM (SELECT row_number() OVER () AS rn, customer_id FROM {table}) "
        f"WHERE customer_id IS NULL ORDER BY rn LIMIT 1"
    ).fetchall()
    if bad:
        raise InputError("empty customer id", source=inp.name, column=id_col, row=int(bad[0][0]))
    dup = con.execute(
        f"SELECT rn, customer_id FROM (SELECT rn, customer_id, "
        f"row_number() OVER (PARTITION BY customer_id ORDER BY rn) AS k "
        f"FROM (SELECT row_number() OVER () AS rn, customer_id FROM {table})) "
        f"WHERE k = 2 ORDER BY rn LIMIT 1"
    ).fetchall()
    if dup:
        raise InputError(
            f"duplicate customer id {dup[0][1]!r}", source=inp.name, column=id_col, row=int(dup[0][0])
        )
    frame = con.execute(f"SELECT * FROM {table}").df().set_index("customer_id")
    frame.index = frame.index.astype(str)
    return (
        LoadedTable(table=table, source=inp.name, rows_read=int(rows), roles=tuple(found),
                    sha256=inp.sha256, extra_columns=tuple(extra), notes=tuple(notes)),
        frame,
    )
