"""Google Cloud's legacy billing *file export* → the internal export shape (`export.py`), so years of history
kept as files load like the BigQuery export.

Before the BigQuery export, and beside it until Google retired it, a billing account could write one file a
day to a Cloud Storage bucket (`<prefix>-YYYY-MM-DD.json` or `.csv`): per project, SKU and Pacific-time day,
the usage and its cost. JSON is one array of line items; CSV has one column per field, and a numbered group
of columns per measurement and per credit (`Credit1`, `Credit1 Amount`, `Credit1 Currency`, `Credit2`, …):

JSON field (CSV header) → internal column:

* accountId (Account ID) → billing_account_id, else the caller's (see below);
* lineItemId (Line Item), `com.google.cloud/services/<service>/<sku>` → sku.id; service.id is the URI up to
  the service, service.description the service's name today (`LEGACY_SERVICES`);
* description (Description) → sku.description, else the URI's last segment;
* startTime, endTime (Start Time, End Time), with a Pacific offset → usage_start_time, usage_end_time;
  invoice.month is the Pacific month of startTime;
* projectNumber (Project Number, or Project), projectId, projectName → project.number, .id, .name;
* measurements[0] (Measurement1, … Total Consumption, … Units) → usage.amount and usage.unit, also the
  pricing quantity and unit (the file has no other);
* cost.amount, cost.currency (Cost, Currency) → cost (before credits), currency;
* credits[] (CreditN, CreditN Amount): name and amount; "FreeTrial…" is a PROMOTION (a Credit row of its
  own), "Sustained Usage Discount" a SUSTAINED_USAGE_DISCOUNT (netted into its row), other names untyped (a
  Credit row).

What the file does not carry stays null: location, labels, resource, list prices. `cost_type` is "regular"
(the file export had no tax or adjustment rows). Project labels are not read: no format is documented that
we could find, and every real sample has them empty. The oldest files (2014) have no accountId: their rows
take the billing account the caller gives (`FINOPS_GCP_BILLING_ACCOUNT_ID`); without one, BillingAccountId
is null and FOCUS conformance quarantines them, naming the column.
"""

import re

import polars as pl

from finops_pipeline.sources.files import bare_header
from finops_pipeline.sources.gcp.records import CREDIT_FIELDS, text_records

# Line items as `pl.read_json` reads them: every scalar as text, so a cost that is not a number is reported on
# its row by the mapping (amounts and sums are JSON strings in Google's files).
JSON_SCHEMA: dict[str, pl.DataType] = {
    "accountId": pl.String,
    "lineItemId": pl.String,
    "description": pl.String,
    "startTime": pl.String,
    "endTime": pl.String,
    "projectNumber": pl.String,
    "projectId": pl.String,
    "projectName": pl.String,
    "measurements": pl.List(pl.Struct({"measurementId": pl.String, "sum": pl.String, "unit": pl.String})),
    "credits": pl.List(pl.Struct({"name": pl.String, "amount": pl.String})),
    "cost": pl.Struct({"amount": pl.String, "currency": pl.String}),
}

# CSV headers of the same fields (the numbered measurement and credit groups are read by `_numbered`).
CSV_HEADERS = {
    "Account ID": "accountId",
    "Line Item": "lineItemId",
    "Description": "description",
    "Start Time": "startTime",
    "End Time": "endTime",
    "Project Number": "projectNumber",
    "Project ID": "projectId",
    "Project Name": "projectName",
}

# The service part of a line item URI → the service's name in today's exports (and Cloud Billing catalog).
LEGACY_SERVICES = {
    "app-engine": "App Engine",
    "big-query": "BigQuery",
    "cloud-sql": "Cloud SQL",
    "cloud-storage": "Cloud Storage",
    "compute-engine": "Compute Engine",
}

_SERVICE = r"^(.*/services/([^/]+))/"
_CREDIT_TYPES = {"freetrial": "PROMOTION", "sustainedusagediscount": "SUSTAINED_USAGE_DISCOUNT"}


def is_file_export_csv(headers: list[str]) -> bool:
    """Whether CSV headers are the legacy file export's (`Line Item`, `Start Time`, `Cost`)."""
    return {"Line Item", "Start Time", "Cost"} <= {bare_header(h) for h in headers}


