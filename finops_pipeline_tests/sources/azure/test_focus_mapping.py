"""Cost Management → FOCUS 1.2: Microsoft's rules on the shared samples, numbers worked out independently."""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.focus.schema import FOCUS_TABLE_SCHEMA
from finops_pipeline.sources.azure import (
    combine_actual_and_amortized,
    cost_export_source_totals,
    cost_export_to_focus,
    default_lookups,
    scan_cost_export,
)
from finops_pipeline_tests.paths import SHARED_DATA
from finops_pipeline_tests.sources.azure.raw_csv import (
    FINOPS_TOOLKIT,
    is_commitment_purchase,
    is_commitment_usage,
    money,
    rows,
)
from finops_pipeline_tests.sources.azure.test_cost_export import EA_HEADER, SAMPLES

ACTUAL, AMORTIZED = FINOPS_TOOLKIT / "EA_ActualCost_Small.csv", FINOPS_TOOLKIT / "EA_AmortizedCost_Small.csv"
ZERO = Decimal(0)

# Samples conform_to_focus() rejects, and why: the file lacks what FOCUS requires and we must not invent.
REJECTED = {
    # One data row that has nothing but a date: no cost, currency or account.
    "opencost/azure_headerset_BOM.csv": "BilledCost: mandatory, is null",
    # OpenCost's reduced test exports have no currency column at all.
    "opencost/azure_values_MissingBrackets.csv": "BillingCurrency: mandatory, is null",
    "opencost/azure_values_Template.csv": "BillingCurrency: mandatory, is null",
    "opencost/azure_values_VirtualMachine.csv": "BillingCurrency: mandatory, is null",
}


def to_focus(export: pl.LazyFrame, lookups) -> pl.DataFrame:
    return cost_export_to_focus(export, source_name="azure-ea", lookups=lookups).collect()


@pytest.fixture(scope="module")
def combined(open_data) -> pl.DataFrame:
    export = combine_actual_and_amortized(scan_cost_export([ACTUAL]), scan_cost_export([AMORTIZED]))
    return to_focus(export, open_data)


def test_output_has_the_focus_table_schema_and_a_reason(combined):
    assert combined.schema == pl.Schema({**FOCUS_TABLE_SCHEMA, REASON: pl.String})
    assert combined[REASON].null_count() == combined.height


def test_combined_ea_pair_keeps_amortized_rows_and_adds_commitment_purchases(combined):
    actual, amortized = rows(ACTUAL), rows(AMORTIZED)
    purchases = [r for r in actual if is_commitment_purchase(r)]
    assert len(purchases) == 1  # the monthly fee of a VM reservation

    assert combined.height == len(amortized) + len(purchases) == 29
    # BilledCost: amortized rows without commitment usage (billed by the purchase), plus the purchases.
    billed = sum((money(r["Cost"]) for r in amortized if not is_commitment_usage(r)), ZERO)
    billed += sum((money(r["Cost"]) for r in purchases), ZERO)
    # EffectiveCost: every amortized row (commitment usage included); purchases are amortized, so 0.
    effective = sum((money(r["Cost"]) for r in amortized), ZERO)
    assert combined["BilledCost"].sum() == billed
    assert combined["EffectiveCost"].sum() == effective
    assert billed == effective - Decimal("0.493152") - Decimal("0.0060000005") + Decimal("3.25")


