"""Run the real daily job against a demo export, as `finops demo` does, for the tests of this package."""

import gzip
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl

from finops_pipeline.cli import run_daily_job

DEMO_END = date(2026, 11, 22)
FIRST_DAY = DEMO_END - timedelta(days=29)


def use_home(monkeypatch, home: Path, warehouse_url: str | None = None) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    monkeypatch.delenv("FINOPS_AWS_BUCKET", raising=False)
    monkeypatch.delenv("FINOPS_AWS_DIR", raising=False)
    if warehouse_url:
        monkeypatch.setenv("FINOPS_WAREHOUSE_URL", warehouse_url)
    else:
        monkeypatch.delenv("FINOPS_WAREHOUSE_URL", raising=False)


# Ingestion and FOCUS only: tests about sources skip the dbt marts (a dbt process per run costs ~10 s).
CORE_ASSETS = [dg.AssetKey("aws_billing"), dg.AssetKey("focus_costs"), dg.AssetKey("quarantine")]


def run(first_day: date = FIRST_DAY, last_day: date = DEMO_END, *, whole_job: bool = False, instance=None):
    """One run of the daily job; on an in-memory Dagster instance unless a test is about the instance."""
    return run_daily_job(
        first_day,
        last_day,
        asset_selection=None if whole_job else CORE_ASSETS,
        instance=instance or dg.DagsterInstance.ephemeral(),
    )


def current_report_files(aws_root: Path) -> list[Path]:
    """The data files the period-root manifests name: what AWS says the bill is now."""
    files = []
    for manifest in sorted(aws_root.glob("cur/finops-demo/*/finops-demo-Manifest.json")):
        keys = json.loads(manifest.read_text())["reportKeys"]
        files += [aws_root / key for key in keys]
    return files


def read_cur_csv(path: Path) -> pl.DataFrame:
    with gzip.open(path, "rb") as f:
        return pl.read_csv(io.BytesIO(f.read()), infer_schema=False)


def expected_unblended_by_day(aws_root: Path, first_day: date, last_day: date) -> dict[date, Decimal]:
    """Σ lineItem/UnblendedCost per usage day, summed in Python Decimal straight from the CSV text."""
    totals: dict[date, Decimal] = {}
    for path in current_report_files(aws_root):
        frame = read_cur_csv(path).select("lineItem/UsageStartDate", "lineItem/UnblendedCost")
        for start, cost in frame.iter_rows():
            day = date.fromisoformat(start[:10])
            if first_day <= day <= last_day:
                totals[day] = totals.get(day, Decimal(0)) + Decimal(cost)
    return totals
