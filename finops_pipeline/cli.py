"""`finops`: the command line. `finops demo` generates the demo organisation and runs the daily job on it."""

import argparse
import os
import sys
from datetime import UTC, date, datetime, timedelta

from finops_pipeline.settings import config_dir, finops_home, warehouse_url


def _use_local_dagster_home() -> str:
    """Runs are recorded in a persistent SQLite instance so `dagster dev` shows them afterwards."""
    home = os.environ.setdefault("DAGSTER_HOME", str(finops_home() / "dagster"))
    os.makedirs(home, exist_ok=True)
    instance_yaml = os.path.join(home, "dagster.yaml")
    if not os.path.exists(instance_yaml):
        with open(instance_yaml, "w") as f:
            f.write("# Embedded default: SQLite storage in this folder.\ntelemetry:\n  enabled: false\n")
    return home


def run_daily_job(first_day: date, last_day: date, asset_selection=None, instance=None):
    """Materialise every asset (or `asset_selection`) for [first_day, last_day] in one run of the daily job,
    recorded in `instance` (default: the one DAGSTER_HOME configures)."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    from finops_pipeline.definitions import build_definitions
    from finops_pipeline.defs.schedules import partition_range_tags

    job = build_definitions().resolve_job_def("daily_refresh")
    quiet_logs = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.get(),
        tags=partition_range_tags(first_day, last_day),
        run_config=quiet_logs,
        raise_on_error=False,
        asset_selection=asset_selection,
    )


def summary(result, first_day: date, last_day: date) -> str:
    from finops_pipeline.warehouse import Warehouse

    lines = [f"\nfinops: run {result.run_id} {'succeeded' if result.success else 'FAILED'} ({first_day} … {last_day})"]
    with Warehouse.from_url(warehouse_url()) as wh:
        if wh.table_exists("core.focus_costs"):
            by_month = wh.read_frame(
                'SELECT "ProviderName" AS provider, CAST("BillingPeriodStart" AS DATE) AS billing_period, '
                'COUNT(*) AS rows, SUM("BilledCost") AS billed_cost, SUM("EffectiveCost") AS effective_cost '
                'FROM core.focus_costs WHERE "x_ChargeDay" BETWEEN :a AND :b GROUP BY 1, 2 ORDER BY 1, 2',
                {"a": first_day, "b": last_day},
            )
            lines.append("\ncore.focus_costs by provider and billing period:")
            for row in by_month.iter_rows(named=True):
                lines.append(
                    f"  {row['provider']:<14} {row['billing_period']:%Y-%m}  {row['rows']:>8} rows  "
                    f"billed {row['billed_cost']:>14,.2f}  effective {row['effective_cost']:>14,.2f}"
                )
        if wh.table_exists("core.quarantine"):
            quarantined = wh.read_frame(
                'SELECT COUNT(*) AS n, SUM("x_SourceCost") AS cost FROM core.quarantine '
                'WHERE "x_ChargeDay" BETWEEN :a AND :b',
                {"a": first_day, "b": last_day},
            )
            lines.append(f"core.quarantine: {quarantined['n'][0]} rows, cost {quarantined['cost'][0] or 0:,.2f}")
        if wh.table_exists("core.k8s_usage"):
            k8s = wh.read_frame(
                "SELECT COUNT(*) AS n, COUNT(DISTINCT cluster) AS clusters FROM core.k8s_usage "
                'WHERE "x_ChargeDay" BETWEEN :a AND :b',
                {"a": first_day, "b": last_day},
            )
            lines.append(f"core.k8s_usage: {k8s['n'][0]} container-days in {k8s['clusters'][0]} cluster(s)")
        location = wh.describe()
    checks = result.get_asset_check_evaluations()
    passed = [c for c in checks if c.passed]
    lines.append(f"\nchecks: {len(passed)} passed, {len(checks) - len(passed)} failed")
    for check in sorted(checks, key=lambda c: (c.passed, c.asset_key.to_user_string(), c.check_name)):
        asset = check.asset_key.to_user_string()
        if not check.passed or asset == "focus_costs":
            lines.append(f"  {'ok  ' if check.passed else 'FAIL'} {asset}:{check.check_name}")
    from finops_pipeline.defs.gx import gx_root
    from finops_pipeline.quality.gx_suites import data_docs_index

    lines += [
        f"\nwarehouse: {location}",
        f"data quality report (Great Expectations Data Docs): {data_docs_index(gx_root())}",
        "open the UI: uv run finops ui   (dagster dev on this instance, then http://localhost:3000)",
    ]
    return "\n".join(lines)


def demo(days: int) -> int:
    from finops_pipeline.demo import generate_demo, install_demo_config

    _use_local_dagster_home()
    today = datetime.now(UTC).date()
    exports = finops_home() / "demo"
    print(f"finops: generating the demo organisation's billing exports (90 days to {today}) in {exports}")
    generate_demo(exports, end_date=today, days=90)
    for path in install_demo_config(config_dir()):
        print(f"finops: wrote the demo's {path.name} to {path.parent} (edit it there)")
    first_day = today - timedelta(days=days - 1)
    print(f"finops: materialising every asset for {first_day} … {today} in one Dagster run")
    result = run_daily_job(first_day, today)
    print(summary(result, first_day, today))
    return 0 if result.success else 1


def run(first_day: date, last_day: date) -> int:
    _use_local_dagster_home()
    result = run_daily_job(first_day, last_day)
    print(summary(result, first_day, last_day))
    return 0 if result.success else 1


def ui() -> int:
    """`dagster dev` on the embedded instance. The repo's dagster.yaml is the production (Postgres) instance,
    which plain `dagster dev` in the repo root would pick up when DAGSTER_HOME is unset."""
    home = _use_local_dagster_home()
    print(f"finops: Dagster UI on the instance in {home} (http://localhost:3000)")
    os.execvp("dagster", ["dagster", "dev", "-m", "finops_pipeline.definitions"])
    return 0  # not reached: exec replaces this process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="finops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="generate demo exports and run the pipeline on them")
    demo_parser.add_argument("--days", type=int, default=30, help="days to materialise, ending today (default 30)")
    commands.add_parser("ui", help="open the Dagster UI on the embedded instance (dagster dev)")
    run_parser = commands.add_parser("run", help="run the daily job for a range of days on configured sources")
    run_parser.add_argument("first_day", type=date.fromisoformat)
    run_parser.add_argument("last_day", type=date.fromisoformat)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.days)
    if args.command == "ui":
        return ui()
    return run(args.first_day, args.last_day)


if __name__ == "__main__":
    sys.exit(main())
