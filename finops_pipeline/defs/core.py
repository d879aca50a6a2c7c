"""`focus_costs` and `quarantine`: every source's FOCUS rows, conformed, with the blocking money checks."""

import os

import dagster as dg
import polars as pl

from finops_pipeline.defs.metadata import metadata_value, money_text
from finops_pipeline.defs.partitions import daily_partitions, single_run
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run
from finops_pipeline.defs.sources import SOURCES
from finops_pipeline.focus import CORE_TABLE_SCHEMA, REASON, conform_to_focus
from finops_pipeline.quality import focus_checks
from finops_pipeline.quality.quarantine import QUARANTINE_SCHEMA, to_quarantine

# Source asset → the staging table it writes.
STAGING_TABLES = {source.asset_name: source.staging_table for source in SOURCES}

CHECKS = {
    "reconciles_to_source": (
        focus_checks.reconciliation,
        "Σ source cost = Σ BilledCost + Σ quarantined cost, per source, billing period and day, to the cent.",
    ),
    "allowed_values": (focus_checks.allowed_values, "Enumerated FOCUS columns hold only allowed values."),
    "mandatory_columns_not_null": (
        focus_checks.mandatory_not_null,
        "Mandatory non-nullable FOCUS columns are never null.",
    ),
    "charge_period_start_before_end": (
        focus_checks.charge_period_order,
        "ChargePeriodStart < ChargePeriodEnd.",
    ),
}


# Conformance to the FinOps Foundation rule model, when the model file is configured: a warning, not a
# gate, because providers' own exports miss some MUST rules too (see the check's metadata).
if os.environ.get("FINOPS_FOCUS_RULE_MODEL"):
    CONFORMANCE = {"conforms_to_focus_rule_model": focus_checks.rule_model_conformance}
else:
    CONFORMANCE = {}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "focus_costs",
            deps=list(STAGING_TABLES),
            group_name="core",
            kinds={"polars"},
            description="core.focus_costs: FOCUS 1.2 cost and usage rows of every source, one day partition "
            "per x_SourceName and x_ChargeDay.",
        ),
        dg.AssetSpec(
            "quarantine",
            deps=list(STAGING_TABLES),
            group_name="core",
            description="core.quarantine: rows that could not be normalised, with the reason and their cost.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset="focus_costs", blocking=True, description=description)
        for name, (_, description) in CHECKS.items()
    ]
    + [
        dg.AssetCheckSpec(name, asset="focus_costs", description="Static MUST rules of the FOCUS 1.2 rule model.")
        for name in CONFORMANCE
    ],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
def focus_costs(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    days = days_in_run(context)
    in_range = '"x_ChargeDay" BETWEEN :first_day AND :last_day'
    params = {"first_day": min(days), "last_day": max(days)}
    with warehouse.open() as wh:
        staged = pl.concat(
            [pl.DataFrame(schema={**CORE_TABLE_SCHEMA, REASON: pl.String})]
            + [
                wh.read_frame(f"SELECT * FROM {table} WHERE {in_range}", params)
                for table in STAGING_TABLES.values()
                if wh.table_exists(table)
            ],
            how="diagonal_relaxed",
        )
        conformed = conform_to_focus(staged.filter(pl.col(REASON).is_null()).drop(REASON))
        quarantined = pl.concat(
            [
                pl.DataFrame(schema=QUARANTINE_SCHEMA),
                to_quarantine(staged.filter(pl.col(REASON).is_not_null()), stage="normalise"),
                to_quarantine(conformed.rejected, stage="conform"),
            ]
        )
        sources = sorted(source.name for source in SOURCES)
        partition = {"x_SourceName": sources, "x_ChargeDay": days}
        context.log.info(f"{conformed.valid.height} rows conform to FOCUS 1.2, {quarantined.height} quarantined")
        wh.replace_rows(focus_checks.FOCUS_TABLE, conformed.valid, match=partition)
        wh.replace_rows(focus_checks.QUARANTINE_TABLE, quarantined, match=partition)
        if conformed.dropped_columns:
            context.log.warning(f"columns outside FOCUS and not x_-prefixed were dropped: {conformed.dropped_columns}")

        valid = conformed.valid
        yield dg.MaterializeResult(
            asset_key="focus_costs",
            metadata={
                "rows": dg.MetadataValue.int(valid.height),
                "BilledCost": dg.MetadataValue.text(money_text(valid["BilledCost"].sum())),
                "EffectiveCost": dg.MetadataValue.text(money_text(valid["EffectiveCost"].sum())),
                "days": dg.MetadataValue.text(f"{min(days)} … {max(days)}"),
                "sources": dg.MetadataValue.text(", ".join(sources)),
            },
        )
        yield dg.MaterializeResult(
            asset_key="quarantine",
            metadata={
                "rows": dg.MetadataValue.int(quarantined.height),
                "quarantined_cost": dg.MetadataValue.text(money_text(quarantined["x_SourceCost"].sum())),
                "reasons": dg.MetadataValue.json(
                    quarantined.group_by("x_QuarantineReason").len().sort("len", descending=True).head(10).to_dicts()
                ),
            },
        )
        gates = [(name, check, dg.AssetCheckSeverity.ERROR) for name, (check, _) in CHECKS.items()]
        warnings = [(name, check, dg.AssetCheckSeverity.WARN) for name, check in CONFORMANCE.items()]
        for name, check, severity in gates + warnings:
            passed, details = check(wh, days)
            yield dg.AssetCheckResult(
                asset_key="focus_costs",
                check_name=name,
                passed=passed,
                severity=severity,
                metadata={key: metadata_value(value) for key, value in details.items()},
            )
