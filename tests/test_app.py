"""The web app's logic without a browser (Streamlit's AppTest): mapping, menu, runs."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from segmentkit.app import SCRIPT
from segmentkit.algorithms import run_names

TIMEOUT = 300  # s: a run on a loaded 2-core machine


@pytest.fixture()
def app():
    at = AppTest.from_file(str(SCRIPT), default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="demo_n").set_value(500)
    at.slider(key="k_range").set_value((2, 4))
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
