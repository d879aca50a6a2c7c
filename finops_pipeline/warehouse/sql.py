"""SQL text helpers shared by both engines: identifier quoting, filters and named parameters."""

import re
from collections.abc import Mapping
from typing import Any

# `:name` not preceded by a word character or a colon, so `x::date` and '10:30' are left alone.
_NAMED_PARAM = re.compile(r"(?<![:\w\\]):(\w+)")


def quote(identifier: str) -> str:
    """Double-quote an identifier: FOCUS column names are case-sensitive PascalCase."""
    return '"' + identifier.replace('"', '""') + '"'


def split_table(table: str) -> tuple[str, str]:
    schema, _, name = table.partition(".")
    if not schema or not name:
        raise ValueError(f"table must be 'schema.name', got {table!r}")
    return schema, name


def qualified(table: str) -> str:
    return ".".join(quote(part) for part in split_table(table))


def as_list(values: Any) -> list[Any]:
    """Filter values: a list/tuple/set as given, any single value (a string too) as a one-item list."""
    return list(values) if isinstance(values, list | tuple | set | frozenset) else [values]


def where_clause(filters: Mapping[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """`"col" IN (:p0_0, ...) AND ...` with one parameter per value; an empty list matches nothing."""
    clauses, params = [], {}
    for i, (column, values) in enumerate(filters.items()):
        values = as_list(values)
        names = [f"{prefix}{i}_{j}" for j in range(len(values))]
        params.update(zip(names, values, strict=True))
        placeholders = ", ".join(f":{name}" for name in names)
        clauses.append(f"{quote(column)} IN ({placeholders})" if names else "FALSE")
    return " AND ".join(clauses) or "TRUE", params


def to_dollar_params(sql: str) -> str:
    """`:name` -> `$name` (DuckDB)."""
    return _NAMED_PARAM.sub(r"$\1", sql)


def to_pyformat_params(sql: str) -> str:
    """`:name` -> `%(name)s` (psycopg); literal `%` is doubled because psycopg always formats."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
