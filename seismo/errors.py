"""seismo's exceptions, one tree so callers can catch as broadly as they need::

    SeismoError
    ├── ConfigError            a mapping, outcome type or option is wrong
    ├── StoreError             the store cannot be opened or written
    └── InputError             a batch of events is rejected; nothing was written
        └── RowError           one row's field is wrong (file, row, column, reason)

The command line turns ``ConfigError`` and ``InputError`` into exit code 2.
"""

from __future__ import annotations

__all__ = ["ConfigError", "InputError", "RowError", "SeismoError", "StoreError"]


class SeismoError(Exception):
    """Base of every error seismo raises on purpose."""


class ConfigError(SeismoError):
    """A mapping, outcome type or option is invalid."""


class StoreError(SeismoError):
    """The store cannot be reached, created or written."""


class InputError(SeismoError):
    """A batch of input is rejected as a whole; the store is unchanged.

    ``source`` names the file (or ``<frame>`` for in-memory data).
    """

    def __init__(self, message: str, *, source: str = "<frame>") -> None:
        self.source = source
        self.reason = message
        super().__init__(f"{source}: {message}")


class RowError(InputError):
    """One field of one row is wrong.

    ``row`` is 1-based over data rows; for CSV files ``line`` is the line in the
    file (the header is line 1), which is what an editor shows.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "<frame>",
        row: int,
        column: str | None,
        value: object = None,
        line: int | None = None,
    ) -> None:
        self.row = row
        self.column = column
        self.value = value
        self.line = line
        where = f"row {row}" + (f" (line {line})" if line is not None else "")
        field = f", column {column!r}" if column else ""
        shown = f" (value {value!r})" if value is not None else ""
        super().__init__(f"{where}{field}: {reason}{shown}", source=source)
        self.reason = reason
