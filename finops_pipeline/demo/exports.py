"""What a demo run wrote, plus the calendar and money helpers every provider renderer shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

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
