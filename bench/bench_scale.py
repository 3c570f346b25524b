"""segmentkit at S, M and L against plain baselines measured in the same run.

Sizes (customers / events): S = 50,000 / 1,000,000, M = 250,000 / 5,000,000,
L = 1,000,000 / 20,000,000, generated once per size by ``segmentkit.datasets.make_demo``
(seeded) as Parquet and CSV under ``--data-dir`` (default ``/tmp/segmentkit-bench``; never
commit it). Every measurement runs in its own process, so each has its own peak RSS:

* (a) **plain query**: the same features as one hand-written DuckDB query
  (``bench_features.plain_query``), result in pandas;
* (b) **pandas**: the same features with pandas (checked equal to (a) at S);
* (c) **KMeans(n_init=1)** at the chosen k on segmentkit's own prepared matrix (its
  inertia is the reference for segmentkit's final fit);
* **plain core job**: (a) + standard scaling + ``KMeans(n_init=1)`` in one process: the
  denominator of the run ratios;
* (d) **naive selection**: ``KMeans(n_init=10)`` for k = 2..10 on the plain matrix plus
  the exact silhouette on a 20,000 sample per k;
* segmentkit: features alone (``load_events`` + ``customer_features``), ``run --k K``
  (fit, outputs, report; stage times from its progress callback), the default run
  (selection with stability, personas, report) through the CLI, and ``assign``.

Every measurement, baselines included, runs on plain memory pages, as a run does
(``segmentkit.pages``): the ratios compare the work, not the kernel's huge-page compaction.
The table prints every ratio against its target. Timings on a shared machine drift;
ratios are measured within one run. ``--quick``: S, Parquet only, without (d), which
alone takes most of a minute at S (under a minute in all);
``--features-only csv``: CSV inputs measured for load + features only (beside (a) and (b)).

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python bench/bench_scale.py``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
SIZES = {"S": (50_000, 1_000_000), "M": (250_000, 5_000_000), "L": (1_000_000, 20_000_000)}
SEED = 0
NAIVE_K = range(2, 11)
NAIVE_SILHOUETTE = 20_000

# targets (ratios); see the README's "Performance" section
T_FEATURES = 1.3  # segmentkit features / plain query, every size
T_RUN_K = 2.0  # run --k / plain core job, at L
T_RUN_DEFAULT = 4.0  # default run / plain core job, at L
T_ASSIGN = 2.0  # assign / segmentkit features
T_MEMORY_GB = 2.5  # peak RSS of either run, at L


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def generate(size: str, root: Path, formats: list[str]) -> dict[str, dict[str, Path]]:
    """The demo CRM at ``size``, written once (seeded) per format; paths by format.

    Generated in a process of its own: a child process's peak RSS starts from its parent's
    (fork), so a parent that held the generated data would inflate every measurement.
    """
    n, n_events = SIZES[size]
    folder = root / size
    paths = {fmt: {"events": folder / fmt / f"events.{fmt}", "customers": folder / fmt / f"customers.{fmt}"}
             for fmt in formats}
    missing = [fmt for fmt in formats if not paths[fmt]["events"].is_file()]
    if missing:
        t = time.perf_counter()
        made = run_child("generate", n=n, n_events=n_events, folder=str(folder), formats=missing)
        print(f"generated {size}: {made['events']:,} events, {made['customers']:,} customers "
              f"({', '.join(missing)}) in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return paths


# ---------------------------------------------------------------------------------------
# the measured work, one process each (``--child TASK``)
# ---------------------------------------------------------------------------------------


def _peak_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _reader(path: str) -> str:
    return f"read_parquet('{path}')" if path.endswith(".parquet") else f"read_csv('{path}')"


def _plain_frame(a: dict[str, Any]):
    import duckdb

    from bench_features import plain_query

    con = duckdb.connect()
    frame = con.execute(plain_query(_reader(a["events"]), a["snapshot"], a["categories"], a["channels"])).df()
    con.close()
    return frame.set_index("customer_id")


def _pandas_frame(a: dict[str, Any]):
    """The plain query's features, computed with pandas."""
    import numpy as np
    import pandas as pd

    path = a["events"]
    cols = ["customer_id", "event_time", "event_type", "order_id", "amount", "quantity", "category",
            "channel", "discount_used"]
    if path.endswith(".parquet"):
        ev = pd.read_parquet(path, columns=cols)
    else:
        ev = pd.read_csv(path, usecols=cols, dtype={"customer_id": str, "order_id": str})
    ev["customer_id"] = ev["customer_id"].astype(str)
    ev["event_time"] = pd.to_datetime(ev["event_time"])
    ev["event_type"] = ev["event_type"].str.lower()
    ev = ev.rename(columns={"discount_used": "discount"})
    ev["discount"] = ev["discount"].astype(float)
    snap = pd.Timestamp(a["snapshot"])
    ev = ev[ev["event_time"] < snap].drop_duplicates()
    ws = ev["event_time"].min()
    mid = ws + (snap - ws) / 2
    day = pd.Timedelta(days=1)
    amt = ev["amount"].fillna(0.0)
    is_buy = (ev["event_type"] == "purchase") & (amt >= 0)
    buys = ev[is_buy].assign(amt=amt[is_buy], qty=ev.loc[is_buy, "quantity"].fillna(0.0),
                             disc=ev.loc[is_buy, "discount"].fillna(0.0))
    p = buys.groupby(["customer_id", "order_id"], dropna=False, sort=False).agg(
        t=("event_time", "min"), amt=("amt", "sum"), qty=("qty", "sum"), disc=("disc", "max"),
        channel=("channel", "min")).reset_index()
    q = p["t"].dt.quarter
    p = p.assign(recent=np.where(p["t"] >= mid, p["amt"], 0.0), earlier=np.where(p["t"] < mid, p["amt"], 0.0),
                 month=p["t"].dt.year * 12 + p["t"].dt.month,
                 **{f"q{i}": np.where(q == i, p["amt"], 0.0) for i in range(1, 5)},
                 **{f"ch_{c}": (p["channel"] == c).astype(float) for c in a["channels"]})
    g = p.groupby("customer_id", sort=False)
    o = g.agg(n=("amt", "size"), last_t=("t", "max"), gross=("amt", "sum"), qty=("qty", "sum"),
              disc=("disc", "mean"), months=("month", "nunique"), recent=("recent", "sum"),
              earlier=("earlier", "sum"), **{f"q{i}": (f"q{i}", "sum") for i in range(1, 5)},
              **{f"ch_{c}": (f"ch_{c}", "sum") for c in a["channels"]})
    p = p.sort_values(["customer_id", "t", "order_id"])
    same = p["customer_id"].eq(p["customer_id"].shift())
    p["d"] = np.where(same, (p["t"] - p["t"].shift()) / day, np.nan)
    gaps = p.dropna(subset=["d"]).groupby("customer_id")["d"].agg(["mean", "std"])
    cat = buys.pivot_table(index="customer_id", columns="category", values="amt", aggfunc="sum", fill_value=0.0)
    all_ = ev.assign(view=(ev["event_type"] == "view"), cart=(ev["event_type"] == "cart"),
                     ret=np.where((ev["event_type"] == "return") | (ev["amount"] < 0), amt.abs(), 0.0))
    act = all_.groupby("customer_id").agg(first_t=("event_time", "min"), views=("view", "sum"),
                                         carts=("cart", "sum"), ret=("ret", "sum"))
    f = act.join(o).join(gaps)
    n = f["n"].fillna(0.0)
    gross = f["gross"]
    tenure = (snap - f["first_t"]) / day
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "recency_days": ((snap - f["last_t"]) / day).fillna((snap - ws) / day),
            "orders": n,
            "monetary": gross.fillna(0.0) - f["ret"],
            "avg_order_value": (gross / f["n"]).fillna(0.0),
            "basket_size": (f["qty"] / f["n"]).fillna(0.0),
            "tenure_days": tenure,
            "gap_mean_days": f["mean"].fillna(tenure),
            "gap_cv": np.where(n >= 3, (f["std"] / f["mean"].replace(0, np.nan)).fillna(0.0), np.nan),
            "spend_trend": ((f["recent"] - f["earlier"]) / (f["recent"] + f["earlier"]).replace(0, np.nan)).fillna(0.0),
            "active_months": f["months"].fillna(0.0),
            "peak_quarter_share": (f[["q1", "q2", "q3", "q4"]].max(axis=1) / gross.replace(0, np.nan)).fillna(0.0),
            "discount_share": f["disc"].fillna(0.0),
            "return_rate": (f["ret"] / gross.replace(0, np.nan)).fillna(0.0),
            "views_per_order": f["views"] / np.maximum(n, 1),
            "cart_abandonment": np.where(f["carts"] > 0, np.maximum(f["carts"] - n, 0) / f["carts"].replace(0, 1), 0.0),
        }, index=f.index)
        total = cat.sum(axis=1).replace(0, np.nan)
        for c in a["categories"]:
            share = cat[c] / total if c in cat.columns else pd.Series(0.0, index=cat.index)
            out[f"cat_share__{c}"] = share.reindex(out.index).fillna(0.0)
        for c in a["channels"]:
            out[f"channel_share__{c}"] = (f[f"ch_{c}"] / f["n"]).fillna(0.0)
    return out.sort_index()


