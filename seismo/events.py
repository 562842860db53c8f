"""The data handed from ingest to the store: a read input and a validated batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from seismo.config import Declared, OutcomeType
from seismo.errors import RowError
from seismo.words import NEUTRAL, Words

__all__ = ["ROW", "Batch", "Source"]

#: Name of the 1-based row-number column carried with every input for error messages.
ROW = "__row"


@dataclass(frozen=True)
class Source:
    """An input, read: its name, its rows (with ``__row``) and a content digest."""

    name: str
    table: pa.Table
    digest: str
    is_csv: bool

    def line_of(self, row: int) -> int | None:
        """The line in the file of data row ``row`` (the header is line 1)."""
        return row + 1 if self.is_csv else None

    def row_error(
        self, row: int, column: str | None, reason: str, value: object = None
    ) -> RowError:
        return RowError(
            reason, source=self.name, row=row, column=column, value=value, line=self.line_of(row)
        )


@dataclass(frozen=True)
class Batch:
    """A validated input, ready to be written in one transaction.

    ``predictions`` and ``outcomes`` keep the ``__row`` column so that a check
    against what the store already holds can still name the input row.
    """

    source: Source
    shape: str  # "flat", "predictions" or "outcomes"
    batch_id: str
    predictions: pa.Table | None
    attributes: dict[str, tuple[str, str]]  # column -> (role, dtype)
    outcomes: pa.Table | None
    outcome_types: tuple[OutcomeType, ...]
    exported_at: datetime | None
    positive_labels: tuple[str, ...] = ()  # declared by the mapping: served labels read positive
    #: Implausible rows set aside (``[checks] implausible = "quarantine"``): row, column,
    #: value, reason.
    quarantined: tuple[dict[str, object], ...] = ()
    #: How people talk about the model (the mapping's ``[words]``), stored with the data.
    words: Words = NEUTRAL
    #: Its declared business metrics and delay strata (``[metrics]``, ``[nowcast]``).
    declared: Declared = field(default_factory=Declared)
