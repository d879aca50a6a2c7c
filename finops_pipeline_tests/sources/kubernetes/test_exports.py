"""OpenCost CSV export, flattened allocation parquet and OpenShift (Koku) pod reports → k8s_usage rows.

Expected numbers come from an independent parse of the same files with the csv/json modules.
"""

import csv
import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.kubernetes import K8S_USAGE_SCHEMA, read_allocation_json, scan_opencost_csv
from finops_pipeline.sources.kubernetes.exports import CSV_EXPORT, FLATTENED, KOKU_POD, detect_layout
from finops_pipeline.sources.kubernetes.exports import KOKU_STORAGE as KOKU_STORAGE_LAYOUT
from finops_pipeline_tests.paths import SHARED_DATA

K8S = SHARED_DATA / "opencost-k8s"
CSV_PLAIN = K8S / "opencost_csv_export_example_from_unit_test.csv"
CSV_LABELS = K8S / "opencost_csv_export_example_with_labels_from_unit_test.csv"
KOKU_PODS = SHARED_DATA / "koku" / "ocp_pod_usage_February-2019-my-ocp-cluster-1.csv"
KOKU_STORAGE = SHARED_DATA / "koku" / "ocp_storage_usage.csv"
KUBECOST_CONTAINER = K8S / "kubecost_docs_allocation_api_container_level_example.json"

# CSV export header → k8s_usage column (quantities, Float64) and cost header → column (Decimal).
CSV_QUANTITIES = {
    "CPUCoreUsageAverage": "cpu_core_usage_average",
    "CPUCoreRequestAverage": "cpu_core_request_average",
    "RAMBytesUsageAverage": "ram_byte_usage_average",
    "RAMBytesRequestAverage": "ram_byte_request_average",
    "NetworkReceiveBytes": "network_receive_bytes",
    "NetworkTransferBytes": "network_transfer_bytes",
    "GPUs": "gpu_count",
    "PVBytes": "pv_bytes",
}
CSV_COSTS = {
    "CPUCost": "x_opencost_cpu_cost",
    "RAMCost": "x_opencost_ram_cost",
    "NetworkCost": "x_opencost_network_cost",
    "PVCost": "x_opencost_pv_cost",
    "GPUCost": "x_opencost_gpu_cost",
    "TotalCost": "x_opencost_total_cost",
}


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("path", [CSV_PLAIN, CSV_LABELS], ids=lambda p: p.name)
def test_csv_export_row_counts_and_column_sums_match_the_csv_module(path):
    expected = csv_rows(path)
    frame = scan_opencost_csv([path], cluster="eks-prod", source="opencost-csv").collect()
    assert dict(frame.schema) == K8S_USAGE_SCHEMA
    assert frame.height == len(expected)
    for header, column in CSV_QUANTITIES.items():
        assert frame[column].sum() == sum(float(r[header]) for r in expected), column
    for header, column in CSV_COSTS.items():
        # Decimal(38, 10): the file's text, to 10 decimal places
        assert frame[column].sum() == sum(Decimal(r[header]).quantize(Decimal("1e-10")) for r in expected), column
    assert frame["x_SourceRowNumber"].to_list() == list(range(1, len(expected) + 1))


def test_csv_export_values_of_the_unit_test_row():
    r = scan_opencost_csv([CSV_PLAIN], cluster="eks-prod").collect().row(0, named=True)
    assert r["x_ChargeDay"] == date(2021, 1, 1)
    assert r["window_start"] == datetime(2021, 1, 1, tzinfo=UTC)
    assert r["window_end"] == datetime(2021, 1, 2, tzinfo=UTC)
    assert (r["cluster"], r["namespace"], r["pod"], r["container"]) == (
        "eks-prod", "test-namespace", "test-pod", "test-container",
    )  # fmt: skip
    assert (r["controller_kind"], r["controller"]) == ("test-controller-kind", "test-controller-name")
    assert r["cpu_core_usage_average"] == 0.1 and r["cpu_core_request_average"] == 0.2
    assert r["ram_byte_usage_average"] == 0.4 and r["ram_byte_request_average"] == 0.5
    assert r["network_receive_bytes"] == 11.0 and r["network_transfer_bytes"] == 10.0
    assert r["gpu_count"] == 2.0 and r["pv_bytes"] == 2.0
    assert r["x_opencost_total_cost"] == Decimal("4.6")  # file: 4.6000000000000005
    assert r["minutes"] is None and r["node"] is None and r["x_opencost_cpu_cost_adjustment"] is None
    assert r["labels"] == "{}"
    assert not (r["is_idle"] or r["is_unallocated"] or r["is_unmounted"])


