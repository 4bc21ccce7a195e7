"""Decision trees, random forests and gradient-boosted trees as one exact ONNX ``TreeEnsemble``.

onnxmltools converts each tree through its own Spark write and read (42 s for 100 trees), in
float32 (labels flip near thresholds), and turns GBTRegressor into a 0/1 argmax. Here the whole
ensemble is written once and its node table read with pyarrow; every tree becomes part of one
``ai.onnx.ml`` opset-5 ``TreeEnsemble`` node with double thresholds and double leaf values, so
comparisons happen in double precision as in Spark (features that arrive as float32 are widened
exactly).

Categorical splits are ``BRANCH_MEMBER`` nodes over the set Spark's ``CategoricalSplit`` tests: the
left categories when they are at most half of ``numCategories``, else the complement (a value in it
goes right), so a value outside ``0..numCategories-1`` goes left exactly where Spark sends it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto, numpy_helper
from pyspark.ml.classification import (
    DecisionTreeClassificationModel,
    GBTClassificationModel,
    RandomForestClassificationModel,
)
from pyspark.ml.regression import (
    DecisionTreeRegressionModel,
    GBTRegressionModel,
    RandomForestRegressionModel,
)

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import constant, node

_logger = logging.getLogger(__name__)

_BRANCH_LEQ = 0
_BRANCH_MEMBER = 6
_ML_DOMAIN = "ai.onnx.ml"
_TREE_ENSEMBLE_OPSET = 5
#: Log progress for ensembles at least this large.
_PROGRESS_TREES = 50


@dataclass
class NodeTable:
    """All nodes of all trees as columns, sorted by tree then node id (Spark numbers nodes 0..n-1)."""

    tree: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    num_categories: np.ndarray
    split_values: list[list[float]]
    prediction: np.ndarray
    stats: np.ndarray  # [nodes, k]: class counts for classifiers

    @property
    def n_trees(self) -> int:
        return int(self.tree.max()) + 1 if len(self.tree) else 0

    @property
    def is_leaf(self) -> np.ndarray:
        return self.left < 0


@dataclass
class _Ensemble:
    """TreeEnsemble attributes for all trees."""

    tree_roots: np.ndarray
    featureids: np.ndarray
    modes: np.ndarray
    splits: np.ndarray
    true_ids: np.ndarray
    true_leafs: np.ndarray
    false_ids: np.ndarray
    false_leafs: np.ndarray
    membership: list[float]  # the category sets of the BRANCH_MEMBER nodes, each ended by NaN
    leaf_weights: np.ndarray


def read_trees(stage: Any) -> NodeTable:
    """Every node of a fitted tree model, from one Spark write read back with pyarrow."""
    import pyarrow.parquet as pq

    from mlflow_sparkonnx.sparkml.native_model import written_by_spark
    from mlflow_sparkonnx.sparkml.session import get_or_create_spark

    started = time.perf_counter()
    with written_by_spark(stage, get_or_create_spark()) as (_, local_dir):
        table = pq.read_table(os.path.join(local_dir, "data"))
    prefix = "nodeData." if "treeID" in table.column_names else ""
    table = table.flatten().flatten()

    def column(name: str) -> Any:
        return table.column(prefix + name).combine_chunks()

    if prefix:
        tree = table.column("treeID").combine_chunks().to_numpy()
    else:
        tree = np.zeros(table.num_rows, dtype=np.int64)
    order = np.lexsort((column("id").to_numpy(), tree))
    stats = column("impurityStats")
    lengths = np.diff(stats.offsets.to_numpy())
    width = int(lengths.max()) if len(lengths) else 0
    if len(lengths) and (lengths == width).all():
        stats_matrix = stats.flatten().to_numpy().reshape(-1, width)
    else:  # not expected from Spark; keeps regression trees working
        stats_matrix = np.zeros((table.num_rows, 0))
    split_values = column("split.leftCategoriesOrThreshold").to_pylist()  # once: per node it is quadratic
    nodes = NodeTable(
        tree=tree[order],
        left=column("leftChild").to_numpy()[order],
        right=column("rightChild").to_numpy()[order],
        feature=column("split.featureIndex").to_numpy()[order],
        num_categories=column("split.numCategories").to_numpy()[order],
        split_values=[split_values[i] for i in order],
        prediction=column("prediction").to_numpy()[order],
        stats=stats_matrix[order],
    )
    _logger.debug(
        "Read %d trees (%d nodes) of %s in %.2f s.",
        nodes.n_trees,
        len(order),
        type(stage).__name__,
        time.perf_counter() - started,
    )
    return nodes


def _build_ensemble(nodes: NodeTable, leaf_values: np.ndarray) -> _Ensemble:
    """One TreeEnsemble over all trees; ``leaf_values`` has one weight per node (used at leaves).

    Spark sends ``x <= threshold`` (or a value its categorical split tests true) to the left child:
    the true branch, except for a split that tests the complement of the left categories.
    """
    is_leaf = nodes.is_leaf
    first_row = np.searchsorted(nodes.tree, np.arange(nodes.n_trees))
    leaf_index = np.cumsum(is_leaf) - 1
    interior_index = np.cumsum(~is_leaf) - 1
    interior = np.flatnonzero(~is_leaf)

    def branch(child_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = first_row[nodes.tree[interior]] + child_ids[interior]
        return np.where(is_leaf[rows], leaf_index[rows], interior_index[rows]), is_leaf[rows].astype(np.int64)

    true_ids, true_leafs = branch(nodes.left)
    false_ids, false_leafs = branch(nodes.right)
    categorical = nodes.num_categories[interior] >= 0
    thresholds = np.array(
        [nodes.split_values[r][0] if not c else math.nan for r, c in zip(interior, categorical, strict=True)],
        dtype=np.float64,
    )
    membership: list[float] = []
    for position in np.flatnonzero(categorical):
        row = interior[position]
        tested, in_set_goes_left = _spark_category_set(
            nodes.split_values[row], int(nodes.num_categories[row])
        )
        membership += [*tested, math.nan]
        if not in_set_goes_left:  # the complement is tested: a value in it goes right
            true_ids[position], false_ids[position] = false_ids[position], true_ids[position]
            true_leafs[position], false_leafs[position] = false_leafs[position], true_leafs[position]
    featureids = nodes.feature[interior]
    modes = np.where(categorical, _BRANCH_MEMBER, _BRANCH_LEQ).astype(np.uint8)

    roots = np.empty(nodes.n_trees, dtype=np.int64)
    stump_trees = np.flatnonzero(is_leaf[first_row])
    roots[~is_leaf[first_row]] = interior_index[first_row[~is_leaf[first_row]]]
    if len(stump_trees):  # a single-leaf tree: one always-true split to that leaf
        stump_leaves = leaf_index[first_row[stump_trees]]
        roots[stump_trees] = len(interior) + np.arange(len(stump_trees))
        featureids = np.concatenate([featureids, np.zeros(len(stump_trees), dtype=featureids.dtype)])
        modes = np.concatenate([modes, np.full(len(stump_trees), _BRANCH_LEQ, dtype=np.uint8)])
        thresholds = np.concatenate([thresholds, np.full(len(stump_trees), math.inf)])
        ones = np.ones(len(stump_trees), dtype=np.int64)
        true_ids, false_ids = (
            np.concatenate([true_ids, stump_leaves]),
            np.concatenate([false_ids, stump_leaves]),
        )
        true_leafs, false_leafs = np.concatenate([true_leafs, ones]), np.concatenate([false_leafs, ones])
    return _Ensemble(
        tree_roots=roots,
        featureids=featureids,
        modes=modes,
        splits=thresholds,
        true_ids=true_ids,
        true_leafs=true_leafs,
        false_ids=false_ids,
        false_leafs=false_leafs,
        membership=membership,
        leaf_weights=leaf_values[is_leaf].astype(np.float64),
    )


def _spark_category_set(left: list[float], num_categories: int) -> tuple[list[float], bool]:
    """The set Spark's ``CategoricalSplit`` tests, and whether a value in it goes left.

    Spark keeps the left categories when there are at most ``numCategories / 2`` (integer division)
    of them; otherwise it keeps the complement within ``0..numCategories-1`` and sends a value
    left when it is *not* in that set (also a value outside the categories).
    """
    if len(left) <= num_categories // 2:
        return list(left), True
    kept = set(left)
    return [float(c) for c in range(num_categories) if float(c) not in kept], False


def _read_with_progress(stage: Any) -> NodeTable:
    started = time.perf_counter()
    nodes = read_trees(stage)
    if nodes.n_trees >= _PROGRESS_TREES:
        _logger.info(
            "Read %d trees (%d nodes) of %s in %.1f s; building the ONNX ensemble.",
            nodes.n_trees,
            len(nodes.tree),
            stage.uid,
            time.perf_counter() - started,
        )
    return nodes


def _regression_leaf_values(nodes: NodeTable, tree_weights: np.ndarray) -> np.ndarray:
    return nodes.prediction * tree_weights[nodes.tree]


def _class_leaf_values(nodes: NodeTable, class_index: int, normalise: bool) -> np.ndarray:
    """One class's count at each node, or its share of the node's count (Spark's forest votes)."""
    counts = nodes.stats[:, class_index]
    if not normalise:
        return counts
    totals = nodes.stats.sum(axis=1)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals != 0)


