"""Text cells holding a list of flat records → a polars `List(Struct)`, vectorised and without `eval`.

The repeated fields of Google's billing export (`credits`, `labels`, `system_labels`, `project.labels`,
`tags`) reach us as text when the export went through a CSV: tools that flatten the BigQuery table (koku,
pandas) write them as the Python repr of a list of dicts, e.g.
`[{'name': 'FreeTrial:Credit-…', 'amount': -5e-06, 'full_name': None, 'type': 'PROMOTION'}]`; a query with
`TO_JSON_STRING(credits)` writes the same as JSON. Both are accepted.

How, in three polars steps (no Python per row):

1. **Validate** the whole cell against the grammar "a list of flat records whose keys are strings and whose
   values are strings, numbers, None/null, True/False" (`RECORD_LIST`). A regex can do this because the
   records are flat; polars' regex engine is linear-time. Cells that do not match are reported by the caller
   and never decoded (polars' JSON decoder raises on bad input, it does not return null).
2. **Rewrite to JSON** (cells without a double quote or backslash, nearly all, in two whole-cell passes;
   the others token by token): single-quoted strings become double-quoted ones (`\\'` unescaped,
   `"` escaped, `\\xNN` → `\\u00NN`), `None`/`True`/`False` become `null`/`true`/`false`, and every number
   becomes a JSON *string* holding its exact text, so money is later parsed from text to Decimal and never
   goes through a float.
3. **Decode** with every field typed String (a JSON decoder given a Boolean or number field raises on a
   mismatched value; text cannot mismatch), then cast the fields the caller asked for.
"""

from collections.abc import Iterable

import polars as pl

from finops_pipeline.focus.parsing import to_money
from finops_pipeline.focus.schema import MONEY

# Fields of the export's repeated records, typed as the mapping uses them.
CREDIT_FIELDS: dict[str, pl.DataType] = {
    "name": pl.String,
    "amount": MONEY,
    "full_name": pl.String,
    "id": pl.String,
    "type": pl.String,
}
LABEL_FIELDS: dict[str, pl.DataType] = {"key": pl.String, "value": pl.String}
# Resource Manager tags: `namespace` is the parent organisation or project of the tag key.
TAG_FIELDS: dict[str, pl.DataType] = {
    "key": pl.String,
    "value": pl.String,
    "inherited": pl.Boolean,
    "namespace": pl.String,
}


def text_records(fields: Iterable[str]) -> pl.DataType:
    """A list of records with these fields (names), every one as text: records as read, before they are typed."""
    return pl.List(pl.Struct(dict.fromkeys(fields, pl.String)))


# Escapes Python's repr writes and JSON understands (after the rewrite). No raw control characters: repr never
# writes them, and they would make the JSON invalid.
_ESCAPE = r"""\\(?:[\\'"nrtbf]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})"""
_SINGLE = rf"""'(?:[^'\\\x00-\x1f]|{_ESCAPE})*'"""
_DOUBLE = rf'''"(?:[^"\\\x00-\x1f]|{_ESCAPE})*"'''
_STRING = rf"(?:{_SINGLE}|{_DOUBLE})"
_NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_VALUE = rf"(?:{_STRING}|{_NUMBER}|None|True|False|null|true|false)"
_PAIR = rf"{_STRING}\s*:\s*{_VALUE}"
_RECORD = rf"\{{\s*(?:{_PAIR}(?:\s*,\s*{_PAIR})*\s*,?)?\s*\}}"
RECORD_LIST = rf"^\s*\[\s*(?:{_RECORD}(?:\s*,\s*{_RECORD})*\s*,?)?\s*\]\s*$"
_TOKEN = rf"""{_SINGLE}|{_DOUBLE}|[^'"]+"""  # strings, and what lies between them
_MARK = "\x01"  # stands for "the backslash of an escape" while strings are rewritten; cannot occur in valid text


def is_record_list(text: pl.Expr) -> pl.Expr:
    """True where the text is a list of flat records, False where it is not, null where it is null."""
    return text.str.contains(RECORD_LIST)


def record_list_to_json(text: pl.Expr) -> pl.Expr:
    """Python-repr or JSON list of flat records → JSON with every scalar as a string. Only for valid text."""
    return text.map_batches(_records_as_json, return_dtype=pl.String, is_elementwise=True)


