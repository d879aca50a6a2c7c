"""Budgets per team or cost centre (`budgets.yaml`): month to date, projected month end, status and the
day the budget runs out at the current burn."""

from finops_pipeline.budgets.budgets import (
    BUDGET_STATUS_SCHEMA,
    DAILY_COSTS_SCHEMA,
    FORECAST_SCHEMA,
    Budget,
    Budgets,
    ResolvedBudget,
    Thresholds,
    budget_status,
    daily_costs_by_owner,
    load_budgets,
)

__all__ = [
    "BUDGET_STATUS_SCHEMA",
    "DAILY_COSTS_SCHEMA",
    "FORECAST_SCHEMA",
    "Budget",
    "Budgets",
    "ResolvedBudget",
    "Thresholds",
    "budget_status",
    "daily_costs_by_owner",
    "load_budgets",
]
