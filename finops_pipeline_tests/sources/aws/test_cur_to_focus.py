"""cur_to_focus / cur_source_totals on real CUR files, with expected numbers worked out independently.

Expected totals come from the raw files (pyarrow/polars on the raw parquet column, Python's csv + Decimal on the
CSV text), never from the code under test.
"""

import csv
import gzip
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finops_pipeline.focus import REASON, conform_to_focus
from finops_pipeline.focus.schema import FOCUS_TABLE_SCHEMA, SERVICE_CATEGORIES, SERVICE_SUBCATEGORIES
from finops_pipeline.sources.aws.cur import cur_source_totals, scan_cur
from finops_pipeline.sources.aws.focus_mapping import cur_to_focus
from finops_pipeline.sources.aws.service_categories import DEFAULT
from finops_pipeline.sources.aws.service_categories import SERVICE_CATEGORIES as AWS_SERVICE_CATEGORIES

DATA = (Path(__file__).parents[3] / ".." / "shared" / "data").resolve()
WORKSHOP = {
    m: DATA / "cloudacademy-aws-cur" / f"{m}2018-WorkshopCUR-00001.snappy.parquet" for m in ("Oct", "Nov", "Dec")
}
TEST_CUR = DATA / "koku" / "test_cur.csv"
CENT = Decimal("0.01")


def to_focus(files, **kwargs) -> pl.DataFrame:
    return cur_to_focus(scan_cur(files, **kwargs), source_name="aws").collect()


def cents(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def assert_conforms(focus: pl.DataFrame) -> None:
    assert focus[REASON].null_count() == focus.height, focus.filter(pl.col(REASON).is_not_null())[REASON]
    rejected = conform_to_focus(focus.drop(REASON)).rejected
    assert rejected.height == 0, rejected[REASON].value_counts()


def test_service_categories_are_focus_values():
    # FOCUS lists each category's subcategories together, ending with "Other (<category>)".
    parent, pending = {}, []
    for subcategory in SERVICE_SUBCATEGORIES:
        pending.append(subcategory)
        if subcategory.startswith("Other ("):
            parent.update(dict.fromkeys(pending, subcategory[len("Other (") : -1]))
            pending = []
    assert not pending
    for code, (category, subcategory) in [*AWS_SERVICE_CATEGORIES.items(), ("(default)", DEFAULT)]:
        assert category in SERVICE_CATEGORIES, code
        assert parent[subcategory] == category, code
    assert len(AWS_SERVICE_CATEGORIES) >= 60


def test_output_has_the_focus_table_schema_and_a_reason():
    focus = cur_to_focus(scan_cur([WORKSHOP["Dec"]]), source_name="aws")
    assert focus.collect_schema() == pl.Schema({**FOCUS_TABLE_SCHEMA, REASON: pl.String})


# --- WorkshopCUR: real legacy CUR parquet, Oct-Dec 2018 ------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "source_rows", "unused_rows", "unblended"),
    [("Oct", 119_307, 3, "4064.48"), ("Nov", 124_340, 1, "3505.33"), ("Dec", 91_264, 3, "408.38")],
)
def test_workshop_month_rows_and_billed_cost(month, source_rows, unused_rows, unblended):
    raw = pl.read_parquet(
        WORKSHOP[month],
        columns=[
            "line_item_line_item_type",
            "line_item_unblended_cost",
            "reservation_unused_amortized_upfront_fee_for_billing_period",
            "reservation_unused_recurring_fee",
        ],
    )
    # Counted from the raw columns: a RIFee row with an unused upfront or recurring fee gets an Unused row.
    unused_fee = pl.col("reservation_unused_amortized_upfront_fee_for_billing_period") + pl.col(
        "reservation_unused_recurring_fee"
    )
    raw_unused = raw.filter((pl.col("line_item_line_item_type") == "RIFee") & (unused_fee != 0)).height
    assert (raw.height, raw_unused) == (source_rows, unused_rows)
    assert cents(raw["line_item_unblended_cost"].sum()) == Decimal(unblended)

    focus = to_focus([WORKSHOP[month]])
    assert focus.height == source_rows + unused_rows
    assert focus.filter(pl.col("CommitmentDiscountStatus") == "Unused").height == unused_rows
    assert cents(focus["BilledCost"].sum()) == Decimal(unblended)
    assert_conforms(focus)


def test_workshop_three_months_together_reconcile_per_day_and_file():
    files = list(WORKSHOP.values())
    focus = to_focus(files)
    assert focus.height == 119_307 + 124_340 + 91_264 + (3 + 1 + 3)
    # product_region holds codes in this CUR; every one (incl. "global") has a name.
    raw_regions = {r for f in files for r in pl.read_parquet(f, columns=["product_region"])["product_region"] if r}
    regions = focus.select("RegionId", "RegionName").unique().drop_nulls("RegionId")
    assert set(regions["RegionId"]) == raw_regions and len(raw_regions) == 18
    assert regions["RegionName"].null_count() == 0
    assert cents(focus["BilledCost"].sum()) == Decimal("7978.19")  # 4064.48 + 3505.33 + 408.38 (rounded)

    totals = cur_source_totals(scan_cur(files)).collect()
    assert totals["x_SourceRows"].sum() == 334_911
    assert totals["x_UnparsedCostRows"].sum() == 0
    billed = focus.group_by("x_ChargeDay", "x_SourceFile").agg(pl.col("BilledCost").sum())
    joined = totals.join(billed, on=["x_ChargeDay", "x_SourceFile"], how="full", coalesce=True)
    assert joined.height == totals.height == 31 + 30 + 31
    assert (joined["x_SourceCost"] == joined["BilledCost"]).all()  # to the last decimal, every day and file


