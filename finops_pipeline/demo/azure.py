"""Render the organisation's Azure enrollment as EA cost-details exports, actual and amortized, per month.

    <root>/ea-costs/<YYYYMMDD-YYYYMMDD>/actual.csv       ActualCost dataset of one billing month
    <root>/ea-costs/<YYYYMMDD-YYYYMMDD>/amortized.csv    AmortizedCost dataset of the same month

The folder is the billing period with Azure's inclusive end (`20261101-20261130`); the files hold the
window's days of that month. Columns are those of an EA cost-details export (`EA_COLUMNS`, the set of the
finops-toolkit sample `EA_ActualCost_Small.csv`, UTF-8 with a byte-order mark), dates MM/DD/YYYY, one row
per resource, meter and day, tags as EA writes them (JSON object text, scale-set rows in the brace-less
`"k": "v","k2": "v2"` form), resource ids lower-cased as cost exports write them.

The reservation (All Upfront) is where the two datasets differ:

* actual: the Purchase row on the day it was bought; covered VM hours as Usage rows priced 0 with
  PricingModel Reservation;
* amortized: no purchase; covered hours carry their share of the purchase (purchase / term hours per
  instance-hour), and one UnusedReservation row per day carries the share of the hours nothing used.

So, per month: Σ actual Cost = Σ amortized Cost of non-commitment rows + purchases, and per reservation and
month Σ covered amortized Cost + Σ unused Cost = upfront x instances x reserved hours / term hours (every
daily share is quantized to 10 places cumulatively, so the daily shares add up exactly).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

from finops_pipeline.demo.exports import (
    BillingPeriod,
    GroupDay,
    InstanceDay,
    ProviderExport,
    Window,
    alive_hours,
    group_hours,
    q10,
    quantity_text,
)
from finops_pipeline.demo.organisation import (
    Account,
    Estate,
    Organisation,
    ReservedInstances,
    Resource,
    stable_hex,
    stable_unit,
)

FOLDER = "ea-costs"
_ZERO = Decimal(0)
_HOURS = Decimal(24)

# The column set (and order) of an EA cost-details export.
EA_COLUMNS = (
    "BillingAccountId", "BillingAccountName", "BillingPeriodStartDate", "BillingPeriodEndDate", "BillingProfileId",
    "BillingProfileName", "AccountOwnerId", "AccountName", "SubscriptionId", "SubscriptionName", "Date", "Product",
    "PartNumber", "MeterId", "ServiceFamily", "MeterCategory", "MeterSubCategory", "MeterRegion", "MeterName",
    "Quantity", "EffectivePrice", "Cost", "UnitPrice", "BillingCurrency", "ResourceLocation", "AvailabilityZone",
    "ConsumedService", "ResourceId", "ResourceName", "ServiceInfo1", "ServiceInfo2", "AdditionalInfo", "Tags",
    "InvoiceSectionId", "InvoiceSection", "CostCenter", "UnitOfMeasure", "ResourceGroup", "ReservationId",
    "ReservationName", "ProductOrderId", "ProductOrderName", "OfferId", "IsAzureCreditEligible", "Term",
    "PublisherName", "PlanName", "ChargeType", "Frequency", "PublisherType", "PayGPrice", "PricingModel",
    "CostAllocationRuleName", "benefitId", "benefitName",
)  # fmt: skip

# ARM location → (ResourceLocation as exports write it, MeterRegion, the region in product names)
LOCATIONS = {"eastus": ("EastUS", "US East", "US East")}


@dataclass(frozen=True)
class VmSize:
    vcpus: int
    memory_gb: int
    series: str  # MeterSubCategory
    meter: str  # MeterName
    hourly: Decimal  # EA price, Linux, East US


VM_SIZES = {
    "Standard_D4s_v5": VmSize(4, 16, "Dsv5 Series", "D4s v5", Decimal("0.192")),
    "Standard_D8s_v5": VmSize(8, 32, "Dsv5 Series", "D8s v5", Decimal("0.384")),
    "Standard_E4s_v5": VmSize(4, 32, "Esv5 Series", "E4s v5", Decimal("0.252")),
}


@dataclass(frozen=True)
class Meter:
    family: str  # ServiceFamily
    category: str
    subcategory: str
    name: str
    product: str
    unit: str  # UnitOfMeasure
    price: Decimal
    consumed_service: str
    location: str = "eastus"

    @property
    def meter_id(self) -> str:
        return str(uuid.UUID(stable_hex(32, "azure-meter", self.product, self.name)))

    @property
    def part_number(self) -> str:
        return f"AA{chr(65 + int(stable_unit('pn', self.product, self.name) * 26))}-{stable_hex(5, self.product)}"


def vm_meter(size: str, location: str) -> Meter:
    spec, region = VM_SIZES[size], LOCATIONS[location][2]
    return Meter(
        "Compute",
        "Virtual Machines",
        spec.series,
        spec.meter,
        f"Virtual Machines {spec.series} - {spec.meter} - {region}",
        "1 Hour",
        spec.hourly,
        "Microsoft.Compute",
        location,
    )


def _meter(
    family: str,
    category: str,
    subcategory: str,
    name: str,
    unit: str,
    price: str,
    service: str,
    product: str | None = None,
) -> Meter:
    product = product or f"{category} {subcategory} - {name} - US East".replace("  ", " ")
    return Meter(family, category, subcategory, name, product, unit, Decimal(price), service)


AKS_UPTIME = _meter("Compute", "Azure Kubernetes Service", "Standard", "Standard Uptime SLA", "1 Hour", "0.10",
                    "Microsoft.ContainerService", "Azure Kubernetes Service - Standard - Uptime SLA")  # fmt: skip
PUBLIC_IP = _meter("Networking", "Virtual Network", "IP Addresses", "Standard IPv4 Static Public IP", "1 Hour",
                   "0.005", "Microsoft.Network")  # fmt: skip
SQL_VCORE = _meter("Databases", "SQL Database", "General Purpose - Compute Gen5", "vCore", "1 Hour", "0.2522",
                   "Microsoft.Sql")  # fmt: skip
SQL_STORAGE = _meter("Databases", "SQL Database", "General Purpose - Storage", "Data Stored", "1 GB/Month", "0.115",
                     "Microsoft.Sql")  # fmt: skip
BLOB_STORED = _meter("Storage", "Storage", "Tiered Block Blob", "Hot LRS Data Stored", "1 GB/Month", "0.0184",
                     "Microsoft.Storage")  # fmt: skip
BLOB_WRITES = _meter("Storage", "Storage", "Tiered Block Blob", "Hot LRS Write Operations", "10K", "0.055",
                     "Microsoft.Storage")  # fmt: skip
BLOB_READS = _meter("Storage", "Storage", "Tiered Block Blob", "Hot Read Operations", "10K", "0.0044",
                    "Microsoft.Storage")  # fmt: skip


def bandwidth_meter(consumed_service: str) -> Meter:
    # Egress is billed under the resource that sent it (a storage account, a public IP).
    return _meter("Networking", "Bandwidth", "Rtn Preference: MGN", "Standard Data Transfer Out", "1 GB", "0.087",
                  consumed_service, "Rtn Preference: MGN - Standard Data Transfer Out - Zone 1")  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Resource ids
# ---------------------------------------------------------------------------------------------------

AKS_NAME_SUFFIX = "31415926"


def resource_group(resource: Resource) -> str:
    """Resource group as written (ARM names keep their case in the ResourceGroup column)."""
    if resource.service == "aks":
        return f"rg-{resource.name}"
    if resource.service in ("vmss", "public_ip"):  # the AKS-managed node resource group
        return f"MC_rg-aks-prod_aks-prod_{resource.region}"
    return f"rg-{resource.name}"


def _arm(account: Account, group: str, provider_path: str) -> str:
    return f"/subscriptions/{account.account_id}/resourceGroups/{group}/providers/{provider_path}"


def scale_set_name(resource: Resource) -> str:
    """`aks-prod-user` → `aks-user-31415926-vmss`."""
    return f"aks-{resource.name.rsplit('-', 1)[1]}-{AKS_NAME_SUFFIX}-vmss"


def vmss_instance_id(estate: Estate, resource: Resource, slot: int) -> str:
    """The ARM id of one scale-set VM, as Kubernetes' providerID spells it (mixed case, no scheme)."""
    path = f"Microsoft.Compute/virtualMachineScaleSets/{scale_set_name(resource)}/virtualMachines/{slot}"
    return _arm(estate.account(resource.account), resource_group(resource), path)


