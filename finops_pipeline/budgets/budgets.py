"""Monthly budgets per owner (team, cost centre, …): `budgets.yaml` and where each budget stands on a day.

The file (validated whole by `load_budgets`; errors name the file, the key and the problem):

    dimension: team            # default dimension of a budget's `owner` (an allocation dimension)
    currency: USD              # default currency of a budget
    thresholds: {warning: 80, critical: 100}   # percent of the budget (these are the defaults)
    budgets:
      - owner: payments
        amount: 12000          # per month
        months: {"2026-12": 15000}             # per-month overrides (YYYY-MM)
        thresholds: {warning: 70}              # per budget, merged over the file's thresholds
      - owner: CC-3001
        dimension: cost_center
        amount: 9000

`budget_status` gives, for every budget and every requested day (one row each, BUDGET_STATUS_SCHEMA):

* `mtd_cost`: Σ EffectiveCost of the budget's owner and currency from the 1st of the month to `day`
  inclusive (costs in another currency do not count against it); `days_elapsed` = day of month.
* `projected_cost` (month end): `mtd_cost` + the forecast of each remaining day of the month when a
  forecast row exists for it, + the run-rate `daily_burn` (= mtd_cost / days_elapsed) for each remaining day
  without one. Without a forecast this is mtd_cost / days_elapsed × days_in_month. `projection_method`:
  `run_rate`, `forecast`, `forecast+run_rate` (some days had no forecast row), `actual` (last day of the
  month: nothing left to project).
* `pct_used` = mtd / budget × 100, `projected_pct` = projected / budget × 100: Float64, in percent.
* `status`: from the ACTUAL month to date: `critical` when mtd ≥ critical % of the budget, else `warning`
  when mtd ≥ warning %, else `normal` (compared in exact decimals, so 800 of 1000 is `warning` at 80 %).
  `projected_status` applies the same thresholds to the projection; `projected_over_budget` = projected >
  budget.
* `warning_crossed_on` / `critical_crossed_on`: the first day of the month (≤ `day`) on which the
  cumulative cost reached the threshold; null when it has not.
* `runs_out_on`: when the budget is used up (mtd ≥ budget), the day the cumulative cost first reached it;
  otherwise the first day d with mtd + daily_burn × (d − day) ≥ budget (the run rate, not the forecast).
  Null when the burn is not positive or d falls after the month's last day: a monthly budget renews on
  the 1st, so "runs out next month" is not a date we report.

Money columns are MONEY (Decimal(38,10)); thresholds and percentages are Float64 percent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
from pydantic import Field, field_validator, model_validator

from finops_pipeline.allocation.schema import dimension_column
from finops_pipeline.config_files import ConfigFileError, KeyProblem, StrictModel, load_yaml_model
from finops_pipeline.focus.schema import MONEY

MONTH_KEY = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
PERCENT = pl.Decimal(38, 10)

DAILY_COSTS_SCHEMA: dict[str, pl.DataType] = {
    "x_ChargeDay": pl.Date,
    "dimension": pl.String,  # allocation dimension, e.g. team, cost_center
    "owner": pl.String,  # its value, e.g. payments, CC-2001
    "currency": pl.String,  # BillingCurrency
    "EffectiveCost": MONEY,
}
# The forecast budget_status accepts: one row per future day × dimension × owner × currency.
FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "x_ChargeDay": pl.Date,
    "dimension": pl.String,
    "owner": pl.String,
    "currency": pl.String,
    "forecast_cost": MONEY,  # any numeric type is accepted and cast
}
BUDGET_STATUS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date,
    "month": pl.Date,
    "dimension": pl.String,
    "owner": pl.String,
    "currency": pl.String,
    "budget": MONEY,
    "warning_percent": pl.Float64,
    "critical_percent": pl.Float64,
    "mtd_cost": MONEY,
    "days_elapsed": pl.Int32,
    "days_in_month": pl.Int32,
    "daily_burn": MONEY,
    "projected_cost": MONEY,
    "projection_method": pl.String,
    "pct_used": pl.Float64,
    "projected_pct": pl.Float64,
    "status": pl.String,
    "projected_status": pl.String,
    "projected_over_budget": pl.Boolean,
    "warning_crossed_on": pl.Date,
    "critical_crossed_on": pl.Date,
    "runs_out_on": pl.Date,
}


def _currency(code: str | None) -> str | None:
    if code is not None and not CURRENCY_CODE.match(code):
        raise ValueError(f"currency must be an ISO 4217 code like USD, got {code!r}")
    return code


class Thresholds(StrictModel):
    """Percent of the budget; unset values come from the file's thresholds (defaults 80 and 100)."""

    warning: Decimal | None = Field(default=None, gt=0)
    critical: Decimal | None = Field(default=None, gt=0)


