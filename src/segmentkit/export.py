"""Write results: assignments (CSV safe to open in Excel, Parquet) and the JSON summary; read
a run's assignments back, however they were written."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmentkit.errors import InputError, first_line
from segmentkit.sqltext import literal

__all__ = ["FORMULA_START", "excel_safe", "json_float", "json_safe", "read_assignments", "to_json", "write_assignments",
           "write_summary"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def excel_safe(series: pd.Series) -> pd.Series:
    """Neutralise text cells a spreadsheet would run as a formula (CSV injection).

    Text starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe
    (OWASP's advice), unless it is a plain number such as ``-12.5``.
    """
    text = series.astype("string")
    # the few risky cells are checked and prefixed by position; the rest are not touched
    risky = np.flatnonzero(text.str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool))
    if not risky.size:
        return text
    cells = text.iloc[risky]
    fix = risky[pd.to_numeric(cells, errors="coerce").isna().to_numpy()]
    out = text.copy()
    out.iloc[fix] = "'" + text.iloc[fix]
    return out


def write_assignments(assignments: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write ``assignments.csv`` (Excel-safe) and ``assignments.parquet`` (values as they are).

    The CSV file is written by DuckDB (on every core: 0.3 s for a million customers against
    pandas' 1.5 s), in the layout pandas wrote it in: a header, ``\\n`` line ends, fields
    quoted only where needed, numbers as Python prints them, an empty cell for a missing
    value and for empty text alike. (DuckDB also quotes a field holding a carriage return or
    starting with ``#``, which pandas left bare.)
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "assignments.csv"
    parquet = out_dir / "assignments.parquet"
    safe = assignments.copy()
    for col in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[col]):
            # DuckDB writes an empty text as "" (to tell it from a missing value)
            safe[col] = excel_safe(safe[col]).replace("", pd.NA)
    with duckdb.connect() as con:
        con.register("assignments_csv", safe)
        con.execute(f"COPY assignments_csv TO {literal(str(csv))} (FORMAT csv, HEADER, DELIMITER ',', QUOTE '\"', "
                    "NEW_LINE '\\n')")
    assignments.to_parquet(parquet, index=False)
    return {"assignments_csv": csv, "assignments_parquet": parquet}


def read_assignments(run_dir: str | Path) -> pd.DataFrame:
    """A run's assignments, from its ``assignments.parquet``: one file (written by
    :func:`write_assignments`) or a folder of part files (written by Spark after a fit on a
    sample, or by ``assign --engine spark``), in customer id order either way for a folder.

    Raises
    ------
    InputError
        No ``assignments.parquet`` in ``run_dir``, or one that cannot be read.
    """
    path = Path(run_dir) / "assignments.parquet"
    if not path.exists():
        raise InputError(f"assignments.parquet not found: is {Path(run_dir)} the output folder of a run?")
    try:
        # a folder: pyarrow reads its part files and skips Spark's _SUCCESS and .crc files
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot be read ({first_line(exc)})", source=str(path)) from None
    if path.is_dir():
        frame = frame.sort_values("customer_id", kind="stable", ignore_index=True)
    return frame


def json_float(x: Any, digits: int = 6) -> float | None:
    """A plain float rounded to ``digits`` decimals; ``None`` for missing or non-finite,
    ``0.0`` for negative zero, so the same numbers always serialise to the same bytes."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    x = round(x, digits)
    return 0.0 if x == 0 else x


def json_safe(value: Any, digits: int = 6) -> Any:
    """Convert numpy/pandas scalars, NaN and tuples to plain JSON values; round floats."""
    if isinstance(value, dict):
        return {str(k): json_safe(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, digits) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v, digits) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return json_float(value, digits)
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_json(summary: dict[str, Any]) -> str:
    """Serialise a summary deterministically (same dict → same bytes)."""
    return json.dumps(json_safe(summary), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_summary(summary: dict[str, Any], out_dir: Path) -> Path:
    """Write ``summary.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    path.write_text(to_json(summary), encoding="utf-8")
    return path
