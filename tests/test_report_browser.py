"""Open the report of real runs in a real headless Chromium (Debian's ``chromium``), offline.

Needs ``/usr/bin/chromium``: run ``.ci/install-browser``. The tests fail (not skip)
without it, unless ``SEGMENTKIT_SKIP_BROWSER=1``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from segmentkit.report import write_report
from hostile import HOSTILE

#: needs Chromium; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = (
    "headline",
    "glance",
    "segments",
    "map",
    "choosing-k",
    "personas",
    "opportunities",
    "method",
)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-proxy-server",
]


def _require_chromium(path: Path, env: Mapping[str, str]) -> None:
    """Skip when asked to; fail (never skip silently) when Chromium is missing."""
    if env.get("SEGMENTKIT_SKIP_BROWSER") == "1":
        pytest.skip("SEGMENTKIT_SKIP_BROWSER=1")
    if not path.exists():
        pytest.fail(
            f"{path} is missing: run `.ci/install-browser` (installs Debian's chromium), "
            "or set SEGMENTKIT_SKIP_BROWSER=1 to skip the browser tests."
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Debian Chromium, or a failure telling how to install it."""
    _require_chromium(CHROMIUM, os.environ)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


class _Page:
    """A page that records console errors, page errors, dialogs and every request."""

    def __init__(self, browser: Any, report: Path) -> None:
        self.url = report.resolve().as_uri()
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, offline=True, java_script_enabled=True
        )
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        self.page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        self.page.on("request", lambda req: self.requests.append(req.url))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)

        def route(route: Any) -> None:
            url = route.request.url
            if url == self.url or url.startswith("data:"):
                route.continue_()
            else:
                self.blocked.append(url)
                route.abort()

        self.context.route("**/*", route)

    def load(self) -> None:
        self.page.goto(self.url, wait_until="load")
        self.page.wait_for_function(
            """() => {
                const charts = document.querySelectorAll('[data-chart]');
                return charts.length > 0 &&
                    [...charts].every(c => c.getAttribute('data-rendered') !== null);
            }""",
            timeout=20_000,
        )

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if u != self.url and not u.startswith("data:")]

    def close(self) -> None:
        self.context.close()


def test_report_renders_offline_in_chromium(browser: Any, tmp_path: Path, demo_result) -> None:
    summary = demo_result.summary
    paths = write_report(summary, tmp_path)
    page = _Page(browser, paths["html"])
    try:
        page.load()
        p = page.page
        states = p.eval_on_selector_all(
            "[data-chart]", "els => els.map(e => [e.dataset.chart, e.dataset.rendered])"
        )
        assert states and all(state == "1" for _, state in states), states
        kinds = {kind for kind, _ in states}
        assert kinds >= {"size-value", "heatmap", "map", "k-metric", "crosstab", "sankey", "opportunities"}
        # every chart drew an SVG with content
        n_svg = p.eval_on_selector_all(
            "[data-chart]", "els => els.filter(e => e.querySelector('svg path, svg rect')).length"
        )
        assert n_svg == len(states)
        for section in SECTIONS:
            assert p.locator(f"section#{section}").is_visible(), section
            assert p.locator(f"nav.toc a[href='#{section}']").count() == 1, section
        for seg in summary.segments:
            card = p.locator(f"[data-segment-card='{seg.id}']")
            assert card.count() == 1
            assert seg.name in card.locator("h3").inner_text()
        assert page.console_errors == []
        assert page.page_errors == []
        assert page.foreign_requests() == [] and page.blocked == []
        assert page.dialogs == []

        shot = tmp_path / "report.png"
        p.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        print(f"\nreport screenshot: {shot}")
        keep = os.environ.get("SEGMENTKIT_SCREENSHOT_DIR")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / "report.png")

        # printable: print media lays out and gives a multi-page PDF without errors
        p.emulate_media(media="print")
        pdf = p.pdf(format="A4", print_background=True)
        assert pdf[:4] == b"%PDF" and pdf.count(b"/Type /Page") >= 3
        assert page.console_errors == [] and page.page_errors == []
    finally:
        page.close()


