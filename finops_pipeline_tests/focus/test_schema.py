import csv
import json

import polars as pl

from finops_pipeline.focus.schema import FOCUS_COLUMNS, MONEY, SERVICE_SUBCATEGORIES, TIMESTAMP
from finops_pipeline_tests.paths import SHARED_DATA

SPEC_TYPES = {"String": pl.String, "JSON": pl.String, "Decimal": MONEY, "Date/Time": TIMESTAMP}


def _spec_rows():
    with open(SHARED_DATA / "focus_1.2_columns.csv", encoding="utf-8") as f:
        return {row["ColumnId"]: row for row in csv.DictReader(f)}


def test_schema_has_exactly_the_57_focus_1_2_columns_with_spec_types_and_nullability():
    spec = _spec_rows()
    ours = {c.name: c for c in FOCUS_COLUMNS}
    assert len(spec) == 57
    assert set(ours) == set(spec)
    for name, row in spec.items():
        assert ours[name].feature_level == row["FeatureLevel"], name
        assert ours[name].dtype == SPEC_TYPES[row["DataType"]], name
        assert ours[name].nullable == (row["AllowsNulls"] == "True"), name


def test_allowed_values_match_the_spec_and_the_rule_model():
    spec = _spec_rows()
    for column in FOCUS_COLUMNS:
        listed = spec[column.name]["AllowedValues"]
        if column.name == "ServiceSubcategory":
            rule = json.loads((SHARED_DATA / "focus_validator" / "model-1.2.json").read_text())["ModelRules"][
                "ServiceSubcategory-C-003-M"
            ]
            model_values = [item["Value"] for item in rule["ValidationCriteria"]["Requirement"]["Items"]]
            assert tuple(model_values) == SERVICE_SUBCATEGORIES
        elif listed:
            assert column.allowed_values == tuple(v.strip() for v in listed.split(";")), column.name
        else:
            assert column.allowed_values == (), column.name


def test_money_is_decimal_38_10_never_float():
    money = [c for c in FOCUS_COLUMNS if c.dtype == MONEY]
    assert {c.name for c in money} >= {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost"}
    assert pl.Decimal(38, 10) == MONEY
