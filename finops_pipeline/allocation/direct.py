"""Direct allocation: each cost row's owner per dimension from its tags, else its account, else the default.

Tag keys are looked up in the order the rules list them (aliases), values are case-folded and mapped
(typos, synonyms) per dimension; a row whose tag is missing or blank falls back to the account map
(`accounts`: SubAccountId → values), then, for dimensions other than the owner, to the owner's own values
(`owners.<team>.cost_center`), and finally to `default_owner`. Every row records the rule that placed its
owner (`x_AllocationRuleId`).
"""

import polars as pl

from finops_pipeline.allocation.rules import AllocationRules, Dimension
from finops_pipeline.allocation.schema import (
    AMOUNTS,
    COST_KEYS,
    METHOD_DIRECT,
    cost_allocation_schema,
    dimension_column,
)
from finops_pipeline.focus.parsing import lookup


def normalise_value(value: pl.Expr, dimension: Dimension) -> pl.Expr:
    """A raw tag/label value → the dimension's canonical value (null when blank)."""
    text = value.cast(pl.String).str.strip_chars()
    if dimension.case == "lower":
        text = text.str.to_lowercase()
    elif dimension.case == "upper":
        text = text.str.to_uppercase()
    if dimension.values:
        # keys are matched after the same case folding as the values; `lookup` streams, `replace` would not
        folded = {_fold(key, dimension.case): value for key, value in dimension.values.items()}
        text = pl.coalesce(lookup(text, folded), text)
    return pl.when(text != "").then(text)


def _fold(text: str, case: str) -> str:
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def first_present(frame_tags: pl.Expr, keys: list[str]) -> pl.Expr:
    """The first non-blank value among `keys` of a struct column of tags (decoded JSON)."""
    values = [frame_tags.struct.field(key).cast(pl.String).str.strip_chars() for key in keys]
    return pl.coalesce([pl.when(v != "").then(v) for v in values])


def tag_struct_dtype(rules: AllocationRules) -> pl.Struct:
    """The tag keys the rules look at, as the struct `Tags` JSON is decoded into (other keys are skipped)."""
    keys = list(dict.fromkeys(key for dimension in rules.dimensions.values() for key in dimension.tag_keys))
    return pl.Struct({key: pl.String for key in keys})


def allocate_direct(focus: pl.LazyFrame, rules: AllocationRules) -> pl.LazyFrame:
    """FOCUS rows → `cost_allocation` rows with AllocatedMethodId `direct`, aggregated to the table's grain."""
    owner_dimension = rules.owner_dimension
    owner_col = dimension_column(owner_dimension)
    # Tags repeat across a resource's rows: decode and normalise each distinct tag set once, join back.
    frame = focus.with_columns(pl.col("Tags").fill_null("{}"))
    tag_values = (
        frame.select("Tags")
        .unique()
        .with_columns(_tags=pl.col("Tags").str.json_decode(tag_struct_dtype(rules)))
        .select(
            "Tags",
            *(
                pl.col("_tags")
                .pipe(first_present, dimension.tag_keys)
                .pipe(normalise_value, dimension)
                .alias(f"_tag_{n}")
                for n, dimension in rules.dimensions.items()
            ),
        )
    )
    frame = frame.join(tag_values, on="Tags", how="left")
    # Small lookup tables joined in (a join streams; a dict replace would not).
    frame = frame.join(_account_lookup(rules), on="SubAccountId", how="left")
    tagged_owner, account_owner = pl.col(f"_tag_{owner_dimension}"), pl.col(f"_account_{owner_dimension}")
    frame = frame.with_columns(
        pl.coalesce(tagged_owner, account_owner, pl.lit(rules.default_owner)).alias(owner_col),
        pl.when(tagged_owner.is_not_null())
        .then(pl.lit(f"tag:{owner_dimension}"))
        .when(account_owner.is_not_null())
        .then(pl.lit("account:") + pl.col("SubAccountId"))
        .otherwise(pl.lit("default"))
        .alias("x_AllocationRuleId"),
        pl.all_horizontal([pl.col(f"_tag_{name}").is_not_null() for name in rules.required_tags] or [True]).alias(
            "x_HasRequiredTags"
        ),
    ).join(owner_attributes(rules), on=owner_col, how="left")
    frame = frame.with_columns(
        pl.coalesce(
            pl.col(f"_tag_{name}"), pl.col(f"_account_{name}"), pl.col(f"_owner_{name}"), pl.lit(rules.default_owner)
        ).alias(dimension_column(name))
        for name in rules.dimensions
        if name != owner_dimension
    )
    schema = cost_allocation_schema(list(rules.dimensions))
    keys = [*COST_KEYS, *(dimension_column(d) for d in rules.dimensions), "x_AllocationRuleId", "x_HasRequiredTags"]
    return (
        frame.group_by(keys)
        .agg(pl.col(amount).sum() for amount in AMOUNTS)
        .with_columns(
            AllocatedMethodId=pl.lit(METHOD_DIRECT),
            AllocatedMethodDetails=pl.lit(None, pl.String),
            AllocatedResourceId=pl.lit(None, pl.String),
            AllocatedResourceName=pl.lit(None, pl.String),
            AllocatedTags=pl.lit(None, pl.String),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in schema.items())
    )


def owner_attributes(rules: AllocationRules) -> pl.LazyFrame:
    """`owners:` as a lookup: owner → `_owner_<dimension>` for every dimension (null where not given)."""
    others = [name for name in rules.dimensions if name != rules.owner_dimension]
    rows = [{"owner": owner, **{name: values.get(name) for name in others}} for owner, values in rules.owners.items()]
    schema = {dimension_column(rules.owner_dimension): pl.String, **{f"_owner_{n}": pl.String for n in others}}
    return pl.LazyFrame([list(row.values()) for row in rows], schema=schema, orient="row")


def _account_lookup(rules: AllocationRules) -> pl.LazyFrame:
    """`accounts:` as a lookup: SubAccountId → `_account_<dimension>` for every dimension (null where not given)."""
    rows = [[account, *(values.get(name) for name in rules.dimensions)] for account, values in rules.accounts.items()]
    schema = {"SubAccountId": pl.String, **{f"_account_{name}": pl.String for name in rules.dimensions}}
    return pl.LazyFrame(rows, schema=schema, orient="row")
