"""Checks on the stored `outputs.cost_allocation` rows of a day range (SQL both engines run).

Each returns (passed, metadata), as `quality.focus_checks` does; the Dagster layer only reports.
"""

from datetime import date

import polars as pl

from finops_pipeline.allocation.schema import AMOUNTS, COST_ALLOCATION_TABLE
from finops_pipeline.quality.focus_checks import FOCUS_TABLE
from finops_pipeline.warehouse import Warehouse

_IN_RANGE = '"x_ChargeDay" BETWEEN :first_day AND :last_day'


def conservation(wh: Warehouse, days: list[date]) -> tuple[bool, dict]:
    """Σ allocated = Σ input per day, source and cost type, exactly (the splits are exact, so any
    difference at all means a cost was lost or counted twice)."""
    keys = ["x_ChargeDay", "x_SourceName"]
    sums = ", ".join(f'SUM("{amount}") AS "{amount}"' for amount in AMOUNTS)
    params = {"first_day": min(days), "last_day": max(days)}
    totals = {
        table: wh.read_frame(
            f'SELECT "x_ChargeDay", "x_SourceName", {sums} FROM {table} WHERE {_IN_RANGE} GROUP BY 1, 2', params
        )
        for table in (FOCUS_TABLE, COST_ALLOCATION_TABLE)
    }
    joined = (
        totals[FOCUS_TABLE]
        .join(totals[COST_ALLOCATION_TABLE], on=keys, how="full", coalesce=True, suffix="_allocated")
        .with_columns(pl.col(f"^({'|'.join(AMOUNTS)})(_allocated)?$").fill_null(0))
        .with_columns((pl.col(f"{a}_allocated") - pl.col(a)).alias(f"{a}_difference") for a in AMOUNTS)
    )
    mismatched = joined.filter(pl.any_horizontal(pl.col(f"{a}_difference") != 0 for a in AMOUNTS))
    return mismatched.is_empty(), {
        "days_and_sources_checked": joined.height,
        **{f"input_{a}": joined[a].sum() for a in AMOUNTS},
        **{f"allocated_{a}": joined[f"{a}_allocated"].sum() for a in AMOUNTS},
        "mismatches": mismatched.sort(keys).head(20).to_dicts(),
    }


def every_row_has_an_owner(wh: Warehouse, days: list[date], dimension_columns: list[str]) -> tuple[bool, dict]:
    """Every allocated row carries a value in every dimension (the default owner counts as a value)."""
    nulls = " OR ".join(f'"{column}" IS NULL' for column in dimension_columns)
    missing = wh.read_frame(
        f"SELECT COUNT(*) AS n FROM {COST_ALLOCATION_TABLE} WHERE {_IN_RANGE} AND ({nulls})",
        {"first_day": min(days), "last_day": max(days)},
    )["n"][0]
    return missing == 0, {"rows_without_owner": int(missing), "dimensions": dimension_columns}
