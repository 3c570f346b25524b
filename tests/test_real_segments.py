"""The default run on a real purchase history: the CDNOW log (tests/data, MIT licensed).

Real customer data are a continuum with a heavy one-time-buyer mass, not islands; a
selection led by the silhouette alone recommended 2 segments there (recent year-round vs
lapsed buyers). The default must give a number a strategist can act on: 4 to 8 segments,
each stable under resampling and each told apart from every other by a trait. Half of CDNOW's
buyers bought once, so the default (``layers = "auto"``) sets them apart by rule and clusters
the active base.
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
    events = _cdnow()
    result = Segmentation(random_state=0).fit(events=events)
    summary = result.summary
    selection = summary.k_selection
    chosen = next(c for c in selection.candidates
                  if c.k == selection.recommended_k and c.algorithm == selection.recommended_algorithm)
    # half of CDNOW's buyers bought on one day only (counted on the raw log): the default is layered
    once = events.groupby("customer_id")["event_time"].nunique().eq(1).mean()
    assert 0.5 < once < 0.52
    assert f"Lifecycle layer (--layers auto): {100 * once:.0f} % of the buyers ordered once" in selection.reason
    groups = {g.group: g.customers for g in summary.layers.groups}
    assert set(groups) <= {"new", "one-time", "browsers", "lapsed"} and "one-time" in groups
    # 4 to 8 segments in all, the behavioural ones each stable and told apart by a trait
    assert 4 <= summary.k <= CONTINUUM_MAX_SEGMENTS and summary.k == selection.recommended_k + len(groups)
    assert "continuum" in selection.reason
    assert min(chosen.segment_stability) >= STABLE_SEGMENT_JACCARD and chosen.pair_separation >= TRAIT_AUC
    names = [s.name for s in summary.segments if s.id >= 0]
    assert len(names) == summary.k and len(set(names)) == summary.k
    assert (result.assignments["status"] == "segmented").sum() == 23570
