"""Reading a stage's params without starting a Spark job."""

from __future__ import annotations

from typing import Any


def param_columns(stage: Any, name: str) -> list[str]:
    """``<name>s`` if set, else ``[<name>]`` (e.g. ``inputCols`` / ``inputCol``)."""
    if stage.hasParam(name + "s") and stage.isSet(stage.getParam(name + "s")):
        return list(stage.getOrDefault(name + "s"))
    return [stage.getOrDefault(name)]


def param_value(stage: Any, name: str, *, set_only: bool = False) -> Any:
    if not stage.hasParam(name):
        return None
    param = stage.getParam(name)
    if set_only and not stage.isSet(param):
        return None
    if not stage.isDefined(param):
        return None
    return stage.getOrDefault(param)
