"""FOCUS-native exports → FOCUS 1.2: the FinOps Foundation sample, Azure's export schemas, legacy versions.

Expected numbers come from the files themselves, parsed independently with `csv` + `Decimal`.
"""

import csv
import gzip
import json
import zipfile
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus import FOCUS_TABLE_SCHEMA, REASON, conform_to_focus
from finops_pipeline.focus.schema import FOCUS_COLUMNS
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.focus_export import (
    describe_focus_export,
    detect_focus_version,
    focus_export_source_totals,
    focus_export_to_focus,
    scan_focus_export,
)
from finops_pipeline.sources.focus_export.versions import ADDED_IN
from finops_pipeline_tests.paths import SHARED_DATA

SAMPLE = SHARED_DATA / "FOCUS-Sample-Data" / "focus_sample.csv"
TOOLKIT = SHARED_DATA / "finops-toolkit"
VALIDATOR = SHARED_DATA / "focus_validator"
CENT = Decimal("0.01")
OUTPUT_SCHEMA = {**FOCUS_TABLE_SCHEMA, REASON: pl.String}


def _to_focus(files, **kwargs) -> pl.DataFrame:
    return focus_export_to_focus(scan_focus_export(files), source_name="test", **kwargs).collect()


def _write_csv(path: Path, header: list[str], rows: list[list[str]], *, gzipped: bool = False) -> Path:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    body = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(body) if gzipped else body)
    return path


# --- Versions ---------------------------------------------------------------------------------------------


def test_columns_added_per_version_match_the_spec_column_table():
    with (SHARED_DATA / "focus_1.2_columns.csv").open() as handle:
        table = list(csv.DictReader(handle))
    not_in_1_0 = {r["ColumnId"] for r in table if r["In1.0"] != "yes"}
    not_in_1_1 = {r["ColumnId"] for r in table if r["In1.1"] != "yes"}
    assert set(ADDED_IN["1.2"]) == not_in_1_1
    assert set(ADDED_IN["1.1"]) == not_in_1_0 - not_in_1_1


def _azure_columns(schema_file: str) -> list[str]:
    mappings = json.loads((TOOLKIT / schema_file).read_text())["translator"]["mappings"]
    return [m["source"]["name"] for m in mappings]


def test_detect_focus_version_from_real_headers():
    assert detect_focus_version(pl.read_csv(SAMPLE, n_rows=0).columns) == "1.0"
    # Microsoft's 1.0r2 already carries BillingAccountType/SubAccountType, but no 1.1 column: still 1.0.
    assert detect_focus_version(_azure_columns("focuscost_1.0r2.json")) == "1.0"
    assert detect_focus_version(_azure_columns("focuscost_1.2.json")) == "1.2"
    assert detect_focus_version(pl.read_csv(VALIDATOR / "all_pass_0.5.csv", n_rows=0).columns) == "0.5"
    spec = SHARED_DATA / "FOCUS_Spec"
    assert detect_focus_version(pl.read_csv(spec / "virtual_currency_pricing_model_a1.csv", n_rows=0).columns) == "1.2"
    assert detect_focus_version(pl.read_csv(spec / "saas_spend_agreements_a1.csv", n_rows=0).columns) == "1.1"


def test_detect_focus_version_of_synthetic_column_sets():
    preview = ["BilledCost", "ChargeCategory", "ChargeSubcategory", "Region", "UsageQuantity", "UsageUnit"]
    assert detect_focus_version(preview) == "1.0-preview"
    assert detect_focus_version(["BilledCost", "ChargeCategory", "ChargeClass", "RegionId"]) == "1.0"
    assert detect_focus_version(["BilledCost", "CapacityReservationId"]) == "1.1"
    assert detect_focus_version(["BilledCost", "InvoiceId"]) == "1.2"
    assert detect_focus_version(["BilledCost", "BillingAccountType", "SkuMeter"]) == "1.2"


