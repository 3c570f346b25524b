"""Briefs per segment: every sentence cites profile numbers, objectives follow planted
behaviour, and users can replace any sentence in segment_names.toml."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from segmentkit import Segmentation
from segmentkit.briefs import (
    LAPSED_GAPS,
    TOPICS,
    build_briefs,
    lifecycle_state,
    parse_brief_overrides,
)
from segmentkit.cli import app
from segmentkit.datasets import PLANTED_SEGMENTS, make_demo, write_demo
from segmentkit.features import FeatureSpec
from segmentkit.report import render_markdown
from segmentkit.result import Summary

from planted import planted_of


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = make_demo(2000, seed=0)
    paths = write_demo(tmp_path_factory.mktemp("briefs"), data)
    result = Segmentation(random_state=0, n_bootstrap=3, persona_column="persona",
                          attention_column="marketing_touches").fit(
        customers=paths["customers"], events=paths["events"])
    return data, paths, result


_NUMBER = re.compile(r"([+\-−]?\d[\d,]*(?:\.\d+)?)\s*(%|×)?")


def _tokens(text: str) -> list[tuple[float, float]]:
    """Numbers written in a sentence with their rounding (percentages become fractions)."""
    out = []
    for raw, unit in _NUMBER.findall(text):
        v = float(raw.replace(",", "").replace("−", "-"))
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        tol = 0.5 * 10 ** -decimals + 1e-9
        out.append((v / 100, tol / 100) if unit == "%" else (v, tol))
    return out


def _shown(value: float, tokens: list[tuple[float, float]]) -> bool:
    """The value appears in the text, as rounded for display (sign may be written apart)."""
    return any(abs(t - value) <= tol or abs(abs(t) - abs(value)) <= tol for t, tol in tokens)


def test_every_sentence_cites_the_profile_numbers_it_shows(demo):
    _, _, result = demo
    summary = result.summary.to_dict()
    frame = result.features.frame
    by_id = {s["id"]: s for s in summary["segments"]}
    n_checked = 0
    for seg in summary["segments"]:
        brief = seg["brief"]
        assert brief is not None
        assert [s["topic"] for s in brief["sentences"]] == list(TOPICS)  # the demo has every topic
        feats = seg["profile"]["features"]
        for sentence in brief["sentences"]:
            numbers = {n["name"]: n["value"] for n in sentence["numbers"]}
            assert numbers, sentence
            tokens = _tokens(sentence["text"])
            target = by_id.get(numbers.get("target_id"))
            for name, value in numbers.items():
                # 1. the number is the profile's
                if name in ("size", "share", "value_share", "value_index", "value_mean"):
                    expected = seg[name]
                elif name == "target_value_mean":
                    expected = target["value_mean"]
                elif name == "target_id":
                    assert sentence["topic"] == "move_up" and target["value_mean"] > seg["value_mean"]
                    continue
                elif name == "median_recency_days":
                    expected = feats["recency_days"]["median"]
                elif name == "median_tenure_days":
                    expected = feats["tenure_days"]["median"]
                elif name == "usual_gap_days":  # the segment's median, or everyone's for one-timers
                    own = feats["orders"]["median"] >= 2
                    expected = feats["gap_mean_days"]["median" if own else "overall_median"]
                elif name == "gaps_since_last_order":
                    expected = feats["recency_days"]["median"] / (feats["gap_mean_days"]["median" if feats["orders"]["median"] >= 2 else "overall_median"])
                elif name.endswith("_overall"):
                    expected = feats[name[: -len("_overall")]]["overall_mean"]
                elif name.endswith("_target"):
                    expected = target["profile"]["features"][name[: -len("_target")]]["mean"]
                elif name.endswith("_sd"):  # the spread of all customers, computed here
                    expected = float(np.nanstd(frame[name[: -len("_sd")]].to_numpy()))  # missing left out
                    assert value == pytest.approx(expected, rel=1e-5, abs=1e-6), (seg["name"], name)
                    continue  # used to rank levers, not written in the sentence
                elif name.endswith("_index"):
                    expected = feats[name[: -len("_index")]]["index"] if name != "value_index" else seg[name]
                else:
                    expected = feats[name]["mean"]
                assert value == pytest.approx(expected, rel=1e-5, abs=1e-6), (seg["name"], name)
                # 2. the sentence shows it
                assert _shown(value, tokens), (sentence["text"], name, value)
                n_checked += 1
    assert n_checked > 150


def test_move_up_lever_is_the_next_segment_up_and_its_largest_differences(demo):
    _, _, result = demo
    segs = [s for s in result.summary.to_dict()["segments"] if not s["is_noise"]]
    frame = result.features.frame
    for seg in segs:
        higher = [t for t in segs if t["value_mean"] > seg["value_mean"]]
        lever = next(x for x in seg["brief"]["sentences"] if x["topic"] == "move_up")
        if not higher:
            assert seg["brief"]["move_up_to"] is None and "highest" in lever["text"]
            continue
        up = min(higher, key=lambda t: t["value_mean"])
        assert seg["brief"]["move_up_to"] == up["id"]
        assert up["name"] in lever["text"]
        # the three features furthest apart in overall standard deviations (spend itself and
        # days since first seen are no levers)
        gaps = {}
        for name in frame.columns:
            if name in ("monetary", "tenure_days"):
                continue
            a = seg["profile"]["features"][name]["mean"]
            b = up["profile"]["features"][name]["mean"]
            gaps[name] = abs(b - a) / frame[name].std(ddof=0)
        top3 = sorted(gaps, key=lambda n: -gaps[n])[:3]
        cited = [n["name"] for n in lever["numbers"] if n["name"] in frame.columns]
        assert cited == top3


def test_objectives_follow_the_planted_behaviour(demo):
    data, _, result = demo
    planted = planted_of(result, data.truth)
    objective = {PLANTED_SEGMENTS[p]: next(s["brief"] for s in result.summary.to_dict()["segments"] if s["id"] == sid)
                 for sid, p in planted.items()}
    # window shoppers: many views, few orders -> convert browsers
    assert objective["Window shoppers"]["objective"] == "convert browsers"
    # lapsed occasional: last purchase far beyond their usual gap, low value -> reactivate
    assert objective["Lapsed occasional"]["objective"] == "reactivate"
    assert objective["Lapsed occasional"]["lifecycle"] == "lapsed"
    # valuable, buying on rhythm -> retain; others on rhythm -> grow
    assert objective["High-value connoisseurs"]["objective"] == "retain"
    assert objective["Weekly regulars"]["objective"] == "retain"
    assert objective["Discount hunters"]["objective"] == "grow"
    lapsed = next(x for x in objective["Lapsed occasional"]["sentences"] if x["topic"] == "objective")
    fired = {n["name"]: n["value"] for n in lapsed["numbers"]}
    assert fired["gaps_since_last_order"] >= LAPSED_GAPS and fired["value_index"] < 100
    price = next(x for x in objective["Discount hunters"]["sentences"] if x["topic"] == "price")
    assert "price-sensitive" in price["text"]


def _segment(sid, *, recency, gap, tenure, orders_median=5.0, value_index=100.0, views_index=100.0,
             orders_index=100.0):
    def num(mean, median=None, overall=1.0, index=None):
        return {"mean": mean, "median": mean if median is None else median, "overall_mean": overall,
                "overall_median": overall, "index": index}

    return {
        "id": sid, "name": f"S{sid}", "size": 100, "share": 0.25, "value_share": 0.25,
        "value_index": value_index, "value_mean": value_index, "is_noise": False,
        "profile": {"features": {
            "recency_days": num(recency), "gap_mean_days": num(gap, overall=30.0),
            "tenure_days": num(tenure), "orders": num(orders_median, index=orders_index),
            "views_per_order": num(3.0, index=views_index),
        }},
    }


@pytest.mark.parametrize(
    ("kw", "lifecycle", "objective"),
    [
        (dict(recency=20, gap=30, tenure=40), "new", "grow"),
        (dict(recency=20, gap=30, tenure=400, value_index=250), "active", "retain"),
        (dict(recency=20, gap=30, tenure=400, value_index=40), "active", "grow"),
        (dict(recency=60, gap=30, tenure=400, value_index=40), "at risk", "retain"),  # 2 gaps
        (dict(recency=120, gap=30, tenure=400, value_index=40), "lapsed", "reactivate"),  # 4 gaps
        (dict(recency=120, gap=30, tenure=400, value_index=180), "lapsed", "win back"),
        (dict(recency=20, gap=30, tenure=400, views_index=300, orders_index=20), "active", "convert browsers"),
        # one-time buyers: their own median gap (600) describes a minority; everyone's (30) is used
        (dict(recency=200, gap=600, tenure=400, orders_median=1.0, value_index=40), "lapsed", "reactivate"),
    ],
)
def test_objective_rules(kw, lifecycle, objective):
    specs = {n: FeatureSpec(n, k, n) for n, k in (("recency_days", "days"), ("gap_mean_days", "days"),
                                                  ("tenure_days", "days"), ("orders", "count"),
                                                  ("views_per_order", "ratio"))}
    brief = build_briefs([_segment(0, **kw)], specs, {})[0]
    assert (brief.lifecycle, brief.objective) == (lifecycle, objective)
    assert brief.sentence("objective").text.startswith(f"Suggested objective: {objective}, because")


def test_lifecycle_thresholds():
    assert lifecycle_state(None, 30, 400) is None
    assert lifecycle_state(44.9, 30, 400) == "active"  # < 1.5 gaps
    assert lifecycle_state(45, 30, 400) == "at risk"  # 1.5 gaps
    assert lifecycle_state(90, 30, 400) == "lapsed"  # 3 gaps
    assert lifecycle_state(90, 30, 90) == "new"


def test_overrides_from_the_names_file_replace_text_and_keep_numbers(demo, tmp_path):
    _, paths, result = demo
    names = tmp_path / "segment_names.toml"
    names.write_text('[names]\n0 = "Sleepers"\n\n[briefs.0]\nobjective = "Win them back with a <b>letter</b>."\n'
                     'where = "By post."\n', encoding="utf-8")
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", "--events", str(paths["events"]), "--customers", str(paths["customers"]),
                                 "--seed", "0", "--names", str(names), "--out", str(out)])
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    seg0 = next(s for s in summary["segments"] if s["id"] == 0)
    assert seg0["name"] == "Sleepers"
    sentences = {s["topic"]: s for s in seg0["brief"]["sentences"]}
    assert sentences["objective"]["text"] == "Win them back with a <b>letter</b>."
    assert sentences["objective"]["overridden"] and sentences["where"]["overridden"]
    assert not sentences["who"]["overridden"]
    generated = {s["topic"]: s for s in result.summary.segment(0).brief.model_dump()["sentences"]}
    assert sentences["objective"]["numbers"] == generated["objective"]["numbers"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Win them back with a &lt;b&gt;letter&lt;/b&gt;." in html
    assert "(edited)" in html
    md = render_markdown(Summary.from_dict(summary))
    assert "Win them back with a \\<b\\>letter\\</b\\>." in md


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"0": {"tone": "x"}}, r"\[briefs\.0\] unknown topic 'tone'"),
        ({"x": {"who": "x"}}, r"key 'x' is not a segment id"),
        ({"0": {"who": ""}}, r"\[briefs\.0\] who must be a non-empty string"),
        ({"0": "text"}, r"\[briefs\.0\] must be a table"),
    ],
)
def test_bad_brief_overrides_name_the_key(table, message):
    with pytest.raises(ValueError, match=message):
        parse_brief_overrides(table, "names.toml")


def test_cli_bad_brief_topic_exits_2(demo, tmp_path):
    _, paths, _ = demo
    names = tmp_path / "n.toml"
    names.write_text('[briefs.1]\nslogan = "x"\n', encoding="utf-8")
    r = CliRunner().invoke(app, ["run", "--events", str(paths["events"]), "--names", str(names),
                                 "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "unknown topic 'slogan'" in r.output and str(names) in r.output.replace("\n", "")


def test_markdown_has_the_briefs(demo):
    _, _, result = demo
    md = render_markdown(result.summary)
    assert md.count("**Brief** (objective:") == len([s for s in result.summary.segments if not s.is_noise])
    assert "*Move\\-up levers:*" in md or "*Move-up levers:*" in md
