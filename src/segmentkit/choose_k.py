"""How many segments, and which algorithm: evidence per candidate and a recommendation.

:func:`select_k` sweeps ``k`` (or, for density algorithms, their size parameter) and
computes for every candidate

* **silhouette** on a stratified sample (every segment gets enough points, then points are
  re-weighted so the value estimates the silhouette over all customers),
* **Calinski-Harabasz**, **Davies-Bouldin**, **inertia** (with a knee over ``k``),
* **BIC** for the Gaussian mixture,
* **stability**: the algorithm is re-fitted on ``n_bootstrap`` random 80 % subsamples; the
  overall adjusted Rand index (ARI) against the reference partition and, per segment, the
  Jaccard index of its best match (as in fpc's ``clusterboot``),
* **smallest segment share** (and smallest value share when ``value`` is given),
* **distinguishability**: cross-validated balanced accuracy of a shallow decision tree
  that predicts the segment from the features (can a strategist tell them apart?).

* **pair separation**: for the least-separated pair of segments, the AUC of the single
  feature that best tells them apart (a trait a strategist can name),
* **split bimodality** (k-based, kept for the rule, not in ``summary.json``): whether the
  split from ``k - 1`` segments separates two groups or halves one (Sarle's bimodality
  coefficient of the split projected on the line through its two pieces' centres).

Candidates that break the business :class:`Constraints` are kept, marked ineligible with a
reason. The recommendation rule (see :func:`select_k`) keeps the *stable* eligible
candidates; when they form islands (silhouette >= 0.5) it takes the most segments whose
silhouette is within 5 % of the best or peaks over k, provided every split beyond the best
separates two groups; on a continuum it takes the most segments (up to 8) that are stable
and told apart pair by pair by a trait.

Selection works on a sample of ``sample_size`` customers drawn by hashing row contents, so
the same customers in any row order give the same selection; the final fit (done by the
caller) uses all customers.
"""

from __future__ import annotations

import enum
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from pydantic import Field, JsonValue
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score
from scipy.stats import rankdata
from sklearn.tree import DecisionTreeClassifier

from segmentkit import algorithms
from segmentkit.algorithms._base import NOISE, AlgorithmSpec, Fitted, fit_threads, knee_index, relabel_by_size
from segmentkit.config import STABILITY_RESAMPLES
from segmentkit.contract import Typed
from segmentkit.export import json_float
from segmentkit.wording import percent

__all__ = [
    "DEFAULT_K_VALUES",
    "SAMPLE_SIZE",
    "STABLE_ARI",
    "STABLE_SEGMENT_JACCARD",
    "SILHOUETTE_TOLERANCE",
    "Constraints",
    "Candidate",
    "MIN_CLUSTERED_SEGMENTS",
    "most_segments",
    "on_continuum",
    "KSelection",
    "Recommendation",
    "select_k",
    "stratified_silhouette",
    "distinguishability",
    "stability",
    "split_bimodality",
    "order_invariant_sample",
]

#: Default sweep of k.
DEFAULT_K_VALUES: tuple[int, ...] = tuple(range(2, 11))
#: Default number of customers the selection works on.
SAMPLE_SIZE = 5_000
#: A candidate is stable when its mean bootstrap ARI reaches this ...
STABLE_ARI = 0.75
#: ... and each of its segments is recovered with at least this mean Jaccard index
#: (clusterboot: >= 0.75 a valid, stable segment; 0.6-0.75 a pattern; < 0.5 dissolved).
STABLE_SEGMENT_JACCARD = 0.75
#: Silhouette tolerance, relative: stable candidates within this share of the best
#: silhouette are "as good" (relative, so data whose best silhouette is low, like customer
#: data at ~0.35, are not over-split by an absolute margin meant for ~0.7).
SILHOUETTE_TOLERANCE = 0.05
#: Points in the stratified silhouette sample.
SILHOUETTE_SIZE = 3_000
#: Points in the distinguishability sample.
DISTINGUISH_SIZE = 2_000
#: Share of the selection sample in each stability resample.
SUBSAMPLE_FRACTION = 0.8
#: Restarts of k-means in the stability re-fits (the reference fits keep ``n_init``).
BOOTSTRAP_N_INIT = 3
#: Algorithms compared by ``algorithm="auto"`` (kprototypes joins when ``categorical``
#: is given in ``options``).
AUTO_ALGORITHMS = ("kmeans", "ward", "average", "complete", "gmm", "dbscan", "hdbscan")


#: When no candidate is stable, those whose mean ARI is within this of the most stable one
#: count as equally stable: the mean over 10-20 resamples has a standard error of a few
#: hundredths, so a smaller difference is not evidence (the silhouette then decides).
STABILITY_TIE = 0.05
#: A pair of segments can be told apart in words when some single feature separates them
#: with at least this AUC (the chance that a member of one segment lies above a member of
#: the other): 0.714 is Cohen's "large" effect, d = 0.8, on the AUC scale (Rice & Harris
#: 2005) — a difference a profile can state as a trait ("buys far more often").
TRAIT_AUC = 0.714
#: The silhouette from which the structure reads as islands (Kaufman & Rousseeuw's
#: "reasonable structure"; see :data:`SILHOUETTE_READING`). Below it the segments are regions
#: of a continuum: the silhouette then cannot tell one cut from another and the choice of k
#: is a business decision, made on stability, size and traits (see :func:`select_k`).
ISLANDS_SILHOUETTE = 0.5
#: Islands: a neighbouring k's silhouette counts as higher than a candidate's only when it
#: is higher by more than this many standard errors of the difference (about 95 % of the
#: differences between two equally good cuts' sampled silhouettes fall within 2; the
#: sample of :data:`SILHOUETTE_SIZE` rows gives standard errors of about 0.003-0.007).
PEAK_NOISE_SE = 2.0
#: Sarle's bimodality coefficient of a uniform distribution (SAS/STAT; Pfister et al. 2013,
#: "Good things peak in pairs"): above it a projected split reads as two groups, below it
#: as one group cut in two (a normal distribution gives 1/3).
BIMODAL_COEFFICIENT = 5 / 9
#: Most segments recommended on a continuum unless ``Constraints.max_segments`` says
#: otherwise: a segment is worth having when a team can brief and run a campaign for it,
#: and marketing practice keeps to 4-8 such segments.
CONTINUUM_MAX_SEGMENTS = 8

#: Fewest segments a clustering is asked for, whatever ``max_segments`` leaves beside the
#: segments set by other means (``other_segments`` of :func:`select_k`): one segment is no
#: segmentation.
MIN_CLUSTERED_SEGMENTS = 2


def most_segments(constraints: Constraints, other_segments: int = 0, *, continuum: bool = False) -> int | None:
    """The most segments the clustering may give: ``max_segments`` (on a continuum, by
    default :data:`CONTINUUM_MAX_SEGMENTS`) less the ``other_segments`` the user gets beside
    them (a layered run's lifecycle groups), never below :data:`MIN_CLUSTERED_SEGMENTS`;
    ``None`` when nothing bounds it."""
    total = constraints.max_segments or (CONTINUUM_MAX_SEGMENTS if continuum else None)
    return None if total is None else max(total - other_segments, MIN_CLUSTERED_SEGMENTS)


#: Decimals of the shares the selection quotes in words (why a candidate is ruled out, which
#: segment a split cuts): one, so a segment of 2.96 % against a 3 % minimum does not read as
#: "3 %, below 3 %".
SHARE_DECIMALS = 1

#: Fewest customers a selection of k is made on: below it, bootstrap halves and silhouette
#: samples are too small to say anything.
MIN_ROWS = 10

