"""Great Expectations 1.x suites on the warehouse tables analysts read, with Data Docs. See DESIGN.md §7.

GX has no polars support, so the suites run where the data lands: `core.focus_costs`, `core.quarantine` and
`core.k8s_usage` in the warehouse (DuckDB file or Postgres), through GX's SQL data sources.

* The GX project is file-backed under `gx_root` (FINOPS_HOME/gx): suites, validation results and the Data Docs
  site (`data_docs_index(gx_root)`) persist between runs, so Data Docs show the history.
* The warehouse URL reaches GX as the config variable `${FINOPS_GX_WAREHOUSE_URL}`, set in this process only
  while `run_suites` runs: great_expectations.yml never holds the URL, so never a password.
* DuckDB is opened read-only, through the `duckdb+finops_readonly` SQLAlchemy dialect below, and every
  connection GX opened is closed before `run_suites` returns: the pipeline's writer can open the file again.
  Run the suites only once the pipeline's own connection to the file is closed (DuckDB allows one writer
  process, and one configuration per file within a process).

GX is imported lazily (it takes seconds): importing this module, or the Dagster definitions, stays cheap.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import duckdb
import sqlalchemy as sa
from sqlalchemy.dialects import registry

from finops_pipeline.focus.schema import COLUMNS_BY_NAME, FOCUS_COLUMNS, FOCUS_TABLE_SCHEMA, MONEY
from finops_pipeline.quality.quarantine import QUARANTINE_SCHEMA
from finops_pipeline.sources.kubernetes.schema import FLAG_COLUMNS, K8S_USAGE_SCHEMA

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

URL_VARIABLE = "FINOPS_GX_WAREHOUSE_URL"
DATASOURCE_NAME = "warehouse"
CHECKPOINT_NAME = "finops_warehouse"
DAY_COLUMN = "x_ChargeDay"
CURRENCY_CODE = r"^[A-Z]{3}$"  # ISO 4217 alphabetic code
SAMPLE_SIZE = 10  # unexpected values kept per failed expectation
DUCKDB_LOCK_WAIT_SECONDS = 30.0

_RUN_LOCK = threading.Lock()  # the URL lives in os.environ while a run lasts: one run per process at a time


# ---- the suites ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSuite:
    """One expectation suite on one warehouse table. `expectations` builds fresh GX objects (imports GX)."""

    table: str  # schema.name
    description: str
    expectations: Callable[[], list[Expectation]] = field(repr=False)
    day_column: str = DAY_COLUMN  # what a run's day range filters on

    @property
    def schema_name(self) -> str:
        return self.table.partition(".")[0]

    @property
    def table_name(self) -> str:
        return self.table.partition(".")[2]


def _focus_costs() -> list[Expectation]:
    import great_expectations.expectations as gxe

    money_not_null = [c.name for c in FOCUS_COLUMNS if c.dtype == MONEY and c.required_non_null]
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(FOCUS_TABLE_SCHEMA), exact_match=False),
        gxe.ExpectColumnValuesToBeInSet(
            column="ChargeCategory", value_set=list(COLUMNS_BY_NAME["ChargeCategory"].allowed_values)
        ),
        *(gxe.ExpectColumnValuesToNotBeNull(column=name) for name in money_not_null),
        gxe.ExpectColumnValuesToBeInSet(
            column="ServiceCategory", value_set=list(COLUMNS_BY_NAME["ServiceCategory"].allowed_values)
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="ChargePeriodStart"),
        gxe.ExpectColumnValuesToMatchRegex(column="BillingCurrency", regex=CURRENCY_CODE),
        gxe.ExpectColumnValuesToNotBeNull(column="x_SourceName"),
    ]


def _quarantine() -> list[Expectation]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(QUARANTINE_SCHEMA), exact_match=False),
        gxe.ExpectColumnValuesToNotBeNull(column="x_QuarantineReason"),
    ]


def _k8s_usage() -> list[Expectation]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import AndCondition, Column, ComparisonCondition, Operator

    # OpenCost's __idle__ / __unallocated__ / __unmounted__ rows belong to no namespace.
    workloads = AndCondition(
        conditions=[
            ComparisonCondition(column=Column(flag), operator=Operator.EQUAL, parameter=False) for flag in FLAG_COLUMNS
        ]
    )
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(K8S_USAGE_SCHEMA), exact_match=False),
        gxe.ExpectColumnValuesToBeBetween(column="cpu_core_request_average", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="ram_byte_request_average", min_value=0),
        gxe.ExpectColumnValuesToNotBeNull(column="cluster"),
        gxe.ExpectColumnValuesToNotBeNull(column="namespace", row_condition=workloads),
    ]


def _cost_allocation() -> list[Expectation]:
    import great_expectations.expectations as gxe

    from finops_pipeline.allocation.schema import ALLOCATION_COLUMNS, AMOUNTS, COST_KEYS, METHODS

    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=[*COST_KEYS, *ALLOCATION_COLUMNS, *AMOUNTS], exact_match=False),
        gxe.ExpectColumnValuesToBeInSet(column="AllocatedMethodId", value_set=list(METHODS)),
        gxe.ExpectColumnValuesToNotBeNull(column="x_AllocationRuleId"),
        *(gxe.ExpectColumnValuesToNotBeNull(column=amount) for amount in ("BilledCost", "EffectiveCost")),
        gxe.ExpectColumnValuesToNotBeNull(column="x_SourceName"),
    ]


def _budget_status() -> list[Expectation]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["normal", "warning", "critical"]),
        gxe.ExpectColumnValuesToBeBetween(column="budget", min_value=0),
        gxe.ExpectColumnValuesToNotBeNull(column="mtd_cost"),
        gxe.ExpectColumnValuesToBeBetween(column="days_elapsed", min_value=1, max_value=31),
    ]


SUITES: dict[str, TableSuite] = {
    "focus_costs": TableSuite(
        "core.focus_costs",
        "FOCUS 1.2 rows: columns present, allowed ChargeCategory and ServiceCategory, costs and ChargePeriodStart "
        "present, ISO currency codes, lineage.",
        _focus_costs,
    ),
    "quarantine": TableSuite("core.quarantine", "Every quarantined row says why.", _quarantine),
    "k8s_usage": TableSuite(
        "core.k8s_usage",
        "Kubernetes usage: no negative requests; every row has a cluster, every workload a namespace.",
        _k8s_usage,
    ),
    "cost_allocation": TableSuite(
        "outputs.cost_allocation",
        "Allocated cost: known allocation methods, every row names its rule and source, costs present.",
        _cost_allocation,
    ),
    "budget_status": TableSuite(
        "outputs.budget_status",
        "Budget status: a known status, non-negative budgets, month to date present.",
        _budget_status,
        day_column="day",
    ),
}


# ---- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str  # GX type, e.g. "expect_column_values_to_be_in_set"
    column: str | None
    kwargs: dict[str, Any]  # the expectation's arguments (value sets, regex, ...), JSON-safe
    unexpected_count: int | None  # None when the expectation is not row-based or raised
    unexpected_percent: float | None
    sample: list[Any]  # some unexpected values, JSON-safe
    observed_value: Any = None
    exception: str | None = None  # the error message when GX could not evaluate it

    def as_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "kwargs": self.kwargs,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "sample": self.sample,
            "observed_value": self.observed_value,
            "exception": self.exception,
        }


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    table: str
    success: bool
    statistics: dict[str, Any]  # evaluated/successful/unsuccessful_expectations, success_percent
    failed: list[FailedExpectation]
    day_range: tuple[date, date] | None
    docs_page: Path | None  # this validation's Data Docs page

    @property
    def success_percent(self) -> float:
        return float(self.statistics.get("success_percent") or 0.0)


# ---- running ------------------------------------------------------------------------------------------------


def data_docs_index(gx_root: Path) -> Path:
    """The Data Docs site's index.html (GX's default local site of a file context)."""
    return Path(gx_root) / "uncommitted" / "data_docs" / "local_site" / "index.html"


def run_suites(
    warehouse_url: str,
    gx_root: Path,
    *,
    day_range: tuple[date, date] | None,
    suites: list[str] | None = None,
    run_name: str | None = None,
) -> dict[str, SuiteOutcome]:
    """Validate each of `suites` (default: all) whose table exists, then update the Data Docs site.

    `day_range` = (first, last) validates only the rows with x_ChargeDay in that closed range; None validates
    the whole tables. `run_name` labels the validation in Data Docs (e.g. the Dagster run id).
    Returns one outcome per validated suite; tables that do not exist are left out.
    """
    names = list(SUITES) if suites is None else list(suites)
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        raise ValueError(f"unknown GX suites {unknown}; known: {sorted(SUITES)}")
    if day_range is not None and day_range[0] > day_range[1]:
        raise ValueError(f"day range {day_range[0]} … {day_range[1]} is empty")
    gx_url, is_duckdb = _gx_connection_url(warehouse_url)
    gx_root = Path(gx_root).resolve()

    with _RUN_LOCK, _url_in_environment(gx_url), _closing_duckdb_connections():
        if is_duckdb:
            _wait_for_duckdb(gx_url)
        return _run(gx_root, names, day_range, run_name, is_duckdb=is_duckdb)


def _run(
    gx_root: Path,
    names: list[str],
    day_range: tuple[date, date] | None,
    run_name: str | None,
    *,
    is_duckdb: bool,
) -> dict[str, SuiteOutcome]:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", context_root_dir=gx_root)
    bars = context.variables.progress_bars  # a ProgressBarsConfig when set in this process, a dict once loaded
    if (bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)) is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in the run logs
        context.variables.save()

    _forget_previous_run(context, gx_root)
    connection_string = "${" + URL_VARIABLE + "}"
    if is_duckdb:
        if not _duckdb_path(os.environ[URL_VARIABLE]).exists():
            return _finish(context, {})
        datasource = context.data_sources.add_sql(DATASOURCE_NAME, connection_string=connection_string)
    else:
        datasource = context.data_sources.add_postgres(DATASOURCE_NAME, connection_string=connection_string)

    inspector = sa.inspect(datasource.get_engine())
    present = [name for name in names if inspector.has_table(SUITES[name].table_name, schema=SUITES[name].schema_name)]
    datasource.get_engine().dispose()

    definitions = []
    for name in present:
        suite_def = SUITES[name]
        if day_range is None:
            asset = datasource.add_table_asset(name, table_name=suite_def.table_name, schema_name=suite_def.schema_name)
        else:
            first, last = (day.isoformat() for day in day_range)  # date → 'YYYY-MM-DD': safe to inline
            asset = datasource.add_query_asset(
                name,
                query=f"SELECT * FROM {suite_def.schema_name}.{suite_def.table_name} "
                f"WHERE \"{suite_def.day_column}\" BETWEEN DATE '{first}' AND DATE '{last}'",
            )
        batch = asset.add_batch_definition_whole_table("rows")
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(
                name=name, expectations=suite_def.expectations(), notes=f"`{suite_def.table}`: {suite_def.description}"
            )
        )
        definitions.append(
            context.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        )

    if not definitions:
        return _finish(context, {})
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=CHECKPOINT_NAME,
            validation_definitions=definitions,
            actions=[UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
        )
    )
    result = checkpoint.run(run_id=RunIdentifier(run_name=run_name) if run_name else None)
    outcomes = {}
    for identifier, validation in result.run_results.items():
        name = validation.suite_name
        outcomes[name] = SuiteOutcome(
            suite=name,
            table=SUITES[name].table,
            success=bool(validation.success),
            statistics=_jsonable(dict(validation.statistics)),
            failed=[_failed(r) for r in validation.results if not r.success],
            day_range=day_range,
            docs_page=_docs_page(context, identifier),
        )
    return _finish(context, outcomes)


def _forget_previous_run(context, gx_root: Path) -> None:
    """The data source, its assets, the validation definitions and the checkpoint are rebuilt from code each run
    (the assets follow the day range asked for). Drop the checkpoint and definitions before the data source: a
    stored one that names an asset which no longer exists cannot even be loaded, so not deleted through GX."""
    stale = [("checkpoints", context.checkpoints, CHECKPOINT_NAME)]
    stale += [("validation_definitions", context.validation_definitions, name) for name in SUITES]
    for folder, factory, name in stale:
        try:
            factory.delete(name)
        except Exception:  # missing (nothing to do) or unloadable: remove its file from the store
            (gx_root / folder / f"{name}.json").unlink(missing_ok=True)
    if DATASOURCE_NAME in context.data_sources.all():
        context.data_sources.delete(DATASOURCE_NAME)


def _finish(context, outcomes: dict[str, SuiteOutcome]) -> dict[str, SuiteOutcome]:
    if not data_docs_index(Path(context.root_directory)).exists():
        context.build_data_docs()  # first run, or no table to validate: at least the site and the suites
    return outcomes


def _failed(result) -> FailedExpectation:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    details = result.result or {}
    errors = [
        info.get("exception_message")
        for info in _exception_infos(result.exception_info)
        if info.get("raised_exception") and info.get("exception_message")
    ]
    return FailedExpectation(
        expectation=config.type,
        column=kwargs.get("column"),
        kwargs=_jsonable(kwargs),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        sample=_jsonable(list(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]),
        observed_value=_jsonable(details.get("observed_value")),
        exception="; ".join(dict.fromkeys(errors)) or None,
    )


def _exception_infos(exception_info) -> list[dict]:
    """GX gives either one {raised_exception, exception_message, …} or a map of metric id → such a dict."""
    if not exception_info:
        return []
    if "raised_exception" in exception_info:
        return [exception_info]
    return [value for value in exception_info.values() if isinstance(value, dict)]


def _docs_page(context, identifier) -> Path | None:
    for site in context.get_docs_sites_urls(resource_identifier=identifier, only_if_exists=True):
        url = site.get("site_url")
        if url and url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
    return None


def _jsonable(value: Any) -> Any:
    """Decimals, dates, row conditions … as text, so outcomes go into Dagster metadata (and JSON) exactly."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


