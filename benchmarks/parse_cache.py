"""What a per-distinct parse costs per streaming batch once its cache knows every value.

    uv run python benchmarks/parse_cache.py [--rows 400000] [--distinct 20000]

Two columns through `parse_each_distinct_together` in ~2,300-row batches (the size polars' CSV reader hands
over): one with `--distinct` values (tag sets, resource scopes, AdditionalInfo in a real export) and one with
28 (days). The parser itself is trivial, so the figure is the cache's own cost: after the first batches every
value is known and each batch is only looked up. Prints CPU and wall seconds.
"""

import argparse
import time

import polars as pl

from finops_pipeline.focus.parsing import parse_each_distinct_together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    args = parser.parse_args()
    frame = pl.DataFrame(
        {
            "tags": [f'{{"team": "t{i % args.distinct}"}}' for i in range(args.rows)],
            "day": [f"2024-01-{1 + i % 28:02d}" for i in range(args.rows)],
        }
    )
    length = lambda text: text.str.len_bytes().cast(pl.Int64)  # noqa: E731
    parsed = parse_each_distinct_together(
        {"tags": (pl.col("tags"), length, pl.Int64), "day": (pl.col("day"), length, pl.Int64)}
    )
    with pl.Config(streaming_chunk_size=2_300):
        cpu, wall = time.process_time(), time.perf_counter()
        frame.lazy().select(parsed.alias("parsed")).collect(engine="streaming")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{args.rows:,} rows, {args.distinct:,} distinct: CPU {cpu:.2f} s, wall {wall:.2f} s")


if __name__ == "__main__":
    main()
