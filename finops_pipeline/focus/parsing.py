"""Parsers shared by every source: text as exported by a provider → typed polars columns.

They never raise on a bad value: they return null, and the caller compares with the input to name the
row and column that did not parse (see `conform.py` and the source normalisers).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from finops_pipeline.focus.schema import MONEY, TIMESTAMP

# Date/time layouts seen in real exports (reference §3.6). No text fits two of them (each differs from the
# others in a separator, a part or the offset), so the order is only the order they are tried in: the common
# ones first.
_OFFSET_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y",
    "%Y%m%d",
)


def _in_layout(fmt: str) -> Callable[[pl.Expr], pl.Expr]:
    """Cleaned text → Datetime(us, UTC) if it is in layout `fmt` (naive: taken as UTC), else null."""
    if "%z" in fmt:
        return lambda text: text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False).cast(TIMESTAMP)
    return lambda text: text.str.strptime(pl.Datetime("us"), fmt, strict=False).dt.replace_time_zone("UTC")


_LAYOUTS = [_in_layout(fmt) for fmt in (*_OFFSET_FORMATS, *_NAIVE_FORMATS)]


def to_utc_timestamp(expr: pl.Expr) -> pl.Expr:
    """Text or datetime → Datetime(us, UTC). Naive values are taken as UTC; `Z`/offsets are honoured."""
    return expr.cast(pl.String).map_batches(_utc_timestamps, return_dtype=TIMESTAMP, is_elementwise=True)


def _utc_timestamps(text: pl.Series) -> pl.Series:
    """`to_utc_timestamp` of a batch: each layout is tried only on the values the ones before it left.

    As one expression (a coalesce of a parse per layout) every layout ran on every value: ~3 µs a value, which
    on a column of mostly distinct values (GCP's `export_time`) was most of the mapping's time. Tried in turn,
    a value in the first layout costs one parse (~0.4 µs)."""
    cleaned = text.str.strip_chars().str.replace(r"(?i)\s*UTC$", "").str.replace(r"Z$", "+00:00")
    first, *others = _LAYOUTS
    parsed = cleaned.to_frame().select(first(pl.first())).to_series()
    rows = (parsed.is_null() & cleaned.is_not_null()).arg_true()
    for layout in others:
        if rows.is_empty():
            break
        found = cleaned.gather(rows).to_frame().select(layout(pl.first())).to_series()
        now = found.is_not_null()
        parsed = parsed.scatter(rows.filter(now), found.filter(now))
        rows = rows.filter(~now)
    # chrono's %Y also takes "25" in "5/1/25" as year 25: a two-digit year is ambiguous, so not a date.
    return parsed.to_frame().select(pl.when(pl.first().dt.year() >= 1900).then(pl.first())).to_series().alias(text.name)


# What exports write for a missing value (once trimmed); `blank_to_null` makes them null.
NULL_TEXTS = ("", "NULL", "null", "None", "N/A")


# Largest magnitude a money or quantity value may have. Decimal(38, 10) holds up to 1e28, but polars fails a
# whole sum on an overflow, so one garbage value (a 9e27 cost) would fail every total of its file; below 1e24,
# 10,000 of them still add up. The largest real values are far below it (a petabyte-month in byte-seconds is
# ~2.6e21).
MONEY_LIMIT = 1e24
MONEY_IN_RANGE = pl.Decimal(MONEY.precision - 4, MONEY.scale)  # what a cast to it does not null: |value| < 1e24
OUT_OF_RANGE = f"is out of range (magnitude {MONEY_LIMIT:.0e} or more)"


def to_money(expr: pl.Expr) -> pl.Expr:
    """Text or number → Decimal(38, 10); plain and E-notation accepted, surrounding whitespace ignored,
    anything else (and a magnitude of `MONEY_LIMIT` or more) → null.

    Cast as it is first (the decimal cast takes no whitespace, so what it reads had none to trim); only the
    values that fail, exact placeholders ("NULL") set aside, are trimmed and cast again. Trimming builds a new
    string per value, and in most streaming batches no value is left, so the retry is one all-null column."""
    text = expr.cast(pl.String)
    plain = text.cast(MONEY_IN_RANGE, strict=False)
    unread = pl.when(plain.is_null() & ~text.is_in(NULL_TEXTS)).then(text)
    return pl.coalesce(plain, unread.str.strip_chars().cast(MONEY_IN_RANGE, strict=False)).cast(MONEY)


def number_to_money(expr: pl.Expr) -> pl.Expr:
    """A numeric column (integer, float or decimal) → Decimal(38, 10); null for NaN, infinities and magnitudes
    of `MONEY_LIMIT` or more (a cast of a float too large for the decimal raises, even when not strict).

    Floats are cast as they are, binary fraction and all (0.07 → 0.0700000000, 1234567.89 → 1234567.8899999998);
    `to_money(expr.cast(pl.String))` reads their shortest text instead, exact but slower."""
    return pl.when(expr.abs() < MONEY_LIMIT).then(expr).cast(MONEY, strict=False)


def unreadable_number(column: str, unparsed: pl.Expr) -> pl.Expr:
    """`<column>: '<text>' is not a number`, or `… is out of range` for a number of magnitude `MONEY_LIMIT` or
    more, where `unparsed` (the text of the values that did not parse, null elsewhere) is not null."""
    # A float, yet not a decimal in range. The reason is null where `unparsed` is (most rows): a `when` that
    # chose between two texts on every row would build one for every row of every batch.
    too_large = unparsed.cast(pl.Float64, strict=False).is_not_nan()
    why = pl.when(too_large).then(pl.lit(OUT_OF_RANGE)).when(unparsed.is_not_null()).then(pl.lit("is not a number"))
    return pl.format(f"{column}: '{{}}' {{}}", unparsed, why)


def join_reasons(reasons: Sequence[pl.Expr]) -> pl.Expr:
    """The reasons (each null where it does not apply) "; "-joined; null where none applies."""
    if not reasons:
        return pl.lit(None, dtype=pl.String)
    return empty_to_null(pl.concat_str(reasons, separator="; ", ignore_nulls=True))


def empty_to_null(text: pl.Expr) -> pl.Expr:
    """`text` with "" made null, `text` evaluated once.

    `when(text != "").then(text)` evaluates it twice where polars does not share the expression between the
    two places (a `concat_str` of reasons, a `list.eval`): every reason was computed twice. `replace("", None)`
    evaluates it once but made the FOCUS export 8% slower and its peak memory 60% higher (2M rows)."""
    return text.str.extract(r"(?s)(.+)", 1)


def decimal_product(*factors: pl.Expr, divided_by: pl.Expr | None = None) -> pl.Expr:
    """Decimal(38, 10) product of `factors`, then divided by `divided_by` if given; null where it would reach
    `MONEY_LIMIT` or the divisor is 0. polars raises for the whole frame on an overflow or a division by zero (even on
    rows a `when` does not use), so a garbage value would otherwise fail every row instead of leaving one null."""
    estimate = pl.lit(1.0)
    for factor in factors:
        estimate = estimate * factor.cast(pl.Float64)
    fits = estimate.abs() < MONEY_LIMIT
    if divided_by is not None:
        fits = fits & (divided_by != 0) & ((estimate / divided_by.cast(pl.Float64)).abs() < MONEY_LIMIT)
    first, *rest = factors
    product = pl.when(fits).then(first)
    for factor in rest:
        product = product * factor
    if divided_by is not None:
        product = product / pl.when(fits).then(divided_by)
    return product.cast(MONEY)


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Exports write missing values as "", "NULL" or whitespace; FOCUS wants real nulls."""
    text = expr.cast(pl.String).str.strip_chars()
    return pl.when(~text.is_in(NULL_TEXTS)).then(text)  # keeps the column's name


def blank_columns_to_null(frame: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """`blank_to_null` on each of `columns` of a frame, trimming each once.

    For many columns at a time. Within one expression polars does not share a sub-expression: the trim in
    `blank_to_null` runs twice (for the placeholder test and for the value), nearly doubling its cost."""
    trimmed = frame.with_columns(pl.col(columns).cast(pl.String).str.strip_chars())
    return trimmed.with_columns(pl.when(~pl.col(c).is_in(NULL_TEXTS)).then(pl.col(c)) for c in columns)


def unparsed_text(parsed: pl.Expr, text: pl.Expr) -> pl.Expr:
    """`text` (trimmed) where it is not blank (`blank_to_null`) and yet `parsed` is null; null elsewhere.

    For naming the values that did not parse. Only those rows are trimmed: exact placeholders are set aside
    first, so in most streaming batches nothing is left and the trim runs on one all-null column."""
    return blank_to_null(pl.when(parsed.is_null() & ~text.is_in(NULL_TEXTS)).then(text))


Parser = Callable[[pl.Expr], pl.Expr]  # text expression → parsed expression


def reading_once(value: pl.Expr, use: Callable[[pl.Expr], pl.Expr], dtype: pl.DataType) -> pl.Expr:
    """`use(value)`, with `value` worked out once per batch however often `use` reads it.

    polars evaluates a sub-expression again in every place an expression reads it: its common sub-expression
    elimination does not reach into struct fields, `list.eval` or `when/then`. The GCP credit summary reads
    the parsed credits ~25 times; as one expression it parsed each cell ~25 times (13 s for 70k cells)."""

    def run(batch: pl.Series) -> pl.Series:
        return batch.to_frame("value").select(use(pl.col("value")).alias(batch.name)).to_series()

    return value.map_batches(run, return_dtype=dtype, is_elementwise=True)


# A parse cache keeps at most this many distinct values (per expression); beyond it each batch parses its own.
_DISTINCT_CACHE_LIMIT = 50_000


def parse_each_distinct(text: pl.Expr, parse: Parser, dtype: pl.DataType) -> pl.Expr:
    """`parse(text)` for a text column, computed once per distinct value and spread back to its rows.

    For parsers that try many formats or rewrite text (dates, lists of records) on columns with few distinct
    values (usage hours, label sets): the work is per distinct value, not per row. The distinct values
    already parsed are remembered across the batches of the expression (up to `_DISTINCT_CACHE_LIMIT`), so
    a batch whose values were all seen before costs one hash per row (a cast to an Enum of the known values)
    and a gather, run as one prepared expression. Row i of the result depends only on row i of the input, so
    it is declared elementwise and streams batch by batch.

    Why a batch function and not the same steps as one expression (`parse(distinct).gather(rank)`): polars
    2.1's common-subexpression elimination hoists a sub-expression that `parse` repeats (e.g. a cleaned
    text each branch of a coalesce reads) out of the shorter `distinct` series into a frame-length
    column, and the in-memory engine then fails with "assertion `left == right` failed" (or reads past the
    end) once a join follows. Inside the function each step is row-aligned, so nothing can be mis-hoisted.
    """
    parser = _DistinctParser(parse, dtype)

    def parse_batch(batch: pl.Series) -> pl.Series:
        return _parse_columns(batch.to_frame(), {batch.name: parser}).to_series()

    return text.cast(pl.String).map_batches(parse_batch, return_dtype=dtype, is_elementwise=True)


def parse_each_distinct_together(parsers: dict[str, tuple[pl.Expr, Parser, pl.DataType]]) -> pl.Expr:
    """Several `parse_each_distinct(text, parse, dtype)` at once, as one struct column with a field per name.

    The same work per column, but one Python call per streaming batch for all of them instead of one each,
    and the values seen before are gathered for every column in one `select`: with polars' CSV batches of
    ~2,000 rows, each crossing into Python (and waiting for its lock while the other thread is in it) and each
    polars call from it (~60–120 µs: most Series methods run as a small query) cost more than the parsing."""
    texts = [text.cast(pl.String).alias(name) for name, (text, _, _) in parsers.items()]
    dtype = pl.Struct({name: parser_dtype for name, (_, _, parser_dtype) in parsers.items()})
    each = {name: _DistinctParser(parse, parser_dtype) for name, (_, parse, parser_dtype) in parsers.items()}

    def parse_batch(batch: pl.Series) -> pl.Series:
        return _parse_columns(batch.struct.unnest(), each).to_struct(batch.name)

    return pl.struct(texts).map_batches(parse_batch, return_dtype=dtype, is_elementwise=True)


def _parse_columns(texts: pl.DataFrame, parsers: "dict[str, _DistinctParser]") -> pl.DataFrame:
    """Each text column of a batch through its parser: the values already parsed are looked up for all columns
    in one `select` (of their indexes among the known texts); a column with a value not seen before goes
    through its parser's `parse_new`."""
    known = {name: parser.known for name, parser in parsers.items()}  # one snapshot each (thread safety)
    ready = {name: k for name, k in known.items() if k is not None}
    indexes = texts.select(k.index for k in ready.values()) if ready else None
    columns = []
    for name, parser in parsers.items():
        text = texts.get_column(name)
        index = indexes.get_column(name) if name in ready else None
        if index is not None and index.null_count() == text.null_count():  # every value seen before
            columns.append(ready[name].values[index].alias(name))  # (`[]`: a gather without a query)
        else:
            columns.append(parser.parse_new(text, known[name], index))
    return pl.DataFrame(columns)


@dataclass(frozen=True)
class _Known:
    """The texts a parser has parsed (as an Enum), their values in the same order, and `index`: the expression
    giving each value of the text column its index among those texts (null where not one of them). It is made
    once per cache state, not per batch: making an expression of an Enum dtype copies all its categories
    (~7 ms for 50k), running it does not."""

    enum: pl.Enum
    values: pl.Series
    index: pl.Expr


class _DistinctParser:
    """The parse cache of one `parse_each_distinct` column. Thread-safe: a batch reads one snapshot of the
    cache (`known`) and a batch with new values replaces it whole (a lost update only costs a re-parse)."""

    def __init__(self, parse: Callable[[pl.Expr], pl.Expr], dtype: pl.DataType) -> None:
        self._parse, self._dtype = parse, dtype
        self.known: _Known | None = None

    def parse_new(self, batch: pl.Series, known: _Known | None, index: pl.Series | None) -> pl.Series:
        """`batch` parsed: the values in `known` gathered (`index`: their indexes there, from `known.index`),
        the others parsed once each and added to the cache while it holds fewer than `_DISTINCT_CACHE_LIMIT`.

        The new values are spread back through an Enum of this batch's new values alone. An Enum of all known
        values as well would be built by every batch that brings a new value, which on a column of mostly
        distinct values (GCP's `export_time`) is every batch: on 2M such rows those rebuilds cost 1.35 s and
        ~470 MiB of peak memory (benchmarks/README.md, "GCP with commitments")."""
        unseen = batch.is_not_null() if known is None else batch.is_not_null() & index.is_null()
        new = batch.filter(unseen).unique()
        parsed = new.to_frame("text").select(self._parse(pl.col("text")).cast(self._dtype)).to_series()
        result = parsed.gather(batch.cast(pl.Enum(new), strict=False).to_physical())
        if known is not None:
            result = known.values.gather(index).zip_with(index.is_not_null(), result)
        cached = 0 if known is None else known.enum.categories.len()
        if cached + new.len() <= _DISTINCT_CACHE_LIMIT:
            enum = pl.Enum(new if known is None else pl.concat([known.enum.categories, new]))
            # As UInt32, polars' index type: `values[index]` takes it as it is (another type is checked and cast).
            index_expr = pl.col(batch.name).cast(enum, strict=False).to_physical().cast(pl.UInt32)
            self.known = _Known(enum, parsed if known is None else pl.concat([known.values, parsed]), index_expr)
        return result.alias(batch.name)


def lookup(expr: pl.Expr, mapping: dict[str, str], default: str | pl.Expr | None = None) -> pl.Expr:
    """Map a low-cardinality text column through a small table (unknown or null → default).

    The text is cast to an Enum of the table's keys and the value gathered by the enum index: one hash per
    row, and it streams. (replace_strict runs outside the streaming engine in polars 2.1, materialising the
    whole input; a join would move every other column of the frame.)"""
    keys = list(mapping)
    values = pl.Series(list(mapping.values()) + [None], dtype=pl.String)
    index = expr.cast(pl.Enum(keys), strict=False).to_physical().fill_null(len(keys))
    found = pl.lit(values).gather(index)
    return found if default is None else found.fill_null(default)


def gather_by_key(frame: pl.LazyFrame, key: str, table: pl.DataFrame, on: str) -> pl.LazyFrame:
    """`frame` with the other columns of `table` (a small in-memory table, unique on non-negative integer column
    `on`, such as a row index) for each row's `key`: null where the key is not in it.

    Each row's position in `table` is looked up in an array indexed by key (as long as the largest key),
    once for all the columns, and each column gathered by it: it streams, keeps the row order and does not
    move the frame's other columns (a streaming left join of a wide frame on a small table costs several
    times more)."""
    values = [c for c in table.columns if c != on]
    if table.is_empty():
        return frame.with_columns(pl.lit(None, dtype=table.schema[c]).alias(c) for c in values)
    keys = table.get_column(on).cast(pl.UInt32)
    largest = keys.max()
    position_of_key = (
        pl.Series([None], dtype=pl.UInt32)
        .extend_constant(None, largest)
        .scatter(keys, pl.int_range(keys.len(), dtype=pl.UInt32, eager=True))
    )
    position = "__gathered_position"
    in_range = pl.when(pl.col(key).is_between(0, largest)).then(pl.col(key))  # (a negative index counts from the end)
    return (
        frame.with_columns(pl.lit(position_of_key).gather(in_range).alias(position))
        .with_columns(pl.lit(table.get_column(c)).gather(pl.col(position)).alias(c) for c in values)
        .drop(position)
    )
