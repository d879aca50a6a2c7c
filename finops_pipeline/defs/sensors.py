"""`new_billing_data_sensor`: notices new or rewritten billing data and requests exactly the day partitions of
`daily_refresh_job` it restates.

Export files (every source without a configured API): a new CUR assembly, a new Azure export run, a changed
export file; the request covers the file group's billing period.

APIs (a source whose `ApiSource` setting is in the environment: its asset reads the API and ignores files, so
the sensor watches the API instead). Neither API says which days it rewrote, so the sensor keeps a fingerprint
per usage day of the restatement window and requests the days whose fingerprint changed, one run per
contiguous range of days:
- BigQuery billing export (`gcp_bigquery`): the newest `export_time` and the row count of each day (Google
  restates by exporting rows again with a newer `export_time`), from a query over the window's partitions
  only; skipped while the table's last-modified time is unchanged, so an idle table costs no query.
- Cost Management Query API (`azure_cost_query`): Σ amortized cost of each day (no export-run marker exists).

Cursor: one JSON object. A file group's key `<source>:<billing period or file>` holds its fingerprint; an API's
key (its resource key) holds an `ApiSnapshot`. The sensor's first tick, and the first successful poll of an
API, only record. An API that fails (credentials, network, quota) is logged and skipped for the tick, keeping
its snapshot, so the other sources are still watched.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import dagster as dg

from finops_pipeline.connectors.bigquery import BigQueryBillingExport
from finops_pipeline.connectors.cost_management import AzureCostQuery
from finops_pipeline.defs.schedules import daily_refresh_job, partition_range_tags, restatement_window
from finops_pipeline.defs.sources import SOURCES, BillingSource, FileGroup

# --- Export files ----------------------------------------------------------------------------------------


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


def days_between(first_day: date, last_day: date) -> list[date]:
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]


def _groups(source: BillingSource, today: date):
    store = source.store()
    for group in source.find_files(store, source.prefix(), days_between(*restatement_window(today))):
        yield group, fingerprint(store, group)


# --- APIs ------------------------------------------------------------------------------------------------


class WatchedApi(Protocol):
    """What the sensor asks an API resource (`BigQueryBillingExport`, `AzureCostQuery`)."""

    @property
    def configured(self) -> bool: ...

    def describe(self) -> str: ...

    def data_version(self) -> str | None:
        """Changes whenever the data may have; None when the API has no such marker (then always query)."""
        ...

    def daily_fingerprints(self, first_day: date, last_day: date) -> dict[date, str]:
        """{usage day: a text that changes when the day's billing data does} for the days that have data."""
        ...


@dataclass(frozen=True)
class ApiSnapshot:
    """What the cursor remembers of an API: which data it watched (`describe()`), the data version it saw, and
    the fingerprint of each usage day of the window that had data (ISO day → fingerprint)."""

    watching: str
    data_version: str | None = None
    days: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, value: Any) -> "ApiSnapshot | None":
        if not isinstance(value, dict):
            return None
        return cls(value["watching"], value.get("data_version"), dict(value.get("days") or {}))

    def to_cursor(self) -> dict[str, Any]:
        return {"watching": self.watching, "data_version": self.data_version, "days": dict(sorted(self.days.items()))}


def changed_days(before: Mapping[str, str], after: Mapping[str, str], first_day: date, last_day: date) -> list[date]:
    """Days of `first_day`..`last_day` whose fingerprint differs: new, changed or gone. (A day that left the
    window is not a change.)"""
    return [
        day for day in days_between(first_day, last_day) if before.get(day.isoformat()) != after.get(day.isoformat())
    ]


def contiguous_ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    """(first, last) of each run of consecutive days, in order."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_run_key(api_key: str, first_day: date, last_day: date, before: ApiSnapshot, after: ApiSnapshot) -> str:
    """`<api>:<first>..<last>:<digest>`, the digest of the range's fingerprints before and after: the same
    change gives the same key (Dagster launches it once), a later change of the same days a new one."""
    change = [
        (d.isoformat(), before.days.get(d.isoformat()), after.days.get(d.isoformat()))
        for d in days_between(first_day, last_day)
    ]
    digest = hashlib.sha256(json.dumps([after.watching, change]).encode()).hexdigest()[:16]
    return f"{api_key}:{first_day.isoformat()}..{last_day.isoformat()}:{digest}"


def poll_api(api: WatchedApi, previous: ApiSnapshot | None, first_day: date, last_day: date) -> ApiSnapshot:
    """The API's snapshot of the window. When its data version is the one already seen, the previous
    fingerprints (of the days still in the window) stand and nothing is queried. The version is read before
    the fingerprints, so a write in between shows as a new version on the next poll."""
    watching, version = api.describe(), api.data_version()
    if previous and previous.watching == watching and version is not None and version == previous.data_version:
        in_window = {d: fp for d, fp in previous.days.items() if first_day <= date.fromisoformat(d) <= last_day}
        return ApiSnapshot(watching, version, in_window)
    fingerprints = api.daily_fingerprints(first_day, last_day)
    return ApiSnapshot(watching, version, {day.isoformat(): fp for day, fp in sorted(fingerprints.items())})


def error_summary(error: BaseException) -> str:
    """The error's type and the first line of its message, at most 300 characters: enough to act on, without
    the response bodies and troubleshooting text some client errors carry."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message[:300]}" if message else type(error).__name__


