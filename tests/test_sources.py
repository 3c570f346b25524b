"""Loading: formats, encodings, delimiters, date formats, column mapping, precise errors."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from segmentkit.config import ColumnMapping
from segmentkit.errors import InputError
from segmentkit.sources import detect_encoding, load_customers, load_events, match_columns, preview_rows


@pytest.fixture()
def con():
    c = duckdb.connect()
    yield c
    c.close()


def _write(path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_semicolon_cp1252_and_european_dates(con, tmp_path):
    p = _write(tmp_path / "e.csv",
               "customer_id;event_time;amount;category\n1;31/01/2024;10.5;Café\n2;01/02/2024;3;Thé\n",
               encoding="cp1252")
    t = load_events(con, p)
    df = con.execute(f"SELECT * FROM {t.table} ORDER BY customer_id").df()
    assert list(df["category"]) == ["Café", "Thé"]
    assert list(df["event_time"].dt.strftime("%Y-%m-%d")) == ["2024-01-31", "2024-02-01"]
    assert any("cp1252" in n for n in t.notes)


def test_utf8_bom_and_tab_delimiter(con, tmp_path):
    p = _write(tmp_path / "e.tsv", "\ufeffcustomer_id\tevent_time\tamount\nA\t2024-01-02 10:00:00\t5\n")
    t = load_events(con, p)
    assert t.roles[:2] == ("customer_id", "event_time")
    assert con.execute(f"SELECT customer_id FROM {t.table}").fetchall() == [("A",)]


def test_us_dates_detected_when_unambiguous(con, tmp_path):
    p = _write(tmp_path / "e.csv", "customer_id,event_time\n1,12/31/2024\n2,01/15/2024\n")
    t = load_events(con, p)
    got = con.execute(f"SELECT strftime(event_time, '%Y-%m-%d') FROM {t.table} ORDER BY 1").fetchall()
    assert got == [("2024-01-15",), ("2024-12-31",)]


def test_parquet_and_mapping(con, tmp_path):
    df = pd.DataFrame({"Cust": ["x", "y"], "When": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                       "Revenue": [1.0, -2.0]})
    p = tmp_path / "e.parquet"
    df.to_parquet(p)
    t = load_events(con, p, ColumnMapping(customer_id="Cust", event_time="When", amount="Revenue"))
    assert set(t.roles) == {"customer_id", "event_time", "amount"}
    assert t.rows_read == 2


def test_duplicates_folded_and_counted(con, tmp_path):
    p = _write(tmp_path / "e.csv", "customer_id,event_time\n1,2024-01-01\n1,2024-01-01\n2,2024-01-01\n")
    t = load_events(con, p)
    assert t.rows_read == 3 and t.duplicates == 1


def _as(fmt: str, path, text: str):
    """The same table as a CSV file, a Parquet file or a DataFrame."""
    csv = _write(path.with_suffix(".csv"), text)
    if fmt == "csv":
        return csv
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
    if fmt == "dataframe":
        return frame
    frame.to_parquet(path.with_suffix(".parquet"))
    return str(path.with_suffix(".parquet"))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dataframe"])
def test_duplicates_are_found_after_tidying_and_only_exact_ones(con, tmp_path, fmt):
    # rows that differ only in spelling of the type or in padding are the same event; rows
    # that differ in any one column are not, however alike
    src = _as(fmt, tmp_path / "e", "customer_id,event_time,event_type,amount,category\n"
                                   "1,2024-01-01,purchase,10,shoes\n"
                                   " 1,2024-01-01,Order,10,shoes \n"
                                   "1,2024-01-01,purchase,10,shoes\n"
                                   "1,2024-01-01,purchase,10.5,shoes\n"
                                   "1,2024-01-01,purchase,10,hats\n"
                                   "1,2024-01-01,view,10,shoes\n")
    t = load_events(con, src)
    assert t.rows_read == 6 and t.duplicates == 2
    rows = con.execute(f"SELECT event_type::VARCHAR, amount::DOUBLE, category FROM {t.table} ORDER BY ALL").fetchall()
    assert rows == [("purchase", 10.0, "hats"), ("purchase", 10.0, "shoes"), ("purchase", 10.5, "shoes"),
                    ("view", 10.0, "shoes")]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dataframe"])
def test_a_row_tidied_is_a_duplicate_of_its_twin_when_the_category_becomes_an_enum(con, tmp_path, fmt):
    # the category and channel are tidy (a CSV's become an ENUM once read), the second row's
    # id is padded: tidied, and hashed again, it is the first row's twin; the third differs
    src = _as(fmt, tmp_path / "e", "customer_id,event_time,event_type,amount,category,channel\n"
                                   "1,2024-01-01,purchase,10,shoes,web\n"
                                   " 1,2024-01-01,purchase,10,shoes,web\n"
                                   "1,2024-01-01,purchase,10,hats,web\n")
    t = load_events(con, src)
    assert t.rows_read == 3 and t.duplicates == 1 and t.ids_trimmed == 1
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {t.table})").fetchall())
    assert types["category"].startswith("ENUM") and types["channel"].startswith("ENUM")
    assert con.execute(f"SELECT category::VARCHAR FROM {t.table} ORDER BY 1").fetchall() == [("hats",), ("shoes",)]


def _event_frame(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "event_time", "event_type", "amount"])


@pytest.mark.parametrize("keep", [False, True])
def test_duplicates_counted_with_their_amount_removed_or_kept(con, keep):
    # by hand: A's purchase three times (2 repeats, 20.00), B's return twice (1 repeat,
    # -4.50): 3 duplicates carrying a net 15.50; A's 10.50 and C's row are no repeats
    frame = _event_frame([("A", "2024-01-01", "purchase", 10.0), ("B", "2024-01-02", "return", -4.5),
                          ("A", "2024-01-01", "purchase", 10.0), ("C", "2024-01-03", "purchase", 7.25),
                          ("A", "2024-01-01", "purchase", 10.5), ("A", "2024-01-01", "purchase", 10.0),
                          ("B", "2024-01-02", "return", -4.5)])
    t = load_events(con, frame, keep_duplicates=keep)
    assert (t.rows_read, t.duplicates, t.duplicates_kept) == (7, 3, keep)
    assert t.duplicates_amount == pytest.approx(15.5)
    rows = con.execute(f"SELECT customer_id, amount FROM {t.table} ORDER BY ALL").fetchall()
    if keep:
        assert rows == [("A", 10.0), ("A", 10.0), ("A", 10.0), ("A", 10.5), ("B", -4.5), ("B", -4.5), ("C", 7.25)]
    else:
        assert rows == [("A", 10.0), ("A", 10.5), ("B", -4.5), ("C", 7.25)]


def test_a_table_without_duplicates_keeps_every_row(con):
    frame = _event_frame([("A", "2024-01-01", "purchase", 10.0), ("A", "2024-01-01", "purchase", 10.5),
                          ("A", "2024-01-02", "purchase", 10.0), ("B", "2024-01-01", "purchase", 10.0)])
    t = load_events(con, frame)
    assert (t.rows_read, t.duplicates, t.duplicates_amount) == (4, 0, None)
    assert con.execute(f"SELECT count(*) FROM {t.table}").fetchall() == [(4,)]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dataframe"])
def test_event_types_are_an_enum_that_keeps_unknown_types(con, tmp_path, fmt):
    src = _as(fmt, tmp_path / "e", "customer_id,event_time,event_type\n"
                                   "1,2024-01-01,Wishlist \n2,2024-01-01,REFUND\n3,2024-01-01,\n4,2024-01-01,cart\n")
    t = load_events(con, src)
    typ = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {t.table})").fetchall())["event_type"]
    assert typ == "ENUM('purchase', 'view', 'cart', 'return', 'wishlist')"
    rows = con.execute(f"SELECT customer_id, event_type FROM {t.table} ORDER BY 1").fetchall()
    assert rows == [("1", "wishlist"), ("2", "return"), ("3", None), ("4", "cart")]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dataframe"])
def test_tidy_categories_and_channels_are_stored_as_an_enum_in_text_order(con, tmp_path, fmt):
    """A file's few tidy category and channel values (a Parquet file's and a DataFrame's
    read beforehand, a CSV file's once loaded) are stored as an ENUM in text order: its
    min and its comparisons agree with the text's, and a level the events lack (a fitted
    model's) compares as false."""
    from segmentkit.features import customer_features

    src = _as(fmt, tmp_path / "e", "customer_id,event_time,event_type,order_id,amount,category,channel\n"
                                   "1,2024-01-01,purchase,o1,10,toys,web\n"
                                   "1,2024-01-01,purchase,o1,30,Zebra,app\n"
                                   "1,2024-02-01,purchase,o2,20,toys,web\n"
                                   "2,2024-01-05,purchase,o3,5,ábc,\n")
    t = load_events(con, src)
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {t.table})").fetchall())
    assert types["category"] == "ENUM('Zebra', 'toys', 'ábc')"  # code-point order, as sorted text
    assert types["channel"] == "ENUM('app', 'web')"
    # order o1 has two lines: its channel is the first in text order, app, as with text
    feats = customer_features(con, t.table, t.roles, levels={"category": ["toys", "shoes"], "channel": ["app", "web"]})
    f = feats.frame
    assert f.loc["1", "channel_share__app"] == pytest.approx(0.5) and f.loc["1", "channel_share__web"] == 0.5
    assert f.loc["1", "cat_share__toys"] == pytest.approx(30 / 60) and f.loc["1", "cat_share__shoes"] == 0.0
    assert f.loc["1", "cat_share__other"] == pytest.approx(30 / 60) and f.loc["2", "cat_share__other"] == 1.0


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dataframe"])
def test_untidy_or_empty_category_and_channel_columns_stay_text(con, tmp_path, fmt):
    """A padded or blank value is tidied (and the column kept as text); a column without
    a single value loads too (an ENUM needs one value at least: it failed to load from a
    Parquet file or a DataFrame)."""
    src = _as(fmt, tmp_path / "e", "customer_id,event_time,amount,category,channel\n"
                                   "1,2024-01-01,10,\" toys\",\n"
                                   "1,2024-01-02,10,toys,\n"
                                   "2,2024-01-05,5,\"  \",\n")
    if fmt != "csv":  # an empty column of no type at all, as pandas writes one
        src = pd.read_parquet(src) if fmt == "parquet" else src
        src = src.assign(channel=None)
        if fmt == "parquet":
            src.to_parquet(tmp_path / "e.parquet")
            src = str(tmp_path / "e.parquet")
    t = load_events(con, src, keep_duplicates=True)
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {t.table})").fetchall())
    assert types["category"] == "VARCHAR" and types["channel"] == "VARCHAR"
    rows = con.execute(f"SELECT customer_id, category, channel FROM {t.table} ORDER BY event_time").fetchall()
    assert rows == [("1", "toys", None), ("1", "toys", None), ("2", None, None)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_column_of_too_many_event_types_is_refused(con, tmp_path, fmt):
    text = "customer_id,event_time,event_type\n" + "".join(f"{i},2024-01-01,t{i}\n" for i in range(1002))
    with pytest.raises(InputError, match="column 'event_type': more than 1000 different event types"):
        load_events(con, _as(fmt, tmp_path / "e", text))


def test_encoding_detected_across_chunk_boundaries(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"abcd" + "é".encode() + b"xyz")  # ASCII chunk, then a split character
    assert detect_encoding(path, chunk_size=5) == "utf-8"
    path.write_bytes(b"abcd" + "é".encode("cp1252") + b"xyz")
    assert detect_encoding(path, chunk_size=4) == "cp1252"
    path.write_bytes("\ufeffab".encode() + b"cdef")
    assert detect_encoding(path, chunk_size=2) == "utf-8-sig"
    path.write_bytes(b"abcd" + "é".encode()[:1])  # cut inside the last character
    assert detect_encoding(path, chunk_size=4) == "cp1252"


def test_quotes_in_path_and_column_names(con, tmp_path):
    folder = tmp_path / "o'brien"
    folder.mkdir()
    p = _write(folder / "it's.csv", 'customer_id,event_time,"it\'s ""odd"""\n1,12/31/2024,"a, b"\n')
    t = load_events(con, p)
    assert con.execute(f"SELECT customer_id, event_time::DATE::VARCHAR FROM {t.table}").fetchall() == [
        ("1", "2024-12-31")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer_id,event_time,amount\n1,2024-01-01,10\n2,2024-01-02,12,5\n", None),
        ("customer_id,event_time,amount\n1,2024-01-01,10\n2,2024-01-02,abc\n",
         "e.csv: column 'amount' row 2: 'abc' is not a number"),
        ("customer_id,event_time,amount\n1,2024-01-01,10\n2,yesterday,3\n",
         "e.csv: column 'event_time' row 2: 'yesterday' is not a date or time"),
        ("customer_id,amount\n1,10\n", "e.csv: missing column 'event_time'"),
        ("", "e.csv: the file is empty"),
        ("customer_id,event_time\n", "e.csv: the file has a header but no rows"),
    ],
)
def test_bad_events_name_file_column_row(con, tmp_path, text, message):
    p = _write(tmp_path / "e.csv", text)
    with pytest.raises(InputError) as exc:
        load_events(con, p)
    if message:
        assert str(exc.value).startswith(message)
    assert "e.csv" in str(exc.value)


