"""The engine side of the metrics: per-hour cohort aggregates, kept as stored state.

For each metric pass (an outcome and its population), one query turns raw
predictions and outcomes into counts per

    served hour × model version × segment cell × delay stratum
    × condition hour × observation hour × kind (pop / pos / neg)

with ``GROUPING SETS`` producing the aggregate and every segment attribute in
one scan. These counts do not depend on the moment the metrics are asked for:
*as of T* is applied afterwards, on this small table (an outcome counts if it
was observed before T; a pending row's age is T minus its anchor hour). That
is what makes the state incremental: new predictions or late outcomes change
the counts of exactly the days their predictions were served on, and only
those days are recomputed (see :func:`refresh`).

Count windows (``every`` N predictions, :class:`~seismo.metrics.windows.Windows`)
cut hours apart, so they are read from a second state table, ``metric_chunks``:
the same counts with each row's chunk as one more dimension, built for one N
at a time and rebuilt whole when N or the stored batches change.

The row-level part is written once in Ibis and compiled for the engine in
use; the grouping-sets wrapper is standard SQL understood by DuckDB,
PostgreSQL and Spark alike.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis

from seismo.config import NEGATIVE_LABELS, POSITIVE_LABELS, OutcomeType
from seismo.errors import ConfigError
from seismo.metrics.classification import SCORE_BINS
from seismo.metrics.naming import PAIR_SEP
from seismo.metrics.spec import MetricsConfig
from seismo.metrics.windows import Windows, chunk_number
from seismo.store.engine import Engine, quote
from seismo.store.read import Store

__all__ = [
    "AGGREGATE",
    "CHUNK_TABLE",
    "SCORE_BINS",
    "STATE_TABLE",
    "choose_pairs",
    "cohort_state",
    "refresh",
    "segment_labels",
]

STATE_TABLE = "metric_cohorts"
#: The state of count windows: the same columns and a ``chunk`` (see the module).
CHUNK_TABLE = "metric_chunks"
#: The attribute / value of the aggregate (all rows) cell.
AGGREGATE = "*"
MISSING = "(missing)"
#: A pair of segment attributes is watched when it has at most this many cells.
MAX_PAIR_CELLS = 100

_STATE_COLUMNS = {
    "pass_key": "VARCHAR",
    "served_hour": "TIMESTAMP",
    "served_day": "DATE",
    "model_version": "VARCHAR",
    "attribute": "VARCHAR",
    "value": "VARCHAR",
    "stratum": "VARCHAR",
    "cond_hour": "TIMESTAMP",
    "obs_hour": "TIMESTAMP",
    "sup_hour": "TIMESTAMP",
    "kind": "VARCHAR",
    "n": "BIGINT",
    "w": "DOUBLE PRECISION",
    "w2": "DOUBLE PRECISION",
}
#: Sums kept for model-quality passes (score bins and errors), NULL for rate passes:
#: score, its square, log(score), log(1 - score) and their squares; error, |error|,
#: error², error⁴, |error| / |y|, its square, and the count of rows with y != 0.
QUALITY_SUMS = ("s", "s2", "ls", "l1s", "ls2", "l1s2", "e", "e1", "e2", "e4", "ep", "ep2", "npct")
_STATE_COLUMNS.update(dict.fromkeys(QUALITY_SUMS, "DOUBLE PRECISION"))
#: How a classification pass's ``stratum`` encodes a row: score bin + SCORE_BINS × slot,
#: slot 0 = no decision served, 1 = served negative, 2 = served positive.
DECISION_SLOTS = ("none", "negative", "positive")
_STATE_ENCODING = "score-bin+decision-slot|rated-quality-without-pairs"
_CLIP = 1e-15


def quality_key(outcome: str) -> str:
    return f"quality:{outcome}"


def _passes(config: MetricsConfig) -> dict[str, tuple[str, str | None, str | None]]:
    """Distinct engine passes: key -> (outcome, given, weight column)."""
    passes: dict[str, tuple[str, str | None, str | None]] = {}
    for m in config.metrics:
        known = passes.get(m.key)
        weight = m.weight or (known[2] if known else None)
        if known and known[2] and m.weight and known[2] != m.weight:
            raise ConfigError(f"metrics on {m.key!r} use two weight columns; use one")
        passes[m.key] = (m.outcome, m.given, weight)
    return passes


def _ceil_hour(ts: Any) -> Any:
    """The hour boundary at or after ``ts``: an outcome observed at 10:20 is known by 11:00.

    Observation hours round *up* so that "observed by the cut-off hour C" is
    exactly ``ceil(observed_at) <= C``; served hours round down.
    """
    return (ts - ibis.interval(microseconds=1)).truncate("h") + ibis.interval(hours=1)


def _versions(store: Store, outcome: str, has_corrections: bool) -> Any:
    """Every stored version of ``outcome`` with the hour it was superseded (if ever)."""
    o = store.table("outcomes")
    o = o.filter(o.outcome_type == outcome)
    if has_corrections:
        w = ibis.window(group_by=o.prediction_id, order_by=[o.observed_at, o.event_time])
        o = o.mutate(superseded=o.observed_at.lead().over(w))
    else:
        o = o.mutate(superseded=ibis.null("timestamp"))
    return o.select("prediction_id", "value", "observed_at", "superseded")


def _condition(store: Store, outcome: str) -> Any:
    """When each prediction's ``outcome`` first happened (its first positive observation)."""
    o = store.table("outcomes")
    o = o.filter((o.outcome_type == outcome) & (o.value > 0))
    return o.group_by(o.prediction_id.name("cond_pid")).aggregate(cond_at=o.observed_at.min())


