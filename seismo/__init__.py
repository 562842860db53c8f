"""seismo: monitor machine-learning models in production when the truth arrives late.

The public API, re-exported here; implementation modules follow the pipeline
``ingest → store → metrics → detect → alerts → present`` (plus ``simulate``).
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
    from seismo.metrics.compute import compute_metrics
    from seismo.metrics.spec import MetricsConfig, RateMetric, default_metrics, load_metrics_config
    from seismo.metrics.summary import Summary, summarize

#: Names imported on first use, so commands that need little (``seismo drift``,
#: ``seismo --help``) do not pay for pandas and SciPy's optimisers.
_LAZY = {
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
    "ConfigError",
    "InputError",
    "Mapping",
    "MetricsConfig",
    "OutcomeColumns",
    "OutcomeEvents",
    "OutcomeType",
    "PredictionColumns",
    "RateMetric",
    "RowError",
    "SeismoError",
    "Store",
    "StoreError",
    "Summary",
    "compute_metrics",
    "default_metrics",
    "ingest",
    "load_mapping",
    "load_metrics_config",
    "open_store",
    "summarize",
]
