"""Which export header feeds which FOCUS 1.2 column, and what happens to the headers FOCUS does not define.

`describe_focus_export` is pure (column names in, a description out) so the Dagster layer can attach it to
an asset's metadata and the mapping can follow it: one place decides the renames, one place reports them.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from finops_pipeline.sources.focus_export.versions import (
    CHARGE_SUBCATEGORY,
    FOCUS_NAMES,
    LEGACY_NAMES,
    canonical_name,
    detect_focus_version,
)

SOURCE_FILE = "x_SourceFile"
SOURCE_ROW = "x_SourceRowNumber"
FOCUS_VERSION = "x_FocusVersion"  # per file, added by scan_focus_export
LINEAGE = (SOURCE_FILE, SOURCE_ROW, FOCUS_VERSION)

# Without these a row cannot be costed or placed in a day partition: a file lacking one is unreadable.
REQUIRED_COLUMNS = ("BilledCost", "BillingPeriodStart", "ChargePeriodStart")


@dataclass(frozen=True)
class ExportColumns:
    """How the headers of a FOCUS export map onto FOCUS 1.2.

    * `sources[c]`: the headers feeding FOCUS column `c`, best first (exact name, other spellings, legacy
      name); the mapping takes the first non-null value.
    * `upgraded`: legacy header → FOCUS 1.2 column (`Region` → `RegionId`, `UsageQuantity` → …).
    * `respelled`: header whose case differed from the FOCUS name (`SkuPriceid` → `SkuPriceId`).
    * `custom`: header → the `x_` column it is kept as. Custom columns without the `x_` prefix FOCUS requires
      (`Id`, OCI's `oci_*`) are renamed `x_<header>`; 1.0-preview's ChargeSubcategory becomes
      `x_ChargeSubcategory` once its meaning has been moved to 1.2 columns.
    * `absent`: FOCUS 1.2 columns no header feeds (null in the output).
    """

    version: str
    sources: dict[str, tuple[str, ...]]
    upgraded: dict[str, str] = field(default_factory=dict)
    respelled: dict[str, str] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()

    @property
    def renamed_custom(self) -> dict[str, str]:
        """Custom headers that had to be renamed to get their `x_` prefix."""
        return {header: name for header, name in self.custom.items() if header != name}

    def source_of(self, focus_column: str) -> str | None:
        """The best header feeding a FOCUS column (None when absent)."""
        found = self.sources.get(focus_column)
        return found[0] if found else None


def describe_focus_export(columns: Iterable[str]) -> ExportColumns:
    """Resolve export headers against FOCUS 1.2 (lineage columns of scan_focus_export are ignored)."""
    headers = [c for c in columns if c not in LINEAGE]
    exact: dict[str, list[str]] = {}
    variants: dict[str, list[str]] = {}
    upgraded: dict[str, str] = {}
    respelled: dict[str, str] = {}
    custom: dict[str, str] = {}
    for header in headers:
        name = canonical_name(header)
        if name in FOCUS_NAMES:
            if header == name:
                exact.setdefault(name, []).append(header)
            else:
                variants.setdefault(name, []).append(header)
                respelled[header] = name
        elif name in LEGACY_NAMES:
            target = LEGACY_NAMES[name]
            variants.setdefault(target, []).append(header)
            upgraded[header] = target
        elif name == CHARGE_SUBCATEGORY:
            custom[header] = "x_" + CHARGE_SUBCATEGORY
        elif header.startswith("x_"):
            custom[header] = header
        else:
            custom[header] = "x_" + header.strip()
    _deduplicate(custom, taken=set(headers))
    sources = {name: tuple(exact.get(name, []) + variants.get(name, [])) for name in FOCUS_NAMES}
    sources = {name: found for name, found in sources.items() if found}
    absent = tuple(name for name in FOCUS_NAMES if name not in sources)
    return ExportColumns(
        version=detect_focus_version(headers),
        sources=sources,
        upgraded=upgraded,
        respelled=respelled,
        custom=custom,
        absent=absent,
    )


def _deduplicate(custom: dict[str, str], *, taken: set[str]) -> None:
    """A renamed custom column must not collide with a header (or another rename): `x_Id` → `x_Id_2`."""
    used = {h for h in taken if h not in custom or custom[h] == h}
    for header, name in custom.items():
        if header == name:
            continue
        candidate, n = name, 2
        while candidate in used:
            candidate, n = f"{name}_{n}", n + 1
        custom[header] = candidate
        used.add(candidate)
