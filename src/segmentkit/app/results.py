"""The report's charts and segment cards, drawn on the app's page.

Everything here reads the view the HTML report is rendered from
(:func:`segmentkit.report.build_view`): the same values, formatted the same way, and
only laid out for Streamlit (charts as Vega-Lite specifications). Nothing is computed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

__all__ = ["show_charts", "show_cards", "show_personas", "show_opportunities", "show_k_charts",
           "show_data_quality"]

#: The heat map's colour scale: index 0 (far below the average customer) to 200 (far
#: above), as in the report (its view clips the colour value to this range).
HEAT_DOMAIN = [0, 100, 200]
HEAT_RANGE = ["#2166ac", "#f7f7f7", "#b2182b"]
#: The persona table's colours, from no customers to the most (light, so counts stay legible).
COUNT_RANGE = ["#f5f7fa", "#7fa6cf"]
#: Opportunity kinds' colours, as in the report.
KIND_COLORS = {"under-served": "#d62728", "over-served": "#1f77b4", "balanced": "#8c8c8c"}
#: Pixels per row of a heat map.
ROW_HEIGHT = 24
#: Pixels of an axis or legend label before it is cut short (segment names are short
#: phrases; feature labels a few words).
LABEL_LIMIT = 320


def _chart(spec: dict[str, Any], key: str) -> None:
    st.vega_lite_chart(None, {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", **spec},
                       width="stretch", key=key)


def _grid_chart(cells: list[dict[str, Any]], segments: list[str], row_field: str, rows: list[str],
                text_field: str, colour: dict[str, Any], key: str) -> None:
    """A segments × rows grid of coloured cells with their values written in (the feature
    heat map, the personas' crosstab)."""
    encoding = {"x": {"field": "segment", "type": "nominal", "sort": segments, "title": None,
                      "axis": {"labelAngle": -30, "orient": "top", "labelLimit": LABEL_LIMIT,
                               "labelOverlap": False}},
                "y": {"field": row_field, "type": "nominal", "sort": rows, "title": None,
                      "axis": {"labelLimit": LABEL_LIMIT}}}
    _chart({
        "data": {"values": cells},
        "height": {"step": ROW_HEIGHT},
        "layer": [
            {"mark": {"type": "rect", "tooltip": True}, "encoding": {**encoding, "color": colour}},
            {"mark": {"type": "text", "fontSize": 10}, "encoding": {**encoding, "text": {"field": text_field}}},
        ],
    }, key)


def _segment_colors(segments: list[dict[str, Any]]) -> dict[str, Any]:
    return {"domain": [s["name"] for s in segments], "range": [s["color"] for s in segments]}


def show_charts(view: dict[str, Any]) -> None:
    """Size against value, and the feature heat map."""
    charts, segments = view["charts"], view["ctx"]["segments"]
    st.markdown("#### Segments at a glance")
    rows = [{"segment": s["name"], "measure": measure, "share": s[key] * 100}
            for s in charts["segments"] for measure, key in (("Share of customers", "share"),
                                                               ("Share of value", "value_share"))
            if s[key] is not None]
    _chart({
        "data": {"values": rows},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "segment", "type": "nominal", "sort": [s["name"] for s in segments], "title": None,
                  "axis": {"labelLimit": LABEL_LIMIT}},
            "yOffset": {"field": "measure"},
            "x": {"field": "share", "type": "quantitative", "title": "% of customers / % of value"},
            "color": {"field": "measure", "type": "nominal", "title": None,
                      "scale": {"range": ["#9fb3c8", "#f28e2b"]}, "legend": {"orient": "top"}},
        },
        "height": {"step": 14},
    }, "chart_size_value")
    st.caption("Share of customers vs share of value, per segment.")
    heat = charts["heatmap"]
    if heat:
        cells = [{"segment": heat["segments"][x], "feature": heat["features"][y], "colour": c, "index": label}
                 for x, y, c, label in heat["cells"]]
        _grid_chart(cells, heat["segments"], "feature", heat["features"], "index",
                    {"field": "colour", "type": "quantitative", "title": "index",
                     "scale": {"domain": HEAT_DOMAIN, "range": HEAT_RANGE}}, "chart_heatmap")
        st.caption("Feature index per segment (100 = the average customer; blue is below, red above; "
                   "colours capped at 0 and 200).")
    cmap = charts["map"]
    if cmap:
        st.markdown("#### The customer map")
        points = [{"segment": s["name"], "x": x, "y": y} for s in cmap["series"] for x, y in s["points"]]
        _chart({
            "data": {"values": points},
            "mark": {"type": "circle", "size": 14, "opacity": 0.6},
            "encoding": {
                "x": {"field": "x", "type": "quantitative", "title": f"{cmap['method']} 1 ({cmap['explained'][0]})"
                      if cmap["explained"] else "1", "scale": {"zero": False}},
                "y": {"field": "y", "type": "quantitative", "title": f"{cmap['method']} 2" +
                      (f" ({cmap['explained'][1]})" if len(cmap["explained"]) > 1 else ""),
                      "scale": {"zero": False}},
                "color": {"field": "segment", "type": "nominal", "title": None,
                          "scale": {"domain": [s["name"] for s in cmap["series"]],
                                    "range": [s["color"] for s in cmap["series"]]},
                          "legend": {"orient": "top", "columns": 3, "labelLimit": LABEL_LIMIT}},
            },
            "height": 380,
        }, "chart_map")
        shown = "" if cmap["n_shown"] == cmap["n_total"] else f" ({cmap['n_shown']:,} of {cmap['n_total']:,} shown)"
        st.caption(f"Each dot a customer{shown}, placed by the two directions that spread the customers most; "
                   "near dots behave alike.")


