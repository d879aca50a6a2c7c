"""Google Cloud billing export (standard or detailed usage cost table) from files → one lazy frame.

Three file shapes of the same BigQuery table reach us:

* **CSV**, flattened by whoever exported it (BigQuery cannot write nested data to CSV): dotted headers such as
  `service.description`, `usage.amount_in_pricing_units`, `invoice.month`, and the repeated fields (`credits`,
  `labels`, `system_labels`, `project.labels`, `tags`) as text, either the Python repr of a list of dicts or
  JSON (see `records.py`);
* **newline-delimited JSON**, as BigQuery exports it: nested objects and arrays, FLOAT64 as JSON numbers;
* **parquet**, as BigQuery exports it: structs and lists of structs, FLOAT64 as doubles.

## The internal shape (what `scan_billing_export` and `bigquery.read_billing_export` return)

*Flattened*: one column per leaf of the BigQuery schema, named by its dotted path (`service.description`,
`project.labels`), for the leaves in `EXPORT_COLUMNS` (typed null when a file lacks one), then `x_SourceFile`
and `x_SourceRowNumber` (1-based data row). Leaves are typed by `Kind`:

| Kind      | from CSV              | from NDJSON          | from parquet / BigQuery                       |
|-----------|-----------------------|----------------------|-----------------------------------------------|
| TEXT      | String (blank → null) | String               | String (`project.number` and such as digits)  |
| NUMBER    | String, parsed later  | String ¹, parsed later | Decimal(38, 10), a double via its shortest text |
| TIMESTAMP | String, parsed later  | String, parsed later | Datetime(us, UTC)                             |
| repeated  | String, parsed later  | List(Struct(RECORD_FIELDS)), money as Decimal(38, 10) | the same     |

¹ A JSON number read as text is its shortest decimal text, so no float is ever summed.

As in the AWS source, nothing that can fail is parsed here: text stays text so the mapping can name the row,
column and value that did not parse. Where files of one scan disagree on a column's type, it is text for all
of them (decimals and timestamps as their text, lists of records as JSON) and the mapping parses it.
"""

import gzip
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

import polars as pl

from finops_pipeline.focus.parsing import (
    blank_columns_to_null,
    blank_to_null,
    number_to_money,
    parse_each_distinct,
    reading_once,
    to_money,
    to_utc_timestamp,
)
from finops_pipeline.focus.schema import MONEY, TIMESTAMP
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.files import bare_header, csv_frame, paths_and_names
from finops_pipeline.sources.gcp import file_export
from finops_pipeline.sources.gcp.records import (
    CREDIT_FIELDS,
    LABEL_FIELDS,
    TAG_FIELDS,
    parse_record_list,
    text_records,
)

SOURCE_FILE = "x_SourceFile"
SOURCE_ROW = "x_SourceRowNumber"


class Kind(Enum):
    TEXT = "text"
    NUMBER = "number"  # money or quantity: Decimal(38, 10) once parsed
    TIMESTAMP = "timestamp"
    CREDITS = "credits"  # repeated records, see RECORD_FIELDS
    LABELS = "labels"
    TAGS = "tags"


RECORD_FIELDS: dict[Kind, dict[str, pl.DataType]] = {
    Kind.CREDITS: CREDIT_FIELDS,
    Kind.LABELS: LABEL_FIELDS,
    Kind.TAGS: TAG_FIELDS,
}
RECORD_DTYPES: dict[Kind, pl.DataType] = {kind: pl.List(pl.Struct(f)) for kind, f in RECORD_FIELDS.items()}

