"""Ad-platform audience files: one upload file per segment, normalised and hashed as each
platform documents it, with a pre-flight check of what each list can reach.

The platforms match uploaded customers on SHA-256 hashes of *normalised* contact details;
a value normalised differently from the platform's own copy never matches (match rates
below 1 % from un-normalised e-mails are a common complaint). The rules, per platform:

* **Google Ads Customer Match** (Google Ads API "Normalize and hash user-provided data";
  Display & Video 360 "Prepare user data"; Campaign Manager 360 "Enhanced conversions"):
  trim, lowercase, no whitespace in e-mail and names; phones in E.164 (``+14155552671``);
  for ``gmail.com`` / ``googlemail.com`` the dots of the local part removed (and the
  ``+tag``, which Gmail delivers to the same mailbox); SHA-256 of e-mail, phone, first and
  last name; ``Country`` (ISO 3166-1 alpha-2) and ``Zip`` are *not* hashed. CSV headers
  ``Email, Phone, First Name, Last Name, Country, Zip``.
* **Meta Custom Audiences** (Marketing API "Hashing and Normalizing Data"; Business Help
  "How to format a customer list"): every key hashed; ``email`` trimmed and lowercase;
  ``phone`` digits only with the country code and no leading zeros; ``fn``/``ln``/``ct``
  lowercase letters only, no punctuation or spaces (letters outside a-z kept as UTF-8);
  ``st`` lowercase letters/digits; ``zip`` lowercase without spaces (US: the first five
  digits); ``country`` the lowercase ISO alpha-2 code.
* **TikTok customer file** ("List of supported IDs and formats for a customer file",
  August 2025): headers ``Email_SHA256``, ``Phone_SHA256``; e-mail lowercase with ``+``
  and what follows it up to ``@`` removed; phone with the country code, symbols
  (including ``+``) and leading zeros removed (``(657)777-0000`` → ``16577770000``).

Everywhere: an empty value is never hashed (the hash of ``""`` would match nobody and
leak that the field was empty); a value that already is a SHA-256 hex digest is passed on
as it is (lowercased), not hashed twice; an e-mail or phone that cannot be normalised is
counted and left out. Raw contact details never leave this module: files carry hashes
(and, for Google, the unhashed country and zip the platform asks for), and
``audiences.json`` and messages carry counts only.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import duckdb
import numpy as np
import pandas as pd

from segmentkit.config import ColumnMapping
from segmentkit.errors import InputError
from segmentkit.export import excel_safe, read_assignments, to_json
from segmentkit.result import Segment, Summary

__all__ = [
    "PLATFORMS",
    "PLATFORM_MINIMUMS",
    "PLATFORM_NAMES",
    "AudienceExport",
    "CONTACT_ROLES",
    "contact_keys",
    "export_audiences",
    "normalise_email",
    "normalise_name",
    "normalise_phone",
    "restricted_categories",
    "sha256_hex",
]

PLATFORMS = ("google", "meta", "tiktok")
#: How the platforms spell their names, for messages and the report.
PLATFORM_NAMES = {"google": "Google", "meta": "Meta", "tiktok": "TikTok", "linkedin": "LinkedIn"}

#: Smallest list each platform accepts or advises, with where it says so. Meta's Business
#: Help ("How to format a customer list") advises against lists of fewer than 100 people;
#: Google Ads Help ("About your data segment sizes", answer 7476585) asks for at least 100
#: active users in the last 30 days on each network (Display, Search, YouTube), customer
#: lists alike; TikTok Ads Manager Help ("About Custom Audiences") requires 1,000 matched
#: users before a Custom Audience can be used in an ad group; LinkedIn Matched Audiences
#: need at least 300 matched members before they can serve.
PLATFORM_MINIMUMS = {"google": 100, "meta": 100, "tiktok": 1000, "linkedin": 300}

#: Upload file headers, exactly as the platforms name them.
HEADERS = {
    "google": ("Email", "Phone", "First Name", "Last Name", "Country", "Zip"),
    "meta": ("email", "phone", "fn", "ln", "ct", "st", "zip", "country"),
    "tiktok": ("Email_SHA256", "Phone_SHA256"),
}

#: Words in a segment's name, description or defining traits that suggest a category the
#: ad platforms restrict for targeting (Meta and Google both bar targeting on health
#: conditions and on financial status/hardship). A hit is a warning for the strategist,
#: not a verdict: rename the segment or leave it out of the upload.
RESTRICTED_WORDS = {
    "health": ("health", "pharma", "pharmacy", "medic", "clinic", "patient", "diet", "weight loss",
               "diabet", "pregnan", "fertility", "mental", "therapy", "disease", "illness",
               "drug", "prescription", "disabilit"),
    "financial hardship": ("debt", "loan", "bankrupt", "arrears", "hardship", "low income",
                           "low-income", "payday", "overdue", "default", "unemploy", "insolven",
                           "credit repair", "benefits claim"),
}

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
_ALPHA2 = re.compile(r"^[a-z]{2}$")
#: joins a value and its row's country into one key (a control character no cell holds)
_PAIR = "\x1f"


#: Roles of :class:`~segmentkit.config.ColumnMapping` that hold contact details.
CONTACT_ROLES = ("email", "phone", "first_name", "last_name", "country", "zip", "city", "state")


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA \
        or str(value).strip() == ""


def _text(value: Any) -> str:
    """A cell as text; whole floats (a phone column read as numbers) without ``.0``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def normalise_email(value: Any, platform: str) -> str | None:
    """The e-mail as ``platform`` hashes it, or ``None`` when empty or not an address.

    All platforms: trimmed, lowercase, no whitespace. Google: for gmail.com/googlemail.com
    the local part loses its dots and its ``+tag``. TikTok: the ``+tag`` is removed for
    every domain.
    """
    if _blank(value):
        return None
    text = re.sub(r"\s+", "", unicodedata.normalize("NFC", _text(value))).lower()
    if not _EMAIL.match(text):
        return None
    local, domain = text.rsplit("@", 1)
    if platform == "google" and domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
    elif platform == "tiktok":
        local = local.split("+", 1)[0]
    return f"{local}@{domain}" if local else None


