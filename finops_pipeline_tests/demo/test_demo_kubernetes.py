"""The demo's OpenCost allocation files, read by the real reader, checked against the AWS and Azure bills.

A node's `node_resource_id` must be what the bill calls the instance, its running hours what the bill
charges for it that day, and its containers' requests must fit its capacity (read from the bill's own
product columns: `product/vcpu`, Azure `AdditionalInfo.VCPUs`).
"""

import json
from collections import defaultdict
from datetime import date, timedelta

import polars as pl
import pytest

from finops_pipeline.connectors import LocalDirectoryStore
from finops_pipeline.defs.kubernetes import usage_from_files
from finops_pipeline.demo import DemoExports
from finops_pipeline.sources import azure as az
from finops_pipeline.sources.aws.cur import scan_cur
from finops_pipeline.sources.aws.focus_mapping import cur_to_focus
from finops_pipeline.sources.kubernetes import K8S_USAGE_SCHEMA, read_allocation_json

CLUSTERS = ("aks-prod", "eks-prod")
FIRST, LAST = date(2026, 8, 25), date(2026, 11, 22)
GIB = 2**30


@pytest.fixture(scope="module")
def usage(demo_exports: DemoExports) -> pl.DataFrame:
    root = demo_exports.kubernetes.root
    frames = [
        read_allocation_json(path, cluster=path.parent.name, source="opencost")
        for cluster in CLUSTERS
        for path in sorted((root / cluster).glob("*.json"))
    ]
    return pl.concat(frames)


@pytest.fixture(scope="module")
def containers(usage: pl.DataFrame) -> pl.DataFrame:
    return usage.filter(~pl.col("is_idle"))


@pytest.fixture(scope="module")
def aws_compute(demo_exports: DemoExports) -> pl.DataFrame:
    """The CUR's EC2 instance-hours per instance and day (every way they were billed), their vCPUs and memory,
    and whether the real AWS source's FOCUS rows carry the instance id as ResourceId."""
    focus = cur_to_focus(scan_cur(demo_exports.aws.data_files), source_name="aws").select("ResourceId").collect()
    cur = pl.concat([pl.read_csv(p, infer_schema=False) for p in demo_exports.aws.data_files], how="diagonal")
    boxes = cur.filter(
        pl.col("lineItem/UsageType").str.contains("BoxUsage:")
        & (pl.col("lineItem/LineItemType") != "SavingsPlanNegation")
    )
    return boxes.select(
        pl.col("lineItem/UsageStartDate").str.slice(0, 10).str.to_date().alias("day"),
        pl.col("lineItem/ResourceId").alias("resource_id"),
        pl.col("lineItem/UsageAmount").cast(pl.Float64).alias("hours"),
        pl.col("product/vcpu").cast(pl.Int64).alias("vcpus"),
        pl.col("product/memory").str.extract(r"^(\d+)").cast(pl.Int64).alias("memory_gib"),
        (pl.col("resourceTags/user:eks:cluster-name").fill_null("") == "platform-prod").alias("eks"),
        pl.col("lineItem/ResourceId").is_in(focus["ResourceId"].implode()).alias("in_focus"),
    )


@pytest.fixture(scope="module")
def azure_compute(demo_exports: DemoExports) -> pl.DataFrame:
    """The Azure VM rows (amortized dataset, every usage row) with their FOCUS ResourceId and vCPUs."""
    paths = sorted(p for p in demo_exports.azure.data_files if p.name == "amortized.csv")
    native = az.scan_cost_export(paths).collect()
    focus = az.cost_export_to_focus(native.lazy(), source_name="azure").collect()
    vms = focus.with_columns(native["AdditionalInfo"], native["Quantity"]).filter(
        pl.col("ResourceId").str.contains("/virtualmachinescalesets/") & (pl.col("ChargeCategory") == "Usage")
    )
    return vms.select(
        pl.col("x_ChargeDay").alias("day"),
        pl.col("ResourceId").alias("resource_id"),
        pl.col("Quantity").cast(pl.Float64).alias("hours"),
        pl.col("AdditionalInfo").str.json_path_match("$.VCPUs").cast(pl.Int64).alias("vcpus"),
    )


