"""Microsoft's open-data lookup tables that the Cost Management → FOCUS conversion needs.

Microsoft publishes them with every FinOps toolkit release (https://github.com/microsoft/finops-toolkit/releases,
assets `PricingUnits.csv`, `Regions.csv`, `Services.csv`, `ResourceTypes.csv`). They change as Azure adds
services, units and regions, so they are *not* shipped with this project: download the four files into a
folder and point `FINOPS_AZURE_OPEN_DATA_DIR` at it. Without it, `default_lookups()` covers the common
units, ~35 consumed services and the large regions, so the mapping still works (less precisely: unknown
services fall back to ServiceCategory "Other", unknown units to the block size written in the unit).

| file | key | gives |
|---|---|---|
| PricingUnits.csv | UnitOfMeasure (exact text) | PricingBlockSize, DistinctUnits (→ PricingQuantity, PricingUnit) |
| Regions.csv | OriginalValue (lower case) | RegionId, RegionName |
| Services.csv | ConsumedService, ResourceType (lower case) | ServiceName, ServiceCategory, ServiceSubcategory |
| ResourceTypes.csv | ResourceType (lower case ARM type) | SingularDisplayName (→ FOCUS ResourceType) |
"""

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from finops_pipeline.focus.schema import QUANTITY
from finops_pipeline.sources.errors import SourceFileError

OPEN_DATA_DIR_ENV = "FINOPS_AZURE_OPEN_DATA_DIR"

PRICING_UNITS_SCHEMA = {"UnitOfMeasure": pl.String, "PricingBlockSize": QUANTITY, "DistinctUnits": pl.String}
REGIONS_SCHEMA = {"OriginalValue": pl.String, "RegionId": pl.String, "RegionName": pl.String}
SERVICES_SCHEMA = {
    "ConsumedService": pl.String,
    "ResourceType": pl.String,
    "ServiceName": pl.String,
    "ServiceCategory": pl.String,
    "ServiceSubcategory": pl.String,
}
RESOURCE_TYPES_SCHEMA = {"ResourceType": pl.String, "SingularDisplayName": pl.String}


@dataclass(frozen=True)
class AzureLookups:
    """The four lookup tables, keys normalised (lower case, trimmed) except UnitOfMeasure, which Microsoft
    keys on its exact text ("1 Hour" and "1 hour" are both listed)."""

    pricing_units: pl.DataFrame  # PRICING_UNITS_SCHEMA
    regions: pl.DataFrame  # REGIONS_SCHEMA
    services: pl.DataFrame  # SERVICES_SCHEMA; either key may be null (matches on the other one)
    resource_types: pl.DataFrame  # RESOURCE_TYPES_SCHEMA


def load_open_data(directory: Path) -> AzureLookups:
    """Read PricingUnits.csv, Regions.csv, Services.csv and ResourceTypes.csv from `directory`.

    A missing file or column raises SourceFileError naming it: a half-configured directory should fail
    loudly rather than silently fall back to the built-in tables.
    """
    directory = Path(directory)
    pricing_units = _read(directory / "PricingUnits.csv", ["UnitOfMeasure", "PricingBlockSize", "DistinctUnits"])
    regions = _read(directory / "Regions.csv", ["OriginalValue", "RegionId", "RegionName"])
    services = _read(directory / "Services.csv", list(SERVICES_SCHEMA))
    resource_types = _read(directory / "ResourceTypes.csv", ["ResourceType", "SingularDisplayName"])
    return _normalised(
        pricing_units.with_columns(pl.col("PricingBlockSize").str.strip_chars().cast(QUANTITY, strict=False)),
        regions,
        services,
        resource_types,
    )


def lookups_from_environment() -> AzureLookups:
    """`load_open_data($FINOPS_AZURE_OPEN_DATA_DIR)` when the variable is set, else `default_lookups()`."""
    directory = os.environ.get(OPEN_DATA_DIR_ENV)
    return load_open_data(Path(directory)) if directory else default_lookups()


def default_lookups() -> AzureLookups:
    """Small built-in tables (the values Microsoft's open data gives for these keys), for running without
    the downloaded files."""
    return _normalised(
        pl.DataFrame(_DEFAULT_UNITS, schema=PRICING_UNITS_SCHEMA, orient="row"),
        pl.DataFrame(_DEFAULT_REGIONS, schema=REGIONS_SCHEMA, orient="row"),
        pl.DataFrame(
            [(service, None, *names) for service, names in _DEFAULT_SERVICES.items()],
            schema=SERVICES_SCHEMA,
            orient="row",
        ),
        pl.DataFrame(schema=RESOURCE_TYPES_SCHEMA),
    )


