"""The two billing-file stores: a real local directory, and real boto3 against moto's in-process S3."""

from datetime import UTC, datetime
from pathlib import Path

import boto3
import dagster as dg
import pytest
from moto import mock_aws

from finops_pipeline.connectors import BillingFileStore, LocalDirectoryStore, S3Store

BUCKET = "billing"


def count_requests(store: S3Store, operation: str) -> list[dict]:
    """Every `operation` request (url, headers, ...) the store's client sends from now on."""
    sent: list[dict] = []

    def record(params: dict, **_) -> None:
        sent.append(params)

    store.get_client().meta.events.register(f"before-call.s3.{operation}", record)
    return sent


@pytest.fixture
def finops_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "finops_home"
    monkeypatch.setenv("FINOPS_HOME", str(home))
    return home


@pytest.fixture
def s3_store(monkeypatch, finops_home):
    """An S3Store over an empty bucket in moto; fake credentials reach boto3 only through env vars."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield S3Store(bucket=BUCKET)


def put(store: S3Store, key: str, body: bytes) -> None:
    store.get_client().put_object(Bucket=BUCKET, Key=key, Body=body)


@pytest.fixture
def local_store(tmp_path) -> LocalDirectoryStore:
    root = tmp_path / "drop"
    for key, body in {"a/1.csv": b"one", "a/b/2.csv": b"two", "ab.csv": b"ab", "c/3.csv": b"three"}.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return LocalDirectoryStore(root=str(root))


# --- local directory -------------------------------------------------------------------------------


def test_local_lists_recursively_with_s3_prefix_semantics(local_store):
    assert local_store.list_keys("") == ["a/1.csv", "a/b/2.csv", "ab.csv", "c/3.csv"]
    assert local_store.list_keys("a/") == ["a/1.csv", "a/b/2.csv"]
    assert local_store.list_keys("a") == ["a/1.csv", "a/b/2.csv", "ab.csv"]  # a plain string prefix
    assert local_store.list_keys("a/b/2") == ["a/b/2.csv"]
    assert local_store.list_keys("missing/") == []
    assert local_store.list_keys("../") == []


def test_local_reads_the_file_in_place(local_store, tmp_path):
    expected = (tmp_path / "drop" / "a" / "b" / "2.csv").resolve()
    assert local_store.read_bytes("a/b/2.csv") == b"two"
    assert local_store.local_path("a/b/2.csv") == expected
    assert local_store.describe("a/b/2.csv") == str(expected)
    modified = local_store.last_modified("a/b/2.csv")
    assert modified.tzinfo is not None
    assert abs((datetime.now(UTC) - modified).total_seconds()) < 60


def test_local_missing_key_and_keys_outside_the_root(local_store):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        local_store.read_bytes("a/nope.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        local_store.local_path("a/nope.csv")
    for key in ("../drop/a/1.csv", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError, match="not a relative path"):
            local_store.read_bytes(key)


# --- S3 ----------------------------------------------------------------------------------------------


def test_s3_list_paginates_past_1000_keys(s3_store):
    keys = [f"cur/report/part-{i:05d}.csv.gz" for i in range(1005)]
    for key in reversed(keys):
        put(s3_store, key, b"x")
    put(s3_store, "cur/report/", b"")  # a console "folder" marker is not a file
    put(s3_store, "cur-old/report/part-00000.csv.gz", b"x")  # outside the prefix
    list_calls = count_requests(s3_store, "ListObjectsV2")

    assert s3_store.list_keys("cur/") == keys
    assert len(list_calls) == 2  # 1,000 keys per page
    assert s3_store.list_keys("cur") == sorted([*keys, "cur-old/report/part-00000.csv.gz"])


def test_s3_read_bytes_describe_and_missing_key(s3_store):
    put(s3_store, "cur/a.csv", b"hello")
    assert s3_store.read_bytes("cur/a.csv") == b"hello"
    assert s3_store.describe("cur/a.csv") == "s3://billing/cur/a.csv"
    assert s3_store.last_modified("cur/a.csv").tzinfo is not None
    with pytest.raises(FileNotFoundError, match="s3://billing/cur/nope.csv"):
        s3_store.read_bytes("cur/nope.csv")
    with pytest.raises(FileNotFoundError, match="s3://billing/cur/nope.csv"):
        s3_store.local_path("cur/nope.csv")


def test_s3_local_path_downloads_once_then_reuses_the_cache(s3_store, finops_home):
    put(s3_store, "cur/r/20240101-20240201/a.csv.gz", b"version 1")
    gets = count_requests(s3_store, "GetObject")

    path = s3_store.local_path("cur/r/20240101-20240201/a.csv.gz")
    assert path == finops_home / "cache" / "s3" / BUCKET / "cur" / "r" / "20240101-20240201" / "a.csv.gz"
    assert path.read_bytes() == b"version 1"
    assert len(gets) == 1
    first_write = path.stat().st_mtime_ns

    assert s3_store.local_path("cur/r/20240101-20240201/a.csv.gz") == path
    assert len(gets) == 1  # same size and ETag: no second download
    assert path.stat().st_mtime_ns == first_write
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []


def test_s3_local_path_downloads_again_when_the_object_or_the_copy_changes(s3_store):
    put(s3_store, "cur/a.csv", b"version 1")
    gets = count_requests(s3_store, "GetObject")
    path = s3_store.local_path("cur/a.csv")

    put(s3_store, "cur/a.csv", b"version 2")  # AWS rewrote the file: new ETag
    assert s3_store.local_path("cur/a.csv").read_bytes() == b"version 2"
    assert len(gets) == 2

    path.write_bytes(b"cut")  # the cached copy was damaged: its size no longer matches
    assert s3_store.local_path("cur/a.csv").read_bytes() == b"version 2"
    assert len(gets) == 3
    etag = s3_store.get_client().head_object(Bucket=BUCKET, Key="cur/a.csv")["ETag"]
    assert gets[-1]["headers"]["If-Match"] == etag  # a rewrite during the download fails, not mixes


def test_s3_rewrite_between_head_and_get_fails_instead_of_caching_mixed_versions(s3_store, finops_home):
    put(s3_store, "cur/a.csv", b"version 1")

    def rewrite_just_before_the_get(**_) -> None:  # what AWS does to a CUR in overwrite mode
        boto3.client("s3").put_object(Bucket=BUCKET, Key="cur/a.csv", Body=b"version 2!")

    s3_store.get_client().meta.events.register("before-call.s3.GetObject", rewrite_just_before_the_get)
    with pytest.raises(RuntimeError, match="s3://billing/cur/a.csv changed while it was being downloaded"):
        s3_store.local_path("cur/a.csv")
    assert [p.name for p in (finops_home / "cache" / "s3" / BUCKET / "cur").iterdir()] == []


def test_s3_cache_refuses_keys_that_would_escape_the_cache_dir(s3_store):
    put(s3_store, "cur/../../escape.csv", b"x")
    with pytest.raises(ValueError, match="not a plain relative path"):
        s3_store.local_path("cur/../../escape.csv")


def test_s3_store_takes_no_credentials_as_config():
    assert set(S3Store.model_fields) == {"bucket", "region_name", "endpoint_url"}


# --- both, as Dagster resources ----------------------------------------------------------------------


def test_both_stores_satisfy_the_protocol_and_work_as_dagster_resources(local_store, s3_store):
    put(s3_store, "a/1.csv", b"one")

    @dg.asset
    def first_file(store: dg.ResourceParam[BillingFileStore]) -> bytes:
        return store.read_bytes(store.list_keys("a/")[0])

    for store in (local_store, s3_store):
        assert isinstance(store, BillingFileStore)
        result = dg.materialize([first_file], resources={"store": store})
        assert result.success
        assert result.output_for_node("first_file") == b"one"
