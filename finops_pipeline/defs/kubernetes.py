"""`k8s_usage`: container usage per cluster and day from OpenCost (API and exported files), unpriced.

Allocation prices it later from the cloud bill (node cost matched by instance id), so Kubernetes cost
reconciles to the invoice rather than to list prices.
"""

import os
from datetime import date

import dagster as dg
import polars as pl

from finops_pipeline.connectors import BillingFileStore, LocalDirectoryStore
from finops_pipeline.defs.partitions import daily_partitions, single_run
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run
from finops_pipeline.settings import finops_home
from finops_pipeline.sources.kubernetes import (
    OpenCostClient,
    allocation_response_to_frame,
    empty_k8s_usage,
    read_allocation_json,
    scan_opencost_csv,
)
from finops_pipeline.sources.kubernetes.schema import K8S_USAGE_TABLE

SOURCE_NAME = "opencost"


def opencost_clusters(setting: str | None) -> dict[str, str]:
    """FINOPS_OPENCOST_CLUSTERS="prod-eks=http://opencost.prod:9003,aks=http://…" → {cluster: base URL}."""
    clusters = {}
    for entry in filter(None, (part.strip() for part in (setting or "").split(","))):
        name, sep, url = entry.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise ValueError(f"FINOPS_OPENCOST_CLUSTERS entry {entry!r} is not cluster=url")
        clusters[name.strip()] = url.strip()
    return clusters


def usage_from_files(store: BillingFileStore, days) -> list[pl.DataFrame]:
    """Saved allocation responses (`<cluster>/<anything>.json`) and OpenCost CSV/parquet exports.
    A file named after a day (`<cluster>/2026-11-01.json`) is only read when the run covers that day."""
    frames = []
    wanted = {day.isoformat() for day in days}
    for key in store.list_keys(""):
        stem = key.rsplit("/", 1)[-1].split(".")[0]
        if _is_iso_day(stem) and stem not in wanted:
            continue
        cluster = key.split("/")[0] if "/" in key else None
        path, name = store.local_path(key), store.describe(key)
        if key.endswith(".json"):
            frames.append(read_allocation_json(path, cluster=cluster, source=SOURCE_NAME, source_file=name))
        elif key.endswith((".csv", ".csv.gz", ".parquet")):
            frames.append(scan_opencost_csv([path], cluster=cluster, source=SOURCE_NAME, source_files=[name]).collect())
    return [frame.filter(pl.col("x_ChargeDay").is_in(days)) for frame in frames]


def _is_iso_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="sources",
    kinds={"kubernetes", "polars"},
    description=f"{K8S_USAGE_TABLE}: container requests and usage per cluster and day, from the OpenCost "
    "allocation API (FINOPS_OPENCOST_CLUSTERS) and OpenCost exports on disk (FINOPS_K8S_DIR). Not priced.",
)
def k8s_usage(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    days = days_in_run(context)
    frames = [empty_k8s_usage()]
    for cluster, url in opencost_clusters(os.environ.get("FINOPS_OPENCOST_CLUSTERS")).items():
        client = OpenCostClient(url, bearer_token_env=os.environ.get("FINOPS_OPENCOST_TOKEN_ENV"))
        for _day, request_url, payload in client.iter_allocations(days):
            frames.append(
                allocation_response_to_frame(payload, cluster=cluster, source=SOURCE_NAME, source_file=request_url)
            )
        context.log.info(f"{cluster}: {len(days)} day(s) from {url}")
    files_dir = os.environ.get("FINOPS_K8S_DIR", str(finops_home() / "demo" / "kubernetes"))
    frames += usage_from_files(LocalDirectoryStore(root=files_dir), days)
    usage = pl.concat(frames, how="diagonal_relaxed").select(empty_k8s_usage().columns)
    with warehouse.open() as wh:
        wh.replace_rows(K8S_USAGE_TABLE, usage, match={"x_SourceName": [SOURCE_NAME], "x_ChargeDay": days})
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(usage.height),
            "clusters": dg.MetadataValue.text(", ".join(sorted(usage["cluster"].drop_nulls().unique()))),
            "containers": dg.MetadataValue.int(
                usage.select(pl.struct("cluster", "namespace", "pod", "container").n_unique()).item()
            ),
        }
    )
