"""Converters this package adds to onnxmltools or fixes in it: one module per stage family.

Every module in this package defines ``SPECS: list[ConverterSpec]``. They are found by
module discovery (:func:`builtin_specs`) and registered by ``convert.registration`` (the only code
that touches onnxmltools' tables) the first time a pipeline is converted.
A spec with ``replaces_onnxmltools=True`` overrides onnxmltools' own converter for that stage.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConverterSpec:
    """One stage class, its converter and shape calculator, and the columns it reads and writes."""

    stage_class: type
    converter: Callable[..., None]
    shape_calculator: Callable[..., None]
    input_columns: Callable[[Any], list[str]]
    output_columns: Callable[[Any], list[str]]
    replaces_onnxmltools: bool = False
    #: Default-domain opset the converter's nodes need (or a function of the stage giving it, None for
    #: none); ``convert_pipeline`` raises the graph's to it.
    min_opset: int | Callable[[Any], int | None] | None = None


def builtin_specs() -> list[ConverterSpec]:
    """Every ``SPECS`` entry of every module in this package, in module-name order."""
    specs: list[ConverterSpec] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        specs.extend(getattr(module, "SPECS", []))
    return specs
