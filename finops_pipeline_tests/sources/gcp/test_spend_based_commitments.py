"""Spend-based committed use discounts, in Google's consumption-model data (since 2025-07-15; every account
since 2026-01-21) and in the legacy credit model (further down), on the rows Google publishes as its sample
(cloud.google.com/docs/cuds-multiprice-datamodel, "Data after" / "Data before", a 1-year Compute flexible CUD).
Consumption-model data:

* fee rows: fee SKU 5515-81A8-03A2 at $1, `cost` = the hour's committed discounted spend, split by the usage
  SKU it paid for, each offset by a FEE_UTILIZATION_OFFSET credit of minus what that usage consumed (a part
  nobody used has no offset and no project);
* covered usage: priced under the CUD's consumption model at the discounted price, with the commitment's
  `subscription.instance_id`; usage beyond the commitment is a second row under the Default model.

FOCUS: the fee rows are the commitment's Purchase (EffectiveCost 0) and bill the commitment; covered usage is
Committed, Used, BilledCost 0 (DiscountHandling-A-009-C), EffectiveCost its discounted cost; what the offsets
leave of a fee is an Unused row. Σ BilledCost is still Σ cost + Σ credits (the invoice) and equals Σ
EffectiveCost, and the amortisation of each commitment and hour closes.
"""

from decimal import Decimal
from pathlib import Path

import polars as pl

from finops_pipeline.focus.conform import REASON, conform_to_focus
from finops_pipeline.quality.conformance import source_conformance
from finops_pipeline.quality.focus_rules import commitment_amortisation_closure, load_rule_model
from finops_pipeline.sources.gcp.export import billing_export_source_totals, scan_billing_export
from finops_pipeline_tests.paths import SHARED_DATA
from finops_pipeline_tests.sources.gcp.test_billing_export import export_record, to_focus, write_ndjson

SUBSCRIPTION = "subscriptions/1fd3b130-40f8-4a79-ac6f-5753aaa0ceeb"
CUD_MODEL = {"id": "D97B-0795-975B", "description": "Compute Flexible CUDs 1 Year"}
DEFAULT_MODEL = {"id": "7754-699E-0EBF", "description": "Default"}
RAM = {"id": "F449-33EC-A5EF", "description": "E2 Instance Ram running in Americas"}
CORE = {"id": "CF4E-A0C7-E3BF", "description": "E2 Instance Core running in Americas"}
FEE_SKU = {"id": "5515-81A8-03A2", "description": "Compute Flexible Committed Use Discounts - 1 Year"}
HOUR_1 = {"usage_start_time": "2025-08-12 10:00:00 UTC", "usage_end_time": "2025-08-12 11:00:00 UTC"}
HOUR_2 = {"usage_start_time": "2025-08-12 11:00:00 UTC", "usage_end_time": "2025-08-12 12:00:00 UTC"}
d = Decimal


def fee(hour: dict, cost: str, offset: str | None, *, project: bool = True) -> dict:
    credits = [] if offset is None else [
        {"name": "Fee utilization offset", "amount": float(offset), "id": "", "full_name": None,
         "type": "FEE_UTILIZATION_OFFSET"}
    ]  # fmt: skip
    record = export_record(
        **hour,
        sku=FEE_SKU,
        resource={"name": None, "global_name": None},  # a fee is no resource's
        subscription={"instance_id": SUBSCRIPTION},
        consumption_model=DEFAULT_MODEL,
        usage={"amount": float(cost), "unit": "hour", "pricing_unit": "hour", "amount_in_pricing_units": float(cost)},
        price={"effective_price": 1.0, "effective_price_default": 1.0},
        cost=float(cost),
        cost_at_list=float(cost),
        cost_at_effective_price_default=float(cost),
        currency="USD",
        currency_conversion_rate=1.0,
        credits=credits,
    )  # fmt: skip
    if not project:
        record["project"] = None  # the unused part: "Costs not specific to a project"
    return record


