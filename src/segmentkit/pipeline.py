"""The whole flow in one object: load → features → prepare → choose k → cluster → profile →
name → compare with personas → opportunities.

``Segmentation(...)`` only stores settings; :meth:`Segmentation.fit` does the work and
returns a :class:`SegmentationResult` holding exactly what the output files hold.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import platform
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import duckdb
import numpy as np
import pandas as pd

from segmentkit import __version__, algorithms
from segmentkit.algorithms import Fitted, fit_threads
from segmentkit.briefs import apply_brief_overrides, build_briefs
from segmentkit.catalogue import UNKNOWN, join_catalogue
from segmentkit.choose_k import (CONTINUUM_MAX_SEGMENTS, MIN_CLUSTERED_SEGMENTS, MIN_ROWS, Constraints, KSelection,
                                 most_segments, on_continuum, select_k, structure_strength)
from segmentkit.config import ColumnMapping, Roles, Settings
from segmentkit.errors import InputError
from segmentkit.export import json_safe, to_json, write_assignments, write_summary
from segmentkit.features import FeatureSpec, FeatureTable, customer_features, roles_needed
from segmentkit.exclusions import exclusion_note, excluded_customers, exclusion_rules, format_rules
from segmentkit.lifecycle import ACTIVE_BASE, GROUP_NAMES, GROUPS, Layering, choose_layering
from segmentkit.holdout import BASE_WINDOW_DAYS, HoldoutPlan, holdout_groups, plan_holdout, window_outcomes
from segmentkit.model import SegmentationModel, load_model
from segmentkit.name_overrides import apply_overrides
from segmentkit.naming import SegmentName, generate_names
from segmentkit.refresh import carry_ids, load_previous, migration_table
from segmentkit.opportunities import find_opportunities
from segmentkit.personal import personal_columns
from segmentkit.pages import plain_pages
from segmentkit.personas import compare_personas
from segmentkit.prepare import Preparation, families_sentence, fit_transform
from segmentkit.profiles import SegmentProfiles, profile_segments
from segmentkit.sampling import stratified_sample
from segmentkit.segment_sql import segments_sql
from segmentkit.drift import baseline, drift_report
from segmentkit.result import Summary, build_summary
from segmentkit.sources import PRODUCTS_TABLE, LoadedTable, Source, load_customers, load_events, load_products
from segmentkit.spark.customers import SparkCustomers, driver_copy
from segmentkit.validation import horizon_days, next_period, sample_customers, validate
from segmentkit.spark.events import SparkEvents

__all__ = ["Progress", "Scored", "Segmentation", "SegmentationResult", "assign", "assignments_frame",
           "canonical_labels", "load_model", "score"]

#: A customers table or one of its columns (:func:`_at_rows`).
Table = TypeVar("Table", pd.DataFrame, pd.Series)

#: Called at the start of every stage of a run with the stage's name and the seconds since
#: the run began (the CLI prints it on stderr).
Progress = Callable[[str, float], None]

#: Text columns with more distinct values than this are not profiled (a table of shares
#: per value would say nothing); near-unique ones are personal data (segmentkit.personal).
_MAX_PROFILE_LEVELS = 50
#: Contact roles of the column mapping that identify a person: never profiled, whatever
#: their cardinality or type (a phone column read as numbers would otherwise get a mean).
_CONTACT_IDENTIFIERS = ("email", "phone", "first_name", "last_name")
_MAP_POINTS = 3000
#: Fewest customers per segment on average that a k may ask for (k at most n / 2).
_MIN_PER_SEGMENT = 2
#: DuckDB's memory budget on a run's connection while it reads the events. The loaded events
#: are the largest thing a run holds and are scanned a few times in a row (features, the
#: validation's past and future); above the budget DuckDB keeps them in a temporary folder
#: on disk, removed when the run ends. At 20 million events the loaded table alone takes
#: 1.2 GB, and the feature query's aggregates over a million customers spill what does not
#: fit beside it: at 1 GB every scan re-read and re-spilled (the features took a third more
#: CPU: 62 s against 47 s); load + features took 16.6-17.2 s at 1.5 GB, 14.9-15.3 s at
#: 1.75 GB (Parquet; CSV 23.6-24.5 s and 22.9-23.0 s). The process holds up to 0.6 GB
#: besides (the CSV reader's buffers, Python), so its peak while the features are computed
#: was 2.28-2.39 GB at 1.75 GB, within the 2.5 GB a run at a million customers is held to
#: (README, Performance); 2 GB took it to 2.53 GB from CSV.
DUCKDB_MEMORY_BUDGET = "1792MB"
#: The budget once the events are read (features, and the past and future of the out-of-time
#: validation), set before the customers are loaded: the events are let go by then
#: (:func:`_release_events`), or, when ``--holdout`` reads its base rates from them later,
#: wait on disk while the clustering holds the customers in memory.
DUCKDB_IDLE_BUDGET = "256MB"


def canonical_labels(labels: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Relabel so the largest segment is 0, the next 1, ...; ties by first appearance.

    Noise (−1) stays −1. Returns the new labels and the raw → canonical mapping.
    """
    labels = np.asarray(labels, dtype=int)
    ids = [x for x in np.unique(labels) if x >= 0]
    if not ids:
        return labels.copy(), {}
    counts = {i: int((labels == i).sum()) for i in ids}
    first = {i: int(np.argmax(labels == i)) for i in ids}
    order = sorted(ids, key=lambda i: (-counts[i], first[i]))
    mapping = {int(old): new for new, old in enumerate(order)}
    lookup = np.full(max(ids) + 1, -1)
    for old, new in mapping.items():
        lookup[old] = new
    out = np.where(labels >= 0, lookup[np.clip(labels, 0, None)], -1)
    return out, mapping


@dataclass(frozen=True)
class SegmentationResult:
    """Everything a run produced.

    Attributes
    ----------
    assignments : pandas.DataFrame
        One row per input customer: ``customer_id, segment_id, segment_name, status,
        confidence``.
    summary : Summary
        The content of ``summary.json``, typed (:mod:`segmentkit.result`).
    features : FeatureTable or None
        Event features (``None`` for a customers-only run).
    matrix : numpy.ndarray
        Prepared matrix of the clustered customers.
    labels : numpy.ndarray
        Segment id per clustered customer (aligned with ``matrix``).
    model : SegmentationModel
        For assigning new customers.
    migration : pandas.DataFrame or None
        Customers moving between segments since the previous run (when one was given).
    segments_sql : str
        The text of ``segments.sql``: the feature SQL and each segment's rules as SQL.

    With events read by Spark beyond ``[spark] driver_customers``, ``assignments``,
    ``matrix`` and ``labels`` hold the fitted sample, and :meth:`write` has Spark assign
    every customer (``summary.fit_scope`` says so).
    """

    assignments: pd.DataFrame
    summary: Summary
    features: FeatureTable | None
    matrix: np.ndarray
    labels: np.ndarray
    model: SegmentationModel
    migration: pd.DataFrame | None = None
    segments_sql: str = ""
    wording: _Wording | None = field(default=None, repr=False)
    #: set when the clustering was fitted on a sample: Spark then writes the assignments
    spark_assignment: Any = field(default=None, repr=False)

    @property
    def segment_names(self) -> dict[int, str]:
        """Segment id → name."""
        return self.summary.segment_names

    def with_names(self, names: Mapping[int, str]) -> SegmentationResult:
        """The same segmentation with segments renamed, without refitting.

        ``names`` (segment id → name) go on top of the run's own overrides; the texts that
        cite segment names (descriptions, personas, opportunities), the assignments and the
        model follow. Equal to fitting again with ``name_overrides``.
        """
        if self.wording is None:
            raise ValueError("this result keeps no naming inputs; fit again with name_overrides")
        overrides = {**self.model.overrides, **{int(k): str(v) for k, v in names.items()}}
        named, parts = self.wording.describe(overrides)
        summary = build_summary({**self.summary.to_dict(), **json_safe(parts)})
        name_of = summary.segment_names
        segmented = self.assignments["status"] == "segmented"
        assignments = self.assignments.assign(
            segment_name=np.where(segmented, self.assignments["segment_id"].map(name_of).fillna(""), ""))
        model = replace(self.model, names={k: v for k, v in name_of.items() if k >= 0}, overrides=overrides)
        return replace(self, summary=summary, assignments=assignments, model=model,
                       segments_sql=self.wording.rules_sql(summary))

    def write(self, out_dir: str | Path, *, progress: Callable[[str], None] | None = None) -> dict[str, Path]:
        """Write everything the CLI writes into ``out_dir``.

        ``assignments.csv`` / ``.parquet``, ``summary.json``, ``report.html``,
        ``summary.md``, ``model/`` and, after a ``previous`` run, ``migration.csv``.
        ``progress(stage)`` hears when the report is being written.
        """
        from segmentkit.report import write_report

        out = Path(out_dir)
        if self.spark_assignment is None:
            paths = write_assignments(self.assignments, out)
        else:  # fitted on a sample: Spark assigns every customer (folders of part files)
            out.mkdir(parents=True, exist_ok=True)
            done = self.spark_assignment.write(self.model, out)
            paths = {k: out / Path(v).name for k, v in done.paths.items()}
        paths["summary"] = write_summary(self.summary.to_dict(), out)
        if progress is not None:
            progress("writing the report")
        report = write_report(self.summary, out)
        paths["report"], paths["summary_md"] = report["html"], report["markdown"]
        paths["model"] = self.model.save(out / "model")
        if self.migration is not None:
            mig = out / "migration.csv"
            self.migration.to_csv(mig, index=False, lineterminator="\n")
            paths["migration"] = mig
        if self.segments_sql:
            sql = out / "segments.sql"
            sql.write_text(self.segments_sql, encoding="utf-8")
            paths["segments_sql"] = sql
        return paths


