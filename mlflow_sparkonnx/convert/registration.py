"""The one module that touches onnxmltools' internals.

onnxmltools keeps three tables per Spark stage: a class → operator-name map, an
operator → (input columns, output columns) map, and the converter and shape-calculator
pools. :func:`register_stage_converter` fills all of them in one call, so a converter
(ours or a user's) is registered exactly like onnxmltools' own ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlflow_sparkonnx.convert.converters import builtin_specs

#: Who provides the converter for a stage class: "sparkonnx" or "user" (else onnxmltools).
_PROVIDERS: dict[type, str] = {}


def _tables() -> tuple[dict[type, str], dict[str, Any], Any]:
    from onnxmltools.convert.common import _registration
    from onnxmltools.convert.sparkml import operator_converters, ops_input_output, ops_names  # noqa: F401

    return ops_names.sparkml_operator_name_map, ops_input_output.io_name_map, _registration


def register_stage_converter(
    stage_class: type,
    converter: Callable[..., None],
    shape_calculator: Callable[..., None],
    *,
    input_columns: Callable[[Any], list[str]],
    output_columns: Callable[[Any], list[str]],
    operator_name: str | None = None,
    overwrite: bool = False,
    provider: str = "user",
) -> None:
    """Register an ONNX converter for a Spark stage class (or a custom Python Transformer).

    ``converter(scope, operator, container)`` and ``shape_calculator(operator)`` follow
    onnxmltools' conventions; ``input_columns(stage)`` / ``output_columns(stage)`` name the
    columns the stage reads and writes. Replacing an existing registration (including one of
    onnxmltools' own) must be asked for with ``overwrite=True``.
    """
    if not callable(converter) or not callable(shape_calculator):
        raise TypeError("converter and shape_calculator must be callables")
    names, io_map, registration = _tables()
    operator_name = operator_name or f"sparkonnx.{stage_class.__module__}.{stage_class.__name__}"
    existing = _provider_of(stage_class)
    if existing is not None and not overwrite:
        raise ValueError(
            f"A converter for {stage_class.__name__} is already registered (by {existing}); pass "
            "overwrite=True to replace it."
        )
    names[stage_class] = operator_name
    io_map[operator_name] = (input_columns, output_columns)
    registration.register_converter(operator_name, converter, overwrite=True)
    registration.register_shape_calculator(operator_name, shape_calculator, overwrite=True)
    _PROVIDERS[stage_class] = provider


def register_converter(
    stage_class: type,
    converter: Callable[..., None],
    shape_calculator: Callable[..., None],
    *,
    input_columns: Callable[[Any], list[str]],
    output_columns: Callable[[Any], list[str]],
    overwrite: bool = False,
    accepts_double: bool = False,
) -> None:
    """Public extension API: register an ONNX converter for your own (or any) Spark stage class.

    See :func:`register_stage_converter` for the conventions. Replacing a converter that
    onnxmltools or this package already provides needs ``overwrite=True``. Numeric inputs enter
    the graph as double; unless ``accepts_double=True`` your converter sees them cast to float32.
    """
    register_builtin_converters()
    if not accepts_double:
        converter, shape_calculator = with_float_inputs(converter, shape_calculator)
    register_stage_converter(
        stage_class,
        converter,
        shape_calculator,
        input_columns=input_columns,
        output_columns=output_columns,
        overwrite=overwrite,
        provider="user",
    )


def with_float_inputs(
    converter: Callable[..., None], shape_calculator: Callable[..., None]
) -> tuple[Callable[..., None], Callable[..., None]]:
    """Wrap a converter written for float32 tensors: its double inputs are cast to float32 first.

    The graph's numeric inputs (and VectorAssembler's output) are double so that comparisons are
    exact; onnxmltools' own converters, and users' by default, expect float32.
    """

    def calculate_shapes(operator: Any) -> None:
        with _float_view(operator, None, None):
            shape_calculator(operator)

    def convert(scope: Any, operator: Any, container: Any) -> None:
        with _float_view(operator, scope, container):
            converter(scope, operator, container)

    convert.__wrapped__ = converter  # type: ignore[attr-defined]
    calculate_shapes.__wrapped__ = shape_calculator  # type: ignore[attr-defined]
    return convert, calculate_shapes


@contextmanager
def _float_view(operator: Any, scope: Any, container: Any) -> Iterator[None]:
    """While the block runs, the operator's double inputs look like (Cast) float32 variables."""
    from onnx import TensorProto
    from onnxmltools.convert.common.data_types import DoubleTensorType, FloatTensorType

    swapped = []
    for variable in operator.inputs:
        if isinstance(variable.type, DoubleTensorType):
            swapped.append((variable, variable.type, variable.onnx_name))
            if container is not None:
                as_float = scope.get_unique_variable_name(variable.onnx_name + "_float")
                container.add_node(
                    "Cast",
                    [variable.onnx_name],
                    [as_float],
                    op_version=13,
                    name=scope.get_unique_operator_name("Cast"),
                    to=TensorProto.FLOAT,
                )
                variable.onnx_name = as_float
            variable.type = FloatTensorType(list(variable.type.shape))
    try:
        yield
    finally:
        for variable, original_type, original_name in swapped:
            variable.type, variable.onnx_name = original_type, original_name


