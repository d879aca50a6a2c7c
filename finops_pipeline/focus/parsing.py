"""Parsers shared by every source: text as exported by a provider → typed polars columns.

They never raise on a bad value: they return null, and the caller compares with the input to name the
row and column that did not parse (see `conform.py` and the source normalisers).
"""

import polars as pl

from finops_pipeline.focus.schema import MONEY, TIMESTAMP

# Date/time layouts seen in real exports (reference §3.6), tried in order.
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%Y%m%d",
)
_OFFSET_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")


def to_utc_timestamp(expr: pl.Expr) -> pl.Expr:
    """Text or datetime → Datetime(us, UTC). Naive values are taken as UTC; `Z`/offsets are honoured."""
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"(?i)\s*UTC$", "").str.replace(r"Z$", "+00:00")
    attempts = [text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False) for fmt in _OFFSET_FORMATS] + [
        text.str.strptime(pl.Datetime("us"), fmt, strict=False).dt.replace_time_zone("UTC") for fmt in _NAIVE_FORMATS
    ]
    parsed = pl.coalesce(attempts).cast(TIMESTAMP)
    # chrono's %Y also takes "25" in "5/1/25" as year 25: a two-digit year is ambiguous, so not a date.
    return pl.when(parsed.dt.year() >= 1900).then(parsed)


def to_money(expr: pl.Expr) -> pl.Expr:
    """Text or number → Decimal(38, 10); plain and E-notation accepted, anything else → null."""
    return expr.cast(pl.String).str.strip_chars().cast(MONEY, strict=False)


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Exports write missing values as "", "NULL" or whitespace; FOCUS wants real nulls."""
    text = expr.cast(pl.String).str.strip_chars()
    return pl.when(~text.is_in(["", "NULL", "null", "None", "N/A"])).then(text)  # keeps the column's name
