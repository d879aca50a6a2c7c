from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from finops_pipeline.focus.schema import MONEY
from finops_pipeline.kpis import KPI_SCHEMA, KPIS, finops_kpis
from finops_pipeline_tests.chargeback.allocation_rows import allocation

D = Decimal
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)

FOCUS_SCHEMA = {
    "x_ChargeDay": pl.Date,
    "x_SourceName": pl.String,
    "BillingCurrency": pl.String,
    "ServiceCategory": pl.String,
    "ChargeCategory": pl.String,
    "CommitmentDiscountId": pl.String,
    "CommitmentDiscountStatus": pl.String,
    "EffectiveCost": MONEY,
    "ListCost": MONEY,
}


def focus(*rows: tuple) -> pl.DataFrame:
    """(day, source, category, charge category, commitment id, status, EffectiveCost, ListCost), USD."""
    return pl.DataFrame(
        [
            (day, source, "USD", cat, charge, cid, status, D(ec), D(lc))
            for day, source, cat, charge, cid, status, ec, lc in rows
        ],
        schema=FOCUS_SCHEMA,
        orient="row",
    )


ALLOCATION = allocation(
    # aws: 110 in all; tagged 60 + 20 = 80; owned (not unallocated) 100; Kubernetes 20 + 5 + 15 = 40, idle 15
    {"x_Team": "payments", "EffectiveCost": "60"},
    {"x_Team": "unallocated", "EffectiveCost": "10", "x_HasRequiredTags": False, "x_AllocationRuleId": "default"},
    {"x_Team": "payments", "EffectiveCost": "20", "AllocatedMethodId": "kubernetes"},
    {"x_Team": "platform", "EffectiveCost": "5", "AllocatedMethodId": "kubernetes_shared", "x_HasRequiredTags": False},
    {"x_Team": "platform", "EffectiveCost": "15", "AllocatedMethodId": "kubernetes_idle", "x_HasRequiredTags": None},
    # gcp: 40 in all, nothing tagged, owned 30, no Kubernetes
    {"x_SourceName": "gcp", "x_Team": "data", "EffectiveCost": "30", "AllocatedMethodId": "shared_pool",
     "x_HasRequiredTags": False},
    {"x_SourceName": "gcp", "x_Team": "unallocated", "EffectiveCost": "10", "x_HasRequiredTags": False},
    # azure, billed in EUR: never added to dollars
    {"x_SourceName": "azure", "BillingCurrency": "EUR", "x_Team": "data", "EffectiveCost": "7"},
)  # fmt: skip

FOCUS = focus(
    # aws: an RI covering 30 of Compute (list 50), 20 of on-demand Compute, 10 of the RI unused, Storage 40, tax
    (NOV1, "aws", "Compute", "Usage", "ri-1", "Used", "30", "50"),
    (NOV1, "aws", "Compute", "Usage", None, None, "20", "20"),
    (NOV1, "aws", "Compute", "Usage", "ri-1", "Unused", "10", "0"),
    (NOV1, "aws", "Storage", "Usage", None, None, "40", "40"),
    (NOV1, "aws", "Other", "Tax", None, None, "10", "10"),
    # gcp: a CUD covering 8 of Compute (list 10), 2 of on-demand Compute, Storage 30
    (NOV1, "gcp", "Compute", "Usage", "cud-1", "Used", "8", "10"),
    (NOV1, "gcp", "Compute", "Usage", None, None, "2", "2"),
    (NOV1, "gcp", "Storage", "Usage", None, None, "30", "30"),
    # the next day aws has only a credit: every denominator is 0
    (NOV2, "aws", "Compute", "Credit", None, None, "-5", "0"),
)


def kpis() -> pl.DataFrame:
    return finops_kpis(ALLOCATION, FOCUS, default_owner="unallocated", owner_column="x_Team")


def kpi(frame: pl.DataFrame, name: str, scope: str, day: date = NOV1, currency: str = "USD") -> tuple:
    rows = frame.filter(x_ChargeDay=day, kpi=name, scope=scope, currency=currency)
    assert rows.height == 1, (name, scope, day, currency)
    numerator, denominator, value = rows.row(0)[-3:]
    return numerator, denominator, value


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return kpis()