def _read(path: Path, columns: list[str]) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise SourceFileError(
            str(path), f"cannot read Microsoft open-data file ({OPEN_DATA_DIR_ENV}): {error}"
        ) from error
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SourceFileError(str(path), f"column {missing[0]} is missing", column=missing[0])
    return frame.select(columns)


def _normalised(pricing_units, regions, services, resource_types) -> AzureLookups:
    def key(column: str) -> pl.Expr:
        text = pl.col(column).str.strip_chars().str.to_lowercase()
        return pl.when(text != "").then(text).alias(column)

    return AzureLookups(
        pricing_units=pricing_units.cast(PRICING_UNITS_SCHEMA).unique(
            "UnitOfMeasure", keep="first", maintain_order=True
        ),
        regions=regions.with_columns(key("OriginalValue"))
        .drop_nulls("OriginalValue")
        .unique("OriginalValue", keep="first", maintain_order=True),
        services=services.with_columns(key("ConsumedService"), key("ResourceType")),
        resource_types=resource_types.with_columns(key("ResourceType"))
        .drop_nulls("ResourceType")
        .unique("ResourceType", keep="first", maintain_order=True),
    )


# UnitOfMeasure → (PricingBlockSize, DistinctUnits), as in Microsoft's PricingUnits.csv.
_DEFAULT_UNITS = [
    ("1", 1, "Units"),
    ("1 Hour", 1, "Hours"),
    ("1 Hours", 1, "Hours"),
    ("1 hour", 1, "Hours"),
    ("10 Hours", 10, "Hours"),
    ("100 Hours", 100, "Hours"),
    ("1000 Hours", 1000, "Hours"),
    ("1 Day", 1, "Days"),
    ("1/Day", 1, "Units/Day"),
    ("1 /Day", 1, "Units/Day"),
    ("1/Hour", 1, "Units/Hour"),
    ("1 /Hour", 1, "Units/Hour"),
    ("1/Month", 1, "Units/Month"),
    ("1 /Month", 1, "Units/Month"),
    ("1 GB", 1, "GB"),
    ("10 GB", 10, "GB"),
    ("100 GB", 100, "GB"),
    ("1 GB/Month", 1, "GB/Month"),
    ("10 GB/Month", 10, "GB/Month"),
    ("100 GB/Month", 100, "GB/Month"),
    ("1 GB/Hour", 1, "GB/Hour"),
    ("1 GB/Day", 1, "GB/Day"),
    ("1 GB Hour", 1, "GB Hours"),
    ("1 GB Second", 1, "GB Seconds"),
    ("1 GiB Hour", 1, "GiB Hours"),
    ("1 TB", 1, "TB"),
    ("1 TB/Month", 1, "TB/Month"),
    ("1 Count", 1, "Count"),
    ("10K", 10000, "Units"),
    ("10K/Month", 10000, "Units/Month"),
    ("10000", 10000, "Units"),
    ("100", 100, "Units"),
    ("1000", 1000, "Units"),
    ("100K", 100000, "Units"),
    ("1M", 1000000, "Units"),
    ("100000", 100000, "Units"),
    ("1000000", 1000000, "Units"),
    ("10000 Transactions", 10000, "Transactions"),
    ("1000000 Requests", 1000000, "Requests"),
]

# OriginalValue (as exports spell ResourceLocation, lower case) → (RegionId, RegionName).
_DEFAULT_REGIONS = [
    (original, region_id, name)
    for region_id, name, aliases in [
        ("eastus", "East US", ("us east",)),
        ("eastus2", "East US 2", ("us east 2",)),
        ("centralus", "Central US", ("us central",)),
        ("northcentralus", "North Central US", ("us north central", "usnorth")),
        ("southcentralus", "South Central US", ("us south central",)),
        ("westcentralus", "West Central US", ("us west central",)),
        ("westus", "West US", ("us west",)),
        ("westus2", "West US 2", ("us west 2",)),
        ("westus3", "West US 3", ("us west 3",)),
        ("canadacentral", "Canada Central", ("ca central",)),
        ("brazilsouth", "Brazil South", ("br south",)),
        ("northeurope", "North Europe", ("eu north",)),
        ("westeurope", "West Europe", ("eu west",)),
        ("uksouth", "UK South", ("uk south",)),
        ("ukwest", "UK West", ("uk west",)),
        ("francecentral", "France Central", ("fr central",)),
        ("germanywestcentral", "Germany West Central", ("de west central",)),
        ("swedencentral", "Sweden Central", ("se central",)),
        ("switzerlandnorth", "Switzerland North", ("ch north",)),
        ("norwayeast", "Norway East", ("no east",)),
        ("australiaeast", "Australia East", ("au east",)),
        ("southeastasia", "Southeast Asia", ("ap southeast",)),
        ("eastasia", "East Asia", ("ap east",)),
        ("japaneast", "Japan East", ("ja east",)),
        ("koreacentral", "Korea Central", ("kr central",)),
        ("centralindia", "Central India", ("in central",)),
        ("uaenorth", "UAE North", ("ae north",)),
        ("southafricanorth", "South Africa North", ("za north",)),
        ("global", "Global", ("unassigned", "unknown", "intercontinental", "all regions")),
    ]
    for original in (region_id, *aliases)
]

