"""Our own FOCUS output judged by the rule model, per source, with the criteria each source honestly supports.

`evaluate_static_rules` needs the ApplicabilityCriteria the data's provider supports. Claiming all of them
for every source makes rules fail that cannot apply (a PricingCurrency column that no mapping of ours can
fill), and claiming none checks nothing. So each source (x_SourceName) claims what its provider's data lets
our mapping fill (SOURCE_APPLICABILITY, with the reason per criterion beside it), and the rules it still
cannot meet because the provider's data lacks what they need are listed, with that reason, in
KNOWN_EXCEPTIONS. `source_conformance(frame, model, source)` is the MUST failures that remain: what the
tests (`finops_pipeline_tests/quality/test_our_conformance.py`) and the Dagster check
(`focus_checks.rule_model_conformance`) report. An exception is evaluated as disabled, so the composites
above it (the column's and the dataset's) do not fail because of it; `exception_failures` says how many
rows each exception covers, so the list can be shown to be true.

FOCUS-native exports (`focus_export`) carry the provider's own FOCUS values, which we pass through: they
claim the criteria of the provider's native source (FOCUS_EXPORT_PROVIDERS, by ProviderName) and have no
exceptions of their own — a rule their rows break is the provider's finding and is reported as such.

Known exceptions (rule id, source: reason)
------------------------------------------
aws
* BillingAccountName-C-003-C, SubAccountName-C-005-C: the legacy CUR (the demo's, and every CUR sample) has
  account ids but no account-name columns; CUR 2.0 has them (bill_payer_account_name,
  line_item_usage_account_name) and we map them.
* ListUnitPrice-C-005-C, ContractedUnitPrice-C-006-C: the CUR gives no public on-demand rate (and no net
  rate) on Spot usage, commitment fee rows (RIFee, SavingsPlan*Fee), fees such as AWS Support and some
  free-tier rows; the Unused row we derive from a commitment fee inherits that.
* SkuId-C-005-C, SkuPriceId-C-005-C: fee rows (AWS Support, Savings Plan fees) carry no product/sku and no
  rate code or id; some CURs (koku's) have no pricing/RateCode or pricing/RateId columns at all.
* ConsumedUnit-C-006-C, PricingUnit-C-006-C: the CUR leaves pricing/unit blank on rows that have a
  usage amount (most of the Workshop CUR's S3, EC2 and Glue usage; Savings Plan and Support fees).
* ResourceType-C-005-C: the CUR has no resource type; we read it from ARNs, and plain resource ids
  (i-…, vol-…, bucket names) have none.
* EffectiveCost-C-005-C: a Fee row (AWS Support) is a Purchase that covers no future charges, so its
  EffectiveCost is its cost; the model applies "0 for a purchase intended to cover future charges" to
  every Purchase (its known over-reach, see focus_rules).

azure
* SkuId-C-005-C: EA and legacy exports have no ProductId (Microsoft's conversion: "EA: not available").
* SkuPriceId-C-005-C: cost details exports have no price id at all (Microsoft: "not available").
* SkuMeter-C-004-C, SkuPriceDetails-C-004-C: consequences of those two: FOCUS wants SkuMeter null without
  SkuId and SkuPriceDetails null without SkuPriceId, which would drop MeterName and AdditionalInfo (the
  RI normalisation ratio, vCPUs, service type), the only place the export gives them. We keep them.
* PricingCurrency-C-004-M, PricingCurrencyEffectiveCost-C-003-M, PricingCurrencyListUnitPrice-C-005-C: EA
  and legacy pay-as-you-go exports have no pricing currency or exchange rate (MCA exports do, and we map
  them), and EA has no PayG list price in a pricing currency.
* BillingAccountName-C-003-C, SubAccountName-C-005-C: legacy pay-as-you-go exports (koku's costreport,
  OpenCost's German/PayAsYouGo header sets) have subscription ids but no account or subscription names.

gcp
* BillingAccountName-C-003-C: the billing export has billing_account_id only, no name.
* ListUnitPrice-C-005-C: the standard billing export has no list price (the detailed export's
  price.list_price and the pricing export are not in the files we read).
* ContractedUnitPrice-C-006-C: exports without the price struct (older CSV exports, koku's) have no
  price.effective_price, the only contract unit price the export gives.
* ResourceType-C-005-C: only resource.global_name (detailed export) tells a type; the standard export's
  resource.name does not.

focus_export: none (see above).
"""

