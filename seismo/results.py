"""The shapes the Python API returns: a :class:`Table`, and the :class:`Check` of one check.

Both are plain data. In a notebook they show as a bounded HTML table
(``_repr_html_``, drawn by :mod:`seismo.present.notebook`); elsewhere they
convert on request: ``to_arrow()``, ``to_pandas()``, ``to_polars()`` (Polars
is not a dependency of seismo: it is imported only then, and a clear
``ImportError`` says so when it is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from seismo.alerts import Alert, Delivery, SyncResult
    from seismo.detect.findings import Finding
    from seismo.detect.run import Watch

__all__ = ["ALERT_SCHEMA", "Check", "Table"]


class Table:
    """A result table: a ``pyarrow.Table`` that renders in a notebook and converts on request.

    Every tabular result of the API has this one shape, whatever produced it
    (wrap any Arrow table, such as :func:`seismo.compute_metrics`'s, to get the
    same views).

    >>> t = Table(pa.table({"segment": ["25-34", "55+"], "rate": [0.15, 0.28]}), title="CTR")
    >>> t, len(t), t.columns
    (<Table 'CTR': 2 rows × 2 columns (segment, rate)>, 2, ['segment', 'rate'])
    >>> t.to_pylist()[0]
    {'segment': '25-34', 'rate': 0.15}
    >>> len(t.to_pandas()) == len(t)
    True
    """

    def __init__(self, data: pa.Table, *, title: str | None = None) -> None:
        if not isinstance(data, pa.Table):
            raise TypeError(f"Table wraps a pyarrow.Table, not {type(data).__name__}")
        self._data = data
        self._title = title

    @property
    def title(self) -> str | None:
        """What the table holds, in words (shown above it in a notebook)."""
        return self._title

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self._data.column_names)

    def to_arrow(self) -> pa.Table:
        """The table itself (no copy)."""
        return self._data

    def to_pandas(self) -> pd.DataFrame:
        """A pandas DataFrame with every row."""
        return self._data.to_pandas()

    def to_polars(self) -> pl.DataFrame:
        """A Polars DataFrame with every row; needs the ``polars`` package (not a dependency)."""
        try:
            import polars
        except ImportError as exc:
            raise ImportError(
                "Table.to_polars() needs the polars package, which seismo does not install:"
                " pip install polars (or use to_pandas() / to_arrow())"
            ) from exc
        return polars.DataFrame(self._data)

    def to_pylist(self) -> list[dict[str, Any]]:
        """Every row as a dict (column → value)."""
        rows: list[dict[str, Any]] = self._data.to_pylist()
        return rows

    def __len__(self) -> int:
        return int(self._data.num_rows)

    def __repr__(self) -> str:
        names = self.columns
        shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        title = f" {self._title!r}" if self._title else ""
        return f"<Table{title}: {len(self):,} rows × {len(names)} columns ({shown})>"

    def _repr_html_(self) -> str:
        from seismo.present.notebook import html_table

        return html_table(self._data, title=self._title)


#: One row per alert: :meth:`seismo.alerts.Alert.to_record` with segment, root and
#: evidence as JSON text (as ``seismo check --format csv`` writes them), plus ``replay``.
ALERT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("severity", pa.string()),
        ("state", pa.string()),
        ("kind", pa.string()),
        ("metric", pa.string()),
        ("metric_label", pa.string()),
        ("unit", pa.string()),
        ("segment", pa.string()),
        ("direction", pa.string()),
        *((name, pa.float64()) for name in ("baseline", "baseline_low", "baseline_high")),
        *((name, pa.float64()) for name in ("current", "current_low", "current_high")),
        *((name, pa.timestamp("us")) for name in ("baseline_start", "baseline_end")),
        *((name, pa.timestamp("us")) for name in ("window_start", "window_end")),
        ("test", pa.string()),
        *((name, pa.float64()) for name in ("statistic", "p_value", "adjusted_p")),
        ("n_baseline", pa.int64()),
        ("n_current", pa.int64()),
        *((name, pa.timestamp("us")) for name in ("since", "first_seen", "last_seen")),
        ("resolved_at", pa.timestamp("us")),
        ("acknowledged_at", pa.timestamp("us")),
        ("acknowledged_by", pa.string()),
        ("silenced_until", pa.timestamp("us")),
        ("episodes", pa.int64()),
        ("group", pa.string()),
        ("root", pa.string()),
        ("key", pa.string()),
        ("message", pa.string()),
        ("action", pa.string()),
        ("evidence", pa.string()),
        ("replay", pa.bool_()),
    ]
)
#: The columns a notebook shows of a check (``to_pandas()`` has every one).
_SHOWN = [
    *("id", "severity", "state", "kind", "metric_label", "segment", "baseline", "current"),
    *("since", "message", "action"),
]


@dataclass(frozen=True, kw_only=True)
class Check:
    """What one check found as of ``as_of``, and what it did to the stored alerts.

    ``alerts`` are what ``seismo check`` prints: every condition found as of
    ``as_of``, most pressing first, with its life from the store (first seen,
    acknowledged, episodes). ``findings`` are the detectors' raw findings,
    ``watch`` the false-alarm budget in force. ``synced`` is what the check did
    to the stored alerts: a check older than one already stored for a kind
    leaves that kind's stored alerts alone (:attr:`replay`, :attr:`note`), its
    alerts are then replayed from its own findings. ``deliveries`` are the
    notifications sent to the configured routes (none without routes).
    """

    as_of: datetime
    alerts: tuple[Alert, ...]
    findings: tuple[Finding, ...]
    synced: SyncResult
    deliveries: tuple[Delivery, ...] = ()
    watch: Watch | None = None

    @property
    def critical(self) -> bool:
        """Whether a critical alert is firing (``seismo check`` then exits with 1)."""
        return any(a.severity == "critical" and a.state == "firing" for a in self.alerts)

    @property
    def replay(self) -> bool:
        """Whether a newer check was already stored, so stored alerts were (partly) left alone."""
        return bool(self.synced.stale_kinds)

    @property
    def note(self) -> str | None:
        """The line saying which stored alerts a replay left alone; None when all were updated."""
        from seismo.alerts.replay import replay_note

        return replay_note(self.synced)

    def records(self, *, flat: bool = False) -> list[dict[str, Any]]:
        """One record per alert, as ``seismo check --format json`` prints them (``replay``
        says whether the alert's kind was replayed); ``flat``: nested values as JSON text."""
        stale = set(self.synced.stale_kinds)
        return [
            {**(a.to_flat_record() if flat else a.to_record()), "replay": a.kind in stale}
            for a in self.alerts
        ]

    def to_table(self) -> Table:
        """The alerts as a :class:`Table` (:data:`ALERT_SCHEMA`; nested values as JSON text)."""
        data = pa.Table.from_pylist(self.records(flat=True), schema=ALERT_SCHEMA)
        return Table(data, title=self.headline())

    def to_arrow(self) -> pa.Table:
        """The alerts as an Arrow table (see :meth:`to_table`)."""
        return self.to_table().to_arrow()

    def to_pandas(self) -> pd.DataFrame:
        """The alerts as a pandas DataFrame (see :meth:`to_table`)."""
        return self.to_table().to_pandas()

    def to_polars(self) -> pl.DataFrame:
        """The alerts as a Polars DataFrame; needs the ``polars`` package."""
        return self.to_table().to_polars()

    def headline(self) -> str:
        """One line for people: as of when, and how many alerts need attention."""
        when = f"As of {self.as_of:%Y-%m-%d %H:%M} UTC"
        if not self.alerts:
            return f"{when}: nothing needs attention."
        return f"{when}: {len(self.alerts)} alert(s) need attention."

    def __len__(self) -> int:
        return len(self.alerts)

    def __repr__(self) -> str:
        critical = sum(a.severity == "critical" and a.state == "firing" for a in self.alerts)
        replay = ", replay" if self.replay else ""
        return (
            f"<Check as of {self.as_of:%Y-%m-%d %H:%M} UTC: {len(self.alerts)} alert(s),"
            f" {critical} critical firing{replay}>"
        )

    def _repr_html_(self) -> str:
        from seismo.present.notebook import html_table

        notes = [n for n in (self.note, self.watch.text() if self.watch else None) if n]
        table = self.to_table().to_arrow()
        return html_table(table, title=self.headline(), notes=notes, columns=_SHOWN)
