"""Labeled data sets with known groups, and how well a selection of k recovers them.

Planted groups of unequal sizes and spreads, elongated and heavy-tailed groups, groups in
background noise (noise rows are labelled ``-1`` and left out of the ARI), customer-like
mixtures of counts, amounts and shares, scikit-learn's wine and palmerpenguins (both
standard-scaled, k = 3; palmerpenguins is a test extra). The tests and ``bench/`` use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

__all__ = ["LabeledSet", "check_recovery", "customers", "penguins", "planted", "rule_choices", "wine"]


@dataclass(frozen=True)
class LabeledSet:
    """A matrix with known groups (``-1`` marks background noise)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    true_k: int


def _scale(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _centres(rng: np.random.Generator, k: int, d: int, min_dist: float) -> np.ndarray:
    """k centres in d dimensions, pairwise at least ``min_dist`` apart (rejection sampling)."""
    for _ in range(1000):
        c = rng.uniform(-1.0, 1.0, size=(k, d)) * min_dist * k ** (1 / max(d, 2)) * 1.2
        dist = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1)) + np.eye(k) * 1e9
        if dist.min() >= min_dist:
            return c
    raise RuntimeError("could not place centres")


def _sizes(rng: np.random.Generator, k: int, n: int, unequal: bool) -> np.ndarray:
    w = rng.dirichlet(np.full(k, 2.0)) if unequal else np.full(k, 1.0 / k)
    w = np.maximum(w, 0.05)  # every group holds >= ~5 % (above min_share)
    w = w / w.sum()
    sizes = np.floor(w * n).astype(int)
    sizes[0] += n - sizes.sum()
    return sizes


def planted(seed: int, k: int, d: int, *, n: int = 1500, unequal: bool = True, spread: float = 0.5,
            shape: str = "round", sep: float = 6.0, noise: float = 0.0) -> LabeledSet:
    """Gaussian-like groups; ``shape`` is round, elongated or heavy (Student t, 4 df)."""
    rng = np.random.default_rng(seed)
    centres = _centres(rng, k, d, sep)
    sizes = _sizes(rng, k, n, unequal)
    scales = np.exp(rng.uniform(-spread, spread, size=k)) if spread else np.ones(k)
    parts, labels = [], []
    for g in range(k):
        if shape == "heavy":
            z = rng.standard_t(4, size=(sizes[g], d)) / np.sqrt(2.0)
        else:
            z = rng.standard_normal((sizes[g], d))
        if shape == "elongated":
            A = np.diag(np.r_[2.2, np.full(d - 1, 0.6)])
            Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            z = z @ A @ Q.T
        parts.append(centres[g] + scales[g] * z)
        labels.append(np.full(sizes[g], g))
    X, y = np.vstack(parts), np.concatenate(labels)
    if noise:
        m = int(noise * n)
        lo, hi = X.min(axis=0), X.max(axis=0)
        X = np.vstack([X, rng.uniform(lo, hi, size=(m, d))])
        y = np.r_[y, np.full(m, -1)]
    name = f"{shape}{'-noise' if noise else ''} k={k} d={d} seed={seed}"
    return LabeledSet(name, _scale(X), y, k)


def customers(seed: int, k: int, *, n: int = 2000) -> LabeledSet:
    """Customer-like groups: orders (Poisson), spend (log-normal), recency, category shares.

    Columns are log-transformed counts/amounts and shares, standard-scaled, as the pipeline
    prepares them.
    """
    rng = np.random.default_rng(seed)
    sizes = _sizes(rng, k, n, True)
    n_cat = 4
    parts, labels = [], []
    orders_mu = rng.permutation(np.geomspace(1.5, 40.0, k))
    basket_mu = rng.permutation(np.geomspace(15.0, 250.0, k))
    recency_mu = rng.permutation(np.geomspace(7.0, 300.0, k))
    for g in range(k):
        m = sizes[g]
        orders = rng.poisson(orders_mu[g], m) + 1
        basket = rng.lognormal(np.log(basket_mu[g]), 0.25, m)
        recency = rng.lognormal(np.log(recency_mu[g]), 0.3, m)
        shares = rng.dirichlet(rng.dirichlet(np.ones(n_cat)) * 40.0, m)
        discount = rng.beta(1 + 6 * (g % 3 == 0), 6, m)
        parts.append(np.column_stack([np.log1p(orders), np.log(basket), np.log(recency), shares, discount]))
        labels.append(np.full(m, g))
    return LabeledSet(f"customers k={k} seed={seed}", _scale(np.vstack(parts)), np.concatenate(labels), k)


