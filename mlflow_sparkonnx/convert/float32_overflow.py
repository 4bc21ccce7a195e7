"""Rows where a stage's float32 arithmetic overflows: the ONNX runtime refuses them, Spark scores them.

Spark computes in double. Many converters compute in float32 (onnxmltools' scalers and linear models,
ours where the downstream operators need it), so a value within float32's range can still overflow
inside the graph: 3e38 through a StandardScaler whose standard deviation is below 1 is an infinity
here and a finite double in Spark, and whatever reads it (a linear model, a tree) then differs.

After conversion, each stage whose output column the graph holds in float32 gets a check: a row
where that output holds an infinity or a NaN while every floating input of the stage is finite
overflowed in the graph (with finite inputs Spark's double result is finite for these stages), so
the ONNX runtime refuses it (:class:`~mlflow_sparkonnx.contract.RowCheck` with
``action="onnx_only"``), naming the column and row; the Spark runtime scores it. Stages that only
copy, select or compare values cannot overflow and are not checked; nor are stages whose Spark
output is NaN for finite inputs by design (ALS's cold start) or that compute in double (SQL).
"""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.contract import RowCheck
from mlflow_sparkonnx.convert.float32_inputs import MAGNITUDE_FREE

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
    names = {n for c in columns.values() for n in (*(c.inputs or ()), *c.outputs)}
    types = _tensor_types(model, names) if candidates else {}
    reached = _reached_from_numbers(graph)
    builder = _Builder(graph, _opset(model))
    for stage in candidates:
        inputs, outputs = columns[stage.uid].inputs, columns[stage.uid].outputs
        if inputs is None or any(name not in types for name in inputs):
            continue
        floating_inputs = [n for n in inputs if types[n] in _FLOATING and n in reached]
        outputs = [n for n in outputs if types.get(n) == _FLOAT and n in reached and n not in inputs]
        if not floating_inputs or not outputs:
            continue
        overflowed = builder.both(builder.any_nonfinite(outputs), builder.none(floating_inputs))
        name = f"sparkonnx_row_check_overflow_{len(row_checks)}"
        builder.add("Identity", [overflowed], name)
        graph.output.append(onnx.helper.make_tensor_value_info(name, TensorProto.BOOL, [None]))
        stage_name = f"{type(stage).__name__} (uid {stage.uid})"
        row_checks.append(
            RowCheck(output=name, stage=stage_name, column=outputs[0], why=_WHY, action="onnx_only")
        )


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


def _reached_from_numbers(graph: Any) -> set[str]:
    """Tensors that carry the magnitude of a numeric graph input (stops at comparisons, NaN tests)."""
    from onnx import TensorProto

    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    numeric = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.INT32}
    pending = [i.name for i in graph.input if i.type.tensor_type.elem_type in numeric]
    seen = set(pending)
    while pending:
        for node in consumers.get(pending.pop(), ()):
            if node.op_type in MAGNITUDE_FREE:
                continue
            for output in node.output:
                if output and output not in seen:
                    seen.add(output)
                    pending.append(output)
    return seen


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
        if name not in self._nonfinite:
            rows = self.add("Flatten", [name], axis=1)  # [N, k] whatever the rank ([N] gives [N, 1])
            difference = self.add("Sub", [rows, rows])
            if self._opset >= 13:
                summed = self.add("ReduceSum", [difference, self._axis_one()], keepdims=0)
            else:
                summed = self.add("ReduceSum", [difference], axes=[1], keepdims=0)
            self._nonfinite[name] = self.add("IsNaN", [summed])
        return self._nonfinite[name]

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
