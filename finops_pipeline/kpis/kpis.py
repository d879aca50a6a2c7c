"""FinOps KPIs per day: how well cost is tagged and allocated, how much the commitments save and are used.

`finops_kpis` returns one row per day × kpi × scope × currency (KPI_SCHEMA). Scopes: `scope_type` `all`
(`scope` = `all`) and `source` (`scope` = x_SourceName, one per configured billing source). Every KPI is a
ratio of two sums of money, kept next to the ratio so scopes and days can be re-aggregated correctly
(Σ numerator / Σ denominator, never an average of ratios):

* `numerator`, `denominator`: MONEY (Decimal(38,10)) in `currency` (BillingCurrency; amounts in different
  currencies are never added).
* `value`: Float64 ratio in [0, 1] for the coverage KPIs (×100 for percent); null when the denominator is 0.
  A KPI gets a row for every day × scope × currency present in either input, so "no commitments" shows as
  a null value rather than a missing row.

Definitions (all on EffectiveCost — amortised, after discounts — unless said otherwise):

* `tag_coverage` (cost_allocation, every row): EffectiveCost of rows with `x_HasRequiredTags` /
  EffectiveCost. Every piece carries the flag of its source cost row and pieces sum to their row, so this
  is the share of the bill whose source rows carried every required tag.
* `allocation_coverage` (cost_allocation, every row): EffectiveCost whose owner (`owner_column`) is not
  `default_owner` (and not null) / EffectiveCost — the share that reached a real owner by any method.
* `effective_savings_rate` (focus, ChargeCategory `Usage`): Σ (ListCost − EffectiveCost) / Σ ListCost —
  the FinOps Foundation ESR: savings against the on-demand (list) equivalent of what was used. Unused
  commitment rows (Usage, ListCost 0, EffectiveCost > 0) are included and lower it, as they should;
  Purchase, Tax, Credit and Adjustment rows are not.
* `commitment_utilization` (focus, rows with CommitmentDiscountStatus): EffectiveCost of `Used` /
  EffectiveCost of `Used` + `Unused` — the share of the amortised commitment that was consumed.
* `commitment_coverage` (focus, Usage rows other than `Unused`, in the day's *eligible* service categories):
  EffectiveCost of rows covered by a commitment (CommitmentDiscountId not null and status `Used`) /
  EffectiveCost. A ServiceCategory is eligible for a source on a day when any of that day's rows of the
  source in that category carries a CommitmentDiscountId (used or unused), i.e. the provider has a
  commitment that applies there; usage in categories no commitment touches (e.g. Storage) does not dilute
  the figure. Simpler than provider-specific eligibility (instance families, regions), and stated in
  effective terms, so covered usage counts at its discounted price.
* `kubernetes_idle_share` (cost_allocation, AllocatedMethodId kubernetes, kubernetes_shared,
  kubernetes_idle): EffectiveCost of `kubernetes_idle` / EffectiveCost of all three — the share of cluster
  node cost nobody requested or used. With `idle: share_weighted, idle_by: node` idle is folded into the
  workloads' pieces and this reads 0; with `idle_by: cluster` the shared idle stays `kubernetes_idle` pieces
  and is counted.
"""

from __future__ import annotations

import polars as pl

from finops_pipeline.allocation.schema import METHOD_KUBERNETES, METHOD_KUBERNETES_IDLE, METHOD_KUBERNETES_SHARED
from finops_pipeline.focus.schema import MONEY

KPI_SCHEMA: dict[str, pl.DataType] = {
    "x_ChargeDay": pl.Date,
    "kpi": pl.String,
    "scope_type": pl.String,  # all | source
    "scope": pl.String,  # "all" or the x_SourceName
    "currency": pl.String,
    "numerator": MONEY,
    "denominator": MONEY,
    "value": pl.Float64,  # numerator / denominator; null when the denominator is 0
}
KPIS: tuple[str, ...] = (
    "tag_coverage",
    "allocation_coverage",
    "effective_savings_rate",
    "commitment_utilization",
    "commitment_coverage",
    "kubernetes_idle_share",
)
KUBERNETES_METHODS = (METHOD_KUBERNETES, METHOD_KUBERNETES_SHARED, METHOD_KUBERNETES_IDLE)
GRAIN = ["x_ChargeDay", "x_SourceName", "currency"]