from collections.abc import Iterable, Mapping

import polars as pl

from finops_pipeline.quality.focus_rules import (
    DEFAULT_DISABLED_RULES,
    RESULT_SCHEMA,
    RuleModel,
    conformance_failures,
    evaluate_static_rules,
)

SOURCE_COLUMN = "x_SourceName"

SOURCE_APPLICABILITY: dict[str, frozenset[str]] = {
    "aws": frozenset(
        {
            "ACCOUNT_NAMING_SUPPORTED",  # accounts have names; CUR 2.0 carries them (exception for legacy CUR)
            "AVAILABILITY_ZONE_SUPPORTED",  # line_item_availability_zone
            "COMMITMENT_DISCOUNT_SUPPORTED",  # RIs and savings plans: ids, types, amortisation, Unused rows
            "MULTIPLE_PRICING_CATEGORIES_SUPPORTED",  # on-demand, Spot, RI/SP-covered
            "NEGOTIATED_PRICING_SUPPORTED",  # EDP/private pricing: net unblended rate and cost
            "PUBLIC_PRICE_LIST_SUPPORTED",  # pricing_public_on_demand_rate/cost
            "USAGE_MEASUREMENT_SUPPORTED",  # line_item_usage_amount
            "UNIT_PRICING_SUPPORTED",  # rates and product_sku
            "SUB_ACCOUNT_SUPPORTED",  # linked (usage) accounts
            "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED",  # line_item_resource_id
            "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",  # resource types, read from ARNs (exception for plain ids)
            "REGION_SUPPORTED",  # product_region(_code)
            "TAGGING_SUPPORTED",  # resource_tags_*
            # Not claimed:
            # CAPACITY_RESERVATION: no capacity-reservation column among those we read; CapacityReservation* null.
            # MULTIPLE_SUB_ACCOUNT_TYPES / MULTIPLE_BILLING_ACCOUNT_TYPES: AWS has one kind of each (member
            #   account, payer account), so SubAccountType/BillingAccountType are not required (we leave them null).
            # PRICING_BILLING_CURRENCY_DIFFERENCES: CUR costs and rates are both in line_item_currency_code and
            #   the CUR gives no exchange rate; our mapping fills no PricingCurrency* column.
            # VIRTUAL_CURRENCY: AWS prices in national currency only.
        }
    ),
    "azure": frozenset(
        {
            "ACCOUNT_NAMING_SUPPORTED",  # EA BillingAccountName, MCA BillingProfileName
            "AVAILABILITY_ZONE_SUPPORTED",  # AvailabilityZone
            "COMMITMENT_DISCOUNT_SUPPORTED",  # reservations and savings plans (BenefitId, actual + amortized)
            "MULTIPLE_PRICING_CATEGORIES_SUPPORTED",  # OnDemand, Spot, Reservation, SavingsPlan
            "MULTIPLE_BILLING_ACCOUNT_TYPES_SUPPORTED",  # Billing Account (EA), Billing Profile (MCA), Subscription
            "NEGOTIATED_PRICING_SUPPORTED",  # EA/MCA contract prices (UnitPrice)
            "PUBLIC_PRICE_LIST_SUPPORTED",  # PayGPrice / PaygCostInBillingCurrency
            "USAGE_MEASUREMENT_SUPPORTED",  # Quantity, UnitOfMeasure
            "UNIT_PRICING_SUPPORTED",  # UnitPrice per pricing block
            "SUB_ACCOUNT_SUPPORTED",  # subscriptions
            "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED",  # ResourceId
            "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",  # ARM resource types (ResourceTypes lookup)
            "REGION_SUPPORTED",  # ResourceLocation (Regions lookup)
            "TAGGING_SUPPORTED",  # Tags
            "PRICING_BILLING_CURRENCY_DIFFERENCES_SUPPORTED",  # MCA: PricingCurrency + exchange rate (EA: exception)
            # Not claimed:
            # CAPACITY_RESERVATION: cost details have no capacity reservation column (only inside AdditionalInfo).
            # MULTIPLE_SUB_ACCOUNT_TYPES: a sub account is always a subscription.
            # VIRTUAL_CURRENCY: Azure prices in national currency only.
        }
    ),
    "gcp": frozenset(
        {
            "ACCOUNT_NAMING_SUPPORTED",  # billing accounts have names (not in the export: exception)
            "AVAILABILITY_ZONE_SUPPORTED",  # location.zone
            "COMMITMENT_DISCOUNT_SUPPORTED",  # committed use discounts
            "MULTIPLE_PRICING_CATEGORIES_SUPPORTED",  # on-demand, committed, spot
            "NEGOTIATED_PRICING_SUPPORTED",  # contract pricing: price.effective_price
            "PUBLIC_PRICE_LIST_SUPPORTED",  # public SKU prices (not in the standard export: exception)
            "USAGE_MEASUREMENT_SUPPORTED",  # usage.amount / usage.unit
            "UNIT_PRICING_SUPPORTED",  # sku.id, price per pricing unit
            "SUB_ACCOUNT_SUPPORTED",  # projects
            "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED",  # resource.name / global_name
            "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",  # from resource.global_name
            "REGION_SUPPORTED",  # location.region
            "TAGGING_SUPPORTED",  # labels, tags
            # Not claimed:
            # CAPACITY_RESERVATION: no reservation column in the export.
            # MULTIPLE_SUB_ACCOUNT_TYPES / MULTIPLE_BILLING_ACCOUNT_TYPES: projects and billing accounts only.
            # PRICING_BILLING_CURRENCY_DIFFERENCES: the export has currency_conversion_rate, but our mapping
            #   fills no PricingCurrency* column yet.
            # VIRTUAL_CURRENCY: national currency only.
        }
    ),
}