def usage(hour: dict, sku: dict, quantity: str, unit: str, price: str, on_demand_price: str, cost: str, *, cud: bool):
    return export_record(
        **hour,
        sku=sku,
        subscription={"instance_id": SUBSCRIPTION if cud else None},
        consumption_model=CUD_MODEL if cud else DEFAULT_MODEL,
        usage={
            "amount": float(quantity),
            "unit": unit,
            "pricing_unit": unit,
            "amount_in_pricing_units": float(quantity),
        },
        price={"effective_price": float(price), "effective_price_default": float(on_demand_price)},
        cost=float(cost),
        cost_at_list=float(cost) if not cud else None,
        cost_at_effective_price_default=float((d(quantity) * d(on_demand_price)).quantize(d("0.000001"))),
        currency="USD",
        currency_conversion_rate=1.0,
        credits=[],
    )


RECORDS = [
    # Hour 1, more usage than the commitment ($0.072 an hour): the commitment is used up, each fee row is
    # offset whole, the rest of the usage is on demand.
    fee(HOUR_1, "0.046868", "-0.046868"),
    fee(HOUR_1, "0.025132", "-0.025132"),
    usage(HOUR_1, RAM, "5.015577498", "gibibyte hour", "0.02181159", "0.02181159", "0.109398", cud=False),
    usage(HOUR_1, CORE, "20.06066639", "hour", "0.00292353", "0.00292353", "0.058648", cud=False),
    usage(HOUR_1, RAM, "2.984422502", "gibibyte hour", "0.01570434", "0.02181159", "0.046868", cud=True),
    usage(HOUR_1, CORE, "11.93933361", "hour", "0.00210494", "0.00292353", "0.025132", cud=True),
    # Hour 2, a $0.216 commitment with $0.193006 of usage: all usage covered, 0.0230071 of the fee unused
    # (Google's rows: the offsets are rounded a little apart from the usage they pay for).
    fee(HOUR_2, "0.022994", None, project=False),  # (Google's page shows its units rounded: 0.0230)
    fee(HOUR_2, "0.125637", "-0.1256348"),
    fee(HOUR_2, "0.067369", "-0.0673581"),
    usage(HOUR_2, RAM, "8", "gibibyte hour", "0.0157043448", "0.02181159", "0.125637", cud=True),
    usage(HOUR_2, CORE, "32", "hour", "0.0021049416", "0.00292353", "0.067369", cud=True),
]
COLUMNS = (
    "x_SourceRowNumber",
    "ChargeCategory",
    "PricingCategory",
    "CommitmentDiscountStatus",
    "CommitmentDiscountCategory",
    "CommitmentDiscountQuantity",
    "BilledCost",
    "EffectiveCost",
    "ContractedCost",
)


def conformant_focus(export: Path) -> pl.DataFrame:
    """The export's FOCUS rows, checked: none quarantined, none rejected, no static MUST rule failed."""
    focus = to_focus([export])
    assert focus[REASON].null_count() == focus.height
    stored = conform_to_focus(focus.drop(REASON))
    assert stored.rejected.height == 0
    model = load_rule_model(SHARED_DATA / "focus_validator" / "model-1.2.json")
    failures = source_conformance(stored.valid, model, "gcp")
    assert failures.filter(pl.col("Function") != "Composite").height == 0, failures
    return focus


def assert_one_commitment(focus: pl.DataFrame, commitment_id: str, commitment_type: str) -> None:
    """Every commitment row names it, its type and the currency; its Purchase and Unused rows name it as
    their resource (DiscountHandling-A-019-C)."""
    committed = focus.filter(pl.col("CommitmentDiscountCategory").is_not_null())
    assert set(committed["CommitmentDiscountId"]) == {commitment_id}
    commitment_rows = pl.col("ChargeCategory").eq("Purchase") | pl.col("CommitmentDiscountStatus").eq("Unused")
    assert set(committed.filter(commitment_rows)["ResourceId"]) == {commitment_id}
    assert set(committed["CommitmentDiscountType"]) == {commitment_type}
    assert set(committed["CommitmentDiscountUnit"]) == {"USD"}


