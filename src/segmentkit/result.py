"""The run summary as typed results: the one contract between the pipeline and its readers.

:class:`Summary` is what ``summary.json`` holds. :func:`build_summary` is the only place a
summary is made; the report, ``summary.md``, the CLI tables and the web app read its typed
fields. ``summary.schema.json`` (next to this module) is generated from these types
(:func:`summary_schema`) and committed; a test keeps the two equal.

Every model is frozen and forbids unknown fields, so a stage that writes a field the
contract does not declare fails at once. To add a field: declare it on the right model
below (in the position it should have in ``summary.json``), fill it in
:func:`build_summary` or in the stage's ``to_dict``, run
``python -m segmentkit.result`` to rewrite the schema, and bump :data:`SCHEMA_VERSION` when
a field is removed or changes meaning (adding a field does not).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, JsonValue

__all__ = [
    "SCHEMA_PATH", "SCHEMA_VERSION", "Brief", "BriefNumber", "BriefSentence", "Candidate", "CategoricalStat",
    "CategoryLevel", "CategoryLevels", "Condition", "CustomerMap", "DataQuality", "DescriptiveSample", "Exemplar",
    "FeatureFamilies", "FeatureFamily", "FitScope", "HoldoutMetric", "HoldoutPlan", "HoldoutSegment", "InputInfo", "KSelection",
    "NumericStat", "Opportunity", "PersonaMatch", "PersonaMerge", "PersonaSplit", "Personas", "Rule", "Run",
    "Segment", "SegmentProfile", "SeparatingFeature", "Structure", "Summary", "Trait", "Validation",
    "ValidationGroups", "build_summary", "summary_schema",
]

#: Version of the summary's shape; bumped when a field is removed or changes meaning.
SCHEMA_VERSION = 1
#: The committed JSON Schema of ``summary.json``.
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")

Status = Literal["segmented", "noise", "no_events", "no_usable_events", "excluded"]


class _Typed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)


# ---------------------------------------------------------------------------- segments


class Trait(_Typed):
    """A feature that sets a segment apart (``top_features``), with its sentence."""

    feature: str
    label: str
    segment_mean: float | None
    overall_mean: float | None
    index: float | None
    effect_size: float | None
    direction: Literal["higher", "lower"]
    sentence: str


class Condition(_Typed):
    """One threshold of a rule: ``feature op threshold``."""

    feature: str
    op: Literal["<=", ">", ">=", "<"]
    threshold: float | None


class Rule(_Typed):
    """A readable rule describing (part of) a segment."""

    text: str
    precision: float | None
    coverage: float | None
    support: int
    conditions: list[Condition]


class Exemplar(_Typed):
    """A typical customer, shown by feature values only: never an identifier."""

    rank: int
    features: dict[str, float | None]
    distance: float | None
    confidence: float | None


class NumericStat(_Typed):
    """A numeric feature or attribute within a segment against all customers."""

    type: Literal["numeric"]
    mean: float | None
    median: float | None
    overall_mean: float | None
    overall_median: float | None
    index: float | None
    effect_size: float | None
    p_value: float | None
    p_adjusted: float | None
    significant: bool


class CategoricalStat(_Typed):
    """A categorical attribute: level shares within the segment and overall."""

    type: Literal["categorical"]
    shares: dict[str, float | None]
    overall_shares: dict[str, float | None]
    lift: dict[str, float | None]
    cramers_v: float | None
    p_value: float | None
    p_adjusted: float | None
    significant: bool


class SegmentProfile(_Typed):
    """Every feature and every profile-only attribute of a segment."""

    features: dict[str, NumericStat]
    attributes: dict[str, NumericStat | CategoricalStat]


class BriefNumber(_Typed):
    """A number a brief sentence cites (``cited`` false: it ranked the levers, not written)."""

    name: str
    label: str
    value: int | float | None
    unit: Literal["share", "days", "count", "amount", "index", "ratio", "trend", "segment", "number"]
    cited: bool


class BriefSentence(_Typed):
    """One sentence of a segment's brief with the numbers it cites."""

    topic: Literal["who", "what", "where", "when", "price", "risk", "objective", "move_up"]
    title: str
    text: str
    numbers: list[BriefNumber]
    overridden: bool