# FOCUS-native exports: the ProviderName's native source's criteria; an unknown provider claims only the
# criteria that every FOCUS 1.2 producer we know of supports.
FOCUS_EXPORT_PROVIDERS: dict[str, str] = {
    "AWS": "aws",
    "Amazon Web Services": "aws",
    "Microsoft": "azure",
    "Google Cloud": "gcp",
    "Google": "gcp",
}
FOCUS_EXPORT_DEFAULT = frozenset(
    {"USAGE_MEASUREMENT_SUPPORTED", "UNIT_PRICING_SUPPORTED", "SUB_ACCOUNT_SUPPORTED", "REGION_SUPPORTED"}
)
SOURCE_APPLICABILITY["focus_export"] = FOCUS_EXPORT_DEFAULT

KNOWN_EXCEPTIONS: dict[str, dict[str, str]] = {
    "aws": {
        "BillingAccountName-C-003-C": "the legacy CUR has no account-name column (CUR 2.0 has, and is mapped)",
        "SubAccountName-C-005-C": "the legacy CUR has no usage-account-name column (CUR 2.0 has, and is mapped)",
        "ListUnitPrice-C-005-C": "no public on-demand rate in the CUR on Spot usage, commitment and other fees "
        "(and so on the Unused row derived from a commitment fee)",
        "ContractedUnitPrice-C-006-C": "no net or public rate in the CUR on Spot usage, commitment and other fees",
        "SkuId-C-005-C": "fee rows (AWS Support, Savings Plan fees) carry no product/sku",
        "SkuPriceId-C-005-C": "fee rows carry no rate code or id; some CURs have no pricing/RateCode, RateId columns",
        "ConsumedUnit-C-006-C": "the CUR leaves pricing/unit blank on some rows that have a usage amount",
        "PricingUnit-C-006-C": "the CUR leaves pricing/unit blank on some rows that have a usage amount",
        "ResourceType-C-005-C": "the CUR has no resource type: only ARNs tell it, plain ids (i-…, vol-…) do not",
        "EffectiveCost-C-005-C": "a Fee (AWS Support) is a Purchase covering no future charges; the model applies "
        "the rule to every Purchase",
    },
    "azure": {
        "SkuId-C-005-C": "EA and legacy exports have no ProductId",
        "SkuPriceId-C-005-C": "cost details exports have no price id",
        "SkuMeter-C-004-C": "kept MeterName where the export has no ProductId (SkuId)",
        "SkuPriceDetails-C-004-C": "kept AdditionalInfo although cost details have no price id (SkuPriceId)",
        "PricingCurrency-C-004-M": "EA and legacy exports have no pricing currency",
        "PricingCurrencyEffectiveCost-C-003-M": "EA and legacy exports have no pricing currency or exchange rate",
        "PricingCurrencyListUnitPrice-C-005-C": "EA and legacy exports have no pricing currency or exchange rate",
        "BillingAccountName-C-003-C": "legacy pay-as-you-go exports have no account name",
        "SubAccountName-C-005-C": "legacy pay-as-you-go exports have no subscription name",
    },
    "gcp": {
        "BillingAccountName-C-003-C": "the billing export has no billing account name",
        "ListUnitPrice-C-005-C": "the standard billing export has no list price",
        "ResourceType-C-005-C": "only resource.global_name tells a type; resource.name does not",
        "ContractedUnitPrice-C-006-C": "exports without the price struct have no price.effective_price",
    },
    "focus_export": {},
}


