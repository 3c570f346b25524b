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
from segmentkit.datasets import make_demo, write_demo

#: slow: each runs the CLI end to end (a segmentation, often in a subprocess); CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.mark.parametrize("command", ["demo", "run", "assign", "readout"])
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
         "too few for k = 5"),
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


def test_run_help_keeps_bracketed_text():
    res = runner.invoke(app, ["run", "--help"], terminal_width=200)
    assert res.exit_code == 0
    assert "([columns], [roles], [clustering], [data], [database]" in res.output


def test_ruled_out_candidates_say_why_in_words(tmp_path):
    data = make_demo(600, seed=2)
    paths = write_demo(tmp_path / "data", data)
    res = runner.invoke(app, ["run", "--events", str(paths["events"]), "--customers", str(paths["customers"]),
                              "--k-max", "8", "--min-share", "0.12", "--out", str(tmp_path / "out")],
                        terminal_width=400)
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    why = [c["why_not"] for c in summary["k_selection"]["candidates"] if not c["eligible"]]
    assert why and all(why)
    assert "s; m; a" not in res.output
    table = " ".join(res.output.replace("│", " ").split())  # cells wrap over several lines
    for reason in why:
        assert f"no: {reason}" in table


def test_kprototypes_is_not_offered_to_runs(tmp_path, demo_files):
    _, paths = demo_files
    assert "kprototypes" not in runner.invoke(app, ["run", "--help"], terminal_width=200).output
    res = _run_cli("run", "--events", paths["events"], "--algorithm", "kprototypes", "--out", tmp_path / "out")
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "algorithm must be one of" in lines[0] and "kprototypes" in lines[0]
    assert "KeyError" not in res.stderr


def test_no_show_ids_flag_and_no_ids_in_the_outputs_meant_to_be_shared(tmp_path, demo_files):
    _, paths = demo_files
    res = _run_cli("run", "--events", paths["events"], "--show-ids", "--out", tmp_path / "x")
    assert res.returncode == 2 and "--show-ids" in res.stderr
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "--events", str(paths["events"]), "--k", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    ids = pd.read_csv(out / "assignments.csv", dtype={"customer_id": str})["customer_id"]
    shared = " ".join((out / name).read_text(encoding="utf-8") for name in ("report.html", "summary.md"))
    assert not any(cid in shared for cid in ids if len(cid) >= 6)


def test_assign_writes_drift(tmp_path, demo_files):
    _, paths = demo_files
    assert runner.invoke(app, ["run", "--events", str(paths["events"]), "--k", "4",
                               "--out", str(tmp_path / "run")]).exit_code == 0
    res = runner.invoke(app, ["assign", str(tmp_path / "run"), "--events", str(paths["events"]),
                              "--out", str(tmp_path / "assigned")])
    assert res.exit_code == 0, res.output
    drift = json.loads((tmp_path / "assigned" / "drift.json").read_text())
    assert f"Drift: {drift['verdict']}" in " ".join(res.output.split())


def test_progress_one_plain_line_per_stage_on_stderr(tmp_path, demo_files):
    _, paths = demo_files
    args = ["run", "--events", paths["events"], "--k", "4", "--out", tmp_path / "out"]
    res = _run_cli(*args, "--progress")
    assert res.returncode == 0, res.stderr
    # notes (what was dropped or assumed) are lines of their own, after "note: "
    lines = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith("note: ")]
    assert all(re.fullmatch(r"\[ *\d+\.\d s\] [a-z].*", ln) for ln in lines), lines
    stages = [ln.split("] ", 1)[1] for ln in lines]
    assert stages[:2] == ["loading events", "computing features"]
    assert stages[-3:] == ["writing outputs", "writing the report", "done"]
    quiet = _run_cli(*args)  # stderr is not a terminal here: no progress unless asked
    assert quiet.returncode == 0 and all(ln.startswith("note: ") for ln in quiet.stderr.strip().splitlines())
    notes = quiet.stderr.strip().splitlines()
    assert notes and len(notes) == len(set(notes))  # each note said once