# ---- connection ---------------------------------------------------------------------------------------------


def _gx_connection_url(warehouse_url: str) -> tuple[str, bool]:
    """The URL GX connects with, and whether it is DuckDB. Errors never quote the URL (it may hold a password)."""
    if warehouse_url.startswith("duckdb:///"):
        path = warehouse_url.removeprefix("duckdb:///")
        if not path or path == ":memory:":
            raise ValueError("GX needs a DuckDB file, not an in-memory database")
        return f"duckdb+finops_readonly:///{Path(path).resolve()}", True
    try:
        parsed = sa.make_url(warehouse_url)
    except sa.exc.ArgumentError:
        raise ValueError("warehouse URL is not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"no GX data source for warehouse backend {parsed.get_backend_name()!r}")
    # psycopg 3 is the driver this project installs (psycopg2 is not).
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False), False


def _duckdb_path(gx_url: str) -> Path:
    return Path(gx_url.removeprefix("duckdb+finops_readonly:///"))


@contextmanager
def _url_in_environment(url: str) -> Iterator[None]:
    saved = os.environ.get(URL_VARIABLE)
    os.environ[URL_VARIABLE] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(URL_VARIABLE, None)
        else:
            os.environ[URL_VARIABLE] = saved


def _wait_for_duckdb(gx_url: str, timeout: float = DUCKDB_LOCK_WAIT_SECONDS) -> None:
    """Wait while another process writes the file (it holds DuckDB's lock); fail clearly on an in-process writer."""
    path = _duckdb_path(gx_url)
    deadline = time.monotonic() + timeout
    while path.exists():
        try:
            duckdb.connect(str(path), read_only=True).close()
            return
        except duckdb.ConnectionException as exc:
            raise RuntimeError(
                f"{path} is open in this process with another configuration: close the pipeline's Warehouse "
                "before running the GX suites"
            ) from exc
        except duckdb.IOException:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