def test_reservation_usage_row_by_hand(combined):
    """Amortized row 1: 8 h of Standard_DS2_v2 under reservation f39d1c73 at 0.061644/h (list 0.146/h)."""
    row = combined.filter(
        pl.col("x_SourceFile").str.ends_with("EA_AmortizedCost_Small.csv") & (pl.col("x_SourceRowNumber") == 1)
    ).row(0, named=True)
    assert row["ChargeCategory"] == "Usage"
    assert row["PricingCategory"] == "Committed"
    assert row["BilledCost"] == ZERO  # the purchase bills it
    assert row["EffectiveCost"] == Decimal("0.493152")  # 8 × 0.061644
    assert row["ContractedCost"] == row["ListCost"] == Decimal("1.168")  # 8 × 0.146 (EA: list = contracted)
    assert row["ContractedUnitPrice"] == Decimal("0.146")
    assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal(8), "Hours")
    assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (Decimal(8), "Hours")
    assert row["CommitmentDiscountId"] == (
        "/providers/Microsoft.Capacity/reservationOrders/a965d46f-aedf-4176-8ff1-2617943b8960"
        "/reservations/f39d1c73-af74-4308-9083-fbf5efab37d1"
    )
    assert (row["CommitmentDiscountCategory"], row["CommitmentDiscountType"]) == ("Usage", "Reservation")
    assert row["CommitmentDiscountStatus"] == "Used"
    # 8 hours of a size-flexible reservation at RINormalizationRatio 2.0
    assert (row["CommitmentDiscountQuantity"], row["CommitmentDiscountUnit"]) == (Decimal(16), "Hours")
    assert row["ChargePeriodStart"] == datetime(2023, 9, 22, tzinfo=UTC)
    assert row["ChargePeriodEnd"] == datetime(2023, 9, 23, tzinfo=UTC)
    assert row["BillingPeriodStart"] == datetime(2023, 9, 1, tzinfo=UTC)
    assert row["BillingPeriodEnd"] == datetime(2023, 10, 1, tzinfo=UTC)  # 09/30/2023 inclusive + 1 day
    assert row["x_ChargeDay"] == date(2023, 9, 22)
    assert (row["RegionId"], row["RegionName"]) == ("eastus", "East US")
    assert (row["ServiceName"], row["ServiceCategory"], row["ServiceSubcategory"]) == (
        "Virtual Machine Scale Sets",
        "Compute",
        "Virtual Machines",
    )
    assert row["ResourceType"] == "Virtual machine scale set"
    assert (row["BillingAccountId"], row["BillingAccountType"]) == ("8611537", "Billing Account")
    assert (row["SubAccountType"], row["InvoiceIssuerName"], row["ProviderName"]) == (
        "Subscription",
        "Microsoft",
        "Microsoft",
    )
    assert row["SubAccountId"] == rows(AMORTIZED)[0]["SubscriptionId"] == "9ec51cfd-5ca7-4d76-8101-dd0a4abc5674"
    assert row["SkuPriceDetails"].startswith('{"x_UsageType":"ComputeHR","x_ImageType":"Canonical"')
    assert '"x_RINormalizationRatio":2.0' in row["SkuPriceDetails"]
    assert row["Tags"].startswith('{"aks-managed-createOperationID":"","aks-managed-creationSource":')
    assert row["x_SourceName"] == "azure-ea"


def test_savings_plan_usage_and_reservation_purchase(combined):
    plan = combined.filter(pl.col("CommitmentDiscountType") == "Savings Plan").row(0, named=True)
    assert (plan["BilledCost"], plan["EffectiveCost"]) == (ZERO, Decimal("0.0060000005"))
    assert (plan["CommitmentDiscountCategory"], plan["CommitmentDiscountStatus"]) == ("Spend", "Used")
    # spend-based: the commitment consumed is the amortized cost (no exchange rate on EA)
    assert (plan["CommitmentDiscountQuantity"], plan["CommitmentDiscountUnit"]) == (Decimal("0.0060000005"), "USD")

    purchase = combined.filter(pl.col("ChargeCategory") == "Purchase").row(0, named=True)
    assert (purchase["BilledCost"], purchase["EffectiveCost"]) == (Decimal("3.25"), ZERO)
    assert (purchase["PricingCategory"], purchase["ChargeFrequency"]) == ("Standard", "Recurring")
    assert purchase["ChargeClass"] is None and purchase["CommitmentDiscountStatus"] is None
    assert purchase["ConsumedQuantity"] is None
    assert (purchase["ServiceName"], purchase["ServiceCategory"]) == ("Azure Reservations", "Management and Governance")


