"""The FOCUS 1.2 "Cost and Usage" columns: types, allowed values and nullability.

Source: FOCUS 1.2 specification (57 columns); `../shared/data/focus_1.2_columns.csv` is the machine-readable
copy the tests compare this table against. Our own columns follow, all prefixed `x_` as FOCUS requires.
"""

from dataclasses import dataclass

import polars as pl

MONEY = pl.Decimal(38, 10)
QUANTITY = pl.Decimal(38, 10)
TIMESTAMP = pl.Datetime("us", "UTC")

SERVICE_CATEGORIES = (
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media",
    "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
)  # fmt: skip

SERVICE_SUBCATEGORIES = (
    "AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing",
    "Other (AI and Machine Learning)", "Analytics Platforms", "Business Intelligence", "Data Processing",
    "Search", "Streaming Analytics", "Other (Analytics)", "Productivity and Collaboration",
    "Other (Business Applications)", "Containers", "End User Computing", "Quantum Compute",
    "Serverless Compute", "Virtual Machines", "Other (Compute)", "Caching", "Data Warehouses",
    "Ledger Databases", "NoSQL Databases", "Relational Databases", "Time Series Databases",
    "Other (Databases)", "Developer Platforms", "Continuous Integration and Deployment",
    "Development Environments", "Source Code Management", "Quality Assurance", "Other (Developer Tools)",
    "Identity and Access Management", "Other (Identity)", "API Management", "Messaging",
    "Workflow Orchestration", "Other (Integration)", "IoT Analytics", "IoT Platforms",
    "Other (Internet of Things)", "Architecture", "Compliance", "Cost Management", "Data Governance",
    "Disaster Recovery", "Endpoint Management", "Observability", "Support",
    "Other (Management and Governance)", "Content Creation", "Gaming", "Media Streaming", "Mixed Reality",
    "Other (Media)", "Data Migration", "Resource Migration", "Other (Migration)", "Other (Mobile)",
    "Multicloud Integration", "Other (Multicloud)", "Application Networking", "Content Delivery",
    "Network Connectivity", "Network Infrastructure", "Network Routing", "Network Security",
    "Other (Networking)", "Secret Management", "Security Posture Management",
    "Threat Detection and Response", "Other (Security)", "Backup Storage", "Block Storage", "File Storage",
    "Object Storage", "Storage Platforms", "Other (Storage)", "Application Platforms", "Other (Web)",
    "Other (Other)",
)  # fmt: skip


@dataclass(frozen=True)
class FocusColumn:
    name: str
    feature_level: str  # Mandatory | Conditional | Recommended
    dtype: pl.DataType
    nullable: bool
    allowed_values: tuple[str, ...] = ()

    @property
    def required_non_null(self) -> bool:
        """Mandatory columns the spec forbids to be null (the rest may be null when not applicable)."""
        return self.feature_level == "Mandatory" and not self.nullable


def _col(name, level, dtype, nullable, allowed=()):
    return FocusColumn(name, level, dtype, nullable, tuple(allowed))


S, D, T = pl.String, MONEY, TIMESTAMP
M, C, R = "Mandatory", "Conditional", "Recommended"

