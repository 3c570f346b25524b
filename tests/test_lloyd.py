"""The compiled Lloyd pass and the k-means iterations built on it: hand-computed cases, a
direct computation in numpy, scikit-learn's KMeans from the same centres, and bits that
do not depend on the number of threads."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_limits

from segmentkit.algorithms import _lloyd_kernel
from segmentkit.algorithms._lloyd import assign_pass, lloyd, mean_variance


@pytest.mark.parametrize("order", ["C", "F"])
def test_assign_pass_by_hand(order):
    # points on a line at 0, 1, 10, 11 and 5; centres at 0 and 10. 5 is 5 from both: the
    # first centre wins (as numpy's argmin). Squared distances: to 0 -> 0, 1, 100, 121, 25;
    # to 10 -> 100, 81, 0, 1, 25.
    X = np.array([[0.0, 2.0], [1.0, 2.0], [10.0, 2.0], [11.0, 2.0], [5.0, 2.0]], order=order)
    centres = np.array([[0.0, 2.0], [10.0, 2.0]])
    found = assign_pass(X, centres, threads=1, second=True)
    assert found.labels.tolist() == [0, 0, 1, 1, 0]
    assert found.nearest.tolist() == [0.0, 1.0, 0.0, 1.0, 25.0]
    assert found.second.tolist() == [100.0, 81.0, 100.0, 121.0, 25.0]
    assert found.sums.tolist() == [[6.0, 6.0], [21.0, 4.0]]  # 0 + 1 + 5, 2 * 3; 10 + 11, 2 * 2
    assert found.counts.tolist() == [3, 2]


@pytest.mark.parametrize("order", ["C", "F", "strided"])
@pytest.mark.parametrize("n,d,k", [(1003, 5, 3), (517, 24, 8), (300, 17, 13), (64, 1, 1), (9, 8, 9)])
def test_assign_pass_matches_a_direct_computation(order, n, d, k):
    rng = np.random.default_rng(n + d + k)
    X = rng.normal(size=(2 * n if order == "strided" else n, d)) * rng.uniform(0.5, 5.0, d)
    X = X[::2] if order == "strided" else np.asarray(X, order=order)
    centres = X[rng.choice(n, size=k, replace=False)] + rng.normal(scale=0.1, size=(k, d))
    found = assign_pass(X, centres, threads=2, second=True, block=128)  # several blocks and a remainder
    direct = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    ranked = np.sort(direct, axis=1)
    clear = ranked[:, 1] - ranked[:, 0] > 1e-9 * ranked[:, 1] if k > 1 else np.ones(n, dtype=bool)
    assert np.array_equal(found.labels[clear], direct.argmin(axis=1)[clear])
    np.testing.assert_allclose(found.nearest, ranked[:, 0], rtol=1e-9, atol=1e-9)
    if k > 1:
        np.testing.assert_allclose(found.second, ranked[:, 1], rtol=1e-9, atol=1e-9)
    else:
        assert np.isinf(found.second).all()
    assert found.counts.tolist() == np.bincount(found.labels, minlength=k).tolist()
    sums = np.stack([X[found.labels == c].sum(axis=0) for c in range(k)])
    np.testing.assert_allclose(found.sums, sums, rtol=1e-12, atol=1e-9)


def test_assign_pass_bits_do_not_depend_on_threads_and_rows_not_on_blocks():
    rng = np.random.default_rng(7)
    X = np.asfortranarray(rng.normal(size=(20_000, 12)))
    centres = rng.normal(size=(6, 12))
    one = assign_pass(X, centres, threads=1, second=True)
    two = assign_pass(X, centres, threads=2, second=True)
    for a, b in [(one.labels, two.labels), (one.nearest, two.nearest), (one.second, two.second),
                 (one.sums, two.sums), (one.counts, two.counts)]:
        assert a.tobytes() == b.tobytes()
    small = assign_pass(X, centres, threads=2, second=True, block=1000)  # each row's answer is its own
    for a, b in [(one.labels, small.labels), (one.nearest, small.nearest), (one.second, small.second)]:
        assert a.tobytes() == b.tobytes()


@pytest.mark.slow
def test_the_plain_copy_for_cpus_without_fused_multiply_add_agrees(tmp_path):
    """The copy an older CPU runs (a product rounded before it is added), compiled here on
    its own, agrees with the copy this CPU runs to the last bits that rounding moves."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    # a setup script of its own (the project's needs the packaging metadata a recent
    # setuptools reads, not the one a fresh virtual environment has), the project's flags
    source = Path(_lloyd_kernel.__file__).parent / "_lloyd_kernel.c"
    flags = ["-O3", "-ffp-contract=off", "-std=gnu11", "-Wno-psabi", "-DFUSED_COPIES=0"]
    (tmp_path / "setup.py").write_text(
        "from setuptools import Extension, setup\n"
        f"setup(name='plain', ext_modules=[Extension('_lloyd_kernel', [{str(source)!r}], extra_compile_args={flags!r})])\n")
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", "lib", "--build-temp", "tmp"],
                   cwd=tmp_path, check=True, capture_output=True)
    built = next((tmp_path / "lib").glob("_lloyd_kernel*"))
    spec = importlib.util.spec_from_file_location("_lloyd_kernel", built)
    plain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plain)
    rng = np.random.default_rng(13)
    X = np.asfortranarray(rng.normal(size=(3_001, 11)))
    centres = X[rng.choice(3_001, size=9, replace=False)] + 0.05
    results = []
    for module in (plain, _lloyd_kernel):
        out = dict(labels=np.empty(3_001, np.int32), d1=np.empty(3_001), d2=np.empty(3_001),
                   sums=np.empty((9, 11)), counts=np.empty(9, np.int64))
        spread = module.block_pass(X, centres, 0, 3_001, *out.values())
        results.append((out, spread))
    (a, spread_a), (b, spread_b) = results
    assert np.array_equal(a["labels"], b["labels"]) and np.array_equal(a["counts"], b["counts"])
    for key in ("d1", "d2", "sums"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-12)
    assert spread_a == pytest.approx(spread_b, rel=1e-12)
    assert not np.array_equal(a["d1"], b["d1"])  # another rounding: truly the other copy


