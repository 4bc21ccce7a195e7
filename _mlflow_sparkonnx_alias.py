"""Makes ``mlflow.sparkonnx`` an alias of ``mlflow_sparkonnx`` (installed by a .pth file).

MLflow has no plugin entry point for flavors. This module, run at interpreter start-up,
only inserts a meta-path finder and imports nothing beyond ``sys``, so unrelated processes
pay for one tiny module. When ``mlflow`` is imported, ``mlflow.sparkonnx`` is attached to
it; an explicit ``import mlflow.sparkonnx`` resolves to the same module object.
"""

import sys

_ALIAS = "mlflow.sparkonnx"
_TARGET = "mlflow_sparkonnx"


class _AliasLoader:
    """Returns the real ``mlflow_sparkonnx`` module for the alias name."""

    def create_module(self, spec):
        import importlib

        module = importlib.import_module(_TARGET)
        self._original_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._original_spec  # the import system set the alias spec


class _MlflowLoader:
    """Runs mlflow's own loader, then attaches the alias to the new module."""

    def __init__(self, wrapped):
        self._wrapped = wrapped

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        self._wrapped.exec_module(module)
        import importlib

        try:
            importlib.import_module(_ALIAS)
        except ImportError:  # mlflow_sparkonnx missing or broken: leave mlflow alone
            pass

    def __getattr__(self, name):
        return getattr(self._wrapped, name)


class SparkOnnxAliasFinder:
    """Resolves ``mlflow.sparkonnx`` and hooks the import of ``mlflow``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == _ALIAS:
            from importlib.util import spec_from_loader

            return spec_from_loader(fullname, _AliasLoader())
        if fullname == "mlflow":
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _MlflowLoader(spec.loader)
            return spec
        return None

    def invalidate_caches(self):
        pass


def install():
    """Add the finder once (idempotent)."""
    if not any(isinstance(f, SparkOnnxAliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, SparkOnnxAliasFinder())


install()