def test_discounted_usage_effective_cost_by_hand():
    """Oct 2018, row 21: one hour of i-0474184642c5de81d covered by a partial-upfront RI."""
    raw = pl.read_parquet(WORKSHOP["Oct"]).row(20, named=True)
    assert raw["line_item_line_item_type"] == "DiscountedUsage"
    # Amortised upfront for this hour + the hourly recurring fee = the RI's effective cost for the hour.
    assert raw["reservation_amortized_upfront_cost_for_usage"] == 0.02545662
    assert raw["reservation_recurring_fee_for_usage"] == 0.026
    by_hand = Decimal("0.02545662") + Decimal("0.026")
    assert by_hand == Decimal("0.05145662") == Decimal(str(raw["reservation_effective_cost"]))

    row = to_focus([WORKSHOP["Oct"]]).filter(pl.col("x_SourceRowNumber") == 21).row(0, named=True)
    assert row["ResourceId"] == "i-0474184642c5de81d"
    assert row["EffectiveCost"] == by_hand
    assert row["BilledCost"] == 0  # the RI pays for it: nothing on the invoice for this hour
    assert row["ListCost"] == row["ContractedCost"] == Decimal("0.085")  # on-demand price of the hour
    assert row["ConsumedQuantity"] == 1
    assert (row["ChargeCategory"], row["PricingCategory"], row["CommitmentDiscountStatus"]) == (
        "Usage",
        "Committed",
        "Used",
    )
    assert row["CommitmentDiscountId"] == raw["reservation_reservation_a_r_n"]
    assert (row["CommitmentDiscountCategory"], row["CommitmentDiscountType"]) == ("Usage", "Reserved Instance")
    assert row["x_ChargeDay"] == date(2018, 10, 1)


def test_october_reserved_instance_closure():
    """Σ covered-usage effective cost + unused fees = what the month's RI fees imply (recurring + amortised
    upfront), overall and for each RI."""
    raw = pl.read_parquet(WORKSHOP["Oct"]).filter(pl.col("line_item_line_item_type") == "RIFee")
    implied_by_ri = raw.select(
        pl.col("reservation_reservation_a_r_n").alias("CommitmentDiscountId"),
        (pl.col("line_item_unblended_cost") + pl.col("reservation_amortized_upfront_fee_for_billing_period")).alias(
            "implied"
        ),
    )
    assert cents(raw["line_item_unblended_cost"].sum()) == Decimal("149.78")  # 9 RIFee rows, recurring
    assert cents(raw["reservation_amortized_upfront_fee_for_billing_period"].sum()) == Decimal("131.47")
    assert cents(implied_by_ri["implied"].sum()) == Decimal("281.25")  # 149.775379 + 131.4739726

    focus = to_focus([WORKSHOP["Oct"]])
    used = focus.filter(pl.col("CommitmentDiscountStatus") == "Used")["EffectiveCost"].sum()
    unused = focus.filter(pl.col("CommitmentDiscountStatus") == "Unused")["EffectiveCost"].sum()
    assert cents(used) == Decimal("232.25")  # Σ reservation_effective_cost over 8,345 DiscountedUsage rows
    assert cents(unused) == Decimal("49.00")  # 48.99556079 unused upfront + recurring
    assert cents(used + unused) == Decimal("281.25")

    per_ri = (
        focus.filter(pl.col("ChargeCategory") == "Usage", pl.col("CommitmentDiscountId").is_not_null())
        .group_by("CommitmentDiscountId")
        .agg(pl.col("EffectiveCost").sum())
        .join(implied_by_ri, on="CommitmentDiscountId", how="full", coalesce=True)
    )
    assert per_ri.height == 9
    for effective, implied in per_ri.select("EffectiveCost", "implied").iter_rows():
        assert cents(effective) == cents(implied)

    # Row 1 is an RI nothing used this month: its Unused row carries all of it, 22.3369863 + 22.32.
    fee_row, unused_row = (
        focus.filter(pl.col("x_SourceRowNumber") == 1).sort("CommitmentDiscountStatus").rows(named=True)
    )
    assert (fee_row["ChargeCategory"], fee_row["ChargeFrequency"], fee_row["PricingCategory"]) == (
        "Purchase",
        "Recurring",
        "Standard",
    )
    assert (fee_row["BilledCost"], fee_row["EffectiveCost"]) == (Decimal("22.32"), 0)
    assert unused_row["CommitmentDiscountStatus"] == "Unused"
    assert unused_row["EffectiveCost"] == Decimal("22.3369863") + Decimal("22.32")
    assert unused_row["BilledCost"] == 0 and unused_row["ConsumedQuantity"] is None
    assert unused_row["ResourceId"] == unused_row["CommitmentDiscountId"] == fee_row["CommitmentDiscountId"]
    assert unused_row["ResourceType"] == "reserved-instances"
    assert unused_row["ChargeDescription"] == "Unused Reserved Instance commitment"
    assert sorted(focus.filter(pl.col("CommitmentDiscountStatus") == "Unused")["x_SourceRowNumber"]) == [1, 6, 9]


def test_october_reserved_instance_unused_hours():
    """The Unused row's PricingQuantity is the RI's unused hours (reservation_unused_quantity); its
    CommitmentDiscountQuantity is the same in the RI's unit, normalised hours (× the RIFee's factor)."""
    raw = pl.read_parquet(WORKSHOP["Oct"])
    fees = raw.filter(pl.col("line_item_line_item_type") == "RIFee").with_row_index("row", offset=1)
    unused_hours = dict(fees.select("row", "reservation_unused_quantity").iter_rows())
    assert (unused_hours[1], unused_hours[6], unused_hours[9]) == (744.0, 45.999444, 335.320278)
    factors = dict(fees.select("row", "line_item_normalization_factor").iter_rows())
    assert (factors[1], factors[6], factors[9]) == (4.0, 0.5, 0.5)  # a c4.large and two t2.micro RIs

    focus = to_focus([WORKSHOP["Oct"]])
    unused = focus.filter(pl.col("CommitmentDiscountStatus") == "Unused").sort("x_SourceRowNumber")
    assert unused["x_SourceRowNumber"].to_list() == [1, 6, 9]  # RIFee rows are the file's first nine rows
    assert unused["PricingQuantity"].to_list() == [Decimal("744"), Decimal("45.999444"), Decimal("335.320278")]
    assert unused["PricingUnit"].unique().to_list() == ["Hrs"]  # the RIFee row has no pricing/unit: the usage's
    assert unused["CommitmentDiscountQuantity"].to_list() == [
        Decimal("2976"),  # 744 × 4
        Decimal("22.999722"),  # 45.999444 × 0.5
        Decimal("167.660139"),  # 335.320278 × 0.5
    ]
    assert unused["CommitmentDiscountUnit"].unique().to_list() == ["Normalized Hours"]
    assert unused["ConsumedQuantity"].null_count() == 3  # FOCUS: nothing consumed on an Unused row


