"""Kubernetes usage ingestion (`core.k8s_usage`): the OpenCost allocation API, its CSV export, flattened
allocation parquet and OpenShift (Koku) pod reports. Quantities only; nothing is priced here — allocation
prices node time from the cloud bill by matching `node_resource_id` to FOCUS `ResourceId`."""

from finops_pipeline.sources.kubernetes.allocation import allocation_response_to_frame, read_allocation_json
from finops_pipeline.sources.kubernetes.client import DEFAULT_AGGREGATE, OpenCostApiError, OpenCostClient
from finops_pipeline.sources.kubernetes.exports import detect_layout, scan_opencost_csv
from finops_pipeline.sources.kubernetes.schema import K8S_USAGE_SCHEMA, empty_k8s_usage, node_resource_id

__all__ = [
    "DEFAULT_AGGREGATE",
    "K8S_USAGE_SCHEMA",
    "OpenCostApiError",
    "OpenCostClient",
    "allocation_response_to_frame",
    "detect_layout",
    "empty_k8s_usage",
    "node_resource_id",
    "read_allocation_json",
    "scan_opencost_csv",
]
