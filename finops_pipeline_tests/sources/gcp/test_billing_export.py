"""The billing export from files (koku's flattened CSVs, NDJSON, parquet) → FOCUS rows, totals and quarantine reasons.

Expected numbers are computed here independently of the code under test: the CSVs are read with Python's csv
module, money with Decimal, and the credits cells with `ast.literal_eval` (safe for literals; the code under
test does not use it).
"""

import ast
import csv
import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.focus.schema import FOCUS_TABLE_SCHEMA, MONEY
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.gcp.export import billing_export_source_totals, scan_billing_export
from finops_pipeline.sources.gcp.focus_mapping import CREDITS_COLUMN, billing_export_to_focus
from finops_pipeline_tests.paths import SHARED_DATA

KOKU = SHARED_DATA / "koku"
NOV_2020 = KOKU / "gcp_202011_30c31bca571d9b7f3b2c8459dd8bc34a_2020-11-08_2020-11-11.csv"
AUG_2022 = KOKU / "2022-08-01_5.csv"


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def row_credits(row: dict[str, str]) -> list[Decimal]:
    return [Decimal(repr(credit["amount"])) for credit in ast.literal_eval(row["credits"])]


def credits_total(rows: list[dict[str, str]]) -> Decimal:
    return sum((amount for row in rows for amount in row_credits(row)), Decimal(0))


def to_focus(files, **kwargs) -> pl.DataFrame:
    return billing_export_to_focus(scan_billing_export(files), source_name="gcp", **kwargs).collect()


# --- koku's flattened CSV exports -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "rows"), [(NOV_2020, 25), (AUG_2022, 9)])
def test_koku_csv_costs_and_credits_are_carried_exactly(path, rows):
    source = csv_rows(path)
    cost = sum((Decimal(r["cost"]) for r in source), Decimal(0))
    credits = credits_total(source)

    n_credits = sum(len(row_credits(r)) for r in source)  # all PROMOTION: one Credit row each
    focus = to_focus([path])

    assert len(source) == rows
    assert focus.height == rows + n_credits
    assert dict(focus.drop(CREDITS_COLUMN, REASON).schema) == FOCUS_TABLE_SCHEMA
    assert focus[REASON].null_count() == focus.height
    # Σ BilledCost is the invoice (Σ cost + Σ credits); so is Σ EffectiveCost (no commitments here).
    assert focus["BilledCost"].sum() == focus["EffectiveCost"].sum() == cost + credits
    credit_rows = focus.filter(pl.col("ChargeCategory") == "Credit")
    assert credit_rows.height == n_credits and credit_rows["BilledCost"].sum() == credits
    assert focus.filter(pl.col("ChargeCategory") != "Credit")["x_SourceRowNumber"].to_list() == list(range(1, rows + 1))
    # Each Credit row follows the row it came from, with its lineage.
    expected = [p for i, r in enumerate(source, 1) for p in [(i, "Usage")] + [(i, "Credit")] * len(row_credits(r))]
    assert list(zip(focus["x_SourceRowNumber"], focus["ChargeCategory"], strict=True)) == expected


def test_koku_numbers_worked_out_by_hand():
    # Nov 2020: six rows cost 5e-06 and two 1e-06 (the other 17 cost 0.0), and each of those eight carries one
    # free-trial (PROMOTION) credit of minus its cost: Σ cost 0.000032, Σ credits −0.000032, invoice 0.
    # Aug 2022: 2e-06 + 1e-05, no credits.
    nov, aug = to_focus([NOV_2020]), to_focus([AUG_2022])
    usage, credit = nov.filter(pl.col("ChargeCategory") == "Usage"), nov.filter(pl.col("ChargeCategory") == "Credit")
    assert (usage.height, credit.height) == (25, 8)
    assert usage["BilledCost"].sum() == usage["EffectiveCost"].sum() == Decimal("0.000032")  # promotions not netted
    assert credit["BilledCost"].sum() == credit["EffectiveCost"].sum() == Decimal("-0.000032")
    assert nov["BilledCost"].sum() == nov["EffectiveCost"].sum() == Decimal(0)
    assert usage[CREDITS_COLUMN].null_count() == 25 and credit[CREDITS_COLUMN].null_count() == 0
    assert aug["BilledCost"].sum() == aug["EffectiveCost"].sum() == Decimal("0.000012")


