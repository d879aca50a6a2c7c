"""`gcp_billing` from BigQuery and `azure_billing` from the Cost Management Query API, through Dagster.

The resources are the production ones, built from their environment variables by `source_resources()`;
the only difference is `make_client`, overridden to build the same library client over the recorded HTTP of
`sources/gcp/test_bigquery.py` (a requests session under `bigquery.Client`) and `sources/azure/test_query.py`
(an azure-core transport under `CostManagementClient`). Expected totals are worked out here from the
recorded JSON text with Decimal, independently of the readers and mappings.
"""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest
from azure.mgmt.costmanagement import CostManagementClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from finops_pipeline.connectors.bigquery import BigQueryBillingExport
from finops_pipeline.connectors.cost_management import AzureCostQuery, month_ranges
from finops_pipeline.defs.core import focus_costs
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.schedules import partition_range_tags
from finops_pipeline.defs.sources import SOURCES, build_source_asset, source_resources
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.sources.azure import test_query as azure_recorded
from finops_pipeline_tests.sources.gcp.test_bigquery import RECORDED, TABLE, RecordedBigQuery

GCP = next(s for s in SOURCES if s.name == "gcp")
AZURE = next(s for s in SOURCES if s.name == "azure")
ENV = ("FINOPS_GCP_BIGQUERY_TABLE", "FINOPS_GCP_PROJECT", "FINOPS_GCP_BIGQUERY_LOCATION", "FINOPS_AZURE_COST_SCOPE")


