"""Every setting of a run, and how a TOML file, CLI flags and defaults combine.

Resolution order is flags → file → defaults: a flag that is given wins, then the value in
the TOML file, then the default here. The TOML file has the sections ``[columns]``,
``[roles]``, ``[clustering]``, ``[data]``, ``[database]`` and ``[output]``; see ``README.md`` for an example.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, TypeVar

from segmentkit.errors import InputError, SettingError
from segmentkit.exclusions import exclusion_rules
from segmentkit.lifecycle import LAYERS

__all__ = ["ColumnMapping", "Roles", "ClusteringSettings", "DatabaseSettings", "HoldoutSettings", "OutputSettings",
           "SparkSettings", "Settings", "load_settings", "format_settings", "SETTING_RANGES"]

#: The allowed range of each numeric clustering setting, declared once: the settings file,
#: the CLI flags, the Python API and the library all check through
#: :class:`ClusteringSettings`. A segment share above one half leaves room for one segment
#: only; more than 100 segments is no longer a segmentation a business can act on; seeds are
#: the 32-bit integers every random generator used accepts.
SETTING_RANGES: dict[str, tuple[type, float, float]] = {
    "k": (int, 2, 100),
    "k_min": (int, 2, 100),
    "k_max": (int, 2, 100),
    "max_segments": (int, 2, 100),
    "seed": (int, 0, 2**32 - 1),
    "n_bootstrap": (int, 0, 1000),
    "min_share": (float, 0.0, 0.5),
    "min_value_share": (float, 0.0, 0.5),
}


#: Resamples behind each candidate's stability. The per-segment Jaccard of a borderline
#: candidate moves by about 0.1 between seeds with 10 resamples, enough to flip the choice
#: of k: on the CDNOW log six seeds gave k = 7, 7, 6, 7, 6, 7 with 10 and 7 every time with
#: 20, for about half as much again selection time (2 to 3 s there).
STABILITY_RESAMPLES = 20


def _check_range(name: str, value: Any) -> None:
    kind, low, high = SETTING_RANGES[name]
    what = "an integer" if kind is int else "a number"
    ok = (isinstance(value, int) if kind is int else isinstance(value, (int, float))) and not isinstance(value, bool)
    if not ok or not low <= value <= high:  # (NaN fails the comparison)
        shown = (str(int(low)), str(int(high))) if kind is int else (f"{low:g}", f"{high:g}")
        raise SettingError(name, f"must be {what} from {shown[0]} to {shown[1]}, got {value!r}")


def _check_names(owner: object, single: tuple[str, ...], lists: tuple[str, ...] = ()) -> None:
    """Column-name settings: text (``single``; ``None`` allowed where the default is None)
    or lists of text (``lists``)."""
    for name in single:
        value = getattr(owner, name)
        if value is not None and value != "" and not (isinstance(value, str) and value.strip()):  # "": not read
            raise SettingError(name, f"must be a column name, got {value!r}")
    for name in lists:
        value = getattr(owner, name)
        if value is not None and not (isinstance(value, tuple) and all(isinstance(v, str) and v for v in value)):
            raise SettingError(name, f"must be a list of column names, got {value!r}")


@dataclass(frozen=True)
class ColumnMapping:
    """Names of the input columns, keyed by their role (DESIGN.md names are the defaults).

    Optional roles whose column is absent from the input are simply not used; the features
    that need them are left out and the summary says so.
    """

    customer_id: str = "customer_id"
    event_time: str = "event_time"
    event_type: str = "event_type"
    amount: str = "amount"
    quantity: str = "quantity"
    category: str = "category"
    channel: str = "channel"
    discount: str = "discount_used"
    order_id: str = "order_id"
    product_id: str = "product_id"
    #: unit price: the line value is price × quantity (used only when named, and only
    #: when there is no amount column)
    price: str | None = None
    #: the customers table's id column, when it is not named as the events' one
    customers_id: str | None = None
    #: the product catalogue's product id column, when it is not named as the events' one
    products_id: str | None = None
    # contact details of the customer table: used only for ad-platform audience files
    # (segmentkit.audiences), hashed there, never profiled or shown
    email: str = "email"
    phone: str = "phone"
    first_name: str = "first_name"
    last_name: str = "last_name"
    country: str = "country"
    zip: str = "zip"
    city: str = "city"
    state: str = "state"

    def __post_init__(self) -> None:
        _check_names(self, tuple(f.name for f in fields(self)))


@dataclass(frozen=True)
class Roles:
    """Customer-table columns with a special meaning.

    Attributes
    ----------
    persona : str or None
        The client's existing persona label (compared with the segments).
    attention : str or None
        Marketing contacts / touches / spend per customer (for opportunities).
    features : tuple of str
        Numeric customer columns used as clustering features as they are.
    profile : tuple of str or None
        Profile-only columns (demographics). ``None``: every other customer column.
    """

    persona: str | None = None
    attention: str | None = None
    features: tuple[str, ...] = ()
    profile: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_names(self, ("persona", "attention"), ("features", "profile"))


@dataclass(frozen=True)
class ClusteringSettings:
    """How segments are found and how many."""

    algorithm: str = "kmeans"
    k: int | None = None
    k_min: int = 2
    k_max: int = 10
    seed: int = 0
    min_share: float = 0.03
    max_segments: int | None = None
    min_value_share: float | None = None
    n_bootstrap: int = STABILITY_RESAMPLES
    assign_noise: bool = False
    evidence: bool = False
    #: no feature family holds more than half of the clustering distance, and one above it
    #: loses only what its redundant columns gave it (see segmentkit.prepare)
    balance_families: bool = True
    #: out-of-time validation when the history is long enough (see segmentkit.validation)
    validate: bool = True
    #: "flat" clusters everyone; "lifecycle" puts new, one-time, browsing-only and lapsed
    #: customers in groups of their own and clusters the active base; "auto" is lifecycle
    #: where one-time buyers are a mass of their own (segmentkit.lifecycle.choose_layering)
    layers: str = "auto"

    def __post_init__(self) -> None:
        from segmentkit import algorithms

        known = algorithms.run_names() + ("auto",)
        if self.algorithm not in known:
            raise SettingError("algorithm", f"must be one of {', '.join(known)}; got {self.algorithm!r}"
                               + (" (it needs categorical features, which a run does not build)"
                                  if self.algorithm == "kprototypes" else ""))
        for name in SETTING_RANGES:
            if getattr(self, name) is not None or name not in ("k", "max_segments", "min_value_share"):
                _check_range(name, getattr(self, name))
        if self.k_max < self.k_min:
            raise SettingError("k_max", f"must be at least k_min ({self.k_min}), got {self.k_max}")
        if not isinstance(self.assign_noise, bool):
            raise SettingError("assign_noise", f"must be true or false, got {self.assign_noise!r}")
        if self.layers not in LAYERS:
            raise SettingError("layers", f"must be one of {', '.join(LAYERS)}; got {self.layers!r}")
        if self.k is not None and self.algorithm != "auto" and not algorithms.get(self.algorithm).capabilities.needs_k:
            raise SettingError("k", f"cannot be used with algorithm {self.algorithm} (it finds the number "
                                    "of segments itself)")


@dataclass(frozen=True)
class DatabaseSettings:
    """Tables or queries to read from a database (``[database]``), instead of files.

    Attributes
    ----------
    url : str or None
        ``postgresql://user@host:port/database`` (leave the password to ``PGPASSWORD`` or
        ``~/.pgpass`` rather than writing it in a file).
    events, customers, products : str or None
        A table name or a ``SELECT`` statement each (``products``: the product catalogue).
    """

    url: str | None = None
    events: str | None = None
    customers: str | None = None
    products: str | None = None


@dataclass(frozen=True)
class HoldoutSettings:
    """Control groups per segment (``[holdout]``; see :mod:`segmentkit.holdout`).

    Attributes
    ----------
    enabled : bool
        Plan a holdout per segment and add a ``group`` column to the assignments.
    min_lift : float
        Smallest relative lift the test must detect (0.10 = +10 %).
    """

    enabled: bool = False
    min_lift: float = 0.10

    def __post_init__(self) -> None:
        if not isinstance(self.min_lift, (int, float)) or isinstance(self.min_lift, bool) \
                or not 0 < self.min_lift <= 10:
            raise InputError(f"min_lift must be a number in (0, 10], got {self.min_lift!r}")


@dataclass(frozen=True)
class OutputSettings:
    """Where the assignments are written back (``[output]``), besides the output folder.

    Attributes
    ----------
    database : str or None
        ``postgresql://user@host:port/database`` or ``sqlite:///path/to.db``.
    table : str or None
        ``schema.table`` (PostgreSQL) or ``table``.
    mode : str
        ``replace`` (the table holds this run only) or ``append`` (add this run's rows).
    """

    database: str | None = None
    table: str | None = None
    mode: str = "replace"


#: Customers whose features the driver takes in on a Spark run, by default (beyond them, a
#: stratified sample of this size is fitted: :mod:`segmentkit.spark.sample`). The feature
#: matrix of two million customers (about 40 float64 columns) is some 0.6 GB, and preparing,
#: clustering and choosing k make several copies of it: about what the few GB a Spark driver
#: is usually given can hold. A sample this large still pins the centre of any segment worth
#: acting on (3 % of two million is 60,000 customers).
DRIVER_CUSTOMERS = 2_000_000


@dataclass(frozen=True)
class SparkSettings:
    """Where and how Spark runs, for ``--engine spark`` (``[spark]``).

    Attributes
    ----------
    master : str or None
        ``local[*]``, ``yarn``, ``spark://host:7077``, ``k8s://...``, or a Spark Connect
        server, ``sc://host:15002``. ``None``: what ``spark-submit`` set, else local mode
        with every core.
    app_name : str
        The application's name in the cluster's UI.
    config : dict
        Extra ``spark.*`` settings (``[spark.config]``; dotted keys may be written unquoted,
        ``spark.executor.memory = "8g"``).
    driver_customers : int
        Beyond this many customers, the clustering is fitted on a stratified sample of this
        size on the driver and Spark assigns every customer (:mod:`segmentkit.spark.sample`;
        default :data:`DRIVER_CUSTOMERS`).
    """

    master: str | None = None
    app_name: str = "segmentkit"
    config: dict[str, str] = field(default_factory=dict)
    driver_customers: int = DRIVER_CUSTOMERS

    def __post_init__(self) -> None:
        n = self.driver_customers
        if not isinstance(n, int) or isinstance(n, bool) or n < 100:
            raise SettingError("driver_customers", f"must be an integer of at least 100, got {n!r}")
        if not isinstance(self.config, dict):
            raise InputError(f"[spark] config must be a table of spark.* settings, got {self.config!r}")
        flat = _flatten(self.config)
        for key in flat:
            if not key.startswith("spark."):
                raise InputError(f"[spark.config] {key!r} is not a Spark setting (they start with 'spark.')")
        object.__setattr__(self, "config", flat)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"spark": {"executor": {"memory": "8g"}}}`` → ``{"spark.executor.memory": "8g"}``
    (TOML reads unquoted dotted keys as nested tables); values as Spark's text."""
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


@dataclass(frozen=True)
class Settings:
    """All settings of one run."""

    columns: ColumnMapping = field(default_factory=ColumnMapping)
    roles: Roles = field(default_factory=Roles)
    clustering: ClusteringSettings = field(default_factory=ClusteringSettings)
    snapshot_date: dt.date | None = None
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    spark: SparkSettings = field(default_factory=SparkSettings)
    #: keep event rows equal in every column to another row (default: drop them, counted)
    keep_duplicates: bool = False
    #: product catalogue (a file path; a table is given as a SqlQuery through the Python API)
    products: Any = None
    holdout: HoldoutSettings = field(default_factory=HoldoutSettings)
    #: customers left out by a column value (staff, test accounts): column → values; see
    #: :mod:`segmentkit.exclusions`
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def sources(
        self,
        events: str | Path | None = None,
        customers: str | Path | None = None,
        *,
        database: str | None = None,
        events_query: str | None = None,
        customers_query: str | None = None,
    ) -> tuple[Any, Any]:
        """The events and customers inputs, from files or database tables.

        Flags win over the settings file: ``database`` over ``[database] url``, a file or a
        query given for a table over that table's query in ``[database]``.

        Parameters
        ----------
        events, customers : path, optional
            Files (``--events``, ``--customers``).
        database : str, optional
            ``--database`` URL.
        events_query, customers_query : str, optional
            Table names or ``SELECT`` statements (``--events-query``, ``--customers-query``).

        Returns
        -------
        (events, customers)
            Each a path, a :class:`segmentkit.database.SqlQuery` or ``None``.

        Raises
        ------
        InputError
            A query without a database, a table given twice, or no input at all.
        """
        from segmentkit.database import SqlQuery

        if (events_query and events is not None) or (customers_query and customers is not None):
            raise InputError("give each table once: as a file or as a --database query")
        url = database or self.database.url
        events_query = events_query or (None if events is not None else self.database.events)
        customers_query = customers_query or (None if customers is not None else self.database.customers)
        if events_query or customers_query:
            if url is None:
                raise InputError("--events-query and --customers-query need --database")
            events = SqlQuery(url, events_query) if events_query else events
            customers = SqlQuery(url, customers_query) if customers_query else customers
        elif url is not None and events is None and customers is None:
            raise InputError("with --database, give --events-query, --customers-query, or both")
        if events is None and customers is None:
            raise InputError("give --events, --customers, or both")
        return events, customers

    def catalogue(self, *, database: str | None = None, products_query: str | None = None) -> Any:
        """The product catalogue input: ``products_query`` (``--products-query``) or
        ``[database] products`` as a table of the database, else the ``products`` file.

        Raises
        ------
        InputError
            A catalogue query without a database.
        """
        from segmentkit.database import SqlQuery

        query = products_query or (None if self.products is not None else self.database.products)
        if not query:
            return self.products
        url = database or self.database.url
        if url is None:
            raise InputError("--products-query needs --database")
        return SqlQuery(url, query)


def is_url(path: str | Path) -> bool:
    """True for a URL such as ``s3a://bucket/key`` (read by Spark), false for a local path."""
    return "://" in str(path)


#: Keys of the ``[data]`` section.
DATA_KEYS = ("snapshot_date", "keep_duplicates", "products", "exclude")


def _section(cls: type, data: Any, where: str, section: str) -> Any:
    if not isinstance(data, Mapping):
        raise InputError(f"[{section}] must be a table of settings, got {data!r}", source=where)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            source=where,
        )
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
    if cls is SparkSettings:  # its one table-valued setting stays a table
        values = dict(data)
    try:
        return cls(**values)
    except SettingError as exc:
        raise InputError(f"[{section}] {exc.setting} {exc.requirement}", source=where) from None


