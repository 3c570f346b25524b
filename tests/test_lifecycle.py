"""The lifecycle layer (``--layers lifecycle``): groups by rule on a hand-built history,
the active base clustered, one segmentation with stable ids, the model's round trip."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit import Segmentation
from segmentkit.cli import app
from segmentkit.config import ClusteringSettings
from segmentkit.errors import InputError, SettingError
from segmentkit.model import load_model
from segmentkit.pipeline import score

SNAPSHOT = dt.date(2026, 1, 1)
#: Who is in which lifecycle group, worked out by hand (snapshot 2026-01-01):
EXPECTED = {
    "N1": "new",         # first order 2025-11-15: 47 days ago (3 orders)
    "N2": "new",         # browsed on 2025-12-01 only: 31 days ago
    "O2": "new",         # one order on 2025-12-20: new wins over one-time
    "O1": "one-time",    # one order on 2025-03-01
    "B1": "browsers",    # views in February 2025, never bought
    "L1": "lapsed",      # 3 orders 10 days apart, the last 345 days ago (≥ the run's 72)
    "S1": "lapsed",      # 2 orders 183 days apart, the last 396 days ago: beyond the year's cap
}
#: S2 buys slowly (2 orders 150 days apart, the last 211 days ago): 3 × 150 = 450 days, capped
#: at 365, is its horizon, so it is active although 211 > the run's 72 days.
ACTIVE_SLOW = "S2"
#: Customers of each of the two buying habits of the active base (54 customers in all, so
#: that 51 are known at the validation's cutoff: at least validation.MIN_CUSTOMERS).
ACTIVE_PER_HABIT = 23


def _history() -> pd.DataFrame:
    rows = []

    def buy(cid, day, amount, kind="purchase"):
        rows.append((cid, pd.Timestamp(day), kind, amount if kind == "purchase" else None))

    start = pd.Timestamp("2025-01-01")
    # the active base: 23 buy every 21 days for ~20, 23 every 27 days for ~100, from Jan 1 + i days
    for i in range(ACTIVE_PER_HABIT):
        for kind, gap, amount in (("A", 21, 20.0), ("B", 27, 100.0)):
            day = start + pd.Timedelta(days=i)
            while day < pd.Timestamp(SNAPSHOT):
                buy(f"{kind}{i:02d}", day, amount + i)
                day += pd.Timedelta(days=gap)
    for day in ("2025-11-15", "2025-11-25", "2025-12-05"):
        buy("N1", day, 30.0)
    buy("N2", "2025-12-01", None, "view")
    buy("O2", "2025-12-20", 40.0)
    buy("O1", "2025-03-01", 40.0)
    buy("B1", "2025-02-01", None, "view")
    buy("B1", "2025-02-03", None, "view")
    for day in ("2025-01-01", "2025-01-11", "2025-01-21"):
        buy("L1", day, 25.0)
    for day in ("2024-06-01", "2024-12-01"):
        buy("S1", day, 60.0)
    for day in ("2025-01-05", "2025-06-04"):
        buy(ACTIVE_SLOW, day, 60.0)
    return pd.DataFrame(rows, columns=["customer_id", "event_time", "event_type", "amount"])


@pytest.fixture(scope="module")
def layered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layers")
    events = folder / "events.csv"
    _history().to_csv(events, index=False)
    result = Segmentation(k=2, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT, layers="lifecycle").fit(
        events=events)
    result.write(folder / "out")
    return events, folder / "out", result


def test_the_groups_are_the_hand_computed_ones_and_the_active_base_is_clustered(layered):
    _, _, result = layered
    a = result.assignments.set_index("customer_id")
    assert a.index.is_unique and len(a) == 2 * ACTIVE_PER_HABIT + len(EXPECTED) + 1
    assert (a["status"] == "segmented").all()
    layers = result.summary.layers
    ids = {g.group: g.id for g in layers.groups}
    # groups numbered after the 2 behavioural segments, in the fixed order new, one-time, browsers, lapsed
    assert ids == {"new": 2, "one-time": 3, "browsers": 4, "lapsed": 5}
    assert {g.group: g.customers for g in layers.groups} == {"new": 3, "one-time": 1, "browsers": 1, "lapsed": 2}
    assert {g.group: g.name for g in layers.groups} == {
        "new": "New customers", "one-time": "One-time buyers", "browsers": "Browsers who never bought",
        "lapsed": "Lapsed repeat buyers"}
    in_group = {cid: grp for grp, sid in ids.items() for cid in a.index[a["segment_id"] == sid]}
    assert in_group == EXPECTED
    assert set(a.loc[a["layer"] == "lifecycle"].index) == set(EXPECTED)
    # the clustering saw the active base only: 47 customers in 2 segments
    assert layers.active_customers == 47 and layers.behaviour_segments == [0, 1]
    behaviour = a.loc[a["layer"] == "behaviour", "segment_id"]
    assert len(behaviour) == 47 and a.loc[ACTIVE_SLOW, "layer"] == "behaviour"
    assert set(behaviour) == {0, 1} and result.labels.shape[0] == result.matrix.shape[0] == len(a)
    assert sorted(result.model.centres) == [0, 1]
    assert result.summary.k == 6 and result.summary.k_selection.recommended_k == 2
    assert "behavioural segments of the 47 active customers" in result.summary.k_selection.reason
    assert sum(s.size for s in result.summary.segments) == len(a)


def test_the_lapsed_threshold_is_three_median_gaps_of_the_repeat_buyers(layered):
    # repeat buyers' mean gaps: L1 10, N1 10, 23 × 21, 23 × 27, S2 150, S1 183 (50 values): the
    # median is (21 + 27) / 2 = 24 days; 3 × 24 = 72 days, inside the 60..365 range
    rules = layered[2].summary.layers.rules
    assert rules.median_gap_days == pytest.approx(24.0)
    assert rules.lapsed_days == 72.0 and rules.lapsed_gaps == 3.0 and rules.lapsed_max_days == 365.0
    assert rules.new_tenure_days == 90.0


def test_assign_with_the_saved_model_reproduces_the_run(layered):
    events, out, result = layered
    saved = json.loads((out / "model" / "model.json").read_text())
    assert saved["lifecycle"]["group_ids"] == {"new": 2, "one-time": 3, "browsers": 4, "lapsed": 5}
    scored = score(out, events=events, snapshot_date=SNAPSHOT).assignments
    cols = ["customer_id", "segment_id", "segment_name", "status", "layer"]
    pd.testing.assert_frame_equal(scored[cols].reset_index(drop=True),
                                  result.assignments[cols].reset_index(drop=True))
    written = pd.read_csv(out / "assignments.csv", keep_default_na=False)
    assert list(written["layer"]) == list(result.assignments["layer"])


def test_a_tampered_lifecycle_in_the_model_is_refused(layered, tmp_path):
    _, out, _ = layered
    data = json.loads((out / "model" / "model.json").read_text())
    data["lifecycle"]["rules"]["lapsed_days"] = 400.0  # beyond its own cap
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="lifecycle.rules"):
        load_model(tmp_path)
    data["lifecycle"]["rules"]["lapsed_days"] = 72.0
    data["lifecycle"]["group_ids"] = {"vip": 2}
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="lifecycle.group_ids"):
        load_model(tmp_path)


def test_a_refresh_keeps_the_group_ids_and_numbers_new_segments_above_them(layered):
    events, out, first = layered
    again = Segmentation(k=3, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT, layers="lifecycle",
                         previous=out).fit(events=events)
    ids = {g.group: g.id for g in again.summary.layers.groups}
    assert ids == {"new": 2, "one-time": 3, "browsers": 4, "lapsed": 5}
    assert sorted(again.summary.layers.behaviour_segments) == [0, 1, 6]
    assert again.summary.segment(5).name == "Lapsed repeat buyers"
    renamed = again.with_names({3: "Single purchase"})
    assert [g.name for g in renamed.summary.layers.groups if g.group == "one-time"] == ["Single purchase"]


def test_flat_runs_have_no_layer_and_a_bad_value_is_refused(layered):
    events, _, _ = layered
    flat = Segmentation(k=2, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT).fit(events=events)
    assert flat.summary.layers is None and "layer" not in flat.assignments.columns
    assert flat.model.lifecycle is None and "lifecycle" not in flat.model.to_dict()
    with pytest.raises(SettingError, match="flat, lifecycle"):
        ClusteringSettings(layers="tiers")


def test_the_flag_runs_layered_and_a_customers_only_run_is_refused(layered, tmp_path):
    events, _, _ = layered
    runner = CliRunner()
    res = runner.invoke(app, ["run", "--events", str(events), "--k", "2", "--layers", "lifecycle",
                              "--snapshot-date", "2026-01-01", "--no-validate", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["layers"]["mode"] == "lifecycle" and summary["run"]["parameters"]["clustering"]["layers"] == "lifecycle"
    bad = runner.invoke(app, ["run", "--events", str(events), "--layers", "tiers", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "--layers must be one of auto, flat, lifecycle" in bad.output
    customers = tmp_path / "c.csv"
    pd.DataFrame({"customer_id": [f"c{i}" for i in range(30)], "x": range(30)}).to_csv(customers, index=False)
    with pytest.raises(InputError, match="--layers lifecycle needs events"):
        Segmentation(layers="lifecycle", feature_columns=["x"], k=2, n_bootstrap=0).fit(customers=customers)


def test_the_report_and_summary_md_show_each_segments_layer(layered):
    _, out, result = layered
    md = (out / "summary.md").read_text()
    assert "One-time buyers (lifecycle group: one-time)" in md
    assert md.count("(behavioural segment)") == 2
    assert "at least 72 and at most 365 days" in md  # the rules' sentence, numbers of summary.layers
    html = (out / "report.html").read_text()
    assert html.count("data-layer>lifecycle group:") == 4 and html.count("data-layer>behavioural segment") == 2


def test_segments_sql_gives_the_lifecycle_groups_exactly(layered):
    import duckdb

    _, out, result = layered
    text = (out / "segments.sql").read_text(encoding="utf-8")
    assert "-- The behavioural segments' rules were measured within the active base" in text
    con = duckdb.connect()
    con.register("feats_df", result.features.frame.reset_index())
    con.execute("CREATE TABLE customer_features AS SELECT * FROM feats_df")
    con.execute("-- 2. One column per rule" + text.split("-- 2. One column per rule", 1)[1])
    got = dict(con.execute("SELECT customer_id, segment_id FROM customer_segments "
                           "WHERE segment_id IN (2, 3, 4, 5)").fetchall())
    ids = {"new": 2, "one-time": 3, "browsers": 4, "lapsed": 5}
    assert got == {cid: ids[group] for cid, group in EXPECTED.items()}


def test_segments_sql_reads_missing_values_as_the_medians_the_rules_were_fitted_with(layered):
    """The behavioural segments' rules were fitted within the active base, missing values
    read as its medians; the lifecycle groups' against everyone: segments.sql fills each
    rule's missing values with the medians of its own fit."""
    import re

    _, out, result = layered
    text = (out / "segments.sql").read_text(encoding="utf-8")
    frame = result.features.frame
    groups = {g.id for g in result.summary.layers.groups}
    segment = result.assignments.set_index("customer_id")["segment_id"].reindex(frame.index)
    active = frame[~segment.isin(groups).to_numpy()]
    rules = re.findall(r"-- segment (\d+) .*\n.*\n    \((.*)\) AS segment_", text)
    seen = set()
    for sid, condition in rules:
        fitted_on = frame if int(sid) in groups else active
        for column, median in re.findall(r'coalesce\("?([A-Za-z_0-9]+)"?, ([-0-9.e]+)\)', condition):
            assert float(median) == pytest.approx(float(fitted_on[column].median()), rel=1e-12), (sid, column)
            seen.add((int(sid) in groups, column))
    assert {True, False} <= {g for g, _ in seen}  # rules of both kinds read
    # the two medians differ here, so the test tells them apart
    assert any(float(active[c].median()) != pytest.approx(float(frame[c].median())) for _, c in seen)


