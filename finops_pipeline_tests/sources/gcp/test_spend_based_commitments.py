"""Spend-based committed use discounts in Google's consumption-model data (since 2025-07-15; every account
since 2026-01-21), on the rows Google publishes as its sample (cloud.google.com/docs/cuds-multiprice-datamodel,
"Data after", a 1-year Compute flexible CUD):

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


def test_spend_based_commitment_fees_bill_the_commitment_and_covered_usage_is_committed(tmp_path):
    export = write_ndjson(tmp_path / "export.json", RECORDS)
    focus = to_focus([export])
    assert focus[REASON].null_count() == focus.height
    stored = conform_to_focus(focus.drop(REASON))
    assert stored.rejected.height == 0
    model = load_rule_model(SHARED_DATA / "focus_validator" / "model-1.2.json")
    failures = source_conformance(stored.valid, model, "gcp")
    assert failures.filter(pl.col("Function") != "Composite").height == 0, failures

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

    committed = focus.filter(pl.col("CommitmentDiscountCategory").is_not_null())
    assert set(committed["CommitmentDiscountId"]) == {SUBSCRIPTION}
    assert set(committed["CommitmentDiscountType"]) == {"Spend-based committed use discount"}
    assert set(committed["CommitmentDiscountUnit"]) == {"USD"}
    # The invoice: Σ cost (0.072 + 0.109398 + 0.058648 + 0.072 + 0.216 + 0.193006) + Σ offsets (−0.072 −
    # 0.1929929) = 0.4560591; every amount moved between rows of a pool stays in it.
    assert focus["BilledCost"].sum() == focus["EffectiveCost"].sum() == d("0.4560591")
    totals = billing_export_source_totals(scan_billing_export([export])).collect()
    assert totals["x_SourceCost"].sum() == d("0.4560591")

    # Per commitment and hour: Σ EffectiveCost of Used + Unused = what the Purchase rows bill.
    closure = commitment_amortisation_closure(focus, by=("CommitmentDiscountId", "ChargePeriodStart"))
    assert closure["amortisation_closes"].all() and closure["status_split_closes"].all()
    assert closure.select("used_effective_cost", "unused_effective_cost").rows() == [
        (d("0.072"), d(0)),
        (d("0.193006"), d("0.0230071")),  # utilisation 0.193006 / 0.2160071 = 89.35%, as Google's query gives
    ]


def test_covered_usage_without_its_fee_in_the_export_keeps_its_bill(tmp_path):
    """Usage of a commitment whose fee rows are not in the files read (another export, another day) cannot be
    billed by them: it stays billed at its discounted cost, still Committed and Used."""
    records = [usage(HOUR_1, RAM, "8", "gibibyte hour", "0.0157043448", "0.02181159", "0.125637", cud=True)]
    focus = to_focus([write_ndjson(tmp_path / "export.json", records)])
    assert focus.select(COLUMNS).rows() == [
        (1, "Usage", "Committed", "Used", "Spend", d("0.125637"), d("0.125637"), d("0.125637"), d("0.174493"))
    ]
