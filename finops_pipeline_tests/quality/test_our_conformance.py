"""Our own normalised output of every sample passes the rule model's static MUST rules, per source.

Each sample is read and mapped the way its source does it (`finops_pipeline/defs/sources.py`), the rows
the mapping quarantines are set aside as the pipeline does, the rest conformed to the FOCUS table
(`conform_to_focus`), and judged by `source_conformance` with the source's criteria and without its
KNOWN_EXCEPTIONS. What is left must be exactly:

* SAMPLE_FINDINGS: defects of the sample file itself (test fixtures with placeholder values, FOCUS sample
  data that breaks FOCUS), which a mapping must pass through rather than repair;
* MAPPING_GAPS: rules our mappings still break and should not (work to do; they also show in the Dagster
  check). Both lists are exact, so a fix or a regression shows here.

Every KNOWN_EXCEPTIONS entry must be broken by some sample when it is not excepted, so the list stays true.
"""

import logging
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.connectors import LocalDirectoryStore
from finops_pipeline.demo import generate_demo
from finops_pipeline.focus import REASON, conform_to_focus
from finops_pipeline.quality.conformance import (
    KNOWN_EXCEPTIONS,
    SOURCE_APPLICABILITY,
    exception_failures,
    source_conformance,
)
from finops_pipeline.quality.focus_rules import load_rule_model
from finops_pipeline.sources import azure, focus_export
from finops_pipeline.sources.aws.cur import scan_cur
from finops_pipeline.sources.aws.focus_mapping import cur_to_focus
from finops_pipeline.sources.gcp.export import scan_billing_export
from finops_pipeline.sources.gcp.focus_mapping import billing_export_to_focus
from finops_pipeline_tests.paths import SHARED_DATA

MODEL_PATH = SHARED_DATA / "focus_validator" / "model-1.2.json"
DEMO_END, DEMO_DAYS = date(2026, 11, 5), 40  # two month starts: monthly fees and commitment purchases

AWS_SAMPLES = [
    "cloudacademy-aws-cur/Dec2018-WorkshopCUR-00001.snappy.parquet",
    "focus_converters/sample-anonymous-aws-export-dataset.csv",
    "koku/aws_legacy_cur_koku-local-1.csv.gz",
    "koku/test_cur.csv",
    "koku/2022-07-01-alt-columns.csv",
    "koku/2023-06-01.csv",
]
AZURE_SAMPLES = [
    "finops-toolkit/EA_ActualCost_Small.csv",
    "finops-toolkit/EA_AmortizedCost_Small.csv",
    "focus_converters/sample-anonymous-ea-export-dataset.csv",
    "koku/azure_version_2.csv",
    "koku/camel_azure_version_2.csv",
    "koku/azure_camelCased.csv",
    "koku/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv",
    "opencost/azure_headerset_Enterprise.csv",
    "opencost/azure_headerset_EnterpriseCamel.csv",
    "opencost/azure_headerset_German.csv",
    "opencost/azure_headerset_PayAsYouGo.csv",
    "opencost/azure_headerset_YA.csv",
    # Rows without a currency or cost (azure_headerset_BOM, azure_values_*) are rejected by conform_to_focus
    # and never stored, so there is nothing of theirs to judge.
]
GCP_SAMPLES = [
    "koku/gcp_202011_30c31bca571d9b7f3b2c8459dd8bc34a_2020-11-08_2020-11-11.csv",
    "koku/2022-08-01_5.csv",
    "googlearchive-billing-export-python/*.json",  # the legacy file export, with the billing account set
]
FOCUS_EXPORT_SAMPLES = ["FOCUS-Sample-Data/focus_sample.csv"]

SAMPLES = (
    [("aws", s) for s in AWS_SAMPLES]
    + [("azure", s) for s in AZURE_SAMPLES]
    + [("azure", "finops-toolkit EA actual + amortized")]
    + [("gcp", s) for s in GCP_SAMPLES]
    + [("focus_export", s) for s in FOCUS_EXPORT_SAMPLES]
    + [(source, "demo") for source in ("aws", "azure", "gcp")]
)

