"""AWS CUR normalisation benchmark: our scan_cur → cur_to_focus → sink_parquet against a polars floor.

    uv run python benchmarks/aws_normalise.py --rows 5000000

1. Generates (once, cached in benchmarks/.data/) a legacy CUR parquet of --rows rows by repeating the real
   WorkshopCUR October 2018 rows (119,307 rows × 124 columns), suffixing line_item_resource_id and
   identity_line_item_id with the copy number so the file does not compress to nothing.
2. In separate subprocesses, each reporting its own wall time, CPU time and peak RSS (ru_maxrss), --repeat
   times each, alternating:
   (a) floor: bare polars decode and rewrite of every column (scan_parquet → sink_parquet);
   (b) ours: scan_cur → cur_to_focus → sink_parquet (streaming).
3. Prints the best of the repeats, the ratios b/a and whether (b) met the targets: faster than the floor,
   peak < 1.5 GB. Both pipelines run with the same polars streaming chunk size (--chunk-rows, default the
   pipeline's STREAMING_CHUNK_ROWS; 0 for polars' own default).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finops_pipeline.sources.files import STREAMING_CHUNK_ROWS

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / ".data"
WORKSHOP_OCT = (
    HERE.parent / ".." / "shared" / "data" / "cloudacademy-aws-cur" / "Oct2018-WorkshopCUR-00001.snappy.parquet"
).resolve()
MEMORY_TARGET_BYTES = 1.5 * 1024**3


def generate(rows: int) -> Path:
    """The scaled CUR file, written one repeated copy (one row group) at a time to keep memory flat."""
    target = DATA_DIR / f"workshop_cur_{rows}.parquet"
    if target.exists():
        return target
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    base = pq.read_table(WORKSHOP_OCT)
    partial = target.with_suffix(".partial")
    with pq.ParquetWriter(partial, base.schema, compression="snappy") as writer:
        written, copy = 0, 0
        while written < rows:
            chunk = base.slice(0, min(base.num_rows, rows - written))
            writer.write_table(_vary(chunk, copy))
            written += chunk.num_rows
            copy += 1
    partial.rename(target)
    return target


def _vary(chunk: pa.Table, copy: int) -> pa.Table:
    for name, keep_blank in (("line_item_resource_id", True), ("identity_line_item_id", False)):
        index = chunk.schema.get_field_index(name)
        column = chunk.column(index)
        joined = pc.binary_join_element_wise(column, pa.scalar(f"c{copy}"), "-")
        varied = pc.if_else(pc.equal(column, ""), column, joined) if keep_blank else joined
        chunk = chunk.set_column(index, chunk.schema.field(index), varied)
    return chunk


def measure(kind: str, source: Path, output: Path, chunk_rows: int) -> dict:
    """Runs in its own process: one pipeline, its wall and CPU time and this process's peak RSS."""
    import polars as pl

    from finops_pipeline.sources.aws.cur import scan_cur
    from finops_pipeline.sources.aws.focus_mapping import cur_to_focus

    cpu_before, started = _cpu_seconds(), time.perf_counter()
    with pl.Config(streaming_chunk_size=chunk_rows or None):  # the same engine setting for both pipelines
        if kind == "floor":
            pl.scan_parquet(source).sink_parquet(output)
        else:
            cur_to_focus(scan_cur([source]), source_name="benchmark").sink_parquet(output)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    rows = pl.scan_parquet(output).select(pl.len()).collect().item()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "rows_out": rows}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_in_subprocess(kind: str, source: Path, chunk_rows: int) -> dict:
    output = DATA_DIR / f"out_{kind}.parquet"
    args = [sys.executable, __file__, "--measure", kind, "--source", str(source), "--output", str(output)]
    args += ["--chunk-rows", str(chunk_rows)]
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    output.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_of(runs: list[dict]) -> dict:
    """Fastest wall and CPU time of the repeats (least disturbed by other load), highest peak memory."""
    return {
        "seconds": min(r["seconds"] for r in runs),
        "cpu_seconds": min(r["cpu_seconds"] for r in runs),
        "peak_bytes": max(r["peak_bytes"] for r in runs),
        "rows_out": runs[0]["rows_out"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each pipeline, alternating (default 3)")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=STREAMING_CHUNK_ROWS,
        help=f"polars streaming chunk (morsel) rows for both pipelines; 0 = polars default "
        f"(default {STREAMING_CHUNK_ROWS:,}, what the pipeline runs with)",
    )
    parser.add_argument("--measure", choices=["floor", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.source, args.output, args.chunk_rows)))
        return

    source = generate(args.rows)
    print(f"input: {source.name}, {args.rows:,} rows, {source.stat().st_size / 1e6:,.0f} MB")
    chunk = f"{args.chunk_rows:,} rows" if args.chunk_rows else "polars default"
    print(f"streaming chunk: {chunk}; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    runs: dict[str, list[dict]] = {"floor": [], "ours": []}
    for _ in range(args.repeat):
        for kind in runs:
            runs[kind].append(run_in_subprocess(kind, source, args.chunk_rows))
    floor, ours = best_of(runs["floor"]), best_of(runs["ours"])
    for result, label in ((floor, "(a) floor: decode + rewrite all columns"), (ours, "(b) scan_cur → FOCUS → sink")):
        print(
            f"{label:40s} wall {result['seconds']:6.2f} s  CPU {result['cpu_seconds']:6.2f} s"
            f"  peak RSS {result['peak_bytes'] / 1024**2:6.0f} MiB  rows out {result['rows_out']:,}"
        )
    ratio, cpu_ratio = ours["seconds"] / floor["seconds"], ours["cpu_seconds"] / floor["cpu_seconds"]
    print(f"ratio b/a: wall {ratio:.2f}, CPU {cpu_ratio:.2f}   (best of {args.repeat})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"target faster than floor: {'met' if ratio < 1 else 'NOT met'}")
    print(f"target peak < 1.5 GB:     {'met' if ours['peak_bytes'] < MEMORY_TARGET_BYTES else 'NOT met'}")


if __name__ == "__main__":
    main()