class Segmentation:
    """Behavioral segmentation of a CRM export.

    Parameters
    ----------
    settings : Settings, optional
        All settings (see :mod:`segmentkit.config`); keyword arguments override it.
    algorithm : str
        ``"kmeans"``, ``"ward"``, ``"hdbscan"``, ... or ``"auto"`` to compare algorithms.
    k : int, optional
        Fixed number of segments (overrides the selection). Other k are then not evaluated
        unless ``evidence`` is true.
    evidence : bool, optional
        With ``k``: also evaluate ``k_min..k_max`` and say what the evidence alone suggests.
    k_min, k_max : int
        Range of k considered by the selection.
    random_state : int
        Seed of every random step.
    snapshot_date : datetime.date, optional
        Features as of this day (default: the day after the last event).
    columns : ColumnMapping, optional
        Input column names.
    persona_column, attention_column : str, optional
        Customer columns holding the existing persona and the marketing attention.
    feature_columns : sequence of str
        Numeric customer columns used as features as they are.
    name_overrides : mapping, optional
        Segment id → name chosen by the user.
    brief_overrides : mapping, optional
        Segment id → {topic → sentence} replacing generated brief sentences (the ``[briefs]``
        tables of ``segment_names.toml``; see :mod:`segmentkit.briefs`).
    previous : SegmentationModel or path, optional
        The previous run's model (or its output folder): ids and names are carried over.
    keep_duplicates : bool, optional
        Keep event rows equal in every column to another row (default: drop them, counted).
    products : path, DataFrame or SqlQuery, optional
        Product catalogue: categories looked up by ``columns.product_id`` (see
        :mod:`segmentkit.catalogue`).
    holdout : bool, optional
        Plan a control group per segment (:mod:`segmentkit.holdout`); assignments get a
        ``group`` column.
    min_lift : float, optional
        Smallest relative lift the holdout must detect (default 0.10).
    exclude : mapping, optional
        Customers to leave out by a value of a customers-table column (staff, test
        accounts): column → value(s) (:mod:`segmentkit.exclusions`); they stay in the
        assignments with status ``excluded`` and a ``reason``.
    balance_families : bool, optional
        Keep any feature family from holding more than half of the clustering distance
        merely by having more columns (default True; see :mod:`segmentkit.prepare`).
    validate : bool, optional
        Out-of-time validation (default True; see :mod:`segmentkit.validation`).
    layers : str, optional
        ``"auto"`` (default): ``"lifecycle"`` when at least a quarter of the buyers ordered
        once (:func:`segmentkit.lifecycle.choose_layering`; the reason of the choice of k
        says which and why), else ``"flat"``; ``"flat"``: cluster every customer;
        ``"lifecycle"``: new, one-time, browsing-only and lapsed customers form groups of
        their own by rule, and the clustering (and ``k``, ``k_min``/``k_max``) applies to
        the active base only, ``max_segments`` to both (see :mod:`segmentkit.lifecycle`);
        needs events.
    progress : callable, optional
        ``progress(stage, elapsed_seconds)`` at the start of every stage.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        algorithm: str | None = None,
        k: int | None = None,
        evidence: bool | None = None,
        k_min: int | None = None,
        k_max: int | None = None,
        random_state: int | None = None,
        snapshot_date: dt.date | None = None,
        columns: ColumnMapping | None = None,
        persona_column: str | None = None,
        attention_column: str | None = None,
        feature_columns: tuple[str, ...] | list[str] | None = None,
        min_share: float | None = None,
        max_segments: int | None = None,
        min_value_share: float | None = None,
        n_bootstrap: int | None = None,
        assign_noise: bool | None = None,
        balance_families: bool | None = None,
        validate: bool | None = None,
        layers: str | None = None,
        name_overrides: Mapping[int, str] | None = None,
        brief_overrides: Mapping[int, Mapping[str, str]] | None = None,
        previous: SegmentationModel | str | Path | None = None,
        keep_duplicates: bool | None = None,
        products: Source | None = None,
        holdout: bool | None = None,
        min_lift: float | None = None,
        exclude: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.algorithm = algorithm
        self.k = k
        self.evidence = evidence
        self.k_min = k_min
        self.k_max = k_max
        self.random_state = random_state
        self.snapshot_date = snapshot_date
        self.columns = columns
        self.persona_column = persona_column
        self.attention_column = attention_column
        self.feature_columns = feature_columns
        self.min_share = min_share
        self.max_segments = max_segments
        self.min_value_share = min_value_share
        self.n_bootstrap = n_bootstrap
        self.assign_noise = assign_noise
        self.balance_families = balance_families
        self.validate = validate
        self.layers = layers
        self.name_overrides = name_overrides
        self.brief_overrides = brief_overrides
        self.previous = previous
        self.keep_duplicates = keep_duplicates
        self.products = products
        self.holdout = holdout
        self.min_lift = min_lift
        self.exclude = exclude
        self.progress = progress

    # -- settings ---------------------------------------------------------------------------
    def resolved_settings(self) -> Settings:
        """Keyword arguments on top of ``settings`` on top of the defaults."""
        s = self.settings or Settings()
        cl = {
            "algorithm": self.algorithm, "k": self.k, "evidence": self.evidence,
            "k_min": self.k_min, "k_max": self.k_max,
            "seed": self.random_state, "min_share": self.min_share, "max_segments": self.max_segments,
            "min_value_share": self.min_value_share, "n_bootstrap": self.n_bootstrap,
            "assign_noise": self.assign_noise, "balance_families": self.balance_families,
            "validate": self.validate, "layers": self.layers,
        }
        clustering = replace(s.clustering, **{k: v for k, v in cl.items() if v is not None})
        roles = s.roles
        rl = {"persona": self.persona_column, "attention": self.attention_column,
              "features": tuple(self.feature_columns) if self.feature_columns is not None else None}
        roles = replace(roles, **{k: v for k, v in rl.items() if v is not None})
        ho = {"enabled": self.holdout, "min_lift": self.min_lift}
        holdout = replace(s.holdout, **{k: v for k, v in ho.items() if v is not None})
        return Settings(
            columns=self.columns or s.columns,
            roles=roles,
            clustering=clustering,
            snapshot_date=self.snapshot_date or s.snapshot_date,
            keep_duplicates=s.keep_duplicates if self.keep_duplicates is None else self.keep_duplicates,
            products=self.products if self.products is not None else s.products,
            database=s.database,
            output=s.output,
            holdout=holdout,
            spark=s.spark,
            exclude=exclusion_rules(self.exclude) if self.exclude is not None else s.exclude,
        )

    # -- fit --------------------------------------------------------------------------------
    def fit(self, customers: Source | None = None, events: Source | None = None) -> SegmentationResult:
        """Find segments in the customers and/or events.

        Parameters
        ----------
        customers : path, DataFrame, SqlQuery or SparkCustomers, optional
            One row per customer (``SparkCustomers``: fetched by Spark from where it is).
        events : path, DataFrame, SqlQuery or SparkEvents, optional
            One row per event (``SparkEvents``: read and turned into features by Spark).
            At least one of the two is needed.

        Returns
        -------
        SegmentationResult

        Raises
        ------
        InputError
            For bad input (named by file, column and row).
        """
        settings = self.resolved_settings()
        if customers is None and events is None:
            raise InputError("give an events table, a customers table, or both")
        start = time.perf_counter()
        report = self.progress or (lambda stage, elapsed: None)
        with run_connection() as con, plain_pages(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = self._fit(con, settings, customers, events,
                               lambda stage: report(stage, time.perf_counter() - start))
        # what a library warned about reaches the user as a plain note, never a warning line
        quality = result.summary.data_quality.model_dump(mode="json")
        said = [m for m in dict.fromkeys(" ".join(str(w.message).split()) for w in caught) if m not in quality["notes"]]
        if not said:
            return result
        quality["notes"] = quality["notes"] + said
        return replace(result, summary=build_summary({**result.summary.to_dict(), "data_quality": quality}))

    def _fit(self, con: duckdb.DuckDBPyConnection, settings: Settings,
             customers: Source | None, events: Source | None,
             stage: Callable[[str], None]) -> SegmentationResult:
        cl = settings.clustering
        roles = settings.roles
        quality: dict[str, Any] = {}
        notes: list[str] = []
        inputs: dict[str, Any] = {}

        feats, ev_table, event_ids, spark_stage = _event_stage(con, settings, customers, events, stage,
                                                               quality, notes, inputs)
        # the customers with features in value order (see _value_order), found once for the
        # validation's sample and the clustering frame
        order = _lexicographic_order(feats.frame.to_numpy(dtype="float64")) if feats is not None else None
        history = _History.read(con, settings, ev_table, spark_stage, feats, order, stage)
        event_rows = _release_events(con, ev_table if spark_stage is None else None,
                                     count_rows=customers is not None, keep=settings.holdout.enabled)
        con.execute(f"SET memory_limit = '{DUCKDB_IDLE_BUDGET}'")

        cust, excluded = _customer_stage(con, settings, customers, stage, quality, notes, inputs)

        universe, cust = _universe(con, cust, feats, event_rows, event_ids, spark_stage, quality)
        ids = universe.ids

        frame, rows, specs, status_reason, k_max, layer_choice = _clustering_frame(settings, feats, cust, inputs,
                                                                                   quality, notes, excluded, order)
        # each clustered customer's place among all of them, and its row of the customers
        # table, by positions alone (looking a million text ids up takes 0.3-0.9 s a time)
        at = universe.codes["features" if feats is not None else "customers"][rows]
        cust_rows = universe.rows("customers", at) if cust is not None else None
        settings, layering = layer_choice.settings(settings), layer_choice.layering  # auto resolved
        cl = settings.clustering
        active = frame if layering is None else frame[layering.active]  # the customers clustered

        stage("preparing the matrix")
        prep, X = fit_transform(active, specs, balance_families=cl.balance_families)
        quality["imputed"] = dict(prep.imputed)
        quality["dropped_constant_features"] = list(prep.dropped_constant)
        value = _value(feats, rows, frame.index, notes)

        selection = _choose(X, value.reindex(active.index), cl, k_max, stage, layering, notes, layer_choice.why)
        algo_name = selection.recommended_algorithm
        fitted, labels, label_map, centres = _fit_segments(X, selection, cl, stage)
        confidence = fitted.confidence

        # before the profiles, assignments and texts exist: the past fit's copies of the
        # customers' features come on top of less (and the past's features are let go)
        stage("out-of-time validation")
        validation = self._validation(con, settings, ev_table, spark_stage, feats, cust, selection,
                                      _groups_of(layering), excluded.index, history)
        del history

        # ids and names that stick across refreshes; the lifecycle groups join the behavioural segments
        previous = load_previous(self.previous)
        labels, centres, label_map, prev_labels = _carried(previous, active, frame, labels, centres, label_map)
        layers = _Layers.join(layering, frame, prep, labels, confidence, previous)
        if layers is not None:
            X, labels, confidence, quality["imputed"] = layers.X, layers.labels, layers.confidence, layers.imputed

        stage("profiling segments")
        attributes, profile_skipped = _profile_attributes(cust, cust_rows, frame.index, roles, exclude=tuple(
            getattr(settings.columns, r) for r in _CONTACT_IDENTIFIERS))
        profiles, base_medians = _profiles(frame, labels, X, specs, value, attributes, confidence, cl.seed, layers)
        # generated names of matched segments are carried over; overrides (this run's on top
        # of the previous run's) are applied last, so they survive refreshes too
        generated = generate_names(profiles, specs, previous={
            **(previous.generated_names if previous else {}), **(layers.names() if layers else {})})
        overrides = dict(previous.overrides) if previous is not None else {}
        overrides.update({int(k): str(v) for k, v in (self.name_overrides or {}).items()})
        wording = _Wording(
            frame=frame, labels=labels, value=value, specs=specs, profiles=profiles, generated=generated,
            **_customer_inputs(cust, cust_rows, roles, attributes, frame.index),
            brief_overrides=_brief_overrides(previous, self.brief_overrides),
            sql_inputs=_sql_inputs(profiles.medians, base_medians, feats, ev_table, spark_stage, settings),
            layers=layers.summary(len(active)) if layers is not None else None,
        )
        stage("opportunities and personas")
        names, named = wording.describe(overrides)
        name_of = {s["id"]: s["name"] for s in named["segments"]}

        stage("assignments and model")
        assignments = _run_assignments(ids, at, labels, confidence, name_of, status_reason, event_ids,
                                       layers and layers.group_ids, excluded if settings.exclude else None)
        status_counts = {k: int(v) for k, v in assignments["status"].value_counts().sort_index().items()}

        holdout_dict = _with_holdout(con, settings, feats, ev_table, spark_stage, assignments, frame.index, labels,
                                     notes)

        # the migration table (customers moving between segments since the previous run)
        migration = None if prev_labels is None else migration_table(
            pd.Series(prev_labels, index=frame.index), pd.Series(labels, index=frame.index))

        model = _saved_model(settings, fitted, algo_name, label_map, prep, frame, feats, centres,
                             name_of=name_of, names=names, overrides=overrides,
                             brief_overrides=wording.brief_overrides, labels=labels, layers=layers)
        quality["notes"] = notes + _convergence_notes(fitted, algo_name)
        summary = _summary(settings, ids=ids, status_counts=status_counts, feats=feats, prep=prep, specs=specs,
                           X=X, labels=labels, confidence=confidence,
                           k=len(centres) + (len(layers.group_ids) if layers else 0), fitted=fitted,
                           selection=selection, profiles=profiles, profile_skipped=profile_skipped, named=named,
                           quality=quality, validation=validation, spark_stage=spark_stage,
                           holdout=holdout_dict, inputs=inputs)
        return SegmentationResult(
            assignments=assignments, summary=summary, features=feats, matrix=X,
            labels=labels, model=model, migration=migration, segments_sql=wording.rules_sql(summary),
            wording=wording, spark_assignment=_spark_assignment(spark_stage, feats, customers, excluded),
        )

    def _validation(self, con: duckdb.DuckDBPyConnection, settings: Settings, ev_table: LoadedTable | None,
                    spark_stage: Any, feats: FeatureTable | None, cust: pd.DataFrame | None,
                    selection: KSelection, groups: Sequence[str], excluded: pd.Index,
                    history: _History | None) -> dict[str, Any]:
        """The out-of-time validation (:mod:`segmentkit.validation`): the run's preparation,
        algorithm and number of segments fitted on the history up to the cutoff (the
        ``excluded`` customers left out, and the lifecycle layer fitted on the past, as in
        the run). ``groups``: the run's non-empty lifecycle groups. When the past has more
        of them, the bound on the total the run kept to holds for the past too
        (:func:`_past_k`), and the sentence says the past fit had fewer behavioural segments."""
        cl, roles = settings.clustering, settings.roles
        if not cl.validate:
            return {"status": "skipped", "reason": "turned off (--no-validate)"}
        if ev_table is None or feats is None:
            return {"status": "skipped", "reason": "no events: nothing happens after a cutoff to measure"}
        if spark_stage is not None or history is None:
            return {"status": "skipped", "reason": "events read by Spark are not kept for a second fit"}
        spec = algorithms.get(selection.recommended_algorithm)
        k, params = selection.recommended_k, selection.recommended_params
        fewer: list[str] = []  # the sentence's words when the past's groups left room for fewer

        def past_fit(cutoff: dt.date) -> tuple[pd.Series, pd.DataFrame]:
            past = history.take_past(cutoff) or customer_features(con, ev_table.table, ev_table.roles,
                                                                  snapshot_date=cutoff)
            frame, specs = past.frame, {s.name: s for s in past.specs}
            del past  # each reordering below copies the features: hold one copy at a time
            if roles.features and cust is not None:
                frame = frame.join(_numeric_customer_columns(cust, roles.features, "customers"))
                specs.update({c: FeatureSpec(c, "custom", c, "customers") for c in roles.features})
            frame = _value_order(frame)  # as in the run: the ids' spelling must not move the fit
            if len(excluded):
                frame = frame[~frame.index.isin(excluded)]
            # a layered run is validated layered: the rules fitted on the past, its active base clustered
            layering = Layering.fit(frame) if cl.layers == "lifecycle" else None
            active = frame if layering is None else frame[layering.active]
            k_past = (_past_k(selection, groups, _groups_of(layering), fewer)
                      if layering is not None and spec.capabilities.needs_k else k)
            with warnings.catch_warnings():  # the past's constant columns are not the run's news
                warnings.simplefilter("ignore", UserWarning)
                prep, X = fit_transform(active, specs, balance_families=cl.balance_families)
            if spec.capabilities.needs_k and X.shape[0] <= k_past:
                return pd.Series([], dtype=int), frame
            with fit_threads():
                fitted = spec.fit(X, k=k_past if spec.capabilities.needs_k else None, random_state=cl.seed,
                                  **params)
            if layering is None:
                return pd.Series(fitted.labels, index=frame.index), frame
            labels, _ = layering.labels(fitted.labels, int(max(fitted.labels, default=-1)) + 1)
            return pd.Series(labels, index=frame.index), frame

        personas = None
        if roles.persona is not None and cust is not None:
            personas = cust[roles.persona].set_axis(cust.index.astype(str))
        result = validate(con, ev_table.table, ev_table.roles, first_event=history.first_event,
                          snapshot=feats.snapshot_date, past_fit=past_fit, personas=personas, future=history.future,
                          sample=history.sample)
        if fewer and result["status"] == "done":
            result["sentence"] += " " + fewer[0]
        return result


def _groups_of(layering: Layering | None) -> list[str]:
    """The non-empty lifecycle groups of a layering, in :data:`GROUPS` order (none when flat)."""
    return [] if layering is None else sorted(set(layering.groups) - {""}, key=GROUPS.index)


def _past_k(selection: KSelection, groups: Sequence[str], past_groups: Sequence[str], said: list[str]) -> int:
    """The behavioural k of a layered run's past fit: the run's, unless the past has more
    non-empty lifecycle groups than the run (``past_groups`` against ``groups``) and the
    bound on the total the run's k kept to (``max_segments``, or on a continuum its
    default: :func:`segmentkit.choose_k.most_segments`) then leaves fewer, never below
    :data:`MIN_CLUSTERED_SEGMENTS`. A user's ``--k`` beyond the bound in the run stays
    beyond it in the past. When it is fewer, a sentence saying so goes to ``said``."""
    k, constraints = selection.recommended_k, selection.constraints
    continuum = on_continuum(selection, len(groups))
    most = most_segments(constraints, len(past_groups), continuum=continuum)
    run_most = most_segments(constraints, len(groups), continuum=continuum)
    if most is None or run_most is None or k > run_most or k <= most:
        return k
    bound = (f"max_segments = {constraints.max_segments}" if constraints.max_segments is not None
             else f"on a continuum, {CONTINUUM_MAX_SEGMENTS} by default")
    said.append(f"The past is fitted with {most} behavioural segments, not the run's {k}: the past has "
                f"{len(past_groups)} lifecycle groups ({', '.join(past_groups)}) to the run's {len(groups)}, "
                f"and the most segments allowed ({bound}) counts them too.")
    return most


#: The sampled customers' events, while the validation reads their past and future.
_SAMPLE_EVENTS = "__validation_events"


@dataclass(eq=False)
class _History:
    """What the out-of-time validation reads from the events (:mod:`segmentkit.validation`),
    read right after the run's features, while the run holds little else: the first event,
    and for the cutoff the features of the past and the outcomes of the future."""

    first_event: dt.date
    cutoff: dt.date | None
    past: FeatureTable | None
    future: pd.DataFrame | None
    #: the customers measured when not all (:func:`segmentkit.validation.sample_customers`)
    sample: dict[str, Any] | None = None

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, settings: Settings, ev_table: LoadedTable | None,
             spark_stage: Any, feats: FeatureTable | None, order: np.ndarray | None,
             stage: Callable[[str], None]) -> _History | None:
        """``None`` when there is nothing to read (no validation, no events, or Spark's).

        Above :data:`segmentkit.validation.VALIDATION_SAMPLE` customers, the past and the
        future are those of a seeded sample of the run's customers, drawn in value order
        (``order``: :func:`_value_order`'s of the features' rows), from their events alone."""
        if not settings.clustering.validate or ev_table is None or feats is None or spark_stage is not None:
            return None
        stage("reading the past and the future for the out-of-time validation")
        snapshot = feats.snapshot_date
        first = pd.Timestamp(con.execute(
            f"SELECT min(event_time) FROM {ev_table.table} WHERE customer_id IS NOT NULL "
            f"AND event_time < TIMESTAMP '{snapshot.isoformat()}'").fetchall()[0][0]).date()
        days, _ = horizon_days(first, snapshot)
        if days is None:
            return cls(first, None, None, None)
        cutoff = snapshot - dt.timedelta(days=days)
        ids, sample = sample_customers(feats.frame.index[order], random_state=settings.clustering.seed)
        if sample is None:
            return cls(first, cutoff, customer_features(con, ev_table.table, ev_table.roles, snapshot_date=cutoff),
                       next_period(con, ev_table.table, ev_table.roles, cutoff, snapshot))
        con.register("__validation_ids", pd.DataFrame({"customer_id": ids.to_numpy(dtype=object)}))
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_SAMPLE_EVENTS} AS SELECT * FROM {ev_table.table} "
                        f"WHERE customer_id IN (SELECT customer_id FROM __validation_ids)")
            return cls(first, cutoff, customer_features(con, _SAMPLE_EVENTS, ev_table.roles, snapshot_date=cutoff),
                       next_period(con, _SAMPLE_EVENTS, ev_table.roles, cutoff, snapshot), sample)
        finally:
            con.unregister("__validation_ids")
            con.execute(f"DROP TABLE IF EXISTS {_SAMPLE_EVENTS}")

    def take_past(self, cutoff: dt.date) -> FeatureTable | None:
        """The past's features for ``cutoff`` (``None`` if read for another), no longer held here."""
        past, self.past = (self.past if cutoff == self.cutoff else None), None
        return past


@dataclass(frozen=True, eq=False)
class _Wording:
    """What naming and the name-citing texts (personas, opportunities) need, kept with a
    result so that :meth:`SegmentationResult.with_names` rewords without refitting."""

    frame: pd.DataFrame
    labels: np.ndarray
    value: pd.Series
    specs: Mapping[str, FeatureSpec]
    profiles: SegmentProfiles
    generated: Mapping[int, SegmentName]
    attention: pd.Series | None
    persona: pd.Series | None
    persona_column: str | None
    demographics: pd.DataFrame | None
    sql_inputs: Mapping[str, Any] = field(default_factory=dict)
    brief_overrides: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    #: the ``layers`` section of the summary without the groups' names (``None``: flat)
    layers: Mapping[str, Any] | None = None

    def rules_sql(self, summary: Summary) -> str:
        """The text of ``segments.sql`` (it cites the segments' names)."""
        return segments_sql(summary.to_dict(), **self.sql_inputs)

    def describe(self, overrides: Mapping[int, str]) -> tuple[dict[int, SegmentName], dict[str, Any]]:
        """Names after ``overrides``, and the summary parts that cite them.

        Returns the names and ``layers``, ``segments``, ``surrogate_accuracy``,
        ``opportunities`` and ``personas`` (JSON-safe, in the summary's shape).
        """
        names = apply_overrides(self.generated, overrides) if overrides else dict(self.generated)
        prof = self.profiles.to_dict()
        segments = []
        for seg in prof["segments"]:
            sid = int(seg["id"])
            nm = names.get(sid)
            entry = {"id": sid, "name": nm.name if nm else ("Unassigned" if sid < 0 else f"Segment {sid}"),
                     "description": nm.description if nm else ""}
            entry.update({k: v for k, v in seg.items() if k != "id"})
            segments.append(entry)
        name_of = {s["id"]: s["name"] for s in segments}
        # a brief per segment, from the profile numbers only (noise gets none); it cites names
        lifecycle = {g["id"]: g["group"] for g in self.layers["groups"]} if self.layers is not None else None
        # column by column: the same bits as the frame's std, without its copies of the frame
        spread = {c: float(self.frame[c].std(ddof=0)) for c in self.frame.columns}
        active_spread = None  # a layered run's behavioural segments rank move-ups by the active base's
        if lifecycle is not None:
            active = ~np.isin(self.labels, list(lifecycle))
            active_spread = {c: float(self.frame[c][active].std(ddof=0)) for c in self.frame.columns}
        briefs = build_briefs(segments, self.specs, spread, groups=lifecycle, active_scale=active_spread)
        briefs = apply_brief_overrides(briefs, self.brief_overrides)
        for entry in segments:
            entry["brief"] = briefs[entry["id"]].to_dict() if entry["id"] in briefs else None
        # opportunities, then personas (whose narrative cites the under-served segments)
        opps = find_opportunities(self.labels, self.value, self.attention, segment_names=name_of,
                                  lifecycle=lifecycle)
        personas = None
        if self.persona is not None and self.persona_column is not None:
            personas = compare_personas(
                self.labels, self.persona, column=self.persona_column, features=self.frame,
                demographics=self.demographics, segment_names=name_of, specs=self.specs,
                opportunities=opps, lifecycle=lifecycle,
            ).to_dict()
        layers = None if self.layers is None else {
            **self.layers, "groups": [{**g, "name": name_of[g["id"]]} for g in self.layers["groups"]]}
        return names, {
            "layers": layers,
            "segments": segments,
            "surrogate_accuracy": prof.get("surrogate_accuracy"),
            "personas": personas,
            "opportunities": opps.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class _LayerChoice:
    """The run's lifecycle layer (``None``: flat) and, under ``--layers auto``, the sentence
    saying whether there is one and why."""

    layering: Layering | None
    why: str | None

    def settings(self, settings: Settings) -> Settings:
        """``settings`` with the layering used (``auto`` resolved), for every step after."""
        used = "flat" if self.layering is None else "lifecycle"
        return replace(settings, clustering=replace(settings.clustering, layers=used))


@dataclass(frozen=True, eq=False)
class _Layers:
    """A layered run's one segmentation: the behavioural segments of the active base and
    the lifecycle groups (:mod:`segmentkit.lifecycle`), over every clustered customer."""

    layering: Layering
    group_ids: Mapping[str, int]
    X: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray | None
    #: values imputed in ``X`` per column (groups and active base alike)
    imputed: dict[str, int]

    @classmethod
    def join(cls, layering: Layering | None, frame: pd.DataFrame, prep: Preparation, labels: np.ndarray,
             confidence: np.ndarray | None, previous: SegmentationModel | None) -> _Layers | None:
        """The lifecycle groups get ids after the behavioural segments (and every id of the
        ``previous`` run, whose groups keep theirs); ``labels`` and ``confidence`` are the
        active base's (rows of ``frame`` where ``layering.active``). ``None`` when flat."""
        if layering is None:
            return None
        first = max(int(np.max(labels, initial=-1)) + 1, _next_id(previous) if previous is not None else 0)
        full_labels, group_ids = layering.labels(labels, first,
                                                 previous.lifecycle_ids if previous is not None else None)
        active = layering.active
        full_confidence = None
        if confidence is not None:
            full_confidence = np.ones(len(frame))
            full_confidence[active] = confidence
        missing = frame.reindex(columns=list(prep.names)).isna().sum()
        return cls(layering=layering, group_ids=group_ids, X=prep.transform(frame),
                   labels=full_labels, confidence=full_confidence,
                   imputed={str(c): int(n) for c, n in missing.items() if n})

    def names(self) -> dict[int, str]:
        """Segment id → the group's fixed name (overrides still replace it)."""
        return {sid: GROUP_NAMES[group] for group, sid in self.group_ids.items()}

    def summary(self, active: int) -> dict[str, Any]:
        """The ``layers`` section of ``summary.json`` (the names are filled in by the wording)."""
        counts = self.layering.groups.value_counts()
        behaviour = sorted(set(self.labels.tolist()) - set(self.group_ids.values()) - {-1})
        return {"mode": "lifecycle", "rules": self.layering.rules.to_dict(),
                "sentence": self.layering.rules.sentence(), "active_customers": int(active),
                "behaviour_segments": [int(x) for x in behaviour],
                "groups": [{"group": g, "id": int(sid), "customers": int(counts[g])}
                           for g, sid in self.group_ids.items()],
                "baseline": (f"The behavioural segments are compared with {ACTIVE_BASE} ({active:,} customers): "
                             "their traits, indices, rules and 'vs' figures are against its average; the lifecycle "
                             f"groups are compared with all {len(self.labels):,} customers; shares of customers and "
                             "of value are of all of them.")}


def _profiles(frame: pd.DataFrame, labels: np.ndarray, X: np.ndarray, specs: Mapping[str, FeatureSpec],
              value: pd.Series, attributes: pd.DataFrame | None, confidence: np.ndarray | None, seed: int,
              layers: _Layers | None) -> tuple[SegmentProfiles, Mapping[str, float] | None]:
    """Every segment's profile (:func:`profile_segments`), and in a layered run the active
    base's medians, which its behavioural segments' rules read for a missing value (``None``
    when flat). In a layered run the behavioural segments are profiled within the active
    base, so their traits, indices, rules and "vs" figures compare them with the other
    active customers (the lifecycle rule already sets the whole base apart from the
    groups); the groups are profiled against everyone. Shares of customers and of value
    stay shares of everyone."""
    everyone = profile_segments(frame, labels, X=X, specs=specs, value=value, attributes=attributes,
                                confidence=confidence, random_state=seed)
    if layers is None:
        return everyone, None
    active = layers.layering.active
    within = profile_segments(
        frame[active], labels[active], X=X[active], specs=specs, value=value.reindex(frame.index)[active],
        attributes=None if attributes is None else attributes.reindex(frame.index)[active],
        confidence=None if confidence is None else confidence[active], random_state=seed, baseline=ACTIVE_BASE)
    behaviour = {s.id: s for s in within.segments}
    return replace(everyone, segments=tuple(
        behaviour[s.id].model_copy(update={"share": s.share, "value_share": s.value_share})
        if s.id in behaviour else s for s in everyone.segments)), within.medians


def _run_assignments(ids: pd.Index, at: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None,
                     names: Mapping[int, str], missing: str, event_ids: pd.Index,
                     group_ids: Mapping[str, int] | None, excluded: pd.Series | None) -> pd.DataFrame:
    """The assignments of a run or of ``assign``, every customer exactly once
    (:func:`assignments_frame`), with the ``layer`` of a layered model (``group_ids``: its
    lifecycle groups' ids; ``None``: flat) and the ``excluded`` customers marked (``None``: no
    rules). ``at``: each clustered customer's position in ``ids`` (−1: not there)."""
    found = at >= 0
    segment = np.full(len(ids), np.nan)
    segment[at[found]] = np.asarray(labels)[found]
    sure = None
    if confidence is not None:
        sure = np.full(len(ids), np.nan)
        sure[at[found]] = np.asarray(confidence, dtype=float)[found]
    assignments = assignments_frame(
        ids, pd.Series(segment, index=ids), pd.Series(sure, index=ids) if sure is not None else None,
        names, missing, event_ids)
    if group_ids is not None:
        assignments["layer"] = _layer_column(assignments, group_ids)
    if excluded is not None:
        _mark_excluded(assignments, excluded)
    return assignments


def _carried(previous: SegmentationModel | None, active: pd.DataFrame, frame: pd.DataFrame, labels: np.ndarray,
             centres: dict[int, np.ndarray], label_map: dict[int, int]
             ) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, int], np.ndarray | None]:
    """The behavioural segments under the ``previous`` run's ids (:func:`carry_ids`; new ones
    above the previous lifecycle groups' ids), and every customer as the previous model puts
    them (for the migration table; ``None`` without a previous run)."""
    if previous is None:
        return labels, centres, label_map, None
    labels, centres, label_map = carry_ids(
        previous.predict(previous.preparation.transform(active))[0], labels, centres, label_map,
        next_id=_next_id(previous) if previous.lifecycle is not None else None)
    return labels, centres, label_map, previous.assign_frame(frame)[0]


