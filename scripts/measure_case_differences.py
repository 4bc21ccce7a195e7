"""Measure where onnxruntime's ``StringNormalizer`` case mapping differs from Spark's, per code point.

Spark lower/upper-cases with Java's ``String.toLowerCase``/``toUpperCase`` (Tokenizer, StopWordsRemover,
and SQL with ``spark.sql.icu.caseMappings.enabled=false``) or with ICU (SQL's default). Every code
point but the surrogates is mapped by each side; the differing ones are printed as RE2 character
classes for ``LOWER_CASE_DIFFERS``/``UPPER_CASE_DIFFERS`` in ``convert/converters/_text.py``.

    .venv/bin/python scripts/measure_case_differences.py   # a minute or two; local Spark
"""

from __future__ import annotations

import os
import sys

import numpy as np


def onnx_mapping(chars: list[str], action: str) -> list[str]:
    import onnxruntime
    from onnx import TensorProto, helper

    node = helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action=action, locale="C.UTF-8")
    tensor = [helper.make_tensor_value_info(n, TensorProto.STRING, [None]) for n in ("x", "y")]
    graph = helper.make_graph([node], "case", tensor[:1], tensor[1:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)])
    session = onnxruntime.InferenceSession(model.SerializeToString())
    return list(session.run(None, {"x": np.array(chars, dtype=object)})[0])


def spark_mapping(chars: list[str], icu: bool) -> dict[str, list[str]]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.icu.caseMappings.enabled", str(icu).lower())
        .getOrCreate()
    )
    frame = spark.createDataFrame(list(enumerate(chars)), "i int, s string")
    rows = frame.select("i", F.lower("s").alias("LOWER"), F.upper("s").alias("UPPER")).orderBy("i").collect()
    spark.stop()
    return {action: [r[action] for r in rows] for action in ("LOWER", "UPPER")}


def re2_class(codes: set[int]) -> str:
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "]"


def main() -> None:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    codes = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    chars = [chr(c) for c in codes]
    sides = {"java": spark_mapping(chars, icu=False), "icu": spark_mapping(chars, icu=True)}
    for action in ("LOWER", "UPPER"):
        onnx = onnx_mapping(chars, action)
        union: set[int] = set()
        for name, mapped in sides.items():
            differ = {codes[i] for i in range(len(codes)) if mapped[action][i] != onnx[i]}
            sys.stdout.write(f"{action} {name}: {len(differ)} code points differ\n")
            union |= differ
        sys.stdout.write(f"{action} either ({len(union)}): {re2_class(union)}\n")


if __name__ == "__main__":
    main()
