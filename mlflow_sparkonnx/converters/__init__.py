"""Converters this package adds to onnxmltools or fixes in it: one module per stage family.

Every module in this package defines ``SPECS: list[ConverterSpec]``. They are found by
module discovery and registered through :func:`mlflow_sparkonnx.convert.registry.register_stage_converter`
(the only code that touches onnxmltools' tables) the first time a pipeline is converted.
A spec with ``replaces_onnxmltools=True`` overrides onnxmltools' own converter for that stage.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_lock = threading.Lock()
_registered = False


@dataclass(frozen=True)
class ConverterSpec:
    """One stage class, its converter and shape calculator, and the columns it reads and writes."""

    stage_class: type
    converter: Callable[..., None]
    shape_calculator: Callable[..., None]
    input_columns: Callable[[Any], list[str]]
    output_columns: Callable[[Any], list[str]]
    replaces_onnxmltools: bool = False
    #: Default-domain opset the converter's nodes need; ``convert_pipeline`` raises the graph's to it.
    min_opset: int | None = None


def builtin_specs() -> list[ConverterSpec]:
    """Every ``SPECS`` entry of every module in this package, in module-name order."""
    specs: list[ConverterSpec] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        specs.extend(getattr(module, "SPECS", []))
    return specs


def required_opset(stages: list[Any]) -> int | None:
    """The highest ``min_opset`` among the specs that convert ``stages`` (None when none asks)."""
    from mlflow_sparkonnx.convert.registry import converter_provider

    needed = {spec.stage_class: spec.min_opset for spec in builtin_specs() if spec.min_opset}
    found = [needed[type(s)] for s in stages if type(s) in needed and converter_provider(s) == "sparkonnx"]
    return max(found, default=None)


def register_builtin_converters() -> None:
    """Register this package's converters once per process (idempotent, thread-safe)."""
    global _registered
    with _lock:
        if _registered:
            return
        from mlflow_sparkonnx.convert.registry import adapt_onnxmltools_converters, register_stage_converter

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
