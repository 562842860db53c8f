"""The ``seismo`` command: a thin layer over the library.

Contract shared by every command: ``--store`` (DuckDB path or database URL;
default ``$SEISMO_STORE``, else ``seismo-workspace/seismo.duckdb``);
``--as-of`` on commands that read the state of the world; ``--format
table|json|csv`` on commands that print results. Exit codes: 0 ok, 1 findings
that need attention, 2 bad usage or bad input.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seismo.config import (
    RECOMMENDATIONS,
    Mapping,
    OutcomeEvents,
    OutcomeType,
    PredictionColumns,
    load_mapping,
    parse_duration,
)
from seismo.errors import SeismoError
from seismo.locale import current, formatter_for, scope
from seismo.present.console import Format, StoreOpt, emit, safe, speak_as

if TYPE_CHECKING:
    from seismo.alerts import Delivery
    from seismo.metrics.windows import Period

__all__ = ["app", "main"]

app = typer.Typer(
    name="seismo",
    help="Monitor machine-learning models in production when the truth arrives late.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Answer as the store would have at this time (ISO 8601; a date means its end).",
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="table, json or csv.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(help="TOML with [detect] settings (the same file as for seismo check)."),
]


def _detect_settings(config: Path | None) -> Any:
    """The ``[detect]`` section of ``config``, or exit 2 with what is wrong with it."""
    from seismo.detect.settings import load_detect_config

    try:
        return load_detect_config(config)
    except SeismoError as exc:
        _fail(exc)


def _since(text: str | None) -> datetime | None:
    """``--since``: a day means from its start (UTC); a timestamp, from that moment."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"--since {text!r} is not an ISO 8601 date or time") from exc
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def parse_as_of(text: str | None) -> datetime | None:
    """``2026-06-05`` → end of that day (UTC); a timestamp → that moment in UTC."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            moment = datetime.combine(datetime.fromisoformat(text).date(), time.max)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"--as-of {text!r} is not an ISO 8601 date or time") from exc
    moment = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    if not datetime(1970, 1, 1) <= moment < datetime(9000, 1, 1):
        raise typer.BadParameter(f"--as-of {text!r}: give a moment between 1970 and 9000")
    return moment


def _format(value: str) -> Format:
    if value not in ("table", "json", "csv"):
        raise typer.BadParameter(f"--format must be table, json or csv, not {value!r}")
    return value  # type: ignore[return-value]


def _period(window: str) -> Period:
    """``--window``: a calendar period."""
    if window not in ("hour", "day", "week", "month"):
        raise typer.BadParameter(f"--window must be hour, day, week or month, not {window!r}")
    return window  # type: ignore[return-value]


def _fail(exc: SeismoError) -> NoReturn:
    err.print(f"[bold red]error:[/] {safe(exc)}", markup=True, highlight=False)
    raise typer.Exit(2)


def _open(store: str | None) -> Any:
    from seismo.store import open_store

    try:
        handle = open_store(store)
        speak_as(handle.words())  # tables in the store's declared locale and zone
    except SeismoError as exc:
        _fail(exc)
    return handle


def _mapping_from_options(opts: dict[str, Any]) -> Mapping | None:
    """A mapping built from ``--id``/``--outcome-*`` options, or None when none was given."""
    if not opts["id_column"] and not opts["outcome_id"]:
        return None
    types = []
    for spec in opts["outcome_type"]:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise typer.BadParameter(
                f"--outcome-type {spec!r}: use NAME:KIND[:WINDOW], e.g. default:label:90d"
            )
        window = parse_duration(parts[2]) if len(parts) == 3 else timedelta(days=1)
        types.append(OutcomeType(name=parts[0], kind=parts[1], window=window))
    predictions = None
    if opts["id_column"]:
        predictions = PredictionColumns(
            id=opts["id_column"],
            timestamp=opts["timestamp_column"],
            model_version=opts["model_version_column"],
            entity=opts["entity_column"],
            score=opts["score_column"],
            label=opts["label_column"],
            positive_label=tuple(opts["positive_label"]),
            segments=tuple(opts["segment"]),
            features=dict.fromkeys(opts["feature"], "auto"),
        )
    outcomes = None
    if opts["outcome_id"]:
        outcomes = OutcomeEvents(
            id=opts["outcome_id"],
            timestamp=opts["outcome_timestamp"],
            type=None if opts["outcome_type_column"] else (types[0].name if types else None),
            type_column=opts["outcome_type_column"],
            value=opts["outcome_value"],
            label=opts["outcome_label"],
        )
    return Mapping(
        model_name=opts["model_name"] or "default",
        model_version=opts["model_version"],
        predictions=predictions,
        outcomes=outcomes,
        outcome_types=tuple(types),
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="CSV or Parquet files, each one batch.")],
    store: StoreOpt = None,
    mapping: Annotated[
        str | None,
        typer.Option(help="Mapping TOML file, or 'recommendations' (the seed scenario; default)."),
    ] = None,
    shape: Annotated[str, typer.Option(help="auto, flat, predictions or outcomes.")] = "auto",
    exported_at: Annotated[
        str | None, typer.Option(help="When a flat file was exported (default: its newest time).")
    ] = None,
    model_name: Annotated[str | None, typer.Option(help="Model name (option mapping).")] = None,
    model_version: Annotated[str | None, typer.Option(help="Model version as a constant.")] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="Prediction id column.")] = None,
    timestamp_column: Annotated[
        str, typer.Option("--timestamp", help="Prediction time column.")
    ] = "timestamp",
    model_version_column: Annotated[str | None, typer.Option("--model-version-column")] = None,
    entity_column: Annotated[str | None, typer.Option("--entity")] = None,
    score_column: Annotated[
        str | None, typer.Option("--score", help="Score / probability / value column.")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option("--label", help="Served (predicted) class column.")
    ] = None,
    positive_label: Annotated[
        list[str],
        typer.Option(
            help="A --label value meaning predicted positive (repeat; default 1/true/yes)."
        ),
    ] = [],  # noqa: B006
    segment: Annotated[list[str], typer.Option(help="Segment column (repeat).")] = [],  # noqa: B006
    feature: Annotated[list[str], typer.Option(help="Feature column (repeat).")] = [],  # noqa: B006
    outcome_id: Annotated[
        str | None, typer.Option(help="Outcome events: prediction id column.")
    ] = None,
    outcome_timestamp: Annotated[
        str, typer.Option(help="Outcome events: time column.")
    ] = "timestamp",
    outcome_value: Annotated[str | None, typer.Option(help="Outcome events: value column.")] = None,
    outcome_label: Annotated[str | None, typer.Option(help="Outcome events: label column.")] = None,
    outcome_type_column: Annotated[
        str | None, typer.Option(help="Outcome events: type column.")
    ] = None,
    outcome_type: Annotated[
        list[str], typer.Option(help="Declare an outcome type NAME:KIND[:WINDOW] (repeat).")
    ] = [],  # noqa: B006
    strict: Annotated[
        bool, typer.Option(help="Refuse a file that re-sends a stored id with other content.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            help="Send the files to this seismo serve (http://127.0.0.1:8000) instead of"
            " opening the store; the server's mapping applies. Token: $SEISMO_TOKEN.",
        ),
    ] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Load prediction and outcome files into the store (idempotent; a bad file writes nothing)."""
    from seismo.ingest import ingest as ingest_one

    output = _format(fmt)
    if server is not None:
        if mapping or _mapping_from_options(dict(locals())) is not None:
            raise typer.BadParameter(
                "with --server the server's mapping applies (seismo serve --mapping):"
                " leave out --mapping and the column options"
            )
        if shape not in ("auto", "flat", "predictions", "outcomes"):
            raise typer.BadParameter("--shape must be auto, flat, predictions or outcomes")
        _ingest_through(server, paths, shape, exported_at, strict, output)
        return
    _refuse_if_served(store, "ingest")
    try:
        chosen = _mapping_from_options(dict(locals()))
        if chosen is None:
            chosen = load_mapping(mapping) if mapping else RECOMMENDATIONS
        exported = parse_as_of(exported_at)
    except SeismoError as exc:
        _fail(exc)
    handle = _open(store)
    results, failed = [], 0
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as progress:
        task = progress.add_task("ingesting", total=len(paths))
        for path in paths:
            progress.update(task, description=f"ingesting {path.name}")
            try:
                r = ingest_one(
                    handle, path, mapping=chosen, exported_at=exported, shape=shape, strict=strict
                )
                if r.first_conflict:
                    row, pid = r.first_conflict
                    err.print(
                        f"[yellow]warning:[/] {safe(path)}: {r.conflicts:,} re-sent id(s) differ"
                        f" from what is stored (first: row {row}, id {safe(repr(pid))}); the"
                        " stored predictions are kept (--strict refuses such files)",
                        highlight=False,
                        soft_wrap=True,
                    )
                results.append(
                    {
                        "file": str(path),
                        "shape": r.shape,
                        "rows": r.rows,
                        "predictions_added": r.predictions_added,
                        "outcomes_added": r.outcomes_added,
                        "note": _ingest_note(r),
                    }
                )
            except SeismoError as exc:
                failed += 1
                err.print(f"[bold red]error:[/] {safe(exc)}", highlight=False)
                results.append(
                    {
                        "file": str(path),
                        "shape": "",
                        "rows": 0,
                        "predictions_added": 0,
                        "outcomes_added": 0,
                        "note": "rejected, nothing written",
                    }
                )
            progress.advance(task)
        if any(r["predictions_added"] or r["outcomes_added"] for r in results):
            progress.update(task, description="updating the metric state")
            _update_state(handle)
    handle.close()
    emit(results, output, title="Ingested")
    if failed:
        raise typer.Exit(2)


