from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from finops_pipeline.allocation.direct import allocate_direct
from finops_pipeline.allocation.shared_pools import apply_shared_pools
from finops_pipeline_tests.allocation.frames import DAY, focus_rows, rules

OWNERS = {"web": {}, "data": {}, "ml": {}}


def _pool_rules(pool: dict):
    return rules(
        dimensions={"team": {"tag_keys": ["team"]}},
        owners=OWNERS,
        shared_pools=[{"id": "support", "match": {"ServiceName": ["Support"]}, **pool}],
    )


def _direct(pool_rules):
    # Direct spend of the day: web 60, data 30, ml 10; the pool: a support fee of 100.00
    return allocate_direct(
        focus_rows(
            {"Tags": '{"team": "web"}', "cost": "60"},
            {"Tags": '{"team": "data"}', "cost": "30"},
            {"Tags": '{"team": "ml"}', "cost": "10"},
            {"ServiceName": "Support", "ChargeCategory": "Purchase", "cost": "100.00"},
        ).lazy(),
        pool_rules,
    ).collect()


def _pool_shares(pool: dict, drivers=None) -> dict[str, Decimal]:
    pool_rules = _pool_rules(pool)
    out = apply_shared_pools(_direct(pool_rules), pool_rules, drivers)
    pieces = out.filter(pl.col("AllocatedMethodId") == "shared_pool")
    assert pieces["x_AllocationRuleId"].unique().to_list() == ["pool:support"]
    assert out["EffectiveCost"].sum() == Decimal("200.00")  # nothing appears or vanishes
    return dict(zip(pieces["x_Team"], pieces["EffectiveCost"], strict=True))


def test_even():
    # 100 / 3 = 33.3333333333 r 1 unit; the tie goes to the first owner by name (data)
    assert _pool_shares({"method": "even"}) == {
        "data": Decimal("33.3333333334"),
        "ml": Decimal("33.3333333333"),
        "web": Decimal("33.3333333333"),
    }


def test_fixed_percentages():
    shares = _pool_shares({"method": "fixed", "percentages": {"web": 50, "data": 35, "ml": 15}})
    assert shares == {"web": Decimal(50), "data": Decimal(35), "ml": Decimal(15)}


def test_proportional_to_direct_cost_of_the_day():
    # weights 60 : 30 : 10 of the direct spend (the pool's own row excluded)
    assert _pool_shares({"method": "proportional"}) == {"web": Decimal(60), "data": Decimal(30), "ml": Decimal(10)}


def test_proportional_to_a_subset_of_owners():
    # only web and data share: 60 : 30 → 66.67 : 33.33
    shares = _pool_shares({"method": "proportional", "owners": ["web", "data"]})
    assert shares == {"web": Decimal("66.6666666667"), "data": Decimal("33.3333333333")}


@pytest.mark.parametrize(
    ("drivers", "expected"),
    [
        # headcount 5 / 3 / 2 without months
        ({("web", None): Decimal(5), ("data", None): Decimal(3), ("ml", None): Decimal(2)}, (50, 30, 20)),
        # the cost's month (2026-11) overrides the undated row for web: 10 / 3 / 2 → 66.67 / 20 / 13.33
        (
            {
                ("web", None): Decimal(5),
                ("web", "2026-11"): Decimal(10),
                ("web", "2026-10"): Decimal(1),
                ("data", None): Decimal(3),
                ("ml", None): Decimal(2),
            },
            ("66.6666666667", "20", "13.3333333333"),
        ),
    ],
)
def test_driver_weighted(drivers, expected):
    assert DAY.strftime("%Y-%m") == "2026-11"
    shares = _pool_shares(
        {"method": "driver", "driver": {"file": "unused.csv", "column": "headcount"}}, {"support": drivers}
    )
    assert shares == dict(zip(["web", "data", "ml"], (Decimal(str(v)) for v in expected), strict=True))


def test_owner_pseudo_column_pools_unallocated_spend():
    pool_rules = rules(
        dimensions={"team": {"tag_keys": ["team"]}},
        owners=OWNERS,
        shared_pools=[
            {"id": "untagged", "match": {"owner": ["unallocated"]}, "method": "even", "owners": ["web", "ml"]}
        ],
    )
    direct = allocate_direct(
        focus_rows(
            {"Tags": '{"team": "web"}', "cost": "1"}, {"cost": "0.03"}, {"x_ChargeDay": date(2026, 11, 4), "cost": "1"}
        ).lazy(),
        pool_rules,
    ).collect()
    out = apply_shared_pools(direct, pool_rules)
    assert "unallocated" not in out["x_Team"].to_list()
    by_day = (
        out.group_by("x_ChargeDay", "x_Team").agg(pl.col("EffectiveCost").sum()).sort("x_ChargeDay", "x_Team").rows()
    )
    assert by_day == [
        (DAY, "ml", Decimal("0.015")),
        (DAY, "web", Decimal("1.015")),
        (date(2026, 11, 4), "ml", Decimal("0.5")),
        (date(2026, 11, 4), "web", Decimal("0.5")),
    ]
