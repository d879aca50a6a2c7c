"""Larkspur Commerce: the fictional company whose bills the demo generates, written down as plain data.

Everything a provider renderer needs is here: the teams and their owners, the cloud accounts, every
billable resource with the tags its engineers gave it (with the usual mess), the commitments bought, and
how demand moves with the calendar. Nothing here knows a billing format; `aws.py`, `azure.py`, `gcp.py` and
`kubernetes.py` turn it into native exports. The AWS organisation is the top level; the Azure enrollment and
the GCP billing account are `Estate`s (same vocabulary: accounts, resources, commitments, credits), and the
Kubernetes `Cluster`s run on node pools that are AWS EC2 groups and Azure scale sets defined here.

Times are given relative to the generated window (fractions of it, or days before it), so any
`end_date`/`days` gives a coherent story: the RI bought early in the window, the GPU experiment that runs
for a few weeks in the middle, the NAT incident, the refund that follows it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
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
    # Labels set on the account itself (GCP project labels); AWS and Azure accounts carry none here.
    labels: Mapping[str, str] = field(default_factory=dict)


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
class CommittedUseDiscount:
    """A GCP resource-based commitment: vCPUs and memory of one machine series in one region, one project."""

    name: str
    account: str  # Account.name of the project that bought it (the discount applies to that project only)
    region: str
    series: str  # machine series, "n2"
    vcpus: int
    memory_gb: int
    started_days_before_window: int
    term_days: int = 365


@dataclass(frozen=True)
class FlexibleCommittedUseDiscount:
    """A GCP spend-based commitment (a Compute flexible CUD) in Google's consumption-model billing: a
    `hourly_commitment` of discounted spend an hour on the eligible Compute Engine usage of any project in
    `region`, which is priced `discount` below its on-demand price."""

    name: str
    account: str  # Account.name of the project that bought it: the fee nobody used is billed there
    region: str
    hourly_commitment: Decimal
    discount: Decimal
    started_days_before_window: int
    term_days: int = 365


@dataclass(frozen=True)
class Estate:
    """The company's billing account at another provider (an Azure EA enrollment, a GCP billing account).

    It reuses the AWS vocabulary: `accounts` are subscriptions or projects, `resources` use provider-specific
    `service` kinds (see `azure.py` and `gcp.py`), `reservations` are Azure VM reservations bought All Upfront
    (`recurring_hourly` 0), `commitments` GCP resource-based committed use discounts,
    `flexible_commitments` GCP spend-based ones, `credits` promotional credits.
    """

    provider: str
    billing_account_id: str
    billing_account_name: str
    accounts: tuple[Account, ...]
    resources: tuple[Resource, ...]
    reservations: tuple[ReservedInstances, ...] = ()
    commitments: tuple[CommittedUseDiscount, ...] = ()
    flexible_commitments: tuple[FlexibleCommittedUseDiscount, ...] = ()
    credits: tuple[Credit, ...] = ()

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)

    def resource(self, name: str) -> Resource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)


@dataclass(frozen=True)
class Container:
    name: str
    cpu_request: float  # cores
    memory_request_mib: int
    cpu_utilisation: float  # average usage / request (0.002: abandoned; > 1: bursting past its request)
    memory_utilisation: float


@dataclass(frozen=True)
class Workload:
    """A Kubernetes controller and its pods' containers. Deployments scale with the demand of their node pool.

    `replicas` is the count when the pool's demand factor is 1; daemonsets run one pod per node of `pools`
    (every pool when empty).
    """

    namespace: str
    name: str
    kind: str  # "deployment" | "statefulset" | "daemonset"
    containers: tuple[Container, ...]
    pools: tuple[str, ...] = ()  # NodePool.name the pods may run on (node selector); () = any
    replicas: float = 1.0
    min_replicas: int = 1
    max_replicas: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)  # pod labels, OpenCost-sanitised keys
    services: tuple[str, ...] = ()
    volume_gb: int = 0  # one persistent volume per pod (statefulsets)
    # The AWS Resource (service "ebs") the EBS CSI driver created for that volume: OpenCost reports it as the
    # claim's providerID, so allocation can price the claim from the bill. Empty: the volume is not billed here.
    volume_resource: str = ""


@dataclass(frozen=True)
class NodePool:
    name: str  # the pool / managed node group name as Kubernetes labels it
    resource: str  # Resource.name of the EC2 autoscaling group or the VM scale set running it


@dataclass(frozen=True)
class Cluster:
    name: str  # the cluster name OpenCost reports (and the folder its allocation files are kept in)
    provider: str  # "aws" | "azure": where the nodes are billed
    pools: tuple[NodePool, ...]
    namespace_labels: Mapping[str, Mapping[str, str]]  # namespace -> labels (OpenCost-sanitised keys)
    workloads: tuple[Workload, ...]


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
    azure: Estate | None = None  # the EA enrollment
    gcp: Estate | None = None  # the GCP billing account
    clusters: tuple[Cluster, ...] = ()  # Kubernetes clusters running on the AWS and Azure nodes

    def account(self, name: str) -> Account:
        for account in (self.payer, *self.accounts):
            if account.name == name:
                return account
        raise KeyError(name)

    def demand(
        self, resource: Resource, day: date, day_index: int, window_first_day: date, days: int, seed: int
    ) -> float:
        """The resource's demand on `day` (the AWS renderer's rule, for every provider): its profile's
        calendar factor with keyed noise, times any spike on it that day."""
        noise = stable_unit(seed, resource.name, day.isoformat(), resource.profile)
        factor = self.profiles[resource.profile].factor(day_index, day.weekday(), noise)
        for spike in self.spikes:
            offset = min(days - 1, max(0, int(spike.at * days)))
            spike_start = window_first_day + timedelta(days=offset)
            if spike.resource == resource.name and spike_start <= day < spike_start + timedelta(spike.days):
                factor *= spike.multiplier
        return factor


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

AWS_PAYER = Account("aws", "771455802306", "larkspur-management", "platform", "finance@larkspur.example", "prod")

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
    # Prometheus's persistent volume, created by the EBS CSI driver: tagged with the claim, not with a team.
    Resource(name="eks-prod-prometheus-data", account="platform-prod", service="ebs", region="us-east-1",
             size="gp3", stored_gb=200,
             tags=MappingProxyType({"kubernetes.io/created-for/pvc/namespace": "monitoring",
                                    "kubernetes.io/created-for/pvc/name": "storage-prometheus-server-0",
                                    "ebs.csi.aws.com/cluster": "true"})),
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

# ---------------------------------------------------------------------------------------------------
# Azure: one EA enrollment, two subscriptions (AKS platform, data)
# ---------------------------------------------------------------------------------------------------
#
# Resource kinds (see azure.py): "aks" (the cluster's Standard tier fee), "vmss" (a scale set, sized like an
# ec2 group: one VM per instance slot), "vm", "sql" (a vCore database: `size` GP_Gen5_<vCores>, `stored_gb`),
# "storage" (Hot LRS blob: `stored_gb`, write/read operations in `daily_puts`/`daily_gets`, egress in
# `daily_gb`), "public_ip" (a Standard static IP, egress in `daily_gb`). `region` is the ARM location.

AZURE_SUBSCRIPTIONS = (
    Account("azure", "3f6c2a1e-8b4d-4e27-9a51-0c7d2e9b8f14", "larkspur-platform-prod", "platform",
            "maya.okafor@larkspur.example", "prod"),
    Account("azure", "b82e5d07-1c39-4f6a-8e2b-5a4c9d7f1e63", "larkspur-data-prod", "data",
            "priya.raman@larkspur.example", "prod"),
)  # fmt: skip


def _aks_node_tags(pool: str) -> Mapping[str, str]:
    # What AKS stamps on a node pool's scale set, plus our own keys.
    return MappingProxyType(
        {
            "aks-managed-createOperationID": stable_hex(8, "aks-op", pool) + "-6c1d-4b7e-9f3a-2d5e8c1b7a90",
            "aks-managed-creationSource": f"vmssclient-aks-{pool}-31415926-vmss",
            "aks-managed-orchestrator": "Kubernetes:1.30.6",
            "aks-managed-poolName": pool,
            "aks-managed-resourceNameSuffix": "31415926",
            "team": "platform",
            "env": "prod",
        }
    )


# fmt: off
AZURE_RESOURCES = (
    # --- larkspur-platform-prod: the AKS cluster (see CLUSTERS), its egress and a storage account --------
    Resource(name="aks-prod", account="larkspur-platform-prod", service="aks", region="eastus",
             tags=_tags(team="platform", env="prod", costcenter="CC-1001")),
    Resource(name="aks-prod-system", account="larkspur-platform-prod", service="vmss", region="eastus",
             size="Standard_D4s_v5", tags=_aks_node_tags("system"), instances=3, min_count=3, max_count=3),
    # The user pool autoscales with the business: the reservation below covers its weekday floor.
    Resource(name="aks-prod-user", account="larkspur-platform-prod", service="vmss", region="eastus",
             size="Standard_D8s_v5", profile="web", tags=_aks_node_tags("user"),
             instances=4, min_count=2, max_count=6),
    Resource(name="aks-prod-ingress-ip", account="larkspur-platform-prod", service="public_ip",
             region="eastus", profile="web", tags=_tags(team="platform", env="prod"), daily_gb=180),
    Resource(name="stlarkspurplatform", account="larkspur-platform-prod", service="storage", region="eastus",
             profile="storage", tags=_tags(team="platform", env="prod", costcenter="CC-1001"),
             stored_gb=2_500, daily_puts=40_000, daily_gets=350_000, daily_gb=4),
    # --- larkspur-data-prod: a gateway VM (PascalCase keys), an untagged database, the data lake -------
    Resource(name="vm-data-gateway", account="larkspur-data-prod", service="vm", region="eastus",
             size="Standard_E4s_v5",
             tags=_tags(Team="Data", Environment="Production", CostCenter="3001")),
    Resource(name="sqldb-analytics", account="larkspur-data-prod", service="sql", region="eastus",
             size="GP_Gen5_4", stored_gb=500),
    Resource(name="stlarkspurdatalake", account="larkspur-data-prod", service="storage", region="eastus",
             profile="storage", tags=_tags(team="data", env="prod", CostCenter="CC-3001"),
             stored_gb=18_000, daily_puts=600_000, daily_gets=4_200_000, daily_gb=35),
)
# fmt: on

AZURE_ESTATE = Estate(
    provider="azure",
    billing_account_id="86104237",
    billing_account_name="Larkspur Commerce",
    accounts=AZURE_SUBSCRIPTIONS,
    resources=AZURE_RESOURCES,
    reservations=(
        # A 1-year All Upfront reservation of four D8s v5 in East US, shared scope: fully used on weekdays,
        # partly unused at weekends when the user pool shrinks.
        ReservedInstances(
            name="aks-user-d8sv5-1yr",
            account="larkspur-platform-prod",
            region="eastus",
            instance_type="Standard_D8s_v5",
            count=4,
            upfront_per_instance=Decimal("1999.00"),
            recurring_hourly=Decimal(0),
            purchased_at=0.15,
            payment_option="All Upfront",
        ),
    ),
)

# ---------------------------------------------------------------------------------------------------
# GCP: one billing account, three projects
# ---------------------------------------------------------------------------------------------------
#
# Accounts are projects: `account_id` the project id, `name` its display name, `labels` the project labels.
# Resource kinds (see gcp.py): "gce" (instances, sized like an ec2 group, with a balanced PD boot disk of
# `root_volume_gb`), "gcs" (a bucket: `stored_gb`, class A/B operations in `daily_puts`/`daily_gets`),
# "bq" (a dataset: `stored_gb` active storage, `daily_gb` GiB scanned by on-demand queries), "egress"
# (internet egress of a project in `daily_gb`). `region` is the GCP region or multi-region ("us").

GCP_PROJECTS = (
    Account("gcp", "larkspur-analytics", "Larkspur Analytics", "data", "priya.raman@larkspur.example", "prod",
            labels=MappingProxyType({"team": "data", "cost-center": "cc-3001", "env": "prod"})),
    # Nobody set a cost centre on the research project; the owner label is a person.
    Account("gcp", "larkspur-ml-research", "ML Research", "ml", "luis.ortega@larkspur.example", "sandbox",
            labels=MappingProxyType({"team": "ml", "owner": "luis-ortega"})),
    Account("gcp", "larkspur-payments-dr", "Payments DR", "payments", "jonas.berg@larkspur.example", "dr",
            labels=MappingProxyType({"team": "payments", "costcenter": "2001", "env": "dr"})),
)  # fmt: skip

# fmt: off
GCP_RESOURCES = (
    # --- larkspur-analytics: the warehouse, its export bucket (team spelled another way), egress ------
    Resource(name="warehouse", account="Larkspur Analytics", service="bq", region="us", profile="batch",
             tags=_tags(team="data", dataset="warehouse"), stored_gb=24_000, daily_gb=9_000),
    Resource(name="larkspur-analytics-exports", account="Larkspur Analytics", service="gcs", region="us",
             profile="storage", tags=_tags(team="data-eng", env="production"),
             stored_gb=12_000, daily_puts=200_000, daily_gets=1_500_000),
    Resource(name="analytics-egress", account="Larkspur Analytics", service="egress", region="us-central1",
             profile="batch", daily_gb=60),
    # --- larkspur-ml-research: training VMs on the committed N2 cores, a workbench nobody labelled ----
    Resource(name="ml-train", account="ML Research", service="gce", region="us-central1",
             size="n2-standard-8", profile="batch", tags=_tags(team="ml", workload="training"),
             instances=3, min_count=1, max_count=5, root_volume_gb=200),
    Resource(name="ml-workbench", account="ML Research", service="gce", region="us-central1",
             size="n2-standard-4", tags=_tags(owner="luis-ortega"), root_volume_gb=100),
    Resource(name="larkspur-ml-checkpoints", account="ML Research", service="gcs", region="us-central1",
             profile="storage", tags=_tags(team="ml"), stored_gb=5_000, daily_puts=30_000, daily_gets=90_000),
    # --- larkspur-payments-dr: a warm standby database pair, its backups, replication egress -------------
    Resource(name="payments-dr-db", account="Payments DR", service="gce", region="us-east1",
             size="e2-standard-4", tags=_tags(team="payments", env="dr", app="pg-replica"),
             instances=2, min_count=2, max_count=2, root_volume_gb=250),
    Resource(name="larkspur-payments-dr-backups", account="Payments DR", service="gcs", region="us-east1",
             profile="storage", tags=_tags(team="payments"), stored_gb=8_000, daily_puts=20_000, daily_gets=2_000),
    Resource(name="payments-dr-egress", account="Payments DR", service="egress", region="us-east1",
             daily_gb=15),
)
# fmt: on

GCP_ESTATE = Estate(
    provider="gcp",
    billing_account_id="01A7C3-5E92B4-D1F086",
    billing_account_name="Larkspur Commerce",
    accounts=GCP_PROJECTS,
    resources=GCP_RESOURCES,
    commitments=(
        # Sized on the weekday training fleet: unused at weekends, when the batch jobs stop.
        CommittedUseDiscount(
            name="ml-n2-1yr",
            account="ML Research",
            region="us-central1",
            series="n2",
            vcpus=16,
            memory_gb=64,
            started_days_before_window=60,
        ),
    ),
    flexible_commitments=(
        # The DR database pair's E2 cores and memory, bought a little above their discounted cost (0.193/h).
        FlexibleCommittedUseDiscount(
            name="payments-dr-flex-1yr",
            account="Payments DR",
            region="us-east1",
            hourly_commitment=Decimal("0.20"),
            discount=Decimal("0.28"),
            started_days_before_window=90,
        ),
    ),
    credits=(
        Credit(
            account="ML Research",
            service_code="Compute Engine",
            monthly_cap=Decimal("300.00"),
            description="Research credits - ML program",
        ),
    ),
)

# ---------------------------------------------------------------------------------------------------
# Kubernetes: an EKS cluster on the platform-prod node groups, an AKS cluster on the scale sets
# ---------------------------------------------------------------------------------------------------


def _c(name: str, cpu: float, memory_mib: int, cpu_use: float, memory_use: float) -> Container:
    return Container(name, cpu, memory_mib, cpu_use, memory_use)


def _ns(name: str, team: str | None = None) -> Mapping[str, str]:
    labels = {"kubernetes_io_metadata_name": name}
    if team:
        labels["team"] = team
    return MappingProxyType(labels)


def _app(name: str, team: str | None = None, **more: str) -> Mapping[str, str]:
    labels = {"app": name, "app_kubernetes_io_name": name, **more}
    if team:
        labels["team"] = team
    return MappingProxyType(labels)


# fmt: off
EKS_WORKLOADS = (
    # On every node: the VPC CNI, kube-proxy, the EBS CSI node plugin, node-exporter.
    Workload("kube-system", "aws-node", "daemonset", (_c("aws-node", 0.05, 192, 0.45, 0.5),),
             labels=_app("aws-node", k8s_app="aws-node")),
    Workload("kube-system", "kube-proxy", "daemonset", (_c("kube-proxy", 0.1, 64, 0.05, 0.4),),
             labels=_app("kube-proxy", k8s_app="kube-proxy")),
    Workload("kube-system", "ebs-csi-node", "daemonset", (_c("ebs-plugin", 0.02, 80, 0.3, 0.6),),
             labels=_app("ebs-csi-node")),
    Workload("monitoring", "node-exporter", "daemonset", (_c("node-exporter", 0.05, 64, 0.2, 0.4),),
             labels=_app("node-exporter", "platform")),
    Workload("kube-system", "coredns", "deployment", (_c("coredns", 0.1, 70, 0.3, 0.5),),
             pools=("general",), replicas=2, min_replicas=2, max_replicas=2, labels=_app("coredns", k8s_app="kube-dns"),
             services=("kube-dns",)),
    Workload("monitoring", "prometheus-server", "statefulset",
             (_c("prometheus", 2.0, 8192, 0.45, 0.7), _c("config-reloader", 0.05, 64, 0.05, 0.3)),
             pools=("general",), labels=_app("prometheus", "platform"), services=("prometheus-server",),
             volume_gb=200, volume_resource="eks-prod-prometheus-data"),
    Workload("monitoring", "grafana", "deployment", (_c("grafana", 0.25, 512, 0.2, 0.6),),
             pools=("general",), labels=_app("grafana", "platform"), services=("grafana",)),
    Workload("platform", "ingress-nginx-controller", "deployment", (_c("controller", 1.0, 1024, 0.4, 0.5),),
             pools=("general",), replicas=3, min_replicas=2, max_replicas=6,
             labels=_app("ingress-nginx", "platform"), services=("ingress-nginx-controller",)),
    Workload("platform", "cert-manager", "deployment", (_c("cert-manager-controller", 0.1, 128, 0.1, 0.5),),
             pools=("general",), labels=_app("cert-manager", "platform")),
    # Over-provisioned: asks for 1.5 cores per pod and uses a tenth of it.
    Workload("payments", "checkout-web", "deployment",
             (_c("checkout-web", 1.5, 2048, 0.1, 0.35), _c("envoy", 0.1, 128, 0.3, 0.5)),
             pools=("general",), replicas=12, min_replicas=6, max_replicas=20,
             labels=_app("checkout-web", "payments"), services=("checkout-web",)),
    # `team` spelled with a capital P by whoever wrote the Helm values.
    Workload("payments", "payments-gateway", "deployment", (_c("gateway", 1.0, 1024, 0.6, 0.6),),
             pools=("general",), replicas=6, min_replicas=3, max_replicas=10,
             labels=_app("payments-gateway", "Payments"), services=("payments-gateway",)),
    Workload("data", "events-collector", "deployment", (_c("collector", 1.5, 2048, 0.7, 0.6),),
             pools=("compute",), replicas=6, min_replicas=3, max_replicas=12,
             labels=_app("events-collector", "data"), services=("events-collector",)),
    # Under-provisioned: bursts past its CPU request all day (no team label).
    Workload("data", "stream-enricher", "deployment", (_c("enricher", 2.0, 3072, 1.2, 0.75),),
             pools=("compute",), replicas=3, min_replicas=2, max_replicas=6, labels=_app("stream-enricher")),
    Workload("ml", "recsys-inference", "deployment", (_c("model-server", 2.0, 6144, 0.55, 0.8),),
             pools=("compute",), replicas=2, min_replicas=2, max_replicas=2,
             labels=_app("recsys-inference", "ml"), services=("recsys-inference",)),
)

AKS_WORKLOADS = (
    Workload("kube-system", "kube-proxy", "daemonset", (_c("kube-proxy", 0.1, 64, 0.05, 0.4),),
             labels=_app("kube-proxy", component="kube-proxy")),
    Workload("kube-system", "azure-cns", "daemonset", (_c("cns-container", 0.04, 250, 0.2, 0.4),),
             labels=_app("azure-cns", k8s_app="azure-cns")),
    Workload("kube-system", "cloud-node-manager", "daemonset", (_c("cloud-node-manager", 0.05, 50, 0.1, 0.5),),
             labels=_app("cloud-node-manager", component="cloud-node-manager")),
    Workload("monitoring", "node-exporter", "daemonset", (_c("node-exporter", 0.05, 64, 0.2, 0.4),),
             labels=_app("node-exporter", "platform")),
    # The system pool runs only the add-ons: most of its three nodes sits idle.
    Workload("kube-system", "coredns", "deployment", (_c("coredns", 0.1, 70, 0.3, 0.5),),
             pools=("system",), replicas=2, min_replicas=2, max_replicas=2, labels=_app("coredns", k8s_app="kube-dns"),
             services=("kube-dns",)),
    Workload("kube-system", "metrics-server", "deployment", (_c("metrics-server", 0.05, 100, 0.4, 0.5),),
             pools=("system",), replicas=2, min_replicas=2, max_replicas=2, labels=_app("metrics-server")),
    Workload("kube-system", "konnectivity-agent", "deployment", (_c("konnectivity-agent", 0.02, 20, 0.3, 0.6),),
             pools=("system",), replicas=2, min_replicas=2, max_replicas=2, labels=_app("konnectivity-agent")),
    Workload("monitoring", "prometheus-server", "statefulset",
             (_c("prometheus", 1.5, 6144, 0.4, 0.7), _c("config-reloader", 0.05, 64, 0.05, 0.3)),
             pools=("system",), labels=_app("prometheus", "platform"), services=("prometheus-server",),
             volume_gb=100),
    Workload("platform", "ingress-nginx-controller", "deployment", (_c("controller", 0.5, 512, 0.35, 0.5),),
             pools=("user",), replicas=2, min_replicas=2, max_replicas=4,
             labels=_app("ingress-nginx", "platform"), services=("ingress-nginx-controller",)),
    Workload("data", "airflow-scheduler", "deployment", (_c("scheduler", 1.0, 2048, 0.5, 0.6),),
             pools=("user",), labels=_app("airflow-scheduler", "data")),
    Workload("data", "airflow-webserver", "deployment", (_c("webserver", 0.5, 1024, 0.2, 0.6),),
             pools=("user",), labels=_app("airflow-webserver", "data"), services=("airflow-webserver",)),
    Workload("data", "airflow-worker", "deployment", (_c("worker", 2.0, 4096, 0.55, 0.5),),
             pools=("user",), replicas=6, min_replicas=2, max_replicas=10, labels=_app("airflow-worker", "data")),
    Workload("data", "reporting-api", "deployment", (_c("api", 0.5, 1024, 0.4, 0.5),),
             pools=("user",), replicas=3, min_replicas=2, max_replicas=6,
             labels=_app("reporting-api", "data"), services=("reporting-api",)),
    Workload("ml", "feature-store", "deployment", (_c("feast", 1.0, 8192, 0.3, 0.8),),
             pools=("user",), replicas=2, min_replicas=2, max_replicas=2, labels=_app("feature-store", "ml")),
    # Abandoned: a notebook server left running after its project ended; nobody has used it since.
    Workload("ml", "jupyter-legacy", "deployment", (_c("notebook", 2.0, 8192, 0.001, 0.04),),
             pools=("user",), labels=_app("jupyter-legacy", "ml")),
)
# fmt: on

CLUSTERS = (
    Cluster(
        name="eks-prod",
        provider="aws",
        pools=(NodePool("general", "platform-prod-general"), NodePool("compute", "platform-prod-compute")),
        namespace_labels=MappingProxyType(
            {
                "kube-system": _ns("kube-system"),
                "monitoring": _ns("monitoring", "platform"),
                "platform": _ns("platform", "platform"),
                "payments": _ns("payments", "payments"),
                "data": _ns("data", "data"),
                "ml": _ns("ml"),
            }
        ),
        workloads=EKS_WORKLOADS,
    ),
    Cluster(
        name="aks-prod",
        provider="azure",
        pools=(NodePool("system", "aks-prod-system"), NodePool("user", "aks-prod-user")),
        namespace_labels=MappingProxyType(
            {
                "kube-system": _ns("kube-system"),
                "monitoring": _ns("monitoring", "platform"),
                "platform": _ns("platform", "platform"),
                "data": _ns("data", "data"),
                "ml": _ns("ml", "ml"),
            }
        ),
        workloads=AKS_WORKLOADS,
    ),
)

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
    azure=AZURE_ESTATE,
    gcp=GCP_ESTATE,
    clusters=CLUSTERS,
)


def build_organisation() -> Organisation:
    """The demo company. A function so later variants (more providers, other sizes) have one seam."""
    return ORGANISATION
