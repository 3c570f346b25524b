"""The CLI: help on every command, bad input exits 2 with one line, the demo writes outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["demo", "run", "assign"])
def test_help_on_every_command(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    assert "Usage" in res.output and len(res.output) > 200


def _events(tmp_path, text):
    p = tmp_path / "events.csv"
    p.write_text(text, encoding="utf-8")
    return p


def _run_cli(*args):
    """The real entry point in a subprocess: exit code and stderr as a user sees them."""
    return subprocess.run([sys.executable, "-m", "segmentkit.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("events_text", "customers_text", "extra", "expected"),
    [
        ("customer_id,time\n1,2024-01-01\n", None, [], "events.csv: missing column 'event_time'"),
        ("customer_id,event_time,amount\n1,2024-01-01,10\n2,2024-01-02,12;5\n", None, [],
         "events.csv: column 'amount' row 2: '12;5' is not a number"),
        ("customer_id,event_time\n1,2024-01-01\n2,31.02.2024x\n", None, [],
         "events.csv: column 'event_time' row 2: '31.02.2024x' is not a date or time"),
        ("customer_id,event_time\n1,2024-01-01\n", "customer_id,age\n1,3\n1,4\n", [],
         "customers.csv: column 'customer_id' row 2: duplicate customer id '1'"),
        ("", None, [], "events.csv: the file is empty"),
        ("customer_id,event_time,amount\n1,2024-01-01,1\n2,2024-01-01,2\n3,2024-01-03,5\n", None, ["--k", "5"],
         "fewer than k = 5"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, events_text, customers_text, extra, expected):
    args = ["run", "--events", _events(tmp_path, events_text), "--out", tmp_path / "out", *extra]
    if customers_text is not None:
        c = tmp_path / "customers.csv"
        c.write_text(customers_text, encoding="utf-8")
        args += ["--customers", c]
    res = _run_cli(*args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert expected in lines[0]
    assert "Traceback" not in res.stderr


def test_run_with_mapping_flags_writes_contract(tmp_path, demo_files):
    data, paths = demo_files
    ev = data.events.rename(columns={"customer_id": "cust", "event_time": "ts", "amount": "revenue"})
    ev_path = tmp_path / "ev.parquet"
    ev.to_parquet(ev_path)
    cu_path = tmp_path / "cu.csv"
    data.customers.rename(columns={"customer_id": "cust"}).to_csv(cu_path, index=False)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "--events", str(ev_path), "--customers", str(cu_path),
                              "--id-column", "cust", "--time-column", "ts", "--amount-column", "revenue",
                              "--k", "6", "--out", str(out), "--persona-column", "persona"])
    assert res.exit_code == 0, res.output
    a = pd.read_csv(out / "assignments.csv", dtype={"customer_id": str})
    assert list(a.columns[:4]) == ["customer_id", "segment_id", "segment_name", "status"]
    s = json.loads((out / "summary.json").read_text())
    assert s["k"] == 6 and "monetary" in s["features"]
    assert (out / "model" / "model.json").is_file()
    assert (out / "report.html").is_file()


def test_progress_one_plain_line_per_stage_on_stderr(tmp_path, demo_files):
    _, paths = demo_files
    args = ["run", "--events", paths["events"], "--k", "4", "--out", tmp_path / "out"]
    res = _run_cli(*args, "--progress")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert all(re.fullmatch(r"\[ *\d+\.\d s\] [a-z].*", ln) for ln in lines), lines
    stages = [ln.split("] ", 1)[1] for ln in lines]
    assert stages[:2] == ["loading events", "computing features"]
    assert stages[-3:] == ["writing outputs", "writing the report", "done"]
    quiet = _run_cli(*args)  # stderr is not a terminal here: no progress unless asked
    assert quiet.returncode == 0 and quiet.stderr.strip() == ""
