"""Kubernetes allocation: the bill's node (and volume) cost split over the containers that ran on it.

Two entry points:

* `share_opencost` — OpenCost's `AllocationSet.AggregateBy` on already-priced allocations (float): aggregate by
  keys, share idle (`none`/`weighted`, by cluster or node), share allocations picked by a filter and a flat
  overhead (`weighted`/`even`). It reproduces OpenCost's unit-test fixture and documents the semantics the
  pipeline follows; it is not on the money path.
* `allocate_kubernetes` — the pipeline step: `cost_allocation` rows from direct allocation in, the same rows
  out with every Kubernetes node's (and claimed volume's) cost rows replaced by exact pieces per container,
  idle, and shared namespace.

How a node's cost is split (OpenCost semantics, reference `kubernetes-allocation-and-recommendations.md` §1):

1. Node cost = the node's rows in the bill that day (amortised EffectiveCost; BilledCost and ListCost are split
   with the same weights, row by row). AWS split-cost rows (`arn:aws:eks:…:pod/…`, operation `EKSPod-EC2`) are
   never nodes: they are passed through untouched, so node cost is counted once (from the instance rows).
2. CPU/RAM/GPU split (OpenCost spec Appendix A): the node's capacity is priced with `rules.kubernetes.
   price_ratio` — core-hours × cpu price : GiB-hours × ram price : GPU-hours × gpu price — and the parts are
   rescaled to the node's cost. Only the ratio of the prices matters.
   Capacity per resource = Σ containers' allocated amounts + the node's OpenCost `__idle__` rows (idle by
   node). A node without idle rows: capacity = what its containers were allocated, i.e. its whole cost goes
   to them (reported in `nodes_without_idle`). A negative idle row (OpenCost before PR #3393) is clamped to
   0: the containers then share that resource's cost in proportion to their allocation (counted in
   `negative_idle_clamped`).
3. A container's allocation per resource = max(request average, usage average) × running hours (CPU in
   cores, RAM in GiB = bytes / 1024³; GPU = request × hours). Its cost per resource = node cost_r ×
   allocation_r / capacity_r; idle_r = node cost_r − Σ containers' cost_r.
   Because every resource is priced on the same node cost, a container's share of the node is simply
   Σ_r alloc_r × price_r / Σ_r capacity_r × price_r — the node cost cancels out of the weights.
4. Idle (`rules.kubernetes.idle`):
   * `separate`: one `kubernetes_idle` piece per node row (`<cluster>/<node>/__idle__`), owned by the node
     row's own (direct) dimension values, rule `kubernetes:idle`.
   * `share_weighted`, `idle_by: node`: each resource's idle goes to the node's containers in proportion to
     their cost of that resource (OpenCost `computeIdleCoeffs`, key cluster/node) and is FOLDED into their
     container pieces (same node row, so no extra rows); their `UsageQuantity` then includes the idle
     core-/GiB-hours they received, as OpenCost adds them to `CPUCoreHours`/`RAMByteHours`.
   * `share_weighted`, `idle_by: cluster`: each node's idle goes to all containers of the cluster (that day),
     in proportion to their cost per resource. A node's idle can land on containers of other nodes, so
     per-container pieces would be quadratic (node rows × containers: millions a day at 10k containers);
     instead it lands as separate `kubernetes_idle` pieces per node row × receiving owner (the owner
     dimension values and rule of the receiving containers), `AllocatedResourceId` `<cluster>/<node>/__idle__`
     (whose idle it is).
   * Idle of a resource no container in scope uses (e.g. a GPU nobody requested) cannot be shared and stays
     as the node's idle piece (OpenCost step 10).
5. Shared namespaces (`shared_namespaces`, e.g. kube-system, monitoring): their containers' cost (after they
   received their idle share, as OpenCost step 6) is split over the other namespaces' containers of the SAME
   cluster and day — a cluster's system pods serve that cluster's workloads, not another cluster's (OpenCost
   shares over everything it sees, which is one cluster per OpenCost instance). `weighted`: in proportion to
   each receiving container's own cost before idle (OpenCost `computeShareCoeffs` uses pre-idle totals);
   `even`: each receiving namespace the same, within a namespace by cost. Pieces: `kubernetes_shared`, per
   source row × shared namespace × receiving owner (and rule), `AllocatedResourceId` `<cluster>/<shared
   namespace>` (what is paid for), the owner columns saying who pays; again not per receiving container, to
   stay linear in size. A cluster with no receiving containers keeps its shared namespaces' cost on their own
   container pieces.
6. Persistent volumes: `pv_claims` (`{"cluster=<c>:name=<pv>": {"byteHours": …, "providerID": …}}`) are matched
   to bill rows whose ResourceId is the volume's provider id (normalised like a node's, so
   `aws://us-east-1a/vol-0abc` → `vol-0abc`) or, without one, the PV name. A matched volume's rows are split
   over its claiming containers by byte-hours (storage is never idle, OpenCost §1.5); claims of shared
   namespaces follow rule 5. Unmatched claims are reported (`unmatched_volumes`).

Owners of a container piece, per dimension: the pod label keys `rules.kubernetes.owner_labels[dim]` (first
present), then the same keys in the namespace's labels, then `rules.kubernetes.namespace_owners`, then (other
dimensions) the owner's values in `rules.owners`, then (other dimensions) the node row's value, else
`rules.default_owner`; values normalised like tags. Rule ids: `kubernetes:label:<owner dim>`,
`kubernetes:namespace_label:<owner dim>`, `kubernetes:namespace_owner:<namespace>`, `kubernetes:default`,
`kubernetes:idle`. Shared and cluster-idle pieces carry the receivers' values; where those are not set by
Kubernetes metadata (non-owner dimensions), the split row's own value fills in.

Pieces keep every COST_KEYS column, `x_HasRequiredTags` and the direct dimension fallbacks of the bill row
they come from (x_ChargeDay, ResourceId = the node or volume, …). Container pieces: `AllocatedResourceId`
`cluster/namespace/pod/container`, `AllocatedResourceName` the controller (else the container),
`AllocatedTags` the pod labels JSON. `AllocatedMethodDetails` (FOCUS 1.3 shape) has one element per resource
the piece carries: `AllocatedRatio` = its share of the row through that resource (Σ over a row's pieces
and elements = 1), `UsageUnit` CPU (core-hours) / Memory (GiB-hours) / GPU (GPU-hours) / Storage
(GiB-hours), `UsageQuantity` = the quantity behind it (including idle received when idle is folded in).
Only containers on priced nodes weigh in shared-namespace and cluster-idle sharing.

Money: weights are floats; each bill row is split with `split_exact` (group = the row), so Σ pieces = the row
exactly, for each amount. Containers on a node that has no bill row that day are not priced
(`unmatched_nodes`); no money row is ever dropped (a row that gets no piece passes through unchanged).
Everything is vectorised polars; there is no Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from finops_pipeline.allocation.direct import first_present, normalise_value
from finops_pipeline.allocation.rules import AllocationRules
from finops_pipeline.allocation.schema import (
    AMOUNTS,
    METHOD_KUBERNETES,
    METHOD_KUBERNETES_IDLE,
    METHOD_KUBERNETES_SHARED,
    cost_allocation_schema,
    dimension_column,
)
from finops_pipeline.allocation.split import split_exact
from finops_pipeline.sources.kubernetes.schema import node_resource_id

GIB = 1024**3
F64 = pl.Float64
DAY = "x_ChargeDay"
# An AWS Split Cost Allocation Data row (line_item_operation EKSPod-EC2): a pod's view of an instance cost
# that the instance's own rows already carry. Never a node, never split.
EKS_POD_RESOURCE_ID = r"^arn:aws:eks:[^:]*:[^:]*:pod/"
IDLE_RULE = "kubernetes:idle"

RESOURCES = ("cpu", "ram", "gpu")  # priced from the node, may be idle
PIECE_RESOURCES = ("cpu", "ram", "gpu", "pv")  # carried on pieces (ratio + quantity)
USAGE_UNITS = {"cpu": "CPU", "ram": "Memory", "gpu": "GPU", "pv": "Storage"}

# piece kinds (also their order inside a node row)
_CONTAINER, _SHARED, _IDLE_SHARE, _IDLE = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------------------
# OpenCost AggregateBy on priced allocations (semantics reference; float)
# ---------------------------------------------------------------------------------------------------------

OPENCOST_COSTS = ("cpu_cost", "gpu_cost", "ram_cost", "pv_cost", "network_cost", "load_balancer_cost")
IDLE_KEY = "__idle__"


def share_opencost(
    allocations: pl.DataFrame,
    idle: pl.DataFrame | None = None,
    *,
    aggregate_by: Sequence[str],
    share_idle: Literal["none", "weighted"] = "none",
    idle_by: Literal["cluster", "node"] = "cluster",
    share_namespaces: Sequence[str] = (),
    share_labels: dict[str, str] | None = None,
    share_split: Literal["weighted", "even"] = "weighted",
    shared_overhead: float = 0.0,
) -> pl.DataFrame:
    """OpenCost `AllocationSet.AggregateBy` (core/pkg/opencost/allocation.go) on priced allocations.

    `allocations`: one row per allocation with `cluster`, `node`, `namespace`, `labels` (JSON object text),
    the `aggregate_by` columns and costs `cpu_cost, gpu_cost, ram_cost, pv_cost, network_cost,
    load_balancer_cost` (missing ones count 0). `idle`: OpenCost's idle allocations, `cluster` (and `node`
    for `idle_by="node"`) with `cpu_cost, gpu_cost, ram_cost`.

    * `share_idle="weighted"`: each idle key's (cluster, or cluster/node) idle cost per resource goes to that
      key's allocations (shared ones included) in proportion to their cost of that resource
      (`computeIdleCoeffs`); idle of a resource no allocation there has stays `__idle__`. `"none"`: idle
      stays one `__idle__` row (OpenCost deprecated even idle sharing).
    * Shared allocations: namespace in `share_namespaces`, or a label equal to its value in `share_labels`
      (`{"app": "app1"}`). They are taken out before aggregation; their total (including the idle they
      received) plus `shared_overhead` (a total amount: OpenCost's SharedHourlyCosts × window hours) is split
      over the keys of the other allocations: `weighted` by each key's total cost before idle and sharing
      (`computeShareCoeffs`), `even` equally per key. Unlike idle, sharing is not per cluster.

    Returns the `aggregate_by` columns (`__idle__` in each for the idle row) and `cpu_cost, gpu_cost,
    ram_cost, other_cost, shared_cost, total_cost`, sorted by key.
    """
    keys = list(aggregate_by)
    frame = allocations.with_columns(
        [pl.lit(0.0).alias(c) for c in OPENCOST_COSTS if c not in allocations.columns]
    ).with_columns(pl.col(c).cast(F64).fill_null(0.0) for c in OPENCOST_COSTS)
    shared = pl.lit(False)
    if share_namespaces:
        shared = shared | pl.col("namespace").is_in(list(share_namespaces))
    for label, value in (share_labels or {}).items():
        shared = shared | (pl.col("labels").str.json_path_match(f"$.{label}") == value).fill_null(False)
    frame = frame.with_columns(
        _shared=shared,
        _base=pl.sum_horizontal(OPENCOST_COSTS),
        other_cost=pl.sum_horizontal("pv_cost", "network_cost", "load_balancer_cost"),
    )
    idle_cols = [f"{r}_cost" for r in ("cpu", "gpu", "ram")]
    undistributed = {c: 0.0 for c in idle_cols}
    if idle is not None and idle.height:
        idle_keys = ["cluster"] if idle_by == "cluster" else ["cluster", "node"]
        idle_sum = idle.group_by(idle_keys).agg(
            pl.col(c).cast(F64).fill_null(0.0).sum().alias(f"_idle_{c}") for c in idle_cols
        )
        if share_idle == "weighted":
            totals = frame.group_by(idle_keys).agg(pl.col(c).sum().alias(f"_tot_{c}") for c in idle_cols)
            idle_sum = idle_sum.join(totals, on=idle_keys, how="left")
            frame = frame.join(idle_sum, on=idle_keys, how="left").with_columns(
                pl.col(c)
                + pl.when(pl.col(f"_tot_{c}") > 0)
                .then(pl.col(f"_idle_{c}") * pl.col(c) / pl.col(f"_tot_{c}"))
                .otherwise(0.0)
                for c in idle_cols
            )
            for c in idle_cols:
                left = idle_sum.filter(pl.col(f"_tot_{c}").fill_null(0) <= 0)[f"_idle_{c}"].sum()
                undistributed[c] = float(left or 0.0)
        else:
            for c in idle_cols:
                undistributed[c] = float(idle_sum[f"_idle_{c}"].sum() or 0.0)

    main = frame.filter(~pl.col("_shared"))
    sums = [pl.col(c).sum() for c in ("cpu_cost", "gpu_cost", "ram_cost", "other_cost")]
    out = main.group_by(keys).agg(*sums, _weight=pl.col("_base").sum())
    shared_total = float(
        frame.filter(pl.col("_shared")).select(pl.sum_horizontal(OPENCOST_COSTS).sum()).item() or 0.0
    ) + float(shared_overhead)
    even = pl.lit(1.0) / pl.len()
    coefficient = even if share_split == "even" else pl.col("_weight") / pl.col("_weight").sum()
    out = out.with_columns(shared_cost=pl.lit(shared_total) * coefficient).drop("_weight")
    if any(undistributed.values()):
        idle_row = {k: IDLE_KEY for k in keys} | undistributed | {"other_cost": 0.0, "shared_cost": 0.0}
        out = pl.concat([out, pl.DataFrame([idle_row], schema=out.schema)])
    return out.with_columns(
        total_cost=pl.sum_horizontal("cpu_cost", "gpu_cost", "ram_cost", "other_cost", "shared_cost")
    ).sort(keys)


# ---------------------------------------------------------------------------------------------------------
# The pipeline step
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KubernetesAllocation:
    """The allocated frame and what could not be matched.

    * `frame`: `cost_allocation_schema(dims)`; node/volume rows replaced by their pieces, other rows as given.
    * `unmatched_nodes`: node-days in the usage with no bill row (x_ChargeDay, cluster, node,
      node_resource_id, containers); their containers are not priced.
    * `nodes_without_idle`: priced node-days without OpenCost idle rows (whole cost went to the containers).
    * `negative_idle_clamped`: node-day × resource cases where OpenCost's idle was negative and clamped to 0.
    * `unmatched_volumes`: PV claims with no bill row (x_ChargeDay, cluster, volume_id, claims).
    * `node_rows` / `volume_rows`: bill rows that were split.
    """

    frame: pl.DataFrame
    unmatched_nodes: pl.DataFrame
    nodes_without_idle: pl.DataFrame
    negative_idle_clamped: int
    unmatched_volumes: pl.DataFrame
    node_rows: int
    volume_rows: int

    def diagnostics(self, examples: int = 10) -> dict[str, int | list[str]]:
        """Counts (and a few example ids) for run metadata."""
        ids = self.unmatched_nodes["node_resource_id"].drop_nulls().unique().sort().head(examples).to_list()
        return {
            "node_rows_split": self.node_rows,
            "volume_rows_split": self.volume_rows,
            "unmatched_node_days": self.unmatched_nodes.height,
            "unmatched_node_examples": ids,
            "nodes_without_idle": self.nodes_without_idle.height,
            "negative_idle_clamped": self.negative_idle_clamped,
            "unmatched_volume_claims": self.unmatched_volumes.height,
        }


def allocate_kubernetes(
    direct: pl.DataFrame | pl.LazyFrame, usage: pl.DataFrame | pl.LazyFrame, rules: AllocationRules
) -> KubernetesAllocation:
    """Replace every Kubernetes node's (and claimed volume's) cost rows in `direct` by their allocated pieces.

    `direct`: `allocate_direct` output (`cost_allocation_schema`); `usage`: `core.k8s_usage` for the same days.
    See the module docstring for the semantics.
    """
    bill = (direct.collect() if isinstance(direct, pl.LazyFrame) else direct).with_row_index("_row")
    usage_df = usage.collect() if isinstance(usage, pl.LazyFrame) else usage
    k8s = rules.kubernetes
    dims = list(rules.dimensions)
    schema = cost_allocation_schema(dims)
    prices = {
        "cpu": float(k8s.price_ratio.cpu_core_hour),
        "ram": float(k8s.price_ratio.ram_gib_hour),
        "gpu": float(k8s.price_ratio.gpu_hour),
    }
    owner_cols = [f"_o_{d}" for d in dims]

    containers = _containers(usage_df, rules)
    nodes = _nodes(containers, usage_df, prices)

    # --- bill rows of nodes and their cost per day --------------------------------------------------------
    eks_pod = pl.col("ResourceId").fill_null("").str.contains(EKS_POD_RESOURCE_ID)
    candidates = bill.filter(~eks_pod & pl.col("ResourceId").is_not_null())
    node_keys = nodes.select(DAY, pl.col("node_resource_id").alias("ResourceId"))
    node_rows = candidates.join(node_keys, on=[DAY, "ResourceId"], how="semi")
    node_cost = node_rows.group_by(DAY, "ResourceId").agg(
        _node_cost=pl.col("EffectiveCost").cast(F64).sum().clip(lower_bound=0.0)
    )
    nodes = nodes.join(node_cost, left_on=[DAY, "node_resource_id"], right_on=[DAY, "ResourceId"], how="left")
    priced = nodes.filter(pl.col("_node_cost").is_not_null())

    # --- containers on priced nodes: own share, node-scope idle ------------------------------------------
    node_cols = [DAY, "node_resource_id", "_D", "_node_cost"] + [
        f"{p}_{r}" for r in RESOURCES for p in ("_alloc", "_if", "_iq")
    ]
    placed = containers.join(priced.select(node_cols), on=[DAY, "node_resource_id"], how="inner")
    share_node_idle = k8s.idle == "share_weighted" and k8s.idle_by == "node"
    placed = placed.with_columns(
        pl.when(pl.col("_D") > 0).then(pl.col(f"_q_{r}") * prices[r] / pl.col("_D")).otherwise(0.0).alias(f"_own_{r}")
        for r in RESOURCES
    ).with_columns(
        _cost=pl.col("_node_cost") * pl.sum_horizontal(f"_own_{r}" for r in RESOURCES),
        **{f"_cost_{r}": pl.col("_node_cost") * pl.col(f"_own_{r}") for r in RESOURCES},
    )
    ratio_exprs, quantity_exprs = {}, {}
    for r in RESOURCES:
        own_part = pl.col(f"_q_{r}") / pl.col(f"_alloc_{r}")  # the container's part of the node's allocation
        idle_ratio = pl.when(pl.col(f"_alloc_{r}") > 0).then(pl.col(f"_if_{r}") * own_part).otherwise(0.0)
        idle_quantity = pl.when(pl.col(f"_alloc_{r}") > 0).then(pl.col(f"_iq_{r}") * own_part).otherwise(0.0)
        ratio_exprs[f"_r_{r}"] = pl.col(f"_own_{r}") + (idle_ratio if share_node_idle else 0.0)
        quantity_exprs[f"_q_{r}"] = pl.col(f"_q_{r}") + (idle_quantity if share_node_idle else 0.0)
    node_pieces = placed.with_columns(
        _asset=pl.col("node_resource_id"), **ratio_exprs, **quantity_exprs, _r_pv=0.0, _q_pv=0.0
    )

    # --- receivers of shared-namespace cost: owner × rule per cluster-day, with their weight ----------------
    shared_ns = list(k8s.shared_namespaces)
    owner_keys = [*owner_cols, "_rule"]
    placed = placed.with_columns(_recv_ns=pl.when(pl.col("namespace").is_in(shared_ns)).then(pl.col("namespace")))
    targets = _share_targets(placed.filter(pl.col("_recv_ns").is_null()), owner_keys, k8s.shared_namespace_split)
    active = targets.select(DAY, "cluster").unique().with_columns(_active=pl.lit(True))

    # --- volumes --------------------------------------------------------------------------------------------
    claims = _claims(containers)
    volume_keys = claims.select(DAY, pl.col("_volume").alias("ResourceId")).unique()
    volume_rows = candidates.join(node_keys, on=[DAY, "ResourceId"], how="anti").join(
        volume_keys, on=[DAY, "ResourceId"], how="semi"
    )
    billed_volumes = volume_rows.select(DAY, pl.col("ResourceId").alias("_volume")).unique()
    volume_pieces = claims.join(billed_volumes, on=[DAY, "_volume"], how="semi").with_columns(
        _asset=pl.col("_volume"),
        _r_pv=pl.when(pl.col("_bh").sum().over(DAY, "_volume") > 0)
        .then(pl.col("_bh") / pl.col("_bh").sum().over(DAY, "_volume"))
        .otherwise(1.0 / pl.len().over(DAY, "_volume")),
        _q_pv=pl.col("_bh") / GIB,
        **{f"_r_{r}": pl.lit(0.0) for r in RESOURCES},
        **{f"_q_{r}": pl.lit(0.0) for r in RESOURCES},
    )
    unmatched_volumes = (
        claims.join(billed_volumes, on=[DAY, "_volume"], how="anti")
        .group_by(DAY, "cluster", "_volume")
        .agg(claims=pl.len())
        .rename({"_volume": "volume_id"})
        .sort(DAY, "cluster", "volume_id")
    )

    # --- primary container pieces; those of shared namespaces go to the targets -------------------------------
    piece_cols = [f"_{p}_{r}" for r in PIECE_RESOURCES for p in ("r", "q")]
    primary = pl.concat(
        [
            node_pieces.select(DAY, "_asset", *_CONTAINER_ATTRS, *owner_cols, "_rule", *piece_cols),
            volume_pieces.select(DAY, "_asset", *_CONTAINER_ATTRS, *owner_cols, "_rule", *piece_cols),
        ]
    ).join(active, on=[DAY, "cluster"], how="left")
    to_share = pl.col("namespace").is_in(shared_ns) & pl.col("_active").fill_null(False)
    container_pieces = primary.filter(~to_share).with_columns(
        _kind=pl.lit(_CONTAINER),
        _method=pl.lit(METHOD_KUBERNETES),
        _alloc_id=pl.col("_container_id"),
        _alloc_name=pl.col("_workload"),
        _tags=pl.col("labels"),
    )
    share_sources = [primary.filter(to_share).select(DAY, "_asset", "cluster", "namespace", *piece_cols)]

    # --- idle -------------------------------------------------------------------------------------------------
    idle_ratio = {r: pl.col(f"_if_{r}") for r in RESOURCES}
    idle_share_pieces = None
    if k8s.idle == "share_weighted" and k8s.idle_by == "node":
        idle_ratio = {r: pl.when(pl.col(f"_alloc_{r}") > 0).then(0.0).otherwise(pl.col(f"_if_{r}")) for r in RESOURCES}
    elif k8s.idle == "share_weighted":
        # each node's idle → the cluster's receivers (owner × rule; shared namespaces apart) by cost per resource
        receivers = placed.group_by(DAY, "cluster", "_recv_ns", *owner_keys).agg(
            pl.col(f"_cost_{r}").sum().alias(f"_gcost_{r}") for r in RESOURCES
        )
        cluster_cost = receivers.group_by(DAY, "cluster").agg(
            pl.col(f"_gcost_{r}").sum().alias(f"_C_{r}") for r in RESOURCES
        )
        shares = receivers.join(cluster_cost, on=[DAY, "cluster"]).select(
            DAY,
            "cluster",
            "_recv_ns",
            *owner_keys,
            *(
                pl.when(pl.col(f"_C_{r}") > 0)
                .then(pl.col(f"_gcost_{r}") / pl.col(f"_C_{r}"))
                .otherwise(0.0)
                .alias(f"_a_{r}")
                for r in RESOURCES
            ),
        )
        crossed = (
            priced.select(DAY, "cluster", "node", pl.col("node_resource_id").alias("_asset"), *_idle_cols())
            .join(shares, on=[DAY, "cluster"])
            .with_columns(
                **{f"_r_{r}": pl.col(f"_if_{r}") * pl.col(f"_a_{r}") for r in RESOURCES},
                **{f"_q_{r}": pl.col(f"_iq_{r}") * pl.col(f"_a_{r}") for r in RESOURCES},
                _r_pv=0.0,
                _q_pv=0.0,
            )
            .join(active, on=[DAY, "cluster"], how="left")
        )
        to_share_idle = pl.col("_recv_ns").is_not_null() & pl.col("_active").fill_null(False)
        share_sources.append(
            crossed.filter(to_share_idle).select(
                DAY, "_asset", "cluster", pl.col("_recv_ns").alias("namespace"), *piece_cols
            )
        )
        # (a shared namespace's receivers in a cluster without targets merge with the same owner's others)
        idle_share_pieces = (
            crossed.filter(~to_share_idle)
            .group_by(DAY, "_asset", "cluster", "node", *owner_keys)
            .agg(pl.col(c).sum() for c in piece_cols)
        ).with_columns(
            _kind=pl.lit(_IDLE_SHARE),
            _method=pl.lit(METHOD_KUBERNETES_IDLE),
            _alloc_id=_idle_id(),
            _alloc_name=pl.col("node"),
            _tags=pl.lit(None, pl.String),
        )
        priced = priced.join(cluster_cost, on=[DAY, "cluster"], how="left")
        idle_ratio = {
            r: pl.when(pl.col(f"_C_{r}").fill_null(0) > 0).then(0.0).otherwise(pl.col(f"_if_{r}")) for r in RESOURCES
        }
    idle_pieces = priced.select(
        DAY,
        "cluster",
        _asset=pl.col("node_resource_id"),
        _kind=pl.lit(_IDLE),
        _method=pl.lit(METHOD_KUBERNETES_IDLE),
        _alloc_id=_idle_id(),
        _alloc_name=pl.col("node"),
        _tags=pl.lit(None, pl.String),
        _rule=pl.lit(IDLE_RULE),
        **{c: pl.lit(None, pl.String) for c in owner_cols},
        **{f"_r_{r}": idle_ratio[r] for r in RESOURCES},
        **{f"_q_{r}": pl.when(idle_ratio[r] > 0).then(pl.col(f"_iq_{r}")).otherwise(0.0) for r in RESOURCES},
        _r_pv=0.0,
        _q_pv=0.0,
        _r_other=pl.when(pl.col("_D") > 0).then(0.0).otherwise(1.0),  # nothing known about the node: all idle
    )

    # --- shared namespaces → targets ------------------------------------------------------------------------
    sources = (
        pl.concat(share_sources)
        .group_by(DAY, "_asset", "cluster", "namespace")
        .agg(pl.col(c).sum() for c in piece_cols)
        .rename({"namespace": "_source_ns"})
    )
    shared = sources.join(targets, on=[DAY, "cluster"]).with_columns(pl.col(c) * pl.col("_w") for c in piece_cols)
    shared_pieces = shared.with_columns(
        _kind=pl.lit(_SHARED),
        _method=pl.lit(METHOD_KUBERNETES_SHARED),
        _alloc_id=pl.concat_str(pl.col("cluster").fill_null(""), pl.col("_source_ns"), separator="/"),
        _alloc_name=pl.col("_source_ns"),
        _tags=pl.lit(None, pl.String),
    )

    # --- all pieces → split each bill row exactly -----------------------------------------------------------
    common = [DAY, "_asset", "_kind", "_method", "_alloc_id", "_alloc_name", "_tags", "_rule", *owner_cols]
    parts = [container_pieces, idle_pieces, shared_pieces] + (
        [idle_share_pieces] if idle_share_pieces is not None else []
    )
    pieces = (
        pl.concat(
            [p.select(*common, *piece_cols, *(["_r_other"] if "_r_other" in p.columns else [])) for p in parts],
            how="diagonal_relaxed",
        )
        .with_columns(pl.col("_r_other").fill_null(0.0))
        .with_columns(_fraction=pl.sum_horizontal(*(f"_r_{r}" for r in PIECE_RESOURCES), "_r_other"))
        .filter(pl.col("_fraction") > 0)
        .sort([DAY, "_asset", "_kind", "_alloc_id", "_rule", *owner_cols], nulls_last=True)
        .with_row_index("_piece")
    )
    asset_rows = pl.concat([node_rows, volume_rows])
    joined = asset_rows.join(pieces, left_on=[DAY, "ResourceId"], right_on=[DAY, "_asset"], how="inner")
    split = split_exact(joined, group=["_row"], weight="_fraction", amounts=list(AMOUNTS), tie_break=["_piece"])
    dim_values = {
        dimension_column(d): pl.coalesce(pl.col(f"_o_{d}"), pl.col(dimension_column(d)), pl.lit(rules.default_owner))
        for d in dims
    }
    allocated = split.with_columns(
        **dim_values,
        AllocatedMethodId=pl.col("_method"),
        AllocatedMethodDetails=_details(),
        AllocatedResourceId=pl.col("_alloc_id"),
        AllocatedResourceName=pl.col("_alloc_name"),
        AllocatedTags=pl.col("_tags"),
        x_AllocationRuleId=pl.col("_rule"),
    ).sort("_row", "_piece")
    untouched = bill.join(
        asset_rows.join(pieces, left_on=[DAY, "ResourceId"], right_on=[DAY, "_asset"], how="semi").select("_row"),
        on="_row",
        how="anti",
    )
    frame = pl.concat(
        [
            untouched.select([pl.col(n).cast(t) for n, t in schema.items()]),
            allocated.select([pl.col(n).cast(t) for n, t in schema.items()]),
        ]
    )

    # --- diagnostics ------------------------------------------------------------------------------------------
    unmatched = pl.concat(
        [
            nodes.filter(pl.col("_node_cost").is_null()).select(
                DAY, "cluster", "node", "node_resource_id", containers="_n"
            ),
            containers.filter(pl.col("node_resource_id").is_null())
            .group_by(DAY, "cluster", "node")
            .agg(containers=pl.len().cast(pl.UInt32))
            .with_columns(node_resource_id=pl.lit(None, pl.String))
            .select(DAY, "cluster", "node", "node_resource_id", "containers"),
        ]
    ).sort(DAY, "cluster", "node", nulls_last=True)
    without_idle = (
        priced.filter(~pl.col("_has_idle"))
        .select(DAY, "cluster", "node", "node_resource_id")
        .sort(DAY, "cluster", "node")
    )
    clamped = int(
        priced.select(pl.sum_horizontal((pl.col(f"_idle_{r}") < 0).cast(pl.Int64) for r in RESOURCES).sum()).item() or 0
    )
    return KubernetesAllocation(
        frame=frame,
        unmatched_nodes=unmatched,
        nodes_without_idle=without_idle,
        negative_idle_clamped=clamped,
        unmatched_volumes=unmatched_volumes,
        node_rows=node_rows.height,
        volume_rows=volume_rows.height,
    )


# container attributes carried from the usage to the pieces
_CONTAINER_ATTRS = ("cluster", "namespace", "labels", "namespace_labels", "_container_id", "_workload")


def _idle_cols() -> list[str]:
    return [f"{p}_{r}" for r in RESOURCES for p in ("_if", "_iq")]


def _containers(usage: pl.DataFrame, rules: AllocationRules) -> pl.DataFrame:
    """Container rows of the usage with allocated quantities (`_q_cpu` core-h, `_q_ram` GiB-h, `_q_gpu` GPU-h)
    and owners (`_o_<dim>`, null = not decided by Kubernetes metadata; the owner dimension is always set)."""
    flag = lambda name: pl.col(name).fill_null(False)  # noqa: E731
    hours = pl.col("minutes").fill_null(0.0) / 60.0
    frame = usage.filter(~flag("is_idle") & ~flag("is_unmounted")).with_columns(
        _q_cpu=pl.coalesce(
            pl.max_horizontal("cpu_core_request_average", "cpu_core_usage_average") * hours, "cpu_core_hours", 0.0
        ).clip(lower_bound=0.0),
        _q_ram=(
            pl.coalesce(
                pl.max_horizontal("ram_byte_request_average", "ram_byte_usage_average") * hours, "ram_byte_hours", 0.0
            )
            / GIB
        ).clip(lower_bound=0.0),
        _q_gpu=pl.coalesce(pl.col("gpu_request_average") * hours, "gpu_hours", 0.0).clip(lower_bound=0.0),
        _container_id=pl.concat_str(
            [pl.col(c).fill_null("") for c in ("cluster", "namespace", "pod", "container")], separator="/"
        ),
        _workload=pl.coalesce(
            pl.when(pl.col("controller").str.strip_chars() != "").then("controller"), "container", "pod"
        ),
    )
    return _owners(frame, rules)


def _owners(frame: pl.DataFrame, rules: AllocationRules) -> pl.DataFrame:
    k8s = rules.kubernetes
    owner_dim = rules.owner_dimension
    label_keys = list(dict.fromkeys(key for keys in k8s.owner_labels.values() for key in keys))
    if label_keys:
        struct = pl.Struct({key: pl.String for key in label_keys})
        frame = frame.with_columns(
            _pod_labels=_json_object(pl.col("labels")).str.json_decode(struct),
            _ns_label_struct=_json_object(pl.col("namespace_labels")).str.json_decode(struct),
        )
    null = pl.lit(None, pl.String)
    found: dict[str, tuple[pl.Expr, pl.Expr, pl.Expr]] = {}
    for name, dimension in rules.dimensions.items():
        keys = k8s.owner_labels.get(name, [])
        from_label = normalise_value(first_present(pl.col("_pod_labels"), keys), dimension) if keys else null
        from_ns_label = normalise_value(first_present(pl.col("_ns_label_struct"), keys), dimension) if keys else null
        ns_map = {ns: values[name] for ns, values in k8s.namespace_owners.items() if name in values}
        from_ns = (
            normalise_value(pl.col("namespace").replace_strict(ns_map, default=None, return_dtype=pl.String), dimension)
            if ns_map
            else null
        )
        found[name] = (from_label, from_ns_label, from_ns)
    label, ns_label, ns_owner = found[owner_dim]
    rule = (
        pl.when(label.is_not_null())
        .then(pl.lit(f"kubernetes:label:{owner_dim}"))
        .when(ns_label.is_not_null())
        .then(pl.lit(f"kubernetes:namespace_label:{owner_dim}"))
        .when(ns_owner.is_not_null())
        .then(pl.lit("kubernetes:namespace_owner:") + pl.col("namespace"))
        .otherwise(pl.lit("kubernetes:default"))
    )
    frame = frame.with_columns(
        pl.coalesce(label, ns_label, ns_owner, pl.lit(rules.default_owner)).alias(f"_o_{owner_dim}"),
        rule.alias("_rule"),
    )
    others = {}
    for name in rules.dimensions:
        if name == owner_dim:
            continue
        from_owner = pl.col(f"_o_{owner_dim}").replace_strict(
            {owner: values[name] for owner, values in rules.owners.items() if name in values},
            default=None,
            return_dtype=pl.String,
        )
        others[f"_o_{name}"] = pl.coalesce(*found[name], from_owner)
    return frame.with_columns(**others).drop("_pod_labels", "_ns_label_struct", strict=False)


def _json_object(text: pl.Expr) -> pl.Expr:
    stripped = text.str.strip_chars()
    return pl.when(stripped.is_null() | (stripped == "")).then(pl.lit("{}")).otherwise(stripped)


def _nodes(containers: pl.DataFrame, usage: pl.DataFrame, prices: dict[str, float]) -> pl.DataFrame:
    """Per node-day (x_ChargeDay, node_resource_id): allocated and idle quantities, capacity, idle fractions.

    `_D` = Σ_r capacity_r × price_r; `_if_r` = the node's idle fraction of resource r (its share of the node's
    cost); `_iq_r` = idle quantity (clamped at 0); `_idle_r` the raw idle rows (for the clamp count)."""
    keyed = pl.col("node_resource_id").is_not_null()
    allocated = (
        containers.filter(keyed)
        .group_by(DAY, "node_resource_id")
        .agg(
            pl.col("cluster").first(),
            pl.col("node").first(),
            _n=pl.len().cast(pl.UInt32),
            **{f"_alloc_{r}": pl.col(f"_q_{r}").sum() for r in RESOURCES},
        )
    )
    idle_rows = usage.filter(pl.col("is_idle").fill_null(False) & keyed)
    idle = idle_rows.group_by(DAY, "node_resource_id").agg(
        pl.col("cluster").first().alias("_idle_cluster"),
        pl.col("node").first().alias("_idle_node"),
        _idle_cpu=pl.col("cpu_core_hours").fill_null(0.0).sum(),
        _idle_ram=pl.col("ram_byte_hours").fill_null(0.0).sum() / GIB,
        _idle_gpu=pl.col("gpu_hours").fill_null(0.0).sum(),
        _has_idle=pl.lit(True),
    )
    nodes = allocated.join(idle, on=[DAY, "node_resource_id"], how="full", coalesce=True).with_columns(
        cluster=pl.coalesce("cluster", "_idle_cluster"),
        node=pl.coalesce("node", "_idle_node"),
        _n=pl.col("_n").fill_null(0),
        _has_idle=pl.col("_has_idle").fill_null(False),
        **{f"_alloc_{r}": pl.col(f"_alloc_{r}").fill_null(0.0) for r in RESOURCES},
        **{f"_idle_{r}": pl.col(f"_idle_{r}").fill_null(0.0) for r in RESOURCES},
    )
    nodes = nodes.with_columns(
        **{f"_iq_{r}": pl.col(f"_idle_{r}").clip(lower_bound=0.0) for r in RESOURCES},
    ).with_columns(
        _D=pl.sum_horizontal((pl.col(f"_alloc_{r}") + pl.col(f"_iq_{r}")) * prices[r] for r in RESOURCES),
    )
    return nodes.with_columns(
        pl.when(pl.col("_D") > 0).then(pl.col(f"_iq_{r}") * prices[r] / pl.col("_D")).otherwise(0.0).alias(f"_if_{r}")
        for r in RESOURCES
    ).drop("_idle_cluster", "_idle_node")


def _share_targets(containers: pl.DataFrame, owner_keys: list[str], split: str) -> pl.DataFrame:
    """Receivers (owner × rule) of shared-namespace cost per cluster-day, weight `_w` (Σ = 1 per cluster-day).

    `weighted`: by the receiving containers' own cost before idle; `even`: each namespace the same, within it
    by cost (evenly over its receivers when it has no cost)."""
    cluster_day = [DAY, "cluster"]
    per_ns = containers.group_by(*cluster_day, "namespace", *owner_keys).agg(_gcost=pl.col("_cost").sum())
    if split == "weighted":
        total = pl.col("_gcost").sum().over(cluster_day)
        weight = pl.when(total > 0).then(pl.col("_gcost") / total)
    else:
        namespace = [*cluster_day, "namespace"]
        ns_cost = pl.col("_gcost").sum().over(namespace)
        within = pl.when(ns_cost > 0).then(pl.col("_gcost") / ns_cost).otherwise(1.0 / pl.len().over(namespace))
        weight = within / pl.col("namespace").n_unique().over(cluster_day)
    return (
        per_ns.with_columns(_w=weight)
        .group_by(*cluster_day, *owner_keys)
        .agg(pl.col("_w").sum())
        .filter(pl.col("_w") > 0)
    )


def _idle_id() -> pl.Expr:
    return pl.concat_str(
        pl.col("cluster").fill_null(""), pl.col("node").fill_null(""), pl.lit("__idle__"), separator="/"
    )


_CLAIM = r'"cluster=[^"]*"\s*:\s*\{[^{}]*\}'


def _claims(containers: pl.DataFrame) -> pl.DataFrame:
    """One row per container × PV claim: `_volume` (the bill's ResourceId for it) and `_bh` (byte-hours)."""
    with_claims = containers.filter(pl.col("pv_claims").is_not_null())
    owner_cols = [c for c in containers.columns if c.startswith("_o_")]
    claims = (
        with_claims.select(
            DAY, *_CONTAINER_ATTRS, *owner_cols, "_rule", _claim=pl.col("pv_claims").str.extract_all(_CLAIM)
        )
        .explode("_claim")
        .filter(pl.col("_claim").is_not_null())
    )
    name = pl.col("_claim").str.extract(r'^"cluster=[^"]*?:name=([^"]*)"', 1)
    provider = node_resource_id(pl.col("_claim").str.extract(r'"providerID"\s*:\s*"([^"]*)"', 1))
    return claims.with_columns(
        _volume=pl.coalesce(provider, name),
        _bh=pl.col("_claim")
        .str.extract(r'"byteHours"\s*:\s*([-+0-9.eE]+)', 1)
        .cast(F64)
        .fill_null(0.0)
        .clip(lower_bound=0.0),
    ).filter(pl.col("_volume").is_not_null())


def _number(column: str) -> pl.Expr:
    return pl.col(column).round(10).cast(pl.String)


def _details() -> pl.Expr:
    """FOCUS 1.3 `AllocatedMethodDetails`: one element per resource the piece carries (ratio of the charge)."""
    elements = []
    for r in PIECE_RESOURCES:
        text = pl.concat_str(
            pl.lit('{"AllocatedRatio":'),
            _number(f"_r_{r}"),
            pl.lit(f',"UsageUnit":"{USAGE_UNITS[r]}","UsageQuantity":'),
            _number(f"_q_{r}"),
            pl.lit("}"),
        )
        elements.append(pl.when((pl.col(f"_r_{r}") > 0) | (pl.col(f"_q_{r}") > 0)).then(text))
    elements.append(
        pl.when(pl.col("_r_other") > 0).then(
            pl.concat_str(pl.lit('{"AllocatedRatio":'), _number("_r_other"), pl.lit("}"))
        )
    )
    body = pl.concat_str(elements, separator=",", ignore_nulls=True)
    return pl.concat_str(pl.lit('{"Elements":['), body, pl.lit("]}"))
