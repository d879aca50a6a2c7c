"""Tiny `outputs.cost_allocation` frames for hand-worked tests: only the columns chargeback, budgets and
KPIs read, with defaults for the ones a test does not care about."""

from datetime import date
from decimal import Decimal

import polars as pl

from finops_pipeline.focus.schema import MONEY

DEFAULTS = {
    "x_ChargeDay": date(2026, 11, 1),
    "x_SourceName": "aws",
    "ProviderName": "AWS",
    "BillingCurrency": "USD",
    "ServiceCategory": "Compute",
    "ServiceName": "Amazon EC2",
    "ChargeCategory": "Usage",
    "CommitmentDiscountStatus": None,
    "x_Team": "payments",
    "x_CostCenter": "CC-2001",
    "AllocatedMethodId": "direct",
    "x_AllocationRuleId": "tag:team",
    "x_HasRequiredTags": True,
    "BilledCost": "0",
    "EffectiveCost": "0",
    "ListCost": None,  # None: = EffectiveCost
}
SCHEMA = {
    "x_ChargeDay": pl.Date,
    "x_SourceName": pl.String,
    "ProviderName": pl.String,
    "BillingCurrency": pl.String,
    "ServiceCategory": pl.String,
    "ServiceName": pl.String,
    "ChargeCategory": pl.String,
    "CommitmentDiscountStatus": pl.String,
    "x_Team": pl.String,
    "x_CostCenter": pl.String,
    "AllocatedMethodId": pl.String,
    "x_AllocationRuleId": pl.String,
    "x_HasRequiredTags": pl.Boolean,
    "BilledCost": MONEY,
    "EffectiveCost": MONEY,
    "ListCost": MONEY,
}


def allocation(*rows: dict) -> pl.DataFrame:
    """Rows as dicts of the columns that differ from DEFAULTS; amounts as strings (exact decimals)."""
    records = []
    for row in rows:
        record = {**DEFAULTS, **row}
        if record["ListCost"] is None:
            record["ListCost"] = record["EffectiveCost"]
        for amount in ("BilledCost", "EffectiveCost", "ListCost"):
            record[amount] = Decimal(record[amount])
        records.append(record)
    return pl.DataFrame(records, schema=SCHEMA, orient="row")
