"""Which way is worse: the adverse direction of each metric, named once.

Business rates are worse when they fall (click-through, conversion), except
those that count something bad (returns); model-quality scores are worse when
they fall (accuracy, AUC) or rise (log loss, error); a bias, a calibration
ratio, a mean score or a label's own rate is worse when it moves either way
(which way is bad for a label's rate depends on the label: more defaults is
bad, more sign-ups is good).

Which way a business rate is worse is the model's to declare, in
``[words.better]`` (see :mod:`seismo.words`): a metric name, or an outcome for
every rate of that outcome, mapped to ``higher``, ``lower`` or ``either``
(``return = "lower"``: more returns is bad news). Undeclared, a rate is worse
when it falls and a label's own rate is watched both ways.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "IN_POINTS",
    "LOWER_IS_BETTER",
    "TWO_SIDED",
    "declared",
    "family",
    "two_sided",
    "worse_when_up",
]

#: Metrics where a higher value is worse: a rise is the adverse direction.
LOWER_IS_BETTER = (
    *("log_loss", "calibration_error", "brier", "mae", "rmse", "mape"),
    # a ranker's exposure concentrating on few, popular entries
    *("exposure_gini", "popular_exposure_share"),
)
#: Metrics that are worse when they move either way (away from no bias, from calibration).
TWO_SIDED = ("bias", "calibration_in_the_large", "mean_score", "positive_rate", "position_lift")
#: Bounded model-quality scores whose change matters in points, whatever their level:
#: an accuracy of 0.92 falling to 0.89 is news, though only 3% of it.
IN_POINTS = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc")
_MODEL = (*IN_POINTS, "log_loss", "brier", "mae", "rmse", "mape", "bias")
_CALIBRATION = ("calibration_error", "calibration_in_the_large", "mean_score")
#: A ranker's ranking metrics (:mod:`seismo.metrics.ranking`), by a part of their name.
_RANKING = (
    *("ndcg_at_", "mrr_at_", "precision_at_", "hit_rate_at_", "_rate_at_position_"),
    *("_position_lift", "catalog_coverage", "exposure_gini", "popular_exposure_share", "novelty"),
)


_NONE: Mapping[str, str] = {}


def declared(metric: str, better: Mapping[str, str] = _NONE) -> str | None:
    """The declared way ``metric`` is better (``higher``, ``lower``, ``either``), if any.

    A metric's own name wins; an outcome's declaration covers the business
    rates read from it (``return`` covers ``return_rate``, ``default_90d``
    covers ``default_90d_positive_rate``), never the model's scores on it.

    >>> better = {"return": "lower", "default_90d": "lower"}
    >>> declared("return_rate", better), declared("default_90d_accuracy", better)
    ('lower', None)
    """
    if metric in better:
        return better[metric]
    if family(metric) != "business":
        return None
    outcomes = [o for o in better if metric.startswith(f"{o}_")]
    return better[max(outcomes, key=len)] if outcomes else None


def worse_when_up(metric: str, better: Mapping[str, str] = _NONE) -> bool:
    """Is a rise of ``metric`` the adverse direction (for a two-sided one: also)?

    >>> worse_when_up("return_rate", {"return": "lower"}), worse_when_up("click_through_rate")
    (True, False)
    >>> worse_when_up("units_bias")
    True
    """
    way = declared(metric, better)
    if way is not None:
        return way != "higher"
    return metric.endswith(LOWER_IS_BETTER) or metric.endswith(TWO_SIDED)


def two_sided(metric: str, better: Mapping[str, str] = _NONE) -> bool:
    """Is ``metric`` worse when it moves either way?

    >>> rate = "default_90d_positive_rate"
    >>> two_sided(rate), two_sided(rate, {"default_90d": "lower"})
    (True, False)
    """
    way = declared(metric, better)
    return way == "either" if way is not None else metric.endswith(TWO_SIDED)


def family(metric: str) -> str:
    """``model`` (the model's own quality), ``calibration``, ``ranking`` or ``business``.

    ``business`` is a rate or amount; ``ranking`` how a ranker orders and
    spreads what it serves (NDCG, position bias, coverage...).

    >>> family("default_90d_accuracy"), family("click_calibration_in_the_large")
    ('model', 'calibration')
    >>> family("return_rate"), family("ndcg_at_10"), family("click_position_lift")
    ('business', 'ranking', 'ranking')
    """
    if any(part in metric for part in _RANKING):
        return "ranking"
    if metric.endswith(_CALIBRATION):
        return "calibration"
    if metric.endswith(_MODEL):
        return "model"
    return "business"
