"""The Spark engine through Spark Connect: ``[spark] master = "sc://host:port"`` makes the CLI a
client of a Connect server (here a local one), and the run and ``assign`` give what the
DuckDB engine gives. Every step is DataFrame API or Spark SQL, nothing needs the JVM here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from segmentkit.datasets import make_demo, write_demo
from segmentkit.export import read_assignments

#: needs Spark (local mode, Java 17) and pyspark's Connect client; CI runs it, `make test-fast` does not
pytestmark = pytest.mark.integration

#: the port the local Connect server listens on (Spark Connect's default)
PORT = 15002


@pytest.fixture(scope="module")
def connect_server():
    pytest.importorskip("grpc", reason="pyspark's Connect client needs grpcio (segmentkit[spark])")
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote("local[2]").config("spark.sql.shuffle.partitions", "4").getOrCreate()
    yield f"sc://localhost:{PORT}"
    session.stop()


def test_run_and_assign_through_spark_connect(connect_server, cli, tmp_path):
    from sklearn.metrics import adjusted_rand_score

    from segmentkit.config import load_settings
    from segmentkit.spark.engine import is_connect, spark_session

    files = write_demo(tmp_path / "data", make_demo(300, seed=4))
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[spark]\nmaster = "{connect_server}"\n[spark.config]\nspark.sql.shuffle.partitions = 4\n')
    assert is_connect(spark_session(load_settings(settings).spark))
    common = ["--events", files["events"], "--customers", files["customers"], "--k", 3, "--seed", 0]
    cli("run", *common, "--out", tmp_path / "d")
    # beyond the driver threshold: the sample fitted here, every customer assigned by the server
    cli("run", settings, "--engine", "spark", "--driver-customers", 150, *common, "--out", tmp_path / "s")
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    d = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert s["fit_scope"]["fitted_on"] == "stratified_sample"
    for key in ("events_rows_read", "duplicate_events_dropped", "orphan_customers", "customers_without_events"):
        assert s["data_quality"][key] == d["data_quality"][key], key
    a, b = read_assignments(tmp_path / "s"), read_assignments(tmp_path / "d")
    assert a["customer_id"].tolist() == b["customer_id"].tolist()
    assert adjusted_rand_score(a["segment_id"], b["segment_id"]) >= 0.9
    # assign through Connect, written to a URL: customer for customer as DuckDB's assign
    cli("assign", tmp_path / "d", "--events", files["events"], "--out", tmp_path / "da")
    cli("assign", tmp_path / "d", "--engine", "spark", "--settings", settings, "--events", files["events"],
         "--out", (tmp_path / "sa").as_uri())
    sa, da = read_assignments(tmp_path / "sa"), read_assignments(tmp_path / "da")
    pd.testing.assert_frame_equal(sa.drop(columns="confidence"), da.drop(columns="confidence"))
    (part,) = (tmp_path / "sa" / "drift.json").glob("part-*")  # written by the server: a folder of one part
    assert json.loads(part.read_text()) == json.loads((tmp_path / "da" / "drift.json").read_text())


@pytest.mark.parametrize("where", ["settings", "flag"])
def test_without_the_connect_client_one_line_names_the_extra(tmp_path, where):
    # grpc made unimportable in a fresh interpreter (None in sys.modules stops an import); a
    # script file, as the installed command is: pyspark takes a `python -c` for its doctests
    settings = tmp_path / "settings.toml"
    settings.write_text('[spark]\nmaster = "sc://localhost:1"\n')
    master = [str(settings)] if where == "settings" else ["--spark-master", "sc://localhost:1"]
    script = tmp_path / "main.py"
    script.write_text("import sys; sys.modules['grpc'] = None; from segmentkit.cli import main; "
                      f"sys.argv = ['segmentkit', 'run', *{master!r}, '--engine', 'spark', '--events', "
                      f"{str(tmp_path / 'e.csv')!r}]; main()\n")
    # warnings as Python shows them by default: the command leaves out pyspark's about pandas 3
    res = subprocess.run([sys.executable, str(script)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == (
        "error: a Spark Connect URL (sc://) needs pyspark's Connect client: pip install segmentkit[spark]")
