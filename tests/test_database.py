"""Reading from a real PostgreSQL server (started by the test setup): the same segments as
from files, PostgreSQL's own types, and clear errors that never show a password."""

from __future__ import annotations

import json

import adbc_driver_postgresql.dbapi as pg
import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from segmentkit.cli import app
from segmentkit.database import SqlQuery
from segmentkit.datasets import make_demo, write_demo
from segmentkit.catalogue import join_catalogue
from segmentkit.config import ColumnMapping
from segmentkit.errors import InputError
from segmentkit.features import customer_features
from segmentkit.pipeline import Segmentation
from segmentkit.sources import load_events, load_products

from postgres_server import postgres_server

#: needs a throwaway PostgreSQL server; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    """A demo CRM in PostgreSQL (tables crm.events, crm.customers) and the same as CSV files."""
    data = make_demo(600, seed=3)
    files = write_demo(tmp_path_factory.mktemp("crm"), data)
    with postgres_server() as url:
        with pg.connect(url) as conn:
            cur = conn.cursor()
            cur.execute("CREATE SCHEMA crm")
            cur.adbc_ingest("events", pa.Table.from_pandas(data.events, preserve_index=False),
                            mode="create", db_schema_name="crm")
            cur.adbc_ingest("customers", pa.Table.from_pandas(data.customers, preserve_index=False),
                            mode="create", db_schema_name="crm")
            cur.execute("CREATE TABLE odd_types (customer_id integer, event_time timestamptz, "
                        "amount numeric(10, 2), event_type text)")
            cur.execute("INSERT INTO odd_types VALUES (7, '2024-03-01 23:30:00+02', 12.50, 'Order'), "
                        "(7, '2024-03-02 10:00:00+00', -2.25, 'refund'), (8, '2024-03-03 00:00:00+00', 5, 'purchase')")
            conn.commit()
        yield url, files


def test_segments_from_postgres_equal_those_from_files(crm):
    url, files = crm
    kwargs = dict(persona_column="persona", attention_column="marketing_touches", random_state=0, k=4)
    from_db = Segmentation(**kwargs).fit(customers=SqlQuery(url, "crm.customers"),
                                         events=SqlQuery(url, "SELECT * FROM crm.events"))
    from_files = Segmentation(**kwargs).fit(customers=files["customers"], events=files["events"])
    a = from_db.assignments.sort_values("customer_id").reset_index(drop=True)
    b = from_files.assignments.sort_values("customer_id").reset_index(drop=True)
    assert len(a) >= 600 and a["customer_id"].tolist() == b["customer_id"].tolist()
    assert a["segment_id"].tolist() == b["segment_id"].tolist()
    assert a["status"].tolist() == b["status"].tolist()
    assert from_db.summary.data_quality.events_rows_read == from_files.summary.data_quality.events_rows_read
    inputs = from_db.summary.run.inputs
    assert inputs["events"].name.endswith("(query)") and "crm.customers" in inputs["customers"].name


def test_postgres_types_numeric_timestamptz_and_integer_ids(crm):
    url, _ = crm
    con = duckdb.connect()
    t = load_events(con, SqlQuery(url, "odd_types"))
    rows = con.execute(f"SELECT customer_id, event_time::VARCHAR, event_type::VARCHAR, amount FROM {t.table} "
                       "ORDER BY event_time").fetchall()
    # time zones are read as UTC; numeric arrives as text and is read as a number
    assert rows == [("7", "2024-03-01 21:30:00", "purchase", 12.5), ("7", "2024-03-02 10:00:00", "return", -2.25),
                    ("8", "2024-03-03 00:00:00", "purchase", 5.0)]
    f = customer_features(con, t.table, t.roles)
    assert f.frame.loc["7", "monetary"] == pytest.approx(10.25)


def test_errors_name_the_database_and_hide_the_password(crm):
    url, _ = crm
    secret = url.replace("segmentkit@", "segmentkit:hunter2@")
    with pytest.raises(InputError) as err:
        load_events(duckdb.connect(), SqlQuery(secret, "no_such_table"))
    text = str(err.value)
    assert "the query failed" in text and "no_such_table" in text and "hunter2" not in text and ":***@" in text
    with pytest.raises(InputError, match="unsupported database 'mysql'"):
        load_events(duckdb.connect(), SqlQuery("mysql://u@h/db", "events"))
    closed = url.rsplit(":", 1)[0] + ":1/postgres"
    with pytest.raises(InputError, match="cannot connect"):
        load_events(duckdb.connect(), SqlQuery(closed, "events"))


def test_cli_reads_from_the_database(crm, tmp_path):
    url, files = crm
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--database", url, "--events-query", "crm.events",
                                   "--customers-query", "SELECT * FROM crm.customers", "--k", "4",
                                   "--persona-column", "persona", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_customers"] >= 600 and summary["k"] == 4
    res = CliRunner().invoke(app, ["run", "--events-query", "crm.events"])
    assert res.exit_code == 2 and "need --database" in res.output
    res = CliRunner().invoke(app, ["run", "--database", url, "--events-query", "missing_table", "--out", str(out)])
    assert res.exit_code == 2 and "the query failed" in res.output and "Traceback" not in res.output


def test_database_section_of_the_settings_file(crm, tmp_path):
    url, files = crm
    config = tmp_path / "settings.toml"
    config.write_text(f'[database]\nurl = "{url}"\nevents = "crm.events"\ncustomers = "crm.customers"\n\n'
                      '[clustering]\nk = 3\n', encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(config), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["k"] == 3 and "crm.events" in summary["run"]["inputs"]["events"]["name"]
    # a file given on the command line wins over the file's query for that table
    res = CliRunner().invoke(app, ["run", str(config), "--events", str(files["events"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["inputs"]["events"]["name"] == "events.csv"


def test_product_catalogue_from_the_database(crm, tmp_path):
    url, _ = crm
    with pg.connect(url) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE catalogue (code text, dept text)")
        cur.execute("INSERT INTO catalogue VALUES ('milk', 'dairy'), ('bread', 'bakery')")
        conn.commit()
    events = tmp_path / "lines.csv"
    events.write_text("card,time,sku,amount\nc1,2024-01-01,milk,2.00\nc1,2024-01-01,bread,3.00\n"
                      "c2,2024-01-02,jam,4.00\n", encoding="utf-8")
    columns = ColumnMapping(customer_id="card", event_time="time", product_id="sku", products_id="code",
                            category="dept")
    con = duckdb.connect()
    ev, joined = join_catalogue(con, load_events(con, str(events), columns, elsewhere=("category",)),
                                load_products(con, SqlQuery(url, "catalogue"), columns))
    got = sorted(con.execute(f"SELECT customer_id, category, amount FROM {ev.table}").fetchall())
    assert got == [("c1", "bakery", 3.0), ("c1", "dairy", 2.0), ("c2", "unknown", 4.0)]
    assert joined.lines_unknown == 1
    # the same from the command line: --products-query with --database
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--events", str(events), "--database", url, "--products-query", "catalogue",
                                   "--id-column", "card", "--time-column", "time", "--product-column", "sku",
                                   "--products-id-column", "kode", "--category-column", "dept", "--out", str(out)])
    # the catalogue query is read: its columns are named in the error
    assert res.exit_code == 2 and "missing column 'kode' (the product id); found: code, dept" in res.output, res.output
