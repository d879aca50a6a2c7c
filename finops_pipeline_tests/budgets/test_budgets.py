from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.budgets import (
    BUDGET_STATUS_SCHEMA,
    DAILY_COSTS_SCHEMA,
    Budgets,
    budget_status,
    daily_costs_by_owner,
    load_budgets,
)
from finops_pipeline.config_files import ConfigFileError
from finops_pipeline.focus.schema import MONEY
from finops_pipeline_tests.chargeback.allocation_rows import allocation

D = Decimal
DEMO_BUDGETS = Path(__file__).resolve().parents[2] / "finops_pipeline" / "demo" / "config" / "budgets.yaml"


def nov(day: int) -> date:
    return date(2026, 11, day)


def costs(per_day: dict[date, str], owner: str = "payments", currency: str = "USD", dimension: str = "team"):
    return pl.DataFrame(
        [(day, dimension, owner, currency, D(amount)) for day, amount in per_day.items()],
        schema=DAILY_COSTS_SCHEMA,
        orient="row",
    )


def budgets(**budget) -> Budgets:
    return Budgets.model_validate({"budgets": [{"owner": "payments", "amount": 1000, **budget}]})


def status_on(daily, budget, day, **kwargs) -> dict:
    rows = budget_status(daily, budget, days=[day], **kwargs)
    assert rows.height == 1
    return rows.row(0, named=True)


HUNDRED_A_DAY = costs({nov(1) + timedelta(days=i): "100" for i in range(30)})


def test_hundred_a_day_against_a_thousand():
    # day 8: mtd 8 × 100 = 800 = 80 % → warning (crossed on the 8th); burn 100/day;
    # runs out: 800 + 100 × (d − 8) ≥ 1000 → d = 10; projected 800 / 8 × 30 = 3000 (300 %) → over budget
    row = status_on(HUNDRED_A_DAY, budgets(), nov(8))
    assert row == {
        "day": nov(8),
        "month": nov(1),
        "dimension": "team",
        "owner": "payments",
        "currency": "USD",
        "budget": D(1000),
        "warning_percent": 80.0,
        "critical_percent": 100.0,
        "mtd_cost": D(800),
        "days_elapsed": 8,
        "days_in_month": 30,
        "daily_burn": D(100),
        "projected_cost": D(3000),
        "projection_method": "run_rate",
        "pct_used": 80.0,
        "projected_pct": 300.0,
        "status": "warning",
        "projected_status": "critical",
        "projected_over_budget": True,
        "warning_crossed_on": nov(8),
        "critical_crossed_on": None,
        "runs_out_on": nov(10),
    }


def test_a_31_day_month_projects_3100():
    october = costs({date(2026, 10, 1) + timedelta(days=i): "100" for i in range(31)})
    row = status_on(october, budgets(), date(2026, 10, 8))  # 800 / 8 × 31 = 3100
    assert (row["projected_cost"], row["days_in_month"], row["runs_out_on"]) == (D(3100), 31, date(2026, 10, 10))


def test_the_days_after_the_budget_is_used_up():
    frame = budget_status(HUNDRED_A_DAY, budgets(), days=[nov(12), nov(7), nov(10), nov(30)])
    # sorted by day; 7th: 700 = 70 % normal, runs out 700 + 100 × 3 = 1000 → 10th
    # 10th: 1000 = 100 % → critical (crossed that day), runs out = the day it was reached
    # 12th: 1200; 30th: 3000 = the month is complete, nothing to project ("actual")
    assert frame.select(
        "day", "mtd_cost", "status", "warning_crossed_on", "critical_crossed_on", "runs_out_on", "projection_method"
    ).rows() == [
        (nov(7), D(700), "normal", None, None, nov(10), "run_rate"),
        (nov(10), D(1000), "critical", nov(8), nov(10), nov(10), "run_rate"),
        (nov(12), D(1200), "critical", nov(8), nov(10), nov(10), "run_rate"),
        (nov(30), D(3000), "critical", nov(8), nov(10), nov(10), "actual"),
    ]
    assert frame.schema == pl.Schema(BUDGET_STATUS_SCHEMA)


