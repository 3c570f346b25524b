"""The web app end to end: a real Streamlit server and Debian's Chromium, driven by Playwright.

Needs ``/usr/bin/chromium`` (``.ci/install-browser``); fails without it unless
``SEGMENTKIT_SKIP_BROWSER=1``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from segmentkit.app import streamlit_command
from segmentkit.datasets import make_demo, write_demo
from test_report_browser import CHROMIUM, LAUNCH_ARGS, _require_chromium

#: needs a Streamlit server and Chromium; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.integration

SLOW = 180_000  # ms: a segmentation run on this 2-core machine, with headroom


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    _require_chromium(CHROMIUM, os.environ)
    port = _free_port()
    log = (tmp_path_factory.mktemp("app") / "server.log").open("w")
    env = {**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    server = subprocess.Popen(streamlit_command(sys.executable, port), stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"the app did not start; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture()
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        pg = context.new_page()
        pg.goto(app_url)
        pg.get_by_text("Run segmentation").first.wait_for(timeout=60_000)
        yield pg
        browser.close()


def _shot(pg, tmp_path: Path, name: str) -> None:
    """A full-page screenshot, kept in ``$SEGMENTKIT_SCREENSHOTS`` when set (for looking at)."""
    folder = Path(os.environ.get("SEGMENTKIT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    size = pg.viewport_size
    # the page scrolls inside Streamlit's main area: make the window as tall as its content
    height = pg.evaluate("Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
                         "[data-testid=stSidebarContent]')].map(e => e.scrollHeight))")
    pg.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 12_000))})
    pg.wait_for_timeout(1000)
    pg.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    pg.set_viewport_size(size)


def _upload(pg, key: str, path: Path) -> None:
    """Give ``path`` to the file uploader ``key`` (once it is drawn)."""
    upload = pg.locator(f".st-key-{key} input[type=file]")
    upload.wait_for(state="attached", timeout=30_000)
    upload.set_input_files(str(path))


def _segments_table(pg) -> pd.DataFrame:
    table = pg.locator("[data-testid=stTable] table").first
    table.locator("tbody tr").first.wait_for(timeout=30_000)
    header = [c.inner_text().strip() for c in table.locator("thead th").all()]
    rows = [[c.inner_text().strip() for c in r.locator("td, th").all()] for r in table.locator("tbody tr").all()]
    width = len(header)
    return pd.DataFrame([r[-width:] for r in rows], columns=header)


def test_demo_run_shows_segments_and_downloads_one_row_per_customer(page, tmp_path):
    page.get_by_label("Demo customers").fill("1500")
    page.get_by_label("Demo customers").press("Enter")
    _press_run(page)
    heading = page.get_by_text(re.compile(r"^\d+ segments of [\d,]+ customers$"))
    heading.wait_for(timeout=SLOW)
    k, n = (int(x.replace(",", "")) for x in re.findall(r"[\d,]+", heading.inner_text()))
    assert 2 <= k <= 10 and n >= 1500
    assert page.get_by_text(f"Why {k}:").is_visible()
    table = _segments_table(page)
    assert len(table) == k and table["customers"].astype(int).sum() <= n
    assert table["name"].nunique() == k and all(table["name"].str.len() > 3)
    assert page.get_by_text("Against the client's personas").is_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="assignments.csv").click()
    path = tmp_path / "assignments.csv"
    download.value.save_as(path)
    assignments = pd.read_csv(path, dtype={"customer_id": str})
    assert len(assignments) == n and assignments["customer_id"].is_unique
    assert (assignments["status"] == "segmented").sum() == table["customers"].astype(int).sum()
    # the report's charts and cards, on the page, with the summary's numbers
    charts = page.locator("[data-testid=stVegaLiteChart]")
    charts.nth(5).wait_for(timeout=30_000)  # size/value, heat map, map, personas, opportunities, choosing k
    _idle(page)
    for i in range(charts.count()):
        drawn = charts.nth(i).locator("canvas, svg").first
        drawn.wait_for(timeout=30_000)
        deadline = time.monotonic() + 30
        while not ((box := drawn.bounding_box()) and box["height"] > 100):  # None while being redrawn
            assert time.monotonic() < deadline, f"chart {i} is not drawn"
            page.wait_for_timeout(300)
    with page.expect_download() as download:
        page.get_by_role("button", name="summary.json").click()
    download.value.save_as(tmp_path / "summary.json")
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    first = summary["segments"][0]
    assert page.get_by_text(f"{first['name']} · {first['size']:,} customers").is_visible()  # its card
    assert page.get_by_text(summary["validation"]["sentence"], exact=True).is_visible()
    assert page.get_by_text(summary["k_selection"]["reason"]).first.is_visible()
    _shot(page, tmp_path, "demo_run")


def test_uploaded_files_bad_then_good(page, tmp_path):
    bad = tmp_path / "my_events.csv"
    bad.write_text("customer_id,event_time,amount\n1,2024-01-01,10\n2,2024-01-02,abc\n", encoding="utf-8")
    files = write_demo(tmp_path / "good", make_demo(800, seed=4))
    page.get_by_text("My files").click()
    _upload(page, "events", bad)
    # the preview is drawn once the page has re-run with the file (a click during that run is lost)
    page.get_by_text("(my_events.csv)").first.wait_for(timeout=30_000)
    _press_run(page)
    error = page.get_by_text("my_events.csv: column 'amount' row 2: 'abc' is not a number")
    error.wait_for(timeout=SLOW)
    assert "Traceback" not in page.content()
    _shot(page, tmp_path, "bad_file")
    _upload(page, "events", files["events"])
    page.get_by_text("(events.csv)").first.wait_for(timeout=30_000)
    _upload(page, "customers", files["customers"])
    page.get_by_text("(customers.csv)").first.wait_for(timeout=30_000)
    _press_run(page)
    page.get_by_text(re.compile(r"^\d+ segments of [\d,]+ customers$")).wait_for(timeout=SLOW)
    assert not error.is_visible()


def test_upload_with_its_own_column_names_prefills_the_mapping_and_previews(page, tmp_path):
    from playwright.sync_api import expect

    data = make_demo(600, seed=5)
    events = data.events.rename(columns={"customer_id": "Customer_ID", "event_time": "EVENT_TIME",
                                         "channel": "Channel", "category": "Category"})
    path = tmp_path / "shop_export.csv"
    events.to_csv(path, index=False)
    page.get_by_text("My files").click()
    _upload(page, "events", path)
    preview = page.get_by_text("Your files: the first rows")
    preview.wait_for(timeout=30_000)
    page.get_by_text("shop_export.csv").first.wait_for(timeout=30_000)  # the demo's preview shows until then
    grid = page.locator("[data-testid=stDataFrame]").first
    grid.wait_for(timeout=30_000)
    expect(grid).to_contain_text("EVENT_TIME", timeout=30_000)
    expect(grid).to_contain_text(str(events["Customer_ID"].iloc[0]))
    page.get_by_text("2. Columns").click()
    for label, column in [("Customer id", "Customer_ID"), ("Event time", "EVENT_TIME"),
                          ("Channel", "Channel"), ("Category", "Category"), ("Amount", "amount")]:
        expect(page.get_by_role("combobox", name=label, exact=True)).to_have_value(column, timeout=30_000)
    _shot(page, tmp_path, "upload_mapping_preview")
    _press_run(page)
    page.get_by_text(re.compile(r"^\d+ segments of [\d,]+ customers$")).wait_for(timeout=SLOW)
    assert "Traceback" not in page.content()


def test_receipt_lines_with_a_price_column_and_a_catalogue(page, tmp_path):
    import gzip

    from playwright.sync_api import expect

    # 40 customers; customer i buys product p(i % 5) at 2.00 × (1 + i % 3), and one jam (not
    # in the catalogue) at 1.50; customer 0's first line is exported twice
    lines = ["customer_id,event_time,order_id,product_id,unit_price,quantity"]
    for i in range(40):
        lines.append(f"k{i:02d},2024-0{1 + i % 6}-1{i % 9} 10:00,o{i},p{i % 5},2.00,{1 + i % 3}")
        lines.append(f"k{i:02d},2024-0{1 + i % 6}-1{i % 9} 10:00,o{i},jam,1.50,1")
    lines.insert(2, lines[1])
    events = tmp_path / "lines.csv.gz"
    events.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    products = tmp_path / "products.csv"
    products.write_text("product_id,category\n" + "".join(f"p{j},dept{j % 2}\n" for j in range(5)), encoding="utf-8")
    page.get_by_text("My files").click()
    _upload(page, "events", events)
    # the preview is drawn once the page has re-run with the file: an upload given while that
    # run is on may be lost with the widget it was given to
    page.get_by_text("(lines.csv.gz)").first.wait_for(timeout=30_000)
    _upload(page, "products", products)
    page.get_by_text("(products.csv)").first.wait_for(timeout=30_000)
    page.get_by_text("2. Columns").click()
    page.get_by_label("Product id (catalogue)").wait_for(timeout=30_000)  # the catalogue is read
    price = page.get_by_label(re.compile("^Unit price"))
    expect(price).to_have_count(1, timeout=30_000)  # the page shows the dropdowns of the old run until the new one ends
    _idle(page)  # a redraw closes an open dropdown
    price.scroll_into_view_if_needed()
    price.click()
    page.get_by_role("option", name="unit_price", exact=True).click()
    page.wait_for_function("e => e.value === 'unit_price'", arg=price.element_handle(), timeout=30_000)
    _press_run(page)
    page.get_by_text(re.compile(r"^\d+ segments of [\d,]+ customers$")).wait_for(timeout=SLOW)
    with page.expect_download() as download:
        page.get_by_role("button", name="summary.json").click()
    path = tmp_path / "summary.json"
    download.value.save_as(path)
    summary = json.loads(path.read_text())
    dq = summary["data_quality"]
    # the repeated line: 2.00 × 1; the 40 jam lines are missing from the catalogue
    assert (dq["duplicate_events_dropped"], dq["duplicate_events_amount"]) == (1, 2.0)
    assert dq["catalogue_lines_unknown_product"] == 40
    assert summary["run"]["inputs"]["products"]["name"] == "products.csv"
    assert any("'unit_price' × 'quantity'" in n for n in dq["notes"])


def _press_run(pg) -> None:
    """Press Run once the page has finished redrawing (a click during a redraw can be lost)."""
    _idle(pg)
    pg.get_by_role("button", name="Run segmentation").click()


def _idle(pg) -> None:
    """Wait until the server has redrawn the page."""
    pg.wait_for_timeout(500)
    pg.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=60_000)


def _type_name(pg, row: int, text: str) -> None:
    """Type ``text`` into the name cell of ``row`` of the rename editor (a canvas grid)."""
    _idle(pg)
    editor = pg.locator(".st-key-names_editor [data-testid=stDataFrame]")
    editor.scroll_into_view_if_needed()
    box = editor.bounding_box()
    header = row_height = 35  # px: Streamlit's data editor rows
    cell = pg.locator("#portal textarea")  # the grid's cell editor
    x, y = box["x"] + box["width"] * 0.75, box["y"] + header + row_height * (row + 0.5)
    for _ in range(3):  # the grid takes a double click only once it has settled
        pg.mouse.dblclick(x, y)
        try:
            cell.wait_for(timeout=10_000)
            break
        except Exception:
            pg.keyboard.press("Escape")
    else:
        raise AssertionError("the name cell did not open for editing")
    cell.fill(text)
    cell.press("Enter")
    cell.wait_for(state="detached", timeout=30_000)
    _idle(pg)


def test_rename_with_an_error_then_a_valid_name_keeps_the_results_without_refitting(page, tmp_path):
    page.get_by_label("Demo customers").fill("600")
    page.get_by_label("Demo customers").press("Enter")
    _press_run(page)
    page.get_by_text(re.compile(r"^\d+ segments of [\d,]+ customers$")).wait_for(timeout=SLOW)
    runs = page.get_by_text(re.compile(r"^Segmentation runs in this session: \d+$"))
    before = runs.inner_text()
    first = _segments_table(page)["name"].iloc[1]
    _type_name(page, 0, first)  # the name of another segment
    page.get_by_role("button", name="Apply names").click()
    error = page.get_by_text(re.compile(r"^Names not applied: .*segments 0 and 1"))
    try:
        error.wait_for(timeout=30_000)
    finally:
        page.get_by_text("Downloads").scroll_into_view_if_needed()
        _shot(page, tmp_path, "rename_error")
    assert _segments_table(page)["name"].iloc[1] == first  # results kept
    assert page.get_by_role("button", name="assignments.csv").is_visible()
    _type_name(page, 0, "Weekend bargain hunters")
    page.get_by_role("button", name="Apply names").click()
    page.locator("[data-testid=stTable]").get_by_text("Weekend bargain hunters").wait_for(timeout=30_000)
    error.wait_for(state="detached", timeout=30_000)
    assert runs.inner_text() == before  # renamed, not fitted again
    _shot(page, tmp_path, "rename_ok")
    # a refresh from this run: the name is carried over and the movement shown
    with page.expect_download() as download:
        page.get_by_role("button", name="model.json").click()
    download.value.save_as(tmp_path / "model.json")
    page.get_by_text("More settings").click()
    _upload(page, "previous", tmp_path / "model.json")
    page.locator(".st-key-previous [data-testid=stFileChipName]").wait_for(timeout=30_000)
    _press_run(page)
    page.get_by_text("Since the previous run").wait_for(timeout=SLOW)
    assert _segments_table(page)["name"].iloc[0] == "Weekend bargain hunters"
    assert "Traceback" not in page.content()
    _shot(page, tmp_path, "refresh")


def test_settings_round_trip_through_a_downloaded_file(page, tmp_path):
    from playwright.sync_api import expect

    from segmentkit.config import load_settings

    page.get_by_label("Demo customers").fill("600")
    page.get_by_label("Demo customers").press("Enter")
    page.get_by_text("More settings").click()
    seed = page.get_by_label("Seed", exact=True)
    seed.fill("7")
    seed.press("Enter")
    _idle(page)
    path = tmp_path / "segmentkit.toml"
    deadline = time.monotonic() + 30
    while True:  # the file is made on the page's next draw, once the server has the new seed
        with page.expect_download() as download:
            page.get_by_role("button", name="Download settings (TOML)").click()
        download.value.save_as(path)
        saved = load_settings(path)  # as `segmentkit run` reads it
        if saved.clustering.seed == 7 or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert saved.clustering.seed == 7 and saved.columns.customer_id == "customer_id"
    assert saved.roles.persona == "persona"
    seed.fill("3")
    seed.press("Enter")
    _idle(page)
    _upload(page, "project", path)
    page.get_by_text("Settings restored.").wait_for(timeout=30_000)
    expect(seed).to_have_value("7", timeout=30_000)
    _shot(page, tmp_path, "settings_restored")
    _press_run(page)
    page.get_by_text(re.compile(r"^\d+ segments of [\d,]+ customers$")).wait_for(timeout=SLOW)
    with page.expect_download() as download:
        page.get_by_role("button", name="summary.json").click()
    download.value.save_as(tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))["seed"] == 7