@pytest.mark.parametrize("month", ["Oct", "Nov", "Dec"])
def test_size_flexible_reserved_instances_close_in_normalised_hours(month):
    """Per RI and month, the normalised hours its covered usage drew + its unused normalised hours = the
    normalised hours its RIFee bought, with every quantity taken from AWS's own normalised columns
    (line_item_normalized_usage_amount, reservation_total_reserved_normalized_units,
    reservation_unused_normalized_unit_quantity). In plain hours it does not close: a t2.nano RI covering a
    t2.large draws 0.125 of its hours for 0.5 normalised ones."""
    raw = pl.read_parquet(WORKSHOP[month])
    ri = pl.col("reservation_reservation_a_r_n")
    kind = pl.col("line_item_line_item_type")
    bought = dict(
        raw.filter(kind == "RIFee")
        .select(ri, pl.col("reservation_total_reserved_normalized_units").cast(pl.Float64))
        .iter_rows()
    )
    unused = dict(raw.filter(kind == "RIFee").select(ri, "reservation_unused_normalized_unit_quantity").iter_rows())
    drawn = dict(
        raw.filter(kind == "DiscountedUsage")
        .group_by(ri)
        .agg(pl.col("line_item_normalized_usage_amount").sum())
        .iter_rows()
    )
    assert len(bought) == 9
    for arn, total in bought.items():  # AWS's numbers close on their own (to float rounding)
        assert drawn.get(arn, 0) + unused[arn] == pytest.approx(total)

    focus = to_focus([WORKSHOP[month]]).filter(pl.col("CommitmentDiscountType") == "Reserved Instance")
    assert focus["CommitmentDiscountUnit"].unique().to_list() == ["Normalized Hours"]
    quantity = pl.col("CommitmentDiscountQuantity")
    ours = focus.group_by("CommitmentDiscountId").agg(
        quantity.filter(pl.col("CommitmentDiscountStatus") == "Used").sum().alias("used"),
        quantity.filter(pl.col("CommitmentDiscountStatus") == "Unused").sum().alias("unused"),
        quantity.filter(pl.col("ChargeCategory") == "Purchase").sum().alias("bought"),
    )
    for arn, used, unused_ours, bought_ours in ours.iter_rows():
        assert used + unused_ours == bought_ours  # exactly, in Decimal
        assert (float(used), float(unused_ours), float(bought_ours)) == pytest.approx(
            (drawn.get(arn, 0), unused[arn], bought[arn])
        )
    assert set(ours["CommitmentDiscountId"]) == set(bought)

    # The t2.nano RI (factor 0.25) covers t2.micro/t2.large hours: its hours alone do not add up.
    (nano,) = raw.filter(kind == "RIFee", pl.col("line_item_usage_type") == "HeavyUsage:t2.nano")[
        "reservation_reservation_a_r_n"
    ]
    nano_rows = raw.filter(kind == "DiscountedUsage", ri == nano)
    assert nano_rows["line_item_usage_amount"].sum() != pytest.approx(
        raw.filter(kind == "RIFee", ri == nano)["line_item_usage_amount"].item()
    )


def test_workshop_tags_on_one_row():
    row = to_focus([WORKSHOP["Oct"]]).filter(pl.col("x_SourceRowNumber") == 1046).row(0, named=True)
    assert row["ResourceId"] == "i-03c39c3ba70313fdd"
    # Athena names lost the AWS tag spelling (restored) and the user key casing (kept as written).
    # Blank tag values (ec2spot fleet, name, workload_type on this row) are left out.
    assert row["Tags"] == (
        '{"aws:autoscaling:groupName":"9-5","aws:createdBy":"AssumedRole:AROAJGU2HPNPHADL7OAAO:AutoScaling",'
        '"cost_center":"Cost004","department":"CentralIT","environment":"Development","workload":"Daytime"}'
    )


# --- CSV samples ---------------------------------------------------------------------------------------------


