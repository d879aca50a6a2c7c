"""Render the organisation's AWS usage as a legacy Cost and Usage Report, laid out as AWS writes it to S3.

    <root>/cur/finops-demo/<YYYYMMDD-YYYYMMDD>/finops-demo-Manifest.json          newest assembly
    <root>/cur/finops-demo/<YYYYMMDD-YYYYMMDD>/<assemblyId>/finops-demo-Manifest.json
    <root>/cur/finops-demo/<YYYYMMDD-YYYYMMDD>/<assemblyId>/finops-demo-1.csv.gz

DAILY time granularity: one line item per resource, usage type and line item type per day. The current
(last) billing period also keeps an older, superseded assembly written 34 hours earlier, exactly like a
bucket where AWS rewrote the month, so a reader that ignores the period-root manifest double counts.

How charges are built, per day: usage from the organisation's resources, then the Reserved Instances
(applied first, as AWS does), then the Savings Plan on what is left, most-discounted usage first. Per
billing period: RI fees and purchases, credits, refunds, the Support fee, then sales tax. All money is
`Decimal`; the RI and SP numbers close by construction:
    Σ reservation/EffectiveCost (DiscountedUsage) + UnusedAmortizedUpfront + UnusedRecurringFee
        = RIFee UnblendedCost + AmortizedUpfrontFeeForBillingPeriod
    Σ SavingsPlanEffectiveCost + Σ (TotalCommitmentToDate − UsedCommitment) = Σ SavingsPlanRecurringFee
A billing period's file holds the window's days of that period (the first and the current one are
partial), and its monthly charges cover those days only, so every row lies inside the window.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from types import MappingProxyType
from typing import Any

from finops_pipeline.demo.exports import (
    CENT,
    TEN_PLACES,
    BillingPeriod,
    GroupDay,
    InstanceDay,
    ProviderExport,
    Window,
    money_text,
    q10,
    quantity_text,
)
from finops_pipeline.demo.organisation import (
    Account,
    Organisation,
    ReservedInstances,
    Resource,
    SavingsPlan,
    stable_hex,
    stable_unit,
)

PREFIX = "cur"
REPORT_NAME = "finops-demo"
BUCKET = "finops-demo-cur"
LEGAL_ENTITY = "Amazon Web Services, Inc."
TAX_TYPE = "US Sales Tax"
# The superseded assembly of the current period was written this long before the newest one.
SUPERSEDED_LAG = timedelta(hours=34)
_ASSEMBLY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://finops-pipeline.example/demo/aws-cur")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_ZERO = Decimal(0)

# ---------------------------------------------------------------------------------------------------
# Price book: public us-east-1 / eu-west-1 list prices (rounded), enough for the organisation's resources
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    code: str
    location: str
    prefix: str  # usage-type prefix: none in us-east-1, "EU-" in eu-west-1
    zones: tuple[str, ...]


REGIONS = {
    "us-east-1": Region("us-east-1", "US East (N. Virginia)", "", ("us-east-1a", "us-east-1b", "us-east-1c")),
    "eu-west-1": Region("eu-west-1", "EU (Ireland)", "EU-", ("eu-west-1a", "eu-west-1b", "eu-west-1c")),
}

PRODUCT_NAMES = {
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonRDS": "Amazon Relational Database Service",
    "AmazonS3": "Amazon Simple Storage Service",
    "AWSELB": "Elastic Load Balancing",
    "AmazonEKS": "Amazon Elastic Container Service for Kubernetes",
    "AmazonCloudWatch": "AmazonCloudWatch",
    "AWSDataTransfer": "AWS Data Transfer",
    "ComputeSavingsPlans": "Savings Plans for AWS Compute usage",
    "AWSSupportBusiness": "AWS Support (Business)",
}


@dataclass(frozen=True)
class InstanceType:
    vcpu: int
    memory: str
    family: str
    # region -> (on-demand $/hour, 1yr No Upfront Compute Savings Plan $/hour)
    prices: Mapping[str, tuple[Decimal, Decimal]]


def _d(text: str) -> Decimal:
    return Decimal(text)


INSTANCE_TYPES: Mapping[str, InstanceType] = {
    "m6i.large": InstanceType(2, "8 GiB", "General purpose", {"us-east-1": (_d("0.096"), _d("0.0660"))}),
    "m6i.xlarge": InstanceType(
        4,
        "16 GiB",
        "General purpose",
        {"us-east-1": (_d("0.192"), _d("0.1320")), "eu-west-1": (_d("0.214"), _d("0.1480"))},
    ),
    "m6i.2xlarge": InstanceType(8, "32 GiB", "General purpose", {"us-east-1": (_d("0.384"), _d("0.2640"))}),
    "c6i.2xlarge": InstanceType(8, "16 GiB", "Compute optimized", {"us-east-1": (_d("0.340"), _d("0.2380"))}),
    "r6i.2xlarge": InstanceType(8, "64 GiB", "Memory optimized", {"us-east-1": (_d("0.504"), _d("0.3530"))}),
    "t3.xlarge": InstanceType(4, "16 GiB", "General purpose", {"us-east-1": (_d("0.1664"), _d("0.1210"))}),
    "g5.2xlarge": InstanceType(8, "32 GiB", "GPU instance", {"us-east-1": (_d("1.212"), _d("0.8840"))}),
    "m4.large": InstanceType(2, "8 GiB", "General purpose", {"us-east-1": (_d("0.100"), _d("0.0790"))}),
}

# RI size flexibility works in normalised units; the CUR reports the factor on EC2 rows.
NORMALIZATION_FACTORS = {"medium": 2, "large": 4, "xlarge": 8, "2xlarge": 16, "4xlarge": 32}


@dataclass(frozen=True)
class Meter:
    """What a usage type costs and how the CUR describes it."""

    product_code: str
    usage_type: str
    operation: str
    rate: Decimal
    unit: str
    family: str
    description: str
    region: str = ""
    product: Mapping[str, str] = field(default_factory=dict)  # extra product/* columns
    priced: bool = True  # False for tax, support, credits...: no sku, rate code or unit


def _rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def ec2_meter(instance_type: str, region: str) -> Meter:
    spec = INSTANCE_TYPES[instance_type]
    rate = spec.prices[region][0]
    return Meter(
        "AmazonEC2",
        f"{REGIONS[region].prefix}BoxUsage:{instance_type}",
        "RunInstances",
        rate,
        "Hrs",
        "Compute Instance",
        f"${_rate(rate)} per On Demand Linux {instance_type} Instance Hour",
        region,
        {
            "instanceType": instance_type,
            "instanceFamily": spec.family,
            "vcpu": str(spec.vcpu),
            "memory": spec.memory,
            "operatingSystem": "Linux",
            "tenancy": "Shared",
        },
    )


def savings_plan_rate(instance_type: str, region: str) -> Decimal:
    return INSTANCE_TYPES[instance_type].prices[region][1]


def normalization_factor(instance_type: str) -> Decimal:
    return Decimal(NORMALIZATION_FACTORS[instance_type.split(".")[1]])


def _simple_meter(
    code: str,
    usage: str,
    operation: str,
    rate: str,
    unit: str,
    family: str,
    description: str,
    region: str,
    **product: str,
) -> Meter:
    prefix = REGIONS[region].prefix
    return Meter(code, prefix + usage, operation, Decimal(rate), unit, family, description, region, product)


def ebs_meter(region: str) -> Meter:
    rate = "0.08" if region == "us-east-1" else "0.088"
    return _simple_meter(
        "AmazonEC2",
        "EBS:VolumeUsage.gp3",
        "CreateVolume-Gp3",
        rate,
        "GB-Mo",
        "Storage",
        f"${rate} per GB-month of General Purpose (gp3) provisioned storage - {REGIONS[region].location}",
        region,
        volumeApiName="gp3",
    )


def rds_meters(db_class: str, region: str) -> tuple[Meter, Meter]:
    product = {"instanceType": db_class, "databaseEngine": "PostgreSQL", "deploymentOption": "Multi-AZ"}
    return (
        _simple_meter(
            "AmazonRDS",
            f"Multi-AZUsage:{db_class}",
            "CreateDBInstance:0014",
            "0.898",
            "Hrs",
            "Database Instance",
            f"$0.898 per RDS {db_class} Multi-AZ instance hour (or partial hour) running PostgreSQL",
            region,
            **product,
        ),
        _simple_meter(
            "AmazonRDS",
            "RDS:Multi-AZ-GP3-Storage",
            "CreateDBInstance:0014",
            "0.23",
            "GB-Mo",
            "Database Storage",
            "$0.23 per GB-month of provisioned gp3 storage for Multi-AZ deployments",
            region,
            databaseEngine="PostgreSQL",
            deploymentOption="Multi-AZ",
        ),
    )


def s3_meters(region: str) -> tuple[Meter, Meter, Meter]:
    return (
        _simple_meter(
            "AmazonS3",
            "TimedStorage-ByteHrs",
            "StandardStorage",
            "0.023",
            "GB-Mo",
            "Storage",
            "$0.023 per GB - first 50 TB / month of storage used",
            region,
            storageClass="General Purpose",
        ),
        _simple_meter(
            "AmazonS3",
            "Requests-Tier1",
            "PutObject",
            "0.000005",
            "Requests",
            "API Request",
            "$0.005 per 1,000 PUT, COPY, POST, or LIST requests",
            region,
        ),
        _simple_meter(
            "AmazonS3",
            "Requests-Tier2",
            "GetObject",
            "0.0000004",
            "Requests",
            "API Request",
            "$0.004 per 10,000 GET and all other requests",
            region,
        ),
    )


def nat_meters(region: str) -> tuple[Meter, Meter]:
    rate = "0.045" if region == "us-east-1" else "0.048"
    return (
        _simple_meter(
            "AmazonEC2",
            "NatGateway-Hours",
            "NatGateway",
            rate,
            "Hrs",
            "NAT Gateway",
            f"${rate} per NAT Gateway Hour",
            region,
        ),
        _simple_meter(
            "AmazonEC2",
            "NatGateway-Bytes",
            "NatGateway",
            rate,
            "GB",
            "NAT Gateway",
            f"${rate} per GB Data Processed by NAT Gateways",
            region,
        ),
    )


def alb_meters(region: str) -> tuple[Meter, Meter, Meter]:
    return (
        _simple_meter(
            "AWSELB",
            "LoadBalancerUsage",
            "LoadBalancing:Application",
            "0.0225",
            "Hrs",
            "Load Balancer-Application",
            "$0.0225 per Application LoadBalancer-hour (or partial hour)",
            region,
        ),
        _simple_meter(
            "AWSELB",
            "LCUUsage",
            "LoadBalancing:Application",
            "0.008",
            "LCU-Hrs",
            "Load Balancer-Application",
            "$0.008 per used Application load balancer capacity unit-hour (or partial hour)",
            region,
        ),
        _simple_meter(
            "AWSDataTransfer",
            "DataTransfer-Out-Bytes",
            "LoadBalancing:Application",
            "0.09",
            "GB",
            "Data Transfer",
            "$0.090 per GB - first 10 TB / month data transfer out beyond the global free tier",
            region,
            transferType="AWS Outbound",
            toLocation="External",
        ),
    )


def eks_meter(region: str) -> Meter:
    return Meter(
        "AmazonEKS",
        "USE1-AmazonEKS-Hours:perCluster",
        "CreateOperation",
        Decimal("0.10"),
        "Hrs",
        "Compute",
        f"Amazon EKS cluster usage in {REGIONS[region].location}",
        region,
    )


def logs_meter(region: str) -> Meter:
    return _simple_meter(
        "AmazonCloudWatch",
        "DataProcessing-Bytes",
        "PutLogEvents",
        "0.50",
        "GB",
        "Data Payload",
        f"$0.50 per GB custom log data ingested - {REGIONS[region].location}",
        region,
    )


def metrics_meter(region: str) -> Meter:
    return _simple_meter(
        "AmazonCloudWatch",
        "CW:MetricMonitorUsage",
        "MetricStorage",
        "0.30",
        "Metrics",
        "Metric",
        f"$0.30 per metric-month - first 10,000 metrics - {REGIONS[region].location}",
        region,
    )


# ---------------------------------------------------------------------------------------------------
# Line items (before rendering)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    line_item_type: str
    account_id: str
    start: datetime
    end: datetime
    meter: Meter
    resource_id: str
    zone: str
    amount: Decimal
    rate: Decimal | None
    cost: Decimal
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)
    bill_type: str = "Anniversary"
    invoice: str = "anniversary"  # which invoice carries it: anniversary | purchase | refund
    term: str = "OnDemand"
    public_rate: Decimal | None = None
    public_cost: Decimal | None = None
    tax_type: str = ""
    # Further columns as text: reservation/*, savingsPlan/*, pricing/LeaseContractLength...
    extra: Mapping[str, str] = field(default_factory=dict)


def _usage(
    meter: Meter,
    account: Account,
    resource_id: str,
    zone: str,
    amount: Decimal,
    tags: Mapping[str, str],
    day: _Day,
) -> Line:
    cost = q10(meter.rate * amount)
    return Line(
        line_item_type="Usage",
        account_id=account.account_id,
        start=day.start,
        end=day.start + timedelta(days=1),
        meter=meter,
        resource_id=resource_id,
        zone=zone,
        amount=amount,
        rate=meter.rate,
        cost=cost,
        description=meter.description,
        tags=tags,
        public_rate=meter.rate,
        public_cost=cost,
    )


@dataclass(frozen=True)
class _Day:
    """One day of an assembly: the export has data for its first `hours` hours (24 unless still open)."""

    day: date
    index: int  # day number in the window
    hours: int
    window: Window
    seed: int

    @property
    def start(self) -> datetime:
        return _midnight(self.day)

    @property
    def data_end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    @property
    def month_hours(self) -> Decimal:
        # GB-Mo: AWS divides stored GB-hours by the hours of the billing month.
        days = (_next_month(self.day) - self.day.replace(day=1)).days
        return Decimal(24 * days)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _overlap_hours(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> int:
    seconds = (min(a_end, b_end) - max(a_start, b_start)).total_seconds()
    return max(0, int(seconds // 3600))


def _lifetime(resource: Resource, window: Window) -> tuple[datetime, datetime]:
    # Whole hours, so instances start and stop at realistic times of day.
    hours = window.days * 24
    start = _midnight(window.first_day)
    return (
        start + timedelta(hours=round(resource.active[0] * hours)),
        start + timedelta(hours=round(resource.active[1] * hours)),
    )


def _alive_hours(resource: Resource, day: _Day) -> int:
    return _overlap_hours(*_lifetime(resource, day.window), day.start, day.data_end)


def _demand(org: Organisation, resource: Resource, day: _Day, profile: str | None = None) -> float:
    name = profile or resource.profile
    noise = stable_unit(day.seed, resource.name, day.day.isoformat(), name)
    factor = org.profiles[name].factor(day.index, day.day.weekday(), noise)
    for spike in org.spikes:
        spike_start = day.window.at(spike.at)
        if spike.resource == resource.name and spike_start <= day.day < spike_start + timedelta(spike.days):
            factor *= spike.multiplier
    return factor


def _quantity(value: float, places: int = 6) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _per_day(value: float, day: _Day, places: int = 6) -> Decimal:
    """A per-day flow (GB, requests) scaled to the hours of the day the export has seen."""
    return _quantity(value * day.hours / 24, places)


def _gb_month(gb: Decimal, hours: int, day: _Day) -> Decimal:
    return q10(gb * hours / day.month_hours)


# ---------------------------------------------------------------------------------------------------
# Resource ids
# ---------------------------------------------------------------------------------------------------


def instance_id(resource: Resource, k: int) -> str:
    return "i-0" + stable_hex(16, resource.name, k)


def volume_id(resource: Resource, k: int | None = None) -> str:
    return "vol-0" + stable_hex(16, resource.name, k, "volume")


def _arn(service: str, region: str, account: Account, suffix: str) -> str:
    return f"arn:aws:{service}:{region}:{account.account_id}:{suffix}"


def availability_zone(resource: Resource, k: int = 0) -> str:
    """The availability zone the resource's k-th instance or volume runs and is billed in."""
    zones = REGIONS[resource.region].zones
    return zones[(k + int(stable_unit(resource.name) * len(zones))) % len(zones)]


