"""`core.k8s_usage`: what Kubernetes workloads asked for and used, one row per cluster × window × allocation.

An allocation is OpenCost's unit: a container in a pod (`cluster/node/namespace/pod/container`), or a pod when
the source has no container level (OpenShift/Koku reports), or a special row (`__idle__`, `__unallocated__`,
`__unmounted__`) flagged as such. The pipeline requests one window per UTC day, so in practice there is one row
per cluster × day × container × pod; `x_ChargeDay` (UTC date of `window_start`) is the partition key.

Units and types:

* Quantities are Float64, not Decimal. They are not money; OpenCost computes them in float64 and serialises
  them as JSON numbers (rounded to 5 decimals by OpenCost, more digits by Kubecost), so Float64 holds the
  published value exactly. Averages are over the allocation's *running* time (`minutes`), not over the
  window: `cpu_core_request_average * minutes / 60` = requested core-hours.
  CPU in cores, RAM and PV in bytes, network in bytes over the window, GPUs in devices.
* `cpu_core_hours` / `ram_byte_hours` / `gpu_hours` are OpenCost's *allocated* amounts (per scrape
  `max(request, usage)`, integrated over running time) — what OpenCost prices. The allocation step recomputes
  cost from these and from the bill; it does not use the `x_opencost_*` columns.
* `cpu_core_usage_max` / `ram_byte_usage_max` come from `rawAllocationOnly` and are present only for
  un-aggregated allocations (null otherwise, and null for sources that have no instantaneous peaks).
* `x_opencost_*`: OpenCost's own cost figures (list-price based, not the bill), Decimal(38, 10), kept for
  reference and reconciliation only. Nothing in this package prices anything. From the CSV export the
  `*_cost` columns already include the adjustment (OpenCost writes `CPUTotalCost()` etc.) and the
  `*_cost_adjustment` columns are null.
* `labels`, `namespace_labels`, `annotations`: JSON object text (keys as OpenCost sanitises them,
  e.g. `app_kubernetes_io_name`), `{}` when there are none. `services`: JSON array text. `pv_claims`: the
  `pvs` map as JSON object text (`{"cluster=<c>:name=<pv>": {"byteHours": …, "cost": …}}`), null when none.
* `provider_id` is the node's id as Kubernetes reports it (`spec.providerID`, or already shortened by
  OpenCost); `node_resource_id` is the same id normalised to what the cloud bill calls the resource, so node
  cost can be matched to FOCUS `ResourceId` (see `node_resource_id`).
"""

import polars as pl

from finops_pipeline.focus.schema import MONEY, TIMESTAMP

K8S_USAGE_TABLE = "core.k8s_usage"
F64 = pl.Float64

# Quantities, in the order they appear in the table. Names follow OpenCost's JSON fields in snake_case.
QUANTITY_COLUMNS: tuple[str, ...] = (
    "minutes",
    "cpu_core_request_average",
    "cpu_core_usage_average",
    "cpu_core_usage_max",
    "cpu_core_hours",
    "ram_byte_request_average",
    "ram_byte_usage_average",
    "ram_byte_usage_max",
    "ram_byte_hours",
    "gpu_request_average",
    "gpu_usage_average",
    "gpu_count",
    "gpu_hours",
    "pv_bytes",
    "pv_byte_hours",
    "network_transfer_bytes",
    "network_receive_bytes",
)

# OpenCost's cost figures, reference only (column → OpenCost JSON field).
OPENCOST_COST_FIELDS: dict[str, str] = {
    "x_opencost_cpu_cost": "cpuCost",
    "x_opencost_cpu_cost_adjustment": "cpuCostAdjustment",
    "x_opencost_gpu_cost": "gpuCost",
    "x_opencost_gpu_cost_adjustment": "gpuCostAdjustment",
    "x_opencost_ram_cost": "ramCost",
    "x_opencost_ram_cost_adjustment": "ramCostAdjustment",
    "x_opencost_pv_cost": "pvCost",
    "x_opencost_pv_cost_adjustment": "pvCostAdjustment",
    "x_opencost_network_cost": "networkCost",
    "x_opencost_network_cost_adjustment": "networkCostAdjustment",
    "x_opencost_load_balancer_cost": "loadBalancerCost",
    "x_opencost_load_balancer_cost_adjustment": "loadBalancerCostAdjustment",
    "x_opencost_shared_cost": "sharedCost",
    "x_opencost_external_cost": "externalCost",
    "x_opencost_total_cost": "totalCost",
}

IDENTITY_COLUMNS: tuple[str, ...] = (
    "cluster",
    "node",
    "provider_id",
    "node_resource_id",
    "namespace",
    "controller_kind",
    "controller",
    "pod",
    "container",
    "allocation_name",  # OpenCost's key for the allocation, verbatim (e.g. "cluster/node/ns/pod/container")
)

FLAG_COLUMNS: tuple[str, ...] = ("is_idle", "is_unallocated", "is_unmounted")

K8S_USAGE_SCHEMA: dict[str, pl.DataType] = {
    "x_ChargeDay": pl.Date,
    **{name: pl.String for name in IDENTITY_COLUMNS},
    **{name: pl.Boolean for name in FLAG_COLUMNS},
    "labels": pl.String,
    "namespace_labels": pl.String,
    "annotations": pl.String,
    "services": pl.String,
    "window_start": TIMESTAMP,  # the set's window [start, end): one UTC day as the client requests it
    "window_end": TIMESTAMP,
    "running_start": TIMESTAMP,  # when the allocation actually ran inside the window (OpenCost start/end)
    "running_end": TIMESTAMP,
    **{name: F64 for name in QUANTITY_COLUMNS},
    "pv_claims": pl.String,
    **{name: MONEY for name in OPENCOST_COST_FIELDS},
    "x_SourceName": pl.String,
    "x_SourceFile": pl.String,
    "x_SourceRowNumber": pl.Int64,  # JSON: 1-based ordinal of the allocation in the payload; CSV: data row
}

_AZURE_PREFIX = "azure://"


def node_resource_id(provider_id: pl.Expr) -> pl.Expr:
    """A node's `spec.providerID` → the id its cloud bill uses for the instance (null when blank).

    * AWS `aws:///us-east-1a/i-0abc…` → `i-0abc…` (CUR/FOCUS `ResourceId` of the EC2 instance). OpenCost
      often reports the bare `i-…` already; that is kept as is.
    * Azure `azure:///subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Compute/
      virtualMachineScaleSets/<vmss>/virtualMachines/<n>` → the ARM id without the scheme, lower-cased
      (`/subscriptions/<s>/resourcegroups/<rg>/…/virtualmachines/<n>`), ARM ids being case-insensitive and
      cost exports lower-casing them. Note that Azure bills a scale set as one resource (the `…/<vmss>` prefix);
      matching a VMSS instance to its cost needs that prefix, or the VM name in the export's additional info.
    * GCP `gce://<project>/<zone>/<instance-name>` → `<instance-name>` (the billing export's `resource.name`).
    * anything else (kind, k3s, bare ids) → the text, trimmed.
    """
    text = provider_id.cast(pl.String).str.strip_chars()
    normalised = (
        pl.when(text.str.starts_with(_AZURE_PREFIX))
        .then(text.str.strip_prefix(_AZURE_PREFIX).str.to_lowercase())
        .when(text.str.contains(r"^(aws|gce)://"))
        .then(text.str.extract(r"([^/]+)/*$"))
        .otherwise(text)
    )
    return pl.when(text != "").then(normalised)


def empty_k8s_usage() -> pl.DataFrame:
    return pl.DataFrame(schema=K8S_USAGE_SCHEMA)
