"""Building Arrow string columns from integer codes without a Python loop.

Formatting ten million ids with ``str`` or ``np.char`` takes longer than the
whole rest of the simulation, and Arrow's own timestamp formatting dominated
writing the CSV files; writing the bytes into one NumPy buffer and handing
Arrow that buffer plus the offsets is nearly instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import pyarrow as pa

__all__ = ["labels", "prefixed_ids", "utc_timestamp_strings"]


def prefixed_ids(prefix: str, numbers: np.ndarray, *, width: int | None = None) -> pa.Array:
    """``prefix`` followed by each number zero-padded to a common width.

    The width is the digits of the largest number (at least 7 unless given), so
    ids sort as strings in the same order as their numbers.

    >>> prefixed_ids("r", np.array([1, 42])).to_pylist()
    ['r0000001', 'r0000042']
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and numbers.min() < 0:
        raise ValueError("ids are built from non-negative numbers")
    if width is None:
        largest = int(numbers.max()) if numbers.size else 0
        width = max(7, len(str(largest)))
    head = prefix.encode("ascii")
    stride = len(head) + width
    buffer = np.empty((numbers.size, stride), dtype=np.uint8)
    buffer[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    rest = numbers.copy()
    for col in range(stride - 1, len(head) - 1, -1):
        buffer[:, col] = 48 + rest % 10  # 48 is ASCII "0"
        rest //= 10
    if rest.any():
        raise ValueError(f"a number has more than {width} digits")
    return _fixed_width(buffer)


def labels(names: Sequence[str] | pa.Array, codes: np.ndarray) -> pa.Array:
    """The string column whose row ``i`` is ``names[codes[i]]``.

    >>> labels(["new", "returning"], np.array([1, 0, 1])).to_pylist()
    ['returning', 'new', 'returning']
    """
    dictionary = names if isinstance(names, pa.Array) else pa.array(list(names), pa.string())
    return dictionary.take(pa.array(np.asarray(codes)))


def utc_timestamp_strings(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SSZ``, null where not ``valid``.

    Byte for byte what ``pyarrow.csv.write_csv`` prints for a UTC timestamp,
    many times faster: Arrow converts every value through the time zone
    database, which dominated writing the CSV files. Here each value is two
    lookups: its date in a table of the days spanned, its time of day in a
    table of the 86,400 seconds.

    >>> utc_timestamp_strings(np.array([0, 1_781_222_400, 951_827_696])).to_pylist()
    ['1970-01-01 00:00:00Z', '2026-06-12 00:00:00Z', '2000-02-29 12:34:56Z']
    """
    seconds = np.asarray(seconds, dtype=np.int64)
    valid = np.ones(seconds.size, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    shown = seconds[valid]
    day, second = np.divmod(shown, 86_400)
    buffer = np.empty((shown.size, 20), dtype=np.uint8)
    if shown.size:
        first = int(day.min())
        dates = _civil_dates(np.arange(first, int(day.max()) + 1))
        buffer[:, :10] = dates[day - first]
        buffer[:, 10] = ord(" ")
        buffer[:, 11:19] = _times_of_day()[second]
        buffer[:, 19] = ord("Z")
    # Nulls take no bytes: each valid row advances the offset by 20.
    offsets = np.zeros(seconds.size + 1, dtype=np.int64)
    np.cumsum(valid * 20, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("more string bytes than one Arrow string array holds (2 GiB)")
    return pa.Array.from_buffers(
        pa.string(),
        seconds.size,
        [
            pa.py_buffer(np.packbits(valid, bitorder="little")),
            pa.py_buffer(offsets.astype(np.int32)),
            pa.py_buffer(buffer),
        ],
        null_count=int(seconds.size - shown.size),
    )


def _civil_dates(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` bytes (rows x 10) of days since 1970-01-01.

    H. Hinnant's civil-from-days algorithm, proleptic Gregorian calendar.
    """
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    if year.min() < 0 or year.max() > 9999:
        raise ValueError("timestamps must fall in the years 0000..9999")
    out = np.empty((days.size, 10), dtype=np.uint8)
    out[:, 0:2] = _PAIRS[year // 100]
    out[:, 2:4] = _PAIRS[year % 100]
    out[:, 4] = out[:, 7] = ord("-")
    out[:, 5:7] = _PAIRS[month]
    out[:, 8:10] = _PAIRS[day]
    return out


@cache
def _times_of_day() -> np.ndarray:
    """``HH:MM:SS`` bytes (86,400 x 8) for every second of a day."""
    hour, rest = np.divmod(np.arange(86_400), 3600)
    minute, second = np.divmod(rest, 60)
    out = np.empty((86_400, 8), dtype=np.uint8)
    out[:, 0:2] = _PAIRS[hour]
    out[:, 2] = out[:, 5] = ord(":")
    out[:, 3:5] = _PAIRS[minute]
    out[:, 6:8] = _PAIRS[second]
    return out


#: "00".."99" as two ASCII bytes each.
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).reshape(100, 2)


def _fixed_width(buffer: np.ndarray) -> pa.Array:
    """A string array over the rows of a (rows x width) byte matrix."""
    n, stride = buffer.shape
    if n * stride >= 2**31:
        raise ValueError("more string bytes than one Arrow string array holds (2 GiB)")
    offsets = np.arange(n + 1, dtype=np.int32) * stride
    data = pa.py_buffer(np.ascontiguousarray(buffer))
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), data])
