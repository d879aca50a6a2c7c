"""A FOCUS-native export (as read by `scan_focus_export`) → FOCUS 1.2 rows, lazily.

A FOCUS export is already FOCUS, but of some version and with the dirt real files carry. The mapping:

* **upgrades to 1.2** (reference §1.3): legacy headers feed their 1.2 column (`Region` → RegionId,
  `UsageQuantity`/`UsageUnit` → ConsumedQuantity/ConsumedUnit, `Provider`/`Publisher`/`InvoiceIssuer` →
  …Name, `ChargeType` → ChargeCategory, `AmortizedCost` → EffectiveCost); 1.0-preview's ChargeSubcategory
  is spread over the 1.2 columns ("Refund" → ChargeClass "Correction", "Used/Unused Commitment" →
  CommitmentDiscountStatus, "Credit" under ChargeCategory "Adjustment" → ChargeCategory "Credit") and kept as
  `x_ChargeSubcategory`; PricingCategory "On-Demand" → "Standard", "Commitment-Based" → "Committed"; 1.2
  columns a file predates are null.
* **cleans**: "", whitespace, "NULL"/"null"/"None"/"N/A" → null in every text column; naive timestamps
  (`YYYY-MM-DD HH:MM:SS`) are UTC, offsets are honoured; header case is forgiven (`SkuPriceid`); values of
  enumerated columns are respelled to the FOCUS spelling when they differ only in case, spaces, hyphens or
  underscores (OCI's "Usage-based" → "Usage-Based"); custom columns without the `x_` prefix are renamed
  (`Id` → `x_Id`, see `describe_focus_export`, which reports every rename and is logged here).
* **ContractedCost** is taken as exported. Where it is null (or the file predates FOCUS 1.0, which had no
  such column) it is derived the way the spec defines it, ContractedUnitPrice × PricingQuantity, when both
  are there. It is *not* defaulted to ListCost: the spec's "ContractedCost = ListCost" holds only when no
  negotiated price exists, which the data does not say. Rows where it stays null carry a reason and are
  quarantined, unless the caller, knowing the provider has no negotiated prices, passes
  `contracted_cost_fallback="ListCost"`.
* **row-level problems** (a number or date that does not parse, a date before 1900 — the shared parser reads
  "5/1/25" as year 25 —, an underivable ContractedCost) give `x_QuarantineReason` naming the column as it is
  spelled in the file and the value; the row keeps its parsed BilledCost (null when it did not parse) and its
  charge day, so reconciliation can account for it. Everything FOCUS itself forbids (mandatory nulls, values
  outside the allowed lists, periods out of order) is left to `conform_to_focus`.
"""

import logging
from typing import Literal

import polars as pl

from finops_pipeline.focus.conform import REASON
from finops_pipeline.focus.parsing import blank_to_null, to_money, to_utc_timestamp
from finops_pipeline.focus.schema import FOCUS_COLUMNS, FOCUS_TABLE_SCHEMA, MONEY, TIMESTAMP, FocusColumn
from finops_pipeline.sources.focus_export.columns import (
    SOURCE_FILE,
    SOURCE_ROW,
    ExportColumns,
    describe_focus_export,
)
from finops_pipeline.sources.focus_export.versions import CHARGE_SUBCATEGORY

log = logging.getLogger(__name__)

EARLIEST_YEAR = 1900  # a parsed date before this is a misread (two-digit year), not a billing date
_PROBLEMS = "__parse_problems"
_SUBCATEGORY = "__charge_subcategory"

# Values of enumerated columns older versions (or careless writers) spell differently, by spelling key.
_LEGACY_VALUES = {"PricingCategory": {"ondemand": "Standard", "commitmentbased": "Committed"}}
_ENUM_COLUMNS = tuple(c for c in FOCUS_COLUMNS if c.allowed_values)


