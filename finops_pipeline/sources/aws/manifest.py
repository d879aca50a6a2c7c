"""Which files make up each AWS billing period: follow the export's manifests to the latest assembly.

AWS rewrites the current (and recently closed) billing period several times a day. Each rewrite is a new
*assembly* with its own files; reading every file under a period folder would count the same cost once
per assembly. The manifests say which files form the current assembly, so we read those and nothing else.

Layouts (keys relative to the store root; `<prefix>` is the folder passed in):

Legacy CUR
    <prefix>/<report>/<YYYYMMDD-YYYYMMDD>/<report>-Manifest.json              the CURRENT assembly
    <prefix>/<report>/<YYYYMMDD-YYYYMMDD>/<assemblyId>/<report>-Manifest.json  one per assembly (ignored
                                                                               while the one above exists)
    The manifest has `assemblyId` and `reportKeys` (bucket-relative keys of the data files).
CUR 2.0 / Data Exports
    <prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json   rewritten on every refresh
    <prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/...                          data files
    The manifest has `executionId` and `dataFiles` (full s3:// URIs).
"""

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from finops_pipeline.connectors import BillingFileStore
from finops_pipeline.sources.errors import SourceFileError

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = "-Manifest.json"
# <root>/<period>/[<assembly>/]<name>-Manifest.json; <root> is the report (export) folder's key.
_LEGACY_MANIFEST = re.compile(
    r"^(?:(?P<root>.*)/)?(?P<period>\d{8}-\d{8})/"
    r"(?:(?P<assembly>[^/]+)/)?[^/]+-Manifest\.json$"
)
_CUR2_MANIFEST = re.compile(
    r"^(?:(?P<root>.*)/)?metadata/(?P<period>BILLING_PERIOD=\d{4}-\d{2})/"
    r"(?:(?P<assembly>[^/]+)/)?[^/]+-Manifest\.json$"
)
_FILES_AND_ID_FIELDS = {"cur": ("reportKeys", "assemblyId"), "cur2": ("dataFiles", "executionId")}
_DATE_PREFIX = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})")


@dataclass(frozen=True)
class BillingPeriodAssembly:
    """The data files of the latest assembly of one billing period of one report/export."""

    billing_period_start: date  # first of the month
    billing_period_end: date  # first of the next month (exclusive)
    assembly_id: str  # legacy CUR assemblyId, or CUR 2.0 executionId
    manifest_key: str  # the manifest these files were taken from
    report_keys: tuple[str, ...]  # data files of THIS assembly, keys relative to the store root
    format: str  # "csv" | "parquet"
    compression: str | None  # "GZIP" | "ZIP" | None (parquet's internal codec is not reported)
    report_name: str = ""  # the report (legacy) or export (CUR 2.0) name, for lineage
    layout: str = "cur"  # "cur" (legacy CUR) | "cur2" (CUR 2.0 / Data Exports)


def billing_periods_for_days(days: Iterable[date]) -> list[date]:
    """The distinct billing-period starts (first of month) that the given days fall in, sorted."""
    return sorted({date(day.year, day.month, 1) for day in days})


def find_latest_assemblies(
    store: BillingFileStore, prefix: str, periods: Iterable[date] | None = None
) -> list[BillingPeriodAssembly]:
    """The latest assembly of every billing period of every report/export under `prefix`.

    `periods` keeps only the billing periods starting on those dates (any day of a month selects it).
    Sorted by billing period, then report name.
    """
    listing = _Listing(store, prefix)
    wanted = None if periods is None else set(billing_periods_for_days(periods))

    groups: dict[tuple[str, str, date], list[_Location]] = defaultdict(list)
    for key in listing.keys:
        location = _locate(key)
        if location and (wanted is None or location.period_start in wanted):
            groups[(location.layout, location.report_root, location.period_start)].append(location)

    assemblies = [_assemble(listing, *_current_manifest(store, group)) for group in groups.values()]
    return sorted(assemblies, key=lambda a: (a.billing_period_start, a.report_name, a.manifest_key))


@dataclass(frozen=True)
class _Location:
    """Where a manifest sits, and what its key alone tells us."""

    key: str
    layout: str  # "cur" | "cur2"
    report_root: str  # key of the <report>/<export> folder ("" if that folder is the store root)
    report_name: str
    period_folder: str  # "20180801-20180901" or "BILLING_PERIOD=2018-08"
    period_start: date
    period_end: date
    assembly_folder: str | None  # set for manifests inside an assembly/execution sub-folder


