"""Read customers and events into DuckDB, with a column mapping and clear errors.

CSV and Parquet files are read by DuckDB itself (the event log never passes through
pandas); Excel sheets by :mod:`segmentkit.spreadsheet` and database tables or queries by
:mod:`segmentkit.database`, both as Arrow columns into DuckDB. Each table
ends as a DuckDB table with *canonical* column names (the roles of
:class:`~segmentkit.config.ColumnMapping`) and types:

==============  =========  ==========================================================
role            type       notes
==============  =========  ==========================================================
customer_id     VARCHAR    trimmed; ids are compared as text in every table
event_time      TIMESTAMP  ISO or a common date format, detected per column
event_type      ENUM       purchase / view / cart / return, then any other types found
                           (lower-cased); synonyms (order, refund, page_view, ...) mapped
amount          DOUBLE     negative amounts are returns
quantity        DOUBLE
category        VARCHAR    an ENUM of its values in text order when the input has at most
                           1,000 of them, all tidy (see _level_enum): read before the
                           table from a Parquet file or a DataFrame, after it from CSV
channel         VARCHAR    the same
discount        UTINYINT   0/1 from booleans, 0/1, yes/no, true/false, or amount > 0
order_id        VARCHAR
==============  =========  ==========================================================

The happy path is one strict, typed pass over the file. When that pass fails, the file is
read again as text to find the first offending row, so the error names file, column and row.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import duckdb
import numpy as np
import pandas as pd

from segmentkit.config import ColumnMapping
from segmentkit.database import SqlQuery, read_query
from segmentkit.duckdb_frames import frame as table_frame
from segmentkit.errors import InputError, first_line
from segmentkit.spreadsheet import SPREADSHEET_SUFFIXES, read_sheet
from segmentkit.sqltext import exact_sum, identifier, literal

__all__ = ["EVENTS_TABLE", "PRODUCTS_TABLE", "LoadedTable", "Source", "load_events", "load_customers", "load_products", "detect_encoding", "detect_time_format",
           "input_columns", "line_amount", "repeated_values"]

Source = str | Path | pd.DataFrame | SqlQuery

#: The DuckDB tables the events and the product catalogue are read into (``segments.sql``
#: names them too: its feature SQL reads the first).
EVENTS_TABLE = "events_raw"
PRODUCTS_TABLE = "products_raw"

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

#: How a discount column may say yes and no (lower-cased, trimmed).
YES_WORDS = ("1", "true", "yes", "y", "t")
NO_WORDS = ("0", "false", "no", "n", "f", "")


def discount_flag(text: str, cast: str) -> str:
    """SQL reading a discount column's lower-cased, trimmed text as 1.0 / 0.0: yes/no words,
    else a number > 0 (an amount of discount). ``cast`` is ``CAST`` (a bad value fails) or
    ``try_cast`` (it becomes NULL); the same in DuckDB and Spark SQL."""
    yes = ", ".join(literal(v) for v in YES_WORDS)
    no = ", ".join(literal(v) for v in NO_WORDS)
    return (f"CASE WHEN {text} IS NULL THEN NULL WHEN {text} IN ({yes}) THEN 1.0 WHEN {text} IN ({no}) THEN 0.0 "
            f"ELSE CAST({cast}({text} AS DOUBLE) > 0 AS DOUBLE) END")


#: How the loaded table stores the discount flag (0 or 1).
DISCOUNT_TYPE = "UTINYINT"

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
        Rows equal in every column to an earlier row (events only): removed, unless kept.
    duplicates_amount : float or None
        The net amount those rows carry (``None`` without an amount).
    duplicates_kept : bool
        Whether they were kept (``keep_duplicates``).
    ids_trimmed : int
        Rows whose customer id had blanks around it (trimmed; the id is otherwise kept byte
        for byte).
    non_finite : int
        Rows whose amount or quantity was NaN, infinite or beyond :data:`MAX_ABS_NUMBER`
        (read as missing).
    """

    table: str
    source: str
    rows_read: int
    roles: tuple[str, ...]
    sha256: str | None
    extra_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    duplicates: int = 0
    duplicates_amount: float | None = None
    duplicates_kept: bool = False
    ids_trimmed: int = 0
    non_finite: int = 0


#: Compressed text files read directly (DuckDB decompresses them while reading).
COMPRESSED_SUFFIXES = (".gz", ".zst")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
COMPRESSED_TEXT_SUFFIXES = tuple(t + c for t in TEXT_SUFFIXES for c in COMPRESSED_SUFFIXES)


def _open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is ``.gz`` or ``.zst``."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".zst":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(path.open("rb"), closefd=True)  # type: ignore[return-value]
    return path.open("rb")


