"""One loaded model answers many threads at once exactly as it answers them one by one.

MLflow's scoring server calls ``predict`` from a thread pool, so a loaded model is shared.
ONNX: 16 threads x 200 single-row calls. Spark: 16 threads x 200 rows, in calls of 100 rows
(a Spark job per call makes 3,200 single-row calls take tens of minutes on 2 cores).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mlflow.pyfunc
import pandas as pd
import pytest

THREADS = 16


def score_concurrently(model, chunks: list[list[pd.DataFrame]]) -> list[list[pd.DataFrame]]:
    def work(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
        return [model.predict(frame) for frame in frames]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(work, chunks))


def assert_same(concurrent: list[list[pd.DataFrame]], sequential: list[list[pd.DataFrame]]) -> None:
    for thread, (got_frames, want_frames) in enumerate(zip(concurrent, sequential, strict=True)):
        for call, (got, want) in enumerate(zip(got_frames, want_frames, strict=True)):
            assert got.columns.tolist() == want.columns.tolist()
            for column in got.columns:
                assert got[column].tolist() == want[column].tolist(), (thread, call, column)


def test_onnx_runtime_16_threads_x_200_single_rows(saved_models, adult_holdout):
    model = mlflow.pyfunc.load_model(saved_models["rf"], model_config={"runtime": "onnx"})
    rows = [adult_holdout.iloc[[i % len(adult_holdout)]] for i in range(THREADS * 200)]
    chunks = [rows[t * 200 : (t + 1) * 200] for t in range(THREADS)]
    sequential = [[model.predict(row) for row in chunk] for chunk in chunks]
    assert_same(score_concurrently(model, chunks), sequential)


@pytest.mark.slow
def test_spark_runtime_16_threads_x_200_rows(saved_models, adult_holdout):
    model = mlflow.pyfunc.load_model(saved_models["lr"], model_config={"runtime": "spark"})
    frame = pd.concat([adult_holdout] * 8, ignore_index=True)  # 3,200 rows
    chunks = [
        [frame.iloc[t * 200 + c * 100 : t * 200 + (c + 1) * 100].reset_index(drop=True) for c in range(2)]
        for t in range(THREADS)
    ]
    sequential = [[model.predict(part) for part in chunk] for chunk in chunks]
    assert_same(score_concurrently(model, chunks), sequential)
