"""Customers put into a saved run's segments by Spark, without their rows coming to the driver.

The same steps as :func:`segmentkit.pipeline.score`, written as Spark SQL over the events:
the features (the shared feature SQL, with the run's category and channel levels, rounded to
9 significant digits as on DuckDB), the saved preparation (impute, shrink, log, scale, clip)
and the nearest-centre rule as column expressions, the assignments written by Spark, and the
drift against the run's baseline counted by Spark (per feature, customers per decile bin;
per segment, customers). Only those counts and the status counts reach the driver.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from segmentkit.config import ColumnMapping, is_url
from segmentkit.drift import drift_from_shares
from segmentkit.errors import InputError
from segmentkit.exclusions import excluded_customers, exclusion_note, format_rules
from segmentkit.export import FORMULA_START, to_json
from segmentkit.features import FeatureSpec, feature_query
from segmentkit.lifecycle import GROUPS, RULE_FEATURES, LifecycleRules
from segmentkit.model import SegmentationModel
from segmentkit.prepare import CLIP, Preparation
from segmentkit.sources import Source, load_customers
from segmentkit.spark.catalogue import join_catalogue_spark, read_catalogue
from segmentkit.spark.engine import SparkEngine, is_connect
from segmentkit.spark.events import SparkEvents, SparkStage, load_events_spark, read_table
from segmentkit.sqltext import literal, spark_identifier

__all__ = ["NEAREST_CENTRE_ALGORITHMS", "SparkAssignment", "SparkScored", "assign_features", "check_spark_model",
           "excluded_on_driver", "nearest_centre_sql", "prepared_sql", "score_spark"]

#: Algorithms whose rule for new customers is the nearest centre of ``state["centres"]``
#: (:func:`segmentkit.algorithms.nearest_centre`), the rule written here as Spark SQL.
NEAREST_CENTRE_ALGORITHMS = frozenset({"kmeans", "ward", "average", "complete"})

#: significant digits the features are rounded to, as :func:`segmentkit.features.customer_features` does
_DIGITS = 9


@dataclass(frozen=True)
class SparkScored:
    """What :func:`score_spark` wrote, and the counts shown to the user.

    Attributes
    ----------
    drift : dict
        As :func:`segmentkit.drift.drift_report` (empty without a baseline in the model).
    status_counts : dict
        Status → customers.
    segment_counts : dict
        ``(segment id, name)`` → segmented customers.
    paths : dict
        ``assignments_parquet``, ``assignments_csv`` (folders of part files, as Spark
        writes them) and ``drift`` (``drift.json``), as paths or URLs.
    notes : tuple of str
        What was left out, in plain sentences (the customers the model's exclude rules matched).
    """

    drift: dict[str, Any]
    status_counts: dict[str, int]
    segment_counts: dict[tuple[int, str], int]
    paths: dict[str, str]
    notes: tuple[str, ...] = ()


def _num(x: float) -> str:
    """A float as a Spark SQL double literal (a plain ``0.5`` would be a DECIMAL there)."""
    if not math.isfinite(x):
        raise InputError(f"model.json holds a non-finite number ({x!r})")
    return f"({float(x)!r}D)"


def _rounded(col: str) -> str:
    """``col`` rounded to 9 significant digits, half to even, as numpy rounds the DuckDB features."""
    scale = f"power(10, {_DIGITS - 1} - floor(log10(abs({col}))))"
    return f"CASE WHEN {col} IS NULL OR {col} = 0 OR isnan({col}) THEN {col} ELSE bround({col} * {scale}, 0) / {scale} END"


def prepared_sql(prep: Preparation, available: Sequence[str]) -> list[str]:
    """Spark SQL per matrix column: :meth:`segmentkit.prepare.Preparation.transform` over
    feature columns named as the features (a column not ``available`` is 0, as there)."""
    have = set(available)
    out = []
    for c in prep.columns:
        x = f"coalesce({spark_identifier(c.name)}, {_num(c.impute)})" if c.name in have else _num(0.0)
        if c.evidence is not None and c.evidence in have:
            n = f"coalesce({spark_identifier(c.evidence)}, 0D)"
            x = f"(({n} * {x} + {_num(c.prior_weight)} * {_num(c.prior)}) / ({n} + {_num(c.prior_weight)}))"
        if c.log:
            x = f"(signum({x}) * log1p(abs({x})))"
        out.append(f"greatest({_num(-CLIP)}, least({_num(CLIP)}, ({x} - {_num(c.center)}) / {_num(c.scale)}))")
    return out


def nearest_centre_sql(centres: Sequence[Sequence[float]], columns: Sequence[str]) -> tuple[str, str, str]:
    """Spark SQL for :func:`segmentkit.algorithms.nearest_centre`, in two steps: the squared
    distances to the centres as an array (to be a column, ``__d``), then from ``__d`` the
    index of the nearest centre (the first on a tie, as ``argmin``) and the confidence
    ``1 - d1 / d2``."""
    dist = ["(" + " + ".join(f"power({col} - {_num(c)}, 2)" for col, c in zip(columns, centre)) + ")"
            for centre in centres]
    label = "(array_position(__d, array_min(__d)) - 1)"
    if len(centres) < 2:
        return f"array({', '.join(dist)})", label, "1D"
    return (f"array({', '.join(dist)})", label,
            "CASE WHEN array_sort(__d)[1] > 0 THEN 1 - sqrt(array_sort(__d)[0]) / sqrt(array_sort(__d)[1]) ELSE 0D END")


def _excel_safe(col: str) -> str:
    """Spark SQL of :func:`segmentkit.export.excel_safe`: text a spreadsheet would run as a
    formula gets a leading apostrophe, unless it is a plain number."""
    starts = ", ".join(literal(ch) for ch in FORMULA_START)
    return (f"CASE WHEN substr({col}, 1, 1) IN ({starts}) AND try_cast({col} AS DOUBLE) IS NULL "
            f"THEN concat('''', {col}) ELSE {col} END")


def _customer_ids(spark: Any, customers: str, column: str) -> Any:
    """The customer table's ids as canonical text, checked as :func:`load_customers` checks them."""
    source = SparkEvents(customers, spark=spark)
    raw = read_table(spark, source)
    lower = {c.lower(): c for c in raw.columns}
    col = column if column in raw.columns else lower.get(column.lower())
    if col is None:
        raise InputError(f"missing column {column!r} (the customer id); found: {', '.join(raw.columns)}",
                         source=source.name)
    ids = raw.selectExpr(f"nullif(trim(CAST({spark_identifier(col)} AS STRING)), '') AS customer_id")
    empty, dup = ids.selectExpr("count_if(customer_id IS NULL)", "count(*) - count(DISTINCT customer_id)").collect()[0]
    if empty:
        raise InputError(f"empty customer id ({empty:,} such rows)", source=source.name, column=col)
    if dup:
        raise InputError(f"{dup:,} duplicate customer id(s)", source=source.name, column=col)
    return ids


def _write_text(spark: Any, path: str, text: str) -> None:
    """A small file written by the driver: locally, or through Hadoop's file systems for a
    URL; with Spark Connect (no JVM on this side), by the server, as a folder holding the
    text in one part file."""
    if not is_url(path):
        Path(path).write_text(text, encoding="utf-8")
        return
    if is_connect(spark):
        (spark.createDataFrame(pa.table({"value": [text]})).coalesce(1)
         .write.mode("overwrite").text(path))
        return
    jvm = spark.sparkContext._jvm  # classic Spark (spark-submit)
    target = jvm.org.apache.hadoop.fs.Path(path)
    stream = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).create(target, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def check_spark_model(model: SegmentationModel, customers: str | None = None) -> None:
    """Refuse, before Spark starts, a model :func:`score_spark` cannot apply: one whose rule
    is not the nearest centre or whose features are not all from events; and, like
    :func:`segmentkit.pipeline.score`, one with exclude rules without ``customers``. A
    layered model's lifecycle rules are applied.

    Raises
    ------
    InputError
        Naming what Spark cannot do and ``--engine duckdb`` (or ``--customers``).
    """
    if model.algorithm not in NEAREST_CENTRE_ALGORITHMS:
        raise InputError(f"assign --engine spark applies the nearest-centre rule of "
                         f"{', '.join(sorted(NEAREST_CENTRE_ALGORITHMS))}; this model is {model.algorithm}: "
                         "use --engine duckdb")
    if not model.uses_events or model.feature_columns:
        raise InputError("assign --engine spark computes features from events only; this model also uses "
                         "customer columns as features: use --engine duckdb")
    if customers is None and model.exclude:
        raise InputError(f"this model leaves out customers by exclude rules ({format_rules(model.exclude)}), "
                         "which read the customers table: give --customers")


def score_spark(model: SegmentationModel, events: SparkEvents, out: str, customers: str | None = None, *,
                snapshot_date: dt.date | None = None, products: Source | None = None) -> SparkScored:
    """Put customers into the segments of a saved run with Spark, and measure drift from it.

    Parameters
    ----------
    model : SegmentationModel
        A run's model; its rule must be the nearest centre (:data:`NEAREST_CENTRE_ALGORITHMS`),
        its features must come from events only; its exclude rules are applied to the
        ``customers`` table, read on the driver for them (:func:`excluded_on_driver`), and a
        layered model's lifecycle rules first, as on DuckDB.
    events : SparkEvents
        The new customers' events.
    out : str
        Output folder, a local path or a URL Spark writes to (``s3a://...``, ``hdfs://...``).
    customers : str, optional
        Customer table (path or URL): its customers without events get ``no_events``
        (needed when the model has exclude rules).
    snapshot_date : datetime.date, optional
        Features as of this day (default: the day after the last event).
    products : path, DataFrame or SqlQuery, optional
        The product catalogue, when the run's categories came from one (read on the driver,
        looked up by Spark).

    Raises
    ------
    InputError
        A model Spark cannot apply, or bad input.
    """
    check_spark_model(model, customers)
    columns = ColumnMapping(**model.columns)
    stage = load_events_spark(events, columns, view="segmentkit_assign_events",
                              elsewhere=("category",) if products is not None else ())
    if products is not None:
        with duckdb.connect() as con:
            join_catalogue_spark(stage, *read_catalogue(con, products, columns, stage.spark))
    query = feature_query(SparkEngine(stage.spark), stage.view, stage.loaded.roles, snapshot_date=snapshot_date,
                          levels={k: list(v) for k, v in model.levels.items()})
    excluded = excluded_on_driver(model, stage.spark, customers) if model.exclude else None
    return assign_features(model, stage, stage.spark.sql(query.sql), query.specs, out, customers, excluded=excluded)


def excluded_on_driver(model: SegmentationModel, spark: Any, customers: str) -> tuple[pd.Series, str]:
    """The customers the model's exclude rules leave out (id → the rule matched) and the
    note counting them: the customers table read on the driver by the usual rules
    (:func:`segmentkit.exclusions.excluded_customers`; fetched by Spark when it is a URL),
    so cells compare exactly as in the run."""
    from segmentkit.spark.customers import on_driver

    with on_driver(customers, spark) as local, duckdb.connect() as con:
        table, cust = load_customers(con, local, ColumnMapping(**model.columns))
    excluded = excluded_customers(cust, model.exclude, table.source)
    return excluded, exclusion_note(table.source, len(excluded), model.exclude)


@dataclass(frozen=True)
class SparkAssignment:
    """Every customer of a run fitted on a sample, to be assigned by Spark once the model
    is made (:meth:`segmentkit.pipeline.SegmentationResult.write`).

    Attributes
    ----------
    stage : SparkStage
        The run's events and every customer's features (``stage.features_view``).
    specs : tuple of FeatureSpec
        The features, in the model's order.
    customers : str or None
        The customers table (path or URL), whose customers without events are listed too.
    excluded : pandas.Series or None
        The customers left out by the run's exclude rules (id → the rule matched).
    """

    stage: SparkStage
    specs: tuple[FeatureSpec, ...]
    customers: str | None = None
    excluded: pd.Series | None = None

    def write(self, model: SegmentationModel, out: str | Path) -> SparkScored:
        """Assign every customer with ``model`` and write the assignments into ``out``
        (no ``drift.json``: these are the run's own customers)."""
        features = self.stage.spark.table(self.stage.features_view)
        excluded = None if self.excluded is None else (self.excluded, "")
        return assign_features(model, self.stage, features, self.specs, str(out), self.customers, with_drift=False,
                               excluded=excluded)


def _lifecycle_sql(rules: LifecycleRules, ids: Mapping[str, int], segment: str, confidence: str) -> tuple[str, str]:
    """Spark SQL of the lifecycle step of :meth:`SegmentationModel.assign_frame`: the segment
    id (the first group whose rule holds, in :data:`segmentkit.lifecycle.GROUPS` order, gets
    its id; a group empty in the run, or no rule, keeps ``segment``) and the confidence (1 for
    a customer put in a group by rule). A missing or NaN feature fails its comparison, as in
    numpy (Spark orders NaN above every number, so it is tested for)."""

    def known(col: str) -> str:
        return f"({col} IS NOT NULL AND NOT isnan({col}))"

    tenure, orders, recency, gap = (spark_identifier(c) for c in RULE_FEATURES)
    horizon = (f"least(CASE WHEN {known(gap)} THEN greatest({_num(rules.lapsed_gaps)} * {gap}, "
               f"{_num(rules.lapsed_days)}) ELSE {_num(rules.lapsed_days)} END, {_num(rules.lapsed_max_days)})")
    holds = {"new": f"{known(tenure)} AND {tenure} <= {_num(rules.new_tenure_days)}",
             "one-time": f"{known(orders)} AND {orders} = {_num(1.0)}",
             "browsers": f"{known(orders)} AND {orders} < {_num(1.0)}",
             "lapsed": f"{known(recency)} AND {recency} >= {horizon}"}
    label = " ".join(f"WHEN {holds[g]} THEN {int(ids[g]) if g in ids else segment}" for g in GROUPS)
    ruled = " ".join(f"WHEN {holds[g]} THEN {'true' if g in ids else 'false'}" for g in GROUPS)
    return (f"CASE {label} ELSE {segment} END",
            f"CASE WHEN (CASE {ruled} ELSE false END) THEN 1D ELSE {confidence} END")


def _left_out(spark: Any, excluded: tuple[pd.Series, str] | None) -> Any:
    """The customers the exclude rules leave out (``customer_id``, ``__reason``) as a Spark
    DataFrame, built from Arrow (ids are data, never SQL text); empty without any."""
    if excluded is not None and len(excluded[0]):
        return spark.createDataFrame(pa.table({
            "customer_id": pa.array(excluded[0].index.astype(str).tolist(), pa.string()),
            "__reason": pa.array(excluded[0].astype(str).tolist(), pa.string())}))
    # (Spark Connect infers no schema from an empty table)
    return spark.sql("SELECT CAST(NULL AS STRING) AS customer_id, CAST(NULL AS STRING) AS __reason WHERE false")


def _scored(model: SegmentationModel, features: Any, names: Sequence[str]) -> Any:
    """``features`` with each customer's ``__segment`` and ``__confidence``: the saved
    preparation, the nearest centre and the raw → segment id map as Spark expressions, then
    a layered model's lifecycle groups by rule (as :meth:`SegmentationModel.assign_frame`)."""
    z = [f"__z{j}" for j in range(len(model.preparation.columns))]
    distances, label, confidence = nearest_centre_sql(model.state["centres"], z)
    raw_to_id = " ".join(f"WHEN {int(raw)} THEN {int(sid)}" for raw, sid in sorted(model.label_map.items()) if raw >= 0)
    kept = [spark_identifier(c) for c in features.columns]
    # each step a projection of its own, so no expression is copied into every use of it
    scored = (features.selectExpr("*", *[f"{e} AS {c}" for e, c in zip(prepared_sql(model.preparation, names), z)])
              .selectExpr(*kept, f"{distances} AS __d")
              .selectExpr(*kept, f"{label} AS __raw", f"{confidence} AS __confidence")
              .selectExpr(*kept, "__confidence", f"CASE __raw {raw_to_id} ELSE -1 END AS __segment"))
    if model.lifecycle is not None:
        segment, confidence = _lifecycle_sql(model.lifecycle, model.lifecycle_ids, "__segment", "__confidence")
        scored = scored.selectExpr(*kept, f"{confidence} AS __confidence", f"{segment} AS __segment")
    return scored


def _drift_aggregates(base: Mapping[str, Any], names: Sequence[str],
                      ids: Sequence[int]) -> tuple[list[str], dict[str, int]]:
    """The Spark SQL aggregates counting the customers (``n``), per baseline bin of each
    feature of ``base`` that the run has, and per segment id; the number of bins per feature."""
    bins: dict[str, int] = {}
    aggregates = ["count(*) AS n"]
    for f, b in base.get("features", {}).items():
        if f not in names:
            continue
        col, edges = spark_identifier(f), [float(e) for e in b["edges"]]
        above = " + ".join(f"CAST({col} > {_num(e)} AS INT)" for e in edges) or "0"
        idx = f"CASE WHEN {col} IS NULL OR isnan({col}) THEN {len(edges) + 1} ELSE {above} END"
        bins[f] = len(edges) + 2
        aggregates += [f"count_if(({idx}) = {i})" for i in range(len(edges) + 2)]
    aggregates += [f"count_if(__segment = {sid})" for sid in ids]
    return aggregates, bins


def assign_features(model: SegmentationModel, stage: SparkStage, features: Any, specs: Sequence[FeatureSpec],
                    out: str, customers: str | None = None, *, with_drift: bool = True,
                    excluded: tuple[pd.Series, str] | None = None) -> SparkScored:
    """Put the customers of a Spark DataFrame of features (``customer_id`` and a column per
    spec, as the feature SQL makes them) into the segments of ``model``, and write the
    assignments (and ``drift.json`` when ``with_drift`` and the model has a baseline) into ``out``.

    Every customer with an event row in ``stage`` and every customer of the ``customers``
    table gets a row: ``no_usable_events`` or ``no_events`` when it has no features,
    ``excluded`` (and the rule in ``reason``) when it is one of ``excluded`` (the customers
    the model's exclude rules leave out, id → rule, and the note counting them): they are
    neither assigned nor in the drift.
    """
    spark = stage.spark
    names = [s.name for s in specs]
    features = features.selectExpr(
        "CAST(customer_id AS STRING) AS customer_id",
        *[f"{_rounded(spark_identifier(n))} AS {spark_identifier(n)}" for n in names])
    left_out = _left_out(spark, excluded)
    features = features.join(left_out, "customer_id", "left_anti").persist()
    scored = _scored(model, features, names).persist()

    # drift: customers per baseline bin of each feature, and per segment, in one aggregate
    base = (model.baseline or {}) if with_drift else {}
    ids = sorted(set(model.label_map.values()) | set(model.lifecycle_ids.values()) | {-1})
    aggregates, bins = _drift_aggregates(base, names, ids)
    counts = scored.selectExpr(*aggregates).collect()[0]

    # assignments: every customer of the events and of the customer table, once
    lookup = spark.createDataFrame(pa.table({  # from Arrow: names are data, never SQL text
        "__segment": pa.array([int(s) for s in model.names], pa.int32()),
        "__name": pa.array([str(v) for v in model.names.values()], pa.string())}))
    evented = spark.sql(f"SELECT DISTINCT customer_id, true AS __evented FROM {stage.view} "
                        "WHERE customer_id IS NOT NULL")
    everyone = evented.select("customer_id")
    if customers is not None:
        id_column = model.columns.get("customers_id") or model.columns["customer_id"]
        everyone = everyone.union(_customer_ids(spark, customers, id_column)).distinct()
    layer = []  # a layered model's assignments say which layer each segmented customer is in
    if model.lifecycle is not None:
        groups = ", ".join(str(int(v)) for v in model.lifecycle_ids.values()) or "NULL"
        layer = [f"CASE WHEN __segment IS NULL OR __segment < 0 THEN '' WHEN __segment IN ({groups}) "
                 "THEN 'lifecycle' ELSE 'behaviour' END AS layer"]
    assignments = (everyone.join(scored.select("customer_id", "__segment", "__confidence"), "customer_id", "left")
                   .join(evented, "customer_id", "left")
                   .join(lookup, "__segment", "left")
                   .join(left_out, "customer_id", "left")
                   .selectExpr("customer_id",
                               "CAST(coalesce(__segment, -1) AS BIGINT) AS segment_id",
                               "CASE WHEN __segment >= 0 THEN coalesce(__name, '') ELSE '' END AS segment_name",
                               "CASE WHEN __reason IS NOT NULL THEN 'excluded' "
                               "WHEN __segment IS NULL AND __evented THEN 'no_usable_events' "
                               "WHEN __segment IS NULL THEN 'no_events' WHEN __segment < 0 THEN 'noise' "
                               "ELSE 'segmented' END AS status",
                               "bround(__confidence, 6) AS confidence", *layer,
                               *(["coalesce(__reason, '') AS reason"] if model.exclude else []))
                   .orderBy("customer_id"))
    folder = out.rstrip("/") if is_url(out) else str(Path(out).resolve())
    if not is_url(out):
        Path(folder).mkdir(parents=True, exist_ok=True)
    paths = {"assignments_parquet": f"{folder}/assignments.parquet", "assignments_csv": f"{folder}/assignments.csv"}
    assignments.write.mode("overwrite").parquet(paths["assignments_parquet"])
    written = spark.read.parquet(paths["assignments_parquet"])
    (written.selectExpr(*[_excel_safe(c) + f" AS {c}" if c in ("customer_id", "segment_name", "status", "reason") else c
                          for c in written.columns])
     .write.mode("overwrite").option("header", True).csv(paths["assignments_csv"]))
    tally = written.groupBy("status", "segment_id", "segment_name").count().collect()
    scored.unpersist()
    features.unpersist()

    status_counts: dict[str, int] = {}
    segment_counts: dict[tuple[int, str], int] = {}
    for row in tally:
        status_counts[row["status"]] = status_counts.get(row["status"], 0) + int(row["count"])
        if row["status"] == "segmented":
            segment_counts[(int(row["segment_id"]), row["segment_name"])] = int(row["count"])
    drift: dict[str, Any] = {}
    notes = [excluded[1]] if excluded is not None and excluded[1] else []
    if base and not int(counts[0]) and excluded is not None and len(excluded[0]):
        notes.append("every customer with features was left out by the exclude rules: no drift measured "
                     "(no drift.json)")
    elif base:
        n, i = int(counts[0]), 1
        shares: dict[str, np.ndarray] = {}
        for f, width in bins.items():
            shares[f] = np.array([int(v) for v in counts[i:i + width]], float) / max(n, 1)
            i += width
        seg_counts: Mapping[int, int] = {sid: int(v) for sid, v in zip(ids, counts[i:]) if v}
        drift = drift_from_shares(base, shares, seg_counts, labels={s.name: s.label for s in specs},
                                  names=model.names)
        if notes:
            drift["notes"] = list(notes)
        paths["drift"] = f"{folder}/drift.json"
        _write_text(spark, paths["drift"], to_json(drift))
    return SparkScored(drift=drift, status_counts=dict(sorted(status_counts.items())),
                       segment_counts=dict(sorted(segment_counts.items())), paths=paths, notes=tuple(notes))
