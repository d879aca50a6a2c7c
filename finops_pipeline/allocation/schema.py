"""`outputs.cost_allocation`: every cost of `core.focus_costs`, split to owners, one row per piece.

Grain: day × the cost's keys (`COST_KEYS`, what the bill says it is) × owner per dimension × method × rule.
The allocation columns are named after FOCUS 1.3's allocation extension, so the table reads as split-cost
FOCUS data:

* `AllocatedMethodId`: how the piece was placed: `direct` (tags, account map or the default owner),
  `kubernetes` (a container's share of its node), `kubernetes_idle` (a node's unallocated capacity, when
  idle is kept separate), `kubernetes_shared` (a share of a shared namespace such as kube-system),
  `shared_pool` (a share of a pool).
* `AllocatedMethodDetails`: JSON with the ratio elements (`{"Elements": [{"AllocatedRatio": …, …}]}`).
* `AllocatedResourceId` / `AllocatedResourceName`: the workload the piece went to (Kubernetes:
  `cluster/namespace/pod/container`; pools: the pool id), null for direct rows.
* `AllocatedTags`: the workload's labels (JSON object text) for Kubernetes pieces.
* `x_AllocationRuleId`: the rule that placed the owner, e.g. `tag:team`, `account:048213575790`, `default`,
  `kubernetes:label:team`, `kubernetes:namespace_owner:ml`, `kubernetes:idle`, `pool:aws-support`.
* one `x_<Dimension>` column per allocation dimension (`team` → `x_Team`, `cost_center` → `x_CostCenter`).
* `x_HasRequiredTags`: whether the source cost row carried a tag for every required dimension.

Amounts (`AMOUNTS`) are exact shares: Σ over the pieces of one cost = that cost, to 10^-10.
"""

import polars as pl

from finops_pipeline.focus.schema import MONEY

COST_ALLOCATION_TABLE = "outputs.cost_allocation"

COST_KEYS: dict[str, pl.DataType] = {
    "x_ChargeDay": pl.Date,
    "x_SourceName": pl.String,
    "ProviderName": pl.String,
    "BillingAccountId": pl.String,
    "BillingCurrency": pl.String,
    "SubAccountId": pl.String,
    "SubAccountName": pl.String,
    "ServiceCategory": pl.String,
    "ServiceName": pl.String,
    "ChargeCategory": pl.String,
    "CommitmentDiscountStatus": pl.String,
    "ResourceId": pl.String,
    "ResourceName": pl.String,
    "RegionId": pl.String,
}

AMOUNTS: tuple[str, ...] = ("BilledCost", "EffectiveCost", "ListCost")

# What allocation reads of core.focus_costs.
FOCUS_COLUMNS_NEEDED: tuple[str, ...] = (*COST_KEYS, "Tags", *AMOUNTS)

ALLOCATION_COLUMNS: dict[str, pl.DataType] = {
    "AllocatedMethodId": pl.String,
    "AllocatedMethodDetails": pl.String,
    "AllocatedResourceId": pl.String,
    "AllocatedResourceName": pl.String,
    "AllocatedTags": pl.String,
    "x_AllocationRuleId": pl.String,
    "x_HasRequiredTags": pl.Boolean,
}

METHOD_DIRECT = "direct"
METHOD_KUBERNETES = "kubernetes"
METHOD_KUBERNETES_IDLE = "kubernetes_idle"
METHOD_KUBERNETES_SHARED = "kubernetes_shared"  # a share of a shared namespace (kube-system, monitoring)
METHOD_SHARED_POOL = "shared_pool"
METHODS = (METHOD_DIRECT, METHOD_KUBERNETES, METHOD_KUBERNETES_IDLE, METHOD_KUBERNETES_SHARED, METHOD_SHARED_POOL)


def dimension_column(dimension: str) -> str:
    """`team` → `x_Team`, `cost_center` → `x_CostCenter`, `cost-centre` → `x_CostCentre`."""
    words = dimension.replace("-", "_").split("_")
    return "x_" + "".join(word[:1].upper() + word[1:] for word in words if word)


def cost_allocation_schema(dimensions: list[str]) -> dict[str, pl.DataType]:
    return {
        **COST_KEYS,
        **{dimension_column(d): pl.String for d in dimensions},
        **ALLOCATION_COLUMNS,
        **{amount: MONEY for amount in AMOUNTS},
    }
