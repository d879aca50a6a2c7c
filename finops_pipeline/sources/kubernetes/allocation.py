"""OpenCost `/allocation` (and `/allocation/compute`, Kubecost `/model/allocation`) JSON → `core.k8s_usage` rows.

Response shape (reference §1.9): `{"code": 200, "data": [ {<key>: <allocation>, …}, … ]}`, one map per window
step. Every allocation of every step becomes one row; fields we do not know are ignored, missing fields are
null. `__idle__`, `__unallocated__` and `__unmounted__` entries are kept and flagged (`is_idle`,
`is_unallocated`, `is_unmounted`) so that downstream decides what to do with them. Numbers are kept as
published: quantities as the float JSON parsing gives (no rounding), costs as the decimal text of that float
(Decimal(38, 10)).

Walking the nested JSON is a Python loop over allocations (there is no columnar form of a map of maps); all
parsing and checking after that is vectorised.
"""

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finops_pipeline.focus.parsing import to_money, to_utc_timestamp
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.kubernetes.schema import (
    K8S_USAGE_SCHEMA,
    OPENCOST_COST_FIELDS,
    node_resource_id,
)

# k8s_usage column → OpenCost allocation field (top level).
QUANTITY_FIELDS: dict[str, str] = {
    "minutes": "minutes",
    "cpu_core_request_average": "cpuCoreRequestAverage",
    "cpu_core_usage_average": "cpuCoreUsageAverage",
    "cpu_core_hours": "cpuCoreHours",
    "ram_byte_request_average": "ramByteRequestAverage",
    "ram_byte_usage_average": "ramByteUsageAverage",
    "ram_byte_hours": "ramByteHours",
    "gpu_request_average": "gpuRequestAverage",
    "gpu_usage_average": "gpuUsageAverage",
    "gpu_count": "gpuCount",
    "gpu_hours": "gpuHours",
    "pv_bytes": "pvBytes",
    "pv_byte_hours": "pvByteHours",
    "network_transfer_bytes": "networkTransferBytes",
    "network_receive_bytes": "networkReceiveBytes",
}
# … and inside `rawAllocationOnly` (present for un-aggregated allocations only).
RAW_ONLY_FIELDS: dict[str, str] = {
    "cpu_core_usage_max": "cpuCoreUsageMax",
    "ram_byte_usage_max": "ramByteUsageMax",
}
# k8s_usage column → field of `properties`.
PROPERTY_FIELDS: dict[str, str] = {
    "node": "node",
    "provider_id": "providerID",
    "namespace": "namespace",
    "controller_kind": "controllerKind",
    "controller": "controller",
    "pod": "pod",
    "container": "container",
}
IDLE, UNALLOCATED, UNMOUNTED = "__idle__", "__unallocated__", "__unmounted__"

# Text columns collected while walking the JSON and parsed afterwards (column → JSON path, for messages).
_TIMESTAMP_FIELDS: dict[str, str] = {
    "window_start": "window.start",
    "window_end": "window.end",
    "running_start": "start",
    "running_end": "end",
}


def allocation_response_to_frame(
    payload: Mapping[str, Any],
    *,
    cluster: str | None,
    source: str,
    source_file: str | None = None,
) -> pl.DataFrame:
    """One OpenCost allocation response → a DataFrame with exactly `K8S_USAGE_SCHEMA`.

    * `cluster`: the configured cluster name, written to every row. OpenCost's own `properties.cluster` is its
      CLUSTER_ID, which is "cluster-one"/"default-cluster" unless someone set it; it is used only when
      `cluster` is None (e.g. one central OpenCost serving several clusters).
    * `source` → `x_SourceName`; `source_file` (file path or request URL, default `source`) → `x_SourceFile`
      and the name in error messages. `x_SourceRowNumber` is the 1-based position of the allocation in the
      payload (sets in order, allocations in JSON order within a set).
    * A payload that is not an allocation response (wrong shape, `code` other than 200, a number field that is
      not a number, a timestamp that does not parse) raises `SourceFileError` naming the source, the allocation
      ordinal (`row`) and the field (`column`).
    """
    where = source_file or source
    sets = _allocation_sets(payload, where)
    columns: dict[str, list[Any]] = {name: [] for name in _RAW_COLUMNS}
    ordinal = 0
    for set_index, allocation_set in enumerate(sets):
        if allocation_set is None:
            continue  # OpenCost writes null for a step without data
        if not isinstance(allocation_set, Mapping):
            raise SourceFileError(where, f"data[{set_index}] is {type(allocation_set).__name__}, not an object")
        for key, allocation in allocation_set.items():
            ordinal += 1
            _collect(columns, str(key), allocation, ordinal, where)
    raw = pl.DataFrame(columns, schema=_RAW_COLUMNS)
    return _finish(raw, cluster=cluster, source=source, where=where)


