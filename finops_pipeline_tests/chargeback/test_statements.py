import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

from finops_pipeline.chargeback import (
    STATEMENT_HEADER_SCHEMA,
    STATEMENT_LINE_SCHEMA,
    RateCard,
    build_statements,
    statement_reconciliation,
)
from finops_pipeline_tests.chargeback.allocation_rows import allocation

NOVEMBER = date(2026, 11, 1)
D = Decimal

CARD = RateCard.model_validate(
    {
        "default_mode": "showback",
        "markups": {"Compute": 10},  # Storage, Other: default 0 → no markup line
        "owners": {
            "payments": {"mode": "chargeback", "platform_fee": {"amount": 100, "currency": "USD"}},
            "ml": {
                "mode": "chargeback",
                "pass_through_discounts": False,
                "platform_fee": {"amount": 50, "currency": "EUR"},
            },
        },
    }
)

BILL = allocation(
    # payments: direct 100 + 50.005 = 150.005; kubernetes 20 + 5 (shared namespace) = 25; idle 4; shared 10
    {"x_Team": "payments", "EffectiveCost": "100"},
    {"x_Team": "payments", "EffectiveCost": "50.005", "x_ChargeDay": date(2026, 11, 2)},
    {"x_Team": "payments", "EffectiveCost": "20", "AllocatedMethodId": "kubernetes"},
    {"x_Team": "payments", "EffectiveCost": "5", "AllocatedMethodId": "kubernetes_shared"},
    {"x_Team": "payments", "EffectiveCost": "4", "AllocatedMethodId": "kubernetes_idle"},
    {"x_Team": "payments", "EffectiveCost": "10", "AllocatedMethodId": "shared_pool", "ServiceCategory": "Storage"},
    # ml, discounts not passed through: a commitment-covered 60 (list 100), 6 of unused commitment (list 0)
    {"x_Team": "ml", "EffectiveCost": "60", "ListCost": "100", "CommitmentDiscountStatus": "Used"},
    {"x_Team": "ml", "EffectiveCost": "6", "ListCost": "0", "CommitmentDiscountStatus": "Unused"},
    {"x_Team": "ml", "EffectiveCost": "10", "AllocatedMethodId": "shared_pool", "ServiceCategory": "Storage"},
    {"x_Team": "unallocated", "EffectiveCost": "3.333", "ServiceCategory": "Other"},
)


def test_hand_worked_statements():
    statements = build_statements(BILL, CARD, month=date(2026, 11, 17))  # any day of the month names it
    assert statements.headers.schema == pl.Schema(STATEMENT_HEADER_SCHEMA)
    assert statements.lines.schema == pl.Schema(STATEMENT_LINE_SCHEMA)

    # bill_share lines, in cents, largest remainder over all USD bill_share lines:
    #   exact 15000.5 (payments direct) 2500 400 1000 | 6600 1000 (ml) | 333.3 (unallocated)
    #   Σ exact 26833.8 → 26834 cents; Σ floors 26833 → 1 cent left → largest remainder .5: payments direct
    # markups (Compute 10 % of the charged basis):
    #   payments 10 % × (150.005 + 25 + 4) = 17.9005; ml 10 % × ListCost (100 + 0) = 10
    #   Σ 2790.05 cents → 2790; floors 1790 + 1000 = 2790 → payments 17.90, ml 10.00
    # ml retained discount: ListCost 100 + 0 + 10 = 110 − EffectiveCost 60 + 6 + 10 = 76 → 34.00
    # totals: payments 189.01 + 17.90 + 100 fee = 306.91; ml USD 76 + 10 + 34 = 120 (= list 110 + markup 10);
    #         ml EUR: the 50 EUR fee alone; unallocated 3.33, showback
    headers = statements.headers.select(
        "owner", "currency", "mode", "discounts_passed_through", "bill_share", "markups", "fees",
        "discount_retained", "total", "amount_due",
    ).rows()  # fmt: skip
    assert headers == [
        ("ml", "EUR", "chargeback", False, D(0), D(0), D(50), D(0), D(50), D(50)),
        ("ml", "USD", "chargeback", False, D(76), D(10), D(0), D(34), D(120), D(120)),
        ("payments", "USD", "chargeback", True, D("189.01"), D("17.90"), D(100), D(0), D("306.91"), D("306.91")),
        ("unallocated", "USD", "showback", True, D("3.33"), D(0), D(0), D(0), D("3.33"), D(0)),
    ]
    assert set(statements.headers["month"]) == {NOVEMBER}

    lines = statements.lines.select(
        "owner", "currency", "line_number", "line_type", "detail", "basis", "rate_percent", "amount"
    ).rows()
    assert lines == [
        ("ml", "EUR", 1, "platform_fee", "platform", None, None, D(50)),
        ("ml", "USD", 1, "bill_share", "direct", None, None, D(66)),
        ("ml", "USD", 2, "bill_share", "shared", None, None, D(10)),
        ("ml", "USD", 3, "markup", "Compute", D(100), D(10), D(10)),
        ("ml", "USD", 4, "discount_retained", None, D(110), None, D(34)),
        ("payments", "USD", 1, "bill_share", "direct", None, None, D("150.01")),
        ("payments", "USD", 2, "bill_share", "kubernetes", None, None, D(25)),
        ("payments", "USD", 3, "bill_share", "idle", None, None, D(4)),
        ("payments", "USD", 4, "bill_share", "shared", None, None, D(10)),
        ("payments", "USD", 5, "markup", "Compute", D("179.01"), D(10), D("17.90")),  # basis 179.005 → .01
        ("payments", "USD", 6, "platform_fee", "platform", None, None, D(100)),
        ("unallocated", "USD", 1, "bill_share", "direct", None, None, D("3.33")),
    ]


