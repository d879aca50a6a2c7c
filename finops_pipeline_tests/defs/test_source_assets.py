"""Source assets through Dagster on real sample exports, into focus_costs, reconciled by the blocking check."""

import shutil
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest

from finops_pipeline.defs.core import focus_costs
from finops_pipeline.defs.resources import WarehouseResource
from finops_pipeline.defs.schedules import partition_range_tags
from finops_pipeline.defs.sources import SOURCES, build_source_asset
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.paths import SHARED_DATA

AZURE = next(s for s in SOURCES if s.name == "azure")
FOCUS_EXPORT = next(s for s in SOURCES if s.name == "focus_export")


def _materialise(source, store_root, tmp_path, first_day, last_day):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    result = dg.materialize(
        [build_source_asset(source), focus_costs],
        resources={
            "warehouse": WarehouseResource(url=url),
            source.store_key: dg.ResourceDefinition.hardcoded_resource(source_store(store_root)),
        },
        tags=partition_range_tags(first_day, last_day),
    )
    return result, url


def source_store(root):
    from finops_pipeline.connectors import LocalDirectoryStore

    return LocalDirectoryStore(root=str(root))


def _stored_sum(path, column, keep=lambda row: True) -> Decimal:
    """Σ of a CSV column as the warehouse stores it: each value rounded to 10 places (Decimal(38,10))."""
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.rename({c: c.lstrip("\ufeff") for c in frame.columns})
    return sum(
        (Decimal(row[column]).quantize(Decimal("1e-10")) for row in frame.iter_rows(named=True) if keep(row)),
        Decimal(0),
    )


def test_azure_ea_actual_and_amortized_pair_gives_the_invoice_and_the_amortized_cost(tmp_path):
    from datetime import date

    period = tmp_path / "azure" / "ea-costs" / "20230901-20230930"
    period.mkdir(parents=True)
    actual = shutil.copy(SHARED_DATA / "finops-toolkit" / "EA_ActualCost_Small.csv", period / "actual.csv")
    amortized = shutil.copy(SHARED_DATA / "finops-toolkit" / "EA_AmortizedCost_Small.csv", period / "amortized.csv")

    result, url = _materialise(AZURE, tmp_path / "azure", tmp_path, date(2023, 9, 1), date(2023, 9, 30))
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    with Warehouse.from_url(url) as wh:
        stored = wh.read_frame(
            'SELECT COUNT(*) AS n, SUM("BilledCost") AS billed, SUM("EffectiveCost") AS effective '
            "FROM core.focus_costs WHERE \"x_SourceName\" = 'azure'"
        ).row(0, named=True)
    # Microsoft's rule: every amortized row plus the one reservation purchase of the actual file.
    assert stored["n"] == 28 + 1
    # Billed: amortized usage not priced by a commitment, plus the purchase (covered usage was paid by it).
    on_demand = _stored_sum(amortized, "Cost", lambda r: r["PricingModel"] not in ("Reservation", "SavingsPlan"))
    purchases = _stored_sum(actual, "Cost", lambda r: r["ChargeType"] == "Purchase")
    assert purchases == Decimal("3.25")
    assert stored["billed"] == on_demand + purchases
    # Effective: the amortized dataset as it is (the purchase itself carries EffectiveCost 0).
    assert stored["effective"] == _stored_sum(amortized, "Cost")


def test_focus_sample_export_lands_per_provider(tmp_path):
    from datetime import date

    folder = tmp_path / "focus_export" / "sample"
    folder.mkdir(parents=True)
    shutil.copy(SHARED_DATA / "FOCUS-Sample-Data" / "focus_sample.csv", folder / "focus_sample.csv")
    raw = pl.read_csv(folder / "focus_sample.csv", infer_schema=False)
    days = raw["ChargePeriodStart"].str.slice(0, 10).unique().sort()

    result, url = _materialise(
        FOCUS_EXPORT, tmp_path / "focus_export", tmp_path, date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    )
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    with Warehouse.from_url(url) as wh:
        stored = wh.read_frame('SELECT "ProviderName" AS p, COUNT(*) AS n FROM core.focus_costs GROUP BY 1 ORDER BY 1')
        quarantined = wh.read_frame("SELECT COUNT(*) AS n FROM core.quarantine")["n"][0]
    counts = dict(zip(stored["p"], stored["n"], strict=True))
    # 1,000 rows: AWS 942, Microsoft 51, Oracle 7 (Oracle's 7 have no ContractedCost: quarantined, not dropped)
    assert counts.get("AWS") == 942
    assert counts.get("Microsoft") == 51
    assert sum(counts.values()) + quarantined == 1000


def test_a_malformed_row_in_a_large_lazily_scanned_file_names_the_file(tmp_path, monkeypatch):
    """Files above EAGER_CSV_MAX_BYTES are scanned lazily, so polars finds a broken row (here bytes that are
    not UTF-8) only when the run collects: the error must still name the file (every file counts as large)."""
    from datetime import date

    from finops_pipeline.sources import files

    monkeypatch.setattr(files, "EAGER_CSV_MAX_BYTES", 0)
    period = tmp_path / "azure" / "ea-costs" / "20230901-20230930"
    period.mkdir(parents=True)
    lines = (SHARED_DATA / "finops-toolkit" / "EA_AmortizedCost_Small.csv").read_text(encoding="utf-8-sig").splitlines()
    data = "\n".join(lines).encode() + b"\n"
    row = data.index(lines[5].encode())
    (period / "amortized.csv").write_bytes(data[:row] + b"\xff\xfe" + data[row + 2 :])

    with pytest.raises(SourceFileError, match=r"ea-costs/20230901-20230930/amortized.csv: could not be read: invalid"):
        _materialise(AZURE, tmp_path / "azure", tmp_path, date(2023, 9, 1), date(2023, 9, 30))