# The leaves of the export schema that the FOCUS mapping reads (nothing else is kept), by dotted path.
EXPORT_COLUMNS: dict[str, Kind] = {
    "billing_account_id": Kind.TEXT,
    "service.id": Kind.TEXT,
    "service.description": Kind.TEXT,
    "sku.id": Kind.TEXT,
    "sku.description": Kind.TEXT,
    "usage_start_time": Kind.TIMESTAMP,
    "usage_end_time": Kind.TIMESTAMP,
    "project.id": Kind.TEXT,
    "project.number": Kind.TEXT,
    "project.name": Kind.TEXT,
    "project.labels": Kind.LABELS,
    "labels": Kind.LABELS,
    "system_labels": Kind.LABELS,
    "tags": Kind.TAGS,
    "location.location": Kind.TEXT,
    "location.country": Kind.TEXT,
    "location.region": Kind.TEXT,
    "location.zone": Kind.TEXT,
    "resource.name": Kind.TEXT,  # detailed (resource-level) export only
    "resource.global_name": Kind.TEXT,
    "export_time": Kind.TIMESTAMP,
    "cost": Kind.NUMBER,
    "cost_at_list": Kind.NUMBER,
    # The consumption model a row is priced under (since 2025-07-15): "Default" (on demand), or e.g. a
    # spend-based committed use discount's, at whose discounted price `cost` then is.
    "consumption_model.id": Kind.TEXT,
    "consumption_model.description": Kind.TEXT,
    "cost_at_effective_price_default": Kind.NUMBER,  # the cost under the Default model (before CUD discounts)
    "currency": Kind.TEXT,
    "currency_conversion_rate": Kind.NUMBER,
    "usage.amount": Kind.NUMBER,
    "usage.unit": Kind.TEXT,
    "usage.amount_in_pricing_units": Kind.NUMBER,
    "usage.pricing_unit": Kind.TEXT,
    "credits": Kind.CREDITS,
    "invoice.month": Kind.TEXT,
    "invoice.id": Kind.TEXT,  # not in Google's schema today; used as InvoiceId if an export ever carries it
    "cost_type": Kind.TEXT,
    "adjustment_info.id": Kind.TEXT,
    "adjustment_info.description": Kind.TEXT,
    "adjustment_info.mode": Kind.TEXT,
    "adjustment_info.type": Kind.TEXT,
    "transaction_type": Kind.TEXT,
    "seller_name": Kind.TEXT,
    "subscription.instance_id": Kind.TEXT,
    "price.effective_price": Kind.NUMBER,  # detailed export only
    "price.effective_price_default": Kind.NUMBER,  # the price under the Default model (since 2025-07-15)
}

# Without these a row cannot be placed, costed or reconciled; a file lacking one is unreadable for us.
REQUIRED_COLUMNS = (
    "billing_account_id",
    "cost",
    "currency",
    "usage_start_time",
    "usage_end_time",
    "invoice.month",
    "cost_type",
)

# Top-level records of the schema; a CSV header `service_description` means `service.description`.
_RECORDS = (
    "service",
    "sku",
    "project",
    "location",
    "resource",
    "usage",
    "invoice",
    "adjustment_info",
    "price",
    "consumption_model",
)
_DTYPE_OF_MISSING = {Kind.TEXT: pl.String, Kind.NUMBER: MONEY, Kind.TIMESTAMP: TIMESTAMP, **RECORD_DTYPES}


def canonical_column_name(header: str) -> str:
    """A header as written in a file → the dotted path used here (`service_description` → `service.description`)."""
    header = bare_header(header)
    if header in EXPORT_COLUMNS:
        return header
    record, _, leaf = header.partition("_")
    while leaf and record not in _RECORDS:  # `adjustment_info_type`: the record name has an underscore itself
        more, _, leaf = leaf.partition("_")
        record = f"{record}_{more}"
    dotted = f"{record}.{leaf}"
    return dotted if leaf and dotted in EXPORT_COLUMNS else header


def scan_billing_export(
    files: Sequence[Path],
    *,
    source_names: Sequence[str] | None = None,
    billing_account_id: str | None = None,
) -> pl.LazyFrame:
    """Billing export files (CSV, NDJSON or parquet; gzip allowed for the text formats), and the legacy file
    export's JSON and CSV files (`file_export.py`) → one lazy frame.

    Columns: every path in EXPORT_COLUMNS, typed as the module docstring says, then `x_SourceFile`
    (`source_names[i]`, else the absolute path) and `x_SourceRowNumber`. A file that cannot be read, or lacks a
    column of REQUIRED_COLUMNS, raises SourceFileError naming the file (and the column).
    `billing_account_id` is the account of legacy file export rows that do not name theirs.
    """
    paths, names = paths_and_names(files, source_names)
    if not paths:
        return pl.LazyFrame(schema=export_schema())
    frames = [_scan_file(path, name, billing_account_id) for path, name in zip(paths, names, strict=True)]
    return pl.concat(harmonise_types(frames), how="vertical")


