"""Source assets: each reads the billing files its store holds for the run's days, maps them to FOCUS
rows (pure functions of its `sources/<provider>` package) and stages them for `focus_costs`.

Every file-based source has the same shape, so one factory builds them; a source only says how to find
its files, read them, map them and total them independently of the mapping (for reconciliation).
"""

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from finops_pipeline.connectors import BillingFileStore, LocalDirectoryStore, S3Store
from finops_pipeline.defs.metadata import money_text
from finops_pipeline.defs.partitions import daily_partitions, single_run
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.run_window import days_in_run
from finops_pipeline.focus import CORE_TABLE_SCHEMA, MONEY, REASON
from finops_pipeline.settings import finops_home
from finops_pipeline.sources import azure, focus_export
from finops_pipeline.sources.aws.cur import cur_source_totals, scan_cur
from finops_pipeline.sources.aws.focus_mapping import STREAMING_CHUNK_ROWS, cur_to_focus
from finops_pipeline.sources.aws.manifest import billing_periods_for_days, find_latest_assemblies
from finops_pipeline.sources.errors import SourceFileError
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


@dataclass(frozen=True)
class BillingSource:
    name: str  # x_SourceName of its rows, and the env prefix FINOPS_<NAME>_…
    description: str
    find_files: Callable[[BillingFileStore, str, list[date]], list[FileGroup]]
    scan: Callable[..., pl.LazyFrame]  # (paths, source_names=) → native rows with x_SourceFile/RowNumber
    to_focus: Callable[..., pl.LazyFrame]  # (native, source_name=) → STAGING_SCHEMA columns
    source_totals: Callable[[pl.LazyFrame], pl.LazyFrame]
    default_prefix: str = ""

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
        "(FINOPS_AZURE_OPEN_DATA_DIR) or built-in tables.",
        find_files=azure_export_groups,
        scan=scan_azure_export_group,
        to_focus=azure_to_focus,
        source_totals=azure.cost_export_source_totals,
    ),
    BillingSource(
        name="gcp",
        description="Google Cloud billing export (BigQuery export shape on disk: CSV, NDJSON, parquet), credits "
        "netted into EffectiveCost and itemised in x_Credits, labels and tags collapsed into Tags.",
        find_files=every_export_file,
        scan=scan_billing_export,
        to_focus=billing_export_to_focus,
        source_totals=billing_export_source_totals,
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
    in_run = pl.col("x_ChargeDay").is_in(days)
    for group in source.find_files(store, source.prefix(), days):
        paths: Sequence[Path] = [store.local_path(key) for key in group.keys]
        names = [store.describe(key) for key in group.keys]
        native = source.scan(paths, source_names=names)
        # Smaller streaming chunks keep a month of CUR under ~1.2 GB peak (benchmarks/README.md).
        with pl.Config(streaming_chunk_size=STREAMING_CHUNK_ROWS):
            try:
                mapped_parts.append(source.to_focus(native, source_name=source.name).filter(in_run).collect())
                totals_parts.append(source.source_totals(native).filter(in_run).collect())
            except pl.exceptions.PolarsError as error:
                # Large files are scanned lazily, so a malformed row surfaces here: name the files read.
                raise SourceFileError(", ".join(names), f"could not be read: {error}") from error
        log.info(f"{source.name}: read {group.label}")
    mapped = pl.concat([pl.DataFrame(schema=STAGING_SCHEMA), *mapped_parts], how="diagonal_relaxed")
    totals = pl.concat([pl.DataFrame(schema=SOURCE_TOTALS_SCHEMA), *totals_parts], how="diagonal_relaxed")
    totals = totals.with_columns(pl.lit(source.name).alias("x_SourceName"))
    return mapped.select(list(STAGING_SCHEMA)), totals.select(list(SOURCE_TOTALS_SCHEMA))


def build_source_asset(source: BillingSource) -> dg.AssetsDefinition:
    @dg.asset(
        name=source.asset_name,
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        group_name="sources",
        kinds={"polars"},
        required_resource_keys={source.store_key, "warehouse"},
        description=f"{source.description} Tables: {source.staging_table} (FOCUS rows; rows that cannot be "
        f"mapped carry x_QuarantineReason), {SOURCE_TOTALS_TABLE}.",
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        days = days_in_run(context)
        store = getattr(context.resources, source.store_key)
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
                "files": dg.MetadataValue.int(totals["x_SourceFile"].n_unique()),
                "source_cost": dg.MetadataValue.text(money_text(totals["x_SourceCost"].sum())),
                "BilledCost": dg.MetadataValue.text(money_text(mapped["BilledCost"].sum())),
                "EffectiveCost": dg.MetadataValue.text(money_text(mapped["EffectiveCost"].sum())),
            }
        )

    _asset.__doc__ = source.description
    return _asset


def source_resources() -> dict[str, dg.ConfigurableResource]:
    return {source.store_key: source.store() for source in SOURCES}


source_assets = [build_source_asset(source) for source in SOURCES]
