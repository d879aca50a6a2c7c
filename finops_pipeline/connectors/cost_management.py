"""The Azure Cost Management Query API for one scope, as a Dagster resource (`azure_billing` reads it when set).

For small scopes only (a subscription, a resource group, a small billing account) where no export is
configured: the Query API is rate limited per scope and tenant (HTTP 429 with
`x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers; azure-core retries with back-off, a run
that still gets 429 fails and is re-run), answers in pages (followed through `nextLink`) and gives amortized
cost grouped by a few dimensions, without unit prices, quantities or tags. A run asks for one calendar
month at a time (one billing period per query; the service refuses periods over a year).

Credentials come only from azure-identity's `DefaultAzureCredential` (AZURE_TENANT_ID / AZURE_CLIENT_ID /
AZURE_CLIENT_SECRET, workload or managed identity, `az login`); the identity needs Cost Management Reader
on the scope. The resource has no field that could hold a secret.
"""

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl
from azure.mgmt.costmanagement import CostManagementClient
from dagster import ConfigurableResource
from pydantic import Field

from finops_pipeline.focus import MONEY
from finops_pipeline.sources.azure.cost_export import SOURCE_ROW, export_schema
from finops_pipeline.sources.azure.query import make_client, query_costs


def month_ranges(days: list[date]) -> list[tuple[date, date]]:
    """(first, last) day of the run in each calendar month it touches, in order."""
    ranges: dict[tuple[int, int], tuple[date, date]] = {}
    for day in sorted(days):
        first, _ = ranges.get((day.year, day.month), (day, day))
        ranges[(day.year, day.month)] = (first, day)
    return list(ranges.values())


def daily_cost_fingerprints(costs: pl.DataFrame) -> dict[date, str]:
    """{usage day: "<Σ cost> <currency>"} of an export-shaped frame (`Date` YYYYMMDD, `CostInBillingCurrency`,
    `BillingCurrency`), summed exactly and rounded (half-even) to the warehouse's money scale: a change the
    warehouse could not store is no change. Currencies of one day are listed in order."""
    step = Decimal(1).scaleb(-(MONEY.scale or 0))
    totals: dict[tuple[date, str], Decimal] = {}
    for day, currency, cost in costs.select("Date", "BillingCurrency", "CostInBillingCurrency").iter_rows():
        key = (datetime.strptime(day, "%Y%m%d").date(), currency or "")
        totals[key] = totals.get(key, Decimal(0)) + Decimal(cost or 0)
    fingerprints: dict[date, list[str]] = {}
    for (day, currency), total in sorted(totals.items()):
        fingerprints.setdefault(day, []).append(f"{total.quantize(step, ROUND_HALF_EVEN)} {currency}".strip())
    return {day: ", ".join(parts) for day, parts in fingerprints.items()}


class AzureCostQuery(ConfigurableResource):
    """Reads the run's days of one scope from the Query API, as an export-shaped frame.

    Unconfigured (no `scope`) it reads nothing and the source falls back to export files.
    """

    scope: str | None = Field(
        default=None,
        description="Cost Management scope (FINOPS_AZURE_COST_SCOPE): `/subscriptions/<id>`, "
        "`/subscriptions/<id>/resourceGroups/<name>` or `/providers/Microsoft.Billing/billingAccounts/<id>`. "
        "When set, azure_billing reads the Query API instead of export files.",
    )
    billing_account_id: str | None = Field(
        default=None,
        description="BillingAccountId of the rows (FINOPS_AZURE_BILLING_ACCOUNT_ID); needed for subscription "
        "and resource-group scopes, else FOCUS conformance quarantines every row. Default: from a billing "
        "account scope.",
    )

    def make_client(self) -> CostManagementClient:
        """The one place the client is built: `DefaultAzureCredential`. (Tests subclass the resource to build
        the same client over a replaying azure-core transport; Dagster rebuilds resources from their fields,
        so a private attribute would not survive.)"""
        return make_client()

    @property
    def configured(self) -> bool:
        return bool(self.scope)

    def describe(self) -> str:
        return f"costmanagement-query:{self.scope}"

    def data_version(self) -> None:
        """The Query API has no change marker (no export run, no modified time): every poll queries."""
        return None

    def daily_fingerprints(self, first_day: date, last_day: date) -> dict[date, str]:
        """{usage day: Σ amortized cost and currency} of the scope for `first_day`..`last_day`, through the same
        client and `query_costs` as `read`, one query per calendar month, grouped by day only (one row per day
        and currency, so one small page). Days without cost are absent."""
        if not self.scope:
            raise ValueError("no Cost Management scope is configured (FINOPS_AZURE_COST_SCOPE)")
        days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
        frames = [pl.DataFrame(schema=export_schema())]
        with self.make_client() as client:
            for start, end in month_ranges(days):
                frames.append(query_costs(client, self.scope, start, end, grouping=()))
        return daily_cost_fingerprints(pl.concat(frames))

    def read(self, days: list[date], log: Any) -> pl.DataFrame:
        """Daily amortized cost of the scope for `days`, one query per calendar month, in the export shape
        (`x_SourceRowNumber` counts rows across the months' queries)."""
        if not self.scope:
            raise ValueError("no Cost Management scope is configured (FINOPS_AZURE_COST_SCOPE)")
        frames = [pl.DataFrame(schema=export_schema())]
        with self.make_client() as client:
            for start, end in month_ranges(days):
                frame = query_costs(client, self.scope, start, end, billing_account_id=self.billing_account_id)
                log.info(f"azure: {frame.height} rows from {self.describe()} for {start} … {end}")
                frames.append(frame)
        rows = pl.concat(frames).drop(SOURCE_ROW).with_row_index(SOURCE_ROW, offset=1)
        return rows.with_columns(pl.col(SOURCE_ROW).cast(pl.Int64)).select(list(export_schema()))