def test_csv_export_labels_column_is_kept_and_label_columns_are_a_fallback(tmp_path):
    with_labels = scan_opencost_csv([CSV_LABELS]).collect()
    assert json.loads(with_labels["labels"][0]) == {"test-label1": "test-value1", "test-label2": "test-value2"}
    assert with_labels["cluster"][0] is None  # the export has no cluster and none was configured

    # Without the `Labels` JSON column, the `Label_<key>` columns are assembled into the same object.
    rows = csv_rows(CSV_LABELS)
    header = [h for h in rows[0] if h != "Labels"]
    only_label_columns = tmp_path / "export.csv"
    with only_label_columns.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows([*rows, {**rows[0], "Label_test-label1": "", "Label_test-label2": 'quote"d'}])
    frame = scan_opencost_csv([only_label_columns]).collect()
    assert [json.loads(text) for text in frame["labels"]] == [
        {"test-label1": "test-value1", "test-label2": "test-value2"},
        {"test-label2": 'quote"d'},
    ]


def test_csv_export_as_parquet_gives_the_same_rows(tmp_path):
    typed = pl.read_csv(CSV_PLAIN)  # polars infers numbers: a typed parquet like a warehouse export
    parquet = tmp_path / "export.parquet"
    typed.write_parquet(parquet)
    from_csv = scan_opencost_csv([CSV_PLAIN], cluster="c").collect()
    from_parquet = scan_opencost_csv([parquet], cluster="c").collect()
    assert from_parquet.drop("x_SourceFile").equals(from_csv.drop("x_SourceFile"))


def test_flattened_allocation_parquet_matches_the_json_reader(tmp_path):
    """opencost-parquet-exporter layout: json_normalize of the allocations, with its renames, `pvs` dropped."""
    payload = json.loads(KUBECOST_CONTAINER.read_text())
    allocations = [a for s in payload["data"] for a in s.values()]
    flat = pl.json_normalize(allocations, separator=".").select(pl.exclude("^pvs.*$"))
    flat = flat.rename({"start": "running_start_time", "end": "running_end_time", "minutes": "running_minutes"})
    flat = flat.rename({c: "label." + c.removeprefix("properties.labels.") for c in flat.columns if "labels." in c})
    path = tmp_path / "2023-01-27.parquet"
    flat.write_parquet(path)
    assert detect_layout(flat.columns) == FLATTENED

    from_parquet = scan_opencost_csv([path], source="opencost-test").collect()
    from_json = read_allocation_json(KUBECOST_CONTAINER, cluster=None, source="opencost-test")
    same = [
        c
        for c in K8S_USAGE_SCHEMA
        if c not in ("pv_claims", "x_SourceFile", "cpu_core_usage_max", "ram_byte_usage_max")
    ]
    assert from_parquet.select(same).equals(from_json.select(same))


