"""Which way is worse: the adverse direction of each metric, named once.

Business rates are worse when they fall (click-through, conversion), except
those that count something bad (returns); model-quality scores are worse when
they fall (accuracy, AUC) or rise (log loss, error); a bias, a calibration
ratio, a mean score or a label's own rate is worse when it moves either way
(which way is bad for a label's rate depends on the label: more defaults is
bad, more sign-ups is good; the model's declarations will say, until then
both are watched).
"""

from __future__ import annotations

__all__ = ["IN_POINTS", "LOWER_IS_BETTER", "TWO_SIDED", "family", "worse_when_up"]

#: Metrics where a higher value is worse: a rise is the adverse direction.
LOWER_IS_BETTER = (
    *("return_rate", "log_loss", "calibration_error", "brier", "mae", "rmse", "mape"),
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


def worse_when_up(metric: str) -> bool:
    """Is a rise of ``metric`` the adverse direction (for a two-sided one: also)?

    >>> worse_when_up("return_rate"), worse_when_up("click_through_rate")
    (True, False)
    >>> worse_when_up("units_bias")
    True
    """
    return metric.endswith(LOWER_IS_BETTER) or metric.endswith(TWO_SIDED)


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
