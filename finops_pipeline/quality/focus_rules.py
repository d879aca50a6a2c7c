"""FOCUS conformance driven by the FinOps Foundation's machine-readable rule model (`model-1.2.json`).

The model is configuration, not code: `load_rule_model(path)` reads it from a path, by default the one in the
environment variable `FINOPS_FOCUS_RULE_MODEL` (the focus_validator repository ships it as
`focus_validator/rules/model-1.2.json`). `evaluate_static_rules` compiles its Static rules into polars
expressions and evaluates all of them in one pass over a frame (typed FOCUS_TABLE_SCHEMA rows, or a raw
export read as text), returning one row per model rule: passed / failed with the failing row count and a
sample of failing values, or skipped with the reason.

How a rule is read
------------------
* A rule has a Requirement (a check function tree) and a Condition (when it applies). A rule reached through
  composites (`CheckModelRule` items of an AND/OR) also inherits the conditions and ApplicabilityCriteria of
  the composites above it: "ConsumedQuantity MUST NOT be null when ChargeClass is not Correction" only
  applies to the Usage rows its parent ConsumedQuantity-C-005-C selects.
* Row-level semantics: a row fails a rule when the rule applies to it and the requirement is false. A
  requirement on a value ignores nulls (CheckValue(ChargeCategory, "Usage") accepts null: nullability has
  rules of its own), except the nullability checks themselves (CheckValue/CheckNotValue with null). In
  conditions, values compare strictly (null is not "Usage") and CheckNotValue(ChargeClass, "Correction") is
  true for null (null is "not Correction"; focus-validator 2.x makes it false, which switches off most
  conditional rules).
* Composites are judged on the rows: a row fails an AND when it fails one of its parts, an OR when it fails
  all of them. Parts that are skipped (dynamic, not applicable, MAY) are left out; in a MUST composite only
  MUST/MUST NOT parts count (a failed SHOULD is reported on its own, not as a MUST failure).
* Column-level checks (ColumnPresent, the Type checks on a typed column) fail every row when they fail.
* Type checks accept the polars type (String; any numeric type for Decimal; Datetime/Date for Date/Time)
  or, on a text column, values that parse as the type. Format checks judge text: a typed Decimal or UTC
  Datetime column has no text to judge and passes (our writers serialise it conformantly); a naive Datetime
  fails FormatDateTime (not UTC).
* Keywords: MAY rules grant a permission and are skipped; SHOULD/SHOULD NOT/RECOMMENDED rules are evaluated
  and reported with their keyword — `conformance_failures` keeps the MUST-level ones.
* A rule whose requirement reads a column absent from the frame is skipped ("column absent"); the column's
  ColumnPresent rule fails, unless `only_present_columns=True` (subset files such as the spec examples), when
  it is skipped too. A condition reads an absent column as null: without a ChargeClass column there are no
  corrections, so "ListCost = ListUnitPrice × PricingQuantity when ChargeClass is not Correction" still runs.

Check functions and how they are compiled
-----------------------------------------
ColumnPresent (column in the frame); TypeString / TypeDecimal / TypeDateTime (above); CheckDecimalValue (a
finite number); FormatString (no "", whitespace-only or placeholder text such as "NULL", "N/A" —
StringHandling-A-007 and NullHandling-A-002); FormatNumeric (plain or E-notation, optional leading "-", no
"+", thousands separators or currency symbols — NumericFormat); FormatDateTime (`YYYY-MM-DDTHH:mm:ssZ`, a
real instant); FormatUnit (UnitFormat's MUSTs: data-size abbreviations, time and recommended count names
spelled exactly as listed, no "GBs", only letters, digits, spaces, "-" and "/"); FormatCurrency (an ISO 4217
code, or a virtual currency name that is not a mis-cased ISO code); CheckNationalCurrency (ISO 4217);
FormatKeyValue (a JSON object with unique keys and scalar values — checked per distinct value, in Python);
CheckValue / CheckNotValue / CheckSameValue / CheckNotSameValue / CheckGreaterOrEqualThanValue;
CheckDistinctCount (per value of column A, the number of distinct non-null values of B);
ColumnByColumnEqualsColumnValue (A × B = result within max(tolerance, 1e-6 × |result|); default tolerance
one millionth of the currency unit, because providers round costs and prices independently);
AND / OR / CheckModelRule (composition, above).

Model errata corrected at load time (`RuleModel.errata` lists them; `errata=False` loads the model verbatim)
--------------------------------------------------------------------------------------------------------
Each correction restores what the rule's own MustSatisfy sentence says:
* ResourceId-C-006-C, ResourceType-C-005-C: condition key `CheckCondition` read as `ColumnName`.
* CapacityReservationStatus-C-003-C / -C-004-C: conditions written `{"AND": …}` read as AND checks.
* CommitmentDiscountStatus-C-003-C: requirement CheckNotValue(null) → CheckValue(null) ("MUST be null").
* CommitmentDiscountStatus-C-004-C: condition "CommitmentDiscountId is null" → "is not null and ChargeCategory
  is Usage".
* CommitmentDiscountStatus-C-005-M: allowed values Active/Expired/Pending → Used/Unused (FOCUS 1.2).
* ConsumedQuantity-C-006-C: condition ChargeClass = Correction → ChargeClass ≠ Correction.
* CommitmentDiscountQuantity-C-008-C: missing condition "CommitmentDiscountQuantity is not null" added.
* CommitmentDiscountQuantity-C-010-C: condition ChargeCategory = null → ChargeCategory = Purchase.
* PricingCurrencyEffectiveCost-C-004-M: "a valid decimal value" checked on PricingCurrencyListUnitPrice ≥ 0 →
  CheckDecimalValue(PricingCurrencyEffectiveCost).
* Tags-C-003-C: condition "Tags is null" → "Tags is not null".

Rules deliberately not evaluated
--------------------------------
* The 201 Dynamic rules (no check in the model: invoice totals, immutability over time, "calculated from the
  related charges", commitment amortisation…). The amortisation ones (EffectiveCost-C-012-C, -C-013-C,
  DiscountHandling-A-011-C) are checked by `commitment_amortisation_closure` instead.
* MAY rules (permissions; e.g. ListUnitPrice-C-006-O "MAY be null in all other cases" would otherwise fail
  every priced row).
* BilledCost-C-005-C ("BilledCost MUST be 0 when payments are received by a third party"): the model's
  condition, ProviderName ≠ InvoiceIssuerName, is a naming heuristic, not the fact the sentence is about;
  every AWS row ("AWS" vs "Amazon Web Services, Inc.") would fail it. Listed in DEFAULT_DISABLED_RULES; pass
  `disabled={}` to evaluate it anyway.
* InvoiceId-C-004-C / -C-005-C (and any other alternative of an OR composite that has no condition of its
  own): "null when not invoiced" / "not null when invoiced" cannot be told apart from the data, so each is
  only judged inside its OR (InvoiceId-C-003-C), never alone.
* Known false positive kept as the model says it: EffectiveCost-C-005-C applies to every Purchase row (the
  model cannot express "intended to cover future eligible charges"), so a non-amortised purchase such as
  a SaaS licence paid upfront (FOCUS spec example simple_saas_agreements_*) fails it.

`list_cost_consistency` is not needed as a separate check: the model covers it (ListCost-C-009-C,
ListUnitPrice-C-010-C, and ContractedUnitPrice-C-011-C for ContractedCost).
"""

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finops_pipeline.focus.parsing import to_utc_timestamp
from finops_pipeline.focus.schema import MONEY

