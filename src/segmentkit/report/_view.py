"""Reshape a summary dict into what the templates and charts read.

This module only selects, orders, relabels and formats values that are already in the
summary (``summary.json``); it never recomputes a result. Every optional section may be
missing or ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from segmentkit.report._format import (
    DASH,
    fmt_date,
    fmt_index,
    fmt_ratio,
    fmt_int,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_value,
    get,
)

__all__ = ["MAX_MAP_POINTS", "PALETTE", "NOISE_COLOR", "build_view"]

#: The most customer-map points embedded in one report, whatever the summary holds.
MAX_MAP_POINTS = 5000

#: Segment colours (Tableau 10, colour-blind friendly enough and print-safe).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
)
NOISE_COLOR = "#b0b0b0"

_METRICS = (
    ("silhouette", "Silhouette", "higher is better"),
    ("calinski_harabasz", "Calinski–Harabasz", "higher is better"),
    ("davies_bouldin", "Davies–Bouldin", "lower is better"),
    ("inertia", "Inertia (within-segment spread)", "look for the knee"),
    ("bic", "BIC", "lower is better"),
    ("stability", "Stability (bootstrap agreement)", "higher is better"),
)

_ID_KEYS = ("customer_id", "customer_ids", "id_customer")


def _seq(x: Any) -> list[Any]:
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
        return list(x)
    return []


def _map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _seg_key(seg_id: Any) -> str:
    return str(seg_id)


def _dom_id(seg_id: Any, is_noise: bool) -> str:
    if is_noise:
        return "segment-noise"
    text = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(seg_id))
    return f"segment-{text}"


class _Labels:
    """Plain-words labels for features and names for segment ids."""

    def __init__(self, summary: Mapping[str, Any]) -> None:
        self.features = {str(k): str(v) for k, v in _map(get(summary, "feature_labels")).items()}
        self.segments: dict[str, str] = {}
        for seg in _seq(get(summary, "segments")):
            seg_id = get(seg, "id")
            name = get(seg, "name")
            if name is None:
                name = "Noise" if get(seg, "is_noise", False) else f"Segment {seg_id}"
            self.segments[_seg_key(seg_id)] = str(name)

    def feature(self, name: Any) -> str:
        return self.features.get(str(name), str(name))

    def segment(self, seg_id: Any) -> str:
        key = _seg_key(seg_id)
        if key in self.segments:
            return self.segments[key]
        return "Noise" if key == "-1" else f"Segment {key}"


def _colors(segments: list[Mapping[str, Any]]) -> dict[str, str]:
    colors: dict[str, str] = {}
    i = 0
    for seg in segments:
        key = _seg_key(get(seg, "id"))
        if get(seg, "is_noise", False) or key == "-1":
            colors[key] = NOISE_COLOR
        else:
            colors[key] = PALETTE[i % len(PALETTE)]
            i += 1
    return colors


def _headline(summary: Mapping[str, Any], segments: list[dict[str, Any]]) -> dict[str, Any]:
    personas = get(summary, "personas")
    real = [s for s in segments if not s["is_noise"]]
    n_customers = get(summary, "n_customers")
    k = get(summary, "k", len(real))
    snapshot = get(summary, "snapshot_date")
    lead = f"{fmt_int(k)} segments among {fmt_int(n_customers)} customers"
    if snapshot is not None:
        lead += f", as of {fmt_date(snapshot)}"
    lead += "."
    narrative = get(personas, "narrative")
    status = _map(get(summary, "status_counts"))
    return {
        "lead": lead,
        "narrative": str(narrative) if narrative else None,
        "reason": get(get(summary, "k_selection"), "reason"),
        "stats": [
            ("Segments", fmt_int(k)),
            ("Customers", fmt_int(n_customers)),
            ("Segmented", fmt_int(get(summary, "n_segmented", get(status, "segmented")))),
            ("Snapshot date", fmt_date(snapshot)),
            ("Algorithm", str(get(summary, "algorithm", "—"))),
        ],
        "status": [
            (label, fmt_int(get(status, key)))
            for key, label in (
                ("segmented", "segmented"),
                ("noise", "noise (no segment)"),
                ("no_events", "no events"),
                ("excluded", "excluded"),
            )
            if key in status
        ],
        "chips": [
            {"name": s["name"], "share": s["share_fmt"], "color": s["color"], "dom_id": s["dom_id"]}
            for s in segments
        ],
    }


def _attribute(name: str, attr: Mapping[str, Any]) -> dict[str, Any]:
    shares = get(attr, "shares")
    if isinstance(shares, Mapping):
        overall = _map(get(attr, "overall_shares"))
        lift = _map(get(attr, "lift"))
        levels = sorted(shares.items(), key=lambda kv: -(kv[1] or 0))
        return {
            "name": name,
            "kind": "categorical",
            "cramers_v": fmt_num(get(attr, "cramers_v")),
            "levels": [
                {
                    "level": str(level),
                    "share": fmt_pct(share),
                    "width": f"{max(0.0, min(1.0, float(share or 0))) * 100:.1f}",
                    "overall": fmt_pct(get(overall, level)),
                    "lift": fmt_ratio(get(lift, level)),
                }
                for level, share in levels
            ],
        }
    shown = (("mean", "mean"), ("overall_mean", "overall"), ("median", "median"), ("index", "index"),
             ("effect_size", "effect size"))
    values = [(label, fmt_index(attr[key]) if key == "index" else fmt_value(attr[key]))
              for key, label in shown if get(attr, key) is not None]
    if get(attr, "significant") is not None:
        values.append(("significant", "yes" if get(attr, "significant") else "no"))
    if not values:
        values = [(str(k), fmt_value(v)) for k, v in attr.items() if not isinstance(v, Mapping)]
    return {"name": name, "kind": "numeric", "values": values}


def _brief_number(item: Mapping[str, Any], labels: _Labels) -> tuple[str, str]:
    value, unit = get(item, "value"), get(item, "unit", "number")
    if unit == "share":
        shown = fmt_pct(value)
    elif unit == "index":
        shown = fmt_index(value)
    elif unit == "ratio":
        shown = fmt_num(value) + "×" if value is not None else DASH
    elif unit == "trend":
        shown = f"{float(value):+.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else DASH
    elif unit == "segment":
        shown = labels.segment(value)
    elif unit == "count":
        shown = fmt_num(value, 1)
    else:
        shown = fmt_num(value)
    return str(get(item, "label", get(item, "name", ""))), shown


def _brief(seg: Mapping[str, Any], labels: _Labels) -> dict[str, Any] | None:
    brief = get(seg, "brief")
    if not isinstance(brief, Mapping):
        return None
    return {
        "objective": get(brief, "objective"),
        "lifecycle": get(brief, "lifecycle"),
        "rule": get(brief, "objective_rule"),
        "sentences": [
            {
                "topic": str(get(x, "topic", "")),
                "title": str(get(x, "title", get(x, "topic", ""))),
                "text": str(get(x, "text", "")),
                "overridden": bool(get(x, "overridden", False)),
                "numbers": [_brief_number(_map(n), labels) for n in _seq(get(x, "numbers"))
                            if get(n, "cited", True)],
            }
            for x in _seq(get(brief, "sentences"))
        ],
    }


def _segment(
    seg: Mapping[str, Any], labels: _Labels, colors: Mapping[str, str], show_ids: bool
) -> dict[str, Any]:
    seg_id = get(seg, "id")
    is_noise = bool(get(seg, "is_noise", False)) or _seg_key(seg_id) == "-1"
    profile = _map(get(seg, "profile"))
    exemplars = _seq(get(seg, "exemplars"))
    ex_features: list[str] = []
    for ex in exemplars:
        for name in _map(get(ex, "features")):
            if name not in ex_features:
                ex_features.append(str(name))
    has_ids = show_ids and any(
        any(get(ex, key) is not None for key in _ID_KEYS) for ex in exemplars
    )
    ex_rows = []
    for ex in exemplars:
        feats = _map(get(ex, "features"))
        ident = None
        if has_ids:
            ident = next((get(ex, key) for key in _ID_KEYS if get(ex, key) is not None), None)
        ex_rows.append(
            {
                "rank": fmt_value(get(ex, "rank")),
                "id": fmt_value(ident) if ident is not None else "",
                "values": [fmt_value(feats.get(name)) for name in ex_features],
            }
        )
    profile_rows = []
    for name, stats in _map(get(profile, "features")).items():
        stats = _map(stats)
        profile_rows.append(
            {
                "label": labels.feature(name),
                "name": str(name),
                "mean": fmt_num(get(stats, "mean")),
                "median": fmt_num(get(stats, "median")),
                "index": fmt_index(get(stats, "index")),
                "effect": fmt_num(get(stats, "effect_size")),
                "p": fmt_p(get(stats, "p_adjusted")),
                "significant": bool(get(stats, "significant", False)),
            }
        )
    return {
        "id": seg_id,
        "key": _seg_key(seg_id),
        "dom_id": _dom_id(seg_id, is_noise),
        "name": labels.segment(seg_id),
        "description": get(seg, "description"),
        "is_noise": is_noise,
        "color": colors.get(_seg_key(seg_id), NOISE_COLOR),
        "size": get(seg, "size"),
        "share": get(seg, "share"),
        "value_share": get(seg, "value_share"),
        "value_index": get(seg, "value_index"),
        "size_fmt": fmt_int(get(seg, "size")),
        "share_fmt": fmt_pct(get(seg, "share")),
        "value_share_fmt": fmt_pct(get(seg, "value_share")),
        "value_index_fmt": fmt_index(get(seg, "value_index")),
        "traits": [
            {
                "label": labels.feature(get(t, "feature", "")),
                "sentence": get(t, "sentence"),
                "segment_mean": fmt_num(get(t, "segment_mean")),
                "overall_mean": fmt_num(get(t, "overall_mean")),
                "index": fmt_index(get(t, "index")),
                "effect": fmt_num(get(t, "effect_size")),
            }
            for t in _seq(get(seg, "top_features"))
        ],
        "rules": [
            {
                "text": str(get(r, "text", "")),
                "precision": fmt_pct(get(r, "precision")),
                "coverage": fmt_pct(get(r, "coverage")),
            }
            for r in _seq(get(seg, "rules"))
        ],
        "exemplar_features": [labels.feature(n) for n in ex_features],
        "exemplars": ex_rows,
        "exemplar_ids": has_ids,
        "attributes": [
            _attribute(str(name), _map(attr))
            for name, attr in _map(get(profile, "attributes")).items()
        ],
        "profile": profile_rows,
        "brief": _brief(seg, labels),
    }


def _heatmap(
    summary: Mapping[str, Any], segments: list[dict[str, Any]], labels: _Labels
) -> dict[str, Any] | None:
    raw = {_seg_key(get(s, "id")): s for s in _seq(get(summary, "segments"))}
    features = [str(f) for f in _seq(get(summary, "features"))]
    for s in raw.values():
        for name in _map(get(get(s, "profile"), "features")):
            if str(name) not in features:
                features.append(str(name))
    cells = []
    for xi, seg in enumerate(segments):
        feats = _map(get(get(raw.get(seg["key"]), "profile"), "features"))
        for yi, name in enumerate(features):
            index = get(_map(feats.get(name)), "index")
            if index is None:
                continue
            # colour value is clipped for display only; the label shows the real index
            cells.append([xi, yi, max(0.0, min(200.0, float(index))), fmt_index(index)])
    if not cells:
        return None
    return {
        "segments": [s["name"] for s in segments],
        "features": [labels.feature(f) for f in features],
        "cells": cells,
    }


def _customer_map(
    summary: Mapping[str, Any], segments: list[dict[str, Any]], labels: _Labels,
    colors: Mapping[str, str],
) -> dict[str, Any] | None:
    cmap = get(summary, "customer_map")
    points = _seq(get(cmap, "points"))
    if not points:
        return None
    n_total = len(points)
    if n_total > MAX_MAP_POINTS:  # bound the file whatever the summary holds
        step = n_total / MAX_MAP_POINTS
        points = [points[int(i * step)] for i in range(MAX_MAP_POINTS)]
    order = [s["key"] for s in segments]
    by_seg: dict[str, list[list[float]]] = {}
    for p in points:
        p = _seq(p)
        if len(p) < 3 or p[0] is None or p[1] is None:
            continue
        by_seg.setdefault(_seg_key(p[2]), []).append([round(float(p[0]), 3), round(float(p[1]), 3)])
    keys = [k for k in order if k in by_seg] + sorted(k for k in by_seg if k not in order)
    explained = _seq(get(cmap, "explained_variance"))
    return {
        "method": str(get(cmap, "method", "pca")).upper(),
        "explained": [fmt_pct(v) for v in explained[:2]],
        "n_shown": len(points),
        "n_total": n_total,
        "series": [
            {"name": labels.segment(k), "color": colors.get(k, NOISE_COLOR), "points": by_seg[k]}
            for k in keys
        ],
    }


def _k_selection(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    ks = get(summary, "k_selection")
    candidates = [_map(c) for c in _seq(get(ks, "candidates"))]
    if not isinstance(ks, Mapping):
        return None
    rec_k = get(ks, "recommended_k")
    rec_alg = get(ks, "recommended_algorithm")
    algorithms: list[str] = []
    for c in candidates:
        alg = str(get(c, "algorithm", get(summary, "algorithm", "")))
        if alg not in algorithms:
            algorithms.append(alg)
    metrics = []
    for key, label, better in _METRICS:
        series = []
        for alg in algorithms:
            pts = sorted(
                [
                    [get(c, "k"), float(get(c, key))]
                    for c in candidates
                    if str(get(c, "algorithm", get(summary, "algorithm", ""))) == alg
                    and get(c, key) is not None
                    and get(c, "k") is not None
                ],
                key=lambda kv: kv[0],
            )
            if pts:
                series.append({"algorithm": alg, "points": pts})
        if series:
            metrics.append({"key": key, "label": label, "better": better, "series": series})
    rows = []
    for c in candidates:
        alg = str(get(c, "algorithm", get(summary, "algorithm", "")))
        chosen = get(c, "k") == rec_k and (rec_alg is None or alg == str(rec_alg))
        seg_stab = _seq(get(c, "segment_stability"))
        rows.append(
            {
                "algorithm": alg,
                "k": fmt_int(get(c, "k")),
                "silhouette": fmt_num(get(c, "silhouette")),
                "calinski_harabasz": fmt_num(get(c, "calinski_harabasz")),
                "davies_bouldin": fmt_num(get(c, "davies_bouldin")),
                "stability": fmt_num(get(c, "stability")),
                "segment_stability": ", ".join(fmt_num(v) for v in seg_stab) if seg_stab else "—",
                "min_share": fmt_pct(get(c, "min_share")),
                "distinguishability": fmt_num(get(c, "distinguishability")),
                "eligible": bool(get(c, "eligible", False)),
                "why_not": [str(w) for w in _seq(get(c, "why_not"))],
                "chosen": chosen,
            }
        )
    return {
        "recommended_k": rec_k,
        "recommended_k_fmt": fmt_int(rec_k),
        "recommended_algorithm": rec_alg,
        "knee_k": get(ks, "knee_k"),
        "knee_k_fmt": fmt_int(get(ks, "knee_k")),
        "reason": get(ks, "reason"),
        "metrics": metrics,
        "rows": rows,
    }


def _personas(
    summary: Mapping[str, Any], labels: _Labels, colors: Mapping[str, str]
) -> dict[str, Any] | None:
    pers = get(summary, "personas")
    if not isinstance(pers, Mapping):
        return None
    crosstab = _map(get(pers, "crosstab"))
    persona_names = [str(p) for p in crosstab]
    seg_keys: list[str] = []
    for row in crosstab.values():
        for key in _map(row):
            if str(key) not in seg_keys:
                seg_keys.append(str(key))
    order = [_seg_key(get(s, "id")) for s in _seq(get(summary, "segments"))]
    seg_keys = [k for k in order if k in seg_keys] + [k for k in seg_keys if k not in order]
    cells, nodes, links = [], [], []
    for yi, persona in enumerate(persona_names):
        nodes.append({"name": f"p{yi}", "label": persona, "side": "persona", "color": "#7b8794"})
    for xi, key in enumerate(seg_keys):
        nodes.append(
            {"name": f"s{xi}", "label": labels.segment(key), "side": "segment",
             "color": colors.get(key, NOISE_COLOR)}
        )
    for yi, (persona, row) in enumerate(crosstab.items()):
        row = _map(row)
        for xi, key in enumerate(seg_keys):
            count = row.get(key, row.get(int(key)) if key.lstrip("-").isdigit() else None)
            if count is None:
                continue
            cells.append([xi, yi, count])
            if count:
                links.append({"source": f"p{yi}", "target": f"s{xi}", "value": count})
    metrics = [
        (label, fmt_num(get(pers, key)))
        for key, label in (
            ("ari", "Adjusted Rand index"),
            ("ami", "Adjusted mutual information"),
            ("nmi", "Normalised mutual information"),
            ("v_measure", "V-measure"),
        )
        if get(pers, key) is not None
    ]
    splits = []
    for sp in _seq(get(pers, "splits")):
        seg_ids = _seq(get(sp, "segments"))
        shares = _seq(get(sp, "shares"))
        splits.append(
            {
                "persona": str(get(sp, "persona", "")),
                "segments": [
                    (labels.segment(s), fmt_pct(shares[i]) if i < len(shares) else "—")
                    for i, s in enumerate(seg_ids)
                ],
                "features": [
                    {
                        "label": str(get(f, "label", labels.feature(get(f, "feature", "")))),
                        "sentence": get(f, "sentence"),
                        "effect": fmt_num(get(f, "effect_size")),
                    }
                    for f in _seq(get(sp, "separating_features"))
                ],
                "similarity": fmt_num(get(sp, "demographic_similarity")),
                "lookalike": get(sp, "lookalike"),
            }
        )
    return {
        "column": get(pers, "column"),
        "metrics": metrics,
        "narrative": get(pers, "narrative"),
        "personas": persona_names,
        "segments": [labels.segment(k) for k in seg_keys],
        "cells": cells,
        "nodes": nodes,
        "links": links,
        "matches": [
            (str(get(m, "persona", "")), labels.segment(get(m, "segment")))
            for m in _seq(get(pers, "matches"))
        ],
        "splits": splits,
        "merges": [
            (labels.segment(get(m, "segment")), [str(p) for p in _seq(get(m, "personas"))])
            for m in _seq(get(pers, "merges"))
        ],
        "new_segments": [labels.segment(s) for s in _seq(get(pers, "new_segments"))],
        "dissolved": [str(p) for p in _seq(get(pers, "dissolved"))],
    }


def _opportunities(summary: Mapping[str, Any], labels: _Labels) -> dict[str, Any] | None:
    opps = [_map(o) for o in _seq(get(summary, "opportunities"))]
    if not opps:
        return None
    rows, points = [], []
    for o in opps:
        name = str(get(o, "name", labels.segment(get(o, "segment"))))
        kind = str(get(o, "kind", "balanced"))
        rows.append(
            {
                "name": name,
                "size": fmt_int(get(o, "size")),
                "value_index": fmt_index(get(o, "value_index")),
                "attention_index": fmt_index(get(o, "attention_index")),
                "kind": kind,
                "gap": fmt_num(get(o, "gap")),
                "reason": get(o, "reason"),
            }
        )
        if get(o, "attention_index") is not None and get(o, "value_index") is not None:
            points.append(
                {
                    "name": name,
                    "x": float(get(o, "attention_index")),
                    "y": float(get(o, "value_index")),
                    "size": get(o, "size", 0),
                    "size_fmt": fmt_int(get(o, "size")),
                    "kind": kind,
                }
            )
    return {"rows": rows, "points": points}


def _data_quality(summary: Mapping[str, Any], labels: _Labels) -> dict[str, Any]:
    dq = _map(get(summary, "data_quality"))
    counts = [
        (label, fmt_int(get(dq, key)))
        for key, label in (
            ("events_rows_read", "Event rows read"),
            ("customers_rows_read", "Customer rows read"),
            ("duplicate_events_dropped", "Duplicate events dropped"),
            ("orphan_events", "Events without a known customer (dropped)"),
            ("orphan_customers", "Customers referenced by no row"),
            ("customers_without_events", "Customers without events"),
            ("returns", "Returns"),
            ("events_after_snapshot", "Events after the snapshot date (ignored)"),
        )
        if key in dq
    ]
    return {
        "present": bool(dq),
        "counts": counts,
        "missing": [(str(k), fmt_int(v)) for k, v in _map(get(dq, "missing_values")).items()],
        "imputed": [(labels.feature(k), fmt_int(v)) for k, v in _map(get(dq, "imputed")).items()],
        "dropped_constant": [labels.feature(f) for f in _seq(get(dq, "dropped_constant_features"))],
        "notes": [str(n) for n in _seq(get(dq, "notes"))],
    }


def _method(summary: Mapping[str, Any], labels: _Labels) -> dict[str, Any]:
    run = _map(get(summary, "run"))
    inputs = []
    for table, info in _map(get(run, "inputs")).items():
        info = _map(info)
        inputs.append(
            {
                "table": str(table),
                "name": fmt_value(get(info, "name")),
                "sha256": str(get(info, "sha256", "—")),
                "rows": fmt_int(get(info, "rows")),
            }
        )
    return {
        "features": [(str(f), labels.feature(f)) for f in _seq(get(summary, "features"))],
        "skipped": [(str(k), str(v)) for k, v in _map(get(summary, "features_skipped")).items()],
        "settings": [
            ("Algorithm", fmt_value(get(summary, "algorithm"))),
            ("Number of segments (k)", fmt_int(get(summary, "k"))),
            ("Seed", fmt_value(get(summary, "seed"))),
            ("Snapshot date", fmt_value(get(summary, "snapshot_date"))),
            ("Rule surrogate accuracy", fmt_pct(get(summary, "surrogate_accuracy"))),
            ("segmentkit version", fmt_value(get(summary, "segmentkit_version"))),
        ],
        "parameters": [(str(k), fmt_value(v)) for k, v in _map(get(run, "parameters")).items()],
        "inputs": inputs,
        "versions": [(str(k), fmt_value(v)) for k, v in _map(get(run, "versions")).items()],
    }


def build_view(summary: Mapping[str, Any], *, show_ids: bool = False) -> dict[str, Any]:
    """Build the template context and the chart data from a summary.

    Parameters
    ----------
    summary : Mapping[str, Any]
        The run summary (the ``summary.json`` dict).
    show_ids : bool, optional
        Show customer identifiers where the summary has them (never by default).

    Returns
    -------
    dict[str, Any]
        ``{"ctx": ..., "charts": ...}``: the template context, and the data the inline
        chart script reads (plain JSON types).
    """
    labels = _Labels(summary)
    raw_segments = [_map(s) for s in _seq(get(summary, "segments"))]
    colors = _colors(raw_segments)
    segments = [_segment(s, labels, colors, show_ids) for s in raw_segments]
    holdout = {_seg_key(get(h, "segment_id")): h for h in _seq(get(get(summary, "holdout"), "segments"))}
    for seg in segments:
        plan = holdout.get(seg["key"])
        seg["holdout"] = None if plan is None else {
            "share": fmt_pct(get(plan, "holdout_share")), "testable": bool(get(plan, "testable", False)),
            "reason": str(get(plan, "reason", "")),
        }
    heatmap = _heatmap(summary, segments, labels)
    cmap = _customer_map(summary, segments, labels, colors)
    ks = _k_selection(summary)
    personas = _personas(summary, labels, colors)
    opps = _opportunities(summary, labels)
    charts = {
        "segments": [
            {
                "name": s["name"],
                "color": s["color"],
                "share": s["share"],
                "value_share": s["value_share"],
                "size_fmt": s["size_fmt"],
            }
            for s in segments
        ],
        "heatmap": heatmap,
        "map": cmap,
        "k": ks and {
            "metrics": ks["metrics"],
            "recommended_k": ks["recommended_k"],
            "recommended_algorithm": ks["recommended_algorithm"],
            "knee_k": ks["knee_k"],
        },
        "personas": personas and {
            "personas": personas["personas"],
            "segments": personas["segments"],
            "cells": personas["cells"],
            "nodes": personas["nodes"],
            "links": personas["links"],
        },
        "opportunities": opps and opps["points"],
    }
    ctx = {
        "title": "Segmentation report",
        "version": get(summary, "segmentkit_version"),
        "headline": _headline(summary, segments),
        "segments": segments,
        "heatmap": heatmap is not None,
        "map": cmap,
        "k": ks,
        "personas": personas,
        "opportunities": opps,
        "data_quality": _data_quality(summary, labels),
        "method": _method(summary, labels),
        "show_ids": show_ids,
    }
    return {"ctx": ctx, "charts": charts}
