"""Small graph-building helpers shared by this package's converters (not a converter module).

Every node and initializer gets a scope-unique name, so a stage used twice in one pipeline
never collides with itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
from onnx import TensorProto

from mlflow_sparkonnx.convert.float32_inputs import CHECKED_LOOKUP_CAST
from mlflow_sparkonnx.sparkml.params import param_columns as columns  # noqa: F401 (converters read it here)

FLOAT = TensorProto.FLOAT
DOUBLE = TensorProto.DOUBLE
INT64 = TensorProto.INT64
BOOL = TensorProto.BOOL


def input_columns(stage: Any) -> list[str]:
    """The stage's ``inputCols`` or ``[inputCol]``: the columns a one-to-one stage reads."""
    return columns(stage, "inputCol")


def output_columns(stage: Any) -> list[str]:
    """The stage's ``outputCols`` or ``[outputCol]``."""
    return columns(stage, "outputCol")


def constant(
    scope: Any, container: Any, hint: str, onnx_type: int, shape: Sequence[int], values: Sequence[Any]
) -> str:
    """Add an initializer and return its (unique) name."""
    name = scope.get_unique_variable_name(hint)
    container.add_initializer(name, onnx_type, list(shape), list(values))
    return name


def node(
    scope: Any,
    container: Any,
    op_type: str,
    inputs: Sequence[str],
    *,
    op_version: int,
    output: str | None = None,
    op_domain: str = "",
    **attrs: Any,
) -> str:
    """Add one node with a unique name; return its (first) output name."""
    output = output or scope.get_unique_variable_name(op_type.lower())
    container.add_node(
        op_type,
        list(inputs),
        [output],
        op_domain=op_domain,
        op_version=op_version,
        name=scope.get_unique_operator_name(op_type),
        **attrs,
    )
    return output


class NodeMaker:
    """Adds nodes to one converter's graph: ``op = NodeMaker(scope, container)``, then
    ``op("Add", a, b)`` returns the output's name.

    The op version is ``version=`` if given, else ``versions[op_type]``, else ``default``.
    """

    def __init__(
        self,
        scope: Any,
        container: Any,
        *,
        default: int = 13,
        versions: dict[str, int] | None = None,
    ) -> None:
        self.scope, self.container = scope, container
        self.default, self.versions = default, versions or {}

    def __call__(
        self, op_type: str, *inputs: str, version: int | None = None, output: str | None = None, **attrs: Any
    ) -> str:
        chosen = version if version is not None else self.versions.get(op_type, self.default)
        return node(self.scope, self.container, op_type, inputs, op_version=chosen, output=output, **attrs)


def as_float_matrix(scope: Any, container: Any, variable: Any) -> str:
    """The variable as a float32 ``[N, k]`` tensor: cast from any numeric/bool type, 1-D reshaped."""
    return _as_matrix(scope, container, variable, FLOAT)


def as_double_matrix(scope: Any, container: Any, variable: Any) -> str:
    """The variable as a double ``[N, k]`` tensor (double inputs are not rounded through float32)."""
    return _as_matrix(scope, container, variable, DOUBLE)


def as_number_matrix(scope: Any, container: Any, variable: Any) -> str:
    """Double ``[N, k]`` when the variable is double, else float32 (for stages that pass values on)."""
    return _as_matrix(scope, container, variable, DOUBLE if is_double(variable) else FLOAT)


def same_float_type(variable: Any, shape: list[Any]) -> Any:
    """A Float or Double tensor type of ``shape``: double when ``variable`` is double, else float.

    For stages that pass values through (selectors, VectorIndexer): they keep their input's precision.
    """
    from onnxmltools.convert.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType(shape) if is_double(variable) else FloatTensorType(shape)


def is_floating(variable: Any) -> bool:
    """True when the variable is a float or double tensor (a tensor that can hold NaN)."""
    from onnxmltools.convert.common.data_types import DoubleTensorType, FloatTensorType

    return isinstance(variable.type, DoubleTensorType | FloatTensorType)


