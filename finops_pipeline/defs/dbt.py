"""The dbt marts (`dbt/`): views in the `marts` schema over core.focus_costs and core.quarantine.

dbt runs in the same daily-partitioned job as the rest of the pipeline (one `dbt build` per run, whatever
the number of days, since the marts are views over all of core), against the warehouse that
`settings.warehouse_url()` names. The connection reaches dbt as environment variables (`dbt_env`),
read by `dbt/profiles.yml`; the dbt tests become Dagster asset checks on the marts.
"""

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from filelock import FileLock
from packaging.version import Version

from finops_pipeline.defs.partitions import daily_partitions, single_run
from finops_pipeline.settings import warehouse_url

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
MARTS_GROUP = "marts"
# The dbt next to this interpreter: found even when the virtualenv's bin/ is not on PATH.
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else "dbt"

# dbt source (schemas `core`, `outputs`) table → the Dagster asset that writes it, so lineage connects.
SOURCE_ASSETS = {
    ("core", "focus_costs"): "focus_costs",
    ("core", "quarantine"): "quarantine",
    ("outputs", "cost_allocation"): "cost_allocation",
    ("outputs", "budget_status"): "budget_status",
    ("outputs", "finops_kpis"): "finops_kpis",
}

_DBT_ENV_KEYS = (
    "FINOPS_DBT_TARGET",
    "FINOPS_DUCKDB_PATH",
    "FINOPS_PG_HOST",
    "FINOPS_PG_PORT",
    "FINOPS_PG_USER",
    "FINOPS_PG_PASSWORD",
    "FINOPS_PG_DBNAME",
    "FINOPS_PG_SSLMODE",
)


def dbt_env(url: str) -> dict[str, str]:
    """The variables `dbt/profiles.yml` reads, for the warehouse at `url` (a `warehouse_url()` value).

    The result holds the Postgres password: pass it to the dbt process, never log it.
    """
    if url.startswith("duckdb:///"):
        path = url.removeprefix("duckdb:///")
        if path == ":memory:" or not path:
            raise ValueError("dbt needs a DuckDB file it can open itself, not an in-memory database")
        # dbt runs with dbt/ as its working directory: make the path absolute from ours.
        return {"FINOPS_DBT_TARGET": "duckdb", "FINOPS_DUCKDB_PATH": str(Path(path).resolve())}
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError("warehouse URL is not a valid SQLAlchemy URL") from None  # may hold a password
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"no dbt target for warehouse backend {parsed.get_backend_name()!r}")
    if not parsed.database:
        raise ValueError("the Postgres warehouse URL names no database")
    env = {
        "FINOPS_DBT_TARGET": "postgres",
        "FINOPS_PG_HOST": parsed.host or "localhost",
        "FINOPS_PG_PORT": str(parsed.port or 5432),
        "FINOPS_PG_USER": parsed.username or "postgres",
        "FINOPS_PG_PASSWORD": parsed.password or "",
        "FINOPS_PG_DBNAME": parsed.database,
    }
    sslmode = parsed.query.get("sslmode")
    if sslmode:
        env["FINOPS_PG_SSLMODE"] = sslmode if isinstance(sslmode, str) else sslmode[-1]
    return env


def describe_dbt_env(env: Mapping[str, str]) -> str:
    """Where dbt will write, safe to log (never the password)."""
    if env["FINOPS_DBT_TARGET"] == "duckdb":
        return f"duckdb {env['FINOPS_DUCKDB_PATH']}"
    return f"postgres {env['FINOPS_PG_USER']}@{env['FINOPS_PG_HOST']}:{env['FINOPS_PG_PORT']}/{env['FINOPS_PG_DBNAME']}"


@contextmanager
def dbt_environ(env: Mapping[str, str]) -> Iterator[None]:
    """Set the dbt variables for the duration of a dbt call (the dbt CLI process inherits os.environ).

    Variables of ours that `env` does not set are removed meanwhile, so a stale FINOPS_PG_* from the
    shell cannot leak into the profile; everything is restored afterwards.
    """
    saved = {key: os.environ.get(key) for key in _DBT_ENV_KEYS}
    try:
        for key in _DBT_ENV_KEYS:
            os.environ.pop(key, None)
        os.environ.update(env)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _newest_source_mtime(project_dir: Path) -> float:
    ignored = {"target", "logs", "dbt_packages"}
    return max(
        path.stat().st_mtime
        for path in project_dir.rglob("*")
        if path.is_file() and not ignored.intersection(path.relative_to(project_dir).parts)
    )


def manifest_is_current(project: DbtProject) -> bool:
    """A manifest exists and is newer than every file of the dbt project."""
    manifest = project.manifest_path
    return manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project.project_dir)


def ensure_manifest(project: DbtProject) -> None:
    """`dbt parse` when the manifest is missing (a fresh clone: CI runs no separate parse step) or stale.

    Under `dagster dev`, `prepare_if_dev()` has already re-parsed. Parsing reads no data; it uses the
    current warehouse's target so the assets show the right kind. A lock keeps concurrent imports (the
    webserver, the daemon, run workers) from parsing over each other.
    """
    if manifest_is_current(project):
        return
    try:
        env = dbt_env(warehouse_url())
    except ValueError:
        env = {}  # the default target parses just as well; the run itself will report the bad URL
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(project.manifest_path.with_suffix(".parse-lock"), timeout=120):
        if manifest_is_current(project):  # another process parsed while we waited
            return
        with dbt_environ(env):
            parsed = subprocess.run(
                [DBT_EXECUTABLE, "parse", "--quiet", "--target-path", str(project.target_path)],
                cwd=project.project_dir,
                env={**os.environ, "DBT_PROFILES_DIR": str(project.profiles_dir)},
                capture_output=True,
                text=True,
                check=False,
            )
    if parsed.returncode != 0 or not project.manifest_path.exists():
        raise RuntimeError(f"dbt parse of {project.project_dir} failed:\n{parsed.stdout}{parsed.stderr}")


class FinopsDbtCliResource(DbtCliResource):
    """DbtCliResource that takes the dbt version from the installed dbt-core package.

    The stock resource runs `dbt --version` once per instance to learn it, which costs a few seconds and
    asks PyPI for the latest release (three HTTP requests) on every run.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))


class FinopsDbtTranslator(DagsterDbtTranslator):
    """dbt sources `core.*`, `outputs.*` are the pipeline's own assets; every dbt model is in `marts`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(SOURCE_ASSETS[(dbt_resource_props["source_name"], dbt_resource_props["name"])])
        return super().get_asset_key(dbt_resource_props)  # models: ["marts", <model>]

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return MARTS_GROUP


project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
project.prepare_if_dev()
ensure_manifest(project)


def dbt_resource() -> DbtCliResource:
    return FinopsDbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)


@dbt_assets(
    manifest=project.manifest_path,
    project=project,
    name="finops_marts",
    dagster_dbt_translator=FinopsDbtTranslator(),
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
def finops_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`: (re)create the mart views and run the dbt tests (the money ones block on failure)."""
    env = dbt_env(warehouse_url())
    context.log.info(f"dbt build on {describe_dbt_env(env)}")
    with dbt_environ(env):  # the dbt process takes its environment when it starts
        invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()
