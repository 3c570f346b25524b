"""A fitted segmentation saved as JSON, and assigning new customers with it.

``model/model.json`` holds everything :func:`assign` needs: the column mapping, the feature
definitions and levels, the fitted preprocessing, the algorithm's JSON state, the mapping of
raw labels to segment ids, and the segment names. Loading parses JSON only: nothing in the
file is ever executed (no pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from segmentkit import algorithms
from segmentkit.briefs import parse_brief_overrides
from segmentkit.errors import InputError, first_line
from segmentkit.lifecycle import GROUPS, RULE_FEATURES, LifecycleRules, layer_labels, lifecycle_groups
from segmentkit.prepare import Preparation

__all__ = ["SegmentationModel", "MODEL_FORMAT", "MODEL_SCHEMA", "load_model", "validate_model"]

MODEL_FORMAT = "segmentkit-model/1"

#: Bounds of a model file, so that reading one can never take unbounded time or memory:
#: its size, the nesting of its JSON, the numbers it may hold, the segment ids (a label id
#: sizes a lookup table) and the feature count.
MAX_MODEL_BYTES = 256 * 2**20
MAX_DEPTH = 8
MAX_VALUES = 20_000_000
MAX_SEGMENT_ID = 1000
MAX_FEATURES = 10_000
#: Bounds of the exclude rules a model keeps (staff and test accounts are named by a few
#: columns and values; these are far above any real list and keep matching cheap).
MAX_EXCLUDE_COLUMNS = 100
MAX_EXCLUDE_VALUES = 10_000
MAX_EXCLUDE_TEXT = 1_000

#: The declared schema of ``model.json``: key → (JSON type, required).
MODEL_SCHEMA: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "format": (str, True), "algorithm": (str, True), "state": (dict, True), "label_map": (dict, True),
    "preparation": (dict, True), "feature_names": (list, True), "levels": (dict, True), "columns": (dict, True),
    "feature_columns": (list, False), "names": (dict, False), "generated_names": (dict, False),
    "overrides": (dict, False), "centres": (dict, False), "assign_noise": (bool, False),
    "uses_events": (bool, False), "baseline": (dict, False), "exclude": (dict, False), "lifecycle": (dict, False),
    "brief_overrides": (dict, False),
}
_TRANSFORM_NUMBERS = ("impute", "center", "scale", "prior", "prior_weight")
_JSON_TYPES = {str: "text", dict: "an object", list: "a list", bool: "true or false"}


def _walk(value: Any, where: str, depth: int, count: list[int]) -> None:
    """Every number finite, nesting bounded, the number of values bounded."""
    if depth > MAX_DEPTH:
        raise InputError(f"{where!r} is nested more than {MAX_DEPTH} deep", source="model.json")
    count[0] += 1
    if count[0] > MAX_VALUES:
        raise InputError(f"holds more than {MAX_VALUES:,} values", source="model.json")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not np.isfinite(value):
            raise InputError(f"{where!r} must hold finite numbers, found {value!r}", source="model.json")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{where}.{k}" if where else str(k), depth + 1, count)
    elif isinstance(value, list):
        for v in value:
            _walk(v, where, depth + 1, count)


def _int_key(key: str, where: str, low: int, high: int) -> int:
    try:
        k = int(key)
    except (TypeError, ValueError):
        raise InputError(f"{where!r} keys must be segment ids, found {key!r}", source="model.json") from None
    if not low <= k <= high:
        raise InputError(f"{where!r} segment id {k} is outside {low}..{high}", source="model.json")
    return k


def validate_model(data: Any) -> None:
    """Check parsed ``model.json`` against :data:`MODEL_SCHEMA` and its bounds.

    Raises
    ------
    InputError
        Naming the key that is wrong and what is allowed.
    """
    if not isinstance(data, dict):
        raise InputError(f"must be an object (a saved model), found {type(data).__name__}", source="model.json")
    if data.get("format") != MODEL_FORMAT:
        raise InputError(f"not a segmentkit model (format {data.get('format')!r}; expected {MODEL_FORMAT!r})",
                         source="model.json")
    for key, (kind, required) in MODEL_SCHEMA.items():
        if key not in data:
            if required:
                raise InputError(f"missing {key!r}", source="model.json")
            continue
        if not isinstance(data[key], kind) or (kind is not bool and isinstance(data[key], bool)):
            raise InputError(f"{key!r} must be {_JSON_TYPES.get(kind, kind)}, found {type(data[key]).__name__}",
                             source="model.json")
    _walk(data, "", 0, [0])
    known = algorithms.names()
    if data["algorithm"] not in known:
        raise InputError(f"'algorithm' must be one of {', '.join(known)}; found {data['algorithm']!r}",
                         source="model.json")
    for k, v in data["label_map"].items():
        _int_key(k, "label_map", -1, MAX_SEGMENT_ID)
        if not isinstance(v, int) or isinstance(v, bool) or not -1 <= v <= MAX_SEGMENT_ID:
            raise InputError(f"'label_map' values must be segment ids from -1 to {MAX_SEGMENT_ID}, found {v!r}",
                             source="model.json")
    names = data["feature_names"]
    if not names or len(names) > MAX_FEATURES or not all(isinstance(n, str) for n in names):
        raise InputError(f"'feature_names' must be a list of 1 to {MAX_FEATURES:,} names", source="model.json")
    prep = data["preparation"].get("columns")
    if not isinstance(prep, list) or not prep or len(prep) > len(names):
        raise InputError("'preparation.columns' must be a list of column transforms, one per used feature",
                         source="model.json")
    for c in prep:
        ok = (isinstance(c, dict) and c.get("name") in names and isinstance(c.get("log"), bool)
              and all(isinstance(c.get(f, 0.0), (int, float)) and not isinstance(c.get(f, 0.0), bool)
                      for f in _TRANSFORM_NUMBERS))
        if not ok:
            raise InputError("'preparation.columns' must hold column transforms (name, log, impute, center, "
                             "scale) of the model's features", source="model.json")
        if c["scale"] == 0:
            raise InputError("'preparation.columns' scale must not be 0", source="model.json")
    width = len(prep)
    centres = data["state"].get("centres")
    if centres is not None and not (isinstance(centres, list) and 0 < len(centres) <= MAX_SEGMENT_ID and all(
            isinstance(r, list) and len(r) == width and all(isinstance(x, (int, float)) for x in r) for r in centres)):
        raise InputError(f"'state.centres' must be a list of segment centres with {width} numbers each",
                         source="model.json")
    for key in ("names", "generated_names", "overrides", "centres"):
        for k, v in data.get(key, {}).items():
            _int_key(k, key, -1, MAX_SEGMENT_ID)
            if key == "centres" and not (isinstance(v, list) and len(v) == width):
                raise InputError(f"'centres' must hold {width} numbers per segment", source="model.json")
            if key != "centres" and not isinstance(v, str):
                raise InputError(f"{key!r} must map segment ids to names", source="model.json")
    for k, v in data["levels"].items():
        if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise InputError("'levels' must map a column role to a list of levels", source="model.json")
    if not all(v is None or isinstance(v, str) for v in data["columns"].values()):  # None: a role not read
        raise InputError("'columns' must map roles to column names", source="model.json")
    _check_exclude(data.get("exclude", {}))
    try:
        parse_brief_overrides(data.get("brief_overrides", {}), "brief_overrides")
    except ValueError as exc:
        raise InputError(str(exc), source="model.json") from None
    if "lifecycle" in data:
        _check_lifecycle(data["lifecycle"], names)


def _check_lifecycle(layer: dict[str, Any], feature_names: list[str]) -> None:
    """The lifecycle layer: its rules (:class:`~segmentkit.lifecycle.LifecycleRules`), the
    segment id of each group, and the features the rules read among the model's."""
    try:
        LifecycleRules.from_dict(layer.get("rules") if isinstance(layer.get("rules"), dict) else {})
    except ValueError as exc:
        raise InputError(f"'lifecycle.rules': {exc}", source="model.json") from None
    ids = layer.get("group_ids")
    if not (isinstance(ids, dict) and ids and all(
            g in GROUPS and isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SEGMENT_ID
            for g, v in ids.items())):
        raise InputError(f"'lifecycle.group_ids' must map groups ({', '.join(GROUPS)}) to segment ids from 0 to "
                         f"{MAX_SEGMENT_ID}", source="model.json")
    lacking = [f for f in RULE_FEATURES if f not in feature_names]
    if lacking:
        raise InputError(f"'lifecycle' rules read {', '.join(lacking)}, which are not among 'feature_names'",
                         source="model.json")