def is_double(variable: Any) -> bool:
    """True when the variable is a double tensor."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    return isinstance(variable.type, DoubleTensorType)


def _as_matrix(scope: Any, container: Any, variable: Any, onnx_type: int) -> str:
    from onnxmltools.convert.common.data_types import DoubleTensorType, FloatTensorType

    wanted = FloatTensorType if onnx_type == FLOAT else DoubleTensorType
    name = variable.full_name
    if not isinstance(variable.type, wanted):
        name = node(scope, container, "Cast", [name], op_version=13, to=onnx_type)
    if len(variable.type.shape) == 1:
        shape = constant(scope, container, "shape_column", INT64, [2], [-1, 1])
        name = node(scope, container, "Reshape", [name, shape], op_version=14)
    return name


def width(variable: Any) -> int | None:
    """The number of columns of a ``[N, k]`` (or 1-D, so 1) tensor; None when unknown."""
    shape = variable.type.shape
    if len(shape) == 1:
        return 1
    value = shape[1]
    return value if isinstance(value, int) else None


def row_max(scope: Any, container: Any, x: str) -> str:
    """``[N, 1]`` row maxima via TopK (unchanged since opset 11, unlike ReduceMax's ``axes``)."""
    k = constant(scope, container, "topk_one", INT64, [1], [1])
    values = scope.get_unique_variable_name("row_max")
    indices = scope.get_unique_variable_name("row_argmax")
    container.add_node(
        "TopK", [x, k], [values, indices], op_version=11, name=scope.get_unique_operator_name("TopK"), axis=1
    )
    return values


def row_min(scope: Any, container: Any, x: str) -> str:
    """``[N, 1]`` row minima via TopK (``largest=0``)."""
    k = constant(scope, container, "topk_one", INT64, [1], [1])
    values = scope.get_unique_variable_name("row_min")
    indices = scope.get_unique_variable_name("row_argmin")
    container.add_node(
        "TopK",
        [x, k],
        [values, indices],
        op_version=11,
        name=scope.get_unique_operator_name("TopK"),
        axis=1,
        largest=0,
    )
    return values


def row_sum(scope: Any, container: Any, x: str) -> str:
    """``[N, 1]`` row sums (ReduceSum with ``axes`` as an input: the form every opset >= 13 keeps)."""
    axes = constant(scope, container, "axis_one", INT64, [1], [1])
    return node(scope, container, "ReduceSum", [x, axes], op_version=13, keepdims=1)


def spark_vector_argmax(scope: Any, container: Any, x: str, onnx_type: int) -> str:
    """``[N, 1]`` int64: Spark's ``DenseVector.argmax`` of each row of ``x``.

    The first index holding the row's largest value; a NaN never wins (it compares false), and a
    row whose first element is NaN answers 0 (nothing compares greater than NaN).
    """
    nan = node(scope, container, "IsNaN", [x], op_version=13)
    lowest = constant(scope, container, "argmax_minus_inf", onnx_type, [1], [-np.inf])
    ranked = node(scope, container, "Where", [nan, lowest, x], op_version=9)
    index = node(scope, container, "ArgMax", [ranked], op_version=13, axis=1, keepdims=1)
    start = constant(scope, container, "argmax_start", INT64, [1], [0])
    end = axis = constant(scope, container, "argmax_one", INT64, [1], [1])
    first_is_nan = node(scope, container, "Slice", [nan, start, end, axis], op_version=13)
    zero = constant(scope, container, "argmax_zero", INT64, [1], [0])
    return node(scope, container, "Where", [first_is_nan, zero, index], op_version=9)


#: Spark types (``simpleString``) of the pipeline's raw input columns, while a conversion runs.
_INPUT_SPARK_TYPES: ContextVar[dict[str, str] | None] = ContextVar(
    "sparkonnx_input_spark_types", default=None
)


@contextmanager
def spark_input_types(types: dict[str, str]) -> Iterator[None]:
    """Let converters read the raw input columns' Spark types (every numeric type enters as float)."""
    token = _INPUT_SPARK_TYPES.set(dict(types))
    try:
        yield
    finally:
        _INPUT_SPARK_TYPES.reset(token)


def spark_input_type(name: str) -> str | None:
    """The Spark type of raw input column ``name``; None when not a raw input or not known."""
    types = _INPUT_SPARK_TYPES.get()
    return None if types is None else types.get(name)


def spark_input_types_known() -> bool:
    """True while a conversion has published its input columns' Spark types."""
    return _INPUT_SPARK_TYPES.get() is not None


def lookup_numbers(
    scope: Any,
    container: Any,
    x: str,
    *,
    x_is_double: bool,
    keys: Sequence[float],
    values: Sequence[int],
    default: int,
) -> str:
    """Map each number of ``x`` to ``values[i]`` where it equals ``keys[i]``, else ``default`` (int64).

    Equality is exact in ``x``'s own precision: a double that merely rounds to a key in
    float32 is not that key. ``LabelEncoder`` (which keys on float32) does the work when every
    key is a float32 number; otherwise the keys are compared in double, one column per key.
    """
    key_array = np.asarray(keys, dtype=np.float64)
    representable = bool(np.all(key_array.astype(np.float32).astype(np.float64) == key_array))
    if not x_is_double or representable:
        as_float = x
        if x_is_double:  # checked below: a match counts only where the float32 value is the double
            checked = scope.get_unique_variable_name(CHECKED_LOOKUP_CAST)
            as_float = node(scope, container, "Cast", [x], op_version=13, to=FLOAT, output=checked)
        encoded = node(
            scope,
            container,
            "LabelEncoder",
            [as_float],
            op_domain="ai.onnx.ml",
            op_version=2,
            keys_floats=[float(k) for k in key_array.astype(np.float32)],
            values_int64s=[int(v) for v in values],
            default_int64=int(default),
        )
        if not x_is_double:
            return encoded
        back = node(scope, container, "Cast", [as_float], op_version=13, to=DOUBLE)
        exact = node(scope, container, "Equal", [back, x], op_version=13)
        fallback = constant(scope, container, "lookup_default", INT64, [1], [int(default)])
        return node(scope, container, "Where", [exact, encoded, fallback], op_version=9)
    # [N, 1] == [1, K] in double; the matching key's value (keys are distinct), else the default.
    if min(values, default=0) < 0:
        raise ValueError("lookup_numbers needs non-negative values")
    key_row = constant(scope, container, "lookup_keys", DOUBLE, [1, len(key_array)], key_array.tolist())
    value_row = constant(scope, container, "lookup_values", INT64, [1, len(values)], [int(v) for v in values])
    none = constant(scope, container, "lookup_none", INT64, [1], [-1])
    matches = node(scope, container, "Equal", [x, key_row], op_version=13)
    best = row_max(
        scope, container, node(scope, container, "Where", [matches, value_row, none], op_version=9)
    )
    zero = constant(scope, container, "lookup_zero", INT64, [1], [0])
    found = node(scope, container, "GreaterOrEqual", [best, zero], op_version=12)
    fallback = constant(scope, container, "lookup_default", INT64, [1], [int(default)])
    return node(scope, container, "Where", [found, best, fallback], op_version=9)


def calculate_double_prediction_shape(operator: Any) -> None:
    """One output, the prediction: double ``[N]`` (regressors)."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].type.shape[0]])
