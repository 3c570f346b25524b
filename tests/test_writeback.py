"""Write-back of assignments into a real PostgreSQL server (started by the test setup) and a
SQLite file: one transaction, replace or append, a failure in the middle leaves the old
table as it was, and no password in any message."""

from __future__ import annotations

import datetime as dt
import sqlite3

import adbc_driver_postgresql.dbapi as pg
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from segmentkit.cli import app
from segmentkit.errors import InputError
from segmentkit.writeback import DatabaseTarget, run_id, write_assignments_db, write_table

from postgres_server import postgres_server

COLUMNS = ["customer_id", "segment_id", "segment_name", "status", "confidence", "run_id", "snapshot_date"]


@pytest.fixture(scope="module")
def server():
    with postgres_server() as url:
        with pg.connect(url) as conn:
            with conn.cursor() as cur:
                cur.execute("CREATE SCHEMA crm")
            conn.commit()
        yield url


def _assignments(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"00{i}" for i in range(n)],  # ids as text: leading zeros kept
        "segment_id": [0, 1, -1, 0][:n] + [0] * max(0, n - 4),
        "segment_name": ["Loyal", "New", "", "Loyal"][:n] + ["Loyal"] * max(0, n - 4),
        "status": ["segmented", "segmented", "noise", "segmented"][:n] + ["segmented"] * max(0, n - 4),
        "confidence": [1.0, 0.5, 1.0, 0.75][:n] + [1.0] * max(0, n - 4),
    })


def _read_pg(url: str, sql: str) -> pd.DataFrame:
    with pg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table().to_pandas()


def _failing_reader(first: pa.Table) -> pa.RecordBatchReader:
    """The first batch of rows, then an error: a failure in the middle of the write."""
    def batches():
        yield from first.to_batches()
        raise OSError("connection lost in the middle of the write")

    return pa.RecordBatchReader.from_batches(first.schema, batches())


@pytest.mark.integration
def test_postgres_replace_append_and_a_failure_in_the_middle(server):
    target = DatabaseTarget(server, "crm.segments")
    snap = dt.date(2024, 6, 30)
    assert write_assignments_db(_assignments(), target, snapshot_date=snap) == 4
    got = _read_pg(server, "SELECT * FROM crm.segments ORDER BY customer_id")
    assert list(got.columns) == COLUMNS
    assert got["customer_id"].tolist() == ["000", "001", "002", "003"]
    assert got["segment_name"].tolist() == ["Loyal", "New", "", "Loyal"]
    assert set(got["snapshot_date"]) == {snap}
    assert set(got["run_id"]) == {run_id(_assignments(), snap)} and len(got["run_id"].iloc[0]) == 16
    # replace: the table holds the new run only
    assert write_assignments_db(_assignments(2), target, snapshot_date="2024-07-31") == 2
    got = _read_pg(server, "SELECT customer_id, snapshot_date FROM crm.segments ORDER BY customer_id")
    assert got["customer_id"].tolist() == ["000", "001"] and set(got["snapshot_date"]) == {dt.date(2024, 7, 31)}
    # append: both runs, told apart by run_id
    write_assignments_db(_assignments(3), DatabaseTarget(server, "crm.segments", "append"),
                         snapshot_date="2024-08-31")
    runs = _read_pg(server, "SELECT run_id, count(*) AS n FROM crm.segments GROUP BY run_id ORDER BY n")
    assert runs["n"].tolist() == [2, 3]
    # a failure in the middle: replace and append both leave the old table as it was
    before = _read_pg(server, "SELECT * FROM crm.segments ORDER BY customer_id, run_id")
    rows = pa.Table.from_pandas(_assignments(4), preserve_index=False)
    for mode in ("replace", "append"):
        with pytest.raises(InputError, match="writing failed, nothing was changed"):
            write_table(DatabaseTarget(server, "crm.segments", mode), _failing_reader(rows))
        after = _read_pg(server, "SELECT * FROM crm.segments ORDER BY customer_id, run_id")
        pd.testing.assert_frame_equal(after, before)
    left = _read_pg(server, "SELECT count(*) AS n FROM pg_tables WHERE tablename LIKE '%segmentkit_new'")
    assert left["n"].iloc[0] == 0  # the half-built table was rolled back too


def test_sqlite_file_replace_and_a_failure_in_the_middle(tmp_path):
    db = tmp_path / "crm.db"
    target = DatabaseTarget(f"sqlite:///{db}", "segments")
    write_assignments_db(_assignments(), target, snapshot_date=dt.date(2024, 6, 30))
    with sqlite3.connect(db) as con:
        got = pd.read_sql("SELECT * FROM segments ORDER BY customer_id", con)
    assert list(got.columns) == COLUMNS and got["customer_id"].tolist() == ["000", "001", "002", "003"]
    rows = pa.Table.from_pandas(_assignments(2), preserve_index=False)
    with pytest.raises(InputError, match="writing failed, nothing was changed"):
        write_table(target, _failing_reader(rows))
    with sqlite3.connect(db) as con:
        after = pd.read_sql("SELECT * FROM segments ORDER BY customer_id", con)
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    pd.testing.assert_frame_equal(after, got)
    assert tables == ["segments"]


@pytest.mark.integration
def test_bad_targets_and_no_password_in_messages(server):
    secret = server.replace("segmentkit@", "segmentkit:hunter2@")
    closed = secret.rsplit(":", 1)[0] + ":1/postgres"
    with pytest.raises(InputError) as err:
        write_assignments_db(_assignments(), DatabaseTarget(closed, "crm.segments"), snapshot_date=None)
    assert "cannot connect" in str(err.value) and "hunter2" not in str(err.value) and ":***@" in str(err.value)
    with pytest.raises(InputError, match="--write-db must be a postgresql:// or sqlite:///"):
        DatabaseTarget("mysql://u:pw@h/db", "t")
    with pytest.raises(InputError, match="--write-table must be schema.table or table"):
        DatabaseTarget(server, "crm.segments; DROP TABLE x")
    with pytest.raises(InputError, match="--write-mode must be replace or append"):
        DatabaseTarget(server, "t", "upsert")


@pytest.mark.integration
def test_cli_run_and_assign_write_back(server, demo_files, tmp_path):
    data, paths = demo_files
    db = tmp_path / "crm.db"
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[output]\ndatabase = "sqlite:///{db}"\ntable = "segments"\n\n[clustering]\nk = 3\n',
                        encoding="utf-8")
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(settings), "--events", str(paths["events"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    a = pd.read_parquet(out / "assignments.parquet")
    with sqlite3.connect(db) as con:
        got = pd.read_sql("SELECT * FROM segments ORDER BY customer_id", con)
    assert len(got) == len(a) and sorted(got["customer_id"]) == sorted(a["customer_id"])
    assert "Wrote" in res.output and "sqlite:///" in res.output
    # flags win over [output]; assign writes too (to PostgreSQL, appending)
    res = runner.invoke(app, ["assign", str(out), "--events", str(paths["events"]), "--out", str(tmp_path / "as"),
                              "--write-db", server, "--write-table", "crm.assigned", "--write-mode", "append"])
    assert res.exit_code == 0, res.output
    got = _read_pg(server, "SELECT count(*) AS n, min(snapshot_date) AS d FROM crm.assigned")
    assert got["n"].iloc[0] == len(a) and got["d"].iloc[0] is not None
    res = runner.invoke(app, ["run", "--events", str(paths["events"]), "--write-db", server, "--out", str(out)])
    assert res.exit_code == 2 and "--write-db and --write-table go together" in res.output