def adapt_onnxmltools_converters() -> None:
    """Make every converter onnxmltools itself provides take double inputs (as float32)."""
    names, io_map, registration = _tables()
    for stage_class, operator_name in list(names.items()):
        if stage_class in _PROVIDERS or operator_name not in registration._converter_pool:
            continue
        converter = registration._converter_pool[operator_name]
        if hasattr(converter, "__wrapped__"):
            continue
        shape_calculator = registration._shape_calculator_pool[operator_name]
        convert, calculate_shapes = with_float_inputs(converter, shape_calculator)
        registration.register_converter(operator_name, convert, overwrite=True)
        registration.register_shape_calculator(operator_name, calculate_shapes, overwrite=True)


def converter_provider(stage: Any) -> str | None:
    """Who converts this stage: "sparkonnx", "user", "onnxmltools", or None (no converter)."""
    register_builtin_converters()
    return _provider_of(type(stage))


def _provider_of(stage_class: type) -> str | None:
    names, io_map, registration = _tables()
    if stage_class in _PROVIDERS:
        return _PROVIDERS[stage_class]
    # onnxmltools names some stages (HashingTF) without an io entry or a converter.
    operator_name = names.get(stage_class)
    if operator_name in io_map and operator_name in registration._converter_pool:
        return "onnxmltools"
    return None


@dataclass(frozen=True)
class StageConverter:
    """What is registered for one stage: onnxmltools' operator name and the four callables."""

    operator_name: str
    converter: Callable[..., None]
    shape_calculator: Callable[..., None]
    input_columns: Callable[[Any], list[str]]
    output_columns: Callable[[Any], list[str]]


def stage_converter(stage: Any) -> StageConverter:
    """The converter registered for a stage instance (ours, a user's or onnxmltools').

    Lets the converter of a composite stage (OneVsRest) convert its sub-models with whatever
    converter is registered for them. Raises ``KeyError`` when there is none.
    """
    register_builtin_converters()
    names, io_map, registration = _tables()
    operator_name = names.get(type(stage))
    if _provider_of(type(stage)) is None or operator_name is None:
        raise KeyError(f"no ONNX converter is registered for {type(stage).__name__}")
    input_columns, output_columns = io_map[operator_name]
    return StageConverter(
        operator_name,
        registration._converter_pool[operator_name],
        registration._shape_calculator_pool[operator_name],
        input_columns,
        output_columns,
    )


@dataclass(frozen=True)
class Registration:
    """A snapshot of how one stage class is registered (see :func:`snapshot_registration`)."""

    stage_class: type
    operator_name: str | None
    io_entry: Any
    converter: Any
    shape_calculator: Any
    provider: str | None


def snapshot_registration(stage_class: type) -> Registration:
    """How ``stage_class`` is registered now, to hand to :func:`restore_registration` later."""
    register_builtin_converters()
    names, io_map, registration = _tables()
    operator_name = names.get(stage_class)
    return Registration(
        stage_class,
        operator_name,
        io_map.get(operator_name),
        registration._converter_pool.get(operator_name),
        registration._shape_calculator_pool.get(operator_name),
        _PROVIDERS.get(stage_class),
    )


def restore_registration(snapshot: Registration) -> None:
    """Put a stage class's registration back as ``snapshot`` recorded it (undoing later registrations)."""
    names, io_map, registration = _tables()
    stage_class, operator_name = snapshot.stage_class, snapshot.operator_name
    current = names.get(stage_class)
    if current is not None and current != operator_name and list(names.values()).count(current) == 1:
        for table in (io_map, registration._converter_pool, registration._shape_calculator_pool):
            table.pop(current, None)  # the operator name only the undone registration used
    if operator_name is None:
        names.pop(stage_class, None)
    else:
        names[stage_class] = operator_name
        for table, value in (
            (io_map, snapshot.io_entry),
            (registration._converter_pool, snapshot.converter),
            (registration._shape_calculator_pool, snapshot.shape_calculator),
        ):
            if value is None:
                table.pop(operator_name, None)
            else:
                table[operator_name] = value
    if snapshot.provider is None:
        _PROVIDERS.pop(stage_class, None)
    else:
        _PROVIDERS[stage_class] = snapshot.provider


_lock = threading.Lock()
_registered = False


def required_opset(stages: list[Any]) -> int | None:
    """The highest ``min_opset`` among the specs that convert ``stages`` (None when none asks)."""
    needed = {spec.stage_class: spec.min_opset for spec in builtin_specs() if spec.min_opset}
    found = []
    for stage in stages:
        wanted = needed.get(type(stage))
        if wanted is None or converter_provider(stage) != "sparkonnx":
            continue
        opset = wanted(stage) if callable(wanted) else wanted
        if opset is not None:
            found.append(opset)
    return max(found, default=None)


def register_builtin_converters() -> None:
    """Register this package's converters once per process (idempotent, thread-safe)."""
    global _registered
    with _lock:
        if _registered:
            return
        from mlflow_sparkonnx.convert.registration import (
            adapt_onnxmltools_converters,
            register_stage_converter,
        )

        for spec in builtin_specs():
            register_stage_converter(
                spec.stage_class,
                spec.converter,
                spec.shape_calculator,
                input_columns=spec.input_columns,
                output_columns=spec.output_columns,
                overwrite=spec.replaces_onnxmltools,
                provider="sparkonnx",
            )
        adapt_onnxmltools_converters()
        _registered = True