def detect_encoding(path: Path, chunk_size: int = 1 << 22) -> str:
    """Return the encoding of a text file: ``"utf-8-sig"``, ``"utf-8"`` or ``"cp1252"``.

    The whole file is checked (decompressed, for ``.gz`` / ``.zst``): pure-ASCII chunks (the
    usual export) are valid UTF-8 as they are; others go through an incremental UTF-8
    decoder (C speed). A file that is not valid UTF-8 is taken as cp1252, the usual
    encoding of Excel exports on Windows.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    ascii_so_far = True
    with _open_bytes(path) as fh:
        chunk = fh.read(max(chunk_size, len(codecs.BOM_UTF8)))
        bom = chunk.startswith(codecs.BOM_UTF8)
        offset = 0
        while chunk:
            nul = chunk.find(b"\0")
            if nul >= 0:
                raise _nul_error(path, chunk, offset + nul)
            offset += len(chunk)
            # a chunk boundary inside a multi-byte character only happens in non-ASCII text
            if not (ascii_so_far and chunk.isascii()):
                ascii_so_far = False
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    return "cp1252"
            chunk = fh.read(chunk_size)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig" if bom else "utf-8"


def _nul_error(path: Path, chunk: bytes, at: int) -> InputError:
    """The error for a file holding NUL bytes: UTF-16 text (every other byte NUL in ASCII
    text), or not text at all."""
    head = chunk[:4096]
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or (
            len(head) >= 4 and (head[1::2].count(0) > 0.4 * len(head) / 2 or head[0::2].count(0) > 0.4 * len(head) / 2)):
        return InputError("the file is UTF-16 encoded; save it as UTF-8 (in Excel: CSV UTF-8) and try again",
                          source=path.name)
    return InputError(f"holds a NUL byte at byte {at:,}: not a text (CSV) file", source=path.name)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


class _Input:
    """An input resolved to a DuckDB ``FROM`` expression (and its text-only twin)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: Source, label: str, workdir: Path):
        self.con = con
        # times with an offset (+02:00) are converted to UTC, whatever the process time zone
        con.execute("SET TimeZone = 'UTC'")
        self.notes: list[str] = []
        self._digest: Future[str] | None = None
        self.is_csv = False
        self.delimiter: str | None = None
        self.sheet_rows: np.ndarray | None = None
        self.ids_trimmed = 0  # customer ids read with blanks around them (set when the table is made)
        self.non_finite = 0  # rows with a NaN, infinite or absurd amount or quantity, read as missing
        if isinstance(source, SqlQuery):
            self.name = source.name
            self.from_sql = self.text_sql = f"__input_{label}"
            read_query(con, source, self.from_sql)
            return
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
        if suffix in COMPRESSED_SUFFIXES and Path(path.stem).suffix.lower() in TEXT_SUFFIXES:
            suffix = Path(path.stem).suffix.lower() + suffix
        if suffix in (".parquet", ".pq") + TEXT_SUFFIXES + COMPRESSED_TEXT_SUFFIXES + SPREADSHEET_SUFFIXES:
            # the input's hash (for the run's record) is computed beside the reading, in a
            # thread of its own (hashlib releases the GIL); asked for once the table is made
            pool = ThreadPoolExecutor(max_workers=1)
            self._digest = pool.submit(_sha256, path)
            pool.shutdown(wait=False)
            self._open(con, path, suffix, label, workdir)
            return
        raise InputError(
            f"unsupported file type {suffix!r}; use .csv, .tsv, .txt (also gzipped .gz or .zst), "
            ".parquet, .xlsx, .xls or .ods",
            source=self.name,
        )

    def _open(self, con: duckdb.DuckDBPyConnection, path: Path, suffix: str, label: str, workdir: Path) -> None:
        """Set the ``FROM`` expressions for a file and read its schema."""
        if suffix in (".parquet", ".pq"):
            self.from_sql = f"read_parquet({literal(str(path))})"
            self.text_sql = self.from_sql
        elif suffix in SPREADSHEET_SUFFIXES:
            sheet = read_sheet(con, path, f"__input_{label}", self.name)
            self.from_sql = self.text_sql = f"__input_{label}"
            self.sheet_rows = sheet.sheet_rows
            self.notes.append(f"{self.name}: sheet {sheet.name!r} read" + (
                f"; {sheet.empty_rows:,} empty row(s) left out" if sheet.empty_rows else ""))
        else:
            self.is_csv = True
            encoding = detect_encoding(path)
            if encoding == "cp1252":
                converted = workdir / f"{label}.utf8.csv"
                with io.TextIOWrapper(_open_bytes(path), encoding="cp1252", errors="replace", newline="") as src, \
                        converted.open("w", encoding="utf-8", newline="") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                self.notes.append(f"{self.name}: read as cp1252 (not valid UTF-8)")
                path = converted
            elif encoding == "utf-8-sig":
                self.notes.append(f"{self.name}: UTF-8 with byte-order mark")
            self.csv_path, self.csv_encoding = path, ("utf-8-sig" if encoding == "utf-8-sig" else "utf-8")
            p = literal(str(path))
            self.from_sql = f"read_csv({p}, header=true, auto_detect=true)"
            self.text_sql = f"read_csv({p}, header=true, auto_detect=true, all_varchar=true)"
            sniffed = _sniffed_reader(con, p)
            if sniffed is not None:
                self.from_sql, self.schema, self.delimiter = sniffed
                self.check_header()
                return
        try:
            self.schema = self._describe(self.from_sql)
        except duckdb.Error as exc:
            self.from_sql = self.text_sql
            try:
                self.schema = self._describe(self.text_sql)
            except duckdb.Error:
                raise InputError(f"cannot be read as a table ({first_line(exc)})", source=self.name) from None

    def _csv_rows(self, delimiter: str | None = None) -> Iterator[list[str]]:
        with self.csv_path.open("r", encoding=self.csv_encoding, newline="", errors="replace") as fh:
            yield from csv.reader(fh, delimiter=delimiter or self.delimiter or ",")

    def check_header(self) -> None:
        """A CSV header naming a column twice is an error (which of the two would be meant?)."""
        header = next(self._csv_rows(), [])
        names = [h.strip() for h in header]
        twice = sorted({n for n in names if n and names.count(n) > 1})
        if twice:
            raise InputError(f"the header names column {twice[0]!r} more than once", source=self.name)

    def ragged_row(self) -> InputError | None:
        """The first CSV row with another number of fields than the header, as an error (on
        the error path only: a broken file is read once more, row by row)."""
        if not self.is_csv:
            return None
        # a ragged row can mislead the sniffing itself: try the usual delimiters too
        for delimiter in dict.fromkeys([self.delimiter or ",", ",", ";", "\t", "|"]):
            rows = self._csv_rows(delimiter)
            header = next(rows, None)
            if header is None or len(header) < 2:
                continue
            for n, row in enumerate(rows, start=1):
                if row and len(row) != len(header):
                    return InputError(f"has {len(row)} fields where the header has {len(header)} "
                                      f"(a stray or missing {delimiter!r}, or an unclosed quote?)",
                                      source=self.name, row=n)
        return None

    def read_as_text(self, columns: Sequence[str]) -> None:
        """Read these CSV columns as text, byte for byte, whatever type they were sniffed as:
        ids such as ``007``, ``12.50`` or ``1e3`` stay as written (as numbers they would
        become ``7``, ``12.5`` and ``1000.0``, and distinct customers would merge)."""
        change = [c for c in columns if self.is_csv and self.columns.get(c, "VARCHAR") != "VARCHAR"]
        if not change:
            return
        if "auto_detect=false" in self.from_sql:  # the sniffed reader spells out every column's type
            for c in change:
                self.from_sql = self.from_sql.replace(f"{literal(c)}: {literal(self.schema[c])}", f"{literal(c)}: 'VARCHAR'", 1)
        else:
            types = ", ".join(f"{literal(c)}: 'VARCHAR'" for c in change)
            self.from_sql = self.from_sql[:-1] + f", types={{{types}}})"
        self.schema = {c: ("VARCHAR" if c in change else t) for c, t in self.schema.items()}

    def row(self, n: int) -> int:
        """The row number to show for the ``n``-th data row (a sheet's own numbering)."""
        if self.sheet_rows is not None and 1 <= n <= len(self.sheet_rows):
            return int(self.sheet_rows[n - 1])
        return n

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the input file's bytes (``None`` for a DataFrame); waits for the hashing."""
        return None if self._digest is None else self._digest.result()

    def distinct_text(self, column: str, limit: int) -> list[str] | None:
        """Distinct non-null values of a column as text (at most ``limit`` + 1 of them), when
        reading one column is cheap: Parquet, a DataFrame. ``None`` for CSV, where it would
        mean parsing the whole file.
        """
        if self.is_csv:
            return None
        return _distinct_values(self.con, self.from_sql, identifier(column), limit)

    def _describe(self, sql: str) -> dict[str, str]:
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
        return {r[0]: r[1] for r in rows}

    @property
    def columns(self) -> dict[str, str]:
        if not hasattr(self, "schema"):
            self.schema = self._describe(self.from_sql)
        return self.schema