def applicability(source: str, provider: str | None = None) -> frozenset[str]:
    """The criteria claimed for `source` (and, for focus_export, the rows' ProviderName)."""
    if source == "focus_export" and provider is not None:
        native = FOCUS_EXPORT_PROVIDERS.get(provider)
        return SOURCE_APPLICABILITY[native] if native else FOCUS_EXPORT_DEFAULT
    if source not in SOURCE_APPLICABILITY:
        raise KeyError(f"no applicability criteria for source {source!r}; known: {sorted(SOURCE_APPLICABILITY)}")
    return SOURCE_APPLICABILITY[source]


def _groups(frame: pl.DataFrame, source: str) -> list[tuple[str | None, pl.DataFrame]]:
    if source == "focus_export" and "ProviderName" in frame.columns:
        providers = frame["ProviderName"].unique(maintain_order=True).to_list()
        return [(p, frame.filter(pl.col("ProviderName").eq_missing(p))) for p in providers]
    return [(None, frame)]


def _evaluate(
    frame: pl.DataFrame,
    model: RuleModel,
    source: str,
    *,
    disabled: Mapping[str, str],
    criteria: Iterable[str] | None,
) -> pl.DataFrame:
    parts = []
    for provider, rows in _groups(frame, source):
        claimed = criteria if criteria is not None else applicability(source, provider)
        results = evaluate_static_rules(rows, model, applicability=claimed, disabled=disabled)
        parts.append(results.with_columns(pl.lit(source).alias(SOURCE_COLUMN), pl.lit(provider).alias("ProviderName")))
    return pl.concat(parts) if parts else _no_results()


def _no_results() -> pl.DataFrame:
    return pl.DataFrame(schema={**RESULT_SCHEMA, SOURCE_COLUMN: pl.String, "ProviderName": pl.String})


def source_conformance(
    frame: pl.DataFrame | pl.LazyFrame,
    model: RuleModel,
    source: str,
    *,
    criteria: Iterable[str] | None = None,
) -> pl.DataFrame:
    """The MUST rules `source`'s rows fail under its criteria, its known exceptions not evaluated.

    `criteria` overrides the source's claimed criteria (FINOPS_FOCUS_APPLICABILITY). For focus_export the
    rows are judged per ProviderName; the result has `x_SourceName` and `ProviderName` columns.
    """
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    disabled = {**DEFAULT_DISABLED_RULES, **KNOWN_EXCEPTIONS.get(source, {})}
    return conformance_failures(_evaluate(frame, model, source, disabled=disabled, criteria=criteria))


def exception_failures(
    frame: pl.DataFrame | pl.LazyFrame,
    model: RuleModel,
    source: str,
    *,
    criteria: Iterable[str] | None = None,
) -> pl.DataFrame:
    """The known exceptions of `source` that its rows actually break (evaluated as if they were not listed)."""
    exceptions = KNOWN_EXCEPTIONS.get(source, {})
    if not exceptions:
        return _no_results().with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    results = _evaluate(frame, model, source, disabled=DEFAULT_DISABLED_RULES, criteria=criteria)
    failed = conformance_failures(results).filter(pl.col("RuleId").is_in(list(exceptions)))
    return failed.with_columns(pl.col("RuleId").replace_strict(exceptions, return_dtype=pl.String).alias("reason"))