def test_the_validation_fits_the_layers_on_the_past(layered):
    # cutoff = snapshot − 90 days = 2025-10-03. Known then: not N1, N2, O2 (later events); O1
    # one-time; B1 browsers; repeat buyers' median gap 27 (L1 10, 23 × 21, 23 × 27, S2 150,
    # S1 183: 49 values), so 81 days: L1 (255 days since its last order) lapsed; S1 (306 < its
    # 365 cap) and S2 active. No one new: 2 behavioural segments + 3 groups = 5 groups.
    events = layered[0]
    result = Segmentation(k=2, n_bootstrap=0, snapshot_date=SNAPSHOT, layers="lifecycle").fit(events=events)
    validation = result.summary.validation
    assert validation.status == "done" and validation.cutoff == "2025-10-03"
    assert validation.n_customers == 2 * ACTIVE_PER_HABIT + 5
    assert validation.segments.groups == 5 and validation.rfm.groups == 5
    assert "behavioural segments, not the run's" not in validation.sentence  # the past has fewer groups


def test_the_past_fit_keeps_to_max_segments_when_the_past_has_more_groups(tmp_path):
    # Without N1, N2, O2 and with P1 (orders every 21 days from 2025-09-20: the last on
    # 2025-12-13), the run has 3 groups: P1 is first seen 103 days before the snapshot
    # (> 90: not new) and bought 19 days ago (active); one-time O1, browsers B1, lapsed L1
    # and S1. --k 3 + 3 groups = max_segments 6. At the cutoff 2025-10-03 P1 has one order,
    # 13 days old: new, so the past has 4 groups (no gap added: the lapsed threshold stays
    # 81 days, L1 lapsed). 6 − 4 leaves 2 behavioural segments: 6 in all, not 3 + 4 = 7.
    history = _history()
    history = history[~history["customer_id"].isin(["N1", "N2", "O2"])]
    days = pd.date_range("2025-09-20", "2025-12-31", freq="21D")
    extra = pd.DataFrame({"customer_id": "P1", "event_time": days, "event_type": "purchase", "amount": 30.0})
    events = tmp_path / "events.csv"
    pd.concat([history, extra]).to_csv(events, index=False)
    result = Segmentation(k=3, max_segments=6, min_share=0.0, n_bootstrap=0, snapshot_date=SNAPSHOT,
                          layers="lifecycle").fit(events=events)
    assert [g.group for g in result.summary.layers.groups] == ["one-time", "browsers", "lapsed"]
    assert result.summary.k == 6
    validation = result.summary.validation
    assert validation.status == "done" and validation.cutoff == "2025-10-03"
    assert validation.n_customers == 2 * ACTIVE_PER_HABIT + 6
    assert validation.segments.groups == 6
    assert ("The past is fitted with 2 behavioural segments, not the run's 3: the past has 4 lifecycle groups "
            "(new, one-time, browsers, lapsed) to the run's 3, and the most segments allowed (max_segments = 6) "
            "counts them too.") in validation.sentence


