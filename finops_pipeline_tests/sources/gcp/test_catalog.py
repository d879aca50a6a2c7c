"""List prices through the real Cloud Billing Catalog client and its REST transport, over loopback HTTP.

`CloudCatalogClient` with the library's `CloudCatalogRestTransport` pointed (`host`, `url_scheme="http"`) at a
small HTTP server on 127.0.0.1 that answers `GET /v1/services/{id}/skus` with recorded ListSkus pages
(`recorded/catalog_list_skus_page_*.json`, in the API's JSON shape: Money as `units` + `nanos`). Paging,
request encoding and proto decoding are the library's own.
"""

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import billing_v1
from google.cloud.billing_v1.services.cloud_catalog.transports.rest import CloudCatalogRestTransport

from finops_pipeline.focus.schema import MONEY
from finops_pipeline.sources.gcp.catalog import LIST_PRICE_SCHEMA, list_prices_for_skus

RECORDED = Path(__file__).parent / "recorded"
COMPUTE_ENGINE = "6F81-5844-456A"


class _CatalogHandler(BaseHTTPRequestHandler):
    requests_seen: list[tuple[str, dict]] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests_seen.append((parts.path, query))
        if parts.path != f"/v1/services/{COMPUTE_ENGINE}/skus":
            self._reply(404, {"error": {"code": 404, "message": "Service not found", "status": "NOT_FOUND"}})
            return
        page = 2 if query.get("pageToken") == "AOVIWJ3Rrqbq4x9dfPQ7HkF5OTGkJ6jQ" else 1
        self._reply(200, json.loads((RECORDED / f"catalog_list_skus_page_{page}.json").read_text()))

    def _reply(self, status: int, payload: dict):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def catalog() -> Iterator[tuple[billing_v1.CloudCatalogClient, list]]:
    """(client, requests the server saw): a real client against a recorded catalog on 127.0.0.1."""
    seen: list[tuple[str, dict]] = []
    handler = type("Handler", (_CatalogHandler,), {"requests_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        transport = CloudCatalogRestTransport(
            host=f"127.0.0.1:{server.server_address[1]}", url_scheme="http", credentials=AnonymousCredentials()
        )
        yield billing_v1.CloudCatalogClient(transport=transport), seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_list_prices_are_read_exactly_across_pages(catalog):
    client, seen = catalog
    prices = list_prices_for_skus(client, COMPUTE_ENGINE, ["CF4E-A0C7-E3BF", "9DE9-9092-B3BC", "NOT-IN-CATALOG"])

    # Two pages were fetched, the second with the first's token.
    assert [path for path, _ in seen] == [f"/v1/services/{COMPUTE_ENGINE}/skus"] * 2
    assert [query.get("pageToken") for _, query in seen] == [None, "AOVIWJ3Rrqbq4x9dfPQ7HkF5OTGkJ6jQ"]

    assert dict(prices.schema) == LIST_PRICE_SCHEMA
    assert prices.sort("sku_id").to_dicts() == [
        {
            "sku_id": "9DE9-9092-B3BC",
            # tiers: first GiB free (0), then 0.23, 0.22, 0.20 per GiB: the on-demand rate is the highest
            "unit_price": Decimal("0.23"),
            "pricing_unit": "gibibyte",
            "usage_unit": "GiBy",
            "currency": "USD",
            "sku_description": "Network Internet Egress from Americas to China",
        },
        {
            "sku_id": "CF4E-A0C7-E3BF",
            "unit_price": Decimal("0.031611"),  # units 0 + nanos 31,611,000
            "pricing_unit": "hour",
            "usage_unit": "h",
            "currency": "USD",
            "sku_description": "N2 Instance Core running in Americas",
        },
    ]


def test_the_currency_asked_for_is_sent(catalog):
    client, seen = catalog
    list_prices_for_skus(client, COMPUTE_ENGINE, [], currency_code="EUR")
    assert seen[0][1].get("currencyCode") == "EUR"


def test_an_empty_result_keeps_its_schema(catalog):
    client, _ = catalog
    prices = list_prices_for_skus(client, COMPUTE_ENGINE, ["NOT-IN-CATALOG"])
    assert prices.is_empty()
    assert prices.schema["unit_price"] == MONEY
    assert prices.schema == pl.Schema(LIST_PRICE_SCHEMA)


def test_catalog_prices_give_list_cost_to_koku_rows_without_cost_at_list(catalog):
    from finops_pipeline.sources.gcp.export import scan_billing_export
    from finops_pipeline.sources.gcp.focus_mapping import billing_export_to_focus
    from finops_pipeline_tests.paths import SHARED_DATA

    client, _ = catalog
    export = scan_billing_export([SHARED_DATA / "koku" / "2022-08-01_5.csv"])
    sku_ids = export.select("sku.id").unique().collect().to_series().to_list()
    prices = list_prices_for_skus(client, COMPUTE_ENGINE, sku_ids)
    assert prices["sku_id"].to_list() == ["9DE9-9092-B3BC"]  # the only one of the file's SKUs in the recording

    focus = billing_export_to_focus(export, source_name="gcp", list_prices=prices).collect()
    china = focus.filter(pl.col("SkuId") == "9DE9-9092-B3BC").sort("x_SourceRowNumber")
    # 0.23 USD per GiB × 1.1955e-05 GiB = 0.00000274965 and × 4.5161e-05 GiB = 0.00001038703, at Decimal(38, 10)
    assert china["ListUnitPrice"].to_list() == [Decimal("0.23")] * 2
    assert china["PricingQuantity"].to_list() == [Decimal("0.000011955"), Decimal("0.000045161")]
    assert china["ListCost"].to_list() == [Decimal("0.0000027496"), Decimal("0.0000103870")]
    others = focus.filter(pl.col("SkuId") != "9DE9-9092-B3BC")
    assert others["ListUnitPrice"].null_count() == others.height
    assert (others["ListCost"] == others["BilledCost"]).all()
