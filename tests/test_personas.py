"""Segments against personas: classification, lookalike check, narrative, invariances."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from segmentkit.features import FeatureSpec
from segmentkit.opportunities import find_opportunities
from segmentkit.personas import compare_personas, split_groups
from segmentkit.report._view import _split_view

NAMES = {
    0: "Discount hunters",
    1: "Window shoppers",
    2: "Frequent stockers",
    3: "Occasional big buyers",
    4: "Lapsed occasional",
    5: "High-value connoisseurs",
    6: "Loyal regulars",
}
SPECS = {
    "discount_share": FeatureSpec("discount_share", "share", "share of orders with a discount"),
    "orders": FeatureSpec("orders", "count", "number of orders"),
    "monetary": FeatureSpec("monetary", "amount", "net revenue"),
    "recency_days": FeatureSpec("recency_days", "days", "days since last purchase"),
}


def planted(seed: int, *, noise: float = 0.03, equal_draw: bool = False):
    """Six personas, seven segments with known structure.

    A splits into 0/1 (demographic lookalikes, differ in discount share), B splits into
    2/3 (differ in orders *and* in age / income), C and D merge into 4, segment 5 is a
    cross-persona group (every persona sends ~12 %; with ``equal_draw`` it takes the same
    number from each persona instead), E is dissolved (spread like the base), F matches 6.
    """
    rng = np.random.default_rng(seed)
    sizes = {"A": 600, "B": 500, "C": 400, "D": 400, "E": 300, "F": 300}
    persona = np.concatenate([np.full(k, p, dtype=object) for p, k in sizes.items()])
    n = persona.size
    labels = np.full(n, -9)
    u = rng.random(n)
    route = {
        "A": [(0, 0.43), (1, 0.42)],
        "B": [(2, 0.47), (3, 0.38)],
        "C": [(4, 0.85)],
        "D": [(4, 0.85)],
        "F": [(6, 0.85)],
    }
    for p, dests in route.items():
        m = persona == p
        uu = u[m]
        lab = np.full(m.sum(), 5)
        lo = 0.0
        for sid, share in dests:
            lab[(uu >= lo) & (uu < lo + share)] = sid
            lo += share
        if equal_draw:  # 50 customers of every persona in segment 5, whatever its size
            rest = 1.0 - lo
            cut = 50 / m.sum()
            lab[(uu >= lo) & (uu < 1.0 - rest + cut)] = 5
            lab[uu >= 1.0 - rest + cut] = dests[0][0]
        labels[m] = lab
    m = persona == "E"
    pool = labels[labels >= 0]
    labels[m] = rng.choice(pool, size=m.sum())
    if equal_draw:
        e_idx = np.flatnonzero(m)
        labels[e_idx[labels[e_idx] == 5]] = 4
        labels[e_idx[:50]] = 5
    labels[rng.random(n) < noise] = -1
    order = rng.permutation(n)
    persona, labels = persona[order], labels[order]
    disc = np.where(labels == 0, 0.6, np.where(labels == 1, 0.1, 0.3)) + rng.normal(0, 0.08, n)
    orders = rng.poisson(np.where(labels == 2, 9, np.where(labels == 3, 2, 4)))
    features = pd.DataFrame(
        {
            "discount_share": np.clip(disc, 0, 1),
            "orders": orders,
            "monetary": rng.lognormal(4, 1, n),
            "recency_days": rng.integers(1, 300, n),
        }
    )
    age = rng.normal(40, 8, n) + np.where(labels == 3, 12, 0)
    income = np.where(
        (labels == 3) & (rng.random(n) < 0.6), "high", rng.choice(["low", "mid", "high"], n, p=[0.4, 0.4, 0.2])
    )
    demo = pd.DataFrame(
        {
            "age": age,
            "gender": rng.choice(["f", "m"], n),
            "region": rng.choice(["north", "south", "east", "west", "centre"], n),
            "income_band": income,
        }
    )
    return labels, pd.Series(persona, name="persona"), features, demo


def run(labels, personas, features=None, demo=None, names=NAMES, **kw):
    return compare_personas(
        labels, personas, column="persona", features=features, demographics=demo,
        segment_names=names, specs=SPECS, **kw,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("equal_draw", [False, True])
def test_planted_structure_is_recovered(seed, equal_draw):
    labels, personas, features, demo = planted(seed, equal_draw=equal_draw)
    res = run(labels, personas, features, demo)
    assert [s.persona for s in res.splits] == ["A", "B"]
    assert set(res.splits[0].segments) == {0, 1}
    assert set(res.splits[1].segments) == {2, 3}
    assert [(m.segment, m.personas) for m in res.merges] == [(4, ["C", "D"])]
    assert res.new_segments == [5]
    assert res.dissolved == ["E"]
    assert [(m.persona, m.segment) for m in res.matches] == [("F", 6)]
    assert res.persona_kinds == {"A": "split", "B": "split", "C": "merge", "D": "merge", "E": "dissolved", "F": "match"}
    assert res.segment_kinds == {0: "split", 1: "split", 2: "split", 3: "split", 4: "merge", 5: "new", 6: "match"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_explanations_and_lookalike(seed):
    labels, personas, features, demo = planted(seed)
    res = run(labels, personas, features, demo)
    a, b = res.splits
    assert a.separating_features[0].feature == "discount_share"
    assert b.separating_features[0].feature == "orders"
    assert a.separating_features[0].values[0] > a.separating_features[0].values[1]
    assert a.lookalike and a.demographic_similarity >= 0.8
    assert not b.lookalike and b.demographic_similarity < 0.8
    assert min(b.demographic_by_column, key=b.demographic_by_column.get) in {"age", "income_band"}
    text = res.narrative
    for word in ["'A' splits into", "'B' splits into", "look alike demographically", "also differ demographically",
                 "'C' and 'D' behave alike", "'Lapsed occasional'", "'High-value connoisseurs' is a new group",
                 "'E' has no segment of its own", "share of orders with a discount"]:
        assert word in text
    f = res.matches[0]  # ~85 % of F planted in segment 6: "cleanly" only when both shares >= 80 %
    clean = min(f.persona_share, f.segment_share) >= 0.8
    assert ("'F' maps cleanly onto 'Loyal regulars'" in text) == clean
    assert ("'F' corresponds to 'Loyal regulars'" in text) == (not clean)


def test_to_dict_json_safe_deterministic_and_keys():
    labels, personas, features, demo = planted(0)
    d1 = run(labels, personas, features, demo).to_dict()
    d2 = run(labels, personas, features, demo).to_dict()
    s1 = json.dumps(d1, allow_nan=False)
    assert s1 == json.dumps(d2, allow_nan=False)
    for key in ["column", "ari", "ami", "nmi", "v_measure", "crosstab", "crosstab_shares", "matches", "splits",
                "merges", "new_segments", "dissolved", "narrative"]:
        assert key in d1
    assert list(d1["crosstab"]) == sorted(d1["crosstab"])
    assert list(d1["crosstab"]["A"]) == ["-1", "0", "1", "2", "3", "4", "5", "6"]
    by_p = d1["crosstab_shares"]["by_persona"]["A"]
    assert sum(by_p.values()) == pytest.approx(1.0, abs=1e-5)
    by_s = d1["crosstab_shares"]["by_segment"]["4"]
    assert sum(by_s.values()) == pytest.approx(1.0, abs=1e-5)
    split = d1["splits"][0]
    for key in ["persona", "segments", "shares", "separating_features", "demographic_similarity", "lookalike"]:
        assert key in split
    for key in ["feature", "label", "values", "effect_size", "sentence"]:
        assert key in split["separating_features"][0]
    assert d1["merges"][0]["personas"] == ["C", "D"]
    assert d1["new_segments"] == [5]


def test_row_order_does_not_matter():
    labels, personas, features, demo = planted(1)
    perm = np.random.default_rng(7).permutation(labels.size)
    a = run(labels, personas, features, demo).to_dict()
    b = run(labels[perm], personas.iloc[perm], features.iloc[perm], demo.iloc[perm]).to_dict()
    assert json.dumps(a) == json.dumps(b)


def test_relabelling_segments_permutes_results():
    labels, personas, features, demo = planted(2)
    mapping = {0: 6, 1: 3, 2: 5, 3: 0, 4: 2, 5: 1, 6: 4, -1: -1}
    relab = pd.Series(labels).map(mapping).to_numpy()
    names = {mapping[k]: v for k, v in NAMES.items()}
    a = run(labels, personas, features, demo)
    b = run(relab, personas, features, demo, names=names)
    assert [[mapping[s] for s in sp.segments] for sp in a.splits] == [sp.segments for sp in b.splits]
    assert [mapping[m.segment] for m in a.merges] == [m.segment for m in b.merges]
    assert [mapping[s] for s in a.new_segments] == b.new_segments
    assert a.dissolved == b.dissolved and a.persona_kinds == b.persona_kinds
    assert {mapping[k]: v for k, v in a.segment_kinds.items()} == b.segment_kinds
    assert a.ari == pytest.approx(b.ari) and a.ami == pytest.approx(b.ami)
    assert a.narrative == b.narrative


def test_identity_segments_equal_personas():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, 2000)
    personas = pd.Series(np.array(["North", "South", "East", "West"], dtype=object)[codes])
    labels = codes.copy()
    labels[rng.random(2000) < 0.05] = -1
    names = {0: "n", 1: "s", 2: "e", 3: "w"}
    res = run(labels, personas, names=names)
    assert res.splits == [] and res.new_segments == [] and res.merges == [] and res.dissolved == []
    assert len(res.matches) == 4
    assert res.ari == pytest.approx(1.0) and res.nmi == pytest.approx(1.0)
    assert set(res.persona_kinds.values()) == {"match"}
    assert res.n_noise == int((labels == -1).sum())
    assert "reproduce the personas" in res.narrative
    # noise stays in the crosstab as "-1" but is never classified
    d = res.to_dict()
    assert "-1" in d["crosstab"]["North"] and "-1" not in d["segment_kinds"]


def test_noise_never_classified_even_when_large():
    labels, personas, _, _ = planted(0)
    labels = labels.copy()
    labels[np.asarray(personas) == "E"] = -1  # all of E is noise: still not a segment
    res = run(labels, personas)
    assert -1 not in res.new_segments and all(m.segment != -1 for m in res.merges)
    assert all(-1 not in s.segments for s in res.splits)
    assert res.persona_kinds["E"] == "dissolved"


def test_missing_personas_left_out_and_inputs_untouched():
    labels, personas, features, demo = planted(0)
    personas = personas.copy()
    personas.iloc[:100] = None
    personas.iloc[100:110] = "  "
    before = (personas.copy(), features.copy(), demo.copy(), labels.copy())
    res = run(labels, personas, features, demo)
    assert res.n_missing_persona == 110
    assert int(res.crosstab_frame.to_numpy().sum()) == labels.size - 110
    assert "110 customers without a persona" in res.narrative
    pd.testing.assert_series_equal(personas, before[0])
    pd.testing.assert_frame_equal(features, before[1])
    pd.testing.assert_frame_equal(demo, before[2])
    np.testing.assert_array_equal(labels, before[3])


def test_numeric_and_categorical_persona_codes():
    rng = np.random.default_rng(0)
    codes = rng.integers(1, 4, 600).astype(float)
    codes[:5] = np.nan
    res = compare_personas(np.nan_to_num(codes).astype(int), pd.Series(codes), column="p")
    assert res.personas == ["1", "2", "3"]
    cat = pd.Series(pd.Categorical(np.array(["x", "y"])[rng.integers(0, 2, 600)]))
    res = compare_personas(np.zeros(600, dtype=int), cat, column="p")
    assert res.personas == ["x", "y"] and res.splits == []


def test_dominant_persona_is_not_mistaken_for_new():
    # one persona holds 80 % of customers: a segment made only of it is its own, not new
    persona = pd.Series(np.repeat(np.array(["big", "small"], dtype=object), [800, 200]))
    labels = np.r_[np.zeros(400, int), np.ones(400, int), np.full(200, 2)]
    res = compare_personas(labels, persona, column="p")
    assert res.new_segments == []
    assert [s.persona for s in res.splits] == ["big"]
    assert res.persona_kinds["small"] == "match"


def test_proportional_segment_in_every_persona_is_new_not_split():
    # a large segment taking 30 % of every persona must not make them look split
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 3, 3000)
    persona = pd.Series(np.array(["p", "q", "r"], dtype=object)[codes])
    labels = np.where(rng.random(3000) < 0.3, 3, codes)
    res = compare_personas(labels, persona, column="p")
    assert res.new_segments == [3]
    assert res.splits == [] and res.merges == []
    assert len(res.matches) == 3


def test_validation():
    with pytest.raises(ValueError):
        compare_personas(np.zeros(3, int), pd.Series(["a", "b"]), column="p")
    with pytest.raises(ValueError):
        compare_personas(np.zeros(2, int), pd.Series(["a", "b"]), column="p", split_share=0.7)
    with pytest.raises(ValueError):
        compare_personas(np.array([0.0, np.nan]), pd.Series(["a", "b"]), column="p")
    res = compare_personas(np.full(2, -1), pd.Series([None, None]), column="p")
    assert res.ari is None and "cannot be compared" in res.narrative
    json.dumps(res.to_dict(), allow_nan=False)


def test_narrative_uses_opportunities_for_new_segment():
    labels, personas, features, demo = planted(0)
    rng = np.random.default_rng(0)
    value = pd.Series(np.where(labels == 5, 500.0, 100.0) * rng.uniform(0.8, 1.2, labels.size))
    attention = pd.Series(np.where(labels == 5, 1.0, 5.0) + rng.uniform(0, 1, labels.size))
    opp = find_opportunities(labels, value, attention, segment_names=NAMES)
    res = run(labels, personas, features, demo, opportunities=opp)
    assert "'High-value connoisseurs' is a new group" in res.narrative
    assert "of revenue" in res.narrative and "yet gets 0.3× the average marketing attention" in res.narrative


def test_narrative_on_unrelated_personas_says_it_once():
    rng = np.random.default_rng(3)
    n = 3000
    labels = rng.integers(0, 5, n)  # five behavioural segments
    personas = pd.Series(rng.choice(["North", "South", "East", "West", "Central", "Islands"], n))
    res = run(labels, personas, names={i: f"Segment {i}" for i in range(5)})
    text = res.narrative
    assert res.ari < 0.2
    assert text.count("explain little") == 1
    assert "adjusted Rand index" in text and "have no segment of their own" in text
    # said once: no per-persona repetition, no "cleanly"
    assert "has no segment of its own" not in text and "cleanly" not in text
    assert text.count("no segment") == 1


def test_cleanly_only_above_the_stated_share():
    rng = np.random.default_rng(4)
    n = 2000
    personas = pd.Series(np.where(np.arange(n) < n // 2, "P", "Q"))
    labels = np.where(np.arange(n) < n // 2, 0, 1)
    flip = rng.random(n) < 0.22  # 78 % of each persona in its segment: a match, not a clean one
    labels = np.where(flip, 1 - labels, labels)
    res = run(labels, personas, names={0: "Zero", 1: "One"})
    assert "cleanly" not in res.narrative
    assert "'P' corresponds to 'Zero'" in res.narrative


@pytest.mark.parametrize(("retirees", "lapsed", "bulk", "in_report"), [
    ((50, 25, 25), "(50 %", "(25 %", ["50.0 %", "25.0 %"]),  # the same shares are given once
    ((40, 30, 30), "(50 % and 40 %", "(25 % and 30 %", ["50.0 % / 40.0 %", "25.0 % / 30.0 %"]),  # persona by persona
])
def test_a_split_and_a_merge_shared_by_two_personas_are_each_said_once(retirees, lapsed, bulk, in_report):
    # Empty Nesters: 50 in Lapsed, 25 in Bulk, 25 in Frugal (led by Singles); Retirees the
    # same way, their last share in Value (led by Young Families). Base share 1/4, lift
    # threshold 0.375: both over-represented in Lapsed and Bulk (half of each when equal),
    # which therefore both split and both merge; Singles and Young Families are matches.
    names = {0: "Lapsed declining buyers", 1: "Bulk grocery buyers", 2: "Frugal shoppers", 3: "Value seekers"}
    labels = np.concatenate([np.repeat([0, 1, 2], [50, 25, 25]), np.repeat([0, 1, 3], retirees),
                             np.full(100, 2), np.full(100, 3)])
    personas = pd.Series(np.repeat(["Empty Nesters", "Retirees", "Singles", "Young Families"], 100))
    res = run(labels, personas, names=names)
    assert [(sp.persona, sp.segments) for sp in res.splits] == [("Empty Nesters", [0, 1]), ("Retirees", [0, 1])]
    assert [(m.segment, m.personas) for m in res.merges] == [(0, ["Empty Nesters", "Retirees"]),
                                                            (1, ["Empty Nesters", "Retirees"])]
    text = res.narrative
    assert (f"'Empty Nesters' and 'Retirees' both split into 'Lapsed declining buyers' {lapsed}) and "
            f"'Bulk grocery buyers' {bulk}).") in text
    merge_lapsed = "(50 % and 50 %" if lapsed == "(50 %" else lapsed
    merge_bulk = "(25 % and 25 %" if bulk == "(25 %" else bulk
    assert (f"'Empty Nesters' and 'Retirees' behave alike: both mostly fall into 'Lapsed declining buyers' "
            f"{merge_lapsed} of their members) and 'Bulk grocery buyers' {merge_bulk}).") in text
    assert "splits into" not in text
    assert text.count("'Lapsed declining buyers'") == 2 and text.count("'Bulk grocery buyers'") == 2
    # the report's persona section tells the split once too, with the same shares
    (view,) = [_split_view(SimpleNamespace(segment_names=names), group) for group in split_groups(res.splits)]
    assert view["persona"] == "Empty Nesters and Retirees" and view["verb"] == "both split into"
    assert view["segments"] == list(zip(["Lapsed declining buyers", "Bulk grocery buyers"], in_report))


@pytest.mark.parametrize(("retirees_shift", "difference"), [
    (0.0, "share of orders with a discount is higher in 'Lapsed declining buyers' (60 %) than in "
          "'Bulk grocery buyers' (20 %)"),  # both personas' members: 0.5/0.7 against 0.1/0.3
    (0.2, "they differ most in share of orders with a discount"),  # Retirees' 80 %: the feature, once
])
def test_personas_split_the_same_way_share_one_explanation(retirees_shift, difference):
    names = {0: "Lapsed declining buyers", 1: "Bulk grocery buyers", 2: "Frugal shoppers", 3: "Value seekers"}
    labels = np.concatenate([np.repeat([0, 1, 2], [50, 25, 25]), np.repeat([0, 1, 3], [50, 25, 25]),
                             np.full(100, 2), np.full(100, 3)])
    personas = pd.Series(np.repeat(["Empty Nesters", "Retirees", "Singles", "Young Families"], 100))
    discount = np.select([labels == 0, labels == 1], [0.6, 0.2], 0.3) + np.tile([-0.1, 0.1], 200)
    discount[100:150] += retirees_shift  # the Retirees in 'Lapsed declining buyers'
    res = run(labels, personas, pd.DataFrame({"discount_share": discount}), names=names)
    assert len(res.splits) == 2
    assert (f"'Empty Nesters' and 'Retirees' both split into 'Lapsed declining buyers' (50 %) and "
            f"'Bulk grocery buyers' (25 %); {difference}.") in res.narrative
    assert res.narrative.count("share of orders with a discount") == 1
