"""What every file-reading source does the same way: name its files, sniff their format, line up types."""

from collections.abc import Collection, Sequence
from pathlib import Path

import polars as pl

from finops_pipeline.sources.errors import SourceFileError


def paths_and_names(files: Sequence[Path | str], source_names: Sequence[str] | None) -> tuple[list[Path], list[str]]:
    """The files as paths, each with the name rows and errors carry (`source_names[i]`, else the absolute path)."""
    paths = [Path(f) for f in files]
    if source_names is None:
        return paths, [str(p.resolve()) for p in paths]
    if len(source_names) != len(paths):
        raise ValueError(f"{len(paths)} files but {len(source_names)} source names")
    return paths, list(source_names)


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
