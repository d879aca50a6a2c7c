"""Render the organisation's GCP billing account as the detailed billing export, flattened to CSV.

    <root>/billing_export/<YYYY-MM>.csv      the rows of one invoice month (`invoice.month`)

BigQuery cannot write its nested export table to CSV, so this is the export as the usual tools flatten it
(koku's `gcp_*.csv`): dotted headers (`service.description`, `usage.amount_in_pricing_units`), the repeated
fields (`credits`, `labels`, `system_labels`, `project.labels`, `tags`) as the Python repr of a list of dicts,
timestamps as `2026-11-01 07:00:00+00:00`. Money is written as exact decimal text (up to 10 places).

Rows are per resource, SKU and *Pacific* day (Google's billing day: `usage_start_time` is midnight in
America/Los_Angeles, so a row is 23 or 25 hours long on the DST switch days), so the UTC date of
`usage_start_time` is the usage day and `invoice.month` is its month, except for late-reported BigQuery
analysis of a month's last day, which Google invoices in the next month (the `invoice.month` restatement a
reader must respect).

Credits, applied per day: the committed use discount first (a `COMMITTED_USAGE_DISCOUNT` credit of minus the
on-demand cost of the covered N2 core and RAM hours, on the covering project's rows, in resource order; the
commitment's daily fee rows are billed whether used or not), then the promotional credit (up to its monthly
cap, on what is left of the project's Compute Engine usage). The flexible (spend-based) committed use
discount is billed as Google does since its consumption-model change (2026-01-21 for every account): the
covered E2 usage in its region is priced under the CUD's consumption model at the discounted price, and the
daily fee (the hourly commitment × hours, at $1 a unit) is one row per usage SKU for what that usage consumed,
offset by a `FEE_UTILIZATION_OFFSET` credit of as much, plus one row for what nobody used. Every usage row
carries its consumption model (Default when not covered). Tax: one row per project and invoice month,
`sales_tax_rate` of the month's cost net of credits. Google invoices Σ cost + Σ credits (credits are
negative), so that is the bill (`ProviderExport.totals`, `billed_by_day`: what Σ FOCUS BilledCost must be).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

from finops_pipeline.demo.exports import (
    CENT,
    BillingPeriod,
    ProviderExport,
    Window,
    group_hours,
    next_month,
    q10,
    quantity_text,
)
from finops_pipeline.demo.organisation import (
    Account,
    CommittedUseDiscount,
    Estate,
    FlexibleCommittedUseDiscount,
    Organisation,
    Resource,
    stable_hex,
    stable_unit,
)

FOLDER = "billing_export"
_ZERO = Decimal(0)
GIB = 2**30
# Resource Manager tag on the organisation, inherited by the analytics project's resources.
ORGANISATION_ID = "718204930561"

COLUMNS = (
    "billing_account_id", "service.id", "service.description", "sku.id", "sku.description", "usage_start_time",
    "usage_end_time", "project.id", "project.number", "project.name", "project.labels", "project.ancestry_numbers",
    "labels", "system_labels", "tags", "location.location", "location.country", "location.region", "location.zone",
    "resource.name", "resource.global_name", "export_time", "cost", "currency", "currency_conversion_rate",
    "usage.amount", "usage.unit", "usage.amount_in_pricing_units", "usage.pricing_unit", "credits", "invoice.month",
    "cost_type", "cost_at_list", "price.effective_price", "transaction_type", "seller_name",
    "subscription.instance_id", "consumption_model.id", "consumption_model.description",
    "cost_at_effective_price_default", "price.effective_price_default",
)  # fmt: skip

SERVICES = {  # service.description → service.id
    "Compute Engine": "6F81-5844-456A",
    "Cloud Storage": "95FF-2EF5-5EA1",
    "BigQuery": "24E6-581D-38E5",
    "Networking": "E505-1604-58F8",
}
REGION_NAMES = {"us-central1": "Iowa", "us-east1": "South Carolina", "us": "US Multi-region"}


@dataclass(frozen=True)
class MachineType:
    series: str
    vcpus: int
    memory_gb: int


MACHINE_TYPES = {
    "n2-standard-4": MachineType("n2", 4, 16),
    "n2-standard-8": MachineType("n2", 8, 32),
    "e2-standard-4": MachineType("e2", 4, 16),
}
# (series, resource) → on-demand $ per vCPU-hour / GiB-hour in the Americas; and 1-year commitment prices.
ON_DEMAND = {
    ("n2", "core"): Decimal("0.031611"),
    ("n2", "ram"): Decimal("0.004237"),
    ("e2", "core"): Decimal("0.021811"),
    ("e2", "ram"): Decimal("0.002923"),
}
COMMITTED_1YR = {("n2", "core"): Decimal("0.019915"), ("n2", "ram"): Decimal("0.002669")}


@dataclass(frozen=True)
class Sku:
    service: str
    description: str
    usage_unit: str
    pricing_unit: str
    price: Decimal  # per pricing unit
    per_pricing_unit: Decimal  # usage units in one pricing unit
    fixed_id: str = ""  # Google's id, where the pipeline knows it; else one made up from the description

    @property
    def sku_id(self) -> str:
        if self.fixed_id:
            return self.fixed_id
        code = stable_hex(12, "gcp-sku", self.service, self.description).upper()
        return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def _sku(service: str, description: str, usage_unit: str, pricing_unit: str, price: str, per: int | Decimal) -> Sku:
    return Sku(service, description, usage_unit, pricing_unit, Decimal(price), Decimal(per))


def instance_sku(series: str, part: str) -> Sku:
    name = "Core" if part == "core" else "Ram"
    description = f"{series.upper()} Instance {name} running in Americas"
    if part == "core":
        return Sku("Compute Engine", description, "seconds", "hour", ON_DEMAND[(series, part)], Decimal(3600))
    return Sku("Compute Engine", description, "byte-seconds", "gibibyte hour", ON_DEMAND[(series, part)],
               Decimal(3600 * GIB))  # fmt: skip


# Consumption models (id, description): the on-demand Default, and a 1-year Compute flexible CUD's.
DEFAULT_MODEL = ("7754-699E-0EBF", "Default")
FLEXIBLE_CUD_MODEL = ("D97B-0795-975B", "Compute Flexible CUD - 1 Year")
# The flexible CUD's fee: $1 per dollar of committed discounted spend, offset as the commitment is used.
FLEXIBLE_CUD_FEE = Sku("Compute Engine", "Compute Flexible Committed Use Discounts - 1 Year", "hour", "hour",
                       Decimal(1), Decimal(1), fixed_id="5515-81A8-03A2")  # fmt: skip


def commitment_sku(series: str, part: str) -> Sku:
    name = "Cpu" if part == "core" else "Ram"
    description = f"Commitment v1: {series.upper()} {name} in Americas for 1 Year"
    if part == "core":
        return Sku("Compute Engine", description, "seconds", "hour", COMMITTED_1YR[(series, part)], Decimal(3600))
    return Sku("Compute Engine", description, "byte-seconds", "gibibyte hour", COMMITTED_1YR[(series, part)],
               Decimal(3600 * GIB))  # fmt: skip


# Per-pricing-unit 0: byte-seconds priced per GiB-month (the month's length varies), usage given per row.
BALANCED_PD = _sku("Compute Engine", "Balanced PD Capacity", "byte-seconds", "gibibyte month", "0.10", 0)
BQ_ANALYSIS = _sku("BigQuery", "Analysis", "bytes", "tebibyte", "6.25", 1024 * GIB)
BQ_STORAGE = _sku("BigQuery", "Active Logical Storage", "byte-seconds", "gibibyte month", "0.02", 0)


def storage_skus(region: str) -> tuple[Sku, Sku, Sku]:
    if region == "us":
        stored = _sku("Cloud Storage", "Standard Storage US Multi-region", "byte-seconds", "gibibyte month", "0.026", 0)
        scope, class_a = "Multi-Region", "0.00001"
    else:
        stored = _sku("Cloud Storage", f"Standard Storage {REGION_NAMES[region]}", "byte-seconds", "gibibyte month",
                      "0.020", 0)  # fmt: skip
        scope, class_a = "Regional", "0.000005"
    return (
        stored,
        _sku("Cloud Storage", f"{scope} Standard Class A Operations", "requests", "count", class_a, 1),
        _sku("Cloud Storage", f"{scope} Standard Class B Operations", "requests", "count", "0.0000004", 1),
    )


EGRESS = _sku("Networking", "Network Internet Data Transfer Out from Americas to Americas", "bytes", "gibibyte",
              "0.12", GIB)  # fmt: skip
TAX = Sku("Invoice", "Tax", "", "", _ZERO, Decimal(1))


# ---------------------------------------------------------------------------------------------------
# Calendar: Google bills by Pacific-time day and month
# ---------------------------------------------------------------------------------------------------


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def pacific_offset(day: date) -> int:
    """Hours behind UTC at 00:00 local time in Los Angeles (US rule: DST from the second Sunday of March to
    the first Sunday of November, switching at 02:00 local)."""
    in_dst = _nth_sunday(day.year, 3, 2) < day <= _nth_sunday(day.year, 11, 1)
    return 7 if in_dst else 8


def pacific_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=pacific_offset(day))


def day_hours(day: date) -> int:
    return (pacific_midnight(day + timedelta(days=1)) - pacific_midnight(day)) // timedelta(hours=1)


# ---------------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credit:
    name: str
    amount: Decimal  # negative
    full_name: str | None
    credit_id: str
    credit_type: str


@dataclass(frozen=True)
class Row:
    project: Account
    sku: Sku
    start: datetime
    end: datetime
    usage: Decimal  # usage.amount (usage units)
    pricing: Decimal  # usage.amount_in_pricing_units
    cost: Decimal
    invoice_month: str  # YYYYMM
    location: str  # location.location: zone, region or multi-region
    resource_name: str = ""
    global_name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    system_labels: Mapping[str, str] = field(default_factory=dict)
    credits: tuple[Credit, ...] = ()
    cost_type: str = "regular"
    subscription: str = ""
    # what a committed use discount can cover: (series, "core" | "ram", region)
    commitment_key: tuple[str, str, str] | None = None
    # Priced under a spend-based CUD's consumption model (Default otherwise): its discounted unit price and
    # what the row would cost on demand.
    consumption_model: tuple[str, str] = DEFAULT_MODEL
    price: Decimal | None = None
    on_demand_cost: Decimal | None = None

    @property
    def net(self) -> Decimal:
        return self.cost + sum((c.amount for c in self.credits), _ZERO)


def _row(
    project: Account,
    sku: Sku,
    day: date,
    pricing_amount: Decimal,
    location: str,
    usage: Decimal | None = None,
    **more: object,
) -> Row:
    """A usage row of `pricing_amount` pricing units; usage.amount in usage units (given where the pricing
    unit is not a multiple of the usage unit, e.g. byte-seconds priced per GiB-month)."""
    if usage is None:
        usage = pricing_amount * sku.per_pricing_unit
    return Row(
        project=project,
        sku=sku,
        start=pacific_midnight(day),
        end=pacific_midnight(day + timedelta(days=1)),
        usage=usage,
        pricing=pricing_amount,
        cost=q10(sku.price * pricing_amount),
        invoice_month=f"{day:%Y%m}",
        location=location,
        **more,
    )


def _zone(resource: Resource, k: int = 0) -> str:
    zones = ("a", "b", "c", "f") if resource.region == "us-central1" else ("b", "c", "d")
    return f"{resource.region}-{zones[(k + int(stable_unit('gcp-zone', resource.name) * len(zones))) % len(zones)]}"


def instance_name(resource: Resource, k: int) -> str:
    """Managed instance groups name instances `<group>-<4 random letters>`; single VMs keep their name."""
    if resource.max_count == 1:
        return resource.name
    return f"{resource.name}-{stable_hex(4, 'gcp-instance', resource.name, k)}"


def instance_global_name(project: Account, resource: Resource, k: int) -> str:
    number = 1_000_000_000_000_000_000 + int(stable_unit("gcp-instance-id", resource.name, k) * 8e18)
    return f"//compute.googleapis.com/projects/{project.account_id}/zones/{_zone(resource, k)}/instances/{number}"


def project_number(project: Account) -> str:
    return str(100_000_000_000 + int(stable_unit("gcp-project-number", project.account_id) * 899_999_999_999))


def commitment_global_name(estate: Estate, cud: CommittedUseDiscount) -> str:
    project = estate.account(cud.account)
    return f"//compute.googleapis.com/projects/{project.account_id}/regions/{cud.region}/commitments/{cud.name}"


def commitment_subscription(cud: CommittedUseDiscount) -> str:
    code = stable_hex(18, "gcp-cud", cud.name).upper()
    return f"{code[:6]}-{code[6:12]}-{code[12:]}"


def _gib_months(gib: Decimal, hours: int, day: date) -> Decimal:
    days = (next_month(day) - day.replace(day=1)).days
    return q10(gib * hours / Decimal(24 * days))


def daily_rows(org: Organisation, window: Window, seed: int, index: int, day: date) -> list[Row]:
    estate = org.gcp
    assert estate is not None
    hours = day_hours(day)
    rows: list[Row] = []
    for resource in estate.resources:
        if resource.active != (0.0, 1.0):
            raise ValueError(f"GCP resources run for the whole window ({resource.name})")
        project = estate.account(resource.account)
        demand = org.demand(resource, day, index, window.first_day, window.days, seed)
        labels = dict(resource.tags)
        kind = resource.service
        if kind == "gce":
            machine = MACHINE_TYPES[resource.size]
            system = {
                "compute.googleapis.com/cores": str(machine.vcpus),
                "compute.googleapis.com/machine_spec": resource.size,
                "compute.googleapis.com/memory": str(machine.memory_gb * 1024),
            }
            for k, run in group_hours(resource, demand, hours):
                name, zone = instance_name(resource, k), _zone(resource, k)
                common = {
                    "resource_name": name,
                    "global_name": instance_global_name(project, resource, k),
                    "labels": labels,
                }
                for part, per_hour in (("core", machine.vcpus), ("ram", machine.memory_gb)):
                    rows.append(
                        _row(
                            project,
                            instance_sku(machine.series, part),
                            day,
                            Decimal(per_hour * run),
                            zone,
                            system_labels=system,
                            commitment_key=(machine.series, part, resource.region),
                            **common,
                        )
                    )
                disk = f"//compute.googleapis.com/projects/{project.account_id}/zones/{zone}/disks/{name}"
                rows.append(
                    _row(
                        project,
                        BALANCED_PD,
                        day,
                        _gib_months(Decimal(resource.root_volume_gb), run, day),
                        zone,
                        usage=Decimal(resource.root_volume_gb * GIB * 3600 * run),
                        resource_name=name,
                        global_name=disk,
                        labels=labels,
                    )
                )
        elif kind == "gcs":
            stored, class_a, class_b = storage_skus(resource.region)
            traffic = org.demand(replace(resource, profile="web"), day, index, window.first_day, window.days, seed)
            gib = Decimal(f"{resource.stored_gb * demand:.3f}")
            bucket = {
                "resource_name": resource.name,
                "global_name": f"//storage.googleapis.com/projects/_/buckets/{resource.name}",
                "labels": labels,
            }
            rows += [
                _row(
                    project,
                    stored,
                    day,
                    _gib_months(gib, hours, day),
                    resource.region,
                    usage=gib * GIB * 3600 * hours,
                    **bucket,
                ),
                _row(project, class_a, day, Decimal(round(resource.daily_puts * traffic)), resource.region, **bucket),
                _row(project, class_b, day, Decimal(round(resource.daily_gets * traffic)), resource.region, **bucket),
            ]
        elif kind == "bq":
            stored = Decimal(f"{resource.stored_gb * (1 + index * 0.002):.3f}")
            dataset = {
                "resource_name": resource.name,
                "global_name": f"//bigquery.googleapis.com/projects/{project.account_id}/datasets/{resource.name}",
                "labels": labels,
            }
            scanned = Decimal(f"{resource.daily_gb * demand:.6f}") / 1024  # TiB
            analysis = _row(project, BQ_ANALYSIS, day, scanned, resource.region.upper(), **dataset)
            if day == next_month(day) - timedelta(days=1):
                # Reported late: Google invoices the month's last day of analysis in the next month.
                analysis = replace(analysis, invoice_month=f"{next_month(day):%Y%m}")
            rows += [
                analysis,
                _row(
                    project,
                    BQ_STORAGE,
                    day,
                    _gib_months(stored, hours, day),
                    resource.region.upper(),
                    usage=stored * GIB * 3600 * hours,
                    **dataset,
                ),
            ]
        elif kind == "egress":
            gib = Decimal(f"{resource.daily_gb * demand:.6f}")
            rows.append(_row(project, EGRESS, day, gib, resource.region, labels=labels))
        else:
            raise ValueError(f"unknown GCP resource kind {kind!r} ({resource.name})")
    for cud in estate.commitments:
        rows = apply_commitment(estate, cud, window, day, rows)
    for flexible in estate.flexible_commitments:
        rows = apply_flexible_commitment(estate, flexible, window, day, rows)
    return rows


def commitment_term(cud: CommittedUseDiscount | FlexibleCommittedUseDiscount, window: Window) -> tuple[date, date]:
    start = window.first_day - timedelta(days=cud.started_days_before_window)
    return start, start + timedelta(days=cud.term_days)


def apply_commitment(
    estate: Estate, cud: CommittedUseDiscount, window: Window, day: date, rows: list[Row]
) -> list[Row]:
    """Bill the day's commitment fee and credit the covered N2 core and RAM usage of its project."""
    start, end = commitment_term(cud, window)
    if not start <= day < end:
        return rows
    project = estate.account(cud.account)
    hours = day_hours(day)
    subscription = commitment_subscription(cud)
    global_name = commitment_global_name(estate, cud)
    out = list(rows)
    for part, amount in (("core", cud.vcpus), ("ram", cud.memory_gb)):
        pool = Decimal(amount * hours)
        fee = _row(
            project,
            commitment_sku(cud.series, part),
            day,
            pool,
            cud.region,
            resource_name=cud.name,
            global_name=global_name,
            subscription=subscription,
        )
        out.append(fee)
        eligible = sorted(
            (
                i
                for i, row in enumerate(out)
                if row.project == project and row.commitment_key == (cud.series, part, cud.region)
            ),
            key=lambda i: out[i].resource_name,
        )
        remaining = pool
        name = f"Committed Usage Discount: {'CPU' if part == 'core' else 'RAM'}"
        for i in eligible:
            if remaining <= 0:
                break
            row = out[i]
            covered = min(row.pricing, remaining)
            remaining -= covered
            credit = Credit(name, -q10(row.sku.price * covered), name, global_name, "COMMITTED_USAGE_DISCOUNT")
            out[i] = replace(row, credits=(*row.credits, credit), subscription=subscription)
    return out