def test_headers_are_the_sums_of_their_lines_and_total_adds_up_exactly():
    statements = build_statements(BILL, CARD, month=NOVEMBER)
    sums = statements.lines.group_by("owner", "currency", "line_type").agg(pl.col("amount").sum())
    for row in statements.headers.iter_rows(named=True):
        assert row["total"] == row["bill_share"] + row["markups"] + row["fees"] + row["discount_retained"]
        for column, line_type in [
            ("bill_share", "bill_share"),
            ("markups", "markup"),
            ("fees", "platform_fee"),
            ("discount_retained", "discount_retained"),
        ]:
            lines = sums.filter(owner=row["owner"], currency=row["currency"], line_type=line_type)["amount"]
            assert row[column] == (lines[0] if lines.len() else D(0))


def test_reconciliation_to_the_bill():
    statements = build_statements(BILL, CARD, month=NOVEMBER)
    reconciliation = statement_reconciliation(statements.headers, BILL)
    # USD: allocated 268.338 exactly; statements 268.34 (rounded to the cent); difference 0.002
    # markups 27.90, fees 100, retained 34 → total 268.34 + 27.90 + 100 + 34 = 430.24
    # EUR: no cost, only ml's 50 EUR fee
    assert reconciliation.rows() == [
        (NOVEMBER, "EUR", D(0), D(0), D(0), D(0), D(50), D(0), D(50), True),
        (NOVEMBER, "USD", D("268.338"), D("268.34"), D("0.002"), D("27.90"), D(100), D(34), D("430.24"), True),
    ]
    tampered = statements.headers.with_columns(
        bill_share=pl.when(pl.col("owner") == "payments").then(pl.col("bill_share") + D("0.01")).otherwise("bill_share")
    )
    assert statement_reconciliation(tampered, BILL)["reconciled"].to_list() == [True, False]


def test_cents_neither_appear_nor_vanish():
    # 1.00 split in thirds: 33.33333333 + 33.33333333 + 33.33333334 cents → floors 33 each, 1 cent left,
    # to the largest remainder (c: .33333334)
    thirds = allocation(
        {"x_Team": "a", "EffectiveCost": "0.3333333333"},
        {"x_Team": "b", "EffectiveCost": "0.3333333333"},
        {"x_Team": "c", "EffectiveCost": "0.3333333334"},
    )
    headers = build_statements(thirds, RateCard(), month=NOVEMBER).headers
    assert headers.select("owner", "bill_share").rows() == [("a", D("0.33")), ("b", D("0.33")), ("c", D("0.34"))]
    # seven owners with 0.004 each: 0.028 → 3 cents, all remainders equal (.4) → the first three by owner
    crumbs = allocation(*({"x_Team": f"team-{i}", "EffectiveCost": "0.004"} for i in range(7)))
    headers = build_statements(crumbs, RateCard(), month=NOVEMBER).headers
    assert headers["bill_share"].to_list() == [D("0.01")] * 3 + [D(0)] * 4
    # a credit: −0.005 and 0.001 → exact −0.004 → 0 cents: floors −1 and 0, 1 cent left → to −0.005 (rem .5)
    credit = allocation({"x_Team": "a", "EffectiveCost": "-0.005"}, {"x_Team": "b", "EffectiveCost": "0.001"})
    headers = build_statements(credit, RateCard(), month=NOVEMBER).headers
    assert headers["bill_share"].to_list() == [D(0), D(0)]


