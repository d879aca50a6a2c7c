"""scan_cur: reading legacy CUR CSV/parquet and CUR 2.0 parquet into canonical, lazily projected columns."""

import csv
import gzip
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus.schema import MONEY, TIMESTAMP
from finops_pipeline.sources.aws.cur import CUR_COLUMNS, canonical_column_name, cur_source_totals, scan_cur
from finops_pipeline.sources.errors import SourceFileError

DATA = (Path(__file__).parents[3] / ".." / "shared" / "data").resolve()
WORKSHOP = {
    m: DATA / "cloudacademy-aws-cur" / f"{m}2018-WorkshopCUR-00001.snappy.parquet" for m in ("Oct", "Nov", "Dec")
}
KOKU_GZ = DATA / "koku" / "aws_legacy_cur_koku-local-1.csv.gz"
TEST_CUR = DATA / "koku" / "test_cur.csv"


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("lineItem/UsageStartDate", "line_item_usage_start_date"),
        ("bill/PayerAccountId", "bill_payer_account_id"),
        ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost"),
        ("product/ProductName", "product_product_name"),
        ("product/regionCode", "product_region_code"),
        ("product/servicecode", "product_servicecode"),
        ("reservation/ReservationARN", "reservation_reservation_a_r_n"),  # Athena splits every capital
        ("savingsPlan/SavingsPlanArn", "savings_plan_savings_plan_a_r_n"),  # alias of the other spelling
        ("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost"),
        ("reservation_reservation_arn", "reservation_reservation_a_r_n"),
        ("line_item_unblended_cost", "line_item_unblended_cost"),
        ("\ufeffidentity/LineItemId", "identity_line_item_id"),  # BOM on the first header
        ("costCategory/Charge type", "cost_category_charge_type"),
        # Tag keys are case-sensitive and kept verbatim.
        ("resourceTags/user:Team", "resource_tags_user_Team"),
        ("resourceTags/user:team", "resource_tags_user_team"),
        ("resourceTags/aws:createdBy", "resource_tags_aws_createdBy"),
        ("resource_tags_user_cost_center", "resource_tags_user_cost_center"),
    ],
)
def test_canonical_column_name(header, canonical):
    assert canonical_column_name(header) == canonical


def test_workshop_parquet_reads_only_the_mapped_columns_lazily():
    cur = scan_cur([WORKSHOP["Oct"]])
    plan = cur.explain()
    # 124 columns in the file; read: the 35 of CUR_COLUMNS it has and its 9 tag columns.
    present = [c for c in pl.read_parquet_schema(WORKSHOP["Oct"]) if c in CUR_COLUMNS]
    assert len(present) == 35
    assert re.search(r"PROJECT (\d+)/124 COLUMNS", plan).group(1) == "44"
    schema = cur.collect_schema()
    assert schema["line_item_unblended_cost"] == MONEY  # parquet double → Decimal(38, 10)
    assert schema["line_item_usage_start_date"] == TIMESTAMP  # naive parquet timestamp → UTC
    assert schema["pricing_public_on_demand_rate"] == pl.String  # a string in this file: parsed by the mapping
    assert schema["savings_plan_savings_plan_a_r_n"] == pl.String  # absent in 2018: typed null
    assert schema["reservation_unused_quantity"] == MONEY  # the RI hours nothing used, as a Decimal
    assert schema["x_SourceRowNumber"] == pl.Int64