def _flag(name: str) -> str:
    """The CLI flag of a setting (``k_min`` → ``--k-min``)."""
    return "--" + name.replace("_", "-")


_Section = TypeVar("_Section")


def _with_flags(section: _Section, flags: Mapping[str, Any] | None) -> _Section:
    """A settings section with the flags that were given (not ``None``) over it; a value
    out of range is reported by its flag (``--k-min``)."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    if not given:
        return section
    try:
        return replace(section, **given)  # type: ignore[type-var]
    except SettingError as exc:
        raise InputError(f"{_flag(exc.setting)} {exc.requirement}") from None


def _read_toml(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """The settings file's tables (none without a file), and its name for messages."""
    if path is None:
        return {}, "settings"
    p = Path(path)
    if not p.is_file():
        raise InputError("config file not found", source=str(path))
    try:
        return tomllib.loads(p.read_text(encoding="utf-8")), p.name
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file (a TOML settings file is expected)", source=p.name) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", source=p.name) from None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from a TOML file and apply flag overrides on top.

    Parameters
    ----------
    path : str or Path, optional
        TOML file with ``[columns]``, ``[roles]``, ``[clustering]``, ``[data]``, ``[database]``,
        ``[output]``, ``[holdout]``, ``[spark]`` sections.
    **overrides
        ``columns=dict``, ``roles=dict``, ``clustering=dict``, ``holdout=dict``, ``spark=dict``,
        ``snapshot_date=date``, ``keep_duplicates=bool``, ``products=path``, ``exclude=dict``
        (column → values; a column given here replaces the file's rule for it); keys whose value is
        ``None`` are ignored (a flag that was not given).

    Returns
    -------
    Settings
    """
    data, where = _read_toml(path)
    sections = ("clustering", "columns", "data", "database", "holdout", "output", "roles", "spark")
    unknown = sorted(map(str, set(data) - set(sections)))
    if unknown:
        raise InputError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(sections)}", source=where)
    columns = _section(ColumnMapping, data.get("columns", {}), where, "columns")
    roles = _section(Roles, data.get("roles", {}), where, "roles")
    clustering = _section(ClusteringSettings, data.get("clustering", {}), where, "clustering")
    database = _section(DatabaseSettings, data.get("database", {}), where, "database")
    output = _section(OutputSettings, data.get("output", {}), where, "output")
    spark = _section(SparkSettings, data.get("spark", {}), where, "spark")
    holdout = _section(HoldoutSettings, data.get("holdout", {}), where, "holdout")
    holdout = _with_flags(holdout, overrides.get("holdout"))
    data_section = data.get("data", {})
    if not isinstance(data_section, Mapping):
        raise InputError("[data] must be a table of settings", source=where)
    unknown = sorted(map(str, set(data_section) - set(DATA_KEYS)))
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)} in [data]; known: {', '.join(DATA_KEYS)}",
                         source=where)
    snapshot = data_section.get("snapshot_date")
    if snapshot is not None and not isinstance(snapshot, (str, dt.date)) or isinstance(snapshot, dt.datetime):
        raise InputError(f"[data] snapshot_date must be YYYY-MM-DD, got {snapshot!r}", source=where)
    keep = overrides.get("keep_duplicates")
    keep = data_section.get("keep_duplicates", False) if keep is None else keep
    if not isinstance(keep, bool):
        raise InputError(f"[data] keep_duplicates must be true or false, got {keep!r}", source=where)
    products = overrides.get("products") or data_section.get("products")
    exclude = exclusion_rules(data_section.get("exclude", {}), where)
    exclude |= exclusion_rules(overrides.get("exclude") or {}, "flags")  # a flag's column wins
    if isinstance(products, str) and path is not None and not is_url(products) and not Path(products).is_absolute():
        products = str(Path(path).parent / products)  # relative to the settings file
    spark = _with_flags(spark, overrides.get("spark"))
    columns = _with_flags(columns, overrides.get("columns"))
    roles = _with_flags(roles, overrides.get("roles"))
    clustering = _with_flags(clustering, overrides.get("clustering"))
    if overrides.get("snapshot_date") is not None:
        snapshot = overrides["snapshot_date"]
    if isinstance(snapshot, str):
        try:
            snapshot = dt.date.fromisoformat(snapshot)
        except ValueError:
            raise InputError(f"[data] snapshot_date must be YYYY-MM-DD, got {snapshot!r}", source=where) from None
    return Settings(columns=columns, roles=roles, clustering=clustering, snapshot_date=snapshot,
                    database=database, output=output, keep_duplicates=keep, products=products,
                    holdout=holdout, spark=spark, exclude=exclude)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # the ranges keep out inf and nan, which TOML spells otherwise
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def format_settings(settings: Settings) -> str:
    """The settings as a TOML file that :func:`load_settings` (and ``--config``) reads back.

    Every section is written in full except ``[database]``, ``[output]`` and ``[holdout]``,
    which are left out when they hold their defaults. Unset values (``None``) are left out,
    as TOML has no null; the product catalogue is written only when it is a file path.

    Parameters
    ----------
    settings : Settings

    Returns
    -------
    str
        ``load_settings`` of this text gives ``settings`` back.
    """
    data = {"snapshot_date": settings.snapshot_date, "keep_duplicates": settings.keep_duplicates,
            "products": str(settings.products) if isinstance(settings.products, (str, Path)) else None,
            "exclude": dict(settings.exclude)}
    sections: list[tuple[str, Any]] = [("columns", settings.columns), ("roles", settings.roles),
                                       ("clustering", settings.clustering)]
    sections += [(name, value) for name, value in (("database", settings.database), ("output", settings.output),
                                                    ("holdout", settings.holdout), ("spark", settings.spark))
                 if value != type(value)()]
    lines = ["# segmentkit settings: segmentkit run THIS_FILE ..., or upload it in the web app"]
    for name, values in [*((n, {f.name: getattr(v, f.name) for f in fields(v)}) for n, v in sections),
                         ("data", data)]:
        tables = {key: value for key, value in values.items() if isinstance(value, dict)}  # [spark.config]
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()
                  if value is not None and key not in tables]
        for key, table in tables.items():
            if table:
                lines += ["", f"[{name}.{key}]"]
                lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
