"""Google's spend-based committed use discounts in consumption-model billing data: the fee SKUs and the
consumption models of each product, as Google lists them in "Migrated CUD SKUs, offers, and new consumption
models" (cloud.google.com/docs/cuds-migration; copied in `spend_based_cuds.csv`, 26 consumption models and 376
fee SKUs of 13 products, read 2026-11-24). The page does not say which fee SKU is which term, so a fee is
known by its product only."""

import csv
from pathlib import Path

_TABLE = Path(__file__).with_name("spend_based_cuds.csv")


def _commitments_by_id(kind: str) -> dict[str, str]:
    """id → the commitment the rows of that id belong to when the export does not say (no subscription):
    "spend-based/<product>", one per product, as Google's own KPI queries group them."""
    with _TABLE.open(newline="") as table:
        return {row["id"]: f"spend-based/{row['product']}" for row in csv.DictReader(table) if row["kind"] == kind}


FEE_SKU_COMMITMENTS = _commitments_by_id("fee_sku")
CONSUMPTION_MODEL_COMMITMENTS = _commitments_by_id("consumption_model")
