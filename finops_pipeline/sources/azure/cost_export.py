"""Read Azure Cost Management cost-details exports (CSV, gzip or not) into one lazy frame, one naming.

The same data arrives under many headers, and one billing account can produce several of them over time:

* EA cost details v2 in PascalCase (`CostInBillingCurrency`, `BillingAccountId`, `Date`, …), and the older
  EA "Cost" column (`Cost`, `Product`);
* MCA in camelCase (`costInBillingCurrency`, `paygCostInBillingCurrency`, `exchangeRatePricingToBilling`);
* legacy pay-as-you-go usage exports (`UsageDateTime`, `PreTaxCost`, `SubscriptionGuid`, `InstanceId`);
* portal downloads localised to German, where each header carries the real name in parentheses
  (`Abonnement-GUID (SubscriptionGuid)`), and files starting with a UTF-8 byte-order mark.

`canonical_column_name` maps all of them to the PascalCase EA/MCA cost-details names in `COLUMNS`. Values
are not parsed here: every column is read as text, so money keeps all its digits (Azure writes 20+) and a
bad value can later be reported verbatim. The FOCUS mapping parses them and names what does not parse.

A file without a usage date or a cost column cannot be placed or reconciled: `SourceFileError` names the
file and the column.
"""

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from finops_pipeline.focus.parsing import blank_to_null, to_money, to_utc_timestamp
from finops_pipeline.focus.schema import MONEY
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.sources.files import csv_frame, csv_source, paths_and_names

SOURCE_FILE = "x_SourceFile"
SOURCE_ROW = "x_SourceRowNumber"
# Which agreement wrote the file, decided from its columns ("EA", "MCA" or "MOSP" = legacy pay-as-you-go).
AGREEMENT = "x_BillingAccountAgreement"

# Canonical name → the other spellings of the same column, in order of preference: when a file has two of
# them (EA "Cost" next to "CostInBillingCurrency"), the first listed becomes the canonical column and the
# others keep their own names. Matching ignores case, so `costinbillingcurrency` is covered too.
COLUMNS: dict[str, tuple[str, ...]] = {
    "AccountName": (),
    "AccountOwnerId": (),
    "AdditionalInfo": (),
    "AvailabilityZone": (),
    "BenefitId": (),
    "BenefitName": (),
    "BillingAccountId": (),
    "BillingAccountName": (),
    "BillingCurrency": ("BillingCurrencyCode", "Currency"),
    "BillingPeriodEndDate": (),
    "BillingPeriodStartDate": (),
    "BillingProfileId": (),
    "BillingProfileName": (),
    "ChargeType": (),
    "ConsumedService": (),
    "CostCenter": (),
    "CostInBillingCurrency": ("PreTaxCost", "Cost"),
    "CostInPricingCurrency": (),
    "CostInUsd": (),
    "Date": ("UsageDateTime", "UsageDate"),
    "EffectivePrice": (),
    "ExchangeRatePricingToBilling": ("ExchangeRate",),
    "Frequency": (),
    "InvoiceId": (),
    "InvoiceSectionId": (),
    "InvoiceSectionName": ("InvoiceSection",),
    "MeterCategory": (),
    "MeterId": (),
    "MeterName": (),
    "MeterRegion": (),
    "MeterSubCategory": (),
    "PartnerName": (),
    "PayGPrice": (),
    "PaygCostInBillingCurrency": (),
    "PricingCurrency": (),
    "PricingModel": (),
    "ProductId": (),
    "ProductName": ("Product",),
    "ProductOrderId": (),
    "ProductOrderName": (),
    "PublisherName": (),
    "PublisherType": (),
    "Quantity": ("UsageQuantity",),
    "ReservationId": (),
    "ReservationName": (),
    "ResourceGroup": ("ResourceGroupName",),
    "ResourceId": ("InstanceId", "InstanceName"),
    "ResourceLocation": (),
    "ResourceName": (),
    "ResourceType": (),
    "SubscriptionId": ("SubscriptionGuid",),
    "SubscriptionName": (),
    "Tags": (),
    "UnitOfMeasure": (),
    "UnitPrice": ("ResourceRate",),
}

