"""Allocation, statements, budgets and KPIs through Dagster on the demo organisation (DuckDB).

One run of every source, focus_costs, k8s_usage, cost_allocation, budget_status and finops_kpis over the
30 demo days, then the monthly statements of November; the tests recompute what the outputs claim
straight from the stored tables and the demo's settings files, in Python Decimal.
"""

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import dagster as dg
import polars as pl
import pytest

from finops_pipeline.budgets import load_budgets
from finops_pipeline.chargeback import load_rate_card
from finops_pipeline.cli import run_daily_job, run_statements
from finops_pipeline.demo import DEMO_CONFIG, generate_demo, install_demo_config
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.defs.pipeline_run import DEMO_END, FIRST_DAY

ASSETS = [
    dg.AssetKey(name)
    for name in (
        "aws_billing",
        "azure_billing",
        "gcp_billing",
        "focus_export_billing",
        "k8s_usage",
        "focus_costs",
        "quarantine",
        "cost_allocation",
        "budget_status",
        "finops_kpis",
    )
]
NOVEMBER = date(2026, 11, 1)
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("allocation_demo")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "FINOPS_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
        }.items():
            patch.setenv(name, value)
        for name in ("FINOPS_AWS_BUCKET", "FINOPS_AWS_DIR", "FINOPS_WAREHOUSE_URL", "FINOPS_CONFIG_DIR"):
            patch.delenv(name, raising=False)
        generate_demo(home / "demo", end_date=DEMO_END, days=90, seed=7)
        install_demo_config(home / "config")
        instance = dg.DagsterInstance.ephemeral()
        result = run_daily_job(FIRST_DAY, DEMO_END, asset_selection=ASSETS, instance=instance)
        statements = run_statements(NOVEMBER, DEMO_END, instance=instance)
        with Warehouse.from_url(f"duckdb:///{home / 'warehouse.duckdb'}") as wh:
            tables = {
                name: wh.read_table(name)
                for name in (
                    "core.focus_costs",
                    "outputs.cost_allocation",
                    "outputs.budget_status",
                    "outputs.chargeback_statements",
                    "outputs.chargeback_statement_lines",
                    "outputs.finops_kpis",
                    "core.k8s_usage",
                )
            }
        yield {"result": result, "statements": statements, "tables": tables, "home": home}


def _checks(result) -> dict[str, bool]:
    return {f"{c.asset_key.to_user_string()}:{c.check_name}": c.passed for c in result.get_asset_check_evaluations()}


def test_conservation_holds_for_every_day_source_and_cost_type(demo_run):
    assert demo_run["result"].success
    checks = _checks(demo_run["result"])
    assert checks["cost_allocation:conserves_cost"] and checks["cost_allocation:every_row_has_an_owner"]

    focus, allocation = demo_run["tables"]["core.focus_costs"], demo_run["tables"]["outputs.cost_allocation"]
    for amount in ("BilledCost", "EffectiveCost", "ListCost"):
        expected, got = defaultdict(Decimal), defaultdict(Decimal)
        for day, source, cost in focus.select("x_ChargeDay", "x_SourceName", amount).iter_rows():
            expected[(day, source)] += cost or 0
        for day, source, cost in allocation.select("x_ChargeDay", "x_SourceName", amount).iter_rows():
            got[(day, source)] += cost or 0
        assert len(expected) == 30 * 3  # 30 days × aws, azure, gcp
        assert got == expected, amount  # exactly, not only to the cent
    assert allocation["x_Team"].null_count() == 0


def test_node_rows_are_replaced_by_their_pieces_never_counted_twice(demo_run):
    focus, allocation = demo_run["tables"]["core.focus_costs"], demo_run["tables"]["outputs.cost_allocation"]
    nodes = demo_run["tables"]["core.k8s_usage"]["node_resource_id"].drop_nulls().unique().to_list()
    on_nodes = allocation.filter(pl.col("ResourceId").is_in(nodes))
    # no node cost stays as a direct row: all of it went to containers, shared namespaces or idle
    assert set(on_nodes["AllocatedMethodId"].unique()) <= {"kubernetes", "kubernetes_shared", "kubernetes_idle"}
    node_bill = focus.filter(pl.col("ResourceId").is_in(nodes))["EffectiveCost"].sum()
    assert on_nodes["EffectiveCost"].sum() == node_bill > 0
    # and every priced container is a real workload of the usage table (cluster/namespace/pod/container)
    containers = on_nodes.filter(pl.col("AllocatedMethodId") == "kubernetes")["AllocatedResourceId"].unique()
    assert containers.str.count_matches("/").eq(3).all()


def test_every_statement_total_is_the_bill_share_plus_markups_and_fees(demo_run):
    assert all(run.success for run in demo_run["statements"])
    assert _checks(demo_run["statements"][0]) == {"chargeback_statements:statements_reconcile_to_the_bill": True}
    card = load_rate_card(DEMO_CONFIG / "rate_card.yaml")
    allocation = demo_run["tables"]["outputs.cost_allocation"].filter(pl.col("x_ChargeDay") >= NOVEMBER)
    headers = demo_run["tables"]["outputs.chargeback_statements"].filter(pl.col("month") == NOVEMBER)

    share, markups, retained = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
    for owner, category, effective, list_cost in allocation.select(
        "x_Team", "ServiceCategory", "EffectiveCost", "ListCost"
    ).iter_rows():
        share[owner] += effective
        charged = effective if card.passes_through_discounts(owner) else list_cost
        markups[owner] += charged * card.markup_percent(category) / 100
        if not card.passes_through_discounts(owner):
            retained[owner] += list_cost - effective
    assert sorted(headers["owner"]) == sorted(share)
    for row in headers.iter_rows(named=True):
        owner = row["owner"]
        fee = card.platform_fee(owner)
        # each line is rounded to the cent (largest remainder across owners): within a cent of the exact value
        assert abs(row["bill_share"] - share[owner]) < CENT, owner
        assert abs(row["markups"] - markups[owner]) < CENT * 4, owner  # one rounded line per ServiceCategory
        assert abs(row["discount_retained"] - retained[owner]) < CENT, owner
        assert row["fees"] == (fee.amount if fee else 0)
        assert row["total"] == row["bill_share"] + row["markups"] + row["fees"] + row["discount_retained"]
        assert row["amount_due"] == (row["total"] if card.mode(owner) == "chargeback" else 0)
    # the statements together are the bill, rounded to the cent
    assert headers["bill_share"].sum() == sum(share.values()).quantize(CENT, rounding=ROUND_HALF_UP)
    assert headers.filter(pl.col("owner") == "ml")["discount_retained"].item() > 0  # ML pays on-demand rates


