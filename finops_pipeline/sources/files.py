"""What every file-reading source does the same way: name its files, sniff their format, line up types."""

import gzip
from collections.abc import Collection, Sequence
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

from finops_pipeline.sources.errors import SourceFileError

# CSV files (decompressed) up to this size are read eagerly: a malformed row fails at once with the file's
# name, and many small files become one contiguous frame. Larger ones are scanned lazily, so the mapping
# streams them in bounded memory (an eager read holds every column of the whole file as text: 7.8 GB for
# 2M rows of Azure cost details); a malformed row in them fails when the frame is collected.
EAGER_CSV_MAX_BYTES = 64 * 1024**2

# FOCUS rows are wide (63 columns, 13 of them Decimal(38, 10), a JSON tag object). Polars' default streaming
# morsel follows the input's row groups (100k+ rows in CUR parquet) and keeps ~1.8 GB in flight on 5M rows;
# 20k-row morsels keep it near 1 GB at the same speed (benchmarks/aws_normalise.py). Collect or sink a
# mapped frame inside `pl.Config(streaming_chunk_size=STREAMING_CHUNK_ROWS)`; large CSV files are read in
# batches of this many rows (`csv_frame`).
STREAMING_CHUNK_ROWS = 20_000


def paths_and_names(files: Sequence[Path | str], source_names: Sequence[str] | None) -> tuple[list[Path], list[str]]:
    """The files as paths, each with the name rows and errors carry (`source_names[i]`, else the absolute path)."""
    paths = [Path(f) for f in files]
    if source_names is None:
        return paths, [str(p.resolve()) for p in paths]
    if len(source_names) != len(paths):
        raise ValueError(f"{len(paths)} files but {len(source_names)} source names")
    return paths, list(source_names)


def bare_header(header: str) -> str:
    """A header as written (surrounding spaces, a UTF-8 byte order mark on the first) → its name."""
    return header.strip().lstrip("\ufeff")


def leading_bytes(path: Path, name: str) -> bytes:
    """The first 4 bytes (b"PAR1" parquet, gzip and zip magic), or a SourceFileError naming the file."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise SourceFileError(name, f"cannot open: {error}") from error
    if not magic:
        raise SourceFileError(name, "file is empty")
    return magic


def text_where_types_differ(frames: list[pl.LazyFrame], *, except_columns: Collection[str] = ()) -> list[pl.LazyFrame]:
    """A column typed differently by different files (CSV text vs parquet decimal) becomes text in all."""
    schemas = [frame.collect_schema() for frame in frames]
    dtypes: dict[str, set[pl.DataType]] = {}
    for schema in schemas:
        for column, dtype in schema.items():
            dtypes.setdefault(column, set()).add(dtype)
    mixed = {column for column, kinds in dtypes.items() if len(kinds) > 1 and column not in except_columns}
    if not mixed:
        return frames
    return [
        frame.with_columns(pl.col(c).cast(pl.String) for c in mixed if c in schema)
        for frame, schema in zip(frames, schemas, strict=True)
    ]


def csv_source(path: Path) -> Path | bytes:
    """The path, or the decompressed bytes of a gzip file (so a truncated one fails here, not later)."""
    with path.open("rb") as handle:
        magic = handle.read(2)
    return gzip.decompress(path.read_bytes()) if magic == b"\x1f\x8b" else path


def csv_frame(
    source: Path | bytes, *, columns: Sequence[str] | None, row_index_name: str
) -> pl.DataFrame | pl.LazyFrame:
    """`columns` (None: all) of a CSV file as text, after a 1-based row index `row_index_name` (UInt32 or
    UInt64): a DataFrame read eagerly up to `EAGER_CSV_MAX_BYTES`, else a lazy `scan_csv` (same options) read
    in batches of `STREAMING_CHUNK_ROWS` rows (`in_batches_of`)."""
    options = {"infer_schema": False, "row_index_name": row_index_name, "row_index_offset": 1}
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    if size <= EAGER_CSV_MAX_BYTES:
        wanted = None if columns is None else list(columns)
        return pl.read_csv(source, columns=wanted, **options)
    frame = pl.scan_csv(source, **options)
    return in_batches_of(STREAMING_CHUNK_ROWS, frame if columns is None else frame.select(row_index_name, *columns))


def in_batches_of(rows: int, frame: pl.LazyFrame) -> pl.LazyFrame:
    """`frame` as a lazy source that hands the next node batches of `rows` rows, in order.

    Polars' CSV scan emits batches of at most ~2.6 MB (about 2,300 rows of an Azure cost export, whatever
    `streaming_chunk_size` says), and every expression of a mapping pays a fixed cost per batch (~2.4 ms per
    batch for Azure's, on one thread; with two, small batches also keep the threads waiting on each other).
    Batches of 20k rows map 2M Azure rows in ~20% less time (benchmarks/README.md). Projections, filters and
    row limits of the outer query are applied to `frame` before it is read."""

    def batches(columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _batch_size: int | None):
        query = frame if columns is None else frame.select(columns)
        if predicate is not None:
            query = query.filter(predicate)
        if n_rows is not None:
            query = query.head(n_rows)
        yield from query.collect_batches(chunk_size=rows)

    return register_io_source(batches, schema=frame.collect_schema())