def raw_csv(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def raw_unblended(rows: list[dict[str, str]]) -> Decimal:
    key = "lineItem/UnblendedCost" if "lineItem/UnblendedCost" in rows[0] else "line_item_unblended_cost"
    return sum((Decimal(r[key]) for r in rows), Decimal(0))


@pytest.mark.parametrize(
    ("name", "rows", "unblended"),
    [
        ("focus_converters/sample-anonymous-aws-export-dataset.csv", 1_281, "1.68"),
        ("koku/aws_legacy_cur_koku-local-1.csv.gz", 13_380, "143227.76"),
        ("koku/test_cur.csv", 19, "0.08"),
        ("koku/2022-07-01-alt-columns.csv", 2, "0.00"),
        ("koku/2023-06-01.csv", 3, "30.00"),
    ],
)
def test_csv_samples_reconcile(name, rows, unblended):
    path = DATA / name
    raw = raw_csv(path)
    assert (len(raw), raw_unblended(raw).quantize(CENT)) == (rows, Decimal(unblended))

    focus = to_focus([path])
    assert focus.height == rows  # no commitment fees in these files, so no derived rows
    assert focus["BilledCost"].sum().quantize(CENT) == Decimal(unblended)
    totals = cur_source_totals(scan_cur([path])).collect()
    assert totals["x_SourceRows"].sum() == rows
    assert totals["x_SourceCost"].sum() == focus["BilledCost"].sum()
    assert totals["x_UnparsedCostRows"].sum() == 0
    assert_conforms(focus)


def test_focus_converters_sample_usage_and_tax():
    focus = to_focus([DATA / "focus_converters" / "sample-anonymous-aws-export-dataset.csv"])
    assert dict(focus["ChargeCategory"].value_counts().iter_rows()) == {"Usage": 1_269, "Tax": 12}
    tax = focus.filter(pl.col("ChargeCategory") == "Tax")
    # FOCUS: no unit prices, quantities, SKUs or pricing category on Tax; ListCost falls back to BilledCost.
    for column in ("ListUnitPrice", "PricingQuantity", "PricingUnit", "PricingCategory", "SkuId", "SkuPriceId"):
        assert tax[column].null_count() == 12, column
    assert (tax["ListCost"] == tax["BilledCost"]).all()
    assert (tax["ChargeFrequency"] == "One-Time").all()
    assert focus["InvoiceIssuerName"].unique().to_list() == ["Amazon Web Services Canada, Inc."]
    assert focus["BillingAccountId"].unique().to_list() == ["123412340534"]


def test_alt_columns_marketplace_row_and_tags():
    row = to_focus([DATA / "koku" / "2022-07-01-alt-columns.csv"]).row(0, named=True)
    assert row["Tags"] == '{"aws:createdBy":"IAMUser:fake:and"}'
    assert (row["PublisherName"], row["InvoiceIssuerName"]) == ("Red Hat, Inc.", "Amazon Web Services, Inc.")
    assert (row["ServiceName"], row["ServiceCategory"]) == ("Red Hat® Enterprise Linux®", "Other")
    assert row["ResourceType"] == "instance"  # from arn:aws:ec2:…:instance/i-…
    assert row["SkuPriceId"] == "52KUDV3HNNAWJGTF.4799GE89SK.6YS6EN2CT7"  # rate code wins over rate id
    assert (row["RegionId"], row["RegionName"]) == ("us-east-1", "US East (N. Virginia)")
    assert row["ChargePeriodStart"] == datetime(2022, 7, 1, tzinfo=UTC)


def test_koku_savings_plan_covered_usage():
    """2023-06-01.csv: three SavingsPlanCoveredUsage hours of an m5.large in NOK, covered at 0.1 each."""
    focus = to_focus([DATA / "koku" / "2023-06-01.csv"])
    assert focus["EffectiveCost"].to_list() == [Decimal("0.1")] * 3  # savingsPlan/SavingsPlanEffectiveCost
    assert focus["BilledCost"].to_list() == focus["ListCost"].to_list() == [Decimal("10")] * 3
    assert focus["PricingCategory"].unique().to_list() == ["Committed"]
    assert focus["BillingCurrency"].unique().to_list() == ["NOK"]
    assert focus["BillingAccountId"].unique().to_list() == ["0099999999999"]  # leading zeros kept
    # The fixture has no SavingsPlanARN: without a commitment id FOCUS wants no commitment status either.
    assert focus["CommitmentDiscountId"].null_count() == focus["CommitmentDiscountStatus"].null_count() == 3


SP_ARN = "arn:aws:savingsplans::123456789012:savingsplan/0f1e2d3c-aaaa-bbbb-cccc-000000000001"
SP_HEADER = [
    "identity/LineItemId", "bill/InvoiceId", "bill/InvoicingEntity", "bill/PayerAccountId",
    "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", "lineItem/UsageAccountId",
    "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/ProductCode",
    "lineItem/ResourceId", "lineItem/UsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedCost",
    "lineItem/LineItemDescription", "product/ProductName", "product/regionCode", "pricing/publicOnDemandCost",
    "pricing/publicOnDemandRate", "pricing/term", "pricing/unit", "savingsPlan/SavingsPlanARN",
    "savingsPlan/SavingsPlanEffectiveCost", "savingsPlan/TotalCommitmentToDate", "savingsPlan/UsedCommitment",
    "resourceTags/user:Team", "resourceTags/user:team", "resourceTags/aws:createdBy", "resourceTags/user:Empty",
]  # fmt: skip


def sp_row(kind, resource, amount, cost, on_demand, effective="", tags=("", "", "", ""), **commitment):
    return [
        "li", "INV-1", "Amazon Web Services, Inc.", "012345678901", "2023-06-01T00:00:00Z",
        "2023-07-01T00:00:00Z", "210987654321", kind, "2023-06-12T10:00:00Z", "2023-06-12T11:00:00Z",
        "ComputeSavingsPlans" if kind == "SavingsPlanRecurringFee" else "AmazonEC2", resource, amount, "USD",
        cost, f"{kind} line", "Amazon Elastic Compute Cloud", "eu-central-1", on_demand, on_demand,
        "OnDemand" if on_demand else "", "Hrs", SP_ARN, effective, commitment.get("total", ""),
        commitment.get("used", ""), *tags,
    ]  # fmt: skip


def test_savings_plan_hour_by_hand(tmp_path):
    """One hour of a $0.50/h Compute Savings Plan covering two instances, 0.35 of it used.

    By hand: the invoice is the commitment, 0.50 (covered usage 0.096 + 0.40 is negated). Effective cost is
    the SP rate for what ran (0.0625 + 0.2875 = 0.35) plus the unused 0.50 − 0.35 = 0.15, so again 0.50.
    """
    path = tmp_path / "sp.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                SP_HEADER,
                sp_row("SavingsPlanRecurringFee", "", "1", "0.5", "", total="0.5", used="0.35"),
                sp_row(
                    "SavingsPlanCoveredUsage",
                    "i-aaa",
                    "1",
                    "0.096",
                    "0.096",
                    "0.0625",
                    tags=("Payments", "payments", "IAMUser:alice", " "),
                ),  # fmt: skip
                sp_row("SavingsPlanNegation", "i-aaa", "1", "-0.096", ""),
                sp_row("SavingsPlanCoveredUsage", "i-bbb", "1", "0.40", "0.40", "0.2875", tags=("Search", "", "", "")),
                sp_row("SavingsPlanNegation", "i-bbb", "1", "-0.40", ""),
            ]
        )
    focus = to_focus([path])
    assert_conforms(focus)
    assert focus.height == 5 + 1
    assert focus["BilledCost"].sum() == Decimal("0.50")
    assert focus["EffectiveCost"].sum() == Decimal("0.50")

    rows = {(r["x_SourceRowNumber"], r["CommitmentDiscountStatus"]): r for r in focus.iter_rows(named=True)}
    fee, unused = rows[(1, None)], rows[(1, "Unused")]
    assert (fee["ChargeCategory"], fee["ChargeFrequency"], fee["PricingCategory"]) == (
        "Purchase",
        "Recurring",
        "Standard",
    )
    assert (fee["BilledCost"], fee["EffectiveCost"], fee["ResourceId"]) == (Decimal("0.5"), 0, SP_ARN)
    assert (fee["CommitmentDiscountCategory"], fee["CommitmentDiscountType"]) == ("Spend", "Savings Plan")
    assert fee["ServiceCategory"] == "Compute"
    assert unused["EffectiveCost"] == Decimal("0.5") - Decimal("0.35")
    assert (unused["ChargeCategory"], unused["PricingCategory"], unused["BilledCost"]) == ("Usage", "Committed", 0)
    assert (unused["ResourceId"], unused["ConsumedQuantity"]) == (SP_ARN, None)
    assert unused["ChargeDescription"] == "Unused Savings Plan commitment"
    # The unused 0.15 dollars of the hour's commitment; the hour priced stays the fee row's (FOCUS wants a
    # PricingQuantity on Usage; the unused share is in CommitmentDiscountQuantity).
    assert (unused["CommitmentDiscountQuantity"], unused["CommitmentDiscountUnit"]) == (Decimal("0.15"), "USD")
    assert (unused["PricingQuantity"], unused["PricingUnit"]) == (fee["PricingQuantity"], fee["PricingUnit"])
    assert (unused["PricingQuantity"], unused["PricingUnit"]) == (1, "Hrs")

    covered, negation = rows[(2, "Used")], rows[(3, "Used")]
    assert (covered["BilledCost"], covered["EffectiveCost"]) == (Decimal("0.096"), Decimal("0.0625"))
    assert covered["ListCost"] == covered["ContractedCost"] == Decimal("0.096")
    assert (covered["PricingCategory"], covered["ConsumedQuantity"]) == ("Committed", 1)
    # Team and team are different tags (allocation aliases them); the blank one is left out.
    assert covered["Tags"] == '{"Team":"Payments","team":"payments","aws:createdBy":"IAMUser:alice"}'
    assert (negation["ChargeCategory"], negation["BilledCost"], negation["EffectiveCost"]) == (
        "Usage",
        Decimal("-0.096"),
        0,
    )
    # A negation is Usage, so FOCUS wants a ConsumedQuantity; it consumes nothing (the covered row carries
    # the hour), so 0: Σ ConsumedQuantity stays the two hours that ran.
    assert (negation["ListCost"], negation["ConsumedQuantity"], negation["ConsumedUnit"]) == (0, 0, "Hrs")
    assert negation["Tags"] is None
    assert focus["ConsumedQuantity"].sum() == 2
    # FOCUS per-commitment closure: Σ EffectiveCost(Usage) = Σ BilledCost(Purchase).
    usage = focus.filter(pl.col("ChargeCategory") == "Usage", pl.col("CommitmentDiscountId") == SP_ARN)
    purchase = focus.filter(pl.col("ChargeCategory") == "Purchase")
    assert usage["EffectiveCost"].sum() == purchase["BilledCost"].sum() == Decimal("0.5")


