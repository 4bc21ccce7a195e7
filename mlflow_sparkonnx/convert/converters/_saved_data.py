"""A fitted stage's saved data, read back with Spark: for stages whose fitted values Python cannot see.

Some models keep their fitted values only in the JVM (MinHashLSH's coefficients, a random projection's
matrix, TargetEncoder's categories). The stage is written to the staging folder (``MLFLOW_DFS_TMP``,
which every Spark process must see, as for the native model) and its ``data`` folder read as parquet.
"""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.exceptions import ConversionError


def saved_data_rows(stage: Any, spark: Any) -> list[Any]:
    """The rows of ``stage``'s saved ``data`` parquet; a ``ConversionError`` naming the folder if unread."""
    from mlflow_sparkonnx.sparkml.staging import join, new_staging_location, remove_staged

    folder = new_staging_location()  # where Spark's writers and readers see the same files
    try:
        stage.write().overwrite().save(join(folder, "model"))
        return spark.read.parquet(join(folder, "model/data")).collect()
    except Exception as exc:
        raise ConversionError(
            f"could not read {type(stage).__name__} {stage.uid}'s fitted data (written to {folder}; "
            f"set MLFLOW_DFS_TMP to a folder every Spark process shares): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        ) from exc
    finally:
        remove_staged(spark, folder)


def conversion_spark(operator: Any) -> Any:
    """The SparkSession the conversion runs with (``ConversionError`` outside ``convert_pipeline``)."""
    spark = (getattr(operator, "raw_params", None) or {}).get("SparkSession")
    if spark is None:
        stage = operator.raw_operator
        raise ConversionError(f"{type(stage).__name__} {stage.uid} needs a SparkSession during conversion")
    return spark
