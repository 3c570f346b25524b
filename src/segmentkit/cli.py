"""Command line: ``segmentkit demo | run | assign | readout``. It only translates flags into library
calls and results into text; progress goes to stderr, results to stdout.

Exit codes: 0 success, 2 bad input (one line naming file, column and row, flag or setting),
1 an internal error (``--debug`` shows its traceback, for a bug report).
"""

from __future__ import annotations

import datetime as dt
import sys
import traceback
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Optional, Sequence

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from segmentkit.errors import InputError
from segmentkit.result import Candidate, Summary

if TYPE_CHECKING:  # pragma: no cover
    from segmentkit.config import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="Behavioral audience segmentation: from a CRM export to named segments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[columns]" must not be read as markup
)

# markup off: names, reasons and messages come from the data and may hold "[...]"
_err = Console(stderr=True, highlight=False)
_out = Console(highlight=False, width=120)

# shared options, defined once
OutOpt = Annotated[Path, typer.Option("--out", help="Output folder.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed (same seed, same result).")]
WriteDbOpt = Annotated[Optional[str], typer.Option(
    help="Also write the assignments to postgresql://user@host/db or sqlite:///path.db.")]
WriteTableOpt = Annotated[Optional[str], typer.Option(help="With --write-db: schema.table (or table) to write.")]
SparkMasterOpt = Annotated[Optional[str], typer.Option(
    help="With --engine spark: the Spark master, e.g. local[4], spark://host:7077, yarn, or a Spark "
         "Connect server sc://host:15002 ([spark] master).")]
WriteModeOpt = Annotated[Optional[str], typer.Option(help="With --write-db: replace (default) or append.")]


class Engine(str, Enum):
    """Where the events are read and turned into features."""

    duckdb = "duckdb"
    spark = "spark"


EngineOpt = Annotated[Engine, typer.Option(
    help="duckdb (this machine) or spark: events (and remote customers) read by Apache Spark, from any "
         "path or URL it reads, e.g. s3a://bucket/events/*.parquet; [spark] in the settings file.")]


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="On an error, show the full traceback (for bug reports).")] = False,
) -> None:
    ctx.obj = {"debug": debug}


@contextmanager
def _reported(ctx: typer.Context) -> Iterator[None]:
    """User errors become one line and exit 2; anything else (a bug) one line and exit 1;
    with ``--debug`` the traceback is printed first."""
    debug = bool((ctx.obj or {}).get("debug"))
    try:
        yield
    except (typer.Exit, KeyboardInterrupt):
        raise
    except InputError as exc:
        if debug:
            _err.print(traceback.format_exc(), markup=False, highlight=False, soft_wrap=True)
        _err.print(Text.assemble(("error:", "bold red"), " ", _one_line(str(exc))), soft_wrap=True)
        raise typer.Exit(code=2) from None
    except Exception as exc:  # a bug: say so in one line, the traceback on request
        if debug:
            _err.print(traceback.format_exc(), markup=False, highlight=False, soft_wrap=True)
        _err.print(Text.assemble(("internal error:", "bold red"), f" {type(exc).__name__}: ",
                                 _one_line(str(exc)), " (run again with --debug for the traceback, and please "
                                 "report it)"), soft_wrap=True)
        raise typer.Exit(code=1) from None