# --- Sensor ----------------------------------------------------------------------------------------------


def _file_changes(context, source: BillingSource, today: date, seen: Mapping[str, Any], first_tick: bool):
    """The cursor entries of the source's file groups, and a request for each new or changed group's period."""
    entries: dict[str, str] = {}
    requests: list[dg.RunRequest] = []
    for group, print_ in _groups(source, today):
        period = group.billing_period_start.isoformat() if group.billing_period_start else group.label
        key = f"{source.name}:{period}"
        entries[key] = print_
        if first_tick or seen.get(key) == print_:
            continue
        first_day, last_day = affected_days(group, today)
        requests.append(dg.RunRequest(run_key=f"{key}:{print_}", tags=partition_range_tags(first_day, last_day)))
        context.log.info(f"{source.name}: {group.label} is new or changed → {first_day} … {last_day}")
    return entries, requests


def _api_changes(context, key: str, api: WatchedApi, today: date, seen: Mapping[str, Any]):
    """The API's cursor entry, and a request for each contiguous range of changed days. Raises what the API
    raises."""
    first_day, last_day = restatement_window(today)
    previous = ApiSnapshot.from_cursor(seen.get(key))
    current = poll_api(api, previous, first_day, last_day)
    if previous is None or previous.watching != current.watching:  # seen for the first time: only record
        context.log.info(f"{key}: now watching {current.watching} ({len(current.days)} day(s) with data)")
        return current.to_cursor(), []
    requests = []
    for range_first, range_last in contiguous_ranges(changed_days(previous.days, current.days, first_day, last_day)):
        requests.append(
            dg.RunRequest(
                run_key=range_run_key(key, range_first, range_last, previous, current),
                tags=partition_range_tags(range_first, range_last),
            )
        )
        context.log.info(f"{key}: {current.watching} changed → {range_first} … {range_last}")
    return current.to_cursor(), requests


@dg.sensor(job=daily_refresh_job, minimum_interval_seconds=15 * 60, default_status=dg.DefaultSensorStatus.STOPPED)
def new_billing_data_sensor(
    context: dg.SensorEvaluationContext, gcp_bigquery: BigQueryBillingExport, azure_cost_query: AzureCostQuery
):
    """Watches each source where its asset reads: the API when its setting is present (and the resource
    configured), else the export files."""
    today = datetime.now(UTC).date()
    seen: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
    first_tick = not context.cursor
    apis: dict[str, WatchedApi] = {"gcp_bigquery": gcp_bigquery, "azure_cost_query": azure_cost_query}
    now_seen: dict[str, Any] = {}
    requests: list[dg.RunRequest] = []
    not_polled: list[str] = []
    for source in SOURCES:
        key = source.api.resource_key if source.api and source.api.is_set() else None
        api = apis.get(key) if key else None
        if key is None or api is None or not api.configured:
            entries, new_requests = _file_changes(context, source, today, seen, first_tick)
            now_seen.update(entries)
            requests += new_requests
            continue
        try:
            now_seen[key], new_requests = _api_changes(context, key, api, today, seen)
        except Exception as error:  # one API failing (credentials, network, quota) must not stop the others
            context.log.warning(f"{key}: not polled this tick ({error_summary(error)}); retried next tick")
            not_polled.append(key)
            if key in seen:
                now_seen[key] = seen[key]
            continue
        requests += new_requests
    context.update_cursor(json.dumps(now_seen, sort_keys=True))
    unpolled = f"; {', '.join(not_polled)} not polled (see the tick's log)" if not_polled else ""
    if first_tick:
        return dg.SkipReason(f"first tick: now watching {len(now_seen)} billing period(s) and API(s){unpolled}")
    return requests or dg.SkipReason(f"no new or changed billing data{unpolled}")
