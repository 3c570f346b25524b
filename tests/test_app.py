"""The web app's logic without a browser (Streamlit's AppTest): mapping, menu, runs."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from segmentkit.app import SCRIPT
from segmentkit.algorithms import run_names
from segmentkit.config import ColumnMapping

TIMEOUT = 300  # s: a run on a loaded 2-core machine


@pytest.fixture()
def app():
    at = AppTest.from_file(str(SCRIPT), default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="demo_n").set_value(500)
    at.number_input(key="k_max").set_value(4)
    at.run()
    return at


def _dropdowns(app) -> dict:
    """Column dropdowns by role; their keys end in a digest of the options (``col_amount@1f…``)."""
    return {s.key.split("@")[0]: s for s in app.selectbox if "@" in (s.key or "")}


def test_mapping_is_prefilled_by_name_and_none_means_unused(app):
    values = {role: s.value for role, s in _dropdowns(app).items()}
    assert values["col_customer_id"] == "customer_id" and values["col_category"] == "category"
    assert values["col_discount"] == "discount_used" and values["persona"] == "persona"
    _dropdowns(app)["col_category"].set_value("(none)")
    app.button(key="run").click()
    app.run()
    assert not app.exception and not app.error
    result = app.session_state["result"]
    assert "no category column in the events" in result.summary.features_skipped.values()


def test_every_algorithm_in_the_menu_runs_without_an_error(app):
    menu = app.selectbox(key="algorithm").options
    assert menu == [*run_names(), "auto"] and "kprototypes" not in menu
    for name in menu:
        app.selectbox(key="algorithm").set_value(name)
        app.button(key="run").click()
        app.run()
        assert not app.exception, (name, app.exception)
        assert not app.error, (name, [e.value for e in app.error])
        assert app.session_state["result"].summary.k >= 1  # density algorithms may find one


def test_settings_take_the_library_ranges_and_explain_themselves(app):
    from segmentkit.config import SETTING_RANGES

    for key in ("k_min", "k_max", "min_share", "max_segments", "n_bootstrap", "seed"):
        proto = app.number_input(key=key).proto
        _, low, high = SETTING_RANGES[key]
        assert (proto.min, proto.max) == (low, high), key
        assert len(proto.help) > 40, key
    assert "*stable*" in app.number_input(key="k_min").proto.help  # what stable means
    assert "bigger share gives fewer, larger segments" in app.number_input(key="min_share").proto.help
    assert "kmeans" in app.selectbox(key="algorithm").proto.help


def test_customer_columns_as_features(app):
    features = next(m for m in app.multiselect if m.key.startswith("features@"))
    features.set_value(["age"])
    app.button(key="run").click()
    app.run()
    assert not app.exception and not app.error
    assert "age" in app.session_state["result"].summary.features
    # the diagnostics say what their words mean, on hover
    helps = {name: column.get("help", "") for d in app.dataframe
             for name, column in json.loads(d.proto.columns or "{}").items()}
    assert "**Stable** means" in helps["stability"]
    assert "**Distinguishable** means" in helps["distinguishable"]


def _table(app, column: str) -> pd.DataFrame:
    """The table on the page with this column."""
    return next(d.value for d in app.dataframe if column in d.value.columns)


def _quick(app) -> None:
    """A fixed number of segments and no stability checks: a run of a few seconds."""
    app.checkbox(key="fixed").check()
    app.run()
    app.number_input(key="k").set_value(3)
    app.number_input(key="n_bootstrap").set_value(0)


def test_holdout_plan_is_shown_as_in_summary_json(app):
    _quick(app)
    app.checkbox(key="holdout").check()
    app.run()
    app.number_input(key="min_lift").set_value(1.0)  # +100 %: detectable in a segment of this small demo
    app.button(key="run").click()
    app.run()
    assert not app.exception and not app.error
    downloads = app.session_state["downloads"]
    plan = json.loads(downloads["summary.json"][0])["holdout"]
    assert plan["min_lift"] == 1.0
    shown = _table(app, "held out (share)")
    assert shown["segment"].tolist() == [str(h["segment_id"]) for h in plan["segments"]]
    assert shown["customers"].tolist() == [h["size"] for h in plan["segments"]]
    assert shown["held out (share)"].tolist() == [h["holdout_share"] for h in plan["segments"]]
    assert shown["held out (expected)"].tolist() == [h["expected_holdout"] for h in plan["segments"]]
    assert shown["testable"].tolist() == ["yes" if h["testable"] else "no" for h in plan["segments"]]
    # the groups are in the assignments; run.zip is the folder the readout reads
    groups = pd.read_csv(io.BytesIO(downloads["assignments.csv"][0]))["group"]
    assert set(groups.dropna()) <= {"target", "holdout"}
    assert (groups == "holdout").any() == any(h["testable"] for h in plan["segments"])
    with zipfile.ZipFile(io.BytesIO(downloads["run.zip"][0])) as run:
        assert {"assignments.parquet", "summary.json", "model/model.json"} <= set(run.namelist())
        assert run.read("summary.json") == downloads["summary.json"][0]


def test_audience_files_are_the_librarys(app, tmp_path):
    from segmentkit.audiences import export_audiences
    from segmentkit.datasets import make_demo, write_demo

    files = write_demo(tmp_path / "demo", make_demo(300, seed=2))
    customers = pd.read_csv(files["customers"])
    # contact details under names of the client's own
    customers["Mail"] = [f"Jane.Doe+{i}@Gmail.com " for i in range(len(customers))]
    customers["Tel"] = ["+44 20 7946 0958"] * len(customers)
    customers.to_csv(tmp_path / "crm.csv", index=False)
    app.radio(key="source").set_value("My files")
    app.run()
    app.file_uploader(key="events").set_value(("events.csv", files["events"].read_bytes(), "text/csv"))
    app.file_uploader(key="customers").set_value(("crm.csv", (tmp_path / "crm.csv").read_bytes(), "text/csv"))
    app.run()
    _quick(app)
    app.button(key="run").click()
    app.run()
    assert not app.exception and not app.error
    app.multiselect(key="audience_platforms").set_value(["google", "tiktok"])
    _dropdowns(app)["contact_email"].set_value("Mail")
    _dropdowns(app)["contact_phone"].set_value("Tel")
    app.run()
    app.button(key="make_audiences").click()
    app.run()
    assert not app.exception and not app.error
    offered = app.session_state["audience_downloads"]
    assert sorted(offered) == ["audiences-google.zip", "audiences-tiktok.zip"]
    run_dir = tmp_path / "run"
    app.session_state["result"].write(run_dir)
    for platform in ("google", "tiktok"):
        made = export_audiences(run_dir, tmp_path / "crm.csv", platform, tmp_path / platform,
                                columns=ColumnMapping(email="Mail", phone="Tel"))
        with zipfile.ZipFile(io.BytesIO(offered[f"audiences-{platform}.zip"])) as archive:
            assert sorted(archive.namelist()) == sorted(p.name for p in (tmp_path / platform).iterdir())
            for name in archive.namelist():
                assert archive.read(name) == (tmp_path / platform / name).read_bytes(), name
        assert len(made.files) == 3
    # Google's documented normalisation: a gmail address loses its dots and +tag; SHA-256 hex
    google = pd.read_csv(next((tmp_path / "google").glob("audience-google-segment-*.csv")))
    assert set(google["Email"]) == {hashlib.sha256(b"janedoe@gmail.com").hexdigest()}
    assert set(google["Phone"]) == {hashlib.sha256(b"+442079460958").hexdigest()}


def test_customers_left_out_by_a_column_value(app):
    from segmentkit.datasets import make_demo

    personas = make_demo(500, seed=0).customers["persona"]  # the app's demo data
    expected = int(personas.isin(["Retirees", "Young Professionals"]).sum())
    _quick(app)
    _dropdowns(app)["exclude_column"].set_value("persona")
    app.run()
    app.text_input(key="exclude_values").set_value("retirees, Young Professionals")
    app.button(key="run").click()
    app.run()
    assert not app.exception and not app.error
    assignments = app.session_state["result"].assignments
    assert (assignments["status"] == "excluded").sum() == expected
    assert set(assignments.loc[assignments["status"] == "excluded", "reason"]) == {
        "persona = retirees", "persona = Young Professionals"}
    assert any(f"{expected:,} left out" in m.value for m in app.markdown)


def test_to_below_from_is_said_in_the_pages_words(app):
    app.number_input(key="k_min").set_value(5)
    app.number_input(key="k_max").set_value(3)
    app.button(key="run").click()
    app.run()
    shown = " ".join(e.value for e in app.error)
    assert "Numbers of segments to compare: must be at least “From” (5), got 3." in shown
    assert "k_min" not in shown and not app.exception


def test_lifecycle_groups_first_runs_layered(app):
    _quick(app)
    assert app.selectbox(key="layers").value == "auto"  # the library's default
    app.selectbox(key="layers").set_value("lifecycle")
    app.button(key="run").click()
    app.run()
    assert not app.exception and not app.error
    downloads = app.session_state["downloads"]
    summary = json.loads(downloads["summary.json"][0])
    assert summary["layers"]["mode"] == "lifecycle" and len(summary["layers"]["behaviour_segments"]) == 3
    layer = pd.read_csv(io.BytesIO(downloads["assignments.csv"][0]), keep_default_na=False)["layer"]
    assert set(layer) <= {"lifecycle", "behaviour", ""} and (layer == "lifecycle").any()
    assert "segments are found among the active repeat buyers only" in app.selectbox(key="layers").proto.help