def _sniffed_reader(con: duckdb.DuckDBPyConnection, path_literal: str) -> tuple[str, dict[str, str], str] | None:
    """Sniff a CSV file once; return a ``read_csv`` call that needs no sniffing, the schema
    and the delimiter.

    ``read_csv(..., auto_detect=true)`` sniffs the file each time a query binds it; reading
    the dialect and types once and spelling them out saves that second pass over the sample.
    (``sniff_csv``'s own ``Prompt`` does not escape quotes in paths or names, so the call is
    built here from its fields.) ``None`` when the file cannot be sniffed: the caller then
    falls back to DuckDB's automatic reading and its error messages.
    """
    try:
        row = con.execute(
            f"SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, HasHeader, Columns, "
            f"DateFormat, TimestampFormat FROM sniff_csv({path_literal}, header=true)"
        ).fetchall()[0]
    except duckdb.Error:
        return None
    delim, quote, escape, new_line, comment, skip, header, columns, date_fmt, ts_fmt = row

    def text(value: object) -> str:
        return "" if value is None or value == "(empty)" else str(value)

    schema = {c["name"]: c["type"] for c in columns}
    options = [
        path_literal, "auto_detect=false", f"delim={literal(text(delim))}", f"quote={literal(text(quote))}",
        f"escape={literal(text(escape))}", f"new_line={literal(text(new_line))}", f"skip={int(skip)}",
        f"comment={literal(text(comment))}", f"header={'true' if header else 'false'}",
        "columns={" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in schema.items()) + "}",
    ]
    if date_fmt:
        options.append(f"dateformat={literal(date_fmt)}")
    if ts_fmt:
        options.append(f"timestampformat={literal(ts_fmt)}")
    return f"read_csv({', '.join(options)})", schema, text(delim)


_DEFAULT_COLUMNS = ColumnMapping()


def match_columns(columns: Sequence[str], mapping: ColumnMapping, roles: Sequence[str]) -> dict[str, str]:
    """The column each role reads: its mapped name exactly, else ignoring case.

    A role mapped to ``None`` or ``""`` reads no column (an optional role not asked for, or
    left unused on purpose). The web app pre-fills its mapping with this, so it shows what a
    run would read.
    """
    lower = {c.lower(): c for c in columns}
    found: dict[str, str] = {}
    for role in roles:
        wanted = getattr(mapping, role)
        if not wanted:
            continue
        if wanted in columns:
            found[role] = wanted
        elif wanted.lower() in lower:
            found[role] = lower[wanted.lower()]
    return found


def _resolve(inp: _Input, mapping: ColumnMapping, roles: tuple[str, ...], required: tuple[str, ...],
             elsewhere: tuple[str, ...] = ()) -> dict[str, str]:
    """Map roles to input column names (see :func:`match_columns`). A required role, or one the
    user named (not the default name), that is not found is an error naming the column looked
    for: a name that is not there is a mistake, never silently ignored. Roles in ``elsewhere``
    may be read from another input (the category from a product catalogue)."""
    found = match_columns(list(inp.columns), mapping, roles)
    for role in roles:
        wanted = getattr(mapping, role)
        if role in found or role in elsewhere or (not wanted and role not in required):
            continue
        if role in required or wanted != getattr(_DEFAULT_COLUMNS, role):
            ragged = inp.ragged_row()
            if ragged is not None:
                raise ragged
            raise InputError(
                f"missing column {wanted!r} (the {role.replace('_', ' ')}); "
                f"found: {', '.join(inp.columns)}",
                source=inp.name,
            )
    return found


#: A number written the continental way: 1234,5 or 1.234,5 (a comma for the decimals).
_DECIMAL_COMMA = r"^[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?$"


