"""One default-domain opset per graph, and every node in the form that opset expects.

A graph imports one version of the default domain: the highest version any node names (and at
least what a converter declares in ``ConverterSpec.min_opset``). onnxmltools writes some nodes
in forms that later opsets retired (``Split``'s ``split``, ``Squeeze``/``Unsqueeze``'s ``axes``
and ``Reduce*``'s ``axes`` attributes became inputs), so once any node needs a newer opset those
nodes are rewritten into the new form. Without this, mixing converters invalidates the graph.
"""

from __future__ import annotations

import logging
from typing import Any

_logger = logging.getLogger(__name__)

#: op type -> (opset from which the attribute is an input, attribute, position of the new input)
_ATTRIBUTE_TO_INPUT = {
    "Split": (13, "split", 1),
    "Squeeze": (13, "axes", 1),
    "Unsqueeze": (13, "axes", 1),
    "ReduceSum": (13, "axes", 1),
    **{
        op: (18, "axes", 1)
        for op in (
            "ReduceMean",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSum",
            "ReduceLogSumExp",
            "ReduceSumSquare",
        )
    },
}


def default_opset(model: Any) -> int:
    """The graph's default-domain opset version."""
    return max((e.version for e in model.opset_import if e.domain in ("", "ai.onnx")), default=0)


def align_opset(model: Any, required: int | None) -> None:
    """Raise the default-domain import to ``required`` and rewrite retired node forms to match."""
    import onnx

    if required is not None and default_opset(model) < required:
        entries = [e for e in model.opset_import if e.domain in ("", "ai.onnx")] or [model.opset_import.add()]
        for entry in entries:
            _logger.debug("raising the graph's default opset from %d to %d", entry.version, required)
            entry.version = required
    opset = default_opset(model)
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in _ATTRIBUTE_TO_INPUT:
            continue
        since, attribute, position = _ATTRIBUTE_TO_INPUT[node.op_type]
        found = [a for a in node.attribute if a.name == attribute]
        if opset < since or not found:
            continue
        values = list(onnx.helper.get_attribute_value(found[0]))
        name = f"{node.name or node.op_type}_{attribute}_input"
        model.graph.initializer.append(
            onnx.helper.make_tensor(name, onnx.TensorProto.INT64, [len(values)], values)
        )
        node.attribute.remove(found[0])
        while len(node.input) < position:
            node.input.append("")
        node.input.insert(position, name)
    _modernise_label_encoders(model)
    standard = [e for e in model.opset_import if e.domain in ("", "ai.onnx", "ai.onnx.ml")]  # not contrib
    needed_ir = onnx.helper.find_min_ir_version_for(standard)
    model.ir_version = max(model.ir_version, needed_ir)


def _modernise_label_encoders(model: Any) -> None:
    """Rewrite ai.onnx.ml LabelEncoder-1 nodes (``classes_strings``) into the keys/values form.

    onnxmltools' VectorIndexer writes the opset-1 form; once another converter imports a newer
    ai.onnx.ml (the exact trees use opset 5) only the keys/values attributes are understood. In
    the old form the index of a class is its position; the direction follows the input type.
    """
    import onnx

    ml_opset = max((e.version for e in model.opset_import if e.domain == "ai.onnx.ml"), default=0)
    old = [
        n
        for n in model.graph.node
        if n.op_type == "LabelEncoder"
        and n.domain == "ai.onnx.ml"
        and any(a.name == "classes_strings" for a in n.attribute)
    ]
    if ml_opset < 2 or not old:
        return
    inferred = onnx.shape_inference.infer_shapes(model)
    elem_types = {
        v.name: v.type.tensor_type.elem_type
        for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    }
    for node in old:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        classes = [c.decode() if isinstance(c, bytes) else c for c in attrs["classes_strings"]]
        positions = list(range(len(classes)))
        del node.attribute[:]
        if elem_types.get(node.input[0]) == onnx.TensorProto.STRING:
            new = {
                "keys_strings": classes,
                "values_int64s": positions,
                "default_int64": attrs.get("default_int64", -1),
            }
        else:
            new = {
                "keys_int64s": positions,
                "values_strings": classes,
                "default_string": attrs.get("default_string", b"_Unused"),
            }
        node.attribute.extend(onnx.helper.make_attribute(k, v) for k, v in new.items())
