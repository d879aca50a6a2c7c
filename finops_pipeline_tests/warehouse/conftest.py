import uuid
from collections.abc import Iterator

import pytest

from finops_pipeline.warehouse import Warehouse


@pytest.fixture
def table(warehouse: Warehouse) -> Iterator[str]:
    """A table name no concurrent test run shares, dropped afterwards."""
    name = f"core.test_wh_{uuid.uuid4().hex[:12]}"
    yield name
    warehouse.execute(f"DROP TABLE IF EXISTS {name}")
