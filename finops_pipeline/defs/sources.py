"""Source assets: each reads the billing data of the run's days, maps it to FOCUS rows (pure functions of its
`sources/<provider>` package) and stages them for `focus_costs`.

Every file-based source has the same shape, so one factory builds them; a source only says how to find
its files, read them, map them and total them independently of the mapping (for reconciliation).

Two sources can read their provider's API instead of files (an `ApiSource`: a Dagster resource whose
settings come from environment variables, shown in the UI under Resources). When its setting is present
the asset reads the API only and ignores files, because files and API would hold the same charges twice;
without it the asset reads files as before. Either way it writes the same tables: `raw.<source>_billing`
(FOCUS rows of the run's days) and `ops.source_totals` (totals computed from the native rows alone), so
the blocking reconciliation check on `focus_costs` is the same.

`gcp_billing` ← BigQuery billing export table (resource `gcp_bigquery`, `connectors/bigquery.py`):
  FINOPS_GCP_BIGQUERY_TABLE   `project.dataset.gcp_billing_export_[resource_]v1_XXXXXX`; set → BigQuery
  FINOPS_GCP_PROJECT          project the query jobs run in and are billed to (default: the table's)
  FINOPS_GCP_BIGQUERY_LOCATION  dataset location (`US`, `EU`, `europe-west1`, …; default BigQuery's)
  FINOPS_GCP_BIGQUERY_PARTITION_MARGIN_DAYS  `_PARTITIONTIME` margin around the days (default 3)
  Credentials: Application Default Credentials only (GOOGLE_APPLICATION_CREDENTIALS, workload identity,
  metadata server, `gcloud auth application-default login`). A run reads its days plus every row of the
  invoice months Google may restate (those of the days and the one before the last day's,
  `restated_invoice_months`), partition-pruned; it stages only the run's days, since it replaces whole
  days (the daily schedule covers the previous and the current month, so restatements land).

`azure_billing` ← Cost Management Query API (resource `azure_cost_query`, `connectors/cost_management.py`):
  FINOPS_AZURE_COST_SCOPE     `/subscriptions/<id>`, `…/resourceGroups/<name>` or
                              `/providers/Microsoft.Billing/billingAccounts/<id>`; set → Query API
  FINOPS_AZURE_BILLING_ACCOUNT_ID  BillingAccountId for subscription / resource-group scopes (without it
                              FOCUS conformance quarantines the rows)
  Credentials: azure-identity DefaultAzureCredential only (AZURE_TENANT_ID / AZURE_CLIENT_ID /
  AZURE_CLIENT_SECRET, workload or managed identity). Small scopes only: the Query API is rate limited
  (429) and paginated (nextLink, followed), gives daily amortized cost by a few dimensions (no prices,
  quantities or tags); one query per calendar month of the run. Rows go through the export mapping.
"""

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
import polars as pl

from finops_pipeline.connectors import BillingFileStore, LocalDirectoryStore, S3Store
from finops_pipeline.connectors.bigquery import BigQueryBillingExport
from finops_pipeline.connectors.cost_management import AzureCostQuery
from finops_pipeline.defs.metadata import money_text
from finops_pipeline.defs.partitions import daily_partitions, single_run
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run
from finops_pipeline.focus import CORE_TABLE_SCHEMA, MONEY, REASON
from finops_pipeline.settings import finops_home
from finops_pipeline.sources import azure, focus_export
from finops_pipeline.sources.aws.cur import cur_source_totals, scan_cur
from finops_pipeline.sources.aws.focus_mapping import cur_to_focus
from finops_pipeline.sources.aws.manifest import billing_periods_for_days, find_latest_assemblies
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.files import STREAMING_CHUNK_ROWS
from finops_pipeline.sources.gcp.export import billing_export_source_totals, scan_billing_export
from finops_pipeline.sources.gcp.focus_mapping import billing_export_to_focus

SOURCE_TOTALS_TABLE = "ops.source_totals"

