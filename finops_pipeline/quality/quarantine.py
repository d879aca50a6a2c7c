"""`core.quarantine`: rows that could not be normalised, kept with the reason and the cost they carried.

Reconciliation counts quarantined cost, so a bad row is visible and accounted for, never silently lost.
"""

import polars as pl

from finops_pipeline.focus.conform import REASON
from finops_pipeline.focus.schema import MONEY

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "x_SourceName": pl.String,
    "x_SourceFile": pl.String,
    "x_SourceRowNumber": pl.Int64,
    "x_ChargeDay": pl.Date,
    "x_BillingPeriodStart": pl.Date,
    "x_QuarantineStage": pl.String,  # "normalise" (source mapping) or "conform" (FOCUS rules)
    "x_QuarantineReason": pl.String,
    "x_SourceCost": MONEY,  # the billed cost the row carried in the source, null if it did not parse
    "x_Record": pl.String,  # the row as JSON, for whoever fixes it
    "x_RunId": pl.String,
}


def to_quarantine(rejected: pl.DataFrame, *, stage: str, cost_column: str = "BilledCost") -> pl.DataFrame:
    """Rejected rows (with x_QuarantineReason) → the quarantine table's shape."""
    record_columns = [c for c in rejected.columns if c != REASON]
    as_text = [pl.col(c).cast(pl.String) for c in record_columns]
    return rejected.select(
        pl.col("x_SourceName").cast(pl.String),
        pl.col("x_SourceFile").cast(pl.String),
        pl.col("x_SourceRowNumber").cast(pl.Int64),
        pl.col("x_ChargeDay").cast(pl.Date),
        pl.col("BillingPeriodStart").dt.date().alias("x_BillingPeriodStart"),
        pl.lit(stage).alias("x_QuarantineStage"),
        pl.col(REASON).alias("x_QuarantineReason"),
        pl.col(cost_column).cast(MONEY).alias("x_SourceCost"),
        pl.struct(as_text).struct.json_encode().alias("x_Record"),
        pl.col("x_RunId").cast(pl.String),
    )