# ---------------------------------------------------------------------------------------------------
# Daily usage per service
# ---------------------------------------------------------------------------------------------------


def _ec2_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    if resource.max_count == 1:
        desired = 1.0
    else:
        desired = min(resource.max_count, max(resource.min_count, resource.instances * _demand(org, resource, day)))
    meter = ebs_meter(resource.region)
    lines = []
    for k in range(resource.max_count):
        # Instance k runs for the share of the day the group needs more than k instances.
        hours = round(min(1.0, max(0.0, desired - k)) * alive)
        if hours == 0:
            continue
        lines.append(
            _usage(
                ec2_meter(resource.size, resource.region),
                account,
                instance_id(resource, k),
                availability_zone(resource, k),
                Decimal(hours),
                resource.tags,
                day,
            )
        )
        if resource.root_volume_gb:
            volume_tags = resource.tags if resource.tag_root_volume else _EMPTY
            amount = _gb_month(Decimal(resource.root_volume_gb), hours, day)
            volume = volume_id(resource, k)
            lines.append(_usage(meter, account, volume, availability_zone(resource, k), amount, volume_tags, day))
    return lines


def ec2_group_days(org: Organisation, resource: Resource, window: Window, seed: int) -> list[GroupDay]:
    """Per window day, the group's demand factor and the instances the CUR bills for it (id, zone, hours).

    What the Kubernetes renderer needs to put pods on the same EKS worker nodes the bill charges for.
    """
    account = org.account(resource.account)
    days = []
    for index, day in enumerate(window.dates()):
        current = _Day(day, index, 24, window, seed)
        hours = {x.resource_id: int(x.amount) for x in _ec2_lines(org, resource, account, current) if _is_box_usage(x)}
        instances = tuple(
            InstanceDay(k, instance_id(resource, k), availability_zone(resource, k), hours[instance_id(resource, k)])
            for k in range(resource.max_count)
            if instance_id(resource, k) in hours
        )
        days.append(GroupDay(day, index, _demand(org, resource, current), instances))
    return days


