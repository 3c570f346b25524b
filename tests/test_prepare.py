"""Preparation: log for heavy tails, shrinkage of few-order shares, scaling, constants, JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmentkit.features import FeatureSpec
from segmentkit.prepare import CLIP, Preparation, fit_preparation

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
