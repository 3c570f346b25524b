"""The run summary as typed results: the one contract between the pipeline and its readers.

:class:`Summary` is what ``summary.json`` holds. :func:`build_summary` is the only place a
summary is made; the report, ``summary.md``, the CLI tables and the web app read its typed
fields. ``summary.schema.json`` (next to this module) is generated from these types
(:func:`summary_schema`) and committed; a test keeps the two equal.

Every model is frozen and forbids unknown fields (:class:`segmentkit.contract.Typed`), so a
stage that writes a field the contract does not declare fails at once. A stage's own result
types are declared once, in its module (:mod:`segmentkit.choose_k`, :mod:`segmentkit.profiles`,
:mod:`segmentkit.opportunities`, :mod:`segmentkit.personas`) and imported here; the rest of
the summary is declared below. To add a field: declare it on the right model (in the
position it should have in ``summary.json``), fill it in :func:`build_summary` or in the
stage, run ``python -m segmentkit.result`` to rewrite the schema, and bump
:data:`SCHEMA_VERSION` when a field is removed or changes meaning (adding a field does not).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import JsonValue, SerializerFunctionWrapHandler, ValidationError, model_serializer

from segmentkit.choose_k import Candidate, Constraints, KSelection
from segmentkit.contract import Typed
from segmentkit.errors import InputError, first_line
from segmentkit.holdout import HoldoutMetric, HoldoutPlan, HoldoutSegment
from segmentkit.opportunities import Opportunity
from segmentkit.personas import CrosstabShares, PersonaComparison, PersonaMatch, PersonaMerge, PersonaSplit, SeparatingFeature
from segmentkit.profiles import (
    CategoricalStat,
    Condition,
    Exemplar,
    NumericStat,
    Rule,
    SegmentProfile,
    SegmentStats,
    Trait,
)

__all__ = [
    "SCHEMA_PATH", "SCHEMA_VERSION", "Brief", "BriefNumber", "BriefSentence", "Candidate", "CategoricalStat",
    "CategoryLevel", "CategoryLevels", "Condition", "Constraints", "CrosstabShares", "CustomerMap", "DataQuality",
    "DescriptiveSample", "Exemplar", "FeatureFamilies", "FeatureFamily", "FitScope", "HoldoutMetric", "HoldoutPlan",
    "HoldoutSegment", "InputInfo", "KSelection", "Layers", "LifecycleGroup", "LifecycleRulesInfo", "NumericStat", "Opportunity", "PersonaComparison",
    "PersonaMatch", "PersonaMerge", "PersonaSplit", "Personas", "Rule", "Run", "Segment", "SegmentStats",
    "SeparatingFeature", "Structure", "Summary", "Trait", "Validation", "ValidationGroups", "build_summary",
    "summary_schema",
]

#: The comparison with personas, as ``summary.json`` holds it.
Personas = PersonaComparison

#: Version of the summary's shape; bumped when a field is removed or changes meaning.
SCHEMA_VERSION = 1
#: The committed JSON Schema of ``summary.json``.
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")

Status = Literal["segmented", "noise", "no_events", "no_usable_events", "excluded"]


# ---------------------------------------------------------------------------- segments


class BriefNumber(Typed):
    """A number a brief sentence cites (``cited`` false: it ranked the levers, not written)."""

    name: str
    label: str
    value: int | float | None
    unit: Literal["share", "days", "count", "amount", "index", "ratio", "trend", "segment", "number"]
    cited: bool


class BriefSentence(Typed):
    """One sentence of a segment's brief with the numbers it cites."""

    topic: Literal["who", "what", "where", "when", "price", "risk", "objective", "move_up"]
    title: str
    text: str
    numbers: list[BriefNumber]
    overridden: bool


class Brief(Typed):
    """A segment's brief (:mod:`segmentkit.briefs`)."""

    lifecycle: Literal["new", "active", "at risk", "lapsed", "one-time", "browsers"] | None
    objective: Literal["retain", "grow", "win back", "reactivate", "convert browsers", "second purchase", "onboard"]
    objective_rule: str
    move_up_to: int | None
    sentences: list[BriefSentence]


class Segment(SegmentProfile):
    """One segment as the summary holds it: its profile (:class:`~segmentkit.profiles.SegmentProfile`),
    its name and description, and its brief."""

    name: str
    description: str
    brief: Brief | None = None

    @model_serializer(mode="wrap")
    def _named_first(self, handler: SerializerFunctionWrapHandler):  # no return type: the schema stays the fields
        # summary.json reads id, name, description, then the profile, then the brief
        data = handler(self)
        head = {key: data.pop(key) for key in ("id", "name", "description")}
        return {**head, **data}