def _tensor(values: list[float], dtype: Any) -> Any:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype))


def _as_double(scope: Any, container: Any, features: str) -> str:
    as_double = scope.get_unique_variable_name("tree_features_double")
    container.add_node(
        "Cast",
        features,
        as_double,
        name=scope.get_unique_operator_name("Cast"),
        op_version=9,
        to=TensorProto.DOUBLE,
    )
    return as_double


def _add_tree_ensemble(scope: Any, container: Any, features: str, ensemble: _Ensemble, n_targets: int) -> str:
    """Cast the features to double and add the TreeEnsemble node; returns its [N, n_targets] output."""
    return _tree_ensemble_node(scope, container, _as_double(scope, container, features), ensemble, n_targets)


def _tree_ensemble_node(
    scope: Any, container: Any, double_features: str, ensemble: _Ensemble, n_targets: int
) -> str:
    output = scope.get_unique_variable_name("tree_ensemble_sum")
    attrs: dict[str, Any] = {
        "aggregate_function": 1,  # SUM
        "n_targets": n_targets,
        "post_transform": 0,
        "tree_roots": ensemble.tree_roots.tolist(),
        "nodes_featureids": ensemble.featureids.tolist(),
        "nodes_modes": _tensor(ensemble.modes, np.uint8),
        "nodes_splits": _tensor(ensemble.splits, np.float64),
        "nodes_truenodeids": ensemble.true_ids.tolist(),
        "nodes_trueleafs": ensemble.true_leafs.tolist(),
        "nodes_falsenodeids": ensemble.false_ids.tolist(),
        "nodes_falseleafs": ensemble.false_leafs.tolist(),
        "leaf_targetids": [0] * len(ensemble.leaf_weights),
        "leaf_weights": _tensor(ensemble.leaf_weights, np.float64),
    }
    if ensemble.membership:
        attrs["membership_values"] = _tensor(ensemble.membership, np.float64)
    container.add_node(
        "TreeEnsemble",
        double_features,
        output,
        op_domain=_ML_DOMAIN,
        op_version=_TREE_ENSEMBLE_OPSET,
        name=scope.get_unique_operator_name("TreeEnsemble"),
        **attrs,
    )
    return output


