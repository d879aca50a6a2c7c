"""Monthly chargeback/showback statements: one month of `outputs.cost_allocation` priced by the rate card.

One statement per owner × month × currency (`BillingCurrency`; a platform fee lands on the statement in the
fee's currency). Its lines, in this order:

* `bill_share` — the owner's Σ EffectiveCost, one line per kind (`detail`): `direct` (AllocatedMethodId
  direct), `kubernetes` (kubernetes + kubernetes_shared), `idle` (kubernetes_idle), `shared` (shared_pool).
* `markup` — one line per ServiceCategory whose markup is not 0: `basis` × `rate_percent` / 100, where
  the basis is what the owner is charged for that category: Σ EffectiveCost, or Σ ListCost when the owner's
  discounts are not passed through (a category whose basis is negative — credits larger than use — gets
  a negative markup: the markup follows the net amount charged).
* `platform_fee` — the owner's fixed monthly fee (`detail` = `platform`).
* `discount_retained` — only when discounts are not passed through: Σ (ListCost − EffectiveCost), the
  discount (commitments, negotiated rates, credits — and, with the opposite sign, unused commitment) the
  central team keeps; `basis` = Σ ListCost. So bill_share + discount_retained = what the owner would have
  paid at on-demand prices.

Cents: every line amount is rounded to 0.01 by largest remainder within month × currency × line type, over
all owners: each line gets the floor of its exact amount in cents, and the cents the group's exact total
(rounded half away from zero) still needs go one each to the lines with the largest remainders. So
Σ bill_share over all statements = the month's Σ EffectiveCost rounded to the cent (and the same for
markups and retained discount), and no line is off by a cent or more. Header amounts are sums of the
rounded lines, so `total = bill_share + markups + fees + discount_retained` exactly.

`headers` (STATEMENT_HEADER_SCHEMA), one row per statement:
    month (Date, 1st of the month), owner, currency, mode (showback | chargeback),
    discounts_passed_through (Boolean), bill_share, markups, fees, discount_retained, total,
    amount_due (= total for chargeback, 0 for showback) — amounts MONEY, whole cents.
`lines` (STATEMENT_LINE_SCHEMA), one row per line:
    month, owner, currency, line_number (Int32, 1-based within the statement), line_type (bill_share |
    markup | platform_fee | discount_retained), detail (kind, ServiceCategory, `platform`, or null),
    basis (MONEY rounded to the cent, markups and discount_retained only), rate_percent (Decimal, markups
    only), amount (MONEY, whole cents).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import polars as pl

from finops_pipeline.allocation.schema import (
    METHOD_DIRECT,
    METHOD_KUBERNETES,
    METHOD_KUBERNETES_IDLE,
    METHOD_KUBERNETES_SHARED,
    METHOD_SHARED_POOL,
)
from finops_pipeline.allocation.split import MONEY_SCALE, from_units
from finops_pipeline.chargeback.rate_card import RateCard
from finops_pipeline.focus.schema import MONEY

PERCENT = pl.Decimal(38, 10)

KIND_BY_METHOD: dict[str, str] = {
    METHOD_DIRECT: "direct",
    METHOD_KUBERNETES: "kubernetes",
    METHOD_KUBERNETES_SHARED: "kubernetes",
    METHOD_KUBERNETES_IDLE: "idle",
    METHOD_SHARED_POOL: "shared",
}
KIND_ORDER = ("direct", "kubernetes", "idle", "shared")
LINE_TYPES = ("bill_share", "markup", "platform_fee", "discount_retained")

STATEMENT_HEADER_SCHEMA: dict[str, pl.DataType] = {
    "month": pl.Date,
    "owner": pl.String,
    "currency": pl.String,
    "mode": pl.String,
    "discounts_passed_through": pl.Boolean,
    "bill_share": MONEY,
    "markups": MONEY,
    "fees": MONEY,
    "discount_retained": MONEY,
    "total": MONEY,
    "amount_due": MONEY,
}
STATEMENT_LINE_SCHEMA: dict[str, pl.DataType] = {
    "month": pl.Date,
    "owner": pl.String,
    "currency": pl.String,
    "line_number": pl.Int32,
    "line_type": pl.String,
    "detail": pl.String,
    "basis": MONEY,
    "rate_percent": PERCENT,
    "amount": MONEY,
}
RECONCILIATION_SCHEMA: dict[str, pl.DataType] = {
    "month": pl.Date,
    "currency": pl.String,
    "allocated_effective_cost": MONEY,  # exact Σ EffectiveCost of the allocation
    "statements_bill_share": MONEY,  # Σ bill_share of the statements (whole cents)
    "difference": MONEY,  # statements_bill_share − allocated_effective_cost, |…| < 0.01
    "statements_markups": MONEY,
    "statements_fees": MONEY,
    "statements_discount_retained": MONEY,
    "statements_total": MONEY,  # = allocated cost (to the cent) + markups + fees + retained discount
    "reconciled": pl.Boolean,  # bill_share = allocated cost rounded to the cent, and |difference| < 0.01
}

CENT_UNITS = 10 ** (MONEY_SCALE - 2)  # MONEY units (10^-10) in one cent
NEEDED_COLUMNS = (
    "x_ChargeDay",
    "BillingCurrency",
    "ServiceCategory",
    "AllocatedMethodId",
    "EffectiveCost",
    "ListCost",
)


@dataclass(frozen=True)
class Statements:
    headers: pl.DataFrame
    lines: pl.DataFrame


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of `day`'s month."""
    first_of_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_of_next - timedelta(days=1)