def flexible_subscription(cud: FlexibleCommittedUseDiscount) -> str:
    guid = stable_hex(32, "gcp-flexible-cud", cud.name)
    return f"subscriptions/{guid[:8]}-{guid[8:12]}-{guid[12:16]}-{guid[16:20]}-{guid[20:]}"


def apply_flexible_commitment(
    estate: Estate, cud: FlexibleCommittedUseDiscount, window: Window, day: date, rows: list[Row]
) -> list[Row]:
    """Price the day's eligible Compute Engine core and RAM usage in the commitment's region (not covered by a
    resource-based commitment) under its consumption model, and bill its fee: one row per usage SKU for
    what that usage consumed, offset by a FEE_UTILIZATION_OFFSET credit of as much, and one row, without
    offset, in the buying project for what nobody used (Google's proportional attribution)."""
    start, end = commitment_term(cud, window)
    if not start <= day < end:
        return rows
    subscription = flexible_subscription(cud)
    remaining = q10(cud.hourly_commitment * day_hours(day))
    out = list(rows)
    consumed: dict[tuple[str, Sku], tuple[Account, Decimal]] = {}
    for i, row in enumerate(out):
        if row.commitment_key is None or row.commitment_key[2] != cud.region or row.credits or row.subscription:
            continue
        price = q10(row.sku.price * (1 - cud.discount))
        cost = q10(price * row.pricing)
        if cost > remaining:  # the demo buys its flexible commitment above the usage it covers
            raise ValueError(f"{cud.name} does not cover all eligible usage on {day}")
        remaining -= cost
        out[i] = replace(row, cost=cost, price=price, on_demand_cost=row.cost, subscription=subscription,
                         consumption_model=FLEXIBLE_CUD_MODEL)  # fmt: skip
        key = (row.project.account_id, row.sku)
        consumed[key] = (row.project, consumed.get(key, (row.project, _ZERO))[1] + cost)
    fee = {"subscription": subscription, "resource_name": cud.name}
    for (_, sku), (project, amount) in sorted(consumed.items(), key=lambda item: (item[0][0], item[0][1].description)):
        offset = Credit("Fee utilization offset", -amount, None, subscription, "FEE_UTILIZATION_OFFSET")
        labels = {"goog-originating-sku-id": sku.sku_id}
        out.append(_row(project, FLEXIBLE_CUD_FEE, day, amount, cud.region, credits=(offset,), labels=labels, **fee))
    if remaining > 0:
        out.append(_row(estate.account(cud.account), FLEXIBLE_CUD_FEE, day, remaining, cud.region, **fee))
    return out


