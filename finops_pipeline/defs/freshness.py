"""Freshness: each source's newest day partition must be materialised by 09:00 UTC (the daily job runs at
06:00), evaluated by a sensor so a silent stall shows up as a failed check in the UI."""

import dagster as dg

from finops_pipeline.defs.kubernetes import k8s_usage
from finops_pipeline.defs.sources import source_assets

freshness_checks = dg.build_time_partition_freshness_checks(
    assets=[*source_assets, k8s_usage], deadline_cron="0 9 * * *", timezone="UTC"
)
freshness_sensor = dg.build_sensor_for_freshness_checks(freshness_checks=freshness_checks)
