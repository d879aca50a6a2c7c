"""One 90-day demo (seed 7, ending 22 Nov 2026), shared by the provider tests of this package."""

from datetime import date

import pytest

from finops_pipeline.demo import DemoExports, generate_demo

END = date(2026, 11, 22)
DAYS = 90


@pytest.fixture(scope="session")
def demo_exports(tmp_path_factory: pytest.TempPathFactory) -> DemoExports:
    return generate_demo(tmp_path_factory.mktemp("demo-providers"), END, DAYS, seed=7)