def export_schema() -> dict[str, pl.DataType]:
    """The internal shape with every column in its typed (non-text) form."""
    return {
        **{name: _DTYPE_OF_MISSING[kind] for name, kind in EXPORT_COLUMNS.items()},
        SOURCE_FILE: pl.String,
        SOURCE_ROW: pl.Int64,
    }


def with_source_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `x_SourceRowNumber` first: 1, 2, … in the order the rows were read (Int64, as every source)."""
    return frame.with_row_index(SOURCE_ROW, offset=1).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))


def normalise_nested(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """A frame with BigQuery's nested columns (structs, lists of structs) → the internal shape.

    Used for NDJSON, parquet and BigQuery query results. `frame` must already carry `x_SourceRowNumber`
    (`with_source_rows`).
    """
    schema = frame.collect_schema()
    leaves = dict(_flatten(schema))
    return _select_export_columns(frame, leaves, name, blank=_empty_to_null)


# --- Reading the files ------------------------------------------------------------------------------------


def _scan_file(path: Path, name: str, billing_account_id: str | None) -> pl.LazyFrame:
    try:
        head = _leading_text(path)
        data = path.read_bytes() if head[:2] == b"\x1f\x8b" or head[:1] in (b"{", b"[") else None
    except OSError as error:
        raise SourceFileError(name, f"cannot open: {error}") from error
    if data is not None and data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise SourceFileError(name, f"not a readable gzip file: {error}") from error
        if not data.strip():
            raise SourceFileError(name, "file is empty")
        head = data[:4] if data[:4] == b"PAR1" else data.lstrip()[:1]
    if not head:
        raise SourceFileError(name, "file is empty")
    if head[:4] == b"PAR1":
        return _scan_parquet(path, name)
    if head[:1] == b"{":
        return _read_ndjson(data if data is not None else path.read_bytes(), name)
    if head[:1] == b"[":
        return _read_file_export_json(data if data is not None else path.read_bytes(), name, billing_account_id)
    # A plain CSV file is scanned from its path (lazily when large); a gzip one from its decompressed bytes.
    return _read_csv(data if data is not None else path, name, billing_account_id)


def _leading_text(path: Path) -> bytes:
    """The first 4 bytes when they are gzip or parquet magic; else the first non-whitespace byte (b"" for a
    file of only whitespace), without reading more of the file than that."""
    with path.open("rb") as handle:
        chunk = handle.read(1 << 16)
        if chunk[:2] == b"\x1f\x8b" or chunk[:4] == b"PAR1":
            return chunk[:4]
        while chunk:
            text = chunk.lstrip()
            if text:
                return text[:1]
            chunk = handle.read(1 << 16)
    return b""


def _scan_parquet(path: Path, name: str) -> pl.LazyFrame:
    frame = pl.scan_parquet(path, row_index_name=SOURCE_ROW, row_index_offset=1)
    try:
        return normalise_nested(frame, name)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise SourceFileError(name, f"not a readable parquet file: {error}") from error


def _read_ndjson(data: bytes, name: str) -> pl.LazyFrame:
    """Eager, so a malformed line fails here, by file name.

    Read with the schema of the fields we map (`ndjson_schema`), every scalar as text: no schema inference
    over the file (4× faster), fields we do not map are skipped, and a cost that is not a number is reported
    on its row instead of failing the file. A JSON number read as text is its shortest decimal text.
    BigQuery leaves null fields out of its JSON lines, so a required field is missing only when no line has it.
    """
    try:
        frame = pl.read_ndjson(data, schema=ndjson_schema())
    except pl.exceptions.PolarsError as error:
        raise SourceFileError(name, f"cannot read newline-delimited JSON: {error}") from error
    if frame.height:
        leaves = dict(_flatten(frame.schema))
        for column in REQUIRED_COLUMNS:
            if frame.select(leaves[column][0].is_null().all()).item():
                raise SourceFileError(name, f"required column {column!r} is missing (no line has it)", column=column)
    return normalise_nested(with_source_rows(frame).lazy(), name)


def ndjson_schema() -> dict[str, pl.DataType]:
    """The nested schema of the EXPORT_COLUMNS, all leaves (and record fields) as text."""
    nested: dict[str, pl.DataType | dict[str, pl.DataType]] = {}
    for path, kind in EXPORT_COLUMNS.items():
        dtype = text_records(RECORD_FIELDS[kind]) if kind in RECORD_FIELDS else pl.String
        parent, _, leaf = path.rpartition(".")
        if parent:
            fields = nested.setdefault(parent, {})
            assert isinstance(fields, dict)
            fields[leaf] = dtype
        else:
            nested[path] = dtype
    return {name: pl.Struct(d) if isinstance(d, dict) else d for name, d in nested.items()}


def _read_file_export_json(data: bytes, name: str, billing_account_id: str | None) -> pl.LazyFrame:
    """A legacy file export JSON file (one array of line items). Eager: a malformed file fails here, by name."""
    try:
        frame = pl.read_json(data, schema=file_export.JSON_SCHEMA)
    except pl.exceptions.PolarsError as error:
        raise SourceFileError(name, f"cannot read the JSON array of a billing file export: {error}") from error
    leaves = file_export.export_leaves(billing_account_id)
    return _select_export_columns(with_source_rows(frame).lazy(), leaves, name, blank=_empty_to_null)


def _read_csv(source: Path | bytes, name: str, billing_account_id: str | None = None) -> pl.LazyFrame:
    """The needed columns of a flattened CSV export, all as text. Read eagerly (a broken file fails here, by
    name) unless it is larger than `EAGER_CSV_MAX_BYTES`, then scanned lazily (see `files.csv_frame`).
    A legacy file export CSV is read whole and reshaped as its JSON (`file_export.csv_as_json_shape`)."""
    try:
        headers = pl.read_csv(source, n_rows=0, infer_schema=False).columns
        if file_export.is_file_export_csv(headers):
            frame = csv_frame(source, columns=None, row_index_name=SOURCE_ROW).lazy()
            reshaped = file_export.csv_as_json_shape(frame, headers)
            leaves = file_export.export_leaves(billing_account_id)
            return _select_export_columns(reshaped, leaves, name, blank=_empty_to_null)
        wanted: dict[str, str] = {}  # original header → canonical; the first of two spellings wins
        for header in headers:
            canonical = canonical_column_name(header)
            if canonical in EXPORT_COLUMNS and canonical not in wanted.values():
                wanted[header] = canonical
        frame = csv_frame(source, columns=list(wanted), row_index_name=SOURCE_ROW).lazy()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise SourceFileError(name, f"cannot read CSV: {error}") from error
    # Blank → null on the whole frame, each column trimmed once (`blank_to_null` per column trims twice).
    text = [original for original, canonical in wanted.items() if EXPORT_COLUMNS[canonical] is Kind.TEXT]
    frame = blank_columns_to_null(frame, text)
    leaves = {canonical: (pl.col(original), pl.String) for original, canonical in wanted.items()}
    return _select_export_columns(frame, leaves, name, blank=lambda blanked: blanked)


def _flatten(schema: pl.Schema | dict, prefix: str = "", parent: pl.Expr | None = None):
    """(dotted path, (expression, dtype)) for every leaf of nested structs; lists are leaves."""
    for field, dtype in schema.items():
        if parent is None and field == SOURCE_ROW:
            continue
        path = f"{prefix}{field}"
        expr = pl.col(field) if parent is None else parent.struct.field(field)
        if isinstance(dtype, pl.Struct):
            yield from _flatten({f.name: f.dtype for f in dtype.fields}, f"{path}.", expr)
        else:
            yield path, (expr, dtype)


def _select_export_columns(frame: pl.LazyFrame, leaves: dict[str, tuple[pl.Expr, pl.DataType]], name: str, *, blank):
    missing = [c for c in REQUIRED_COLUMNS if c not in leaves]
    if missing:
        raise SourceFileError(name, f"required column {missing[0]!r} is missing", column=missing[0])
    selected = []
    for column, kind in EXPORT_COLUMNS.items():
        if column not in leaves:
            selected.append(pl.lit(None, dtype=_DTYPE_OF_MISSING[kind]).alias(column))
            continue
        expr, dtype = leaves[column]
        selected.append(_normalise(expr, kind, dtype, blank).alias(column))
    selected += [pl.lit(name).alias(SOURCE_FILE), pl.col(SOURCE_ROW).cast(pl.Int64)]
    return frame.select(selected)


def _normalise(expr: pl.Expr, kind: Kind, dtype: pl.DataType, blank) -> pl.Expr:
    """Conversions that cannot fail. Text stays text: the mapping parses it and reports what did not parse."""
    if dtype == pl.String:
        return blank(expr) if kind is Kind.TEXT else expr
    if kind is Kind.TEXT:
        return expr.cast(pl.String)
    if kind is Kind.NUMBER:
        return exact_decimal(expr, dtype)
    if kind is Kind.TIMESTAMP:
        if isinstance(dtype, pl.Datetime):
            utc = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")
            return utc.cast(TIMESTAMP)
        return expr.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(TIMESTAMP)
    return _normalise_records(expr, kind, dtype)


def exact_decimal(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A number column → Decimal(38, 10) without a binary round trip: doubles go through their shortest text
    (0.1 → "0.1" → 0.1, not 0.1000000000000000055…), text is parsed (null when not a number), integers and
    decimals are cast."""
    if dtype.is_float() or dtype == pl.String:
        return to_money(expr)
    if dtype == pl.Null:
        return pl.lit(None, dtype=MONEY)
    return number_to_money(expr)


