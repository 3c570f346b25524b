"""Hostile inputs: a table of awkward files, flags and settings, each with its exact outcome.

Every case runs the CLI in-process (``CliRunner``; a subprocess per case would be too slow)
and asserts the exit code and either the one error line (exit 2: naming file, column, row,
flag or setting) or what the run reports (exit 0: a ``data_quality`` count, a status in the
assignments). No case may print a traceback. A few cases at the end run as a subprocess, as
a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmentkit.cli import app
from segmentkit.datasets import make_demo

runner = CliRunner()

#: Base data: 40 demo customers and 1,886 events of 41 customers (two of them not in the
#: customer table, one customer without events): small, so every case runs in about a second.
N_BASE = 41
N_CUSTOMERS = 40
N_BOTH = 42


@lru_cache(maxsize=1)
def _base() -> tuple[str, str]:
    d = make_demo(N_CUSTOMERS, seed=1)
    ev = d.events.copy()
    ev["event_time"] = ev["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    cu = d.customers.copy()
    cu["signup_date"] = cu["signup_date"].dt.strftime("%Y-%m-%d")
    return ev.to_csv(index=False, lineterminator="\n"), cu.to_csv(index=False, lineterminator="\n")


def EV() -> str:
    return _base()[0]


def CU() -> str:
    return _base()[1]


def ev_plus(*rows: str) -> Callable[[], str]:
    """The base events with rows appended (columns: customer_id, event_time, event_type,
    order_id, amount, quantity, category, channel, discount_used)."""
    return lambda: EV() + "".join(r + "\n" for r in rows)


def cu_plus(*rows: str) -> Callable[[], str]:
    return lambda: CU() + "".join(r + "\n" for r in rows)


def ev_map(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[], str]:
    def build() -> str:
        from io import StringIO

        df = pd.read_csv(StringIO(EV()), dtype=str, keep_default_na=False)
        return fn(df).to_csv(index=False, lineterminator="\n")
    return build


def cu_map(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[], str]:
    def build() -> str:
        from io import StringIO

        df = pd.read_csv(StringIO(CU()), dtype=str, keep_default_na=False)
        return fn(df).to_csv(index=False, lineterminator="\n")
    return build


def small_ev(n: int) -> Callable[[], str]:
    """Events of the first ``n`` customers only."""
    def keep(df: pd.DataFrame) -> pd.DataFrame:
        ids = sorted(df["customer_id"].unique())[:n]
        return df[df["customer_id"].isin(ids)]
    return ev_map(keep)


def ids_of(mapping: Callable[[str], str]) -> Callable[[], str]:
    return ev_map(lambda df: df.assign(customer_id=df["customer_id"].map(mapping)))


@dataclass(frozen=True)
class Case:
    """One hostile input and its exact outcome.

    ``files``: name → text (or bytes, or a function giving either); ``args``: the command
    line, ``{d}`` standing for the case's folder. ``code``: the exit code. ``error``: a
    fragment of the one error line (exit 2). ``check``: for exit 0, a function of the
    output folder that returns ``(actual, expected)``.
    """

    id: str
    files: dict[str, Any]
    args: tuple[str, ...]
    code: int
    error: str | None = None
    check: Callable[[Path], tuple[Any, Any]] | None = None
    needs_model: bool = False
    one_line: bool = True  # False only for the command-line parser's own usage errors


def dq(key: str, expected: Any) -> Callable[[Path], tuple[Any, Any]]:
    """``data_quality[key]`` (dotted for nested keys) of the run's summary."""
    def check(out: Path) -> tuple[Any, Any]:
        value: Any = json.loads((out / "summary.json").read_text())["data_quality"]
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value, expected
    return check


def summary(fn: Callable[[dict], Any], expected: Any) -> Callable[[Path], tuple[Any, Any]]:
    return lambda out: (fn(json.loads((out / "summary.json").read_text())), expected)


def status_of(cid: str, expected: str) -> Callable[[Path], tuple[Any, Any]]:
    """The status of one customer in ``assignments.csv`` (and that it appears once)."""
    def check(out: Path) -> tuple[Any, Any]:
        a = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
        rows = a[a["customer_id"] == cid]
        return (list(rows["status"]), [expected])
    return check


def ids_in_assignments(expected: list[str] | Callable[[], list[str]]) -> Callable[[Path], tuple[Any, Any]]:
    """These ids appear in ``assignments.csv``, each once, spelled exactly so."""
    def check(out: Path) -> tuple[Any, Any]:
        want = expected() if callable(expected) else expected
        a = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
        return sorted(x for x in a["customer_id"] if x in set(want)), sorted(want)
    return check


def base_ids(mapping: Callable[[str], str]) -> Callable[[], list[str]]:
    def ids() -> list[str]:
        from io import StringIO

        return [mapping(c) for c in sorted(set(pd.read_csv(StringIO(EV()), dtype=str)["customer_id"]))]
    return ids


def n_assigned(expected: int) -> Callable[[Path], tuple[Any, Any]]:
    def check(out: Path) -> tuple[Any, Any]:
        a = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
        return (len(a), a["customer_id"].is_unique), (expected, True)
    return check


def not_in_outputs(*needles: str) -> Callable[[Path], tuple[Any, Any]]:
    def check(out: Path) -> tuple[Any, Any]:
        found = []
        for p in sorted(out.rglob("*")):
            if p.is_file() and p.suffix in (".json", ".html", ".csv"):
                text = p.read_text(encoding="utf-8", errors="replace")
                found += [(p.name, n) for n in needles if n in text]
        return found, []
    return check


def profiled_skipped(column: str) -> Callable[[Path], tuple[Any, Any]]:
    return summary(lambda s: column in (s.get("profile_skipped") or {}), True)


RUN = ("run", "--out", "{d}/out")
EVR = RUN + ("--events", "{d}/events.csv", "--k", "3")          # events-only, fixed k (fast)
BOTH = EVR + ("--customers", "{d}/customers.csv")
ASSIGN = ("assign", "{d}/model", "--out", "{d}/assigned", "--events", "{d}/events.csv")

E = {"events.csv": EV}
EC = {"events.csv": EV, "customers.csv": CU}
HDR = "customer_id,event_time,event_type,order_id,amount,quantity,category,channel,discount_used"

