"""Event logs read by Spark and made canonical, then turned into features with the shared SQL.

The canonical table follows :mod:`segmentkit.sources`: the same roles and column mapping,
text trimmed (empty text is missing), event-type spellings mapped (``Order`` → purchase),
time formats detected on a sample by the same rules, discount flags read the same way, and
exact duplicate rows removed and counted. A value that does not convert stops the run with
the column and an example value (a distributed file has no row order to point into).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from segmentkit.catalogue import UNKNOWN, CatalogueJoin
from segmentkit.config import ColumnMapping
from segmentkit.errors import InputError, first_line
from segmentkit.features import FeatureTable, feature_query, fetch_features
from segmentkit.sources import (EVENT_ROLES, EVENT_TYPE_SYNONYMS, LINE_ROLES, MAX_ABS_NUMBER, LoadedTable,
                                detect_time_format, discount_flag, line_amount, match_columns)
from segmentkit.spark.catalogue import join_catalogue_spark
from segmentkit.spark.sample import DRIVER_CUSTOMERS, FitScope, stratified_sample
from segmentkit.sqltext import literal, spark_identifier

__all__ = ["SparkEvents", "SparkStage", "load_events_spark", "read_table", "spark_event_stage"]

#: The roles Spark reads: the event roles and those of receipt lines (a unit price, made the
#: line amount as on the DuckDB path, and a product id, to look categories up in a catalogue).
_SPARK_ROLES = EVENT_ROLES + LINE_ROLES
_REQUIRED = ("customer_id", "event_time")
_DEFAULT_COLUMNS = ColumnMapping()

#: strptime directives and the Spark (java.time) pattern letters that parse them.
_JAVA = {"%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s", "%b": "MMM", "%B": "MMMM"}


@dataclass(frozen=True)
class SparkEvents:
    """An event log to be read by Spark.

    Attributes
    ----------
    source : str or pyspark.sql.DataFrame
        Path (or glob, or list of paths) of CSV or Parquet files on any file system Spark
        reads (local, HDFS, S3, ...), or a Spark DataFrame.
    spark : pyspark.sql.SparkSession, optional
        The session to use; default: the active one, or a local one.
    file_format : str, optional
        ``"csv"`` or ``"parquet"``; default: from the path's suffix.
    delimiter : str, optional
        CSV delimiter; default: sniffed from the first line of a local file, else ``,``.
    """

    source: Any
    spark: Any = None
    file_format: str | None = None
    delimiter: str | None = None

    @property
    def name(self) -> str:
        """How the input is named in messages."""
        if isinstance(self.source, (str, Path)):
            return f"{Path(str(self.source)).name} (Spark)"
        return "<Spark DataFrame>"


def _java_pattern(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and fmt[i:i + 2] in _JAVA:
            out.append(_JAVA[fmt[i:i + 2]])
            i += 2
        else:
            ch = fmt[i]
            out.append(f"'{ch}'" if ch.isalpha() else ch)
            i += 1
    return "".join(out)


def read_table(spark: Any, events: SparkEvents) -> Any:
    """The raw Spark DataFrame of a source: its files (CSV with a header, or Parquet) or itself."""
    if not isinstance(events.source, (str, Path, list)):
        return events.source
    paths = [str(p) for p in events.source] if isinstance(events.source, list) else [str(events.source)]
    fmt = events.file_format or ("parquet" if paths[0].lower().rstrip("/").endswith((".parquet", ".pq"))
                                 else "csv")
    try:
        if fmt == "parquet":
            return spark.read.parquet(*paths)
        sep = events.delimiter or _sniff_delimiter(paths[0])
        return spark.read.option("header", True).option("sep", sep).csv(paths)
    except Exception as exc:  # Spark reports a missing path as an AnalysisException
        raise InputError(f"cannot be read ({first_line(exc)})", source=events.name) from None


def _sniff_delimiter(path: str) -> str:
    local = Path(path)
    if not local.is_file():
        return ","
    with local.open("r", encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","


def _typed(raw: Any, found: dict[str, str], name: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Spark SQL per role: the converted value, and the raw text it came from (for checks)."""
    types = dict(raw.dtypes)
    exprs: dict[str, str] = {}
    text: dict[str, str] = {}
    notes: list[str] = []
    for role, column in found.items():
        q = spark_identifier(column)
        typ = types[column].lower()
        t = f"nullif(trim(CAST({q} AS STRING)), '')"
        if role == "event_time":
            if typ.startswith("timestamp") or typ == "date":
                exprs[role] = f"CAST({q} AS TIMESTAMP)"
            else:
                sample = [r[0] for r in raw.limit(20000).selectExpr(f"{t} AS v").where("v IS NOT NULL")
                          .distinct().limit(2000).collect()]
                with duckdb.connect() as con:  # the same rules as for files read by DuckDB
                    fmt = detect_time_format(con, sample)
                if fmt is None:
                    exprs[role] = f"try_cast({t} AS TIMESTAMP)"
                else:
                    notes.append(f"{name}: column {column!r} read with date format {fmt}")
                    exprs[role] = f"try_to_timestamp({t}, {literal(_java_pattern(fmt))})"
                text[role] = t
        elif role in ("amount", "quantity", "price"):
            exprs[role] = f"try_cast({t} AS DOUBLE)"
            text[role] = t
        elif role == "discount":
            if typ == "boolean":
                exprs[role] = f"CAST(CAST({q} AS INT) AS DOUBLE)"
            else:
                exprs[role] = discount_flag(f"lower(trim(CAST({q} AS STRING)))", "try_cast")
                text[role] = t
        elif role == "event_type":
            low = f"lower({t})"
            cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in EVENT_TYPE_SYNONYMS.items())
            exprs[role] = f"CASE {low} {cases} ELSE {low} END"
        else:
            exprs[role] = t
    return exprs, text, notes