def focus_export_to_focus(
    export: pl.LazyFrame,
    *,
    source_name: str,
    keep_custom_columns: bool = False,
    contracted_cost_fallback: Literal["ListCost"] | None = None,
) -> pl.LazyFrame:
    """`scan_focus_export` output → FOCUS 1.2 rows: FOCUS_TABLE_SCHEMA (exact dtypes and order), then the
    export's custom `x_` columns when `keep_custom_columns` (renamed as `describe_focus_export` says, text
    blank-to-null), then `x_QuarantineReason`.

    One row per export row. x_ChargeDay is the UTC day of ChargePeriodStart (of BillingPeriodStart when that
    does not parse); x_SourceName is `source_name`; x_IngestedAt and x_RunId are null (the caller fills them).
    """
    schema = export.collect_schema()
    described = describe_focus_export(schema.names())
    _log_renames(described, source_name)

    typed, problems = {}, []
    for column in FOCUS_COLUMNS:
        typed[column.name], column_problems = _typed_column(column, described, schema)
        problems += column_problems
    stage = export.with_columns(
        *(expr.alias(name) for name, expr in typed.items()),
        _join_reasons(problems).alias(_PROBLEMS),
        _subcategory(described, schema).alias(_SUBCATEGORY),
        *_custom_columns(described, schema, keep_custom_columns),
    )
    for column in _ENUM_COLUMNS:
        stage = _respell_enumeration(stage, column)
    stage = stage.with_columns(**_upgraded_meanings()).with_columns(
        ContractedCost=_contracted_cost(contracted_cost_fallback)
    )

    lineage = {
        "x_SourceName": pl.lit(source_name),
        "x_SourceFile": pl.col(SOURCE_FILE) if SOURCE_FILE in schema else pl.lit(None),
        "x_SourceRowNumber": pl.col(SOURCE_ROW) if SOURCE_ROW in schema else pl.lit(None),
        "x_IngestedAt": pl.lit(None),
        "x_RunId": pl.lit(None),
        "x_ChargeDay": pl.coalesce("ChargePeriodStart", "BillingPeriodStart").dt.date(),
    }
    output = [
        (lineage[name] if name in lineage else pl.col(name)).cast(dtype).alias(name)
        for name, dtype in FOCUS_TABLE_SCHEMA.items()
    ]
    custom = list(described.custom.values()) if keep_custom_columns else []
    return stage.select(*output, *custom, _row_problems().alias(REASON))


def focus_export_source_totals(export: pl.LazyFrame) -> pl.LazyFrame:
    """What reconciliation compares the FOCUS rows against, computed from the export alone.

    Per source file, billing period start (Date) and charge day: `x_SourceRows`, `x_SourceCost` (Σ parsed
    BilledCost, Decimal(38, 10)) and `x_UnparsedCostRows` (rows whose BilledCost is missing or not a number).
    The charge day is the same as the mapping's x_ChargeDay.
    """
    schema = export.collect_schema()
    described = describe_focus_export(schema.names())
    columns = {c.name: c for c in FOCUS_COLUMNS}
    cost, _ = _typed_column(columns["BilledCost"], described, schema)
    period_start, _ = _typed_column(columns["BillingPeriodStart"], described, schema)
    charge_start, _ = _typed_column(columns["ChargePeriodStart"], described, schema)
    return export.group_by(
        pl.col(SOURCE_FILE),
        period_start.dt.date().alias("x_BillingPeriodStart"),
        pl.coalesce(charge_start, period_start).dt.date().alias("x_ChargeDay"),
    ).agg(
        pl.len().cast(pl.Int64).alias("x_SourceRows"),
        cost.sum().cast(MONEY).alias("x_SourceCost"),
        cost.is_null().sum().cast(pl.Int64).alias("x_UnparsedCostRows"),
    )


# --- Stage 1: export values → typed FOCUS values, and what did not parse -----------------------------------


def _typed_column(column: FocusColumn, described: ExportColumns, schema: pl.Schema) -> tuple[pl.Expr, list[pl.Expr]]:
    """The FOCUS column from the headers feeding it (first non-null wins), and one problem expr per header."""
    headers = described.sources.get(column.name, ())
    if not headers:
        return pl.lit(None, dtype=column.dtype), []
    values, problems = [], []
    for header in headers:
        value, problem = _typed_value(header, schema[header], column.dtype)
        values.append(value)
        if problem is not None:
            problems.append(problem)
    return (values[0] if len(values) == 1 else pl.coalesce(values)), problems


def _typed_value(header: str, dtype: pl.DataType, target: pl.DataType) -> tuple[pl.Expr, pl.Expr | None]:
    raw = pl.col(header)
    if dtype == pl.Null:
        return pl.lit(None, dtype=target), None
    if target == MONEY:
        if dtype.is_numeric():
            value = raw.cast(MONEY, strict=False)
            return value, _problem(raw.is_not_null() & value.is_null(), header, "is out of range")
        text = _blank_to_null(raw.cast(pl.String))
        value = to_money(text)
        return value, _problem(text.is_not_null() & value.is_null(), header, "is not a number")
    if target == TIMESTAMP:
        if isinstance(dtype, pl.Datetime | pl.Date):
            value = raw.cast(pl.Datetime("us")).dt.replace_time_zone("UTC") if dtype == pl.Date else raw
            value = value.cast(TIMESTAMP)
            plausible = pl.when(value.dt.year() >= EARLIEST_YEAR).then(value)
            return plausible, _problem(value.is_not_null() & plausible.is_null(), header, "is not a plausible date")
        text = _blank_to_null(raw.cast(pl.String))
        value = to_utc_timestamp(text)
        plausible = pl.when(value.dt.year() >= EARLIEST_YEAR).then(value)
        return plausible, _problem(text.is_not_null() & plausible.is_null(), header, "is not a date")
    if dtype == pl.String:
        return _blank_to_null(raw), None
    return raw.cast(pl.String), None