def _print_notes(notes: Sequence[str]) -> None:
    """Each note on stderr as one plain line, ``note: ...``."""
    for note in notes:
        _err.print(Text("note: " + _one_line(note)), soft_wrap=True)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _out_dir(out: Path) -> Path:
    """The output folder, made; an error naming ``--out`` when it cannot be."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out} cannot be made ({exc.strerror or exc})") from None
    return out


def _candidates_table(summary: Summary) -> Table:
    sel = summary.k_selection
    t = Table(title="Candidates (number of segments)", title_justify="left")
    for c in ("algorithm", "k", "silhouette", "davies bouldin", "calinski harabasz", "stability",
              "min share", "distinguishability", "eligible"):
        t.add_column(c, justify="left" if c in ("algorithm", "eligible") else "right")
    for c in sel.candidates:
        t.add_row(c.algorithm, str(c.k), _num(c.silhouette), _num(c.davies_bouldin),
                  _num(c.calinski_harabasz, "{:,.0f}"), _num(c.stability), _num(c.min_share),
                  _num(c.distinguishability), _verdict(c))
    return t


def _verdict(c: Candidate) -> str:
    if c.eligible:
        return "yes"
    return f"no: {c.why_not}" if c.why_not else "no"


def _num(x: float | None, form: str = "{:.3f}") -> str:
    return "" if x is None else form.format(x)


def _print_result(summary: Summary, out: Path, paths: dict[str, Path]) -> None:
    sel = summary.k_selection
    if sel.candidates:
        _out.print(_candidates_table(summary))
        _out.print(f"Chosen: {sel.reason}\n", soft_wrap=True)
    t = Table(title=f"{summary.k} segments of {summary.n_customers:,} customers "
                    f"(snapshot {summary.snapshot_date}, {summary.algorithm})", title_justify="left")
    for c in ("id", "name", "size", "share", "value share", "top traits"):
        t.add_column(c, justify="right" if c in ("id", "size", "share", "value share") else "left")
    for seg in summary.segments:
        traits = "; ".join(f.sentence for f in seg.top_features[:3])
        t.add_row(str(seg.id), seg.name, f"{seg.size:,}", f"{seg.share:.1%}",
                  _num(seg.value_share, "{:.1%}"), traits)
    _out.print(t)
    if summary.personas is not None:
        _out.print(f"\nPersonas ({summary.personas.column}): {summary.personas.narrative}", soft_wrap=True)
    flagged = [o for o in summary.opportunities if o.kind != "balanced"]
    if flagged:
        _out.print("\nOpportunities:")
        for o in flagged:
            _out.print(f"  - {o.kind}: {o.reason}", soft_wrap=True)
    _out.print("\nCustomers: " + ", ".join(f"{k} {v:,}" for k, v in summary.status_counts.items()))
    _out.print(f"Outputs in {out}/: " + ", ".join(sorted(str(p.relative_to(out)) for p in paths.values())))


def _write_back(assignments: Any, target: Any, snapshot_date: Any) -> None:
    """Write assignments to the database of ``--write-db`` (when given) and say so."""
    if target is None:
        return
    from segmentkit.writeback import write_assignments_db

    rows = write_assignments_db(assignments, target, snapshot_date=snapshot_date)
    _out.print(f"Wrote {rows:,} assignments to {target.name} ({target.mode})", soft_wrap=True)


def _target(url: Optional[str], table: Optional[str], mode: Optional[str]) -> Any:
    """The ``--write-db`` target, checked before any work is done; ``None`` without one."""
    if url is None and table is None:
        return None
    if url is None or table is None:
        raise InputError("--write-db and --write-table go together (or database and table in [output])")
    from segmentkit.writeback import DatabaseTarget

    return DatabaseTarget(url, table, mode or "replace")


def _stage_printer(enabled: bool) -> Any:
    """A progress callback printing one plain line per stage on stderr, or ``None``."""
    if not enabled:
        return None

    def show(stage: str, elapsed: float) -> None:
        print(f"[{elapsed:7.1f} s] {stage}", file=sys.stderr, flush=True)
    return show


def _run(seg: Any, customers: Any, events: Any, out: Path, target: Any = None) -> None:
    """Fit, write, write back; ``seg.progress`` (if any) also hears of the writing stages."""
    import time

    show = seg.progress or (lambda stage, elapsed: None)
    start = time.perf_counter()
    result = seg.fit(customers=customers, events=events)
    _print_notes(result.summary.data_quality.notes)
    show("writing outputs", time.perf_counter() - start)
    paths = result.write(out, progress=lambda stage: show(stage, time.perf_counter() - start))
    show("done", time.perf_counter() - start)
    _print_result(result.summary, out, paths)
    _write_back(result.assignments, target, result.summary.snapshot_date)


@app.command()
def demo(
    ctx: typer.Context,
    out: OutOpt = Path("demo-output"),
    seed: SeedOpt = None,
    customers: Annotated[int, typer.Option(help="Number of demo customers.")] = 5000,
) -> None:
    """Run the whole flow on bundled demo data (a retail CRM with planted segments)."""
    from segmentkit.datasets import make_demo, write_demo
    from segmentkit.pipeline import Segmentation

    with _reported(ctx):
        _out_dir(out)
        _err.print(f"generating demo data ({customers:,} customers)…")
        data = make_demo(customers, seed=seed or 0)
        paths = write_demo(out / "data", data)
        seg = Segmentation(persona_column="persona", attention_column="marketing_touches",
                           random_state=seed or 0)
        _run(seg, paths["customers"], paths["events"], out)


@app.command()
def run(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Argument(help="TOML settings file ([columns], [roles], [clustering], [data], [database], [output], [holdout], [spark]).")] = None,
    events: Annotated[Optional[str], typer.Option(help="Event log (CSV, Parquet or Excel; with --engine spark any path or URL Spark reads).")] = None,
    customers: Annotated[Optional[str], typer.Option(help="Customer table (CSV, Parquet or Excel; with --engine spark also a URL).")] = None,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    driver_customers: Annotated[Optional[int], typer.Option(help="With --engine spark: beyond this many customers (default 2,000,000), fit on a stratified sample of this size and let Spark assign everyone ([spark] driver_customers).")] = None,
    database: Annotated[Optional[str], typer.Option(help="postgresql://user@host:port/db to read from (password: PGPASSWORD or ~/.pgpass).")] = None,
    events_query: Annotated[Optional[str], typer.Option(help="With --database: events table name or SELECT.")] = None,
    customers_query: Annotated[Optional[str], typer.Option(help="With --database: customers table name or SELECT.")] = None,
    products_query: Annotated[Optional[str], typer.Option(help="With --database: product catalogue table name or SELECT.")] = None,
    out: OutOpt = Path("segmentkit-output"),
    persona_column: Annotated[Optional[str], typer.Option(help="Customer column with the existing persona.")] = None,
    attention_column: Annotated[Optional[str], typer.Option(help="Customer column with marketing touches/spend.")] = None,
    algorithm: Annotated[Optional[str], typer.Option(help="kmeans, ward, average, complete, dbscan, hdbscan, gmm or auto.")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Fixed number of segments (overrides the selection; other k are not evaluated).")] = None,
    evidence: Annotated[bool, typer.Option(help="With --k: also evaluate k-min..k-max and say what the evidence alone suggests.")] = False,
    k_min: Annotated[Optional[int], typer.Option(help="Smallest k considered.")] = None,
    k_max: Annotated[Optional[int], typer.Option(help="Largest k considered.")] = None,
    seed: SeedOpt = None,
    snapshot_date: Annotated[Optional[str], typer.Option(help="Features as of this day, YYYY-MM-DD.")] = None,
    min_share: Annotated[Optional[float], typer.Option(help="Smallest usable segment share (default 0.03).")] = None,
    max_segments: Annotated[Optional[int], typer.Option(help="Most segments the business can use.")] = None,
    min_value_share: Annotated[Optional[float], typer.Option(help="Smallest value share a segment must hold.")] = None,
    assign_noise: Annotated[bool, typer.Option(help="Put density-noise customers into their nearest segment.")] = False,
    balance_families: Annotated[Optional[bool], typer.Option("--balance-families/--no-balance-families", help="No feature family (engagement, value, category mix, ...) holds more than half of the clustering distance merely by having more columns (default on).")] = None,
    layers: Annotated[Optional[str], typer.Option(help="auto (the default: lifecycle when at least 25 % of the buyers ordered once, else flat), flat (cluster everyone) or lifecycle: new, one-time, browsing-only and lapsed customers as groups of their own, behavioural segments (--k, --k-min/--k-max) within the active base; --max-segments counts both.")] = None,
    validate: Annotated[Optional[bool], typer.Option("--validate/--no-validate", help="Out-of-time validation: fit on all but the last quarter (<= 90 days), measure the quarter after (default on).")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Customer id column (both tables).")] = None,
    time_column: Annotated[Optional[str], typer.Option(help="Event time column.")] = None,
    type_column: Annotated[Optional[str], typer.Option(help="Event type column (purchase/view/cart/return).")] = None,
    amount_column: Annotated[Optional[str], typer.Option(help="Amount column (negative = return).")] = None,
    quantity_column: Annotated[Optional[str], typer.Option(help="Quantity column.")] = None,
    category_column: Annotated[Optional[str], typer.Option(help="Product category column.")] = None,
    channel_column: Annotated[Optional[str], typer.Option(help="Channel column.")] = None,
    discount_column: Annotated[Optional[str], typer.Option(help="Discount used (yes/no, 0/1) or discount amount column.")] = None,
    order_column: Annotated[Optional[str], typer.Option(help="Order id column.")] = None,
    price_column: Annotated[Optional[str], typer.Option(help="Unit price column: line value = price × quantity (an amount column wins).")] = None,
    product_column: Annotated[Optional[str], typer.Option(help="Product id column (events; also the catalogue's unless --products-id-column).")] = None,
    customers_id_column: Annotated[Optional[str], typer.Option(help="Customer id column of the customers table, when it differs from the events'.")] = None,
    products: Annotated[Optional[str], typer.Option(help="Product catalogue (CSV, Parquet, Excel, .gz/.zst; with --engine spark also a URL Spark reads): categories by product id.")] = None,
    products_id_column: Annotated[Optional[str], typer.Option(help="Product id column of the catalogue, when it differs from the events'.")] = None,
    keep_duplicates: Annotated[bool, typer.Option("--keep-duplicates", help="Keep event rows equal in every column to another row (default: drop them, counted).")] = False,
    feature_columns: Annotated[Optional[str], typer.Option(help="Comma-separated numeric customer columns used as features.")] = None,
    names: Annotated[Optional[Path], typer.Option(help="segment_names.toml with [names] id = \"name\" and [briefs.ID] topic = \"text\" overrides.")] = None,
    previous: Annotated[Optional[Path], typer.Option(help="Output folder of the previous run: ids, names and replaced brief sentences stick.")] = None,
    holdout: Annotated[bool, typer.Option("--holdout", help="Plan a control group per segment (assignments get a 'group' column: target/holdout).")] = False,
    min_lift: Annotated[Optional[float], typer.Option(help="With --holdout: smallest relative lift to detect (default 0.10 = +10 %).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Leave out the customers whose customers-table column holds a value (staff, test accounts): COLUMN=VALUE, repeatable; they stay in the assignments with status 'excluded' and a reason.")] = None,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="One line per stage with the elapsed time on stderr (default: when stderr is a terminal).")] = None,
    write_db: WriteDbOpt = None,
    write_table: WriteTableOpt = None,
    write_mode: WriteModeOpt = None,
) -> None:
    """Segment your own customers and/or events."""
    from segmentkit.config import load_settings
    from segmentkit.pipeline import Segmentation

    with _reported(ctx):
        settings = load_settings(
            config,
            columns={"customer_id": id_column, "event_time": time_column, "event_type": type_column,
                     "amount": amount_column, "quantity": quantity_column, "category": category_column,
                     "channel": channel_column, "discount": discount_column, "order_id": order_column,
                     "price": price_column, "product_id": product_column,
                     "customers_id": customers_id_column, "products_id": products_id_column},
            roles={"persona": persona_column, "attention": attention_column,
                   "features": tuple(c.strip() for c in feature_columns.split(",") if c.strip())
                   if feature_columns else None},
            clustering={"algorithm": algorithm, "k": k, "evidence": evidence or None, "k_min": k_min, "k_max": k_max, "seed": seed,
                        "min_share": min_share, "max_segments": max_segments,
                        "min_value_share": min_value_share, "assign_noise": assign_noise or None,
                        "balance_families": balance_families, "validate": validate, "layers": layers},
            snapshot_date=_date_flag("--snapshot-date", snapshot_date),
            keep_duplicates=keep_duplicates or None,
            products=products,
            holdout={"enabled": holdout or None, "min_lift": min_lift},
            spark={"driver_customers": driver_customers, "master": spark_master},
            exclude=_exclude_rules(exclude or []),
        )
        _check_companion_flags(settings, engine, driver_customers=driver_customers, spark_master=spark_master,
                               min_lift=min_lift)
        events, customers = settings.sources(events, customers, database=database, events_query=events_query,
                                             customers_query=customers_query)
        if engine is Engine.spark:
            events, customers = _spark_sources(settings, events, customers, write_db=write_db)
        overrides, brief_texts = _name_files(names)
        catalogue = settings.catalogue(database=database, products_query=products_query)
        _out_dir(out)
        seg = Segmentation(settings, name_overrides=overrides, brief_overrides=brief_texts, previous=previous,
                           products=catalogue,
                           progress=_stage_printer(sys.stderr.isatty() if progress is None else progress))
        output = settings.output  # flags win over the file's [output] section
        target = _target(write_db or output.database, write_table or output.table, write_mode or output.mode)
        _run(seg, customers, events, out, target=target)


def _date_flag(flag: str, value: Optional[str]) -> Optional[dt.date]:
    """A ``YYYY-MM-DD`` flag as a date (``None`` when not given)."""
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise InputError(f"{flag} must be YYYY-MM-DD, got {value!r}") from None


def _check_companion_flags(settings: Settings, engine: Engine, *, driver_customers: Optional[int],
                           spark_master: Optional[str], min_lift: Optional[float]) -> None:
    """Flags that mean something only beside another: say which one is missing."""
    _spark_flags(engine, {"--driver-customers": driver_customers, "--spark-master": spark_master})
    if min_lift is not None and not settings.holdout.enabled:
        raise InputError("--min-lift needs --holdout")


def _spark_flags(engine: Engine, flags: dict[str, Any]) -> None:
    """Refuse a flag of the Spark engine (flag → value, ``None``: not given) without it."""
    for flag, value in flags.items():
        if value is not None and engine is not Engine.spark:
            raise InputError(f"{flag} needs --engine spark")


def _spark_sources(settings: Settings, events: Any, customers: Any, *, write_db: Optional[str]) -> tuple[Any, Any]:
    """The events and customers as Spark reads them; files only, and no write-back from the driver."""
    from segmentkit.spark.engine import spark_inputs

    if not all(isinstance(x, (str, type(None))) for x in (events, customers)):
        raise InputError("--engine spark reads files (paths or URLs Spark reads), not --database")
    spark_events, spark_customers = spark_inputs(settings.spark, events, customers)
    if write_db or settings.output.database:
        raise InputError("--write-db takes the assignments from the driver; with --engine spark write "
                         "them from assignments.parquet instead")
    return spark_events, spark_customers


def _name_files(names: Optional[Path]) -> tuple[Optional[dict[int, str]], Optional[dict[int, dict[str, str]]]]:
    """The segment names and brief texts of ``--names`` (``None`` each without it)."""
    from segmentkit.briefs import load_brief_overrides
    from segmentkit.name_overrides import load_name_overrides

    if not names:
        return None, None
    try:
        return load_name_overrides(names), load_brief_overrides(names)
    except (OSError, ValueError) as exc:
        raise InputError(f"--names: {exc}") from None


@app.command()
def assign(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Argument(help="A run's output folder (or its model/ folder).")],
    events: Annotated[Optional[str], typer.Option(help="Event log of the customers to assign.")] = None,
    customers: Annotated[Optional[str], typer.Option(help="Customer table of the customers to assign (needed when the run had exclude rules: they are applied to it).")] = None,
    out: Annotated[str, typer.Option("--out", help="Output folder (with --engine spark also a URL Spark writes to).")] = "segmentkit-assigned",
    snapshot_date: Annotated[Optional[str], typer.Option(help="Features as of this day, YYYY-MM-DD.")] = None,
    engine: EngineOpt = Engine.duckdb,
    settings: Annotated[Optional[Path], typer.Option(help="TOML settings file whose [spark] section starts Spark (--engine spark).")] = None,
    spark_master: SparkMasterOpt = None,
    products: Annotated[Optional[str], typer.Option(help="Product catalogue, when the run's categories came from one (with --engine spark also a URL).")] = None,
    write_db: WriteDbOpt = None,
    write_table: WriteTableOpt = None,
    write_mode: WriteModeOpt = None,
) -> None:
    """Assign new customers to the segments of a saved run, and measure drift from it."""
    from segmentkit.pipeline import score

    with _reported(ctx):
        snap = _date_flag("--snapshot-date", snapshot_date)
        target = _target(write_db, write_table, write_mode)
        _spark_flags(engine, {"--spark-master": spark_master})
        if engine is Engine.spark:
            from segmentkit.config import load_settings
            from segmentkit.pipeline import load_model
            from segmentkit.spark.assign import check_spark_model, score_spark
            from segmentkit.spark.engine import spark_inputs

            if events is None:
                raise InputError("assign --engine spark needs --events")
            if target is not None:
                raise InputError("--write-db takes the assignments from the driver; with --engine spark they "
                                 "stay in Spark: write them from assignments.parquet/ instead")
            model = load_model(model_dir)
            check_spark_model(model, customers)  # before Spark starts
            source, _ = spark_inputs(load_settings(settings, spark={"master": spark_master}).spark, events, None)
            done = score_spark(model, source, out, customers, snapshot_date=snap, products=products)
            _print_notes(done.notes)
            drift, counts, per_segment = done.drift, done.status_counts, done.segment_counts
            written = f"{done.paths['assignments_csv']}/ and {done.paths['assignments_parquet']}/ (part files)"
        else:
            _out_dir(Path(out))
            scored = score(model_dir, customers=customers, events=events, snapshot_date=snap, products=products)
            frame = scored.assignments
            scored.write(out)
            _print_notes(scored.notes)
            drift = scored.drift
            counts = {str(k): int(v) for k, v in frame["status"].value_counts().sort_index().items()}
            per_segment = {(int(sid), str(name)): int(n) for (sid, name), n in
                           frame[frame["status"] == "segmented"].groupby(["segment_id", "segment_name"]).size().items()}
            written = f"{out}/assignments.csv and .parquet"
        _out.print(f"{sum(counts.values()):,} customers assigned: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        for (sid, name), n in per_segment.items():
            _out.print(f"  {sid:>3}  {name}: {n:,}")
        if drift:
            _out.print(f"Drift: {drift['verdict']}")
        _out.print(f"Written to {written}" + (", drift.json" if drift else ""))
        if engine is Engine.duckdb:
            _write_back(frame, target, scored.snapshot_date)


@app.command()
def readout(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(help="Output folder of a run made with --holdout.")],
    events: Annotated[Path, typer.Option(help="Events of the campaign period (the run's column names).")],
    from_date: Annotated[Optional[str], typer.Option("--from", help="First day of the campaign window, YYYY-MM-DD (default: the run's snapshot date).")] = None,
    to_date: Annotated[Optional[str], typer.Option("--to", help="Day after the window, YYYY-MM-DD (default: the day after the last event).")] = None,
    out: OutOpt = Path("segmentkit-readout"),
) -> None:
    """Read the lift back: target against holdout per segment (readout.json and readout.html)."""
    from segmentkit.holdout import readout_run
    from segmentkit.report.readout import write_readout

    with _reported(ctx):
        result = readout_run(run_dir, events, start=_date_flag("--from", from_date), end=_date_flag("--to", to_date))
        paths = write_readout(result, out)
        for seg in result["segments"]:
            _out.print(f"  {seg['verdict']}", soft_wrap=True)
        _out.print(f"Written to {paths['json']} and {paths['html']}")


def _exclude_rules(given: list[str]) -> dict[str, list[str]]:
    """``--exclude COLUMN=VALUE`` flags as rules: column → values (a column may repeat)."""
    rules: dict[str, list[str]] = {}
    for rule in given:
        column, sep, value = rule.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise InputError(f"--exclude must be COLUMN=VALUE (such as account_type=staff), got {rule!r}")
        rules.setdefault(column.strip(), []).append(value.strip())
    return rules


@app.command("export-audiences")
def export_audiences(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    customers: Annotated[Path, typer.Option(help="Customer table with the contact columns (CSV, Parquet or Excel).")],
    platform: Annotated[str, typer.Option(help="google (Customer Match), meta (Custom Audiences) or tiktok.")],
    out: OutOpt = Path("segmentkit-audiences"),
    segments: Annotated[Optional[str], typer.Option(help="Comma-separated segment ids (default: all).")] = None,
    country: Annotated[Optional[str], typer.Option(help="ISO country code (GB, US) of phones written without one.")] = None,
    settings: Annotated[Optional[Path], typer.Option(help="TOML settings file; its [columns] names the contact columns.")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Customer id column.")] = None,
    email_column: Annotated[Optional[str], typer.Option(help="E-mail column (default email).")] = None,
    phone_column: Annotated[Optional[str], typer.Option(help="Phone column (default phone).")] = None,
    first_name_column: Annotated[Optional[str], typer.Option(help="First name column (default first_name).")] = None,
    last_name_column: Annotated[Optional[str], typer.Option(help="Last name column (default last_name).")] = None,
    country_column: Annotated[Optional[str], typer.Option(help="Country column, ISO alpha-2 (default country).")] = None,
    zip_column: Annotated[Optional[str], typer.Option(help="Zip / postcode column (default zip).")] = None,
    city_column: Annotated[Optional[str], typer.Option(help="City column, Meta only (default city).")] = None,
    state_column: Annotated[Optional[str], typer.Option(help="State column, Meta only (default state).")] = None,
) -> None:
    """Write one hashed upload file per segment for an ad platform, and audiences.json."""
    from segmentkit.audiences import export_audiences as export
    from segmentkit.config import load_settings

    with _reported(ctx):
        ids = None
        if segments:
            try:
                ids = [int(s) for s in segments.split(",") if s.strip()]
            except ValueError:
                raise InputError(f"--segments must be comma-separated segment ids, got {segments!r}") from None
        resolved = load_settings(settings, columns={
            "customer_id": id_column, "email": email_column, "phone": phone_column,
            "first_name": first_name_column, "last_name": last_name_column, "country": country_column,
            "zip": zip_column, "city": city_column, "state": state_column})
        result = export(run_dir, customers, platform.lower(), out, segments=ids, columns=resolved.columns,
                        country=country)
        pre = result.preflight
        c = pre["counts"]
        _out.print(f"{platform} audiences of {c['customers_in_run']:,} customers: "
                   f"{c['invalid_emails']:,} invalid e-mails and {c['invalid_phones']:,} invalid phones left out, "
                   f"{c['without_usable_contact']:,} without a usable contact")
        for seg in pre["segments"]:
            _out.print(f"  {seg['id']:>3}  {seg['name']}: {seg['rows_written']:,} rows "
                       f"(e-mail {seg['with_email']:,}, phone {seg['with_phone']:,}, "
                       f"name+zip {seg['with_name_zip']:,}) → {seg['file']}", soft_wrap=True)
            for w in seg["warnings"]:
                _err.print(Text.assemble(("warning:", "yellow"), f" segment {seg['id']} ({seg['name']}): {w}"),
                           soft_wrap=True)
        _out.print(f"Written to {out}/ with audiences.json")
        if (run_dir / "report.html").is_file():  # the pre-flight as a section of the run's report
            from segmentkit.report import write_report

            write_report(Summary.read(run_dir / "summary.json"), run_dir, audiences=pre)
            _out.print(f"Pre-flight added to {run_dir}/report.html (section Ad-platform audiences)")


@app.command("app")
def web_app(
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 8501,
) -> None:
    """Start the web app on http://localhost:PORT (Ctrl+C stops it)."""
    from segmentkit.app import serve

    _err.print(f"segmentkit app on http://localhost:{port}")
    raise SystemExit(serve(sys.executable, port))


#: pyspark 4 warns on every pandas conversion that it "does not yet fully support pandas >= 3".
#: segmentkit moves data to and from Spark through Arrow, so to a user of the command the
#: warning is noise on stderr, not advice (the library itself leaves warnings as they are).
PYSPARK_PANDAS_WARNING = "PySpark does not yet fully support pandas"


def main() -> None:
    """Entry point of the ``segmentkit`` command."""
    warnings.filterwarnings("ignore", message=PYSPARK_PANDAS_WARNING, category=FutureWarning)
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