def _refuse_if_served(store: str | None, what: str) -> None:
    """Exit 2 with what to do when ``seismo serve`` is this DuckDB store's writer."""
    from seismo.store.serving import refuse_if_served

    try:
        refuse_if_served(store, what)
    except SeismoError as exc:
        _fail(exc)


def _ingest_through(
    server: str, paths: list[Path], shape: str, exported_at: str | None, strict: bool, output: Any
) -> None:
    """``seismo ingest --server URL``: POST each file to the server's /v1 API, one batch each."""
    import os

    from seismo.present.web.client import post_file

    token = os.environ.get("SEISMO_TOKEN", "")
    if not token:
        _fail(SeismoError("--server needs a write token in $SEISMO_TOKEN (seismo token add)"))
    results, failed = [], 0
    for path in paths:
        try:
            r = post_file(
                server, path, token=token, shape=shape, exported_at=exported_at, strict=strict
            )
        except SeismoError as exc:
            failed += 1
            err.print(f"[bold red]error:[/] {safe(exc)}", highlight=False)
            r = {
                "shape": "",
                "rows": 0,
                "predictions_added": 0,
                "outcomes_added": 0,
                "note": "rejected, nothing written",
            }
        else:
            r["note"] = "already ingested" if r.get("already_ingested") else ""
        results.append(
            {
                "file": str(path),
                **{
                    k: r.get(k, 0) for k in ("shape", "rows", "predictions_added", "outcomes_added")
                },
                "note": r["note"],
            }
        )
    emit(results, output, title=f"Sent to {server}")
    if failed:
        raise typer.Exit(2)


