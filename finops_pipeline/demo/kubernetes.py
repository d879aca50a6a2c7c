"""Render the organisation's Kubernetes clusters as saved OpenCost `/allocation` responses, one per day.

    <root>/<cluster>/<YYYY-MM-DD>.json      the response to window=<day>T00:00:00Z,<day+1>T00:00:00Z,
                                            aggregate=cluster,node,namespace,pod,container, step=1d

The nodes are the instances the cloud bills: `eks-prod` runs on the EC2 instances of the AWS demo's EKS node
groups (providerID `aws:///<zone>/<instance id>`, the CUR's `lineItem/ResourceId`), `aks-prod` on the VMs of
the Azure demo's scale sets (providerID `azure:///subscriptions/…/virtualMachines/<n>`, whose lower-cased
form is the Azure export's `ResourceId`). A node runs for the hours the bill charges it that day.

Each day, per cluster: daemonsets put a pod on every node of their pools; deployments and statefulsets scale
with their node pool's demand (the factor the autoscaler followed) and their pods are placed, largest CPU
request first, on the node of the pool that has run longest that day and has most CPU left, if both its CPU
and memory allocatable still fit them (a pod that fits nowhere stays Pending and is not reported). So
Σ requests on a node never exceed its allocatable, which is below its capacity.

Every container is one allocation (`<cluster>/<node>/<namespace>/<pod>/<container>`) with its requests, its
usage (request x the container's utilisation, with keyed noise), OpenCost's allocated hours
(max(request, usage) x running hours) and OpenCost's own list-price costs (the node's on-demand price split
into CPU and RAM the way OpenCost splits it). Each node adds a `<cluster>/<node>/__idle__` allocation with
the capacity nothing was allocated (OpenCost's idle by node, `idleByNode=true`, `splitIdle=true`).
Numbers are rounded to 5 decimals, as OpenCost's API writes them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from finops_pipeline.demo import aws, azure
from finops_pipeline.demo.exports import BillingPeriod, GroupDay, ProviderExport, Window
from finops_pipeline.demo.organisation import Cluster, Organisation, Workload, stable_hex, stable_unit

GIB = 2**30
# OpenCost splits a node's price into CPU and RAM in the ratio of these default prices ($/core-h, $/GiB-h).
DEFAULT_CPU_PRICE = 0.031611
DEFAULT_RAM_PRICE = 0.004237
# Persistent volume price, $/GiB-month (gp3, Premium SSD v2-ish).
PV_PRICE = {"aws": 0.08, "azure": 0.0817}
HOURS_PER_MONTH = 730.0
# Pod names use the characters Kubernetes' name generator uses.
_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class Node:
    name: str
    provider_id: str
    pool: str
    vcpus: int
    memory_gib: int
    hours: int
    hourly_price: float
    start: datetime
    end: datetime
    cpu_free: float = 0.0
    memory_free: float = 0.0  # bytes
    pods: list[Pod] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cpu_free = self.cpu_allocatable
        self.memory_free = self.memory_allocatable

    @property
    def cpu_allocatable(self) -> float:
        """Capacity minus the kubelet's reservation (EKS/AKS: 6 % of the first core, 1 % of the second, 0.5 %
        of the next two, 0.25 % of the rest)."""
        reserved = 0.06 + 0.01 * (self.vcpus > 1) + 0.005 * min(2, max(0, self.vcpus - 2))
        reserved += 0.0025 * max(0, self.vcpus - 4)
        return round(self.vcpus - reserved, 3)

    @property
    def memory_allocatable(self) -> float:
        return (self.memory_gib * 0.9 - 0.5) * GIB

    @property
    def cpu_rate(self) -> float:
        """OpenCost's $/core-hour for this node."""
        cpu, ram = self.vcpus * DEFAULT_CPU_PRICE, self.memory_gib * DEFAULT_RAM_PRICE
        return self.hourly_price * cpu / (cpu + ram) / self.vcpus

    @property
    def ram_rate(self) -> float:
        """OpenCost's $/GiB-hour for this node."""
        cpu, ram = self.vcpus * DEFAULT_CPU_PRICE, self.memory_gib * DEFAULT_RAM_PRICE
        return self.hourly_price * ram / (cpu + ram) / self.memory_gib


@dataclass
class Pod:
    workload: Workload
    name: str
    pod_template_hash: str = ""

    @property
    def cpu_request(self) -> float:
        return sum(c.cpu_request for c in self.workload.containers)

    @property
    def memory_request(self) -> float:
        return sum(c.memory_request_mib for c in self.workload.containers) * 2**20


