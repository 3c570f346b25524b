"""The strategist's report: ``report.html`` (self-contained) and ``summary.md``.

Both are rendered from the run summary (the ``summary.json`` dict); the report never
recomputes a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segmentkit.report.html import render_html
from segmentkit.report.markdown import render_markdown

__all__ = ["render_html", "render_markdown", "write_report"]


def write_report(
    summary: Mapping[str, Any], out_dir: Path, *, show_ids: bool = False,
    audiences: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``report.html`` and ``summary.md`` into ``out_dir``.

    Parameters
    ----------
    summary : Mapping[str, Any]
        The run summary (the ``summary.json`` dict).
    out_dir : Path
        Output folder; created when missing.
    show_ids : bool, optional
        Show customer identifiers in the HTML report where the summary has them.
    audiences : Mapping[str, Any], optional
        The pre-flight of ``export-audiences`` (``audiences.json``), shown as a section.

    Returns
    -------
    dict[str, Path]
        ``{"html": out_dir / "report.html", "markdown": out_dir / "summary.md"}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "markdown": out / "summary.md"}
    paths["html"].write_text(render_html(summary, show_ids=show_ids, audiences=audiences), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(summary), encoding="utf-8")
    return paths
