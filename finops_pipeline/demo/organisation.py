"""Larkspur Commerce: the fictional company whose bills the demo generates, written down as plain data.

Everything a provider renderer needs is here: the teams and their owners, the cloud accounts, every
billable resource with the tags its engineers gave it (with the usual mess), the commitments bought, and
how demand moves with the calendar. Nothing here knows a billing format; `aws.py` (and later Azure, GCP
and Kubernetes renderers) turn it into native exports.

Times are given relative to the generated window (fractions of it, or days before it), so any
`end_date`/`days` gives a coherent story: the RI bought early in the window, the GPU experiment that runs
for a few weeks in the middle, the NAT incident, the refund that follows it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType


@dataclass(frozen=True)
class Team:
    key: str  # the canonical value a clean `team` tag would carry
    name: str
    cost_center: str  # canonical form "CC-nnnn"; tags spell it in other ways too
    owner: str  # e-mail of the accountable manager
    headcount: int  # a driver for shared-cost allocation


@dataclass(frozen=True)
class Account:
    provider: str  # "aws" (later also "azure", "gcp")
    account_id: str  # always a string: AWS ids keep their leading zeros
    name: str
    team: str  # Team.key owning the account: the fallback when a resource is untagged
    owner: str
    environment: str


@dataclass(frozen=True)
class DemandProfile:
    """How a workload's usage follows the calendar: weekday shape x weekly growth x small noise."""

    weekday_factors: tuple[float, float, float, float, float, float, float]  # Monday .. Sunday
    weekly_growth: float = 0.0  # compound growth per week, 0.015 = +1.5 %/week
    noise: float = 0.0  # half-width of the uniform multiplicative noise, 0.05 = +-5 %

    def factor(self, day_index: int, weekday: int, unit_noise: float) -> float:
        """Demand on day `day_index` of the window relative to the first day (noise from [0, 1))."""
        growth = (1.0 + self.weekly_growth) ** (day_index / 7.0)
        return self.weekday_factors[weekday] * growth * (1.0 + self.noise * (2.0 * unit_noise - 1.0))


FLAT = "flat"
PROFILES: Mapping[str, DemandProfile] = MappingProxyType(
    {
        # Always-on things (databases, bastions, gateways): no shape, no growth.
        FLAT: DemandProfile((1.0,) * 7),
        # Customer-facing traffic: a dip at the weekend, ~1.5 %/week growth.
        "web": DemandProfile((1.0, 1.03, 1.04, 1.02, 0.97, 0.74, 0.70), weekly_growth=0.015, noise=0.04),
        # Batch and ETL: office-hours driven, little at the weekend.
        "batch": DemandProfile((1.0, 1.0, 1.02, 1.0, 0.95, 0.35, 0.30), weekly_growth=0.02, noise=0.08),
        # CI runners: almost nothing at the weekend.
        "ci": DemandProfile((1.0, 1.05, 1.05, 1.0, 0.9, 0.12, 0.10), weekly_growth=0.01, noise=0.10),
        # Stored data only grows, smoothly.
        "storage": DemandProfile((1.0,) * 7, weekly_growth=0.015),
    }
)


@dataclass(frozen=True)
class Resource:
    """One billable thing, or for `ec2` an autoscaling group of identical instances.

    An ec2 group wants `instances x demand` instances, kept between `min_count` and `max_count`; instance
    k runs for the share of the day the group wants more than k, so groups shrink at the weekend and grow
    with the business. Quantities are the values on the first day of the window, before demand.
    """

    name: str  # stable logical name; seeds resource ids (so ids do not change with the seed)
    account: str  # Account.name
    service: str  # "ec2" | "ebs" | "rds" | "s3" | "nat" | "alb" | "eks" | "logs" | "metrics"
    region: str
    size: str = ""  # instance type, db class, volume type
    profile: str = FLAT  # DemandProfile name
    tags: Mapping[str, str] = field(default_factory=dict)
    # Lifetime as fractions of the window (0.0 = its first hour, 1.0 = after its last one).
    active: tuple[float, float] = (0.0, 1.0)
    # ec2: group size, and a gp3 root volume per instance (tagged only if the launch template says so).
    instances: float = 1.0
    min_count: int = 1
    max_count: int = 1
    root_volume_gb: int = 0
    tag_root_volume: bool = False
    stored_gb: float = 0.0  # ebs volume size, s3 bucket size, rds allocated storage
    daily_gb: float = 0.0  # nat: GB processed; alb: GB out to the internet; logs: GB ingested
    daily_lcu: float = 0.0  # alb: load balancer capacity unit-hours per day
    daily_puts: float = 0.0  # s3: tier-1 (PUT/COPY/POST/LIST) requests per day
    daily_gets: float = 0.0  # s3: tier-2 (GET and others) requests per day
    metrics: int = 0  # cloudwatch: custom metrics kept