def test_one_response_per_cluster_and_day(demo_exports: DemoExports) -> None:
    root = demo_exports.kubernetes.root
    assert root == demo_exports.out_dir / "kubernetes"
    days = [FIRST + timedelta(days=i) for i in range(90)]
    for cluster in CLUSTERS:
        assert sorted(p.name for p in (root / cluster).iterdir()) == [f"{d}.json" for d in days]
    payload = json.loads((root / "eks-prod" / "2026-10-14.json").read_text())
    assert (payload["code"], payload["status"], len(payload["data"])) == (200, "success", 1)
    allocation = next(a for k, a in payload["data"][0].items() if not k.endswith("__idle__"))
    assert allocation["window"] == {"start": "2026-10-14T00:00:00Z", "end": "2026-10-15T00:00:00Z"}
    assert set(allocation["properties"]) >= {
        "cluster", "node", "namespace", "controllerKind", "controller", "pod", "container", "providerID", "labels",
    }  # fmt: skip
    assert allocation["name"] == "/".join(
        allocation["properties"][k] for k in ("cluster", "node", "namespace", "pod", "container")
    )


def test_the_reader_takes_every_file(usage: pl.DataFrame) -> None:
    assert usage.schema == pl.Schema(K8S_USAGE_SCHEMA)
    assert sorted(usage["cluster"].unique()) == list(CLUSTERS)
    assert (usage["x_ChargeDay"].min(), usage["x_ChargeDay"].max()) == (FIRST, LAST)
    assert usage["node_resource_id"].null_count() == 0


def test_eks_nodes_are_the_cur_instances_running_the_hours_the_cur_bills(
    usage: pl.DataFrame, aws_compute: pl.DataFrame
) -> None:
    nodes = usage.filter((pl.col("cluster") == "eks-prod") & pl.col("is_idle")).select(
        pl.col("x_ChargeDay").alias("day"), pl.col("node_resource_id").alias("resource_id"), "minutes"
    )
    assert nodes["resource_id"].str.starts_with("i-0").all()
    billed = aws_compute.group_by("day", "resource_id").agg(
        pl.col("hours").sum(), pl.col("in_focus").all(), pl.col("eks").all()
    )
    joined = nodes.join(billed, on=["day", "resource_id"], how="left")
    assert joined["hours"].null_count() == 0  # every node-day is an instance-day of the bill...
    assert joined["in_focus"].all()  # ...whose id is a FOCUS ResourceId of the AWS rows
    assert joined["eks"].all()  # ...of an instance the EKS node groups launched
    assert (joined["minutes"] == joined["hours"] * 60).all()
    # And every EKS worker instance-day the bill charges is a node of the cluster that day.
    assert billed.filter("eks").height == nodes.height


def test_aks_nodes_are_the_scale_set_vms_of_the_azure_export(usage: pl.DataFrame, azure_compute: pl.DataFrame) -> None:
    nodes = usage.filter((pl.col("cluster") == "aks-prod") & pl.col("is_idle")).select(
        pl.col("x_ChargeDay").alias("day"), pl.col("node_resource_id").alias("resource_id"), "minutes", "provider_id"
    )
    assert nodes["provider_id"].str.starts_with("azure:///subscriptions/").all()
    assert nodes["provider_id"].str.contains("/virtualMachineScaleSets/aks-").all()
    billed = azure_compute.group_by("day", "resource_id").agg(pl.col("hours").sum())
    joined = nodes.join(billed, on=["day", "resource_id"], how="left")
    assert joined["hours"].null_count() == 0
    assert (joined["minutes"] == joined["hours"] * 60).all()
    assert billed.height == nodes.height  # every billed scale-set VM-day is a node-day


def test_requests_fit_every_node(containers: pl.DataFrame, aws_compute: pl.DataFrame, azure_compute: pl.DataFrame):
    capacity = pl.concat(
        [aws_compute.select("resource_id", "vcpus"), azure_compute.select("resource_id", "vcpus")]
    ).unique()
    per_node = containers.group_by("x_ChargeDay", "node_resource_id").agg(
        pl.col("cpu_core_request_average").sum().alias("cpu"),
        pl.col("ram_byte_request_average").sum().alias("ram"),
    )
    joined = per_node.join(capacity, left_on="node_resource_id", right_on="resource_id", how="left")
    assert joined["vcpus"].null_count() == 0
    assert (joined["cpu"] <= joined["vcpus"]).all()
    assert (joined["cpu"] <= joined["vcpus"] * 0.99).all()  # the kubelet's reservation is never requested
    memory = aws_compute.select("resource_id", "memory_gib").unique()
    eks = per_node.join(memory, left_on="node_resource_id", right_on="resource_id")
    assert eks.height and (eks["ram"] <= eks["memory_gib"] * GIB).all()