def _ebs_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    amount = _gb_month(Decimal(str(resource.stored_gb)), alive, day)
    return [
        _usage(
            ebs_meter(resource.region),
            account,
            volume_id(resource),
            availability_zone(resource),
            amount,
            resource.tags,
            day,
        )
    ]


def _rds_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    instance, storage = rds_meters(resource.size, resource.region)
    arn = _arn("rds", resource.region, account, f"db:{resource.name}")
    return [
        _usage(instance, account, arn, availability_zone(resource), Decimal(alive), resource.tags, day),
        _usage(
            storage,
            account,
            arn,
            availability_zone(resource),
            _gb_month(Decimal(str(resource.stored_gb)), alive, day),
            resource.tags,
            day,
        ),
    ]


def _s3_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    storage, tier1, tier2 = s3_meters(resource.region)
    stored_gb = _quantity(resource.stored_gb * _demand(org, resource, day), 3)
    # Requests follow the business, not the stored volume.
    traffic = _demand(org, resource, day, "web")
    return [
        _usage(storage, account, resource.name, "", _gb_month(stored_gb, alive, day), resource.tags, day),
        _usage(
            tier1,
            account,
            resource.name,
            "",
            _per_day(resource.daily_puts * traffic, day, 0),
            resource.tags,
            day,
        ),
        _usage(
            tier2,
            account,
            resource.name,
            "",
            _per_day(resource.daily_gets * traffic, day, 0),
            resource.tags,
            day,
        ),
    ]


def _nat_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    hours, data = nat_meters(resource.region)
    arn = _arn("ec2", resource.region, account, f"natgateway/nat-0{stable_hex(16, resource.name)}")
    gb = _per_day(resource.daily_gb * _demand(org, resource, day), day)
    return [
        _usage(hours, account, arn, availability_zone(resource), Decimal(alive), resource.tags, day),
        _usage(data, account, arn, availability_zone(resource), gb, resource.tags, day),
    ]


def _alb_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    hours, lcu, egress = alb_meters(resource.region)
    arn = _arn(
        "elasticloadbalancing",
        resource.region,
        account,
        f"loadbalancer/app/{resource.name}/{stable_hex(16, resource.name)}",
    )
    demand = _demand(org, resource, day)
    return [
        _usage(hours, account, arn, "", Decimal(alive), resource.tags, day),
        _usage(lcu, account, arn, "", _per_day(resource.daily_lcu * demand, day), resource.tags, day),
        _usage(egress, account, arn, "", _per_day(resource.daily_gb * demand, day), resource.tags, day),
    ]


