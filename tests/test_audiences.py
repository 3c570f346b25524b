"""Ad-platform audience files: normalisation and hashing against the platforms' documented
rules, one file per segment in each platform's format, the pre-flight counts, and no raw
contact detail anywhere but hashed.

Every digest below is the SHA-256 of the normalised string written next to it, computed
once with ``hashlib`` from that literal (``hashlib.sha256(b"johndoe@googlemail.com")``),
never from segmentkit's output; the normalised strings follow the documents cited in
``segmentkit/audiences.py``. TikTok's own example digest is quoted from its help page.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit.audiences import (
    HEADERS,
    contact_keys,
    export_audiences,
    normalise_email,
    normalise_name,
    normalise_phone,
    restricted_categories,
    sha256_hex,
)
from segmentkit.cli import app
from segmentkit.config import ColumnMapping
from segmentkit.export import write_summary
from segmentkit.pipeline import Segmentation

# normalised string -> SHA-256, by hashlib on the literal
DIGEST = {
    "johndoe@googlemail.com": "f07280f43150f779598094600662ad3c94d7c0a78c78b15c4056e4a38df260b9",
    "john.doe+news@googlemail.com": "14edaac14d5d811368550c9156e9aa7f61b08d3ebfa2f9a900216b2107fddeea",
    "first.last+x@example.org": "3149c0ad89e9c577d667d33dd7cbb3b3872522e6452aa2dfc03e6f5389a5ae32",
    "first.last@example.org": "d0e3df07eba20cddbefca85e59a5d3789c38d5369540f21c5e4a5020b8213f19",
    "+16577770000": "a6e82c2f4091baff57a4f33d01efb65bfbeacbbfbcfaa9d0ff9f57d28d78fedb",
    "16577770000": "8d7bdaaf75196f351d22942fc0dd79304ffabc3eaf3339460ef9da0773e3aec2",
    "+442071838750": "e631c2534428c6c9b48c2167604a8983046085e43a2c00ed748733c544c0bb4d",
    "442071838750": "8d5f937f3a5590634cbe975951a6aa1543170671ce6e73cce4062f4e8c288417",
    "joséo'brien-smith": "8d4382364712ca1ce27f703ca01f8569147e8d6659c983f0707164e66bc532e1",
    "joséobriensmith": "ccf36aeb0309819b9484eee4a127d1ef482fb5d41dd9806d2786cff56af6df77",
    "gb": "0b407281768f0e833afef47ed464b6571d01ca4d53c12ce5c51d1462f4ad6677",
    "sw1a1aa": "830e1d4b9838bab1f5c2acdb23e0b502ff13a9832c4632e8d67a1d43d3b7f614",
    "london": "6089854c94ca5454b76be6752c562901a985f64c9a946f62976aeab593b83161",
}
# TikTok's help page ("List of supported IDs and formats for a customer file"): the e-mail
# normalised to "janedoe@gmail.com" hashes to this digest
TIKTOK_DOC_EXAMPLE = ("janedoe@gmail.com", "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69")
ALREADY = "A" * 8 + "0123456789abcdef" * 3 + "deadbeef"  # 64 hex characters, upper case in part


def test_sha256_matches_the_platform_example():
    assert sha256_hex(TIKTOK_DOC_EXAMPLE[0]) == TIKTOK_DOC_EXAMPLE[1]
    for text, digest in DIGEST.items():
        assert sha256_hex(text) == digest


@pytest.mark.parametrize(("raw", "platform", "expected"), [
    # Google: Gmail/Googlemail lose the dots and the +tag of the local part
    ("  John.Doe+News@GoogleMail.com ", "google", "johndoe@googlemail.com"),
    ("J.Doe@gmail.com", "google", "jdoe@gmail.com"),
    # ... other domains keep both
    ("First.Last+x@Example.ORG", "google", "first.last+x@example.org"),
    # Meta: trimmed and lowercase, nothing removed
    (" John.Doe+News@GoogleMail.com", "meta", "john.doe+news@googlemail.com"),
    # TikTok: the +tag goes for every domain, the dots stay
    ("First.Last+x@Example.ORG", "tiktok", "first.last@example.org"),
    ("JaneDoe@Gmail.com", "tiktok", "janedoe@gmail.com"),
    # mixed case with inner spaces
    ("Jane Doe @Gmail.com", "meta", "janedoe@gmail.com"),
    # not an address, or empty: nothing to hash
    ("not-an-email", "google", None),
    ("a@b", "meta", None),
    ("", "google", None),
    ("   ", "tiktok", None),
    (None, "meta", None),
])
def test_email_normalisation(raw, platform, expected):
    assert normalise_email(raw, platform) == expected


@pytest.mark.parametrize(("raw", "platform", "country", "expected"), [
    # TikTok's help page: (657)777-0000 in the US normalises to 16577770000
    ("(657)777-0000", "tiktok", "US", "16577770000"),
    ("(657) 777-0000", "google", "US", "+16577770000"),  # E.164 for Google
    ("657.777.0000", "meta", "us", "16577770000"),  # digits with country code for Meta
    # local format with the trunk zero, and the same number written internationally
    ("020 7183 8750", "google", "GB", "+442071838750"),
    ("+44 20 7183 8750", "google", None, "+442071838750"),
    ("0044 20 7183 8750", "meta", None, "442071838750"),
    ("+44 (0)20 7183 8750", "meta", "US", "442071838750"),  # its own country code wins
    (442071838750.0, "meta", None, None),  # read as a number: no '+', no region: unknown country
    (4420718387.0, "google", "GB", None),  # too short for a UK number
    ("12", "google", "US", None),
    ("", "google", "US", None),
])
def test_phone_normalisation(raw, platform, country, expected):
    assert normalise_phone(raw, platform, country) == expected


@pytest.mark.parametrize(("raw", "platform", "expected"), [
    # Google: trim, lowercase, no whitespace; accents and punctuation kept
    (" José O'Brien-Smith ", "google", "joséo'brien-smith"),
    # Meta: letters only, no punctuation or spaces; é kept as UTF-8
    (" José O'Brien-Smith ", "meta", "joséobriensmith"),
    ("Mary Ann", "meta", "maryann"),
    ("", "meta", None),
    ("--", "meta", None),
])
def test_name_normalisation(raw, platform, expected):
    assert normalise_name(raw, platform) == expected


def _contacts() -> pd.DataFrame:
    return pd.DataFrame({
        "email": ["  John.Doe+News@GoogleMail.com ", "", "broken@", ALREADY, "First.Last+x@Example.ORG"],
        "phone": ["020 7183 8750", "+1 (657) 777-0000", None, "call me", ""],
        "first_name": [" José ", "Mary Ann", "", None, "Zoë"],
        "last_name": ["O'Brien-Smith", "Smith", "Lee", None, ""],
        "country": ["GB", "", "gb", "GB", "XX1"],
        "zip": ["SW1A 1AA", "", "EC1A 1BB", None, "94043"],
        "city": ["London", None, "", None, None],
    }, index=pd.Index(["c1", "c2", "c3", "c4", "c5"], name="customer_id"))


def test_google_keys():
    keys, counts = contact_keys(_contacts(), "google", country="US")
    assert list(keys.columns) == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert keys.loc["c1", "Email"] == DIGEST["johndoe@googlemail.com"]
    assert keys.loc["c1", "Phone"] == DIGEST["+442071838750"]
    assert keys.loc["c2", "Phone"] == DIGEST["+16577770000"]
    assert keys.loc["c1", "Last Name"] == sha256_hex("o'brien-smith")
    # country and zip are not hashed; the default country fills an empty cell
    assert keys.loc["c1", "Country"] == "GB" and keys.loc["c1", "Zip"] == "SW1A 1AA"
    assert keys.loc["c2", "Country"] == "US"
    assert keys.loc["c5", "Country"] == "US"  # 'XX1' is no ISO code
    # empty values are never hashed; a digest is not hashed twice
    assert keys.loc["c2", "Email"] is None and keys.loc["c5", "Phone"] is None
    assert keys.loc["c3", "First Name"] is None
    assert keys.loc["c4", "Email"] == ALREADY.lower()
    assert counts == {"invalid_emails": 1, "invalid_phones": 1, "already_hashed": 1}


def test_meta_keys():
    keys, _ = contact_keys(_contacts(), "meta", country="US")
    assert list(keys.columns) == ["email", "phone", "fn", "ln", "ct", "st", "zip", "country"]
    assert keys.loc["c1", "email"] == DIGEST["john.doe+news@googlemail.com"]
    assert keys.loc["c1", "phone"] == DIGEST["442071838750"]
    assert keys.loc["c2", "phone"] == DIGEST["16577770000"]
    assert keys.loc["c1", "fn"] == sha256_hex("josé")
    assert keys.loc["c2", "fn"] == sha256_hex("maryann")
    assert keys.loc["c1", "ln"] == sha256_hex("obriensmith")
    assert keys.loc["c1", "ct"] == DIGEST["london"]
    assert keys.loc["c1", "zip"] == DIGEST["sw1a1aa"]
    assert keys.loc["c1", "country"] == DIGEST["gb"]  # Meta hashes the country too
    assert keys.loc["c5", "zip"] == sha256_hex("94043")
    assert keys["st"].isna().all()  # no state column


def test_tiktok_keys():
    keys, counts = contact_keys(_contacts(), "tiktok", country="US")
    assert list(keys.columns) == ["Email_SHA256", "Phone_SHA256"]
    assert keys.loc["c5", "Email_SHA256"] == DIGEST["first.last@example.org"]
    assert keys.loc["c1", "Phone_SHA256"] == DIGEST["442071838750"]
    assert counts["invalid_emails"] == 1 and counts["invalid_phones"] == 1


def test_bad_platform_and_country():
    with pytest.raises(ValueError, match="--platform must be one of google, meta, tiktok"):
        contact_keys(_contacts(), "linkedin")
    with pytest.raises(ValueError, match="--country must be an ISO"):
        contact_keys(_contacts(), "google", country="Britain")


def test_restricted_categories():
    assert restricted_categories({"name": "Pharmacy regulars", "top_features": []}) == ["health"]
    assert restricted_categories({"name": "Loyal", "top_features": [
        {"feature": "share_payday_loans", "sentence": "buys payday loans"}]}) == ["financial hardship"]
    assert restricted_categories({"name": "Weekend browsers", "description": "view often"}) == []


# --- a run folder, by hand ------------------------------------------------------------

PII = {  # raw values that must appear nowhere but hashed
    "emails": [f"Person.{i}@Example.com" for i in range(130)],
    "phones": [f"020 7183 {8000 + i:04d}" for i in range(130)],
    "first": [f"Firstname{i}" for i in range(130)],
    "last": [f"Lastname{i}" for i in range(130)],
}


def _run_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A run's folder: 130 customers in segment 0, 20 in segment 1 (a health name), 5 noise,
    and a customer table with contacts for the first 130 plus 5 with nothing usable."""
    run = tmp_path / "run"
    run.mkdir()
    ids = [f"k{i:03d}" for i in range(155)]
    seg = [0] * 130 + [1] * 20 + [-1] * 5
    status = ["segmented"] * 150 + ["noise"] * 5
    pd.DataFrame({"customer_id": ids, "segment_id": seg,
                  "segment_name": ["Loyal"] * 130 + ["Pharmacy regulars"] * 20 + [""] * 5,
                  "status": status, "confidence": 1.0}).to_parquet(run / "assignments.parquet")
    # the summary of a real run of these customers (130 and 25 apart on one feature), renamed
    spend = pd.DataFrame({"customer_id": ids, "spend": [1.0 + i % 7 for i in range(130)] + [90.0 + i for i in range(25)]})
    result = Segmentation(k=2, feature_columns=("spend",), n_bootstrap=2).fit(customers=spend)
    write_summary(result.with_names({0: "Loyal", 1: "Pharmacy regulars"}).summary.to_dict(), run)
    n = 130
    cust = pd.DataFrame({
        "cid": ids[:n] + ids[130:135],
        "mail": PII["emails"] + [""] * 5,
        "tel": PII["phones"] + ["nope"] * 5,
        "vorname": PII["first"] + [""] * 5,
        "nachname": PII["last"] + [""] * 5,
        "land": ["GB"] * (n + 5),
        "plz": ["SW1A 1AA"] * (n + 5),
    })
    path = tmp_path / "customers.csv"
    cust.to_csv(path, index=False)
    return run, path