#: Personas by hand: habit A is 'Budget', habit B 'Premium'; the groups draw from both
#: (new: N1, O2 Budget and N2 Premium; one-time O1 Budget; browsers B1 Premium; lapsed L1
#: Budget and S1 Premium; S2 Premium), so each persona has 27 members.
PERSONAS = {**{f"A{i:02d}": "Budget" for i in range(ACTIVE_PER_HABIT)},
            **{f"B{i:02d}": "Premium" for i in range(ACTIVE_PER_HABIT)},
            "N1": "Budget", "O2": "Budget", "O1": "Budget", "L1": "Budget",
            "N2": "Premium", "B1": "Premium", "S1": "Premium", ACTIVE_SLOW: "Premium"}


def test_the_persona_narrative_does_not_call_a_lifecycle_group_a_new_group(layered, tmp_path):
    from segmentkit.personas import compare_personas

    events = layered[0]
    customers = tmp_path / "customers.csv"
    pd.DataFrame({"customer_id": list(PERSONAS), "persona": list(PERSONAS.values())}).to_csv(customers, index=False)
    # k=3: the two habits and S2 (a slow buyer, alone)
    result = Segmentation(k=3, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT, layers="lifecycle",
                          persona_column="persona").fit(customers=customers, events=events)
    personas = result.summary.personas
    text = personas.narrative
    ids = {g.group: g.id for g in result.summary.layers.groups}
    # the groups are set by rule: said once, with each persona's share of each group
    # (Budget: 2 new, 1 one-time, 0 browsers, 1 lapsed of 27; Premium: 1, 0, 1, 1 of 27)
    assert "map onto 3 behavioral segments and 4 lifecycle groups" in text
    assert text.count("set by rule") == 1
    assert ("'Budget' 7 % new, 4 % one-time buyers, 0 % never bought and 4 % lapsed; "
            "'Premium' 4 % new, 0 % one-time buyers, 4 % never bought and 4 % lapsed.") in text
    assert "is a new group" not in text and personas.new_segments == []
    assert {personas.segment_kinds[sid] for sid in ids.values()} == {"lifecycle"}
    # the same labels compared as a flat run would: the mixed groups read as new groups there,
    # and the behavioural findings (each habit is its persona) are said the same way in both
    a = result.assignments.set_index("customer_id")
    flat = compare_personas(a["segment_id"].to_numpy(), a.index.map(PERSONAS).to_series(), column="persona",
                            segment_names={s.id: s.name for s in result.summary.segments})
    assert "'New customers' is a new group" in flat.narrative
    behaviour = [s for s in flat.narrative.split(". ") if "maps cleanly" in s]
    assert len(behaviour) == 1 and behaviour[0] in text
    assert [(m.persona, m.segment) for m in personas.matches] == [(m.persona, m.segment) for m in flat.matches]
    # the lifecycle groups are in the crosstab all the same
    assert personas.crosstab["Budget"][ids["new"]] == 2 and personas.crosstab["Premium"][ids["lapsed"]] == 1