def show_cards(view: dict[str, Any]) -> None:
    """One card per segment: its numbers, brief, traits, rules and demographic make-up."""
    st.markdown("#### The segments")
    for i, s in enumerate(view["ctx"]["segments"]):
        title = f"{s['name']} · {s['size_fmt']} customers · {s['share_fmt']}"
        with st.expander(title + (" (not a segment)" if s["is_noise"] else ""), expanded=i == 0):
            if s["description"]:
                st.write(s["description"])
            for column, (label, value) in zip(st.columns(4), (
                    ("Customers", s["size_fmt"]), ("Share of customers", s["share_fmt"]),
                    ("Share of value", s["value_share_fmt"]), ("Value index", s["value_index_fmt"]))):
                column.metric(label, value)
            brief = s["brief"]
            if brief:
                st.markdown(f"**Brief:** {brief['objective']}" + (f" · {brief['lifecycle']}" if brief["lifecycle"] else ""))
                for b in brief["sentences"]:
                    st.markdown(f"**{b['title']}.** {b['text']}" + (" *(edited)*" if b["overridden"] else ""))
                    if b["numbers"]:
                        st.caption(" · ".join(f"{label}: {value}" for label, value in b["numbers"]))
                if brief["rule"]:
                    st.caption(f"Objective rule: {brief['rule']}.")
            if s["holdout"]:
                st.caption(f"Holdout: {s['holdout']['share']} — {s['holdout']['reason']}.")
            left, right = st.columns(2)
            if s["traits"]:
                left.markdown("**Top traits**\n" + "\n".join(
                    f"- {t['sentence'] or t['label'] + ': ' + t['segment_mean'] + ' vs ' + t['overall_mean'] + ' overall'}"
                    f" ({t['index']})" for t in s["traits"]))
            if s["rules"]:
                left.markdown("**How to recognise them**")
                left.table(pd.DataFrame([{"rule": r["text"], "precision": r["precision"],
                                         "coverage": r["coverage"]} for r in s["rules"]]).set_index("rule"))
            if s["attributes"]:
                right.markdown("**Demographic make-up**")
                for a in s["attributes"]:
                    if a["kind"] == "categorical":
                        right.table(pd.DataFrame([{a["name"]: lv["level"], "here": lv["share"],
                                                  "overall": lv["overall"], "lift": lv["lift"]}
                                                 for lv in a["levels"]]).set_index(a["name"]))
                    else:
                        right.markdown(f"**{a['name']}:** " + " · ".join(f"{k} {v}" for k, v in a["values"]))