def test_random_bill_reconciles_to_the_cent():
    rng = random.Random(11)
    methods = ["direct", "kubernetes", "kubernetes_shared", "kubernetes_idle", "shared_pool"]
    rows = [
        {
            "x_Team": f"team-{rng.randrange(40)}",
            "AllocatedMethodId": rng.choice(methods),
            "ServiceCategory": rng.choice(["Compute", "Storage", "Networking"]),
            "EffectiveCost": str(D(rng.randrange(-(10**9), 10**12)) / 10**10),
            "x_ChargeDay": date(2026, 11, rng.randrange(1, 31)),
        }
        for _ in range(2000)
    ]
    bill = allocation(*rows)
    card = RateCard.model_validate({"markups": {"Compute": "7.5", "Storage": "1"}})
    statements = build_statements(bill, card, month=NOVEMBER)
    exact_total = sum((D(row["EffectiveCost"]) for row in rows), D(0))
    assert statements.headers["bill_share"].sum() == exact_total.quantize(D("0.01"), ROUND_HALF_UP)
    assert statement_reconciliation(statements.headers, bill)["reconciled"].to_list() == [True]
    # no line is a cent or more away from its exact amount
    exact = (
        bill.group_by("x_Team", "AllocatedMethodId")
        .agg(pl.col("EffectiveCost").sum())
        .with_columns(
            detail=pl.col("AllocatedMethodId").replace(
                {"kubernetes_shared": "kubernetes", "kubernetes_idle": "idle", "shared_pool": "shared"}
            )
        )
        .group_by(owner="x_Team", detail="detail")
        .agg(exact=pl.col("EffectiveCost").sum())
    )
    compared = statements.lines.filter(pl.col("line_type") == "bill_share").join(exact, on=["owner", "detail"])
    assert compared.height == exact.height
    assert (compared["amount"] - compared["exact"]).abs().max() < D("0.01")


def test_an_owner_with_a_fee_and_no_cost_still_gets_a_statement():
    card = RateCard.model_validate({"owners": {"data": {"platform_fee": {"amount": "500.50", "currency": "USD"}}}})
    statements = build_statements(allocation({"x_Team": "payments", "EffectiveCost": "1"}), card, month=NOVEMBER)
    assert statements.headers.select("owner", "bill_share", "fees", "total", "mode").rows() == [
        ("data", D(0), D("500.50"), D("500.50"), "showback"),
        ("payments", D(1), D(0), D(1), "showback"),
    ]


def test_other_owner_columns_and_empty_months():
    bill = allocation({"x_CostCenter": "CC-1", "EffectiveCost": "2"}, {"x_CostCenter": "CC-2", "EffectiveCost": "3"})
    headers = build_statements(bill, RateCard(), month=NOVEMBER, owner_column="x_CostCenter").headers
    assert headers.select("owner", "total").rows() == [("CC-1", D(2)), ("CC-2", D(3))]
    empty = build_statements(bill.clear(), RateCard(), month=NOVEMBER)
    assert empty.headers.is_empty() and empty.lines.is_empty()
    assert empty.headers.schema == pl.Schema(STATEMENT_HEADER_SCHEMA)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"x_ChargeDay": date(2026, 12, 1)}, "1 allocation rows lie outside 2026-11"),
        ({"x_Team": None}, "1 allocation rows have no x_Team"),
        ({"AllocatedMethodId": "magic"}, "unknown AllocatedMethodId \\['magic'\\]"),
    ],
)
def test_rows_that_cannot_be_stated_are_errors(row, message):
    with pytest.raises(ValueError, match=message):
        build_statements(allocation({"EffectiveCost": "1"}, {"EffectiveCost": "1", **row}), CARD, month=NOVEMBER)
