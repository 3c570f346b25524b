"""Beyond what the driver should hold: the clustering fitted on a stratified sample.

With events read by Spark, the features of every customer are computed by Spark and kept
there. Up to :data:`~segmentkit.config.DRIVER_CUSTOMERS` customers (``[spark] driver_customers``,
``--driver-customers``) they all come to the driver and the run is the usual one. Beyond
it, a stratified sample of that size comes to the driver: the clustering, the profiles,
the names and the report are made from it, and every customer is then assigned by Spark
with the fitted nearest-centre rule (:func:`segmentkit.spark.assign.assign_features`).
``summary.json`` says which was done (``fit_scope``).

The strata are the deciles of customer value (net spend; orders without amounts): each
decile gives the sample its exact share, so the few high-value customers that small
segments are often made of are neither lost nor over-weighted by the luck of the draw.
Within a stratum, customers are taken in the order of a seeded hash of their id: the same
input and seed give the same sample, whatever the row order or the partitioning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segmentkit.config import DRIVER_CUSTOMERS
from segmentkit.sqltext import spark_identifier

__all__ = ["STRATA", "FitScope", "stratified_sample"]

#: Value strata of the sample (deciles).
STRATA = 10


@dataclass(frozen=True)
class FitScope:
    """Which customers the clustering was fitted on.

    Attributes
    ----------
    customers : int
        Customers with features (computed by Spark).
    fitted : int
        Customers whose features came to the driver and were clustered.
    driver_customers : int
        The threshold beyond which a sample is fitted.
    """

    customers: int
    fitted: int
    driver_customers: int

    @property
    def sampled(self) -> bool:
        """Whether the clustering was fitted on a sample (and Spark assigned everyone)."""
        return self.fitted < self.customers

    def to_dict(self) -> dict[str, Any]:
        """As ``summary.json`` holds it."""
        return {"fitted_on": "stratified_sample" if self.sampled else "all_customers",
                "customers": self.customers, "customers_fitted": self.fitted,
                "driver_customers": self.driver_customers,
                "strata": f"{STRATA} deciles of customer value" if self.sampled else None,
                "assigned_by": "spark_nearest_centre" if self.sampled else "clustering"}


def stratified_sample(spark: Any, features: str, value_column: str, size: int, total: int, seed: int,
                      view: str) -> str:
    """Create the temporary view ``view`` of ``customer_id``: about ``size`` of the ``total``
    customers of the view ``features``, each value decile giving its share (rounded up).

    Returns
    -------
    str
        ``view``.
    """
    value = spark_identifier(value_column)
    probabilities = ", ".join(f"{i / STRATA:.1f}D" for i in range(1, STRATA))
    (edges,) = spark.sql(f"SELECT approx_percentile({value}, array({probabilities}), 10000) "
                         f"FROM {features}").collect()[0]
    stratum = " + ".join(f"CAST({value} > CAST({float(e)!r} AS DOUBLE) AS INT)" for e in edges or []) or "0"
    share = size / total
    spark.sql(f"""
        SELECT customer_id FROM (
            SELECT customer_id, stratum,
                   row_number() OVER (PARTITION BY stratum ORDER BY xxhash64(customer_id, {int(seed)}), customer_id) AS rn,
                   count(*) OVER (PARTITION BY stratum) AS n
            FROM (SELECT customer_id, {stratum} AS stratum FROM {features}))
        WHERE rn <= ceil(n * CAST({share!r} AS DOUBLE))
    """).createOrReplaceTempView(view)
    return view
