"""Post-conversion rewrite: a linear head over hashed or counted tokens, without the dense vector.

HashingTF, FeatureHasher and CountVectorizer build their output as a dense ``[N, width]`` float
tensor (``ConstantOfShape`` zeros, then ``ScatterElements`` of one value per token into its bucket).
When that tensor only feeds a linear head (LogisticRegression's ``Gemm``, LinearSVC's ``MatMul``),
optionally through IDF's per-feature ``Mul`` and ``Cast``, the head's product is a sum over tokens::

    (x · W)[r] = Σ_f x[r, f] W[f] = Σ_k values[r, k] W[buckets[r, k]]

so :func:`sparsify_linear_heads` replaces the scatter and the product with ``Gather`` of the
weight rows (``[N, T, classes]``), times the token values, summed over tokens. The per-feature
scales (IDF) are folded into the gathered table (``W' = W · idf``). Accumulation is in double and
the result is cast back to the head's type once, so the margins are at least as precise as the
dense float ``Gemm`` they replace.

What it matches, exactly (anything else leaves the graph untouched):

- the scatter: ``ScatterElements(axis=1, reduction=add|max)`` into ``ConstantOfShape`` zeros of
  shape ``Concat(Shape(t)[0:1], [width])``, where ``t`` has the shape of the bucket indices;
  ``max`` only with values that are a cast boolean (HashingTF ``binary=True``): each bucket then
  counts once per row, which the rewrite reproduces by sorting each row's buckets;
- CountVectorizer's tail: ``Slice`` of the first ``size`` columns (the unknown-token column is
  dropped: its table row is zero), then ``minTF`` as ``Where(counts > 0 and counts >= minTF,
  counts or 1, 0)``; only with boolean-cast values (integer counts) and a constant ``minTF <= 1``,
  for which the ``Where`` keeps every present count. A larger or fractional ``minTF`` depends on
  each bucket's count: those graphs keep their dense vector;
- between the vector and the head, per-feature ``Mul`` by a constant ``[width]``/``[1, width]``
  (IDF), ``Cast`` to float or double, ``Identity``;
- the head: ``Gemm(x, W, b)`` (``transA=0``, ``alpha = beta = 1``, either ``transB``) or
  ``MatMul(x, W)``, ``W`` and ``b`` constants.

Every tensor between the scatter and the head must have exactly the consumers the pattern names
and must not be a graph output: a requested ``features`` column keeps the dense graph.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["sparsify_linear_heads"]

_logger = logging.getLogger(__name__)

_DEFAULT_DOMAINS = ("", "ai.onnx")
#: The default-domain opset whose node forms the rewrite writes (Shape with start/end, axes inputs).
_MIN_OPSET = 16
#: Ops whose output has the shape of their non-constant inputs when their constants are single values.
_ELEMENTWISE = {
    "Cast",
    "Identity",
    "Not",
    "Neg",
    "Abs",
    "Mod",
    "Equal",
    "Greater",
    "Less",
    "GreaterOrEqual",
    "LessOrEqual",
    "And",
    "Or",
    "Where",
    "Add",
    "Sub",
    "Mul",
    "LabelEncoder",
    "MurmurHash3",
}
_BOOLEAN_OUTPUT = {
    "Not",
    "And",
    "Or",
    "Xor",
    "Equal",
    "Greater",
    "Less",
    "GreaterOrEqual",
    "LessOrEqual",
    "IsNaN",
    "IsInf",
}
_FLOAT = 1  # onnx.TensorProto.FLOAT
_DOUBLE = 11  # onnx.TensorProto.DOUBLE
_STRING = 8  # onnx.TensorProto.STRING
_BOOL = 9  # onnx.TensorProto.BOOL


@dataclass
class _Match:
    """One dense scatter → linear head chain, and what replaces it."""

    buckets: str
    values: str
    once: bool  # each bucket counts once per row (values are 0/1)
    width: int  # the scatter's width: rows of the gathered table
    kept: int  # columns of the scatter that reach the head (the rest get zero weights)
    scale: np.ndarray  # per-feature factors folded into the weights (IDF)
    weights: np.ndarray  # [kept, classes]
    bias: np.ndarray | None  # [classes]
    head_dtype: int
    output: str
    removed: list[Any] = field(default_factory=list)


class _Graph:
    """Producers, consumers and constants of one graph, by tensor name."""

    def __init__(self, model: Any) -> None:
        graph = model.graph
        self.model = model
        self.producer = {out: n for n in graph.node for out in n.output if out}
        self.consumers: dict[str, list[Any]] = {}
        for n in graph.node:
            for name in set(n.input):
                if name:
                    self.consumers.setdefault(name, []).append(n)
        # Graph outputs and names read inside subgraphs (If/Loop bodies) must keep existing.
        self.outputs = {o.name for o in graph.output} | _subgraph_reads(graph)
        self._tensors = {i.name: i for i in graph.initializer}
        for n in graph.node:
            if n.op_type == "Constant" and n.domain in _DEFAULT_DOMAINS and len(n.attribute) == 1:
                if n.attribute[0].name == "value":
                    self._tensors[n.output[0]] = n.attribute[0].t
        declared = [*graph.input, *graph.value_info]
        self.elem_types = {v.name: v.type.tensor_type.elem_type for v in declared}
        self.names = {name for n in graph.node for name in [*n.input, *n.output]} | set(self._tensors)
        self.names |= {i.name for i in graph.input} | self.outputs

    def const(self, name: str) -> np.ndarray | None:
        """The value of a numeric initializer or Constant, else None."""
        from onnx import numpy_helper

        tensor = self._tensors.get(name)
        if tensor is None or tensor.data_type in (_STRING, 0):
            return None
        return numpy_helper.to_array(tensor)

    def const_dims(self, name: str) -> list[int] | None:
        """The dimensions of any initializer or Constant (strings included), else None."""
        tensor = self._tensors.get(name)
        return None if tensor is None else list(tensor.dims)

    def made_by(self, name: str, op_type: str) -> Any | None:
        n = self.producer.get(name)
        return n if n is not None and n.op_type == op_type and n.domain in _DEFAULT_DOMAINS else None

    def only_consumer(self, name: str) -> Any | None:
        """The single node reading ``name`` (which must not be a graph output), else None."""
        users = self.consumers.get(name, [])
        if name in self.outputs or len(users) != 1:
            return None
        return users[0]

    def consumed_only_by(self, name: str, nodes: Iterable[Any]) -> bool:
        allowed = {id(n) for n in nodes}
        return name not in self.outputs and all(id(n) in allowed for n in self.consumers.get(name, []))


def _subgraph_reads(graph: Any) -> set[str]:
    """Every tensor name read by a node of a subgraph of ``graph`` (at any depth)."""
    reads: set[str] = set()
    for n in graph.node:
        for attribute in n.attribute:
            for body in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                reads |= {name for inner in body.node for name in inner.input} | _subgraph_reads(body)
    return reads


def _attrs(n: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in n.attribute}


def _scalar(array: np.ndarray | None) -> float | None:
    """The one value of a single-element constant, else None."""
    if array is None or array.size != 1 or array.ndim > 1:
        return None
    return float(array.reshape(-1)[0])


def sparsify_linear_heads(model: Any) -> int:
    """Rewrite every matched scatter → linear head chain of ``model`` in place; return how many."""
    from mlflow_sparkonnx.convert.opset import default_opset

    if default_opset(model) < _MIN_OPSET:
        return 0
    rewritten = 0
    while True:
        graph = _Graph(model)
        scatters = [
            n for n in model.graph.node if n.op_type == "ScatterElements" and n.domain in _DEFAULT_DOMAINS
        ]
        match = next((m for m in (_match(graph, s) for s in scatters) if m is not None), None)
        if match is None:
            return rewritten
        _rewrite(graph, match, rewritten)
        rewritten += 1
        _logger.debug(
            "dense [N, %d] scatter → linear head (%d classes) rewritten as a gather over tokens",
            match.width,
            match.weights.shape[1],
        )


def _match(graph: _Graph, scatter: Any) -> _Match | None:
    attrs = _attrs(scatter)
    reduction = attrs.get("reduction", b"none")
    reduction = reduction.decode() if isinstance(reduction, bytes) else reduction
    if attrs.get("axis", 0) not in (1, -1) or reduction not in ("add", "max") or len(scatter.input) != 3:
        return None
    data, buckets, values = scatter.input
    width = _zero_rows_like(graph, data, buckets)
    if width is None or not graph.consumed_only_by(data, [scatter]):
        return None
    boolean_values = _is_cast_boolean(graph, values)
    if reduction == "max" and not boolean_values:
        return None
    removed = [scatter]
    dense, kept, once = scatter.output[0], width, reduction == "max"
    tail = _count_vectorizer_tail(graph, dense, width) if reduction == "add" and boolean_values else None
    if tail is not None:
        dense, kept, once, tail_nodes = tail
        removed.extend(tail_nodes)
    head = _scaled_head(graph, dense, kept)
    if head is None:
        return None
    scale, weights, bias, head_dtype, output, chain = head
    removed.extend(chain)
    return _Match(buckets, values, once, width, kept, scale, weights, bias, head_dtype, output, removed)


def _zero_rows_like(graph: _Graph, data: str, buckets: str) -> int | None:
    """``width`` when ``data`` is float zeros ``[rows of buckets, width]``, else None."""
    fill = graph.made_by(data, "ConstantOfShape")
    if fill is None:
        return None
    value = _attrs(fill).get("value")
    if value is not None:
        from onnx import numpy_helper

        array = numpy_helper.to_array(value)
        if array.dtype != np.float32 or array.size != 1 or float(array.reshape(-1)[0]) != 0.0:
            return None
    concat = graph.made_by(fill.input[0], "Concat")
    if concat is None or _attrs(concat).get("axis") != 0 or len(concat.input) != 2:
        return None
    rows, columns = concat.input
    shape = graph.made_by(rows, "Shape")
    width = graph.const(columns)
    if shape is None or width is None or width.shape != (1,) or int(width[0]) <= 0:
        return None
    shape_attrs = _attrs(shape)
    if shape_attrs.get("start", 0) != 0 or shape_attrs.get("end") != 1:
        return None
    if not _same_shape(graph, buckets, shape.input[0]):
        return None
    return int(width[0])


def _same_shape(graph: _Graph, tensor: str, reference: str, depth: int = 12) -> bool:
    """True when ``tensor`` is ``reference`` or elementwise from it (constants single values)."""
    if tensor == reference:
        return True
    n = graph.producer.get(tensor)
    if depth == 0 or n is None or n.op_type not in _ELEMENTWISE:
        return False
    variable = []
    for name in n.input:
        dims = graph.const_dims(name)
        if dims is None:
            variable.append(name)
        elif len(dims) > 1 or int(np.prod(dims)) != 1:
            return False
    return bool(variable) and all(_same_shape(graph, v, reference, depth - 1) for v in variable)


def _is_cast_boolean(graph: _Graph, values: str) -> bool:
    """True when ``values`` is a boolean tensor cast to float (so every value is 0 or 1)."""
    cast = graph.made_by(values, "Cast")
    if cast is None or _attrs(cast).get("to") != _FLOAT:
        return False
    source = graph.producer.get(cast.input[0])
    if source is None:
        return graph.elem_types.get(cast.input[0]) == _BOOL
    return source.domain in _DEFAULT_DOMAINS and source.op_type in _BOOLEAN_OUTPUT


def _count_vectorizer_tail(graph: _Graph, counts: str, width: int) -> tuple[str, int, bool, list[Any]] | None:
    """CountVectorizer's Slice and minTF ``Where`` after integer counts, when minTF keeps every count.

    Returns (its output, the columns kept, whether each bucket counts once, its nodes) or None.
    """
    slice_node = graph.only_consumer(counts)
    if slice_node is None or slice_node.op_type != "Slice" or slice_node.input[0] != counts:
        return None
    parts = [graph.const(name) if name else None for name in slice_node.input[1:]]
    starts, ends, axes = (parts + [None, None, None])[:3]
    steps = parts[3] if len(parts) > 3 else None
    if starts is None or ends is None or axes is None or len(slice_node.input) > 5:
        return None
    if [int(v) for v in axes.reshape(-1)] not in ([1], [-1]) or [int(v) for v in starts.reshape(-1)] != [0]:
        return None
    if steps is not None and [int(v) for v in steps.reshape(-1)] != [1]:
        return None
    kept = int(ends.reshape(-1)[0]) if ends.size == 1 else -1
    if not 0 < kept <= width:
        return None
    sliced = slice_node.output[0]
    users = graph.consumers.get(sliced, [])
    if sliced in graph.outputs:
        return None
    by_type: dict[str, list[Any]] = {}
    for n in users:
        by_type.setdefault(n.op_type, []).append(n)
    casts, greaters = by_type.get("Cast", []), by_type.get("Greater", [])
    if len(casts) != 1 or len(greaters) != 1 or set(by_type) - {"Cast", "Greater", "Where"}:
        return None
    exact, present = casts[0], greaters[0]
    if _attrs(exact).get("to") != _DOUBLE or list(present.input) != [sliced, present.input[1]]:
        return None
    if _scalar(graph.const(present.input[1])) != 0.0:
        return None
    at_least = graph.only_consumer(exact.output[0])
    if at_least is None or at_least.op_type != "GreaterOrEqual" or at_least.input[0] != exact.output[0]:
        return None
    min_tf = _scalar(graph.const(at_least.input[1]))
    if min_tf is None or not min_tf <= 1.0:  # counts of present buckets are integers >= 1
        return None
    both = graph.only_consumer(at_least.output[0])
    if both is None or both.op_type != "And" or set(both.input) != {at_least.output[0], present.output[0]}:
        return None
    if graph.only_consumer(present.output[0]) is not both:
        return None
    choose = graph.only_consumer(both.output[0])
    if choose is None or choose.op_type != "Where" or choose.input[0] != both.output[0]:
        return None
    if _scalar(graph.const(choose.input[2])) != 0.0:
        return None
    if choose.input[1] == sliced:
        once = False
    elif _scalar(graph.const(choose.input[1])) == 1.0:
        once = True
    else:
        return None
    if any(n.op_type == "Where" and n is not choose for n in users):
        return None
    if once and any(n is choose for n in users):
        return None
    return choose.output[0], kept, once, [slice_node, exact, present, at_least, both, choose]


def _scaled_head(graph: _Graph, dense: str, features: int) -> tuple[Any, ...] | None:
    """Per-feature scales, casts, then a linear head over ``dense`` ``[N, features]``.

    Returns (scale, weights [features, classes], bias or None, head dtype, head output, nodes).
    """
    scale = np.ones(features, dtype=np.float64)
    chain: list[Any] = []
    tensor = dense
    for _ in range(8):
        n = graph.only_consumer(tensor)
        if n is None or n.domain not in _DEFAULT_DOMAINS:
            return None
        chain.append(n)
        if n.op_type in ("Gemm", "MatMul"):
            if n.input[0] != tensor:
                return None
            head = _linear_head(graph, n, features)
            return None if head is None else (scale, *head, chain)
        if n.op_type == "Identity":
            pass
        elif n.op_type == "Cast":
            if _attrs(n).get("to") not in (_FLOAT, _DOUBLE):
                return None
        elif n.op_type == "Mul":
            other = [name for name in n.input if name != tensor]
            factors = graph.const(other[0]) if len(other) == 1 else None
            if factors is None or factors.dtype not in (np.float32, np.float64):
                return None
            if factors.shape not in ((features,), (1, features)) and factors.size != 1:
                return None
            if factors.ndim > 2:
                return None
            scale = scale * factors.astype(np.float64).reshape(-1)
        else:
            return None
        tensor = n.output[0]
    return None


def _linear_head(graph: _Graph, n: Any, features: int) -> tuple[Any, ...] | None:
    """(weights [features, classes], bias or None, output dtype, output) of a Gemm or MatMul."""
    matrix = graph.const(n.input[1])
    if matrix is None or matrix.ndim != 2 or matrix.dtype not in (np.float32, np.float64):
        return None
    bias = None
    if n.op_type == "Gemm":
        attrs = _attrs(n)
        if attrs.get("transA", 0) != 0 or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            return None
        if attrs.get("transB", 0):
            matrix = matrix.T
        if len(n.input) > 2 and n.input[2]:
            bias = graph.const(n.input[2])
            if bias is None or bias.dtype != matrix.dtype:
                return None
    elif len(n.input) != 2:
        return None
    weights = matrix
    if weights.shape[0] != features:
        return None
    classes = weights.shape[1]
    if bias is not None:
        if bias.size == 1 and bias.ndim <= 2:
            bias = np.full(classes, bias.reshape(-1)[0])
        elif bias.shape in ((classes,), (1, classes)):
            bias = bias.reshape(-1)
        else:
            return None
    dtype = _FLOAT if weights.dtype == np.float32 else _DOUBLE
    return weights, bias, dtype, n.output[0]


def _rewrite(graph: _Graph, match: _Match, ordinal: int) -> None:
    """Replace ``match.removed`` by the gather form, then drop what only they used."""
    from onnx import helper, numpy_helper

    model = graph.model
    prefix = f"sparse_linear{ordinal}"

    def name(hint: str) -> str:
        candidate, k = f"{prefix}_{hint}", 0
        while candidate in graph.names:
            k += 1
            candidate = f"{prefix}_{hint}{k}"
        graph.names.add(candidate)
        return candidate

    initializers: list[Any] = []

    def const(hint: str, array: np.ndarray) -> str:
        tensor_name = name(hint)
        initializers.append(numpy_helper.from_array(np.asarray(array), tensor_name))
        return tensor_name

    nodes: list[Any] = []

    def add(op_type: str, inputs: list[str], hint: str, outputs: int = 1, **attrs: Any) -> str:
        outs = [name(f"{hint}{i}" if i else hint) for i in range(outputs)]
        nodes.append(helper.make_node(op_type, inputs, outs, name=name(f"{hint}_node"), **attrs))
        return outs[0]

    classes = match.weights.shape[1]
    table = np.zeros((match.width, classes), dtype=np.float64)
    table[: match.kept] = match.weights.astype(np.float64) * match.scale[:, None]
    exact_in_float = match.weights.dtype == np.float32 and bool(np.all(match.scale == 1.0))
    table_name = const("weights", table.astype(np.float32) if exact_in_float else table)

    buckets, values = match.buckets, match.values
    if match.once:
        # The row's present buckets, sorted, each kept at its first position (values are 0/1).
        width = const("width", np.array(match.width, dtype=np.int64))
        wrapped = add("Mod", [buckets, width], "bucket")  # Gather's and Scatter's negative indices
        present = add("Greater", [values, const("zero", np.array(0.0, dtype=np.float32))], "present")
        absent = const("absent", np.array(-1, dtype=np.int64))
        keys = add("Where", [present, wrapped, absent], "key")
        tokens = add("Shape", [keys], "tokens", start=1, end=2)
        ordered = add("TopK", [keys, tokens], "sorted", outputs=2, axis=1, largest=1, sorted=1)
        pads = const("pads", np.array([0, 1, 0, 0], dtype=np.int64))
        shifted = add("Pad", [ordered, pads, const("before", np.array(-2, dtype=np.int64))], "shifted")
        origin = const("origin", np.array([0], dtype=np.int64))
        previous = add(
            "Slice", [shifted, origin, tokens, const("axis1", np.array([1], dtype=np.int64))], "previous"
        )
        new = add("Not", [add("Equal", [ordered, previous], "repeat")], "new")
        real = add("GreaterOrEqual", [ordered, const("zero_index", np.array(0, dtype=np.int64))], "real")
        counted = add("And", [new, real], "counted")
        buckets = add("Max", [ordered, const("first_bucket", np.array(0, dtype=np.int64))], "index")
        factors = add("Cast", [counted], "factor", to=_DOUBLE)
    else:
        factors = add("Cast", [values], "factor", to=_DOUBLE)
    rows = add("Gather", [table_name, buckets], "rows", axis=0)  # [N, T, classes]
    if exact_in_float:
        rows = add("Cast", [rows], "rows_double", to=_DOUBLE)
    factors = add("Unsqueeze", [factors, const("last", np.array([-1], dtype=np.int64))], "factors")
    terms = add("Mul", [rows, factors], "terms")
    total = add("ReduceSum", [terms, const("token_axis", np.array([1], dtype=np.int64))], "sum", keepdims=0)
    if match.bias is not None:
        total = add("Add", [total, const("bias", match.bias.astype(np.float64))], "margin")
    nodes.append(
        helper.make_node("Cast", [total], [match.output], name=name("cast_node"), to=match.head_dtype)
    )

    _splice(model, match.removed, nodes, initializers)


def _splice(model: Any, removed: list[Any], new_nodes: list[Any], initializers: list[Any]) -> None:
    """Put ``new_nodes`` where the last removed node was; drop what only the removed nodes used.

    Only producers upstream of the removed nodes (the zeros' shape, the Slice's bounds) and their
    constants can go; nothing else in the graph changes.
    """
    graph = model.graph
    removed_ids = {id(n) for n in removed}
    position = max(i for i, n in enumerate(graph.node) if id(n) in removed_ids)
    kept = []
    for i, n in enumerate(graph.node):
        if i == position:
            kept.extend(new_nodes)
        if id(n) not in removed_ids:
            kept.append(n)
    outputs = {o.name for o in graph.output}
    orphans = {name for n in removed for name in n.input}  # tensors that may have lost their last reader
    while True:
        used = {name for n in kept for name in n.input} | outputs
        dead = [n for n in kept if set(n.output) & orphans and not set(n.output) & used]
        if not dead:
            break
        dead_ids = {id(n) for n in dead}
        kept = [n for n in kept if id(n) not in dead_ids]
        orphans |= {name for n in dead for name in n.input}
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for n in kept for name in n.input} | outputs
    remaining = [i for i in graph.initializer if i.name in used or i.name not in orphans]
    del graph.initializer[:]
    graph.initializer.extend([*remaining, *initializers])
    produced = {name for n in kept for name in n.output}
    stale = [v for v in graph.value_info if v.name not in produced]
    for info in stale:
        graph.value_info.remove(info)
