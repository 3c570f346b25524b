"""The HTML report and the Markdown summary, rendered from real runs' summaries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markupsafe import escape

from hostile import HOSTILE
from segmentkit.datasets import make_demo
from segmentkit.export import to_json
from segmentkit.pipeline import Segmentation
from segmentkit.report import render_html, render_markdown, write_report
from segmentkit.report._format import fmt_date, fmt_index, fmt_int, fmt_num, fmt_pct, fmt_value, safe_json
from segmentkit.report._view import MAX_MAP_POINTS
from segmentkit.report.markdown import escape_markdown
from segmentkit.result import Summary

#: slow: real runs' reports (session fixtures fit the demo); CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow

SECTIONS = ("headline", "glance", "segments", "map", "choosing-k", "personas", "opportunities", "method")
ECHARTS_MARKER = "Apache Software Foundation"


def _chart_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def _without_library(html: str) -> str:
    """The page minus the vendored ECharts code (which has its own strings)."""
    start = html.index(ECHARTS_MARKER)
    start = html.rindex("<script>", 0, start)
    end = html.index("</script>", start)
    return html[:start] + html[end:]


@pytest.fixture(scope="module")
def summary(demo_result) -> Summary:
    return demo_result.summary


@pytest.fixture(scope="module")
def html(summary: Summary) -> str:
    return render_html(summary)


def test_formats_are_human() -> None:
    assert fmt_int(1234) == "1,234"
    assert fmt_int(1_000_000) == "1,000,000"
    assert fmt_pct(0.1234) == "12.3 %"
    assert fmt_pct(None) == "—"
    assert fmt_pct(float("nan")) == "—"
    assert fmt_num(12345.678) == "12,346"
    assert fmt_num(0.4567) == "0.46"
    assert fmt_index(180.4) == "180"
    assert fmt_date("2026-07-01") == "1 July 2026"
    assert fmt_date("not a date") == "not a date"
    assert fmt_value({"seed": 0, "customers": 1234, "min_share": 0.03}) == "seed=0, customers=1,234, min_share=0.03"


def test_safe_json_round_trips_and_cannot_close_a_script() -> None:
    data = {"a": HOSTILE, "b": "x</script><!--y-->&\u2028\u2029", "n": float("nan"), "i": 3}
    text = safe_json(data)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    back = json.loads(text)
    assert back["a"] == list(HOSTILE) and back["b"] == data["b"]
    assert back["n"] is None and back["i"] == 3


def test_the_method_names_the_customer_columns_left_out_of_the_profiles_and_why(summary: Summary, html: str) -> None:
    # the demo's signup dates are text of too many values to profile: the summary says so,
    # and so does the report, in the same words
    assert summary.profile_skipped
    assert "<h4>Customer columns not profiled</h4>" in html
    for name, why in summary.profile_skipped.items():
        assert f"<li><code>{escape(name)}</code>: {escape(why)}</li>" in html


def test_every_section_and_segment_card_is_there(summary: Summary, html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    for section in SECTIONS:
        assert f'<section id="{section}"' in html
        assert f'href="#{section}"' in html
    for seg in summary.segments:
        assert f'data-segment-card="{seg.id}"' in html
        assert seg.name in html
        for trait in seg.top_features:
            assert escape(trait.sentence) in html
        for rule in seg.rules:
            assert escape(rule.text) in html
    assert f"{summary.n_customers:,} customers" in html and "1 July 2026" in html
    assert escape(summary.personas.narrative) in html
    assert summary.run.inputs["events"].sha256 in html
    assert "scikit-learn" in html and summary.run.versions["scikit-learn"] in html
    seed = summary.run.parameters["clustering"]["seed"]
    assert f"seed={seed}," in html  # the run's parameters as given (a seed, never "0.00")


def test_why_a_candidate_was_ruled_out_is_said(tmp_path) -> None:
    data = make_demo(600, seed=2)
    result = Segmentation(k_min=2, k_max=8, n_bootstrap=2, min_share=0.12).fit(
        customers=data.customers, events=data.events)
    ruled_out = [c for c in result.summary.k_selection.candidates if not c.eligible]
    assert ruled_out and all(c.why_not for c in ruled_out)
    html = render_html(result.summary)
    for c in ruled_out:
        assert escape(c.why_not) in html


def test_self_contained_with_the_chart_library_inlined_once(html: str) -> None:
    assert html.count(ECHARTS_MARKER) == 1
    assert html.count("<script") == 3  # chart data, ECharts, the report's charts
    page = _without_library(html)
    assert not re.search(r"<(script|img|iframe|link)[^>]+(src|href)=", page)
    assert not re.search(r"https?://", page)
    assert "@import" not in page
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # chart containers are there for the browser test to wait on
    for kind in ("size-value", "heatmap", "map", "k-metric", "crosstab", "sankey", "opportunities"):
        assert f'data-chart="{kind}"' in html


def test_chart_data_comes_from_the_summary(summary: Summary, html: str) -> None:
    data = _chart_data(html)
    assert [s["name"] for s in data["segments"]] == [s.name for s in summary.segments]
    assert [s["share"] for s in data["segments"]] == [s.share for s in summary.segments]
    n_points = sum(len(s["points"]) for s in data["map"]["series"])
    assert n_points == len(summary.customer_map.points)
    k_values = {p[0] for m in data["k"]["metrics"] for s in m["series"] for p in s["points"]}
    assert k_values == {c.k for c in summary.k_selection.candidates}
    total = sum(v for row in summary.personas.crosstab.values() for v in row.values())
    assert sum(link["value"] for link in data["personas"]["links"]) == total


def test_persona_split_shares_are_shown(summary: Summary, html: str) -> None:
    assert summary.personas.splits
    for split in summary.personas.splits:
        for seg_id in split.segments:
            assert f"{summary.segment(seg_id).name} ({fmt_pct(split.shares[seg_id])})" in html


def test_hostile_names_are_escaped_everywhere(hostile_result) -> None:
    summary = hostile_result.summary
    html = render_html(summary)
    assert html.count("<script") == 3
    assert html.count("</script>") == 3
    page = _without_library(html)
    assert "<img" not in page and "<b " not in page
    assert "<!--" not in html
    assert "\u2028" not in html.split('id="report-data">')[1].split("</script>")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in html  # inside the chart JSON
    data = _chart_data(html)
    assert HOSTILE[2] in data["personas"]["personas"]
    assert HOSTILE[0] == data["segments"][0]["name"]
    assert any("script" in f for f in data["heatmap"]["features"])
    md = render_markdown(summary)
    prose = re.sub(r"`[^`]*`", "", md)  # code spans (rules) are shown literally anyway
    assert not re.search(r"(?<!\\)[<>]", prose)  # every other angle bracket is escaped
    assert "\\<script\\>alert(1)\\</script\\>" in md


def test_no_customer_identifier_in_the_report(hostile_result, tmp_path) -> None:
    paths = hostile_result.write(tmp_path)
    ids = hostile_result.assignments["customer_id"]
    html = paths["report"].read_text(encoding="utf-8")
    md = paths["summary_md"].read_text(encoding="utf-8")
    summary = paths["summary"].read_text(encoding="utf-8")
    for cid in ids[ids.str.len() >= 6]:
        assert cid not in html and cid not in md and cid not in summary


def test_noise_segment_and_density_algorithm(hostile_result) -> None:
    html = render_html(hostile_result.summary)
    assert 'data-segment-card="-1"' in html and 'id="segment-noise"' in html
    assert "not a segment" in html
    assert "#b0b0b0" in html  # noise drawn grey
    md = render_markdown(hostile_result.summary)
    assert "## Unassigned customers (not a segment)" in md


def test_optional_sections_may_be_missing(demo_files) -> None:
    _, paths = demo_files
    summary = Segmentation(k=3, n_bootstrap=2).fit(events=paths["events"]).summary
    assert summary.personas is None
    html = render_html(summary)
    for section in SECTIONS:
        assert f'<section id="{section}"' in html
    assert "No persona column was given" in html
    assert "No attention data was given" in html
    assert 'data-chart="sankey"' not in html
    render_markdown(summary)


def test_size_is_bounded_for_a_million_customers(summary: Summary, html: str) -> None:
    assert len(html.encode()) < 5_000_000
    big = summary.model_copy(update={"n_customers": 1_000_000})
    big_html = render_html(big)
    assert "1,000,000 customers" in big_html
    # only the sampled map is per-customer: the size does not grow with n_customers
    assert abs(len(big_html) - len(html)) < 20_000
    # and a summary with far too many map points is thinned to a bounded sample
    points = summary.customer_map.points * (40_000 // len(summary.customer_map.points) + 1)
    huge = summary.model_copy(update={"customer_map": summary.customer_map.model_copy(update={"points": points})})
    data = _chart_data(render_html(huge))
    assert sum(len(s["points"]) for s in data["map"]["series"]) == MAX_MAP_POINTS


def test_markdown_has_headline_narrative_and_one_section_per_segment(summary: Summary) -> None:
    md = render_markdown(summary)
    assert md.startswith(f"# {summary.k} segments among {summary.n_customers:,} customers, as of 1 July 2026.")
    assert escape_markdown(summary.personas.narrative) in md
    assert md.count("\n## ") == len(summary.segments) + 1  # + opportunities
    for seg in summary.segments:
        assert f"## {escape_markdown(seg.name)}" in md


def test_write_report_writes_both_files(summary: Summary, tmp_path: Path) -> None:
    paths = write_report(summary, tmp_path / "out")
    assert set(paths) == {"html", "markdown"}
    assert paths["html"] == tmp_path / "out" / "report.html"
    assert paths["markdown"] == tmp_path / "out" / "summary.md"
    assert paths["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert paths["markdown"].read_text(encoding="utf-8").startswith("# ")


def test_renders_from_a_json_round_trip(summary: Summary, tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(to_json(summary.to_dict()), encoding="utf-8")
    assert render_html(Summary.read(tmp_path / "summary.json")) == render_html(summary)
