"""The segmentkit web app (Streamlit): data in, segments out, names edited, files down.

Run with ``segmentkit app``. This script only translates: it gathers inputs and settings,
calls :class:`segmentkit.Segmentation`, and shows the run summary. Every number on the page
comes from ``result.summary``; the files offered are those the CLI writes.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
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
from segmentkit.sources import input_columns, match_columns, preview_rows

FILE_TYPES = ["csv", "tsv", "txt", "gz", "zst", "parquet", "xlsx", "xlsm", "xls", "ods"]
NONE = "(none)"
ROLE_LABELS = {
    "customer_id": "Customer id", "event_time": "Event time", "event_type": "Event type",
    "amount": "Amount", "quantity": "Quantity", "category": "Category", "channel": "Channel",
    "discount": "Discount used", "order_id": "Order id", "price": "Unit price (value = price × quantity)",
    "product_id": "Product id",
}
#: Roles a run cannot do without (the others are left out when set to "(none)").
REQUIRED_ROLES = ("customer_id", "event_time")
#: Hex digits of the options' digest in a column dropdown's key (unique enough per page).
OPTIONS_DIGEST_CHARS = 12
#: Rows shown of each file, to check it was read as meant.
PREVIEW_ROWS = 5
#: One segment holding more than this share of the customers leaves nothing to act on.
DEGENERATE_SHARE = 0.95
#: How each customer status reads in the headline counts (every status, so they add up).
STATUS_WORDS = {"segmented": "in segments", "noise": "close to no segment", "no_events": "with no events",
                "excluded": "left out (no usable features)"}


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
    """The file's column names; a file that cannot be read is said so just below it."""
    if path is None:
        return []
    try:
        return input_columns(path)
    except InputError as exc:
        st.sidebar.error(str(exc))
        return []


def _default_column(options: list[str], default: str | None) -> str | None:
    """The column a run would read for a role by default (the CLI's rules), if any."""
    found = match_columns(options, ColumnMapping(customer_id=default or ""), ["customer_id"])
    return found.get("customer_id")


def _pick(label: str, options: list[str], key: str, default: str | None = None,
          help: str | None = None) -> str | None:
    """A column dropdown, pre-set to ``default`` whenever the files' columns change.

    The widget key carries a digest of the options, so new columns make a new dropdown
    pre-set by name. Writing the default into ``st.session_state`` instead races with
    the browser: a click that interrupts the script run (say "Run" pressed right after an
    upload) reruns it with the browser's old "(none)" values, and a run then reads
    other columns than the page ends up showing.
    """
    choices = [NONE] + options
    digest = hashlib.sha256("\x1f".join(options).encode("utf-8")).hexdigest()[:OPTIONS_DIGEST_CHARS]
    index = choices.index(default) if default in choices else 0
    value = st.selectbox(label, choices, index=index, key=f"{key}@{digest}", help=help)
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


def _preview(events: str | None, customers: str | None, products: str | None) -> None:
    """The first rows of each file, as read, to check the columns before a run."""
    files = [(label, path) for label, path in (("Events", events), ("Customers", customers),
                                               ("Product catalogue", products)) if path]
    if not files:
        return
    with st.expander("Your files: the first rows", expanded="result" not in st.session_state):
        for label, path in files:
            try:
                rows = preview_rows(path, PREVIEW_ROWS)
            except InputError:
                continue  # said beside the upload
            st.markdown(f"**{label}** ({Path(path).name})")
            st.dataframe(rows, hide_index=True)


def _settings(events: str | None, customers: str | None, products: str | None) -> dict[str, Any]:
    ev_cols, cu_cols, pr_cols = _columns(events), _columns(customers), _columns(products)
    defaults = ColumnMapping()
    id_options = ev_cols or cu_cols
    keys = {f"col_{role}": (id_options if role == "customer_id" else ev_cols, getattr(defaults, role))
            for role in ROLE_LABELS}
    if pr_cols:  # the category may be a catalogue column
        keys["col_category"] = (list(dict.fromkeys(pr_cols + ev_cols)), defaults.category)
    keys |= {"col_customers_id": (cu_cols if ev_cols else [], defaults.customer_id),
             "col_products_id": (pr_cols, defaults.product_id),
             "persona": (cu_cols, "persona"), "attention": (cu_cols, "marketing_touches")}

    def pick(label: str, key: str, help: str | None = None) -> str | None:
        options, default = keys[key]
        return _pick(label, options, key, _default_column(options, default), help)

    mapping: dict[str, str] = {}
    problems: list[str] = []
    with st.sidebar.expander("2. Columns", expanded=False):
        st.caption("Pre-filled from the column names; a run reads exactly the columns chosen here.")
        for role, label in ROLE_LABELS.items():
            chosen = pick(label, f"col_{role}")
            # an optional role with no default is None when unused, the others "" (read no column)
            mapping[role] = chosen if chosen is not None else ("" if getattr(defaults, role) else None)
            if chosen is None and role in REQUIRED_ROLES and (ev_cols or (role == "customer_id" and cu_cols)):
                problem = f"Choose the column holding the {label.lower()}."
                st.error(problem)
                problems.append(problem)
        if ev_cols and cu_cols:
            chosen = pick("Customer id (customers table)", "col_customers_id")
            if chosen is not None and chosen != mapping["customer_id"]:
                mapping["customers_id"] = chosen
        if pr_cols:
            chosen = pick("Product id (catalogue)", "col_products_id")
            if chosen is not None and chosen != mapping["product_id"]:
                mapping["products_id"] = chosen
        keep_duplicates = st.checkbox("Keep rows equal in every column to another row (duplicates)",
                                      key="keep_duplicates")
        persona = pick("Existing persona (customers)", "persona",
                       help="A column of the customers file with the client's own persona labels, to compare with.")
        attention = pick("Marketing attention (customers)", "attention",
                         help="Contacts, touches or spend per customer, to find segments given too much or too little.")
    st.session_state["mapping_problems"] = problems
    st.sidebar.header("3. Segments")
    algorithms = list(run_names()) + ["auto"]
    algorithm = st.sidebar.selectbox("Algorithm", algorithms, index=algorithms.index("kmeans"), key="algorithm")
    fixed = st.sidebar.checkbox("Fix the number of segments", key="fixed")
    k = int(st.sidebar.number_input("Segments", 2, 20, 5, key="k")) if fixed else None
    k_min, k_max = st.sidebar.slider("Range to consider", 2, 15, (2, 10), key="k_range", disabled=fixed)
    min_share = st.sidebar.number_input("Smallest usable segment (share)", 0.0, 0.5, 0.03, step=0.01, key="min_share")
    seed = int(st.sidebar.number_input("Seed", 0, 10**6, 0, key="seed"))
    return dict(columns=ColumnMapping(**mapping), products=products, keep_duplicates=keep_duplicates,
                persona_column=persona, attention_column=attention, algorithm=algorithm, k=k,
                k_min=k_min, k_max=k_max, min_share=float(min_share), random_state=seed)


