"""The package's layers (docs/architecture.md): imports point down, no cycle, at most 10 floors.

Read from the source with ``ast`` (module-level and function-level imports alike), so a lazy
import that would dodge a cycle still counts.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mlflow_sparkonnx"
#: Layer by first name under the package; a module may import its own layer and those below.
LAYERS = {
    "contract": 0,
    "exceptions": 0,
    "artifacts": 0,
    "_version": 0,
    "sparkml": 1,
    "convert": 2,
    "scoring": 3,
    "flavor": 4,
    "lifecycle": 5,
    "cli": 6,
    "__main__": 6,
    "": 6,  # the package's __init__: the public surface
}
MAX_FLOORS = 10


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """Package modules ``module`` imports, anywhere in its body."""
    targets = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlflow_sparkonnx"):
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("mlflow_sparkonnx")]
        else:
            continue
        for name in names:
            resolved = _resolve(name)
            # "from package import submodule" names the submodule; "from package import function" the package
            if resolved == "mlflow_sparkonnx" and node.module != "mlflow_sparkonnx":
                resolved = _resolve(node.module)
            if resolved and resolved != module:
                targets.add(resolved)
    return targets


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module: str) -> int:
    return LAYERS[module.removeprefix("mlflow_sparkonnx").lstrip(".").split(".")[0]]


def test_every_module_has_a_layer():
    unknown = [
        m for m in MODULES if m.removeprefix("mlflow_sparkonnx").lstrip(".").split(".")[0] not in LAYERS
    ]
    assert not unknown, f"modules outside the layers of docs/architecture.md: {unknown}"


def test_imports_point_down():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_contract_imports_nothing_of_the_package():
    assert GRAPH["mlflow_sparkonnx.contract"] == set()


def test_no_import_cycle():
    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for target in GRAPH[node]:
                if target == start:
                    return path + [start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))
        return None

    cycles = [c for c in map(cycle_from, GRAPH) if c]
    assert not cycles, f"import cycles: {cycles[:3]}"


def test_at_most_ten_floors():
    @cache
    def floors(module: str) -> int:
        return 1 + max((floors(t) for t in GRAPH[module] if t != "mlflow_sparkonnx"), default=0)

    deepest = max(MODULES, key=floors)
    assert floors(deepest) <= MAX_FLOORS, f"{deepest} sits {floors(deepest)} floors up"


def test_the_request_path_does_not_reach_save_time_code():
    """What mlflow.pyfunc.load_model and transform import never includes conversion or the flavor."""

    def reach(module: str, seen: set[str]) -> set[str]:
        for target in GRAPH[module] - seen:
            seen.add(target)
            reach(target, seen)
        return seen

    request_path = reach("mlflow_sparkonnx.scoring.pyfunc", set()) | reach(
        "mlflow_sparkonnx.scoring.spark_scoring", set()
    )
    save_time = {m for m in request_path if _layer(m) >= 4 or m.startswith("mlflow_sparkonnx.convert")}
    assert not save_time, sorted(save_time)
