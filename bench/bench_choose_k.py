"""Speed of the default selection against the plain approach, on 200,000 x 25.

Plain approach: scikit-learn ``KMeans(n_init=10)`` on all rows for every k in 2..10 and an
exact silhouette on 20,000 sampled rows per k; the k with the highest silhouette wins.
segmentkit: ``select_k`` with its defaults (k = 2..10, stability with 10 resamples, every
metric), then the final fit of the recommended k on all rows. Both are timed in the same
run; the script prints the times, the ratio and both choices.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python bench/bench_choose_k.py
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from segmentkit import algorithms
from segmentkit.choose_k import select_k
from segmentkit.labeled import planted


def plain(X: np.ndarray, k_values: range, seed: int) -> tuple[int, dict[int, float]]:
    """KMeans(n_init=10) per k on all rows + exact silhouette on 20,000 rows."""
    sil = {}
    for k in k_values:
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
        sil[k] = float(silhouette_score(X, labels, sample_size=20_000, random_state=seed))
    return max(sil, key=sil.get), sil


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="select_k speed against the plain approach")
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=25)
    parser.add_argument("--k", type=int, default=6, help="planted groups")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    ds = planted(7, args.k, args.d, n=args.n, unequal=True, spread=0.5, sep=6.0)
    X = ds.X
    print(f"data: {X.shape[0]:,} customers x {X.shape[1]} features, {ds.true_k} planted groups of unequal size and spread")

    t = time.perf_counter()
    sel = select_k(X, random_state=args.seed)
    t_sel = time.perf_counter() - t
    t = time.perf_counter()
    final = algorithms.get(sel.recommended_algorithm).fit(X, k=sel.recommended_k, random_state=args.seed)
    t_fit = time.perf_counter() - t
    ours = t_sel + t_fit

    t = time.perf_counter()
    k_plain, sil = plain(X, range(2, 11), args.seed)
    t_plain = time.perf_counter() - t

    print()
    print(f"{'approach':<44} {'seconds':>8} {'chosen k':>9}")
    print(f"{'plain: KMeans(n_init=10) + exact silhouette':<44} {t_plain:>8.1f} {k_plain:>9}")
    print(f"{'segmentkit select_k (sample ' + format(sel.sample_size, ',') + ')':<44} {t_sel:>8.1f} {sel.recommended_k:>9}")
    print(f"{'segmentkit final fit on all rows':<44} {t_fit:>8.1f}")
    print(f"{'segmentkit total':<44} {ours:>8.1f}")
    print()
    print(f"speed-up (plain / segmentkit total): {t_plain / ours:.1f}x  (required >= 10x)")
    print(f"same k: {'yes' if k_plain == sel.recommended_k else 'NO'}; true k {ds.true_k}; "
          f"ARI of the final fit {adjusted_rand_score(ds.y, final.labels):.3f} ({final.details.get('variant')})")
    print(f"reason: {sel.reason}")
    print()
    print(f"{'k':>3} {'plain sil':>10} {'sk sil':>8} {'CH':>10} {'DB':>6} {'stab':>6} {'minJac':>7} {'min share':>9} {'disting':>8}")
    for c in sel.candidates:
        print(f"{c.k:>3} {sil[c.k]:>10.3f} {c.silhouette:>8.3f} {c.calinski_harabasz:>10.0f} {c.davies_bouldin:>6.3f} "
              f"{c.stability:>6.3f} {min(c.segment_stability):>7.3f} {c.min_share:>9.3f} {c.distinguishability:>8.3f}")


if __name__ == "__main__":
    main()
