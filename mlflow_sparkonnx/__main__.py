"""``python -m mlflow_sparkonnx``: the same command as ``mlflow-sparkonnx``."""

from mlflow_sparkonnx.cli import main

if __name__ == "__main__":
    main(prog_name="mlflow-sparkonnx")
