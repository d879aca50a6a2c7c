"""What every file-reading source shares: large CSV files are read lazily, in batches of STREAMING_CHUNK_ROWS."""

import polars as pl
import pytest

from finops_pipeline.sources import files
from finops_pipeline.sources.files import STREAMING_CHUNK_ROWS, csv_frame, in_batches_of


@pytest.fixture
def large_csv(tmp_path, monkeypatch):
    """A 50,000-row CSV file that `csv_frame` takes for a large one (scanned lazily, read in batches)."""
    monkeypatch.setattr(files, "EAGER_CSV_MAX_BYTES", 0)
    path = tmp_path / "export.csv"
    pl.DataFrame({"id": [f"r{i}" for i in range(50_000)], "cost": [f"{i % 97}.5" for i in range(50_000)]}).write_csv(
        path
    )
    return path


def test_a_large_csv_reaches_the_next_node_in_batches_of_streaming_chunk_rows(large_csv):
    """Polars' CSV scan alone hands on ~2.6 MB at a time; the mapping's fixed cost per batch wants more rows."""
    heights: list[int] = []

    def record(batch: pl.Series) -> pl.Series:
        heights.append(batch.len())
        return batch

    frame = csv_frame(large_csv, columns=["cost"], row_index_name="row")
    recorded = pl.col("cost").map_batches(record, return_dtype=pl.String, is_elementwise=True)
    watched = frame.select(pl.col("row"), recorded)
    with pl.Config(streaming_chunk_size=STREAMING_CHUNK_ROWS):
        read = watched.collect(engine="streaming")
    # the streaming engine maps batches on several threads, so they may finish in any order
    assert sorted(heights) == [10_000, 20_000, 20_000]
    assert read["row"].to_list() == list(range(1, 50_001))  # every row, in file order
    assert read["cost"][49_999] == f"{49_999 % 97}.5"


def test_projections_filters_and_limits_of_the_outer_query_reach_the_file(large_csv):
    frame = csv_frame(large_csv, columns=["id", "cost"], row_index_name="row")
    assert frame.collect_schema().names() == ["row", "id", "cost"]
    assert frame.select("id").collect().columns == ["id"]
    cheap = frame.filter(pl.col("cost") == "0.5").collect()
    assert cheap["row"].to_list() == list(range(1, 50_001, 97))
    assert frame.head(3).collect()["id"].to_list() == ["r0", "r1", "r2"]
    assert frame.filter(pl.col("cost") == "1.5").head(2).collect()["row"].to_list() == [2, 99]


def test_a_python_function_in_a_filter_of_a_batched_frame_runs():
    """polars hands a filter to an IO source serialised (cloudpickle, for a Python function): such a filter
    must still run (and not wait on the interpreter lock the reading thread holds)."""
    source = in_batches_of(1_000, pl.LazyFrame({"a": [str(i) for i in range(5_000)]}))
    longer = pl.col("a").map_batches(lambda a: a.str.len_bytes() > 3, return_dtype=pl.Boolean, is_elementwise=True)
    for engine in ("streaming", "in-memory"):
        assert source.filter(longer).collect(engine=engine)["a"].to_list() == [str(i) for i in range(1_000, 5_000)]
