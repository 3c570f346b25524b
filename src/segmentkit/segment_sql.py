"""Segment definitions others can run: ``segments.sql``.

The readable rules of each segment (:class:`segmentkit.profiles.Rule`) become SQL over the
feature table's columns, so a warehouse or CDP can re-create and refresh the segments
natively, next to the feature SQL that builds that table from the canonical events.

The file holds, in order:

0. when the run took the categories from a product catalogue, the join that gives each
   event line its product's category (as :func:`segmentkit.catalogue.join_catalogue` did);
1. the feature SQL (DuckDB's dialect) as ``CREATE TABLE customer_features AS ...`` over the
   canonical event table, when the run had events;
2. ``segment_rules``: one boolean column per rule, ``segment_<id>_rule_<n>``, each with
   its precision, coverage and support in a comment;
3. ``customer_segments``: a ``CASE`` that gives each customer the segment of the first
   matching rule, most precise rules first (customers no rule matches get ``NULL``).

Rules are measured with a missing feature value read as the column's median (as the
rules were fitted), so each condition reads ``coalesce(column, median) <op> threshold``.
The rules describe the segments; they do not reproduce the clustering exactly: their
precision and coverage say how far each one goes.

A layered run (``--layers lifecycle``) adds the lifecycle rules exactly
(:mod:`segmentkit.lifecycle`): ``segment_rules.lifecycle_group`` is each customer's group
(``''``: the active base), and ``customer_segments`` gives the groups first, then the
behavioural segments by their readable rules.
"""

from __future__ import annotations

from typing import Any, Mapping

from segmentkit.catalogue import UNKNOWN, catalogue_join_query
from segmentkit.sqltext import identifier, literal

__all__ = ["FEATURES_TABLE", "segments_sql"]

#: Name of the feature table in segments.sql.
FEATURES_TABLE = "customer_features"


