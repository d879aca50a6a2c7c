"""`new_billing_data_sensor` watching the BigQuery billing export and the Cost Management Query API.

The sensor is evaluated by Dagster (`build_sensor_context` with the resources it declares). The resources are
the production ones, built from their environment variables by `source_resources()`; only `make_client` is
overridden to build the same library client over recorded HTTP, as `test_api_source_assets.py` does: a
requests session under `bigquery.Client` (`RecordedBigQuery` of `sources/gcp/test_bigquery.py`) and an
azure-core transport under `CostManagementClient` (`RecordedTransport` of `sources/azure/test_query.py`).
The recorded answers are written for days of the current restatement window, since the sensor watches the
window around today.
"""

import json
import os
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest
from azure.mgmt.costmanagement import CostManagementClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from finops_pipeline.connectors.bigquery import BigQueryBillingExport, daily_fingerprint_query
from finops_pipeline.connectors.cost_management import AzureCostQuery, daily_cost_fingerprints
from finops_pipeline.defs.schedules import partition_range_tags, restatement_window
from finops_pipeline.defs.sensors import changed_days, contiguous_ranges, new_billing_data_sensor
from finops_pipeline.defs.sources import SOURCES, source_resources
from finops_pipeline_tests.defs.pipeline_run import use_home
from finops_pipeline_tests.sources.azure import test_query as azure_recorded
from finops_pipeline_tests.sources.gcp.test_bigquery import RECORDED, TABLE, RecordedBigQuery

TABLE_PATH = "/bigquery/v2/projects/finops-host/datasets/billing/tables/" + TABLE.rsplit(".", 1)[1]
WATCHING_GCP = f"bigquery://{TABLE}"
WATCHING_AZURE = f"costmanagement-query:{azure_recorded.SCOPE}"
QUERY_ENDPOINT = f"{azure_recorded.QUERY_URL}?api-version=2025-03-01"


@pytest.fixture
def today(tmp_path, monkeypatch) -> date:
    """A home without any export file or API setting; the day the sensor will take as today."""
    use_home(monkeypatch, tmp_path)
    for source in SOURCES:
        monkeypatch.delenv(f"FINOPS_{source.name.upper()}_BUCKET", raising=False)
        monkeypatch.delenv(f"FINOPS_{source.name.upper()}_DIR", raising=False)
        monkeypatch.delenv(f"FINOPS_{source.name.upper()}_PREFIX", raising=False)
    for name in (
        "FINOPS_GCP_BIGQUERY_TABLE",
        "FINOPS_GCP_PROJECT",
        "FINOPS_GCP_BIGQUERY_LOCATION",
        "FINOPS_GCP_BIGQUERY_PARTITION_MARGIN_DAYS",
        "FINOPS_AZURE_COST_SCOPE",
        "FINOPS_AZURE_BILLING_ACCOUNT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    return datetime.now(UTC).date()


def _recorded_resource(resource_key: str, make_client, **fields):
    """The production resource of `resource_key` (same fields, EnvVars included, unless given in `fields`)
    whose `make_client` is `make_client`."""
    resource = source_resources()[resource_key]
    recorded = type(f"Recorded{type(resource).__name__}", (type(resource),), {"make_client": make_client})
    return recorded(**{name: getattr(resource, name) for name in type(resource).model_fields} | fields)


def _gcp(session: RecordedBigQuery, **fields) -> BigQueryBillingExport:
    def make_client(self, project, location):
        return bigquery.Client(project=project, location=location, credentials=AnonymousCredentials(), _http=session)

    return _recorded_resource("gcp_bigquery", make_client, **fields)


def _azure(transport, **fields) -> AzureCostQuery:
    def make_client(self):
        return CostManagementClient(azure_recorded.FakeCredential(), transport=transport)

    return _recorded_resource("azure_cost_query", make_client, **fields)


def _tick(cursor: str | None, *, gcp=None, azure=None):
    """One evaluation of the sensor → (its result, the cursor it leaves)."""
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources={
            "gcp_bigquery": gcp if gcp is not None else source_resources()["gcp_bigquery"],
            "azure_cost_query": azure if azure is not None else source_resources()["azure_cost_query"],
        },
    )
    return new_billing_data_sensor(context), context.cursor


