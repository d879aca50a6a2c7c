"""The days a run covers: one partition, or a range when a backfill runs as a single run."""

from datetime import date, timedelta

import dagster as dg


def days_in_run(context: dg.AssetExecutionContext) -> list[date]:
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()  # end is exclusive
    return [start + timedelta(days=i) for i in range((end - start).days)]
