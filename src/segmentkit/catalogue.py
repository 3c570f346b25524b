"""Categories from a product catalogue.

Receipt-line exports carry a product id, not a category: the category lives in a product
catalogue (product id → department). :func:`join_catalogue` looks each event line's product
up in the catalogue read by :func:`segmentkit.sources.load_products` and writes its
category into the event table; a line whose product the catalogue does not list (or that
has no product id) gets the category :data:`UNKNOWN`, and is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb

from segmentkit.errors import InputError
from segmentkit.sources import LoadedTable
from segmentkit.sqltext import literal

__all__ = ["UNKNOWN", "CatalogueJoin", "catalogue_join_query", "catalogue_query", "check_product_id", "join_catalogue", "joined_events"]

#: The category of a line whose product is missing from the catalogue.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class CatalogueJoin:
    """What the join found.

    Attributes
    ----------
    products : int
        Distinct product ids in the catalogue.
    lines : int
        Event lines looked up.
    lines_unknown : int
        Lines whose product is missing from the catalogue (or without a product id): their
        category is :data:`UNKNOWN`.
    products_unknown : int
        Distinct product ids of the events missing from the catalogue.
    """

    products: int
    lines: int
    lines_unknown: int
    products_unknown: int

    def to_dict(self) -> dict[str, int]:
        """The counts, for ``data_quality``."""
        return {"catalogue_products": self.products, "catalogue_lines_unknown_product": self.lines_unknown,
                "catalogue_unknown_products": self.products_unknown}


def join_catalogue(con: duckdb.DuckDBPyConnection, events: LoadedTable,
                   products: LoadedTable) -> tuple[LoadedTable, CatalogueJoin]:
    """Give every event line the category of its product, in place.

    The catalogue's category replaces a category column of the events, if they had one
    (a note says so).

    Returns
    -------
    LoadedTable, CatalogueJoin
        The events (now with a ``category`` role) and the counts of the join.

    Raises
    ------
    InputError
        The events have no product id column.
    """
    check_product_id(events)
    t, p = events.table, products.table
    lines, unknown, unknown_ids = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE p.product_id IS NULL), "
        f"count(DISTINCT e.product_id) FILTER (WHERE p.product_id IS NULL) "
        f"FROM {t} e LEFT JOIN (SELECT DISTINCT product_id FROM {p}) p USING (product_id)").fetchall()[0]
    n_products = con.execute(f"SELECT count(DISTINCT product_id) FROM {p}").fetchall()[0][0]
    con.execute(f"CREATE OR REPLACE TABLE {t} AS "
                + catalogue_join_query(t, p, replaces_category="category" in events.roles))
    return joined_events(events, products, CatalogueJoin(int(n_products), int(lines), int(unknown), int(unknown_ids)))


def check_product_id(events: LoadedTable) -> None:
    """Refuse events without a product id: the catalogue has nothing to look up.

    Raises
    ------
    InputError
        Naming the flag and setting of the product id column.
    """
    if "product_id" not in events.roles:
        raise InputError("a product catalogue needs a product id column in the events "
                         "(--product-column, or [columns] product_id)", source=events.source)


def catalogue_query(products: str) -> str:
    """SQL of the category per product id of the catalogue table ``products`` (one each:
    :func:`segmentkit.sources.load_products` refused ids listed with two)."""
    return (f"SELECT product_id, any_value(category) AS category FROM {products} "
            "WHERE product_id IS NOT NULL GROUP BY 1")


def catalogue_join_query(events: str, products: str, *, replaces_category: bool = False) -> str:
    """SQL of the lines of the event table ``events``, each with the category of its product
    in the catalogue table ``products`` (:data:`UNKNOWN` when the catalogue does not list it);
    ``replaces_category``: the events have a category column of their own, left out."""
    keep = "* EXCLUDE (category)" if replaces_category else "*"
    return (f"SELECT e.{keep}, CASE WHEN p.product_id IS NULL THEN {literal(UNKNOWN)} ELSE p.category END "
            f"AS category FROM {events} e LEFT JOIN ({catalogue_query(products)}) p USING (product_id)")


def joined_events(events: LoadedTable, products: LoadedTable,
                  joined: CatalogueJoin) -> tuple[LoadedTable, CatalogueJoin]:
    """The events after the join (on any engine): a ``category`` role, and notes saying
    where the categories came from and how many lines the catalogue does not list."""
    notes = list(events.notes) + list(products.notes)
    if "category" in events.roles:
        notes.append(f"{events.source}: categories taken from the catalogue {products.source}, "
                     "not from the events' own category column")
    if joined.lines_unknown:
        notes.append(f"{events.source}: {joined.lines_unknown:,} line(s) of {joined.products_unknown:,} product(s) "
                     f"missing from the catalogue {products.source} get the category {UNKNOWN!r}")
    roles = tuple(r for r in events.roles if r != "category") + ("category",)
    return replace(events, roles=roles, notes=tuple(notes)), joined
