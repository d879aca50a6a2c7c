"""The sensor requests exactly the restated billing period when AWS writes a new CUR assembly."""

import json
import shutil
from datetime import UTC, date, datetime

import dagster as dg

from finops_pipeline.defs.sensors import affected_days, new_billing_data_sensor
from finops_pipeline.defs.sources import FileGroup, source_resources
from finops_pipeline.demo import generate_demo
from finops_pipeline_tests.defs.pipeline_run import use_home


def test_affected_days_are_the_billing_period_up_to_today():
    november = FileGroup("x", ("k",), date(2026, 11, 1))
    assert affected_days(november, date(2026, 11, 23)) == (date(2026, 11, 1), date(2026, 11, 23))
    assert affected_days(FileGroup("x", ("k",), date(2026, 10, 1)), date(2026, 11, 23)) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert affected_days(FileGroup("x", ("k",), date(2024, 2, 1)), date(2026, 1, 5)) == (
        date(2024, 2, 1),
        date(2024, 2, 29),
    )
    undated = FileGroup("export.csv", ("export.csv",))
    assert affected_days(undated, date(2026, 11, 23)) == (date(2026, 10, 1), date(2026, 11, 23))


def _context(instance, cursor=None):
    """The sensor's context with its resources as the definitions give them (here: no API configured)."""
    resources = source_resources()
    return dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={key: resources[key] for key in ("gcp_bigquery", "azure_cost_query")},
    )


def test_a_new_assembly_requests_its_billing_period_only(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path)
    for setting in ("FINOPS_GCP_BIGQUERY_TABLE", "FINOPS_AZURE_COST_SCOPE"):  # files, not APIs
        monkeypatch.delenv(setting, raising=False)
    today = datetime.now(UTC).date()
    generate_demo(tmp_path / "demo", end_date=today, days=60, seed=7)
    instance = dg.DagsterInstance.ephemeral()

    context = _context(instance)
    first = new_billing_data_sensor(context)
    assert isinstance(first, dg.SkipReason) and "now watching" in first.skip_message
    cursor = context.cursor
    assert {key.split(":")[0] for key in json.loads(cursor)} >= {"aws"}

    unchanged = new_billing_data_sensor(_context(instance, cursor))
    assert isinstance(unchanged, dg.SkipReason)

    # AWS writes a new assembly of the current month and points the period's root manifest at it.
    period_dir = next((tmp_path / "demo" / "aws" / "cur" / "finops-demo").glob(f"{today:%Y%m}01-*"))
    manifest_path = period_dir / "finops-demo-Manifest.json"
    manifest = json.loads(manifest_path.read_text())
    old_folder = manifest["assemblyId"]
    shutil.copytree(period_dir / old_folder, period_dir / "new-assembly")
    manifest["assemblyId"] = "new-assembly"
    manifest["reportKeys"] = [key.replace(old_folder, "new-assembly") for key in manifest["reportKeys"]]
    manifest_path.write_text(json.dumps(manifest))

    requests = new_billing_data_sensor(_context(instance, cursor))
    assert [r.tags["dagster/asset_partition_range_start"] for r in requests] == [today.replace(day=1).isoformat()]
    assert [r.tags["dagster/asset_partition_range_end"] for r in requests] == [today.isoformat()]
    assert requests[0].run_key.startswith(f"aws:{today.replace(day=1).isoformat()}:")
