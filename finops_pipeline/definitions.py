"""The one Dagster entry point (`dagster dev`, workspace.yaml and the CLI all load `defs`)."""

import dagster as dg

from finops_pipeline.defs.allocation import cost_allocation
from finops_pipeline.defs.core import focus_costs
from finops_pipeline.defs.dbt import dbt_resource, finops_marts
from finops_pipeline.defs.freshness import freshness_checks, freshness_sensor
from finops_pipeline.defs.gx import gx_checks
from finops_pipeline.defs.kubernetes import k8s_usage
from finops_pipeline.defs.outputs import (
    budget_status,
    chargeback_statements,
    finops_kpis,
    monthly_statements_job,
    monthly_statements_schedule,
)
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.schedules import daily_refresh_job, daily_refresh_schedule
from finops_pipeline.defs.sensors import new_billing_data_sensor
from finops_pipeline.defs.sources import source_assets, source_resources


def build_definitions() -> dg.Definitions:
    """Built in a function so tests (and the CLI) get resources that reflect the current environment."""
    return dg.Definitions(
        assets=[
            *source_assets,
            k8s_usage,
            focus_costs,
            cost_allocation,
            budget_status,
            finops_kpis,
            chargeback_statements,
            finops_marts,
        ],
        asset_checks=[*freshness_checks, *gx_checks],
        jobs=[daily_refresh_job, monthly_statements_job],
        schedules=[daily_refresh_schedule, monthly_statements_schedule],
        sensors=[freshness_sensor, new_billing_data_sensor],
        resources={"warehouse": WarehouseResource(), **source_resources(), "dbt": dbt_resource()},
    )


defs = build_definitions()
