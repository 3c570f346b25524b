"""Tests for segmentkit.profiles on planted synthetic segments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from segmentkit.features import FeatureSpec
from segmentkit.profiles import SegmentProfiles, format_value, profile_segments

SPECS = {
    s.name: s
    for s in [
        FeatureSpec("recency_days", "days", "days since last purchase"),
        FeatureSpec("orders", "count", "number of orders"),
        FeatureSpec("monetary", "amount", "net spend"),
        FeatureSpec("avg_order_value", "amount", "average order value"),
        FeatureSpec("discount_share", "share", "share of orders with a discount"),
        FeatureSpec("cat_share__electronics", "share", "share of spend on electronics"),
        FeatureSpec("channel_share__app", "share", "share of orders in the app"),
        FeatureSpec("spend_trend", "trend", "spend trend"),
    ]
}

# Planted groups: 0 discount-heavy, 1 lapsed one-time, 2 high-value electronics, 3 frequent app.
DISCOUNT, LAPSED, ELECTRONICS, APP = 0, 1, 2, 3


def planted(n_per=(200, 150, 120, 180), n_noise=20, seed=0):
    """Features, labels, scaled X, value and demographic attributes with known segments."""
    rng = np.random.default_rng(seed)
    parts = []
    for g, m in enumerate(n_per):
        orders = rng.poisson([5, 0.2, 6, 20][g], m) + 1
        aov = rng.gamma(4, [15, 12, 80, 14][g] / 4, m)
        parts.append(
            pd.DataFrame(
                {
                    "recency_days": rng.poisson([40, 300, 35, 8][g], m).astype(float),
                    "orders": orders.astype(float),
                    "monetary": orders * aov,
                    "avg_order_value": aov,
                    "discount_share": np.clip(rng.normal([0.7, 0.1, 0.08, 0.12][g], 0.08, m), 0, 1),
                    "cat_share__electronics": np.clip(rng.normal([0.15, 0.2, 0.75, 0.15][g], 0.08, m), 0, 1),
                    "channel_share__app": np.clip(rng.normal([0.3, 0.25, 0.3, 0.85][g], 0.08, m), 0, 1),
                    "spend_trend": np.clip(rng.normal(0, 0.3, m), -1, 1),
                    "_g": g,
                }
            )
        )
    if n_noise:
        parts.append(
            pd.DataFrame(
                {
                    "recency_days": rng.uniform(0, 400, n_noise).round(),
                    "orders": rng.integers(1, 30, n_noise).astype(float),
                    "monetary": rng.uniform(10, 5000, n_noise),
                    "avg_order_value": rng.uniform(5, 300, n_noise),
                    "discount_share": rng.uniform(0, 1, n_noise),
                    "cat_share__electronics": rng.uniform(0, 1, n_noise),
                    "channel_share__app": rng.uniform(0, 1, n_noise),
                    "spend_trend": rng.uniform(-1, 1, n_noise),
                    "_g": -1,
                }
            )
        )
    df = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df.index = pd.Index([f"c{seed}_{i:05d}" for i in range(len(df))], name="customer_id")
    labels = df.pop("_g").to_numpy()
    X = ((df - df.mean()) / df.std()).to_numpy()
    value = (df["monetary"] * 0.9).rename("value")
    attrs = pd.DataFrame(
        {
            "age": rng.integers(18, 80, len(df)).astype(float),
            "region": rng.choice(["north", "south", "east"], len(df)),
            "persona": np.where(labels == ELECTRONICS, "techie", rng.choice(["saver", "family"], len(df))),
        },
        index=df.index,
    )
    return df, labels, X, value, attrs


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def profiles(data) -> SegmentProfiles:
    df, labels, X, value, attrs = data
    return profile_segments(df, labels, X=X, specs=SPECS, value=value, attributes=attrs)


def test_segments_ordered_noise_last_and_sizes(profiles, data):
    df, labels, *_ = data
    assert profiles.ids == (0, 1, 2, 3, -1)
    noise = profiles.get(-1)
    assert noise.is_noise and not any(s.is_noise for s in profiles.segments[:-1])
    assert sum(s.size for s in profiles.segments) == len(df)
    assert sum(s.share for s in profiles.segments) == pytest.approx(1.0)
    assert profiles.get(LAPSED).size == int((labels == LAPSED).sum())
    assert noise.rules is not None and noise.exemplars  # noise gets a full profile


def test_value_share_and_index(profiles, data):
    _, labels, _, value, _ = data
    assert sum(s.value_share for s in profiles.segments) == pytest.approx(1.0)
    seg = profiles.get(ELECTRONICS)
    expected = value[labels == ELECTRONICS].sum() / value.sum()
    assert seg.value_share == pytest.approx(expected)
    assert seg.value_index == pytest.approx(100 * value[labels == ELECTRONICS].mean() / value.mean())
    assert seg.value_index > 150 and profiles.get(LAPSED).value_index < 50


def test_planted_top_features(profiles):
    discount = profiles.get(DISCOUNT)
    assert discount.top_features[0].feature == "discount_share"
    top = discount.top_features[0]
    assert top.effect_size > 2 and top.direction == "higher"
    assert top.sentence.startswith("Share of orders with a discount: 7") and "vs 3" in top.sentence
    assert profiles.get(LAPSED).top_features[0].feature == "recency_days"
    assert "× the average" in profiles.get(LAPSED).top_features[0].sentence
    assert profiles.get(ELECTRONICS).top_features[0].feature == "cat_share__electronics"
    assert profiles.get(APP).top_features[0].feature == "channel_share__app"
    for seg in profiles.segments:
        effects = [abs(t.effect_size) for t in seg.top_features]
        assert effects == sorted(effects, reverse=True)
        assert all(seg.feature(t.feature).significant for t in seg.top_features)


def test_rules_reach_precision(profiles, data):
    df, labels, *_ = data
    for sid in (DISCOUNT, LAPSED, ELECTRONICS, APP):
        rules = profiles.get(sid).rules
        assert rules, sid
        assert max(r.precision for r in rules) >= 0.8
        # precision and coverage are measured on the rounded thresholds
        r = rules[0]
        mask = np.ones(len(df), dtype=bool)
        for c in r.conditions:
            col = df[c.feature].to_numpy()
            mask &= {"<=": col <= c.threshold, ">": col > c.threshold, ">=": col >= c.threshold}[c.op]
        assert r.support == mask.sum()
        assert r.precision == pytest.approx((labels[mask] == sid).mean())
        assert r.coverage == pytest.approx(mask[labels == sid].mean())
    assert 0.9 <= profiles.surrogate_accuracy <= 1.0


def test_rule_text_in_original_units(profiles):
    texts = [r.text for s in profiles.segments for r in s.rules]
    lapsed = profiles.get(LAPSED).rules[0]
    assert "days since last purchase ≥" in lapsed.text
    for c in lapsed.conditions:
        if c.feature in ("recency_days", "orders"):
            assert float(c.threshold).is_integer()  # integer-valued columns use whole thresholds
    assert any(" %" in t for t in texts)  # shares read as percentages
    assert all("__" not in t for t in texts)  # labels, not column names


def test_full_profile_statistics_match_scipy(profiles, data):
    df, labels, *_ = data
    seg = profiles.get(APP)
    stat = seg.feature("orders")
    inside, rest = df["orders"][labels == APP], df["orders"][labels != APP]
    assert stat.mean == pytest.approx(inside.mean())
    assert stat.median == pytest.approx(inside.median())
    assert stat.overall_mean == pytest.approx(df["orders"].mean())
    assert stat.index == pytest.approx(100 * inside.mean() / df["orders"].mean())
    pooled = np.sqrt(((len(inside) - 1) * inside.var() + (len(rest) - 1) * rest.var()) / (len(df) - 2))
    assert stat.effect_size == pytest.approx((inside.mean() - rest.mean()) / pooled)
    weak = seg.feature("spend_trend")
    assert weak.p_value == pytest.approx(
        stats.ttest_ind(
            df["spend_trend"][labels == APP], df["spend_trend"][labels != APP], equal_var=False
        ).pvalue
    )
    assert weak.p_adjusted >= weak.p_value
    assert weak.index is None  # signed trend: no index, read the effect size


def test_categorical_attributes(profiles):
    techie = profiles.get(ELECTRONICS).attribute("persona")
    assert techie.levels == ("family", "saver", "techie")
    assert techie.shares == pytest.approx({"family": 0.0, "saver": 0.0, "techie": 1.0})
    assert techie.cramers_v > 0.9 and techie.significant
    assert techie.lift["techie"] == pytest.approx(1 / techie.overall_shares["techie"])
    region = profiles.get(ELECTRONICS).attribute("region")
    assert not region.significant and region.cramers_v < 0.2
    d = profiles.get(ELECTRONICS).to_dict()["profile"]["attributes"]
    assert set(d["persona"]) >= {"shares", "overall_shares", "lift", "cramers_v", "p_adjusted"}
    assert d["age"]["type"] == "numeric" and "index" in d["age"]


def test_exemplars_closest_to_centre_without_ids(profiles, data):
    df, labels, X, *_ = data
    seg = profiles.get(DISCOUNT)
    members = np.flatnonzero(labels == DISCOUNT)
    dist = np.linalg.norm(X[members] - X[members].mean(axis=0), axis=1)
    best = members[np.argsort(dist, kind="stable")[:3]]
    assert [e.rank for e in seg.exemplars] == [1, 2, 3]
    for e, row in zip(seg.exemplars, best):
        assert dict(e.features) == pytest.approx(df.iloc[row].to_dict())
    dumped = json.dumps(profiles.to_dict())
    assert "c0_" not in dumped  # no customer ids anywhere


def test_exemplars_by_confidence(data):
    df, labels, X, *_ = data
    conf = np.linspace(0, 1, len(df))
    p = profile_segments(df, labels, X=X, specs=SPECS, confidence=conf, n_exemplars=2)
    seg = p.get(LAPSED)
    members = np.flatnonzero(labels == LAPSED)
    assert [e.confidence for e in seg.exemplars] == pytest.approx(list(conf[members[::-1][:2]]))


def test_to_dict_json_safe_and_deterministic(profiles, data):
    df, labels, X, value, attrs = data
    d = profiles.to_dict()
    assert set(d) == {"segments", "surrogate_accuracy"}
    seg = d["segments"][0]
    for key in (
        "id",
        "size",
        "share",
        "value_share",
        "value_index",
        "is_noise",
        "top_features",
        "rules",
        "exemplars",
        "profile",
    ):
        assert key in seg
    assert set(seg["top_features"][0]) >= {
        "feature",
        "segment_mean",
        "overall_mean",
        "index",
        "effect_size",
        "sentence",
    }
    assert set(seg["rules"][0]) >= {"text", "precision", "coverage"}
    assert set(seg["profile"]["features"]["orders"]) >= {
        "mean",
        "median",
        "index",
        "effect_size",
        "p_adjusted",
        "significant",
    }
    text = json.dumps(d, sort_keys=False, allow_nan=False)
    again = profile_segments(df, labels, X=X, specs=SPECS, value=value, attributes=attrs).to_dict()
    assert json.dumps(again, allow_nan=False) == text


def test_label_permutation_permutes_profiles(profiles, data):
    df, labels, X, value, attrs = data
    perm = {0: 2, 1: 3, 2: 0, 3: 1, -1: -1}
    relabelled = np.vectorize(perm.get)(labels)
    p2 = profile_segments(df, relabelled, X=X, specs=SPECS, value=value, attributes=attrs)
    for seg in profiles.to_dict()["segments"]:
        other = p2.get(perm[seg["id"]]).to_dict()
        assert {**seg, "id": None} == {**other, "id": None}
    assert p2.surrogate_accuracy == pytest.approx(profiles.surrogate_accuracy, abs=0.02)


def test_inputs_not_mutated_and_missing_values(data):
    df, labels, X, value, attrs = data
    df2 = df.copy()
    df2.iloc[:30, 1] = np.nan
    attrs2 = attrs.copy()
    attrs2.iloc[:10, 1] = None
    before = (df2.copy(), attrs2.copy(), labels.copy(), X.copy(), value.copy())
    p = profile_segments(df2, labels, X=X, specs=SPECS, value=value, attributes=attrs2)
    pd.testing.assert_frame_equal(df2, before[0])
    pd.testing.assert_frame_equal(attrs2, before[1])
    np.testing.assert_array_equal(labels, before[2])
    np.testing.assert_array_equal(X, before[3])
    pd.testing.assert_series_equal(value, before[4])
    assert "(missing)" in p.get(0).attribute("region").levels
    json.dumps(p.to_dict(), allow_nan=False)


def test_value_aligned_by_index(data):
    df, labels, X, value, _ = data
    shuffled = value.sample(frac=1.0, random_state=1)
    a = profile_segments(df, labels, X=X, specs=SPECS, value=value, n_exemplars=0)
    b = profile_segments(df, labels, X=X, specs=SPECS, value=shuffled, n_exemplars=0)
    assert a.to_dict() == b.to_dict()
    with pytest.raises(ValueError, match="value is missing"):
        profile_segments(df, labels, X=X, specs=SPECS, value=value.iloc[1:])


def test_input_validation(data):
    df, labels, X, *_ = data
    with pytest.raises(ValueError, match="labels"):
        profile_segments(df, labels[:-1], X=X, specs=SPECS)
    with pytest.raises(ValueError, match="X must be"):
        profile_segments(df, labels, X=X[:-1], specs=SPECS)
    with pytest.raises(TypeError, match="not numeric: name"):
        profile_segments(df.assign(name="x"), labels, X=X, specs=SPECS)
    with pytest.raises(ValueError, match=">= -1"):
        profile_segments(df, np.where(labels == 0, -2, labels), X=X, specs=SPECS)


def test_single_segment_and_constant_and_near_zero_columns():
    df = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "const": 1.0, "zero": [0.0, 0.0, 0.0, 0.0, 0.0, 1e-15]}
    )
    X = df[["a"]].to_numpy()
    one = profile_segments(df, np.zeros(6, dtype=int), X=X, specs={})
    assert one.surrogate_accuracy == 1.0 and one.segments[0].rules == []
    assert one.segments[0].feature("a").effect_size == 0.0
    two = profile_segments(df, np.array([0, 0, 0, 1, 1, 1]), X=X, specs={})
    seg = two.get(0)
    assert seg.feature("const").effect_size == 0.0 and seg.feature("const").p_value == 1.0
    assert seg.feature("zero").index is None
    json.dumps(two.to_dict(), allow_nan=False)


def test_format_value():
    assert format_value(0.62, "share") == "62 %"
    assert format_value(0.034, "share") == "3.4 %"
    assert format_value(1234.5, "amount") == "1,234"
    assert format_value(5.456, "amount") == "5.46"
    assert format_value(3.14159, "count") == "3.1"
    assert format_value(0.42, "trend") == "+0.42"
    assert format_value(None, "count") == "n/a"


def test_many_levels_are_pooled_and_booleans_are_categories(data):
    df, labels, X, *_ = data
    rng = np.random.default_rng(5)
    attrs = pd.DataFrame(
        {"zip": rng.choice([f"z{i:02d}" for i in range(30)], len(df)), "member": rng.random(len(df)) > 0.5},
        index=df.index,
    )
    p = profile_segments(df, labels, X=X, specs=SPECS, attributes=attrs, max_levels=5, n_exemplars=0)
    zip_stat = p.get(0).attribute("zip")
    assert len(zip_stat.levels) == 6 and zip_stat.levels[-1] == "(other)"
    assert sum(zip_stat.shares.values()) == pytest.approx(1.0)
    assert p.get(0).attribute("member").levels == ("False", "True")


def test_a_feature_most_members_lack_does_not_describe_the_segment(data):
    # the lapsed one-time buyers have no spend trend (one order: NaN), except 10 % of them
    # whose trend is planted strongly negative; the planted trend of the others is neutral
    df, labels, X, value, attrs = data
    df = df.copy()
    lapsed = np.flatnonzero(labels == LAPSED)
    df.loc[df.index[lapsed], "spend_trend"] = np.nan
    df.loc[df.index[lapsed[: len(lapsed) // 10]], "spend_trend"] = -0.95
    app = np.flatnonzero(labels == APP)
    df.loc[df.index[app[: len(app) * 6 // 10]], "spend_trend"] = 0.9  # 60 % of members: a trait
    prof = profile_segments(df, labels, X=X, specs=SPECS, value=value)

    def trend(segment: int):
        return next(f for f in prof.get(segment).features if f.name == "spend_trend")

    assert trend(LAPSED).mean == pytest.approx(-0.95) and not trend(LAPSED).significant
    assert trend(APP).significant and trend(APP).effect_size > 0
