"""Public list prices from the Cloud Billing Catalog API, for export rows that lack `cost_at_list`.

One row per SKU: the price of one pricing unit, read exactly from the API's Money (`units` + `nanos` / 10⁹,
no float). A SKU's price is tiered (`tiered_rates`, by start usage amount); FOCUS's ListUnitPrice is the
public, undiscounted rate, so we take the highest tier rate: the first tiers are often a free allowance
(rate 0) and the later tiers volume discounts, so the highest rate is the on-demand price of a unit. When
the API returns several pricing versions (a time range was asked for), the latest one is used.
"""

from collections.abc import Iterable
from decimal import Decimal

import polars as pl
from google.cloud import billing_v1

from finops_pipeline.focus.schema import MONEY

LIST_PRICE_SCHEMA = {
    "sku_id": pl.String,
    "unit_price": MONEY,  # per `pricing_unit`, in `currency`
    "pricing_unit": pl.String,  # the unit in words ("gibibyte month"), as the export's usage.pricing_unit
    "usage_unit": pl.String,  # the catalog's short unit ("GiBy.mo")
    "currency": pl.String,
    "sku_description": pl.String,
}
_NANOS = Decimal(1_000_000_000)


def list_prices_for_skus(
    client: billing_v1.CloudCatalogClient,
    service_id: str,
    sku_ids: Iterable[str],
    *,
    currency_code: str | None = None,
) -> pl.DataFrame:
    """The list price of each of `sku_ids` of the service `service_id` (e.g. "6F81-5844-456A", Compute Engine).

    Pages through `list_skus(parent="services/<service_id>")` (the API has no SKU filter) and keeps the
    SKUs asked for; SKUs the catalog does not list (private or retired) are absent from the result.
    """
    wanted = set(sku_ids)
    request = billing_v1.ListSkusRequest(parent=f"services/{service_id}", currency_code=currency_code or "")
    rows = []
    for sku in client.list_skus(request=request):
        if sku.sku_id not in wanted or not sku.pricing_info:
            continue
        pricing = max(sku.pricing_info, key=lambda info: info.effective_time)
        expression = pricing.pricing_expression
        rates = [rate.unit_price for rate in expression.tiered_rates]
        if not rates:
            continue
        top = max(rates, key=money_to_decimal)
        rows.append(
            {
                "sku_id": sku.sku_id,
                "unit_price": money_to_decimal(top),
                "pricing_unit": expression.usage_unit_description or None,
                "usage_unit": expression.usage_unit or None,
                "currency": top.currency_code or currency_code or "USD",
                "sku_description": sku.description or None,
            }
        )
    return pl.DataFrame(rows, schema=LIST_PRICE_SCHEMA, orient="row")


def money_to_decimal(money) -> Decimal:
    """google.type.Money → Decimal, exactly: units + nanos / 10⁹ (both carry the sign)."""
    return Decimal(money.units) + Decimal(money.nanos) / _NANOS
