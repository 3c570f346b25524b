"""Receipt-line and invoice exports read as clients send them: duplicates judged on every
column, price × quantity, returns as negative quantities, a product catalogue, compressed
files, differently named id columns. Every expected net spend is computed by hand."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from segmentkit.catalogue import UNKNOWN, join_catalogue
from segmentkit.config import ColumnMapping, load_settings
from segmentkit.errors import InputError
from segmentkit.features import customer_features
from segmentkit.pipeline import Segmentation
from segmentkit.sources import load_events, load_products

CDNOW = Path(__file__).parent / "data" / "cdnow_master.txt.gz"

#: A grocery receipt export: basket, customer, time, product, unit price, quantity.
RECEIPTS = """basket,card,time,sku,unit_price,qty,till
1,c1,2024-03-01 10:00,milk,1.20,2,7
1,c1,2024-03-01 10:00,bread,1.20,2,7
1,c1,2024-03-01 10:00,bread,1.20,2,7
2,c2,2024-03-02 11:00,eggs,2.50,4,3
3,c2,2024-03-05 09:30,eggs,2.50,-1,3
4,c2,2024-03-06 12:00,jam,3.10,1,3
"""
LINES = ColumnMapping(customer_id="card", event_time="time", order_id="basket", product_id="sku",
                      price="unit_price", quantity="qty")


@pytest.fixture()
def con():
    c = duckdb.connect()
    yield c
    c.close()


def _net(con, loaded) -> dict[str, float]:
    feats = customer_features(con, loaded.table, loaded.roles)
    return {k: round(v, 2) for k, v in feats.frame["monetary"].items()}


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_two_products_equal_in_price_and_quantity_are_both_kept(con, tmp_path):
    # milk and bread in basket 1 share price and quantity: two lines, not a duplicate
    t = load_events(con, _write(tmp_path / "r.csv", RECEIPTS), LINES)
    net = _net(con, t)
    # c1: milk 1.20×2 + bread 1.20×2 (the second bread line is the same row twice) = 4.80
    assert net["c1"] == 4.80
    assert t.duplicates == 1 and t.duplicates_amount == pytest.approx(2.40)


def test_unmapped_column_decides_a_duplicate(con, tmp_path):
    # no product column is mapped: the lines differ only in the unmapped 'sku' column
    text = "card,time,amount,sku\nc1,2024-01-01,5.00,apple\nc1,2024-01-01,5.00,pear\nc1,2024-01-01,5.00,pear\n"
    t = load_events(con, _write(tmp_path / "e.csv", text), ColumnMapping(customer_id="card", event_time="time"))
    assert t.duplicates == 1
    assert _net(con, t) == {"c1": 10.00}
    kept = load_events(con, str(tmp_path / "e.csv"), ColumnMapping(customer_id="card", event_time="time"),
                       keep_duplicates=True)
    assert kept.duplicates == 1 and kept.duplicates_kept
    assert _net(con, kept) == {"c1": 15.00}


def test_price_times_quantity_and_a_negative_quantity_cancellation(con, tmp_path):
    t = load_events(con, _write(tmp_path / "r.csv", RECEIPTS), LINES)
    feats = customer_features(con, t.table, t.roles)
    # c2: eggs 2.50×4 = 10.00, cancelled one egg box −2.50, jam 3.10×1 → 10.60
    assert round(feats.frame.loc["c2", "monetary"], 2) == 10.60
    assert feats.data_quality["returns"] == 1
    assert any("'unit_price' × 'qty'" in n for n in t.notes)


def test_price_without_quantity_is_one_item(con, tmp_path):
    text = "card,time,unit_price\nc1,2024-01-01,2.25\nc1,2024-01-02,1.75\n"
    t = load_events(con, _write(tmp_path / "e.csv", text),
                    ColumnMapping(customer_id="card", event_time="time", price="unit_price"))
    assert _net(con, t) == {"c1": 4.00}


def test_amount_wins_over_price_with_a_note(con, tmp_path):
    text = "card,time,amount,unit_price,quantity\nc1,2024-01-01,9.00,2.00,3\n"
    t = load_events(con, _write(tmp_path / "e.csv", text),
                    ColumnMapping(customer_id="card", event_time="time", price="unit_price"))
    assert _net(con, t) == {"c1": 9.00}
    assert any("the amount is used" in n for n in t.notes)


def test_negative_quantity_with_a_positive_line_amount_is_a_return(con, tmp_path):
    # invoice exports: the cancellation line keeps a positive amount and a negative quantity
    text = "card,time,amount,quantity\nc1,2024-01-01,12.00,3\nc1,2024-01-02,4.00,-1\n"
    t = load_events(con, _write(tmp_path / "e.csv", text), ColumnMapping(customer_id="card", event_time="time"))
    feats = customer_features(con, t.table, t.roles)
    assert round(feats.frame.loc["c1", "monetary"], 2) == 8.00
    assert feats.data_quality["returns"] == 1


def test_catalogue_join_with_a_missing_product(con, tmp_path):
    t = load_events(con, _write(tmp_path / "r.csv", RECEIPTS), LINES)
    catalogue = _write(tmp_path / "products.csv", "code,department\nmilk,dairy\nbread,bakery\neggs,dairy\n")
    mapping = ColumnMapping(**{**LINES.__dict__, "products_id": "code", "category": "department"})
    p = load_products(con, catalogue, mapping)
    t, joined = join_catalogue(con, t, p)
    assert "category" in t.roles
    # jam is not in the catalogue: one line, one product
    assert (joined.lines_unknown, joined.products_unknown, joined.products) == (1, 1, 3)
    cats = dict(con.execute(f"SELECT sku_cat, count(*) FROM (SELECT category AS sku_cat FROM {t.table}) GROUP BY 1")
                .fetchall())
    assert cats == {"dairy": 3, "bakery": 1, UNKNOWN: 1}
    feats = customer_features(con, t.table, t.roles)
    # c1 bought 2.40 of dairy and 2.40 of bakery
    assert feats.frame.loc["c1", "cat_share__dairy"] == pytest.approx(0.5)
    # c2: eggs 10.00 (dairy) and jam 3.10 (unknown) purchased
    assert feats.frame.loc["c2", "cat_share__dairy"] == pytest.approx(10.00 / 13.10)
    assert round(feats.frame.loc["c2", "monetary"], 2) == 10.60


def test_catalogue_errors(con, tmp_path):
    t = load_events(con, _write(tmp_path / "e.csv", "card,time,amount\nc1,2024-01-01,1\n"),
                    ColumnMapping(customer_id="card", event_time="time"))
    p = load_products(con, _write(tmp_path / "p.csv", "product_id,category\nx,a\n"))
    with pytest.raises(InputError, match="product id column"):
        join_catalogue(con, t, p)
    with pytest.raises(InputError, match="'x' is listed with different categories"):
        load_products(con, _write(tmp_path / "q.csv", "product_id,category\nx,a\nx,b\n"))


@pytest.mark.parametrize("name", ["r.csv.gz", "r.tsv.gz", "r.csv.zst"])
def test_compressed_inputs(con, tmp_path, name):
    text = RECEIPTS.replace(",", "\t") if ".tsv" in name else RECEIPTS
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        import zstandard

        path.write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    t = load_events(con, str(path), LINES)
    assert _net(con, t) == {"c1": 4.80, "c2": 10.60}


def test_a_compressed_file_of_another_kind_is_refused(con, tmp_path):
    path = tmp_path / "events.json.gz"
    path.write_bytes(gzip.compress(b"{}"))
    with pytest.raises(InputError, match=r"events.json.gz: unsupported file type '.gz'"):
        load_events(con, str(path))


def test_gzipped_cp1252_file(con, tmp_path):
    path = tmp_path / "e.csv.gz"
    path.write_bytes(gzip.compress("card;time;amount;cat\nc1;2024-01-01;3,5;Café\n".encode("cp1252")))
    t = load_events(con, str(path), ColumnMapping(customer_id="card", event_time="time", category="cat"))
    assert con.execute(f"SELECT category, amount FROM {t.table}").fetchall() == [("Café", 3.5)]


#: Enough customers to segment (at least 10 with lines): f1..f10 buy i milks of 1.20 on day i;
#: x1 is in the customers table only.
MORE = RECEIPTS + "".join(f"{10 + i},f{i},2024-04-{i:02d} 08:00,milk,1.20,{i},1\n" for i in range(1, 11))
CUSTOMERS = "CardNo,region\n" + "".join(f"{c},north\n" for c in ["c1", "c2", "x1"] + [f"f{i}" for i in range(1, 11)])


@pytest.mark.filterwarnings("ignore:constant feature")  # four customers: some features cannot vary
def test_different_id_column_names_through_the_api(tmp_path):
    events = _write(tmp_path / "r.csv", MORE)
    customers = _write(tmp_path / "c.csv", CUSTOMERS)
    products = _write(tmp_path / "p.csv", "code,department\nmilk,dairy\nbread,bakery\neggs,dairy\n")
    columns = ColumnMapping(**{**LINES.__dict__, "customers_id": "CardNo", "products_id": "code",
                               "category": "department"})
    result = Segmentation(columns=columns, products=products, k=2, k_max=3, n_bootstrap=2).fit(customers=customers,
                                                                                         events=events)
    net = result.features.value.round(2).to_dict()
    assert net == {"c1": 4.80, "c2": 10.60, **{f"f{i}": round(1.20 * i, 2) for i in range(1, 11)}}
    assert len(result.assignments) == 13 and "x1" in set(result.assignments["customer_id"])
    dq = result.summary.data_quality
    assert dq.duplicate_events_dropped == 1 and dq.duplicate_events_amount == pytest.approx(2.40)
    assert dq.catalogue_lines_unknown_product == 1
    assert result.summary.run.inputs["products"].name == "p.csv"


def test_settings_file_carries_every_flag(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[columns]\nprice = "unit_price"\nproduct_id = "sku"\ncustomers_id = "CardNo"\n'
                   'products_id = "code"\n[data]\nkeep_duplicates = true\nproducts = "catalogue.csv"\n')
    s = load_settings(cfg)
    assert (s.columns.price, s.columns.product_id, s.columns.customers_id, s.columns.products_id) == (
        "unit_price", "sku", "CardNo", "code")
    assert s.keep_duplicates is True and s.products == str(tmp_path / "catalogue.csv")
    flags = load_settings(cfg, columns={"price": "p"}, keep_duplicates=None)
    assert flags.columns.price == "p" and flags.keep_duplicates is True
    cfg.write_text("[data]\nkeep_dupes = true\n")
    with pytest.raises(InputError, match="keep_dupes"):
        load_settings(cfg)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentkit.cli", *args], capture_output=True, text=True)


def test_cli_flags_and_the_duplicates_line(tmp_path):
    events = _write(tmp_path / "r.csv", MORE)
    customers = _write(tmp_path / "c.csv", CUSTOMERS)
    common = ["run", "--events", events, "--customers", customers, "--id-column", "card",
              "--customers-id-column", "CardNo", "--time-column", "time", "--order-column", "basket",
              "--price-column", "unit_price", "--quantity-column", "qty", "--k", "2", "--k-max", "3"]
    done = _cli(*common, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "1 row(s) equal in every column to another row were dropped as duplicates, net amount 2.40" in done.stderr
    import json

    dq = json.loads((tmp_path / "out" / "summary.json").read_text())["data_quality"]
    assert (dq["duplicate_events_dropped"], dq["duplicate_events_kept"]) == (1, 0)
    kept = _cli(*common, "--keep-duplicates", "--out", str(tmp_path / "kept"))
    assert kept.returncode == 0, kept.stderr
    summary = json.loads((tmp_path / "kept" / "summary.json").read_text())
    assert (summary["data_quality"]["duplicate_events_dropped"], summary["data_quality"]["duplicate_events_kept"]) == (0, 1)
    assert summary["run"]["parameters"]["keep_duplicates"] is True
    cat = _write(tmp_path / "p.csv", "code,department\nmilk,dairy\nbread,bakery\neggs,dairy\n")
    joined = _cli(*common, "--products", cat, "--product-column", "sku", "--products-id-column", "code",
                  "--category-column", "department", "--out", str(tmp_path / "cat"))
    assert joined.returncode == 0, joined.stderr
    assert "1 line(s) of 1 product(s) missing from the catalogue p.csv" in joined.stderr
    summary = json.loads((tmp_path / "cat" / "summary.json").read_text())
    assert summary["data_quality"]["catalogue_lines_unknown_product"] == 1
    assert "cat_share__dairy" in summary["features"]
    # a catalogue without a product column in the events: exit 2, one line
    bad = _cli(*common, "--products", cat, "--products-id-column", "code", "--category-column", "department",
               "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "needs a product id column in the events" in bad.stderr


def _cdnow_rows() -> list[list[str]]:
    with gzip.open(CDNOW, "rt", encoding="ascii") as fh:
        assert fh.readline().split() == ["customer_id", "date", "number_of_cds", "dollar_value"]
        return [line.split() for line in fh if line.strip()]


def test_cdnow_net_spend_adds_up_to_the_file_total(con, tmp_path):
    rows = _cdnow_rows()
    # the file's own total, and the amount on lines that repeat an earlier line exactly
    total = sum(Decimal(r[3]) for r in rows)
    repeats = sum(Decimal(line[3]) * (n - 1) for line, n in Counter(map(tuple, rows)).items())
    n_repeats = sum(n - 1 for n in Counter(map(tuple, rows)).values())
    assert (len(rows), total) == (69659, Decimal("2500315.63"))
    csv = tmp_path / "cdnow.csv.gz"
    with gzip.open(csv, "wt", encoding="ascii") as fh:
        fh.write("customer_id,date,number_of_cds,dollar_value\n")
        fh.writelines(",".join(r) + "\n" for r in rows)
    columns = ColumnMapping(event_time="date", amount="dollar_value", quantity="number_of_cds")
    kept = load_events(con, str(csv), columns, keep_duplicates=True)
    feats = customer_features(con, kept.table, kept.roles)
    assert len(feats.frame) == 23570
    assert Decimal(f"{feats.frame['monetary'].sum():.2f}") == total
    dropped = load_events(con, str(csv), columns)
    assert dropped.duplicates == n_repeats
    assert Decimal(f"{dropped.duplicates_amount:.2f}") == repeats
    feats = customer_features(con, dropped.table, dropped.roles)
    assert Decimal(f"{feats.frame['monetary'].sum():.2f}") == total - repeats


def _many_levels(path: Path) -> str:
    """20 customers c00..c19; level Gi (i = 0..11) is bought, for 1.00, by customers c00..c(19-i);
    POSTAGE (a fee) by everyone for 5.00; GOLD by c00 alone for 500.00."""
    lines = ["card,time,amount,description"]
    for i in range(12):
        lines += [f"c{c:02d},2024-01-{i + 1:02d},1.00,G{i:02d}" for c in range(20 - i)]
    lines += [f"c{c:02d},2024-02-01,5.00,POSTAGE" for c in range(20)]
    lines.append("c00,2024-02-02,500.00,GOLD")
    return _write(path, "\n".join(lines) + "\n")


def test_many_categories_keep_what_most_customers_buy_never_a_fee(con, tmp_path):
    t = load_events(con, _many_levels(tmp_path / "e.csv"),
                    ColumnMapping(customer_id="card", event_time="time", category="description"))
    feats = customer_features(con, t.table, t.roles)
    choice = feats.category_levels
    # bought by the most customers: G00..G07 (20..13 buyers); POSTAGE (20 buyers) is a fee,
    # GOLD (the largest spend, one buyer) does not describe what customers buy
    assert feats.levels["category"] == tuple(f"G{i:02d}" for i in range(8))
    assert choice["levels_found"] == 14 and choice["left_out_as_fees"] == ["POSTAGE"]
    assert choice["folded_into_other"] == 6
    g07 = next(k for k in choice["kept"] if k["level"] == "G07")
    # total spend: 1.00 × (20+19+...+9) = 174, + 100 postage + 500 gold = 774
    assert (g07["customers"], g07["customer_share"], g07["spend_share"]) == (13, 0.65, round(13 / 774, 6))
    # c00 spent 12.00 on G00..G11, 5.00 postage and 500.00 gold: other = (4 + 5 + 500) / 517
    assert feats.frame.loc["c00", "cat_share__other"] == pytest.approx(509 / 517)
    assert "cat_share__postage" not in feats.frame and "cat_share__gold" not in feats.frame


@pytest.mark.filterwarnings("ignore:constant feature")
def test_category_choice_in_the_summary_and_the_report(tmp_path):
    from segmentkit.report import render_html

    result = Segmentation(columns=ColumnMapping(customer_id="card", event_time="time", category="description"),
                          k=2, k_max=3, n_bootstrap=2).fit(events=_many_levels(tmp_path / "e.csv"))
    cl = result.summary.category_levels
    assert [k.level for k in cl.kept][:2] == ["G00", "G01"] and cl.left_out_as_fees == ["POSTAGE"]
    html = render_html(result.summary)
    assert "Category features" in html and "fees (never a feature): POSTAGE" in html
    assert "<th>G07</th><td>13</td><td>65.0 %</td><td>1.7 %</td>" in html  # 13/774 of spend


@pytest.mark.filterwarnings("ignore:constant feature")
def test_assigning_with_the_catalogue_a_run_used(tmp_path):
    from segmentkit.pipeline import score

    events = _write(tmp_path / "r.csv", MORE)
    products = _write(tmp_path / "p.csv", "code,department\nmilk,dairy\nbread,bakery\neggs,dairy\n")
    columns = ColumnMapping(**{**LINES.__dict__, "products_id": "code", "category": "department"})
    result = Segmentation(columns=columns, products=products, k=2, k_max=3, n_bootstrap=2).fit(events=events)
    assert "category" in result.model.levels
    scored = score(result.model, events=events, products=products)
    fitted = result.assignments.set_index("customer_id")["segment_id"]
    assert scored.assignments.set_index("customer_id")["segment_id"].equals(fitted)
    with pytest.raises(InputError, match="give the events' category column or the product catalogue"):
        score(result.model, events=events)


@pytest.mark.filterwarnings("ignore:constant feature")
def test_segments_sql_takes_the_categories_from_the_catalogue_as_the_run_did(tmp_path):
    events = _write(tmp_path / "r.csv", MORE + "20,f1,2024-04-20 08:00,tea,4.00,1,1\n")  # tea: not listed
    products = _write(tmp_path / "p.csv", "code,department\nmilk,dairy\nbread,bakery\neggs,dairy\njam,sweets\n")
    columns = ColumnMapping(**{**LINES.__dict__, "products_id": "code", "category": "department"})
    result = Segmentation(columns=columns, products=products, k=2, k_max=3, n_bootstrap=2).fit(events=events)
    text = result.segments_sql
    assert "-- 0. The categories, from a product catalogue" in text
    # a warehouse holding the event lines and the catalogue rebuilds the run's feature table
    con = duckdb.connect()
    load_events(con, events, columns, elsewhere=("category",))
    load_products(con, products, columns)
    step0, step1 = text.split("-- 2. One column per rule", 1)[0].split("-- 0. ", 1)[1].split("-- 1. ", 1)
    con.execute("-- " + step0)
    con.execute("-- " + step1)
    rebuilt = con.execute("SELECT * FROM customer_features ORDER BY customer_id").df().set_index("customer_id")
    want = result.features.frame  # (the SQL also gives the features of roles the lines lack: 0 discounts, ...)
    assert rebuilt.index.tolist() == want.index.tolist()
    # (the run holds ids as Python text objects; DuckDB's frame has pandas' text dtype)
    pd.testing.assert_frame_equal(rebuilt[want.columns].astype(float), want.astype(float), check_names=False,
                                  check_index_type=False)
    # f1 spent 1.20 × 1 on milk (dairy) and 4.00 on tea, which the catalogue does not list
    assert rebuilt.loc["f1", "cat_share__dairy"] == pytest.approx(1.20 / 5.20)


def test_product_ids_are_read_as_written(con, tmp_path):
    # SKU 1.10 is not SKU 1.1: read as numbers, they would merge (in the events and the catalogue)
    events = _write(tmp_path / "e.csv", "card,time,sku,amount\nc1,2024-01-01,1.10,5\nc1,2024-01-01,1.1,5\n"
                                        "c2,2024-01-02,1.10,7\n")
    products = _write(tmp_path / "p.csv", "sku,category\n1.10,tea\n2.5,coffee\n")
    cols = ColumnMapping(customer_id="card", event_time="time", product_id="sku")
    t = load_events(con, events, cols)
    assert t.duplicates == 0
    joined, counts = join_catalogue(con, t, load_products(con, products, cols))
    assert (counts.lines_unknown, counts.products_unknown, counts.products) == (1, 1, 2)
    assert sorted(con.execute(f"SELECT product_id, category FROM {joined.table}").fetchall()) == [
        ("1.1", UNKNOWN), ("1.10", "tea"), ("1.10", "tea")]
