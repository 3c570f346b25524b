"""User names for segments: ``segment_names.toml`` read, written and applied.

* :func:`load_name_overrides` / :func:`parse_name_overrides` -- user names from the file::

      [names]
      0 = "Loyal weekly shoppers"
      -1 = "Outliers"

* :func:`apply_overrides` -- generated names (:func:`segmentkit.naming.generate_names`)
  replaced by the user's, names kept unique;
* :func:`format_name_overrides` -- the file for users to edit.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Mapping

from segmentkit.naming import MAX_NAME_LENGTH, SegmentName
from segmentkit.profiles import NOISE

__all__ = ["apply_overrides", "format_name_overrides", "load_name_overrides", "parse_name_overrides"]


def _check_name(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    name = value.strip()
    if not name:
        raise ValueError(f"{where} is empty")
    if "\n" in name or "\r" in name:
        raise ValueError(f"{where} must be one line")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{where} is longer than {MAX_NAME_LENGTH} characters")
    return name


def parse_name_overrides(text: str, source: str = "<string>") -> dict[int, str]:
    """Parse ``segment_names.toml`` content.

    Parameters
    ----------
    text : str
        TOML with one ``[names]`` table mapping segment ids to names.
    source : str
        Shown in error messages (the file name).

    Returns
    -------
    dict of int to str
        Names by segment id, sorted by id.

    Raises
    ------
    ValueError
        Invalid TOML, unknown top-level keys, a missing ``[names]`` table, a key that is not
        an integer segment id, the same id twice, a name that is not a non-empty one-line
        string of at most 80 characters, or two segments with the same name. The message
        names the source and the key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"names", "briefs"})
    if unknown:
        raise ValueError(
            f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            "expected a [names] table and [briefs.ID] tables"
        )
    if "names" not in data and "briefs" in data:  # brief texts only (segmentkit.briefs reads them)
        return {}
    if "names" not in data:
        raise ValueError(f'{source}: missing [names] table, e.g.\n[names]\n0 = "Loyal weekly shoppers"')
    table = data["names"]
    if not isinstance(table, dict):
        raise ValueError(f"{source}: 'names' must be a table ([names]), got {type(table).__name__}")
    out: dict[int, str] = {}
    seen_names: dict[str, int] = {}
    for key, value in table.items():
        if not re.fullmatch(r"\s*-?\d+\s*", key):
            raise ValueError(
                f"{source}: [names] key {key!r} is not a segment id (an integer such as 0, or -1 for noise)"
            )
        sid = int(key)
        if sid < NOISE:
            raise ValueError(f"{source}: [names] key {key!r}: segment ids are >= -1")
        if sid in out:
            raise ValueError(f"{source}: [names] segment {sid} is given twice")
        name = _check_name(value, f"{source}: [names] {key}")
        if name.casefold() in seen_names:
            raise ValueError(
                f"{source}: [names] {key}: name {name!r} is already used by segment "
                f"{seen_names[name.casefold()]}"
            )
        seen_names[name.casefold()] = sid
        out[sid] = name
    return dict(sorted(out.items()))


def load_name_overrides(path: str | Path) -> dict[int, str]:
    """Read user names from a ``segment_names.toml`` file.

    Parameters
    ----------
    path : str or Path
        The file, e.g.::

            [names]
            0 = "Loyal weekly shoppers"

    Returns
    -------
    dict of int to str
        Names by segment id.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        See :func:`parse_name_overrides`; the message starts with the file path.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"segment name overrides file not found: {p}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: not UTF-8 text: {exc}") from None
    return parse_name_overrides(text, str(p))


def format_name_overrides(names: Mapping[int, SegmentName | str]) -> str:
    """A ``segment_names.toml`` with the given names, for users to edit."""
    lines = ["# Segment names; edit and keep the ids. Ids stay the same across refreshes.", "[names]"]
    for sid in sorted(names, key=lambda i: (int(i) == NOISE, int(i))):
        value = names[sid]
        name = value.name if isinstance(value, SegmentName) else str(value)
        lines.append(f"{int(sid)} = {json.dumps(name, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def apply_overrides(
    names: Mapping[int, SegmentName], overrides: Mapping[int, str], *, strict: bool = False
) -> dict[int, SegmentName]:
    """Replace generated names by user names.

    Parameters
    ----------
    names : mapping of int to SegmentName
        From :func:`generate_names`. Not modified.
    overrides : mapping of int to str
        User names by segment id (from :func:`load_name_overrides` or the API).
    strict : bool, default False
        Raise for overrides of segments that do not exist (by default they are ignored, as
        a segment may vanish in a refresh).

    Returns
    -------
    dict of int to SegmentName
        Same ids and order. An overridden entry keeps its description and remembers the
        generated name. A generated name equal to an override gets a ``(segment <id>)``
        suffix so names stay unique.

    Raises
    ------
    KeyError
        ``strict`` and an override names an unknown segment.
    ValueError
        An override is not a valid name, or two segments would get the same user name.
    """
    clean: dict[int, str] = {}
    for sid, value in overrides.items():
        sid = int(sid)
        name = _check_name(value, f"the name for segment {sid}")
        if sid not in names:
            if strict:
                raise KeyError(f"override for unknown segment {sid}; segments are {sorted(names)}")
            continue
        clean[sid] = name
    by_name: dict[str, int] = {}
    for sid, name in sorted(clean.items()):
        if name.casefold() in by_name:
            raise ValueError(f"segments {by_name[name.casefold()]} and {sid} would both be called {name!r}")
        by_name[name.casefold()] = sid
    out: dict[int, SegmentName] = {}
    for sid, current in names.items():
        if sid in clean:
            out[sid] = SegmentName(
                clean[sid], current.description, overridden=True, generated_name=current.auto_name
            )
        elif current.name.casefold() in by_name:
            out[sid] = SegmentName(
                f"{current.name} (segment {sid})",
                current.description,
                current.overridden,
                current.generated_name,
            )
        else:
            out[sid] = current
    return out
