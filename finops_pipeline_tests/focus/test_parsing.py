from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
from polars.io.plugins import register_io_source

from finops_pipeline.focus import parsing
from finops_pipeline.focus.parsing import (
    blank_columns_to_null,
    blank_to_null,
    gather_by_key,
    parse_each_distinct_together,
    reading_once,
    to_money,
    to_utc_timestamp,
    unparsed_text,
)
from finops_pipeline.focus.schema import MONEY, TIMESTAMP


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
    text = ["0.0004583333333333333333", "1e-6", "-12.5", "12,50", None, " 3.25\t", "  ", "NULL"]
    money = pl.DataFrame({"c": text}).select(to_money(pl.col("c")))["c"].to_list()
    expected = [Decimal("0.0004583333"), Decimal("0.000001"), Decimal("-12.5"), None, None, Decimal("3.25")]
    assert money == [*expected, None, None]
    blanks = pl.DataFrame({"c": ["", " NULL ", "x", None]}).select(blank_to_null(pl.col("c")))["c"].to_list()
    assert blanks == [None, None, "x", None]


def test_blank_columns_to_null_is_blank_to_null_on_each_column():
    texts = ["", " ", "\t", "NULL", " NULL ", "null", "None", "N/A", "\u00a0", "\u3000x\u3000", " a b ", "x", None]
    frame = pl.DataFrame({"a": texts, "b": list(reversed(texts)), "keep": texts})
    out = blank_columns_to_null(frame.lazy(), ["a", "b"]).collect()
    expected = [None] * 9 + ["x", "a b", "x", None]
    assert out["a"].to_list() == expected
    assert out["b"].to_list() == list(reversed(expected))
    assert out["keep"].to_list() == texts  # columns not named are left as they are
    assert out.columns == ["a", "b", "keep"]


