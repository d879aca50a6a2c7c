"""Billing files dropped in a local directory (also what the demo and tests use)."""

from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from dagster import ConfigurableResource
from pydantic import Field


class LocalDirectoryStore(ConfigurableResource):
    """Serves the files under `root`; a key is the file's POSIX path relative to `root`.

    A directory that mirrors a bucket (`aws s3 sync s3://bucket dir`) works as-is.
    """

    root: str = Field(description="Directory whose files are served; keys are paths relative to it.")

    def list_keys(self, prefix: str = "") -> list[str]:
        root = self._root()
        # Walk only the deepest directory the prefix names, then filter by plain string prefix like S3.
        folder, _, _ = prefix.rpartition("/")
        if folder and not _is_safe_relative(folder):
            return []
        start = root / folder if folder else root
        if not start.is_dir():
            return []
        keys = (path.relative_to(root).as_posix() for path in start.rglob("*") if path.is_file())
        return sorted(key for key in keys if key.startswith(prefix))

    def read_bytes(self, key: str) -> bytes:
        return self.local_path(key).read_bytes()

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"No such billing file: {path}")
        return path

    def describe(self, key: str) -> str:
        return str(self._path(key))

    def last_modified(self, key: str) -> datetime:
        return datetime.fromtimestamp(self.local_path(key).stat().st_mtime, tz=UTC)

    def _root(self) -> Path:
        return Path(self.root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        # Keys come from manifests written by others: never let one point outside the root.
        if not _is_safe_relative(key):
            raise ValueError(f"Key {key!r} is not a relative path inside {self._root()}")
        return self._root() / key


def _is_safe_relative(key: str) -> bool:
    parts = PurePosixPath(key).parts
    return bool(parts) and not key.startswith("/") and ".." not in parts
