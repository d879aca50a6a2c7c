"""Read AWS Cost and Usage Report files into one lazy frame with canonical (Athena snake_case) column names.

Three layouts arrive in the same S3 prefixes over the years, and a billing period may mix them:

* legacy CUR CSV (gzip, zip or plain): headers like `lineItem/UsageStartDate`, `resourceTags/user:Team`;
* legacy CUR parquet (the Athena integration): `line_item_usage_start_date`, `resource_tags_user_team`;
* CUR 2.0 parquet (Data Exports): the same snake_case names, plus map columns `product`, `resource_tags`,
  `cost_category` and `discount`, and `bill_payer_account_name` / `line_item_usage_account_name`.

`scan_cur` reads only the columns the FOCUS mapping needs (`CUR_COLUMNS` plus the tag columns). Values are
never parsed here when parsing can fail: CSV columns stay text (so money stays exact and a bad value can be
reported with its text), and the mapping parses them and names what did not parse. Conversions that cannot
fail happen here: blank text → null, parquet doubles → Decimal(38, 10), integer account ids → zero-padded
text, naive timestamps → UTC. A file that cannot be read at all, or lacks a column the mapping cannot do
without, raises `SourceFileError` naming the file (and the column).
"""

import re
import zipfile
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

import polars as pl

from finops_pipeline.focus.parsing import blank_columns_to_null, number_to_money, to_money, to_utc_timestamp
from finops_pipeline.focus.schema import MONEY, TIMESTAMP
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.files import (
    bare_header,
    csv_frame,
    csv_source,
    leading_bytes,
    paths_and_names,
    text_where_types_differ,
)

SOURCE_FILE = "x_SourceFile"
SOURCE_ROW = "x_SourceRowNumber"
TAG_PREFIX = "resource_tags_"  # one column per tag (legacy CUR)
TAG_MAP = "resource_tags"  # one map column of all tags (CUR 2.0)
PRODUCT_MAP = "product"  # CUR 2.0: product attributes outside its fixed schema


class Kind(Enum):
    TEXT = "text"
    ACCOUNT = "account"  # 12-digit AWS account id; parquet may store it as an integer
    NUMBER = "number"  # money or quantity, Decimal(38, 10) once parsed
    TIMESTAMP = "timestamp"


# The columns the FOCUS mapping reads (and nothing else is read), by canonical name.
CUR_COLUMNS: dict[str, Kind] = {
    "bill_invoice_id": Kind.TEXT,
    "bill_invoicing_entity": Kind.TEXT,
    "bill_billing_entity": Kind.TEXT,
    "bill_payer_account_id": Kind.ACCOUNT,
    "bill_payer_account_name": Kind.TEXT,
    "bill_billing_period_start_date": Kind.TIMESTAMP,
    "bill_billing_period_end_date": Kind.TIMESTAMP,
    "line_item_usage_account_id": Kind.ACCOUNT,
    "line_item_usage_account_name": Kind.TEXT,
    "line_item_line_item_type": Kind.TEXT,
    "line_item_usage_start_date": Kind.TIMESTAMP,
    "line_item_usage_end_date": Kind.TIMESTAMP,
    "line_item_product_code": Kind.TEXT,
    "line_item_availability_zone": Kind.TEXT,
    "line_item_resource_id": Kind.TEXT,
    "line_item_usage_amount": Kind.NUMBER,
    "line_item_currency_code": Kind.TEXT,
    "line_item_unblended_cost": Kind.NUMBER,
    "line_item_net_unblended_rate": Kind.NUMBER,
    "line_item_net_unblended_cost": Kind.NUMBER,
    "line_item_line_item_description": Kind.TEXT,
    "line_item_legal_entity": Kind.TEXT,
    "product_product_name": Kind.TEXT,
    "product_region_code": Kind.TEXT,
    "product_region": Kind.TEXT,
    "product_sku": Kind.TEXT,
    "product_purchase_option": Kind.TEXT,
    "pricing_rate_code": Kind.TEXT,
    "pricing_rate_id": Kind.TEXT,
    "pricing_public_on_demand_rate": Kind.NUMBER,
    "pricing_public_on_demand_cost": Kind.NUMBER,
    "pricing_term": Kind.TEXT,
    "pricing_unit": Kind.TEXT,
    "reservation_reservation_a_r_n": Kind.TEXT,
    "reservation_effective_cost": Kind.NUMBER,
    "reservation_unused_amortized_upfront_fee_for_billing_period": Kind.NUMBER,
    "reservation_unused_recurring_fee": Kind.NUMBER,
    # The RI hours nothing used in the billing period (on RIFee rows): the Unused row's quantity. Every
    # sample with the two unused-fee columns above has it too; where it is missing it is null, and so is
    # the quantity of the RI's Unused row (not derivable row by row: it is reserved minus used hours).
    "reservation_unused_quantity": Kind.NUMBER,
    # Size flexibility: a regional RI covers any size of its instance family, counted in normalised units
    # (hours × this factor: nano 0.25 … large 4 … xlarge 8), so the hours of a t2.large it covers and the
    # hours of the t2.nano it is are not the same unit. On EC2 and RDS rows (DiscountedUsage, RIFee, Fee);
    # null elsewhere and where a file lacks it, and the RI's quantities stay in hours.
    "line_item_normalization_factor": Kind.NUMBER,
    # What an RI's upfront Fee row buys (FOCUS: the hours its one-time payment makes eligible over the term):
    # how many RIs, and their lease (start/end, else the contract length "1yr"/"3yr"). Kept as text here and
    # parsed by the mapping on those Fee rows only: no other row needs them, so a value there that does not
    # parse neither quarantines a row nor costs a date parse per row. Null where a file lacks them, and so
    # is the Fee row's quantity.
    "reservation_number_of_reservations": Kind.TEXT,
    "reservation_start_time": Kind.TEXT,
    "reservation_end_time": Kind.TEXT,
    "pricing_lease_contract_length": Kind.TEXT,
    "savings_plan_savings_plan_a_r_n": Kind.TEXT,
    "savings_plan_savings_plan_effective_cost": Kind.NUMBER,
    "savings_plan_total_commitment_to_date": Kind.NUMBER,
    "savings_plan_used_commitment": Kind.NUMBER,
}

