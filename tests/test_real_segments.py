"""The default run on a real purchase history: the CDNOW log (tests/data, MIT licensed).

Real customer data are a continuum with a heavy one-time-buyer mass, not islands; a
selection led by the silhouette alone recommended 2 segments there (recent year-round vs
lapsed buyers). The default must give a number a strategist can act on: 4 to 8 segments,
each stable under resampling and each told apart from every other by a trait.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from segmentkit.choose_k import CONTINUUM_MAX_SEGMENTS, STABLE_SEGMENT_JACCARD, TRAIT_AUC
from segmentkit.pipeline import Segmentation

pytestmark = pytest.mark.slow

CDNOW = Path(__file__).parent / "data" / "cdnow_master.txt.gz"


def _cdnow() -> pd.DataFrame:
    with gzip.open(CDNOW, "rt", encoding="ascii") as fh:
        raw = pd.read_csv(fh, sep=r"\s+", dtype={"customer_id": str, "date": str})
    return pd.DataFrame({"customer_id": raw["customer_id"], "event_time": pd.to_datetime(raw["date"], format="%Y%m%d"),
                         "amount": raw["dollar_value"], "quantity": raw["number_of_cds"]})


def test_cdnow_default_run_gives_actionable_stable_segments():
    result = Segmentation(random_state=0).fit(events=_cdnow())
    summary = result.summary
    chosen = next(c for c in summary.k_selection.candidates
                  if c.k == summary.k and c.algorithm == summary.k_selection.recommended_algorithm)
    assert 4 <= summary.k <= CONTINUUM_MAX_SEGMENTS
    assert "continuum" in summary.k_selection.reason
    assert min(chosen.segment_stability) >= STABLE_SEGMENT_JACCARD and chosen.pair_separation >= TRAIT_AUC
    names = [s.name for s in summary.segments if s.id >= 0]
    assert len(names) == summary.k and len(set(names)) == summary.k
    assert (result.assignments["status"] == "segmented").sum() == 23570
