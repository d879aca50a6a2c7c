"""Great Expectations suites (`quality/gx_suites.py`) as non-blocking, WARN-severity Dagster asset checks.

One multi-asset check validates `core.focus_costs`, `core.quarantine`, `core.k8s_usage`,
`outputs.cost_allocation` and `outputs.budget_status` in the warehouse
after their assets ran (it depends on them, so the asset steps have closed their DuckDB connection), for the
run's days: the partition range of a backfill or scheduled run, one partition's day, or the whole tables when
the run has no partition. Each result carries the success %, the failed expectations with their unexpected
counts and samples, and the Data Docs page (FINOPS_HOME/gx). A failed suite warns; it never blocks the marts.
"""

import traceback
from collections.abc import Iterator
from datetime import date

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.quality.gx_suites import SUITES, SuiteOutcome, data_docs_index, run_suites
from finops_pipeline.settings import finops_home, warehouse_url

CHECK_NAME = "great_expectations"
# GX suite → the Dagster asset whose table it validates.
SUITE_ASSETS: dict[str, str] = {suite: suite for suite in SUITES}  # each suite is named after its asset


def gx_root():
    return finops_home() / "gx"


def run_day_range(tags: dict[str, str]) -> tuple[date, date] | None:
    """The days a run covers, from its tags (daily partition keys are ISO dates); None: no partition."""
    try:
        start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
        if start and end:
            return date.fromisoformat(start), date.fromisoformat(end)
        key = tags.get(PARTITION_NAME_TAG)
        if key:
            return date.fromisoformat(key), date.fromisoformat(key)
    except ValueError:
        pass  # not a daily partition key: validate everything
    return None


def _check_key(suite: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(SUITE_ASSETS[suite]), CHECK_NAME)


@dg.multi_asset_check(
    name="great_expectations_suites",
    specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=asset,
            blocking=False,
            description=f"Great Expectations suite '{suite}' on {SUITES[suite].table}: {SUITES[suite].description}",
        )
        for suite, asset in SUITE_ASSETS.items()
    ],
    can_subset=True,
    compute_kind="great_expectations",
)
def great_expectations_suites(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    suites = [suite for suite in SUITE_ASSETS if _check_key(suite) in context.selected_asset_check_keys]
    day_range = run_day_range(context.run.tags)
    root = gx_root()
    try:
        outcomes = run_suites(
            warehouse.url or warehouse_url(), root, day_range=day_range, suites=suites, run_name=context.run.run_id
        )
    except Exception as exc:  # a check that cannot run warns; it must not fail the run it watches
        context.log.error(f"Great Expectations suites did not run: {traceback.format_exc()}")
        for suite in suites:
            yield _result(suite, passed=False, description=f"the suite did not run: {type(exc).__name__}: {exc}")
        return
    days = "all" if day_range is None else f"{day_range[0]} … {day_range[1]}"
    for suite in suites:
        outcome = outcomes.get(suite)
        if outcome is None:
            yield _result(
                suite, passed=False, description=f"{SUITES[suite].table} does not exist", metadata={"days": days}
            )
        else:
            yield _result(
                suite, passed=outcome.success, description=_summary(outcome), metadata=_metadata(outcome, root)
            )


def _result(suite: str, *, passed: bool, description: str, metadata: dict | None = None) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=SUITE_ASSETS[suite],
        check_name=CHECK_NAME,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={"table": dg.MetadataValue.text(SUITES[suite].table), **(metadata or {})},
    )


def _summary(outcome: SuiteOutcome) -> str:
    evaluated = outcome.statistics.get("evaluated_expectations", 0)
    if not outcome.failed:
        return f"all {evaluated} expectations met"
    failures = "; ".join(
        f"{failed.expectation}({failed.column or ''}): "
        + (f"{failed.unexpected_count} unexpected" if failed.unexpected_count is not None else failed.exception or "")
        for failed in outcome.failed
    )
    return f"{len(outcome.failed)} of {evaluated} expectations failed: {failures}"


def _metadata(outcome: SuiteOutcome, root) -> dict[str, dg.MetadataValue]:
    metadata = {
        "days": dg.MetadataValue.text(
            "all" if outcome.day_range is None else f"{outcome.day_range[0]} … {outcome.day_range[1]}"
        ),
        "success_percent": dg.MetadataValue.float(outcome.success_percent),
        "evaluated_expectations": dg.MetadataValue.int(int(outcome.statistics.get("evaluated_expectations") or 0)),
        "failed_expectations": dg.MetadataValue.json([failed.as_dict() for failed in outcome.failed]),
        "unexpected_counts": dg.MetadataValue.json(
            {
                f"{failed.expectation}({failed.column or ''})": failed.unexpected_count
                for failed in outcome.failed
                if failed.unexpected_count is not None
            }
        ),
        "data_docs": dg.MetadataValue.path(str(data_docs_index(root))),
    }
    if outcome.docs_page is not None:
        metadata["data_docs_validation"] = dg.MetadataValue.path(str(outcome.docs_page))
    return metadata


gx_checks = [great_expectations_suites]