# Without these a row cannot be placed on a day or costed; a file lacking one is unreadable for us.
REQUIRED_COLUMNS = ("Date", "CostInBillingCurrency")

# Columns only MCA exports have (prices in a pricing currency, list cost per row).
_MCA_COLUMNS = ("PaygCostInBillingCurrency", "ExchangeRatePricingToBilling", "PricingCurrency", "PartnerName")

# lower-cased spelling → (canonical name, preference: 0 = the canonical spelling itself)
_SPELLINGS: dict[str, tuple[str, int]] = {
    spelling.lower(): (canonical, rank)
    for canonical, aliases in COLUMNS.items()
    for rank, spelling in enumerate((canonical, *aliases))
}
_LOCALISED = re.compile(r"\(([A-Za-z0-9_]+)\)\s*$")  # "Abonnement-GUID (SubscriptionGuid)" → SubscriptionGuid

# Cost Management charge types whose row is usage (of a commitment, when PricingModel says so).
USAGE_CHARGE_TYPES = ("usage", "unusedreservation", "unusedsavingsplan")
COMMITMENT_PRICING_MODELS = ("reservation", "savingsplan")


def canonical_column_name(header: str) -> str:
    """One export header → its canonical (PascalCase EA/MCA cost details) name.

    * the byte-order mark, surrounding whitespace and quotes are dropped;
    * a localised header keeps only the name in parentheses: `Abonnement-GUID (SubscriptionGuid)` →
      `SubscriptionGuid`;
    * known columns and their legacy spellings, in any letter case, become the name in `COLUMNS`:
      `costInBillingCurrency` / `PreTaxCost` / `Cost` → `CostInBillingCurrency`, `UsageDateTime` → `Date`,
      `SubscriptionGuid` → `SubscriptionId`, `InstanceId` → `ResourceId`, `BillingCurrencyCode` →
      `BillingCurrency`;
    * anything else is PascalCased (first letter upper case) and otherwise kept.

    Which alias wins when a file has two spellings of one column is decided per file (`_canonical_headers`).
    """
    name = _bare_name(header)
    known = _SPELLINGS.get(name.lower())
    if known:
        return known[0]
    return name[:1].upper() + name[1:]


def _bare_name(header: str) -> str:
    name = header.strip().lstrip("\ufeff").strip().strip('"').strip()
    localised = _LOCALISED.search(name)
    return localised.group(1) if localised else name


def scan_cost_export(files: Sequence[Path], *, source_names: Sequence[str] | None = None) -> pl.LazyFrame:
    """Cost Management export CSVs (any mix of the layouts above) → one lazy frame of text columns.

    Columns: every name in `COLUMNS` (null text where a file lacks it), `x_BillingAccountAgreement` ("MCA" when
    the file has MCA-only columns such as PaygCostInBillingCurrency, "MOSP" for a legacy pay-as-you-go file
    without a billing account, else "EA"), `x_SourceFile` (`source_names[i]`, else the absolute path) and
    `x_SourceRowNumber` (1-based data row in that file; a quoted multi-line value is one row). Columns
    outside `COLUMNS` are not read.
    """
    paths, names = paths_and_names(files, source_names)
    frames = [_read_file(path, name) for path, name in zip(paths, names, strict=True)]
    if not frames:
        return pl.LazyFrame(schema=export_schema())
    # The files read eagerly become one contiguous frame: polars' streaming engine pays per chunk, and an
    # export split into many small files would otherwise reach the mapping as thousands of tiny chunks
    # (measured 20× slower). Large files stay lazy scans.
    parts: list[pl.LazyFrame] = []
    for eager, run in itertools.groupby(frames, key=lambda frame: isinstance(frame, pl.DataFrame)):
        run = list(run)
        if eager:
            parts.append(pl.concat(run, how="vertical", rechunk=len(run) > 1).lazy())
        else:
            parts += run
    return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")


