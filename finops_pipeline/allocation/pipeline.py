"""The three allocation layers in order: direct, Kubernetes, shared pools."""

from dataclasses import dataclass, field

import polars as pl

from finops_pipeline.allocation.direct import allocate_direct
from finops_pipeline.allocation.kubernetes import allocate_kubernetes
from finops_pipeline.allocation.rules import AllocationRules
from finops_pipeline.allocation.schema import cost_allocation_schema
from finops_pipeline.allocation.shared_pools import apply_shared_pools


@dataclass(frozen=True)
class Allocation:
    frame: pl.DataFrame
    kubernetes: dict = field(default_factory=dict)  # diagnostics of the Kubernetes step


def allocate(focus: pl.LazyFrame, usage: pl.DataFrame, rules: AllocationRules) -> Allocation:
    direct = allocate_direct(focus, rules).collect(engine="streaming")
    kubernetes = allocate_kubernetes(direct, usage, rules)
    pooled = apply_shared_pools(kubernetes.frame, rules)
    schema = cost_allocation_schema(list(rules.dimensions))
    return Allocation(
        frame=pooled.select(pl.col(name).cast(dtype) for name, dtype in schema.items()),
        kubernetes=kubernetes.diagnostics(),
    )