def test_workshop_months_with_different_columns_concatenate():
    """Oct/Nov/Dec 2018 have 124/126/120 columns; tag columns come and go between months."""
    cur = scan_cur(list(WORKSHOP.values()), source_names=["s3://cur/oct", "s3://cur/nov", "s3://cur/dec"])
    per_file = (
        cur.group_by("x_SourceFile")
        .agg(
            pl.len(),
            pl.col("x_SourceRowNumber").min().alias("first"),
            pl.col("x_SourceRowNumber").max().alias("last"),
            pl.col("resource_tags_user_tag21_nov").is_not_null().sum().alias("tag21"),
            pl.col("resource_tags_user_workload_type").is_not_null().sum().alias("workload_type"),
        )
        .sort("x_SourceFile")
        .collect()
    )

    def tagged(month: str, column: str) -> int:  # non-blank values in the raw file, 0 if it lacks the column
        if column not in pl.read_parquet_schema(WORKSHOP[month]):
            return 0
        return pl.read_parquet(WORKSHOP[month], columns=[column]).filter(pl.col(column) != "").height

    assert tagged("Nov", "resource_tags_user_tag21_nov") > 0 and tagged("Oct", "resource_tags_user_workload_type") > 0
    assert per_file.rows() == [
        ("s3://cur/dec", 91_264, 1, 91_264, 0, 0),  # Dec has neither tag column
        ("s3://cur/nov", 124_340, 1, 124_340, tagged("Nov", "resource_tags_user_tag21_nov"),
         tagged("Nov", "resource_tags_user_workload_type")),
        ("s3://cur/oct", 119_307, 1, 119_307, 0, tagged("Oct", "resource_tags_user_workload_type")),
    ]  # fmt: skip


def test_default_source_file_is_the_absolute_path():
    files = cur_source_totals(scan_cur([WORKSHOP["Dec"]])).select("x_SourceFile").unique().collect()
    assert files["x_SourceFile"].to_list() == [str(WORKSHOP["Dec"])]


def test_csv_money_stays_exact_text():
    cur = scan_cur([TEST_CUR]).collect()
    assert cur.schema["line_item_unblended_cost"] == pl.String
    with TEST_CUR.open(newline="") as handle:
        first = next(csv.DictReader(handle))
    assert cur["line_item_unblended_cost"][0] == first["lineItem/UnblendedCost"] == "0.00165303109242778"
    assert cur["x_SourceRowNumber"].to_list() == list(range(1, 20))


def test_ri_unused_quantity_is_read_where_the_cur_has_it():
    """reservation/UnusedQuantity (legacy CSV) = reservation_unused_quantity (Athena, CUR 2.0); optional."""
    assert canonical_column_name("reservation/UnusedQuantity") == "reservation_unused_quantity"
    legacy = DATA / "focus_converters" / "sample-anonymous-aws-export-dataset.csv"
    with legacy.open(newline="") as handle:
        raw = [r["reservation/UnusedQuantity"] for r in csv.DictReader(handle)]
    read = scan_cur([legacy]).collect()["reservation_unused_quantity"]
    assert read.to_list() == [v if v.strip() else None for v in raw]  # text, parsed by the mapping
    assert scan_cur([TEST_CUR]).collect()["reservation_unused_quantity"].null_count() == 19  # no such column


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("reservation/NumberOfReservations", "reservation_number_of_reservations"),
        ("reservation/StartTime", "reservation_start_time"),
        ("reservation/EndTime", "reservation_end_time"),
        ("pricing/LeaseContractLength", "pricing_lease_contract_length"),
    ],
)
def test_ri_term_columns_are_read_as_text_where_the_cur_has_them(header, canonical):
    """What an RI's upfront Fee row buys (count, lease): read as text, parsed by the mapping on Fee rows only."""
    assert canonical_column_name(header) == canonical
    assert CUR_COLUMNS[canonical].value == "text"
    workshop = scan_cur([WORKSHOP["Oct"]]).collect()[canonical]
    raw = pl.read_parquet(WORKSHOP["Oct"], columns=[canonical])[canonical]  # strings in this file, "" = none
    assert workshop.to_list() == [v if v else None for v in raw.cast(pl.String)]
    assert workshop.dtype == pl.String and workshop.null_count() < workshop.len()
    # test_cur.csv has the count and the contract length columns (blank), not the lease start/end.
    assert scan_cur([TEST_CUR]).collect()[canonical].null_count() == 19


def test_gzip_zip_and_plain_csv_read_the_same(tmp_path):
    plain = tmp_path / "koku.csv"
    plain.write_bytes(gzip.decompress(KOKU_GZ.read_bytes()))
    zipped = tmp_path / "koku.csv.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(plain, "koku.csv")
    frames = [scan_cur([f]).drop("x_SourceFile").collect() for f in (KOKU_GZ, plain, zipped)]
    assert frames[0].height == 13_380
    assert frames[0].equals(frames[1]) and frames[0].equals(frames[2])