def _locate(key: str) -> _Location | None:
    """Classify a key as one of the manifest layouts above, or None if it is not a manifest."""
    for layout, pattern in (("cur", _LEGACY_MANIFEST), ("cur2", _CUR2_MANIFEST)):
        match = pattern.match(key)
        period = match and _folder_period(match["period"])
        if period:
            report_root = match["root"] or ""
            file_stem = key.rsplit("/", 1)[-1].removesuffix(MANIFEST_SUFFIX)
            return _Location(
                key=key,
                layout=layout,
                report_root=report_root,
                report_name=report_root.rsplit("/", 1)[-1] or file_stem,
                period_folder=match["period"],
                period_start=period[0],
                period_end=period[1],
                assembly_folder=match["assembly"],
            )
    return None


def _folder_period(folder: str) -> tuple[date, date] | None:
    """[start, end) from "20180801-20180901" or "BILLING_PERIOD=2018-08"; None if not a real date."""
    if folder.startswith("BILLING_PERIOD="):
        start = _parse_date(folder.removeprefix("BILLING_PERIOD=") + "-01")
        return (start, _next_month(start)) if start else None
    start, end = _parse_date(folder[:8]), _parse_date(folder[9:])
    return (start, end) if start and end else None


def _current_manifest(store: BillingFileStore, group: list[_Location]) -> tuple[_Location, dict]:
    """The manifest naming the current assembly of one period, and its parsed content."""
    at_period_root = [loc for loc in group if loc.assembly_folder is None]
    if at_period_root:
        # Prefer "<report>-Manifest.json" should anything else ending in -Manifest.json sit beside it.
        chosen = min(at_period_root, key=lambda loc: (not _named_after_report(loc), loc.key))
        return chosen, _read_manifest(store, chosen.key)

    # No period-root manifest (e.g. a partial copy): fall back to the newest assembly, and say so, since
    # "newest" by timestamp is a guess where the root manifest would have been a fact.
    candidates = [(loc, _read_manifest(store, loc.key)) for loc in group]
    stamped = [(_written_at(store, loc, manifest), loc, manifest) for loc, manifest in candidates]
    written_at, location, manifest = max(stamped, key=lambda item: (item[0], item[1].key))
    log.warning(
        "No period-root manifest for %s %s; using the newest of %d assemblies, %s (written %s): %s",
        location.report_name,
        location.period_folder,
        len(group),
        location.assembly_folder,
        written_at.isoformat(),
        store.describe(location.key),
    )
    return location, manifest


def _named_after_report(location: _Location) -> bool:
    return location.key.rsplit("/", 1)[-1] == f"{location.report_name}{MANIFEST_SUFFIX}"


def _written_at(store: BillingFileStore, location: _Location, manifest: dict) -> datetime:
    """The manifest's own `lastModified` if it has one, else the object's modification time."""
    value = manifest.get("lastModified")
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return store.last_modified(location.key).astimezone(UTC)


def _read_manifest(store: BillingFileStore, key: str) -> dict:
    try:
        manifest = json.loads(store.read_bytes(key))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SourceFileError(store.describe(key), f"manifest is not valid JSON ({err})") from err
    if not isinstance(manifest, dict):
        raise SourceFileError(store.describe(key), "manifest is not a JSON object")
    return manifest


class _Listing:
    """The keys under the prefix, listed once, so resolving a manifest's keys costs no extra request."""

    def __init__(self, store: BillingFileStore, prefix: str):
        # `prefix` names a folder: "cur" must not also match a sibling "cur-old/".
        self.store = store
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.keys = store.list_keys(self.prefix)
        self._known = set(self.keys)

    def exists(self, key: str) -> bool:
        if key.startswith(self.prefix):
            return key in self._known
        return key in self.store.list_keys(key)  # outside our listing: ask the store


def _assemble(listing: _Listing, location: _Location, manifest: dict) -> BillingPeriodAssembly:
    where = listing.store.describe(location.key)
    files_field, id_field = _FILES_AND_ID_FIELDS[location.layout]
    raw_keys = manifest.get(files_field)
    if not isinstance(raw_keys, list) or not all(isinstance(key, str) for key in raw_keys):
        raise SourceFileError(where, f"manifest has no list of file keys in {files_field!r}")
    assembly_id = manifest.get(id_field) or location.assembly_folder  # the folder is named after it
    if not assembly_id:
        raise SourceFileError(where, f"manifest has no {id_field!r}")

    report_keys = tuple(_resolve(listing, location, raw_key) for raw_key in raw_keys)
    start, end = _manifest_period(manifest) or (location.period_start, location.period_end)
    file_format, compression = _file_format(manifest, report_keys, where)
    return BillingPeriodAssembly(
        billing_period_start=start,
        billing_period_end=end,
        assembly_id=str(assembly_id),
        manifest_key=location.key,
        report_keys=report_keys,
        format=file_format,
        compression=compression,
        report_name=location.report_name,
        layout=location.layout,
    )


