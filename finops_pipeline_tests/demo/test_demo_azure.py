"""The demo's Azure EA exports, read back by the real Azure source and checked against sums done here.

Expected numbers come from the CSV text (Python `csv`, `Decimal`) and from the organisation's prices and
reservation terms worked out by hand, never from the generator's own bookkeeping.
"""

import csv
import json
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.connectors import LocalDirectoryStore
from finops_pipeline.defs.sources import azure_export_groups, scan_azure_export_group
from finops_pipeline.demo import DemoExports
from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.sources import azure as az
from finops_pipeline_tests.paths import SHARED_DATA

ZERO = Decimal(0)
CENT = Decimal("0.01")
FOLDERS = ["20260801-20260831", "20260901-20260930", "20261001-20261031", "20261101-20261130"]
# The reservation: 4 x Standard_D8s_v5, 1 year All Upfront at $1,999.00 each, bought on the day 15 % into the
# window (25 Aug + int(0.15 x 90) = 13 days → 7 Sep).
RESERVATION_START = date(2026, 9, 7)
RESERVATION_TOTAL = Decimal("1999.00") * 4
# Window days the reservation is active in each billing month: 7-30 Sep, all October, 1-22 Nov.
RESERVED_DAYS = {"20260801-20260831": 0, "20260901-20260930": 24, "20261001-20261031": 31, "20261101-20261130": 22}


def _real_ea_header() -> list[str]:
    """The column set of Microsoft's own EA cost-details export (finops-toolkit sample)."""
    with open(SHARED_DATA / "finops-toolkit" / "EA_ActualCost_Small.csv", encoding="utf-8-sig") as f:
        return next(csv.reader(f))


EA_HEADER = _real_ea_header()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _cost(rows: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(r["Cost"]) for r in rows), ZERO)


def _folder(demo: DemoExports, name: str) -> Path:
    return demo.azure.root / "ea-costs" / name


@pytest.fixture(scope="module")
def exports(demo_exports: DemoExports) -> dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]:
    """Per period folder: (actual rows, amortized rows), every value as text."""
    return {
        name: (_rows(_folder(demo_exports, name) / "actual.csv"), _rows(_folder(demo_exports, name) / "amortized.csv"))
        for name in FOLDERS
    }


@pytest.fixture(scope="module")
def focus(demo_exports: DemoExports) -> dict[str, pl.DataFrame]:
    """Per period folder: the combined pair mapped to FOCUS by the real Azure source."""
    frames = {}
    for name in FOLDERS:
        folder = _folder(demo_exports, name)
        actual = az.scan_cost_export([folder / "actual.csv"])
        amortized = az.scan_cost_export([folder / "amortized.csv"])
        combined = az.combine_actual_and_amortized(actual, amortized)
        frames[name] = az.cost_export_to_focus(combined, source_name="azure").collect()
    return frames


def test_layout_one_actual_and_one_amortized_export_per_billing_month(demo_exports: DemoExports) -> None:
    root = demo_exports.azure.root
    assert root == demo_exports.out_dir / "azure"
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert written == [f"ea-costs/{f}/{kind}.csv" for f in FOLDERS for kind in ("actual", "amortized")]
    assert sorted(demo_exports.azure.files) == sorted(root / key for key in written)
    for path in demo_exports.azure.files:
        data = path.read_bytes()
        assert data.startswith("\ufeff".encode())  # Cost Management writes a byte-order mark
        assert next(csv.reader([data.decode("utf-8-sig").splitlines()[0]])) == EA_HEADER


def test_dates_are_us_style_and_billing_periods_end_on_their_last_day(exports) -> None:
    actual, amortized = exports["20260901-20260930"]
    assert {(r["BillingPeriodStartDate"], r["BillingPeriodEndDate"]) for r in actual + amortized} == {
        ("09/01/2026", "09/30/2026")
    }
    assert sorted({r["Date"] for r in amortized}) == [f"09/{d:02d}/2026" for d in range(1, 31)]
    first, _ = exports["20260801-20260831"]
    assert sorted({r["Date"] for r in first}) == [f"08/{d:02d}/2026" for d in range(25, 32)]
    last, _ = exports["20261101-20261130"]
    assert max(r["Date"] for r in last) == "11/22/2026"