def build_statements(
    allocation: pl.DataFrame, rate_card: RateCard, *, month: date, owner_column: str = "x_Team"
) -> Statements:
    """One month of cost_allocation rows → statement headers and lines (see the module docstring).

    Raises ValueError when a row lies outside `month`, has no owner or an unknown AllocatedMethodId.
    """
    month = month_start(month)
    rows = _checked_rows(allocation, owner_column, month)
    owners = sorted(set(rows["owner"].to_list()) | {o for o in rate_card.owners if rate_card.platform_fee(o)})
    terms = pl.DataFrame(
        {
            "owner": owners,
            "mode": [rate_card.mode(owner) for owner in owners],
            "discounts_passed_through": [rate_card.passes_through_discounts(owner) for owner in owners],
        },
        schema={"owner": pl.String, "mode": pl.String, "discounts_passed_through": pl.Boolean},
    )
    rows = rows.join(terms, on="owner", how="left").with_columns(
        charged=pl.when(pl.col("discounts_passed_through")).then(pl.col("EffectiveCost")).otherwise(pl.col("ListCost"))
    )

    bill_share = (
        rows.group_by("owner", "currency", "kind")
        .agg(amount=pl.col("EffectiveCost").sum())
        .select(
            "owner",
            "currency",
            line_type=pl.lit("bill_share"),
            detail=pl.col("kind"),
            basis=pl.lit(None, MONEY),
            rate_percent=pl.lit(None, PERCENT),
            amount="amount",
            _order=pl.col("kind").replace_strict(KIND_ORDER, list(range(len(KIND_ORDER))), return_dtype=pl.Int32),
        )
    )

    categories = sorted(set(rows["ServiceCategory"].to_list()))
    rates = pl.DataFrame(
        {"ServiceCategory": categories, "rate_percent": [rate_card.markup_percent(c) for c in categories]},
        schema={"ServiceCategory": pl.String, "rate_percent": PERCENT},
    ).filter(pl.col("rate_percent") != 0)
    markups = (
        rows.group_by("owner", "currency", "ServiceCategory")
        .agg(basis=pl.col("charged").sum())
        .join(rates, on="ServiceCategory", how="inner")
        .select(
            "owner",
            "currency",
            line_type=pl.lit("markup"),
            detail=pl.col("ServiceCategory"),
            basis="basis",
            rate_percent="rate_percent",
            amount=pl.col("basis") * pl.col("rate_percent") / 100,
            _order=pl.lit(10, pl.Int32),
        )
    )

    retained = (
        rows.filter(~pl.col("discounts_passed_through"))
        .group_by("owner", "currency")
        .agg(basis=pl.col("ListCost").sum(), amount=(pl.col("ListCost") - pl.col("EffectiveCost")).sum())
        .select(
            "owner",
            "currency",
            line_type=pl.lit("discount_retained"),
            detail=pl.lit(None, pl.String),
            basis="basis",
            rate_percent=pl.lit(None, PERCENT),
            amount="amount",
            _order=pl.lit(30, pl.Int32),
        )
    )

    fee_rows = [(owner, fee.currency, fee.amount) for owner in owners if (fee := rate_card.platform_fee(owner))]
    fees = pl.DataFrame(
        fee_rows, schema={"owner": pl.String, "currency": pl.String, "amount": MONEY}, orient="row"
    ).select(
        "owner",
        "currency",
        line_type=pl.lit("platform_fee"),
        detail=pl.lit("platform"),
        basis=pl.lit(None, MONEY),
        rate_percent=pl.lit(None, PERCENT),
        amount="amount",
        _order=pl.lit(20, pl.Int32),
    )

    lines = pl.concat([bill_share, markups, fees, retained], how="vertical")
    lines = round_to_cents(lines, group=["currency", "line_type"], amount="amount", tie_break=["owner", "detail"])
    lines = (
        lines.with_columns(basis=round_half_away(pl.col("basis")), month=pl.lit(month, pl.Date))
        .sort("owner", "currency", "_order", "detail")
        .with_columns(line_number=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("owner", "currency"))
        .select(list(STATEMENT_LINE_SCHEMA))
        .cast(STATEMENT_LINE_SCHEMA)
    )

    zero = pl.lit(0, MONEY)
    headers = (
        lines.group_by("month", "owner", "currency")
        .agg(
            **{
                name: pl.col("amount").filter(pl.col("line_type") == line_type).sum()
                for name, line_type in [
                    ("bill_share", "bill_share"),
                    ("markups", "markup"),
                    ("fees", "platform_fee"),
                    ("discount_retained", "discount_retained"),
                ]
            }
        )
        .join(terms, on="owner", how="left")
        .with_columns(total=pl.col("bill_share") + pl.col("markups") + pl.col("fees") + pl.col("discount_retained"))
        .with_columns(amount_due=pl.when(pl.col("mode") == "chargeback").then(pl.col("total")).otherwise(zero))
        .sort("owner", "currency")
        .select(list(STATEMENT_HEADER_SCHEMA))
        .cast(STATEMENT_HEADER_SCHEMA)
    )
    return Statements(headers=headers, lines=lines)


