"""Ward hierarchical: merges that least increase within-segment variance."""

from __future__ import annotations

from segmentkit.algorithms._hierarchical import make_spec

__all__ = ["SPEC"]

SPEC = make_spec("ward", "Ward hierarchical: merges that least increase within-segment variance")
