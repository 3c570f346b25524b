"""Personal data stays out: columns found by name and by value, and the canary runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit.cli import app
from segmentkit.datasets import make_demo
from segmentkit.personal import personal_columns

CANARY_EMAIL = "canary.tweety@example.org"
CANARY_NAME = "Tweety Canarybird"


@pytest.mark.parametrize("column", [
    "email", "E-Mail", "eMailAddress", "phone", "mobile_phone", "first_name", "LastName", "name",
    "address", "street", "zip", "postcode", "PostalCode", "loyalty_id", "IBAN", "birth_date",
    "date_of_birth", "DOB",
])
def test_personal_by_name(column):
    frame = pd.DataFrame({column: ["a", "b"] * 10, "region": ["North", "South"] * 10})
    assert personal_columns(frame) == {column: "its name marks personal data"}


@pytest.mark.parametrize(("values", "what"), [
    ([f"x{i % 3}@shop.example" for i in range(20)], "its values look like e-mail addresses"),
    (["+49 30 1234567", "030 765-4321"] * 10, "its values look like phone numbers"),
    (["https://a.example/x", "www.b.example"] * 10, "its values look like web addresses"),
    (["DE89370400440532013000", "GB29NWBK60161331926819"] * 10, "its values look like IBANs"),
    ([f"free text {i}" for i in range(20)], "nearly every customer has a value of their own"),
])
def test_personal_by_value(values, what):
    frame = pd.DataFrame({"contact": values, "tier": ["gold", "silver"] * 10, "age": range(20)})
    assert personal_columns(frame) == {"contact": what}


@pytest.mark.parametrize("values", [
    pd.to_datetime(["2024-03-01", "2023-11-17", "2022-01-30"] * 10),
    ["2024-03-01", "2023-11-17", "2022-01-30"] * 10,
    ["01.03.2024", "17.11.2023", "30.01.2022"] * 10,
    ["3/1/24", "11/17/23", "1/30/22"] * 10,
    ["2024-03-01 10:15:00", "2023-11-17T08:00:00"] * 15,
])
def test_dates_are_not_phone_numbers(values):
    """A signup date, as a date or as text, has a phone number's digits and dashes but is
    not one: not personal (a birth date is found by its name)."""
    frame = pd.DataFrame({"signup": values})
    assert personal_columns(frame) == {}


def test_blanks_before_the_values_do_not_hide_them():
    """The pattern check reads the first 2,000 values that are not blank, wherever they
    start: 2,500 blank rows, then e-mail addresses."""
    values = [""] * 2500 + [f"x{i % 3}@shop.example" for i in range(1000)]
    frame = pd.DataFrame({"contact": values})
    assert personal_columns(frame) == {"contact": "its values look like e-mail addresses"}


def test_listed_explicitly_is_allowed():
    frame = pd.DataFrame({"email": ["a@b.example", "c@d.example"] * 10})
    assert personal_columns(frame, allowed=("email",)) == {}


def _canary_files(tmp_path, n):
    d = make_demo(n, seed=3)
    cu = d.customers.copy()
    cu["email"] = [f"user{i % 7}@example.org" for i in range(len(cu))]
    cu.loc[cu.index[0], "email"] = CANARY_EMAIL
    cu["full_name"] = ["Ann Example", "Bob Example"] * (len(cu) // 2) + ["Cy Example"] * (len(cu) % 2)
    cu.loc[cu.index[0], "full_name"] = CANARY_NAME
    cu["contact"] = cu["email"]  # an innocent name, the values give it away
    ev_path, cu_path = tmp_path / "events.csv", tmp_path / "customers.csv"
    d.events.to_csv(ev_path, index=False)
    cu.to_csv(cu_path, index=False)
    return ev_path, cu_path


@pytest.mark.parametrize("n", [20, 600])
def test_pii_canary_appears_nowhere(tmp_path, n):
    """A planted e-mail address and name are in no output file, log or message."""
    ev, cu = _canary_files(tmp_path, n)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--events", str(ev), "--customers", str(cu), "--out", str(out),
                                   "--persona-column", "persona", "--attention-column", "marketing_touches"])
    assert res.exit_code == 0, res.output
    said = res.stdout + res.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"summary.json", "report.html", "assignments.csv", "model.json"}
    for needle in (CANARY_EMAIL, CANARY_NAME, "Canarybird", "@example.org"):
        assert needle not in said
        for p in files:
            assert needle.encode() not in p.read_bytes(), p.name
    skipped = json.loads((out / "summary.json").read_text())["profile_skipped"]
    assert set(skipped) >= {"email", "full_name", "contact"}
