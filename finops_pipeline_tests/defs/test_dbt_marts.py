"""The dbt marts on real warehouses: the real dbt CLI through Dagster's `materialize`, against a DuckDB file
and a real Postgres, over a six-row core.focus_costs whose totals are worked out by hand below."""

import contextlib
import os
from datetime import UTC, date, datetime
from decimal import Decimal

import dagster as dg
import duckdb
import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from finops_pipeline.defs.dbt import (
    dbt_env,
    dbt_environ,
    dbt_resource,
    describe_dbt_env,
    finops_marts,
    manifest_is_current,
    project,
)
from finops_pipeline.focus import FOCUS_TABLE_SCHEMA
from finops_pipeline.quality.quarantine import QUARANTINE_SCHEMA
from finops_pipeline.warehouse import Warehouse

OCT_31, NOV_1 = date(2026, 10, 31), date(2026, 11, 1)
DBT_TEST_DATABASE = "finops_dbt_test"  # not `test`: other tests write core.focus_costs there

MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
# provider, billing account, sub account, service category, service, charge category, day, then
# BilledCost, EffectiveCost, ListCost, ContractedCost.
FOCUS_ROWS = [
    ("AWS", "111111111111", "222222222222", "Compute", "Amazon EC2", "Usage", OCT_31,
     "10.1234567891", "8.0000000001", "12.5", "10.1234567891"),
    ("AWS", "111111111111", "222222222222", "Compute", "Amazon EC2", "Usage", OCT_31,
     "5.0000000009", "5", "6", "5.0000000009"),
    ("AWS", "111111111111", "333333333333", "Storage", "Amazon S3", "Usage", OCT_31,
     "2.5", "2.5", "3", "2.5"),
    ("AWS", "111111111111", "222222222222", "Compute", "Amazon EC2", "Usage", NOV_1,
     "20.0000000001", "18", "25", "20.0000000001"),
    ("Google Cloud", "01ABCD-23EFGH", "proj-a", "Compute", "Compute Engine", "Usage", OCT_31,
     "7.7777777777", "7.7777777777", "9", "7.7777777777"),
    ("Google Cloud", "01ABCD-23EFGH", "proj-a", "Compute", "Compute Engine", "Credit", NOV_1,
     "-1.1111111111", "-1.1111111111", "0", "-1.1111111111"),
]  # fmt: skip

QUARANTINE_ROWS = [  # day, reason, source cost
    (OCT_31, "BilledCost: value is not a valid Decimal", None),
    (OCT_31, "BilledCost: value is not a valid Decimal", "3.3"),
    (NOV_1, "ChargeCategory: value not allowed", "4.4000000001"),
]

D = Decimal


def focus_frame() -> pl.DataFrame:
    rows = []
    for provider, account, sub, category, service, charge, day, *money in FOCUS_ROWS:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows.append(
            {
                "ProviderName": provider,
                "BillingAccountId": account,
                "SubAccountId": sub,
                "SubAccountName": f"name of {sub}",
                "ServiceCategory": category,
                "ServiceName": service,
                "ChargeCategory": charge,
                "BillingCurrency": "USD",
                "ChargePeriodStart": start,
                "BillingPeriodStart": datetime(day.year, day.month, 1, tzinfo=UTC),
                "Tags": '{"team": "payments"}',
                "x_SourceName": provider.lower(),
                "x_ChargeDay": day,
                **{column: D(value) for column, value in zip(MONEY, money, strict=True)},
            }
        )
    frame = pl.DataFrame(rows, schema={name: FOCUS_TABLE_SCHEMA[name] for name in rows[0]})
    return pl.concat([pl.DataFrame(schema=FOCUS_TABLE_SCHEMA), frame], how="diagonal_relaxed")


def quarantine_frame() -> pl.DataFrame:
    rows = [
        {"x_SourceName": "aws", "x_ChargeDay": day, "x_QuarantineStage": "conform", "x_QuarantineReason": reason,
         "x_SourceCost": None if cost is None else D(cost)}
        for day, reason, cost in QUARANTINE_ROWS
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema={name: QUARANTINE_SCHEMA[name] for name in rows[0]})
    return pl.concat([pl.DataFrame(schema=QUARANTINE_SCHEMA), frame], how="diagonal_relaxed")


def write_core(url: str) -> None:
    with Warehouse.from_url(url) as wh:
        wh.ensure_schemas()
        wh.replace_rows("core.focus_costs", focus_frame(), match={})
        wh.replace_rows("core.quarantine", quarantine_frame(), match={})