# Without these a row cannot be placed, costed or reconciled; a file lacking one is unreadable for us.
# The CSV spelling is only for the error message.
REQUIRED_COLUMNS: dict[str, str] = {
    "line_item_line_item_type": "lineItem/LineItemType",
    "line_item_unblended_cost": "lineItem/UnblendedCost",
    "line_item_usage_start_date": "lineItem/UsageStartDate",
    "line_item_usage_end_date": "lineItem/UsageEndDate",
    "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
    "bill_billing_period_end_date": "bill/BillingPeriodEndDate",
    "bill_payer_account_id": "bill/PayerAccountId",
    "line_item_currency_code": "lineItem/CurrencyCode",
}

# Spellings of the same column seen in the wild → the Athena spelling.
_ALIASES = {
    "reservation_reservation_arn": "reservation_reservation_a_r_n",
    "savings_plan_savings_plan_arn": "savings_plan_savings_plan_a_r_n",
}

_Cleaner = Callable[[pl.Expr], pl.Expr]
_DTYPE_OF_MISSING = {Kind.TEXT: pl.String, Kind.ACCOUNT: pl.String, Kind.NUMBER: MONEY, Kind.TIMESTAMP: TIMESTAMP}


def canonical_column_name(header: str) -> str:
    """A CUR header in any of its spellings → the Athena snake_case name the rest of the code uses.

    * CSV `category/Name`: each part snake_cased the way Athena does it, an underscore before every capital
      (`lineItem/UsageStartDate` → `line_item_usage_start_date`, `reservation/ReservationARN` →
      `reservation_reservation_a_r_n`), other punctuation → `_`.
    * Tags keep their key verbatim, because tag keys are case-sensitive (`Team` and `team` are different
      tags): `resourceTags/user:Team` → `resource_tags_user_Team`, `resourceTags/aws:createdBy` →
      `resource_tags_aws_createdBy`. Athena/CUR 2.0 tag columns (`resource_tags_user_team`) are kept as is.
    * Athena/CUR 2.0 names are lower-cased; known variants are aliased (`…_arn` → `…_a_r_n`).
    """
    header = bare_header(header)
    if "/" in header:
        category, name = header.split("/", 1)
        if category == "resourceTags":
            scope, _, key = name.partition(":")
            return f"{TAG_PREFIX}{scope}_{key}" if key else f"{TAG_PREFIX}{name}"
        header = f"{_athena_snake(category)}_{_athena_snake(name)}"
    elif header.startswith(TAG_PREFIX):
        return header
    header = header.lower()
    return _ALIASES.get(header, header)


def _athena_snake(part: str) -> str:
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", part).lower()
    return re.sub(r"[^a-z0-9]+", "_", snake).strip("_")