def _update_state(handle: Any) -> None:
    """Fold the new batches into the metric state, so the next check only evaluates it.

    The batches are stored whatever happens here: a state that cannot be
    brought up to date now is rebuilt by the next command that reads metrics.
    """
    from seismo.metrics.compute import update_state

    try:
        update_state(handle)
    except SeismoError as exc:
        err.print(
            f"[yellow]warning:[/] the files are stored, but the metric state was not updated:"
            f" {safe(exc)}",
            highlight=False,
        )


def _ingest_note(r: Any) -> str:
    if r.already_ingested:
        return "already ingested"
    notes = []
    if r.quarantined:
        notes.append(f"{r.quarantined:,} implausible row(s) quarantined")
    if r.conflicts:
        notes.append(f"{r.conflicts:,} conflicting re-sends kept as stored")
    return "; ".join(notes)


@app.command()
def status(
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
    recent_days: Annotated[int, typer.Option(help="Length of the recent window.")] = 10,
) -> None:
    """What the store holds: volume per day, how much truth has arrived, first rates."""
    from seismo.metrics.summary import summarize

    output = _format(fmt)
    handle = _open(store)
    try:
        summary = summarize(handle, as_of=parse_as_of(as_of), recent_days=recent_days)
    finally:
        handle.close()
    _print_summary(summary, output)


def _print_summary(summary: Any, output: Format) -> None:
    daily = summary.daily.to_pylist()
    if output != "table":
        emit(
            [{"table": "daily", **r} for r in daily]
            + [{"table": "completeness", **r} for r in summary.completeness.to_pylist()]
            + [{"table": "segments", **r} for r in summary.segments.to_pylist()],
            output,
        )
        return
    console = Console()
    t = summary.totals
    if not t["predictions"]:
        console.print("The store is empty.")
        return
    console.print(
        f"[bold]{t['predictions']:,}[/] predictions from {t['first']:%Y-%m-%d}"
        f" to {t['last']:%Y-%m-%d}"
        f" ({t['models']} model version(s))"
    )
    types = [r["outcome_type"] for r in summary.completeness.to_pylist()]
    rows = []
    for r in daily:
        n = r["predictions"]
        row: dict[str, Any] = {"day": r["day"], "predictions": n}
        if "all_known" in r:
            row["truth complete"] = (r["all_known"] or 0) / n
        for ty in types:
            known = r[f"{ty}_known"] or 0
            row[f"{ty} known"] = known / n
            row[f"{ty} rate"] = (r[f"{ty}_positive"] or 0) / known if known else None
        rows.append(row)
    pct = [c for c in rows[0] if c not in ("day", "predictions")] if rows else []
    emit(
        rows,
        "table",
        percent=pct,
        console=console,
        title="Per day: share of outcomes known so far, and the rate among them",
    )
    emit(
        summary.completeness.to_pylist(),
        "table",
        percent=("known_share", "confirmed_rate"),
        title="Outcome completeness (confirmed-only rates are biased while truth is pending)",
        console=console,
    )
    if summary.segments.num_rows:
        seg = [
            {
                **r,
                "change": "—"
                if r["earlier_rate"] is None or r["recent_rate"] is None
                else f"{100 * (r['recent_rate'] - r['earlier_rate']):+.1f} pts",
            }
            for r in summary.segments.to_pylist()
        ]
        emit(
            seg,
            "table",
            percent=("earlier_rate", "recent_rate"),
            console=console,
            title="Confirmed rate per segment: earlier vs recent days (no test applied yet)",
        )


