"""Kubernetes usage from files: OpenCost's CSV export, flattened allocation parquet, OpenShift (Koku) pod and
storage reports.

`scan_opencost_csv` reads any mix of these into one lazy frame with exactly `K8S_USAGE_SCHEMA`. The layout of
each file is recognised from its header:

* **OpenCost CSV export** (`EXPORT_CSV_FILE`; `pkg/costmodel/csv_export.go`): one row per container per UTC day,
  `Date,Namespace,ControllerKind,ControllerName,Pod,Container,CPUCoreUsageAverage,…,TotalCost[,Labels]
  [,Label_<name>…]`. It has no cluster, node, provider id or running minutes: `cluster` comes from the
  caller, the others stay null (`minutes` too — the averages are over an unknown running time, so
  core-hours cannot be recomputed from this export). `GPUs` is OpenCost's `gpuCount` (GPU-hours / hours).
  Its cost columns include OpenCost's adjustments; the adjustment columns stay null. The export never
  contains idle or shared rows.
* **Flattened allocation JSON** (opencost-parquet-exporter and similar `json_normalize` outputs, CSV or
  parquet): `name`, `window.start`, `properties.namespace`, `cpuCoreRequestAverage`, … with the exporter's
  renames (`running_start_time`, `running_minutes`, `label.<k>`) understood.
* **OpenShift cost-management pod usage** (Koku `*_pod_usage*.csv`): hourly rows per pod with core-seconds and
  byte-seconds. Aggregated here to one row per pod per UTC day (no container level in that report):
  `minutes` = Σ interval minutes, `*_average` = Σ seconds-quantity / (minutes × 60) (average over the time the
  pod was reported, like OpenCost's averages over running time), `cpu_core_hours` / `ram_byte_hours` =
  Σ max(usage, request) seconds-quantity / 3600 (OpenCost's allocation rule at hourly resolution),
  `*_usage_max` null (an hourly average is not a peak). `provider_id` = the report's `resource_id`,
  `x_SourceRowNumber` = the first hourly row of the pod-day.
* **OpenShift cost-management storage usage** (Koku `*_storage_usage*.csv`): hourly rows per pod and
  persistent volume claim with byte-seconds of capacity, request and use. Aggregated to one row per pod per
  UTC day carrying only volumes, as OpenCost prices them (by the volume's size, storage is never idle):
  `pv_byte_hours` = Σ `persistentvolumeclaim_capacity_byte_seconds` / 3600, `pv_bytes` = Σ over its volumes
  of their average capacity, `pv_claims` = `{"cluster=<c>:name=<persistentvolume>": {"byteHours": …}}` (what
  allocation matches to the bill), `minutes` = the pod's reported hours; CPU, RAM and GPU quantities null.
  A claim no pod mounts (`pod` blank) is the `__unmounted__` pod, as OpenCost reports it. `labels` = the
  volume's labels overlaid with the claim's (Koku tags storage cost so).
  Koku writes hourly intervals as `hh:00:00`–`hh:59:59`; an end at second 59 is taken as inclusive (the hour
  has 3,600 s), in both reports.

CSV files are read as text and converted in one pass that also checks every number and date: a value that is
there but does not parse, or a missing required column, raises `SourceFileError` naming file, row and column
(and the value). A CSV up to `EAGER_CSV_MAX_BYTES` is converted when scanned, so the error comes from
`scan_opencost_csv`; a larger one streams and the error comes when the frame is collected or sunk. Values are
not trimmed (no exporter pads them; trimming every value was a large part of the cost): a padded number is
reported as not parsing, a number field of only spaces counts as blank, text keeps its spaces. Parquet files
are scanned lazily (typed by their writer; only their footer is read here).
"""

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import polars as pl

from finops_pipeline.focus.parsing import MONEY_IN_RANGE, parse_each_distinct, to_money, to_utc_timestamp
from finops_pipeline.focus.schema import MONEY, TIMESTAMP
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.files import csv_frame, csv_source, leading_bytes, paths_and_names
from finops_pipeline.sources.kubernetes.schema import (
    K8S_USAGE_SCHEMA,
    OPENCOST_COST_FIELDS,
    node_resource_id,
)

