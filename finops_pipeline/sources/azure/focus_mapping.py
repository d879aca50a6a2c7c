"""Azure Cost Management cost details (as read by `scan_cost_export`) → FOCUS 1.2 rows, lazily.

The rules are Microsoft's own conversion (finops-toolkit `docs-mslearn/focus/convert.md`, summarised in
reference §2.4), applied to all rows of `combine_actual_and_amortized` (or of a single dataset):

* BilledCost is the cost, except usage priced by a reservation or savings plan (ChargeType Usage or
  Unused…, PricingModel Reservation/SavingsPlan): 0, because the purchase row bills it.
* EffectiveCost is the cost, except the purchase or refund of a reservation or savings plan: 0, because
  the amortized usage rows carry it.
* ChargePeriodEnd and BillingPeriodEnd are Azure's inclusive dates + 1 day (FOCUS ends are exclusive).
* PricingQuantity = Quantity / PricingBlockSize and PricingUnit = DistinctUnits (PricingUnits lookup);
  RegionId/RegionName, ResourceType and ServiceName/Category/Subcategory come from the other lookups.

Where we depart from Microsoft's table, and why:

* Unused… rows: BilledCost 0 too (Microsoft's table only zeroes ChargeType "Usage"). They are the unused
  share of a commitment whose purchase row already bills it; billing them again would put Σ BilledCost
  above the invoice, which FOCUS forbids.
* ContractedCost is cost-based: a row's cost is already at the negotiated (EA/MCA contract) rate, so
  ContractedCost = its cost, except usage priced by a commitment, whose cost is the commitment's: there it
  is UnitPrice × Quantity (× exchange rate), what the usage would have cost at the negotiated rate.
  Microsoft's table divides that by PricingBlockSize, but in every export we have cost = Quantity ×
  EffectivePrice, i.e. prices are already per unit of Quantity, and the division would put ContractedCost
  10,000× below the cost for "10K" meters. For the same reason the unit prices are per *pricing block*
  (price × block size), so that ContractedUnitPrice × PricingQuantity = price × Quantity.
* Unit prices are the price the row's cost was computed at: EffectivePrice where the export gives it,
  UnitPrice on usage a commitment priced (whose ContractedCost is UnitPrice × Quantity) or when there is
  no EffectivePrice. Microsoft takes UnitPrice throughout, but on tiered meters and meters with an
  included quantity UnitPrice is the price of one tier only (focus_converters' EA sample: 11 h at
  UnitPrice 0.2 cost 0.1221, at EffectivePrice 0.0111), so ContractedUnitPrice × PricingQuantity would
  not be ContractedCost (FOCUS ContractedUnitPrice-C-011-C, ListCost-C-009-C). Nulling them is not
  allowed (FOCUS requires unit prices on Usage and Purchase rows), and making ContractedCost UnitPrice ×
  Quantity would report a tier discount EA does not show as one. The costs are unchanged. An
  EffectivePrice that does not parse quarantines the row, as the other numbers do.
* ListCost: MCA exports carry the pay-as-you-go cost (PaygCostInBillingCurrency) and use it; EA exports
  carry no list cost (PayGPrice is 0 on reservation rows), so on EA ListCost = ContractedCost and
  ListUnitPrice = ContractedUnitPrice (list = negotiated: EA shows no negotiated savings).
* PricingCategory of a commitment purchase/refund is Standard, not Committed, and CommitmentDiscountStatus
  is set on Usage rows only: FOCUS 1.2 reserves Committed and Used/Unused for charges a commitment
  covers, not for buying it.
* CommitmentDiscountQuantity (Usage rows of a commitment, and its purchases and refunds): spend-based
  (savings plan) = EffectiveCost (on a purchase: its cost) in the pricing currency; usage-based
  (reservation) = PricingQuantity × RINormalizationRatio (AdditionalInfo, default 1). Microsoft's
  "÷ block size" is a no-op for reservation meters ("1 Hour").
* Exports without a billing period (legacy pay-as-you-go, the Query API) get the calendar month of the
  usage date; exports without a billing account (legacy pay-as-you-go bills each subscription on its own)
  get BillingAccountId = SubscriptionId, BillingAccountType "Subscription". Exports without ChargeType are
  usage-only exports: their rows are Usage.

A row that cannot be mapped (cost or date missing or not parseable, another number that does not parse,
an unknown ChargeType, Tags that are not a JSON object) is not an error: it comes out with
`x_QuarantineReason` naming the column and value, still carrying its parsed cost and charge day.
"""

from dataclasses import dataclass

import polars as pl

from finops_pipeline.focus.conform import REASON
from finops_pipeline.focus.parsing import (
    blank_columns_to_null,
    blank_to_null,
    decimal_product,
    join_reasons,
    lookup,
    parse_each_distinct,
    parse_each_distinct_together,
    to_money,
    to_utc_timestamp,
    unparsed_text,
    unreadable_number,
)
from finops_pipeline.focus.schema import FOCUS_TABLE_SCHEMA, MONEY, QUANTITY, TIMESTAMP
from finops_pipeline.sources.azure.cost_export import (
    AGREEMENT,
    COMMITMENT_PRICING_MODELS,
    SOURCE_FILE,
    SOURCE_ROW,
    USAGE_CHARGE_TYPES,
    with_all_columns,
)
from finops_pipeline.sources.azure.open_data import AzureLookups, default_lookups