def decision_slot(label: Any, positive: tuple[str, ...]) -> Any:
    """The served decision of a label column, as a slot of :data:`DECISION_SLOTS`.

    ``positive``: the labels declared positive (every other value is then
    negative); empty reads ``1/true/yes/positive`` as positive and
    ``0/false/no/negative`` as negative. An empty label, or one the store
    holds from before labels were checked and that reads as neither, is slot
    0: no decision served.
    """
    text = label.strip().lower()
    if positive:
        yes, no = text.isin(list(positive)), text.notnull() & ~text.isin(list(positive))
    else:
        yes, no = text.isin(list(POSITIVE_LABELS)), text.isin(list(NEGATIVE_LABELS))
    return ibis.cases((yes, 2), (no, 1), else_=0)


def _row_level(
    store: Store,
    *,
    outcome: str,
    condition: str | None,
    weight: str | None,
    segments: list[str],
    strata: str | None,
    days: list[date] | None,
    has_corrections: bool,
    quality: str | None = None,
    positive_labels: tuple[str, ...] = (),
    every: int | None = None,
) -> Any:
    """One row per population member (kind 'pop') and per outcome version ('pos'/'neg').

    ``quality``: None for a rate pass; "classification" or "regression" for a
    model-quality pass, whose members are the scored predictions, binned by
    score and by served decision (classification, see :data:`DECISION_SLOTS`)
    and carrying the sums the quality metrics need. ``every``: each row also
    carries its prediction's ``chunk`` (numbered over all predictions, before
    a quality pass keeps the scored ones).
    """
    p = store.table("predictions")
    if every is not None:
        p = p.mutate(chunk=chunk_number(p, every))
    if days is not None:
        p = p.filter(p.served_at.date().isin(days))
    if quality is not None:
        p = p.filter(p.score.notnull())
    cols = {
        "pid": p.prediction_id,
        "served_hour": p.served_at.truncate("h"),
        "served_day": p.served_at.date(),
        "model_version": p.model_version,
        "stratum": (
            p[strata].cast("string").fill_null(MISSING) if strata else ibis.literal(AGGREGATE)
        ),
        "w": p[weight].cast("float64").fill_null(0.0) if weight else ibis.literal(1.0),
    }
    if every is not None:
        cols["chunk"] = p.chunk
    for s in segments:
        cols[f"seg_{s}"] = p[s].cast("string").fill_null(MISSING)
    if quality == "classification":
        clipped = p.score.clip(_CLIP, 1.0 - _CLIP)
        # floor(s * B) can land one bin off at an edge (0.57 * 100 = 56.99...): the bin is
        # the b with b / B <= s < (b + 1) / B, so "bin >= k" is exactly "s >= k / B".
        raw = (p.score * SCORE_BINS).floor()
        up = ibis.ifelse(p.score >= (raw + 1) / SCORE_BINS, 1, 0)
        down = ibis.ifelse(p.score < raw / SCORE_BINS, 1, 0)
        score_bin = ibis.least(ibis.greatest(raw + up - down, 0), SCORE_BINS - 1).cast("int64")
        slot = decision_slot(p.label, positive_labels)
        cols["stratum"] = (score_bin + SCORE_BINS * slot).cast("string")
        cols["s"], cols["s2"] = p.score, p.score * p.score
        cols["ls"], cols["l1s"] = clipped.ln(), (1.0 - clipped).ln()
        cols["ls2"], cols["l1s2"] = cols["ls"] * cols["ls"], cols["l1s"] * cols["l1s"]
    else:
        for name in ("s", "s2", "ls", "l1s", "ls2", "l1s2"):
            cols[name] = ibis.null("float64")
    cols["score"] = p.score
    base = p.select(**cols)
    if condition is not None:
        cond = _condition(store, condition)
        base = base.join(cond, base.pid == cond.cond_pid).drop("cond_pid")
        base = base.mutate(cond_hour=_ceil_hour(base.cond_at)).drop("cond_at")
    else:
        base = base.mutate(cond_hour=ibis.null("timestamp"))
    keep = [c for c in base.columns if c not in ("pid", "score")]
    no_error = {name: ibis.null("float64") for name in ("e", "e1", "e2", "e4", "ep", "ep2", "npct")}
    pop = base.select(
        *keep,
        obs_hour=ibis.null("timestamp"),
        sup_hour=ibis.null("timestamp"),
        kind=ibis.literal("pop"),
        **no_error,
    )
    versions = _versions(store, outcome, has_corrections)
    joined = base.join(versions, base.pid == versions.prediction_id)
    errors = no_error
    if quality == "regression":
        err = joined.score - joined.value
        nonzero = joined.value != 0
        pct = ibis.ifelse(nonzero, err.abs() / joined.value.abs(), ibis.null("float64"))
        errors = {
            "e": err,
            "e1": err.abs(),
            "e2": err * err,
            "e4": (err * err) * (err * err),
            "ep": pct,
            "ep2": pct * pct,
            "npct": ibis.ifelse(nonzero, 1.0, 0.0),
        }
    outs = joined.select(
        *keep,
        obs_hour=_ceil_hour(joined.observed_at),
        sup_hour=_ceil_hour(joined.superseded),
        kind=ibis.ifelse(joined.value > 0, "pos", "neg"),
        **errors,
    )
    return pop.union(outs)