# --- The FinOps Foundation FOCUS 1.0 sample (1,000 rows) --------------------------------------------------


def _independent_totals() -> dict[str, dict[str, Decimal | int]]:
    totals: dict[str, dict] = defaultdict(lambda: {"rows": 0, "BilledCost": Decimal(0), "EffectiveCost": Decimal(0)})
    with SAMPLE.open(newline="") as handle:
        for row in csv.DictReader(handle):
            provider = totals[row["ProviderName"]]
            provider["rows"] += 1
            provider["BilledCost"] += Decimal(row["BilledCost"])
            provider["EffectiveCost"] += Decimal(row["EffectiveCost"])
    return totals


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    return _to_focus([SAMPLE], keep_custom_columns=True)


def test_sample_rows_and_costs_per_provider_match_an_independent_parse(sample):
    expected = _independent_totals()
    assert {p: t["rows"] for p, t in expected.items()} == {"AWS": 942, "Microsoft": 51, "Oracle": 7}
    got = sample.group_by("ProviderName").agg(pl.len(), pl.col("BilledCost").sum(), pl.col("EffectiveCost").sum())
    for provider, rows, billed, effective in got.iter_rows():
        assert rows == expected[provider]["rows"]
        assert abs(billed - expected[provider]["BilledCost"]) < CENT
        assert abs(effective - expected[provider]["EffectiveCost"]) < CENT
    assert abs(sample["BilledCost"].sum() - Decimal("20.5202267289")) < CENT


def test_sample_output_has_the_table_schema_and_keeps_the_renamed_custom_column(sample):
    assert dict(sample.drop("x_Id").schema) == OUTPUT_SCHEMA
    assert sample.columns[-2:] == ["x_Id", REASON]
    assert sample["x_Id"][0] == "11472"
    assert describe_focus_export(pl.read_csv(SAMPLE, n_rows=0).columns).renamed_custom == {"Id": "x_Id"}
    assert list(_to_focus([SAMPLE]).schema) == list(OUTPUT_SCHEMA)  # without keep_custom_columns


def test_sample_has_no_null_placeholders_left(sample):
    text = [c for c, dtype in sample.schema.items() if dtype == pl.String]
    placeholders = sample.select(pl.sum_horizontal(pl.col(text).is_in(["NULL", ""]).fill_null(False)).sum()).item()
    assert placeholders == 0
    assert sample["ChargeClass"].null_count() == 1000  # every ChargeClass was the string "NULL"
    assert sample["Tags"].null_count() == 289


