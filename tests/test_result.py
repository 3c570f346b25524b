"""The result contract: one typed summary, its committed schema, and what the library writes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pydantic import ValidationError

from segmentkit.export import to_json
from segmentkit.pipeline import Segmentation, score
from segmentkit.result import SCHEMA_PATH, SCHEMA_VERSION, Summary, build_summary, schema_text

#: slow: each runs or writes a full segmentation; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow


def test_committed_schema_is_generated_from_the_types():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "summary.schema.json is stale: run `python -m segmentkit.result`")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "schema_version" in schema["required"]


def test_summary_round_trips_through_json(demo_result):
    text = to_json(demo_result.summary.to_dict())
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    assert Summary.from_dict(json.loads(text)) == demo_result.summary


def test_a_field_outside_the_contract_is_refused(demo_result):
    data = demo_result.summary.to_dict()
    data["segments"][0]["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        build_summary(data)
    data = demo_result.summary.to_dict()
    data["k_selection"]["candidates"][0]["why_not"] = ["a", "list"]
    with pytest.raises(ValidationError, match="why_not"):
        build_summary(data)


def test_write_writes_everything_the_cli_writes(demo_result, tmp_path):
    paths = demo_result.write(tmp_path)
    for name in ("assignments.csv", "assignments.parquet", "summary.json", "report.html", "summary.md",
                 "model/model.json"):
        assert (tmp_path / name).is_file(), name
    assert set(paths) >= {"assignments_csv", "assignments_parquet", "summary", "report", "summary_md", "model"}
    assert demo_result.summary.segments[0].name in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_scored_writes_its_drift(demo_result, demo_files, tmp_path):
    _, paths = demo_files
    demo_result.write(tmp_path / "run")
    scored = score(tmp_path / "run", customers=paths["customers"], events=paths["events"])
    written = scored.write(tmp_path / "assigned")
    drift = json.loads((tmp_path / "assigned" / "drift.json").read_text(encoding="utf-8"))
    assert drift == json.loads(to_json(scored.drift)) and drift["verdict"]
    assert set(written) == {"assignments_csv", "assignments_parquet", "drift"}


def test_with_names_equals_a_refit_with_the_names(demo_files, monkeypatch):
    _, paths = demo_files
    settings = dict(k=5, n_bootstrap=2, persona_column="persona", attention_column="marketing_touches")
    fitted = Segmentation(**settings).fit(customers=paths["customers"], events=paths["events"])
    new = {0: "Sleepers", 3: "Bargain [hunters]"}
    # renaming must not fit anything again: any selection would fail here
    monkeypatch.setattr("segmentkit.pipeline.select_k", None)
    renamed = fitted.with_names(new)
    monkeypatch.undo()
    refit = Segmentation(**settings, name_overrides=new).fit(customers=paths["customers"], events=paths["events"])
    assert to_json(renamed.summary.to_dict()) == to_json(refit.summary.to_dict())
    pd.testing.assert_frame_equal(renamed.assignments, refit.assignments)
    assert renamed.model.names == refit.model.names and renamed.model.overrides == refit.model.overrides
    assert renamed.summary.segment(0).name == "Sleepers"
    assert "'Sleepers'" in " ".join(o.reason for o in renamed.summary.opportunities)
    assert fitted.summary.segment(0).name != "Sleepers"  # the original result is unchanged