_KOKU_PRICES = "koku's fixture gives unit prices that do not multiply to its costs"
SAMPLE_FINDINGS: dict[tuple[str, str], dict[str, str]] = {
    ("aws", "koku/2023-06-01.csv"): {
        "ListUnitPrice-C-010-C": "public on-demand rate 0.5 × 1 unit, public on-demand cost 10",
        "ListCost-C-009-C": "public on-demand rate 0.5 × 1 unit, public on-demand cost 10",
        "ContractedUnitPrice-C-011-C": "public on-demand rate 0.5 × 1 unit, public on-demand cost 10",
    },
    ("azure", "koku/azure_version_2.csv"): {
        "BillingCurrency-C-006-M": "BillingCurrencyCode is the placeholder 'MC'",
        "ListUnitPrice-C-010-C": _KOKU_PRICES,
        "ListCost-C-009-C": _KOKU_PRICES,
        "ContractedUnitPrice-C-011-C": _KOKU_PRICES,
        "ResourceType-C-005-C": "its ResourceIds are not ARM ids and it has no ResourceType column",
    },
    ("azure", "koku/azure_camelCased.csv"): {
        "ConsumedUnit-C-006-C": "the fixture has no unitOfMeasure column",
        "PricingUnit-C-006-C": "the fixture has no unitOfMeasure column",
    },
    ("azure", "koku/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv"): {
        "ConsumedUnit-C-006-C": "the fixture has no UnitOfMeasure column",
        "PricingUnit-C-006-C": "the fixture has no UnitOfMeasure column",
    },
    ("azure", "opencost/azure_headerset_Enterprise.csv"): {
        "ListUnitPrice-C-010-C": "EffectivePrice 1.2 × Quantity 10 with cost 0 (OpenCost's header test data)",
        "ListCost-C-009-C": "EffectivePrice 1.2 × Quantity 10 with cost 0 (OpenCost's header test data)",
        "ContractedUnitPrice-C-011-C": "EffectivePrice 1.2 × Quantity 10 with cost 0 (OpenCost's header test data)",
    },
    # The FOCUS sample data (FOCUS 1.0, upgraded) is passed through as the provider wrote it.
    ("focus_export", "FOCUS-Sample-Data/focus_sample.csv"): {
        "ResourceType-C-004-C": "AWS: ResourceType 'bucket' on rows without ResourceId",
        "ResourceType-C-005-C": "AWS: ResourceId without ResourceType",
        "CommitmentDiscountQuantity-C-005-C": "AWS: FOCUS 1.0 has no CommitmentDiscountQuantity",
        "ServiceName-C-005-C": "AWS: Amazon Elastic Compute Cloud in two ServiceCategories",
        "ServiceSubcategory-C-002-M": "FOCUS 1.0 has no ServiceSubcategory",
        "ContractedUnitPrice-C-009-C": "AWS: a negative ContractedUnitPrice (-3)",
        "ContractedUnitPrice-C-011-C": "AWS: ContractedUnitPrice × PricingQuantity ≠ ContractedCost",
        "RegionName-C-005-C": "AWS: RegionId without RegionName",
        "ListUnitPrice-C-010-C": "Microsoft: ListUnitPrice × PricingQuantity ≠ ListCost",
        "ListCost-C-009-C": "Microsoft: ListUnitPrice × PricingQuantity ≠ ListCost",
        "PricingCurrency-C-004-M": "Microsoft: FOCUS 1.0 has no PricingCurrency",
        "PricingCurrencyEffectiveCost-C-003-M": "Microsoft: FOCUS 1.0 has no PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice-C-005-C": "Microsoft: FOCUS 1.0 has no PricingCurrencyListUnitPrice",
        "BillingAccountType-C-005-C": "Microsoft: FOCUS 1.0 has no BillingAccountType",
    },
}

MAPPING_GAPS: dict[tuple[str, str], dict[str, str]] = {}


@pytest.fixture(scope="module")
def model():
    return load_rule_model(MODEL_PATH)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, end_date=DEMO_END, days=DEMO_DAYS, seed=7)
    return out