def _mapping(**kw: str) -> ColumnMapping:
    return ColumnMapping(customer_id="cid", email="mail", phone="tel", first_name="vorname",
                         last_name="nachname", country="land", zip="plz", **kw)


def test_export_writes_one_file_per_segment_with_preflight(tmp_path):
    run, customers = _run_dir(tmp_path)
    out = tmp_path / "aud"
    res = export_audiences(run, customers, "google", out, columns=_mapping())
    assert sorted(res.files) == [0, 1]
    f0 = pd.read_csv(res.files[0], dtype=str)
    assert tuple(f0.columns) == HEADERS["google"]
    assert len(f0) == 130
    assert f0["Email"].iloc[0] == sha256_hex("person.0@example.com")  # dots kept outside Gmail
    assert f0["Phone"].iloc[0] == sha256_hex("+442071838000")
    assert set(f0["Country"]) == {"GB"} and set(f0["Zip"]) == {"SW1A 1AA"}
    pre = json.loads((out / "audiences.json").read_text())
    assert pre == res.preflight
    s0, s1 = pre["segments"]
    assert (s0["customers"], s0["with_email"], s0["with_phone"], s0["with_name_zip"], s0["rows_written"]) == \
        (130, 130, 130, 130, 130)
    # Google Ads Help: at least 100 active users on each network, customer lists alike
    assert pre["minimums"] == {"google": 100}  # the exported platform's minimum only
    assert s0["meets_minimum"] == {"google": True}
    # segment 1: 20 customers, 5 in the table without a usable contact, 15 not in it at all
    assert (s1["customers"], s1["customers_without_contact_row"], s1["rows_written"]) == (20, 15, 0)
    assert s1["restricted_categories"] == ["health"]
    assert any("restricted category (health)" in w for w in s1["warnings"])
    assert s1["meets_minimum"] == {"google": False}
    below = [w for w in s1["warnings"] if "below the minimum" in w]
    assert len(below) == 1 and "below the minimum of Google (100);" in below[0]
    assert not any(name in below[0] for name in ("Meta", "TikTok", "LinkedIn"))  # not another platform's
    meta = export_audiences(run, customers, "meta", tmp_path / "aud-meta", columns=_mapping()).preflight
    assert meta["minimums"] == {"meta": 100}
    assert [s["meets_minimum"] for s in meta["segments"]] == [{"meta": True}, {"meta": False}]
    assert any("below the minimum of Meta (100);" in w for w in meta["segments"][1]["warnings"])
    assert pre["counts"]["invalid_phones"] == 5 and pre["counts"]["without_usable_contact"] == 5
    assert pd.read_csv(res.files[1]).empty and tuple(pd.read_csv(res.files[1]).columns) == HEADERS["google"]