def _problem(failed: pl.Expr, header: str, what: str) -> pl.Expr:
    return pl.when(failed).then(pl.format(f"{header}: '{{}}' {what}", pl.col(header).cast(pl.String)))


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    """Null for "", whitespace and null placeholders; otherwise the value exactly as exported."""
    return pl.when(blank_to_null(text).is_not_null()).then(text)


def _subcategory(described: ExportColumns, schema: pl.Schema) -> pl.Expr:
    """1.0-preview's ChargeSubcategory as a lower-case key (null when the export has none)."""
    headers = [h for h, name in described.custom.items() if name == "x_" + CHARGE_SUBCATEGORY]
    if not headers:
        return pl.lit(None, dtype=pl.String)
    return _blank_to_null(pl.col(headers[0]).cast(pl.String)).str.strip_chars().str.to_lowercase()


def _custom_columns(described: ExportColumns, schema: pl.Schema, keep: bool) -> list[pl.Expr]:
    if not keep:
        return []
    columns = []
    for header, name in described.custom.items():
        value = _blank_to_null(pl.col(header)) if schema[header] == pl.String else pl.col(header)
        columns.append(value.alias(name))
    return columns


# --- Stage 2: values of one version in the spelling of 1.2 -------------------------------------------------


def _spelling_key(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().str.replace_all(r"[\s_\-]", "")


def _respell_enumeration(frame: pl.LazyFrame, column: FocusColumn) -> pl.LazyFrame:
    """Values that are an allowed value (or a legacy one) spelled differently → the FOCUS spelling, through a
    join with a small table (streams; a long when/then chain per column would not be cheaper)."""
    spellings = {_key(v): v for v in column.allowed_values} | _LEGACY_VALUES.get(column.name, {})
    key, canonical = f"__key_{column.name}", f"__canonical_{column.name}"
    table = pl.LazyFrame(
        {key: list(spellings), canonical: list(spellings.values())},
        schema={key: pl.String, canonical: pl.String},
    )
    return (
        frame.with_columns(_spelling_key(pl.col(column.name)).alias(key))
        .join(table, on=key, how="left", maintain_order="left")
        .with_columns(pl.coalesce(canonical, column.name).alias(column.name))
        .drop(key, canonical)
    )


def _key(value: str) -> str:
    return value.lower().replace(" ", "").replace("-", "").replace("_", "")


def _upgraded_meanings() -> dict[str, pl.Expr]:
    """What 1.0-preview said with ChargeSubcategory, said with 1.2 columns (only where 1.2 says nothing)."""
    sub = pl.col(_SUBCATEGORY)
    return {
        "ChargeClass": pl.coalesce("ChargeClass", pl.when(sub == "refund").then(pl.lit("Correction"))),
        "CommitmentDiscountStatus": pl.coalesce(
            "CommitmentDiscountStatus",
            pl.when(sub == "used commitment")
            .then(pl.lit("Used"))
            .when(sub == "unused commitment")
            .then(pl.lit("Unused")),
        ),
        "ChargeCategory": pl.when((pl.col("ChargeCategory") == "Adjustment") & (sub == "credit"))
        .then(pl.lit("Credit"))
        .otherwise(pl.col("ChargeCategory")),
    }


def _contracted_cost(fallback: Literal["ListCost"] | None) -> pl.Expr:
    derived = (pl.col("ContractedUnitPrice") * pl.col("PricingQuantity")).cast(MONEY)
    candidates = [pl.col("ContractedCost"), derived]
    if fallback == "ListCost":
        candidates.append(pl.col("ListCost"))
    elif fallback is not None:
        raise ValueError(f"contracted_cost_fallback must be 'ListCost' or None, not {fallback!r}")
    return pl.coalesce(candidates)


# --- Stage 3: the quarantine reason -------------------------------------------------------------------------


def _row_problems() -> pl.Expr:
    underivable = pl.when(pl.col("ContractedCost").is_null()).then(
        pl.lit("ContractedCost: missing and not derivable from ContractedUnitPrice × PricingQuantity")
    )
    return _join_reasons([pl.col(_PROBLEMS), underivable])


def _join_reasons(reasons: list[pl.Expr]) -> pl.Expr:
    if not reasons:
        return pl.lit(None, dtype=pl.String)
    joined = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined)  # all-null concat gives "", not null


def _log_renames(described: ExportColumns, source_name: str) -> None:
    if described.renamed_custom:
        log.warning(
            "%s: custom columns without the x_ prefix FOCUS requires, renamed: %s",
            source_name,
            ", ".join(f"{h} → {n}" for h, n in described.renamed_custom.items()),
        )
    if described.upgraded or described.respelled:
        log.info(
            "%s: FOCUS %s export; headers mapped to FOCUS 1.2: %s",
            source_name,
            described.version,
            ", ".join(f"{h} → {n}" for h, n in {**described.upgraded, **described.respelled}.items()),
        )
