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


def config_dir() -> Path:
    """The user's settings files (allocation_rules.yaml, rate_card.yaml, budgets.yaml): FINOPS_CONFIG_DIR,
    default FINOPS_HOME/config. `finops demo` puts the demo organisation's files there."""
    return Path(os.environ.get("FINOPS_CONFIG_DIR", finops_home() / "config")).resolve()


def allocation_rules_path() -> Path:
    return Path(os.environ.get("FINOPS_ALLOCATION_RULES", config_dir() / "allocation_rules.yaml"))


def rate_card_path() -> Path:
    return Path(os.environ.get("FINOPS_RATE_CARD", config_dir() / "rate_card.yaml"))


def budgets_path() -> Path:
    return Path(os.environ.get("FINOPS_BUDGETS", config_dir() / "budgets.yaml"))