class Constraints(Typed):
    """Business constraints a usable segmentation must meet.

    Attributes
    ----------
    min_share : float, default 0.03
        Every segment holds at least this share of customers.
    max_segments : int or None
        At most this many segments.
    min_value_share : float or None
        Every segment holds at least this share of the total value (needs ``value``).
    max_noise_share : float, default 0.25
        Density algorithms: at most this share of customers left as noise.
    """

    min_share: float | None = 0.03
    max_segments: int | None = None
    min_value_share: float | None = None
    max_noise_share: float | None = 0.25

    def __init__(self, **values: Any) -> None:
        # checked before pydantic coerces anything, so a user sees one plain sentence
        # naming the setting (``summary.json`` is read back with ``model_validate``)
        _check_constraints(**values)
        super().__init__(**values)


def _check_constraints(
    min_share: Any = 0.03, max_segments: Any = None, min_value_share: Any = None, max_noise_share: Any = 0.25
) -> None:
    # the same range as config.SETTING_RANGES (0.5: two segments of exactly half each)
    if not _is_number(min_share) or not 0.0 <= min_share <= 0.5:
        raise ValueError(f"min_share must be a number from 0 to 0.5, got {min_share!r}")
    if max_segments is not None and (not _is_int(max_segments) or max_segments < 2):
        raise ValueError(f"max_segments must be an integer >= 2 or None, got {max_segments!r}")
    if min_value_share is not None and (not _is_number(min_value_share) or not 0.0 <= min_value_share <= 0.5):
        raise ValueError(f"min_value_share must be a number from 0 to 0.5 or None, got {min_value_share!r}")
    if not _is_number(max_noise_share) or not 0.0 <= max_noise_share <= 1.0:
        raise ValueError(f"max_noise_share must be a number in [0, 1], got {max_noise_share!r}")


class Candidate(Typed):
    """One (algorithm, k or size parameter) candidate with every metric.

    Attributes
    ----------
    algorithm : str
    k : int
        Number of segments (found, for density algorithms).
    params : dict
        Options that reproduce the candidate, e.g. ``{"min_cluster_share": 0.02}``;
        empty for k-based algorithms.
    min_cluster_share : float or None
        The density algorithms' size parameter (``params["min_cluster_share"]``).
    silhouette, calinski_harabasz, davies_bouldin : float or None
        On the selection sample (noise excluded); ``None`` with fewer than 2 segments.
    silhouette_se : float or None
        Standard error of the sampled silhouette.
    inertia : float or None
        Within-segment sum of squares, scaled from the selection sample to all customers.
    bic : float or None
        Gaussian mixture BIC on the selection sample (``None`` for other algorithms).
    stability : float or None
        Mean ARI between the reference partition and the re-fits on subsamples.
    segment_stability : list of float
        Mean best-match Jaccard per segment (segments ordered by size, largest first).
    min_share : float
        Share of customers in the smallest segment.
    segment_shares : list of float
        Share of customers per segment (largest first).
    noise_share : float
        Share of customers left as noise (density algorithms).
    value_min_share : float or None
        Share of value in the lowest-value segment (when ``value`` is given).
    distinguishability : float or None
        Cross-validated balanced accuracy of a shallow decision tree.
    pair_separation : float or None
        The least-separated pair of segments: over pairs, the lowest best single-feature
        AUC (see :func:`pair_separation`); ``None`` with fewer than two segments.
    stable : bool
        Mean ARI >= :data:`STABLE_ARI` and every segment's Jaccard >=
        :data:`STABLE_SEGMENT_JACCARD` (true when stability was not measured).
    eligible : bool
    why_not : str or None
        Plain words on the broken constraints; ``None`` when eligible.
    """

    algorithm: str
    k: int
    params: dict[str, JsonValue]
    min_cluster_share: float | None
    silhouette: float | None
    silhouette_se: float | None
    calinski_harabasz: float | None
    davies_bouldin: float | None
    inertia: float | None
    bic: float | None
    stability: float | None
    segment_stability: list[float | None]
    min_share: float | None
    segment_shares: list[float | None]
    noise_share: float | None
    value_min_share: float | None
    distinguishability: float | None
    pair_separation: float | None
    stable: bool
    eligible: bool
    why_not: str | None
    # The rule's own (see _island_splits), not in summary.json nor its schema: for k-based
    # algorithms with k - 1 swept too, the bimodality coefficient of the split from k - 1
    # segments (see split_bimodality).
    split_bimodality: float | None = Field(None, exclude=True)

    @property
    def traits(self) -> bool:
        """Every pair of segments differs by a trait: a feature with AUC >= :data:`TRAIT_AUC`."""
        return self.pair_separation is None or self.pair_separation >= TRAIT_AUC

    @property
    def label(self) -> str:
        """Short name, e.g. ``"kmeans k=6"`` or ``"hdbscan min_cluster_share=0.02 (k=5)"``."""
        if self.params:
            ps = ", ".join(f"{key}={val}" for key, val in self.params.items())
            return f"{self.algorithm} {ps} (k={self.k})"
        return f"{self.algorithm} k={self.k}"


def _is_stable(stability: float | None, segment_stability: Sequence[float]) -> bool:
    """Mean ARI >= :data:`STABLE_ARI` and every segment Jaccard >= the threshold."""
    if stability is None:
        return True
    return stability >= STABLE_ARI and (not segment_stability or min(segment_stability) >= STABLE_SEGMENT_JACCARD)


class KSelection(Typed):
    """The candidates and the recommendation, with its reason in plain words.

    Attributes
    ----------
    candidates : list of Candidate
    recommended_k : int
    recommended_algorithm : str
    recommended_params : dict
        Extra options for the final fit (density algorithms: ``min_cluster_share``):
        ``algorithms.get(recommended_algorithm).fit(X, k=recommended_k,
        random_state=seed, **options, **recommended_params)``.
    reason : str
        Plain words.
    knee_k : int or None
        Knee of inertia over k for the recommended algorithm (k-based only).
    n_rows : int
        Customers given.
    sample_size : int
        Customers the selection worked on.
    fixed_k : int or None
        The user's k, when given.
    constraints : Constraints
    """

    candidates: list[Candidate]
    recommended_k: int
    recommended_algorithm: str
    recommended_params: dict[str, JsonValue]
    reason: str
    knee_k: int | None
    n_rows: int
    sample_size: int
    fixed_k: int | None
    constraints: Constraints

    @property
    def recommended(self) -> Candidate:
        """The recommended candidate."""
        for c in self.candidates:
            if (
                c.algorithm == self.recommended_algorithm
                and c.k == self.recommended_k
                and dict(c.params) == dict(self.recommended_params)
            ):
                return c
        raise LookupError("the recommended candidate is not among the candidates")


# --------------------------------------------------------------------------- validation


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


# --------------------------------------------------------------------------- sampling


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


#: Rows hashed at a time by :func:`order_invariant_sample`: a block of 25 features' rows
#: (1.6 MB) and its hashes stay in a core's cache while every column passes over them.
_HASH_BLOCK_ROWS = 8192