def _ranges(result) -> list[tuple[str, str]]:
    assert isinstance(result, list), result
    return [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in result
    ]


# --- BigQuery --------------------------------------------------------------------------------------------


def _micros(moment: datetime) -> str:
    return str(int(moment.timestamp()) * 1_000_000)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def _table_resource(modified: datetime) -> str:
    """tables.get of the detailed export table as BigQuery answers it (schema as recorded for the query)."""
    project, dataset, table_id = TABLE.split(".")
    schema = json.loads((RECORDED / "bigquery_query_results_schema.json").read_text())["schema"]
    return json.dumps(
        {
            "kind": "bigquery#table",
            "etag": "b0oV3Jx1Yc4mA7VQfS2h6w==",
            "id": f"{project}:{dataset}.{table_id}",
            "selfLink": f"https://bigquery.googleapis.com/bigquery/v2{TABLE_PATH}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table_id},
            "schema": schema,
            "timePartitioning": {"type": "DAY"},
            "numBytes": "98422853214",
            "numLongTermBytes": "61230442017",
            "numRows": "182733209",
            "creationTime": "1577836800000",
            "lastModifiedTime": str(int(modified.timestamp() * 1000)),
            "type": "TABLE",
            "location": "US",
            "numTotalLogicalBytes": "98422853214",
            "numActiveLogicalBytes": "37192411197",
            "numLongTermLogicalBytes": "61230442017",
        }
    )


