"""A customer table on any file system Spark reads (S3, HDFS, ...), copied to the driver.

The customer table has one row per customer, and the pipeline profiles it on the driver, so
Spark only fetches it: a single file byte for byte (the same bytes, so the same encoding
detection, typing, row numbers in errors and SHA-256 as a local file), a Parquet dataset of
several files as one Arrow table. The copy is then read by :func:`segmentkit.sources.load_customers`.
"""

from __future__ import annotations

import tempfile
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from segmentkit.config import is_url
from segmentkit.errors import InputError, first_line

__all__ = ["SparkCustomers", "driver_copy", "on_driver"]


@dataclass(frozen=True)
class SparkCustomers:
    """A customer table to be fetched by Spark.

    Attributes
    ----------
    source : str
        Path or URL of one file (CSV, Parquet, Excel) or of a Parquet dataset (a folder or glob).
    spark : pyspark.sql.SparkSession, optional
        The session to use; default: the active one, or a local one.
    """

    source: str
    spark: Any = None

    @property
    def name(self) -> str:
        """How the input is named in messages: the file name, as for a local file."""
        return Path(str(self.source).rstrip("/")).name or str(self.source)


@contextmanager
def driver_copy(customers: SparkCustomers) -> Iterator[Path]:
    """The customer table (or any one-file table Spark reaches, such as a product catalogue)
    as a temporary local file of the same name (removed afterwards).

    Raises
    ------
    InputError
        Nothing found at the path, or several files that are not a Parquet dataset.
    """
    from segmentkit.spark.engine import local_session

    spark = customers.spark or local_session()
    try:
        files = (spark.read.format("binaryFile").load(customers.source)
                 .select("path", "length").orderBy("path").collect())
    except Exception as exc:  # Spark reports a missing path as an AnalysisException
        raise InputError(f"cannot be read ({first_line(exc)})", source=customers.name) from None
    files = [f for f in files if not Path(f["path"]).name.startswith(("_", "."))]  # _SUCCESS, .crc
    if not files:
        raise InputError("no file found", source=customers.name)
    with tempfile.TemporaryDirectory(prefix="segmentkit-driver-copy-") as tmp:
        if len(files) == 1:
            local = Path(tmp) / Path(files[0]["path"]).name
            content = (spark.read.format("binaryFile").load(files[0]["path"])
                       .select("content").collect()[0][0])
            local.write_bytes(bytes(content))
        elif all(f["path"].lower().endswith((".parquet", ".pq")) for f in files):
            import pyarrow.parquet as pq

            local = Path(tmp) / (Path(customers.name).stem + ".parquet")
            pq.write_table(spark.read.parquet(customers.source).toArrow(), local)
        else:
            raise InputError(f"{len(files):,} files found; give one file or a Parquet dataset",
                             source=customers.name)
        yield local


def on_driver(source: Any, spark: Any = None) -> AbstractContextManager:
    """A table the driver reads: a URL fetched by ``spark`` (:func:`driver_copy`; default the
    active session), anything else (a local path, a DataFrame, a query) as it is."""
    if isinstance(source, (str, Path)) and is_url(source):
        return driver_copy(SparkCustomers(str(source), spark=spark))
    return nullcontext(source)