def test_the_briefs_of_the_groups_state_their_rule_and_pick_the_objective_from_it(layered):
    # by hand (snapshot 2026-01-01): O1's only order 2025-03-01, 306 days ago; B1 first seen
    # 2025-02-01, 334 days ago; new: first seen 47 (N1), 31 (N2), 12 (O2) days ago, median 31;
    # lapsed: last orders 345 (L1) and 396 (S1) days ago, median 370.5, their mean gaps 10 and
    # 183 days, median 96.5: 370.5 / 96.5 = 3.84 usual gaps
    result = layered[2]
    ids = {g.group: g.id for g in result.summary.layers.groups}
    brief = {group: result.summary.segment(sid).brief for group, sid in ids.items()}

    def text(group, topic):
        return next(s.text for s in brief[group].sentences if s.topic == topic)

    assert {g: (b.lifecycle, b.objective) for g, b in brief.items()} == {
        "new": ("new", "onboard"), "one-time": ("one-time", "second purchase"),
        "browsers": ("browsers", "convert browsers"), "lapsed": ("lapsed", "reactivate")}
    one_time = " ".join(s.text for s in brief["one-time"].sentences if s.topic != "move_up")
    assert "their only purchase a median 306 days ago" in text("one-time", "who")
    assert "usual" not in one_time  # no gap for a single order, not everyone's gap either
    assert "first seen a median 31 days ago" in text("new", "who")
    assert "first seen a median 334 days ago" in text("browsers", "who")
    assert "never ordered" in text("browsers", "objective")
    assert "1 order over 1 active month on average" in text("one-time", "when")  # not "1 orders"
    assert "last purchase a median 370 days ago, 3.84× their usual 96.5 days between orders" in text("lapsed", "who")
    numbers = {n.name: n.value for s in brief["lapsed"].sentences if s.topic == "who" for n in s.numbers}
    assert numbers["median_recency_days"] == pytest.approx(370.5) and numbers["usual_gap_days"] == pytest.approx(96.5)
    # a step up always leads to a behavioural segment
    assert {result.summary.segment(sid).brief.move_up_to for sid in ids.values()} <= {0, 1}


