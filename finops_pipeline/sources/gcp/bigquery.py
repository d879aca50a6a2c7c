"""Read the billing export table in BigQuery: only the partitions a run needs, as the same frame the file scan gives.

What a run asks for is (a) the usage days it materialises and (b) the invoice months Google may still be
restating (the current and previous month): every row whose `invoice.month` is one of those is read again,
whatever its usage day, so corrections land.

Partition pruning. The export tables are partitioned by day on `_PARTITIONTIME`; BigQuery only prunes on a
filter of that pseudo-column with constant bounds (query parameters are constants), and not through an `OR`
with other columns. So the query has one top-level `_PARTITIONTIME` range covering both (a) and (b) —
widened by `partition_margin_days` on each side, because rows can land in a partition a little before or
after their usage day (exports run late, invoice months are Pacific-time months, late-reported usage goes to
the next invoice month) — and, inside it, the exact row filter
`DATE(usage_start_time) IN UNNEST(@days) OR invoice.month IN UNNEST(@invoice_months)`.
A wider margin costs bytes scanned, never correctness: the row filter decides which rows come back.

Which invoice months: `restated_invoice_months(days)` — the months of the run's days and the month before
the last one (the current and previous invoice month for the daily schedule's run, which covers exactly
those two months). Rows of those months whose usage day is outside the run still come back; a caller that
replaces whole days (the `gcp_billing` asset) keeps only the run's days, since it has not read the other
days completely.

`SELECT *`: the standard and detailed tables differ (`resource`, `price`), and Google adds fields over time
(`cost_at_list`, `tags`, `transaction_type`); the normaliser keeps what it knows and types what is absent.
"""

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from google.cloud import bigquery

from finops_pipeline.sources.gcp.export import normalise_nested, with_source_rows

_TABLE = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_$-]+$")  # project(.domain:)?.dataset.table
_INVOICE_MONTH = re.compile(r"^\d{4}(?:0[1-9]|1[0-2])$")

QUERY = """\
SELECT *
FROM `{table}`
WHERE _PARTITIONTIME >= @partition_start
  AND _PARTITIONTIME < @partition_end
  AND (
    DATE(usage_start_time) IN UNNEST(@days)
    OR invoice.month IN UNNEST(@invoice_months)
  )"""


def billing_export_query(
    table: str,
    days: Sequence[date],
    invoice_months: Sequence[str],
    *,
    partition_margin_days: int = 3,
) -> tuple[str, list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter]]:
    """The SQL and its query parameters for the rows of `days` (UTC usage days) and `invoice_months` (YYYYMM).

    `table` is `project.dataset.table` (it cannot be a query parameter, so it is checked and back-quoted).
    """
    if not _TABLE.match(table):
        raise ValueError(f"not a BigQuery table name (project.dataset.table): {table!r}")
    days = sorted(set(days))
    months = sorted(set(invoice_months))
    bad = [m for m in months if not _INVOICE_MONTH.match(m)]
    if bad:
        raise ValueError(f"invoice months must be YYYYMM: {bad}")
    if not days and not months:
        raise ValueError("nothing to read: no days and no invoice months")

    first_days, last_days = list(days), list(days)
    for month in months:
        start = date(int(month[:4]), int(month[4:]), 1)
        first_days.append(start)
        last_days.append((start + timedelta(days=32)).replace(day=1))  # a Pacific month ends on the next 1st, UTC
    margin = timedelta(days=partition_margin_days)
    partition_start = datetime.combine(min(first_days) - margin, time(), UTC)
    partition_end = datetime.combine(max(last_days) + margin + timedelta(days=1), time(), UTC)
    params = [
        bigquery.ScalarQueryParameter("partition_start", "TIMESTAMP", partition_start),
        bigquery.ScalarQueryParameter("partition_end", "TIMESTAMP", partition_end),
        bigquery.ArrayQueryParameter("days", "DATE", days),
        bigquery.ArrayQueryParameter("invoice_months", "STRING", months),
    ]
    return QUERY.format(table=table), params


def restated_invoice_months(days: Sequence[date]) -> list[str]:
    """YYYYMM of every month the days fall in, plus the month before the last day's (the previous invoice
    month, which Google may still restate). Empty when there are no days."""
    if not days:
        return []
    last = max(days)
    previous = (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    return sorted({f"{day:%Y%m}" for day in days} | {f"{previous:%Y%m}"})


def read_billing_export(
    client: bigquery.Client,
    table: str,
    days: Sequence[date],
    invoice_months: Sequence[str],
    *,
    source_name: str | None = None,
    partition_margin_days: int = 3,
) -> pl.DataFrame:
    """Run `billing_export_query` and return its rows in the internal shape of `scan_billing_export`.

    Rows come through the REST API (`to_arrow` without the BigQuery Storage API, which would need another
    package and permission): BigQuery's STRUCT/ARRAY columns arrive as arrow structs and lists and are
    flattened like a parquet export. `x_SourceFile` is `source_name` (default `bigquery://<table>`);
    `x_SourceRowNumber` numbers the rows of this query's result (BigQuery gives no stable row order).
    """
    sql, params = billing_export_query(table, days, invoice_months, partition_margin_days=partition_margin_days)
    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
    arrow = job.result().to_arrow(create_bqstorage_client=False)
    frame = pl.from_arrow(arrow)
    assert isinstance(frame, pl.DataFrame)
    return normalise_nested(with_source_rows(frame).lazy(), source_name or f"bigquery://{table}").collect()
