"""seismo: monitor machine-learning models in production when the truth arrives late.

The public API, re-exported here; implementation modules follow the pipeline
``ingest → store → metrics → detect → alerts → present`` (plus ``simulate``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from seismo.metrics.compute import compute_metrics
    from seismo.metrics.spec import MetricsConfig, RateMetric, default_metrics, load_metrics_config
    from seismo.metrics.summary import Summary, summarize
    from seismo.store import BatchResult, Store, open_store

#: Where each public name lives; imported on first use, so ``seismo --help`` and
#: commands that need little do not pay for everything (pandas, SciPy's optimisers).
_HOME = {
    "RECOMMENDATIONS": "seismo.config",
    "Mapping": "seismo.config",
    "OutcomeColumns": "seismo.config",
    "OutcomeEvents": "seismo.config",
    "OutcomeType": "seismo.config",
    "PredictionColumns": "seismo.config",
    "load_mapping": "seismo.config",
    "ConfigError": "seismo.errors",
    "InputError": "seismo.errors",
    "RowError": "seismo.errors",
    "SeismoError": "seismo.errors",
    "StoreError": "seismo.errors",
    "ingest": "seismo.ingest",
    "compute_metrics": "seismo.metrics.compute",
    "MetricsConfig": "seismo.metrics.spec",
    "RateMetric": "seismo.metrics.spec",
    "default_metrics": "seismo.metrics.spec",
    "load_metrics_config": "seismo.metrics.spec",
    "Summary": "seismo.metrics.summary",
    "summarize": "seismo.metrics.summary",
    "BatchResult": "seismo.store",
    "Store": "seismo.store",
    "open_store": "seismo.store",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'seismo' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


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