def test_most_segments_bounds_the_total_with_the_groups_never_below_two():
    from segmentkit.choose_k import Constraints, most_segments

    # by hand: 8 in all less 4 groups leaves 4; 5 less 4 leaves 1, raised to 2; nothing set
    # bounds nothing but a continuum (8 by default); no groups: the flat bound itself
    assert most_segments(Constraints(max_segments=8), 4) == 4
    assert most_segments(Constraints(max_segments=5), 4) == 2
    assert most_segments(Constraints(), 4) is None
    assert most_segments(Constraints(), 4, continuum=True) == 4
    assert most_segments(Constraints(), 0, continuum=True) == 8
    assert most_segments(Constraints(max_segments=6), 0) == 6


def test_max_segments_bounds_the_total_a_user_gets_with_the_groups(layered):
    # 4 non-empty groups (new, one-time, browsers, lapsed): max_segments 6 leaves 2 behavioural
    # segments; 3 would make 7 in all
    events = layered[0]
    result = Segmentation(max_segments=6, min_share=0.0, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT,
                          layers="lifecycle").fit(events=events)
    ks = result.summary.k_selection
    why = {c.k: c.why_not for c in ks.candidates}
    assert why[2] is None
    assert why[3] == "3 segments plus the 4 set by rule make 7, more than max_segments (6)"
    assert ks.recommended_k == 2 and result.summary.k == 6
    assert "k counts the behavioural segments of the 47 active customers" in ks.reason
    assert "(new, one-time, browsers, lapsed): 6 segments in all." in ks.reason
    assert "The most segments allowed (max_segments = 6) counts the lifecycle groups too." in ks.reason


