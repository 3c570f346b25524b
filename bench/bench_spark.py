"""``--engine spark`` beside ``--engine duckdb`` at M size (250,000 customers, ~5,000,000
events), Spark in local mode: wall time and peak memory of the driver; also the Spark run
fitted on a stratified sample (``--driver-customers``, default 50,000 here) with every
customer assigned by Spark.

Each command runs as the CLI in a process of its own; its memory is sampled every 0.2 s from
``/proc``: the resident set of the driver program (the Python process, where everything after
the features runs) and of its child processes (with Spark in local mode, the JVM, which is
driver and executors at once). Both engines see the same Parquet files; the partitions are
compared (adjusted Rand index), so the two compute the same thing.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/bench_spark.py``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmentkit.datasets import make_demo, write_demo

SETTINGS = """[spark]
master = "local[2]"
[spark.config]
spark.ui.enabled = false
spark.ui.showConsoleProgress = false
spark.driver.memory = "4g"
spark.sql.shuffle.partitions = 16
"""


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def timed(args: list[str]) -> tuple[float, float, float]:
    """Run the CLI; wall seconds, peak RSS (MiB) of the Python driver and of its children."""
    peak = {"driver": 0, "children": 0}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "segmentkit.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            peak["driver"] = max(peak["driver"], _rss_kib(proc.pid))
            peak["children"] = max(peak["children"], sum(_rss_kib(c) for c in _children(proc.pid)))
            time.sleep(0.2)

    thread = threading.Thread(target=sample)
    thread.start()
    _, err = proc.communicate()
    thread.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{err[-2000:]}")
    return time.perf_counter() - start, peak["driver"] / 1024, peak["children"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--events-per-customer", type=float, default=20.0)
    parser.add_argument("--data", type=Path, default=None, help="Folder to keep the generated data in.")
    parser.add_argument("--driver-customers", type=int, default=50_000, help="Sample size of the sample-fit run.")
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    data_dir = opts.data or work / "data"
    events, customers = data_dir / "events.parquet", data_dir / "customers.parquet"
    if not events.is_file():
        t = time.perf_counter()
        write_demo(data_dir, make_demo(opts.customers, seed=0, events_per_customer=opts.events_per_customer),
                   fmt="parquet")
        print(f"data generated in {time.perf_counter() - t:.0f} s")
    n_events = len(pd.read_parquet(events, columns=["customer_id"]))
    print(f"{opts.customers:,} customers, {n_events:,} events (Parquet)")
    settings = work / "settings.toml"
    settings.write_text(SETTINGS)

    print(f"{'step':<28}{'seconds':>9}{'driver MiB':>12}{'JVM MiB':>10}")
    rows = {}
    for engine in ("duckdb", "spark"):
        out = work / f"run-{engine}"
        cmd = ["run", str(settings), "--engine", engine, "--events", str(events), "--customers", str(customers),
               "--k", "6", "--out", str(out)]
        rows[f"run --engine {engine}"] = timed(cmd)
    cmd = ["run", str(settings), "--engine", "spark", "--driver-customers", str(opts.driver_customers),
           "--events", str(events), "--customers", str(customers), "--k", "6", "--out", str(work / "run-sample")]
    rows[f"run, sample {opts.driver_customers:,}"] = timed(cmd)
    for engine in ("duckdb", "spark"):
        out = work / f"assign-{engine}"
        cmd = ["assign", str(work / "run-duckdb"), "--engine", engine, "--settings", str(settings),
               "--events", str(events), "--customers", str(customers), "--out", str(out)]
        rows[f"assign --engine {engine}"] = timed(cmd)
    for step, (sec, drv, jvm) in rows.items():
        print(f"{step:<28}{sec:>9.1f}{drv:>12.0f}{jvm:>10.0f}")

    a = pd.read_parquet(work / "run-duckdb" / "assignments.parquet")
    b = pd.read_parquet(work / "run-spark" / "assignments.parquet")
    print(f"run: same customers {a['customer_id'].tolist() == b['customer_id'].tolist()}, "
          f"ARI {adjusted_rand_score(a['segment_id'], b['segment_id']):.4f}")
    e = pd.read_parquet(work / "run-sample" / "assignments.parquet").sort_values("customer_id")
    print(f"sample fit: same customers {a['customer_id'].tolist() == e['customer_id'].tolist()}, "
          f"ARI with the full fit {adjusted_rand_score(a['segment_id'], e['segment_id']):.4f}")
    c = pd.read_parquet(work / "assign-duckdb" / "assignments.parquet")
    d = pd.read_parquet(work / "assign-spark" / "assignments.parquet")
    same = len(c) == len(d) and (c["customer_id"].to_numpy() == d["customer_id"].to_numpy()).all() \
        and (c["segment_id"].to_numpy() == d["segment_id"].to_numpy()).all()
    print(f"assign: {len(d):,} customers, same segment for every customer: {bool(same)}")
    print(f"outputs in {work}")


if __name__ == "__main__":
    main()
