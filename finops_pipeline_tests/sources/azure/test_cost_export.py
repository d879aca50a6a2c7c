"""Reading Cost Management exports: every header style in the shared samples, gzip, bad files."""

import gzip
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus.schema import MONEY
from finops_pipeline.sources.azure import canonical_column_name, cost_export_source_totals, scan_cost_export
from finops_pipeline.sources.azure.cost_export import export_schema
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline_tests.paths import SHARED_DATA
from finops_pipeline_tests.sources.azure.raw_csv import money, rows

# file, the header its cost is under (read by hand from the file), number of data rows
SAMPLES = [
    ("finops-toolkit/EA_ActualCost_Small.csv", "Cost", 11),
    ("finops-toolkit/EA_AmortizedCost_Small.csv", "Cost", 28),
    ("focus_converters/sample-anonymous-ea-export-dataset.csv", "CostInBillingCurrency", 27),
    ("koku/azure_version_2.csv", "CostInBillingCurrency", 5),
    ("koku/camel_azure_version_2.csv", "costInBillingCurrency", 4),
    ("koku/azure_camelCased.csv", "preTaxCost", 3),
    ("koku/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv", "PreTaxCost", 3),
    ("opencost/azure_headerset_BOM.csv", "PreTaxCost", 1),
    ("opencost/azure_headerset_Enterprise.csv", "CostInBillingCurrency", 1),
    ("opencost/azure_headerset_EnterpriseCamel.csv", "costInBillingCurrency", 1),
    ("opencost/azure_headerset_German.csv", "PreTaxCost (PreTaxCost)", 1),
    ("opencost/azure_headerset_PayAsYouGo.csv", "PreTaxCost", 1),
    ("opencost/azure_headerset_YA.csv", "costInBillingCurrency", 1),
    ("opencost/azure_values_MissingBrackets.csv", "costinbillingcurrency", 1),
    ("opencost/azure_values_Template.csv", "costinbillingcurrency", 87),
    ("opencost/azure_values_VirtualMachine.csv", "costinbillingcurrency", 1),
]

EA_HEADER = "BillingAccountId,BillingCurrency,BillingPeriodStartDate,BillingPeriodEndDate,Date,ChargeType,PricingModel"


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("CostInBillingCurrency", "CostInBillingCurrency"),
        ("costInBillingCurrency", "CostInBillingCurrency"),
        ("costinbillingcurrency", "CostInBillingCurrency"),
        ("PreTaxCost", "CostInBillingCurrency"),
        ("Cost", "CostInBillingCurrency"),
        ("UsageDateTime", "Date"),
        ("date", "Date"),
        ("\ufeffSubscriptionGuid", "SubscriptionId"),
        ("Abonnement-GUID (SubscriptionGuid)", "SubscriptionId"),
        ("Maßeinheit (UnitOfMeasure)", "UnitOfMeasure"),
        ("InstanceId", "ResourceId"),
        ("BillingCurrencyCode", "BillingCurrency"),
        ("benefitId", "BenefitId"),
        ("payGPrice", "PayGPrice"),
        ("MeterSubcategory", "MeterSubCategory"),
        ("exchangeRateDate", "ExchangeRateDate"),  # unknown columns are PascalCased only
    ],
)
def test_canonical_column_names(header, canonical):
    assert canonical_column_name(header) == canonical


@pytest.mark.parametrize(("relative", "cost_header", "expected_rows"), SAMPLES)
def test_every_sample_loads_with_its_rows_and_cost(relative, cost_header, expected_rows):
    path = SHARED_DATA / relative
    raw = rows(path)
    assert len(raw) == expected_rows

    export = scan_cost_export([path], source_names=[relative]).collect()

    assert export.schema == pl.Schema(export_schema())
    assert export.height == expected_rows
    assert export["x_SourceRowNumber"].to_list() == list(range(1, expected_rows + 1))
    assert export["x_SourceFile"].unique().to_list() == [relative]
    # The cost text arrives unchanged (every digit), and sums like the independent parse.
    assert export["CostInBillingCurrency"].to_list() == [r[cost_header] or None for r in raw]
    parsed = export.select(pl.col("CostInBillingCurrency").str.strip_chars().cast(MONEY, strict=False).sum()).item()
    assert parsed == sum((money(r[cost_header]) for r in raw if r[cost_header]), Decimal(0))


def test_agreement_is_decided_per_file():
    agreements = {
        relative: scan_cost_export([SHARED_DATA / relative]).collect()["x_BillingAccountAgreement"][0]
        for relative in (
            "finops-toolkit/EA_ActualCost_Small.csv",
            "koku/camel_azure_version_2.csv",
            "koku/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv",
        )
    }
    assert agreements == {
        "finops-toolkit/EA_ActualCost_Small.csv": "EA",
        "koku/camel_azure_version_2.csv": "MCA",  # paygCostInBillingCurrency, exchangeRatePricingToBilling
        "koku/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv": "MOSP",  # no billing account at all
    }