@dataclass
class SparkStage:
    """The canonical events on Spark, and what the pipeline asks of them."""

    spark: Any
    view: str
    loaded: LoadedTable
    #: which customers' features came to the driver (set by :func:`spark_event_stage`)
    scope: FitScope | None = None
    #: the counts of the product catalogue's join (with a catalogue)
    catalogue: CatalogueJoin | None = None

    @property
    def features_view(self) -> str:
        """The temporary view of every customer's features (made by :func:`spark_event_stage`)."""
        return f"{self.view}_features"

    def customer_ids(self) -> pd.Index:
        """Every customer id with at least one event row (usable or not)."""
        ids = self.spark.sql(f"SELECT DISTINCT customer_id FROM {self.view} WHERE customer_id IS NOT NULL")
        return pd.Index(ids.toArrow().column(0).to_pylist(), dtype=object)

    def count_event_customers(self) -> int:
        """Customers with at least one event row (usable or not), counted by Spark."""
        return int(self.spark.sql(f"SELECT count(DISTINCT customer_id) FROM {self.view}").collect()[0][0])

    def count_with_features(self, ids: pd.Index) -> int:
        """Customers among ``ids`` that have features, counted by Spark."""
        self._known(ids)
        return int(self.spark.sql(f"SELECT count(*) FROM {self.features_view} f LEFT SEMI JOIN {self.view}_known k "
                                  "ON f.customer_id = k.customer_id").collect()[0][0])

    def _known(self, ids: pd.Index) -> None:
        # from Arrow: a pandas frame would make pyspark warn about pandas 3
        known = self.spark.createDataFrame(pa.table({"customer_id": pa.array(ids.astype(str), pa.string())}))
        known.createOrReplaceTempView(f"{self.view}_known")

    def count_events_outside(self, ids: pd.Index) -> int:
        """Events whose customer is not among ``ids`` (orphan events)."""
        self._known(ids)
        return int(self.spark.sql(
            f"SELECT count(*) FROM {self.view} e LEFT ANTI JOIN {self.view}_known k "
            f"ON e.customer_id = k.customer_id WHERE e.customer_id IS NOT NULL").collect()[0][0])