def _outputs_by_param(operator: Any) -> dict[str, str]:
    stage = operator.raw_operator
    names = _output_params(stage)
    return {param: var.full_name for param, var in zip(names, operator.outputs, strict=True)}


def _output_params(stage: Any) -> list[str]:
    params = ["predictionCol", "probabilityCol", "rawPredictionCol"]
    return [p for p in params if stage.hasParam(p) and stage.getOrDefault(p)]


def _constant(
    scope: Any,
    container: Any,
    name: str,
    values: list[float],
    dtype: int = TensorProto.DOUBLE,
    shape: list[int] | None = None,
) -> str:
    return constant(scope, container, name, dtype, shape or [len(values)], values)


#: The lowest opset of each operator form used here; the forms are unchanged up to opset 20. The
#: graph's default-domain import is the highest version any node names, and a higher import
#: than needed would invalidate older node forms that onnxmltools' converters write.
_OP_VERSIONS = {
    "Neg": 6,
    "Concat": 4,
    "Mul": 7,
    "Exp": 6,
    "Add": 7,
    "Reciprocal": 6,
    "Div": 7,
    "ArgMax": 1,
    "Identity": 1,
    "MatMul": 9,
    "Sub": 7,
    "Abs": 6,
    "Less": 9,
    "Reshape": 5,
    "Compress": 11,
    "NonZero": 9,
    "Transpose": 1,
    "ScatterND": 11,
}


