"""PCA reconstruction error of the inputs: fitted on the reference, averaged in the engine.

NannyML's *data reconstruction drift*: a drift in how the inputs vary
*together* (two features that changed their correlation, not their
marginals) escapes every per-feature test, but not a model of the joint
structure. :func:`fit_pca` learns that structure once, when a reference is
registered, from a bounded seeded sample of its rows (:data:`SAMPLE`):

* the inputs are the numeric features and segment attributes, standardised
  (a missing value is the mean, i.e. 0), and the categorical ones with at
  most :data:`MAX_LEVELS` values, one-hot encoded and standardised likewise
  (columns that do not vary are dropped);
* PCA by SVD of that matrix, keeping the fewest components that explain
  :data:`EXPLAINED` (65 %, NannyML's default) of its variance.

A row's reconstruction error is the distance between its standardised
inputs ``z`` and their projection back from the components ``W``:
``‖z − WᵀWz‖ = √(‖z‖² − ‖Wz‖²)`` (the rows of ``W`` are orthonormal), a
sum of squares of linear forms, which is portable SQL: :func:`mean_errors`
asks the engine for each window's count and mean error, so rows never leave
it. The reference's own spread comes from the same SQL over the reference
cut into consecutive chunks (:data:`CHUNKS` of them, at most
:data:`SAMPLE` rows each): the mean and standard deviation of the chunk
means, from which :mod:`seismo.detect.multivariate` draws each window's
threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["EXPLAINED", "MAX_LEVELS", "SAMPLE", "Column", "PcaFit", "fit_pca", "mean_errors"]

#: Reference rows the PCA is fitted on (a seeded sample when there are more).
SAMPLE = 5000
#: Share of the standardised inputs' variance the kept components explain.
EXPLAINED = 0.65
#: A categorical input is one-hot encoded when it has at most this many values.
MAX_LEVELS = 20
#: Reference chunks the threshold's spread is measured over (at least MIN_CHUNKS).
CHUNKS = 10
MIN_CHUNKS = 5
MIN_CHUNK_ROWS = 20


@dataclass(frozen=True)
class Column:
    """One standardised input: a numeric feature, or one value of a categorical one."""

    feature: str
    mean: float
    sd: float
    value: str | None = None  # the category this indicator stands for (None: numeric)


@dataclass(frozen=True)
class PcaFit:
    """The reference's PCA and its own spread of chunk mean errors."""

    columns: tuple[Column, ...]
    components: tuple[tuple[float, ...], ...]  # k × len(columns), orthonormal rows
    explained: float  # variance share the components explain
    sample: int  # rows fitted on
    chunk_rows: int  # rows per reference chunk
    chunks: int
    chunk_mean: float  # mean of the chunks' mean errors
    chunk_sd: float  # their standard deviation (ddof 1)
    skipped: tuple[str, ...] = ()  # categorical inputs with too many values

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PcaFit:
        return cls(
            **{
                **record,
                "columns": tuple(Column(**c) for c in record["columns"]),
                "components": tuple(tuple(float(x) for x in r) for r in record["components"]),
                "skipped": tuple(record.get("skipped", ())),
            }
        )

    @property
    def features(self) -> list[str]:
        return list(dict.fromkeys(c.feature for c in self.columns))


def _design(table: pa.Table, columns: tuple[Column, ...]) -> np.ndarray:
    """The standardised matrix of ``table``'s rows (the NumPy twin of :func:`_z_sql`)."""
    out = np.zeros((table.num_rows, len(columns)))
    for j, c in enumerate(columns):
        col = table.column(c.feature)
        if c.value is None:
            x = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            out[:, j] = np.nan_to_num((x - c.mean) / c.sd, nan=0.0)
        else:
            text = pc.cast(col, pa.string()).to_pylist()
            out[:, j] = ((np.array([t == c.value for t in text], dtype=float)) - c.mean) / c.sd
    return out


def _columns(sample: pa.Table, inputs: dict[str, str]) -> tuple[list[Column], list[str]]:
    columns: list[Column] = []
    skipped: list[str] = []
    for feature, kind in sorted(inputs.items()):
        col = sample.column(feature)
        if kind == "numeric":
            x = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            x = x[np.isfinite(x)]
            if x.size > 1 and x.std() > 0:
                columns.append(Column(feature, float(x.mean()), float(x.std())))
            continue
        text = [t for t in pc.cast(col, pa.string()).to_pylist()]
        levels = sorted({t for t in text if t is not None})
        if len(levels) > MAX_LEVELS:
            skipped.append(feature)
            continue
        for level in levels:
            share = sum(t == level for t in text) / len(text)
            if 0.0 < share < 1.0:
                columns.append(Column(feature, share, math.sqrt(share * (1 - share)), level))
    return columns, skipped


