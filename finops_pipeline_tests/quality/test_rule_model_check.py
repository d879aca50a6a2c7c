"""The rule-model conformance check on stored rows names the broken rule and counts its rows."""

from datetime import date

import polars as pl

from finops_pipeline.focus import conform_to_focus
from finops_pipeline.quality.focus_checks import rule_model_conformance
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.focus.test_conform import _row
from finops_pipeline_tests.paths import SHARED_DATA


def _store(tmp_path, purchase_effective_cost: str, source: str = "gcp") -> Warehouse:
    rows = [
        _row(x_SourceRowNumber=1, x_SourceName=source),
        _row(
            x_SourceRowNumber=2,
            x_SourceName=source,
            ChargeCategory="Purchase",
            ChargeFrequency="One-Time",
            BilledCost="100",
            EffectiveCost=purchase_effective_cost,
        ),
    ]
    wh = Warehouse.from_url(f"duckdb:///{tmp_path / f'wh{purchase_effective_cost}{source}.duckdb'}")
    wh.ensure_schemas()
    wh.replace_rows("core.focus_costs", conform_to_focus(pl.DataFrame(rows)).valid, match={})
    return wh


def test_a_purchase_with_effective_cost_breaks_effectivecost_c_005_c(tmp_path, monkeypatch):
    monkeypatch.setenv("FINOPS_FOCUS_RULE_MODEL", str(SHARED_DATA / "focus_validator" / "model-1.2.json"))
    monkeypatch.delenv("FINOPS_FOCUS_APPLICABILITY", raising=False)
    days = [date(2026, 10, 5)]
    with _store(tmp_path, "100") as wh:
        passed, details = rule_model_conformance(wh, days)
    assert not passed
    assert details["rows_checked"] == 2
    assert details["failed_rules"]["gcp"]["EffectiveCost-C-005-C"] == 1

    with _store(tmp_path, "0") as wh:
        _, details = rule_model_conformance(wh, days)
    assert "EffectiveCost-C-005-C" not in details["failed_rules"].get("gcp", {})


def test_a_known_exception_is_reported_apart_from_the_failures(tmp_path, monkeypatch):
    """AWS lists EffectiveCost-C-005-C (a Fee is a Purchase that covers no future charges) as an exception."""
    monkeypatch.setenv("FINOPS_FOCUS_RULE_MODEL", str(SHARED_DATA / "focus_validator" / "model-1.2.json"))
    monkeypatch.delenv("FINOPS_FOCUS_APPLICABILITY", raising=False)
    days = [date(2026, 10, 5)]
    with _store(tmp_path, "100", source="aws") as wh:
        _, details = rule_model_conformance(wh, days)
    assert "EffectiveCost-C-005-C" not in details["failed_rules"].get("aws", {})
    exception = details["known_exceptions"]["aws"]["EffectiveCost-C-005-C"]
    assert exception["failing_rows"] == 1 and "Purchase" in exception["reason"]


def test_the_applicability_environment_variable_overrides_every_source(tmp_path, monkeypatch):
    monkeypatch.setenv("FINOPS_FOCUS_RULE_MODEL", str(SHARED_DATA / "focus_validator" / "model-1.2.json"))
    days = [date(2026, 10, 5)]
    with _store(tmp_path, "0") as wh:
        _, per_source = rule_model_conformance(wh, days)
        monkeypatch.setenv("FINOPS_FOCUS_APPLICABILITY", "PRICING_BILLING_CURRENCY_DIFFERENCES")
        _, overridden = rule_model_conformance(wh, days)
    assert "PricingCurrency-C-004-M" not in per_source["failed_rules"].get("gcp", {})
    assert overridden["failed_rules"]["gcp"]["PricingCurrency-C-004-M"] == 2