def test_combined_pair_reconciles_per_file_period_and_day(combined):
    export = combine_actual_and_amortized(scan_cost_export([ACTUAL]), scan_cost_export([AMORTIZED]))
    assert_reconciles(export, combined)


@pytest.mark.parametrize(("relative", "cost_header", "expected_rows"), SAMPLES)
def test_every_sample_maps_conforms_and_reconciles(open_data, relative, cost_header, expected_rows):
    path = SHARED_DATA / relative
    export = scan_cost_export([path], source_names=[relative])
    focus = to_focus(export, open_data)

    assert focus.height == expected_rows
    assert focus["x_SourceRowNumber"].to_list() == list(range(1, expected_rows + 1))
    raw = rows(path)
    billed = sum((money(r[cost_header]) for r in raw if r[cost_header] and not is_commitment_usage(r)), ZERO)
    assert focus["BilledCost"].sum() == billed
    assert_reconciles(export, focus)

    result = conform_to_focus(focus.drop(REASON))
    if relative in REJECTED:
        assert result.rejected.height == expected_rows
        assert result.rejected[REASON].str.contains(REJECTED[relative], literal=True).all()
    else:
        assert result.rejected.height == 0, result.rejected[REASON].to_list()
    # The mapping itself only objects to the row without a cost.
    expected_reasons = ["CostInBillingCurrency: missing"] if relative.endswith("_BOM.csv") else []
    assert focus[REASON].drop_nulls().to_list() == expected_reasons


def test_ea_tags_without_braces_become_a_json_object(open_data):
    focus = to_focus(
        scan_cost_export([SHARED_DATA / "focus_converters/sample-anonymous-ea-export-dataset.csv"]), open_data
    )
    assert focus["Tags"].unique().to_list() == ['{"tagA":"valueA","tagB":"valueB","tagC":"valueC"}']
    assert focus["SkuPriceDetails"][0] == '{"x_additional":"meta-data","x_appears":"in these","x_key":"value pairs"}'
    # 24 OnDemand and 3 Spot rows
    assert focus["PricingCategory"].value_counts().sort("PricingCategory").rows() == [("Dynamic", 3), ("Standard", 24)]


def test_mca_list_cost_account_and_pricing_currency(open_data):
    raw = rows(SHARED_DATA / "koku/camel_azure_version_2.csv")
    focus = to_focus(scan_cost_export([SHARED_DATA / "koku/camel_azure_version_2.csv"]), open_data)
    assert focus["ListCost"].to_list() == [money(r["paygCostInBillingCurrency"]) for r in raw]
    assert focus["BillingAccountId"].unique().to_list() == ["NF5V-BI6B-BG7-PGB"]  # the billing profile
    assert focus["BillingAccountType"].unique().to_list() == ["Billing Profile"]
    assert focus["PricingCurrency"].unique().to_list() == ["USD"]
    # 0.000348 GB/Month at 0.0589 list per GB/Month
    first = focus.row(0, named=True)
    assert (first["PricingQuantity"], first["PricingUnit"], first["ListUnitPrice"]) == (
        Decimal("0.000348"),
        "GB/Month",
        Decimal("0.0589"),
    )


def test_legacy_pay_as_you_go_german_headers(open_data):
    """3 hours of a load balancer rule at 0.025/h; the meter is priced per "100 Hours"."""
    row = to_focus(scan_cost_export([SHARED_DATA / "opencost/azure_headerset_German.csv"]), open_data).row(
        0, named=True
    )
    assert row["BilledCost"] == row["EffectiveCost"] == row["ContractedCost"] == Decimal("0.075")
    assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal("0.03"), "Hours")  # 3 / 100
    assert row["ContractedUnitPrice"] == Decimal("2.5")  # 0.025 per hour = 2.50 per 100 hours
    assert (row["BillingAccountId"], row["BillingAccountType"]) == (
        "11111111-12ab-34dc-56ef-123456abcdef",
        "Subscription",
    )
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == (
        datetime(2021, 2, 1, tzinfo=UTC),
        datetime(2021, 3, 1, tzinfo=UTC),
    )
    assert (row["RegionId"], row["RegionName"]) == ("eastus", "East US")  # "US East"
    assert row["BillingCurrency"] == "USD"


