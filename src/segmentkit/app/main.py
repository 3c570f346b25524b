"""The segmentkit web app (Streamlit): data in, segments out, names edited, files down.

Run with ``segmentkit app``. This script only translates: it gathers inputs and settings,
calls :class:`segmentkit.Segmentation`, and shows the run summary. Every number on the page
comes from ``result.summary``; the files offered are those the CLI writes.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from segmentkit import algorithms
from segmentkit.app import results
from segmentkit.audiences import CONTACT_ROLES, PLATFORM_NAMES, PLATFORMS, export_audiences
from segmentkit.choose_k import STABLE_ARI, STABLE_SEGMENT_JACCARD, SUBSAMPLE_FRACTION
from segmentkit.config import (SETTING_RANGES, ClusteringSettings, ColumnMapping, HoldoutSettings, Settings,
                               format_settings, load_settings)
from segmentkit.datasets import make_demo, write_demo
from segmentkit.errors import InputError, SettingError
from segmentkit.lifecycle import LAYERS
from segmentkit.name_overrides import format_name_overrides
from segmentkit.pipeline import Segmentation, SegmentationResult
from segmentkit.report import build_view
from segmentkit.result import Summary
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
                "excluded": "left out (an exclude rule, or no usable features)"}
#: The contact columns of the audience files, as the page labels them.
CONTACT_LABELS = {"email": "E-mail", "phone": "Phone", "first_name": "First name", "last_name": "Last name",
                  "country": "Country (ISO code: GB, US)", "zip": "Zip / postcode", "city": "City (Meta only)",
                  "state": "State (Meta only)"}
#: The audience export's flag names, as this page says them.
AUDIENCE_WORDS = {"--country": "Country of phones without a country code",
                  " (name them with --email-column etc. or [columns])": " (choose them above)"}
#: The smallest lift offered (1 %) and the largest the library takes (+1,000 %).
MIN_LIFT_LIMITS = (0.01, 10.0)
#: One fixed time stamp for every file of a zip offered, so the same files zip to the same bytes.
ZIP_TIME = (2000, 1, 1, 0, 0, 0)
#: The settings' widgets as a page opens: the library's defaults (and a number of segments
#: to start from when it is fixed).
WIDGET_DEFAULTS = {"algorithm": ClusteringSettings.algorithm, "fixed": False, "k": 5,
                   "k_min": ClusteringSettings.k_min, "k_max": ClusteringSettings.k_max,
                   "min_share": ClusteringSettings.min_share, "max_segments": ClusteringSettings.max_segments,
                   "n_bootstrap": ClusteringSettings.n_bootstrap, "seed": ClusteringSettings.seed,
                   "snapshot_date": None, "holdout": HoldoutSettings.enabled, "min_lift": HoldoutSettings.min_lift,
                   "layers": ClusteringSettings.layers}
#: Plain words for the settings, shown on hover.
SETTING_HELP = {
    "algorithm": "How segments are found. " + " ".join(
        f"**{name}**: {algorithms.get(name).description}." for name in algorithms.run_names())
        + " **auto**: tries several and keeps the best by the diagnostics.",
    "fixed": "Off: the app compares several numbers of segments and recommends one. "
             "On: it makes exactly the number you give.",
    "k": "How many segments to make.",
    "k_min": "The numbers of segments compared. The recommendation keeps the *stable* ones (the same "
               "segments come back when the customers are resampled) and, among those about as well "
               "separated as the best, takes the most segments.",
    "min_share": "A number of segments is not recommended when one of its segments holds less than this "
                 "share of the customers (0.05 = 5 %). A bigger share gives fewer, larger segments; "
                 "0 allows segments of any size.",
    "max_segments": "The most segments your team can act on: more are not recommended. Empty: no limit.",
    "n_bootstrap": f"How many times each candidate is refitted on {SUBSAMPLE_FRACTION:.0%} of the customers to "
                   "check it is *stable* (the refits find the same segments). More checks: surer but slower; "
                   "0 skips the check.",
    "seed": "The same data and seed always give the same segments. Change it to see whether a result "
            "depends on chance.",
    "snapshot_date": "Compute the customers' behaviour as of this day (recency counts back from it; later "
                     "events are ignored). Empty: the day after the last event.",
    "features": "Numeric columns of the customers file (points, age, a score, ...) used to find segments "
                "as they are, besides the behaviour in the events; with a customers file only, they are "
                "all there is to segment on.",
    "holdout": "Keep a random control group in each segment that the campaign leaves out, to measure "
               "afterwards what the campaign added (the lift). The app works out, from each segment's recent "
               "buying, how many customers to hold out; the assignments get a *group* column (target or "
               "holdout). A customer keeps their group across refreshes while in the same segment.",
    "min_lift": "The smallest rise the campaign should be able to show, relative to what the segment does "
                "anyway (0.10 = 10 % more buying or spend). A smaller lift needs a bigger control group; "
                "a segment too small to show it is left whole (everyone a target).",
    "platforms": "Google Customer Match, Meta Custom Audiences or TikTok customer file: one upload file per "
                 "segment, contact details normalised and hashed as each platform asks (no raw details).",
    "country": "The country (ISO code such as GB or US) of phone numbers written without one, and of rows "
               "with no country.",
    "exclude": "Customers to leave out, such as staff or test accounts: the customers whose value in this "
               "column is one of the values given (case does not matter). They are not segmented, and stay "
               "in the assignments marked *excluded* with the reason.",
    "layers": "**lifecycle**: new customers, one-time buyers, browsers who never bought and lapsed repeat "
              "buyers each become a group of their own by plain rules, and the segments are found among the "
              "active repeat buyers only (the numbers of segments above count those; the most segments counts "
              "the groups too). **flat**: every customer is segmented together. **auto**: lifecycle when at "
              "least a quarter of the buyers ordered once, else flat (the reason for the number of segments "
              "says which).",
    "previous": "For a refresh: the model.json of an earlier run (in its downloads). Segments that match "
                "one of that run keep its id and name, and the page shows how customers moved.",
}
#: The page's label of each setting, for messages about it.
SETTING_LABELS = {"k": "Number of segments", "k_min": "Numbers of segments to compare",
                  "k_max": "Numbers of segments to compare", "min_share": "Smallest usable segment",
                  "max_segments": "Most segments you can act on", "n_bootstrap": "Stability checks",
                  "seed": "Seed", "algorithm": "Algorithm"}
#: Plain words for the diagnostics of each candidate number of segments, shown on hover.
DIAGNOSTIC_HELP = {
    "silhouette": "How much closer customers are to their own segment than to the next one, from -1 to 1: "
                  "higher is better; above 0.5 the segments are islands, below 0.25 regions of a continuum.",
    "Calinski-Harabasz": "Spread between segments relative to the spread within them: higher is better "
                         "(compare numbers of segments with it, not data sets).",
    "Davies-Bouldin": "How much each segment overlaps its most similar one: lower is better.",
    "stability": f"**Stable** means the same segments come back when the customers are resampled: the mean "
                 f"agreement of the refits (adjusted Rand index, 1 = identical). Stable from {STABLE_ARI:g}, "
                 f"with every segment recovered at {STABLE_SEGMENT_JACCARD:g} or more.",
    "smallest share": "The share of customers in the smallest segment: one below the smallest usable share "
                      "makes the candidate unusable.",
    "distinguishable": "**Distinguishable** means a few simple rules on the features tell the segments apart: "
                       "the balanced accuracy of a shallow decision tree predicting the segment (1 = always right, "
                       "1 / number of segments = chance).",
    "usable": "Whether this candidate meets the limits set (smallest share, most segments), and why not.",
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


def _options_key(key: str, options: list[str], generation: int) -> str:
    """A widget key that changes with the options offered and with each settings file
    restored (``col_amount@1f…``), so the widget is made anew, pre-set."""
    digest = hashlib.sha256("\x1f".join(options).encode("utf-8")).hexdigest()[:OPTIONS_DIGEST_CHARS]
    return f"{key}@{digest}.{generation}"


def _pick(label: str, options: list[str], key: str, default: str | None = None,
          help: str | None = None, generation: int = 0) -> str | None:
    """A column dropdown, pre-set to ``default`` whenever the files' columns change.

    The widget key carries a digest of the options, so new columns make a new dropdown
    pre-set by name. Writing the default into ``st.session_state`` instead races with
    the browser: a click that interrupts the script run (say "Run" pressed right after an
    upload) reruns it with the browser's old "(none)" values, and a run then reads
    other columns than the page ends up showing. A settings file restored makes a new
    ``generation`` of dropdowns, pre-set to its columns.
    """
    choices = [NONE] + options
    index = choices.index(default) if default in choices else 0
    value = st.selectbox(label, choices, index=index, key=_options_key(key, options, generation), help=help)
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
             "persona": (cu_cols, "persona"), "attention": (cu_cols, "marketing_touches"),
             "exclude_column": (cu_cols, None)}
    _restore_project(keys)
    restored: dict[str, Any] = st.session_state.get("project_columns", {})

    def pick(label: str, key: str, help: str | None = None) -> str | None:
        options, default = keys[key]
        # a settings file's column (or its "no column") unless the files lack it, else the CLI's rules
        if key in restored and (not restored[key] or restored[key] in options):
            chosen = restored[key] or None
        else:
            chosen = _default_column(options, default)
        return _pick(label, options, key, chosen, help, st.session_state.get("project_generation", 0))

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
            mapping["customers_id"] = chosen if chosen != mapping["customer_id"] else None
        if pr_cols:
            chosen = pick("Product id (catalogue)", "col_products_id")
            mapping["products_id"] = chosen if chosen != mapping["product_id"] else None
        keep_duplicates = st.checkbox("Keep rows equal in every column to another row (duplicates)",
                                      key="keep_duplicates")
        features = _features(cu_cols, restored)
        persona = pick("Existing persona (customers)", "persona",
                       help="A column of the customers file with the client's own persona labels, to compare with.")
        attention = pick("Marketing attention (customers)", "attention",
                         help="Contacts, touches or spend per customer, to find segments given too much or too little.")
        exclude = _exclude(pick("Leave out customers (staff, test accounts) by", "exclude_column",
                                help=SETTING_HELP["exclude"]))
    st.session_state["mapping_problems"] = problems
    st.sidebar.header("3. Segments")
    for key, value in WIDGET_DEFAULTS.items():  # the defaults, unless set by the user or a settings file
        st.session_state.setdefault(key, value)
    algorithm = st.sidebar.selectbox("Algorithm", list(algorithms.run_names()) + ["auto"], key="algorithm",
                                     help=SETTING_HELP["algorithm"])
    fixed = st.sidebar.checkbox("Fix the number of segments", key="fixed", help=SETTING_HELP["fixed"])
    k = _whole("Number of segments", "k", st.sidebar) if fixed else None
    st.sidebar.markdown("Numbers of segments to compare")
    low_column, high_column = st.sidebar.columns(2)
    k_min = int(low_column.number_input("From", *_limits("k_min"), step=1, key="k_min", disabled=fixed,
                                        help=SETTING_HELP["k_min"]))
    k_max = int(high_column.number_input("To", *_limits("k_max"), step=1, key="k_max", disabled=fixed,
                                         help=SETTING_HELP["k_min"]))
    min_share = st.sidebar.number_input("Smallest usable segment (share of customers)", *_limits("min_share"),
                                        step=0.01, key="min_share", help=SETTING_HELP["min_share"])
    with st.sidebar.expander("More settings"):
        max_segments = st.number_input("Most segments you can act on", *_limits("max_segments"), step=1,
                                       key="max_segments", help=SETTING_HELP["max_segments"])
        n_bootstrap = _whole("Stability checks", "n_bootstrap", st)
        seed = _whole("Seed", "seed", st)
        snapshot = st.date_input("Behaviour as of (snapshot date)", key="snapshot_date",
                                 help=SETTING_HELP["snapshot_date"])
        layers = st.selectbox("Lifecycle groups first (new, one-time, lapsed)", LAYERS, key="layers",
                              help=SETTING_HELP["layers"])
        previous = _saved(st.file_uploader("Previous run (its model.json)", type=["json"], key="previous",
                                           help=SETTING_HELP["previous"]), "previous")
    st.sidebar.markdown("Measuring a campaign")
    holdout = st.sidebar.checkbox("Keep a control group in each segment (holdout)", key="holdout",
                                  help=SETTING_HELP["holdout"])
    min_lift = st.sidebar.number_input("Smallest lift to detect (share)", *MIN_LIFT_LIMITS, step=0.01,
                                       key="min_lift", disabled=not holdout, help=SETTING_HELP["min_lift"])
    base: Settings | None = st.session_state.get("project_base")
    return dict(settings=base, columns=replace(base.columns if base else ColumnMapping(), **mapping),
                products=products, keep_duplicates=keep_duplicates, persona_column=persona,
                attention_column=attention, algorithm=algorithm, k=k, k_min=k_min, k_max=k_max,
                min_share=float(min_share), max_segments=None if max_segments is None else int(max_segments),
                n_bootstrap=n_bootstrap, random_state=seed, snapshot_date=snapshot, previous=previous,
                feature_columns=features, exclude=exclude, holdout=holdout, min_lift=float(min_lift) if holdout else None,
                layers=layers)


def _exclude(column: str | None) -> dict[str, list[str]]:
    """The exclude rule: the column chosen and the values typed (none: nobody left out)."""
    if column is None:
        return {}
    typed = st.text_input(f"Values of {column} to leave out (comma-separated)", key="exclude_values",
                          help=SETTING_HELP["exclude"])
    values = [v.strip() for v in typed.split(",") if v.strip()]
    return {column: values} if values else {}


def _features(options: list[str], restored: dict[str, Any]) -> list[str]:
    """Numeric customer columns to segment on as they are (a settings file's, when restored)."""
    chosen = [c for c in restored.get("features", ()) if c in options]
    return st.multiselect("Customer columns to segment on (numbers)", options, default=chosen,
                          key=_options_key("features", options, st.session_state.get("project_generation", 0)),
                          help=SETTING_HELP["features"])


def _limits(name: str) -> tuple[Any, Any]:
    """A setting's allowed range, as the library declares it."""
    kind, low, high = SETTING_RANGES[name]
    return kind(low), kind(high)


def _whole(label: str, name: str, where: Any) -> int:
    """A whole-number setting, limited to its declared range."""
    return int(where.number_input(label, *_limits(name), step=1, key=name, help=SETTING_HELP[name]))


def _project_uploaded() -> None:
    """Read an uploaded settings file; its values are put in the widgets on the next draw
    (:func:`_restore_project`), before they are drawn."""
    upload = st.session_state.get("project")
    if upload is None:
        return
    try:
        settings = load_settings(_saved(upload, "project"))
    except InputError as exc:
        st.session_state["project_error"] = str(exc)
        return
    st.session_state.pop("project_error", None)
    st.session_state["project_pending"] = settings


def _restore_project(keys: dict[str, tuple[list[str], str | None]]) -> None:
    """Set every widget to the uploaded settings file's value; settings without a widget
    (feature columns, ...) are kept as the base of the run."""
    settings: Settings | None = st.session_state.pop("project_pending", None)
    if settings is None:
        return
    cl, cols = settings.clustering, settings.columns
    chosen = {f"col_{role}": getattr(cols, role) for role in ROLE_LABELS}
    chosen |= {"col_customers_id": cols.customers_id or cols.customer_id,
               "col_products_id": cols.products_id or cols.product_id,
               "persona": settings.roles.persona, "attention": settings.roles.attention,
               "exclude_column": next(iter(settings.exclude), None)}
    missing_features = [c for c in settings.roles.features if keys["persona"][0] and c not in keys["persona"][0]]
    missing = sorted({column for key, column in chosen.items() if column and keys[key][0]
                      and column not in keys[key][0]} | set(missing_features))
    st.session_state["project_columns"] = chosen | {"features": settings.roles.features}
    st.session_state["project_generation"] = st.session_state.get("project_generation", 0) + 1
    st.session_state.update(
        algorithm=cl.algorithm, fixed=cl.k is not None, k_min=cl.k_min, k_max=cl.k_max, min_share=cl.min_share,
        max_segments=cl.max_segments, n_bootstrap=cl.n_bootstrap, seed=cl.seed,
        snapshot_date=settings.snapshot_date, keep_duplicates=settings.keep_duplicates,
        holdout=settings.holdout.enabled, min_lift=settings.holdout.min_lift, layers=cl.layers,
        exclude_values=", ".join(next(iter(settings.exclude.values()), ())))
    if cl.k is not None:
        st.session_state["k"] = cl.k
    st.session_state["project_base"] = replace(settings, products=None)
    others = list(settings.exclude)[1:]  # the page offers one exclude rule
    st.session_state["project_note"] = (
        "Settings restored." + (f" Not in your files, so not used: {', '.join(map(repr, missing))}."
                                if missing else "")
        + (f" Only one rule to leave customers out is offered here; not used: the rules on "
           f"{', '.join(map(repr, others))}." if others else ""))


def _project(settings: dict[str, Any]) -> None:
    """Download the settings and mapping as a settings file (the one ``segmentkit run``
    reads), or upload one to restore them."""
    st.sidebar.header("4. Project")
    try:
        resolved = Segmentation(**settings).resolved_settings()
    except InputError as exc:
        st.sidebar.error(_in_words(exc))
    else:
        text = format_settings(replace(resolved, products=None))
        st.sidebar.download_button("Download settings (TOML)", text.encode("utf-8"), "segmentkit.toml",
                                   "application/toml", key="project_download",
                                   help="The settings and the column mapping, as the file `segmentkit run` "
                                        "reads; upload it here later to carry on where you left off.")
    st.sidebar.file_uploader("Restore settings from a file", type=["toml"], key="project",
                             on_change=_project_uploaded)
    if "project_error" in st.session_state:
        st.sidebar.error(st.session_state["project_error"])
    elif "project_note" in st.session_state:
        st.sidebar.success(st.session_state["project_note"])


def _in_words(exc: InputError) -> str:
    """A library error with a setting's name replaced by its label on this page."""
    if isinstance(exc, SettingError) and exc.setting in SETTING_LABELS:
        requirement = exc.requirement.replace("at least k_min", "at least “From”")  # k_max's rule
        return f"{SETTING_LABELS[exc.setting]}: {requirement}."
    return str(exc)


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
        st.session_state["error"] = _in_words(exc) if isinstance(exc, InputError) else str(exc)
        return
    status.update(label=f"Done in {time.perf_counter() - start:.0f} s", state="complete", expanded=False)
    st.session_state.pop("error", None)
    st.session_state.pop("rename_error", None)
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    st.session_state["made_from"] = _inputs_signature(events, customers, settings)
    st.session_state["made_with"] = (customers, settings["columns"])  # for the audience files
    _keep(result)


def _keep(result: SegmentationResult) -> None:
    """Keep a result and make the files offered once (the page is redrawn on every click)."""
    st.session_state["result"] = result
    for key in ("audience_downloads", "audience_checks", "audience_error"):  # made from the previous files
        st.session_state.pop(key, None)
    st.session_state["view"] = build_view(result.summary)  # what the report shows, for the page
    out = _workdir() / "out"
    shutil.rmtree(out, ignore_errors=True)  # no file of an earlier run left beside this one's
    paths = result.write(out)
    st.session_state["downloads"] = {
        "assignments.csv": (paths["assignments_csv"].read_bytes(), "text/csv"),
        "report.html": (paths["report"].read_bytes(), "text/html"),
        "summary.json": (paths["summary"].read_bytes(), "application/json"),
        "segment_names.toml": (format_name_overrides(result.segment_names).encode("utf-8"), "text/plain"),
        "model.json": (paths["model"].read_bytes(), "application/json"),
    }
    if result.summary.holdout is not None:  # what `segmentkit readout` reads after the campaign
        st.session_state["downloads"]["run.zip"] = (_zipped(out), "application/zip")


def _zipped(folder: Path) -> bytes:
    """Every file under ``folder`` in one zip (paths relative to it; the same files give the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _show(result: SegmentationResult) -> None:
    s = result.summary
    ks = s.k_selection
    st.subheader(f"{s.k} segments of {s.n_customers:,} customers")
    dq = s.data_quality
    words = STATUS_WORDS | ({"excluded": "left out by the exclude rule"}
                            if dq.customers_excluded and dq.customers_excluded == s.status_counts.get("excluded") else {})
    counts = [f"{n:,} {words[status]}" for status, n in s.status_counts.items() if n or status == "segmented"]
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
    view = st.session_state["view"]
    for line in view["ctx"]["headline"]["evidence"]:  # structure, out-of-time validation, what separates
        st.markdown(line)
    st.table(pd.DataFrame([{
        "segment": str(seg.id), "name": seg.name, "customers": seg.size,
        "share": f"{seg.share:.1%}",
        "value share": "" if seg.value_share is None else f"{seg.value_share:.1%}",
        "what sets it apart": seg.description,
    } for seg in s.segments]))
    results.show_charts(view)
    results.show_cards(view)
    results.show_personas(view)
    results.show_opportunities(view)
    _show_holdout(s)
    st.markdown("#### Choosing the number of segments")
    results.show_k_charts(view)
    st.dataframe(pd.DataFrame([{
        "segments": str(c.k), "algorithm": c.algorithm, "silhouette": c.silhouette,
        "Calinski-Harabasz": c.calinski_harabasz, "Davies-Bouldin": c.davies_bouldin,
        "stability": c.stability, "smallest share": c.min_share, "distinguishable": c.distinguishability,
        "usable": "yes" if c.eligible else f"no: {c.why_not}" if c.why_not else "no",
    } for c in ks.candidates]), hide_index=True, key="diagnostics",
        column_config={name: st.column_config.Column(help=text, width="large" if name == "usable" else None)
                       for name, text in DIAGNOSTIC_HELP.items()})
    results.show_data_quality(view)
    if result.migration is not None:
        st.markdown("#### Since the previous run")
        st.caption("Customers by their segment in the previous run (rows; *new*: not in it) and in this one "
                   "(columns; *gone*: not in this one). Matching segments keep their ids and names.")
        st.dataframe(result.migration, key="migration")

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
        column.download_button(name, data, name, mime, key=f"download_{name}")
    if "run.zip" in downloads:
        st.caption("run.zip: the whole output folder, which `segmentkit readout` reads after the campaign "
                   "to measure the lift of each segment (target against holdout).")
    _show_audiences(s)


def _show_holdout(s: Summary) -> None:
    """The control group planned per segment (``summary.json`` → ``holdout``)."""
    plan = s.holdout
    if plan is None:
        return
    st.markdown("#### Control groups (holdout)")
    st.caption(f"Each control group is sized to show a lift of {plan.min_lift:.0%} or more in buying or in "
               f"spend ({plan.power:.0%} power, {plan.alpha:.0%} significance). The assignments say each "
               "customer's group (column *group*: target or holdout).")
    names = {seg.id: seg.name for seg in s.segments}
    st.dataframe(pd.DataFrame([{
        "segment": str(h.segment_id), "name": names.get(h.segment_id, ""), "customers": h.size,
        "held out (share)": h.holdout_share, "held out (expected)": h.expected_holdout,
        "testable": "yes" if h.testable else "no", "why": h.reason,
    } for h in plan.segments]), hide_index=True, key="holdout_plan",
        column_config={"held out (share)": st.column_config.NumberColumn(format="percent"),
                       "why": st.column_config.Column(width="large")})
    planned = [h for h in plan.segments if h.testable]
    st.markdown(f"About **{sum(h.expected_holdout for h in plan.segments):,}** customers held out; "
                f"{len(planned)} of {len(plan.segments)} segments testable.")


def _show_audiences(s: Summary) -> None:
    """Upload files for the ad platforms, made by the library from this run's folder."""
    st.markdown("#### Ad-platform audiences")
    customers, columns = st.session_state.get("made_with", (None, ColumnMapping()))
    if customers is None:
        st.caption("Needs a customers file with contact details (e-mail, phone, or names and zip).")
        return
    st.caption("Choose the platforms and the columns holding the contact details; each file holds the "
               "hashed contacts of one segment, as the platform asks for them.")
    options, defaults = _columns(customers), ColumnMapping()
    platforms = st.multiselect("Platforms", list(PLATFORMS), format_func=PLATFORM_NAMES.get,
                               key="audience_platforms", help=SETTING_HELP["platforms"])
    chosen: dict[str, str] = {}
    for column, role in zip(st.columns(4) * 2, CONTACT_ROLES):
        with column:
            chosen[role] = _pick(CONTACT_LABELS[role], options, f"contact_{role}",
                                 _default_column(options, getattr(defaults, role))) or ""
    segments = {seg.id: f"{seg.id}: {seg.name}" for seg in s.segments if seg.id >= 0}
    wanted = st.multiselect("Segments (none chosen: every segment)", list(segments), format_func=segments.get,
                            key="audience_segments")
    country = st.text_input("Country of phones without a country code", key="audience_country",
                            help=SETTING_HELP["country"]).strip() or None
    if st.button("Make the audience files", key="make_audiences", disabled=not platforms):
        downloads, checks = {}, {}
        try:
            for platform in platforms:
                folder = _workdir() / "audiences" / platform
                shutil.rmtree(folder, ignore_errors=True)
                made = export_audiences(_workdir() / "out", customers, platform, folder, segments=wanted or None,
                                        columns=replace(columns, **chosen), country=country)
                downloads[f"audiences-{platform}.zip"] = _zipped(folder)
                checks[platform] = made.preflight
        except InputError as exc:
            message = str(exc)
            for flag, words in AUDIENCE_WORDS.items():
                message = message.replace(flag, words)
            st.session_state["audience_error"] = message
            st.session_state.pop("audience_downloads", None)
        else:
            st.session_state.pop("audience_error", None)
            st.session_state["audience_downloads"], st.session_state["audience_checks"] = downloads, checks
    if "audience_error" in st.session_state:
        st.error(f"No audience files made: {st.session_state['audience_error']}")
    for platform, check in st.session_state.get("audience_checks", {}).items():
        counts = check["counts"]
        st.markdown(f"**{PLATFORM_NAMES[platform]}**: {counts['customers_in_run']:,} customers of this run in the "
                    f"customers file; {counts['invalid_emails']:,} invalid e-mails and {counts['invalid_phones']:,} "
                    f"invalid phones left out; {counts['without_usable_contact']:,} without a usable contact.")
        st.dataframe(pd.DataFrame([{
            "segment": str(row["id"]), "name": row["name"], "customers": row["customers"],
            "rows in the file": row["rows_written"], "with e-mail": row["with_email"],
            "with phone": row["with_phone"], "with name and zip": row["with_name_zip"],
        } for row in check["segments"]]), hide_index=True, key=f"audience_check_{platform}")
        for row in check["segments"]:
            for warning in row["warnings"]:
                st.warning(f"Segment {row['id']} ({row['name']}): {warning}.")
        name = f"audiences-{platform}.zip"
        st.download_button(name, st.session_state["audience_downloads"][name], name, "application/zip",
                           key=f"download_{name}", help="One CSV per segment to upload to the platform, and "
                           "audiences.json: the check above.")


def main() -> None:
    """The page."""
    st.set_page_config(page_title="segmentkit", layout="wide")
    st.title("segmentkit: behavioral segments")
    events, customers, products = _inputs()
    settings = _settings(events, customers, products)
    run = st.sidebar.button("Run segmentation", type="primary", key="run")
    _project(settings)
    _preview(events, customers, products)
    if run:
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