def statement_reconciliation(headers: pl.DataFrame, allocation: pl.DataFrame) -> pl.DataFrame:
    """Per month × currency: Σ bill_share of the statements against Σ EffectiveCost of the allocation rows
    (RECONCILIATION_SCHEMA). `reconciled` is false when they differ by more than the rounding to the cent."""
    allocated = (
        allocation.group_by(month=pl.col("x_ChargeDay").dt.truncate("1mo"), currency=pl.col("BillingCurrency"))
        .agg(allocated_effective_cost=pl.col("EffectiveCost").sum())
        .cast({"month": pl.Date, "allocated_effective_cost": MONEY})
    )
    stated = headers.group_by("month", "currency").agg(
        statements_bill_share=pl.col("bill_share").sum(),
        statements_markups=pl.col("markups").sum(),
        statements_fees=pl.col("fees").sum(),
        statements_discount_retained=pl.col("discount_retained").sum(),
        statements_total=pl.col("total").sum(),
    )
    money = [c for c, dtype in RECONCILIATION_SCHEMA.items() if dtype == MONEY and c != "difference"]
    frame = (
        allocated.join(stated, on=["month", "currency"], how="full", coalesce=True)
        .with_columns(pl.col(money).fill_null(0).cast(MONEY))
        .with_columns(difference=pl.col("statements_bill_share") - pl.col("allocated_effective_cost"))
        .with_columns(
            reconciled=(pl.col("statements_bill_share") == round_half_away(pl.col("allocated_effective_cost")))
            & (pl.col("difference").abs() < Decimal("0.01"))
        )
        .sort("month", "currency")
    )
    return frame.select(list(RECONCILIATION_SCHEMA)).cast(RECONCILIATION_SCHEMA)


