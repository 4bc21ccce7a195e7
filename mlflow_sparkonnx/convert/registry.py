"""The one module that touches onnxmltools' internals.

onnxmltools keeps three tables per Spark stage: a class → operator-name map, an
operator → (input columns, output columns) map, and the converter and shape-calculator
pools. :func:`register_stage_converter` fills all of them in one call, so a converter
(ours or a user's) is registered exactly like onnxmltools' own ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
) -> None:
    """Public extension API: register an ONNX converter for your own (or any) Spark stage class.

    See :func:`register_stage_converter` for the conventions. Replacing a converter that
    onnxmltools or this package already provides needs ``overwrite=True``.
    """
    from mlflow_sparkonnx.converters import register_builtin_converters

    register_builtin_converters()
    register_stage_converter(
        stage_class,
        converter,
        shape_calculator,
        input_columns=input_columns,
        output_columns=output_columns,
        overwrite=overwrite,
        provider="user",
    )


def converter_provider(stage: Any) -> str | None:
    """Who converts this stage: "sparkonnx", "user", "onnxmltools", or None (no converter)."""
    from mlflow_sparkonnx.converters import register_builtin_converters

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