def _find_columns(raw: Any, columns: ColumnMapping, name: str, elsewhere: tuple[str, ...] = ()) -> dict[str, str]:
    """The column each role reads (as :func:`segmentkit.sources.match_columns`); a required
    role, or one the user named, that is not there is an error naming it (unless another
    input holds it: a role in ``elsewhere``)."""
    found = match_columns(list(raw.columns), columns, _SPARK_ROLES)
    for role in _SPARK_ROLES:
        wanted = getattr(columns, role)
        if role in found or role in elsewhere or (not wanted and role not in _REQUIRED):
            continue
        if role in _REQUIRED or wanted != getattr(_DEFAULT_COLUMNS, role):
            raise InputError(f"missing column {wanted!r} (the {role.replace('_', ' ')}); "
                             f"found: {', '.join(raw.columns)}", source=name)
    return found


def load_events_spark(events: SparkEvents, columns: ColumnMapping = ColumnMapping(),
                      *, view: str = "segmentkit_events", keep_duplicates: bool = False,
                      elsewhere: tuple[str, ...] = ()) -> SparkStage:
    """Read ``events`` with Spark into the canonical temporary view ``view`` (cached).

    Counted as the DuckDB loader counts them: exact duplicate rows (dropped unless
    ``keep_duplicates``) and the net amount they carry, customer ids with blanks around them,
    and rows whose amount or quantity is NaN, infinite or beyond
    :data:`~segmentkit.sources.MAX_ABS_NUMBER` (read as missing). A unit price (without an
    amount) makes the amount price × quantity (:func:`segmentkit.sources.line_amount`).
    ``elsewhere``: roles another input may hold (``("category",)`` with a product catalogue).

    Raises
    ------
    InputError
        Missing column, unreadable input, a value that does not convert, no rows.
    """
    from segmentkit.spark.engine import SparkEngine, local_session

    spark = events.spark or local_session()
    SparkEngine(spark)  # sets the session's time zone to UTC before any timestamp is read
    raw = read_table(spark, events)
    found = _find_columns(raw, columns, events.name, elsewhere)
    exprs, text, notes = _typed(raw, found, events.name)
    checked = dict(exprs)  # the typed values whose text is checked (a price made an amount too)
    if "price" in exprs:
        if "amount" in exprs:  # an amount column wins: the price is not read (as on DuckDB)
            text.pop("price")
        notes.append(line_amount(events.name, found, exprs))
    # unmapped columns ride along so that duplicates are judged on every column of the row
    used = {found[r] for r in exprs if r in found}
    riders = [c for c in raw.columns if c not in used]
    rider_names = [f"__x{i}" for i in range(len(riders))]
    raw_id = f"CAST({spark_identifier(found['customer_id'])} AS STRING)"
    typed = raw.selectExpr(*[f"{e} AS {r}" for r, e in exprs.items()],
                           *[f"{checked[r]} AS __typed_{r}" for r in text if r not in exprs],
                           *[f"{t} AS __raw_{r}" for r, t in text.items()],
                           f"{raw_id} <> trim({raw_id}) AND trim({raw_id}) <> '' AS __id_trimmed",
                           *[f"`{c.replace('`', '``')}` AS {x}" for c, x in zip(riders, rider_names)])
    checks: list[str] = []
    for r in text:  # per role: how many values did not convert, and one of them
        bad = f"__raw_{r} IS NOT NULL AND {r if r in exprs else f'__typed_{r}'} IS NULL"
        checks += [f"count_if({bad})", f"min(CASE WHEN {bad} THEN __raw_{r} END)"]
    numbers = [r for r in ("amount", "quantity") if r in exprs]
    finite = {r: f"(NOT isnan({r}) AND abs({r}) <= {MAX_ABS_NUMBER:g})" for r in numbers}
    non_finite = " OR ".join(f"({r} IS NOT NULL AND NOT {ok})" for r, ok in finite.items()) or "false"
    counts = typed.selectExpr(*checks, "count(*)", "count_if(__id_trimmed)", f"count_if({non_finite})").collect()[0]
    for i, role in enumerate(text):
        if counts[2 * i]:
            what = {"event_time": "is not a date or time", "discount": "is not a yes/no or number"}.get(
                role, "is not a number")
            raise InputError(f"{counts[2 * i + 1]!r} {what} ({counts[2 * i]:,} such rows)",
                             source=events.name, column=found[role])
    rows_read, ids_trimmed, n_non_finite = (int(v) for v in counts[2 * len(text):])
    if rows_read == 0:
        raise InputError("no rows", source=events.name)
    canonical = typed.selectExpr(*[f"CASE WHEN {finite[r]} THEN {r} END AS {r}" if r in finite else r
                                   for r in exprs], *rider_names)
    # one group per distinct row (riders included), cached with its size: the duplicates are
    # counted from it, and its canonical columns are the events without them
    groups = canonical.groupBy(*canonical.columns).count().select(*exprs, "count").persist()
    amount = "sum((count - 1) * amount)" if "amount" in exprs else "CAST(NULL AS DOUBLE)"
    duplicates, dup_amount = groups.selectExpr("sum(count - 1)", amount).collect()[0]
    if keep_duplicates:
        groups.unpersist()
        table = canonical.select(*exprs).persist()
    else:
        table = groups.select(*exprs)
    table.createOrReplaceTempView(view)
    loaded = LoadedTable(table=view, source=events.name, rows_read=rows_read, roles=tuple(exprs),
                         sha256=None, notes=tuple(notes), duplicates=int(duplicates or 0),
                         duplicates_amount=None if not duplicates or dup_amount is None else float(dup_amount),
                         duplicates_kept=keep_duplicates, ids_trimmed=ids_trimmed, non_finite=n_non_finite)
    return SparkStage(spark=spark, view=view, loaded=loaded)


