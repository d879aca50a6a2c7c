"""Polars <-> SQL type mapping, and the normalisation that makes both engines return the same dtypes."""

import polars as pl
import polars.selectors as cs

MONEY_DTYPE = pl.Decimal(38, 10)

# One spelling that DuckDB and PostgreSQL both accept (DuckDB reads TEXT as VARCHAR, TIMESTAMPTZ
# as TIMESTAMP WITH TIME ZONE, DOUBLE PRECISION as DOUBLE).
_SQL_TYPES: dict[type[pl.DataType], str] = {
    pl.Boolean: "BOOLEAN",
    pl.Int8: "SMALLINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt8: "SMALLINT",
    pl.UInt16: "INTEGER",
    pl.UInt32: "BIGINT",
    pl.Float32: "REAL",
    pl.Float64: "DOUBLE PRECISION",
    pl.Date: "DATE",
    pl.Time: "TIME",
    pl.String: "TEXT",
    pl.Categorical: "TEXT",
    pl.Enum: "TEXT",
    pl.Null: "TEXT",
}


def sql_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return "DECIMAL(38,10)"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    try:
        return _SQL_TYPES[dtype.base_type()]
    except KeyError:
        raise TypeError(f"no warehouse column type for polars dtype {dtype}") from None


def prepare_for_write(frame: pl.DataFrame) -> pl.DataFrame:
    """Money to Decimal(38,10) (strict: an overflow raises instead of becoming NULL), instants to UTC."""
    return frame.with_columns(
        cs.decimal().cast(MONEY_DTYPE),
        cs.datetime(time_zone="*").dt.convert_time_zone("UTC"),
    )


def normalize_read(frame: pl.DataFrame) -> pl.DataFrame:
    """Same dtypes from both engines: decimals as Decimal(38,10), instants as Datetime("us", "UTC")."""
    return frame.with_columns(
        cs.decimal().cast(MONEY_DTYPE),
        cs.datetime(time_zone="*").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
    )
