"""Save-time edge probes: rows beyond the example, scored by Spark and by the graph with the guards.

The parity rows show the graph agrees with Spark where the caller's data lives. The probes ask what
happens at the edges: one valid example row with one input changed at a time to a null, NaN, ±inf, 0
and -0.0, doubles beyond float32's range, the values at and one double step around a Bucketizer's
splits or a Binarizer's threshold, an unseen, empty or non-ASCII string, an empty or longer token
list, a vector with one of those numbers in its first element and NaN, ±inf, 0 and -0.0 in each
other element (the first :data:`MAX_VECTOR_ELEMENTS`), an all-zero vector. Then pairs: two numeric
inputs (or two elements of a vector) changed at once, one to ±inf or NaN and the other to 0, where
Spark's arithmetic is at its least regular (``inf × 0``); and every numeric input 0 at once. Each
probe row gets an outcome on both sides: scored (with values), dropped (null outputs, Spark's
``skip``) or refused (an error). The ONNX side is what the pyfunc does: the recorded input rules,
then the graph (its row checks included), each row alone and all of them in one batch. The Spark
side is the native pipeline on the rows the ONNX side scores or drops (one job; it must not raise),
and each row a graph's row check refuses (it must raise). Any other outcome is a divergence, and a
graph with a divergence is not verified. Rows the input rules refuse are not sent to Spark: both
runtimes apply those rules before scoring. Nor are the rows only the ONNX runtime refuses: a double
beyond float32's range in an input the graph computes with in float32, or in one where the graph,
though in double, diverges from Spark there (the probes then limit that input and run again).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import CategoryRule, Column, NumericRule
from mlflow_sparkonnx.convert.verify import verify_parity
from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.scoring.guards import find_violations, nulls_refused_by_onnx
from mlflow_sparkonnx.scoring.runtimes.base import DROPPED_ROWS
from mlflow_sparkonnx.scoring.runtimes.onnx_runtime import beyond_float32
from mlflow_sparkonnx.scoring.runtimes.spark_runtime import SparkRuntime, first_failing_row
from mlflow_sparkonnx.scoring.schema import coerce_inputs
from mlflow_sparkonnx.sparkml.pipeline import stage_columns

_logger = logging.getLogger(__name__)

#: Strings no fitted stage has seen: made up, empty, and outside ASCII.
PROBE_STRINGS = ("sparkonnx-probe-unseen", "", "Ünïcødé ✓ 東京")
#: At most this many rows a row check refuses are run through Spark alone (one job each).
MAX_REFUSAL_CHECKS = 4
#: Vector elements probed one by one (after the first, which gets every edge value).
MAX_VECTOR_ELEMENTS = 16
#: Numeric inputs (scalar columns, then vector elements) paired with each other in the pair probes.
MAX_PAIRED = 8
#: The pair probes: the first value goes to one input, the second to the other.
PAIR_VALUES = ((math.inf, 0.0), (-math.inf, 0.0), (math.nan, 0.0))
#: Doubles float32 cannot hold: the ONNX runtime refuses them in inputs its graph computes with in
#: float32; elsewhere the graph must give Spark's value for them.
BEYOND_FLOAT32 = (-1e300, -3.5e38, 3.5e38, 1e300)


@dataclass(frozen=True)
class EdgeProbeReport:
    """How many probe rows each side scored, dropped and refused, and the first divergence."""

    rows: int
    scored: int
    dropped: int
    refused: int
    divergence: str | None = None
    #: Inputs the graph keeps double but where it diverges from Spark beyond float32's range (the
    #: cancellations of a FactorizationMachines at 1e38): the ONNX runtime refuses such values there.
    #: Recorded with ``float32_inputs``, not in MLmodel's ``edge_probes``.
    range_limited: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        del record["range_limited"]
        return record


@dataclass(frozen=True)
class _Probe:
    column: str
    value: Any
    #: Other inputs changed in the same row (the pair probes), as (column, value).
    also: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        return ", ".join(f"'{c}' = {v!r}" for c, v in ((self.column, self.value), *self.also))


def probe_rows(base: dict[str, Any], inputs: list[Column], stages: list[Any]) -> list[tuple[_Probe, dict]]:
    """One probe per edge value of each input (``base`` with that one input changed), then the pairs."""
    probes = []
    for column in inputs:
        for value in edge_values(column, stages, base[column.name]):
            probes.append((_Probe(column.name, value), {**base, column.name: value}))
    return probes + pair_probe_rows(base, inputs)


def pair_probe_rows(base: dict[str, Any], inputs: list[Column]) -> list[tuple[_Probe, dict]]:
    """Rows with two numbers changed at once (each ordered pair, each of :data:`PAIR_VALUES`), among
    the first :data:`MAX_PAIRED` numeric inputs and vector elements; and all of them 0 at once."""
    slots: list[tuple[str, int | None]] = [
        (c.name, None) for c in inputs if c.is_numeric and not c.is_integral
    ]
    for column in inputs:
        value = base[column.name]
        if column.spark_type == "vector" and value is not None:
            slots.extend((column.name, k) for k in range(len(value)))
    slots = slots[:MAX_PAIRED]

    def changed(row: dict[str, Any], slot: tuple[str, int | None], value: float) -> dict[str, Any]:
        name, element = slot
        if element is None:
            return {**row, name: value}
        vector = [float(v) for v in row[name]]
        vector[element] = value
        return {**row, name: vector}

    probes = []
    for first in slots:
        for second in slots:
            if first == second:
                continue
            for one, other in PAIR_VALUES:
                row = changed(changed(base, first, one), second, other)
                probe = _Probe(
                    first[0],
                    row[first[0]],
                    also=((second[0], row[second[0]]),) if second[0] != first[0] else (),
                )
                probes.append((probe, row))
    if len(slots) > 1:
        row = base
        for slot in slots:
            row = changed(row, slot, 0.0)
        probes.append(
            (_Probe(slots[0][0], row[slots[0][0]], also=tuple((s[0], row[s[0]]) for s in slots[1:])), row)
        )
    return probes


def edge_values(column: Column, stages: list[Any], example_value: Any) -> list[Any]:
    """The edge values of one input, from its type and the fitted stages that read it."""
    if column.spark_type == "boolean":
        return [None, True, False]
    if column.is_numeric:
        bounds = _bounds_read_from(column.name, stages)
        if column.is_integral:
            near = {
                v for b in bounds for v in (math.floor(b) - 1, math.floor(b), math.ceil(b), math.ceil(b) + 1)
            }
            return [None, 0, -1, *sorted(near)]
        near = {v for b in bounds for v in (np.nextafter(b, -np.inf), b, np.nextafter(b, np.inf))}
        edges = [None, math.nan, math.inf, -math.inf, 0.0, -0.0, *BEYOND_FLOAT32]
        return [*edges, *(float(v) for v in sorted(near))]
    if column.spark_type == "string":
        return [None, *PROBE_STRINGS]
    if column.spark_type == "array<string>":
        longer = [*list(example_value or []), *PROBE_STRINGS]
        return [[], [PROBE_STRINGS[0]], longer]
    if column.spark_type == "vector" and example_value is not None and len(example_value):
        base = [float(v) for v in example_value]
        specials = [math.nan, math.inf, -math.inf, 0.0, -0.0, *BEYOND_FLOAT32]
        rows = [[value, *base[1:]] for value in specials]
        for k in range(1, min(len(base), MAX_VECTOR_ELEMENTS)):
            rows += [[*base[:k], value, *base[k + 1 :]] for value in specials[:5]]
        return rows + [[0.0] * len(base)]
    return []  # other arrays: the example's rows only


def _bounds_read_from(name: str, stages: list[Any]) -> list[float]:
    """Finite split points and thresholds of the Bucketizers and Binarizers reading ``name``."""
    from pyspark.ml.feature import Binarizer, Bucketizer

    bounds: list[float] = []
    for stage in stages:
        inputs = stage_columns(stage).inputs or ()
        if name not in inputs:
            continue
        position = list(inputs).index(name)
        if isinstance(stage, Bucketizer):
            splits = stage.getSplitsArray()[position] if stage.isSet(stage.splitsArray) else stage.getSplits()
            bounds.extend(s for s in splits if math.isfinite(s))
        elif isinstance(stage, Binarizer):
            multi = stage.isSet(stage.thresholds)
            bounds.append(stage.getThresholds()[position] if multi else stage.getThreshold())
    return bounds


def probe_edges(
    pipeline: Any,
    example: pd.DataFrame,
    inputs: list[Column],
    outputs: list[Column],
    onnx_runtime: Any,
    rules: tuple[dict[str, CategoryRule], dict[str, NumericRule], dict[str, str]],
    spark: Any,
) -> EdgeProbeReport:
    """Score the probe rows on both sides and compare outcomes (see the module docstring)."""
    closed, ranges, null_sensitive = rules
    base = {c.name: example[c.name].iloc[0] for c in inputs}
    accepted = []
    for probe, row in probe_rows(base, inputs, list(pipeline.stages)):
        try:  # a value the caller's frame cannot even carry is refused alike by both runtimes
            coerce_inputs(pd.DataFrame([row]), inputs)
        except InvalidInputError:
            continue
        accepted.append((probe, row))
    if not accepted:
        return EdgeProbeReport(rows=0, scored=0, dropped=0, refused=0)
    probes = [p for p, _ in accepted]
    frame = coerce_inputs(pd.DataFrame([r for _, r in accepted]), inputs)

    known = set(onnx_runtime.float32_inputs)
    limited: set[str] = set()
    while True:  # a divergence beyond float32's range limits that input and the probes run again
        report, culprit = _probe_once(
            pipeline, frame, probes, inputs, outputs, onnx_runtime, rules, spark, frozenset(known | limited)
        )
        probe = probes[culprit] if culprit is not None else None
        if probe is None or probe.column in known | limited or not _beyond_float32_value(probe.value):
            return replace(report, range_limited=tuple(c.name for c in inputs if c.name in limited))
        _logger.info("The graph diverges from Spark for %s: that input is limited to float32's range.", probe)
        limited.add(probe.column)


def _probe_once(
    pipeline: Any,
    frame: pd.DataFrame,
    probes: list[_Probe],
    inputs: list[Column],
    outputs: list[Column],
    onnx_runtime: Any,
    rules: tuple[dict[str, CategoryRule], dict[str, NumericRule], dict[str, str]],
    spark: Any,
    limited: frozenset[str],
) -> tuple[EdgeProbeReport, int | None]:
    """One round of the probes; the report, and the position of the probe that diverged (if any)."""
    closed, ranges, null_sensitive = rules
    refused_by_rules, dropped = find_violations(frame, closed, ranges)
    refused = np.zeros(len(frame), dtype=bool)
    for _, mask, _ in refused_by_rules:
        refused |= mask
    for column in nulls_refused_by_onnx(inputs, null_sensitive, ranges):
        refused |= np.isnan(frame[column].to_numpy(dtype="float64"))
    refused |= _beyond_float32(frame, inputs, limited)
    dropped &= ~refused

    refused_by_graph, single_rows = [], []
    for i in np.flatnonzero(~refused & ~dropped):
        try:
            single_rows.append((i, onnx_runtime.predict(frame.iloc[[i]].reset_index(drop=True))))
        except InvalidInputError as exc:
            if exc.onnx_only:  # a row only the graph refuses (a float32 overflow): Spark scores it
                refused[i] = True
            else:
                refused_by_graph.append(i)
        except Exception as exc:  # the graph failing outright: never verified
            failure = f"the ONNX runtime fails on probe row {probes[i].describe()} ({_first_line(exc)})"
            report = EdgeProbeReport(
                len(frame), len(single_rows), int(dropped.sum()), int(refused.sum()), failure
            )
            return report, int(i)
    scored = [i for i, _ in single_rows]
    graph_dropped = _dropped_by_graph(onnx_runtime, frame, scored)
    report = EdgeProbeReport(
        rows=len(frame),
        scored=len(scored) - graph_dropped,
        dropped=int(dropped.sum()) + graph_dropped,
        refused=int(refused.sum()) + len(refused_by_graph),
    )
    divergence = _batch_divergence(frame, scored, single_rows, onnx_runtime, outputs, probes)
    spark_runtime = SparkRuntime(pipeline, inputs, outputs, spark)  # Spark's outputs as the pyfunc gives them
    divergence = divergence or _spark_divergence(
        spark_runtime, frame, scored, np.flatnonzero(dropped), single_rows, outputs, probes
    )
    divergence = divergence or _refusal_divergence(spark_runtime, frame, refused_by_graph, probes)
    if divergence is None:
        return report, None
    message, culprit = divergence
    return replace(report, divergence=message), culprit


def _beyond_float32_value(value: Any) -> bool:
    """True for a probe value (a number, or a vector with an element) beyond float32's range."""
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, float) and bool(beyond_float32(np.float64(v))) for v in values)


