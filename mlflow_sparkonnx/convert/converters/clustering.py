"""KMeansModel, BisectingKMeansModel and GaussianMixtureModel, computed in double.

- KMeansModel: the index of the nearest center (squared Euclidean or cosine distance), the first
  on a tie. onnxmltools' converter computes in float32; this one replaces it.
- Both k-means models refuse rows as Spark does: a NaN element (Spark: "Both norms should be
  greater or equal to 0.0"), and, for ``distanceMeasure="cosine"``, a zero-length vector
  (Spark: "Cosine distance is not defined for zero-length vectors"; the norm is taken in double,
  so an element too small to square counts as zero there too). See ``_row_checks``.
- BisectingKMeansModel: Spark does **not** pick the nearest leaf center. It descends the
  cluster tree from the root, at each node moving to the child with the smaller cost
  (squared Euclidean distance, or cosine distance ``1 - x·c / (|x| |c|)``), the first child
  on a tie, until it reaches a leaf, whose index is the prediction. The graph computes the
  cost of every node center once (in double) and repeats the descent step once per tree level.
  The tree is read from the fitted model's JVM object (``parentModel.root``).
- GaussianMixtureModel: ``probability_i = (EPS + w_i · pdf_i(x)) / Σ_j (EPS + w_j · pdf_j(x))``
  with Spark's ``MultivariateGaussian`` (eigen-decomposed covariance, pseudo-inverse and
  pseudo-determinant for eigenvalues above ``EPS · max · k``), ``EPS`` the double machine
  epsilon; ``prediction`` is the first index of the largest probability (so a point far from
  every component gets uniform probabilities and prediction 0, as in Spark). All in double.

Inputs enter the graph as float32 (every converter's inputs do); the arithmetic after that is
double, so labels agree with Spark except for points within float32 rounding of a boundary.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import TensorProto, helper
from pyspark.ml.clustering import BisectingKMeansModel, GaussianMixtureModel, KMeansModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import INT64, as_double_matrix, constant, node, row_sum
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows
from mlflow_sparkonnx.exceptions import ConversionError
from mlflow_sparkonnx.sparkml.jvm import java_object

_logger = logging.getLogger(__name__)

DOUBLE = TensorProto.DOUBLE
#: Spark's MLUtils.EPSILON: the double machine epsilon.
EPSILON = float(np.finfo(np.float64).eps)


def _squared_norms(scope: Any, container: Any, x: str) -> str:
    """``[N, 1]`` double: each row's squared length (shared by the costs and the row checks)."""
    return row_sum(scope, container, node(scope, container, "Mul", [x, x], op_version=14))


def _costs(scope: Any, container: Any, x: str, x_sq: str, centers: np.ndarray, measure: str) -> str:
    """``[N, M]`` double: the cost of each center for each row (squared Euclidean or cosine distance).

    ``x_sq`` is :func:`_squared_norms` of ``x``.
    """
    m, d = centers.shape
    c = constant(scope, container, "cluster_centers_t", DOUBLE, [d, m], centers.T.ravel().tolist())
    dot = node(scope, container, "MatMul", [x, c], op_version=13)
    if measure == "euclidean":
        two = constant(scope, container, "cluster_two", DOUBLE, [1], [2.0])
        c_sq = constant(
            scope, container, "cluster_center_sq", DOUBLE, [1, m], (centers**2).sum(axis=1).tolist()
        )
        partial = node(
            scope,
            container,
            "Sub",
            [x_sq, node(scope, container, "Mul", [dot, two], op_version=14)],
            op_version=14,
        )
        return node(scope, container, "Add", [partial, c_sq], op_version=14)
    if measure == "cosine":
        norms = np.linalg.norm(centers, axis=1)
        c_norm = constant(scope, container, "cluster_center_norm", DOUBLE, [1, m], norms.tolist())
        x_norm = node(scope, container, "Sqrt", [x_sq], op_version=13)
        one = constant(scope, container, "cluster_one", DOUBLE, [1], [1.0])
        similarity = node(
            scope,
            container,
            "Div",
            [node(scope, container, "Div", [dot, x_norm], op_version=14), c_norm],
            op_version=14,
        )
        return node(scope, container, "Sub", [one, similarity], op_version=14)
    raise ConversionError(f"distanceMeasure '{measure}' is not supported")


def _refuse_invalid_points(scope: Any, container: Any, x: str, x_sq: str, stage: Any) -> None:
    """Flag the rows Spark's k-means models raise on: a NaN element; a zero vector under cosine."""
    column = stage.getFeaturesCol()
    nan = node(scope, container, "IsNaN", [x], op_version=13)
    refuse_rows(
        scope,
        container,
        nan,
        stage,
        column,
        "a NaN element (Spark: 'Both norms should be greater or equal to 0.0')",
    )
    if stage.getDistanceMeasure() == "cosine":
        zero = constant(scope, container, "cluster_zero", DOUBLE, [1], [0.0])
        refuse_rows(
            scope,
            container,
            node(scope, container, "Equal", [x_sq, zero], op_version=13),
            stage,
            column,
            "a zero-length vector, for which cosine distance is undefined (Spark: 'Cosine distance is not "
            "defined for zero-length vectors')",
        )