# Shapes of what a source asset writes, so a run that finds no data still writes (and empties) its days.
STAGING_SCHEMA = {**CORE_TABLE_SCHEMA, REASON: pl.String}
SOURCE_TOTALS_SCHEMA = {
    "x_SourceName": pl.String,
    "x_SourceFile": pl.String,
    "x_BillingPeriodStart": pl.Date,
    "x_ChargeDay": pl.Date,
    "x_SourceRows": pl.Int64,
    "x_SourceCost": MONEY,
    "x_UnparsedCostRows": pl.Int64,
}


@dataclass(frozen=True)
class FileGroup:
    """Files read together (one billing period's current assembly, or one export file)."""

    label: str
    keys: tuple[str, ...]
    billing_period_start: date | None = None  # known for manifest- or folder-dated exports


class BillingApi(Protocol):
    """A resource that reads a source's native rows (the shape its `scan` gives) from the provider's API."""

    @property
    def configured(self) -> bool: ...

    def describe(self) -> str: ...

    def read(self, days: list[date], log: Any) -> pl.DataFrame: ...


@dataclass(frozen=True)
class ApiSource:
    """A source's alternative to files: its resource key, the environment variable that switches it on, and
    how to build the resource from the environment."""

    resource_key: str
    setting: str
    resource: Callable[[], dg.ConfigurableResource]

    def is_set(self) -> bool:
        return bool(os.environ.get(self.setting))


@dataclass(frozen=True)
class BillingSource:
    name: str  # x_SourceName of its rows, and the env prefix FINOPS_<NAME>_…
    description: str
    find_files: Callable[[BillingFileStore, str, list[date]], list[FileGroup]]
    scan: Callable[..., pl.LazyFrame]  # (paths, source_names=) → native rows with x_SourceFile/RowNumber
    to_focus: Callable[..., pl.LazyFrame]  # (native, source_name=) → STAGING_SCHEMA columns
    source_totals: Callable[[pl.LazyFrame], pl.LazyFrame]
    default_prefix: str = ""
    api: ApiSource | None = None  # when its resource is configured, read instead of files

    @property
    def asset_name(self) -> str:
        return f"{self.name}_billing"

    @property
    def staging_table(self) -> str:
        return f"raw.{self.asset_name}"

    @property
    def store_key(self) -> str:
        return f"{self.name}_store"

    def prefix(self) -> str:
        return os.environ.get(f"FINOPS_{self.name.upper()}_PREFIX", self.default_prefix)

    def store(self) -> dg.ConfigurableResource:
        """S3 when FINOPS_<NAME>_BUCKET is set (credentials from the standard AWS chain), else a folder:
        FINOPS_<NAME>_DIR, default the demo export under FINOPS_HOME."""
        env = self.name.upper()
        if os.environ.get(f"FINOPS_{env}_BUCKET"):
            return S3Store(
                bucket=dg.EnvVar(f"FINOPS_{env}_BUCKET"),
                region_name=os.environ.get("AWS_REGION"),
                endpoint_url=os.environ.get(f"FINOPS_{env}_S3_ENDPOINT_URL"),
            )
        default_dir = str(finops_home() / "demo" / self.name)
        return LocalDirectoryStore(root=os.environ.get(f"FINOPS_{env}_DIR", default_dir))