def _normalise_records(expr: pl.Expr, kind: Kind, dtype: pl.DataType) -> pl.Expr:
    """A list of structs with whatever fields a writer kept → List(Struct(RECORD_FIELDS[kind]))."""
    target = RECORD_DTYPES[kind]
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    if not isinstance(inner, pl.Struct):  # all-empty lists (List(Null)) or an all-null column
        return expr.cast(target, strict=False)
    present = {f.name: f.dtype for f in inner.fields}
    item = pl.element().struct.field
    fields = []
    for field, wanted in RECORD_FIELDS[kind].items():
        if field not in present:
            fields.append(pl.lit(None, dtype=wanted).alias(field))
        elif wanted == MONEY:
            fields.append(exact_decimal(item(field), present[field]).alias(field))
        elif wanted == pl.Boolean and present[field] == pl.String:
            lowered = item(field).str.to_lowercase()
            boolean = pl.when(lowered == "true").then(pl.lit(True)).when(lowered == "false").then(pl.lit(False))
            fields.append(boolean.alias(field))
        else:
            fields.append(item(field).cast(wanted, strict=False).alias(field))
    return expr.list.eval(pl.struct(fields))


def _empty_to_null(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.strip_chars() != "").then(text)


def harmonise_types(frames: list[pl.LazyFrame]) -> list[pl.LazyFrame]:
    """A column typed differently by different files (CSV text vs parquet decimal) becomes text in all."""
    schemas = [frame.collect_schema() for frame in frames]
    mixed = {c for c in schemas[0] if len({s[c] for s in schemas}) > 1}
    if not mixed:
        return frames
    return [
        frame.with_columns(_as_text(c, schema[c]).alias(c) for c in mixed)
        for frame, schema in zip(frames, schemas, strict=True)
    ]


