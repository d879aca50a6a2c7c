"""Where the shared sample data lives: `../shared/data` from the repository root (never copied in)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