RI_ARN = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("line_item_type", "term", "arn", "cost", "expected"),
    [
        # (ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory, EffectiveCost)
        ("Usage", "OnDemand", "", "5", ("Usage", None, "Usage-Based", "Standard", "5")),
        ("Usage", "Spot", "", "5", ("Usage", None, "Usage-Based", "Dynamic", "5")),
        ("Usage", "", "", "5", ("Usage", None, "Usage-Based", "Other", "5")),
        ("Fee", "", "", "5", ("Purchase", None, "One-Time", "Other", "5")),
        ("Fee", "", RI_ARN, "500", ("Purchase", None, "One-Time", "Standard", "0")),  # RI upfront: amortised
        ("SavingsPlanUpfrontFee", "", SP_ARN, "800", ("Purchase", None, "One-Time", "Standard", "0")),
        ("Credit", "", "", "-3", ("Credit", None, "One-Time", None, "-3")),
        ("Refund", "OnDemand", "", "-2", ("Usage", "Correction", "One-Time", "Standard", "-2")),
        ("Refund", "", RI_ARN, "-500", ("Purchase", "Correction", "One-Time", "Standard", "0")),
        ("EdpDiscount", "", "", "-1", ("Usage", None, "Usage-Based", "Standard", "-1")),
        ("BundledDiscount", "", "", "-1", ("Usage", None, "Usage-Based", "Standard", "-1")),
        ("Tax", "", "", "1", ("Tax", None, "One-Time", None, "1")),
    ],
)
def test_line_item_types(tmp_path, line_item_type, term, arn, cost, expected):
    path = tmp_path / "types.csv"
    ri_arn, sp_arn = (arn, "") if arn.startswith("arn:aws:ec2") else ("", arn)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                [
                    "bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate",
                    "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate",
                    "lineItem/CurrencyCode", "lineItem/UnblendedCost", "lineItem/ProductCode", "pricing/term",
                    "reservation/ReservationARN", "savingsPlan/SavingsPlanARN",
                ],
                [
                    "123456789012", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", line_item_type,
                    "2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z", "USD", cost, "AmazonEC2", term, ri_arn, sp_arn,
                ],
            ]
        )  # fmt: skip
    focus = to_focus([path])
    assert_conforms(focus)
    row = focus.row(0, named=True)
    category, charge_class, frequency, pricing, effective = expected
    assert (row["ChargeCategory"], row["ChargeClass"], row["ChargeFrequency"], row["PricingCategory"]) == (
        category,
        charge_class,
        frequency,
        pricing,
    )
    assert (row["BilledCost"], row["EffectiveCost"]) == (Decimal(cost), Decimal(effective))


# --- An RI's upfront Fee row: the hours it pays for -----------------------------------------------------------
# No public CUR sample has an RI purchase (the Workshop RIs were bought before its months; the koku and
# focus_converters samples have no RIs), so the Fee rows are built here, in the shape AWS documents: one Fee
# row per RI purchase, lineItem/UsageAmount = the number of RIs, the RI's lease on its reservation columns.