def _beyond_float32(frame: pd.DataFrame, inputs: list[Column], float32_inputs: frozenset[str]) -> np.ndarray:
    """Rows the ONNX runtime refuses (and only it): a finite double beyond float32 in a float32 input
    (a number, or an element of a vector)."""
    beyond = np.zeros(len(frame), dtype=bool)
    for column in inputs:
        if column.name not in float32_inputs or column.is_integral:
            continue
        if column.is_numeric:
            values = frame[column.name].to_numpy(dtype="float64").reshape(-1, 1)
        elif column.spark_type == "vector":
            values = np.array([np.asarray(v, dtype="float64") for v in frame[column.name]])
        else:
            continue
        beyond |= beyond_float32(values).any(axis=1)
    return beyond


#: A divergence: what differs, and the position of the probe row it shows on.
_Divergence = tuple[str, int]


def _dropped_by_graph(onnx_runtime: Any, frame: pd.DataFrame, rows: list[int]) -> int:
    """How many of ``rows`` the graph drops (ALS's coldStartStrategy="drop"): null outputs, not scores."""
    if not rows:
        return 0
    part = frame.iloc[rows].reset_index(drop=True)
    runs = onnx_runtime.run_in_batches(part, len(part))
    return int(sum(int(np.sum(raw[DROPPED_ROWS])) for _, raw in runs if DROPPED_ROWS in raw))


