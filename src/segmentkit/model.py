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
from segmentkit.errors import InputError
from segmentkit.prepare import Preparation

__all__ = ["SegmentationModel", "MODEL_FORMAT"]

MODEL_FORMAT = "segmentkit-model/1"


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
        if self.assign_noise and (labels < 0).any() and self.centres:
            ids = np.array(sorted(self.centres))
            centres = np.array([self.centres[i] for i in ids])
            fill, _ = algorithms.nearest_centre(centres, X[labels < 0])
            labels = labels.copy()
            labels[labels < 0] = ids[fill]
        return labels, confidence

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SegmentationModel":
        """Rebuild from :meth:`to_dict` output (plain data only)."""
        if data.get("format") != MODEL_FORMAT:
            raise InputError(f"not a segmentkit model (format {data.get('format')!r})")
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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"model.json is not valid JSON ({exc})", source=str(path)) from None
        return cls.from_dict(data)
