"""Tests of the demo CRM generator: determinism, shape, oddities and planted structure."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from segmentkit.datasets import (
    CATEGORIES,
    CHANNELS,
    END_DATE,
    EVENT_TYPES,
    PERSONA_SEGMENT_SHARES,
    PERSONA_SHARES,
    PERSONAS,
    PLANTED_SEGMENTS,
    DemoData,
    make_demo,
    write_demo,
)

N = 5000


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return make_demo(N, seed=0)


@pytest.fixture(scope="module")
def per_customer(demo: DemoData) -> pd.DataFrame:
    """Plain pandas aggregates per customer with events (duplicates and orphans dropped)."""
    ev = demo.events.drop_duplicates()
    ev = ev[ev["customer_id"].isin(demo.customers["customer_id"])]
    buys = ev[ev["event_type"] == "purchase"].assign(
        q4=lambda x: x["event_time"].dt.month >= 10)
    g = buys.groupby("customer_id")
    counts = pd.crosstab(ev["customer_id"], ev["event_type"])
    out = pd.DataFrame({
        "orders": g.size(),
        "discount_share": g["discount_used"].mean(),
        "aov": g["amount"].mean(),
        "revenue": g["amount"].sum(),
        "q4_share": g["q4"].mean(),
        "first_buy": g["event_time"].min(),
        "last_buy": g["event_time"].max(),
    })
    out["views"] = counts["view"].reindex(out.index).fillna(0)
    out["carts"] = counts["cart"].reindex(out.index).fillna(0)
    truth = demo.truth.set_index("customer_id")
    out["segment"] = truth["segment"].reindex(out.index)
    out["touches"] = demo.customers.set_index("customer_id")["marketing_touches"].reindex(
        out.index)
    return out


def _expected_segment_shares() -> np.ndarray:
    return np.asarray(PERSONA_SHARES) @ np.asarray(PERSONA_SEGMENT_SHARES)


# ------------------------------------------------------------------ determinism, schema


def test_same_seed_same_frames_and_other_seed_differs() -> None:
    a, b, c = make_demo(600, seed=7), make_demo(600, seed=7), make_demo(600, seed=8)
    for name in ("customers", "events", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.snapshot_date == b.snapshot_date
    assert not a.events.equals(c.events)
    assert not a.truth["segment"].equals(c.truth["segment"])


def test_columns_and_types(demo: DemoData) -> None:
    cu, ev = demo.customers, demo.events
    assert list(cu.columns) == ["customer_id", "age", "gender", "region", "income_band",
                                "persona", "marketing_touches", "signup_date"]
    assert list(ev.columns) == ["customer_id", "event_time", "event_type", "order_id",
                                "amount", "quantity", "category", "channel",
                                "discount_used"]
    assert list(demo.truth.columns) == ["customer_id", "segment", "segment_name", "persona",
                                        "has_events"]
    assert cu["customer_id"].is_unique and len(cu) == N
    assert cu["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert pd.api.types.is_integer_dtype(cu["age"]) and cu["age"].between(18, 100).all()
    assert set(cu["gender"]) == {"F", "M", "X"}
    assert 4 <= cu["region"].nunique() <= 5
    assert set(cu["income_band"]) == {"low", "middle", "high"}
    assert set(cu["persona"]) == set(PERSONAS)
    assert pd.api.types.is_integer_dtype(cu["marketing_touches"])
    assert pd.api.types.is_datetime64_any_dtype(cu["signup_date"])
    assert (cu["signup_date"] == cu["signup_date"].dt.normalize()).all()
    assert pd.api.types.is_datetime64_any_dtype(ev["event_time"])
    assert set(ev["event_type"].unique()) == set(EVENT_TYPES)
    assert set(ev["category"].unique()) == set(CATEGORIES)
    assert set(ev["channel"].unique()) == set(CHANNELS)
    assert set(ev["discount_used"].unique()) == {0, 1}
    assert pd.api.types.is_integer_dtype(ev["quantity"]) and (ev["quantity"] >= 1).all()
    assert ev["event_time"].is_monotonic_increasing
    assert isinstance(demo.snapshot_date, datetime.date)


def test_truth_covers_every_customer(demo: DemoData) -> None:
    tr, cu = demo.truth, demo.customers
    assert tr["customer_id"].tolist() == cu["customer_id"].tolist()
    assert tr["persona"].tolist() == cu["persona"].tolist()
    assert set(tr["segment"]) == set(range(len(PLANTED_SEGMENTS)))
    names = np.asarray(PLANTED_SEGMENTS, dtype=object)[tr["segment"].to_numpy()]
    assert (tr["segment_name"].to_numpy(dtype=object) == names).all()


# ------------------------------------------------------------------ design


def test_design_table_has_the_promised_shape() -> None:
    table = np.asarray(PERSONA_SEGMENT_SHARES)
    assert table.shape == (len(PERSONAS), len(PLANTED_SEGMENTS))
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    splits = [p for p in range(len(PERSONAS)) if (table[p] >= 0.30).sum() >= 2]
    assert [PERSONAS[p] for p in splits] == ["Urban Millennials", "Suburban Families"]
    joint = np.asarray(PERSONA_SHARES)[:, None] * table
    composition = joint / joint.sum(axis=0)  # persona make-up of each segment
    lapsed = composition[:, PLANTED_SEGMENTS.index("Lapsed occasional")]
    assert np.sort(lapsed)[-2] > 0.4  # a merge of two personas
    assert composition[:, PLANTED_SEGMENTS.index("High-value connoisseurs")].max() < 0.35
    assert (_expected_segment_shares() >= 0.07).all()
    assert len(set(np.round(_expected_segment_shares(), 3))) == len(PLANTED_SEGMENTS)


def test_segment_shares_as_planted(demo: DemoData) -> None:
    observed = demo.truth["segment"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(observed, _expected_segment_shares(), atol=0.025)
    assert observed.min() >= 0.07


def test_persona_segment_crosstab_matches_design(demo: DemoData) -> None:
    ct = pd.crosstab(demo.truth["persona"], demo.truth["segment"], normalize="index")
    ct = ct.reindex(index=list(PERSONAS), columns=range(len(PLANTED_SEGMENTS)))
    np.testing.assert_allclose(ct.to_numpy(), np.asarray(PERSONA_SEGMENT_SHARES), atol=0.06)
    hv = demo.truth.loc[demo.truth["segment"] == 5, "persona"].value_counts(normalize=True)
    assert hv.max() < 0.35 and len(hv) == len(PERSONAS)


def test_demographics_follow_persona_not_segment(demo: DemoData) -> None:
    cu = demo.customers.assign(segment=demo.truth["segment"])
    um = cu[cu["persona"] == "Urban Millennials"]
    ages = um.groupby("segment")["age"].median()
    assert abs(ages[1] - ages[2]) <= 1.5  # discount hunters vs window shoppers: lookalikes
    medians = cu.groupby("persona")["age"].median()
    assert medians["Urban Millennials"] < 35 < medians["Empty Nesters"] < medians["Retirees"]


# ------------------------------------------------------------------ realism


def test_some_customers_have_no_events(demo: DemoData) -> None:
    active = demo.customers["customer_id"].isin(demo.events["customer_id"].unique())
    assert 0.01 <= (~active).mean() <= 0.02
    assert (active.to_numpy() == demo.truth["has_events"].to_numpy()).all()


def test_duplicates_and_orphans_present(demo: DemoData) -> None:
    ev = demo.events
    assert 0.001 <= ev.duplicated().mean() <= 0.004
    orphan = ~ev["customer_id"].isin(demo.customers["customer_id"])
    assert 0.0005 <= orphan.mean() <= 0.002
    assert 3 <= ev.loc[orphan, "customer_id"].nunique() <= 12


def test_event_fields_by_type(demo: DemoData) -> None:
    ev = demo.events
    browse = ev["event_type"].isin(["view", "cart"])
    assert ev.loc[browse, "amount"].isna().all() and ev.loc[browse, "order_id"].isna().all()
    buys = ev[ev["event_type"] == "purchase"]
    assert (buys["amount"] > 0).all() and buys["order_id"].notna().all()
    assert buys.drop_duplicates()["order_id"].is_unique
    amounts = buys["amount"]
    assert amounts.quantile(0.999) > 5 * amounts.median()  # heavy tail


def test_returns_reference_an_order_of_the_same_customer(demo: DemoData) -> None:
    ev = demo.events
    rets = ev[ev["event_type"] == "return"]
    assert len(rets) > 0 and (rets["amount"] < 0).all()
    orders = ev[ev["event_type"] == "purchase"].drop_duplicates("order_id").set_index(
        "order_id")
    ref = orders.reindex(rets["order_id"])
    assert ref["customer_id"].notna().all()
    assert (ref["customer_id"].to_numpy() == rets["customer_id"].to_numpy()).all()
    assert (ref["event_time"].to_numpy() < rets["event_time"].to_numpy()).all()
    assert (-rets["amount"].to_numpy() <= ref["amount"].to_numpy() + 0.01).all()


def test_everything_inside_the_window(demo: DemoData) -> None:
    ev = demo.events
    start = pd.Timestamp(END_DATE) - pd.DateOffset(years=2) + pd.Timedelta(days=1)
    assert ev["event_time"].min() >= start
    assert ev["event_time"].max() < pd.Timestamp(END_DATE) + pd.Timedelta(days=1)
    assert demo.snapshot_date == ev["event_time"].max().date() + datetime.timedelta(days=1)
    first = ev.groupby("customer_id")["event_time"].min()
    signup = demo.customers.set_index("customer_id")["signup_date"]
    both = pd.concat([signup, first], axis=1, join="inner")
    assert (both["signup_date"] <= both["event_time"]).all()


def test_years_argument() -> None:
    d = make_demo(300, seed=2, years=1)
    assert d.events["event_time"].min() >= pd.Timestamp("2025-07-01")
    assert d.events["event_time"].max() < pd.Timestamp("2026-07-01")


# ------------------------------------------------------------------ planted behavior


def test_discount_hunters(per_customer: pd.DataFrame) -> None:
    med = per_customer.groupby("segment")["discount_share"].median()
    assert med[1] > 0.6
    assert (med.drop(1) < 0.25).all()


def test_seasonal_gift_buyers(per_customer: pd.DataFrame) -> None:
    med = per_customer.groupby("segment")["q4_share"].median()
    assert med[3] > 0.7
    assert (med.drop([3, 4]) < 0.5).all()


def test_high_value_connoisseurs(per_customer: pd.DataFrame, demo: DemoData) -> None:
    pc = per_customer
    hv = pc["segment"] == 5
    assert pc.loc[hv, "aov"].mean() > 3 * pc.loc[~hv, "aov"].mean()
    revenue = pc.groupby("segment")["revenue"].mean()
    assert revenue.idxmax() == 5 and revenue[5] > 2 * revenue.drop(5).max()
    touches = demo.customers["marketing_touches"]
    assert touches[demo.truth["segment"] == 5].mean() < 0.5 * touches.mean()
    # no other segment is under-served: all within 35 % of the average
    by_seg = touches.groupby(demo.truth["segment"]).mean().drop(5)
    assert (by_seg > 0.65 * touches.mean()).all()


def test_frequency_and_recency(per_customer: pd.DataFrame, demo: DemoData) -> None:
    pc = per_customer
    span = (pc["last_buy"] - pc["first_buy"]).dt.days
    gap = (span / (pc["orders"] - 1).clip(lower=1)).groupby(pc["segment"]).median()
    assert 7 <= gap[0] <= 10
    assert 20 <= gap[1] <= 30
    assert 15 <= gap[5] <= 25
    orders = pc.groupby("segment")["orders"]
    assert orders.max()[2] <= 3 + 1  # window shoppers: 1-3 (a duplicate may add one)
    assert orders.max()[4] <= 4 and orders.min()[4] >= 1
    snap = pd.Timestamp(demo.snapshot_date)
    lapsed_recency = (snap - pc.loc[pc["segment"] == 4, "last_buy"]).dt.days
    assert lapsed_recency.min() > 365 + 100  # nothing in the last 16 months
    ws = pc[pc["segment"] == 2]
    abandonment = 1 - ws["orders"] / ws["carts"].clip(lower=1)
    assert abandonment.median() > 0.7 and ws["views"].median() > 15
    assert pc.loc[pc["segment"] == 0, "views"].median() < 0.5 * pc.loc[
        pc["segment"] == 0, "orders"].median()


def test_planted_segments_recoverable_by_kmeans(demo: DemoData,
                                                  per_customer: pd.DataFrame) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    ev = demo.events.drop_duplicates()
    buys = ev[ev["event_type"] == "purchase"]
    pc = per_customer
    snap = pd.Timestamp(demo.snapshot_date)
    feats = pd.DataFrame({
        "log_orders": np.log1p(pc["orders"]),
        "recency": (snap - pc["last_buy"]).dt.days,
        "log_aov": np.log(pc["aov"]),
        "discount": pc["discount_share"],
        "q4": pc["q4_share"],
        "log_vpo": np.log1p(pc["views"] / pc["orders"]),
        "abandon": (1 - pc["orders"] / pc["carts"].clip(lower=1)).clip(0, 1),
    })
    feats = feats.join(pd.crosstab(buys["customer_id"], buys["category"], normalize="index"))
    feats = feats.join(pd.crosstab(buys["customer_id"], buys["channel"], normalize="index"))
    feats = feats.fillna(0)
    x = StandardScaler().fit_transform(feats)
    with threadpool_limits(1):  # OpenMP threads crawl on a busy 2-core machine
        labels = KMeans(6, n_init=4, random_state=0).fit_predict(x)
    assert adjusted_rand_score(pc["segment"], labels) >= 0.9


# ------------------------------------------------------------------ scaling and files


@pytest.mark.parametrize("target", [10, 20, 60])
def test_events_per_customer_scaling(target: float) -> None:
    d = make_demo(1500, seed=3, events_per_customer=target)
    assert len(d.events) / 1500 == pytest.approx(target, rel=0.10)


def test_default_activity_level(demo: DemoData) -> None:
    assert 35 <= len(demo.events) / N <= 60


def test_write_demo_csv_and_parquet(tmp_path) -> None:
    d = make_demo(300, seed=4)
    paths = write_demo(tmp_path / "csv", d)
    assert set(paths) == {"customers", "events"}
    assert not (tmp_path / "csv" / "truth.csv").exists()
    ev = pd.read_csv(paths["events"], parse_dates=["event_time"])
    assert len(ev) == len(d.events)
    assert (ev["event_time"].to_numpy() == d.events["event_time"].to_numpy()).all()
    with open(paths["events"], encoding="utf-8") as fh:
        fh.readline()
        assert "T" in fh.readline().split(",")[1]
    cu = pd.read_csv(paths["customers"], dtype={"signup_date": str})
    assert cu["signup_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()

    paths = write_demo(tmp_path / "pq", d, fmt="parquet", truth=True)
    assert set(paths) == {"customers", "events", "truth"}
    back = pd.read_parquet(paths["events"])
    assert len(back) == len(d.events)
    np.testing.assert_allclose(back["amount"], d.events["amount"])
    assert len(pd.read_parquet(paths["truth"])) == 300
    with pytest.raises(ValueError):
        write_demo(tmp_path, d, fmt="xlsx")


@pytest.mark.parametrize("kwargs", [{"n_customers": 0}, {"years": 0},
                                    {"events_per_customer": -1.0}])
def test_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_demo(**{"n_customers": 10, **kwargs})


def test_tiny_inputs_work() -> None:
    for n in (1, 3, 40):
        d = make_demo(n, seed=n)
        assert len(d.customers) == len(d.truth) == n
