"""Building Arrow string columns from integer codes without a Python loop.

Formatting ten million ids with ``str`` or ``np.char`` takes longer than the
whole rest of the simulation; writing the digits into one byte buffer and
handing Arrow that buffer plus the (fixed-stride) offsets is instant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["labels", "prefixed_ids"]


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
    if numbers.size * stride >= 2**31:
        raise ValueError("more id bytes than one Arrow string array holds (2 GiB)")
    offsets = np.arange(numbers.size + 1, dtype=np.int32) * stride
    return pa.Array.from_buffers(
        pa.string(), numbers.size, [None, pa.py_buffer(offsets), pa.py_buffer(buffer)]
    )


def labels(names: Sequence[str] | pa.Array, codes: np.ndarray) -> pa.Array:
    """The string column whose row ``i`` is ``names[codes[i]]``.

    >>> labels(["new", "returning"], np.array([1, 0, 1])).to_pylist()
    ['returning', 'new', 'returning']
    """
    dictionary = names if isinstance(names, pa.Array) else pa.array(list(names), pa.string())
    return dictionary.take(pa.array(np.asarray(codes)))