def test_koku_rows_map_to_focus_and_conform_rejects_nothing():
    focus = to_focus([NOV_2020, AUG_2022])
    result = conform_to_focus(focus)
    assert result.rejected.height == 0
    assert result.valid.height == 34 + 8

    first = focus.row(0, named=True)  # Security Command Center, one PROMOTION credit
    assert first["BilledCost"] == first["EffectiveCost"] == Decimal("0.000005")
    assert first[CREDITS_COLUMN] is None  # the promotion is its own row, next
    promotion = focus.row(1, named=True)
    assert (promotion["ChargeCategory"], promotion["ChargeFrequency"], promotion["ChargeClass"]) == (
        "Credit",
        "One-Time",
        None,
    )
    assert promotion["ChargeDescription"] == "FreeTrial:Credit-000000-B0BBA4-940A77"
    for cost in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        assert promotion[cost] == Decimal("-0.000005")
    for column in ("x_SourceFile", "x_SourceRowNumber", "x_ChargeDay", "ChargePeriodStart", "ChargePeriodEnd",
                   "BillingPeriodStart", "ServiceName", "ServiceCategory", "SubAccountId", "BillingAccountId",
                   "RegionId", "Tags"):  # fmt: skip
        assert promotion[column] == first[column], column
    for column in ("PricingCategory", "PricingQuantity", "PricingUnit", "ConsumedQuantity", "CommitmentDiscountId"):
        assert promotion[column] is None, column
    assert json.loads(promotion[CREDITS_COLUMN]) == [
        {
            "name": "FreeTrial:Credit-000000-B0BBA4-940A77",
            "amount": "-0.0000050000",
            "full_name": None,
            "id": "FreeTrial:Credit-000000-B0BBA4-940A77",
            "type": "PROMOTION",
        }
    ]
    assert (first["ChargeCategory"], first["ChargeFrequency"], first["PricingCategory"]) == (
        "Usage",
        "Usage-Based",
        "Standard",
    )
    assert (first["ServiceName"], first["ServiceCategory"], first["ServiceSubcategory"]) == (
        "Security Command Center",
        "Security",
        "Security Posture Management",
    )
    # The project is the sub-account; the billing account is the billing account.
    assert (first["SubAccountId"], first["SubAccountName"], first["SubAccountType"]) == (
        "billing-example-00000",
        "cloud-billing",
        "Project",
    )
    assert first["BillingAccountId"] == "000000-B0BBA4-940A77"
    # invoice.month 202011 is November in Pacific time (PDT until 1 Nov 02:00, PST after).
    assert first["BillingPeriodStart"] == datetime(2020, 11, 1, 7, tzinfo=UTC)
    assert first["BillingPeriodEnd"] == datetime(2020, 12, 1, 8, tzinfo=UTC)
    assert first["ChargePeriodStart"] == datetime(2020, 11, 9, 23, tzinfo=UTC)
    assert first["ChargePeriodEnd"] == datetime(2020, 11, 10, tzinfo=UTC)
    assert first["x_ChargeDay"] == date(2020, 11, 9)
    assert (first["SkuId"], first["SkuPriceId"]) == ("D5A4-0C3E-4DA4", "D5A4-0C3E-4DA4")
    assert (first["PricingQuantity"], first["PricingUnit"]) == (Decimal("0.0000231983"), "gibibyte")
    assert (first["ConsumedQuantity"], first["ConsumedUnit"]) == (Decimal("24909"), "bytes")
    assert first["ListCost"] == first["BilledCost"]  # no cost_at_list, no list prices given
    assert (first["ProviderName"], first["PublisherName"], first["InvoiceIssuerName"]) == (
        "Google Cloud",
        "Google Cloud",
        "Google",
    )
    assert first["InvoiceId"] is None

    fourth = focus.filter(pl.col("x_SourceRowNumber") == 4).row(
        0, named=True
    )  # Stackdriver Logging of a BigQuery resource: a Google-applied label
    assert fourth["Tags"] == '{"goog-resource-type":"bigquery_resource"}'
    assert fourth[CREDITS_COLUMN] is None
    assert (fourth["ServiceName"], fourth["ServiceCategory"], fourth["ServiceSubcategory"]) == (
        "Stackdriver Logging",
        "Management and Governance",
        "Observability",
    )

    egress = focus.filter(pl.col("x_SourceFile").str.ends_with("2022-08-01_5.csv")).row(0, named=True)
    assert (egress["ResourceId"], egress["ResourceName"]) == ("//example", "instance-1")
    assert (egress["RegionId"], egress["RegionName"]) == ("us-central1", "Iowa")
    assert egress["BillingPeriodStart"] == datetime(2022, 8, 1, 7, tzinfo=UTC)


