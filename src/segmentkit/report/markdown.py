"""The short Markdown summary (``summary.md``) for pasting into a deck."""

from __future__ import annotations

import re
from typing import Any

from segmentkit.report._view import build_view
from segmentkit.result import Summary

__all__ = ["escape_markdown", "render_markdown"]

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
_LINE_START = re.compile(r"^(#|[-+]\s|\d+[.)]\s)")


def _escape_start(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[0].isdigit():  # "1. " -> "1\\. "
        return text[:-2] + "\\" + text[-2:]
    return "\\" + text


def escape_markdown(text: Any) -> str:
    """Escape Markdown (and inline HTML) syntax so that text shows as it is.

    Parameters
    ----------
    text : Any
        Any value; converted with ``str``.

    Returns
    -------
    str
        The text with Markdown's special characters backslash-escaped, on one line.
    """
    value = _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return _LINE_START.sub(_escape_start, value)


def render_markdown(summary: Summary) -> str:
    """Render the headline, the narrative and one short section per segment.

    Parameters
    ----------
    summary : Summary
        The run summary (typed).

    Returns
    -------
    str
        Markdown text; summary strings are escaped, and no customer identifier appears.
    """
    ctx = build_view(summary)["ctx"]
    head = ctx["headline"]
    e = escape_markdown
    lines = [f"# {e(head['lead'])}", ""]
    if head["narrative"]:
        lines += [e(head["narrative"]), ""]
    if head["reason"]:
        lines += [f"*Why this number of segments:* {e(head['reason'])}", ""]
    for line in head["evidence"]:
        lines += [e(line), ""]
    stats = " · ".join(f"{e(label)}: **{e(value)}**" for label, value in head["stats"])
    lines += [stats, ""]
    for seg in ctx["segments"]:
        title = e(seg["name"]) + (" (not a segment)" if seg["is_noise"] else "") + (
            f" ({e(seg['layer'])})" if seg["layer"] else "")
        lines += [f"## {title}", ""]
        lines.append(
            f"**{e(seg['size_fmt'])}** customers ({e(seg['share_fmt'])}) · "
            f"{e(seg['value_share_fmt'])} of value · value index {e(seg['value_index_fmt'])}"
        )
        lines.append("")
        if seg["description"]:
            lines += [e(seg["description"]), ""]
        for trait in seg["traits"][:3]:
            text = trait["sentence"] or f"{trait['label']}: {trait['segment_mean']} vs {trait['overall_mean']}"
            lines.append(f"- {e(text)}")
        if seg["rules"]:
            rule = seg["rules"][0]
            lines.append(
                f"- Recognise them by: `{rule['text'].replace('`', chr(39))}` "
                f"(precision {e(rule['precision'])}, coverage {e(rule['coverage'])})"
            )
        lines.append("")
        brief = seg["brief"]
        if brief and brief["sentences"]:
            lines += [f"**Brief** (objective: {e(brief['objective'])}):", ""]
            for b in brief["sentences"]:
                edited = " (edited)" if b["overridden"] else ""
                lines.append(f"- *{e(b['title'])}:* {e(b['text'])}{edited}")
            lines.append("")
    opps = ctx["opportunities"]
    if opps:
        flagged = [o for o in opps["rows"] if o["kind"] != "balanced"]
        if flagged:
            lines += ["## Opportunities", ""]
            for o in flagged:
                reason = f": {e(o['reason'])}" if o["reason"] else ""
                lines.append(f"- **{e(o['name'])}** is {e(o['kind'])}{reason}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
