"""Reshape a typed summary into what the templates and charts read.

This module only selects, orders, relabels and formats values that are already in the
summary (:class:`segmentkit.result.Summary`); it never recomputes a result.
"""

from __future__ import annotations

from typing import Any

from segmentkit.report._format import (
    DASH,
    fmt_date,
    fmt_index,
    fmt_int,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_ratio,
    fmt_value,
)
from segmentkit.personas import PersonaSplit, merge_groups, split_groups, split_verb
from segmentkit.result import BriefNumber, CategoricalStat, NumericStat, Segment, Summary

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

_STATUS_LABELS = (
    ("segmented", "segmented"),
    ("noise", "noise (no segment)"),
    ("no_events", "no events"),
    ("excluded", "excluded"),
)

_QUALITY_COUNTS = (
    ("events_rows_read", "Event rows read"),
    ("customers_rows_read", "Customer rows read"),
    ("duplicate_events_dropped", "Duplicate events dropped (equal in every column)"),
    ("duplicate_events_kept", "Duplicate events kept (as asked)"),
    ("catalogue_lines_unknown_product", "Lines whose product the catalogue lacks (category unknown)"),
    ("orphan_events", "Events without a known customer (dropped)"),
    ("orphan_customers", "Customers referenced by no row"),
    ("customers_without_events", "Customers without events"),
    ("customers_excluded", "Customers left out by the exclude rules (staff, test accounts)"),
    ("returns", "Returns"),
    ("events_after_snapshot", "Events after the snapshot date (ignored)"),
)

_AGREEMENT = (
    ("ari", "Adjusted Rand index"),
    ("ami", "Adjusted mutual information"),
    ("nmi", "Normalised mutual information"),
    ("v_measure", "V-measure"),
)

#: Heat-map colours are clipped to this index range for display (the label keeps the index).
_HEAT_MAX = 200.0


def _dom_id(seg: Segment) -> str:
    return "segment-noise" if seg.is_noise else f"segment-{seg.id}"


def _colors(segments: list[Segment]) -> dict[int, str]:
    colors: dict[int, str] = {}
    real = [s for s in segments if not s.is_noise]
    for i, seg in enumerate(real):
        colors[seg.id] = PALETTE[i % len(PALETTE)]
    for seg in segments:
        colors.setdefault(seg.id, NOISE_COLOR)
    return colors


def _segment_name(summary: Summary, segment_id: int) -> str:
    names = summary.segment_names
    return names.get(segment_id, "Noise" if segment_id < 0 else f"Segment {segment_id}")


def _headline(summary: Summary, segments: list[dict[str, Any]]) -> dict[str, Any]:
    lead = f"{fmt_int(summary.k)} segments among {fmt_int(summary.n_customers)} customers"
    if summary.snapshot_date is not None:
        lead += f", as of {fmt_date(summary.snapshot_date)}"
    lead += "."
    status = summary.status_counts
    return {
        "lead": lead,
        "narrative": summary.personas.narrative if summary.personas else None,
        "reason": summary.k_selection.reason,
        "evidence": [x for x in (summary.layers.sentence if summary.layers else None,
                                 summary.layers.baseline if summary.layers else None, summary.structure.sentence,
                                 summary.validation.sentence, summary.feature_families.sentence) if x],
        "stats": [
            ("Segments", fmt_int(summary.k)),
            ("Customers", fmt_int(summary.n_customers)),
            ("Segmented", fmt_int(summary.n_segmented)),
            ("Snapshot date", fmt_date(summary.snapshot_date)),
            ("Algorithm", summary.algorithm),
        ],
        "status": [(label, fmt_int(status[key])) for key, label in _STATUS_LABELS if key in status],
        "chips": [
            {"name": s["name"], "share": s["share_fmt"], "color": s["color"], "dom_id": s["dom_id"]}
            for s in segments
        ],
    }


