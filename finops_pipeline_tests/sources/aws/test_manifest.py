"""Finding the latest assembly of each billing period, on moto's S3 and on a real local directory."""

import json
import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from finops_pipeline.connectors import LocalDirectoryStore, S3Store
from finops_pipeline.sources.aws.manifest import (
    BillingPeriodAssembly,
    billing_periods_for_days,
    find_latest_assemblies,
)
from finops_pipeline.sources.errors import SourceFileError

BUCKET = "billing"
KOKU = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "koku"

Put = Callable[[str, bytes], None]


@pytest.fixture(params=["s3", "local"])
def bucket(request, tmp_path, monkeypatch):
    """(store, put): a store over an empty bucket, and a function that writes an object into it."""
    if request.param == "local":
        root = tmp_path / "bucket"
        root.mkdir()

        def put_file(key: str, body: bytes) -> None:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(body)

        yield LocalDirectoryStore(root=str(root)), put_file
        return

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "finops_home"))
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield S3Store(bucket=BUCKET), lambda key, body: client.put_object(Bucket=BUCKET, Key=key, Body=body)


def legacy_manifest(assembly_id: str, start: str, end: str, keys: list[str], **extra) -> bytes:
    """A legacy CUR manifest shaped like AWS's (and like the koku sample)."""
    manifest = {
        "assemblyId": assembly_id,
        "reportName": "acme",
        "bucket": BUCKET,
        "compression": "GZIP",
        "contentType": "text/csv",
        "billingPeriod": {"start": f"{start}T000000.000Z", "end": f"{end}T000000.000Z"},
        "reportKeys": keys,
        **extra,
    }
    return json.dumps(manifest).encode()


def write_assembly(put: Put, at: str, said: str, period: str, assembly: str, files: int, root_manifest: bool):
    """One assembly of report "acme": data files + their manifest, and the period-root manifest if asked.

    Objects are written under the prefix `at`; the manifests name them under `said` (what AWS wrote).
    """
    start, end = period.split("-")
    keys = [f"{said}/acme/{period}/{assembly}/acme-{n}.csv.gz" for n in range(1, files + 1)]
    for n in range(1, files + 1):
        put(f"{at}/acme/{period}/{assembly}/acme-{n}.csv.gz", f"{assembly} part {n}".encode())
    manifest = legacy_manifest(assembly, start, end, keys)
    put(f"{at}/acme/{period}/{assembly}/acme-Manifest.json", manifest)
    if root_manifest:
        put(f"{at}/acme/{period}/acme-Manifest.json", manifest)


def write_two_periods(put: Put, at: str = "cur", said: str = "cur") -> None:
    """January: one assembly. February (current): an old assembly, then a new one the root names.

    The old assembly's folder sorts last and was written last, so neither "last folder" nor "newest
    object" finds the right one: only the period-root manifest does.
    """
    write_assembly(put, at, said, "20240101-20240201", "3f1c-jan", files=1, root_manifest=True)
    write_assembly(put, at, said, "20240201-20240301", "aa11-new", files=3, root_manifest=True)
    write_assembly(put, at, said, "20240201-20240301", "zz99-old", files=2, root_manifest=False)


def expected_two_periods(at: str) -> list[BillingPeriodAssembly]:
    jan, feb = f"{at}acme/20240101-20240201", f"{at}acme/20240201-20240301"
    return [
        BillingPeriodAssembly(
            billing_period_start=date(2024, 1, 1),
            billing_period_end=date(2024, 2, 1),
            assembly_id="3f1c-jan",
            manifest_key=f"{jan}/acme-Manifest.json",
            report_keys=(f"{jan}/3f1c-jan/acme-1.csv.gz",),
            format="csv",
            compression="GZIP",
            report_name="acme",
            layout="cur",
        ),
        BillingPeriodAssembly(
            billing_period_start=date(2024, 2, 1),
            billing_period_end=date(2024, 3, 1),
            assembly_id="aa11-new",
            manifest_key=f"{feb}/acme-Manifest.json",
            report_keys=tuple(f"{feb}/aa11-new/acme-{n}.csv.gz" for n in (1, 2, 3)),
            format="csv",
            compression="GZIP",
            report_name="acme",
            layout="cur",
        ),
    ]


