"""The ``sparkonnx`` block of a saved model's MLmodel file, read as the raw YAML mapping it is."""

from __future__ import annotations

import os
from typing import Any

import yaml


def flavor_block(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The MLmodel ``sparkonnx`` block of the model in local directory ``model_dir``."""
    with open(os.path.join(model_dir, "MLmodel")) as f:
        return yaml.safe_load(f)["flavors"]["sparkonnx"]