_OPENED: list[Any] = []  # DuckDB connections ReadOnlyDuckDBDialect opened during the current run


@contextmanager
def _closing_duckdb_connections() -> Iterator[None]:
    """GX keeps engines (and their pooled connections) in objects it caches: close what it opened ourselves."""
    try:
        yield
    finally:
        while _OPENED:
            with suppress(duckdb.Error):
                _OPENED.pop().close()


DIALECT_CLASS = "ReadOnlyDuckDBDialect"


def __getattr__(name: str) -> Any:
    """SQLAlchemy's registry loads the dialect as this module's attribute; it is built on first use."""
    if name == DIALECT_CLASS:
        return _read_only_duckdb_dialect()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _read_only_duckdb_dialect() -> type:
    from duckdb_engine import Dialect  # only DuckDB warehouses need it

    class ReadOnlyDuckDBDialect(Dialect):
        """duckdb_engine, read-only and without transactions, for GX (`duckdb+finops_readonly:///path`).

        GX fetches a query's rows after returning its connection to the pool. duckdb_engine's cursors share
        the connection, so the ROLLBACK that ends SQLAlchemy's implicit transaction would discard the pending
        result (GX then fails with "list index out of range"). Reads need no transaction: begin, commit and
        rollback are no-ops.

        `dialect` makes GX treat this dialect as the PostgreSQL one it derives from (DuckDB has the same `~`
        regex operator); without it GX refuses regex expectations on a dialect it does not know.
        """

        supports_statement_cache = False

        @property
        def dialect(self) -> type:
            return type(self)

        def connect(self, *cargs: Any, **cparams: Any) -> Any:
            cparams["read_only"] = True
            connection = super().connect(*cargs, **cparams)
            _OPENED.append(connection)
            return connection

        def do_begin(self, dbapi_connection: Any) -> None:
            pass

        def do_commit(self, dbapi_connection: Any) -> None:
            pass

        def do_rollback(self, dbapi_connection: Any) -> None:
            pass

    return ReadOnlyDuckDBDialect


registry.register("duckdb.finops_readonly", __name__, DIALECT_CLASS)
