"""Google's legacy billing file export (googlearchive/billing-export-python's 105 daily JSON files, and the
same rows written as the file export's CSV) → FOCUS rows that reconcile to the files.

Expected numbers come from the files read with Python's json module and Decimal, independently of the code
under test.
"""

import csv
import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.sources.gcp.export import billing_export_source_totals, scan_billing_export
from finops_pipeline.sources.gcp.focus_mapping import billing_export_to_focus
from finops_pipeline_tests.paths import SHARED_DATA

FILES = sorted((SHARED_DATA / "googlearchive-billing-export-python").glob("*.json"))
ACCOUNT = "01AB23-45CD67-89EF01"


def _line_items() -> list[tuple[str, int, dict]]:
    return [(path.name, n, item) for path in FILES for n, item in enumerate(json.loads(path.read_text()), start=1)]


def _to_focus(files, **scan) -> pl.DataFrame:
    names = [Path(f).name for f in files]
    return billing_export_to_focus(scan_billing_export(files, source_names=names, **scan), source_name="t").collect()


@pytest.fixture(scope="module")
def focus() -> pl.DataFrame:
    return _to_focus(FILES, billing_account_id=ACCOUNT)


def test_every_line_item_is_one_usage_row_and_the_cost_reconciles(focus):
    items = _line_items()
    assert len(FILES) == 105 and len(items) == 1_973
    expected_cost = sum(Decimal(item["cost"]["amount"]) for _, _, item in items)
    assert expected_cost == Decimal("14751.348767")
    assert focus.height == 1_973 and focus[REASON].null_count() == 1_973
    assert set(focus["ChargeCategory"]) == {"Usage"}
    assert focus["BilledCost"].sum() == focus["EffectiveCost"].sum() == expected_cost
    rows_per_file = Counter(name for name, _, _ in items)
    assert dict(focus.group_by("x_SourceFile").len().iter_rows()) == dict(rows_per_file)
    stored = conform_to_focus(focus.drop(REASON))
    assert stored.valid.height == 1_973 and stored.rejected.height == 0


def test_source_totals_reconcile_with_the_focus_rows_per_file_and_day(focus):
    names = [f.name for f in FILES]
    totals = billing_export_source_totals(scan_billing_export(FILES, source_names=names)).collect()
    mapped = focus.group_by("x_SourceFile", "x_ChargeDay").agg(pl.col("BilledCost").sum(), pl.len())
    joined = totals.join(mapped, on=["x_SourceFile", "x_ChargeDay"], how="full", coalesce=True)
    assert joined.height == totals.height == mapped.height
    assert (joined["x_SourceCost"] == joined["BilledCost"]).all()
    assert (joined["x_SourceRows"] == joined["len"].cast(pl.Int64)).all()
    assert totals["x_UnparsedCostRows"].sum() == 0


def test_one_line_item_by_hand(focus):
    """analytics-bigquery-demo-2014-02-18.json, item 2: Cloud Storage StorageGbsec, 32212254720 byte-seconds,
    $0.000001, 2014-02-17 00:00 to 2014-02-18 00:00 Pacific (UTC−8), project 544906558578."""
    row = focus.filter(
        (pl.col("x_SourceFile") == "analytics-bigquery-demo-2014-02-18.json") & (pl.col("x_SourceRowNumber") == 2)
    ).row(0, named=True)
    assert row["ChargePeriodStart"] == datetime(2014, 2, 17, 8, tzinfo=UTC)
    assert row["ChargePeriodEnd"] == datetime(2014, 2, 18, 8, tzinfo=UTC)
    assert row["x_ChargeDay"] == date(2014, 2, 17)
    # Invoiced by the Pacific month: February 2014 starts at 08:00 UTC on the 1st.
    assert row["BillingPeriodStart"] == datetime(2014, 2, 1, 8, tzinfo=UTC)
    assert row["BillingPeriodEnd"] == datetime(2014, 3, 1, 8, tzinfo=UTC)
    assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == Decimal("0.000001")
    assert row["BillingCurrency"] == "USD"
    assert row["BillingAccountId"] == ACCOUNT
    # No project id or name in the 2014 files: the number is the id, and the name (FOCUS wants one).
    assert (row["SubAccountId"], row["SubAccountName"], row["SubAccountType"]) == ("544906558578",) * 2 + ("Project",)
    assert (row["ServiceName"], row["ServiceCategory"]) == ("Cloud Storage", "Storage")
    assert row["SkuId"] == "com.google.cloud/services/cloud-storage/StorageGbsec"
    assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (Decimal(32212254720), "byte-seconds")
    assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal(32212254720), "byte-seconds")


def test_without_a_billing_account_the_rows_are_quarantined_by_conformance_naming_the_column():
    """The 2014 files have no accountId; with no FINOPS_GCP_BILLING_ACCOUNT_ID their rows are set aside."""
    focus = _to_focus(FILES[:3])
    assert focus.height > 0 and focus["BillingAccountId"].null_count() == focus.height
    rejected = conform_to_focus(focus.drop(REASON)).rejected
    assert rejected.height == focus.height
    assert rejected[REASON].str.contains("BillingAccountId: mandatory, is null").all()


