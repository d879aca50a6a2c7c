"""Reading the billing export through the real google-cloud-bigquery client, over recorded HTTP responses.

The client is the library's own (`bigquery.Client`), with its own request building, job polling, paging and
row decoding; only the HTTP session under it is replaced by one that answers with recorded BigQuery REST
responses (`recorded/bigquery_*.json`: jobs.insert, jobs.get, getQueryResults for the schema, then two
pages of rows) and keeps every request it was sent.
"""

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import pytest
import requests
import requests.adapters
from google.api_core.exceptions import Forbidden
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.focus.schema import MONEY, TIMESTAMP
from finops_pipeline.sources.gcp.bigquery import billing_export_query, read_billing_export, restated_invoice_months
from finops_pipeline.sources.gcp.export import billing_export_source_totals, export_schema
from finops_pipeline.sources.gcp.focus_mapping import CREDITS_COLUMN, billing_export_to_focus

RECORDED = Path(__file__).parent / "recorded"
TABLE = "finops-host.billing.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
DAYS = [date(2020, 11, 10), date(2020, 11, 9)]
MONTHS = ["202011", "202010"]


class RecordedBigQuery(requests.Session):
    """A requests session whose transport answers BigQuery REST calls from recorded JSON and keeps what it
    was sent. Everything above the transport (request preparation, the client's retries, error mapping) is
    requests' and the library's own."""

    is_mtls = False  # google.auth's AuthorizedSession has it; the client reads it to pick the endpoint

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str, dict, dict | None]] = []  # method, path, query, JSON body
        self.job_id: str | None = None
        self.mount("https://", _RecordedTransport(self))
        # AuthorizedSession keeps the request it refreshes credentials with; `Client.close()` closes its session.
        self._auth_request = google.auth.transport.requests.Request(session=self)

    def answer(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, str]:
        base = "/bigquery/v2/projects/finops-host"
        if method == "POST" and path == f"{base}/jobs":
            self.job_id = body["jobReference"]["jobId"]
            return 200, _recorded("jobs_insert", self.job_id, body["configuration"]["query"]["query"])
        if method == "GET" and path == f"{base}/jobs/{self.job_id}":
            return 200, _recorded("jobs_get", self.job_id)
        if method == "GET" and path == f"{base}/queries/{self.job_id}":
            if query.get("maxResults") == "0":
                return 200, _recorded("query_results_schema", self.job_id)
            page = "query_results_page_2" if "pageToken" in query else "query_results_page_1"
            return 200, _recorded(page, self.job_id)
        return 404, json.dumps({"error": {"code": 404, "message": f"Not found: {path}", "errors": []}})


class _RecordedTransport(requests.adapters.BaseAdapter):
    def __init__(self, session: RecordedBigQuery):
        super().__init__()
        self.session = session

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = json.loads(request.body) if request.body else None
        self.session.sent.append((request.method, parts.path, query, body))
        status, text = self.session.answer(request.method, parts.path, query, body)
        response = requests.Response()
        response.status_code, response.request, response.url = status, request, request.url
        response.headers["Content-Type"] = "application/json; charset=UTF-8"
        response._content = text.encode()
        return response

    def close(self):
        pass


def _recorded(name: str, job_id: str, query: str = "") -> str:
    text = (RECORDED / f"bigquery_{name}.json").read_text()
    return text.replace("{job_id}", job_id).replace('"{query}"', json.dumps(query))


@pytest.fixture
def session() -> RecordedBigQuery:
    return RecordedBigQuery()


def test_the_query_prunes_partitions_and_filters_days_and_restated_months():
    sql, params = billing_export_query(TABLE, DAYS, MONTHS)
    assert sql == (
        f"SELECT *\nFROM `{TABLE}`\n"
        "WHERE _PARTITIONTIME >= @partition_start\n"
        "  AND _PARTITIONTIME < @partition_end\n"
        "  AND (\n"
        "    DATE(usage_start_time) IN UNNEST(@days)\n"
        "    OR invoice.month IN UNNEST(@invoice_months)\n"
        "  )"
    )
    # Partitions: from 1 Oct (first restated month) − 3 days to 1 Dec (where a Pacific November ends, in UTC)
    # + 3 days, end exclusive.
    assert [p.to_api_repr() for p in params] == [
        {
            "name": "partition_start",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2020-09-28 00:00:00+00:00"},
        },
        {
            "name": "partition_end",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2020-12-05 00:00:00+00:00"},
        },
        {
            "name": "days",
            "parameterType": {"type": "ARRAY", "arrayType": {"type": "DATE"}},
            "parameterValue": {"arrayValues": [{"value": "2020-11-09"}, {"value": "2020-11-10"}]},
        },
        {
            "name": "invoice_months",
            "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
            "parameterValue": {"arrayValues": [{"value": "202010"}, {"value": "202011"}]},
        },
    ]