RULE_MODEL_ENV = "FINOPS_FOCUS_RULE_MODEL"
MANDATORY_KEYWORDS = frozenset({"MUST", "MUST NOT"})
PERMISSION_KEYWORDS = frozenset({"MAY"})
DEFAULT_TOLERANCE = Decimal("0.000001")
EARLIEST_YEAR = 1900
DEFAULT_DISABLED_RULES: Mapping[str, str] = {
    "BilledCost-C-005-C": (
        "its condition ProviderName ≠ InvoiceIssuerName is a naming heuristic, not 'paid to a third party' "
        "(AWS names itself 'AWS' and 'Amazon Web Services, Inc.')"
    ),
}

# ISO 4217 list one (the code list focus_validator ships as rules/currency_codes.csv).
ISO_4217_CODES = frozenset(
    (
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
        "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
        "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
        "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR",
        "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD",
        "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
        "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
        "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
        "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
        "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
        "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX",
        "YER", "ZAR", "ZMW", "ZWL",
    )
)  # fmt: skip

# UnitFormat's listed base units (FOCUS 1.2): spelled exactly like this when used.
DATA_SIZE_UNITS = frozenset(
    f"{prefix}{unit}"
    for prefix in ("", "K", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
    for unit in "bB"
)
TIME_UNITS = frozenset(
    f"{u}{s}"
    for u in ("Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond", "Microsecond")
    for s in ("s", "")
)
COUNT_UNITS = frozenset(
    f"{u}{s}"
    for u in ("Count", "Unit", "Request", "Token", "Connection", "Certificate", "Domain", "Core")
    for s in ("s", "")
)
NULL_PLACEHOLDERS = ("NULL", "null", "Null", "None", "N/A", "n/a", "NA", "Not Applicable")

_NUMERIC_TEXT = r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]-?[0-9]+)?$"
_DATETIME_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
_LEAF_ARGUMENTS = ("ColumnName", "ColumnAName", "ColumnBName", "ResultColumnName")


# --- The model ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRule:
    rule_id: str
    reference: str  # the column / attribute / dataset the rule is about
    entity_type: str  # Column | Attribute | Dataset
    function: str  # Composite | Validation | Nullability | Format | Presence | Type
    type: str  # Static | Dynamic
    keyword: str  # MUST, MUST NOT, SHOULD, SHOULD NOT, RECOMMENDED, MAY
    must_satisfy: str
    requirement: dict[str, Any]
    condition: dict[str, Any]
    applicability: tuple[str, ...]
    erratum: str | None = None

    @property
    def mandatory(self) -> bool:
        return self.keyword in MANDATORY_KEYWORDS

    @property
    def check_function(self) -> str | None:
        return self.requirement.get("CheckFunction")


@dataclass(frozen=True)
class RuleModel:
    rules: dict[str, ModelRule]  # in model order
    parents: dict[str, tuple[str, ...]]  # rule → composites that reference it through CheckModelRule
    applicability_criteria: dict[str, str]  # name → description
    check_functions: tuple[str, ...]
    model_version: str
    focus_version: str
    path: Path | None = None
    errata: dict[str, str] = field(default_factory=dict)  # rule id → what was corrected

    def children(self, rule_id: str) -> list[str]:
        return _referenced_rules(self.rules[rule_id].requirement)


def rule_model_path() -> Path:
    """The rule model file configured by FINOPS_FOCUS_RULE_MODEL (there is no built-in copy)."""
    configured = os.environ.get(RULE_MODEL_ENV)
    if not configured:
        raise RuntimeError(
            f"{RULE_MODEL_ENV} is not set: point it at the FinOps Foundation rule model "
            "(focus_validator's rules/model-1.2.json)"
        )
    return Path(configured).expanduser().resolve()