CASES: list[Case] = [
    # --- the happy path, for reference -------------------------------------------------
    Case("base-events", E, EVR, 0, check=n_assigned(N_BASE)),
    Case("base-both", EC, BOTH, 0, check=n_assigned(N_BOTH)),
    Case("base-selection", E, RUN + ("--events", "{d}/events.csv"), 0, check=n_assigned(N_BASE)),
    # --- 1. nobody lost ------------------------------------------------------------------
    Case("lost-no-time", {"events.csv": ev_plus("ZZ1,,purchase,Z1,10,1,home,web,0", "ZZ1,,view,,,,home,web,0")},
         EVR, 0, check=status_of("ZZ1", "no_usable_events")),
    Case("lost-unknown-type", {"events.csv": ev_plus("ZZ2,2024-09-01 10:00:00,wishlist,,,,home,web,0")},
         EVR, 0, check=status_of("ZZ2", "no_usable_events")),
    Case("lost-blank-type", {"events.csv": ev_plus("ZZ3,2024-09-01 10:00:00,,,,,home,web,0")},
         EVR, 0, check=status_of("ZZ3", "no_usable_events")),
    Case("lost-after-snapshot", {"events.csv": ev_plus("ZZ4,2024-12-30 10:00:00,purchase,Z4,10,1,home,web,0")},
         EVR + ("--snapshot-date", "2024-12-01"), 0, check=status_of("ZZ4", "no_usable_events")),
    Case("lost-after-snapshot-counted", {"events.csv": ev_plus("ZZ4,2024-12-30 10:00:00,purchase,Z4,10,1,home,web,0")},
         EVR + ("--snapshot-date", "2024-12-01"), 0, check=n_assigned(N_BASE + 1)),
    Case("lost-with-customers-no-events", {"events.csv": EV, "customers.csv": cu_plus("ZZ5,30,F,West,low,Retirees,3,2020-01-01")},
         BOTH, 0, check=status_of("ZZ5", "no_events")),
    Case("ids-12.5-vs-12.50", {"events.csv": ev_plus("12.5,2024-09-01 10:00:00,purchase,Q1,10,1,home,web,0",
                                                     "12.50,2024-09-02 10:00:00,purchase,Q2,20,1,home,web,0")},
         EVR, 0, check=ids_in_assignments(["12.5", "12.50"])),
    Case("ids-1e3-vs-1000", {"events.csv": ev_plus("1e3,2024-09-01 10:00:00,purchase,Q1,10,1,home,web,0",
                                                   "1000,2024-09-02 10:00:00,purchase,Q2,20,1,home,web,0")},
         EVR, 0, check=ids_in_assignments(["1e3", "1000"])),
    Case("ids-numeric-all", {"events.csv": ids_of(lambda c: str(int(c[1:])))}, EVR, 0,
         check=ids_in_assignments(base_ids(lambda c: str(int(c[1:]))))),
    Case("ids-float-all", {"events.csv": ids_of(lambda c: f"{int(c[1:])}.0")}, EVR, 0,
         check=ids_in_assignments(base_ids(lambda c: f"{int(c[1:])}.0"))),
    Case("ids-leading-zeros", {"events.csv": ids_of(lambda c: c[1:])}, EVR, 0,
         check=ids_in_assignments(base_ids(lambda c: c[1:]))),
    Case("ids-007-vs-7", {"events.csv": ev_plus("007,2024-09-01 10:00:00,purchase,Q1,10,1,home,web,0",
                                                "7,2024-09-02 10:00:00,purchase,Q2,20,1,home,web,0")},
         EVR, 0, check=ids_in_assignments(["007", "7"])),
    Case("ids-trimmed-counted", {"events.csv": ids_of(lambda c: f" {c} " if c.endswith("1") else c)}, EVR, 0,
         check=dq("ids_trimmed", 211)),
    Case("ids-trimmed-merged", {"events.csv": ids_of(lambda c: f" {c}" if c.endswith("1") else c)}, EVR, 0,
         check=n_assigned(N_BASE)),
    Case("ids-unicode", {"events.csv": ids_of(lambda c: "Ü" + c)}, EVR, 0, check=ids_in_assignments(["ÜC000001"])),
    Case("ids-case-distinct", {"events.csv": ev_plus("abc,2024-09-01 10:00:00,purchase,Q1,10,1,home,web,0",
                                                     "ABC,2024-09-02 10:00:00,purchase,Q2,20,1,home,web,0")},
         EVR, 0, check=ids_in_assignments(["ABC", "abc"])),
    Case("ids-numeric-customers-table", {"events.csv": ids_of(lambda c: str(int(c[1:]))),
                                         "customers.csv": cu_map(lambda d: d.assign(customer_id=d["customer_id"].str[1:].astype(int).astype(str)))},
         BOTH, 0, check=dq("orphan_customers", 2)),
    Case("ids-missing-counted", {"events.csv": ev_plus(",2024-09-01 10:00:00,purchase,Q1,10,1,home,web,0")},
         EVR, 0, check=dq("events_missing_customer_id", 1)),
    Case("orphans-counted", {"events.csv": ev_plus("ORPH,2024-09-01 10:00:00,purchase,Q1,10,1,home,web,0"), "customers.csv": CU},
         BOTH, 0, check=dq("orphan_customers", 3)),
    Case("orphans-kept", {"events.csv": ev_plus("ORPH,2024-09-01 10:00:00,purchase,Q1,10,1,home,web,0"), "customers.csv": CU},
         BOTH, 0, check=n_assigned(N_BOTH + 1)),
    # --- 2. personal data ----------------------------------------------------------------
    Case("pii-email-col", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(email=[f"p{i % 10}@example.com" for i in range(len(d))]))},
         BOTH, 0, check=not_in_outputs("@example.com")),
    Case("pii-email-skipped", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(email=[f"p{i % 10}@example.com" for i in range(len(d))]))},
         BOTH, 0, check=profiled_skipped("email")),
    Case("pii-email-by-value", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(contact=[f"p{i % 5}@example.com" for i in range(len(d))]))},
         BOTH, 0, check=not_in_outputs("@example.com")),
    Case("pii-name", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(name=["Jane Canary", "John Canary"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("Canary")),
    Case("pii-first-name", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(first_name=["Zelda", "Quincy"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("Zelda")),
    Case("pii-phone-name", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(phone=["0301234567", "0307654321"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("0301234567")),
    Case("pii-phone-value", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(contact_no=["+49 30 1234567", "+49 30 7654321"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("1234567")),
    Case("pii-address", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(address=["1 Canary Wharf", "2 Canary Wharf"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("Canary Wharf")),
    Case("pii-street", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(Street=["Hauptstr. 1", "Hauptstr. 2"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("Hauptstr")),
    Case("pii-zip", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(zip=["X10115", "X10117"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("X10115")),
    Case("pii-postcode", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(postcode=["SW1A 1AA", "EC1A 1BB"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("SW1A 1AA")),
    Case("pii-iban", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(IBAN=["DE89370400440532013000", "DE89370400440532013001"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("DE8937040044053201300")),
    Case("pii-birth-date", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(birth_date=["1970-01-13", "1980-02-14"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("1970-01-13")),
    Case("pii-dob", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(date_of_birth=["1970-01-13", "1980-02-14"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("1970-01-13")),
    Case("pii-other-id", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(loyalty_id=["L-777001", "L-777002"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("L-77700")),
    Case("pii-url", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(homepage=["https://canary.example/a", "https://canary.example/b"] * (len(d) // 2)))},
         BOTH, 0, check=not_in_outputs("canary.example")),
    Case("pii-near-unique", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(note=[f"Note {i} Canary" for i in range(len(d))]))},
         BOTH, 0, check=not_in_outputs("Canary")),
    Case("pii-explicit-profile", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(postcode=["N1", "E2"] * (len(d) // 2))),
                                  "s.toml": '[roles]\nprofile = ["postcode", "region"]\n'},
         BOTH + ("{d}/s.toml",), 0, check=summary(lambda s: "postcode" in (s.get("profile_skipped") or {}), False)),
    # the contact columns of the mapping (e-mail, phone, names) are never profiled, even when listed
    Case("pii-contact-never", {"events.csv": EV, "customers.csv": cu_map(lambda d: d.assign(email=[f"p{i % 2}@example.com" for i in range(len(d))])),
                               "s.toml": '[roles]\nprofile = ["email", "region"]\n'},
         BOTH + ("{d}/s.toml",), 0, check=not_in_outputs("@example.com")),
    Case("pii-region-still-profiled", EC, BOTH, 0, check=summary(lambda s: "region" in (s.get("profile_skipped") or {}), False)),
    # --- 4. silent distortion ---------------------------------------------------------------
    Case("outlier-2099", {"events.csv": ev_plus("C000001,2099-01-01 10:00:00,purchase,Z9,10,1,home,web,0")},
         EVR, 0, check=dq("events_outside_time_range", 1)),
    Case("outlier-2099-snapshot", {"events.csv": ev_plus("C000001,2099-01-01 10:00:00,purchase,Z9,10,1,home,web,0")},
         EVR, 0, check=summary(lambda s: s["snapshot_date"] < "2030", True)),
    Case("outlier-1900", {"events.csv": ev_plus("C000001,1900-01-01 10:00:00,purchase,Z9,10,1,home,web,0")},
         EVR, 0, check=dq("events_outside_time_range", 1)),
    Case("outlier-year-1", {"events.csv": ev_plus("C000001,0001-01-01 10:00:00,purchase,Z9,10,1,home,web,0")},
         EVR, 0, check=dq("events_outside_time_range", 1)),
    Case("outlier-9999", {"events.csv": ev_plus("C000001,9999-12-31 10:00:00,purchase,Z9,10,1,home,web,0")},
         EVR, 0, check=dq("events_outside_time_range", 1)),
    Case("outlier-only-customer", {"events.csv": ev_plus("ZZ7,2099-01-01 10:00:00,purchase,Z9,10,1,home,web,0")},
         EVR, 0, check=status_of("ZZ7", "no_usable_events")),
    Case("nan-amount", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,NaN,1,home,web,0")},
         EVR, 0, check=dq("non_finite_amounts", 1)),
    Case("nan-amount-lower", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,nan,1,home,web,0")},
         EVR, 0, check=dq("non_finite_amounts", 1)),
    Case("inf-amount", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,inf,1,home,web,0")},
         EVR, 0, check=dq("non_finite_amounts", 1)),
    Case("neg-inf-amount", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,-Infinity,1,home,web,0")},
         EVR, 0, check=dq("non_finite_amounts", 1)),
    Case("huge-amount", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,1e308,1,home,web,0",
                                               "C000002,2024-09-01 10:00:00,purchase,Z8,1e308,1,home,web,0")},
         EVR, 0, check=dq("non_finite_amounts", 2)),
    Case("nan-quantity", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,5,NaN,home,web,0")},
         EVR, 0, check=dq("non_finite_amounts", 1)),
    Case("nan-amount-parquet", {"events.parquet": lambda: _parquet_with_nan()},
         RUN + ("--events", "{d}/events.parquet", "--k", "3"), 0, check=dq("non_finite_amounts", 1)),
    Case("missing-amount-col", E, EVR + ("--amount-column", "revenue"), 2,
         error="events.csv: missing column 'revenue' (the amount); found: customer_id, event_time"),
    Case("missing-category-col", E, EVR + ("--category-column", "dept"), 2, error="missing column 'dept' (the category)"),
    Case("missing-channel-col", E, EVR + ("--channel-column", "via"), 2, error="missing column 'via' (the channel)"),
    Case("missing-quantity-col", E, EVR + ("--quantity-column", "qty"), 2, error="missing column 'qty' (the quantity)"),
    Case("missing-discount-col", E, EVR + ("--discount-column", "promo"), 2, error="missing column 'promo' (the discount)"),
    Case("missing-order-col", E, EVR + ("--order-column", "ord"), 2, error="missing column 'ord' (the order id)"),
    Case("missing-type-col", E, EVR + ("--type-column", "kind"), 2, error="missing column 'kind' (the event type)"),
    Case("missing-time-col", E, EVR + ("--time-column", "ts"), 2, error="missing column 'ts' (the event time)"),
    Case("missing-id-col", E, EVR + ("--id-column", "cust"), 2, error="missing column 'cust' (the customer id)"),
    Case("missing-amount-col-toml", {"events.csv": EV, "s.toml": '[columns]\namount = "revenue"\n'},
         EVR + ("{d}/s.toml",), 2, error="missing column 'revenue' (the amount)"),
    Case("missing-persona-col", EC, BOTH + ("--persona-column", "segment"), 2, error="missing column 'segment' (the persona column)"),
    Case("missing-attention-col", EC, BOTH + ("--attention-column", "touches"), 2, error="missing column 'touches' (the attention column)"),
    Case("missing-feature-col", EC, BOTH + ("--feature-columns", "ltv"), 2, error="missing column 'ltv' (a feature column)"),
    Case("feature-col-text", EC, BOTH + ("--feature-columns", "region"), 2, error="column 'region' row 1: 'West' is not a number"),
    Case("feature-cols-without-customers", E, EVR + ("--feature-columns", "age"), 2, error="--feature-columns needs a customers table"),
    # --- 5. user errors that were tracebacks ---------------------------------------------------
    # (one base customer has purchases only, and is not in that file at all)
    Case("no-purchases", {"events.csv": ev_map(lambda d: d[d["event_type"] != "purchase"])}, EVR, 0, check=n_assigned(N_BASE - 1)),
    Case("no-purchases-noted", {"events.csv": ev_map(lambda d: d[d["event_type"] != "purchase"])}, EVR, 0,
         check=summary(lambda s: any("value shares count customers" in n for n in s["data_quality"]["notes"]), True)),
    Case("all-negative", {"events.csv": ev_map(lambda d: d.assign(amount=d["amount"].map(lambda v: "-" + v.lstrip("-") if v else v)))},
         EVR, 0, check=n_assigned(N_BASE)),
    Case("few-customers-default-k", {"events.csv": small_ev(11)}, RUN + ("--events", "{d}/events.csv"), 0, check=n_assigned(11)),
    Case("ten-customers", {"events.csv": small_ev(10)}, RUN + ("--events", "{d}/events.csv"), 0, check=n_assigned(10)),
    Case("three-customers", {"events.csv": small_ev(3)}, RUN + ("--events", "{d}/events.csv"), 2,
         error="only 3 customers to segment; at least 10 are needed"),
    Case("one-customer", {"events.csv": small_ev(1)}, RUN + ("--events", "{d}/events.csv"), 2,
         error="only 1 customers to segment; at least 10 are needed"),
    Case("k-min-too-big", {"events.csv": small_ev(12)}, RUN + ("--events", "{d}/events.csv", "--k-min", "7", "--k-max", "8"), 2,
         error="only 12 customers to segment; at least 14 are needed for k_min = 7"),
    Case("min-share-0.6", E, EVR + ("--min-share", "0.6"), 2, error="--min-share must be"),
    Case("min-share-neg", E, EVR + ("--min-share", "-0.1"), 2, error="--min-share must be"),
    Case("min-share-nan", E, EVR + ("--min-share", "nan"), 2, error="--min-share must be"),
    Case("min-value-share-0.9", E, EVR + ("--min-value-share", "0.9"), 2, error="--min-value-share must be"),
    Case("min-value-share-neg", E, EVR + ("--min-value-share", "-1"), 2, error="--min-value-share must be"),
    Case("max-segments-1", E, EVR + ("--max-segments", "1"), 2, error="--max-segments must be"),
    Case("max-segments-0", E, EVR + ("--max-segments", "0"), 2, error="--max-segments must be"),
    Case("algorithm-bogus", E, EVR + ("--algorithm", "bogus"), 2, error="--algorithm must be one of"),
    Case("algorithm-empty", E, EVR + ("--algorithm", ""), 2, error="--algorithm must be one of"),
    Case("hdbscan-with-k", E, EVR + ("--algorithm", "hdbscan"), 2, error="--k cannot be used with algorithm hdbscan"),
    Case("dbscan-with-k", E, EVR + ("--algorithm", "dbscan"), 2, error="--k cannot be used with algorithm dbscan"),
    Case("seed-negative", E, EVR + ("--seed", "-1"), 2, error="--seed must be"),
    Case("seed-huge", E, EVR + ("--seed", str(2**40)), 2, error="--seed must be"),
    Case("seed-text", E, EVR + ("--seed", "abc"), 2, error="Invalid value for '--seed'", one_line=False),
    Case("k-1", E, RUN + ("--events", "{d}/events.csv", "--k", "1"), 2, error="--k must be"),
    Case("k-0", E, RUN + ("--events", "{d}/events.csv", "--k", "0"), 2, error="--k must be"),
    Case("k-negative", E, RUN + ("--events", "{d}/events.csv", "--k", "-3"), 2, error="--k must be"),
    Case("k-huge", E, RUN + ("--events", "{d}/events.csv", "--k", "1000000"), 2, error="--k must be an integer from 2 to 100, got 1000000"),
    Case("k-above-n", E, RUN + ("--events", "{d}/events.csv", "--k", "41"), 2, error="only 41 customers to segment, too few for k = 41 (at most 20:"),
    Case("k-min-1", E, RUN + ("--events", "{d}/events.csv", "--k-min", "1"), 2, error="--k-min must be"),
    Case("k-max-below-min", E, RUN + ("--events", "{d}/events.csv", "--k-min", "5", "--k-max", "3"), 2, error="--k-max must be"),
    Case("k-max-above-half", E, RUN + ("--events", "{d}/events.csv", "--k-max", "30"), 0, check=n_assigned(N_BASE)),
    Case("k-max-huge", E, RUN + ("--events", "{d}/events.csv", "--k-max", "100000"), 2, error="--k-max must be"),
    Case("snapshot-bad", E, EVR + ("--snapshot-date", "2024-13-01"), 2, error="--snapshot-date must be YYYY-MM-DD"),
    Case("snapshot-before-all", E, EVR + ("--snapshot-date", "2000-01-01"), 2, error="events.csv: no usable events before the snapshot date 2000-01-01"),
    Case("toml-k-text", {"events.csv": EV, "s.toml": '[clustering]\nk = "three"\n'}, RUN + ("--events", "{d}/events.csv", "{d}/s.toml"), 2,
         error="s.toml: [clustering] k must be"),
    Case("toml-k-float", {"events.csv": EV, "s.toml": '[clustering]\nk = 3.5\n'}, RUN + ("--events", "{d}/events.csv", "{d}/s.toml"), 2,
         error="[clustering] k must be"),
    Case("toml-k-bool", {"events.csv": EV, "s.toml": '[clustering]\nk = true\n'}, RUN + ("--events", "{d}/events.csv", "{d}/s.toml"), 2,
         error="[clustering] k must be"),
    Case("toml-min-share-text", {"events.csv": EV, "s.toml": '[clustering]\nmin_share = "x"\n'}, EVR + ("{d}/s.toml",), 2,
         error="[clustering] min_share must be"),
    Case("toml-min-share-big", {"events.csv": EV, "s.toml": '[clustering]\nmin_share = 0.9\n'}, EVR + ("{d}/s.toml",), 2,
         error="[clustering] min_share must be"),
    Case("toml-algorithm-int", {"events.csv": EV, "s.toml": '[clustering]\nalgorithm = 3\n'}, EVR + ("{d}/s.toml",), 2,
         error="[clustering] algorithm must be one of"),
    Case("toml-seed-text", {"events.csv": EV, "s.toml": '[clustering]\nseed = "x"\n'}, EVR + ("{d}/s.toml",), 2,
         error="[clustering] seed must be"),
    Case("toml-assign-noise-text", {"events.csv": EV, "s.toml": '[clustering]\nassign_noise = "yes"\n'}, EVR + ("{d}/s.toml",), 2,
         error="[clustering] assign_noise must be true or false"),
    Case("toml-n-bootstrap-neg", {"events.csv": EV, "s.toml": '[clustering]\nn_bootstrap = -5\n'}, EVR + ("{d}/s.toml",), 2,
         error="[clustering] n_bootstrap must be"),
    Case("toml-column-int", {"events.csv": EV, "s.toml": '[columns]\namount = 5\n'}, EVR + ("{d}/s.toml",), 2,
         error="[columns] amount must be a column name"),
    Case("toml-features-string", {"events.csv": EV, "customers.csv": CU, "s.toml": '[roles]\nfeatures = "age"\n'},
         BOTH + ("{d}/s.toml",), 2, error="[roles] features must be a list of column names"),
    Case("toml-profile-int", {"events.csv": EV, "s.toml": '[roles]\nprofile = 3\n'}, EVR + ("{d}/s.toml",), 2,
         error="[roles] profile must be a list of column names"),
    Case("toml-persona-list", {"events.csv": EV, "s.toml": '[roles]\npersona = ["a"]\n'}, EVR + ("{d}/s.toml",), 2,
         error="[roles] persona must be a column name"),
    Case("toml-section-not-table", {"events.csv": EV, "s.toml": 'clustering = 3\n'}, EVR + ("{d}/s.toml",), 2,
         error="[clustering] must be a table"),
    Case("toml-unknown-key", {"events.csv": EV, "s.toml": '[clustering]\nkk = 3\n'}, EVR + ("{d}/s.toml",), 2,
         error="unknown setting(s) kk"),
    Case("toml-unknown-section", {"events.csv": EV, "s.toml": '[cluster]\nk = 3\n'}, EVR + ("{d}/s.toml",), 2,
         error="unknown section(s) cluster"),
    Case("toml-binary", {"events.csv": EV, "s.toml": bytes(range(256))}, EVR + ("{d}/s.toml",), 2,
         error="s.toml: not a UTF-8 text file"),
    Case("toml-invalid", {"events.csv": EV, "s.toml": "[clustering\nk=3"}, EVR + ("{d}/s.toml",), 2, error="s.toml: not valid TOML"),
    Case("toml-missing", E, EVR + ("{d}/nope.toml",), 2, error="config file not found"),
    Case("toml-snapshot-bad", {"events.csv": EV, "s.toml": '[data]\nsnapshot_date = "soon"\n'}, EVR + ("{d}/s.toml",), 2,
         error="[data] snapshot_date must be YYYY-MM-DD"),
    Case("toml-snapshot-int", {"events.csv": EV, "s.toml": '[data]\nsnapshot_date = 5\n'}, EVR + ("{d}/s.toml",), 2,
         error="[data] snapshot_date must be YYYY-MM-DD"),
    Case("toml-data-unknown", {"events.csv": EV, "s.toml": '[data]\nsnap = 5\n'}, EVR + ("{d}/s.toml",), 2,
         error="unknown setting(s) snap"),
    Case("toml-snapshot-date-ok", {"events.csv": EV, "s.toml": '[data]\nsnapshot_date = 2024-12-01\n'}, EVR + ("{d}/s.toml",), 0,
         check=summary(lambda s: s["snapshot_date"], "2024-12-01")),
    Case("names-missing", E, EVR + ("--names", "{d}/nope.toml"), 2, error="--names: segment name overrides file not found"),
    Case("names-malformed", {"events.csv": EV, "n.toml": "[names\n0='x'"}, EVR + ("--names", "{d}/n.toml"), 2, error="n.toml"),
    Case("names-non-integer", {"events.csv": EV, "n.toml": '[names]\nabc = "x"\n'}, EVR + ("--names", "{d}/n.toml"), 2, error="n.toml"),
    Case("names-binary", {"events.csv": EV, "n.toml": b"\xff\xfe\x00"}, EVR + ("--names", "{d}/n.toml"), 2, error="n.toml"),
    Case("out-is-file", {"events.csv": EV, "out": "x"}, EVR, 2, error="--out"),
    Case("out-under-file", {"events.csv": EV, "f": "x"}, ("run", "--events", "{d}/events.csv", "--k", "3", "--out", "{d}/f/sub"), 2,
         error="--out"),
    Case("previous-missing", E, EVR + ("--previous", "{d}/nope"), 2, error="no model.json here"),
    Case("database-without-query", E, RUN + ("--database", "postgresql://x@localhost/db"), 2, error="--database"),
    Case("query-without-database", E, RUN + ("--events-query", "events"), 2, error="need --database"),
    Case("no-inputs", {}, RUN, 2, error="give --events, --customers, or both"),
    # --- 6. file shapes and messages ------------------------------------------------------------
    Case("events-missing-file", {}, RUN + ("--events", "{d}/nope.csv"), 2, error="nope.csv: file not found"),
    Case("events-directory", {"dir/x": "x"}, RUN + ("--events", "{d}/dir"), 2, error="file not found"),
    Case("events-empty", {"events.csv": ""}, EVR, 2, error="events.csv: the file is empty"),
    Case("events-header-only", {"events.csv": HDR + "\n"}, EVR, 2, error="events.csv: the file has a header but no rows"),
    Case("events-blank-lines", {"events.csv": "\n\n\n"}, EVR, 2, error="events.csv"),
    Case("events-json", {"events.json": "{}"}, RUN + ("--events", "{d}/events.json"), 2, error="unsupported file type '.json'"),
    Case("events-no-id", {"events.csv": ev_map(lambda d: d.drop(columns=["customer_id"]))}, EVR, 2,
         error="events.csv: missing column 'customer_id'"),
    Case("events-no-time", {"events.csv": ev_map(lambda d: d.drop(columns=["event_time"]))}, EVR, 2,
         error="events.csv: missing column 'event_time'"),
    Case("events-ragged-long", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,10,1,home,web,0,EXTRA,MORE")},
         EVR, 2, error="events.csv: row 1887: has 11 fields where the header has 9"),
    Case("events-ragged-short", {"events.csv": lambda: EV().replace("\n", "\nC000001,2024-09-01\n", 1)},
         EVR, 2, error="events.csv: row 1: has 2 fields where the header has 9"),
    Case("events-unclosed-quote", {"events.csv": ev_plus('C000001,2024-09-01 10:00:00,purchase,"Z9,10,1,home,web,0')},
         EVR, 0, check=dq("events_rows_read", 1887)),
    Case("events-utf16", {"events.csv": lambda: EV().encode("utf-16")}, EVR, 2, error="events.csv: the file is UTF-16 encoded; save it as UTF-8"),
    Case("events-utf16-le-no-bom", {"events.csv": lambda: EV().encode("utf-16-le")}, EVR, 2, error="events.csv: the file is UTF-16 encoded; save it as UTF-8"),
    Case("events-all-blank-types", {"events.csv": ev_map(lambda d: d.assign(event_type=""))}, EVR, 2,
         error="events.csv: column 'event_type': every event type is blank"),
    Case("events-all-unknown-types", {"events.csv": ev_map(lambda d: d.assign(event_type="wish"))}, EVR, 2,
         error="events.csv: column 'event_type': no event of a known type (purchase, view, cart, return, or a synonym such as order or refund); found: wish"),
    Case("events-bad-time", {"events.csv": ev_plus("C000001,yesterday,purchase,Z9,10,1,home,web,0")}, EVR, 2,
         error="events.csv: column 'event_time' row 1887: 'yesterday' is not a date or time"),
    Case("events-bad-amount", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,ten,1,home,web,0")}, EVR, 2,
         error="events.csv: column 'amount' row 1887: 'ten' is not a number"),
    Case("events-bad-discount", {"events.csv": ev_plus("C000001,2024-09-01 10:00:00,purchase,Z9,10,1,home,web,maybe")}, EVR, 2,
         error="column 'discount_used' row 1887: 'maybe' is not a yes/no or number"),
    Case("events-all-times-missing", {"events.csv": ev_map(lambda d: d.assign(event_time=""))}, EVR, 2,
         error="events.csv: no event has both a customer id and a time"),
    Case("events-semicolon", {"events.csv": lambda: EV().replace(",", ";")}, EVR, 0, check=n_assigned(N_BASE)),
    Case("events-tab", {"events.tsv": lambda: EV().replace(",", "\t")}, RUN + ("--events", "{d}/events.tsv", "--k", "3"), 0,
         check=n_assigned(N_BASE)),
    Case("events-bom", {"events.csv": lambda: "\ufeff" + EV()}, EVR, 0, check=n_assigned(N_BASE)),
    Case("events-cp1252", {"events.csv": lambda: ev_plus("Ä1,2024-09-01 10:00:00,purchase,Z9,10,1,home,web,0")().encode("cp1252")},
         EVR, 0, check=ids_in_assignments(["Ä1"])),
    Case("events-crlf", {"events.csv": lambda: EV().replace("\n", "\r\n")}, EVR, 0, check=n_assigned(N_BASE)),
    Case("events-duplicates-counted", {"events.csv": lambda: EV() + EV().split("\n", 1)[1]}, EVR, 0,
         check=dq("duplicate_events_dropped", 1890)),
    Case("events-iso-offsets", {"events.csv": ev_map(lambda d: d.assign(event_time=d["event_time"].str.replace(" ", "T") + "+02:00"))},
         EVR, 0, check=n_assigned(N_BASE)),
    Case("events-nul-bytes", {"events.csv": lambda: EV().replace("home", "ho\x00me", 3)}, EVR, 2,
         error="events.csv: holds a NUL byte at byte 197: not a text (CSV) file"),
    Case("events-binary", {"events.csv": bytes(range(256)) * 4}, EVR, 2, error="events.csv: holds a NUL byte at byte 0: not a text (CSV) file"),
    Case("events-xlsx-fake", {"events.xlsx": "not a spreadsheet"}, RUN + ("--events", "{d}/events.xlsx"), 2, error="events.xlsx"),
    Case("events-parquet-fake", {"events.parquet": "not parquet"}, RUN + ("--events", "{d}/events.parquet"), 2, error="events.parquet"),
    Case("events-one-column", {"events.csv": "customer_id\nA\nB\n"}, EVR, 2, error="missing column 'event_time'"),
    Case("events-dup-header", {"events.csv": "customer_id,event_time,customer_id\nA,2024-01-01,B\n"}, EVR, 2,
         error="events.csv: the header names column 'customer_id' more than once"),
    Case("customers-empty", {"events.csv": EV, "customers.csv": ""}, BOTH, 2, error="customers.csv: the file is empty"),
    Case("customers-dup-id", {"events.csv": EV, "customers.csv": cu_plus("C000001,30,F,West,low,Retirees,3,2020-01-01")}, BOTH, 2,
         error="customers.csv: column 'customer_id' row 41: duplicate customer id 'C000001'"),
    Case("customers-dup-after-trim", {"events.csv": EV, "customers.csv": cu_plus(" C000001 ,30,F,West,low,Retirees,3,2020-01-01")}, BOTH, 2,
         error="row 41: duplicate customer id 'C000001'"),
    Case("customers-empty-id", {"events.csv": EV, "customers.csv": cu_plus(",30,F,West,low,Retirees,3,2020-01-01")}, BOTH, 2,
         error="customers.csv: column 'customer_id' row 41: empty customer id"),
    Case("customers-no-id", {"events.csv": EV, "customers.csv": "cid,age\n1,2\n"}, BOTH, 2,
         error="customers.csv: missing column 'customer_id'"),
    Case("customers-only-no-features", {"customers.csv": CU}, RUN + ("--customers", "{d}/customers.csv"), 2,
         error="no features"),
    Case("customers-only-features", {"customers.csv": CU}, RUN + ("--customers", "{d}/customers.csv", "--feature-columns", "age,marketing_touches", "--k", "3"),
         0, check=n_assigned(N_CUSTOMERS)),
    Case("customers-feature-nan", {"customers.csv": cu_plus("ZZ8,NaN,F,West,low,Retirees,3,2020-01-01")},
         RUN + ("--customers", "{d}/customers.csv", "--feature-columns", "age,marketing_touches", "--k", "3"), 0,
         check=n_assigned(N_CUSTOMERS + 1)),
    Case("customers-feature-inf", {"customers.csv": cu_plus("ZZ8,inf,F,West,low,Retirees,3,2020-01-01")},
         RUN + ("--customers", "{d}/customers.csv", "--feature-columns", "age,marketing_touches", "--k", "3"), 0,
         check=dq("non_finite_features", 1)),
    # --- assign --------------------------------------------------------------------------------
    Case("spark-master-without-spark", E, EVR + ("--spark-master", "local[1]"), 2,
         error="--spark-master needs --engine spark"),
    Case("assign-spark-master-without-spark", E, ASSIGN + ("--spark-master", "local[1]"), 2, needs_model=True,
         error="--spark-master needs --engine spark"),
    Case("assign-ok", E, ASSIGN, 0, needs_model=True, check=lambda d: (len(pd.read_csv(d.parent / "assigned" / "assignments.csv")), N_BASE)),
    Case("assign-missing-amount", {"events.csv": ev_map(lambda d: d.drop(columns=["amount"]))}, ASSIGN, 2, needs_model=True,
         error="events.csv: missing column 'amount'"),
    Case("assign-missing-category", {"events.csv": ev_map(lambda d: d.drop(columns=["category"]))}, ASSIGN, 2, needs_model=True,
         error="events.csv: missing column 'category'"),
    Case("assign-no-events", {}, ("assign", "{d}/model", "--out", "{d}/assigned"), 2, needs_model=True,
         error="this model was fitted on events: give --events"),
    Case("assign-bad-snapshot", E, ASSIGN + ("--snapshot-date", "yesterday"), 2, needs_model=True,
         error="--snapshot-date must be YYYY-MM-DD"),
    Case("assign-no-model", E, ("assign", "{d}/nomodel", "--events", "{d}/events.csv", "--out", "{d}/assigned"), 2,
         error="no model.json here"),
    Case("assign-lost-customer", {"events.csv": ev_plus("ZZ9,,purchase,Z1,10,1,home,web,0")}, ASSIGN, 0, needs_model=True,
         check=lambda d: (list(pd.read_csv(d.parent / "assigned" / "assignments.csv", dtype=str).query("customer_id == 'ZZ9'")["status"]),
                          ["no_usable_events"])),
]


def _model_case(id: str, mutate: Callable[[dict], Any], error: str) -> Case:
    return Case(f"model-{id}", {"events.csv": EV, "model/model.json": ("MODEL", mutate)}, ASSIGN, 2, error=error)


def _set(path: str, value: Any) -> Callable[[dict], dict]:
    def mutate(m: dict) -> dict:
        node = m
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        return m
    return mutate


def _drop(key: str) -> Callable[[dict], dict]:
    def mutate(m: dict) -> dict:
        del m[key]
        return m
    return mutate


def _deep(m: dict) -> str:
    return "[" * 100000 + "]" * 100000


CASES += [
    _model_case("list", lambda m: [1, 2, 3], "model.json: must be an object"),
    _model_case("empty-object", lambda m: {}, "model.json: not a segmentkit model"),
    _model_case("not-json", lambda m: "{{{", "model.json: not valid JSON"),
    _model_case("empty-file", lambda m: "", "model.json: not valid JSON"),
    _model_case("binary", lambda m: b"\xff\xfe\x00\x01", "model.json: not valid JSON"),
    _model_case("deep-nesting", _deep, "model.json"),
    _model_case("missing-state", _drop("state"), "model.json: missing 'state'"),
    _model_case("missing-preparation", _drop("preparation"), "model.json: missing 'preparation'"),
    _model_case("missing-label-map", _drop("label_map"), "model.json: missing 'label_map'"),
    _model_case("algorithm-int", _set("algorithm", 5), "model.json: 'algorithm' must be"),
    _model_case("algorithm-unknown", _set("algorithm", "magic"), "model.json: 'algorithm' must be one of"),
    _model_case("label-id-huge", _set("label_map", {"1000000000000": 0}), "model.json: 'label_map'"),
    _model_case("label-map-text", _set("label_map", {"a": "b"}), "model.json: 'label_map'"),
    _model_case("feature-names-str", _set("feature_names", "abc"), "model.json: 'feature_names' must be"),
    _model_case("nan-centre", lambda m: _set("state.centres", [[float("nan")] * len(r) for r in m["state"]["centres"]])(m),
                "model.json: 'state.centres' must hold finite numbers"),
    _model_case("inf-centre", lambda m: _set("state.centres", [[1e999] * len(r) for r in m["state"]["centres"]])(m),
                "model.json: 'state.centres' must hold finite numbers"),
    _model_case("centres-ragged", lambda m: _set("state.centres", [[1.0], [1.0, 2.0]])(m), "model.json: 'state.centres'"),
    _model_case("centres-string", lambda m: _set("state.centres", "x")(m), "model.json: 'state.centres'"),
    _model_case("centres-wrong-width", lambda m: _set("state.centres", [[1.0, 2.0]] * 3)(m), "model.json: 'state.centres'"),
    _model_case("prep-nan", lambda m: [c.update(scale=float("nan")) for c in m["preparation"]["columns"]] and m,
                "model.json: 'preparation.columns.scale' must hold finite numbers"),
    _model_case("prep-not-list", lambda m: _set("preparation.columns", 3)(m), "model.json: 'preparation.columns'"),
    _model_case("prep-wrong-length", lambda m: _set("preparation.columns", m["preparation"]["columns"][:1])(m),
                "model.json: 'state.centres' must be a list of segment centres with 1 numbers each"),
    _model_case("prep-unknown-feature", lambda m: [c.update(name="nope") for c in m["preparation"]["columns"]] and m,
                "model.json: 'preparation.columns' must hold column transforms"),
    _model_case("prep-zero-scale", lambda m: [c.update(scale=0) for c in m["preparation"]["columns"]] and m,
                "model.json: 'preparation.columns' scale must not be 0"),
    _model_case("huge-segment-count", lambda m: _set("names", {str(i): "x" for i in range(2000)})(m),
                "model.json: 'names' segment id 1001 is outside -1..1000"),
    _model_case("format-wrong", _set("format", "other/9"), "model.json: not a segmentkit model"),
    _model_case("names-not-dict", _set("names", [1]), "model.json: 'names' must be"),
    _model_case("levels-not-dict", _set("levels", 3), "model.json: 'levels' must be"),
    _model_case("exclude-not-dict", _set("exclude", ["staff"]), "model.json: 'exclude' must be an object"),
    _model_case("exclude-value-not-list", _set("exclude", {"account_type": "staff"}),
                "model.json: 'exclude' must map at most 100 column names to lists of 1 to 10,000 texts"),
    _model_case("exclude-number", _set("exclude", {"account_type": [1]}), "model.json: 'exclude' must map"),
    _model_case("exclude-blank", _set("exclude", {"account_type": [" "]}), "model.json: 'exclude' must map"),
    _model_case("brief-overrides-topic", _set("brief_overrides", {"0": {"slogan": "x"}}),
                "model.json: brief_overrides: [briefs.0] unknown topic 'slogan'"),
    _model_case("brief-overrides-not-text", _set("brief_overrides", {"0": {"risk": 3}}),
                "model.json: brief_overrides: [briefs.0] risk must be a non-empty string"),
    _model_case("exclude-no-values", _set("exclude", {"account_type": []}), "model.json: 'exclude' must map"),
    _model_case("exclude-too-many-values", _set("exclude", {"account_type": ["x"] * 10_001}),
                "model.json: 'exclude' must map"),
    _model_case("exclude-too-many-columns", _set("exclude", {f"c{i}": ["x"] for i in range(101)}),
                "model.json: 'exclude' must map"),
    _model_case("exclude-long-text", _set("exclude", {"account_type": ["x" * 1001]}), "model.json: 'exclude' must map"),
]


@lru_cache(maxsize=1)
def _fitted_model() -> str:
    """model.json of a run on the base events (text), made once."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="hostile-model-"))
    (d / "events.csv").write_text(EV(), encoding="utf-8")
    res = runner.invoke(app, ["run", "--events", str(d / "events.csv"), "--k", "3", "--out", str(d / "out")])
    assert res.exit_code == 0, res.output
    return (d / "out" / "model" / "model.json").read_text(encoding="utf-8")


def _parquet_with_nan() -> bytes:
    """The base events as Parquet with one real NaN amount (not a null)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.read_csv(io.StringIO(EV()))
    amounts = df["amount"].fillna(0.0).to_numpy(copy=True)
    amounts[0] = float("nan")
    table = pa.Table.from_pandas(df.drop(columns=["amount"]), preserve_index=False).append_column(
        "amount", pa.array(amounts, from_pandas=False))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _materialise(case: Case, d: Path) -> None:
    if case.needs_model:
        (d / "model").mkdir()
        (d / "model" / "model.json").write_text(_fitted_model(), encoding="utf-8")
    for name, content in case.files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple) and content[0] == "MODEL":
            m = content[1](json.loads(_fitted_model()))
            content = m if isinstance(m, (str, bytes)) else json.dumps(m)
        elif callable(content):
            content = content()
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8", newline="")


def run_case(case: Case, d: Path) -> tuple[int, str, str]:
    _materialise(case, d)
    args = [a.replace("{d}", str(d)) for a in case.args]
    res = runner.invoke(app, args)
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    code, out, err = run_case(case, tmp_path)
    assert "Traceback" not in out + err
    assert "Warning:" not in err and "warnings.warn" not in err
    assert code == case.code, f"exit {code}: {err.strip()[-500:]}"
    if case.code == 2:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        if case.one_line:
            assert len(lines) == 1, err
            assert case.error in lines[0]
        else:
            assert case.error in " ".join(err.split())
    if case.check is not None:
        actual, expected = case.check(tmp_path / "out")
        assert actual == expected


def test_at_least_120_cases() -> None:
    assert len(CASES) >= 120 and len({c.id for c in CASES}) == len(CASES)


# --- as a user runs it: a subprocess, the real entry point ------------------------------------
SUBPROCESS = [c for c in CASES if c.id in ("missing-amount-col", "min-share-0.6", "model-label-id-huge", "events-utf16")]


@pytest.mark.parametrize("case", SUBPROCESS, ids=[c.id for c in SUBPROCESS])
def test_hostile_input_subprocess(case: Case, tmp_path: Path) -> None:
    _materialise(case, tmp_path)
    args = [a.replace("{d}", str(tmp_path)) for a in case.args]
    res = subprocess.run([sys.executable, "-m", "segmentkit.cli", *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert case.error in res.stderr.strip().splitlines()[0]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "min-share-0.6")
    _materialise(case, tmp_path)
    args = ["--debug"] + [a.replace("{d}", str(tmp_path)) for a in case.args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "Traceback" in res.stderr and "--min-share must be" in res.stderr
