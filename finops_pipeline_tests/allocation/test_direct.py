from decimal import Decimal

import polars as pl

from finops_pipeline.allocation.direct import allocate_direct
from finops_pipeline_tests.allocation.frames import focus_rows, rules

RULES = rules(
    dimensions={
        "team": {"tag_keys": ["team", "Team"], "case": "lower", "values": {"paymnets": "payments"}},
        "cost_center": {"tag_keys": ["cost-center"], "case": "upper", "values": {"2001": "CC-2001"}},
    },
    owners={"payments": {"cost_center": "CC-2001"}, "data": {"cost_center": "CC-3001"}},
    accounts={"222": {"team": "data"}},
    required_tags=["team", "cost_center"],
)


def _allocate(*rows):
    return allocate_direct(focus_rows(*rows).lazy(), RULES).collect().sort("EffectiveCost")


def test_tags_then_account_then_default_each_naming_its_rule():
    out = _allocate(
        {"Tags": '{"Team": " Paymnets ", "cost-center": "2001"}', "cost": "1.10"},  # alias, case, typo, trim
        {"Tags": '{"team": ""}', "SubAccountId": "222", "cost": "2.20"},  # blank tag → the account's owner
        {"Tags": '{"owner": "x"}', "cost": "3.30"},  # nothing known → the default owner
    )
    assert out.select("x_Team", "x_CostCenter", "x_AllocationRuleId", "x_HasRequiredTags").rows() == [
        ("payments", "CC-2001", "tag:team", True),
        ("data", "CC-3001", "account:222", False),  # the cost centre comes from the owner's own value
        ("unallocated", "unallocated", "default", False),
    ]
    assert out["AllocatedMethodId"].unique().to_list() == ["direct"]


def test_rows_are_summed_to_the_grain_and_nothing_is_lost():
    # two hourly rows of the same resource and owner become one row; a differently tagged one stays apart
    out = _allocate(
        {"ResourceId": "i-1", "Tags": '{"team": "data"}', "cost": "0.1234567891"},
        {"ResourceId": "i-1", "Tags": '{"team": "data"}', "cost": "0.0000000009"},
        {"ResourceId": "i-1", "Tags": '{"team": "payments"}', "cost": "5"},
    )
    assert out.select("x_Team", "EffectiveCost").rows() == [("data", Decimal("0.1234567900")), ("payments", Decimal(5))]
    assert out["BilledCost"].sum() == Decimal("5.1234567900")


def test_keys_the_rules_do_not_name_are_ignored():
    out = _allocate({"Tags": '{"teams": "data", "aws:createdBy": "x"}', "cost": "1"})
    assert out["x_Team"].to_list() == ["unallocated"]
    assert out.schema["EffectiveCost"] == pl.Decimal(38, 10)
