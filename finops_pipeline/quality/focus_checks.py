"""Checks on the stored `core.focus_costs` rows of a day range, as SQL both engines run.

Each returns (passed, metadata) so the Dagster layer only reports; the rules themselves live here.
"""

from datetime import date
from decimal import Decimal

import polars as pl

from finops_pipeline.focus.schema import FOCUS_COLUMNS
from finops_pipeline.warehouse import Warehouse

FOCUS_TABLE = "core.focus_costs"
QUARANTINE_TABLE = "core.quarantine"
SOURCE_TOTALS_TABLE = "ops.source_totals"
CENT = Decimal("0.01")

_IN_RANGE = '"x_ChargeDay" BETWEEN :first_day AND :last_day'


def _range(days: list[date]) -> dict[str, date]:
    return {"first_day": min(days), "last_day": max(days)}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def reconciliation(wh: Warehouse, days: list[date]) -> tuple[bool, dict]:
    """Σ source cost = Σ focus BilledCost + Σ quarantined cost, per source, billing period and day."""
    keys = ["x_SourceName", "x_BillingPeriodStart", "x_ChargeDay"]
    source = wh.read_frame(
        f'SELECT "x_SourceName", "x_BillingPeriodStart", "x_ChargeDay", SUM("x_SourceCost") AS source_cost '
        f"FROM {SOURCE_TOTALS_TABLE} WHERE {_IN_RANGE} GROUP BY 1, 2, 3",
        _range(days),
    )
    focus = wh.read_frame(
        f'SELECT "x_SourceName", CAST("BillingPeriodStart" AS DATE) AS "x_BillingPeriodStart", "x_ChargeDay", '
        f'SUM("BilledCost") AS focus_cost FROM {FOCUS_TABLE} WHERE {_IN_RANGE} GROUP BY 1, 2, 3',
        _range(days),
    )
    quarantined = wh.read_frame(
        f'SELECT "x_SourceName", "x_BillingPeriodStart", "x_ChargeDay", SUM("x_SourceCost") AS quarantined_cost '
        f"FROM {QUARANTINE_TABLE} WHERE {_IN_RANGE} GROUP BY 1, 2, 3",
        _range(days),
    )
    joined = (
        source.join(focus, on=keys, how="full", coalesce=True, nulls_equal=True)
        .join(quarantined, on=keys, how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("source_cost", "focus_cost", "quarantined_cost").fill_null(0))
        .with_columns((pl.col("source_cost") - pl.col("focus_cost") - pl.col("quarantined_cost")).alias("difference"))
    )
    mismatched = joined.filter(pl.col("difference").abs() >= CENT)
    return mismatched.is_empty(), {
        "keys_checked": joined.height,
        "source_cost": joined["source_cost"].sum(),
        "focus_billed_cost": joined["focus_cost"].sum(),
        "quarantined_cost": joined["quarantined_cost"].sum(),
        "mismatches": mismatched.sort(keys).head(20).to_dicts(),
    }


def _count(wh: Warehouse, condition: str, days: list[date]) -> int:
    frame = wh.read_frame(f"SELECT COUNT(*) AS n FROM {FOCUS_TABLE} WHERE {_IN_RANGE} AND ({condition})", _range(days))
    return int(frame["n"][0])


def allowed_values(wh: Warehouse, days: list[date]) -> tuple[bool, dict]:
    """Every enumerated FOCUS column holds only its allowed values (or null where allowed)."""
    violations = {}
    for column in FOCUS_COLUMNS:
        if column.allowed_values:
            listed = ", ".join(_quote(v) for v in column.allowed_values)
            n = _count(wh, f'"{column.name}" IS NOT NULL AND "{column.name}" NOT IN ({listed})', days)
            if n:
                violations[column.name] = n
    return not violations, {"violations": violations}


def mandatory_not_null(wh: Warehouse, days: list[date]) -> tuple[bool, dict]:
    """Mandatory non-nullable FOCUS columns are never null."""
    violations = {}
    for column in FOCUS_COLUMNS:
        if column.required_non_null:
            n = _count(wh, f'"{column.name}" IS NULL', days)
            if n:
                violations[column.name] = n
    return not violations, {"violations": violations}


def charge_period_order(wh: Warehouse, days: list[date]) -> tuple[bool, dict]:
    """Charge periods are [start, end): start strictly before end."""
    n = _count(wh, '"ChargePeriodStart" >= "ChargePeriodEnd"', days)
    return n == 0, {"rows_with_start_not_before_end": n}


def rule_model_conformance(wh: Warehouse, days: list[date]) -> tuple[bool, dict]:
    """The FinOps Foundation rule model's static MUST rules on the stored rows (FINOPS_FOCUS_RULE_MODEL).

    Applicability criteria claimed: FINOPS_FOCUS_APPLICABILITY (comma-separated), default all of the model's.
    """
    import os

    from finops_pipeline.quality.focus_rules import conformance_failures, evaluate_static_rules, load_rule_model

    model = load_rule_model()
    claimed = os.environ.get("FINOPS_FOCUS_APPLICABILITY")
    applicability = {c.strip() for c in claimed.split(",")} if claimed else set(model.applicability_criteria)
    rows = wh.read_frame(f"SELECT * FROM {FOCUS_TABLE} WHERE {_IN_RANGE}", _range(days))
    results = evaluate_static_rules(rows, model, applicability=applicability)
    failures = conformance_failures(results).sort("failing_rows", descending=True)
    return failures.is_empty(), {
        "rows_checked": rows.height,
        "rules_evaluated": int(results["passed"].is_not_null().sum()),
        "must_rules_failed": failures.height,
        "failed_rules": {r["RuleId"]: r["failing_rows"] for r in failures.head(50).iter_rows(named=True)},
    }