MICROSOFT = "Microsoft"

# ChargeType (lower case) → FOCUS ChargeCategory. A missing ChargeType is Usage (usage-only exports).
CHARGE_TYPES = {
    "usage": "Usage",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
    "purchase": "Purchase",
    "refund": "Purchase",
    "credit": "Credit",
    "tax": "Tax",
    "adjustment": "Adjustment",
    "roundingadjustment": "Adjustment",
}
FREQUENCIES = {"onetime": "One-Time", "recurring": "Recurring", "usagebased": "Usage-Based"}

# Source text → parsed value; every value that is there but does not parse is a quarantine reason.
_NUMBERS = (
    "CostInBillingCurrency",
    "Quantity",
    "UnitPrice",
    "PayGPrice",
    "EffectivePrice",
    "PaygCostInBillingCurrency",
    "ExchangeRatePricingToBilling",
)
_DATES = ("Date", "BillingPeriodStartDate", "BillingPeriodEndDate")
# The export columns the mapping reads (the others are not carried through it).
_TEXT = (
    "AdditionalInfo", "AvailabilityZone", "BenefitId", "BenefitName", "BillingAccountId", "BillingAccountName",
    "BillingCurrency", "BillingProfileId", "BillingProfileName", "ChargeType", "ConsumedService", "Frequency",
    "InvoiceId", "MeterName", "PartnerName", "PricingCurrency", "PricingModel", "ProductId", "ProductName",
    "PublisherName", "ReservationId", "ReservationName", "ResourceId", "ResourceLocation", "ResourceName",
    "ResourceType", "SubscriptionId", "SubscriptionName", "Tags", "UnitOfMeasure", AGREEMENT,
)  # fmt: skip
# Text read only by the per-distinct parsers (`_distinct_parts`): blanks are nulled per distinct value there,
# not per row (trimming builds a new string per value, ~15 ns a value per column).
_DISTINCT_ONLY = (
    "AdditionalInfo", "ChargeType", "Frequency", "PricingModel", "ResourceLocation", "Tags", "UnitOfMeasure",
)  # fmt: skip

_ZERO = pl.lit(0, dtype=MONEY)
_ONE = pl.lit(1, dtype=MONEY)

_ct = pl.col("__charge_type")
_pm = pl.col("__pricing_model")
_category = pl.col("ChargeCategory")


def cost_export_to_focus(
    export: pl.LazyFrame, *, source_name: str, lookups: AzureLookups | None = None
) -> pl.LazyFrame:
    """`scan_cost_export` (or `query_costs`) output → FOCUS 1.2 rows plus `x_QuarantineReason`.

    Pure and lazy; one output row per input row, in input order. Columns: FOCUS_TABLE_SCHEMA with its exact
    dtypes and order, then `x_QuarantineReason` (null when the row is fine). x_IngestedAt and x_RunId are
    null: the caller fills them. `lookups` defaults to `default_lookups()`.

    Every step is row by row, so the plan streams in bounded memory (polars' streaming engine, batch by
    batch). Dates, lookups, resource-id parsing and JSON normalisation depend only on a few columns whose
    values repeat across the rows of a month (a day, a unit, a region, a service, tags), so they are
    computed once per distinct value (`parse_each_distinct`, remembered across batches) and gathered back.
    """
    tables = _LookupTables.of(lookups or default_lookups())
    focus = (
        blank_columns_to_null(
            with_all_columns(export).select(*_TEXT, *_NUMBERS, *_DATES, SOURCE_FILE, SOURCE_ROW),
            [c for c in (*_TEXT, *_DATES) if c not in _DISTINCT_ONLY],
        )
        .with_columns(__id_last=_resource_id_last_segment())
        .with_columns(**_row_values(), **_distinct_parts(tables))
        .unnest(_DISTINCT)
        .with_columns(**_distinct_values(tables))
        .with_columns(**_dependent_values(), **_service_values())
    )
    for stage in _cost_stages():
        focus = focus.with_columns(**stage)
    return focus.select(_finalise(_focus_columns(source_name)))


# --- Per row: numbers and the charge classification ---------------------------------------------------------


def _row_values() -> dict[str, pl.Expr]:
    # From the text as exported: `to_money` reads blanks and placeholders as null and trims only what fails.
    return {f"__{c}": to_money(pl.col(c)) for c in _NUMBERS}


def _number_problems() -> pl.Expr:
    unparsed = {c: unparsed_text(pl.col(f"__{c}"), pl.col(c)) for c in _NUMBERS}
    cost_missing = pl.col("__CostInBillingCurrency").is_null() & unparsed["CostInBillingCurrency"].is_null()
    return _problems(
        [unreadable_number(c, text) for c, text in unparsed.items()], missing={"CostInBillingCurrency": cost_missing}
    )


def _problems(unread: list[pl.Expr], *, missing: dict[str, pl.Expr]) -> pl.Expr:
    """The reasons in `unread` (each null where its value parsed) and `<column>: missing` for each essential
    that is not there, "; "-joined; null when none."""
    reasons = unread + [
        pl.when(is_missing).then(pl.lit(f"{column}: missing")) for column, is_missing in missing.items()
    ]
    return join_reasons(reasons)


