"""The registry's snapshot/restore facility, as the conftest mismatch fixture uses it."""

from __future__ import annotations

from pyspark.ml import Transformer
from wrong_converter import convert_elementwise_product_wrongly, deliberately_wrong_converter

from mlflow_sparkonnx.convert import registration


def test_a_replaced_converter_is_restored_afterwards(spark):
    from pyspark.ml.feature import ElementwiseProduct

    stage = ElementwiseProduct()
    before = registration.stage_converter(stage)
    assert registration.converter_provider(stage) == "onnxmltools"
    with deliberately_wrong_converter():
        assert registration.converter_provider(stage) == "user"
        assert (
            registration.stage_converter(stage).converter.__wrapped__ is convert_elementwise_product_wrongly
        )
    assert registration.converter_provider(stage) == "onnxmltools"
    assert registration.stage_converter(stage) == before


class NoConverterStage(Transformer):
    """A custom Python stage nobody converts."""

    def _transform(self, dataset):
        return dataset


def test_restoring_a_class_that_had_no_converter_removes_it():
    stage = NoConverterStage()
    snapshot = registration.snapshot_registration(NoConverterStage)
    assert registration.converter_provider(stage) is None
    registration.register_converter(
        NoConverterStage,
        convert_elementwise_product_wrongly,
        lambda operator: None,
        input_columns=lambda s: ["x"],
        output_columns=lambda s: ["y"],
    )
    assert registration.converter_provider(stage) == "user"
    registration.restore_registration(snapshot)
    assert registration.converter_provider(stage) is None