@dataclass(frozen=True)
class ReservedInstances:
    """A standard EC2 RI purchase, shared across the organisation (regional, Linux, shared tenancy)."""

    name: str
    account: str  # purchasing account (the payer)
    region: str
    instance_type: str
    count: int
    upfront_per_instance: Decimal
    recurring_hourly: Decimal  # per instance-hour, billed whether used or not
    purchased_at: float  # fraction of the window; the RI starts at 00:00 UTC that day
    term_days: int = 365
    payment_option: str = "Partial Upfront"
    offering_class: str = "standard"


@dataclass(frozen=True)
class SavingsPlan:
    """A Compute Savings Plan: an hourly $ commitment applied to the most discounted eligible usage."""

    name: str
    account: str
    hourly_commitment: Decimal
    started_days_before_window: int
    term_days: int = 365
    payment_option: str = "No Upfront"


@dataclass(frozen=True)
class Credit:
    """A promotional credit consumed against one account's usage of one service, up to a monthly cap."""

    account: str
    service_code: str
    monthly_cap: Decimal
    description: str


@dataclass(frozen=True)
class Refund:
    account: str
    service_code: str
    amount: Decimal  # positive; rendered negative
    at: float  # fraction of the window
    description: str


@dataclass(frozen=True)
class Spike:
    """An incident: a resource's usage multiplied for a few days (something for anomaly detection)."""

    resource: str  # Resource.name
    at: float  # fraction of the window
    days: int
    multiplier: float


@dataclass(frozen=True)
class Organisation:
    name: str
    teams: tuple[Team, ...]
    payer: Account  # the AWS management (payer) account: commitments, Support, consolidated bill
    accounts: tuple[Account, ...]  # usage (linked) accounts, the payer not included
    resources: tuple[Resource, ...]
    reserved_instances: tuple[ReservedInstances, ...]
    savings_plans: tuple[SavingsPlan, ...]
    credits: tuple[Credit, ...]
    refunds: tuple[Refund, ...]
    spikes: tuple[Spike, ...]
    sales_tax_rate: Decimal
    profiles: Mapping[str, DemandProfile] = field(default_factory=lambda: PROFILES)

    def account(self, name: str) -> Account:
        for account in (self.payer, *self.accounts):
            if account.name == name:
                return account
        raise KeyError(name)


def stable_unit(*parts: object) -> float:
    """A uniform number in [0, 1) from its key alone: same key, same number, on every machine and run.

    Keyed noise (rather than one sequential RNG) means a day's numbers do not depend on what else was
    generated, so an older assembly and the newest agree on the days they share.
    """
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def stable_hex(length: int, *parts: object) -> str:
    """A stable lowercase hex string, for resource ids that look like the real thing."""
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=32).hexdigest()[:length]


# ---------------------------------------------------------------------------------------------------
# The company
# ---------------------------------------------------------------------------------------------------

TEAMS = (
    Team("platform", "Platform Engineering", "CC-1001", "maya.okafor@larkspur.example", 14),
    Team("payments", "Payments", "CC-2001", "jonas.berg@larkspur.example", 11),
    Team("data", "Data & Analytics", "CC-3001", "priya.raman@larkspur.example", 9),
    Team("ml", "Machine Learning", "CC-4001", "luis.ortega@larkspur.example", 5),
)

AWS_PAYER = Account(
    "aws", "771455802306", "larkspur-management", "platform", "finance@larkspur.example", "prod"
)

AWS_ACCOUNTS = (
    Account("aws", "318204657114", "platform-prod", "platform", "maya.okafor@larkspur.example", "prod"),
    Account("aws", "048213575790", "payments-prod", "payments", "jonas.berg@larkspur.example", "prod"),
    Account("aws", "527390418862", "data-prod", "data", "priya.raman@larkspur.example", "prod"),
    Account("aws", "009871234561", "ml-sandbox", "ml", "luis.ortega@larkspur.example", "sandbox"),
    Account("aws", "694027185530", "shared-services", "platform", "maya.okafor@larkspur.example", "shared"),
)

_TERRAFORM = "AssumedRole:AROA4QX7ZK2TERRAFORM:terraform-ci"
_CONSOLE = "IAMUser:AIDA6LKQ3EXAMPLEUSER:luis.ortega"


def _tags(**values: str) -> Mapping[str, str]:
    """Tag dicts from keyword arguments; `aws_` becomes the `aws:` prefix and `_` a dash in user keys."""
    tags = {}
    for key, value in values.items():
        if key.startswith("aws_"):
            tags["aws:" + key[4:]] = value
        else:
            tags[key.replace("_", "-")] = value
    return MappingProxyType(tags)