# --- Per distinct value: dates, resources and lookups, JSON ---------------------------------------------------
#
# Each `parse_each_distinct` gives a struct per row (null where its input text is null); `_distinct_values`
# unpacks them into the flat `__…` columns the FOCUS expressions read.

_DATE_PARTS = pl.Struct({"start": TIMESTAMP, "end": TIMESTAMP, "month_start": TIMESTAMP, "month_end": TIMESTAMP})
_PERIOD_START_PARTS = pl.Struct({"start": TIMESTAMP, "end": TIMESTAMP})
_UNIT_PARTS = pl.Struct({"block": QUANTITY, "unit": pl.String})
_REGION_PARTS = pl.Struct({"id": pl.String, "name": pl.String})
_ID_PARTS = pl.Struct(
    {"arm_type": pl.String, "last_is_type": pl.Boolean, "scope_arm_type": pl.String, "scope_name": pl.String}
)
_LAST = "\x01"  # stands for a resource id's last segment in `_id_parts`
_SERVICE_PARTS = pl.Struct(
    {"resource_type": pl.String, "name": pl.String, "category": pl.String, "subcategory": pl.String}
)
_DISTINCT = "__distinct_parts"  # the struct of `_distinct_parts`, unnested
_TAGS_PARTS = pl.Struct({"tags": pl.String, "problem": pl.String})
_INFO_PARTS = pl.Struct({"details": pl.String, "ratio": MONEY})
# The service key joins ConsumedService, ResourceType and the ARM type from the resource id in one text:
# fields separated by the ASCII unit separator, a missing field written as NUL.
_SEPARATOR, _MISSING = "\x1f", "\x00"
_SERVICE_NAMES = ("ServiceName", "ServiceCategory", "ServiceSubcategory")


@dataclass(frozen=True)
class _LookupTables:
    """`AzureLookups` as key → value maps for `lookup` (Enum gather; keys non-null, unique, first wins)."""

    block: dict[str, str]  # UnitOfMeasure → PricingBlockSize (as text, exact)
    units: dict[str, str]  # UnitOfMeasure → DistinctUnits
    region_id: dict[str, str]  # lower-case location → RegionId
    region_name: dict[str, str]
    resource_type: dict[str, str]  # lower-case ARM type → SingularDisplayName
    # ServiceName/Category/Subcategory by (ConsumedService, ARM type), by ARM type alone and by the service
    # most resource types of a ConsumedService belong to.
    by_pair: dict[str, dict[str, str]]  # "consumed␟arm type"
    by_type: dict[str, dict[str, str]]
    by_service: dict[str, dict[str, str]]

    @classmethod
    def of(cls, lookups: AzureLookups) -> "_LookupTables":
        units = lookups.pricing_units.filter(pl.col("UnitOfMeasure").is_not_null())
        units = units.with_columns(pl.col("PricingBlockSize").cast(pl.String))
        regions, types = lookups.regions, lookups.resource_types
        services = lookups.services
        by_pair = (
            services.drop_nulls(["ConsumedService", "ResourceType"])
            .unique(["ConsumedService", "ResourceType"], keep="first", maintain_order=True)
            .select(
                pl.concat_str("ConsumedService", "ResourceType", separator=_SEPARATOR).alias("key"), *_SERVICE_NAMES
            )
        )
        by_type = (
            services.drop_nulls("ResourceType")
            .unique("ResourceType", keep="first", maintain_order=True)
            .select(pl.col("ResourceType").alias("key"), *_SERVICE_NAMES)
        )
        by_service = (
            services.drop_nulls("ConsumedService")
            .group_by("ConsumedService", *_SERVICE_NAMES, maintain_order=True)
            .len()
            .sort("len", descending=True, maintain_order=True)
            .unique("ConsumedService", keep="first", maintain_order=True)
            .select(pl.col("ConsumedService").alias("key"), *_SERVICE_NAMES)
        )

        def names(table: pl.DataFrame) -> dict[str, dict[str, str]]:
            return {name: _first_wins(table["key"], table[name]) for name in _SERVICE_NAMES}

        return cls(
            block=_first_wins(units["UnitOfMeasure"], units["PricingBlockSize"]),
            units=_first_wins(units["UnitOfMeasure"], units["DistinctUnits"]),
            region_id=_first_wins(regions["OriginalValue"], regions["RegionId"]),
            region_name=_first_wins(regions["OriginalValue"], regions["RegionName"]),
            resource_type=_first_wins(types["ResourceType"], types["SingularDisplayName"]),
            by_pair=names(by_pair),
            by_type=names(by_type),
            by_service=names(by_service),
        )


def _first_wins(keys: pl.Series, values: pl.Series) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for key, value in zip(keys.to_list(), values.to_list(), strict=True):
        if key is not None:
            mapping.setdefault(key, value)
    return mapping


def _lookup(text: pl.Expr, mapping: dict[str, str]) -> pl.Expr:
    """`lookup`, null for every value when the table is empty (an Enum needs a category)."""
    return lookup(text, mapping) if mapping else pl.lit(None, dtype=pl.String)


