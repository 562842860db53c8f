"""Result tables as HTML for a notebook: the first rows, every value escaped.

Jupyter shows an object through its ``_repr_html_``; :class:`seismo.Table`
and :class:`seismo.Check` draw theirs here, so drawing stays in ``present``.
The output is bounded (``limit`` rows, long texts cut) whatever the table
holds: a notebook cell is not the place for a million rows, ``to_pandas()``
is. Values come from user data, so each one is escaped: a segment value
``<script>`` shows as text.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa

__all__ = ["HTML_ROWS", "html_table"]

#: Rows a notebook shows of a result table.
HTML_ROWS = 20
#: Characters a cell shows of a long text (a message, evidence as JSON).
CELL_CHARS = 200


def html_table(
    table: pa.Table,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    limit: int = HTML_ROWS,
) -> str:
    """The first ``limit`` rows of ``table`` (only ``columns``, if given) as escaped HTML.

    ``title`` and ``notes`` are lines of plain text above the table.

    >>> t = pa.table({"segment": ["<b>25-34</b>", "55+", "all"], "rate": [0.15, None, 0.2349]})
    >>> print(html_table(t, title="Click-through", limit=2))  # doctest: +NORMALIZE_WHITESPACE
    <div class="seismo-table"><p><strong>Click-through</strong></p>
    <table><thead><tr><th>segment</th><th>rate</th></tr></thead><tbody>
    <tr><td>&lt;b&gt;25-34&lt;/b&gt;</td><td style="text-align:right">0.15</td></tr>
    <tr><td>55+</td><td style="text-align:right"></td></tr>
    </tbody></table><p>2 of 3 rows shown; to_pandas() has them all.</p></div>
    """
    shown = table.select(list(columns)) if columns is not None else table
    rows = shown.slice(0, max(limit, 0)).to_pylist()  # converts only what is drawn
    numeric = {f.name for f in shown.schema if pa.types.is_integer(f.type) or _floating(f.type)}
    parts = ['<div class="seismo-table">']
    if title:
        parts.append(f"<p><strong>{_text(title)}</strong></p>")
    parts += [f"<p>{_text(note)}</p>" for note in notes]
    head = "".join(f"<th>{_text(name)}</th>" for name in shown.column_names)
    parts.append(f"\n<table><thead><tr>{head}</tr></thead><tbody>")
    opening = dict.fromkeys(numeric, '<td style="text-align:right">')
    for row in rows:
        cells = "".join(f"{opening.get(k, '<td>')}{_cell(v)}</td>" for k, v in row.items())
        parts.append(f"\n<tr>{cells}</tr>")
    parts.append("\n</tbody></table>")
    if shown.num_rows > len(rows):
        said = f"{len(rows):,} of {shown.num_rows:,} rows shown; to_pandas() has them all."
        parts.append(f"<p>{said}</p>")
    elif not rows:
        parts.append("<p>No rows.</p>")
    parts.append("</div>")
    return "".join(parts)


def _floating(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_floating(dtype) or pa.types.is_decimal(dtype))


def _cell(value: Any) -> str:
    """One value as escaped text: numbers to 4 significant digits, times to the minute."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M" if (value.hour or value.minute) else "%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return _text(value)


def _text(value: object) -> str:
    text = str(value)
    if len(text) > CELL_CHARS:
        text = text[: CELL_CHARS - 1] + "…"
    return html.escape(text, quote=True)