def spark_event_stage(events: SparkEvents, columns: ColumnMapping, snapshot_date: dt.date | None,
                      *, keep_duplicates: bool = False, driver_customers: int = DRIVER_CUSTOMERS,
                      seed: int = 0, products: tuple[LoadedTable, pa.Table] | None = None,
                      ) -> tuple[SparkStage, FeatureTable]:
    """Canonical events and their features, computed by Spark with the shared feature SQL.

    With ``products`` (the catalogue as read, and its category per product id:
    :func:`segmentkit.spark.catalogue.read_catalogue`), every line's category is its
    product's (:func:`segmentkit.spark.catalogue.join_catalogue_spark`).

    Every customer's features stay in Spark (:attr:`SparkStage.features_view`); those of
    all customers come to the driver, or, beyond ``driver_customers``, those of a
    stratified sample of that size (:mod:`segmentkit.spark.sample`; ``stage.scope`` says
    which).

    Raises
    ------
    InputError
        As :func:`load_events_spark`; a feature error names the input and its column.
    """
    from segmentkit.spark.engine import SparkEngine

    stage = load_events_spark(events, columns, keep_duplicates=keep_duplicates,
                              elsewhere=("category",) if products is not None else ())
    if products is not None:
        stage.catalogue = join_catalogue_spark(stage, *products)
    engine = SparkEngine(stage.spark)
    try:
        query = feature_query(engine, stage.view, stage.loaded.roles, snapshot_date=snapshot_date,
                              never_levels=(UNKNOWN,) if products is not None else ())
    except InputError as exc:  # named by the input and its column, as on the DuckDB path
        column = getattr(columns, exc.column) if exc.column else None
        raise InputError(exc.reason, source=events.name, column=column) from None
    everyone = stage.spark.sql(query.sql).persist()
    everyone.createOrReplaceTempView(stage.features_view)
    total = everyone.count()
    select = f"SELECT * FROM {stage.features_view}"
    if total > driver_customers:
        sample = stratified_sample(stage.spark, stage.features_view, query.value_column, driver_customers,
                                   total, seed, view=f"{stage.view}_sample")
        select += f" f LEFT SEMI JOIN {sample} s ON f.customer_id = s.customer_id"
    feats = fetch_features(engine, query, select=select, customers=total)
    stage.scope = FitScope(customers=int(total), fitted=len(feats.frame), driver_customers=driver_customers)
    return stage, feats