def _distinct_parts(tables: _LookupTables) -> dict[str, pl.Expr]:
    """One struct per group of derived values, each computed once per distinct input text."""
    resource_id, last = pl.col("ResourceId"), pl.col("__id_last")
    distinct = {
        "__date_parts": (pl.col("Date"), _date_parts, _DATE_PARTS),
        "__period_start_parts": (pl.col("BillingPeriodStartDate"), _period_start_parts, _PERIOD_START_PARTS),
        # Azure's end dates are inclusive: FOCUS ends are the next day, exclusive.
        "__period_end_parsed": (
            pl.col("BillingPeriodEndDate"),
            lambda text: to_utc_timestamp(text).dt.offset_by("1d"),
            TIMESTAMP,
        ),
        "__unit_parts": (pl.col("UnitOfMeasure"), lambda t: _unit_parts(blank_to_null(t), tables), _UNIT_PARTS),
        "__region_parts": (
            pl.col("ResourceLocation"),
            lambda t: _region_parts(blank_to_null(t), tables),
            _REGION_PARTS,
        ),
        # Resource ids are as many as resources, too many to remember each: parsed once per distinct id
        # without its last segment (the scope: a resource group's resources of one type share it), which
        # is then put back (`_distinct_values`).
        "__id_parts": (
            pl.when(last.is_not_null()).then(
                resource_id.str.slice(0, resource_id.str.len_chars() - last.str.len_chars())  # (2.5× a regex)
            ),
            _id_parts,
            _ID_PARTS,
        ),
        "__tags_parts": (pl.col("Tags"), lambda t: _tags_parts(blank_to_null(t)), _TAGS_PARTS),
        "__charge_type": (pl.col("ChargeType"), lambda t: blank_to_null(t).str.to_lowercase(), pl.String),
        # "SavingsPlan", "Savings Plan" and "savingsplan" all mean the same pricing model.
        "__pricing_model": (
            pl.col("PricingModel"),
            lambda t: blank_to_null(t).str.replace_all(r"\s+", "").str.to_lowercase(),
            pl.String,
        ),
        "__info_parts": (pl.col("AdditionalInfo"), lambda t: _info_parts(blank_to_null(t)), _INFO_PARTS),
        "__frequency": (
            pl.col("Frequency"),
            lambda t: lookup(blank_to_null(t).str.to_lowercase(), FREQUENCIES),
            pl.String,
        ),
    }
    return {_DISTINCT: parse_each_distinct_together(distinct)}  # unnested into the names above


def _resource_id_last_segment() -> pl.Expr:
    """The resource id's last segment, on rows whose export lacks the resource type or name (the only rows
    whose id is parsed). Nulls first, then the regex: a regex runs on every row of its input, a when/then
    does not skip any."""
    id_needed = pl.col("ResourceType").is_null() | pl.col("ResourceName").is_null()
    return pl.when(id_needed).then(pl.col("ResourceId")).str.extract(r"[^/]*$", 0)


def _distinct_values(tables: _LookupTables) -> dict[str, pl.Expr]:
    date, period_start = pl.col("__date_parts").struct, pl.col("__period_start_parts").struct
    unit, region, ids = pl.col("__unit_parts").struct, pl.col("__region_parts").struct, pl.col("__id_parts").struct
    tags, info = pl.col("__tags_parts").struct, pl.col("__info_parts").struct
    charge_category = (
        pl.when(_ct.is_null()).then(pl.lit("Usage")).otherwise(lookup(_ct, CHARGE_TYPES, default=pl.lit("Adjustment")))
    )
    # Exports without a billing period (legacy pay-as-you-go, the Query API): the calendar month.
    start = pl.coalesce(period_start.field("start"), date.field("month_start"))
    # The ARM type and name of scope + last segment (see `_id_parts`).
    last = pl.col("__id_last")
    arm_type = (
        pl.when(last == "")
        .then(ids.field("scope_arm_type"))
        .when(ids.field("last_is_type"))
        .then(pl.concat_str(ids.field("arm_type"), last.str.to_lowercase()))
        .otherwise(ids.field("arm_type"))
    )
    service_key = pl.concat_str(
        pl.col("ConsumedService").fill_null(_MISSING),
        pl.col("ResourceType").fill_null(_MISSING),
        pl.when(pl.col("ResourceType").is_null()).then(arm_type).fill_null(_MISSING),
        separator=_SEPARATOR,
    )
    return {
        "ChargeCategory": charge_category,
        "__charge_start": date.field("start"),
        "__charge_end": date.field("end"),  # daily rows: [Date, Date + 1 day)
        "__period_start": start,
        "__period_end": pl.coalesce("__period_end_parsed", period_start.field("end"), date.field("month_end")),
        # The day partition; a row whose date does not parse still lands in its billing period.
        "__charge_day": pl.coalesce(date.field("start"), start).dt.date(),
        "__date_problems": _problems(
            [
                pl.format(f"{column}: '{{}}' is not a date", pl.when(value.is_null()).then(pl.col(column)))
                for column, value in [
                    ("Date", date.field("start")),
                    ("BillingPeriodStartDate", period_start.field("start")),
                    ("BillingPeriodEndDate", pl.col("__period_end_parsed")),
                ]
            ],
            missing={"Date": pl.col("Date").is_null()},
        ),
        "__number_problems": _number_problems(),
        "__block": unit.field("block").fill_null(_ONE),
        "__unit": unit.field("unit"),
        "__region_id": region.field("id"),
        "__region_name": region.field("name"),
        "__resource_id_name": pl.when(last != "").then(last).otherwise(ids.field("scope_name")),
        "__service_parts": parse_each_distinct(service_key, lambda key: _service_parts(key, tables), _SERVICE_PARTS),
        "__tags": tags.field("tags"),
        "__tags_problem": tags.field("problem"),
        "__sku_price_details": info.field("details"),
        "__normalisation_ratio": info.field("ratio"),
    }