def test_distinct_parsers_together_give_each_parser_its_own_column_across_streaming_batches():
    """Three parsers in one batch function, over 30,000 rows streamed in 1,000-row batches: each field is its
    parser's value of its own column, the cache of each column learning new values batch by batch."""
    rows = 30_000
    frame = pl.LazyFrame(
        {
            "day": [f"2026-11-{1 + i % 30:02d}" for i in range(rows)],
            "unit": [None if i % 7 == 0 else ["1 Hour", "10 GB", "100 Hours"][i // 10_000] for i in range(rows)],
            "n": [str(i % 13) for i in range(rows)],
        }
    )
    together = parse_each_distinct_together(
        {
            "day": (pl.col("day"), to_utc_timestamp, TIMESTAMP),
            "block": (pl.col("unit"), lambda t: t.str.extract(r"^(\d+)", 1).cast(pl.Int64), pl.Int64),
            "n": (pl.col("n"), lambda t: t.cast(pl.Int64) * 2, pl.Int64),
        }
    )
    with pl.Config(streaming_chunk_size=1_000):
        got = frame.select(together.alias("parts")).unnest("parts").collect(engine="streaming")
    expected = frame.select(
        day=to_utc_timestamp(pl.col("day")).cast(TIMESTAMP),
        block=pl.col("unit").str.extract(r"^(\d+)", 1).cast(pl.Int64),
        n=pl.col("n").cast(pl.Int64) * 2,
    ).collect()
    assert got.equals(expected)
    # Every 7th row has no unit; the rest: 10,000 rows each of "1 Hour", "10 GB", "100 Hours" less their 7th rows.
    assert dict(got["block"].value_counts().rows()) == {1: 8571, 10: 8571, 100: 8572, None: 4286}


def test_distinct_parsers_past_their_cache_limit_parse_every_batch(monkeypatch):
    """A column with more distinct values than a parse cache keeps (60, five new ones per batch, against a limit
    of 25): once full, the cache stops learning and each batch parses the values it does not know, alongside
    a column whose cache does not overflow."""
    monkeypatch.setattr(parsing, "_DISTINCT_CACHE_LIMIT", 25)
    rows = 6_000
    frame = pl.LazyFrame(
        {
            "many": [None if i % 11 == 0 else str(i // 100) for i in range(rows)],
            "few": [str(i % 3) for i in range(rows)],
        }
    )
    double = lambda t: t.cast(pl.Int64) * 2  # noqa: E731
    together = parse_each_distinct_together(
        {"many": (pl.col("many"), double, pl.Int64), "few": (pl.col("few"), double, pl.Int64)}
    )
    with pl.Config(streaming_chunk_size=500):
        got = frame.select(together.alias("parts")).unnest("parts").collect(engine="streaming")
    assert got.equals(frame.select(double(pl.col("many")), double(pl.col("few"))).collect())


def test_reading_once_works_a_value_out_once_however_often_it_is_read():
    """`use` reads the value four times: as one expression the value is worked out four times a batch,
    through `reading_once` once, with the same result."""
    calls = []

    def doubled(batch: pl.Series) -> pl.Series:
        calls.append(batch.len())
        return batch * 2

    value = pl.col("n").map_batches(doubled, return_dtype=pl.Int64, is_elementwise=True)
    use = lambda v: pl.struct(v.alias("a"), (v + 1).alias("b"), (v * v).alias("c"))  # noqa: E731
    dtype = pl.Struct({"a": pl.Int64, "b": pl.Int64, "c": pl.Int64})
    frame = pl.DataFrame({"n": [1, 2, 3]})
    direct = frame.select(use(value).alias("x"))
    assert len(calls) == 4
    calls.clear()
    once = frame.select(reading_once(value, use, dtype).alias("x"))
    assert len(calls) == 1
    assert once.equals(direct)
    assert once["x"].to_list() == [{"a": 2, "b": 3, "c": 4}, {"a": 4, "b": 5, "c": 16}, {"a": 6, "b": 7, "c": 36}]


def test_unparsed_text_names_only_non_blank_values_that_did_not_parse():
    """Blank and placeholder texts are not failures (padded ones included); a failed value is shown trimmed."""
    text = ["1.5", " 2 ", "abc", " x y ", "", "  ", " NULL ", "N/A", None]
    frame = pl.DataFrame({"t": text}).with_columns(parsed=to_money(pl.col("t")))
    failed = frame.select(unparsed_text(pl.col("parsed"), pl.col("t")))["t"].to_list()
    assert failed == [None, None, "abc", "x y", None, None, None, None, None]


def test_gather_by_key_is_a_left_join_on_a_small_table_across_streaming_batches():
    """Row keys 0..9,999 streamed in 700-row batches against a table of 4 keys (unsorted, one beyond the frame,
    one 0): the values land on exactly those rows, null elsewhere, and an empty table gives typed nulls."""
    table = pl.DataFrame(
        {"row": [9_999, 0, 4_321, 20_000], "share": ["1.25", "2", "-0.5", "9"], "tag": ["a", "b", None, "d"]},
        schema_overrides={"row": pl.UInt32},
    ).with_columns(pl.col("share").cast(MONEY))
    frame = pl.LazyFrame({"row": pl.arange(0, 10_000, eager=True, dtype=pl.UInt32)})
    with pl.Config(streaming_chunk_size=700):
        got = gather_by_key(frame, "row", table, on="row").collect(engine="streaming")
    hits = got.filter(pl.col("share").is_not_null() | pl.col("tag").is_not_null())
    assert hits.rows() == [(0, Decimal("2"), "b"), (4_321, Decimal("-0.5"), None), (9_999, Decimal("1.25"), "a")]
    assert got["row"].to_list() == list(range(10_000))  # order kept
    assert got.schema["share"] == MONEY
    empty = gather_by_key(frame, "row", table.clear(), on="row").collect()
    assert empty.schema == pl.Schema({"row": pl.UInt32, "share": MONEY, "tag": pl.String})
    assert empty["share"].null_count() == empty["tag"].null_count() == 10_000
    signed = gather_by_key(pl.LazyFrame({"row": [-1, 0, -4, 9_999]}), "row", table, on="row").collect()
    assert signed["tag"].to_list() == [None, "b", None, "a"]  # a negative key finds nothing


def test_gather_by_key_hands_on_each_batch_before_the_source_is_read_to_its_end():
    """It must stream: a lookup polars runs on the whole column (its `search_sorted` did) holds every batch
    of the frame until the last one is read, 2 GB of GCP text at 2M rows (benchmarks/README.md)."""
    events = []

    def fifty_batches(columns, predicate, n_rows, batch_size):
        for i in range(50):
            events.append("read")
            yield pl.DataFrame({"row": pl.arange(i * 1_000, (i + 1) * 1_000, eager=True, dtype=pl.UInt32)})

    def seen(batch: pl.Series) -> pl.Series:
        events.append("mapped")
        return batch

    table = pl.DataFrame({"row": [5, 20_000], "v": [1, 2]}, schema_overrides={"row": pl.UInt32})
    frame = register_io_source(fifty_batches, schema={"row": pl.UInt32})
    mapped = gather_by_key(frame, "row", table, on="row").with_columns(
        pl.col("v").map_batches(seen, is_elementwise=True, return_dtype=pl.Int64)
    )
    with pl.Config(streaming_chunk_size=1_000):
        got = mapped.collect(engine="streaming")
    assert events.index("mapped") < 20  # polars reads a few batches ahead, not all 50
    assert got.filter(pl.col("v").is_not_null()).rows() == [(5, 1), (20_000, 2)]
