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

    Each source (x_SourceName) is judged with the ApplicabilityCriteria it supports and without its known
    exceptions (`quality.conformance`); FINOPS_FOCUS_APPLICABILITY (comma-separated criteria), when set,
    is claimed for every source instead. The exceptions a source's rows break are reported separately.
    """
    import os

    from finops_pipeline.quality.conformance import SOURCE_APPLICABILITY, exception_failures, source_conformance
    from finops_pipeline.quality.focus_rules import load_rule_model

    model = load_rule_model()
    claimed = os.environ.get("FINOPS_FOCUS_APPLICABILITY")
    criteria = [c.strip() for c in claimed.split(",") if c.strip()] if claimed else None
    rows = wh.read_frame(f"SELECT * FROM {FOCUS_TABLE} WHERE {_IN_RANGE}", _range(days))
    failed_rules: dict[str, dict[str, int]] = {}
    exceptions: dict[str, dict[str, dict]] = {}
    for source in rows["x_SourceName"].unique().sort().to_list():
        source_rows = rows.filter(pl.col("x_SourceName").eq_missing(source))
        name = source if source is not None else "(none)"
        # A source we claim nothing for (not one of ours) is held to every criterion, as before.
        own = criteria if criteria or name in SOURCE_APPLICABILITY else list(model.applicability_criteria)
        failures = source_conformance(source_rows, model, name, criteria=own)
        if not failures.is_empty():
            per_rule = (
                failures.group_by("RuleId").agg(pl.col("failing_rows").sum()).sort("failing_rows", descending=True)
            )
            failed_rules[name] = {r["RuleId"]: r["failing_rows"] for r in per_rule.head(50).iter_rows(named=True)}
        excepted = exception_failures(source_rows, model, name, criteria=own)
        if not excepted.is_empty():
            per_rule = excepted.group_by("RuleId", "reason").agg(pl.col("failing_rows").sum()).sort("RuleId")
            exceptions[name] = {
                r["RuleId"]: {"failing_rows": r["failing_rows"], "reason": r["reason"]}
                for r in per_rule.iter_rows(named=True)
            }
    return not failed_rules, {
        "rows_checked": rows.height,
        "applicability": "FINOPS_FOCUS_APPLICABILITY for every source" if criteria else "per source",
        "must_rules_failed": sum(len(rules) for rules in failed_rules.values()),
        "failed_rules": failed_rules,
        "known_exceptions": exceptions,
    }
