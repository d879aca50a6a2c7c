"""FOCUS versions as seen in export headers: which columns each version added or renamed, and how to tell
which version a file was written in from its column names alone (exports carry no version field in the rows).

Column history (FOCUS_Spec changelogs, reference §1.3):

* 0.5 → 1.0-preview: `Provider`/`Publisher`/`InvoiceIssuer` gained the `Name` suffix, `ChargeType` became
  ChargeCategory, `AmortizedCost` became EffectiveCost.
* 1.0-preview → 1.0: `Region` → RegionId, `UsageQuantity`/`UsageUnit` → ConsumedQuantity/ConsumedUnit,
  `ChargeSubcategory` removed (its "Refund" became ChargeClass "Correction", "Used/Unused Commitment" became
  CommitmentDiscountStatus, "Credit" became ChargeCategory "Credit"), PricingCategory values "On-Demand" →
  "Standard" and "Commitment-Based" → "Committed"; added ChargeClass, CommitmentDiscountStatus, ContractedCost,
  ContractedUnitPrice, RegionName.
* 1.0 → 1.1: added ADDED_IN["1.1"]. 1.1 → 1.2: added ADDED_IN["1.2"].
"""

from collections.abc import Iterable

from finops_pipeline.focus.schema import FOCUS_COLUMNS
from finops_pipeline.sources.files import bare_header

FOCUS_VERSIONS = ("0.5", "1.0-preview", "1.0", "1.1", "1.2")
FOCUS_NAMES: tuple[str, ...] = tuple(c.name for c in FOCUS_COLUMNS)

ADDED_IN: dict[str, tuple[str, ...]] = {
    "1.0": ("ChargeClass", "CommitmentDiscountStatus", "ContractedCost", "ContractedUnitPrice", "RegionName"),
    "1.1": (
        "CapacityReservationId",
        "CapacityReservationStatus",
        "CommitmentDiscountQuantity",
        "CommitmentDiscountUnit",
        "ServiceSubcategory",
        "SkuMeter",
        "SkuPriceDetails",
    ),
    "1.2": (
        "BillingAccountType",
        "InvoiceId",
        "PricingCurrency",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
        "SubAccountType",
    ),
}

# Names older versions used for what FOCUS 1.2 calls the value (old → new); matched case-insensitively.
LEGACY_NAMES: dict[str, str] = {
    "InvoiceIssuer": "InvoiceIssuerName",  # 0.5
    "Provider": "ProviderName",  # 0.5
    "Publisher": "PublisherName",  # 0.5
    "ChargeType": "ChargeCategory",  # 0.5
    "AmortizedCost": "EffectiveCost",  # 0.5
    "Region": "RegionId",  # 0.5 and 1.0-preview
    "UsageQuantity": "ConsumedQuantity",  # 1.0-preview
    "UsageUnit": "ConsumedUnit",  # 1.0-preview
}
# 1.0-preview's ChargeSubcategory has no 1.2 column of its own: its values are spread over ChargeClass,
# CommitmentDiscountStatus and ChargeCategory, and the original is kept as x_ChargeSubcategory.
CHARGE_SUBCATEGORY = "ChargeSubcategory"

_MARKERS_0_5 = {"InvoiceIssuer", "Provider", "Publisher", "ChargeType", "AmortizedCost"}
_MARKERS_PREVIEW = {"Region", "UsageQuantity", "UsageUnit", CHARGE_SUBCATEGORY}
# Microsoft's "1.0r2" exports already carry these two 1.2 columns, so alone they do not make a file 1.2.
_EARLY_ADOPTED_1_2 = {"BillingAccountType", "SubAccountType"}

_BY_LOWER = {name.lower(): name for name in (*FOCUS_NAMES, *LEGACY_NAMES, CHARGE_SUBCATEGORY)}


def canonical_name(header: str) -> str | None:
    """The FOCUS (or legacy FOCUS) spelling of a header, matched case-insensitively; None for other columns.

    `SkuPriceid` → `SkuPriceId`, `ResourceID` → `ResourceId`, `Region` → `Region` (legacy, upgraded later).
    """
    return _BY_LOWER.get(bare_header(header).lower())


def detect_focus_version(columns: Iterable[str]) -> str:
    """The FOCUS version a set of export columns was written in: "0.5", "1.0-preview", "1.0", "1.1" or "1.2".

    Decided by the columns each version introduced or removed (a file only ever has a subset of the
    columns, so the newest version whose additions are present wins):

    * 1.2 when a 1.2 column other than BillingAccountType/SubAccountType is present (InvoiceId,
      PricingCurrency…), or when those two come with a 1.1 column; Microsoft's FocusCost 1.0r2 has only
      those two and is 1.0;
    * 1.1 when any 1.1 column is present (CapacityReservationId, SkuMeter, ServiceSubcategory…);
    * 0.5 when `ChargeType`/`AmortizedCost`/`Provider`/`Publisher`/`InvoiceIssuer` stand where 1.0 has
      ChargeCategory/EffectiveCost/…Name;
    * 1.0-preview when `Region`/`UsageQuantity`/`UsageUnit`/`ChargeSubcategory` are present and none of
      the 1.0 additions (ChargeClass, ContractedCost…) is;
    * 1.0 otherwise.
    """
    present = {canonical_name(c) or c for c in columns}
    has_1_1 = bool(present & set(ADDED_IN["1.1"]))
    has_1_2 = set(ADDED_IN["1.2"]) & present
    if has_1_2 - _EARLY_ADOPTED_1_2 or (has_1_2 and has_1_1):
        return "1.2"
    if has_1_1:
        return "1.1"
    has_1_0 = bool(present & {*ADDED_IN["1.0"], "RegionId", "ConsumedQuantity", "ConsumedUnit"})
    if present & _MARKERS_0_5 and "ChargeCategory" not in present and not has_1_0:
        return "0.5"
    if present & _MARKERS_PREVIEW and not has_1_0:
        return "1.0-preview"
    return "1.0"