def _decimal_comma(inp: _Input, column: str) -> bool:
    """Whether a text column of numbers uses decimal commas (``12,5``; ``1.234,50``).

    Only in a CSV whose fields are not separated by commas (``;`` or tabs, as continental
    exports are), and only when every sampled value is such a number and at least one has
    a comma: elsewhere ``1,234`` may be a thousand, and guessing would be silent and wrong.
    """
    if not inp.is_csv or inp.delimiter in (None, ","):
        return False
    q = identifier(column)
    ok, with_comma, n = inp.con.execute(
        f"SELECT count(*) FILTER (WHERE regexp_matches(v, {literal(_DECIMAL_COMMA)})), "
        f"count(*) FILTER (WHERE v LIKE '%,%'), count(*) FROM ("
        f"SELECT DISTINCT trim({q}::VARCHAR) AS v FROM (SELECT {q} FROM {inp.text_sql} LIMIT 20000) "
        f"WHERE {q} IS NOT NULL AND trim({q}::VARCHAR) <> '' LIMIT 2000)"
    ).fetchall()[0]
    return n > 0 and ok == n and with_comma > 0


def _time_format(inp: _Input, column: str) -> str | None:
    """Pick the date format under which every sampled value parses (None: ISO cast)."""
    q = identifier(column)
    sample = [
        r[0]
        for r in inp.con.execute(
            f"SELECT DISTINCT trim({q}::VARCHAR) FROM (SELECT {q} FROM {inp.text_sql} LIMIT 20000) "
            f"WHERE {q} IS NOT NULL AND trim({q}::VARCHAR) <> '' LIMIT 2000"
        ).fetchall()
    ]
    return detect_time_format(inp.con, sample)


def detect_time_format(con: duckdb.DuckDBPyConnection, sample: Sequence[str]) -> str | None:
    """The format of :data:`DATE_FORMATS` under which the most sampled values parse, tried in
    order and stopping at the first that parses all; ``None`` when ISO parses them all (or
    no format does better). Also used on samples taken by Spark."""
    if not sample:
        return None
    values = pd.DataFrame({"v": list(sample)})
    con.register("__time_sample", values)
    try:
        ok_iso = con.execute(
            "SELECT count(*) FILTER (WHERE try_cast(v AS TIMESTAMP) IS NOT NULL) FROM __time_sample"
        ).fetchall()[0][0]
        if ok_iso == len(values):
            return None
        best, best_ok = None, ok_iso
        for fmt in DATE_FORMATS:
            ok = con.execute(
                f"SELECT count(*) FILTER (WHERE try_strptime(v, {literal(fmt)}) IS NOT NULL) FROM __time_sample"
            ).fetchall()[0][0]
            if ok > best_ok:
                best, best_ok = fmt, ok
            if ok == len(values):
                break
    finally:
        con.unregister("__time_sample")
    return best