def _service_values() -> dict[str, pl.Expr]:
    service = pl.col("__service_parts").struct
    return {
        "__resource_type": service.field("resource_type"),
        "__service_name": service.field("name"),
        "__service_category": service.field("category"),
        "__service_subcategory": service.field("subcategory"),
    }


def _date_parts(text: pl.Expr) -> pl.Expr:
    date = to_utc_timestamp(text)
    month = date.dt.month_start()
    return pl.struct(
        date.alias("start"),
        date.dt.offset_by("1d").alias("end"),
        month.alias("month_start"),
        month.dt.offset_by("1mo").alias("month_end"),
    )


def _period_start_parts(text: pl.Expr) -> pl.Expr:
    start = to_utc_timestamp(text)
    return pl.struct(start.alias("start"), start.dt.offset_by("1mo").alias("end"))


def _unit_parts(unit: pl.Expr, tables: _LookupTables) -> pl.Expr:
    """PricingBlockSize and DistinctUnits from PricingUnits (keyed on the exact text)."""
    # A unit the lookup lacks still tells its block size when it starts with one ("1000 Widgets").
    block = pl.coalesce(
        _lookup(unit, tables.block).cast(QUANTITY),
        unit.str.extract(r"^(\d+)(?:\s|$)", 1).cast(QUANTITY, strict=False),
    )
    return pl.struct(
        pl.when(block > 0).then(block).otherwise(_ONE).alias("block"),
        pl.coalesce(_lookup(unit, tables.units), unit.str.replace(r"^\d+\s+", "")).alias("unit"),
    )


def _region_parts(location: pl.Expr, tables: _LookupTables) -> pl.Expr:
    """Regions.csv, else the location as written (RegionId: lower case without spaces, as Microsoft does)."""
    key = location.str.to_lowercase()
    return pl.struct(
        pl.coalesce(_lookup(key, tables.region_id), key.str.replace_all(" ", "")).alias("id"),
        pl.coalesce(_lookup(key, tables.region_name), location).alias("name"),
    )


def _id_parts(scope: pl.Expr) -> pl.Expr:
    """ARM type and name of resource ids `scope` + a last segment without "/" (`scope` ends with "/" or is
    empty): `scope_…` when the last segment is empty, else the ARM type with `_LAST` standing for the last
    segment, cut off and `last_is_type` when the type ends with it (a segment at a type position)."""
    with_last = _arm_type(pl.concat_str(scope, pl.lit(_LAST)))
    last_is_type = with_last.str.ends_with(_LAST)
    return pl.struct(
        pl.when(last_is_type).then(with_last.str.strip_suffix(_LAST)).otherwise(with_last).alias("arm_type"),
        last_is_type.alias("last_is_type"),
        _arm_type(scope).alias("scope_arm_type"),
        # EA names the resource; MCA only has the id, whose last segment is the most specific name.
        scope.str.extract(r"([^/]+)/*$", 1).alias("scope_name"),
    )


def _arm_type(resource_id: pl.Expr) -> pl.Expr:
    """ARM resource type in the resource id: …/providers/Microsoft.Sql/servers/s1/databases/d1 →
    microsoft.sql/servers/databases."""
    after = resource_id.str.to_lowercase().str.extract(r".*/providers/([^/]+/.+)$", 1).str.strip_chars_end("/")
    parts = after.str.split("/")
    types = parts.list.slice(1).list.gather_every(2).list.join("/")
    return pl.concat_str(parts.list.first(), pl.lit("/"), types)


def _service_parts(key: pl.Expr, tables: _LookupTables) -> pl.Expr:
    """FOCUS ResourceType (ResourceTypes.csv) and ServiceName/Category/Subcategory (Services.csv), most
    specific match first: the (ConsumedService, ARM type) pair, then the ARM type alone, then the service
    most resource types of that ConsumedService belong to. An unknown service keeps its ConsumedService as
    name, category Other. `key` is the `_SEPARATOR`-joined ConsumedService, ResourceType and ARM type from
    the resource id."""
    fields = key.str.split_exact(_SEPARATOR, 2).struct

    def field(index: int) -> pl.Expr:
        value = fields.field(f"field_{index}")
        return pl.when(value != _MISSING).then(value)

    consumed_service, resource_type = field(0), field(1)
    # ARM resource type: the legacy ResourceType column, else the types in the resource id.
    arm_type = pl.coalesce(resource_type.str.to_lowercase(), field(2))
    consumed = consumed_service.str.to_lowercase()
    pair = pl.concat_str(consumed, arm_type, separator=_SEPARATOR)

    def best(name: str) -> pl.Expr:
        return pl.coalesce(
            _lookup(pair, tables.by_pair[name]),
            _lookup(arm_type, tables.by_type[name]),
            _lookup(consumed, tables.by_service[name]),
        )

    return pl.struct(
        pl.coalesce(_lookup(arm_type, tables.resource_type), resource_type, arm_type).alias("resource_type"),
        # A name of its own for an unknown service, so that it cannot clash with a looked-up ServiceName of
        # another category (FOCUS: one category per ServiceName).
        pl.coalesce(best("ServiceName"), consumed_service, pl.lit("Other")).alias("name"),
        best("ServiceCategory").fill_null("Other").alias("category"),
        best("ServiceSubcategory").fill_null("Other (Other)").alias("subcategory"),
    )