def _eks_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    arn = _arn("eks", resource.region, account, f"cluster/{resource.name}")
    return [_usage(eks_meter(resource.region), account, arn, "", Decimal(alive), resource.tags, day)]


def _logs_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    if _alive_hours(resource, day) == 0:
        return []
    arn = _arn("logs", resource.region, account, f"log-group:{resource.name}")
    gb = _per_day(resource.daily_gb * _demand(org, resource, day), day)
    return [_usage(logs_meter(resource.region), account, arn, "", gb, resource.tags, day)]


def _metrics_lines(org: Organisation, resource: Resource, account: Account, day: _Day) -> list[Line]:
    alive = _alive_hours(resource, day)
    if alive == 0:
        return []
    # Custom metrics carry no resource id in the CUR.
    amount = _gb_month(Decimal(resource.metrics), alive, day)
    return [_usage(metrics_meter(resource.region), account, "", "", amount, resource.tags, day)]


SERVICES = {
    "ec2": _ec2_lines,
    "ebs": _ebs_lines,
    "rds": _rds_lines,
    "s3": _s3_lines,
    "nat": _nat_lines,
    "alb": _alb_lines,
    "eks": _eks_lines,
    "logs": _logs_lines,
    "metrics": _metrics_lines,
}


def daily_usage(org: Organisation, day: _Day) -> list[Line]:
    return [
        line
        for resource in org.resources
        for line in SERVICES[resource.service](org, resource, org.account(resource.account), day)
    ]


# ---------------------------------------------------------------------------------------------------
# Commitments
# ---------------------------------------------------------------------------------------------------


def _is_box_usage(line: Line) -> bool:
    return line.line_item_type == "Usage" and "BoxUsage:" in line.meter.usage_type


def reservation_arn(org: Organisation, ri: ReservedInstances) -> str:
    account = org.account(ri.account)
    return _arn("ec2", ri.region, account, f"reserved-instances/{uuid.UUID(stable_hex(32, 'ri', ri.name))}")


def savings_plan_arn(org: Organisation, sp: SavingsPlan) -> str:
    account = org.account(sp.account)
    return f"arn:aws:savingsplans::{account.account_id}:savingsplan/{uuid.UUID(stable_hex(32, 'sp', sp.name))}"


def ri_term(ri: ReservedInstances, window: Window) -> tuple[datetime, datetime]:
    start = _midnight(window.at(ri.purchased_at))
    return start, start + timedelta(days=ri.term_days)


def sp_term(sp: SavingsPlan, window: Window) -> tuple[datetime, datetime]:
    start = _midnight(window.first_day - timedelta(days=sp.started_days_before_window))
    return start, start + timedelta(days=sp.term_days)


def _amortised_per_hour(ri: ReservedInstances) -> Decimal:
    # AWS spreads the upfront payment evenly over the term's hours.
    with localcontext() as ctx:
        ctx.prec = 38
        return ri.upfront_per_instance / Decimal(ri.term_days * 24)


def _ri_columns(org: Organisation, ri: ReservedInstances, window: Window) -> dict[str, str]:
    start, end = ri_term(ri, window)
    return {
        "reservation/ReservationARN": reservation_arn(org, ri),
        "reservation/StartTime": _timestamp_ms(start),
        "reservation/EndTime": _timestamp_ms(end),
        "reservation/ModificationStatus": "Original",
        "reservation/NumberOfReservations": str(ri.count),
        "pricing/LeaseContractLength": f"{ri.term_days // 365}yr",
        "pricing/OfferingClass": ri.offering_class,
        "pricing/PurchaseOption": ri.payment_option,
    }


def apply_reserved_instances(org: Organisation, ri: ReservedInstances, lines: list[Line], day: _Day) -> list[Line]:
    """Turn matching on-demand instance hours into DiscountedUsage, up to the RI's hours that day."""
    pool = ri.count * _overlap_hours(*ri_term(ri, day.window), day.start, day.data_end)
    if pool == 0:
        return lines
    usage_type = f"{REGIONS[ri.region].prefix}BoxUsage:{ri.instance_type}"
    eligible = sorted(
        (i for i, line in enumerate(lines) if _is_box_usage(line) and line.meter.usage_type == usage_type),
        key=lambda i: lines[i].resource_id,
    )
    replaced: dict[int, list[Line]] = {}
    remaining = Decimal(pool)
    amortised_rate = _amortised_per_hour(ri)
    columns = _ri_columns(org, ri, day.window)
    for i in eligible:
        if remaining <= 0:
            break
        line = lines[i]
        hours = min(line.amount, remaining)
        remaining -= hours
        amortised = q10(amortised_rate * hours)
        recurring = q10(ri.recurring_hourly * hours)
        discounted = replace(
            _on_demand(line, hours),
            line_item_type="DiscountedUsage",
            rate=_ZERO,
            cost=_ZERO,  # RI-covered hours cost nothing at the line; their cost is in EffectiveCost
            term="Reserved",
            description=f"Linux/UNIX (Amazon VPC), {ri.instance_type} reserved instance applied",
            extra={
                **columns,
                "reservation/AmortizedUpfrontCostForUsage": money_text(amortised),
                "reservation/RecurringFeeForUsage": money_text(recurring),
                "reservation/EffectiveCost": money_text(amortised + recurring),
            },
        )
        replaced[i] = [discounted, *_remainder(line, hours)]
    return _splice(lines, replaced)


def _on_demand(line: Line, amount: Decimal) -> Line:
    """The same usage line for another amount, priced on demand."""
    cost = q10(line.meter.rate * amount)
    return replace(line, amount=amount, cost=cost, public_cost=cost)


def _remainder(line: Line, covered: Decimal) -> list[Line]:
    """What a commitment left of a usage line: nothing, or an on-demand line for the rest."""
    return [_on_demand(line, line.amount - covered)] if line.amount > covered else []


def _splice(lines: list[Line], replaced: Mapping[int, list[Line]]) -> list[Line]:
    return [part for i, line in enumerate(lines) for part in replaced.get(i, [line])]


def _sp_columns(org: Organisation, sp: SavingsPlan, window: Window) -> dict[str, str]:
    start, end = sp_term(sp, window)
    return {
        "savingsPlan/SavingsPlanARN": savings_plan_arn(org, sp),
        "savingsPlan/StartTime": _timestamp_ms(start),
        "savingsPlan/EndTime": _timestamp_ms(end),
        "savingsPlan/OfferingType": "ComputeSavingsPlans",
        "savingsPlan/PaymentOption": sp.payment_option,
        "savingsPlan/PurchaseTerm": f"{sp.term_days // 365}yr",
        "savingsPlan/Region": "",
    }


def _sp_fee_meter() -> Meter:
    return Meter(
        "ComputeSavingsPlans",
        "ComputeSP:1yrNoUpfront",
        "",
        _ZERO,
        "Hrs",
        "Savings Plan",
        "1 year No Upfront Compute Savings Plan",
        priced=False,
    )