def load_rule_model(path: Path | str | None = None, *, errata: bool = True) -> RuleModel:
    """Read and index a FOCUS rule model file (`path`, else FINOPS_FOCUS_RULE_MODEL).

    With `errata` (the default) the defects listed in this module's docstring are corrected, each recorded in
    `RuleModel.errata` and in the `reason` of the rule's result row. Raises ValueError when the file is not a
    rule model, or a rule uses a check function this module cannot compile.
    """
    model_path = Path(path).expanduser().resolve() if path is not None else rule_model_path()
    try:
        document = json.loads(model_path.read_text(encoding="utf-8"))
        raw_rules: dict[str, dict] = document["ModelRules"]
        details = document["Details"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{model_path}: not a FOCUS rule model ({error})") from error

    rules: dict[str, ModelRule] = {}
    corrected: dict[str, str] = {}
    for rule_id, raw in raw_rules.items():
        criteria = raw["ValidationCriteria"]
        requirement, condition = criteria.get("Requirement") or {}, criteria.get("Condition") or {}
        notes: list[str] = []
        if errata:
            requirement = _normalise_check(requirement, notes)
            condition = _normalise_check(condition, notes)
            if rule_id in _ERRATA:
                what, fix = _ERRATA[rule_id]
                requirement, condition = fix.get("Requirement", requirement), fix.get("Condition", condition)
                notes.append(what)
        if notes:
            corrected[rule_id] = "; ".join(notes)
        rules[rule_id] = ModelRule(
            rule_id=rule_id,
            reference=raw.get("Reference", ""),
            entity_type=raw.get("EntityType", ""),
            function=raw.get("Function", ""),
            type=raw.get("Type", ""),
            keyword=criteria.get("Keyword", ""),
            must_satisfy=criteria.get("MustSatisfy", ""),
            requirement=requirement,
            condition=condition,
            applicability=tuple(raw.get("ApplicabilityCriteria") or ()),
            erratum=corrected.get(rule_id),
        )

    parents: dict[str, list[str]] = {}
    for rule_id, rule in rules.items():
        for child in _referenced_rules(rule.requirement):
            if child not in rules:
                raise ValueError(f"{model_path}: {rule_id} references unknown rule {child}")
            parents.setdefault(child, []).append(rule_id)
    unsupported = {
        fn for rule in rules.values() if rule.type == "Static" for fn in _check_functions(rule.requirement)
    } - set(_COMPILABLE)
    if unsupported:
        raise ValueError(f"{model_path}: check functions this module cannot compile: {sorted(unsupported)}")
    return RuleModel(
        rules=rules,
        parents={child: tuple(ps) for child, ps in parents.items()},
        applicability_criteria={
            name: (spec or {}).get("Description", "")
            for name, spec in document.get("ApplicabilityCriteria", {}).items()
        },
        check_functions=tuple(document.get("CheckFunctions", {})),
        model_version=str(details.get("ModelVersion", "")),
        focus_version=str(details.get("FOCUSVersion", "")),
        path=model_path,
        errata=corrected,
    )


def _value(column: str, value: Any, *, negate: bool = False) -> dict[str, Any]:
    return {"CheckFunction": "CheckNotValue" if negate else "CheckValue", "ColumnName": column, "Value": value}


def _all(*items: dict[str, Any]) -> dict[str, Any]:
    return {"CheckFunction": "AND", "Items": list(items)}


def _any(*items: dict[str, Any]) -> dict[str, Any]:
    return {"CheckFunction": "OR", "Items": list(items)}


_ERRATA: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "CommitmentDiscountStatus-C-003-C": (
        "requirement CheckNotValue(null) corrected to CheckValue(null): 'MUST be null'",
        {"Requirement": _value("CommitmentDiscountStatus", None)},
    ),
    "CommitmentDiscountStatus-C-004-C": (
        "condition corrected to 'CommitmentDiscountId is not null and ChargeCategory is Usage'",
        {"Condition": _all(_value("CommitmentDiscountId", None, negate=True), _value("ChargeCategory", "Usage"))},
    ),
    "CommitmentDiscountStatus-C-005-M": (
        "allowed values Active/Expired/Pending corrected to FOCUS 1.2's Used/Unused",
        {"Requirement": _any(_value("CommitmentDiscountStatus", "Used"), _value("CommitmentDiscountStatus", "Unused"))},
    ),
    "ConsumedQuantity-C-006-C": (
        "condition ChargeClass = Correction corrected to ChargeClass ≠ Correction",
        {"Condition": _value("ChargeClass", "Correction", negate=True)},
    ),
    "CommitmentDiscountQuantity-C-008-C": (
        "missing condition 'CommitmentDiscountQuantity is not null' added",
        {"Condition": _value("CommitmentDiscountQuantity", None, negate=True)},
    ),
    "CommitmentDiscountQuantity-C-010-C": (
        "condition ChargeCategory = null corrected to ChargeCategory = Purchase",
        {"Condition": _value("ChargeCategory", "Purchase")},
    ),
    "PricingCurrencyEffectiveCost-C-004-M": (
        "requirement PricingCurrencyListUnitPrice ≥ 0 corrected to CheckDecimalValue(PricingCurrencyEffectiveCost)",
        {"Requirement": {"CheckFunction": "CheckDecimalValue", "ColumnName": "PricingCurrencyEffectiveCost"}},
    ),
    "Tags-C-003-C": (
        "condition 'Tags is null' corrected to 'Tags is not null'",
        {"Condition": _value("Tags", None, negate=True)},
    ),
}