def used_and_unused_per_hour(focus: pl.DataFrame, export: Path, invoice: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Checks Σ BilledCost = Σ EffectiveCost = the invoice (and the source totals), and that each commitment's
    amortisation closes per hour; returns each hour's (used, unused) EffectiveCost."""
    assert focus["BilledCost"].sum() == focus["EffectiveCost"].sum() == invoice
    totals = billing_export_source_totals(scan_billing_export([export])).collect()
    assert totals["x_SourceCost"].sum() == invoice
    closure = commitment_amortisation_closure(focus, by=("CommitmentDiscountId", "ChargePeriodStart"))
    assert closure["amortisation_closes"].all() and closure["status_split_closes"].all()
    return closure.select("used_effective_cost", "unused_effective_cost").rows()


def test_spend_based_commitment_fees_bill_the_commitment_and_covered_usage_is_committed(tmp_path):
    export = write_ndjson(tmp_path / "export.json", RECORDS)
    focus = conformant_focus(export)

    expected = [
        # Hour 1: each fee row bills its fee (0.046868 − 0.046868 offset + the 0.046868 of usage it paid for).
        (1, "Purchase", "Standard", None, "Spend", "0.046868", "0.046868", "0", "0.046868"),
        (2, "Purchase", "Standard", None, "Spend", "0.025132", "0.025132", "0", "0.025132"),
        (3, "Usage", "Standard", None, None, None, "0.109398", "0.109398", "0.109398"),
        (4, "Usage", "Standard", None, None, None, "0.058648", "0.058648", "0.058648"),
        # Covered: billed by the fee; effective = the discounted cost; contracted = at the on-demand price
        # (2.984422502 × 0.02181159, 11.93933361 × 0.00292353), so contracted − effective is the CUD's saving.
        (5, "Usage", "Committed", "Used", "Spend", "0.046868", "0", "0.046868", "0.065095"),
        (6, "Usage", "Committed", "Used", "Spend", "0.025132", "0", "0.025132", "0.034905"),
        # Hour 2: the part nobody used (no offset) is all Unused; BilledCost is checked below.
        (7, "Purchase", "Standard", None, "Spend", "0.022994", None, "0", "0.022994"),
        (7, "Usage", "Committed", "Unused", "Spend", "0.022994", "0", "0.022994", "0"),
        # 0.125637 − 0.1256348 = 0.0000022 of this fee row was not consumed.
        (8, "Purchase", "Standard", None, "Spend", "0.125637", None, "0", "0.125637"),
        (8, "Usage", "Committed", "Unused", "Spend", "0.0000022", "0", "0.0000022", "0"),
        (9, "Purchase", "Standard", None, "Spend", "0.067369", None, "0", "0.067369"),
        (9, "Usage", "Committed", "Unused", "Spend", "0.0000109", "0", "0.0000109", "0"),
        # 8 × 0.02181159 and 32 × 0.00292353, as the export rounds them (6 places).
        (10, "Usage", "Committed", "Used", "Spend", "0.125637", "0", "0.125637", "0.174493"),
        (11, "Usage", "Committed", "Used", "Spend", "0.067369", "0", "0.067369", "0.093553"),
    ]
    hour_2_fees = pl.col("ChargeCategory").eq("Purchase") & pl.col("x_SourceRowNumber").is_in([7, 8, 9])
    got = focus.with_columns(pl.when(~hour_2_fees).then(pl.col("BilledCost")).alias("BilledCost"))
    assert got.select(COLUMNS).rows() == [
        tuple(d(v) if isinstance(v, str) and v[0].isdigit() else v for v in row) for row in expected
    ]
    # Hour 2's fee rows bill what their offsets leave of them plus the usage they paid for: 0.125637 +
    # 0.067369 = 0.193006 moves to them, shared by their offsets (0.1256348 and 0.0673581 of 0.1929929), the
    # row without offset taking the rounding rest of the shares (to 10 places).
    billed = focus.filter(hour_2_fees)["BilledCost"].to_list()
    share_ram = d("0.193006") * d("0.1256348") / d("0.1929929")  # 0.12564332..
    share_core = d("0.193006") * d("0.0673581") / d("0.1929929")  # 0.06736267..
    exact = [d("0.022994"), d("0.0000022") + share_ram, d("0.0000109") + share_core]
    assert all(abs(got - want) < d("1e-9") for got, want in zip(billed, exact, strict=True))
    assert sum(billed) == d("0.022994") + d("0.0000022") + d("0.0000109") + d("0.193006")

    assert_one_commitment(focus, SUBSCRIPTION, "Spend-based committed use discount")
    # The invoice: Σ cost (0.072 + 0.109398 + 0.058648 + 0.072 + 0.216 + 0.193006) + Σ offsets (−0.072 −
    # 0.1929929) = 0.4560591; every amount moved between rows of a pool stays in it. Per commitment and
    # hour, Σ EffectiveCost of Used + Unused is what the Purchase rows bill.
    assert used_and_unused_per_hour(focus, export, d("0.4560591")) == [
        (d("0.072"), d(0)),
        (d("0.193006"), d("0.0230071")),  # utilisation 0.193006 / 0.2160071 = 89.35%, as Google's query gives
    ]


def test_the_standard_export_without_subscriptions_pools_by_product(tmp_path):
    """The standard export has no `subscription`: fee rows are known by their fee SKU, covered usage by its
    CUD's consumption model, both listed by Google per product; the commitment is the product's, with the same
    amounts as the detailed export gives."""
    records = [{k: v for k, v in r.items() if k != "subscription"} for r in RECORDS]
    export = write_ndjson(tmp_path / "standard.json", records)
    focus = conformant_focus(export)
    detailed = to_focus([write_ndjson(tmp_path / "detailed.json", RECORDS)])
    assert focus.select(COLUMNS).equals(detailed.select(COLUMNS))
    assert_one_commitment(focus, "spend-based/Compute Flexible", "Spend-based committed use discount")
    assert used_and_unused_per_hour(focus, export, d("0.4560591")) == [
        (d("0.072"), d(0)),
        (d("0.193006"), d("0.0230071")),
    ]


def test_a_wholly_unused_fee_of_another_product_is_known_by_its_fee_sku(tmp_path):
    """A Cloud SQL CUD's fee row that nothing used has no offset: its fee SKU (Google's list) makes it the
    commitment's Purchase, all of it Unused."""
    cloud_sql_fee = fee(HOUR_1, "0.5", None, project=False)
    cloud_sql_fee["sku"] = {"id": "7BE0-E374-B1EB", "description": "Cloud SQL Committed Use Discounts - 1 Year"}
    focus = conformant_focus(write_ndjson(tmp_path / "export.json", [cloud_sql_fee]))
    assert focus.select(COLUMNS).rows() == [
        (1, "Purchase", "Standard", None, "Spend", d("0.5"), d("0.5"), d(0), d("0.5")),
        (1, "Usage", "Committed", "Unused", "Spend", d("0.5"), d(0), d("0.5"), d(0)),
    ]


def test_covered_usage_without_its_fee_in_the_export_keeps_its_bill(tmp_path):
    """Usage of a commitment whose fee rows are not in the files read (another export, another day) cannot be
    billed by them: it stays billed at its discounted cost, still Committed and Used."""
    records = [usage(HOUR_1, RAM, "8", "gibibyte hour", "0.0157043448", "0.02181159", "0.125637", cud=True)]
    focus = to_focus([write_ndjson(tmp_path / "export.json", records)])
    assert focus.select(COLUMNS).rows() == [
        (1, "Usage", "Committed", "Used", "Spend", d("0.125637"), d("0.125637"), d("0.125637"), d("0.174493"))
    ]


# --- The legacy credit model (before an account's migration; VMware Engine and a few others still) ------------

LEGACY_SUBSCRIPTION = "subscriptions/e52fd279-0851-4f53-a533-093119e27bad"
LEGACY_FEE_SKU = {"id": "F61D-4D51-AAFC", "description": "Commitment - dollar based v1: GCE for 1 year"}
LEGACY_CREDIT = "Committed use discount - dollar based: GCE Commitments"


def legacy_fee(hour: dict, cost: str, units: str, *, rate: str = "1", currency: str = "USD") -> dict:
    """A fee row: `units` cents an hour of on-demand spend committed, at the discounted 0.0072 a cent (28% off)."""
    return export_record(
        **hour,
        sku=LEGACY_FEE_SKU,
        resource={"name": None, "global_name": None},
        subscription={"instance_id": LEGACY_SUBSCRIPTION},
        usage={"amount": float(units), "unit": "hour", "pricing_unit": "hour", "amount_in_pricing_units": float(units)},
        price={"effective_price": 0.0072},
        cost=float(cost),
        cost_at_list=float(cost),
        currency=currency,
        currency_conversion_rate=float(rate),
        credits=[],
    )


def legacy_usage(hour: dict, sku: dict, quantity: str, unit: str, cost: str, credit: str, **money) -> dict:
    """Usage at the on-demand price with a credit of minus the on-demand cost its commitment covered."""
    cud = {"name": "", "amount": float(credit), "id": "", "full_name": LEGACY_CREDIT,
           "type": "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE"}  # fmt: skip
    return export_record(
        **hour,
        sku=sku,
        usage={
            "amount": float(quantity),
            "unit": unit,
            "pricing_unit": unit,
            "amount_in_pricing_units": float(quantity),
        },
        cost=float(cost),
        cost_at_list=float(cost),
        credits=[cud],
        **({"currency": "USD", "currency_conversion_rate": 1.0} | money),
    )


LEGACY_RECORDS = [
    # Hour 1: $0.10 an hour of on-demand spend committed (10 units), fee 0.072; usage worth 0.268064 on demand,
    # of which the commitment covered 0.10 (credits 0.065095 + 0.034905): each row is split.
    legacy_fee(HOUR_1, "0.046868", "6.509490"),
    legacy_fee(HOUR_1, "0.025132", "3.490510"),
    legacy_usage(HOUR_1, RAM, "8", "gibibyte hour", "0.174496", "-0.065095"),
    legacy_usage(HOUR_1, CORE, "32", "hour", "0.093568", "-0.034905"),
    # Hour 2: $0.30 committed (30 units), fee 0.216; all usage (0.268064) covered, 0.031936 of it unused.
    legacy_fee(HOUR_2, "0.022994", "3.1936"),
    legacy_fee(HOUR_2, "0.125637", "17.4496"),
    legacy_fee(HOUR_2, "0.067369", "9.3568"),
    legacy_usage(HOUR_2, RAM, "8", "gibibyte hour", "0.174496", "-0.174496"),
    legacy_usage(HOUR_2, CORE, "32", "hour", "0.093568", "-0.093568"),
]


def test_legacy_spend_based_commitment_fees_are_amortised_over_the_usage_their_credits_covered(tmp_path):
    """Per product and hour the fee F is shared by the on-demand spend each row's credit covered, c × F /
    max(committed, Σ c); what is left is an Unused row; partly covered usage is split (DiscountHandling-A-004-C).
    The commitment is the product's ("spend-based/GCE"): nothing else ties the fee to the usage."""
    export = write_ndjson(tmp_path / "export.json", LEGACY_RECORDS)
    focus = conformant_focus(export)

    unused_units = d("3.1936") * d("0.02299392") / d("0.022994")  # the first fee row's units of the unused cost
    expected = [
        # Hour 1: committed 0.10 on demand (in the billing currency), all of it used.
        (1, "Purchase", "Standard", None, "Spend", "0.0650949", "0.046868", "0", "0.046868"),
        (2, "Purchase", "Standard", None, "Spend", "0.0349051", "0.025132", "0", "0.025132"),
        # RAM: 0.065095 of its 0.174496 covered: that part's share of the fee is 0.065095 × 0.072 / 0.10; the
        # rest (0.109401) is on demand.
        (3, "Usage", "Committed", "Used", "Spend", "0.065095", "0", "0.0468684", "0.065095"),
        (3, "Usage", "Standard", None, None, None, "0.109401", "0.109401", "0.109401"),
        (4, "Usage", "Committed", "Used", "Spend", "0.034905", "0", "0.0251316", "0.034905"),
        (4, "Usage", "Standard", None, None, None, "0.058663", "0.058663", "0.058663"),
        # Hour 2: committed 0.30, covered 0.268064: shares c × 0.216 / 0.30, unused 0.216 − 0.19300608.
        (5, "Purchase", "Standard", None, "Spend", "0.031936", "0.022994", "0", "0.022994"),
        (5, "Usage", "Committed", "Unused", "Spend", "0.031936", "0", "0.02299392", "0"),
        (6, "Purchase", "Standard", None, "Spend", "0.174496", "0.125637", "0", "0.125637"),
        (7, "Purchase", "Standard", None, "Spend", "0.093568", "0.067369", "0", "0.067369"),
        (8, "Usage", "Committed", "Used", "Spend", "0.174496", "0", "0.12563712", "0.174496"),
        (9, "Usage", "Committed", "Used", "Spend", "0.093568", "0", "0.06736896", "0.093568"),
    ]
    assert focus.select(COLUMNS).rows() == [
        tuple(d(v) if isinstance(v, str) and v[0].isdigit() else v for v in row) for row in expected
    ]
    # The committed part of a split row: its share of the pricing quantity, 8 × 0.065095 / 0.174496.
    ram_part = focus.filter(pl.col("x_SourceRowNumber") == 3).row(0, named=True)
    assert abs(ram_part["PricingQuantity"] - d(8) * d("0.065095") / d("0.174496")) < d("1e-9")
    unused = focus.filter(pl.col("CommitmentDiscountStatus") == "Unused").row(0, named=True)
    assert abs(unused["PricingQuantity"] - unused_units) < d("1e-9")
    assert_one_commitment(focus, "spend-based/GCE", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE")
    # Invoice: Σ cost 0.824128 + Σ credits (−0.10 − 0.268064) = 0.456064. Utilisation 0.19300608 / 0.216 =
    # 89.35% in hour 2: what the consumption-model data gives for it.
    assert used_and_unused_per_hour(focus, export, d("0.456064")) == [
        (d("0.072"), d(0)),
        (d("0.19300608"), d("0.02299392")),
    ]


def test_legacy_spend_based_commitment_in_another_billing_currency(tmp_path):
    """The fee's units are US cents; the credits are in the billing currency: the pool converts the committed
    spend with the row's rate (EUR 0.9 per USD). 30 units = USD 0.30 = EUR 0.27 committed, fee EUR 0.1944;
    a credit of EUR −0.18 covers 0.18 of it: share 0.18 × 0.1944 / 0.27 = 0.1296, unused 0.0648 (EUR 0.09)."""
    eur = {"currency": "EUR", "currency_conversion_rate": 0.9}
    records = [
        legacy_fee(HOUR_1, "0.1944", "30", rate="0.9", currency="EUR"),
        legacy_usage(HOUR_1, CORE, "32", "hour", "0.18", "-0.18", **eur),
    ]
    focus = to_focus([write_ndjson(tmp_path / "export.json", records)])
    assert focus.select(COLUMNS).rows() == [
        (1, "Purchase", "Standard", None, "Spend", d("0.27"), d("0.1944"), d(0), d("0.1944")),
        (1, "Usage", "Committed", "Unused", "Spend", d("0.09"), d(0), d("0.0648"), d(0)),
        (2, "Usage", "Committed", "Used", "Spend", d("0.18"), d(0), d("0.1296"), d("0.18")),
    ]
    assert set(focus["CommitmentDiscountUnit"].drop_nulls()) == {"EUR"}
