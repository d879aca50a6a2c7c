"""Google Cloud billing export (as read by `scan_billing_export` / `read_billing_export`) → FOCUS 1.2 rows.

Pure, and lazy but for one narrow pass over the export for the commitment fee pools, made when the mapping
is built (`billing_export_to_focus`); one named polars expression per FOCUS column, one output row per export
row plus the rows derived from it (below). The rules follow Google's own FOCUS view (reference §2.5) with its
known bugs corrected:

* **Costs and credits: Σ BilledCost is the invoice.** Google invoices Σ `cost` + Σ `credits.amount` (credits
  are negative), so every credit is billed somewhere, exactly once, by its type:

  | credit type                                                           | becomes                                |
  |-----------------------------------------------------------------------|----------------------------------------|
  | `COMMITTED_USAGE_DISCOUNT`, `COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE`    | netted into its usage row (commitment) |
  | `SUSTAINED_USAGE_DISCOUNT`, `DISCOUNT`, `FREE_TIER`,                  | netted into its row (a discount)       |
  | `SUBSCRIPTION_BENEFIT`, `RESELLER_MARGIN`, `FEE_UTILIZATION_OFFSET`   |                                        |
  | `PROMOTION`, and any type not listed                                  | a derived `Credit` row of its own      |

  *Netted* (NETTED_CREDITS): the credit is a reduced rate of the very charge it sits on, which FOCUS wants on
  that row ("BilledCost includes all reduced rates and discounts"; "discounts SHOULD be applied to the row
  they pertain to, not negated in separate rows"): BilledCost = `cost` + Σ those credits, and the row's
  EffectiveCost starts from the same net amount. So usage fully covered by a committed use discount is billed
  0, as FOCUS says committed usage is. *Separate*: a promotion (trial, research, migration credit) is an
  after-the-fact reduction paid out of a credit grant, which FOCUS calls `ChargeCategory = Credit`; it is
  derived as its own row right after the row it sits on, with BilledCost = EffectiveCost = ListCost =
  ContractedCost = the credit amount (FOCUS: for Credit rows EffectiveCost MUST equal BilledCost), the
  charge's period, day, project, service, region, resource and tags, and the same x_SourceFile /
  x_SourceRowNumber. A type Google adds later is kept visible as a Credit row rather than hidden in a cost.
  A row that carries only credits (cost 0, no usage) is itself the Credit row: BilledCost = Σ its credits.
  So Σ BilledCost = Σ cost + Σ credits, and no credit is counted twice in EffectiveCost either.
  `x_Credits` itemises, as a JSON array, the credits each row carries: the netted ones on the charge's row,
  the one credit on a derived Credit row (every credit of the export shows in exactly one x_Credits).
  ContractedCost = `cost` (GCP's cost is at the contracted `price.effective_price`, before credits), so
  ContractedCost − EffectiveCost is what the netted credits and commitments saved. ListCost = `cost_at_list`,
  else the Cloud Billing Catalog list price (`list_prices`: unit price × `usage.amount_in_pricing_units`),
  else cost.
* **Committed use discounts (resource-based).** A usage row with a `COMMITTED_USAGE_DISCOUNT` credit is
  Committed usage (status Used) of its commitment: CommitmentDiscountId = `subscription.instance_id`, else
  the credit's id or name; CommitmentDiscountQuantity = the covered part of its pricing quantity,
  `usage.amount_in_pricing_units` × −credit / `cost` (the credit is minus the on-demand cost of the covered
  usage), in its pricing unit. The commitment's fee row (a `Commitment v1: …` SKU with a
  `subscription.instance_id`, billed every charge period whether used or not) is the recurring `Purchase`:
  BilledCost = its cost, EffectiveCost 0, ChargeFrequency Recurring, CommitmentDiscountQuantity = the
  committed quantity of the period. Its cost is amortised over the usage it covered in the same charge
  period (same commitment id, `usage_start_time` and pricing unit, GPUs apart): each covered row's
  EffectiveCost gets covered quantity × fee / max(committed quantity, Σ covered quantity), and what is left
  (the idle part) becomes a derived `Unused` Usage row right after the fee row (BilledCost 0, EffectiveCost =
  fee − Σ shares, CommitmentDiscountQuantity = the unused quantity). So per commitment and period Σ
  EffectiveCost(Usage) = Σ BilledCost(Purchase), and Σ EffectiveCost = Σ BilledCost overall.
  Usage only partly covered (−CUD credit d < cost c) is split, since FOCUS prices a row one way: the
  committed part (quantities × d/c, ContractedCost d, BilledCost d − d = 0, EffectiveCost its fee share, the
  CUD credit in x_Credits) and, after the row's Credit rows, its on-demand part (the rest of every amount,
  Standard or Dynamic, no commitment columns, the other netted credits such as sustained use). Without the
  split, commitment coverage would count the on-demand hours as committed.
* **Spend-based committed use discounts** (category Spend, counted in the billing currency), in Google's
  consumption-model data (since 2025-07-15; every account since 2026-01-21; cloud.google.com/docs/
  cuds-multiprice-datamodel): the fee rows (one of the fee SKUs Google lists per product, `spend_based_cuds`,
  such as Compute flexible's 5515-81A8-03A2 at $1 an hour of committed discounted spend, or a subscription's
  row with a FEE_UTILIZATION_OFFSET credit) carry the commitment's `subscription.instance_id`; the usage it
  covers carries it too and is priced under the CUD's consumption model (not Default) at the discounted
  price, so its `cost` is exactly the part of the fee it consumed, and the offset (minus that consumption)
  nets the fee row down to the unused part. The standard export has no subscription: there the commitment
  is the product's ("spend-based/Compute Flexible"), known from the fee SKU and the consumption model.
  FOCUS: the fee rows are the commitment's recurring Purchase (EffectiveCost 0, type "Spend-based committed
  use discount"); covered usage is Committed, Used, EffectiveCost = its cost, ContractedCost =
  `cost_at_effective_price_default` (on demand, so ContractedCost − EffectiveCost is the CUD's saving), and
  BilledCost 0: its cost is billed by the fee rows of its pool (commitment, usage_start_time) instead, shared
  by their offsets (`_spend_commitment_moves`), so a fee row bills its fee; what the offsets leave of each
  fee row is a derived Unused row. Σ BilledCost stays the invoice, and the pool's Σ EffectiveCost (Used +
  Unused) is what its Purchase rows bill. Covered usage whose fee is not in the files read keeps its own bill.
  Legacy spend-based CUDs (before an account's migration, and for products Google did not migrate, such as
  VMware Engine): the fee `Commitment - dollar based v1: GCE for 1 year` (its units are cents an hour of
  on-demand spend committed, at a discounted price) is the Purchase; the usage it covered carries a
  `COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE` credit ("… dollar based: GCE Commitments") of minus the on-demand cost
  covered, and no subscription, so the product ("GCE") ties them: one commitment per product,
  CommitmentDiscountId "spend-based/GCE". It is amortised as a resource-based fee is, in on-demand spend in
  the billing currency (fee units / 100 × `currency_conversion_rate`, and −credit), over the pool (product,
  usage_start_time); partly covered usage is split. Google's KPI queries compute utilisation the same way.
* **Accounts.** SubAccountId/Name = `project.id`/`project.name` (Google's view puts the billing account
  there; `project.number` where there is no id, and the id where there is no name, as in the oldest file
  exports); BillingAccountId = `billing_account_id`.
* **Periods.** BillingPeriodStart/End = `invoice.month` (YYYYMM, a month in America/Los_Angeles) → UTC, end
  exclusive = the next month's start. Charge period = [`usage_start_time`, `usage_end_time`).
* **SkuPriceId = sku.id.** FOCUS 1.2 wants a SkuPriceId that is stable across billing accounts and lets one
  look the ListUnitPrice up in the provider's price list. Google's view builds "Billing Account ID:…, SKU
  ID:…, Price Tier Start Amount:…" (not stable across accounts, not a key of any price list), the converter
  uses `price.tier_start_amount` (not an id at all). The public price list (Cloud Billing Catalog) is keyed
  by SKU id, with the tiers inside the SKU, so the SKU id is the price id and each has exactly one parent SkuId.
* **Tags** = one FOCUS key-value object: resource `labels` (user-defined, unprefixed), `system_labels`
  (provider-defined: kept as given when they carry Google's prefix — `goog-…` or `<service>.googleapis.com/…`
  — else prefixed `goog-`), `project.labels` (inherited; the resource's own label wins on a conflict) and
  Resource Manager `tags` as `<namespace>/<key>` (a directly attached tag wins over an inherited one).
  Valueless keys are `true`. Keys are sorted, so the same tags always give the same text.

A row that cannot be mapped (cost, date, credits or invoice month that does not parse, unknown cost_type) is
not an error: it comes out with `x_QuarantineReason` naming the source column and value, still carrying its
parsed cost and charge day so reconciliation can account for it. No Credit row is derived from a row
whose cost or credits do not parse: its BilledCost is null (no cost) or the cost alone (credits unreadable),
the same amount `billing_export_source_totals` counts for it.
"""

from collections.abc import Callable

import polars as pl

from finops_pipeline.focus.conform import REASON
from finops_pipeline.focus.parsing import (
    Parser,
    decimal_product,
    gather_by_key,
    join_reasons,
    lookup,
    parse_each_distinct_together,
    reading_once,
    to_utc_timestamp,
    unparsed_text,
    unreadable_number,
)
from finops_pipeline.focus.schema import FOCUS_TABLE_SCHEMA, MONEY, TIMESTAMP
from finops_pipeline.sources.gcp.export import (
    EXPORT_COLUMNS,
    RECORD_DTYPES,
    RECORD_FIELDS,
    SOURCE_FILE,
    SOURCE_ROW,
    Kind,
    credits_amount,
    credits_unreadable,
    credits_without_amount,
    invoice_month_start,
    parse_number,
    parse_records,
    parse_timestamp,
)
from finops_pipeline.sources.gcp.records import parse_record_list
from finops_pipeline.sources.gcp.service_categories import DEFAULT, SERVICE_CATEGORIES
from finops_pipeline.sources.gcp.spend_based_cuds import CONSUMPTION_MODEL_COMMITMENTS, FEE_SKU_COMMITMENTS