def _scaled(frame) -> Any:
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(np.nan_to_num(frame.to_numpy(dtype=float)))


def child(task: str, a: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in this process; return its numbers (peak RSS included)."""
    import duckdb  # noqa: F401  (imported before the clock starts, as below)
    import numpy as np

    if task == "features":
        # the feature pair (plain query, segmentkit features) is timed without imports, in
        # wall and CPU seconds: at S, importing the pipeline would be half of the measure
        from segmentkit.features import customer_features
        from segmentkit.pages import plain_pages
        from segmentkit.pipeline import run_connection
        from segmentkit.sources import load_events
    elif task in ("plain_query", "pandas"):
        import bench_features  # noqa: F401  (the plain query's module)
    t0, c0 = time.perf_counter(), time.process_time()
    res: dict[str, Any] = {}
    if task == "generate":
        from segmentkit.datasets import make_demo, write_demo

        data = make_demo(a["n"], seed=1, events_per_customer=a["n_events"] / a["n"])
        for fmt in a["formats"]:
            write_demo(Path(a["folder"]) / fmt, data, fmt=fmt)
        res.update(events=len(data.events), customers=len(data.customers))
    elif task == "plain_query":
        frame = _plain_frame(a)
        res["seconds"] = time.perf_counter() - t0
        res["cpu"] = time.process_time() - c0
        res["rows"] = len(frame)
    elif task == "pandas":
        frame = _pandas_frame(a)
        res["seconds"] = time.perf_counter() - t0
        res["cpu"] = time.process_time() - c0
        res["peak_gb"] = _peak_gb()
        if a.get("check"):
            plain = _plain_frame(a)
            cols = list(plain.columns)
            assert list(plain.index) == list(frame.index), "pandas: different customers"
            assert np.allclose(plain[cols].to_numpy(float), frame[cols].to_numpy(float), rtol=1e-7, atol=1e-7,
                               equal_nan=True), "pandas features disagree with the plain query"
            res["checked"] = True
    elif task == "plain_core":
        from sklearn.cluster import KMeans

        frame = _plain_frame(a)
        t1 = time.perf_counter()
        X = _scaled(frame)
        KMeans(n_clusters=a["k"], n_init=1, random_state=SEED).fit(X)
        t2 = time.perf_counter()
        res.update(seconds=t2 - t0, cpu=time.process_time() - c0, query_s=t1 - t0, kmeans_s=t2 - t1)
        res["peak_gb"] = _peak_gb()
        np.save(a["matrix"], X)
    elif task == "naive":
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        X = np.load(a["matrix"])
        t0 = time.perf_counter()
        sil = {}
        for k in NAIVE_K:
            labels = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit_predict(X)
            sil[k] = float(silhouette_score(X, labels, sample_size=NAIVE_SILHOUETTE, random_state=SEED))
        res.update(seconds=time.perf_counter() - t0, k=max(sil, key=sil.get))
    elif task == "features":
        # as a run does: within its DuckDB memory budget, numpy on plain pages
        with run_connection() as con, plain_pages():
            loaded = load_events(con, a["events"])
            feats = customer_features(con, loaded.table, loaded.roles)
        res["seconds"] = time.perf_counter() - t0
        res["cpu"] = time.process_time() - c0
        res.update(snapshot=f"{feats.snapshot_date.isoformat()} 00:00:00", categories=list(feats.levels["category"]),
                   channels=list(feats.levels["channel"]))
    elif task == "run_k":
        from sklearn.cluster import KMeans

        from segmentkit import Segmentation

        stages: list[tuple[str, float]] = []
        result = Segmentation(k=a["k"], random_state=SEED, progress=lambda s, e: stages.append((s, e))).fit(
            customers=a["customers"], events=a["events"])
        stages.append(("writing outputs", time.perf_counter() - t0))
        result.write(a["out"], progress=lambda s: stages.append((s, time.perf_counter() - t0)))
        res["seconds"] = time.perf_counter() - t0
        # the CPU of the run alone: what follows (plain k-means, the Lloyd timings) is not its
        res["cpu"] = time.process_time() - c0
        stages.append(("done", res["seconds"]))
        res["peak_gb"] = _peak_gb()
        res["stages"] = stages
        res["variant"] = result.summary.algorithm_details.get("variant")
        res["n_iter"] = result.summary.algorithm_details.get("n_iter")
        if not a.get("extras", True):
            return res
        # the final fit against plain k-means on the same matrix (not timed above)
        X, labels = result.matrix, result.labels
        res["inertia"] = _within_ss(X, labels)
        t, c = time.perf_counter(), time.process_time()
        km = KMeans(n_clusters=a["k"], n_init=1, random_state=SEED).fit(X)
        res["kmeans_same_matrix_s"] = time.perf_counter() - t
        res["kmeans_same_matrix_cpu"] = time.process_time() - c
        res["kmeans_inertia"] = _within_ss(X, km.labels_)
        res["one_pass_one_thread_s"], res["one_pass_s"] = _one_pass_seconds(X)
        res["sklearn_iteration_s"], res["product_s"] = _lloyd_seconds(X, a["k"])
        res["lloyd_iteration_s"], res["all_rows_fit_s"], res["all_rows_passes"] = _own_lloyd_seconds(X, a["k"])
        return res
    else:
        raise SystemExit(f"unknown task {task!r}")
    res.setdefault("peak_gb", _peak_gb())
    return res


def _best_seconds(work: Callable[[], Any], times: int = 5) -> float:
    """The fewest seconds ``work()`` took in ``times`` calls."""
    best = float("inf")
    for _ in range(times):
        t = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t)
    return best


def _one_pass_seconds(X) -> tuple[float, float]:
    """Seconds of one streaming read of ``X`` (its sum; best of five) by one thread, and by
    as many threads as the run's fits use, each summing its share of the memory: a Lloyd
    iteration reads every row at least once, so ``n_iter`` reads by the fit's threads bound
    the final fit from below (one thread alone does not use the machine's memory bandwidth)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from segmentkit.algorithms import FIT_OPENMP_THREADS

    flat = X.ravel(order="K")  # the matrix's memory in storage order: a view, no copy
    shares = np.array_split(flat, FIT_OPENMP_THREADS)
    with ThreadPoolExecutor(max_workers=FIT_OPENMP_THREADS) as pool:
        both = _best_seconds(lambda: list(pool.map(np.sum, shares)))
    return _best_seconds(X.sum), both


def _lloyd_seconds(X, k: int) -> tuple[float, float]:
    """Seconds of one Lloyd iteration of scikit-learn's ``KMeans`` on ``X`` (what the final
    fit ran on all rows before its compiled pass), and of the least arithmetic of the
    expanded distances: one BLAS product of ``X`` by ``k`` centres (best of five).

    Both with the threads the run fits with (``fit_threads``: BLAS on one thread, OpenMP
    on two; the product is split in two halves of the rows, one per thread). The iteration
    is the difference between fits of six and of one iteration from the same ``k`` random
    rows (best of three each, after a first fit), divided by five: the fit's fixed costs
    (checking and centring ``X``, the last assignment) and k-means++, which the run does not
    do on all rows, are left out.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from sklearn.cluster import KMeans

    from segmentkit.algorithms import FIT_OPENMP_THREADS, fit_threads

    start = X[np.random.default_rng(SEED).choice(len(X), size=k, replace=False)]
    halves = np.array_split(X, FIT_OPENMP_THREADS)

    def fit(iterations: int) -> tuple[float, int]:
        t = time.perf_counter()
        km = KMeans(n_clusters=k, init=start, n_init=1, max_iter=iterations, tol=0.0).fit(X)
        return time.perf_counter() - t, int(km.n_iter_)

    with fit_threads(), ThreadPoolExecutor(max_workers=FIT_OPENMP_THREADS) as pool:
        fit(1)  # the first fit pays one-time costs (thread pools, imports)
        (one, n_one), (six, n_six) = min(fit(1) for _ in range(3)), min(fit(6) for _ in range(3))
        product = _best_seconds(lambda: list(pool.map(lambda h: h @ start.T, halves)))
    # (a fit that converges within six iterations would skip its last assignment: no figure)
    per_iteration = (six - one) / (n_six - n_one) if (n_one, n_six) == (1, 6) else float("nan")
    return per_iteration, product


def _own_lloyd_seconds(X, k: int) -> tuple[float, float, int]:
    """Seconds of one Lloyd iteration as segmentkit's final fit runs it (one compiled pass
    over every row on the fit's threads, then the centres' means; best of five), and of that
    fit on all rows as a whole from the best of ten restarts on a sample (as the run starts
    it: its tolerance, its iterations, the last pass with both distances; best of three),
    with the number of passes over the rows it made (iterations + the last pass)."""
    import numpy as np
    from sklearn.cluster import KMeans

    from segmentkit.algorithms import FIT_OPENMP_THREADS, fit_threads
    from segmentkit.algorithms._lloyd import _means, assign_pass, lloyd
    from segmentkit.algorithms.kmeans import INIT_SAMPLE

    rng = np.random.default_rng(SEED)
    centres = X[rng.choice(len(X), size=k, replace=False)]
    rows = np.sort(rng.choice(len(X), size=min(len(X), INIT_SAMPLE), replace=False))
    with fit_threads():
        start = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(X[rows]).cluster_centers_
        iteration = _best_seconds(lambda: _means(X, assign_pass(X, centres, threads=FIT_OPENMP_THREADS)))
        fits: list[int] = []
        whole = _best_seconds(lambda: fits.append(lloyd(X, start, threads=FIT_OPENMP_THREADS).n_iter), times=3)
    return iteration, whole, fits[0] + 1


def _within_ss(X, labels) -> float:
    import numpy as np

    total = 0.0
    for s in np.unique(labels):
        part = X[labels == s]
        total += float(((part - part.mean(axis=0)) ** 2).sum())
    return total


# ---------------------------------------------------------------------------------------
# the parent: processes, timing, the table
# ---------------------------------------------------------------------------------------


def _python() -> list[str]:
    return [sys.executable]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(HERE.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _measure(argv: list[str]) -> tuple[float, float, float, str, str]:
    """Run a process: wall seconds, CPU seconds, its own peak RSS in GB (``wait4``), stdout, stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=_env())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[:6]))} failed:\n{stderr[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024**2, stdout, stderr


def run_child(task: str, **a: Any) -> dict[str, Any]:
    wall, cpu, _, out, _ = _measure([*_python(), str(Path(__file__).resolve()), "--child", task,
                                     json.dumps(a, default=str)])
    # the child's own CPU time when it took one; the whole process's (imports included) beside it
    return {"cpu": cpu, **json.loads(out.strip().splitlines()[-1]), "process_seconds": wall, "process_cpu": cpu}


def run_cli(*args: Any) -> dict[str, Any]:
    """The real ``segmentkit`` command: wall and CPU seconds (imports included), peak RSS, stages."""
    wall, cpu, peak, _, err = _measure([*_python(), "-m", "segmentkit.cli", *map(str, args)])
    stages = [(m.group(2), float(m.group(1))) for m in re.finditer(r"^\[ *([\d.]+) s\] (.*)$", err, re.M)]
    return {"seconds": wall, "cpu": cpu, "peak_gb": peak, "stages": stages}


def _stage_groups(stages: list[tuple[str, float]]) -> dict[str, float]:
    """Durations of load+features, selection, final fit, profiles, the rest, writing."""
    groups: dict[str, float] = {}
    names = {"loading events": "load+features", "computing features": "load+features",
             "loading customers": "load+features", "preparing the matrix": "prepare",
             "profiling segments": "profiles", "opportunities and personas": "personas etc.",
             "assignments and model": "assignments+model", "writing outputs": "writing",
             "writing the report": "writing"}
    for (name, start), (_, end) in zip(stages, stages[1:]):
        key = names.get(name) or ("selection" if name.startswith(("choosing", "checking")) else
                                  "final fit" if name.startswith("fitting") else name)
        groups[key] = groups.get(key, 0.0) + end - start
    return groups


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first of ``runs`` (with any figures only it measured) with the median wall and
    CPU seconds of all (each its own median) and the highest peak: the steadier figure when
    a measurement is repeated."""
    out = dict(runs[0])
    for key in ("seconds", "cpu"):
        out[key] = statistics.median(m[key] for m in runs)
    out["peak_gb"] = max(m["peak_gb"] for m in runs)
    return out


def bench_size(size: str, fmt: str, paths: dict[str, Path], work: Path, k: int, naive: bool,
               pandas: bool, features_only: bool = False, repeat: int = 1) -> dict[str, Any]:
    ev, cu = str(paths["events"]), str(paths["customers"])
    out = work / f"{size}-{fmt}"
    r: dict[str, Any] = {"size": size, "format": fmt, "features_only": features_only}
    # features and the plain query interleaved too: at S each takes about a second, and one
    # measurement moves by a tenth, which the growth from S to L would carry
    feats, plain = [run_child("features", events=ev)], []
    levels = {key: feats[0][key] for key in ("snapshot", "categories", "channels")}
    for i in range(repeat):
        plain.append(run_child("plain_query", events=ev, **levels))
        if i + 1 < repeat:
            feats.append(run_child("features", events=ev))
    r["features"], r["plain_query"] = _median_of(feats), _median_of(plain)
    if pandas:
        r["pandas"] = run_child("pandas", events=ev, check=size == "S", **levels)
    if features_only:
        return r
    matrix = work / f"{size}-{fmt}-plain.npy"
    # the core job and run --k in interleaved pairs: each one measurement moves by a fifth
    # between runs, and their ratio decides a target
    cores, runs = [], []
    for i in range(repeat):
        cores.append(run_child("plain_core", events=ev, k=k, matrix=str(matrix), **levels))
        # the final fit's comparisons with plain k-means once, after the first run
        runs.append(run_child("run_k", events=ev, customers=cu, k=k, out=str(out / "run_k"), extras=i == 0))
    r["plain_core"], r["run_k"] = _median_of(cores), _median_of(runs)
    r["pairs"] = [(m["seconds"] / c["seconds"], m["cpu"] / c["cpu"]) for c, m in zip(cores, runs)]
    r["run_default"] = run_cli("run", "--events", ev, "--customers", cu, "--persona-column", "persona",
                               "--attention-column", "marketing_touches", "--seed", SEED,
                               "--out", out / "default", "--progress")
    r["assign"] = run_cli("assign", out / "run_k", "--events", ev, "--out", out / "assigned")
    if naive:
        r["naive"] = run_child("naive", matrix=str(matrix))
    matrix.unlink(missing_ok=True)
    return r


def table(results: list[dict[str, Any]]) -> str:
    """One table: every stage with wall and CPU seconds, peak RSS, ratios and targets.

    Ratios are of wall times and, beside them, of CPU times (user + system, all threads):
    on a machine shared with other work the CPU ratio is the steadier of the two.
    """
    lines = []
    head = (f"{'size':<4} {'input':<8} {'stage':<40} {'wall s':>8} {'cpu s':>8} {'peak GB':>7} "
            f"{'ratio':>7} {'cpu ratio':>9} {'vs':<19} {'target':>6}  ok")
    lines += [head, "-" * len(head)]
    for r in results:
        pq, feats = r["plain_query"], r["features"]
        at_l = r["size"] == "L"
        if r.get("features_only"):
            rows_f: list[tuple[str, dict[str, Any], dict[str, Any] | None, str, float | None]] = [
                ("(a) plain DuckDB query", pq, None, "", None),
                *([("(b) pandas, same features", r["pandas"], pq, "plain query", None)] if "pandas" in r else []),
                ("segmentkit features (load + features)", feats, pq, "plain query", T_FEATURES)]
            lines += [_row(r, *row) for row in rows_f]
            continue
        core = r["plain_core"]
        rows: list[tuple[str, dict[str, Any], dict[str, Any] | None, str, float | None]] = [
            ("(a) plain DuckDB query", pq, None, "", None),
            *([("(b) pandas, same features", r["pandas"], pq, "plain query", None)] if "pandas" in r else []),
            ("(c) KMeans(n_init=1), segmentkit matrix",
             {"seconds": r["run_k"]["kmeans_same_matrix_s"], "cpu": r["run_k"]["kmeans_same_matrix_cpu"]},
             None, "", None),
            ("plain core job: (a) + KMeans(n_init=1)", core, None, "", None),
        ]
        if "naive" in r:
            rows.append(("(d) naive selection k=2..10", r["naive"], core, "plain core job", None))
        rows.append(("segmentkit features (load + features)", feats, pq, "plain query", T_FEATURES))
        for name, dur in _stage_groups(r["run_k"]["stages"]).items():
            rows.append((f"  run --k: {name}", {"seconds": dur}, None, "", None))
        rows.append(("segmentkit run --k", r["run_k"], core, "plain core job", T_RUN_K if at_l else None))
        for name, dur in _stage_groups(r["run_default"]["stages"]).items():
            rows.append((f"  default run: {name}", {"seconds": dur}, None, "", None))
        rows.append(("segmentkit run, default (CLI)", r["run_default"], core, "plain core job",
                     T_RUN_DEFAULT if at_l else None))
        # assign is a whole process (imports included): against the features' whole process
        feats_process = {"seconds": feats["process_seconds"], "cpu": feats["process_cpu"]}
        rows.append(("segmentkit assign (CLI)", r["assign"], feats_process, "features' process", T_ASSIGN))
        lines += [_row(r, *row) for row in rows]
        if len(r.get("pairs", [])) > 1:
            lines.append(f"{r['size']:<4} {r['format']:<8} run --k / plain core job in {len(r['pairs'])} interleaved "
                         f"pairs (the table: medians of each): wall "
                         + ", ".join(f"{w:.2f}x" for w, _ in r["pairs"]) + "; CPU "
                         + ", ".join(f"{c:.2f}x" for _, c in r["pairs"]))
        inertia = r["run_k"]["inertia"] / r["run_k"]["kmeans_inertia"]
        lines.append(f"{r['size']:<4} {r['format']:<8} final fit ({r['run_k']['variant']}): inertia / "
                     f"KMeans(n_init=1) on the same matrix = {inertia:.4f} (target <= 1): "
                     f"{'yes' if inertia <= 1 + 1e-9 else 'NO'}")
        run_k = r["run_k"]
        if run_k.get("lloyd_iteration_s") and run_k.get("one_pass_s"):
            # a Lloyd iteration reads every row at least once: one read of the matrix bounds it
            # from below, and the fit on all rows by its passes' reads
            per_iter, read, product = run_k["lloyd_iteration_s"], run_k["one_pass_s"], run_k["product_s"]
            sklearn_iter, one_thread = run_k["sklearn_iteration_s"], run_k["one_pass_one_thread_s"]
            whole, passes = run_k["all_rows_fit_s"], run_k["all_rows_passes"]
            fit_s = _stage_groups(run_k["stages"]).get("final fit", 0.0)
            lines.append(f"{r['size']:<4} {r['format']:<8} one Lloyd iteration (segmentkit's compiled pass, the run's "
                         f"threads, same matrix) {per_iter:.3f} s against one read of the matrix by as many threads "
                         f"{read:.3f} s: {per_iter / read:.1f}x (target <= 2 where the machine allows): "
                         f"{'yes' if per_iter <= 2 * read else 'NO'} (by one thread the read takes {one_thread:.3f} s; "
                         f"scikit-learn's iteration {sklearn_iter:.3f} s, {sklearn_iter / read:.1f}x; one BLAS product "
                         f"of the matrix by the centres {product:.3f} s, {product / read:.1f}x)")
            lines.append(f"{r['size']:<4} {r['format']:<8} the fit on all rows from the restarts' centres {whole:.3f} s, "
                         f"{passes} passes (iterations + the last) against {passes} reads {passes * read:.3f} s: "
                         f"{whole / (passes * read):.1f}x (target <= 2): {'yes' if whole <= 2 * passes * read else 'NO'}; "
                         f"segmentkit's final fit as a whole {fit_s:.2f} s ({run_k['variant']}, {run_k['n_iter']} "
                         f"iterations on all rows; the restarts on a sample, the segments' centres and the rest)")
        if at_l:
            for key in ("run_k", "run_default"):
                peak = r[key]["peak_gb"]
                lines.append(f"L    {r['format']:<8} peak memory of {key}: {peak:.2f} GB (target <= {T_MEMORY_GB}): "
                             f"{'yes' if peak <= T_MEMORY_GB else 'NO'}")
    growth = _growth(results)
    if growth:
        lines.append("")
        lines += growth
    return "\n".join(lines)


def _row(r: dict[str, Any], name: str, m: dict[str, Any], den: dict[str, Any] | None, vs: str,
         target: float | None) -> str:
    """One line of the table: a measurement, its ratios against ``den`` and its target."""
    ratio = m["seconds"] / den["seconds"] if den else None
    cpu_ratio = m["cpu"] / den["cpu"] if den and "cpu" in m and "cpu" in den else None
    ok = "" if target is None else ("yes" if min(ratio, cpu_ratio or ratio) <= target else "NO")
    return (f"{r['size']:<4} {r['format']:<8} {name:<40} {m['seconds']:8.1f} "
            f"{'' if m.get('cpu') is None else format(m['cpu'], '8.1f'):>8} "
            f"{'' if m.get('peak_gb') is None else format(m['peak_gb'], '7.2f'):>7} "
            f"{'' if ratio is None else format(ratio, '6.2f') + 'x':>7} "
            f"{'' if cpu_ratio is None else format(cpu_ratio, '8.2f') + 'x':>9} {vs:<19} "
            f"{'' if target is None else format(target, '6.2f'):>6}  {ok}")


def _growth(results: list[dict[str, Any]]) -> list[str]:
    """Seconds per million events, S against L (same format): growth no faster than linear."""
    out = []
    by = {(r["size"], r["format"]): r for r in results}
    for fmt in sorted({r["format"] for r in results}):
        if ("S", fmt) in by and ("L", fmt) in by:
            s, l = by["S", fmt], by["L", fmt]
            ev = SIZES["L"][1] / SIZES["S"][1]
            # the plain query's own growth beside them: what the machine and DuckDB do at scale
            for key in ("plain_query", "features") if l.get("features_only") or s.get("features_only") else (
                    "plain_query", "features", "run_k", "run_default"):
                g = l[key]["seconds"] / s[key]["seconds"]
                gc = l[key]["cpu"] / s[key]["cpu"]
                verdict = "linear or better" if min(g, gc) <= ev else "FASTER THAN LINEAR"
                out.append(f"growth S->L {fmt:<8} {key:<12} {g:6.1f}x wall, {gc:6.1f}x CPU time for {ev:.0f}x events "
                           f"({verdict}{', the baseline: no target' if key == 'plain_query' else ''})")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="S only, Parquet only, without (d) (which alone takes most of a minute at S): under a minute")
    ap.add_argument("--sizes", default="S,M,L", help="comma-separated: S, M, L")
    ap.add_argument("--formats", default="parquet,csv", help="comma-separated: parquet, csv")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--no-naive", action="store_true", help="skip (d), the slowest baseline")
    ap.add_argument("--no-pandas", action="store_true", help="skip (b), the next slowest")
    ap.add_argument("--features-only", default="",
                    help="comma-separated formats measured for load + features only (the plain query and "
                         "pandas beside them), e.g. csv")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure the features and the plain query, and the plain core job and run --k, "
                         "this many times each, interleaved, and report their medians (and every pair's "
                         "ratio of run --k to the core job)")
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/segmentkit-bench"))
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    sizes = ["S"] if args.quick else [s.strip() for s in args.sizes.split(",")]
    formats = ["parquet"] if args.quick else [f.strip() for f in args.formats.split(",")]
    features_only = {f.strip() for f in args.features_only.split(",") if f.strip()}
    work = args.data_dir / "runs"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in sizes:
        paths = generate(size, args.data_dir, formats)
        for fmt in formats:
            t = time.perf_counter()
            results.append(bench_size(size, fmt, paths[fmt], work, args.k, naive=not (args.no_naive or args.quick),
                                      pandas=not args.no_pandas, features_only=fmt in features_only,
                                      repeat=max(1, args.repeat)))
            print(f"measured {size} {fmt} in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
            if args.json:  # after each measurement: a long run's numbers survive an interruption
                args.json.write_text(json.dumps(results, indent=1, default=str))
    print(table(results))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        sys.path.insert(0, str(HERE))
        from segmentkit.pages import plain_pages

        # every measurement on plain memory pages, baselines included, as a run works: the
        # ratios compare the work, not the kernel's huge-page compaction (see segmentkit.pages)
        with plain_pages():
            print(json.dumps(child(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        main()