def apply_savings_plan(org: Organisation, sp: SavingsPlan, lines: list[Line], day: _Day) -> list[Line]:
    """Cover on-demand EC2 hours with the day's commitment, highest discount first; bill the commitment.

    Covered rows keep their on-demand UnblendedCost and get a matching negative SavingsPlanNegation row;
    the day's SavingsPlanRecurringFee row says how much of the commitment was used.
    """
    hours = _overlap_hours(*sp_term(sp, day.window), day.start, day.data_end)
    if hours == 0:
        return lines
    commitment = q10(sp.hourly_commitment * hours)
    columns = _sp_columns(org, sp, day.window)

    def sp_rate(line: Line) -> Decimal:
        return savings_plan_rate(line.meter.product["instanceType"], line.meter.region)

    # AWS applies a Savings Plan to the usage with the highest discount first.
    eligible = sorted(
        (i for i, line in enumerate(lines) if _is_box_usage(line)),
        key=lambda i: (sp_rate(lines[i]) / lines[i].meter.rate, lines[i].resource_id),
    )
    remaining = commitment
    replaced: dict[int, list[Line]] = {}
    for i in eligible:
        if remaining <= 0:
            break
        line, rate = lines[i], sp_rate(lines[i])
        if q10(rate * line.amount) <= remaining:
            covered_hours, effective = line.amount, q10(rate * line.amount)
        else:  # the commitment runs out part-way through this instance's day: use up exactly what is left
            covered_hours = (remaining / rate).quantize(TEN_PLACES, rounding=ROUND_DOWN)
            effective = remaining
        remaining -= effective
        covered = replace(
            _on_demand(line, covered_hours),  # the line keeps its on-demand cost...
            line_item_type="SavingsPlanCoveredUsage",
            extra={
                **columns,
                "savingsPlan/SavingsPlanRate": money_text(rate),
                "savingsPlan/SavingsPlanEffectiveCost": money_text(effective),
            },
        )
        negation = replace(  # ...which this row takes back out of the unblended total
            line,
            line_item_type="SavingsPlanNegation",
            amount=_ZERO,
            rate=-line.meter.rate,
            cost=-covered.cost,
            public_rate=None,
            public_cost=None,
            description=(f"SavingsPlanNegation used by AccountId : {line.account_id} and UsageSku : {sku(line.meter)}"),
            extra={"savingsPlan/SavingsPlanARN": columns["savingsPlan/SavingsPlanARN"]},
        )
        replaced[i] = [covered, negation, *_remainder(line, covered_hours)]
    fee_meter = _sp_fee_meter()
    fee = Line(
        line_item_type="SavingsPlanRecurringFee",
        account_id=org.account(sp.account).account_id,
        start=day.start,
        end=day.start + timedelta(days=1),
        meter=fee_meter,
        resource_id=columns["savingsPlan/SavingsPlanARN"],
        zone="",
        amount=Decimal(hours),
        rate=sp.hourly_commitment,
        cost=commitment,
        description=fee_meter.description,
        term="",
        extra={
            **columns,
            "savingsPlan/TotalCommitmentToDate": money_text(commitment),
            "savingsPlan/UsedCommitment": money_text(commitment - remaining),
            "savingsPlan/RecurringCommitmentForBillingPeriod": money_text(
                sp.hourly_commitment * _sp_hours_in_month(sp, day)
            ),
            "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod": money_text(_ZERO),
        },
    )
    return [*_splice(lines, replaced), fee]


def _sp_hours_in_month(sp: SavingsPlan, day: _Day) -> int:
    month = day.day.replace(day=1)
    return _overlap_hours(*sp_term(sp, day.window), _midnight(month), _midnight(_next_month(month)))


# ---------------------------------------------------------------------------------------------------
# Billing-period charges
# ---------------------------------------------------------------------------------------------------


def _fee_meter(code: str, usage_type: str = "", region: str = "", **product: str) -> Meter:
    return Meter(code, usage_type, "", _ZERO, "", "", "", region, product, priced=False)


def _period_line(
    line_item_type: str,
    account: Account,
    start: datetime,
    end: datetime,
    meter: Meter,
    cost: Decimal,
    description: str,
    **changes: Any,
) -> Line:
    """A charge for a stretch of the billing period rather than for a resource's day."""
    line = Line(
        line_item_type=line_item_type,
        account_id=account.account_id,
        start=start,
        end=end,
        meter=meter,
        resource_id="",
        zone="",
        amount=Decimal(1),
        rate=None,
        cost=q10(cost),
        description=description,
        term="",
    )
    return replace(line, **changes)


def reserved_instance_charges(
    org: Organisation, ri: ReservedInstances, period_days: Sequence[_Day], lines: Sequence[Line]
) -> list[Line]:
    """The RIFee of the period (plus the upfront Purchase fee in the month the RI was bought)."""
    window = period_days[0].window
    term_start, term_end = ri_term(ri, window)
    unit_hours = sum(_overlap_hours(term_start, term_end, d.start, d.data_end) for d in period_days)
    charges = []
    columns = _ri_columns(org, ri, window)
    payer = org.account(ri.account)
    meter = replace(ec2_meter(ri.instance_type, ri.region), usage_type=f"HeavyUsage:{ri.instance_type}")
    if unit_hours:
        arn = columns["reservation/ReservationARN"]
        used = [
            x
            for x in lines
            if x.line_item_type == "DiscountedUsage" and x.extra.get("reservation/ReservationARN") == arn
        ]
        reserved_hours = Decimal(ri.count * unit_hours)
        used_hours = sum((x.amount for x in used), _ZERO)
        used_amortised = sum((Decimal(x.extra["reservation/AmortizedUpfrontCostForUsage"]) for x in used), _ZERO)
        amortised_fee = q10(_amortised_per_hour(ri) * reserved_hours)
        unused_hours = reserved_hours - used_hours
        start = max(period_days[0].start, term_start)
        charges.append(
            _period_line(
                "RIFee",
                payer,
                start,
                _midnight(_next_month(period_days[0].day)),
                meter,
                ri.recurring_hourly * reserved_hours,
                f"USD {_rate(ri.recurring_hourly)} hourly fee per Linux/UNIX (Amazon VPC), {ri.instance_type} instance",
                amount=reserved_hours,
                rate=ri.recurring_hourly,
                public_rate=None,
                public_cost=_ZERO,
                extra={
                    **columns,
                    "reservation/TotalReservedUnits": quantity_text(reserved_hours),
                    "reservation/UnitsPerReservation": quantity_text(reserved_hours / ri.count),
                    "reservation/UpfrontValue": money_text(ri.upfront_per_instance * ri.count),
                    "reservation/AmortizedUpfrontFeeForBillingPeriod": money_text(amortised_fee),
                    "reservation/UnusedQuantity": quantity_text(unused_hours),
                    "reservation/UnusedRecurringFee": money_text(ri.recurring_hourly * unused_hours),
                    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": money_text(amortised_fee - used_amortised),
                    "reservation/EffectiveCost": money_text(_ZERO),
                },
            )
        )
    if any(d.day == term_start.date() for d in period_days):
        charges.append(
            _period_line(
                "Fee",
                payer,
                term_start,
                term_start + timedelta(days=1),
                meter,
                ri.upfront_per_instance * ri.count,
                f"Sign up charge for subscription: {int(stable_unit('sub', ri.name) * 1e10)}, planId: "
                f"{int(stable_unit('plan', ri.name) * 1e7)}",
                amount=Decimal(ri.count),
                rate=ri.upfront_per_instance,
                bill_type="Purchase",
                invoice="purchase",
                extra={**columns, "reservation/UpfrontValue": money_text(ri.upfront_per_instance * ri.count)},
            )
        )
    return charges