def test_tag_coverage(frame):
    assert kpi(frame, "tag_coverage", "aws")[:2] == (D(80), D(110))  # 60 + 20 tagged of 110
    assert kpi(frame, "tag_coverage", "aws")[2] == pytest.approx(80 / 110)
    assert kpi(frame, "tag_coverage", "gcp") == (D(0), D(40), 0.0)
    assert kpi(frame, "tag_coverage", "all")[:2] == (D(80), D(150))  # aws + gcp, dollars only
    assert kpi(frame, "tag_coverage", "all", currency="EUR") == (D(7), D(7), 1.0)
    assert kpi(frame, "tag_coverage", "azure", currency="EUR") == (D(7), D(7), 1.0)


def test_allocation_coverage(frame):
    assert kpi(frame, "allocation_coverage", "aws")[:2] == (D(100), D(110))  # all but the 10 unallocated
    assert kpi(frame, "allocation_coverage", "gcp") == (D(30), D(40), 0.75)
    assert kpi(frame, "allocation_coverage", "all")[:2] == (D(130), D(150))


def test_effective_savings_rate(frame):
    # aws Usage rows: list 50 + 20 + 0 + 40 = 110, effective 30 + 20 + 10 + 40 = 100 → 10 / 110 (tax left out;
    # the unused 10 of RI counts against the savings)
    assert kpi(frame, "effective_savings_rate", "aws")[:2] == (D(10), D(110))
    # gcp: list 10 + 2 + 30 = 42, effective 8 + 2 + 30 = 40 → 2 / 42
    assert kpi(frame, "effective_savings_rate", "gcp")[:2] == (D(2), D(42))
    assert kpi(frame, "effective_savings_rate", "gcp")[2] == pytest.approx(2 / 42)
    assert kpi(frame, "effective_savings_rate", "all")[:2] == (D(12), D(152))


def test_commitment_utilization(frame):
    assert kpi(frame, "commitment_utilization", "aws") == (D(30), D(40), 0.75)  # used 30 of 30 + 10 unused
    assert kpi(frame, "commitment_utilization", "gcp") == (D(8), D(8), 1.0)
    assert kpi(frame, "commitment_utilization", "all")[:2] == (D(38), D(48))


def test_commitment_coverage(frame):
    # eligible: Compute (a commitment applies there); Storage is not. aws Compute usage other than the
    # unused RI: 30 covered + 20 on demand → 30 / 50; gcp: 8 / 10
    assert kpi(frame, "commitment_coverage", "aws") == (D(30), D(50), 0.6)
    assert kpi(frame, "commitment_coverage", "gcp") == (D(8), D(10), 0.8)
    assert kpi(frame, "commitment_coverage", "all")[:2] == (D(38), D(60))


def test_kubernetes_idle_share(frame):
    assert kpi(frame, "kubernetes_idle_share", "aws") == (D(15), D(40), 0.375)  # 15 / (20 + 5 + 15)
    assert kpi(frame, "kubernetes_idle_share", "gcp") == (D(0), D(0), None)  # no cluster: null, not 0
    assert kpi(frame, "kubernetes_idle_share", "all") == (D(15), D(40), 0.375)


def test_a_zero_denominator_gives_a_null_value_not_a_missing_row(frame):
    day2 = frame.filter(x_ChargeDay=NOV2)
    # only aws in USD on the 2nd: one row per KPI for scope all and one for aws
    assert day2.select("kpi", "scope").rows() == [(name, scope) for name in KPIS for scope in ("all", "aws")]
    assert day2["value"].null_count() == day2.height
    assert day2["denominator"].to_list() == [D(0)] * day2.height


def test_shape(frame):
    assert frame.schema == pl.Schema(KPI_SCHEMA)
    # 1 Nov: USD all + aws + gcp, EUR all + azure = 5 scopes × 6 KPIs; 2 Nov: 2 × 6
    assert frame.height == 5 * 6 + 2 * 6
    assert frame.select("x_ChargeDay", "kpi", "scope", "currency").is_duplicated().sum() == 0
    assert set(frame["scope_type"]) == {"all", "source"}
    assert frame.filter(scope="all")["scope_type"].unique().to_list() == ["all"]


def test_other_owner_columns():
    frame = finops_kpis(ALLOCATION, FOCUS, default_owner="CC-2001", owner_column="x_CostCenter")
    # every allocation row has the default cost centre CC-2001 → nothing counts as allocated
    assert kpi(frame, "allocation_coverage", "all") == (D(0), D(150), 0.0)
