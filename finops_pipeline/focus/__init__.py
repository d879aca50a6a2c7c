"""FOCUS 1.2: the schema every source is normalised to, and the function that enforces it."""

from finops_pipeline.focus.conform import REASON, ConformResult, conform_to_focus
from finops_pipeline.focus.schema import (
    CORE_TABLE_SCHEMA,
    EXTENSION_COLUMNS,
    FOCUS_COLUMNS,
    FOCUS_SCHEMA,
    FOCUS_TABLE_SCHEMA,
    MONEY,
    MONEY_COLUMNS,
    TIMESTAMP,
)

__all__ = [
    "CORE_TABLE_SCHEMA",
    "EXTENSION_COLUMNS",
    "FOCUS_COLUMNS",
    "FOCUS_SCHEMA",
    "FOCUS_TABLE_SCHEMA",
    "MONEY",
    "MONEY_COLUMNS",
    "REASON",
    "TIMESTAMP",
    "ConformResult",
    "conform_to_focus",
]
