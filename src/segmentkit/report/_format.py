"""Human number formats and safe inline JSON for the report.

Everything here only *formats* values that are already in the summary; nothing is
recomputed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DASH",
    "fmt_date",
    "fmt_index",
    "fmt_int",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_ratio",
    "fmt_value",
    "plain",
    "safe_json",
]

DASH = "—"

_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _is_number(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return not isinstance(x, str)


def _finite(x: Any) -> float | None:
    if x is None or not _is_number(x):
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def fmt_int(x: Any) -> str:
    """Format a count with thousands separators: ``1234`` -> ``"1,234"``.

    Parameters
    ----------
    x : Any
        A number; ``None``/NaN/non-numbers give a dash.

    Returns
    -------
    str
        The formatted count.
    """
    value = _finite(x)
    if value is None:
        return DASH if x is None or _is_number(x) else str(x)
    return f"{round(value):,}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    """Format a fraction as a percentage: ``0.1234`` -> ``"12.3 %"``.

    Parameters
    ----------
    x : Any
        A fraction (0..1); ``None``/NaN give a dash.
    digits : int, optional
        Decimals to show.

    Returns
    -------
    str
        The formatted percentage.
    """
    value = _finite(x)
    if value is None:
        return DASH
    return f"{value * 100:,.{digits}f} %"


def fmt_num(x: Any, digits: int = 2) -> str:
    """Format a real number readably: thousands separators, fewer decimals when large.

    Parameters
    ----------
    x : Any
        A number; ``None``/NaN give a dash; strings are returned as they are.
    digits : int, optional
        Decimals for numbers below 100.

    Returns
    -------
    str
        The formatted number.
    """
    if isinstance(x, bool):
        return "yes" if x else "no"
    value = _finite(x)
    if value is None:
        return DASH if x is None or _is_number(x) else str(x)
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:,.{digits}f}"


def fmt_index(x: Any) -> str:
    """Format an index (100 = the overall average, the marketing convention) as ``"180"``.

    Parameters
    ----------
    x : Any
        The index; ``None``/NaN give a dash.

    Returns
    -------
    str
        The formatted index.
    """
    value = _finite(x)
    if value is None:
        return DASH
    return f"{value:,.0f}"


def fmt_ratio(x: Any) -> str:
    """Format a ratio (1.0 = the overall level, e.g. a share lift) as ``"1.80×"``."""
    value = _finite(x)
    if value is None:
        return DASH
    return f"{value:,.2f}×"


def fmt_p(x: Any) -> str:
    """Format an (adjusted) p-value: ``"<0.001"`` or three decimals.

    Parameters
    ----------
    x : Any
        The p-value; ``None``/NaN give a dash.

    Returns
    -------
    str
        The formatted p-value.
    """
    value = _finite(x)
    if value is None:
        return DASH
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}"


def fmt_date(x: Any) -> str:
    """Format an ISO date as ``"1 July 2026"``; other strings are returned as they are.

    Parameters
    ----------
    x : Any
        An ISO date string, a date, or ``None``.

    Returns
    -------
    str
        The formatted date.
    """
    if x is None or x == "":
        return DASH
    if isinstance(x, _dt.date):
        day = x
    else:
        try:
            day = _dt.date.fromisoformat(str(x)[:10])
        except ValueError:
            return str(x)
    return f"{day.day} {day:%B %Y}"


def fmt_value(x: Any) -> str:
    """Format any summary value for a table cell (numbers readably, lists joined).

    Parameters
    ----------
    x : Any
        A scalar, list or mapping.

    Returns
    -------
    str
        Plain text (escaping is the template's job).
    """
    if x is None:
        return DASH
    if isinstance(x, str):
        return x
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"  # a count or a seed, never "0.00"
    if isinstance(x, bool) or _is_number(x):
        return fmt_num(x)
    if isinstance(x, (list, tuple)):
        return ", ".join(fmt_value(v) for v in x) if x else DASH
    if isinstance(x, Mapping):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in x.items()) if x else DASH
    return str(x)


def plain(x: Any) -> Any:
    """Turn a summary value into plain JSON types (NaN/inf -> ``None``, numpy -> Python).

    Parameters
    ----------
    x : Any
        Any nested structure of mappings, sequences and scalars.

    Returns
    -------
    Any
        The same structure made of ``dict``, ``list``, ``str``, ``int``, ``float``,
        ``bool`` and ``None``.
    """
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [plain(v) for v in x]
    item = getattr(x, "item", None)  # numpy scalars
    if callable(item):
        try:
            return plain(item())
        except (TypeError, ValueError):
            pass
    tolist = getattr(x, "tolist", None)  # numpy arrays
    if callable(tolist):
        return plain(tolist())
    if isinstance(x, (_dt.date, _dt.datetime)):
        return x.isoformat()
    return str(x)


def safe_json(data: Any) -> str:
    """Serialise ``data`` as JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>``, ``&``, U+2028 and U+2029 are written as ``\\u`` escapes, so no
    ``</script>``, ``<!--`` or line separator can end or confuse the script element;
    ``JSON.parse`` gives back the original strings.

    Parameters
    ----------
    data : Any
        Data made of plain JSON types (see :func:`plain`).

    Returns
    -------
    str
        The escaped JSON text.
    """
    text = json.dumps(plain(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in _JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return text
