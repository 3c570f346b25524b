"""Ids and names stick across a refresh; overrides survive; a migration table is written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentkit import Segmentation
from segmentkit.datasets import make_demo

from planted import planted_of

#: slow: runs segmentations twice; CI runs it, `make test-fast` leaves it out
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def refresh(tmp_path_factory):
    data = make_demo(3300, seed=3)
    ids = data.customers["customer_id"]
    old_ids = set(ids.iloc[:3000])
    cust1 = data.customers[ids.isin(old_ids)]
    ev1 = data.events[data.events["customer_id"].isin(old_ids)]
    # the refresh: 10 % new customers, 5 % of events changed (dropped or shifted a day)
    rng = np.random.default_rng(0)
    ev2 = data.events.copy()
    changed = rng.random(len(ev2)) < 0.05
    drop = changed & (rng.random(len(ev2)) < 0.5)
    ev2.loc[changed & ~drop, "event_time"] -= pd.Timedelta(days=1)
    ev2 = ev2[~drop]
    out1 = tmp_path_factory.mktemp("run1")
    first = Segmentation(k=6, n_bootstrap=2, random_state=1, name_overrides={2: "Our bargain lovers"},
                         brief_overrides={2: {"objective": "Bundles, not discounts.", "risk": "Margin."}}).fit(
        customers=cust1, events=ev1)
    first.write(out1)
    second = Segmentation(k=6, n_bootstrap=2, random_state=2, previous=out1,
                          brief_overrides={2: {"risk": "Returns."}}).fit(customers=data.customers, events=ev2)
    return data, first, second


def test_ids_follow_the_same_planted_groups(refresh):
    data, first, second = refresh
    assert planted_of(first, data.truth) == planted_of(second, data.truth)


def test_names_stay_the_same(refresh):
    _, first, second = refresh
    assert first.segment_names == second.segment_names


def test_override_applied_and_survives(refresh):
    _, first, second = refresh
    assert first.segment_names[2] == "Our bargain lovers"
    assert second.segment_names[2] == "Our bargain lovers"


def test_brief_sentences_replaced_survive_with_this_runs_on_top(refresh):
    _, first, second = refresh

    def texts(result):
        brief = next(s.brief for s in result.summary.segments if s.id == 2)
        return {s.topic: s.text for s in brief.sentences if s.overridden}

    assert texts(first) == {"objective": "Bundles, not discounts.", "risk": "Margin."}
    assert texts(second) == {"objective": "Bundles, not discounts.", "risk": "Returns."}
    assert second.model.to_dict()["brief_overrides"] == {"2": {"objective": "Bundles, not discounts.",
                                                                "risk": "Returns."}}


def test_migration_table(refresh):
    _, _, second = refresh
    mig = second.migration
    assert mig is not None and len(mig) > 0