def read_allocation_json(
    path: str | Path, *, cluster: str | None, source: str, source_file: str | None = None
) -> pl.DataFrame:
    """A saved allocation response (file) → rows; malformed JSON raises `SourceFileError` with line and column."""
    where = source_file or str(Path(path).resolve())
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise SourceFileError(where, f"cannot open: {error}") from error
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceFileError(
            where, f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from error
    except UnicodeDecodeError as error:
        raise SourceFileError(where, f"not UTF-8 text: {error}") from error
    return allocation_response_to_frame(payload, cluster=cluster, source=source, source_file=where)


# ----------------------------------------------------------------------------------------------------------


_RAW_COLUMNS: dict[str, pl.DataType] = {
    "allocation_name": pl.String,
    "properties_cluster": pl.String,
    **{name: pl.String for name in PROPERTY_FIELDS},
    **{name: pl.Boolean for name in ("is_idle", "is_unallocated", "is_unmounted")},
    "labels": pl.String,
    "namespace_labels": pl.String,
    "annotations": pl.String,
    "services": pl.String,
    **{name: pl.String for name in _TIMESTAMP_FIELDS},
    **{name: pl.Float64 for name in QUANTITY_FIELDS},
    **{name: pl.Float64 for name in RAW_ONLY_FIELDS},
    "pv_claims": pl.String,
    **{name: pl.String for name in OPENCOST_COST_FIELDS},  # decimal text, cast afterwards
    "x_SourceRowNumber": pl.Int64,
}


def _allocation_sets(payload: Any, where: str) -> list[Any]:
    if not isinstance(payload, Mapping):
        raise SourceFileError(where, f"expected a JSON object, got {type(payload).__name__}")
    code = payload.get("code")
    if code is not None and code != 200:
        message = payload.get("message") or payload.get("error") or ""
        raise SourceFileError(where, f"OpenCost answered code {code}: {message}".rstrip(": "))
    if "data" not in payload:
        raise SourceFileError(where, "no 'data' member: not an OpenCost allocation response", column="data")
    data = payload["data"]
    if data is None:
        return []
    if isinstance(data, Mapping):
        raise SourceFileError(
            where,
            "'data' is an object, not a list of allocation sets (is this an /allocation response?)",
            column="data",
        )
    if not isinstance(data, list):
        raise SourceFileError(where, f"'data' is {type(data).__name__}, not a list", column="data")
    return data


def _collect(columns: dict[str, list[Any]], key: str, allocation: Any, ordinal: int, where: str) -> None:
    if not isinstance(allocation, Mapping):
        raise SourceFileError(where, f"allocation {key!r} is {type(allocation).__name__}, not an object", row=ordinal)
    properties = _mapping(allocation.get("properties"), where, ordinal, "properties")
    window = _mapping(allocation.get("window"), where, ordinal, "window")
    raw_only = _mapping(allocation.get("rawAllocationOnly"), where, ordinal, "rawAllocationOnly")
    name = allocation.get("name") or key
    segments = set(str(name).split("/")) | set(key.split("/"))

    add = _appender(columns)
    add("allocation_name", str(name))
    add("properties_cluster", _text(properties.get("cluster")))
    for column, field in PROPERTY_FIELDS.items():
        add(column, _text(properties.get(field)))
    add("is_idle", IDLE in segments)
    add("is_unallocated", UNALLOCATED in segments or UNALLOCATED in properties.values())
    add("is_unmounted", UNMOUNTED in segments)
    add("labels", _json_object(properties.get("labels"), where, ordinal, "properties.labels"))
    add(
        "namespace_labels",
        _json_object(properties.get("namespaceLabels"), where, ordinal, "properties.namespaceLabels"),
    )
    add("annotations", _json_object(properties.get("annotations"), where, ordinal, "properties.annotations"))
    services = properties.get("services")
    if services is not None and not isinstance(services, list):
        raise SourceFileError(where, "not a list", row=ordinal, column="properties.services")
    add("services", json.dumps(services or [], ensure_ascii=False, separators=(",", ":")))
    add("window_start", _text(window.get("start")))
    add("window_end", _text(window.get("end")))
    add("running_start", _text(allocation.get("start")))
    add("running_end", _text(allocation.get("end")))
    for column, field in QUANTITY_FIELDS.items():
        add(column, _number(allocation.get(field), where, ordinal, field))
    for column, field in RAW_ONLY_FIELDS.items():
        add(column, _number(raw_only.get(field), where, ordinal, f"rawAllocationOnly.{field}"))
    pvs = allocation.get("pvs")
    if pvs is not None and not isinstance(pvs, Mapping):
        raise SourceFileError(where, "not an object", row=ordinal, column="pvs")
    add("pv_claims", json.dumps(pvs, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if pvs else None)
    for column, field in OPENCOST_COST_FIELDS.items():
        add(column, _decimal_text(allocation.get(field), where, ordinal, field))
    add("x_SourceRowNumber", ordinal)


def _appender(columns: dict[str, list[Any]]):
    def add(column: str, value: Any) -> None:
        columns[column].append(value)

    return add


def _mapping(value: Any, where: str, ordinal: int, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SourceFileError(where, f"expected an object, got {type(value).__name__}", row=ordinal, column=field)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _json_object(value: Any, where: str, ordinal: int, field: str) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, Mapping):
        raise SourceFileError(where, f"expected an object, got {type(value).__name__}", row=ordinal, column=field)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _number(value: Any, where: str, ordinal: int, field: str) -> float | None:
    """A JSON number → float; null, NaN and ±Inf → None (OpenCost writes null for them); else an error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SourceFileError(where, f"expected a number, got {value!r}", row=ordinal, column=field)
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SourceFileError(where, f"expected a number, got {value!r}", row=ordinal, column=field) from None
    else:
        raise SourceFileError(where, f"expected a number, got {type(value).__name__}", row=ordinal, column=field)
    return number if math.isfinite(number) else None


def _decimal_text(value: Any, where: str, ordinal: int, field: str) -> str | None:
    """A JSON number → its shortest exact decimal text (repr of the float), so Decimal gets no binary noise."""
    number = _number(value, where, ordinal, field)
    if number is None:
        return None
    if isinstance(value, Decimal | str):
        return str(value).strip()
    if isinstance(value, int):
        return str(value)
    return repr(number)


def _finish(raw: pl.DataFrame, *, cluster: str | None, source: str, where: str) -> pl.DataFrame:
    parsed = raw.with_columns(
        *(to_utc_timestamp(pl.col(column)).alias(column) for column in _TIMESTAMP_FIELDS),
        *(to_money(pl.col(column)).alias(column) for column in OPENCOST_COST_FIELDS),
    )
    _raise_on_unparsed(raw, parsed, where)
    missing_start = parsed.filter(pl.col("window_start").is_null() & pl.col("running_start").is_null())
    if missing_start.height:
        raise SourceFileError(
            where,
            "allocation has neither window.start nor start: cannot place it on a day",
            row=missing_start["x_SourceRowNumber"][0],
            column="window.start",
        )
    cluster_expr = pl.col("properties_cluster") if cluster is None else pl.lit(cluster, dtype=pl.String)
    return parsed.with_columns(
        pl.coalesce("window_start", "running_start").dt.date().alias("x_ChargeDay"),
        cluster_expr.alias("cluster"),
        node_resource_id(pl.col("provider_id")).alias("node_resource_id"),
        pl.lit(source, dtype=pl.String).alias("x_SourceName"),
        pl.lit(where, dtype=pl.String).alias("x_SourceFile"),
    ).select([pl.col(name).cast(dtype) for name, dtype in K8S_USAGE_SCHEMA.items()])


def _raise_on_unparsed(raw: pl.DataFrame, parsed: pl.DataFrame, where: str) -> None:
    """Text that was there before parsing and is null after: name the first such allocation and field."""
    fields = {**_TIMESTAMP_FIELDS, **OPENCOST_COST_FIELDS}
    both = parsed.select("x_SourceRowNumber", *fields).hstack(
        raw.select(pl.col(column).alias(f"raw {column}") for column in fields)
    )
    first: tuple[int, str] | None = None
    for column in fields:
        rows = both.filter(pl.col(f"raw {column}").is_not_null() & pl.col(column).is_null())["x_SourceRowNumber"]
        if rows.len() and (first is None or rows[0] < first[0]):
            first = (rows[0], column)
    if first is not None:
        row, column = first
        value = raw.filter(pl.col("x_SourceRowNumber") == row)[column][0]
        raise SourceFileError(where, f"cannot parse {value!r}", row=row, column=fields[column])