def _metric_records(table: Any) -> list[dict[str, Any]]:
    """The documented machine format: one object per metric value."""
    out = []
    for r in table.to_pylist():
        segment = None if r["attribute"] is None else {r["attribute"]: r["value"]}
        out.append(
            {
                "metric": r["metric"],
                "label": r["label"],
                "segment": segment,
                "model_version": r["model_version"],
                "window_start": r["window_start"],
                "window_end": r["window_end"],
                "n": r["n"],
                "confirmed_n": r["confirmed_n"],
                "pending_n": r["pending_n"],
                "confirmed_value": r["confirmed_value"],
                "observed_value": r["observed_value"],
                "estimate": r["estimate"],
                "estimate_low": r["estimate_low"],
                "estimate_high": r["estimate_high"],
                "std_error": r["std_error"],
                "estimator": r["estimator"],
                "final": r["final"],
                "final_at": r["final_at"],
                "as_of": r["as_of"],
            }
        )
    return out


def _write_table(table: Any, path: Path, records: Any = None) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from seismo.present.console import to_json

    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv":
        pacsv.write_csv(table, path)
    elif suffix == ".json":
        path.write_text(to_json((records or _metric_records)(table)) + "\n")
    else:
        raise typer.BadParameter(f"--out {path}: use a .csv, .parquet or .json file")


EveryOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Chunks of exactly N predictions per model version, in time order, instead of"
        " periods (the last one holds the rest).",
    ),
]


def _short_chunks(handle: Any, every: int | None, table: Any) -> list[str]:
    """With ``--every``: each model version's last chunk when it holds fewer than N, in words."""
    if every is None or not table.num_rows:
        return []
    from seismo.metrics.windows import Windows

    cut = table.column("as_of")[0].as_py()
    return [
        f"the last chunk of {version} (from {start:%Y-%m-%d %H:%M}) is incomplete:"
        f" {rows:,} of {every:,} predictions"
        for version, start, rows in Windows(handle, "day", every, cut).incomplete()
    ]


def _print_chunks(console: Console, every: int | None, short: list[str] | None) -> None:
    if every is None:
        return
    console.print(
        f"Windows are chunks of {every:,} predictions per model version, in the order served"
        " (window_start and window_end: their first and last prediction)."
    )
    for line in short or []:
        console.print(line[:1].upper() + line[1:] + "; its figures are not final.")


