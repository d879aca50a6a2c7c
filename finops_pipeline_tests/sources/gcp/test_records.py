"""Python-repr / JSON text of a list of flat records → List(Struct), checked against Python's own literal parser."""

import ast
import json
from decimal import Decimal

import polars as pl
import pytest

from finops_pipeline.focus.schema import MONEY
from finops_pipeline.sources.gcp.records import is_record_list, parse_record_list, record_list_to_json

CREDIT = {"name": pl.String, "amount": MONEY, "full_name": pl.String, "id": pl.String, "type": pl.String}
TAG = {"key": pl.String, "value": pl.String, "inherited": pl.Boolean, "namespace": pl.String}

# Python reprs as pandas/koku write them, including every quoting case repr() produces.
PYTHON_TEXTS = [
    repr([{"name": "FreeTrial:Credit-000000-B0BBA4-940A77", "amount": -5e-06, "full_name": None, "type": "PROMOTION"}]),
    repr([]),
    repr([{"key": "o'brien", "value": 'say "hi"'}]),
    repr([{"key": "both ' and \"", "value": "back\\slash"}]),
    repr([{"key": "tab\there", "value": "bell\x07 é \u2028 ☃"}]),
    repr([{"key": "a", "value": None, "inherited": True}, {"key": "b", "value": "", "inherited": False}]),
]


@pytest.mark.parametrize("text", PYTHON_TEXTS)
def test_python_repr_becomes_the_json_of_the_same_records(text):
    rewritten = pl.select(record_list_to_json(pl.lit(text))).item()
    expected = [{k: str(v) if isinstance(v, float) else v for k, v in r.items()} for r in ast.literal_eval(text)]
    assert json.loads(rewritten) == expected  # numbers become strings holding their exact text


def test_a_column_of_every_kind_of_cell_at_once():
    """Plain cells take a shortcut, cells with a double quote or backslash the token path: mixed in one
    column, each still comes out as its own records, plain strings that look like literals or numbers too."""
    tricky = repr([{"name": "None: 12, True", "amount": 1e3, "full_name": None, "id": "1e5", "type": False}])
    texts = [*PYTHON_TEXTS, tricky, "[{'a': 5, 'b': .5, 'c': -1E-7}, {'d': '', 'e': ' '}]", None]
    rewritten = pl.select(record_list_to_json(pl.lit(pl.Series(texts)))).to_series().to_list()
    assert rewritten[-1] is None
    assert json.loads(rewritten[-2]) == [{"a": "5", "b": ".5", "c": "-1E-7"}, {"d": "", "e": " "}]
    assert json.loads(rewritten[-3]) == [
        {"name": "None: 12, True", "amount": "1000.0", "full_name": None, "id": "1e5", "type": False}
    ]
    for text, json_text in zip(PYTHON_TEXTS, rewritten, strict=False):
        expected = [{k: str(v) if isinstance(v, float) else v for k, v in r.items()} for r in ast.literal_eval(text)]
        assert json.loads(json_text) == expected


def test_money_is_read_from_its_text_not_through_a_float():
    text = (
        "[{'name': 'a', 'amount': -5e-06}, "
        "{'name': 'b', 'amount': 0.1}, {'name': 'c', 'amount': -123456789.0123456789}]"
    )
    parsed = pl.select(parse_record_list(pl.lit(text), CREDIT)).item()
    assert [c["amount"] for c in parsed] == [Decimal("-0.000005"), Decimal("0.1"), Decimal("-123456789.0123456789")]
    assert parsed[0] == {"name": "a", "amount": Decimal("-0.000005"), "full_name": None, "id": None, "type": None}


def test_json_text_and_booleans_in_either_spelling():
    texts = [
        '[{"key": "env", "value": "prod", "inherited": true, "namespace": "123"}]',
        "[{'key': 'env', 'value': 'prod', 'inherited': True, 'namespace': '123'}]",
    ]
    parsed = pl.select(parse_record_list(pl.lit(pl.Series(texts)), TAG)).to_series().to_list()
    assert parsed[0] == parsed[1] == [{"key": "env", "value": "prod", "inherited": True, "namespace": "123"}]


@pytest.mark.parametrize(
    "text",
    [
        "[{'name': 'x', 'amount': }]",  # value missing
        "[{'name': 'unterminated}]",
        "[{'a': [1]}]",  # nested values are not flat records
        "{'a': 1}",  # a record, not a list
        "__import__('os').system('true')",  # never evaluated: just not a list of records
        "[{name: 'x'}]",  # unquoted key
        "",
    ],
)
def test_anything_else_is_rejected_before_decoding(text):
    series = pl.lit(pl.Series([text]))
    assert pl.select(is_record_list(pl.lit(text))).item() is False
    assert pl.select(parse_record_list(series, CREDIT)).item() is None