RI_FEE_HEADER = [
    "bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", "lineItem/LineItemType",
    "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/ProductCode", "lineItem/UsageAmount",
    "lineItem/CurrencyCode", "lineItem/UnblendedCost", "lineItem/LineItemDescription",
    "reservation/ReservationARN", "reservation/NumberOfReservations", "reservation/StartTime",
    "reservation/EndTime", "pricing/LeaseContractLength", "pricing/PurchaseOption",
]  # fmt: skip


def ri_fee_row(arn, count, amount, cost, start="", end="", lease="", kind="Fee", option="All Upfront"):
    return [
        "123456789012", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", kind, "2024-05-02T10:00:00Z",
        "2025-05-02T09:59:59Z", "AmazonEC2", amount, "USD", cost,
        "Sign up charge for subscription: 1234567890, planId: 1234567", arn, count, start, end, lease, option,
    ]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def test_ri_upfront_fee_quantity_by_hand(tmp_path):
    """A 1-year All Upfront RI for 2 instances pays for 2 × 8,760 = 17,520 hours (FOCUS: One-Time purchase →
    the quantity eligible over the term, in the RI's unit, Hours). AWS writes the lease end as its last
    second (00:00:00 → 23:59:59 a year on), so the lease is rounded to whole hours."""
    arn = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/aaaaaaaa-0000-0000-0000-000000000001"
    path = write_csv(
        tmp_path / "ri_fee.csv",
        RI_FEE_HEADER,
        [ri_fee_row(arn, "2", "2", "1051.2", "2024-05-02T10:00:00.000Z", "2025-05-02T09:59:59.000Z", "1yr")],
    )
    focus = to_focus([path])
    assert_conforms(focus)
    (fee,) = focus.rows(named=True)
    assert (fee["ChargeCategory"], fee["ChargeFrequency"], fee["ChargeClass"]) == ("Purchase", "One-Time", None)
    assert (fee["CommitmentDiscountId"], fee["CommitmentDiscountType"]) == (arn, "Reserved Instance")
    assert (fee["BilledCost"], fee["EffectiveCost"]) == (Decimal("1051.2"), 0)
    assert (fee["CommitmentDiscountQuantity"], fee["CommitmentDiscountUnit"]) == (Decimal(2 * 8760), "Hours")
    assert fee[REASON] is None


@pytest.mark.parametrize(
    ("count", "amount", "start", "end", "lease", "hours"),
    [
        # The lease (start → end) is the term: a Marketplace RI bought with 7 months (214 days) left.
        ("1", "1", "2024-05-02T00:00:00Z", "2024-12-02T00:00:00Z", "1yr", 214 * 24),
        # No start/end: the contract length, 365-day years (3yr = 26,280 hours).
        ("3", "3", "", "", "3yr", 3 * 26_280),
        # No count column value: the Fee row's usage amount is the number of RIs bought.
        ("", "4", "2024-05-02T10:00:00Z", "2025-05-02T09:59:59Z", "", 4 * 8760),
        # A lease start that is not a date: the contract length.
        ("2", "2", "soon", "2025-05-02T09:59:59Z", "1yr", 2 * 8760),
        # Neither a term nor a count: unknown, so null (a FOCUS gap the conformance check shows), not a guess.
        ("2", "2", "", "", "", None),
        ("", "", "2024-05-02T10:00:00Z", "2025-05-02T09:59:59Z", "1yr", None),
    ],
)
def test_ri_upfront_fee_quantity_falls_back_column_by_column(tmp_path, count, amount, start, end, lease, hours):
    arn = "arn:aws:ec2:eu-west-1:123456789012:reserved-instances/bbbbbbbb-0000-0000-0000-000000000002"
    path = write_csv(tmp_path / "ri.csv", RI_FEE_HEADER, [ri_fee_row(arn, count, amount, "99", start, end, lease)])
    (fee,) = to_focus([path]).rows(named=True)
    assert fee[REASON] is None  # the term columns never quarantine a row
    expected = None if hours is None else Decimal(hours)
    assert fee["CommitmentDiscountQuantity"] == expected
    assert fee["CommitmentDiscountUnit"] == (None if hours is None else "Hours")


