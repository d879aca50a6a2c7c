"""Daily amortized costs of a small scope from the Cost Management Query API, in the export shape.

For a subscription or resource group where no export is configured, `query_costs` asks the Query API
(`CostManagementClient.query.usage`) for daily amortized cost grouped by the dimensions the FOCUS mapping
needs, follows `nextLink` pages, and returns the rows with the same canonical column names as
`scan_cost_export`, so `cost_export_to_focus` and `cost_export_source_totals` apply unchanged.

What the Query API cannot give, compared with an export: no unit prices, quantities, tags or billing
period (the mapping uses the calendar month), and only the grouped dimensions. Use exports for anything
larger than a few subscriptions; the Query API is rate limited per scope.

Credentials: `make_client()` uses azure-identity's `DefaultAzureCredential` (environment variables
AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET, workload or managed identity, or `az login`);
nothing is stored or logged here.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import polars as pl
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.costmanagement.models import (
    QueryAggregation,
    QueryDataset,
    QueryDefinition,
    QueryGrouping,
    QueryTimePeriod,
)

from finops_pipeline.sources.azure.cost_export import (
    AGREEMENT,
    COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
    canonical_column_name,
    export_schema,
)

# Dimensions asked for by default: what the mapping reads (ChargeType and PricingModel decide BilledCost
# and EffectiveCost). The service documents "up to 2 group by clauses" but answers more (the old Python
# SDK's client-side check of 2 was dropped, azure-sdk-for-python#12973); narrow `grouping` if a scope
# refuses.
DEFAULT_GROUPING = (
    "SubscriptionId",
    "ResourceId",
    "ResourceLocation",
    "ConsumedService",
    "ChargeType",
    "PricingModel",
    "BenefitId",
    "MeterCategory",
)
# The Query API names the aggregated cost after the aggregation alias or after the column summed.
_COST_COLUMNS = {"totalcost", "cost", "pretaxcost", "costinbillingcurrency"}


def make_client(**kwargs: Any) -> CostManagementClient:
    """A client authenticated by `DefaultAzureCredential` (credentials come from the environment only)."""
    return CostManagementClient(DefaultAzureCredential(), **kwargs)


def query_costs(
    client: CostManagementClient,
    scope: str,
    start: date,
    end: date,
    *,
    grouping: Sequence[str] = DEFAULT_GROUPING,
    billing_account_id: str | None = None,
) -> pl.DataFrame:
    """Daily AmortizedCost of `scope` for the days `start`..`end` (both included) → export-shaped frame.

    Columns: `export_schema()` — all text, as an export would be read — with x_SourceFile
    `costmanagement-query:<scope>` and x_SourceRowNumber counting rows across pages (1-based). Costs keep
    every digit the service sent (the JSON is parsed with Decimal, not float). BillingAccountId is
    `billing_account_id`, else taken from a billing scope (`…/billingAccounts/<id>…`); for subscription
    scopes pass it, or FOCUS conformance will reject the rows for a missing BillingAccountId.
    """
    query = QueryDefinition(
        type="AmortizedCost",
        timeframe="Custom",
        time_period=QueryTimePeriod(
            from_property=datetime.combine(start, time.min, UTC),
            to=datetime.combine(end, time(23, 59, 59), UTC),
        ),
        dataset=QueryDataset(
            granularity="Daily",
            aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
            grouping=[QueryGrouping(type="Dimension", name=name) for name in grouping],
        ),
    )
    # `cls` hands back the raw response so that money is parsed as Decimal, not as float.
    response = client.query.usage(scope, query, cls=lambda pipeline_response, _, __: pipeline_response.http_response)
    pages = [_page(response)]
    while pages[-1].next_link:
        # A next page is the same query POSTed to nextLink (which carries the $skiptoken).
        response = client.send_request(HttpRequest("POST", pages[-1].next_link, json=query.as_dict()))
        if response.status_code != 200:
            raise HttpResponseError(response=response)
        pages.append(_page(response))
        if pages[-1].columns != pages[0].columns:
            raise ValueError(f"Query API page {len(pages)} has columns {pages[-1].columns}, page 1 {pages[0].columns}")
    account = billing_account_id or _billing_account_from_scope(scope)
    return _export_frame(pages, source=f"costmanagement-query:{scope}", billing_account_id=account)


@dataclass(frozen=True)
class _Page:
    columns: list[str]
    rows: list[list[Any]]
    next_link: str | None


def _page(response) -> _Page:
    """The body as JSON with Decimal numbers. Not through the SDK's QueryResult model: it turns the row
    values into floats, which would round costs to ~16 significant digits."""
    text = response.text()
    if response.status_code == 204 or not text.strip():  # the service answers 204 when there is nothing
        return _Page(columns=[], rows=[], next_link=None)
    properties = json.loads(text, parse_float=Decimal).get("properties") or {}
    columns = [column["name"] for column in properties.get("columns") or []]
    return _Page(columns=columns, rows=properties.get("rows") or [], next_link=properties.get("nextLink"))


def _billing_account_from_scope(scope: str) -> str | None:
    match = re.search(r"/billingAccounts/([^/]+)", scope, flags=re.IGNORECASE)
    return match.group(1) if match else None


def _export_frame(pages: list[_Page], *, source: str, billing_account_id: str | None) -> pl.DataFrame:
    """columns + rows of every page → one text frame with the canonical export column names."""
    names = [
        "CostInBillingCurrency" if name.lower() in _COST_COLUMNS else canonical_column_name(name)
        for name in pages[0].columns
    ]
    rows = [[_as_text(value) for value in row] for page in pages for row in page.rows]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    frame = frame.select(c for c in frame.columns if c in COLUMNS)  # e.g. Currency → BillingCurrency kept
    if billing_account_id and "BillingAccountId" not in frame.columns:
        frame = frame.with_columns(pl.lit(billing_account_id).alias("BillingAccountId"))
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in COLUMNS if c not in frame.columns]
    return (
        frame.with_columns(*missing, pl.lit(None, dtype=pl.String).alias(AGREEMENT), pl.lit(source).alias(SOURCE_FILE))
        .with_row_index(SOURCE_ROW, offset=1)
        .with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
        .select(list(export_schema()))
    )


def _as_text(value: Any) -> str | None:
    """JSON value → the text an export would hold (UsageDate 20240105 → "20240105", Decimal kept exact)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