def test_the_purchase_is_in_the_actual_export_of_its_month_only(exports) -> None:
    purchases = {name: [r for r in actual if r["ChargeType"] == "Purchase"] for name, (actual, _) in exports.items()}
    assert {name: len(rows) for name, rows in purchases.items()} == {
        "20260801-20260831": 0,
        "20260901-20260930": 1,
        "20261001-20261031": 0,
        "20261101-20261130": 0,
    }
    (purchase,) = purchases["20260901-20260930"]
    assert purchase["Date"] == "09/07/2026"
    assert (purchase["PricingModel"], purchase["Frequency"], purchase["Term"]) == ("Reservation", "OneTime", "12")
    assert Decimal(purchase["Cost"]) == RESERVATION_TOTAL == Decimal("7996")
    assert purchase["ProductOrderName"] == "Reserved VM Instance, Standard_D8s_v5, US East, 1 Year"
    for _, amortized in exports.values():
        assert not [r for r in amortized if r["ChargeType"] == "Purchase"]


def test_covered_hours_cost_nothing_in_actual_and_their_amortised_share_in_amortized(exports) -> None:
    actual, amortized = exports["20261001-20261031"]
    covered_actual = [r for r in actual if r["PricingModel"] == "Reservation"]
    covered_amortized = [r for r in amortized if r["PricingModel"] == "Reservation" and r["ChargeType"] == "Usage"]
    assert covered_actual and all(Decimal(r["Cost"]) == 0 for r in covered_actual)
    # The same usage rows in both datasets, the amortized one priced at upfront / 8,760 hours per VM-hour.
    key = ("Date", "ResourceId", "Quantity")
    assert sorted(tuple(r[k] for k in key) for r in covered_actual) == sorted(
        tuple(r[k] for k in key) for r in covered_amortized
    )
    hourly = Decimal("1999.00") / 8760
    for r in covered_amortized:
        assert abs(Decimal(r["Cost"]) - hourly * Decimal(r["Quantity"])) < Decimal("1e-9")
        assert r["benefitId"].startswith("/providers/Microsoft.Capacity/reservationOrders/")
        assert json.loads(r["AdditionalInfo"])["ServiceType"] == "Standard_D8s_v5"
    # Only AKS user-pool VMs (D8s v5) are covered, and never more than 4 VMs x 24 h on a day.
    assert {r["MeterName"] for r in covered_amortized} == {"D8s v5"}
    per_day = Counter()
    for r in covered_amortized:
        per_day[r["Date"]] += Decimal(r["Quantity"])
    assert max(per_day.values()) == 96


@pytest.mark.parametrize("folder", FOLDERS)
def test_reservation_closes_every_month_to_the_cent(exports, folder: str) -> None:
    _, amortized = exports[folder]
    commitment = [r for r in amortized if r["PricingModel"] == "Reservation"]
    used = _cost([r for r in commitment if r["ChargeType"] == "Usage"])
    unused = _cost([r for r in commitment if r["ChargeType"] == "UnusedReservation"])
    # The month's share: purchase x reserved hours / term hours.
    share = RESERVATION_TOTAL * RESERVED_DAYS[folder] * 24 / Decimal(365 * 24)
    assert (used + unused).quantize(CENT) == share.quantize(CENT)
    # And the hours: covered + unused = 4 VMs x 24 h x reserved days.
    hours = sum((Decimal(r["Quantity"]) for r in commitment), ZERO)
    assert hours == 4 * 24 * RESERVED_DAYS[folder]


def test_some_reserved_hours_go_unused_at_weekends(exports) -> None:
    _, amortized = exports["20261001-20261031"]
    unused_days = {date(2026, 10, int(r["Date"][3:5])) for r in amortized if r["ChargeType"] == "UnusedReservation"}
    assert unused_days
    assert {d.weekday() for d in unused_days} <= {5, 6}  # the user pool shrinks at the weekend


