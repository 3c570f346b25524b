"""Spark as a :class:`segmentkit.features.SqlEngine`: the feature SQL in Spark's dialect."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["SparkEngine", "local_session"]


def local_session(app_name: str = "segmentkit") -> Any:
    """A local Spark session (all cores of this machine, no web UI), or the active one."""
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master("local[*]").appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate())


class SparkEngine:
    """Runs the feature SQL on a Spark session.

    The session's time zone is set to UTC: timestamps are wall-clock times as read, and
    the seconds between two of them must not depend on daylight saving.
    """

    cte_hint = ""
    text_type = "STRING"

    def __init__(self, spark: Any):
        self.spark = spark
        spark.conf.set("spark.sql.session.timeZone", "UTC")

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(sql).collect()]

    def frame(self, sql: str) -> pd.DataFrame:
        # through Arrow: toPandas() warns about pandas 3 on every call
        return self.spark.sql(sql).toArrow().to_pandas()

    def seconds(self, later: str, earlier: str) -> str:
        return f"((unix_micros({later}) - unix_micros({earlier})) / 1000000.0)"

    def hash64(self, args: str) -> str:
        return f"xxhash64({args})"

    def months(self, t: str, first_month: int, n_months: int) -> str:
        return f"count(DISTINCT date_trunc('MONTH', {t}))"