def _tags_parts(tags: pl.Expr) -> pl.Expr:
    tags_json = _json_text(tags)
    return pl.struct(
        pl.when(tags_json != "{}").then(tags_json).alias("tags"),  # no tags ("" or {}) → null
        pl.when(tags_json.is_null()).then(pl.format("Tags: '{}' is not a JSON object", tags)).alias("problem"),
    )


def _info_parts(info: pl.Expr) -> pl.Expr:
    details = _json_text(info)
    return pl.struct(
        # AdditionalInfo with every key prefixed x_ (FOCUS: provider-specific SkuPriceDetails properties); in
        # compact JSON a key is the only place `{"` or `,"` is followed by a closing `":`. AdditionalInfo
        # that is not a JSON object is left out rather than quarantining the cost row.
        pl.when(details != "{}")
        .then(details.str.replace_all(r'([{,])"([^"\\]*)":', r'${1}"x_${2}":'))
        .alias("details"),
        to_money(info.str.json_path_match("$.RINormalizationRatio")).alias("ratio"),
    )


def _json_text(text: pl.Expr) -> pl.Expr:
    """A key-value list as compact JSON object text; null when it is not a JSON object. EA writes tags
    without braces (`"k": "v","k2": "v2"`), so braces are added when missing."""
    wrapped = pl.when(text.str.starts_with("{")).then(text).otherwise(pl.concat_str(pl.lit("{"), text, pl.lit("}")))
    compact = wrapped.str.json_path_match("$")  # parses and re-serialises; null when not valid JSON
    return pl.when(compact.str.starts_with("{")).then(compact)


# --- Values several FOCUS columns depend on -----------------------------------------------------------------


def _dependent_values() -> dict[str, pl.Expr]:
    commitment_priced = _pm.is_in(COMMITMENT_PRICING_MODELS)
    commitment_id = pl.coalesce("BenefitId", pl.when(commitment_priced).then(pl.col("ReservationId")))
    lower_id = commitment_id.str.to_lowercase()
    return {
        # MCA prices are in the pricing currency (USD); costs are in the billing currency.
        "__rate": pl.when(pl.col("__ExchangeRatePricingToBilling") > 0)
        .then(pl.col("__ExchangeRatePricingToBilling"))
        .otherwise(_ONE),
        "__is_mca": pl.coalesce(
            pl.col(AGREEMENT) == "MCA", pl.col("__PaygCostInBillingCurrency").is_not_null(), pl.lit(False)
        ),
        "__commitment_priced": commitment_priced,
        "__commitment_id": commitment_id,
        # "Usage" (reservation, /microsoft.capacity/) or "Spend" (savings plan, /microsoft.billingbenefits/),
        # from the benefit id, else from PricingModel when only a reservation id is given.
        "__commitment_kind": pl.when(lower_id.str.contains("/microsoft.capacity/", literal=True))
        .then(pl.lit("Usage"))
        .when(lower_id.str.contains("/microsoft.billingbenefits/", literal=True))
        .then(pl.lit("Spend"))
        .when(commitment_id.is_not_null() & (_pm == "reservation"))
        .then(pl.lit("Usage"))
        .when(commitment_id.is_not_null() & (_pm == "savingsplan"))
        .then(pl.lit("Spend")),
    }


# --- One expression per FOCUS column ------------------------------------------------------------------------