def convert_kmeans(scope: Any, operator: Any, container: Any) -> None:
    """The first nearest center's index (int64 ``[N, 1]``)."""
    stage = operator.raw_operator
    x = as_double_matrix(scope, container, operator.inputs[0])
    x_sq = _squared_norms(scope, container, x)
    _refuse_invalid_points(scope, container, x, x_sq, stage)
    centers = np.array(stage.clusterCenters(), dtype=np.float64)
    costs = _costs(scope, container, x, x_sq, centers, stage.getDistanceMeasure())
    node(
        scope,
        container,
        "ArgMin",
        [costs],
        op_version=13,
        axis=1,
        keepdims=1,
        output=operator.outputs[0].full_name,
    )


@dataclass
class _Tree:
    """The cluster tree flattened: node centers, children (a leaf is its own child) and leaf indices."""

    centers: list[list[float]] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    leaf_index: list[int] = field(default_factory=list)
    depth: int = 0


def _read_tree(stage: Any) -> _Tree:
    java_model = java_object(stage, "parentModel")
    accessor = "org$apache$spark$ml$clustering$BisectingKMeansModel$$parentModel"
    try:
        root = getattr(java_model, accessor)().root()
    except Exception as exc:  # a Spark version that renamed the private field
        raise ConversionError(
            f"cannot read the cluster tree of BisectingKMeansModel {stage.uid}: {exc}"
        ) from exc
    tree = _Tree()

    def visit(java_node: Any, depth: int) -> int:
        position = len(tree.centers)
        tree.centers.append(list(java_node.centerWithNorm().vector().toArray()))
        tree.left.append(position)
        tree.right.append(position)
        tree.leaf_index.append(int(java_node.index()))
        tree.depth = max(tree.depth, depth)
        children = list(java_node.children())
        if children:
            if len(children) != 2:
                raise ConversionError(
                    f"BisectingKMeansModel {stage.uid}: a node with {len(children)} children"
                )
            tree.left[position] = visit(children[0], depth + 1)
            tree.right[position] = visit(children[1], depth + 1)
        return position

    visit(root, 0)
    return tree


def convert_bisecting_kmeans(scope: Any, operator: Any, container: Any) -> None:
    """Costs to every node center, then ``depth`` descent steps: left unless the right child costs less."""
    stage = operator.raw_operator
    tree = _read_tree(stage)
    x = as_double_matrix(scope, container, operator.inputs[0])
    x_sq = _squared_norms(scope, container, x)
    _refuse_invalid_points(scope, container, x, x_sq, stage)
    centers = np.array(tree.centers, dtype=np.float64)
    costs = _costs(scope, container, x, x_sq, centers, stage.getDistanceMeasure())
    n = len(tree.centers)
    left = constant(scope, container, "bkm_left", INT64, [n], tree.left)
    right = constant(scope, container, "bkm_right", INT64, [n], tree.right)
    shape = node(
        scope,
        container,
        "Gather",
        [
            node(scope, container, "Shape", [x], op_version=13),
            constant(scope, container, "bkm_rows", INT64, [1], [0]),
        ],
        op_version=13,
        axis=0,
    )
    column_shape = node(
        scope,
        container,
        "Concat",
        [shape, constant(scope, container, "bkm_one", INT64, [1], [1])],
        op_version=13,
        axis=0,
    )
    current = node(
        scope,
        container,
        "ConstantOfShape",
        [column_shape],
        op_version=9,
        value=helper.make_tensor("value", INT64, [1], [0]),
    )
    for _ in range(tree.depth):
        to_left = node(scope, container, "Gather", [left, current], op_version=13, axis=0)
        to_right = node(scope, container, "Gather", [right, current], op_version=13, axis=0)
        left_cost = node(scope, container, "GatherElements", [costs, to_left], op_version=13, axis=1)
        right_cost = node(scope, container, "GatherElements", [costs, to_right], op_version=13, axis=1)
        go_right = node(scope, container, "Less", [right_cost, left_cost], op_version=13)
        current = node(scope, container, "Where", [go_right, to_right, to_left], op_version=9)
    leaves = constant(scope, container, "bkm_leaf_index", INT64, [n], tree.leaf_index)
    node(
        scope,
        container,
        "Gather",
        [leaves, current],
        op_version=13,
        axis=0,
        output=operator.outputs[0].full_name,
    )


def _gaussian_constants(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, float]:
    """Spark's ``MultivariateGaussian.calculateCovarianceConstants``: ``rootSigmaInv`` and ``u``."""
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    tol = EPSILON * eigenvalues.max() * len(eigenvalues)
    kept = eigenvalues > tol
    pinv_sqrt = np.where(kept, 1.0 / np.sqrt(np.where(kept, eigenvalues, 1.0)), 0.0)
    root_sigma_inv = np.diag(pinv_sqrt) @ eigenvectors.T
    log_pseudo_det = float(np.log(eigenvalues[kept]).sum())
    u = -0.5 * (len(mean) * math.log(2.0 * math.pi) + log_pseudo_det)
    return root_sigma_inv, u


