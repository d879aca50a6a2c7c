"""What a demo run wrote, plus the calendar and money helpers every provider renderer shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finops_pipeline.demo.organisation import Resource

TEN_PLACES = Decimal("1e-10")
CENT = Decimal("0.01")


@dataclass(frozen=True, order=True)
class BillingPeriod:
    start: date  # first day of the month
    end: date  # first day of the next month (exclusive)

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"


@dataclass(frozen=True)
class Window:
    """The generated days: `days` days ending on `last_day` (inclusive)."""

    first_day: date
    last_day: date

    @classmethod
    def ending(cls, last_day: date, days: int) -> Window:
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        return cls(last_day - timedelta(days=days - 1), last_day)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def end(self) -> date:
        """The day after the last one (exclusive end)."""
        return self.last_day + timedelta(days=1)

    def dates(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    def billing_periods(self) -> list[BillingPeriod]:
        periods = []
        start = self.first_day.replace(day=1)
        while start <= self.last_day:
            end = next_month(start)
            periods.append(BillingPeriod(start, end))
            start = end
        return periods

    def at(self, fraction: float) -> date:
        """The window day a fraction of the way through it (clamped to the window)."""
        offset = min(self.days - 1, max(0, int(fraction * self.days)))
        return self.first_day + timedelta(days=offset)


def group_hours(resource: Resource, demand: float, alive: int) -> list[tuple[int, int]]:
    """(slot k, hours) of the instances of an autoscaling group that ran on a day (the AWS renderer's rule).

    The group wants `instances x demand` instances, kept between `min_count` and `max_count`; instance k runs
    for the share of the day's `alive` hours the group wants more than k. A single instance always runs.
    """
    if resource.max_count == 1:
        desired = 1.0
    else:
        desired = min(resource.max_count, max(resource.min_count, resource.instances * demand))
    slots = ((k, round(min(1.0, max(0.0, desired - k)) * alive)) for k in range(resource.max_count))
    return [(k, hours) for k, hours in slots if hours > 0]


def alive_hours(active: tuple[float, float], window: Window, index: int) -> int:
    """Hours of window day `index` inside a lifetime given as fractions of the window (whole hours)."""
    total = window.days * 24
    start, end = round(active[0] * total), round(active[1] * total)
    return max(0, min(end, index * 24 + 24) - max(start, index * 24))


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def q10(value: Decimal) -> Decimal:
    """Money as exports carry it: quantized to 10 places, never negative zero."""
    quantized = value.quantize(TEN_PLACES)
    return quantized if quantized != 0 else Decimal(0).quantize(TEN_PLACES)


def money_text(value: Decimal) -> str:
    """Plain decimal text with 10 places (no exponent): '12.3400000000'."""
    return format(q10(value), "f")


def quantity_text(value: Decimal) -> str:
    """Plain decimal text without trailing zeros: '24', '3.2258064516'."""
    text = format(value.quantize(TEN_PLACES), "f").rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass(frozen=True)
class InstanceDay:
    """One instance of an autoscaling group (EC2 group, VM scale set, GCE instances) on one day."""

    slot: int  # k: the group's k-th instance, the one that runs while the group wants more than k
    resource_id: str  # what the bill calls it (EC2 instance id, Azure VM resource id)
    zone: str
    hours: int  # hours billed that day


@dataclass(frozen=True)
class GroupDay:
    day: date
    index: int  # day number in the window
    demand: float  # the group's demand factor that day (the one its size followed)
    instances: tuple[InstanceDay, ...]


@dataclass(frozen=True)
class ProviderExport:
    """The native export of one provider, as written under `root`."""

    provider: str
    root: Path
    files: tuple[Path, ...]  # every file written, sorted
    billing_periods: tuple[BillingPeriod, ...]
    data_files: tuple[Path, ...]  # the files a correct reader loads (newest assembly of each period)
    superseded_files: tuple[Path, ...] = ()  # older assemblies a correct reader must ignore
    # Ground truth for reconciliation tests, from the newest assembly of each period.
    row_counts: dict[BillingPeriod, int] = field(default_factory=dict)
    totals: dict[BillingPeriod, Decimal] = field(default_factory=dict)  # e.g. Σ lineItem/UnblendedCost
    # What the bill charges per charge day (Σ FOCUS BilledCost a correct mapping gives), where the renderer
    # knows it: Azure (Σ actual Cost), GCP (Σ cost).
    billed_by_day: dict[date, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoExports:
    out_dir: Path
    first_day: date
    last_day: date
    seed: int
    providers: dict[str, ProviderExport]

    @property
    def aws(self) -> ProviderExport:
        return self.providers["aws"]

    @property
    def azure(self) -> ProviderExport:
        return self.providers["azure"]

    @property
    def gcp(self) -> ProviderExport:
        return self.providers["gcp"]

    @property
    def kubernetes(self) -> ProviderExport:
        return self.providers["kubernetes"]
