"""The self-contained HTML report (``report.html``)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from segmentkit.report._format import fmt_int, safe_json
from segmentkit.report._view import build_view
from segmentkit.result import Summary

__all__ = ["render_html"]

_PACKAGE = "segmentkit.report"


def _read(*parts: str) -> str:
    text = resources.files(_PACKAGE).joinpath(*parts).read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise ValueError(f"{'/'.join(parts)} cannot be inlined in a <script> element")
    return text


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(_PACKAGE, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt_int"] = fmt_int
    return env


def _audiences_view(preflight: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The pre-flight of ``export-audiences`` (``audiences.json``) as table rows."""
    if not preflight:
        return None
    from segmentkit.audiences import PLATFORM_NAMES

    minimums = [(p, fmt_int(m)) for p, m in (preflight.get("minimums") or {}).items()]
    segments, warnings = [], []
    for s in preflight.get("segments") or []:
        row = {k: fmt_int(s.get(k)) for k in ("customers", "with_email", "with_phone", "with_name_zip",
                                             "rows_written")}
        row.update(id=s.get("id"), name=s.get("name"),
                   meets=[bool((s.get("meets_minimum") or {}).get(p)) for p, _ in minimums])
        segments.append(row)
        warnings += [f"Segment {s.get('id')} ({s.get('name')}): {w}" for w in s.get("warnings") or []]
    c = preflight.get("counts") or {}
    counts = (f"{fmt_int(c.get('invalid_emails'))} invalid e-mails and {fmt_int(c.get('invalid_phones'))} "
              f"invalid phones left out; {fmt_int(c.get('without_usable_contact'))} customers without a "
              "usable contact.")
    minimums = [(PLATFORM_NAMES.get(p, p), m) for p, m in minimums]
    return {"platform": PLATFORM_NAMES.get(preflight.get("platform"), preflight.get("platform")),
            "minimums": minimums, "segments": segments,
            "warnings": warnings, "counts": counts}


def render_html(summary: Summary, *, audiences: Mapping[str, Any] | None = None) -> str:
    """Render the strategist's report as one self-contained HTML page.

    The page inlines its styles, its data and the ECharts library (once), and makes no
    network request. Every value comes from ``summary``; nothing is recomputed. All
    summary text is escaped by Jinja2's autoescaping, and the chart data is embedded as
    JSON whose ``<``, ``>``, ``&``, U+2028 and U+2029 are ``\\u`` escapes.

    Parameters
    ----------
    summary : Summary
        The run summary (typed; :meth:`Summary.read` reads a ``summary.json``). The
        report holds no customer identifier: exemplars are shown by feature values.
    audiences : Mapping[str, Any], optional
        The pre-flight of ``export-audiences`` (``audiences.json``): adds its section.

    Returns
    -------
    str
        The HTML document.
    """
    view = build_view(summary)
    ctx = dict(view["ctx"])
    ctx["audiences"] = _audiences_view(audiences)
    heatmap = view["charts"]["heatmap"]
    ctx["heatmap_height"] = 110 + 26 * len(heatmap["features"]) if heatmap else 0
    ctx["chart_json"] = Markup(safe_json(view["charts"]))  # noqa: S704 - escaped by safe_json
    ctx["echarts_js"] = Markup(_read("vendor", "echarts.min.js"))  # noqa: S704 - vendored file
    ctx["app_js"] = Markup(_read("templates", "report.js"))  # noqa: S704 - our own file
    return _environment().get_template("report.html.j2").render(ctx)
