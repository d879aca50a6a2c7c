from datetime import UTC, datetime
from decimal import Decimal

import polars as pl

from finops_pipeline.focus.parsing import blank_to_null, to_money, to_utc_timestamp


def test_every_date_layout_seen_in_real_exports_parses_to_utc():
    layouts = {
        "2024-01-01T00:00:00Z": datetime(2024, 1, 1, tzinfo=UTC),
        "2018-10-01T00:00:00.000Z": datetime(2018, 10, 1, tzinfo=UTC),
        "2024-01-01 05:00:00": datetime(2024, 1, 1, 5, tzinfo=UTC),
        "10/31/2024": datetime(2024, 10, 31, tzinfo=UTC),
        "2019-02-01 00:00:00 +0000 UTC": datetime(2019, 2, 1, tzinfo=UTC),
        "2013-12-01T00:00:00-08:00": datetime(2013, 12, 1, 8, tzinfo=UTC),
        "2023-11-13T10:00Z": datetime(2023, 11, 13, 10, tzinfo=UTC),
        "5/1/25": None,  # two-digit year: ambiguous, left for quarantine
        "yesterday": None,
    }
    parsed = pl.DataFrame({"t": list(layouts)}).select(to_utc_timestamp(pl.col("t")))["t"].to_list()
    assert parsed == list(layouts.values())


def test_money_parses_exactly_and_blanks_become_null():
    text = ["0.0004583333333333333333", "1e-6", "-12.5", "12,50", None]
    money = pl.DataFrame({"c": text}).select(to_money(pl.col("c")))["c"].to_list()
    assert money == [Decimal("0.0004583333"), Decimal("0.000001"), Decimal("-12.5"), None, None]
    blanks = pl.DataFrame({"c": ["", " NULL ", "x", None]}).select(blank_to_null(pl.col("c")))["c"].to_list()
    assert blanks == [None, None, "x", None]
