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
    from finops_pipeline.defs.freshness import freshness_checks
    from finops_pipeline.defs.schedules import partition_range_tags

    definitions = build_definitions()
    if asset_selection is not None:
        # A subset of the daily job, as a job of its own: selecting assets on the daily job itself would bring
        # back the freshness checks the daily job leaves to the sensor (they judge the clock, not the run).
        subset = dg.define_asset_job(
            "daily_refresh_subset",
            selection=dg.AssetSelection.assets(*asset_selection) - dg.AssetSelection.checks(*freshness_checks),
        )
        definitions = dg.Definitions.merge(definitions, dg.Definitions(jobs=[subset]))
    job = definitions.resolve_job_def("daily_refresh" if asset_selection is None else "daily_refresh_subset")
    quiet_logs = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.get(),
        tags=partition_range_tags(first_day, last_day),
        run_config=quiet_logs,
        raise_on_error=False,
    )


def _quietly(function, *args, **kwargs):
    """Call `function` with stdout going to $FINOPS_HOME/logs/pipeline-stdout.log: dagster-dbt re-emits every
    dbt log line on stdout (the Dagster UI captures it per step); the command line shows the summary."""
    import contextlib

    path = finops_home() / "logs" / "pipeline-stdout.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        return function(*args, **kwargs)


