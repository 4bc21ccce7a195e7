"""Reading a SQLTransformer statement with a real SQL parser (sqlglot): its shape and its columns.

Only one statement shape is accepted: ``SELECT [*,] <item>, ... FROM __THIS__`` with no WHERE,
GROUP BY, HAVING, ORDER BY, LIMIT, DISTINCT, JOIN, set operation, window or subquery: every
row in gives exactly one row out. An item is either a plain column (passed through) or an
expression with an alias (a new column). Anything else raises :class:`UnsupportedSqlError`
naming the construct. The expressions themselves are translated by ``sql_transformer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mlflow_sparkonnx.exceptions import UnsupportedStageError

#: Clauses of a SELECT that drop, add, group or reorder rows.
_ROW_CLAUSES = {
    "where": "a WHERE clause (it drops rows)",
    "group": "GROUP BY",
    "having": "HAVING",
    "order": "ORDER BY",
    "sort": "SORT BY",
    "cluster": "CLUSTER BY",
    "distribute": "DISTRIBUTE BY",
    "limit": "LIMIT",
    "offset": "OFFSET",
    "distinct": "DISTINCT",
    "joins": "JOIN",
    "laterals": "LATERAL VIEW",
    "qualify": "QUALIFY",
    "windows": "WINDOW",
    "with_": "WITH (common table expressions)",
    "pivots": "PIVOT",
}


class UnsupportedSqlError(UnsupportedStageError):
    """The statement uses a construct the ONNX translation does not reproduce."""

    def __init__(self, construct: str) -> None:
        super().__init__(f"SQLTransformer: {construct} is not supported by the ONNX converter")
        self.construct = construct


@dataclass(frozen=True)
class SqlPlan:
    """What a supported statement does: the new columns (alias → expression) and the columns read."""

    star: bool
    passthrough: tuple[str, ...]
    outputs: tuple[tuple[str, Any], ...]
    inputs: tuple[str, ...]


def _describe(node: Any) -> str:
    text = node.sql(dialect="spark")
    return text if len(text) <= 60 else text[:57] + "..."


@lru_cache(maxsize=128)
def parse_statement(statement: str) -> SqlPlan:
    """The plan of a SQLTransformer statement; raises ``UnsupportedSqlError`` outside the subset."""
    import sqlglot
    from sqlglot import exp

    try:
        parsed = sqlglot.parse(statement, read="spark")
    except sqlglot.errors.SqlglotError as exc:
        raise UnsupportedSqlError(f"a statement sqlglot cannot parse ({str(exc).splitlines()[0]})") from exc
    parsed = [p for p in parsed if p is not None]
    if len(parsed) != 1:
        raise UnsupportedSqlError(f"{len(parsed)} statements (expected one SELECT)")
    select = parsed[0]
    if not isinstance(select, exp.Select):
        raise UnsupportedSqlError(f"a {type(select).__name__.upper()} statement (only a plain SELECT)")
    for key, construct in _ROW_CLAUSES.items():
        if select.args.get(key):
            raise UnsupportedSqlError(construct)
    source = select.args.get("from_") or select.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name != "__THIS__" or table.args.get("db"):
        what = _describe(table) if table is not None else "nothing"
        raise UnsupportedSqlError(f"selecting FROM {what} (only FROM __THIS__)")
    if table.alias:
        raise UnsupportedSqlError("an alias for __THIS__")

    star, passthrough, outputs, inputs = False, [], [], []
    for item in select.expressions:
        if isinstance(item, exp.Star):
            if star:
                raise UnsupportedSqlError("'*' twice")
            star = True
            continue
        if isinstance(item, exp.Column) and not item.table and isinstance(item.this, exp.Identifier):
            passthrough.append(item.name)
            _add_columns(item, inputs)
            continue
        if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            raise UnsupportedSqlError(f"'{_describe(item)}'")
        if not isinstance(item, exp.Alias) or not item.alias:
            raise UnsupportedSqlError(f"the expression '{_describe(item)}' without an alias (AS name)")
        _check_nodes(item.this)
        outputs.append((item.alias, item.this))
        _add_columns(item.this, inputs)
    names = [name for name, _ in outputs]
    duplicated = sorted({n for n in names + passthrough if (names + passthrough).count(n) > 1})
    if duplicated:
        raise UnsupportedSqlError(f"the column name(s) {duplicated} selected twice")
    shadowing = sorted(set(names) & set(inputs))
    if shadowing:
        raise UnsupportedSqlError(f"an alias that reuses an input column's name ({shadowing})")
    return SqlPlan(star, tuple(passthrough), tuple(outputs), tuple(inputs))


def _add_columns(expression: Any, found: list[str]) -> None:
    from sqlglot import exp

    for column in expression.find_all(exp.Column):
        if column.table:
            raise UnsupportedSqlError(f"the qualified column '{_describe(column)}'")
        if column.name not in found:
            found.append(column.name)


def _check_nodes(expression: Any) -> None:
    """Refuse subqueries, windows, aggregates and unknown functions anywhere in an expression."""
    from sqlglot import exp

    for node in expression.walk():
        if isinstance(node, (exp.Subquery, exp.Select, exp.Union, exp.Exists)):
            raise UnsupportedSqlError(f"the subquery '{_describe(node)}'")
        if isinstance(node, exp.Window):
            raise UnsupportedSqlError(f"the window function '{_describe(node)}'")
        if isinstance(node, exp.AggFunc):
            raise UnsupportedSqlError(f"the aggregate '{_describe(node)}' (it collapses rows)")
        if isinstance(node, exp.Anonymous):
            raise UnsupportedSqlError(f"the function {node.name.upper()}() ('{_describe(node)}')")


def sql_stage_columns(stage: Any) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """``(inputs, outputs)`` for ``stages.stage_columns``; inputs None when the statement is unsupported."""
    try:
        plan = parse_statement(stage.getStatement())
    except UnsupportedStageError:
        return None, ()
    return plan.inputs, tuple(name for name, _ in plan.outputs)
