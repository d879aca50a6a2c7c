"""AWS CUR (as read by `scan_cur`) → FOCUS 1.2 rows, lazily, one named polars expression per FOCUS column.

The rules follow reference §2.3 with its corrections for FOCUS 1.2:

* BilledCost is `line_item_unblended_cost` on every row, so Σ BilledCost is the invoice. Discount and
  SavingsPlanNegation rows stay rows of their own (with negative cost) rather than being folded into usage.
* EffectiveCost amortises commitments: covered usage carries the RI/SP effective cost, commitment purchases
  carry 0, and the unused part of each commitment becomes a derived row of its own (CommitmentDiscountStatus
  "Unused", BilledCost 0), so that per billing period Σ EffectiveCost of a commitment = what its fees imply.
* CommitmentDiscountQuantity of a reserved instance is in normalised hours wherever the CUR gives the row a
  normalisation factor (EC2, RDS), so that a size-flexible RI's covered and unused quantities add up to what
  it bought (`_in_ri_units`); savings plans count money.
* A row that cannot be mapped (cost or date that does not parse, unknown line item type, …) is not an
  error: it comes out with `x_QuarantineReason` naming the source column and value, still carrying its
  parsed cost and charge day so reconciliation can account for it.
"""

import json

import polars as pl

from finops_pipeline.focus.conform import REASON
from finops_pipeline.focus.parsing import (
    blank_to_null,
    decimal_product,
    empty_to_null,
    join_reasons,
    lookup,
    parse_each_distinct,
    to_money,
    to_utc_timestamp,
    unparsed_text,
    unreadable_number,
)
from finops_pipeline.focus.schema import FOCUS_TABLE_SCHEMA, MONEY, TIMESTAMP
from finops_pipeline.sources.aws.cur import (
    CUR_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
    TAG_MAP,
    TAG_PREFIX,
    Kind,
    parse_number,
    parse_timestamp,
)
from finops_pipeline.sources.aws.service_categories import DEFAULT, SERVICE_CATEGORIES

AWS = "Amazon Web Services, Inc."

# Line item types, grouped by how FOCUS treats them.
CONSUMPTION = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage")  # metered use of a resource
COVERED = ("DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation")  # priced by a commitment
COMMITMENT_FEES = ("RIFee", "SavingsPlanUpfrontFee", "SavingsPlanRecurringFee")
# Negotiated discounts (EDP, private pricing, solution-provider, distributor, bundled) are agreed before the
# usage happens and lower its price: FOCUS 1.2 makes only *after-the-fact* reductions Credit, and wants
# discounts applied to the usage they pertain to. The CUR gives them as separate rows, which we keep (so
# BilledCost still sums to the invoice), so they are Usage rows with a negative cost at a negotiated rate
# (PricingCategory Standard) — what AWS's own FOCUS export gets by folding them into usage.
NEGOTIATED_DISCOUNTS = (
    "BundledDiscount",
    "Discount",
    "PrivateRateDiscount",
    "EdpDiscount",
    "SppDiscount",
    "DistributorDiscount",
)

# Usage rows that lower the cost of metered use without being use themselves.
REDUCTIONS = ("SavingsPlanNegation", *NEGOTIATED_DISCOUNTS)

# line item type → (ChargeCategory, ChargeFrequency). Refund's category is refined by what it refunds.
LINE_ITEM_TYPES: dict[str, tuple[str, str]] = {
    **{t: ("Usage", "Usage-Based") for t in (*CONSUMPTION, *REDUCTIONS)},
    "Fee": ("Purchase", "One-Time"),
    "RIFee": ("Purchase", "Recurring"),
    "SavingsPlanUpfrontFee": ("Purchase", "One-Time"),
    "SavingsPlanRecurringFee": ("Purchase", "Recurring"),
    "Tax": ("Tax", "One-Time"),
    "Credit": ("Credit", "One-Time"),
    "Refund": ("Usage", "One-Time"),
}

# pricing_term (or product_purchase_option) → PricingCategory, for usage not covered by a commitment.
PRICING_TERMS = {
    "OnDemand": "Standard",
    "On-Demand": "Standard",
    "Dedicated Hosts": "Standard",
    "Spot": "Dynamic",
    "Spot Instances": "Dynamic",
    "Reserved": "Committed",
    "Reserved Instances": "Committed",
}

REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "ca-west-1": "Canada West (Calgary)",
    "sa-east-1": "South America (Sao Paulo)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-central-2": "Europe (Zurich)",
    "eu-north-1": "Europe (Stockholm)",
    "eu-south-1": "Europe (Milan)",
    "eu-south-2": "Europe (Spain)",
    "me-south-1": "Middle East (Bahrain)",
    "me-central-1": "Middle East (UAE)",
    "il-central-1": "Israel (Tel Aviv)",
    "af-south-1": "Africa (Cape Town)",
    "ap-east-1": "Asia Pacific (Hong Kong)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-south-2": "Asia Pacific (Hyderabad)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-southeast-3": "Asia Pacific (Jakarta)",
    "ap-southeast-4": "Asia Pacific (Melbourne)",
    "us-gov-east-1": "AWS GovCloud (US-East)",
    "us-gov-west-1": "AWS GovCloud (US-West)",
    "cn-north-1": "China (Beijing)",
    "cn-northwest-1": "China (Ningxia)",
    "global": "Global",
}

# AWS-defined tag keys whose official spelling the Athena column name lost (resource_tags_aws_created_by).
AWS_TAG_KEYS = {
    "created_by": "createdBy",
    "autoscaling_group_name": "autoscaling:groupName",
    "ec2spot_fleet_request_id": "ec2spot:fleet-request-id",
    "cloudformation_stack_name": "cloudformation:stack-name",
    "cloudformation_stack_id": "cloudformation:stack-id",
    "cloudformation_logical_id": "cloudformation:logical-id",
    "ecs_cluster_name": "ecs:clusterName",
    "ecs_service_name": "ecs:serviceName",
    "eks_cluster_name": "eks:cluster-name",
    "ec2launchtemplate_id": "ec2launchtemplate:id",
    "ec2launchtemplate_version": "ec2launchtemplate:version",
    "elasticmapreduce_job_flow_id": "elasticmapreduce:job-flow-id",
}

_PARSE_PROBLEMS = "__parse_problems"
_PARSED = "__parsed "
_UNUSED = "__unused_commitment"
_UNUSED_HOURS = "__unused_reservation_hours"
_UNUSED_RI_QUANTITY = "__unused_reservation_quantity"  # the unused hours in the RI's unit (`_in_ri_units`)
_RI_UNIT = "__reservation_unit"
_UNUSED_ROW = "__is_unused_row"
_ZERO = pl.lit(0).cast(MONEY)
_SECONDS_PER_HOUR = 3600
_HOURS_PER_YEAR = 8760  # an RI term year: AWS leases run 365 days (1yr = 31,536,000 s)
_LEASE_YEARS = r"(?i)^\s*(\d+)\s*(?:yr|yrs|year|years)\s*$"  # pricing/LeaseContractLength: "1yr", "3yr"
_JSON_SPECIAL = ["\\", '"', "\n", "\r", "\t"]
_JSON_ESCAPED = ["\\\\", '\\"', "\\n", "\\r", "\\t"]

_type = pl.col("line_item_line_item_type")


def cur_to_focus(cur: pl.LazyFrame, *, source_name: str) -> pl.LazyFrame:
    """`scan_cur` output → FOCUS 1.2 rows (FOCUS_TABLE_SCHEMA, exact dtypes) plus `x_QuarantineReason`.

    Pure and lazy. Output rows: one per CUR row, and right after each RIFee / SavingsPlanRecurringFee row
    with a non-zero unused amount, a derived "Unused" row (same x_SourceFile/x_SourceRowNumber as its fee
    row). x_IngestedAt and x_RunId are null: the caller fills them.
    """
    schema = cur.collect_schema()
    charges = _with_text_parsed(cur, schema).with_columns(**_charge_basics())
    columns = _focus_columns(schema, source_name)
    focus = charges.select(
        *[expr.cast(FOCUS_TABLE_SCHEMA[name]).alias(name) for name, expr in columns.items()],
        _row_problems(columns["EffectiveCost"]).alias(REASON),
        _unused_commitment().alias(_UNUSED),
        pl.when(_type == "RIFee").then(pl.col("reservation_unused_quantity")).alias(_UNUSED_HOURS),
        pl.when(_type == "RIFee").then(_in_ri_units(pl.col("reservation_unused_quantity"))).alias(_UNUSED_RI_QUANTITY),
        pl.when(_type == "RIFee").then(_commitment_unit()).alias(_RI_UNIT),
    )
    # An Unused row is its fee row with a few FOCUS columns replaced: fee rows with an unused amount are
    # emitted twice (explode) and the copy overridden. One pass over the input: a union of the rows with a
    # filtered copy of them would make polars cache (materialise) the whole input.
    copies = pl.when(pl.col(_UNUSED) != 0).then(pl.lit([False, True])).otherwise(pl.lit([False]))
    overrides = _unused_row_overrides()
    return (
        focus.with_columns(copies.alias(_UNUSED_ROW))
        .explode(_UNUSED_ROW)
        .select(
            *[
                pl.when(pl.col(_UNUSED_ROW)).then(overrides[name].cast(dtype)).otherwise(pl.col(name)).alias(name)
                if name in overrides
                else pl.col(name)
                for name, dtype in FOCUS_TABLE_SCHEMA.items()
            ],
            pl.col(REASON),
        )
    )


