"""Token arrays (``array<string>``) at the graph's edges: ragged rows in, ragged rows out.

Inside the graph a batch of token arrays is one ``[N, T]`` string tensor whose short rows are
filled with ``_text.PAD``, which is not valid UTF-8 so that no real token equals it. That same
property stops it crossing onnxruntime's Python boundary (strings go in and out as UTF-8). So:

- in: the runtime fills short rows with :data:`~mlflow_sparkonnx.contract.TOKEN_FILL` (valid
  UTF-8: a Unicode noncharacter, which the runtime refuses as a real token), and the graph
  turns it into ``PAD`` before any stage reads the column;
- out: each token-array output is given with ``PAD`` replaced by ``""`` plus a second output,
  :func:`~mlflow_sparkonnx.contract.token_count_output`, holding each row's real token count,
  by which the runtime cuts every row back to its own length.
"""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.contract import TOKEN_FILL, token_count_output
from mlflow_sparkonnx.convert.converters._text import PAD


def open_token_array_edges(
    model: Any, output_names: dict[str, str], token_inputs: set[str], token_outputs: set[str]
) -> dict[str, str]:
    """Rewrite ``model`` in place as the module docstring says; return the new output names.

    ``token_inputs`` and ``token_outputs`` name the ``array<string>`` input and output columns.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    pad = helper.make_tensor("sparkonnx_token_pad", TensorProto.STRING, [], [PAD])
    fill = helper.make_tensor("sparkonnx_token_fill", TensorProto.STRING, [], [TOKEN_FILL.encode()])
    empty = helper.make_tensor("sparkonnx_token_empty", TensorProto.STRING, [], [b""])
    axis = helper.make_tensor("sparkonnx_token_axis", TensorProto.INT64, [1], [1])
    used = False
    entry_nodes = []
    for value_info in [i for i in graph.input if i.name in token_inputs]:
        name = value_info.name
        padded = f"{name}__sparkonnx_padded"
        for node in graph.node:
            node.input[:] = [padded if x == name else x for x in node.input]
        entry_nodes += [
            helper.make_node("Equal", [name, fill.name], [f"{name}__sparkonnx_is_fill"]),
            helper.make_node("Where", [f"{name}__sparkonnx_is_fill", pad.name, name], [padded]),
        ]
        used = True
    renamed = dict(output_names)
    exits = []
    token_graph_outputs = {output_names[c] for c in token_outputs}
    for position, value_info in enumerate(list(graph.output)):
        if value_info.name not in token_graph_outputs:
            continue
        name = value_info.name
        cleaned, is_pad, is_real = (f"{name}__sparkonnx_{s}" for s in ("tokens", "is_pad", "is_real"))
        counts = token_count_output(cleaned)
        exits += [
            helper.make_node("Equal", [name, pad.name], [is_pad]),
            helper.make_node("Where", [is_pad, empty.name, name], [cleaned]),
            helper.make_node("Not", [is_pad], [is_real]),
            helper.make_node("Cast", [is_real], [f"{name}__sparkonnx_real"], to=TensorProto.INT64),
            helper.make_node("ReduceSum", [f"{name}__sparkonnx_real", axis.name], [counts], keepdims=0),
        ]
        graph.output[position].CopyFrom(
            helper.make_tensor_value_info(cleaned, TensorProto.STRING, [None, None])
        )
        graph.output.append(helper.make_tensor_value_info(counts, TensorProto.INT64, [None]))
        renamed = {column: cleaned if out == name else out for column, out in renamed.items()}
        used = True
    if used:
        nodes = entry_nodes + list(graph.node) + exits
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend([pad, fill, empty, axis])
    return renamed
