"""The strategist's report: ``report.html`` (self-contained) and ``summary.md``.

Both are rendered from the typed run summary (:class:`segmentkit.result.Summary`, the
content of ``summary.json``); the report never recomputes a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segmentkit.report.html import render_html
from segmentkit.report.markdown import render_markdown
from segmentkit.result import Summary

__all__ = ["render_html", "render_markdown", "write_report"]


def write_report(summary: Summary, out_dir: Path, *,
                 audiences: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``report.html`` and ``summary.md`` into ``out_dir``.

    Parameters
    ----------
    summary : Summary
        The run summary.
    out_dir : Path
        Output folder; created when missing.
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
    paths["html"].write_text(render_html(summary, audiences=audiences), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(summary), encoding="utf-8")
    return paths