class Budget(StrictModel):
    owner: str = Field(min_length=1)
    dimension: str | None = None  # None: the file's `dimension`
    amount: Decimal = Field(gt=0)
    currency: str | None = None  # None: the file's `currency`
    months: dict[str, Decimal] = {}
    thresholds: Thresholds = Thresholds()

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, code: str | None) -> str | None:
        return _currency(code)

    @field_validator("months", mode="before")
    @classmethod
    def _month_keys(cls, months: object) -> object:
        if isinstance(months, dict):
            for month in months:
                if not isinstance(month, str):  # YAML reads an unquoted 2026-11-01 as a date
                    raise KeyProblem(str(month), 'month must be written YYYY-MM (quote it in YAML: "2026-11")')
        return months

    @field_validator("months")
    @classmethod
    def _months(cls, months: dict[str, Decimal]) -> dict[str, Decimal]:
        for month, amount in months.items():
            if not MONTH_KEY.match(month):
                raise KeyProblem(month, 'month must be written YYYY-MM (quote it in YAML: "2026-11")')
            if amount <= 0:
                raise KeyProblem(month, f"amount must be greater than 0, got {amount}")
        return months


class ResolvedBudget(StrictModel):
    """A budget with the file's defaults applied."""

    dimension: str
    owner: str
    currency: str
    amount: Decimal
    months: dict[str, Decimal]
    warning: Decimal
    critical: Decimal

    def amount_for(self, day: date) -> Decimal:
        return self.months.get(f"{day:%Y-%m}", self.amount)


class Budgets(StrictModel):
    dimension: str = Field(default="team", min_length=1)
    currency: str = "USD"
    thresholds: Thresholds = Thresholds(warning=Decimal(80), critical=Decimal(100))
    budgets: list[Budget] = []
    source_file: str = Field(default="", exclude=True)  # where it was loaded from (for error messages)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, code: str | None) -> str | None:
        return _currency(code)

    @model_validator(mode="after")
    def _consistent(self) -> Budgets:
        warning, critical = self._defaults()
        if warning > critical:
            raise KeyProblem("thresholds", f"warning ({warning}) must not be above critical ({critical})")
        seen: set[tuple[str, str]] = set()
        for i, budget in enumerate(self.budgets):
            resolved = self._resolve(budget)
            if resolved.warning > resolved.critical:
                raise KeyProblem(
                    f"budgets[{i}].thresholds",
                    f"warning ({resolved.warning}) must not be above critical ({resolved.critical})",
                )
            key = (resolved.dimension, resolved.owner)
            if key in seen:
                raise KeyProblem(f"budgets[{i}].owner", f"a second budget for {resolved.dimension} {budget.owner!r}")
            seen.add(key)
        return self

    def _defaults(self) -> tuple[Decimal, Decimal]:
        warning = self.thresholds.warning if self.thresholds.warning is not None else Decimal(80)
        critical = self.thresholds.critical if self.thresholds.critical is not None else Decimal(100)
        return warning, critical

    def _resolve(self, budget: Budget) -> ResolvedBudget:
        warning, critical = self._defaults()
        return ResolvedBudget(
            dimension=budget.dimension or self.dimension,
            owner=budget.owner,
            currency=budget.currency or self.currency,
            amount=budget.amount,
            months=budget.months,
            warning=budget.thresholds.warning if budget.thresholds.warning is not None else warning,
            critical=budget.thresholds.critical if budget.thresholds.critical is not None else critical,
        )

    @property
    def resolved(self) -> list[ResolvedBudget]:
        return [self._resolve(budget) for budget in self.budgets]

    @property
    def dimensions(self) -> list[str]:
        """The dimensions budgets are set on (what `daily_costs_by_owner` must be given)."""
        return list(dict.fromkeys(budget.dimension for budget in self.resolved))