def _stored(mapped: pl.DataFrame) -> pl.DataFrame:
    """What the pipeline stores: the rows the mapping did not quarantine, conformed to the FOCUS table."""
    return conform_to_focus(mapped.filter(pl.col(REASON).is_null()).drop(REASON)).valid


@cache
def _map_file(source: str, name: str) -> pl.DataFrame:
    if source == "aws":
        return _stored(cur_to_focus(scan_cur([SHARED_DATA / name]), source_name=source).collect())
    if source == "azure":
        lookups = _azure_lookups()
        if name == "finops-toolkit EA actual + amortized":
            actual = azure.scan_cost_export([SHARED_DATA / "finops-toolkit/EA_ActualCost_Small.csv"])
            amortized = azure.scan_cost_export([SHARED_DATA / "finops-toolkit/EA_AmortizedCost_Small.csv"])
            export = azure.combine_actual_and_amortized(actual, amortized)
        else:
            export = azure.scan_cost_export([SHARED_DATA / name])
        return _stored(azure.cost_export_to_focus(export, source_name=source, lookups=lookups).collect())
    if source == "gcp":
        files, account = sorted(SHARED_DATA.glob(name)), "01AB23-45CD67-89EF01"
        export = scan_billing_export(files, billing_account_id=account)
        return _stored(billing_export_to_focus(export, source_name=source).collect())
    export = focus_export.scan_focus_export([SHARED_DATA / name])
    return _stored(focus_export.focus_export_to_focus(export, source_name=source).collect())


@cache
def _azure_lookups():
    return azure.load_open_data(SHARED_DATA / "finops-toolkit")


_demo_cache: dict[tuple[Path, str], pl.DataFrame] = {}


def _map_demo(demo_dir: Path, source: str) -> pl.DataFrame:
    """The demo provider's files, found, read and mapped by the source asset's own `read_source`."""
    from finops_pipeline.defs.sources import SOURCES, read_source

    key = (demo_dir, source)
    if key not in _demo_cache:
        billing_source = next(s for s in SOURCES if s.name == source)
        store = LocalDirectoryStore(root=str(demo_dir / source))
        first = DEMO_END - timedelta(days=DEMO_DAYS - 1)
        days = [first + timedelta(days=n) for n in range(DEMO_DAYS)]
        mapped, _ = read_source(billing_source, store, days, logging.getLogger(__name__))
        _demo_cache[key] = _stored(mapped)
    return _demo_cache[key]


def _rows(source: str, sample: str, demo_dir: Path) -> pl.DataFrame:
    return _map_demo(demo_dir, source) if sample == "demo" else _map_file(source, sample)


def _id(param) -> str:
    return f"{param[0]}:{param[1]}"


def test_every_source_has_criteria_and_exceptions_with_reasons():
    assert set(SOURCE_APPLICABILITY) == set(KNOWN_EXCEPTIONS) == {"aws", "azure", "gcp", "focus_export"}
    for rules in KNOWN_EXCEPTIONS.values():
        assert all(reason.strip() for reason in rules.values())


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_our_output_passes_the_static_must_rules(sample, model, demo_dir):
    source, name = sample
    rows = _rows(source, name, demo_dir)
    assert rows.height > 0
    failures = source_conformance(rows, model, source)
    leaf = failures.filter(pl.col("Function") != "Composite")
    found = {r["RuleId"]: (r["failing_rows"], r["failing_sample"]) for r in leaf.iter_rows(named=True)}
    expected = {**SAMPLE_FINDINGS.get(sample, {}), **MAPPING_GAPS.get(sample, {})}
    assert set(found) == set(expected), found


@pytest.mark.parametrize("source", ["aws", "azure", "gcp"])
def test_every_known_exception_is_broken_by_some_sample(source, model, demo_dir):
    broken: set[str] = set()
    for sample_source, name in SAMPLES:
        if sample_source == source:
            broken |= set(exception_failures(_rows(source, name, demo_dir), model, source)["RuleId"])
    assert broken == set(KNOWN_EXCEPTIONS[source])