def _attribute(name: str, attr: NumericStat | CategoricalStat) -> dict[str, Any]:
    if isinstance(attr, CategoricalStat):
        levels = sorted(attr.shares.items(), key=lambda kv: -(kv[1] or 0))
        return {
            "name": name,
            "kind": "categorical",
            "cramers_v": fmt_num(attr.cramers_v),
            "levels": [
                {
                    "level": level,
                    "share": fmt_pct(share),
                    "width": f"{max(0.0, min(1.0, share or 0.0)) * 100:.1f}",
                    "overall": fmt_pct(attr.overall_shares.get(level)),
                    "lift": fmt_ratio(attr.lift.get(level)),
                }
                for level, share in levels
            ],
        }
    values = [
        (label, fmt_index(value) if label == "index" else fmt_value(value))
        for label, value in (("mean", attr.mean), ("overall", attr.overall_mean), ("median", attr.median),
                             ("index", attr.index), ("effect size", attr.effect_size))
        if value is not None
    ]
    values.append(("significant", "yes" if attr.significant else "no"))
    return {"name": name, "kind": "numeric", "values": values}


def _brief_number(item: BriefNumber, summary: Summary) -> tuple[str, str]:
    value, unit = item.value, item.unit
    if unit == "share":
        shown = fmt_pct(value)
    elif unit == "index":
        shown = fmt_index(value)
    elif unit == "ratio":
        shown = fmt_num(value) + "×" if value is not None else DASH
    elif unit == "trend":
        shown = f"{float(value):+.2f}" if value is not None else DASH
    elif unit == "segment":
        shown = _segment_name(summary, int(value)) if value is not None else DASH
    elif unit == "count":
        shown = fmt_num(value, 1)
    else:
        shown = fmt_num(value)
    return item.label, shown


def _brief(seg: Segment, summary: Summary) -> dict[str, Any] | None:
    brief = seg.brief
    if brief is None:
        return None
    return {
        "objective": brief.objective,
        "lifecycle": brief.lifecycle,
        "rule": brief.objective_rule,
        "sentences": [
            {"topic": x.topic, "title": x.title, "text": x.text, "overridden": x.overridden,
             "numbers": [_brief_number(n, summary) for n in x.numbers if n.cited]}
            for x in brief.sentences
        ],
    }


def _holdout(seg: Segment, summary: Summary) -> dict[str, Any] | None:
    plan = next((h for h in summary.holdout.segments if h.segment_id == seg.id), None) if summary.holdout else None
    if plan is None:
        return None
    return {"share": fmt_pct(plan.holdout_share), "testable": plan.testable, "reason": plan.reason}


def _segment(seg: Segment, summary: Summary, colors: dict[int, str]) -> dict[str, Any]:
    ex_features: list[str] = []
    for ex in seg.exemplars:
        ex_features += [name for name in ex.features if name not in ex_features]
    return {
        "id": seg.id,
        "key": str(seg.id),
        "dom_id": _dom_id(seg),
        "name": seg.name,
        "description": seg.description,
        "is_noise": seg.is_noise,
        "color": colors[seg.id],
        "size": seg.size,
        "share": seg.share,
        "value_share": seg.value_share,
        "value_index": seg.value_index,
        "size_fmt": fmt_int(seg.size),
        "share_fmt": fmt_pct(seg.share),
        "value_share_fmt": fmt_pct(seg.value_share),
        "value_index_fmt": fmt_index(seg.value_index),
        "traits": [
            {
                "label": summary.feature_label(t.feature),
                "sentence": t.sentence,
                "segment_mean": fmt_num(t.segment_mean),
                "overall_mean": fmt_num(t.overall_mean),
                "index": fmt_index(t.index),
                "effect": fmt_num(t.effect_size),
            }
            for t in seg.top_features
        ],
        "rules": [
            {"text": r.text, "precision": fmt_pct(r.precision), "coverage": fmt_pct(r.coverage)}
            for r in seg.rules
        ],
        "exemplar_features": [summary.feature_label(n) for n in ex_features],
        "exemplars": [
            {"rank": fmt_value(ex.rank), "values": [fmt_value(ex.features.get(n)) for n in ex_features]}
            for ex in seg.exemplars
        ],
        "attributes": [_attribute(name, attr) for name, attr in seg.profile.attributes.items()],
        "profile": [
            {
                "label": summary.feature_label(name),
                "name": name,
                "mean": fmt_num(st.mean),
                "median": fmt_num(st.median),
                "index": fmt_index(st.index),
                "effect": fmt_num(st.effect_size),
                "p": fmt_p(st.p_adjusted),
                "significant": st.significant,
            }
            for name, st in seg.profile.features.items()
        ],
        "brief": _brief(seg, summary),
        "holdout": _holdout(seg, summary),
        "layer": _layer(seg, summary),
    }