def test_takes_the_assembly_the_period_root_manifest_names(bucket):
    store, put = bucket
    write_two_periods(put)
    assert find_latest_assemblies(store, "cur") == expected_two_periods("cur/")
    assert find_latest_assemblies(store, "cur/") == expected_two_periods("cur/")
    assert find_latest_assemblies(store, "") == expected_two_periods("cur/")


def test_periods_filter_selects_billing_months(bucket):
    store, put = bucket
    write_two_periods(put)
    january, february = expected_two_periods("cur/")
    assert find_latest_assemblies(store, "cur", periods=[date(2024, 2, 17)]) == [february]
    assert find_latest_assemblies(store, "cur", periods=[date(2024, 1, 1), date(2024, 2, 1)]) == [
        january,
        february,
    ]
    assert find_latest_assemblies(store, "cur", periods=[date(2023, 12, 1)]) == []


@pytest.mark.parametrize("bucket", ["s3"], indirect=True)
def test_reads_only_the_period_root_manifests_on_s3(bucket):
    store, put = bucket
    write_two_periods(put)
    gets: list[str] = []
    store.get_client().meta.events.register(
        "before-parameter-build.s3.GetObject", lambda params, **_: gets.append(params["Key"])
    )
    find_latest_assemblies(store, "cur")
    assert sorted(gets) == [
        "cur/acme/20240101-20240201/acme-Manifest.json",
        "cur/acme/20240201-20240301/acme-Manifest.json",
    ]


def test_bucket_keys_resolve_when_the_export_sits_under_another_prefix(bucket):
    store, put = bucket
    write_two_periods(put, at="replica/cur", said="cur")  # e.g. replicated to another bucket prefix
    assert find_latest_assemblies(store, "replica/cur") == expected_two_periods("replica/cur/")


def test_bucket_keys_resolve_when_the_local_root_is_a_subfolder_of_the_bucket(tmp_path):
    bucket_dir = tmp_path / "bucket"

    def put_file(key: str, body: bytes) -> None:
        (bucket_dir / key).parent.mkdir(parents=True, exist_ok=True)
        (bucket_dir / key).write_bytes(body)

    write_two_periods(put_file)
    store = LocalDirectoryStore(root=str(bucket_dir / "cur"))  # the manifests still say "cur/acme/..."
    assert find_latest_assemblies(store, "") == expected_two_periods("")


def test_overwrite_mode_report_with_data_files_in_the_period_folder(bucket):
    store, put = bucket
    keys = [f"cur/acme/20240101-20240201/acme-{n}.csv.gz" for n in (1, 2)]
    for key in keys:
        put(key, b"data")
    put(
        "cur/acme/20240101-20240201/acme-Manifest.json",
        legacy_manifest("c0ffee", "20240101", "20240201", keys),
    )
    [found] = find_latest_assemblies(store, "cur")
    assert (found.assembly_id, found.report_keys) == ("c0ffee", tuple(keys))


def test_missing_report_key_names_the_manifest_and_the_key(bucket):
    store, put = bucket

    def put_all_but_one(key: str, body: bytes) -> None:
        if not key.endswith("aa11-new/acme-2.csv.gz"):
            put(key, body)

    write_two_periods(put_all_but_one)
    with pytest.raises(FileNotFoundError) as raised:
        find_latest_assemblies(store, "cur")
    message = str(raised.value)
    assert store.describe("cur/acme/20240201-20240301/acme-Manifest.json") in message
    assert "'cur/acme/20240201-20240301/aa11-new/acme-2.csv.gz'" in message
    # The other period is fine on its own.
    january = expected_two_periods("cur/")[0]
    assert find_latest_assemblies(store, "cur", periods=[date(2024, 1, 1)]) == [january]


def test_without_a_root_manifest_takes_the_newest_assembly_by_last_modified_and_warns(bucket, caplog):
    store, put = bucket
    period, keys = "20240301-20240401", "cur/acme/20240301-20240401/{}/acme-1.csv.gz"
    for assembly, written in (("aa-older", "2024-03-10T08:00:00Z"), ("bb-newer", "2024-03-11T08:00:00Z")):
        key = keys.format(assembly)
        put(key, b"data")
        manifest = legacy_manifest(assembly, "20240301", "20240401", [key], lastModified=written)
        put(f"cur/acme/{period}/{assembly}/acme-Manifest.json", manifest)
    put(keys.format("cc-no-manifest-yet"), b"data")  # an assembly still being delivered

    with caplog.at_level(logging.WARNING, logger="finops_pipeline.sources.aws.manifest"):
        [found] = find_latest_assemblies(store, "cur")
    assert (found.assembly_id, found.report_keys) == ("bb-newer", (keys.format("bb-newer"),))
    assert found.manifest_key == f"cur/acme/{period}/bb-newer/acme-Manifest.json"
    assert "No period-root manifest for acme 20240301-20240401" in caplog.text
    assert "using the newest of 2 assemblies, bb-newer" in caplog.text