def test_the_compiled_pass_refuses_arrays_of_the_wrong_kind():
    X, centres = np.zeros((10, 3)), np.zeros((2, 3))
    ok = dict(labels=np.empty(10, np.int32), d1=np.empty(10), d2=None, sums=np.empty((2, 3)),
              counts=np.empty(2, np.int64))
    _lloyd_kernel.block_pass(X, centres, 0, 10, *ok.values())
    for name, bad in [("labels", np.empty(10, np.int64)), ("d1", np.empty(9)), ("sums", np.empty((3, 2)).T),
                      ("counts", np.empty(2, np.float64))]:
        args = dict(ok, **{name: bad})
        with pytest.raises(ValueError, match="wrong type, shape or layout"):
            _lloyd_kernel.block_pass(X, centres, 0, 10, *args.values())
    with pytest.raises(ValueError):
        _lloyd_kernel.block_pass(X, centres, 0, 11, *ok.values())  # past the last row
    with pytest.raises(ValueError):
        _lloyd_kernel.block_pass(X.astype(np.float32), centres, 0, 10, *ok.values())


def test_rows_far_from_zero_are_assigned_as_near_it():
    # a mean of 1e7 and a spread of 1: |x|^2 - 2 x.c + |c|^2 about 0 would keep about two of a
    # distance's digits (1e14 * 2e-16 against distances of 1); the pass works about the centres
    rng = np.random.default_rng(12)
    X = rng.normal(size=(4_001, 5))
    centres = X[:4] + 0.01
    near, far = assign_pass(X, centres, threads=2, second=True), assign_pass(X + 1e7, centres + 1e7, threads=2, second=True)
    assert np.array_equal(near.labels, far.labels)
    np.testing.assert_allclose(far.nearest, near.nearest, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(far.second, near.second, rtol=1e-6, atol=1e-6)


def test_the_mean_variance_from_a_pass_is_numpys():
    # far from 0 (a mean of 1e7, a spread of 1): E[x^2] - E[x]^2 about 0 would lose it all
    rng = np.random.default_rng(11)
    X = np.asfortranarray(1e7 + rng.normal(size=(5_003, 7)) * rng.uniform(0.5, 2.0, 7))
    centres = X[[10, 20, 30]]
    found = assign_pass(X, centres, threads=2, block=1000)
    assert found.spread == pytest.approx(((X - centres[0]) ** 2).sum(), rel=1e-9)
    assert mean_variance(found, centres) == pytest.approx(np.var(X, axis=0).mean(), rel=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lloyd_follows_scikit_learn_from_the_same_centres(seed):
    X, _ = make_blobs(n_samples=20_000, centers=7, n_features=6, cluster_std=2.5, random_state=seed)
    X = np.asfortranarray(X)  # as the prepared matrix is
    start = X[np.random.default_rng(seed).choice(len(X), size=7, replace=False)]
    with threadpool_limits(limits={"blas": 1, "openmp": 2}):
        reference = KMeans(n_clusters=7, init=start, n_init=1).fit(X)
    ours = lloyd(X, start, threads=2)
    assert np.array_equal(ours.final.labels, reference.labels_)
    assert ours.n_iter == reference.n_iter_ > 1
    assert ours.inertia == pytest.approx(reference.inertia_, rel=1e-10)
    np.testing.assert_allclose(ours.centres, reference.cluster_centers_, rtol=1e-10, atol=1e-10)
    # the final pass's sums are the final segments' (converged on the tolerance, the centres
    # moved once more after the labels they are the means of)
    means = np.stack([X[reference.labels_ == c].mean(axis=0) for c in range(7)])
    np.testing.assert_allclose(ours.final.sums / ours.final.counts[:, None], means, rtol=1e-10, atol=1e-10)


def test_lloyd_relocates_an_empty_cluster_as_scikit_learn_does():
    X, _ = make_blobs(n_samples=3_000, centers=3, n_features=4, random_state=3)
    start = np.vstack([X[[0, 1, 2]], np.full((1, 4), 1e3)])  # the fourth centre gets no row at first
    reference = KMeans(n_clusters=4, init=start, n_init=1).fit(X)
    ours = lloyd(X, start, threads=2)
    assert ours.final.counts.min() > 0  # the empty centre took a row and kept rows
    assert np.array_equal(ours.final.labels, reference.labels_)
    assert ours.inertia == pytest.approx(reference.inertia_, rel=1e-10)


def test_lloyd_refuses_nan_and_infinity_as_scikit_learn_does():
    # one NaN among the rows would become a centre's NaN and then every row's distance
    X, _ = make_blobs(n_samples=2_000, centers=3, n_features=4, random_state=4)
    for bad in (np.nan, np.inf):
        Y = X.copy()
        Y[1_234, 2] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            lloyd(Y, X[:3], threads=2)
    with pytest.raises(ValueError, match="max_iter"):
        lloyd(X, X[:3], threads=2, max_iter=0)


def test_kmeans_on_many_rows_refuses_a_nan_outside_its_sample():
    from segmentkit import algorithms

    X, _ = make_blobs(n_samples=3_000, centers=3, n_features=4, random_state=6)
    X[-1, 0] = np.nan  # the sample of 1,000 rows is checked by scikit-learn; the rest here
    with pytest.raises(ValueError, match="NaN"):
        algorithms.get("kmeans").fit(X, k=3, random_state=0, sample_init_threshold=1_000, init_sample=1_000)


def test_assign_pass_takes_a_column_of_a_record_array():
    # a field of a record array: float64 values 12 bytes apart, not aligned for the pass
    rows = np.zeros(50, dtype=[("a", np.float32), ("x", np.float64)])
    rows["x"] = np.arange(50.0)
    X = rows["x"].reshape(-1, 1)
    found = assign_pass(X, np.array([[0.0], [49.0]]), threads=1)
    assert found.counts.tolist() == [25, 25]


def test_lloyd_stops_at_max_iter_and_with_tol_zero_only_on_stable_labels():
    X, _ = make_blobs(n_samples=5_000, centers=5, n_features=3, cluster_std=3.0, random_state=5)
    start = X[:5]
    assert lloyd(X, start, threads=1, max_iter=2).n_iter == 2
    strict = lloyd(X, start, threads=1, tol=0.0)
    reference = KMeans(n_clusters=5, init=start, n_init=1, tol=0.0).fit(X)
    assert strict.n_iter == reference.n_iter_
    assert np.array_equal(strict.final.labels, reference.labels_)
