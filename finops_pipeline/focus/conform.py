"""Coerce a frame to the FOCUS 1.2 table schema and say which rows do not fit, and why.

Rows that break a rule every consumer relies on (a mandatory column null, a value outside the allowed
list, a value of the wrong type, a charge period that ends before it starts) are split off with a
reason so they can be quarantined; nothing is dropped silently.
"""

from dataclasses import dataclass, field

import polars as pl

from finops_pipeline.focus.parsing import MONEY_LIMIT, join_reasons, number_to_money, to_money, to_utc_timestamp
from finops_pipeline.focus.schema import CORE_TABLE_SCHEMA, FOCUS_COLUMNS, MONEY, TIMESTAMP

REASON = "x_QuarantineReason"


@dataclass
class ConformResult:
    valid: pl.DataFrame  # exactly CORE_TABLE_SCHEMA, in that order
    rejected: pl.DataFrame  # same columns plus x_QuarantineReason
    dropped_columns: list[str] = field(default_factory=list)  # non-FOCUS, non-x_ columns that were removed


def _cast(name: str, dtype: pl.DataType, source_dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if source_dtype == pl.Null:
        return pl.lit(None, dtype=dtype)
    if dtype == TIMESTAMP and source_dtype == pl.String:
        return to_utc_timestamp(column)
    if dtype == MONEY and source_dtype == pl.String:
        return to_money(column)
    if dtype == MONEY and source_dtype.is_numeric():
        return number_to_money(column)
    return column.cast(dtype, strict=False)


def rule_violations(frame: pl.LazyFrame, *, cast_failures: dict[str, pl.Expr] | None = None) -> pl.Expr:
    """One text per row naming every broken rule ("; "-separated), null when the row is fine."""
    reasons: list[pl.Expr] = []
    for name, failed in (cast_failures or {}).items():
        what = f"a valid {CORE_TABLE_SCHEMA[name]}"
        if CORE_TABLE_SCHEMA[name] == MONEY:
            what = f"a number of magnitude under {MONEY_LIMIT:.0e}"  # larger ones would overflow sums
        reasons.append(pl.when(failed).then(pl.lit(f"{name}: value is not {what}")))
    for column in FOCUS_COLUMNS:
        if column.required_non_null:
            reasons.append(pl.when(pl.col(column.name).is_null()).then(pl.lit(f"{column.name}: mandatory, is null")))
        if column.allowed_values:
            bad = pl.col(column.name).is_not_null() & ~pl.col(column.name).is_in(column.allowed_values)
            reasons.append(
                pl.when(bad).then(pl.format(f"{column.name}: '{{}}' is not an allowed value", pl.col(column.name)))
            )
    reasons.append(
        pl.when(pl.col("ChargePeriodStart") >= pl.col("ChargePeriodEnd")).then(
            pl.lit("ChargePeriodStart: not before ChargePeriodEnd")
        )
    )
    reasons.append(
        pl.when(pl.col("BillingPeriodStart") >= pl.col("BillingPeriodEnd")).then(
            pl.lit("BillingPeriodStart: not before BillingPeriodEnd")
        )
    )
    return join_reasons(reasons).alias(REASON)


def conform_to_focus(frame: pl.LazyFrame | pl.DataFrame) -> ConformResult:
    """Cast to CORE_TABLE_SCHEMA (absent columns become typed nulls); split valid from rejected rows."""
    lazy = frame.lazy()
    source_schema = lazy.collect_schema()
    dropped = [c for c in source_schema if c not in CORE_TABLE_SCHEMA and not c.startswith("x_")]

    casts, failures = [], {}
    for name, dtype in CORE_TABLE_SCHEMA.items():
        if name not in source_schema:
            casts.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        casts.append(_cast(name, dtype, source_schema[name]).alias(name))
        if source_schema[name] != dtype:
            failures[name] = pl.col(f"__orig_{name}").is_not_null() & pl.col(name).is_null()
    originals = [pl.col(n).alias(f"__orig_{n}") for n in failures]
    casted = lazy.with_columns(originals).with_columns(casts)
    checked = casted.with_columns(rule_violations(casted, cast_failures=failures))
    ordered = list(CORE_TABLE_SCHEMA)
    result = checked.select(ordered + [REASON]).collect()
    valid = result.filter(pl.col(REASON).is_null()).drop(REASON)
    rejected = result.filter(pl.col(REASON).is_not_null())
    return ConformResult(valid=valid, rejected=rejected, dropped_columns=dropped)
