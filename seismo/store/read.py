"""Reading the store as it was at any moment, through Ibis.

``as_of`` replays the past: predictions served after it and outcomes
observed after it are ignored, and for each (prediction, outcome type) the
latest outcome observed by then is the one that counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa

from seismo.config import Declared, Mapping, OutcomeType
from seismo.store.engine import Engine, connect
from seismo.store.schema import create_schema
from seismo.words import NEUTRAL, Words

__all__ = ["Store", "open_store", "stored_declared", "stored_words"]


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    from datetime import UTC

    return moment.astimezone(UTC).replace(tzinfo=None)


def stored_declared(engine: Engine) -> Declared:
    """The model's declared business metrics as its mapping stated them (none if none)."""
    rows = engine.query("SELECT value FROM seismo_meta WHERE key = 'declared'")
    return Declared.from_json(rows[0][0]) if rows else Declared()


def stored_words(engine: Engine) -> Words:
    """The model's words as its mapping declared them at ingest (neutral words if none)."""
    rows = engine.query("SELECT value FROM seismo_meta WHERE key = 'words'")
    return Words.from_json(rows[0][0]) if rows else NEUTRAL


@dataclass
class Store:
    """A handle on one store; create with :func:`open_store`."""

    engine: Engine

    @property
    def kind(self) -> str:
        return self.engine.kind

    def table(self, name: str) -> Any:
        return self.engine.ibis.table(name)

    def predictions(self, as_of: datetime | None = None) -> Any:
        """Predictions served by ``as_of`` (all of them when None), as an Ibis table."""
        t = self.table("predictions")
        as_of = _naive_utc(as_of)
        return t if as_of is None else t.filter(t.served_at <= as_of)

    def outcomes(self, as_of: datetime | None = None) -> Any:
        """Per (prediction, type), the latest outcome observed by ``as_of``."""
        t = self.table("outcomes")
        as_of = _naive_utc(as_of)
        if as_of is not None:
            t = t.filter(t.observed_at <= as_of)
        w = ibis.window(
            group_by=[t.prediction_id, t.outcome_type],
            order_by=[ibis.desc(t.observed_at), ibis.desc(t.event_time)],
        )
        ranked = t.mutate(_rank=ibis.row_number().over(w))
        return ranked.filter(ranked._rank == 0).drop("_rank")

    def attributes(self) -> dict[str, tuple[str, str]]:
        """Declared prediction columns: name → (role, dtype)."""
        rows = self.engine.query("SELECT name, role, dtype FROM attributes ORDER BY name")
        return {str(n): (str(r), str(d)) for n, r, d in rows}

    def positive_labels(self) -> tuple[str, ...]:
        """Served labels read as a predicted positive, as a mapping declared (``positive_label``).

        Empty when none was declared: then ``1/true/yes/positive`` are positive
        and ``0/false/no/negative`` negative (see :class:`~seismo.config.PredictionColumns`).
        """
        rows = self.engine.query("SELECT value FROM seismo_meta WHERE key = 'positive_labels'")
        return tuple(json.loads(rows[0][0])) if rows else ()

    def words(self) -> Words:
        """How people talk about the model, as its mapping declared (neutral words if none)."""
        return stored_words(self.engine)

    def declared(self) -> Declared:
        """The business metrics the model's mapping declared (none if none)."""
        return stored_declared(self.engine)

    def segments(self) -> list[str]:
        return [n for n, (role, _) in self.attributes().items() if role == "segment"]

    def outcome_types(self) -> dict[str, OutcomeType]:
        rows = self.engine.query(
            "SELECT name, kind, window_seconds, parent, description"
            " FROM outcome_types ORDER BY name"
        )
        return {
            str(n): OutcomeType(
                name=str(n), kind=k, window=timedelta(seconds=int(w)), parent=p, description=d or ""
            )
            for n, k, w, p, d in rows
        }

    def count(self, table: str) -> int:
        return int(self.engine.query(f"SELECT COUNT(*) FROM {table}")[0][0])

    def flat(self, mapping: Mapping, as_of: datetime | None = None) -> pa.Table:
        """The flat export (one row per prediction, outcomes as columns) in the user's names.

        The inverse of ingesting a flat file: what went in comes out.
        """
        spec = mapping.predictions
        assert spec is not None, "a flat view needs a [predictions] mapping"
        preds = self.predictions(as_of)
        outs = self.outcomes(as_of)
        names = {core: user for core, user in spec.core().items()}
        cols = [preds[core].name(user) for core, user in names.items()]
        cols += [preds[a] for a in (*spec.segments, *spec.features)]
        expr = preds.select(preds.prediction_id.name("_seismo_pid"), *cols)
        for oc in mapping.outcome_columns:
            o = outs.filter(outs.outcome_type == oc.type)
            sel = [o.prediction_id.name("_seismo_oid"), o.value.name(oc.value)]
            if oc.timestamp:
                sel.append(o.event_time.name(oc.timestamp))
            right = o.select(*sel)
            expr = expr.left_join(right, expr._seismo_pid == right._seismo_oid).drop("_seismo_oid")
        if mapping.final:
            known = [expr[oc.value].notnull() for oc in mapping.outcome_columns]
            # a child left empty because its parent event did not happen is settled too
            types = self.outcome_types()
            for i, oc in enumerate(mapping.outcome_columns):
                parent = types[oc.type].parent if oc.type in types else None
                pcol = next((c for c in mapping.outcome_columns if c.type == parent), None)
                if pcol is not None and pcol.type in types and types[pcol.type].kind == "event":
                    known[i] = known[i] | (expr[pcol.value] == 0).fill_null(False)
            final = known[0]
            for k in known[1:]:
                final = final & k
            expr = expr.mutate(**{mapping.final: final})
        expr = expr.order_by([expr[names["served_at"]], expr._seismo_pid]).drop("_seismo_pid")
        return expr.to_pyarrow()

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(store: str | os.PathLike[str] | None = None, *, wait: float | None = None) -> Store:
    """Open (and create if needed) the store: a DuckDB path, a PostgreSQL URL, or the default.

    ``wait``: how long to wait for another process holding a DuckDB file
    (default ``SEISMO_LOCK_WAIT``, 60 s).
    """
    engine = connect(store, wait=wait)
    create_schema(engine)
    return Store(engine)