PROVIDER = "Google Cloud"
INVOICE_ISSUER = "Google"
BILLING_TIME_ZONE = "America/Los_Angeles"  # invoice months are Pacific-time months
CREDITS_COLUMN = "x_Credits"  # not in FOCUS_TABLE_SCHEMA (yet): the itemised credits, JSON array text

COST_TYPES = {"regular": "Usage", "tax": "Tax", "adjustment": "Adjustment", "rounding_error": "Adjustment"}
COMMITMENT_CREDITS = {"COMMITTED_USAGE_DISCOUNT": "Usage", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE": "Spend"}
# Credit types netted into the row they sit on (reduced rates of that charge); every other type, PROMOTION
# first, becomes a FOCUS Credit row of its own. See the module docstring.
NETTED_CREDITS = (
    *COMMITMENT_CREDITS,
    "SUSTAINED_USAGE_DISCOUNT",
    "DISCOUNT",  # spending-based (contractual) discounts
    "FREE_TIER",
    "SUBSCRIPTION_BENEFIT",
    "RESELLER_MARGIN",
    "FEE_UTILIZATION_OFFSET",  # offsets a commitment fee, on the fee's row
)
RESOURCE_COMMITMENT = "COMMITTED_USAGE_DISCOUNT"
# The recurring fee of a resource-based commitment: "Commitment v1: N2 Cpu in Americas for 1 Year".
COMMITMENT_FEE_SKU = r"(?i)^\s*commitment v\d+:"
# Legacy spend-based commitments: the fee "Commitment - dollar based v1: GCE for 1 year" (a unit is $0.01 an hour
# of on-demand spend committed) and the credit "Committed use discount - dollar based: GCE Commitments" on the
# usage it covered; the product ("GCE") is what ties the two (the usage rows carry no subscription).
SPEND_COMMITMENT = "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE"
LEGACY_SPEND_FEE_SKU = r"(?i)^\s*commitment\s*-\s*dollar based v\d+:\s*(.+?)(?:\s+for\s+\d+\s+years?)?\s*$"
LEGACY_SPEND_CREDIT = r"(?i)dollar based:\s*(.+?)(?:\s+commitments?)?\s*$"
LEGACY_SPEND_UNITS_PER_CURRENCY = 100  # fee units of on-demand spend per US dollar
# Either fee SKU, in one test: how the side table picks its candidate rows off every row's raw text.
ANY_COMMITMENT_FEE_SKU = r"(?i)^\s*commitment(?:\s*-\s*dollar based)? v\d+:"
# Spend-based committed use discounts in Google's consumption-model data (see the module docstring).
FEE_OFFSET = "FEE_UTILIZATION_OFFSET"  # on a fee row: minus the part of the fee its commitment's usage consumed
DEFAULT_CONSUMPTION_MODEL = "7754-699E-0EBF"  # "Default": on-demand prices
SPEND_BASED_COMMITMENT = "Spend-based committed use discount"  # CommitmentDiscountType of those rows

REGION_NAMES = {
    "us-central1": "Iowa",
    "us-east1": "South Carolina",
    "us-east4": "Northern Virginia",
    "us-east5": "Columbus",
    "us-south1": "Dallas",
    "us-west1": "Oregon",
    "us-west2": "Los Angeles",
    "us-west3": "Salt Lake City",
    "us-west4": "Las Vegas",
    "northamerica-northeast1": "Montréal",
    "northamerica-northeast2": "Toronto",
    "southamerica-east1": "São Paulo",
    "southamerica-west1": "Santiago",
    "europe-west1": "Belgium",
    "europe-west2": "London",
    "europe-west3": "Frankfurt",
    "europe-west4": "Netherlands",
    "europe-west6": "Zurich",
    "europe-west8": "Milan",
    "europe-west9": "Paris",
    "europe-west10": "Berlin",
    "europe-west12": "Turin",
    "europe-north1": "Finland",
    "europe-central2": "Warsaw",
    "europe-southwest1": "Madrid",
    "asia-east1": "Taiwan",
    "asia-east2": "Hong Kong",
    "asia-northeast1": "Tokyo",
    "asia-northeast2": "Osaka",
    "asia-northeast3": "Seoul",
    "asia-south1": "Mumbai",
    "asia-south2": "Delhi",
    "asia-southeast1": "Singapore",
    "asia-southeast2": "Jakarta",
    "australia-southeast1": "Sydney",
    "australia-southeast2": "Melbourne",
    "me-west1": "Tel Aviv",
    "me-central1": "Doha",
    "africa-south1": "Johannesburg",
    "us": "United States (multi-region)",
    "eu": "European Union (multi-region)",
    "asia": "Asia (multi-region)",
    "global": "Global",
}

_LIST_PRICE = "__list_unit_price"
_LIST_CURRENCY = "__list_currency"
_LIST_UNIT = "__list_pricing_unit"
_CREDIT_SUM = "__credit_sum"
_NETTED_SUM = "__netted_sum"
_SEPARATE = "__separate_credits"
_COMMITMENT = "__commitment_credit"
_COMMITMENT_ID = "__commitment_id"
_FEE = "__commitment_fee"
_COVERED = "__covered_quantity"
_POOL = "__commitment_pool"
_LEGACY_SPEND = "__legacy_spend"  # a legacy spend-based commitment's fee or covered usage row (`_POOL` "spend")
_SHARE = "__fee_share"
_UNUSED_COST = "__unused_cost"
_UNUSED_QUANTITY = "__unused_quantity"
_FEE_OFFSET = "__fee_offset"
_COMMITTED = "__committed_quantity"  # a fee row's committed quantity, as its pool counts it
_UNUSED_PRICING = "__unused_pricing_quantity"  # the Unused row's PricingQuantity
_COVERED_PRICING = "__covered_pricing_quantity"  # legacy spend-based: the covered part of the pricing quantity
_SPEND_FEE = "__spend_commitment_fee"
_SPEND_USED = "__spend_commitment_used"
_SPEND_COMMITMENT = "__spend_commitment"  # the commitment of a consumption-model fee or covered usage row
_MOVED = "__billed_moved"  # covered usage's cost, billed on its spend-based commitment's fee rows instead
_COPY = "__copy"
# Which derived row an output row is (booleans, see `billing_export_to_focus`), and a Credit row's credit.
_UNUSED_ROW, _COMMITTED_PART, _ON_DEMAND_PART, _CREDIT_ROW = "__unused", "__committed", "__on_demand", "__credit"
_ROW_CREDIT = "__credit_of_row"
_PART = "__committed_part"
_CREDITS_UNUSABLE = "__credits_unusable"
_TAGS = "__tags"  # struct: the row's FOCUS Tags and what in its label columns did not parse
_PROBLEMS = "__parse_problems"
_DISTINCT = "__parsed_once_per_distinct_value"  # struct, see `_typed`
_PERIOD = "__billing_period"  # struct _BILLING_PERIOD of invoice.month
_ROW = "__row"
_SKU = "__sku_traits"  # struct _SKU_TRAITS of sku.description
_COST_TYPE = "__cost_type"  # cost_type, normalised
_UNIT = "__pricing_unit"  # usage.pricing_unit, normalised

# Columns that describe a price, a quantity or a commitment: null on a derived Credit row.
_NOT_ON_DERIVED_CREDITS = (
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "ConsumedQuantity",
    "ConsumedUnit",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
)

_cost = pl.col("cost")
_category = pl.col("ChargeCategory")


def billing_export_to_focus(
    export: pl.LazyFrame, *, source_name: str, list_prices: pl.DataFrame | None = None
) -> pl.LazyFrame:
    """The internal export shape → FOCUS 1.2 rows (FOCUS_TABLE_SCHEMA, exact dtypes), `x_Credits`, and
    `x_QuarantineReason`, in that order. x_IngestedAt and x_RunId are null: the caller fills them.

    Output rows: one per export row, each followed by the rows derived from it: a Credit row per separate
    (promotional) credit, then an Unused row after a commitment fee with idle capacity or the on-demand part
    of partly covered usage (module docstring).

    `list_prices` (optional, e.g. from `catalog.list_prices_for_skus`): columns `sku_id`, `unit_price`
    (Decimal) and optionally `pricing_unit` and `currency`. It is used for rows without `cost_at_list`: only
    when its unit is the row's `usage.pricing_unit` (or either is unknown), and its currency is the billing
    currency or USD (converted with the row's `currency_conversion_rate`, Google's rate from USD).
    """
    schema = export.collect_schema()
    typed = _typed(export.with_row_index(_ROW), schema)
    # Commitment fee shares need sums over whole pools: a side table by row index, from a narrow pass over
    # only the rows that may be fees or covered usage (`_commitment_rows`), joined to the wide frame. It is
    # collected here, before the wide plan runs: left lazy, it shares the export with the wide plan, and
    # polars caches a shared subplan whole (7.4 GB at 10M rows instead of 0.7 GB).
    # The side table also says which rows are a spend-based commitment's (`_spend_commitment_columns`): they
    # are few, and the tests take two table lookups a row.
    # The pool sums are window sums: in-memory ones cost a tenth of streaming ones (which group and join), and
    # either holds the commitment rows in memory.
    commitment_rows = _commitment_rows(export, schema).collect(engine="streaming")
    shares = _commitment_shares(commitment_rows.lazy()).collect(engine="in-memory")
    charges = (
        typed.with_columns(**_credit_columns())
        .pipe(gather_by_key, _ROW, shares, on=_ROW)
        .with_columns(pl.col(_SPEND_FEE, _SPEND_USED).fill_null(False))
        .with_columns(ChargeCategory=_charge_category(), **_service_and_region())
        .with_columns(**_commitment_columns())
        .pipe(_with_list_prices, list_prices)
    )
    columns = _focus_columns(source_name)
    rows = charges.select(
        *[columns[name].alias(name) for name in FOCUS_TABLE_SCHEMA],
        pl.when(_category == "Credit")
        .then(pl.col("credits").struct.field("all_json"))
        .otherwise(pl.col("credits").struct.field("netted_json"))
        .alias(CREDITS_COLUMN),
        _row_problems().alias(REASON),
        _derived_credits().alias(_SEPARATE),
        _committed_part(columns).alias(_PART),
        pl.col(_UNUSED_COST, _UNUSED_QUANTITY, _UNUSED_PRICING, "sku.description"),
    )
    # Derived rows are copies of their row with some columns replaced: copy 0 is the row (its committed part
    # when it is split), copies 1…n its separate credits, copy n + 1 the Unused row of a fee or the on-demand
    # part of a split row. (An explode, not a union with filtered copies, so the input is read once.)
    n_credits = pl.col(_SEPARATE).list.len().fill_null(0)  # a null credits cell: no credits
    split = pl.col(_PART).is_not_null()
    extra = (pl.col(_UNUSED_COST).is_not_null() | split).cast(pl.UInt32)
    copies = pl.int_ranges(0, 1 + n_credits + extra, dtype=pl.UInt32)
    is_credit = (pl.col(_COPY) > 0) & (pl.col(_COPY) <= n_credits)
    is_extra = pl.col(_COPY) > n_credits
    # Which copy a row is, and a Credit copy's credit, are columns worked out once: polars would compute them
    # again in each of the ~25 column expressions that read them (no common sub-expressions across a select).
    kinds = {
        _UNUSED_ROW: (is_extra & ~split, _unused_row_overrides()),
        _COMMITTED_PART: ((pl.col(_COPY) == 0) & split, _committed_part_overrides()),
        _ON_DEMAND_PART: (is_extra & split, _on_demand_part_overrides()),
        _CREDIT_ROW: (is_credit, _credit_row_overrides()),
    }
    credit = pl.col(_SEPARATE).list.get(pl.col(_COPY).cast(pl.Int64) - 1, null_on_oob=True)

    def column(name: str) -> pl.Expr:
        expr = pl.col(name)
        for kind, (_, replacements) in kinds.items():
            if name in replacements:
                expr = pl.when(pl.col(kind)).then(replacements[name]).otherwise(expr)
        return expr

    return (
        rows.with_columns(copies.alias(_COPY))
        .explode(_COPY)
        .with_columns(
            *[applies.alias(kind) for kind, (applies, _) in kinds.items()],
            pl.when(is_credit).then(credit).alias(_ROW_CREDIT),
        )
        .select(
            *[column(name).cast(dtype).alias(name) for name, dtype in FOCUS_TABLE_SCHEMA.items()],
            column(CREDITS_COLUMN).alias(CREDITS_COLUMN),
            pl.col(REASON),
        )
    )


# --- Stage 1: source text → typed values, and what did not parse ------------------------------------------


def _typed(export: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Text columns parsed (each once, next to its text), problems noted, then the text replaced by its value.

    `export` may hold only some of the EXPORT_COLUMNS (`_narrow_typed`): only those are parsed and checked."""
    parsers = {}
    # Text columns whose values repeat (dates, credits, the invoice month) are parsed once per distinct value,
    # all in one batch function (`parse_each_distinct_together`): one struct column, `_DISTINCT`.
    distinct = {}
    for column, kind in EXPORT_COLUMNS.items():
        if column not in schema:  # a narrow projection (`_commitment_rows`)
            continue
        is_text = schema[column] == pl.String
        if kind is Kind.NUMBER:
            parsers[column] = (parse_number(column, schema[column]), _A_NUMBER)
        elif kind is Kind.TIMESTAMP and is_text:  # as parse_timestamp parses text
            distinct[column] = (pl.col(column), to_utc_timestamp, TIMESTAMP)
            parsers[column] = (pl.col(_DISTINCT).struct.field(column), "a date")
        elif kind is Kind.TIMESTAMP:
            parsers[column] = (parse_timestamp(column, schema[column]), "a date")
        elif kind is Kind.CREDITS and is_text:  # everything the mapping needs of the credits: `_CREDIT_VALUES`
            distinct[column] = (pl.col(column), _credit_values_of_text, _CREDIT_VALUES)
            parsers[column] = (pl.col(_DISTINCT).struct.field(column), None)
        elif kind is Kind.CREDITS:
            records = parse_records(column, kind, schema[column])
            parsers[column] = (reading_once(records, lambda c: _credits_summary(c, None), _CREDIT_VALUES), None)
    if "invoice.month" in schema:  # one or two months per file: their periods are worked out once each
        distinct[_PERIOD] = (pl.col("invoice.month"), _billing_period, _BILLING_PERIOD)
    derived = [name for name, (column, _, _) in _DERIVED.items() if column in schema]
    distinct.update({name: (pl.col(_DERIVED[name][0]), *_DERIVED[name][1:]) for name in derived})
    tagged = all(c in schema for c in _TAG_INPUTS)
    if tagged:  # once per distinct combination of the four label columns, which then are not needed
        distinct[_TAGS] = _tags_parser(schema)
    if distinct:
        export = export.with_columns(parse_each_distinct_together(distinct).alias(_DISTINCT))
    text_columns = [c for c, (_, what) in parsers.items() if schema[c] == pl.String and what is not None]
    parsed = export.with_columns(parser.alias(_parsed(c)) for c, (parser, _) in parsers.items())

    problems = [_unparsed(c, pl.col(_parsed(c)), parsers[c][1]) for c in text_columns]
    if "credits" in parsers:
        problems.append(pl.col(_parsed("credits")).struct.field("problem"))
    if "invoice.month" in schema:
        parsed = parsed.with_columns(pl.col(_DISTINCT).struct.field(_PERIOD).alias(_PERIOD))
        problems.append(
            pl.when(pl.col("invoice.month").is_null())
            .then(pl.lit("invoice.month: missing"))
            .otherwise(pl.col(_PERIOD).struct.field("problem"))
        )
    parsed = parsed.with_columns(pl.col(_DISTINCT).struct.field(name).alias(name) for name in derived)
    if tagged:
        parsed = parsed.with_columns(pl.col(_DISTINCT).struct.field(_TAGS).alias(_TAGS)).drop(_TAG_INPUTS)
    return (
        parsed.with_columns(join_reasons(problems).alias(_PROBLEMS))
        .with_columns(pl.col(_parsed(c)).alias(c) for c in parsers)
        .drop(*(_parsed(c) for c in parsers), *([_DISTINCT] if distinct else []))
    )


_SKU_TRAITS = pl.Struct(
    {"commitment_fee": pl.Boolean, "spend_commitment": pl.String, "gpu": pl.Boolean, "spot": pl.Boolean}
)


def _sku_traits(description: pl.Expr) -> pl.Expr:
    """What the rules read off `sku.description`: a resource-based commitment's fee SKU, the commitment of a
    legacy spend-based commitment's fee SKU, a GPU, spot (preemptible) capacity."""
    return pl.struct(
        description.str.contains(COMMITMENT_FEE_SKU).alias("commitment_fee"),
        _legacy_spend_commitment_id(description.str.extract(LEGACY_SPEND_FEE_SKU, 1)).alias("spend_commitment"),
        description.str.contains(r"(?i)\bgpu\b").alias("gpu"),
        description.str.contains(r"(?i)\b(?:spot|preemptible)\b").alias("spot"),
    )


def _normalised(text: pl.Expr) -> pl.Expr:
    """Trimmed and lower-cased, as `cost_type` and pricing units are compared."""
    return text.str.strip_chars().str.to_lowercase()


# Low-cardinality texts the rules test with regexes or normalise, worked out once per distinct value in
# `_typed`: name → (export column, parser, dtype).
_DERIVED = {
    _SKU: ("sku.description", _sku_traits, _SKU_TRAITS),
    _COST_TYPE: ("cost_type", _normalised, pl.String),
    _UNIT: ("usage.pricing_unit", _normalised, pl.String),
}

_BILLING_PERIOD = pl.Struct({"start": TIMESTAMP, "end": TIMESTAMP, "first_day": pl.Date, "problem": pl.String})


def _billing_period(month: pl.Expr) -> pl.Expr:
    """`invoice.month` (YYYYMM) → its billing period: a month in America/Los_Angeles, as UTC instants (end
    exclusive), its first day (where a row without a usage date lands), and a problem when it is no month."""
    start = invoice_month_start(month)
    return pl.struct(
        start.dt.replace_time_zone(BILLING_TIME_ZONE).dt.convert_time_zone("UTC").cast(TIMESTAMP).alias("start"),
        start.dt.offset_by("1mo")
        .dt.replace_time_zone(BILLING_TIME_ZONE)
        .dt.convert_time_zone("UTC")
        .cast(TIMESTAMP)
        .alias("end"),
        start.dt.date().alias("first_day"),
        pl.when(start.is_null()).then(pl.format("invoice.month: '{}' is not a YYYYMM month", month)).alias("problem"),
    )


def _commitment_rows(export: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """The commitment fee and covered usage rows of the export, classified as the charges are, with only the
    values the pool sums read (`_commitment_shares`): row index `_ROW`, the pool keys, quantities and costs,
    and which kind of commitment row each is.

    A side table derived from the charges' own typed frame would make that frame a common subplan, which
    polars caches (materialises) whole; a plan of its own reads just the `_COMMITMENT_INPUTS`, streaming. Rows
    are picked on their raw text before anything is parsed (a fee has a `Commitment v…:` SKU, covered usage a
    COMMITTED_USAGE_DISCOUNT… credit, a spend-based commitment's rows a `subscription.instance_id`), so the
    second scan costs little more than reading the columns; the rows it keeps are then classified exactly as
    the charges are.
    """
    credits = pl.col("credits")
    if schema["credits"] == pl.String:
        commitment_credit = credits.str.contains(RESOURCE_COMMITMENT, literal=True)  # also …_DOLLAR_BASE
    else:
        credit_type = pl.element().struct.field("type")
        commitment_credit = credits.list.eval(credit_type.is_in(list(COMMITMENT_CREDITS))).list.any()
    fee_sku = pl.col("sku.description").str.contains(ANY_COMMITMENT_FEE_SKU)
    # Spend-based commitments' fees and covered usage (consumption-model data): a subscription, a fee SKU, a
    # CUD's consumption model.
    spend = (
        pl.col("subscription.instance_id").is_not_null()
        | pl.col("sku.id").is_in(list(FEE_SKU_COMMITMENTS))
        | pl.col("consumption_model.id").is_in(list(CONSUMPTION_MODEL_COMMITMENTS))
    )
    candidates = (
        export.select(_COMMITMENT_INPUTS)
        .with_row_index(_ROW)
        .filter(commitment_credit.fill_null(False) | fee_sku.fill_null(False) | spend.fill_null(False))
    )
    typed = _typed(candidates, pl.Schema({c: schema[c] for c in _COMMITMENT_INPUTS}))
    charges = (
        typed.with_columns(**_credit_columns())
        .with_columns(**_spend_commitment_columns())
        .with_columns(ChargeCategory=_charge_category())
        .with_columns(**_commitment_columns())
        .with_columns(_committed_quantity().alias(_COMMITTED))
    )
    is_fee = (pl.col(_FEE) & ~pl.col(_SPEND_FEE) & pl.col(_COMMITMENT_ID).is_not_null()).fill_null(False)
    is_covered = pl.col(_COVERED).is_not_null()
    # Only what the pools read is kept: these rows are held in memory for the pool sums (at 10M rows, 4M).
    return charges.filter(is_fee | is_covered | pl.col(_SPEND_FEE) | pl.col(_SPEND_USED)).select(
        _ROW,
        *_POOL_KEY,
        _COVERED,
        _COMMITTED,
        "cost",
        "usage.amount_in_pricing_units",
        _NETTED_SUM,
        is_fee.alias(_FEE),
        (pl.col(_SPEND_FEE) & (_category == "Purchase")).fill_null(False).alias(_ANY_SPEND_FEE),
        pl.col(_LEGACY_SPEND).fill_null(False),
        _SPEND_FEE,
        _SPEND_USED,
        pl.col(_FEE_OFFSET).fill_null(0),
        _SPEND_COMMITMENT,
        _category,
    )


def _parsed(column: str) -> str:
    return f"__parsed {column}"


_A_NUMBER = "a number"  # what a number column's text should be (`_unparsed` words why it is not)


def _unparsed(column: str, parsed: pl.Expr, what: str, text: pl.Expr | None = None) -> pl.Expr:
    """`<column>: '<text>' is not <what>` where non-blank text (the column's, unless given) did not parse (a
    number's reason may also be that it is out of range: `unreadable_number`)."""
    failed = unparsed_text(parsed, pl.col(column) if text is None else text)
    shown = pl.when(failed.str.len_chars() > 200).then(failed.str.slice(0, 200) + "…").otherwise(failed)
    if what == _A_NUMBER:  # not a number, or one out of range
        return unreadable_number(column, shown)
    return pl.format(f"{column}: '{{}}' is not {what}", shown)


# --- Stage 2: values several FOCUS columns depend on -------------------------------------------------------


_CREDIT = pl.Struct(RECORD_FIELDS[Kind.CREDITS])
# A credit that becomes a Credit row of its own, with that row's x_Credits (`json`): worked out with the
# credits' other values (once per distinct cell of a CSV export), not on every row of the output.
_SEPARATE_CREDIT = pl.Struct({**RECORD_FIELDS[Kind.CREDITS], "json": pl.String})
_CREDIT_VALUES = pl.Struct(
    {
        "all_json": pl.String,  # every credit, as x_Credits shows them (`_credits_json`)
        "netted_json": pl.String,  # the netted ones
        "commitment_json": pl.String,  # those of the first CUD credit's type (a split row's committed part)
        "other_netted_json": pl.String,  # the other netted ones (its on-demand part)
        "sum": MONEY,  # Σ amount: 0 without credits, null when unreadable
        "netted_sum": MONEY,
        "separate": pl.List(_SEPARATE_CREDIT),  # the credits that become Credit rows of their own
        "commitment": _CREDIT,  # the first committed use discount credit
        "commitment_discount": MONEY,  # −Σ those credits: the on-demand cost of the covered usage
        "spend_commitment": pl.String,  # a legacy spend-based CUD credit's commitment ("spend-based/GCE")
        "fee_offset": MONEY,  # Σ FEE_UTILIZATION_OFFSET credits: 0 without, null when unreadable
        "unusable": pl.Boolean,  # not a list of records, or a credit without an amount
        "problem": pl.String,
    }
)


def _credit_values_of_text(text: pl.Expr) -> pl.Expr:
    """`credits` as text (a CSV export) → struct `_CREDIT_VALUES`; computed once per distinct cell (`_typed`):
    rows without credits all share "[]", and a resource's rows often repeat theirs."""
    cell = pl.struct(text.alias("text"), parse_record_list(text, RECORD_FIELDS[Kind.CREDITS]).alias("credits"))
    return reading_once(
        cell, lambda c: _credits_summary(c.struct.field("credits"), c.struct.field("text")), _CREDIT_VALUES
    )


def _credits_summary(credits: pl.Expr, text: pl.Expr | None) -> pl.Expr:
    """The `_CREDIT_VALUES` of parsed credits (`text`: the cell they were parsed from, if text)."""
    credit = pl.element().struct.field
    problems = [pl.when(credits_without_amount(credits)).then(pl.lit("credits: a credit has no amount"))]
    if text is not None:
        problems.insert(0, _unparsed("credits", credits, "a list of records", text=text))
    unusable = credits_unreadable(credits, text)
    netted_type = credit("type").is_in(list(NETTED_CREDITS)).fill_null(False)
    netted = credits.list.eval(pl.element().filter(netted_type))

    def total(records: pl.Expr) -> pl.Expr:
        return credits_amount(records, unusable)

    # (list.eval, not list.agg: polars 2.1 panics taking a struct out of a null list with list.agg.)
    commitment = credits.list.eval(pl.element().filter(credit("type").is_in(list(COMMITMENT_CREDITS)))).list.first()
    # The row's commitment credits: those of its first one's type (a row is amortised under one commitment).
    spend = commitment.struct.field("type") == SPEND_COMMITMENT

    def of_commitment(of_type: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
        return (
            pl.when(spend)
            .then(of_type(credit("type") == SPEND_COMMITMENT))
            .otherwise(of_type(credit("type") == RESOURCE_COMMITMENT))
        )

    return pl.struct(
        _credits_json(credits).alias("all_json"),
        _credits_json(netted).alias("netted_json"),
        of_commitment(lambda its: _credits_json(credits.list.eval(pl.element().filter(its)))).alias("commitment_json"),
        of_commitment(lambda its: _credits_json(netted.list.eval(pl.element().filter(~its)))).alias(
            "other_netted_json"
        ),
        total(credits).alias("sum"),
        total(netted).alias("netted_sum"),
        credits.list.eval(pl.element().filter(~netted_type))
        .list.eval(pl.element().struct.with_fields(json=_credits_json(pl.concat_list(pl.element()))))
        .alias("separate"),
        commitment.alias("commitment"),
        of_commitment(lambda its: -credits.list.agg(credit("amount").filter(its).sum()))
        .cast(MONEY)
        .alias("commitment_discount"),
        _legacy_spend_commitment_id(
            pl.when(spend)
            .then(pl.coalesce(commitment.struct.field("full_name"), commitment.struct.field("name")))
            .str.extract(LEGACY_SPEND_CREDIT, 1)
        ).alias("spend_commitment"),
        total(credits.list.eval(pl.element().filter(credit("type") == FEE_OFFSET))).alias("fee_offset"),
        unusable.alias("unusable"),
        join_reasons(problems).alias("problem"),
    )


def _credit_columns() -> dict[str, pl.Expr]:
    values = pl.col("credits").struct.field
    return {
        _CREDIT_SUM: values("sum"),
        _NETTED_SUM: values("netted_sum"),
        _SEPARATE: values("separate"),
        _COMMITMENT: values("commitment"),
        _CREDITS_UNUSABLE: values("unusable"),
        _FEE_OFFSET: values("fee_offset"),
    }


def _spend_commitment_columns() -> dict[str, pl.Expr]:
    """Which rows are a spend-based commitment's fee (`_SPEND_FEE`) or its covered usage (`_SPEND_USED`) in
    Google's consumption-model data, and the commitment (`_SPEND_COMMITMENT`). A fee is a known fee SKU, or a
    row of a subscription offset by FEE_UTILIZATION_OFFSET; covered usage is priced under a CUD's consumption
    model (one listed, or any but Default on a subscription's row). The commitment is the subscription
    (detailed export); the standard export has none, so there it is the product's ("spend-based/<product>").
    (Resource-based commitments and legacy spend-based ones are known by their credits instead.)"""
    subscription = pl.col("subscription.instance_id")
    model = pl.col("consumption_model.id")
    fee_commitment = lookup(pl.col("sku.id"), FEE_SKU_COMMITMENTS)
    used_commitment = lookup(model, CONSUMPTION_MODEL_COMMITMENTS)
    regular = (pl.col(_COST_TYPE) == "regular") & pl.col(_COMMITMENT).is_null() & _cost.is_not_null()
    offset = subscription.is_not_null() & (pl.col(_FEE_OFFSET) != 0)
    fee = (regular & ~pl.col(_SKU).struct.field("commitment_fee") & (fee_commitment.is_not_null() | offset)).fill_null(
        False
    )
    other_model = subscription.is_not_null() & (model != DEFAULT_CONSUMPTION_MODEL)
    used = (regular & ~fee & (used_commitment.is_not_null() | other_model)).fill_null(False)
    return {
        _SPEND_FEE: fee,
        _SPEND_USED: used,
        _SPEND_COMMITMENT: pl.coalesce(subscription, pl.when(fee).then(fee_commitment).otherwise(used_commitment)),
    }


def _charge_category() -> pl.Expr:
    cost_type = pl.col(_COST_TYPE)
    # A row that carries only credits (no cost, no usage) is an after-the-fact reduction: FOCUS's Credit.
    usage = pl.col("usage.amount").fill_null(0)
    pure_credit = (_cost == 0) & (pl.col(_CREDIT_SUM).fill_null(0) != 0) & (usage == 0) & (cost_type != "tax")
    # The recurring fee of a commitment: FOCUS's Purchase (amortised, see the docstring).
    sku = pl.col(_SKU).struct.field
    # (A legacy spend-based fee is known by its SKU alone: the standard export has no subscription.)
    resource_or_legacy_spend_fee = (pl.col("subscription.instance_id").is_not_null() & sku("commitment_fee")) | sku(
        "spend_commitment"
    ).is_not_null()
    fee = (
        (cost_type == "regular")
        & resource_or_legacy_spend_fee.fill_null(False)
        & pl.col(_COMMITMENT).is_null()
        & _cost.is_not_null()
    ) | pl.col(_SPEND_FEE)
    return (
        pl.when(pure_credit & cost_type.is_in(list(COST_TYPES)))
        .then(pl.lit("Credit"))
        .when(fee)
        .then(pl.lit("Purchase"))
        .otherwise(lookup(cost_type, COST_TYPES))
    )


def _legacy_spend_commitment_id(product: pl.Expr) -> pl.Expr:
    """The CommitmentDiscountId of a product's legacy spend-based commitments ("GCE" → "spend-based/GCE"): the
    product is all that ties their fee to the usage it covered, so they are one commitment per product."""
    return pl.lit("spend-based/") + product


def _commitment_columns() -> dict[str, pl.Expr]:
    """Which commitment a row buys (fee) or uses (credit), the quantity it used, and the pool (commitment,
    charge period, unit) its fee is amortised over.

    Quantities: a resource-based commitment's in its pricing unit; a legacy spend-based one's in on-demand
    spend in the billing currency (the fee's units are cents of US dollars, a credit is minus the on-demand
    cost it covered)."""
    commitment = pl.col(_COMMITMENT).struct.field
    fee = _category == "Purchase"
    covered = (_category == "Usage") & pl.col(_COMMITMENT).is_not_null()
    spend_used = (_category == "Usage") & pl.col(_SPEND_USED)
    legacy_fee_commitment = pl.col(_SKU).struct.field("spend_commitment")
    legacy_fee = fee & legacy_fee_commitment.is_not_null() & ~pl.col(_SPEND_FEE)
    legacy_covered = covered & (commitment("type") == SPEND_COMMITMENT)
    legacy_covered_commitment = pl.col("credits").struct.field("spend_commitment")
    discount = pl.col("credits").struct.field("commitment_discount")
    pricing = pl.col("usage.amount_in_pricing_units")
    covered_share = pl.min_horizontal(pricing, decimal_product(pricing, discount, divided_by=_cost))
    gpu = pl.when(pl.col(_SKU).struct.field("gpu")).then(pl.lit(" (gpu)")).otherwise(pl.lit(""))
    return {
        _FEE: fee,
        _COMMITMENT_ID: pl.when(legacy_fee)
        .then(legacy_fee_commitment)
        .when(fee & pl.col(_SPEND_FEE))
        .then(pl.col(_SPEND_COMMITMENT))
        .when(fee)
        .then(pl.col("subscription.instance_id"))
        .when(legacy_covered & legacy_covered_commitment.is_not_null())
        .then(legacy_covered_commitment)
        .when(covered)
        .then(pl.coalesce("subscription.instance_id", commitment("id"), commitment("name")))
        .when(spend_used)
        .then(pl.col(_SPEND_COMMITMENT)),
        # Resource-based: the covered part of the pricing quantity (all of it if cost is 0); legacy
        # spend-based: the on-demand cost covered.
        _COVERED: pl.when(legacy_covered)
        .then(discount)
        .when(covered & (commitment("type") == RESOURCE_COMMITMENT))
        .then(pl.when(_cost != 0).then(covered_share).otherwise(pricing)),
        _LEGACY_SPEND: legacy_fee | legacy_covered,
        _POOL: pl.when(legacy_fee | legacy_covered).then(pl.lit("spend")).otherwise(pl.concat_str(pl.col(_UNIT), gpu)),
    }


_TAG_INPUTS = ("labels", "system_labels", "project.labels", "tags")
# The export columns the commitment pools are computed from (see `_commitment_shares`).
_COMMITMENT_INPUTS = (
    "cost",
    "credits",
    "cost_type",
    "usage.amount",
    "usage.amount_in_pricing_units",
    "usage.pricing_unit",
    "usage_start_time",
    "subscription.instance_id",
    "sku.id",
    "sku.description",
    "consumption_model.id",
    "currency_conversion_rate",
)


def _committed_quantity() -> pl.Expr:
    """A fee row's committed quantity, in its pool's terms: resource-based, its pricing quantity; legacy
    spend-based, its units (cents of on-demand US dollars) in the billing currency."""
    pricing = pl.col("usage.amount_in_pricing_units")
    in_currency = decimal_product(
        pricing, pl.col("currency_conversion_rate"), divided_by=pl.lit(LEGACY_SPEND_UNITS_PER_CURRENCY)
    )
    return pl.when(pl.col(_LEGACY_SPEND)).then(in_currency).otherwise(pricing)


def _commitment_shares(rows: pl.LazyFrame) -> pl.LazyFrame:
    """`_SHARE` (the fee amortised onto a covered row) and, on the first fee row of each pool, the unused
    fee `_UNUSED_COST`, quantity `_UNUSED_QUANTITY` and pricing quantity `_UNUSED_PRICING` (null elsewhere,
    and where nothing is unused); the committed quantity `_COMMITTED` of every fee row, `_COVERED_PRICING` of
    legacy spend-based covered usage, `_MOVED` (`_spend_commitment_moves`), and `_SPEND_FEE`, `_SPEND_USED`,
    `_SPEND_COMMITMENT` of consumption-model commitment rows (`_spend_commitment_columns`). A spend-based fee row in
    consumption-model data is its own pool's only Unused row: its cost less its offset.

    Per pool (commitment id, usage_start_time, pricing unit): fee F and committed quantity Q from the fee
    rows, covered quantity C = Σ covered; each covered row gets covered × F / max(Q, C), the Unused row
    F − Σ those shares (exactly, so the pool's Σ EffectiveCost is F) and quantity max(Q − C, 0).

    Returns those columns by row index (`_ROW`), only for covered and fee rows that get one, to be joined to
    the charges (values only these few rows need are worked out here, not on every row of the wide plan).
    `rows` are `_commitment_rows`; the pool sums are window sums over them (a pool's key joins as a join
    would: not when a part of it is null), meant for the in-memory engine. Deriving them from the charges
    themselves made polars cache the whole wide frame (a lazy frame used twice in one plan is materialised),
    and joining the pools to the wide frame took two more joins of it.
    """
    is_fee, is_covered = pl.col(_FEE), pl.col(_COVERED).is_not_null()
    # Pool values are columns of their own, each worked out once: an expression that reads a window sum in
    # several places computes it again in each (`decimal_product` reads each factor three times).
    joinable, fee_cost, fee_quantity = "__joinable", "__pool_fee", "__pool_committed"
    covered_total, capacity, is_first_fee = "__pool_covered", "__pool_capacity", "__first_fee"
    # A pool is keyed by its fee rows; covered rows join it only when no key part is null (a join's rule).
    pool_values = {
        joinable: is_fee.any().over(_POOL_ID) & pl.all_horizontal(pl.col(c).is_not_null() for c in _POOL_KEY),
        fee_cost: _cost.filter(is_fee).sum().cast(MONEY).over(_POOL_ID),
        fee_quantity: pl.col(_COMMITTED).filter(is_fee).sum().cast(MONEY).over(_POOL_ID),
        is_first_fee: is_fee & (pl.col(_ROW) == pl.col(_ROW).filter(is_fee).min().over(_POOL_ID)),
    }
    covered_in_pool = pl.col(_COVERED).sum().cast(MONEY).over(_POOL_ID)
    share = pl.when(is_covered & pl.col(joinable) & (pl.col(capacity) > 0)).then(
        decimal_product(pl.col(_COVERED), pl.col(fee_cost), divided_by=pl.col(capacity))
    )
    unused_cost = pl.when(is_first_fee).then((pl.col(fee_cost) - pl.col(_SHARE).sum().over(_POOL_ID)).cast(MONEY))
    unused_quantity = pl.max_horizontal(pl.col(fee_quantity) - pl.col(covered_total), pl.lit(0)).cast(MONEY)
    pricing = pl.col("usage.amount_in_pricing_units")
    spend_fee, spend_used = _spend_commitment_pools()
    any_spend_fee = pl.col(_ANY_SPEND_FEE)  # consumption-model data: its own pool, what its offsets leave unused
    spend_fee_unused = pl.when(_cost + pl.col(_NETTED_SUM) != 0).then(_cost + pl.col(_NETTED_SUM))
    # Windows over one integer per pool: grouping by the key columns themselves (text, time) costs more in
    # each of the dozen windows than numbering the pools once.
    rows = (
        rows.with_columns(
            pl.struct(_POOL_KEY).rank("dense").alias(_POOL_ID),
            pl.struct(_SPEND_POOL).rank("dense").alias(_SPEND_POOL_ID),
        )
        # A spend-based commitment's fee and covered rows count as such only in a pool that has both.
        .with_columns(
            pl.col(_SPEND_FEE).alias("__raw_spend_fee"),
            pl.col(_SPEND_USED).alias("__raw_spend_used"),
            spend_fee.alias(_SPEND_FEE),
            spend_used.alias(_SPEND_USED),
        )
    )
    unused = (
        rows.with_columns(**pool_values)
        .with_columns(pl.when(pl.col(joinable)).then(covered_in_pool).otherwise(pl.lit(0, MONEY)).alias(covered_total))
        .with_columns(pl.max_horizontal(fee_quantity, covered_total).alias(capacity))
        .with_columns(share.alias(_SHARE))
        .pipe(_spend_commitment_moves)
        .with_columns(
            pl.when(any_spend_fee).then(spend_fee_unused).otherwise(unused_cost).alias(_UNUSED_COST),
            pl.when(any_spend_fee)
            .then(spend_fee_unused)
            .otherwise(pl.when(is_first_fee).then(unused_quantity))
            .alias(_UNUSED_QUANTITY),
        )
        .with_columns(
            pl.when(pl.col(_UNUSED_COST) != 0).then(pl.col(c)).alias(c) for c in (_UNUSED_COST, _UNUSED_QUANTITY)
        )
    )
    # Pricing quantities only these rows need: the Unused row's (spend-based: the fee row's pricing units of
    # the unused cost) and a legacy spend-based split row's committed part's.
    spend = pl.col(_LEGACY_SPEND) | any_spend_fee
    return unused.select(
        _ROW,
        _SHARE,
        _UNUSED_COST,
        _UNUSED_QUANTITY,
        pl.when(pl.col(_UNUSED_COST).is_not_null())
        .then(
            pl.when(spend)
            .then(decimal_product(pricing, pl.col(_UNUSED_COST), divided_by=_cost))
            .otherwise(pl.col(_UNUSED_QUANTITY))
        )
        .alias(_UNUSED_PRICING),
        pl.when(pl.col(_FEE)).then(pl.col(_COMMITTED)).alias(_COMMITTED),
        pl.when(is_covered & pl.col(_LEGACY_SPEND))
        .then(decimal_product(pricing, pl.col(_COVERED), divided_by=_cost))
        .alias(_COVERED_PRICING),
        _MOVED,
        pl.when("__raw_spend_fee").then(True).alias(_SPEND_FEE),
        pl.when("__raw_spend_used").then(True).alias(_SPEND_USED),
        _SPEND_COMMITMENT,
    ).filter(
        pl.any_horizontal(
            pl.col(c).is_not_null()
            for c in (_SHARE, _UNUSED_COST, _COMMITTED, _COVERED_PRICING, _MOVED, _SPEND_FEE, _SPEND_USED)
        )
    )


_POOL_KEY = [_COMMITMENT_ID, "usage_start_time", _POOL]
_SPEND_POOL = [_COMMITMENT_ID, "usage_start_time"]
_ANY_SPEND_FEE = "__any_spend_fee"  # a consumption-model spend-based commitment's fee row (Purchase)
_POOL_ID = "__pool_id"  # a number per pool of resource-based and legacy spend-based commitments
_SPEND_POOL_ID = "__spend_pool_id"  # a number per `_SPEND_POOL`


def _spend_commitment_pools() -> tuple[pl.Expr, pl.Expr]:
    """The fee rows and the covered usage rows of spend-based commitment pools (commitment id, charge hour)
    that have both: covered usage of a commitment whose fee is not in the export keeps its own bill."""
    placed = pl.col(_COMMITMENT_ID).is_not_null() & pl.col("usage_start_time").is_not_null()
    fee = (pl.col(_SPEND_FEE) & (_category == "Purchase") & placed).fill_null(False)
    used = (pl.col(_SPEND_USED) & (_category == "Usage") & placed).fill_null(False)
    has_fee = fee.any().over(_SPEND_POOL_ID)
    return fee & used.any().over(_SPEND_POOL_ID), used & has_fee


def _spend_commitment_moves(rows: pl.LazyFrame) -> pl.LazyFrame:
    """`_MOVED`: what moves between the BilledCost of a spend-based commitment's rows, per pool.

    Google bills covered usage U at the commitment's discounted price and each fee row its fee F minus the
    FEE_UTILIZATION_OFFSET O of the usage it paid for; FOCUS bills the commitment (its Purchase rows) and
    covered usage 0 (DiscountHandling-A-009-C). So each covered row's cost moves to the pool's fee rows, shared
    by their offsets (by their fees when none has one), the rounding rest on the first: Σ BilledCost of the
    pool stays Σ cost + Σ credits to the last digit, and a fee row's BilledCost becomes F + O + its share of U
    (F when its offset equals the usage it paid for)."""
    fee, used = pl.col(_SPEND_FEE), pl.col(_SPEND_USED)
    usage_cost = _cost.filter(used).sum().cast(MONEY).over(_SPEND_POOL_ID)
    offsets = pl.col(_FEE_OFFSET).filter(fee).sum().over(_SPEND_POOL_ID)
    weight = pl.when(offsets != 0).then(-pl.col(_FEE_OFFSET)).otherwise(_cost)
    # The weight is a column before its pool sum: a window inside a window's aggregation is evaluated group by
    # group (0.7 s of the side table's 2.3 s on 2M rows).
    weighted = (
        rows.with_columns(usage_cost.alias("__usage_cost"), weight.alias("__weight"))
        .with_columns(pl.col("__weight").filter(fee).sum().over(_SPEND_POOL_ID).alias("__weights"))
        .with_columns(
            pl.when(fee)
            .then(
                decimal_product(pl.col("__usage_cost"), pl.col("__weight"), divided_by=pl.col("__weights")).fill_null(0)
            )
            .alias("__moved")
        )
    )
    first = fee & (pl.col(_ROW) == pl.col(_ROW).filter(fee).min().over(_SPEND_POOL_ID))
    rest = pl.col("__usage_cost") - pl.col("__moved").filter(fee).sum().over(_SPEND_POOL_ID)
    moved = pl.when(used).then(-_cost).when(first).then(pl.col("__moved") + rest).when(fee).then(pl.col("__moved"))
    return weighted.with_columns(moved.cast(MONEY).alias(_MOVED)).drop(
        "__usage_cost", "__weight", "__weights", "__moved"
    )


def _service_and_region() -> dict[str, pl.Expr]:
    """Service category and subcategory by service description, region name by region: small fixed tables,
    looked up by enum index (streams, and does not move the other columns as a join would)."""
    service = pl.col("service.description")
    return {
        "ServiceCategory": lookup(service, {name: c for name, (c, _) in SERVICE_CATEGORIES.items()}),
        "ServiceSubcategory": lookup(service, {name: s for name, (_, s) in SERVICE_CATEGORIES.items()}),
        "RegionName": lookup(pl.col("location.region"), REGION_NAMES),
    }


def _with_list_prices(charges: pl.LazyFrame, list_prices: pl.DataFrame | None) -> pl.LazyFrame:
    """The catalog price columns by sku.id (a join with the price table; null columns when there is none)."""
    table = _list_price_table(list_prices)
    if list_prices is None or list_prices.is_empty():
        columns = table.collect_schema()
        return charges.with_columns(pl.lit(None, dtype=d).alias(c) for c, d in columns.items() if c != "sku.id")
    return charges.join(table, on="sku.id", how="left", maintain_order="left")


def _list_price_table(list_prices: pl.DataFrame | None) -> pl.LazyFrame:
    schema = {"sku.id": pl.String, _LIST_PRICE: MONEY, _LIST_UNIT: pl.String, _LIST_CURRENCY: pl.String}
    if list_prices is None or list_prices.is_empty():
        return pl.LazyFrame(schema=schema)
    optional = {"pricing_unit": _LIST_UNIT, "currency": _LIST_CURRENCY}
    return (
        list_prices.lazy()
        .select(
            pl.col("sku_id").cast(pl.String).alias("sku.id"),
            pl.col("unit_price").cast(MONEY).alias(_LIST_PRICE),
            *[
                (pl.col(c) if c in list_prices.columns else pl.lit(None)).cast(pl.String).alias(alias)
                for c, alias in optional.items()
            ],
        )
        .with_columns(_normalised(pl.col(_LIST_UNIT)))  # compared with the row's normalised `_UNIT`
        .unique("sku.id", keep="first", maintain_order=True)
    )


# --- Stage 3: one expression per FOCUS column ---------------------------------------------------------------


def _focus_columns(source_name: str) -> dict[str, pl.Expr]:
    is_usage, is_tax, is_credit = _category == "Usage", _category == "Tax", _category == "Credit"
    is_purchase = pl.col(_FEE)
    priced = is_usage | is_purchase
    commitment = pl.col(_COMMITMENT).struct.field
    by_credit = is_usage & pl.col(_COMMITMENT).is_not_null()  # resource-based, or legacy spend-based
    spend_used, spend_fee = is_usage & pl.col(_SPEND_USED), is_purchase & pl.col(_SPEND_FEE)
    legacy_spend = pl.col(_LEGACY_SPEND)  # a legacy spend-based fee or its covered usage
    legacy_spend_fee = is_purchase & legacy_spend
    committed = by_credit | spend_used
    # Spend-based commitments are counted in the billing currency.
    in_currency = legacy_spend | spend_used | spend_fee
    # Netted credits are part of the row's bill; a pure credit row bills all of its credits. A spend-based
    # commitment's covered usage is billed by its fee rows (`_spend_commitment_moves`).
    billed = pl.when(is_credit).then(_cost + pl.col(_CREDIT_SUM))
    billed = billed.otherwise(_cost + pl.col(_NETTED_SUM).fill_null(0) + pl.col(_MOVED).fill_null(0))
    period = pl.col(_PERIOD).struct.field
    usage_start = pl.col("usage_start_time")
    consumed = pl.when(is_usage).then(pl.col("usage.amount"))
    list_unit_price = _list_unit_price()
    catalog_list_cost = decimal_product(list_unit_price, pl.col("usage.amount_in_pricing_units"))
    # The project id; a project number identifies it as uniquely (the oldest file exports have only that,
    # and no name: the id is then the name too, as FOCUS wants one wherever there is an id).
    project = pl.coalesce("project.id", "project.number")
    return {
        "AvailabilityZone": pl.col("location.zone"),
        "BilledCost": billed,
        "BillingAccountId": pl.col("billing_account_id"),
        "BillingAccountName": pl.lit(None),  # not in the export
        "BillingAccountType": pl.when(pl.col("billing_account_id").is_not_null()).then(pl.lit("Billing Account")),
        "BillingCurrency": pl.col("currency"),
        "BillingPeriodEnd": period("end"),
        "BillingPeriodStart": period("start"),
        "CapacityReservationId": pl.lit(None),
        "CapacityReservationStatus": pl.lit(None),
        "ChargeCategory": _category,
        "ChargeClass": pl.when(
            pl.any_horizontal(pl.col(c).is_not_null() for c in EXPORT_COLUMNS if c.startswith("adjustment_info."))
        ).then(pl.lit("Correction")),
        "ChargeDescription": pl.col("sku.description"),
        "ChargeFrequency": pl.when(is_usage)
        .then(pl.lit("Usage-Based"))
        .when(is_purchase)
        .then(pl.lit("Recurring"))
        .when(_category.is_not_null())
        .then(pl.lit("One-Time")),
        "ChargePeriodEnd": pl.col("usage_end_time"),
        "ChargePeriodStart": usage_start,
        "CommitmentDiscountCategory": pl.when(by_credit)
        .then(lookup(commitment("type"), COMMITMENT_CREDITS))
        .when(spend_used | spend_fee | legacy_spend_fee)
        .then(pl.lit("Spend"))
        .when(is_purchase)
        .then(pl.lit("Usage")),
        "CommitmentDiscountId": pl.col(_COMMITMENT_ID),
        "CommitmentDiscountName": pl.when(by_credit)
        .then(pl.coalesce(commitment("full_name"), commitment("name")))
        .when(spend_used)
        .then(pl.col("consumption_model.description"))
        .when(is_purchase)
        .then(pl.coalesce("resource.name", "sku.description")),
        # Used: the covered quantity; Purchase: the committed quantity of the charge period (spend-based, as
        # Google's consumption-model data counts it: the discounted cost and fee; legacy: on-demand spend).
        "CommitmentDiscountQuantity": pl.when(spend_used | spend_fee)
        .then(_cost)
        .when(committed)
        .then(pl.col(_COVERED))
        .when(is_purchase)
        .then(pl.col(_COMMITTED)),
        "CommitmentDiscountStatus": pl.when(committed).then(pl.lit("Used")),
        "CommitmentDiscountType": pl.when(by_credit)
        .then(commitment("type"))
        .when(spend_used | spend_fee)
        .then(pl.lit(SPEND_BASED_COMMITMENT))
        .when(legacy_spend_fee)
        .then(pl.lit(SPEND_COMMITMENT))
        .when(is_purchase)
        .then(pl.lit(RESOURCE_COMMITMENT)),
        "CommitmentDiscountUnit": pl.when(in_currency)
        .then(pl.col("currency"))
        .when(committed | is_purchase)
        .then(pl.col("usage.pricing_unit")),
        "ConsumedQuantity": consumed,
        "ConsumedUnit": pl.when(consumed.is_not_null()).then(pl.col("usage.unit")),
        # At the negotiated on-demand price: a spend-based commitment's covered usage costs less (its discount).
        "ContractedCost": pl.when(is_credit)
        .then(billed)
        .otherwise(pl.coalesce("cost_at_effective_price_default", _cost)),
        "ContractedUnitPrice": pl.when(priced).then(
            pl.coalesce("price.effective_price_default", "price.effective_price")
        ),
        # Credits netted here (null when unreadable) plus the amortised commitment fee; a Purchase's is 0.
        "EffectiveCost": pl.when(is_credit)
        .then(billed)
        .when(is_purchase)
        .then(pl.lit(0, MONEY))
        .otherwise(_cost + pl.col(_NETTED_SUM) + pl.col(_SHARE).fill_null(0)),
        "InvoiceId": pl.col("invoice.id"),
        "InvoiceIssuerName": pl.lit(INVOICE_ISSUER),
        "ListCost": pl.when(priced)
        .then(pl.coalesce(pl.col("cost_at_list"), catalog_list_cost, _cost))
        .when(is_credit)
        .then(billed)
        .otherwise(pl.coalesce("cost_at_list", _cost)),
        "ListUnitPrice": pl.when(priced).then(list_unit_price),
        "PricingCategory": pl.when(committed)
        .then(pl.lit("Committed"))
        .when(is_purchase)
        .then(pl.lit("Standard"))
        .when(is_usage & pl.col(_SKU).struct.field("spot"))
        .then(pl.lit("Dynamic"))
        .when(is_usage)
        .then(pl.lit("Standard")),
        "PricingCurrency": pl.lit(None),
        "PricingCurrencyContractedUnitPrice": pl.lit(None),
        "PricingCurrencyEffectiveCost": pl.lit(None),
        "PricingCurrencyListUnitPrice": pl.lit(None),
        "PricingQuantity": pl.when(~is_tax).then(pl.col("usage.amount_in_pricing_units")),
        "PricingUnit": pl.when(~is_tax).then(pl.col("usage.pricing_unit")),
        "ProviderName": pl.lit(PROVIDER),
        # Marketplace: Google resells (or acts as agent for) a third party, who published the product.
        "PublisherName": pl.when(pl.col("transaction_type").str.starts_with("THIRD_PARTY"))
        .then(pl.coalesce("seller_name", pl.lit(PROVIDER)))
        .otherwise(pl.lit(PROVIDER)),
        "RegionId": pl.col("location.region"),
        "RegionName": pl.col("RegionName"),
        # A commitment's Purchase (and Unused) rows: the commitment (DiscountHandling-A-019-C) if no resource.
        "ResourceId": pl.when(is_purchase)
        .then(pl.coalesce("resource.global_name", _COMMITMENT_ID))
        .otherwise(pl.col("resource.global_name")),
        "ResourceName": pl.col("resource.name"),
        "ResourceType": _resource_type(pl.col("resource.global_name")),
        "ServiceCategory": pl.col("ServiceCategory").fill_null(DEFAULT[0]),
        "ServiceName": pl.col("service.description"),
        "ServiceSubcategory": pl.col("ServiceSubcategory").fill_null(DEFAULT[1]),
        "SkuId": pl.when(~is_tax).then(pl.col("sku.id")),
        "SkuMeter": pl.lit(None),
        "SkuPriceDetails": pl.lit(None),
        "SkuPriceId": pl.when(~is_tax).then(pl.col("sku.id")),
        "SubAccountId": project,
        "SubAccountName": pl.coalesce(pl.col("project.name"), project),
        "SubAccountType": pl.when(project.is_not_null()).then(pl.lit("Project")),
        "Tags": pl.col(_TAGS).struct.field("Tags"),
        "x_SourceName": pl.lit(source_name),
        "x_SourceFile": pl.col(SOURCE_FILE),
        "x_SourceRowNumber": pl.col(SOURCE_ROW),
        "x_IngestedAt": pl.lit(None),
        "x_RunId": pl.lit(None),
        # The day partition; a row whose usage start does not parse still lands in its billing period.
        "x_ChargeDay": pl.coalesce(usage_start.dt.date(), period("first_day")),
    }


def _derived_credits() -> pl.Expr:
    """The credits that become Credit rows of their own: the separate ones, on a charge (not itself a Credit
    row) whose cost and credits parse."""
    derive = (_category != "Credit") & _cost.is_not_null() & ~pl.col(_CREDITS_UNUSABLE)
    separate = pl.col(_SEPARATE)
    return pl.when(derive).then(separate).otherwise(separate.list.head(0))


def _credit_row_overrides() -> dict[str, pl.Expr]:
    """A derived Credit row: its charge's row with these columns replaced (`_ROW_CREDIT`: its credit)."""
    credit = pl.col(_ROW_CREDIT).struct.field
    amount = credit("amount")
    nothing = pl.lit(None)
    return {
        "BilledCost": amount,
        "EffectiveCost": amount,  # FOCUS: a Credit's EffectiveCost is its BilledCost
        "ListCost": amount,
        "ContractedCost": amount,
        "ChargeCategory": pl.lit("Credit"),
        "ChargeFrequency": pl.lit("One-Time"),
        "ChargeDescription": pl.coalesce(credit("full_name"), credit("name"), pl.col("ChargeDescription")),
        **dict.fromkeys(_NOT_ON_DERIVED_CREDITS, nothing),
        CREDITS_COLUMN: credit("json"),
    }


# The columns a split row's two parts divide between them (see `_committed_part`).
_SPLIT_AMOUNTS = ("BilledCost", "EffectiveCost", "ContractedCost", "ListCost", "PricingQuantity", "ConsumedQuantity")
_COMMITMENT_DETAILS = tuple(c for c in _NOT_ON_DERIVED_CREDITS if c.startswith("CommitmentDiscount"))


def _committed_part(columns: dict[str, pl.Expr]) -> pl.Expr:
    """For usage only partly covered by a commitment (−CUD credit d < cost c): the committed
    part's amounts (`_SPLIT_AMOUNTS`, its x_Credits, and the on-demand part's PricingCategory); null for
    every other row.

    FOCUS prices a row one way: Google's row is c of on-demand usage of which the part worth d ran on the
    commitment. Split, the committed part is quantity × d/c at contracted cost d, billed d − d = 0 (its CUD
    credit), effective = its share of the fee; the on-demand part is the rest of every amount (row − part,
    so the two add up to the row exactly) with the row's other netted credits, e.g. sustained use."""
    values = pl.col("credits").struct.field
    discount, pricing = values("commitment_discount"), pl.col("usage.amount_in_pricing_units")
    resource = pl.col(_COMMITMENT).struct.field("type") == RESOURCE_COMMITMENT
    partly = (
        (_category == "Usage")
        & pl.col(_COMMITMENT).is_not_null()
        & ~pl.col(_CREDITS_UNUSABLE)
        & (_cost > 0)
        & (discount > 0)
        & (discount < _cost)
        & (~resource | (pl.col(_COVERED) < pricing))
    ).fill_null(False)
    fraction = decimal_product(discount, divided_by=pl.when(_cost > 0).then(_cost))
    spot = pl.col(_SKU).struct.field("spot").fill_null(False)
    return pl.when(partly).then(
        pl.struct(
            pl.lit(0, MONEY).alias("BilledCost"),
            pl.col(_SHARE).fill_null(0).cast(MONEY).alias("EffectiveCost"),
            discount.cast(MONEY).alias("ContractedCost"),
            decimal_product(columns["ListCost"], fraction).alias("ListCost"),
            pl.when(resource)
            .then(pl.col(_COVERED))
            .otherwise(pl.col(_COVERED_PRICING))
            .cast(MONEY)
            .alias("PricingQuantity"),
            decimal_product(columns["ConsumedQuantity"], fraction).alias("ConsumedQuantity"),
            values("commitment_json").alias(CREDITS_COLUMN),
            values("other_netted_json").alias("on_demand_credits"),
            pl.when(spot).then(pl.lit("Dynamic")).otherwise(pl.lit("Standard")).alias("on_demand_category"),
        )
    )


def _committed_part_overrides() -> dict[str, pl.Expr]:
    part = pl.col(_PART).struct.field
    return {name: part(name) for name in (*_SPLIT_AMOUNTS, CREDITS_COLUMN)}


def _on_demand_part_overrides() -> dict[str, pl.Expr]:
    """The on-demand part of a split row: the row minus its committed part, priced on demand."""
    part = pl.col(_PART).struct.field
    return {
        **{name: pl.col(name) - part(name) for name in _SPLIT_AMOUNTS},
        "PricingCategory": part("on_demand_category"),
        **dict.fromkeys(_COMMITMENT_DETAILS, pl.lit(None)),
        CREDITS_COLUMN: part("on_demand_credits"),
    }


def _unused_row_overrides() -> dict[str, pl.Expr]:
    """The Unused row of a commitment fee (FOCUS's idle commitment: Usage, status Unused), as replacements of
    its fee row's columns."""
    nothing = pl.lit(None)
    return {
        "BilledCost": pl.lit(0, MONEY),  # billed by the fee row
        "EffectiveCost": pl.col(_UNUSED_COST),
        "ListCost": pl.lit(0, MONEY),  # no public price for idle commitment capacity
        "ContractedCost": pl.lit(0, MONEY),
        "ChargeCategory": pl.lit("Usage"),
        "ChargeFrequency": pl.lit("Usage-Based"),
        "ChargeDescription": pl.concat_str(pl.lit("Unused "), pl.col("sku.description")),
        "CommitmentDiscountStatus": pl.lit("Unused"),
        "CommitmentDiscountQuantity": pl.col(_UNUSED_QUANTITY),
        "PricingCategory": pl.lit("Committed"),
        "PricingQuantity": pl.col(_UNUSED_PRICING),
        "ListUnitPrice": nothing,
        "ContractedUnitPrice": nothing,
        "ConsumedQuantity": nothing,
        "ConsumedUnit": nothing,
        CREDITS_COLUMN: nothing,
    }


def _resource_type(global_name: pl.Expr) -> pl.Expr:
    """`//compute.googleapis.com/projects/p/zones/z/instances/123` → "instances" (the resource's collection);
    null when the name is not `//<service>/<path>/<collection>/<id>`. (Two simple regexes: one with a repeated
    group is several times slower.)"""
    full_name = global_name.str.contains(r"^//[^/]+/[^/]+/")
    return pl.when(full_name).then(global_name.str.extract(r"/([^/]+)/[^/]+$", 1))


def _list_unit_price() -> pl.Expr:
    """The catalog price in the billing currency, when its unit is the row's pricing unit."""
    same_unit = pl.col(_LIST_UNIT).is_null() | pl.col(_UNIT).is_null() | (pl.col(_LIST_UNIT) == pl.col(_UNIT))
    currency = pl.col(_LIST_CURRENCY)
    in_billing_currency = (
        pl.when(currency.is_null() | (currency == pl.col("currency")))
        .then(pl.col(_LIST_PRICE))
        .when(currency == "USD")
        .then(decimal_product(pl.col(_LIST_PRICE), pl.col("currency_conversion_rate")))
    )
    return pl.when(same_unit).then(in_billing_currency.cast(MONEY))


def _credits_json(credits: pl.Expr) -> pl.Expr:
    """Credits as a JSON array (amounts as exact decimal strings); null when there are none."""
    encoded = pl.struct(credits.alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")
    return pl.when(credits.list.len() > 0).then(encoded)


def _row_problems() -> pl.Expr:
    cost_type = pl.col("cost_type")
    type_problem = (
        pl.when(cost_type.is_null())
        .then(pl.lit("cost_type: missing"))
        .when(_category.is_null())
        .then(pl.format("cost_type: unknown '{}'", cost_type))
    )
    missing_cost = pl.when(_cost.is_null() & pl.col(_PROBLEMS).is_null()).then(pl.lit("cost: missing"))
    tag_problem = pl.col(_TAGS).struct.field("problem")
    return join_reasons([pl.col(_PROBLEMS), tag_problem, type_problem, missing_cost])


# --- Tags ----------------------------------------------------------------------------------------------------


_TAGS_DTYPE = pl.Struct({"Tags": pl.String, "problem": pl.String})


def _tags_parser(schema: pl.Schema) -> tuple[pl.Expr, Parser, pl.DataType]:
    """(key, parser, dtype) for `parse_each_distinct_together`: struct {Tags, problem} of each row's four
    label columns (`_TAG_INPUTS`), as text or as lists.

    Rows of one resource repeat the same labels, so the work is done once per distinct combination, keyed by
    the four cells encoded as one JSON object: exact for any content."""
    cells = pl.Struct({column: schema[column] for column in _TAG_INPUTS})
    key = pl.struct(_TAG_INPUTS).struct.json_encode()

    def parse(text: pl.Expr) -> pl.Expr:
        return reading_once(text.str.json_decode(cells), lambda decoded: _tags_of(decoded, cells), _TAGS_DTYPE)

    return key, parse, _TAGS_DTYPE


def _tags_of(cells: pl.Expr, dtype: pl.Struct) -> pl.Expr:
    """The FOCUS Tags object (see the module docstring) of the four label columns, and what did not parse."""
    parsed = {}  # each column's records, and its text where it is text (for the problem)
    for field in dtype.fields:
        cell, kind = cells.struct.field(field.name), EXPORT_COLUMNS[field.name]
        if field.dtype == pl.String:
            parsed[field.name] = parse_record_list(cell, RECORD_FIELDS[kind])
            parsed[f"{field.name} text"] = cell
        else:
            parsed[field.name] = cell.cast(RECORD_DTYPES[kind])
    value = pl.struct(expr.alias(name) for name, expr in parsed.items())
    return reading_once(value, lambda v: _tags_of_records(v, dtype), _TAGS_DTYPE)


def _tags_of_records(parsed: pl.Expr, dtype: pl.Struct) -> pl.Expr:
    """`_tags_of` once the four columns are parsed (`parsed`: their records, and the text of text ones)."""
    records = {field.name: parsed.struct.field(field.name) for field in dtype.fields}
    problems = [
        _unparsed(f.name, records[f.name], "a list of records", text=parsed.struct.field(f"{f.name} text"))
        for f in dtype.fields
        if f.dtype == pl.String
    ]
    item = pl.element().struct.field

    def entries(column: str, rank: pl.Expr, key: pl.Expr | None = None) -> pl.Expr:
        entry = pl.struct((item("key") if key is None else key).alias("key"), item("value"), rank.alias("rank"))
        return records[column].list.eval(entry).fill_null(pl.lit([], pl.List(_TAG_ENTRY)))

    everything = pl.concat_list(
        entries("labels", pl.lit(0, pl.Int8)),
        entries("system_labels", pl.lit(1, pl.Int8), _provider_key(item("key"))),
        entries("project.labels", pl.lit(3, pl.Int8)),
        entries(
            "tags",
            pl.when(item("inherited").fill_null(False)).then(pl.lit(2, pl.Int8)).otherwise(pl.lit(0, pl.Int8)),
            pl.when(item("namespace").is_not_null())
            .then(pl.concat_str(item("namespace"), pl.lit("/"), item("key")))
            .otherwise(item("key")),
        ),
    )
    key, value = item("key"), item("value")
    # Sorted by key, then rank: the first entry of each key is the one that wins.
    winners = everything.list.eval(pl.element().filter(key.is_not_null()).sort_by(key, item("rank"))).list.eval(
        pl.element().filter(key.is_first_distinct())
    )
    piece = pl.concat_str(
        _json_string(key),
        pl.lit(":"),
        pl.when(value.is_null() | (value == "")).then(pl.lit("true")).otherwise(_json_string(value)),
    )
    tags = pl.concat_str(pl.lit("{"), winners.list.eval(piece).list.join(","), pl.lit("}"))
    return pl.struct(
        pl.when(tags != "{}").then(tags).alias("Tags"),  # (not `winners.list.len()`: it would sort them again)
        (join_reasons(problems) if problems else pl.lit(None, pl.String)).alias("problem"),
    )


_TAG_ENTRY = pl.Struct({"key": pl.String, "value": pl.String, "rank": pl.Int8})


def _provider_key(key: pl.Expr) -> pl.Expr:
    """system_labels are provider-defined: keep Google's prefix where the key has one, else add `goog-`."""
    prefixed = key.str.contains(r"^goog-|^[a-z0-9.-]+\.googleapis\.com/")
    return pl.when(prefixed).then(key).otherwise(pl.concat_str(pl.lit("goog-"), key))


def _json_string(text: pl.Expr) -> pl.Expr:
    """Text → a JSON string literal, escaped by polars' own JSON encoder (quotes, backslashes, controls)."""
    return pl.struct(text.alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")