FOCUS_COLUMNS: tuple[FocusColumn, ...] = (
    _col("AvailabilityZone", R, S, True),
    _col("BilledCost", M, D, False),
    _col("BillingAccountId", M, S, False),
    _col("BillingAccountName", M, S, True),
    _col("BillingAccountType", C, S, False),
    _col("BillingCurrency", M, S, False),
    _col("BillingPeriodEnd", M, T, False),
    _col("BillingPeriodStart", M, T, False),
    _col("CapacityReservationId", C, S, True),
    _col("CapacityReservationStatus", C, S, True, ("Used", "Unused")),
    _col("ChargeCategory", M, S, False, ("Usage", "Purchase", "Tax", "Credit", "Adjustment")),
    _col("ChargeClass", M, S, True, ("Correction",)),
    _col("ChargeDescription", M, S, True),
    _col("ChargeFrequency", R, S, False, ("One-Time", "Recurring", "Usage-Based")),
    _col("ChargePeriodEnd", M, T, False),
    _col("ChargePeriodStart", M, T, False),
    _col("CommitmentDiscountCategory", C, S, True, ("Spend", "Usage")),
    _col("CommitmentDiscountId", C, S, True),
    _col("CommitmentDiscountName", C, S, True),
    _col("CommitmentDiscountQuantity", C, QUANTITY, True),
    _col("CommitmentDiscountStatus", C, S, True, ("Used", "Unused")),
    _col("CommitmentDiscountType", C, S, True),
    _col("CommitmentDiscountUnit", C, S, True),
    _col("ConsumedQuantity", C, QUANTITY, True),
    _col("ConsumedUnit", C, S, True),
    _col("ContractedCost", M, D, False),
    _col("ContractedUnitPrice", C, D, True),
    _col("EffectiveCost", M, D, False),
    _col("InvoiceId", R, S, True),
    _col("InvoiceIssuerName", M, S, False),
    _col("ListCost", M, D, False),
    _col("ListUnitPrice", C, D, True),
    _col("PricingCategory", C, S, True, ("Standard", "Dynamic", "Committed", "Other")),
    _col("PricingCurrency", C, S, True),
    _col("PricingCurrencyContractedUnitPrice", C, D, True),
    _col("PricingCurrencyEffectiveCost", C, D, True),
    _col("PricingCurrencyListUnitPrice", C, D, True),
    _col("PricingQuantity", M, QUANTITY, True),
    _col("PricingUnit", M, S, True),
    _col("ProviderName", M, S, False),
    _col("PublisherName", M, S, False),
    _col("RegionId", C, S, True),
    _col("RegionName", C, S, True),
    _col("ResourceId", C, S, True),
    _col("ResourceName", C, S, True),
    _col("ResourceType", C, S, True),
    _col("ServiceCategory", M, S, False, SERVICE_CATEGORIES),
    _col("ServiceName", M, S, False),
    _col("ServiceSubcategory", R, S, False, SERVICE_SUBCATEGORIES),
    _col("SkuId", C, S, True),
    _col("SkuMeter", C, S, True),
    _col("SkuPriceDetails", C, S, True),  # JSON object serialised as text (KeyValueFormat)
    _col("SkuPriceId", C, S, True),
    _col("SubAccountId", C, S, True),
    _col("SubAccountName", C, S, True),
    _col("SubAccountType", C, S, True),
    _col("Tags", C, S, True),  # JSON object serialised as text (KeyValueFormat)
)

# Our columns. Lineage first, then the partition key every table shares.
EXTENSION_COLUMNS: dict[str, pl.DataType] = {
    "x_SourceName": pl.String,  # which configured source produced the row ("aws", "demo-aws", …)
    "x_SourceFile": pl.String,  # s3://… or absolute path of the export file
    "x_SourceRowNumber": pl.Int64,  # 1-based data row in that file (header not counted)
    "x_IngestedAt": TIMESTAMP,
    "x_RunId": pl.String,  # Dagster run id that wrote the row
    "x_ChargeDay": pl.Date,  # UTC day of ChargePeriodStart: the daily partition key
}

# Columns only some sources fill; core.focus_costs keeps them (null for the other sources).
OPTIONAL_EXTENSION_COLUMNS: dict[str, pl.DataType] = {
    "x_Credits": pl.String,  # the credits a row carries, itemised as a JSON array (GCP; see its focus_mapping)
}

FOCUS_SCHEMA: dict[str, pl.DataType] = {c.name: c.dtype for c in FOCUS_COLUMNS}
# What every source mapping produces.
FOCUS_TABLE_SCHEMA: dict[str, pl.DataType] = {**FOCUS_SCHEMA, **EXTENSION_COLUMNS}
# What core.focus_costs stores.
CORE_TABLE_SCHEMA: dict[str, pl.DataType] = {**FOCUS_TABLE_SCHEMA, **OPTIONAL_EXTENSION_COLUMNS}
COLUMNS_BY_NAME: dict[str, FocusColumn] = {c.name: c for c in FOCUS_COLUMNS}
MONEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in FOCUS_COLUMNS if c.dtype == MONEY)
