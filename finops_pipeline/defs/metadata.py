"""Values for Dagster metadata: money as exact text, structures as JSON with decimals and dates as text."""

import dagster as dg


def money_text(value) -> str:
    """Decimal money for metadata, exact (metadata floats would round)."""
    return "0.00" if value is None else f"{value:.2f}"


def metadata_value(value) -> dg.MetadataValue:
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, dict | list):
        return dg.MetadataValue.json(_jsonable(value))
    return dg.MetadataValue.text(str(value))


def _jsonable(value):
    """Decimals and dates as text so metadata stays exact and serialisable."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