def convert_gaussian_mixture(scope: Any, operator: Any, container: Any) -> None:
    """Log-densities of every component in double, Spark's EPS-smoothed posterior, its first argmax."""
    stage = operator.raw_operator
    means = np.array([g.mean.toArray() for g in stage.gaussians], dtype=np.float64)
    roots, constants = zip(
        *(_gaussian_constants(g.mean.toArray(), g.cov.toArray()) for g in stage.gaussians), strict=True
    )
    k, d = means.shape
    x = as_double_matrix(scope, container, operator.inputs[0])
    # delta[k, n, :] = x[n] - mean[k]; y[k, n, :] = rootSigmaInv[k] @ delta[k, n, :]
    x3 = node(
        scope,
        container,
        "Unsqueeze",
        [x, constant(scope, container, "gmm_axis0", INT64, [1], [0])],
        op_version=13,
    )
    mu = constant(scope, container, "gmm_means", DOUBLE, [k, 1, d], means.ravel().tolist())
    delta = node(scope, container, "Sub", [x3, mu], op_version=14)
    transposed = np.stack([r.T for r in roots])
    rt = constant(scope, container, "gmm_root_sigma_inv_t", DOUBLE, [k, d, d], transposed.ravel().tolist())
    y = node(scope, container, "MatMul", [delta, rt], op_version=13)
    axes = constant(scope, container, "gmm_axis2", INT64, [1], [2])
    squared = node(
        scope,
        container,
        "ReduceSum",
        [node(scope, container, "Mul", [y, y], op_version=14), axes],
        op_version=13,
        keepdims=0,
    )
    quadratic = node(scope, container, "Transpose", [squared], op_version=13, perm=[1, 0])
    half = constant(scope, container, "gmm_minus_half", DOUBLE, [1], [-0.5])
    u = constant(scope, container, "gmm_u", DOUBLE, [1, k], list(constants))
    log_pdf = node(
        scope,
        container,
        "Add",
        [u, node(scope, container, "Mul", [quadratic, half], op_version=14)],
        op_version=14,
    )
    weights = constant(scope, container, "gmm_weights", DOUBLE, [1, k], [float(w) for w in stage.weights])
    eps = constant(scope, container, "gmm_eps", DOUBLE, [1], [EPSILON])
    weighted = node(
        scope,
        container,
        "Add",
        [
            node(
                scope,
                container,
                "Mul",
                [node(scope, container, "Exp", [log_pdf], op_version=13), weights],
                op_version=14,
            ),
            eps,
        ],
        op_version=14,
    )
    total = node(
        scope,
        container,
        "ReduceSum",
        [weighted, constant(scope, container, "gmm_axis1", INT64, [1], [1])],
        op_version=13,
        keepdims=1,
    )
    probability = node(scope, container, "Div", [weighted, total], op_version=14)
    prediction, probability_out = operator.outputs
    node(
        scope,
        container,
        "ArgMax",
        [probability],
        op_version=13,
        axis=1,
        keepdims=1,
        output=prediction.full_name,
    )
    node(
        scope,
        container,
        "Cast",
        [probability],
        op_version=13,
        to=TensorProto.FLOAT,
        output=probability_out.full_name,
    )


def calculate_cluster_index_shape(operator: Any) -> None:
    """int64 ``[N, 1]``: the cluster index."""
    from onnxmltools.convert.common.data_types import Int64TensorType

    operator.outputs[0].type = Int64TensorType([operator.inputs[0].type.shape[0], 1])


def calculate_gaussian_mixture_shapes(operator: Any) -> None:
    from onnxmltools.convert.common.data_types import FloatTensorType, Int64TensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = Int64TensorType([n, 1])
    operator.outputs[1].type = FloatTensorType([n, operator.raw_operator.getK()])


def _features(stage: Any) -> list[str]:
    return [stage.getFeaturesCol()]


def _prediction(stage: Any) -> list[str]:
    return [stage.getPredictionCol()]


def _prediction_and_probability(stage: Any) -> list[str]:
    return [stage.getPredictionCol(), stage.getProbabilityCol()]


SPECS = [
    ConverterSpec(
        KMeansModel,
        convert_kmeans,
        calculate_cluster_index_shape,
        input_columns=_features,
        output_columns=_prediction,
        replaces_onnxmltools=True,
    ),
    ConverterSpec(
        BisectingKMeansModel,
        convert_bisecting_kmeans,
        calculate_cluster_index_shape,
        input_columns=_features,
        output_columns=_prediction,
    ),
    ConverterSpec(
        GaussianMixtureModel,
        convert_gaussian_mixture,
        calculate_gaussian_mixture_shapes,
        input_columns=_features,
        output_columns=_prediction_and_probability,
    ),
]
