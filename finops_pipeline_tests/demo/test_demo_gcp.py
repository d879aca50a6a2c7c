"""The demo's GCP billing export, read back by the real GCP source and checked against sums done here.

Credits are parsed independently of the reader (a regex over the repr text, amounts as `Decimal`), and the
committed use discount, promotional credit and tax are recomputed from the organisation's prices by hand.
"""

import csv
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.demo import DemoExports
from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.sources.gcp.export import billing_export_source_totals, scan_billing_export
from finops_pipeline.sources.gcp.focus_mapping import billing_export_to_focus

ZERO = Decimal(0)
MONTHS = ["2026-08", "2026-09", "2026-10", "2026-11"]
N2_CORE, N2_RAM = Decimal("0.031611"), Decimal("0.004237")  # on-demand $/vCPU-h, $/GiB-h (us-central1)
CUD_CORE, CUD_RAM = Decimal("0.019915"), Decimal("0.002669")  # 1-year commitment prices
COMMITTED_VCPUS, COMMITTED_GIB = 16, 64
E2_CORE, E2_RAM = Decimal("0.021811"), Decimal("0.002923")  # on-demand (us-east1, as the demo prices it)
FLEXIBLE_HOURLY, FLEXIBLE_DISCOUNT, FLEXIBLE_FEE_SKU = Decimal("0.20"), Decimal("0.28"), "5515-81A8-03A2"
PROMO_CAP = Decimal("300.00")
TAX_RATE = Decimal("0.0625")
_AMOUNT = re.compile(r"'amount': (-?[0-9.]+(?:[eE][-+]?\d+)?)")
_TYPE = re.compile(r"'type': '([A-Z_]+)'")


def _credits(text: str) -> list[tuple[str, Decimal]]:
    """(type, amount) of each credit of a repr list, parsed here without the reader."""
    records = re.findall(r"\{[^{}]*\}", text)
    return [(_TYPE.search(r).group(1), Decimal(_AMOUNT.search(r).group(1))) for r in records]


def _credit_sum(row: dict[str, str], kind: str | None = None) -> Decimal:
    return sum((a for t, a in _credits(row["credits"]) if kind is None or t == kind), ZERO)


def _start(row: dict[str, str]) -> datetime:
    return datetime.fromisoformat(row["usage_start_time"])


@pytest.fixture(scope="module")
def rows(demo_exports: DemoExports) -> dict[str, list[dict[str, str]]]:
    out = {}
    for path in demo_exports.gcp.data_files:
        with path.open(newline="") as f:
            out[path.stem] = list(csv.DictReader(f))
    return out


@pytest.fixture(scope="module")
def all_rows(rows) -> list[dict[str, str]]:
    return [r for month in MONTHS for r in rows[month]]


@pytest.fixture(scope="module")
def focus(demo_exports: DemoExports) -> pl.DataFrame:
    return billing_export_to_focus(scan_billing_export(demo_exports.gcp.data_files), source_name="gcp").collect()


def test_one_csv_per_invoice_month_with_dotted_headers(demo_exports: DemoExports, rows) -> None:
    root = demo_exports.gcp.root
    assert root == demo_exports.out_dir / "gcp"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        f"billing_export/{m}.csv" for m in MONTHS
    ]
    header = next(csv.reader(demo_exports.gcp.data_files[0].open()))
    for column in ("service.description", "usage.amount_in_pricing_units", "invoice.month", "project.labels"):
        assert column in header
    for month, month_rows in rows.items():
        assert {r["invoice.month"] for r in month_rows} == {month.replace("-", "")}


def test_usage_days_are_pacific_days(all_rows) -> None:
    starts = {r["usage_start_time"] for r in all_rows if r["cost_type"] == "regular"}
    # Midnight in Los Angeles: 07:00 UTC in summer time, 08:00 UTC from 1 Nov 2026 (the DST switch day is
    # 25 hours long).
    assert "2026-10-31 07:00:00+00:00" in starts and "2026-11-02 08:00:00+00:00" in starts
    assert {s[11:] for s in starts} == {"07:00:00+00:00", "08:00:00+00:00"}
    switch = next(r for r in all_rows if r["usage_start_time"] == "2026-11-01 07:00:00+00:00")
    assert switch["usage_end_time"] == "2026-11-02 08:00:00+00:00"
    days = sorted({_start(r).date() for r in all_rows if r["cost_type"] == "regular"})
    assert days[0] == date(2026, 8, 25) and days[-1] == date(2026, 11, 22) and len(days) == 90