def test_non_numeric_cost_on_row_3_is_quarantined_with_column_value_and_row(tmp_path, open_data):
    path = tmp_path / "export.csv"
    path.write_text(
        f"{EA_HEADER},CostInBillingCurrency,Quantity\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,1.25,1\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,2.50,1\n"
        '1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,"12,34 €",1\n'
    )
    focus = to_focus(scan_cost_export([path], source_names=["export.csv"]), open_data)

    bad = focus.filter(pl.col(REASON).is_not_null())
    assert bad["x_SourceRowNumber"].to_list() == [3]
    assert bad[REASON].to_list() == ["CostInBillingCurrency: '12,34 €' is not a number"]
    assert bad["BilledCost"].to_list() == [None]  # the parsed cost: nothing parsed
    assert bad["x_ChargeDay"].to_list() == [date(2024, 1, 5)]
    assert_reconciles(scan_cost_export([path], source_names=["export.csv"]), focus)


def test_quarantine_reasons_keep_the_cost(tmp_path, open_data):
    path = tmp_path / "export.csv"
    path.write_text(
        f"{EA_HEADER},CostInBillingCurrency,Tags\n"
        '1,EUR,2024-01-01,2024-01-31,2024-01-05,Reversal,OnDemand,4.00,"""a"": ""b"""\n'
        "1,EUR,2024-01-01,2024-01-31,31.12.2024,Usage,OnDemand,1.00,\n"
        '1,EUR,2024-01-01,2024-01-31,2024-01-06,Usage,OnDemand,2.00,"""a"": [broken"\n'
    )
    focus = to_focus(scan_cost_export([path]), open_data)
    assert focus.select(REASON, "BilledCost", "ChargeCategory", "x_ChargeDay").rows() == [
        ("ChargeType: unknown 'Reversal'", Decimal(4), "Adjustment", date(2024, 1, 5)),
        ("Date: '31.12.2024' is not a date", Decimal(1), "Usage", date(2024, 1, 1)),
        ("Tags: '\"a\": [broken' is not a JSON object", Decimal(2), "Usage", date(2024, 1, 6)),
    ]


def test_refunds_unused_commitments_and_tax(tmp_path, open_data):
    path = tmp_path / "export.csv"
    header = f"{EA_HEADER},CostInBillingCurrency,Quantity,UnitPrice,UnitOfMeasure,BenefitId"
    reservation = "/providers/Microsoft.Capacity/reservationOrders/o1/reservations/r1"
    path.write_text(
        f"{header}\n"
        f"1,EUR,2024-01-01,2024-01-31,2024-01-05,Refund,Reservation,-30,1,30,1 Hour,{reservation}\n"
        f"1,EUR,2024-01-01,2024-01-31,2024-01-05,UnusedReservation,Reservation,0.40,4,0.1,1 Hour,{reservation}\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Tax,,1.90,1,1.9,1,\n"
    )
    focus = to_focus(scan_cost_export([path]), open_data)
    refund, unused, tax = focus.iter_rows(named=True)

    assert (refund["ChargeCategory"], refund["ChargeClass"], refund["PricingCategory"]) == (
        "Purchase",
        "Correction",
        "Standard",
    )
    assert (refund["BilledCost"], refund["EffectiveCost"]) == (Decimal(-30), ZERO)

    assert (unused["ChargeCategory"], unused["CommitmentDiscountStatus"]) == ("Usage", "Unused")
    assert (unused["BilledCost"], unused["EffectiveCost"]) == (ZERO, Decimal("0.4"))  # billed by the purchase
    assert unused["ConsumedQuantity"] is None and unused["ConsumedUnit"] is None

    assert (tax["ChargeCategory"], tax["PricingCategory"], tax["ChargeFrequency"]) == ("Tax", None, "One-Time")
    assert tax["ContractedUnitPrice"] is None and tax["PricingQuantity"] is None and tax["PricingUnit"] is None
    assert tax["BilledCost"] == tax["EffectiveCost"] == tax["ContractedCost"] == tax["ListCost"] == Decimal("1.9")