def _number(x: float) -> str:
    """A number as an SQL literal: shortest repr that reads back exactly."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _condition(cond: Mapping[str, Any], medians: Mapping[str, float]) -> str:
    feature = cond["feature"]
    col = identifier(feature)
    median = medians.get(feature)
    value = f"coalesce({col}, {_number(median)})" if median is not None else col
    return f"{value} {cond['op']} {_number(cond['threshold'])}"


def _comment(text: str) -> str:
    """Text safe inside a ``--`` comment (one line)."""
    return " ".join(str(text).split())


def _feature_table(feature_sql: str | None, events_table: str, customer_columns: tuple[str, ...],
                   products_table: str | None) -> list[str]:
    """Steps 0 and 1 of the file: the catalogue join (when the categories came from one) and
    the feature SQL, or what the feature table holds in a run on customer columns only."""
    lines: list[str] = []
    if feature_sql and products_table:
        lines += [
            f"-- 0. The categories, from a product catalogue: a table {products_table!r} with the columns",
            f"--    product_id and category. Each line of {events_table!r} (without a category column of its",
            f"--    own) gets its product's category, or {UNKNOWN!r} when the catalogue does not list it.",
            f"CREATE OR REPLACE TABLE {events_table} AS",
            catalogue_join_query(events_table, products_table) + ";", ""]
    if feature_sql:
        lines += [
            f"-- 1. The feature table, from a table {events_table!r} with the canonical columns",
            "--    customer_id, event_time, event_type ('purchase', 'view', 'cart', 'return'), amount,",
            "--    quantity, category, channel, discount (0/1), order_id (those the run had). DuckDB SQL;",
            "--    the snapshot date, the window and the category/channel levels are literals in it.",
        ]
        if customer_columns:
            lines.append("--    Join the customer columns " + ", ".join(customer_columns)
                         + " onto it from the customer table.")
        lines += [f"CREATE OR REPLACE TABLE {FEATURES_TABLE} AS", feature_sql.strip().rstrip(";") + ";", ""]
    else:
        lines += [f"-- 1. The feature table {FEATURES_TABLE!r}: customer_id and the customer columns "
                  + ", ".join(customer_columns) + " as they are.", ""]
    return lines


def segments_sql(summary: Mapping[str, Any], medians: Mapping[str, float], feature_sql: str | None,
                 *, events_table: str = "events", customer_columns: tuple[str, ...] = (),
                 products_table: str | None = None, base_medians: Mapping[str, float] | None = None) -> str:
    """The text of ``segments.sql`` for a run.

    Parameters
    ----------
    summary : mapping
        The run's summary (segments with their rules).
    medians : mapping of str to float
        Per feature, the median that stands for a missing value (as in the rules' fit).
    feature_sql : str or None
        The SELECT that builds the feature table from the canonical events (``None`` for a
        run on customer columns only).
    events_table : str
        The table of canonical events that ``feature_sql`` reads.
    customer_columns : tuple of str
        Numeric customer columns used as features as they are (joined from the customer
        table; not built by the feature SQL).
    products_table : str or None
        The product catalogue's table, when the run took the categories from one: the file
        then first gives each event line its product's category, as the run did.
    base_medians : mapping of str to float, optional
        In a layered run, the medians of the active base, which stand for a missing value
        in the behavioural segments' rules (fitted within the active base); the lifecycle
        groups' rules (fitted against everyone) keep ``medians``.

    Returns
    -------
    str
    """
    lines = [
        "-- segments.sql, written by segmentkit: the run's segments as SQL over its feature table.",
        f"-- Snapshot date {summary.get('snapshot_date')}, {summary.get('k')} segments, "
        f"algorithm {summary.get('algorithm')}.",
        "-- The rules describe the segments; precision = share of matching customers in the segment,",
        "-- coverage = share of the segment's customers matching. A missing value reads as the median.",
    ]
    if summary.get("layers"):
        lines.append("-- The behavioural segments' rules were measured within the active base (the customers no "
                     "lifecycle rule takes), as they apply below.")
    sample = summary.get("descriptive_sample")
    if sample:
        lines.append("-- The rules were measured on a stratified sample of the customers, weighted back to all "
                     "(summary.json: descriptive_sample): over the whole table the figures differ by sampling error.")
    lines.append("")
    lines += _feature_table(feature_sql, events_table, customer_columns, products_table)
    rule_cols: list[str] = []
    order: list[tuple[float, int, int, str]] = []
    names: dict[int, str] = {}
    layers = summary.get("layers")
    groups = {int(g["id"]): g["group"] for g in layers["groups"]} if layers else {}
    for seg in summary.get("segments", []):
        sid = int(seg["id"])
        if sid < 0:
            continue
        names[sid] = seg["name"]
        fitted_with = base_medians if base_medians is not None and sid not in groups else medians
        for n, rule in enumerate(seg.get("rules") or [], start=1):
            col = f"segment_{sid}_rule_{n}"
            cond = " AND ".join(_condition(c, fitted_with) for c in rule["conditions"]) or "TRUE"
            rule_cols.append(
                f"    -- segment {sid} ({_comment(seg['name'])}), rule {n}: {_comment(rule['text'])}\n"
                f"    -- precision {rule['precision']}, coverage {rule['coverage']}, support {rule['support']}\n"
                f"    ({cond}) AS {col}")
            order.append((-float(rule["precision"]), sid, n, col))
    if layers:
        rule_cols.insert(0, _lifecycle_column(layers["rules"]))
        order = [o for o in order if o[1] not in groups]
    lines += ["-- 2. One column per rule: does the customer match it?",
              "CREATE OR REPLACE VIEW segment_rules AS", "SELECT customer_id" + ("," if rule_cols else "")]
    lines.append(",\n".join(rule_cols))
    lines += [f"FROM {FEATURES_TABLE};", ""]
    whens = [f"        WHEN lifecycle_group = {literal(group)} THEN {sid}" for sid, group in groups.items()]
    whens += [f"        WHEN {col} THEN {sid}" for _, sid, _, col in sorted(order)] or ["        WHEN FALSE THEN 0"]
    name_whens = [f"        WHEN {sid} THEN {literal(name)}" for sid, name in sorted(names.items())] or \
        ["        WHEN NULL THEN ''"]
    lines += [
        "-- 3. Each customer's segment: " + ("its lifecycle group, else " if groups else "")
        + "the first matching rule, most precise first.",
        "CREATE OR REPLACE VIEW customer_segments AS",
        "SELECT customer_id, segment_id,",
        "    CASE segment_id",
        *name_whens,
        "    END AS segment_name",
        "FROM (",
        "    SELECT customer_id,",
        "    CASE",
        *whens,
        "        ELSE NULL",
        "    END AS segment_id",
        "    FROM segment_rules",
        ") AS matched;",
        "",
    ]
    return "\n".join(lines)


def _lifecycle_column(rules: Mapping[str, Any]) -> str:
    """The lifecycle rules (:func:`segmentkit.lifecycle.lifecycle_groups`) as a ``CASE``: the
    first that holds wins; a repeat buyer's horizon is their own gaps × ``lapsed_gaps``, at
    least ``lapsed_days`` (also without a gap) and at most ``lapsed_max_days``."""
    horizon = (f"least(greatest({_number(rules['lapsed_gaps'])} * coalesce(gap_mean_days, 0), "
               f"{_number(rules['lapsed_days'])}), {_number(rules['lapsed_max_days'])})")
    return ("    -- the lifecycle group (exact rules of the run; '' = the active base)\n"
            "    CASE\n"
            f"        WHEN tenure_days <= {_number(rules['new_tenure_days'])} THEN 'new'\n"
            "        WHEN orders = 1 THEN 'one-time'\n"
            "        WHEN orders < 1 THEN 'browsers'\n"
            f"        WHEN recency_days >= {horizon} THEN 'lapsed'\n"
            "        ELSE ''\n"
            "    END AS lifecycle_group")