def _normalise_check(node: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Structural typos seen in the model: `CheckCondition` for `ColumnName`, `{"AND": …}` for an AND check."""
    if not node:
        return node
    if "CheckFunction" not in node and len(node) == 1 and next(iter(node)) in ("AND", "OR"):
        operator, items = next(iter(node.items()))
        notes.append(f'condition written {{"{operator}": …}} read as an {operator} check')
        node = {"CheckFunction": operator, "Items": items if isinstance(items, list) else [items]}
    if "CheckCondition" in node and "ColumnName" not in node:
        notes.append("condition key CheckCondition read as ColumnName")
        node = {("ColumnName" if k == "CheckCondition" else k): v for k, v in node.items()}
    if "Items" in node:
        node = {**node, "Items": [_normalise_check(item, notes) for item in node["Items"]]}
    return node


def _referenced_rules(node: dict[str, Any]) -> list[str]:
    if not node:
        return []
    if node.get("CheckFunction") == "CheckModelRule":
        return [node["ModelRuleId"]]
    return [rule for item in node.get("Items", []) for rule in _referenced_rules(item)]


def _check_functions(node: dict[str, Any]) -> set[str]:
    if not node:
        return set()
    found = {node.get("CheckFunction", "<missing CheckFunction>")}
    for item in node.get("Items", []):
        found |= _check_functions(item)
    return found


def _columns_of(node: dict[str, Any]) -> set[str]:
    """Columns a check reads, not counting the rules it references."""
    if not node or node.get("CheckFunction") == "CheckModelRule":
        return set()
    found = {node[a] for a in _LEAF_ARGUMENTS if isinstance(node.get(a), str)}
    for item in node.get("Items", []):
        found |= _columns_of(item)
    return found


# --- Evaluation ---------------------------------------------------------------------------------------------

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "RuleId": pl.String,
    "Column": pl.String,  # the model's Reference: column, attribute or dataset the rule is about
    "EntityType": pl.String,
    "Function": pl.String,
    "CheckFunction": pl.String,
    "Keyword": pl.String,
    "Status": pl.String,  # passed | failed | skipped
    "passed": pl.Boolean,  # null when skipped
    "failing_rows": pl.Int64,  # null when skipped
    "checked_rows": pl.Int64,  # rows the rule applies to (its conditions and its parents')
    "failing_sample": pl.List(pl.String),  # up to `sample_size` failing values
    "failing_row_numbers": pl.List(pl.Int64),  # x_SourceRowNumber of those rows, else 1-based position
    "reason": pl.String,  # why skipped; or the model erratum that was corrected
    "MustSatisfy": pl.String,
}


def evaluate_static_rules(
    frame: pl.DataFrame | pl.LazyFrame,
    model: RuleModel,
    *,
    applicability: Iterable[str],
    only_present_columns: bool = False,
    disabled: Mapping[str, str] = DEFAULT_DISABLED_RULES,
    tolerance: Decimal = DEFAULT_TOLERANCE,
    sample_size: int = 5,
) -> pl.DataFrame:
    """Every rule of `model`, evaluated on `frame` or skipped with a reason (RESULT_SCHEMA, model order).

    `applicability`: the ApplicabilityCriteria the data's provider supports (`COMMITMENT_DISCOUNT_SUPPORTED`,
    … ; the `_SUPPORTED` suffix may be left off); rules needing others are skipped. `only_present_columns`:
    also skip the ColumnPresent rules of absent columns (for files that hold a subset of FOCUS on purpose).
    `disabled`: rule id → why it is not evaluated (default DEFAULT_DISABLED_RULES).
    """
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    criteria = _criteria(applicability, model)
    plan = _Plan(model, schema, criteria, only_present_columns, dict(disabled), tolerance)
    plan.prepare_distinct_value_checks(lazy)
    evaluated = plan.compile_all()

    row_number = (
        pl.col("x_SourceRowNumber").cast(pl.Int64) if "x_SourceRowNumber" in schema else pl.int_range(1, pl.len() + 1)
    )
    staged = lazy.with_columns(row_number.alias("__row_number"))
    for layer in plan.layers():
        staged = staged.with_columns(plan.ok_expr(rule_id).alias(_ok(rule_id)) for rule_id in layer)
    aggregations = []
    for index, rule_id in enumerate(evaluated):
        fails = plan.applies(rule_id) & ~pl.col(_ok(rule_id))
        aggregations += [
            fails.sum().cast(pl.Int64).alias(f"f{index}"),
            plan.applies(rule_id).sum().cast(pl.Int64).alias(f"c{index}"),
            plan.render(rule_id).filter(fails).head(sample_size).implode().alias(f"s{index}"),
            pl.col("__row_number").filter(fails).head(sample_size).implode().alias(f"r{index}"),
        ]
    totals = staged.select(aggregations).collect().row(0, named=True) if aggregations else {}

    position = {rule_id: index for index, rule_id in enumerate(evaluated)}
    rows = []
    for rule_id, rule in model.rules.items():
        row = {
            "RuleId": rule_id,
            "Column": rule.reference,
            "EntityType": rule.entity_type,
            "Function": rule.function,
            "CheckFunction": rule.check_function,
            "Keyword": rule.keyword,
            "MustSatisfy": rule.must_satisfy,
            "reason": rule.erratum and f"model erratum corrected: {rule.erratum}",
        }
        if rule_id in position:
            index = position[rule_id]
            failing = totals[f"f{index}"]
            static = plan.static_result(rule_id)
            passed = static if static is not None and not static else failing == 0
            sample, row_numbers = totals[f"s{index}"], totals[f"r{index}"]
            if static is False and plan.static_detail(rule_id):
                sample, row_numbers = [plan.static_detail(rule_id)], []  # the column, not some rows, fails
            row |= {
                "Status": "passed" if passed else "failed",
                "passed": passed,
                "failing_rows": failing,
                "checked_rows": totals[f"c{index}"],
                "failing_sample": sample,
                "failing_row_numbers": row_numbers,
            }
        else:
            row |= {"Status": "skipped", "reason": plan.skip_reason(rule_id)}
        rows.append(row)
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def conformance_failures(results: pl.DataFrame, *, keywords: Iterable[str] = MANDATORY_KEYWORDS) -> pl.DataFrame:
    """The failed rules of an `evaluate_static_rules` result with the given keywords (default MUST/MUST NOT)."""
    return results.filter((pl.col("Status") == "failed") & pl.col("Keyword").is_in(list(keywords)))


def _criteria(applicability: Iterable[str], model: RuleModel) -> frozenset[str]:
    if isinstance(applicability, str):
        raise TypeError("applicability must be a collection of criteria names, not a string")
    names = {name if name.endswith("_SUPPORTED") else f"{name}_SUPPORTED" for name in applicability}
    unknown = names - set(model.applicability_criteria)
    if unknown and model.applicability_criteria:
        known = sorted(model.applicability_criteria)
        raise ValueError(f"unknown applicability criteria {sorted(unknown)}; known: {known}")
    return frozenset(names)


def _ok(rule_id: str) -> str:
    return f"__ok__{rule_id}"


class _Skip(Exception):
    """A rule (or the part of one) that cannot be evaluated on this frame; the message says why."""


class _Plan:
    """Which rules can be evaluated on a frame, and the polars expressions that evaluate them."""

    def __init__(
        self,
        model: RuleModel,
        schema: pl.Schema,
        criteria: frozenset[str],
        only_present: bool,
        disabled: dict[str, str],
        tolerance: Decimal,
    ):
        self.model, self.schema, self.criteria = model, schema, criteria
        self.only_present, self.disabled = only_present, disabled
        self.tolerance = float(tolerance)
        self._skip: dict[str, str] = {}
        self._requirement: dict[str, pl.Expr | None] = {}
        self._static: dict[str, bool | None] = {}
        self._applies: dict[str, pl.Expr | None] = {}
        self._applicable: dict[str, bool] = {}
        self._depth: dict[str, int] = {}
        self._bad_values: dict[tuple[str, str], list[str]] = {}

    # -- which rules ------------------------------------------------------------------------------------

    def applicable(self, rule_id: str, _seen: frozenset[str] = frozenset()) -> bool:
        """Own criteria supported, and (for a rule inside composites) reached from an applicable composite."""
        if rule_id not in self._applicable:
            rule = self.model.rules[rule_id]
            own = set(rule.applicability) <= self.criteria
            parents = [p for p in self.model.parents.get(rule_id, ()) if p not in _seen]
            inherited = not parents or any(self.applicable(p, _seen | {rule_id}) for p in parents)
            self._applicable[rule_id] = own and inherited
        return self._applicable[rule_id]

    def intrinsic_skip(self, rule_id: str) -> str | None:
        """Why a rule can never be evaluated here (independently of where it is referenced from)."""
        rule = self.model.rules[rule_id]
        if rule.type != "Static":
            return f"{rule.type.lower()} rule: the model has no check for it"
        if rule_id in self.disabled:
            return f"deliberately not evaluated: {self.disabled[rule_id]}"
        if rule.keyword in PERMISSION_KEYWORDS:
            return f"{rule.keyword}: a permission, nothing to check"
        if not self.applicable(rule_id):
            missing = sorted(self._missing_criteria(rule_id))
            return f"not applicable: needs {', '.join(missing)}" if missing else "not applicable"
        return None

    def _missing_criteria(self, rule_id: str, _seen: frozenset[str] = frozenset()) -> set[str]:
        rule = self.model.rules[rule_id]
        missing = set(rule.applicability) - self.criteria
        parents = [p for p in self.model.parents.get(rule_id, ()) if p not in _seen]
        if parents and not any(self.applicable(p) for p in parents):
            missing |= set.intersection(*(self._missing_criteria(p, _seen | {rule_id}) for p in parents))
        return missing

    def compile_all(self) -> list[str]:
        """Compile every rule; the ids of those that can be evaluated, in model order."""
        evaluated = []
        for rule_id in self.model.rules:
            try:
                self.requirement(rule_id)
                if self.applies(rule_id) is None:
                    raise _Skip(self._skip.get(rule_id, "condition not computable"))
                alternative = self._or_alternative_of(rule_id)
                if alternative:
                    raise _Skip(f"an alternative of {alternative} with no condition of its own: judged there only")
            except _Skip as skip:
                self._skip.setdefault(rule_id, str(skip))
                continue
            evaluated.append(rule_id)
        return evaluated

    def skip_reason(self, rule_id: str) -> str:
        return self._skip.get(rule_id, "not evaluated")

    def static_result(self, rule_id: str) -> bool | None:
        return self._static.get(rule_id)

    def static_detail(self, rule_id: str) -> str | None:
        """For a column-level check that failed: what is wrong with the column."""
        node = self.model.rules[rule_id].requirement
        column = node.get("ColumnName")
        if not isinstance(column, str) or node.get("CheckFunction") in ("AND", "OR", "CheckModelRule"):
            return None
        if column not in self.schema:
            return f"column {column} is absent"
        return f"column {column} has type {self.schema[column]}"

    def _or_alternative_of(self, rule_id: str) -> str | None:
        rule = self.model.rules[rule_id]
        if rule.condition:
            return None
        parents = self.model.parents.get(rule_id, ())
        or_parents = [p for p in parents if self.model.rules[p].requirement.get("CheckFunction") == "OR"]
        return or_parents[0] if parents and len(or_parents) == len(parents) else None

    # -- requirement: per-row "ok" ----------------------------------------------------------------------

    def requirement(self, rule_id: str) -> pl.Expr:
        """The rule's own-condition-aware ok expression (raises _Skip when the rule cannot be evaluated)."""
        if rule_id in self._skip:
            raise _Skip(self._skip[rule_id])
        if rule_id not in self._requirement:
            reason = self.intrinsic_skip(rule_id)
            if reason:
                self._skip[rule_id] = reason
                raise _Skip(reason)
            self._requirement[rule_id] = None  # guards against reference cycles
            rule = self.model.rules[rule_id]
            try:
                compiled, static = self._check(rule.requirement, rule)
                if compiled is None:
                    raise _Skip("nothing to check: every part is skipped")
                if rule.condition:
                    compiled, static = ~self._condition(rule.condition) | compiled, (static if static else None)
            except _Skip as skip:
                self._skip[rule_id] = str(skip)
                raise
            self._requirement[rule_id] = compiled
            self._static[rule_id] = static
            self._depth[rule_id] = 1 + max((self._depth.get(c, 0) for c in self._counted_children(rule_id)), default=-1)
        compiled = self._requirement[rule_id]
        if compiled is None:
            raise _Skip("reference cycle")
        return compiled

    def ok_expr(self, rule_id: str) -> pl.Expr:
        return self._requirement[rule_id]

    def layers(self) -> list[list[str]]:
        """Compiled rules grouped so that a composite comes after the parts whose columns it reads."""
        by_depth: dict[int, list[str]] = {}
        for rule_id, depth in self._depth.items():
            by_depth.setdefault(depth, []).append(rule_id)
        return [by_depth[d] for d in sorted(by_depth)]

    def _counted_children(self, rule_id: str) -> list[str]:
        return [c for c in self.model.children(rule_id) if c in self._requirement and self._requirement[c] is not None]

    def _check(self, node: dict[str, Any], rule: ModelRule) -> tuple[pl.Expr | None, bool | None]:
        """(ok expression, static result when the check does not depend on rows); (None, None) = nothing."""
        function = node.get("CheckFunction")
        if function in ("AND", "OR"):
            parts = [self._check(item, rule) for item in node.get("Items", [])]
            parts = [p for p in parts if p[0] is not None]
            if not parts:
                return None, None
            exprs = [p[0] for p in parts]
            statics = [p[1] for p in parts]
            if function == "AND":
                combined = pl.all_horizontal(exprs) if len(exprs) > 1 else exprs[0]
                static = False if False in statics else (True if all(s is True for s in statics) else None)
            else:
                combined = pl.any_horizontal(exprs) if len(exprs) > 1 else exprs[0]
                static = True if True in statics else (False if all(s is False for s in statics) else None)
            return combined, static
        if function == "CheckModelRule":
            child_id = node["ModelRuleId"]
            child = self.model.rules[child_id]
            if rule.mandatory and not child.mandatory:
                return None, None  # a SHOULD inside a MUST composite is reported on its own
            try:
                self.requirement(child_id)
            except _Skip:
                return None, None
            return pl.col(_ok(child_id)), self._static.get(child_id)
        absent = _columns_of(node) - set(self.schema)
        if absent and function != "ColumnPresent":
            raise _Skip(f"column absent: {', '.join(sorted(absent))}")
        return _LEAVES[function](self, node)

    # -- conditions -------------------------------------------------------------------------------------

    def applies(self, rule_id: str, _seen: frozenset[str] = frozenset()) -> pl.Expr | None:
        """Rows the rule applies to: its own condition and (any of) its parents'. None = not computable."""
        if rule_id in self._applies:
            return self._applies[rule_id]
        rule = self.model.rules[rule_id]
        try:
            own = self._condition(rule.condition) if rule.condition else None
        except _Skip as skip:
            self._skip.setdefault(rule_id, str(skip))
            self._applies[rule_id] = None
            return None
        parents = [p for p in self.model.parents.get(rule_id, ()) if p not in _seen and self.applicable(p)]
        if parents:
            inherited = [self.applies(p, _seen | {rule_id}) for p in parents]
            if all(i is None for i in inherited):
                reason = self._skip.get(parents[0], "not computable")
                self._skip.setdefault(rule_id, f"the condition of {parents[0]} cannot be evaluated: {reason}")
                self._applies[rule_id] = None
                return None
            inherited = [i for i in inherited if i is not None]
            context = inherited[0] if len(inherited) == 1 else pl.any_horizontal(inherited)
            result = context if own is None else own & context
        else:
            result = pl.lit(True) if own is None else own
        self._applies[rule_id] = result
        return result

    def _condition(self, node: dict[str, Any]) -> pl.Expr:
        """Strict row predicate: null never equals a value, and is "not" any value."""
        function = node.get("CheckFunction")
        if function in ("AND", "OR"):
            items = [self._condition(item) for item in node.get("Items", [])]
            if not items:
                return pl.lit(True)
            return (pl.all_horizontal if function == "AND" else pl.any_horizontal)(items)
        if function == "CheckValue":
            column, value = node["ColumnName"], node.get("Value")
            if value is None:
                return self._col(column).is_null()
            return self._equals(column, value).fill_null(False)
        if function == "CheckNotValue":
            column, value = node["ColumnName"], node.get("Value")
            if value is None:
                return self._col(column).is_not_null()
            return (~self._equals(column, value)).fill_null(True)
        if function in ("CheckSameValue", "CheckNotSameValue"):
            a, b = self._col(node["ColumnAName"]), self._col(node["ColumnBName"])
            same = a.cast(pl.String) == b.cast(pl.String)
            return (same if function == "CheckSameValue" else ~same).fill_null(False)
        if function == "CheckGreaterOrEqualThanValue":
            return (self._number(node["ColumnName"]) >= float(node["Value"])).fill_null(False)
        raise _Skip(f"condition uses {function}, which is not a row predicate")

    # -- helpers ----------------------------------------------------------------------------------------

    def _col(self, column: str) -> pl.Expr:
        """The column; one the frame does not have reads as null (conditions only: requirements on an absent
        column are skipped before they get here). No ChargeClass column means no corrections."""
        return pl.col(column) if column in self.schema else pl.lit(None, dtype=pl.String)

    def _equals(self, column: str, value: Any) -> pl.Expr:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._col(column).cast(pl.String) == str(value)
        return self._number(column) == float(value)

    def _number(self, column: str) -> pl.Expr:
        dtype = self.schema.get(column, pl.String)
        if column not in self.schema:
            return pl.lit(None, dtype=pl.Float64)
        if dtype == pl.String:
            return pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
        return pl.col(column).cast(pl.Float64, strict=False)

    def render(self, rule_id: str) -> pl.Expr:
        """What to show of a failing row: the values the rule's leaf check reads, else its column."""
        rule = self.model.rules[rule_id]
        node = rule.requirement
        columns = [node[a] for a in _LEAF_ARGUMENTS if isinstance(node.get(a), str) and node[a] in self.schema]
        if node.get("CheckFunction") == "ColumnByColumnEqualsColumnValue" and len(columns) == 3:
            a, b, r = (pl.col(c).cast(pl.String).fill_null("<null>") for c in columns)
            return pl.format(f"{columns[0]}={{}} × {columns[1]}={{}} ≠ {columns[2]}={{}}", a, b, r)
        if len(columns) > 1:
            shown = [pl.format(f"{c}={{}}", pl.col(c).cast(pl.String).fill_null("<null>")) for c in columns]
            return pl.concat_str(shown, separator=", ")
        if not columns:
            columns = sorted(c for c in _columns_of(node) if c in self.schema) or (
                [rule.reference] if rule.reference in self.schema else []
            )
        if not columns:
            return pl.lit(None, dtype=pl.String)
        return pl.col(columns[0]).cast(pl.String).fill_null("<null>")

    def prepare_distinct_value_checks(self, lazy: pl.LazyFrame) -> None:
        """FormatKeyValue and FormatUnit are judged per distinct value, in Python (values repeat a lot)."""
        wanted = set()
        for rule in self.model.rules.values():
            if rule.type == "Static":
                wanted |= _distinct_checks(rule.requirement)
        wanted = {(fn, col) for fn, col in wanted if col in self.schema and self.schema[col] == pl.String}
        validators = {"FormatKeyValue": _key_value_problem, "FormatUnit": _unit_problem}
        for function, column in sorted(wanted):
            values = lazy.select(pl.col(column).drop_nulls().unique()).collect().to_series().to_list()
            self._bad_values[(function, column)] = [v for v in values if validators[function](v)]

    def bad_values(self, function: str, column: str) -> list[str]:
        return self._bad_values.get((function, column), [])


