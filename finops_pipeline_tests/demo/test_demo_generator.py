"""The demo generator writes a legacy CUR bucket whose numbers close like a real bill.

Everything is read back the way a pipeline would: CSV as strings (polars), money as `Decimal`.
Expected values are worked out from the organisation's prices, not taken from the generator.
"""

import json
import re
import uuid
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.demo import DemoExports, generate_demo

END = date(2026, 11, 22)
DAYS = 90
FIRST = date(2026, 8, 25)  # 90 days ending on 22 Nov, inclusive
REPORT = "cur/finops-demo"
CENT = Decimal("0.01")
ZERO = Decimal(0)

PAYER = "771455802306"
USAGE_ACCOUNTS = {"318204657114", "048213575790", "527390418862", "009871234561", "694027185530"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoExports:
    return generate_demo(tmp_path_factory.mktemp("demo"), END, DAYS, seed=7)


@pytest.fixture(scope="module")
def bill(demo: DemoExports) -> dict[str, pl.DataFrame]:
    """The newest assembly of each billing period, keyed by period folder, every column a string."""
    frames = {}
    for manifest_path in sorted((demo.aws.root / REPORT).glob("*/finops-demo-Manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        (key,) = manifest["reportKeys"]
        frames[manifest_path.parent.name] = pl.read_csv(demo.aws.root / key, infer_schema=False)
    return frames


def _all(bill: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(bill.values(), how="diagonal")


def _sum(frame: pl.DataFrame, column: str) -> Decimal:
    return sum((Decimal(v) for v in frame[column] if v is not None), ZERO)


def _rows(frame: pl.DataFrame, line_item_type: str) -> pl.DataFrame:
    return frame.filter(pl.col("lineItem/LineItemType") == line_item_type)


def _relative_files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_writes_byte_identical_files(demo: DemoExports, tmp_path: Path) -> None:
    again = generate_demo(tmp_path, END, DAYS, seed=7)

    assert _relative_files(again.out_dir) == _relative_files(demo.out_dir)
    assert again.aws.totals == demo.aws.totals


def test_a_different_seed_changes_the_numbers_but_not_the_company(
    demo: DemoExports, bill: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    other = generate_demo(tmp_path, END, DAYS, seed=8)
    other_bill = pl.concat([pl.read_csv(path, infer_schema=False) for path in other.aws.data_files], how="diagonal")

    assert other.aws.totals != demo.aws.totals
    assert {p.parent.name for p in other.aws.data_files}.isdisjoint({p.parent.name for p in demo.aws.data_files})
    # Same organisation: same accounts and resource ids, only the noise moved. (Which autoscaling slots
    # ever ran can differ by one or two at the busiest peak, so instances and their volumes are compared
    # by overlap.)
    ours, theirs = _all(bill), other_bill
    assert set(theirs["lineItem/UsageAccountId"]) == set(ours["lineItem/UsageAccountId"])
    ids, other_ids = (
        set(ours["lineItem/ResourceId"].drop_nulls()),
        set(theirs["lineItem/ResourceId"].drop_nulls()),
    )
    fixed = {r for r in ids if not r.startswith(("i-", "vol-"))}
    assert len(fixed) == 13 and {r for r in other_ids if not r.startswith(("i-", "vol-"))} == fixed
    assert len(ids ^ other_ids) <= 4
    assert len(ids & other_ids) > 70


def test_rerunning_into_the_same_directory_leaves_no_stale_assemblies(tmp_path: Path) -> None:
    generate_demo(tmp_path, END, 10, seed=1)
    second = generate_demo(tmp_path, END, 10, seed=2)

    on_disk = sorted(p for p in (tmp_path / "aws").rglob("*") if p.is_file())
    assert on_disk == list(second.aws.files)


# --- layout and manifests ------------------------------------------------------------------------


def test_billing_periods_and_layout(demo: DemoExports) -> None:
    folders = ["20260801-20260901", "20260901-20261001", "20261001-20261101", "20261101-20261201"]
    assert [f"{p.start:%Y%m%d}-{p.end:%Y%m%d}" for p in demo.aws.billing_periods] == folders
    assert demo.aws.root == demo.out_dir / "aws"
    assert (demo.first_day, demo.last_day) == (FIRST, END)

    written = sorted(p.relative_to(demo.aws.root).as_posix() for p in demo.aws.files)
    period_manifests = [key for key in written if key.count("/") == 3]
    assembly_files = [key for key in written if key.count("/") == 4]
    assert period_manifests == [f"{REPORT}/{folder}/finops-demo-Manifest.json" for folder in folders]
    # One assembly (csv + manifest) per closed period, two for the open one.
    assert len(assembly_files) == 2 * 3 + 2 * 2
    assembly = re.compile(rf"^{REPORT}/\d{{8}}-\d{{8}}/[0-9a-f-]{{36}}/finops-demo-(1\.csv\.gz|Manifest\.json)$")
    assert all(assembly.match(key) for key in assembly_files), assembly_files


def test_period_root_manifest_points_to_the_newest_assembly(demo: DemoExports) -> None:
    root = demo.aws.root
    for period in demo.aws.billing_periods:
        folder = root / REPORT / f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
        manifest = json.loads((folder / "finops-demo-Manifest.json").read_text())

        assert manifest["bucket"] == "finops-demo-cur"
        assert manifest["account"] == PAYER
        assert (manifest["charset"], manifest["compression"], manifest["contentType"]) == (
            "UTF-8",
            "GZIP",
            "text/csv",
        )
        assert manifest["billingPeriod"] == {
            "start": f"{period.start:%Y%m%d}T000000.000Z",
            "end": f"{period.end:%Y%m%d}T000000.000Z",
        }
        assert uuid.UUID(manifest["assemblyId"]).version == 5
        assert manifest["reportKeys"] == [f"{REPORT}/{folder.name}/{manifest['assemblyId']}/finops-demo-1.csv.gz"]
        assert (root / manifest["reportKeys"][0]).is_file()
        # The root manifest is the newest assembly's own manifest, byte for byte.
        own = folder / manifest["assemblyId"] / "finops-demo-Manifest.json"
        assert own.read_bytes() == (folder / "finops-demo-Manifest.json").read_bytes()
        # Its column list is the file's header.
        header = root / manifest["reportKeys"][0]
        names = pl.read_csv(header, infer_schema=False, n_rows=0).columns
        assert [f"{c['category']}/{c['name']}" for c in manifest["columns"]] == names

    assert [p.name for p in demo.aws.data_files] == ["finops-demo-1.csv.gz"] * 4


def test_the_open_month_keeps_an_older_superseded_assembly(demo: DemoExports, bill: dict[str, pl.DataFrame]) -> None:
    folder = demo.aws.root / REPORT / "20261101-20261201"
    newest_id = json.loads((folder / "finops-demo-Manifest.json").read_text())["assemblyId"]
    assemblies = sorted(p.name for p in folder.iterdir() if p.is_dir())
    (older_id,) = [a for a in assemblies if a != newest_id]

    older_manifest = json.loads((folder / older_id / "finops-demo-Manifest.json").read_text())
    assert older_manifest["assemblyId"] == older_id
    assert older_manifest["reportKeys"] == [f"{REPORT}/20261101-20261201/{older_id}/finops-demo-1.csv.gz"]
    assert {p.parent.name for p in demo.aws.superseded_files} == {older_id}

    older = pl.read_csv(folder / older_id / "finops-demo-1.csv.gz", infer_schema=False)
    newest = bill["20261101-20261201"]
    # Written 34 hours earlier: complete through 20 Nov, 14 hours of 21 Nov, nothing of 22 Nov.
    assert older["lineItem/UsageStartDate"].max() == "2026-11-21T00:00:00Z"
    assert newest["lineItem/UsageStartDate"].max() == "2026-11-22T00:00:00Z"
    older_fees = _rows(older, "SavingsPlanRecurringFee")["lineItem/UsageAmount"].to_list()
    assert older_fees == ["24"] * 20 + ["14"]
    # Reading both assemblies would not be a small error.
    assert _sum(older, "lineItem/UnblendedCost") < _sum(newest, "lineItem/UnblendedCost")
    assert _sum(newest, "lineItem/UnblendedCost") == demo.aws.totals[demo.aws.billing_periods[-1]]


# --- what the files contain ----------------------------------------------------------------------


def test_usage_covers_exactly_the_requested_days(bill: dict[str, pl.DataFrame]) -> None:
    frame = _all(bill)
    usage_days = set(_rows(frame, "Usage")["lineItem/UsageStartDate"].str.slice(0, 10))
    expected = {(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)}
    assert usage_days == expected
    # Nothing (not even monthly charges) starts outside the window.
    starts = frame["lineItem/UsageStartDate"]
    assert starts.min() == "2026-08-25T00:00:00Z" and starts.max() == "2026-11-22T00:00:00Z"
    for folder, period in bill.items():
        assert set(period["bill/BillingPeriodStartDate"]) == {f"{folder[:4]}-{folder[4:6]}-01T00:00:00Z"}


def test_totals_reported_by_the_generator_match_the_files(demo: DemoExports, bill: dict[str, pl.DataFrame]) -> None:
    for period, path in zip(demo.aws.billing_periods, demo.aws.data_files, strict=True):
        frame = bill[path.parent.parent.name]
        assert _sum(frame, "lineItem/UnblendedCost") == demo.aws.totals[period]
        assert frame.height == demo.aws.row_counts[period]


def test_money_is_plain_decimal_text_with_ten_places(bill: dict[str, pl.DataFrame]) -> None:
    frame = _all(bill)
    money = re.compile(r"^-?\d+\.\d{10}$")
    for column in (
        "lineItem/UnblendedCost",
        "lineItem/BlendedCost",
        "pricing/publicOnDemandCost",
        "reservation/EffectiveCost",
        "savingsPlan/SavingsPlanEffectiveCost",
    ):
        values = frame[column].drop_nulls()
        assert values.len() > 0
        assert values.str.contains(money.pattern).all(), column
    assert not frame["lineItem/UsageAmount"].str.contains("[eE]").any()


def test_every_line_item_and_bill_type_is_present(bill: dict[str, pl.DataFrame]) -> None:
    frame = _all(bill)
    assert set(frame["lineItem/LineItemType"]) == {
        "Usage",
        "DiscountedUsage",
        "RIFee",
        "Fee",
        "Tax",
        "Credit",
        "Refund",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
    }
    assert set(frame["bill/BillType"]) == {"Anniversary", "Purchase", "Refund"}
    refund = _rows(frame, "Refund")
    assert refund["bill/BillType"].to_list() == ["Refund"]
    assert refund["lineItem/UnblendedCost"].to_list() == ["-180.0000000000"]
    credits = _rows(frame, "Credit")
    assert credits.height == 4  # one a month, for the sandbox's EC2 usage
    assert all(Decimal(v) < 0 for v in credits["lineItem/UnblendedCost"])
    # The RI's upfront payment: 6 x $490 on its own Purchase invoice, the day the RI starts.
    purchase = frame.filter(pl.col("bill/BillType") == "Purchase")
    assert purchase["lineItem/UnblendedCost"].to_list() == ["2940.0000000000"]
    assert purchase["lineItem/UsageStartDate"].to_list() == ["2026-09-04T00:00:00Z"]
    assert purchase["bill/InvoiceId"][0] not in set(
        frame.filter(pl.col("bill/BillType") == "Anniversary")["bill/InvoiceId"].drop_nulls()
    )


def test_monthly_support_fee_and_tax_per_account(bill: dict[str, pl.DataFrame]) -> None:
    for folder in ("20260901-20261001", "20261001-20261101", "20261101-20261201"):
        frame = bill[folder]
        support = frame.filter(
            pl.col("lineItem/ProductCode") == "AWSSupportBusiness", pl.col("lineItem/LineItemType") == "Fee"
        )
        assert support["lineItem/UsageStartDate"].to_list() == [f"{folder[:4]}-{folder[4:6]}-01T00:00:00Z"]
        assert support["lineItem/UsageAccountId"].to_list() == [PAYER]
        # Business support: 10 % of the first $10k of the month's charges, 7 % above.
        base = _sum(
            frame.filter(
                pl.col("bill/BillType") == "Anniversary",
                ~pl.col("lineItem/LineItemType").is_in(["Tax", "Credit"]),
                pl.col("lineItem/ProductCode") != "AWSSupportBusiness",
            ),
            "lineItem/UnblendedCost",
        )
        expected = Decimal("1000") + (base - 10_000) * Decimal("0.07") if base > 10_000 else base / 10
        assert Decimal(support["lineItem/UnblendedCost"][0]) == expected.quantize(CENT, ROUND_HALF_UP)

        tax = _rows(frame, "Tax")
        assert set(tax["lineItem/UsageAccountId"]) == USAGE_ACCOUNTS | {PAYER}
        assert set(tax["lineItem/TaxType"]) == {"US Sales Tax"}
    # The open month has no invoice yet; closed months do.
    assert bill["20261101-20261201"]["bill/InvoiceId"].null_count() == bill["20261101-20261201"].height
    assert bill["20261001-20261101"]["bill/InvoiceId"].null_count() == 0


def test_account_ids_are_twelve_digit_strings_some_with_a_leading_zero(bill: dict[str, pl.DataFrame]) -> None:
    frame = _all(bill)
    accounts = set(frame["lineItem/UsageAccountId"]) | set(frame["bill/PayerAccountId"])
    assert accounts == USAGE_ACCOUNTS | {PAYER}
    assert all(re.fullmatch(r"\d{12}", a) for a in accounts)
    assert {a for a in accounts if a.startswith("0")} == {"048213575790", "009871234561"}


# --- commitments close to the cent ---------------------------------------------------------------


def _assert_reserved_instances_close(frame: pl.DataFrame) -> int:
    """RI closure for every RIFee row of one assembly; returns how many RIFee rows there were."""
    fees = _rows(frame, "RIFee")
    for fee in fees.iter_rows(named=True):
        used = frame.filter(
            pl.col("lineItem/LineItemType") == "DiscountedUsage",
            pl.col("reservation/ReservationARN") == fee["reservation/ReservationARN"],
        )
        effective = _sum(used, "reservation/EffectiveCost")
        unused = Decimal(fee["reservation/UnusedAmortizedUpfrontFeeForBillingPeriod"]) + Decimal(
            fee["reservation/UnusedRecurringFee"]
        )
        billed = Decimal(fee["lineItem/UnblendedCost"]) + Decimal(
            fee["reservation/AmortizedUpfrontFeeForBillingPeriod"]
        )
        assert (effective + unused).quantize(CENT) == billed.quantize(CENT)
        assert abs(effective + unused - billed) < Decimal("1e-6")  # only per-row 10-place rounding
        # Hours add up too; covered usage is free at the line and costed in EffectiveCost.
        used_hours = _sum(used, "lineItem/UsageAmount")
        assert used_hours + Decimal(fee["reservation/UnusedQuantity"]) == Decimal(fee["reservation/TotalReservedUnits"])
        assert set(used["lineItem/UnblendedCost"]) == {"0.0000000000"}
        for row in used.iter_rows(named=True):
            assert Decimal(row["reservation/EffectiveCost"]) == Decimal(
                row["reservation/AmortizedUpfrontCostForUsage"]
            ) + Decimal(row["reservation/RecurringFeeForUsage"])
    return fees.height


def _assert_savings_plan_closes(frame: pl.DataFrame) -> None:
    fees = _rows(frame, "SavingsPlanRecurringFee")
    covered = _rows(frame, "SavingsPlanCoveredUsage")
    negation = _rows(frame, "SavingsPlanNegation")

    unused = _sum(fees, "savingsPlan/TotalCommitmentToDate") - _sum(fees, "savingsPlan/UsedCommitment")
    assert _sum(covered, "savingsPlan/SavingsPlanEffectiveCost") + unused == _sum(fees, "lineItem/UnblendedCost")
    assert _sum(negation, "lineItem/UnblendedCost") == -_sum(covered, "lineItem/UnblendedCost")
    assert negation.height == covered.height
    # Covered usage is priced on demand at the line, at the SP rate in SavingsPlanEffectiveCost.
    for row in covered.iter_rows(named=True):
        on_demand = Decimal(row["lineItem/UsageAmount"]) * Decimal(row["lineItem/UnblendedRate"])
        assert abs(Decimal(row["lineItem/UnblendedCost"]) - on_demand) < CENT
        assert Decimal(row["savingsPlan/SavingsPlanEffectiveCost"]) < Decimal(row["lineItem/UnblendedCost"])
    # Each day: used commitment = the SP effective cost of that day's covered usage.
    used: dict[str, Decimal] = {}
    for day, cost in covered.select("lineItem/UsageStartDate", "savingsPlan/SavingsPlanEffectiveCost").iter_rows():
        used[day] = used.get(day, ZERO) + Decimal(cost)
    for row in fees.iter_rows(named=True):
        assert Decimal(row["savingsPlan/UsedCommitment"]) == used.get(row["lineItem/UsageStartDate"], ZERO)


def test_reserved_instance_closes_in_every_period(bill: dict[str, pl.DataFrame]) -> None:
    fees = [_assert_reserved_instances_close(frame) for frame in bill.values()]
    assert fees == [0, 1, 1, 1]  # bought on 4 Sep: September (from the 4th), October, November


def test_savings_plan_closes_in_every_period(bill: dict[str, pl.DataFrame]) -> None:
    for frame in bill.values():
        _assert_savings_plan_closes(frame)


def test_the_superseded_assembly_closes_too(demo: DemoExports) -> None:
    (older,) = [p for p in demo.aws.superseded_files if p.name.endswith(".csv.gz")]
    frame = pl.read_csv(older, infer_schema=False)
    assert _assert_reserved_instances_close(frame) == 1
    _assert_savings_plan_closes(frame)


def test_a_one_day_window_on_the_first_of_a_month(tmp_path: Path) -> None:
    demo = generate_demo(tmp_path, date(2026, 12, 1), days=1)
    (period,) = demo.aws.billing_periods
    assert (period.start, period.end) == (date(2026, 12, 1), date(2027, 1, 1))
    (newest,) = demo.aws.data_files
    frame = pl.read_csv(newest, infer_schema=False)
    assert set(frame["lineItem/UsageStartDate"]) == {"2026-12-01T00:00:00Z"}
    # The RI is bought on the window's first day: upfront on a Purchase invoice, a 24-hour RIFee.
    assert _assert_reserved_instances_close(frame) == 1
    assert _rows(frame, "RIFee")["reservation/TotalReservedUnits"].to_list() == [str(6 * 24)]
    assert frame.filter(pl.col("bill/BillType") == "Purchase").height == 1
    _assert_savings_plan_closes(frame)
    # The superseded assembly saw 14 hours of the same day.
    (older,) = [p for p in demo.aws.superseded_files if p.name.endswith(".csv.gz")]
    older_fees = _rows(pl.read_csv(older, infer_schema=False), "SavingsPlanRecurringFee")
    assert older_fees["lineItem/UsageAmount"].to_list() == ["14"]


def test_reserved_instance_fee_for_a_full_month_by_hand(bill: dict[str, pl.DataFrame]) -> None:
    (fee,) = _rows(bill["20261001-20261101"], "RIFee").iter_rows(named=True)
    hours = 6 * 31 * 24  # six m6i.xlarge for all of October
    assert fee["reservation/TotalReservedUnits"] == str(hours)
    assert Decimal(fee["lineItem/UnblendedCost"]) == Decimal("0.056") * hours  # 249.984
    # $490 upfront per RI spread over 8,760 hours.
    assert Decimal(fee["reservation/AmortizedUpfrontFeeForBillingPeriod"]) == (Decimal(490) * hours / 8760).quantize(
        Decimal("1e-10")
    )
    assert Decimal(fee["reservation/UpfrontValue"]) == Decimal("2940")
    # Sized on the weekday floor: some unused hours (weekends), but well under 10 %.
    assert 0 < Decimal(fee["reservation/UnusedQuantity"]) < hours / 10


def test_savings_plan_commitment_by_hand(bill: dict[str, pl.DataFrame]) -> None:
    fees = _rows(bill["20261001-20261101"], "SavingsPlanRecurringFee")
    assert fees.height == 31
    assert _sum(fees, "lineItem/UnblendedCost") == Decimal("4.2") * 24 * 31  # $4.20/hour commitment
    unused = _sum(fees, "savingsPlan/TotalCommitmentToDate") - _sum(fees, "savingsPlan/UsedCommitment")
    assert 0 < unused < Decimal("0.10") * _sum(fees, "lineItem/UnblendedCost")  # 90-100 % utilised


# --- the organisation's shape --------------------------------------------------------------------


def _hours_per_day(frame: pl.DataFrame, usage_type: str, resource: str | None = None) -> dict[str, Decimal]:
    rows = frame.filter(
        pl.col("lineItem/UsageType") == usage_type, pl.col("lineItem/LineItemType") != "SavingsPlanNegation"
    )
    if resource:
        rows = rows.filter(pl.col("lineItem/ResourceId") == resource)
    hours: dict[str, Decimal] = {}
    for day, amount in rows.select("lineItem/UsageStartDate", "lineItem/UsageAmount").iter_rows():
        hours[day[:10]] = hours.get(day[:10], ZERO) + Decimal(amount)
    return hours


def test_weekends_dip_and_the_business_grows(bill: dict[str, pl.DataFrame]) -> None:
    node_hours = _hours_per_day(_all(bill), "BoxUsage:m6i.2xlarge")  # EKS general node group
    assert len(node_hours) == DAYS
    weekday = [h for d, h in node_hours.items() if date.fromisoformat(d).weekday() < 5]
    weekend = [h for d, h in node_hours.items() if date.fromisoformat(d).weekday() >= 5]
    assert sum(weekend) / len(weekend) < Decimal("0.85") * sum(weekday) / len(weekday)
    ordered = [node_hours[d] for d in sorted(node_hours)]
    first_four_weeks, last_four_weeks = sum(ordered[:28]), sum(ordered[-28:])
    # ~1.5 %/week compounding over the 9 weeks between the two blocks: ~14 % more.
    assert Decimal("1.08") < last_four_weeks / first_four_weeks < Decimal("1.25")


def test_a_gpu_instance_starts_and_stops_mid_period(bill: dict[str, pl.DataFrame]) -> None:
    frame = _all(bill)
    (gpu,) = set(frame.filter(pl.col("lineItem/UsageType") == "BoxUsage:g5.2xlarge")["lineItem/ResourceId"])
    hours = _hours_per_day(frame, "BoxUsage:g5.2xlarge", gpu)
    # Starts 45 % into the 2,160-hour window (hour 972 = day 40, 12:00) and stops at 70.5 % (hour 1523).
    assert min(hours) == "2026-10-04" and max(hours) == "2026-10-27"
    assert hours["2026-10-04"] == 12 and hours["2026-10-27"] == 11
    assert set(hours.values()) == {Decimal(12), Decimal(11), Decimal(24)}
    # Its tag key exists only in the months it ran: legacy CUR schema drift.
    assert "resourceTags/user:project" in bill["20261001-20261101"].columns
    assert "resourceTags/user:project" not in bill["20261101-20261201"].columns


def test_tags_carry_the_usual_mess(bill: dict[str, pl.DataFrame]) -> None:
    frame = _all(bill)
    teams = set(frame["resourceTags/user:team"].drop_nulls()) | set(frame["resourceTags/user:Team"].drop_nulls())
    assert {"payments", "paymnets", "data", "Data", "ml", "ML", "platform"} <= teams
    assert set(frame["resourceTags/user:env"].drop_nulls()) >= {"prod", "production", "Production", "sandbox"}
    assert set(frame["resourceTags/user:cost-center"].drop_nulls()) >= {"CC-2001", "cc-2001", "3001"}
    eks = frame.filter(pl.col("resourceTags/user:eks:cluster-name") == "platform-prod")
    assert set(eks["resourceTags/aws:eks:cluster-name"]) == {"platform-prod"}
    assert eks.height > 0

    usage = frame.filter(
        pl.col("lineItem/LineItemType").is_in(["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"]),
        pl.col("lineItem/ResourceId").is_not_null(),
    )
    per_resource = usage.group_by("lineItem/ResourceId").agg(
        pl.col("resourceTags/user:team").is_not_null().any().alias("team"),
        pl.col("resourceTags/user:Team").is_not_null().any().alias("Team"),
    )
    untagged = per_resource.filter(~pl.col("team") & ~pl.col("Team")).height
    assert 0.10 <= untagged / per_resource.height <= 0.20  # ~15 % of resources have no team tag at all
    assert per_resource.filter(pl.col("Team")).height > 0  # and some only have the mis-cased key
