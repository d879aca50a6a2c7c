"""Chargeback and showback: allocated cost priced by a rate card into monthly statements per owner.

`rate_card.py` reads `rate_card.yaml` (markups, platform fees, discount pass-through, showback or
chargeback per owner); `statements.py` turns one month of `outputs.cost_allocation` into statement headers
and lines, rounded to the cent without losing one, and reconciles them to the bill.
"""

from finops_pipeline.chargeback.rate_card import OwnerTerms, PlatformFee, RateCard, load_rate_card
from finops_pipeline.chargeback.statements import (
    RECONCILIATION_SCHEMA,
    STATEMENT_HEADER_SCHEMA,
    STATEMENT_LINE_SCHEMA,
    Statements,
    build_statements,
    statement_reconciliation,
)

__all__ = [
    "RECONCILIATION_SCHEMA",
    "STATEMENT_HEADER_SCHEMA",
    "STATEMENT_LINE_SCHEMA",
    "OwnerTerms",
    "PlatformFee",
    "RateCard",
    "Statements",
    "build_statements",
    "load_rate_card",
    "statement_reconciliation",
]
