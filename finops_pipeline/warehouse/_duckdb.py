"""DuckDB engine: one lazily opened connection per Warehouse (DuckDB allows a single writer process)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finops_pipeline.warehouse.base import Warehouse
from finops_pipeline.warehouse.sql import qualified, quote, to_dollar_params
from finops_pipeline.warehouse.types import normalize_read


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: str) -> None:
        self._path = path
        self._con: duckdb.DuckDBPyConnection | None = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(self._path)
            # TIMESTAMPTZ results carry the session zone; the pipeline speaks UTC only.
            self._con.execute("SET TimeZone = 'UTC'")
        return self._con

    def read_frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        relation = self._connection().sql(to_dollar_params(sql), params=dict(params or {}))
        return normalize_read(relation.pl())

    def describe(self) -> str:
        return self._path

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._connection()
        con.begin()
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()

    def _exec(self, tx: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> None:
        tx.execute(to_dollar_params(sql), dict(params or {}))
        tx.complete()

    def _fetch(self, tx: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        return tx.execute(to_dollar_params(sql), dict(params)).fetchall()

    def _lock_ddl(self, tx: duckdb.DuckDBPyConnection) -> None:
        """Nothing to serialise: this one connection holds the file lock, so it is the only writer."""

    def _bulk_insert(self, tx: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
        # Scan the Arrow buffers in place; BY NAME leaves table columns the frame lacks NULL.
        # The view is transactional: a failed INSERT's rollback drops it (unregistering in an
        # aborted transaction would raise and hide the real error).
        view = f"_finops_insert_{uuid.uuid4().hex}"
        tx.register(view, frame.to_arrow())
        self._exec(tx, f"INSERT INTO {qualified(table)} BY NAME SELECT * FROM {quote(view)}")
        tx.unregister(view)
