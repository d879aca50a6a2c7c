"""OpenCost allocation JSON → k8s_usage rows, on the saved real responses in ../shared/data (never copied)."""

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus.schema import MONEY
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.kubernetes import (
    K8S_USAGE_SCHEMA,
    allocation_response_to_frame,
    node_resource_id,
    read_allocation_json,
)
from finops_pipeline.sources.kubernetes.allocation import QUANTITY_FIELDS
from finops_pipeline.sources.kubernetes.schema import OPENCOST_COST_FIELDS
from finops_pipeline_tests.paths import SHARED_DATA

K8S = SHARED_DATA / "opencost-k8s"
COMPUTE_EXAMPLE = SHARED_DATA / "opencost" / "allocation_compute_example_0.json"
SWAGGER_2D = K8S / "opencost_swagger_allocation_compute_window2d_aggregate_namespace.json"
WEBSITE_7D = K8S / "opencost_website_allocation_example_output_7d_namespace.json"
KUBECOST_CONTAINER = K8S / "kubecost_docs_allocation_api_container_level_example.json"
ALLOCATION_SAMPLES = [COMPUTE_EXAMPLE, SWAGGER_2D, WEBSITE_7D, KUBECOST_CONTAINER]
NOT_ALLOCATION_SAMPLES = [
    K8S / "opencost_website_cloudCost_example_output_7d_provider.json",
    K8S / "kubecost_docs_cluster_right_sizing_response_example.json",
    K8S / "kubecost_docs_spec_cost_prediction_response_example.json",
    K8S / "opencost_mock_allocationset_aggregateby_expected.json",
    K8S / "opencost_default_custom_pricing.json",
]


def load(path: Path, cluster: str | None = None) -> pl.DataFrame:
    return read_allocation_json(path, cluster=cluster, source="opencost-test")


def row(frame: pl.DataFrame, **where) -> dict:
    matches = frame.filter(*(pl.col(k) == v for k, v in where.items()))
    assert matches.height == 1, matches
    return matches.row(0, named=True)


@pytest.mark.parametrize("path", ALLOCATION_SAMPLES, ids=lambda p: p.name)
def test_every_allocation_sample_loads_with_the_table_schema(path):
    frame = load(path)
    assert dict(frame.schema) == K8S_USAGE_SCHEMA
    allocations = [a for s in json.loads(path.read_text())["data"] for a in s.values()]
    assert frame.height == len(allocations)
    assert frame["x_SourceRowNumber"].to_list() == list(range(1, len(allocations) + 1))
    assert frame["x_SourceFile"].unique().to_list() == [str(path.resolve())]


def test_compute_example_values_as_written_in_the_file():
    frame = load(COMPUTE_EXAMPLE)
    kube_system = row(frame, namespace="kube-system")
    assert kube_system["cpu_core_request_average"] == 0.449881
    assert kube_system["cpu_core_usage_average"] == 0.009417
    assert kube_system["ram_byte_request_average"] == 146761671.651553
    assert kube_system["ram_byte_usage_average"] == 125495250.508328
    assert kube_system["minutes"] == 2879.235705
    assert kube_system["cpu_core_hours"] == 21.588536
    assert kube_system["ram_byte_hours"] == 7042690751.326794
    assert kube_system["x_opencost_cpu_cost"] == Decimal("0.408822")
    assert kube_system["x_opencost_total_cost"] == Decimal("0.425469")
    assert kube_system["window_start"] == datetime(2023, 1, 18, 11, 38, 45, tzinfo=UTC)
    assert kube_system["window_end"] == datetime(2023, 1, 20, 11, 38, 45, tzinfo=UTC)
    assert kube_system["running_end"] == datetime(2023, 1, 20, 11, 38, tzinfo=UTC)
    assert kube_system["x_ChargeDay"] == date(2023, 1, 18)
    assert kube_system["cluster"] == "cluster-one"  # no configured name: OpenCost's CLUSTER_ID is kept
    assert kube_system["pod"] is None and kube_system["node_resource_id"] is None

    opencost = row(frame, namespace="opencost")
    assert opencost["pod"] == "opencost-75dc7dcc49-xdx5t"
    assert opencost["controller"] == "opencost" and opencost["controller_kind"] == "deployment"
    assert opencost["provider_id"] == "i-064548f89b9d35c11"
    assert opencost["node_resource_id"] == "i-064548f89b9d35c11"
    assert opencost["cpu_core_request_average"] == 0.019995
    assert opencost["ram_byte_usage_average"] == 35525920.971352
    assert opencost["x_opencost_ram_cost"] == Decimal("0.012474")

    prometheus = row(frame, namespace="prometheus")  # usage without requests
    assert prometheus["cpu_core_request_average"] == 0.0
    assert prometheus["cpu_core_usage_average"] == 0.007793
    assert prometheus["ram_byte_usage_average"] == 287770105.329488
    assert prometheus["x_opencost_total_cost"] == Decimal("0")
    assert frame["is_idle"].to_list() == [False, False, False]


