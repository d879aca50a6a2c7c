"""Commitment fee amortisation over pools with awkward shapes (the pool sums are computed on a side table).

Pools are (commitment id, usage_start_time, pricing unit, GPUs apart). Pinned: several fee rows in one pool,
usage beyond the committed quantity, covered usage of a commitment without a fee, an id taken from the credit,
a pool fully used (no Unused row), partly covered usage (split in two), a key part that is null (a start
time that does not parse, no pricing unit: the fee is all unused and the usage gets no share), a GPU pool
beside a CPU pool, a zero fee, a promotion on covered usage, and a fee whose cost does not parse.
"""

from decimal import Decimal

import polars as pl

from finops_pipeline.focus.conform import REASON
from finops_pipeline.focus.schema import MONEY
from finops_pipeline_tests.sources.gcp.test_billing_export import export_record, to_focus, write_ndjson

HOUR_1 = {"usage_start_time": "2020-11-09 23:00:00 UTC", "usage_end_time": "2020-11-10 00:00:00 UTC"}
HOUR_2 = {"usage_start_time": "2020-11-10 00:00:00 UTC", "usage_end_time": "2020-11-10 01:00:00 UTC"}
NO_TIME = {"usage_start_time": "garbage", "usage_end_time": "2020-11-10 01:00:00 UTC"}


def usage(quantity: float, unit: str | None) -> dict:
    return {"amount": quantity * 3600, "unit": "seconds", "pricing_unit": unit, "amount_in_pricing_units": quantity}


def fee(commitment="cud-1", quantity=10.0, cost=0.2, *, gpu=False, unit="hour") -> dict:
    description = f"Commitment v1: N2 {'GPU' if gpu else 'Cpu'} in Americas for 1 Year"
    return {
        "sku": {"id": "FEE", "description": description},
        "subscription": {"instance_id": commitment},
        "usage": usage(quantity, unit),
        "cost": cost,
        "credits": [],
    }


def covered(commitment="cud-1", quantity=6.0, cost=0.18, credit=-0.18, *, sub=True, unit="hour", gpu=False, more=()):
    cud = {"name": "CUD", "amount": credit, "id": commitment, "full_name": None, "type": "COMMITTED_USAGE_DISCOUNT"}
    record = {"usage": usage(quantity, unit), "cost": cost, "credits": [cud, *more]}
    if sub:
        record["subscription"] = {"instance_id": commitment}
    if gpu:
        record["sku"] = {"id": "GPU", "description": "Nvidia Tesla T4 GPU running in Americas"}
    return record


PROMOTION = {"name": "Trial", "amount": -0.1, "id": "promo", "type": "PROMOTION"}
RECORDS = [
    export_record(**HOUR_1, **fee()),
    export_record(**HOUR_1, **fee(cost=0.1, quantity=5.0)),  # a second fee row of the same pool
    export_record(**HOUR_1, **covered()),
    export_record(**HOUR_1, **covered(quantity=20.0, cost=0.6, credit=-0.3)),  # 10 of 20 h covered
    export_record(**HOUR_1, **covered("cud-2")),  # no fee for cud-2
    export_record(**HOUR_1, **covered(sub=False)),  # the id from the credit
    export_record(**HOUR_2, **fee()),
    export_record(**HOUR_2, **covered(quantity=10.0, cost=0.3, credit=-0.3)),
    export_record(**NO_TIME, **fee()),
    export_record(**NO_TIME, **covered()),
    export_record(**HOUR_1, **fee(unit=None)),
    export_record(**HOUR_1, **covered(unit=None)),
    export_record(**HOUR_1, **fee(gpu=True)),
    export_record(**HOUR_1, **covered(gpu=True, cost=0.0, credit=-0.0)),
    export_record(**HOUR_2, **fee("cud-3", quantity=0.0, cost=0.0)),
    export_record(**HOUR_2, **covered("cud-3")),
    export_record(**HOUR_2, **covered(quantity=4.0, cost=0.12, credit=-0.12, more=(PROMOTION,))),
    export_record(**HOUR_2, **{**fee("cud-4"), "cost": "oops"}),
]