def test_export_selected_segments_and_unknown_segment(tmp_path):
    run, customers = _run_dir(tmp_path)
    res = export_audiences(run, customers, "tiktok", tmp_path / "t", segments=[0, 1], columns=_mapping())
    assert list(res.files) == [0, 1]
    # TikTok Ads Manager Help: 1,000 matched users before a Custom Audience serves
    assert res.preflight["minimums"] == {"tiktok": 1000}
    assert [s["meets_minimum"] for s in res.preflight["segments"]] == [{"tiktok": False}, {"tiktok": False}]
    assert any("130 customers with a usable contact, below the minimum of TikTok (1,000);" in w
               for w in res.preflight["segments"][0]["warnings"])
    res = export_audiences(run, customers, "tiktok", tmp_path / "t1", segments=[1], columns=_mapping())
    assert list(res.files) == [1]
    with pytest.raises(ValueError, match="--segments: no segment 7 in this run; its segments are 0, 1"):
        export_audiences(run, customers, "tiktok", tmp_path / "t", segments=[7], columns=_mapping())
    with pytest.raises(ValueError, match="missing column 'e_mail' \\(the email column\\)"):
        export_audiences(run, customers, "meta", tmp_path / "t", columns=_mapping().__class__(
            customer_id="cid", email="e_mail"))


