"""Freshness: each source's newest day partition must be materialised by 09:00 UTC (the daily job runs at
06:00), evaluated by a sensor so a silent stall shows up as a failed check in the UI.

Why time-partition freshness checks and not Dagster's newer `FreshnessPolicy`: the policy judges an asset
by its last materialisation of *any* partition, so backfilling last month from the UI would make a source
that stopped delivering yesterday look fresh (dagster-io/dagster discussion #34023). The checks ask the
question a daily bill needs: is the newest day's partition there by 09:00? Dagster marks them superseded (no
removal version), so only that warning is silenced here.
"""

import warnings

import dagster as dg

from finops_pipeline.defs.kubernetes import k8s_usage
from finops_pipeline.defs.sources import source_assets

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    freshness_checks = dg.build_time_partition_freshness_checks(
        assets=[*source_assets, k8s_usage], deadline_cron="0 9 * * *", timezone="UTC"
    )
    freshness_sensor = dg.build_sensor_for_freshness_checks(freshness_checks=freshness_checks)
