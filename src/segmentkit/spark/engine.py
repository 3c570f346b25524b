"""Spark as a :class:`segmentkit.features.SqlEngine`: the feature SQL in Spark's dialect, and
the session it runs on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from segmentkit.config import SparkSettings, is_url
from segmentkit.errors import InputError, first_line

__all__ = ["PYSPARK_MISSING", "SparkEngine", "is_connect", "local_session", "spark_inputs", "spark_session"]

#: The one line shown when the Spark engine is asked for and pyspark is not installed.
PYSPARK_MISSING = "the Spark engine needs pyspark: pip install segmentkit[spark] (and Java 17+)"

#: The scheme of a Spark Connect server's URL (``sc://host:15002``).
CONNECT_SCHEME = "sc://"


def _session_builder() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(PYSPARK_MISSING) from None
    return SparkSession.builder


def local_session(app_name: str = "segmentkit") -> Any:
    """A local Spark session (all cores of this machine, no web UI), or the active one."""
    return (_session_builder().master("local[*]").appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate())


def spark_session(settings: SparkSettings = SparkSettings()) -> Any:
    """The Spark session of ``[spark]``: its master (else what ``spark-submit`` set, else
    local mode), application name and extra ``spark.*`` settings (console progress bars off
    unless they say otherwise); or the active session. A master ``sc://host:port`` is a
    Spark Connect server: this program is then a client of it, and its extra settings are
    those of the client's session.

    Raises
    ------
    InputError
        pyspark is not installed (naming the extra to install), or Spark does not start.
    """
    builder = _session_builder()
    settings_of_session = dict(settings.config)
    if settings.master and settings.master.startswith(CONNECT_SCHEME):
        builder = builder.remote(settings.master)
    else:
        builder = builder.appName(settings.app_name)
        if settings.master:
            builder = builder.master(settings.master)
        # Spark's console progress bars would garble the CLI's own progress lines on stderr
        settings_of_session = {"spark.ui.showConsoleProgress": "false", **settings_of_session}
    for key, value in settings_of_session.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except ImportError:  # the Connect client's own dependencies (grpcio, ...)
        raise InputError("a Spark Connect URL (sc://) needs pyspark's Connect client: "
                         "pip install segmentkit[spark]") from None
    except Exception as exc:  # no Java, a master that does not answer, a bad setting
        raise InputError(f"Spark did not start ({first_line(exc)})") from None


def is_connect(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (a client: no JVM on this side)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def spark_inputs(settings: SparkSettings, events: str | Path | None,
                 customers: str | Path | None) -> tuple[Any, Any]:
    """The inputs of ``--engine spark``: the events read by Spark (any path or URL Spark
    reads), the customers fetched by Spark when they are remote (a URL such as
    ``s3a://...``) and read as a local file otherwise."""
    from segmentkit.spark.customers import SparkCustomers
    from segmentkit.spark.events import SparkEvents

    spark = spark_session(settings)
    ev = SparkEvents(str(events), spark=spark) if events is not None else None
    cu = SparkCustomers(str(customers), spark=spark) if customers is not None and is_url(customers) else customers
    return ev, cu


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

    def numbers(self, sql: str, names: Sequence[str]) -> tuple[pd.Index, np.ndarray]:
        # through Arrow: toPandas() warns about pandas 3 on every call
        table = self.spark.sql(sql).toArrow()
        ids = pd.Index(table.column("customer_id").to_pylist(), dtype=object)
        matrix = np.empty((table.num_rows, len(names)), order="F")
        for j, name in enumerate(names):
            matrix[:, j] = table.column(name).cast("double").to_numpy(zero_copy_only=False)
        return ids, matrix

    def seconds(self, later: str, earlier: str) -> str:
        return f"((unix_micros({later}) - unix_micros({earlier})) / 1000000.0)"

    def micros(self, later: str, earlier: str) -> str:
        return f"(unix_micros({later}) - unix_micros({earlier}))"

    def hash64(self, args: str) -> str:
        return f"xxhash64({args})"

    def months(self, t: str, first_month: int, n_months: int) -> str:
        return f"count(DISTINCT date_trunc('MONTH', {t}))"

    def repeats(self, sql: str) -> bool:
        return bool(self.rows(f"SELECT 1 FROM ({sql}) AS r GROUP BY k HAVING count(*) > 1 LIMIT 1"))

    def enum_size(self, table: str, column: str) -> int | None:
        return None  # Spark SQL has no ENUM type
