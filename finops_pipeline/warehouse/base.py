"""The storage interface the pipeline writes through; engines live in _duckdb.py and _postgres.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Self

import polars as pl

from finops_pipeline.warehouse.sql import as_list, qualified, quote, split_table, where_clause
from finops_pipeline.warehouse.types import prepare_for_write, sql_type

SCHEMAS = ("raw", "core", "outputs", "marts", "ops")


class Warehouse(ABC):
    """One interface over DuckDB (embedded default) and PostgreSQL.

    Writes are idempotent and atomic per partition (`replace_rows`); money is Decimal(38, 10) both ways.
    SQL takes named parameters written `:name` on both engines.
    """

    dialect: ClassVar[str]

    @staticmethod
    def from_url(url: str) -> Warehouse:
        """`duckdb:///relative.duckdb`, `duckdb:////abs/path.duckdb`, `duckdb:///:memory:`,
        or `postgresql+psycopg://user:password@host:5432/db`."""
        if url.startswith("duckdb:///"):
            from finops_pipeline.warehouse._duckdb import DuckDBWarehouse

            return DuckDBWarehouse(url.removeprefix("duckdb:///"))
        from finops_pipeline.warehouse._postgres import PostgresWarehouse

        return PostgresWarehouse.from_url(url)

    @classmethod
    def from_settings(cls) -> Warehouse:
        from finops_pipeline.settings import warehouse_url

        return cls.from_url(warehouse_url())

    # ---- public API -------------------------------------------------------------------------------

    def ensure_schemas(self) -> None:
        with self._transaction() as tx:
            self._lock_ddl(tx)
            for schema in SCHEMAS:
                self._exec(tx, f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")

    def replace_rows(self, table: str, frame: pl.DataFrame, match: Mapping[str, Sequence[Any]]) -> int:
        """In one transaction: delete the rows matching `match` (all rows if it is empty), insert `frame`.

        Creates the table from the frame's schema on first write and adds columns the frame brings;
        table columns the frame lacks are inserted as NULL. Returns the number of rows inserted.
        """
        _check_frame_within_match(frame, match)
        frame = prepare_for_write(frame)
        where, params = where_clause(match, "m")
        with self._transaction() as tx:
            if not self._sync_columns(tx, table, frame):
                return 0
            self._exec(tx, f"DELETE FROM {qualified(table)} WHERE {where}", params)
            if frame.height:
                self._bulk_insert(tx, table, frame)
        return frame.height

    def read_table(self, table: str, where: Mapping[str, Sequence[Any]] | None = None) -> pl.DataFrame:
        condition, params = where_clause(where or {}, "w")
        return self.read_frame(f"SELECT * FROM {qualified(table)} WHERE {condition}", params)

    def table_exists(self, table: str) -> bool:
        with self._transaction() as tx:
            return bool(self._columns(tx, table))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one DDL/DML statement in its own transaction."""
        with self._transaction() as tx:
            self._exec(tx, sql, params)

    @abstractmethod
    def read_frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run a query; decimals come back as Decimal(38, 10), instants as Datetime("us", "UTC")."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, safe to print: never contains a password."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"

    # ---- engine hooks -----------------------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """Yield a handle whose statements commit together, or roll back together on an exception."""

    @abstractmethod
    def _exec(self, tx: Any, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    @abstractmethod
    def _fetch(self, tx: Any, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _bulk_insert(self, tx: Any, table: str, frame: pl.DataFrame) -> None:
        """Insert every row of `frame` (columns matched by name) without going row by row."""

    @abstractmethod
    def _lock_ddl(self, tx: Any) -> None:
        """Serialise DDL between concurrent writers until `tx` ends."""

    # ---- shared internals -------------------------------------------------------------------------

    def _columns(self, tx: Any, table: str) -> list[str]:
        schema, name = split_table(table)
        rows = self._fetch(
            tx,
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position",
            {"schema": schema, "name": name},
        )
        return [row[0] for row in rows]

    def _sync_columns(self, tx: Any, table: str, frame: pl.DataFrame) -> bool:
        """Create the table or add the frame's new columns; False if there is no table to write to."""
        existing = self._columns(tx, table)
        if existing and set(frame.columns) <= set(existing):
            return True
        if not existing and not frame.columns:
            return False
        self._lock_ddl(tx)
        existing = self._columns(tx, table)  # another writer may have done it while we waited
        if not existing:
            self._create_table(tx, table, frame)
            return True
        for column in frame.columns:
            if column not in existing:
                column_type = sql_type(frame.schema[column])
                self._exec(tx, f"ALTER TABLE {qualified(table)} ADD COLUMN {quote(column)} {column_type}")
        return True

    def _create_table(self, tx: Any, table: str, frame: pl.DataFrame) -> None:
        schema, _ = split_table(table)
        columns = ", ".join(f"{quote(name)} {sql_type(dtype)}" for name, dtype in frame.schema.items())
        self._exec(tx, f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        self._exec(tx, f"CREATE TABLE {qualified(table)} ({columns})")


def _check_frame_within_match(frame: pl.DataFrame, match: Mapping[str, Sequence[Any]]) -> None:
    """Rows outside the match would survive the next rerun's DELETE and be duplicated."""
    if frame.is_empty():
        return
    for column, values in match.items():
        if column not in frame.columns:
            raise ValueError(f"frame has no column {column!r} to match the partition on")
        outside = frame.filter(~pl.col(column).is_in(as_list(values)).fill_null(False)).height
        if outside:
            raise ValueError(f"{outside} rows have a {column!r} outside the partition {as_list(values)!r}")