class DataQuality(Typed):
    """Every row dropped or changed, and every warning, counted (``None``: not measured)."""

    events_rows_read: int | None = None
    duplicate_events_dropped: int | None = None
    duplicate_events_kept: int | None = None
    duplicate_events_amount: float | None = None
    catalogue_products: int | None = None
    catalogue_lines_unknown_product: int | None = None
    catalogue_unknown_products: int | None = None
    events_distinct_rows: int | None = None
    events_missing_customer_id: int | None = None
    events_missing_time: int | None = None
    events_after_snapshot: int | None = None
    returns: int | None = None
    missing_values: dict[str, int] | None = None
    unknown_event_types: dict[str, int] | None = None
    customers_with_events: int | None = None
    customers_rows_read: int | None = None
    orphan_customers: int | None = None
    orphan_events: int | None = None
    customers_without_events: int | None = None
    customers_without_usable_events: int | None = None
    customers_excluded: int | None = None
    events_outside_time_range: int | None = None
    ids_trimmed: int | None = None
    non_finite_amounts: int | None = None
    non_finite_features: int | None = None
    imputed: dict[str, int]
    dropped_constant_features: list[str]
    notes: list[str]


class FitScope(Typed):
    """Which customers the clustering was fitted on (runs whose events Spark read).

    Up to ``driver_customers`` customers, all of them (``all_customers``); beyond, a
    stratified sample of that size on the driver, and Spark assigned every customer with the
    fitted nearest-centre rule (``stratified_sample``). Segment sizes, profiles and the
    assignments in memory are then those of the sample; the assignment files hold everyone.
    """

    fitted_on: Literal["all_customers", "stratified_sample"]
    customers: int
    customers_fitted: int
    driver_customers: int
    strata: str | None
    assigned_by: Literal["clustering", "spark_nearest_centre"]


class CategoryLevel(Typed):
    """A category level kept as a feature: how many customers buy it, its share of spend."""

    level: str
    customers: int
    customer_share: float
    spend_share: float


class CategoryLevels(Typed):
    """Which category levels became share features and why; the rest fold into ``other``."""

    levels_found: int
    rule: str
    kept: list[CategoryLevel]
    left_out_as_fees: list[str]
    folded_into_other: int


class DescriptiveSample(Typed):
    """The customers the descriptive fits (rules, surrogate, exemplars, map) used."""

    method: str
    size: int
    of: int
    max_size: int
    min_per_segment: int
    used_for: list[str]


class CustomerMap(Typed):
    """A 2-D map of a sample of customers: ``points`` are ``[x, y, segment id]``."""

    method: Literal["pca"]
    explained_variance: list[float]
    points: list[tuple[float, float, int]]


class InputInfo(Typed):
    """One input table: its name (never a password), SHA-256 of a file, rows read."""

    name: str
    sha256: str | None
    rows: int | None


class Run(Typed):
    """How to reproduce the run: the resolved settings, the inputs, the versions."""

    parameters: dict[str, JsonValue]
    inputs: dict[str, InputInfo]
    versions: dict[str, str]


class FeatureFamily(Typed):
    """One feature family: its columns, their weight and what it contributes."""

    columns: list[str]
    weight: float
    variance_share: float
    separation_share: float | None


class FeatureFamilies(Typed):
    """What each feature family contributes (``segmentkit.prepare``)."""

    balanced: bool
    families: dict[str, FeatureFamily]
    sentence: str


class ValidationGroups(Typed):
    """Share of next-period behaviour one grouping explains (η², 0..1)."""

    groups: int
    spend_eta2: float | None
    buy_again_eta2: float | None
    category_mix_eta2: float | None


class ValidationSample(Typed):
    """The customers a validation measured, when not all (``segmentkit.validation.sample_customers``)."""

    size: int
    of: int
    method: str


class Validation(Typed):
    """Out-of-time validation (``segmentkit.validation``); ``status`` skipped with a reason."""

    status: Literal["done", "skipped"]
    reason: str | None
    horizon_days: int | None = None
    cutoff: str | None = None
    n_customers: int | None = None
    sample: ValidationSample | None = None
    buyers_share: float | None = None
    segments: ValidationGroups | None = None
    rfm: ValidationGroups | None = None
    personas: ValidationGroups | None = None
    sentence: str | None = None


class LifecycleRulesInfo(Typed):
    """The fitted rules of the lifecycle layer (``segmentkit.lifecycle.LifecycleRules``)."""

    new_tenure_days: float
    lapsed_gaps: float
    lapsed_days: float
    lapsed_max_days: float
    median_gap_days: float | None