def normalise_phone(value: Any, platform: str, country: str | None = None) -> str | None:
    """The phone number in E.164 (``+4420...``) for Google; its digits (country code, no
    ``+``, no leading zeros) for Meta and TikTok; ``None`` when empty or not a valid
    number. ``country`` (ISO alpha-2) is the region of numbers written without one."""
    import phonenumbers

    if _blank(value):
        return None
    text = _text(value).strip()
    region = country.upper() if country else None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if platform == "google" else e164.lstrip("+")


def normalise_name(value: Any, platform: str) -> str | None:
    """A first or last name (or Meta's city) as ``platform`` hashes it.

    Google: trimmed, lowercase, no whitespace (accents and punctuation kept). Meta:
    lowercase letters only (no punctuation, spaces or digits; letters beyond a-z kept,
    in UTF-8).
    """
    if _blank(value):
        return None
    text = unicodedata.normalize("NFC", _text(value)).lower()
    if platform == "meta":
        text = "".join(ch for ch in text if unicodedata.category(ch).startswith("L"))
    else:
        text = re.sub(r"\s+", "", text)
    return text or None


def _normalise_state(value: Any) -> str | None:
    if _blank(value):
        return None
    text = "".join(ch for ch in unicodedata.normalize("NFC", _text(value)).lower() if ch.isalnum())
    return text or None


def _normalise_zip(value: Any, country: str | None, platform: str) -> str | None:
    if _blank(value):
        return None
    text = _text(value).strip()
    if platform == "meta":
        text = re.sub(r"\s+", "", text).lower()
        if country == "us":
            m = re.match(r"^(\d{5})(-?\d{4})?$", text)
            text = m.group(1) if m else text
    return text or None


def _normalise_country(value: Any) -> str | None:
    if _blank(value):
        return None
    text = _text(value).strip().lower()
    return text if _ALPHA2.match(text) else None


@dataclass(frozen=True)
class _Keys:
    """Normalised-and-hashed keys of every customer, plus the counts of what was left out."""

    frame: pd.DataFrame
    counts: dict[str, int]


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as trimmed text, ``<NA>`` when empty; whole numbers (a phone column read as
    numbers) without ``.0``."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = pd.to_numeric(values, errors="coerce")
        known = num.dropna()
        whole = bool((known == np.floor(known)).all()) and bool((known.abs() < 2.0 ** 53).all())
        text = num.round().astype("Int64").astype("string") if whole else num.astype("string")
    else:
        text = values.astype("string")
    text = text.str.strip()
    return text.mask(text.eq("").fillna(False))


