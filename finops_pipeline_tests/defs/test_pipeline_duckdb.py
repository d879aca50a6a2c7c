"""The whole pipeline through Dagster on the embedded default (DuckDB), on the demo organisation."""

import gzip
import json
import shutil
from decimal import Decimal

import polars as pl
import pytest

from finops_pipeline.demo import generate_demo
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.defs.pipeline_run import (
    DEMO_END,
    FIRST_DAY,
    current_report_files,
    expected_unblended_by_day,
    read_cur_csv,
    run,
    use_home,
)


@pytest.fixture
def demo_home(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path)
    generate_demo(tmp_path / "demo", end_date=DEMO_END, days=90, seed=7)
    return tmp_path


def _focus_totals(home) -> pl.DataFrame:
    with Warehouse.from_url(f"duckdb:///{home / 'warehouse.duckdb'}") as wh:
        return wh.read_frame(
            'SELECT "x_ChargeDay" AS day, COUNT(*) AS n, SUM("BilledCost") AS billed, '
            'SUM("EffectiveCost") AS effective FROM core.focus_costs '
            "WHERE \"x_SourceName\" = 'aws' GROUP BY 1 ORDER BY 1"
        )


def test_demo_run_reconciles_to_the_generated_cur_to_the_cent_and_reruns_idempotently(demo_home):
    result = run(whole_job=True)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    focus_checks = {c.check_name: c.passed for c in evaluations if c.asset_key.to_user_string() == "focus_costs"}
    assert focus_checks == {
        "reconciles_to_source": True,
        "allowed_values": True,
        "mandatory_columns_not_null": True,
        "charge_period_start_before_end": True,
        "great_expectations": True,
    }
    assert all(c.passed for c in evaluations)  # the dbt tests on the marts too

    expected = expected_unblended_by_day(demo_home / "demo" / "aws", FIRST_DAY, DEMO_END)
    first = _focus_totals(demo_home)
    assert first["day"].to_list() == sorted(expected)  # 30 days, each present
    assert dict(zip(first["day"], first["billed"], strict=True)) == expected
    assert sum(first["billed"]) == sum(expected.values())

    assert run().success  # a rerun of the same days
    assert _focus_totals(demo_home).equals(first)


def test_a_restated_month_replaces_the_old_rows_and_the_newest_assembly_wins(demo_home):
    assert run().success
    aws_root = demo_home / "demo" / "aws"
    current = current_report_files(aws_root)[-1]  # November's current assembly
    period_dir = current.parents[1]
    # AWS writes a new assembly: here every EC2 cost of the month doubled; the root manifest moves to it.
    restated = read_cur_csv(current).with_columns(
        pl.when(pl.col("lineItem/ProductCode") == "AmazonEC2")
        .then((pl.col("lineItem/UnblendedCost").cast(pl.Decimal(38, 10)) * 2).cast(pl.String))
        .otherwise(pl.col("lineItem/UnblendedCost"))
        .alias("lineItem/UnblendedCost")
    )
    new_assembly = period_dir / "restated-assembly"
    new_assembly.mkdir()
    with gzip.open(new_assembly / "finops-demo-1.csv.gz", "wb") as f:
        restated.write_csv(f)
    manifest_path = period_dir / "finops-demo-Manifest.json"
    manifest = json.loads(manifest_path.read_text())
    old_key = manifest["reportKeys"][0]
    manifest["assemblyId"] = "restated-assembly"
    manifest["reportKeys"] = [old_key.rsplit("/", 2)[0] + "/restated-assembly/finops-demo-1.csv.gz"]
    manifest_path.write_text(json.dumps(manifest))

    assert run().success
    expected = expected_unblended_by_day(aws_root, FIRST_DAY, DEMO_END)
    totals = _focus_totals(demo_home)
    assert dict(zip(totals["day"], totals["billed"], strict=True)) == expected
    with Warehouse.from_url(f"duckdb:///{demo_home / 'warehouse.duckdb'}") as wh:
        files = wh.read_frame(
            'SELECT DISTINCT "x_SourceFile" AS f FROM core.focus_costs WHERE "x_ChargeDay" >= :d '
            "AND \"x_SourceName\" = 'aws'",
            {"d": DEMO_END.replace(day=1)},
        )
    assert [f.endswith("restated-assembly/finops-demo-1.csv.gz") for f in files["f"]] == [True]


