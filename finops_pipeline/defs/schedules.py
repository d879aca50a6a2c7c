"""The daily job: ingest yesterday and today, and restate the current and previous billing month."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from finops_pipeline.defs.freshness import freshness_checks

daily_refresh_job = dg.define_asset_job(
    "daily_refresh",
    # Freshness checks are the sensor's job: run inside the refresh they would judge the run itself.
    # Monthly statements have their own job (a run has one partitions definition).
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.checks(*freshness_checks)
    - dg.AssetSelection.assets("chargeback_statements"),
    description="Every asset for a range of days, in one run (each billing period read once).",
)


def restatement_window(today: date) -> tuple[date, date]:
    """From the first day of the previous month to today: providers rewrite both months until invoiced."""
    previous_month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return previous_month_start, today


def partition_range_tags(first_day: date, last_day: date) -> dict[str, str]:
    return {
        ASSET_PARTITION_RANGE_START_TAG: first_day.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last_day.isoformat(),
    }


@dg.schedule(job=daily_refresh_job, cron_schedule="0 6 * * *", execution_timezone="UTC")
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = (context.scheduled_execution_time or datetime.now(UTC)).date()
    first_day, last_day = restatement_window(today)
    return dg.RunRequest(run_key=f"daily-{today.isoformat()}", tags=partition_range_tags(first_day, last_day))
