"""Warehouse contract on both engines (DuckDB file and a real PostgreSQL)."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from finops_pipeline.warehouse import MONEY_DTYPE, Warehouse

DAY_A, DAY_B = date(2024, 3, 1), date(2024, 3, 2)
BIG = Decimal("12345678901234567890.1234567891")


def costs(day: date, amounts: list[str], source: str = "aws", **extra: list) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x_SourceName": [source] * len(amounts),
            "x_ChargeDay": [day] * len(amounts),
            "BilledCost": pl.Series(amounts, dtype=pl.String).cast(MONEY_DTYPE),
            **extra,
        }
    )


def partition(*days: date, source: str = "aws") -> dict[str, list]:
    return {"x_SourceName": [source], "x_ChargeDay": list(days)}


def billed(wh: Warehouse, table: str, day: date) -> list[Decimal]:
    frame = wh.read_table(table, {"x_ChargeDay": [day]}).sort("BilledCost")
    return frame["BilledCost"].to_list()


def test_decimal_round_trip_keeps_ten_places(warehouse: Warehouse, table: str) -> None:
    warehouse.replace_rows(table, costs(DAY_A, [str(BIG), "-0.0000000001"]), partition(DAY_A))

    frame = warehouse.read_table(table)

    assert frame.schema["BilledCost"] == MONEY_DTYPE
    assert sorted(frame["BilledCost"].to_list()) == [Decimal("-0.0000000001"), BIG]


def test_azure_twenty_digit_value_is_rounded_to_ten_places(warehouse: Warehouse, table: str) -> None:
    frame = pl.DataFrame(
        {
            "x_SourceName": ["azure", "azure"],
            "x_ChargeDay": [DAY_A, DAY_A],
            "BilledCost": pl.Series(["0.00045833333333333333", "1.23456789015000000001"]).cast(pl.Decimal(38, 20)),
        }
    )

    warehouse.replace_rows(table, frame, partition(DAY_A, source="azure"))

    assert billed(warehouse, table, DAY_A) == [Decimal("0.0004583333"), Decimal("1.2345678902")]


def test_sum_of_money_is_exact_to_the_cent(warehouse: Warehouse, table: str) -> None:
    warehouse.replace_rows(table, costs(DAY_A, ["19.99", "0.01", "0.0333333333"] * 1000), partition(DAY_A))

    total = warehouse.read_frame(
        'SELECT SUM("BilledCost") AS total FROM ' + table + ' WHERE "x_SourceName" = :source',
        {"source": "aws"},
    )

    assert total.schema["total"] == MONEY_DTYPE
    assert total["total"].item() == Decimal("20033.3333333000")
    assert round(total["total"].item(), 2) == Decimal("20033.33")


def test_rerun_of_a_partition_leaves_exactly_one_copy(warehouse: Warehouse, table: str) -> None:
    for _ in range(3):
        inserted = warehouse.replace_rows(table, costs(DAY_A, ["1.50", "2.25"]), partition(DAY_A))
        assert inserted == 2

    assert billed(warehouse, table, DAY_A) == [Decimal("1.5"), Decimal("2.25")]


def test_replacing_day_a_leaves_day_b_and_other_sources_alone(warehouse: Warehouse, table: str) -> None:
    warehouse.replace_rows(table, costs(DAY_A, ["1"]), partition(DAY_A))
    warehouse.replace_rows(table, costs(DAY_B, ["2"]), partition(DAY_B))
    warehouse.replace_rows(table, costs(DAY_A, ["3"], source="gcp"), partition(DAY_A, source="gcp"))

    warehouse.replace_rows(table, costs(DAY_A, ["10", "11"]), partition(DAY_A))

    assert billed(warehouse, table, DAY_B) == [Decimal("2")]
    assert billed(warehouse, table, DAY_A) == [Decimal("3"), Decimal("10"), Decimal("11")]


def test_insert_that_fails_after_the_delete_keeps_previous_rows(warehouse: Warehouse, table: str) -> None:
    warehouse.replace_rows(table, costs(DAY_A, ["1.25", "2.50"]), partition(DAY_A))
    unconvertible = costs(DAY_A, ["0"]).with_columns(BilledCost=pl.lit("not a number"))

    with pytest.raises(Exception, match="(?i)numeric|decimal|convert"):
        warehouse.replace_rows(table, unconvertible, partition(DAY_A))

    assert billed(warehouse, table, DAY_A) == [Decimal("1.25"), Decimal("2.50")]


def test_crash_after_the_bulk_insert_rolls_everything_back(
    warehouse: Warehouse, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.replace_rows(table, costs(DAY_A, ["1.25"]), partition(DAY_A))
    bulk_insert = type(warehouse)._bulk_insert

    def insert_then_crash(self, tx, table_name, frame):
        bulk_insert(self, tx, table_name, frame)
        raise RuntimeError("worker killed mid-write")

    monkeypatch.setattr(type(warehouse), "_bulk_insert", insert_then_crash)
    with pytest.raises(RuntimeError, match="mid-write"):
        warehouse.replace_rows(table, costs(DAY_A, ["7", "8", "9"]), partition(DAY_A))
    monkeypatch.undo()

    assert billed(warehouse, table, DAY_A) == [Decimal("1.25")]


def test_schema_drift_adds_columns_and_fills_missing_ones_with_null(warehouse: Warehouse, table: str) -> None:
    warehouse.replace_rows(table, costs(DAY_A, ["1"]), partition(DAY_A))
    warehouse.replace_rows(table, costs(DAY_B, ["2"], x_Team=["payments"]), partition(DAY_B))
    warehouse.replace_rows(table, costs(DAY_A, ["3"]), partition(DAY_A))

    frame = warehouse.read_table(table).sort("x_ChargeDay")

    assert frame.columns == ["x_SourceName", "x_ChargeDay", "BilledCost", "x_Team"]
    assert frame["x_Team"].to_list() == [None, "payments"]
    assert frame["BilledCost"].to_list() == [Decimal("3"), Decimal("2")]


def test_empty_frame_empties_the_partition(warehouse: Warehouse, table: str) -> None:
    warehouse.replace_rows(table, costs(DAY_A, ["1", "2"]), partition(DAY_A))
    warehouse.replace_rows(table, costs(DAY_B, ["3"]), partition(DAY_B))

    assert warehouse.replace_rows(table, costs(DAY_A, []), partition(DAY_A)) == 0
    assert billed(warehouse, table, DAY_A) == []

    assert warehouse.replace_rows(table, pl.DataFrame(), partition(DAY_B)) == 0
    assert billed(warehouse, table, DAY_B) == []


def test_empty_match_replaces_the_whole_table(warehouse: Warehouse, table: str) -> None:
    warehouse.replace_rows(table, costs(DAY_A, ["1"]), partition(DAY_A))
    warehouse.replace_rows(table, costs(DAY_B, ["2"]), partition(DAY_B))

    warehouse.replace_rows(table, costs(DAY_B, ["5"]), {})

    assert warehouse.read_table(table)["BilledCost"].to_list() == [Decimal("5")]


def test_rows_outside_the_partition_are_refused(warehouse: Warehouse, table: str) -> None:
    # They would survive the next rerun's DELETE and be counted twice.
    with pytest.raises(ValueError, match="outside the partition"):
        warehouse.replace_rows(table, costs(DAY_B, ["1"]), partition(DAY_A))
    assert not warehouse.table_exists(table)


def test_timestamps_come_back_as_utc(warehouse: Warehouse, table: str) -> None:
    berlin = datetime(2024, 3, 1, 1, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    frame = costs(DAY_A, ["1"]).with_columns(
        pl.Series("ChargePeriodStart", [berlin], dtype=pl.Datetime("us", "Europe/Berlin")),
        pl.Series("x_LocalTime", [datetime(2024, 3, 1, 1, 30)], dtype=pl.Datetime("us")),
    )

    warehouse.replace_rows(table, frame, partition(DAY_A))
    back = warehouse.read_table(table)

    assert back.schema["ChargePeriodStart"] == pl.Datetime("us", "UTC")
    assert back["ChargePeriodStart"].item() == datetime(2024, 3, 1, 0, 30, 15, 123456, tzinfo=UTC)
    assert back.schema["x_LocalTime"] == pl.Datetime("us")
    assert back["x_LocalTime"].item() == datetime(2024, 3, 1, 1, 30)
    assert back.schema["x_ChargeDay"] == pl.Date


def test_created_columns_have_the_warehouse_types(warehouse: Warehouse, table: str) -> None:
    frame = costs(DAY_A, ["1"]).with_columns(
        ChargePeriodStart=pl.lit(datetime(2024, 3, 1, tzinfo=UTC)),
        x_Quantity=pl.lit(2.5),
        x_Count=pl.lit(3, dtype=pl.Int64),
        x_Flag=pl.lit(True),
    )
    warehouse.replace_rows(table, frame, partition(DAY_A))
    schema, name = table.split(".")

    columns = warehouse.read_frame(
        "SELECT column_name, lower(data_type) AS data_type, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE table_schema = :schema AND table_name = :name",
        {"schema": schema, "name": name},
    )
    types = {row["column_name"]: row for row in columns.to_dicts()}

    assert types["BilledCost"]["numeric_precision"] == 38
    assert types["BilledCost"]["numeric_scale"] == 10
    assert types["ChargePeriodStart"]["data_type"] == "timestamp with time zone"
    assert types["x_ChargeDay"]["data_type"] == "date"
    assert types["x_Count"]["data_type"] == "bigint"
    assert types["x_Quantity"]["data_type"] in {"double", "double precision"}
    assert types["x_Flag"]["data_type"] == "boolean"


def test_read_table_filters_and_table_exists(warehouse: Warehouse, table: str) -> None:
    assert not warehouse.table_exists(table)
    warehouse.replace_rows(table, costs(DAY_A, ["1"]), partition(DAY_A))
    warehouse.replace_rows(table, costs(DAY_B, ["2"]), partition(DAY_B))

    assert warehouse.table_exists(table)
    assert warehouse.read_table(table, {"x_ChargeDay": [DAY_A, DAY_B]}).height == 2
    assert warehouse.read_table(table, {"x_ChargeDay": [DAY_B], "x_SourceName": ["aws"]}).height == 1
    assert warehouse.read_table(table, {"x_ChargeDay": []}).height == 0


def test_million_row_write_is_bulk(warehouse: Warehouse, table: str) -> None:
    n = 1_000_000
    ids = pl.int_range(n, eager=True).cast(pl.String)
    frame = pl.DataFrame(
        {
            "x_SourceName": pl.repeat("aws", n, eager=True),
            "x_ChargeDay": pl.repeat(DAY_A, n, eager=True),
            "ResourceId": ids,
            "BilledCost": (ids + ".0000000001").cast(MONEY_DTYPE),
            "EffectiveCost": pl.repeat(Decimal("0.01"), n, eager=True).cast(MONEY_DTYPE),
        }
    )

    started = time.perf_counter()
    assert warehouse.replace_rows(table, frame, partition(DAY_A)) == n
    elapsed = time.perf_counter() - started

    totals = warehouse.read_frame(
        f'SELECT COUNT(*) AS n, SUM("BilledCost") AS billed, SUM("EffectiveCost") AS effective FROM {table}'
    )
    assert totals.row(0) == (n, Decimal("499999500000.0001000000"), Decimal("10000.0000000000"))
    assert elapsed < 30  # about 1 s on a laptop; row by row would take minutes


def test_describe_never_shows_the_password() -> None:
    wh = Warehouse.from_url("postgresql+psycopg://finops:s3cret@db.internal:5432/finops")

    assert wh.dialect == "postgresql"
    assert wh.describe() == "postgresql+psycopg://finops:***@db.internal:5432/finops"
    assert "s3cret" not in repr(wh)


def test_from_settings_defaults_to_duckdb_under_finops_home(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FINOPS_WAREHOUSE_URL", raising=False)

    with Warehouse.from_settings() as wh:
        wh.ensure_schemas()
        assert wh.dialect == "duckdb"
        assert wh.describe() == str(tmp_path / "home" / "warehouse.duckdb")
    assert (tmp_path / "home" / "warehouse.duckdb").exists()


def test_concurrent_first_writes_to_a_new_postgres_table(postgres_url: str) -> None:
    # Parallel partitions racing on CREATE TABLE / ADD COLUMN must all land, not fail on a catalog key.
    days = [date(2024, 3, day) for day in range(1, 9)]
    table = f"core.test_wh_{uuid.uuid4().hex[:12]}"
    barrier = threading.Barrier(len(days))

    def write(day: date) -> int:
        with Warehouse.from_url(postgres_url) as wh:
            barrier.wait()
            return wh.replace_rows(table, costs(day, ["1"], **{f"x_Tag{day.day}": ["t"]}), partition(day))

    try:
        with ThreadPoolExecutor(len(days)) as pool:
            assert sum(pool.map(write, days)) == len(days)
        with Warehouse.from_url(postgres_url) as wh:
            assert wh.read_table(table).height == len(days)
            assert len(wh.read_table(table).columns) == 3 + len(days)
    finally:
        with Warehouse.from_url(postgres_url) as wh:
            wh.execute(f"DROP TABLE IF EXISTS {table}")