def credit_charges(org: Organisation, period_days: Sequence[_Day], lines: Sequence[Line]) -> list[Line]:
    charges = []
    start, end = period_days[0].start, _midnight(_next_month(period_days[0].day))
    usage_types = {"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation"}
    for credit in org.credits:
        account = org.account(credit.account)
        spent = sum(
            (
                x.cost
                for x in lines
                if x.account_id == account.account_id
                and x.meter.product_code == credit.service_code
                and x.line_item_type in usage_types
            ),
            _ZERO,
        )
        amount = min(credit.monthly_cap, spent)
        if amount > 0:
            charges.append(
                _period_line(
                    "Credit",
                    account,
                    start,
                    end,
                    _fee_meter(credit.service_code),
                    -amount,
                    credit.description,
                )
            )
    return charges


def refund_charges(org: Organisation, period_days: Sequence[_Day]) -> list[Line]:
    charges = []
    days = {d.day for d in period_days}
    for refund in org.refunds:
        day = period_days[0].window.at(refund.at)
        if day in days:
            charges.append(
                _period_line(
                    "Refund",
                    org.account(refund.account),
                    _midnight(day),
                    _midnight(day + timedelta(1)),
                    _fee_meter(refund.service_code),
                    -refund.amount,
                    refund.description,
                    bill_type="Refund",
                    invoice="refund",
                )
            )
    return charges


# AWS Business Support: a percentage of the month's AWS charges, by tier, at least $100.
SUPPORT_TIERS = (
    (Decimal(10_000), Decimal("0.10")),
    (Decimal(80_000), Decimal("0.07")),
    (Decimal(250_000), Decimal("0.05")),
    (None, Decimal("0.03")),
)
SUPPORT_MINIMUM = Decimal(100)


def business_support_fee(charges: Decimal) -> Decimal:
    fee, lower = _ZERO, _ZERO
    for upper, rate in SUPPORT_TIERS:
        top = charges if upper is None else min(charges, upper)
        if top > lower:
            fee += (top - lower) * rate
        if upper is None or charges <= upper:
            break
        lower = upper
    return max(SUPPORT_MINIMUM, fee).quantize(CENT, rounding=ROUND_HALF_UP)


def support_charge(org: Organisation, period_days: Sequence[_Day], lines: Sequence[Line]) -> Line:
    base = sum(
        (x.cost for x in lines if x.bill_type == "Anniversary" and x.line_item_type not in ("Credit", "Tax")),
        _ZERO,
    )
    fee = business_support_fee(base)
    return _period_line(
        "Fee",
        org.payer,
        period_days[0].start,
        _midnight(_next_month(period_days[0].day)),
        _fee_meter("AWSSupportBusiness", "Dollar"),
        fee,
        "AWS Support (Business)",
        rate=fee,
    )


def tax_charges(org: Organisation, period_days: Sequence[_Day], lines: Sequence[Line]) -> list[Line]:
    """Sales tax per account and product code on the period's anniversary charges (net of credits)."""
    base: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for x in lines:
        if x.bill_type == "Anniversary" and x.line_item_type != "Tax":
            base[(x.account_id, x.meter.product_code)] += x.cost
    accounts = {a.account_id: a for a in (org.payer, *org.accounts)}
    start, end = period_days[0].start, _midnight(_next_month(period_days[0].day))
    charges = []
    for (account_id, code), amount in sorted(base.items()):
        tax = (amount * org.sales_tax_rate).quantize(CENT, rounding=ROUND_HALF_UP)
        if tax > 0:
            charges.append(
                _period_line(
                    "Tax",
                    accounts[account_id],
                    start,
                    end,
                    _fee_meter(code),
                    tax,
                    f"Tax for product code {code}",
                    tax_type=TAX_TYPE,
                )
            )
    return charges


# ---------------------------------------------------------------------------------------------------
# Assemblies
# ---------------------------------------------------------------------------------------------------


def assembly_days(window: Window, period: BillingPeriod, data_end: datetime, seed: int) -> list[_Day]:
    """The period's days in the window that an assembly written at `data_end` has data for."""
    days = []
    for index, day in enumerate(window.dates()):
        hours_seen = (data_end - _midnight(day)) // timedelta(hours=1)
        if period.start <= day < period.end and hours_seen > 0:
            days.append(_Day(day, index, min(24, hours_seen), window, seed))
    return days


def assembly_lines(org: Organisation, days: Sequence[_Day]) -> list[Line]:
    """Every line item of one assembly of one billing period."""
    lines: list[Line] = []
    for day in days:
        daily = daily_usage(org, day)
        for ri in org.reserved_instances:
            daily = apply_reserved_instances(org, ri, daily, day)
        for sp in org.savings_plans:
            daily = apply_savings_plan(org, sp, daily, day)
        lines.extend(daily)
    for ri in org.reserved_instances:
        lines.extend(reserved_instance_charges(org, ri, days, lines))
    lines.extend(credit_charges(org, days, lines))
    lines.extend(refund_charges(org, days))
    lines.append(support_charge(org, days, lines))
    lines.extend(tax_charges(org, days, lines))
    return sorted(lines, key=_sort_key)


def _sort_key(line: Line) -> tuple:
    return (
        line.start,
        line.account_id,
        line.meter.product_code,
        line.resource_id,
        line.meter.usage_type,
        line.line_item_type,
    )


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------