@app.command()
def metrics(
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    window: Annotated[str, typer.Option(help="hour, day, week or month.")] = "day",
    every: EveryOpt = None,
    by: Annotated[
        list[str] | None, typer.Option(help="Segment attribute to show (repeat; default all).")
    ] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Only these metrics (repeat).")] = None,
    config: Annotated[
        Path | None, typer.Option(help="Metrics TOML ([metrics.NAME], [nowcast]).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write the table (.csv/.parquet/.json).")
    ] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Quality metrics per window and segment, with confirmed and provisional (nowcast) values."""
    from seismo.metrics.compute import compute_metrics
    from seismo.metrics.spec import load_metrics_config

    output = _format(fmt)
    period = _period(window)
    moment = parse_as_of(as_of)
    handle = _open(store)
    try:
        known = set(handle.segments())
        for attribute in by or []:
            if attribute not in known:
                raise typer.BadParameter(f"--by {attribute!r}: not a segment ({sorted(known)})")
        chosen = load_metrics_config(config, handle.outcome_types()) if config else None
        table = compute_metrics(
            handle,
            as_of=moment,
            period=period,
            every=every,
            by=by,
            config=chosen,
        )
        short = _short_chunks(handle, every, table)
    except SeismoError as exc:
        _fail(exc)
    finally:
        handle.close()
    if metric:
        import pyarrow as pa
        import pyarrow.compute as pc

        offered = set(table.column("metric").to_pylist())
        unknown = [m for m in metric if m not in offered]
        if unknown and offered:
            raise typer.BadParameter(
                f"--metric {', '.join(map(repr, unknown))}: not a metric of this store "
                f"(it offers {', '.join(sorted(offered))})"
            )
        table = table.filter(pc.is_in(table.column("metric"), value_set=pa.array(metric)))
    if out is not None:
        _write_table(table, out)
    if output != "table":
        emit(_metric_records(table), output)
        return
    _print_metrics(table, every, short)


def _status(r: dict[str, Any]) -> str:
    """'final', or how much of the expected outcome is still to come."""
    if r["final"]:
        return "final"
    est, seen = r["estimate"], r["observed_value"]
    if est and seen is not None and est > 0:
        return f"provisional: {current().percent(max(0.0, 1 - seen / est), 0)} still to come"
    return f"provisional ({r['estimator']})"


def _print_metrics(table: Any, every: int | None = None, short: list[str] | None = None) -> None:
    from seismo.alerts.notification import value_text

    console = Console()
    rows = table.to_pylist()
    if not rows:
        console.print("No predictions in the store (or before --as-of).")
        return
    console.print(
        f"As of {current().when(rows[0]['as_of'])}. 'estimate' is the expected final "
        "value with a 90% interval while outcomes are pending."
    )
    _print_chunks(console, every, short)
    for name in dict.fromkeys(r["metric"] for r in rows):
        chosen = [r for r in rows if r["metric"] == name]
        amount = chosen[0]["unit"] == "amount"

        def show(v: float | None, amount: bool = amount) -> str:
            return value_text(v, "amount" if amount else "share")

        view = [
            {
                "window": r["window_start"],
                "segment": "all" if r["attribute"] is None else f"{r['attribute']}={r['value']}",
                "n": r["n"],
                "seen so far": show(r["observed_value"]),
                "estimate": show(r["estimate"]),
                "90% interval": ""
                if r["final"]
                else f"{show(r['estimate_low'])} – {show(r['estimate_high'])}",
                "status": _status(r),
            }
            for r in chosen
        ]
        emit(view, "table", title=chosen[0]["label"], console=console)


@app.command()
def demo(
    workspace: Annotated[Path, typer.Option(help="Folder for the data and the store.")] = Path(
        "seismo-workspace"
    ),
    days: int = 30,
    per_day: Annotated[int, typer.Option(help="Recommendations per day.")] = 3000,
    seed: int = 0,
) -> None:
    """Simulate the seed scenario, ingest it into a fresh store and summarise it."""
    from seismo.ingest import ingest as ingest_one
    from seismo.ingest.reference import add_reference
    from seismo.metrics.compute import compute_metrics
    from seismo.metrics.summary import summarize
    from seismo.simulate import Scenario, write_scenario
    from seismo.store import open_store

    console = Console()
    data = workspace / "data"
    store_path = workspace / "seismo.duckdb"
    with console.status(f"simulating {days} days x {per_day:,} recommendations"):
        files = write_scenario(data, Scenario(days=days, per_day=per_day, seed=seed))
    console.print(f"wrote {files['export']} and {files['reference']}")
    for stale in (store_path, store_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    try:
        with console.status("ingesting into a fresh store"), open_store(str(store_path)) as handle:
            result = ingest_one(handle, files["export"])
            console.print(
                f"ingested {result.rows:,} rows into {store_path}: {result.predictions_added:,} "
                f"predictions, {result.outcomes_added:,} outcomes"
            )
            reference = add_reference(handle, files["reference"])
            console.print(
                f"registered {files['reference']} ({reference.rows:,} rows) as the training"
                f" reference of {reference.model_version}"
            )
            summary = summarize(handle)
            with console.status("computing maturity-aware metrics"):
                figures = compute_metrics(handle, by=[])
    except SeismoError as exc:
        _fail(exc)
    _print_summary(summary, "table")
    _print_key_figures(figures, console, days=10)
    from seismo.present.web import write_report

    with console.status("checking for changes and writing the report"):
        report = write_report(workspace / "report.html", store=str(store_path), as_of=None)
    console.print("\n[bold]What needs attention now[/]")
    for f in report.snapshot.findings:
        colour = "red" if f.severity == "critical" else "yellow"
        console.print(
            f"  [bold {colour}]{f.severity.upper()}[/] {safe(f.message)}", highlight=False
        )
    if not report.snapshot.findings:
        console.print("  nothing")
    console.print(
        f"\nThe dashboard as one file: [bold]{report.path}[/]."
        f" Live: [bold]seismo serve --store {store_path}[/], then open http://127.0.0.1:8000/."
        f"\nMore: [bold]seismo metrics --store {store_path} --by age_group[/],"
        f" [bold]seismo check --store {store_path} --as-of 2026-06-05[/] replays an earlier day."
    )


def _print_key_figures(table: Any, console: Console, *, days: int) -> None:
    """The business figures of the last days: final, or provisional with their nowcast."""
    words = RECOMMENDATIONS.words  # the demo is the seed scenario's own
    figures = words.figures
    rows = [r for r in table.to_pylist() if r["attribute"] is None and r["metric"] in figures]
    if not rows:
        return
    starts = sorted({r["window_start"] for r in rows})[-days:]
    by_cell = {(r["window_start"], r["metric"]): r for r in rows}
    view = []
    for start in starts:
        line: dict[str, Any] = {"day": start}
        for name in figures:
            r = by_cell.get((start, name))
            if r is None or r["estimate"] is None:
                line[name] = "—"
                continue
            value = f"€{r['estimate']:.2f}" if r["unit"] == "amount" else f"{r['estimate']:.1%}"
            line[name] = value if r["final"] else f"~{value} ({_status(r).split(': ')[-1]})"
        view.append(line)
    labels = {r["metric"]: r["label"] for r in rows}
    renamed = [{labels.get(k, k): v for k, v in line.items()} for line in view]
    emit(
        renamed,
        "table",
        console=console,
        title=f"Key figures, {words.everyone} (~ = provisional: expected final value)",
    )


@app.command()
def check(
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML with [detect] settings, [ranking] settings, [alerts] routes and a"
            " runbook base."
        ),
    ] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Run detection as of a moment, update the stored alerts, notify; exit 1 on a critical alert.

    For schedulers and CI/CD: replaying `--as-of` day by day reproduces what the
    monitor would have said each day; running it twice adds no duplicate alert.
    An `--as-of` older than the newest stored check prints what was firing then
    and leaves the stored alerts alone (it says so). With `--config`, every
    notification not yet delivered to a route is sent (failed ones are retried).
    """
    from seismo.api import check as run_check

    output = _format(fmt)
    moment = parse_as_of(as_of)
    _refuse_if_served(store, "run seismo check")
    handle = _open(store)
    try:
        result = run_check(handle, as_of=moment, config=config)
    except SeismoError as exc:
        _fail(exc)
    finally:
        handle.close()
    for d in result.deliveries:
        if not d.ok:
            words = safe(_delivery_words(d))
            err.print(f"[yellow]warning:[/] {words}", highlight=False, soft_wrap=True)
    note = result.note
    if output != "table":
        if note:
            err.print(safe(note), highlight=False, soft_wrap=True)
        emit(result.records(flat=output == "csv"), output)
    else:
        _print_alerts(list(result.alerts), result.as_of, note)
        if result.watch is not None:
            Console().print(f"[dim]{safe(result.watch.text())}[/]", highlight=False)
    if result.critical:
        raise typer.Exit(1)


def _delivery_words(d: Delivery) -> str:
    """A failed or postponed delivery, and what happens next."""
    from seismo.alerts.notification import moment_text

    if d.state == "not attempted":
        return f"notification to {d.route} {d.error}; it stays pending for the next check"
    said = f"notification to {d.route} failed: {d.error} (attempt {d.attempt}"
    if d.state == "failed":
        return said + ", the last: given up; see `seismo alerts deliveries`)"
    when = moment_text(d.next_attempt_at)
    return said + f"; retried at the first check after {when})"


def _print_alerts(active: list[Any], as_of: datetime, note: str | None = None) -> None:
    console = Console()
    if note:
        console.print(f"[yellow]{safe(note)}[/]", highlight=False, soft_wrap=True)
    if not active:
        console.print(f"As of {current().when(as_of)}: nothing needs attention.")
        return
    console.print(f"As of {current().when(as_of)}: {len(active)} alert(s) need attention.\n")
    fmt = current()
    for a in active:
        colour = "red" if a.severity == "critical" else "yellow"
        state = "" if a.state == "firing" else f" [dim]({safe(a.state)})[/]"
        console.print(
            f"[bold {colour}]{a.severity.upper()}[/] [dim]{a.id}[/]{state} {safe(a.message)}",
            highlight=False,
        )
        console.print(f"  [dim]what to do:[/] {safe(a.action)}", highlight=False)
        console.print(
            f"  [dim]{safe(_evidence_words(a))}; n = {fmt.decimal(a.n_baseline, 0)} baseline,"
            f" {fmt.decimal(a.n_current, 0)} current[/]",
            highlight=False,
        )


def _evidence_words(a: Any) -> str:
    """How sure, in one line: the test and its strength against the store's threshold."""
    threshold = (a.evidence or {}).get("threshold")
    fmt = current()
    if a.kind == "drift" or threshold is None:
        return f"{a.test}; adjusted p = {fmt.significant(a.adjusted_p, 2)}"
    return (
        f"{a.test}; {fmt.decimal(a.statistic, 1, group=False)} standard errors,"
        f" threshold {fmt.decimal(threshold, 2, group=False)}"
    )


@app.callback()
def _each_command(ctx: typer.Context) -> None:
    # Tables are written as the opened store's words declare (see speak_as), for this
    # command only: the next one (in the same process, as in tests) starts in English.
    ctx.with_resource(scope())


reference_app = typer.Typer(
    help="Training references that drift is measured against.", no_args_is_help=True
)
app.add_typer(reference_app, name="reference")


@reference_app.command("add")
def reference_add(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file of the training data.")],
    store: StoreOpt = None,
    mapping: Annotated[
        str | None,
        typer.Option(help="Mapping TOML file, or 'recommendations' (the seed scenario; default)."),
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option(help="The model version this reference belongs to (default: the file's)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Replace the version's reference if another is registered.")
    ] = False,
    fmt: FormatOpt = "table",
) -> None:
    """Register a reference (training) dataset: validated, profiled once, stored as histograms."""
    from seismo.ingest.reference import add_reference

    output = _format(fmt)
    try:
        chosen = load_mapping(mapping) if mapping else RECOMMENDATIONS
    except SeismoError as exc:
        _fail(exc)
    _refuse_if_served(store, "register a reference")
    handle = _open(store)
    try:
        r = add_reference(
            handle, path, mapping=chosen, model_version=model_version, replace=replace
        )
    except SeismoError as exc:
        _fail(exc)
    finally:
        handle.close()
    row = {
        "file": str(path),
        "model_version": r.model_version,
        "rows": r.rows,
        "features": r.features,
        "note": "registered" if r.added else "already registered",
    }
    emit([row], output, title="Reference")


@reference_app.command("list")
def reference_list(store: StoreOpt = None, fmt: FormatOpt = "table") -> None:
    """The registered references, one per model version."""
    from seismo.store.references import load_references

    output = _format(fmt)
    handle = _open(store)
    try:
        refs = load_references(handle.engine)
    finally:
        handle.close()
    rows = [
        {
            "model_version": r.model_version,
            "source": r.source,
            "rows": r.rows,
            "features": len(r.features),
            "registered_at": r.registered_at,
        }
        for r in refs.values()
    ]
    emit(rows, output, title="References")


def _drift_records(table: Any) -> list[dict[str, Any]]:
    """The documented machine format of the drift table: one object per statistic."""
    out = []
    for r in table.to_pylist():
        segment = None if r["attribute"] is None else {r["attribute"]: r["value"]}
        out.append(
            {
                "feature": r["feature"],
                "label": r["label"],
                "role": r["role"],
                "segment": segment,
                "model_version": r["model_version"],
                "reference_version": r["reference_version"],
                "window_start": r["window_start"],
                "window_end": r["window_end"],
                "method": r["method"],
                "statistic": r["statistic"],
                "p_value": r["p_value"],
                "adjusted_p": r["adjusted_p"],
                "effect": r["effect"],
                "drifted": r["drifted"],
                "severity": r["severity"],
                "reference_value": r["reference_value"],
                "current_value": r["current_value"],
                "n": r["n"],
                "n_reference": r["n_reference"],
                "final": r["final"],
                "as_of": r["as_of"],
            }
        )
    return out


@app.command()
def drift(
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    window: Annotated[str, typer.Option(help="hour, day, week or month.")] = "day",
    every: EveryOpt = None,
    by: Annotated[
        list[str] | None, typer.Option(help="Also per value of this segment attribute (repeat).")
    ] = None,
    feature: Annotated[list[str] | None, typer.Option(help="Only these features (repeat).")] = None,
    drifted_only: Annotated[
        bool, typer.Option("--drifted", help="Only the rows that drifted.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Only windows from this day or moment on (ISO 8601).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write the table (.csv/.parquet/.json).")
    ] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Drift of inputs, scores and recommendation mix per window against the training reference."""
    from seismo.api import compute_drift

    output = _format(fmt)
    period = _period(window)
    moment = parse_as_of(as_of)
    handle = _open(store)
    try:
        table = compute_drift(
            handle,
            as_of=moment,
            period=period,
            every=every,
            by=by,
            features=feature,
            drifted_only=drifted_only,
            since=_since(since),
        ).to_arrow()
        short = _short_chunks(handle, every, table)
    except SeismoError as exc:
        _fail(exc)
    finally:
        handle.close()
    if out is not None:
        _write_table(table, out, _drift_records)
    if output != "table":
        emit(_drift_records(table), output)
        return
    _print_drift(table, every, short)


def _print_drift(table: Any, every: int | None = None, short: list[str] | None = None) -> None:
    """One line per feature and segment: the latest window's verdict, and since when it drifts."""
    from seismo.detect.drift_findings import drifting_since

    _print_chunks(Console(), every, short)

    latest: dict[tuple[str, str], list[dict[str, Any]]] = {}
    drifting: dict[tuple[str, str], dict[Any, bool]] = {}
    for r in table.to_pylist():
        seg = "all" if r["attribute"] is None else f"{r['attribute']}={r['value']}"
        key = (r["feature"], seg)
        rows = latest.setdefault(key, [])
        if not rows or r["window_start"] > rows[0]["window_start"]:
            latest[key] = [r]
        elif r["window_start"] == rows[0]["window_start"]:
            rows.append(r)
        days = drifting.setdefault(key, {})
        days[r["window_start"]] = days.get(r["window_start"], False) or bool(r["drifted"])
    since = {key: drifting_since(days) for key, days in drifting.items()}
    order = {"critical": 0, "warning": 1, "none": 2}
    out = []
    for key, rows in latest.items():
        by_method = {r["method"]: r for r in rows}
        worst = min((r["severity"] for r in rows), key=lambda s: order.get(s, 3))
        psi = by_method.get("psi")
        test = by_method.get("ks") or by_method.get("chi2")
        out.append(
            {
                "feature": rows[0]["label"],
                "segment": key[1],
                "window": rows[0]["window_start"],
                "psi": psi["statistic"] if psi else None,
                "test p (adjusted)": test["adjusted_p"] if test else None,
                "drifted by": ", ".join(sorted(m for m, r in by_method.items() if r["drifted"])),
                "severity": worst,
                "drifting since": since.get(key),
            }
        )
    out.sort(key=lambda r: (order.get(r["severity"], 3), r["feature"], r["segment"]))
    emit(
        out,
        "table",
        title="Drift against the training reference (latest window; --format json"
        " for every statistic)",
    )


def _register_simulate() -> None:
    from seismo.simulate.command import simulate_command

    app.command("simulate")(simulate_command)


def _register_operations() -> None:
    from seismo.present.operations_command import operations_command

    app.command("operations")(operations_command)


def _register_alerts() -> None:
    from seismo.alerts.annotate_command import annotate_command
    from seismo.alerts.command import alerts_app

    app.add_typer(alerts_app, name="alerts")
    app.command("annotate")(annotate_command)


def _register_tokens() -> None:
    from seismo.store.token_command import token_app

    app.add_typer(token_app, name="token")


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    config: ConfigOpt = None,
    allowed_host: Annotated[
        list[str],
        typer.Option(help="A host name the dashboard answers to, besides local ones (repeat)."),
    ] = [],  # noqa: B006
    mapping: Annotated[
        str | None,
        typer.Option(help="Mapping TOML the API reads batches with (default: the seed's)."),
    ] = None,
    max_body_mb: Annotated[
        float, typer.Option(help="Largest batch body the API takes, in MB (larger: 413).")
    ] = 64.0,
    protect_reads: Annotated[
        bool,
        typer.Option(
            help="Pages and their JSON need a read token (or a signed-in browser) too"
            " (default: public)."
        ),
    ] = False,
    check_every: Annotated[
        str | None,
        typer.Option(
            help="Run the check this often (15m, 1h), as seismo check --config does;"
            " the config's schedule table may say so too (every, at)."
        ),
    ] = None,
) -> None:
    """Serve the dashboard: business view at /, engineering detail at /engineering, JSON at /api.

    Computes the findings again when the data changed since the last page, so the
    pages always show current findings; a page changes no alert (run seismo check).
    Signed in at /signin with a write token, the pages acknowledge, silence and
    annotate alerts.
    """
    try:
        from seismo.present.web import serve as run_server
    except ImportError as exc:
        reason = safe(str(exc))
        err.print(f"[bold red]error:[/] the dashboard needs FastAPI, Uvicorn and Jinja2: {reason}")
        raise typer.Exit(2) from exc
    from seismo.present.web.api_v1 import ApiSettings
    from seismo.present.web.schedule import load_schedule

    settings = _detect_settings(config)
    try:
        chosen = load_mapping(mapping) if mapping else RECOMMENDATIONS
        schedule = load_schedule(config, check_every)
    except SeismoError as exc:
        _fail(exc)
    if max_body_mb <= 0:
        raise typer.BadParameter("--max-body-mb must be positive")
    api = ApiSettings(
        mapping=chosen, max_body=int(max_body_mb * 1024 * 1024), protect_reads=protect_reads
    )
    err.print(
        f"seismo dashboard on http://{host}:{port}/, API at /v1 (Ctrl+C to stop)", highlight=False
    )
    if schedule.enabled:
        err.print(f"checks run {schedule.text()}", highlight=False)
    try:
        run_server(
            store,
            host=host,
            port=port,
            detect=settings,
            allowed_hosts=tuple(allowed_host),
            api=api,
            schedule=schedule,
            config=None if config is None else str(config),
        )
    except SeismoError as exc:
        _fail(exc)


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the business view as one self-contained HTML file (no network needed to open it)."""
    from seismo.present.web import write_report

    moment = parse_as_of(as_of)
    settings = _detect_settings(config)
    try:
        result = write_report(out, store=store, as_of=moment, detect=settings)
    except SeismoError as exc:
        _fail(exc)
    alerts = len(result.snapshot.findings)
    err.print(
        f"wrote {result.path} ({result.bytes / 1024:,.0f} KB) as of"
        f" {formatter_for(result.snapshot.words).when(result.snapshot.as_of)}:"
        f" {alerts} finding(s) need attention",
        highlight=False,
    )


_register_simulate()
_register_alerts()
_register_tokens()
_register_operations()


def main() -> None:
    try:
        app()
    except SeismoError as exc:  # anything a command did not handle itself
        err.print(f"[bold red]error:[/] {safe(exc)}", highlight=False)
        sys.exit(2)