# --- Stage 1: source text → typed values, and what did not parse ------------------------------------------


def _with_text_parsed(cur: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Numbers and dates given as text parsed to Decimal / UTC datetimes (scan_cur already typed the rest), and
    `_PARSE_PROBLEMS`. Each is parsed once, into a column beside its text that the problems then read (one
    expression holding the parse twice had polars parse it twice), and then replaces its text."""
    text = [c for c, kind in CUR_COLUMNS.items() if kind in (Kind.NUMBER, Kind.TIMESTAMP) and schema[c] == pl.String]
    parsed = {c: pl.col(_PARSED + c) for c in text}
    return (
        cur.with_columns(
            (parse_number if CUR_COLUMNS[c] is Kind.NUMBER else parse_timestamp)(c, pl.String).alias(_PARSED + c)
            for c in text
        )
        .with_columns(_parse_problems(parsed).alias(_PARSE_PROBLEMS))
        .with_columns(value.alias(c) for c, value in parsed.items())
        .drop(_PARSED + c for c in text)
    )


def _parse_problems(parsed: dict[str, pl.Expr]) -> pl.Expr:
    """`<column>: '<text>' is not a number|date` (or a number out of range: `unreadable_number`) for every
    text value that did not parse (`parsed`: each text column's parsed value), "; "-joined."""
    problems = []
    for column, value in parsed.items():
        if CUR_COLUMNS[column] is Kind.NUMBER:
            problems.append(unreadable_number(column, unparsed_text(value, pl.col(column))))
        else:
            failed = value.is_null() & blank_to_null(pl.col(column)).is_not_null()
            problems.append(pl.format(f"{column}: '{{}}' is not a date", pl.when(failed).then(pl.col(column))))
    return join_reasons(problems)


# --- Stage 2: the values several FOCUS columns depend on ---------------------------------------------------


def _charge_basics() -> dict[str, pl.Expr]:
    commitment_id = pl.coalesce("savings_plan_savings_plan_a_r_n", "reservation_reservation_a_r_n")
    category = lookup(_type, {t: c for t, (c, _) in LINE_ITEM_TYPES.items()})
    return {
        "BilledCost": pl.col("line_item_unblended_cost"),
        "CommitmentDiscountId": commitment_id,
        # A refund takes the category of what it refunds: a commitment purchase when it names one.
        "ChargeCategory": pl.when((_type == "Refund") & commitment_id.is_not_null())
        .then(pl.lit("Purchase"))
        .otherwise(category),
        "ListUnitPrice": _not_for_tax(pl.col("pricing_public_on_demand_rate")),
    }


def _unused_commitment() -> pl.Expr:
    """What a commitment fee paid for but nothing used; becomes its own Usage row when non-zero."""
    ri_unused = pl.col("reservation_unused_amortized_upfront_fee_for_billing_period").fill_null(0) + pl.col(
        "reservation_unused_recurring_fee"
    ).fill_null(0)
    sp_unused = pl.col("savings_plan_total_commitment_to_date") - pl.col("savings_plan_used_commitment")
    return (
        pl.when(_type == "RIFee").then(ri_unused).when(_type == "SavingsPlanRecurringFee").then(sp_unused).cast(MONEY)
    )


# --- Stage 3: one expression per FOCUS column ---------------------------------------------------------------


def _focus_columns(schema: pl.Schema, source_name: str) -> dict[str, pl.Expr]:
    billed, commitment = pl.col("BilledCost"), pl.col("CommitmentDiscountId")
    is_purchase = pl.col("ChargeCategory") == "Purchase"
    buys_commitment = _type.is_in(COMMITMENT_FEES) | (_type.is_in(("Fee", "Refund")) & commitment.is_not_null())
    net_cost = pl.col("line_item_net_unblended_cost")
    # Net (negotiated) prices describe usage at the agreed rate; for RI-covered usage and SP negations they
    # are the commitment-discounted amounts, which ContractedCost must exclude.
    uses_net_price = net_cost.is_not_null() & ~_type.is_in(("DiscountedUsage", "SavingsPlanNegation"))
    list_cost = (
        pl.when(_type.is_in(CONSUMPTION))
        .then(pl.coalesce("pricing_public_on_demand_cost", billed))
        # The covered usage row already carries the list cost of what a negation or discount reduces.
        .when(_type.is_in(("SavingsPlanNegation", *NEGOTIATED_DISCOUNTS)))
        .then(_ZERO)
        # No public price for fees, tax, credits and corrections: FOCUS says ListCost = BilledCost.
        .otherwise(billed)
    )
    usage_start = pl.col("line_item_usage_start_date")
    resource_id = pl.coalesce("line_item_resource_id", pl.when(is_purchase).then(commitment))
    region_id = pl.coalesce("product_region_code", "product_region")
    product_code = pl.col("line_item_product_code")
    columns = {
        "AvailabilityZone": pl.col("line_item_availability_zone"),
        "BilledCost": billed,
        "BillingAccountId": pl.col("bill_payer_account_id"),
        "BillingAccountName": pl.col("bill_payer_account_name"),
        "BillingAccountType": pl.lit(None),
        "BillingCurrency": pl.col("line_item_currency_code"),
        "BillingPeriodEnd": pl.col("bill_billing_period_end_date"),
        "BillingPeriodStart": pl.col("bill_billing_period_start_date"),
        "CapacityReservationId": pl.lit(None),
        "CapacityReservationStatus": pl.lit(None),
        "ChargeCategory": pl.col("ChargeCategory"),
        "ChargeClass": pl.when(_type == "Refund").then(pl.lit("Correction")),
        "ChargeDescription": pl.col("line_item_line_item_description"),
        "ChargeFrequency": lookup(_type, {t: f for t, (_, f) in LINE_ITEM_TYPES.items()}),
        "ChargePeriodEnd": pl.col("line_item_usage_end_date"),
        "ChargePeriodStart": usage_start,
        "CommitmentDiscountCategory": pl.when(pl.col("savings_plan_savings_plan_a_r_n").is_not_null())
        .then(pl.lit("Spend"))
        .when(pl.col("reservation_reservation_a_r_n").is_not_null())
        .then(pl.lit("Usage")),
        "CommitmentDiscountId": commitment,
        "CommitmentDiscountName": pl.lit(None),
        "CommitmentDiscountQuantity": pl.lit(None),  # below: it depends on EffectiveCost
        # FOCUS: set on every Usage row that names a commitment (here always consumption of it).
        "CommitmentDiscountStatus": pl.when((pl.col("ChargeCategory") == "Usage") & commitment.is_not_null()).then(
            pl.lit("Used")
        ),
        "CommitmentDiscountType": pl.when(pl.col("savings_plan_savings_plan_a_r_n").is_not_null())
        .then(pl.lit("Savings Plan"))
        .when(pl.col("reservation_reservation_a_r_n").is_not_null())
        .then(pl.lit("Reserved Instance")),
        "CommitmentDiscountUnit": pl.lit(None),
        # Only metered use consumes. A negation or discount row is Usage too (FOCUS wants a ConsumedQuantity
        # on it) but consumes nothing: 0, so Σ ConsumedQuantity stays the metered use, counted once.
        "ConsumedQuantity": pl.when(_type.is_in(CONSUMPTION))
        .then(pl.col("line_item_usage_amount"))
        .when(_type.is_in(REDUCTIONS))
        .then(_ZERO),
        "ConsumedUnit": pl.when(
            (_type.is_in(CONSUMPTION) & pl.col("line_item_usage_amount").is_not_null()) | _type.is_in(REDUCTIONS)
        ).then(pl.col("pricing_unit")),
        "ContractedCost": pl.when(_type.is_in(NEGOTIATED_DISCOUNTS))
        # A discount row is the negotiated reduction itself, unless net prices already include it.
        .then(pl.when(net_cost.is_null()).then(billed).otherwise(_ZERO))
        .when(uses_net_price)
        .then(net_cost)
        .otherwise(list_cost),
        "ContractedUnitPrice": _not_for_tax(
            pl.when(uses_net_price & ~_type.is_in(NEGOTIATED_DISCOUNTS))
            .then(pl.col("line_item_net_unblended_rate"))
            .otherwise(pl.col("ListUnitPrice"))
        ),
        "EffectiveCost": pl.when(_type == "DiscountedUsage")
        .then(pl.col("reservation_effective_cost"))
        .when(_type == "SavingsPlanCoveredUsage")
        .then(pl.col("savings_plan_savings_plan_effective_cost"))
        # A commitment purchase (and its refund) is amortised into the usage it covers and the Unused row.
        .when(buys_commitment | (_type == "SavingsPlanNegation"))
        .then(_ZERO)
        .otherwise(billed),
        "InvoiceId": pl.col("bill_invoice_id"),
        "InvoiceIssuerName": pl.coalesce("bill_invoicing_entity", "bill_billing_entity", pl.lit(AWS)),
        "ListCost": list_cost,
        "ListUnitPrice": pl.col("ListUnitPrice"),
        "PricingCategory": _pricing_category(buys_commitment),
        "PricingCurrency": pl.lit(None),
        "PricingCurrencyContractedUnitPrice": pl.lit(None),
        "PricingCurrencyEffectiveCost": pl.lit(None),
        "PricingCurrencyListUnitPrice": pl.lit(None),
        "PricingQuantity": _not_for_tax(pl.col("line_item_usage_amount")),
        "PricingUnit": _not_for_tax(pl.col("pricing_unit")),
        "ProviderName": pl.lit("AWS"),
        "PublisherName": pl.coalesce("line_item_legal_entity", pl.lit(AWS)),
        "RegionId": region_id,
        "RegionName": lookup(region_id, REGION_NAMES),
        "ResourceId": resource_id,
        "ResourceName": pl.lit(None),
        "ResourceType": _arn_resource_type(resource_id),
        "ServiceCategory": lookup(product_code, {k: c for k, (c, _) in SERVICE_CATEGORIES.items()}, DEFAULT[0]),
        "ServiceName": pl.coalesce("product_product_name", "line_item_product_code"),
        "ServiceSubcategory": lookup(product_code, {k: sub for k, (_, sub) in SERVICE_CATEGORIES.items()}, DEFAULT[1]),
        "SkuId": _not_for_tax(pl.col("product_sku")),
        "SkuMeter": pl.lit(None),
        "SkuPriceDetails": pl.lit(None),
        # A rate code (`SKU.OfferTermCode.RateCode`) names one price of one SKU; a bare rate id does not (legacy
        # CURs reuse ids such as 208674050 across SKUs), so it is qualified by its SKU the same way (FOCUS:
        # a SkuPriceId has exactly one SkuId).
        "SkuPriceId": _not_for_tax(
            pl.coalesce(
                "pricing_rate_code",
                pl.concat_str(pl.col("product_sku"), pl.lit("."), pl.col("pricing_rate_id")),
                "pricing_rate_id",
            )
        ),
        "SubAccountId": pl.col("line_item_usage_account_id"),
        "SubAccountName": pl.col("line_item_usage_account_name"),
        "SubAccountType": pl.lit(None),
        "Tags": _tags(schema),
        "x_SourceName": pl.lit(source_name),
        "x_SourceFile": pl.col(SOURCE_FILE),
        "x_SourceRowNumber": pl.col(SOURCE_ROW),
        "x_IngestedAt": pl.lit(None),
        "x_RunId": pl.lit(None),
        # The day partition; a row whose usage start does not parse still lands in its billing period.
        "x_ChargeDay": pl.coalesce(usage_start, "bill_billing_period_start_date").dt.date(),
    }
    quantity = _commitment_quantity(columns["EffectiveCost"])
    columns["CommitmentDiscountQuantity"] = quantity
    columns["CommitmentDiscountUnit"] = pl.when(quantity.is_not_null()).then(_commitment_unit())
    return columns


def _commitment_quantity(effective_cost: pl.Expr) -> pl.Expr:
    """FOCUS CommitmentDiscountQuantity of a commitment's Usage and Purchase rows, in CommitmentDiscountUnit.

    Savings plans are spend-based (the commitment is an amount of money per hour): what a covered usage row
    draws from it is its amortised EffectiveCost (0 on a negation row), what a fee row buys is its cost.
    Reserved instances are usage-based, in hours (`_in_ri_units`: normalised hours where the CUR gives a
    normalisation factor): a DiscountedUsage row draws its usage hours, an RIFee row (Recurring) buys the RI
    hours of its billing period (line_item_usage_amount), and the upfront Fee row (One-Time) the RI hours of
    the whole term (`_ri_hours_bought_upfront`; for a Partial Upfront RI both rows carry hours, as FOCUS
    defines each). A refund of a purchase is a Correction and keeps null, as FOCUS allows. Unused rows are
    handled by `_unused_row_overrides`: a savings plan's unused amount, an RI's unused hours."""
    savings_plan = pl.col("savings_plan_savings_plan_a_r_n").is_not_null()
    reservation = pl.col("reservation_reservation_a_r_n").is_not_null()
    return (
        pl.when(savings_plan & (pl.col("ChargeCategory") == "Usage"))
        .then(effective_cost)
        .when(savings_plan & (pl.col("ChargeCategory") == "Purchase"))
        .then(pl.col("BilledCost"))
        .when(reservation & _type.is_in(("DiscountedUsage", "RIFee")))
        .then(_in_ri_units(pl.col("line_item_usage_amount")))
        .when(reservation & (_type == "Fee"))
        .then(_in_ri_units(_ri_hours_bought_upfront()))
    )


def _ri_normalisation_factor() -> pl.Expr:
    factor = pl.col("line_item_normalization_factor")
    return pl.when(factor > 0).then(factor)


def _in_ri_units(hours: pl.Expr) -> pl.Expr:
    """RI hours in the unit its commitment is counted in, "Normalized Hours" (hours × the row's normalisation
    factor) where the row has a factor, else "Hours" (`_commitment_unit`).

    A size-flexible RI covers any size of its family: in the Workshop CUR a t2.nano RI (factor 0.25) covers
    0.125 hours of a t2.large (factor 4), i.e. 0.5 normalised hours, and its RIFee buys 1,488 t2.nano hours
    = 372 normalised hours. Only in normalised units do covered + unused quantities add up to what was
    bought (AWS's own reservation_total_reserved_normalized_units and unused_normalized_unit_quantity are
    these same products); hours of different sizes do not (FOCUS's size-flexibility examples count such a
    commitment in "Normalized Hour"). An RI without factors (DynamoDB, or a file without the column) stays
    in Hours on all its rows."""
    return decimal_product(hours, pl.coalesce(_ri_normalisation_factor(), pl.lit(1).cast(MONEY)))


def _ri_hours_bought_upfront() -> pl.Expr:
    """The RI hours an upfront Fee row pays for: number of RIs × hours in the term (FOCUS: the quantity
    "paid fully or partially upfront, that is eligible for consumption over the commitment discount's term").

    * Number of RIs: reservation_number_of_reservations, else the Fee row's line_item_usage_amount (AWS
      prices the upfront fee per RI: usage amount × upfront per RI = the fee).
    * Term: the RI's lease, reservation_start_time → reservation_end_time (AWS writes the end as the last
      second, e.g. 2018-04-24T00:34:01Z → 2019-04-24T00:34:00Z, so it is rounded to whole hours; an RI bought
      on the Marketplace has a shorter lease than a standard term), else pricing_lease_contract_length ("1yr",
      "3yr"; AWS terms are 365-day years, 8,760 hours).
    * Null (a FOCUS gap the conformance check shows, never a guess) when the file has neither the count nor a
      term, and for a Convertible RI exchange's true-up fee (a `reserved-instance-exchange` ARN), which
      tops up RIs bought earlier rather than buying hours of its own.

    The text columns are parsed on these Fee rows only (null elsewhere), the lease dates once per distinct
    value."""
    buys_hours = (_type == "Fee") & ~pl.col("reservation_reservation_a_r_n").str.contains(
        ":reserved-instance-exchange/", literal=True
    )

    def on_fee(column: str) -> pl.Expr:
        return pl.when(buys_hours).then(pl.col(column))

    def timestamp(column: str) -> pl.Expr:  # per distinct value: to_utc_timestamp per row costs ~1 s per 2M rows
        return parse_each_distinct(on_fee(column), to_utc_timestamp, TIMESTAMP)

    lease = timestamp("reservation_end_time") - timestamp("reservation_start_time")
    lease_seconds = lease.dt.total_seconds()
    lease_hours = pl.when(lease_seconds > 0).then((lease_seconds + _SECONDS_PER_HOUR // 2) // _SECONDS_PER_HOUR)
    contract_years = on_fee("pricing_lease_contract_length").str.extract(_LEASE_YEARS, 1).cast(pl.Int64, strict=False)
    term_hours = pl.coalesce(lease_hours, contract_years * _HOURS_PER_YEAR)
    count = pl.coalesce(to_money(on_fee("reservation_number_of_reservations")), on_fee("line_item_usage_amount"))
    return pl.when((count > 0) & (term_hours > 0)).then(decimal_product(count, term_hours))


def _commitment_unit() -> pl.Expr:
    return (
        pl.when(pl.col("savings_plan_savings_plan_a_r_n").is_not_null())
        .then(pl.col("line_item_currency_code"))
        .when(pl.col("reservation_reservation_a_r_n").is_not_null())
        .then(pl.when(_ri_normalisation_factor().is_null()).then(pl.lit("Hours")).otherwise(pl.lit("Normalized Hours")))
    )


def _unused_row_overrides() -> dict[str, pl.Expr]:
    """The derived row for an unused commitment (FOCUS's "Unused" Usage row, one per fee row and period),
    as replacements of its fee row's FOCUS columns.

    Quantities (FOCUS: CommitmentDiscountQuantity is "the remaining, unused quantity" in CommitmentDiscountUnit;
    PricingQuantity must not be null on Usage):
    * Reserved instance: both are the RI's unused hours (reservation_unused_quantity; null where the CUR lacks
      the column), CommitmentDiscountQuantity in the fee row's CommitmentDiscountUnit (normalised hours where
      it has a normalisation factor, as its DiscountedUsage rows count them); PricingUnit is the fee row's,
      else "Hrs" (pricing_unit of the usage an RI covers).
    * Savings plan: CommitmentDiscountQuantity is the unused amount, in the billing currency (a plan commits
      an amount of money per hour). PricingQuantity/PricingUnit stay the fee row's: the hours of commitment
      the charge period prices, every one of them partly unused (as in the FOCUS spec's AWS savings plan
      examples: an unused row of one hour has PricingQuantity 1 and the unused dollars as its
      CommitmentDiscountQuantity). Not the unused amount: PricingQuantity × a unit price is a cost, and
      there is no price per unused dollar.
    """
    commitment = pl.col("CommitmentDiscountId")
    reservation = pl.col("CommitmentDiscountType") == "Reserved Instance"
    savings_plan = pl.col("CommitmentDiscountType") == "Savings Plan"
    quantity = pl.when(savings_plan).then(pl.col(_UNUSED)).when(reservation).then(pl.col(_UNUSED_RI_QUANTITY))
    unit = pl.when(savings_plan).then(pl.col("BillingCurrency")).when(reservation).then(pl.col(_RI_UNIT))
    return {
        "BilledCost": _ZERO,  # already billed by the fee row
        "ChargeCategory": pl.lit("Usage"),
        "ChargeClass": pl.lit(None),
        "ChargeDescription": pl.concat_str(pl.lit("Unused "), pl.col("CommitmentDiscountType"), pl.lit(" commitment")),
        "ChargeFrequency": pl.lit("Usage-Based"),
        "CommitmentDiscountStatus": pl.lit("Unused"),
        "CommitmentDiscountQuantity": quantity,
        "CommitmentDiscountUnit": pl.when(quantity.is_not_null()).then(unit),
        # Nothing was consumed, and there is no public price for idle commitment capacity.
        "ConsumedQuantity": pl.lit(None),
        "ConsumedUnit": pl.lit(None),
        "ContractedCost": _ZERO,
        "ContractedUnitPrice": pl.lit(None),
        "EffectiveCost": pl.col(_UNUSED),
        "ListCost": _ZERO,
        "ListUnitPrice": pl.lit(None),
        "PricingCategory": pl.lit("Committed"),
        "PricingQuantity": pl.when(reservation).then(pl.col(_UNUSED_HOURS)).otherwise(pl.col("PricingQuantity")),
        "PricingUnit": pl.when(reservation)
        .then(pl.when(pl.col(_UNUSED_HOURS).is_not_null()).then(pl.coalesce("PricingUnit", pl.lit("Hrs"))))
        .otherwise(pl.col("PricingUnit")),
        "ResourceId": commitment,
        "ResourceType": _arn_resource_type(commitment),
    }


def _row_problems(effective_cost: pl.Expr) -> pl.Expr:
    type_problem = (
        pl.when(_type.is_null())
        .then(pl.lit("line_item_line_item_type: missing"))
        .when(~_type.is_in(list(LINE_ITEM_TYPES)))
        .then(pl.format("line_item_line_item_type: unknown '{}'", _type))
    )
    # Covered usage without its amortised cost cannot be given an EffectiveCost (when the value was there
    # but did not parse, the parse problem already says so).
    no_effective_cost = pl.when(effective_cost.is_null() & pl.col(_PARSE_PROBLEMS).is_null()).then(
        pl.when(_type == "DiscountedUsage")
        .then(pl.lit("reservation_effective_cost: missing on a DiscountedUsage row"))
        .when(_type == "SavingsPlanCoveredUsage")
        .then(pl.lit("savings_plan_savings_plan_effective_cost: missing on a SavingsPlanCoveredUsage row"))
    )
    return join_reasons([pl.col(_PARSE_PROBLEMS), type_problem, no_effective_cost])


# --- Helpers ----------------------------------------------------------------------------------------------


def _not_for_tax(expr: pl.Expr) -> pl.Expr:
    """FOCUS: unit prices, pricing quantity/unit and SKUs are null on Tax rows."""
    return pl.when(_type != "Tax").then(expr)


def _pricing_category(buys_commitment: pl.Expr) -> pl.Expr:
    term = pl.coalesce("pricing_term", "product_purchase_option")
    return (
        pl.when(_type.is_in(COVERED))
        .then(pl.lit("Committed"))
        # FOCUS: buying a commitment is at a Standard rate; so is a negotiated discount.
        .when(buys_commitment | _type.is_in(NEGOTIATED_DISCOUNTS))
        .then(pl.lit("Standard"))
        # Other usage and fees (and refunds of them) by their pricing term.
        .when(_type.is_in(("Usage", "Fee", "Refund")))
        .then(lookup(term, PRICING_TERMS, "Other"))
        # Tax and Credit have no pricing category.
    )


def _arn_resource_type(resource_id: pl.Expr) -> pl.Expr:
    """`arn:aws:ec2:us-east-1:123:instance/i-1` → "instance"; null for plain ids (i-1, vol-1, bucket names)."""
    return resource_id.str.extract(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:([^:/]+)[:/]", 1)


def _tag_key(column: str) -> str:
    """Legacy tag column → FOCUS tag key: user tags unprefixed and verbatim, AWS tags keep `aws:`.

    `resource_tags_user_Team` → `Team`; `resource_tags_aws_createdBy` → `aws:createdBy`;
    `resource_tags_aws_created_by` (Athena lost the spelling) → `aws:createdBy`.
    """
    name = column.removeprefix(TAG_PREFIX)
    if name.startswith("user_"):
        return name.removeprefix("user_")
    if name.startswith("aws_"):
        key = name.removeprefix("aws_")
        return "aws:" + AWS_TAG_KEYS.get(key, key)
    return name


def _tags(schema: pl.Schema) -> pl.Expr:
    """One FOCUS key-value JSON object per row, built from escaped `"key":"value"` pieces (no per-row JSON
    encoder). Values are verbatim; blank ones (null since scan_cur) are omitted; no tags → null. `Team` and
    `team` stay different keys."""
    columns_by_key: dict[str, list[str]] = {}
    for column in schema:
        if column.startswith(TAG_PREFIX):
            columns_by_key.setdefault(_tag_key(column), []).append(column)
    pieces, present = [], []
    for key, columns in columns_by_key.items():
        value = pl.coalesce(columns)
        pieces.append(pl.concat_str(pl.lit(json.dumps(key) + ':"'), _json_escape(value), pl.lit('"')))
        present.append(value.is_not_null())
    if TAG_MAP in schema:
        map_pieces = _map_tag_pieces(pl.col(TAG_MAP))
        pieces.append(map_pieces)
        present.append(map_pieces.is_not_null())
    if not pieces:
        return pl.lit(None)
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return pl.when(pl.any_horizontal(present)).then(pl.concat_str(pl.lit("{"), body, pl.lit("}")))


def _map_tag_pieces(tags: pl.Expr) -> pl.Expr:
    """CUR 2.0 `resource_tags` map → `"key":"value"` pieces joined by commas (null when none)."""
    key, value = pl.element().struct.field("key"), pl.element().struct.field("value")
    value = pl.when(value.str.strip_chars() != "").then(value)  # blank: the resource does not carry the tag
    aws_name = key.str.replace(r"^aws[:_]", "")
    aws_key = pl.concat_str(pl.lit("aws:"), lookup(aws_name, AWS_TAG_KEYS, default=aws_name))
    focus_key = pl.when(key.str.contains(r"^aws[:_]")).then(aws_key).otherwise(key.str.replace(r"^user[:_]", ""))
    piece = pl.concat_str(pl.lit('"'), _json_escape(focus_key), pl.lit('":"'), _json_escape(value), pl.lit('"'))
    return empty_to_null(tags.map.entries().list.eval(piece).list.drop_nulls().list.join(","))


def _json_escape(text: pl.Expr) -> pl.Expr:
    return text.str.replace_many(_JSON_SPECIAL, _JSON_ESCAPED)
