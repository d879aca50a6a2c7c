"""Tiny FOCUS and allocation frames for the allocation tests."""

from datetime import date
from decimal import Decimal

import polars as pl

from finops_pipeline.allocation.rules import AllocationRules
from finops_pipeline.allocation.schema import COST_KEYS, FOCUS_COLUMNS_NEEDED
from finops_pipeline.focus.schema import MONEY

DAY = date(2026, 11, 3)


def focus_rows(*rows: dict) -> pl.DataFrame:
    """FOCUS rows with the columns allocation reads; defaults fill what a test does not care about."""
    defaults = {
        "x_ChargeDay": DAY,
        "x_SourceName": "aws",
        "ProviderName": "AWS",
        "BillingAccountId": "111",
        "BillingCurrency": "USD",
        "SubAccountId": "111",
        "ServiceCategory": "Compute",
        "ServiceName": "EC2",
        "ChargeCategory": "Usage",
        "Tags": "{}",
    }
    schema = {
        name: (MONEY if name in ("BilledCost", "EffectiveCost", "ListCost") else COST_KEYS.get(name, pl.String))
        for name in FOCUS_COLUMNS_NEEDED
    }
    filled = []
    for row in rows:
        cost = Decimal(str(row.get("cost", "0")))
        full = {**defaults, "BilledCost": cost, "EffectiveCost": cost, "ListCost": cost, **row}
        full.pop("cost", None)
        filled.append({name: full.get(name) for name in schema})
    return pl.DataFrame(filled, schema=schema)


def rules(**document) -> AllocationRules:
    return AllocationRules.model_validate(document)
