"""The rule-model conformance check on stored rows names the broken rule and counts its rows."""

from datetime import date

import polars as pl

from finops_pipeline.focus import conform_to_focus
from finops_pipeline.quality.focus_checks import rule_model_conformance
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.focus.test_conform import _row
from finops_pipeline_tests.paths import SHARED_DATA


def _store(tmp_path, purchase_effective_cost: str) -> Warehouse:
    rows = [
        _row(x_SourceRowNumber=1),
        _row(
            x_SourceRowNumber=2,
            ChargeCategory="Purchase",
            ChargeFrequency="One-Time",
            BilledCost="100",
            EffectiveCost=purchase_effective_cost,
        ),
    ]
    wh = Warehouse.from_url(f"duckdb:///{tmp_path / f'wh{purchase_effective_cost}.duckdb'}")
    wh.ensure_schemas()
    wh.replace_rows("core.focus_costs", conform_to_focus(pl.DataFrame(rows)).valid, match={})
    return wh


def test_a_purchase_with_effective_cost_breaks_effectivecost_c_005_c(tmp_path, monkeypatch):
    monkeypatch.setenv("FINOPS_FOCUS_RULE_MODEL", str(SHARED_DATA / "focus_validator" / "model-1.2.json"))
    days = [date(2026, 10, 5)]
    with _store(tmp_path, "100") as wh:
        passed, details = rule_model_conformance(wh, days)
    assert not passed
    assert details["rows_checked"] == 2
    assert details["failed_rules"]["EffectiveCost-C-005-C"] == 1

    with _store(tmp_path, "0") as wh:
        _, details = rule_model_conformance(wh, days)
    assert "EffectiveCost-C-005-C" not in details["failed_rules"]