def _layer_column(assignments: pd.DataFrame, group_ids: Mapping[str, int]) -> np.ndarray:
    """The assignments' ``layer``: ``lifecycle`` (in a group of ``group_ids``), ``behaviour``,
    or empty (not segmented)."""
    in_group = assignments["segment_id"].isin(list(group_ids.values())).to_numpy()
    return np.where(assignments["status"].to_numpy() != "segmented", "",
                    np.where(in_group, "lifecycle", "behaviour"))


def _next_id(previous: SegmentationModel) -> int:
    """One above every segment id of a previous run (its lifecycle groups' too)."""
    return max([*previous.names, *previous.lifecycle_ids.values(), -1]) + 1


def assignments_frame(ids: pd.Index, assigned: pd.Series, confidence: pd.Series | None,
                      names: Mapping[int, str], missing: str,
                      event_ids: pd.Index | None = None) -> pd.DataFrame:
    """One row per customer: ``customer_id, segment_id, segment_name, status, confidence``.

    ``assigned`` is the segment of every customer, indexed by ``ids`` (NaN: not clustered,
    status ``missing``, or ``no_usable_events`` for those of ``event_ids``; −1: noise);
    ``confidence`` is indexed by the clustered customers (``None``: 1 for each).
    """
    status = _status(assigned, event_ids if event_ids is not None else pd.Index([]), missing)
    seg_id = assigned.fillna(-1).astype(int).to_numpy()
    if confidence is None:
        confidence = pd.Series(1.0, index=assigned.dropna().index)
    # each segment's name looked up once (empty for an id without one), then spread by position
    present = np.unique(seg_id)
    name_of = np.array([names.get(int(s), "") for s in present], dtype=object)
    return pd.DataFrame({
        "customer_id": ids.astype(str),
        "segment_id": seg_id,
        "segment_name": np.where(status == "segmented", name_of[np.searchsorted(present, seg_id)], ""),
        "status": status,
        "confidence": confidence.reindex(ids).round(6).to_numpy(),
    })


