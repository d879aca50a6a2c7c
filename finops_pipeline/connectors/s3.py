"""Billing files in an S3 bucket (CUR, CUR 2.0 and FOCUS exports are delivered there)."""

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import boto3
from botocore.exceptions import ClientError
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from finops_pipeline.settings import finops_home

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_COPY_CHUNK_BYTES = 8 * 1024 * 1024


class S3Store(ConfigurableResource):
    """Serves the objects of one bucket; a key is the S3 object key.

    Credentials come only from boto3's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
    AWS_SESSION_TOKEN, AWS_PROFILE and shared config, SSO, container and instance roles). This resource
    deliberately has no field that could hold a secret, so none can end up in the Dagster UI or logs.
    """

    bucket: str = Field(description="Bucket the billing exports are delivered to.")
    region_name: str | None = Field(default=None, description="Bucket region; default from the AWS chain.")
    endpoint_url: str | None = Field(
        default=None, description="Custom S3 endpoint (MinIO, LocalStack, a VPC endpoint); default AWS."
    )

    _client: Any = PrivateAttr(default=None)

    def get_client(self) -> Any:
        """The boto3 S3 client, created once per resource instance (boto3 clients are thread-safe)."""
        if self._client is None:
            session = boto3.session.Session()
            self._client = session.client("s3", region_name=self.region_name, endpoint_url=self.endpoint_url)
        return self._client

    def list_keys(self, prefix: str = "") -> list[str]:
        paginator = self.get_client().get_paginator("list_objects_v2")
        keys = [
            obj["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith("/")  # zero-byte "folder" markers made by the console
        ]
        return sorted(keys)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.get_client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as err:
            _raise_translated(err, self.describe(key))

    def local_path(self, key: str) -> Path:
        """Download the object into FINOPS_HOME/cache/s3/<bucket>/<key>, or re-use the copy already there.

        The copy is re-used while the object's size and ETag are unchanged (checked with one HEAD request),
        so a billing period that AWS has not rewritten is downloaded once, however often it is read.
        """
        target = self._cache_path(key)
        head = self._head(key)
        stamp = {"etag": head["ETag"], "size": head["ContentLength"]}
        stamp_path = target.with_name(f".{target.name}.s3stamp.json")
        if target.is_file() and target.stat().st_size == stamp["size"] and _read_json(stamp_path) == stamp:
            return target

        target.parent.mkdir(parents=True, exist_ok=True)
        # Download beside the target and rename: a crash mid-download never leaves a half file in the cache.
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            # IfMatch: if AWS rewrites the object between our HEAD and GET (CUR overwrite mode), fail
            # rather than cache bytes that do not belong to the ETag we record.
            body = self.get_client().get_object(Bucket=self.bucket, Key=key, IfMatch=stamp["etag"])["Body"]
            with partial.open("wb") as out:
                shutil.copyfileobj(body, out, _COPY_CHUNK_BYTES)
            os.replace(partial, target)
        except ClientError as err:
            _raise_translated(err, self.describe(key))
        finally:
            partial.unlink(missing_ok=True)
        # Written last: if we crash before this, the old stamp no longer matches and we download again.
        stamp_path.write_text(json.dumps(stamp))
        return target

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def last_modified(self, key: str) -> datetime:
        return self._head(key)["LastModified"].astimezone(UTC)

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return self.get_client().head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            _raise_translated(err, self.describe(key))

    def _cache_path(self, key: str) -> Path:
        parts = key.split("/")
        # Keys come from manifests written by others: never let one write outside the cache directory.
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"Cannot cache {self.describe(key)}: the key is not a plain relative path")
        return finops_home() / "cache" / "s3" / self.bucket / Path(*parts)


def _raise_translated(err: ClientError, where: str) -> NoReturn:
    """Turn S3's error codes into the exceptions callers expect from any store."""
    code = str(err.response.get("Error", {}).get("Code", ""))
    if code in _NOT_FOUND_CODES:
        raise FileNotFoundError(f"No such billing file: {where}") from err
    if code == "PreconditionFailed":
        raise RuntimeError(f"{where} changed while it was being downloaded; run again to read it") from err
    raise err


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
