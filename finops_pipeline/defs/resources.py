"""Resources, configured from environment variables only (credentials never appear in code or config)."""

import dagster as dg

from finops_pipeline.settings import warehouse_url
from finops_pipeline.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse: DuckDB file by default, Postgres when FINOPS_WAREHOUSE_URL says so."""

    url: str | None = None  # None → settings.warehouse_url() at run time

    def open(self) -> Warehouse:
        warehouse = Warehouse.from_url(self.url or warehouse_url())
        warehouse.ensure_schemas()
        return warehouse
