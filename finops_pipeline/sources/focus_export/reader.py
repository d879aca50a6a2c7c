"""Read FOCUS-native export files (any provider, any FOCUS version) into one lazy frame, values verbatim.

Producers and their files:

* AWS Data Exports `FOCUS_1_2_AWS` (and the older `FOCUS_1_0_AWS`): gzip CSV or parquet; parquet stores Tags
  and the `x_` cost-category/discount columns as maps.
* Azure Cost Management FOCUS exports (`FocusCost` 1.0, 1.0r2, 1.2): CSV (often gzip) or parquet, with
  about 50 `x_` columns of Microsoft's own.
* Google's FOCUS BigQuery view and OCI's FOCUS cost reports (OCI adds `oci_*` columns without the `x_`
  prefix), and the FinOps Foundation sample data (literal "NULL" strings, naive datetimes, an `Id` column).

Nothing that can fail is parsed here: CSV columns stay text, so a bad value can be reported verbatim by the
mapping. Conversions that cannot fail happen here: parquet map/struct columns → JSON object text (the FOCUS
key-value format), other nested parquet values (lists, arrays) → JSON text, parquet timestamps → UTC.
Headers keep their spelling (the mapping resolves case and version differences, see `columns.py`).
Physically blank CSV lines (a row with no value at all, as in some hand-edited files) are dropped;
`x_SourceRowNumber` still counts them, so it stays the data row in the file.
A file that cannot be read, or lacks a column no row can do without, raises `SourceFileError` naming it.
"""

import zipfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from finops_pipeline.focus.schema import TIMESTAMP
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.files import (
    bare_header,
    csv_frame,
    csv_source,
    leading_bytes,
    paths_and_names,
    text_where_types_differ,
)
from finops_pipeline.sources.focus_export.columns import (
    FOCUS_VERSION,
    REQUIRED_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
    describe_focus_export,
)

_JSON_SPECIAL = ["\\", '"', "\n", "\r", "\t"]
_JSON_ESCAPED = ["\\\\", '\\"', "\\n", "\\r", "\\t"]


def scan_focus_export(files: Sequence[Path | str], *, source_names: Sequence[str] | None = None) -> pl.LazyFrame:
    """FOCUS export files (CSV, gzip CSV, zipped CSV or parquet; any mix) → one lazy frame.

    Columns: every header of every file (concatenated diagonally: a column a file lacks is null for its
    rows; a column typed differently by different files is text for all of them), plus `x_SourceFile`
    (`source_names[i]`, else the absolute path), `x_SourceRowNumber` (1-based data row in that file) and
    `x_FocusVersion` (per file, `detect_focus_version` of its headers).
    """
    paths, names = paths_and_names(files, source_names)
    if not paths:
        schema = {c: pl.String for c in REQUIRED_COLUMNS}
        return pl.LazyFrame(schema={**schema, SOURCE_FILE: pl.String, SOURCE_ROW: pl.Int64, FOCUS_VERSION: pl.String})
    frames = [_scan_file(path, name) for path, name in zip(paths, names, strict=True)]
    return pl.concat(text_where_types_differ(frames), how="diagonal")


def _scan_file(path: Path, name: str) -> pl.LazyFrame:
    magic = leading_bytes(path, name)
    frame = _scan_parquet(path, name) if magic == b"PAR1" else _read_csv(path, name, magic)
    headers = [c for c in frame.collect_schema() if c != SOURCE_ROW]
    described = describe_focus_export(headers)
    for column in REQUIRED_COLUMNS:
        if column not in described.sources:
            raise SourceFileError(name, f"required FOCUS column {column} is missing", column=column)
    return frame.with_columns(
        pl.lit(name).alias(SOURCE_FILE),
        pl.col(SOURCE_ROW).cast(pl.Int64),
        pl.lit(described.version).alias(FOCUS_VERSION),
    )


def _scan_parquet(path: Path, name: str) -> pl.LazyFrame:
    """Lazy scan (only the footer is read here); maps/structs become JSON text, timestamps UTC."""
    frame = pl.scan_parquet(path, row_index_name=SOURCE_ROW, row_index_offset=1)
    try:
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise SourceFileError(name, f"not a readable parquet file: {error}") from error
    renames = {c: bare_header(c) for c in schema if c != bare_header(c)}
    converted = [
        expr.alias(column)
        for column, dtype in schema.items()
        if (expr := _lossless_conversion(pl.col(column), dtype)) is not None
    ]
    return frame.with_columns(converted).rename(renames)


def _read_csv(path: Path, name: str, magic: bytes) -> pl.LazyFrame:
    """All columns as text: read eagerly up to `EAGER_CSV_MAX_BYTES` (a ragged row or a truncated gzip fails
    here, by name), scanned lazily in batches above it (`files.csv_frame`), so a month of FOCUS rows larger
    than memory streams through the mapping."""
    try:
        if magic.startswith(b"PK"):
            with zipfile.ZipFile(path) as archive:
                source: Path | bytes = archive.read(archive.namelist()[0])
        else:
            source = csv_source(path)
        frame = csv_frame(source, columns=None, row_index_name=SOURCE_ROW).lazy()
        headers = frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError, EOFError, zipfile.BadZipFile, IndexError) as error:
        raise SourceFileError(name, f"cannot read CSV: {error}") from error
    names = {c: bare_header(c) for c in headers}
    frame = frame.rename(names)
    data = [name for c, name in names.items() if c != SOURCE_ROW]
    if data:
        frame = frame.filter(pl.any_horizontal(pl.col(data).is_not_null()))  # blank lines
    return frame


def _lossless_conversion(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
    """Parquet-typed values that have one right text or UTC form; None when the column stays as it is."""
    if isinstance(dtype, pl.Datetime):
        utc = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")
        return utc.cast(TIMESTAMP)
    if isinstance(dtype, pl.Struct):
        return expr.struct.json_encode()
    if _is_key_value_list(dtype):
        return _key_value_list_to_json(expr)
    if isinstance(dtype, pl.List | pl.Array):
        # Other nested values (e.g. GCP's credits array) as JSON text: encode {"v": value}, keep the value part.
        wrapped = pl.struct(expr.alias("v")).struct.json_encode()
        return pl.when(expr.is_not_null()).then(wrapped.str.slice(5, wrapped.str.len_chars() - 6))
    return None


def _is_key_value_list(dtype: pl.DataType) -> bool:
    """A parquet MAP column as polars reads it: List(Struct{key, value})."""
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return False
    return [f.name for f in dtype.inner.fields] == ["key", "value"]


def _key_value_list_to_json(expr: pl.Expr) -> pl.Expr:
    """[{key, value}, …] → `{"key":"value",…}` (values as JSON strings, null values as JSON null); an empty
    or null map → null. Built from escaped pieces, no per-row Python."""
    key = pl.element().struct.field("key").cast(pl.String)
    value = pl.element().struct.field("value").cast(pl.String)
    piece = pl.concat_str(
        pl.lit('"'),
        _json_escape(key),
        pl.lit('":'),
        pl.when(value.is_null())
        .then(pl.lit("null"))
        .otherwise(pl.concat_str(pl.lit('"'), _json_escape(value), pl.lit('"'))),
    )
    joined = expr.list.eval(piece).list.join(",")
    return pl.when(expr.list.len() > 0).then(pl.concat_str(pl.lit("{"), joined, pl.lit("}")))


def _json_escape(text: pl.Expr) -> pl.Expr:
    return text.str.replace_many(_JSON_SPECIAL, _JSON_ESCAPED)
