"""Test helper: which planted demo segment each found segment stands for."""

from __future__ import annotations

import pandas as pd


def planted_of(result, truth: pd.DataFrame) -> dict[int, int]:
    """Segment id → the planted segment most of its members come from."""
    a = result.assignments.merge(truth, on="customer_id")
    a = a[a["status"] == "segmented"]
    return a.groupby("segment_id")["segment"].agg(lambda s: int(s.mode().iloc[0])).to_dict()
