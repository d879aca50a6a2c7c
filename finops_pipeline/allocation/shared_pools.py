"""Shared pools: cost that serves everyone (support plans, shared networking, central tooling) split to owners.

Pools run after direct and Kubernetes allocation, in the order the rules list them. A row matched by a
pool (every `match` column holds one of the listed values; `owner` matches the owner it was given so far)
is replaced by one piece per target owner, weighted by the pool's method:

* `even`: 1 each;
* `fixed`: the owner's percentage;
* `proportional`: the owner's EffectiveCost of the same day that no pool matched (direct and Kubernetes
  pieces, before any pool runs); a day where the targets have none is split evenly;
* `driver`: the owner's number in the user's driver CSV, the row for the cost's month (YYYY-MM) first,
  else the row without a month; owners without a number get nothing.

The pieces keep the row's cost keys; the owner dimension becomes the target, the other dimensions take
the target's values from `owners:` and otherwise keep the row's. Amounts are split with `split_exact`.
"""

from decimal import Decimal
from pathlib import Path

import polars as pl

from finops_pipeline.allocation.rules import OWNER_PSEUDO_COLUMN, AllocationRules, SharedPool, read_driver
from finops_pipeline.allocation.schema import AMOUNTS, METHOD_SHARED_POOL, dimension_column
from finops_pipeline.allocation.split import split_exact

_ROW = "_pool_row"


def pool_drivers(rules: AllocationRules) -> dict[str, dict[tuple[str, str | None], Decimal]]:
    """Each driver pool's numbers, read from the CSV next to the rules file (validated when the rules load)."""
    base = Path(rules.source_file).parent
    return {
        pool.id: read_driver(base / pool.driver.file, pool.driver.column, f"shared_pools[{i}].driver", rules)
        for i, pool in enumerate(rules.shared_pools)
        if pool.driver is not None
    }


def apply_shared_pools(
    allocated: pl.DataFrame,
    rules: AllocationRules,
    drivers: dict[str, dict[tuple[str, str | None], Decimal]] | None = None,
) -> pl.DataFrame:
    """`cost_allocation` rows → the same rows with every pool-matched row replaced by its pieces."""
    drivers = drivers if drivers is not None else pool_drivers(rules)
    owner_col = dimension_column(rules.owner_dimension)
    in_any_pool = pl.any_horizontal([_matches(pool, owner_col) for pool in rules.shared_pools] or [False])
    direct_by_owner_day = (
        allocated.filter(~in_any_pool)
        .group_by("x_ChargeDay", owner_col)
        .agg(_direct=pl.col("EffectiveCost").sum().cast(pl.Float64))
    )
    for pool in rules.shared_pools:
        matched = _matches(pool, owner_col)
        rows = allocated.filter(matched)
        if rows.is_empty():
            continue
        pieces = _pool_pieces(rows, pool, rules, drivers.get(pool.id, {}), direct_by_owner_day)
        allocated = pl.concat([allocated.filter(~matched), pieces.select(allocated.columns)])
    return allocated


def _matches(pool: SharedPool, owner_col: str) -> pl.Expr:
    conditions = [
        pl.col(owner_col if column == OWNER_PSEUDO_COLUMN else column).is_in(values)
        for column, values in pool.match.items()
    ]
    not_yet_pooled = pl.col("AllocatedMethodId") != METHOD_SHARED_POOL
    return pl.all_horizontal([*conditions, not_yet_pooled])


def _pool_pieces(
    rows: pl.DataFrame,
    pool: SharedPool,
    rules: AllocationRules,
    driver: dict[tuple[str, str | None], Decimal],
    direct_by_owner_day: pl.DataFrame,
) -> pl.DataFrame:
    owner_col = dimension_column(rules.owner_dimension)
    targets = pool.target_owners(list(rules.owners))
    rows = rows.with_row_index(_ROW).drop(owner_col)
    pieces = rows.join(pl.DataFrame({owner_col: targets}), how="cross")
    if pool.method == "even":
        weight = pl.lit(1.0)
    elif pool.method == "fixed":
        weight = pl.col(owner_col).replace_strict(
            {owner: float(share) for owner, share in pool.percentages.items()}, return_dtype=pl.Float64
        )
    elif pool.method == "proportional":
        pieces = pieces.join(direct_by_owner_day, on=["x_ChargeDay", owner_col], how="left")
        weight = pl.col("_direct").fill_null(0).clip(lower_bound=0)
    else:
        months = pl.DataFrame(
            [(owner, month, float(value)) for (owner, month), value in driver.items()],
            schema={owner_col: pl.String, "_month": pl.String, "_driver": pl.Float64},
            orient="row",
        )
        month = pl.col("x_ChargeDay").dt.strftime("%Y-%m")
        pieces = (
            pieces.with_columns(_month=month)
            .join(months, on=[owner_col, "_month"], how="left")
            .join(
                months.filter(pl.col("_month").is_null()).drop("_month").rename({"_driver": "_default"}),
                on=owner_col,
                how="left",
            )
        )
        weight = pl.coalesce("_driver", "_default", pl.lit(0.0))
    pieces = pieces.with_columns(_weight=weight)
    ratio = pl.col("_weight") / pl.col("_weight").sum().over(_ROW)
    pieces = split_exact(pieces, group=[_ROW], weight="_weight", amounts=list(AMOUNTS), tie_break=[owner_col])
    other_dimensions = [name for name in rules.dimensions if name != rules.owner_dimension]
    pieces = pieces.with_columns(
        pl.coalesce(
            pl.col(owner_col).replace_strict(
                {owner: values.get(name) for owner, values in rules.owners.items()},
                default=None,
                return_dtype=pl.String,
            ),
            pl.col(dimension_column(name)),
        ).alias(dimension_column(name))
        for name in other_dimensions
    )
    details = pl.format(
        '{{"Elements":[{{"AllocatedRatio":{},"x_Method":"{}"}}]}}', ratio.round(12), pl.lit(pool.method)
    )
    return pieces.with_columns(
        AllocatedMethodId=pl.lit(METHOD_SHARED_POOL),
        AllocatedMethodDetails=details,
        AllocatedResourceId=pl.lit(pool.id),
        AllocatedResourceName=pl.lit(pool.description or pool.id),
        x_AllocationRuleId=pl.lit(f"pool:{pool.id}"),
    )