def read(url: str, sql: str) -> pl.DataFrame:
    with Warehouse.from_url(url) as wh:
        return wh.read_frame(sql)


def read_as_analyst(url: str, sql: str) -> list[tuple]:
    """Rows as a BI tool 11 hours behind UTC sees them (views run in the reader's session time zone;
    there 1 Oct 00:00 UTC is still September, yet billing months must stay UTC months)."""
    time_zone = "Pacific/Pago_Pago"
    if url.startswith("duckdb:///"):
        with duckdb.connect(url.removeprefix("duckdb:///"), read_only=True) as con:
            con.execute(f"SET TimeZone = '{time_zone}'")
            return con.execute(sql).fetchall()
    libpq_uri = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq_uri) as conn:
        conn.execute(f"SET TIME ZONE '{time_zone}'")
        return conn.execute(sql).fetchall()


@pytest.fixture
def duckdb_url(tmp_path, monkeypatch) -> str:
    """The embedded default: no FINOPS_WAREHOUSE_URL, a DuckDB file under a fresh FINOPS_HOME."""
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path))
    monkeypatch.delenv("FINOPS_WAREHOUSE_URL", raising=False)
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture
def dbt_postgres_url(postgres_url, monkeypatch) -> str:
    """A database of its own on the test server, emptied of what the marts read and write."""
    url = sa.make_url(postgres_url)
    admin_uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DBT_TEST_DATABASE,)).fetchone():
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another session created it meanwhile
                conn.execute(f'CREATE DATABASE "{DBT_TEST_DATABASE}"')
    dbt_url = url.set(database=DBT_TEST_DATABASE).render_as_string(hide_password=False)
    with Warehouse.from_url(dbt_url) as wh:
        wh.execute("DROP SCHEMA IF EXISTS marts CASCADE")
        wh.execute("DROP TABLE IF EXISTS core.focus_costs")
        wh.execute("DROP TABLE IF EXISTS core.quarantine")
    monkeypatch.setenv("FINOPS_WAREHOUSE_URL", dbt_url)
    return dbt_url


def materialize_marts() -> dg.ExecuteInProcessResult:
    return dg.materialize([finops_marts], resources={"dbt": dbt_resource()}, partition_key="2026-11-01")


def assert_marts_match_the_hand_worked_numbers(url: str) -> None:
    daily = read(
        url,
        "SELECT charge_date, provider_name, sub_account_id, service_name, charge_category, billed_cost, "
        "effective_cost, list_cost, contracted_cost, row_count FROM marts.daily_cost "
        "ORDER BY charge_date, provider_name, sub_account_id",
    )
    assert daily.rows() == [
        # 10.1234567891 + 5.0000000009; 8.0000000001 + 5; 12.5 + 6
        (OCT_31, "AWS", "222222222222", "Amazon EC2", "Usage",
         D("15.1234567900"), D("13.0000000001"), D("18.5"), D("15.1234567900"), 2),
        (OCT_31, "AWS", "333333333333", "Amazon S3", "Usage", D("2.5"), D("2.5"), D("3"), D("2.5"), 1),
        (OCT_31, "Google Cloud", "proj-a", "Compute Engine", "Usage",
         D("7.7777777777"), D("7.7777777777"), D("9"), D("7.7777777777"), 1),
        (NOV_1, "AWS", "222222222222", "Amazon EC2", "Usage",
         D("20.0000000001"), D("18"), D("25"), D("20.0000000001"), 1),
        (NOV_1, "Google Cloud", "proj-a", "Compute Engine", "Credit",
         D("-1.1111111111"), D("-1.1111111111"), D("0"), D("-1.1111111111"), 1),
    ]  # fmt: skip
    money_types = read(
        url,
        "SELECT numeric_precision, numeric_scale, COUNT(*) AS n FROM information_schema.columns "
        "WHERE table_schema = 'marts' AND column_name LIKE '%cost%' "
        "AND column_name NOT LIKE '%pct' AND column_name <> 'rows_without_cost' GROUP BY 1, 2",
    )
    # daily_cost 4, monthly_cost_by_service 6, quarantine_summary 1, cost_by_owner_daily 3, budget_status 2
    assert money_types.rows() == [(38, 10, 4 + 6 + 1 + 3 + 2)]  # money stays DECIMAL(38,10) in every mart

    per_day_provider = read(
        url,
        "SELECT charge_date, provider_name, SUM(billed_cost) AS billed FROM marts.daily_cost "
        "GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert per_day_provider.rows() == [
        (OCT_31, "AWS", D("17.6234567900")),  # 15.12345679 + 2.5
        (OCT_31, "Google Cloud", D("7.7777777777")),
        (NOV_1, "AWS", D("20.0000000001")),
        (NOV_1, "Google Cloud", D("-1.1111111111")),
    ]

    monthly = read_as_analyst(
        url,
        "SELECT billing_month, provider_name, service_name, billed_cost, effective_cost, previous_billed_cost, "
        "billed_cost_change, effective_cost_change, billed_cost_change_pct FROM marts.monthly_cost_by_service "
        "ORDER BY billing_month, provider_name, service_name",
    )
    oct_1 = date(2026, 10, 1)
    assert monthly == [
        (oct_1, "AWS", "Amazon EC2", D("15.12345679"), D("13.0000000001"), None, D("15.12345679"),
         D("13.0000000001"), None),
        (oct_1, "AWS", "Amazon S3", D("2.5"), D("2.5"), None, D("2.5"), D("2.5"), None),
        (oct_1, "Google Cloud", "Compute Engine", D("7.7777777777"), D("7.7777777777"), None, D("7.7777777777"),
         D("7.7777777777"), None),
        # 20.0000000001 − 15.12345679 = 4.8765432101; ×100 / 15.12345679 = 32.24489796… → 32.2449
        (NOV_1, "AWS", "Amazon EC2", D("20.0000000001"), D("18"), D("15.12345679"), D("4.8765432101"),
         D("4.9999999999"), D("32.2449")),
        # not billed in November: still listed, so the drop shows
        (NOV_1, "AWS", "Amazon S3", D("0"), D("0"), D("2.5"), D("-2.5"), D("-2.5"), D("-100")),
        # −1.1111111111 − 7.7777777777 = −8.8888888888; ×100 / 7.7777777777 = −114.2857…
        (NOV_1, "Google Cloud", "Compute Engine", D("-1.1111111111"), D("-1.1111111111"), D("7.7777777777"),
         D("-8.8888888888"), D("-8.8888888888"), D("-114.2857")),
    ]  # fmt: skip

    quarantine = read(
        url,
        "SELECT charge_date, source_name, quarantine_reason, row_count, source_cost, rows_without_cost "
        "FROM marts.quarantine_summary ORDER BY charge_date",
    )
    assert quarantine.rows() == [
        (OCT_31, "aws", "BilledCost: value is not a valid Decimal", 2, D("3.3"), 1),
        (NOV_1, "aws", "ChargeCategory: value not allowed", 1, D("4.4000000001"), 0),
    ]


