"""``seismo operations``: latency, errors, volume and versions serving, per window.

Thin over :func:`seismo.api.compute_operations`; the CLI registers it with
``app.command("operations")(operations_command)``. The table shows each
figure's latest complete window against its normal; ``--format json|csv``
and ``--out`` give every row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from seismo.errors import SeismoError
from seismo.present.console import StoreOpt, emit

__all__ = ["operations_command", "operations_records"]

_UNITS = {
    "volume": "count",
    "traffic_share": "share",
    "error_rate": "share",
    "status_share": "share",
}


def operations_records(table: Any) -> list[dict[str, Any]]:
    """The documented machine format: one object per figure and window."""
    out = []
    for r in table.to_pylist():
        segment = None if r["attribute"] is None else {r["attribute"]: r["value"]}
        out.append(
            {
                "metric": r["metric"],
                "model_name": r["model_name"],
                "model_version": r["model_version"],
                "segment": segment,
                "status": r["status"],
                "window_start": r["window_start"],
                "window_end": r["window_end"],
                "n": r["n"],
                "events": r["events"],
                "value": r["figure"],
                "expected": r["expected"],
                "expected_low": r["expected_low"],
                "expected_high": r["expected_high"],
                "history": r["history"],
                "final": r["final"],
                "as_of": r["as_of"],
            }
        )
    return out


def operations_command(
    store: StoreOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="As the store would have said then (ISO 8601)."),
    ] = None,
    window: Annotated[str, typer.Option(help="hour or day.")] = "hour",
    by: Annotated[
        list[str] | None, typer.Option(help="Also per value of this segment attribute (repeat).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only windows from this day or moment on (ISO 8601).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write the table (.csv/.parquet/.json).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Latency P50/P95/P99, error rate by status, volume against the same hour of past weeks,
    and each model version's share of traffic, per window, each against its normal."""
    from seismo import cli
    from seismo.api import compute_operations

    output = cli._format(fmt)
    if window not in ("hour", "day"):
        raise typer.BadParameter(f"--window must be hour or day, not {window!r}")
    moment = cli.parse_as_of(as_of)
    handle = cli._open(store)
    try:
        table = compute_operations(
            handle,
            as_of=moment,
            period=window,  # type: ignore[arg-type]
            by=by,
            since=cli._since(since),
        ).to_arrow()
    except SeismoError as exc:
        cli._fail(exc)
    finally:
        handle.close()
    if out is not None:
        cli._write_table(table, out, operations_records)
    if output != "table":
        emit(operations_records(table), output)
        return
    _print_latest(table)


def _print_latest(table: Any) -> None:
    """Each figure's latest complete window, against its normal range."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in table.to_pylist():
        if not r["final"]:
            continue
        key = (r["metric"], r["model_version"], r["attribute"], r["value"], r["status"])
        if key not in latest or r["window_start"] > latest[key]["window_start"]:
            latest[key] = r
    rows = []
    for r in latest.values():
        unit = _UNITS.get(r["metric"], "ms")
        low, high = r["expected_low"], r["expected_high"]
        within = (
            "" if low is None or high is None else "yes" if low <= r["figure"] <= high else "no"
        )
        rows.append(
            {
                "figure": r["metric"] + (f" ({r['status']})" if r["status"] else ""),
                "version": r["model_version"] or "all",
                "segment": "all" if r["attribute"] is None else f"{r['attribute']}={r['value']}",
                "window": f"{r['window_start']:%Y-%m-%d %H:%M}",
                "n": r["n"],
                "value": _shown(r["figure"], unit),
                "normal": _shown(r["expected"], unit),
                "normal range": f"{_shown(low, unit)} .. {_shown(high, unit)}",
                "within": within,
            }
        )
    if not rows:
        Console().print("no complete window yet")
        return
    emit(rows, "table", title="Operations: the latest complete window against its normal")


def _shown(x: float | None, unit: str) -> str:
    if x is None or x != x:
        return "—"
    if unit == "share":
        return f"{x:.2%}"
    if unit == "count":
        return f"{x:,.0f}"
    return f"{x:,.1f} ms"