def scan_cur(files: Sequence[Path], *, source_names: Sequence[str] | None = None) -> pl.LazyFrame:
    """CUR files (any mix of the three layouts) → one lazy frame of the mapped columns.

    Columns: every name in CUR_COLUMNS (typed null where a file lacks it), the tag columns
    (`resource_tags_<scope>_<key>` text columns and/or the CUR 2.0 `resource_tags` map), `x_SourceFile`
    (`source_names[i]`, else the absolute path) and `x_SourceRowNumber` (1-based data row in that file).
    Files with different columns are concatenated diagonally; where files disagree on a column's type
    (CSV text vs parquet decimal), it is text for all of them and the mapping parses it.
    """
    paths, names = paths_and_names(files, source_names)
    if not paths:
        return pl.LazyFrame(schema=_empty_schema())
    frames = [_scan_file(path, name) for path, name in zip(paths, names, strict=True)]
    return pl.concat(text_where_types_differ(frames, except_columns={TAG_MAP}), how="diagonal")


def parse_number(column: str, dtype: pl.DataType) -> pl.Expr:
    """The column as Decimal(38, 10): text is parsed (null when it is not a number), numbers are cast."""
    return to_money(pl.col(column)) if dtype == pl.String else number_to_money(pl.col(column))


def parse_timestamp(column: str, dtype: pl.DataType) -> pl.Expr:
    """The column as Datetime(us, UTC): text is parsed (null when it is not a date), datetimes are cast."""
    return to_utc_timestamp(pl.col(column)) if dtype == pl.String else pl.col(column).cast(TIMESTAMP)


def cur_source_totals(cur: pl.LazyFrame) -> pl.LazyFrame:
    """What reconciliation compares the FOCUS rows against, computed from the CUR alone.

    Per billing period start (Date), charge day and source file: `x_SourceRows`, `x_SourceCost`
    (Σ parsed line_item_unblended_cost, Decimal(38, 10)) and `x_UnparsedCostRows` (rows whose cost is missing
    or not a number). The charge day is the usage start day, or the billing period start day when the usage
    start does not parse — the same rule the mapping uses for x_ChargeDay.
    """
    schema = cur.collect_schema()
    cost = parse_number("line_item_unblended_cost", schema["line_item_unblended_cost"])
    period_start = parse_timestamp("bill_billing_period_start_date", schema["bill_billing_period_start_date"])
    usage_start = parse_timestamp("line_item_usage_start_date", schema["line_item_usage_start_date"])
    return cur.group_by(
        period_start.dt.date().alias("x_BillingPeriodStart"),
        pl.coalesce(usage_start, period_start).dt.date().alias("x_ChargeDay"),
        pl.col(SOURCE_FILE),
    ).agg(
        pl.len().cast(pl.Int64).alias("x_SourceRows"),
        cost.sum().cast(MONEY).alias("x_SourceCost"),
        cost.is_null().sum().cast(pl.Int64).alias("x_UnparsedCostRows"),
    )


def _empty_schema() -> dict[str, pl.DataType]:
    return {
        **{name: _DTYPE_OF_MISSING[kind] for name, kind in CUR_COLUMNS.items()},
        SOURCE_FILE: pl.String,
        SOURCE_ROW: pl.Int64,
    }


def _scan_file(path: Path, name: str) -> pl.LazyFrame:
    magic = leading_bytes(path, name)
    if magic == b"PAR1":
        frame, headers = _scan_parquet(path, name)
        return _select_mapped_columns(frame, headers, name, blank=_empty_to_null, blank_tag=_empty_to_null)
    frame, headers = _read_csv(path, name, magic)  # its text columns are blank → null already
    return _select_mapped_columns(frame, headers, name, blank=lambda blanked: blanked, blank_tag=_whitespace_to_null)


def _scan_parquet(path: Path, name: str) -> tuple[pl.LazyFrame, dict[str, str]]:
    """Lazy scan; only the footer is read here. Renames are applied by _select_mapped_columns."""
    frame = pl.scan_parquet(path, row_index_name=SOURCE_ROW, row_index_offset=1)
    try:
        columns = [c for c in frame.collect_schema() if c != SOURCE_ROW]
    except (pl.exceptions.PolarsError, OSError) as error:
        raise SourceFileError(name, f"not a readable parquet file: {error}") from error
    return frame, _canonical_headers(columns)