def wine() -> LabeledSet:
    """scikit-learn's wine, standard-scaled (3 cultivars)."""
    from sklearn.datasets import load_wine

    data = load_wine()
    return LabeledSet("wine", _scale(data.data.astype(float)), data.target.astype(int), 3)


def penguins() -> LabeledSet:
    """palmerpenguins' four measurements, NA rows dropped, standard-scaled (3 species)."""
    from palmerpenguins import load_penguins

    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    df = load_penguins().dropna(subset=cols + ["species"])
    y = np.unique(df["species"].to_numpy(), return_inverse=True)[1]
    return LabeledSet("penguins", _scale(df[cols].to_numpy(dtype=float)), y.astype(int), 3)


def _mode(values: list[int]) -> int:
    vals, counts = np.unique(values, return_counts=True)
    return int(vals[counts == counts.max()].min())  # ties: fewer segments


def rule_choices(sel: Any, gmm_sel: Any | None = None) -> dict[str, int]:
    """k chosen by each single rule from the kmeans candidates (BIC: the gmm ones)."""
    c = [x for x in sel.candidates if x.algorithm == "kmeans"]
    ks = [x.k for x in c]
    sil = max(c, key=lambda x: (x.silhouette, -x.k)).k
    db = min(c, key=lambda x: (x.davies_bouldin, x.k)).k
    ch = max(c, key=lambda x: (x.calinski_harabasz, -x.k)).k
    stab = max(c, key=lambda x: (x.stability, -x.k)).k
    knee = sel.knee_k if sel.knee_k is not None else ks[0]
    out = {"silhouette": sil, "davies_bouldin": db, "calinski_harabasz": ch, "stability": stab, "inertia knee": knee}
    if gmm_sel is not None:
        g = [x for x in gmm_sel.candidates if x.bic is not None]
        out["bic (gmm)"] = min(g, key=lambda x: (x.bic, x.k)).k
    out["majority vote"] = _mode(list(out.values()))
    out["segmentkit"] = sel.recommended_k
    return out


def check_recovery(X: np.ndarray, y_true: np.ndarray, *, algorithm: str = "kmeans", random_state: int = 0,
                   **select_kwargs: Any) -> dict[str, Any]:
    """Run the selection, fit the recommendation on all rows, compare with the truth.

    ``check_recovery(X, y)`` returns
    ``{"recommended_k", "true_k", "ari", "selection"}``; rows with ``y_true == -1`` are
    left out of the ARI and of ``true_k``.
    """
    from segmentkit import algorithms
    from segmentkit.choose_k import select_k

    sel = select_k(X, algorithm=algorithm, random_state=random_state, **select_kwargs)
    fitted = algorithms.get(sel.recommended_algorithm).fit(
        X, k=sel.recommended_k, random_state=random_state,
        **dict(select_kwargs.get("options") or {}), **sel.recommended_params,
    )
    keep = np.asarray(y_true) != -1
    return {
        "recommended_k": sel.recommended_k,
        "true_k": int(np.unique(np.asarray(y_true)[keep]).size),
        "ari": float(adjusted_rand_score(np.asarray(y_true)[keep], fitted.labels[keep])),
        "selection": sel,
    }