def test_tiered_meter_unit_prices_are_the_effective_price(tmp_path, open_data):
    """EA tiered meter: 11 h at UnitPrice 0.2 (the first tier), billed 0.122099941 at EffectivePrice 0.011099995
    (focus_converters EA sample). Unit prices are what the cost was computed at, so that unit price ×
    PricingQuantity = ContractedCost = ListCost = the cost (FOCUS ContractedUnitPrice-C-011-C, ListCost-C-009-C);
    commitment usage keeps UnitPrice (its ContractedCost is UnitPrice × Quantity)."""
    path = tmp_path / "export.csv"
    header = f"{EA_HEADER},CostInBillingCurrency,Quantity,UnitPrice,EffectivePrice,UnitOfMeasure,ReservationId"
    path.write_text(
        f"{header}\n"
        "1,USD,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,0.122099941,11,0.2,0.011099995,1 Hour,\n"
        "1,USD,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,3.5,7,0.5,,1 Hour,\n"
        "1,USD,2024-01-01,2024-01-31,2024-01-05,Usage,Reservation,0.5,8,0.1,0.0625,1 Hour,r1\n"
        "1,USD,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,1,1,1,1 per hour,1 Hour,\n"
    )
    focus = to_focus(scan_cost_export([path]), open_data)
    tiered, no_effective_price, reservation, bad = focus.iter_rows(named=True)

    assert tiered["ContractedUnitPrice"] == tiered["ListUnitPrice"] == Decimal("0.011099995")
    assert tiered["ContractedCost"] == tiered["ListCost"] == tiered["EffectiveCost"] == Decimal("0.122099941")
    assert abs(tiered["ContractedUnitPrice"] * tiered["PricingQuantity"] - tiered["ContractedCost"]) < Decimal("1e-6")
    assert no_effective_price["ContractedUnitPrice"] == Decimal("0.5")  # UnitPrice when EffectivePrice is missing
    assert (reservation["ContractedUnitPrice"], reservation["ContractedCost"]) == (Decimal("0.1"), Decimal("0.8"))
    assert bad[REASON] == "EffectivePrice: '1 per hour' is not a number"


def test_default_lookups_work_without_the_open_data_files():
    focus = to_focus(scan_cost_export([AMORTIZED]), default_lookups())
    first = focus.row(0, named=True)
    assert (first["ServiceName"], first["ServiceCategory"]) == ("Virtual Machines", "Compute")
    assert (first["PricingQuantity"], first["PricingUnit"], first["RegionName"]) == (Decimal(8), "Hours", "East US")
    assert focus["ServiceCategory"].is_not_null().all() and focus["ServiceSubcategory"].is_not_null().all()
    assert conform_to_focus(focus.drop(REASON)).rejected.height == 0


@pytest.mark.parametrize("engine", ["streaming", "in-memory"])
def test_both_engines_give_the_same_rows(open_data, combined, engine):
    """Guards the when/then chains against polars' streaming engine (see the AWS mapping's note)."""
    export = combine_actual_and_amortized(scan_cost_export([ACTUAL]), scan_cost_export([AMORTIZED]))
    frame = cost_export_to_focus(export, source_name="azure-ea", lookups=open_data).collect(engine=engine)
    assert frame.equals(combined)