def test_koku_pod_usage_is_aggregated_to_pod_days_matching_an_independent_sum():
    rows = csv_rows(KOKU_PODS)
    expected: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        day = r["interval_start"][:10]
        e = expected[(day, r["namespace"], r["pod"])]
        e["hours"] += 1  # every interval in this report is one hour
        e["cpu_request"] += float(r["pod_request_cpu_core_seconds"])
        e["cpu_usage"] += float(r["pod_usage_cpu_core_seconds"])
        e["ram_usage"] += float(r["pod_usage_memory_byte_seconds"])
        e["cpu_allocated"] += max(float(r["pod_request_cpu_core_seconds"]), float(r["pod_usage_cpu_core_seconds"]))

    frame = scan_opencost_csv([KOKU_PODS], cluster="my-ocp-cluster-1", source="koku").collect()
    assert detect_layout(list(rows[0])) == KOKU_POD
    assert frame.height == len(expected) == 20  # 4 pods × 5 days
    for r in frame.iter_rows(named=True):
        e = expected[(r["x_ChargeDay"].isoformat(), r["namespace"], r["pod"])]
        seconds = e["hours"] * 3600
        assert r["minutes"] == e["hours"] * 60
        assert r["cpu_core_request_average"] == pytest.approx(e["cpu_request"] / seconds, rel=1e-12)
        assert r["cpu_core_usage_average"] == pytest.approx(e["cpu_usage"] / seconds, rel=1e-12)
        assert r["ram_byte_usage_average"] == pytest.approx(e["ram_usage"] / seconds, rel=1e-12)
        assert r["cpu_core_hours"] == pytest.approx(e["cpu_allocated"] / 3600, rel=1e-12)
        assert r["cluster"] == "my-ocp-cluster-1" and r["container"] is None
        assert (r["node"], r["provider_id"], r["node_resource_id"]) == ("alpha", "myresourceid", "myresourceid")
    # Σ over the whole file is conserved: Σ average × running seconds = Σ core-seconds in the file.
    total_core_seconds = frame.select((pl.col("cpu_core_usage_average") * pl.col("minutes") * 60).sum()).item()
    assert total_core_seconds == pytest.approx(sum(float(r["pod_usage_cpu_core_seconds"]) for r in rows), rel=1e-12)

    first = frame.filter(pl.col("pod") == "pod_name1", pl.col("x_ChargeDay") == date(2019, 2, 1)).row(0, named=True)
    assert first["cpu_core_request_average"] == 5.0  # 18000 core-seconds each hour / 3600 s
    assert first["x_SourceRowNumber"] == 1
    assert first["window_start"] == first["running_start"] == datetime(2019, 2, 1, tzinfo=UTC)
    assert first["running_end"] == datetime(2019, 2, 2, tzinfo=UTC)
    assert json.loads(first["labels"]) == {"label_key1": "label_value1", "label_key2": "label_value2"}


def _koku_labels_of(text: str) -> dict[str, str]:
    return dict(pair.split(":", 1) for pair in text.split("|") if pair)


def test_koku_storage_usage_is_aggregated_to_pod_days_of_volume_byte_hours():
    """Hourly rows (hh:00:00–hh:59:59, an hour each) → one row per pod and day with its volumes' capacity
    byte-hours, worked out here from the CSV; a claim no pod mounts belongs to the `__unmounted__` pod."""
    rows = csv_rows(KOKU_STORAGE)
    byte_seconds: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    hours: dict[tuple, set[str]] = defaultdict(set)
    for r in rows:
        key = (r["interval_start"][:10], r["namespace"], r["pod"] or "__unmounted__")
        byte_seconds[key][r["persistentvolume"]] += float(r["persistentvolumeclaim_capacity_byte_seconds"])
        hours[key].add(r["interval_start"])
    frame = scan_opencost_csv([KOKU_STORAGE], cluster="ocp-1", source="koku").collect()
    assert detect_layout(list(rows[0])) == KOKU_STORAGE_LAYOUT
    assert frame.height == len(byte_seconds) == 19
    for r in frame.iter_rows(named=True):
        key = (r["x_ChargeDay"].isoformat(), r["namespace"], r["pod"])
        volumes = byte_seconds[key]
        assert r["minutes"] == len(hours[key]) * 60
        assert r["pv_byte_hours"] == pytest.approx(sum(volumes.values()) / 3600, rel=1e-12)
        average = sum(v / (len(hours[key]) * 3600) for v in volumes.values())  # each volume all the pod's hours
        assert r["pv_bytes"] == pytest.approx(average, rel=1e-12)
        claims = json.loads(r["pv_claims"])
        assert claims == {
            f"cluster=ocp-1:name={pv}": {"byteHours": pytest.approx(bs / 3600)} for pv, bs in volumes.items()
        }
        assert r["is_unmounted"] == (r["pod"] == "__unmounted__")
        assert r["cpu_core_hours"] is None and r["ram_byte_hours"] is None and r["container"] is None
    # Conserved over the file: Σ byte-hours = Σ capacity byte-seconds / 3600.
    total = sum(float(r["persistentvolumeclaim_capacity_byte_seconds"]) for r in rows) / 3600
    assert frame["pv_byte_hours"].sum() == pytest.approx(total, rel=1e-12)

    first = frame.filter(pl.col("pod") == "hdfs-datanode-0").row(0, named=True)
    assert first["x_ChargeDay"] == date(2019, 1, 31) and first["minutes"] == 7 * 60
    assert first["running_start"] == datetime(2019, 1, 31, 17, tzinfo=UTC)
    assert first["running_end"] == datetime(2019, 2, 1, tzinfo=UTC)  # 23:59:59 inclusive
    source = next(r for r in rows if r["pod"] == "hdfs-datanode-0")
    expected_labels = _koku_labels_of(source["persistentvolume_labels"]) | _koku_labels_of(
        source["persistentvolumeclaim_labels"]
    )
    assert expected_labels and json.loads(first["labels"]) == expected_labels


