"""Categories from a product catalogue, looked up by Spark.

The catalogue has one row per product, so it is read on the driver by the usual rules
(:func:`segmentkit.sources.load_products`: the same checks, notes and SHA-256; a catalogue at
a URL, ``s3a://…``, is first fetched by Spark into a temporary local copy of the same name)
and handed to Spark as a small table; the event lines are joined to it in Spark, as
:func:`segmentkit.catalogue.join_catalogue` joins them on DuckDB: a line whose product the
catalogue does not list gets the category :data:`~segmentkit.catalogue.UNKNOWN`, and is counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from segmentkit.catalogue import UNKNOWN, CatalogueJoin, catalogue_query, check_product_id, joined_events
from segmentkit.config import ColumnMapping
from segmentkit.sources import LoadedTable, Source, load_products
from segmentkit.sqltext import literal

if TYPE_CHECKING:
    from segmentkit.spark.events import SparkStage

__all__ = ["join_catalogue_spark", "read_catalogue"]


def read_catalogue(con: duckdb.DuckDBPyConnection, source: Source, columns: ColumnMapping,
                   spark: Any = None) -> tuple[LoadedTable, pa.Table]:
    """The catalogue read on the driver (:func:`segmentkit.sources.load_products`; fetched
    by ``spark``, default the active session, when ``source`` is a URL), and its category
    per product id as an Arrow table, for :func:`join_catalogue_spark`."""
    from segmentkit.spark.customers import on_driver

    with on_driver(source, spark) as local:
        products = load_products(con, local, columns)
    return products, con.sql(catalogue_query(products.table)).to_arrow_table()


def join_catalogue_spark(stage: SparkStage, products: LoadedTable, catalogue: pa.Table) -> CatalogueJoin:
    """Give every event line of ``stage`` the category of its product, in place (the view
    and ``stage.loaded`` are replaced).

    Parameters
    ----------
    stage : SparkStage
        The canonical events.
    products : LoadedTable
        The catalogue as read (its name, notes).
    catalogue : pyarrow.Table
        ``product_id`` and ``category``, one row per product id
        (:func:`segmentkit.catalogue.catalogue_query`).

    Raises
    ------
    InputError
        The events have no product id column.
    """
    check_product_id(stage.loaded)
    spark, view = stage.spark, stage.view
    lookup = f"{view}_products"
    spark.createDataFrame(catalogue).createOrReplaceTempView(lookup)  # from Arrow: ids are data, never SQL text
    lines, unknown, unknown_ids = spark.sql(
        f"SELECT count(*), count_if(p.product_id IS NULL), "
        f"count(DISTINCT CASE WHEN p.product_id IS NULL THEN e.product_id END) "
        f"FROM {view} e LEFT JOIN {lookup} p ON e.product_id = p.product_id").collect()[0]
    keep = ", ".join(f"e.{r}" for r in stage.loaded.roles if r != "category")
    joined = spark.sql(f"SELECT {keep}, CASE WHEN p.product_id IS NULL THEN {literal(UNKNOWN)} ELSE p.category END "
                       f"AS category FROM {view} e LEFT JOIN {lookup} p ON e.product_id = p.product_id").persist()
    joined.createOrReplaceTempView(view)
    counts = CatalogueJoin(catalogue.num_rows, int(lines), int(unknown), int(unknown_ids))
    stage.loaded, counts = joined_events(stage.loaded, products, counts)
    return counts
