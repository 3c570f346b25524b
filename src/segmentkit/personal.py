"""Which customer columns hold personal data, so they are never profiled by default.

A column is personal when its name says so (e-mail, phone, name, address, street, zip or
postcode, an id, IBAN, birth date, ...) or when its values do (e-mail addresses, phone
numbers, web addresses, IBANs, or text so varied that nearly every customer has their own
value). Such columns are left out of segment profiles, persona comparisons, the report and
``summary.json``; the summary names them with the reason. A column listed explicitly as a
profile column (``[roles] profile``) is profiled all the same: that is the user's decision.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["personal_columns"]

#: Name words that mark personal identifiers (a column name is split into words at
#: underscores, blanks, dashes, dots and lower→upper case changes).
PERSONAL_WORDS = frozenset({
    "email", "mail", "phone", "mobile", "tel", "telephone", "fax", "cell",
    "name", "firstname", "lastname", "surname", "fullname", "vorname", "nachname", "nom",
    "address", "addr", "street", "strasse",
    "zip", "zipcode", "postcode", "postal", "plz",
    "id", "uuid", "guid", "iban", "bic", "ssn", "passport",
    "birth", "birthday", "birthdate", "dob", "ip", "login", "username", "password",
})

#: Whole names (words joined) that are personal though no single word is.
PERSONAL_NAMES = frozenset({"dateofbirth", "emailaddress", "phonenumber", "postalcode", "zipcode", "ipaddress"})

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+?[\d\s().\-/]{7,20}$"
_URL = r"^(https?://|www\.)\S+$"
_IBAN = r"^[A-Z]{2}\d{2}\s?[A-Z0-9 ]{10,32}$"
#: Dates written as text (2024-03-01, 01.03.2024, 3/1/24, with or without a time): digits
#: and separators like a phone number's, but not one.
_DATE = r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](\d{4}|\d{2}))([ T]\d.*)?$"

#: Value patterns, with what they are; a column is personal when most values match one.
VALUE_PATTERNS: tuple[tuple[str, str], ...] = (
    (_EMAIL, "e-mail addresses"), (_URL, "web addresses"), (_IBAN, "IBANs"), (_PHONE, "phone numbers"),
)

#: Share of sampled values that must match a pattern for the column to count as such.
PATTERN_SHARE = 0.5
#: Text with more distinct values than this share of its non-empty rows is near-unique
#: (names, notes, free text): it describes persons, not groups.
NEAR_UNIQUE_SHARE = 0.5
#: Values sampled per column for the pattern checks (enough to decide, cheap for any size).
SAMPLE = 2000


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]


def _by_name(name: str) -> str | None:
    words = _words(name)
    if any(w in PERSONAL_WORDS for w in words) or "".join(words) in PERSONAL_NAMES | PERSONAL_WORDS:
        return "its name marks personal data"
    return None


def _by_value(column: pd.Series) -> str | None:
    """Why the values of ``column`` are personal data, if they are.

    Dates are not (a signup date's digits and dashes are not a phone number's; a birth date
    is found by its name). The checks read each distinct value once, with its count of
    rows: a column of a million customers holds a few thousand values at most, unless it
    is near-unique (and then it is personal anyway).
    """
    values = column.dropna()
    if (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
            or pd.api.types.is_datetime64_any_dtype(values) or len(values) == 0):
        return None
    counts = values.value_counts(sort=False)
    text = pd.Series(counts.index.astype(str), dtype=object).str.strip().to_numpy()
    filled = text != ""
    rows = int(counts.to_numpy()[filled].sum())
    if not rows:
        return None
    # the first SAMPLE values of the rows in order, as text, blanks left out
    head = values.iloc[:SAMPLE].astype(str).str.strip()
    sample = head[head != ""]
    if len(sample) < min(SAMPLE, rows):  # blanks among the first rows: read further
        text_rows = values.astype(str).str.strip()
        sample = text_rows[text_rows != ""].iloc[:SAMPLE]
    for pattern, what in VALUE_PATTERNS:
        if pattern == _PHONE:
            looks = sample.str.match(pattern) & (sample.str.count(r"\d") >= 7) & ~sample.str.match(_DATE)
        else:
            looks = sample.str.match(pattern)
        if float(looks.mean()) > PATTERN_SHARE:
            return f"its values look like {what}"
    if len(set(text[filled])) > NEAR_UNIQUE_SHARE * rows and rows > 1:
        return "nearly every customer has a value of their own"
    return None


def personal_columns(customers: pd.DataFrame, *, allowed: tuple[str, ...] = ()) -> dict[str, str]:
    """Columns of a customer table that hold personal data, with the reason for each.

    Parameters
    ----------
    customers : pandas.DataFrame
        The customer table (indexed by customer id; the id itself is not a column here).
    allowed : tuple of str
        Columns the user asked to profile explicitly: never reported as personal.

    Returns
    -------
    dict of str to str
        Column → why it is left out, in column order.
    """
    out: dict[str, str] = {}
    for col in customers.columns:
        if col in allowed:
            continue
        reason = _by_name(col) or _by_value(customers[col])
        if reason is not None:
            out[str(col)] = reason
    return out