def _env(name: str) -> dg.EnvVar | None:
    """The setting as a Dagster EnvVar (shown by name in the UI, read at run time) when it is set."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def gcp_bigquery_resource() -> BigQueryBillingExport:
    margin = "FINOPS_GCP_BIGQUERY_PARTITION_MARGIN_DAYS"
    return BigQueryBillingExport(
        table=_env("FINOPS_GCP_BIGQUERY_TABLE"),
        project=_env("FINOPS_GCP_PROJECT"),
        location=_env("FINOPS_GCP_BIGQUERY_LOCATION"),
        **({"partition_margin_days": dg.EnvVar.int(margin)} if os.environ.get(margin) else {}),
    )


def azure_cost_query_resource() -> AzureCostQuery:
    return AzureCostQuery(
        scope=_env("FINOPS_AZURE_COST_SCOPE"), billing_account_id=_env("FINOPS_AZURE_BILLING_ACCOUNT_ID")
    )


def cur_assemblies(store: BillingFileStore, prefix: str, days: list[date]) -> list[FileGroup]:
    """AWS: the newest assembly of each billing period the days touch (manifest-driven)."""
    return [
        FileGroup(f"{a.billing_period_start:%Y-%m} assembly {a.assembly_id}", a.report_keys, a.billing_period_start)
        for a in find_latest_assemblies(store, prefix, billing_periods_for_days(days))
    ]


EXPORT_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".gz", ".zip", ".json", ".ndjson")


def every_export_file(store: BillingFileStore, prefix: str, days: list[date]) -> list[FileGroup]:
    """Exports without a manifest: every data file under the prefix (rows are filtered to the run's days)."""
    keys = [k for k in store.list_keys(prefix) if k.lower().endswith(EXPORT_SUFFIXES)]
    return [FileGroup(key, (key,)) for key in keys]


_AZURE_PERIOD_FOLDER = re.compile(r"(^|/)\d{8}-\d{8}(/|$)")


def azure_export_groups(store: BillingFileStore, prefix: str, days: list[date]) -> list[FileGroup]:
    """Azure: the files of one billing-period folder (`…/20261101-20261130/…`) are read together, so an
    actual and an amortized export of the same period can be combined by Microsoft's rule."""
    groups: dict[str, list[str]] = {}
    for key in store.list_keys(prefix):
        if key.lower().endswith(EXPORT_SUFFIXES):
            match = _AZURE_PERIOD_FOLDER.search(key)
            folder = key[: match.end()] if match else key.rpartition("/")[0]
            groups.setdefault(folder, []).append(key)
    return [
        FileGroup(folder or "(root)", tuple(keys), _period_start(folder)) for folder, keys in sorted(groups.items())
    ]


def _period_start(folder: str) -> date | None:
    match = _AZURE_PERIOD_FOLDER.search(folder)
    return datetime.strptime(match.group(0).strip("/")[:8], "%Y%m%d").date() if match else None


def scan_azure_export_group(paths: Sequence[Path], *, source_names: Sequence[str]) -> pl.LazyFrame:
    """Files named …actual… and …amortized… in one group are combined (all amortized rows + the actual
    commitment purchases and refunds); any other file is taken as it is."""
    kinds = {"actual": [], "amortized": [], "other": []}
    for path, name in zip(paths, source_names, strict=True):
        lowered = name.lower()
        kind = "amortized" if "amortized" in lowered else "actual" if "actual" in lowered else "other"
        kinds[kind].append((path, name))

    def scan(pairs):
        return azure.scan_cost_export([p for p, _ in pairs], source_names=[n for _, n in pairs])

    frames = [scan(kinds["other"])] if kinds["other"] else []
    if kinds["actual"] and kinds["amortized"]:
        frames.append(azure.combine_actual_and_amortized(scan(kinds["actual"]), scan(kinds["amortized"])))
    elif kinds["actual"] or kinds["amortized"]:
        frames.append(scan(kinds["actual"] or kinds["amortized"]))
    return pl.concat(frames, how="diagonal_relaxed")


def scan_gcp_export(paths: Sequence[Path], *, source_names: Sequence[str]) -> pl.LazyFrame:
    """GCP export files; rows of legacy file exports that name no billing account take
    FINOPS_GCP_BILLING_ACCOUNT_ID (without it FOCUS conformance quarantines them)."""
    account = os.environ.get("FINOPS_GCP_BILLING_ACCOUNT_ID") or None
    return scan_billing_export(paths, source_names=source_names, billing_account_id=account)


def azure_to_focus(export: pl.LazyFrame, *, source_name: str) -> pl.LazyFrame:
    return azure.cost_export_to_focus(export, source_name=source_name, lookups=azure.lookups_from_environment())


SOURCES: tuple[BillingSource, ...] = (
    BillingSource(
        name="aws",
        description="AWS Cost and Usage Report (legacy CUR CSV/parquet, CUR 2.0), newest assembly per billing "
        "period (manifest-driven), mapped to FOCUS 1.2.",
        find_files=cur_assemblies,
        scan=scan_cur,
        to_focus=cur_to_focus,
        source_totals=cur_source_totals,
        default_prefix="cur/finops-demo",
    ),
    BillingSource(
        name="azure",
        description="Azure Cost Management exports (EA, MCA, pay-as-you-go; actual + amortized combined by "
        "Microsoft's FOCUS rule), mapped to FOCUS 1.2 with Microsoft's open-data lookups "
        "(FINOPS_AZURE_OPEN_DATA_DIR) or built-in tables. With FINOPS_AZURE_COST_SCOPE set, the scope's daily "
        "amortized cost from the Cost Management Query API instead (small scopes only).",
        find_files=azure_export_groups,
        scan=scan_azure_export_group,
        to_focus=azure_to_focus,
        source_totals=azure.cost_export_source_totals,
        api=ApiSource("azure_cost_query", "FINOPS_AZURE_COST_SCOPE", azure_cost_query_resource),
    ),
    BillingSource(
        name="gcp",
        description="Google Cloud billing export (BigQuery export shape on disk: CSV, NDJSON, parquet; and the "
        "legacy daily file export, JSON or CSV, with FINOPS_GCP_BILLING_ACCOUNT_ID for files without an "
        "accountId); Σ BilledCost "
        "= the invoice (cost + credits): discount and CUD credits netted into their row, promotions as Credit rows, "
        "CUD fees amortised; credits itemised in x_Credits, labels and tags collapsed into Tags. With "
        "FINOPS_GCP_BIGQUERY_TABLE set, the export table in BigQuery instead (partition-pruned, restated "
        "invoice months re-read).",
        find_files=every_export_file,
        scan=scan_gcp_export,
        to_focus=billing_export_to_focus,
        source_totals=billing_export_source_totals,
        api=ApiSource("gcp_bigquery", "FINOPS_GCP_BIGQUERY_TABLE", gcp_bigquery_resource),
    ),
    BillingSource(
        name="focus_export",
        description="FOCUS-native exports (AWS FOCUS 1.2, Azure FocusCost, GCP, OCI; FOCUS 1.0–1.2) upgraded to "
        "FOCUS 1.2. Configure a provider either here or through its native source, not both.",
        find_files=every_export_file,
        scan=focus_export.scan_focus_export,
        to_focus=focus_export.focus_export_to_focus,
        source_totals=focus_export.focus_export_source_totals,
    ),
)


def read_source(source: BillingSource, store: BillingFileStore, days: list[date], log) -> tuple[pl.DataFrame, ...]:
    """The source's FOCUS rows and independent totals for `days`, reading each file group once."""
    mapped_parts, totals_parts = [], []
    for group in source.find_files(store, source.prefix(), days):
        paths: Sequence[Path] = [store.local_path(key) for key in group.keys]
        names = [store.describe(key) for key in group.keys]
        native = source.scan(paths, source_names=names)
        mapped, totals = _map_and_total(source, native, days, names)
        mapped_parts.append(mapped)
        totals_parts.append(totals)
        log.info(f"{source.name}: read {group.label}")
    return _staged(source, mapped_parts, totals_parts)


def read_api(source: BillingSource, api: BillingApi, days: list[date], log) -> tuple[pl.DataFrame, ...]:
    """The same as `read_source`, from the rows the source's API resource reads for `days`.

    The API may return rows of other days (GCP: restated invoice months); only the run's days are staged,
    because staging replaces whole days and those other days were not read completely."""
    native = api.read(days, log).lazy()
    mapped, totals = _map_and_total(source, native, days, [api.describe()])
    outside = source.to_focus(native, source_name=source.name).filter(~pl.col("x_ChargeDay").is_in(days))
    if count := outside.select(pl.len()).collect().item():
        log.info(
            f"{source.name}: {count} rows of {api.describe()} are outside {min(days)} … {max(days)} "
            "(restated invoice months): materialise their days to stage them"
        )
    return _staged(source, [mapped], [totals])


def _map_and_total(
    source: BillingSource, native: pl.LazyFrame, days: list[date], names: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The FOCUS rows of `native` for `days` and their independent totals (`names`: what was read)."""
    in_run = pl.col("x_ChargeDay").is_in(days)
    # Smaller streaming chunks keep a month of CUR under ~1.2 GB peak (benchmarks/README.md).
    with pl.Config(streaming_chunk_size=STREAMING_CHUNK_ROWS):
        try:
            mapped = source.to_focus(native, source_name=source.name).filter(in_run).collect()
            totals = source.source_totals(native).filter(in_run).collect()
        except pl.exceptions.PolarsError as error:
            # Large files are scanned lazily, so a malformed row surfaces here: name the files read.
            raise SourceFileError(", ".join(names), f"could not be read: {error}") from error
    return mapped, totals


def _staged(source: BillingSource, mapped_parts: list, totals_parts: list) -> tuple[pl.DataFrame, ...]:
    mapped = pl.concat([pl.DataFrame(schema=STAGING_SCHEMA), *mapped_parts], how="diagonal_relaxed")
    totals = pl.concat([pl.DataFrame(schema=SOURCE_TOTALS_SCHEMA), *totals_parts], how="diagonal_relaxed")
    totals = totals.with_columns(pl.lit(source.name).alias("x_SourceName"))
    return mapped.select(list(STAGING_SCHEMA)), totals.select(list(SOURCE_TOTALS_SCHEMA))


def build_source_asset(source: BillingSource, *, use_api: bool | None = None) -> dg.AssetsDefinition:
    """The asset of `source`. It requires the source's API resource when `use_api` (default: when the API's
    setting is in the environment), and then reads through it if the resource is configured; otherwise it
    reads files and needs only the store, so an asset built without API settings runs as before."""
    api_key = source.api.resource_key if source.api and (source.api.is_set() if use_api is None else use_api) else None

    @dg.asset(
        name=source.asset_name,
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        group_name="sources",
        kinds={"polars"},
        required_resource_keys={source.store_key, "warehouse", *([api_key] if api_key else [])},
        description=f"{source.description} Tables: {source.staging_table} (FOCUS rows; rows that cannot be "
        f"mapped carry x_QuarantineReason), {SOURCE_TOTALS_TABLE}.",
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        days = days_in_run(context)
        api: BillingApi | None = getattr(context.resources, api_key) if api_key else None
        if api is not None and api.configured:
            read_from = api.describe()
            mapped, totals = read_api(source, api, days, context.log)
        else:
            store = getattr(context.resources, source.store_key)
            read_from = "files"
            mapped, totals = read_source(source, store, days, context.log)
        mapped = mapped.with_columns(
            pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("x_IngestedAt"),
            pl.lit(context.run_id).alias("x_RunId"),
        )
        partition = {"x_SourceName": [source.name], "x_ChargeDay": days}
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.open() as wh:
            wh.replace_rows(source.staging_table, mapped, match=partition)
            wh.replace_rows(SOURCE_TOTALS_TABLE, totals, match=partition)
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(mapped.height),
                "rows_flagged_for_quarantine": dg.MetadataValue.int(mapped.filter(pl.col(REASON).is_not_null()).height),
                "read_from": dg.MetadataValue.text(read_from),
                "files": dg.MetadataValue.int(totals["x_SourceFile"].n_unique()),
                "source_cost": dg.MetadataValue.text(money_text(totals["x_SourceCost"].sum())),
                "BilledCost": dg.MetadataValue.text(money_text(mapped["BilledCost"].sum())),
                "EffectiveCost": dg.MetadataValue.text(money_text(mapped["EffectiveCost"].sum())),
            }
        )

    _asset.__doc__ = source.description
    return _asset


def source_resources() -> dict[str, dg.ConfigurableResource]:
    """Every source's file store, and the API resource of the sources that have one (listed in the UI even
    when unconfigured; the asset uses it only when its setting is present)."""
    stores = {source.store_key: source.store() for source in SOURCES}
    apis = {source.api.resource_key: source.api.resource() for source in SOURCES if source.api}
    return {**stores, **apis}


source_assets = [build_source_asset(source) for source in SOURCES]