@pytest.fixture(autouse=True)
def no_api_settings(monkeypatch):
    for name in (*ENV, "FINOPS_GCP_BIGQUERY_PARTITION_MARGIN_DAYS", "FINOPS_AZURE_BILLING_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _with_recorded_client(resource, make_client):
    """The production resource (same fields, EnvVars included) whose `make_client` is `make_client`."""
    recorded = type(f"Recorded{type(resource).__name__}", (type(resource),), {"make_client": make_client})
    return recorded(**{name: getattr(resource, name) for name in type(resource).model_fields})


def _materialise(source, api_resource, tmp_path, first_day, last_day):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    # A store holding a file that is not a billing export: with the API configured it must not be read.
    (tmp_path / "files").mkdir(exist_ok=True)
    (tmp_path / "files" / "not-an-export.csv").write_text("this,is\nnot,billing data\n")
    result = dg.materialize(
        [build_source_asset(source), focus_costs],
        resources={
            "warehouse": WarehouseResource(url=url),
            source.store_key: dg.ResourceDefinition.hardcoded_resource(_store(tmp_path / "files")),
            source.api.resource_key: api_resource,
        },
        tags=partition_range_tags(first_day, last_day),
    )
    return result, url


def _store(root):
    from finops_pipeline.connectors import LocalDirectoryStore

    return LocalDirectoryStore(root=str(root))


def _stored(url: str, source: str) -> dict:
    with Warehouse.from_url(url) as wh:
        totals = wh.read_frame(
            'SELECT SUM("x_SourceCost") AS cost, SUM("x_SourceRows") AS n, MIN("x_SourceFile") AS f, '
            'COUNT(DISTINCT "x_SourceFile") AS files '
            f"FROM ops.source_totals WHERE \"x_SourceName\" = '{source}'"
        ).row(0, named=True)
        focus = wh.read_frame(
            'SELECT COUNT(*) AS n, SUM("BilledCost") AS billed, SUM("EffectiveCost") AS effective, '
            'MIN("x_SourceFile") AS f, COUNT(DISTINCT "x_SourceFile") AS files, '
            'MIN("x_ChargeDay") AS first_day, MAX("x_ChargeDay") AS last_day '
            f"FROM core.focus_costs WHERE \"x_SourceName\" = '{source}'"
        ).row(0, named=True)
        staged = wh.read_frame(f"SELECT COUNT(*) AS n FROM raw.{source}_billing").row(0, named=True)["n"]
        quarantined = wh.read_frame("SELECT COUNT(*) AS n FROM core.quarantine").row(0, named=True)["n"]
    return {"totals": totals, "focus": focus, "staged": staged, "quarantined": quarantined}


def _passed_checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


# --- GCP: BigQuery ---------------------------------------------------------------------------------------


def _recorded_gcp_rows() -> list[tuple[date, Decimal]]:
    """(usage day in UTC, what Google invoices for the row: cost + Σ credits.amount) of every recorded result
    row, read from the JSON text."""
    schema = json.loads((RECORDED / "bigquery_query_results_schema.json").read_text())["schema"]
    fields = [field["name"] for field in schema["fields"]]
    start, cost, credits = (fields.index(name) for name in ("usage_start_time", "cost", "credits"))
    amount = [field["name"] for field in schema["fields"][credits]["fields"]].index("amount")
    rows = []
    for page in ("query_results_page_1", "query_results_page_2"):
        for row in json.loads((RECORDED / f"bigquery_{page}.json").read_text())["rows"]:
            micros = int(row["f"][start]["v"])
            credit = sum((Decimal(c["v"]["f"][amount]["v"]) for c in row["f"][credits]["v"]), Decimal(0))
            day = datetime.fromtimestamp(micros // 1_000_000, UTC).date()
            rows.append((day, Decimal(row["f"][cost]["v"]) + credit))
    return rows


def _gcp_resource(session: RecordedBigQuery) -> BigQueryBillingExport:
    def make_client(self, project, location):
        return bigquery.Client(project=project, location=location, credentials=AnonymousCredentials(), _http=session)

    return _with_recorded_client(source_resources()["gcp_bigquery"], make_client)


def test_gcp_billing_reads_bigquery_restating_both_invoice_months_and_reconciles(tmp_path, monkeypatch):
    monkeypatch.setenv("FINOPS_GCP_BIGQUERY_TABLE", TABLE)
    session = RecordedBigQuery()
    first, last = date(2020, 10, 1), date(2020, 11, 10)  # the daily schedule's window: previous + current month

    result, url = _materialise(GCP, _gcp_resource(session), tmp_path, first, last)

    assert result.success
    checks = _passed_checks(result)
    assert checks["reconciles_to_source"] and all(checks.values())
    # What BigQuery was asked: the run's days and the two invoice months, as typed parameters, in the table's
    # project (no FINOPS_GCP_PROJECT).
    method, path, _, body = session.sent[0]
    assert (method, path) == ("POST", "/bigquery/v2/projects/finops-host/jobs")
    params = {p["name"]: p["parameterValue"] for p in body["configuration"]["query"]["queryParameters"]}
    assert [v["value"] for v in params["invoice_months"]["arrayValues"]] == ["202010", "202011"]
    assert [v["value"] for v in params["days"]["arrayValues"]] == [d.isoformat() for d in _days(first, last)]
    assert f"FROM `{TABLE}`" in body["configuration"]["query"]["query"]

    recorded = _recorded_gcp_rows()
    expected = sum((cost for _, cost in recorded), Decimal(0))
    # (0.19424 − 0.09712 − 0.019424) + 0.020091 − 1.25, from the JSON text
    assert expected == Decimal("-1.152213")
    stored = _stored(url, "gcp")
    assert stored["totals"]["cost"] == expected
    assert stored["totals"]["n"] == len(recorded) == 3
    assert stored["totals"]["f"] == stored["focus"]["f"] == f"bigquery://{TABLE}"
    assert stored["totals"]["files"] == stored["focus"]["files"] == 1  # the decoy file was not read
    assert stored["quarantined"] == 0
    assert stored["focus"]["billed"] == expected  # Σ BilledCost, nothing quarantined
    assert stored["focus"]["first_day"] == date(2020, 10, 20)  # the restated October correction landed

    events = result.get_asset_materialization_events()
    materialisation = next(e.materialization for e in events if e.asset_key == dg.AssetKey("gcp_billing"))
    assert materialisation.metadata["read_from"].value == f"bigquery://{TABLE}"
    assert materialisation.metadata["source_cost"].value == "-1.15"  # shown to the cent


def test_gcp_rows_of_a_restated_month_outside_the_run_are_not_staged(tmp_path, monkeypatch):
    """A two-day run still asks for the current and previous invoice month (so late rows of its days are in
    the partitions read), but stages only its days: the October correction would need all of 20 Oct."""
    monkeypatch.setenv("FINOPS_GCP_BIGQUERY_TABLE", TABLE)
    monkeypatch.setenv("FINOPS_GCP_PROJECT", "finops-host")  # the job project, given explicitly
    days = [date(2020, 11, 9), date(2020, 11, 10)]

    result, url = _materialise(GCP, _gcp_resource(RecordedBigQuery()), tmp_path, *days)

    assert result.success and all(_passed_checks(result).values())
    in_run = [cost for day, cost in _recorded_gcp_rows() if day in days]
    stored = _stored(url, "gcp")
    assert stored["totals"]["n"] == len(in_run) == 2
    assert stored["quarantined"] == 0 and stored["focus"]["last_day"] == date(2020, 11, 10)
    assert stored["focus"]["first_day"] == date(2020, 11, 9)  # not the October correction
    # (0.19424 − 0.09712 − 0.019424) + 0.020091
    assert stored["totals"]["cost"] == stored["focus"]["billed"] == sum(in_run, Decimal(0)) == Decimal("0.097787")


def test_a_bigquery_failure_fails_the_asset(tmp_path, monkeypatch):
    monkeypatch.setenv("FINOPS_GCP_BIGQUERY_TABLE", TABLE)

    class Denied(RecordedBigQuery):
        def answer(self, method, path, query, body):
            return 403, json.dumps({"error": {"code": 403, "message": "Access Denied: Table finops-host:billing"}})

    with pytest.raises(Exception, match="Access Denied"):
        _materialise(GCP, _gcp_resource(Denied()), tmp_path, date(2020, 11, 9), date(2020, 11, 10))


# --- Azure: Cost Management Query API --------------------------------------------------------------------


def _recorded_azure_rows() -> list[dict]:
    """The recorded pages' rows as {column: value}, numbers parsed as Decimal from the JSON text."""
    rows = []
    for page in (azure_recorded.PAGE_1, azure_recorded.PAGE_2):
        properties = json.loads(page, parse_float=Decimal)["properties"]
        names = [c["name"] for c in properties["columns"]]
        rows += [dict(zip(names, row, strict=True)) for row in properties["rows"]]
    return rows


def _stored_money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("1e-10"))  # DECIMAL(38, 10), half-even


def _azure_resource(transport) -> AzureCostQuery:
    def make_client(self):
        return CostManagementClient(azure_recorded.FakeCredential(), transport=transport)

    return _with_recorded_client(source_resources()["azure_cost_query"], make_client)


def test_azure_billing_reads_the_query_api_through_the_export_mapping_and_reconciles(tmp_path, monkeypatch):
    monkeypatch.setenv("FINOPS_AZURE_COST_SCOPE", azure_recorded.SCOPE)
    monkeypatch.setenv("FINOPS_AZURE_BILLING_ACCOUNT_ID", "8611537")
    transport = azure_recorded.RecordedTransport([(200, azure_recorded.PAGE_1), (200, azure_recorded.PAGE_2)])

    result, url = _materialise(AZURE, _azure_resource(transport), tmp_path, date(2024, 1, 5), date(2024, 1, 6))

    assert result.success
    checks = _passed_checks(result)
    assert checks["reconciles_to_source"] and all(checks.values())
    # One query for the run's days (one month), then its next page.
    sent = transport.adapter.requests
    assert [r.url for r in sent] == [f"{azure_recorded.QUERY_URL}?api-version=2025-03-01", azure_recorded.NEXT_LINK]
    assert json.loads(sent[0].body)["timePeriod"] == {"from": "2024-01-05T00:00:00Z", "to": "2024-01-06T23:59:59Z"}

    rows = _recorded_azure_rows()
    # Billed: what the invoice shows, i.e. every row except usage priced by a reservation (paid by its purchase).
    billed = sum((_stored_money(r["Cost"]) for r in rows if r["PricingModel"] != "Reservation"), Decimal(0))
    effective = sum((_stored_money(r["Cost"]) for r in rows), Decimal(0))
    assert billed == Decimal("12345678.2098567890")
    assert effective == Decimal("12345678.7030087890")
    stored = _stored(url, "azure")
    assert stored["quarantined"] == 0
    assert stored["totals"]["n"] == stored["focus"]["n"] == len(rows) == 3
    assert stored["totals"]["cost"] == stored["focus"]["billed"] == billed
    assert stored["focus"]["effective"] == effective
    assert stored["totals"]["f"] == stored["focus"]["f"] == f"costmanagement-query:{azure_recorded.SCOPE}"
    assert stored["focus"]["files"] == 1  # the decoy file was not read


def test_a_run_over_two_months_asks_one_query_per_month():
    assert month_ranges(_days(date(2026, 10, 30), date(2026, 11, 2))) == [
        (date(2026, 10, 30), date(2026, 10, 31)),
        (date(2026, 11, 1), date(2026, 11, 2)),
    ]


# --- Settings --------------------------------------------------------------------------------------------


def test_api_resources_come_from_environment_variables(monkeypatch):
    unset = source_resources()
    assert not unset["gcp_bigquery"].configured and not unset["azure_cost_query"].configured
    # Without the settings the assets read files and do not even need the API resources.
    assert "gcp_bigquery" not in build_source_asset(GCP).required_resource_keys
    assert "azure_cost_query" not in build_source_asset(AZURE).required_resource_keys

    for name in ENV:
        monkeypatch.setenv(name, "value-of-" + name)
    monkeypatch.setenv("FINOPS_GCP_BIGQUERY_PARTITION_MARGIN_DAYS", "5")
    resources = source_resources()
    gcp, azure = resources["gcp_bigquery"], resources["azure_cost_query"]
    # EnvVars, not values: the UI shows the variable names and the values are read when a run starts.
    assert isinstance(gcp.table, dg.EnvVar) and gcp.table.env_var_name == "FINOPS_GCP_BIGQUERY_TABLE"
    assert isinstance(gcp.project, dg.EnvVar) and isinstance(gcp.location, dg.EnvVar)
    assert isinstance(azure.scope, dg.EnvVar) and azure.scope.env_var_name == "FINOPS_AZURE_COST_SCOPE"
    assert "gcp_bigquery" in build_source_asset(GCP).required_resource_keys
    assert "azure_cost_query" in build_source_asset(AZURE).required_resource_keys


def test_the_job_project_defaults_to_the_tables():
    assert BigQueryBillingExport(table=TABLE).job_project() == "finops-host"
    assert BigQueryBillingExport(table="example.com:host.billing.t").job_project() == "example.com:host"
    assert BigQueryBillingExport(table=TABLE, project="jobs").job_project() == "jobs"