# (column, manifest type) in file order; resourceTags/* columns follow, one per tag key in the file.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("identity/LineItemId", "String"),
    ("identity/TimeInterval", "Interval"),
    ("bill/InvoiceId", "String"),
    ("bill/InvoicingEntity", "String"),
    ("bill/BillingEntity", "String"),
    ("bill/BillType", "String"),
    ("bill/PayerAccountId", "String"),
    ("bill/BillingPeriodStartDate", "DateTime"),
    ("bill/BillingPeriodEndDate", "DateTime"),
    ("lineItem/UsageAccountId", "String"),
    ("lineItem/LineItemType", "String"),
    ("lineItem/UsageStartDate", "DateTime"),
    ("lineItem/UsageEndDate", "DateTime"),
    ("lineItem/ProductCode", "String"),
    ("lineItem/UsageType", "String"),
    ("lineItem/Operation", "String"),
    ("lineItem/AvailabilityZone", "String"),
    ("lineItem/ResourceId", "String"),
    ("lineItem/UsageAmount", "BigDecimal"),
    ("lineItem/NormalizationFactor", "OptionalBigDecimal"),
    ("lineItem/NormalizedUsageAmount", "OptionalBigDecimal"),
    ("lineItem/CurrencyCode", "String"),
    ("lineItem/UnblendedRate", "OptionalBigDecimal"),
    ("lineItem/UnblendedCost", "BigDecimal"),
    ("lineItem/BlendedRate", "OptionalBigDecimal"),
    ("lineItem/BlendedCost", "BigDecimal"),
    ("lineItem/LineItemDescription", "String"),
    ("lineItem/TaxType", "OptionalString"),
    ("lineItem/LegalEntity", "String"),
    ("product/ProductName", "OptionalString"),
    ("product/servicecode", "OptionalString"),
    ("product/servicename", "OptionalString"),
    ("product/productFamily", "OptionalString"),
    ("product/region", "OptionalString"),
    ("product/location", "OptionalString"),
    ("product/locationType", "OptionalString"),
    ("product/instanceType", "OptionalString"),
    ("product/instanceFamily", "OptionalString"),
    ("product/vcpu", "OptionalString"),
    ("product/memory", "OptionalString"),
    ("product/operatingSystem", "OptionalString"),
    ("product/tenancy", "OptionalString"),
    ("product/databaseEngine", "OptionalString"),
    ("product/deploymentOption", "OptionalString"),
    ("product/volumeApiName", "OptionalString"),
    ("product/storageClass", "OptionalString"),
    ("product/transferType", "OptionalString"),
    ("product/toLocation", "OptionalString"),
    ("product/usagetype", "OptionalString"),
    ("product/operation", "OptionalString"),
    ("product/sku", "OptionalString"),
    ("pricing/RateCode", "OptionalString"),
    ("pricing/RateId", "OptionalString"),
    ("pricing/currency", "OptionalString"),
    ("pricing/publicOnDemandCost", "OptionalBigDecimal"),
    ("pricing/publicOnDemandRate", "OptionalBigDecimal"),
    ("pricing/term", "OptionalString"),
    ("pricing/unit", "OptionalString"),
    ("pricing/LeaseContractLength", "OptionalString"),
    ("pricing/OfferingClass", "OptionalString"),
    ("pricing/PurchaseOption", "OptionalString"),
    ("reservation/AmortizedUpfrontCostForUsage", "OptionalBigDecimal"),
    ("reservation/AmortizedUpfrontFeeForBillingPeriod", "OptionalBigDecimal"),
    ("reservation/EffectiveCost", "OptionalBigDecimal"),
    ("reservation/EndTime", "OptionalString"),
    ("reservation/ModificationStatus", "OptionalString"),
    ("reservation/NumberOfReservations", "OptionalString"),
    ("reservation/RecurringFeeForUsage", "OptionalBigDecimal"),
    ("reservation/ReservationARN", "OptionalString"),
    ("reservation/StartTime", "OptionalString"),
    ("reservation/TotalReservedUnits", "OptionalString"),
    ("reservation/UnitsPerReservation", "OptionalString"),
    ("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod", "OptionalBigDecimal"),
    ("reservation/UnusedQuantity", "OptionalBigDecimal"),
    ("reservation/UnusedRecurringFee", "OptionalBigDecimal"),
    ("reservation/UpfrontValue", "OptionalBigDecimal"),
    ("savingsPlan/TotalCommitmentToDate", "OptionalBigDecimal"),
    ("savingsPlan/SavingsPlanARN", "OptionalString"),
    ("savingsPlan/SavingsPlanRate", "OptionalBigDecimal"),
    ("savingsPlan/UsedCommitment", "OptionalBigDecimal"),
    ("savingsPlan/SavingsPlanEffectiveCost", "OptionalBigDecimal"),
    ("savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod", "OptionalBigDecimal"),
    ("savingsPlan/RecurringCommitmentForBillingPeriod", "OptionalBigDecimal"),
    ("savingsPlan/StartTime", "OptionalString"),
    ("savingsPlan/EndTime", "OptionalString"),
    ("savingsPlan/OfferingType", "OptionalString"),
    ("savingsPlan/PaymentOption", "OptionalString"),
    ("savingsPlan/PurchaseTerm", "OptionalString"),
    ("savingsPlan/Region", "OptionalString"),
)


def _timestamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def _timestamp_ms(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000Z"


def tag_column(key: str) -> str:
    """`aws:createdBy` -> resourceTags/aws:createdBy; user keys -> resourceTags/user:<key>."""
    return f"resourceTags/{key}" if key.startswith("aws:") else f"resourceTags/user:{key}"


def _code(length: int, *parts: object) -> str:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=20).digest()
    return base64.b32encode(digest).decode()[:length]


def sku(meter: Meter) -> str:
    return _code(16, meter.product_code, meter.usage_type, meter.operation, meter.region)


def _line_item_id(period: BillingPeriod, line: Line) -> str:
    # Like AWS: stable for the same charge across the days of a period (so not unique per row).
    digest = hashlib.blake2b(
        "|".join(
            (
                period.label,
                line.account_id,
                line.line_item_type,
                line.meter.usage_type,
                line.meter.operation,
                line.resource_id,
                line.zone,
                line.bill_type,
            )
        ).encode(),
        digest_size=32,
    ).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower()


def invoice_ids(org: Organisation, period: BillingPeriod, is_open: bool) -> dict[str, str]:
    """Invoice numbers; the anniversary invoice of a month still open is not issued yet (blank)."""

    def number(kind: str) -> str:
        return str(1_000_000_000 + int(stable_unit(org.payer.account_id, period.label, kind) * 8_999_999_999))

    return {
        "anniversary": "" if is_open else number("anniversary"),
        "purchase": number("purchase"),
        "refund": number("refund"),
    }


