"""Every clustering algorithm: recovery of known structure, predict, JSON state, noise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentkit import algorithms
from segmentkit.algorithms._base import knee_index, nearest_centre, relabel_by_size, segment_centres

#: slow: fits every algorithm family; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow


def _blobs(n: int = 1200, k: int = 4, d: int = 5, seed: int = 0, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(k, d))
    centres[:, 0] = np.arange(k) * 8.0  # well apart
    sizes = np.array([0.4, 0.3, 0.2, 0.1][:k]) if k == 4 else np.full(k, 1.0 / k)
    y = np.repeat(np.arange(k), (sizes * n).astype(int))
    X = centres[y] + rng.normal(size=(y.size, d)) * (0.6 + 0.4 * (y % 2))[:, None]
    if noise:
        m = int(noise * n)
        X = np.vstack([X, rng.uniform(X.min(0), X.max(0), size=(m, d))])
        y = np.r_[y, np.full(m, -1)]
    return X, y


def _json_roundtrip(state):
    return json.loads(json.dumps(state))


def test_registry_lists_every_family():
    assert set(algorithms.names()) >= {
        "kmeans", "ward", "average", "complete", "dbscan", "hdbscan", "gmm", "kprototypes"
    }
    with pytest.raises(ValueError, match="algorithm must be one of"):
        algorithms.get("nope")


@pytest.mark.parametrize(
    ("name", "min_ari"),
    [("kmeans", 0.95), ("ward", 0.95), ("average", 0.95), ("complete", 0.9), ("gmm", 0.95)],
)
def test_k_based_recover_blobs_and_predict_from_json_state(name, min_ari):
    X, y = _blobs()
    spec = algorithms.get(name)
    fitted = spec.fit(X, k=4, random_state=0)
    assert fitted.labels.shape == (X.shape[0],)
    assert adjusted_rand_score(y, fitted.labels) >= min_ari
    labels, confidence = spec.predict(_json_roundtrip(fitted.state), X)
    assert np.mean(labels == fitted.labels) >= 0.98
    assert confidence is None or (np.all(confidence >= 0) and np.all(confidence <= 1 + 1e-12))
    json.dumps(fitted.details)


@pytest.mark.parametrize("name", ["kmeans", "ward", "gmm", "dbscan", "hdbscan"])
def test_same_seed_same_result(name):
    X, _ = _blobs(n=600, noise=0.05)
    spec = algorithms.get(name)
    a = spec.fit(X, k=4, random_state=3)
    b = spec.fit(X, k=4, random_state=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert json.dumps(a.state) == json.dumps(b.state)


def test_gmm_soft_membership_and_bic():
    X, y = _blobs()
    fitted = algorithms.get("gmm").fit(X, k=4, random_state=0)
    assert algorithms.get("gmm").capabilities.soft
    assert 0.0 <= fitted.confidence.min() and fitted.confidence.max() <= 1.0
    assert np.isfinite(fitted.details["bic"])
    bic3 = algorithms.get("gmm").fit(X, k=3, random_state=0).details["bic"]
    assert fitted.details["bic"] < bic3


@pytest.mark.parametrize("name", ["ward", "average", "complete"])
def test_hierarchical_sampled_above_memory_limit_keeps_every_row(name):
    X, y = _blobs(n=1500)
    fitted = algorithms.get(name).fit(X, k=4, random_state=0, max_exact_rows=400)
    assert fitted.details["variant"] == "sampled"
    assert "nearest segment centre" in fitted.details["note"]
    assert fitted.labels.shape == (X.shape[0],) and fitted.labels.min() >= 0
    assert adjusted_rand_score(y, fitted.labels) >= 0.9
    tree = fitted.details["dendrogram"]
    assert tree["icoord"] and len(tree["icoord"]) == len(tree["dcoord"])
    json.dumps(fitted.details)


def test_hierarchical_exact_and_fit_path_agree_with_fit():
    X, _ = _blobs(n=500)
    spec = algorithms.get("ward")
    path = spec.fit_path(X, k_values=[3, 4], random_state=0)
    np.testing.assert_array_equal(path[4].labels, spec.fit(X, k=4, random_state=0).labels)
    assert path[4].details["variant"] == "exact"


@pytest.mark.parametrize("name", ["dbscan", "hdbscan"])
def test_density_noise_is_minus_one_and_every_row_is_kept(name):
    X, y = _blobs(n=1200, noise=0.08)
    spec = algorithms.get(name)
    assert spec.capabilities.noise and not spec.capabilities.needs_k
    fitted = spec.fit(X, k=None, random_state=0, min_cluster_share=0.05)
    assert fitted.labels.shape == (X.shape[0],)
    assert (fitted.labels == -1).any()
    assert fitted.details["n_noise"] == int((fitted.labels == -1).sum())
    keep = (y != -1) & (fitted.labels != -1)
    assert adjusted_rand_score(y[keep], fitted.labels[keep]) >= 0.95
    assert np.unique(fitted.labels[fitted.labels >= 0]).size == 4
    # most planted noise is found as noise
    assert np.mean(fitted.labels[y == -1] == -1) >= 0.5
    # new customers: predicted from the JSON state, noise still possible
    labels, _ = spec.predict(_json_roundtrip(fitted.state), X)
    assert np.mean(labels == fitted.labels) >= 0.95
    # the option that assigns noise to the nearest segment
    assigned = spec.fit(X, k=None, random_state=0, min_cluster_share=0.05, assign_noise=True)
    assert assigned.labels.min() >= 0 and assigned.details["noise_assigned"]
    np.testing.assert_array_equal(assigned.labels[fitted.labels >= 0], fitted.labels[fitted.labels >= 0])


@pytest.mark.parametrize("name", ["dbscan", "hdbscan"])
def test_density_sampled_fit_labels_every_row(name):
    X, y = _blobs(n=3000)
    fitted = algorithms.get(name).fit(X, random_state=0, max_fit_rows=800)
    assert fitted.details["variant"] == "sampled"
    assert fitted.labels.shape == (X.shape[0],)
    keep = fitted.labels >= 0
    assert keep.mean() > 0.8
    assert adjusted_rand_score(y[keep], fitted.labels[keep]) >= 0.95


def test_density_min_cluster_share_is_validated():
    X, _ = _blobs(n=300)
    with pytest.raises(ValueError, match=r"min_cluster_share must be a number in \(0, 0.5\], got 0.9"):
        algorithms.get("hdbscan").fit(X, random_state=0, min_cluster_share=0.9)


def _mixed(n: int = 900, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    num = rng.normal(size=(y.size, 2)) + np.array([[0, 0], [4, 0], [0, 4]])[y]
    colour = np.where(rng.random(y.size) < 0.9, y, rng.integers(0, 3, y.size))
    channel = np.where(rng.random(y.size) < 0.85, y % 2, 1 - y % 2)
    return np.column_stack([num, colour, channel]).astype(float), y


def test_kprototypes_mixed_features():
    X, y = _mixed()
    spec = algorithms.get("kprototypes")
    assert spec.capabilities.categorical
    fitted = spec.fit(X, k=3, random_state=0, categorical=[2, 3])
    assert adjusted_rand_score(y, fitted.labels) >= 0.9
    labels, _ = spec.predict(_json_roundtrip(fitted.state), X)
    np.testing.assert_array_equal(labels, fitted.labels)
    with pytest.raises(ValueError, match="kprototypes needs categorical columns"):
        spec.fit(X, k=3, random_state=0)


@pytest.mark.parametrize("name", ["ward", "gmm", "kprototypes"])
def test_k_is_validated(name):
    X, _ = _mixed(90)
    with pytest.raises(ValueError, match="k must be an integer >= 2, got 1"):
        algorithms.get(name).fit(X, k=1, random_state=0, categorical=[2])


def test_base_helpers():
    np.testing.assert_array_equal(relabel_by_size(np.array([5, 5, -1, 2, 2, 2, 7])), [1, 1, -1, 0, 0, 0, 2])
    np.testing.assert_allclose(segment_centres(np.array([[0.0], [2.0], [9.0]]), np.array([0, 0, -1])), [[1.0]])
    assert knee_index(np.array([100.0, 40.0, 20.0, 18.0, 17.0, 16.0])) == 2


def test_gmm_reports_non_convergence_instead_of_warning():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 1.0, size=(200, 3)) for c in (0.0, 1.5, 3.0)])
    fitted = algorithms.get("gmm").fit(X, k=3, random_state=0, max_iter=1, n_init=1)
    assert fitted.details["converged"] is False
    assert algorithms.get("gmm").fit(X, k=3, random_state=0).details["converged"] is True


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_on_many_rows_is_as_good_as_full_kmeans(seed):
    from sklearn.cluster import KMeans

    X, _ = _blobs(n=6000, k=8, d=6, seed=seed)
    X = X + np.random.default_rng(seed).normal(size=X.shape) * 3.0  # overlapping: local optima exist
    fitted = algorithms.get("kmeans").fit(X, k=8, random_state=seed, sample_init_threshold=1000, init_sample=1500)
    assert fitted.details["variant"] == "lloyd (restarts on a sample)"
    reference = KMeans(n_clusters=8, n_init=10, random_state=seed).fit(X).inertia_
    assert fitted.details["inertia"] <= reference * 1.001


def test_kmeans_under_fit_threads_is_byte_identical_run_to_run():
    # two OpenMP threads add their shares of each centre in either order to the same bits
    # (the restarts, scikit-learn's); above the sample threshold, so the restarts run on a
    # sample and the fit on all rows on the compiled pass's two threads (fixed blocks)
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    from threadpoolctl import threadpool_info

    X, _ = _blobs(n=120_000, k=6, d=8, seed=4)
    X = X + np.random.default_rng(4).normal(size=X.shape) * 2.0
    machine = _openmp_effective_n_threads()  # what scikit-learn would run here unlimited
    fits = []
    for _ in range(3):
        with algorithms.fit_threads():
            limits = {(i["user_api"], i["num_threads"]) for i in threadpool_info()}
            used = _openmp_effective_n_threads()  # what KMeans runs under the limits
            fits.append(algorithms.get("kmeans").fit(X, k=6, random_state=0))
    assert {n for api, n in limits if api == "openmp"} <= {2}  # (none where scikit-learn has no OpenMP)
    assert {n for api, n in limits if api == "blas"} == {1}
    assert used == min(2, machine)  # two threads wherever the machine has two cores
    first = fits[0]
    assert first.details["variant"] == "lloyd (restarts on a sample)"
    for other in fits[1:]:
        assert other.labels.tobytes() == first.labels.tobytes()
        assert other.confidence.tobytes() == first.confidence.tobytes()
        assert json.dumps(other.state) == json.dumps(first.state)
        assert json.dumps(other.details) == json.dumps(first.details)


def test_assign_noise_moves_noise_rows_to_the_nearest_centre():
    # by hand: 0.4 is nearest to centre 0 (at 0), 9 to centre 5 (at 10); segments keep their ids
    labels = np.array([0, -1, 5, -1])
    X = np.array([[0.0], [0.4], [10.0], [9.0]])
    out = algorithms.assign_noise(labels, X, {0: [0.0], 5: [10.0]})
    assert out.tolist() == [0, 0, 5, 5]
    assert labels.tolist() == [0, -1, 5, -1]  # the caller's labels are not changed
    assert algorithms.assign_noise(labels, X, {}).tolist() == [0, -1, 5, -1]


def test_nearest_centre_in_blocks_equals_all_rows_at_once():
    # planted: rows around three centres, so the labels are known without the function
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = rng.integers(0, 3, 1000)
    X = centres[truth] + rng.normal(scale=0.5, size=(1000, 2))
    whole_labels, whole_conf = nearest_centre(centres, X, block=len(X))
    labels, conf = nearest_centre(centres, X, block=7)  # blocks of 7 rows and a remainder of 6
    alone = nearest_centre(centres, X, block=7, threads=1)  # the same blocks, one after another
    assert (whole_labels == truth).all()
    assert np.array_equal(labels, whole_labels) and np.array_equal(conf, whole_conf)
    assert np.array_equal(alone[0], labels) and np.array_equal(alone[1], conf)
    assert ((conf > 0.5) & (conf <= 1.0)).all()  # every row far nearer its own centre