def _eks_tags(cluster: str, nodegroup: str) -> Mapping[str, str]:
    # What an EKS managed node group puts on its instances, plus our own keys (clean, the good example).
    return MappingProxyType(
        {
            "team": "platform",
            "env": "prod",
            "cost-center": "CC-1001",
            "eks:cluster-name": cluster,
            "eks:nodegroup-name": nodegroup,
            "aws:eks:cluster-name": cluster,
            "aws:createdBy": _TERRAFORM,
        }
    )


_PLATFORM = _tags(team="platform", env="prod", cost_center="CC-1001", aws_createdBy=_TERRAFORM)
_PAYMENTS = _tags(team="payments", env="prod", cost_center="CC-2001", aws_createdBy=_TERRAFORM)

# fmt: off
AWS_RESOURCES = (
    # --- platform-prod: the EKS cluster everything customer-facing runs on ---------------------------
    Resource(name="platform-prod", account="platform-prod", service="eks", region="us-east-1",
             tags=_PLATFORM),
    # The general node group's launch template does not tag its volumes: a classic hole in tag coverage.
    Resource(name="platform-prod-general", account="platform-prod", service="ec2", region="us-east-1",
             size="m6i.2xlarge", profile="web", tags=_eks_tags("platform-prod", "general"),
             instances=7, min_count=4, max_count=12, root_volume_gb=100),
    Resource(name="platform-prod-compute", account="platform-prod", service="ec2", region="us-east-1",
             size="c6i.2xlarge", profile="web", tags=_eks_tags("platform-prod", "compute"),
             instances=3, min_count=2, max_count=6, root_volume_gb=80, tag_root_volume=True),
    Resource(name="platform-prod-ingress", account="platform-prod", service="alb", region="us-east-1",
             profile="web", tags=_PLATFORM, daily_lcu=38, daily_gb=420),
    # Nobody tagged the NAT gateways.
    Resource(name="platform-prod-nat", account="platform-prod", service="nat", region="us-east-1",
             profile="web", daily_gb=260),
    Resource(name="/aws/eks/platform-prod/cluster", account="platform-prod", service="logs",
             region="us-east-1", profile="web", tags=_tags(team="platform", env="prod"), daily_gb=14),
    # --- payments-prod: the money path (RI-covered m6i.xlarge fleet, Multi-AZ Postgres) -------------
    Resource(name="payments-api", account="payments-prod", service="ec2", region="us-east-1",
             size="m6i.xlarge", profile="web", tags=_PAYMENTS,
             instances=5, min_count=3, max_count=8, root_volume_gb=50, tag_root_volume=True),
    # Mis-cased key `Team` and a differently spelled cost centre.
    Resource(name="payments-worker", account="payments-prod", service="ec2", region="us-east-1",
             size="m6i.large", profile="web",
             tags=_tags(Team="payments", env="prod", cost_center="cc-2001", aws_createdBy=_TERRAFORM),
             instances=2, min_count=2, max_count=3, root_volume_gb=30, tag_root_volume=True),
    # Typo in the team value: launched by hand from the console.
    Resource(name="payments-reconciler", account="payments-prod", service="ec2", region="us-east-1",
             size="m6i.xlarge",
             tags=_tags(team="paymnets", env="prod", cost_center="CC-2001", aws_createdBy=_CONSOLE),
             root_volume_gb=50, tag_root_volume=True),
    Resource(name="payments-prod-pg", account="payments-prod", service="rds", region="us-east-1",
             size="db.r6g.xlarge", tags=_tags(team="payments", env="production", cost_center="CC-2001"),
             stored_gb=500),
    Resource(name="larkspur-payments-receipts", account="payments-prod", service="s3", region="us-east-1",
             profile="storage", tags=_tags(team="payments", env="prod", cost_center="CC-2001"),
             stored_gb=3_800, daily_puts=210_000, daily_gets=2_600_000),
    Resource(name="/ecs/payments-api", account="payments-prod", service="logs", region="us-east-1",
             profile="web", tags=_tags(team="payments", env="prod"), daily_gb=6),
    # --- data-prod: batch ETL (mixed-case team values), the data lake, an EU copy --------------------
    Resource(name="data-etl-batch", account="data-prod", service="ec2", region="us-east-1",
             size="r6i.2xlarge", profile="batch",
             tags=_tags(team="Data", env="prod", cost_center="CC-3001", aws_createdBy=_TERRAFORM),
             instances=4, min_count=1, max_count=7, root_volume_gb=200, tag_root_volume=True),
    Resource(name="data-etl-eu", account="data-prod", service="ec2", region="eu-west-1",
             size="m6i.xlarge", profile="batch",
             tags=_tags(Team="data", env="prod", cost_center="3001", aws_createdBy=_TERRAFORM),
             root_volume_gb=100, tag_root_volume=True),
    Resource(name="larkspur-data-lake", account="data-prod", service="s3", region="us-east-1",
             profile="storage", tags=_tags(team="data", env="prod", cost_center="CC-3001"),
             stored_gb=41_000, daily_puts=1_400_000, daily_gets=9_000_000),
    Resource(name="larkspur-data-lake-eu", account="data-prod", service="s3", region="eu-west-1",
             profile="storage", tags=_tags(team="Data", env="prod", cost_center="CC-3001"),
             stored_gb=6_500, daily_puts=90_000, daily_gets=700_000),
    Resource(name="data-prod-nat", account="data-prod", service="nat", region="us-east-1",
             profile="batch", tags=_tags(team="data", env="prod"), daily_gb=180),
    # --- ml-sandbox: a notebook box nobody tagged, a GPU experiment, its orphaned data volume --------
    Resource(name="ml-notebook", account="ml-sandbox", service="ec2", region="us-east-1",
             size="t3.xlarge", root_volume_gb=200),
    Resource(name="ml-gpu-finetune", account="ml-sandbox", service="ec2", region="us-east-1",
             size="g5.2xlarge", active=(0.45, 0.705),
             tags=_tags(team="ML", env="sandbox", project="llm-finetune", aws_createdBy=_CONSOLE),
             root_volume_gb=100, tag_root_volume=True),
    # Created with the GPU box and never deleted when it stopped: an unattached volume to find.
    Resource(name="ml-finetune-data", account="ml-sandbox", service="ebs", region="us-east-1",
             size="gp3", active=(0.45, 1.0), stored_gb=1_000),
    Resource(name="larkspur-ml-datasets", account="ml-sandbox", service="s3", region="us-east-1",
             profile="storage", tags=_tags(team="ml", env="sandbox", cost_center="CC-4001"),
             stored_gb=2_200, daily_puts=8_000, daily_gets=60_000),
    # --- shared-services: CI, a previous-generation bastion, central monitoring ----------------------
    Resource(name="ci-runners", account="shared-services", service="ec2", region="us-east-1",
             size="c6i.2xlarge", profile="ci",
             tags=_tags(team="platform", env="ci", cost_center="cc-1001", aws_createdBy=_TERRAFORM),
             instances=3, min_count=0, max_count=6, root_volume_gb=100, tag_root_volume=True),
    Resource(name="bastion", account="shared-services", service="ec2", region="us-east-1",
             size="m4.large", tags=_tags(team="platform", env="Production", cost_center="CC-1001"),
             root_volume_gb=20, tag_root_volume=True),
    Resource(name="shared-nat", account="shared-services", service="nat", region="us-east-1",
             profile="ci", daily_gb=45),
    Resource(name="central-monitoring", account="shared-services", service="metrics", region="us-east-1",
             metrics=2_400),
)
# fmt: on