def _records_as_json(text: pl.Series) -> pl.Series:
    """`record_list_to_json` of a batch: cells without a double quote or backslash (the Python repr of records
    whose strings hold neither: nearly every credit and label cell) in two whole-cell passes
    (`_plain_repr_to_json`), the others token by token (`_tokens_to_json`, ~10× the work)."""
    plain = text.to_frame("text").select(_plain_repr_to_json(pl.col("text"))).to_series()
    rows = text.str.contains(r'["\\]').arg_true()
    if rows.is_empty():
        return plain.alias(text.name)
    others = text.gather(rows).to_frame("text").select(_tokens_to_json(pl.col("text"))).to_series()
    return plain.scatter(rows, others).alias(text.name)


# Marks `_plain_repr_to_json` puts around each token; valid text has no control characters.
_OPEN, _CLOSE = "\x02", "\x03"


def _plain_repr_to_json(text: pl.Expr) -> pl.Expr:
    """Python repr without `"` or `\\` → JSON in two passes. A regex meets each string whole (from its opening
    quote: nothing between strings is a quote) and marks every token, string, literal or number, as
    OPEN token CLOSE; then one multi-pattern replacement turns marked literals into JSON ones, a string's
    quotes into double quotes, and a number's marks into the quotes that make it a JSON string."""
    marked = text.str.replace_all(rf"'[^']*'|None\b|True\b|False\b|{_NUMBER}", f"{_OPEN}${{0}}{_CLOSE}")
    literals = {
        f"{_OPEN}{python}{_CLOSE}": json for python, json in (("None", "null"), ("True", "true"), ("False", "false"))
    }
    quotes = [f"{_OPEN}'", f"'{_CLOSE}", "'", _OPEN, _CLOSE]  # first match wins where two start at one place
    return marked.str.replace_many([*literals, *quotes], [*literals.values(), *['"'] * len(quotes)], leftmost=True)


def _tokens_to_json(text: pl.Expr) -> pl.Expr:
    """`record_list_to_json` token by token: any quoting and escapes."""
    token = pl.element()
    rewritten = text.str.extract_all(_TOKEN).list.eval(
        pl.when(token.str.contains(r"""^['"]""")).then(_json_string(token)).otherwise(_json_between(token))
    )
    return rewritten.list.join("")


def parse_record_list(text: pl.Expr, fields: dict[str, pl.DataType]) -> pl.Expr:
    """Text → List(Struct(fields)); null where the text is null, blank or not a list of flat records.

    Fields absent from a record are null; keys not in `fields` are ignored. Number fields are read from
    their text (MONEY: exact Decimal(38, 10)); Boolean fields accept true/false in either spelling.
    """
    text = text.cast(pl.String)
    as_json = pl.when(is_record_list(text)).then(record_list_to_json(text))
    decoded = as_json.str.json_decode(text_records(fields))
    item = pl.element().struct.field
    return decoded.list.eval(pl.struct(_typed(item(name), dtype).alias(name) for name, dtype in fields.items()))


def _typed(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == MONEY:
        return to_money(value)
    if dtype == pl.Boolean:
        lowered = value.str.to_lowercase()
        return pl.when(lowered == "true").then(pl.lit(True)).when(lowered == "false").then(pl.lit(False))
    return value.cast(dtype)


def _json_string(token: pl.Expr) -> pl.Expr:
    """A quoted Python or JSON string token → the JSON string with the same value."""
    inner = token.str.slice(1, token.str.len_chars() - 2)
    inner = (
        inner.str.replace_all(r"\\(.)", _MARK + "$1")  # each escape is now MARK + one character
        .str.replace_all(_MARK + "'", "'", literal=True)
        .str.replace_all(_MARK + '"', '"', literal=True)
        .str.replace_all('"', '\\"', literal=True)  # every double quote, escaped once
        .str.replace_all(_MARK + r"x([0-9a-fA-F]{2})", r"\u00${1}")
        .str.replace_all(_MARK, "\\", literal=True)  # \\ \n \t \r \b \f \uNNNN are the same in JSON
    )
    return pl.concat_str(pl.lit('"'), inner, pl.lit('"'))


def _json_between(token: pl.Expr) -> pl.Expr:
    """Brackets, colons, commas, literals and numbers between strings: Python literals → JSON, numbers quoted."""
    return (
        token.str.replace_all(r"\bNone\b", "null")
        .str.replace_all(r"\bTrue\b", "true")
        .str.replace_all(r"\bFalse\b", "false")
        .str.replace_all(rf"(^|[\s:\[,])({_NUMBER})", r'${1}"${2}"')
    )
