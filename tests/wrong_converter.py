"""A deliberately wrong converter, so the verification gate has an honest silent error to catch."""

from __future__ import annotations

from contextlib import contextmanager


def convert_elementwise_product_wrongly(scope, operator, container) -> None:
    """A deliberately wrong ElementwiseProduct converter: scales by 1.5 x scalingVec instead of scalingVec."""
    from onnx import TensorProto

    scaling = [1.5 * v for v in operator.raw_operator.getScalingVec().toArray()]
    name = scope.get_unique_variable_name("wrong_scaling")
    container.add_initializer(name, TensorProto.FLOAT, [1, len(scaling)], scaling)
    container.add_node(
        "Mul",
        [operator.inputs[0].full_name, name],
        operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Mul"),
        op_version=7,
    )


def _same_shape(operator) -> None:
    from onnxmltools.convert.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType(list(operator.inputs[0].type.shape))


@contextmanager
def temporary_converter(stage_class, convert):
    """While active, ``stage_class`` (a one-column stage) converts with ``convert`` (registered through
    the public API with overwrite=True, output shaped like its input); the previous registration is
    restored afterwards."""
    import mlflow_sparkonnx
    from mlflow_sparkonnx.convert.registration import restore_registration, snapshot_registration

    previous = snapshot_registration(stage_class)
    mlflow_sparkonnx.register_converter(
        stage_class,
        convert,
        _same_shape,
        input_columns=lambda stage: [stage.getInputCol()],
        output_columns=lambda stage: [stage.getOutputCol()],
        overwrite=True,
    )
    try:
        yield
    finally:
        restore_registration(previous)


@contextmanager
def deliberately_wrong_converter():
    """While active, ElementwiseProduct converts wrongly. Only the mismatch pipeline uses
    ElementwiseProduct, so the verification gate has an honest silent error to catch."""
    from pyspark.ml.feature import ElementwiseProduct

    with temporary_converter(ElementwiseProduct, convert_elementwise_product_wrongly):
        yield