def _batch_divergence(frame, scored, single_rows, onnx_runtime, outputs, probes) -> _Divergence | None:
    """The graph must give a row the same values alone and in a batch of mixed rows."""
    if len(scored) < 2:
        return None
    batch = onnx_runtime.predict(frame.iloc[scored].reset_index(drop=True))
    alone = pd.concat([result for _, result in single_rows], ignore_index=True)
    parity = verify_parity(alone, batch, outputs)
    if parity.passed:
        return None
    row, _ = _first_mismatch(parity)
    where = probes[scored[row]].describe()
    return f"the ONNX runtime scores probe row {where} differently alone and in a batch", scored[row]


def _spark_divergence(
    spark_runtime, frame, scored, dropped, single_rows, outputs, probes
) -> _Divergence | None:
    """One Spark job on the rows the ONNX side scores or drops: the same values, the same drops."""
    positions = [*scored, *dropped]
    if not positions:
        return None
    rows = frame.iloc[positions].reset_index(drop=True)
    try:
        spark_result = spark_runtime.predict(rows)
    except Exception as exc:  # Spark failing on a row, in whatever words
        culprit = _first_refused(spark_runtime, rows)
        where = probes[positions[culprit]].describe() if culprit is not None else "one of the probe rows"
        message = f"Spark refuses {where} where the ONNX runtime scores it ({_first_line(exc)})"
        return message, positions[culprit if culprit is not None else 0]
    mismatch = _value_divergence(spark_result.iloc[: len(scored)], single_rows, outputs) if scored else None
    if mismatch is not None:
        row, name, spark_value, onnx_value = mismatch
        message = (
            f"output '{name}' differs from Spark on probe row {probes[scored[row]].describe()} "
            f"(Spark {spark_value!r}, ONNX {onnx_value!r})"
        )
        return message, scored[row]
    for offset, i in enumerate(dropped):
        values = spark_result.iloc[len(scored) + offset]
        if not all(_is_null(v) for v in values):
            where = probes[i].describe()
            return f"Spark scores probe row {where}, which the input rules drop (null outputs)", i
    return None


