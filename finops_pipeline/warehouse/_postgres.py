"""PostgreSQL engine: SQLAlchemy pool + psycopg 3 for writes (COPY), ADBC (Arrow) for reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import polars as pl
import psycopg
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL

from finops_pipeline.warehouse.base import Warehouse
from finops_pipeline.warehouse.sql import qualified, quote, to_pyformat_params
from finops_pipeline.warehouse.types import MONEY_DTYPE, normalize_read

_COPY_BATCH_ROWS = 100_000
_DDL_LOCK_KEY = "finops_pipeline.warehouse.ddl"


class PostgresWarehouse(Warehouse):
    dialect = "postgresql"

    def __init__(self, url: URL) -> None:
        self._url = url.set(drivername="postgresql+psycopg")  # COPY needs psycopg 3, whatever was asked
        self._engine = sa.create_engine(self._url, connect_args={"options": "-c TimeZone=UTC"}, pool_pre_ping=True)

    @classmethod
    def from_url(cls, url: str) -> PostgresWarehouse:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise ValueError("warehouse URL is not a valid SQLAlchemy URL") from None  # may hold a password
        if parsed.get_backend_name() not in ("postgresql", "postgres"):
            raise ValueError(f"unsupported warehouse backend {parsed.get_backend_name()!r}")
        return cls(parsed)

    def read_frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        query = self._bind_client_side(sql, params) if params else sql
        libpq_uri = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        with adbc.connect(libpq_uri) as conn, conn.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            cursor.execute(query)
            table = cursor.fetch_arrow_table()
        return normalize_read(_arrow_to_polars(table))

    def describe(self) -> str:
        return self._url.render_as_string(hide_password=True)  # "***" in place of the password

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        with self._engine.begin() as conn:
            yield conn.connection.driver_connection

    def _exec(self, tx: psycopg.Connection, sql: str, params: Mapping[str, Any] | None = None) -> None:
        tx.execute(to_pyformat_params(sql), dict(params or {}))

    def _fetch(self, tx: psycopg.Connection, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        return tx.execute(to_pyformat_params(sql), dict(params)).fetchall()

    def _bulk_insert(self, tx: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
        # CSV keeps decimals as exact text; quoted "" is an empty string, an empty field is NULL.
        columns = ", ".join(quote(name) for name in frame.columns)
        statement = f"COPY {qualified(table)} ({columns}) FROM STDIN WITH (FORMAT csv)"
        with tx.cursor() as cursor, cursor.copy(statement) as copy:
            for batch in frame.iter_slices(_COPY_BATCH_ROWS):
                copy.write(batch.write_csv(include_header=False))

    def _lock_ddl(self, tx: psycopg.Connection) -> None:
        # Two first writes racing on CREATE TABLE / ADD COLUMN would otherwise fail on a catalog unique key.
        self._exec(tx, "SELECT pg_advisory_xact_lock(hashtext(:key))", {"key": _DDL_LOCK_KEY})

    def _bind_client_side(self, sql: str, params: Mapping[str, Any]) -> str:
        """ADBC runs the query inside COPY, which takes no parameters: let psycopg inline them safely."""
        with self._engine.connect() as conn:
            cursor = psycopg.ClientCursor(conn.connection.driver_connection)
            return cursor.mogrify(to_pyformat_params(sql), dict(params))


def _arrow_to_polars(table: pa.Table) -> pl.DataFrame:
    """ADBC hands NUMERIC (and other types without an Arrow twin) over as text wrapped in an extension."""
    numeric = [field.name for field in table.schema if _postgres_type(field) == b"numeric"]
    columns = [_extension_storage(column) for column in table.columns]
    frame = pl.from_arrow(pa.table(columns, names=table.column_names))
    return frame.with_columns(pl.col(numeric).cast(MONEY_DTYPE))


def _postgres_type(field: pa.Field) -> bytes | None:
    return (field.metadata or {}).get(b"POSTGRESQL:type")


def _extension_storage(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not isinstance(column.type, pa.BaseExtensionType):
        return column
    return pa.chunked_array([chunk.storage for chunk in column.chunks], type=column.type.storage_type)
