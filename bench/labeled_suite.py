"""A broad labeled suite for the choice of k, and the comparison of selection rules.

Each data set has a known number of groups: planted groups of unequal sizes and spreads,
elongated and heavy-tailed groups, groups in background noise (noise rows are labelled
``-1`` and left out of the ARI), customer-like mixtures of counts, amounts and shares,
scikit-learn's wine and palmerpenguins (both standard-scaled, k = 3).

Run ``python bench/labeled_suite.py`` (with ``PYTHONPATH=src``) to print, per rule, the
share of sets where the chosen k is the true k and the mean ARI at the chosen k. The data
sets and the recovery check live in :mod:`segmentkit.labeled` (the tests use them too).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from segmentkit.labeled import LabeledSet, customers, penguins, planted, rule_choices, wine

__all__ = ["suite", "main"]


def suite(fast: bool = False) -> list[LabeledSet]:
    """The labeled sets; ``fast=True`` gives a small subset for the tests."""
    if fast:
        return [
            planted(1, 4, 5, n=1000),
            planted(2, 6, 8, n=1200, shape="elongated"),
            planted(3, 5, 4, n=1000, shape="heavy"),
            planted(4, 3, 6, n=1000, noise=0.05),
            customers(5, 5, n=1200),
            wine(),
            penguins(),
        ]
    sets: list[LabeledSet] = []
    seed = 100
    for shape in ("round", "elongated", "heavy"):
        for k, d in ((3, 4), (4, 8), (5, 6), (6, 10), (7, 5), (8, 12)):
            seed += 1
            sets.append(planted(seed, k, d, shape=shape, spread=0.5, sep=6.0 if shape != "elongated" else 7.5))
    for k, d in ((3, 5), (5, 8), (6, 4), (8, 10)):
        seed += 1
        sets.append(planted(seed, k, d, noise=0.08))
    for k, d in ((4, 6), (6, 8), (3, 3), (5, 10)):
        seed += 1
        sets.append(planted(seed, k, d, spread=0.9, sep=5.0, n=2500))  # strongly unequal spreads
    for shape in ("round", "heavy", "elongated"):
        for k, d in ((4, 3), (6, 6), (9, 8)):
            seed += 1
            sets.append(planted(seed, k, d, shape=shape, sep=4.5 if shape != "elongated" else 6.0))  # closer groups
    for k in (3, 4, 5, 6, 7, 8):
        seed += 1
        sets.append(customers(seed, k))
    sets += [wine(), penguins()]
    return sets


def _ari_at(algorithm: str, ds: LabeledSet, k: int, seed: int, cache: dict) -> float:
    from segmentkit import algorithms

    key = (algorithm, k)
    if key not in cache:
        lab = algorithms.get(algorithm).fit(ds.X, k=k, random_state=seed).labels
        keep = ds.y != -1
        cache[key] = float(adjusted_rand_score(ds.y[keep], lab[keep]))
    return cache[key]


def main(argv: list[str] | None = None) -> None:
    """Print per rule: share of sets with the true k, mean ARI at the chosen k."""
    from segmentkit.choose_k import select_k

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a small subset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="one line per data set")
    args = parser.parse_args(argv)
    sets = suite(fast=args.fast)
    rules: dict[str, list[tuple[bool, float]]] = {}
    t0 = time.perf_counter()
    for ds in sets:
        sel = select_k(ds.X, random_state=args.seed)
        gsel = select_k(ds.X, algorithm="gmm", n_bootstrap=0, random_state=args.seed)
        cache: dict = {}
        choices = rule_choices(sel, gsel)
        for rule, k in choices.items():
            algo = "gmm" if rule.startswith("bic") else "kmeans"
            rules.setdefault(rule, []).append((k == ds.true_k, _ari_at(algo, ds, k, args.seed, cache)))
        if args.verbose:
            print(f"{ds.name:<34} true {ds.true_k}  " + "  ".join(f"{r[:6]}={k}" for r, k in choices.items()), flush=True)
    print(f"\n{len(sets)} labeled sets, seed {args.seed}, {time.perf_counter() - t0:.0f} s")
    print(f"{'rule':<20} {'true k chosen':>14} {'mean ARI':>9}")
    for rule, res in rules.items():
        hit = np.mean([r[0] for r in res])
        ari = np.mean([r[1] for r in res])
        print(f"{rule:<20} {100 * hit:>13.0f}% {ari:>9.3f}")


if __name__ == "__main__":
    sys.exit(main())