class LifecycleGroup(Typed):
    """One lifecycle group: its segment id, name and number of customers."""

    group: Literal["new", "one-time", "browsers", "lapsed"]
    id: int
    name: str
    customers: int


class Layers(Typed):
    """A layered segmentation (``--layers lifecycle``): lifecycle groups by rule, behavioural
    segments (``behaviour_segments``, the ones ``k`` of ``k_selection`` counts) found by the
    clustering among the ``active_customers`` only."""

    mode: Literal["lifecycle"]
    rules: LifecycleRulesInfo
    sentence: str
    active_customers: int
    behaviour_segments: list[int]
    groups: list[LifecycleGroup]
    #: what each layer's profiles are compared with: the behavioural segments with the
    #: active base, the groups with everyone (shares are of everyone)
    baseline: str | None = None


class Structure(Typed):
    """How strong the found structure is (``segmentkit.choose_k.structure_strength``)."""

    silhouette: float | None
    reading: str | None
    near_border_share: float | None
    near_border_threshold: float
    sentence: str | None


class Summary(Typed):
    """Every number of a run: the content of ``summary.json``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    segmentkit_version: str
    n_customers: int
    n_segmented: int
    snapshot_date: str | None
    algorithm: str
    k: int
    seed: int
    status_counts: dict[Status, int]
    features: list[str]
    features_skipped: dict[str, str]
    category_levels: CategoryLevels | None
    profile_skipped: dict[str, str]
    feature_labels: dict[str, str]
    algorithm_details: dict[str, JsonValue]
    k_selection: KSelection
    feature_families: FeatureFamilies
    validation: Validation
    structure: Structure
    layers: Layers | None = None
    segments: list[Segment]
    surrogate_accuracy: float | None
    descriptive_sample: DescriptiveSample | None
    personas: PersonaComparison | None
    opportunities: list[Opportunity]
    data_quality: DataQuality
    fit_scope: FitScope | None = None
    holdout: HoldoutPlan | None = None
    customer_map: CustomerMap
    run: Run

    def segment(self, segment_id: int) -> Segment:
        """The segment with id ``segment_id``."""
        for seg in self.segments:
            if seg.id == segment_id:
                return seg
        raise KeyError(segment_id)

    @property
    def segment_names(self) -> dict[int, str]:
        """Segment id → name."""
        return {seg.id: seg.name for seg in self.segments}

    def feature_label(self, name: str) -> str:
        """The plain-words label of a feature (its name when it has none)."""
        return self.feature_labels.get(name, name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``summary.json`` holds)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Read a summary (e.g. a loaded ``summary.json``); raises if it breaks the contract."""
        return cls.model_validate(data)

    @classmethod
    def read(cls, path: str | Path) -> Summary:
        """Read ``summary.json`` written by a run.

        Raises
        ------
        InputError
            In one line naming the file and the first field that breaks the contract (or
            that the file is missing or not JSON): a summary written by hand, cut short, or
            by another version of segmentkit.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("no such file", source=str(path)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON ({first_line(exc)})", source=str(path)) from None
        try:
            return cls.from_dict(data)
        except ValidationError as exc:
            raise InputError(f"not a summary segmentkit wrote: {_first_problem(exc)}", source=str(path)) from None


def _first_problem(exc: ValidationError) -> str:
    """The first contract break of a validation error, as ``field.path: message``."""
    errors = exc.errors()
    if not errors:
        return first_line(exc)
    where = ".".join(str(part) for part in errors[0]["loc"]) or "the top level"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {errors[0]['msg']}{more}"


def build_summary(parts: Mapping[str, Any]) -> Summary:
    """The one way a summary is made: validate the stages' JSON-safe parts as a :class:`Summary`.

    Parameters
    ----------
    parts : mapping
        Every top-level field of :class:`Summary` (except ``schema_version``), made
        JSON-safe (``segmentkit.export.json_safe``).

    Raises
    ------
    pydantic.ValidationError
        When a part breaks the contract (a field missing, unknown or of the wrong type):
        a programming error, never a user error.
    """
    return Summary.model_validate({"schema_version": SCHEMA_VERSION, **parts})


def summary_schema() -> dict[str, Any]:
    """The JSON Schema of ``summary.json``, generated from :class:`Summary`."""
    schema = Summary.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://segmentkit.invalid/summary.schema.v{SCHEMA_VERSION}.json"
    return schema


def schema_text() -> str:
    """The schema as the committed file holds it (sorted keys, two-space indent)."""
    return json.dumps(summary_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # rewrite the committed schema after changing the types
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