@dataclass(frozen=True)
class Scored:
    """New customers put into a run's segments.

    Attributes
    ----------
    assignments : pandas.DataFrame
        ``customer_id, segment_id, segment_name, status, confidence``, one row per customer.
    drift : dict
        How far these customers have moved from the run (:func:`segmentkit.drift.drift_report`);
        empty for a model saved without a baseline.
    snapshot_date : datetime.date or None
        The day the features describe (``None`` for a customers-only model without one).
    notes : tuple of str
        What was left out, in plain sentences (the customers the model's exclude rules
        matched); ``drift.json`` holds them too.
    """

    assignments: pd.DataFrame
    drift: dict[str, Any]
    snapshot_date: dt.date | None = None
    notes: tuple[str, ...] = ()

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``assignments.csv`` / ``.parquet`` and (with a baseline) ``drift.json``."""
        out = Path(out_dir)
        paths = write_assignments(self.assignments, out)
        if self.drift:
            paths["drift"] = out / "drift.json"
            paths["drift"].write_text(to_json(self.drift), encoding="utf-8")
        return paths


def assign(
    model: SegmentationModel | str | Path,
    customers: Source | None = None,
    events: Source | None = None,
    *,
    snapshot_date: dt.date | None = None,
) -> pd.DataFrame:
    """Put customers into the segments of a saved run (the assignments of :func:`score`)."""
    return score(model, customers, events, snapshot_date=snapshot_date).assignments


def score(
    model: SegmentationModel | str | Path,
    customers: Source | None = None,
    events: Source | None = None,
    *,
    snapshot_date: dt.date | None = None,
    products: Source | None = None,
) -> Scored:
    """Put customers into the segments of a saved run, and measure drift from it.

    Features are computed exactly as in the run (same column mapping, same category and
    channel levels, same preprocessing), as of ``snapshot_date`` (default: the day after the
    last event of the new data). ``products``: the product catalogue, when the run's
    categories came from one. The run's exclude rules are applied again: the customers they
    match get status ``excluded`` and a ``reason``, and are left out of the drift.

    Raises
    ------
    InputError
        Also when the model has exclude rules and no ``customers`` table is given (the rules
        read its columns).
    """
    model = model if isinstance(model, SegmentationModel) else load_model(model)
    columns = ColumnMapping(**model.columns)
    if events is None and model.uses_events:
        raise InputError("this model was fitted on events: give --events")
    if customers is None and model.exclude:
        raise InputError(f"this model leaves out customers by exclude rules ({format_rules(model.exclude)}), "
                         "which read the customers table: give --customers")
    labels_of: dict[str, str] = {}
    event_ids = pd.Index([], dtype=object)
    snapshot = snapshot_date
    excluded = pd.Series([], dtype="string")
    notes: list[str] = []
    with run_connection() as con, plain_pages():
        parts = []
        id_parts: dict[str, pd.Index] = {}  # every customer of either table (see _id_codes)
        if events is not None and model.uses_events:
            # the category may come from a catalogue: a missing one is reported below, with that hint
            ev = load_events(con, events, columns, elsewhere=("category",))
            if products is not None:
                ev, _ = join_catalogue(con, ev, load_products(con, products, columns))
            lacking = {r: f for r, f in roles_needed(model.feature_names).items() if r not in ev.roles}
            if lacking:
                role, feats_of = sorted(lacking.items())[0]
                raise InputError(f"missing column {columns.__dict__[role]!r} (the {role.replace('_', ' ')}), "
                                 f"which the model's features need ({', '.join(feats_of[:4])}"
                                 f"{', ...' if len(feats_of) > 4 else ''}); the model cannot be used without it"
                                 + (" (give the events' category column or the product catalogue, --products)"
                                    if role == "category" else ""),
                                 source=ev.source)
            feats = customer_features(con, ev.table, ev.roles, snapshot_date=snapshot_date,
                                      levels={k: list(v) for k, v in model.levels.items()})
            labels_of = {spec.name: spec.label for spec in feats.specs}
            snapshot = feats.snapshot_date
            parts.append(feats.frame)
            event_ids = _event_customers(con, ev.table, feats)
            id_parts.update(features=feats.frame.index, events=event_ids)
        if customers is not None:
            with _on_driver(customers) as local:
                cu, cust = load_customers(con, local, columns)
            id_parts["customers"] = cust.index
            if model.exclude:
                excluded = excluded_customers(cust, model.exclude, cu.source)
                notes.append(exclusion_note(cu.source, len(excluded), model.exclude))
            if model.feature_columns:
                custom = _numeric_customer_columns(cust, model.feature_columns, cu.source)
                parts.append(custom.where(np.isfinite(custom)))
        elif model.feature_columns:
            raise InputError("this model uses customer feature columns: give --customers")
    ids, codes = _id_codes(id_parts)
    # the frame's rows are those of the features (or of the customers table), in its order:
    # their places among all ids come from the codes, not from looking the ids up again
    if model.uses_events:
        frame = parts[0].join(parts[1:]) if len(parts) > 1 else parts[0]
        reason, source = "no_events", "features"
    else:
        frame = parts[0]
        reason, source = "excluded", "customers"
    kept = ~frame.index.isin(excluded.index)
    frame = frame[kept]
    labels, confidence = model.assign_frame(frame)
    assignments = _run_assignments(ids, codes[source][kept], labels, confidence, model.names, reason, event_ids,
                                   model.lifecycle_ids if model.lifecycle is not None else None,
                                   excluded if model.exclude else None)
    if model.baseline and frame.empty and len(excluded):
        notes.append("every customer with features was left out by the exclude rules: no drift measured "
                     "(no drift.json)")
    drift = (drift_report(model.baseline, frame, np.asarray(labels, int), labels=labels_of, names=model.names)
             if model.baseline and not frame.empty else {})
    if drift and notes:
        drift["notes"] = list(notes)
    return Scored(assignments=assignments, drift=drift, snapshot_date=snapshot, notes=tuple(notes))


@contextlib.contextmanager
def run_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """The DuckDB connection of a run (or of ``assign``): in memory, within
    :data:`DUCKDB_MEMORY_BUDGET`, spilling to a temporary folder removed on exit."""
    with tempfile.TemporaryDirectory(prefix="segmentkit-duckdb-") as tmp:
        con = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_BUDGET, "temp_directory": tmp})
        try:
            yield con
        finally:
            con.close()


def _event_stage(con: duckdb.DuckDBPyConnection, settings: Settings, customers: Source | None,
                 events: Source | None, stage: Callable[[str], None], quality: dict[str, Any], notes: list[str],
                 inputs: dict[str, Any]) -> tuple[FeatureTable | None, LoadedTable | None, pd.Index, Any]:
    """Load the events (DuckDB, or Spark for ``SparkEvents``) and compute the features.

    Fills ``quality``, ``notes`` and ``inputs``; returns the features, the loaded table,
    every customer with an event row (usable or not) and the Spark stage (``None`` on DuckDB).
    """
    cl = settings.clustering
    feats: FeatureTable | None = None
    ev_table: LoadedTable | None = None
    event_ids = pd.Index([], dtype=object)  # every customer with an event row, usable or not
    spark_stage = None
    if isinstance(events, SparkEvents):
        # the event stage on Spark (same canonical rules, same feature SQL); see segmentkit.spark
        from segmentkit.spark.catalogue import read_catalogue
        from segmentkit.spark.events import spark_event_stage

        # one row per product: read on the driver, joined by Spark
        products = (read_catalogue(con, settings.products, settings.columns, events.spark)
                    if settings.products is not None else None)
        stage("computing features (Spark)")
        spark_stage, feats = spark_event_stage(events, settings.columns, settings.snapshot_date,
                                               keep_duplicates=settings.keep_duplicates,
                                               driver_customers=settings.spark.driver_customers, seed=cl.seed,
                                               products=products)
        ev_table = spark_stage.loaded
        if products is not None:
            inputs["products"] = {"name": products[0].source, "sha256": products[0].sha256,
                                  "rows": products[0].rows_read}
            quality.update(spark_stage.catalogue.to_dict())
        sampled = spark_stage.scope is not None and spark_stage.scope.sampled
        if sampled:
            _check_sample_fit(settings, customers)
            scope = spark_stage.scope
            notes.append(f"{ev_table.source}: {scope.customers:,} customers with events, beyond driver_customers "
                         f"({scope.driver_customers:,}): the clustering was fitted on a stratified sample of "
                         f"{scope.fitted:,}"
                         + ("" if cl.layers == "flat" else " (the lifecycle rules' lapsed threshold too, when "
                                                            "the run is layered)")
                         + "; segment sizes and profiles are the sample's, and Spark assigned every customer "
                         + ("" if cl.layers == "flat" else "by the lifecycle rules of a layered run, then ")
                         + "by the nearest centre (assignments.parquet/ and assignments.csv/)")
        # (a sample fit counts the customers without usable events in Spark, below)
        event_ids = pd.Index(feats.frame.index) if sampled else spark_stage.customer_ids()
    elif events is not None:
        stage("loading events")
        ev_table = load_events(con, events, settings.columns, keep_duplicates=settings.keep_duplicates,
                               elsewhere=("category",) if settings.products is not None else ())
        if settings.products is not None:
            products = load_products(con, settings.products, settings.columns)
            ev_table, joined = join_catalogue(con, ev_table, products)
            inputs["products"] = {"name": products.source, "sha256": products.sha256, "rows": products.rows_read}
            quality.update(joined.to_dict())
        stage("computing features")
        try:
            feats = customer_features(con, ev_table.table, ev_table.roles, snapshot_date=settings.snapshot_date,
                                      never_levels=(UNKNOWN,) if settings.products is not None else ())
        except InputError as exc:  # named by the input's file and column
            column = getattr(settings.columns, exc.column) if exc.column else None
            raise InputError(exc.reason, source=ev_table.source, column=column) from None
        event_ids = _event_customers(con, ev_table.table, feats)
    if ev_table is not None and feats is not None:
        notes += ev_table.notes
        inputs["events"] = {"name": ev_table.source, "sha256": ev_table.sha256, "rows": ev_table.rows_read}
        quality["events_rows_read"] = ev_table.rows_read
        quality.update(_duplicates_quality(ev_table))
        if ev_table.duplicates:
            notes.append(_duplicates_note(ev_table))
        quality["ids_trimmed"] = ev_table.ids_trimmed
        quality["non_finite_amounts"] = ev_table.non_finite
        if ev_table.non_finite:
            notes.append(f"{ev_table.source}: {ev_table.non_finite:,} event(s) with a NaN, infinite or "
                         "absurdly large amount or quantity: read as missing")
        if feats.data_quality.get("events_outside_time_range"):
            notes.append(f"{ev_table.source}: {feats.data_quality['events_outside_time_range']:,} event(s) "
                         "dated years away from all the others left out (see events_outside_time_range)")
        quality.update(feats.data_quality)
    return feats, ev_table, event_ids, spark_stage


def _customer_stage(con: duckdb.DuckDBPyConnection, settings: Settings, customers: Source | None,
                    stage: Callable[[str], None], quality: dict[str, Any], notes: list[str],
                    inputs: dict[str, Any]) -> tuple[pd.DataFrame | None, pd.Series]:
    """Load the customers table (``None`` without one) and find the customers the exclude
    rules leave out (customer id → the rule matched); fills ``quality``, ``notes`` and ``inputs``."""
    roles = settings.roles
    cust: pd.DataFrame | None = None
    excluded = pd.Series([], dtype="string")
    if customers is not None:
        stage("loading customers")
        with _on_driver(customers) as local:
            cu_table, cust = load_customers(con, local, settings.columns)
        notes += cu_table.notes
        inputs["customers"] = {"name": cu_table.source, "sha256": cu_table.sha256, "rows": cu_table.rows_read}
        quality["customers_rows_read"] = cu_table.rows_read
        quality["ids_trimmed"] = quality.get("ids_trimmed", 0) + cu_table.ids_trimmed
        for role, col in (("persona", roles.persona), ("attention", roles.attention)):
            if col is not None and col not in cust.columns:
                raise InputError(
                    f"missing column {col!r} (the {role} column); found: {', '.join(cust.columns)}",
                    source=cu_table.source,
                )
    if settings.exclude:
        if cust is None:
            raise InputError("--exclude needs a customers table (its rules read the customers' columns)")
        excluded = excluded_customers(cust, settings.exclude, cu_table.source)
        quality["customers_excluded"] = int(len(excluded))
        notes.append(exclusion_note(cu_table.source, len(excluded), settings.exclude))
    return cust, excluded


def _universe(con: duckdb.DuckDBPyConnection, cust: pd.DataFrame | None, feats: FeatureTable | None,
              event_rows: str | None, event_ids: pd.Index, spark_stage: Any,
              quality: dict[str, Any]) -> tuple[_Universe, pd.DataFrame | None]:
    """Every customer of either table, exactly once (sorted ids), with the counts of those
    on one side only; the customers table cut to the sampled customers of a sample fit.
    ``event_rows``: the table of each event customer's row count (:func:`_release_events`),
    where the orphan events are counted (DuckDB's events, with a customers table)."""
    sample_counts: dict[str, int] = {}
    if spark_stage is not None and spark_stage.scope is not None and spark_stage.scope.sampled:
        # counted over every customer by Spark; the driver keeps the sampled customers only
        sample_counts["customers_without_usable_events"] = (spark_stage.count_event_customers()
                                                            - spark_stage.scope.customers)
        if cust is not None:
            with_features = spark_stage.count_with_features(pd.Index(cust.index))
            sample_counts.update(orphan_customers=spark_stage.scope.customers - with_features,
                                 orphan_events=spark_stage.count_events_outside(pd.Index(cust.index)),
                                 customers_without_events=int(len(cust)) - with_features)
            cust = cust[cust.index.isin(feats.frame.index)]

    # the universe: every customer of either table, exactly once
    parts = {"customers": cust.index} if cust is not None else {}
    if feats is not None:
        parts.update(features=feats.frame.index, events=event_ids)
    ids, codes = _id_codes(parts)

    def outside(part: str, other: str) -> np.ndarray:
        """Which ids of ``part`` are not in ``other``."""
        inside = np.zeros(len(ids), dtype=bool)
        inside[codes[other]] = True
        return ~inside[codes[part]]

    def count_outside(part: str, other: str) -> int:
        """How many distinct ids of ``part`` are not in ``other``."""
        return int(len(np.unique(codes[part][outside(part, other)])))

    if feats is not None:
        quality["customers_without_usable_events"] = count_outside("events", "features")
        if cust is not None and not sample_counts:
            quality["orphan_customers"] = count_outside("features", "customers")
            quality["orphan_events"] = (
                spark_stage.count_events_outside(pd.Index(cust.index)) if spark_stage is not None
                else _rows_of(con, event_rows, event_ids[outside("events", "customers")]))
            quality["customers_without_events"] = count_outside("customers", "features")
        quality.update(sample_counts)
    return _Universe(ids, codes), cust


@dataclass(frozen=True, eq=False)
class _Universe:
    """Every customer of a run exactly once (``ids``: text, sorted) and where the rows of
    each table (``customers``, ``features``, ``events``) are among them (:func:`_id_codes`)."""

    ids: pd.Index
    codes: Mapping[str, np.ndarray]

    def rows(self, part: str, at: np.ndarray) -> np.ndarray:
        """The row of table ``part`` of each customer at the positions ``at`` of :attr:`ids`
        (−1: none), found by positions alone."""
        row_of = np.full(len(self.ids), -1, dtype=np.intp)
        row_of[self.codes[part]] = np.arange(len(self.codes[part]), dtype=np.intp)
        return row_of[at]


def _at_rows(table: Table, rows: np.ndarray, index: pd.Index) -> Table:
    """``table.reindex(index)`` when the rows of ``index`` in ``table`` are known by
    position (``rows``; −1: not in it, missing then, with the types ``reindex`` gives)."""
    def take(column: pd.Series) -> Any:
        values = column.array if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) else column.to_numpy()
        return pd.api.extensions.take(values, rows, allow_fill=True)

    if isinstance(table, pd.Series):
        return pd.Series(take(table), index=index, name=table.name)
    out = pd.DataFrame({i: take(table.iloc[:, i]) for i in range(table.shape[1])}, index=index, copy=False)
    out.columns = table.columns
    return out