def show_personas(view: dict[str, Any]) -> None:
    """How the client's personas fall into the segments."""
    personas, chart = view["ctx"]["personas"], view["charts"]["personas"]
    if personas is None:
        return
    st.markdown(f"#### Against the client's personas ('{personas['column']}')")
    st.write(personas["narrative"])
    if personas["metrics"]:
        st.caption(" · ".join(f"{label} {value}" for label, value in personas["metrics"]))
    cells = [{"segment": chart["segments"][x], "persona": chart["personas"][y], "customers": n}
             for x, y, n in chart["cells"]]
    _grid_chart(cells, chart["segments"], "persona", chart["personas"], "customers",
                {"field": "customers", "type": "quantitative", "scale": {"range": COUNT_RANGE}}, "chart_personas")
    st.caption("Customers of each persona (rows) in each segment (columns).")


def show_opportunities(view: dict[str, Any]) -> None:
    """Value against marketing attention, per segment."""
    opps = view["ctx"]["opportunities"]
    if opps is None:
        return
    st.markdown("#### Value and marketing attention")
    if opps["points"]:
        kinds = sorted({p["kind"] for p in opps["points"]})
        _chart({
            "data": {"values": opps["points"]},
            "layer": [
                {"mark": {"type": "circle", "opacity": 0.8, "tooltip": True},
                 "encoding": {
                     "x": {"field": "x", "type": "quantitative", "title": "attention index (100 = average)"},
                     "y": {"field": "y", "type": "quantitative", "title": "value index (100 = average)"},
                     "size": {"field": "size", "type": "quantitative", "title": "customers"},
                     "color": {"field": "kind", "type": "nominal", "title": None,
                               "scale": {"domain": kinds, "range": [KIND_COLORS.get(k, "#8c8c8c") for k in kinds]}},
                 }},
                {"mark": {"type": "text", "dy": -12, "fontSize": 10},
                 "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"},
                              "text": {"field": "name"}}},
            ],
            "height": 320,
        }, "chart_opportunities")
    for row in opps["rows"]:
        if row["kind"] != "balanced":
            st.markdown(f"- **{row['kind']}**: {row['reason']}")


def show_k_charts(view: dict[str, Any]) -> None:
    """How each diagnostic changes with the number of segments; the chosen one marked."""
    k = view["charts"]["k"]
    rows = [{"diagnostic": f"{m['label']} ({m['better']})", "algorithm": s["algorithm"], "k": x, "value": y}
            for m in k["metrics"] for s in m["series"] for x, y in s["points"]]
    if not rows:
        return
    _chart({
        "data": {"values": rows},
        "facet": {"field": "diagnostic", "type": "nominal", "title": None,
                  "sort": [f"{m['label']} ({m['better']})" for m in k["metrics"]]},
        "columns": 3,
        "spec": {
            "width": 230, "height": 140,
            "layer": [
                {"mark": {"type": "line", "point": True, "tooltip": True},
                 "encoding": {"x": {"field": "k", "type": "quantitative", "title": "segments",
                                    "axis": {"tickMinStep": 1}},
                              "y": {"field": "value", "type": "quantitative", "title": None,
                                    "scale": {"zero": False}},
                              "color": {"field": "algorithm", "type": "nominal",
                                        "legend": {"orient": "top", "title": None}}}},
                {"mark": {"type": "rule", "strokeDash": [4, 3], "color": "#555"},
                 "encoding": {"x": {"datum": k["recommended_k"]}}},
            ],
        },
        "resolve": {"scale": {"y": "independent"}},
    }, "chart_k")
    st.caption(f"The dashed line: the number chosen ({view['ctx']['k']['recommended_k_fmt']}).")


def show_data_quality(view: dict[str, Any]) -> None:
    """What was read, dropped and filled in, and the run's notes."""
    dq = view["ctx"]["data_quality"]
    with st.expander("Data quality: what was read, dropped and filled in", expanded=False):
        st.dataframe(pd.DataFrame(dq["counts"], columns=["", "rows"]), hide_index=True)
        for note in dq["notes"]:
            st.markdown(f"- {note}")