def apply_promotions(estate: Estate, rows: list[Row]) -> list[Row]:
    """Promotional credits, in row order, up to each credit's cap per invoice month."""
    out = list(rows)
    for promo in estate.credits:
        project = estate.account(promo.account)
        credit_id = f"PromotionalCredit-{stable_hex(12, 'gcp-promo', promo.description)}"
        spent: dict[str, Decimal] = {}
        for i, row in enumerate(out):
            eligible = row.project == project and row.sku.service == promo.service_code and row.cost_type == "regular"
            if not eligible or row.sku.description.startswith("Commitment") or row.net <= 0:
                continue
            left = promo.monthly_cap - spent.get(row.invoice_month, _ZERO)
            amount = min(left, row.net)
            if amount <= 0:
                continue
            spent[row.invoice_month] = spent.get(row.invoice_month, _ZERO) + amount
            credit = Credit(promo.description, -amount, promo.description, credit_id, "PROMOTION")
            out[i] = replace(row, credits=(*row.credits, credit))
    return out


def tax_rows(org: Organisation, rows: Sequence[Row]) -> list[Row]:
    """One tax row per project and invoice month: the rate on the month's cost net of credits."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.invoice_month, row.project.account_id), []).append(row)
    taxes = []
    for (month, _), group in sorted(groups.items()):
        net = sum((row.net for row in group), _ZERO)
        tax = (net * org.sales_tax_rate).quantize(CENT, rounding=ROUND_HALF_UP)
        if tax <= 0:
            continue
        # The month's own days (late-reported rows of the month before do not stretch it).
        own = [r for r in group if f"{r.start:%Y%m}" == month] or group
        start, end = min(r.start for r in own), max(r.end for r in own)
        taxes.append(
            Row(
                project=group[0].project,
                sku=TAX,
                start=start,
                end=end,
                usage=_ZERO,
                pricing=_ZERO,
                cost=tax,
                invoice_month=month,
                location="",
                cost_type="tax",
            )
        )
    return taxes


def all_rows(org: Organisation, window: Window, seed: int) -> list[Row]:
    estate = org.gcp
    assert estate is not None
    rows: list[Row] = []
    for index, day in enumerate(window.dates()):
        rows.extend(daily_rows(org, window, seed, index, day))
    rows.sort(key=_sort_key)
    rows = apply_promotions(estate, rows)
    return sorted([*rows, *tax_rows(org, rows)], key=_sort_key)


def _sort_key(row: Row) -> tuple:
    return (row.invoice_month, row.start, row.cost_type, row.project.account_id, row.sku.service,
            row.sku.description, row.resource_name)  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}+00:00"


def _repr_text(value: str | None) -> str:
    return "None" if value is None else repr(value)


def records_text(records: Sequence[Mapping[str, object]]) -> str:
    """The Python repr of a list of flat dicts, as koku and pandas write the repeated fields; Decimal values
    are written as plain numbers (their exact text), strings quoted, None and booleans as Python writes them."""

    def value(v: object) -> str:
        if isinstance(v, Decimal):
            return quantity_text(v)
        if isinstance(v, bool) or v is None:
            return repr(v)
        return _repr_text(str(v))

    items = ("{" + ", ".join(f"{k!r}: {value(v)}" for k, v in record.items()) + "}" for record in records)
    return "[" + ", ".join(items) + "]"


def _usage_text(value: Decimal) -> str:
    """usage.amount: byte-seconds of a large bucket run to 22 digits, past Decimal's default precision."""
    with localcontext() as ctx:
        ctx.prec = 60
        return quantity_text(value)


