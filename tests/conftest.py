"""Shared fixtures: demo data written to disk once per session, real small runs for the
consumers' tests, a Spark session in local mode per test module that asks for one, the CLI
run as a user runs it, and a check that every ``summary.json`` a test writes follows the schema."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from typer.testing import CliRunner

from hostile import HOSTILE
from segmentkit.cli import app
from segmentkit.datasets import make_demo, write_demo
from segmentkit.pipeline import Segmentation
from segmentkit.result import SCHEMA_PATH


@pytest.fixture(scope="module")
def spark():
    """A Spark session in local mode (two cores, no web UI), stopped after the module."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("segmentkit-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .getOrCreate())
    yield session
    session.stop()


@pytest.fixture()
def fit_both(spark):
    """Fit the same segmentation with the events at ``path`` read by Spark and by DuckDB; the
    test fails unless their ``data_quality`` is equal (the notes naming the input alike).
    Returns both results and DuckDB's ``data_quality`` (without its notes)."""
    from segmentkit.spark import SparkEvents

    def fit(path, **kwargs):
        a = Segmentation(**kwargs).fit(events=SparkEvents(str(path), spark=spark))
        b = Segmentation(**kwargs).fit(events=path)
        qa, qb = a.summary.data_quality.model_dump(), b.summary.data_quality.model_dump()
        assert [n.replace(f"{path.name} (Spark)", path.name) for n in qa.pop("notes")] == qb.pop("notes")
        assert qa == qb
        return a, b, qb
    return fit


@pytest.fixture()
def cli():
    """Run the CLI with these arguments; the test fails with its output unless it exits 0."""
    def invoke(*args):
        res = CliRunner().invoke(app, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        return res
    return invoke


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory):
    """Demo CRM (seed 0, 3,000 customers) as CSV files, with its planted truth."""
    data = make_demo(3000, seed=0)
    paths = write_demo(tmp_path_factory.mktemp("demo"), data)
    return data, paths


@pytest.fixture(scope="session")
def demo_result(demo_files):
    """A real run on the demo data, with personas and marketing attention."""
    _, paths = demo_files
    return Segmentation(k_min=4, k_max=7, n_bootstrap=2, persona_column="persona",
                        attention_column="marketing_touches", random_state=0).fit(
        customers=paths["customers"], events=paths["events"])


@pytest.fixture(scope="session")
def hostile_result():
    """A real density run (so with noise) whose categories, personas and names are hostile."""
    data = make_demo(800, seed=1)
    cats = sorted(data.events["category"].dropna().unique())
    events = data.events.assign(category=data.events["category"].replace({cats[0]: HOSTILE[0], cats[1]: HOSTILE[1]}))
    pers = sorted(data.customers["persona"].dropna().unique())
    customers = data.customers.assign(
        persona=data.customers["persona"].replace({pers[0]: HOSTILE[2], pers[1]: HOSTILE[3]}))
    return Segmentation(algorithm="hdbscan", n_bootstrap=2, persona_column="persona",
                        attention_column="marketing_touches",
                        name_overrides={0: HOSTILE[0], 1: HOSTILE[3]}).fit(customers=customers, events=events)


@pytest.fixture(scope="session")
def _summary_validator():
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@pytest.fixture(autouse=True)
def _summaries_follow_the_schema(tmp_path_factory, _summary_validator):
    """Every ``summary.json`` written during a test (by the library or the CLI) validates
    against the committed ``summary.schema.json``."""
    start = time.time() - 1
    yield
    for path in tmp_path_factory.getbasetemp().rglob("summary.json"):
        if path.stat().st_mtime >= start:
            errors = sorted(_summary_validator.iter_errors(json.loads(path.read_text(encoding="utf-8"))),
                            key=str)
            assert not errors, f"{path} breaks summary.schema.json: {errors[0].message}"
