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

import functools
import logging
from typing import Literal

import polars as pl

from finops_pipeline.focus.conform import REASON
from finops_pipeline.focus.parsing import (
    NULL_TEXTS,
    OUT_OF_RANGE,
    decimal_product,
    join_reasons,
    lookup,
    number_to_money,
    parse_each_distinct_together,
    to_money,
    to_utc_timestamp,
    unparsed_text,
    unreadable_number,
)
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
_PARSED = "__parsed_"
_RESPELLED = "__respelled_"
_SPELLED = "__spelled_"
_UNPARSED = "__unparsed_"
_DISTINCT = "__distinct"

# Values of enumerated columns older versions (or careless writers) spell differently, by spelling key.
_LEGACY_VALUES = {"PricingCategory": {"ondemand": "Standard", "commitmentbased": "Committed"}}


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

    # Stage 1: each money, date and enumeration header parsed once, into a column of its own: the typed FOCUS
    # column and the header's parse problem both read it (an expression used twice would be computed twice).
    typed, problems = {}, []
    for column in FOCUS_COLUMNS:
        typed[column.name], column_problems = _typed_column(column, described, schema)
        problems += column_problems
    stage = (
        _with_parsed_headers(export, described, schema, FOCUS_COLUMNS)
        .with_columns(
            *(expr.alias(name) for name, expr in typed.items()),
            join_reasons(problems).alias(_PROBLEMS),
            _subcategory(described).alias(_SUBCATEGORY),
            *_custom_columns(described, schema, keep_custom_columns),
        )
        .with_columns(**_upgraded_meanings(described))
        .with_columns(ContractedCost=_contracted_cost(contracted_cost_fallback))
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
    needed = [columns[c] for c in ("BilledCost", "BillingPeriodStart", "ChargePeriodStart")]
    cost, period_start, charge_start = (_typed_column(c, described, schema)[0] for c in needed)
    return (
        _with_parsed_headers(export, described, schema, needed)
        .with_columns(
            cost.alias("__cost"),
            period_start.dt.date().alias("x_BillingPeriodStart"),
            pl.coalesce(charge_start, period_start).dt.date().alias("x_ChargeDay"),
        )
        .group_by(pl.col(SOURCE_FILE), "x_BillingPeriodStart", "x_ChargeDay")
        .agg(
            pl.len().cast(pl.Int64).alias("x_SourceRows"),
            pl.col("__cost").sum().cast(MONEY).alias("x_SourceCost"),
            pl.col("__cost").is_null().sum().cast(pl.Int64).alias("x_UnparsedCostRows"),
        )
    )


# --- Stage 1: export values → typed FOCUS values, and what did not parse -----------------------------------


def _with_parsed_headers(
    export: pl.LazyFrame, described: ExportColumns, schema: pl.Schema, columns: list[FocusColumn]
) -> pl.LazyFrame:
    """The export plus a column of its own for every header feeding one of `columns` that needs parsing:
    `__parsed_<header>` (money → Decimal, dates → UTC datetime), `__unparsed_<header>` (text money that did
    not parse), `__spelled_<header>` and `__respelled_<header>` (enumerations).

    Text dates and enumerations have few distinct values: they are parsed once per distinct value, all in
    one Python call per streaming batch (`parse_each_distinct_together`: one call each cost more than the
    parsing). Text money is `to_money`, which trims only the values a plain cast cannot read.
    """
    first, distinct, second = [], {}, []
    for column in columns:
        for header in described.sources.get(column.name, ()):
            dtype, raw = schema[header], pl.col(header)
            name = _PARSED + header
            if dtype == pl.Null:
                continue
            if column.dtype == MONEY:
                if dtype.is_numeric():
                    first.append(number_to_money(raw).alias(name))
                else:
                    first.append(to_money(raw).alias(name))
                    # The values that did not parse, once: the problem text reads them three times.
                    second.append(unparsed_text(pl.col(name), raw).alias(_UNPARSED + header))
            elif column.dtype == TIMESTAMP and isinstance(dtype, pl.Datetime | pl.Date):
                first.append(_typed_date(raw, dtype).alias(name))
            elif column.dtype == TIMESTAMP:
                distinct[name] = (raw, _text_to_date, TIMESTAMP)
            elif column.allowed_values and dtype == pl.String:
                # Only the values not already spelled as FOCUS spells them (nor placeholders) are parsed:
                # rare, so the parser mostly sees nulls, which cost it less than values.
                # Whether it is spelled is kept for `_typed_value` (a hash probe per row), computed once: polars
                # shares the test between the two expressions of this `with_columns`.
                spelled = _is_spelled(raw, column)
                first.append(spelled.alias(_SPELLED + header))
                others = pl.when(~(spelled | raw.is_in(NULL_TEXTS))).then(raw)
                distinct[_RESPELLED + header] = (others, functools.partial(_respelled_text, column=column), pl.String)
            elif column.allowed_values:
                distinct[_RESPELLED + header] = (raw, functools.partial(_respelled, column=column), pl.String)
    if distinct:
        first.append(parse_each_distinct_together(distinct).alias(_DISTINCT))
        second.append(pl.col(_DISTINCT).struct.unnest())
    return export.with_columns(first).with_columns(second)


def _typed_date(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A parquet Datetime / Date column as a UTC timestamp (null before EARLIEST_YEAR)."""
    value = raw.cast(pl.Datetime("us")).dt.replace_time_zone("UTC") if dtype == pl.Date else raw
    value = value.cast(TIMESTAMP)
    return pl.when(value.dt.year() >= EARLIEST_YEAR).then(value)


def _text_to_date(text: pl.Expr) -> pl.Expr:
    value = to_utc_timestamp(_blank_to_null(text))
    return pl.when(value.dt.year() >= EARLIEST_YEAR).then(value)


def _typed_column(column: FocusColumn, described: ExportColumns, schema: pl.Schema) -> tuple[pl.Expr, list[pl.Expr]]:
    """The FOCUS column from the headers feeding it (first non-null wins), and one problem expr per header."""
    headers = described.sources.get(column.name, ())
    if not headers:
        return pl.lit(None, dtype=column.dtype), []
    values, problems = [], []
    for header in headers:
        value, problem = _typed_value(header, schema[header], column)
        values.append(value)
        if problem is not None:
            problems.append(problem)
    return (values[0] if len(values) == 1 else pl.coalesce(values)), problems


def _typed_value(header: str, dtype: pl.DataType, column: FocusColumn) -> tuple[pl.Expr, pl.Expr | None]:
    """The FOCUS value from one header (reading the `_with_parsed_headers` columns), and its parse problem."""
    raw, target = pl.col(header), column.dtype
    if dtype == pl.Null:
        return pl.lit(None, dtype=target), None
    if target in (MONEY, TIMESTAMP):
        value = pl.col(_PARSED + header)
        if target == MONEY and dtype.is_numeric():
            return value, _problem(raw.is_not_null() & value.is_null(), header, OUT_OF_RANGE)
        if target == TIMESTAMP and isinstance(dtype, pl.Datetime | pl.Date):
            return value, _problem(raw.is_not_null() & value.is_null(), header, "is not a plausible date")
        if target == MONEY:
            return value, unreadable_number(header, pl.col(_UNPARSED + header))
        # A value that did not parse is a problem unless it is blank; the blank test runs on those rows only.
        text = raw.cast(pl.String)
        unparsed = _blank_to_null(pl.when(value.is_null() & ~_is_null_text(text)).then(text))
        return value, pl.format(f"{header}: '{{}}' is not a date", unparsed)
    if column.allowed_values and dtype == pl.String:
        return pl.when(pl.col(_SPELLED + header)).then(raw).otherwise(pl.col(_RESPELLED + header)), None
    if column.allowed_values:
        return pl.col(_RESPELLED + header), None
    if dtype == pl.String:
        return _blank_to_null(raw), None
    return raw.cast(pl.String), None


def _problem(failed: pl.Expr, header: str, what: str) -> pl.Expr:
    """The problem text on the failed rows (null elsewhere): only those rows' values are formatted (masked
    before the cast to text, which would otherwise format every value of the column)."""
    return pl.format(f"{header}: '{{}}' {what}", pl.when(failed).then(pl.col(header)).cast(pl.String))


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    """Null for "", whitespace and null placeholders; otherwise the value exactly as exported.

    What `blank_to_null` nulls, in one conditional instead of two (`blank_to_null` keeps the trimmed text,
    which would be tested and then replaced by the untrimmed one: 35 → 22 ns a value, on every text column)."""
    return pl.when(~text.cast(pl.String).str.strip_chars().is_in(NULL_TEXTS)).then(text)


def _is_null_text(text: pl.Expr) -> pl.Expr:
    """Whether the text is a placeholder exactly as `_blank_to_null` nulls it once trimmed.

    Checked before anything is done only to the rows whose value did not parse: those are mostly "NULL"s, and
    leaving them out leaves no row at all in most streaming batches, which polars then skips as one null
    (the trim, the problem text and the join of a row's problems run on every row of a batch otherwise)."""
    return text.is_in(NULL_TEXTS)


def _subcategory_header(described: ExportColumns) -> str | None:
    """1.0-preview's ChargeSubcategory header, if the export has one."""
    return next((h for h, name in described.custom.items() if name == "x_" + CHARGE_SUBCATEGORY), None)


def _subcategory(described: ExportColumns) -> pl.Expr:
    """1.0-preview's ChargeSubcategory as a lower-case key (null when the export has none)."""
    header = _subcategory_header(described)
    if header is None:
        return pl.lit(None, dtype=pl.String)
    return _blank_to_null(pl.col(header).cast(pl.String)).str.strip_chars().str.to_lowercase()


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


def _respelled_text(text: pl.Expr, column: FocusColumn) -> pl.Expr:
    return _respelled(_blank_to_null(text), column)


def _is_spelled(text: pl.Expr, column: FocusColumn) -> pl.Expr:
    """Whether the text is an allowed value as FOCUS spells it (so respelling leaves it as it is)."""
    return text.is_in(_unchanged_by_respelling(column))


@functools.cache
def _unchanged_by_respelling(column: FocusColumn) -> tuple[str, ...]:
    """The allowed values `_respelled_text` returns as they are (all of them, unless two differ only in case,
    spaces, hyphens or underscores), found by running it on them once."""
    values = pl.Series(column.allowed_values, dtype=pl.String)
    respelled = pl.select(_respelled_text(pl.lit(values), column)).to_series()
    return tuple(values.filter(respelled.eq_missing(values)))


def _respelled(text: pl.Expr, column: FocusColumn) -> pl.Expr:
    """A value that is an allowed value (or a legacy one) spelled differently → the FOCUS spelling."""
    spellings = {_key(v): v for v in column.allowed_values} | _LEGACY_VALUES.get(column.name, {})
    return pl.coalesce(lookup(_spelling_key(text), spellings), text)


def _key(value: str) -> str:
    return value.lower().replace(" ", "").replace("-", "").replace("_", "")


def _upgraded_meanings(described: ExportColumns) -> dict[str, pl.Expr]:
    """What 1.0-preview said with ChargeSubcategory, said with 1.2 columns (only where 1.2 says nothing).
    Nothing to do for an export without it (three columns not rewritten on every row)."""
    if _subcategory_header(described) is None:
        return {}
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
    # Derived only where it is missing: a Decimal product rescaled to 10 places costs ~25 ns a row, and
    # arithmetic does not skip the rows a coalesce would not use (masked inputs make those rows free).
    missing = pl.col("ContractedCost").is_null()
    derived = decimal_product(
        pl.when(missing).then(pl.col("ContractedUnitPrice")), pl.when(missing).then(pl.col("PricingQuantity"))
    )
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
    # What `join_reasons` would give, without building a string on every row (a concat_str, then a test for
    # "", costs ~60 ns a row; rows with both reasons are rare, and only they are concatenated).
    parse = pl.col(_PROBLEMS)
    return (
        pl.when(parse.is_null())
        .then(underivable)
        .when(underivable.is_null())
        .then(parse)
        .otherwise(pl.concat_str([parse, underivable], separator="; "))
    )


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
