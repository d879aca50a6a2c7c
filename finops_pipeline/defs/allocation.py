"""`cost_allocation`: every cost of `focus_costs` split to owners (direct, Kubernetes, shared pools),
with conservation as a blocking check."""

import dagster as dg
import polars as pl

from finops_pipeline.allocation.checks import conservation, every_row_has_an_owner
from finops_pipeline.allocation.pipeline import allocate_days
from finops_pipeline.allocation.rules import AllocationRules, Dimension, load_allocation_rules
from finops_pipeline.allocation.schema import COST_ALLOCATION_TABLE, dimension_column
from finops_pipeline.config_files import ConfigFileError
from finops_pipeline.defs.metadata import metadata_value, money_text
from finops_pipeline.defs.partitions import daily_partitions, single_run
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run
from finops_pipeline.settings import allocation_rules_path

# Without a rules file every cost still gets an owner: its `team` tag, else `unallocated`.
FALLBACK_RULES = AllocationRules(dimensions={"team": Dimension(tag_keys=["team", "Team"])})


def current_rules(log=None) -> AllocationRules:
    """The user's rules (FINOPS_ALLOCATION_RULES or $FINOPS_CONFIG_DIR/allocation_rules.yaml); a file with
    an error stops the run with the file, key and problem named."""
    path = allocation_rules_path()
    if not path.exists():
        if log:
            log.warning(f"no allocation rules at {path}: allocating by the `team` tag only")
        return FALLBACK_RULES
    try:
        return load_allocation_rules(path)
    except ConfigFileError as error:
        raise dg.Failure(description=f"allocation rules not usable: {error}") from None


@dg.asset(
    deps=["focus_costs", "k8s_usage"],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="outputs",
    kinds={"polars"},
    check_specs=[
        dg.AssetCheckSpec(
            "conserves_cost",
            asset="cost_allocation",
            blocking=True,
            description="Σ allocated = Σ focus_costs per day, source and cost type (Billed, Effective, List), exactly.",
        ),
        dg.AssetCheckSpec(
            "every_row_has_an_owner",
            asset="cost_allocation",
            blocking=True,
            description="Every allocated row has a value in every allocation dimension.",
        ),
    ],
    description=f"{COST_ALLOCATION_TABLE}: every cost split to owners per allocation dimension — direct (tags, "
    "account maps), Kubernetes (node cost from the bill over workloads), shared pools — each row naming its "
    "method and rule.",
)
def cost_allocation(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    days = days_in_run(context)
    rules = current_rules(context.log)
    with warehouse.open() as wh:
        allocation = allocate_days(wh, days, rules)
        frame = allocation.frame
        wh.replace_rows(COST_ALLOCATION_TABLE, frame, match={"x_ChargeDay": days})

        owner = dimension_column(rules.owner_dimension)
        by_method = frame.group_by("AllocatedMethodId").agg(pl.col("EffectiveCost").sum()).sort("AllocatedMethodId")
        by_owner = frame.group_by(owner).agg(pl.col("EffectiveCost").sum()).sort("EffectiveCost", descending=True)
        yield dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(frame.height),
                "rules": dg.MetadataValue.text(rules.source_file or "built-in fallback (team tag only)"),
                "EffectiveCost": dg.MetadataValue.text(money_text(frame["EffectiveCost"].sum())),
                "EffectiveCost by method": metadata_value(
                    {row["AllocatedMethodId"]: money_text(row["EffectiveCost"]) for row in by_method.to_dicts()}
                ),
                f"EffectiveCost by {rules.owner_dimension}": metadata_value(
                    {row[owner]: money_text(row["EffectiveCost"]) for row in by_owner.to_dicts()}
                ),
                "kubernetes": metadata_value(allocation.kubernetes),
            }
        )
        dimension_columns = [dimension_column(name) for name in rules.dimensions]
        for name, (passed, details) in {
            "conserves_cost": conservation(wh, days),
            "every_row_has_an_owner": every_row_has_an_owner(wh, days, dimension_columns),
        }.items():
            yield dg.AssetCheckResult(
                check_name=name,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={key: metadata_value(value) for key, value in details.items()},
            )