def _node(
    scope: Any, container: Any, op: str, inputs: list[str], output: str | None = None, **attrs: Any
) -> str:
    return node(scope, container, op, inputs, op_version=_OP_VERSIONS[op], output=output, **attrs)


def convert_tree_regressor(scope: Any, operator: Any, container: Any) -> None:
    """DecisionTree, RandomForest and GBT regressors: one weighted sum of leaf values."""
    stage = operator.raw_operator
    nodes = _read_with_progress(stage)
    if isinstance(stage, GBTRegressionModel):
        weights = np.asarray(stage.treeWeights, dtype=np.float64)
    elif isinstance(stage, RandomForestRegressionModel):
        weights = np.full(nodes.n_trees, 1.0 / nodes.n_trees)
    else:
        weights = np.ones(1)
    ensemble = _build_ensemble(nodes, _regression_leaf_values(nodes, weights))
    total = _add_tree_ensemble(scope, container, operator.inputs[0].full_name, ensemble, 1)
    _node(scope, container, "Identity", [total], _outputs_by_param(operator)["predictionCol"])


def convert_tree_classifier(scope: Any, operator: Any, container: Any) -> None:
    """DecisionTree and RandomForest classifiers: summed class distributions, argmax, normalised.

    Spark's forest sums each tree's normalised leaf distribution; a single tree uses raw counts.
    """
    stage = operator.raw_operator
    outputs = _outputs_by_param(operator)
    forest = isinstance(stage, RandomForestClassificationModel)
    nodes = _read_with_progress(stage)
    features = operator.inputs[0].full_name
    if forest and _one_traversal_suffices(stage, nodes):
        raw = _binary_forest_votes(scope, container, features, nodes)
    else:
        # A TreeEnsemble leaf feeds one target, so each class gets its own ensemble of the same trees.
        votes = []
        for class_index in range(stage.numClasses):
            ensemble = _build_ensemble(nodes, _class_leaf_values(nodes, class_index, normalise=forest))
            votes.append(_add_tree_ensemble(scope, container, features, ensemble, 1))
        raw = _node(scope, container, "Concat", votes, axis=1)
    _classifier_outputs(scope, container, stage, raw, outputs)


def _one_traversal_suffices(stage: Any, nodes: NodeTable) -> bool:
    """A binary forest labelled by argmax whose every leaf has samples: its two shares sum to 1."""
    has_thresholds = stage.hasParam("thresholds") and stage.isDefined(stage.getParam("thresholds"))
    leaf_totals = nodes.stats[nodes.is_leaf].sum(axis=1)
    return stage.numClasses == 2 and not has_thresholds and bool((leaf_totals > 0).all())


def _binary_forest_votes(scope: Any, container: Any, features: str, nodes: NodeTable) -> str:
    """[N, 2] votes of a binary forest with one traversal of the trees for most rows.

    Each leaf's two shares sum to 1 (within an ulp), so class 1's votes are numTrees minus class
    0's, off from Spark's own sum by far less than ``margin``. Only where the two classes are
    within ``margin`` of each other (ties and near ties, where that rounding could change Spark's
    argmax) are the rows scored again by a class-1 ensemble, so their votes are Spark's exact sums.
    """
    double_features = _as_double(scope, container, features)
    class0 = _build_ensemble(nodes, _class_leaf_values(nodes, 0, normalise=True))
    votes0 = _tree_ensemble_node(scope, container, double_features, class0, 1)
    n_trees = float(nodes.n_trees)
    approx1 = _node(scope, container, "Sub", [_constant(scope, container, "n_trees", [n_trees]), votes0])
    gap = _node(scope, container, "Abs", [_node(scope, container, "Sub", [votes0, approx1])])
    margin = 64 * n_trees * n_trees * np.finfo(np.float64).eps  # rounding is ≤ ~3·numTrees² ulps
    near = _node(scope, container, "Less", [gap, _constant(scope, container, "tie_margin", [margin])])
    near_rows = _node(
        scope, container, "Reshape", [near, _constant(scope, container, "flat", [-1], TensorProto.INT64)]
    )
    near_features = _node(scope, container, "Compress", [double_features, near_rows], axis=0)
    class1 = _build_ensemble(nodes, _class_leaf_values(nodes, 1, normalise=True))
    exact1 = _tree_ensemble_node(scope, container, near_features, class1, 1)
    positions = _node(scope, container, "Transpose", [_node(scope, container, "NonZero", [near_rows])])
    votes1 = _node(scope, container, "ScatterND", [approx1, positions, exact1])
    return _node(scope, container, "Concat", [votes0, votes1], axis=1)