def _rows_of(con: duckdb.DuckDBPyConnection, event_rows: str | None, ids: pd.Index) -> int:
    """How many event rows belong to the customers ``ids`` (text, as in the events), from
    the table of each event customer's row count (:func:`_release_events`): the event rows
    of customers the customers table lacks, found among the few of them."""
    if not len(ids):
        return 0
    if event_rows is None:
        raise ValueError("the event rows per customer were not counted")
    return int(con.execute(f"SELECT coalesce(sum(rows), 0) FROM {event_rows} WHERE customer_id IN (SELECT unnest(?))",
                           [ids.to_list()]).fetchall()[0][0])


#: Each event customer's row count, kept when the events are let go (:func:`_release_events`).
_EVENT_ROWS = "__event_rows"


def _release_events(con: duckdb.DuckDBPyConnection, ev_table: LoadedTable | None, *, count_rows: bool,
                    keep: bool) -> str | None:
    """Let the events go once the features and the validation's history are read, unless
    ``keep`` (``--holdout`` reads the base rates from them later); with ``count_rows``
    (a customers table is coming), count each event customer's rows first, for the orphan
    events (:func:`_rows_of`). Returns that table's name (``None``: not counted).

    Without this, the run's lower DuckDB budget afterwards (:data:`DUCKDB_IDLE_BUDGET`)
    makes DuckDB write the whole table to its temporary folder: at twenty million events
    1.1 GB, 0.8-4 s, and the orphan count read it back (0.5 s). The counts take 0.7 s and
    a million rows of 24 bytes.
    """
    if ev_table is None:
        return None
    counted = None
    if count_rows:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_EVENT_ROWS} AS SELECT customer_id, count(*) AS rows "
                    f"FROM {ev_table.table} WHERE customer_id IS NOT NULL GROUP BY customer_id")
        counted = _EVENT_ROWS
    if not keep:
        con.execute(f"DROP TABLE {ev_table.table}")
    return counted


