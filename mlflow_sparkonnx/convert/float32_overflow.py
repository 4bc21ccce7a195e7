"""Rows where a stage's float32 arithmetic overflows: the ONNX runtime refuses them, Spark scores them.

Spark computes in double. Many converters compute in float32 (onnxmltools' scalers and linear models,
ours where the downstream operators need it), so a value within float32's range can still overflow
inside the graph: 3e38 through a StandardScaler whose standard deviation is below 1 is an infinity
here and a finite double in Spark, and whatever reads it (a linear model, a tree) then differs.

After conversion, each stage with arithmetic gets a check on its floating output columns: a row
where an output holds an infinity or a NaN while every floating input of the stage is finite
overflowed in the graph (with finite inputs Spark's double result is finite for these stages), so
the ONNX runtime refuses it (:class:`~mlflow_sparkonnx.contract.RowCheck` with
``action="onnx_only"``), naming the column and row; the Spark runtime scores it. Stages that keep
their input's shape (the scalers, ElementwiseProduct) are checked element by element, so a NaN in
one element does not hide an overflow in another. An input the graph no longer holds (a dense
vector the sparse rewrite removed) is replaced by the inputs of the stage that wrote it. Checks are
ordered by stage, so on a row both refuse, the earlier stage's check names it.

Not checked: stages that only copy, select or compare values, stages computing exactly in double
(trees, isotonic regression, LSH, PolynomialExpansion, SQL), and ALS (whose NaN for an unknown id is
Spark's). Known gaps: a reduction (a linear model's margin) over a row that already holds a NaN or
an infinity is not checked, nor is a stage whose only output is an integer label computed from
float32 margins (a LogisticRegression with ``probabilityCol`` and ``rawPredictionCol`` unset).
"""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.contract import RowCheck
from mlflow_sparkonnx.convert.float32_inputs import MAGNITUDE_FREE, narrows

#: Stages that move, select, compare or encode values without arithmetic that could overflow, or whose
#: Spark output is non-finite for finite inputs (ALS's NaN for an unknown id), or that compute in double.
_NOT_CHECKED = {
    "VectorAssembler",
    "VectorSizeHint",
    "VectorSlicer",
    "VectorIndexerModel",
    "ChiSqSelectorModel",
    "UnivariateFeatureSelectorModel",
    "VarianceThresholdSelectorModel",
    "OneHotEncoderModel",
    "StringIndexerModel",
    "IndexToString",
    "Bucketizer",
    "Binarizer",
    "ImputerModel",
    "ALSModel",
    "SQLTransformer",
    "DecisionTreeClassificationModel",
    "DecisionTreeRegressionModel",
    "RandomForestClassificationModel",
    "RandomForestRegressionModel",
    "GBTClassificationModel",
    "GBTRegressionModel",
    "IsotonicRegressionModel",
    "MinHashLSHModel",
    "BucketedRandomProjectionLSHModel",
    "PolynomialExpansion",
}
#: Stages whose output has their input's shape, element for element.
_ELEMENTWISE = {
    "StandardScalerModel",
    "MinMaxScalerModel",
    "MaxAbsScalerModel",
    "RobustScalerModel",
    "ElementwiseProduct",
}
_WHY = "the value overflows float32, in which the graph computes (Spark computes in double)"