def _inputs_signature(events: str | None, customers: str | None, settings: dict[str, Any]) -> tuple:
    """What a result was made from: files (name and size) and settings."""
    files = tuple((p, Path(p).stat().st_size) for p in (events, customers) if p)
    return files, tuple(sorted((k, repr(v)) for k, v in settings.items()))


def _fit(events: str | None, customers: str | None, settings: dict[str, Any]) -> None:
    status = st.status("Segmenting…", expanded=True)

    def progress(stage: str, elapsed: float) -> None:
        status.update(label=f"Segmenting… {stage} ({elapsed:.0f} s so far)")
        status.write(f"{elapsed:6.1f} s: {stage}")

    start = time.perf_counter()
    try:
        result = Segmentation(**settings, progress=progress).fit(customers=customers, events=events)
    except (InputError, ValueError) as exc:
        status.update(label="The run stopped", state="error", expanded=False)
        st.session_state.pop("result", None)
        st.session_state["error"] = str(exc)
        return
    status.update(label=f"Done in {time.perf_counter() - start:.0f} s", state="complete", expanded=False)
    st.session_state.pop("error", None)
    st.session_state.pop("rename_error", None)
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    st.session_state["made_from"] = _inputs_signature(events, customers, settings)
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
    counts = [f"{n:,} {STATUS_WORDS[status]}" for status, n in s.status_counts.items()
              if n or status == "segmented"]
    dq = s.data_quality
    st.markdown(f"**{s.n_customers:,} customers** = " + " + ".join(counts) + ".")
    rows = [f"{n:,} {what}" for n, what in ((dq.duplicate_events_dropped, "duplicate event rows dropped"),
                                             (dq.returns, "returns")) if n]
    if rows:
        st.caption("In the events: " + "; ".join(rows) + ".")
    st.caption(f"Segmentation runs in this session: {st.session_state.get('runs', 0)}")
    largest = max(s.segments, key=lambda seg: seg.share)
    if largest.share > DEGENERATE_SHARE:
        st.warning(f"Segment {largest.id} holds {largest.share:.1%} of the customers: this result does not "
                   "split them in a useful way. Try another algorithm or a larger smallest-segment share.")
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
        names = dict(zip(edited["segment"].astype(int), edited["name"].fillna("").astype(str)))
        try:  # renaming rewords the result; nothing is fitted again
            renamed = result.with_names(names)
        except ValueError as exc:
            st.session_state["rename_error"] = str(exc)
        else:
            st.session_state.pop("rename_error", None)
            _keep(renamed)
            st.rerun()
    if "rename_error" in st.session_state:
        st.error(f"Names not applied: {st.session_state['rename_error']}. The results are unchanged.")

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
    _preview(events, customers, products)
    if st.sidebar.button("Run segmentation", type="primary", key="run"):
        if events is None and customers is None:
            st.session_state["error"] = "upload an event log, a customer table, or both"
        elif st.session_state["mapping_problems"]:
            st.session_state["error"] = " ".join(st.session_state["mapping_problems"])
        else:
            _fit(events, customers, settings)
    if "error" in st.session_state:
        st.error(st.session_state["error"])
    elif "result" in st.session_state:
        if st.session_state.get("made_from") != _inputs_signature(events, customers, settings):
            st.warning("Out of date: the data or settings changed since these results were made. "
                       "Press **Run segmentation** to bring them up to date.")
        _show(st.session_state["result"])
    else:
        st.info("Choose the data and settings on the left, then press **Run segmentation**.")


main()
