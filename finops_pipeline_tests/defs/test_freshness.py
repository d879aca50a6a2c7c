"""The freshness checks judge the newest day partition, not the newest materialisation: a backfill of an old
day does not make a source that stopped delivering look fresh (what Dagster's FreshnessPolicy would say)."""

from datetime import UTC, datetime

import dagster as dg
from dagster._core.test_utils import freeze_time  # Dagster's own clock switch; the checks read its clock

from finops_pipeline.defs.freshness import freshness_checks
from finops_pipeline.defs.kubernetes import k8s_usage
from finops_pipeline.defs.resources import WarehouseResource

# After the 09:00 deadline the newest partition, today's (daily partitions end a day ahead: exports carry
# today's usage so far, and the 06:00 run loads it), is due.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _k8s_usage_is_fresh(instance: dg.DagsterInstance) -> bool:
    """Runs only the freshness check (k8s_usage itself is not materialised: its warehouse is never opened)."""
    result = dg.materialize(
        [k8s_usage, *freshness_checks],
        instance=instance,
        resources={"warehouse": WarehouseResource(url="duckdb:///unused.duckdb")},
        selection=dg.AssetSelection.checks_for_assets(k8s_usage),
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_key == k8s_usage.key
    return evaluation.passed


def test_a_backfilled_old_day_is_not_fresh_today_is():
    with dg.instance_for_test() as instance, freeze_time(NOW):
        assert not _k8s_usage_is_fresh(instance)  # never materialised
        instance.report_runless_asset_event(dg.AssetMaterialization(k8s_usage.key, partition="2026-10-05"))
        assert not _k8s_usage_is_fresh(instance)  # the newest materialisation is a backfill of October
        instance.report_runless_asset_event(dg.AssetMaterialization(k8s_usage.key, partition="2026-11-23"))
        assert not _k8s_usage_is_fresh(instance)  # yesterday is not enough after 09:00
        instance.report_runless_asset_event(dg.AssetMaterialization(k8s_usage.key, partition="2026-11-24"))
        assert _k8s_usage_is_fresh(instance)


def test_before_the_deadline_yesterday_is_enough():
    with dg.instance_for_test() as instance, freeze_time(datetime(2026, 11, 24, 8, 59, tzinfo=UTC)):
        instance.report_runless_asset_event(dg.AssetMaterialization(k8s_usage.key, partition="2026-11-22"))
        assert not _k8s_usage_is_fresh(instance)
        instance.report_runless_asset_event(dg.AssetMaterialization(k8s_usage.key, partition="2026-11-23"))
        assert _k8s_usage_is_fresh(instance)
