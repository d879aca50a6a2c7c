"""The Google Cloud billing export table in BigQuery, as a Dagster resource (`gcp_billing` reads it when set).

Credentials come only from Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS` pointing at a
service-account key file, workload identity, the metadata server, or `gcloud auth application-default
login`): the resource has no field that could hold a secret, so none can reach the Dagster UI or logs.
The identity needs `bigquery.jobs.create` on the job project and read access to the export dataset.
"""

from contextlib import closing
from datetime import date
from typing import Any

import polars as pl
from dagster import ConfigurableResource
from google.cloud import bigquery
from pydantic import Field

from finops_pipeline.sources.gcp.bigquery import read_billing_export, restated_invoice_months


class BigQueryBillingExport(ConfigurableResource):
    """Reads the run's days (and the restated invoice months) from the billing export table.

    Unconfigured (no `table`) it reads nothing and the source falls back to export files.
    """

    table: str | None = Field(
        default=None,
        description="Billing export table `project.dataset.gcp_billing_export_[resource_]v1_XXXXXX` "
        "(FINOPS_GCP_BIGQUERY_TABLE). When set, gcp_billing reads BigQuery instead of files.",
    )
    project: str | None = Field(
        default=None,
        description="Project the query jobs run in and are billed to (FINOPS_GCP_PROJECT); default the "
        "table's project.",
    )
    location: str | None = Field(
        default=None,
        description="Location of the export dataset, e.g. US or europe-west1 (FINOPS_GCP_BIGQUERY_LOCATION); "
        "default BigQuery's.",
    )
    partition_margin_days: int = Field(
        default=3,
        description="Days of _PARTITIONTIME read on each side of the days and invoice months "
        "(FINOPS_GCP_BIGQUERY_PARTITION_MARGIN_DAYS): more costs bytes scanned, never correctness.",
    )

    def make_client(self, project: str, location: str | None) -> bigquery.Client:
        """The one place the client is built: Application Default Credentials. (Tests subclass the resource
        to build the same client over recorded HTTP; Dagster rebuilds resources from their fields, so a
        private attribute would not survive.)"""
        return bigquery.Client(project=project, location=location)

    @property
    def configured(self) -> bool:
        return bool(self.table)

    def describe(self) -> str:
        return f"bigquery://{self.table}"

    def job_project(self) -> str:
        """FINOPS_GCP_PROJECT, else the table's project (`project.dataset.table`, the project may be
        `domain.com:project`)."""
        if self.project:
            return self.project
        if not self.table:
            raise ValueError("no BigQuery billing export table is configured (FINOPS_GCP_BIGQUERY_TABLE)")
        return self.table.rsplit(".", 2)[0]

    def read(self, days: list[date], log: Any) -> pl.DataFrame:
        """Rows of `days` and of the restated invoice months, in `scan_billing_export`'s shape."""
        if not self.table:
            raise ValueError("no BigQuery billing export table is configured (FINOPS_GCP_BIGQUERY_TABLE)")
        months = restated_invoice_months(days)
        with closing(self.make_client(self.job_project(), self.location)) as client:
            rows = read_billing_export(
                client,
                self.table,
                days,
                months,
                source_name=self.describe(),
                partition_margin_days=self.partition_margin_days,
            )
        log.info(
            f"gcp: {rows.height} rows from {self.describe()} for {min(days)} … {max(days)} "
            f"and invoice months {', '.join(months)} (job project {self.job_project()})"
        )
        return rows
