"""The Google Cloud billing export table in BigQuery, as a Dagster resource (`gcp_billing` reads it when set).

Credentials come only from Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS` pointing at a
service-account key file, workload identity, the metadata server, or `gcloud auth application-default
login`): the resource has no field that could hold a secret, so none can reach the Dagster UI or logs.
The identity needs `bigquery.jobs.create` on the job project and read access to the export dataset.
"""

from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import date, datetime
from typing import Any

import polars as pl
from dagster import ConfigurableResource
from google.cloud import bigquery
from pydantic import Field

from finops_pipeline.sources.gcp.bigquery import billing_export_query, read_billing_export, restated_invoice_months

# What changed, per usage day: Google restates by exporting rows again with a newer `export_time`, so the newest
# export time and the row count of a day change whenever its rows do. Reads two TIMESTAMP columns of the
# window's partitions only (the same `_PARTITIONTIME` bounds as the asset's query for those days).
DAILY_FINGERPRINT_QUERY = """\
SELECT
  DATE(usage_start_time) AS usage_day,
  MAX(export_time) AS last_export_time,
  COUNT(*) AS row_count
FROM `{table}`
WHERE _PARTITIONTIME >= @partition_start
  AND _PARTITIONTIME < @partition_end
  AND DATE(usage_start_time) BETWEEN @first_day AND @last_day
GROUP BY usage_day"""


def daily_fingerprint_query(
    table: str, first_day: date, last_day: date, *, partition_margin_days: int = 3
) -> tuple[str, list[bigquery.ScalarQueryParameter]]:
    """The SQL and parameters of `DAILY_FINGERPRINT_QUERY` for the usage days `first_day`..`last_day` (UTC).

    The table name check and the partition bounds are `billing_export_query`'s for the same days, so the
    sensor prunes exactly as the asset does."""
    days = [first_day, last_day]
    _, asset_params = billing_export_query(table, days, [], partition_margin_days=partition_margin_days)
    bounds = {p.name: p for p in asset_params if p.name in ("partition_start", "partition_end")}
    return DAILY_FINGERPRINT_QUERY.format(table=table), [
        bounds["partition_start"],
        bounds["partition_end"],
        bigquery.ScalarQueryParameter("first_day", "DATE", first_day),
        bigquery.ScalarQueryParameter("last_day", "DATE", last_day),
    ]


def daily_fingerprints(rows: Iterable[Mapping[str, Any]]) -> dict[date, str]:
    """{usage day: "<row count> rows, last exported <export time>"} from the rows of `DAILY_FINGERPRINT_QUERY`."""
    return {row["usage_day"]: f"{row['row_count']} rows, last exported {_iso(row['last_export_time'])}" for row in rows}


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "never"


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

    def data_version(self) -> str:
        """The table's last-modified time, from its metadata (tables.get: no query job, nothing billed). It
        changes whenever rows are written, so a sensor that sees it unchanged need not query the table."""
        with closing(self.make_client(self.job_project(), self.location)) as client:
            return _iso(client.get_table(self._configured_table()).modified)

    def daily_fingerprints(self, first_day: date, last_day: date) -> dict[date, str]:
        """{usage day: fingerprint} of the days `first_day`..`last_day` that have rows (`daily_fingerprint_query`):
        a day's fingerprint changes when rows of it are exported again or added."""
        sql, params = daily_fingerprint_query(
            self._configured_table(), first_day, last_day, partition_margin_days=self.partition_margin_days
        )
        with closing(self.make_client(self.job_project(), self.location)) as client:
            job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
            return daily_fingerprints(job.result())

    def _configured_table(self) -> str:
        if not self.table:
            raise ValueError("no BigQuery billing export table is configured (FINOPS_GCP_BIGQUERY_TABLE)")
        return self.table

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