def test_a_max_segments_too_small_for_the_groups_is_said_in_a_plain_sentence(layered):
    events = layered[0]
    result = Segmentation(max_segments=4, min_share=0.0, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT,
                          layers="lifecycle").fit(events=events)
    said = ("max_segments (4) leaves no room for 2 behavioural segments beside the 4 lifecycle group(s), so the "
            "run has 6 segments, more than max_segments.")
    assert result.summary.k == 6 and result.summary.k_selection.recommended_k == 2
    assert said in result.summary.k_selection.reason and said in result.summary.data_quality.notes


def test_k_sets_the_behavioural_segments_and_the_reason_gives_the_total(layered):
    reason = layered[2].summary.k_selection.reason  # --k 2 with 4 groups
    assert "--k sets the behavioural segments of the 47 active customers" in reason
    assert ": 6 segments in all." in reason


#: Orders by hand (snapshot 2026-01-01; customer i starts on Jan 1 + i days): habit A every 21
#: days, 18 orders for i ≤ 7 (8 customers) and 17 for i ≥ 8 (15): 399; habit B every 27 days,
#: 14 for i ≤ 13 (14 customers) and 13 for i ≥ 14 (9): 313; S2 2. The active base's 47 hold
#: 714 orders; everyone's 54 add N1 3, O2 1, O1 1, L1 3, S1 2 (N2 and B1 none): 724.
ACTIVE_ORDERS, ALL_ORDERS = 714, 724


def test_behavioural_segments_are_compared_with_the_active_base_and_groups_with_everyone(layered):
    events = layered[0]
    result = Segmentation(k=3, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT, layers="lifecycle").fit(
        events=events)
    layers = result.summary.layers
    groups = {g.id for g in layers.groups}
    for seg in result.summary.segments:
        orders = seg.profile.features["orders"]
        expected = ALL_ORDERS / 54 if seg.id in groups else ACTIVE_ORDERS / 47
        assert orders.overall_mean == pytest.approx(expected, abs=1e-6), seg.id
        assert orders.index == pytest.approx(100 * orders.mean / expected, rel=1e-4)
    # shares stay shares of everyone: 54 customers, every segment's size over 54
    assert {s.id: s.share for s in result.summary.segments} == pytest.approx(
        {s.id: s.size / 54 for s in result.summary.segments}, abs=1e-6)
    behaviour = [s for s in result.summary.segments if s.id not in groups]
    # the traits and briefs of behavioural segments say whom they are compared with
    sentences = [t.sentence for s in behaviour for t in s.top_features]
    assert sentences and all("active base" in t for t in sentences)
    assert not any("overall" in b.text for s in behaviour for b in s.brief.sentences)
    assert any("in the active base" in b.text for s in behaviour for b in s.brief.sentences)
    lapsed = result.summary.segment(next(g.id for g in layers.groups if g.group == "lapsed"))
    assert not any("active base" in t.sentence for t in lapsed.top_features)
    assert layers.baseline.startswith("The behavioural segments are compared with the active base (47 customers)")
    assert "compared with all 54 customers" in layers.baseline
    html = (layered[1] / "report.html").read_text()
    assert "compared with the active base (47 customers)" in html