def add_overflow_checks(model: Any, stages: list[tuple[Any, Any]], row_checks: list[RowCheck]) -> None:
    """Add an ``onnx_only`` row check (a graph output and a :class:`RowCheck`) per float32 stage.

    ``stages``: each stage with its ``StageColumns`` (``sparkml.pipeline.stage_columns``).
    """
    import onnx
    from onnx import TensorProto

    graph = model.graph
    candidates = [s for s, _ in stages if type(s).__name__ not in _NOT_CHECKED]
    columns = {s.uid: c for s, c in stages}
    # The stage writing each column (a stage rewriting its own input in place, VectorSizeHint, is none).
    written_from = {out: c.inputs for _, c in stages for out in c.outputs if out not in (c.inputs or ())}
    names = {n for c in columns.values() for n in (*(c.inputs or ()), *c.outputs)}
    types = _tensor_types(model, names) if candidates else {}
    producers, consumers = _graph_maps(graph)  # of the converted graph, before any check is added
    reached = _reached_from_numbers(graph, consumers)
    builder = _Builder(graph, _opset(model))
    for stage in candidates:
        own_inputs = columns[stage.uid].inputs
        inputs = _held_inputs(own_inputs, types, written_from, set())
        if inputs is None:
            continue
        replaced = list(inputs) != list(own_inputs or ())
        floating_inputs = [n for n in inputs if types[n] in _FLOATING and n in reached]
        outputs = [
            n
            for n in columns[stage.uid].outputs
            if types.get(n) in _FLOATING and n in reached and n not in inputs
        ]
        if not floating_inputs or not outputs:
            continue
        if all(types[n] != _FLOAT for n in outputs) and (
            replaced or not _computes_in_float32(producers, consumers, inputs, outputs)
        ):
            # Double outputs computed in double: an infinity there is Spark's too (exp overflow). With
            # inputs replaced by an earlier stage's, that stage's float32 nodes would count: not checked.
            continue
        if (
            type(stage).__name__ in _ELEMENTWISE
            and not replaced
            and len(floating_inputs) == len(outputs) == 1
        ):
            overflowed = builder.new_nonfinite(outputs[0], floating_inputs[0])
        else:
            overflowed = builder.both(builder.any_nonfinite(outputs), builder.none(floating_inputs))
        name = f"sparkonnx_row_check_overflow_{len(row_checks)}"
        builder.add("Identity", [overflowed], name)
        graph.output.append(onnx.helper.make_tensor_value_info(name, TensorProto.BOOL, [None]))
        stage_name = f"{type(stage).__name__} (uid {stage.uid})"
        row_checks.append(
            RowCheck(output=name, stage=stage_name, column=outputs[0], why=_WHY, action="onnx_only")
        )
    _order_by_stage(row_checks, [s for s, _ in stages])


def _graph_maps(graph: Any) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Each tensor's producing node, and each tensor's consuming nodes."""
    producers: dict[str, Any] = {}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.output:
            producers[name] = node
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producers, consumers


def _computes_in_float32(
    producers: dict[str, Any], consumers: dict[str, list[Any]], inputs: list[str], outputs: list[str]
) -> bool:
    """Whether a node between ``inputs`` and ``outputs`` computes in float32 (OneVsRest's children)."""
    downstream = _walk(inputs, lambda name: consumers.get(name, ()), lambda node: node.output)
    upstream = {
        id(node)
        for node in _walk(
            outputs, lambda name: [producers[name]] if name in producers else (), lambda n: n.input
        )
    }
    return any(narrows(node) for node in downstream if id(node) in upstream)


def _walk(start: list[str], step: Any, onward: Any) -> list[Any]:
    """The nodes reached from tensors ``start``: ``step`` gives a tensor's next nodes, ``onward`` a
    node's next tensors."""
    seen_tensors, seen_nodes, found, pending = set(start), set(), [], list(start)
    while pending:
        for node in step(pending.pop()):
            if id(node) in seen_nodes:
                continue
            seen_nodes.add(id(node))
            found.append(node)
            for name in onward(node):
                if name and name not in seen_tensors:
                    seen_tensors.add(name)
                    pending.append(name)
    return found


def _held_inputs(
    inputs: tuple[str, ...] | None, types: dict[str, str], written_from: dict[str, Any], visited: set[str]
) -> list[str] | None:
    """``inputs`` as tensors the graph holds: one it no longer holds stands for the inputs of the stage
    that wrote it (recursively); None when that cannot be told."""
    if inputs is None:
        return None
    held: list[str] = []
    for name in inputs:
        if name in types:
            held.append(name)
            continue
        if name in visited:
            return None
        visited.add(name)
        upstream = _held_inputs(written_from.get(name), types, written_from, visited)
        if upstream is None:
            return None
        held.extend(n for n in upstream if n not in held)
    return held


def _order_by_stage(row_checks: list[RowCheck], stages: list[Any]) -> None:
    """Sort the checks by their stage's position (stable): on a row several refuse, the runtime names
    the earliest stage's. A check of a stage not in ``stages`` (RFormula's internal stages) keeps the
    position of the check before it."""
    position = {f"(uid {s.uid})": i for i, s in enumerate(stages)}
    keys, last = [], -1
    for check in row_checks:
        found = next((i for tag, i in position.items() if check.stage.endswith(tag)), None)
        last = found if found is not None else last
        keys.append(last)
    order = sorted(range(len(row_checks)), key=lambda i: (keys[i], i))
    row_checks[:] = [row_checks[i] for i in order]


def _tensor_types(model: Any, names: set[str]) -> dict[str, str]:
    """onnxruntime's type (``"tensor(float)"``...) of each of ``names`` the graph produces.

    Asked of onnxruntime (the tensors made the outputs of a copy of the graph): onnx's own shape
    inference crashes the interpreter on some string graphs (measured, onnx 1.17-1.19).
    """
    import onnx
    import onnxruntime

    produced = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    wanted = sorted(n for n in names if n in produced)
    if not wanted:
        return {}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in wanted)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(
        probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return {o.name: o.type for o in session.get_outputs()}


def _reached_from_numbers(graph: Any, consumers: dict[str, list[Any]]) -> set[str]:
    """Tensors that carry the magnitude of a numeric graph input (stops at comparisons, NaN tests)."""
    from onnx import TensorProto

    numeric = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.INT32}
    start = [i.name for i in graph.input if i.type.tensor_type.elem_type in numeric]
    passing = _walk(
        start,
        lambda name: [n for n in consumers.get(name, ()) if n.op_type not in MAGNITUDE_FREE],
        lambda node: node.output,
    )
    return set(start) | {name for node in passing for name in node.output if name}