class RecordedExportTable(RecordedBigQuery):
    """BigQuery answering as the billing export table would: tables.get with last-modified `modified`, and the
    daily fingerprint query's job with a row per day of `days` ({usage day: (newest export_time, row count)}).
    Jobs are the recorded jobs.insert / jobs.get of `sources/gcp/recorded`."""

    def __init__(self, modified: datetime, days: dict[date, tuple[datetime, int]]):
        super().__init__()
        self.modified, self.days = modified, days

    def answer(self, method, path, query, body):
        base = "/bigquery/v2/projects/finops-host"
        if method == "GET" and path == TABLE_PATH:
            return 200, _table_resource(self.modified)
        if method == "POST" and path == f"{base}/jobs":
            self.job_id = body["jobReference"]["jobId"]
            return 200, self._job("jobs_insert", body["configuration"]["query"]["query"])
        if method == "GET" and path == f"{base}/jobs/{self.job_id}":
            return 200, self._job("jobs_get")
        if method == "GET" and path == f"{base}/queries/{self.job_id}":
            return 200, self._query_results(with_rows=query.get("maxResults") != "0")
        return 404, json.dumps({"error": {"code": 404, "message": f"Not found: {path}", "errors": []}})

    def _job(self, name: str, sql: str = "") -> str:
        text = (RECORDED / f"bigquery_{name}.json").read_text()
        return text.replace("{job_id}", self.job_id).replace('"{query}"', json.dumps(sql))

    def _query_results(self, *, with_rows: bool) -> str:
        rows = [
            {"f": [{"v": day.isoformat()}, {"v": _micros(exported)}, {"v": str(count)}]}
            for day, (exported, count) in sorted(self.days.items())
        ]
        return json.dumps(
            {
                "kind": "bigquery#getQueryResultsResponse",
                "etag": "x1Qm2Zf0RrGg4p0j9y5r3w==",
                "schema": {
                    "fields": [
                        {"name": "usage_day", "type": "DATE", "mode": "NULLABLE"},
                        {"name": "last_export_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
                        {"name": "row_count", "type": "INTEGER", "mode": "NULLABLE"},
                    ]
                },
                "jobReference": {"projectId": "finops-host", "jobId": self.job_id, "location": "US"},
                "totalRows": str(len(rows)),
                **({"rows": rows} if with_rows else {}),
                "totalBytesProcessed": "1073741824",
                "jobComplete": True,
                "cacheHit": False,
            }
        )

    def jobs_inserted(self) -> list[dict]:
        return [body for method, path, _, body in self.sent if method == "POST" and path.endswith("/jobs")]


def test_bigquery_days_exported_again_are_requested_as_contiguous_ranges(today, monkeypatch):
    monkeypatch.setenv("FINOPS_GCP_BIGQUERY_TABLE", TABLE)
    first, last = restatement_window(today)
    day_1, day_2, day_3 = first, first + timedelta(days=1), first + timedelta(days=2)
    exported = {day_1: (_at(day_1 + timedelta(days=1), 4, 12), 1200), day_2: (_at(day_2 + timedelta(days=1), 4), 980)}
    exported[day_3] = (_at(day_3 + timedelta(days=1), 5, 30), 1010)

    # First tick: records the fingerprints of the window's days, requests nothing.
    session = RecordedExportTable(_at(today, 1), exported)
    first_tick, cursor = _tick(None, gcp=_gcp(session))
    assert isinstance(first_tick, dg.SkipReason) and "first tick" in first_tick.skip_message
    assert json.loads(cursor)["gcp_bigquery"] == {
        "watching": WATCHING_GCP,
        "data_version": _at(today, 1).isoformat(),
        "days": {
            day_1.isoformat(): f"1200 rows, last exported {_at(day_1 + timedelta(days=1), 4, 12).isoformat()}",
            day_2.isoformat(): f"980 rows, last exported {_at(day_2 + timedelta(days=1), 4).isoformat()}",
            day_3.isoformat(): f"1010 rows, last exported {_at(day_3 + timedelta(days=1), 5, 30).isoformat()}",
        },
    }
    # The table's metadata, then one query over the window's partitions (3 days' margin, end exclusive).
    assert session.sent[0][:2] == ("GET", TABLE_PATH)
    (job,) = session.jobs_inserted()
    sql, params = daily_fingerprint_query(TABLE, first, last)
    assert job["configuration"]["query"]["query"] == sql
    assert job["configuration"]["query"]["queryParameters"] == [p.to_api_repr() for p in params]
    assert [p.value for p in params] == [
        _at(first - timedelta(days=3), 0),
        _at(last + timedelta(days=4), 0),
        first,
        last,
    ]

    # The table was not modified: its metadata is read, no query runs, nothing is requested.
    idle = RecordedExportTable(_at(today, 1), exported)
    unchanged, cursor_after_idle = _tick(cursor, gcp=_gcp(idle))
    assert isinstance(unchanged, dg.SkipReason) and unchanged.skip_message == "no new or changed billing data"
    assert [(method, path) for method, path, _, _ in idle.sent] == [("GET", TABLE_PATH)]
    assert cursor_after_idle == cursor

    # Google restates days 2 and 3 (newer export_time; day 3 gains two rows) and today's usage arrives.
    restated = {
        day_1: exported[day_1],
        day_2: (_at(today, 3), 980),
        day_3: (_at(today, 3), 1012),
        today: (_at(today, 3), 17),
    }
    result, cursor_after = _tick(cursor, gcp=_gcp(RecordedExportTable(_at(today, 3, 5), restated)))
    assert _ranges(result) == [(day_2.isoformat(), day_3.isoformat()), (today.isoformat(), today.isoformat())]
    assert [r.tags for r in result] == [partition_range_tags(day_2, day_3), partition_range_tags(today, today)]
    assert [r.run_key.rsplit(":", 1)[0] for r in result] == [
        f"gcp_bigquery:{day_2}..{day_3}",
        f"gcp_bigquery:{today}..{today}",
    ]
    # The same change evaluated again asks for the same runs (Dagster launches a run key once).
    again, _ = _tick(cursor, gcp=_gcp(RecordedExportTable(_at(today, 3, 5), restated)))
    assert [r.run_key for r in again] == [r.run_key for r in result]

    # The table changed (say, its description) but no day did: one query, nothing requested.
    relabelled = RecordedExportTable(_at(today, 4), restated)
    metadata_only, _ = _tick(cursor_after, gcp=_gcp(relabelled))
    assert isinstance(metadata_only, dg.SkipReason)
    assert len(relabelled.jobs_inserted()) == 1


def test_the_fingerprint_query_reads_two_columns_of_the_windows_partitions():
    sql, params = daily_fingerprint_query(TABLE, date(2026, 10, 1), date(2026, 11, 23), partition_margin_days=2)
    assert sql == (
        "SELECT\n"
        "  DATE(usage_start_time) AS usage_day,\n"
        "  MAX(export_time) AS last_export_time,\n"
        "  COUNT(*) AS row_count\n"
        f"FROM `{TABLE}`\n"
        "WHERE _PARTITIONTIME >= @partition_start\n"
        "  AND _PARTITIONTIME < @partition_end\n"
        "  AND DATE(usage_start_time) BETWEEN @first_day AND @last_day\n"
        "GROUP BY usage_day"
    )
    assert [p.to_api_repr() for p in params] == [
        {
            "name": "partition_start",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2026-09-29 00:00:00+00:00"},
        },
        {
            "name": "partition_end",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2026-11-26 00:00:00+00:00"},
        },
        {"name": "first_day", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-10-01"}},
        {"name": "last_day", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-11-23"}},
    ]
    with pytest.raises(ValueError, match="not a BigQuery table name"):
        daily_fingerprint_query("billing.export`; DROP TABLE x; --", date(2026, 10, 1), date(2026, 11, 23))


# --- Azure Query API -------------------------------------------------------------------------------------


def _usage_page(costs: dict[date, str]) -> str:
    """A Query API answer for a query grouped by day only: `properties.columns/rows`, one row per day, costs
    as JSON numbers with every digit."""
    rows = ",\n      ".join(f'[{cost}, {day:%Y%m%d}, "EUR"]' for day, cost in sorted(costs.items()))
    query_id = "7c1e2f55-0a3b-4d8e-9f61-2b4c6d8e0a1f"
    return f"""{{
  "id": "subscriptions/{azure_recorded.SUBSCRIPTION}/providers/Microsoft.CostManagement/query/{query_id}",
  "name": "{query_id}",
  "type": "Microsoft.CostManagement/query",
  "location": null, "sku": null, "eTag": null,
  "properties": {{
    "nextLink": null,
    "columns": [
      {{"name": "Cost", "type": "Number"}}, {{"name": "UsageDate", "type": "Number"}},
      {{"name": "Currency", "type": "String"}}],
    "rows": [
      {rows}
    ]
  }}
}}"""


def _month_answers(costs: dict[date, str], today: date) -> list[tuple[int, str]]:
    """The answers to the window's two queries (previous month, then this month up to today)."""
    this_month = today.replace(day=1)
    return [
        (200, _usage_page({d: c for d, c in costs.items() if d < this_month})),
        (200, _usage_page({d: c for d, c in costs.items() if d >= this_month})),
    ]


def test_azure_days_whose_total_changed_are_requested(today, monkeypatch):
    monkeypatch.setenv("FINOPS_AZURE_COST_SCOPE", azure_recorded.SCOPE)
    first, last = restatement_window(today)
    this_month = today.replace(day=1)
    day_1, day_2 = first, first + timedelta(days=1)
    costs = {day_1: "4021.123456789012", day_2: "3987.5", this_month: "4102.25"}

    transport = azure_recorded.RecordedTransport(_month_answers(costs, today))
    first_tick, cursor = _tick(None, azure=_azure(transport))
    assert isinstance(first_tick, dg.SkipReason)
    assert json.loads(cursor)["azure_cost_query"] == {
        "watching": WATCHING_AZURE,
        "data_version": None,
        "days": {
            day_1.isoformat(): "4021.1234567890 EUR",
            day_2.isoformat(): "3987.5000000000 EUR",
            this_month.isoformat(): "4102.2500000000 EUR",
        },
    }
    # One query per calendar month of the window, grouped by day only, through the asset's query path.
    sent = [json.loads(r.body) for r in transport.adapter.requests]
    assert [r.url for r in transport.adapter.requests] == [QUERY_ENDPOINT, QUERY_ENDPOINT]
    assert [body["timePeriod"] for body in sent] == [
        {"from": f"{first}T00:00:00Z", "to": f"{this_month - timedelta(days=1)}T23:59:59Z"},
        {"from": f"{this_month}T00:00:00Z", "to": f"{last}T23:59:59Z"},
    ]
    assert all(body["type"] == "AmortizedCost" and body["dataset"]["grouping"] == [] for body in sent)
    assert sent[0]["dataset"]["aggregation"] == {"totalCost": {"name": "Cost", "function": "Sum"}}

    same = azure_recorded.RecordedTransport(_month_answers(costs, today))
    unchanged, _ = _tick(cursor, azure=_azure(same))
    assert isinstance(unchanged, dg.SkipReason) and not same.adapter.responses  # both months were asked

    # Day 2 is restated; day 1 differs only beyond the warehouse's 10 decimal places, which is no change.
    restated = {**costs, day_1: "4021.12345678901", day_2: "3990.12"}
    result, _ = _tick(cursor, azure=_azure(azure_recorded.RecordedTransport(_month_answers(restated, today))))
    assert _ranges(result) == [(day_2.isoformat(), day_2.isoformat())]
    assert result[0].tags == partition_range_tags(day_2, day_2)
    assert result[0].run_key.startswith(f"azure_cost_query:{day_2}..{day_2}:")


def test_daily_totals_are_exact_per_day_and_currency():
    costs = pl.DataFrame(
        {
            "Date": ["20261101", "20261101", "20261102", "20261101"],
            "BillingCurrency": ["EUR", "EUR", "EUR", "USD"],
            "CostInBillingCurrency": ["0.1", "0.2", "12345678.12345678905", "3"],
        }
    )
    assert daily_cost_fingerprints(costs) == {
        date(2026, 11, 1): "0.3000000000 EUR, 3.0000000000 USD",  # 0.1 + 0.2 exactly, not 0.30000000000000004
        date(2026, 11, 2): "12345678.1234567890 EUR",  # half-even at 10 places
    }
    assert Decimal("12345678.12345678905").quantize(Decimal("1e-10")) == Decimal("12345678.1234567890")


# --- Settings and failures -------------------------------------------------------------------------------


def test_without_their_settings_the_apis_are_not_polled_and_the_files_are_watched(today, tmp_path, monkeypatch):
    gcp_dir = tmp_path / "gcp-files"
    gcp_dir.mkdir()
    (gcp_dir / "billing.csv").write_text("billing_account_id,cost\n01A2B3-C4D5E6-F7A8B9,1.25\n")
    monkeypatch.setenv("FINOPS_GCP_DIR", str(gcp_dir))
    session = RecordedExportTable(_at(today, 1), {today: (_at(today, 1), 1)})
    transport = azure_recorded.RecordedTransport([])
    # Configured resources (a table, a scope), but the environment does not switch the APIs on.
    gcp, azure = _gcp(session, table=TABLE), _azure(transport, scope=azure_recorded.SCOPE)

    first_tick, cursor = _tick(None, gcp=gcp, azure=azure)
    second_tick, _ = _tick(cursor, gcp=gcp, azure=azure)

    assert isinstance(first_tick, dg.SkipReason) and isinstance(second_tick, dg.SkipReason)
    assert session.sent == [] and transport.adapter.requests == []
    assert sorted(json.loads(cursor)) == ["gcp:billing.csv"]


def test_with_the_api_set_the_sources_files_are_not_watched(today, tmp_path, monkeypatch):
    gcp_dir = tmp_path / "gcp-files"
    gcp_dir.mkdir()
    (gcp_dir / "billing.csv").write_text("billing_account_id,cost\n01A2B3-C4D5E6-F7A8B9,1.25\n")
    monkeypatch.setenv("FINOPS_GCP_DIR", str(gcp_dir))
    monkeypatch.setenv("FINOPS_GCP_BIGQUERY_TABLE", TABLE)

    _, cursor = _tick(None, gcp=_gcp(RecordedExportTable(_at(today, 1), {today: (_at(today, 1), 1)})))

    assert sorted(json.loads(cursor)) == ["gcp_bigquery"]  # the asset reads BigQuery, not these files


def test_a_failing_api_is_logged_and_skipped_while_files_are_still_watched(today, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FINOPS_GCP_BIGQUERY_TABLE", TABLE)
    monkeypatch.setenv("FINOPS_AZURE_COST_SCOPE", azure_recorded.SCOPE)
    focus_dir = tmp_path / "focus-files"
    focus_dir.mkdir()
    export = focus_dir / "focus.csv"
    export.write_text("BilledCost\n1\n")
    monkeypatch.setenv("FINOPS_FOCUS_EXPORT_DIR", str(focus_dir))
    first = restatement_window(today)[0]
    good_gcp = _gcp(RecordedExportTable(_at(today, 1), {first: (_at(first, 6), 5)}))
    good_azure = _azure(azure_recorded.RecordedTransport(_month_answers({first: "1.5"}, today)))
    _, cursor = _tick(None, gcp=good_gcp, azure=good_azure)
    recorded = json.loads(cursor)

    class Denied(RecordedExportTable):
        def answer(self, method, path, query, body):
            message = f"Access Denied: Table {TABLE.replace('.', ':', 1)}: Permission bigquery.tables.get denied"
            return 403, json.dumps({"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}})

    invalid_token = '{"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}'
    denied, unauthorised = Denied(_at(today, 1), {}), azure_recorded.RecordedTransport([(401, invalid_token)])
    os.utime(export, (export.stat().st_atime, export.stat().st_mtime + 60))  # the export file is rewritten

    capfd.readouterr()
    result, cursor_after = _tick(cursor, gcp=_gcp(denied), azure=_azure(unauthorised))
    log = capfd.readouterr().err  # Dagster's console log of the tick

    # The file source is still watched: its rewrite asks for the restatement window (its period is unknown).
    assert _ranges(result) == [tuple(d.isoformat() for d in restatement_window(today))]
    assert result[0].run_key.startswith("focus_export:focus.csv:")
    # Each API was asked once, failed, and keeps what the cursor knew, so the next tick compares with it.
    assert len(denied.sent) == 1 and len(unauthorised.adapter.requests) == 1 and not unauthorised.adapter.responses
    after = json.loads(cursor_after)
    assert after["gcp_bigquery"] == recorded["gcp_bigquery"]
    assert after["azure_cost_query"] == recorded["azure_cost_query"]
    warnings = [line.split(" - WARNING - ", 1)[1] for line in log.splitlines() if " - WARNING - " in line]
    assert len(warnings) == 2
    assert warnings[0] == (
        "azure_cost_query: not polled this tick (ClientAuthenticationError: (InvalidAuthenticationToken) The "
        "access token is invalid.); retried next tick"
    )
    assert warnings[1].startswith("gcp_bigquery: not polled this tick (Forbidden: 403 GET https://bigquery")
    assert "Access Denied" in warnings[1] and warnings[1].endswith("); retried next tick")
    assert "fake-token" not in log and "Bearer" not in log

    # Nothing else changed: the tick says which APIs were not polled.
    skipped, _ = _tick(
        cursor_after,
        gcp=_gcp(Denied(_at(today, 1), {})),
        azure=_azure(azure_recorded.RecordedTransport([(401, invalid_token)])),
    )
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == (
        "no new or changed billing data; azure_cost_query, gcp_bigquery not polled (see the tick's log)"
    )


# --- Pure helpers ----------------------------------------------------------------------------------------


def test_changed_days_are_new_changed_or_gone_within_the_window():
    before = {"2026-09-30": "a", "2026-10-01": "a", "2026-10-02": "b", "2026-10-03": "c"}
    after = {"2026-10-01": "a", "2026-10-02": "B", "2026-10-04": "d"}
    # 30 Sep left the window (not a change); 2 Oct changed, 3 Oct is gone, 4 Oct is new.
    assert changed_days(before, after, date(2026, 10, 1), date(2026, 10, 5)) == [
        date(2026, 10, 2),
        date(2026, 10, 3),
        date(2026, 10, 4),
    ]


def test_contiguous_ranges_cross_month_ends():
    days = [date(2026, 11, 2), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 5), date(2026, 11, 5)]
    assert contiguous_ranges(days) == [
        (date(2026, 10, 31), date(2026, 11, 2)),
        (date(2026, 11, 5), date(2026, 11, 5)),
    ]
    assert contiguous_ranges([]) == []
