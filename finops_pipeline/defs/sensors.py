"""`new_billing_data_sensor`: notices a new or rewritten export (a new CUR assembly, a new Azure export run,
a changed export file) and requests exactly the day partitions of the billing period it restates."""

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from finops_pipeline.defs.schedules import daily_refresh_job, partition_range_tags, restatement_window
from finops_pipeline.defs.sources import SOURCES, BillingSource, FileGroup


def affected_days(group: FileGroup, today: date) -> tuple[date, date]:
    """The billing period of the group, up to today; the restatement window when the period is unknown."""
    if group.billing_period_start is None:
        return restatement_window(today)
    start = group.billing_period_start
    next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, min(next_month - timedelta(days=1), today)


def fingerprint(store, group: FileGroup) -> str:
    """Changes when the group's files, or any file's modification time, change."""
    stamps = sorted(f"{key}@{store.last_modified(key).isoformat()}" for key in group.keys)
    return hashlib.sha256("\n".join([group.label, *stamps]).encode()).hexdigest()[:16]


def _groups(source: BillingSource, today: date):
    store = source.store()
    first, last = restatement_window(today)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for group in source.find_files(store, source.prefix(), days):
        yield group, fingerprint(store, group)


@dg.sensor(job=daily_refresh_job, minimum_interval_seconds=15 * 60, default_status=dg.DefaultSensorStatus.STOPPED)
def new_billing_data_sensor(context: dg.SensorEvaluationContext):
    today = datetime.now(UTC).date()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    first_tick = not context.cursor
    now_seen, requests = {}, []
    for source in SOURCES:
        for group, print_ in _groups(source, today):
            period = group.billing_period_start.isoformat() if group.billing_period_start else group.label
            key = f"{source.name}:{period}"
            now_seen[key] = print_
            if first_tick or seen.get(key) == print_:
                continue
            first_day, last_day = affected_days(group, today)
            requests.append(
                dg.RunRequest(
                    run_key=f"{key}:{print_}",
                    tags=partition_range_tags(first_day, last_day),
                )
            )
            context.log.info(f"{source.name}: {group.label} is new or changed → {first_day} … {last_day}")
    context.update_cursor(json.dumps(now_seen, sort_keys=True))
    if first_tick:
        return dg.SkipReason(f"first tick: now watching {len(now_seen)} billing period(s)")
    return requests or dg.SkipReason("no new or changed export")
