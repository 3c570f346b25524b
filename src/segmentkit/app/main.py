"""The segmentkit web app (Streamlit): data in, segments out, names edited, files down.

Run with ``segmentkit app``. This script only translates: it gathers inputs and settings,
calls :class:`segmentkit.Segmentation`, and shows the run summary. Every number on the page
comes from ``result.summary``; the files offered are those the CLI writes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from segmentkit.algorithms import run_names
from segmentkit.config import ColumnMapping
from segmentkit.datasets import make_demo, write_demo
from segmentkit.errors import InputError
from segmentkit.naming import format_name_overrides
from segmentkit.pipeline import Segmentation, SegmentationResult
from segmentkit.sources import input_columns

FILE_TYPES = ["csv", "tsv", "txt", "gz", "zst", "parquet", "xlsx", "xlsm", "xls", "ods"]
NONE = "(none)"
ROLE_LABELS = {
    "customer_id": "Customer id", "event_time": "Event time", "event_type": "Event type",
    "amount": "Amount", "quantity": "Quantity", "category": "Category", "channel": "Channel",
    "discount": "Discount used", "order_id": "Order id", "price": "Unit price (value = price × quantity)",
    "product_id": "Product id",
}


@st.cache_resource(show_spinner=False)
def _demo_files(n_customers: int, seed: int) -> dict[str, str]:
    folder = Path(tempfile.mkdtemp(prefix="segmentkit-demo-"))
    return {k: str(v) for k, v in write_demo(folder, make_demo(n_customers, seed=seed)).items()}


def _workdir() -> Path:
    if "workdir" not in st.session_state:
        st.session_state["workdir"] = tempfile.mkdtemp(prefix="segmentkit-app-")
    return Path(st.session_state["workdir"])


def _saved(upload: Any, role: str) -> str | None:
    """An uploaded file saved under its own name (messages name it; loaders go by its suffix)."""
    if upload is None:
        return None
    folder = _workdir() / role
    folder.mkdir(exist_ok=True)
    path = folder / (Path(upload.name).name or f"{role}.csv")
    path.write_bytes(upload.getvalue())
    return str(path)


def _columns(path: str | None) -> list[str]:
    if path is None:
        return []
    try:
        return input_columns(path)
    except InputError as exc:
        st.error(str(exc))
        return []


def _pick(label: str, options: list[str], default: str | None, key: str) -> str | None:
    choices = [NONE] + options
    lower = {o.lower(): o for o in options}
    index = choices.index(lower[default.lower()]) if default and default.lower() in lower else 0
    value = st.selectbox(label, choices, index=index, key=key)
    return None if value == NONE else value


def _inputs() -> tuple[str | None, str | None, str | None]:
    st.sidebar.header("1. Data")
    source = st.sidebar.radio("Customers and events", ["Demo data", "My files"], key="source")
    if source == "Demo data":
        n = int(st.sidebar.number_input("Demo customers", 500, 20000, 3000, step=500, key="demo_n"))
        files = _demo_files(n, 0)
        return files["events"], files["customers"], None
    events = _saved(st.sidebar.file_uploader("Events (purchases, views, ...)", type=FILE_TYPES, key="events"), "events")
    customers = _saved(st.sidebar.file_uploader("Customers (optional)", type=FILE_TYPES, key="customers"), "customers")
    products = _saved(st.sidebar.file_uploader("Product catalogue (optional: categories by product id)",
                                               type=FILE_TYPES, key="products"), "products")
    return events, customers, products


def _settings(events: str | None, customers: str | None, products: str | None) -> dict[str, Any]:
    ev_cols, cu_cols, pr_cols = _columns(events), _columns(customers), _columns(products)
    defaults = ColumnMapping()
    mapping: dict[str, str] = {}
    with st.sidebar.expander("2. Columns", expanded=False):
        for role, label in ROLE_LABELS.items():
            options = ev_cols if role != "customer_id" or ev_cols else cu_cols
            if role == "category" and pr_cols:  # the category may be a catalogue column
                options = list(dict.fromkeys(pr_cols + ev_cols))
            chosen = _pick(label, options, getattr(defaults, role), f"col_{role}")
            if chosen is not None:
                mapping[role] = chosen
        if ev_cols and cu_cols:
            chosen = _pick("Customer id (customers table)", cu_cols, mapping.get("customer_id"), "col_customers_id")
            if chosen is not None and chosen != mapping.get("customer_id"):
                mapping["customers_id"] = chosen
        if pr_cols:
            chosen = _pick("Product id (catalogue)", pr_cols, mapping.get("product_id"), "col_products_id")
            if chosen is not None and chosen != mapping.get("product_id"):
                mapping["products_id"] = chosen
        keep_duplicates = st.checkbox("Keep rows equal in every column to another row (duplicates)",
                                      key="keep_duplicates")
        persona = _pick("Existing persona (customers)", cu_cols, "persona", "persona")
        attention = _pick("Marketing attention (customers)", cu_cols, "marketing_touches", "attention")
    st.sidebar.header("3. Segments")
    algorithms = list(run_names()) + ["auto"]
    algorithm = st.sidebar.selectbox("Algorithm", algorithms, index=algorithms.index("kmeans"), key="algorithm")
    fixed = st.sidebar.checkbox("Fix the number of segments", key="fixed")
    k = int(st.sidebar.number_input("Segments", 2, 20, 5, key="k")) if fixed else None
    k_min, k_max = st.sidebar.slider("Range to consider", 2, 15, (2, 10), key="k_range", disabled=fixed)
    min_share = st.sidebar.number_input("Smallest usable segment (share)", 0.0, 0.5, 0.03, step=0.01, key="min_share")
    seed = int(st.sidebar.number_input("Seed", 0, 10**6, 0, key="seed"))
    return dict(columns=ColumnMapping(**{**{r: getattr(defaults, r) for r in ROLE_LABELS}, **mapping}),
                products=products, keep_duplicates=keep_duplicates,
                persona_column=persona, attention_column=attention, algorithm=algorithm, k=k,
                k_min=k_min, k_max=k_max, min_share=float(min_share), random_state=seed)


def _fit(events: str | None, customers: str | None, settings: dict[str, Any]) -> None:
    try:
        with st.spinner("Segmenting…"):
            result = Segmentation(**settings).fit(customers=customers, events=events)
    except (InputError, ValueError) as exc:
        st.session_state.pop("result", None)
        st.session_state["error"] = str(exc)
        return
    st.session_state.pop("error", None)
    _keep(result)


def _keep(result: SegmentationResult) -> None:
    """Keep a result and make the files offered once (the page is redrawn on every click)."""
    st.session_state["result"] = result
    out = _workdir() / "out"
    paths = result.write(out)
    st.session_state["downloads"] = {
        "assignments.csv": (paths["assignments_csv"].read_bytes(), "text/csv"),
        "report.html": (paths["report"].read_bytes(), "text/html"),
        "summary.json": (paths["summary"].read_bytes(), "application/json"),
        "segment_names.toml": (format_name_overrides(result.segment_names).encode("utf-8"), "text/plain"),
    }


def _show(result: SegmentationResult) -> None:
    s = result.summary
    ks = s.k_selection
    st.subheader(f"{s.k} segments of {s.n_customers:,} customers")
    st.markdown(f"**Why {s.k}:** {ks.reason}")
    st.table(pd.DataFrame([{
        "segment": str(seg.id), "name": seg.name, "customers": seg.size,
        "share": f"{seg.share:.1%}",
        "value share": "" if seg.value_share is None else f"{seg.value_share:.1%}",
        "what sets it apart": seg.description,
    } for seg in s.segments]))

    with st.expander("How many segments: the diagnostics", expanded=False):
        st.table(pd.DataFrame([{
            "k": str(c.k), "algorithm": c.algorithm, "silhouette": c.silhouette,
            "Calinski-Harabasz": c.calinski_harabasz, "Davies-Bouldin": c.davies_bouldin,
            "stability": c.stability, "smallest share": c.min_share,
            "usable": "yes" if c.eligible else f"no: {c.why_not}" if c.why_not else "no",
        } for c in ks.candidates]))
    if s.personas is not None:
        st.markdown("#### Against the client's personas")
        st.write(s.personas.narrative)
    flagged = [o for o in s.opportunities if o.kind != "balanced"]
    if flagged:
        st.markdown("#### Value and marketing attention")
        for o in flagged:
            st.markdown(f"- **{o.kind}**: {o.reason}")

    st.markdown("#### Rename segments")
    edited = st.data_editor(pd.DataFrame({"segment": [seg.id for seg in s.segments],
                                          "name": [seg.name for seg in s.segments]}),
                            disabled=["segment"], hide_index=True, key="names_editor")
    if st.button("Apply names", key="apply_names"):
        try:  # renaming rewords the result; nothing is fitted again
            _keep(result.with_names(dict(zip(edited["segment"].astype(int), edited["name"].astype(str)))))
        except ValueError as exc:
            st.session_state["error"] = str(exc)
        st.rerun()

    st.markdown("#### Downloads")
    downloads = st.session_state["downloads"]
    for column, (name, (data, mime)) in zip(st.columns(len(downloads)), downloads.items()):
        column.download_button(name, data, name, mime)


def main() -> None:
    """The page."""
    st.set_page_config(page_title="segmentkit", layout="wide")
    st.title("segmentkit: behavioral segments")
    events, customers, products = _inputs()
    settings = _settings(events, customers, products)
    if st.sidebar.button("Run segmentation", type="primary", key="run"):
        if events is None and customers is None:
            st.session_state["error"] = "upload an event log, a customer table, or both"
        else:
            _fit(events, customers, settings)
    if "error" in st.session_state:
        st.error(st.session_state["error"])
    elif "result" in st.session_state:
        _show(st.session_state["result"])
    else:
        st.info("Choose the data and settings on the left, then press **Run segmentation**.")


main()