FILE_EXPORT_CSV_HEADER = [
    "Account ID", "Line Item", "Start Time", "End Time", "Project", "Measurement1",
    "Measurement1 Total Consumption", "Measurement1 Units", "Credit1", "Credit1 Amount", "Credit1 Currency",
    "Credit2", "Credit2 Amount", "Credit2 Currency", "Cost", "Currency", "Project Number", "Project ID",
    "Project Name", "Project Labels", "Description",
]  # fmt: skip


def _as_csv_row(item: dict) -> list[str]:
    measurement = item["measurements"][0]
    return [
        ACCOUNT, item["lineItemId"], item["startTime"], item["endTime"], item.get("projectNumber", ""),
        measurement["measurementId"], measurement["sum"], measurement["unit"], "", "", "", "", "", "",
        item["cost"]["amount"], item["cost"]["currency"], item.get("projectNumber", ""), "", "", "", "",
    ]  # fmt: skip


def test_the_csv_file_export_gives_the_rows_the_json_one_gives(focus, tmp_path):
    """The same line items written with the file export's CSV headers (blank credit columns)."""
    for path in FILES[:12]:
        with (tmp_path / path.with_suffix(".csv").name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(FILE_EXPORT_CSV_HEADER)
            writer.writerows(_as_csv_row(item) for item in json.loads(path.read_text()))
    from_csv = _to_focus(sorted(tmp_path.glob("*.csv")))
    from_json = focus.filter(pl.col("x_SourceFile").is_in([p.name for p in FILES[:12]]))
    assert from_csv.height == from_json.height > 0
    as_json = from_csv.with_columns(pl.col("x_SourceFile").str.replace(r"\.csv$", ".json"))
    assert as_json.sort("x_SourceFile", "x_SourceRowNumber").equals(from_json.sort("x_SourceFile", "x_SourceRowNumber"))


def test_csv_credits_a_sustained_use_discount_is_netted_a_free_trial_is_a_credit_row(tmp_path):
    """A Compute Engine day as the file export wrote it in 2018 (yemelin/xproject's test data): cost 0.2193,
    a sustained use discount of −0.08772 and a free trial credit of −0.13158. The usage row bills
    0.2193 − 0.08772 = 0.13158, the free trial is a Credit row of −0.13158: the day nets to 0."""
    row = [
        "010A3B-1985BE-B1826F", "com.google.cloud/services/compute-engine/VmimageN1Standard_1_Europewest3",
        "2018-06-18T00:00:00-07:00", "2018-06-19T00:00:00-07:00", "274156692740",
        "com.google.cloud/services/compute-engine/VmimageN1Standard_1_Europewest3", "12900", "seconds",
        "Sustained Usage Discount", "-0.08772", "USD",
        "FreeTrial:2018-03-12T00:00:00.000-07:00-010A3B-1985BE-B1826F", "-0.13158", "USD",
        "0.2193", "USD", "274156692740", "proj-2-205013", "proj-2", "",
        "Standard Intel N1 1 VCPU running in Frankfurt",
    ]  # fmt: skip
    path = tmp_path / "billing-2018-06-18.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([FILE_EXPORT_CSV_HEADER, row])
    focus = _to_focus([path])
    assert focus[REASON].null_count() == focus.height == 2
    usage, credit = focus.sort("x_SourceRowNumber", "ChargeCategory", descending=[False, True]).iter_rows(named=True)
    assert usage["ChargeCategory"] == "Usage" and credit["ChargeCategory"] == "Credit"
    assert usage["BilledCost"] == usage["EffectiveCost"] == Decimal("0.13158")
    assert usage["ListCost"] == Decimal("0.2193")
    assert credit["BilledCost"] == Decimal("-0.13158")
    assert focus["BilledCost"].sum() == 0
    assert (usage["BillingAccountId"], usage["SubAccountId"], usage["SubAccountName"]) == (
        "010A3B-1985BE-B1826F",
        "proj-2-205013",
        "proj-2",
    )
    assert usage["ChargeDescription"] == "Standard Intel N1 1 VCPU running in Frankfurt"
    assert usage["BillingPeriodStart"] == datetime(2018, 6, 1, 7, tzinfo=UTC)  # Pacific daylight time
    assert usage["ServiceName"] == "Compute Engine"
    totals = billing_export_source_totals(scan_billing_export([path])).collect()
    assert totals["x_SourceCost"].sum() == 0


def test_a_credit_or_cost_that_is_not_a_number_quarantines_its_row_naming_it(tmp_path):
    item = json.loads(FILES[10].read_text())[0]
    bad_credit = _as_csv_row(item)
    bad_credit[8:11] = ["Sustained Usage Discount", "-0,5", "USD"]
    bad_cost = _as_csv_row(item)
    bad_cost[14] = "12.5 USD"
    path = tmp_path / "billing-2014-01-20.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([FILE_EXPORT_CSV_HEADER, _as_csv_row(item), bad_credit, bad_cost])
    focus = _to_focus([path]).sort("x_SourceRowNumber")
    assert focus[REASON].to_list() == [
        None,
        "credits: a credit has no amount",
        "cost: '12.5 USD' is not a number",
    ]
