"""Kubernetes allocation: OpenCost's AggregateBy fixture, and node cost from the bill split over containers.

The tiny cluster `c1` used below (all numbers worked by hand):

* price ratio cpu 1 $/core-h : ram 0.25 $/GiB-h (gpu 10, unused).
* node n1 (`i-node1`): 2 cores, 8 GiB, 24 h → capacity 48 core-h × 1 = 48 and 192 GiB-h × 0.25 = 48, so its
  EffectiveCost of $24/day splits $12 CPU / $12 RAM, i.e. $0.25/core-h and $0.0625/GiB-h.
  * A (ns shop, label team=Payments): cpu request 0.5, usage 0.2 → 0.5 × 24 = 12 core-h → $3;
    ram request 2 GiB, usage 1 → 48 GiB-h → $3. Total $6.
  * B (ns search, namespace label team=data): cpu request 0.25, usage 0.5 (over its request) → max = 0.5
    → 12 core-h → $3; ram request 1 GiB, usage 0.5 → 24 GiB-h → $1.5. Total $4.5.
  * C (ns kube-system, namespace owner platform): cpu 0.25 → 6 core-h → $1.5; ram 0.5 GiB → 12 GiB-h →
    $0.75. Total $2.25.
  * OpenCost idle row: 48 − 30 = 18 core-h → $4.5; 192 − 84 = 108 GiB-h → $6.75. Total $11.25.
  * 6 + 4.5 + 2.25 + 11.25 = 24.
* node n2 (`i-node2`, same cluster): same size and price; D (ns shop, label team=payments) cpu 1 core,
  4 GiB → 24 core-h $6 + 96 GiB-h $6 = $12; idle 24 core-h $6 + 96 GiB-h $6 = $12.
"""

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction

import polars as pl
import pytest

from finops_pipeline.allocation.kubernetes import (
    METHOD_KUBERNETES_SHARED,
    allocate_kubernetes,
    share_opencost,
)
from finops_pipeline.allocation.rules import AllocationRules
from finops_pipeline.allocation.schema import cost_allocation_schema
from finops_pipeline.sources.kubernetes.schema import K8S_USAGE_SCHEMA, empty_k8s_usage
from finops_pipeline_tests.paths import SHARED_DATA

GOLDEN = SHARED_DATA / "opencost-k8s" / "opencost_mock_allocationset_aggregateby_expected.json"
DAY = date(2026, 11, 3)
GIB = 1024**3
CENT = Decimal("0.01")
EKS_POD = "arn:aws:eks:us-east-1:111122223333:pod/c1/shop/a-7d9f/0f1e2d3c"

