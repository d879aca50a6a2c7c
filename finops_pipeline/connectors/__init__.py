"""Where billing files come from: one small interface, one Dagster resource per kind of storage."""

from finops_pipeline.connectors.base import BillingFileStore
from finops_pipeline.connectors.local import LocalDirectoryStore
from finops_pipeline.connectors.s3 import S3Store

__all__ = ["BillingFileStore", "LocalDirectoryStore", "S3Store"]