def load_budgets(path: Path | str, *, known_values: Mapping[str, Iterable[str] | None] | None = None) -> Budgets:
    """Read and validate `budgets.yaml`. With `known_values` (dimension → its known values, or None for any
    value), a budget on another dimension, or for a value not listed, is an error."""
    path = Path(path)
    budgets = load_yaml_model(path, Budgets)
    if known_values is not None:
        for i, budget in enumerate(budgets.budgets):
            resolved = budgets._resolve(budget)
            if resolved.dimension not in known_values:
                key = f"budgets[{i}].dimension" if budget.dimension else "dimension"
                raise ConfigFileError(
                    path, key, f"unknown dimension {resolved.dimension!r} (known: {sorted(known_values)})"
                )
            values = known_values[resolved.dimension]
            if values is not None and resolved.owner not in set(values):
                raise ConfigFileError(
                    path,
                    f"budgets[{i}].owner",
                    f"unknown {resolved.dimension} {resolved.owner!r} (known: {sorted(values)})",
                )
    return budgets.model_copy(update={"source_file": str(path)})


def daily_costs_by_owner(allocation: pl.DataFrame, dimensions: str | Sequence[str] = "team") -> pl.DataFrame:
    """cost_allocation rows → Σ EffectiveCost per day × dimension value × currency (DAILY_COSTS_SCHEMA), for
    each allocation dimension named (`team` reads column `x_Team`). Rows without a value are left out."""
    names = [dimensions] if isinstance(dimensions, str) else list(dimensions)
    frames = [
        allocation.filter(pl.col(dimension_column(name)).is_not_null())
        .group_by("x_ChargeDay", owner=pl.col(dimension_column(name)), currency=pl.col("BillingCurrency"))
        .agg(EffectiveCost=pl.col("EffectiveCost").sum())
        .with_columns(dimension=pl.lit(name))
        for name in names
    ]
    if not frames:
        return pl.DataFrame(schema=DAILY_COSTS_SCHEMA)
    return pl.concat([frame.select(list(DAILY_COSTS_SCHEMA)).cast(DAILY_COSTS_SCHEMA) for frame in frames]).sort(
        "dimension", "owner", "currency", "x_ChargeDay"
    )


