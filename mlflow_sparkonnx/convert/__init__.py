"""Spark pipeline → ONNX: input types, conversion, and the parity check against Spark."""