def _distinct_checks(node: dict[str, Any]) -> set[tuple[str, str]]:
    if not node:
        return set()
    found = set()
    if node.get("CheckFunction") in ("FormatKeyValue", "FormatUnit"):
        found.add((node["CheckFunction"], node["ColumnName"]))
    for item in node.get("Items", []):
        found |= _distinct_checks(item)
    return found


# --- Leaf checks: (plan, node) → (ok expression, static result or None) -------------------------------------

Leaf = tuple[pl.Expr | None, bool | None]


def _static(ok: bool) -> Leaf:
    return pl.lit(ok), ok


def _column_present(plan: _Plan, node: dict) -> Leaf:
    column = node["ColumnName"]
    if column not in plan.schema and plan.only_present:
        raise _Skip(f"column absent: {column} (only present columns are evaluated)")
    return _static(column in plan.schema)


def _type_string(plan: _Plan, node: dict) -> Leaf:
    dtype = plan.schema[node["ColumnName"]]
    return _static(dtype in (pl.String, pl.Null) or isinstance(dtype, pl.Categorical | pl.Enum))


def _type_decimal(plan: _Plan, node: dict) -> Leaf:
    column, dtype = node["ColumnName"], plan.schema[node["ColumnName"]]
    if dtype == pl.String:
        return pl.col(column).is_null() | plan._number(column).is_not_null(), None
    return _static(dtype.is_numeric() or dtype == pl.Null)