def _typed_expressions(
    inp: _Input, found: dict[str, str], schema: dict[str, str],
    event_types: tuple[str, dict[str, str | None]] | None = None,
    levels: dict[str, Sequence[str]] | None = None,
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Strict and tolerant (``try_``) SQL expressions per role, plus notes.

    ``schema`` gives the input types (all VARCHAR for the text-only re-read);
    ``event_types`` the ``ENUM`` and spelling changes for the event type, when known
    before reading (see :func:`_event_type_encoding`); ``levels`` the tidy values of a
    category or channel column known before reading, which is then stored as an ``ENUM``
    of them (see :func:`_level_enum`).
    """
    strict: dict[str, str] = {}
    tolerant: dict[str, str] = {}
    notes: list[str] = []
    for role, column in found.items():
        q = identifier(column)
        typ = schema[column].upper()
        text = f"NULLIF(trim({q}::VARCHAR), '')"
        if role in _TEXT_ROLES:
            # text is taken as it is here and tidied afterwards by _normalise_text, which
            # touches only the rows that need it (most files need none)
            strict[role] = tolerant[role] = q if typ == "VARCHAR" else f"CAST({q} AS VARCHAR)"
            if role == "event_type" and event_types is not None:
                # types become an ENUM in this same pass (see _encode_event_types otherwise)
                enum, changed = event_types
                strict[role] = tolerant[role] = f"CAST({_recoded(strict[role], changed)} AS {enum})"
            elif levels and role in levels:
                strict[role] = tolerant[role] = f"CAST({strict[role]} AS {_level_enum(levels[role])})"
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
                    strict[role] = f"strptime({text}, {literal(fmt)})"
                    tolerant[role] = f"try_strptime({text}, {literal(fmt)})"
        elif role in ("amount", "quantity", "price"):
            if _NUMERIC_TYPES.match(typ):
                strict[role] = tolerant[role] = f"CAST({q} AS DOUBLE)"
            elif _decimal_comma(inp, column):
                notes.append(f"{inp.name}: column {column!r} read with decimal commas (1.234,5)")
                number = f"replace(replace({text}, '.', ''), ',', '.')"
                strict[role] = f"CAST({number} AS DOUBLE)"
                tolerant[role] = f"try_cast({number} AS DOUBLE)"
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
                strict[role] = discount_flag(low, "CAST")
                tolerant[role] = discount_flag(low, "try_cast")
            # a flag in one byte, not eight: 140 MB less of the table at 20 million events
            strict[role], tolerant[role] = (f"CAST({e} AS {DISCOUNT_TYPE})" for e in (strict[role], tolerant[role]))
    return strict, tolerant, notes


_TEXT_ROLES = ("customer_id", "order_id", "category", "channel", "product_id", "event_type")


#: The event types the features know, first in the ``ENUM`` the event table's types are stored as.
EVENT_TYPES: tuple[str, ...] = ("purchase", "view", "cart", "return")


def _normalise_text(con: duckdb.DuckDBPyConnection, table: str, roles: Sequence[str],
                    also: str = "") -> int:
    """Trim text and turn empty text into NULL, in place (event types: :func:`_encode_event_types`);
    return how many customer ids had blanks around them.

    One counting pass, then a filtered rewrite only when a row needs it: rows already tidy
    (the usual case) are not rewritten. ``also`` is an extra assignment made on the
    rewritten rows (e.g. clearing their row hash).
    """
    cols = [r for r in roles if r in _TEXT_ROLES and r != "event_type"]
    if not cols:
        return 0
    # (LIKE is about twice as fast as comparing with trim(); trim() strips spaces only)
    padded = {c: f"({c} LIKE ' %' OR {c} LIKE '% ')" for c in cols}
    dirty = " OR ".join(f"({c} = '' OR {padded[c]})" for c in cols)
    ids = (f"count(*) FILTER (WHERE {padded['customer_id']} AND trim(customer_id) <> '')"
           if "customer_id" in cols else "0")
    trimmed, n_dirty = con.execute(f"SELECT {ids}, count(*) FILTER (WHERE {dirty}) FROM {table}").fetchall()[0]
    if n_dirty:
        sets = [f"{c} = NULLIF(trim({c}), '')" for c in cols] + ([also] if also else [])
        con.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {dirty}")
    return int(trimmed or 0)


#: Larger amounts or quantities than this are not real (a trillion per event); they are
#: read as missing, like NaN and infinity, rather than wiping out every sum they join.
MAX_ABS_NUMBER = 1e12


def _clear_non_finite(con: duckdb.DuckDBPyConnection, table: str, roles: Sequence[str], also: str = "") -> int:
    """Set NaN, infinite and absurdly large numbers to NULL (missing), in place; return how
    many rows had one."""
    if not roles:
        return 0
    bad = " OR ".join(f"NOT (isfinite({r}) AND abs({r}) <= {MAX_ABS_NUMBER:g})" for r in roles)
    sets = [f"{r} = CASE WHEN isfinite({r}) AND abs({r}) <= {MAX_ABS_NUMBER:g} THEN {r} END" for r in roles]
    if also:
        sets.append(also)
    rows = con.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {bad}").fetchall()
    return int(rows[0][0]) if rows else 0


#: Up to this many distinct values, a text column read cheaply is checked value by value.
_FEW_LEVELS = 1000


def _all_tidy(values: Sequence[str] | None) -> bool:
    """Whether there are some of these values (``None``: not known), few, none of them
    empty and none needing trimming: the column can then be an ``ENUM`` of them (an
    ``ENUM`` needs one value at least, and a column with none has nothing to gain)."""
    return bool(values) and len(values) <= _FEW_LEVELS and all(v and v.strip(" ") == v for v in values)


def _level_enum(values: Sequence[str]) -> str:
    """The ``ENUM`` type a category or channel column of these few tidy values is stored as.

    One byte per row instead of a 16-byte string: at 20 million events the category and
    channel take 0.6 GB less, which keeps the events within the run's DuckDB budget, and
    the features compare and group them as integers (the feature query took a fifth less
    CPU at L). The values are in code-point order, which is DuckDB's text order, so an
    ``ENUM``'s ``min`` and sorting agree with the text's; a comparison with a value that
    is not a member (a fitted model's level the new events lack) is simply false.
    """
    return "ENUM(" + ", ".join(literal(v) for v in sorted(values)) + ")"


def _distinct_values(con: duckdb.DuckDBPyConnection, relation: str, column: str, limit: int) -> list[str]:
    """Distinct non-null values of one column of a table or input (SQL names, quoted by the
    caller) as text, at most ``limit`` + 1 of them, in text order: one pass over one column."""
    rows = con.execute(f"SELECT DISTINCT CAST({column} AS VARCHAR) FROM {relation} WHERE {column} IS NOT NULL "
                       f"LIMIT {int(limit) + 1}").fetchall()
    return sorted(r[0] for r in rows)


def _store_as_enums(con: duckdb.DuckDBPyConnection, table: str, levels: dict[str, Sequence[str]]) -> None:
    """Rewrite a loaded table's category or channel column as the ``ENUM`` of its few tidy
    values (see :func:`_level_enum`), for inputs whose values could not be read before
    the table was (CSV).

    At 20 million events from CSV the table then takes 0.6 GB less: it stays closer to the
    run's DuckDB budget, spills less, and the features group and compare small integers.
    """
    for role, values in levels.items():
        con.execute(f"ALTER TABLE {table} ALTER {role} SET DATA TYPE {_level_enum(values)}")


#: More spellings than this in an event-type column means it is not one (a wrong mapping).
MAX_EVENT_TYPES = 1000


def _canonical_event_type(raw: str) -> str | None:
    low = raw.strip().lower()
    return EVENT_TYPE_SYNONYMS.get(low, low or None)


def _event_type_encoding(raws: Sequence[str], source: str, column: str) -> tuple[str, dict[str, str | None]]:
    """The ``ENUM`` type for these event-type spellings, and the spellings that change.

    The type lists the canonical types first, then any other (unknown) type found,
    lower-cased, so they can be counted. Spellings map to their canonical type, or to
    NULL when blank.
    """
    if len(raws) > MAX_EVENT_TYPES:
        raise InputError(f"more than {MAX_EVENT_TYPES} different event types: is this the event type column?",
                         source=source, column=column)
    mapping = {raw: _canonical_event_type(raw) for raw in raws}
    others = sorted({v for v in mapping.values() if v is not None and v not in EVENT_TYPES})
    enum = "ENUM(" + ", ".join(literal(v) for v in EVENT_TYPES + tuple(others)) + ")"
    return enum, {raw: new for raw, new in mapping.items() if raw != new}


def _recoded(expr: str, changed: dict[str, str | None]) -> str:
    """``expr`` with the changed spellings replaced (a CASE over a handful of values)."""
    if not changed:
        return expr
    cases = " ".join(f"WHEN {literal(raw)} THEN {'NULL' if new is None else literal(new)}"
                     for raw, new in changed.items())
    return f"CASE {expr} {cases} ELSE {expr} END"


def _encode_event_types(con: duckdb.DuckDBPyConnection, table: str, source: str, column: str,
                        *, clear_hash: bool) -> None:
    """Map the event-type spellings of a loaded table and store the column as an ``ENUM``.

    For inputs whose spellings could not be read cheaply beforehand (CSV): the spellings
    are read once from the table (a handful of distinct values), mapped here, and the
    column is rewritten once. With ``clear_hash``, rows whose spelling changes get their
    ``__row_hash`` cleared, to be hashed again.
    """
    raws = _distinct_values(con, table, "event_type", MAX_EVENT_TYPES)
    enum, changed = _event_type_encoding(raws, source, column)
    if changed and clear_hash:
        con.execute(f"UPDATE {table} SET __row_hash = NULL WHERE event_type IN "
                    f"({', '.join(literal(r) for r in changed)})")
    using = f" USING {_recoded('event_type', changed)}" if changed else ""
    con.execute(f"ALTER TABLE {table} ALTER event_type SET DATA TYPE {enum}{using}")


_WHAT = {
    "event_time": "is not a date or time",
    "amount": "is not a number",
    "quantity": "is not a number",
    "price": "is not a number",
    "discount": "is not a yes/no or number",
}


def _locate_bad_value(inp: _Input, found: dict[str, str]) -> InputError | None:
    """Find the first row whose value fails its strict conversion."""
    checks = [r for r in found if r in _WHAT]
    if not checks:
        return None
    text_exprs = {r: identifier(found[r]) for r in checks}
    text_schema = {c: "VARCHAR" for c in inp.columns} if inp.text_sql != inp.from_sql else inp.columns
    _, tolerant_text, _ = _typed_expressions(inp, {r: found[r] for r in checks}, text_schema)
    conditions = " OR ".join(
        f"({text_exprs[r]} IS NOT NULL AND trim({text_exprs[r]}::VARCHAR) <> '' AND ({tolerant_text[r]}) IS NULL)"
        for r in checks
    )
    select = ", ".join(f"{text_exprs[r]}::VARCHAR AS {identifier('v_' + r)}, ({tolerant_text[r]}) IS NULL AS {identifier('bad_' + r)}" for r in checks)
    row = inp.con.execute(
        f"SELECT __row, {', '.join(identifier('v_' + r) for r in checks)}, {', '.join(identifier('bad_' + r) for r in checks)} "
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
            return InputError(f"{value!r} {_WHAT[role]}", source=inp.name, column=found[role], row=inp.row(int(row[0])))
    return None


@dataclass(frozen=True)
class _Made:
    """What :func:`_materialize` made: notes, rows read, the canonical roles, and the
    duplicate rows found (removed unless kept) with the net amount they carry."""

    notes: list[str]
    rows: int
    roles: tuple[str, ...]
    duplicates: int = 0
    duplicates_amount: float | None = None


def line_amount(name: str, found: dict[str, str], typed: dict[str, str]) -> str:
    """Turn the price role of ``typed`` (role → SQL of its typed value) into the line amount,
    in place: price × quantity (× 1 without a quantity column). An amount column, when there
    is one too, wins. Returns the note that says which (``name`` is the input's).

    The same rule on DuckDB and on Spark (:mod:`segmentkit.spark.events`): the SQL is plain
    arithmetic on the typed columns.
    """
    price = typed.pop("price")
    if "amount" in typed:
        return (f"{name}: both an amount column ({found['amount']!r}) and a price column "
                f"({found['price']!r}); the amount is used as the line's value")
    quantity = typed.get("quantity")
    typed["amount"] = f"(({price}) * ({quantity}))" if quantity else price
    return (f"{name}: line value = {found['price']!r} × "
            + (f"{found['quantity']!r}" if quantity else "1 (no quantity column)"))


def repeated_values(con: duckdb.DuckDBPyConnection, sql: str) -> np.ndarray:
    """The values of the one column ``k`` of a query's rows that occur more than once, sorted.

    The column is fetched and sorted in numpy (equal values become neighbours) rather than
    grouped by DuckDB (``GROUP BY k HAVING count(*) > 1``): with as many distinct keys as
    rows (20 million row hashes at 20 million events) and the run's DuckDB budget (1.5 GB
    when measured), the hash aggregate costs about 20 times a sort of the 64-bit keys (10 s
    of CPU against 0.5 s). The memory is 8 bytes per row, sorted in place (plus a byte per
    row for the comparison of neighbours). Used for the duplicate rows here and for whether
    order ids repeat (:meth:`segmentkit.features.DuckDBEngine.repeats`).
    """
    values = con.execute(sql).fetchnumpy()["k"]
    values.sort()
    repeated = values[1:][values[1:] == values[:-1]]
    return repeated[np.r_[True, repeated[1:] != repeated[:-1]]] if repeated.size else repeated


def _materialize(
    inp: _Input, table: str, found: dict[str, str], extra: list[str], *, collapse: bool = False,
    keep_duplicates: bool = False,
) -> _Made:
    """Create ``table`` with typed canonical columns in one strict pass over the input.

    With ``collapse``, rows equal in *every* input column (the mapped ones as typed and
    tidied, the others as they are: as written in a CSV file) are exact duplicates: all but the first are deleted
    (or, with ``keep_duplicates``, only counted). The typed pass also stores a 64-bit hash
    of each row (``__row_hash``; rows the text tidying rewrites get theirs anew), so
    finding duplicates is a sort of one integer column (:func:`repeated_values`): only rows
    whose hash is shared are compared column by column. The result is exact. The unmapped
    columns ride along for the comparison only (as ``__x0``, ``__x1``, ...) and are dropped
    afterwards: two products in one basket with the same price and quantity differ in their
    product column, mapped or not.
    """
    event_types = None
    if "event_type" in found:
        spellings = inp.distinct_text(found["event_type"], MAX_EVENT_TYPES)
        if spellings is not None:
            event_types = _event_type_encoding(spellings, inp.name, found["event_type"])
    # a low-cardinality text column whose few values are tidy needs no row-by-row check,
    # and is stored as an ENUM of them
    levels = {role: values for role in ("category", "channel") if role in found
              for values in [inp.distinct_text(found[role], _FEW_LEVELS)] if _all_tidy(values)}
    tidy = set(levels)
    strict, _, notes = _typed_expressions(inp, found, inp.columns, event_types, levels)
    if "price" in strict:
        notes.append(line_amount(inp.name, found, strict))
    riders: list[str] = []
    if collapse:
        used = {found[r] for r in strict if r in found}
        extra = [c for c in inp.columns if c not in used]
        riders = [f"__x{i}" for i in range(len(extra))]
    cols = ", ".join(list(strict) + riders)
    # a column that becomes an ENUM only after this pass (the event type, a CSV's category
    # and channel) is hashed as text: rows rewritten later are hashed again, and must hash
    # alike (the CAST is a no-op in this pass, where the column is text)
    as_text = {"event_type"} if event_types is None else set()
    as_text |= {r for r in ("category", "channel") if r not in levels}
    row_hash = "hash(" + ", ".join([f"CAST({r} AS VARCHAR)" if r in as_text else r for r in strict] + riders) + ")"
    select = ", ".join([f"{expr} AS {role}" for role, expr in strict.items()] +
                       [identifier(c) + (f" AS {riders[i]}" if riders else "") for i, c in enumerate(extra)])
    if collapse:
        select = f"*, {row_hash} AS __row_hash FROM (SELECT {select}"
    try:
        rows = inp.con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM {inp.from_sql}{')' if collapse else ''}"
        ).fetchall()
    except duckdb.Error as exc:
        located = _locate_bad_value(inp, found)
        if located is not None:
            raise located from None
        raise inp.ragged_row() or InputError(f"cannot be read ({first_line(exc)})", source=inp.name) from None
    n_rows = int(rows[0][0]) if rows and rows[0] and rows[0][0] is not None else int(
        inp.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    if "event_type" in strict and event_types is None:
        _encode_event_types(inp.con, table, inp.name, found["event_type"], clear_hash=collapse)
    # a CSV's category and channel values are known only once read: when they are few and
    # tidy, no row needs tidying, and the column becomes an ENUM at the end
    late = {role: values for role in ("category", "channel") if role in strict and role not in levels
            for values in [_distinct_values(inp.con, table, role, _FEW_LEVELS)] if _all_tidy(values)}
    tidy |= set(late)
    # at once: every later pass (the tidying, the duplicates) reads a table 0.6 GB smaller
    # at 20 million events, nearer the run's DuckDB budget (the row hash reads them as text)
    _store_as_enums(inp.con, table, late)
    inp.non_finite = _clear_non_finite(inp.con, table, [r for r in ("amount", "quantity") if r in strict],
                                       also="__row_hash = NULL" if collapse else "")
    inp.ids_trimmed = _normalise_text(inp.con, table, [r for r in strict if r not in tidy],
                                      also="__row_hash = NULL" if collapse else "")
    if not collapse:
        return _Made(notes, n_rows, tuple(strict))
    con = inp.con
    found_rows, amount = 0, None
    con.execute(f"UPDATE {table} SET __row_hash = {row_hash} WHERE __row_hash IS NULL")
    shared = repeated_values(con, f"SELECT __row_hash AS k FROM {table}")
    if shared.size:
        value = "amount" if "amount" in strict else "NULL"
        con.register("__dup_hash", pd.DataFrame({"h": shared}))
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE __dup_rows AS SELECT r, a FROM ("
                f"SELECT rowid AS r, {value} AS a, row_number() OVER (PARTITION BY {cols} ORDER BY rowid) AS rn "
                f"FROM {table} WHERE __row_hash IN (SELECT h FROM __dup_hash)) WHERE rn > 1")
        finally:
            con.unregister("__dup_hash")
        found_rows, amount = con.execute(f"SELECT count(*), {exact_sum('a')} FROM __dup_rows").fetchall()[0]
        if found_rows and not keep_duplicates:
            con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT r FROM __dup_rows)")
        con.execute("DROP TABLE __dup_rows")
    for c in ["__row_hash"] + riders:
        con.execute(f"ALTER TABLE {table} DROP COLUMN {c}")
    return _Made(notes, n_rows, tuple(strict), int(found_rows or 0),
                 None if amount is None else float(amount))


#: The roles an event log may have (see the table at the top).
EVENT_ROLES = ("customer_id", "event_time", "event_type", "amount", "quantity", "category",
                "channel", "discount", "order_id")

#: Roles of receipt-line exports, read by :func:`load_events` only: a unit price (the line
#: value is price × quantity) and a product id (to look categories up in a catalogue).
LINE_ROLES = ("price", "product_id")


def load_events(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    columns: ColumnMapping = ColumnMapping(),
    *,
    table: str = EVENTS_TABLE,
    workdir: Path | None = None,
    keep_duplicates: bool = False,
    elsewhere: tuple[str, ...] = (),
) -> LoadedTable:
    """Read an event log into the DuckDB table ``table`` with canonical columns.

    Rows equal in every column (mapped or not) to an earlier row are removed while reading,
    unless ``keep_duplicates``; they are counted in :attr:`LoadedTable.duplicates` either way.
    A ``price`` column (without an ``amount`` column) makes the amount price × quantity.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    source : path, DataFrame or SqlQuery
        CSV (delimiter and UTF-8 / UTF-8-BOM / cp1252 detected), Parquet or Excel file, or a
        database table or query.
    columns : ColumnMapping
        Input column names per role. ``customer_id`` and ``event_time`` are required.
    table : str
        Name of the table to create.
    workdir : Path, optional
        Where a transcoded copy of a cp1252 file may be written (a temporary folder by default).
    elsewhere : tuple of str
        Roles that another input may hold (``("category",)`` with a product catalogue): a
        mapped name missing from the events is then no error.

    Raises
    ------
    InputError
        Missing column, unparseable value (with its row), empty or unreadable file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        inp = _Input(con, source, "events", Path(workdir or tmp))
        found = _resolve(inp, columns, EVENT_ROLES + LINE_ROLES, required=("customer_id", "event_time"),
                         elsewhere=elsewhere)
        # ids as written; so are the columns no role reads (an amount column wins over a price),
        # which only decide duplicates: "10" and "10.0" there may be two codes, not one number
        used = {c for r, c in found.items() if not (r == "price" and "amount" in found)}
        inp.read_as_text([found[r] for r in ("customer_id", "order_id", "product_id") if r in found]
                         + [c for c in inp.columns if c not in used])
        made = _materialize(inp, table, found, [], collapse=True, keep_duplicates=keep_duplicates)
    if made.rows == 0:
        raise InputError("the file has a header but no rows", source=inp.name)
    return LoadedTable(table=table, source=inp.name, rows_read=made.rows, roles=made.roles,
                       sha256=inp.sha256, notes=tuple(inp.notes + made.notes), duplicates=made.duplicates,
                       duplicates_amount=made.duplicates_amount, duplicates_kept=keep_duplicates,
                       ids_trimmed=inp.ids_trimmed, non_finite=inp.non_finite)


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
        if columns.customers_id is not None:  # the customers table names its id differently
            columns = replace(columns, customer_id=columns.customers_id)
        found = _resolve(inp, columns, ("customer_id",), required=("customer_id",))
        inp.read_as_text([found["customer_id"]])
        extra = [c for c in inp.columns if c != found["customer_id"]]
        made = _materialize(inp, table, found, extra)
        notes, rows = inp.notes + made.notes, made.rows
    if rows == 0:
        raise InputError("the file has a header but no rows", source=inp.name)
    id_col = found["customer_id"]
    bad = con.execute(
        f"SELECT rn FROM (SELECT row_number() OVER () AS rn, customer_id FROM {table}) "
        f"WHERE customer_id IS NULL ORDER BY rn LIMIT 1"
    ).fetchall()
    if bad:
        raise InputError("empty customer id", source=inp.name, column=id_col, row=inp.row(int(bad[0][0])))
    dup = con.execute(
        f"SELECT rn, customer_id FROM (SELECT rn, customer_id, "
        f"row_number() OVER (PARTITION BY customer_id ORDER BY rn) AS k "
        f"FROM (SELECT row_number() OVER () AS rn, customer_id FROM {table})) "
        f"WHERE k = 2 ORDER BY rn LIMIT 1"
    ).fetchall()
    if dup:
        raise InputError(
            f"duplicate customer id {dup[0][1]!r}", source=inp.name, column=id_col, row=inp.row(int(dup[0][0]))
        )
    frame = table_frame(con, table).set_index("customer_id")
    frame.index = frame.index.astype(str).astype(object)  # (as the features' ids: faster lookups)
    return (
        LoadedTable(table=table, source=inp.name, rows_read=int(rows), roles=tuple(found),
                    sha256=inp.sha256, extra_columns=tuple(extra), notes=tuple(notes),
                    ids_trimmed=inp.ids_trimmed),
        frame,
    )


def load_products(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    columns: ColumnMapping = ColumnMapping(),
    *,
    table: str = PRODUCTS_TABLE,
    workdir: Path | None = None,
) -> LoadedTable:
    """Read a product catalogue: ``product_id`` and ``category`` per product, as text.

    The catalogue's id column is ``columns.products_id`` when given, else
    ``columns.product_id`` (named as in the events); its category column is
    ``columns.category``. Joined to the events by :func:`segmentkit.catalogue.join_catalogue`.

    Raises
    ------
    InputError
        Missing column, empty input, or a product id listed with two different categories.
    """
    if columns.products_id is not None:
        columns = replace(columns, product_id=columns.products_id)
    with tempfile.TemporaryDirectory() as tmp:
        inp = _Input(con, source, "products", Path(workdir or tmp))
        found = _resolve(inp, columns, ("product_id", "category"), required=("product_id", "category"))
        inp.read_as_text([found["product_id"]])  # "00123" is not product 123
        made = _materialize(inp, table, found, [])
    if made.rows == 0:
        raise InputError("the file has a header but no rows", source=inp.name)
    clash = con.execute(
        f"SELECT product_id FROM {table} WHERE product_id IS NOT NULL GROUP BY 1 "
        f"HAVING count(DISTINCT coalesce(category, '')) > 1 ORDER BY 1 LIMIT 1").fetchall()
    if clash:
        raise InputError(f"product id {clash[0][0]!r} is listed with different categories",
                         source=inp.name, column=found["product_id"])
    return LoadedTable(table=table, source=inp.name, rows_read=made.rows, roles=made.roles,
                       sha256=inp.sha256, notes=tuple(inp.notes + made.notes))


@contextmanager
def _peek(source: Source) -> Iterator[_Input]:
    """An input opened on a connection of its own, for a look at it (closed after)."""
    con = duckdb.connect()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            yield _Input(con, source, "peek", Path(tmp))
    finally:
        con.close()


def preview_rows(source: Source, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows of an input as text, as they are read (for checking an upload).

    Raises
    ------
    InputError
        Missing, empty or unreadable input.
    """
    with _peek(source) as inp:
        try:
            return inp.con.execute(f"SELECT * FROM {inp.text_sql} LIMIT {int(n)}").df()
        except duckdb.Error as exc:
            raise InputError(f"cannot be read as a table ({first_line(exc)})", source=inp.name) from None


def input_columns(source: Source) -> list[str]:
    """The column names of an input, as they are (for choosing a column mapping).

    Raises
    ------
    InputError
        Missing, empty or unreadable input.
    """
    with _peek(source) as inp:
        return list(inp.columns)
