"""Which double inputs a graph computes with in float32 (so a double beyond float32's range breaks it).

Numbers enter every graph as double. Some converters keep them double (the exact trees, the
bucketizers, the SQL arithmetic); others cast to float32 or hand them to an ``ai.onnx.ml`` operator
that computes in float32 (onnxmltools' linear models, scalers). There a finite double beyond
±3.4e38 becomes an infinity, and the result is no longer Spark's. The ONNX runtime refuses such
values in the inputs found here (``OnnxRuntime``); the others are scored, and the save-time edge
probes compare them with Spark.

An input counts when a float32 cast or a float32 ``ai.onnx.ml`` operator is reachable from it
through nodes that pass its magnitude on; comparisons, NaN tests, shapes and tree lookups do not
(their outputs are the same for 1e300 and for 3e38), so the search stops there. So does a checked
lookup cast (:data:`CHECKED_LOOKUP_CAST`): ``lookup_numbers`` casts to float32 for a
``LabelEncoder`` and keeps a match only where the float32 value casts back to the double, so a
double beyond float32's range finds no key, as in Spark.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from onnx import TensorProto

#: Casting to these loses the range of a double.
_NARROW_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16}
#: Operators whose outputs do not carry the magnitude of their numeric inputs.
MAGNITUDE_FREE = {
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "Equal",
    "IsNaN",
    "IsInf",
    "Not",
    "And",
    "Or",
    "Xor",
    "Sign",
    "Shape",
    "Size",
    "ArgMax",
    "ArgMin",
}
#: ``ai.onnx.ml`` operators that compare doubles as doubles (their outputs are leaves, labels, 0/1).
_ML_EXACT = {"TreeEnsemble", "LabelEncoder", "Binarizer"}
_ML_DOMAIN = "ai.onnx.ml"
#: The output name prefix of a float32 cast whose every use is checked against the double it came from.
CHECKED_LOOKUP_CAST = "sparkonnx_checked_lookup_cast"
#: Operators with subgraphs: not followed inside, so counted (conservatively).
_WITH_SUBGRAPHS = {"If", "Loop", "Scan"}


def float32_inputs(model: Any) -> list[str]:
    """The graph's double inputs (in graph order) that reach float32 arithmetic."""
    graph = model.graph
    consumers: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    double_inputs = [i.name for i in graph.input if i.type.tensor_type.elem_type == TensorProto.DOUBLE]
    return [name for name in double_inputs if _reaches_float32(name, consumers)]


def _reaches_float32(start: str, consumers: dict[str, list[Any]]) -> bool:
    seen, pending = {start}, [start]
    while pending:
        for node in consumers.get(pending.pop(), ()):
            if narrows(node):
                return True
            if node.op_type in MAGNITUDE_FREE or (node.domain == _ML_DOMAIN and node.op_type in _ML_EXACT):
                continue
            if node.op_type == "Cast" and node.output[0].startswith(CHECKED_LOOKUP_CAST):
                continue
            for output in node.output:
                if output and output not in seen:
                    seen.add(output)
                    pending.append(output)
    return False


def narrows(node: Any) -> bool:
    """Whether ``node`` computes in float32 or casts to it (the range of a double is lost there)."""
    if node.domain == _ML_DOMAIN:
        return node.op_type not in _ML_EXACT
    if node.op_type in _WITH_SUBGRAPHS or node.op_type == "CastLike":
        return True
    if node.op_type == "Cast":
        if node.output[0].startswith(CHECKED_LOOKUP_CAST):
            return False
        return any(a.name == "to" and a.i in _NARROW_TYPES for a in node.attribute)
    return False