def test_uneven_spend_and_the_run_out_day_rounds_up():
    # 500 on the 1st, nothing on the 2nd, 200 on the 3rd: mtd 700 on the 3rd, burn 700 / 3 = 233.33…
    # 700 + 233.33 × k ≥ 1000 ⇔ k ≥ 300 × 3 / 700 = 1.29 → k = 2 → the 5th (the 4th: 933.33 < 1000)
    # projected 700 / 3 × 30 = 7000
    row = status_on(costs({nov(1): "500", nov(3): "200"}), budgets(), nov(3))
    assert (row["mtd_cost"], row["daily_burn"], row["runs_out_on"]) == (D(700), D("233.3333333333"), nov(5))
    assert (row["projected_cost"], row["status"], row["pct_used"]) == (D(7000), "normal", 70.0)
    # the 2nd has no cost row: mtd 500 over 2 days, burn 250, 500 + 250 × 2 = 1000 → the 4th
    assert status_on(costs({nov(1): "500", nov(3): "200"}), budgets(), nov(2))["runs_out_on"] == nov(4)


def test_no_run_out_day_after_the_month_end_or_without_spend():
    # 10000 budget, 100/day: on the 8th, (10000 − 800) / 100 = 92 more days → past the 30th → null
    row = status_on(HUNDRED_A_DAY, budgets(amount=10000), nov(8))
    assert (row["runs_out_on"], row["status"], row["pct_used"], row["projected_status"]) == (
        None,
        "normal",
        8.0,
        "normal",
    )
    # the 1000 budget on the 28th of a month spending 30 a day: 840 + 30 × 6 > 1000 but the month ends on the 30th
    row = status_on(costs({nov(1) + timedelta(days=i): "30" for i in range(28)}), budgets(), nov(28))
    assert (row["mtd_cost"], row["runs_out_on"], row["projected_cost"]) == (D(840), None, D(900))
    # nothing spent (the only cost is in another currency): 0 %, normal, no run-out day, projected 0
    row = status_on(costs({nov(1): "999"}, currency="EUR"), budgets(), nov(5))
    assert (row["mtd_cost"], row["daily_burn"], row["projected_cost"], row["runs_out_on"], row["status"]) == (
        D(0), D(0), D(0), None, "normal",
    )  # fmt: skip


def test_forecast_for_the_rest_of_the_month():
    def forecast(days: range, amount: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "x_ChargeDay": [nov(d) for d in days],
                "dimension": "team",
                "owner": "payments",
                "currency": "USD",
                "forecast_cost": [amount] * len(days),  # a float forecast is accepted (cast to MONEY)
            }
        )

    # 8 days at 100 = 800; forecast 50/day for the 22 days 9..30 = 1100 → 1900 (63.33 %)
    # (a forecast row for a day already past, the 8th, is ignored)
    row = status_on(HUNDRED_A_DAY, budgets(amount=3000), nov(8), forecast=forecast(range(8, 31), 50.0))
    assert (row["projected_cost"], row["projection_method"], row["projected_status"]) == (D(1900), "forecast", "normal")
    assert row["projected_pct"] == pytest.approx(63.3333333333)
    # forecast only for 9..20 (12 × 50 = 600) → the other 10 days at the run rate 100 → 800 + 600 + 1000 = 2400
    row = status_on(HUNDRED_A_DAY, budgets(amount=3000), nov(8), forecast=forecast(range(9, 21), 50.0))
    assert (row["projected_cost"], row["projection_method"]) == (D(2400), "forecast+run_rate")
    # the run-out day stays at the current burn: 800 + 100 × 22 = 3000 → the 30th
    assert row["runs_out_on"] == nov(30)
    # a forecast for someone else changes nothing
    other = forecast(range(9, 31), 50.0).with_columns(owner=pl.lit("data"))
    row = status_on(HUNDRED_A_DAY, budgets(amount=3000), nov(8), forecast=other)
    assert (row["projected_cost"], row["projection_method"]) == (D(3000), "run_rate")