def _layer(seg: Segment, summary: Summary) -> str | None:
    """The segment's layer in a layered run (``None`` when flat, and for noise)."""
    if summary.layers is None or seg.is_noise:
        return None
    group = next((g.group for g in summary.layers.groups if g.id == seg.id), None)
    return f"lifecycle group: {group}" if group else "behavioural segment"


def _heatmap(summary: Summary) -> dict[str, Any] | None:
    features = list(summary.features)
    for seg in summary.segments:
        features += [name for name in seg.profile.features if name not in features]
    cells = []
    for xi, seg in enumerate(summary.segments):
        for yi, name in enumerate(features):
            stat = seg.profile.features.get(name)
            if stat is None or stat.index is None:
                continue
            # colour value is clipped for display only; the label shows the real index
            cells.append([xi, yi, max(0.0, min(_HEAT_MAX, stat.index)), fmt_index(stat.index)])
    if not cells:
        return None
    return {
        "segments": [s.name for s in summary.segments],
        "features": [summary.feature_label(f) for f in features],
        "cells": cells,
    }


def _customer_map(summary: Summary, colors: dict[int, str]) -> dict[str, Any] | None:
    cmap = summary.customer_map
    points = list(cmap.points)
    if not points:
        return None
    n_total = len(points)
    if n_total > MAX_MAP_POINTS:  # bound the file whatever the summary holds
        step = n_total / MAX_MAP_POINTS
        points = [points[int(i * step)] for i in range(MAX_MAP_POINTS)]
    by_seg: dict[int, list[list[float]]] = {}
    for x, y, seg_id in points:
        by_seg.setdefault(seg_id, []).append([round(x, 3), round(y, 3)])
    order = [s.id for s in summary.segments]
    keys = [k for k in order if k in by_seg] + sorted(k for k in by_seg if k not in order)
    return {
        "method": cmap.method.upper(),
        "explained": [fmt_pct(v) for v in cmap.explained_variance[:2]],
        "n_shown": len(points),
        "n_total": n_total,
        "series": [
            {"name": _segment_name(summary, k), "color": colors.get(k, NOISE_COLOR), "points": by_seg[k]}
            for k in keys
        ],
    }


def _k_selection(summary: Summary) -> dict[str, Any]:
    ks = summary.k_selection
    algorithms = list(dict.fromkeys(c.algorithm for c in ks.candidates))
    metrics = []
    for key, label, better in _METRICS:
        series = []
        for alg in algorithms:
            pts = sorted(
                [c.k, getattr(c, key)] for c in ks.candidates
                if c.algorithm == alg and getattr(c, key) is not None
            )
            if pts:
                series.append({"algorithm": alg, "points": pts})
        if series:
            metrics.append({"key": key, "label": label, "better": better, "series": series})
    rows = [
        {
            "algorithm": c.algorithm,
            "k": fmt_int(c.k),
            "silhouette": fmt_num(c.silhouette),
            "calinski_harabasz": fmt_num(c.calinski_harabasz),
            "davies_bouldin": fmt_num(c.davies_bouldin),
            "stability": fmt_num(c.stability),
            "segment_stability": ", ".join(fmt_num(v) for v in c.segment_stability) or DASH,
            "min_share": fmt_pct(c.min_share),
            "distinguishability": fmt_num(c.distinguishability),
            "eligible": c.eligible,
            "why_not": c.why_not,
            "chosen": c.k == ks.recommended_k and c.algorithm == ks.recommended_algorithm,
        }
        for c in ks.candidates
    ]
    return {
        "recommended_k": ks.recommended_k,
        "recommended_k_fmt": fmt_int(ks.recommended_k),
        "recommended_algorithm": ks.recommended_algorithm,
        "knee_k": ks.knee_k,
        "knee_k_fmt": fmt_int(ks.knee_k),
        "reason": ks.reason,
        "metrics": metrics,
        "rows": rows,
    }