def _check_decimal_value(plan: _Plan, node: dict) -> Leaf:
    column = node["ColumnName"]
    if plan.schema[column] == pl.Null:
        return _static(True)
    return pl.col(column).is_null() | plan._number(column).is_finite().fill_null(False), None


def _type_datetime(plan: _Plan, node: dict) -> Leaf:
    column, dtype = node["ColumnName"], plan.schema[node["ColumnName"]]
    if dtype == pl.String:
        # The shared parser reads "4/1/25" as year 25: a billing date before 1900 is a misread, not a date.
        readable = (to_utc_timestamp(pl.col(column)).dt.year() >= EARLIEST_YEAR).fill_null(False)
        return pl.col(column).is_null() | readable, None
    return _static(isinstance(dtype, pl.Datetime) or dtype in (pl.Date, pl.Null))


def _format_datetime(plan: _Plan, node: dict) -> Leaf:
    column, dtype = node["ColumnName"], plan.schema[node["ColumnName"]]
    if dtype == pl.String:
        text = pl.col(column)
        real = text.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%SZ", strict=False).is_not_null()
        return text.is_null() | (text.str.contains(_DATETIME_TEXT) & real).fill_null(False), None
    if isinstance(dtype, pl.Datetime):
        return _static(dtype.time_zone is not None)  # a naive timestamp is not UTC
    return _static(dtype == pl.Null)