@pytest.mark.parametrize(
    ("factor", "quantity", "unit"),
    [
        ("4", 2 * 8760 * 4, "Normalized Hours"),  # two m5.large RIs (factor 4): 70,080 normalised hours
        ("0.25", 2 * 8760 // 4, "Normalized Hours"),
        ("", 2 * 8760, "Hours"),  # no factor (a DynamoDB reservation, say): plain hours
        ("0", 2 * 8760, "Hours"),
    ],
)
def test_ri_upfront_fee_in_normalised_hours_where_the_row_has_a_factor(tmp_path, factor, quantity, unit):
    arn = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/dddddddd-0000-0000-0000-000000000004"
    row = ri_fee_row(arn, "2", "2", "1051.2", "2024-05-02T10:00:00.000Z", "2025-05-02T09:59:59.000Z", "1yr")
    path = write_csv(tmp_path / "ri_fee.csv", [*RI_FEE_HEADER, "lineItem/NormalizationFactor"], [[*row, factor]])
    focus = to_focus([path])
    assert_conforms(focus)
    (fee,) = focus.rows(named=True)
    assert (fee["CommitmentDiscountQuantity"], fee["CommitmentDiscountUnit"]) == (Decimal(quantity), unit)
    assert fee["PricingQuantity"] == 2  # the pricing side stays as billed: 2 RIs


def test_ri_quantities_too_large_for_a_decimal_are_null_not_a_failed_file(tmp_path):
    """A garbage factor or RI count whose product (× 8760 hours) is out of range: polars would raise for the
    whole frame on an overflow; the quantity (and its unit) is null on that row only, and the other rows keep
    their own. A factor out of range itself (1e24 or more: a sum of a few could overflow) is quarantined."""
    arn = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/eeeeeeee-0000-0000-0000-000000000005"
    lease = ("2024-05-02T10:00:00.000Z", "2025-05-02T09:59:59.000Z", "1yr")
    path = write_csv(
        tmp_path / "ri_fee.csv",
        [*RI_FEE_HEADER, "lineItem/NormalizationFactor"],
        [
            [*ri_fee_row(arn, "2", "2", "1051.2", *lease), "1e20"],
            [*ri_fee_row(arn, "1e20", "1", "1051.2", *lease), "4"],
            [*ri_fee_row(arn, "2", "2", "1051.2", *lease), "4"],
            [*ri_fee_row(arn, "2", "2", "1051.2", *lease), "9e27"],
        ],
    )
    rows = to_focus([path]).sort("x_SourceRowNumber").rows(named=True)
    assert [(r["CommitmentDiscountQuantity"], r["CommitmentDiscountUnit"]) for r in rows[:3]] == [
        (None, None),
        (None, None),
        (Decimal(2 * 8760 * 4), "Normalized Hours"),
    ]
    assert [r["BilledCost"] for r in rows] == [Decimal("1051.2")] * 4
    assert [r[REASON] for r in rows] == [None] * 3 + [
        "line_item_normalization_factor: '9e27' is out of range (magnitude 1e+24 or more)"
    ]


def test_ri_fee_rows_other_than_an_upfront_purchase(tmp_path):
    """A refund of the purchase is a Correction (FOCUS: the quantity may be null); a Convertible RI exchange's
    true-up fee buys no hours of its own; other rows ignore the term columns, even when they do not parse."""
    arn = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/cccccccc-0000-0000-0000-000000000003"
    exchange = "arn:aws:ec2:us-east-1:123456789012:reserved-instance-exchange/riex-0123456789abcdef"
    lease = ("2024-05-02T10:00:00Z", "2025-05-02T09:59:59Z", "1yr")
    path = write_csv(
        tmp_path / "others.csv",
        RI_FEE_HEADER,
        [
            ri_fee_row(arn, "2", "2", "-1051.2", *lease, kind="Refund"),
            ri_fee_row(exchange, "1", "1", "12.5", *lease),
            ri_fee_row(arn, "two", "744", "22.32", "not a date", "never", "1yr", kind="RIFee"),
        ],
    )
    refund, true_up, ri_fee = to_focus([path]).sort("x_SourceRowNumber").rows(named=True)
    assert (refund["ChargeCategory"], refund["ChargeClass"]) == ("Purchase", "Correction")
    assert refund["CommitmentDiscountQuantity"] is refund["CommitmentDiscountUnit"] is None
    assert (true_up["ChargeFrequency"], true_up["CommitmentDiscountId"]) == ("One-Time", exchange)
    assert true_up["CommitmentDiscountQuantity"] is true_up["CommitmentDiscountUnit"] is None
    # The month's RIFee keeps its billing period's hours; its unparseable term columns are not read.
    assert (ri_fee[REASON], ri_fee["ChargeFrequency"], ri_fee["CommitmentDiscountQuantity"]) == (
        None,
        "Recurring",
        Decimal(744),
    )


def test_workshop_ri_leases_give_a_year_of_hours_per_ri(tmp_path):
    """The Workshop's RIs were bought before its months, so it has no Fee rows: its RIFee rows, turned into
    Fee rows, check the rule on AWS's own lease values (e.g. 2018-04-24T00:34:01.000Z → 2019-04-24T00:34:00.000Z,
    one second short of 365 days) and counts (1 to 3 RIs): each is reservation_number_of_reservations × 8,760."""
    table = pq.read_table(WORKSHOP["Dec"])
    fees = table.filter(pa.compute.equal(table["line_item_line_item_type"], "RIFee"))
    assert fees.num_rows == 9
    index = fees.schema.get_field_index("line_item_line_item_type")
    path = tmp_path / "workshop_fees.parquet"
    pq.write_table(fees.set_column(index, fees.schema.field(index), pa.array(["Fee"] * 9)), path)
    raw = fees.select(["reservation_number_of_reservations", "reservation_start_time", "reservation_end_time"])
    counts = [int(n) for n in raw["reservation_number_of_reservations"].to_pylist()]
    assert sorted(counts) == [1, 1, 1, 1, 1, 1, 2, 2, 3]
    starts, ends = raw["reservation_start_time"].to_pylist(), raw["reservation_end_time"].to_pylist()
    for start, end in zip(starts, ends, strict=True):
        lease = datetime.fromisoformat(end) - datetime.fromisoformat(start)
        assert lease.days == 364 and lease.seconds == 24 * 3600 - 1  # AWS's "last second" end

    factors = [Decimal(str(f)) for f in fees["line_item_normalization_factor"].to_pylist()]

    focus = to_focus([path]).sort("x_SourceRowNumber")
    assert focus.height == 9  # an upfront fee is not amortised per month: no Unused row of its own
    assert focus["ChargeFrequency"].unique().to_list() == ["One-Time"]
    # In the RI's unit: normalised hours, count × 8,760 × the factor of its size (t2.nano 0.25 … c5.large 4).
    expected = [n * 8760 * f for n, f in zip(counts, factors, strict=True)]
    assert focus["CommitmentDiscountQuantity"].to_list() == expected
    assert focus["CommitmentDiscountUnit"].unique().to_list() == ["Normalized Hours"]


# --- CUR 2.0 (no public sample exists: built here) ------------------------------------------------------------


def test_cur2_parquet(tmp_path):
    utc = pa.timestamp("ms", tz="UTC")
    text_map = pa.map_(pa.string(), pa.string())
    hour = [datetime(2025, 3, 4, 5, tzinfo=UTC)] * 3
    table = pa.table(
        {
            "bill_invoice_id": ["EUINIE25-1"] * 3,
            "bill_invoicing_entity": ["Amazon Web Services EMEA SARL"] * 3,
            "bill_payer_account_id": pa.array([12345678901] * 3, pa.int64()),  # an integer here: pad to 12
            "bill_payer_account_name": ["Acme Payer"] * 3,
            "bill_billing_period_start_date": pa.array([datetime(2025, 3, 1, tzinfo=UTC)] * 3, utc),
            "bill_billing_period_end_date": pa.array([datetime(2025, 4, 1, tzinfo=UTC)] * 3, utc),
            "line_item_usage_account_id": ["000011112222"] * 3,
            "line_item_usage_account_name": ["acme-prod"] * 3,
            "line_item_line_item_type": ["Usage", "EdpDiscount", "Tax"],
            "line_item_usage_start_date": pa.array(hour, utc),
            "line_item_usage_end_date": pa.array([datetime(2025, 3, 4, 6, tzinfo=UTC)] * 3, utc),
            "line_item_product_code": ["AmazonEC2"] * 3,
            "line_item_resource_id": ["i-0abc", "", ""],
            "line_item_usage_amount": [2.0, 0.0, 0.0],
            "line_item_currency_code": ["EUR"] * 3,
            "line_item_unblended_cost": [0.192, -0.0192, 0.03],
            "line_item_net_unblended_rate": ["0.0864", "", ""],
            "line_item_net_unblended_cost": [0.1728, 0.0, 0.03],
            "line_item_line_item_description": ["On Demand m5.large", "EDP discount", "VAT"],
            "line_item_legal_entity": ["Amazon Web Services EMEA SARL"] * 3,
            "product": pa.array([[("product_name", "Amazon Elastic Compute Cloud"), ("vcpu", "2")]] * 3, text_map),
            "product_region_code": ["eu-west-1"] * 3,
            "product_sku": ["SKU1", "", ""],
            "pricing_public_on_demand_cost": [0.192, 0.0, 0.0],
            "pricing_public_on_demand_rate": ["0.096", "", ""],
            "pricing_term": ["OnDemand", "", ""],
            "pricing_unit": ["Hrs", "", ""],
            "reservation_reservation_a_r_n": [""] * 3,
            "savings_plan_savings_plan_a_r_n": [""] * 3,
            "resource_tags": pa.array(
                [
                    [
                        ("user_Team", "Payments"),
                        ("user_team", "payments"),
                        ("aws_created_by", "IAMUser:bob"),
                        ("user_Empty", ""),
                    ],
                    [],
                    None,
                ],  # fmt: skip
                text_map,
            ),
            "cost_category": pa.array([[("team", "payments")], [], []], text_map),
            "discount": pa.array([[], [("edp_discount", "-0.0192")], []], text_map),
        }
    )
    path = tmp_path / "cur2-00001.snappy.parquet"
    pq.write_table(table, path)

    focus = to_focus([path])
    assert_conforms(focus)
    usage, discount, tax = focus.rows(named=True)
    assert (usage["BillingAccountId"], usage["BillingAccountName"]) == ("012345678901", "Acme Payer")
    assert (usage["SubAccountId"], usage["SubAccountName"]) == ("000011112222", "acme-prod")
    assert usage["ServiceName"] == "Amazon Elastic Compute Cloud"  # from the product map
    assert (usage["RegionId"], usage["RegionName"]) == ("eu-west-1", "Europe (Ireland)")
    assert usage["PublisherName"] == usage["InvoiceIssuerName"] == "Amazon Web Services EMEA SARL"
    assert usage["Tags"] == '{"Team":"Payments","team":"payments","aws:createdBy":"IAMUser:bob"}'
    assert (usage["BilledCost"], usage["EffectiveCost"], usage["ListCost"]) == (Decimal("0.192"),) * 3
    # Net (negotiated) price where the CUR has it: 2 h × 0.0864.
    assert (usage["ContractedCost"], usage["ContractedUnitPrice"]) == (Decimal("0.1728"), Decimal("0.0864"))
    assert usage["ChargePeriodStart"] == hour[0] and usage["x_ChargeDay"] == date(2025, 3, 4)

    # A negotiated discount is not an after-the-fact Credit: Usage, Standard, a negative cost.
    assert (discount["ChargeCategory"], discount["PricingCategory"], discount["ChargeFrequency"]) == (
        "Usage",
        "Standard",
        "Usage-Based",
    )
    assert (discount["BilledCost"], discount["EffectiveCost"]) == (Decimal("-0.0192"),) * 2
    assert (discount["ListCost"], discount["ContractedCost"], discount["Tags"]) == (0, 0, None)
    assert discount["ConsumedQuantity"] == 0  # Usage, so FOCUS wants a quantity; a discount consumes nothing

    assert (tax["ChargeCategory"], tax["PricingCategory"], tax["PricingQuantity"], tax["Tags"]) == (
        "Tax",
        None,
        None,
        None,
    )
    assert focus["BilledCost"].sum() == Decimal("0.192") - Decimal("0.0192") + Decimal("0.03")


# --- Row-level problems are quarantined, not raised ----------------------------------------------------------


def test_bad_rows_carry_a_reason_and_their_cost(tmp_path):
    with TEST_CUR.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))[:7]
    column = {name: i for i, name in enumerate(header)}
    cost = [Decimal(r[column["lineItem/UnblendedCost"]]).quantize(Decimal("1e-10")) for r in rows]
    rows[1][column["lineItem/UsageStartDate"]] = "2018-06-20 00:00:00"
    rows[2][column["lineItem/UnblendedCost"]] = "abc"
    rows[4][column["lineItem/LineItemType"]] = "Foo"
    rows[5][column["lineItem/UsageStartDate"]] = "not-a-date"
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])

    focus = to_focus([path]).sort("x_SourceRowNumber")
    assert focus[REASON].to_list() == [
        None,
        None,
        "line_item_unblended_cost: 'abc' is not a number",
        None,
        "line_item_line_item_type: unknown 'Foo'",
        "line_item_usage_start_date: 'not-a-date' is not a date",
    ]
    assert focus["BilledCost"].to_list() == [*cost[:2], None, *cost[3:]]
    assert focus["ChargeCategory"][4] is None
    # The usage start day, else (row 6, date unreadable) the billing period start.
    assert focus["x_ChargeDay"].to_list() == [date(2018, 6, 1), date(2018, 6, 20), *[date(2018, 6, 1)] * 4]
    assert conform_to_focus(focus.filter(pl.col(REASON).is_null()).drop(REASON)).rejected.height == 0

    totals = cur_source_totals(scan_cur([path])).collect()
    assert totals["x_UnparsedCostRows"].sum() == 1
    assert totals["x_SourceRows"].sum() == 6
    # Reconciliation: what the source says = Σ BilledCost over mapped and quarantined rows alike.
    assert totals["x_SourceCost"].sum() == focus["BilledCost"].sum() == sum(cost[:2] + cost[3:])