def _labels_text(labels: Mapping[str, str]) -> str:
    return records_text([{"key": k, "value": v} for k, v in labels.items()])


def _location(location: str) -> dict[str, str]:
    if not location:
        return {}
    if location.upper() == location:  # BigQuery multi-region ("US")
        return {"location.location": location, "location.country": location}
    if location == "us":
        return {"location.location": "us", "location.country": "US"}
    region = location if location.count("-") == 1 else location.rsplit("-", 1)[0]
    zone = location if location.count("-") == 2 else ""
    return {"location.location": location, "location.country": "US", "location.region": region, "location.zone": zone}


def render_row(estate: Estate, row: Row) -> dict[str, str]:
    project = row.project
    tags = (
        [{"key": "cost-center", "value": "3001", "inherited": True, "namespace": ORGANISATION_ID}]
        if project.account_id == "larkspur-analytics"
        else []
    )
    exported = row.end + timedelta(
        hours=3, minutes=int(stable_unit("gcp-export", row.start, row.sku.description) * 240)
    )
    values = {
        "billing_account_id": estate.billing_account_id,
        "service.id": SERVICES.get(row.sku.service, ""),
        "service.description": row.sku.service,
        "sku.id": row.sku.sku_id if row.cost_type == "regular" else "",
        "sku.description": row.sku.description,
        "usage_start_time": _timestamp(row.start),
        "usage_end_time": _timestamp(row.end),
        "project.id": project.account_id,
        "project.number": project_number(project),
        "project.name": project.name,
        "project.labels": _labels_text(project.labels),
        "project.ancestry_numbers": f"/{ORGANISATION_ID}/{project_number(project)}/",
        "labels": _labels_text(row.labels),
        "system_labels": _labels_text(row.system_labels),
        "tags": records_text(tags),
        **_location(row.location),
        "resource.name": row.resource_name,
        "resource.global_name": row.global_name,
        "export_time": _timestamp(exported),
        "cost": quantity_text(row.cost),
        "currency": "USD",
        "currency_conversion_rate": "1.0",
        "credits": records_text(
            [
                {"name": c.name, "amount": c.amount, "full_name": c.full_name, "id": c.credit_id, "type": c.credit_type}
                for c in row.credits
            ]
        ),
        "invoice.month": row.invoice_month,
        "cost_type": row.cost_type,
        "transaction_type": "GOOGLE",
        "seller_name": "Google",
        "subscription.instance_id": row.subscription,
    }
    if row.cost_type == "regular":
        on_demand = row.cost if row.on_demand_cost is None else row.on_demand_cost
        values.update(
            {
                "usage.amount": _usage_text(row.usage),
                "usage.unit": row.sku.usage_unit,
                "usage.amount_in_pricing_units": quantity_text(row.pricing),
                "usage.pricing_unit": row.sku.pricing_unit,
                "cost_at_list": quantity_text(on_demand),
                "cost_at_effective_price_default": quantity_text(on_demand),
                "price.effective_price": quantity_text(row.sku.price if row.price is None else row.price),
                "price.effective_price_default": quantity_text(row.sku.price),
                "consumption_model.id": row.consumption_model[0],
                "consumption_model.description": row.consumption_model[1],
            }
        )
    return values