# ---------------------------------------------------------------------------------------------------------
# OpenCost AggregateBy fixture (cases 1b, 3a, 4a-4d)
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def _golden_frames(golden: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    costs = ("cpuCost", "gpuCost", "ramCost", "pvCost", "networkCost", "loadBalancerCost")
    names = ("cpu_cost", "gpu_cost", "ram_cost", "pv_cost", "network_cost", "load_balancer_cost")
    allocations = pl.DataFrame(
        [
            {
                "name": a["name"],
                "cluster": a["cluster"],
                "node": a["node"],
                "namespace": a["namespace"],
                "labels": json.dumps(a["labels"]),
                **{name: float(a[cost]) for cost, name in zip(costs, names, strict=True)},
            }
            for a in golden["allocations"]
        ]
    )
    idle = pl.DataFrame(
        [
            {"cluster": i["cluster"], "cpu_cost": i["cpuCost"], "ram_cost": i["ramCost"], "gpu_cost": i["gpuCost"]}
            for i in golden["idle_by_cluster"]
        ]
    )
    return allocations, idle


def _golden_options(golden: dict, case: str) -> dict:
    """The fixture's options → share_opencost keyword arguments."""
    options = golden["cases"][case]["options"]
    kwargs: dict = {"aggregate_by": golden["cases"][case]["aggregate"]}
    if options.get("shareIdle") == "weighted":
        kwargs |= {"share_idle": "weighted", "idle_by": "node" if options.get("idleByNode") else "cluster"}
    share = options.get("share", "")
    if share.startswith("namespace=="):
        kwargs["share_namespaces"] = [share.removeprefix("namespace==")]
    elif share.startswith("label["):
        key, value = share.removeprefix("label[").split("]==")
        kwargs["share_labels"] = {key: value}
    if "sharedHourlyCosts" in options:
        hours = golden["window"]["minutes"] / 60
        kwargs["shared_overhead"] = sum(options["sharedHourlyCosts"].values()) * hours
    if "shareSplit" in options:
        kwargs["share_split"] = options["shareSplit"]
    return kwargs


# Exact values worked by hand (the fixture rounds to 2-3 decimals):
#   1b: ns1 = 16 + 6 + 6 = 28; ns2 = 3×6 (cluster1) + 3×6 (cluster2) = 36; ns3 = 3×6 = 18; idle 20 + 10 = 30.
#   3a: cluster1 idle cpu 5 over cpu costs 6 (ns1 has 3), ram 15 over ram costs 16 (ns1 has 11+1+1 = 13):
#       ns1 = 28 + 5·3/6 + 15·13/16 = 42.6875; ns2 = 36 + 2.5 + 15·3/16 + (cluster2: 5·3/6 + 5·3/6) = 46.3125;
#       ns3 = 18 + 2.5 + 2.5 = 23.
#   4a: ns3 (18) evenly over ns1, ns2: 28 + 9 = 37, 36 + 9 = 45.
#   4b: weighted: ns1 = 28 + 18·28/64 = 35.875, ns2 = 36 + 18·36/64 = 46.125.
#   4c: container1 (app=app1, 16) evenly over the 3 namespaces: ns1 = 28 − 16 + 16/3, ns2 = 36 + 16/3, ns3 = 18 + 16/3.
#   4d: 7 $/h × 24 h = 168 weighted by 28:36:18 of 82: ns1 = 28 + 168·28/82 = 85.3659, ns2 = 36 + 168·36/82.
EXACT = {
    "1b": {"namespace1": 28, "namespace2": 36, "namespace3": 18, "__idle__": 30},
    "3a": {"namespace1": 42.6875, "namespace2": 46.3125, "namespace3": 23},
    "4a": {"namespace1": 37, "namespace2": 45, "__idle__": 30},
    "4b": {"namespace1": 35.875, "namespace2": 46.125, "__idle__": 30},
    "4c": {"namespace1": 28 - 16 + 16 / 3, "namespace2": 36 + 16 / 3, "namespace3": 18 + 16 / 3, "__idle__": 30},
    "4d": {
        "namespace1": 28 + 168 * 28 / 82,
        "namespace2": 36 + 168 * 36 / 82,
        "namespace3": 18 + 168 * 18 / 82,
        "__idle__": 30,
    },
}


@pytest.mark.parametrize("case", ["1b", "3a", "4a", "4b", "4c", "4d"])
def test_share_opencost_reproduces_opencost_aggregateby(golden: dict, case: str) -> None:
    allocations, idle = _golden_frames(golden)
    result = share_opencost(allocations, idle, **_golden_options(golden, case))
    got = dict(zip(result["namespace"], result["total_cost"], strict=True))
    expected = golden["cases"][case]["expected"]
    assert set(got) == set(expected)
    for key, value in expected.items():
        # the fixture rounds half up to 2-3 decimals (35.875 → 35.88): a difference of exactly 0.005 is allowed
        assert got[key] == pytest.approx(value, abs=0.005 + 1e-9), (case, key)
        assert got[key] == pytest.approx(EXACT[case][key], abs=1e-9), (case, key)
    # nothing appears or vanishes: active 82 + idle 30 (+ overhead 168 in 4d)
    assert sum(got.values()) == pytest.approx(112 + (168 if case == "4d" else 0), abs=1e-9)


def test_share_opencost_idle_by_node_keeps_undistributable_idle() -> None:
    """Idle by node: a node's idle goes to that node's allocations only; GPU idle with no GPU cost stays idle."""
    allocations = pl.DataFrame(
        {
            "cluster": ["c", "c"],
            "node": ["n1", "n2"],
            "namespace": ["a", "b"],
            "labels": ["{}", "{}"],
            "cpu_cost": [1.0, 3.0],
            "ram_cost": [1.0, 1.0],
            "gpu_cost": [0.0, 0.0],
        }
    )
    idle = pl.DataFrame(
        {
            "cluster": ["c", "c"],
            "node": ["n1", "n2"],
            "cpu_cost": [2.0, 0.0],
            "ram_cost": [0.0, 4.0],
            "gpu_cost": [5.0, 0.0],
        }
    )
    result = share_opencost(allocations, idle, aggregate_by=["namespace"], share_idle="weighted", idle_by="node")
    got = dict(zip(result["namespace"], result["total_cost"], strict=True))
    # a = 2 + 2 (n1 cpu idle); b = 4 + 4 (n2 ram idle); n1's GPU idle (5) has no GPU cost to follow
    assert got == pytest.approx({"a": 4.0, "b": 8.0, "__idle__": 5.0})


# ---------------------------------------------------------------------------------------------------------
# allocate_kubernetes
# ---------------------------------------------------------------------------------------------------------


def make_rules(**kubernetes) -> AllocationRules:
    return AllocationRules.model_validate(
        {
            "dimensions": {
                "team": {"tag_keys": ["team"]},
                "cost_center": {"tag_keys": ["cost-center"], "case": "upper", "values": {"3001": "CC-3001"}},
                "environment": {"tag_keys": ["env"]},
            },
            "owners": {
                "platform": {"cost_center": "CC-1001"},
                "payments": {"cost_center": "CC-2001"},
                "data": {"cost_center": "CC-3001"},
            },
            "kubernetes": {
                "price_ratio": {"cpu_core_hour": 1, "ram_gib_hour": 0.25, "gpu_hour": 10},
                "owner_labels": {"team": ["team"], "cost_center": ["cost_center"]},
                "namespace_owners": {"kube-system": {"team": "platform"}},
                **kubernetes,
            },
        }
    )


DIMS = ["team", "cost_center", "environment"]
SCHEMA = cost_allocation_schema(DIMS)


def bill_row(
    resource_id: str, effective: str, *, billed: str | None = None, listed: str | None = None, **extra
) -> dict:
    row = {
        "x_ChargeDay": DAY,
        "x_SourceName": "aws",
        "ProviderName": "AWS",
        "BillingAccountId": "111",
        "BillingCurrency": "USD",
        "SubAccountId": "111",
        "ServiceCategory": "Compute",
        "ServiceName": "Amazon Elastic Compute Cloud",
        "ChargeCategory": "Usage",
        "CommitmentDiscountStatus": None,
        "ResourceId": resource_id,
        "ResourceName": None,
        "RegionId": "us-east-1",
        "x_Team": "platform",
        "x_CostCenter": "CC-1001",
        "x_Environment": "prod",
        "AllocatedMethodId": "direct",
        "AllocatedMethodDetails": None,
        "AllocatedResourceId": None,
        "AllocatedResourceName": None,
        "AllocatedTags": None,
        "x_AllocationRuleId": "account:111",
        "x_HasRequiredTags": False,
        "BilledCost": Decimal(billed or effective),
        "EffectiveCost": Decimal(effective),
        "ListCost": Decimal(listed or effective),
    }
    return row | extra


def bill(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SCHEMA)


def container(
    node: str,
    namespace: str,
    name: str,
    *,
    cpu: tuple[float, float],
    ram: tuple[float, float],
    labels: dict | None = None,
    namespace_labels: dict | None = None,
    pv_claims: dict | None = None,
) -> dict:
    """A container running 24 h: cpu (request, usage) in cores, ram (request, usage) in GiB."""
    return {
        "x_ChargeDay": DAY,
        "cluster": "c1",
        "node": node,
        "provider_id": f"aws:///us-east-1a/i-{node}",
        "node_resource_id": f"i-{node}",
        "namespace": namespace,
        "controller": f"{name}-deploy",
        "pod": f"{name}-pod",
        "container": name,
        "is_idle": False,
        "is_unallocated": False,
        "is_unmounted": False,
        "labels": json.dumps(labels or {}),
        "namespace_labels": json.dumps(namespace_labels or {}),
        "minutes": 1440.0,
        "cpu_core_request_average": cpu[0],
        "cpu_core_usage_average": cpu[1],
        "ram_byte_request_average": ram[0] * GIB,
        "ram_byte_usage_average": ram[1] * GIB,
        "pv_claims": json.dumps(pv_claims) if pv_claims else None,
    }


def idle(node: str, core_hours: float, gib_hours: float) -> dict:
    return {
        "x_ChargeDay": DAY,
        "cluster": "c1",
        "node": node,
        "node_resource_id": f"i-{node}",
        "allocation_name": f"c1/{node}/__idle__",
        "is_idle": True,
        "is_unallocated": False,
        "is_unmounted": False,
        "minutes": 1440.0,
        "cpu_core_hours": core_hours,
        "ram_byte_hours": gib_hours * GIB,
        "gpu_hours": 0.0,
    }


def usage(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame([{name: row.get(name) for name in K8S_USAGE_SCHEMA} for row in rows], schema=K8S_USAGE_SCHEMA)


A = container("node1", "shop", "a", cpu=(0.5, 0.2), ram=(2, 1), labels={"team": "Payments"})
B = container("node1", "search", "b", cpu=(0.25, 0.5), ram=(1, 0.5), namespace_labels={"team": "data"})
C = container("node1", "kube-system", "c", cpu=(0.25, 0.1), ram=(0.5, 0.25))
D = container("node2", "shop", "d", cpu=(1, 0.5), ram=(4, 2), labels={"team": "payments"})
N1_IDLE = idle("node1", 18, 108)
N2_IDLE = idle("node2", 24, 96)
OTHER_ROWS = (
    bill_row("arn:aws:s3:::logs", "5.5", ServiceName="Amazon S3", ServiceCategory="Storage"),
    # AWS split cost allocation row for a pod on node1: BilledCost 0, never a node, passed through as is
    bill_row(EKS_POD, "0", x_AllocationRuleId="default", x_Team="unallocated"),
)


def run(direct: pl.DataFrame, usage_frame: pl.DataFrame, **kubernetes):
    return allocate_kubernetes(direct, usage_frame, make_rules(**kubernetes))


def pieces_of(frame: pl.DataFrame, resource_id: str) -> dict[tuple[str, str | None], Decimal]:
    """{(AllocatedMethodId, AllocatedResourceId): EffectiveCost} of a resource's pieces."""
    rows = frame.filter(pl.col("ResourceId") == resource_id)
    keys = zip(rows["AllocatedMethodId"], rows["AllocatedResourceId"], strict=True)
    result: dict = {}
    for key, amount in zip(keys, rows["EffectiveCost"], strict=True):
        result[key] = result.get(key, Decimal(0)) + amount
    return result


def by_owner(frame: pl.DataFrame, resource_id: str, method: str) -> dict[tuple[str, str], Decimal]:
    """{(x_Team, x_AllocationRuleId): EffectiveCost} of a resource's pieces of one method."""
    rows = frame.filter((pl.col("ResourceId") == resource_id) & (pl.col("AllocatedMethodId") == method))
    grouped = rows.group_by("x_Team", "x_AllocationRuleId").agg(pl.col("EffectiveCost").sum())
    return {(team, rule): amount for team, rule, amount in grouped.iter_rows()}


def assert_conserved(result: pl.DataFrame, direct: pl.DataFrame) -> None:
    """Σ pieces = input, exactly, per resource and amount; the schema is the table's."""
    assert result.schema == direct.schema
    amounts = ["BilledCost", "EffectiveCost", "ListCost"]
    before = direct.group_by("ResourceId").agg(pl.col(a).sum() for a in amounts).sort("ResourceId")
    after = result.group_by("ResourceId").agg(pl.col(a).sum() for a in amounts).sort("ResourceId")
    assert after.to_dicts() == before.to_dicts()


def assert_close(actual: Decimal, expected: Fraction | float | str) -> None:
    """To the cent worked by hand, and to the money scale (10^-10, the split's rounding) of the exact value."""
    exact = Fraction(expected) if not isinstance(expected, Fraction) else expected
    assert actual.quantize(CENT) == Decimal(float(exact)).quantize(CENT)
    assert abs(Fraction(actual) - exact) <= Fraction(1, 10**10)


def test_idle_separate_max_request_usage_owners_and_passthrough() -> None:
    direct = bill(bill_row("i-node1", "24", billed="24", listed="32"), *OTHER_ROWS)
    result = run(direct, usage(A, B, C, N1_IDLE), idle="separate")
    out = result.frame
    assert_conserved(out, direct)
    pieces = pieces_of(out, "i-node1")
    assert pieces == {
        ("kubernetes", "c1/shop/a-pod/a"): Decimal(6),  # 12 core-h × 0.25 + 48 GiB-h × 0.0625
        ("kubernetes", "c1/search/b-pod/b"): Decimal("4.5"),  # usage 0.5 > request 0.25: 12 core-h → $3, + $1.5
        ("kubernetes", "c1/kube-system/c-pod/c"): Decimal("2.25"),
        ("kubernetes_idle", "c1/node1/__idle__"): Decimal("11.25"),  # 18 × 0.25 + 108 × 0.0625
    }
    node = out.filter(pl.col("ResourceId") == "i-node1").sort("AllocatedResourceId")
    # ListCost (32) split with the same weights: ×4/3
    assert node["ListCost"].to_list() == [Decimal(3), Decimal(15), Decimal(6), Decimal(8)]
    owners = {
        r["AllocatedResourceId"]: (r["x_Team"], r["x_CostCenter"], r["x_Environment"], r["x_AllocationRuleId"])
        for r in node.iter_rows(named=True)
    }
    assert owners == {
        "c1/shop/a-pod/a": ("payments", "CC-2001", "prod", "kubernetes:label:team"),  # "Payments" normalised
        "c1/search/b-pod/b": ("data", "CC-3001", "prod", "kubernetes:namespace_label:team"),
        "c1/kube-system/c-pod/c": ("platform", "CC-1001", "prod", "kubernetes:namespace_owner:kube-system"),
        "c1/node1/__idle__": ("platform", "CC-1001", "prod", "kubernetes:idle"),  # the node row's own owner
    }
    a = node.filter(pl.col("AllocatedResourceId") == "c1/shop/a-pod/a").row(0, named=True)
    assert a["AllocatedResourceName"] == "a-deploy"
    assert json.loads(a["AllocatedTags"]) == {"team": "Payments"}
    assert json.loads(a["AllocatedMethodDetails"]) == {
        "Elements": [
            {"AllocatedRatio": 0.125, "UsageUnit": "CPU", "UsageQuantity": 12.0},  # $3 of $24
            {"AllocatedRatio": 0.125, "UsageUnit": "Memory", "UsageQuantity": 48.0},
        ]
    }
    assert set(node["x_HasRequiredTags"]) == {False}  # from the node row
    assert set(node["x_ChargeDay"]) == {DAY} and set(node["ServiceName"]) == {"Amazon Elastic Compute Cloud"}
    # the other rows, the EKS split-cost row included, are passed through unchanged
    others = out.filter(pl.col("ResourceId") != "i-node1")
    assert (
        others.sort("ResourceId").to_dicts()
        == direct.filter(pl.col("ResourceId") != "i-node1").sort("ResourceId").to_dicts()
    )
    assert result.node_rows == 1 and result.unmatched_nodes.is_empty() and result.nodes_without_idle.is_empty()


def test_idle_shared_weighted_by_node_is_folded_into_containers() -> None:
    # CPU idle $4.5 by CPU cost 3 : 3 : 1.5 → 1.8, 1.8, 0.9;
    # RAM idle $6.75 by RAM cost 3 : 1.5 : 0.75 → 27/7, 27/14, 27/28.
    direct = bill(bill_row("i-node1", "24"), *OTHER_ROWS)
    out = run(direct, usage(A, B, C, N1_IDLE), idle="share_weighted", idle_by="node").frame
    assert_conserved(out, direct)
    pieces = pieces_of(out, "i-node1")
    assert set(pieces) == {("kubernetes", f"c1/{p}") for p in ("shop/a-pod/a", "search/b-pod/b", "kube-system/c-pod/c")}
    assert_close(pieces["kubernetes", "c1/shop/a-pod/a"], Fraction("7.8") + Fraction(27, 7))  # 11.66
    assert_close(pieces["kubernetes", "c1/search/b-pod/b"], Fraction("6.3") + Fraction(27, 14))  # 8.23
    assert_close(pieces["kubernetes", "c1/kube-system/c-pod/c"], Fraction("3.15") + Fraction(27, 28))  # 4.11
    a = out.filter(pl.col("AllocatedResourceId") == "c1/shop/a-pod/a")["AllocatedMethodDetails"].item()
    cpu, ram = json.loads(a)["Elements"]
    assert cpu["AllocatedRatio"] == pytest.approx((3 + 1.8) / 24) and cpu["UsageQuantity"] == pytest.approx(12 + 7.2)
    assert ram["AllocatedRatio"] == pytest.approx((3 + 27 / 7) / 24)


def test_idle_shared_weighted_by_cluster_crosses_nodes() -> None:
    # Cluster CPU cost A 3, B 3, C 1.5, D 6 (13.5); RAM cost A 3, B 1.5, C 0.75, D 6 (11.25).
    # n1 idle (cpu 4.5, ram 6.75) → payments (A+D): 4.5·9/13.5 + 6.75·9/11.25 = 3 + 5.4 = 8.4;
    #   data (B): 1 + 0.9 = 1.9; platform (C): 0.5 + 0.45 = 0.95.
    # n2 idle (cpu 6, ram 6) → payments: 4 + 4.8 = 8.8; data: 4/3 + 0.8; platform: 2/3 + 0.4.
    direct = bill(bill_row("i-node1", "24"), bill_row("i-node2", "24"), *OTHER_ROWS)
    out = run(direct, usage(A, B, C, D, N1_IDLE, N2_IDLE), idle="share_weighted", idle_by="cluster").frame
    assert_conserved(out, direct)
    n1, n2 = pieces_of(out, "i-node1"), pieces_of(out, "i-node2")
    assert n1[("kubernetes", "c1/shop/a-pod/a")] == Decimal(6)  # own cost; idle comes as owner pieces
    assert n2[("kubernetes", "c1/shop/d-pod/d")] == Decimal(12)
    idle1, idle2 = by_owner(out, "i-node1", "kubernetes_idle"), by_owner(out, "i-node2", "kubernetes_idle")
    assert (
        set(idle1)
        == set(idle2)
        == {
            ("payments", "kubernetes:label:team"),
            ("data", "kubernetes:namespace_label:team"),
            ("platform", "kubernetes:namespace_owner:kube-system"),
        }
    )  # no undistributed idle left with the node row's owner (rule kubernetes:idle)
    assert_close(idle1["payments", "kubernetes:label:team"], Fraction("8.4"))
    assert_close(idle1["data", "kubernetes:namespace_label:team"], Fraction("1.9"))
    assert_close(idle1["platform", "kubernetes:namespace_owner:kube-system"], Fraction("0.95"))
    assert_close(idle2["payments", "kubernetes:label:team"], Fraction("8.8"))
    assert_close(idle2["data", "kubernetes:namespace_label:team"], Fraction(4, 3) + Fraction("0.8"))  # 2.13
    assert_close(idle2["platform", "kubernetes:namespace_owner:kube-system"], Fraction(2, 3) + Fraction("0.4"))
    row = out.filter((pl.col("ResourceId") == "i-node2") & (pl.col("AllocatedMethodId") == "kubernetes_idle"))
    assert set(row["AllocatedResourceId"]) == {"c1/node2/__idle__"}  # whose idle it is
    assert set(row.filter(pl.col("x_Team") == "payments")["x_CostCenter"]) == {"CC-2001"}
    totals = dict(
        out.filter(pl.col("ResourceId").str.starts_with("i-"))
        .group_by("x_Team")
        .agg(pl.col("EffectiveCost").sum())
        .iter_rows()
    )
    assert_close(totals["payments"], Fraction(6 + 12) + Fraction("8.4") + Fraction("8.8"))  # 35.20
    assert_close(totals["platform"], Fraction("2.25") + Fraction("0.95") + Fraction(2, 3) + Fraction("0.4"))  # 4.27


def test_shared_namespace_weighted_and_even() -> None:
    direct = bill(bill_row("i-node1", "24"), *OTHER_ROWS)
    frames = {
        split: run(
            direct, usage(A, B, C, N1_IDLE), shared_namespaces=["kube-system"], shared_namespace_split=split
        ).frame
        for split in ("weighted", "even")
    }
    for out in frames.values():
        assert_conserved(out, direct)
        pieces = pieces_of(out, "i-node1")
        assert ("kubernetes", "c1/kube-system/c-pod/c") not in pieces  # kube-system's cost went to the others
        assert pieces[("kubernetes", "c1/shop/a-pod/a")] == Decimal(6)
        assert pieces[("kubernetes_idle", "c1/node1/__idle__")] == Decimal("11.25")
        assert set(out.filter(pl.col("AllocatedMethodId") == METHOD_KUBERNETES_SHARED)["AllocatedResourceId"]) == {
            "c1/kube-system"
        }
    # weighted: C's $2.25 by A's $6 : B's $4.5 → 2.25·6/10.5 = 9/7 (1.29), 2.25·4.5/10.5 = 27/28 (0.96)
    weighted = by_owner(frames["weighted"], "i-node1", METHOD_KUBERNETES_SHARED)
    assert_close(weighted["payments", "kubernetes:label:team"], Fraction(9, 7))
    assert_close(weighted["data", "kubernetes:namespace_label:team"], Fraction(27, 28))
    # even: 2.25 / 2 namespaces (shop, search)
    even = by_owner(frames["even"], "i-node1", METHOD_KUBERNETES_SHARED)
    assert even == {
        ("payments", "kubernetes:label:team"): Decimal("1.125"),
        ("data", "kubernetes:namespace_label:team"): Decimal("1.125"),
    }
    row = (
        frames["even"].filter(pl.col("AllocatedMethodId") == METHOD_KUBERNETES_SHARED).sort("x_Team").row(0, named=True)
    )
    assert (row["x_Team"], row["x_CostCenter"], row["AllocatedResourceName"]) == ("data", "CC-3001", "kube-system")


def test_even_split_is_per_namespace_not_per_container() -> None:
    # A second shop container (A2, same owner) does not give shop a bigger share: shop and search get 1.125 each.
    a2 = container("node1", "shop", "a2", cpu=(0.1, 0), ram=(0.1, 0), labels={"team": "payments"})
    direct = bill(bill_row("i-node1", "24"))
    n1_idle = idle("node1", 18 - 2.4, 108 - 2.4)  # a2's 2.4 core-h and GiB-h come out of idle: C is still $2.25
    out = run(
        direct, usage(A, a2, B, C, n1_idle), shared_namespaces=["kube-system"], shared_namespace_split="even"
    ).frame
    assert_conserved(out, direct)
    assert by_owner(out, "i-node1", METHOD_KUBERNETES_SHARED) == {
        ("payments", "kubernetes:label:team"): Decimal("1.125"),
        ("data", "kubernetes:namespace_label:team"): Decimal("1.125"),
    }


def test_shared_namespace_carries_its_idle_share() -> None:
    # OpenCost step 6: kube-system first receives its idle share (node scope: 2.25 + 0.9 + 27/28), then all of
    # it is split by the receivers' cost before idle (6 : 4.5): payments 4/7 of it, data 3/7.
    direct = bill(bill_row("i-node1", "24"))
    out = run(
        direct, usage(A, B, C, N1_IDLE), idle="share_weighted", idle_by="node", shared_namespaces=["kube-system"]
    ).frame
    assert_conserved(out, direct)
    shared = by_owner(out, "i-node1", METHOD_KUBERNETES_SHARED)
    c_total = Fraction("3.15") + Fraction(27, 28)
    assert_close(shared["payments", "kubernetes:label:team"], c_total * Fraction(4, 7))  # 2.35
    assert_close(shared["data", "kubernetes:namespace_label:team"], c_total * Fraction(3, 7))  # 1.76
    assert_close(pieces_of(out, "i-node1")[("kubernetes", "c1/shop/a-pod/a")], Fraction("7.8") + Fraction(27, 7))


def test_shared_namespace_with_idle_shared_by_cluster() -> None:
    # n1: kube-system's own 2.25 + the n1 idle it receives (0.95) = 3.2; n2: the n2 idle it receives, 2/3 + 0.4.
    # Both go to the receivers by their cost before idle: payments A 6 + D 12 = 18, data B 4.5 → 0.8 : 0.2.
    direct = bill(bill_row("i-node1", "24"), bill_row("i-node2", "24"))
    out = run(
        direct,
        usage(A, B, C, D, N1_IDLE, N2_IDLE),
        idle="share_weighted",
        idle_by="cluster",
        shared_namespaces=["kube-system"],
    ).frame
    assert_conserved(out, direct)
    shared1, shared2 = (by_owner(out, node, METHOD_KUBERNETES_SHARED) for node in ("i-node1", "i-node2"))
    assert_close(shared1["payments", "kubernetes:label:team"], Fraction("3.2") * Fraction(4, 5))  # 2.56
    assert_close(shared1["data", "kubernetes:namespace_label:team"], Fraction("3.2") * Fraction(1, 5))  # 0.64
    assert_close(shared2["payments", "kubernetes:label:team"], Fraction(16, 15) * Fraction(4, 5))  # 0.85
    idle1 = by_owner(out, "i-node1", "kubernetes_idle")
    assert ("platform", "kubernetes:namespace_owner:kube-system") not in idle1
    assert_close(idle1["payments", "kubernetes:label:team"], Fraction("8.4"))


def test_node_rows_split_row_by_row_with_the_same_weights() -> None:
    """Two bill rows for one node-day (e.g. on-demand hours and savings-plan-covered hours) are each split
    exactly; the weights come from the node's total EffectiveCost."""
    direct = bill(
        bill_row("i-node1", "16", billed="0", listed="20", CommitmentDiscountStatus="Used"),
        bill_row("i-node1", "8", billed="8", listed="12"),
    )
    out = run(direct, usage(A, B, C, N1_IDLE)).frame
    assert_conserved(out, direct)
    used = out.filter(pl.col("CommitmentDiscountStatus") == "Used").sort("AllocatedResourceId")
    # weights 6 : 3 : 11.25 : 4.5 (of 24)
    assert used["EffectiveCost"].to_list() == [Decimal(c) for c in ("1.5", "7.5", "3", "4")]
    assert used["ListCost"].to_list() == [Decimal(c) for c in ("1.875", "9.375", "3.75", "5")]
    assert set(used["BilledCost"]) == {Decimal(0)}


@pytest.mark.parametrize("without_idle", [True, False])
def test_no_idle_rows_or_negative_idle_give_the_whole_cost_to_containers(without_idle: bool) -> None:
    # Capacity = what the containers were allocated: 30 core-h × 1 + 84 GiB-h × 0.25 = 51;
    # A = 24 · (12 + 12)/51, B = 24 · (12 + 6)/51, C = 24 · (6 + 3)/51.
    rows = [A, B, C] if without_idle else [A, B, C, idle("node1", -6, 0)]
    direct = bill(bill_row("i-node1", "24"))
    result = run(direct, usage(*rows))
    assert_conserved(result.frame, direct)
    pieces = pieces_of(result.frame, "i-node1")
    assert len(pieces) == 3
    assert_close(pieces[("kubernetes", "c1/shop/a-pod/a")], Fraction(24 * 24, 51))  # 11.29
    assert_close(pieces[("kubernetes", "c1/search/b-pod/b")], Fraction(24 * 18, 51))  # 8.47
    assert_close(pieces[("kubernetes", "c1/kube-system/c-pod/c")], Fraction(24 * 9, 51))  # 4.24
    if without_idle:
        assert result.nodes_without_idle["node_resource_id"].to_list() == ["i-node1"]
        assert result.negative_idle_clamped == 0
    else:
        assert result.nodes_without_idle.is_empty()
        assert result.negative_idle_clamped == 1


def test_unmatched_nodes_and_eks_split_cost_rows_are_never_nodes() -> None:
    ghost = container("ghost", "shop", "g", cpu=(1, 1), ram=(1, 1))
    # a (contrived) usage node whose id is an EKS split-cost pod ARN: that bill row is still not a node
    eks_node = container("x", "shop", "x", cpu=(1, 1), ram=(1, 1)) | {"node_resource_id": EKS_POD}
    direct = bill(bill_row("i-node1", "24"), *OTHER_ROWS)
    result = run(direct, usage(A, B, C, N1_IDLE, ghost, eks_node))
    assert_conserved(result.frame, direct)
    assert result.unmatched_nodes.select("node", "node_resource_id", "containers").to_dicts() == [
        {"node": "ghost", "node_resource_id": "i-ghost", "containers": 1},
        {"node": "x", "node_resource_id": EKS_POD, "containers": 1},
    ]
    eks = result.frame.filter(pl.col("ResourceId") == EKS_POD)
    assert eks.to_dicts() == direct.filter(pl.col("ResourceId") == EKS_POD).to_dicts()
    assert result.node_rows == 1
    assert result.diagnostics()["unmatched_node_days"] == 2
    assert result.diagnostics()["unmatched_node_examples"] == [EKS_POD, "i-ghost"]
    # unpriced containers do not change the priced node's split
    assert pieces_of(result.frame, "i-node1")[("kubernetes", "c1/shop/a-pod/a")] == Decimal(6)


def test_default_owner_and_label_normalisation() -> None:
    lone = container("node9", "misc", "e", cpu=(1, 0), ram=(1, 0), labels={"cost_center": "3001"})
    direct = bill(bill_row("i-node9", "10", x_Environment="sandbox"))
    row = run(direct, usage(lone)).frame.row(0, named=True)
    assert row["EffectiveCost"] == Decimal(10)
    assert (row["x_Team"], row["x_CostCenter"], row["x_Environment"], row["x_AllocationRuleId"]) == (
        "unallocated",
        "CC-3001",
        "sandbox",
        "kubernetes:default",
    )


def test_persistent_volume_cost_by_claim() -> None:
    """The demo's PVs (`pvc-<uuid>`, no providerID) have no bill row; a claim with the volume's provider id is
    matched to the bill's volume row and split by byte-hours (2 : 1)."""
    claim = {"cluster=c1:name=pvc-1": {"byteHours": 48 * GIB, "cost": 0.1, "providerID": "aws://us-east-1a/vol-0abc"}}
    a = A | {"pv_claims": json.dumps(claim)}
    b = B | {
        "pv_claims": json.dumps(
            {
                "cluster=c1:name=pvc-1": {
                    "byteHours": 24 * GIB,
                    "cost": 0.05,
                    "providerID": "aws://us-east-1a/vol-0abc",
                },
                "cluster=c1:name=pvc-2": {"byteHours": 24 * GIB, "cost": 0.05},
            }
        )
    }
    direct = bill(bill_row("i-node1", "24"), bill_row("vol-0abc", "3", ServiceCategory="Storage"))
    result = run(direct, usage(a, b, C, N1_IDLE))
    assert_conserved(result.frame, direct)
    volume = pieces_of(result.frame, "vol-0abc")
    assert volume == {("kubernetes", "c1/shop/a-pod/a"): Decimal(2), ("kubernetes", "c1/search/b-pod/b"): Decimal(1)}
    details = result.frame.filter(
        (pl.col("ResourceId") == "vol-0abc") & (pl.col("AllocatedResourceId") == "c1/shop/a-pod/a")
    )["AllocatedMethodDetails"].item()
    element = json.loads(details)["Elements"]
    assert element == [{"AllocatedRatio": pytest.approx(2 / 3), "UsageUnit": "Storage", "UsageQuantity": 48.0}]
    assert result.volume_rows == 1
    assert result.unmatched_volumes.select("volume_id", "claims").to_dicts() == [{"volume_id": "pvc-2", "claims": 1}]


def test_no_kubernetes_usage_passes_everything_through() -> None:
    direct = bill(bill_row("i-node1", "24"), *OTHER_ROWS)
    result = allocate_kubernetes(direct.lazy(), empty_k8s_usage(), make_rules())
    assert result.frame.to_dicts() == direct.to_dicts()
    assert result.node_rows == 0 and result.unmatched_nodes.is_empty()


def test_shared_namespace_without_receivers_keeps_its_cost() -> None:
    # only kube-system runs on the cluster: nobody to share with, C keeps its $2.25 ((6 + 3)/96 of $24)
    direct = bill(bill_row("i-node1", "24"))
    out = run(direct, usage(C, idle("node1", 42, 180)), shared_namespaces=["kube-system"]).frame
    assert_conserved(out, direct)
    assert pieces_of(out, "i-node1") == {
        ("kubernetes", "c1/kube-system/c-pod/c"): Decimal("2.25"),
        ("kubernetes_idle", "c1/node1/__idle__"): Decimal("21.75"),
    }
