"""Fixtures shared by all test packages: real engines, no mocks."""

import os
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from finops_pipeline.warehouse import Warehouse

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """FINOPS_TEST_POSTGRES_URL or the local trust-auth server. Unreachable: skip, but fail under CI=true."""
    url = os.environ.get("FINOPS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    libpq_uri = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(libpq_uri, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        reason = f"Postgres unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """A Warehouse on each engine with the standard schemas; tests drop the tables they create."""
    with Warehouse.from_url(warehouse_url) as wh:
        wh.ensure_schemas()
        yield wh