ROW = "x_SourceRowNumber"
CSV_EXPORT, FLATTENED, KOKU_POD = "opencost-csv-export", "flattened-allocation", "koku-pod-usage"
KOKU_STORAGE = "koku-storage-usage"

# Columns a file of each layout cannot do without (names as they appear in the file).
REQUIRED: dict[str, tuple[str, ...]] = {
    CSV_EXPORT: (
        "Date", "Namespace", "Pod", "Container",
        "CPUCoreUsageAverage", "CPUCoreRequestAverage", "RAMBytesUsageAverage", "RAMBytesRequestAverage",
    ),
    FLATTENED: (
        "name", "window.start", "window.end",
        "cpuCoreRequestAverage", "cpuCoreUsageAverage", "ramByteRequestAverage", "ramByteUsageAverage",
    ),
    KOKU_POD: (
        "interval_start", "interval_end", "namespace", "pod",
        "pod_usage_cpu_core_seconds", "pod_request_cpu_core_seconds",
        "pod_usage_memory_byte_seconds", "pod_request_memory_byte_seconds",
    ),
    KOKU_STORAGE: (
        "interval_start", "interval_end", "namespace", "pod", "persistentvolume",
        "persistentvolumeclaim_capacity_byte_seconds",
    ),
}  # fmt: skip

# k8s_usage column → candidate source columns (OpenCost CSV export header, flattened JSON name); first wins.
_TEXT_SOURCES: dict[str, tuple[str, ...]] = {
    "cluster": ("Cluster", "properties.cluster"),
    "node": ("Node", "properties.node"),
    "provider_id": ("ProviderID", "properties.providerID"),
    "namespace": ("Namespace", "properties.namespace"),
    "controller_kind": ("ControllerKind", "properties.controllerKind"),
    "controller": ("ControllerName", "properties.controller"),
    "pod": ("Pod", "properties.pod"),
    "container": ("Container", "properties.container"),
    "allocation_name": ("name",),
}
_TIMESTAMP_SOURCES: dict[str, tuple[str, ...]] = {
    "window_start": ("window.start",),
    "window_end": ("window.end",),
    "running_start": ("running_start_time", "start"),
    "running_end": ("running_end_time", "end"),
}
_QUANTITY_SOURCES: dict[str, tuple[str, ...]] = {
    "minutes": ("running_minutes", "minutes"),
    "cpu_core_request_average": ("CPUCoreRequestAverage", "cpuCoreRequestAverage"),
    "cpu_core_usage_average": ("CPUCoreUsageAverage", "cpuCoreUsageAverage"),
    "cpu_core_usage_max": ("rawAllocationOnly.cpuCoreUsageMax",),
    "cpu_core_hours": ("cpuCoreHours",),
    "ram_byte_request_average": ("RAMBytesRequestAverage", "ramByteRequestAverage"),
    "ram_byte_usage_average": ("RAMBytesUsageAverage", "ramByteUsageAverage"),
    "ram_byte_usage_max": ("rawAllocationOnly.ramByteUsageMax",),
    "ram_byte_hours": ("ramByteHours",),
    "gpu_request_average": ("gpuRequestAverage",),
    "gpu_usage_average": ("gpuUsageAverage",),
    "gpu_count": ("GPUs", "gpuCount"),
    "gpu_hours": ("gpuHours",),
    "pv_bytes": ("PVBytes", "pvBytes"),
    "pv_byte_hours": ("pvByteHours",),
    "network_transfer_bytes": ("NetworkTransferBytes", "networkTransferBytes"),
    "network_receive_bytes": ("NetworkReceiveBytes", "networkReceiveBytes"),
}
_CSV_EXPORT_COST_HEADERS = {
    "x_opencost_cpu_cost": "CPUCost",
    "x_opencost_ram_cost": "RAMCost",
    "x_opencost_network_cost": "NetworkCost",
    "x_opencost_pv_cost": "PVCost",
    "x_opencost_gpu_cost": "GPUCost",
    "x_opencost_total_cost": "TotalCost",
}
_MONEY_SOURCES: dict[str, tuple[str, ...]] = {
    column: tuple(c for c in (_CSV_EXPORT_COST_HEADERS.get(column), field) if c)
    for column, field in OPENCOST_COST_FIELDS.items()
}
# Label-like maps spread over one column per key: prefixes, in order of preference.
_MAP_PREFIXES: dict[str, tuple[str, ...]] = {
    "labels": ("Label_", "properties.labels.", "label."),
    "namespace_labels": ("properties.namespaceLabels.", "namespaceLabels."),
    "annotations": ("properties.annotations.", "annotation."),
}
_JSON_PAIR = r'\{"key":("(?:[^"\\]|\\.)*"),"value":("(?:[^"\\]|\\.)*")\}'
_MARKERS = ("__idle__", "__unallocated__", "__unmounted__")


