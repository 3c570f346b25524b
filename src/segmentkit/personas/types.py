"""The results of comparing segments with personas, as the library and ``summary.json`` hold them."""

from __future__ import annotations

import pandas as pd

from segmentkit.contract import Typed

__all__ = ["CrosstabShares", "PersonaComparison", "PersonaMatch", "PersonaMerge", "PersonaSplit", "SeparatingFeature"]


class SeparatingFeature(Typed):
    """A behavioural feature that differs between the sub-segments of a persona.

    ``values`` is the feature's mean among the persona's members in each sub-segment;
    ``effect_size`` is ``(max mean - min mean) / pooled within-sub-segment SD`` (Cohen's d
    for two sub-segments), on ``sign(x) log1p(|x|)`` for counts, amounts and ratios;
    ``sentence`` reads e.g. "share of spend on electronics is higher in 'A' (42 %) than in
    'B' (11 %)".
    """

    feature: str
    label: str
    values: dict[int, float | None]
    effect_size: float | None
    sentence: str


class PersonaSplit(Typed):
    """A persona whose members fall into two or more segments.

    ``segments`` are the sub-segments by decreasing share of the persona, ``names`` their
    names, ``shares`` the share of the persona's members in each. ``separating_features``
    are the top differing behavioural features, largest effect first.
    ``demographic_similarity`` is ``1 -`` the largest demographic distance between any two
    sub-segments over all demographic columns (``None`` without demographics),
    ``demographic_by_column`` the same per column, and ``lookalike`` whether it reaches the
    lookalike threshold.
    """

    persona: str
    segments: list[int]
    names: list[str]
    shares: dict[int, float | None]
    separating_features: list[SeparatingFeature]
    demographic_similarity: float | None
    demographic_by_column: dict[str, float | None]
    lookalike: bool


class PersonaMerge(Typed):
    """A segment in which two or more personas behave alike.

    ``personas`` by name; ``shares`` the share of the segment drawn from each persona;
    ``persona_shares`` the share of each persona's members that fall into the segment.
    """

    segment: int
    name: str
    personas: list[str]
    shares: dict[str, float | None]
    persona_shares: dict[str, float | None]


class PersonaMatch(Typed):
    """A persona and a segment of the one-to-one matching.

    ``persona_share`` is the share of the persona's members in the segment,
    ``segment_share`` the share of the segment drawn from the persona, ``jaccard``
    ``n / (|P| + |S| - n)``.
    """

    persona: str
    segment: int
    name: str
    persona_share: float | None
    segment_share: float | None
    jaccard: float | None


class CrosstabShares(Typed):
    """The persona × segment table as shares of each persona and of each segment."""

    by_persona: dict[str, dict[int, float | None]]
    by_segment: dict[int, dict[str, float | None]]


class PersonaComparison(Typed):
    """Segments against the client's personas (see :mod:`segmentkit.personas`).

    ``ari``, ``ami``, ``nmi`` and ``v_measure`` measure agreement over customers with a
    known persona and a segment (noise excluded; ``None`` with fewer than two such
    customers). ``personas`` are the persona names, sorted; ``crosstab`` the counts,
    persona → segment id (``-1``: noise), and ``crosstab_shares`` the same as shares both
    ways. ``matching`` is the full Hungarian matching by persona, ``matches`` its mutually
    dominant pairs; ``splits`` are by persona, ``merges`` by segment id. Every persona and
    every non-noise segment has a kind (``lifecycle`` for a layered run's groups set by rule,
    which are never split targets, merges, matches or new); ``narrative`` says it all in
    plain words.
    """

    column: str
    ari: float | None
    ami: float | None
    nmi: float | None
    v_measure: float | None
    n_customers: int
    n_missing_persona: int
    n_noise: int
    personas: list[str]
    segment_names: dict[int, str]
    crosstab: dict[str, dict[int, int]]
    crosstab_shares: CrosstabShares
    matching: list[PersonaMatch]
    matches: list[PersonaMatch]
    splits: list[PersonaSplit]
    merges: list[PersonaMerge]
    new_segments: list[int]
    dissolved: list[str]
    persona_kinds: dict[str, str]
    segment_kinds: dict[int, str]
    narrative: str

    @property
    def crosstab_frame(self) -> pd.DataFrame:
        """The counts as a table: personas × segment ids (sorted, ``-1`` first when present)."""
        return pd.DataFrame.from_dict(self.crosstab, orient="index").reindex(list(self.personas))