def node_name(resource: Resource, slot: int) -> str:
    """The Kubernetes node name of a scale-set VM: the scale set's name and the instance id in base 36."""
    digits, n = "", slot
    while True:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
        if n == 0:
            break
    return f"{scale_set_name(resource)}{digits.rjust(6, '0')}"


def resource_id(estate: Estate, resource: Resource) -> str:
    account = estate.account(resource.account)
    kind = resource.service
    if kind == "aks":
        path = f"Microsoft.ContainerService/managedClusters/{resource.name}"
    elif kind == "vm":
        path = f"Microsoft.Compute/virtualMachines/{resource.name}"
    elif kind == "vmss":
        path = f"Microsoft.Compute/virtualMachineScaleSets/{scale_set_name(resource)}"
    elif kind == "sql":
        path = f"Microsoft.Sql/servers/sql-larkspur-data/databases/{resource.name}"
    elif kind == "storage":
        path = f"Microsoft.Storage/storageAccounts/{resource.name}"
    elif kind == "public_ip":
        path = f"Microsoft.Network/publicIPAddresses/kubernetes-{stable_hex(32, resource.name)}"
    else:
        raise ValueError(f"unknown Azure resource kind {kind!r} ({resource.name})")
    return _arm(account, resource_group(resource), path)


def reservation_order_id(ri: ReservedInstances) -> str:
    return str(uuid.UUID(stable_hex(32, "azure-reservation-order", ri.name)))


