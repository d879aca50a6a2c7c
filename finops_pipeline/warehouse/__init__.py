"""Storage layer: one interface over DuckDB (embedded default) and PostgreSQL. See DESIGN.md §4."""

from finops_pipeline.warehouse.base import SCHEMAS, Warehouse
from finops_pipeline.warehouse.types import MONEY_DTYPE

__all__ = ["MONEY_DTYPE", "SCHEMAS", "Warehouse"]
