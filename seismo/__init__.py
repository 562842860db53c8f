"""seismo: monitor machine-learning models in production when the truth arrives late.

The public API, re-exported here; implementation modules follow the pipeline
``ingest → store → metrics → detect → alerts → present`` (plus ``simulate``).
The whole job runs from Python as it does from the command line: :func:`ingest`,
:func:`add_reference`, :func:`compute_metrics`, :func:`compute_drift`,
:func:`compute_operations`,
:func:`check` and :func:`write_report` (:mod:`seismo.api`); tabular results are
a :class:`Table` (a :class:`Check` for a check), shown as a table in a notebook.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from seismo.config import (
    RECOMMENDATIONS,
    Mapping,
    OutcomeColumns,
    OutcomeEvents,
    OutcomeType,
    PredictionColumns,
    load_mapping,
)
from seismo.errors import ConfigError, InputError, RowError, SeismoError, StoreError
from seismo.ingest import ingest
from seismo.store import BatchResult, Store, open_store

if _typing.TYPE_CHECKING:
    from seismo.api import check, compute_drift, compute_operations, write_report
    from seismo.detect.change import DetectConfig
    from seismo.ingest.reference import ReferenceResult, add_reference
    from seismo.metrics.compute import compute_metrics
    from seismo.metrics.spec import MetricsConfig, RateMetric, default_metrics, load_metrics_config
    from seismo.metrics.summary import Summary, summarize
    from seismo.present.web.report import ReportResult
    from seismo.results import Check, Table

#: Names imported on first use, so commands that need little (``seismo drift``,
#: ``seismo --help``) do not pay for pandas and SciPy's optimisers, nor for the
#: report's templates.
_LAZY = {
    "add_reference": "seismo.ingest.reference",
    "ReferenceResult": "seismo.ingest.reference",
    "check": "seismo.api",
    "compute_drift": "seismo.api",
    "compute_operations": "seismo.api",
    "write_report": "seismo.api",
    "Check": "seismo.results",
    "Table": "seismo.results",
    "ReportResult": "seismo.present.web.report",
    "DetectConfig": "seismo.detect.change",
    "compute_metrics": "seismo.metrics.compute",
    "MetricsConfig": "seismo.metrics.spec",
    "RateMetric": "seismo.metrics.spec",
    "default_metrics": "seismo.metrics.spec",
    "load_metrics_config": "seismo.metrics.spec",
    "Summary": "seismo.metrics.summary",
    "summarize": "seismo.metrics.summary",
}


def __getattr__(name: str) -> _typing.Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'seismo' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "RECOMMENDATIONS",
    "BatchResult",
    "Check",
    "ConfigError",
    "DetectConfig",
    "InputError",
    "Mapping",
    "MetricsConfig",
    "OutcomeColumns",
    "OutcomeEvents",
    "OutcomeType",
    "PredictionColumns",
    "RateMetric",
    "ReferenceResult",
    "ReportResult",
    "RowError",
    "SeismoError",
    "Store",
    "StoreError",
    "Summary",
    "Table",
    "add_reference",
    "check",
    "compute_drift",
    "compute_metrics",
    "compute_operations",
    "default_metrics",
    "ingest",
    "load_mapping",
    "load_metrics_config",
    "open_store",
    "summarize",
    "write_report",
]