def export_schema() -> dict[str, pl.DataType]:
    """The columns and types `scan_cost_export` returns (and `query_costs` produces)."""
    return {
        **dict.fromkeys(COLUMNS, pl.String),
        AGREEMENT: pl.String,
        SOURCE_FILE: pl.String,
        SOURCE_ROW: pl.Int64,
    }


def with_all_columns(export: pl.LazyFrame) -> pl.LazyFrame:
    """Add every `export_schema()` column a frame lacks as nulls, so the mapping can read any of them."""
    present = export.collect_schema()
    missing = [pl.lit(None, dtype=dtype).alias(c) for c, dtype in export_schema().items() if c not in present]
    return export.with_columns(missing) if missing else export


def combine_actual_and_amortized(actual: pl.LazyFrame, amortized: pl.LazyFrame) -> pl.LazyFrame:
    """Microsoft's FOCUS rule: all amortized rows, plus the actual rows that buy or refund a commitment.

    The amortized dataset spreads reservation and savings plan purchases over the usage they cover (and
    "Unused…" rows) but leaves the purchases out; the actual dataset has the purchases (ChargeType Purchase
    or Refund with PricingModel Reservation or SavingsPlan). Everything else in the actual dataset is
    already in the amortized one. Both frames are `scan_cost_export` output; so is the result. Reconcile
    the result (`cost_export_source_totals` of it), not the two inputs: most actual rows are left out.
    """
    actual = with_all_columns(actual)
    charge_type = pl.col("ChargeType").str.strip_chars().str.to_lowercase()
    pricing_model = _squeezed(pl.col("PricingModel"))
    buys_commitment = charge_type.is_in(["purchase", "refund"]) & pricing_model.is_in(COMMITMENT_PRICING_MODELS)
    return pl.concat([with_all_columns(amortized), actual.filter(buys_commitment)], how="diagonal_relaxed")


def cost_export_source_totals(export: pl.LazyFrame) -> pl.LazyFrame:
    """What reconciliation compares the FOCUS rows against, computed from the export alone.

    Per billing period start (Date), charge day (Date) and source file: `x_SourceRows`, `x_SourceCost`
    (Decimal(38, 10)) and `x_UnparsedCostRows` (rows whose cost is missing or not a number).

    "Source cost" is what the export says was *billed*: Σ CostInBillingCurrency (PreTaxCost, Cost, …) over
    every row except usage priced by a reservation or savings plan (ChargeType Usage, UnusedReservation or
    UnusedSavingsPlan, or no ChargeType, with PricingModel Reservation or SavingsPlan). In an amortized
    export such a row carries its share of a commitment bought on another row (the Purchase row of the
    actual dataset, which `combine_actual_and_amortized` adds), so counting it would bill the commitment
    twice; in an actual export the same rows cost 0, so the rule changes nothing there. The same rows get
    BilledCost 0 in FOCUS, so Σ x_SourceCost = Σ BilledCost + Σ quarantined BilledCost per file, period
    and day, on actual, amortized and combined data alike.

    The billing period start is BillingPeriodStartDate, or the first of the usage month for exports that do
    not carry one (legacy pay-as-you-go, the Query API); the charge day is the usage date, or the billing
    period start when the date does not parse — the same rules the mapping uses.
    """
    export = with_all_columns(export)
    cost = to_money(pl.col("CostInBillingCurrency"))
    charge_type = blank_to_null(pl.col("ChargeType")).str.to_lowercase()
    amortised_commitment_usage = (charge_type.is_null() | charge_type.is_in(USAGE_CHARGE_TYPES)) & _squeezed(
        pl.col("PricingModel")
    ).is_in(COMMITMENT_PRICING_MODELS)
    billed = pl.when(amortised_commitment_usage).then(pl.lit(0, dtype=MONEY)).otherwise(cost)
    # Sum per date *text* first and parse the few distinct texts afterwards: parsing a date on every row
    # costs more than the rest of this function.
    texts = ["BillingPeriodStartDate", "Date"]
    per_text = export.group_by(SOURCE_FILE, *texts).agg(
        pl.len().cast(pl.Int64).alias("x_SourceRows"),
        billed.sum().cast(MONEY).alias("x_SourceCost"),
        cost.is_null().sum().cast(pl.Int64).alias("x_UnparsedCostRows"),
    )
    usage_date = to_utc_timestamp(pl.col("Date"))
    period_start = pl.coalesce(to_utc_timestamp(pl.col("BillingPeriodStartDate")), usage_date.dt.month_start())
    return (
        per_text.group_by(
            period_start.dt.date().alias("x_BillingPeriodStart"),
            pl.coalesce(usage_date, period_start).dt.date().alias("x_ChargeDay"),
            pl.col(SOURCE_FILE),
        )
        .agg(pl.col("x_SourceRows", "x_SourceCost", "x_UnparsedCostRows").sum())
        .select(
            "x_BillingPeriodStart",
            "x_ChargeDay",
            SOURCE_FILE,
            pl.col("x_SourceRows").cast(pl.Int64),
            pl.col("x_SourceCost").cast(MONEY),
            pl.col("x_UnparsedCostRows").cast(pl.Int64),
        )
    )