@pytest.mark.slow
def test_cli_export_audiences_and_the_canary(tmp_path):
    run, customers = _run_dir(tmp_path)
    settings = tmp_path / "settings.toml"
    settings.write_text('[columns]\ncustomer_id = "cid"\nemail = "mail"\nfirst_name = "vorname"\n'
                        'last_name = "nachname"\ncountry = "land"\nzip = "plz"\n', encoding="utf-8")
    runner = CliRunner()
    outputs = []
    for platform in ("google", "meta", "tiktok"):
        out = tmp_path / platform
        res = runner.invoke(app, ["export-audiences", str(run), "--customers", str(customers),
                                  "--platform", platform, "--settings", str(settings),
                                  "--phone-column", "tel", "--country", "GB", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "Pharmacy regulars" in res.output and "restricted category (health)" in res.output
        first = pd.read_csv(out / f"audience-{platform}-segment-0-loyal.csv", dtype=str)
        assert tuple(first.columns) == HEADERS[platform]
        outputs.append(res.output)
        outputs += [p.read_text(encoding="utf-8") for p in sorted(out.iterdir())]
    text = "\n".join(outputs).lower()
    for values in PII.values():
        for v in values:
            assert v.lower() not in text
    for fragment in ("+4420718", "4420718380", "@example.com", "lastname1"):  # nor normalised forms
        assert fragment not in text
    # user errors: exit 2, one line
    res = runner.invoke(app, ["export-audiences", str(run), "--customers", str(customers),
                              "--platform", "myspace", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "--platform must be one of google, meta, tiktok, got 'myspace'" in res.output


def test_help_of_export_audiences():
    res = CliRunner().invoke(app, ["export-audiences", "--help"])
    assert res.exit_code == 0
    for flag in ("--platform", "--segments", "--country", "--email-column", "--zip-column"):
        assert flag in res.output


@pytest.mark.slow
def test_preflight_section_in_a_real_runs_report(tmp_path):
    from segmentkit.datasets import make_demo, write_demo
    from segmentkit.pipeline import Segmentation
    from segmentkit.report import write_report

    data = make_demo(400, seed=2)
    paths = write_demo(tmp_path / "data", data)
    run = tmp_path / "run"
    result = Segmentation(k=3, random_state=0, n_bootstrap=2).fit(events=paths["events"])
    result.write(run)
    write_report(result.summary, run)
    ids = result.assignments["customer_id"].tolist()
    contacts = pd.DataFrame({"customer_id": ids,
                             "email": [f"Canary.{i}@Example.net" for i in range(len(ids))],
                             "phone": [f"+44 20 7946 {i:04d}" for i in range(len(ids))]})
    cpath = tmp_path / "contacts.csv"
    contacts.to_csv(cpath, index=False)
    res = CliRunner().invoke(app, ["export-audiences", str(run), "--customers", str(cpath), "--platform", "meta",
                                   "--out", str(tmp_path / "aud")])
    assert res.exit_code == 0, res.output
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Ad-platform audiences (Meta)" in html and 'href="#audiences"' in html
    pre = json.loads((tmp_path / "aud" / "audiences.json").read_text())
    for seg in pre["segments"]:
        assert f"{seg['id']} · {seg['name']}" in html
        assert seg["with_email"] == seg["customers"] - seg["customers_without_contact_row"]
    written = "\n".join([html, res.output] + [p.read_text() for p in (tmp_path / "aud").iterdir()]).lower()
    assert "canary." not in written and "example.net" not in written and "7946" not in html


@pytest.mark.slow
def test_contact_columns_are_never_profiled(tmp_path):
    """A customer table with contact columns: the run's summary and report hold none of them,
    even when they look like low-cardinality text or numbers."""
    from segmentkit.datasets import make_demo, write_demo
    from segmentkit.pipeline import Segmentation
    from segmentkit.report import write_report

    data = make_demo(300, seed=4)
    cust = data.customers.copy()
    n = len(cust)
    cust["first_name"] = [f"Canaryname{i % 5}" for i in range(n)]  # 5 values: would pass as a category
    cust["e_mail"] = [f"canary{i % 7}@example.org" for i in range(n)]
    cust["phone"] = [447700900000 + i % 3 for i in range(n)]  # numbers: would get a mean
    paths = write_demo(tmp_path / "data", data)
    cust.to_csv(paths["customers"], index=False)
    result = Segmentation(k=3, random_state=0, n_bootstrap=2, columns=ColumnMapping(email="e_mail")).fit(
        customers=paths["customers"], events=paths["events"])
    write_report(result.summary, tmp_path / "out")
    text = json.dumps(result.summary.to_dict()) + (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    for seg in result.summary.segments:
        names = set(seg.profile.attributes)
        assert not names & {"first_name", "e_mail", "phone"}
        assert {"age", "region"} <= names  # the other customer columns still are
    assert "canaryname" not in text.lower() and "@example.org" not in text and "4477009" not in text


def test_a_phone_column_read_as_numbers():
    contacts = pd.DataFrame({"phone": [6577770000.0, np.nan], "email": [None, "Jane.Doe@Gmail.com"]},
                            index=pd.Index(["a", "b"], name="customer_id"))
    keys, counts = contact_keys(contacts, "google", country="US")
    assert keys.loc["a", "Phone"] == DIGEST["+16577770000"] and keys.loc["b", "Phone"] is None
    assert keys.loc["b", "Email"] == sha256_hex("janedoe@gmail.com") and keys.loc["a", "Email"] is None
    assert counts == {"invalid_emails": 0, "invalid_phones": 0, "already_hashed": 0}
