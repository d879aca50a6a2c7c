"""`aws_billing`: the latest CUR assembly of each billing period the run touches, mapped to FOCUS rows."""

import os
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from finops_pipeline.connectors import BillingFileStore
from finops_pipeline.defs.partitions import daily_partitions, single_run
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run, money_text
from finops_pipeline.focus import FOCUS_TABLE_SCHEMA, MONEY, REASON
from finops_pipeline.sources.aws.cur import cur_source_totals, scan_cur
from finops_pipeline.sources.aws.focus_mapping import cur_to_focus
from finops_pipeline.sources.aws.manifest import billing_periods_for_days, find_latest_assemblies

SOURCE_NAME = "aws"
STAGING_TABLE = "raw.aws_billing"
SOURCE_TOTALS_TABLE = "ops.source_totals"

# Shapes of what this asset writes, so a run that finds no data still writes (and empties) its days.
STAGING_SCHEMA = {**FOCUS_TABLE_SCHEMA, REASON: pl.String}
SOURCE_TOTALS_SCHEMA = {
    "x_SourceName": pl.String,
    "x_SourceFile": pl.String,
    "x_BillingPeriodStart": pl.Date,
    "x_ChargeDay": pl.Date,
    "x_SourceRows": pl.Int64,
    "x_SourceCost": MONEY,
    "x_UnparsedCostRows": pl.Int64,
}


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="sources",
    kinds={"aws", "polars"},
    description="AWS Cost and Usage Report (legacy CUR CSV/parquet, CUR 2.0), newest assembly per billing "
    "period, mapped to FOCUS 1.2 (rows that cannot be mapped carry x_QuarantineReason). "
    f"Tables: {STAGING_TABLE}, {SOURCE_TOTALS_TABLE}.",
)
def aws_billing(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    aws_cur_store: dg.ResourceParam[BillingFileStore],  # LocalDirectoryStore or S3Store
) -> dg.MaterializeResult:
    days = days_in_run(context)
    prefix = os.environ.get("FINOPS_AWS_CUR_PREFIX", "cur/finops-demo")
    assemblies = find_latest_assemblies(aws_cur_store, prefix, billing_periods_for_days(days))
    context.log.info(f"{len(days)} day(s) → {len(assemblies)} billing period(s) under {prefix!r}")

    mapped_parts, totals_parts = [], []
    for assembly in assemblies:
        files = [aws_cur_store.local_path(key) for key in assembly.report_keys]
        cur = scan_cur(files, source_names=[aws_cur_store.describe(key) for key in assembly.report_keys])
        in_run = pl.col("x_ChargeDay").is_in(days)
        mapped_parts.append(cur_to_focus(cur, source_name=SOURCE_NAME).filter(in_run).collect())
        totals_parts.append(cur_source_totals(cur).filter(in_run).collect())
        context.log.info(f"{assembly.billing_period_start:%Y-%m}: assembly {assembly.assembly_id}")

    mapped = pl.concat([pl.DataFrame(schema=STAGING_SCHEMA), *mapped_parts], how="diagonal_relaxed")
    mapped = mapped.select(list(STAGING_SCHEMA)).with_columns(
        pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("x_IngestedAt"),
        pl.lit(context.run_id).alias("x_RunId"),
    )
    totals = pl.concat([pl.DataFrame(schema=SOURCE_TOTALS_SCHEMA), *totals_parts], how="diagonal_relaxed")
    totals = totals.with_columns(pl.lit(SOURCE_NAME).alias("x_SourceName")).select(list(SOURCE_TOTALS_SCHEMA))

    partition = {"x_SourceName": [SOURCE_NAME], "x_ChargeDay": days}
    with warehouse.open() as wh:
        wh.replace_rows(STAGING_TABLE, mapped, match=partition)
        wh.replace_rows(SOURCE_TOTALS_TABLE, totals, match=partition)

    flagged = mapped.filter(pl.col(REASON).is_not_null()).height
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(mapped.height),
            "rows_flagged_for_quarantine": dg.MetadataValue.int(flagged),
            "billing_periods": dg.MetadataValue.text(
                ", ".join(f"{a.billing_period_start:%Y-%m} ({a.assembly_id})" for a in assemblies)
            ),
            "source_unblended_cost": dg.MetadataValue.text(money_text(totals["x_SourceCost"].sum())),
            "BilledCost": dg.MetadataValue.text(money_text(mapped["BilledCost"].sum())),
            "EffectiveCost": dg.MetadataValue.text(money_text(mapped["EffectiveCost"].sum())),
        }
    )
