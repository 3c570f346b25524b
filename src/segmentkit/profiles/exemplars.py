"""Exemplars: the most typical customers of a segment, shown by feature values only.

Typical means closest to the segment centre in the clustering matrix, or -- when the
algorithm gives one -- the highest membership confidence. Exemplars never carry an
identifier.
"""

from __future__ import annotations

import numpy as np

from segmentkit.contract import Typed

__all__ = ["Exemplar", "segment_exemplars"]


class Exemplar(Typed):
    """A typical customer, shown by feature values only: never an identifier.

    ``rank`` 1 is the most typical; ``features`` are the raw feature values in feature
    order; ``distance`` is the Euclidean distance to the segment centre in the clustering
    matrix; ``confidence`` the membership confidence when the algorithm gives one (then
    exemplars are ranked by it).
    """

    rank: int
    features: dict[str, float | None]
    distance: float | None
    confidence: float | None


def segment_exemplars(X: np.ndarray, raw: np.ndarray, columns: list[str], in_segment: np.ndarray,
                      candidates: np.ndarray, confidence: np.ndarray | None, n: int) -> tuple[Exemplar, ...]:
    """The ``n`` most typical of the ``candidates`` (row numbers of the segment's members
    in the descriptive sample); the centre is the mean of all members (``in_segment``)."""
    centre = X[in_segment].mean(axis=0)
    dist = np.sqrt(((X[candidates] - centre) ** 2).sum(axis=1))
    if confidence is not None:
        order = np.lexsort((candidates, dist, -confidence[candidates]))
    else:
        order = np.lexsort((candidates, dist))
    return tuple(
        Exemplar(
            rank=r + 1,
            features={c: None if np.isnan(raw[candidates[i], j]) else float(raw[candidates[i], j])
                      for j, c in enumerate(columns)},
            distance=float(dist[i]),
            confidence=None if confidence is None else float(confidence[candidates[i]]),
        )
        for r, i in enumerate(order[:n])
    )
