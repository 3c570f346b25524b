"""The one error type users see: bad input, named by file, column and row."""

from __future__ import annotations

__all__ = ["InputError", "SettingError", "first_line"]


class InputError(ValueError):
    """Bad user input, with the place it was found.

    The message reads ``"events.csv: column 'amount' row 1043: '12,5' is not a number"``.
    Rows are counted 1-based over data rows (the header line is not a row).

    Parameters
    ----------
    message : str
        What is wrong, in plain words.
    source : str, optional
        File name (or table name) where it was found.
    column : str, optional
        Column, as named in the input.
    row : int, optional
        1-based data row.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.row = row
        self.reason = message
        parts = []
        if source:
            parts.append(source)
        if column:
            parts.append(f"column {column!r}")
        if row is not None:
            parts.append(f"row {row}")
        prefix = " ".join(parts[1:]) if len(parts) > 1 else ""
        where = ": ".join(p for p in (parts[0] if parts else "", prefix) if p)
        super().__init__(f"{where}: {message}" if where else message)


class SettingError(InputError):
    """A setting outside what is allowed, named by its setting name (``min_share``).

    Whoever knows where the value came from names it: the settings file as
    ``[clustering] min_share``, the CLI as ``--min-share``, the library as ``min_share``.

    Parameters
    ----------
    setting : str
        The setting's name.
    requirement : str
        What is allowed and what was given: ``"must be a number from 0 to 0.5, got 0.6"``.
    """

    def __init__(self, setting: str, requirement: str) -> None:
        self.setting = setting
        self.requirement = requirement
        super().__init__(f"{setting} {requirement}")


def first_line(exc: BaseException) -> str:
    """The first line of a library's error message (at most 300 characters), to quote in an
    :class:`InputError`; the error's type name when the message is empty."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