def fit_pca(table: pa.Table, inputs: dict[str, str], *, seed: int = 0) -> PcaFit | None:
    """Fit the PCA on (a sample of) the reference ``table``; its chunk spread in DuckDB.

    ``inputs`` maps each input column to ``numeric`` or ``categorical``. None
    when there are fewer than two varying inputs or too few rows for
    :data:`MIN_CHUNKS` chunks.

    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=4000)
    >>> t = pa.table({"x": x, "y": x + rng.normal(scale=0.1, size=4000)})
    >>> fit = fit_pca(t, {"x": "numeric", "y": "numeric"})
    >>> len(fit.components), round(fit.explained, 3), fit.chunks
    (1, 0.998, 10)
    """
    rows = table.num_rows
    chunk_rows = min(SAMPLE, max(MIN_CHUNK_ROWS, rows // CHUNKS))
    chunks = rows // chunk_rows
    if chunks < MIN_CHUNKS:
        return None
    take = rows if rows <= SAMPLE else SAMPLE
    index = np.sort(np.random.default_rng(seed).choice(rows, take, replace=False))
    sample = table.take(pa.array(index))
    columns, skipped = _columns(sample, inputs)
    if len(columns) < 2:
        return None
    z = _design(sample, tuple(columns))
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    share = s**2 / float(np.sum(s**2))
    k = int(np.searchsorted(np.cumsum(share), EXPLAINED - 1e-12) + 1)
    k = min(k, len(columns) - 1)  # at least one dimension left to reconstruct
    # A component's sign is arbitrary; fix it (largest loading positive) so a fit is reproducible.
    w = vt[:k] * np.sign(vt[:k][np.arange(k), np.abs(vt[:k]).argmax(axis=1)])[:, None]
    fit = PcaFit(
        columns=tuple(columns),
        components=tuple(tuple(float(v) for v in r) for r in w),
        explained=float(share[:k].sum()),
        sample=take,
        chunk_rows=chunk_rows,
        chunks=chunks,
        chunk_mean=0.0,
        chunk_sd=0.0,
        skipped=tuple(skipped),
    )
    con = ibis.duckdb.connect()
    try:
        part = pa.array(np.arange(rows) // chunk_rows)
        con.con.register("ref_chunks", table.append_column("_chunk", part))
        ref = con.table("ref_chunks")
        ref = ref.filter(ref._chunk < chunks)
        means = mean_errors(
            "duckdb",
            lambda sql: [tuple(r) for r in con.con.execute(sql).fetchall()],
            ref,
            window=ref._chunk,
            version=None,
            fit=fit,
        )
    finally:
        con.disconnect()
    values = np.array([m for _, m in means.values()])
    return PcaFit(
        **{
            **fit.__dict__,
            "chunk_mean": float(values.mean()),
            "chunk_sd": float(values.std(ddof=1)),
        }
    )


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _z_sql(c: Column, x: str) -> str:
    """Portable SQL of one standardised input (missing: 0, the mean)."""
    if c.value is None:
        return f"COALESCE(({x} - {c.mean!r}) / {c.sd!r}, 0.0)"
    return f"((CASE WHEN {x} = {_lit(c.value)} THEN 1.0 ELSE 0.0 END) - {c.mean!r}) / {c.sd!r}"


def mean_errors(
    engine_kind: str, query: Any, rows: Any, *, window: Any, version: Any, fit: PcaFit
) -> dict[tuple[Any, Any], tuple[int, float]]:
    """(window, version) → (rows, mean reconstruction error), one engine pass.

    ``rows`` is an Ibis table, ``window`` and ``version`` expressions on it (or
    None); ``query(sql)`` runs SQL on the engine that holds the rows.
    """
    features = fit.features
    names = {f: f"f_{j}" for j, f in enumerate(features)}
    numeric = {c.feature for c in fit.columns if c.value is None}
    select: dict[str, Any] = {
        "w": window if window is not None else ibis.null("int64"),
        "v": version if version is not None else ibis.null("string"),
    }
    for f, column in names.items():
        select[column] = rows[f].cast("float64" if f in numeric else "string")
    base = ibis.to_sql(rows.select(**select), dialect=engine_kind)
    z = [f"{_z_sql(c, names[c.feature])} AS z_{j}" for j, c in enumerate(fit.columns)]
    norm = " + ".join(f"z_{j} * z_{j}" for j in range(len(fit.columns)))
    scores = [
        " + ".join(f"{v!r} * z_{j}" for j, v in enumerate(w)) + f" AS t_{c}"
        for c, w in enumerate(fit.components)
    ]
    squares = " + ".join(f"t_{c} * t_{c}" for c in range(len(fit.components)))
    # ‖z‖² − ‖Wz‖² may dip a rounding error below 0 for a row the components reproduce.
    error = f"SQRT(GREATEST(zz - ({squares}), 0.0))"
    sql = (
        f"SELECT w, v, COUNT(*), AVG({error}) FROM"
        f" (SELECT w, v, {norm} AS zz, {', '.join(scores)} FROM"
        f" (SELECT w, v, {', '.join(z)} FROM ({base}) AS r0) AS r1) AS r GROUP BY w, v"
    )
    return {(w, v): (int(n), float(m)) for w, v, n, m in query(sql)}