def assert_reconciles(export: pl.LazyFrame, focus: pl.DataFrame) -> None:
    """Σ source cost = Σ BilledCost of mapped and quarantined rows, per file, billing period and day."""
    keys = ["x_SourceFile", "x_BillingPeriodStart", "x_ChargeDay"]
    source = cost_export_source_totals(export).collect()
    mapped = focus.group_by(
        "x_SourceFile", pl.col("BillingPeriodStart").dt.date().alias("x_BillingPeriodStart"), "x_ChargeDay"
    ).agg(pl.col("BilledCost").sum().alias("focus_cost"), pl.len().alias("focus_rows"))
    joined = source.join(mapped, on=keys, how="full", coalesce=True, nulls_equal=True)
    assert joined.height == source.height
    assert (joined["x_SourceCost"] == joined["focus_cost"]).all(), joined
    assert (joined["x_SourceRows"] == joined["focus_rows"]).all(), joined


def test_assert_reconciles_compares_per_day(tmp_path):
    """The helper itself: a shifted cost must fail it."""
    path: Path = tmp_path / "export.csv"
    path.write_text(f"{EA_HEADER},CostInBillingCurrency\n1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,1\n")
    export = scan_cost_export([path])
    focus = to_focus(export, default_lookups()).with_columns(pl.col("BilledCost") * 2)
    with pytest.raises(AssertionError):
        assert_reconciles(export, focus)


def test_a_pricing_currency_cost_too_large_for_a_decimal_is_null_not_a_failed_file(tmp_path, open_data):
    """PricingCurrencyEffectiveCost = EffectiveCost / ExchangeRatePricingToBilling. A garbage rate (1e-10) makes
    row 2's quotient 1e30, beyond Decimal(38, 10): that value is null; the file and its other rows still map."""
    path = tmp_path / "export.csv"
    path.write_text(
        f"{EA_HEADER},CostInBillingCurrency,Quantity,PricingCurrency,ExchangeRatePricingToBilling\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,9.00,1,USD,0.9\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,100000000000000000000,1,USD,0.0000000001\n"
    )
    first, garbage = to_focus(scan_cost_export([path]), open_data).iter_rows(named=True)

    assert first["PricingCurrencyEffectiveCost"] == Decimal(10)  # 9.00 EUR / 0.9 EUR per USD
    assert garbage["PricingCurrencyEffectiveCost"] is None
    assert garbage["BilledCost"] == garbage["EffectiveCost"] == Decimal("1e20")


def test_costs_out_of_range_are_quarantined_and_the_file_still_adds_up(tmp_path, open_data):
    """Two 9e27 costs each fit Decimal(38, 10) (< 1e28) but their sum does not, and polars fails a whole sum on
    an overflow: the source totals of the file would fail. Costs of magnitude 1e24 or more are out of range,
    so they are quarantined (cost null, counted as unparsed) and the file's totals reconcile."""
    path = tmp_path / "export.csv"
    path.write_text(
        f"{EA_HEADER},CostInBillingCurrency,Quantity\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,1.25,1\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,9e27,1\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,-9E+27,1\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,999999999999999999999999.99,1\n"
    )
    export = scan_cost_export([path], source_names=["export.csv"])
    focus = to_focus(export, open_data)
    assert focus[REASON].to_list() == [
        None,
        "CostInBillingCurrency: '9e27' is out of range (magnitude 1e+24 or more)",
        "CostInBillingCurrency: '-9E+27' is out of range (magnitude 1e+24 or more)",
        None,
    ]
    assert focus["BilledCost"].to_list() == [Decimal("1.25"), None, None, Decimal("999999999999999999999999.99")]
    totals = cost_export_source_totals(export).collect()
    assert totals["x_SourceCost"].to_list() == [Decimal("1000000000000000000000001.24")]
    assert totals["x_UnparsedCostRows"].to_list() == [2]
    assert_reconciles(export, focus)