def _id_codes(parts: Mapping[str, pd.Index]) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """Every id of the ``parts`` exactly once, as text in sorted order (``customer_id``), and
    each part's ids as positions in it.

    Parts of distinct ids are merged in sorted order (:func:`_merged_codes`): the features'
    ids come sorted, and a customers table usually does; a part that is not is sorted
    first. Otherwise (a part repeats an id) the ids are hashed once, together. Either way
    no set operation of pandas (``union``, ``difference``) runs: each hashes both sides
    again, a second or more a million. A part that is the same index as an earlier one (the
    event customers are the features' when every event row was usable) counts once.
    """
    if not parts:
        return pd.Index([], name="customer_id"), {}
    distinct = list({id(index): index for index in parts.values()}.values())
    texts = [_as_text(index) for index in distinct]
    merged = _merged_codes(texts)
    if merged is None:
        codes, ids = pd.factorize(texts[0].append(texts[1:]), sort=True)
        merged = ids, np.split(codes, np.cumsum([len(t) for t in texts])[:-1])
    ids, positions = merged
    of = dict(zip(map(id, distinct), positions))
    return pd.Index(ids, name="customer_id"), {name: of[id(index)] for name, index in parts.items()}


def _as_text(index: pd.Index) -> pd.Index:
    """The ids as Python text objects (pandas looks these up fastest), converted only
    when they are not already (converting a million is 0.2-0.4 s)."""
    if index.dtype == object and pd.api.types.infer_dtype(index, skipna=False) == "string":
        return index
    return index.astype(str).astype(object)


def _merged_codes(texts: Sequence[pd.Index]) -> tuple[pd.Index, list[np.ndarray]] | None:
    """The sorted union of ``texts`` (each of distinct ids) and each one's positions in it,
    by merging sorted runs (a part out of order is sorted first); ``None`` when a part
    repeats an id. At a million customers 0.1 s for two sorted parts, against 0.8-1.8 s
    to hash and sort them together."""
    runs: list[pd.Index] = []
    orders: list[np.ndarray | None] = []
    for text in texts:
        order = None
        if not text.is_monotonic_increasing:
            order = np.argsort(text.to_numpy(), kind="stable")
            text = text[order]
        # pandas learns uniqueness from its check of order when the order is strict (no
        # hashing); a part that repeats an id is hashed to find out
        if not (text.is_monotonic_increasing and text.is_unique):
            return None
        runs.append(text)
        orders.append(order)
    ids = runs[0]
    sorted_positions = [np.arange(len(ids))]
    for run in runs[1:]:
        joined, left, right = ids.join(run, how="outer", return_indexers=True)
        # where the rows of each side are in the union (None: the union is that side)
        if left is not None:
            sorted_positions = [np.flatnonzero(left >= 0)[p] for p in sorted_positions]
        sorted_positions.append(np.arange(len(run)) if right is None else np.flatnonzero(right >= 0))
        ids = joined
    positions = []
    for pos, order in zip(sorted_positions, orders):
        if order is not None:  # back to the part's own order
            unsorted = np.empty_like(pos)
            unsorted[order] = pos
            pos = unsorted
        positions.append(pos.astype(np.intp, copy=False))
    return ids, positions


def _mark_excluded(assignments: pd.DataFrame, excluded: pd.Series) -> None:
    """Status ``excluded`` and the matched rule as ``reason`` for the customers left out."""
    reason = excluded.reindex(assignments["customer_id"]).fillna("").to_numpy()
    assignments.loc[reason != "", "status"] = "excluded"
    assignments["reason"] = reason


def _clustering_frame(settings: Settings, feats: FeatureTable | None, cust: pd.DataFrame | None,
                      inputs: dict[str, Any], quality: dict[str, Any], notes: list[str],
                      excluded: pd.Series, feature_order: np.ndarray | None = None
                      ) -> tuple[pd.DataFrame, np.ndarray, dict[str, FeatureSpec], str, int, _LayerChoice]:
    """The features of every clustered customer (event features, then customer feature
    columns), in value order, and their rows in the table they come from (the features'
    when there are events, else the customers'); their specs; the status of customers left
    out; the largest k the selection may try; the lifecycle layer
    (:func:`segmentkit.lifecycle.choose_layering`: ``auto`` is flat when the active base
    would be too small for the asked k). Raises when there are too few customers (of the
    active base, when layered) for the asked k. ``feature_order``: the value order of the
    features' rows, when already found (it is the frame's without customer feature columns)."""
    cl, roles = settings.clustering, settings.roles
    # the clustering frame
    specs: dict[str, FeatureSpec] = {}
    parts: list[pd.DataFrame] = []
    if feats is not None:
        parts.append(feats.frame)
        specs.update({s.name: s for s in feats.specs})
    if roles.features:
        if cust is None:
            raise InputError("--feature-columns needs a customers table")
        custom = _numeric_customer_columns(cust, roles.features, inputs["customers"]["name"])
        parts.append(custom.where(np.isfinite(custom)))
        quality["non_finite_features"] = int((custom.notna() & ~np.isfinite(custom)).to_numpy().sum())
        if quality["non_finite_features"]:
            notes.append(f"{inputs['customers']['name']}: {quality['non_finite_features']:,} infinite value(s) "
                         "in the feature columns read as missing")
        specs.update({c: FeatureSpec(c, "custom", c.replace("_", " "), "customers") for c in roles.features})
    if not parts:
        raise InputError("no features: give events, or name numeric customer columns with --feature-columns")
    if feats is not None:
        frame = parts[0].join(parts[1:]) if len(parts) > 1 else parts[0]
        status_reason = "no_events"
    else:
        frame = parts[0]
        status_reason = "excluded"
    rows = (feature_order if feature_order is not None and feats is not None and frame is feats.frame
            else _lexicographic_order(frame.to_numpy(dtype="float64")))  # as _value_order
    frame = frame.iloc[rows]
    kept = ~frame.index.isin(excluded.index)  # left out by the exclude rules
    frame, rows = frame[kept], rows[kept]
    if cl.layers == "lifecycle" and feats is None:
        raise InputError("--layers lifecycle needs events (its rules read orders, tenure and recency)")
    needed = max(MIN_ROWS, _MIN_PER_SEGMENT * cl.k_min)
    layering, why = choose_layering(frame, cl.layers if feats is not None else "flat",
                                    max(needed, _MIN_PER_SEGMENT * (cl.k or 0)))
    n = len(frame) if layering is None else int(layering.active.sum())
    whom = "customers to segment" if layering is None else "active customers to segment (--layers lifecycle)"
    # the selection needs two customers per segment at least (its bootstrap halves hold k)
    most = n // _MIN_PER_SEGMENT
    if cl.k is not None and cl.k > most:
        raise InputError(f"only {n} {whom}, too few for k = {cl.k} (at most {most}: "
                         f"{_MIN_PER_SEGMENT} customers per segment)")
    if n < needed:
        raise InputError(f"only {n} {whom}; at least {needed} are needed"
                         + (f" for k_min = {cl.k_min}" if needed > MIN_ROWS else ""))
    k_max = min(cl.k_max, most)
    return frame, rows, specs, status_reason, k_max, _LayerChoice(layering, why)


