"""Segments worth acting on: the default run on real purchase logs and planted sets.

Per data set it prints the number of segments the default run recommends, the number under
another seed and the agreement of the two partitions (ARI), and — fitting the default run
on the history up to the last quarter (at most 90 days) and measuring the quarter after —
the share of the variance of log(1 + next-period spend) explained (η²) by the segments,
by a plain RFM score cut into as many groups, and by the personas where the data has them;
then each clustered segment's bootstrap Jaccard (the chosen candidate's, with its share of the
clustered customers) and each segment's leading trait.

Real logs (nothing is downloaded at run time; give the files):

* ``--cdnow PATH``: the CDNOW master log (``datasets/CDNOW_master.txt`` inside the
  ``lifetimes`` wheel: ``pip download --no-deps lifetimes`` and unzip it);
* the demo data (planted behaviour, with personas unrelated to part of it).

Planted sets: 21 of ``segmentkit.labeled``'s sets with close, small or unequal groups and
customer-like mixtures; printed: sets where the selection finds the true k. (They are feature
matrices without an event history, so ``--layers`` does not apply to them.)

``--layers flat,lifecycle`` runs the real logs once per layering (``k`` counts every segment,
``k beh`` the behavioural ones; ``lifecycle``: groups by rule + segments of the active base).

``python bench/bench_real.py --cdnow /tmp/lt/lifetimes/datasets/CDNOW_master.txt``
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmentkit import Segmentation
from segmentkit.choose_k import select_k
from segmentkit.labeled import customers, planted
from segmentkit.validation import validate


def cdnow(path: str) -> pd.DataFrame:
    """The CDNOW log as events: one purchase row per customer, day, CDs and dollars."""
    raw = pd.read_csv(path, sep=r"\s+", header=0, names=["customer_id", "date", "cds", "dollars"],
                      dtype={"customer_id": str, "date": str})
    return pd.DataFrame({
        "customer_id": raw["customer_id"],
        "event_time": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "amount": raw["dollars"].astype(float),
        "quantity": raw["cds"].astype(float),
    })


def demo() -> tuple[pd.DataFrame, pd.DataFrame]:
    from segmentkit.datasets import make_demo

    data = make_demo(4000, seed=3)
    return data.events.to_pandas() if hasattr(data.events, "to_pandas") else data.events, (
        data.customers.to_pandas() if hasattr(data.customers, "to_pandas") else data.customers)


def real_row(name: str, events: pd.DataFrame, customers_df: pd.DataFrame | None, persona: str | None,
             **settings) -> dict:
    t0 = time.perf_counter()
    kw = {"persona_column": persona, **settings} if persona else dict(settings)

    def run(seed: int, ev: pd.DataFrame, snapshot: dt.date | None = None):
        return Segmentation(random_state=seed, snapshot_date=snapshot, **kw).fit(customers=customers_df, events=ev)

    a, b = run(0, events), run(1, events)
    seg_a = a.assignments.set_index("customer_id")["segment_id"]
    seg_b = b.assignments.set_index("customer_id")["segment_id"].reindex(seg_a.index)
    times = pd.to_datetime(events["event_time"])
    first, snapshot = times.min().date(), times.max().normalize().date() + dt.timedelta(days=1)

    def past_fit(cutoff: dt.date):
        r = run(0, events[times < pd.Timestamp(cutoff)], cutoff)
        lab = r.assignments.set_index("customer_id")["segment_id"]
        return lab[r.assignments.set_index("customer_id")["status"] == "segmented"], r.features.frame

    con = duckdb.connect()
    con.register("ev_df", events)
    con.execute("CREATE TABLE ev AS SELECT * FROM ev_df")
    roles = [c for c in events.columns]
    personas = None
    if persona:
        personas = customers_df.set_index(customers_df["customer_id"].astype(str))[persona]
    val = validate(con, "ev", roles, first_event=first, snapshot=snapshot, past_fit=past_fit, personas=personas)
    con.close()
    return {
        "data": name, "k": a.summary.k, "k_seed1": b.summary.k,
        "k_behaviour": a.summary.k_selection.recommended_k,
        "ari_seeds": adjusted_rand_score(seg_a.to_numpy(), seg_b.to_numpy()),
        "eta2_segments": val["segments"]["spend_eta2"] if val["status"] == "done" else None,
        "eta2_rfm": val["rfm"]["spend_eta2"] if val["status"] == "done" else None,
        "eta2_personas": (val.get("personas") or {}).get("spend_eta2"),
        "k_past": val["segments"]["groups"] if val["status"] == "done" else None,
        "seconds": time.perf_counter() - t0,
        "names": [s.name for s in a.summary.segments if s.id >= 0],
        "stability": _chosen_stability(a.summary),
        "traits": [f"{s.name} ({s.size}): {s.top_features[0].sentence if s.top_features else '-'}"
                   for s in a.summary.segments if s.id >= 0],
    }


def _chosen_stability(summary) -> list[tuple[float, float]]:
    """(share of the clustered customers, bootstrap Jaccard) of each segment of the chosen
    candidate, largest first (the behavioural segments only in a layered run)."""
    sel = summary.k_selection
    chosen = [c for c in sel.candidates if c.k == sel.recommended_k and c.algorithm == sel.recommended_algorithm]
    if not chosen or not chosen[0].segment_stability:
        return []
    pairs = zip(chosen[0].segment_shares, chosen[0].segment_stability)
    return sorted(((sh or 0.0, st) for sh, st in pairs if st is not None), reverse=True)


def planted_sets() -> list:
    """21 sets: close groups, background noise, strongly unequal spreads, customer-like."""
    sets, seed = [], 200
    for shape in ("round", "heavy", "elongated"):
        for k, d in ((4, 3), (6, 6), (9, 8)):
            seed += 1
            sets.append(planted(seed, k, d, shape=shape, sep=4.5 if shape != "elongated" else 6.0))
    for k, d in ((3, 5), (5, 8), (6, 4), (8, 10)):
        seed += 1
        sets.append(planted(seed, k, d, noise=0.08))
    for k, d in ((4, 6), (6, 8), (3, 3), (5, 10)):
        seed += 1
        sets.append(planted(seed, k, d, spread=0.9, sep=5.0, n=2500))
    for k in (3, 4, 5, 6):
        seed += 1
        sets.append(customers(seed, k))
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdnow", help="path of CDNOW_master.txt")
    parser.add_argument("--skip-planted", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--no-balance-families", action="store_true", help="the switch of the run")
    parser.add_argument("--layers", default="flat", help="comma-separated: flat, lifecycle (one row each)")
    args = parser.parse_args(argv)
    settings = {"balance_families": False} if args.no_balance_families else {}
    rows = []
    for layers in args.layers.split(","):
        if args.cdnow:
            rows.append(real_row(f"CDNOW {layers}", cdnow(args.cdnow), None, None, layers=layers, **settings))
        if not args.skip_demo:
            ev, cu = demo()
            rows.append(real_row(f"demo {layers}", ev, cu, "persona", layers=layers, **settings))
    print(f"{'data':<18}{'k':>3}{'k beh':>6}{'k seed1':>8}{'ARI seeds':>10}{'k past':>7}"
          f"{'η² segments':>12}{'η² RFM':>8}{'η² personas':>12}{'s':>6}")
    for r in rows:
        def f(x):
            return "-" if x is None else f"{x:.3f}"
        print(f"{r['data']:<18}{r['k']:>3}{r['k_behaviour']:>6}{r['k_seed1']:>8}{r['ari_seeds']:>10.3f}"
              f"{str(r['k_past']):>7}{f(r['eta2_segments']):>12}{f(r['eta2_rfm']):>8}{f(r['eta2_personas']):>12}"
              f"{r['seconds']:>6.0f}")
        print("    segments: " + "; ".join(r["names"]))
        print("    stability (share of clustered, bootstrap Jaccard): "
              + ", ".join(f"{sh:.1%} {st:.2f}" for sh, st in r["stability"]))
        for trait in r["traits"]:
            print("      " + trait)
    if not args.skip_planted:
        hits = 0
        sets = planted_sets()
        for ds in sets:
            k = select_k(ds.X, random_state=0).recommended_k
            hits += k == ds.true_k
            print(f"  {ds.name:<34} true {ds.true_k}  chosen {k}")
        print(f"planted: true k on {hits} of {len(sets)} sets")


if __name__ == "__main__":
    sys.exit(main())