# The most common ConsumedService values → (ServiceName, ServiceCategory, ServiceSubcategory), each one of the
# rows Microsoft's Services.csv has for that ConsumedService (the one most of its resource types map to, or
# for microsoft.containerservice the one in use today: managed clusters).
_DEFAULT_SERVICES = {
    "microsoft.compute": ("Virtual Machines", "Compute", "Virtual Machines"),
    "microsoft.classiccompute": ("Virtual Machines", "Compute", "Virtual Machines"),
    "microsoft.containerservice": ("Azure Kubernetes Service", "Compute", "Containers"),
    "microsoft.containerinstance": ("Azure Container Instances", "Compute", "Containers"),
    "microsoft.containerregistry": ("Azure Container Registry", "Compute", "Containers"),
    "microsoft.app": ("Azure Container Apps", "Compute", "Containers"),
    "microsoft.web": ("Azure App Service", "Web", "Application Platforms"),
    "microsoft.storage": ("Storage Accounts", "Storage", "Storage Platforms"),
    "microsoft.classicstorage": ("Storage Accounts", "Storage", "Storage Platforms"),
    "microsoft.netapp": ("Azure NetApp Files", "Storage", "File Storage"),
    "microsoft.recoveryservices": ("Azure Site Recovery", "Management and Governance", "Disaster Recovery"),
    "microsoft.sql": ("Azure SQL Database", "Databases", "Relational Databases"),
    "microsoft.dbforpostgresql": ("Azure DB for PostgreSQL", "Databases", "Relational Databases"),
    "microsoft.dbformysql": ("Azure DB for MySQL", "Databases", "Relational Databases"),
    "microsoft.documentdb": ("Cosmos DB", "Databases", "NoSQL Databases"),
    "microsoft.cache": ("Azure Cache for Redis", "Databases", "Caching"),
    "microsoft.network": ("Virtual Network", "Networking", "Network Infrastructure"),
    "microsoft.cdn": ("Content Delivery Network", "Networking", "Content Delivery"),
    "microsoft.keyvault": ("Key Vault", "Security", "Secret Management"),
    "microsoft.security": ("Microsoft Defender for Cloud", "Security", "Security Posture Management"),
    "microsoft.operationalinsights": ("Azure Monitor", "Management and Governance", "Observability"),
    "microsoft.insights": ("Azure Monitor", "Management and Governance", "Observability"),
    "microsoft.capacity": ("Azure Reservations", "Management and Governance", "Cost Management"),
    "microsoft.billingbenefits": ("Azure Savings Plan for Compute", "Compute", "Other (Compute)"),
    "microsoft.machinelearningservices": ("Azure Machine Learning", "AI and Machine Learning", "Machine Learning"),
    "microsoft.cognitiveservices": ("Azure AI Services", "AI and Machine Learning", "AI Platforms"),
    "microsoft.search": ("Azure AI Search", "Analytics", "Search"),
    "microsoft.databricks": ("Azure Databricks", "Analytics", "Data Processing"),
    "microsoft.synapse": ("Azure Synapse Analytics", "Analytics", "Analytics Platforms"),
    "microsoft.kusto": ("Azure Data Explorer", "Analytics", "Analytics Platforms"),
    "microsoft.datafactory": ("Azure Data Factory", "Integration", "Workflow Orchestration"),
    "microsoft.logic": ("Logic Apps", "Integration", "Workflow Orchestration"),
    "microsoft.servicebus": ("Service Bus", "Integration", "Messaging"),
    "microsoft.eventhub": ("Event Hubs", "Integration", "Messaging"),
    "microsoft.eventgrid": ("Event Grid", "Integration", "Messaging"),
    "microsoft.apimanagement": ("API Management", "Integration", "API Management"),
    "microsoft.devices": ("Azure IoT Hub", "Internet of Things", "IoT Platforms"),
}
