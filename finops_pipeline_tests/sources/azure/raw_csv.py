"""An independent reading of the sample exports (Python's csv module and Decimal, no polars), to check the
pipeline's numbers against."""

import csv
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from finops_pipeline_tests.paths import SHARED_DATA

FINOPS_TOOLKIT = SHARED_DATA / "finops-toolkit"
TEN_PLACES = Decimal("1E-10")


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def money(text: str) -> Decimal:
    """What Decimal(38, 10) holds for an export's cost text (banker's rounding at the 10th place)."""
    return Decimal(text).quantize(TEN_PLACES, rounding=ROUND_HALF_EVEN)


def is_commitment_usage(row: dict[str, str]) -> bool:
    """Usage a reservation or savings plan priced: in amortized data its cost is billed on the purchase."""
    return row.get("ChargeType", "Usage") in ("Usage", "UnusedReservation", "UnusedSavingsPlan") and row.get(
        "PricingModel"
    ) in ("Reservation", "SavingsPlan")


def is_commitment_purchase(row: dict[str, str]) -> bool:
    return row.get("ChargeType") in ("Purchase", "Refund") and row.get("PricingModel") in ("Reservation", "SavingsPlan")
