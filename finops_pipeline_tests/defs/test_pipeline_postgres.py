"""The same pipeline on the real Postgres warehouse, on a Dagster instance loaded from the production
dagster.yaml: runs and events must land in Postgres (dagster-postgres), not in SQLite."""

import shutil

import dagster as dg
import sqlalchemy as sa

from finops_pipeline.defs.sources import SOURCES
from finops_pipeline.demo import generate_demo
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.defs.pipeline_run import DEMO_END, FIRST_DAY, expected_unblended_by_day, run, use_home
from finops_pipeline_tests.paths import REPO_ROOT

PIPELINE_TABLES = (
    *(source.staging_table for source in SOURCES),
    "ops.source_totals",
    "core.focus_costs",
    "core.quarantine",
    "core.k8s_usage",
)


def _use_production_dagster_yaml(monkeypatch, dagster_home, postgres_url: str) -> None:
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    url = sa.make_url(postgres_url)
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_DB", url.database)
    monkeypatch.setenv("DAGSTER_PG_USER", url.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "trust-auth-ignores-this")


def test_pipeline_on_postgres_with_the_production_instance(tmp_path, monkeypatch, postgres_url):
    use_home(monkeypatch, tmp_path, warehouse_url=postgres_url)
    _use_production_dagster_yaml(monkeypatch, tmp_path / "dagster", postgres_url)
    with Warehouse.from_url(postgres_url) as wh:
        wh.ensure_schemas()
        for table in PIPELINE_TABLES:
            wh.execute(f"DROP TABLE IF EXISTS {table} CASCADE")  # and the marts views on it
    generate_demo(tmp_path / "demo", end_date=DEMO_END, days=90, seed=7)

    result = run(whole_job=True, instance=dg.DagsterInstance.get())
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    expected = expected_unblended_by_day(tmp_path / "demo" / "aws", FIRST_DAY, DEMO_END)
    with Warehouse.from_url(postgres_url) as wh:
        totals = wh.read_frame(
            'SELECT "x_ChargeDay" AS day, SUM("BilledCost") AS billed FROM core.focus_costs '
            "WHERE \"x_SourceName\" = 'aws' GROUP BY 1 ORDER BY 1"
        )
    assert dict(zip(totals["day"], totals["billed"], strict=True)) == expected

    instance = dg.DagsterInstance.get()  # loaded from the production dagster.yaml
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        runs = connection.execute(sa.text("SELECT COUNT(*) FROM runs WHERE run_id = :r"), {"r": result.run_id})
        events = connection.execute(
            sa.text(
                "SELECT asset_key, COUNT(*) FROM event_logs WHERE run_id = :r "
                "AND dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key"
            ),
            {"r": result.run_id},
        )
        materialisations = {dg.AssetKey.from_db_string(key).to_user_string(): n for key, n in events}
        assert runs.scalar() == 1
    # one materialisation per day partition of every asset in the daily job
    assert materialisations == {
        key: 30
        for key in (
            "aws_billing",
            "azure_billing",
            "gcp_billing",
            "focus_export_billing",
            "k8s_usage",
            "focus_costs",
            "quarantine",
            "cost_allocation",
            "budget_status",
            "finops_kpis",
            "marts/daily_cost",
            "marts/cost_by_owner_daily",
            "marts/budget_status",
            "marts/finops_kpis",
            "marts/monthly_cost_by_service",
            "marts/quarantine_summary",
        )
    }
    engine.dispose()
