"""`k8s_usage` through Dagster: an OpenCost allocation response saved per cluster lands in core.k8s_usage."""

import json

import dagster as dg
import pytest

from finops_pipeline.defs.kubernetes import k8s_usage, opencost_clusters
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.paths import SHARED_DATA


def _saved_response_for(day: str, target) -> dict:
    """The OpenCost docs example (3 namespaces), its window moved to `day` so it falls in a partition."""
    payload = json.loads((SHARED_DATA / "opencost" / "allocation_compute_example_0.json").read_text())
    for allocation_set in payload["data"]:
        for allocation in allocation_set.values():
            allocation["window"] = {"start": f"{day}T00:00:00Z", "end": f"{day}T23:59:59Z"}
            allocation["start"], allocation["end"] = f"{day}T00:00:00Z", f"{day}T23:59:59Z"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(payload))
    return payload


def test_saved_allocations_load_per_cluster_and_day_idempotently(tmp_path, monkeypatch):
    monkeypatch.setenv("FINOPS_K8S_DIR", str(tmp_path / "k8s"))
    monkeypatch.delenv("FINOPS_OPENCOST_CLUSTERS", raising=False)
    _saved_response_for("2026-11-01", tmp_path / "k8s" / "prod-eks" / "2026-11-01.json")
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    for _ in range(2):  # a rerun replaces the day
        result = dg.materialize(
            [k8s_usage], resources={"warehouse": WarehouseResource(url=url)}, partition_key="2026-11-01"
        )
        assert result.success
    with Warehouse.from_url(url) as wh:
        rows = wh.read_frame(
            'SELECT cluster, namespace, cpu_core_request_average, ram_byte_usage_average, minutes, "x_ChargeDay" '
            "FROM core.k8s_usage ORDER BY namespace"
        )
    assert rows["cluster"].to_list() == ["prod-eks"] * 3
    assert rows["namespace"].to_list() == ["kube-system", "opencost", "prometheus"]
    assert rows["cpu_core_request_average"].to_list() == [0.449881, 0.019995, 0.0]
    assert rows["minutes"].to_list() == [2879.235705] * 3
    assert {str(d) for d in rows["x_ChargeDay"]} == {"2026-11-01"}


def test_cluster_setting_is_parsed_and_bad_entries_are_named():
    assert opencost_clusters("prod=http://a:9003, aks = http://b:9003") == {
        "prod": "http://a:9003",
        "aks": "http://b:9003",
    }
    assert opencost_clusters(None) == {}
    with pytest.raises(ValueError, match="'prod' is not cluster=url"):
        opencost_clusters("prod")