def test_month_overrides_and_own_thresholds():
    budget = budgets(months={"2026-11": 1800}, thresholds={"warning": 40, "critical": 90})
    frame = budget_status(HUNDRED_A_DAY, budget, days=[nov(7), nov(8), nov(17), date(2026, 10, 31)])
    # October: the 1000 default, nothing spent; November: 1800, warning at 720 (reached on the 8th: 800),
    # critical at 1620 (reached on the 17th: 1700); runs out when 1800 is reached: the 18th
    assert frame.select("day", "budget", "mtd_cost", "status", "warning_crossed_on", "runs_out_on").rows() == [
        (date(2026, 10, 31), D(1000), D(0), "normal", None, None),
        (nov(7), D(1800), D(700), "normal", None, nov(18)),
        (nov(8), D(1800), D(800), "warning", nov(8), nov(18)),
        (nov(17), D(1800), D(1700), "critical", nov(8), nov(18)),
    ]
    assert frame["warning_percent"].to_list() == [40.0] * 4


def test_budgets_per_cost_center_from_the_allocation():
    bill = allocation(
        {"x_Team": "payments", "x_CostCenter": "CC-2001", "EffectiveCost": "300"},
        {"x_Team": "data", "x_CostCenter": "CC-2001", "EffectiveCost": "250.5"},  # another team, same centre
        {"x_Team": "payments", "x_CostCenter": "CC-2001", "EffectiveCost": "40", "x_ChargeDay": nov(2)},
        {"x_Team": "payments", "x_CostCenter": "CC-2001", "EffectiveCost": "7", "BillingCurrency": "EUR"},
    )
    daily = daily_costs_by_owner(bill, ["team", "cost_center"])
    assert daily.schema == pl.Schema(DAILY_COSTS_SCHEMA)
    assert daily.rows() == [
        (nov(1), "cost_center", "CC-2001", "EUR", D(7)),
        (nov(1), "cost_center", "CC-2001", "USD", D("550.5")),
        (nov(2), "cost_center", "CC-2001", "USD", D(40)),
        (nov(1), "team", "data", "USD", D("250.5")),
        (nov(1), "team", "payments", "EUR", D(7)),
        (nov(1), "team", "payments", "USD", D(300)),
        (nov(2), "team", "payments", "USD", D(40)),
    ]
    both = Budgets.model_validate(
        {
            "budgets": [
                {"owner": "payments", "amount": 1000},
                {"owner": "CC-2001", "dimension": "cost_center", "amount": 1000},
            ]
        }
    )
    # payments: 300 + 40 = 340 (the EUR 7 is not in the USD budget); CC-2001: 550.5 + 40 = 590.5
    frame = budget_status(daily, both, days=[nov(2)])
    assert frame.select("dimension", "owner", "mtd_cost", "pct_used").rows() == [
        ("cost_center", "CC-2001", D("590.5"), 59.05),
        ("team", "payments", D(340), 34.0),
    ]


def test_no_days_or_no_budgets_give_an_empty_table():
    assert budget_status(HUNDRED_A_DAY, budgets(), days=[]).schema == pl.Schema(BUDGET_STATUS_SCHEMA)
    assert budget_status(HUNDRED_A_DAY, Budgets(), days=[nov(3)]).is_empty()