def csv_as_json_shape(frame: pl.LazyFrame, headers: list[str]) -> pl.LazyFrame:
    """A file export CSV (all text) → the columns `JSON_SCHEMA` gives a JSON file (plus its row index)."""
    bare = {bare_header(h): h for h in headers}
    scalar = {field: pl.col(bare[h]) for h, field in CSV_HEADERS.items() if h in bare}
    if "projectNumber" not in scalar and "Project" in bare:  # older files call the number "Project"
        scalar["projectNumber"] = pl.col(bare["Project"])
    measurement = _numbered(bare, "Measurement", {"measurementId": "", "sum": " Total Consumption", "unit": " Units"})
    credit = _numbered(bare, "Credit", {"name": "", "amount": " Amount"})
    cost = pl.struct(
        (pl.col(bare["Cost"]) if "Cost" in bare else pl.lit(None, pl.String)).alias("amount"),
        (pl.col(bare["Currency"]) if "Currency" in bare else pl.lit(None, pl.String)).alias("currency"),
    )
    columns = [
        *(
            scalar.get(field, pl.lit(None, pl.String)).alias(field)
            for field in JSON_SCHEMA
            if JSON_SCHEMA[field] == pl.String
        ),
        measurement.alias("measurements"),
        credit.alias("credits"),
        cost.alias("cost"),
    ]
    return frame.select(*columns, pl.exclude(list(bare.values())))


def _numbered(bare: dict[str, str], group: str, fields: dict[str, str]) -> pl.Expr:
    """`<group>1…N` column groups → a list of structs (groups whose columns are all blank left out)."""
    numbers = sorted(int(m.group(1)) for h in bare if (m := re.fullmatch(rf"{group}(\d+)", h)))
    items = []
    for n in numbers:
        parts = {f: bare.get(f"{group}{n}{suffix}") for f, suffix in fields.items()}
        item = pl.struct((pl.col(h) if h else pl.lit(None, pl.String)).alias(f) for f, h in parts.items())
        present = pl.any_horizontal(pl.col(h).is_not_null() for h in parts.values() if h)
        items.append(pl.when(present).then(item))
    dtype = text_records(fields)
    if not items:
        return pl.lit([], dtype=dtype)
    return pl.concat_list(items).list.drop_nulls().cast(dtype)


def export_leaves(billing_account_id: str | None) -> dict[str, tuple[pl.Expr, pl.DataType]]:
    """The internal export columns (dotted path → (expression, dtype)) of a frame shaped as `JSON_SCHEMA`."""
    uri = pl.col("lineItemId")
    service_key = uri.str.extract(_SERVICE, 2)
    measurement = pl.col("measurements").list.first()
    start = pl.col("startTime").str.strip_chars()
    credit = pl.element().struct.field
    credit_key = credit("name").str.to_lowercase().str.replace_all(r"[^a-z]", "")
    credit_type = pl.coalesce(
        *(pl.when(credit_key.str.starts_with(key)).then(pl.lit(kind)) for key, kind in _CREDIT_TYPES.items())
    )
    credits = pl.col("credits").list.eval(
        pl.struct(
            credit("name"),
            credit("amount"),
            pl.lit(None, pl.String).alias("full_name"),
            pl.lit(None, pl.String).alias("id"),
            credit_type.alias("type"),
        )
    )
    text = {
        "billing_account_id": pl.coalesce(pl.col("accountId"), pl.lit(billing_account_id, pl.String)),
        "service.id": uri.str.extract(_SERVICE, 1),
        "service.description": pl.coalesce(
            service_key.replace_strict(LEGACY_SERVICES, default=None), service_key.str.replace_all("-", " ")
        ),
        "sku.id": uri,
        "sku.description": pl.coalesce(pl.col("description"), uri.str.extract(r"([^/]+)$", 1)),
        "usage_start_time": start,
        "usage_end_time": pl.col("endTime"),
        "project.number": pl.col("projectNumber"),
        "project.id": pl.col("projectId"),
        "project.name": pl.col("projectName"),
        "usage.amount": measurement.struct.field("sum"),
        "usage.unit": measurement.struct.field("unit"),
        "usage.amount_in_pricing_units": measurement.struct.field("sum"),
        "usage.pricing_unit": measurement.struct.field("unit"),
        "cost": pl.col("cost").struct.field("amount"),
        "currency": pl.col("cost").struct.field("currency"),
        # Google invoices by Pacific-time month, and the file's times carry the Pacific offset.
        "invoice.month": pl.when(start.str.contains(r"^\d{4}-\d{2}-")).then(
            start.str.slice(0, 4) + start.str.slice(5, 2)
        ),
        "cost_type": pl.lit("regular"),
    }
    leaves = {column: (expr, pl.String) for column, expr in text.items()}
    # Records of text fields: `export._normalise` types them (an amount that is not a number becomes null, and
    # the mapping quarantines its row).
    leaves["credits"] = (credits, text_records(CREDIT_FIELDS))
    return leaves