def order_invariant_sample(X: np.ndarray, size: int | None, random_state: int) -> np.ndarray:
    """Indices of ``size`` rows chosen by a seeded hash of the row contents.

    The result, as a set of rows *and* in its order, does not depend on the row order of
    ``X``: the rows are ranked by the hash, identical rows tie. With ``size=None`` or
    ``size >= n`` every row is returned, ranked by the hash.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
    size : int or None
    random_state : int

    Returns
    -------
    numpy.ndarray of int
    """
    X = np.asarray(X)
    salts = np.random.default_rng(random_state).integers(0, 2**63, size=X.shape[1] + 1, dtype=np.uint64)
    h = np.empty(X.shape[0], dtype=np.uint64)
    # a block of rows at a time: its columns are hashed while its rows are in the cache, and
    # the temporaries are the block's (the whole matrix's, strided, took 0.7 s a million rows)
    for start in range(0, X.shape[0], _HASH_BLOCK_ROWS):
        block = np.ascontiguousarray(X[start:start + _HASH_BLOCK_ROWS], dtype=np.float64) + 0.0  # -0.0 is 0.0
        bits = block.view(np.uint64)
        with np.errstate(over="ignore"):
            hb = np.full(len(block), salts[-1], dtype=np.uint64)
            for j in range(X.shape[1]):
                hb = _splitmix64(hb ^ _splitmix64(bits[:, j] ^ salts[j]))
        h[start:start + len(block)] = hb
    # identical rows share a hash; any order among them gives the same rows
    if size is None or size >= X.shape[0]:
        return np.argsort(h, kind="stable")
    if size <= 0:
        return np.arange(0)
    # the first ``size`` of the stable order, without ordering the rest: the rows hashed at
    # most the size-th smallest hash, in row order, then stably by hash
    first = np.flatnonzero(h <= np.partition(h, size - 1)[size - 1])
    return first[np.argsort(h[first], kind="stable")][:size]


def _stratified(labels: np.ndarray, size: int, rng: np.random.Generator, floor: int) -> np.ndarray:
    """Per-segment sample: proportional quotas, but each segment keeps >= ``floor`` rows."""
    segs, counts = np.unique(labels, return_counts=True)
    n = labels.size
    if n <= size:
        return np.arange(n)
    take = []
    for seg, cnt in zip(segs, counts):
        quota = min(cnt, max(floor, int(round(size * cnt / n))))
        members = np.flatnonzero(labels == seg)
        take.append(members if quota >= cnt else rng.choice(members, size=quota, replace=False))
    return np.sort(np.concatenate(take))


# --------------------------------------------------------------------------- metrics


