"""Readable rules: a shallow one-vs-rest decision tree per segment on the *raw* features,
turned into thresholds in the feature's own units with precision and coverage, and one
surrogate tree that measures how well simple rules reproduce the whole segmentation.

Trees are fitted on a segment-stratified sample whose weights carry support and coverage
back to all customers.
"""

from __future__ import annotations

import math
from typing import Literal, Mapping

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from segmentkit.contract import Typed
from segmentkit.features import FeatureSpec
from segmentkit.profiles.wording import bound_text, spec_for

__all__ = ["Condition", "Rule", "RuleData", "segment_rules", "surrogate_accuracy"]

#: A leaf must hold at least this many customers of the sample ...
MIN_LEAF = 5
#: ... and this share of it: smaller leaves describe a handful of customers, not a segment.
MIN_LEAF_SHARE = 0.01
#: A rule joins a segment's rule set only if it reaches this share of the segment's
#: members that the rules before it miss.
MIN_NEW_COVERAGE = 0.01
#: Dropping a condition may cost this much precision and still shorten the rule.
PRECISION_TOLERANCE = 0.01
#: Rules are ranked after rounding to this many decimals, so float noise never reorders them.
_RANK_DECIMALS = 12


class Condition(Typed):
    """One threshold of a rule: ``feature op threshold``."""

    feature: str
    op: Literal["<=", ">", ">=", "<"]
    threshold: float | None


class Rule(Typed):
    """A readable rule describing (part of) a segment.

    ``text`` reads e.g. ``"days since last purchase ≤ 30 and number of orders ≥ 12"``;
    ``conditions`` is the same rule, machine-readable (all must hold); ``precision`` is the
    share of customers matching the rule who are in the segment, ``coverage`` the share of
    the segment's customers who match it, ``support`` the customers matching it.
    """

    text: str
    precision: float | None
    coverage: float | None
    support: int
    conditions: list[Condition]


class RuleData:
    """The sample the trees are fitted on: raw features (missing values read as the column
    median), whether each column holds whole numbers, the sample's rows, weights and
    segment codes, and the smallest leaf."""

    def __init__(self, raw: np.ndarray, medians: np.ndarray, rows: np.ndarray, weights: np.ndarray,
                 codes: np.ndarray) -> None:
        filled = (np.where(np.isnan(raw[:, j]), medians[j], raw[:, j]) for j in range(raw.shape[1]))
        self.integer_cols = np.array([bool(np.all(col == np.round(col))) for col in filled], dtype=bool)
        self.matrix = np.where(np.isnan(raw[rows]), medians[None, :], raw[rows])
        self.rows, self.weights, self.codes = rows, weights, codes[rows]
        self.min_leaf = max(MIN_LEAF, int(math.ceil(MIN_LEAF_SHARE * len(rows))))


def surrogate_accuracy(data: RuleData, n_seg: int, *, depth: int, random_state: int) -> float:
    """Weighted share of customers whose segment one tree of ``depth`` reproduces."""
    if n_seg <= 1 or data.matrix.shape[1] == 0:
        return 1.0
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=data.min_leaf, random_state=random_state)
    tree.fit(data.matrix, data.codes, sample_weight=data.weights)
    w = data.weights
    return float(w[tree.predict(data.matrix) == data.codes].sum() / w.sum())