def _value_divergence(spark_scored, single_rows, outputs) -> tuple[int, str, Any, Any] | None:
    """The first (row, output, Spark's value, ONNX's value) that differs, or None."""
    spark_scored = spark_scored.reset_index(drop=True)
    onnx_scored = pd.concat([result for _, result in single_rows], ignore_index=True)
    parity = verify_parity(spark_scored, onnx_scored, outputs)
    if parity.passed:
        return None
    row, name = _first_mismatch(parity)
    return row, name, spark_scored[name][row], onnx_scored[name][row]


def _refusal_divergence(spark_runtime, frame, refused_by_graph, probes) -> _Divergence | None:
    """Rows a row check of the graph refuses: Spark must raise on each (a few are run, one job each)."""
    for i in refused_by_graph[:MAX_REFUSAL_CHECKS]:
        try:
            spark_runtime.predict(frame.iloc[[i]].reset_index(drop=True))
        except Exception:  # noqa: BLE001 - Spark failing on the row, as the graph does
            continue
        return f"the ONNX runtime refuses probe row {probes[i].describe()}, which Spark scores", i
    return None


def _first_refused(spark_runtime, rows) -> int | None:
    """The first row Spark refuses alone, in whatever words."""

    def failure_in(low: int, high: int) -> BaseException | None:
        try:
            spark_runtime.predict(rows.iloc[low:high].reset_index(drop=True))
        except Exception as exc:  # noqa: BLE001
            return exc
        return None

    found = first_failing_row(failure_in, len(rows))
    return None if found is None else found[0]


def _first_mismatch(parity: Any) -> tuple[int, str]:
    """The first row any output differs on, and that output."""
    return min((o.first_mismatch_row, n) for n, o in parity.outputs.items() if o.mismatched_rows)


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and math.isnan(value)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
