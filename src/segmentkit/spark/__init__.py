"""The event stage on Apache Spark, for event logs beyond one machine.

The event log is the big table; one row per customer is small. So Spark reads the events,
makes them canonical (:mod:`segmentkit.spark.events`: the same column mapping, tidying,
event-type spellings and exact de-duplication as the DuckDB loader) and computes the
features with *the same SQL* as :mod:`segmentkit.features`, through
:class:`~segmentkit.spark.engine.SparkEngine`. The feature table comes back to the driver,
and everything after it (preparation, clustering, choosing k, profiles, personas, report)
runs as usual.

Use it by passing ``SparkEvents(path)`` wherever an events source goes::

    from segmentkit import Segmentation
    from segmentkit.spark import SparkEvents

    result = Segmentation(random_state=0).fit(customers="customers.parquet",
                                              events=SparkEvents("s3a://crm/events/*.parquet"))

A customer table elsewhere (``SparkCustomers("s3a://crm/customers.parquet")``) is fetched
by Spark to the driver and read by the usual rules. From the CLI: ``--engine spark`` and
``[spark]`` in the settings file (:func:`~segmentkit.spark.engine.spark_session`).

pyspark is imported only when Spark is used (``pip install segmentkit[spark]``; Java 17+).
"""

from __future__ import annotations

from segmentkit.spark.customers import SparkCustomers
from segmentkit.spark.events import SparkEvents

__all__ = ["SparkCustomers", "SparkEvents"]