def test_move_up_levers_of_behavioural_segments_are_ranked_by_the_active_bases_spread(layered):
    # by hand: the 46 habit customers are active in all 12 months of 2025 at mean gaps of 21
    # or 27 days; S2 (segment 1, alone) in 2 months at a 150-day gap. Over the 47 of the
    # active base: active months sd = 10·√(46·1)/47 = 1.44305 (a two-valued spread); days
    # between orders mean 1254/47, mean of squares 49410/47, sd 18.4230. S2 → segment 0:
    # active months differ by 10 (10 / 1.443 = 6.93 sds), gaps by 126 (6.84 sds): active
    # months lead. Over all 54 customers the spreads are wider (3.87 and 28.5 days) and
    # would rank the gap first.
    result = layered[2]
    groups = {g.id for g in result.summary.layers.groups}
    s2 = next(s for s in result.summary.segments if s.id not in groups and s.size == 1)
    lever = next(b for b in s2.brief.sentences if b.topic == "move_up")
    assert "they differ most in +10 active months (12 vs 2); −126 days between orders (24 vs 150);" in lever.text
    numbers = {n.name: n for n in lever.numbers}
    assert numbers["active_months_sd"].value == pytest.approx(10 * 46 ** 0.5 / 47, abs=1e-5)
    assert numbers["gap_mean_days_sd"].value == pytest.approx((49410 / 47 - (1254 / 47) ** 2) ** 0.5, abs=1e-4)
    assert numbers["active_months_sd"].label == "active months, spread (sd), in the active base"
    # the groups still rank theirs by everyone's spread, and say so
    for sid in groups:
        sd = [n for b in result.summary.segment(sid).brief.sentences for n in b.numbers if n.name.endswith("_sd")]
        assert sd and all(n.label.endswith("spread (sd), all customers") for n in sd)


def test_a_persona_split_is_shared_among_its_members_in_the_behavioural_segments():
    from segmentkit.personas import compare_personas

    # by hand: 'P' holds both habits (23 + 23) and N1, O1, L1 (groups); 'Q' holds S2 (segment 2)
    # and N2, O2, B1, S1 (groups). P's 49 members: 23 in each habit, so it splits 50 % / 50 %
    # of its 46 members in the behavioural segments (23 / 49 = 47 % of all its members).
    labels = [0] * 23 + [1] * 23 + [2] + [3, 3, 3, 4, 5, 6, 6]
    persona = ["P"] * 46 + ["Q"] + ["P", "Q", "Q", "P", "Q", "P", "Q"]
    groups = {3: "new", 4: "one-time", 5: "browsers", 6: "lapsed"}
    names = {0: "Habit A", 1: "Habit B", 2: "Slow", 3: "New", 4: "Once", 5: "Browse", 6: "Lapsed"}
    result = compare_personas(pd.Series(labels).to_numpy(), pd.Series(persona), column="persona",
                              segment_names=names, lifecycle=groups)
    (split,) = result.splits
    assert split.persona == "P" and split.shares == {0: pytest.approx(0.5), 1: pytest.approx(0.5)}
    assert ("'P' splits into 'Habit A' (50 %) and 'Habit B' (50 %) of its members in the behavioural "
            "segments") in result.narrative
    assert result.crosstab["P"][0] == 23 and result.crosstab["P"][3] == 1  # the crosstab still counts everyone