def test_koku_storage_labels_claim_over_volume_and_interval_ends_either_way(tmp_path):
    """A claim's label overrides its volume's; `…14:59:59` (inclusive) and `…15:00:00` (exclusive) ends both
    make a 3,600 s hour."""
    header = list(csv_rows(KOKU_STORAGE)[0])
    base = dict.fromkeys(header, "")
    base |= {"namespace": "ns", "pod": "db-0", "persistentvolume": "pv-1", "persistentvolumeclaim": "data"}
    base |= {"persistentvolume_labels": "app:x|tier:db", "persistentvolumeclaim_labels": "app:y"}
    hours = [
        ("2024-03-01 14:00:00 +0000 UTC", "2024-03-01 14:59:59 +0000 UTC"),
        ("2024-03-01 15:00:00 +0000 UTC", "2024-03-01 16:00:00 +0000 UTC"),
    ]
    rows = [
        base | {"interval_start": a, "interval_end": b, "persistentvolumeclaim_capacity_byte_seconds": "7200"}
        for a, b in hours
    ]
    path = tmp_path / "storage.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    (row,) = scan_opencost_csv([path], cluster="c").collect().iter_rows(named=True)
    assert json.loads(row["labels"]) == {"app": "y", "tier": "db"}
    assert row["minutes"] == 120 and row["pv_byte_hours"] == 4.0 and row["pv_bytes"] == 2.0
    assert row["running_end"] == datetime(2024, 3, 1, 16, tzinfo=UTC)


def test_several_files_of_different_layouts_in_one_scan():
    frame = scan_opencost_csv([CSV_PLAIN, CSV_LABELS, KOKU_PODS, KOKU_STORAGE], cluster="c").collect()
    assert frame.height == 1 + 1 + 20 + 19
    assert frame.group_by("x_SourceFile").len().sort("x_SourceFile")["len"].to_list() == [20, 19, 1, 1]


def test_no_files_gives_an_empty_frame_with_the_schema():
    frame = scan_opencost_csv([]).collect()
    assert frame.height == 0 and dict(frame.schema) == K8S_USAGE_SCHEMA


# ---- bad input ---------------------------------------------------------------------------------------------


def write_without(source: Path, column: str, target: Path) -> Path:
    rows = csv_rows(source)
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[h for h in rows[0] if h != column], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return target


@pytest.mark.parametrize(
    ("source", "column"),
    [
        (CSV_PLAIN, "CPUCoreRequestAverage"),
        (CSV_PLAIN, "Date"),
        (KOKU_PODS, "pod_request_memory_byte_seconds"),
        (KOKU_STORAGE, "persistentvolumeclaim_capacity_byte_seconds"),
    ],
)
def test_missing_required_column_names_file_and_column(tmp_path, source, column):
    broken = write_without(source, column, tmp_path / "broken.csv")
    with pytest.raises(SourceFileError) as caught:
        scan_opencost_csv([broken])
    assert (caught.value.file, caught.value.column) == (str(broken.resolve()), column)
    assert detect_layout(list(csv_rows(broken)[0])) in (CSV_EXPORT, KOKU_POD, KOKU_STORAGE_LAYOUT)