ORGANISATION = Organisation(
    name="Larkspur Commerce",
    teams=TEAMS,
    payer=AWS_PAYER,
    accounts=AWS_ACCOUNTS,
    resources=AWS_RESOURCES,
    reserved_instances=(
        # Sized on the payments fleet's weekday floor: fully used in the week, some unused at weekends.
        ReservedInstances(
            name="payments-m6i-xlarge",
            account="larkspur-management",
            region="us-east-1",
            instance_type="m6i.xlarge",
            count=6,
            upfront_per_instance=Decimal("490.00"),
            recurring_hourly=Decimal("0.0560"),
            purchased_at=0.12,
        ),
    ),
    savings_plans=(
        # Sized a little above the weekend baseline: a few unused dollars on quiet days.
        SavingsPlan(
            name="compute-1yr",
            account="larkspur-management",
            hourly_commitment=Decimal("4.200"),
            started_days_before_window=120,
        ),
    ),
    credits=(
        Credit(
            account="ml-sandbox",
            service_code="AmazonEC2",
            monthly_cap=Decimal("750.00"),
            description="AWS Promotional Credit - ML research program",
        ),
    ),
    refunds=(
        # A courtesy refund after the NAT incident below.
        Refund(
            account="data-prod",
            service_code="AmazonEC2",
            amount=Decimal("180.00"),
            at=0.62,
            description="Refund for NAT Gateway data processing - support case 174223901",
        ),
    ),
    spikes=(
        # A job pulled the data lake through the NAT gateway for two days.
        Spike(resource="data-prod-nat", at=0.56, days=2, multiplier=9.0),
    ),
    sales_tax_rate=Decimal("0.0625"),
)


def build_organisation() -> Organisation:
    """The demo company. A function so later variants (more providers, other sizes) have one seam."""
    return ORGANISATION