def reservation_id(ri: ReservedInstances) -> str:
    return str(uuid.UUID(stable_hex(32, "azure-reservation", ri.name)))


def benefit_id(ri: ReservedInstances) -> str:
    return (
        f"/providers/Microsoft.Capacity/reservationOrders/{reservation_order_id(ri)}/reservations/{reservation_id(ri)}"
    )


def reservation_term(ri: ReservedInstances, window: Window) -> tuple[date, date]:
    start = window.at(ri.purchased_at)
    return start, start + timedelta(days=ri.term_days)


def amortised_hourly(ri: ReservedInstances) -> Decimal:
    """The purchase spread evenly over the term's instance-hours."""
    with localcontext() as ctx:
        ctx.prec = 38
        return ri.upfront_per_instance / Decimal(ri.term_days * 24)


# ---------------------------------------------------------------------------------------------------
# Charges
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Charge:
    """One cost-details row before rendering; `actual_*` and `amortized_*` say how each dataset shows it."""

    day: date
    account: Account
    meter: Meter
    quantity: Decimal
    resource_id: str
    resource_name: str
    resource_group: str
    tags: str
    unit_price: Decimal
    actual_cost: Decimal
    actual_price: Decimal  # EffectivePrice in the actual dataset
    amortized_cost: Decimal
    amortized_price: Decimal
    charge_type: str = "Usage"
    frequency: str = "UsageBased"
    pricing_model: str = "OnDemand"
    payg_price: Decimal | None = None  # None: the unit price
    reservation: ReservedInstances | None = None
    additional_info: Mapping[str, object] = field(default_factory=dict)
    zone: str = ""
    in_actual: bool = True
    in_amortized: bool = True


def tag_text(resource: Resource) -> str:
    """EA tags: a JSON object, except scale sets (written as AKS writes them: without the braces)."""
    if not resource.tags:
        return ""
    text = json.dumps(dict(resource.tags), separators=(",", ": "))
    return text[1:-1] if resource.service == "vmss" else text


def _usage(estate: Estate, resource: Resource, day: date, meter: Meter, quantity: Decimal, **changes: object) -> Charge:
    cost = q10(meter.price * quantity)
    charge = Charge(
        day=day,
        account=estate.account(resource.account),
        meter=meter,
        quantity=quantity,
        resource_id=resource_id(estate, resource).lower(),
        resource_name=resource.name,
        resource_group=resource_group(resource),
        tags=tag_text(resource),
        unit_price=meter.price,
        actual_cost=cost,
        actual_price=meter.price,
        amortized_cost=cost,
        amortized_price=meter.price,
    )
    return replace(charge, **changes)


