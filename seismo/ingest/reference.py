"""Register a training reference: validate it like predictions, profile it once, store the profile.

``seismo reference add PATH [--model-version V]`` reads the file with the same
mapping and the same checks as an ingest (a bad row is named, nothing is
written), then profiles it in an in-memory DuckDB with the very histogram
code drift uses on production windows (:mod:`seismo.metrics.histograms`):

* numeric features, and the model's score: edges at the reference's
  percentiles (0, 1, …, 100 %; ties collapse), counts per bin;
* categorical features and segment attributes: counts of the
  :data:`~seismo.metrics.histograms.MAX_CATEGORIES` most frequent values
  (the rest pooled as ``(other)``);
* the recommended item, for the concentration of exposure;
* each of these for the whole reference and for every segment value;
* the PCA of the inputs (features and segment attributes) that multivariate
  drift measures reconstruction error with, fitted on a bounded sample
  (:mod:`seismo.metrics.reconstruction`).

Only the profile is stored (:mod:`seismo.store.references`), never the rows.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import ibis

from seismo.config import RECOMMENDATIONS, Mapping
from seismo.errors import ConfigError, InputError
from seismo.events import ROW
from seismo.ingest.convert import prepare
from seismo.ingest.read import read_source
from seismo.metrics.cohorts import AGGREGATE
from seismo.metrics.histograms import EDGE_COUNT, MAX_CATEGORIES, OTHER, Histogram, count_histograms
from seismo.metrics.reconstruction import fit_pca
from seismo.store.read import Store
from seismo.store.references import FeatureProfile, Reference, write_reference

__all__ = ["ReferenceResult", "add_reference", "profile_features"]

#: Items kept in the reference's item mix (for the concentration of exposure).
MAX_ITEMS = 100_000
#: Core prediction columns profiled beside the declared features: name → (kind, role).
CORE_FEATURES = {
    "score": ("numeric", "prediction"),
    "label": ("categorical", "prediction"),
    "item_id": ("categorical", "item"),
}


@dataclasses.dataclass(frozen=True)
class ReferenceResult:
    """What registering a reference did: its model version, rows, watched features, and
    whether it was added (False: this very reference was already registered)."""

    model_version: str
    rows: int
    features: int
    added: bool


def profile_features(
    attributes: dict[str, tuple[str, str]], present: set[str]
) -> dict[str, tuple[str, str]]:
    """Which columns drift watches: name → (kind, role), from the attributes and core columns."""
    out: dict[str, tuple[str, str]] = {}
    for name, (role, dtype) in sorted(attributes.items()):
        if role not in ("feature", "segment"):
            continue
        out[name] = ("numeric" if dtype in ("float", "int") else "categorical", role)
    for name, spec in CORE_FEATURES.items():
        if name in present:
            out[name] = spec
    return out


def add_reference(
    store: Store,
    data: Any,
    *,
    mapping: Mapping = RECOMMENDATIONS,
    model_version: str | None = None,
    replace: bool = False,
    name: str | None = None,
) -> ReferenceResult:
    """Validate and profile ``data`` (a path or frame) as the reference of a model version.

    ``data`` is checked as an ingest checks predictions (a bad row raises
    :class:`~seismo.errors.InputError` naming it, and nothing is written);
    only its profile is stored. The model version is the data's (one only) or
    ``model_version``. Registering the same reference again adds nothing; a
    different one for a version that has one is refused unless ``replace``.
    Drift (:func:`seismo.compute_drift`, :func:`seismo.check`) is measured
    against it.
    """
    if mapping.predictions is None:
        raise ConfigError("a reference needs a mapping with a [predictions] section")
    spec = mapping.predictions
    if model_version is not None:
        spec = dataclasses.replace(spec, model_version=None)
    only_predictions = dataclasses.replace(
        mapping,
        predictions=spec,
        model_version=model_version or mapping.model_version,
        outcome_columns=(),
        final=None,
        outcomes=None,
    )
    source = read_source(data, name=name)
    batch = prepare(
        source,
        only_predictions,
        store_attributes=store.attributes(),
        store_types={},
        shape="predictions",
    )
    assert batch.predictions is not None
    table = batch.predictions.drop_columns([ROW])
    versions = sorted({v for v in table.column("model_version").to_pylist() if v is not None})
    if len(versions) != 1:
        raise InputError(
            f"the reference holds model versions {versions};"
            " name one with --model-version (model_version=)",
            source=source.name,
        )
    present = {c for c in CORE_FEATURES if table.column(c).null_count < table.num_rows}
    features = profile_features(batch.attributes, present)
    con = ibis.duckdb.connect()
    try:
        con.con.register("ref_rows", table)
        rows = con.table("ref_rows")
        edges = _edges(con, [f for f, (kind, _) in features.items() if kind == "numeric"])

        def count(columns: list[str], segments: list[str]) -> Any:
            return count_histograms(
                "duckdb",
                lambda sql: [tuple(r) for r in con.con.execute(sql).fetchall()],
                rows,
                window=None,
                version=None,
                segments=segments,
                numeric={f: e for f, e in edges.items() if f in columns},
                categorical=[f for f in columns if f not in edges],
            )

        watched = [f for f, (_, role) in features.items() if role != "item"]
        segments = [f for f, (_, role) in features.items() if role == "segment"]
        counted = count(watched, segments)
        items = count([f for f, (_, role) in features.items() if role == "item"], [])
    finally:
        con.disconnect()
    histograms = {
        (attr, value): {
            f: _cap(h, MAX_CATEGORIES) if features[f][0] == "categorical" else h
            for f, h in cell.items()
        }
        for (_, _, attr, value), cell in counted.items()
    }
    for cell in items.values():
        whole = histograms.setdefault((AGGREGATE, AGGREGATE), {})
        whole.update({f: _cap(h, MAX_ITEMS) for f, h in cell.items()})
    inputs = {f: kind for f, (kind, role) in features.items() if role in ("feature", "segment")}
    pca = fit_pca(table, inputs)
    ref = Reference(
        model_version=versions[0],
        model_name=mapping.model_name,
        source=source.name,
        digest=source.digest,
        rows=table.num_rows,
        registered_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        features={
            f: FeatureProfile(kind, role, edges.get(f, [])) for f, (kind, role) in features.items()
        },
        histograms=histograms,
        multivariate=None if pca is None else pca.to_record(),
    )
    added = write_reference(store.engine, ref, replace=replace)
    return ReferenceResult(ref.model_version, ref.rows, len(features), added)


def _edges(con: Any, numeric: list[str]) -> dict[str, list[float]]:
    """Percentile edges (min, 1 %, …, max) of each numeric column, distinct, from DuckDB."""
    if not numeric:
        return {}
    qs = ", ".join(f"{i / EDGE_COUNT:g}" for i in range(EDGE_COUNT + 1))
    select = ", ".join(f'quantile_disc(CAST("{f}" AS DOUBLE), [{qs}])' for f in numeric)
    row = con.con.execute(f"SELECT {select} FROM ref_rows").fetchone()
    return {
        f: sorted({float(v) for v in (values or []) if v is not None})
        for f, values in zip(numeric, row, strict=True)
    }


def _cap(h: Histogram, most: int) -> Histogram:
    """Keep the ``most`` frequent categories; pool the rest as ``(other)``."""
    if len(h.counts) <= most:
        return h
    ranked = sorted(h.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    kept = dict(ranked[:most])
    kept[OTHER] = kept.get(OTHER, 0.0) + sum(n for _, n in ranked[most:])
    return Histogram(counts=kept, missing=h.missing)