def test_every_node_has_an_idle_row_with_what_nothing_was_allocated(usage: pl.DataFrame, aws_compute) -> None:
    idle = usage.filter(pl.col("is_idle"))
    nodes = usage.select("cluster", "x_ChargeDay", "node").unique()
    assert idle.height == nodes.height
    assert idle["allocation_name"].str.ends_with("/__idle__").all()
    vcpus = aws_compute.select("resource_id", "vcpus").unique()
    allocated = (
        usage.filter(~pl.col("is_idle"))
        .group_by("x_ChargeDay", "node_resource_id")
        .agg(pl.col("cpu_core_hours").sum().alias("allocated"))
    )
    eks = (
        idle.filter(pl.col("cluster") == "eks-prod")
        .join(vcpus, left_on="node_resource_id", right_on="resource_id")
        .join(allocated, on=["x_ChargeDay", "node_resource_id"], how="left")
    )
    # Idle = capacity - Σ max(request, usage), clamped at 0 where bursting containers use more than the node.
    free = (eks["vcpus"] * eks["minutes"] / 60 - eks["allocated"].fill_null(0)).clip(lower_bound=0)
    assert ((eks["cpu_core_hours"] - free).abs() < 1e-3).all()
    assert idle["cpu_core_request_average"].sum() == 0


def test_idle_capacity_and_right_sizing_stories(containers: pl.DataFrame, usage: pl.DataFrame) -> None:
    ratio = (pl.col("cpu_core_usage_average") / pl.col("cpu_core_request_average")).alias("ratio")
    per_container = containers.group_by("cluster", "controller", "container").agg(ratio.max().alias("max"), ratio.min())

    def container(cluster: str, controller: str, name: str) -> dict:
        matches = (pl.col("cluster") == cluster) & (pl.col("controller") == controller) & (pl.col("container") == name)
        return per_container.filter(matches).row(0, named=True)

    assert container("aks-prod", "jupyter-legacy", "notebook")["max"] < 0.01  # abandoned
    assert container("eks-prod", "checkout-web", "checkout-web")["max"] < 0.2  # over-provisioned
    assert container("eks-prod", "stream-enricher", "enricher")["ratio"] > 1  # bursts past its request all day
    # The AKS system pool runs only add-ons: most of its CPU is idle.
    system = usage.filter(pl.col("node").str.starts_with("aks-system-"))
    idle_share = system.filter(pl.col("is_idle"))["cpu_core_hours"].sum() / system["cpu_core_hours"].sum()
    assert idle_share > 0.6
    assert set(containers["namespace"]) == {"kube-system", "monitoring", "platform", "payments", "data", "ml"}


def test_opencost_costs_add_up(usage: pl.DataFrame) -> None:
    parts = ["x_opencost_cpu_cost", "x_opencost_ram_cost", "x_opencost_pv_cost"]
    total = usage.select(pl.sum_horizontal(parts).alias("sum"), "x_opencost_total_cost")
    difference = (total["sum"] - total["x_opencost_total_cost"]).abs().cast(pl.Float64)
    assert (difference <= 0.00002).all()  # each part rounded to 5 places, as OpenCost writes them
    assert usage.filter(pl.col("pv_claims").is_not_null())["controller"].unique().to_list() == ["prometheus-server"]


def test_the_pipeline_reads_the_folder_as_clusters(demo_exports: DemoExports) -> None:
    store = LocalDirectoryStore(root=str(demo_exports.kubernetes.root))
    frames = usage_from_files(store, [date(2026, 11, 1)])
    assert len(frames) == 2  # that day's file of each cluster; files named after other days are not read
    day = pl.concat([f for f in frames if f.height])
    assert sorted(day["cluster"].unique()) == list(CLUSTERS)
    assert day["x_ChargeDay"].unique().to_list() == [date(2026, 11, 1)]


def test_generator_counts_match_the_files(demo_exports: DemoExports, usage: pl.DataFrame) -> None:
    counts = defaultdict(int)
    for day in usage["x_ChargeDay"]:
        counts[day.replace(day=1)] += 1
    export = demo_exports.kubernetes
    assert {p.start: export.row_counts[p] for p in export.billing_periods} == dict(counts)