class Brief(_Typed):
    """A segment's brief (:mod:`segmentkit.briefs`)."""

    lifecycle: Literal["new", "active", "at risk", "lapsed"] | None
    objective: Literal["retain", "grow", "win back", "reactivate", "convert browsers"]
    objective_rule: str
    move_up_to: int | None
    sentences: list[BriefSentence]


class Segment(_Typed):
    """One segment (``id`` −1: the customers left as noise)."""

    id: int
    name: str
    description: str
    size: int
    share: float
    value_share: float | None
    value_index: float | None
    value_mean: float | None
    is_noise: bool
    top_features: list[Trait]
    rules: list[Rule]
    exemplars: list[Exemplar]
    profile: SegmentProfile
    brief: Brief | None = None


# --------------------------------------------------------------------------- choosing k


class Candidate(_Typed):
    """One (algorithm, k) candidate of the selection with every metric."""

    algorithm: str
    k: int
    params: dict[str, JsonValue]
    min_cluster_share: float | None
    silhouette: float | None
    silhouette_se: float | None
    calinski_harabasz: float | None
    davies_bouldin: float | None
    inertia: float | None
    bic: float | None
    stability: float | None
    segment_stability: list[float | None]
    min_share: float | None
    segment_shares: list[float | None]
    noise_share: float | None
    value_min_share: float | None
    distinguishability: float | None
    stable: bool
    eligible: bool
    why_not: str | None


class Constraints(_Typed):
    """What a usable segmentation must satisfy."""

    min_share: float | None
    max_segments: int | None
    min_value_share: float | None
    max_noise_share: float | None


class KSelection(_Typed):
    """The candidates and the recommendation, with its reason in plain words."""

    candidates: list[Candidate]
    recommended_k: int
    recommended_algorithm: str
    recommended_params: dict[str, JsonValue]
    reason: str
    knee_k: int | None
    n_rows: int
    sample_size: int
    fixed_k: int | None
    constraints: Constraints


# ---------------------------------------------------------------------------- personas


class PersonaMatch(_Typed):
    """A persona and a segment of the one-to-one matching."""

    persona: str
    segment: int
    name: str
    persona_share: float | None
    segment_share: float | None
    jaccard: float | None


class SeparatingFeature(_Typed):
    """A behavioural feature that differs between the sub-segments of a persona."""

    feature: str
    label: str
    values: dict[int, float | None]
    effect_size: float | None
    sentence: str


class PersonaSplit(_Typed):
    """A persona whose members fall into two or more segments."""

    persona: str
    segments: list[int]
    names: list[str]
    shares: dict[int, float | None]
    separating_features: list[SeparatingFeature]
    demographic_similarity: float | None
    demographic_by_column: dict[str, float | None]
    lookalike: bool


class PersonaMerge(_Typed):
    """A segment in which two or more personas behave alike."""

    segment: int
    name: str
    personas: list[str]
    shares: dict[str, float | None]
    persona_shares: dict[str, float | None]


class CrosstabShares(_Typed):
    """The persona × segment table as shares of each persona and of each segment."""

    by_persona: dict[str, dict[int, float | None]]
    by_segment: dict[int, dict[str, float | None]]


class Personas(_Typed):
    """Segments against the client's personas."""

    column: str
    ari: float | None
    ami: float | None
    nmi: float | None
    v_measure: float | None
    n_customers: int
    n_missing_persona: int
    n_noise: int
    personas: list[str]
    segment_names: dict[int, str]
    crosstab: dict[str, dict[int, int]]
    crosstab_shares: CrosstabShares
    matching: list[PersonaMatch]
    matches: list[PersonaMatch]
    splits: list[PersonaSplit]
    merges: list[PersonaMerge]
    new_segments: list[int]
    dissolved: list[str]
    persona_kinds: dict[str, str]
    segment_kinds: dict[int, str]
    narrative: str


# ------------------------------------------------------------------------ opportunities