def test_fees_are_amortised_per_pool_with_null_key_parts_left_unshared(tmp_path):
    focus = to_focus([write_ndjson(tmp_path / "export.json", RECORDS)])
    got = focus.select(
        "x_SourceRowNumber", "ChargeCategory", "EffectiveCost", "CommitmentDiscountStatus", "CommitmentDiscountQuantity"
    ).rows()

    def d(text: str | None) -> Decimal | None:
        return None if text is None else Decimal(text)

    expected = [
        # cud-1, hour 1: fee 0.3 for 15 h, 22 h covered → 0.3 / 22 per hour, nothing unused.
        (1, "Purchase", "0", None, "10"),
        (2, "Purchase", "0", None, "5"),
        (3, "Usage", "0.0818181818", "Used", "6"),
        # 10 of 20 h covered: split into the committed part (its share, 10 × 0.3 / 22) and the on-demand part
        # (cost 0.6 − CUD credit 0.3).
        (4, "Usage", "0.1363636364", "Used", "10"),
        (4, "Usage", "0.3", None, None),
        (5, "Usage", "0", "Used", "6"),
        (6, "Usage", "0.0818181818", "Used", "6"),
        # cud-1, hour 2: 14 h covered of 10 committed.
        (7, "Purchase", "0", None, "10"),
        (8, "Usage", "0.1428571429", "Used", "10"),
        # No start time, no pricing unit: the pool key has a null, the fee is all unused.
        (9, "Purchase", "0", None, "10"),
        (9, "Usage", "0.2", "Unused", "10"),
        (10, "Usage", "0", "Used", "6"),
        (11, "Purchase", "0", None, "10"),
        (11, "Usage", "0.2", "Unused", "10"),
        (12, "Usage", "0", "Used", "6"),
        # GPUs are a pool of their own: 6 of 10 h used.
        (13, "Purchase", "0", None, "10"),
        (13, "Usage", "0.08", "Unused", "4"),
        (14, "Usage", "0.12", "Used", "6"),
        (15, "Purchase", "0", None, "0"),
        (16, "Usage", "0", "Used", "6"),
        (17, "Usage", "0.0571428571", "Used", "4"),
        (17, "Credit", "-0.1", None, None),
        (18, "Usage", None, None, None),  # cost 'oops': not a fee, quarantined
    ]
    assert got == [(row, category, d(cost), status, d(quantity)) for row, category, cost, status, quantity in expected]
    parsed = focus.filter(pl.col(REASON).is_null())
    assert parsed["EffectiveCost"].sum() == parsed["BilledCost"].sum()


def test_products_too_large_for_a_decimal_leave_that_value_null_not_a_failed_file(tmp_path):
    """Garbage amounts whose products do not fit Decimal(38, 10) (polars raises for the whole frame on an
    overflow): each leaves the one value it feeds null, and the file maps, its costs reconciled."""
    records = [
        # A pool whose fee × covered quantity (1e20 × 1e10) overflows before the division by the capacity: the
        # covered row gets no share (0), the whole fee is unused.
        export_record(**HOUR_1, **fee("cud-9", quantity=1e10, cost=1e20)),
        export_record(**HOUR_1, **covered("cud-9", quantity=1e10, cost=1.0, credit=-1.0)),
        # Covered quantity = pricing quantity × CUD credit / cost = 1e20 × 1e10 / 1e-9: not computable, so
        # all of it, as for a row whose credit has no amount.
        export_record(**HOUR_2, **covered("cud-8", quantity=1e20, cost=1e-9, credit=-1e10)),
        # Catalog list price (1e8 USD an hour) × 1e20 hours: no ListCost from the catalog (the cost stands in).
        export_record(credits=[], usage=usage(1e20, "hour"), currency="USD", currency_conversion_rate=1),
        # USD price × a conversion rate of 1e20: no list price in EUR.
        export_record(credits=[], currency_conversion_rate=1e20),
        # A rate of 1e27 is itself out of range (a sum of a few such values would overflow): quarantined.
        export_record(credits=[], currency_conversion_rate=1e27),
    ]
    prices = pl.DataFrame(
        {"sku_id": ["CF4E-A0C7-E3BF"], "unit_price": [Decimal("1e8")], "pricing_unit": ["hour"], "currency": ["USD"]},
        schema={"sku_id": pl.String, "unit_price": MONEY, "pricing_unit": pl.String, "currency": pl.String},
    )
    focus = to_focus([write_ndjson(tmp_path / "export.json", records)], list_prices=prices)
    columns = ["x_SourceRowNumber", "ChargeCategory", "CommitmentDiscountStatus", "EffectiveCost", "PricingQuantity"]
    got = focus.select(*columns, "ListUnitPrice", "ListCost").rows()
    e20, e10 = Decimal("1e20"), Decimal("1e10")
    assert got == [
        (1, "Purchase", None, 0, e10, None, e20),
        (1, "Usage", "Unused", e20, 0, None, 0),
        (2, "Usage", "Used", 0, e10, Decimal("84560000"), Decimal("1e8") * Decimal("0.8456") * e10),
        (3, "Usage", "Used", Decimal("1e-9") - e10, e20, Decimal("84560000"), Decimal("1e-9")),
        (4, "Usage", None, Decimal("0.19424"), e20, Decimal("1e8"), Decimal("0.19424")),
        (5, "Usage", None, Decimal("0.19424"), 4, None, Decimal("0.19424")),
        (6, "Usage", None, Decimal("0.19424"), 4, None, Decimal("0.19424")),
    ]
    assert focus[REASON].to_list() == [None] * 6 + [
        f"currency_conversion_rate: '{10**27}' is out of range (magnitude 1e+24 or more)"
    ]
    assert focus["EffectiveCost"].sum() == focus["BilledCost"].sum()