def test_a_budget_crossing_its_warning_threshold_shows_up_on_the_right_day(demo_run):
    budgets = load_budgets(DEMO_CONFIG / "budgets.yaml")
    allocation = demo_run["tables"]["outputs.cost_allocation"].filter(pl.col("x_ChargeDay") >= NOVEMBER)
    status = demo_run["tables"]["outputs.budget_status"]
    daily = defaultdict(Decimal)
    for day, team, cost in allocation.select("x_ChargeDay", "x_Team", "EffectiveCost").iter_rows():
        daily[(team, day)] += cost

    crossings = 0
    for budget in budgets.resolved:
        if budget.dimension != "team":
            continue
        amount = budget.amount_for(NOVEMBER)
        warning_at = amount * budget.warning / 100
        month_to_date, crossed_on = Decimal(0), None
        for offset in range((DEMO_END - NOVEMBER).days + 1):
            day = NOVEMBER + timedelta(days=offset)
            month_to_date += daily[(budget.owner, day)]
            if crossed_on is None and month_to_date >= warning_at:
                crossed_on = day
        rows = status.filter((pl.col("dimension") == "team") & (pl.col("owner") == budget.owner)).sort("day")
        last = rows.filter(pl.col("day") == DEMO_END).row(0, named=True)
        assert last["mtd_cost"] == month_to_date
        assert last["warning_crossed_on"] == crossed_on, budget.owner
        if crossed_on is not None:
            crossings += 1
            by_day = dict(zip(rows["day"], rows["status"], strict=True))
            assert by_day[crossed_on] in ("warning", "critical")
            if crossed_on > NOVEMBER:
                assert by_day[crossed_on - timedelta(days=1)] == "normal"
    assert crossings >= 1  # the demo's budgets are set so that at least one team crosses its warning line


def test_kpis_are_stored_per_day_for_every_kpi(demo_run):
    kpis = demo_run["tables"]["outputs.finops_kpis"].filter(pl.col("scope_type") == "all")
    allocation = demo_run["tables"]["outputs.cost_allocation"]
    day = DEMO_END
    coverage = kpis.filter((pl.col("x_ChargeDay") == day) & (pl.col("kpi") == "allocation_coverage")).row(0, named=True)
    of_day = allocation.filter(pl.col("x_ChargeDay") == day)
    assert coverage["denominator"] == of_day["EffectiveCost"].sum()
    assert coverage["numerator"] == of_day.filter(pl.col("x_Team") != "unallocated")["EffectiveCost"].sum()
    assert kpis["x_ChargeDay"].n_unique() == 30


def test_a_bad_rules_file_stops_allocation_and_names_file_key_and_problem(demo_run, monkeypatch):
    home = demo_run["home"]
    bad = home / "bad_rules.yaml"
    bad.write_text((DEMO_CONFIG / "allocation_rules.yaml").read_text().replace("platform: 40,", "platform: 45,"))
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.setenv("FINOPS_ALLOCATION_RULES", str(bad))
    before = demo_run["tables"]["outputs.cost_allocation"]
    result = run_daily_job(
        DEMO_END, DEMO_END, asset_selection=[dg.AssetKey("cost_allocation")], instance=dg.DagsterInstance.ephemeral()
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message + str(failure.step_failure_data.user_failure_data)
    assert f"{bad}: shared_pools[1].percentages: percentages sum to 105, not 100" in message
    with Warehouse.from_url(f"duckdb:///{home / 'warehouse.duckdb'}") as wh:
        after = wh.read_table("outputs.cost_allocation")
    assert after.height == before.height and after["EffectiveCost"].sum() == before["EffectiveCost"].sum()


def test_the_billed_persistent_volume_is_priced_to_its_claim(demo_run):
    # Prometheus's EBS volume (monitoring namespace, shared across eks-prod) is in the bill and in the claims
    focus, allocation = demo_run["tables"]["core.focus_costs"], demo_run["tables"]["outputs.cost_allocation"]
    claims = demo_run["tables"]["core.k8s_usage"]["pv_claims"].drop_nulls()
    volume = claims.str.extract(r'"providerID":\s*"aws://[^/]+/(vol-[0-9a-f]+)"', 1).drop_nulls().unique().item()
    pieces = allocation.filter(pl.col("ResourceId") == volume)
    assert set(pieces["AllocatedMethodId"]) == {"kubernetes_shared"}  # monitoring is a shared namespace
    assert set(pieces["AllocatedResourceId"]) == {"eks-prod/monitoring"}
    assert pieces["EffectiveCost"].sum() == focus.filter(pl.col("ResourceId") == volume)["EffectiveCost"].sum() > 0
