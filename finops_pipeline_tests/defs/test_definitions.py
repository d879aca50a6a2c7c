"""The one entry point loads every asset, check, job and schedule; the schedule restates two months."""

from datetime import UTC, date, datetime

import dagster as dg

from finops_pipeline.definitions import defs
from finops_pipeline.defs.schedules import daily_refresh_schedule, restatement_window


def test_definitions_load_with_blocking_money_checks():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} >= {"aws_billing", "focus_costs", "quarantine"}
    focus_checks = {
        key.name: graph.get_check_spec(key)
        for key in graph.asset_check_keys
        if key.asset_key.path == ["focus_costs"] and key.name != "great_expectations"
    }
    assert set(focus_checks) == {
        "reconciles_to_source",
        "allowed_values",
        "mandatory_columns_not_null",
        "charge_period_start_before_end",
    }
    assert all(spec.blocking for spec in focus_checks.values())
    freshness = {key.asset_key.to_user_string() for key in graph.asset_check_keys if key.name == "freshness_check"}
    gx = {key.asset_key.to_user_string() for key in graph.asset_check_keys if key.name == "great_expectations"}
    assert gx == {"focus_costs", "quarantine", "k8s_usage", "cost_allocation", "budget_status"}
    assert freshness == {"aws_billing", "azure_billing", "gcp_billing", "focus_export_billing", "k8s_usage"}
    assert defs.resolve_job_def("daily_refresh") is not None


def test_restatement_window_covers_the_previous_and_current_billing_month():
    assert restatement_window(date(2026, 11, 23)) == (date(2026, 10, 1), date(2026, 11, 23))
    assert restatement_window(date(2026, 1, 1)) == (date(2025, 12, 1), date(2026, 1, 1))
    assert restatement_window(date(2024, 3, 31)) == (date(2024, 2, 1), date(2024, 3, 31))


def test_schedule_requests_one_run_over_the_restatement_range():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 23, 6, tzinfo=UTC))
    request = daily_refresh_schedule(context)
    assert request.tags["dagster/asset_partition_range_start"] == "2026-10-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-23"
    assert request.run_key == "daily-2026-11-23"
