"""Exact splitting of money by weights: largest-remainder at the warehouse's money scale.

Every allocation method (Kubernetes, shared pools) ends in the same step: an amount per group (a cost row,
a pool) is shared among pieces (containers, owners) in proportion to non-negative weights. Doing that in
Decimal arithmetic and rounding each piece would let cents appear or vanish; instead each amount is turned
into integer units of 10^-10 (the scale of `MONEY`), each piece gets the floor of its exact share, and the
units left over (fewer than the number of pieces) go one each to the pieces with the largest remainders.
So Σ pieces = amount exactly, for every group and every amount column, whatever the weights.
"""

import polars as pl

from finops_pipeline.focus.schema import MONEY

MONEY_SCALE = 10  # MONEY is Decimal(38, 10): one unit = 10^-10 of the currency
# Weights are turned into integers of this resolution (relative to their group's total). 10^12 keeps
# amount × weight inside Int128 for groups up to 10^16 currency units; the ratio error (10^-12) is far
# below a cent and never breaks conservation, which the remainder step guarantees exactly.
WEIGHT_RESOLUTION = 10**12
INT = pl.Int128


def split_exact(
    pieces: pl.DataFrame | pl.LazyFrame,
    *,
    group: list[str],
    weight: str,
    amounts: list[str],
    tie_break: list[str],
) -> pl.DataFrame | pl.LazyFrame:
    """Replace each `amounts` column (the group's whole amount, repeated on each of its pieces) by the piece's
    exact share of it, in proportion to `weight`.

    `weight` must be non-negative; a group whose weights are all zero (or null) is split evenly.
    `tie_break` orders pieces with equal remainders (make it unique within a group so results are
    deterministic). The weight column is kept; helper columns are dropped.
    """
    weight_sum = pl.col(weight).sum().over(group)
    normalised = (
        pl.when(weight_sum > 0)
        .then(pl.col(weight).fill_null(0) / weight_sum * WEIGHT_RESOLUTION)
        .otherwise(pl.lit(float(WEIGHT_RESOLUTION)))
    )
    frame = pieces.with_columns(_w=normalised.round(0).cast(INT)).with_columns(_W=pl.col("_w").sum().over(group))
    frame = frame.sort([*group, *tie_break])
    for amount in amounts:
        units = pl.col(amount).cast(MONEY).to_physical()
        product = units * pl.col("_w")
        frame = frame.with_columns(_floor=product // pl.col("_W"), _rem=product % pl.col("_W"), _units=units)
        leftover = pl.col("_units") - pl.col("_floor").sum().over(group)
        # rank 1 = largest remainder; "ordinal" breaks ties by position, i.e. by tie_break (sorted above)
        rank = pl.col("_rem").rank("ordinal", descending=True).over(group)
        share = pl.col("_floor") + pl.when(rank <= leftover).then(1).otherwise(0).cast(INT)
        frame = frame.with_columns(from_units(share).alias(amount))
    return frame.drop("_w", "_W", "_floor", "_rem", "_units")


def from_units(units: pl.Expr) -> pl.Expr:
    """Integer units of 10^-10 back to MONEY, exactly."""
    return units.cast(pl.Decimal(38, 0)).cast(MONEY) / 10**MONEY_SCALE
