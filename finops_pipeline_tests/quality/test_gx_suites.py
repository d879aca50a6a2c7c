"""Great Expectations suites on real warehouse tables (DuckDB file and Postgres), and their Dagster checks."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from finops_pipeline.defs.gx import CHECK_NAME, gx_checks, run_day_range
from finops_pipeline.defs.partitions import daily_partitions
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run
from finops_pipeline.focus import FOCUS_TABLE_SCHEMA
from finops_pipeline.quality.gx_suites import SUITES, URL_VARIABLE, data_docs_index, run_suites
from finops_pipeline.quality.quarantine import QUARANTINE_SCHEMA
from finops_pipeline.sources.kubernetes import K8S_USAGE_SCHEMA
from finops_pipeline.warehouse import Warehouse

GX_TEST_DATABASE = "finops_gx_test"
SENTINEL_PASSWORD = "gx-Sentinel-pa55word"  # trust auth accepts it; it must never be written under gx_root
TABLES = [suite.table for suite in SUITES.values()]
FIRST_DAY = date(2026, 11, 1)


def _libpq(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def gx_postgres_url(postgres_url: str) -> str:
    """A dedicated database (tests here drop its core tables), with a password in the URL when the server takes it."""
    base = sa.make_url(postgres_url)
    with psycopg.connect(_libpq(base), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (GX_TEST_DATABASE,)).fetchone()
        if not exists:
            with suppress(psycopg.errors.DuplicateDatabase):  # another test process created it meanwhile
                conn.execute(f'CREATE DATABASE "{GX_TEST_DATABASE}"')
    url = base.set(database=GX_TEST_DATABASE)
    if url.password is None:
        try:
            psycopg.connect(_libpq(url.set(password=SENTINEL_PASSWORD)), connect_timeout=5).close()
            url = url.set(password=SENTINEL_PASSWORD)
        except psycopg.OperationalError:
            pass  # password auth with a .pgpass: keep the URL as given
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["duckdb", "postgres"])
def gx_warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = (
        f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        if request.param == "duckdb"
        else request.getfixturevalue("gx_postgres_url")
    )
    _drop_tables(url)
    yield url
    _drop_tables(url)


def _drop_tables(url: str) -> None:
    with Warehouse.from_url(url) as wh:
        wh.ensure_schemas()
        for table in TABLES:
            wh.execute(f"DROP TABLE IF EXISTS {table}")


def focus_row(day: date, **overrides) -> dict:
    row = dict.fromkeys(FOCUS_TABLE_SCHEMA)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    row.update(
        BilledCost=Decimal("12.34"),
        EffectiveCost=Decimal("12.34"),
        ListCost=Decimal("15.00"),
        ContractedCost=Decimal("12.34"),
        BillingAccountId="acct-1",
        BillingCurrency="USD",
        ChargeCategory="Usage",
        ChargePeriodStart=start,
        ChargePeriodEnd=start + timedelta(days=1),
        ServiceCategory="Compute",
        ServiceName="Virtual Machines",
        ProviderName="Demo",
        x_SourceName="demo",
        x_ChargeDay=day,
    )
    row.update(overrides)
    return row


def focus_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FOCUS_TABLE_SCHEMA)


GOOD_ROWS = [focus_row(FIRST_DAY + timedelta(days=i)) for i in range(5)]
REFUND = focus_row(date(2026, 11, 3), ChargeCategory="Refund")
NO_BILLED_COST = focus_row(date(2026, 11, 4), BilledCost=None)


def write_focus(url: str, rows: list[dict]) -> None:
    with Warehouse.from_url(url) as wh:
        wh.replace_rows("core.focus_costs", focus_frame(rows), match={})


def failures(outcome) -> dict[tuple[str, str | None], int | None]:
    return {(failed.expectation, failed.column): failed.unexpected_count for failed in outcome.failed}


def test_focus_costs_suite_passes_on_good_rows_and_names_each_bad_one(gx_warehouse_url: str, tmp_path: Path):
    gx_root = tmp_path / "gx"
    write_focus(gx_warehouse_url, GOOD_ROWS)

    outcomes = run_suites(gx_warehouse_url, gx_root, day_range=None)
    assert set(outcomes) == {"focus_costs"}  # quarantine and k8s_usage have no table here: left out
    good = outcomes["focus_costs"]
    assert good.success, good.failed
    assert good.statistics["evaluated_expectations"] == 10
    assert good.success_percent == 100.0

    write_focus(gx_warehouse_url, [*GOOD_ROWS, REFUND, NO_BILLED_COST])
    bad = run_suites(gx_warehouse_url, gx_root, day_range=None, run_name="with-bad-rows")["focus_costs"]
    assert not bad.success
    assert failures(bad) == {
        ("expect_column_values_to_be_in_set", "ChargeCategory"): 1,
        ("expect_column_values_to_not_be_null", "BilledCost"): 1,
    }
    in_set = next(failed for failed in bad.failed if failed.column == "ChargeCategory")
    assert in_set.sample == ["Refund"]
    assert in_set.kwargs["value_set"] == ["Usage", "Purchase", "Tax", "Credit", "Adjustment"]
    assert bad.statistics["unsuccessful_expectations"] == 2

    # The day range reads only its days: the bad rows are on the 3rd and 4th.
    first_two_days = run_suites(gx_warehouse_url, gx_root, day_range=(FIRST_DAY, date(2026, 11, 2)))["focus_costs"]
    assert first_two_days.success
    assert first_two_days.day_range == (FIRST_DAY, date(2026, 11, 2))
    only_the_refund = run_suites(gx_warehouse_url, gx_root, day_range=(date(2026, 11, 3), date(2026, 11, 3)))
    assert failures(only_the_refund["focus_costs"]) == {("expect_column_values_to_be_in_set", "ChargeCategory"): 1}

    index = data_docs_index(gx_root)
    assert index.is_file()
    assert "focus_costs" in index.read_text()
    assert bad.docs_page is not None and bad.docs_page.is_file()
    assert "Refund" in bad.docs_page.read_text()

    config = (gx_root / "great_expectations.yml").read_text()
    assert "${" + URL_VARIABLE + "}" in config
    password = sa.make_url(gx_warehouse_url).password
    if password:
        leaks = [path for path in gx_root.rglob("*") if path.is_file() and password.encode() in path.read_bytes()]
        assert leaks == []

    # GX closed its (read-only) DuckDB connections: the pipeline can write the file again in this process.
    write_focus(gx_warehouse_url, GOOD_ROWS)


def test_other_suites_and_a_missing_duckdb_file(tmp_path: Path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    assert run_suites(url, tmp_path / "gx", day_range=None) == {}  # no file yet: nothing to validate
    assert data_docs_index(tmp_path / "gx").is_file()

    k8s_base = dict.fromkeys(K8S_USAGE_SCHEMA) | {
        "x_ChargeDay": FIRST_DAY,
        "cluster": "prod",
        "x_SourceName": "opencost",
    }
    flags = {"is_idle": False, "is_unallocated": False, "is_unmounted": False}
    k8s = [
        k8s_base | flags | {"namespace": "shop", "cpu_core_request_average": 0.5, "ram_byte_request_average": 1e9},
        # idle capacity belongs to no namespace: not a failure
        k8s_base | flags | {"is_idle": True, "cpu_core_request_average": 0.0, "ram_byte_request_average": 0.0},
        k8s_base | flags | {"namespace": "shop", "cpu_core_request_average": -0.1, "ram_byte_request_average": 0.0},
    ]
    quarantine = [dict.fromkeys(QUARANTINE_SCHEMA) | {"x_ChargeDay": FIRST_DAY, "x_QuarantineReason": None}]
    with Warehouse.from_url(url) as wh:
        wh.replace_rows("core.k8s_usage", pl.DataFrame(k8s, schema=K8S_USAGE_SCHEMA), match={})
        wh.replace_rows("core.quarantine", pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA), match={})

    outcomes = run_suites(url, tmp_path / "gx", day_range=None, suites=["k8s_usage", "quarantine"])
    assert failures(outcomes["k8s_usage"]) == {("expect_column_values_to_be_between", "cpu_core_request_average"): 1}
    assert failures(outcomes["quarantine"]) == {("expect_column_values_to_not_be_null", "x_QuarantineReason"): 1}
    # A later run of fewer suites (a run that materialised one asset) rebuilds the GX objects it needs.
    assert set(run_suites(url, tmp_path / "gx", day_range=None, suites=["quarantine"])) == {"quarantine"}
    assert set(run_suites(url, tmp_path / "gx", day_range=None, suites=["k8s_usage"])) == {"k8s_usage"}
    with pytest.raises(ValueError, match="unknown GX suites"):
        run_suites(url, tmp_path / "gx", day_range=None, suites=["marts"])


def test_duckdb_suites_wait_for_the_writer_process_and_refuse_an_open_writer_in_this_one(tmp_path: Path):
    path = tmp_path / "warehouse.duckdb"
    url = f"duckdb:///{path}"
    write_focus(url, GOOD_ROWS)
    holder = (
        "import sys, time, duckdb\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "con.close()\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", holder, str(path), "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "locked"
        started = time.monotonic()
        outcomes = run_suites(url, tmp_path / "gx", day_range=None)
        assert time.monotonic() - started >= 0.5  # it waited for the other process to let go of the file
        assert outcomes["focus_costs"].success
    finally:
        writer.kill()
        writer.wait()

    with Warehouse.from_url(url) as wh:
        wh.read_frame("SELECT 1 AS one")  # the pipeline's read-write connection, still open
        with pytest.raises(RuntimeError, match="close the pipeline's Warehouse"):
            run_suites(url, tmp_path / "gx", day_range=None)


def test_run_day_range_from_run_tags():
    assert run_day_range({}) is None
    assert run_day_range({"dagster/partition": "2026-11-03"}) == (date(2026, 11, 3), date(2026, 11, 3))
    range_tags = {
        "dagster/asset_partition_range_start": "2026-10-01",
        "dagster/asset_partition_range_end": "2026-11-23",
    }
    assert run_day_range(range_tags) == (date(2026, 10, 1), date(2026, 11, 23))
    assert run_day_range({"dagster/partition": "not-a-day"}) is None


# Stand-ins for the pipeline's assets: same keys and partitions, each writes its rows through the Warehouse
# and closes it, as the real ones do, so the check runs on a DuckDB file its run just wrote.
@dg.multi_asset(
    specs=[dg.AssetSpec("focus_costs"), dg.AssetSpec("quarantine")],
    partitions_def=daily_partitions,
)
def core_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    (day,) = days_in_run(context)
    rows = [focus_row(day), focus_row(day, ChargeCategory="Refund")]
    with warehouse.open() as wh:
        wh.replace_rows("core.focus_costs", focus_frame(rows), match={"x_ChargeDay": [day]})
        wh.replace_rows("core.quarantine", pl.DataFrame(schema=QUARANTINE_SCHEMA), match={"x_ChargeDay": [day]})
    yield dg.MaterializeResult(asset_key="focus_costs")
    yield dg.MaterializeResult(asset_key="quarantine")


@dg.asset(name="k8s_usage", partitions_def=daily_partitions)
def k8s_usage_table(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    (day,) = days_in_run(context)
    with warehouse.open() as wh:
        wh.replace_rows("core.k8s_usage", pl.DataFrame(schema=K8S_USAGE_SCHEMA), match={"x_ChargeDay": [day]})


def test_dagster_checks_warn_with_the_failed_expectations_of_the_run_day(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path))
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    write_focus(url, [focus_row(FIRST_DAY, BilledCost=None)])  # another day's bad row: not this run's business

    result = dg.materialize(
        [core_tables, k8s_usage_table, *gx_checks],
        resources={"warehouse": WarehouseResource(url=url)},
        partition_key="2026-11-03",
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success  # non-blocking: a failed suite warns
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"focus_costs", "quarantine", "k8s_usage"}
    assert {e.check_name for e in evaluations.values()} == {CHECK_NAME}
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evaluations.values())
    assert evaluations["quarantine"].passed and evaluations["k8s_usage"].passed

    focus = evaluations["focus_costs"]
    assert not focus.passed
    metadata = {key: value.value for key, value in focus.metadata.items()}
    assert metadata["days"] == "2026-11-03 … 2026-11-03"
    assert metadata["success_percent"] == 90.0
    assert metadata["unexpected_counts"] == {"expect_column_values_to_be_in_set(ChargeCategory)": 1}
    assert [failed["column"] for failed in metadata["failed_expectations"]] == ["ChargeCategory"]
    assert metadata["data_docs"] == str(data_docs_index(tmp_path / "gx"))
    assert Path(metadata["data_docs"]).is_file()
    assert Path(metadata["data_docs_validation"]).is_file()
    assert "expect_column_values_to_be_in_set(ChargeCategory): 1 unexpected" in focus.description


def test_a_check_that_cannot_run_warns_instead_of_failing_the_run(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path))
    result = dg.materialize(
        [core_tables, k8s_usage_table, *gx_checks],
        resources={"warehouse": WarehouseResource(url="mysql://finops@localhost/warehouse")},
        selection=dg.AssetSelection.checks_for_assets("focus_costs"),  # the check alone: a run without partition
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_key == dg.AssetKey("focus_costs")
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "no GX data source for warehouse backend 'mysql'" in evaluation.description


def test_output_suites_find_unknown_methods_and_statuses_in_the_run_days(tmp_path: Path):
    from finops_pipeline.allocation.schema import cost_allocation_schema
    from finops_pipeline.budgets import BUDGET_STATUS_SCHEMA

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    schema = cost_allocation_schema(["team"])
    base = dict.fromkeys(schema) | {
        "x_ChargeDay": FIRST_DAY,
        "x_SourceName": "aws",
        "x_Team": "web",
        "x_AllocationRuleId": "tag:team",
        "BilledCost": Decimal("1"),
        "EffectiveCost": Decimal("1"),
    }
    allocation = [
        base | {"AllocatedMethodId": "direct"},
        base | {"AllocatedMethodId": "guesswork"},
        base | {"AllocatedMethodId": "direct", "x_ChargeDay": date(2026, 11, 2), "x_AllocationRuleId": None},
    ]
    budget = dict.fromkeys(BUDGET_STATUS_SCHEMA) | {"budget": Decimal(100), "mtd_cost": Decimal(5), "days_elapsed": 1}
    budgets = [budget | {"day": FIRST_DAY, "status": "panic"}, budget | {"day": date(2026, 11, 2), "status": "normal"}]
    with Warehouse.from_url(url) as wh:
        wh.replace_rows("outputs.cost_allocation", pl.DataFrame(allocation, schema=schema), match={})
        wh.replace_rows("outputs.budget_status", pl.DataFrame(budgets, schema=BUDGET_STATUS_SCHEMA), match={})

    first_day = run_suites(
        url, tmp_path / "gx", day_range=(FIRST_DAY, FIRST_DAY), suites=["cost_allocation", "budget_status"]
    )
    assert failures(first_day["cost_allocation"]) == {("expect_column_values_to_be_in_set", "AllocatedMethodId"): 1}
    assert failures(first_day["budget_status"]) == {("expect_column_values_to_be_in_set", "status"): 1}
    second_day = run_suites(url, tmp_path / "gx", day_range=(date(2026, 11, 2), date(2026, 11, 2)))
    assert failures(second_day["cost_allocation"]) == {("expect_column_values_to_not_be_null", "x_AllocationRuleId"): 1}
    assert failures(second_day["budget_status"]) == {}