def _squeezed(text: pl.Expr) -> pl.Expr:
    """Lower case without spaces: "Savings Plan", "SavingsPlan" and "savingsplan" compare equal."""
    return text.str.replace_all(r"\s+", "").str.to_lowercase()


def _read_file(path: Path, name: str) -> pl.DataFrame | pl.LazyFrame:
    """One export, all columns as text. Read eagerly, so a truncated gzip or a ragged row fails here, by name,
    unless it is larger than `EAGER_CSV_MAX_BYTES`: then scanned lazily (see `files.csv_frame`)."""
    try:
        source = csv_source(path)
        headers = _canonical_headers(pl.read_csv(source, n_rows=0, infer_schema=False).columns)
        missing = [c for c in REQUIRED_COLUMNS if c not in headers.values()]
        if missing:
            spellings = " / ".join((missing[0], *COLUMNS[missing[0]]))
            raise SourceFileError(name, f"required column {missing[0]} ({spellings}) is missing", column=missing[0])
        frame = csv_frame(source, columns=list(headers), row_index_name=SOURCE_ROW)
    except (pl.exceptions.PolarsError, OSError, EOFError) as error:
        raise SourceFileError(name, f"cannot read CSV: {error}") from error
    frame = frame.rename(headers)
    agreement = _agreement(set(headers.values()))
    absent = [pl.lit(None, dtype=pl.String).alias(c) for c in COLUMNS if c not in headers.values()]
    return (
        frame.with_columns(*absent, pl.lit(agreement).alias(AGREEMENT), pl.lit(name).alias(SOURCE_FILE))
        .select(list(export_schema()))
        .with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
    )


def _canonical_headers(columns: Sequence[str]) -> dict[str, str]:
    """original header → canonical name, for the headers in `COLUMNS` (the preferred spelling of each)."""
    best: dict[str, tuple[int, str]] = {}  # canonical → (preference, original header)
    for original in columns:
        known = _SPELLINGS.get(_bare_name(original).lower())
        if known is None:
            continue
        canonical, rank = known
        if canonical not in best or rank < best[canonical][0]:
            best[canonical] = (rank, original)
    return {original: canonical for canonical, (_, original) in best.items()}


def _agreement(canonical: set[str]) -> str:
    if canonical.intersection(_MCA_COLUMNS):
        return "MCA"
    if not canonical.intersection(("BillingAccountId", "BillingProfileId")):
        return "MOSP"  # legacy pay-as-you-go: each subscription is billed on its own
    return "EA"