def test_hostile_names_stay_text_in_chromium(browser: Any, tmp_path: Path, hostile_result) -> None:
    summary = hostile_result.summary
    paths = write_report(summary, tmp_path)
    page = _Page(browser, paths["html"])
    try:
        page.load()
        p = page.page
        # open every chart's tooltip on a data item: tooltips are HTML, so they must escape
        p.evaluate(
            """() => {
                for (const chart of window.segmentkitCharts) {
                    const option = chart.getOption();
                    option.series.forEach((_, seriesIndex) => {
                        chart.dispatchAction({type: 'showTip', seriesIndex, dataIndex: 0});
                    });
                }
            }"""
        )
        p.wait_for_timeout(200)
        tips = p.evaluate(
            "() => [...document.querySelectorAll('[data-chart] div')].map(d => d.innerHTML).join(' ')"
        )
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in tips  # a tooltip showed it, escaped
        assert p.evaluate("() => window.__xss") is None
        assert page.dialogs == []
        assert page.console_errors == [] and page.page_errors == []
        assert page.foreign_requests() == [] and page.blocked == []
        # no element was injected from user data
        assert p.locator("img").count() == 0
        assert p.locator("b[onmouseover]").count() == 0
        assert p.locator("script").count() == 3
        body = p.locator("body").inner_text()
        assert HOSTILE[0] in body  # shown as text
        assert "onerror=\"window.__xss=1\"" in body  # a category name, in the heat map's labels
        card = p.locator("[data-segment-card='0'] h3").inner_text()
        assert HOSTILE[0] in card
        assert p.locator("[data-segment-card='-1']").count() == 1
    finally:
        page.close()


def test_missing_chromium_fails_with_the_install_hint(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"\.ci/install-browser"):
        _require_chromium(tmp_path / "no-chromium", {})
    with pytest.raises(pytest.skip.Exception):
        _require_chromium(tmp_path / "no-chromium", {"SEGMENTKIT_SKIP_BROWSER": "1"})


def test_brief_cards_of_a_real_run_in_chromium(browser: Any, tmp_path: Path) -> None:
    """Brief cards of a real (small) demo segmentation: one per segment, every sentence with
    the numbers it cites beside it; a user's hostile override stays text."""
    from segmentkit import Segmentation
    from segmentkit.briefs import TOPICS
    from segmentkit.datasets import make_demo, write_demo

    paths = write_demo(tmp_path / "data", make_demo(1500, seed=0))
    result = Segmentation(random_state=0, n_bootstrap=3, persona_column="persona",
                          attention_column="marketing_touches",
                          brief_overrides={1: {"where": HOSTILE[1]}}).fit(
        customers=paths["customers"], events=paths["events"])
    report = write_report(result.summary, tmp_path)["html"]
    page = _Page(browser, report)
    try:
        page.load()
        p = page.page
        segments = [s for s in result.summary.to_dict()["segments"] if s["brief"]]
        assert p.locator("[data-brief]").count() == len(segments) >= 4
        for seg in segments:
            card = p.locator(f"[data-segment-card='{seg['id']}'] [data-brief]")
            assert card.is_visible()
            assert card.locator("[data-objective]").text_content() == seg["brief"]["objective"]
            rows = card.locator("tr[data-topic]")
            assert rows.evaluate_all("rs => rs.map(r => r.dataset.topic)") == [
                s["topic"] for s in seg["brief"]["sentences"]] == list(TOPICS)
            for i, sentence in enumerate(seg["brief"]["sentences"]):
                row = rows.nth(i)
                assert sentence["text"] in row.locator("td.text").inner_text()
                shown = row.locator("td.numbers .num-item")
                cited = [n for n in sentence["numbers"] if n["cited"]]
                assert shown.count() == len(cited) > 0
                assert shown.first.is_visible()
                assert shown.first.inner_text().startswith(cited[0]["label"])
        where = p.locator("[data-segment-card='1'] tr[data-topic='where'] td.text").inner_text()
        assert HOSTILE[1] in where and "(edited)" in where
        assert p.evaluate("() => window.__xss") is None and p.locator("img").count() == 0
        assert page.console_errors == [] and page.page_errors == []
        assert page.foreign_requests() == [] and page.blocked == []
        card = p.locator(f"[data-segment-card='{segments[0]['id']}']")
        p.evaluate("() => { document.querySelector('header.top').style.position = 'static'; }")  # not over the shot
        shot = tmp_path / "brief-card.png"
        card.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        keep = os.environ.get("SEGMENTKIT_SCREENSHOT_DIR")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / "brief-card.png")
    finally:
        page.close()