def test_source_totals_are_per_file_billing_period_and_day():
    totals = billing_export_source_totals(scan_billing_export([NOV_2020, AUG_2022])).collect()
    expected: dict[tuple, list] = {}
    for path in (NOV_2020, AUG_2022):
        for row in csv_rows(path):
            key = (str(path), date(int(row["invoice.month"][:4]), int(row["invoice.month"][4:]), 1))
            key += (date.fromisoformat(row["usage_start_time"][:10]),)
            entry = expected.setdefault(key, [0, Decimal(0), 0])
            entry[0] += 1
            entry[1] += Decimal(row["cost"]) + sum(row_credits(row), Decimal(0))  # the invoice: cost + credits
    got = {
        (r["x_SourceFile"], r["x_BillingPeriodStart"], r["x_ChargeDay"]): [
            r["x_SourceRows"],
            r["x_SourceCost"],
            r["x_UnparsedCostRows"],
        ]
        for r in totals.iter_rows(named=True)
    }
    assert got == expected
    assert totals.schema["x_SourceCost"] == MONEY
    # Nov 2020 is all free trial: each day's invoice is 0; Aug 2022 is 0.000012.
    assert {k[2]: v[1] for k, v in got.items()} == {
        date(2020, 11, 8): 0,
        date(2020, 11, 9): 0,
        date(2020, 11, 10): 0,
        date(2020, 11, 11): 0,
        date(2022, 8, 1): Decimal("0.000012"),
    }


# --- Bad input ----------------------------------------------------------------------------------------------


def write_koku_copy(tmp_path: Path, edits: dict[tuple[int, str], str], drop: str | None = None) -> Path:
    """The Nov 2020 koku CSV with some cells replaced ((data row, column) → text) or a column dropped."""
    rows = csv_rows(NOV_2020)
    for (row, column), text in edits.items():
        rows[row - 1][column] = text
    columns = [c for c in rows[0] if c != drop]
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_bad_cells_are_named_with_column_value_and_row_and_costs_still_reconcile(tmp_path):
    path = write_koku_copy(
        tmp_path,
        {
            (3, "cost"): "12,50 USD",
            (2, "credits"): "[{'name': 'x', 'amount': }]",
            (6, "cost_type"): "discount",
            (7, "invoice.month"): "2020-11",
            (8, "usage_start_time"): "yesterday",
        },
    )
    focus = to_focus([path])
    reasons = dict(focus.filter(pl.col(REASON).is_not_null()).select("x_SourceRowNumber", REASON).iter_rows())
    assert reasons == {
        2: "credits: '[{'name': 'x', 'amount': }]' is not a list of records",
        3: "cost: '12,50 USD' is not a number",
        6: "cost_type: unknown 'discount'",
        7: "invoice.month: '2020-11' is not a YYYYMM month",
        8: "usage_start_time: 'yesterday' is not a date",
    }
    assert set(focus["x_SourceFile"]) == {str(path.resolve())}
    charges = focus.filter(pl.col("ChargeCategory") != "Credit")
    by_row = {r["x_SourceRowNumber"]: r for r in charges.iter_rows(named=True)}
    assert by_row[3]["BilledCost"] is None
    assert by_row[2]["BilledCost"] == Decimal("0.000005") and by_row[2]["EffectiveCost"] is None  # credits unknown
    assert by_row[8]["x_ChargeDay"] == date(2020, 11, 1)  # falls back to the billing period
    # No Credit row from a row whose cost (3) or credits (2) did not parse: 8 credits − those 2.
    credits = focus.filter(pl.col("ChargeCategory") == "Credit")
    assert credits.height == 6 and 2 not in credits["x_SourceRowNumber"] and 3 not in credits["x_SourceRowNumber"]

    # Reconciliation: Σ source cost = Σ BilledCost of every row (quarantined or not). The invoice was 0 (every
    # cost has its credit); row 3's cost did not parse (it and its credit count nothing) and row 2's credit
    # cannot be read (its cost counts alone): 0 + 0.000005. Both rows count as unparsed.
    totals = billing_export_source_totals(scan_billing_export([path])).collect()
    assert totals["x_SourceCost"].sum() == focus["BilledCost"].sum() == Decimal("0.000005")
    assert totals["x_UnparsedCostRows"].sum() == 2

    rejected = conform_to_focus(focus.filter(pl.col(REASON).is_null())).rejected
    assert rejected.height == 0