def _cost_stages() -> list[dict[str, pl.Expr]]:
    """The costs, prices and commitment quantity, in two stages: what the second and the FOCUS columns read
    more than once is a column of the first, because polars does not share sub-expressions between the
    expressions of one select (each Decimal product would run once per reader)."""
    cost, rate, block = pl.col("__CostInBillingCurrency"), pl.col("__rate"), pl.col("__block")
    quantity, unit_price, payg_price = pl.col("__Quantity"), pl.col("__UnitPrice"), pl.col("__PayGPrice")
    commitment_priced, commitment_id = pl.col("__commitment_priced"), pl.col("__commitment_id")

    # The rows Microsoft zeroes: amortized commitment usage is billed by the purchase, and the purchase is
    # amortized into that usage.
    amortised_usage = (_ct.is_null() | _ct.is_in(USAGE_CHARGE_TYPES)) & commitment_priced
    buys_commitment = _ct.is_in(["purchase", "refund"]) & commitment_priced
    # The price the row's cost was computed at: UnitPrice on usage a commitment priced (its ContractedCost is
    # UnitPrice × Quantity), else EffectivePrice where the export gives it (see the module docstring).
    price = pl.when(amortised_usage).then(unit_price).otherwise(pl.coalesce("__EffectivePrice", unit_price))
    first = {
        "__buys_commitment": buys_commitment,
        "__billed": pl.when(amortised_usage).then(_ZERO).otherwise(cost),
        "__effective": pl.when(buys_commitment).then(_ZERO).otherwise(cost),
        "__price": price,
        "__contracted_unit_price": _not_for_tax(decimal_product(price, rate, block)),
        # The cost is at the contracted rate, except where a commitment priced it.
        "__contracted": pl.when(amortised_usage)
        .then(pl.coalesce(decimal_product(unit_price, rate, quantity), cost))
        .otherwise(cost),
        "__pricing_quantity": _not_for_tax(quantity / block),
        # Only metered use consumes: unused commitment, purchases and fees do not.
        "__consumes": _ct.is_null() | (_ct == "usage"),
        "__status": pl.when((_category == "Usage") & commitment_id.is_not_null()).then(
            pl.when(_ct.is_in(["unusedreservation", "unusedsavingsplan"]))
            .then(pl.lit("Unused"))
            .otherwise(pl.lit("Used"))
        ),
    }
    is_mca, contracted_unit_price = pl.col("__is_mca"), pl.col("__contracted_unit_price")
    buys_commitment, commitment_kind = pl.col("__buys_commitment"), pl.col("__commitment_kind")
    second = {
        "__list_unit_price": _not_for_tax(
            pl.when(is_mca)
            .then(pl.coalesce(decimal_product(payg_price, rate, block), contracted_unit_price))
            # EA has no list price (PayGPrice is 0 on reservation rows): list = contracted.
            .otherwise(contracted_unit_price)
        ),
        "__list_cost": pl.when(is_mca)
        .then(pl.coalesce("__PaygCostInBillingCurrency", "__contracted"))
        .otherwise(pl.col("__contracted")),
        # FOCUS also wants the quantity bought on a commitment's purchase (and refund) rows: the amount for a
        # savings plan (its cost, as the purchase's EffectiveCost is 0), the pricing quantity for a reservation.
        "__commitment_quantity": pl.when(pl.col("__status").is_not_null() | buys_commitment).then(
            pl.when(commitment_kind == "Spend")
            .then(
                decimal_product(pl.when(buys_commitment).then(cost).otherwise(pl.col("__effective")), divided_by=rate)
            )
            .when(commitment_kind == "Usage")
            .then(decimal_product(pl.col("__pricing_quantity"), pl.coalesce("__normalisation_ratio", _ONE)))
        ),
    }
    return [first, second]


def _focus_columns(source_name: str) -> dict[str, pl.Expr]:
    rate, block, quantity, payg_price = pl.col("__rate"), pl.col("__block"), pl.col("__Quantity"), pl.col("__PayGPrice")
    is_mca, is_usage = pl.col("__is_mca"), _category == "Usage"
    commitment_priced, commitment_id = pl.col("__commitment_priced"), pl.col("__commitment_id")
    commitment_kind, commitment_quantity = pl.col("__commitment_kind"), pl.col("__commitment_quantity")
    billed, effective, consumes = pl.col("__billed"), pl.col("__effective"), pl.col("__consumes")
    has_pricing_currency = pl.col("PricingCurrency").is_not_null()
    billing_account_id, billing_account_name, billing_account_type = _billing_account()
    return {
        "AvailabilityZone": pl.col("AvailabilityZone"),
        "BilledCost": billed,
        "BillingAccountId": billing_account_id,
        "BillingAccountName": billing_account_name,
        "BillingAccountType": billing_account_type,
        "BillingCurrency": pl.col("BillingCurrency"),
        "BillingPeriodEnd": pl.col("__period_end"),
        "BillingPeriodStart": pl.col("__period_start"),
        "CapacityReservationId": pl.lit(None),
        "CapacityReservationStatus": pl.lit(None),
        "ChargeCategory": _category,
        "ChargeClass": pl.when(_ct == "refund").then(pl.lit("Correction")),
        "ChargeDescription": pl.coalesce("ProductName", "MeterName"),
        # An unknown or missing Frequency: by the charge category.
        "ChargeFrequency": pl.coalesce(
            "__frequency", pl.when(is_usage).then(pl.lit("Usage-Based")).otherwise(pl.lit("One-Time"))
        ),
        "ChargePeriodEnd": pl.col("__charge_end"),
        "ChargePeriodStart": pl.col("__charge_start"),
        "CommitmentDiscountCategory": commitment_kind,
        "CommitmentDiscountId": commitment_id,
        "CommitmentDiscountName": pl.coalesce(
            "BenefitName", pl.when(commitment_priced).then(pl.col("ReservationName"))
        ),
        "CommitmentDiscountQuantity": commitment_quantity,
        "CommitmentDiscountStatus": pl.col("__status"),
        "CommitmentDiscountType": pl.when(commitment_kind == "Spend")
        .then(pl.lit("Savings Plan"))
        .when(commitment_kind == "Usage")
        .then(pl.lit("Reservation")),
        "CommitmentDiscountUnit": pl.when(commitment_quantity.is_not_null()).then(
            pl.when(commitment_kind == "Spend")
            .then(pl.coalesce("PricingCurrency", "BillingCurrency"))
            .otherwise(pl.col("__unit"))
        ),
        "ConsumedQuantity": pl.when(consumes).then(quantity),
        "ConsumedUnit": pl.when(consumes & quantity.is_not_null()).then(pl.col("__unit")),
        "ContractedCost": pl.col("__contracted"),
        "ContractedUnitPrice": pl.col("__contracted_unit_price"),
        "EffectiveCost": effective,
        "InvoiceId": pl.col("InvoiceId"),
        "InvoiceIssuerName": pl.coalesce("PartnerName", pl.lit(MICROSOFT)),
        "ListCost": pl.col("__list_cost"),
        "ListUnitPrice": pl.col("__list_unit_price"),
        "PricingCategory": _pricing_category(pl.col("__buys_commitment"), commitment_priced),
        "PricingCurrency": pl.col("PricingCurrency"),
        "PricingCurrencyContractedUnitPrice": pl.when(has_pricing_currency).then(
            _not_for_tax(decimal_product(pl.col("__price"), block))
        ),
        "PricingCurrencyEffectiveCost": pl.when(has_pricing_currency).then(decimal_product(effective, divided_by=rate)),
        "PricingCurrencyListUnitPrice": pl.when(has_pricing_currency & is_mca).then(
            _not_for_tax(decimal_product(payg_price, block))
        ),
        "PricingQuantity": pl.col("__pricing_quantity"),
        "PricingUnit": _not_for_tax(pl.col("__unit")),
        "ProviderName": pl.lit(MICROSOFT),
        "PublisherName": pl.coalesce("PublisherName", pl.lit(MICROSOFT)),
        "RegionId": pl.col("__region_id"),
        "RegionName": pl.col("__region_name"),
        "ResourceId": pl.col("ResourceId"),
        "ResourceName": pl.coalesce("ResourceName", "__resource_id_name"),
        "ResourceType": pl.col("__resource_type"),
        "ServiceCategory": pl.col("__service_category"),
        "ServiceName": pl.col("__service_name"),
        "ServiceSubcategory": pl.col("__service_subcategory"),
        "SkuId": pl.col("ProductId"),
        "SkuMeter": pl.col("MeterName"),
        "SkuPriceDetails": pl.col("__sku_price_details"),
        "SkuPriceId": pl.lit(None),
        "SubAccountId": pl.col("SubscriptionId"),
        "SubAccountName": pl.col("SubscriptionName"),
        "SubAccountType": pl.when(pl.col("SubscriptionId").is_not_null()).then(pl.lit("Subscription")),
        "Tags": pl.col("__tags"),
        "x_SourceName": pl.lit(source_name),
        "x_SourceFile": pl.col(SOURCE_FILE),
        "x_SourceRowNumber": pl.col(SOURCE_ROW),
        "x_IngestedAt": pl.lit(None),
        "x_RunId": pl.lit(None),
        "x_ChargeDay": pl.col("__charge_day"),
    }