def test_bad_rows_are_quarantined_with_file_row_and_reason_and_the_money_still_reconciles(demo_home):
    current = current_report_files(demo_home / "demo" / "aws")[-1]
    frame = read_cur_csv(current)
    day_rows = frame.with_row_index("i").filter(pl.col("lineItem/UsageStartDate").str.starts_with(str(DEMO_END)))
    bad_cost_row, bad_type_row = int(day_rows["i"][0]), int(day_rows["i"][1])
    unknown_type_cost = Decimal(frame["lineItem/UnblendedCost"][bad_type_row])
    broken = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == bad_cost_row)
        .then(pl.lit("12,50 USD"))
        .otherwise(pl.col("lineItem/UnblendedCost"))
        .alias("lineItem/UnblendedCost"),
        pl.when(pl.int_range(pl.len()) == bad_type_row)
        .then(pl.lit("MysteryCharge"))
        .otherwise(pl.col("lineItem/LineItemType"))
        .alias("lineItem/LineItemType"),
    )
    with gzip.open(current, "wb") as f:
        broken.write_csv(f)

    result = run(DEMO_END, DEMO_END)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    with Warehouse.from_url(f"duckdb:///{demo_home / 'warehouse.duckdb'}") as wh:
        quarantined = wh.read_table("core.quarantine").sort("x_SourceRowNumber")
    assert quarantined["x_SourceRowNumber"].to_list() == [bad_cost_row + 1, bad_type_row + 1]
    assert all(str(current) in f for f in quarantined["x_SourceFile"])
    reasons = quarantined["x_QuarantineReason"].to_list()
    assert "lineItem/UnblendedCost" in reasons[0] or "line_item_unblended_cost" in reasons[0]
    assert "12,50 USD" in reasons[0]
    assert "MysteryCharge" in reasons[1]
    assert quarantined["x_SourceCost"].to_list() == [None, unknown_type_cost]


def test_a_truncated_export_fails_the_run_naming_the_file(demo_home):
    current = current_report_files(demo_home / "demo" / "aws")[-1]
    data = current.read_bytes()
    current.write_bytes(data[: len(data) // 2])
    result = run(DEMO_END, DEMO_END)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert str(current) in str(failure.event_specific_data.error)


def test_finops_demo_command_prints_the_summary(tmp_path, monkeypatch, capsys):
    from finops_pipeline import cli

    use_home(monkeypatch, tmp_path)
    assert cli.main(["demo", "--days", "3"]) == 0
    out = capsys.readouterr().out
    assert "core.focus_costs by provider and billing period" in out
    assert "ok   focus_costs:reconciles_to_source" in out
    assert " 0 failed" in out
    assert str(tmp_path / "warehouse.duckdb") in out
    assert "uv run finops ui" in out
    docs = tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert f"Data Docs): {docs}" in out and docs.exists()
    # who spent what, what they are charged, where budgets stand (the demo's settings files were installed)
    assert "EffectiveCost by team and method" in out and "kubernetes_idle" in out
    assert "outputs.chargeback_statements" in out and "payments     chargeback" in out
    assert "outputs.budget_status on" in out and "outputs.finops_kpis" in out
    assert "ok   cost_allocation:conserves_cost" in out
    assert (tmp_path / "config" / "allocation_rules.yaml").is_file()
    # dbt's own log lines go to the log file, not into the summary
    assert "Running with dbt=" not in out
    assert "Running with dbt=" in (tmp_path / "logs" / "pipeline-stdout.log").read_text()
    shutil.rmtree(tmp_path / "demo")
