"""Preparation: log for heavy tails, shrinkage of few-order shares, scaling, constants, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from segmentkit.features import FeatureSpec
from segmentkit.prepare import CLIP, Preparation, fit_preparation, fit_transform

SPECS = {
    "monetary": FeatureSpec("monetary", "amount", "net spend"),
    "orders": FeatureSpec("orders", "count", "orders"),
    "discount_share": FeatureSpec("discount_share", "share", "discount", evidence="orders"),
    "flat": FeatureSpec("flat", "count", "flat"),
}


@pytest.fixture()
def frame():
    rng = np.random.default_rng(0)
    n = 500
    return pd.DataFrame({
        "monetary": rng.lognormal(4, 1.2, n),
        "orders": rng.integers(1, 30, n).astype(float),
        "discount_share": rng.uniform(0, 1, n),
    })


def test_heavy_tail_logged_symmetric_not(frame):
    prep = fit_preparation(frame, SPECS)
    logs = {c.name: c.log for c in prep.columns}
    assert logs["monetary"] is True
    assert logs["orders"] is False  # uniform counts are not heavy-tailed
    assert logs["discount_share"] is False


def test_scaled_columns_centred_and_clipped(frame):
    frame.loc[0, "monetary"] = 1e9  # one extreme customer
    prep = fit_preparation(frame, SPECS)
    X = prep.transform(frame)
    assert np.abs(np.median(X, axis=0)).max() < 0.1
    assert X.max() <= CLIP and X.min() >= -CLIP


def test_shares_from_few_orders_are_shrunk(frame):
    frame.loc[0, ["orders", "discount_share"]] = [1.0, 1.0]
    frame.loc[1, ["orders", "discount_share"]] = [29.0, 1.0]
    prep = fit_preparation(frame, SPECS)
    X = prep.transform(frame)
    j = prep.names.index("discount_share")
    assert X[0, j] < X[1, j]  # one discounted order is weaker evidence than 29


def test_constant_column_dropped_with_warning(frame):
    frame["flat"] = 3.0
    with pytest.warns(UserWarning, match="flat"):
        prep = fit_preparation(frame, SPECS)
    assert prep.dropped_constant == ("flat",)
    assert "flat" not in prep.names


def test_imputation_counted(frame):
    frame.loc[:9, "orders"] = np.nan
    prep = fit_preparation(frame, SPECS)
    assert prep.imputed == {"orders": 10}
    assert np.isfinite(prep.transform(frame)).all()


def test_json_round_trip_transforms_identically(frame):
    prep = fit_preparation(frame, SPECS)
    again = Preparation.from_dict(json.loads(json.dumps(prep.to_dict())))
    np.testing.assert_array_equal(prep.transform(frame), again.transform(frame))


def test_new_data_missing_a_column_is_taken_as_zero(frame):
    prep = fit_preparation(frame, SPECS)
    X = prep.transform(frame.drop(columns=["discount_share"]))
    assert np.isfinite(X).all()


def _engagement_swamps_discount(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Five engagement columns measuring one continuous axis (a continuum, no groups) and
    one discount column with two planted groups: deal seekers and full-price buyers."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(0, 1, n)
    cols = {name: axis + rng.normal(0, 0.25, n)
            for name in ("recency_days", "orders", "tenure_days", "active_months", "spend_trend")}
    group = (rng.random(n) < 0.4).astype(int)
    cols["discount_share"] = np.where(group == 1, 0.8, 0.1) + rng.normal(0, 0.05, n)
    return pd.DataFrame(cols), group


def test_family_weights_count_what_a_family_measures():
    frame, _ = _engagement_swamps_discount()
    specs = {c: FeatureSpec(c, "custom", c) for c in frame.columns}
    prep = fit_preparation(frame, specs, balance_families=True)
    w = {c.name: c.weight for c in prep.columns}
    assert w["discount_share"] == 1.0  # a family of one column keeps its weight
    # five noisy copies of one axis, pairwise correlation r = 1 / (1 + 0.25²) = 0.941:
    # eigenvalues 1 + 4r and 4 × (1 - r), participation ratio 25 / ((1 + 4r)² + 4(1 - r)²)
    # = 1.100 effective dimensions, so each column weighs sqrt(1.100 / 5) = 0.469
    assert w["orders"] == pytest.approx(0.469, abs=0.02)
    assert fit_preparation(frame, specs, balance_families=False).columns[0].weight == 1.0  # the switch: off weighs 1
    fam = prep.families(prep.transform(frame))
    plain = fit_preparation(frame, specs, balance_families=False)
    before = plain.families(plain.transform(frame))["engagement"]["variance_share"]
    # unbalanced, five unit-variance columns against one: engagement holds ~90 % of the
    # variance; balanced, ~1.1 effective dimensions against the discount column's one
    assert before > 0.85
    assert fam["engagement"]["variance_share"] < 0.75
    assert fam["price & returns"]["columns"] == ["discount_share"]


def _redundant_engagement_and(others: tuple[str, ...], n: int = 1200, seed: int = 1) -> pd.DataFrame:
    """The five redundant engagement columns of :func:`_engagement_swamps_discount` and one
    unrelated normal column per name in ``others`` (each of another family)."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(0, 1, n)
    cols = {name: axis + rng.normal(0, 0.25, n)
            for name in ("recency_days", "orders", "tenure_days", "active_months", "spend_trend")}
    cols.update({name: rng.normal(0, 1, n) for name in others})
    return pd.DataFrame(cols)