def _check_exclude(rules: dict[str, Any]) -> None:
    """The exclude rules: at most :data:`MAX_EXCLUDE_COLUMNS` columns, each naming 1 to
    :data:`MAX_EXCLUDE_VALUES` non-empty texts of at most :data:`MAX_EXCLUDE_TEXT` characters."""
    def text(v: Any) -> bool:
        return isinstance(v, str) and 0 < len(v.strip()) and len(v) <= MAX_EXCLUDE_TEXT

    if len(rules) > MAX_EXCLUDE_COLUMNS or not all(
            text(column) and isinstance(values, list) and 0 < len(values) <= MAX_EXCLUDE_VALUES
            and all(text(v) for v in values) for column, values in rules.items()):
        raise InputError(f"'exclude' must map at most {MAX_EXCLUDE_COLUMNS} column names to lists of 1 to "
                         f"{MAX_EXCLUDE_VALUES:,} texts of at most {MAX_EXCLUDE_TEXT:,} characters",
                         source="model.json")


@dataclass(frozen=True)
class SegmentationModel:
    """What is needed to put new customers into the segments of a run.

    Attributes
    ----------
    algorithm : str
        Registry name of the algorithm.
    state : dict
        The algorithm's fitted JSON state.
    label_map : dict
        Raw algorithm label → segment id (ids are canonical: largest segment 0).
    preparation : Preparation
        Fitted preprocessing.
    feature_names : tuple of str
        Feature columns before preparation.
    levels : dict
        Category/channel levels of the share features.
    columns : dict
        Column mapping (role → input name).
    feature_columns : tuple of str
        Customer columns used as features.
    names : dict
        Segment id → name (as shown, overrides applied).
    generated_names : dict
        Segment id → generated name (carried to the next run for matched segments).
    overrides : dict
        Segment id → name chosen by the user (re-applied on every refresh).
    centres : dict
        Segment id → centre in the prepared space (for matching across refreshes).
    assign_noise : bool
        Whether noise points were put into their nearest segment.
    uses_events : bool
        Whether the features come from events.
    baseline : dict
        Feature distributions and segment shares of the run (see :mod:`segmentkit.drift`),
        to measure how far later customers have moved.
    exclude : dict
        The run's exclude rules, customers-table column → values
        (:mod:`segmentkit.exclusions`), applied again when customers are assigned.
    lifecycle : LifecycleRules or None
        The fitted rules of a layered run (``None``: flat), applied before the algorithm's
        rule (:meth:`assign_frame`).
    lifecycle_ids : dict
        Lifecycle group → segment id (the groups that were not empty in the run).
    brief_overrides : dict
        Segment id → {brief topic → the user's sentence} (re-applied on every refresh, like
        ``overrides``).
    """

    algorithm: str
    state: dict[str, Any]
    label_map: dict[int, int]
    preparation: Preparation
    feature_names: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    columns: dict[str, str]
    feature_columns: tuple[str, ...] = ()
    names: dict[int, str] = field(default_factory=dict)
    generated_names: dict[int, str] = field(default_factory=dict)
    overrides: dict[int, str] = field(default_factory=dict)
    centres: dict[int, list[float]] = field(default_factory=dict)
    assign_noise: bool = False
    uses_events: bool = True
    baseline: dict[str, Any] = field(default_factory=dict)
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lifecycle: LifecycleRules | None = None
    lifecycle_ids: dict[str, int] = field(default_factory=dict)
    brief_overrides: dict[int, dict[str, str]] = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Segment ids (−1 for noise) and confidence for rows of a prepared matrix."""
        spec = algorithms.get(self.algorithm)
        raw, confidence = spec.predict(self.state, X)
        raw = np.asarray(raw, dtype=int)
        lookup = np.full(max(self.label_map, default=0) + 2, -1, dtype=int)
        for k, v in self.label_map.items():
            if k >= 0:
                lookup[k] = v
        labels = np.where(raw >= 0, lookup[np.clip(raw, 0, len(lookup) - 1)], -1)
        if self.assign_noise:
            labels = algorithms.assign_noise(labels, X, self.centres)
        return labels, confidence

    def assign_frame(self, frame: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Segment ids and confidence for a feature frame (one row per customer).

        A layered model puts the customers its lifecycle rules match into their group
        (confidence 1: a rule, not a distance); a customer of a group that was empty in the
        run, and everybody else, gets the algorithm's segment (:meth:`predict`).
        """
        labels, confidence = self.predict(self.preparation.transform(frame))
        if self.lifecycle is None:
            return labels, confidence
        groups = lifecycle_groups(frame, self.lifecycle)
        ruled = groups.isin(list(self.lifecycle_ids)).to_numpy()
        labels = layer_labels(groups, self.lifecycle_ids, labels)
        if confidence is not None:
            confidence = np.where(ruled, 1.0, confidence)
        return labels, confidence

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``lifecycle`` only for a layered model, ``brief_overrides`` only
        when the user replaced sentences of the briefs)."""
        layer = {} if self.lifecycle is None else {"lifecycle": {
            "rules": self.lifecycle.to_dict(), "group_ids": dict(self.lifecycle_ids)}}
        return {**layer,
            "format": MODEL_FORMAT,
            "algorithm": self.algorithm,
            "state": self.state,
            "label_map": {str(k): int(v) for k, v in sorted(self.label_map.items())},
            "preparation": self.preparation.to_dict(),
            "feature_names": list(self.feature_names),
            "levels": {k: list(v) for k, v in self.levels.items()},
            "columns": dict(self.columns),
            "feature_columns": list(self.feature_columns),
            "names": {str(k): v for k, v in sorted(self.names.items())},
            "generated_names": {str(k): v for k, v in sorted(self.generated_names.items())},
            "overrides": {str(k): v for k, v in sorted(self.overrides.items())},
            "centres": {str(k): list(v) for k, v in sorted(self.centres.items())},
            "assign_noise": self.assign_noise,
            "uses_events": self.uses_events,
            "baseline": self.baseline,
            "exclude": {k: list(v) for k, v in self.exclude.items()},
            **({"brief_overrides": {str(k): dict(v) for k, v in sorted(self.brief_overrides.items())}}
               if self.brief_overrides else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SegmentationModel":
        """Rebuild from :meth:`to_dict` output (plain data only), checked by :func:`validate_model`."""
        validate_model(data)
        return cls(
            algorithm=str(data["algorithm"]),
            state=dict(data["state"]),
            label_map={int(k): int(v) for k, v in data["label_map"].items()},
            preparation=Preparation.from_dict(data["preparation"]),
            feature_names=tuple(data["feature_names"]),
            levels={k: tuple(v) for k, v in data["levels"].items()},
            columns=dict(data["columns"]),
            feature_columns=tuple(data.get("feature_columns", ())),
            names={int(k): str(v) for k, v in data.get("names", {}).items()},
            generated_names={int(k): str(v) for k, v in data.get("generated_names", {}).items()},
            overrides={int(k): str(v) for k, v in data.get("overrides", {}).items()},
            centres={int(k): [float(x) for x in v] for k, v in data.get("centres", {}).items()},
            assign_noise=bool(data.get("assign_noise", False)),
            uses_events=bool(data.get("uses_events", True)),
            baseline=dict(data.get("baseline", {})),
            exclude={str(k): tuple(str(x).strip() for x in v) for k, v in data.get("exclude", {}).items()},
            lifecycle=LifecycleRules.from_dict(data["lifecycle"]["rules"]) if "lifecycle" in data else None,
            lifecycle_ids={str(k): int(v) for k, v in data.get("lifecycle", {}).get("group_ids", {}).items()},
            brief_overrides=parse_brief_overrides(data.get("brief_overrides", {})),
        )

    def save(self, directory: str | Path) -> Path:
        """Write ``model.json`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        path = d / "model.json"
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "SegmentationModel":
        """Read a model written by :meth:`save` (JSON only; nothing is executed)."""
        d = Path(directory)
        path = d / "model.json" if d.is_dir() else d
        if not path.is_file():
            raise InputError("no model.json here", source=str(directory))
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise InputError(f"larger than {MAX_MODEL_BYTES // 2**20} MB: not a model segmentkit wrote",
                             source="model.json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON ({first_line(exc)})", source="model.json") from None
        except RecursionError:
            raise InputError(f"nested more than {MAX_DEPTH} deep: not a model segmentkit wrote",
                             source="model.json") from None
        return cls.from_dict(data)


def load_model(path: str | Path) -> SegmentationModel:
    """The saved model of a run, from its output folder or its ``model/`` folder."""
    p = Path(path)
    return SegmentationModel.load(p / "model" if (p / "model").is_dir() else p)