def run_statements(first_day: date, last_day: date, instance=None) -> list:
    """The monthly chargeback statements of every month the days touch (one run per month partition)."""
    import dagster as dg

    from finops_pipeline.definitions import build_definitions

    job = build_definitions().resolve_job_def("monthly_statements")
    months = sorted(
        {date(d.year, d.month, 1) for d in (first_day, last_day)} | {date(last_day.year, last_day.month, 1)}
    )
    month = months[0]
    results = []
    while month <= months[-1]:
        results.append(
            job.execute_in_process(
                instance=instance or dg.DagsterInstance.get(),
                partition_key=month.isoformat(),
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        )
        month = (month + timedelta(days=32)).replace(day=1)
    return results


def summary(result, first_day: date, last_day: date, statement_runs=()) -> str:
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
        lines += _outputs_summary(wh, last_day)
        location = wh.describe()
    # (check, the month partition it ran for: statements are monthly)
    checks = [(check, "") for check in result.get_asset_check_evaluations()] + [
        (check, f" ({run.dagster_run.tags.get('dagster/partition', '')[:7]})")
        for run in statement_runs
        for check in run.get_asset_check_evaluations()
    ]
    passed = [c for c, _ in checks if c.passed]
    lines.append(f"\nchecks: {len(passed)} passed, {len(checks) - len(passed)} failed")
    for check, month in sorted(
        checks, key=lambda c: (c[0].passed, c[0].asset_key.to_user_string(), c[0].check_name, c[1])
    ):
        asset = check.asset_key.to_user_string()
        if not check.passed or asset in ("focus_costs", "cost_allocation", "chargeback_statements"):
            lines.append(f"  {'ok  ' if check.passed else 'FAIL'} {asset}:{check.check_name}{month}")
    from finops_pipeline.defs.gx import gx_root
    from finops_pipeline.quality.gx_suites import data_docs_index

    lines += [
        f"\nwarehouse: {location}",
        f"data quality report (Great Expectations Data Docs): {data_docs_index(gx_root())}",
        f"dbt and other step output: {finops_home() / 'logs' / 'pipeline-stdout.log'}",
        "open the UI: uv run finops ui   (dagster dev on this instance, then http://localhost:3000)",
    ]
    return "\n".join(lines)


def _outputs_summary(wh, last_day: date) -> list[str]:
    """Who spent what (allocation), what they are charged (statements), where budgets stand, the KPIs."""
    lines = []
    if wh.table_exists("outputs.cost_allocation"):
        rows = wh.read_frame(
            'SELECT "x_Team" AS team, "AllocatedMethodId" AS method, SUM("EffectiveCost") AS cost '
            'FROM outputs.cost_allocation WHERE "x_ChargeDay" >= :first AND "x_ChargeDay" <= :last '
            "GROUP BY 1, 2",
            {"first": last_day.replace(day=1), "last": last_day},
        )
        if rows.height:
            pivot = rows.pivot(on="method", index="team", values="cost").fill_null(0)
            methods = [
                m
                for m in ("direct", "kubernetes", "kubernetes_shared", "kubernetes_idle", "shared_pool")
                if m in pivot.columns
            ]
            lines.append(f"\noutputs.cost_allocation, {last_day:%B %Y} to date (EffectiveCost by team and method):")
            lines.append("  " + f"{'team':<12}" + "".join(f"{m:>18}" for m in methods) + f"{'total':>12}")
            for row in pivot.sort("team").iter_rows(named=True):
                total = sum(row[m] for m in methods)
                lines.append(
                    "  " + f"{row['team']:<12}" + "".join(f"{row[m]:>18,.2f}" for m in methods) + f"{total:>12,.2f}"
                )
    if wh.table_exists("outputs.chargeback_statements"):
        statements = wh.read_frame(
            "SELECT owner, mode, bill_share, markups, fees, total FROM outputs.chargeback_statements "
            "WHERE month = :month ORDER BY owner",
            {"month": last_day.replace(day=1)},
        )
        lines.append(f"\noutputs.chargeback_statements, {last_day:%B %Y} (month to date):")
        for row in statements.iter_rows(named=True):
            lines.append(
                f"  {row['owner']:<12} {row['mode']:<10} bill {row['bill_share']:>10,.2f}"
                f"  markups {row['markups']:>8,.2f}  fees {row['fees']:>8,.2f}  total {row['total']:>10,.2f}"
            )
    if wh.table_exists("outputs.budget_status"):
        budgets = wh.read_frame(
            "SELECT dimension, owner, budget, mtd_cost, pct_used, status, projected_cost, warning_crossed_on, "
            "runs_out_on FROM outputs.budget_status WHERE day = :day ORDER BY dimension DESC, owner",
            {"day": last_day},
        )
        lines.append(f"\noutputs.budget_status on {last_day}:")
        for row in budgets.iter_rows(named=True):
            crossed = f"warning since {row['warning_crossed_on']}" if row["warning_crossed_on"] else ""
            runs_out = f"runs out {row['runs_out_on']}" if row["runs_out_on"] else ""
            lines.append(
                f"  {row['dimension'] + '=' + row['owner']:<20} {row['mtd_cost']:>10,.2f} of {row['budget']:>10,.2f}"
                f" ({row['pct_used']:5.1f} %) {row['status']:<8} projected {row['projected_cost']:>10,.2f}"
                f"  {crossed} {runs_out}"
            )
    if wh.table_exists("outputs.finops_kpis"):
        kpis = wh.read_frame(
            "SELECT kpi, SUM(numerator) AS n, SUM(denominator) AS d FROM outputs.finops_kpis "
            'WHERE scope_type = \'all\' AND "x_ChargeDay" >= :first AND "x_ChargeDay" <= :last GROUP BY 1 ORDER BY 1',
            {"first": last_day.replace(day=1), "last": last_day},
        )
        shown = ", ".join(f"{row['kpi']} {row['n'] / row['d']:.1%}" for row in kpis.iter_rows(named=True) if row["d"])
        lines.append(f"\noutputs.finops_kpis, {last_day:%B %Y} to date: {shown}")
    return lines


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
    result = _quietly(run_daily_job, first_day, today)
    statement_runs = _quietly(run_statements, first_day, today) if result.success else []
    print(summary(result, first_day, today, statement_runs))
    return 0 if result.success and all(run.success for run in statement_runs) else 1


def run(first_day: date, last_day: date) -> int:
    _use_local_dagster_home()
    result = _quietly(run_daily_job, first_day, last_day)
    statement_runs = _quietly(run_statements, first_day, last_day) if result.success else []
    print(summary(result, first_day, last_day, statement_runs))
    return 0 if result.success and all(run.success for run in statement_runs) else 1


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