def test_website_7d_example_values_and_namespace_labels():
    frame = load(WEBSITE_7D, cluster="eks-syd")
    opencost = row(frame, namespace="opencost")
    assert opencost["cluster"] == "eks-syd"  # the configured name wins over OpenCost's "default-cluster"
    assert opencost["cpu_core_request_average"] == 0.01999
    assert opencost["ram_byte_usage_average"] == 32521863.09856
    assert opencost["minutes"] == 10079.22199
    assert opencost["network_transfer_bytes"] == 345147726.92092
    assert opencost["network_receive_bytes"] == 358674339.84018
    assert json.loads(opencost["namespace_labels"]) == {"kubernetes_io_metadata_name": "opencost", "name": "opencost"}
    assert opencost["x_ChargeDay"] == date(2023, 7, 12)
    kube_system = row(frame, namespace="kube-system")
    assert kube_system["x_opencost_cpu_cost"] == Decimal("1.43086")
    assert kube_system["network_transfer_bytes"] == 24490388368.48785


def test_kubecost_container_level_example():
    frame = load(KUBECOST_CONTAINER)
    r = frame.row(0, named=True)
    assert r["allocation_name"] == (
        "aws-dev-1-niko/ip-192-168-12-152.us-east-2.compute.internal/kubecost/"
        "kubecost-cost-analyzer-5b84f94b7f-9lxx5/cost-model"
    )
    assert (r["cluster"], r["namespace"], r["container"]) == ("aws-dev-1-niko", "kubecost", "cost-model")
    assert r["node"] == "ip-192-168-12-152.us-east-2.compute.internal"
    assert r["minutes"] == 16.0
    assert r["cpu_core_request_average"] == 0.05
    assert r["cpu_core_usage_average"] == 0.000964
    assert r["ram_byte_request_average"] == 330301440.0
    assert r["ram_byte_usage_average"] == 202833175.272727
    assert r["pv_bytes"] == 16169288643.764706
    assert r["pv_byte_hours"] == 4311810305.003922
    assert r["network_receive_bytes"] == 1243829.277373
    assert r["x_opencost_load_balancer_cost"] == Decimal("0.003333")
    assert r["x_opencost_total_cost"] == Decimal("0.004661")
    assert json.loads(r["labels"])["app_kubernetes_io_name"] == "cost-analyzer"
    assert json.loads(r["services"]) == ["kubecost-frontend", "kubecost-cost-analyzer"]
    pv = json.loads(r["pv_claims"])["cluster=aws-dev-1-niko:name=pvc-16465f04-6464-483e-89af-9e68b4a59e72"]
    assert pv == {"byteHours": 4311810305.0039215, "cost": 0.0005500940102068225}  # nested floats untouched
    assert r["window_start"] == datetime(2023, 1, 27, 23, tzinfo=UTC)
    assert r["running_end"] == datetime(2023, 1, 27, 23, 16, tzinfo=UTC)


@pytest.mark.parametrize("path", ALLOCATION_SAMPLES, ids=lambda p: p.name)
def test_namespace_totals_equal_independent_json_sums(path):
    """Σ per namespace of every quantity (float) and every OpenCost cost (exact decimal text) as json reads it."""
    frame = load(path)
    payload = json.loads(path.read_text(), parse_float=Decimal)
    expected_money: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    expected_quantity: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for allocation_set in payload["data"]:
        for allocation in allocation_set.values():
            namespace = allocation["properties"]["namespace"]
            for column, field in OPENCOST_COST_FIELDS.items():
                expected_money[namespace][column] += Decimal(allocation.get(field, 0))
            for column, field in QUANTITY_FIELDS.items():
                expected_quantity[namespace][column] += float(allocation.get(field) or 0)
    totals = frame.group_by("namespace").agg(
        *(pl.col(c).sum() for c in OPENCOST_COST_FIELDS), *(pl.col(c).sum() for c in QUANTITY_FIELDS)
    )
    assert set(totals["namespace"]) == set(expected_money)
    for total in totals.iter_rows(named=True):
        namespace = total["namespace"]
        for column in OPENCOST_COST_FIELDS:
            assert total[column] == expected_money[namespace][column], (namespace, column)
        for column in QUANTITY_FIELDS:
            assert total[column] == pytest.approx(expected_quantity[namespace][column], rel=1e-12), (namespace, column)