def round_half_away(amount: pl.Expr) -> pl.Expr:
    """MONEY → MONEY rounded to the cent, halves away from zero (exact, in integer units)."""
    return from_units(_cents_half_away(amount.cast(MONEY).to_physical()) * CENT_UNITS)


def _cents_half_away(units: pl.Expr) -> pl.Expr:
    """Integer MONEY units → integer cents, halves away from zero (Int128 has no negation: 0 − x)."""
    half = CENT_UNITS // 2
    zero = pl.lit(0, pl.Int128)
    return pl.when(units >= 0).then((units + half) // CENT_UNITS).otherwise(zero - ((half - units) // CENT_UNITS))


def round_to_cents(frame: pl.DataFrame, *, group: list[str], amount: str, tie_break: list[str]) -> pl.DataFrame:
    """Round `amount` (MONEY) to whole cents so each group's Σ = its exact Σ rounded to the cent (half away
    from zero): every row gets the floor of its amount in cents, and the cents still missing go one each to
    the rows with the largest remainders (ties: `tie_break` order). Works for negative amounts (credits)."""
    units = pl.col(amount).cast(MONEY).to_physical()
    total = pl.col("_units").sum().over(group)
    target = _cents_half_away(total)
    frame = (
        frame.with_columns(_units=units)
        .sort([*group, *tie_break], nulls_last=True)
        .with_columns(_floor=pl.col("_units") // CENT_UNITS, _rem=pl.col("_units") % CENT_UNITS)
        .with_columns(_leftover=target - pl.col("_floor").sum().over(group))
    )
    # rank 1 = largest remainder; "ordinal" breaks ties by position, i.e. by tie_break (sorted above)
    rank = pl.col("_rem").rank("ordinal", descending=True).over(group)
    cents = pl.col("_floor") + pl.when(rank <= pl.col("_leftover")).then(1).otherwise(0).cast(pl.Int128)
    return frame.with_columns(from_units(cents * CENT_UNITS).alias(amount)).drop(
        "_units", "_floor", "_rem", "_leftover"
    )


def _checked_rows(allocation: pl.DataFrame, owner_column: str, month: date) -> pl.DataFrame:
    missing = [c for c in (*NEEDED_COLUMNS, owner_column) if c not in allocation.columns]
    if missing:
        raise ValueError(f"allocation lacks columns {missing}")
    outside = allocation.filter(
        (pl.col("x_ChargeDay") < month) | (pl.col("x_ChargeDay") > month_end(month)) | pl.col("x_ChargeDay").is_null()
    )
    if outside.height:
        raise ValueError(
            f"{outside.height} allocation rows lie outside {month:%Y-%m} "
            f"(e.g. {outside['x_ChargeDay'][0]}); pass one month of cost_allocation"
        )
    if allocation[owner_column].null_count():
        raise ValueError(f"{allocation[owner_column].null_count()} allocation rows have no {owner_column}")
    unknown = set(allocation["AllocatedMethodId"].unique().to_list()) - set(KIND_BY_METHOD)
    if unknown:
        raise ValueError(f"unknown AllocatedMethodId {sorted(map(str, unknown))} (known: {sorted(KIND_BY_METHOD)})")
    return allocation.select(
        owner=pl.col(owner_column),
        currency=pl.col("BillingCurrency"),
        ServiceCategory=pl.col("ServiceCategory"),
        kind=pl.col("AllocatedMethodId").replace_strict(KIND_BY_METHOD, return_dtype=pl.String),
        EffectiveCost=pl.col("EffectiveCost").cast(MONEY),
        ListCost=pl.col("ListCost").cast(MONEY),
    )