def _choose(X: np.ndarray, value: pd.Series, cl: Any, k_max: int, stage: Callable[[str], None],
            layering: Layering | None = None, notes: list[str] | None = None,
            why: str | None = None) -> KSelection:
    """The selection of k and algorithm (:func:`segmentkit.choose_k.select_k`) with the
    run's constraints; with ``--k`` the other k are evaluated only when asked (``--evidence``).
    With a lifecycle layer, k (and ``--k``) counts the behavioural segments of the active
    base, and ``max_segments`` (on a continuum, its default too) bounds the total with the
    non-empty groups (:func:`segmentkit.choose_k.most_segments`); the reason says so and
    gives the total, and when the groups leave fewer than two behavioural segments a note
    in ``notes`` says so too. ``why``: the sentence of ``--layers auto`` (layered or not, and
    why), at the end of the reason."""
    sweep = cl.k is None or cl.evidence
    stage("choosing k" if sweep else f"checking k = {cl.k}")
    groups = _groups_of(layering)
    constraints = Constraints(min_share=cl.min_share, max_segments=cl.max_segments,
                              min_value_share=cl.min_value_share)
    selection = select_k(
        X,
        algorithm=cl.algorithm,
        k_values=list(range(cl.k_min, k_max + 1)) if sweep else [cl.k],
        fixed_k=cl.k,
        constraints=constraints,
        value=value.to_numpy(),
        n_bootstrap=cl.n_bootstrap,
        random_state=cl.seed,
        other_segments=len(groups),
    )
    if not sweep:
        selection = selection.model_copy(update={"reason": selection.reason + " Other k were not evaluated "
                                                  "(--evidence compares them)."})
    if layering is not None:
        k = selection.recommended_k
        text = (f" {'--k sets' if cl.k is not None else 'k counts'} the behavioural segments of the {X.shape[0]:,} "
                f"active customers; the lifecycle layer adds {len(groups)} group(s) of its own "
                f"({', '.join(groups) or 'none'}): {k + len(groups)} segments in all.")
        total = cl.max_segments
        if total is not None and total - len(groups) < MIN_CLUSTERED_SEGMENTS:
            crowded = (f"max_segments ({total}) leaves no room for {MIN_CLUSTERED_SEGMENTS} behavioural segments "
                       f"beside the {len(groups)} lifecycle group(s), so the run has {k + len(groups)} segments, "
                       f"more than max_segments.")
            text += " " + crowded
            if notes is not None:
                notes.append(crowded)
        elif cl.k is None:
            bound = f"max_segments = {total}" if total is not None else \
                f"on a continuum, {CONTINUUM_MAX_SEGMENTS} by default"
            text += f" The most segments allowed ({bound}) counts the lifecycle groups too."
        selection = selection.model_copy(update={"reason": selection.reason + text})
    if why is not None:
        selection = selection.model_copy(update={"reason": f"{selection.reason} {why}"})
    return selection


def _fit_segments(X: np.ndarray, selection: KSelection, cl: Any,
                  stage: Callable[[str], None]) -> tuple[Fitted, np.ndarray, dict[int, int], dict[int, np.ndarray]]:
    """The final fit on every customer: the fitted algorithm, its labels relabelled by size
    (:func:`canonical_labels`; noise moved to the nearest segment with ``assign_noise``),
    the raw → segment id map and each segment's centre."""
    spec = algorithms.get(selection.recommended_algorithm)
    stage(f"fitting {spec.name} on {X.shape[0]:,} customers")
    with fit_threads():  # deterministic to the last bit
        fitted = spec.fit(X, k=selection.recommended_k if spec.capabilities.needs_k else None,
                          random_state=cl.seed, **selection.recommended_params)
    labels, label_map = canonical_labels(fitted.labels)
    centres = {int(s): X[labels == s].mean(axis=0) for s in sorted(set(labels.tolist())) if s >= 0}
    if cl.assign_noise:
        labels = algorithms.assign_noise(labels, X, centres)
    return fitted, labels, label_map, centres


def _with_holdout(con: duckdb.DuckDBPyConnection, settings: Settings, feats: FeatureTable | None,
                  ev_table: LoadedTable | None, spark_stage: Any, assignments: pd.DataFrame, index: pd.Index,
                  labels: np.ndarray, notes: list[str]) -> dict[str, Any] | None:
    """With ``--holdout``: a control group per segment, planned from the history's base rates
    (:func:`_holdout_plan`), written into the assignments' ``group`` column; the plan's
    summary section (``None`` without ``--holdout``)."""
    if not settings.holdout.enabled:
        return None
    plan = _holdout_plan(con, settings, feats, ev_table, spark_stage, index, labels, notes)
    assignments["group"] = holdout_groups(assignments, plan).to_numpy()
    return plan.to_dict()


def _convergence_notes(fitted: Fitted, algorithm: str) -> list[str]:
    """A note when the final fit stopped at its iteration limit (none otherwise)."""
    if fitted.details.get("converged") is not False:
        return []
    return [f"{algorithm} did not converge within its iteration limit: the segments may "
            "change with the seed; compare with another seed or algorithm"]


def _holdout_plan(con: duckdb.DuckDBPyConnection, settings: Settings, feats: FeatureTable | None,
                  ev_table: LoadedTable | None, spark_stage: Any, index: pd.Index, labels: np.ndarray,
                  notes: list[str]) -> HoldoutPlan:
    """Control groups per segment (:func:`segmentkit.holdout.plan_holdout`) from the base rates
    of the history before the snapshot; a note for each segment too small to test."""
    if feats is None or ev_table is None:
        raise InputError("--holdout needs events (the base rates come from the purchase history)")
    if spark_stage is not None:
        raise InputError("--holdout reads the base rates with DuckDB: not available for Spark events")
    base_end = feats.snapshot_date
    base = window_outcomes(con, ev_table.table, start=base_end - dt.timedelta(days=BASE_WINDOW_DAYS),
                           end=base_end, has_amount="amount" in ev_table.roles,
                           has_type="event_type" in ev_table.roles).reindex(index)
    plan = plan_holdout(labels, base["bought"].astype("boolean").fillna(False).to_numpy(bool),
                        base["spend"].fillna(0.0).to_numpy(float) if "amount" in ev_table.roles else None,
                        min_lift=settings.holdout.min_lift, seed=settings.clustering.seed)
    for sp in plan.segments:
        if not sp.testable:
            notes.append(f"holdout: segment {sp.segment_id} is {sp.reason}; "
                         "all its customers are in the target group")
    return plan


def _value(feats: FeatureTable | None, rows: np.ndarray, index: pd.Index, notes: list[str]) -> pd.Series:
    """Net revenue per clustered customer (``index``, the ``rows`` of ``feats``); one each
    (value shares count customers) without events or without a positive total, with a note
    saying so for the latter."""
    ones = pd.Series(np.ones(len(index)), index=index, name="value")
    value = _at_rows(feats.value, rows, index).fillna(0.0) if feats is not None else ones
    if not value.sum() > 0:
        notes.append("no positive net spend in the events (no purchases, or more returned than bought): "
                     "value shares count customers instead")
        return ones
    return value


def _customer_inputs(cust: pd.DataFrame | None, rows: np.ndarray | None, roles: Roles,
                     attributes: pd.DataFrame | None, index: pd.Index) -> dict[str, Any]:
    """What the wording reads from the customers table (the clustered customers ``index``
    are its ``rows``): attention, persona (and its column) and the demographics (profile
    attributes other than persona and attention)."""
    return {
        "attention": (_at_rows(pd.to_numeric(cust[roles.attention], errors="coerce"), rows, index)
                      if roles.attention is not None and cust is not None else None),
        "persona": (_at_rows(cust[roles.persona], rows, index)
                    if roles.persona is not None and cust is not None else None),
        "persona_column": roles.persona,
        "demographics": (attributes.drop(columns=[c for c in (roles.persona, roles.attention)
                                                  if c is not None and c in attributes.columns])
                         if attributes is not None else None),
    }


def _spark_assignment(spark_stage: Any, feats: FeatureTable | None, customers: Any, excluded: pd.Series) -> Any:
    """With a sample fit, what Spark needs to assign every customer (written with the run),
    the customers the exclude rules left out included."""
    if spark_stage is None or spark_stage.scope is None or not spark_stage.scope.sampled:
        return None
    from segmentkit.spark.assign import SparkAssignment

    return SparkAssignment(stage=spark_stage, specs=feats.specs if feats else (), customers=_spark_path(customers),
                           excluded=excluded)


def _summary(settings: Settings, *, ids: pd.Index, status_counts: dict[str, int], feats: FeatureTable | None,
             prep: Preparation, specs: Mapping[str, FeatureSpec], X: np.ndarray, labels: np.ndarray,
             confidence: np.ndarray | None, k: int, fitted: Fitted, selection: KSelection,
             profiles: SegmentProfiles, profile_skipped: dict[str, str], named: dict[str, Any],
             quality: dict[str, Any], validation: dict[str, Any], spark_stage: Any,
             holdout: dict[str, Any] | None, inputs: dict[str, Any]) -> Summary:
    """The run's summary (:func:`segmentkit.result.build_summary`) from what the stages made."""
    cl = settings.clustering
    algo_name = selection.recommended_algorithm
    params = dict(selection.recommended_params)
    return build_summary(json_safe({
        "segmentkit_version": __version__,
        "n_customers": int(len(ids)),
        "n_segmented": int(status_counts.get("segmented", 0)),
        "snapshot_date": feats.snapshot_date.isoformat() if feats else (
            settings.snapshot_date.isoformat() if settings.snapshot_date else None),
        "algorithm": algo_name,
        "k": int(k),
        "seed": cl.seed,
        "status_counts": status_counts,
        "features": list(prep.names),
        "features_skipped": dict(sorted((feats.skipped if feats else {}).items())),
        "category_levels": feats.category_levels if feats else None,
        "profile_skipped": profile_skipped,
        "feature_labels": {name: specs[name].label for name in prep.names},
        "algorithm_details": fitted.details,
        "k_selection": selection.to_dict(),
        "feature_families": _families(prep, X, labels, cl.balance_families),
        "validation": validation,
        "structure": structure_strength(next((c.silhouette for c in selection.candidates if (
            c.algorithm, c.k, dict(c.params)) == (algo_name, selection.recommended_k, params)), None), confidence),
        **named,
        "descriptive_sample": {**profiles.sample.to_dict(),
                               "used_for": ["rules", "surrogate_accuracy", "exemplars", "customer_map"]}
        if profiles.sample is not None else None,
        "data_quality": quality,
        "fit_scope": spark_stage.scope.to_dict() if spark_stage is not None and spark_stage.scope else None,
        "holdout": holdout,
        "customer_map": _customer_map(X, labels, cl.seed),
        "run": {
            "parameters": _parameters(settings),
            "inputs": inputs,
            "versions": _versions(),
        },
    }))


def _brief_overrides(previous: SegmentationModel | None,
                     overrides: Mapping[int, Mapping[str, str]] | None) -> dict[int, dict[str, str]]:
    """The brief sentences the user replaced: the previous run's, with this run's on top
    (topic by topic), so that they survive refreshes as names do."""
    out = {int(k): dict(v) for k, v in previous.brief_overrides.items()} if previous is not None else {}
    for sid, texts in (overrides or {}).items():
        out.setdefault(int(sid), {}).update(texts)
    return out


def _sql_inputs(medians: Mapping[str, float], base_medians: Mapping[str, float] | None,
                feats: FeatureTable | None, ev_table: LoadedTable | None, spark_stage: Any,
                settings: Settings) -> dict[str, Any]:
    """What ``segments.sql`` needs: the medians the rules read for a missing value, those
    of their fit (:attr:`SegmentProfiles.medians`: everyone's, and in a layered run the
    active base's for the behavioural segments, ``base_medians``: see :func:`_profiles`);
    the feature SQL (DuckDB runs only), the events table's name and the catalogue's, when
    the categories came from one."""
    return dict(
        medians=dict(medians),
        base_medians=None if base_medians is None else dict(base_medians),
        feature_sql=feats.sql if feats is not None and spark_stage is None and feats.sql else None,
        events_table=ev_table.table if ev_table is not None else "events",
        customer_columns=tuple(settings.roles.features),
        products_table=PRODUCTS_TABLE if settings.products is not None else None)