@pytest.mark.parametrize("folder", FOLDERS)
def test_actual_equals_amortized_non_commitment_usage_plus_purchases(exports, folder: str) -> None:
    actual, amortized = exports[folder]
    purchases = _cost([r for r in actual if r["ChargeType"] == "Purchase"])
    on_demand = _cost([r for r in amortized if r["PricingModel"] != "Reservation"])
    assert _cost(actual) == on_demand + purchases


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_pair_combines_by_microsofts_rule_and_maps_to_focus_without_loss(
    demo_exports: DemoExports, exports, focus: dict[str, pl.DataFrame], folder: str
) -> None:
    actual, amortized = exports[folder]
    frame = focus[folder]
    # Microsoft's rule, counted here: every amortized row plus the actual rows that buy a commitment.
    buys = [r for r in actual if r["ChargeType"] in ("Purchase", "Refund") and r["PricingModel"] == "Reservation"]
    assert frame.height == len(amortized) + len(buys)
    assert frame.filter(pl.col(REASON).is_not_null()).height == 0
    result = conform_to_focus(frame.drop(REASON))
    assert result.rejected.height == 0
    assert result.valid.height == frame.height
    # The bill: Σ BilledCost = Σ actual Cost; what it cost: Σ EffectiveCost = Σ amortized Cost.
    assert frame["BilledCost"].sum() == _cost(actual)
    assert frame["EffectiveCost"].sum() == _cost(amortized)
    # And the source totals the pipeline reconciles against agree.
    path = _folder(demo_exports, folder)
    combined = az.combine_actual_and_amortized(
        az.scan_cost_export([path / "actual.csv"]), az.scan_cost_export([path / "amortized.csv"])
    )
    assert az.cost_export_source_totals(combined).collect()["x_SourceCost"].sum() == _cost(actual)


def test_focus_rows_of_the_reservation(focus: dict[str, pl.DataFrame]) -> None:
    frame = focus["20260901-20260930"]
    purchase = frame.filter(pl.col("ChargeCategory") == "Purchase")
    assert purchase.height == 1
    assert purchase.row(0, named=True)["BilledCost"] == RESERVATION_TOTAL
    assert purchase.row(0, named=True)["EffectiveCost"] == 0
    commitment_ids = set(frame["CommitmentDiscountId"].drop_nulls())
    assert len(commitment_ids) == 1  # purchase, used and unused rows name the same reservation
    statuses = Counter(frame["CommitmentDiscountStatus"].drop_nulls())
    assert set(statuses) == {"Used", "Unused"}


def test_ea_tags_including_the_braceless_form_become_json_objects(exports, focus: dict[str, pl.DataFrame]) -> None:
    _, amortized = exports["20261101-20261130"]
    texts = {r["Tags"] for r in amortized if r["Tags"]}
    assert any(t.startswith("{") for t in texts)
    assert any(t.startswith('"aks-managed-') for t in texts)  # scale-set rows, as AKS writes them
    assert any(not r["Tags"] for r in amortized)  # the SQL database is untagged
    frame = focus["20261101-20261130"]
    nodes = frame.filter(pl.col("ResourceId").str.contains("/virtualmachinescalesets/aks-user-"))
    tags = {json.loads(t)["aks-managed-poolName"] for t in nodes["Tags"]}
    assert tags == {"user"}
    gateway = frame.filter(pl.col("ResourceName") == "vm-data-gateway")
    assert json.loads(gateway["Tags"][0]) == {"Team": "Data", "Environment": "Production", "CostCenter": "3001"}


def test_the_pipeline_finder_groups_each_month_pair(demo_exports: DemoExports) -> None:
    store = LocalDirectoryStore(root=str(demo_exports.azure.root))
    groups = azure_export_groups(store, "", [date(2026, 11, 1)])
    assert [g.label for g in groups] == [f"ea-costs/{f}/" for f in FOLDERS]
    assert all(sorted(Path(k).name for k in g.keys) == ["actual.csv", "amortized.csv"] for g in groups)
    september = groups[1]
    native = scan_azure_export_group(
        [store.local_path(k) for k in september.keys], source_names=[store.describe(k) for k in september.keys]
    ).collect()
    amortized = _rows(_folder(demo_exports, FOLDERS[1]) / "amortized.csv")
    assert native.height == len(amortized) + 1  # + the purchase


def test_generator_totals_match_the_files(demo_exports: DemoExports, exports) -> None:
    export = demo_exports.azure
    assert [f"{p.start:%Y%m%d}" for p in export.billing_periods] == [f[:8] for f in FOLDERS]
    for period, folder in zip(export.billing_periods, FOLDERS, strict=True):
        actual, amortized = exports[folder]
        assert export.totals[period] == _cost(actual)
        buys = sum(r["ChargeType"] == "Purchase" for r in actual)
        assert export.row_counts[period] == len(amortized) + buys
    by_day: dict[str, Decimal] = {}
    for actual, _ in exports.values():
        for r in actual:
            by_day[r["Date"]] = by_day.get(r["Date"], ZERO) + Decimal(r["Cost"])
    assert {f"{d:%m/%d/%Y}": v for d, v in export.billed_by_day.items()} == by_day