def test_value_that_does_not_parse_names_file_row_and_column(tmp_path):
    rows = csv_rows(KOKU_PODS)
    rows[41]["pod_usage_cpu_core_seconds"] = "12,5"
    broken = tmp_path / "pods.csv"
    with broken.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(SourceFileError) as caught:
        scan_opencost_csv([broken], source_files=["s3://bucket/pods.csv"])
    assert (caught.value.file, caught.value.row, caught.value.column) == (
        "s3://bucket/pods.csv", 42, "pod_usage_cpu_core_seconds",
    )  # fmt: skip
    assert "'12,5'" in str(caught.value)


def test_bad_date_in_csv_export_names_row_and_column(tmp_path):
    rows = csv_rows(CSV_PLAIN)
    broken = tmp_path / "export.csv"
    with broken.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([rows[0], {**rows[0], "Date": "01/13/2021x"}])
    with pytest.raises(SourceFileError) as caught:
        scan_opencost_csv([broken])
    assert (caught.value.row, caught.value.column) == (2, "Date")


def write_rows(target: Path, rows: list[dict[str, str]]) -> Path:
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_the_first_bad_row_of_the_file_is_named(tmp_path):
    """polars reads even a small file in several chunks: the check still sees the file in order."""
    rows = csv_rows(CSV_PLAIN) * 3000
    for i in (2999, 1499, 299):
        rows[i] = {**rows[i], "RAMCost": f"bad{i}"}
    broken = write_rows(tmp_path / "export.csv", rows)
    for _ in range(3):
        with pytest.raises(SourceFileError) as caught:
            scan_opencost_csv([broken])
        assert (caught.value.row, caught.value.column) == (300, "RAMCost")
        assert "'bad299'" in str(caught.value)


def test_a_large_csv_streams_and_a_bad_value_fails_when_collected(tmp_path, monkeypatch):
    """Above EAGER_CSV_MAX_BYTES the file is scanned lazily: the same rows, and the error (a SourceFileError
    naming file, row and column) comes from the pass that converts the rows, whatever columns it selects."""
    good = write_rows(tmp_path / "good.csv", csv_rows(CSV_LABELS) * 5)
    eager = scan_opencost_csv([good], cluster="c").collect()
    monkeypatch.setattr("finops_pipeline.sources.files.EAGER_CSV_MAX_BYTES", 0)
    assert scan_opencost_csv([good], cluster="c").collect().equals(eager)

    rows = csv_rows(CSV_LABELS) * 5
    rows[3] = {**rows[3], "CPUCoreUsageAverage": "0,5"}
    broken = write_rows(tmp_path / "broken.csv", rows)
    lazy = scan_opencost_csv([broken], source_files=["s3://bucket/broken.csv"])  # nothing read yet
    for collect in (lazy.collect, lazy.select("pod").collect, lambda: lazy.sink_parquet(tmp_path / "out.parquet")):
        with pytest.raises(SourceFileError) as caught:
            collect()
        assert (caught.value.file, caught.value.row, caught.value.column) == (
            "s3://bucket/broken.csv", 4, "CPUCoreUsageAverage",
        )  # fmt: skip
        assert "'0,5'" in str(caught.value)


def test_numbers_are_not_trimmed_but_a_field_of_spaces_is_blank(tmp_path):
    rows = csv_rows(CSV_PLAIN)
    blank = write_rows(tmp_path / "blank.csv", [rows[0], {**rows[0], "GPUs": "  ", "Namespace": ""}])
    frame = scan_opencost_csv([blank]).collect()
    assert frame["gpu_count"].to_list() == [2.0, None]
    assert frame["namespace"].to_list() == ["test-namespace", None]
    padded = write_rows(tmp_path / "padded.csv", [rows[0], {**rows[0], "GPUs": " 2"}])
    with pytest.raises(SourceFileError) as caught:
        scan_opencost_csv([padded])
    assert (caught.value.row, caught.value.column) == (2, "GPUs")


def test_empty_and_unreadable_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceFileError, match="empty"):
        scan_opencost_csv([empty])
    bad_parquet = tmp_path / "bad.parquet"
    bad_parquet.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(SourceFileError) as caught:
        scan_opencost_csv([bad_parquet])
    assert caught.value.file == str(bad_parquet.resolve())
