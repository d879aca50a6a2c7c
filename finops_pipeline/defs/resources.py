"""Resources, configured from environment variables only (credentials never appear in code or config)."""

import os

import dagster as dg

from finops_pipeline.connectors import LocalDirectoryStore, S3Store
from finops_pipeline.settings import finops_home, warehouse_url
from finops_pipeline.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse: DuckDB file by default, Postgres when FINOPS_WAREHOUSE_URL says so."""

    url: str | None = None  # None → settings.warehouse_url() at run time

    def open(self) -> Warehouse:
        warehouse = Warehouse.from_url(self.url or warehouse_url())
        warehouse.ensure_schemas()
        return warehouse


def demo_exports_dir() -> str:
    return str(finops_home() / "demo")


def aws_cur_store() -> dg.ConfigurableResource:
    """S3 when FINOPS_AWS_CUR_BUCKET is set (credentials from the standard AWS chain), else a local folder."""
    if os.environ.get("FINOPS_AWS_CUR_BUCKET"):
        return S3Store(
            bucket=dg.EnvVar("FINOPS_AWS_CUR_BUCKET"),
            region_name=os.environ.get("AWS_REGION"),
            endpoint_url=os.environ.get("FINOPS_AWS_S3_ENDPOINT_URL"),
        )
    return LocalDirectoryStore(root=os.environ.get("FINOPS_AWS_CUR_DIR", os.path.join(demo_exports_dir(), "aws")))


def resources() -> dict[str, object]:
    return {"warehouse": WarehouseResource(), "aws_cur_store": aws_cur_store()}