def finops_kpis(
    allocation: pl.DataFrame, focus: pl.DataFrame, *, default_owner: str, owner_column: str = "x_Team"
) -> pl.DataFrame:
    """cost_allocation + core.focus_costs rows (same days) → KPI rows (KPI_SCHEMA; definitions above)."""
    alloc = allocation.lazy().with_columns(pl.col("BillingCurrency").alias("currency"))
    bill = focus.lazy().with_columns(pl.col("BillingCurrency").alias("currency"))
    cost, list_cost = pl.col("EffectiveCost").cast(MONEY), pl.col("ListCost").cast(MONEY)
    zero = pl.lit(0, MONEY)

    def share(frame: pl.LazyFrame, kpi: str, part: pl.Expr, whole: pl.Expr = cost) -> pl.LazyFrame:
        return frame.group_by(GRAIN).agg(
            kpi=pl.lit(kpi), numerator=part.cast(MONEY).sum(), denominator=whole.cast(MONEY).sum()
        )

    status = pl.col("CommitmentDiscountStatus")
    usage = bill.filter(pl.col("ChargeCategory") == "Usage")
    eligible = (
        bill.filter(pl.col("CommitmentDiscountId").is_not_null())
        .select("x_ChargeDay", "x_SourceName", "ServiceCategory")
        .unique()
    )
    covered_usage = usage.filter(status.is_null() | (status != "Unused")).join(
        eligible, on=["x_ChargeDay", "x_SourceName", "ServiceCategory"], how="semi"
    )
    owner = pl.col(owner_column)
    parts = [
        share(alloc, "tag_coverage", pl.when(pl.col("x_HasRequiredTags").fill_null(False)).then(cost).otherwise(zero)),
        share(
            alloc,
            "allocation_coverage",
            pl.when(owner.is_not_null() & (owner != default_owner)).then(cost).otherwise(zero),
        ),
        share(usage, "effective_savings_rate", list_cost - cost, list_cost),
        share(
            bill.filter(status.is_in(["Used", "Unused"])),
            "commitment_utilization",
            pl.when(status == "Used").then(cost).otherwise(zero),
        ),
        share(
            covered_usage,
            "commitment_coverage",
            pl.when(pl.col("CommitmentDiscountId").is_not_null() & (status == "Used")).then(cost).otherwise(zero),
        ),
        share(
            alloc.filter(pl.col("AllocatedMethodId").is_in(KUBERNETES_METHODS)),
            "kubernetes_idle_share",
            pl.when(pl.col("AllocatedMethodId") == METHOD_KUBERNETES_IDLE).then(cost).otherwise(zero),
        ),
    ]
    per_source = pl.concat([part.select(*GRAIN, "kpi", "numerator", "denominator") for part in parts])

    # every day × source × currency of either input, for every KPI
    grid = (
        pl.concat([alloc.select(GRAIN), bill.select(GRAIN)])
        .unique()
        .join(pl.LazyFrame({"kpi": list(KPIS)}), how="cross")
    )
    per_source = grid.join(per_source, on=[*GRAIN, "kpi"], how="left").with_columns(
        pl.col("numerator", "denominator").fill_null(0).cast(MONEY)
    )
    overall = per_source.group_by("x_ChargeDay", "currency", "kpi").agg(
        pl.col("numerator").sum(), pl.col("denominator").sum()
    )
    frame = pl.concat(
        [
            overall.with_columns(scope_type=pl.lit("all"), scope=pl.lit("all")),
            per_source.with_columns(scope_type=pl.lit("source"), scope=pl.col("x_SourceName")),
        ],
        how="diagonal",
    )
    denominator = pl.col("denominator")
    value = pl.when(denominator != 0).then(pl.col("numerator").cast(pl.Float64) / denominator.cast(pl.Float64))
    kpi_order = pl.col("kpi").replace_strict(KPIS, list(range(len(KPIS))), return_dtype=pl.Int32)
    return (
        frame.with_columns(value=value)
        .sort("x_ChargeDay", kpi_order, pl.col("scope_type") != "all", "scope", "currency")
        .select(list(KPI_SCHEMA))
        .cast(KPI_SCHEMA)
        .collect()
    )
