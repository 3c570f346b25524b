"""The HTML report and the Markdown summary, rendered from a summary dict."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from segmentkit.report import render_html, render_markdown, write_report
from segmentkit.report._format import fmt_date, fmt_index, fmt_int, fmt_num, fmt_pct, safe_json
from segmentkit.report._view import MAX_MAP_POINTS
from summary_fixture import HOSTILE, build_summary

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
def summary() -> dict:
    return build_summary()


@pytest.fixture(scope="module")
def html(summary: dict) -> str:
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


def test_safe_json_round_trips_and_cannot_close_a_script() -> None:
    data = {"a": HOSTILE, "b": "x</script><!--y-->&\u2028\u2029", "n": float("nan"), "i": 3}
    text = safe_json(data)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    back = json.loads(text)
    assert back["a"] == list(HOSTILE) and back["b"] == data["b"]
    assert back["n"] is None and back["i"] == 3


def test_every_section_and_segment_card_is_there(summary: dict, html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    for section in SECTIONS:
        assert f'<section id="{section}"' in html
        assert f'href="#{section}"' in html
    for seg in summary["segments"]:
        assert f'data-segment-card="{seg["id"]}"' in html
        assert seg["name"] in html
        for trait in seg["top_features"]:
            assert trait["sentence"] in html
        for rule in seg["rules"]:
            assert rule["text"].replace(">", "&gt;").replace("<", "&lt;") in html
    assert "48,213 customers" in html and "1 July 2026" in html
    assert summary["personas"]["narrative"].replace("'", "&#39;") in html
    assert summary["run"]["inputs"]["events"]["sha256"] in html
    assert "scikit-learn" in html and "1.7.2" in html


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


def test_chart_data_comes_from_the_summary(summary: dict, html: str) -> None:
    data = _chart_data(html)
    assert [s["name"] for s in data["segments"]] == [s["name"] for s in summary["segments"]]
    assert [s["share"] for s in data["segments"]] == [s["share"] for s in summary["segments"]]
    n_points = sum(len(s["points"]) for s in data["map"]["series"])
    assert n_points == len(summary["customer_map"]["points"])
    k_values = {p[0] for m in data["k"]["metrics"] for s in m["series"] for p in s["points"]}
    assert k_values == {c["k"] for c in summary["k_selection"]["candidates"]}
    total = sum(v for row in summary["personas"]["crosstab"].values() for v in row.values())
    assert sum(link["value"] for link in data["personas"]["links"]) == total


def test_report_does_not_change_the_summary(summary: dict) -> None:
    before = copy.deepcopy(summary)
    render_html(summary)
    render_markdown(summary)
    assert summary == before


def test_hostile_names_are_escaped_everywhere() -> None:
    summary = build_summary(hostile=True, noise=True)
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
    assert HOSTILE[0] in data["personas"]["personas"]
    assert HOSTILE[0] in data["segments"][0]["name"]
    assert HOSTILE[1] in data["heatmap"]["features"]
    md = render_markdown(summary)
    prose = re.sub(r"`[^`]*`", "", md)  # code spans (rules) are shown literally anyway
    assert not re.search(r"(?<!\\)[<>]", prose)  # every other angle bracket is escaped
    assert "\\<script\\>alert(1)\\</script\\>" in md


def test_ids_only_with_show_ids() -> None:
    summary = build_summary(with_ids=True)
    assert "CUST-SECRET-" in json.dumps(summary)
    hidden = render_html(summary)
    assert "CUST-SECRET-" not in hidden
    assert "CUST-SECRET-" not in render_markdown(summary)
    shown = render_html(summary, show_ids=True)
    assert "CUST-SECRET-0-0001" in shown


def test_noise_segment_and_density_algorithm() -> None:
    summary = build_summary(noise=True, k=4)
    html = render_html(summary)
    assert 'data-segment-card="-1"' in html and 'id="segment-noise"' in html
    assert "not a segment" in html
    assert "#b0b0b0" in html  # noise drawn grey
    md = render_markdown(summary)
    assert "## Noise (not a segment)" in md


def test_optional_sections_may_be_missing() -> None:
    summary = build_summary(personas=False, attention=False)
    for key in ("customer_map", "k_selection", "data_quality", "run", "feature_labels"):
        summary[key] = None
    html = render_html(summary)
    for section in SECTIONS:
        assert f'<section id="{section}"' in html
    assert "No persona column was given" in html
    assert "No attention data was given" in html
    assert "No customer map" in html
    assert 'data-chart="sankey"' not in html and 'data-chart="map"' not in html
    render_markdown(summary)
    bare = {"n_customers": 10, "segments": [{"id": 0, "size": 10, "share": 1.0}]}
    assert 'data-segment-card="0"' in render_html(bare)
    assert "Segment 0" in render_markdown(bare)
    assert "No segments" in render_html({})


def test_size_is_bounded_for_the_demo_and_for_a_million_customers(summary: dict, html: str) -> None:
    assert len(html.encode()) < 5_000_000
    big = build_summary(n_customers=1_000_000)
    big_html = render_html(big)
    assert "1,000,000 customers" in big_html
    # only the sampled map is per-customer: the size does not grow with n_customers
    assert abs(len(big_html) - len(html)) < 20_000
    assert len(big_html.encode()) < 2_000_000
    # and a summary with far too many map points is thinned to a bounded sample
    huge = build_summary(n_customers=1_000_000, n_map_points=40_000)
    data = _chart_data(render_html(huge))
    assert sum(len(s["points"]) for s in data["map"]["series"]) == MAX_MAP_POINTS


def test_markdown_has_headline_narrative_and_one_section_per_segment(summary: dict) -> None:
    md = render_markdown(summary)
    assert md.startswith("# 5 segments among 48,213 customers, as of 1 July 2026.")
    assert "The 4 personas map onto 5 behavioural segments" in md
    assert md.count("\n## ") == len(summary["segments"]) + 1  # + opportunities
    for seg in summary["segments"]:
        assert f"## {seg['name']}" in md


def test_write_report_writes_both_files(summary: dict, tmp_path: Path) -> None:
    paths = write_report(summary, tmp_path / "out")
    assert set(paths) == {"html", "markdown"}
    assert paths["html"] == tmp_path / "out" / "report.html"
    assert paths["markdown"] == tmp_path / "out" / "summary.md"
    assert paths["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert paths["markdown"].read_text(encoding="utf-8").startswith("# ")


def test_renders_from_a_json_round_trip(summary: dict) -> None:
    loaded = json.loads(json.dumps(summary))
    assert render_html(loaded) == render_html(summary)
