"""Conformance checks compiled from the FinOps Foundation rule model, against golden files.

Golden data:

* the 26 FOCUS 1.2 specification example CSVs (`FOCUS_Spec/`). They hold subsets of the FOCUS columns, so
  they are evaluated with `only_present_columns=True` (a rule that needs a column the example does not have
  is skipped; a column a *condition* needs reads as null, so "ChargeClass is not Correction" holds in a file
  without ChargeClass). They are spreadsheet exports: money as "$10,000.00 ", dates as "5/1/25", "null"
  for null, blank lines, a BOM, a "SkuPriceid" header; `_load_spec_example` types them first (the format
  rules themselves are exercised on the raw text in `test_raw_text_is_judged_by_the_format_rules`).
  Every example passes every applicable rule, except the findings listed in SPEC_FINDINGS, each of which
  is a genuine inconsistency in the example (or, for EffectiveCost-C-005-C, the model's known over-reach);
* for each example a mutated copy that must fail with exactly the listed rule ids (MUTATIONS);
* the validator's own samples `multiple_failure_examples.csv` and `billedCostTest.csv`;
* the commitment examples for `commitment_amortisation_closure`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.focus.parsing import to_money, to_utc_timestamp
from finops_pipeline.focus.schema import FOCUS_SCHEMA, MONEY, TIMESTAMP
from finops_pipeline.quality.focus_rules import (
    ISO_4217_CODES,
    RULE_MODEL_ENV,
    commitment_amortisation_closure,
    conformance_failures,
    evaluate_static_rules,
    load_rule_model,
)
from finops_pipeline.sources.focus_export import focus_export_to_focus, scan_focus_export
from finops_pipeline.sources.focus_export.columns import describe_focus_export
from finops_pipeline.sources.focus_export.versions import canonical_name
from finops_pipeline_tests.paths import SHARED_DATA

MODEL_PATH = SHARED_DATA / "focus_validator" / "model-1.2.json"
SPEC = SHARED_DATA / "FOCUS_Spec"
VALIDATOR = SHARED_DATA / "focus_validator"
SPEC_FILES = sorted(p.name for p in SPEC.glob("*.csv"))


@pytest.fixture(scope="module")
def model():
    return load_rule_model(MODEL_PATH)


@pytest.fixture(scope="module")
def every_criterion(model):
    return set(model.applicability_criteria)


def _load_spec_example(name: str) -> pl.DataFrame:
    raw = pl.read_csv(SPEC / name, infer_schema=False)
    raw = raw.rename({c: canonical_name(c) or c for c in raw.columns})
    raw = raw.filter(pl.any_horizontal(pl.all().is_not_null()))  # blank lines
    typed = []
    for column in raw.columns:
        text = pl.col(column).str.strip_chars()
        text = pl.when(text.is_in(["", "null"])).then(None).otherwise(text)
        dtype = FOCUS_SCHEMA.get(column)
        if dtype == MONEY:
            typed.append(to_money(text.str.replace_all(r"[$,]", "")).alias(column))
        elif dtype == TIMESTAMP:
            us_short = text.str.strptime(pl.Datetime("us"), "%m/%d/%y", strict=False).dt.replace_time_zone("UTC")
            typed.append(pl.coalesce(us_short, to_utc_timestamp(text)).alias(column))
        else:
            typed.append(text.alias(column))
    return raw.select(typed)


def _evaluate(frame, model, criteria, **kwargs) -> pl.DataFrame:
    return evaluate_static_rules(frame, model, applicability=criteria, only_present_columns=True, **kwargs)


def _leaf_failures(results: pl.DataFrame) -> set[str]:
    failed = results.filter((pl.col("Status") == "failed") & (pl.col("Function") != "Composite"))
    return set(failed["RuleId"])


# --- The model -------------------------------------------------------------------------------------------


def test_the_model_loads_and_its_defects_are_corrected(model):
    assert len(model.rules) == 621
    assert sum(r.type == "Static" for r in model.rules.values()) == 420
    assert len(model.check_functions) == 22
    assert len(model.applicability_criteria) == 18
    assert set(model.errata) == {
        "ResourceId-C-006-C",
        "ResourceType-C-005-C",
        "CapacityReservationStatus-C-003-C",
        "CapacityReservationStatus-C-004-C",
        "CommitmentDiscountStatus-C-003-C",
        "CommitmentDiscountStatus-C-004-C",
        "CommitmentDiscountStatus-C-005-M",
        "ConsumedQuantity-C-006-C",
        "CommitmentDiscountQuantity-C-008-C",
        "CommitmentDiscountQuantity-C-010-C",
        "PricingCurrencyEffectiveCost-C-004-M",
        "Tags-C-003-C",
    }
    assert model.parents["EffectiveCost-C-005-C"] == ("EffectiveCost-C-000-M",)


def test_the_model_path_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(RULE_MODEL_ENV, str(MODEL_PATH))
    assert load_rule_model().path == MODEL_PATH.resolve()
    monkeypatch.delenv(RULE_MODEL_ENV)
    with pytest.raises(RuntimeError, match=RULE_MODEL_ENV):
        load_rule_model()


def test_a_file_that_is_not_a_rule_model_is_rejected(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"rules": []}')
    with pytest.raises(ValueError, match="not a FOCUS rule model"):
        load_rule_model(path)


def test_the_currency_list_is_the_validators():
    codes = set(pl.read_csv(VALIDATOR / "currency_codes.csv")["currency_codes"])
    assert codes == ISO_4217_CODES


# --- Spec examples: every applicable rule passes, except genuine findings ----------------------------------

_SERVICE_SPELLING = {
    "ServiceCategory-C-003-M": "ServiceCategory 'Database' is not an allowed value ('Databases')",
    "ServiceSubcategory-C-003-M": "ServiceSubcategory 'No-SQL DB' is not an allowed value ('NoSQL Databases')",
    "ServiceSubcategory-C-004-M": "'No-SQL DB' has no parent ServiceCategory",
    "SkuMeter-C-005-C": "SHOULD: SkuMeter is empty although SkuId is set",
    "ConsumedQuantity-C-006-C": "the 'unused fee' rows are Usage rows without a ConsumedQuantity",
}
_SAAS_PURCHASE = {
    "EffectiveCost-C-005-C": "the upfront licence Purchase is not amortised; the model cannot tell it from one that "
    "covers future charges (known over-reach, see focus_rules)",
    "ServiceSubcategory-C-002-M": "ServiceSubcategory is empty",
    "ServiceName-C-008-C": "SHOULD: no ServiceSubcategory for the ServiceName",
    "SkuMeter-C-005-C": "SHOULD: SkuMeter is empty although SkuId is set",
}
_PURCHASE_ROW_WITHOUT_SERVICE = {
    "ServiceCategory-C-002-M": "the upfront Purchase row has no ServiceCategory",
    "ServiceName-C-003-M": "the upfront Purchase row has no ServiceName",
    "ServiceSubcategory-C-002-M": "the upfront Purchase row has no ServiceSubcategory",
}
SPEC_FINDINGS: dict[str, dict[str, str]] = {
    "commitment_discount_purchase_scenario_2.csv": {"ChargePeriodEnd-C-003-M": "'2023-02-01T30:00:00Z' (hour 30)"},
    "commitment_discount_purchase_scenario_3.csv": {"ChargePeriodEnd-C-003-M": "'2023-02-01T30:00:00Z' (hour 30)"},
    "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv": {
        "ListCost-C-009-C": "ListUnitPrice 3.00 × PricingQuantity 0.333 ≠ ListCost 3.00",
        "ListUnitPrice-C-010-C": "the same row",
    },
    "zero_percent_utilization_without_commitment_discount_flexibility.csv": {
        "ConsumedQuantity-C-004-C": "the Unused commitment row has ConsumedQuantity 1.00 (1.1+ requires null)",
    },
    "saas_spend_agreements_a1.csv": _SERVICE_SPELLING,
    "saas_spend_agreements_a2.csv": _SERVICE_SPELLING,
    "saas_spend_agreements_b1.csv": _SERVICE_SPELLING | _PURCHASE_ROW_WITHOUT_SERVICE,
    "saas_spend_agreements_b2.csv": _SERVICE_SPELLING | _PURCHASE_ROW_WITHOUT_SERVICE,
    "simple_saas_agreements_a1.csv": _SAAS_PURCHASE,
    "simple_saas_agreements_a2.csv": _SAAS_PURCHASE,
    "simple_saas_agreements_a3.csv": _SAAS_PURCHASE,
    "simple_saas_agreements_b.csv": _SAAS_PURCHASE,
    "simple_saas_agreements_c.csv": {k: v for k, v in _SAAS_PURCHASE.items() if k != "EffectiveCost-C-005-C"},
}


def test_there_are_26_spec_examples():
    assert len(SPEC_FILES) == 26
    assert set(SPEC_FINDINGS) <= set(SPEC_FILES)


@pytest.mark.parametrize("name", SPEC_FILES)
def test_spec_example_passes_every_applicable_rule_but_its_known_findings(name, model, every_criterion):
    results = _evaluate(_load_spec_example(name), model, every_criterion)
    assert _leaf_failures(results) == set(SPEC_FINDINGS.get(name, {}))
    evaluated = results.filter(pl.col("Status") != "skipped")
    assert evaluated.height >= 70
    # A composite fails only through a failing part.
    if not SPEC_FINDINGS.get(name):
        assert (results["Status"] != "failed").all()


@dataclass(frozen=True)
class Mutation:
    what: str
    change: Callable[[pl.DataFrame], pl.DataFrame]
    fails: frozenset[str]


def _set(column: str, value, *, row: int = 0, dtype: pl.DataType | None = None):
    """Replace one cell (row index `row`)."""

    def change(frame: pl.DataFrame) -> pl.DataFrame:
        target = dtype or frame.schema[column]
        new = pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value, dtype=target)).otherwise(pl.col(column))
        return frame.with_columns(new.alias(column))

    return change


def _both(*changes):
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        for step in changes:
            frame = step(frame)
        return frame

    return change


def _m(what, change, *fails) -> Mutation:
    return Mutation(what, change, frozenset(fails))


D = Decimal
MUTATIONS: dict[str, Mutation] = {
    "commitment_discount_purchase_scenario_1.csv": _m(
        "EffectiveCost non-zero on the Purchase row", _set("EffectiveCost", D("8760")), "EffectiveCost-C-005-C"
    ),
    "commitment_discount_purchase_scenario_2.csv": _m(
        "a Purchase charged Usage-Based", _set("ChargeFrequency", "Usage-Based"), "ChargeFrequency-C-004-C"
    ),
    "commitment_discount_purchase_scenario_3.csv": _m(
        "CommitmentDiscountUnit null with a quantity",
        _set("CommitmentDiscountUnit", None),
        "CommitmentDiscountUnit-C-006-C",
    ),
    "commitment_discount_usage_scenario_1.csv": _m(
        "CommitmentDiscountStatus 'Active' (the model's uncorrected allowed value)",
        _set("CommitmentDiscountStatus", "Active"),
        "CommitmentDiscountStatus-C-005-M",
    ),
    "commitment_discount_usage_scenario_2.csv": _m(
        "a consumed quantity on the Unused row",
        _both(_set("ConsumedQuantity", D("1.00")), _set("ConsumedUnit", "Hour")),
        "ConsumedQuantity-C-004-C",
    ),
    "commitment_discount_usage_scenario_3.csv": _m(
        "an unknown ChargeCategory; the row stops being Usage, so its quantities must be null",
        _set("ChargeCategory", "Refund"),
        "ChargeCategory-C-003-M",
        "ConsumedQuantity-C-004-C",
        "CommitmentDiscountQuantity-C-007-C",
    ),
    "commitment_discount_usage_scenario_4.csv": _m(
        "an unknown PricingCategory", _set("PricingCategory", "Discounted", row=1), "PricingCategory-C-007-M"
    ),
    "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv": _m(
        "EffectiveCost non-zero on the Purchase row", _set("EffectiveCost", D("0.50")), "EffectiveCost-C-005-C"
    ),
    "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv": _m(
        "ListCost ≠ ListUnitPrice × PricingQuantity",
        _set("ListCost", D("5.00"), row=1),
        "ListCost-C-009-C",
        "ListUnitPrice-C-010-C",
    ),
    "one_hundred_percent_utilization_without_commitment_discount_flexibility.csv": _m(
        "a negative ListUnitPrice (ListCost kept consistent)",
        _both(_set("ListUnitPrice", D("-3.00"), row=1), _set("ListCost", D("-3.00"), row=1)),
        "ListUnitPrice-C-008-M",
    ),
    "zero_percent_utilization_without_commitment_discount_flexibility.csv": _m(
        "an unknown CommitmentDiscountCategory",
        _set("CommitmentDiscountCategory", "Savings"),
        "CommitmentDiscountCategory-C-005-M",
    ),
    "saas_spend_agreements_a1.csv": _m(
        "ContractedCost ≠ ContractedUnitPrice × PricingQuantity",
        _set("ContractedCost", D("50")),
        "ContractedUnitPrice-C-011-C",
    ),
    "saas_spend_agreements_a2.csv": _m(
        "ChargeClass other than Correction", _set("ChargeClass", "Refund"), "ChargeClass-C-005-C"
    ),
    "saas_spend_agreements_b1.csv": _m(
        "a lower-case currency code",
        _set("BillingCurrency", "usd"),
        "BillingCurrency-C-003-M",
        "BillingCurrency-C-006-M",
    ),
    "saas_spend_agreements_b2.csv": _m(
        "one SkuPriceId under two SkuIds", _set("SkuId", "U-999", row=1), "SkuPriceId-C-008-M"
    ),
    "simple_saas_agreements_a1.csv": _m(
        "an unknown ChargeFrequency", _set("ChargeFrequency", "Monthly"), "ChargeFrequency-C-003-M"
    ),
    "simple_saas_agreements_a2.csv": _m("nested Tags", _set("Tags", '{"team": {"name": "a"}}'), "Tags-C-001-M"),
    "simple_saas_agreements_a3.csv": _m(
        "SkuPriceDetails that is not a JSON object",
        _set("SkuPriceDetails", '["CoreCount", 4]'),
        "SkuPriceDetails-C-001-M",
    ),
    "simple_saas_agreements_b.csv": _m("a mis-cased listed unit", _set("PricingUnit", "count"), "PricingUnit-C-003-O"),
    "simple_saas_agreements_c.csv": _m(
        "one ServiceName under two ServiceCategories",
        _set("ServiceCategory", "Databases", row=1),
        "ServiceName-C-005-C",
    ),
    "virtual_currency_pricing_model_a1.csv": _m(
        "EffectiveCost non-zero on the token Purchase", _set("EffectiveCost", D("200000")), "EffectiveCost-C-005-C"
    ),
    "virtual_currency_pricing_model_a2.csv": _m(
        "a negative PricingCurrencyListUnitPrice",
        _set("PricingCurrencyListUnitPrice", D("-1")),
        "PricingCurrencyListUnitPrice-C-008-M",
    ),
    "virtual_currency_pricing_model_b1.csv": _m(
        "PricingCurrency null", _set("PricingCurrency", None), "PricingCurrency-C-004-M"
    ),
    "virtual_currency_pricing_model_b2.csv": _m(
        "ConsumedUnit null with a quantity", _set("ConsumedUnit", None, row=2), "ConsumedUnit-C-006-C"
    ),
    "virtual_currency_pricing_model_b3.csv": _m(
        "ListCost ≠ ListUnitPrice × PricingQuantity",
        _set("ListCost", D("500.00"), row=0),
        "ListCost-C-009-C",
        "ListUnitPrice-C-010-C",
    ),
    "virtual_currency_pricing_model_c.csv": _m(
        "an unknown ChargeCategory", _set("ChargeCategory", "Prepayment"), "ChargeCategory-C-003-M"
    ),
}


def test_every_spec_example_has_a_mutation():
    assert set(MUTATIONS) == set(SPEC_FILES)


@pytest.mark.parametrize("name", SPEC_FILES)
def test_mutated_spec_example_fails_with_the_expected_rule_ids(name, model, every_criterion):
    mutation = MUTATIONS[name]
    mutated = mutation.change(_load_spec_example(name))
    results = _evaluate(mutated, model, every_criterion)
    baseline = set(SPEC_FINDINGS.get(name, {}))
    assert _leaf_failures(results) - baseline == mutation.fails, mutation.what
    new = results.filter(pl.col("RuleId").is_in(list(mutation.fails)))
    assert (new["failing_rows"] >= 1).all()
    # The failure climbs to the column's composite rule and the dataset rule.
    for rule_id in mutation.fails:
        parent = rule_id.rsplit("-", 2)[0] + "-C-000-"
        composite = results.filter(pl.col("RuleId").str.starts_with(parent))
        assert composite["Status"].to_list() in (["failed"], ["skipped"], [])
    if any(model.rules[r].mandatory for r in mutation.fails):
        assert results.filter(pl.col("RuleId") == "CostAndUsage-D-000-M")["Status"].item() == "failed"


def test_failing_values_and_rows_are_reported(model, every_criterion):
    name = "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv"
    results = _evaluate(_load_spec_example(name), model, every_criterion).filter(pl.col("RuleId") == "ListCost-C-009-C")
    row = results.row(0, named=True)
    assert row["Keyword"] == "MUST"
    assert row["failing_rows"] == 1
    assert row["checked_rows"] == 3
    assert row["failing_row_numbers"] == [2]
    assert row["failing_sample"] == [
        "ListUnitPrice=3.0000000000 × PricingQuantity=0.3330000000 ≠ ListCost=3.0000000000"
    ]


# --- Commitment amortisation closure ------------------------------------------------------------------------

FLEXIBILITY = [n for n in SPEC_FILES if "utilization" in n]


@pytest.mark.parametrize("name", FLEXIBILITY)
def test_commitment_amortisation_closes_in_the_flexibility_examples(name):
    closure = commitment_amortisation_closure(_load_spec_example(name))
    assert closure.height == 1
    row = closure.row(0, named=True)
    assert row["amortisation_closes"] and row["status_split_closes"]
    assert (
        row["usage_effective_cost"]
        == row["purchase_billed_cost"]
        == row["used_effective_cost"] + row["unused_effective_cost"]
    )
    assert row["failed_rules"] == []


def test_one_hour_of_a_recurring_commitment_closes_over_used_and_unused_rows():
    purchase = _load_spec_example("commitment_discount_purchase_scenario_2.csv").head(1)  # $1.00 for the hour
    usage = _load_spec_example("commitment_discount_usage_scenario_3.csv")  # 0.75 used + 0.25 unused
    row = commitment_amortisation_closure(pl.concat([purchase, usage], how="diagonal")).row(0, named=True)
    assert row["purchase_billed_cost"] == Decimal("1.00")
    assert (row["used_effective_cost"], row["unused_effective_cost"]) == (Decimal("0.75"), Decimal("0.25"))
    assert row["amortisation_closes"] and row["status_split_closes"]


def test_a_broken_amortisation_sum_fails_with_the_discount_handling_rules():
    frame = _load_spec_example(FLEXIBILITY[1])  # with 2 resources: purchase 2.00, two used rows of 1.00
    broken = _set("EffectiveCost", Decimal("0.90"), row=1)(frame)
    row = commitment_amortisation_closure(broken).row(0, named=True)
    assert row["difference"] == Decimal("-0.10")
    assert row["failed_rules"] == ["EffectiveCost-C-012-C", "DiscountHandling-A-011-C"]

    unlabelled = _set("CommitmentDiscountStatus", None, row=2)(frame)
    row = commitment_amortisation_closure(unlabelled).row(0, named=True)
    assert row["amortisation_closes"]
    assert row["failed_rules"] == ["EffectiveCost-C-013-C"]


# --- The validator's own samples ----------------------------------------------------------------------------


def _validator_sample(name: str) -> pl.DataFrame:
    """The file as text, its legacy/odd headers resolved the way the FOCUS export mapping resolves them."""
    raw = pl.read_csv(VALIDATOR / name, infer_schema=False)
    raw = raw.rename({c: c.strip() for c in raw.columns})
    described = describe_focus_export(raw.columns)
    return raw.rename({header: focus for focus, (header, *_) in described.sources.items()})


def test_multiple_failure_examples_fail_on_allowed_values_and_the_null_issuer(model):
    frame = _validator_sample("multiple_failure_examples.csv")  # ChargeType → ChargeCategory (FOCUS 0.5)
    results = _evaluate(frame, model, set())
    assert _leaf_failures(results) == {"ChargeCategory-C-003-M", "InvoiceIssuerName-C-003-M"}
    by_rule = {r["RuleId"]: r for r in results.iter_rows(named=True)}
    assert by_rule["ChargeCategory-C-003-M"]["failing_sample"] == ["a", "b", "c"]
    assert by_rule["InvoiceIssuerName-C-003-M"]["failing_row_numbers"] == [1]


def test_billed_cost_test_passes_its_billed_cost_rules_and_fails_the_missing_names(model):
    frame = _validator_sample("billedCostTest.csv")
    results = _evaluate(frame, model, set(), disabled={})
    assert _leaf_failures(results) == {"ProviderName-C-003-M", "InvoiceIssuerName-C-003-M"}
    billed = results.filter(pl.col("RuleId").str.starts_with("BilledCost-C-00") & (pl.col("Status") != "skipped"))
    # 001 type, 002 format, 003 not null, 004 valid decimal, 005 zero when paid to a third party (no names here)
    assert billed.select("RuleId", "Status").rows() == [
        ("BilledCost-C-000-M", "passed"),
        ("BilledCost-C-001-M", "passed"),
        ("BilledCost-C-002-M", "passed"),
        ("BilledCost-C-003-M", "passed"),
        ("BilledCost-C-004-M", "passed"),
        ("BilledCost-C-005-C", "passed"),
    ]


# --- Semantics ----------------------------------------------------------------------------------------------


def _focus_sample(model, criteria) -> pl.DataFrame:
    export = scan_focus_export([SHARED_DATA / "FOCUS-Sample-Data" / "focus_sample.csv"])
    typed = focus_export_to_focus(export, source_name="sample").collect()
    return evaluate_static_rules(typed, model, applicability=criteria)


SAMPLE_CRITERIA = {
    "ACCOUNT_NAMING", "AVAILABILITY_ZONE", "BILLING_BASED_ON_PROVISIONED_RESOURCES", "COMMITMENT_DISCOUNT",
    "MULTIPLE_PRICING_CATEGORIES", "NEGOTIATED_PRICING", "PUBLIC_PRICE_LIST", "REGION", "RESOURCE_TYPE_ASSIGNMENT",
    "SUB_ACCOUNT", "TAGGING", "UNIT_PRICING", "USAGE_MEASUREMENT",
}  # fmt: skip


def test_rule_counts_on_a_full_typed_table(model):
    results = _focus_sample(model, SAMPLE_CRITERIA)
    counts = dict(results["Status"].value_counts().iter_rows())
    assert sum(counts.values()) == 621
    reasons = results.filter(pl.col("Status") == "skipped")["reason"]
    assert reasons.str.starts_with("dynamic rule").sum() == 201
    assert reasons.str.starts_with("MAY").sum() == 9  # the Static MAY rules (26 more are Dynamic)
    assert reasons.str.starts_with("not applicable").sum() == 59  # capacity reservations, pricing currency…
    assert reasons.str.starts_with("nothing to check").sum() == 42  # composites of dynamic parts only
    assert reasons.str.starts_with("deliberately not evaluated").sum() == 1  # BilledCost-C-005-C
    assert reasons.str.contains("judged there only").sum() == 2  # InvoiceId-C-004-C / -C-005-C
    assert counts["passed"] + counts["failed"] == 621 - results.filter(pl.col("Status") == "skipped").height


def test_real_findings_in_the_foundation_sample(model):
    results = _focus_sample(model, SAMPLE_CRITERIA)
    failing = {r["RuleId"]: r["failing_rows"] for r in conformance_failures(results).iter_rows(named=True)}
    assert failing["ServiceName-C-005-C"] == 554  # Amazon Elastic Compute Cloud under Compute and Networking
    assert failing["ContractedUnitPrice-C-009-C"] == 1  # a negative contracted unit price
    assert failing["ContractedCost-C-003-M"] == 7  # Oracle rows: no ContractedCost, nothing to derive it from
    assert failing["ListCost-C-009-C"] == failing["ListUnitPrice-C-010-C"] == 25
    assert failing["ResourceType-C-004-C"] == 36  # a ResourceType on rows without ResourceId
    assert "ChargeFrequency-C-003-M" not in failing  # OCI's "Usage-based" was respelled on ingestion


def test_raw_text_is_judged_by_the_format_rules(model, every_criterion):
    raw = pl.read_csv(SPEC / "simple_saas_agreements_a1.csv", infer_schema=False)
    results = _evaluate(raw, model, every_criterion)
    failed = _leaf_failures(results)
    money = ("BilledCost", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "ListCost", "ListUnitPrice")
    assert {f"{c}-C-00{n}-M" for c in money[:1] for n in (1, 2, 4)} <= failed  # "$10,000.00 " is no number
    assert {"BillingPeriodStart-C-002-M", "ChargePeriodEnd-C-002-M"} <= failed  # "4/1/25" is not ISO 8601 UTC
    assert "BillingPeriodStart-C-001-M" in failed  # and "4/1/25" is no date (the parser would say year 25)
    by_rule = {r["RuleId"]: r for r in results.iter_rows(named=True)}
    assert by_rule["BilledCost-C-002-M"]["failing_sample"] == ["$10,000.00 "]


def test_conditions_are_inherited_from_the_enclosing_composites(model, every_criterion):
    frame = _load_spec_example("virtual_currency_pricing_model_a1.csv")  # one Purchase, ConsumedQuantity null
    results = {r["RuleId"]: r for r in _evaluate(frame, model, every_criterion).iter_rows(named=True)}
    # "MUST NOT be null when ChargeClass is not Correction" applies only under ConsumedQuantity-C-005-C (Usage).
    assert results["ConsumedQuantity-C-006-C"]["Status"] == "passed"
    assert results["ConsumedQuantity-C-006-C"]["checked_rows"] == 0
    assert "erratum" in results["ConsumedQuantity-C-006-C"]["reason"]


def test_skips_say_why(model):
    frame = _load_spec_example("commitment_discount_usage_scenario_1.csv")
    results = {r["RuleId"]: r for r in _evaluate(frame, model, set()).iter_rows(named=True)}
    assert results["CommitmentDiscountId-C-000-C"]["reason"] == "not applicable: needs COMMITMENT_DISCOUNT_SUPPORTED"
    assert results["CommitmentDiscountId-C-001-M"]["reason"] == "not applicable: needs COMMITMENT_DISCOUNT_SUPPORTED"
    assert results["EffectiveCost-C-012-C"]["reason"] == "dynamic rule: the model has no check for it"
    assert results["ListUnitPrice-C-006-O"]["reason"] == "MAY: a permission, nothing to check"
    assert (
        results["SkuId-C-001-M"]["reason"]
        == "not applicable: needs PUBLIC_PRICE_LIST_SUPPORTED, UNIT_PRICING_SUPPORTED"
    )
    assert results["ProviderName-C-001-M"]["reason"] == "column absent: ProviderName"
    assert results["BilledCost-C-005-C"]["reason"].startswith("deliberately not evaluated")
    assert results["CostAndUsage-D-038-M"]["reason"].startswith("column absent: ProviderName")


def test_absent_columns_fail_their_presence_rule_outside_subset_mode(model):
    frame = _load_spec_example("commitment_discount_usage_scenario_1.csv")
    results = evaluate_static_rules(frame, model, applicability={"COMMITMENT_DISCOUNT"})
    row = results.filter(pl.col("RuleId") == "CostAndUsage-D-038-M").row(0, named=True)  # ProviderName
    assert (row["Status"], row["failing_rows"], row["failing_sample"]) == (
        "failed",
        1,
        ["column ProviderName is absent"],
    )
    assert (
        results.filter(pl.col("RuleId") == "CostAndUsage-D-013-C")["Status"].item() == "passed"
    )  # CommitmentDiscountId


def test_the_third_party_rule_can_be_switched_on(model, every_criterion):
    frame = _load_spec_example("virtual_currency_pricing_model_a2.csv")
    frame = _set("InvoiceIssuerName", "Marketplace Inc.", row=1)(_set("BilledCost", Decimal("1"), row=1)(frame))
    on = _evaluate(frame, model, every_criterion, disabled={})
    assert "BilledCost-C-005-C" in _leaf_failures(on)
    assert "BilledCost-C-005-C" not in _leaf_failures(_evaluate(frame, model, every_criterion))


def test_the_uncorrected_model_has_the_wrong_allowed_statuses(model, every_criterion):
    frame = _load_spec_example("commitment_discount_usage_scenario_3.csv")  # Used and Unused rows
    verbatim = load_rule_model(MODEL_PATH, errata=False)
    assert "CommitmentDiscountStatus-C-005-M" in _leaf_failures(_evaluate(frame, verbatim, every_criterion))
    assert "CommitmentDiscountStatus-C-005-M" not in _leaf_failures(_evaluate(frame, model, every_criterion))


def test_a_lazy_frame_and_an_empty_frame_evaluate(model, every_criterion):
    frame = _load_spec_example("commitment_discount_usage_scenario_4.csv")
    eager = _evaluate(frame, model, every_criterion)
    lazy = _evaluate(frame.lazy(), model, every_criterion)
    assert eager.equals(lazy)
    empty = _evaluate(frame.clear(), model, every_criterion)
    assert (empty["Status"] != "failed").all()


def test_unknown_applicability_criteria_are_rejected(model):
    with pytest.raises(ValueError, match="unknown applicability criteria"):
        evaluate_static_rules(pl.DataFrame(), model, applicability={"COMMITMENT_DISCOUNTS"})


def test_spec_examples_are_not_copied_into_the_project():
    project = Path(__file__).resolve().parents[2]
    for package in ("finops_pipeline", "finops_pipeline_tests"):
        assert not list((project / package).glob("**/model-1.2.json"))
        assert not [p for p in (project / package).glob("**/*.csv") if p.name in SPEC_FILES]
