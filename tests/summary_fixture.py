"""A realistic run summary (the shape of ``summary.json``) for the report's tests."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HOSTILE", "build_summary"]

#: Hostile strings used as category, persona, segment and feature names.
HOSTILE = (
    "<script>alert(1)</script>",
    "</script><img src=x onerror=\"window.__xss=1\">",
    "<!-- x --><b onmouseover=alert(2)>bold</b>",
    "Tom & Jerry \u2028line\u2029sep 'quote\" {a|rich}",
)

_FEATURES = {
    "recency_days": ("days since last purchase", 45.0),
    "frequency_90d": ("orders in the last 90 days", 2.1),
    "frequency_365d": ("orders in the last year", 6.8),
    "monetary_365d": ("spend in the last year", 412.0),
    "aov": ("average order value", 61.0),
    "tenure_days": ("days since first purchase", 720.0),
    "discount_share": ("share of orders with a discount", 0.22),
    "return_rate": ("share of items returned", 0.06),
    "views_per_order": ("product views per order", 14.0),
    "cat_share__electronics": ("share of spend on electronics", 0.18),
    "cat_share__fashion": ("share of spend on fashion", 0.27),
    "cat_share__home": ("share of spend on home", 0.21),
    "cat_share__beauty": ("share of spend on beauty", 0.12),
    "mobile_share": ("share of sessions on mobile", 0.58),
    "spend_trend": ("spend trend (−1 falling, +1 rising)", 0.02),
}

_SEGMENTS = (
    ("Loyal big spenders", "Frequent, recent buyers with high baskets; a fifth of customers, half the value."),
    ("Bargain hunters", "Buy often but mostly on discount, with small baskets."),
    ("Fashion browsers", "Many product views per order, spend concentrated on fashion."),
    ("Lapsed one-timers", "One early purchase, nothing for a year."),
    ("Home makers", "Moderate frequency, spend concentrated on home goods."),
    ("Tech enthusiasts", "High share of electronics, large occasional baskets."),
    ("Beauty regulars", "Small, regular beauty orders on mobile."),
    ("Returners", "High return rate across categories."),
)

_PERSONAS = ("Value seeker", "Trend follower", "Premium loyalist", "Occasional shopper")


def _candidates(rng: np.random.Generator, algorithm: str, k_chosen: int) -> list[dict[str, Any]]:
    out = []
    for alg in (algorithm, "gmm"):
        for k in range(2, 11):
            sil = 0.42 - 0.02 * abs(k - k_chosen) + rng.normal(0, 0.01) - (0.03 if alg == "gmm" else 0)
            min_share = max(0.01, 0.35 / k - 0.004 * k)
            stability = 0.93 - 0.015 * max(0, k - k_chosen) + rng.normal(0, 0.01)
            why_not = []
            if min_share < 0.03:
                why_not.append(f"smallest segment holds {min_share * 100:.1f} % of customers (< 3 %)")
            if stability < 0.85:
                why_not.append(f"stability {stability:.2f} is below 0.85")
            if k < 3:
                why_not.append("fewer than 3 segments is not actionable")
            out.append(
                {
                    "algorithm": alg,
                    "k": k,
                    "silhouette": round(float(sil), 4),
                    "calinski_harabasz": round(float(2400 / k + rng.normal(0, 40)), 1),
                    "davies_bouldin": round(float(1.1 + 0.04 * abs(k - k_chosen) + rng.normal(0, 0.02)), 3),
                    "inertia": round(float(90000 * (k ** -0.8)), 1) if alg != "gmm" else None,
                    "bic": round(float(-52000 + 1500 * abs(k - k_chosen)), 1) if alg == "gmm" else None,
                    "stability": round(float(stability), 3),
                    "segment_stability": [round(float(stability + rng.normal(0, 0.03)), 3) for _ in range(k)],
                    "min_share": round(float(min_share), 4),
                    "distinguishability": round(float(0.9 - 0.02 * k), 3),
                    "eligible": not why_not,
                    "why_not": why_not,
                }
            )
    return out


def build_summary(
    *,
    n_customers: int = 48_213,
    k: int = 5,
    seed: int = 7,
    personas: bool = True,
    attention: bool = True,
    noise: bool = False,
    hostile: bool = False,
    n_map_points: int = 3000,
    with_ids: bool = False,
) -> dict[str, Any]:
    """Build a summary dict shaped like the one a segmentkit run writes.

    Parameters
    ----------
    n_customers : int, optional
        Customers in the run (only counts scale with it; the map stays sampled).
    k : int, optional
        Number of segments (at most 8).
    seed : int, optional
        Seed for the made-up numbers.
    personas : bool, optional
        Include the persona comparison.
    attention : bool, optional
        Give opportunities an attention index.
    noise : bool, optional
        Use a density algorithm with a noise segment (id -1).
    hostile : bool, optional
        Use hostile strings (``<script>`` …) as segment, persona, category and feature names.
    n_map_points : int, optional
        Points in the sampled customer map.
    with_ids : bool, optional
        Put (fake) customer identifiers on the exemplars, as a summary might.

    Returns
    -------
    dict[str, Any]
        The summary, made of plain JSON types.
    """
    rng = np.random.default_rng(seed)
    algorithm = "hdbscan" if noise else "kmeans"
    features = list(_FEATURES)
    labels = {f: lab for f, (lab, _) in _FEATURES.items()}
    names = [n for n, _ in _SEGMENTS[:k]]
    persona_names = list(_PERSONAS)
    regions = ["North", "South", "East", "West"]
    if hostile:
        names[0] = HOSTILE[0]
        names[1] = HOSTILE[1]
        persona_names[0] = HOSTILE[0]
        persona_names[1] = HOSTILE[2]
        regions[0] = HOSTILE[0]
        regions[1] = HOSTILE[3]
        labels["aov"] = HOSTILE[1]

    noise_share = 0.06 if noise else 0.0
    raw = rng.dirichlet(np.full(k, 4.0)) * (1 - noise_share)
    shares = list(raw) + ([noise_share] if noise else [])
    value_raw = np.array(shares) * rng.uniform(0.4, 2.2, len(shares))
    value_shares = value_raw / value_raw.sum()
    ids = list(range(k)) + ([-1] if noise else [])
    n_no_events = int(n_customers * 0.03)
    n_excluded = 112
    n_pool = n_customers - n_no_events - n_excluded
    sizes = [int(round(s * n_pool)) for s in shares]
    n_noise = sizes[-1] if noise else 0
    n_segmented = sum(sizes) - n_noise

    segments = []
    for j, seg_id in enumerate(ids):
        is_noise = seg_id == -1
        idx = {f: float(np.exp(rng.normal(0, 0.45))) for f in features}
        prof_feats = {}
        for f, (_, overall) in _FEATURES.items():
            mean = overall * idx[f]
            prof_feats[f] = {
                "mean": round(mean, 4),
                "median": round(mean * 0.9, 4),
                "index": round(100 * idx[f], 1),
                "effect_size": round(float(np.log(idx[f]) * 1.6), 3),
                "p_adjusted": float(10 ** rng.uniform(-8, -0.5)),
                "significant": bool(abs(np.log(idx[f])) > 0.2),
            }
        top = sorted(features, key=lambda f: -abs(np.log(idx[f])))[:4]
        top_features = [
            {
                "feature": f,
                "segment_mean": prof_feats[f]["mean"],
                "overall_mean": _FEATURES[f][1],
                "index": prof_feats[f]["index"],
                "effect_size": prof_feats[f]["effect_size"],
                "sentence": (
                    f"{labels[f][0].upper()}{labels[f][1:]} is {idx[f]:.1f}× the average"
                    f" ({prof_feats[f]['mean']:,.1f} vs {_FEATURES[f][1]:,.1f})."
                ),
            }
            for f in top
        ]
        region_shares = rng.dirichlet(np.full(len(regions), 3.0))
        attributes = {
            "region": {
                "shares": {r: round(float(s), 4) for r, s in zip(regions, region_shares, strict=True)},
                "overall_shares": {r: 0.25 for r in regions},
                "lift": {r: round(float(s / 0.25), 3) for r, s in zip(regions, region_shares, strict=True)},
                "cramers_v": round(float(rng.uniform(0.02, 0.2)), 3),
            },
            "age": {"mean": round(float(rng.uniform(28, 55)), 1), "median": float(rng.integers(27, 56)), "index": 102.0},
        }
        exemplars = []
        for rank in range(1, 4):
            ex = {
                "rank": rank,
                "features": {f: round(prof_feats[f]["mean"] * float(rng.uniform(0.8, 1.2)), 2) for f in top},
            }
            if with_ids:
                ex["customer_id"] = f"CUST-SECRET-{seg_id}-{rank:04d}"
            exemplars.append(ex)
        segments.append(
            {
                "id": seg_id,
                "name": "Noise" if is_noise else names[j],
                "description": (
                    "Customers the density algorithm left unassigned." if is_noise else _SEGMENTS[j][1]
                ),
                "size": sizes[j],
                "share": round(float(shares[j]), 4),
                "value_share": round(float(value_shares[j]), 4),
                "value_index": round(float(100 * value_shares[j] / shares[j]), 1),
                "is_noise": is_noise,
                "top_features": [] if is_noise else top_features,
                "rules": []
                if is_noise
                else [
                    {
                        "text": f"{top[0]} > {prof_feats[top[0]]['mean'] * 0.8:.2f} and {top[1]} <= {prof_feats[top[1]]['mean'] * 1.3:.2f}",
                        "precision": round(float(rng.uniform(0.7, 0.95)), 3),
                        "coverage": round(float(rng.uniform(0.5, 0.9)), 3),
                    },
                    {
                        "text": f"{top[2]} > {prof_feats[top[2]]['mean'] * 0.7:.2f}",
                        "precision": round(float(rng.uniform(0.5, 0.8)), 3),
                        "coverage": round(float(rng.uniform(0.2, 0.5)), 3),
                    },
                ],
                "exemplars": exemplars,
                "profile": {"features": prof_feats, "attributes": attributes},
            }
        )

    real = [s for s in segments if not s["is_noise"]]
    persona_section = None
    if personas:
        crosstab = {}
        for i, p in enumerate(persona_names):
            w = rng.dirichlet(np.full(len(ids), 0.7))
            total = n_segmented // len(persona_names)
            crosstab[p] = {str(seg_id): int(total * w[j]) for j, seg_id in enumerate(ids)}
        persona_section = {
            "column": "persona",
            "ari": 0.214,
            "ami": 0.263,
            "nmi": 0.271,
            "v_measure": 0.271,
            "crosstab": crosstab,
            "matches": [{"persona": persona_names[2], "segment": 0}],
            "splits": [
                {
                    "persona": persona_names[0],
                    "segments": [1, 3],
                    "shares": [0.58, 0.31],
                    "separating_features": [
                        {
                            "feature": "recency_days",
                            "label": labels["recency_days"],
                            "effect_size": 1.42,
                            "sentence": f"{real[3 % len(real)]['name']} last bought 140 days later on average.",
                        }
                    ],
                    "demographic_similarity": 0.93,
                    "lookalike": True,
                }
            ],
            "merges": [{"segment": 2, "personas": [persona_names[1], persona_names[3]]}],
            "new_segments": [4] if k > 4 else [],
            "dissolved": [persona_names[3]],
            "narrative": (
                f"The {len(persona_names)} personas map onto {k} behavioural segments only loosely "
                f"(ARI 0.21). '{persona_names[0]}' splits into two segments that look alike "
                f"demographically but behave differently; '{persona_names[1]}' and "
                f"'{persona_names[3]}' behave the same."
            ),
        }

    opportunities = []
    for s in real:
        att = round(float(s["value_index"] * rng.uniform(0.5, 1.6)), 3) if attention else None
        gap = None if att is None else round(s["value_index"] - att, 3)
        kind = "balanced"
        if gap is not None and gap > 25:
            kind = "under-served"
        elif gap is not None and gap < -25:
            kind = "over-served"
        opportunities.append(
            {
                "segment": s["id"],
                "name": s["name"],
                "size": s["size"],
                "value_index": s["value_index"],
                "attention_index": att,
                "kind": kind,
                "gap": gap,
                "reason": None
                if att is None
                else f"value index {s['value_index']:.0f} vs attention index {att:.0f}",
            }
        )

    centers = rng.normal(0, 3, size=(len(ids), 2))
    seg_of_point = rng.choice(len(ids), size=n_map_points, p=np.array(shares) / sum(shares))
    xy = centers[seg_of_point] + rng.normal(0, 1, size=(n_map_points, 2))
    points = [[round(float(x), 3), round(float(y), 3), ids[j]] for (x, y), j in zip(xy, seg_of_point, strict=True)]

    notes = ["12 customers had a negative order total; their returns were netted."]
    missing = {"age": 1830, "region": 211}
    if hostile:
        notes.append(HOSTILE[1])
        missing[HOSTILE[0]] = 3
    return {
        "segmentkit_version": "0.1.0",
        "n_customers": n_customers,
        "n_segmented": n_segmented,
        "snapshot_date": "2026-07-01",
        "algorithm": algorithm,
        "k": k,
        "seed": seed,
        "status_counts": {
            "segmented": n_segmented,
            "noise": n_noise,
            "no_events": n_no_events,
            "excluded": n_excluded,
        },
        "features": features,
        "features_skipped": {"cat_share__garden": "fewer than 1 % of customers bought garden goods"},
        "feature_labels": labels,
        "k_selection": {
            "candidates": _candidates(rng, algorithm, k),
            "recommended_k": k,
            "recommended_algorithm": algorithm,
            "reason": (
                f"k = {k} is the largest number of segments whose smallest segment holds at least 3 % "
                "of customers and whose segments are stable (≥ 0.85) across bootstrap resamples."
            ),
            "knee_k": k,
        },
        "segments": segments,
        "surrogate_accuracy": 0.874,
        "personas": persona_section,
        "opportunities": opportunities,
        "data_quality": {
            "events_rows_read": n_customers * 23,
            "customers_rows_read": n_customers,
            "duplicate_events_dropped": 1432,
            "orphan_events": 87,
            "orphan_customers": 5,
            "customers_without_events": n_no_events,
            "returns": 9120,
            "events_after_snapshot": 341,
            "missing_values": missing,
            "imputed": {"age": 1830},
            "dropped_constant_features": ["cat_share__toys"],
            "notes": notes,
        },
        "customer_map": {"method": "pca", "explained_variance": [0.312, 0.174], "points": points},
        "run": {
            "parameters": {
                "algorithm": algorithm,
                "k": "auto",
                "k_range": [2, 10],
                "min_share": 0.03,
                "min_stability": 0.85,
                "seed": seed,
                "snapshot_date": "2026-07-01",
            },
            "inputs": {
                "events": {"name": "events.parquet", "sha256": "9f2c" + "0a1b" * 15, "rows": n_customers * 23},
                "customers": {"name": "customers.csv", "sha256": "41d7" + "c3e8" * 15, "rows": n_customers},
            },
            "versions": {
                "python": "3.12.8",
                "segmentkit": "0.1.0",
                "duckdb": "1.4.1",
                "scikit-learn": "1.7.2",
                "numpy": "2.4.0",
                "pandas": "3.1.0",
            },
        },
    }