def _resolve(listing: _Listing, location: _Location, raw_key: str) -> str:
    """Map a key written in a manifest (bucket-relative, or an s3:// URI) to a key of this store.

    Manifests name files relative to the bucket AWS delivered to. The store may be that bucket, or a
    sub-folder / mirror of it, or hold the export under another prefix than the one AWS wrote.
    So: try the key as written, then the part from the period folder on, relative to where the manifest
    actually sits.
    """
    bucket_key = raw_key.removeprefix("s3://").partition("/")[2] if raw_key.startswith("s3://") else raw_key
    candidates = [bucket_key, bucket_key.lstrip("/")]
    tail = _tail_from_period(bucket_key.strip("/").split("/"), location)
    if tail:
        candidates.append("/".join([location.report_root, *tail]) if location.report_root else "/".join(tail))

    candidates = list(dict.fromkeys(candidate for candidate in candidates if candidate))
    for candidate in candidates:
        if listing.exists(candidate):
            return candidate
    looked_at = ", ".join(listing.store.describe(candidate) for candidate in candidates)
    raise FileNotFoundError(
        f"Manifest {listing.store.describe(location.key)} lists {raw_key!r}, which is not in the store "
        f"(looked for {looked_at})"
    )


def _tail_from_period(parts: list[str], location: _Location) -> list[str] | None:
    """The key's folders from the period folder (legacy) or the `data` folder (CUR 2.0) on."""
    for index in range(len(parts) - 1, -1, -1):
        if location.layout == "cur" and parts[index] == location.period_folder:
            return parts[index:]
        if (
            location.layout == "cur2"
            and parts[index] == "data"
            and parts[index + 1 : index + 2] == [location.period_folder]
        ):
            return parts[index:]
    return None


def _manifest_period(manifest: dict) -> tuple[date, date] | None:
    period = manifest.get("billingPeriod")
    if not isinstance(period, dict):
        return None
    start, end = _parse_date(period.get("start")), _parse_date(period.get("end"))
    return (start, end) if start and end else None


def _parse_date(value: object) -> date | None:
    """The date of "20180801T000000.000Z", "2024-01-01T00:00:00.000Z" or "2024-01-01"."""
    match = _DATE_PREFIX.match(value) if isinstance(value, str) else None
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _file_format(manifest: dict, keys: tuple[str, ...], where: str) -> tuple[str, str | None]:
    """("csv" | "parquet", "GZIP" | "ZIP" | None): as the manifest declares it, else from file extensions."""
    declared = " ".join(str(manifest.get(field, "")) for field in ("contentType", "format")).lower()
    compression = str(manifest.get("compression") or "").upper()
    if "parquet" in declared or compression == "PARQUET":  # legacy Parquet CUR says compression "Parquet"
        return "parquet", None
    if "csv" in declared and compression in ("GZIP", "ZIP"):
        return "csv", compression

    inferred = {key: _format_from_extension(key) for key in keys}
    unknown = [key for key, found in inferred.items() if found is None]
    if unknown:
        raise SourceFileError(where, f"cannot tell the file format of {unknown[0]!r} from its extension")
    formats = set(inferred.values())
    if len(formats) > 1:
        raise SourceFileError(where, f"manifest mixes file formats: {sorted(formats, key=str)}")
    # A manifest that lists no files leaves nothing to read, so the format it reports does not matter.
    return formats.pop() if formats else ("csv", None)


def _format_from_extension(key: str) -> tuple[str, str | None] | None:
    name = key.rsplit("/", 1)[-1].lower()
    if name.endswith(".parquet"):  # also .snappy.parquet
        return "parquet", None
    if name.endswith(".gz"):  # .csv.gz; CUR gzips nothing but CSV
        return "csv", "GZIP"
    if name.endswith(".zip"):
        return "csv", "ZIP"
    if name.endswith(".csv"):
        return "csv", None
    return None


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)
