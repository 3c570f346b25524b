"""The lifecycle layer of a layered segmentation: new, one-time, lapsed, the active base.

CRM practice does not cluster everyone at once. Customers too new to have a habit, customers
who bought once and never again, and repeat buyers who stopped buying are groups of their
own, found by plain rules; the clustering then looks for behaviour only in the **active
base**, the repeat buyers who still buy. With ``[clustering] layers = "lifecycle"`` a run
does exactly that and shows both layers as one segmentation (see :mod:`segmentkit.pipeline`).

The rules, in this order (the first that holds wins), on the features as of the snapshot
(:mod:`segmentkit.features`):

===============  ==========================================================================
group            rule
===============  ==========================================================================
new              first seen at most :data:`NEW_TENURE_DAYS` ago (``tenure_days``)
one-time         exactly one order (``orders``), and not new
browsers         no order at all, and not new (views, carts or returns only)
lapsed           two orders or more, and the last one (``recency_days``) at least the
                 customer's lapse horizon ago: :data:`LAPSED_GAPS` × their own mean gap
                 between orders (``gap_mean_days``), but at least the run's lapsed
                 threshold and at most :data:`LAPSED_MAX_DAYS`
(active base)    everybody else: clustered into behavioural segments
===============  ==========================================================================

The run's lapsed threshold is fitted on the run (:func:`fit_rules`): :data:`LAPSED_GAPS` × the
median mean gap of the repeat buyers, clipped to :data:`LAPSED_MIN_DAYS` ..
:data:`LAPSED_MAX_DAYS`. The customer's own gap widens it for slow buyers, so a customer who
buys gifts every December is not lapsed in July; the cap keeps anyone silent for a year from
counting as active. The fitted rules are kept with the model, so ``assign`` applies the
same rules to new customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["AT_RISK_GAPS", "GROUPS", "GROUP_NAMES", "LAPSED_GAPS", "LAPSED_MAX_DAYS", "LAPSED_MIN_DAYS",
           "LAYERS", "NEW_TENURE_DAYS", "RULE_FEATURES", "ACTIVE_BASE", "AUTO_ONE_TIME_SHARE", "Layering", "LifecycleRules",
           "choose_layering", "fit_rules", "layer_labels", "lifecycle_groups", "one_time_share"]

#: The ways a run can be layered: ``flat`` clusters everyone; ``lifecycle`` puts new,
#: one-time, browsing-only and lapsed customers in groups of their own by rule and
#: clusters the active base only; ``auto`` (the default) is ``lifecycle`` where one-time
#: buyers are a mass of their own (:func:`choose_layering`), else ``flat``.
LAYERS = ("auto", "flat", "lifecycle")
#: ``auto`` layers a run when at least this share of the buyers ordered once. A one-time
#: buyer's gaps, regularity, trend and seasonality do not exist (they are missing, not
#: extreme), so a clustering of everyone gives them a region by what they lack. From a
#: quarter of the buyers, that region outweighs the average segment of the fewest segments
#: a team briefs (marketing practice keeps to 4-8, see segmentkit.choose_k): it takes a
#: behavioural segment's place, and the clustering's sizes, stability and choice of k answer
#: to it. Real purchase logs are there (about half of CDNOW's buyers ordered once); a base of
#: mostly repeat buyers is clustered as a whole.
AUTO_ONE_TIME_SHARE = 0.25
#: Customers first seen this few days ago are new: too short a history for a habit (a quarter).
NEW_TENURE_DAYS = 90.0
#: Last purchase this many of their usual gaps ago: at risk (one missed order and a half) ...
AT_RISK_GAPS = 1.5
#: ... and lapsed (three usual orders missed).
LAPSED_GAPS = 3.0
#: The run's lapsed threshold is at least two months: below it, a pause of weekly buyers over
#: a holiday would count as lapsing.
LAPSED_MIN_DAYS = 60.0
#: ... and at most a year, as is usual in CRM practice: a customer silent for a year is lapsed
#: whatever their habit (it also caps a slow buyer's own horizon).
LAPSED_MAX_DAYS = 365.0
#: The lapsed threshold when no customer has two orders (no gap to fit it from): half a year.
LAPSED_FALLBACK_DAYS = 182.0
#: The lifecycle groups in the order their segment ids follow the behavioural segments.
GROUPS = ("new", "one-time", "browsers", "lapsed")
#: The fixed name of each group (a ``--names`` file can still replace it).
GROUP_NAMES = {"new": "New customers", "one-time": "One-time buyers", "browsers": "Browsers who never bought",
               "lapsed": "Lapsed repeat buyers"}
#: Who a layered run's behavioural segments are compared with, as their traits and briefs
#: name them (the clustered customers: no lifecycle rule takes them).
ACTIVE_BASE = "the active base"
#: The features the rules read (always computed from events, see segmentkit.features).
RULE_FEATURES = ("tenure_days", "orders", "recency_days", "gap_mean_days")


@dataclass(frozen=True)
class LifecycleRules:
    """The fitted rules of the lifecycle layer.

    Attributes
    ----------
    new_tenure_days : float
        First seen at most this many days ago: new.
    lapsed_gaps : float
        A repeat buyer is lapsed after this many of their own mean gaps without an order ...
    lapsed_days : float
        ... but never sooner than this many days (the run's threshold) ...
    lapsed_max_days : float
        ... and always after this many.
    median_gap_days : float or None
        The repeat buyers' median mean gap the threshold was fitted from (``None``: no
        repeat buyer; the threshold is :data:`LAPSED_FALLBACK_DAYS`).
    """

    new_tenure_days: float
    lapsed_gaps: float
    lapsed_days: float
    lapsed_max_days: float
    median_gap_days: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``model.json`` and ``summary.json`` ``layers.rules``)."""
        return {"new_tenure_days": self.new_tenure_days, "lapsed_gaps": self.lapsed_gaps,
                "lapsed_days": self.lapsed_days, "lapsed_max_days": self.lapsed_max_days,
                "median_gap_days": self.median_gap_days}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifecycleRules:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            When a threshold is missing, not a finite non-negative number, or the run's lapsed
            threshold exceeds the cap.
        """
        out = {}
        for key in ("new_tenure_days", "lapsed_gaps", "lapsed_days", "lapsed_max_days", "median_gap_days"):
            value = data.get(key)
            if key == "median_gap_days" and value is None:
                out[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"{key} must be a number of at least 0, found {value!r}")
            out[key] = float(value)
        if out["lapsed_days"] > out["lapsed_max_days"]:
            raise ValueError("lapsed_days must not exceed lapsed_max_days")
        return cls(**out)

    def sentence(self) -> str:
        """The rules in one plain sentence (report, ``summary.md``)."""
        return (f"New customers were first seen at most {self.new_tenure_days:g} days ago; one-time buyers "
                f"ordered once; lapsed repeat buyers have not ordered for {self.lapsed_gaps:g} of their usual "
                f"gaps (at least {self.lapsed_days:g} and at most {self.lapsed_max_days:g} days); the "
                "behavioural segments are found among the other, active repeat buyers only.")


def fit_rules(frame: pd.DataFrame) -> LifecycleRules:
    """Fit the lapsed threshold on a run's customers.

    Parameters
    ----------
    frame : pandas.DataFrame
        Event features per customer, with ``orders`` and ``gap_mean_days``.

    Returns
    -------
    LifecycleRules
        :data:`LAPSED_GAPS` × the median ``gap_mean_days`` of the customers with two orders
        or more, clipped to :data:`LAPSED_MIN_DAYS` .. :data:`LAPSED_MAX_DAYS` and rounded
        to a whole day (:data:`LAPSED_FALLBACK_DAYS` without repeat buyers).
    """
    gaps = frame["gap_mean_days"].to_numpy(float)[frame["orders"].to_numpy(float) >= 2]
    gaps = gaps[np.isfinite(gaps)]
    median = float(np.median(gaps)) if gaps.size else None
    days = LAPSED_FALLBACK_DAYS if median is None else LAPSED_GAPS * median
    days = float(round(min(max(days, LAPSED_MIN_DAYS), LAPSED_MAX_DAYS)))
    return LifecycleRules(new_tenure_days=NEW_TENURE_DAYS, lapsed_gaps=LAPSED_GAPS, lapsed_days=days,
                          lapsed_max_days=LAPSED_MAX_DAYS,
                          median_gap_days=None if median is None else round(median, 6))


def lifecycle_groups(frame: pd.DataFrame, rules: LifecycleRules) -> pd.Series:
    """Each customer's lifecycle group, or ``""`` for the active base.

    Parameters
    ----------
    frame : pandas.DataFrame
        Event features per customer (``tenure_days``, ``orders``, ``recency_days``,
        ``gap_mean_days``).
    rules : LifecycleRules

    Returns
    -------
    pandas.Series
        One of :data:`GROUPS` or ``""``, indexed like ``frame``.
    """
    tenure = frame["tenure_days"].to_numpy(float)
    orders = frame["orders"].to_numpy(float)
    recency = frame["recency_days"].to_numpy(float)
    gap = frame["gap_mean_days"].to_numpy(float)
    horizon = np.minimum(np.fmax(rules.lapsed_gaps * gap, rules.lapsed_days), rules.lapsed_max_days)
    group = np.select(
        [tenure <= rules.new_tenure_days, orders == 1, orders < 1, recency >= horizon],
        ["new", "one-time", "browsers", "lapsed"], default="")
    return pd.Series(group, index=frame.index, dtype=object, name="lifecycle")


@dataclass(frozen=True, eq=False)
class Layering:
    """A run's lifecycle layer: the fitted rules and each customer's group.

    Attributes
    ----------
    rules : LifecycleRules
    groups : pandas.Series
        One of :data:`GROUPS`, or ``""`` for the active base, per clustered customer.
    """

    rules: LifecycleRules
    groups: pd.Series

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> Layering:
        """Fit the rules on ``frame`` (event features per customer) and apply them."""
        rules = fit_rules(frame)
        return cls(rules=rules, groups=lifecycle_groups(frame, rules))

    @property
    def active(self) -> np.ndarray:
        """True for the customers of the active base (the ones clustered)."""
        return (self.groups == "").to_numpy()

    def group_ids(self, first_id: int, previous: Mapping[str, int] | None = None) -> dict[str, int]:
        """Segment ids of the non-empty groups, in the order of :data:`GROUPS`.

        A group the ``previous`` run had keeps its id; the others are numbered from
        ``first_id`` (above every behavioural and previous id).
        """
        ids: dict[str, int] = {}
        present = set(self.groups.unique())
        for group in GROUPS:
            if group not in present:
                continue
            if previous and group in previous:
                ids[group] = int(previous[group])
            else:
                ids[group] = first_id
                first_id += 1
        return ids

    def labels(self, behaviour: np.ndarray, first_id: int,
               previous: Mapping[str, int] | None = None) -> tuple[np.ndarray, dict[str, int]]:
        """Segment id per customer, and the groups' ids (:meth:`group_ids`).

        ``behaviour`` holds the behavioural segment of each customer of the active base (the
        rows where :attr:`active`); the others get their group's id (:func:`layer_labels`).
        """
        group_ids = self.group_ids(first_id, previous)
        full = np.full(len(self.groups), -1)
        full[self.active] = behaviour
        return layer_labels(self.groups, group_ids, full), group_ids


def one_time_share(frame: pd.DataFrame) -> float:
    """The share of the buyers (customers with an order) who ordered exactly once (0 without
    buyers)."""
    orders = frame["orders"].to_numpy(float)
    buyers = int((orders >= 1).sum())
    return float((orders == 1).sum() / buyers) if buyers else 0.0


def choose_layering(frame: pd.DataFrame, layers: str, min_active: int) -> tuple[Layering | None, str | None]:
    """The lifecycle layer of a run, and for ``auto`` the sentence saying why it is there or not.

    Parameters
    ----------
    frame : pandas.DataFrame
        Event features per customer (those to segment).
    layers : str
        One of :data:`LAYERS`.
    min_active : int
        The fewest customers a clustering takes: ``auto`` stays flat when the active base
        would hold fewer.

    Returns
    -------
    Layering or None, str or None
        The fitted layer (``None``: flat), and the sentence (``None`` unless ``auto``).
    """
    if layers == "flat":
        return None, None
    if layers == "lifecycle":
        return Layering.fit(frame), None
    share = one_time_share(frame)
    bar = f"{round(100 * AUTO_ONE_TIME_SHARE)} %"
    if share < AUTO_ONE_TIME_SHARE:  # (no rules fitted: the run is flat)
        return None, (f"No lifecycle layer (--layers auto): {100 * share:.0f} % of the buyers ordered once, below "
                      f"the {bar} from which one-time buyers are set apart; --layers lifecycle sets them apart anyway.")
    layering = Layering.fit(frame)
    active = int(layering.active.sum())
    if active < min_active:
        return None, (f"No lifecycle layer (--layers auto) although {100 * share:.0f} % of the buyers ordered once: "
                      f"the active base would hold {active:,} customers, fewer than the {min_active:,} a "
                      "clustering needs.")
    return layering, (f"Lifecycle layer (--layers auto): {100 * share:.0f} % of the buyers ordered once (at least "
                      f"{bar}), so new, one-time, browsing-only and lapsed customers are groups of their own and "
                      "the active base is clustered; --layers flat clusters everyone.")


def layer_labels(groups: pd.Series, group_ids: Mapping[str, int], behaviour: np.ndarray) -> np.ndarray:
    """Segment id per customer: its group's id, else its behavioural segment.

    Parameters
    ----------
    groups : pandas.Series
        Group per customer (``""``: active base), as from :func:`lifecycle_groups`.
    group_ids : mapping
        Group → segment id. A group without an id (empty when the rules were fitted)
        falls back to the behavioural segment.
    behaviour : numpy.ndarray
        Behavioural segment per customer (aligned with ``groups``).
    """
    ids = groups.map(dict(group_ids)).to_numpy(dtype=float)
    return np.where(np.isnan(ids), behaviour, ids).astype(int)
