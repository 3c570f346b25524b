"""Behavioral segments against the client's existing personas.

Given the segment of every customer and the persona the client has assigned to them,
:func:`compare_personas` computes the crosstab (counts and shares both ways), agreement
scores (ARI, AMI, NMI, V-measure), an optimal one-to-one matching, and classifies every
persona and segment:

Notation: ``n[P, S]`` customers of persona ``P`` in segment ``S``; ``r[P, S] = n[P, S] /
|P|`` the share of the persona's members in ``S`` (``|P|`` counts all its members, noise
included, so a persona's row of shares sums to 1 with the ``"-1"`` column); ``c[P, S] =
n[P, S] / |S|`` the share of the segment drawn from ``P`` (``|S|`` counts the segment's
members with a known persona); ``base[P] = |P| / N`` the persona's share of all customers
with a known persona.

over-represented
    ``P`` is over-represented in ``S`` when ``c[P, S] >= min(lift * base[P], (1 + base[P])
    / 2)`` (default ``lift`` 1.5): the persona's share of the segment is at least 1.5
    times its share of the base, or, for a persona holding more than half of all
    customers (for which 1.5x is impossible or nearly so), at least halfway between its
    base share and 100 %. This is what "the segment is (partly) this persona's" means;
    a segment that draws from every persona in proportion has no over-represented
    persona, however large its biggest contributor is.
split
    ``P`` is split when at least two claimed segments each hold ``r[P, S] >=
    split_share`` (default 20 %) of it *and* ``P`` is over-represented in each. Without
    these conditions a large cross-persona segment (which takes, say, 25 % of every
    persona) would make every persona look split.
merge
    ``S`` is a merge when at least two personas each contribute ``c[P, S] >= merge_share``
    (default 25 %) of it, are over-represented in it, and send ``r[P, S] >= split_share``
    of their own members to it: "two personas behave alike" means a substantial part of
    *each* persona lands in the same segment and the segment is characteristic of them.
claimed / new
    ``S`` is *claimed* when the personas over-represented in it together make up at least
    ``dominance`` (default 50 %) of it, and *new* otherwise: no persona or group of
    personas dominates it, so it is spread across the personas (drawn in proportion, or
    even in equal numbers from personas of unequal size, in which case a small persona is
    over-represented but still a minority of the segment). Only claimed segments can be
    split targets, merges or matches, so a large cross-persona group never makes the
    personas it draws from look split.
match
    The Hungarian (one-to-one) matching maximising the Jaccard overlap ``n / (|P| + |S| -
    n)``; a matched pair is reported as a *match* when it is mutually dominant (``r[P, S]
    >= dominance`` and ``c[P, S] >= dominance``, default 50 %), the persona is not split
    and the segment is neither a merge nor new.
dissolved
    ``P`` is dissolved when it is not split, not part of a merge, not matched and has no
    segment of its own, i.e. no segment of which it is the largest source, in which it
    is over-represented and which holds at least ``split_share`` of it.

Every persona gets one kind (precedence ``split > merge > match > partial >
dissolved``; *partial* is a persona that leads a segment of its own without a clean
match), every non-noise segment one kind (``merge > new > split > match > other``;
``"unknown"`` for a segment without any customer of known persona; ``"lifecycle"`` for the
lifecycle groups of a layered run, which are set by rule and so never claimed or new). Customers with a
missing persona are left out of the crosstab and the scores; noise customers (label
``-1``) stay in the crosstab as segment ``"-1"`` but are never a split target, merge or
new segment, and are left out of the agreement scores.

For each split the module reports what separates the sub-segments behaviourally (the
features with the largest standardised difference between the persona's members in each
sub-segment) and whether the sub-segments are **demographic lookalikes** (see
:func:`compare_personas`).

The package reads as the steps: :mod:`.shares` (who is where: the crosstab, shares both
ways, agreement), :mod:`.classification` (over-represented, split, merge, new, matched:
the kinds), :mod:`.explain` (what separates a split's sub-segments, whether they look
alike), :mod:`.narrative` (the paragraph) and :mod:`.compare` (:func:`compare_personas`,
all of them in order); the result types are in :mod:`.types`.
"""

from segmentkit.personas.compare import compare_personas
from segmentkit.personas.narrative import CLEAN_SHARE, WEAK_AGREEMENT, merge_groups, split_groups, split_verb
from segmentkit.personas.types import (
    CrosstabShares,
    PersonaComparison,
    PersonaMatch,
    PersonaMerge,
    PersonaSplit,
    SeparatingFeature,
)

__all__ = [
    "CLEAN_SHARE",
    "WEAK_AGREEMENT",
    "CrosstabShares",
    "PersonaComparison",
    "PersonaMatch",
    "PersonaMerge",
    "PersonaSplit",
    "SeparatingFeature",
    "compare_personas",
    "merge_groups",
    "split_groups",
    "split_verb",
]