def test_late_reported_analysis_is_invoiced_in_the_next_month(rows) -> None:
    for month, previous_last_day in (("2026-09", date(2026, 8, 31)), ("2026-10", date(2026, 9, 30))):
        late = [r for r in rows[month] if _start(r).date() == previous_last_day]
        assert [(r["service.description"], r["sku.description"]) for r in late] == [("BigQuery", "Analysis")]
    assert not [
        r for r in rows["2026-08"] if _start(r).date() == date(2026, 8, 31) and r["sku.description"] == "Analysis"
    ]


def _unused_fee_rows(all_rows) -> int:
    """Resource-based commitment fee rows (one per day and CPU/RAM) whose day left part of the commitment
    unused, and the flexible commitment's fee rows of what nobody used."""
    unused = 0
    for fee in (r for r in all_rows if r["sku.description"].startswith("Commitment")):
        part = "Core" if " Cpu " in fee["sku.description"] else "Ram"
        used = sum(
            (
                Decimal(r["usage.amount_in_pricing_units"])
                for r in all_rows
                if r["usage_start_time"] == fee["usage_start_time"]
                and r["sku.description"] == f"N2 Instance {part} running in Americas"
                and r["project.id"] == fee["project.id"]
            ),
            ZERO,
        )
        unused += used < Decimal(fee["usage.amount_in_pricing_units"])
    # The flexible CUD's: each fee row its offset does not cancel (the part nobody used).
    flexible = (r for r in all_rows if r["sku.id"] == FLEXIBLE_FEE_SKU)
    return unused + sum(1 for r in flexible if Decimal(r["cost"]) + _credit_sum(r, "FEE_UTILIZATION_OFFSET") != 0)


def test_the_reader_maps_every_row_and_conform_rejects_nothing(focus: pl.DataFrame, all_rows) -> None:
    # Every row, plus a Credit row per promotional credit, an Unused row per partly idle commitment fee, and an
    # on-demand part per usage row only partly covered by the commitment (−CUD credit < cost).
    promotions = sum(1 for r in all_rows for t, _ in _credits(r["credits"]) if t == "PROMOTION")
    unused = _unused_fee_rows(all_rows)
    partly_covered = sum(1 for r in all_rows if ZERO < -_credit_sum(r, "COMMITTED_USAGE_DISCOUNT") < Decimal(r["cost"]))
    assert promotions and unused and partly_covered
    assert focus.filter(pl.col("ChargeCategory") == "Credit").height == promotions
    assert focus.filter(pl.col("CommitmentDiscountStatus") == "Unused").height == unused
    assert focus.height == len(all_rows) + promotions + unused + partly_covered
    assert focus.filter(pl.col(REASON).is_not_null()).height == 0
    result = conform_to_focus(focus.drop(REASON, "x_Credits"))
    assert result.rejected.height == 0 and result.valid.height == focus.height


def test_billed_is_the_invoice_cost_plus_credits(focus: pl.DataFrame, all_rows) -> None:
    cost = sum((Decimal(r["cost"]) for r in all_rows), ZERO)
    credits = sum((_credit_sum(r) for r in all_rows), ZERO)
    promotions = sum((_credit_sum(r, "PROMOTION") for r in all_rows), ZERO)
    fees = sum((Decimal(r["cost"]) for r in all_rows if _is_fee(r)), ZERO)
    assert credits < promotions < 0 and fees > 0
    assert focus["BilledCost"].sum() == cost + credits  # Google's invoice
    credit_rows = focus.filter(pl.col("ChargeCategory") == "Credit")
    assert credit_rows["BilledCost"].sum() == credit_rows["EffectiveCost"].sum() == promotions
    # The commitment fees are amortised (Purchase rows carry 0) onto covered usage and Unused rows, exactly. The
    # flexible CUD's fee rows bill their fee: their offsets (minus the usage they paid for) and that usage's
    # cost, moved to them, cancel out.
    assert focus.filter(pl.col("ChargeCategory") == "Purchase")["BilledCost"].sum() == fees
    assert focus.filter(pl.col("ChargeCategory") == "Purchase")["EffectiveCost"].sum() == ZERO
    assert focus["EffectiveCost"].sum() == cost + credits