def break_daily_cost(url: str) -> None:
    """Swap marts.daily_cost for a view that adds 0.009 to one Oct 31 row and 0.01 to one Nov 1 row."""
    with Warehouse.from_url(url) as wh:
        wh.execute("ALTER VIEW marts.daily_cost RENAME TO daily_cost_built")
        wh.execute(
            "CREATE VIEW marts.daily_cost AS SELECT charge_date, provider_name, billing_account_id, sub_account_id, "
            "sub_account_name, service_category, service_name, charge_category, billing_currency, "
            "billed_cost + CASE WHEN provider_name <> 'Google Cloud' THEN 0 "
            "WHEN charge_date = DATE '2026-10-31' THEN 0.009 ELSE 0.01 END AS billed_cost, "
            "effective_cost, list_cost, contracted_cost, row_count FROM marts.daily_cost_built"
        )


def run_reconciliation_check() -> dg.ExecuteInProcessResult:
    """The daily reconciliation check alone: Dagster runs `dbt test` for it (a build would recreate the
    view the check must catch)."""
    check = dg.AssetCheckKey(dg.AssetKey(["marts", "daily_cost"]), "daily_cost_reconciles_to_focus_costs")
    return dg.materialize(
        [finops_marts],
        resources={"dbt": dbt_resource()},
        selection=dg.AssetSelection.checks(check),
        raise_on_error=False,
    )


def check_and_break(url: str) -> None:
    result = materialize_marts()
    assert result.success
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert materialized == {
        "marts/daily_cost",
        "marts/monthly_cost_by_service",
        "marts/quarantine_summary",
        # over outputs.* tables this warehouse does not have yet: created empty, their tests pass on nothing
        "marts/cost_by_owner_daily",
        "marts/budget_status",
        "marts/finops_kpis",
    }
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {spec.name: True for spec in finops_marts.check_specs}  # every dbt test ran and passed
    assert len(checks) == 34
    assert_marts_match_the_hand_worked_numbers(url)

    break_daily_cost(url)
    result = run_reconciliation_check()
    assert not result.success  # the check is blocking: the run fails
    [evaluation] = result.get_asset_check_evaluations()
    assert (evaluation.check_name, evaluation.passed) == ("daily_cost_reconciles_to_focus_costs", False)
    # Only Nov 1 (off by 0.01) is reported; Oct 31 (off by 0.009) is within the cent.
    assert evaluation.metadata["dagster_dbt/failed_row_count"].value == 1


