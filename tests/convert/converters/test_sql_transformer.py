"""SQLTransformer: parity with Spark (ANSI mode) on Adult rows plus edge values, Spark's errors
reproduced as graph failures, and statements outside the subset refused with the construct named."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import SQLTransformer, StringIndexer, VectorAssembler

import mlflow_sparkonnx
from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.sparkml.sql_statement import UnsupportedSqlError, parse_statement

NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
SCHEMA = ", ".join(f"{c} bigint" for c in NUMERIC) + ", x double, n bigint"

#: One alias per construct (and per edge the construct has).
EXPRESSIONS = {
    "ae": "age * education_num",  # bigint * bigint stays bigint
    "net": "capital_gain - capital_loss + 1",
    "rate": "capital_gain / hours_per_week",  # always double
    "xq": "x / 4",
    "x2": "x * 2 + 1e300",  # huge values overflow to inf in double
    "n3": "n * 3",  # null propagates
    "neg": "-n",
    "gt": "x > 0",  # NaN is above every number
    "self_eq": "x = x",  # NaN = NaN is true
    "lt_null": "n < 2",
    "le": "age <= 40",
    "ne": "education_num != 9",
    "nse": "n <=> 0",
    "is_null": "n IS NULL",
    "logic": "(age > 40 AND n > 0) OR NOT (x < 0)",
    "case_no_else": "CASE WHEN age > 60 THEN 2 WHEN age > 40 THEN 1 END",
    "case_simple": "CASE n WHEN 0 THEN x WHEN 1 THEN 1.5D ELSE age END",
    "case_lazy": "CASE WHEN n = 0 OR n IS NULL THEN -1.0D ELSE age / n END",  # no division by zero
    "iff": "IF(x > 0, x, -x)",
    "co": "COALESCE(n, age, 0)",
    "try_i": "TRY_CAST(x AS INT)",  # NaN, inf, out of range -> null
    "cast_i": "CAST(age / 3 AS INT)",
    "cast_s": "CAST(capital_loss - 2000 AS SMALLINT)",
    "cast_d": "CAST(n AS DOUBLE)",
    "cast_b": "CAST(x AS BOOLEAN)",
    "cast_bi": "CAST(age > 40 AS INT)",
    "ab": "ABS(x) + ABS(n - 5)",
    "ln": "LOG(x)",  # <= 0 -> null, NaN -> NaN
    "ln_age": "LN(age)",
    "log2": "LOG(2, capital_gain)",
    "log10": "LOG10(age)",
    "ex": "EXP(x / 100)",
    "sq": "SQRT(x)",  # negative -> NaN
    "pw": "POW(x, 2)",
    "pw_half": "POWER(age, 0.5)",
    "pw_null": "POW(x, n)",
    "pw_java": "POW(1.0D, x)",  # Java: 1 ^ NaN is NaN, 1 ^ inf is NaN
    "gr": "GREATEST(x, age, n)",
    "le_least": "LEAST(x, 0.0D, n)",
    "gr_int": "GREATEST(age, hours_per_week, 45)",
}
ASSEMBLED = ["ae", "net", "rate", "co", "cast_bi", "gr_int", "ln_age"]
STATEMENT = "SELECT *, " + ", ".join(f"{e} AS {a}" for a, e in EXPRESSIONS.items()) + " FROM __THIS__"


def _with_extra_columns(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame["x"] = rng.normal(0, 3, len(frame))
    frame["n"] = pd.array(rng.integers(-3, 4, len(frame)), dtype="Int64")
    return frame


def _spark_frame(spark, frame: pd.DataFrame, with_income: bool = False):
    """Keep NaN as NaN in the double column and None as null in the bigint one."""
    names = [*NUMERIC, "x", "n"] + (["income"] if with_income else [])
    rows = []
    for record in frame[names].itertuples(index=False):
        values = [int(v) for v in record[:5]] + [float(record[5])]
        values.append(None if pd.isna(record[6]) else int(record[6]))
        rows.append(tuple(values) + ((record[7],) if with_income else ()))
    return spark.createDataFrame(rows, SCHEMA + (", income string" if with_income else ""))


def _edge_rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    specials = [0.0, -0.0, -3.5, 1e308, -1e308, math.nan, math.inf, -math.inf, 1e10, 2147483647.5]
    for i, value in enumerate(specials):
        frame.loc[i * 7 :: 70, "x"] = value
    frame.loc[::5, "n"] = pd.NA
    frame.loc[1::11, "n"] = 0
    frame.loc[2::13, "n"] = 3_000_000_000
    frame.loc[3::17, "capital_gain"] = 0
    return frame


@pytest.fixture(scope="module")
def sql_lr_model(spark, adult_train):
    train = _with_extra_columns(adult_train.head(500), 1)
    stages = [
        SQLTransformer(statement=STATEMENT),
        VectorAssembler(inputCols=ASSEMBLED, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=10, regParam=0.01),
    ]
    return Pipeline(stages=stages).fit(_spark_frame(spark, train, with_income=True))


def test_sql_transformer_matches_spark(spark, sql_lr_model, adult_holdout, tmp_path):
    frame = _spark_frame(spark, _edge_rows(_with_extra_columns(adult_holdout.head(300), 2)))
    outputs = [*EXPRESSIONS, "prediction", "probability"]
    conf = assert_onnx_matches_spark(sql_lr_model, frame, spark, tmp_path, output_cols=outputs)
    assert conf["parity"]["rows"] == 300
    assert [c["name"] for c in conf["inputs"]] == [*NUMERIC, "x", "n"]
    spark_rows = sql_lr_model.transform(frame).select("ln", "gt", "case_no_else", "try_i").collect()
    assert any(r["ln"] is None for r in spark_rows)  # the edge rows really reach the null cases
    assert any(r["case_no_else"] is None for r in spark_rows)
    assert any(r["try_i"] is None for r in spark_rows)


def _save(spark, statement: str, frame: pd.DataFrame, path, outputs: list[str], onnx="require"):
    model = PipelineModel(stages=[SQLTransformer(statement=statement)])
    schema = ", ".join(f"{c} {'double' if c == 'x' else 'bigint'}" for c in frame.columns)
    example = spark.createDataFrame([tuple(r) for r in frame.itertuples(index=False)], schema)
    mlflow_sparkonnx.save_model(model, str(path), input_example=example, output_cols=outputs, onnx=onnx)
    return yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]


def test_where_spark_raises_the_graph_raises(spark, tmp_path):
    import mlflow.pyfunc

    statement = "SELECT *, a / b AS q, CAST(x AS INT) AS xi, a * b AS m FROM __THIS__"
    safe = pd.DataFrame({"a": [1, 2, 3], "b": [1, 2, 4], "x": [1.5, -2.5, 3.0]})
    conf = _save(spark, statement, safe, tmp_path / "m", ["q", "xi", "m"])
    assert conf["onnx_status"] == "verified"
    onnx_model = mlflow.pyfunc.load_model(str(tmp_path / "m"), model_config={"runtime": "onnx"})
    spark_model = mlflow.pyfunc.load_model(str(tmp_path / "m"), model_config={"runtime": "spark"})
    assert onnx_model.predict(safe)["m"].tolist() == [1.0, 4.0, 12.0]
    for bad, output, error in (
        ({"a": [1, 5], "b": [1, 0], "x": [1.0, 1.0]}, "q", "DIVIDE_BY_ZERO"),
        ({"a": [1, 1], "b": [1, 1], "x": [1.0, 1e10]}, "xi", "CAST_OVERFLOW"),
        ({"a": [1, 4_000_000_000], "b": [1, 4_000_000_000], "x": [1.0, 1.0]}, "m", "ARITHMETIC_OVERFLOW"),
    ):
        # Both runtimes refuse the request naming the row (HTTP 400 when served) and Spark's error class.
        with pytest.raises(InvalidInputError, match=rf"Column '{output}' .*row 1 .*Spark raises {error}"):
            onnx_model.predict(pd.DataFrame(bad))
        with pytest.raises(InvalidInputError, match=rf"(?i)row 1 .*\[{error}\]"):
            spark_model.predict(pd.DataFrame(bad))
    one_row = pd.DataFrame({"a": [5], "b": [0], "x": [1.0]})  # a batch of one row too
    with pytest.raises(InvalidInputError, match="row 0 .*DIVIDE_BY_ZERO"):
        onnx_model.predict(one_row)
    # A division in a CASE branch not taken for b = 0 raises in neither.
    lazy_statement = "SELECT *, CASE WHEN b = 0 THEN 0.0D ELSE a / b END AS safe_q FROM __THIS__"
    conf = _save(spark, lazy_statement, safe, tmp_path / "lazy", ["safe_q"])
    lazy = mlflow.pyfunc.load_model(str(tmp_path / "lazy"), model_config={"runtime": "onnx"})
    assert lazy.predict(pd.DataFrame({"a": [1, 5], "b": [1, 0], "x": [1.0, 1.0]}))["safe_q"].tolist() == [
        1,
        0,
    ]


@pytest.mark.parametrize(
    ("statement", "output", "named"),
    [
        ("SELECT * FROM __THIS__ WHERE a > 1", "a", "WHERE"),
        ("SELECT *, (SELECT max(a) FROM __THIS__) AS m FROM __THIS__", "m", "subquery"),
        ("SELECT *, sin(a) AS s FROM __THIS__", "s", "SIN()"),
        ("SELECT *, avg(a) OVER (PARTITION BY b) AS w FROM __THIS__", "w", "window function"),
        ("SELECT *, a * 2.5 AS d FROM __THIS__", "d", "decimal"),
        ("SELECT *, CAST(x AS FLOAT) AS f FROM __THIS__", "f", "CAST to FLOAT"),
    ],
)
def test_unsupported_statement_is_named(spark, tmp_path, statement, output, named):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [1, 1, 2], "x": [0.5, 1.5, 2.5]})
    conf = _save(spark, statement, frame, tmp_path / "m", [output], onnx="auto")
    assert conf["onnx_status"] == "unsupported"
    assert "SQLTransformer" in conf["onnx_reason"] and named in conf["onnx_reason"]


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("SELECT t.* FROM __THIS__ t JOIN other o ON t.a = o.a", "JOIN"),
        ("SELECT *, my_udf(a) AS u FROM __THIS__", "MY_UDF()"),
        ("SELECT a, count(*) AS c FROM __THIS__ GROUP BY a", "GROUP BY"),
        ("SELECT *, a * 2 FROM __THIS__", "without an alias"),
        ("SELECT * FROM other_table", "FROM other_table"),
    ],
)
def test_statements_spark_cannot_run_here_are_refused_by_the_parser(statement, named):
    with pytest.raises(UnsupportedSqlError, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse_statement(statement)


#: Expressions whose value reads no column per row: a [1, 1] constant in the graph, broadcast per row.
CONSTANT_VALUED = {
    "x_missing": "CAST(x IS NULL AS DOUBLE)",  # x is a double: never null in the graph
    "x_present": "x IS NOT NULL",
    "not_missing": "NOT (x IS NULL)",
    "one": "CAST(1 AS DOUBLE)",
    "half": "1.5D",
    "zero_first": "COALESCE(0.0D, x)",
    "x_filled": "COALESCE(x, 0)",  # x itself: per row
    "n_missing": "CAST(n IS NULL AS DOUBLE)",  # per row: n is a bigint that may be null
}


def test_constant_valued_expressions_give_one_value_per_row(spark, tmp_path):
    from pyspark.sql import functions as F

    rng = np.random.default_rng(5)
    x = rng.normal(0, 3, 300)
    x[::7], x[1::11], x[2::13], x[3::17] = math.nan, math.inf, -math.inf, -0.0
    rows = [(float(v), None if k % 5 == 0 else k % 4) for k, v in enumerate(x)]
    frame = spark.createDataFrame(rows, "x double, n bigint")
    statement = "SELECT *, " + ", ".join(f"{e} AS {a}" for a, e in CONSTANT_VALUED.items()) + " FROM __THIS__"
    model = PipelineModel(
        stages=[
            SQLTransformer(statement=statement),
            # A constant also reaches a downstream stage as one value per row.
            VectorAssembler(inputCols=["x_missing", "one", "n_missing"], outputCol="constants"),
        ]
    )
    outputs = [*CONSTANT_VALUED, "constants"]
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=outputs)
    assert conf["parity"]["rows"] == 300
    spark_rows = model.transform(frame).agg(F.min("x_present"), F.max("x_missing")).first()
    assert spark_rows[0] is True and spark_rows[1] == 0.0


#: String columns compared with string literals (bytewise, as Spark's default collation).
STRING_EXPRESSIONS = {
    "private": "CASE WHEN workclass = 'Private' THEN 1 ELSE 0 END",
    "sx": "IF(sex <> 'Male', 2.5D, age)",
    "degree": "CAST(education IN ('Bachelors', 'Masters', 'Doctorate', '') AS INT)",
    "ms": "CASE marital_status WHEN 'Never-married' THEN 0 WHEN 'Divorced' THEN 1 ELSE 2 END",
    "not_sales": "NOT (occupation IN ('Sales', '?', 'Privaté'))",
    "state": "workclass <=> 'State-gov'",
    "flipped": "'Female' = sex",
    "const_true": "'a' = 'a'",
}


def test_string_columns_compared_with_literals_match_spark(spark, tmp_path, adult_holdout):
    frame = adult_holdout[["workclass", "education", "marital_status", "occupation", "sex", "age"]].copy()
    edges = ["private", " Private", "Private ", "", "Privaté", "PRIVATE", "State-gov", "日本語", "Sales"]
    for i, value in enumerate(edges):
        frame.loc[i * 3, "workclass"] = value
        frame.loc[i * 3 + 1, "occupation"] = value
        frame.loc[i * 3 + 2, "education"] = value if value else ""
    statement = (
        "SELECT *, " + ", ".join(f"{e} AS {a}" for a, e in STRING_EXPRESSIONS.items()) + " FROM __THIS__"
    )
    model = PipelineModel(stages=[SQLTransformer(statement=statement)])
    assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=list(STRING_EXPRESSIONS))


#: LIKE on a string column: prefix, suffix, contains, single characters, escapes, the empty pattern.
LIKE_EXPRESSIONS = {
    "prefix": "workclass LIKE 'Self%'",
    "suffix": "CASE WHEN workclass LIKE '%gov' THEN 1 ELSE 0 END",
    "contains": "workclass LIKE '%-%'",
    "one_char": "workclass LIKE 'Privat_'",
    "anything": "workclass LIKE '%'",
    "nothing": "workclass LIKE ''",
    "underscores": "workclass LIKE '__'",
    "escaped": "workclass LIKE '100\\%%'",
    "not_like": "NOT workclass LIKE '%a%'",
    "newline": "workclass LIKE 'a_b'",
}


def test_like_on_a_string_column_matches_spark(spark, tmp_path, adult_holdout):
    frame = adult_holdout[["workclass"]].copy()
    edges = [
        "",
        "Self",
        "Self-emp",
        "local-gov",
        "Private",
        "Privaté",
        "Privat\n",
        "100%",
        "100%x",
        "100x",
        "a\nb",
        "ab",
        "日本",
        "_",
        "%",
        "é",
        "xx",
    ]
    for i, value in enumerate(edges):
        frame.loc[i, "workclass"] = value
    statement = (
        "SELECT *, " + ", ".join(f"{e} AS {a}" for a, e in LIKE_EXPRESSIONS.items()) + " FROM __THIS__"
    )
    model = PipelineModel(stages=[SQLTransformer(statement=statement)])
    assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=list(LIKE_EXPRESSIONS))


#: String functions, with Spark's rules: TRIM removes U+0020 only, LENGTH counts code points.
STRING_EXPRESSIONS = {
    "trimmed": "TRIM(workclass)",
    "left": "LTRIM(workclass)",
    "right": "RTRIM(workclass)",
    "chars": "LENGTH(workclass)",
    "trimmed_chars": "CHAR_LENGTH(TRIM(education))",
    "joined": "CONCAT(workclass, '|', education)",
    "piped": "education || workclass",
    "private": "CASE WHEN TRIM(workclass) = 'Private' THEN 1 ELSE 0 END",
    "self": "CAST(LTRIM(workclass) LIKE 'Self%' AS INT)",
    "short": "IF(LENGTH(RTRIM(workclass)) < 4, 1.5D, 2.5D)",
    "literal_chars": "LENGTH(CONCAT('日本', TRIM('  ab ')))",
    "middle": "SUBSTRING(workclass, 2, 3)",  # code points from position 2
    "first_two": "SUBSTR(workclass, 0, 2)",  # position 0 is position 1
    "head": "LEFT(education, 4)",
    "far": "SUBSTRING(workclass, 63, 4)",  # past the end of most rows: what there is, or ''
    "initial_s": "CAST(SUBSTRING(TRIM(workclass), 1, 1) = 'S' AS INT)",
    "whole": "SUBSTRING(education, 1)",
    "lower": "LOWER(workclass)",
    "upper": "UPPER(education)",
    "is_private_any_case": "CAST(UPPER(TRIM(workclass)) = 'PRIVATE' AS INT)",
}


def test_string_functions_match_spark(spark, tmp_path, adult_holdout):
    frame = adult_holdout[["workclass", "education"]].copy()
    edges = [
        "",
        "   ",
        "  a b  ",
        "\t a \n",
        "\u3000x\u3000",
        "😀é",
        " \u00a0y ",
        "日本 ",
        " Private",
        "Self-emp ",
        "x" * 63 + " ",  # LENGTH counts in chunks of 64 code points: around and past one chunk
        "😀" * 64,
        "é" * 65 + " ",
        " " + "ab" * 70,
    ]
    for i, value in enumerate(edges):
        frame.loc[i, "workclass"] = value
        frame.loc[len(edges) + i, "education"] = value
    statement = (
        "SELECT *, " + ", ".join(f"{e} AS {a}" for a, e in STRING_EXPRESSIONS.items()) + " FROM __THIS__"
    )
    model = PipelineModel(stages=[SQLTransformer(statement=statement)])
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=list(STRING_EXPRESSIONS))
    types = {c["name"]: c["spark_type"] for c in conf["outputs"]}
    assert types["trimmed"] == types["joined"] == "string" and types["chars"] == "int", types


#: Casts between strings and numbers, with Spark's ANSI rules (measured, see ``_sql_casts``).
CAST_EXPRESSIONS = {
    "age_text": "CAST(age AS STRING)",
    "flag_text": "CAST(age > 40 AS STRING)",
    "x_text": "CAST(x AS STRING)",  # whole numbers below 10^7, -0.0, NaN and the infinities
    "labelled": "CONCAT(workclass, '/', CAST(age AS STRING))",
    "is_30": "CAST(CAST(age AS STRING) = '30' AS INT)",
    "as_int": "TRY_CAST(code AS INT)",  # an optional sign and digits, stripped of U+0000-U+0020
    "as_tiny": "TRY_CAST(code AS TINYINT)",  # outside -128..127: null
    "as_bigint": "TRY_CAST(code AS BIGINT)",
    "as_double": "TRY_CAST(code AS DOUBLE)",
    "amount_value": "CAST(amount AS DOUBLE)",  # Java's grammar: 1., .5, 1e3, a d/f suffix
    "amount_plus_age": "CAST(amount AS DOUBLE) + age",
    "constant_text": "CAST(x IS NULL AS STRING)",  # a [1, 1] constant in the graph: one value per row
}
CODES = [
    "12",
    " 12",
    "\t-7\n",
    "+3",
    "007",
    "-0",
    "300",
    "-129",
    "1.5",
    "1e3",
    "",
    " ",
    "1 2",
    "+-1",
    "\x0012",
    "999999999999999",
    "-2147483649",
    "٣",
    "12\u3000",
    "1,000",
    "0x10",
    "abc",
]
AMOUNTS = [
    "1.5",
    "-0.25",
    ".5",
    "5.",
    "1e3",
    "+.5e-3",
    "1.5d",
    "2F",
    "0.1",
    "123456789.123456789",
    "1e-99",
    " 42 ",
    "-0",
    "9" * 40 + ".5",
    "7E+2",
]


def test_casts_between_strings_and_numbers_match_spark(spark, tmp_path):
    rng = np.random.default_rng(3)
    n = 300
    x = rng.integers(-(10**7) + 1, 10**7, n).astype(float)
    x[:6] = [0.0, -0.0, math.nan, math.inf, -math.inf, 9999999.0]
    frame = pd.DataFrame(
        {
            "age": rng.integers(17, 90, n),
            "workclass": rng.choice(["Private", "Self-emp", "é"], n),
            "x": x,
            "code": [CODES[i % len(CODES)] for i in range(n)],
            "amount": [AMOUNTS[i % len(AMOUNTS)] for i in range(n)],
        }
    )
    frame.loc[:5, "code"] = ["2147483647", "-128", "127", "128", "00000000000000012", "٣"]
    statement = (
        "SELECT *, " + ", ".join(f"{e} AS {a}" for a, e in CAST_EXPRESSIONS.items()) + " FROM __THIS__"
    )
    model = PipelineModel(stages=[SQLTransformer(statement=statement)])
    answered = frame[~frame["code"].isin(["٣", "12\u3000", "0x10", "abc", "00000000000000012"])]
    schema = "age bigint, workclass string, x double, code string, amount string"  # NaN stays NaN
    example = spark.createDataFrame([tuple(r) for r in answered.itertuples(index=False)], schema)
    conf = assert_onnx_matches_spark(model, example, spark, tmp_path, output_cols=list(CAST_EXPRESSIONS))
    types = {c["name"]: c["spark_type"] for c in conf["outputs"]}
    assert types["age_text"] == types["x_text"] == "string" and types["as_tiny"] == "tinyint", types


@pytest.mark.parametrize(
    ("expression", "value", "spark_gives"),
    [
        ("CAST(x AS STRING)", 0.1, "0.1"),  # Java's shortest digits: not written by the graph
        ("CAST(x AS STRING)", 1e7, "1.0E7"),
        ("TRY_CAST(code AS DOUBLE)", "Infinity", math.inf),  # a word: left to Spark
        ("TRY_CAST(code AS INT)", "٣", None),  # a non-ASCII digit: Spark refuses it, the graph cannot tell
        ("TRY_CAST(code AS BIGINT)", "1234567890123456", 1234567890123456),  # beyond 15 digits
        ("10 / TRY_CAST(code AS INT)", "٣", None),  # the placeholder 0 raises no DIVIDE_BY_ZERO
    ],
)
def test_casts_the_graph_cannot_write_as_spark_are_refused_by_onnx_only(
    spark, tmp_path, expression, value, spark_gives
):
    frame = pd.DataFrame({"x": [1.0, 2.0], "code": ["1", "2"]})
    model = PipelineModel(stages=[SQLTransformer(statement=f"SELECT *, {expression} AS out FROM __THIS__")])
    path = str(tmp_path / "m")
    mlflow_sparkonnx.save_model(model, path, input_example=frame, output_cols=["out"], onnx="require")
    request = frame.copy().astype(object)
    request.loc[1, "x" if "x AS" in expression else "code"] = value
    with pytest.raises(InvalidInputError, match=r"'out' .*row 1 .*runtime='spark'") as caught:
        mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"}).predict(request.astype(frame.dtypes))
    assert caught.value.onnx_only
    got = mlflow.pyfunc.load_model(path, model_config={"runtime": "spark"}).predict(
        request.astype(frame.dtypes)
    )
    got = got["out"][1]
    assert got == spark_gives or (spark_gives is None and (got is None or got != got))


def test_numbers_are_not_read_from_strings_under_a_comma_decimal_locale(spark, tmp_path, monkeypatch):
    """onnxruntime reads "1.5" with std::stod, which follows LC_NUMERIC: such a process is refused."""
    import locale

    frame = pd.DataFrame({"code": ["1.5", "2"]})
    model = PipelineModel(
        stages=[SQLTransformer(statement="SELECT *, CAST(code AS DOUBLE) AS v FROM __THIS__")]
    )
    path = str(tmp_path / "m")
    mlflow_sparkonnx.save_model(model, path, input_example=frame, onnx="require")
    onnx_model = mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"})
    assert onnx_model.predict(frame)["v"].tolist() == [1.5, 2.0]
    conventions = {**locale.localeconv(), "decimal_point": ","}
    monkeypatch.setattr(locale, "localeconv", lambda: conventions)
    with pytest.raises(mlflow_sparkonnx.SparkOnnxError, match="LC_NUMERIC"):
        onnx_model.predict(frame)


def test_an_invalid_number_in_a_string_is_refused_as_spark_refuses_it(spark, tmp_path):
    frame = pd.DataFrame({"code": [" 12", "-3"]})
    model = PipelineModel(
        stages=[SQLTransformer(statement="SELECT *, CAST(code AS INT) AS out FROM __THIS__")]
    )
    path = str(tmp_path / "m")
    mlflow_sparkonnx.save_model(model, path, input_example=frame, onnx="require")
    request = pd.DataFrame({"code": ["7", "1.5"]})
    for runtime in ("onnx", "spark"):
        loaded = mlflow.pyfunc.load_model(path, model_config={"runtime": runtime})
        with pytest.raises(InvalidInputError, match=r"(?i)\brow 1\b") as caught:
            loaded.predict(request)
        assert not caught.value.onnx_only, runtime
        assert "CAST_INVALID_INPUT" in str(caught.value), (runtime, str(caught.value))


def test_a_string_written_by_sql_feeds_a_string_indexer(spark, tmp_path, adult_train, adult_holdout):
    columns = ["workclass", "education"]
    sql = SQLTransformer(statement="SELECT *, CONCAT(TRIM(workclass), '/', education) AS pair FROM __THIS__")
    indexer = StringIndexer(inputCol="pair", outputCol="pair_index", handleInvalid="keep")
    model = Pipeline(stages=[sql, indexer]).fit(spark.createDataFrame(adult_train[columns]))
    frame = adult_holdout[columns].head(300).copy()
    frame.loc[0, "workclass"] = "  Private  "  # trimmed: a known pair
    frame.loc[1, "workclass"] = "never-seen"
    assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=["pair_index"])


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("workclass < 'M'", "ordering strings"),
        ("workclass = education", "two string columns"),
        ("TRY_CAST(workclass AS BOOLEAN)", "CAST of a string to BOOLEAN"),
        ("CAST('12' AS INT)", "CAST of a string literal"),
        ("CONCAT(workclass, age) = 'a'", "a bigint argument"),
        ("TRIM(BOTH 'x' FROM workclass) = 'a'", "characters to remove"),
        ("TRIM(education || age)", "a bigint argument"),
        ("TRIM(workclass) = TRIM(education)", "two string columns"),
        ("SUBSTRING(workclass, 3) = 'a'", "to the end of the string"),
        ("SUBSTRING(workclass, -2, 1) = 'a'", "integer literal of 0 or more"),
        ("REVERSE(workclass) = 'X'", "REVERSE()"),
        ("UPPER('abc') = 'X'", "UPPER of a literal"),
        ("age IN (1, 2)", "IN over a bigint"),
        ("workclass LIKE education", "not a string literal"),
        ("workclass ILIKE 'a%'", "ILIKE"),
    ],
)
def test_string_constructs_outside_the_subset_are_named(spark, tmp_path, expression, named):
    frame = pd.DataFrame({"workclass": ["Private", "x"], "education": ["a", "b"], "age": [30, 40]})
    model = PipelineModel(stages=[SQLTransformer(statement=f"SELECT *, {expression} AS out FROM __THIS__")])
    path = tmp_path / "m"
    mlflow_sparkonnx.save_model(model, str(path), input_example=frame, output_cols=["out"])
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "unsupported"
    assert named in conf["onnx_reason"], conf["onnx_reason"]


#: CASE/IF over decimal literals (Spark's DECIMAL results, as users write them) and integers.
DECIMAL_EXPRESSIONS = {
    "is_private": "CASE WHEN workclass = 'Private' THEN 1.0 ELSE 0.0 END",  # decimal(2,1)
    "tier": "CASE WHEN age > 60 THEN 2 WHEN age > 40 THEN 0.25 END",  # decimal(12,2), null for the young
    "tenth": "IF(hours_per_week > 40, 0.1, 1.00000000000000000001)",  # not exact as doubles
}


def test_decimal_case_results_match_spark_as_outputs_and_features(
    spark, tmp_path, adult_train, adult_holdout
):
    from pyspark.ml.regression import LinearRegression

    columns = ["workclass", "age", "hours_per_week"]
    statement = (
        "SELECT *, " + ", ".join(f"{e} AS {a}" for a, e in DECIMAL_EXPRESSIONS.items()) + " FROM __THIS__"
    )
    train = adult_train[[*columns, "education_num"]]
    model = Pipeline(
        stages=[
            SQLTransformer(statement=statement),
            VectorAssembler(inputCols=["is_private", "tenth", "age"], outputCol="features"),
            LinearRegression(labelCol="education_num", maxIter=5),
        ]
    ).fit(spark.createDataFrame(train))
    frame = adult_holdout[columns].head(300)
    outputs = [*DECIMAL_EXPRESSIONS, "prediction"]
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=outputs)
    types = {c["name"]: c["spark_type"] for c in conf["outputs"]}
    assert types["is_private"] == "decimal(2,1)" and types["tier"] == "decimal(12,2)", types
    scored = {
        runtime: mlflow_sparkonnx.transform(
            spark.createDataFrame(frame), str(tmp_path / "model"), runtime=runtime
        )
        for runtime in ("onnx", "spark")
    }
    for runtime, result in scored.items():
        assert {c: t for c, t in result.dtypes if c in DECIMAL_EXPRESSIONS} == dict.fromkeys(
            DECIMAL_EXPRESSIONS, "double"
        ), runtime
    assert scored["onnx"].select("tier").collect() == scored["spark"].select("tier").collect()


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("CASE WHEN age > 40 THEN 1.0 ELSE 0.0 END * 2", "DECIMAL CASE result used"),
        ("CASE WHEN age > 40 THEN 1.5 ELSE age END", "decimal arithmetic"),
        ("CASE WHEN age > 40 THEN 1.5 ELSE 0.5 END = 1.5", "DECIMAL CASE result compared"),
    ],
)
def test_decimal_case_results_used_further_are_refused_by_name(spark, tmp_path, expression, named):
    frame = pd.DataFrame({"age": [30, 50]})
    model = PipelineModel(stages=[SQLTransformer(statement=f"SELECT *, {expression} AS out FROM __THIS__")])
    path = tmp_path / "m"
    mlflow_sparkonnx.save_model(model, str(path), input_example=frame, output_cols=["out"])
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "unsupported"
    assert named in conf["onnx_reason"], conf["onnx_reason"]


def test_a_decimal_input_column_is_refused_naming_it(spark, tmp_path):
    from decimal import Decimal

    example = spark.createDataFrame([(Decimal("1.50"),), (Decimal("2.25"),)], "price decimal(10,2)")
    model = PipelineModel(stages=[SQLTransformer(statement="SELECT *, price * 2 AS twice FROM __THIS__")])
    with pytest.raises(InvalidInputError, match=r"'price' is decimal\(10,2\): cast it to double"):
        mlflow_sparkonnx.save_model(model, str(tmp_path / "m"), input_example=example)
    assert not (tmp_path / "m").exists()


def test_lower_and_upper_refuse_what_java_maps_otherwise_in_the_onnx_runtime(spark, tmp_path):
    """Java 17 lower-cases İ to i and a combining dot and a word-final Σ to ς, and upper-cases ß to SS;
    onnxruntime does not. Those rows are refused by the ONNX runtime, scored by the Spark runtime."""
    statement = "SELECT *, LOWER(a) AS low, UPPER(b) AS up FROM __THIS__"
    model = PipelineModel(stages=[SQLTransformer(statement=statement)])
    path = tmp_path / "m"
    example = pd.DataFrame({"a": ["Private", "ΣΟΦΙΑ"], "b": ["Privaté", "x"]})
    mlflow_sparkonnx.save_model(model, str(path), input_example=example, onnx="require")
    onnx = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"})
    spark_model = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "spark"})
    for a, b, column in (("İstanbul", "x", "low"), ("ΟΔΟΣ", "x", "low"), ("x", "straße", "up")):
        frame = pd.DataFrame({"a": ["ok", a], "b": ["ok", b]})
        with pytest.raises(InvalidInputError, match=rf"'{column}' .*row 1 .*-case as Java does"):
            onnx.predict(frame)
        assert spark_model.predict(frame)[column][1] in ("i̇stanbul", "οδος", "STRASSE")