def _nice(x: float) -> float:
    """Round a threshold to two significant digits."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.2g}")


def _leaf_paths(tree: DecisionTreeClassifier) -> dict[int, list[tuple[int, str, float]]]:
    """Conditions (feature index, op, threshold) leading to every leaf."""
    t = tree.tree_
    paths: dict[int, list[tuple[int, str, float]]] = {}
    stack: list[tuple[int, list[tuple[int, str, float]]]] = [(0, [])]
    while stack:
        node, conds = stack.pop()
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left == right:  # leaf
            paths[node] = conds
            continue
        f, thr = int(t.feature[node]), float(t.threshold[node])
        stack.append((right, [*conds, (f, ">", thr)]))
        stack.append((left, [*conds, (f, "<=", thr)]))
    return paths


def _rounded_conditions(conds: list[tuple[int, str, float]], columns: list[str], integer_cols: np.ndarray,
                        matrix: np.ndarray) -> tuple[list[Condition], list[np.ndarray]]:
    """A leaf path as one lower and one upper bound per feature, rounded for reading
    (whole numbers for integer columns, two significant digits otherwise), with the rows
    each bound keeps."""
    bounds: dict[int, dict[str, float]] = {}
    for f, op, thr in conds:
        b = bounds.setdefault(f, {})
        if op == "<=":
            b["upper"] = min(b.get("upper", math.inf), thr)
        else:
            b["lower"] = max(b.get("lower", -math.inf), thr)
    items: list[Condition] = []
    masks: list[np.ndarray] = []
    for f in sorted(bounds):
        b, col = bounds[f], matrix[:, f]
        if "lower" in b:
            if integer_cols[f]:
                thr = float(math.floor(b["lower"]) + 1)
                items.append(Condition(feature=columns[f], op=">=", threshold=thr))
                masks.append(col >= thr)
            else:
                thr = _nice(b["lower"])
                items.append(Condition(feature=columns[f], op=">", threshold=thr))
                masks.append(col > thr)
        if "upper" in b:
            thr = float(math.floor(b["upper"])) if integer_cols[f] else _nice(b["upper"])
            items.append(Condition(feature=columns[f], op="<=", threshold=thr))
            masks.append(col <= thr)
    return items, masks


def _make_rule(
    conds: list[tuple[int, str, float]],
    columns: list[str],
    specs: Mapping[str, FeatureSpec],
    data: RuleData,
    y: np.ndarray,
    tolerance: float = PRECISION_TOLERANCE,
) -> tuple[Rule, np.ndarray] | None:
    """Merge a leaf path into one readable rule with rounded thresholds and re-measure it.

    Per feature the tightest bounds are kept; thresholds are rounded; then conditions that
    do not pay for themselves (dropping them costs at most ``tolerance`` precision) are
    removed, most harmless first, so rules stay short. Rows count with their sampling
    ``weights``, so support and coverage estimate counts over all customers.
    """
    items, masks = _rounded_conditions(conds, columns, data.integer_cols, data.matrix)
    if not items:
        return None
    weights = data.weights

    def matches(active: list[int]) -> np.ndarray:
        return np.logical_and.reduce([masks[k] for k in active]) if active else np.ones(len(y), bool)

    wy = weights * y  # (weighted sums by masking: a dot product with a bool mask is far slower)

    def measure(active: list[int]) -> tuple[float, float, float]:
        mask = matches(active)
        support = float(weights[mask].sum())
        hits = float(wy[mask].sum())
        return (hits / support if support else 0.0), hits, support

    active = list(range(len(items)))
    full_precision = measure(active)[0]
    while len(active) > 1:
        best: tuple[float, int, int] | None = None
        best_k = -1
        for k in active:
            cand = measure([j for j in active if j != k])
            if cand[0] >= full_precision - tolerance and (
                best is None or (cand[0], cand[1]) > (best[0], best[1])
            ):
                best, best_k = cand, k
        if best is None:
            break
        active.remove(best_k)
    precision, hits, support = measure(active)
    if support == 0:
        return None
    kept = [items[k] for k in active]
    parts: list[str] = []
    for feature in dict.fromkeys(c.feature for c in kept):
        spec = spec_for(feature, specs)
        lower = next(((c.op, c.threshold) for c in kept if c.feature == feature and c.op != "<="), None)
        upper = next(((c.op, c.threshold) for c in kept if c.feature == feature and c.op == "<="), None)
        parts.append(bound_text(spec, lower, upper))
    rule = Rule(
        text=" and ".join(parts),
        conditions=tuple(kept),
        precision=precision,
        coverage=hits / max(float(wy.sum()), 1.0),
        support=int(round(support)),
    )
    return rule, matches(active) & y


def segment_rules(
    data: RuleData,
    code: int,
    columns: list[str],
    specs: Mapping[str, FeatureSpec],
    *,
    depth: int,
    max_rules: int,
    min_precision: float,
    random_state: int,
) -> tuple[Rule, ...]:
    """Rules for segment ``code`` from a shallow one-vs-rest tree: its positive leaves,
    re-measured after rounding, best F1 first, each reaching members the earlier miss."""
    y = data.codes == code
    weights = data.weights
    n_pos = float(weights[y].sum())
    if not y.any() or y.all() or not columns:
        return ()
    tree = DecisionTreeClassifier(
        max_depth=depth, min_samples_leaf=data.min_leaf, class_weight="balanced", random_state=random_state
    )
    tree.fit(data.matrix, y, sample_weight=weights)
    positive_class = list(tree.classes_).index(True)
    weighted = tree.tree_.value[:, 0, :]
    found: dict[str, tuple[Rule, np.ndarray]] = {}
    for leaf, conds in sorted(_leaf_paths(tree).items()):
        if int(np.argmax(weighted[leaf])) != positive_class or not conds:
            continue
        made = _make_rule(conds, columns, specs, data, y)
        if made is not None and made[0].text not in found:
            found[made[0].text] = made

    def f1(r: Rule) -> float:
        return 2 * r.precision * r.coverage / (r.precision + r.coverage) if r.precision + r.coverage else 0.0

    ranked = sorted(found.values(), key=lambda rm: (-round(f1(rm[0]), _RANK_DECIMALS),
                                                   -round(rm[0].precision, _RANK_DECIMALS), rm[0].text))
    good = [rm for rm in ranked if rm[0].precision >= min_precision]
    if not good and ranked:
        good = [max(ranked, key=lambda rm: (round(rm[0].precision, _RANK_DECIMALS), rm[0].coverage, rm[0].text))]
    # A rule set: each kept rule must reach segment members the earlier ones miss.
    covered = np.zeros(len(y), dtype=bool)
    min_new = max(1, int(math.ceil(MIN_NEW_COVERAGE * n_pos)))
    kept: list[Rule] = []
    for rule, hits in good:
        if len(kept) >= max_rules:
            break
        if float(weights[hits & ~covered].sum()) >= min_new:
            kept.append(rule)
            covered |= hits
    return tuple(kept)
