"""The one error type sources raise for input they cannot read at all (row-level problems are quarantined)."""


class SourceFileError(ValueError):
    """A billing file that cannot be read: says which file, and where known which row and column."""

    def __init__(self, file: str, message: str, *, row: int | None = None, column: str | None = None):
        self.file, self.row, self.column = file, row, column
        where = file + (f", row {row}" if row is not None else "") + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")