def test_without_a_root_manifest_falls_back_to_the_file_modification_time(tmp_path):
    store = LocalDirectoryStore(root=str(tmp_path))
    for assembly, mtime in (("aa-newer", 1_710_100_000), ("bb-older", 1_710_000_000)):
        key = f"cur/acme/20240301-20240401/{assembly}/acme-1.csv.gz"
        manifest = tmp_path / f"cur/acme/20240301-20240401/{assembly}/acme-Manifest.json"
        manifest.parent.mkdir(parents=True)
        (tmp_path / key).write_bytes(b"data")
        manifest.write_bytes(legacy_manifest(assembly, "20240301", "20240401", [key]))
        os.utime(manifest, (mtime, mtime))
    [found] = find_latest_assemblies(store, "cur")
    assert found.assembly_id == "aa-newer"


def test_cur2_takes_the_data_files_of_the_metadata_manifest(bucket):
    store, put = bucket
    data = "cur2/acme-export/data/BILLING_PERIOD=2024-03"
    current = [f"{data}/acme-export-0000{n}.snappy.parquet" for n in (1, 2)]
    for key in [*current, f"{data}/acme-export-00003.snappy.parquet"]:  # 00003: left by an older run
        put(key, b"PAR1")
    manifest = {
        "executionId": "7b0d6c1e-exec",
        "exportName": "acme-export",
        "bucket": BUCKET,
        "billingPeriod": {"start": "2024-03-01T00:00:00.000Z", "end": "2024-04-01T00:00:00.000Z"},
        "dataFiles": [f"s3://{BUCKET}/{key}" for key in current],
    }
    put(
        "cur2/acme-export/metadata/BILLING_PERIOD=2024-03/acme-export-Manifest.json",
        json.dumps(manifest).encode(),
    )

    assert find_latest_assemblies(store, "cur2") == [
        BillingPeriodAssembly(
            billing_period_start=date(2024, 3, 1),
            billing_period_end=date(2024, 4, 1),
            assembly_id="7b0d6c1e-exec",
            manifest_key="cur2/acme-export/metadata/BILLING_PERIOD=2024-03/acme-export-Manifest.json",
            report_keys=tuple(current),
            format="parquet",
            compression=None,
            report_name="acme-export",
            layout="cur2",
        )
    ]


def test_cur2_s3_uris_resolve_under_another_prefix_and_december_ends_in_january(tmp_path):
    data = "mirror/acme-export/data/BILLING_PERIOD=2023-12/acme-export-00001.csv.gz"
    (tmp_path / data).parent.mkdir(parents=True)
    (tmp_path / data).write_bytes(b"gz")
    metadata = tmp_path / "mirror/acme-export/metadata/BILLING_PERIOD=2023-12/acme-export-Manifest.json"
    metadata.parent.mkdir(parents=True)
    uri = "s3://other-bucket/exports/acme-export/data/BILLING_PERIOD=2023-12/acme-export-00001.csv.gz"
    metadata.write_text(json.dumps({"executionId": "e1", "dataFiles": [uri]}))  # no billingPeriod: use folder

    [found] = find_latest_assemblies(LocalDirectoryStore(root=str(tmp_path)), "mirror")
    assert found.report_keys == (data,)
    assert (found.billing_period_start, found.billing_period_end) == (date(2023, 12, 1), date(2024, 1, 1))
    assert (found.format, found.compression) == ("csv", "GZIP")


