"""select_k: known structure, constraints, determinism, the JSON contract."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentkit import algorithms
from segmentkit.choose_k import Constraints, KSelection, on_continuum, select_k, split_bimodality
from segmentkit.labeled import check_recovery, customers, penguins, planted, rule_choices, wine

#: slow: recovery on labeled sets with bootstraps; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow

CANDIDATE_KEYS = {
    "k", "algorithm", "silhouette", "calinski_harabasz", "davies_bouldin", "inertia", "bic",
    "stability", "segment_stability", "min_share", "distinguishability", "eligible", "why_not",
    "min_cluster_share", "params",
}


@pytest.mark.parametrize(
    "ds",
    [
        planted(1, 4, 5, n=1000),
        planted(2, 6, 8, n=1200, shape="elongated", sep=7.5),
        planted(3, 5, 4, n=1000, shape="heavy"),
        planted(4, 3, 6, n=1000, noise=0.05),
        customers(5, 5, n=1200),
        wine(),
    ],
    ids=lambda ds: ds.name,
)
def test_recommends_the_true_k_on_clear_structure(ds):
    result = check_recovery(ds.X, ds.y)
    assert result["recommended_k"] == ds.true_k
    assert result["ari"] >= 0.85


@pytest.mark.parametrize(
    ("ds", "words"),
    [
        # two pairs of close heavy-tailed groups: merging them gives the highest silhouette
        # (k = 4, the old rule's choice); k = 6 is a silhouette peak whose splits are bimodal
        (planted(205, 6, 6, shape="heavy", sep=4.5), "separating two groups"),
        # one elongated group cut in two costs under 5 % of silhouette (the old rule took 7)
        (planted(208, 6, 6, shape="elongated", sep=6.0), "halves one group rather than separating two"),
        # one wide group cut in two, likewise (the old rule took 4)
        (planted(216, 3, 3, spread=0.9, sep=5.0, n=2500), "halves one group rather than separating two"),
    ],
    ids=["close heavy", "elongated", "unequal spreads"],
)
def test_islands_close_groups_are_split_and_one_group_is_not_halved(ds, words):
    sel = select_k(ds.X, n_bootstrap=5, k_values=range(2, 9))
    assert sel.recommended_k == ds.true_k
    assert words in sel.reason
    assert not on_continuum(sel)  # islands: the continuum's default bound did not apply


def test_split_bimodality_of_two_point_groups_by_hand():
    # one segment of ten rows at -1 and +1 (five each), split by sign: the projection is the
    # points themselves; skewness 0, excess kurtosis -2, so with the sample estimates the
    # coefficient is (n - 2)(n - 3) / ((n - 1)(n + 1)) = 8 * 7 / (9 * 11)
    X = np.r_[np.full(5, -1.0), np.full(5, 1.0)][:, None]
    fewer = np.zeros(10, dtype=int)
    more = (X[:, 0] > 0).astype(int)
    assert split_bimodality(X, fewer, more) == pytest.approx(56 / 99)
    # a normal cloud cut at its median is one group halved: near 1/3, below 5/9
    z = np.random.default_rng(0).standard_normal((4000, 2))
    halved = split_bimodality(z, np.zeros(4000, dtype=int), (z[:, 0] > np.median(z[:, 0])).astype(int))
    assert halved == pytest.approx(1 / 3, abs=0.02)


def test_penguins_kmeans_quality_at_three_species():
    ds = penguins()
    sel = select_k(ds.X)
    assert sel.recommended_k in (2, 3)  # Adelie and Chinstrap overlap for k-means
    labels = algorithms.get("kmeans").fit(ds.X, k=3, random_state=0).labels
    assert adjusted_rand_score(ds.y, labels) >= 0.7


def test_beats_single_rules_on_fast_subset():
    sets = [planted(11, 4, 3, sep=4.5), planted(12, 3, 4, shape="elongated"), planted(13, 6, 4, noise=0.08),
            planted(14, 4, 6, spread=0.9, sep=5.0), customers(15, 7)]
    hits: dict[str, int] = {}
    for ds in sets:
        for rule, k in rule_choices(select_k(ds.X, n_bootstrap=6)).items():
            hits[rule] = hits.get(rule, 0) + (k == ds.true_k)
    assert all(hits["segmentkit"] >= v for v in hits.values()), hits


def test_same_seed_same_selection_and_row_order_does_not_matter():
    ds = planted(21, 4, 5, n=800)
    a = select_k(ds.X, n_bootstrap=4, random_state=7)
    b = select_k(ds.X, n_bootstrap=4, random_state=7)
    perm = np.random.default_rng(0).permutation(ds.X.shape[0])
    c = select_k(ds.X[perm], n_bootstrap=4, random_state=7)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict()) == json.dumps(c.to_dict())


def test_to_dict_contract_is_json_safe():
    ds = planted(22, 3, 4, n=600)
    sel = select_k(ds.X, n_bootstrap=3)
    d = json.loads(json.dumps(sel.to_dict()))
    assert {"candidates", "recommended_k", "recommended_algorithm", "reason", "knee_k",
            "recommended_params"} <= set(d)
    assert [c["k"] for c in d["candidates"]] == list(range(2, 11))
    for c in d["candidates"]:
        assert CANDIDATE_KEYS <= set(c)
        assert c["bic"] is None and len(c["segment_stability"]) == c["k"]
        assert (c["why_not"] is None) == c["eligible"]
    assert isinstance(sel, KSelection) and sel.recommended.k == sel.recommended_k
    assert "segments" in sel.reason


def test_candidate_below_min_share_is_never_recommended():
    # a planted group of ~5 % : with min_share 10 % every k that isolates it is ineligible
    ds = planted(23, 4, 4, n=1000)
    sel = select_k(ds.X, n_bootstrap=3, constraints=Constraints(min_share=0.1))
    rec = sel.recommended
    assert rec.min_share >= 0.1 and rec.eligible
    small = [c for c in sel.candidates if c.min_share < 0.1]
    assert small and all(not c.eligible and "min_share" in c.why_not for c in small)
    # shares in words keep one decimal: the smallest segment's share, then the minimum
    c = small[0]
    assert f"holds {100 * c.min_share:.1f} % of customers, below min_share (10.0 %)" in c.why_not


def test_max_segments_and_min_value_share():
    ds = planted(24, 5, 4, n=800)
    value = np.where(ds.y == 0, 10.0, 1.0)
    sel = select_k(ds.X, n_bootstrap=3, value=value,
                   constraints=Constraints(max_segments=4, min_value_share=0.05))
    assert sel.recommended_k <= 4
    over = [c for c in sel.candidates if c.k > 4]
    assert over and all("max_segments" in c.why_not for c in over)
    assert all(c.value_min_share is not None for c in sel.candidates)


def test_fixed_k_always_wins_and_is_reported():
    ds = planted(25, 4, 4, n=600)
    sel = select_k(ds.X, n_bootstrap=3, fixed_k=7, k_values=[2, 3, 4, 5])
    assert sel.recommended_k == 7 and sel.fixed_k == 7
    assert "user" in sel.reason and "suggest 4" in sel.reason
    assert 7 in [c.k for c in sel.candidates]


def test_gmm_candidates_carry_bic():
    ds = planted(26, 3, 3, n=500)
    sel = select_k(ds.X, algorithm="gmm", k_values=[2, 3, 4], n_bootstrap=2)
    assert all(c.bic is not None for c in sel.candidates)
    assert sel.recommended_k == 3


@pytest.mark.parametrize("name", ["hdbscan", "dbscan"])
def test_density_selection_sweeps_share_and_params_reproduce(name):
    ds = planted(27, 4, 4, n=800, noise=0.05)
    sel = select_k(ds.X, algorithm=name, n_bootstrap=3, size_values=[0.03, 0.08])
    assert [c.params["min_cluster_share"] for c in sel.candidates] == [0.03, 0.08]
    assert set(sel.recommended_params) == {"min_cluster_share"}
    fitted = algorithms.get(name).fit(ds.X, k=sel.recommended_k, random_state=0, **sel.recommended_params)
    assert fitted.labels.shape == (ds.X.shape[0],) and (fitted.labels == -1).any()
    keep = (ds.y != -1) & (fitted.labels != -1)
    if name == "hdbscan":
        assert sel.recommended_k == 4
        assert adjusted_rand_score(ds.y[keep], fitted.labels[keep]) >= 0.9
    else:  # one global eps: DBSCAN may merge the two closest groups
        assert sel.recommended_k in (3, 4)
        assert adjusted_rand_score(ds.y[keep], fitted.labels[keep]) >= 0.6


def test_auto_compares_algorithms():
    ds = planted(28, 3, 3, n=400)
    sel = select_k(ds.X, algorithm="auto", k_values=[2, 3, 4], n_bootstrap=2, size_values=[0.05])
    algos = {c.algorithm for c in sel.candidates}
    assert {"kmeans", "ward", "gmm", "hdbscan", "dbscan", "average", "complete"} <= algos
    assert sel.recommended_k == 3


def test_kprototypes_selection_with_categorical_columns():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 150)
    X = np.column_stack([rng.normal(size=(450, 2)) + np.array([[0, 0], [5, 0], [0, 5]])[y], y])
    sel = select_k(X, algorithm="kprototypes", k_values=[2, 3, 4], n_bootstrap=2,
                   options={"categorical": [2], "n_init": 2})
    assert sel.recommended_k == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k_values": [1, 2]}, "k_values must be integers >= 2"),
        ({"fixed_k": 1}, "fixed_k must be an integer >= 2, got 1"),
        ({"n_bootstrap": -1}, "n_bootstrap must be an integer >= 0, got -1"),
        ({"sample_size": 5}, "sample_size must be an integer >= 100 or None, got 5"),
        ({"algorithm": "nope"}, "algorithm must be one of"),
        ({"constraints": Constraints(min_value_share=0.1)}, "min_value_share needs value"),
    ],
)
def test_parameters_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_k(np.random.default_rng(0).normal(size=(200, 3)), **kwargs)


def test_constraints_are_validated():
    with pytest.raises(ValueError, match="min_share must be a number from 0 to 0.5"):
        Constraints(min_share=0.7)
    # the library takes every value the settings' declared range takes
    from segmentkit.config import SETTING_RANGES

    for name in ("min_share", "min_value_share"):
        _, low, high = SETTING_RANGES[name]
        Constraints(**{name: low}), Constraints(**{name: high})
    with pytest.raises(ValueError, match="max_segments must be an integer >= 2 or None, got 1"):
        Constraints(max_segments=1)


def test_structure_strength_reads_silhouette_and_counts_border_customers():
    from segmentkit.choose_k import structure_strength

    conf = np.array([0.05, 0.1, 0.5, 0.9, 0.15, 0.3, 0.8, 0.95, 0.6, 0.7])  # 3 of 10 below 0.2
    s = structure_strength(0.18, conf)
    assert s["reading"].startswith("no substantial structure") and "continuum" in s["reading"]
    assert s["near_border_share"] == pytest.approx(0.3)
    assert "30.0 % of customers sit near a border" in s["sentence"]
    assert structure_strength(0.75, conf)["reading"].startswith("strong")
    assert structure_strength(0.55, None)["near_border_share"] is None


def test_pair_separation_is_the_worst_pairs_best_single_feature_auc():
    from segmentkit.choose_k import pair_separation

    # column 0: A = 1, 2, 3; B = 2, 4, 5; C = 10, 11, 12. Column 1 is constant (AUC 0.5).
    # A above B: (3 > 2) once, (2 = 2) half once → 1.5 of 9 pairs, AUC 1/6, i.e. 5/6 the other
    # way; A or B against C: 1. The worst pair's best feature: 5/6.
    X = np.array([[1, 7], [2, 7], [3, 7], [2, 7], [4, 7], [5, 7], [10, 7], [11, 7], [12, 7]], dtype=float)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert pair_separation(X, labels) == pytest.approx(5 / 6)
    assert pair_separation(X, np.zeros(9, dtype=int)) is None


def test_a_continuum_gets_the_most_stable_segments_with_traits_up_to_the_business_range():
    # one elongated Gaussian cloud: no islands (silhouette best at k = 2, below 0.5), but
    # k-means cuts it into stable slices along its long axis
    X = np.random.default_rng(0).normal(size=(1500, 3)) * np.array([4.0, 1.0, 1.0])
    sel = select_k(X, random_state=0)
    best_silhouette = max(sel.candidates, key=lambda c: c.silhouette)
    assert best_silhouette.k == 2 and best_silhouette.silhouette < 0.5
    usable = [c.k for c in sel.candidates if c.eligible and c.stable and c.traits and c.k <= 8]
    assert sel.recommended_k == max(usable) >= 4
    assert "continuum" in sel.reason and "stable" in sel.reason
    # the rule chose on a continuum (so its default bounded k); a user's k is not the rule's
    assert on_continuum(sel) and not on_continuum(sel.model_copy(update={"fixed_k": sel.recommended_k}))
    # the next k's split is named by the segment's share: the sample's numbering is not the final ids
    assert re.search(r"8 segments would split the segment of [\d.]+ % of customers into two", sel.reason)
    capped = select_k(X, random_state=0, constraints=Constraints(max_segments=4))
    assert capped.recommended_k == 4 and "up to 4" in capped.reason


def test_a_density_algorithm_finding_one_group_is_said_so():
    # one round cloud: DBSCAN finds a single dense group at every size setting
    X = np.random.default_rng(0).normal(size=(400, 2))
    sel = select_k(X, algorithm="dbscan", random_state=0)
    assert {c.k for c in sel.candidates} == {1} and sel.recommended_k == 1
    assert sel.reason.startswith("1 segment (dbscan") and "no candidate found two segments or more" in sel.reason
    assert "clearly stable" not in sel.reason