def _as_text(column: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.List):  # records → a JSON list, which parse_record_list reads back
        encoded = pl.struct(pl.col(column).alias("v")).struct.json_encode()
        return pl.when(pl.col(column).is_not_null()).then(encoded.str.strip_prefix('{"v":').str.strip_suffix("}"))
    return pl.col(column).cast(pl.String)


# --- Parsing, shared by the mapping and the source totals --------------------------------------------------


def parse_number(column: str, dtype: pl.DataType) -> pl.Expr:
    """The column as Decimal(38, 10): text is parsed (null when it is not a number), decimals are kept."""
    return to_money(pl.col(column)) if dtype == pl.String else number_to_money(pl.col(column))


def parse_timestamp(column: str, dtype: pl.DataType) -> pl.Expr:
    """The column as Datetime(us, UTC): text is parsed (null when it is not a date), datetimes are kept."""
    if dtype == pl.String:
        return parse_each_distinct(pl.col(column), to_utc_timestamp, TIMESTAMP)
    return pl.col(column).cast(TIMESTAMP)


def parse_records(column: str, kind: Kind, dtype: pl.DataType) -> pl.Expr:
    """The column as List(Struct(RECORD_FIELDS[kind])): text is parsed (null when it is not a list of records)."""
    if dtype == pl.String:
        fields = RECORD_FIELDS[kind]
        return parse_each_distinct(pl.col(column), lambda text: parse_record_list(text, fields), RECORD_DTYPES[kind])
    return pl.col(column).cast(RECORD_DTYPES[kind])