def test_a_file_without_cost_is_unreadable_and_the_error_names_file_and_column(tmp_path):
    path = write_koku_copy(tmp_path, {}, drop="cost")
    with pytest.raises(SourceFileError) as raised:
        scan_billing_export([path], source_names=["gs://billing/export.csv"])
    assert raised.value.file == "gs://billing/export.csv"
    assert raised.value.column == "cost"
    assert str(raised.value) == "gs://billing/export.csv, column 'cost': required column 'cost' is missing"


def test_an_empty_or_broken_file_is_named(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    broken = tmp_path / "broken.json"
    broken.write_text('{"cost": 1.0, "currency": \n')
    for path, message in ((empty, "file is empty"), (broken, "cannot read newline-delimited JSON")):
        with pytest.raises(SourceFileError, match=message) as raised:
            scan_billing_export([path])
        assert raised.value.file == str(path.resolve())


# --- Nested exports: NDJSON and parquet as BigQuery writes them ------------------------------------------------


def export_record(**overrides) -> dict:
    """One line of a BigQuery JSON export of the detailed usage cost table (FLOAT64 as JSON numbers)."""
    record = {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "sku": {"id": "CF4E-A0C7-E3BF", "description": "N2 Instance Core running in Americas"},
        "usage_start_time": "2020-11-09 23:00:00 UTC",
        "usage_end_time": "2020-11-10 00:00:00 UTC",
        "project": {
            "id": "shop-prod",
            "number": "104845812394",
            "name": "Shop production",
            "labels": [{"key": "team", "value": "platform"}, {"key": "env", "value": "prod"}],
        },
        "labels": [{"key": "team", "value": "data"}, {"key": "app", "value": "etl"}],
        "system_labels": [
            {"key": "compute.googleapis.com/machine_spec", "value": "n2-standard-4"},
            {"key": "cores", "value": "4"},
        ],
        "location": {"location": "us-central1-a", "country": "US", "region": "us-central1", "zone": "us-central1-a"},
        "tags": [
            {"key": "cost-center", "value": "cc-42", "inherited": True, "namespace": "587412366541"},
            {"key": "cost-center", "value": "cc-7", "inherited": False, "namespace": "587412366541"},
        ],
        "transaction_type": "GOOGLE",
        "export_time": "2020-11-10 05:49:32.199 UTC",
        "cost": 0.19424,
        "currency": "EUR",
        "currency_conversion_rate": 0.8456,
        "usage": {"amount": 14400.0, "unit": "seconds", "amount_in_pricing_units": 4.0, "pricing_unit": "hour"},
        "credits": [
            {
                "name": "Committed use discount: CPU",
                "amount": -0.09712,
                "full_name": "Committed use discount: CPU (shop-cud-1y)",
                "id": "CommittedUsageDiscount:shop-cud-1y",
                "type": "COMMITTED_USAGE_DISCOUNT",
            },
            {
                "name": "Sustained usage discount",
                "amount": -0.019424,
                "full_name": None,
                "type": "SUSTAINED_USAGE_DISCOUNT",
            },
        ],
        "invoice": {"month": "202011"},
        "cost_type": "regular",
        "resource": {
            "name": "etl-worker-1",
            "global_name": "//compute.googleapis.com/projects/shop-prod/zones/us-central1-a/instances/5133768412",
        },
    }
    record.update(overrides)
    return record


NESTED_RECORDS = [
    export_record(),
    # Tax: no SKU price columns, no usage; a Marketplace row sold by a third party.
    export_record(
        cost=0.1,
        cost_type="tax",
        credits=[],
        labels=[],
        tags=[],
        system_labels=[],
        transaction_type="THIRD_PARTY_RESELLER",
        seller_name="Acme Analytics",
    ),
    # Credits only: no cost, no usage → a FOCUS Credit.
    export_record(
        cost=0.0,
        usage={"amount": 0.0, "unit": "seconds", "amount_in_pricing_units": 0.0, "pricing_unit": "hour"},
        credits=[
            {"name": "Promotional credit", "amount": -2.5, "full_name": None, "id": "promo-1", "type": "PROMOTION"}
        ],
    ),
    # A correction of a previous month, and a spot VM.
    export_record(
        cost=-1.1,
        cost_type="adjustment",
        invoice={"month": "202010"},
        adjustment_info={"id": "adj-1", "description": "Overcharge", "mode": "PARTIAL_CORRECTION", "type": "X"},
        credits=[],
    ),
    export_record(
        cost=2.2,
        credits=[],
        sku={"id": "SPOT-1", "description": "Spot Preemptible N2 Instance Core running in Americas"},
        cost_at_list=5.3,
    ),
]


def write_ndjson(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_parquet(path: Path, records: list[dict]) -> Path:
    pl.read_ndjson(write_ndjson(path.with_suffix(".tmp.json"), records)).write_parquet(path)
    return path


@pytest.fixture(params=["ndjson", "parquet"])
def nested_export(request, tmp_path) -> Path:
    if request.param == "ndjson":
        return write_ndjson(tmp_path / "export.json", NESTED_RECORDS)
    return write_parquet(tmp_path / "export.parquet", NESTED_RECORDS)


def test_nested_exports_map_with_exact_money(nested_export):
    focus = to_focus([nested_export])
    assert focus[REASON].null_count() == len(NESTED_RECORDS) + 1  # + the VM's on-demand part
    rows = focus.to_dicts()
    # Doubles are read through their shortest text: 0.19424 is 0.1942400000, not 0.19423999999999999…
    # The VM's committed-use and sustained-use credits are netted into it: 0.19424 − 0.09712 − 0.019424; the
    # credit-only row is itself a Credit row of its promotion (−2.5).
    # The VM's usage is half covered by its commitment (CUD credit −0.09712 of cost 0.19424): it is split into
    # its committed part (billed 0.09712 − 0.09712 = 0) and its on-demand part (billed the rest).
    assert [r["BilledCost"] for r in rows] == [Decimal(t) for t in ("0", "0.077696", "0.1", "-2.5", "-1.1", "2.2")]
    # The invoice: Σ cost 1.39424 + Σ credits (−0.09712 − 0.019424 − 2.5) = −1.222304.
    assert focus["BilledCost"].sum() == Decimal("-1.222304")
    # No commitment fee in this export to amortise: EffectiveCost = BilledCost.
    assert [r["EffectiveCost"] for r in rows] == [r["BilledCost"] for r in rows]
    contracted = ("0.09712", "0.09712", "0.1", "-2.5", "-1.1", "2.2")
    assert [r["ContractedCost"] for r in rows] == [Decimal(t) for t in contracted]
    assert [r["ChargeCategory"] for r in rows] == ["Usage", "Usage", "Tax", "Credit", "Adjustment", "Usage"]
    assert [r["ChargeClass"] for r in rows] == [None, None, None, None, "Correction", None]
    assert [r["PricingCategory"] for r in rows] == ["Committed", "Standard", None, None, None, "Dynamic"]
    assert [r["ChargeFrequency"] for r in rows] == [
        *["Usage-Based"] * 2,
        *["One-Time"] * 3,
        "Usage-Based",
    ]
    assert conform_to_focus(focus).rejected.height == 0

    usage = rows[0]
    assert usage["CommitmentDiscountId"] == "CommittedUsageDiscount:shop-cud-1y"
    assert usage["CommitmentDiscountName"] == "Committed use discount: CPU (shop-cud-1y)"
    assert (usage["CommitmentDiscountCategory"], usage["CommitmentDiscountStatus"]) == ("Usage", "Used")
    assert usage["CommitmentDiscountType"] == "COMMITTED_USAGE_DISCOUNT"
    # Covered: 4 hours × 0.09712 / 0.19424 (the credit is the on-demand cost of the covered hours).
    assert (usage["CommitmentDiscountQuantity"], usage["CommitmentDiscountUnit"]) == (Decimal(2), "hour")
    assert usage["BillingCurrency"] == "EUR"
    assert usage["ResourceType"] == "instances"
    # Resource labels beat inherited project labels; a directly attached tag beats an inherited one; system
    # labels keep Google's prefix or get `goog-`.
    assert json.loads(usage["Tags"]) == {
        "587412366541/cost-center": "cc-7",
        "app": "etl",
        "compute.googleapis.com/machine_spec": "n2-standard-4",
        "env": "prod",
        "goog-cores": "4",
        "team": "data",
    }
    assert usage["Tags"].startswith('{"587412366541/cost-center":"cc-7","app":"etl",')  # sorted keys
    assert [c["amount"] for c in json.loads(usage[CREDITS_COLUMN])] == ["-0.0971200000"]  # the CUD credit
    on_demand = rows[1]  # the other half, with the sustained-use credit
    assert [c["amount"] for c in json.loads(on_demand[CREDITS_COLUMN])] == ["-0.0194240000"]
    assert (on_demand["PricingQuantity"], on_demand["ConsumedQuantity"]) == (Decimal(2), Decimal(7200))
    assert (on_demand["CommitmentDiscountId"], on_demand["Tags"]) == (None, usage["Tags"])

    tax = rows[2]
    assert (tax["SkuId"], tax["SkuPriceId"], tax["PricingQuantity"], tax["ConsumedQuantity"]) == (None,) * 4
    assert tax["PublisherName"] == "Acme Analytics"
    assert tax["Tags"] == '{"env":"prod","team":"platform"}'  # only the inherited project labels
    assert rows[4]["BillingPeriodStart"] == datetime(2020, 10, 1, 7, tzinfo=UTC)
    assert rows[5]["ListCost"] == Decimal("5.3")  # cost_at_list wins


def test_a_commitment_fee_is_amortised_over_the_usage_it_covered(tmp_path):
    """One resource-based commitment (`cud-1`) of 10 vCPU-hours an hour at 0.02: fee 0.2 per hour.

    Hour 1: VM A uses 6 h at 0.03 (cost 0.18, all covered: CUD credit −0.18); VM B uses 8 h (cost 0.24, 2 h
    covered: CUD credit −0.06) and has a promotional credit of −0.1. Covered 8 of 10 h: A's share of the fee
    is 6 × 0.02 = 0.12, B's 2 × 0.02 = 0.04, unused 2 h = 0.04. B's row is split: its 2 committed hours
    (billed 0.06 − 0.06 = 0, effective its share 0.04) and its 6 on-demand hours (0.18). Hour 2: the fee (0.2)
    and no usage, all unused.
    """
    hour_1 = {"usage_start_time": "2020-11-09 23:00:00 UTC", "usage_end_time": "2020-11-10 00:00:00 UTC"}
    hour_2 = {"usage_start_time": "2020-11-10 00:00:00 UTC", "usage_end_time": "2020-11-10 01:00:00 UTC"}
    core = {"amount": 0.0, "unit": "seconds", "pricing_unit": "hour"}

    def cud(amount: float) -> dict:
        return {"name": "Committed use discount: CPU", "amount": amount, "id": "cud-1", "full_name": None,
                "type": "COMMITTED_USAGE_DISCOUNT"}  # fmt: skip

    fee = {
        "sku": {"id": "FEE-CPU", "description": "Commitment v1: N2 Cpu in Americas for 1 Year"},
        "subscription": {"instance_id": "cud-1"},
        "resource": {"name": "cud-1", "global_name": "//compute.googleapis.com/projects/p/regions/r/commitments/1"},
        "usage": {**core, "amount": 36000.0, "amount_in_pricing_units": 10.0},
        "cost": 0.2,
        "credits": [],
    }
    records = [
        export_record(**hour_1, **fee),
        export_record(
            **hour_1,
            subscription={"instance_id": "cud-1"},
            usage={**core, "amount": 21600.0, "amount_in_pricing_units": 6.0},
            cost=0.18,
            credits=[cud(-0.18)],
        ),
        export_record(
            **hour_1,
            subscription={"instance_id": "cud-1"},
            usage={**core, "amount": 28800.0, "amount_in_pricing_units": 8.0},
            cost=0.24,
            credits=[cud(-0.06), {"name": "Research credit", "amount": -0.1, "id": "promo", "type": "PROMOTION"}],
        ),
        export_record(**hour_2, **fee),
    ]
    focus = to_focus([write_ndjson(tmp_path / "export.json", records)])
    assert focus[REASON].null_count() == focus.height
    assert conform_to_focus(focus).rejected.height == 0
    got = focus.select(
        "x_SourceRowNumber",
        "ChargeCategory",
        "ChargeFrequency",
        "PricingCategory",
        "CommitmentDiscountStatus",
        "CommitmentDiscountQuantity",
        "BilledCost",
        "EffectiveCost",
    ).rows()
    d = Decimal
    assert got == [
        (1, "Purchase", "Recurring", "Standard", None, d(10), d("0.2"), d(0)),
        (1, "Usage", "Usage-Based", "Committed", "Unused", d(2), d(0), d("0.04")),
        (2, "Usage", "Usage-Based", "Committed", "Used", d(6), d(0), d("0.12")),
        (3, "Usage", "Usage-Based", "Committed", "Used", d(2), d(0), d("0.04")),
        (3, "Credit", "One-Time", None, None, None, d("-0.1"), d("-0.1")),
        (3, "Usage", "Usage-Based", "Standard", None, None, d("0.18"), d("0.18")),  # after its credits
        (4, "Purchase", "Recurring", "Standard", None, d(10), d("0.2"), d(0)),
        (4, "Usage", "Usage-Based", "Committed", "Unused", d(10), d(0), d("0.2")),
    ]
    on_demand = (pl.col("ChargeCategory") == "Usage") & (pl.col("PricingCategory") == "Standard")
    commitment_rows = focus.filter(pl.col("ChargeCategory") != "Credit", ~on_demand)
    assert commitment_rows.height == 6
    assert set(commitment_rows["CommitmentDiscountId"]) == {"cud-1"}
    assert set(commitment_rows["CommitmentDiscountUnit"]) == {"hour"}
    # Invoice: Σ cost (0.2 + 0.18 + 0.24 + 0.2) + Σ credits (−0.18 − 0.06 − 0.1) = 0.48; EffectiveCost, with the
    # fees amortised rather than billed, adds up to the same.
    assert focus["BilledCost"].sum() == focus["EffectiveCost"].sum() == d("0.48")
    totals = billing_export_source_totals(scan_billing_export([tmp_path / "export.json"])).collect()
    assert totals["x_SourceCost"].sum() == d("0.48")


def test_list_prices_fill_list_cost_when_the_export_has_none(nested_export):
    prices = pl.DataFrame(
        {
            "sku_id": ["CF4E-A0C7-E3BF", "SPOT-1"],
            "unit_price": [Decimal("0.031611"), Decimal("0.007")],
            "pricing_unit": ["hour", "gibibyte"],  # the spot price is in another unit: unusable
            "currency": ["USD", "USD"],
        },
        schema={"sku_id": pl.String, "unit_price": MONEY, "pricing_unit": pl.String, "currency": pl.String},
    )
    rows = to_focus([nested_export], list_prices=prices).to_dicts()
    # USD list price in the EUR bill: × currency_conversion_rate (0.8456); × 4 hours.
    assert rows[0]["ListUnitPrice"] == rows[1]["ListUnitPrice"] == Decimal("0.0267302616")
    # 0.1069210464 for the 4 hours, split between the committed and the on-demand half.
    assert rows[0]["ListCost"] == rows[1]["ListCost"] == Decimal("0.0534605232")
    assert rows[5]["ListUnitPrice"] is None and rows[5]["ListCost"] == Decimal("5.3")
    assert rows[2]["ListUnitPrice"] is None and rows[2]["ListCost"] == Decimal("0.1")  # tax: list = billed


def test_csv_and_nested_files_scan_together(tmp_path):
    ndjson = write_ndjson(tmp_path / "export.json", NESTED_RECORDS[:1])
    lazy = scan_billing_export([NOV_2020, ndjson], source_names=["nov.csv", "nested.json"])
    assert lazy.collect_schema()["credits"] == pl.String  # text in one file, records in the other: text for all
    focus = billing_export_to_focus(lazy, source_name="gcp").collect()
    # Nov 2020's 8 promotions; the nested VM row split into its committed and on-demand parts.
    assert focus.height == 27 + 8 and focus[REASON].null_count() == 27 + 8
    nested = focus.filter(pl.col("x_SourceFile") == "nested.json")
    assert nested["BilledCost"].sum() == nested["EffectiveCost"].sum() == Decimal("0.077696")
    assert nested["CommitmentDiscountCategory"].to_list() == ["Usage", None]
    assert nested["ChargePeriodStart"].to_list() == [datetime(2020, 11, 9, 23, tzinfo=UTC)] * 2


@pytest.mark.parametrize("engine", ["streaming", "in-memory"])
def test_the_mapping_runs_on_both_polars_engines(engine):
    focus = billing_export_to_focus(scan_billing_export([NOV_2020]), source_name="gcp").collect(engine=engine)
    assert focus.height == 25 + 8
    assert focus["BilledCost"].sum() == Decimal(0)
    assert focus.filter(pl.col("ChargeCategory") == "Credit")["BilledCost"].sum() == Decimal("-0.000032")


def test_ndjson_bad_values_are_reported_on_their_row_and_unknown_fields_are_skipped(tmp_path):
    records = [
        export_record(),
        export_record(cost="about 3 dollars", usage_start_time="not a time", future_field={"nested": [1, 2]}),
        export_record(credits=[{"name": "odd", "amount": "n/a", "type": "PROMOTION"}]),
    ]
    focus = to_focus([write_ndjson(tmp_path / "export.json", records)])
    assert focus[REASON].to_list() == [
        None,
        None,  # the first record's two parts (committed and on demand)
        "usage_start_time: 'not a time' is not a date; cost: 'about 3 dollars' is not a number",
        "credits: a credit has no amount",
    ]
    # Unreadable credits: the cost alone is billed (and quarantined), as the source totals count it.
    assert focus["BilledCost"].to_list() == [Decimal(0), Decimal("0.077696"), None, Decimal("0.19424")]
    assert focus["EffectiveCost"].to_list() == [Decimal(0), Decimal("0.077696"), None, None]


def test_ndjson_without_a_required_field_on_any_line_is_unreadable(tmp_path):
    records = [{k: v for k, v in export_record().items() if k != "cost"}] * 2
    path = write_ndjson(tmp_path / "export.json", records)
    with pytest.raises(SourceFileError, match="required column 'cost' is missing") as raised:
        scan_billing_export([path])
    assert (raised.value.file, raised.value.column) == (str(path.resolve()), "cost")


def test_typed_parquet_and_gzipped_csv_scan_together(tmp_path):
    """Parquet with real timestamp/double/struct types (as BigQuery writes it) next to a gzipped CSV."""
    typed = pl.DataFrame(
        {
            "billing_account_id": ["01A2B3-C4D5E6-F7A8B9"],
            "service": [{"id": "95FF-2EF5-5EA1", "description": "Cloud Storage"}],
            "usage_start_time": [datetime(2020, 11, 9, 23, tzinfo=UTC)],
            "usage_end_time": [datetime(2020, 11, 10, tzinfo=UTC)],
            "cost": [0.1],
            "currency": ["USD"],
            "credits": [[{"name": "promo", "amount": -0.05, "type": "PROMOTION"}]],
            "invoice": [{"month": "202011"}],
            "cost_type": ["regular"],
        }
    )
    parquet = tmp_path / "typed.parquet"
    typed.write_parquet(parquet)
    gzipped = tmp_path / "aug.csv.gz"
    gzipped.write_bytes(gzip.compress(AUG_2022.read_bytes()))

    lazy = scan_billing_export([parquet, gzipped])
    assert lazy.collect_schema()["usage_start_time"] == pl.String  # datetime in one, text in the other
    focus = billing_export_to_focus(lazy, source_name="gcp").collect()
    assert focus.height == 11 and focus[REASON].null_count() == 11  # 10 rows and the promotion's Credit row
    first, promotion = focus.row(0, named=True), focus.row(1, named=True)
    assert (first["BilledCost"], first["EffectiveCost"]) == (Decimal("0.1"), Decimal("0.1"))
    assert (promotion["ChargeCategory"], promotion["BilledCost"]) == ("Credit", Decimal("-0.05"))
    assert first["ChargePeriodStart"] == promotion["ChargePeriodStart"] == datetime(2020, 11, 9, 23, tzinfo=UTC)
    assert focus["BilledCost"].sum() == Decimal("0.1") - Decimal("0.05") + Decimal("0.000012")


def test_no_files_give_empty_typed_frames():
    export = scan_billing_export([])
    focus = billing_export_to_focus(export, source_name="gcp").collect()
    assert focus.height == 0
    assert dict(focus.drop(CREDITS_COLUMN, REASON).schema) == FOCUS_TABLE_SCHEMA
    assert billing_export_source_totals(export).collect().height == 0


def test_large_csv_files_are_scanned_lazily_and_map_the_same(monkeypatch, tmp_path):
    """Above EAGER_CSV_MAX_BYTES a CSV export is a lazy scan_csv (streams in bounded memory); plain and gzip."""
    from finops_pipeline.sources import files

    zipped = tmp_path / "aug.csv.gz"
    zipped.write_bytes(gzip.compress(AUG_2022.read_bytes()))
    eager = to_focus([NOV_2020, zipped])
    monkeypatch.setattr(files, "EAGER_CSV_MAX_BYTES", 0)
    assert "SCAN" in scan_billing_export([NOV_2020]).explain()
    assert to_focus([NOV_2020, zipped]).equals(eager)


def test_a_whitespace_only_file_is_empty(tmp_path):
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b" \n\t\n" * 40_000)
    with pytest.raises(SourceFileError, match="file is empty"):
        scan_billing_export([blank])