def test_gzip_and_plain_files_read_the_same(tmp_path):
    plain = SHARED_DATA / "focus_converters/sample-anonymous-ea-export-dataset.csv"
    zipped = tmp_path / "part_0_0001.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))

    both = scan_cost_export([plain, zipped], source_names=["plain", "zipped"]).collect()

    assert (
        both.filter(pl.col("x_SourceFile") == "plain")
        .drop("x_SourceFile")
        .equals(both.filter(pl.col("x_SourceFile") == "zipped").drop("x_SourceFile"))
    )
    assert both.height == 2 * 27


def test_files_with_different_headers_concatenate_by_name():
    german, mca = SHARED_DATA / "opencost/azure_headerset_German.csv", SHARED_DATA / "koku/camel_azure_version_2.csv"
    export = scan_cost_export([german, mca]).collect()
    assert export.height == 1 + 4
    assert (
        export["SubscriptionId"].to_list()
        == ["11111111-12ab-34dc-56ef-123456abcdef"] + ["2639de71-ca37-4a17-a104-17665a50e7fc"] * 4
    )
    assert export["x_SourceFile"].to_list() == [str(german.resolve())] + [str(mca.resolve())] * 4


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("Date,ChargeType,Quantity", "CostInBillingCurrency"),
        ("UsageQuantity,PreTaxCost,MeterCategory", "Date"),
    ],
)
def test_a_file_without_cost_or_date_names_file_and_column(tmp_path, header, missing):
    path = tmp_path / "export.csv"
    path.write_text(f"{header}\na,b,c\n")

    with pytest.raises(SourceFileError) as raised:
        scan_cost_export([path], source_names=["exports/2024-01/export.csv"])

    assert raised.value.file == "exports/2024-01/export.csv"
    assert raised.value.column == missing
    assert "exports/2024-01/export.csv" in str(raised.value) and missing in str(raised.value)


def test_unreadable_files_name_the_file(tmp_path):
    truncated = tmp_path / "export.csv.gz"
    truncated.write_bytes(gzip.compress((SHARED_DATA / "koku/azure_version_2.csv").read_bytes())[:200])
    with pytest.raises(SourceFileError, match="broken.csv.gz"):
        scan_cost_export([truncated], source_names=["broken.csv.gz"])
    with pytest.raises(SourceFileError, match="nowhere.csv"):
        scan_cost_export([Path(tmp_path / "nowhere.csv")], source_names=["nowhere.csv"])


def test_source_totals_count_billed_cost_per_file_period_and_day(tmp_path):
    """Amortized commitment usage is billed on the purchase row, so it is not source (billed) cost."""
    path = tmp_path / "amortized.csv"
    path.write_text(
        f"{EA_HEADER},CostInBillingCurrency\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,OnDemand,1.25\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,Usage,Reservation,0.75\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-05,UnusedReservation,Reservation,0.10\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-06,Usage,SavingsPlan,2.00\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-06,Usage,Spot,0.5\n"
        "1,EUR,2024-01-01,2024-01-31,2024-01-06,Usage,OnDemand,n/a\n"
        "1,EUR,2024-01-01,2024-01-31,not a date,Purchase,Reservation,100\n"
    )
    totals = cost_export_source_totals(scan_cost_export([path], source_names=["a"])).collect()

    assert totals.schema == pl.Schema(
        {
            "x_BillingPeriodStart": pl.Date,
            "x_ChargeDay": pl.Date,
            "x_SourceFile": pl.String,
            "x_SourceRows": pl.Int64,
            "x_SourceCost": MONEY,
            "x_UnparsedCostRows": pl.Int64,
        }
    )
    by_day = {row["x_ChargeDay"].isoformat(): row for row in totals.sort("x_ChargeDay").to_dicts()}
    assert {day: (r["x_SourceRows"], r["x_SourceCost"], r["x_UnparsedCostRows"]) for day, r in by_day.items()} == {
        "2024-01-01": (1, Decimal("100"), 0),  # the unparseable date lands on the billing period start
        "2024-01-05": (3, Decimal("1.25"), 0),
        "2024-01-06": (3, Decimal("0.5"), 1),
    }


def test_large_files_are_scanned_lazily_and_read_the_same(monkeypatch, tmp_path):
    """Above EAGER_CSV_MAX_BYTES a file is a lazy scan_csv (streams in bounded memory): same rows, same
    header handling (BOM, localised headers, aliases), same row numbers; gzip is decompressed first."""
    from finops_pipeline.sources import files

    samples = [SHARED_DATA / "opencost/azure_headerset_BOM.csv", SHARED_DATA / "opencost/azure_headerset_German.csv"]
    zipped = tmp_path / "export.csv.gz"
    zipped.write_bytes(gzip.compress((SHARED_DATA / "koku/camel_azure_version_2.csv").read_bytes()))
    paths = [*samples, zipped]
    eager = scan_cost_export(paths, source_names=["a", "b", "c"]).collect()
    monkeypatch.setattr(files, "EAGER_CSV_MAX_BYTES", 0)
    scanned = scan_cost_export(paths, source_names=["a", "b", "c"])
    assert "SCAN" in scanned.explain()
    assert scanned.collect().equals(eager)
    assert scanned.collect(engine="streaming").equals(eager)