def _hash_column(text: pd.Series, normalise: Any) -> tuple[pd.Series, int, int]:
    """Hash ``normalise(value)`` once per distinct value; pass SHA-256 digests through.

    ``text`` is trimmed text (``<NA>`` when empty); a value may carry its row's country
    after :data:`_PAIR`. Returns the hashes (``None`` where empty or invalid), how many
    non-empty values were invalid, and how many already were digests.
    """
    present = text.notna()
    lookup: dict[str, str | None] = {}
    prehashed: set[str] = set()
    for v in text[present].unique():  # per distinct value, not per customer
        own = v.split(_PAIR, 1)[0].lower()
        if _SHA256_HEX.match(own):
            lookup[v] = own
            prehashed.add(v)
            continue
        norm = normalise(v)
        lookup[v] = sha256_hex(norm) if norm is not None else None
    hashed = text.map(lookup).astype(object)
    hashed = hashed.where(hashed.notna(), None)
    invalid = int((present & hashed.isna()).sum())
    return hashed, invalid, int(text[present].isin(prehashed).sum())


def _paired(values: pd.Series, country: pd.Series) -> pd.Series:
    """Each value with its row's country (for phones and Meta's zip), ``<NA>`` when empty."""
    return values + _PAIR + country.fillna("")


def contact_keys(contacts: pd.DataFrame, platform: str, columns: ColumnMapping = ColumnMapping(),
                 country: str | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """The upload columns of ``platform`` for every customer of ``contacts``.

    Parameters
    ----------
    contacts : pandas.DataFrame
        One row per customer (indexed by customer id) with the contact columns.
    platform : {"google", "meta", "tiktok"}
    columns : ColumnMapping
        Which column holds which contact detail (its contact roles); absent columns are
        not used.
    country : str, optional
        ISO 3166-1 alpha-2 code of rows without a (valid) country, for phones written
        without a country code and for the country field.

    Returns
    -------
    pandas.DataFrame, dict
        The platform's headers as columns (``None`` where a customer has no usable value),
        same index; and counts: ``invalid_emails``, ``invalid_phones``, ``already_hashed``.
    """
    if platform not in PLATFORMS:
        raise InputError(f"--platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    default = _normalise_country(country) if country else None
    if country and default is None:
        raise InputError(f"--country must be an ISO 3166-1 alpha-2 code such as GB or US, got {country!r}")

    def col(role: str) -> pd.Series:
        name = getattr(columns, role)
        if name in contacts.columns:
            return _as_text(contacts[name])
        return pd.Series(pd.NA, index=contacts.index, dtype="string")

    own = col("country").str.lower()
    own = own.where(own.str.fullmatch(_ALPHA2.pattern.strip("^$")).fillna(False))
    ctry = own.fillna(default) if default else own
    counts = {"invalid_emails": 0, "invalid_phones": 0, "already_hashed": 0}
    email, bad, pre = _hash_column(col("email"), lambda v: normalise_email(v, platform))
    counts["invalid_emails"] += bad
    counts["already_hashed"] += pre
    # a phone's region comes from its own row
    phone, bad, pre = _hash_column(_paired(col("phone"), ctry), lambda v: normalise_phone(
        v.split(_PAIR)[0], platform, v.split(_PAIR)[1] or None))
    counts["invalid_phones"] += bad
    counts["already_hashed"] += pre
    fn, _, pre_fn = _hash_column(col("first_name"), lambda v: normalise_name(v, platform))
    ln, _, pre_ln = _hash_column(col("last_name"), lambda v: normalise_name(v, platform))
    counts["already_hashed"] += pre_fn + pre_ln

    def plain(values: pd.Series) -> pd.Series:
        out = values.astype(object)
        return out.where(values.notna(), None)

    if platform == "tiktok":
        frame = pd.DataFrame({"Email_SHA256": email, "Phone_SHA256": phone})
    elif platform == "google":
        frame = pd.DataFrame({"Email": email, "Phone": phone, "First Name": fn, "Last Name": ln,
                              "Country": plain(ctry.str.upper()), "Zip": plain(col("zip"))})
    else:
        ct, _, _ = _hash_column(col("city"), lambda v: normalise_name(v, "meta"))
        st, _, _ = _hash_column(col("state"), _normalise_state)
        zp, _, _ = _hash_column(_paired(col("zip"), ctry), lambda v: _normalise_zip(
            v.split(_PAIR)[0], v.split(_PAIR)[1] or None, "meta"))
        cn, _, _ = _hash_column(ctry, lambda c: c)
        frame = pd.DataFrame({"email": email, "phone": phone, "fn": fn, "ln": ln, "ct": ct, "st": st,
                              "zip": zp, "country": cn})
    frame.index = contacts.index
    return frame, counts


def restricted_categories(segment: dict[str, Any]) -> list[str]:
    """Restricted ad categories (``health``, ``financial hardship``) that a segment's name,
    description or defining traits suggest; empty when none."""
    parts = [segment.get("name") or "", segment.get("description") or ""]
    for f in segment.get("top_features") or []:
        parts += [str(f.get("feature") or ""), str(f.get("sentence") or "")]
    for r in segment.get("rules") or []:
        parts.append(str(r.get("text") or ""))
    text = " ".join(parts).lower().replace("_", " ")
    return [cat for cat, words in RESTRICTED_WORDS.items() if any(w in text for w in words)]


@dataclass(frozen=True)
class AudienceExport:
    """What ``export_audiences`` wrote.

    Attributes
    ----------
    files : dict of int to Path
        Upload file per segment id.
    preflight : dict
        The content of ``audiences.json``.
    """

    files: dict[int, Path]
    preflight: dict[str, Any] = field(default_factory=dict)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", text).encode("ascii", "ignore")
                  .decode().lower()).strip("-")
    return slug[:40] or "segment"


def _usable(keys: pd.DataFrame, platform: str) -> dict[str, pd.Series]:
    """Per customer: a usable e-mail, phone, and name + zip (+ country) for matching."""
    if platform == "tiktok":
        none = pd.Series(False, index=keys.index)
        return {"email": keys["Email_SHA256"].notna(), "phone": keys["Phone_SHA256"].notna(),
                "name_zip": none}
    e, p, f, l, c, z = (("Email", "Phone", "First Name", "Last Name", "Country", "Zip") if platform == "google"
                        else ("email", "phone", "fn", "ln", "country", "zip"))
    return {"email": keys[e].notna(), "phone": keys[p].notna(),
            "name_zip": keys[f].notna() & keys[l].notna() & keys[z].notna() & keys[c].notna()}


def _run_segments(run: Path, segments: Sequence[int] | None,
                  ) -> tuple[dict[int, Segment], list[int], pd.DataFrame]:
    """A run's segments by id (noise left out), the ids asked for, and its assignments."""
    summary_path = run / "summary.json"
    if not summary_path.is_file() or not (run / "assignments.parquet").exists():
        raise InputError("not a run's output folder (missing assignments.parquet or summary.json)",
                         source=str(run))
    summary = Summary.read(summary_path)
    assignments = read_assignments(run)
    known = {s.id: s for s in summary.segments if s.id >= 0}
    wanted = sorted(known) if not segments else list(dict.fromkeys(int(s) for s in segments))
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise InputError(f"--segments: no segment {', '.join(map(str, unknown))} in this run; "
                         f"its segments are {', '.join(map(str, sorted(known)))}")
    return known, wanted, assignments


def _contact_keys_of(customers: Any, platform: str, columns: ColumnMapping, country: str | None,
                     ) -> tuple[dict[str, str], pd.DataFrame, dict[str, int]]:
    """The contact columns found, the platform's keys per customer id, and the counts of
    invalid contacts (:func:`contact_keys`)."""
    from segmentkit.sources import load_customers

    con = duckdb.connect()
    try:
        loaded, cust = load_customers(con, customers, columns)
    finally:
        con.close()
    roles_found = {r: getattr(columns, r) for r in CONTACT_ROLES if getattr(columns, r) in cust.columns}
    defaults = ColumnMapping()
    for role in CONTACT_ROLES:
        given = getattr(columns, role)  # "" reads no column for the role
        if given and given != getattr(defaults, role) and given not in cust.columns:
            raise InputError(f"missing column {given!r} (the {role.replace('_', ' ')} column)",
                             source=loaded.source)
    if not {"email", "phone"} & set(roles_found) and not {"first_name", "last_name", "zip"} <= set(roles_found):
        raise InputError("no contact columns: need an e-mail or phone column, or first name, last name "
                         "and zip (name them with --email-column etc. or [columns])", source=loaded.source)
    keys, counts = contact_keys(cust, platform, columns, country)
    keys.index = keys.index.astype(str)
    return roles_found, keys, counts


def _minimums(platform: str) -> dict[str, int]:
    """The list-size minimum of the platform the file is for (none known: empty)."""
    return {p: m for p, m in PLATFORM_MINIMUMS.items() if p == platform}


def _segment_file(seg: Segment, members: pd.Index, keys: pd.DataFrame, usable: dict[str, pd.Series],
                  any_key: pd.Series, platform: str, out: Path) -> tuple[Path, dict[str, Any]]:
    """Write one segment's upload file (members with a usable contact, Excel-safe); its
    pre-flight row with counts and warnings."""
    present = members[members.isin(keys.index)]
    upload = keys.loc[present][any_key.reindex(present, fill_value=False).to_numpy()]
    path = out / f"audience-{platform}-segment-{seg.id}-{_slug(seg.name)}.csv"
    safe = upload.copy()
    for c in safe.columns:
        safe[c] = excel_safe(safe[c])
    safe.to_csv(path, index=False, lineterminator="\n")
    n_rows = int(len(upload))
    flags = restricted_categories(seg.model_dump())
    warnings = [
        f"the segment's name or traits suggest a restricted category ({cat}); ad platforms do "
        "not allow targeting on it: rename the segment or leave it out of the upload"
        for cat in flags
    ]
    limits = _minimums(platform)
    below = {p: m for p, m in limits.items() if n_rows < m}
    if below:
        warnings.append(
            f"{n_rows} customers with a usable contact, below the minimum of "
            + ", ".join(f"{PLATFORM_NAMES[p]} ({m:,})" for p, m in below.items())
            + "; the platform's matched audience will be smaller still")
    return path, {
        "id": seg.id,
        "name": seg.name,
        "file": path.name,
        "customers": int(len(members)),
        "customers_without_contact_row": int(len(members) - len(present)),
        "with_email": int(usable["email"].reindex(present, fill_value=False).sum()),
        "with_phone": int(usable["phone"].reindex(present, fill_value=False).sum()),
        "with_name_zip": int(usable["name_zip"].reindex(present, fill_value=False).sum()),
        "rows_written": n_rows,
        "meets_minimum": {p: n_rows >= m for p, m in limits.items()},
        "restricted_categories": flags,
        "warnings": warnings,
    }


def export_audiences(
    run_dir: str | Path,
    customers: Any,
    platform: str,
    out_dir: str | Path,
    *,
    segments: Sequence[int] | None = None,
    columns: ColumnMapping = ColumnMapping(),
    country: str | None = None,
) -> AudienceExport:
    """Write one upload file per segment of a run, and ``audiences.json`` beside them.

    Parameters
    ----------
    run_dir : path
        A run's output folder (``assignments.parquet`` and ``summary.json``).
    customers : path or SqlQuery
        The customer table with the contact columns.
    platform : {"google", "meta", "tiktok"}
    out_dir : path
        Folder for ``audience-<platform>-segment-<id>-<name>.csv`` and ``audiences.json``.
    segments : sequence of int, optional
        Segment ids to export (default: every segment).
    columns : ColumnMapping
        Contact columns by role, and the customer id column.
    country : str, optional
        Default ISO alpha-2 country (phones without a country code, empty country cells).

    Returns
    -------
    AudienceExport
    """
    if platform not in PLATFORMS:
        raise InputError(f"--platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    known, wanted, assignments = _run_segments(Path(run_dir), segments)
    roles_found, keys, counts = _contact_keys_of(customers, platform, columns, country)
    usable = _usable(keys, platform)
    any_key = usable["email"] | usable["phone"] | usable["name_zip"]
    segmented = assignments.loc[assignments["status"] == "segmented"]
    seg_of = segmented.set_index(segmented["customer_id"].astype(str))["segment_id"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[int, Path] = {}
    rows: list[dict[str, Any]] = []
    for sid in wanted:
        members = seg_of.index[seg_of.to_numpy() == sid]
        files[sid], row = _segment_file(known[sid], members, keys, usable, any_key, platform, out)
        rows.append(row)
    in_run = keys.index.isin(assignments["customer_id"].astype(str))
    preflight = {
        "platform": platform,
        "headers": list(HEADERS[platform]),
        "default_country": country.upper() if country else None,
        "columns": roles_found,
        "minimums": _minimums(platform),
        "counts": {
            "customers_in_table": int(len(keys)),
            "customers_in_run": int(in_run.sum()),
            **counts,
            "without_usable_contact": int((~any_key[in_run]).sum()),
        },
        "segments": rows,
    }
    (out / "audiences.json").write_text(to_json(preflight), encoding="utf-8")
    return AudienceExport(files=files, preflight=preflight)