def stratified_silhouette(
    X: np.ndarray, labels: np.ndarray, *, size: int = SILHOUETTE_SIZE, random_state: int = 0
) -> tuple[float | None, float | None, np.ndarray]:
    """Silhouette on a sample stratified so that small segments count.

    Every segment gets at least ``size / (2 k)`` sample rows (all of its rows if fewer);
    the remaining quota is proportional. Each sampled row's silhouette uses mean
    distances to the *sampled* members of each segment (unbiased for the full means), and
    rows are weighted by ``segment size / sampled rows`` so the overall value estimates the
    silhouette over all rows. Noise (``-1``) is left out.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
    labels : numpy.ndarray of shape (n,)
    size : int, default 3000
    random_state : int, default 0

    Returns
    -------
    silhouette : float or None
        ``None`` with fewer than two segments.
    standard_error : float or None
        Of the weighted mean.
    per_segment : numpy.ndarray
        Mean silhouette per segment ``0..k-1``.
    """
    labels = np.asarray(labels, dtype=int)
    keep = np.flatnonzero(labels != NOISE)
    lab = labels[keep]
    segs = np.unique(lab)
    if segs.size < 2:
        return None, None, np.zeros(segs.size)
    rng = np.random.default_rng(random_state)
    idx = keep[_stratified(lab, size, rng, max(2, size // (2 * segs.size)))]
    S = np.asarray(X[idx], dtype=float)
    sl = np.searchsorted(segs, labels[idx])
    sq = (S * S).sum(axis=1)
    D = sq[:, None] - 2.0 * S @ S.T + sq[None, :]
    np.maximum(D, 0.0, out=D)
    np.sqrt(D, out=D)
    k = segs.size
    onehot = np.zeros((idx.size, k))
    onehot[np.arange(idx.size), sl] = 1.0
    m = onehot.sum(axis=0)
    sums = D @ onehot  # (m_s, k): distance sums to each segment's sampled rows
    own = sums[np.arange(idx.size), sl]
    m_own = m[sl]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(m_own > 1, own / np.maximum(m_own - 1, 1), 0.0)
        means = sums / m[None, :]
    means[np.arange(idx.size), sl] = np.inf
    b = means.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(m_own > 1, (b - a) / np.maximum(a, b), 0.0)
    s = np.nan_to_num(s)
    full = np.bincount(np.searchsorted(segs, lab), minlength=k).astype(float)
    w = (full / m)[sl]
    w = w / w.sum()
    mean = float(np.sum(w * s))
    se = float(np.sqrt(np.sum(w * w * (s - mean) ** 2)))
    per_segment = np.bincount(sl, weights=s, minlength=k) / m
    return mean, se, per_segment


def _tree_predictions(X: np.ndarray, y: np.ndarray, folds: np.ndarray, depth: int, random_state: int) -> np.ndarray:
    pred = np.empty_like(y)
    for f in np.unique(folds):
        test = folds == f
        tree = DecisionTreeClassifier(max_depth=depth, random_state=random_state)
        tree.fit(X[~test], y[~test])
        pred[test] = tree.predict(X[test])
    return pred


def _segment_sample(labels: np.ndarray, size: int, rng: np.random.Generator,
                    floor: Callable[[int], int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows of a sample stratified by segment (noise left out, each segment keeping at least
    ``floor(k)`` rows) and the segments; ``None`` with fewer than two segments."""
    keep = np.flatnonzero(labels != NOISE)
    lab = labels[keep]
    segs = np.unique(lab)
    if segs.size < 2:
        return None
    return keep[_stratified(lab, size, rng, floor(segs.size))], segs


def distinguishability(
    X: np.ndarray, labels: np.ndarray, *, size: int = DISTINGUISH_SIZE, n_folds: int = 3, random_state: int = 0
) -> float | None:
    """How well a shallow decision tree tells the segments apart, cross-validated.

    A tree of depth ``ceil(log2 k) + 1`` is trained on a stratified sample in ``n_folds``
    stratified folds; the result is the balanced accuracy (mean recall per segment) of the
    out-of-fold predictions: 1 means every segment is recognisable from a few feature
    thresholds, ``1 / k`` means chance. Noise is left out.

    Returns
    -------
    float or None
        ``None`` with fewer than two segments.
    """
    labels = np.asarray(labels, dtype=int)
    rng = np.random.default_rng(random_state)
    sampled = _segment_sample(labels, size, rng, lambda k: max(n_folds * 2, size // (4 * k)))
    if sampled is None:
        return None
    idx, segs = sampled
    y = labels[idx]
    folds = np.empty(idx.size, dtype=int)
    for seg in segs:
        members = np.flatnonzero(y == seg)
        folds[rng.permutation(members)] = np.arange(members.size) % n_folds
    depth = math.ceil(math.log2(segs.size)) + 1
    pred = _tree_predictions(np.asarray(X[idx], dtype=float), y, folds, depth, random_state)
    return float(np.mean([(pred[y == seg] == seg).mean() for seg in segs]))


def pair_separation(
    X: np.ndarray, labels: np.ndarray, *, size: int = DISTINGUISH_SIZE, random_state: int = 0
) -> float | None:
    """How well the least-separated pair of segments is told apart by a single feature.

    For every pair of segments and every column, the AUC of the column between the two
    (the chance that a member of one lies above a member of the other, ties half; taken
    as ``max(AUC, 1 - AUC)``); a pair's separation is its best column's; the result is the
    worst pair's. A value of at least :data:`TRAIT_AUC` means each segment differs from
    every other in a trait a profile can name. Computed on a stratified sample; noise is
    left out.

    Returns
    -------
    float or None
        ``None`` with fewer than two segments.
    """
    labels = np.asarray(labels, dtype=int)
    sampled = _segment_sample(labels, size, np.random.default_rng(random_state), lambda k: max(2, size // (4 * k)))
    if sampled is None:
        return None
    idx, segs = sampled
    S = np.asarray(X[idx], dtype=float)
    y = labels[idx]
    members = [S[y == seg] for seg in segs]
    worst = 1.0
    for a in range(segs.size):  # pairs of segments (at most a few dozen); columns at once
        for b in range(a + 1, segs.size):
            n_a, n_b = members[a].shape[0], members[b].shape[0]
            ranks = rankdata(np.vstack([members[a], members[b]]), axis=0)  # ties: mean rank
            auc = (ranks[:n_a].sum(axis=0) - n_a * (n_a + 1) / 2.0) / (n_a * n_b)  # Mann-Whitney
            worst = min(worst, float(np.max(np.maximum(auc, 1.0 - auc))))
    return worst


def _jaccard_best(ref: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
    """For each reference segment ``0..k-1``: Jaccard index of its best match in ``other``."""
    other_segs = np.unique(other[other != NOISE])
    if other_segs.size == 0:
        return np.zeros(k)
    oi = np.searchsorted(other_segs, np.where(other == NOISE, other_segs[0], other))
    valid_o = other != NOISE
    table = np.zeros((k, other_segs.size))
    vr = (ref != NOISE) & valid_o
    np.add.at(table, (ref[vr], oi[vr]), 1.0)
    size_r = np.bincount(ref[ref != NOISE], minlength=k).astype(float)
    size_o = np.bincount(oi[valid_o], minlength=other_segs.size).astype(float)
    union = size_r[:, None] + size_o[None, :] - table
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = np.where(union > 0, table / union, 0.0)
    return jac.max(axis=1)


def stability(
    reference: np.ndarray, resampled: Sequence[tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[float | None, tuple[float, ...]]:
    """Mean ARI and mean per-segment best-match Jaccard over re-fits on subsamples.

    Parameters
    ----------
    reference : numpy.ndarray of shape (n,)
        Labels of the reference fit on all rows of the selection sample.
    resampled : sequence of (indices, labels)
        For each re-fit: the rows it was fitted on and its labels for them.
    k : int
        Segments in the reference.
    """
    if not resampled:
        return None, ()
    aris, jacs = [], []
    for idx, lab in resampled:
        ref = reference[idx]
        aris.append(adjusted_rand_score(ref, lab))
        jacs.append(_jaccard_best(ref, lab, k))
    return float(np.mean(aris)), tuple(float(v) for v in np.mean(jacs, axis=0))


def split_bimodality(X: np.ndarray, fewer: np.ndarray, more: np.ndarray) -> float | None:
    """Is the split from one partition to the next one segment more a split between two groups?

    The segment of ``fewer`` that ``more`` cuts most evenly is found (the one whose second
    largest piece holds the largest share of it), its members in its two largest pieces
    are projected on the line through the two pieces' centres, and the result is Sarle's
    bimodality coefficient of the projection, ``(skewness² + 1) / (excess kurtosis +
    3 (n - 1)² / ((n - 2)(n - 3)))`` with the sample estimates: 1/3 for a normal
    distribution, 5/9 (:data:`BIMODAL_COEFFICIENT`) for a uniform one, towards 1 for two
    well-apart groups. Cutting one group in two projects a unimodal cloud (below 5/9);
    separating two merged groups projects two humps (above it). Noise is left out.

    Returns
    -------
    float or None
        ``None`` when the two pieces hold fewer than 4 rows or the projection is constant.
    """
    keep = (fewer != NOISE) & (more != NOISE)
    a, b = fewer[keep], more[keep]
    if a.size == 0:
        return None
    table = np.zeros((int(a.max()) + 1, int(b.max()) + 1))
    np.add.at(table, (a, b), 1.0)
    if table.shape[1] < 2:
        return None
    frac = np.sort(table / np.maximum(table.sum(axis=1, keepdims=True), 1.0), axis=1)
    seg = int(np.argmax(frac[:, -2]))
    first, second = np.argsort(table[seg], kind="stable")[-2:]
    rows = np.asarray(X, dtype=float)[keep]
    members = (a == seg) & np.isin(b, [first, second])
    if members.sum() < 4:
        return None
    direction = rows[b == second].mean(axis=0) - rows[b == first].mean(axis=0)
    z = rows[members] @ direction
    n = z.size
    z = z - z.mean()
    sd = np.sqrt(np.mean(z * z))
    if sd <= 0:
        return None
    g1 = np.mean(z**3) / sd**3
    g2 = np.mean(z**4) / sd**4 - 3.0
    skew = g1 * math.sqrt(n * (n - 1)) / (n - 2)  # the sample (bias-corrected) estimates
    kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6.0)
    return float((skew * skew + 1.0) / (kurt + 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


# --------------------------------------------------------------------------- fitting


def _fit_many(
    spec: AlgorithmSpec, X: np.ndarray, ks: Sequence[int], random_state: int, options: Mapping[str, Any]
) -> dict[int, Fitted]:
    if spec.fit_path is not None:
        return spec.fit_path(X, k_values=list(ks), random_state=random_state, **options)
    return {k: spec.fit(X, k=k, random_state=random_state, **options) for k in ks}


def _settings(spec: AlgorithmSpec, k_values: Sequence[int], size_values: Sequence[float] | None) -> list[tuple[int | None, dict[str, Any]]]:
    if spec.capabilities.needs_k:
        return [(k, {}) for k in k_values]
    values = spec.capabilities.size_values if size_values is None else tuple(size_values)
    return [(None, {spec.capabilities.size_parameter: float(v)}) for v in values]


def _evaluate(
    spec: AlgorithmSpec,
    S: np.ndarray,
    M: np.ndarray,
    v: np.ndarray | None,
    n_rows: int,
    k_values: Sequence[int],
    size_values: Sequence[float] | None,
    constraints: Constraints,
    n_bootstrap: int,
    random_state: int,
    options: Mapping[str, Any],
    other_segments: int = 0,
) -> tuple[list[Candidate], dict[tuple[int, tuple], np.ndarray]]:
    """All candidates of one algorithm; also their reference labels on the sample."""
    m = S.shape[0]
    settings = _settings(spec, k_values, size_values)
    seeds = np.random.SeedSequence(random_state).generate_state(n_bootstrap + 1)
    # re-fits use fewer restarts (the reference fit keeps the caller's n_init)
    boot_opts = {**options, "n_init": min(int(options.get("n_init", BOOTSTRAP_N_INIT)), BOOTSTRAP_N_INIT)}
    rng = np.random.default_rng(seeds[0])
    subsamples = [
        np.sort(rng.choice(m, size=int(round(SUBSAMPLE_FRACTION * m)), replace=False)) for _ in range(n_bootstrap)
    ]

    def fit_all(X_: np.ndarray, seed: int, opts: Mapping[str, Any]) -> list[Fitted]:
        if spec.capabilities.needs_k:
            fits = _fit_many(spec, X_, [k for k, _ in settings], seed, opts)
            return [fits[k] for k, _ in settings]
        return [spec.fit(X_, k=None, random_state=seed, **{**opts, **p}) for _, p in settings]

    ref_fits = fit_all(S, random_state, options)
    reference = [relabel_by_size(f.labels) for f in ref_fits]
    boots = [(idx, fit_all(S[idx], int(seed), boot_opts)) for idx, seed in zip(subsamples, seeds[1:])]

    bimodality: dict[int, float | None] = {}
    if spec.capabilities.needs_k:
        ks = [k for k, _ in settings]
        bimodality = {k: split_bimodality(M, reference[i - 1], reference[i])
                      for i, k in enumerate(ks) if i and ks[i - 1] == k - 1}
    candidates: list[Candidate] = []
    labels_by_key: dict[tuple[int, tuple], np.ndarray] = {}
    for i, (k_set, params) in enumerate(settings):
        lab = reference[i]
        segs = np.unique(lab[lab != NOISE])
        k = int(segs.size)
        counts = np.bincount(lab[lab != NOISE], minlength=k).astype(float)
        shares = counts / m
        noise_share = float(np.mean(lab == NOISE))
        sil = se = ch = db = inertia = None
        if k >= 2:
            keep = lab != NOISE
            sil, se, _ = stratified_silhouette(M, lab, random_state=random_state)
            ch = float(calinski_harabasz_score(M[keep], lab[keep]))
            db = float(davies_bouldin_score(M[keep], lab[keep]))
            centres = np.vstack([M[lab == s].mean(axis=0) for s in range(k)])
            diff = M[keep] - centres[lab[keep]]
            inertia = float(np.einsum("ij,ij->", diff, diff)) * n_rows / m
        bic = ref_fits[i].details.get("bic")
        stab, seg_stab = stability(lab, [(idx, fits[i].labels) for idx, fits in boots], k)
        dist = distinguishability(M, lab, random_state=random_state) if k >= 2 else None
        separation = pair_separation(M, lab, random_state=random_state) if k >= 2 else None
        value_min = None
        if v is not None and k >= 1:
            total = float(v.sum())
            value_min = float(np.bincount(lab[lab != NOISE], weights=v[lab != NOISE], minlength=k).min() / total)
        why = _why_not(k, shares, noise_share, value_min, spec, constraints, other_segments)
        cand_k = k if k_set is None else int(k_set)
        candidates.append(
            Candidate(
                algorithm=spec.name,
                k=cand_k,
                params=dict(params),
                min_cluster_share=params.get("min_cluster_share"),
                silhouette=sil,
                silhouette_se=se,
                calinski_harabasz=ch,
                davies_bouldin=db,
                inertia=inertia,
                bic=bic,
                stability=stab,
                segment_stability=seg_stab,
                min_share=float(shares.min()) if k else 0.0,
                segment_shares=tuple(float(s) for s in shares),
                noise_share=noise_share,
                value_min_share=value_min,
                distinguishability=dist,
                pair_separation=separation,
                stable=_is_stable(stab, seg_stab),
                eligible=why is None,
                why_not=why,
                split_bimodality=bimodality.get(cand_k),
            )
        )
        labels_by_key[(cand_k, tuple(params.items()))] = lab
    return candidates, labels_by_key


def _why_not(
    k: int,
    shares: np.ndarray,
    noise_share: float,
    value_min: float | None,
    spec: AlgorithmSpec,
    c: Constraints,
    other_segments: int = 0,
) -> str | None:
    reasons = []
    if k < 2:
        reasons.append(f"found {k} segment{'s' if k != 1 else ''}; at least 2 are needed")
    most = most_segments(c, other_segments)
    if most is not None and k > most:
        reasons.append(f"{k} segments is more than max_segments ({c.max_segments})" if not other_segments else
                       f"{k} segments plus the {other_segments} set by rule make {k + other_segments}, more than "
                       f"max_segments ({c.max_segments})")
    if k >= 1 and shares.min() < c.min_share:
        reasons.append(
            f"smallest segment holds {percent(shares.min(), SHARE_DECIMALS)} of customers, "
            f"below min_share ({percent(c.min_share, SHARE_DECIMALS)})"
        )
    if c.min_value_share is not None and value_min is not None and value_min < c.min_value_share:
        reasons.append(
            f"lowest-value segment holds {percent(value_min, SHARE_DECIMALS)} of value, below min_value_share "
            f"({percent(c.min_value_share, SHARE_DECIMALS)})"
        )
    if spec.capabilities.noise and noise_share > c.max_noise_share:
        reasons.append(
            f"{percent(noise_share, SHARE_DECIMALS)} of customers are noise, "
            f"above max_noise_share ({percent(c.max_noise_share, SHARE_DECIMALS)})"
        )
    return "; ".join(reasons) if reasons else None


# --------------------------------------------------------------------------- the rule


class Recommendation(enum.Enum):
    """Which branch of the rule (:func:`_recommend`) made the choice; the reason is worded from it."""

    #: Among stable eligible candidates, by silhouette: the highest, or the most segments
    #: within :data:`SILHOUETTE_TOLERANCE` of it (islands, or a continuum where no
    #: candidate qualified for the continuum rule).
    STABLE_SILHOUETTE = "stable silhouette"
    #: Islands: more segments than the highest silhouette's, each an island (see
    #: :func:`_island_splits`).
    ISLANDS_SPLIT = "islands split"
    #: A continuum: the most stable segments told apart by traits.
    CONTINUUM = "continuum"
    #: A continuum, and the chosen k is a peak of the silhouette over k.
    CONTINUUM_PEAK = "continuum peak"
    #: No eligible candidate is stable: the highest silhouette among the most stable.
    MOST_STABLE = "most stable"
    #: No candidate meets the constraints: the best of the rest.
    NONE_ELIGIBLE = "none eligible"
    #: No candidate found two segments (density algorithms): the fewest.
    NO_TWO_SEGMENTS = "no two segments"


def _rank_key(c: Candidate) -> tuple[float, int]:
    return (c.silhouette if c.silhouette is not None else -np.inf, -c.k)


def _recommend(
    cands: Sequence[Candidate], constraints: Constraints = Constraints(), other_segments: int = 0
) -> tuple[Candidate, list[Candidate], Recommendation]:
    """Apply the rule; return the choice, the pool it came from and the branch that chose.

    1. Pool: eligible candidates (all, if none is eligible).
    2. Keep the *stable* ones (mean ARI >= 0.75 and every segment's mean Jaccard >= 0.75);
       if none is stable, keep those within 0.05 of the most stable.
    3. Islands (the best silhouette in the pool reaches :data:`ISLANDS_SILHOUETTE`): take
       the highest silhouette; then, for that algorithm, the most segments whose
       silhouette is within :data:`SILHOUETTE_TOLERANCE` of it or peaks over k, and whose
       every split from the best's k separates two groups (see :func:`_island_splits`).
       The silhouette favours merging close groups; a stable split that costs little
       silhouette is real structure when it cuts between two groups, not through one.
    4. A continuum (the best silhouette below it): every cut is a region, not an island,
       and the silhouette's differences between k say little. Take the most segments, up
       to ``constraints.max_segments`` (default :data:`CONTINUUM_MAX_SEGMENTS`) less the
       ``other_segments`` (:func:`most_segments`), among the
       stable candidates whose every pair of segments differs by a trait
       (:attr:`Candidate.traits`) and, among those, at a peak of the silhouette over k
       (at least its value with one segment fewer and one more: a cut where the regions
       are better apart than with a neighbouring number; a planted group split in two
       makes no peak); the most of them when the silhouette has no such peak, the highest
       silhouette when none qualifies.
    """
    scored = [c for c in cands if c.silhouette is not None]
    pool = [c for c in scored if c.eligible]
    eligible = bool(pool)
    if not eligible:
        pool = scored
    if not pool:
        return min(cands, key=lambda c: c.k), list(cands), Recommendation.NO_TWO_SEGMENTS
    stable = [c for c in pool if c.stable]
    how = Recommendation.STABLE_SILHOUETTE if stable else Recommendation.MOST_STABLE
    if stable:
        pool = stable
    elif any(c.stability is not None for c in pool):
        top = max(c.stability for c in pool if c.stability is not None)
        pool = [c for c in pool if c.stability is not None and c.stability >= top - STABILITY_TIE]
    if not eligible:
        how = Recommendation.NONE_ELIGIBLE
    best = max(pool, key=_rank_key)
    if best.silhouette < ISLANDS_SILHOUETTE and eligible:
        most = most_segments(constraints, other_segments, continuum=True)
        usable = [c for c in pool if c.traits and c.k <= most and c.stable]
        peaks = [c for c in usable if _silhouette_peak(c, scored)]
        if peaks:
            return max(peaks, key=lambda c: (c.k, c.silhouette)), pool, Recommendation.CONTINUUM_PEAK
        if usable:
            return max(usable, key=lambda c: (c.k, c.silhouette)), pool, Recommendation.CONTINUUM
    near = [
        c
        for c in pool
        if c.algorithm == best.algorithm and c.silhouette >= best.silhouette - SILHOUETTE_TOLERANCE * abs(best.silhouette)
    ]
    if how is Recommendation.STABLE_SILHOUETTE and best.silhouette >= ISLANDS_SILHOUETTE and not best.params:
        splits = _island_splits(best, near, pool, scored)
        choice = max([best, *splits], key=lambda c: (c.k, c.silhouette))
        return choice, pool, Recommendation.ISLANDS_SPLIT if choice is not best else how
    choice = max(near, key=lambda c: (c.k, c.silhouette))
    return choice, pool, how


def on_continuum(selection: KSelection, other_segments: int = 0) -> bool:
    """Whether the recommended k was taken by the continuum rule of :func:`_recommend` (so
    that, without ``max_segments``, :data:`CONTINUUM_MAX_SEGMENTS` bounded it; see
    :func:`most_segments`), ``other_segments`` beside it as in :func:`select_k`. ``False``
    when the user set k (``--k``): the rule did not choose it."""
    if selection.fixed_k is not None:
        return False
    how = _recommend(selection.candidates, selection.constraints, other_segments)[2]
    return how in (Recommendation.CONTINUUM, Recommendation.CONTINUUM_PEAK)


def _island_splits(
    best: Candidate, near: Sequence[Candidate], pool: Sequence[Candidate], scored: Sequence[Candidate]
) -> list[Candidate]:
    """Islands: the stable candidates with more segments than the best silhouette's that
    split it into more islands.

    A candidate qualifies when

    * its silhouette is within :data:`SILHOUETTE_TOLERANCE` of the best (``near``), or it
      sits at a peak of the silhouette over k (no neighbouring k higher, and at least one
      lower, by more than :data:`PEAK_NOISE_SE` standard errors), reads as islands (at
      least :data:`ISLANDS_SILHOUETTE`) and is as stable as the most stable candidate
      (mean ARI within :data:`STABILITY_TIE`); and
    * every split on the way from the best's k to its k separates two groups: the
      bimodality coefficient of each (:attr:`Candidate.split_bimodality`, one k to the
      next) is above :data:`BIMODAL_COEFFICIENT`.

    Merging two close islands can raise the average silhouette above the true cut's, so
    the highest silhouette under-splits; cutting one island in two can cost the average
    only a little, so "the most segments near the best" over-splits. The silhouette says
    which cuts are about as good; the shape of each split says whether it separates
    groups or halves one."""
    by_k = {c.k: c for c in scored if c.algorithm == best.algorithm and not c.params}
    measured = [c.stability for c in pool if c.algorithm == best.algorithm and c.stability is not None]
    top = max(measured) if measured else None
    near_ks = {c.k for c in near if c.algorithm == best.algorithm and not c.params}

    def peak(c: Candidate) -> bool:
        return (c.silhouette >= ISLANDS_SILHOUETTE
                and (top is None or c.stability is None or c.stability >= top - STABILITY_TIE)
                and _silhouette_peak(c, scored, PEAK_NOISE_SE, edges=True))

    def groups_all_the_way(c: Candidate) -> bool:
        steps = [by_k.get(k) for k in range(best.k + 1, c.k + 1)]
        return all(o is not None and o.split_bimodality is not None and o.split_bimodality > BIMODAL_COEFFICIENT
                   for o in steps)

    return [
        c for c in pool
        if c.algorithm == best.algorithm and not c.params and c.k > best.k
        and (c.k in near_ks or peak(c)) and groups_all_the_way(c)
    ]


def _silhouette_peak(c: Candidate, scored: Sequence[Candidate], noise: float = 0.0, edges: bool = False) -> bool:
    """The candidate's silhouette is at least that of its algorithm with one segment fewer
    and with one more (both swept; with ``edges``, a neighbour not swept does not count).

    With ``noise`` > 0 the comparison allows for the sampling error: no neighbour may be
    higher by more than ``noise`` standard errors of the difference (the two sampled
    silhouettes' standard errors combined as if independent), and at least one must be
    lower by more than that (a plateau is not a peak)."""
    around = {o.k: o for o in scored if o.algorithm == c.algorithm and not o.params}
    neighbours = [around.get(c.k - 1), around.get(c.k + 1)]
    if not edges and None in neighbours:
        return False
    present = [o for o in neighbours if o is not None]

    def margin(o: Candidate) -> float:
        return noise * math.hypot(c.silhouette_se or 0.0, o.silhouette_se or 0.0)

    if not all(c.silhouette + margin(o) >= o.silhouette for o in present):
        return False
    return noise == 0.0 or any(c.silhouette - margin(o) > o.silhouette for o in present)


def _split_note(
    chosen: Candidate,
    nxt: Candidate,
    labels_by_key: Mapping[tuple[int, tuple], np.ndarray],
) -> str:
    """Which segment of ``chosen`` the next candidate splits, and how stable the pieces are."""
    a = labels_by_key[(chosen.k, tuple(chosen.params.items()))]
    b = labels_by_key[(nxt.k, tuple(nxt.params.items()))]
    keep = (a != NOISE) & (b != NOISE)
    table = np.zeros((chosen.k, nxt.k))
    np.add.at(table, (a[keep], b[keep]), 1.0)
    frac = np.sort(table / np.maximum(table.sum(axis=1, keepdims=True), 1.0), axis=1)
    seg = int(np.argmax(frac[:, -2])) if nxt.k > 1 else 0
    pieces = np.argsort(table[seg])[-2:]
    # named by its share, not a number: the selection's sample numbering need not be the final ids
    share = percent(chosen.segment_shares[seg], SHARE_DECIMALS)
    words = f"{nxt.k} segments would split the segment of {share} of customers into two"
    if nxt.segment_stability:
        piece_stab = min(nxt.segment_stability[int(p)] for p in pieces)
        words += f" with segment stability {piece_stab:.2f}"
    return words


def _reason(
    chosen: Candidate,
    pool: Sequence[Candidate],
    how: Recommendation,
    cands: Sequence[Candidate],
    labels: Mapping[str, Mapping[tuple[int, tuple], np.ndarray]],
    fixed_k: int | None,
    evidence: Candidate | None,
    constraints: Constraints = Constraints(),
    other_segments: int = 0,
) -> str:
    def stab(c: Candidate) -> str:
        return f"stability {c.stability:.2f}" if c.stability is not None else "stability not measured"

    def sil(c: Candidate) -> str:  # None: fewer than two segments found (density algorithms)
        return f"{c.silhouette:.3f}" if c.silhouette is not None else "not measurable"

    most = most_segments(constraints, other_segments, continuum=True)
    head = f"{chosen.k} segment{'s' if chosen.k != 1 else ''} ({chosen.label})"
    if fixed_k is not None:
        text = f"{head}: set by the user (--k)"
        if not chosen.eligible:
            text += f", although {chosen.why_not}"
        if evidence is not None and (evidence.k, evidence.algorithm) != (chosen.k, chosen.algorithm):
            text += f"; the evidence alone would suggest {evidence.k} ({evidence.label}, silhouette {sil(evidence)}, {stab(evidence)})"
        return text + "."
    continuum = how in (Recommendation.CONTINUUM, Recommendation.CONTINUUM_PEAK)
    if how is Recommendation.NONE_ELIGIBLE:
        text = f"{head}: no candidate meets the constraints; this is the best of the rest ({chosen.why_not})"
    elif continuum:
        best = max(pool, key=_rank_key)
        text = (
            f"{head}: the customers form a continuum, not islands (best silhouette {sil(best)}, below "
            f"{ISLANDS_SILHOUETTE}), so the number is chosen for use: the most segments, up to {most}, that "
            f"are stable ({stab(chosen)}, every segment at least {STABLE_SEGMENT_JACCARD}), large enough and "
            f"each told apart from every other by a trait (weakest pair AUC {chosen.pair_separation:.2f})"
            + (f", where the silhouette peaks ({sil(chosen)}, above {chosen.k - 1} and {chosen.k + 1} segments)"
               if how is Recommendation.CONTINUUM_PEAK else "")
        )
    elif how is Recommendation.ISLANDS_SPLIT:
        best = max(pool, key=_rank_key)
        text = (
            f"{head}: the most segments that are stable ({stab(chosen)}), with a silhouette ({sil(chosen)}) within "
            f"{SILHOUETTE_TOLERANCE:.0%} of the best or at a peak over k, each split from the best "
            f"({best.label}, {sil(best)}) separating two groups (bimodality coefficient above "
            f"{BIMODAL_COEFFICIENT:.2f}); the best merges close groups"
        )
    elif how is Recommendation.STABLE_SILHOUETTE:
        best = max(pool, key=_rank_key)
        if best is chosen:
            text = f"{head}: highest silhouette ({sil(chosen)}) among stable candidates ({stab(chosen)})"
        else:
            text = (
                f"{head}: the most segments among stable candidates ({stab(chosen)}) whose silhouette "
                f"({sil(chosen)}) is within {SILHOUETTE_TOLERANCE:.0%} of the best "
                f"({best.label}, {sil(best)})"
            )
    elif how is Recommendation.NO_TWO_SEGMENTS:
        text = (f"{head}: no candidate found two segments or more (the density algorithm left the customers "
                f"in one group or as noise); the fewest segments found")
    else:  # MOST_STABLE
        text = f"{head}: no candidate is clearly stable; highest silhouette ({sil(chosen)}) among the most stable ({stab(chosen)})"
    same = sorted((c for c in cands if c.algorithm == chosen.algorithm and not c.params), key=lambda c: c.k)
    nxt = next((c for c in same if c.k == chosen.k + 1), None)
    if nxt is not None and nxt.k > chosen.k:
        if not nxt.eligible:
            text += f"; {nxt.k} segments: {nxt.why_not}"
        else:
            note = _split_note(chosen, nxt, labels[chosen.algorithm])
            if not nxt.stable:
                text += f"; {note} — not stable"
            elif continuum and not nxt.traits:
                text += f"; {note}, but two of its segments differ by no trait (AUC {nxt.pair_separation:.2f})"
            elif continuum and nxt.k > most:
                text += f"; {note}, more than {most}"
            elif (not continuum and nxt.split_bimodality is not None
                  and nxt.split_bimodality <= BIMODAL_COEFFICIENT):
                text += f"; {note}, but that halves one group rather than separating two"
            elif nxt.silhouette is not None:
                text += f"; {note}, but silhouette drops to {nxt.silhouette:.3f}"
    others = {c.algorithm for c in pool} - {chosen.algorithm}
    if others:
        text += f" (compared with {', '.join(sorted(others))})"
    return text + "."


# --------------------------------------------------------------------------- entry point


def _checked(
    X: np.ndarray,
    algorithm: str,
    k_values: Sequence[int] | None,
    fixed_k: int | None,
    constraints: Constraints,
    value: np.ndarray | None,
    n_bootstrap: int,
    sample_size: int | None,
    random_state: int,
    options: Mapping[str, Any] | None,
) -> tuple[np.ndarray, list[AlgorithmSpec], list[int], np.ndarray | None]:
    """:func:`select_k`'s arguments checked, each error naming its parameter: the matrix as
    floats, the algorithms compared, the k swept (with ``fixed_k``) and the value as floats."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < MIN_ROWS or X.shape[1] < 1:
        raise ValueError(f"X must be a 2-d array with at least {MIN_ROWS} rows and 1 column, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or not np.isfinite(X).all():
        raise ValueError("X must be numeric and finite (no NaN or infinity)")
    X = X.astype(float, copy=False)
    n = X.shape[0]
    options = dict(options or {})
    if algorithm == "auto":
        names = [a for a in AUTO_ALGORITHMS if a in algorithms.names()]
        if options.get("categorical"):
            names.append("kprototypes")
    else:
        algorithms.get(algorithm)  # raises with the known names
        names = [algorithm]
    specs = [algorithms.get(a) for a in names]
    if fixed_k is not None:
        if not _is_int(fixed_k) or fixed_k < 2:
            raise ValueError(f"fixed_k must be an integer >= 2, got {fixed_k!r}")
        specs = [s for s in specs if s.capabilities.needs_k]
        if not specs:
            raise ValueError(f"fixed_k does not apply to {algorithm!r}, which finds the number of segments itself")
    if k_values is None:
        k_values = DEFAULT_K_VALUES
    k_values = list(k_values)
    if not k_values or not all(_is_int(k) and k >= 2 for k in k_values):
        raise ValueError(f"k_values must be integers >= 2, got {k_values!r}")
    if fixed_k is not None:
        k_values.append(int(fixed_k))
    k_values = sorted({int(k) for k in k_values})
    if not isinstance(constraints, Constraints):
        raise ValueError(f"constraints must be a Constraints, got {type(constraints).__name__}")
    if not _is_int(n_bootstrap) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be an integer >= 0, got {n_bootstrap!r}")
    if sample_size is not None and (not _is_int(sample_size) or sample_size < 100):
        raise ValueError(f"sample_size must be an integer >= 100 or None, got {sample_size!r}")
    if not _is_int(random_state):
        raise ValueError(f"random_state must be an integer, got {random_state!r}")
    if value is not None:
        value = np.asarray(value, dtype=float)
        if value.shape != (n,) or not np.isfinite(value).all():
            raise ValueError(f"value must be a finite array of shape ({n},), got shape {value.shape}")
        if value.sum() <= 0:
            raise ValueError(f"value must have a positive total, got {value.sum()!r}")
    if constraints.min_value_share is not None and value is None:
        raise ValueError("constraints.min_value_share needs value (per-customer value)")
    return X, specs, k_values, value


def select_k(
    X: np.ndarray,
    *,
    algorithm: str = "kmeans",
    k_values: Sequence[int] | None = None,
    fixed_k: int | None = None,
    constraints: Constraints = Constraints(),
    value: np.ndarray | None = None,
    n_bootstrap: int = STABILITY_RESAMPLES,
    sample_size: int | None = SAMPLE_SIZE,
    random_state: int = 0,
    options: Mapping[str, Any] | None = None,
    size_values: Sequence[float] | None = None,
    other_segments: int = 0,
) -> KSelection:
    """Evaluate candidate segmentations and recommend one.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, d)
        Prepared (scaled) features; for ``kprototypes`` categorical columns hold integer
        codes and ``options["categorical"]`` lists their indices.
    algorithm : str, default "kmeans"
        A registered algorithm, or ``"auto"`` to compare kmeans, ward, average, complete,
        gmm, dbscan, hdbscan (and kprototypes when ``options`` has ``categorical``).
    k_values : sequence of int, optional
        The k swept by k-based algorithms; default ``2..10``.
    fixed_k : int, optional
        The user's k: always recommended (its metrics are still reported and the reason
        says what the evidence alone would suggest). Only k-based algorithms.
    constraints : Constraints
        Business constraints; candidates that break them are marked ineligible.
    value : numpy.ndarray of shape (n,), optional
        Value per customer (net revenue) for ``constraints.min_value_share``.
    n_bootstrap : int, default :data:`~segmentkit.config.STABILITY_RESAMPLES` (20)
        Re-fits on 80 % subsamples for stability (0 skips stability).
    sample_size : int or None, default 5000
        Customers the selection works on (drawn by hashing row contents, so independent
        of row order); ``None`` uses all. The final fit should use all customers.
    random_state : int, default 0
        Same input and seed give the same selection.
    options : mapping, optional
        Passed to every fit (e.g. ``n_init``, ``categorical``).
    size_values : sequence of float, optional
        Sweep of the size parameter (``min_cluster_share``) of density algorithms;
        default each algorithm's own.
    other_segments : int, default 0
        Segments set by rule beside the clustered ones (a layered run's lifecycle groups),
        counted in the bound on the total (:func:`most_segments`).

    Returns
    -------
    KSelection

    Notes
    -----
    The rule (:func:`_recommend`): keep the stable eligible candidates (mean subsample ARI
    and every segment's mean Jaccard >= 0.75). On islands (best silhouette >=
    :data:`ISLANDS_SILHOUETTE`) take the most segments near the best silhouette, or at a peak
    of it, whose every split beyond the best separates two groups; on a continuum (real
    purchase histories, where the silhouette alone always gives 2) the most stable segments
    told apart pair by pair by traits. On the labeled suite (``bench/labeled_suite.py``)
    this beats every single rule and their majority vote.
    """
    X, specs, k_values, value = _checked(X, algorithm, k_values, fixed_k, constraints, value, n_bootstrap,
                                         sample_size, random_state, options)
    if not _is_int(other_segments) or other_segments < 0:
        raise ValueError(f"other_segments must be an integer >= 0, got {other_segments!r}")
    n, options = X.shape[0], dict(options or {})
    idx = order_invariant_sample(X, sample_size, random_state)
    S = X[idx]
    m = S.shape[0]
    if max(k_values) > m // 2:
        raise ValueError(f"k_values must be at most half the rows used ({m // 2}), got {max(k_values)}")
    v = None if value is None else value[idx]
    metric = _metric_space(S, [spec.name for spec in specs], options)

    candidates: list[Candidate] = []
    labels: dict[str, dict[tuple[int, tuple], np.ndarray]] = {}
    # threads that keep every fit byte-identical run to run (see fit_threads)
    with fit_threads():
        for spec in specs:
            cands, labels[spec.name] = _evaluate(
                spec, S, metric, v, n, k_values, size_values, constraints, n_bootstrap, random_state, options,
                other_segments,
            )
            candidates.extend(cands)
    evidence, pool, how = _recommend(candidates, constraints, other_segments)
    chosen = evidence if fixed_k is None else _recommend([c for c in candidates if c.k == fixed_k and not c.params],
                                                         constraints, other_segments)[0]
    reason = _reason(chosen, pool, how, candidates, labels, fixed_k, evidence if fixed_k is not None else None,
                     constraints, other_segments)
    return KSelection(
        candidates=candidates, recommended_k=int(chosen.k), recommended_algorithm=chosen.algorithm,
        recommended_params=dict(chosen.params), reason=reason, knee_k=_knee(chosen, candidates), n_rows=n,
        sample_size=m, fixed_k=None if fixed_k is None else int(fixed_k), constraints=constraints,
    )


def _metric_space(S: np.ndarray, names: Sequence[str], options: Mapping[str, Any]) -> np.ndarray:
    """Where the metrics are computed: where the algorithms measure distance. With
    kprototypes in the comparison, numeric columns plus scaled one-hot categories (see
    ``metric_matrix``); otherwise the sample itself."""
    if "kprototypes" not in names:
        return S
    from segmentkit.algorithms.kprototypes import metric_matrix

    gamma = options.get("gamma")
    if gamma is None:
        num = [j for j in range(S.shape[1]) if j not in set(options["categorical"])]
        gamma = 0.5 * float(np.mean(S[:, num].std(axis=0)))
    return metric_matrix(S, options["categorical"], gamma)


def _knee(chosen: Candidate, candidates: Sequence[Candidate]) -> int | None:
    """Knee of inertia over k for the chosen algorithm (k-based, at least three k swept)."""
    if not algorithms.get(chosen.algorithm).capabilities.needs_k:
        return None
    curve = sorted((c.k, c.inertia) for c in candidates if c.algorithm == chosen.algorithm and c.inertia is not None)
    if len(curve) < 3:
        return None
    return int(curve[knee_index(np.array([y for _, y in curve]))][0])


# --------------------------------------------------------------------------- strength of structure

#: Kaufman & Rousseeuw's reading of the average silhouette (Finding Groups in Data, 1990):
#: above 0.7 strong structure, above 0.5 reasonable, above 0.25 weak (possibly artificial),
#: below that no substantial structure.
SILHOUETTE_READING: tuple[tuple[float, str], ...] = (
    (0.7, "strong: well-separated groups"),
    (0.5, "reasonable: distinct groups with some overlap"),
    (0.25, "weak: the segments are regions of a continuum, not islands"),
    (-1.0, "no substantial structure: the segments are cuts through a continuum"),
)
#: A customer whose confidence is below this sits near a border between two segments.
NEAR_BORDER = 0.2


def structure_strength(silhouette: float | None, confidence: np.ndarray | None) -> dict[str, Any]:
    """How strong the found structure is, in numbers and words.

    Returns
    -------
    dict
        ``{"silhouette", "reading", "near_border_share", "near_border_threshold",
        "sentence"}``; ``near_border_share`` is the share of customers whose confidence is
        below :data:`NEAR_BORDER` (``None`` without confidences).
    """
    reading = None
    if silhouette is not None:
        reading = next(words for floor, words in SILHOUETTE_READING if silhouette >= floor)
    near = None
    if confidence is not None and len(confidence):
        near = float(np.mean(np.asarray(confidence, dtype=float) < NEAR_BORDER))
    text = ""
    if reading is not None:
        text = f"Structure is {reading} (silhouette {silhouette:.2f})."
    if near is not None:
        text += (f" {percent(near, SHARE_DECIMALS)} of customers sit near a border between two segments "
                 f"(confidence below {NEAR_BORDER:.1f}).")
    return {
        "silhouette": json_float(silhouette),
        "reading": reading,
        "near_border_share": json_float(near),
        "near_border_threshold": NEAR_BORDER,
        "sentence": text.strip() or None,
    }