def test_the_report_gives_a_layered_split_among_the_behavioural_segments(layered, tmp_path):
    # the unit test's personas on the real run at k = 3 (the two habits and S2): 'P' (both
    # habits, N1, O1, L1) splits 50 % / 50 % of its 46 members in the behavioural segments
    events = layered[0]
    persona = {**{f"{h}{i:02d}": "P" for h in "AB" for i in range(ACTIVE_PER_HABIT)},
               "N1": "P", "O1": "P", "L1": "P", ACTIVE_SLOW: "Q", "N2": "Q", "O2": "Q", "B1": "Q", "S1": "Q"}
    customers = tmp_path / "customers.csv"
    pd.DataFrame({"customer_id": list(persona), "persona": list(persona.values())}).to_csv(customers, index=False)
    result = Segmentation(k=3, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT, layers="lifecycle",
                          persona_column="persona").fit(customers=customers, events=events)
    result.write(tmp_path / "out")
    (split,) = result.summary.personas.splits
    assert split.persona == "P" and sorted(split.shares.values()) == [pytest.approx(0.5)] * 2
    html = (tmp_path / "out" / "report.html").read_text()
    assert "data-split-basis>Shares of each persona&#39;s members in the behavioural segments" in html
    assert html.count("(50 %)") >= 2 and "(47 %)" not in html  # not 23 / 49 of all its members


@pytest.mark.parametrize("extra, layered_run, share", [(15, True, "25 %"), (14, False, "24 %")])
def test_auto_layers_when_a_quarter_of_the_buyers_ordered_once(tmp_path, extra, layered_run, share):
    # the history's buyers: the 46 active, N1, O2, O1, L1, S1, S2 (52; B1 and N2 never bought), of
    # whom O1 and O2 ordered once; `extra` more one-time buyers in 2025 (not new): 17 of 67 =
    # 25.4 % (at least a quarter: layered) or 16 of 66 = 24.2 % (below: flat)
    extra_rows = pd.DataFrame({"customer_id": [f"X{i:02d}" for i in range(extra)],
                               "event_time": [pd.Timestamp("2025-04-01") + pd.Timedelta(days=i) for i in range(extra)],
                               "event_type": "purchase", "amount": 30.0})
    events = tmp_path / "events.csv"
    pd.concat([_history(), extra_rows]).to_csv(events, index=False)
    result = Segmentation(k=2, n_bootstrap=0, validate=False, snapshot_date=SNAPSHOT).fit(events=events)
    reason = result.summary.k_selection.reason
    assert result.summary.run.parameters["clustering"]["layers"] == ("lifecycle" if layered_run else "flat")
    if layered_run:
        # O2 ordered once but is new: the rules put it with the new customers
        assert {g.group: g.customers for g in result.summary.layers.groups}["one-time"] == 16
        assert f"Lifecycle layer (--layers auto): {share} of the buyers ordered once (at least 25 %)" in reason
        assert result.model.lifecycle is not None
    else:
        assert result.summary.layers is None and result.model.lifecycle is None
        assert f"No lifecycle layer (--layers auto): {share} of the buyers ordered once, below the 25 %" in reason


def test_auto_stays_flat_when_the_active_base_is_too_small_to_cluster():
    from segmentkit.lifecycle import choose_layering, one_time_share

    frame = pd.DataFrame({"orders": [1.0, 1.0, 3.0, 0.0], "tenure_days": 400.0, "recency_days": [300.0, 200, 5, 100],
                          "gap_mean_days": [None, None, 20.0, None]})
    assert one_time_share(frame) == pytest.approx(2 / 3)  # 2 of the 3 buyers; the browser is no buyer
    layering, why = choose_layering(frame, "auto", 2)
    assert layering is None and why.startswith("No lifecycle layer (--layers auto) although 67 % of the buyers "
                                               "ordered once: the active base would hold 1 customers")
    assert choose_layering(frame, "auto", 1)[0] is not None
    assert choose_layering(frame, "lifecycle", 1000)[1] is None and choose_layering(frame, "flat", 1) == (None, None)