class Opportunity(_Typed):
    """A segment's value against the marketing attention it gets."""

    segment: int
    name: str
    size: int
    share: float | None
    value_per_customer: float | None
    value_index: float | None
    value_share: float | None
    attention_per_customer: float | None
    attention_index: float | None
    attention_share: float | None
    clv_per_customer: float | None
    clv_index: float | None
    kind: Literal["under-served", "over-served", "balanced"]
    gap: float | None
    attention_to_parity: float | None
    reason: str


# ---------------------------------------------------------------------- data and the run


class DataQuality(_Typed):
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
    events_outside_time_range: int | None = None
    ids_trimmed: int | None = None
    non_finite_amounts: int | None = None
    non_finite_features: int | None = None
    imputed: dict[str, int]
    dropped_constant_features: list[str]
    notes: list[str]


class FitScope(_Typed):
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


class CategoryLevel(_Typed):
    """A category level kept as a feature: how many customers buy it, its share of spend."""

    level: str
    customers: int
    customer_share: float
    spend_share: float


class CategoryLevels(_Typed):
    """Which category levels became share features and why; the rest fold into ``other``."""

    levels_found: int
    rule: str
    kept: list[CategoryLevel]
    left_out_as_fees: list[str]
    folded_into_other: int


class DescriptiveSample(_Typed):
    """The customers the descriptive fits (rules, surrogate, exemplars, map) used."""

    method: str
    size: int
    of: int
    max_size: int
    min_per_segment: int
    used_for: list[str]


class CustomerMap(_Typed):
    """A 2-D map of a sample of customers: ``points`` are ``[x, y, segment id]``."""

    method: Literal["pca"]
    explained_variance: list[float]
    points: list[tuple[float, float, int]]


class InputInfo(_Typed):
    """One input table: its name (never a password), SHA-256 of a file, rows read."""

    name: str
    sha256: str | None
    rows: int | None


class Run(_Typed):
    """How to reproduce the run: the resolved settings, the inputs, the versions."""

    parameters: dict[str, JsonValue]
    inputs: dict[str, InputInfo]
    versions: dict[str, str]


class HoldoutMetric(_Typed):
    """What one metric needs for a segment's control group (:mod:`segmentkit.holdout`)."""

    metric: Literal["repeat_rate", "spend"]
    base: float | None
    expected: float | None
    spread: float | None
    holdout_share: float | None
    detectable_lift_at_max_share: float | None
    reason: str


class HoldoutSegment(_Typed):
    """The control group planned for one segment."""

    segment_id: int
    size: int
    holdout_share: float
    expected_holdout: int
    testable: bool
    metrics: list[HoldoutMetric]
    reason: str


class HoldoutPlan(_Typed):
    """Control groups per segment (``--holdout``)."""

    min_lift: float
    alpha: float
    power: float
    seed: int
    assignment: str
    segments: list[HoldoutSegment]


class FeatureFamily(_Typed):
    """One feature family: its columns, their weight and what it contributes."""

    columns: list[str]
    weight: float
    variance_share: float
    separation_share: float | None


class FeatureFamilies(_Typed):
    """What each feature family contributes (``segmentkit.prepare``)."""

    balanced: bool
    families: dict[str, FeatureFamily]
    sentence: str


class ValidationGroups(_Typed):
    """Share of next-period behaviour one grouping explains (η², 0..1)."""

    groups: int
    spend_eta2: float | None
    buy_again_eta2: float | None
    category_mix_eta2: float | None


class Validation(_Typed):
    """Out-of-time validation (``segmentkit.validation``); ``status`` skipped with a reason."""

    status: Literal["done", "skipped"]
    reason: str | None
    horizon_days: int | None = None
    cutoff: str | None = None
    n_customers: int | None = None
    buyers_share: float | None = None
    segments: ValidationGroups | None = None
    rfm: ValidationGroups | None = None
    personas: ValidationGroups | None = None
    sentence: str | None = None


class Structure(_Typed):
    """How strong the found structure is (``segmentkit.choose_k.structure_strength``)."""

    silhouette: float | None
    reading: str | None
    near_border_share: float | None
    near_border_threshold: float
    sentence: str | None


class Summary(_Typed):
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
    segments: list[Segment]
    surrogate_accuracy: float | None
    descriptive_sample: DescriptiveSample | None
    personas: Personas | None
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
        """Read ``summary.json``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


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
