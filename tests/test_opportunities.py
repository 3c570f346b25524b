"""Value and attention per segment: under- and over-served flags."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmentkit.opportunities import find_opportunities

NAMES = {0: "Core", 1: "Connoisseurs", 2: "Dormant", 3: "Bargain hunters"}


def data(seed: int = 0):
    """0 average; 1 high value, little attention; 2 low value, low attention; 3 low value, much attention."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 1, 2, 3, -1], size=4000, p=[0.4, 0.15, 0.2, 0.2, 0.05])
    base_value = {0: 100.0, 1: 350.0, 2: 40.0, 3: 50.0, -1: 100.0}
    base_att = {0: 10.0, 1: 2.0, 2: 5.0, 3: 20.0, -1: 10.0}
    lab = pd.Series(labels)
    value = lab.map(base_value) * rng.lognormal(0, 0.3, labels.size)
    attention = lab.map(base_att) * rng.uniform(0.7, 1.3, labels.size)
    return labels, value, attention


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_under_and_over_served(seed):
    labels, value, attention = data(seed)
    opp = find_opportunities(labels, value, attention, segment_names=NAMES)
    assert [s.segment for s in opp.segments] == [0, 1, 2, 3]  # noise left out, ordered by id
    kinds = {s.segment: s.kind for s in opp.segments}
    assert kinds == {0: "balanced", 1: "under-served", 2: "balanced", 3: "over-served"}
    assert [s.segment for s in opp.under_served] == [1]
    assert [s.segment for s in opp.over_served] == [3]
    under = opp.get(1)
    assert under.value_index > 200 and under.attention_index < 40
    assert under.gap == pytest.approx(under.value_index - under.attention_index)
    assert under.attention_to_parity > 0
    assert "'Connoisseurs'" in under.reason and "gap" in under.reason
    assert "low value with low attention is consistent" in opp.get(2).reason
    assert "'Connoisseurs' is under-served" in opp.narrative
    assert "'Bargain hunters' is over-served" in opp.narrative


def test_indices_are_against_all_customers():
    labels = np.array([0, 0, 1, 1, -1, -1])
    value = pd.Series([1.0, 1.0, 3.0, 3.0, 2.0, 2.0])
    opp = find_opportunities(labels, value, min_size=1)
    assert opp.get(0).value_index == pytest.approx(50.0)
    assert opp.get(1).value_index == pytest.approx(150.0)
    assert opp.get(1).value_share == pytest.approx(6.0 / 12.0)


def test_without_attention_everything_balanced():
    labels, value, _ = data(0)
    opp = find_opportunities(labels, value, segment_names=NAMES)
    assert not opp.has_attention
    assert all(s.kind == "balanced" and s.attention_index is None and s.gap is None for s in opp.segments)
    assert opp.flagged == ()
    d = opp.to_dict()
    assert d[1]["attention_index"] is None and d[1]["value_index"] > 200
    assert "Without an attention measure" in opp.narrative


def test_small_segments_not_flagged():
    labels = np.r_[np.zeros(200, int), np.ones(10, int)]
    value = pd.Series(np.r_[np.full(200, 10.0), np.full(10, 100.0)])
    attention = pd.Series(np.r_[np.full(200, 5.0), np.full(10, 0.5)])
    opp = find_opportunities(labels, value, attention)
    assert opp.get(1).kind == "balanced" and "too small" in opp.get(1).reason
    assert find_opportunities(labels, value, attention, min_size=5).get(1).kind == "under-served"


def test_to_dict_json_safe_deterministic_and_inputs_untouched():
    labels, value, attention = data(1)
    value.iloc[:3] = np.nan
    before = (labels.copy(), value.copy(), attention.copy())
    a = json.dumps(find_opportunities(labels, value, attention, segment_names=NAMES).to_dict(), allow_nan=False)
    b = json.dumps(find_opportunities(labels, value, attention, segment_names=NAMES).to_dict(), allow_nan=False)
    assert a == b
    entry = json.loads(a)[0]
    for key in ["segment", "name", "size", "value_index", "attention_index", "value_per_customer",
                "attention_per_customer", "kind", "gap", "reason"]:
        assert key in entry
    np.testing.assert_array_equal(labels, before[0])
    pd.testing.assert_series_equal(value, before[1])
    pd.testing.assert_series_equal(attention, before[2])


def test_non_positive_average_value_and_validation():
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    value = pd.Series(np.r_[np.full(50, -5.0), np.full(50, 1.0)])
    opp = find_opportunities(labels, value, pd.Series(np.ones(100)))
    assert all(s.value_index is None and s.kind == "balanced" for s in opp.segments)
    json.dumps(opp.to_dict(), allow_nan=False)
    with pytest.raises(ValueError):
        find_opportunities(labels, value, high=90)
    with pytest.raises(ValueError):
        find_opportunities(labels, value.iloc[:10])


def test_clv_index_reported():
    labels, value, attention = data(0)
    opp = find_opportunities(labels, value, attention, clv=value * 3)
    assert opp.get(1).clv_index == pytest.approx(opp.get(1).value_index)


def test_a_lifecycle_group_is_never_flagged_but_keeps_its_indices():
    # the same planted data, with segments 1 and 3 as lifecycle groups of a layered run:
    # their value and attention follow from their rule, so neither is flagged
    labels, value, attention = data(0)
    plain = find_opportunities(labels, value, attention, segment_names=NAMES)
    layered = find_opportunities(labels, value, attention, segment_names=NAMES, lifecycle={1: "lapsed", 3: "new"})
    assert {s.segment: s.kind for s in layered.segments} == {0: "balanced", 1: "balanced", 2: "balanced",
                                                            3: "balanced"}
    for sid in (1, 3):
        assert layered.get(sid).value_index == plain.get(sid).value_index
        assert layered.get(sid).attention_index == plain.get(sid).attention_index
        assert "lifecycle group, set by rule" in layered.get(sid).reason
    assert "lifecycle" not in layered.get(0).reason and layered.get(2).reason == plain.get(2).reason
    assert layered.narrative.startswith("No segment is clearly under- or over-served")
    # without attention, "brings the most" names a behavioural segment, not the valuable group
    no_att = find_opportunities(labels, value, segment_names=NAMES, lifecycle={1: "lapsed"})
    assert "'Core' brings the most" in no_att.narrative