def _personas(summary: Summary, colors: dict[int, str]) -> dict[str, Any] | None:
    pers = summary.personas
    if pers is None:
        return None
    persona_names = list(pers.crosstab)
    in_table = {seg_id for row in pers.crosstab.values() for seg_id in row}
    order = [s.id for s in summary.segments]
    seg_ids = [k for k in order if k in in_table] + sorted(k for k in in_table if k not in order)
    nodes = [{"name": f"p{yi}", "label": p, "side": "persona", "color": "#7b8794"}
             for yi, p in enumerate(persona_names)]
    nodes += [{"name": f"s{xi}", "label": _segment_name(summary, k), "side": "segment",
               "color": colors.get(k, NOISE_COLOR)} for xi, k in enumerate(seg_ids)]
    cells, links = [], []
    for yi, row in enumerate(pers.crosstab.values()):
        for xi, seg_id in enumerate(seg_ids):
            if seg_id not in row:
                continue
            cells.append([xi, yi, row[seg_id]])
            if row[seg_id]:
                links.append({"source": f"p{yi}", "target": f"s{xi}", "value": row[seg_id]})
    return {
        "column": pers.column,
        "metrics": [(label, fmt_num(getattr(pers, key))) for key, label in _AGREEMENT
                    if getattr(pers, key) is not None],
        "narrative": pers.narrative,
        "personas": persona_names,
        "segments": [_segment_name(summary, k) for k in seg_ids],
        "cells": cells,
        "nodes": nodes,
        "links": links,
        "matches": [(m.persona, _segment_name(summary, m.segment)) for m in pers.matches],
        # personas split the same way, or merging in the same segments, are one finding, as in the narrative
        "splits": [_split_view(summary, group) for group in split_groups(pers.splits)],
        # a layered run's splits are among the behavioural segments (the narrative gives the groups)
        "split_basis": ("Shares of each persona's members in the behavioural segments; its members in the "
                        "lifecycle groups are counted in the narrative above.") if summary.layers else None,
        "merges": [([_segment_name(summary, m.segment) for m in group], list(group[0].personas))
                   for group in merge_groups(pers.merges)],
        "new_segments": [_segment_name(summary, s) for s in pers.new_segments],
        "dissolved": list(pers.dissolved),
    }


def _split_view(summary: Summary, group: list[PersonaSplit]) -> dict[str, Any]:
    """Personas split the same way: each segment with every persona's share (one when they
    read the same), the separating features once when they read the same, else by persona."""
    def same(values: list[str]) -> str:
        return values[0] if len(set(values)) == 1 else " / ".join(values)

    def features(sp: PersonaSplit, who: str) -> list[dict[str, Any]]:
        return [{"label": f.label, "sentence": f.sentence, "effect": fmt_num(f.effect_size), "persona": who}
                for f in sp.separating_features]

    first = group[0]
    shared = all([f.sentence for f in sp.separating_features] == [f.sentence for f in first.separating_features]
                 for sp in group)
    return {
        "persona": " and ".join(sp.persona for sp in group),
        "verb": split_verb(len(group)),
        "segments": [(_segment_name(summary, s), same([fmt_pct(sp.shares.get(s)) for sp in group]))
                     for s in first.segments],
        "features": (features(first, "") if shared or len(group) == 1
                     else [f for sp in group for f in features(sp, sp.persona)]),
        "similarity": same([fmt_num(sp.demographic_similarity) for sp in group]),
        "lookalike": first.lookalike,
    }