def _opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)


_FLOAT = "tensor(float)"
_FLOATING = {_FLOAT, "tensor(double)"}


class _Builder:
    """Appends the check nodes to the graph (``[N]`` booleans per row)."""

    def __init__(self, graph: Any, opset: int) -> None:
        self._graph = graph
        self._opset = opset
        self._count = 0
        self._axes: str | None = None
        self._zero_name: str | None = None
        self._nonfinite: dict[
            str, str
        ] = {}  # per tensor: its row flag (a stage's output is the next one's input)

    def add(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        import onnx

        self._count += 1
        output = output or f"sparkonnx_overflow_{self._count}"
        node = onnx.helper.make_node(
            op_type, inputs, [output], name=f"sparkonnx_overflow_node_{self._count}", **attrs
        )
        self._graph.node.append(node)
        return output

    def any_nonfinite(self, names: list[str]) -> str:
        """Per row: any element of the ``names`` tensors is ±inf or NaN (``x - x`` is NaN exactly there)."""
        flags = [self._row_nonfinite(name) for name in names]
        result = flags[0]
        for flag in flags[1:]:
            result = self.add("Or", [result, flag])
        return result

    def _row_nonfinite(self, name: str) -> str:
        if name not in self._nonfinite:  # rows flattened to [N, k] whatever the rank ([N] gives [N, 1])
            self._nonfinite[name] = self.add("IsNaN", [self._row_sum(self._difference(name))])
        return self._nonfinite[name]

    def new_nonfinite(self, output: str, source: str) -> str:
        """Per row: an element of ``output`` is ±inf or NaN where the same element of ``source`` is finite."""
        bad_out = self.add("IsNaN", [self._difference(output)])
        bad_in = self.add("IsNaN", [self._difference(source)])
        new = self.add("Cast", [self.add("And", [bad_out, self.add("Not", [bad_in])])], to=1)  # FLOAT
        return self.add("Greater", [self._row_sum(new), self._zero()])

    def _difference(self, name: str) -> str:
        rows = self.add("Flatten", [name], axis=1)
        return self.add("Sub", [rows, rows])

    def _row_sum(self, x: str) -> str:
        if self._opset >= 13:
            return self.add("ReduceSum", [x, self._axis_one()], keepdims=0)
        return self.add("ReduceSum", [x], axes=[1], keepdims=0)

    def _zero(self) -> str:
        if self._zero_name is None:
            import onnx
            from onnx import TensorProto

            self._zero_name = "sparkonnx_overflow_zero"
            self._graph.initializer.append(
                onnx.helper.make_tensor(self._zero_name, TensorProto.FLOAT, [], [0.0])
            )
        return self._zero_name

    def none(self, names: list[str]) -> str:
        """Per row: every element of the ``names`` tensors is finite."""
        return self.add("Not", [self.any_nonfinite(names)])

    def both(self, a: str, b: str) -> str:
        return self.add("And", [a, b])

    def _axis_one(self) -> str:
        if self._axes is None:
            import onnx
            from onnx import TensorProto

            self._axes = "sparkonnx_overflow_axis_one"
            self._graph.initializer.append(onnx.helper.make_tensor(self._axes, TensorProto.INT64, [1], [1]))
        return self._axes