def test_marts_on_duckdb(duckdb_url):
    write_core(duckdb_url)
    check_and_break(duckdb_url)


def test_marts_on_postgres(dbt_postgres_url):
    write_core(dbt_postgres_url)
    check_and_break(dbt_postgres_url)


# ---- the pure helpers and the wiring ----------------------------------------------------------------


def test_dbt_env_for_a_duckdb_file_is_an_absolute_path(tmp_path, monkeypatch):
    home = tmp_path.resolve()
    assert dbt_env(f"duckdb:///{home}/w.duckdb") == {
        "FINOPS_DBT_TARGET": "duckdb",
        "FINOPS_DUCKDB_PATH": f"{home}/w.duckdb",
    }
    monkeypatch.chdir(home)  # dbt runs in dbt/, so a relative path is resolved from here first
    assert dbt_env("duckdb:///.finops/warehouse.duckdb")["FINOPS_DUCKDB_PATH"] == f"{home}/.finops/warehouse.duckdb"
    with pytest.raises(ValueError, match="in-memory"):
        dbt_env("duckdb:///:memory:")


def test_dbt_env_for_postgres_carries_every_connection_field():
    env = dbt_env("postgresql+psycopg://finops:s3cr%40t@db.internal:6543/warehouse?sslmode=require")
    assert env == {
        "FINOPS_DBT_TARGET": "postgres",
        "FINOPS_PG_HOST": "db.internal",
        "FINOPS_PG_PORT": "6543",
        "FINOPS_PG_USER": "finops",
        "FINOPS_PG_PASSWORD": "s3cr@t",
        "FINOPS_PG_DBNAME": "warehouse",
        "FINOPS_PG_SSLMODE": "require",
    }
    assert "s3cr" not in describe_dbt_env(env)
    assert describe_dbt_env(env) == "postgres finops@db.internal:6543/warehouse"
    assert dbt_env("postgresql+psycopg://postgres@127.0.0.1/test") == {
        "FINOPS_DBT_TARGET": "postgres",
        "FINOPS_PG_HOST": "127.0.0.1",
        "FINOPS_PG_PORT": "5432",
        "FINOPS_PG_USER": "postgres",
        "FINOPS_PG_PASSWORD": "",
        "FINOPS_PG_DBNAME": "test",
    }


def test_dbt_env_rejects_other_backends_without_echoing_the_url():
    with pytest.raises(ValueError) as error:
        dbt_env("mysql://admin:hunter2@host/db")
    assert "hunter2" not in str(error.value)
    with pytest.raises(ValueError) as error:
        dbt_env("not a url with hunter2")
    assert "hunter2" not in str(error.value)


def test_dbt_environ_sets_only_the_given_variables_and_restores_the_rest(monkeypatch):
    monkeypatch.setenv("FINOPS_PG_PASSWORD", "from-the-shell")
    monkeypatch.delenv("FINOPS_DUCKDB_PATH", raising=False)
    with dbt_environ({"FINOPS_DBT_TARGET": "duckdb", "FINOPS_DUCKDB_PATH": "/x.duckdb"}):
        assert os.environ["FINOPS_DUCKDB_PATH"] == "/x.duckdb"
        assert "FINOPS_PG_PASSWORD" not in os.environ
    assert os.environ["FINOPS_PG_PASSWORD"] == "from-the-shell"
    assert "FINOPS_DUCKDB_PATH" not in os.environ


def test_marts_hang_off_the_core_assets_in_one_daily_job():
    from finops_pipeline.definitions import build_definitions

    assert manifest_is_current(project)
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey
    assert graph.get(key(["marts", "daily_cost"])).parent_keys == {key("focus_costs")}
    assert graph.get(key(["marts", "monthly_cost_by_service"])).parent_keys == {key("focus_costs")}
    assert graph.get(key(["marts", "quarantine_summary"])).parent_keys == {key("quarantine")}
    assert graph.get(key(["marts", "cost_by_owner_daily"])).parent_keys == {key("cost_allocation")}
    assert graph.get(key(["marts", "budget_status"])).parent_keys == {key("budget_status")}
    assert {graph.get(k).group_name for k in finops_marts.keys} == {"marts"}
    job = defs.resolve_job_def("daily_refresh")
    assert key(["marts", "daily_cost"]) in job.asset_layer.executable_asset_keys
