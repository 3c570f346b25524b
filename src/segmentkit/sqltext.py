"""Values and names spelled into SQL text, by DuckDB's (and standard SQL's) quoting rules,
and the one spelling of a sum whose result does not depend on the order of its rows.

Every SQL statement segmentkit builds from data (file paths, column names, category
levels, event-type spellings) quotes them through :func:`identifier` and :func:`literal`,
so no value from an input can change a statement's meaning.
"""

from __future__ import annotations

__all__ = ["EXACT_SCALE", "exact_sum", "identifier", "literal", "spark_identifier"]


def identifier(name: str) -> str:
    """A column or table name as a quoted identifier; inner double quotes are doubled."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(text: object) -> str:
    """A value as a string literal; inner single quotes are doubled (``O'Brien``)."""
    return "'" + str(text).replace("'", "''") + "'"


def spark_identifier(name: str) -> str:
    """A column name quoted for Spark SQL (backticks; a double-quoted name is a string there)."""
    return "`" + str(name).replace("`", "``") + "`"


#: Decimal places the amounts and quantities are summed at (millionths: a receipt line's
#: unit price times its quantity has at most this many in practice).
EXACT_SCALE = 6


def exact_sum(expr: str, where: str = "") -> str:
    """SQL aggregate: the sum of ``expr`` (rows matching ``where``, if given), as a DOUBLE
    that is the same whatever order the rows are added in.

    A parallel engine adds a customer's rows in the order its threads finish, and a sum of
    floating-point numbers depends on that order in its last bits. Often rounding to nine
    digits hides it, but not when a value sits on a rounding boundary: at 250,000 customers
    a few of the six million features differed between two runs of the same input, and a
    sample drawn by value then differed, and the choice of k with it. Each value is
    rounded to :data:`EXACT_SCALE` decimal places and the values are added as decimals
    (integers, exact in any order) both in DuckDB and in Spark; only the total becomes a
    DOUBLE. Up to 1e12 per row (``sources.MAX_ABS_NUMBER``) the 38 digits hold any total.
    """
    summed = f"sum(CAST({expr} AS DECIMAL(38, {EXACT_SCALE})))"
    if where:
        summed += f" FILTER (WHERE {where})"
    return f"CAST({summed} AS DOUBLE)"
