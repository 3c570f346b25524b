"""End to end on the demo CRM: planted segments recovered, nothing lost, deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentkit import Segmentation
from segmentkit.datasets import PLANTED_SEGMENTS, make_demo, write_demo
from segmentkit.export import to_json
from segmentkit.pipeline import assign

#: slow: each runs a full segmentation; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow


def _ari(result, truth: pd.DataFrame) -> float:
    a = result.assignments.set_index("customer_id")
    seg = a[(a["status"] == "segmented") & a.index.isin(truth["customer_id"])]  # orphans have no truth
    t = truth.set_index("customer_id").loc[seg.index, "segment"]
    return adjusted_rand_score(t, seg["segment_id"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_segments_recovered_at_true_k(tmp_path, seed):
    data = make_demo(3000, seed=seed)
    paths = write_demo(tmp_path, data)
    result = Segmentation(k=len(PLANTED_SEGMENTS), random_state=seed, n_bootstrap=2).fit(
        customers=paths["customers"], events=paths["events"])
    assert _ari(result, data.truth) >= 0.9


def test_every_customer_exactly_once(demo_files):
    data, paths = demo_files
    result = Segmentation(k=6, n_bootstrap=2).fit(customers=paths["customers"], events=paths["events"])
    a = result.assignments
    expected = set(data.customers["customer_id"]) | set(data.events["customer_id"])
    assert a["customer_id"].is_unique
    assert set(a["customer_id"]) == expected
    no_events = set(data.customers["customer_id"]) - set(data.events["customer_id"])
    assert set(a.loc[a["status"] == "no_events", "customer_id"]) == no_events
    assert (a.loc[a["status"] == "no_events", "segment_id"] == -1).all()
    assert result.summary.n_customers == len(expected)
    dq = result.summary.data_quality
    assert dq.customers_without_events == len(no_events)
    assert dq.orphan_customers == len(set(data.events["customer_id"]) - set(data.customers["customer_id"]))
    assert dq.duplicate_events_dropped == int(data.events.duplicated().sum())


def test_summary_is_byte_identical_on_rerun(demo_files, tmp_path):
    _, paths = demo_files
    runs = []
    for i in range(2):
        r = Segmentation(k_min=4, k_max=7, n_bootstrap=3, random_state=7).fit(
            customers=paths["customers"], events=paths["events"])
        r.write(tmp_path / str(i))
        runs.append((tmp_path / str(i) / "summary.json").read_bytes())
    assert runs[0] == runs[1]


def test_segment_ids_canonical_largest_first(demo_files):
    _, paths = demo_files
    r = Segmentation(k=6, n_bootstrap=2).fit(customers=paths["customers"], events=paths["events"])
    sizes = [s.size for s in r.summary.segments if s.id >= 0]
    assert sizes == sorted(sizes, reverse=True)
    assert [s.id for s in r.summary.segments if s.id >= 0] == list(range(6))


def test_saved_model_assigns_the_same_segments(demo_files, tmp_path):
    _, paths = demo_files
    r = Segmentation(k=6, n_bootstrap=2).fit(customers=paths["customers"], events=paths["events"])
    r.write(tmp_path)
    again = assign(tmp_path, customers=paths["customers"], events=paths["events"])
    merged = r.assignments.merge(again, on="customer_id", suffixes=("", "_new"))
    assert len(merged) == len(r.assignments)
    assert (merged["segment_id"] == merged["segment_id_new"]).mean() == 1.0
    assert (merged["status"] == merged["status_new"]).all()


def test_customers_only_with_feature_columns(tmp_path):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    truth = np.repeat([0, 1, 2], 100)
    xy = centres[truth] + rng.normal(size=(300, 2))
    df = pd.DataFrame({"customer_id": [f"k{i}" for i in range(300)], "a": xy[:, 0], "b": np.exp(xy[:, 1] / 3),
                       "region": rng.choice(["N", "S"], 300)})
    r = Segmentation(k=3, feature_columns=("a", "b"), n_bootstrap=2).fit(customers=df)
    a = r.assignments.set_index("customer_id").loc[df["customer_id"]]
    assert adjusted_rand_score(truth, a["segment_id"]) > 0.9
    assert r.summary.features == ["a", "b"]


def test_summary_json_contract(demo_files):
    _, paths = demo_files
    r = Segmentation(k=6, n_bootstrap=2, persona_column="persona", attention_column="marketing_touches").fit(
        customers=paths["customers"], events=paths["events"])
    s = r.summary.to_dict()
    for key in ("schema_version", "n_customers", "snapshot_date", "algorithm", "k", "seed", "features",
                "k_selection", "segments", "data_quality", "personas", "opportunities", "features_skipped"):
        assert key in s
    for key in ("candidates", "recommended_k", "reason"):
        assert key in s["k_selection"]
    seg = s["segments"][0]
    for key in ("id", "name", "size", "share", "value_share", "top_features"):
        assert key in seg
    assert to_json(s)  # serialisable, no NaN


def test_fixed_k_evaluates_only_that_k_unless_evidence_is_asked(demo_files):
    _, paths = demo_files
    stages = []
    fixed = Segmentation(k=5, n_bootstrap=2, progress=lambda stage, t: stages.append((stage, t))).fit(
        events=paths["events"])
    sel = fixed.summary.k_selection
    assert [c.k for c in sel.candidates] == [5]
    assert "Other k were not evaluated" in sel.reason
    assert [s for s, _ in stages] == [
        "loading events", "computing features", "reading the past and the future for the out-of-time validation",
        "preparing the matrix", "checking k = 5", f"fitting kmeans on {fixed.summary.n_segmented:,} customers",
        "out-of-time validation", "profiling segments", "opportunities and personas", "assignments and model"]
    assert all(a <= b for (_, a), (_, b) in zip(stages, stages[1:]))
    swept = Segmentation(k=5, evidence=True, k_min=3, k_max=6, n_bootstrap=2).fit(events=paths["events"])
    assert [c.k for c in swept.summary.k_selection.candidates] == [3, 4, 5, 6]
    assert swept.summary.k == 5


def test_summary_says_what_the_descriptive_fits_used(demo_files):
    _, paths = demo_files
    result = Segmentation(k=4, n_bootstrap=2).fit(events=paths["events"])
    sample = result.summary.descriptive_sample
    n = result.summary.n_segmented
    assert sample.size == sample.of == n and sample.method == "all customers"
    assert sample.used_for == ["rules", "surrogate_accuracy", "exemplars", "customer_map"]
