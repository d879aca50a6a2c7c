"""Azure: Cost Management exports (EA, MCA, legacy pay-as-you-go; actual and amortized) and the Query API.

Typical use: `scan_cost_export` the actual and the amortized files of a billing period,
`combine_actual_and_amortized` them (Microsoft's FOCUS rule), then `cost_export_to_focus` with
`lookups_from_environment()` (Microsoft's open data from FINOPS_AZURE_OPEN_DATA_DIR, else built-in tables),
and reconcile against `cost_export_source_totals` of the combined frame.
"""

from finops_pipeline.sources.azure.cost_export import (
    COLUMNS,
    canonical_column_name,
    combine_actual_and_amortized,
    cost_export_source_totals,
    scan_cost_export,
)
from finops_pipeline.sources.azure.focus_mapping import cost_export_to_focus
from finops_pipeline.sources.azure.open_data import (
    OPEN_DATA_DIR_ENV,
    AzureLookups,
    default_lookups,
    load_open_data,
    lookups_from_environment,
)
from finops_pipeline.sources.azure.query import make_client, query_costs

__all__ = [
    "COLUMNS",
    "OPEN_DATA_DIR_ENV",
    "AzureLookups",
    "canonical_column_name",
    "combine_actual_and_amortized",
    "cost_export_source_totals",
    "cost_export_to_focus",
    "default_lookups",
    "load_open_data",
    "lookups_from_environment",
    "make_client",
    "query_costs",
    "scan_cost_export",
]
