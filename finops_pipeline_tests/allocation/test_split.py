import random
from decimal import Decimal

import polars as pl

from finops_pipeline.allocation.split import split_exact
from finops_pipeline.focus.schema import MONEY


def _frame(rows):
    return pl.DataFrame(
        rows, schema={"g": pl.Int64, "piece": pl.String, "w": pl.Float64, "amount": MONEY}, orient="row"
    )


def test_thirds_give_the_leftover_unit_to_the_first_piece():
    # 10.00 / 3 = 3.3333333333 r 1 unit of 10^-10: the three remainders tie, the first piece by tie_break gets it
    out = split_exact(
        _frame([(1, "a", 1.0, Decimal("10")), (1, "b", 1.0, Decimal("10")), (1, "c", 1.0, Decimal("10"))]),
        group=["g"],
        weight="w",
        amounts=["amount"],
        tie_break=["piece"],
    )
    assert out["amount"].to_list() == [Decimal("3.3333333334"), Decimal("3.3333333333"), Decimal("3.3333333333")]


def test_largest_remainder_wins_the_leftover_unit():
    # 1 unit (10^-10) split 0.6 / 0.4: floors 0 and 0, remainders 0.6 and 0.4 → the 0.6 piece gets the unit
    rows = [(1, "a", 0.4, Decimal("0.0000000001")), (1, "b", 0.6, Decimal("0.0000000001"))]
    out = split_exact(_frame(rows), group=["g"], weight="w", amounts=["amount"], tie_break=["piece"])
    assert dict(zip(out["piece"], out["amount"], strict=True)) == {"a": Decimal(0), "b": Decimal("0.0000000001")}


def test_negative_amounts_and_zero_weights_split_evenly_and_exactly():
    # a credit of -0.03 over two pieces without weights: -0.015 each
    rows = [(7, "a", 0.0, Decimal("-0.03")), (7, "b", 0.0, Decimal("-0.03"))]
    out = split_exact(_frame(rows), group=["g"], weight="w", amounts=["amount"], tie_break=["piece"])
    assert out["amount"].to_list() == [Decimal("-0.015"), Decimal("-0.015")]


def test_random_splits_conserve_every_group_exactly():
    rng = random.Random(11)
    rows = []
    for group in range(300):
        amount = Decimal(rng.randint(-(10**14), 10**14)) / Decimal(10**10)
        for piece in range(rng.randint(1, 9)):
            rows.append((group, f"p{piece}", rng.choice([0.0, rng.random(), rng.random() * 1e6]), amount))
    frame = _frame(rows)
    out = split_exact(frame.lazy(), group=["g"], weight="w", amounts=["amount"], tie_break=["piece"]).collect()
    expected = frame.group_by("g").agg(pl.col("amount").first())
    got = out.group_by("g").agg(pl.col("amount").sum())
    assert expected.sort("g")["amount"].to_list() == got.sort("g")["amount"].to_list()
    # and each piece is its exact proportional share up to the weight resolution (10^-12 of the amount)
    # plus the one unit the remainder step may add
    check = out.join(frame.group_by("g").agg(total=pl.col("amount").first(), W=pl.col("w").sum()), on="g")
    for row in check.iter_rows(named=True):
        if row["W"] > 0:
            exact = row["total"] * Decimal(row["w"]) / Decimal(row["W"])
            assert abs(row["amount"] - exact) <= abs(row["total"]) * Decimal("1e-12") + Decimal("0.0000000002")