def test_bad_value_far_down_the_file_is_located(con, tmp_path):
    rows = [f"{i},2024-01-01,{i}.5" for i in range(1, 30001)]
    rows[25_000] = "25001,2024-01-01,12,5"  # quoted comma-decimal would need quotes; use a text value
    rows[25_000] = "25001,2024-01-01,n/a?"
    p = _write(tmp_path / "e.csv", "customer_id,event_time,amount\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"e.csv: column 'amount' row 25001: 'n/a\?' is not a number"):
        load_events(con, p)


def test_duplicate_customer_ids(con, tmp_path):
    p = _write(tmp_path / "c.csv", "customer_id,age\n1,30\n2,40\n1,50\n")
    with pytest.raises(InputError, match=r"c.csv: column 'customer_id' row 3: duplicate customer id '1'"):
        load_customers(con, p)


def test_customers_frame_keeps_attributes(con, tmp_path):
    p = _write(tmp_path / "c.csv", "customer_id,age,region\n1,30,N\n2,40,S\n")
    t, frame = load_customers(con, p)
    assert list(frame.index) == ["1", "2"]
    assert list(frame.columns) == ["age", "region"]
    assert t.rows_read == 2


def test_day_first_timestamps(con, tmp_path):
    p = _write(tmp_path / "e.csv", "customer_id,event_time\n1,31/12/2024 10:00:00\n2,15/01/2024 09:30:00\n")
    t = load_events(con, p)
    got = con.execute(f"SELECT strftime(event_time, '%Y-%m-%d %H:%M') FROM {t.table} ORDER BY 1").fetchall()
    assert got == [("2024-01-15 09:30",), ("2024-12-31 10:00",)]


def test_text_is_trimmed_and_event_types_mapped(con, tmp_path):
    p = _write(tmp_path / "e.csv", "customer_id,event_time,event_type,category\n"
                                   " 7 ,2024-01-01,Order,  shoes \n8,2024-01-01,page_view,\n")
    t = load_events(con, p)
    rows = con.execute(f"SELECT customer_id, event_type, category FROM {t.table} ORDER BY 1").fetchall()
    assert rows == [("7", "purchase", "shoes"), ("8", "view", None)]


def test_decimal_commas_in_a_semicolon_file(con, tmp_path):
    p = _write(tmp_path / "e.csv", "customer_id;event_time;amount;quantity\n"
                                   "1;31.12.2024 10:00;5,5;1\n2;01.01.2025 09:00;1.234,50;2\n3;02.01.2025 09:00;-7;1\n")
    t = load_events(con, p)
    assert con.execute(f"SELECT amount FROM {t.table} ORDER BY customer_id").fetchall() == [(5.5,), (1234.5,), (-7.0,)]
    assert any("decimal commas" in n for n in t.notes)


def test_a_comma_in_a_comma_separated_number_is_not_guessed(con, tmp_path):
    # '1,234' may be a thousand (US) or one and a bit (continental): no guess, a clear error
    p = _write(tmp_path / "e.csv", 'customer_id,event_time,amount\n1,2024-01-01,"1,234"\n')
    with pytest.raises(InputError, match="column 'amount' row 1: '1,234' is not a number"):
        load_events(con, p)


def test_mapped_columns_exact_then_ignoring_case_and_blank_means_unused(con, tmp_path):
    assert match_columns(["Customer_ID", "customer_id", "CATEGORY", "Channel"], ColumnMapping(),
                         ["customer_id", "category", "channel", "amount"]) == {
        "customer_id": "customer_id", "category": "CATEGORY", "channel": "Channel"}
    path = _write(tmp_path / "e.csv", "customer_id,event_time,amount,category\n"
                                      "a,2024-01-01,5,shoes\nb,2024-01-02,7,bags\n")
    used = load_events(con, path, ColumnMapping())
    unused = load_events(con, path, ColumnMapping(category=""))
    assert "category" in used.roles and "category" not in unused.roles


def test_preview_shows_the_first_rows_as_written(tmp_path):
    path = _write(tmp_path / "e.csv", "id;amount\n007;1.234,50\n8;2\n9;3\n")
    rows = preview_rows(path, 2)
    assert rows.to_dict("list") == {"id": ["007", "8"], "amount": ["1.234,50", "2"]}