def test_source_totals_per_invoice_month(demo_exports: DemoExports, rows) -> None:
    totals = billing_export_source_totals(scan_billing_export(demo_exports.gcp.data_files)).collect()
    per_month = totals.group_by("x_BillingPeriodStart").agg(pl.col("x_SourceCost").sum()).sort("x_BillingPeriodStart")
    assert per_month["x_BillingPeriodStart"].to_list() == [date.fromisoformat(f"{m}-01") for m in MONTHS]
    invoices = [sum((Decimal(r["cost"]) + _credit_sum(r) for r in rows[m]), ZERO) for m in MONTHS]
    assert per_month["x_SourceCost"].to_list() == invoices
    export = demo_exports.gcp
    assert [export.totals[p] for p in export.billing_periods] == per_month["x_SourceCost"].to_list()


def _is_fee(row: dict[str, str]) -> bool:
    return row["sku.description"].startswith("Commitment") or row["sku.id"] == FLEXIBLE_FEE_SKU


def test_flexible_commitment_by_hand(all_rows, focus: pl.DataFrame) -> None:
    """The Payments DR pair's E2 usage in us-east1, under a $0.20-an-hour flexible CUD at 28% off: per Pacific
    day the usage is priced at the discounted price, the fee is 0.20 × hours, split into what each usage SKU
    consumed (offset by as much) and the rest; in FOCUS the usage is Used at its discounted cost, billed 0,
    and the rest is the Unused row."""
    by_day: dict[date, list[dict[str, str]]] = defaultdict(list)
    for r in all_rows:
        if r["location.region"] == "us-east1" and r["cost_type"] == "regular":
            by_day[_start(r).date()].append(r)
    unused_total = ZERO
    for day_rows in by_day.values():
        end = datetime.fromisoformat(day_rows[0]["usage_end_time"])
        hours = Decimal((end - _start(day_rows[0])) // timedelta(hours=1))
        e2 = [r for r in day_rows if r["sku.description"].startswith("E2 Instance")]
        consumed = ZERO
        for r in e2:
            on_demand = E2_CORE if "Core" in r["sku.description"] else E2_RAM
            discounted = on_demand * (1 - FLEXIBLE_DISCOUNT)
            assert r["consumption_model.id"] == "D97B-0795-975B" and r["subscription.instance_id"]
            assert Decimal(r["cost"]) == discounted * Decimal(r["usage.amount_in_pricing_units"])
            assert Decimal(r["cost_at_effective_price_default"]) == on_demand * Decimal(
                r["usage.amount_in_pricing_units"]
            )
            consumed += Decimal(r["cost"])
        fees = [r for r in day_rows if r["sku.id"] == FLEXIBLE_FEE_SKU]
        assert sum((Decimal(r["cost"]) for r in fees), ZERO) == FLEXIBLE_HOURLY * hours
        assert sum((_credit_sum(r, "FEE_UTILIZATION_OFFSET") for r in fees), ZERO) == -consumed
        unused_total += FLEXIBLE_HOURLY * hours - consumed
    days = {_start(r).date() for r in all_rows if r["cost_type"] == "regular"}
    assert set(by_day) == days and unused_total > 0  # bought before the window: a fee every day
    flexible = focus.filter(pl.col("CommitmentDiscountType") == "Spend-based committed use discount")
    used = flexible.filter(pl.col("CommitmentDiscountStatus") == "Used")
    assert used["BilledCost"].sum() == ZERO
    assert used["EffectiveCost"].sum() == sum(
        (Decimal(r["cost"]) for rows in by_day.values() for r in rows if r["sku.description"].startswith("E2")), ZERO
    )
    assert flexible.filter(pl.col("CommitmentDiscountStatus") == "Unused")["EffectiveCost"].sum() == unused_total


def test_committed_use_discount_by_hand(all_rows) -> None:
    """Per Pacific day: the fee is billed in full; the credit is the on-demand price of the covered N2 usage,
    min(committed, used) hours, on the ML project's rows."""
    by_day: dict[date, list[dict[str, str]]] = defaultdict(list)
    for r in all_rows:
        if r["project.id"] == "larkspur-ml-research" and r["cost_type"] == "regular":
            by_day[_start(r).date()].append(r)
    unused_days = used_up_days = 0
    for day, day_rows in by_day.items():
        end = datetime.fromisoformat(day_rows[0]["usage_end_time"])
        hours = Decimal((end - _start(day_rows[0])) // timedelta(hours=1))  # 25 on the DST switch day
        fees = {r["sku.description"]: Decimal(r["cost"]) for r in day_rows if r["sku.description"].startswith("Commit")}
        assert fees == {
            "Commitment v1: N2 Cpu in Americas for 1 Year": COMMITTED_VCPUS * hours * CUD_CORE,
            "Commitment v1: N2 Ram in Americas for 1 Year": COMMITTED_GIB * hours * CUD_RAM,
        }
        for sku, price, committed in (("Core", N2_CORE, COMMITTED_VCPUS), ("Ram", N2_RAM, COMMITTED_GIB)):
            usage = [r for r in day_rows if r["sku.description"] == f"N2 Instance {sku} running in Americas"]
            used = sum((Decimal(r["usage.amount_in_pricing_units"]) for r in usage), ZERO)
            covered = min(used, committed * hours)
            credit = sum((_credit_sum(r, "COMMITTED_USAGE_DISCOUNT") for r in usage), ZERO)
            assert abs(credit + covered * price) < Decimal("1e-8"), (day, sku)
            if sku == "Core":
                unused_days += used < committed * hours
                used_up_days += used >= committed * hours
    assert unused_days and used_up_days  # weekends leave part of it unused, weekdays use it all


def test_promotional_credit_fills_its_monthly_cap(rows) -> None:
    for month in MONTHS:
        eligible = [
            r
            for r in rows[month]
            if r["project.id"] == "larkspur-ml-research"
            and r["service.description"] == "Compute Engine"
            and r["cost_type"] == "regular"
            and not r["sku.description"].startswith("Commitment")
        ]
        before = sum((Decimal(r["cost"]) + _credit_sum(r, "COMMITTED_USAGE_DISCOUNT") for r in eligible), ZERO)
        promo = sum((_credit_sum(r, "PROMOTION") for r in rows[month]), ZERO)
        assert promo == -min(PROMO_CAP, before), month
    assert sum((_credit_sum(r, "PROMOTION") for r in rows["2026-10"]), ZERO) == -PROMO_CAP


def test_tax_per_project_and_invoice_month(rows) -> None:
    for month in MONTHS:
        net: dict[str, Decimal] = defaultdict(Decimal)
        for r in rows[month]:
            if r["cost_type"] == "regular":
                net[r["project.id"]] += Decimal(r["cost"]) + _credit_sum(r)
        tax = {r["project.id"]: Decimal(r["cost"]) for r in rows[month] if r["cost_type"] == "tax"}
        assert tax == {p: (v * TAX_RATE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for p, v in net.items()}


def test_labels_carry_the_usual_mess(focus: pl.DataFrame) -> None:
    teams = set(focus["Tags"].drop_nulls().str.json_path_match("$.team").drop_nulls())
    assert {"data", "data-eng", "ml", "payments"} <= teams
    projects = focus.group_by("SubAccountId").agg(pl.col("SubAccountName").first())
    assert dict(projects.iter_rows()) == {
        "larkspur-analytics": "Larkspur Analytics",
        "larkspur-ml-research": "ML Research",
        "larkspur-payments-dr": "Payments DR",
    }
    workbench = focus.filter(pl.col("ResourceName") == "ml-workbench")["Tags"][0]
    assert '"team":"ml"' in workbench and '"owner":"luis-ortega"' in workbench  # the team only from the project
    analytics = focus.filter(pl.col("SubAccountId") == "larkspur-analytics")["Tags"][0]
    assert '"718204930561/cost-center":"3001"' in analytics  # an inherited Resource Manager tag


def test_generator_billed_by_day_matches_the_files(demo_exports: DemoExports, all_rows) -> None:
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for r in all_rows:
        by_day[_start(r).date()] += Decimal(r["cost"]) + _credit_sum(r)  # the invoice: cost + credits
    assert demo_exports.gcp.billed_by_day == dict(by_day)


def test_files_are_plain_csv_the_every_file_finder_takes(demo_exports: DemoExports) -> None:
    assert all(Path(p).suffix == ".csv" for p in demo_exports.gcp.data_files)
