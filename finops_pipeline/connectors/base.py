"""The one interface sources use to reach billing files, wherever they live (S3, a local folder, ...)."""

from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class BillingFileStore(Protocol):
    """A flat namespace of objects addressed by POSIX-style keys, like an S3 bucket.

    Keys never start with "/"; a prefix matches like S3's (plain string prefix, so "cur/a" matches
    "cur/a/x.csv" and "cur/ab.csv").
    """

    def list_keys(self, prefix: str = "") -> list[str]:
        """All object keys under `prefix` (recursive), sorted."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The whole object. Raises FileNotFoundError if there is no such key."""
        ...

    def local_path(self, key: str) -> Path:
        """A local file holding the object, so polars can scan it lazily (remote stores cache it)."""
        ...

    def describe(self, key: str) -> str:
        """Where the key lives, for error messages and lineage ("s3://bucket/key" or an absolute path)."""
        ...

    def last_modified(self, key: str) -> datetime:
        """When the object was last written (timezone-aware UTC)."""
        ...