def test_sample_naive_datetimes_are_utc_and_the_charge_day_follows(sample):
    first = sample.row(0, named=True)
    assert first["ChargePeriodStart"] == datetime(2024, 9, 18, 22, tzinfo=UTC)
    assert first["BillingPeriodStart"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert first["x_ChargeDay"] == date(2024, 9, 18)
    assert sample["x_SourceRowNumber"].to_list() == list(range(1, 1001))
    assert (sample["x_SourceFile"] == str(SAMPLE.resolve())).all()


def test_sample_enumerations_are_respelled_and_underivable_contracted_cost_is_quarantined(sample):
    oracle = sample.filter(pl.col("ProviderName") == "Oracle")
    assert set(oracle["ChargeFrequency"]) == {"Usage-Based"}  # exported as "Usage-based"
    # Oracle's rows have neither ContractedCost nor ContractedUnitPrice: not defaulted to ListCost.
    assert oracle["ContractedCost"].null_count() == 7
    assert set(oracle[REASON]) == {
        "ContractedCost: missing and not derivable from ContractedUnitPrice × PricingQuantity"
    }
    assert sample.filter(pl.col(REASON).is_not_null()).height == 7

    fallback = _to_focus([SAMPLE], contracted_cost_fallback="ListCost").filter(pl.col("ProviderName") == "Oracle")
    assert fallback[REASON].null_count() == 7
    assert fallback["ContractedCost"].to_list() == fallback["ListCost"].to_list()


def test_sample_source_totals_reconcile_with_the_focus_rows_per_day(sample):
    totals = focus_export_source_totals(scan_focus_export([SAMPLE])).collect()
    assert totals["x_SourceRows"].sum() == 1000
    assert totals["x_UnparsedCostRows"].sum() == 0
    by_day = sample.group_by("x_ChargeDay").agg(pl.col("BilledCost").sum().alias("focus"))
    joined = totals.group_by("x_ChargeDay").agg(pl.col("x_SourceCost").sum()).join(by_day, on="x_ChargeDay")
    assert joined.height == by_day.height == 30  # 2024-09-01 … 2024-09-30
    assert (joined["x_SourceCost"] == joined["focus"]).all()
    # One row is charged on 2024-09-30 but billed in the October period: keyed by both.
    assert totals.filter(pl.col("x_BillingPeriodStart") == date(2024, 10, 1))["x_SourceRows"].to_list() == [1]


def test_sample_rows_conform_except_the_quarantined_ones(sample):
    result = conform_to_focus(sample.filter(pl.col(REASON).is_null()).drop(REASON, "x_Id"))
    assert result.valid.height == 993
    assert result.rejected.height == 0


# --- Azure FOCUS export schemas (FocusCost 1.0r2 and 1.2) -------------------------------------------------

AZURE_VALUES = {
    "Decimal": ["0.1234567890123456789012", "12.5", "1E-3"],
    "DateTimeOffset": ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00.0000000Z", "2025-01-03T00:00:00Z"],
    "Boolean": ["true", "false", ""],
}
AZURE_TEXT = {
    "ChargeCategory": ["Usage", "Purchase", "Usage"],
    "ChargeFrequency": ["Usage-Based", "One-Time", "Usage-Based"],
    "ChargeClass": ["", "", "Correction"],
    "PricingCategory": ["Standard", "Standard", "Committed"],
    "BillingCurrency": ["EUR", "EUR", "EUR"],
    "ServiceCategory": ["Compute", "Compute", "Storage"],
    "CommitmentDiscountStatus": ["", "", "Used"],
    "CapacityReservationStatus": ["", "", ""],
    "CommitmentDiscountCategory": ["", "", "Usage"],
    "ServiceSubcategory": ["Virtual Machines", "Virtual Machines", "Block Storage"],
    "Tags": ['"{""env"": ""prod""}"', "", '"{}"'],
    "ChargePeriodEnd": ["2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z", "2025-01-04T00:00:00Z"],
    "BillingPeriodStart": ["2025-01-01T00:00:00Z"] * 3,
    "BillingPeriodEnd": ["2025-02-01T00:00:00Z"] * 3,
}


def _azure_export(tmp_path: Path, schema_file: str, *, gzipped: bool = False) -> tuple[Path, list[str]]:
    mappings = json.loads((TOOLKIT / schema_file).read_text())["translator"]["mappings"]
    header = [m["source"]["name"] for m in mappings]
    columns = []
    for m in mappings:
        name, kind = m["source"]["name"], m["source"]["type"]
        if name in AZURE_TEXT:
            columns.append(AZURE_TEXT[name])
        elif kind in AZURE_VALUES:
            columns.append(AZURE_VALUES[kind])
        else:
            columns.append([f"{name}-{i}" for i in range(3)])
    rows = [[column[i] for column in columns] for i in range(3)]
    suffix = ".csv.gz" if gzipped else ".csv"
    return _write_csv(tmp_path / f"{schema_file}{suffix}", header, rows, gzipped=gzipped), header


@pytest.mark.parametrize(
    ("schema_file", "version", "custom"), [("focuscost_1.0r2.json", "1.0", 52), ("focuscost_1.2.json", "1.2", 51)]
)
def test_azure_export_schemas_ingest(tmp_path, schema_file, version, custom):
    path, header = _azure_export(tmp_path, schema_file, gzipped=schema_file.endswith("1.2.json"))
    described = describe_focus_export(header)
    assert described.version == version
    assert len(described.custom) == custom and not described.renamed_custom
    out = _to_focus([path], keep_custom_columns=True)
    assert out.height == 3
    assert out["x_SourceRowNumber"].to_list() == [1, 2, 3]
    assert out["BilledCost"].to_list() == [Decimal("0.1234567890"), Decimal("12.5"), Decimal("0.001")]
    assert out["ChargePeriodStart"].to_list() == [datetime(2025, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    assert out["x_ChargeDay"].to_list() == [date(2025, 1, d) for d in (1, 2, 3)]
    assert out["Tags"].to_list() == ['{"env": "prod"}', None, "{}"]
    assert out["ChargeClass"].to_list() == [None, None, "Correction"]
    assert out[REASON].null_count() == 3
    assert out["x_SkuIsCreditEligible"].to_list() == ["true", "false", None]
    conformed = conform_to_focus(out.drop(REASON, *described.custom.values()))
    assert conformed.rejected[REASON].to_list() == []
    absent_1_2 = {"CapacityReservationId", "CommitmentDiscountQuantity", "InvoiceId", "SkuMeter"}
    if version == "1.0":
        assert absent_1_2 <= set(described.absent)
        assert out.select(pl.col(sorted(absent_1_2)).null_count()).row(0) == (3, 3, 3, 3)
    else:
        assert not absent_1_2 & set(described.absent)


# --- Parquet, legacy versions, dirt ------------------------------------------------------------------------


def test_parquet_export_with_map_tags_mixes_with_csv(tmp_path):
    parquet = tmp_path / "focus.parquet"
    pl.DataFrame(
        {
            "BilledCost": [Decimal("1.25"), Decimal("2.50")],
            "BillingPeriodStart": [datetime(2025, 3, 1, tzinfo=UTC)] * 2,
            "ChargePeriodStart": [datetime(2025, 3, 4, 23, 30), datetime(2025, 3, 5, 1)],  # naive: UTC
            "ProviderName": ["AWS", "AWS"],
            "Tags": [[{"key": "team", "value": 'a"b'}], []],
            "x_CostCategories": [[{"key": "unit", "value": None}], None],
            "x_Credits": [[{"name": "promo", "amount": -0.5}], None],  # a list that is not a map (GCP)
        },
        schema_overrides={"BilledCost": pl.Decimal(20, 2)},
    ).write_parquet(parquet)
    text = _write_csv(
        tmp_path / "focus.csv",
        ["BilledCost", "BillingPeriodStart", "ChargePeriodStart", "ProviderName"],
        [["3.75", "2025-03-01T00:00:00Z", "2025-03-06T00:00:00Z", "Microsoft"]],
    )
    scanned = scan_focus_export([parquet, text], source_names=["s3://b/focus.parquet", "blob://c/focus.csv"])
    out = focus_export_to_focus(scanned, source_name="mixed", keep_custom_columns=True).collect()
    assert out["x_SourceFile"].to_list() == ["s3://b/focus.parquet"] * 2 + ["blob://c/focus.csv"]
    assert out["BilledCost"].to_list() == [Decimal("1.25"), Decimal("2.5"), Decimal("3.75")]
    assert out["x_ChargeDay"].to_list() == [date(2025, 3, 4), date(2025, 3, 5), date(2025, 3, 6)]
    assert out["Tags"].to_list() == ['{"team":"a\\"b"}', None, None]
    assert json.loads(out["Tags"][0]) == {"team": 'a"b'}
    assert out["x_CostCategories"].to_list() == ['{"unit":null}', None, None]
    assert out["x_Credits"].to_list() == ['[{"name":"promo","amount":-0.5}]', None, None]
    assert out["x_SourceName"].unique().to_list() == ["mixed"]


def test_focus_1_0_preview_is_upgraded(tmp_path):
    header = [
        "BilledCost", "EffectiveCost", "ListCost", "BillingPeriodStart", "ChargePeriodStart", "ChargeCategory",
        "ChargeSubcategory", "PricingCategory", "Region", "UsageQuantity", "UsageUnit", "ProviderName",
    ]  # fmt: skip
    rows = [
        ["-5", "-5", "-5", "2024-01-01", "2024-01-02", "Usage", "Refund", "On-Demand", "eastus", "", "", "Azure"],
        ["0", "1.5", "2", "2024-01-01", "2024-01-02", "Usage", "Used Commitment", "Commitment-Based", "eastus", "1",
         "Hours", "Azure"],
        ["0", "0.5", "0", "2024-01-01", "2024-01-02", "Usage", "Unused Commitment", "Commitment-Based", "", "", "",
         "Azure"],
        ["-1", "-1", "-1", "2024-01-01", "2024-01-02", "adjustment", "Credit", "", "", "", "", "Azure"],
    ]  # fmt: skip
    path = _write_csv(tmp_path / "preview.csv", header, rows)
    described = describe_focus_export(header)
    assert described.version == "1.0-preview"
    assert described.upgraded == {
        "Region": "RegionId",
        "UsageQuantity": "ConsumedQuantity",
        "UsageUnit": "ConsumedUnit",
    }
    assert described.custom == {"ChargeSubcategory": "x_ChargeSubcategory"}
    out = _to_focus([path], keep_custom_columns=True)
    assert out["ChargeClass"].to_list() == ["Correction", None, None, None]
    assert out["CommitmentDiscountStatus"].to_list() == [None, "Used", "Unused", None]
    assert out["ChargeCategory"].to_list() == ["Usage", "Usage", "Usage", "Credit"]
    assert out["PricingCategory"].to_list() == ["Standard", "Committed", "Committed", None]
    assert out["RegionId"].to_list() == ["eastus", "eastus", None, None]
    assert out["ConsumedQuantity"].to_list() == [None, Decimal(1), None, None]
    assert out["ConsumedUnit"].to_list() == [None, "Hours", None, None]
    assert out["x_ChargeSubcategory"].to_list() == ["Refund", "Used Commitment", "Unused Commitment", "Credit"]
    assert out["InvoiceId"].null_count() == out["SkuMeter"].null_count() == 4  # newer than the file
    # 1.0-preview had no ContractedCost and no ContractedUnitPrice to derive it from.
    assert out[REASON].str.starts_with("ContractedCost: missing").all()
    with_fallback = _to_focus([path], contracted_cost_fallback="ListCost")
    assert with_fallback["ContractedCost"].to_list() == [Decimal(-5), Decimal(2), Decimal(0), Decimal(-1)]


def test_focus_0_5_validator_sample_is_upgraded():
    path = VALIDATOR / "all_pass_0.5.csv"
    described = describe_focus_export(pl.read_csv(path, n_rows=0).columns)
    assert described.version == "0.5"
    assert described.upgraded == {
        "InvoiceIssuer": "InvoiceIssuerName",
        "ChargeType": "ChargeCategory",
        "Provider": "ProviderName",
        "Publisher": "PublisherName",
        "Region": "RegionId",
        "AmortizedCost": "EffectiveCost",
    }
    assert described.respelled == {"ResourceID": "ResourceId"}
    assert described.custom == {"BilledCurrency": "x_BilledCurrency"}
    out = _to_focus([path], keep_custom_columns=True)
    assert out["ChargeCategory"].to_list() == ["Purchase", "Adjustment"]
    assert out["InvoiceIssuerName"].to_list() == ["test-entity-1", "test-entity-2"]
    assert out["EffectiveCost"].to_list() == [Decimal("0.01"), Decimal(1)]
    assert out["ResourceId"].to_list() == ["r1", "r2"]
    assert out["BillingAccountName"].to_list() == ["Account-1", None]  # "NULL"
    assert out["x_BilledCurrency"].to_list() == ["AUD", "USD"]


def test_a_file_without_billed_cost_is_unreadable_and_named():
    path = VALIDATOR / "sample.parquet"
    with pytest.raises(SourceFileError) as error:
        scan_focus_export([path], source_names=["validator/sample.parquet"])
    assert error.value.file == "validator/sample.parquet"
    assert error.value.column == "BilledCost"


@pytest.mark.parametrize(
    ("body", "message"), [(b"", "file is empty"), (gzip.compress(b"A,B\n1,2\n")[:15], "cannot read CSV")]
)
def test_unreadable_files_raise_naming_the_file(tmp_path, body, message):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(body)
    with pytest.raises(SourceFileError, match=message) as error:
        scan_focus_export([path])
    assert error.value.file == str(path.resolve())


def test_large_csv_exports_stream_and_read_as_the_small_ones(monkeypatch, tmp_path):
    """Above EAGER_CSV_MAX_BYTES a FOCUS CSV (plain, gzip or zip; BOM, a blank line) is scanned lazily in
    batches, so a month larger than memory streams through the mapping, and gives the same FOCUS rows."""
    from finops_pipeline.sources import files

    body = b"\xef\xbb\xbf" + SAMPLE.read_bytes().replace(b"\n", b"\n,,,\n", 1)  # a BOM; a blank 1st data line
    plain = tmp_path / "focus.csv"
    plain.write_bytes(body)
    gzipped = tmp_path / "focus.csv.gz"
    gzipped.write_bytes(gzip.compress(body))
    zipped = tmp_path / "focus.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("focus.csv", body)
    paths = [plain, gzipped, zipped]
    names = ["plain", "gzip", "zip"]
    eager = focus_export_to_focus(scan_focus_export(paths, source_names=names), source_name="t").collect()
    monkeypatch.setattr(files, "EAGER_CSV_MAX_BYTES", 0)
    assert "PYTHON SCAN" in scan_focus_export([plain]).explain()
    lazy = focus_export_to_focus(scan_focus_export(paths, source_names=names), source_name="t").collect()
    assert lazy.height == 3 * 1_000
    assert lazy.equals(eager)
    assert lazy.filter(pl.col("x_SourceFile") == "zip")["x_SourceRowNumber"].min() == 2  # the blank line counts
    assert abs(lazy["BilledCost"].sum() - 3 * Decimal("20.5202267289")) < CENT


def test_row_level_problems_name_column_and_value_and_keep_the_parsed_cost(tmp_path):
    header = [
        "BilledCost", "BillingPeriodStart", "ChargePeriodStart", "ContractedCost", "ContractedUnitPrice",
        "PricingQuantity", "SkuPriceid",
    ]  # fmt: skip
    rows = [
        ['"$1,000.00"', "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z", "1", "", "", "p-1"],
        ["2.5", "2025-05-01T00:00:00Z", "5/1/25", "", "0.5", "3", "p-2"],
        ["4", "2025-05-01T00:00:00Z", "2025-05-03T30:00:00Z", "4", "", "", ""],
        # fits Decimal(38, 10), but two such would overflow a sum (and fail the file's totals)
        ["9e27", "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z", "1", "", "", ""],
    ]
    path = _write_csv(tmp_path / "dirty.csv", header, rows)
    out = _to_focus([path])
    assert out[REASON].to_list() == [
        "BilledCost: '$1,000.00' is not a number",
        "ChargePeriodStart: '5/1/25' is not a date",  # the shared parser reads it as year 25
        "ChargePeriodStart: '2025-05-03T30:00:00Z' is not a date",
        "BilledCost: '9e27' is out of range (magnitude 1e+24 or more)",
    ]
    assert out["BilledCost"].to_list() == [None, Decimal("2.5"), Decimal(4), None]
    assert out["x_ChargeDay"].to_list() == [date(2025, 5, 2), date(2025, 5, 1), date(2025, 5, 1), date(2025, 5, 2)]
    assert out["ContractedCost"].to_list() == [Decimal(1), Decimal("1.5"), Decimal(4), Decimal(1)]  # 0.5 × 3
    assert out["SkuPriceId"].to_list() == ["p-1", "p-2", None, None]  # header "SkuPriceid" respelled
    totals = focus_export_source_totals(scan_focus_export([path])).collect()
    assert totals["x_UnparsedCostRows"].sum() == 2
    assert totals["x_SourceCost"].sum() == Decimal("6.5")


def test_typed_parquet_values_out_of_range_are_named_with_their_value(tmp_path):
    """Typed parquet money beyond Decimal(34, 10) and dates before 1900 are quarantined naming column and
    value (the value's text is formatted for those rows only)."""
    start = datetime(2025, 5, 1, tzinfo=UTC)
    pl.DataFrame(
        {
            "BilledCost": [1.25, 2e30, 3.0],
            "BillingPeriodStart": [start] * 3,
            "ChargePeriodStart": [
                datetime(2025, 5, 2, tzinfo=UTC),
                datetime(2025, 5, 2, tzinfo=UTC),
                datetime(1800, 1, 1, tzinfo=UTC),
            ],
            "ContractedCost": [1.25, 2.0, 3.0],
        }
    ).write_parquet(tmp_path / "typed.parquet")
    out = _to_focus([tmp_path / "typed.parquet"])
    assert out[REASON].to_list() == [
        None,
        "BilledCost: '2e+30' is out of range (magnitude 1e+24 or more)",
        "ChargePeriodStart: '1800-01-01 00:00:00.000000+00:00' is not a plausible date",
    ]
    assert out["BilledCost"].to_list() == [Decimal("1.25"), None, Decimal(3)]
    assert out["x_ChargeDay"].to_list() == [date(2025, 5, 2), date(2025, 5, 2), date(2025, 5, 1)]


def test_a_contracted_cost_too_large_for_a_decimal_is_quarantined_not_a_failed_file(tmp_path):
    """ContractedUnitPrice × PricingQuantity (1e20 × 1e10) does not fit Decimal(38, 10), and polars raises
    for the whole frame on an overflow: that row is quarantined as underivable; the other is derived."""
    header = ["BilledCost", "BillingPeriodStart", "ChargePeriodStart", "ContractedUnitPrice", "PricingQuantity"]
    rows = [
        ["1", "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z", "1e20", "1e10"],
        ["2.5", "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z", "0.5", "3"],
    ]
    out = _to_focus([_write_csv(tmp_path / "huge.csv", header, rows)])
    assert out["ContractedCost"].to_list() == [None, Decimal("1.5")]
    assert out[REASON].to_list() == [
        "ContractedCost: missing and not derivable from ContractedUnitPrice × PricingQuantity",
        None,
    ]
    assert out["BilledCost"].to_list() == [Decimal(1), Decimal("2.5")]


def test_every_focus_column_has_a_parse_rule(tmp_path):
    """Each FOCUS 1.2 column read from text comes out with the table's dtype (none is silently dropped)."""
    header = [c.name for c in FOCUS_COLUMNS]
    values = {"Decimal": "1", "Datetime": "2025-01-01T00:00:00Z"}
    row = [values.get(type(c.dtype).__name__, "x") for c in FOCUS_COLUMNS]
    out = _to_focus([_write_csv(tmp_path / "all.csv", header, [row])])
    assert dict(out.schema) == OUTPUT_SCHEMA
    assert out.select(pl.col(header).null_count()).row(0) == (0,) * len(header)


def test_dates_parsed_once_per_distinct_value_match_the_row_by_row_parser():
    """The mapping parses date text once per distinct value, remembered across streaming batches; new values
    in later batches, blanks, placeholders and bad dates give what the row-by-row parser gives."""
    from finops_pipeline.focus.parsing import parse_each_distinct, to_utc_timestamp
    from finops_pipeline.focus.schema import TIMESTAMP

    values = ["2024-09-01 00:00:00", None, " NULL ", "", "5/1/25", "2024-09-01T01:00:00Z", "not a date"]
    texts = [values[i % len(values)] if i < 5_000 else f"2024-10-{i % 28 + 1:02d}" for i in range(10_000)]
    frame = pl.LazyFrame({"t": pl.Series(texts, dtype=pl.String)})
    expected = frame.select(to_utc_timestamp(pl.col("t"))).collect()
    with pl.Config(streaming_chunk_size=500):
        parsed = frame.select(parse_each_distinct(pl.col("t"), to_utc_timestamp, TIMESTAMP)).collect(engine="streaming")
    assert parsed.equals(expected)


def test_null_texts_are_the_placeholders_blank_to_null_nulls():
    """NULL_TEXTS, which the mapping's one-conditional blank test (`_blank_to_null`) uses, is exactly what
    `blank_to_null` nulls once trimmed."""
    from finops_pipeline.focus.parsing import NULL_TEXTS, blank_to_null

    candidates = pl.Series([*NULL_TEXTS, "Null", "NONE", "none", "n/a", "NA", "NaN", "-", "0", "x"])  # trimmed
    nulled = pl.select(blank_to_null(pl.lit(candidates))).to_series().is_null()
    assert set(candidates.filter(nulled)) == set(NULL_TEXTS)


def test_shortcuts_for_clean_values_give_what_full_cleaning_gives(tmp_path):
    """Values already clean skip work (enumerations spelled as FOCUS spells them, money the cast reads as it
    is, a ContractedCost that was exported); the others, in any batch, are still cleaned in full."""
    header = ["BilledCost", "BillingPeriodStart", "ChargePeriodStart", "ChargeCategory", "ResourceId",
              "ContractedCost", "ContractedUnitPrice", "PricingQuantity"]  # fmt: skip
    clean = ["1.5", "2025-05-01", "2025-05-02", "Usage", "r-1", "2", "3", "4"]
    dirty = [
        # BilledCost, ChargeCategory, ResourceId, ContractedCost → expected values
        (" 2.5 ", "usage", " r-2 ", "", Decimal("2.5"), "Usage", " r-2 ", Decimal(12)),
        ("\u00a01e2\t", " Credit ", "\u3000", "NULL", Decimal(100), "Credit", None, Decimal(12)),
        ("abc", "NULL", " N/A ", "1", None, None, None, Decimal(1)),
        ("", " null ", "Null", "", None, None, "Null", Decimal(12)),
        ("NULL", "usage_based", "None", "", None, "usage_based", None, Decimal(12)),
    ]
    rows, expected = [], []
    for i in range(3_000):  # dirty rows only in some of the 100-row batches
        if i % 700 < len(dirty):
            cost, category, resource, contracted, *want = dirty[i % 700]
            rows.append([cost, clean[1], clean[2], category, resource, contracted, "3", "4"])
            expected.append(tuple(want))
        else:
            rows.append(clean)
            expected.append((Decimal("1.5"), "Usage", "r-1", Decimal(2)))
    path = tmp_path / "mixed.csv"
    pl.DataFrame(rows, schema=header, orient="row").write_csv(path)
    focus = focus_export_to_focus(scan_focus_export([path]), source_name="test")
    with pl.Config(streaming_chunk_size=100):
        out = focus.collect(engine="streaming")
    assert out.equals(focus.collect(engine="in-memory"))
    columns = ["BilledCost", "ChargeCategory", "ResourceId", "ContractedCost"]
    assert list(out.select(columns).iter_rows()) == expected
    assert out.filter(pl.col(REASON).is_not_null())[REASON].unique().to_list() == ["BilledCost: 'abc' is not a number"]
