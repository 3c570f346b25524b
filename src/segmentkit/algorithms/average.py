"""Average-linkage hierarchical: segments of any shape, sensitive to outliers."""

from __future__ import annotations

from segmentkit.algorithms._hierarchical import make_spec

__all__ = ["SPEC"]

SPEC = make_spec("average", "average-linkage hierarchical: segments of any shape, sensitive to outliers")
