"""FOCUS-native exports (AWS FOCUS_1_2_AWS, Azure FocusCost, Google's FOCUS view, OCI FOCUS reports) → FOCUS 1.2."""

from finops_pipeline.sources.focus_export.columns import ExportColumns, describe_focus_export
from finops_pipeline.sources.focus_export.mapping import focus_export_source_totals, focus_export_to_focus
from finops_pipeline.sources.focus_export.reader import scan_focus_export
from finops_pipeline.sources.focus_export.versions import FOCUS_VERSIONS, detect_focus_version

__all__ = [
    "FOCUS_VERSIONS",
    "ExportColumns",
    "describe_focus_export",
    "detect_focus_version",
    "focus_export_source_totals",
    "focus_export_to_focus",
    "scan_focus_export",
]
