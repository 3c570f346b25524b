"""Values and names spelled into SQL text, by DuckDB's (and standard SQL's) quoting rules.

Every SQL statement segmentkit builds from data (file paths, column names, category
levels, event-type spellings) quotes them through these two functions, so no value from an
input can change a statement's meaning.
"""

from __future__ import annotations

__all__ = ["identifier", "literal", "spark_identifier"]


def identifier(name: str) -> str:
    """A column or table name as a quoted identifier; inner double quotes are doubled."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(text: object) -> str:
    """A value as a string literal; inner single quotes are doubled (``O'Brien``)."""
    return "'" + str(text).replace("'", "''") + "'"


def spark_identifier(name: str) -> str:
    """A column name quoted for Spark SQL (backticks; a double-quoted name is a string there)."""
    return "`" + str(name).replace("`", "``") + "`"