def test_total_cost_is_the_sum_of_its_parts_in_every_sample():
    """OpenCost's invariant (reference §1.9) survives the conversion to Decimal."""
    parts = [c for c in OPENCOST_COST_FIELDS if c != "x_opencost_total_cost"]
    for path in ALLOCATION_SAMPLES:
        frame = load(path)
        recomputed = frame.select(pl.sum_horizontal(parts).cast(MONEY).alias("sum"), "x_opencost_total_cost")
        for total, expected in recomputed.iter_rows():
            assert abs(total - expected) <= Decimal("0.00001"), path.name  # OpenCost rounds each field to 5-6 dp


def payload_with_special_rows() -> dict:
    """A container-level response for one day: a workload, idle by node, an unallocated and an unmounted row."""
    window = {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"}
    base = {"window": window, "start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z", "minutes": 1440.0}
    return {
        "code": 200,
        "status": "success",
        "data": [
            {
                "prod/node-a/shop/web-1/nginx": {
                    **base,
                    "name": "prod/node-a/shop/web-1/nginx",
                    "properties": {
                        "cluster": "prod",
                        "node": "node-a",
                        "providerID": "aws:///eu-west-1a/i-0abc123def4567890",
                        "namespace": "shop",
                        "pod": "web-1",
                        "container": "nginx",
                        "labels": {"team": "web", "app": "shop"},
                        "annotations": {"owner": "a@b.c"},
                    },
                    "cpuCoreRequestAverage": 0.25,
                    "cpuCoreUsageAverage": 0.125,
                    "ramByteRequestAverage": 268435456,
                    "ramByteUsageAverage": 134217728.5,
                    "rawAllocationOnly": {"cpuCoreUsageMax": 0.9, "ramByteUsageMax": 200000000},
                    "gpuRequestAverage": 1,
                    "cpuCost": 0.15,
                    "totalCost": 1e-05,
                    "someFutureField": {"nested": [1, 2]},
                    "cpuEfficiency": "not read, so not checked",
                },
                "prod/node-a/__idle__": {
                    **base,
                    "name": "prod/node-a/__idle__",
                    "properties": {"cluster": "prod", "node": "node-a", "providerID": "i-0abc123def4567890"},
                    "cpuCost": 1.25,
                    "ramCost": 0.5,
                    "totalCost": 1.75,
                },
                "prod/node-b/shop/__unallocated__/x": {
                    **base,
                    "name": "prod/node-b/shop/__unallocated__/x",
                    "properties": {"cluster": "prod", "namespace": "shop", "pod": "__unallocated__"},
                    "cpuCoreRequestAverage": None,
                    "totalCost": float("nan"),
                },
                "prod//shop/db-0/__unmounted__": {
                    **base,
                    "name": "prod//shop/db-0/__unmounted__",
                    "properties": {"cluster": "prod", "namespace": "shop", "pod": "db-0", "container": "__unmounted__"},
                    "pvByteHours": 2.5e12,
                    "pvs": {"cluster=prod:name=pv-1": {"byteHours": 2.5e12, "cost": 0.01}},
                    "pvCost": 0.01,
                },
            },
            None,  # a step without data
        ],
    }


def test_special_rows_are_kept_and_flagged_and_extra_fields_ignored():
    frame = allocation_response_to_frame(payload_with_special_rows(), cluster="prod-eu", source="oc", source_file="u")
    assert frame.height == 4
    flags = frame.select("allocation_name", "is_idle", "is_unallocated", "is_unmounted").rows()
    assert flags == [
        ("prod/node-a/shop/web-1/nginx", False, False, False),
        ("prod/node-a/__idle__", True, False, False),
        ("prod/node-b/shop/__unallocated__/x", False, True, False),
        ("prod//shop/db-0/__unmounted__", False, False, True),
    ]
    web = frame.row(0, named=True)
    assert web["cluster"] == "prod-eu"
    assert web["provider_id"] == "aws:///eu-west-1a/i-0abc123def4567890"
    assert web["node_resource_id"] == "i-0abc123def4567890"
    assert web["cpu_core_usage_max"] == 0.9 and web["ram_byte_usage_max"] == 200000000.0
    assert web["gpu_request_average"] == 1.0
    assert web["ram_byte_usage_average"] == 134217728.5
    assert web["labels"] == '{"app":"shop","team":"web"}'
    assert web["annotations"] == '{"owner":"a@b.c"}'
    assert web["x_opencost_total_cost"] == Decimal("0.00001")  # 1e-05 as written, no float noise
    assert web["x_ChargeDay"] == date(2024, 5, 1)
    assert (web["x_SourceName"], web["x_SourceFile"]) == ("oc", "u")
    idle = frame.row(1, named=True)
    assert idle["x_opencost_total_cost"] == Decimal("1.75") and idle["node_resource_id"] == "i-0abc123def4567890"
    unallocated = frame.row(2, named=True)
    assert unallocated["cpu_core_request_average"] is None and unallocated["x_opencost_total_cost"] is None
    unmounted = frame.row(3, named=True)
    assert unmounted["pv_byte_hours"] == 2.5e12 and unmounted["x_opencost_pv_cost"] == Decimal("0.01")
    assert json.loads(unmounted["pv_claims"]) == {"cluster=prod:name=pv-1": {"byteHours": 2.5e12, "cost": 0.01}}


def test_empty_response_gives_an_empty_frame_with_the_schema():
    for payload in ({"code": 200, "data": []}, {"code": 200, "data": None}, {"code": 200, "data": [{}]}):
        frame = allocation_response_to_frame(payload, cluster="c", source="s")
        assert frame.height == 0 and dict(frame.schema) == K8S_USAGE_SCHEMA


@pytest.mark.parametrize(
    ("provider_id", "expected"),
    [
        ("aws:///us-east-1a/i-0abc1234567890def", "i-0abc1234567890def"),
        ("i-0abc1234567890def", "i-0abc1234567890def"),
        (
            "azure:///subscriptions/SUB-1/resourceGroups/MC_rg_aks_westeurope/providers/Microsoft.Compute/"
            "virtualMachineScaleSets/aks-nodepool1-123-vmss/virtualMachines/3",
            "/subscriptions/sub-1/resourcegroups/mc_rg_aks_westeurope/providers/microsoft.compute/"
            "virtualmachinescalesets/aks-nodepool1-123-vmss/virtualmachines/3",
        ),
        ("gce://my-project/europe-west1-b/gke-pool-1-abcd", "gke-pool-1-abcd"),
        ("kind://docker/kind/kind-control-plane", "kind://docker/kind/kind-control-plane"),
        ("  ", None),
        (None, None),
    ],
)
def test_node_resource_id_normalisation(provider_id, expected):
    frame = pl.DataFrame({"p": [provider_id]}, schema={"p": pl.String})
    assert frame.select(node_resource_id(pl.col("p")))["p"][0] == expected


# ---- bad input ---------------------------------------------------------------------------------------------


def test_malformed_json_names_the_file_and_position(tmp_path):
    broken = tmp_path / "allocation-2024-05-01.json"
    broken.write_text('{"code": 200, "data": [{"a": {"minutes": 1.0,}}]}')
    with pytest.raises(SourceFileError) as caught:
        read_allocation_json(broken, cluster="c", source="s")
    assert caught.value.file == str(broken.resolve())
    assert "malformed JSON at line 1 column" in str(caught.value)


@pytest.mark.parametrize("path", NOT_ALLOCATION_SAMPLES, ids=lambda p: p.name)
def test_other_opencost_responses_are_rejected_by_name(path):
    with pytest.raises(SourceFileError) as caught:
        load(path)
    assert caught.value.file == str(path.resolve())


def test_a_field_that_is_not_a_number_names_allocation_and_field():
    payload = payload_with_special_rows()
    payload["data"][0]["prod/node-a/__idle__"]["ramCost"] = "n/a"
    with pytest.raises(SourceFileError) as caught:
        allocation_response_to_frame(payload, cluster="c", source="s", source_file="https://oc/allocation?w=1")
    assert (caught.value.file, caught.value.row, caught.value.column) == ("https://oc/allocation?w=1", 2, "ramCost")


def test_a_timestamp_that_does_not_parse_names_allocation_and_field():
    payload = payload_with_special_rows()
    payload["data"][0]["prod//shop/db-0/__unmounted__"]["end"] = "yesterday-ish"
    with pytest.raises(SourceFileError) as caught:
        allocation_response_to_frame(payload, cluster="c", source="s")
    assert (caught.value.row, caught.value.column) == (4, "end")
    assert "yesterday-ish" in str(caught.value)


def test_error_code_in_the_body_is_reported():
    with pytest.raises(SourceFileError, match="code 500: boom"):
        allocation_response_to_frame({"code": 500, "message": "boom"}, cluster="c", source="s")
