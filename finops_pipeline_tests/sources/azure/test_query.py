"""The Query API path through the real azure-mgmt-costmanagement client and azure-core pipeline.

Only the network is replaced: `RecordedTransport` is an azure-core transport (a RequestsTransport whose
requests session answers from recorded bodies), so request building, authentication, the JSON body,
response wrapping and paging all run the library's own code.
"""

import io
import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest
import requests
import urllib3
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.costmanagement import CostManagementClient

from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.sources.azure import cost_export_to_focus, query_costs
from finops_pipeline.sources.azure.cost_export import export_schema
from finops_pipeline_tests.sources.azure.test_focus_mapping import assert_reconciles

SUBSCRIPTION = "9ec51cfd-5ca7-4d76-8101-dd0a4abc5674"
SCOPE = f"/subscriptions/{SUBSCRIPTION}"
QUERY_URL = f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/query"
NEXT_LINK = f"{QUERY_URL}?api-version=2025-03-01&$skiptoken=AQAAAA%3D%3D"
VM = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/aks/providers/microsoft.compute/virtualmachinescalesets/pool"
RESERVATION = "/providers/Microsoft.Capacity/reservationOrders/a965d46f/reservations/f39d1c73"
COLUMNS = """[
  {"name": "Cost", "type": "Number"}, {"name": "UsageDate", "type": "Number"},
  {"name": "SubscriptionId", "type": "String"}, {"name": "ResourceId", "type": "String"},
  {"name": "ResourceLocation", "type": "String"}, {"name": "ConsumedService", "type": "String"},
  {"name": "ChargeType", "type": "String"}, {"name": "PricingModel", "type": "String"},
  {"name": "BenefitId", "type": "String"}, {"name": "MeterCategory", "type": "String"},
  {"name": "Currency", "type": "String"}]"""
# Two pages as the service writes them: `properties.columns/rows/nextLink`; costs with more digits than a float.
PAGE_1 = f"""{{
  "id": "subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/query/4b4d4c0e-7b0d-4ad6-a4e4-3c0a6f0e1a2b",
  "name": "4b4d4c0e-7b0d-4ad6-a4e4-3c0a6f0e1a2b",
  "type": "Microsoft.CostManagement/query",
  "location": null, "sku": null, "eTag": null,
  "properties": {{
    "nextLink": "{NEXT_LINK}",
    "columns": {COLUMNS},
    "rows": [
      [12345678.12345678905, 20240105, "{SUBSCRIPTION}", "{VM}", "eastus", "Microsoft.Compute",
       "Usage", "OnDemand", "", "Virtual Machines", "EUR"],
      [0.49315200000000000001, 20240105, "{SUBSCRIPTION}", "{VM}", "eastus", "Microsoft.Compute",
       "Usage", "Reservation", "{RESERVATION}", "Virtual Machines", "EUR"]
    ]
  }}
}}"""
PAGE_2 = f"""{{
  "id": "subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/query/4b4d4c0e-7b0d-4ad6-a4e4-3c0a6f0e1a2b",
  "name": "4b4d4c0e-7b0d-4ad6-a4e4-3c0a6f0e1a2b",
  "type": "Microsoft.CostManagement/query",
  "properties": {{
    "nextLink": null,
    "columns": {COLUMNS},
    "rows": [
      [0.0864, 20240106, "{SUBSCRIPTION}", "", "uk west", "Microsoft.Network",
       "Usage", "OnDemand", "", "Virtual Network", "EUR"]
    ]
  }}
}}"""


class _ReplayAdapter(requests.adapters.BaseAdapter):
    """A requests adapter that answers each request with the next recorded (status, JSON text) pair."""

    def __init__(self, responses: list[tuple[int, str]]):
        super().__init__()
        self.responses = list(responses)
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        status, body = self.responses.pop(0)
        response = requests.Response()
        response.status_code, response.reason = status, "OK" if status == 200 else "Error"
        headers = {"Content-Type": "application/json; charset=utf-8"}
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(body.encode()), headers=headers, status=status, preload_content=False
        )
        response.headers.update(headers)
        response.url, response.request = request.url, request
        return response

    def close(self):
        pass


class RecordedTransport(RequestsTransport):
    """azure-core's requests transport over a session that replays recorded responses."""

    def __init__(self, responses: list[tuple[int, str]]):
        self.adapter = _ReplayAdapter(responses)
        session = requests.Session()
        session.mount("https://", self.adapter)
        super().__init__(session=session, session_owner=False)