def _quantity(value: float, places: int = 6) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _days_in_month(day: date) -> int:
    return (date(day.year + day.month // 12, day.month % 12 + 1, 1) - day.replace(day=1)).days


def scale_set_days(org: Organisation, resource: Resource, window: Window, seed: int) -> list[GroupDay]:
    """Per window day, the scale set's demand and VMs that ran (resource id as providerID spells it, hours)."""
    estate = org.azure
    assert estate is not None
    days = []
    for index, day in enumerate(window.dates()):
        demand = org.demand(resource, day, index, window.first_day, window.days, seed)
        alive = alive_hours(resource.active, window, index)
        instances = tuple(
            InstanceDay(k, vmss_instance_id(estate, resource, k), "", hours)
            for k, hours in group_hours(resource, demand, alive)
        )
        days.append(GroupDay(day, index, demand, instances))
    return days


def _vm_info(resource: Resource, vm_name: str) -> dict[str, object]:
    spec = VM_SIZES[resource.size]
    info: dict[str, object] = {
        "UsageType": "ComputeHR",
        "ImageType": "Canonical",
        "ServiceType": resource.size,
        "VMName": vm_name,
    }
    if resource.service == "vmss":
        info["VMProperties"] = "Microsoft.AKS.Compute.AKS.Linux.Billing"
    info["VCPUs"] = spec.vcpus
    return info


def daily_charges(org: Organisation, window: Window, seed: int, index: int, day: date) -> list[Charge]:
    estate = org.azure
    assert estate is not None
    charges: list[Charge] = []
    month_days = Decimal(_days_in_month(day))
    for resource in estate.resources:
        alive = alive_hours(resource.active, window, index)
        if alive == 0:
            continue
        demand = org.demand(resource, day, index, window.first_day, window.days, seed)
        traffic = org.demand(replace(resource, profile="web"), day, index, window.first_day, window.days, seed)
        kind = resource.service
        if kind == "aks":
            charges.append(_usage(estate, resource, day, AKS_UPTIME, Decimal(alive)))
        elif kind in ("vmss", "vm"):
            meter = vm_meter(resource.size, resource.region)
            for k, hours in group_hours(resource, demand, alive):
                if kind == "vmss":
                    vm_id, vm_name = vmss_instance_id(estate, resource, k), f"{scale_set_name(resource)}_{k}"
                else:
                    vm_id, vm_name = resource_id(estate, resource), resource.name
                charges.append(
                    _usage(
                        estate,
                        resource,
                        day,
                        meter,
                        Decimal(hours),
                        resource_id=vm_id.lower(),
                        resource_name=vm_name,
                        additional_info=_vm_info(resource, vm_name),
                    )
                )
        elif kind == "sql":
            vcores = int(resource.size.rsplit("_", 1)[1])
            charges.append(_usage(estate, resource, day, SQL_VCORE, Decimal(vcores * alive)))
            stored = q10(Decimal(str(resource.stored_gb)) * alive / _HOURS / month_days)
            charges.append(_usage(estate, resource, day, SQL_STORAGE, stored))
        elif kind == "storage":
            stored = q10(_quantity(resource.stored_gb * demand, 3) * alive / _HOURS / month_days)
            charges += [
                _usage(estate, resource, day, BLOB_STORED, stored),
                _usage(estate, resource, day, BLOB_WRITES, _quantity(resource.daily_puts * traffic / 10_000, 4)),
                _usage(estate, resource, day, BLOB_READS, _quantity(resource.daily_gets * traffic / 10_000, 4)),
            ]
            if resource.daily_gb:
                egress = _quantity(resource.daily_gb * traffic)
                charges.append(_usage(estate, resource, day, bandwidth_meter("Microsoft.Storage"), egress))
        elif kind == "public_ip":
            charges.append(_usage(estate, resource, day, PUBLIC_IP, Decimal(alive)))
            egress = _quantity(resource.daily_gb * demand)
            charges.append(_usage(estate, resource, day, bandwidth_meter("Microsoft.Network"), egress))
        else:
            raise ValueError(f"unknown Azure resource kind {kind!r} ({resource.name})")
    return charges


def _reservation_columns(ri: ReservedInstances) -> dict[str, str]:
    region = LOCATIONS[ri.region][2]
    return {
        "ReservationId": reservation_id(ri),
        "ReservationName": ri.name,
        "ProductOrderId": reservation_order_id(ri),
        "ProductOrderName": f"Reserved VM Instance, {ri.instance_type}, {region}, {ri.term_days // 365} Year",
        "Term": str(12 * ri.term_days // 365),
        "benefitId": benefit_id(ri),
        "benefitName": ri.name,
    }


def apply_reservation(
    estate: Estate, ri: ReservedInstances, window: Window, day: date, charges: list[Charge]
) -> list[Charge]:
    """Cover matching VM hours with the reservation (VMs in resource-id order), and add the day's unused row.

    A covered VM-day becomes two rows, as in the exports: the reservation-priced hours and the rest on demand.
    """
    term_start, term_end = reservation_term(ri, window)
    if not term_start <= day < term_end:
        return charges
    pool = Decimal(ri.count * 24)
    rate = amortised_hourly(ri)
    meter = vm_meter(ri.instance_type, ri.region)
    eligible = sorted(
        (i for i, c in enumerate(charges) if c.meter == meter and c.pricing_model == "OnDemand"),
        key=lambda i: charges[i].resource_id,
    )
    out = {i: [c] for i, c in enumerate(charges)}
    used = _ZERO
    for i in eligible:
        if used >= pool:
            break
        charge = charges[i]
        covered = min(charge.quantity, pool - used)
        # Cumulative quantization: the covered rows and the unused row add up to the day's share exactly.
        cost = q10(rate * (used + covered)) - q10(rate * used)
        used += covered
        info = {
            **charge.additional_info,
            "ReservationOrderId": reservation_order_id(ri),
            "ReservationId": reservation_id(ri),
            "RINormalizationRatio": 1,
        }
        reserved = replace(
            charge,
            quantity=covered,
            actual_cost=_ZERO,
            actual_price=_ZERO,
            amortized_cost=cost,
            amortized_price=q10(rate),
            pricing_model="Reservation",
            payg_price=_ZERO,
            reservation=ri,
            additional_info=info,
        )
        rest = charge.quantity - covered
        on_demand = [
            replace(charge, quantity=rest, actual_cost=q10(meter.price * rest), amortized_cost=q10(meter.price * rest))
        ]
        out[i] = [reserved, *(on_demand if rest > 0 else [])]
    result = [c for i in range(len(charges)) for c in out[i]]
    unused = pool - used
    if unused > 0:
        account = estate.account(ri.account)
        result.append(
            Charge(
                day=day,
                account=account,
                meter=replace(meter, consumed_service="Microsoft.Compute"),
                quantity=unused,
                resource_id=benefit_id(ri).lower(),
                resource_name=reservation_id(ri),
                resource_group="",
                tags="",
                unit_price=meter.price,
                actual_cost=_ZERO,
                actual_price=_ZERO,
                amortized_cost=q10(rate * pool) - q10(rate * used),
                amortized_price=q10(rate),
                charge_type="UnusedReservation",
                pricing_model="Reservation",
                payg_price=_ZERO,
                reservation=ri,
                in_actual=False,
            )
        )
    if day == term_start:
        result.append(
            Charge(
                day=day,
                account=estate.account(ri.account),
                meter=replace(meter, consumed_service="Microsoft.Capacity"),
                quantity=Decimal(ri.count),
                resource_id=benefit_id(ri).lower(),
                resource_name="",
                resource_group="",
                tags="",
                unit_price=ri.upfront_per_instance,
                actual_cost=q10(ri.upfront_per_instance * ri.count),
                actual_price=ri.upfront_per_instance,
                amortized_cost=_ZERO,
                amortized_price=_ZERO,
                charge_type="Purchase",
                frequency="OneTime",
                pricing_model="Reservation",
                payg_price=_ZERO,
                reservation=ri,
                in_amortized=False,
            )
        )
    return result


def period_charges(org: Organisation, window: Window, seed: int, period: BillingPeriod) -> list[Charge]:
    estate = org.azure
    assert estate is not None
    charges: list[Charge] = []
    for index, day in enumerate(window.dates()):
        if not period.start <= day < period.end:
            continue
        daily = daily_charges(org, window, seed, index, day)
        for ri in estate.reservations:
            daily = apply_reservation(estate, ri, window, day, daily)
        charges.extend(daily)
    return sorted(charges, key=lambda c: (c.day, c.account.account_id, c.resource_id, c.meter.name, c.charge_type))


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------


def _mdy(day: date) -> str:
    return f"{day:%m/%d/%Y}"


def period_folder(period: BillingPeriod) -> str:
    """`20261101-20261130`: Azure names an export's period by its first and last (inclusive) day."""
    return f"{period.start:%Y%m%d}-{period.end - timedelta(days=1):%Y%m%d}"


def render_row(org: Organisation, period: BillingPeriod, charge: Charge, *, amortized: bool) -> dict[str, str]:
    estate = org.azure
    assert estate is not None
    team = next(t for t in org.teams if t.key == charge.account.team)
    meter = charge.meter
    location, meter_region, _ = LOCATIONS[meter.location]
    cost = charge.amortized_cost if amortized else charge.actual_cost
    price = charge.amortized_price if amortized else charge.actual_price
    row = {
        "BillingAccountId": estate.billing_account_id,
        "BillingAccountName": estate.billing_account_name,
        "BillingPeriodStartDate": _mdy(period.start),
        "BillingPeriodEndDate": _mdy(period.end - timedelta(days=1)),
        "BillingProfileId": estate.billing_account_id,
        "BillingProfileName": estate.billing_account_name,
        "AccountOwnerId": charge.account.owner,
        "AccountName": team.name,
        "SubscriptionId": charge.account.account_id,
        "SubscriptionName": charge.account.name,
        "Date": _mdy(charge.day),
        "Product": meter.product,
        "PartNumber": meter.part_number,
        "MeterId": meter.meter_id,
        "ServiceFamily": meter.family,
        "MeterCategory": meter.category,
        "MeterSubCategory": meter.subcategory,
        "MeterRegion": meter_region,
        "MeterName": meter.name,
        "Quantity": quantity_text(charge.quantity),
        "EffectivePrice": quantity_text(price),
        "Cost": quantity_text(cost),
        "UnitPrice": quantity_text(charge.unit_price),
        "BillingCurrency": "USD",
        "ResourceLocation": location,
        "AvailabilityZone": charge.zone,
        "ConsumedService": meter.consumed_service,
        "ResourceId": charge.resource_id,
        "ResourceName": charge.resource_name,
        "ServiceInfo2": "Canonical" if meter.category == "Virtual Machines" and charge.charge_type == "Usage" else "",
        "AdditionalInfo": json.dumps(charge.additional_info, separators=(",", ":")) if charge.additional_info else "",
        "Tags": charge.tags,
        "InvoiceSectionId": str(100 + [t.key for t in org.teams].index(team.key)),
        "InvoiceSection": team.name,
        "CostCenter": team.cost_center,
        "UnitOfMeasure": meter.unit,
        "ResourceGroup": charge.resource_group,
        "OfferId": "MS-AZR-0017P",
        "IsAzureCreditEligible": "True",
        "PublisherName": "Microsoft",
        "PlanName": meter.name if charge.charge_type == "Usage" else "",
        "ChargeType": charge.charge_type,
        "Frequency": charge.frequency,
        "PublisherType": "Azure",
        "PayGPrice": quantity_text(charge.unit_price if charge.payg_price is None else charge.payg_price),
        "PricingModel": charge.pricing_model,
    }
    if charge.reservation is not None:
        row.update(_reservation_columns(charge.reservation))
    return row


def render_csv(org: Organisation, period: BillingPeriod, charges: Sequence[Charge], *, amortized: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EA_COLUMNS)
    for charge in charges:
        if charge.in_amortized if amortized else charge.in_actual:
            row = render_row(org, period, charge, amortized=amortized)
            writer.writerow([row.get(column, "") for column in EA_COLUMNS])
    # Cost Management writes UTF-8 with a byte-order mark.
    return ("\ufeff" + buffer.getvalue()).encode()


def write_exports(org: Organisation, window: Window, root: Path, seed: int) -> ProviderExport:
    """Write the actual and amortized export of every billing month of the window under `root`."""
    if org.azure is None:
        raise ValueError("the organisation has no Azure enrollment")
    shutil.rmtree(root / FOLDER, ignore_errors=True)
    files: list[Path] = []
    row_counts: dict[BillingPeriod, int] = {}
    totals: dict[BillingPeriod, Decimal] = {}
    billed_by_day: dict[date, Decimal] = {}
    periods = window.billing_periods()
    for period in periods:
        charges = period_charges(org, window, seed, period)
        folder = root / FOLDER / period_folder(period)
        folder.mkdir(parents=True, exist_ok=True)
        for name, amortized in (("actual.csv", False), ("amortized.csv", True)):
            path = folder / name
            path.write_bytes(render_csv(org, period, charges, amortized=amortized))
            files.append(path)
        # Ground truth of the combined dataset (all amortized rows + the actual commitment purchases).
        combined = [c for c in charges if c.in_amortized or (c.charge_type == "Purchase" and c.reservation)]
        row_counts[period] = len(combined)
        totals[period] = sum((c.actual_cost for c in charges if c.in_actual), _ZERO)
        for c in charges:
            if c.in_actual:
                billed_by_day[c.day] = billed_by_day.get(c.day, _ZERO) + c.actual_cost
    return ProviderExport(
        provider="azure",
        root=root,
        files=tuple(sorted(files)),
        billing_periods=tuple(periods),
        data_files=tuple(sorted(files)),
        row_counts=row_counts,
        totals=totals,
        billed_by_day=billed_by_day,
    )