def test_a_family_below_half_of_the_distance_keeps_its_weight():
    # five engagement columns against six columns of six other families: engagement holds
    # 5 / 11 of the variance, below half, so nothing is reweighted although its columns are
    # redundant (weighing it by its ~1.1 effective dimensions would give each column 0.47)
    frame = _redundant_engagement_and(("basket_size", "discount_share", "monetary", "gap_mean_days",
                                       "views_per_order", "channel_share__web"))
    specs = {c: FeatureSpec(c, "custom", c) for c in frame.columns}
    prep = fit_preparation(frame, specs, balance_families=True)
    assert {c.weight for c in prep.columns} == {1.0}
    assert prep.families(prep.transform(frame))["engagement"]["variance_share"] < 0.5


def test_a_family_above_half_is_brought_down_to_half():
    # five engagement columns against three other families: 5 / 8 of the variance. Its
    # effective dimensions (~1.1 of 5) would allow it far less, so the cap decides: half.
    frame = _redundant_engagement_and(("basket_size", "monetary", "views_per_order"))
    specs = {c: FeatureSpec(c, "custom", c) for c in frame.columns}
    plain = fit_preparation(frame, specs, balance_families=False)
    assert plain.families(plain.transform(frame))["engagement"]["variance_share"] > 0.6
    prep = fit_preparation(frame, specs)  # the default balances
    fam = prep.families(prep.transform(frame))
    assert fam["engagement"]["variance_share"] == pytest.approx(0.5, abs=1e-6)
    assert fam["engagement"]["weight"] == pytest.approx(math.sqrt(3 / 5), abs=0.03)  # unit variances
    assert fam["basket"]["weight"] == 1.0


def test_balanced_families_let_one_discount_feature_through():
    from sklearn.cluster import KMeans

    frame, group = _engagement_swamps_discount()
    specs = {c: FeatureSpec(c, "custom", c) for c in frame.columns}
    purity, separation = {}, {}
    for balance in (False, True):
        prep = fit_preparation(frame, specs, balance_families=balance)
        X = prep.transform(frame)
        labels = KMeans(4, n_init=10, random_state=0).fit_predict(X)
        # share of customers whose segment's majority is their own discount group
        table = np.zeros((4, 2))
        np.add.at(table, (labels, group), 1)
        purity[balance] = table.max(axis=1).sum() / len(group)
        separation[balance] = prep.families(X, labels)["price & returns"]["separation_share"]
    # unbalanced: four slices of the engagement continuum, deal seekers in every one
    assert purity[False] < 0.75 and separation[False] < 0.05
    # balanced: the deal seekers are segments of their own
    assert purity[True] > 0.95 and separation[True] > 0.2


def test_weights_round_trip(frame):
    prep = fit_preparation(frame, SPECS, balance_families=True)
    again = Preparation.from_dict(json.loads(json.dumps(prep.to_dict())))
    np.testing.assert_array_equal(again.transform(frame), prep.transform(frame))


@pytest.mark.parametrize("balance", [False, True])
def test_fit_transform_is_fit_then_transform_bit_for_bit(balance):
    """The matrix made while fitting (weights scaled in) is the one transform makes, every
    bit, and the preparation the same, on a frame whose engagement family the balancing
    brings down (weights below 1) and with a missing value to impute."""
    frame = _redundant_engagement_and(("basket_size", "monetary", "views_per_order"))
    frame.iloc[3, 0] = np.nan
    specs = {c: FeatureSpec(c, "custom", c) for c in frame.columns}
    prep, X = fit_transform(frame, specs, balance_families=balance)
    assert prep == fit_preparation(frame, specs, balance_families=balance)
    assert (min(c.weight for c in prep.columns) < 1.0) == balance
    np.testing.assert_array_equal(X, prep.transform(frame))

