"""What each segment is: profiles, distinguishing features, rules and exemplars.

:func:`profile_segments` turns a clustering (one label per customer, ``-1`` for noise) into
the material strategists read:

* **size and value** -- customers, share, share of net revenue and a value index;
* **a full profile** -- mean and median of every feature and every profile-only attribute,
  each with an *index* against the overall average (100 = average, the marketing
  convention), an *effect size* (Cohen's d of segment vs. rest for numbers; Cramér's V and
  per-level share lift for categories) and a Benjamini-Hochberg corrected significance;
* **top distinguishing features** ranked by effect size, each with a plain sentence
  ("Share of orders with a discount: 62 % vs 18 % overall");
* **rules** -- a shallow one-vs-rest decision tree per segment on the *raw* features, turned
  into readable thresholds in the feature's own units, with precision and coverage, plus the
  accuracy of one surrogate tree that reproduces the whole segmentation;
* **exemplars** -- the most typical customers (closest to the segment centre in the
  clustering matrix, or highest membership confidence), shown by feature values only.

Noise (label ``-1``) is kept and profiled like any segment, flagged ``is_noise``.
Everything in :meth:`SegmentProfiles.to_dict` is JSON-safe and deterministic.

The package reads as the steps: :mod:`.statistics` (the numbers), :mod:`.rules` (the
trees and their thresholds), :mod:`.exemplars` (typical customers), :mod:`.wording` (how
they read) and :mod:`.profile` (one profile per segment from all of them).
"""

from segmentkit.profiles.exemplars import Exemplar
from segmentkit.profiles.profile import NOISE, SegmentProfile, SegmentProfiles, profile_segments
from segmentkit.profiles.rules import Condition, Rule
from segmentkit.profiles.statistics import CategoricalStat, NumericStat, SegmentStats, Trait
from segmentkit.wording import format_value

#: The earlier name of :class:`Trait` (a feature that sets a segment apart).
TopFeature = Trait

__all__ = [
    "NOISE",
    "CategoricalStat",
    "Condition",
    "Exemplar",
    "NumericStat",
    "Rule",
    "SegmentProfile",
    "SegmentProfiles",
    "SegmentStats",
    "TopFeature",
    "Trait",
    "format_value",
    "profile_segments",
]