def render_csv(estate: Estate, rows: Sequence[Row]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = render_row(estate, row)
        writer.writerow([values.get(column, "") for column in COLUMNS])
    return buffer.getvalue().encode()


def invoice_period(month: str) -> BillingPeriod:
    start = date(int(month[:4]), int(month[4:]), 1)
    return BillingPeriod(start, next_month(start))


def write_export(org: Organisation, window: Window, root: Path, seed: int) -> ProviderExport:
    """Write one CSV per invoice month under `root/billing_export`."""
    estate = org.gcp
    if estate is None:
        raise ValueError("the organisation has no GCP billing account")
    shutil.rmtree(root / FOLDER, ignore_errors=True)
    rows = all_rows(org, window, seed)
    by_month: dict[str, list[Row]] = {}
    for row in rows:
        by_month.setdefault(row.invoice_month, []).append(row)
    files, row_counts, totals = [], {}, {}
    billed_by_day: dict[date, Decimal] = {}
    for month, month_rows in sorted(by_month.items()):
        period = invoice_period(month)
        path = root / FOLDER / f"{period.start:%Y-%m}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_csv(estate, month_rows))
        files.append(path)
        row_counts[period] = len(month_rows)
        totals[period] = sum((r.net for r in month_rows), _ZERO)  # the invoice: cost + credits
        for r in month_rows:
            billed_by_day[r.start.date()] = billed_by_day.get(r.start.date(), _ZERO) + r.net
    return ProviderExport(
        provider="gcp",
        root=root,
        files=tuple(files),
        billing_periods=tuple(sorted(row_counts)),
        data_files=tuple(files),
        row_counts=row_counts,
        totals=totals,
        billed_by_day=billed_by_day,
    )