@pytest.mark.parametrize(
    ("file_name", "file_format", "compression"),
    [
        ("acme-1.csv", "csv", None),
        ("acme-1.csv.gz", "csv", "GZIP"),
        ("acme-1.gz", "csv", "GZIP"),
        ("acme-1.csv.zip", "csv", "ZIP"),
        ("acme-1.parquet", "parquet", None),
        ("acme-1.snappy.parquet", "parquet", None),
    ],
)
def test_format_is_inferred_from_the_extension_when_the_manifest_lacks_it(
    tmp_path, file_name, file_format, compression
):
    key = f"cur/acme/20240101-20240201/a1/{file_name}"
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(b"x")
    manifest = {"assemblyId": "a1", "reportKeys": [key]}  # no contentType, no compression
    (tmp_path / "cur/acme/20240101-20240201/acme-Manifest.json").write_text(json.dumps(manifest))

    [found] = find_latest_assemblies(LocalDirectoryStore(root=str(tmp_path)), "cur")
    assert (found.format, found.compression) == (file_format, compression)


def test_unreadable_manifests_are_named_in_the_error(tmp_path):
    store = LocalDirectoryStore(root=str(tmp_path))
    manifest = tmp_path / "cur/acme/20240101-20240201/acme-Manifest.json"
    manifest.parent.mkdir(parents=True)

    manifest.write_text("{not json")
    with pytest.raises(SourceFileError, match=f"{manifest}: manifest is not valid JSON"):
        find_latest_assemblies(store, "cur")

    (tmp_path / "cur/acme/20240101-20240201/a1").mkdir()
    spreadsheet = "cur/acme/20240101-20240201/a1/acme-1.xlsx"
    (tmp_path / spreadsheet).write_bytes(b"x")
    manifest.write_text(json.dumps({"assemblyId": "a1", "reportKeys": [spreadsheet]}))
    with pytest.raises(SourceFileError, match="cannot tell the file format of '.*acme-1.xlsx'"):
        find_latest_assemblies(store, "cur")

    mixed = ["cur/acme/20240101-20240201/a1/acme-1.csv.gz", "cur/acme/20240101-20240201/a1/acme-2.parquet"]
    for key in mixed:
        (tmp_path / key).write_bytes(b"x")
    manifest.write_text(json.dumps({"assemblyId": "a1", "reportKeys": mixed}))
    with pytest.raises(SourceFileError, match="manifest mixes file formats"):
        find_latest_assemblies(store, "cur")

    manifest.write_text(json.dumps({"reportKeys": []}))
    with pytest.raises(SourceFileError, match="manifest has no 'assemblyId'"):
        find_latest_assemblies(store, "cur")


@pytest.mark.skipif(not KOKU.is_dir(), reason="needs ../shared/data/koku beside the repository")
@pytest.mark.parametrize("prefix", ["", "exports/aws"])
def test_koku_sample_manifest(tmp_path, prefix):
    # Laid out as koku's test bucket (data linked, not copied). The sample's bucket is "" and its
    # reportKeys start with "/", so under a prefix they only resolve relative to the report folder.
    assembly = "16e57707-f9e3-49be-8be6-b84e684b5194"  # as read in the sample manifest
    period = tmp_path / prefix / "koku-local" / "20180801-20180901"
    (period / assembly).mkdir(parents=True)
    (period / "koku-local-Manifest.json").symlink_to(KOKU / "aws_legacy_cur_koku-local-Manifest.json")
    (period / assembly / "koku-local-1.csv.gz").symlink_to(KOKU / "aws_legacy_cur_koku-local-1.csv.gz")
    at = f"{prefix}/koku-local/20180801-20180901" if prefix else "koku-local/20180801-20180901"

    [found] = find_latest_assemblies(LocalDirectoryStore(root=str(tmp_path)), prefix)
    assert found == BillingPeriodAssembly(
        billing_period_start=date(2018, 8, 1),
        billing_period_end=date(2018, 9, 1),
        assembly_id="16e57707-f9e3-49be-8be6-b84e684b5194",
        manifest_key=f"{at}/koku-local-Manifest.json",
        report_keys=(f"{at}/16e57707-f9e3-49be-8be6-b84e684b5194/koku-local-1.csv.gz",),
        format="csv",
        compression="GZIP",
        report_name="koku-local",
        layout="cur",
    )


def test_billing_periods_for_days():
    days = [date(2024, 2, 29), date(2024, 1, 31), date(2024, 2, 1), date(2023, 12, 31), date(2024, 1, 1)]
    assert billing_periods_for_days(days) == [date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1)]
    assert billing_periods_for_days([]) == []
