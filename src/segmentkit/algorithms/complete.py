"""Complete-linkage hierarchical: compact segments of similar diameter."""

from __future__ import annotations

from segmentkit.algorithms._hierarchical import make_spec

__all__ = ["SPEC"]

SPEC = make_spec("complete", "complete-linkage hierarchical: compact segments of similar diameter")
