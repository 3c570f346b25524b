"""Bounded stratified samples for the descriptive fits (rules, surrogate, exemplars, map)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentkit.features import FeatureSpec
from segmentkit.profiles import profile_segments
from segmentkit.sampling import MIN_PER_SEGMENT, stratified_sample


def _labels():
    # 90,000 / 9,000 / 1,000 customers, interleaved (row order must not matter to the counts)
    labels = np.repeat([0, 1, 2], [90_000, 9_000, 1_000])
    return np.random.default_rng(5).permutation(labels)


def test_allocation_is_proportional_with_a_floor_and_weights_restore_sizes():
    labels = _labels()
    s = stratified_sample(labels, size=10_000, random_state=0)
    drawn = np.bincount(labels[s.rows], minlength=3)
    # by hand: 0.9 * 10,000 = 9,000; 0.09 * 10,000 = 900; 0.01 * 10,000 = 100 -> floor 300
    assert MIN_PER_SEGMENT == 300
    assert drawn.tolist() == [9_000, 900, 300]
    assert s.size == 10_200 and s.n_total == 100_000 and not s.complete
    weights = np.bincount(labels[s.rows], weights=s.weights, minlength=3)
    assert np.allclose(weights, [90_000, 9_000, 1_000])
    assert np.all(np.diff(s.rows) > 0)


def test_seeded_and_bounded_whatever_the_customer_count():
    labels = _labels()
    a = stratified_sample(labels, size=10_000, random_state=3)
    b = stratified_sample(labels, size=10_000, random_state=3)
    c = stratified_sample(labels, size=10_000, random_state=4)
    assert np.array_equal(a.rows, b.rows)
    assert not np.array_equal(a.rows, c.rows)
    bigger = stratified_sample(np.tile(labels, 5), size=10_000, random_state=3)
    assert bigger.size == a.size  # five times the customers, the same sample size


def test_small_input_uses_every_row_with_weight_one():
    s = stratified_sample(np.array([0, 1, 1, 2]), size=10)
    assert s.rows.tolist() == [0, 1, 2, 3] and s.weights.tolist() == [1.0] * 4 and s.complete
    assert s.to_dict()["method"] == "all customers"


def test_rules_on_a_sample_report_counts_over_all_customers():
    # segment 1 is exactly "orders >= 11": 6,000 of 60,000 customers
    rng = np.random.default_rng(0)
    n = 60_000
    orders = np.where(np.arange(n) < 6_000, rng.integers(11, 30, n), rng.integers(1, 11, n)).astype(float)
    other = rng.normal(size=n)
    df = pd.DataFrame({"orders": orders, "noise": other}, index=[f"c{i}" for i in range(n)])
    labels = (orders >= 11).astype(int)
    specs = {"orders": FeatureSpec("orders", "count", "number of orders"),
             "noise": FeatureSpec("noise", "custom", "noise")}
    X = np.column_stack([(orders - orders.mean()) / orders.std(), other])
    p = profile_segments(df, labels, X=X, specs=specs, sample_size=5_000)
    assert p.sample is not None and p.sample.size == 5_000 and p.sample.n_total == n
    assert p.surrogate_accuracy == 1.0
    rule = p.get(1).rules[0]
    assert rule.text == "number of orders ≥ 11"
    assert (rule.precision, rule.coverage, rule.support) == (1.0, 1.0, 6_000)
    assert all(next(iter(e.features.values())) >= 11 for e in p.get(1).exemplars)
    # statistics still use every customer
    assert p.get(1).size == 6_000
    assert p.get(1).features[0].mean == pytest.approx(orders[:6_000].mean(), rel=1e-12)


def test_order_invariant_sample_follows_rows_not_positions():
    """The selection's sample of rows, across blocks of hashed rows: the same rows in the
    same order whatever the row order (shuffled), -0.0 hashed as 0.0, identical rows
    interchangeable, and the first ``size`` of the full ranking."""
    from segmentkit.choose_k import order_invariant_sample

    rng = np.random.default_rng(2)
    X = rng.normal(size=(20_000, 5))
    X[100:120] = X[7]  # twenty copies of one row
    X[::4, 1] = 0.0
    shuffled = rng.permutation(len(X))
    Y = X[shuffled].copy()
    Y[Y == 0.0] = -0.0
    for size in (1, 500, 19_999, None):
        a, b = order_invariant_sample(X, size, 11), order_invariant_sample(Y, size, 11)
        assert len(a) == (size or len(X)) and len(np.unique(a)) == len(a)
        np.testing.assert_array_equal(X[a], np.where(Y[b] == 0.0, 0.0, Y[b]))
    full = order_invariant_sample(X, None, 11)
    np.testing.assert_array_equal(X[order_invariant_sample(X, 3_000, 11)], X[full[:3_000]])
    assert not np.array_equal(order_invariant_sample(X, 500, 11), order_invariant_sample(X, 500, 12))  # seeded