def _format_numeric(plan: _Plan, node: dict) -> Leaf:
    column, dtype = node["ColumnName"], plan.schema[node["ColumnName"]]
    if dtype == pl.String:
        return pl.col(column).is_null() | pl.col(column).str.contains(_NUMERIC_TEXT).fill_null(False), None
    return _static(dtype.is_numeric() or dtype == pl.Null)


def _format_string(plan: _Plan, node: dict) -> Leaf:
    column, dtype = node["ColumnName"], plan.schema[node["ColumnName"]]
    if dtype != pl.String:
        return _static(True)  # not text: TypeString says so
    text = pl.col(column)
    blank = (text.str.strip_chars() == "") | text.is_in(NULL_PLACEHOLDERS)
    return text.is_null() | ~blank.fill_null(False), None


def _format_currency(plan: _Plan, node: dict) -> Leaf:
    column = node["ColumnName"]
    text = pl.col(column).cast(pl.String)
    iso = text.is_in(sorted(ISO_4217_CODES))
    # A virtual currency ("Credits", "Tokens") is any other well-formed string, but not a mis-typed ISO code.
    looks_iso = text.str.to_uppercase().is_in(sorted(ISO_4217_CODES)) | text.str.contains(r"^[A-Z]{3}$")
    well_formed = (text.str.strip_chars() != "") & ~text.is_in(NULL_PLACEHOLDERS) & (text == text.str.strip_chars())
    return text.is_null() | (iso | (~looks_iso & well_formed)).fill_null(False), None


def _national_currency(plan: _Plan, node: dict) -> Leaf:
    text = pl.col(node["ColumnName"]).cast(pl.String)
    return text.is_null() | text.is_in(sorted(ISO_4217_CODES)).fill_null(False), None


def _format_key_value(plan: _Plan, node: dict) -> Leaf:
    column = node["ColumnName"]
    if plan.schema[column] != pl.String:
        return _static(plan.schema[column] == pl.Null)
    return ~pl.col(column).is_in(plan.bad_values("FormatKeyValue", column)).fill_null(False), None


def _format_unit(plan: _Plan, node: dict) -> Leaf:
    column = node["ColumnName"]
    if plan.schema[column] != pl.String:
        return _static(plan.schema[column] == pl.Null)
    return ~pl.col(column).is_in(plan.bad_values("FormatUnit", column)).fill_null(False), None


def _check_value(plan: _Plan, node: dict) -> Leaf:
    column, value = node["ColumnName"], node.get("Value")
    if value is None:
        return pl.col(column).is_null(), None
    return pl.col(column).is_null() | plan._equals(column, value).fill_null(False), None


def _check_not_value(plan: _Plan, node: dict) -> Leaf:
    column, value = node["ColumnName"], node.get("Value")
    if value is None:
        return pl.col(column).is_not_null(), None
    return pl.col(column).is_null() | (~plan._equals(column, value)).fill_null(False), None


def _check_same_value(plan: _Plan, node: dict) -> Leaf:
    a, b = pl.col(node["ColumnAName"]).cast(pl.String), pl.col(node["ColumnBName"]).cast(pl.String)
    same = (a == b).fill_null(True)  # a null on either side is not a mismatch
    return (same if node["CheckFunction"] == "CheckSameValue" else ~(a == b).fill_null(False)), None


def _greater_or_equal(plan: _Plan, node: dict) -> Leaf:
    column = node["ColumnName"]
    return pl.col(column).is_null() | (plan._number(column) >= float(node["Value"])).fill_null(True), None


def _distinct_count(plan: _Plan, node: dict) -> Leaf:
    a, b, expected = node["ColumnAName"], node["ColumnBName"], int(node["ExpectedCount"])
    counts = pl.col(b).drop_nulls().n_unique().over(a)
    return pl.col(a).is_null() | (counts == expected).fill_null(False), None


def _product_equals(plan: _Plan, node: dict) -> Leaf:
    a, b, r = (plan._number(node[k]) for k in ("ColumnAName", "ColumnBName", "ResultColumnName"))
    difference = (a * b - r).abs()
    close = difference <= pl.max_horizontal(pl.lit(plan.tolerance), r.abs() * 1e-6)
    return (a.is_null() | b.is_null() | r.is_null() | close).fill_null(False), None


_LEAVES = {
    "ColumnPresent": _column_present,
    "TypeString": _type_string,
    "TypeDecimal": _type_decimal,
    "TypeDateTime": _type_datetime,
    "CheckDecimalValue": _check_decimal_value,
    "FormatString": _format_string,
    "FormatNumeric": _format_numeric,
    "FormatDateTime": _format_datetime,
    "FormatUnit": _format_unit,
    "FormatCurrency": _format_currency,
    "FormatKeyValue": _format_key_value,
    "CheckNationalCurrency": _national_currency,
    "CheckValue": _check_value,
    "CheckNotValue": _check_not_value,
    "CheckSameValue": _check_same_value,
    "CheckNotSameValue": _check_same_value,
    "CheckGreaterOrEqualThanValue": _greater_or_equal,
    "CheckDistinctCount": _distinct_count,
    "ColumnByColumnEqualsColumnValue": _product_equals,
}
_COMPILABLE = (*_LEAVES, "AND", "OR", "CheckModelRule")