def _read_csv(path: Path, name: str, magic: bytes) -> tuple[pl.LazyFrame, dict[str, str]]:
    """The needed columns of a CSV export, all as text, CUR text columns blank → null. Read eagerly (a broken
    file fails here, by name) unless it is larger than `EAGER_CSV_MAX_BYTES`, then scanned lazily."""
    try:
        if magic.startswith(b"PK"):  # legacy CUR's ZIP option: one CSV inside
            with zipfile.ZipFile(path) as archive:
                source: Path | bytes = archive.read(archive.namelist()[0])
        else:
            source = csv_source(path)
        headers = _canonical_headers(pl.read_csv(source, n_rows=0, infer_schema=False).columns)
        wanted = [original for original, canonical in headers.items() if _is_mapped(canonical)]
        frame = csv_frame(source, columns=wanted, row_index_name=SOURCE_ROW).lazy()
    except (pl.exceptions.PolarsError, OSError, EOFError, zipfile.BadZipFile, IndexError) as error:
        raise SourceFileError(name, f"cannot read CSV: {error}") from error
    # Each column trimmed once (`blank_to_null` per column trims twice). Tag values stay verbatim.
    text = [original for original in wanted if CUR_COLUMNS.get(headers[original]) in (Kind.TEXT, Kind.ACCOUNT)]
    return blank_columns_to_null(frame, text), headers


def _canonical_headers(columns: Sequence[str]) -> dict[str, str]:
    """original header → canonical name; the first of two headers with the same canonical name wins."""
    headers: dict[str, str] = {}
    for original in columns:
        canonical = canonical_column_name(original)
        if canonical not in headers.values():
            headers[original] = canonical
    return headers


def _is_mapped(canonical: str) -> bool:
    return canonical in CUR_COLUMNS or canonical.startswith(TAG_PREFIX) or canonical in (TAG_MAP, PRODUCT_MAP)


def _select_mapped_columns(
    frame: pl.LazyFrame, headers: dict[str, str], name: str, *, blank: _Cleaner, blank_tag: _Cleaner
) -> pl.LazyFrame:
    """The CUR_COLUMNS (typed null when absent) and tag columns of one file, with lineage columns.

    `blank` / `blank_tag` turn missing values into nulls: AWS writes "" in parquet, and CSV text may also be
    whitespace (or "NULL"); tag values are otherwise kept verbatim.
    """
    schema = frame.collect_schema()
    by_canonical = {canonical: original for original, canonical in headers.items()}
    product = by_canonical.get(PRODUCT_MAP)

    def source_of(column: str) -> pl.Expr | None:
        if column in by_canonical:
            return pl.col(by_canonical[column])
        if product is not None and column.startswith("product_"):
            # CUR 2.0 keeps product attributes outside its fixed schema in the `product` map, keyed
            # without the prefix (product_product_name → product['product_name']).
            return _as_map(pl.col(product), schema[product]).map.get(column.removeprefix("product_"))
        return None

    missing = [c for c in REQUIRED_COLUMNS if c not in by_canonical]
    if missing:
        column = missing[0]
        raise SourceFileError(name, f"required column {column} ({REQUIRED_COLUMNS[column]}) is missing", column=column)

    selected = []
    for column, kind in CUR_COLUMNS.items():
        expr = source_of(column)
        if expr is None:
            selected.append(pl.lit(None, dtype=_DTYPE_OF_MISSING[kind]).alias(column))
        else:
            dtype = schema[by_canonical[column]] if column in by_canonical else pl.String
            expr = _normalise(expr, kind, dtype)
            selected.append((blank(expr) if kind in (Kind.TEXT, Kind.ACCOUNT) else expr).alias(column))
    for canonical, original in by_canonical.items():
        if canonical.startswith(TAG_PREFIX):
            selected.append(blank_tag(pl.col(original).cast(pl.String)).alias(canonical))
        elif canonical == TAG_MAP:
            selected.append(_as_map(pl.col(original), schema[original]).alias(TAG_MAP))
    selected += [pl.lit(name).alias(SOURCE_FILE), pl.col(SOURCE_ROW).cast(pl.Int64)]
    return frame.select(selected)


def _normalise(expr: pl.Expr, kind: Kind, dtype: pl.DataType) -> pl.Expr:
    """Conversions that cannot fail. Text stays text: the mapping parses it and reports what did not parse."""
    if dtype == pl.String:
        return expr
    if kind is Kind.NUMBER:
        return number_to_money(expr)
    if kind is Kind.TIMESTAMP and isinstance(dtype, pl.Datetime):
        # CUR parquet timestamps are UTC; polars reads some of them as naive.
        utc = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")
        return utc.cast(TIMESTAMP)
    if kind is Kind.TIMESTAMP and dtype == pl.Date:
        return expr.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if kind is Kind.ACCOUNT and dtype.is_integer():
        return expr.cast(pl.String).str.zfill(12)  # account ids are 12 digits; leading zeros matter
    return expr.cast(pl.String)


def _empty_to_null(text: pl.Expr) -> pl.Expr:
    return pl.when(text != "").then(text)


def _whitespace_to_null(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.strip_chars() != "").then(text)


def _as_map(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """CUR 2.0 map columns are Map(String, String); older writers store them as a list of key/value structs."""
    return expr.list.to_map() if isinstance(dtype, pl.List) else expr