def _name_chars(length: int, *parts: object) -> str:
    digest = stable_hex(2 * length, *parts)
    return "".join(_POD_ALPHABET[int(digest[2 * i : 2 * i + 2], 16) % len(_POD_ALPHABET)] for i in range(length))


def eks_node_name(instance: str) -> str:
    a, b, c = (int(stable_unit("eks-node-ip", instance, i) * 254) + 1 for i in range(3))
    return f"ip-10-{a % 64}-{b}-{c}.ec2.internal"


def _interval(day: date, hours: int) -> tuple[datetime, datetime]:
    """A node that ran part of the day ran through the afternoon (UTC), when the business is busiest."""
    first = 0 if hours >= 24 else max(0, min(24 - hours, 15 - hours // 2))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return midnight + timedelta(hours=first), midnight + timedelta(hours=first + hours)


def pool_days(org: Organisation, cluster: Cluster, window: Window, seed: int) -> dict[str, list[GroupDay]]:
    """Per node pool, the days of the instances the cloud bill charges for it."""
    days = {}
    for pool in cluster.pools:
        if cluster.provider == "aws":
            resource = next(r for r in org.resources if r.name == pool.resource)
            days[pool.name] = aws.ec2_group_days(org, resource, window, seed)
        elif cluster.provider == "azure":
            assert org.azure is not None
            days[pool.name] = azure.scale_set_days(org, org.azure.resource(pool.resource), window, seed)
        else:
            raise ValueError(f"cluster {cluster.name}: unknown provider {cluster.provider!r}")
    return days


def day_nodes(org: Organisation, cluster: Cluster, pools: Mapping[str, GroupDay]) -> list[Node]:
    nodes = []
    for pool in cluster.pools:
        group = pools[pool.name]
        if cluster.provider == "aws":
            resource = next(r for r in org.resources if r.name == pool.resource)
            spec = aws.INSTANCE_TYPES[resource.size]
            vcpus, memory = spec.vcpu, int(spec.memory.split()[0])
            price = float(spec.prices[resource.region][0])
        else:
            assert org.azure is not None
            resource = org.azure.resource(pool.resource)
            size = azure.VM_SIZES[resource.size]
            vcpus, memory, price = size.vcpus, size.memory_gb, float(size.hourly)
        for instance in group.instances:
            if cluster.provider == "aws":
                name = eks_node_name(instance.resource_id)
                provider_id = f"aws:///{instance.zone}/{instance.resource_id}"
            else:
                name = azure.node_name(resource, instance.slot)
                provider_id = f"azure://{instance.resource_id}"
            start, end = _interval(group.day, instance.hours)
            nodes.append(Node(name, provider_id, pool.name, vcpus, memory, instance.hours, price, start, end))
    return nodes


def schedule(cluster: Cluster, nodes: list[Node], pools: Mapping[str, GroupDay]) -> None:
    """Put the day's pods on the nodes (see the module docstring); pods that fit nowhere stay Pending."""

    def fits(node: Node, pod: Pod) -> bool:
        return node.cpu_free >= pod.cpu_request - 1e-9 and node.memory_free >= pod.memory_request

    def place(node: Node, pod: Pod) -> None:
        node.cpu_free -= pod.cpu_request
        node.memory_free -= pod.memory_request
        node.pods.append(pod)

    for workload in cluster.workloads:
        if workload.kind == "daemonset":
            for node in nodes:
                pod = Pod(workload, f"{workload.name}-{_name_chars(5, cluster.name, workload.name, node.name)}")
                if (not workload.pools or node.pool in workload.pools) and fits(node, pod):
                    place(node, pod)
    pending: list[tuple[int, Pod]] = []
    for order, workload in enumerate(cluster.workloads):
        if workload.kind == "daemonset":
            continue
        demand = pools[workload.pools[0]].demand if workload.pools else 1.0
        replicas = min(workload.max_replicas, max(workload.min_replicas, round(workload.replicas * demand)))
        template = _name_chars(10, cluster.name, workload.namespace, workload.name, "replicaset")
        for i in range(replicas):
            if workload.kind == "statefulset":
                pod = Pod(workload, f"{workload.name}-{i}")
            else:
                suffix = _name_chars(5, cluster.name, workload.namespace, workload.name, i)
                pod = Pod(workload, f"{workload.name}-{template}-{suffix}", template)
            pending.append((order, pod))
    pending.sort(key=lambda item: (-item[1].cpu_request, item[0], item[1].name))
    for _, pod in pending:
        candidates = [n for n in nodes if (not pod.workload.pools or n.pool in pod.workload.pools) and fits(n, pod)]
        if candidates:
            place(max(candidates, key=lambda n: (n.hours, n.cpu_free, n.name)), pod)


# ---------------------------------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------------------------------


def _r(value: float) -> float:
    rounded = round(value, 5)
    return rounded if rounded != 0 else 0.0


def _timestamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def _allocation(
    name: str,
    properties: dict,
    window: dict,
    node: Node,
    *,
    cpu_request: float,
    cpu_usage: float,
    ram_request: float,
    ram_usage: float,
    cpu_hours: float,
    ram_byte_hours: float,
    raw: dict | None,
    pv_bytes: float = 0.0,
    pvs: dict | None = None,
    pv_cost: float = 0.0,
) -> dict:
    hours = node.hours
    cpu_cost = cpu_hours * node.cpu_rate
    ram_cost = ram_byte_hours / GIB * node.ram_rate
    used_cost = cpu_usage * hours * node.cpu_rate + ram_usage * hours / GIB * node.ram_rate
    parts = [_r(cpu_cost), _r(ram_cost), _r(pv_cost)]
    return {
        "name": name,
        "properties": properties,
        "window": window,
        "start": _timestamp(node.start),
        "end": _timestamp(node.end),
        "minutes": _r(hours * 60.0),
        "cpuCores": _r(cpu_hours / hours),
        "cpuCoreRequestAverage": _r(cpu_request),
        "cpuCoreUsageAverage": _r(cpu_usage),
        "cpuCoreHours": _r(cpu_hours),
        "cpuCost": parts[0],
        "cpuCostAdjustment": 0.0,
        "cpuEfficiency": _r(cpu_usage / cpu_request) if cpu_request else 0.0,
        "gpuCount": 0.0,
        "gpuHours": 0.0,
        "gpuCost": 0.0,
        "gpuCostAdjustment": 0.0,
        "networkTransferBytes": 0.0,
        "networkReceiveBytes": 0.0,
        "networkCost": 0.0,
        "networkCostAdjustment": 0.0,
        "loadBalancerCost": 0.0,
        "loadBalancerCostAdjustment": 0.0,
        "pvBytes": _r(pv_bytes),
        "pvByteHours": _r(pv_bytes * hours),
        "pvCost": parts[2],
        "pvs": pvs,
        "pvCostAdjustment": 0.0,
        "ramBytes": _r(ram_byte_hours / hours),
        "ramByteRequestAverage": _r(ram_request),
        "ramByteUsageAverage": _r(ram_usage),
        "ramByteHours": _r(ram_byte_hours),
        "ramCost": parts[1],
        "ramCostAdjustment": 0.0,
        "ramEfficiency": _r(ram_usage / ram_request) if ram_request else 0.0,
        "sharedCost": 0.0,
        "externalCost": 0.0,
        "totalCost": _r(sum(parts)),
        "totalEfficiency": _r(used_cost / (cpu_cost + ram_cost)) if cpu_cost + ram_cost else 0.0,
        "rawAllocationOnly": raw,
    }


def day_allocations(org: Organisation, cluster: Cluster, nodes: list[Node], day: date, seed: int) -> dict[str, dict]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    window = {"start": _timestamp(start), "end": _timestamp(start + timedelta(days=1))}
    allocations: dict[str, dict] = {}
    for node in nodes:
        allocated_cpu_hours = allocated_ram_hours = 0.0
        for pod in node.pods:
            workload = pod.workload
            labels = dict(workload.labels)
            if pod.pod_template_hash:
                labels["pod_template_hash"] = pod.pod_template_hash
            volume_bytes = workload.volume_gb * GIB
            for container in workload.containers:
                key = (seed, cluster.name, pod.name, container.name, day.isoformat())
                cpu_request = container.cpu_request
                ram_request = container.memory_request_mib * 2**20
                cpu_usage = cpu_request * container.cpu_utilisation * (0.85 + 0.3 * stable_unit("cpu", *key))
                ram_usage = ram_request * container.memory_utilisation * (0.95 + 0.1 * stable_unit("ram", *key))
                cpu_hours = max(cpu_request, cpu_usage) * node.hours
                ram_hours = max(ram_request, ram_usage) * node.hours
                allocated_cpu_hours += cpu_hours
                allocated_ram_hours += ram_hours
                # The pod's volume is reported on its first container, as OpenCost attributes a PVC once.
                pv = volume_bytes if volume_bytes and container is workload.containers[0] else 0.0
                pvs, pv_cost = None, 0.0
                if pv:
                    pvc = uuid.UUID(stable_hex(32, "pvc", cluster.name, pod.name))
                    pv_cost = pv / GIB * node.hours * PV_PRICE[cluster.provider] / HOURS_PER_MONTH
                    pvs = {
                        f"cluster={cluster.name}:name=pvc-{pvc}": {
                            "byteHours": _r(pv * node.hours),
                            "cost": _r(pv_cost),
                            **_volume_provider_id(org, workload),
                        }
                    }
                name = f"{cluster.name}/{node.name}/{workload.namespace}/{pod.name}/{container.name}"
                properties = {
                    "cluster": cluster.name,
                    "node": node.name,
                    "container": container.name,
                    "controller": workload.name,
                    "controllerKind": workload.kind,
                    "namespace": workload.namespace,
                    "pod": pod.name,
                    "services": list(workload.services),
                    "providerID": node.provider_id,
                    "labels": labels,
                    "namespaceLabels": dict(cluster.namespace_labels.get(workload.namespace, {})),
                }
                raw = {
                    "cpuCoreUsageMax": _r(cpu_usage * (1.5 + stable_unit("cpu-max", *key))),
                    "ramByteUsageMax": _r(ram_usage * (1.05 + 0.2 * stable_unit("ram-max", *key))),
                }
                allocations[name] = _allocation(
                    name,
                    properties,
                    window,
                    node,
                    cpu_request=cpu_request,
                    cpu_usage=cpu_usage,
                    ram_request=ram_request,
                    ram_usage=ram_usage,
                    cpu_hours=cpu_hours,
                    ram_byte_hours=ram_hours,
                    raw=raw,
                    pv_bytes=pv,
                    pvs=pvs,
                    pv_cost=pv_cost,
                )
        # Idle by node: the capacity no container was allocated (OpenCost prices capacity, so the kubelet's
        # reservation lands here too).
        idle_cpu_hours = max(0.0, node.vcpus * node.hours - allocated_cpu_hours)
        idle_ram_hours = max(0.0, node.memory_gib * GIB * node.hours - allocated_ram_hours)
        name = f"{cluster.name}/{node.name}/__idle__"
        properties = {"cluster": cluster.name, "node": node.name, "providerID": node.provider_id}
        allocations[name] = _allocation(
            name,
            properties,
            window,
            node,
            cpu_request=0.0,
            cpu_usage=0.0,
            ram_request=0.0,
            ram_usage=0.0,
            cpu_hours=idle_cpu_hours,
            ram_byte_hours=idle_ram_hours,
            raw=None,
        )
    return dict(sorted(allocations.items()))


def write_allocations(org: Organisation, window: Window, root: Path, seed: int) -> ProviderExport:
    """Write one allocation response per cluster and day under `root/<cluster>/`."""
    files: list[Path] = []
    row_counts: dict[BillingPeriod, int] = {}
    totals: dict[BillingPeriod, Decimal] = {}
    periods = window.billing_periods()
    for cluster in org.clusters:
        folder = root / cluster.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        days = pool_days(org, cluster, window, seed)
        for index, day in enumerate(window.dates()):
            groups = {pool: group_days[index] for pool, group_days in days.items()}
            nodes = day_nodes(org, cluster, groups)
            schedule(cluster, nodes, groups)
            allocations = day_allocations(org, cluster, nodes, day, seed)
            payload = {"code": 200, "status": "success", "data": [allocations]}
            path = folder / f"{day.isoformat()}.json"
            path.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
            files.append(path)
            period = next(p for p in periods if p.start <= day < p.end)
            row_counts[period] = row_counts.get(period, 0) + len(allocations)
            cost = sum((Decimal(repr(a["totalCost"])) for a in allocations.values()), Decimal(0))
            totals[period] = totals.get(period, Decimal(0)) + cost
    return ProviderExport(
        provider="kubernetes",
        root=root,
        files=tuple(sorted(files)),
        billing_periods=tuple(periods),
        data_files=tuple(sorted(files)),
        row_counts=row_counts,
        totals=totals,
    )


def _volume_provider_id(org: Organisation, workload: Workload) -> dict[str, str]:
    """`{"providerID": "aws://<zone>/vol-…"}` for a volume the AWS bill carries (the EBS CSI driver's form)."""
    if not workload.volume_resource:
        return {}
    resource = next(r for r in org.resources if r.name == workload.volume_resource)
    return {"providerID": f"aws://{aws.availability_zone(resource)}/{aws.volume_id(resource)}"}
