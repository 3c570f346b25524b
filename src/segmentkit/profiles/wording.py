"""How a profile reads: the label of a column, a value with its unit, a trait's sentence and
a rule's bound, all in the feature's own units (numbers formatted by :mod:`segmentkit.wording`)."""

from __future__ import annotations

import re
from typing import Mapping

from segmentkit.features import FeatureSpec
from segmentkit.wording import format_value

__all__ = ["bound_text", "spec_for", "trait_sentence", "with_unit"]

#: A segment mean at least this many times the average reads "2.1× the average"; at most
#: its inverse, "40 % of the average"; in between, "25 % above/below average".
_MULTIPLE_FROM = 1.5


def spec_for(name: str, specs: Mapping[str, FeatureSpec]) -> FeatureSpec:
    """The spec of column ``name``; a ``custom`` one labelled from the name when it has none."""
    spec = specs.get(name)
    if spec is None:
        return FeatureSpec(name=name, kind="custom", label=name.replace("__", " ").replace("_", " "))
    return spec


def with_unit(value: float, spec: FeatureSpec) -> str:
    """The value formatted for its kind, with ``days`` added when the label does not say it."""
    text = format_value(value, spec.kind)
    if spec.kind == "days" and not re.search(r"\bdays?\b", spec.label.lower()):
        text += " days"
    return text


def trait_sentence(spec: FeatureSpec, seg_mean: float, overall_mean: float, index: float | None,
                   baseline: str | None = None) -> str:
    """One plain sentence comparing a segment mean with the overall mean (``baseline``: the
    customers the mean is over when not everyone, e.g. ``"the active base"``)."""
    label = spec.label[:1].upper() + spec.label[1:]
    seg = with_unit(seg_mean, spec)
    overall = format_value(overall_mean, spec.kind)
    among = "overall" if baseline is None else f"in {baseline}"
    average = "average" if baseline is None else f"the average of {baseline}"
    if spec.kind in ("share", "trend") or index is None or index <= 0:
        return f"{label}: {seg} vs {overall} {among}"
    ratio = index / 100.0
    if ratio >= _MULTIPLE_FROM:
        return f"{label}: {ratio:.1f}× the {average.removeprefix('the ')} ({seg} vs {overall})"
    if ratio > 1:
        return f"{label}: {ratio * 100 - 100:.0f} % above {average} ({seg} vs {overall})"
    if ratio <= 1 / _MULTIPLE_FROM:
        return f"{label}: {ratio * 100:.0f} % of the {average.removeprefix('the ')} ({seg} vs {overall})"
    return f"{label}: {100 - ratio * 100:.0f} % below {average} ({seg} vs {overall})"


def bound_text(spec: FeatureSpec, lower: tuple[str, float] | None, upper: tuple[str, float] | None) -> str:
    """A rule's bounds on one feature: ``"orders ≥ 12"``, ``"spend between 10 and 80"``."""
    label = spec.label
    if lower is not None and upper is not None:
        return f"{label} between {with_unit(lower[1], spec)} and {with_unit(upper[1], spec)}"
    if lower is not None:
        sign = "≥" if lower[0] == ">=" else ">"
        return f"{label} {sign} {with_unit(lower[1], spec)}"
    assert upper is not None
    return f"{label} ≤ {with_unit(upper[1], spec)}"
