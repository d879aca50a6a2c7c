"""Microsoft's open-data lookups: read from the configured folder, and the built-in fallback agrees with them."""

from decimal import Decimal

import pytest

from finops_pipeline.sources.azure import OPEN_DATA_DIR_ENV, default_lookups, load_open_data, lookups_from_environment
from finops_pipeline.sources.errors import SourceFileError
from finops_pipeline_tests.sources.azure.raw_csv import FINOPS_TOOLKIT, rows

FILES = ("PricingUnits.csv", "Regions.csv", "Services.csv", "ResourceTypes.csv")


def test_load_open_data_reads_the_four_files(open_data):
    units = rows(FINOPS_TOOLKIT / "PricingUnits.csv")
    regions = rows(FINOPS_TOOLKIT / "Regions.csv")
    services = rows(FINOPS_TOOLKIT / "Services.csv")
    resource_types = rows(FINOPS_TOOLKIT / "ResourceTypes.csv")

    assert open_data.pricing_units.height == len({r["UnitOfMeasure"] for r in units})
    assert open_data.regions.height == len({r["OriginalValue"].strip().lower() for r in regions})
    assert open_data.services.height == len(services)
    assert open_data.resource_types.height == len({r["ResourceType"].lower() for r in resource_types})
    ten_k = open_data.pricing_units.filter(open_data.pricing_units["UnitOfMeasure"] == "10K").row(0, named=True)
    assert (ten_k["PricingBlockSize"], ten_k["DistinctUnits"]) == (Decimal(10000), "Units")


def test_a_missing_file_or_column_is_named(tmp_path):
    for name in FILES[:-1]:
        (tmp_path / name).write_bytes((FINOPS_TOOLKIT / name).read_bytes())
    with pytest.raises(SourceFileError, match="ResourceTypes.csv"):
        load_open_data(tmp_path)

    (tmp_path / "ResourceTypes.csv").write_text("ResourceType,Description\nmicrosoft.compute/disks,Disk\n")
    with pytest.raises(SourceFileError, match="SingularDisplayName") as raised:
        load_open_data(tmp_path)
    assert raised.value.column == "SingularDisplayName"


def test_the_environment_variable_selects_the_folder(monkeypatch):
    monkeypatch.setenv(OPEN_DATA_DIR_ENV, str(FINOPS_TOOLKIT))
    assert lookups_from_environment().services.height == len(rows(FINOPS_TOOLKIT / "Services.csv"))
    monkeypatch.delenv(OPEN_DATA_DIR_ENV)
    assert lookups_from_environment().services.height == default_lookups().services.height < 50


def test_built_in_units_agree_with_microsofts_file():
    published = {
        r["UnitOfMeasure"]: (Decimal(r["PricingBlockSize"]), r["DistinctUnits"])
        for r in rows(FINOPS_TOOLKIT / "PricingUnits.csv")
    }
    built_in = default_lookups().pricing_units.rows()
    for unit in ("1 Hour", "10 Hours", "100 Hours", "1 GB/Month", "1 GB", "10K", "1/Month", "1/Day", "10000"):
        assert unit in {u for u, _, _ in built_in}
    checked = 0
    for unit, block, distinct in built_in:
        if unit in published:
            assert (block, distinct) == published[unit], unit
            checked += 1
    assert checked >= 25


def test_built_in_services_and_regions_agree_with_microsofts_files():
    services = rows(FINOPS_TOOLKIT / "Services.csv")
    for consumed, _, name, category, subcategory in default_lookups().services.rows():
        published = {
            (r["ServiceName"], r["ServiceCategory"], r["ServiceSubcategory"])
            for r in services
            if r["ConsumedService"].lower() == consumed
        }
        assert (name, category, subcategory) in published, consumed

    regions = {
        r["OriginalValue"].lower(): (r["RegionId"], r["RegionName"]) for r in rows(FINOPS_TOOLKIT / "Regions.csv")
    }
    built_in = default_lookups().regions.rows()
    assert len(built_in) > 50
    for original, region_id, name in built_in:
        if original in regions:
            assert (region_id, name) == regions[original], original
