"""Tests for segmentkit.naming: generated names, overrides and ids that stick."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans

from segmentkit.features import FeatureSpec
from segmentkit.name_overrides import apply_overrides, format_name_overrides, load_name_overrides, parse_name_overrides
from segmentkit.naming import (
    SegmentName,
    generate_names,
    match_segments,
    migration_records,
    migration_table,
    relabel,
    segment_overlap,
    trait_lines,
    trait_phrase,
)
from segmentkit.profiles import profile_segments

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
        FeatureSpec("age_years", "custom", "age in years", source="customers"),
        FeatureSpec("loyalty_score", "custom", "loyalty score", source="customers"),
    ]
}

# group -> (recency, orders-1, aov scale, discount, electronics, app)
GROUPS = {
    "discount": (40, 5, 15, 0.7, 0.15, 0.3),
    "lapsed": (300, 0.2, 12, 0.1, 0.2, 0.25),
    "electronics": (35, 6, 80, 0.08, 0.75, 0.3),
    "app": (8, 20, 14, 0.12, 0.15, 0.85),
}


def make_customers(groups, sizes, rng, start=0):
    """Planted customers; returns features and the planted group name per row."""
    parts = []
    for g, m in zip(groups, sizes):
        rec, orders, aov_scale, disc, elec, app = GROUPS[g]
        orders_ = rng.poisson(orders, m) + 1
        aov = rng.gamma(4, aov_scale / 4, m)
        parts.append(
            pd.DataFrame(
                {
                    "recency_days": rng.poisson(rec, m).astype(float),
                    "orders": orders_.astype(float),
                    "monetary": orders_ * aov,
                    "avg_order_value": aov,
                    "discount_share": np.clip(rng.normal(disc, 0.08, m), 0, 1),
                    "cat_share__electronics": np.clip(rng.normal(elec, 0.08, m), 0, 1),
                    "channel_share__app": np.clip(rng.normal(app, 0.08, m), 0, 1),
                    "group": g,
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    df = df.sample(frac=1.0, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)
    df.index = pd.Index([f"c{start + i:05d}" for i in range(len(df))], name="customer_id")
    group = df.pop("group")
    return df, group


def scale(df, ref=None):
    ref = df if ref is None else ref
    logged = np.log1p(df[["monetary", "avg_order_value", "orders", "recency_days"]])
    ref_logged = np.log1p(ref[["monetary", "avg_order_value", "orders", "recency_days"]])
    full = pd.concat([logged, df.drop(columns=logged.columns)], axis=1)
    ref_full = pd.concat([ref_logged, ref.drop(columns=ref_logged.columns)], axis=1)
    return ((full - ref_full.mean()) / ref_full.std()).to_numpy()


def run(df, labels, X):
    profiles = profile_segments(df, labels, X=X, specs=SPECS, value=df["monetary"])
    return profiles, generate_names(profiles, SPECS)


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    df, group = make_customers(list(GROUPS), [200, 150, 120, 180], rng)
    codes = {g: i for i, g in enumerate(GROUPS)}
    labels = group.map(codes).to_numpy(dtype=int, copy=True)
    labels[:15] = -1
    return df, labels, scale(df)


def test_generated_names_mention_planted_traits(planted):
    df, labels, X = planted
    _, names = run(df, labels, X)
    assert "discount" in names[0].name.lower()
    assert names[1].name.lower().startswith("lapsed") and "one-time" in names[1].name
    assert "electronics" in names[2].name and "high-value" in names[2].name.lower()
    assert "app" in names[3].name and "frequent" in names[3].name.lower()
    assert names[-1].name == "Unassigned customers"
    assert len({n.name.casefold() for n in names.values()}) == len(names)
    assert list(names) == [0, 1, 2, 3, -1]
    for n in names.values():
        assert n.name[0].isupper() and len(n.name) <= 80 and not n.overridden
        assert n.description.endswith(".") and n.description.count(".") >= 1
    assert "share of orders with a discount (7" in names[0].description
    assert json.loads(json.dumps({k: v.to_dict() for k, v in names.items()}))[str(0)]["generated_name"]


def test_names_never_use_protected_or_attribute_columns(planted):
    df, labels, X = planted
    df2 = df.assign(age_years=np.where(labels == 0, 70.0, 30.0) + np.arange(len(df)) % 3)
    attrs = pd.DataFrame({"gender": np.where(labels == 1, "f", "m"), "region": "north"}, index=df.index)
    profiles = profile_segments(df2, labels, X=X, specs=SPECS, attributes=attrs)
    assert profiles.get(0).top_features[0].feature == "age_years"  # it *is* the top feature...
    names = generate_names(profiles, SPECS)
    for n in names.values():  # ...but never a name
        assert not any(w in n.name.lower() for w in ("age", "gender", "female", "region", "70", "old"))
    assert "discount" in names[0].name.lower()
    assert trait_phrase("age_years", SPECS["age_years"], "higher") is None
    assert trait_phrase("income_band", None, "higher") is None
    assert (
        trait_phrase("average_basket", None, "higher") == "high average basket"
    )  # "age" inside a word is fine


def test_trait_phrases():
    assert trait_phrase("discount_share", None, "higher") == "discount-driven"
    assert trait_phrase("recency_days", None, "higher") == "lapsed"
    assert trait_phrase("orders", None, "lower", segment_mean=1.1) == "one-time"
    assert trait_phrase("orders", None, "lower", segment_mean=3.0) == "occasional"
    assert trait_phrase("monetary", None, "higher") == "high-value"
    assert trait_phrase("cat_share__home_and_garden", None, "higher") == "home & garden"
    assert trait_phrase("cat_share__electronics", None, "lower") is None
    assert trait_phrase("channel_share__app", None, "higher") == "app"
    assert trait_phrase("peak_quarter_share", None, "higher") == "seasonal"
    assert trait_phrase("views_per_order", None, "higher") == "browsing"
    assert trait_phrase("loyalty_score", SPECS["loyalty_score"], "higher") == "high loyalty score"


def test_names_unique_when_segments_look_alike():
    rng = np.random.default_rng(3)
    df, group = make_customers(["discount", "discount", "app", "discount"], [150, 150, 150, 150], rng)
    # Tell the three discount groups apart only by a custom score (and one not at all).
    df["loyalty_score"] = rng.normal(0, 1, len(df))
    labels = np.zeros(len(df), dtype=int)
    disc = np.flatnonzero(group.to_numpy() == "discount")
    labels[disc[:150]] = 0
    labels[disc[150:300]] = 1
    labels[disc[300:]] = 3
    labels[group.to_numpy() == "app"] = 2
    df.loc[labels == 1, "loyalty_score"] += 3
    profiles = profile_segments(df, labels, X=scale(df.drop(columns="loyalty_score")), specs=SPECS)
    names = generate_names(profiles, SPECS)
    plain = [n.name for n in names.values()]
    assert len({p.casefold() for p in plain}) == len(plain)
    assert names == generate_names(profiles, SPECS)  # deterministic
    assert "loyalty score" in names[1].name


def test_previous_names_are_carried_and_new_ones_unique(planted):
    df, labels, X = planted
    profiles, names = run(df, labels, X)
    previous = {
        0: SegmentName("Bargain hunters", "old", overridden=True, generated_name="Frequent app shoppers"),
        1: "Old name",
    }
    carried = generate_names(profiles, SPECS, previous=previous)
    assert carried[0].name == "Frequent app shoppers"  # the generated name, not the override
    assert carried[1].name == "Old name"
    assert names[3].name == "Frequent app shoppers"
    assert carried[3].name != "Frequent app shoppers" and "app shoppers" in carried[3].name  # told apart
    assert carried[2] == names[2]


def test_override_file_parsing(tmp_path):
    path = tmp_path / "segment_names.toml"
    path.write_text(
        '[names]\n0 = "Loyal weekly shoppers"\n-1 = " Outliers "\n"2" = "Bargain hunters"\n', encoding="utf-8"
    )
    assert load_name_overrides(path) == {-1: "Outliers", 0: "Loyal weekly shoppers", 2: "Bargain hunters"}
    assert parse_name_overrides(format_name_overrides({1: SegmentName('Say "hi"', ""), -1: "Noise"})) == {
        -1: "Noise",
        1: 'Say "hi"',
    }
    assert parse_name_overrides("[names]\n") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("[names\n0 = 'x'", "not valid TOML"),
        ("title = 'x'\n[names]\n0 = 'x'", "unknown top-level key"),
        ("[name]\n0 = 'x'", "unknown top-level key"),
        ("", "missing \\[names\\] table"),
        ("names = 3", "must be a table"),
        ("[names]\nloyal = 'x'", "key 'loyal' is not a segment id"),
        ("[names]\n1.5 = 'x'", r"\[names\] 1 must be a string, got dict"),
        ("[names]\n-2 = 'x'", ">= -1"),
        ("[names]\n0 = 3", r"\[names\] 0 must be a string"),
        ("[names]\n0 = '  '", r"\[names\] 0 is empty"),
        ("[names]\n0 = 'A'\n1 = 'a'", "already used by segment 0"),
        ("[names]\n0 = 'A'\n00 = 'B'", "given twice"),
        ("[names]\n0 = '''a\nb'''", "one line"),
        ("[names]\n0 = '" + "x" * 81 + "'", "longer than 80"),
    ],
)
def test_override_file_errors_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "segment_names.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        load_name_overrides(path)
    assert str(path) in str(info.value)


def test_override_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"segment_names\.toml"):
        load_name_overrides(tmp_path / "segment_names.toml")


def test_apply_overrides():
    names = {
        0: SegmentName("Lapsed buyers", "d0"),
        1: SegmentName("App shoppers", "d1"),
        -1: SegmentName("Unassigned customers", "dn"),
    }
    out = apply_overrides(names, {0: "App shoppers", 7: "Gone segment"})
    assert out[0] == SegmentName("App shoppers", "d0", overridden=True, generated_name="Lapsed buyers")
    assert out[1].name == "App shoppers (segment 1)"  # a generated name yields to the override
    assert out[-1] is names[-1] and names[0].name == "Lapsed buyers"  # input untouched
    assert out[0].to_dict() == {
        "name": "App shoppers",
        "description": "d0",
        "overridden": True,
        "generated_name": "Lapsed buyers",
    }
    with pytest.raises(KeyError, match="unknown segment 7"):
        apply_overrides(names, {7: "x"}, strict=True)
    with pytest.raises(ValueError, match="would both be called"):
        apply_overrides(names, {0: "Same", 1: "same"})
    with pytest.raises(ValueError, match="empty"):
        apply_overrides(names, {0: ""})


def test_match_segments_permutation_new_and_vanished():
    # identity with counts
    assert match_segments([0, 1, 2], [0, 1, 2], np.diag([10, 20, 30])) == {0: 0, 1: 1, 2: 2}
    # permutation: current 0 is previous 2, ...
    sim = np.array([[0, 1, 9], [8, 0, 1], [1, 7, 0]])
    assert match_segments([0, 1, 2], [0, 1, 2], sim) == {0: 2, 1: 0, 2: 1}
    # a new segment (no overlap with anything left) gets a fresh id above the previous max
    sim = np.array([[9, 0], [0, 8], [0, 0]])
    assert match_segments([3, 5], [0, 1, 2], sim) == {0: 3, 1: 5, 2: 6}
    assert match_segments([3, 5], [0, 1, 2], sim, next_id=10) == {0: 3, 1: 5, 2: 10}
    # a previous segment vanished: it is simply not used
    sim = np.array([[0, 5, 1], [6, 0, 0]])
    assert match_segments([0, 1, 2], [0, 1], sim) == {0: 1, 1: 0}
    # optimal rather than greedy: greedy would pair (0, 0) and leave 1 with 0.
    sim = np.array([[10, 9], [9, 0]])
    assert match_segments([0, 1], [0, 1], sim) == {0: 1, 1: 0}
    # min_overlap leaves weak pairs unmatched
    sim = np.array([[0.9, 0.0], [0.0, 0.05]])
    assert match_segments([0, 1], [0, 1], sim, min_overlap=0.1) == {0: 0, 1: 2}


def test_match_segments_ties_noise_and_frames():
    # ties keep the same id, whatever the input order
    assert match_segments([0, 1], [0, 1], np.ones((2, 2))) == {0: 0, 1: 1}
    assert match_segments([1, 0], [0, 1], np.ones((2, 2))) == {0: 0, 1: 1}
    assert match_segments([5, 6], [0, 1], np.ones((2, 2))) == {0: 5, 1: 6}
    # noise always maps to noise and never takes a segment's id
    sim = pd.DataFrame([[1, 50], [9, 0]], index=[0, -1], columns=[0, -1])
    assert match_segments([0, -1], [0, -1], sim) == {0: 0, -1: -1}
    assert match_segments([0], [-1, 0], np.array([[100], [1]])) == {0: 0, -1: -1}
    # frames align by labels (missing pairs count 0) and catch transposed input
    frame = pd.DataFrame([[0, 4]], index=[1], columns=[0, 1])
    assert match_segments([0, 1], [0, 1], frame) == {0: 2, 1: 1}  # current 0 overlaps nothing: new
    frame = pd.DataFrame([[3], [0]], index=[1, 0], columns=[0])
    assert match_segments([0, 1], [0, 1], frame) == {0: 2, 1: 0}
    # axis names decide the orientation (pd.crosstab(previous, current) has previous rows)
    prev_l = pd.Series([0, 0, 1, 1, 2, 2], name="previous")
    cur_l = pd.Series([1, 1, 2, 2, 0, 0], name="current")
    expected = {0: 2, 1: 0, 2: 1}
    assert match_segments([0, 1, 2], [0, 1, 2], pd.crosstab(prev_l, cur_l)) == expected
    assert match_segments([0, 1, 2], [0, 1, 2], pd.crosstab(cur_l, prev_l)) == expected
    assert match_segments([0, 1, 2], [0, 1, 2], segment_overlap(prev_l, cur_l)) == expected
    with pytest.raises(ValueError, match="contradictory"):
        match_segments([0, 1, 2], [0, 1, 2], pd.crosstab(prev_l, prev_l.rename("previous2")))
    with pytest.raises(ValueError, match="transposed"):
        match_segments([0, 1], [0, 1, 2], pd.DataFrame(np.eye(3), index=[7, 8, 9], columns=[0, 1, 2]))
    with pytest.raises(ValueError, match="shape"):
        match_segments([0, 1], [0, 1, 2], np.eye(2))
    with pytest.raises(ValueError, match="duplicate"):
        match_segments([0, 0], [0, 1], np.eye(2))


def test_overlap_relabel_and_migration():
    prev = np.array([0, 0, 0, 1, 1, 2, 2, -1])
    cur = np.array([1, 1, 0, 0, 0, 2, 2, 2])
    overlap = segment_overlap(prev, cur)
    assert list(overlap.index) == [0, 1, 2] and list(overlap.columns) == [0, 1, 2, -1]
    assert overlap.loc[1, 0] == pytest.approx(2 / 3)
    mapping = match_segments(overlap.columns, overlap.index, overlap)
    assert mapping == {0: 1, 1: 0, 2: 2}
    np.testing.assert_array_equal(relabel(cur, mapping), [0, 0, 1, 1, 1, 2, 2, 2])
    with pytest.raises(KeyError):
        relabel(np.array([4]), mapping)

    before = pd.Series([0, 0, 1, -1, 1], index=["a", "b", "c", "d", "e"])
    after = pd.Series([0, 1, 1, 2], index=["b", "a", "c", "z"])
    table = migration_table(before, after)
    assert list(table.index) == ["0", "1", "-1", "new"]
    assert list(table.columns) == ["0", "1", "2", "gone"]
    assert table.loc["0", "0"] == 1 and table.loc["0", "1"] == 1
    assert table.loc["1", "1"] == 1 and table.loc["1", "gone"] == 1 and table.loc["-1", "gone"] == 1
    assert table.loc["new", "2"] == 1 and table.to_numpy().sum() == 6
    records = migration_records(table)
    assert {"from_segment": "new", "to_segment": "2", "customers": 1, "share_of_from": None} in records
    json.dumps(records)


def test_names_and_overrides_stick_across_refresh(tmp_path):
    """Refresh: +10 % new customers, 5 % of customers changed, re-clustered with another seed."""
    rng = np.random.default_rng(11)
    sizes = [200, 150, 120, 180]
    df1, _ = make_customers(list(GROUPS), sizes, rng)
    X1 = scale(df1)
    km1 = KMeans(4, n_init=4, random_state=0).fit(X1)
    labels1 = km1.labels_
    profiles1, names1 = run(df1, labels1, X1)
    discount_id = next(s.id for s in profiles1.segments if s.top_features[0].feature == "discount_share")
    assert "discount" in names1[discount_id].name.lower()
    path = tmp_path / "segment_names.toml"
    path.write_text(f'[names]\n{discount_id} = "Bargain hunters"\n', encoding="utf-8")
    final1 = apply_overrides(names1, load_name_overrides(path))

    # new data: 10 % new customers, 5 % of existing customers' behavior redrawn from their group
    new, _ = make_customers(list(GROUPS), [s // 10 for s in sizes], rng, start=len(df1))
    df2 = pd.concat([df1, new])
    changed = rng.choice(len(df1), size=len(df1) // 20, replace=False)
    noise = rng.normal(1.0, 0.05, (len(changed), df2.shape[1]))
    df2.iloc[changed] = (df2.iloc[changed] * noise).clip(lower=0).to_numpy()
    df2["discount_share"] = df2["discount_share"].clip(upper=1.0)
    X2 = scale(df2, ref=df1)
    labels2_raw = KMeans(4, n_init=4, random_state=7).fit(X2).labels_

    overlap = segment_overlap(km1.predict(X2), labels2_raw)
    mapping = match_segments(sorted(set(labels1)), sorted(set(labels2_raw)), overlap)
    labels2 = relabel(labels2_raw, mapping)
    assert set(mapping.values()) == set(labels1.tolist())
    profiles2 = profile_segments(df2, labels2, X=X2, specs=SPECS, value=df2["monetary"])
    regenerated = generate_names(profiles2, SPECS)
    assert {k: v.name for k, v in regenerated.items()} == {k: v.name for k, v in names1.items()}
    final2 = apply_overrides(generate_names(profiles2, SPECS, previous=final1), load_name_overrides(path))
    assert final2[discount_id].name == "Bargain hunters" and final2[discount_id].overridden
    assert profiles2.get(discount_id).top_features[0].feature == "discount_share"
    assert {k: v.name for k, v in final2.items()} == {k: v.name for k, v in final1.items()}

    table = migration_table(pd.Series(labels1, index=df1.index), pd.Series(labels2, index=df2.index))
    assert table.loc["new"].sum() == len(new) and table["gone"].sum() == 0
    assert np.trace(table.iloc[:4, :4].to_numpy()) >= 0.95 * len(df1)


def test_cli_lines(planted):
    df, labels, X = planted
    profiles, names = run(df, labels, X)
    names = apply_overrides(names, {1: "Sleepers"})
    assert names[1].name == "Sleepers" and names[1].overridden and names[1].auto_name != "Sleepers"
    lines = trait_lines(profiles, names)
    assert lines[1].startswith("[1] Sleepers: ") and lines[1].count(";") >= 3
    assert lines[-1].startswith("[-1] Unassigned customers")
