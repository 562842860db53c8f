"""Training references in the store: one profile per model version.

A reference is kept as what drift needs, not as rows: per feature its kind
(``numeric`` or ``categorical``), its role (``feature``, ``segment``,
``prediction`` or ``item``), a numeric feature's bin edges, and the
histogram (:class:`~seismo.metrics.histograms.Histogram`) of the whole
reference and of every segment value, and the PCA of its inputs that
multivariate drift reconstructs rows with (stored as JSON). Registering the same file again is a
no-op; a different file for a version already registered needs ``replace``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from seismo.errors import InputError
from seismo.metrics.histograms import Histogram
from seismo.store.engine import Engine

__all__ = ["FeatureProfile", "Reference", "load_references", "write_reference"]

_TABLES = (
    "reference_sets",
    "reference_features",
    "reference_bins",
    "reference_moments",
    "reference_multivariate",
)


@dataclass(frozen=True)
class FeatureProfile:
    kind: str  # "numeric" or "categorical"
    role: str  # "feature", "segment", "prediction" or "item"
    edges: list[float] = field(default_factory=list)


@dataclass
class Reference:
    """A registered reference: its features and histograms per (attribute, value)."""

    model_version: str
    model_name: str
    source: str
    digest: str
    rows: int
    registered_at: datetime
    features: dict[str, FeatureProfile]
    #: (attribute, value) → feature → histogram; ("*", "*") is the whole reference.
    histograms: dict[tuple[str, str], dict[str, Histogram]]
    #: The PCA of the inputs for multivariate drift, as plain data
    #: (:class:`seismo.metrics.reconstruction.PcaFit` record), or None.
    multivariate: dict[str, Any] | None = None


_BIN_SCHEMA = pa.schema(
    [
        ("model_version", pa.string()),
        ("feature", pa.string()),
        ("attribute", pa.string()),
        ("value", pa.string()),
        ("bin", pa.int64()),
        ("category", pa.string()),
        ("n", pa.float64()),
    ]
)
_BIN_TYPES = {
    "model_version": "VARCHAR",
    "feature": "VARCHAR",
    "attribute": "VARCHAR",
    "value": "VARCHAR",
    "bin": "BIGINT",
    "category": "VARCHAR",
    "n": "DOUBLE PRECISION",
}


def write_reference(engine: Engine, ref: Reference, *, replace: bool = False) -> bool:
    """Store ``ref`` in one transaction; False when this very reference is already there."""
    p = engine.param()
    with engine.transaction():
        known = engine.query(
            f"SELECT digest, source FROM reference_sets WHERE model_version = {p}",
            (ref.model_version,),
        )
        fitted = engine.query(
            f"SELECT COUNT(*) FROM reference_multivariate WHERE model_version = {p}",
            (ref.model_version,),
        )[0][0]
        # The same file again adds nothing, unless it was registered before references
        # kept the PCA of their inputs: then it is profiled anew, with it.
        if known and known[0][0] == ref.digest and (fitted or ref.multivariate is None):
            return False
        if known and known[0][0] == ref.digest:
            replace = True
        if known and not replace:
            raise InputError(
                f"model version {ref.model_version!r} already has a reference ({known[0][1]});"
                " pass --replace (replace=True) to register this one instead",
                source=ref.source,
            )
        for table in _TABLES:
            engine.execute(f"DELETE FROM {table} WHERE model_version = {p}", (ref.model_version,))
        engine.execute(
            "INSERT INTO reference_sets (model_version, model_name, source, digest, rows,"
            f" registered_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
            (
                ref.model_version,
                ref.model_name,
                ref.source,
                ref.digest,
                ref.rows,
                ref.registered_at,
            ),
        )
        for name, f in ref.features.items():
            engine.execute(
                "INSERT INTO reference_features (model_version, feature, kind, role, edges)"
                f" VALUES ({p}, {p}, {p}, {p}, {p})",
                (ref.model_version, name, f.kind, f.role, json.dumps(f.edges)),
            )
        if ref.multivariate is not None:
            engine.execute(
                f"INSERT INTO reference_multivariate (model_version, fit) VALUES ({p}, {p})",
                (ref.model_version, json.dumps(ref.multivariate, sort_keys=True)),
            )
        rows = _bin_rows(ref)
        with engine.stage(rows, _BIN_TYPES) as staged:
            names = ", ".join(_BIN_SCHEMA.names)
            engine.execute(f"INSERT INTO reference_bins ({names}) SELECT {names} FROM {staged}")
        for (attribute, value), features in ref.histograms.items():
            for feature, h in features.items():
                if h.low is None:
                    continue
                engine.execute(
                    "INSERT INTO reference_moments (model_version, feature, attribute, value, low,"
                    f" high, total, squares) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
                    (
                        ref.model_version,
                        feature,
                        attribute,
                        value,
                        h.low,
                        h.high,
                        h.total,
                        h.squares,
                    ),
                )
    return True


def _bin_rows(ref: Reference) -> pa.Table:
    rows = []
    for (attribute, value), features in ref.histograms.items():
        for feature, h in features.items():
            numeric = ref.features[feature].kind == "numeric"
            base = {
                "model_version": ref.model_version,
                "feature": feature,
                "attribute": attribute,
                "value": value,
            }
            for b, n in sorted(h.counts.items(), key=lambda kv: str(kv[0])):
                rows.append(
                    {
                        **base,
                        "bin": int(b) if numeric else None,
                        "category": None if numeric else str(b),
                        "n": n,
                    }
                )
            if h.missing:
                rows.append({**base, "bin": None, "category": None, "n": h.missing})
    return pa.Table.from_pylist(rows, schema=_BIN_SCHEMA)


def load_references(engine: Engine) -> dict[str, Reference]:
    """Every registered reference, by model version."""
    refs: dict[str, Reference] = {}
    for version, name, source, digest, rows, at in engine.query(
        "SELECT model_version, model_name, source, digest, rows, registered_at"
        " FROM reference_sets ORDER BY registered_at, model_version"
    ):
        refs[str(version)] = Reference(
            str(version), str(name), str(source), str(digest), int(rows), at, {}, {}
        )
    for version, feature, kind, role, edges in engine.query(
        "SELECT model_version, feature, kind, role, edges FROM reference_features"
    ):
        if str(version) in refs:
            refs[str(version)].features[str(feature)] = FeatureProfile(
                str(kind), str(role), [float(e) for e in json.loads(edges or "[]")]
            )
    for version, fit in engine.query("SELECT model_version, fit FROM reference_multivariate"):
        if str(version) in refs:
            refs[str(version)].multivariate = json.loads(fit)
    for version, feature, attribute, value, bin_, category, n in engine.query(
        "SELECT model_version, feature, attribute, value, bin, category, n FROM reference_bins"
    ):
        if str(version) in refs:
            h = _histogram(refs[str(version)], feature, attribute, value)
            h.add(int(bin_) if bin_ is not None else category, float(n))
    for version, feature, attribute, value, *moments in engine.query(
        "SELECT model_version, feature, attribute, value, low, high, total, squares"
        " FROM reference_moments"
    ):
        if str(version) in refs:
            _histogram(refs[str(version)], feature, attribute, value).add_moments(*moments)
    return refs


def _histogram(ref: Reference, feature: Any, attribute: Any, value: Any) -> Histogram:
    cell = ref.histograms.setdefault((str(attribute), str(value)), {})
    return cell.get(str(feature)) or cell.setdefault(str(feature), Histogram())