def invoice_month_start(column: str | pl.Expr = "invoice.month") -> pl.Expr:
    """`invoice.month` (YYYYMM) → the first day of that month as a naive datetime; null when not YYYYMM."""
    month = (pl.col(column) if isinstance(column, str) else column).cast(pl.String).str.strip_chars()
    valid = month.str.contains(r"^\d{4}(?:0[1-9]|1[0-2])$")
    return pl.when(valid).then(pl.concat_str(month, pl.lit("01"))).str.strptime(pl.Datetime("us"), "%Y%m%d")


_AMOUNT = pl.element().struct.field("amount")


def credits_without_amount(credits: pl.Expr) -> pl.Expr:
    """Whether a row's parsed credits include one without an amount (a number that overflows Decimal(38, 10)
    ends up so too)."""
    return credits.list.agg(_AMOUNT.is_null().any()).fill_null(False)


def credits_unreadable(credits: pl.Expr, text: pl.Expr | None) -> pl.Expr:
    """Whether a row's credits cannot be used: one has no amount, or (`text`: the cell they were parsed from,
    when it is text) the cell is not blank and yet not a list of records. The one rule for the mapping and for
    reconciliation, so both leave out the same credits."""
    unreadable = credits_without_amount(credits)
    if text is not None:
        unreadable = unreadable | (credits.is_null() & blank_to_null(text).is_not_null())
    return unreadable


def credits_amount(credits: pl.Expr, unreadable: pl.Expr) -> pl.Expr:
    """Σ `amount` of these credits: 0 for none, null where the row's credits are `unreadable`."""
    return pl.when(~unreadable).then(credits.list.agg(_AMOUNT.sum()).fill_null(0).cast(MONEY))


def credits_total(column: str, dtype: pl.DataType) -> pl.Expr:
    """Struct {`total`: Σ `amount` of the row's credits, `unreadable`: whether they are unreadable}, parsed as
    the mapping parses them, once a row (`reading_once`): 0 for a row without credits, null where they are
    unreadable (`credits_unreadable`)."""
    is_text = dtype == pl.String
    parsed = pl.struct(
        parse_records(column, Kind.CREDITS, dtype).alias("credits"),
        *([pl.col(column).alias("text")] if is_text else []),
    )

    def totals(value: pl.Expr) -> pl.Expr:
        credits = value.struct.field("credits")
        unreadable = credits_unreadable(credits, value.struct.field("text") if is_text else None)
        return pl.struct(credits_amount(credits, unreadable).alias("total"), unreadable.alias("unreadable"))

    return reading_once(parsed, totals, pl.Struct({"total": MONEY, "unreadable": pl.Boolean}))


def billing_export_source_totals(export: pl.LazyFrame) -> pl.LazyFrame:
    """What reconciliation compares the FOCUS rows against, computed from the export alone.

    Per source file, billing period start (Date: the first day of `invoice.month`, which is also the UTC date
    of its Pacific-time midnight) and charge day: `x_SourceRows`, `x_SourceCost` and `x_UnparsedCostRows`.
    `x_SourceCost` is what Google invoices: Σ (parsed `cost` + Σ its `credits.amount`), Decimal(38, 10)
    (credits are negative). A row whose cost is missing or not a number adds nothing; one whose credits
    cannot be read adds its cost alone (the mapping bills it so, quarantined). Both are counted in
    `x_UnparsedCostRows`. The charge day is the UTC day of `usage_start_time`, or the billing period start
    when that does not parse — the rule the mapping uses for x_ChargeDay (of the derived Credit rows too).
    """
    schema = export.collect_schema()
    cost = parse_number("cost", schema["cost"])
    credits = pl.col("__credits").struct.field
    invoiced = cost + credits("total").fill_null(0)
    period_start = invoice_month_start().dt.date()
    usage_start = parse_timestamp("usage_start_time", schema["usage_start_time"]).dt.date()
    # The credits as a column first: read in two aggregates, an expression would parse them twice.
    export = export.with_columns(credits_total("credits", schema["credits"]).alias("__credits"))
    return export.group_by(
        pl.col(SOURCE_FILE),
        period_start.alias("x_BillingPeriodStart"),
        pl.coalesce(usage_start, period_start).alias("x_ChargeDay"),
    ).agg(
        pl.len().cast(pl.Int64).alias("x_SourceRows"),
        invoiced.sum().cast(MONEY).alias("x_SourceCost"),
        (cost.is_null() | credits("unreadable")).sum().cast(pl.Int64).alias("x_UnparsedCostRows"),
    )