def _opportunities(summary: Summary) -> dict[str, Any] | None:
    if not summary.opportunities:
        return None
    rows, points = [], []
    for o in summary.opportunities:
        rows.append({
            "name": o.name,
            "size": fmt_int(o.size),
            "value_index": fmt_index(o.value_index),
            "attention_index": fmt_index(o.attention_index),
            "kind": o.kind,
            "gap": fmt_num(o.gap),
            "reason": o.reason,
        })
        if o.attention_index is not None and o.value_index is not None:
            points.append({"name": o.name, "x": o.attention_index, "y": o.value_index, "size": o.size,
                           "size_fmt": fmt_int(o.size), "kind": o.kind})
    return {"rows": rows, "points": points}


def _data_quality(summary: Summary) -> dict[str, Any]:
    dq = summary.data_quality
    return {
        "present": True,
        "counts": [(label, fmt_int(getattr(dq, key))) for key, label in _QUALITY_COUNTS
                   if getattr(dq, key) is not None],
        "missing": [(k, fmt_int(v)) for k, v in (dq.missing_values or {}).items()],
        "imputed": [(summary.feature_label(k), fmt_int(v)) for k, v in dq.imputed.items()],
        "dropped_constant": [summary.feature_label(f) for f in dq.dropped_constant_features],
        "notes": list(dq.notes),
    }


def _category_levels(summary: Summary) -> dict[str, Any] | None:
    """Which category levels became features, and why (``summary.category_levels``)."""
    cl = summary.category_levels
    if cl is None:
        return None
    return {
        "rule": cl.rule,
        "found": fmt_int(cl.levels_found),
        "other": fmt_int(cl.folded_into_other),
        "fees": list(cl.left_out_as_fees),
        "kept": [(k.level, fmt_int(k.customers), fmt_pct(k.customer_share), fmt_pct(k.spend_share)) for k in cl.kept],
    }


def _method(summary: Summary) -> dict[str, Any]:
    run = summary.run
    return {
        "features": [(f, summary.feature_label(f)) for f in summary.features],
        "skipped": list(summary.features_skipped.items()),
        "profile_skipped": list(summary.profile_skipped.items()),
        "categories": _category_levels(summary),
        "settings": [
            ("Algorithm", summary.algorithm),
            ("Number of segments (k)", fmt_int(summary.k)),
            ("Seed", fmt_value(summary.seed)),
            ("Snapshot date", fmt_value(summary.snapshot_date)),
            ("Rule surrogate accuracy", fmt_pct(summary.surrogate_accuracy)),
            ("segmentkit version", summary.segmentkit_version),
        ],
        "parameters": [(k, fmt_value(v)) for k, v in run.parameters.items()],
        "inputs": [
            {"table": table, "name": info.name, "sha256": info.sha256 or DASH, "rows": fmt_int(info.rows)}
            for table, info in run.inputs.items()
        ],
        "versions": list(run.versions.items()),
    }


def build_view(summary: Summary) -> dict[str, Any]:
    """Build the template context and the chart data from a summary.

    Parameters
    ----------
    summary : Summary
        The run summary (typed; :meth:`Summary.read` reads a ``summary.json``).

    Returns
    -------
    dict[str, Any]
        ``{"ctx": ..., "charts": ...}``: the template context, and the data the inline
        chart script reads (plain JSON types).
    """
    colors = _colors(summary.segments)
    segments = [_segment(s, summary, colors) for s in summary.segments]
    heatmap = _heatmap(summary)
    cmap = _customer_map(summary, colors)
    ks = _k_selection(summary)
    personas = _personas(summary, colors)
    opps = _opportunities(summary)
    charts = {
        "segments": [
            {"name": s["name"], "color": s["color"], "share": s["share"], "value_share": s["value_share"],
             "size_fmt": s["size_fmt"]}
            for s in segments
        ],
        "heatmap": heatmap,
        "map": cmap,
        "k": {
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
        "version": summary.segmentkit_version,
        "headline": _headline(summary, segments),
        "segments": segments,
        "heatmap": heatmap is not None,
        "map": cmap,
        "k": ks,
        "personas": personas,
        "opportunities": opps,
        "data_quality": _data_quality(summary),
        "method": _method(summary),
    }
    return {"ctx": ctx, "charts": charts}