def render_row(org: Organisation, period: BillingPeriod, line: Line, invoices: Mapping[str, str]) -> dict[str, str]:
    meter = line.meter
    row = {
        "identity/LineItemId": _line_item_id(period, line),
        "identity/TimeInterval": f"{_timestamp(line.start)}/{_timestamp(line.end)}",
        "bill/InvoiceId": invoices[line.invoice],
        "bill/InvoicingEntity": LEGAL_ENTITY,
        "bill/BillingEntity": "AWS",
        "bill/BillType": line.bill_type,
        "bill/PayerAccountId": org.payer.account_id,
        "bill/BillingPeriodStartDate": _timestamp(_midnight(period.start)),
        "bill/BillingPeriodEndDate": _timestamp(_midnight(period.end)),
        "lineItem/UsageAccountId": line.account_id,
        "lineItem/LineItemType": line.line_item_type,
        "lineItem/UsageStartDate": _timestamp(line.start),
        "lineItem/UsageEndDate": _timestamp(line.end),
        "lineItem/ProductCode": meter.product_code,
        "lineItem/UsageType": meter.usage_type,
        "lineItem/Operation": meter.operation,
        "lineItem/AvailabilityZone": line.zone,
        "lineItem/ResourceId": line.resource_id,
        "lineItem/UsageAmount": quantity_text(line.amount),
        "lineItem/CurrencyCode": "USD",
        "lineItem/UnblendedRate": "" if line.rate is None else money_text(line.rate),
        "lineItem/UnblendedCost": money_text(line.cost),
        # One payer, no consolidated-billing blending: blended equals unblended.
        "lineItem/BlendedRate": "" if line.rate is None else money_text(line.rate),
        "lineItem/BlendedCost": money_text(line.cost),
        "lineItem/LineItemDescription": line.description,
        "lineItem/TaxType": line.tax_type,
        "lineItem/LegalEntity": LEGAL_ENTITY,
        "product/ProductName": PRODUCT_NAMES[meter.product_code],
    }
    instance_type = meter.product.get("instanceType", "")
    if meter.product_code == "AmazonEC2" and instance_type in INSTANCE_TYPES:
        factor = normalization_factor(instance_type)
        row["lineItem/NormalizationFactor"] = quantity_text(factor)
        row["lineItem/NormalizedUsageAmount"] = quantity_text(factor * line.amount)
    if meter.priced:
        code = sku(meter)
        # Offer term codes: JRTCKXETXF is On-Demand, HU7G6KETJZ a 1-year Partial Upfront reservation.
        reserved = line.term == "Reserved" or "reservation/ReservationARN" in line.extra
        offer = "HU7G6KETJZ" if reserved else "JRTCKXETXF"
        row.update(
            {
                "product/servicecode": meter.product_code,
                "product/servicename": PRODUCT_NAMES[meter.product_code],
                "product/productFamily": meter.family,
                "product/region": meter.region,
                "product/location": REGIONS[meter.region].location,
                "product/locationType": "AWS Region",
                "product/usagetype": meter.usage_type,
                "product/operation": meter.operation,
                "product/sku": code,
                "pricing/RateCode": f"{code}.{offer}.6YS6EN2CT7",
                "pricing/RateId": str(int(stable_unit(code, offer) * 10**10)),
                "pricing/currency": "USD",
                "pricing/unit": meter.unit,
                "pricing/term": line.term,
            }
        )
        row.update({f"product/{key}": value for key, value in meter.product.items()})
        if line.public_cost is not None:
            row["pricing/publicOnDemandCost"] = money_text(line.public_cost)
        if line.public_rate is not None:
            row["pricing/publicOnDemandRate"] = money_text(line.public_rate)
    row.update(line.extra)
    row.update({tag_column(key): value for key, value in line.tags.items()})
    return row


def render_csv(
    org: Organisation, period: BillingPeriod, lines: Sequence[Line], is_open: bool
) -> tuple[bytes, list[tuple[str, str]]]:
    """The gzipped CSV and the manifest column list (which includes only the tag keys present)."""
    invoices = invoice_ids(org, period, is_open)
    rows = [render_row(org, period, line, invoices) for line in lines]
    tag_columns = sorted({tag_column(key) for line in lines for key in line.tags})
    columns = [*COLUMNS, *((name, "OptionalString") for name in tag_columns)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(name for name, _ in columns)
    writer.writerows([row.get(name, "") for name, _ in columns] for row in rows)
    # mtime=0 and no file name in the gzip header: same input, byte-identical file.
    return gzip.compress(buffer.getvalue().encode(), compresslevel=6, mtime=0), columns


# ---------------------------------------------------------------------------------------------------
# Writing the bucket
# ---------------------------------------------------------------------------------------------------


def period_folder(period: BillingPeriod) -> str:
    return f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"


def assembly_id(seed: int, period: BillingPeriod, number: int) -> str:
    return str(uuid.uuid5(_ASSEMBLY_NAMESPACE, f"{seed}/{period_folder(period)}/{number}"))


def manifest(
    org: Organisation,
    period: BillingPeriod,
    assembly: str,
    columns: Iterable[tuple[str, str]],
    keys: list[str],
) -> dict:
    return {
        "assemblyId": assembly,
        "account": org.payer.account_id,
        "columns": [
            {"category": name.split("/", 1)[0], "name": name.split("/", 1)[1], "type": kind} for name, kind in columns
        ],
        "charset": "UTF-8",
        "compression": "GZIP",
        "contentType": "text/csv",
        "reportId": hashlib.sha256(f"{org.payer.account_id}/{REPORT_NAME}".encode()).hexdigest(),
        "reportName": REPORT_NAME,
        "billingPeriod": {
            "start": f"{period.start:%Y%m%d}T000000.000Z",
            "end": f"{period.end:%Y%m%d}T000000.000Z",
        },
        "bucket": BUCKET,
        "reportKeys": keys,
        "additionalArtifactKeys": [],
    }


@dataclass
class _Written:
    files: list[Path] = field(default_factory=list)
    data_files: list[Path] = field(default_factory=list)
    superseded: list[Path] = field(default_factory=list)
    row_counts: dict[BillingPeriod, int] = field(default_factory=dict)
    totals: dict[BillingPeriod, Decimal] = field(default_factory=dict)


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _json(document: dict) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def write_cur(org: Organisation, window: Window, root: Path, seed: int) -> ProviderExport:
    """Write every billing period of the window under `root` (the bucket's root) and say what was written."""
    written = _Written()
    periods = window.billing_periods()
    newest_end = _midnight(window.end)
    for period in periods:
        folder = f"{PREFIX}/{REPORT_NAME}/{period_folder(period)}"
        # The open month also keeps an older assembly, written SUPERSEDED_LAG earlier (>= 14 h into it).
        ends = [newest_end]
        if period == periods[-1]:
            first_hour = _midnight(max(period.start, window.first_day))
            ends.insert(0, max(newest_end - SUPERSEDED_LAG, first_hour + timedelta(hours=14)))
        for number, data_end in enumerate(ends, start=1):
            lines = assembly_lines(org, assembly_days(window, period, data_end, seed))
            content, columns = render_csv(org, period, lines, is_open=period == periods[-1])
            assembly = assembly_id(seed, period, number)
            key = f"{folder}/{assembly}/{REPORT_NAME}-1.csv.gz"
            document = _json(manifest(org, period, assembly, columns, [key]))
            files = [
                _write(root / key, content),
                _write(root / folder / assembly / f"{REPORT_NAME}-Manifest.json", document),
            ]
            written.files.extend(files)
            if data_end == newest_end:
                # The period-root manifest names the current assembly: what AWS readers must follow.
                written.files.append(_write(root / folder / f"{REPORT_NAME}-Manifest.json", document))
                written.data_files.append(files[0])
                written.row_counts[period] = len(lines)
                written.totals[period] = sum((line.cost for line in lines), _ZERO)
            else:
                written.superseded.extend(files)
    return ProviderExport(
        provider="aws",
        root=root,
        files=tuple(sorted(written.files)),
        billing_periods=tuple(periods),
        data_files=tuple(written.data_files),
        superseded_files=tuple(sorted(written.superseded)),
        row_counts=written.row_counts,
        totals=written.totals,
    )