def _finalise(columns: dict[str, pl.Expr]) -> list[pl.Expr]:
    """Exact FOCUS_TABLE_SCHEMA dtypes and order, then the quarantine reason."""
    typed = [columns[name].cast(dtype).alias(name) for name, dtype in FOCUS_TABLE_SCHEMA.items()]
    is_unknown = _ct.is_not_null() & ~_ct.is_in(list(CHARGE_TYPES))
    # Trimmed here, on those rows only (`_DISTINCT_ONLY`).
    unknown_type = pl.format("ChargeType: unknown '{}'", blank_to_null(pl.when(is_unknown).then(pl.col("ChargeType"))))
    problems = [pl.col("__number_problems"), pl.col("__date_problems"), unknown_type, pl.col("__tags_problem")]
    return [*typed, join_reasons(problems).alias(REASON)]


# --- Helpers ----------------------------------------------------------------------------------------------


def _billing_account() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """MCA bills per billing profile, EA per billing account (enrollment), legacy pay-as-you-go per
    subscription: (BillingAccountId, BillingAccountName, BillingAccountType)."""
    profile, account = pl.col("BillingProfileId"), pl.col("BillingAccountId")
    use_profile = profile.is_not_null() & (pl.col("__is_mca") | account.is_null())
    use_account = ~use_profile & account.is_not_null()
    use_subscription = ~use_profile & ~use_account & pl.col("SubscriptionId").is_not_null()

    def pick(for_profile: pl.Expr, for_account: pl.Expr, for_subscription: pl.Expr) -> pl.Expr:
        return (
            pl.when(use_profile)
            .then(for_profile)
            .when(use_account)
            .then(for_account)
            .when(use_subscription)
            .then(for_subscription)
        )

    return (
        pick(profile, account, pl.col("SubscriptionId")),
        pick(pl.col("BillingProfileName"), pl.col("BillingAccountName"), pl.col("SubscriptionName")),
        pick(pl.lit("Billing Profile"), pl.lit("Billing Account"), pl.lit("Subscription")),
    )


def _pricing_category(buys_commitment: pl.Expr, commitment_priced: pl.Expr) -> pl.Expr:
    return (
        pl.when(~_category.is_in(["Usage", "Purchase"]))
        .then(pl.lit(None, dtype=pl.String))  # tax, credits and adjustments have no pricing category
        .when(buys_commitment)
        .then(pl.lit("Standard"))  # FOCUS: buying a commitment is at a Standard rate
        .when(commitment_priced)
        .then(pl.lit("Committed"))
        .when(_pm == "spot")
        .then(pl.lit("Dynamic"))
        .when(_pm.is_null() | (_pm == "ondemand"))
        .then(pl.lit("Standard"))
        .otherwise(pl.lit("Other"))
    )


def _not_for_tax(expr: pl.Expr) -> pl.Expr:
    """FOCUS: unit prices, pricing quantity and unit are null on Tax rows."""
    return pl.when(_category != "Tax").then(expr)