class FakeCredential:
    """A TokenCredential: the pipeline's bearer-token policy asks it for a token."""

    def __init__(self):
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("fake-token", int(time.time()) + 3600)


def run_query() -> tuple[pl.DataFrame, _ReplayAdapter, FakeCredential]:
    transport, credential = RecordedTransport([(200, PAGE_1), (200, PAGE_2)]), FakeCredential()
    client = CostManagementClient(credential, transport=transport)
    frame = query_costs(client, SCOPE, date(2024, 1, 5), date(2024, 1, 6), billing_account_id="8611537")
    return frame, transport.adapter, credential


def test_query_follows_next_link_with_the_same_query():
    frame, adapter, credential = run_query()

    assert [r.method for r in adapter.requests] == ["POST", "POST"]
    assert adapter.requests[0].url == f"{QUERY_URL}?api-version=2025-03-01"
    assert adapter.requests[1].url == NEXT_LINK
    assert all(r.headers["Authorization"] == "Bearer fake-token" for r in adapter.requests)
    assert credential.scopes[0] == ("https://management.azure.com/.default",)
    first, second = (json.loads(r.body) for r in adapter.requests)
    assert first == second
    assert first["type"] == "AmortizedCost" and first["timeframe"] == "Custom"
    assert first["timePeriod"] == {"from": "2024-01-05T00:00:00Z", "to": "2024-01-06T23:59:59Z"}
    assert first["dataset"]["granularity"] == "Daily"
    assert first["dataset"]["aggregation"] == {"totalCost": {"name": "Cost", "function": "Sum"}}
    assert {"type": "Dimension", "name": "PricingModel"} in first["dataset"]["grouping"]


def test_query_rows_come_out_in_the_export_shape_with_exact_costs():
    frame, _, _ = run_query()

    assert frame.schema == pl.Schema(export_schema())
    assert frame["CostInBillingCurrency"].to_list() == ["12345678.12345678905", "0.49315200000000000001", "0.0864"]
    assert frame["Date"].to_list() == ["20240105", "20240105", "20240106"]
    assert frame["BillingCurrency"].unique().to_list() == ["EUR"]
    assert frame["PricingModel"].to_list() == ["OnDemand", "Reservation", "OnDemand"]
    assert frame["x_SourceRowNumber"].to_list() == [1, 2, 3]  # counted across pages
    assert frame["x_SourceFile"].unique().to_list() == [f"costmanagement-query:{SCOPE}"]
    assert frame["BillingAccountId"].unique().to_list() == ["8611537"]


def test_query_rows_map_to_focus_and_reconcile():
    frame, _, _ = run_query()
    focus = cost_export_to_focus(frame.lazy(), source_name="azure-query").collect()

    # 12345678.12345678905 at 10 places, banker's rounding (a float would have given …4567900)
    assert focus["BilledCost"].to_list() == [Decimal("12345678.1234567890"), Decimal(0), Decimal("0.0864")]
    assert focus["EffectiveCost"].to_list() == [
        Decimal("12345678.1234567890"),
        Decimal("0.4931520000"),
        Decimal("0.0864"),
    ]
    assert focus["CommitmentDiscountStatus"].to_list() == [None, "Used", None]
    assert focus["ChargePeriodStart"].to_list()[-1] == datetime(2024, 1, 6, tzinfo=UTC)
    assert focus["BillingPeriodStart"].unique().to_list() == [datetime(2024, 1, 1, tzinfo=UTC)]
    assert focus["RegionId"].to_list() == ["eastus", "eastus", "ukwest"]
    assert focus["ServiceName"].to_list() == ["Virtual Machines", "Virtual Machines", "Virtual Network"]
    assert focus[REASON].null_count() == 3
    assert conform_to_focus(focus.drop(REASON)).rejected.height == 0
    assert_reconciles(frame.lazy(), focus)


def test_an_error_page_raises_the_service_error():
    error = '{"error": {"code": "BadRequest", "message": "Invalid skiptoken."}}'
    client = CostManagementClient(FakeCredential(), transport=RecordedTransport([(200, PAGE_1), (400, error)]))
    with pytest.raises(HttpResponseError, match="Invalid skiptoken"):
        query_costs(client, SCOPE, date(2024, 1, 5), date(2024, 1, 6))


def test_an_empty_answer_is_an_empty_export():
    client = CostManagementClient(FakeCredential(), transport=RecordedTransport([(204, "")]))
    frame = query_costs(client, SCOPE, date(2024, 1, 5), date(2024, 1, 6))
    assert frame.height == 0 and frame.schema == pl.Schema(export_schema())
