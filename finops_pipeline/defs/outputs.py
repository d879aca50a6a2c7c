"""What FinOps teams read off allocation: budget status and KPIs (daily), chargeback statements (monthly).

Thin wiring: read `outputs.cost_allocation` (and `core.focus_costs` for commitment KPIs), call the pure
functions of `budgets`, `kpis` and `chargeback`, write the partition, report checks and metadata.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from finops_pipeline.allocation.schema import COST_ALLOCATION_TABLE, dimension_column
from finops_pipeline.budgets import BUDGET_STATUS_SCHEMA, Budgets, daily_costs_by_owner, load_budgets
from finops_pipeline.budgets import budget_status as compute_budget_status
from finops_pipeline.chargeback import (
    RateCard,
    build_statements,
    load_rate_card,
    statement_reconciliation,
)
from finops_pipeline.config_files import ConfigFileError
from finops_pipeline.defs.allocation import current_rules
from finops_pipeline.defs.metadata import metadata_value, money_text
from finops_pipeline.defs.partitions import daily_partitions, monthly_partitions, single_run
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run
from finops_pipeline.kpis import finops_kpis as compute_kpis
from finops_pipeline.quality.focus_checks import FOCUS_TABLE
from finops_pipeline.settings import budgets_path, rate_card_path

BUDGET_STATUS_TABLE = "outputs.budget_status"
KPI_TABLE = "outputs.finops_kpis"
STATEMENTS_TABLE = "outputs.chargeback_statements"
STATEMENT_LINES_TABLE = "outputs.chargeback_statement_lines"
BETWEEN = '"x_ChargeDay" BETWEEN :first_day AND :last_day'


def _load(path, loader, what: str, **kwargs):
    """A settings file through its loader; an error stops the asset naming the file, key and problem."""
    try:
        return loader(path, **kwargs)
    except ConfigFileError as error:
        raise dg.Failure(description=f"{what} not usable: {error}") from None


def _allocation(wh, first_day: date, last_day: date) -> pl.DataFrame:
    return wh.read_frame(
        f"SELECT * FROM {COST_ALLOCATION_TABLE} WHERE {BETWEEN}", {"first_day": first_day, "last_day": last_day}
    )


@dg.asset(
    deps=["cost_allocation"],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="outputs",
    kinds={"polars"},
    description=f"{BUDGET_STATUS_TABLE}: per budget (budgets.yaml) and day: month to date, projected month end, "
    "% used, status normal/warning/critical, the day a threshold was crossed and the day the budget runs out.",
)
def budget_status(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    days = days_in_run(context)
    path = budgets_path()
    if path.exists():
        rules = current_rules()
        known = {name: None for name in rules.dimensions}
        known[rules.owner_dimension] = [*rules.owners, rules.default_owner] if rules.owners else None
        budgets = _load(path, load_budgets, "budgets", known_values=known)
    else:
        context.log.warning(f"no budgets at {path}: budget_status stays empty")
        budgets = Budgets()
    with warehouse.open() as wh:
        # Month to date needs every day since the 1st of the first day's month.
        allocation = _allocation(wh, min(days).replace(day=1), max(days))
        status = (
            compute_budget_status(daily_costs_by_owner(allocation, budgets.dimensions), budgets, days=days)
            if budgets.budgets
            else pl.DataFrame(schema=BUDGET_STATUS_SCHEMA)
        )
        wh.replace_rows(BUDGET_STATUS_TABLE, status, match={"day": days})
    latest = status.filter(pl.col("day") == max(days)) if status.height else status
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(status.height),
            "budgets": dg.MetadataValue.int(len(budgets.budgets)),
            f"status on {max(days)}": metadata_value(
                {f"{r['dimension']}={r['owner']}": f"{r['status']} ({r['pct_used']:.1f} %)" for r in latest.to_dicts()}
            ),
        }
    )


@dg.asset(
    deps=["cost_allocation", "focus_costs"],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="outputs",
    kinds={"polars"},
    description=f"{KPI_TABLE}: per day, overall and per source: tag coverage, allocation coverage, effective "
    "savings rate, commitment utilisation and coverage, Kubernetes idle share.",
)
def finops_kpis(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    days = days_in_run(context)
    rules = current_rules()
    params = {"first_day": min(days), "last_day": max(days)}
    focus_columns = ", ".join(
        f'"{c}"'
        for c in (
            "x_ChargeDay",
            "x_SourceName",
            "BillingCurrency",
            "ServiceCategory",
            "ChargeCategory",
            "CommitmentDiscountId",
            "CommitmentDiscountStatus",
            "EffectiveCost",
            "ListCost",
        )
    )
    with warehouse.open() as wh:
        allocation = _allocation(wh, min(days), max(days))
        focus = wh.read_frame(f"SELECT {focus_columns} FROM {FOCUS_TABLE} WHERE {BETWEEN}", params)
        kpis = compute_kpis(
            allocation,
            focus,
            default_owner=rules.default_owner,
            owner_column=dimension_column(rules.owner_dimension),
        )
        wh.replace_rows(KPI_TABLE, kpis, match={"x_ChargeDay": days})
    overall = (
        kpis.filter(pl.col("scope_type") == "all")
        .group_by("kpi")
        .agg(numerator=pl.col("numerator").sum(), denominator=pl.col("denominator").sum())
    )
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(kpis.height),
            f"{min(days)} … {max(days)}": metadata_value(
                {
                    row["kpi"]: f"{row['numerator'] / row['denominator']:.1%}" if row["denominator"] else "n/a"
                    for row in overall.sort("kpi").to_dicts()
                }
            ),
        }
    )


@dg.asset(
    deps=["cost_allocation"],
    partitions_def=monthly_partitions,
    group_name="outputs",
    kinds={"polars"},
    check_specs=[
        dg.AssetCheckSpec(
            "statements_reconcile_to_the_bill",
            asset="chargeback_statements",
            blocking=True,
            description="Σ bill share of the month's statements = Σ allocated EffectiveCost (the bill), per "
            "currency, to the cent; each total = bill share + markups + fees + retained discount.",
        )
    ],
    description=f"{STATEMENTS_TABLE} and {STATEMENT_LINES_TABLE}: one statement per owner and month (rate_card.yaml:"
    " markups, platform fees, discounts passed through or kept, showback or chargeback), lines by kind.",
)
def chargeback_statements(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    month = context.partition_time_window.start.date()
    month_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    rules = current_rules()
    path = rate_card_path()
    if path.exists():
        rate_card = _load(path, load_rate_card, "rate card", known_owners=[*rules.owners, rules.default_owner])
    else:
        context.log.warning(f"no rate card at {path}: showback at cost, no markups or fees")
        rate_card = RateCard()
    with warehouse.open() as wh:
        allocation = _allocation(wh, month, month_end)
        statements = build_statements(
            allocation, rate_card, month=month, owner_column=dimension_column(rules.owner_dimension)
        )
        wh.replace_rows(STATEMENTS_TABLE, statements.headers, match={"month": [month]})
        wh.replace_rows(STATEMENT_LINES_TABLE, statements.lines, match={"month": [month]})
    reconciliation = statement_reconciliation(statements.headers, allocation)
    headers = statements.headers
    yield dg.MaterializeResult(
        metadata={
            "statements": dg.MetadataValue.int(headers.height),
            "lines": dg.MetadataValue.int(statements.lines.height),
            "total charged": dg.MetadataValue.text(money_text(headers["amount_due"].sum())),
            "by owner": metadata_value(
                {f"{r['owner']} ({r['mode']})": money_text(r["total"]) for r in headers.sort("owner").to_dicts()}
            ),
        }
    )
    totals_add_up = headers.filter(
        pl.col("total") != pl.col("bill_share") + pl.col("markups") + pl.col("fees") + pl.col("discount_retained")
    ).is_empty()
    yield dg.AssetCheckResult(
        check_name="statements_reconcile_to_the_bill",
        passed=bool(reconciliation["reconciled"].all()) and totals_add_up,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "reconciliation": metadata_value(reconciliation.to_dicts()),
            "totals_add_up": dg.MetadataValue.bool(totals_add_up),
        },
    )


# Statements are monthly, the daily job is daily: a job of their own, run after the daily refresh.
monthly_statements_job = dg.define_asset_job(
    "monthly_statements",
    selection=dg.AssetSelection.assets(chargeback_statements),  # partitioned monthly, so is the job
    description="Chargeback statements of one month (re-run while the month's bill is restated).",
)


@dg.schedule(job=monthly_statements_job, cron_schedule="0 8 * * *", execution_timezone="UTC")
def monthly_statements_schedule(context: dg.ScheduleEvaluationContext):
    """Daily at 08:00, after the 06:00 refresh: the current and the previous month's statements, as the
    refresh restates both months."""
    today = (context.scheduled_execution_time or datetime.now(UTC)).date()
    previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    for month in (previous, today.replace(day=1)):
        yield dg.RunRequest(run_key=f"statements-{month:%Y-%m}-{today}", partition_key=month.strftime("%Y-%m-%d"))
