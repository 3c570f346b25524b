"""The self-contained HTML report (``report.html``)."""

from __future__ import annotations

from importlib import resources

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


def render_html(summary: Summary) -> str:
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

    Returns
    -------
    str
        The HTML document.
    """
    view = build_view(summary)
    ctx = dict(view["ctx"])
    heatmap = view["charts"]["heatmap"]
    ctx["heatmap_height"] = 110 + 26 * len(heatmap["features"]) if heatmap else 0
    ctx["chart_json"] = Markup(safe_json(view["charts"]))  # noqa: S704 - escaped by safe_json
    ctx["echarts_js"] = Markup(_read("vendor", "echarts.min.js"))  # noqa: S704 - vendored file
    ctx["app_js"] = Markup(_read("templates", "report.js"))  # noqa: S704 - our own file
    return _environment().get_template("report.html.j2").render(ctx)
