import pytest

from finops_pipeline.sources.azure import AzureLookups, load_open_data
from finops_pipeline_tests.sources.azure.raw_csv import FINOPS_TOOLKIT


@pytest.fixture(scope="session")
def open_data() -> AzureLookups:
    """Microsoft's open-data lookups, read from the shared sample folder (never copied into the project)."""
    return load_open_data(FINOPS_TOOLKIT)
