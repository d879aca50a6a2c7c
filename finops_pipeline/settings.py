"""Where the pipeline keeps its state, read from environment variables (never from code)."""

import os
from pathlib import Path


def finops_home() -> Path:
    """Directory for the embedded warehouse, demo exports and reports (FINOPS_HOME, default ./.finops)."""
    return Path(os.environ.get("FINOPS_HOME", ".finops")).resolve()


def warehouse_url() -> str:
    """FINOPS_WAREHOUSE_URL (e.g. postgresql+psycopg://user@host/db), else a DuckDB file under FINOPS_HOME."""
    url = os.environ.get("FINOPS_WAREHOUSE_URL")
    if url:
        return url
    return f"duckdb:///{finops_home() / 'warehouse.duckdb'}"