def segment_labels(
    columns: list[str], names: list[str], pairs: list[tuple[int, int]] | None = None
) -> tuple[str, str]:
    """SQL naming each ``GROUPING SETS`` row's segment: (attribute, value).

    ``columns`` are the quoted segment columns of the grouped rows and
    ``names`` the attributes they stand for; ``pairs`` (indexes into both) the
    pairs grouped together, named ``a × b`` with values ``x × y``
    (:data:`~seismo.metrics.naming.PAIR_SEP`). A row grouped by none of them
    is the aggregate (``*``, ``*``).

    >>> attribute, value = segment_labels(['"s0"'], ["age_group"])
    >>> print(attribute)
    CASE WHEN GROUPING("s0") = 0 THEN 'age_group' ELSE '*' END
    >>> print(value)
    COALESCE("s0", '*')
    >>> attribute, value = segment_labels(['"a"', '"b"'], ["age", "region"], [(0, 1)])
    >>> print(value.replace(" ELSE", "\\n ELSE"))
    CASE WHEN GROUPING("a") = 0 AND GROUPING("b") = 0 THEN "a" || ' × ' || "b"
     ELSE COALESCE("a", "b", '*') END
    """
    if not columns:
        return f"'{AGGREGATE}'", f"'{AGGREGATE}'"

    def lit(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    both = {
        (i, j): f"GROUPING({columns[i]}) = 0 AND GROUPING({columns[j]}) = 0" for i, j in pairs or []
    }
    cases = [f"WHEN {c} THEN {lit(names[i] + PAIR_SEP + names[j])}" for (i, j), c in both.items()]
    cases += [f"WHEN GROUPING({c}) = 0 THEN {lit(n)}" for c, n in zip(columns, names, strict=True)]
    attribute = f"CASE {' '.join(cases)} ELSE '{AGGREGATE}' END"
    value = f"COALESCE({', '.join(columns)}, '{AGGREGATE}')"
    if both:
        joined = [
            f"WHEN {c} THEN {columns[i]} || {lit(PAIR_SEP)} || {columns[j]}"
            for (i, j), c in both.items()
        ]
        value = f"CASE {' '.join(joined)} ELSE {value} END"
    return attribute, value


def choose_pairs(
    store: Store, segments: list[str], limit: int = MAX_PAIR_CELLS
) -> list[tuple[str, str]]:
    """Pairs of segment attributes worth watching: every pair with at most ``limit`` cells.

    A pair of two attributes with 5 values each is 25 cells; a store id with
    800 values crossed with anything is not an intersection people read. A
    pair where one attribute decides the other (each store lies in one
    region) has no cell of its own: "store S07 in west" is store S07, so it
    is left out.
    """
    if len(segments) < 2:
        return []
    p = store.predictions()
    text = {s: p[s].cast("string").fill_null(MISSING) for s in segments}
    candidates = [(a, b) for i, a in enumerate(segments) for b in segments[i + 1 :]]
    counts = p.aggregate(
        **{f"n{i}": text[s].nunique() for i, s in enumerate(segments)},
        **{
            f"p{k}": (text[a] + PAIR_SEP + text[b]).nunique() for k, (a, b) in enumerate(candidates)
        },
    )
    row = counts.to_pyarrow().to_pylist()[0]
    size = {s: int(row[f"n{i}"] or 0) for i, s in enumerate(segments)}
    return [
        (a, b)
        for k, (a, b) in enumerate(candidates)
        if size[a] * size[b] <= limit and int(row[f"p{k}"] or 0) > max(size[a], size[b])
    ]


def _grouping_sql(
    engine: Engine,
    rows_sql: str,
    pass_key: str,
    segments: list[str],
    pairs: list[tuple[str, str]],
    chunked: bool = False,
) -> str:
    """Aggregate the row-level query for the aggregate, each segment and each pair in one scan."""
    dims = [
        *(["chunk"] if chunked else []),
        "served_hour",
        "served_day",
        "model_version",
        "stratum",
        "cond_hour",
        "obs_hour",
        "sup_hour",
        "kind",
    ]
    dim_sql = ", ".join(quote(d) for d in dims)
    segs = [quote(f"seg_{s}") for s in segments]
    index = [(segments.index(a), segments.index(b)) for a, b in pairs]
    sets = ", ".join(
        [f"({dim_sql})"]
        + [f"({dim_sql}, {s})" for s in segs]
        + [f"({dim_sql}, {segs[i]}, {segs[j]})" for i, j in index]
    )
    attribute, value = segment_labels(segs, segments, index)
    key = "'" + pass_key.replace("'", "''") + "'"
    sums = ", ".join(f"SUM({q}) AS {q}" for q in QUALITY_SUMS)
    chunk = ", chunk" if chunked else ""
    return (
        f"SELECT {key} AS pass_key, served_hour, served_day, model_version,"
        f" {attribute} AS attribute, {value} AS value, stratum, cond_hour, obs_hour, sup_hour,"
        f" kind, COUNT(*) AS n, SUM(w) AS w, SUM(w * w) AS w2, {sums}{chunk}"
        f" FROM ({rows_sql}) AS r GROUP BY GROUPING SETS ({sets})"
    )


def cohort_state(store: Store, windows: Windows) -> tuple[Any, Any]:
    """The stored state ``windows`` are read from, and the window key of each of its rows."""
    if windows.every is None:
        s = store.table(STATE_TABLE)
        return s, s.served_hour.truncate(windows.unit)
    s = store.table(CHUNK_TABLE)
    return s, s.chunk


def _columns(every: int | None) -> dict[str, str]:
    return _STATE_COLUMNS if every is None else {**_STATE_COLUMNS, "chunk": "BIGINT"}


def create_state(engine: Engine, every: int | None = None) -> None:
    """Create the state table (the chunk state with ``every``) if it is not there."""
    table = STATE_TABLE if every is None else CHUNK_TABLE
    cols = ", ".join(f"{quote(c)} {t}" for c, t in _columns(every).items())
    engine.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")


def compute_into_state(
    store: Store,
    config: MetricsConfig,
    types: dict[str, OutcomeType],
    segments: list[str],
    days: list[date] | None,
    pairs: list[tuple[str, str]] | None = None,
    every: int | None = None,
) -> None:
    """Recompute the state rows of ``days`` (all days when None) inside the caller's transaction.

    ``every``: the chunk state of count windows of that many predictions (all days).
    """
    engine = store.engine
    has_corrections = _has_corrections(engine)
    p = engine.param()
    table = STATE_TABLE if every is None else CHUNK_TABLE
    if days is None:
        engine.execute(f"DELETE FROM {table}")
    else:
        for day in days:
            engine.execute(f"DELETE FROM {table} WHERE served_day = {p}", (day,))
    cols = ", ".join(quote(c) for c in _columns(every))
    # (key, outcome, condition, weight, strata, quality): one engine pass each.
    jobs: list[tuple[str, str, str | None, str | None, str | None, str | None]] = []
    for key, (outcome, given, weight) in _passes(config).items():
        parent = types[outcome].parent
        if parent and given:
            raise ConfigError(f"{outcome!r} already counts per {parent!r}; drop 'given'")
        jobs.append((key, outcome, parent or given, weight, config.delay_strata, None))
    for outcome in config.quality:
        kind = "regression" if types[outcome].kind == "value" else "classification"
        jobs.append((quality_key(outcome), outcome, None, None, None, kind))
    positive = store.positive_labels()
    if engine.kind == "duckdb":
        # The state's row order means nothing (every read groups it): letting DuckDB insert
        # in any order saves it a sort of millions of rows.
        engine.execute("SET preserve_insertion_order = false")
    rated = {outcome for _, outcome, _, _, _, quality in jobs if quality is None}
    try:
        for key, outcome, condition, weight, strata, quality in jobs:
            expr = _row_level(
                store,
                outcome=outcome,
                condition=condition,
                weight=weight,
                segments=segments,
                strata=strata,
                days=days,
                has_corrections=has_corrections,
                quality=quality,
                positive_labels=positive,
                every=every,
            )
            rows_sql = ibis.to_sql(expr, dialect=engine.kind)
            # The quality of an outcome whose rate is kept too (a recommender's clicks) is kept
            # per segment, not per pair: its rate per pair shows an intersection's trouble,
            # and a hundred score bins per pair cell would make the state larger than the data.
            # A classifier's label or a regressor's value has no rate pass: its pairs stay.
            kept = [] if quality is not None and outcome in rated else pairs or []
            engine.execute(
                f"INSERT INTO {table} ({cols}) "
                + _grouping_sql(engine, rows_sql, key, segments, kept, every is not None)
            )
    finally:
        if engine.kind == "duckdb":
            engine.execute("RESET preserve_insertion_order")


def _has_corrections(engine: Engine) -> bool:
    rows = engine.query("SELECT value FROM seismo_meta WHERE key = 'outcome_corrections'")
    return bool(rows and rows[0][0] == "1")


def refresh(
    store: Store, config: MetricsConfig, types: dict[str, OutcomeType], every: int | None = None
) -> list[date] | None:
    """Bring the stored state up to date; return the days recomputed (None = all).

    The state remembers the last batch it has seen and the configuration it
    was built for; a different configuration rebuilds it from scratch.
    ``every``: the chunk state of count windows of that many predictions is
    brought up to date too (rebuilt whole when N or the stored batches changed).
    """
    days = _refresh(store, config, types, None)
    if every is not None:
        _refresh(store, config, types, every)
    return days


def _refresh(
    store: Store, config: MetricsConfig, types: dict[str, OutcomeType], every: int | None
) -> list[date] | None:
    engine = store.engine
    segments = list(config.segments) if config.segments is not None else store.segments()
    pairs = choose_pairs(store, segments) if config.pairs is None else list(config.pairs)
    # A new state layout or encoding, or another reading of served labels, means a rebuild.
    layout = f"{','.join(_columns(every))}|{_STATE_ENCODING}|{','.join(store.positive_labels())}"
    fingerprint = f"{config.fingerprint()}|{','.join(segments)}|{pairs}|{layout}"
    if every is not None:
        fingerprint += f"|every={every}"
    prefix = "metric_state" if every is None else "metric_chunks"
    if _up_to_date(engine, fingerprint, prefix):
        return []
    p = engine.param()
    # Read what is new under the writers' lock (see Engine.transaction): a refresh running
    # beside another, or beside an ingest, counts every committed batch exactly once.
    with engine.transaction():
        create_state(engine, every)
        meta, newest = _position(engine, prefix)
        last = int(meta.get(f"{prefix}_seq", "0"))
        stale = meta.get(f"{prefix}_config") != fingerprint
        if not stale and newest == last:
            return []
        days: list[date] | None = None
        if stale or every is not None:  # chunk numbers run over every day: rebuild them all
            engine.execute(f"DROP TABLE IF EXISTS {STATE_TABLE if every is None else CHUNK_TABLE}")
            create_state(engine, every)
        else:
            rows = engine.query(
                f"SELECT DISTINCT served_day FROM changes WHERE seq > {p} ORDER BY served_day",
                (last,),
            )
            days = [r[0] for r in rows]
        compute_into_state(store, config, types, segments, days, pairs, every)
        for key, value in ((f"{prefix}_seq", str(newest)), (f"{prefix}_config", fingerprint)):
            engine.execute(f"DELETE FROM seismo_meta WHERE key = {p}", (key,))
            engine.execute(f"INSERT INTO seismo_meta (key, value) VALUES ({p}, {p})", (key, value))
    return days


def _position(engine: Engine, prefix: str = "metric_state") -> tuple[dict[str, str], int]:
    """What the state records of itself (``metric_state_*``), and the newest batch stored."""
    p = engine.param()
    rows = engine.query(f"SELECT key, value FROM seismo_meta WHERE key LIKE {p}", (f"{prefix}_%",))
    meta = {str(k): str(v) for k, v in rows}
    newest = int(engine.query("SELECT COALESCE(MAX(seq), 0) FROM changes")[0][0])
    return meta, newest


def _up_to_date(engine: Engine, fingerprint: str, prefix: str = "metric_state") -> bool:
    """Is the state built for this configuration and every stored batch (no lock taken)?"""
    meta, newest = _position(engine, prefix)
    same = meta.get(f"{prefix}_config") == fingerprint
    return same and newest == int(meta.get(f"{prefix}_seq", "0"))
