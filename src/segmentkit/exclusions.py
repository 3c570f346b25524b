"""Customers left out of a run on purpose: staff and test accounts, by a column value.

``[data] exclude = {account_type = ["staff", "test"]}`` (``--exclude account_type=staff``)
leaves out every customer of the customers table whose cell in the column is one of the
values. They are neither clustered nor profiled, but stay in the assignments with status
``excluded`` and the rule that matched in the ``reason`` column (``account_type = staff``),
and are counted in ``data_quality.customers_excluded``.

Cells and values compare as text, trimmed and case-folded: ``Staff`` is ``staff``, a whole
number read as ``1.0`` is ``1``, a true/false column matches ``true`` / ``false``.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from segmentkit.errors import InputError

__all__ = ["exclusion_note", "exclusion_rules", "excluded_customers", "format_rules"]


def exclusion_rules(value: Any, where: str = "settings") -> dict[str, tuple[str, ...]]:
    """Check exclude rules: column name → value or list of values (texts or whole numbers).

    Parameters
    ----------
    value : mapping
        ``{column: value}`` or ``{column: [values]}``.
    where : str
        The settings file, for messages.

    Returns
    -------
    dict
        Column → the values as text.

    Raises
    ------
    InputError
        Naming ``[data] exclude`` and what is wrong.
    """
    if not isinstance(value, Mapping):
        raise InputError(f"[data] exclude must be a table of column = [values], got {value!r}", source=where)
    rules: dict[str, tuple[str, ...]] = {}
    for column, values in value.items():
        if not isinstance(column, str) or not column.strip():
            raise InputError(f"[data] exclude: a column name must be non-empty text, got {column!r}", source=where)
        items = list(values) if isinstance(values, (list, tuple)) else [values]
        if not items or any(isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip()
                            for v in items):
            raise InputError(f"[data] exclude.{column} must be a text or a whole number, or a list of them, "
                             f"got {values!r}", source=where)
        rules[column] = tuple(str(v).strip() for v in items)
    return rules


def format_rules(rules: Mapping[str, tuple[str, ...]]) -> str:
    """The rules in one line: ``account_type = staff or test; email_domain = example.com``."""
    return "; ".join(f"{column} = {' or '.join(values)}" for column, values in rules.items())


def exclusion_note(source: str, excluded: int, rules: Mapping[str, tuple[str, ...]]) -> str:
    """The note that counts the customers the rules left out of ``source``."""
    return (f"{source}: {excluded:,} customer(s) left out by the exclude rules ({format_rules(rules)}): "
            "not segmented; status excluded in the assignments")


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as trimmed, case-folded text; whole floats without ``.0``; missing stays missing."""
    if pd.api.types.is_bool_dtype(values):
        text = values.astype("string")
    elif pd.api.types.is_float_dtype(values):
        whole = (values.notna() & (values % 1 == 0)).to_numpy()
        text = values.astype("string").where(~whole, values.where(whole).astype("Int64").astype("string"))
    else:
        text = values.astype("string")
    return text.str.strip().str.casefold()


def excluded_customers(customers: pd.DataFrame, rules: Mapping[str, tuple[str, ...]], source: str) -> pd.Series:
    """The customers an exclude rule matches, with the first rule that matches each.

    Parameters
    ----------
    customers : pandas.DataFrame
        The customers table, indexed by customer id.
    rules : mapping
        Column → values (:func:`exclusion_rules`).
    source : str
        The customers table's name, for messages.

    Returns
    -------
    pandas.Series
        ``"column = value"`` (the value as the rule spells it), indexed by the excluded
        customers' ids (text), in the table's order.

    Raises
    ------
    InputError
        When a rule names a column the table does not have.
    """
    reason = pd.Series(pd.NA, index=customers.index.astype(str), dtype="string")
    for column, values in rules.items():
        if column not in customers.columns:
            raise InputError(f"missing column {column!r} (an exclude rule); found: {', '.join(customers.columns)}",
                             source=source)
        spelled = {v.casefold(): f"{column} = {v}" for v in reversed(values)}  # the first spelling wins
        matched = _as_text(customers[column]).map(spelled).astype("string").to_numpy()
        reason = reason.fillna(pd.Series(matched, index=reason.index, dtype="string"))
    return reason.dropna()