def test_large_csv_files_are_scanned_lazily_and_read_the_same(monkeypatch, tmp_path):
    """Above EAGER_CSV_MAX_BYTES a CUR CSV (plain, gzip or zip) is a lazy scan_csv: bounded memory, same rows."""
    from finops_pipeline.sources import files

    plain = tmp_path / "koku.csv"
    plain.write_bytes(gzip.decompress(KOKU_GZ.read_bytes()))
    eager = scan_cur([KOKU_GZ, plain]).drop("x_SourceFile").collect()
    monkeypatch.setattr(files, "EAGER_CSV_MAX_BYTES", 0)
    assert "SCAN" in scan_cur([plain]).explain()
    lazy = scan_cur([KOKU_GZ, plain]).drop("x_SourceFile").collect()
    assert lazy.height == 2 * 13_380 and lazy.equals(eager)


def test_csv_text_is_trimmed_and_placeholders_are_null_but_tags_stay_verbatim(tmp_path):
    path = tmp_path / "dirty.csv"
    header = ["lineItem/LineItemType", "lineItem/UnblendedCost", "lineItem/UsageStartDate", "lineItem/UsageEndDate"]
    header += ["bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", "bill/PayerAccountId"]
    header += ["lineItem/CurrencyCode", "lineItem/ProductCode", "resourceTags/user:Team"]
    fixed = ["Usage", "1", "2024-05-01T00:00:00Z", "2024-05-01T01:00:00Z", "2024-05-01T00:00:00Z"]
    fixed += ["2024-06-01T00:00:00Z"]
    rows = [
        [*fixed, " 123456789012 ", "USD", "  AmazonEC2\t", "  web "],
        [*fixed, "\u00a0", "USD", "NULL", " "],
        [*fixed, "", "USD", " null ", "NULL"],
    ]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    cur = scan_cur([path]).collect()
    assert cur["line_item_product_code"].to_list() == ["AmazonEC2", None, None]
    assert cur["bill_payer_account_id"].to_list() == ["123456789012", None, None]
    assert cur["resource_tags_user_Team"].to_list() == ["  web ", None, "NULL"]


def test_csv_and_parquet_mix_as_text():
    """A CSV and a parquet in one billing period: money is text in both, so nothing is parsed twice."""
    cur = scan_cur([WORKSHOP["Dec"], DATA / "koku" / "2023-06-01.csv"])
    assert cur.collect_schema()["line_item_unblended_cost"] == pl.String
    totals = cur_source_totals(cur).group_by("x_SourceFile").agg(pl.col("x_SourceCost").sum()).collect()
    by_file = dict(totals.iter_rows())
    assert by_file[str(DATA / "koku" / "2023-06-01.csv")] == Decimal("30")
    assert round(by_file[str(WORKSHOP["Dec"])], 2) == Decimal("408.38")


def test_truncated_gzip_names_the_file(tmp_path):
    truncated = tmp_path / "cur-00001.csv.gz"
    data = KOKU_GZ.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFileError, match="cur-00001.csv.gz") as error:
        scan_cur([truncated], source_names=["s3://bucket/cur-00001.csv.gz"])
    assert error.value.file == "s3://bucket/cur-00001.csv.gz"


def test_missing_required_column_names_file_and_column(tmp_path):
    with TEST_CUR.open(newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("lineItem/UnblendedCost")
    no_cost = tmp_path / "no-cost.csv"
    with no_cost.open("w", newline="") as handle:
        csv.writer(handle).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    with pytest.raises(SourceFileError, match="lineItem/UnblendedCost") as error:
        scan_cur([no_cost])
    assert error.value.file == str(no_cost.resolve())
    assert error.value.column == "line_item_unblended_cost"


def test_corrupt_and_empty_files_name_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.snappy.parquet"
    corrupt.write_bytes(b"PAR1" + b"\x00" * 100)  # parquet magic, no footer
    with pytest.raises(SourceFileError, match="corrupt.snappy.parquet.*not a readable parquet file"):
        scan_cur([corrupt])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceFileError, match="empty.csv: file is empty"):
        scan_cur([empty])


def test_source_names_must_match_files():
    with pytest.raises(ValueError, match="2 files but 1 source names"):
        scan_cur([WORKSHOP["Oct"], WORKSHOP["Nov"]], source_names=["only-one"])