def test_a_run_restates_the_months_of_its_days_and_the_previous_one():
    assert restated_invoice_months(DAYS) == MONTHS[::-1] == ["202010", "202011"]
    # The daily schedule's window (previous + current month) and a backfill crossing a year.
    assert restated_invoice_months([date(2026, 10, 1), date(2026, 11, 23)]) == ["202610", "202611"]
    assert restated_invoice_months([date(2025, 12, 31), date(2026, 1, 1)]) == ["202512", "202601"]
    assert restated_invoice_months([date(2026, 1, 15)]) == ["202512", "202601"]
    assert restated_invoice_months([]) == []


def test_days_alone_read_a_few_partitions():
    _, params = billing_export_query(TABLE, [date(2026, 3, 1)], [], partition_margin_days=1)
    assert params[0].value == datetime(2026, 2, 28, tzinfo=UTC)
    assert params[1].value == datetime(2026, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("table", "months", "message"),
    [
        ("billing.export`; DROP TABLE x; --", ["202011"], "not a BigQuery table name"),
        (TABLE, ["2020-11"], "invoice months must be YYYYMM"),
    ],
)
def test_bad_arguments_are_refused_before_any_sql_is_built(table, months, message):
    with pytest.raises(ValueError, match=message):
        billing_export_query(table, DAYS, months)
    with pytest.raises(ValueError, match="nothing to read"):
        billing_export_query(TABLE, [], [])


def test_the_real_client_sends_the_parameterised_query_and_rows_come_back_in_the_scan_shape(session):
    client = bigquery.Client(project="finops-host", credentials=AnonymousCredentials(), _http=session)

    export = read_billing_export(client, TABLE, DAYS, MONTHS)

    # What went over the wire: one jobs.insert with the SQL and typed parameters, then polling and two pages.
    method, path, _, body = session.sent[0]
    assert (method, path) == ("POST", "/bigquery/v2/projects/finops-host/jobs")
    sql, params = billing_export_query(TABLE, DAYS, MONTHS)
    assert body["configuration"]["query"]["query"] == sql
    assert body["configuration"]["query"]["useLegacySql"] is False
    assert body["configuration"]["query"]["parameterMode"] == "NAMED"
    assert body["configuration"]["query"]["queryParameters"] == [p.to_api_repr() for p in params]
    pages = [q for m, p, q, _ in session.sent if p.endswith(f"/queries/{session.job_id}") and "maxResults" not in q]
    assert [q.get("pageToken") for q in pages] == [None, "BGPOUXYSLIAQAAASA4EAAEEAQCAAKGQEBCFAUAAQIACAA="]

    # The same shape (names and types) as scan_billing_export gives for a nested file.
    assert dict(export.schema) == export_schema()
    assert export.height == 3
    assert export["x_SourceFile"].unique().to_list() == [f"bigquery://{TABLE}"]
    assert export["x_SourceRowNumber"].to_list() == [1, 2, 3]
    first = export.row(0, named=True)
    assert first["cost"] == Decimal("0.19424")  # FLOAT64 over REST, read through its shortest text
    assert first["usage_start_time"] == datetime(2020, 11, 9, 23, tzinfo=UTC)
    assert first["project.labels"] == [{"key": "team", "value": "platform"}, {"key": "env", "value": "prod"}]
    assert [c["amount"] for c in first["credits"]] == [Decimal("-0.09712"), Decimal("-0.019424")]
    assert first["tags"] == [{"key": "cost-center", "value": "cc-42", "inherited": True, "namespace": "587412366541"}]
    assert export.schema["usage_start_time"] == TIMESTAMP and export.schema["cost"] == MONEY