def scan_opencost_csv(
    files: Sequence[str | Path],
    *,
    cluster: str | None = None,
    source: str = "opencost",
    source_files: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Kubernetes usage files (CSV or parquet, any of the three layouts) → one lazy frame, `K8S_USAGE_SCHEMA`.

    `cluster` fills `cluster` where the file has none (the CSV export and Koku reports never do; a flattened
    allocation's own `properties.cluster` is kept). `source` → `x_SourceName`; `source_files[i]` (default: the
    absolute path) → `x_SourceFile` and the name in error messages.
    """
    paths, names = paths_and_names(files, source_files)
    frames = [_scan_file(path, name, cluster=cluster, source=source) for path, name in zip(paths, names, strict=True)]
    if not frames:
        return pl.LazyFrame(schema=K8S_USAGE_SCHEMA)
    return pl.concat(frames, how="vertical")


def detect_layout(columns: Sequence[str]) -> str:
    """Which of the three layouts a header belongs to (the CSV export when nothing else fits)."""
    present = set(columns)
    if "persistentvolumeclaim_capacity_byte_seconds" in present or "persistentvolume" in present:
        return KOKU_STORAGE
    if "pod_usage_cpu_core_seconds" in present or "interval_start" in present:
        return KOKU_POD
    if (
        "window.start" in present
        or "cpuCoreRequestAverage" in present
        or any(c.startswith("properties.") for c in present)
    ):
        return FLATTENED
    return CSV_EXPORT


# ----------------------------------------------------------------------------------------------------------


def _scan_file(path: Path, name: str, *, cluster: str | None, source: str) -> pl.LazyFrame:
    magic = leading_bytes(path, name)
    eager = False
    if magic == b"PAR1":
        frame = pl.scan_parquet(path, row_index_name=ROW, row_index_offset=1)
        try:
            schema = frame.collect_schema()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise SourceFileError(name, f"not a readable parquet file: {error}") from error
        checked = False
    else:
        frame, schema, eager = _scan_csv_text(path, name)
        checked = True
    layout = detect_layout([c for c in schema if c != ROW])
    missing = [c for c in REQUIRED[layout] if c not in schema]
    if missing:
        raise SourceFileError(
            name, f"required column {missing[0]!r} of the {layout} layout is missing", column=missing[0]
        )
    if layout == KOKU_POD:
        typed = _koku_pod_rows(frame, schema, name, check=checked)
    elif layout == KOKU_STORAGE:
        typed = _koku_storage_rows(frame, schema, name, check=checked, cluster=cluster)
    else:
        typed = _allocation_rows(frame, schema, layout, name, check=checked)
    finished = _finish(typed, cluster=cluster, source=source, name=name)
    # A small CSV (already in memory) is converted now, so a bad value fails here, naming its first bad row.
    return finished.collect(engine="in-memory").lazy() if eager else finished


def _scan_csv_text(path: Path, name: str) -> tuple[pl.LazyFrame, pl.Schema, bool]:
    """The CSV as text columns (numbers stay exact and unparsed values can be reported verbatim) after a 1-based
    row index, and whether it was read eagerly (up to `EAGER_CSV_MAX_BYTES`; larger files are scanned lazily)."""
    try:
        frame = csv_frame(csv_source(path), columns=None, row_index_name=ROW)
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError, EOFError) as error:
        raise SourceFileError(name, f"cannot read CSV: {error}") from error
    eager = isinstance(frame, pl.DataFrame)
    if eager:
        # One chunk: the in-memory engine then runs the check on whole columns (it calls it once per chunk,
        # in parallel), so a bad value fails naming the first bad row of the file.
        frame = frame.rechunk()
    clean = {c: c.lstrip("\ufeff").strip() for c in schema}
    lazy = frame.lazy().rename({c: new for c, new in clean.items() if new != c})
    return lazy, pl.Schema({clean[c]: dtype for c, dtype in schema.items()}), eager


def _allocation_rows(frame: pl.LazyFrame, schema: pl.Schema, layout: str, name: str, *, check: bool) -> pl.LazyFrame:
    """OpenCost CSV export / flattened allocation → typed k8s_usage columns (lineage added later)."""
    exprs: dict[str, pl.Expr] = {}
    parsed_from: dict[str, str] = {}  # output column → source column, for values that must parse
    for column, candidates in _TEXT_SOURCES.items():
        found = _first_present(candidates, schema)
        exprs[column] = _blank_to_null(pl.col(found).cast(pl.String)) if found else pl.lit(None, pl.String)
    for column, candidates in _TIMESTAMP_SOURCES.items():
        found = _first_present(candidates, schema)
        exprs[column] = _timestamp(found, schema) if found else pl.lit(None, TIMESTAMP)
        if found:
            parsed_from[column] = found
    for column, candidates in _QUANTITY_SOURCES.items():
        found = _first_present(candidates, schema)
        exprs[column] = _float(found, schema) if found else pl.lit(None, pl.Float64)
        if found:
            parsed_from[column] = found
    for column, candidates in _MONEY_SOURCES.items():
        found = _first_present(candidates, schema)
        exprs[column] = _money(found, schema) if found else pl.lit(None, K8S_USAGE_SCHEMA[column])
        if found:
            parsed_from[column] = found
    if layout == CSV_EXPORT:
        exprs["window_start"] = _timestamp("Date", schema)
        parsed_from["window_start"] = "Date"
    exprs["labels"] = _labels(schema)
    exprs["namespace_labels"] = _spread_map(schema, _MAP_PREFIXES["namespace_labels"])
    exprs["annotations"] = _spread_map(schema, _MAP_PREFIXES["annotations"])
    services = _first_present(("properties.services", "services"), schema)
    exprs["services"] = _json_list(services, schema) if services else pl.lit("[]")
    exprs["pv_claims"] = pl.lit(None, pl.String)
    typed = _converted(frame, exprs, parsed_from, name, check=check)
    if layout == CSV_EXPORT:
        # The export's day is a UTC day (no DST): its end is 24 h later. Derived from the parsed column, so the
        # date is parsed once.
        typed = typed.with_columns((pl.col("window_start") + timedelta(days=1)).alias("window_end"))
    return typed.with_columns(
        pl.col("window_start").dt.date().alias("x_ChargeDay"),
        *_flags(),
    )


def _koku_pod_rows(frame: pl.LazyFrame, schema: pl.Schema, name: str, *, check: bool) -> pl.LazyFrame:
    quantities = {
        "cpu_usage": "pod_usage_cpu_core_seconds",
        "cpu_request": "pod_request_cpu_core_seconds",
        "ram_usage": "pod_usage_memory_byte_seconds",
        "ram_request": "pod_request_memory_byte_seconds",
    }
    timestamps = {"interval_start": "interval_start", "interval_end": "interval_end"}

    def text(column: str) -> pl.Expr:
        return _blank_to_null(pl.col(column).cast(pl.String)) if column in schema else pl.lit(None, pl.String)

    exprs = {
        "namespace": text("namespace"),
        "pod": text("pod"),
        "node": text("node"),
        "provider_id": text("resource_id"),
        "pod_labels": text("pod_labels"),
        **{column: _timestamp(source, schema) for column, source in timestamps.items()},
        **{column: _float(source, schema) for column, source in quantities.items()},
    }
    typed = _converted(frame, exprs, {**timestamps, **quantities}, name, check=check)
    hourly = typed.with_columns(_interval_end()).with_columns(
        pl.col("interval_start").dt.date().alias("x_ChargeDay"),
        _interval_seconds().alias("seconds"),
        pl.max_horizontal("cpu_usage", "cpu_request").alias("cpu_allocated"),
        pl.max_horizontal("ram_usage", "ram_request").alias("ram_allocated"),
    )
    daily = hourly.group_by("x_ChargeDay", "namespace", "pod", "node", "provider_id").agg(
        pl.col(ROW).min(),
        pl.col("pod_labels").sort_by("interval_start").last(),
        pl.col("interval_start").min().alias("running_start"),
        pl.col("interval_end").max().alias("running_end"),
        (pl.col("seconds").sum() / 60).alias("minutes"),
        (pl.col("cpu_request").sum() / pl.col("seconds").sum()).alias("cpu_core_request_average"),
        (pl.col("cpu_usage").sum() / pl.col("seconds").sum()).alias("cpu_core_usage_average"),
        (pl.col("cpu_allocated").sum() / 3600).alias("cpu_core_hours"),
        (pl.col("ram_request").sum() / pl.col("seconds").sum()).alias("ram_byte_request_average"),
        (pl.col("ram_usage").sum() / pl.col("seconds").sum()).alias("ram_byte_usage_average"),
        (pl.col("ram_allocated").sum() / 3600).alias("ram_byte_hours"),
    )
    return _koku_pod_days(daily, pl.col("pod_labels"))


def _koku_pod_days(daily: pl.LazyFrame, label_text: pl.Expr) -> pl.LazyFrame:
    """Koku pod-day rows → the window of their UTC day, labels (OpenShift `k1:v1|k2:v2` text), what Koku has
    no notion of, and the flags."""
    window_start = pl.col("x_ChargeDay").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    # A pod's label text repeats on each of its days: converted once per distinct text (null → "{}").
    labels = parse_each_distinct(label_text, _koku_labels, pl.String).fill_null(pl.lit("{}"))
    return (
        daily.with_columns(
            window_start.alias("window_start"),
            window_start.dt.offset_by("1d").alias("window_end"),
            labels.alias("labels"),
            pl.lit("{}").alias("namespace_labels"),
            pl.lit("{}").alias("annotations"),
            pl.lit("[]").alias("services"),
            pl.lit(None, pl.String).alias("allocation_name"),
            pl.lit(None, pl.String).alias("container"),
        )
        .with_columns(_flags())
        .sort(ROW)
    )


def _koku_storage_rows(
    frame: pl.LazyFrame, schema: pl.Schema, name: str, *, check: bool, cluster: str | None
) -> pl.LazyFrame:
    timestamps = {"interval_start": "interval_start", "interval_end": "interval_end"}
    quantities = {"capacity": "persistentvolumeclaim_capacity_byte_seconds"}

    def text(column: str) -> pl.Expr:
        return _blank_to_null(pl.col(column).cast(pl.String)) if column in schema else pl.lit(None, pl.String)

    exprs = {
        "namespace": text("namespace"),
        "pod": text("pod").fill_null(pl.lit("__unmounted__")),
        "volume": text("persistentvolume"),
        "volume_labels": text("persistentvolume_labels"),
        "claim_labels": text("persistentvolumeclaim_labels"),
        **{column: _timestamp(source, schema) for column, source in timestamps.items()},
        **{column: _float(source, schema) for column, source in quantities.items()},
    }
    typed = _converted(frame, exprs, {**timestamps, **quantities}, name, check=check)
    hourly = typed.with_columns(_interval_end()).with_columns(
        pl.col("interval_start").dt.date().alias("x_ChargeDay"), _interval_seconds().alias("seconds")
    )
    pod_day = ["x_ChargeDay", "namespace", "pod"]
    per_volume = hourly.group_by(*pod_day, "volume").agg(
        pl.col(ROW).min(),
        pl.col("volume_labels", "claim_labels").sort_by("interval_start").last(),
        (pl.col("capacity").sum() / 3600).alias("byte_hours"),
        (pl.col("capacity").sum() / pl.col("seconds").sum()).alias("bytes"),
    )
    claim = pl.concat_str(
        pl.lit(f'"cluster={cluster or ""}:name='), pl.col("volume"), pl.lit('":{"byteHours":'),
        pl.col("byte_hours").cast(pl.String), pl.lit("}"),
    )  # fmt: skip
    hours = hourly.group_by(*pod_day, "interval_start").agg(pl.col("interval_end").max(), pl.col("seconds").max())
    volumes = (
        per_volume.sort("volume")
        .group_by(pod_day)
        .agg(
            pl.col(ROW).min(),
            pl.col("volume_labels", "claim_labels").first(),
            pl.col("bytes").sum().alias("pv_bytes"),
            pl.col("byte_hours").sum().alias("pv_byte_hours"),
            pl.concat_str(pl.lit("{"), claim.str.join(","), pl.lit("}")).alias("pv_claims"),
        )
    )
    running = hours.group_by(pod_day).agg(
        pl.col("interval_start").min().alias("running_start"),
        pl.col("interval_end").max().alias("running_end"),
        (pl.col("seconds").sum() / 60).alias("minutes"),
    )
    # The claim's labels win over the volume's (a key in both: the claim's value).
    labels = pl.concat_str(pl.col("volume_labels").fill_null(""), pl.col("claim_labels").fill_null(""), separator="|")
    joined = volumes.join(running, on=pod_day, how="left", nulls_equal=True)
    return _koku_pod_days(joined, labels).drop("volume_labels", "claim_labels")


def _interval_end() -> pl.Expr:
    """Koku's hourly intervals end at hh:59:59 (inclusive) in its storage report: the interval ends a second
    later. An end on a whole minute (the pod report's) is exclusive already."""
    end = pl.col("interval_end")
    return pl.when(end.dt.second() == 59).then(end + timedelta(seconds=1)).otherwise(end).alias("interval_end")


def _interval_seconds() -> pl.Expr:
    return (pl.col("interval_end") - pl.col("interval_start")).dt.total_microseconds() / 1e6


def _converted(
    frame: pl.LazyFrame, exprs: dict[str, pl.Expr], parsed_from: dict[str, str], name: str, *, check: bool
) -> pl.LazyFrame:
    """`frame` → ROW and the `exprs` columns. With `check` (CSV text), the same pass fails on a value that is
    there but whose column in `parsed_from` (output column → source column) came out null.

    The check is a filter that keeps every row (so it runs whatever columns are selected later) and sees each
    batch's source and converted columns: it compares their null counts (known without a pass over the rows)
    and only looks at the rows of a batch where they differ. Streaming, it names the first bad row of the
    first batch that fails, not necessarily the first of the file.
    """
    typed = [pl.col(ROW), *(expr.alias(column) for column, expr in exprs.items())]
    if not check:
        return frame.select(typed)
    raw = {source: f"raw {source}" for source in dict.fromkeys(parsed_from.values())}
    raw_of = {column: raw[source] for column, source in parsed_from.items()}  # output → its raw text column
    checked = pl.struct(ROW, *raw.values(), *parsed_from).map_batches(
        _FailOnUnparsed(name, raw_of, {alias: source for source, alias in raw.items()}),
        return_dtype=pl.Boolean,
        is_elementwise=True,
    )
    return (
        frame.select(*typed, *(pl.col(source).alias(alias) for source, alias in raw.items()))
        .filter(checked)
        .drop(raw.values())
    )


class _FailOnUnparsed:
    """The batch function of `_converted`'s check: all True, or a `SourceFileError` for the first row with a
    value that is there, not blank (only spaces counts as blank, as an empty field does), and did not parse."""

    def __init__(self, name: str, raw_of: dict[str, str], source_of: dict[str, str]) -> None:
        self._name, self._raw_of, self._source_of = name, raw_of, source_of

    def __call__(self, batch: pl.Series) -> pl.Series:
        rows = batch.struct.unnest()
        nulls = rows.null_count().row(0, named=True)
        if any(nulls[column] != nulls[raw] for column, raw in self._raw_of.items()):
            self._raise_first(rows)
        return pl.repeat(True, batch.len(), dtype=pl.Boolean, eager=True).alias(batch.name)

    def _raise_first(self, rows: pl.DataFrame) -> None:
        # Per row, the first source column (in parsed_from order) whose value is there but came out null.
        failing = pl.coalesce(
            pl.when(pl.col(column).is_null() & (pl.col(raw).str.strip_chars().fill_null("") != "")).then(pl.lit(raw))
            for column, raw in self._raw_of.items()
        )
        bad = rows.with_columns(failing.alias("raw column")).filter(pl.col("raw column").is_not_null())
        if bad.height:
            first = bad.row(0, named=True)
            raw = first["raw column"]
            raise _parse_error(self._name, int(first[ROW]), self._source_of[raw], first[raw])


class _RecreatedError(SourceFileError):
    """polars re-raises an exception from inside a plan as `type(error)(message + where in the plan)`, losing
    its attributes: the subclass made for each error (`_parse_error`) carries file, row and column."""

    where: tuple[str, int, str]

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.file, self.row, self.column = self.where


def _parse_error(name: str, row: int, column: str, value: object) -> SourceFileError:
    message = str(SourceFileError(name, f"cannot parse {value!r}", row=row, column=column))
    error_type = type("SourceFileError", (_RecreatedError,), {"where": (name, row, column)})
    return error_type(message)


def _finish(typed: pl.LazyFrame, *, cluster: str | None, source: str, name: str) -> pl.LazyFrame:
    """Fill what the file does not carry and give the frame exactly K8S_USAGE_SCHEMA."""
    present = typed.collect_schema()
    fill = [pl.lit(None, dtype).alias(column) for column, dtype in K8S_USAGE_SCHEMA.items() if column not in present]
    frame = typed.with_columns(fill)
    return frame.with_columns(
        (pl.col("cluster").fill_null(pl.lit(cluster, pl.String)) if cluster is not None else pl.col("cluster")),
        node_resource_id(pl.col("provider_id")).alias("node_resource_id"),
        pl.lit(source, pl.String).alias("x_SourceName"),
        pl.lit(name, pl.String).alias("x_SourceFile"),
    ).select([pl.col(column).cast(dtype) for column, dtype in K8S_USAGE_SCHEMA.items()])


# ----------------------------------------------------------------------------------------------------------


def _first_present(candidates: Sequence[str], schema: pl.Schema) -> str | None:
    return next((c for c in candidates if c in schema), None)


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    # Not trimmed: no exporter pads values (checked on the OpenCost and Koku samples), and strip_chars on every
    # text column cost as much as the rest of the text handling.
    return pl.when(text != "").then(text)


def _timestamp(column: str, schema: pl.Schema) -> pl.Expr:
    dtype = schema[column]
    if dtype == pl.String:
        # Days and hours repeat over thousands of rows: each distinct text is parsed once.
        return parse_each_distinct(pl.col(column), to_utc_timestamp, TIMESTAMP)
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(column)
        utc = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")
        return utc.cast(TIMESTAMP)
    return pl.col(column).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")  # Date


def _float(column: str, schema: pl.Schema) -> pl.Expr:
    if schema[column] == pl.String:
        # Cast as is (not trimmed): a padded number fails the check rather than cost a strip on every value.
        return pl.col(column).cast(pl.Float64, strict=False)
    return pl.col(column).cast(pl.Float64)


def _money(column: str, schema: pl.Schema) -> pl.Expr:
    if schema[column] == pl.String:
        # `to_money` without its trim, as for `_float`
        return pl.col(column).cast(MONEY_IN_RANGE, strict=False).cast(MONEY)
    # Floats go through their shortest decimal text, so Decimal gets 0.1 and not 0.1000000000000000055….
    return to_money(pl.col(column).cast(pl.String))


def _flags() -> list[pl.Expr]:
    """is_idle / is_unallocated / is_unmounted: the marker is a segment of the name or an identity value."""
    segments = pl.col("allocation_name").str.split("/")
    return [
        pl.any_horizontal(
            segments.list.contains(marker).fill_null(False),
            *(pl.col(c).fill_null("") == marker for c in ("namespace", "pod", "container")),
        ).alias("is_" + marker.strip("_"))
        for marker in _MARKERS
    ]


def _labels(schema: pl.Schema) -> pl.Expr:
    """The CSV export's `Labels` JSON column when present, else one `Label_<key>` / `label.<key>` column per key."""
    if "Labels" in schema:
        text = pl.col("Labels").cast(pl.String)
        return pl.when(text != "").then(text).otherwise(pl.lit("{}"))
    return _spread_map(schema, _MAP_PREFIXES["labels"])


def _spread_map(schema: pl.Schema, prefixes: Sequence[str]) -> pl.Expr:
    keys: dict[str, str] = {}  # key → column; the first prefix that provides a key wins
    for prefix in prefixes:
        for column in schema:
            if column.startswith(prefix) and len(column) > len(prefix):
                keys.setdefault(column[len(prefix) :], column)
    if not keys:
        return pl.lit("{}")
    # A `"key":"value"` piece per column, in key order, blanks left out by concat_str: no list per row (building
    # and sorting a list of pairs per row cost ~15 CPU-s per 1M rows with two label columns; this ~0.35).
    pieces = []
    for key, column in sorted(keys.items()):
        value = pl.col(column).cast(pl.String)
        key_json = pl.select(_json_string(pl.lit(key, pl.String))).item()
        pieces.append(pl.when(value != "").then(pl.concat_str(pl.lit(key_json + ":"), _json_string(value))))
    return pl.concat_str(pl.lit("{"), pl.concat_str(pieces, separator=",", ignore_nulls=True), pl.lit("}"))


def _json_string(text: pl.Expr) -> pl.Expr:
    """Text → a JSON string literal (quoted and escaped by polars' JSON encoder)."""
    return pl.struct(text.alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")


def _koku_labels(text: pl.Expr) -> pl.Expr:
    """OpenShift `k1:v1|k2:v2` → `{"k1":"v1","k2":"v2"}`; a key given twice keeps its last value."""
    key = pl.element().struct.field("key")
    pairs = (
        text.str.split("|")
        .list.eval(pl.element().str.splitn(":", 2).struct.rename_fields(["key", "value"]))
        .list.eval(pl.element().filter((key.str.strip_chars() != "") & key.is_last_distinct()))
    )
    return _json_object(pairs)


def _json_object(pairs: pl.Expr) -> pl.Expr:
    """List(Struct{key, value}) → JSON object text, keys sorted, null values dropped, `{}` when empty or null.

    polars encodes each pair as `{"key":"k","value":"v"}` (with correct escaping); the regex turns that into
    `"k":"v"`. A JSON string literal cannot contain an unescaped quote, so the pattern cannot match inside one.
    """
    kept = pairs.list.eval(pl.element().filter(pl.element().struct.field("value").is_not_null())).list.sort()
    encoded = (
        pl.struct(kept.alias("l"))
        .struct.json_encode()
        .str.replace_all(_JSON_PAIR, "${1}:${2}")
        .str.replace(r'^\{"l":\[', "{")
        .str.replace(r"\]\}$", "}")
    )
    return pl.when(kept.is_null()).then(pl.lit("{}")).otherwise(encoded)


def _json_list(column: str, schema: pl.Schema) -> pl.Expr:
    if isinstance(schema[column], pl.List):
        encoded = pl.struct(pl.col(column).alias("l")).struct.json_encode()
        return encoded.str.replace(r'^\{"l":', "").str.replace(r"\}$", "").str.replace("^null$", "[]")
    text = pl.col(column).cast(pl.String)
    return pl.when(text != "").then(text).otherwise(pl.lit("[]"))