def convert_gbt_classifier(scope: Any, operator: Any, container: Any) -> None:
    """GBT classifier: margin m; rawPrediction [-m, m]; probability 1 / (1 + exp(-2 raw))."""
    stage = operator.raw_operator
    outputs = _outputs_by_param(operator)
    nodes = _read_with_progress(stage)
    weights = np.asarray(stage.treeWeights, dtype=np.float64)
    ensemble = _build_ensemble(nodes, _regression_leaf_values(nodes, weights))
    margin = _add_tree_ensemble(scope, container, operator.inputs[0].full_name, ensemble, 1)
    negative = _node(scope, container, "Neg", [margin])
    raw = _node(scope, container, "Concat", [negative, margin], axis=1)
    scaled = _node(scope, container, "Mul", [raw, _constant(scope, container, "minus_two", [-2.0])])
    one_plus = _node(
        scope,
        container,
        "Add",
        [_node(scope, container, "Exp", [scaled]), _constant(scope, container, "one", [1.0])],
    )
    probability = _node(scope, container, "Reciprocal", [one_plus])
    _classifier_outputs(scope, container, stage, raw, outputs, probability=probability)


def _classifier_outputs(
    scope: Any, container: Any, stage: Any, raw: str, outputs: dict[str, str], probability: str | None = None
) -> None:
    if probability is None:  # row sums by MatMul with ones: ReduceSum changed form at opset 13
        ones = _constant(scope, container, "ones", [1.0] * stage.numClasses, shape=[stage.numClasses, 1])
        total = _node(scope, container, "MatMul", [raw, ones])
        probability = _node(scope, container, "Div", [raw, total])
    if stage.hasParam("thresholds") and stage.isDefined(stage.getParam("thresholds")):
        thresholds = _constant(
            scope, container, "thresholds", list(stage.getThresholds()), shape=[1, stage.numClasses]
        )
        scores = _node(scope, container, "Div", [probability, thresholds])
    else:
        scores = raw
    _node(scope, container, "ArgMax", [scores], outputs["predictionCol"], axis=1, keepdims=0)
    if "probabilityCol" in outputs:
        _node(scope, container, "Identity", [probability], outputs["probabilityCol"])
    if "rawPredictionCol" in outputs:
        _node(scope, container, "Identity", [raw], outputs["rawPredictionCol"])


def calculate_output_shapes(operator: Any) -> None:
    """prediction [N] (int64 label) or [N, 1] (double value); probability/raw [N, classes]."""
    from onnxmltools.convert.common.data_types import DoubleTensorType, Int64TensorType

    stage = operator.raw_operator
    n = operator.inputs[0].type.shape[0]
    classes = getattr(stage, "numClasses", None)
    for param, variable in zip(_output_params(stage), operator.outputs, strict=True):
        if param == "predictionCol":
            variable.type = Int64TensorType([n]) if classes else DoubleTensorType([n, 1])
        else:
            variable.type = DoubleTensorType([n, classes])


def _input_columns(stage: Any) -> list[str]:
    return [stage.getFeaturesCol()]


def _output_columns(stage: Any) -> list[str]:
    return [stage.getOrDefault(p) for p in _output_params(stage)]


def _spec(stage_class: type, converter: Any) -> ConverterSpec:
    return ConverterSpec(
        stage_class=stage_class,
        converter=converter,
        shape_calculator=calculate_output_shapes,
        input_columns=_input_columns,
        output_columns=_output_columns,
        replaces_onnxmltools=True,
    )


SPECS = [
    _spec(DecisionTreeRegressionModel, convert_tree_regressor),
    _spec(RandomForestRegressionModel, convert_tree_regressor),
    _spec(GBTRegressionModel, convert_tree_regressor),
    _spec(DecisionTreeClassificationModel, convert_tree_classifier),
    _spec(RandomForestClassificationModel, convert_tree_classifier),
    _spec(GBTClassificationModel, convert_gbt_classifier),
]
