"""Numbers and percentages in words: the one place that decides how a value reads.

Two policies, each used everywhere it applies:

* :func:`format_value` -- a feature value in the feature's own units (profiles, rules,
  names, briefs): shares as percentages with one decimal below 10 %, trends signed, other
  kinds to about three significant digits with thousands separators;
* :func:`percent` -- a share of customers, members or value quoted in a sentence
  (opportunities, personas, the choice of k): whole percent, or the decimals asked for.

:func:`format_compact` is the shorter form the persona comparison quotes for a feature's
mean in two segments (``"197 days"``, ``"81.1"``). Tables in the HTML report use
``segmentkit.report._format`` (dashes for missing values, fixed decimals per column).
"""

from __future__ import annotations

import math

__all__ = ["format_compact", "format_number", "format_value", "percent"]


def _strip_zeros(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_number(x: float, decimals: int = 1) -> str:
    """A number rounded for reading: whole from 100, one decimal from 10, ``decimals``
    from 1, two significant digits below 1; thousands separated; never ``-0``."""
    ax = abs(x)
    if ax >= 100:
        text = f"{x:,.0f}"
    elif ax >= 10:
        text = _strip_zeros(f"{x:,.1f}")
    elif ax >= 1:
        text = _strip_zeros(f"{x:.{decimals}f}")
    elif ax == 0:
        text = "0"
    else:
        text = f"{x:.2g}"
        if "e" in text:
            text = _strip_zeros(f"{x:.6f}")
    return "0" if text in ("-0", "") else text


def format_value(value: float | None, kind: str) -> str:
    """Format a feature value for people.

    Parameters
    ----------
    value : float or None
        The value, in the feature's own units.
    kind : str
        The :class:`~segmentkit.features.FeatureSpec` kind: shares become percentages
        (``"62 %"``), trends are signed (``"+0.42"``), other kinds are rounded to about three
        significant digits with thousands separators.

    Returns
    -------
    str
        ``"n/a"`` for a missing value.
    """
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    value = float(value)
    if kind == "share":
        pct = value * 100
        text = f"{pct:.0f}" if abs(pct) >= 10 or pct == round(pct) else _strip_zeros(f"{pct:.1f}")
        return f"{'0' if text == '-0' else text} %"
    if kind == "trend":
        text = f"{value:+.2f}"
        return "0.00" if text in ("+0.00", "-0.00") else text
    return format_number(value, 2 if kind in ("amount", "ratio", "custom") else 1)


def percent(share: float, decimals: int = 0) -> str:
    """A share quoted in a sentence, in whole percent: ``0.416`` → ``"42 %"``; with
    ``decimals`` more precise (the selection's constraints, where ``2.9 %`` against a
    ``3.0 %`` minimum must not read as ``3 %`` against ``3 %``)."""
    return f"{100.0 * share:.{decimals}f} %"


def format_compact(value: float, kind: str | None) -> str:
    """A feature's mean as the persona comparison quotes it: days whole with their unit,
    amounts with two decimals, counts with one, shares in whole percent, trends signed,
    anything else to three significant digits; ``"n/a"`` when not finite."""
    if not math.isfinite(value):
        return "n/a"
    if kind == "share":
        return percent(value)
    if kind == "days":
        return f"{value:.0f} days"
    if kind == "amount":
        return f"{value:,.2f}"
    if kind == "count":
        return f"{value:.1f}"
    if kind == "trend":
        return f"{value:+.2f}"
    return f"{value:.3g}"