def budget_status(
    daily_costs: pl.DataFrame,
    budgets: Budgets,
    *,
    days: list[date],
    forecast: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Where each budget stands on each of `days` (see the module docstring); one row per budget × day."""
    keys = ["dimension", "owner", "currency", "month"]
    records_columns = (
        "day", "month", "dimension", "owner", "currency", "budget", "warning_percent", "critical_percent",
        "days_elapsed", "days_in_month",
    )  # fmt: skip
    records = [
        {
            "day": day,
            "month": day.replace(day=1),
            "dimension": budget.dimension,
            "owner": budget.owner,
            "currency": budget.currency,
            "budget": budget.amount_for(day),
            "warning_percent": budget.warning,
            "critical_percent": budget.critical,
            "days_elapsed": day.day,
            "days_in_month": _month_end(day).day,
        }
        for budget in budgets.resolved
        for day in sorted(set(days))
    ]
    # The output's columns, with the thresholds still exact decimals: they are compared with money first.
    exact = {**BUDGET_STATUS_SCHEMA, "warning_percent": PERCENT, "critical_percent": PERCENT}
    frame = pl.DataFrame(records, schema={column: exact[column] for column in records_columns}, orient="row")
    frame = frame.with_columns(
        warning_amount=pl.col("budget") * pl.col("warning_percent") / 100,
        critical_amount=pl.col("budget") * pl.col("critical_percent") / 100,
    )

    costs = (
        daily_costs.group_by("x_ChargeDay", "dimension", "owner", "currency")
        .agg(cost=pl.col("EffectiveCost").cast(MONEY).sum())
        .with_columns(month=pl.col("x_ChargeDay").dt.truncate("1mo"))
    )
    cumulative = (
        frame.join(costs, on=keys, how="inner")
        .filter(pl.col("x_ChargeDay") <= pl.col("day"))
        .sort("x_ChargeDay")
        .with_columns(cumulative=pl.col("cost").cum_sum().over(*keys, "day"))
        .group_by(*keys, "day")
        .agg(
            mtd_cost=pl.col("cost").sum(),
            warning_crossed_on=_first_day(pl.col("cumulative") >= pl.col("warning_amount")),
            critical_crossed_on=_first_day(pl.col("cumulative") >= pl.col("critical_amount")),
            exceeded_on=_first_day(pl.col("cumulative") >= pl.col("budget")),
        )
    )
    frame = frame.join(cumulative, on=[*keys, "day"], how="left").with_columns(
        mtd_cost=pl.col("mtd_cost").fill_null(0).cast(MONEY)
    )

    if forecast is not None:
        ahead = (
            frame.select(*keys, "day")
            .join(
                forecast.select(
                    *[pl.col(c) for c in ("x_ChargeDay", "dimension", "owner", "currency")],
                    pl.col("forecast_cost").cast(MONEY),
                ).with_columns(month=pl.col("x_ChargeDay").dt.truncate("1mo")),
                on=keys,
                how="inner",
            )
            .filter(pl.col("x_ChargeDay") > pl.col("day"))
            .group_by(*keys, "day")
            .agg(forecast_sum=pl.col("forecast_cost").sum(), forecast_days=pl.col("x_ChargeDay").n_unique())
        )
        frame = frame.join(ahead, on=[*keys, "day"], how="left")
    else:
        frame = frame.with_columns(forecast_sum=pl.lit(None, MONEY), forecast_days=pl.lit(None, pl.UInt32))
    remaining = pl.col("days_in_month") - pl.col("days_elapsed")
    frame = frame.with_columns(
        forecast_sum=pl.col("forecast_sum").fill_null(0).cast(MONEY),
        forecast_days=pl.col("forecast_days").fill_null(0).cast(pl.Int32),
        remaining=remaining,
    ).with_columns(run_rate_days=pl.col("remaining") - pl.col("forecast_days"))

    mtd, budget = pl.col("mtd_cost"), pl.col("budget")
    projected = mtd + pl.col("forecast_sum") + mtd * pl.col("run_rate_days") / pl.col("days_elapsed")
    method = (
        pl.when(pl.col("remaining") == 0)
        .then(pl.lit("actual"))
        .when(pl.col("forecast_days") == 0)
        .then(pl.lit("run_rate"))
        .when(pl.col("run_rate_days") == 0)
        .then(pl.lit("forecast"))
        .otherwise(pl.lit("forecast+run_rate"))
    )
    frame = frame.with_columns(
        daily_burn=mtd / pl.col("days_elapsed"),
        projected_cost=projected.cast(MONEY),
        projection_method=method,
        pct_used=(mtd * 100 / budget).cast(pl.Float64),
        status=_level(mtd),
    ).with_columns(
        projected_pct=(pl.col("projected_cost") * 100 / budget).cast(pl.Float64),
        projected_status=_level(pl.col("projected_cost")),
        projected_over_budget=pl.col("projected_cost") > budget,
        runs_out_on=pl.when(mtd >= budget).then(pl.col("exceeded_on")).otherwise(_run_out_day(mtd, budget)),
    )
    return (
        frame.with_columns(pl.col("warning_percent", "critical_percent").cast(pl.Float64))
        .sort("dimension", "owner", "currency", "day")
        .select(list(BUDGET_STATUS_SCHEMA))
        .cast(BUDGET_STATUS_SCHEMA)
    )


def _first_day(condition: pl.Expr) -> pl.Expr:
    return pl.col("x_ChargeDay").filter(condition).min()


def _level(amount: pl.Expr) -> pl.Expr:
    return (
        pl.when(amount >= pl.col("critical_amount"))
        .then(pl.lit("critical"))
        .when(amount >= pl.col("warning_amount"))
        .then(pl.lit("warning"))
        .otherwise(pl.lit("normal"))
    )


def _run_out_day(mtd: pl.Expr, budget: pl.Expr) -> pl.Expr:
    """day + ⌈(budget − mtd) / burn⌉ with burn = mtd / days_elapsed, in exact integer units; null when the
    burn is not positive or the day is after the month's last day."""
    mtd_units, budget_units = mtd.to_physical(), budget.to_physical()
    needed = (budget_units - mtd_units) * pl.col("days_elapsed").cast(pl.Int128)
    divisor = pl.when(mtd_units > 0).then(mtd_units).otherwise(pl.lit(1, pl.Int128))
    days_more = (needed + divisor - 1) // divisor  # ceiling of needed / mtd_units (both positive when used)
    out = pl.col("day") + pl.duration(days=days_more.cast(pl.Int64))
    return pl.when((mtd_units > 0) & (days_more <= pl.col("remaining").cast(pl.Int128))).then(out)


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
