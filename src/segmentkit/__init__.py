"""segmentkit: behavioral audience segmentation by clustering.

The public API::

    from segmentkit import Segmentation, assign, load_settings
    result = Segmentation(persona_column="persona").fit(customers="c.csv", events="e.csv")
    result.write("out")

Names are imported on first use, so ``import segmentkit.sources`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ColumnMapping": "segmentkit.config",
    "Settings": "segmentkit.config",
    "load_settings": "segmentkit.config",
    "InputError": "segmentkit.errors",
    "SegmentationModel": "segmentkit.model",
    "Segmentation": "segmentkit.pipeline",
    "SegmentationResult": "segmentkit.pipeline",
    "assign": "segmentkit.pipeline",
    "score": "segmentkit.pipeline",
    "Scored": "segmentkit.pipeline",
    "SqlQuery": "segmentkit.database",
    "Summary": "segmentkit.result",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segmentkit' has no attribute {name!r}")
