"""The three allocation layers in order: direct, Kubernetes, shared pools, one day at a time.

Every layer is a function of one day's rows (a node's cost and its containers are per day, pools split the
day's cost, `proportional` weighs by the day's direct cost), so a day is the unit of work: only one day's
source rows and working frames are in memory at once, next to the allocated output accumulated so far.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from finops_pipeline.allocation.direct import allocate_direct
from finops_pipeline.allocation.kubernetes import allocate_kubernetes
from finops_pipeline.allocation.rules import AllocationRules
from finops_pipeline.allocation.schema import FOCUS_COLUMNS_NEEDED, cost_allocation_schema
from finops_pipeline.allocation.shared_pools import apply_shared_pools, pool_drivers
from finops_pipeline.quality.focus_checks import FOCUS_TABLE
from finops_pipeline.sources.kubernetes import empty_k8s_usage
from finops_pipeline.sources.kubernetes.schema import K8S_USAGE_TABLE
from finops_pipeline.warehouse import Warehouse

EXAMPLES = 10


@dataclass(frozen=True)
class Allocation:
    frame: pl.DataFrame
    kubernetes: dict = field(default_factory=dict)  # diagnostics of the Kubernetes step, summed over days


def allocate_day(focus: pl.LazyFrame, usage: pl.DataFrame, rules: AllocationRules, drivers=None):
    """One day's FOCUS rows and Kubernetes usage → (cost_allocation rows, Kubernetes diagnostics)."""
    direct = allocate_direct(focus, rules).collect(engine="streaming")
    kubernetes = allocate_kubernetes(direct, usage, rules)
    pooled = apply_shared_pools(kubernetes.frame, rules, drivers)
    schema = cost_allocation_schema(list(rules.dimensions))
    return pooled.select(pl.col(name).cast(dtype) for name, dtype in schema.items()), kubernetes.diagnostics(EXAMPLES)


def allocate(
    focus_by_day: Iterable[tuple[date, pl.LazyFrame]], usage: pl.DataFrame, rules: AllocationRules
) -> Allocation:
    """`allocate_day` for each (day, FOCUS rows of that day), with the usage of all those days."""
    drivers = pool_drivers(rules)  # the driver CSVs, read once
    frames = [pl.DataFrame(schema=cost_allocation_schema(list(rules.dimensions)))]
    counts: Counter = Counter()
    examples: list[str] = []
    for day, focus in focus_by_day:
        frame, diagnostics = allocate_day(focus, usage.filter(pl.col("x_ChargeDay") == day), rules, drivers)
        frames.append(frame)
        for key, value in diagnostics.items():
            if isinstance(value, list):
                examples += [v for v in value if v not in examples][: EXAMPLES - len(examples)]
            else:
                counts[key] += value
    return Allocation(frame=pl.concat(frames), kubernetes={**counts, "unmatched_node_examples": examples})


def allocate_days(wh: Warehouse, days: list[date], rules: AllocationRules) -> Allocation:
    """`allocate` on the warehouse's focus_costs and k8s_usage of `days`, reading the bill one day at a time."""
    columns = ", ".join(f'"{name}"' for name in FOCUS_COLUMNS_NEEDED)
    focus_by_day = (
        (day, wh.read_frame(f'SELECT {columns} FROM {FOCUS_TABLE} WHERE "x_ChargeDay" = :day', {"day": day}).lazy())
        for day in days
    )
    usage = (
        wh.read_frame(
            f'SELECT * FROM {K8S_USAGE_TABLE} WHERE "x_ChargeDay" BETWEEN :first_day AND :last_day',
            {"first_day": min(days), "last_day": max(days)},
        )
        if wh.table_exists(K8S_USAGE_TABLE)
        else empty_k8s_usage()
    )
    return allocate(focus_by_day, usage, rules)
