"""seismo: monitor machine-learning models in production when the truth arrives late.

The public API, re-exported here; implementation modules follow the pipeline
``ingest → store → metrics → detect → alerts → present`` (plus ``simulate``).
"""

from __future__ import annotations

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