def test_rows_from_bigquery_map_to_focus(session):
    client = bigquery.Client(project="finops-host", credentials=AnonymousCredentials(), _http=session)
    export = read_billing_export(client, TABLE, DAYS, MONTHS).lazy()

    focus = billing_export_to_focus(export, source_name="gcp").collect()
    assert focus[REASON].null_count() == 4
    assert conform_to_focus(focus).rejected.height == 0
    vm, vm_on_demand, storage, correction = focus.to_dicts()

    # Half of the VM's usage ran on the commitment (CUD credit −0.09712 of cost 0.19424): the row is split.
    # Committed part: contracted 0.09712, billed 0.09712 − 0.09712 = 0, list 0.2428 (cost_at_list) / 2.
    assert (vm["ContractedCost"], vm["BilledCost"], vm["EffectiveCost"]) == (Decimal("0.09712"), 0, 0)
    assert vm["ListCost"] == Decimal("0.1214")
    assert vm["ContractedUnitPrice"] == Decimal("0.04856")
    assert (vm["PricingCategory"], vm["CommitmentDiscountCategory"], vm["CommitmentDiscountStatus"]) == (
        "Committed",
        "Usage",
        "Used",
    )
    assert vm["CommitmentDiscountId"] == "CommittedUsageDiscount:shop-cud-1y"
    assert [c["type"] for c in json.loads(vm[CREDITS_COLUMN])] == ["COMMITTED_USAGE_DISCOUNT"]
    # On-demand part: the rest, with the sustained-use credit: 0.19424 − 0.09712 − 0.019424.
    assert vm_on_demand["BilledCost"] == vm_on_demand["EffectiveCost"] == Decimal("0.077696")
    assert (vm_on_demand["ContractedCost"], vm_on_demand["ListCost"]) == (Decimal("0.09712"), Decimal("0.1214"))
    assert (vm_on_demand["PricingCategory"], vm_on_demand["CommitmentDiscountId"]) == ("Standard", None)
    assert [c["type"] for c in json.loads(vm_on_demand[CREDITS_COLUMN])] == ["SUSTAINED_USAGE_DISCOUNT"]
    assert vm["PricingQuantity"] + vm_on_demand["PricingQuantity"] == Decimal(4)
    for part in (vm, vm_on_demand):
        assert part["Tags"] == (
            '{"587412366541/cost-center":"cc-42","app":"etl","compute.googleapis.com/cores":"4",'
            '"compute.googleapis.com/machine_spec":"n2-standard-4","env":"prod","team":"data"}'
        )
        assert (part["AvailabilityZone"], part["RegionId"], part["SubAccountId"]) == (
            "us-central1-a",
            "us-central1",
            "shop-prod",
        )

    assert storage["ServiceCategory"] == "Storage" and storage["ServiceSubcategory"] == "Object Storage"
    assert storage["ListCost"] == storage["BilledCost"] == Decimal("0.020091")  # no cost_at_list, no price list
    assert storage["ResourceType"] == "buckets"

    # A restated previous month: read because invoice.month 202010 was asked for, whatever its usage day.
    assert (correction["ChargeCategory"], correction["ChargeClass"]) == ("Adjustment", "Correction")
    assert correction["BillingPeriodStart"] == datetime(2020, 10, 1, 7, tzinfo=UTC)
    assert correction["x_ChargeDay"] == date(2020, 10, 20)

    totals = billing_export_source_totals(export).collect()
    # What Google invoices: Σ cost + Σ credits = 0.077696 + 0.020091 − 1.25.
    assert totals["x_SourceCost"].sum() == focus["BilledCost"].sum() == Decimal("-1.152213")


def test_a_bigquery_error_is_raised_as_the_client_raises_it(session):
    """Nothing is swallowed: a failing job surfaces as google.api_core's exception, with BigQuery's message."""

    class Failing(RecordedBigQuery):
        def answer(self, method, path, query, body):
            message = "Access Denied: Table finops-host:billing.x: User does not have permission to query table"
            return 403, json.dumps(
                {"error": {"code": 403, "message": message, "errors": [], "status": "PERMISSION_DENIED"}}
            )

    client = bigquery.Client(project="finops-host", credentials=AnonymousCredentials(), _http=Failing())
    with pytest.raises(Forbidden, match=re.escape("Access Denied: Table finops-host:billing.x")):
        read_billing_export(client, TABLE, DAYS, MONTHS)