def _saved_model(settings: Settings, fitted: Fitted, algorithm: str, label_map: dict[int, int], prep: Preparation,
                 frame: pd.DataFrame, feats: FeatureTable | None, centres: Mapping[int, np.ndarray], *,
                 name_of: Mapping[int, str], names: Mapping[int, SegmentName], overrides: Mapping[int, str],
                 brief_overrides: Mapping[int, Mapping[str, str]], labels: np.ndarray,
                 layers: _Layers | None = None) -> SegmentationModel:
    """The model ``assign`` and the next refresh use: the fit, the features and preparation
    to repeat, the names (generated and overridden) and the brief sentences replaced, the
    centres, the drift baseline and the lifecycle rules of a layered run."""
    return SegmentationModel(
        algorithm=algorithm, state=fitted.state, label_map=label_map, preparation=prep,
        feature_names=tuple(frame.columns), levels=dict(feats.levels) if feats else {},
        columns=dict(settings.columns.__dict__), feature_columns=tuple(settings.roles.features),
        names={int(k): v for k, v in name_of.items() if int(k) >= 0},
        generated_names={int(k): n.auto_name for k, n in names.items() if int(k) >= 0},
        overrides=dict(overrides), centres={k: [round(float(x), 10) for x in v] for k, v in centres.items()},
        assign_noise=settings.clustering.assign_noise, uses_events=feats is not None,
        baseline=baseline(frame, labels), exclude=dict(settings.exclude),
        lifecycle=layers.layering.rules if layers is not None else None,
        lifecycle_ids=dict(layers.group_ids) if layers is not None else {},
        brief_overrides={int(k): dict(v) for k, v in brief_overrides.items()})


def _check_sample_fit(settings: Settings, customers: Any) -> None:
    """A sample fit is assigned to everyone by Spark with the nearest-centre rule (after a
    layered model's lifecycle rules): the algorithm must have one, the features must come
    from events, the customers table must be a file Spark reads."""
    from segmentkit.spark.assign import NEAREST_CENTRE_ALGORITHMS

    beyond = f"beyond [spark] driver_customers ({settings.spark.driver_customers:,}) customers"
    if settings.clustering.algorithm not in NEAREST_CENTRE_ALGORITHMS:
        raise InputError(f"{beyond}, the clustering is fitted on a sample and Spark assigns everyone to the nearest "
                         f"centre: use --algorithm {', '.join(sorted(NEAREST_CENTRE_ALGORITHMS))}, or raise "
                         "--driver-customers")
    if settings.roles.features:
        raise InputError(f"{beyond}, the features come from the events only: --feature-columns is not available")
    if settings.holdout.enabled:
        raise InputError(f"{beyond}, --holdout is not available (its groups are planned on the driver)")
    if customers is not None and _spark_path(customers) is None:
        raise InputError(f"{beyond}, Spark reads the customers table too: give it as a file or URL")


def _spark_path(customers: Any) -> str | None:
    """The customers table as a path or URL Spark reads (``None`` if it is no file)."""
    if isinstance(customers, SparkCustomers):
        return str(customers.source)
    return str(Path(customers).resolve()) if isinstance(customers, (str, Path)) else None


def _on_driver(customers: Source | SparkCustomers) -> contextlib.AbstractContextManager:
    """The customer source as :func:`load_customers` reads it (fetched by Spark if it is remote)."""
    return driver_copy(customers) if isinstance(customers, SparkCustomers) else contextlib.nullcontext(customers)


def _value_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The customers ordered by their feature values (first column first), not by id.

    Cluster starts, bootstrap samples and map samples are drawn by position, so an order
    that follows the ids would let a consistent renaming of the ids change the answer;
    ordered by value, only customers with identical features can trade places, and they are
    interchangeable. (Missing values sort last.)
    """
    return frame.iloc[_lexicographic_order(frame.to_numpy(dtype="float64"))]


def _lexicographic_order(values: np.ndarray) -> np.ndarray:
    """The rows of ``values`` sorted by the first column, ties by the second, and so on,
    ties on every column in row order, missing values last: ``np.lexsort(values.T[::-1])``.

    Sorts by the first column, then within each run of tied rows only, one column at a
    time, and stops when no two neighbours tie: a million customers rarely tie beyond the
    first two columns, so most columns are never sorted.
    """
    n, m = values.shape
    if n == 0 or m == 0:
        return np.arange(n)
    order = np.argsort(values[:, 0], kind="stable")
    # tied[i]: the rows at positions i and i + 1 are equal in every column sorted so far
    tied = _equal(values[order[:-1], 0], values[order[1:], 0])
    for j in range(1, m):
        pairs = np.flatnonzero(tied)
        if not len(pairs):
            break
        # the positions of the runs of tied rows, and which run each belongs to
        starts = np.ones(n, dtype=bool)
        starts[1:] = ~tied
        run = np.cumsum(starts)
        positions = np.union1d(pairs, pairs + 1)
        rows = order[positions]
        order[positions] = rows[np.lexsort((values[rows, j], run[positions]))]
        tied[pairs] = _equal(values[order[pairs], j], values[order[pairs + 1], j])
    return order


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``a == b``, with missing equal to missing (as sorting takes them)."""
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _event_customers(con: duckdb.DuckDBPyConnection, table: str, feats: FeatureTable) -> pd.Index:
    """Every customer id with at least one event row (usable or not).

    When the data-quality counts of ``feats`` say every row with a customer id and a time
    is one the features saw (none after the snapshot, of an unknown type or far out of
    time), they are the features' customers, and the events are not read again (a
    ``DISTINCT`` over twenty million ids: 1.3 s at L).
    """
    q = feats.data_quality
    unseen = (q.get("events_missing_time", 0) + q.get("events_after_snapshot", 0)
              + q.get("events_outside_time_range", 0) + sum(q.get("unknown_event_types", {}).values()))
    if not unseen:
        return feats.frame.index
    ids = con.execute(f"SELECT DISTINCT customer_id FROM {table} WHERE customer_id IS NOT NULL").fetchnumpy()
    return pd.Index(ids["customer_id"].astype(object), dtype=object)


def _status(segment: pd.Series, event_ids: pd.Index, without_features: str) -> np.ndarray:
    """Each customer's status: ``segmented``, ``noise``, ``no_usable_events`` (events, but
    none with a time, of a known type, before the snapshot and in the time range), or
    ``without_features`` (``no_events``; ``excluded`` in a customers-only run)."""
    missing = segment.isna().to_numpy()
    # looked up for the customers without a segment only, among the event customers that
    # are of them (pandas looks each value of its text ``isin`` up one at a time: seconds a million)
    absent = segment.index[missing]
    unusable = np.zeros(len(segment), dtype=bool)
    unusable[missing] = absent.isin(event_ids[event_ids.isin(absent)])
    # the four words taken by position: a million copies of one text object each, which
    # pandas turns into a text column at once (a million separate texts take a second)
    words = np.array(["segmented", "noise", "no_usable_events", without_features], dtype=object)
    return words[np.where(unusable, 2, np.where(missing, 3, np.where(segment.fillna(-1).to_numpy() < 0, 1, 0)))]


def _numeric_customer_columns(cust: pd.DataFrame, columns: tuple[str, ...], source: str) -> pd.DataFrame:
    out = {}
    for col in columns:
        if col not in cust.columns:
            raise InputError(f"missing column {col!r} (a feature column); found: {', '.join(cust.columns)}",
                             source=source)
        raw = cust[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            row = int(np.argmax(bad.to_numpy())) + 1
            raise InputError(f"{str(raw[bad].iloc[0])!r} is not a number", source=source, column=col, row=row)
        out[col] = num.astype(float)
    return pd.DataFrame(out, index=cust.index.astype(str))


def _profile_attributes(cust: pd.DataFrame | None, rows: np.ndarray | None, index: pd.Index, roles: Roles,
                        exclude: tuple[str, ...] = ()) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """Customer columns kept for profiling only (demographics, persona, attention), and the
    columns left out with the reason: the ``exclude`` columns (contact details of the
    mapping) always; other personal data (see :mod:`segmentkit.personal`) unless listed
    explicitly in ``roles.profile``; and text with too many values to profile. The
    clustered customers ``index`` are the ``rows`` of ``cust``."""
    if cust is None:
        return None, {}
    explicit = tuple(roles.profile or ())
    cols = list(explicit) if roles.profile is not None else [c for c in cust.columns if c not in roles.features]
    named = tuple(c for c in (roles.persona, roles.attention) if c is not None)
    skipped = {c: "a contact column of the mapping (never profiled)" for c in cols if c in exclude}
    skipped.update(personal_columns(cust[[c for c in cols if c in cust.columns and c not in skipped]],
                                    allowed=explicit + named))
    keep = []
    for c in cols:
        if c in skipped or c not in cust.columns:
            continue
        s = cust[c]
        if (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or c in named
                or c in explicit):
            keep.append(c)
        elif s.nunique(dropna=True) <= _MAX_PROFILE_LEVELS:
            keep.append(c)
        else:
            skipped[c] = f"more than {_MAX_PROFILE_LEVELS} distinct values"
    if not keep:
        return None, skipped
    out = _at_rows(cust[keep], rows, index)  # new arrays: changing them leaves cust alone
    for c in keep:
        if not (pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_bool_dtype(out[c])):
            out[c] = out[c].astype("string").astype(object)
    return out, skipped


def _families(prep: Preparation, X: np.ndarray, labels: np.ndarray, balanced: bool) -> dict[str, Any]:
    """Each feature family's columns, weight and share of what separates the segments."""
    families = prep.families(X, labels)
    return {"balanced": bool(balanced), "families": families, "sentence": families_sentence(families)}


def _customer_map(X: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    """A 2-D PCA map of a sample of customers, for the report.

    The projection is fitted on the same bounded stratified sample as the profiles' rules.
    """
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    n = X.shape[0]
    take = np.sort(rng.choice(n, size=min(n, _MAP_POINTS), replace=False))
    fit_rows = stratified_sample(labels, random_state=seed).rows
    pca = PCA(n_components=min(2, X.shape[1]), random_state=seed).fit(X[fit_rows])
    xy = pca.transform(X[take])
    if xy.shape[1] == 1:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    xy = np.round(xy, 4)
    return {
        "method": "pca",
        "explained_variance": [round(float(v), 6) for v in pca.explained_variance_ratio_],
        "points": [[float(a), float(b), int(c)] for a, b, c in zip(xy[:, 0], xy[:, 1], labels[take])],
    }


def _duplicates_quality(loaded: LoadedTable) -> dict[str, Any]:
    """The data-quality entries for event rows equal in every column to another row."""
    amount = None if loaded.duplicates_amount is None else round(loaded.duplicates_amount, 6)
    return {"duplicate_events_dropped": 0 if loaded.duplicates_kept else loaded.duplicates,
            "duplicate_events_kept": loaded.duplicates if loaded.duplicates_kept else 0,
            "duplicate_events_amount": amount}


def _duplicates_note(loaded: LoadedTable) -> str:
    """One plain sentence on the duplicate event rows (for stderr and the notes)."""
    n = loaded.duplicates
    carried = "" if loaded.duplicates_amount is None else f", net amount {loaded.duplicates_amount:,.2f}"
    if loaded.duplicates_kept:
        return f"{loaded.source}: {n:,} row(s) equal in every column to another row were kept as asked{carried}"
    return (f"{loaded.source}: {n:,} row(s) equal in every column to another row were dropped as "
            f"duplicates{carried}; if they are real repeat purchases, keep them with --keep-duplicates")


def _parameters(settings: Settings) -> dict[str, Any]:
    products = settings.products
    if isinstance(products, (str, Path)):
        products = Path(products).name  # the name only: a path may tell whose folder it is in
    elif products is not None:
        products = getattr(products, "name", "<products DataFrame>")
    return {
        "keep_duplicates": settings.keep_duplicates,
        "products": products,
        "columns": dict(settings.columns.__dict__),
        "roles": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.roles.__dict__.items()},
        "clustering": dict(settings.clustering.__dict__),
        "snapshot_date": settings.snapshot_date.isoformat() if settings.snapshot_date else None,
        **({"exclude": {column: list(values) for column, values in settings.exclude.items()}}
           if settings.exclude else {}),
    }


def _versions() -> dict[str, str]:
    import sklearn

    return {
        "segmentkit": __version__,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
    }