def test_demo_budgets_load():
    demo = load_budgets(
        DEMO_BUDGETS, known_values={"team": ["platform", "payments", "data", "ml"], "cost_center": None}
    )
    by_owner = {(b.dimension, b.owner): b for b in demo.resolved}
    assert by_owner[("team", "ml")].amount_for(date(2026, 10, 3)) == D(4000)
    assert by_owner[("team", "ml")].amount_for(nov(3)) == D(2000)
    assert (by_owner[("team", "payments")].warning, by_owner[("team", "payments")].critical) == (D(70), D(100))
    assert demo.dimensions == ["team", "cost_center"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("budgets: [{owner: a, amount: 0}]", "budgets[0].amount", "greater than 0"),
        ("budgets: [{owner: a}]", "budgets[0].amount", "Field required"),
        ("budgets: [{owner: a, amout: 5}]", "budgets[0].amout", "unknown key"),
        ('budgets: [{owner: a, amount: 5, months: {"2026-13": 5}}]', "budgets[0].months.2026-13", "YYYY-MM"),
        ("budgets: [{owner: a, amount: 5, months: {2026-11: 5, 2026-12-01: 5}}]", "budgets[0].months.2026-12-01",
         "YYYY-MM"),
        ('budgets: [{owner: a, amount: 5, months: {"2026-11": -5}}]', "budgets[0].months.2026-11", "greater than 0"),
        ("budgets: [{owner: a, amount: 5, thresholds: {warning: 120}}]", "budgets[0].thresholds",
         "warning (120) must not be above critical (100)"),
        ("thresholds: {warning: -1}", "thresholds.warning", "greater than 0"),
        ("thresholds: {critical: 50}", "thresholds", "warning (80) must not be above critical (50)"),
        ("budgets: [{owner: a, amount: 5, currency: usd}]", "budgets[0].currency", "ISO 4217"),
        ("budgets: [{owner: a, amount: 5}, {owner: a, amount: 6}]", "budgets[1].owner", "a second budget for team 'a'"),
    ],
)  # fmt: skip
def test_bad_budgets_name_file_key_and_problem(tmp_path, text, key, problem):
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigFileError) as error:
        load_budgets(path)
    assert (error.value.file, error.value.key) == (str(path), key)
    assert problem in error.value.problem
    assert str(error.value).startswith(f"{path}: {key}: ")


def test_unknown_dimensions_and_owners_when_known(tmp_path):
    known = {"team": ["payments", "data"], "cost_center": None}
    path = write(tmp_path, "budgets: [{owner: payments, amount: 5}, {owner: paymnets, amount: 5}]\n")
    with pytest.raises(ConfigFileError, match=r"budgets\.yaml: budgets\[1\]\.owner: unknown team 'paymnets'"):
        load_budgets(path, known_values=known)
    path = write(tmp_path, "budgets: [{owner: x, dimension: product, amount: 5}]\n")
    with pytest.raises(ConfigFileError, match=r"budgets\[0\]\.dimension: unknown dimension 'product'"):
        load_budgets(path, known_values=known)
    path = write(tmp_path, "dimension: squad\nbudgets: [{owner: x, amount: 5}]\n")
    with pytest.raises(ConfigFileError, match=r"budgets\.yaml: dimension: unknown dimension 'squad'"):
        load_budgets(path, known_values=known)
    assert load_budgets(
        write(tmp_path, "budgets: [{owner: CC-9, dimension: cost_center, amount: 5}]\n"), known_values=known
    )


def test_money_stays_decimal():
    frame = budget_status(HUNDRED_A_DAY, budgets(), days=[nov(3)])
    assert all(frame.schema[c] == MONEY for c in ("budget", "mtd_cost", "daily_burn", "projected_cost"))


def test_a_refund_after_the_budget_was_reached():
    # 600 + 400 = 1000 reached on the 2nd (critical), a −500 refund on the 3rd: mtd 500 on the 4th, back under
    # budget → runs out again at the burn 500 / 4 = 125: 500 + 125 × 4 = 1000 → the 8th; the crossings stay
    row = status_on(costs({nov(1): "600", nov(2): "400", nov(3): "-500"}), budgets(), nov(4))
    assert (row["mtd_cost"], row["status"], row["critical_crossed_on"], row["runs_out_on"]) == (
        D(500), "normal", nov(2), nov(8),
    )  # fmt: skip
    assert status_on(costs({nov(1): "600", nov(2): "400", nov(3): "-500"}), budgets(), nov(2))["runs_out_on"] == nov(2)