# --- Distinct-value validators (Python, once per distinct value) --------------------------------------------


def _key_value_problem(text: str) -> str | None:
    """KeyValueFormat: a JSON object, unique keys, values number/string/true/false/null (no objects, arrays)."""

    def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    try:
        parsed = json.loads(text, object_pairs_hook=unique_pairs)
    except ValueError as error:
        return f"not a JSON object: {error}"
    if not isinstance(parsed, dict):
        return "not a JSON object"
    if any(isinstance(v, dict | list) for v in parsed.values()):
        return "a value is an object or an array"
    return None


_UNIT_TOKEN = re.compile(r"[ \-/]+")
_UNIT_CHARACTERS = re.compile(r"^[A-Za-z0-9 ./\-]+$")
_PLURAL_DATA_SIZE = re.compile(r"^[KMGTPE]?i?[bB]s$", re.IGNORECASE)
_LISTED_UNITS: dict[str, set[str]] = {}
for _unit in DATA_SIZE_UNITS | TIME_UNITS | COUNT_UNITS:
    _LISTED_UNITS.setdefault(_unit.lower(), set()).add(_unit)


def _unit_problem(text: str) -> str | None:
    """UnitFormat's MUSTs: listed base units spelled exactly as listed (no "gb", "hours", "GBs"), units
    separated by "-" (compound) or "/" (ratio), quantities as integers. Whether plural forms are used, and
    whether unlisted units are capitalised, are SHOULDs the spec's own examples ("Hour") do not follow: not
    checked."""
    if not re.search(r"[A-Za-z]", text):
        return "no unit name"
    if not _UNIT_CHARACTERS.match(text):
        return "characters other than letters, digits, spaces, '.', '-' and '/'"
    for token in _UNIT_TOKEN.split(text.strip()):
        if not token or token.isdigit():
            continue
        if _PLURAL_DATA_SIZE.match(token) and token not in DATA_SIZE_UNITS:
            return f"data-size unit {token!r} takes no plural s"
        listed = _LISTED_UNITS.get(token.lower())
        if listed and token not in listed:
            return f"{token!r} must be spelled {' or '.join(sorted(listed))}"
    return None


# --- Commitment amortisation (the Dynamic DiscountHandling / EffectiveCost rules) ---------------------------

AMORTISATION_RULES = ("EffectiveCost-C-012-C", "DiscountHandling-A-011-C")
STATUS_SPLIT_RULE = "EffectiveCost-C-013-C"


def commitment_amortisation_closure(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    by: Iterable[str] = ("CommitmentDiscountId",),
    tolerance: Decimal = Decimal("0.01"),
) -> pl.DataFrame:
    """Per commitment (and any extra `by` keys): does the amortisation close?

    * Σ EffectiveCost of its Usage rows = Σ BilledCost of its Purchase rows (EffectiveCost-C-012-C,
      DiscountHandling-A-011-C) — over the whole commitment term, so run it on a frame holding the term
      (or, for commitments paid per charge period, add "ChargePeriodStart" to `by`);
    * Σ EffectiveCost of its Usage rows = Σ of those with CommitmentDiscountStatus "Used" + Σ "Unused"
      (EffectiveCost-C-013-C): every usage row of a commitment says whether it is used or unused capacity.

    Columns: the `by` keys, purchase_rows, usage_rows, purchase_billed_cost, usage_effective_cost,
    used_effective_cost, unused_effective_cost (Decimal(38, 10)), difference (usage − purchase),
    amortisation_closes, status_split_closes (within `tolerance`, default a cent) and failed_rules (the rule
    ids the commitment breaks). Rows without a CommitmentDiscountId are ignored.
    """
    keys = list(by)
    money = {c: pl.col(c).cast(MONEY) for c in ("BilledCost", "EffectiveCost")}
    usage, purchase = pl.col("ChargeCategory") == "Usage", pl.col("ChargeCategory") == "Purchase"
    has_status = "CommitmentDiscountStatus" in frame.lazy().collect_schema()
    status = pl.col("CommitmentDiscountStatus") if has_status else None
    zero = pl.lit(0).cast(MONEY)

    def total(value: pl.Expr, where: pl.Expr) -> pl.Expr:
        return pl.when(where).then(value).otherwise(zero).sum().cast(MONEY)

    used = total(money["EffectiveCost"], usage & (status == "Used")) if status is not None else zero
    unused = total(money["EffectiveCost"], usage & (status == "Unused")) if status is not None else zero
    summary = (
        frame.lazy()
        .filter(pl.col("CommitmentDiscountId").is_not_null())
        .group_by(keys)
        .agg(
            purchase.sum().cast(pl.Int64).alias("purchase_rows"),
            usage.sum().cast(pl.Int64).alias("usage_rows"),
            total(money["BilledCost"], purchase).alias("purchase_billed_cost"),
            total(money["EffectiveCost"], usage).alias("usage_effective_cost"),
            used.alias("used_effective_cost"),
            unused.alias("unused_effective_cost"),
        )
        .with_columns((pl.col("usage_effective_cost") - pl.col("purchase_billed_cost")).cast(MONEY).alias("difference"))
        .with_columns(
            (pl.col("difference").abs() <= tolerance).alias("amortisation_closes"),
            (
                (pl.col("usage_effective_cost") - pl.col("used_effective_cost") - pl.col("unused_effective_cost")).abs()
                <= tolerance
                if has_status
                else pl.lit(None, dtype=pl.Boolean)  # no CommitmentDiscountStatus column: cannot be judged
            ).alias("status_split_closes"),
        )
        .with_columns(
            pl.concat_list(
                pl.when(~pl.col("amortisation_closes")).then(pl.lit(list(AMORTISATION_RULES))).otherwise(pl.lit([])),
                pl.when(~pl.col("status_split_closes").fill_null(True))
                .then(pl.lit([STATUS_SPLIT_RULE]))
                .otherwise(pl.lit([])),
            )
            .cast(pl.List(pl.String))
            .alias("failed_rules")
        )
        .sort(keys)
    )
    return summary.collect()
